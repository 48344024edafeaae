/* Priorities: a high-priority task overtakes a flood of low-priority work; low-priority work
 * still runs under a flood of high-priority tasks (the quota), on both executors. */
#include "test.h"
#include "weft.h"

static _Atomic long lows_left;
static _Atomic long lows_left_when_high_ran;
static _Atomic int stop_highs;

static weft_poll low_poll(void *st, weft_cx *cx, void *out)
{
    (void)st, (void)cx, (void)out;
    int64_t until = weft_now() + WEFT_US(20);
    while (weft_now() < until)
        ;
    atomic_fetch_sub(&lows_left, 1);
    return WEFT_READY;
}
static const weft_future_type low_type = {.name = "low", .poll = low_poll};

static weft_poll high_poll(void *st, weft_cx *cx, void *out)
{
    (void)st, (void)cx, (void)out;
    atomic_store(&lows_left_when_high_ran, atomic_load(&lows_left));
    return WEFT_READY;
}
static const weft_future_type high_type = {.name = "high", .poll = high_poll};

static weft_poll nop_poll(void *st, weft_cx *cx, void *out)
{
    (void)st, (void)cx, (void)out;
    return WEFT_READY;
}
static const weft_future_type nop_type = {.name = "nop", .poll = nop_poll};

TEST(high_priority_overtakes_low_flood)
{
    for (int f = 0; f < 2; f++) {
        weft_rt *rt;
        ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = f, .workers = 2}), 0);
        enum { N = 4000 };
        atomic_store(&lows_left, N);
        weft_join *last;
        for (int i = 0; i < N; i++)
            ASSERT_EQ(weft_spawn_with(rt, &low_type, NULL,
                                      &(weft_spawn_opts){.priority = WEFT_PRIO_LOW},
                                      i == N - 1 ? &last : NULL),
                      0);
        weft_join *hj;
        ASSERT_EQ(weft_spawn_with(rt, &high_type, NULL,
                                  &(weft_spawn_opts){.priority = WEFT_PRIO_HIGH, .name = "probe"},
                                  &hj),
                  0);
        if (f == WEFT_RT_CURRENT_THREAD) {
            /* Drive the runtime until the last low task is done. */
            ASSERT_EQ(weft_rt_block_on(rt, &nop_type, NULL, NULL), 0);
            while (atomic_load(&lows_left) > 0)
                ASSERT_EQ(weft_rt_block_on(rt, &nop_type, NULL, NULL), 0);
        }
        ASSERT_EQ(weft_join_wait(hj, NULL, 0), 0);
        ASSERT_EQ(weft_join_wait(last, NULL, 0), 0);
        /* The high task ran while most of the low work was still queued. */
        ASSERT_GT(atomic_load(&lows_left_when_high_ran), N / 2);
        weft_rt_free(rt);
    }
}

/* High tasks that keep yielding until a low task says stop. */
static weft_poll spinning_high_poll(void *st, weft_cx *cx, void *out)
{
    weft_yield y = {0};
    (void)st, (void)out;
    if (atomic_load(&stop_highs))
        return WEFT_READY;
    return weft_yield_poll(&y, cx);
}
static const weft_future_type spinning_high_type = {.name = "spinning_high",
                                                    .poll = spinning_high_poll};

static weft_poll stopper_poll(void *st, weft_cx *cx, void *out)
{
    (void)st, (void)cx, (void)out;
    atomic_store(&stop_highs, 1);
    return WEFT_READY;
}
static const weft_future_type stopper_type = {.name = "stopper", .poll = stopper_poll};

struct flood {
    WEFT_ASYNC_STATE;
    weft_join *highs[64];
    weft_join *stopper;
    int i, err;
};
static weft_poll flood_poll(void *st, weft_cx *cx, void *out)
{
    struct flood *f = st;
    (void)out;
    WEFT_ASYNC_BEGIN(f);
    for (f->i = 0; f->i < 64; f->i++)
        ASSERT_EQ(weft_spawn_with(weft_cx_rt(cx), &spinning_high_type, NULL,
                                  &(weft_spawn_opts){.priority = WEFT_PRIO_HIGH}, &f->highs[f->i]),
                  0);
    ASSERT_EQ(weft_spawn_with(weft_cx_rt(cx), &stopper_type, NULL,
                              &(weft_spawn_opts){.priority = WEFT_PRIO_LOW}, &f->stopper),
              0);
    WEFT_AWAIT(f, weft_join_poll(f->stopper, cx, NULL, 0, &f->err));
    for (f->i = 0; f->i < 64; f->i++)
        WEFT_AWAIT(f, weft_join_poll(f->highs[f->i], cx, NULL, 0, &f->err));
    WEFT_ASYNC_END(f);
}
static const weft_future_type flood_type = {
    .name = "flood", .poll = flood_poll, .state_size = sizeof(struct flood)};

TEST(low_priority_is_never_starved)
{
    for (int f = 0; f < 2; f++) {
        weft_rt *rt;
        ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = f, .workers = 2}), 0);
        atomic_store(&stop_highs, 0);
        ASSERT_EQ(weft_rt_block_on(rt, &flood_type, NULL, NULL), 0);
        weft_rt_free(rt);
    }
}

TEST_MAIN()
