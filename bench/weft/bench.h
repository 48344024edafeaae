/* weft-bench: the workloads of WORKLOADS.md on weft. Each workload file defines one
 * `const struct bench_workload` and registers it in main.c's table. */
#ifndef WEFT_BENCH_H
#define WEFT_BENCH_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "weft.h"

#define BENCH_WARMUP 1
#define BENCH_ITERS 5

struct bench_workload {
    const char *name;
    void (*run)(const char *name); /* prints its `metric value unit` lines */
};

/* Run `type` as the root task on rt WARMUP+ITERS times; each run writes its elapsed ns as
 * its int64_t output. Returns the median of the timed runs, in ns. */
double bench_median_ns(weft_rt *rt, const weft_future_type *type, const void *init);
weft_rt *bench_rt(weft_rt_flavor flavor);
void bench_out(const char *metric, double value, const char *unit);
long bench_status_kib(const char *key); /* VmRSS / VmHWM from /proc/self/status */
void bench_fail(const char *what, int err) __attribute__((noreturn));

extern const struct bench_workload bench_spawn_many, bench_spawn_many_ct, bench_chained_spawn,
    bench_chained_spawn_ct, bench_yield_many, bench_yield_many_ct;
extern const struct bench_workload bench_ping_pong, bench_ping_pong_ct, bench_mpsc_bounded,
    bench_mpsc_unbounded, bench_semaphore;
extern const struct bench_workload bench_sleep_1000x50ms, bench_timer_churn,
    bench_sleep_1Mx100ms, bench_pending_1M, bench_priority_latency, bench_spawn_many_scope;
extern const struct bench_workload bench_spawn_blocking;
extern const struct bench_workload bench_fiber_spawn_many, bench_fiber_yield_many,
    bench_fiber_ping_pong, bench_pending_100k_fibers;
extern const struct bench_workload bench_file_read_4k;
extern const struct bench_workload bench_tcp_echo;

/* --prometheus FILE / --trace FILE (main.c): bench_rt() starts a trace on each runtime it
 * makes, and weft_rt_free() - redirected here - writes both files for that runtime before it
 * frees it, so the files hold the run's last runtime. */
void bench_rt_free(weft_rt *rt);
#define weft_rt_free(rt) bench_rt_free(rt)

#endif
