/* Timer workloads: sleep_1000x50ms, timer_churn, sleep_1Mx100ms, pending_1M. */
#include <unistd.h>

#include "bench.h"

/* ------------------------------------------------------------------ a sleeping task */

/* One sleeping task for every timer workload; `latch` is either the started counter
 * (pending_1M) or the countdown (sleep_1Mx100ms), told apart by done_tx. */
struct sleeper {
    WEFT_ASYNC_STATE;
    int32_t duration_ms;
    _Atomic long *counter; /* countdown latch (with done_tx), started counter, or NULL */
    weft_oneshot *done_tx; /* sent by the task that brings the countdown to 0 */
    weft_sleep sleep;
};

static weft_poll sleeper_poll(void *state, weft_cx *cx, void *out)
{
    struct sleeper *s = state;
    (void)out;
    WEFT_ASYNC_BEGIN(s);
    if (s->counter && !s->done_tx)
        atomic_fetch_add_explicit(s->counter, 1, memory_order_relaxed);
    weft_sleep_init(&s->sleep, WEFT_MS(s->duration_ms)); /* relative to the first poll */
    WEFT_AWAIT(s, weft_sleep_poll(&s->sleep, cx));
    if (s->done_tx && atomic_fetch_sub(s->counter, 1) == 1)
        weft_oneshot_send(s->done_tx, NULL);
    WEFT_ASYNC_END(s);
}
static void sleeper_drop(void *state)
{
    weft_sleep_drop(&((struct sleeper *)state)->sleep);
}
static const weft_future_type sleeper_type = {.name = "sleeper",
                                              .poll = sleeper_poll,
                                              .drop = sleeper_drop,
                                              .state_size = sizeof(struct sleeper)};

/* ------------------------------------------------------------------ sleep_1000x50ms */

struct sleep_many {
    WEFT_ASYNC_STATE;
    weft_join **joins;
    int64_t t0;
    int i, err;
};

static weft_poll sleep_many_poll(void *state, weft_cx *cx, void *out)
{
    struct sleep_many *s = state;
    WEFT_ASYNC_BEGIN(s);
    s->t0 = weft_now();
    for (s->i = 0; s->i < 1000; s->i++) {
        struct sleeper init = {.duration_ms = 50};
        if ((s->err = weft_spawn(weft_cx_rt(cx), &sleeper_type, &init, &s->joins[s->i])) < 0)
            WEFT_ASYNC_FAIL(s, s->err);
    }
    for (s->i = 0; s->i < 1000; s->i++)
        WEFT_AWAIT(s, weft_join_poll(s->joins[s->i], cx, NULL, 0, &s->err));
    *(int64_t *)out = weft_now() - s->t0;
    WEFT_ASYNC_END(s);
}
static const weft_future_type sleep_many_type = {.name = "sleep_1000x50ms",
                                                 .poll = sleep_many_poll,
                                                 .state_size = sizeof(struct sleep_many),
                                                 .out_size = sizeof(int64_t)};

static void run_sleep_1000(const char *name)
{
    weft_rt *rt = bench_rt(WEFT_RT_MULTI_THREAD);
    struct sleep_many init = {.joins = calloc(1000, sizeof(weft_join *))};
    double ns = bench_median_ns(rt, &sleep_many_type, &init);
    (void)name;
    bench_out("sleep_1000x50ms_wall_ms", ns / 1e6, "ms");
    weft_rt_free(rt);
    free(init.joins);
}
const struct bench_workload bench_sleep_1000x50ms = {"sleep_1000x50ms", run_sleep_1000};

/* ------------------------------------------------------------------ timer_churn */

/* Two ways to start a 60 s timer, both really inserted into the wheel and cancelled:
 *   timer_churn_ns_per_op        from a start time read once per poll, as libuv and libev
 *                                do (their timers start from the loop's cached time);
 *   timer_churn_clock_ns_per_op  weft_sleep_init, which reads the clock for every timer, as
 *                                Tokio's sleep() and Go's NewTimer do (~27 ns of vDSO
 *                                clock_gettime on our VMs). */
#define CHURN_N 1000000

struct churn {
    int64_t t0;
    int clock_each;
    weft_sleep sleep;
};

static weft_poll churn_poll(void *state, weft_cx *cx, void *out)
{
    struct churn *c = state;
    c->t0 = weft_now();
    int64_t deadline = c->t0 + WEFT_SEC(60);
    for (int i = 0; i < CHURN_N; i++) {
        if (c->clock_each)
            weft_sleep_init(&c->sleep, WEFT_SEC(60));
        else
            weft_sleep_until_init(&c->sleep, deadline);
        if (weft_sleep_poll(&c->sleep, cx) != WEFT_PENDING) /* registers it in the wheel */
            return WEFT_FAIL(-EIO);
        weft_sleep_drop(&c->sleep);
    }
    *(int64_t *)out = weft_now() - c->t0;
    return WEFT_READY;
}
static const weft_future_type churn_type = {.name = "timer_churn",
                                            .poll = churn_poll,
                                            .state_size = sizeof(struct churn),
                                            .out_size = sizeof(int64_t)};

static void run_timer_churn(const char *name)
{
    weft_rt *rt = bench_rt(WEFT_RT_MULTI_THREAD);
    (void)name;
    bench_out("timer_churn_ns_per_op",
              bench_median_ns(rt, &churn_type, &(struct churn){.clock_each = 0}) / CHURN_N, "ns");
    bench_out("timer_churn_clock_ns_per_op",
              bench_median_ns(rt, &churn_type, &(struct churn){.clock_each = 1}) / CHURN_N, "ns");
    weft_rt_free(rt);
}
const struct bench_workload bench_timer_churn = {"timer_churn", run_timer_churn};

/* ------------------------------------------------------------------ sleep_1Mx100ms */

#define MANY 1000000

struct million_out {
    int64_t wall_ns, spawn_loop_ns;
    long rss_after_spawn_kib, done_at_spawn_end;
};

struct million {
    WEFT_ASYNC_STATE;
    _Atomic long counter; /* the latch, inside the root's own cell */
    weft_oneshot *rx;
    int64_t t0;
    int i, err;
};

static weft_poll million_poll(void *state, weft_cx *cx, void *out)
{
    struct million *m = state;
    struct million_out *o = out;
    WEFT_ASYNC_BEGIN(m);
    atomic_init(&m->counter, MANY);
    if ((m->err = weft_oneshot_new(&m->rx, 0)) < 0)
        WEFT_ASYNC_FAIL(m, m->err);
    m->t0 = weft_now();
    for (m->i = 0; m->i < MANY; m->i++) {
        struct sleeper init = {.duration_ms = 100, .counter = &m->counter, .done_tx = m->rx};
        if ((m->err = weft_spawn(weft_cx_rt(cx), &sleeper_type, &init, NULL)) < 0)
            WEFT_ASYNC_FAIL(m, m->err);
    }
    o->spawn_loop_ns = weft_now() - m->t0;
    o->rss_after_spawn_kib = bench_status_kib("VmRSS");
    o->done_at_spawn_end = MANY - atomic_load(&m->counter);
    WEFT_AWAIT(m, weft_oneshot_recv_poll(m->rx, cx, NULL, &m->err));
    o->wall_ns = weft_now() - m->t0;
    WEFT_ASYNC_END(m);
}
static const weft_future_type million_type = {.name = "sleep_1Mx100ms",
                                              .poll = million_poll,
                                              .state_size = sizeof(struct million),
                                              .out_size = sizeof(struct million_out)};

static void run_sleep_1m(const char *name)
{
    long base = bench_status_kib("VmRSS");
    weft_rt *rt = bench_rt(WEFT_RT_MULTI_THREAD);
    struct million_out o;
    (void)name;
    int err = weft_rt_block_on(rt, &million_type, NULL, &o);
    if (err < 0)
        bench_fail("sleep_1Mx100ms", err);
    long hwm = bench_status_kib("VmHWM");
    bench_out("sleep_1Mx100ms_wall_ms", o.wall_ns / 1e6, "ms");
    bench_out("sleep_1Mx100ms_spawn_loop_ms", o.spawn_loop_ns / 1e6, "ms");
    bench_out("sleep_1Mx100ms_peak_rss_mib", hwm / 1024.0, "MiB");
    bench_out("sleep_1Mx100ms_baseline_rss_mib", base / 1024.0, "MiB");
    bench_out("sleep_1Mx100ms_done_at_spawn_end", (double)o.done_at_spawn_end, "tasks");
    bench_out("sleep_1Mx100ms_bytes_per_task_after_spawn",
              (o.rss_after_spawn_kib - base) * 1024.0 / MANY, "B");
    bench_out("sleep_1Mx100ms_bytes_per_task_peak", (hwm - base) * 1024.0 / MANY, "B");
    weft_rt_free(rt);
}
const struct bench_workload bench_sleep_1Mx100ms = {"sleep_1Mx100ms", run_sleep_1m};

/* ------------------------------------------------------------------ pending_1M */

struct pending {
    WEFT_ASYNC_STATE;
    _Atomic long started;
    int64_t t0;
    int i, err;
    weft_sleep tick;
};

static weft_poll pending_poll(void *state, weft_cx *cx, void *out)
{
    struct pending *p = state;
    WEFT_ASYNC_BEGIN(p);
    p->t0 = weft_now();
    for (p->i = 0; p->i < MANY; p->i++) {
        struct sleeper init = {.duration_ms = 60000, .counter = &p->started};
        if ((p->err = weft_spawn(weft_cx_rt(cx), &sleeper_type, &init, NULL)) < 0)
            WEFT_ASYNC_FAIL(p, p->err);
    }
    for (p->i = 0; p->i < 12000 && atomic_load(&p->started) < MANY; p->i++) {
        weft_sleep_init(&p->tick, WEFT_MS(5));
        WEFT_AWAIT(p, weft_sleep_poll(&p->tick, cx));
    }
    weft_sleep_init(&p->tick, WEFT_MS(20));
    WEFT_AWAIT(p, weft_sleep_poll(&p->tick, cx));
    *(int64_t *)out = weft_now() - p->t0;
    WEFT_ASYNC_END(p);
}
static const weft_future_type pending_type = {.name = "pending_1M",
                                              .poll = pending_poll,
                                              .state_size = sizeof(struct pending),
                                              .out_size = sizeof(int64_t)};

static void run_pending_1m(const char *name)
{
    long base = bench_status_kib("VmRSS");
    weft_rt *rt = bench_rt(WEFT_RT_MULTI_THREAD);
    int64_t ns;
    (void)name;
    int err = weft_rt_block_on(rt, &pending_type, NULL, &ns);
    if (err < 0)
        bench_fail("pending_1M", err);
    long rss = bench_status_kib("VmRSS");
    bench_out("pending_1M_setup_ms", ns / 1e6, "ms");
    bench_out("pending_1M_rss_mib", rss / 1024.0, "MiB");
    bench_out("pending_1M_bytes_per_pending_task", (rss - base) * 1024.0 / MANY, "B");
    fflush(stdout);
    _exit(0); /* leave the million sleepers behind, as the workload says */
}
const struct bench_workload bench_pending_1M = {"pending_1M", run_pending_1m};
