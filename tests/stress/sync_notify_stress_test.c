/* Many interleavings of Notify, Barrier, broadcast and watch (run under TSan too).
 *
 * Notify liveness: consumer tasks wait until a shared counter reaches its target, re-checking
 * after each wake; producers (a thread outside the runtime and tasks) bump the counter and
 * notify_one / notify_waiters; waits are dropped at random (select against a yield). The test
 * ends only if no wakeup is lost. Barrier: rounds of tasks with one leader each. Watch: the
 * last value is always observed. Broadcast: receivers see in-order values or an honest lag. */
#include <sched.h>
#include <unistd.h>

#include "../unit/sync/sync_testutil.h"

struct nshared {
    weft_notify *n;
    _Atomic long counter;
    long target;
};

struct yield_branch {
    weft_yield y;
};
static weft_poll yield_branch_poll(void *state, weft_cx *cx, void *out)
{
    (void)out;
    return weft_yield_poll(&((struct yield_branch *)state)->y, cx);
}
static const weft_future_type yield_branch_type = {
    .name = "yield", .poll = yield_branch_poll, .state_size = sizeof(struct yield_branch)};

struct wait_branch {
    weft_notify_wait w;
};
static weft_poll wait_branch_poll(void *state, weft_cx *cx, void *out)
{
    (void)out;
    return weft_notify_wait_poll(&((struct wait_branch *)state)->w, cx);
}
static void wait_branch_drop(void *state)
{
    weft_notify_wait_drop(&((struct wait_branch *)state)->w);
}
static const weft_future_type wait_branch_type = {
    .name = "wait", .poll = wait_branch_poll, .drop = wait_branch_drop,
    .state_size = sizeof(struct wait_branch)};

struct waiter_task {
    WEFT_ASYNC_STATE;
    struct nshared *sh;
    int k, winner;
    weft_notify_wait w;
    struct wait_branch wb;
    struct yield_branch yb;
    weft_child ch[2];
    weft_select sel;
};

static weft_poll waiter_poll(void *state, weft_cx *cx, void *out)
{
    struct waiter_task *t = state;
    (void)out;
    WEFT_ASYNC_BEGIN(t);
    for (t->k = 0;; t->k++) {
        /* register first, then check: a notify after the check cannot be missed */
        if (t->k % 4 == 3) {
            weft_notify_wait_init(&t->wb.w, t->sh->n);
            if (atomic_load(&t->sh->counter) >= t->sh->target) {
                weft_notify_wait_drop(&t->wb.w);
                break;
            }
            weft_yield_init(&t->yb.y);
            t->ch[0] = (weft_child){.type = &wait_branch_type, .state = &t->wb};
            t->ch[1] = (weft_child){.type = &yield_branch_type, .state = &t->yb};
            weft_select_init(&t->sel, t->ch, 2);
            WEFT_AWAIT(t, weft_select_poll(&t->sel, cx, &t->winner));
        } else {
            weft_notify_wait_init(&t->w, t->sh->n);
            if (atomic_load(&t->sh->counter) >= t->sh->target)
                break;
            WEFT_AWAIT(t, weft_notify_wait_poll(&t->w, cx));
        }
    }
    WEFT_ASYNC_END(t);
}

static void waiter_drop(void *state)
{
    struct waiter_task *t = state;
    weft_notify_wait_drop(&t->w);
    weft_select_drop(&t->sel);
}

static const weft_future_type waiter_type = {
    .name = "waiter", .poll = waiter_poll, .drop = waiter_drop,
    .state_size = sizeof(struct waiter_task)};

static void *bumper(void *p)
{
    struct nshared *sh = p;
    for (long i = 0; i < sh->target; i++) {
        atomic_fetch_add(&sh->counter, 1);
        if (i % 16 == 0)
            weft_notify_waiters(sh->n);
        else
            weft_notify_one(sh->n);
        if (i % 64 == 0)
            sched_yield();
    }
    weft_notify_waiters(sh->n); /* the target is reached: everyone re-checks */
    return NULL;
}

TEST(notify_no_lost_wakeups)
{
    enum { W = 50 };
    for (unsigned workers = 2; workers <= 4; workers += 2) {
        weft_rt *rt = rt_mt(workers);
        static struct nshared sh;
        weft_join *j[W];
        pthread_t th;
        ASSERT_EQ(weft_notify_new(&sh.n), 0);
        atomic_store(&sh.counter, 0);
        sh.target = scaled(20000);
        for (int i = 0; i < W; i++) {
            struct waiter_task init = {.sh = &sh};
            ASSERT_EQ(weft_spawn(rt, &waiter_type, &init, &j[i]), 0);
        }
        ASSERT_EQ(pthread_create(&th, NULL, bumper, &sh), 0);
        pthread_join(th, NULL);
        for (int i = 0; i < W; i++)
            ASSERT_EQ(weft_join_wait(j[i], NULL, 0), 0);
        weft_rt_free(rt);
        weft_notify_free(sh.n);
    }
}

/* ------------------------------------------------------------------ barrier */

struct phase {
    WEFT_ASYNC_STATE;
    weft_barrier *b;
    _Atomic int *leaders;
    int rounds, i;
    bool leader;
    weft_barrier_wait w;
};

static weft_poll phase_poll(void *state, weft_cx *cx, void *out)
{
    struct phase *t = state;
    (void)out;
    WEFT_ASYNC_BEGIN(t);
    for (t->i = 0; t->i < t->rounds; t->i++) {
        weft_barrier_wait_init(&t->w, t->b);
        WEFT_AWAIT(t, weft_barrier_wait_poll(&t->w, cx, &t->leader));
        if (t->leader)
            atomic_fetch_add(t->leaders, 1);
        if (t->i % 3 == 0)
            WEFT_YIELD(t, cx);
    }
    WEFT_ASYNC_END(t);
}

static void phase_drop(void *state)
{
    weft_barrier_wait_drop(&((struct phase *)state)->w);
}

static const weft_future_type phase_type = {
    .name = "phase", .poll = phase_poll, .drop = phase_drop, .state_size = sizeof(struct phase)};

TEST(barrier_rounds)
{
    enum { T = 40 }; /* more than a wake batch */
    weft_rt *rt = rt_mt(4);
    weft_barrier *b;
    weft_join *j[T];
    _Atomic int leaders = 0;
    int rounds = scaled(400);
    ASSERT_EQ(weft_barrier_new(&b, T), 0);
    for (int i = 0; i < T; i++) {
        struct phase init = {.b = b, .leaders = &leaders, .rounds = rounds};
        ASSERT_EQ(weft_spawn(rt, &phase_type, &init, &j[i]), 0);
    }
    for (int i = 0; i < T; i++)
        ASSERT_EQ(weft_join_wait(j[i], NULL, 0), 0);
    ASSERT_EQ(atomic_load(&leaders), rounds);
    weft_rt_free(rt);
    weft_barrier_free(b);
}

/* ------------------------------------------------------------------ watch and broadcast */

struct watcher {
    WEFT_ASYNC_STATE;
    weft_watch_receiver *rx; /* owned */
    long last, v;
    int err;
};

static weft_poll watcher_poll(void *state, weft_cx *cx, void *out)
{
    struct watcher *w = state;
    WEFT_ASYNC_BEGIN(w);
    for (;;) {
        WEFT_AWAIT(w, weft_watch_changed_poll(w->rx, cx, &w->err));
        if (w->err < 0)
            break;
        weft_watch_borrow(w->rx, &w->v);
        if (w->v < w->last)
            WEFT_ASYNC_FAIL(w, -EPROTO); /* values only go forward */
        w->last = w->v;
    }
    weft_watch_borrow(w->rx, &w->v);
    *(long *)out = w->v;
    WEFT_ASYNC_END(w);
}

static void watcher_drop(void *state)
{
    weft_watch_receiver_drop(((struct watcher *)state)->rx);
}

static const weft_future_type watcher_type = {
    .name = "watcher", .poll = watcher_poll, .drop = watcher_drop,
    .state_size = sizeof(struct watcher), .out_size = sizeof(long)};

struct bcaster {
    WEFT_ASYNC_STATE;
    weft_broadcast_receiver *rx; /* owned */
    long v, expect;
    uint64_t missed;
    int err;
};

static weft_poll bcaster_poll(void *state, weft_cx *cx, void *out)
{
    struct bcaster *b = state;
    WEFT_ASYNC_BEGIN(b);
    for (;;) {
        WEFT_AWAIT(b, weft_broadcast_recv_poll(b->rx, cx, &b->v, &b->err, &b->missed));
        if (b->err == -EPIPE)
            break;
        if (b->err == -EOVERFLOW) {
            b->expect += (long)b->missed;
            continue;
        }
        if (b->err != 0 || b->v != b->expect)
            WEFT_ASYNC_FAIL(b, -EPROTO);
        b->expect++;
    }
    *(long *)out = b->expect;
    WEFT_ASYNC_END(b);
}

static void bcaster_drop(void *state)
{
    weft_broadcast_receiver_drop(((struct bcaster *)state)->rx);
}

static const weft_future_type bcaster_type = {
    .name = "bcaster", .poll = bcaster_poll, .drop = bcaster_drop,
    .state_size = sizeof(struct bcaster), .out_size = sizeof(long)};

TEST(watch_and_broadcast_from_threads)
{
    enum { R = 6 };
    weft_rt *rt = rt_mt(2);
    weft_watch_sender *wt;
    weft_watch_receiver *wr;
    weft_broadcast_sender *bt;
    weft_broadcast_receiver *br;
    weft_join *wj[R], *bj[R];
    long n = scaled(20000), zero = 0;
    ASSERT_EQ(weft_watch_new(&wt, &wr, sizeof(long), &zero), 0);
    ASSERT_EQ(weft_broadcast_new(&bt, &br, sizeof(long), 16), 0);
    for (int i = 0; i < R; i++) {
        struct watcher wi = {0};
        struct bcaster bi = {0};
        ASSERT_EQ(weft_watch_subscribe(wt, &wi.rx), 0);
        ASSERT_EQ(weft_broadcast_subscribe(bt, &bi.rx), 0);
        ASSERT_EQ(weft_spawn(rt, &watcher_type, &wi, &wj[i]), 0);
        ASSERT_EQ(weft_spawn(rt, &bcaster_type, &bi, &bj[i]), 0);
    }
    weft_watch_receiver_drop(wr);
    weft_broadcast_receiver_drop(br);
    for (long v = 1; v <= n; v++) {
        ASSERT_EQ(weft_watch_send(wt, &v), 0);
        ASSERT_EQ(weft_broadcast_send(bt, &(long){v - 1}), 0);
        if (v % 128 == 0)
            sched_yield();
    }
    weft_watch_sender_drop(wt);
    weft_broadcast_sender_drop(bt);
    for (int i = 0; i < R; i++) {
        long last = 0, count = 0;
        ASSERT_EQ(weft_join_wait(wj[i], &last, sizeof last), 0);
        ASSERT_EQ(last, n); /* the final value is always seen */
        ASSERT_EQ(weft_join_wait(bj[i], &count, sizeof count), 0);
        ASSERT_EQ(count, n); /* received + reported missed == sent */
    }
    weft_rt_free(rt);
}

TEST_MAIN()
