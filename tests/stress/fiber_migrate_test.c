/* Fibers under churn (run under TSan in CI): a token ring of fibers across two workers,
 * spawn/join trees with random aborts, and shutdown with fibers in every state. Each fiber's
 * stack and locals pass between threads with every migration; TSan checks that the switch
 * annotations and the task state word order all of it. */
#include <stdatomic.h>
#include <unistd.h>

#include "test.h"
#include "weft.h"

static weft_rt *mt(void)
{
    weft_rt *rt = NULL;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2}), 0);
    return rt;
}

/* ------------------------------------------------------------------ token ring */

enum { RING = 16 };

struct ring {
    int rounds;
    weft_oneshot **ch; /* ch[r * RING + k]: what fiber k receives in round r */
};

struct member {
    struct ring *ring;
    int k;
};

static int ring_member(void *arg)
{
    struct member *m = arg;
    struct ring *r = m->ring;
    long sum = 0;
    for (int round = 0; round < r->rounds; round++) {
        long v = 0;
        int err = weft_await_oneshot(r->ch[round * RING + m->k], &v);
        if (err < 0)
            return err;
        sum += v;
        /* Pass it on: to the next member this round, or to member 0 of the next round. */
        int nk = m->k + 1, nr = round;
        if (nk == RING) {
            nk = 0;
            nr = round + 1;
        }
        if (nr < r->rounds)
            weft_oneshot_send(r->ch[nr * RING + nk], &(long){v + 1});
        if ((v & 3) == 0)
            weft_fiber_yield();
    }
    return (int)(sum & 0x7fffffff);
}

TEST(token_ring)
{
    struct ring r = {.rounds = (int)(400 * weft_test_scale()) + 10};
    static struct member m[RING];
    weft_join *j[RING];
    weft_rt *rt = mt();

    r.ch = calloc((size_t)r.rounds * RING, sizeof *r.ch);
    for (int i = 0; i < r.rounds * RING; i++)
        ASSERT_EQ(weft_oneshot_new(&r.ch[i], sizeof(long)), 0);
    for (int k = 0; k < RING; k++) {
        m[k] = (struct member){&r, k};
        ASSERT_EQ(weft_fiber_spawn(rt, ring_member, &m[k], NULL, &j[k]), 0);
    }
    ASSERT_EQ(weft_oneshot_send(r.ch[0], &(long){0}), 0);
    long total = 0;
    for (int k = 0; k < RING; k++) {
        int out = -1;
        ASSERT_EQ(weft_join_wait(j[k], &out, sizeof out), 0);
        total += out;
    }
    long n = (long)r.rounds * RING;
    ASSERT_EQ(total, n * (n - 1) / 2);
    weft_rt_free(rt);
    free(r.ch);
}

/* ------------------------------------------------------------------ trees with aborts */

static _Atomic int leaves_done, leaves_cancelled;

static int leaf(void *arg)
{
    int n = (int)(intptr_t)arg;
    for (int i = 0; i < n; i++) {
        if (weft_fiber_yield() < 0) {
            atomic_fetch_add(&leaves_cancelled, 1);
            return -ECANCELED;
        }
    }
    atomic_fetch_add(&leaves_done, 1);
    return n;
}

static int branch(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    weft_join *kids[8];
    int n = 0;
    for (int i = 0; i < 8; i++)
        if (weft_fiber_spawn(weft_rt_current(), leaf, (void *)(intptr_t)(seed % 7 + i), NULL,
                             &kids[n]) == 0)
            n++;
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 16) % 4 == 0)
            weft_join_abort(kids[i]);
    }
    int sum = 0;
    for (int i = 0; i < n; i++) {
        int out = 0, r = weft_await_join(kids[i], &out, sizeof out);
        if (r == 0)
            sum += out;
        else if (r != -ECANCELED)
            return -EFAULT;
    }
    return sum;
}

TEST(spawn_join_trees_with_aborts)
{
    int n = (int)(300 * weft_test_scale()) + 10;
    weft_rt *rt = mt();
    weft_join **j = calloc((size_t)n, sizeof *j);
    for (int i = 0; i < n; i++)
        ASSERT_EQ(weft_fiber_spawn(rt, branch, (void *)(uintptr_t)(i * 2654435761u), NULL,
                                   &j[i]),
                  0);
    for (int i = 0; i < n; i++) {
        if (i % 10 == 3)
            weft_join_abort(j[i]); /* the branch's pending await_join detaches its kids */
        int r = weft_join_wait(j[i], NULL, 0);
        ASSERT_TRUE(r == 0 || r == -ECANCELED);
    }
    weft_rt_free(rt); /* detached leaves still running are unwound here */
    ASSERT_EQ(atomic_load(&leaves_done) + atomic_load(&leaves_cancelled) <= 8 * n, 1);
    ASSERT_GT(atomic_load(&leaves_done), 0);
    free(j);
}

/* ------------------------------------------------------------------ shutdown mid-flight */

static _Atomic int started, finished;

static int churn(void *arg)
{
    int mode = (int)(intptr_t)arg;
    atomic_fetch_add(&started, 1);
    if (mode == 0) { /* parks forever */
        weft_oneshot *ch;
        if (weft_oneshot_new(&ch, 0) == 0) {
            weft_await_oneshot(ch, NULL);
            weft_oneshot_sender_drop(ch);
        }
    } else { /* yields until told to stop */
        for (int i = 0; i < 1000000 && weft_fiber_yield() == 0; i++)
            ;
    }
    atomic_fetch_add(&finished, 1);
    return 0;
}

TEST(shutdown_mid_flight)
{
    int rounds = (int)(20 * weft_test_scale()) + 2;
    for (int round = 0; round < rounds; round++) {
        atomic_store(&started, 0);
        atomic_store(&finished, 0);
        weft_rt *rt = mt();
        for (int i = 0; i < 200; i++)
            ASSERT_EQ(weft_fiber_spawn(rt, churn, (void *)(intptr_t)(i % 3 == 0), NULL, NULL),
                      0);
        usleep((useconds_t)(round % 4) * 500);
        weft_rt_free(rt);
        /* Every fiber that started has unwound; those never polled ran fn on cancel too. */
        ASSERT_EQ(atomic_load(&finished), 200);
        ASSERT_EQ(atomic_load(&started), 200);
    }
}

TEST_MAIN()
