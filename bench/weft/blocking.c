/* spawn_blocking (WORKLOADS.md): N = 10,000 calls of a closure `black_box(i) + 1` on the
 * blocking pool, one runtime (2 workers, default pool) shared by the warm-up and the 5 timed
 * iterations of both halves, as the Tokio peer does.
 *   seq:   spawn one, await it, repeat      -> spawn_blocking_seq_ns_per_call
 *   batch: spawn all (handles kept), await all in order -> spawn_blocking_batch_ns_per_call */
#include "bench.h"

#define BLOCKING_N 10000

static void *plus_one(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    __asm__ volatile("" : "+r"(i)); /* black_box */
    return (void *)(i + 1);
}

struct blk_bench {
    WEFT_ASYNC_STATE;
    weft_join **joins; /* batch: preallocated before the timed region */
    weft_join *join;   /* seq */
    int64_t t0;
    uint64_t acc;
    void *res;
    int i, err;
};

static weft_poll seq_poll(void *state, weft_cx *cx, void *out)
{
    struct blk_bench *s = state;
    WEFT_ASYNC_BEGIN(s);
    s->acc = 0;
    s->t0 = weft_now();
    for (s->i = 0; s->i < BLOCKING_N; s->i++) {
        s->err = weft_spawn_blocking(weft_cx_rt(cx), plus_one, (void *)(uintptr_t)s->i, &s->join);
        if (s->err < 0)
            WEFT_ASYNC_FAIL(s, s->err);
        WEFT_AWAIT(s, weft_join_poll(s->join, cx, &s->res, sizeof s->res, &s->err));
        if (s->err < 0)
            WEFT_ASYNC_FAIL(s, s->err);
        s->acc += (uintptr_t)s->res;
    }
    __asm__ volatile("" : : "r"(s->acc) : "memory");
    *(int64_t *)out = weft_now() - s->t0;
    WEFT_ASYNC_END(s);
}

static weft_poll batch_poll(void *state, weft_cx *cx, void *out)
{
    struct blk_bench *s = state;
    WEFT_ASYNC_BEGIN(s);
    s->acc = 0;
    s->t0 = weft_now();
    for (s->i = 0; s->i < BLOCKING_N; s->i++) {
        s->err =
            weft_spawn_blocking(weft_cx_rt(cx), plus_one, (void *)(uintptr_t)s->i, &s->joins[s->i]);
        if (s->err < 0)
            WEFT_ASYNC_FAIL(s, s->err);
    }
    for (s->i = 0; s->i < BLOCKING_N; s->i++) {
        WEFT_AWAIT(s, weft_join_poll(s->joins[s->i], cx, &s->res, sizeof s->res, &s->err));
        if (s->err < 0)
            WEFT_ASYNC_FAIL(s, s->err);
        s->acc += (uintptr_t)s->res;
    }
    __asm__ volatile("" : : "r"(s->acc) : "memory");
    *(int64_t *)out = weft_now() - s->t0;
    WEFT_ASYNC_END(s);
}

static const weft_future_type seq_type = {.name = "spawn_blocking_seq",
                                          .poll = seq_poll,
                                          .state_size = sizeof(struct blk_bench),
                                          .out_size = sizeof(int64_t)};
static const weft_future_type batch_type = {.name = "spawn_blocking_batch",
                                            .poll = batch_poll,
                                            .state_size = sizeof(struct blk_bench),
                                            .out_size = sizeof(int64_t)};

static void run_spawn_blocking(const char *name)
{
    (void)name;
    weft_rt *rt = bench_rt(WEFT_RT_MULTI_THREAD);
    struct blk_bench init = {.joins = calloc(BLOCKING_N, sizeof(weft_join *))};
    if (!init.joins)
        bench_fail("calloc", -ENOMEM);
    bench_out("spawn_blocking_seq_ns_per_call", bench_median_ns(rt, &seq_type, &init) / BLOCKING_N,
              "ns");
    bench_out("spawn_blocking_batch_ns_per_call",
              bench_median_ns(rt, &batch_type, &init) / BLOCKING_N, "ns");
    weft_rt_free(rt);
    free(init.joins);
}

const struct bench_workload bench_spawn_blocking = {"spawn_blocking", run_spawn_blocking};
