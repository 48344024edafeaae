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
extern const struct bench_workload bench_sleep_1000x50ms, bench_timer_churn,
    bench_sleep_1Mx100ms, bench_pending_1M, bench_priority_latency;

#endif
