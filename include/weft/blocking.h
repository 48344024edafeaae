/* weft/blocking.h - run blocking code (file IO, getaddrinfo, CPU-heavy work, a C library that
 * sleeps) on a pool of threads beside the workers, and await its result like a task's.
 *
 * The pool has lanes, each with its own queue and thread cap, so one kind of blocking work
 * cannot starve another: 1,000 stalled DNS lookups fill the DNS lane and leave file work
 * served. Threads are started on demand up to a lane's cap, named "<rt name>-blk", and leave
 * after blocking_keep_alive idle (weft_rt_config). Design and figures: docs/design/blocking.md.
 *
 *   static void *checksum(void *arg) { return (void *)(uintptr_t)crc32_file(arg); }
 *   ...
 *   WEFT_AWAIT(s, weft_join_poll(s->join, cx, &s->res, sizeof s->res, &s->err));
 *   // s->err: 0 (s->res is checksum's return value) or -ECANCELED
 *
 * The join handle is an ordinary weft_join (task.h): await it with weft_join_poll, wait for it
 * with weft_join_wait from a thread that is not a worker, abort it, or detach it. Its output
 * is the job's `void *` return value (out_size sizeof(void *)).
 */
#ifndef WEFT_BLOCKING_H
#define WEFT_BLOCKING_H

#include "base.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A lane of the blocking pool. Each lane has its own queue and its own thread cap. */
typedef enum weft_lane {
    WEFT_LANE_DEFAULT = 0, /* weft_spawn_blocking; cap: weft_rt_config.max_blocking_threads */
    WEFT_LANE_FS = 1,      /* file operations; cap min(64, max_blocking_threads) */
    WEFT_LANE_DNS = 2,     /* name resolution; cap min(64, max_blocking_threads) */
} weft_lane;

#define WEFT_LANE_COUNT 3
/* For weft_blocking_stats_get: the sum over every lane. */
#define WEFT_LANE_ALL (-1)

/* A blocking job: runs at most once, on a pool thread; its return value becomes the join's
 * output (weft never reads or frees it). */
typedef void *(*weft_blocking_fn)(void *arg);

/**
 * weft_spawn_blocking_on - run fn(arg) on a thread of `lane` of rt's blocking pool.
 * @fn:   the job; it may block as long as it likes. It runs at most once, on a pool thread
 *        that is not a worker, so inside it weft_join_wait, weft_rt_block_on and any blocking
 *        call are fine; weft_rt_current() returns NULL there.
 * @arg:  passed to fn as is; weft never reads it. The caller decides who owns what it points
 *        to. If the job may be cancelled (see below) keep a join handle: a result of
 *        -ECANCELED is how you learn fn never ran and arg is still yours.
 * @join: out: a join handle (output: fn's return value, a void *), or NULL to detach at
 *        once. Set to NULL on failure.
 * Ownership: the pool keeps the job until it has run or been cancelled.
 * Threads: any - a worker, a foreign thread, a blocking job (also of another runtime) - until
 * weft_rt_free(rt) returns. While weft_rt_free runs, calls from blocking jobs fail with
 * -ESHUTDOWN; a job still running when it returns (abandoned, see below) must not use rt.
 * Cancellation: weft_join_abort on a job that has not started cancels it: fn never runs and
 * the join reports -ECANCELED promptly, without waiting for a pool thread to come free (a
 * current-thread runtime settles it the next time its thread runs tasks, or at weft_rt_free).
 * A job that has started runs to the end and the join reports its result. At weft_rt_free,
 * queued jobs are cancelled the same way; running jobs get cfg.shutdown_timeout to finish,
 * after which they are abandoned: they run on, their results are dropped (not freed) and
 * their joins report -ECANCELED (see weft_blocking_detached_total).
 * Returns 0; -EINVAL (NULL rt or fn, bad lane); -ENOMEM; -ESHUTDOWN (the runtime is shutting
 * down: nothing was queued); -EAGAIN (the lane's queue is at its weft_blocking_lane_set_max_queued
 * cap, or no thread could be started for a lane that has none: nothing was queued).
 */
WEFT_API int weft_spawn_blocking_on(weft_rt *rt, weft_lane lane, weft_blocking_fn fn, void *arg,
                                    weft_join **join);

/**
 * weft_spawn_blocking - weft_spawn_blocking_on(rt, WEFT_LANE_DEFAULT, fn, arg, join): Tokio's
 * spawn_blocking. Ownership, threads, errors and Cancellation: as weft_spawn_blocking_on.
 */
WEFT_API int weft_spawn_blocking(weft_rt *rt, weft_blocking_fn fn, void *arg, weft_join **join);

/**
 * weft_blocking_lane_set_max_threads - set how many threads `lane` may run at once
 * (1..65535). Raising it lets queued jobs start at once; lowering it retires surplus threads
 * as they finish their current job (running jobs are never interrupted).
 * Ownership: nothing is kept. Threads: any, until weft_rt_free(rt) returns.
 * Cancellation: not an operation; takes effect at once.
 * Returns 0; -EINVAL (NULL rt, bad lane, n out of range); -ENOMEM (the pool could not be
 * created); -ESHUTDOWN (weft_rt_free has begun).
 */
WEFT_API int weft_blocking_lane_set_max_threads(weft_rt *rt, weft_lane lane, unsigned n);

/**
 * weft_blocking_lane_set_max_queued - cap the number of jobs waiting in `lane`'s queue; past
 * it weft_spawn_blocking_on fails with -EAGAIN and the lane's `refused` counter grows.
 * 0 (the default) means unbounded. The check is a racy snapshot: concurrent submitters may
 * overshoot the cap by their number. Jobs already queued stay queued when the cap is lowered.
 * Ownership: nothing is kept. Threads: any, until weft_rt_free(rt) returns.
 * Cancellation: not an operation; takes effect at once.
 * Returns 0; -EINVAL (NULL rt, bad lane); -ENOMEM (the pool could not be created);
 * -ESHUTDOWN (weft_rt_free has begun).
 */
WEFT_API int weft_blocking_lane_set_max_queued(weft_rt *rt, weft_lane lane, size_t n);

/* Counters of the blocking pool, for export by the metrics layer. Gauges are snapshots;
 * totals count since the runtime was created. */
typedef struct weft_blocking_stats {
    unsigned threads;         /* gauge: pool threads alive (the monitor thread not counted) */
    unsigned idle_threads;    /* gauge: threads parked waiting for work */
    unsigned max_threads;     /* the cap (summed over lanes for WEFT_LANE_ALL) */
    size_t queue_depth;       /* gauge: jobs queued, not yet started */
    uint64_t jobs_run;        /* total: jobs whose function returned */
    uint64_t jobs_cancelled;  /* total: jobs cancelled before they started (an aborted job
                                 is counted when the pool reaches its queue entry) */
    uint64_t jobs_refused;    /* total: submissions refused with -EAGAIN (queue cap) */
    uint64_t threads_spawned; /* total: threads started */
} weft_blocking_stats;

/**
 * weft_blocking_stats_get - read the counters of one lane, or of all (WEFT_LANE_ALL) into
 * *out (caller-owned). All zero when rt has not used its blocking pool yet, and once
 * weft_rt_free has begun. Takes the pool's lock briefly; never blocks on jobs.
 * Threads: any, until weft_rt_free(rt) returns. Cancellation: not an operation.
 * Returns 0; -EINVAL (NULL rt or out, bad lane).
 */
WEFT_API int weft_blocking_stats_get(weft_rt *rt, int lane, weft_blocking_stats *out);

/**
 * weft_blocking_detached_total - jobs abandoned at shutdown, process-wide, since start: jobs
 * still running when weft_rt_free's shutdown_timeout ran out. Their threads finish them
 * later and exit without touching the freed runtime. Process-wide because the runtime that
 * counted them is gone. Threads: any. Cancellation: not an operation. Cannot fail.
 */
WEFT_API uint64_t weft_blocking_detached_total(void);

#ifdef __cplusplus
}
#endif
#endif
