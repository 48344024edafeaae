/* src/metrics - observability: what the rest of libweft calls, and what the files of this part
 * share. Design: docs/design/metrics.md.
 *
 * State. One struct weft__metrics per runtime (rt->metrics), created by weft__metrics_init at
 * the end of weft_rt_new, quietened by weft__metrics_fini at the start of weft_rt_free (monitor
 * joined, observer off, signal handler undone) and freed by weft__metrics_free once the workers
 * are joined: a worker may be inside the poll observer until then.
 *
 * Who writes what:
 *   - per-worker runtime counters live in the scheduler (struct weft__stats): one writer;
 *   - the poll observer (metrics.c) runs on the polling worker and writes only that worker's
 *     struct weft__mworker (histograms, trace ring): one writer, relaxed stores;
 *   - the monitor thread (monitor.c) owns the mon_* fields and publishes stuck_* atomics;
 *   - `lock` serialises registrations (sources, user metrics), exports and trace start/stop.
 *
 * Other parts contribute series through sources: weft__metrics_register_source(rt, fn, arg)
 * adds fn to a list that every export calls; fn emits samples through a sink. The blocking
 * pool and the IO driver use it for weft_blocking_* and weft_io_* (exported as 0 until they
 * register).
 */
#ifndef WEFT_METRICS_INTERNAL_H
#define WEFT_METRICS_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>

#include "sched/sched.h"
#include "weft/metrics.h"

/* ------------------------------------------------------------------ output buffer */

/* A growable text buffer; `oom` sticks once an allocation failed. */
struct weft__mbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

void weft__mbuf_put(struct weft__mbuf *b, const char *s, size_t n);
void weft__mbuf_puts(struct weft__mbuf *b, const char *s);
void weft__mbuf_printf(struct weft__mbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void weft__mbuf_fini(struct weft__mbuf *b);
/* snprintf-style copy into (buf, cap); returns the length or -ENOMEM. Frees nothing. */
ssize_t weft__mbuf_deliver(const struct weft__mbuf *b, char *buf, size_t cap);
/* Write all of it to fd; 0 or -errno (-ENOMEM when the buffer is incomplete). */
int weft__mbuf_write_fd(const struct weft__mbuf *b, int fd);

/* ------------------------------------------------------------------ sources */

enum weft__metric_kind { WEFT__COUNTER = 0, WEFT__GAUGE = 1, WEFT__HISTOGRAM = 2 };

/* Where a source puts its samples during one export (prometheus.c). */
struct weft__metrics_sink;

/* Called during every export, on the exporting thread, under the metrics lock (so a source
 * must not call back into src/metrics except weft__metrics_emit). */
typedef void weft__metrics_source_fn(weft_rt *rt, void *arg, struct weft__metrics_sink *sink);

/* Add fn(arg) to rt's sources. Any thread. 0, -EINVAL (NULL rt/fn, no metrics state),
 * -EEXIST (this fn/arg pair is registered), -ENOMEM. Sources stay until unregistered or until
 * the runtime is freed; unregister before `arg` goes away. */
int weft__metrics_register_source(weft_rt *rt, weft__metrics_source_fn *fn, void *arg);
void weft__metrics_unregister_source(weft_rt *rt, weft__metrics_source_fn *fn, void *arg);

/* Emit one counter or gauge sample. `name` is the full series name (weft_io_operations_total),
 * `help` its one-line help (the first sample's wins), then NULL-terminated label name/value
 * pairs (at most 8):
 *   weft__metrics_emit(sink, WEFT__COUNTER, "weft_io_operations_total", "IO operations.", n,
 *                      "backend", "uring", "kind", "read", NULL);
 * Samples of one name are exported together, under one HELP/TYPE. */
void weft__metrics_emit(struct weft__metrics_sink *sink, enum weft__metric_kind kind,
                        const char *name, const char *help, double value, ...);

/* ------------------------------------------------------------------ names */

#define WEFT__NAME_MAX 64 /* bytes kept of a task name, NUL included */

/* A table of copied task names with a small pointer cache in front: the first time a name
 * pointer is seen its text is copied, later lookups are one compare. Single-threaded. */
struct weft__names {
    char (*s)[WEFT__NAME_MAX];
    uint32_t n, cap, max;
    struct {
        const char *p;
        uint32_t i;
    } cache[256];
};
/* Index of `name` (NULL or "" -> 0, the empty name); 0 as well when the table is full. */
uint32_t weft__names_intern(struct weft__names *nm, const char *name);
int weft__names_init(struct weft__names *nm, uint32_t initial, uint32_t max);
void weft__names_reset(struct weft__names *nm);
void weft__names_fini(struct weft__names *nm);
static inline const char *weft__names_get(const struct weft__names *nm, uint32_t i)
{
    return i < nm->n ? nm->s[i] : "";
}

/* ------------------------------------------------------------------ runtime histograms */

/* Log-2 buckets of 1 us * 2^i, i = 0..20 (1 us .. 1.05 s), then +Inf. */
#define WEFT__RH_FINITE 21
#define WEFT__RH_BUCKETS (WEFT__RH_FINITE + 1)

struct weft__rhist {
    _Atomic uint64_t b[WEFT__RH_BUCKETS]; /* one writer (the worker), relaxed */
    _Atomic uint64_t sum_ns;
};

static inline unsigned weft__rh_bucket(int64_t ns)
{
    if (ns <= 1000)
        return 0;
    uint64_t v = (uint64_t)(ns - 1) / 1000;
    unsigned i = 64u - (unsigned)__builtin_clzll(v);
    return i < WEFT__RH_FINITE ? i : WEFT__RH_FINITE;
}

/* ------------------------------------------------------------------ trace */

struct weft__trace_ev {
    uint64_t id;
    int64_t start, end;
    uint32_t name; /* index in the worker's names */
    uint32_t pad;
};

/* ------------------------------------------------------------------ state */

struct weft__mworker {
    /* Written by this worker's observer only. */
    struct weft__rhist poll, delay;
    alignas(WEFT_CACHELINE) _Atomic uint32_t obs_busy; /* inside a trace record (stop waits) */
    struct weft__trace_ev *ev; /* ring of trace_cap events; written while tracing */
    _Atomic uint64_t ev_head;  /* events recorded in this window (the ring keeps the last cap) */
    struct weft__names names;  /* trace names */
    /* Monitor thread only. */
    uint64_t mon_seq;
    struct weft__task *mon_task;
    int64_t mon_first;
    bool mon_reported;
    bool mon_checking;   /* a poll over the threshold: is its thread running, blocked or waiting? */
    int64_t mon_check_at, mon_cpu0;
    /* Published by the monitor. */
    _Atomic uint64_t stuck_total;
    _Atomic int stuck_now;
    _Atomic uint64_t stuck_id;      /* task of the current stuck poll */
    _Atomic int64_t stuck_since;    /* the monitor's first sight of that poll */
    char stuck_name[WEFT__NAME_MAX]; /* guarded by m->stuck_lock */
    /* Readers: the largest busy time handed out, so the counter never goes back. */
    _Atomic int64_t busy_seen;
};

struct weft__umetric; /* user.c */

struct weft__metrics {
    weft_rt *rt;
    unsigned n;                 /* workers (1 for current-thread) */
    struct weft__mworker *w;    /* n entries, cache-line aligned */
    void *w_raw;                /* allocation behind w */
    bool histograms;            /* cfg.metrics_histograms; read-only after init */
    int64_t last_log;           /* monitor: when it last printed a stuck line (rate limit) */
    bool closing;               /* fini has run: no observer any more; guarded by lock */
    pthread_mutex_t lock;       /* sources, users, exports, trace start/stop */
    struct {
        weft__metrics_source_fn *fn;
        void *arg;
    } *src;                     /* guarded by lock */
    size_t nsrc, src_cap;
    struct weft__umetric *users, *users_last; /* registration order; guarded by lock */
    uint32_t export_gen;        /* guarded by lock */
    /* Trace (trace.c). */
    _Atomic int tracing;        /* observers record while set */
    int trace_state;            /* 0 never, 1 recording, 2 stopped; guarded by lock */
    _Atomic size_t trace_cap;   /* events per worker ring (power of two); written under lock */
    int64_t trace_t0, trace_t1; /* window; guarded by lock */
    /* Monitor (monitor.c). */
    pthread_t mon;
    bool mon_started;
    _Atomic uint32_t mon_word;  /* futex word: bumped to wake the monitor */
    _Atomic int mon_stop;
    int64_t threshold;          /* ns; 0 = no stuck detection */
    _Atomic uint64_t stuck_total;
    pthread_mutex_t stuck_lock; /* stuck_name of every worker */
    /* Signal-triggered dumps (monitor.c). */
    _Atomic int sig_signo;      /* 0: none */
    _Atomic int sig_fd;
    _Atomic uint32_t sig_seen;
};

static inline struct weft__metrics *weft__metrics_of(weft_rt *rt)
{
    return rt ? (struct weft__metrics *)rt->metrics : NULL;
}
static inline struct weft__stats *weft__metrics_stats(weft_rt *rt, unsigned i)
{
    return rt->flavor == WEFT_RT_MULTI_THREAD ? &rt->workers[i].stats : &rt->ct.stats;
}
static inline struct weft__timers *weft__metrics_timers(weft_rt *rt, unsigned i)
{
    return rt->flavor == WEFT_RT_MULTI_THREAD ? &rt->workers[i].timers : &rt->ct.timers;
}

/* The poll observer installed in rt->observer (metrics.c). */
void weft__metrics_observe(weft_rt *rt, struct weft__task *t, unsigned worker,
                           int64_t scheduled_at, int64_t start, int64_t end);
/* Install or remove the observer after histograms/tracing changed. Under m->lock. */
void weft__metrics_update_observer(struct weft__metrics *m);

/* Read worker i / the totals (metrics.c). */
void weft__metrics_read_worker(struct weft__metrics *m, unsigned i, weft_worker_metrics *o);
void weft__metrics_read_totals(struct weft__metrics *m, weft_rt_metrics *o);

/* trace.c */
void weft__trace_record(struct weft__metrics *m, struct weft__mworker *mw, struct weft__task *t,
                        int64_t start, int64_t end);
void weft__trace_quiesce(struct weft__metrics *m); /* fini: stop recording */
void weft__trace_free(struct weft__metrics *m);

/* user.c */
void weft__user_free(struct weft__metrics *m);
/* Append every user series in the exposition format (under m->lock). */
void weft__user_export(struct weft__metrics *m, struct weft__mbuf *b);

/* prometheus.c helpers shared with user.c */
void weft__prom_header(struct weft__mbuf *b, const char *name, const char *help, const char *type);
void weft__prom_value(struct weft__mbuf *b, double v);
void weft__prom_label_value(struct weft__mbuf *b, const char *v);

/* monitor.c */
int weft__monitor_start(struct weft__metrics *m);
void weft__monitor_stop(struct weft__metrics *m);
void weft__monitor_signal_undo(struct weft__metrics *m);

/* dump.c: used by the signal path too. */
int weft__dump_to_buf(weft_rt *rt, struct weft__mbuf *b);

#endif
