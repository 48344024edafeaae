/* priority_latency (defined in docs/benchmarks.md): 2 workers busy with 100,000 low-priority
 * tasks of 10 us each while another thread spawns a high-priority task every 1 ms; the figure
 * is the delay from spawn to the task's first poll, p50 and p99. */
#include <pthread.h>
#include <time.h>

#include "bench.h"

#define LOW_TASKS 100000
#define MAX_HIGH 4000

static _Atomic long lows_left;

static weft_poll busy_poll(void *state, weft_cx *cx, void *out)
{
    (void)state, (void)cx, (void)out;
    int64_t until = weft_now() + WEFT_US(10);
    while (weft_now() < until)
        ;
    atomic_fetch_sub_explicit(&lows_left, 1, memory_order_relaxed);
    return WEFT_READY;
}
static const weft_future_type busy_type = {.name = "busy", .poll = busy_poll};

struct probe {
    int64_t spawned;
    int64_t *delay;
};
static weft_poll probe_poll(void *state, weft_cx *cx, void *out)
{
    struct probe *p = state;
    (void)cx, (void)out;
    *p->delay = weft_now() - p->spawned;
    return WEFT_READY;
}
static const weft_future_type probe_type = {
    .name = "probe", .poll = probe_poll, .state_size = sizeof(struct probe)};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void run_priority_latency(const char *name)
{
    static int64_t delays[MAX_HIGH];
    weft_rt *rt = bench_rt(WEFT_RT_MULTI_THREAD);
    weft_join *probes[MAX_HIGH];
    int n = 0;
    (void)name;

    atomic_store(&lows_left, LOW_TASKS);
    for (int i = 0; i < LOW_TASKS; i++) {
        int err = weft_spawn_with(rt, &busy_type, NULL,
                                  &(weft_spawn_opts){.priority = WEFT_PRIO_LOW}, NULL);
        if (err < 0)
            bench_fail("spawn low", err);
    }
    /* This thread plays the outside world: a request every millisecond. */
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (atomic_load(&lows_left) > 0 && n < MAX_HIGH) {
        next.tv_nsec += 1000000;
        if (next.tv_nsec >= 1000000000) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        struct probe p = {.spawned = weft_now(), .delay = &delays[n]};
        int err = weft_spawn_with(rt, &probe_type, &p,
                                  &(weft_spawn_opts){.priority = WEFT_PRIO_HIGH}, &probes[n]);
        if (err < 0)
            bench_fail("spawn high", err);
        n++;
    }
    for (int i = 0; i < n; i++)
        weft_join_wait(probes[i], NULL, 0);
    weft_rt_free(rt);
    qsort(delays, (size_t)n, sizeof delays[0], cmp_i64);
    bench_out("priority_latency_p50_us", delays[n / 2] / 1e3, "us");
    bench_out("priority_latency_p99_us", delays[(n * 99) / 100] / 1e3, "us");
    bench_out("priority_latency_samples", n, "tasks");
}
const struct bench_workload bench_priority_latency = {"priority_latency", run_priority_latency};
