/* User metrics: counters, gauges and histograms with a fixed label set.
 *
 * Registration (rare) takes m->lock and copies everything; the series then lives until the
 * runtime is freed. Updates never lock: counters and histograms are sharded, one cache line per
 * shard, and a thread always uses the same shard (a thread-local number handed out round robin
 * the first time it updates any metric), so two threads collide only when there are more
 * threads than shards (next power of two >= CPUs, at most 32). An update is one relaxed atomic
 * add on that line (histograms: plus a CAS on the shard's sum, uncontended in practice).
 * Reads add the shards up with relaxed loads. Gauges are one atomic word holding a double.
 */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "metrics/metrics.h"

#define MAX_PAIRS 8
#define MAX_NAME 127
#define MAX_BUCKETS 64
#define MAX_SHARDS 32u

static const double default_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5,   1,    2.5,   5,    10};

struct weft__umetric {
    struct weft__umetric *next;  /* m->users, registration order */
    enum weft__metric_kind kind;
    char *name, *help;
    char *labels;                /* formatted: k="v",k2="v2"; "" when none */
    char *label_names;           /* "k,k2", for the same-family check */
    uint32_t gen;                /* export: last export that wrote it (under m->lock) */
    unsigned shard_mask;
    size_t stride;               /* bytes per shard */
    unsigned char *shards;       /* cache-line aligned, inside raw */
    void *raw;
    size_t nb;                   /* histogram: finite buckets */
    double *bounds;              /* histogram: nb upper bounds */
    _Atomic uint64_t gauge;      /* gauge: the double's bits */
};

/* ------------------------------------------------------------------ shards */

static _Atomic unsigned next_thread_shard;
static WEFT_TLS unsigned thread_shard; /* 0: not assigned yet; else index + 1 */

static inline unsigned my_shard(const struct weft__umetric *u)
{
    unsigned s = thread_shard;
    if (WEFT_UNLIKELY(s == 0)) {
        s = atomic_fetch_add_explicit(&next_thread_shard, 1, memory_order_relaxed) + 1;
        thread_shard = s;
    }
    return (s - 1) & u->shard_mask;
}

static inline _Atomic uint64_t *shard_words(const struct weft__umetric *u, unsigned s)
{
    return (_Atomic uint64_t *)(u->shards + (size_t)s * u->stride);
}

/* ------------------------------------------------------------------ registration */

static bool valid_name(const char *s, bool metric)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (metric && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = weft__alloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static void umetric_free(struct weft__umetric *u)
{
    if (!u)
        return;
    weft__free(u->name);
    weft__free(u->help);
    weft__free(u->labels);
    weft__free(u->label_names);
    weft__free(u->bounds);
    weft__free(u->raw);
    weft__free(u);
}

static unsigned shard_count(void)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned n = 1;
    while (n < (unsigned)(ncpu > 0 ? ncpu : 1) && n < MAX_SHARDS)
        n *= 2;
    return n;
}

static int check_opts(const weft_metric_opts *o, enum weft__metric_kind kind)
{
    if (!o->name || !valid_name(o->name, true) || strncmp(o->name, "weft_", 5) == 0)
        return -EINVAL;
    if (o->help && strchr(o->help, '\n'))
        return -EINVAL;
    if (o->labels) {
        int pairs = 0;
        for (const char *const *l = o->labels; *l; l += 2) {
            if (++pairs > MAX_PAIRS || !l[1] || !valid_name(l[0], false) ||
                strncmp(l[0], "__", 2) == 0)
                return -EINVAL;
            if (kind == WEFT__HISTOGRAM && strcmp(l[0], "le") == 0)
                return -EINVAL; /* le is the bucket label */
            for (const char *const *p = o->labels; p < l; p += 2)
                if (strcmp(*p, l[0]) == 0)
                    return -EINVAL; /* a label twice */
        }
    }
    if (kind == WEFT__HISTOGRAM && o->buckets) {
        if (o->nbuckets < 1 || o->nbuckets > MAX_BUCKETS)
            return -EINVAL;
        for (size_t i = 0; i < o->nbuckets; i++)
            if (!isfinite(o->buckets[i]) || (i && o->buckets[i] <= o->buckets[i - 1]))
                return -EINVAL;
    }
    return 0;
}

static struct weft__umetric *build(const weft_metric_opts *o, enum weft__metric_kind kind)
{
    struct weft__umetric *u = weft__calloc(1, sizeof *u);
    struct weft__mbuf lb = {0}, ln = {0};
    if (!u)
        return NULL;
    u->kind = kind;
    u->name = dup_str(o->name);
    u->help = dup_str(o->help ? o->help : "");
    int i = 0;
    for (const char *const *l = o->labels; l && *l; l += 2, i++) {
        weft__mbuf_printf(&lb, "%s%s=\"", i ? "," : "", l[0]);
        weft__prom_label_value(&lb, l[1]);
        weft__mbuf_put(&lb, "\"", 1);
        weft__mbuf_printf(&ln, "%s%s", i ? "," : "", l[0]);
    }
    u->labels = lb.oom ? NULL : dup_str(lb.p ? lb.p : "");
    u->label_names = ln.oom ? NULL : dup_str(ln.p ? ln.p : "");
    weft__mbuf_fini(&lb);
    weft__mbuf_fini(&ln);
    if (!u->name || !u->help || !u->labels || !u->label_names)
        goto fail;
    if (kind == WEFT__GAUGE)
        return u;
    size_t words = 1;
    if (kind == WEFT__HISTOGRAM) {
        const double *b = o->buckets ? o->buckets : default_buckets;
        u->nb = o->buckets ? o->nbuckets : sizeof default_buckets / sizeof default_buckets[0];
        u->bounds = weft__alloc(u->nb * sizeof *u->bounds);
        if (!u->bounds)
            goto fail;
        memcpy(u->bounds, b, u->nb * sizeof *b);
        words = u->nb + 2; /* finite buckets, +Inf, sum bits */
    }
    unsigned n = shard_count();
    u->shard_mask = n - 1;
    u->stride = (words * sizeof(uint64_t) + WEFT_CACHELINE - 1) & ~(size_t)(WEFT_CACHELINE - 1);
    u->raw = weft__calloc(1, n * u->stride + WEFT_CACHELINE);
    if (!u->raw)
        goto fail;
    u->shards = (unsigned char *)(((uintptr_t)u->raw + WEFT_CACHELINE - 1) &
                                  ~(uintptr_t)(WEFT_CACHELINE - 1));
    return u;
fail:
    umetric_free(u);
    return NULL;
}

static int register_metric(void **out, weft_rt *rt, const weft_metric_opts *o,
                           enum weft__metric_kind kind)
{
    struct weft__metrics *m = weft__metrics_of(rt);
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!m || !o)
        return -EINVAL;
    int err = check_opts(o, kind);
    if (err < 0)
        return err;
    struct weft__umetric *u = build(o, kind);
    if (!u)
        return -ENOMEM;
    pthread_mutex_lock(&m->lock);
    for (struct weft__umetric *v = m->users; v && !err; v = v->next) {
        if (strcmp(v->name, u->name) != 0)
            continue;
        if (v->kind != kind || strcmp(v->label_names, u->label_names) != 0 ||
            v->nb != u->nb || (u->nb && memcmp(v->bounds, u->bounds, u->nb * sizeof(double))))
            err = -EINVAL;
        else if (strcmp(v->labels, u->labels) == 0)
            err = -EEXIST;
    }
    if (!err) {
        if (m->users_last)
            m->users_last->next = u;
        else
            m->users = u;
        m->users_last = u;
    }
    pthread_mutex_unlock(&m->lock);
    if (err) {
        umetric_free(u);
        return err;
    }
    *out = u;
    return 0;
}

void weft__user_free(struct weft__metrics *m)
{
    struct weft__umetric *u = m->users;
    while (u) {
        struct weft__umetric *next = u->next;
        umetric_free(u);
        u = next;
    }
    m->users = m->users_last = NULL;
}

/* ------------------------------------------------------------------ counters */

int weft_counter_new(weft_counter **out, weft_rt *rt, const weft_metric_opts *opts)
{
    return register_metric((void **)out, rt, opts, WEFT__COUNTER);
}

void weft_counter_add(weft_counter *c, uint64_t n)
{
    struct weft__umetric *u = (struct weft__umetric *)c;
    if (WEFT_UNLIKELY(!u))
        return;
    atomic_fetch_add_explicit(shard_words(u, my_shard(u)), n, memory_order_relaxed);
}

void weft_counter_inc(weft_counter *c)
{
    weft_counter_add(c, 1);
}

uint64_t weft_counter_value(const weft_counter *c)
{
    const struct weft__umetric *u = (const struct weft__umetric *)c;
    uint64_t v = 0;
    if (!u)
        return 0;
    for (unsigned s = 0; s <= u->shard_mask; s++)
        v += ld_relaxed(shard_words(u, s));
    return v;
}

/* ------------------------------------------------------------------ gauges */

static inline uint64_t bits_of(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}
static inline double double_of(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

int weft_gauge_new(weft_gauge **out, weft_rt *rt, const weft_metric_opts *opts)
{
    return register_metric((void **)out, rt, opts, WEFT__GAUGE);
}

void weft_gauge_set(weft_gauge *g, double v)
{
    struct weft__umetric *u = (struct weft__umetric *)g;
    if (u)
        st_relaxed(&u->gauge, bits_of(v));
}

void weft_gauge_add(weft_gauge *g, double d)
{
    struct weft__umetric *u = (struct weft__umetric *)g;
    if (!u)
        return;
    uint64_t old = ld_relaxed(&u->gauge);
    while (!atomic_compare_exchange_weak_explicit(&u->gauge, &old, bits_of(double_of(old) + d),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

double weft_gauge_value(const weft_gauge *g)
{
    const struct weft__umetric *u = (const struct weft__umetric *)g;
    return u ? double_of(ld_relaxed(&((struct weft__umetric *)u)->gauge)) : 0;
}

/* ------------------------------------------------------------------ histograms */

int weft_histogram_new(weft_histogram **out, weft_rt *rt, const weft_metric_opts *opts)
{
    return register_metric((void **)out, rt, opts, WEFT__HISTOGRAM);
}

void weft_histogram_observe(weft_histogram *h, double v)
{
    struct weft__umetric *u = (struct weft__umetric *)h;
    if (WEFT_UNLIKELY(!u) || isnan(v))
        return;
    size_t lo = 0, hi = u->nb; /* first bound >= v, or nb (+Inf) */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v <= u->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    _Atomic uint64_t *w = shard_words(u, my_shard(u));
    atomic_fetch_add_explicit(&w[lo], 1, memory_order_relaxed);
    _Atomic uint64_t *sum = &w[u->nb + 1];
    uint64_t old = ld_relaxed(sum);
    while (!atomic_compare_exchange_weak_explicit(sum, &old, bits_of(double_of(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* counts: nb + 1 entries (not cumulative). */
static void hist_read(const struct weft__umetric *u, uint64_t *counts, uint64_t *count,
                      double *sum)
{
    uint64_t c = 0;
    double s = 0;
    if (counts)
        memset(counts, 0, (u->nb + 1) * sizeof *counts);
    for (unsigned k = 0; k <= u->shard_mask; k++) {
        _Atomic uint64_t *w = shard_words(u, k);
        for (size_t i = 0; i <= u->nb; i++) {
            uint64_t n = ld_relaxed(&w[i]);
            c += n;
            if (counts)
                counts[i] += n;
        }
        s += double_of(ld_relaxed(&w[u->nb + 1]));
    }
    *count = c;
    *sum = s;
}

int weft_histogram_read(const weft_histogram *h, uint64_t *count, double *sum)
{
    const struct weft__umetric *u = (const struct weft__umetric *)h;
    uint64_t c;
    double s;
    if (!u)
        return -EINVAL;
    hist_read(u, NULL, &c, &s);
    if (count)
        *count = c;
    if (sum)
        *sum = s;
    return 0;
}

/* ------------------------------------------------------------------ export */

static void series(struct weft__mbuf *b, const struct weft__umetric *u)
{
    if (u->kind != WEFT__HISTOGRAM) {
        weft__mbuf_puts(b, u->name);
        if (u->labels[0])
            weft__mbuf_printf(b, "{%s}", u->labels);
        weft__mbuf_put(b, " ", 1);
        if (u->kind == WEFT__COUNTER)
            weft__mbuf_printf(b, "%llu",
                              (unsigned long long)weft_counter_value((const weft_counter *)u));
        else
            weft__prom_value(b, weft_gauge_value((const weft_gauge *)u));
        weft__mbuf_put(b, "\n", 1);
        return;
    }
    uint64_t counts[MAX_BUCKETS + 1], count, cum = 0;
    double sum;
    hist_read(u, counts, &count, &sum);
    const char *sep = u->labels[0] ? "," : "";
    for (size_t i = 0; i <= u->nb; i++) {
        cum += counts[i];
        weft__mbuf_printf(b, "%s_bucket{%s%sle=\"", u->name, u->labels, sep);
        if (i < u->nb)
            weft__prom_value(b, u->bounds[i]);
        else
            weft__mbuf_puts(b, "+Inf");
        weft__mbuf_printf(b, "\"} %llu\n", (unsigned long long)cum);
    }
    weft__mbuf_printf(b, "%s_sum%s%s%s ", u->name, u->labels[0] ? "{" : "", u->labels,
                      u->labels[0] ? "}" : "");
    weft__prom_value(b, sum);
    weft__mbuf_printf(b, "\n%s_count%s%s%s %llu\n", u->name, u->labels[0] ? "{" : "", u->labels,
                      u->labels[0] ? "}" : "", (unsigned long long)cum);
}

void weft__user_export(struct weft__metrics *m, struct weft__mbuf *b)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    uint32_t gen = ++m->export_gen;
    for (struct weft__umetric *u = m->users; u; u = u->next) {
        if (u->gen == gen)
            continue;
        weft__prom_header(b, u->name, u->help, types[u->kind]);
        for (struct weft__umetric *v = u; v; v = v->next) {
            if (v->gen != gen && strcmp(v->name, u->name) == 0) {
                series(b, v);
                v->gen = gen;
            }
        }
    }
}
