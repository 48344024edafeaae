/* The scheduling workloads: spawn_many, chained_spawn, yield_many (MT and CT), written with
 * the async.h macros the way a user would write them. */
#include "bench.h"

/* ------------------------------------------------------------------ empty task */

static weft_poll empty_poll(void *state, weft_cx *cx, void *out)
{
    (void)state, (void)cx, (void)out;
    return WEFT_READY;
}
static const weft_future_type empty_type = {.name = "empty", .poll = empty_poll};

/* ------------------------------------------------------------------ spawn_many */

#define SPAWN_N 100000

struct spawn_many {
    WEFT_ASYNC_STATE;
    weft_join **joins; /* preallocated before the timed region */
    int64_t t0;
    int i, err;
};

static weft_poll spawn_many_poll(void *state, weft_cx *cx, void *out)
{
    struct spawn_many *s = state;
    WEFT_ASYNC_BEGIN(s);
    s->t0 = weft_now();
    for (s->i = 0; s->i < SPAWN_N; s->i++)
        if ((s->err = weft_spawn(weft_cx_rt(cx), &empty_type, NULL, &s->joins[s->i])) < 0)
            WEFT_ASYNC_FAIL(s, s->err);
    for (s->i = 0; s->i < SPAWN_N; s->i++) {
        WEFT_AWAIT(s, weft_join_poll(s->joins[s->i], cx, NULL, 0, &s->err));
        if (s->err < 0)
            WEFT_ASYNC_FAIL(s, s->err);
    }
    *(int64_t *)out = weft_now() - s->t0;
    WEFT_ASYNC_END(s);
}
static const weft_future_type spawn_many_type = {
    .name = "spawn_many", .poll = spawn_many_poll,
    .state_size = sizeof(struct spawn_many), .out_size = sizeof(int64_t)};

static void run_spawn_many(const char *name, weft_rt_flavor flavor)
{
    weft_rt *rt = bench_rt(flavor);
    struct spawn_many init = {.joins = calloc(SPAWN_N, sizeof(weft_join *))};
    double ns = bench_median_ns(rt, &spawn_many_type, &init);
    char metric[64];
    snprintf(metric, sizeof metric, "%s_ns_per_task", name);
    bench_out(metric, ns / SPAWN_N, "ns");
    weft_rt_free(rt);
    free(init.joins);
}
static void spawn_many_mt(const char *n) { run_spawn_many(n, WEFT_RT_MULTI_THREAD); }
static void spawn_many_ct(const char *n) { run_spawn_many(n, WEFT_RT_CURRENT_THREAD); }
const struct bench_workload bench_spawn_many = {"spawn_many", spawn_many_mt};
const struct bench_workload bench_spawn_many_ct = {"spawn_many_ct", spawn_many_ct};

/* ------------------------------------------------------------------ chained_spawn */

#define CHAIN_DEPTH 1000
#define CHAIN_REPS 100

struct chain_step {
    weft_oneshot *tx;
    int remaining;
};

static weft_poll chain_step_poll(void *state, weft_cx *cx, void *out);
static const weft_future_type chain_step_type = {
    .name = "chain_step", .poll = chain_step_poll, .state_size = sizeof(struct chain_step)};

static weft_poll chain_step_poll(void *state, weft_cx *cx, void *out)
{
    struct chain_step *s = state;
    (void)out;
    if (s->remaining == 1) {
        weft_oneshot_send(s->tx, NULL);
        return WEFT_READY;
    }
    struct chain_step next = {s->tx, s->remaining - 1};
    int err = weft_spawn(weft_cx_rt(cx), &chain_step_type, &next, NULL);
    return err < 0 ? WEFT_FAIL(err) : WEFT_READY;
}

struct chained_spawn {
    WEFT_ASYNC_STATE;
    weft_oneshot *rx;
    int64_t t0;
    int rep, err;
};

static weft_poll chained_spawn_poll(void *state, weft_cx *cx, void *out)
{
    struct chained_spawn *s = state;
    WEFT_ASYNC_BEGIN(s);
    s->t0 = weft_now();
    for (s->rep = 0; s->rep < CHAIN_REPS; s->rep++) {
        if ((s->err = weft_oneshot_new(&s->rx, 0)) < 0)
            WEFT_ASYNC_FAIL(s, s->err);
        struct chain_step first = {s->rx, CHAIN_DEPTH};
        if ((s->err = weft_spawn(weft_cx_rt(cx), &chain_step_type, &first, NULL)) < 0)
            WEFT_ASYNC_FAIL(s, s->err);
        WEFT_AWAIT(s, weft_oneshot_recv_poll(s->rx, cx, NULL, &s->err));
        if (s->err < 0)
            WEFT_ASYNC_FAIL(s, s->err);
    }
    *(int64_t *)out = weft_now() - s->t0;
    WEFT_ASYNC_END(s);
}
static const weft_future_type chained_spawn_type = {
    .name = "chained_spawn", .poll = chained_spawn_poll,
    .state_size = sizeof(struct chained_spawn), .out_size = sizeof(int64_t)};

static void run_chained(const char *name, weft_rt_flavor flavor)
{
    weft_rt *rt = bench_rt(flavor);
    double ns = bench_median_ns(rt, &chained_spawn_type, NULL);
    char metric[64];
    snprintf(metric, sizeof metric, "%s_ns_per_hop", name);
    bench_out(metric, ns / (CHAIN_DEPTH * CHAIN_REPS), "ns");
    weft_rt_free(rt);
}
static void chained_mt(const char *n) { run_chained(n, WEFT_RT_MULTI_THREAD); }
static void chained_ct(const char *n) { run_chained(n, WEFT_RT_CURRENT_THREAD); }
const struct bench_workload bench_chained_spawn = {"chained_spawn", chained_mt};
const struct bench_workload bench_chained_spawn_ct = {"chained_spawn_ct", chained_ct};

/* ------------------------------------------------------------------ yield_many */

#define YIELD_TASKS 1000
#define YIELD_EACH 200

struct yielder {
    WEFT_ASYNC_STATE;
    int i;
};

static weft_poll yielder_poll(void *state, weft_cx *cx, void *out)
{
    struct yielder *y = state;
    (void)out;
    WEFT_ASYNC_BEGIN(y);
    for (y->i = 1; y->i < YIELD_EACH + 1; y->i++)
        WEFT_YIELD(y, cx);
    WEFT_ASYNC_END(y);
}
static const weft_future_type yielder_type = {
    .name = "yielder", .poll = yielder_poll, .state_size = sizeof(struct yielder)};

struct yield_many {
    WEFT_ASYNC_STATE;
    weft_join **joins;
    int64_t t0;
    int i, err;
};

static weft_poll yield_many_poll(void *state, weft_cx *cx, void *out)
{
    struct yield_many *s = state;
    WEFT_ASYNC_BEGIN(s);
    s->t0 = weft_now();
    for (s->i = 0; s->i < YIELD_TASKS; s->i++)
        if ((s->err = weft_spawn(weft_cx_rt(cx), &yielder_type, NULL, &s->joins[s->i])) < 0)
            WEFT_ASYNC_FAIL(s, s->err);
    for (s->i = 0; s->i < YIELD_TASKS; s->i++) {
        WEFT_AWAIT(s, weft_join_poll(s->joins[s->i], cx, NULL, 0, &s->err));
        if (s->err < 0)
            WEFT_ASYNC_FAIL(s, s->err);
    }
    *(int64_t *)out = weft_now() - s->t0;
    WEFT_ASYNC_END(s);
}
static const weft_future_type yield_many_type = {
    .name = "yield_many", .poll = yield_many_poll,
    .state_size = sizeof(struct yield_many), .out_size = sizeof(int64_t)};

static void run_yield_many(const char *name, weft_rt_flavor flavor)
{
    weft_rt *rt = bench_rt(flavor);
    struct yield_many init = {.joins = calloc(YIELD_TASKS, sizeof(weft_join *))};
    double ns = bench_median_ns(rt, &yield_many_type, &init);
    char metric[64];
    snprintf(metric, sizeof metric, "%s_ns_per_yield", name);
    bench_out(metric, ns / ((double)YIELD_TASKS * YIELD_EACH), "ns");
    weft_rt_free(rt);
    free(init.joins);
}
static void yield_many_mt(const char *n) { run_yield_many(n, WEFT_RT_MULTI_THREAD); }
static void yield_many_ct(const char *n) { run_yield_many(n, WEFT_RT_CURRENT_THREAD); }
const struct bench_workload bench_yield_many = {"yield_many", yield_many_mt};
const struct bench_workload bench_yield_many_ct = {"yield_many_ct", yield_many_ct};
