/* spawn_many_scope (issue 10): spawn_many with every task spawned into one scope, then the
 * scope closed; side by side with spawn_many it shows what a scope costs per task. */
#include "bench.h"
#include "weft/scope.h"

#define SPAWN_N 100000

static weft_poll empty_poll(void *state, weft_cx *cx, void *out)
{
    (void)state, (void)cx, (void)out;
    return WEFT_READY;
}
static const weft_future_type empty_type = {.name = "empty", .poll = empty_poll};

struct scoped {
    WEFT_ASYNC_STATE;
    weft_scope *scope;
    int64_t t0;
    int i, err;
};

static weft_poll scoped_poll(void *state, weft_cx *cx, void *out)
{
    struct scoped *s = state;
    WEFT_ASYNC_BEGIN(s);
    s->t0 = weft_now();
    if ((s->err = weft_scope_new(&s->scope, weft_cx_rt(cx), NULL)) < 0)
        WEFT_ASYNC_FAIL(s, s->err);
    for (s->i = 0; s->i < SPAWN_N; s->i++)
        if ((s->err = weft_scope_spawn(s->scope, &empty_type, NULL, NULL)) < 0)
            WEFT_ASYNC_FAIL(s, s->err);
    WEFT_AWAIT(s, weft_scope_close_poll(s->scope, cx, &s->err, NULL));
    *(int64_t *)out = weft_now() - s->t0;
    WEFT_ASYNC_END(s);
}
static const weft_future_type scoped_type = {.name = "spawn_many_scope",
                                             .poll = scoped_poll,
                                             .state_size = sizeof(struct scoped),
                                             .out_size = sizeof(int64_t)};

static void run_spawn_many_scope(const char *name)
{
    weft_rt *rt = bench_rt(WEFT_RT_MULTI_THREAD);
    (void)name;
    bench_out("spawn_many_scope_ns_per_task", bench_median_ns(rt, &scoped_type, NULL) / SPAWN_N,
              "ns");
    weft_rt_free(rt);
}
const struct bench_workload bench_spawn_many_scope = {"spawn_many_scope", run_spawn_many_scope};
