/* Time: sleeps never fire early, extremes (F7), timeout, interval policies, cancellation,
 * timers armed from foreign threads, on both executors. */
#include <pthread.h>

#include "test.h"
#include "weft.h"

static weft_rt *make(int flavor)
{
    weft_rt *rt;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = flavor, .workers = 2}), 0);
    return rt;
}

/* ---- sleep for `d`, report how long it really took */
struct nap {
    WEFT_ASYNC_STATE;
    int64_t d, t0;
    int until; /* 1: d is an absolute deadline */
    weft_sleep s;
};
static weft_poll nap_poll(void *st, weft_cx *cx, void *out)
{
    struct nap *n = st;
    WEFT_ASYNC_BEGIN(n);
    n->t0 = weft_now();
    if (n->until)
        weft_sleep_until_init(&n->s, n->d);
    else
        weft_sleep_init(&n->s, n->d);
    WEFT_AWAIT(n, weft_sleep_poll(&n->s, cx));
    *(int64_t *)out = weft_now() - n->t0;
    WEFT_ASYNC_END(n);
}
static void nap_drop(void *st) { weft_sleep_drop(&((struct nap *)st)->s); }
static const weft_future_type nap_type = {.name = "nap",
                                          .poll = nap_poll,
                                          .drop = nap_drop,
                                          .state_size = sizeof(struct nap),
                                          .out_size = sizeof(int64_t)};

TEST(sleep_never_fires_early)
{
    for (int f = 0; f < 2; f++) {
        weft_rt *rt = make(f);
        static const int64_t ds[] = {WEFT_US(1), WEFT_US(500), WEFT_MS(1), WEFT_MS(3), WEFT_MS(17)};
        for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
            int64_t took = 0;
            ASSERT_EQ(weft_rt_block_on(rt, &nap_type, &(struct nap){.d = ds[i]}, &took), 0);
            ASSERT_GE(took, ds[i]);
            ASSERT_LT(took, ds[i] + WEFT_SEC(2)); /* a hang, not a speed check */
        }
        weft_rt_free(rt);
    }
}

/* ---- zero and negative: pending at the first poll (not inline), ready after a turn */
struct zero {
    int polls;
    int64_t deadline;
    weft_sleep s;
};
static weft_poll zero_poll(void *st, weft_cx *cx, void *out)
{
    struct zero *z = st;
    if (z->polls++ == 0)
        weft_sleep_until_init(&z->s, z->deadline);
    if (weft_sleep_poll(&z->s, cx) == WEFT_PENDING)
        return WEFT_PENDING;
    *(int *)out = z->polls;
    return WEFT_READY;
}
static void zero_drop(void *st) { weft_sleep_drop(&((struct zero *)st)->s); }
static const weft_future_type zero_type = {.name = "zero",
                                           .poll = zero_poll,
                                           .drop = zero_drop,
                                           .state_size = sizeof(struct zero),
                                           .out_size = sizeof(int)};

TEST(zero_and_negative_deadlines_fire_after_a_yield)
{
    for (int f = 0; f < 2; f++) {
        weft_rt *rt = make(f);
        const int64_t deadlines[] = {0, -1, INT64_MIN, weft_now() - WEFT_SEC(1), weft_now()};
        for (size_t i = 0; i < 5; i++) {
            int polls = 0;
            ASSERT_EQ(weft_rt_block_on(rt, &zero_type, &(struct zero){.deadline = deadlines[i]},
                                       &polls),
                      0);
            ASSERT_GE(polls, 2);
        }
        weft_rt_free(rt);
    }
}

TEST(huge_deadlines_never_wrap_into_the_past)
{
    weft_rt *rt = make(WEFT_RT_MULTI_THREAD);
    const int64_t huge[] = {WEFT_NEVER, weft_deadline_in(INT64_MAX), weft_deadline_in(WEFT_SEC(1) << 20),
                            weft_now() + (int64_t)(1ull << 62)};
    ASSERT_EQ(weft_deadline_in(INT64_MAX), WEFT_NEVER);
    weft_join *j[4];
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(weft_spawn(rt, &nap_type, &(struct nap){.d = huge[i], .until = 1}, &j[i]), 0);
    int64_t took;
    ASSERT_EQ(weft_rt_block_on(rt, &nap_type, &(struct nap){.d = WEFT_MS(30)}, &took), 0);
    for (int i = 0; i < 4; i++) {
        ASSERT_TRUE(!weft_join_is_finished(j[i]));
        weft_join_abort(j[i]);
        ASSERT_EQ(weft_join_wait(j[i], NULL, 0), -ECANCELED);
    }
    weft_rt_free(rt);
}

/* ---- equal deadlines fire in arming order (on one worker: current-thread) */
static _Atomic int order_next;
struct ordered {
    WEFT_ASYNC_STATE;
    int64_t deadline;
    weft_sleep s;
};
static weft_poll ordered_poll(void *st, weft_cx *cx, void *out)
{
    struct ordered *o = st;
    WEFT_ASYNC_BEGIN(o);
    weft_sleep_until_init(&o->s, o->deadline);
    WEFT_AWAIT(o, weft_sleep_poll(&o->s, cx));
    *(int *)out = atomic_fetch_add(&order_next, 1);
    WEFT_ASYNC_END(o);
}
static const weft_future_type ordered_type = {.name = "ordered",
                                              .poll = ordered_poll,
                                              .state_size = sizeof(struct ordered),
                                              .out_size = sizeof(int)};

struct order_root {
    WEFT_ASYNC_STATE;
    weft_join *j[50];
    int i, err, pos;
};
static weft_poll order_root_poll(void *st, weft_cx *cx, void *out)
{
    struct order_root *r = st;
    WEFT_ASYNC_BEGIN(r);
    int64_t deadline = weft_now() + WEFT_MS(20);
    for (r->i = 0; r->i < 50; r->i++)
        ASSERT_EQ(weft_spawn(weft_cx_rt(cx), &ordered_type, &(struct ordered){.deadline = deadline},
                             &r->j[r->i]),
                  0);
    for (r->i = 0; r->i < 50; r->i++) {
        WEFT_AWAIT(r, weft_join_poll(r->j[r->i], cx, &r->pos, sizeof r->pos, &r->err));
        ASSERT_EQ(r->err, 0);
        ASSERT_EQ(r->pos, r->i);
    }
    (void)out;
    WEFT_ASYNC_END(r);
}
static const weft_future_type order_root_type = {
    .name = "order_root", .poll = order_root_poll, .state_size = sizeof(struct order_root)};

TEST(equal_deadlines_fire_in_order)
{
    weft_rt *rt = make(WEFT_RT_CURRENT_THREAD);
    atomic_store(&order_next, 0);
    ASSERT_EQ(weft_rt_block_on(rt, &order_root_type, NULL, NULL), 0);
    weft_rt_free(rt);
}

/* ---- timeout: inner dropped once, -ETIMEDOUT; or the inner result when it wins */
static _Atomic int inner_drops;
static void slow_drop(void *st)
{
    nap_drop(st);
    atomic_fetch_add(&inner_drops, 1);
}
static const weft_future_type slow_type = {.name = "slow",
                                           .poll = nap_poll,
                                           .drop = slow_drop,
                                           .state_size = sizeof(struct nap),
                                           .out_size = sizeof(int64_t)};
struct with_timeout {
    WEFT_ASYNC_STATE;
    int64_t inner_d, limit, took;
    struct nap inner;
    weft_timeout t;
    int err;
};
static weft_poll with_timeout_poll(void *st, weft_cx *cx, void *out)
{
    struct with_timeout *w = st;
    WEFT_ASYNC_BEGIN(w);
    w->inner = (struct nap){.d = w->inner_d};
    weft_timeout_init(&w->t, &slow_type, &w->inner, weft_deadline_in(w->limit));
    WEFT_AWAIT(w, weft_timeout_poll(&w->t, cx, &w->took, &w->err));
    *(int *)out = w->err;
    WEFT_ASYNC_END(w);
}
static void with_timeout_drop(void *st) { weft_timeout_drop(&((struct with_timeout *)st)->t); }
static const weft_future_type with_timeout_type = {.name = "with_timeout",
                                                   .poll = with_timeout_poll,
                                                   .drop = with_timeout_drop,
                                                   .state_size = sizeof(struct with_timeout),
                                                   .out_size = sizeof(int)};

TEST(timeout_drops_the_inner_future)
{
    for (int f = 0; f < 2; f++) {
        weft_rt *rt = make(f);
        int err = 1;
        atomic_store(&inner_drops, 0);
        ASSERT_EQ(weft_rt_block_on(rt, &with_timeout_type,
                                   &(struct with_timeout){.inner_d = WEFT_SEC(30), .limit = WEFT_MS(10)},
                                   &err),
                  0);
        ASSERT_EQ(err, -ETIMEDOUT);
        ASSERT_EQ(atomic_load(&inner_drops), 1);
        ASSERT_EQ(weft_rt_block_on(rt, &with_timeout_type,
                                   &(struct with_timeout){.inner_d = WEFT_MS(1), .limit = WEFT_SEC(30)},
                                   &err),
                  0);
        ASSERT_EQ(err, 0);
        ASSERT_EQ(atomic_load(&inner_drops), 2);
        weft_rt_free(rt);
    }
}

/* ---- interval: ticks on the grid; SKIP and DELAY after a stall */
struct ticker {
    WEFT_ASYNC_STATE;
    int policy, n;
    int64_t start, ticks[6];
    weft_interval iv;
};
static weft_poll ticker_poll(void *st, weft_cx *cx, void *out)
{
    struct ticker *t = st;
    (void)out;
    WEFT_ASYNC_BEGIN(t);
    t->start = weft_now();
    ASSERT_EQ(weft_interval_init(&t->iv, t->start, WEFT_MS(5), t->policy), 0);
    for (t->n = 0; t->n < 6; t->n++) {
        WEFT_AWAIT(t, weft_interval_tick_poll(&t->iv, cx, &t->ticks[t->n]));
        if (t->n == 1) { /* stall the task for 3 periods */
            int64_t until = weft_now() + WEFT_MS(16);
            while (weft_now() < until)
                ;
        }
    }
    for (int i = 0; i < 6; i++)
        ASSERT_GE(t->ticks[i], t->start);
    if (t->policy == WEFT_MISSED_BURST)
        for (int i = 0; i < 6; i++)
            ASSERT_EQ(t->ticks[i], t->start + i * WEFT_MS(5));
    if (t->policy == WEFT_MISSED_SKIP) /* the late tick fires, then the grid resumes after now */
        for (int i = 3; i < 6; i++) {
            ASSERT_EQ((t->ticks[i] - t->start) % WEFT_MS(5), 0);
            ASSERT_GE(t->ticks[i], t->start + WEFT_MS(20));
        }
    if (t->policy == WEFT_MISSED_DELAY)
        ASSERT_GE(t->ticks[3] - t->ticks[2], WEFT_MS(15)); /* re-based on the late tick */
    weft_interval_drop(&t->iv);
    WEFT_ASYNC_END(t);
}
static const weft_future_type ticker_type = {
    .name = "ticker", .poll = ticker_poll, .state_size = sizeof(struct ticker)};

TEST(interval_policies)
{
    weft_rt *rt = make(WEFT_RT_MULTI_THREAD);
    for (int p = 0; p < 3; p++)
        ASSERT_EQ(weft_rt_block_on(rt, &ticker_type, &(struct ticker){.policy = p}, NULL), 0);
    weft_interval iv;
    ASSERT_EQ(weft_interval_init(&iv, 0, 0, WEFT_MISSED_BURST), -EINVAL);
    ASSERT_EQ(weft_interval_init(&iv, 0, -5, WEFT_MISSED_BURST), -EINVAL);
    ASSERT_EQ(weft_interval_init(&iv, 0, 5, 9), -EINVAL);
    ASSERT_EQ(weft_interval_init(NULL, 0, 5, WEFT_MISSED_BURST), -EINVAL);
    weft_sleep_drop(NULL);
    weft_timeout_drop(NULL);
    weft_interval_drop(NULL);
    weft_rt_free(rt);
}

/* ---- re-arm from inside the wake; cancel after fire */
struct rearm {
    WEFT_ASYNC_STATE;
    int i;
    weft_sleep s;
};
static weft_poll rearm_poll(void *st, weft_cx *cx, void *out)
{
    struct rearm *r = st;
    (void)out;
    WEFT_ASYNC_BEGIN(r);
    weft_sleep_init(&r->s, WEFT_MS(1));
    for (r->i = 0; r->i < 20; r->i++) {
        WEFT_AWAIT(r, weft_sleep_poll(&r->s, cx));
        weft_sleep_drop(&r->s); /* after fire: harmless */
        weft_sleep_drop(&r->s);
        weft_sleep_reset(&r->s, weft_deadline_in(WEFT_US(200)));
    }
    WEFT_ASYNC_END(r);
}
static void rearm_drop(void *st) { weft_sleep_drop(&((struct rearm *)st)->s); }
static const weft_future_type rearm_type = {
    .name = "rearm", .poll = rearm_poll, .drop = rearm_drop, .state_size = sizeof(struct rearm)};

TEST(rearm_and_cancel_after_fire)
{
    for (int f = 0; f < 2; f++) {
        weft_rt *rt = make(f);
        ASSERT_EQ(weft_rt_block_on(rt, &rearm_type, NULL, NULL), 0);
        weft_rt_free(rt);
    }
}

/* ---- many sleepers across workers, aborted halfway: every timer is disarmed */
TEST(abort_sleepers_and_free_with_armed_timers)
{
    weft_rt *rt = make(WEFT_RT_MULTI_THREAD);
    enum { N = 2000 };
    static weft_join *j[N];
    for (int i = 0; i < N; i++)
        ASSERT_EQ(weft_spawn(rt, &nap_type, &(struct nap){.d = WEFT_MS(5 + i % 50)}, &j[i]), 0);
    for (int i = 0; i < N; i += 2)
        weft_join_abort(j[i]);
    for (int i = 0; i < N; i++) {
        int r = weft_join_wait(j[i], NULL, 0);
        ASSERT_TRUE(r == 0 || (r == -ECANCELED && i % 2 == 0));
    }
    for (int i = 0; i < 100; i++) /* left armed for weft_rt_free */
        ASSERT_EQ(weft_spawn(rt, &nap_type, &(struct nap){.d = WEFT_SEC(100)}, NULL), 0);
    weft_rt_free(rt);
}

TEST_MAIN()
