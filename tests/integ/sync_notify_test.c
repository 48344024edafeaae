/* Notify (permit, FIFO, notify_waiters epochs, cancel forwarding) and Barrier. */
#include "../unit/sync/sync_testutil.h"

static weft_poll poll_wait(weft_notify_wait *w, struct twaker *tw)
{
    weft_cx cx = tw_cx(tw);
    return weft_notify_wait_poll(w, &cx);
}

TEST(notify_one_stores_one_permit)
{
    weft_notify *n;
    struct twaker tw = {0};
    weft_notify_wait a, b;
    ASSERT_EQ(weft_notify_new(&n), 0);
    weft_notify_one(n);
    weft_notify_one(n); /* at most one permit */
    weft_notify_wait_init(&a, n);
    weft_notify_wait_init(&b, n);
    ASSERT_EQ(poll_wait(&a, &tw), WEFT_READY);
    ASSERT_EQ(poll_wait(&b, &tw), WEFT_PENDING);
    ASSERT_EQ(poll_wait(&a, &tw), WEFT_READY); /* stays ready */
    weft_notify_one(n);
    ASSERT_EQ(tw_wakes(&tw), 1);
    ASSERT_EQ(poll_wait(&b, &tw), WEFT_READY);
    weft_notify_wait_drop(&a);
    weft_notify_wait_drop(&b);
    ASSERT_EQ(atomic_load(&tw.refs), 0);
    weft_notify_free(n);
}

TEST(notify_one_wakes_oldest_first)
{
    weft_notify *n;
    struct twaker tw[3] = {0};
    weft_notify_wait w[3];
    ASSERT_EQ(weft_notify_new(&n), 0);
    for (int i = 0; i < 3; i++) {
        weft_notify_wait_init(&w[i], n);
        ASSERT_EQ(poll_wait(&w[i], &tw[i]), WEFT_PENDING);
    }
    for (int i = 0; i < 3; i++) {
        weft_notify_one(n);
        for (int j = 0; j < 3; j++)
            ASSERT_EQ(tw_wakes(&tw[j]), j <= i ? 1 : 0);
    }
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(poll_wait(&w[i], &tw[i]), WEFT_READY);
    weft_notify_one(n); /* nobody waits now: stored */
    weft_notify_wait_init(&w[0], n);
    ASSERT_EQ(poll_wait(&w[0], &tw[0]), WEFT_READY);
    weft_notify_free(n);
}

TEST(notify_waiters_reaches_initialised_not_later)
{
    weft_notify *n;
    struct twaker tw = {0};
    weft_notify_wait polled, unpolled, later;
    ASSERT_EQ(weft_notify_new(&n), 0);
    weft_notify_wait_init(&polled, n);
    ASSERT_EQ(poll_wait(&polled, &tw), WEFT_PENDING);
    weft_notify_wait_init(&unpolled, n); /* created, not yet polled */
    weft_notify_waiters(n);
    ASSERT_EQ(tw_wakes(&tw), 1);
    weft_notify_wait_init(&later, n);
    ASSERT_EQ(poll_wait(&polled, &tw), WEFT_READY);
    ASSERT_EQ(poll_wait(&unpolled, &tw), WEFT_READY);
    ASSERT_EQ(poll_wait(&later, &tw), WEFT_PENDING); /* no permit stored by notify_waiters */
    weft_notify_wait_drop(&later);
    ASSERT_EQ(atomic_load(&tw.refs), 0);
    weft_notify_free(n);
}

TEST(notify_waiters_many_batches)
{
    enum { N = 100 };
    weft_notify *n;
    static struct twaker tw[N];
    static weft_notify_wait w[N];
    memset(tw, 0, sizeof tw);
    ASSERT_EQ(weft_notify_new(&n), 0);
    for (int i = 0; i < N; i++) {
        weft_notify_wait_init(&w[i], n);
        ASSERT_EQ(poll_wait(&w[i], &tw[i]), WEFT_PENDING);
    }
    weft_notify_waiters(n);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(tw_wakes(&tw[i]), 1);
        ASSERT_EQ(poll_wait(&w[i], &tw[i]), WEFT_READY);
        ASSERT_EQ(atomic_load(&tw[i].refs), 0);
    }
    weft_notify_free(n);
}

TEST(dropped_waiter_passes_notify_one_on)
{
    weft_notify *n;
    struct twaker ta = {0}, tb = {0};
    weft_notify_wait a, b, c;
    ASSERT_EQ(weft_notify_new(&n), 0);
    weft_notify_wait_init(&a, n);
    weft_notify_wait_init(&b, n);
    ASSERT_EQ(poll_wait(&a, &ta), WEFT_PENDING);
    ASSERT_EQ(poll_wait(&b, &tb), WEFT_PENDING);
    weft_notify_one(n); /* picks a */
    ASSERT_EQ(tw_wakes(&ta), 1);
    weft_notify_wait_drop(&a); /* a never saw it: b gets it */
    ASSERT_EQ(tw_wakes(&tb), 1);
    ASSERT_EQ(poll_wait(&b, &tb), WEFT_READY);
    /* the same with nobody left: the notification becomes the stored permit */
    weft_notify_wait_init(&a, n);
    ASSERT_EQ(poll_wait(&a, &ta), WEFT_PENDING);
    weft_notify_one(n);
    weft_notify_wait_drop(&a);
    weft_notify_wait_init(&c, n);
    ASSERT_EQ(poll_wait(&c, &ta), WEFT_READY);
    /* a queued waiter dropped unnotified leaves the state clean */
    weft_notify_wait_init(&a, n);
    ASSERT_EQ(poll_wait(&a, &ta), WEFT_PENDING);
    weft_notify_wait_drop(&a);
    weft_notify_one(n);
    weft_notify_wait_init(&c, n);
    ASSERT_EQ(poll_wait(&c, &ta), WEFT_READY);
    ASSERT_EQ(atomic_load(&ta.refs) + atomic_load(&tb.refs), 0);
    weft_notify_free(n);
}

/* ------------------------------------------------------------------ barrier */

TEST(barrier_releases_rounds_with_one_leader)
{
    weft_barrier *b;
    struct twaker tw[3] = {0};
    weft_barrier_wait w[3];
    bool leader[3];
    ASSERT_EQ(weft_barrier_new(&b, 3), 0);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 3; i++)
            weft_barrier_wait_init(&w[i], b);
        for (int i = 0; i < 2; i++) {
            weft_cx cx = tw_cx(&tw[i]);
            ASSERT_EQ(weft_barrier_wait_poll(&w[i], &cx, &leader[i]), WEFT_PENDING);
        }
        weft_cx cx = tw_cx(&tw[2]);
        ASSERT_EQ(weft_barrier_wait_poll(&w[2], &cx, &leader[2]), WEFT_READY);
        ASSERT_TRUE(leader[2]);
        for (int i = 0; i < 2; i++) {
            ASSERT_EQ(tw_wakes(&tw[i]), round + 1);
            weft_cx c2 = tw_cx(&tw[i]);
            ASSERT_EQ(weft_barrier_wait_poll(&w[i], &c2, &leader[i]), WEFT_READY);
            ASSERT_TRUE(!leader[i]);
        }
    }
    ASSERT_EQ(atomic_load(&tw[0].refs) + atomic_load(&tw[1].refs), 0);
    weft_barrier_free(b);
    ASSERT_EQ(weft_barrier_new(&b, 0), -EINVAL);
    ASSERT_TRUE(b == NULL);
}

TEST(barrier_dropped_waiter_still_counts)
{
    weft_barrier *b;
    struct twaker tw = {0};
    weft_barrier_wait a, c;
    bool leader = false;
    ASSERT_EQ(weft_barrier_new(&b, 2), 0);
    weft_barrier_wait_init(&a, b);
    weft_cx cx = tw_cx(&tw);
    ASSERT_EQ(weft_barrier_wait_poll(&a, &cx, &leader), WEFT_PENDING);
    weft_barrier_wait_drop(&a);
    weft_barrier_wait_init(&c, b);
    ASSERT_EQ(weft_barrier_wait_poll(&c, &cx, &leader), WEFT_READY);
    ASSERT_TRUE(leader);
    ASSERT_EQ(atomic_load(&tw.refs), 0);
    weft_barrier_free(b);
}

/* ------------------------------------------------------------------ on a runtime */

struct phase_task {
    WEFT_ASYNC_STATE;
    weft_barrier *b;
    _Atomic int *leaders, *phase_count;
    int rounds, i;
    bool leader;
    weft_barrier_wait w;
};

static weft_poll phase_poll(void *state, weft_cx *cx, void *out)
{
    struct phase_task *t = state;
    (void)out;
    WEFT_ASYNC_BEGIN(t);
    for (t->i = 0; t->i < t->rounds; t->i++) {
        atomic_fetch_add(t->phase_count, 1);
        weft_barrier_wait_init(&t->w, t->b);
        WEFT_AWAIT(t, weft_barrier_wait_poll(&t->w, cx, &t->leader));
        if (t->leader)
            atomic_fetch_add(t->leaders, 1);
    }
    WEFT_ASYNC_END(t);
}

static void phase_drop(void *state)
{
    weft_barrier_wait_drop(&((struct phase_task *)state)->w);
}

static const weft_future_type phase_type = {
    .name = "phase", .poll = phase_poll, .drop = phase_drop,
    .state_size = sizeof(struct phase_task)};

TEST(barrier_on_runtime)
{
    enum { T = 8 };
    weft_rt *rt = rt_mt(2);
    weft_barrier *b;
    weft_join *j[T];
    _Atomic int leaders = 0, count = 0;
    int rounds = scaled(300);
    ASSERT_EQ(weft_barrier_new(&b, T), 0);
    for (int i = 0; i < T; i++) {
        struct phase_task init = {.b = b, .leaders = &leaders, .phase_count = &count,
                                  .rounds = rounds};
        ASSERT_EQ(weft_spawn(rt, &phase_type, &init, &j[i]), 0);
    }
    for (int i = 0; i < T; i++)
        ASSERT_EQ(weft_join_wait(j[i], NULL, 0), 0);
    ASSERT_EQ(atomic_load(&leaders), rounds);
    ASSERT_EQ(atomic_load(&count), rounds * T);
    weft_barrier_free(b);
    weft_rt_free(rt);
}

/* Two tasks take turns on a shared counter, each parked on its own Notify between turns. The
 * waiter registers (init) before it checks the counter, so a notify_one between its check and
 * its park is never lost (notify_one permits coalesce: counting notifies would be wrong). */
struct notify_ping {
    WEFT_ASYNC_STATE;
    weft_notify *mine, *peer;
    _Atomic long *turn;
    long parity;
    int rounds, i;
    weft_notify_wait w;
};

static weft_poll notify_ping_poll(void *state, weft_cx *cx, void *out)
{
    struct notify_ping *t = state;
    (void)out;
    WEFT_ASYNC_BEGIN(t);
    for (t->i = 0; t->i < t->rounds; t->i++) {
        for (;;) {
            weft_notify_wait_init(&t->w, t->mine);
            if (atomic_load(t->turn) % 2 == t->parity)
                break;
            WEFT_AWAIT(t, weft_notify_wait_poll(&t->w, cx));
        }
        atomic_fetch_add(t->turn, 1);
        weft_notify_one(t->peer);
    }
    WEFT_ASYNC_END(t);
}

static void notify_ping_drop(void *state)
{
    weft_notify_wait_drop(&((struct notify_ping *)state)->w);
}

static const weft_future_type notify_ping_type = {
    .name = "notify_ping", .poll = notify_ping_poll, .drop = notify_ping_drop,
    .state_size = sizeof(struct notify_ping)};

TEST(notify_ping_pong_on_runtime_loses_nothing)
{
    weft_rt *rt = rt_mt(2);
    weft_notify *a, *b;
    weft_join *ja, *jb;
    _Atomic long turn = 0;
    int rounds = scaled(20000);
    ASSERT_EQ(weft_notify_new(&a), 0);
    ASSERT_EQ(weft_notify_new(&b), 0);
    struct notify_ping ia = {.mine = a, .peer = b, .turn = &turn, .parity = 0, .rounds = rounds};
    struct notify_ping ib = {.mine = b, .peer = a, .turn = &turn, .parity = 1, .rounds = rounds};
    ASSERT_EQ(weft_spawn(rt, &notify_ping_type, &ia, &ja), 0);
    ASSERT_EQ(weft_spawn(rt, &notify_ping_type, &ib, &jb), 0);
    ASSERT_EQ(weft_join_wait(ja, NULL, 0), 0);
    ASSERT_EQ(weft_join_wait(jb, NULL, 0), 0);
    ASSERT_EQ(atomic_load(&turn), 2L * rounds);
    weft_rt_free(rt);
    weft_notify_free(a);
    weft_notify_free(b);
}

TEST_MAIN()
