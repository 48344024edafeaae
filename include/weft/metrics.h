/* weft/metrics.h - observability: runtime metrics, user metrics, Prometheus export, Chrome
 * traces, stuck-worker reports and task dumps. Design and costs: docs/design/metrics.md; how to
 * read the figures: docs/guide.md, "Reading the metrics".
 *
 * Runtime metrics are always on (unless libweft was built with WEFT_METRICS=OFF): every worker
 * keeps its own counters, bumped without atomics read-modify-writes, and readers add them up
 * with relaxed loads, so a reading is a consistent-enough snapshot, never a stop-the-world.
 * Histograms of poll duration and schedule delay cost two clock reads per poll and are opt-in
 * (weft_rt_config.metrics_histograms).
 *
 * User metrics (counters, gauges, histograms) belong to a runtime: registered once with a
 * fixed label set, updated from any thread without locks (sharded atomics), exported with the
 * runtime's own series, freed by weft_rt_free.
 *
 * Every function here returns -EINVAL on a NULL runtime or handle and never crashes on one.
 * None of them may run concurrently with weft_rt_free of the same runtime.
 */
#ifndef WEFT_METRICS_H
#define WEFT_METRICS_H

#include "base.h"
#include "rt.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ runtime metrics */

/* Totals over the whole runtime. Counters only grow; "depth" and "alive" are gauges. */
typedef struct weft_rt_metrics {
    unsigned workers;            /* worker threads (1 for a current-thread runtime) */
    uint64_t tasks_spawned;      /* tasks created, from any thread */
    uint64_t tasks_completed;    /* tasks that ended (ready, failed or cancelled) */
    uint64_t tasks_alive;        /* spawned - completed */
    uint64_t inject_queue_depth; /* tasks in the global (inject) queues */
    uint64_t timers_active;      /* timers armed on the workers' wheels */
    uint64_t timers_fired;       /* timers that have fired */
    uint64_t polls;              /* the per-worker counters of weft_worker_metrics, summed */
    uint64_t steals, stolen, overflows, parks, unparks, lifo_hits, forced_yields;
    int64_t busy_ns;             /* time the workers spent awake, summed */
    uint64_t stuck_polls;        /* polls the monitor reported as stuck */
    uint64_t inject_refused;     /* spawns refused with -EAGAIN at weft_rt_config.max_inject */
} weft_rt_metrics;

/* One worker's counters (the current-thread runtime has one "worker", its driving thread). */
typedef struct weft_worker_metrics {
    uint64_t polls;              /* task polls */
    uint64_t steals;             /* successful steal operations */
    uint64_t stolen;             /* tasks taken by those steals */
    uint64_t overflows;          /* times its local ring overflowed into the inject queue */
    uint64_t parks, unparks;     /* times it went to sleep / woke up */
    uint64_t lifo_hits;          /* tasks run from the LIFO slot */
    uint64_t forced_yields;      /* polls cut short by the coop budget */
    uint64_t spawned, completed; /* tasks spawned from / ended on this worker */
    int64_t busy_ns;             /* time spent awake (up to now) */
    uint64_t local_queue_depth;  /* tasks in its local rings (0 for current-thread) */
    uint64_t timers_active;      /* timers armed on its wheel */
    uint64_t timers_fired;       /* timers its wheel fired */
    uint64_t stuck_polls;        /* polls of this worker reported as stuck */
    uint64_t stuck_task;         /* id of the task it is stuck in now (as the monitor
                                    reported it), or 0 */
    /* Its reactor, as of its last park (or the last event_interval ticks while busy): */
    uint64_t io_submitted;       /* IO operations handed to the reactor */
    uint64_t io_completed;       /* IO operations that completed (any result) */
    uint64_t io_enters;          /* io_uring_enter / epoll_wait system calls */
} weft_worker_metrics;

/**
 * weft_rt_metrics_get - read the runtime's totals.
 * @out:  filled with up to `size` bytes of a weft_rt_metrics (pass sizeof *out; a smaller size
 *        from an older header gets the fields it knows, a larger one is zero-filled past ours).
 * Threads: any, concurrently with the workers. Returns 0; -EINVAL (NULL rt or out, size 0).
 */
WEFT_API int weft_rt_metrics_get(weft_rt *rt, weft_rt_metrics *out, size_t size);

/**
 * weft_rt_worker_metrics_get - read one worker's counters, as weft_rt_metrics_get.
 * Threads: any. Returns 0; -EINVAL (NULL rt or out, size 0, worker >= weft_rt_workers(rt)).
 */
WEFT_API int weft_rt_worker_metrics_get(weft_rt *rt, unsigned worker, weft_worker_metrics *out,
                                        size_t size);

/* ------------------------------------------------------------------ user metrics */

typedef struct weft_counter weft_counter;
typedef struct weft_gauge weft_gauge;
typedef struct weft_histogram weft_histogram;

/* What to register. Strings are copied. */
typedef struct weft_metric_opts {
    const char *name;  /* required: [a-zA-Z_:][a-zA-Z0-9_:]*, at most 127 bytes; the prefix
                          "weft_" is the runtime's. By Prometheus convention counters end in
                          _total and carry their unit (app_request_seconds). */
    const char *help;  /* optional, one line */
    const char *const *labels; /* optional: NULL-terminated list "name", "value", "name",
                          "value", ... - at most 8 pairs, names [a-zA-Z_][a-zA-Z0-9_]* not
                          starting with "__". Every series of one name must use the same label
                          names in the same order; the values tell the series apart. */
    const double *buckets; /* histograms: ascending finite upper bounds (the +Inf bucket is
                          implicit); NULL = 0.005 .. 10 (Prometheus' defaults). */
    size_t nbuckets;   /* entries in buckets, 1..64 */
} weft_metric_opts;

/**
 * weft_counter_new - register a counter series (a value that only grows) on rt.
 * @out:  set to the counter, or NULL on failure. The runtime owns it: it stays valid until
 *        weft_rt_free(rt), and there is no other way to free it.
 * Threads: any. Registration takes a lock; updates never do.
 * Returns 0; -EINVAL (NULL out/rt/opts/name, a bad name or label, more than 8 label pairs,
 * the name is registered as another kind or with other label names or buckets); -EEXIST (this
 * name and label values are registered already); -ENOMEM.
 */
WEFT_API int weft_counter_new(weft_counter **out, weft_rt *rt, const weft_metric_opts *opts);
/* Add n. Threads: any; lock-free (one relaxed atomic add on a per-thread shard). NULL: no-op. */
WEFT_API void weft_counter_add(weft_counter *c, uint64_t n);
/* Add 1. Same as weft_counter_add(c, 1). */
WEFT_API void weft_counter_inc(weft_counter *c);
/* The current total (sum of the shards). Threads: any. NULL: 0. */
WEFT_API uint64_t weft_counter_value(const weft_counter *c);

/**
 * weft_gauge_new - register a gauge series (a value that goes up and down) on rt.
 * Ownership, threads and errors as weft_counter_new.
 */
WEFT_API int weft_gauge_new(weft_gauge **out, weft_rt *rt, const weft_metric_opts *opts);
/* Set the value. Threads: any; one atomic store. NULL: no-op. */
WEFT_API void weft_gauge_set(weft_gauge *g, double v);
/* Add d (negative to subtract). Threads: any; lock-free (a CAS loop on one word, so gauges
 * that many threads change at a high rate are better kept as two counters). NULL: no-op. */
WEFT_API void weft_gauge_add(weft_gauge *g, double d);
/* The current value. Threads: any. NULL: 0. */
WEFT_API double weft_gauge_value(const weft_gauge *g);

/**
 * weft_histogram_new - register a histogram series (counts of observations per bucket, their
 * sum and count) on rt. opts->buckets/nbuckets give the bucket bounds.
 * Ownership, threads and errors as weft_counter_new; also -EINVAL for buckets that are not
 * ascending and finite, or nbuckets outside 1..64 when buckets is given.
 */
WEFT_API int weft_histogram_new(weft_histogram **out, weft_rt *rt, const weft_metric_opts *opts);
/* Record one observation (seconds, bytes, ...: the unit in the name). NaN is ignored.
 * Threads: any; lock-free (per-thread shard: one atomic add and a CAS on the shard's sum).
 * NULL: no-op. */
WEFT_API void weft_histogram_observe(weft_histogram *h, double v);
/**
 * weft_histogram_read - read the observations so far.
 * @count: out (may be NULL): number of observations.
 * @sum:   out (may be NULL): their sum.
 * Threads: any. Returns 0; -EINVAL on NULL h.
 */
WEFT_API int weft_histogram_read(const weft_histogram *h, uint64_t *count, double *sum);

/* ------------------------------------------------------------------ Prometheus export */

/**
 * weft_metrics_prometheus_format - write every metric of rt (runtime series, the blocking
 * pool's and IO's when present, user series) in the Prometheus text exposition format 0.0.4
 * (Content-Type: text/plain; version=0.0.4) into buf.
 * @buf, @cap: like snprintf: at most cap bytes including a terminating NUL; buf may be NULL
 *        when cap is 0 (to learn the size).
 * Threads: any; exports are serialised by a lock (the workers are never stopped).
 * Returns the full length of the text (excluding the NUL); when it is >= cap the text was cut.
 * -EINVAL (NULL rt, NULL buf with cap > 0); -ENOMEM.
 */
WEFT_API ssize_t weft_metrics_prometheus_format(weft_rt *rt, char *buf, size_t cap);

/**
 * weft_metrics_prometheus_write - the same text, written to fd (all of it: partial writes and
 * EINTR are retried). The fd stays the caller's. Threads: any.
 * Returns 0; -EINVAL (NULL rt, fd < 0); -ENOMEM; or write's -errno (-EPIPE, -EBADF, ...).
 */
WEFT_API int weft_metrics_prometheus_write(weft_rt *rt, int fd);

/* ------------------------------------------------------------------ Chrome trace */

/**
 * weft_trace_start - start recording one slice per task poll (worker, task id and name,
 * start, duration) for a Chrome trace (Perfetto, chrome://tracing).
 * @events_per_worker: size of each worker's ring, 0 = 16384 (32 bytes per event); at most
 *        1 << 24. When a ring is full the oldest events are overwritten and counted as dropped.
 * Starting again discards the previous window. Costs two clock reads and a few stores per poll
 * while on. Task names are copied (up to 63 bytes) the first time each is seen.
 * Threads: any. Returns 0; -EINVAL (NULL rt, size too big); -EBUSY (already recording);
 * -ENOMEM; -ENOTSUP (libweft built with WEFT_METRICS=OFF).
 */
WEFT_API int weft_trace_start(weft_rt *rt, size_t events_per_worker);

/**
 * weft_trace_stop - stop recording; the window is kept for weft_trace_format/write until the
 * next start or weft_rt_free. Waits for polls being recorded right now (microseconds).
 * Threads: any. Returns 0; -EINVAL (NULL rt); -EALREADY (not recording).
 */
WEFT_API int weft_trace_stop(weft_rt *rt);

/**
 * weft_trace_format - the stopped window as Chrome trace event JSON: one row (tid) per worker
 * named "worker N", one complete ("X") event per poll named after the task, with args
 * {"task": id}; ts/dur in microseconds from the window's start; "otherData" gives
 * "dropped_events". buf/cap/return as weft_metrics_prometheus_format.
 * Threads: any. -EINVAL (NULL rt, NULL buf with cap > 0); -EBUSY (still recording); -ENODATA
 * (no window recorded); -ENOMEM.
 */
WEFT_API ssize_t weft_trace_format(weft_rt *rt, char *buf, size_t cap);

/* The same JSON written to fd. Returns 0 or the errors of weft_trace_format and
 * weft_metrics_prometheus_write. Threads: any. */
WEFT_API int weft_trace_write(weft_rt *rt, int fd);

/* Events overwritten because a ring was full, in the current or last window.
 * Threads: any. NULL: 0. */
WEFT_API uint64_t weft_trace_dropped(weft_rt *rt);

/* ------------------------------------------------------------------ stuck workers */

/* What the monitor passes to weft_rt_config.on_stuck. Valid during the call only. */
typedef struct weft_stuck_info {
    weft_rt *rt;
    unsigned worker;        /* the worker inside one poll for too long */
    uint64_t task_id;       /* the task it is polling (0 if it ended as we looked) */
    const char *task_name;  /* its name, "" when it has none */
    int64_t stuck_for;      /* ns the poll has lasted so far (>= the threshold) */
} weft_stuck_info;

/* ------------------------------------------------------------------ task dumps */

typedef enum weft_task_state {
    WEFT_TASK_IDLE = 0,       /* waiting for a wake-up */
    WEFT_TASK_SCHEDULED = 1,  /* queued to run */
    WEFT_TASK_RUNNING = 2,    /* being polled now */
    WEFT_TASK_CANCELLING = 3, /* aborted; dropped at its next turn */
} weft_task_state;

/* One live task, as weft_rt_dump_tasks sees it. */
typedef struct weft_task_info {
    uint64_t id;
    const char *name;         /* "" when it has none; valid during the callback only */
    weft_task_state state;
    weft_priority priority;
    int worker;               /* RUNNING: the worker polling it; otherwise the worker whose
                                 memory holds it (where it was spawned), -1: spawned from
                                 outside the workers */
    int64_t polls;            /* polls so far; -1 unknown (needs metrics_histograms) */
    int64_t since_last_poll;  /* ns since its last poll ended; -1 unknown or never polled */
} weft_task_info;

typedef void weft_task_visit_fn(const weft_task_info *info, void *arg);

/**
 * weft_rt_dump_tasks - call fn once per live task of rt (not yet completed), on the calling
 * thread. Each worker lists the tasks in its own memory at its next scheduler tick (it is
 * woken if parked), so the walk never races a worker's allocator; a worker that does not
 * answer within 1 s (stuck in one poll) is skipped, except for the task it is polling, which
 * is listed from the monitor's view. A snapshot: tasks may end or start meanwhile.
 * Threads: any thread that is not one of rt's workers or its block_on driver.
 * Returns the number of tasks listed; -EINVAL (NULL rt or fn); -EDEADLK (called from a worker
 * of rt); -ENOMEM.
 */
WEFT_API int weft_rt_dump_tasks(weft_rt *rt, weft_task_visit_fn *fn, void *arg);

/**
 * weft_rt_dump_tasks_fd - the same dump as text, one task per line, to fd:
 *   task 42 "handler" running on worker 1, prio normal, polls 7, last poll 3.2 ms ago
 * preceded by one header line and a line per stuck worker. Threads and errors as
 * weft_rt_dump_tasks plus write's -errno. Returns the number of tasks listed.
 */
WEFT_API int weft_rt_dump_tasks_fd(weft_rt *rt, int fd);

/**
 * weft_rt_dump_on_signal - SIGQUIT-style dumps: install a handler for signo that makes rt's
 * monitor thread write weft_rt_dump_tasks_fd(rt, fd) (within 100 ms). The handler only sets
 * a flag (async-signal-safe); the dump runs on the monitor thread. fd stays the caller's and
 * must stay open until this is undone. signo 0 undoes it (the previous handler comes back when
 * no runtime uses the signal any more); weft_rt_free undoes it too. Several runtimes may share
 * one signal. Applications that handle signals themselves (sigwait on a thread) call
 * weft_rt_dump_tasks_fd from that thread instead.
 * Threads: any. Returns 0; -EINVAL (NULL rt, fd < 0, signo not a catchable signal: SIGKILL,
 * SIGSTOP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT); -ENOTSUP (no monitor thread: libweft
 * built with WEFT_METRICS=OFF); or sigaction's -errno.
 */
WEFT_API int weft_rt_dump_on_signal(weft_rt *rt, int signo, int fd);

#ifdef __cplusplus
}
#endif
#endif
