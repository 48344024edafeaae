/* weft/rt.h - runtimes: creation, configuration, running futures, shutdown.
 *
 * Two flavours share one task system:
 *   WEFT_RT_MULTI_THREAD   worker threads with work stealing (the default)
 *   WEFT_RT_CURRENT_THREAD tasks run on the thread that calls weft_rt_block_on()
 */
#ifndef WEFT_RT_H
#define WEFT_RT_H

#include "base.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

struct weft_stuck_info; /* metrics.h */

typedef enum weft_rt_flavor {
    WEFT_RT_MULTI_THREAD = 0,
    WEFT_RT_CURRENT_THREAD = 1,
} weft_rt_flavor;

/* Runtime configuration. Zero means "default" for every field; new fields go at the end.
 * Use designated initialisers: (weft_rt_config){.workers = 4, .thread_name = "srv"}. */
typedef struct weft_rt_config {
    weft_rt_flavor flavor;
    unsigned workers;            /* MT worker threads; 0 = one per CPU; at most 1024 */
    const char *thread_name;     /* worker name prefix (copied; ≤ 12 chars + "-N"); default "weft" */
    size_t thread_stack_size;    /* bytes; 0 = 2 MiB; 64 KiB .. 1 GiB */
    void (*on_thread_start)(void *arg); /* runs on each worker before it polls anything */
    void (*on_thread_stop)(void *arg);  /* runs on each worker after its last poll */
    void *hook_arg;
    unsigned event_interval;     /* ticks between driver (IO/timer) checks; 0 = 61 */
    unsigned global_queue_interval; /* ticks between inject-queue checks; 0 = 61 (CT: 31) */
    unsigned max_blocking_threads; /* blocking pool cap; 0 = 512 */
    int64_t blocking_keep_alive; /* ns an idle blocking thread waits for work; 0 = 10 s */
    int64_t shutdown_timeout;    /* ns weft_rt_free waits for running blocking jobs; 0 = 10 s */
    int io_backend;              /* 0 = probe (or WEFT_IO_BACKEND); see io.h */
    /* Observability (metrics.h). */
    int metrics_histograms;      /* non-zero: keep poll-duration and schedule-delay histograms
                                    (two clock reads per poll) and per-task poll counts */
    int64_t stuck_threshold;     /* ns one poll may last before the monitor reports its worker
                                    stuck; 0 = 10 ms; < 0 = no stuck detection; else 1 ms..1 h */
    void (*on_stuck)(const struct weft_stuck_info *info, void *arg); /* optional; runs on the
                                    monitor thread, once per stuck poll */
    void *on_stuck_arg;
    size_t max_inject;           /* cap on tasks waiting in the inject (global) queues: a spawn
                                    from a thread that is not one of this runtime's (a foreign
                                    thread, a blocking job) fails with -EAGAIN while that many
                                    wait, and weft_rt_metrics.inject_refused counts it; wakes
                                    and overflow are never refused. 0 = no cap */
} weft_rt_config;

/**
 * weft_rt_new - create a runtime. cfg may be NULL (all defaults). MT workers start at once.
 * Threads: any. Returns 0 and sets *out; -EINVAL (NULL out, bad values); -ENOMEM; -EAGAIN
 * (thread creation failed). *out is NULL on failure and nothing is left behind.
 */
WEFT_API int weft_rt_new(weft_rt **out, const weft_rt_config *cfg);

/**
 * weft_rt_free - shut down and free. Stops accepting spawns, stops the workers, drops every
 * unfinished future exactly once (their joins report -ECANCELED; threads blocked in
 * weft_join_wait are released first), joins the threads and frees all memory, including task
 * cells still held by join handles: use no join handle of this runtime afterwards.
 * NULL is a no-op. Threads: any thread that is not one of this runtime's workers.
 */
WEFT_API void weft_rt_free(weft_rt *rt);

/**
 * weft_rt_block_on - run a future as a task and wait for it on the calling thread.
 * Current-thread runtime: the calling thread runs every task until this one ends.
 * Multi-thread runtime: the task runs on the workers; the calling thread sleeps.
 * Writes type->out_size bytes to out (may be NULL) and returns the task's result: 0, its
 * error, or -ECANCELED. Also -EINVAL (bad arguments), -ENOMEM, -ESHUTDOWN, -EDEADLK (called
 * from a worker or from inside another block_on of the same runtime).
 * Threads: any thread that is not a worker of rt.
 */
WEFT_API int weft_rt_block_on(weft_rt *rt, const weft_future_type *type, const void *init,
                              void *out);

/* The runtime's flavour and worker count (1 for current-thread). Threads: any. */
WEFT_API weft_rt_flavor weft_rt_flavor_of(const weft_rt *rt);
WEFT_API unsigned weft_rt_workers(const weft_rt *rt);

/* The runtime the calling thread works for (a worker, or a block_on caller), else NULL. */
WEFT_API weft_rt *weft_rt_current(void);

/* Index of the calling worker thread in [0, workers), or -1 if not a worker. */
WEFT_API int weft_rt_worker_index(void);

/* ------------------------------------------------------------------ embedding */

/* A current-thread runtime can live inside another event loop (libuv, a poll() loop, a GUI
 * toolkit): watch weft_rt_fd() for readability and call weft_rt_run_once() when it is
 * readable or when the deadline it returned has passed.
 *
 *   for (;;) {
 *       int64_t deadline;
 *       weft_rt_run_once(rt, &deadline);          // runs what is ready, never blocks
 *       poll(&(struct pollfd){weft_rt_fd(rt), POLLIN}, 1, ms_until(deadline));
 *   }
 */

/* The runtime's pollable descriptor: readable when it has work (tasks woken from other
 * threads, IO completions). Owned by the runtime: do not close it. Current-thread runtimes
 * only. Returns the fd, or -EINVAL (NULL or a multi-thread runtime). Threads: any. */
WEFT_API int weft_rt_fd(weft_rt *rt);

/* Run every task that is ready, fire due timers and reap IO, without blocking; then prepare
 * the runtime for the host's wait. *next_deadline (may be NULL) receives the absolute time
 * (weft_now() clock) by which run_once must be called again even if the fd stays quiet:
 * WEFT_NEVER when nothing is scheduled, or a time <= now when work is still ready (run_once
 * polls at most `max_polls`-worth of tasks per call so the host loop keeps breathing).
 * Returns the number of polls made, -EINVAL (NULL, multi-thread runtime), or -EBUSY (another
 * thread is inside weft_rt_block_on/run_once). Threads: one at a time, not a worker. */
WEFT_API int weft_rt_run_once(weft_rt *rt, int64_t *next_deadline);

/* ------------------------------------------------------------------ builder */

/* A validating builder over weft_rt_config for code that prefers Tokio's shape:
 * each setter rejects bad values with -EINVAL at once (0 workers, stack size out of range). */
typedef struct weft_rt_builder weft_rt_builder;

WEFT_API int weft_rt_builder_new(weft_rt_builder **out, weft_rt_flavor flavor);
WEFT_API int weft_rt_builder_workers(weft_rt_builder *b, unsigned n);         /* 1..1024 */
WEFT_API int weft_rt_builder_thread_name(weft_rt_builder *b, const char *name); /* 1..12 chars */
WEFT_API int weft_rt_builder_thread_stack_size(weft_rt_builder *b, size_t bytes);
WEFT_API int weft_rt_builder_on_thread_start(weft_rt_builder *b, void (*fn)(void *), void *arg);
WEFT_API int weft_rt_builder_on_thread_stop(weft_rt_builder *b, void (*fn)(void *), void *arg);
WEFT_API int weft_rt_builder_event_interval(weft_rt_builder *b, unsigned ticks); /* 1..1000000 */
WEFT_API int weft_rt_builder_global_queue_interval(weft_rt_builder *b, unsigned ticks);
/* weft_rt_config.max_inject: 1..2^40 tasks (-EINVAL otherwise; the default is no cap). */
WEFT_API int weft_rt_builder_max_inject(weft_rt_builder *b, size_t tasks);
/* Build; the builder stays valid (build again or free it). */
WEFT_API int weft_rt_builder_build(const weft_rt_builder *b, weft_rt **out);
WEFT_API void weft_rt_builder_free(weft_rt_builder *b);

#ifdef __cplusplus
}
#endif
#endif
