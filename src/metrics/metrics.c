/* Observability: the metrics state's life cycle, the poll observer, reading the runtime
 * counters, sources and the name table. See metrics.h and docs/design/metrics.md.
 *
 * Reading. Every counter has one writer (its worker) and is read with relaxed loads, so a
 * reading never stops or slows a worker; the totals are sums of values read one after the
 * other, not one atomic snapshot. Busy time adds the current awake spell to the published
 * busy_ns; since those two are published separately a reader could see the sum step back, so
 * each worker's figure is clamped to the largest value handed out before (busy_seen).
 */
#include <string.h>

#include "metrics/metrics.h"
#include "sys/futex.h"

/* 10 ms, as Go's sysmon. Sanitizer builds run every poll several times slower on a loaded CI
 * machine: there the default is 250 ms, so the monitor reports real hangs, not slow polls. */
#if defined(WEFT_SANITIZE_ADDRESS) || defined(WEFT_SANITIZE_THREAD)
#define DEFAULT_THRESHOLD WEFT_MS(250)
#else
#define DEFAULT_THRESHOLD WEFT_MS(10)
#endif

/* ------------------------------------------------------------------ names */

int weft__names_init(struct weft__names *nm, uint32_t initial, uint32_t max)
{
    memset(nm, 0, sizeof *nm);
    nm->s = weft__alloc((size_t)initial * sizeof *nm->s);
    if (!nm->s)
        return -ENOMEM;
    nm->cap = initial;
    nm->max = max;
    nm->s[0][0] = 0;
    nm->n = 1;
    return 0;
}

void weft__names_reset(struct weft__names *nm)
{
    memset(nm->cache, 0, sizeof nm->cache);
    nm->n = nm->s ? 1 : 0;
}

void weft__names_fini(struct weft__names *nm)
{
    weft__free(nm->s);
    memset(nm, 0, sizeof *nm);
}

uint32_t weft__names_intern(struct weft__names *nm, const char *name)
{
    if (!name || !name[0] || !nm->s)
        return 0;
    unsigned h = (unsigned)(((uintptr_t)name >> 3) * 0x9e3779b1u) >> 24;
    if (nm->cache[h].p == name)
        return nm->cache[h].i;
    /* A miss: usually a name we have under another pointer or in an evicted slot. */
    uint32_t i;
    for (i = 1; i < nm->n; i++)
        if (strncmp(nm->s[i], name, WEFT__NAME_MAX - 1) == 0) /* names are cut at 63 bytes */
            break;
    if (i == nm->n) {
        if (nm->n == nm->cap) {
            uint32_t cap = nm->cap * 2 > nm->max ? nm->max : nm->cap * 2;
            if (cap <= nm->cap)
                return 0;
            void *s = weft__realloc(nm->s, (size_t)cap * sizeof *nm->s);
            if (!s)
                return 0;
            nm->s = s;
            nm->cap = cap;
        }
        strncpy(nm->s[i], name, WEFT__NAME_MAX - 1);
        nm->s[i][WEFT__NAME_MAX - 1] = 0;
        nm->n++;
    }
    nm->cache[h].p = name;
    nm->cache[h].i = i;
    return i;
}

/* ------------------------------------------------------------------ observer */

static inline void rh_add(struct weft__rhist *h, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    _Atomic uint64_t *b = &h->b[weft__rh_bucket(ns)];
    st_relaxed(b, ld_relaxed(b) + 1);
    st_relaxed(&h->sum_ns, ld_relaxed(&h->sum_ns) + (uint64_t)ns);
}

void weft__metrics_observe(weft_rt *rt, struct weft__task *t, unsigned worker,
                           int64_t scheduled_at, int64_t start, int64_t end)
{
    struct weft__tl *tl = &weft__tl;
    struct weft__metrics *m = rt->metrics;

    /* Only the thread that owns worker slot `worker` may write it. */
    if (WEFT_UNLIKELY(!m || tl->rt != rt || !tl->stats || worker >= m->n))
        return;
    struct weft__mworker *mw = &m->w[worker];
    if (m->histograms) {
        rh_add(&mw->poll, end - start);
        if (scheduled_at > 0)
            rh_add(&mw->delay, start - scheduled_at);
    }
    if (t->flags & TASK_F_TIMED) { /* polls and last poll end, for task dumps */
        int64_t *tw = weft__task_sched_at(t);
        __atomic_store_n(&tw[1], __atomic_load_n(&tw[1], __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
        __atomic_store_n(&tw[2], end, __ATOMIC_RELAXED);
    }
    if (ld_relaxed(&m->tracing))
        weft__trace_record(m, mw, t, start, end);
}

void weft__metrics_update_observer(struct weft__metrics *m)
{
    bool on = !m->closing && (m->histograms || ld_relaxed(&m->tracing));
    st_release(&m->rt->observer, on ? weft__metrics_observe : NULL);
}

/* ------------------------------------------------------------------ life cycle */

int weft__metrics_init(weft_rt *rt)
{
    int64_t thr = rt->cfg.stuck_threshold;
    if (thr > 0 && (thr < WEFT_MS(1) || thr > WEFT_SEC(3600)))
        return -EINVAL;

    struct weft__metrics *m = weft__calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->rt = rt;
    m->n = rt->flavor == WEFT_RT_MULTI_THREAD ? rt->nworkers : 1;
    m->w_raw = weft__calloc(1, (size_t)m->n * sizeof *m->w + WEFT_CACHELINE);
    if (!m->w_raw) {
        weft__free(m);
        return -ENOMEM;
    }
    m->w = (struct weft__mworker *)(((uintptr_t)m->w_raw + WEFT_CACHELINE - 1) &
                                    ~(uintptr_t)(WEFT_CACHELINE - 1));
    pthread_mutex_init(&m->lock, NULL);
    pthread_mutex_init(&m->stuck_lock, NULL);
    m->histograms = rt->cfg.metrics_histograms != 0;
    m->threshold = thr < 0 ? 0 : thr == 0 ? DEFAULT_THRESHOLD : thr;
    rt->metrics = m;
    if (m->histograms) {
        st_relaxed(&rt->timed_tasks, 1);
        weft__metrics_update_observer(m);
    }
#if WEFT_METRICS
    int err = weft__monitor_start(m);
    if (err < 0)
        return err; /* weft_rt_new frees the runtime, and m with it */
#endif
    return 0;
}

void weft__metrics_fini(weft_rt *rt)
{
    struct weft__metrics *m = weft__metrics_of(rt);
    if (!m)
        return;
    weft__monitor_signal_undo(m);
    weft__monitor_stop(m);
    pthread_mutex_lock(&m->lock);
    weft__trace_quiesce(m);
    m->closing = true;
    weft__metrics_update_observer(m); /* workers inside it finish before weft__metrics_free */
    pthread_mutex_unlock(&m->lock);
}

void weft__metrics_free(weft_rt *rt)
{
    struct weft__metrics *m = weft__metrics_of(rt);
    if (!m)
        return;
    weft__trace_free(m);
    weft__user_free(m);
    weft__free(m->src);
    pthread_mutex_destroy(&m->lock);
    pthread_mutex_destroy(&m->stuck_lock);
    weft__free(m->w_raw);
    weft__free(m);
    rt->metrics = NULL;
}

void weft__metrics_wake_monitor(weft_rt *rt)
{
    struct weft__metrics *m = weft__metrics_of(rt);
    if (!m)
        return;
    atomic_fetch_add(&m->mon_word, 1);
    weft__futex_wake(&m->mon_word, 1);
}

/* ------------------------------------------------------------------ sources */

int weft__metrics_register_source(weft_rt *rt, weft__metrics_source_fn *fn, void *arg)
{
    struct weft__metrics *m = weft__metrics_of(rt);
    int err = 0;
    if (!m || !fn)
        return -EINVAL;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nsrc; i++)
        if (m->src[i].fn == fn && m->src[i].arg == arg)
            err = -EEXIST;
    if (!err && m->nsrc == m->src_cap) {
        size_t cap = m->src_cap ? 2 * m->src_cap : 4;
        void *p = weft__realloc(m->src, cap * sizeof *m->src);
        if (p) {
            m->src = p;
            m->src_cap = cap;
        } else {
            err = -ENOMEM;
        }
    }
    if (!err) {
        m->src[m->nsrc].fn = fn;
        m->src[m->nsrc].arg = arg;
        m->nsrc++;
    }
    pthread_mutex_unlock(&m->lock);
    return err;
}

void weft__metrics_unregister_source(weft_rt *rt, weft__metrics_source_fn *fn, void *arg)
{
    struct weft__metrics *m = weft__metrics_of(rt);
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nsrc; i++) {
        if (m->src[i].fn == fn && m->src[i].arg == arg) {
            memmove(&m->src[i], &m->src[i + 1], (m->nsrc - i - 1) * sizeof *m->src);
            m->nsrc--;
            break;
        }
    }
    pthread_mutex_unlock(&m->lock);
}

/* ------------------------------------------------------------------ reading */

static uint64_t local_depth(weft_rt *rt, unsigned i)
{
    uint64_t n = 0;
    if (rt->flavor != WEFT_RT_MULTI_THREAD)
        return 0; /* the current-thread rings are the driver's alone */
    for (int r = 0; r < WEFT_NPRIO; r++)
        n += weft__lq_len(&rt->workers[i].q[r]);
    return n;
}

void weft__metrics_read_worker(struct weft__metrics *m, unsigned i, weft_worker_metrics *o)
{
    weft_rt *rt = m->rt;
    struct weft__stats *st = weft__metrics_stats(rt, i);
    struct weft__timers *ts = weft__metrics_timers(rt, i);
    struct weft__mworker *mw = &m->w[i];

    memset(o, 0, sizeof *o);
    o->polls = ld_relaxed(&st->polls);
    o->steals = ld_relaxed(&st->steals);
    o->stolen = ld_relaxed(&st->stolen);
    o->overflows = ld_relaxed(&st->overflows);
    o->parks = ld_relaxed(&st->parks);
    o->unparks = ld_relaxed(&st->unparks);
    o->lifo_hits = ld_relaxed(&st->lifo_hits);
    o->forced_yields = ld_relaxed(&st->forced_yields);
    o->spawned = ld_relaxed(&st->spawned);
    o->completed = ld_relaxed(&st->completed);

    int64_t since = ld_relaxed(&st->busy_since);
    int64_t busy = (int64_t)ld_relaxed(&st->busy_ns);
    bool asleep = rt->flavor == WEFT_RT_CURRENT_THREAD && ld_relaxed(&rt->ct.park) == PARK_PARKED;
    if (since > 0 && !asleep) {
        int64_t d = weft__now() - since;
        if (d > 0)
            busy += d;
    }
    int64_t seen = ld_relaxed(&mw->busy_seen);
    while (busy > seen &&
           !atomic_compare_exchange_weak_explicit(&mw->busy_seen, &seen, busy,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
    o->busy_ns = busy > seen ? busy : seen;

    o->local_queue_depth = local_depth(rt, i);
    o->timers_active = weft__timers_count(ts);
    o->timers_fired = ld_relaxed(&ts->fired);
    o->stuck_polls = ld_relaxed(&mw->stuck_total);
    o->stuck_task = ld_acquire(&mw->stuck_now) ? ld_relaxed(&mw->stuck_id) : 0;
    o->io_submitted = ld_relaxed(&st->io_submitted);
    o->io_completed = ld_relaxed(&st->io_completed);
    o->io_enters = ld_relaxed(&st->io_enters);
}

void weft__metrics_read_totals(struct weft__metrics *m, weft_rt_metrics *o)
{
    weft_rt *rt = m->rt;
    weft_worker_metrics w;

    memset(o, 0, sizeof *o);
    o->workers = m->n;
    uint64_t spawned = 0, completed = 0;
    for (unsigned i = 0; i < m->n; i++) {
        weft__metrics_read_worker(m, i, &w);
        o->polls += w.polls;
        o->steals += w.steals;
        o->stolen += w.stolen;
        o->overflows += w.overflows;
        o->parks += w.parks;
        o->unparks += w.unparks;
        o->lifo_hits += w.lifo_hits;
        o->forced_yields += w.forced_yields;
        o->busy_ns += w.busy_ns;
        o->timers_active += w.timers_active;
        o->timers_fired += w.timers_fired;
        spawned += w.spawned;
        completed += w.completed;
    }
    /* Completions first: a task counted as completed was spawned before, so reading the
     * spawns last keeps alive >= 0 in all but a torn read, which the clamp hides. */
    completed += ld_relaxed(&rt->foreign_completed);
    spawned += ld_relaxed(&rt->foreign_spawned);
    o->tasks_spawned = spawned;
    o->tasks_completed = completed;
    o->tasks_alive = spawned > completed ? spawned - completed : 0;
    for (int r = 0; r < WEFT_NPRIO; r++)
        o->inject_queue_depth += ld_relaxed(&rt->inject[r].len);
    o->stuck_polls = ld_relaxed(&m->stuck_total);
    o->inject_refused = ld_relaxed(&rt->inject_refused);
}

static void copy_out(void *out, size_t size, const void *src, size_t have)
{
    memcpy(out, src, size < have ? size : have);
    if (size > have)
        memset((char *)out + have, 0, size - have);
}

int weft_rt_metrics_get(weft_rt *rt, weft_rt_metrics *out, size_t size)
{
    struct weft__metrics *m = weft__metrics_of(rt);
    weft_rt_metrics v;
    if (!m || !out || size == 0)
        return -EINVAL;
    weft__metrics_read_totals(m, &v);
    copy_out(out, size, &v, sizeof v);
    return 0;
}

int weft_rt_worker_metrics_get(weft_rt *rt, unsigned worker, weft_worker_metrics *out,
                               size_t size)
{
    struct weft__metrics *m = weft__metrics_of(rt);
    weft_worker_metrics v;
    if (!m || !out || size == 0 || worker >= m->n)
        return -EINVAL;
    weft__metrics_read_worker(m, worker, &v);
    copy_out(out, size, &v, sizeof v);
    return 0;
}
