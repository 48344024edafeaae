/* Tasks: spawn, poll, completion, wakers and join handles. The state word protocol is in
 * task.h; this file is its only writer besides the wake fast path there. */
#include <limits.h>
#include <string.h>

#include "sched/sched.h"
#include "sys/futex.h"
#include "task/slab.h"
#include "task/task.h"

WEFT_TLS struct weft__tl weft__tl;

void weft__task_schedule(struct weft__task *t)
{
    weft__sched_schedule(t, 0);
}

/* ------------------------------------------------------------------ memory */

/* Cells above the slab's largest class carry two list links in front of the header so
 * shutdown can find them. */
struct big_prefix {
    struct big_prefix *prev, *next;
};
_Static_assert(sizeof(struct big_prefix) % 16 == 0, "prefix keeps the cell aligned");

static struct weft__task *task_alloc(weft_rt *rt, size_t size, int *err)
{
    struct weft__tl *tl = &weft__tl;
    struct weft__task *t;

    if (WEFT_UNLIKELY(size > TASK_SLAB_MAX)) {
        struct big_prefix *p = weft__alloc(sizeof *p + size);
        if (!p) {
            *err = -ENOMEM;
            return NULL;
        }
        pthread_mutex_lock(&rt->foreign_lock);
        if (ld_relaxed(&rt->closed)) {
            pthread_mutex_unlock(&rt->foreign_lock);
            weft__free(p);
            *err = -ESHUTDOWN;
            return NULL;
        }
        atomic_init(&((struct weft__task *)(p + 1))->state, 0); /* "not live yet" (dumps) */
        p->prev = NULL;
        p->next = (struct big_prefix *)rt->big_tasks;
        if (p->next)
            p->next->prev = p;
        rt->big_tasks = (struct weft__task *)p;
        pthread_mutex_unlock(&rt->foreign_lock);
        t = (struct weft__task *)(p + 1);
        t->flags = TASK_F_BIG;
        return t;
    }
    if (tl->rt == rt && tl->slab) {
        t = weft__slab_alloc(tl->slab, size);
    } else {
        pthread_mutex_lock(&rt->foreign_lock);
        if (ld_relaxed(&rt->closed)) {
            pthread_mutex_unlock(&rt->foreign_lock);
            *err = -ESHUTDOWN;
            return NULL;
        }
        t = weft__slab_alloc(&rt->foreign_slab, size);
        pthread_mutex_unlock(&rt->foreign_lock);
    }
    if (!t) {
        *err = -ENOMEM;
        return NULL;
    }
    t->flags = 0;
    return t;
}

static void task_free(struct weft__task *t)
{
    if (t->flags & TASK_F_BIG) {
        weft_rt *rt = t->rt;
        struct big_prefix *p = (struct big_prefix *)t - 1;
        pthread_mutex_lock(&rt->foreign_lock);
        if (p->prev)
            p->prev->next = p->next;
        else
            rt->big_tasks = (struct weft__task *)p->next;
        if (p->next)
            p->next->prev = p->prev;
        pthread_mutex_unlock(&rt->foreign_lock);
        weft__free(p);
        return;
    }
    weft__slab_free(t, weft__tl.rt == t->rt ? weft__tl.slab : NULL);
}

void weft__task_ref_dec(struct weft__task *t)
{
    uint64_t old = atomic_fetch_sub_explicit(&t->state, TASK_REF_ONE, memory_order_acq_rel);
    WEFT_ASSERT((old & TASK_REF_MASK) >= TASK_REF_ONE);
    if ((old & TASK_REF_MASK) == TASK_REF_ONE)
        task_free(t);
}

uint64_t weft__next_task_id(weft_rt *rt)
{
    struct weft__tl *tl = &weft__tl;
    if (WEFT_UNLIKELY(tl->id_next == tl->id_end)) {
        const uint64_t block = 1024;
        tl->id_next = atomic_fetch_add_explicit(&rt->next_id, block, memory_order_relaxed);
        tl->id_end = tl->id_next + block;
    }
    return tl->id_next++;
}

/* ------------------------------------------------------------------ wakers */

static void *waker_clone(void *data)
{
    struct weft__task *t = data;
    atomic_fetch_add_explicit(&t->state, TASK_REF_ONE, memory_order_relaxed);
    return t;
}

static void waker_wake_by_ref(void *data)
{
    weft__task_wake(data);
}

static void waker_drop(void *data)
{
    weft__task_ref_dec(data);
}

static void waker_wake(void *data)
{
    weft__task_wake(data);
    weft__task_ref_dec(data);
}

const weft_waker_vtable weft__task_waker_vtable = {
    .clone = waker_clone,
    .wake = waker_wake,
    .wake_by_ref = waker_wake_by_ref,
    .drop = waker_drop,
};

static void borrowed_noop(void *data)
{
    (void)data;
}

const weft_waker_vtable weft__task_waker_borrowed_vtable = {
    .clone = waker_clone, /* a clone is a real reference... */
    .wake = waker_wake_by_ref,
    .wake_by_ref = waker_wake_by_ref,
    .drop = borrowed_noop,
};

/* ------------------------------------------------------------------ spawn */

static int task_create(weft_rt *rt, const weft_future_type *type, const void *init,
                       const weft_spawn_opts *opts, weft_join **join, uintptr_t scope_tag,
                       struct weft__task **out)
{
    if (join)
        *join = NULL;
    if (WEFT_UNLIKELY(!rt || !type || !type->poll || type->state_size > (1u << 30) ||
                      type->out_size > (1u << 30)))
        return -EINVAL;
    if (opts && (unsigned)opts->priority > WEFT_PRIO_LOW)
        return -EINVAL;
    if (WEFT_UNLIKELY(ld_relaxed(&rt->closed)))
        return -ESHUTDOWN;

    size_t state_size = (type->state_size + 15) & ~(size_t)15;
    bool named = opts && opts->name;
    bool timed = WEFT_UNLIKELY(ld_relaxed(&rt->timed_tasks) != 0);
    bool scoped = scope_tag != 0;
    size_t name_off = (state_size + type->out_size + 7) & ~(size_t)7;
    size_t size = sizeof(struct weft__task) +
                  (named || timed || scoped
                       ? name_off + (named ? sizeof(char *) : 0) +
                             (scoped ? sizeof(uintptr_t) : 0) + (timed ? TASK_TIMED_SIZE : 0)
                       : state_size + type->out_size);
    if (state_size > UINT16_MAX && type->out_size)
        return -EINVAL; /* out_off is 16 bits: keep huge states output-free */
    int err = 0;
    struct weft__task *t = task_alloc(rt, size, &err);
    if (WEFT_UNLIKELY(!t))
        return err;

    t->next = NULL;
    t->type = type;
    t->rt = rt;
    t->id = weft__next_task_id(rt);
    t->join_waker.data = NULL;
    t->join_waker.vtable = NULL;
    t->result = 0;
    t->out_off = (uint16_t)(type->out_size ? state_size : 0);
    t->prio = (uint8_t)(opts ? weft__rank_of(opts->priority) : RANK_NORMAL);
    if (named) {
        t->flags |= TASK_F_NAMED;
        *(const char **)(t->body + name_off) = opts->name;
    }
    if (scoped) {
        t->flags |= TASK_F_SCOPED;
        *weft__task_scope_tag(t) = scope_tag;
    }
    if (timed) {
        t->flags |= TASK_F_TIMED;
        memset(weft__task_sched_at(t), 0, TASK_TIMED_SIZE);
    }
    struct weft__tl *tl = &weft__tl;
    if (tl->rt == rt && tl->stats)
        WEFT_STAT_ADD(tl->stats, spawned, 1);
    else
        atomic_fetch_add_explicit(&rt->foreign_spawned, 1, memory_order_relaxed);
    if (init)
        memcpy(t->body, init, type->state_size);
    else
        memset(t->body, 0, type->state_size);
    uint64_t s = TASK_SCHEDULED | TASK_REF_ONE; /* the alive ref */
    if (join) {
        s += TASK_JOIN_INTEREST + TASK_REF_ONE;
        *join = (weft_join *)t;
    }
    st_release(&t->state, s); /* a task dump that sees the state sees the fields */
    *out = t;
    return 0;
}

int weft__task_create(weft_rt *rt, const weft_future_type *type, const void *init,
                      const weft_spawn_opts *opts, weft_join **join, struct weft__task **out)
{
    return task_create(rt, type, init, opts, join, 0, out);
}

/* The inject-queue cap (cfg.max_inject) for a spawn: 0, or -EAGAIN with *join cleared. */
static int admit(weft_rt *rt, weft_join **join)
{
    int err = rt ? weft__inject_admit(rt) : 0;
    if (WEFT_UNLIKELY(err < 0) && join)
        *join = NULL;
    return err;
}

int weft__task_create_scoped(weft_rt *rt, const weft_future_type *type, const void *init,
                             weft_join **join, uintptr_t scope_tag, struct weft__task **out)
{
    int err = admit(rt, join);
    return err < 0 ? err : task_create(rt, type, init, NULL, join, scope_tag, out);
}

int weft_spawn_with(weft_rt *rt, const weft_future_type *type, const void *init,
                    const weft_spawn_opts *opts, weft_join **join)
{
    struct weft__task *t;
    int err = admit(rt, join);
    if (WEFT_LIKELY(err == 0))
        err = weft__task_create(rt, type, init, opts, join, &t);
    if (WEFT_LIKELY(err == 0))
        weft__sched_schedule(t, 0);
    return err;
}

int weft_spawn(weft_rt *rt, const weft_future_type *type, const void *init, weft_join **join)
{
    return weft_spawn_with(rt, type, init, NULL, join);
}

/* ------------------------------------------------------------------ completion */

/* The future has ended (its drop has run): publish the result and wake the join side.
 * Releases the alive ref. */
static void task_complete(struct weft__task *t, int result)
{
    t->result = result;
    uint64_t s = ld_relaxed(&t->state), ns;
    bool hand_waker;
    do {
        hand_waker = (s & (TASK_JOIN_INTEREST | TASK_JOIN_WAKER)) ==
                     (TASK_JOIN_INTEREST | TASK_JOIN_WAKER);
        ns = (s | TASK_COMPLETE) & ~(TASK_SCHEDULED | TASK_NOTIFIED);
        if (!hand_waker)
            ns -= TASK_REF_ONE; /* keep the alive ref while we touch join_waker */
    } while (!atomic_compare_exchange_weak_explicit(&t->state, &s, ns, memory_order_acq_rel,
                                                    memory_order_relaxed));
    if (s & TASK_JOIN_SLEEPER)
        weft__futex_wake(&t->state, INT_MAX);
    if (hand_waker) {
        weft_waker_wake_by_ref(&t->join_waker);
        /* Give the field back to the join side, or drop the waker if it left meanwhile. */
        uint64_t old = atomic_fetch_and_explicit(&t->state, ~TASK_JOIN_WAKER,
                                                 memory_order_acq_rel);
        if (!(old & TASK_JOIN_INTEREST))
            weft_waker_drop(&t->join_waker);
        weft__task_ref_dec(t);
        return;
    }
    if ((ns & TASK_REF_MASK) == 0)
        task_free(t);
}

void weft__task_cancel_now(struct weft__task *t, int result)
{
    if (t->type->drop)
        t->type->drop(t->body);
    if (t->flags & TASK_F_SCOPED)
        weft__scope_child_end(*weft__task_scope_tag(t), result, false);
    task_complete(t, result);
}

/* ------------------------------------------------------------------ poll */

static void count_completed(weft_rt *rt, struct weft__tl *tl)
{
    if (tl->rt == rt && tl->stats)
        WEFT_STAT_ADD(tl->stats, completed, 1);
    else
        atomic_fetch_add_explicit(&rt->foreign_completed, 1, memory_order_relaxed);
}

/* Poll with the observer (tracing, histograms): out of line, off the fast path. */
static __attribute__((noinline)) weft_poll observed_poll(weft_rt *rt, struct weft__task *t,
                                                         weft_cx *cx, struct weft__tl *tl,
                                                         weft__poll_observer *obs)
{
    int64_t start = weft__now();
    int64_t queued = (t->flags & TASK_F_TIMED) ? *weft__task_sched_at(t) : 0;
    weft_poll r = t->type->poll(t->body, cx, t->body + t->out_off);
    obs(rt, t, tl->index, queued, start, weft__now());
    return r;
}

void weft__run_task(weft_rt *rt, struct weft__task *t)
{
    struct weft__tl *tl = &weft__tl;
    struct weft__stats *st = tl->rt == rt ? tl->stats : NULL;
    uint64_t s = ld_acquire(&t->state);

    if (WEFT_UNLIKELY(t->flags & TASK_F_SCOPED) &&
        weft__scope_child_cancelled(*weft__task_scope_tag(t)))
        s = atomic_fetch_or_explicit(&t->state, TASK_CANCELLED, memory_order_acq_rel) |
            TASK_CANCELLED;
    if (WEFT_UNLIKELY(s & (TASK_NOTIFIED | TASK_CANCELLED))) {
        s = atomic_fetch_and_explicit(&t->state, ~TASK_NOTIFIED, memory_order_acq_rel);
        if (s & TASK_CANCELLED) {
            struct weft__task *prev = tl->current;
            tl->current = t;
            weft__task_cancel_now(t, -ECANCELED);
            tl->current = prev;
            count_completed(rt, tl);
            return;
        }
    }
    weft_cx cx = {
        .waker = {.data = t, .vtable = &weft__task_waker_vtable},
        .rt = rt,
        .sched = tl,
        .budget = WEFT_COOP_BUDGET,
        .flags = 0,
    };
    struct weft__task *prev = tl->current;
    tl->current = t;
    if (st) {
        WEFT_STAT_ADD(st, polls, 1); /* also the monitor's "has it moved?" */
        st_release(&st->running, t); /* the monitor reads t's id and name */
    }
    weft__poll_observer *obs = ld_relaxed(&rt->observer);
    weft_poll r = WEFT_LIKELY(!obs) ? t->type->poll(t->body, &cx, t->body + t->out_off)
                                    : observed_poll(rt, t, &cx, tl, obs);
    if (st)
        st_relaxed(&st->running, NULL);
    tl->current = prev;

    if (r == WEFT_PENDING) {
        if (WEFT_UNLIKELY(cx.budget < 0) && st)
            WEFT_STAT_ADD(st, forced_yields, 1);
        if (cx.flags & WEFT_CX_YIELDED) {
            weft__sched_schedule(t, 1); /* still SCHEDULED: to the back, no RMW */
            return;
        }
        s = ld_relaxed(&t->state);
        for (;;) {
            if (s & TASK_NOTIFIED) { /* woken during the poll: poll again later */
                weft__sched_schedule(t, 1);
                return;
            }
            if (atomic_compare_exchange_weak_explicit(&t->state, &s, s & ~TASK_SCHEDULED,
                                                      memory_order_acq_rel, memory_order_relaxed))
                return;
        }
    }
    if (t->type->drop)
        t->type->drop(t->body);
    if (t->flags & TASK_F_SCOPED)
        weft__scope_child_end(*weft__task_scope_tag(t), r < 0 ? r : 0, true);
    task_complete(t, r < 0 ? r : 0);
    count_completed(rt, tl);
}

/* ------------------------------------------------------------------ join */

static void take_output(struct weft__task *t, void *out, size_t out_size, int *result)
{
    *result = t->result;
    if (t->result == 0 && out && out_size) {
        size_t n = out_size < t->type->out_size ? out_size : t->type->out_size;
        memcpy(out, t->body + t->out_off, n);
    }
}

/* The join side is done with the cell. */
static void join_release(struct weft__task *t)
{
    if (t->join_waker.vtable == NULL) { /* never stored a waker: one RMW */
        uint64_t old = atomic_fetch_sub_explicit(&t->state, TASK_JOIN_INTEREST + TASK_REF_ONE,
                                                 memory_order_acq_rel);
        if ((old & TASK_REF_MASK) == TASK_REF_ONE)
            task_free(t);
        return;
    }
    uint64_t old = atomic_fetch_and_explicit(&t->state, ~TASK_JOIN_INTEREST, memory_order_acq_rel);
    if (!(old & TASK_JOIN_WAKER))
        weft_waker_drop(&t->join_waker); /* ours: nobody else will touch it */
    weft__task_ref_dec(t);
}

weft_poll weft_join_poll(weft_join *join, weft_cx *cx, void *out, size_t out_size, int *result)
{
    struct weft__task *t = weft__task_from_join(join);
    int dummy;

    if (!result)
        result = &dummy;
    if (WEFT_UNLIKELY(!t || !cx)) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    uint64_t s = ld_acquire(&t->state);
    if (!(s & TASK_COMPLETE)) {
        if (s & TASK_JOIN_WAKER) {
            if (weft_waker_will_wake(&t->join_waker, &cx->waker))
                return WEFT_PENDING;
            /* Take the field back to replace the waker (fails once COMPLETE is set). */
            for (;;) {
                if (s & TASK_COMPLETE)
                    goto done;
                if (atomic_compare_exchange_weak_explicit(&t->state, &s, s & ~TASK_JOIN_WAKER,
                                                          memory_order_acq_rel,
                                                          memory_order_acquire))
                    break;
            }
        }
        weft_waker_drop(&t->join_waker);
        weft_waker_clone(&cx->waker, &t->join_waker);
        s = ld_acquire(&t->state); /* acquire: on COMPLETE we read the output */
        for (;;) {
            if (s & TASK_COMPLETE)
                goto done; /* our waker stays in the field; join_release drops it */
            if (atomic_compare_exchange_weak_explicit(&t->state, &s, s | TASK_JOIN_WAKER,
                                                      memory_order_acq_rel, memory_order_acquire))
                return WEFT_PENDING;
        }
    }
done:
    take_output(t, out, out_size, result);
    join_release(t);
    return WEFT_READY;
}

int weft_join_wait(weft_join *join, void *out, size_t out_size)
{
    struct weft__task *t = weft__task_from_join(join);
    int result;

    if (!t)
        return -EINVAL;
    if (weft__tl.worker || (weft__tl.rt && weft__tl.rt == t->rt))
        return -EDEADLK;
    weft_rt *rt = t->rt;
    atomic_fetch_add_explicit(&rt->foreign_joiners, 1, memory_order_acq_rel);
    uint64_t s = ld_acquire(&t->state);
    while (!(s & TASK_COMPLETE)) {
        if (!(s & TASK_JOIN_SLEEPER)) {
            s = atomic_fetch_or_explicit(&t->state, TASK_JOIN_SLEEPER, memory_order_acq_rel) |
                TASK_JOIN_SLEEPER;
            continue;
        }
        weft__futex_wait(&t->state, (uint32_t)s, INT64_MAX);
        s = ld_acquire(&t->state);
    }
    take_output(t, out, out_size, &result);
    join_release(t);
    atomic_fetch_sub_explicit(&rt->foreign_joiners, 1, memory_order_acq_rel);
    return result;
}

void weft_join_detach(weft_join *join)
{
    struct weft__task *t = weft__task_from_join(join);
    if (t)
        join_release(t);
}

void weft_join_abort(weft_join *join)
{
    struct weft__task *t = weft__task_from_join(join);
    if (!t)
        return;
    uint64_t old = atomic_fetch_or_explicit(&t->state, TASK_CANCELLED, memory_order_acq_rel);
    if (!(old & (TASK_COMPLETE | TASK_CANCELLED)))
        weft__task_wake(t);
}

bool weft_join_is_finished(const weft_join *join)
{
    const struct weft__task *t = weft__task_from_join(join);
    return t && (ld_acquire(&((struct weft__task *)t)->state) & TASK_COMPLETE);
}

uint64_t weft_join_id(const weft_join *join)
{
    const struct weft__task *t = weft__task_from_join(join);
    return t ? t->id : 0;
}

/* ------------------------------------------------------------------ yield */

weft_poll weft_yield_poll(weft_yield *y, weft_cx *cx)
{
    if (y->done)
        return WEFT_READY;
    y->done = 1;
    if (cx->sched)
        cx->flags |= WEFT_CX_YIELDED; /* the executor requeues without touching the state */
    else
        weft_waker_wake_by_ref(&cx->waker);
    return WEFT_PENDING;
}

uint64_t weft_task_current_id(void)
{
    return weft__tl.current ? weft__tl.current->id : 0;
}
