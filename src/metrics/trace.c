/* Chrome trace event JSON (Perfetto, chrome://tracing): one slice per task poll.
 *
 * Recording. While m->tracing is set the poll observer appends {task id, name index, start,
 * end} to its worker's ring (32 bytes an event). Only that worker writes its ring, so a record
 * is a few plain stores; when the ring is full the oldest events are overwritten and counted
 * as dropped (ev_head keeps counting). Task names are copied into the worker's name table the
 * first time their pointer is seen (weft__names), so the JSON never reads a name that has gone
 * away with its task.
 *
 * Stopping. The observer marks itself busy (seq_cst) and then re-reads `tracing`; stop clears
 * `tracing` (seq_cst) and waits until no worker is busy. One of the two sees the other (the
 * Dekker pattern), so after stop returns no worker writes a ring, and the rings can be read
 * without locks until the next start.
 */
#include <string.h>

#include "metrics/metrics.h"

#define DEFAULT_EVENTS 16384u
#define MAX_EVENTS (1u << 24)
#define NAMES_INITIAL 64u
#define NAMES_MAX 4096u

void weft__trace_record(struct weft__metrics *m, struct weft__mworker *mw, struct weft__task *t,
                        int64_t start, int64_t end)
{
    atomic_store(&mw->obs_busy, 1);
    if (atomic_load(&m->tracing) && mw->ev) {
        uint64_t head = ld_relaxed(&mw->ev_head);
        struct weft__trace_ev *e = &mw->ev[head & (ld_relaxed(&m->trace_cap) - 1)];
        e->id = t->id;
        e->start = start;
        e->end = end;
        e->name = weft__names_intern(&mw->names, weft__task_name(t));
        st_relaxed(&mw->ev_head, head + 1);
    }
    st_release(&mw->obs_busy, 0);
}

/* Clear `tracing` and wait for records in flight. Under m->lock. */
static void quiesce(struct weft__metrics *m)
{
    atomic_store(&m->tracing, 0);
    weft__metrics_update_observer(m);
    for (unsigned i = 0; i < m->n; i++)
        while (ld_acquire(&m->w[i].obs_busy))
            weft__cpu_relax();
}

void weft__trace_quiesce(struct weft__metrics *m)
{
    if (m->trace_state == 1) {
        quiesce(m);
        m->trace_t1 = weft__now();
        m->trace_state = 2;
    }
}

void weft__trace_free(struct weft__metrics *m)
{
    for (unsigned i = 0; i < m->n; i++) {
        weft__free(m->w[i].ev);
        m->w[i].ev = NULL;
        weft__names_fini(&m->w[i].names);
    }
}

int weft_trace_start(weft_rt *rt, size_t events_per_worker)
{
    struct weft__metrics *m = weft__metrics_of(rt);
    if (!m || events_per_worker > MAX_EVENTS)
        return -EINVAL;
#if !WEFT_METRICS
    return -ENOTSUP;
#endif
    size_t cap = DEFAULT_EVENTS;
    if (events_per_worker) {
        cap = 1;
        while (cap < events_per_worker)
            cap *= 2;
    }
    int err = 0;
    pthread_mutex_lock(&m->lock);
    if (m->trace_state == 1) {
        err = -EBUSY;
        goto out;
    }
    /* No worker touches the rings now (never started, or stopped and quiesced). */
    for (unsigned i = 0; i < m->n && !err; i++) {
        struct weft__mworker *mw = &m->w[i];
        if (!mw->ev || cap != ld_relaxed(&m->trace_cap)) {
            weft__free(mw->ev);
            mw->ev = weft__alloc(cap * sizeof *mw->ev);
            if (!mw->ev)
                err = -ENOMEM;
        }
        if (!err && !mw->names.s)
            err = weft__names_init(&mw->names, NAMES_INITIAL, NAMES_MAX);
        weft__names_reset(&mw->names);
        st_relaxed(&mw->ev_head, 0);
    }
    if (err) {
        weft__trace_free(m);
        m->trace_state = 0;
        goto out;
    }
    st_relaxed(&m->trace_cap, cap);
    m->trace_t0 = weft__now();
    m->trace_state = 1;
    atomic_store(&m->tracing, 1);
    weft__metrics_update_observer(m);
out:
    pthread_mutex_unlock(&m->lock);
    return err;
}

int weft_trace_stop(weft_rt *rt)
{
    struct weft__metrics *m = weft__metrics_of(rt);
    if (!m)
        return -EINVAL;
    pthread_mutex_lock(&m->lock);
    int err = m->trace_state == 1 ? 0 : -EALREADY;
    weft__trace_quiesce(m);
    pthread_mutex_unlock(&m->lock);
    return err;
}

uint64_t weft_trace_dropped(weft_rt *rt)
{
    struct weft__metrics *m = weft__metrics_of(rt);
    uint64_t dropped = 0;
    if (!m)
        return 0;
    size_t cap = ld_relaxed(&m->trace_cap);
    for (unsigned i = 0; i < m->n; i++) {
        uint64_t head = ld_relaxed(&m->w[i].ev_head);
        if (cap && head > cap)
            dropped += head - cap;
    }
    return dropped;
}

static void json_string(struct weft__mbuf *b, const char *s)
{
    weft__mbuf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            weft__mbuf_put(b, e, 2);
        } else if (*p < 0x20 || *p >= 0x7f) {
            weft__mbuf_printf(b, "\\u%04x", *p); /* bytes, not UTF-8: always valid JSON */
        } else {
            weft__mbuf_put(b, (const char *)p, 1);
        }
    }
    weft__mbuf_put(b, "\"", 1);
}

static void build_json(struct weft__metrics *m, struct weft__mbuf *b)
{
    size_t cap = ld_relaxed(&m->trace_cap);
    weft__mbuf_printf(b,
                      "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"dropped_events\":\"%llu\","
                      "\"workers\":\"%u\",\"window_us\":\"%.3f\"},\"traceEvents\":[\n",
                      (unsigned long long)weft_trace_dropped(m->rt), m->n,
                      (double)(m->trace_t1 - m->trace_t0) / 1e3);
    weft__mbuf_puts(b, "{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"process_name\","
                       "\"args\":{\"name\":\"weft\"}}");
    for (unsigned i = 0; i < m->n; i++) {
        weft__mbuf_printf(b,
                          ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"name\":\"thread_name\","
                          "\"args\":{\"name\":\"worker %u\"}}",
                          i, i);
        weft__mbuf_printf(b,
                          ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"name\":\"thread_sort_index\","
                          "\"args\":{\"sort_index\":%u}}",
                          i, i);
    }
    for (unsigned i = 0; i < m->n; i++) {
        struct weft__mworker *mw = &m->w[i];
        uint64_t head = ld_relaxed(&mw->ev_head);
        uint64_t first = head > cap ? head - cap : 0;
        for (uint64_t k = first; k < head; k++) {
            const struct weft__trace_ev *e = &mw->ev[k & (cap - 1)];
            const char *name = weft__names_get(&mw->names, e->name);
            weft__mbuf_printf(b, ",\n{\"ph\":\"X\",\"pid\":1,\"tid\":%u,\"cat\":\"poll\",\"name\":",
                              i);
            json_string(b, name[0] ? name : "task");
            weft__mbuf_printf(b, ",\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"task\":%llu}}",
                              (double)(e->start - m->trace_t0) / 1e3,
                              (double)(e->end - e->start) / 1e3, (unsigned long long)e->id);
        }
    }
    weft__mbuf_puts(b, "\n]}\n");
}

static int build(weft_rt *rt, struct weft__mbuf *b)
{
    struct weft__metrics *m = weft__metrics_of(rt);
    if (!m)
        return -EINVAL;
    int err = 0;
    pthread_mutex_lock(&m->lock);
    if (m->trace_state == 1)
        err = -EBUSY;
    else if (m->trace_state == 0)
        err = -ENODATA;
    else
        build_json(m, b);
    pthread_mutex_unlock(&m->lock);
    return err < 0 ? err : b->oom ? -ENOMEM : 0;
}

ssize_t weft_trace_format(weft_rt *rt, char *buf, size_t cap)
{
    struct weft__mbuf b = {0};
    if (!rt || (!buf && cap))
        return -EINVAL;
    int err = build(rt, &b);
    ssize_t n = err < 0 ? err : weft__mbuf_deliver(&b, buf, cap);
    weft__mbuf_fini(&b);
    return n;
}

int weft_trace_write(weft_rt *rt, int fd)
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
