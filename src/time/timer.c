/* Timers for futures: see timer.h. */
#include "time/timer.h"

#include "sched/sched.h"

static inline void lock(struct weft__timers *ts)
{
    while (atomic_exchange_explicit(&ts->lock, 1, memory_order_acquire))
        while (ld_relaxed(&ts->lock))
            weft__cpu_relax();
}

static inline void unlock(struct weft__timers *ts)
{
    st_release(&ts->lock, 0);
}

void weft__timers_init(struct weft__timers *ts, int64_t now)
{
    atomic_init(&ts->lock, 0);
    atomic_init(&ts->next, INT64_MAX);
    atomic_init(&ts->fired, 0);
    weft__timer_wheel_init(&ts->wheel, now);
}

size_t weft__timers_count(struct weft__timers *ts)
{
    lock(ts);
    size_t n = weft__timer_wheel_count(&ts->wheel);
    unlock(ts);
    return n;
}

#define FIRE_BATCH 64
struct fire_batch {
    weft_waker wakers[FIRE_BATCH];
    size_t n;
};

static void on_fire(struct weft__timer_entry *e, void *arg)
{
    struct fire_batch *b = arg;
    struct weft__timer *t = (struct weft__timer *)e; /* entry is the first member */
    weft_waker w = t->waker;
    t->waker.vtable = NULL;
    st_release(&t->owner, NULL);
    if (b->n < FIRE_BATCH)
        b->wakers[b->n++] = w;
    else
        weft_waker_wake(&w); /* a rare big batch: wake under the lock (never re-enters it) */
}

size_t weft__timers_advance(struct weft__timers *ts, int64_t now)
{
    struct fire_batch b;
    b.n = 0;
    lock(ts);
    size_t n = weft__timer_wheel_advance(&ts->wheel, now, on_fire, &b);
    st_release(&ts->next, weft__timer_wheel_next_deadline(&ts->wheel));
    unlock(ts);
    for (size_t i = 0; i < b.n; i++)
        weft_waker_wake(&b.wakers[i]);
    if (n)
        atomic_fetch_add_explicit(&ts->fired, n, memory_order_relaxed);
    return n;
}

static struct weft__timers *timers_here(weft_rt *rt, bool *foreign)
{
    struct weft__tl *tl = &weft__tl;
    *foreign = false;
    if (tl->rt == rt) {
        if (tl->worker)
            return &tl->worker->timers;
        if (rt->flavor == WEFT_RT_CURRENT_THREAD)
            return &rt->ct.timers;
    }
    *foreign = true;
    return rt->flavor == WEFT_RT_CURRENT_THREAD ? &rt->ct.timers : &rt->workers[0].timers;
}

void weft__timer_arm(weft_rt *rt, struct weft__timer *t, int64_t deadline, const weft_waker *waker)
{
    bool foreign;
    struct weft__timers *ts = timers_here(rt, &foreign);
    weft__timer_arm_on(rt, ts, foreign, t, deadline, waker);
}

void weft__timer_arm_on(weft_rt *rt, struct weft__timers *ts, bool foreign, struct weft__timer *t,
                        int64_t deadline, const weft_waker *waker)
{
    weft__timer_cancel(t);
    weft__waker_keep(waker, &t->waker);
    lock(ts);
    weft__timer_wheel_insert(&ts->wheel, &t->entry, deadline);
    st_relaxed(&t->owner, ts);
    /* `next` may only err early (a wasted wake-up), never late: a plain min is enough, and
     * cancels leave it alone. advance() recomputes it exactly. The wheel fires an entry as
     * soon as an advance sees its deadline (wheel.h), so the deadline itself is published. */
    int64_t due = deadline <= 0 ? 0 : deadline;
    bool earlier = due < ld_relaxed(&ts->next);
    if (earlier)
        st_release(&ts->next, due);
    unlock(ts);
    if (foreign && earlier)
        weft__sched_unpark_timers(rt, ts);
}

bool weft__timer_pending(struct weft__timer *t, const weft_waker *waker)
{
    struct weft__timers *ts = ld_acquire(&t->owner);
    if (!ts)
        return false;
    lock(ts);
    bool armed = ld_relaxed(&t->owner) == ts;
    if (armed && !weft__waker_kept_same(&t->waker, waker)) {
        weft_waker_drop(&t->waker);
        weft__waker_keep(waker, &t->waker);
    }
    unlock(ts);
    return armed;
}

void weft__timer_cancel(struct weft__timer *t)
{
    struct weft__timers *ts = ld_acquire(&t->owner);
    if (ts) {
        lock(ts);
        if (ld_relaxed(&t->owner) == ts) {
            weft__timer_wheel_cancel(&ts->wheel, &t->entry);
            st_relaxed(&t->owner, NULL);
        }
        unlock(ts);
    }
    weft_waker_drop(&t->waker);
}
