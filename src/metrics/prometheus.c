/* Prometheus text exposition format 0.0.4: every runtime series, the sources' series (blocking
 * pool, IO) and the user series, written into one buffer and then handed to the caller's
 * buffer or fd.
 *
 * Format rules followed (prometheus.io/docs/instrumenting/exposition_formats): one "# HELP"
 * and one "# TYPE" line per family, all samples of a family together, label values escaped
 * (\\ \" \n), HELP escaped (\\ \n), floats as Go's ParseFloat reads them (+Inf, -Inf, NaN),
 * histograms as cumulative _bucket{le=...} lines ending in le="+Inf", then _sum and _count.
 * Counters end in _total; durations are in seconds.
 */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "weft/blocking.h"

/* ------------------------------------------------------------------ buffer */

static bool mbuf_reserve(struct weft__mbuf *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = weft__realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void weft__mbuf_put(struct weft__mbuf *b, const char *s, size_t n)
{
    if (!mbuf_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void weft__mbuf_puts(struct weft__mbuf *b, const char *s)
{
    weft__mbuf_put(b, s, strlen(s));
}

void weft__mbuf_printf(struct weft__mbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        weft__mbuf_put(b, small, (size_t)n);
        return;
    }
    if (!mbuf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void weft__mbuf_fini(struct weft__mbuf *b)
{
    weft__free(b->p);
    memset(b, 0, sizeof *b);
}

ssize_t weft__mbuf_deliver(const struct weft__mbuf *b, char *buf, size_t cap)
{
    if (b->oom)
        return -ENOMEM;
    if (cap) {
        size_t n = b->len < cap - 1 ? b->len : cap - 1;
        if (n)
            memcpy(buf, b->p, n);
        buf[n] = 0;
    }
    return (ssize_t)b->len;
}

int weft__mbuf_write_fd(const struct weft__mbuf *b, int fd)
{
    if (b->oom)
        return -ENOMEM;
    size_t off = 0;
    while (off < b->len) {
        ssize_t n = write(fd, b->p + off, b->len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        off += (size_t)n;
    }
    return 0;
}

/* ------------------------------------------------------------------ format pieces */

void weft__prom_header(struct weft__mbuf *b, const char *name, const char *help, const char *type)
{
    weft__mbuf_printf(b, "# HELP %s ", name);
    for (const char *s = help ? help : ""; *s; s++) {
        if (*s == '\\')
            weft__mbuf_put(b, "\\\\", 2);
        else if (*s == '\n')
            weft__mbuf_put(b, "\\n", 2);
        else
            weft__mbuf_put(b, s, 1);
    }
    weft__mbuf_printf(b, "\n# TYPE %s %s\n", name, type);
}

/* Shortest text that reads back as v. */
void weft__prom_value(struct weft__mbuf *b, double v)
{
    char s[40];
    if (isnan(v)) {
        weft__mbuf_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        weft__mbuf_puts(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (fabs(v) < 9007199254740992.0 && (double)(int64_t)v == v) {
        weft__mbuf_printf(b, "%.0f", v);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, v);
        if (strtod(s, NULL) == v)
            break;
    }
    weft__mbuf_puts(b, s);
}

void weft__prom_label_value(struct weft__mbuf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            weft__mbuf_put(b, "\\\\", 2);
        else if (*v == '"')
            weft__mbuf_put(b, "\\\"", 2);
        else if (*v == '\n')
            weft__mbuf_put(b, "\\n", 2);
        else
            weft__mbuf_put(b, v, 1);
    }
}

static const char *type_name(enum weft__metric_kind k)
{
    return k == WEFT__COUNTER ? "counter" : k == WEFT__GAUGE ? "gauge" : "histogram";
}

/* ------------------------------------------------------------------ sink */

struct sample {
    char *name, *help, *labels; /* owned; labels already formatted, "" for none */
    enum weft__metric_kind kind;
    double value;
    bool used;
};

struct weft__metrics_sink {
    struct sample *v;
    size_t n, cap;
    bool oom;
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = weft__alloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

void weft__metrics_emit(struct weft__metrics_sink *sink, enum weft__metric_kind kind,
                        const char *name, const char *help, double value, ...)
{
    if (!sink || sink->oom || !name || kind == WEFT__HISTOGRAM)
        return;
    struct weft__mbuf lb = {0};
    va_list ap;
    va_start(ap, value);
    for (int i = 0; i < 8; i++) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        weft__mbuf_printf(&lb, "%s%s=\"", i ? "," : "", k);
        weft__prom_label_value(&lb, v ? v : "");
        weft__mbuf_put(&lb, "\"", 1);
    }
    va_end(ap);
    if (sink->n == sink->cap) {
        size_t cap = sink->cap ? 2 * sink->cap : 32;
        void *p = weft__realloc(sink->v, cap * sizeof *sink->v);
        if (!p) {
            sink->oom = true;
            weft__mbuf_fini(&lb);
            return;
        }
        sink->v = p;
        sink->cap = cap;
    }
    struct sample *s = &sink->v[sink->n];
    s->name = dup_str(name);
    s->help = dup_str(help ? help : "");
    s->labels = dup_str(lb.p ? lb.p : "");
    s->kind = kind;
    s->value = value;
    s->used = false;
    weft__mbuf_fini(&lb);
    if (!s->name || !s->help || !s->labels || lb.oom) {
        weft__free(s->name);
        weft__free(s->help);
        weft__free(s->labels);
        sink->oom = true;
        return;
    }
    sink->n++;
}

static void sink_fini(struct weft__metrics_sink *sink)
{
    for (size_t i = 0; i < sink->n; i++) {
        weft__free(sink->v[i].name);
        weft__free(sink->v[i].help);
        weft__free(sink->v[i].labels);
    }
    weft__free(sink->v);
}

static void write_sample(struct weft__mbuf *b, const struct sample *s)
{
    weft__mbuf_puts(b, s->name);
    if (s->labels[0])
        weft__mbuf_printf(b, "{%s}", s->labels);
    weft__mbuf_put(b, " ", 1);
    weft__prom_value(b, s->value);
    weft__mbuf_put(b, "\n", 1);
}

/* Write the sink's samples named `name` (marking them used); returns how many. */
static size_t write_sink_family(struct weft__mbuf *b, struct weft__metrics_sink *sink,
                                const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < sink->n; i++) {
        if (!sink->v[i].used && strcmp(sink->v[i].name, name) == 0) {
            write_sample(b, &sink->v[i]);
            sink->v[i].used = true;
            n++;
        }
    }
    return n;
}

/* ------------------------------------------------------------------ runtime families */

enum wfield {
    F_POLLS, F_STEALS, F_STOLEN, F_OVERFLOWS, F_PARKS, F_UNPARKS, F_LIFO, F_YIELDS, F_BUSY,
    F_DEPTH, F_STUCK, F_TIMERS_ACTIVE, F_TIMERS_FIRED, F_IO_DONE, F_IO_ENTERS,
};

static const struct {
    const char *name, *help;
    enum weft__metric_kind kind;
    enum wfield f;
} worker_families[] = {
    {"weft_worker_polls_total", "Task polls by this worker.", WEFT__COUNTER, F_POLLS},
    {"weft_worker_steals_total", "Successful steal operations by this worker.", WEFT__COUNTER,
     F_STEALS},
    {"weft_worker_stolen_tasks_total", "Tasks this worker took from other workers' queues.",
     WEFT__COUNTER, F_STOLEN},
    {"weft_worker_overflows_total",
     "Times this worker's local queue overflowed into the inject queue.", WEFT__COUNTER,
     F_OVERFLOWS},
    {"weft_worker_parks_total", "Times this worker went to sleep.", WEFT__COUNTER, F_PARKS},
    {"weft_worker_unparks_total", "Times this worker woke up.", WEFT__COUNTER, F_UNPARKS},
    {"weft_worker_lifo_hits_total", "Tasks run from this worker's LIFO slot.", WEFT__COUNTER,
     F_LIFO},
    {"weft_worker_forced_yields_total", "Polls cut short by the cooperative budget.",
     WEFT__COUNTER, F_YIELDS},
    {"weft_worker_busy_seconds_total", "Time this worker spent awake.", WEFT__COUNTER, F_BUSY},
    {"weft_worker_local_queue_depth", "Tasks in this worker's local run queues.", WEFT__GAUGE,
     F_DEPTH},
    {"weft_worker_stuck_polls_total",
     "Polls on this worker that ran longer than the stuck threshold.", WEFT__COUNTER, F_STUCK},
    {"weft_worker_io_operations_total",
     "IO operations completed by this worker's reactor (as of its last park).", WEFT__COUNTER,
     F_IO_DONE},
    {"weft_worker_io_enters_total",
     "System calls this worker's reactor made to submit and wait (io_uring_enter, epoll_wait).",
     WEFT__COUNTER, F_IO_ENTERS},
};

static double wvalue(const weft_worker_metrics *w, enum wfield f)
{
    switch (f) {
    case F_POLLS: return (double)w->polls;
    case F_STEALS: return (double)w->steals;
    case F_STOLEN: return (double)w->stolen;
    case F_OVERFLOWS: return (double)w->overflows;
    case F_PARKS: return (double)w->parks;
    case F_UNPARKS: return (double)w->unparks;
    case F_LIFO: return (double)w->lifo_hits;
    case F_YIELDS: return (double)w->forced_yields;
    case F_BUSY: return (double)w->busy_ns / 1e9;
    case F_DEPTH: return (double)w->local_queue_depth;
    case F_STUCK: return (double)w->stuck_polls;
    case F_TIMERS_ACTIVE: return (double)w->timers_active;
    case F_TIMERS_FIRED: return (double)w->timers_fired;
    case F_IO_DONE: return (double)w->io_completed;
    case F_IO_ENTERS: return (double)w->io_enters;
    }
    return 0;
}

static void scalar(struct weft__mbuf *b, struct weft__metrics_sink *sink, const char *name,
                   const char *help, enum weft__metric_kind kind, double v, bool is_default)
{
    weft__prom_header(b, name, help, type_name(kind));
    /* A source's samples replace a default; they add to a value weft keeps itself. */
    if (write_sink_family(b, sink, name) && is_default)
        return;
    weft__mbuf_printf(b, "%s ", name);
    weft__prom_value(b, v);
    weft__mbuf_put(b, "\n", 1);
}

static void runtime_hist(struct weft__mbuf *b, struct weft__metrics *m, const char *name,
                         const char *help, bool delay)
{
    uint64_t counts[WEFT__RH_BUCKETS] = {0}, sum_ns = 0, total = 0;
    for (unsigned i = 0; i < m->n; i++) {
        struct weft__rhist *h = delay ? &m->w[i].delay : &m->w[i].poll;
        for (int k = 0; k < WEFT__RH_BUCKETS; k++)
            counts[k] += ld_relaxed(&h->b[k]);
        sum_ns += ld_relaxed(&h->sum_ns);
    }
    weft__prom_header(b, name, help, "histogram");
    for (int k = 0; k < WEFT__RH_BUCKETS; k++) {
        total += counts[k];
        weft__mbuf_printf(b, "%s_bucket{le=\"", name);
        if (k < WEFT__RH_FINITE)
            weft__prom_value(b, 1e-6 * (double)(1u << k));
        else
            weft__mbuf_puts(b, "+Inf");
        weft__mbuf_printf(b, "\"} %llu\n", (unsigned long long)total);
    }
    weft__mbuf_printf(b, "%s_sum ", name);
    weft__prom_value(b, (double)sum_ns / 1e9);
    weft__mbuf_printf(b, "\n%s_count %llu\n", name, (unsigned long long)total);
}

static void export_all(struct weft__metrics *m, struct weft__mbuf *b)
{
    weft_rt *rt = m->rt;
    struct weft__metrics_sink sink = {0};
    weft_rt_metrics tot;
    weft_worker_metrics *w = weft__calloc(m->n, sizeof *w);
    if (!w) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < m->nsrc; i++)
        m->src[i].fn(rt, m->src[i].arg, &sink);
    if (sink.oom)
        b->oom = true;
    weft__metrics_read_totals(m, &tot);
    for (unsigned i = 0; i < m->n; i++)
        weft__metrics_read_worker(m, i, &w[i]);

    scalar(b, &sink, "weft_workers", "Worker threads of the runtime.", WEFT__GAUGE, m->n, false);
    scalar(b, &sink, "weft_tasks_spawned_total", "Tasks spawned.", WEFT__COUNTER,
           (double)tot.tasks_spawned, false);
    scalar(b, &sink, "weft_tasks_completed_total", "Tasks that ended (ready, failed or cancelled).",
           WEFT__COUNTER, (double)tot.tasks_completed, false);
    scalar(b, &sink, "weft_tasks_alive", "Tasks spawned and not yet ended.", WEFT__GAUGE,
           (double)tot.tasks_alive, false);
    scalar(b, &sink, "weft_inject_queue_depth", "Tasks in the global (inject) queues.",
           WEFT__GAUGE, (double)tot.inject_queue_depth, false);
    scalar(b, &sink, "weft_inject_refused_total",
           "Spawns from outside the runtime refused at the inject-queue cap.", WEFT__COUNTER,
           (double)tot.inject_refused, false);
    scalar(b, &sink, "weft_timers_active", "Timers armed on the workers' wheels.", WEFT__GAUGE,
           (double)tot.timers_active, false);
    scalar(b, &sink, "weft_timers_fired_total", "Timers that fired.", WEFT__COUNTER,
           (double)tot.timers_fired, false);
    scalar(b, &sink, "weft_stuck_polls_total",
           "Polls that ran longer than the stuck threshold (the monitor reported them).",
           WEFT__COUNTER, (double)tot.stuck_polls, false);

    for (size_t f = 0; f < sizeof worker_families / sizeof worker_families[0]; f++) {
        weft__prom_header(b, worker_families[f].name, worker_families[f].help,
                          type_name(worker_families[f].kind));
        for (unsigned i = 0; i < m->n; i++) {
            weft__mbuf_printf(b, "%s{worker=\"%u\"} ", worker_families[f].name, i);
            weft__prom_value(b, wvalue(&w[i], worker_families[f].f));
            weft__mbuf_put(b, "\n", 1);
        }
        write_sink_family(b, &sink, worker_families[f].name);
    }

    /* The blocking pool's own counters (all lanes). */
    weft_blocking_stats bs = {0};
    (void)weft_blocking_stats_get(rt, WEFT_LANE_ALL, &bs);
    scalar(b, &sink, "weft_blocking_threads", "Threads of the blocking pool.", WEFT__GAUGE,
           (double)bs.threads, true);
    scalar(b, &sink, "weft_blocking_idle_threads", "Idle threads of the blocking pool.",
           WEFT__GAUGE, (double)bs.idle_threads, true);
    scalar(b, &sink, "weft_blocking_queue_depth", "Jobs waiting for a blocking-pool thread.",
           WEFT__GAUGE, (double)bs.queue_depth, true);
    scalar(b, &sink, "weft_blocking_jobs_total", "Blocking jobs that ran.", WEFT__COUNTER,
           (double)bs.jobs_run, true);
    scalar(b, &sink, "weft_blocking_refused_total",
           "Blocking submissions refused because a lane's queue was at its cap.", WEFT__COUNTER,
           (double)bs.jobs_refused, true);
    /* IO operations: each reactor's owner copies its counters at every park. */
    double io_done = 0;
    for (unsigned i = 0; i < m->n; i++)
        io_done += (double)w[i].io_completed;
    scalar(b, &sink, "weft_io_operations_total",
           "IO operations completed by the workers' reactors (as of their last park).",
           WEFT__COUNTER, io_done, true);

    if (m->histograms) {
        runtime_hist(b, m, "weft_poll_duration_seconds", "Duration of task polls.", false);
        runtime_hist(b, m, "weft_schedule_delay_seconds",
                     "Time from a task's wake-up (or spawn) to its poll.", true);
    }
    scalar(b, &sink, "weft_trace_dropped_events_total",
           "Trace events overwritten because a worker's ring was full.", WEFT__COUNTER,
           (double)weft_trace_dropped(rt), false);

    /* Families only sources know, each under its first sample's help and kind. */
    for (size_t i = 0; i < sink.n; i++) {
        if (sink.v[i].used)
            continue;
        weft__prom_header(b, sink.v[i].name, sink.v[i].help, type_name(sink.v[i].kind));
        write_sink_family(b, &sink, sink.v[i].name);
    }
    weft__user_export(m, b);
    sink_fini(&sink);
    weft__free(w);
}

static int build(weft_rt *rt, struct weft__mbuf *b)
{
    struct weft__metrics *m = weft__metrics_of(rt);
    if (!m)
        return -EINVAL;
    pthread_mutex_lock(&m->lock);
    export_all(m, b);
    pthread_mutex_unlock(&m->lock);
    return b->oom ? -ENOMEM : 0;
}

ssize_t weft_metrics_prometheus_format(weft_rt *rt, char *buf, size_t cap)
{
    struct weft__mbuf b = {0};
    if (!rt || (!buf && cap))
        return -EINVAL;
    int err = build(rt, &b);
    ssize_t n = err < 0 ? err : weft__mbuf_deliver(&b, buf, cap);
    weft__mbuf_fini(&b);
    return n;
}

int weft_metrics_prometheus_write(weft_rt *rt, int fd)
{
    struct weft__mbuf b = {0};
    if (!rt || fd < 0)
        return -EINVAL;
    int err = build(rt, &b);
    if (err == 0)
        err = weft__mbuf_write_fd(&b, fd);
    weft__mbuf_fini(&b);
    return err;
}
