/* Many interleavings of the scheduler's races, meant for TSan:
 *   - foreign threads spawning and waking at once;
 *   - a wake racing with the task completing;
 *   - abort racing with completion;
 *   - steals (the TSan build uses the 4-slot ring, so every burst overflows and is stolen).
 * Every task is accounted for at the end. */
#include <pthread.h>

#include "test.h"
#include "weft.h"

static weft_rt *rt;
static _Atomic long completed, dropped;

/* A task that parks once, handing its waker to a foreign thread through a mailbox, then
 * completes on the second poll. */
struct mailbox {
    _Atomic(int) full;
    weft_waker w;
};
#define NBOX 64
static struct mailbox boxes[NBOX];

struct parker {
    int box, polled;
};
static weft_poll parker_poll(void *st, weft_cx *cx, void *out)
{
    struct parker *p = st;
    (void)out;
    if (p->polled++ == 0) {
        struct mailbox *m = &boxes[p->box];
        int expected = 0;
        /* Hand a waker clone to the waker threads if the box is free; else just wake. */
        if (atomic_compare_exchange_strong(&m->full, &expected, 2)) {
            weft_waker_clone(&cx->waker, &m->w);
            atomic_store(&m->full, 1);
        } else {
            weft_waker_wake_by_ref(&cx->waker);
        }
        return WEFT_PENDING;
    }
    atomic_fetch_add(&completed, 1);
    return WEFT_READY;
}
static void parker_drop(void *st)
{
    (void)st;
    atomic_fetch_add(&dropped, 1);
}
static const weft_future_type parker_type = {
    .name = "parker", .poll = parker_poll, .drop = parker_drop, .state_size = sizeof(struct parker)};

static _Atomic int stop_wakers;
static void *waker_thread(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_wakers)) {
        for (int i = 0; i < NBOX; i++) {
            int expected = 1;
            if (atomic_compare_exchange_strong(&boxes[i].full, &expected, 3)) {
                weft_waker w = boxes[i].w;
                boxes[i].w.vtable = NULL;
                atomic_store(&boxes[i].full, 0);
                weft_waker_wake(&w);
            }
        }
    }
    return NULL;
}

struct spawner_arg {
    int id, n;
    long joined_ok, aborted;
};
static void *spawner_thread(void *p)
{
    struct spawner_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        weft_join *j;
        ASSERT_EQ(weft_spawn(rt, &parker_type, &(struct parker){(a->id * 7 + i) % NBOX, 0}, &j), 0);
        if (i % 5 == 0)
            weft_join_abort(j); /* races with the task's completion */
        int r = weft_join_wait(j, NULL, 0);
        if (r == 0)
            a->joined_ok++;
        else if (r == -ECANCELED)
            a->aborted++;
        else
            ASSERT_EQ(r, 0);
    }
    return NULL;
}

TEST(foreign_spawners_wakers_and_aborts)
{
    enum { SPAWNERS = 4, WAKERS = 2 };
    int n = (int)(4000 * weft_test_scale()) + 50;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2}), 0);
    pthread_t wk[WAKERS], sp[SPAWNERS];
    struct spawner_arg args[SPAWNERS];
    atomic_store(&stop_wakers, 0);
    for (int i = 0; i < WAKERS; i++)
        pthread_create(&wk[i], NULL, waker_thread, NULL);
    for (int i = 0; i < SPAWNERS; i++) {
        args[i] = (struct spawner_arg){.id = i, .n = n};
        pthread_create(&sp[i], NULL, spawner_thread, &args[i]);
    }
    long ok = 0, ab = 0;
    for (int i = 0; i < SPAWNERS; i++) {
        pthread_join(sp[i], NULL);
        ok += args[i].joined_ok;
        ab += args[i].aborted;
    }
    atomic_store(&stop_wakers, 1);
    for (int i = 0; i < WAKERS; i++)
        pthread_join(wk[i], NULL);
    ASSERT_EQ(ok + ab, (long)SPAWNERS * n);
    ASSERT_EQ(atomic_load(&completed), ok);
    ASSERT_EQ(atomic_load(&dropped), (long)SPAWNERS * n);
    for (int i = 0; i < NBOX; i++)
        if (atomic_load(&boxes[i].full) == 1) {
            weft_waker_drop(&boxes[i].w);
            atomic_store(&boxes[i].full, 0);
        }
    weft_rt_free(rt);
}

/* Fan-out inside the runtime: a root spawns bursts of children that spawn grandchildren;
 * with a tiny ring this overflows and steals constantly. */
struct node {
    WEFT_ASYNC_STATE;
    int depth, i, err;
    weft_join *kids[8];
};
static weft_poll node_poll(void *st, weft_cx *cx, void *out);
static const weft_future_type node_type = {
    .name = "node", .poll = node_poll, .state_size = sizeof(struct node), .out_size = sizeof(long)};
static weft_poll node_poll(void *st, weft_cx *cx, void *out)
{
    struct node *n = st;
    long *count = out;
    WEFT_ASYNC_BEGIN(n);
    *count = 1;
    if (n->depth == 0)
        WEFT_ASYNC_RETURN(n);
    for (n->i = 0; n->i < 8; n->i++)
        ASSERT_EQ(weft_spawn(weft_cx_rt(cx), &node_type, &(struct node){.depth = n->depth - 1},
                             &n->kids[n->i]),
                  0);
    for (n->i = 0; n->i < 8; n->i++) {
        static _Thread_local long sub;
        WEFT_AWAIT(n, weft_join_poll(n->kids[n->i], cx, &sub, sizeof sub, &n->err));
        ASSERT_EQ(n->err, 0);
        *count += sub;
    }
    WEFT_ASYNC_END(n);
}

TEST(fan_out_with_steals)
{
    int rounds = (int)(20 * weft_test_scale()) + 2;
    for (int f = 0; f < 2; f++) {
        ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = f, .workers = 2}), 0);
        for (int r = 0; r < rounds; r++) {
            long count = 0;
            ASSERT_EQ(weft_rt_block_on(rt, &node_type, &(struct node){.depth = 4}, &count), 0);
            ASSERT_EQ(count, 1 + 8 + 64 + 512 + 4096);
        }
        weft_rt_free(rt);
    }
}

TEST_MAIN()
