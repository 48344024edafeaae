/* The FIFO-fair semaphore (Tokio's batch semaphore, with lock-free releases) and permits.
 *
 * State word (sync.h): permits << 2 | WAITERS | CLOSED. Wait list: waitlist.h, one node per
 * queued acquire future, embedded in it; node.val = permits it still needs.
 *
 *  - Acquire, fast path: one CAS taking n permits, allowed only while WAITERS is clear.
 *  - Acquire, slow path (under the lock): take what is there, set WAITERS, queue the node
 *    with the remainder. A large acquirer at the head therefore collects permits as they come
 *    back and is never overtaken.
 *  - Release: while WAITERS is clear, one CAS adding the permits. Otherwise, under the lock,
 *    the permits are assigned to the head waiters in order: a waiter whose need drops to 0 is
 *    unlinked, its waker moved to a wake list, and node.val = 0 stored last (release). What
 *    is left when the list empties goes back to the count in the same CAS that clears
 *    WAITERS. Wakers run after unlocking, 32 at a time.
 *  - Close: CLOSED is set, queued nodes are unlinked with their need unchanged (non-zero) and
 *    woken; their owners see "not queued, need > 0" under the lock and finish with -EPIPE,
 *    returning any permits they had collected.
 *
 * Permit ownership rule: permits are owned by exactly one of: the count; a queued node (the
 * part already assigned, n - val); a finished future's weft_permit. Every transfer happens in
 * one place (a CAS on the count, or under the lock), so a permit is never lost or doubled:
 * dropping a queued future hands its assigned part to the next waiters, dropping a future
 * that was assigned in full but never polled again releases all n.
 */
#include "sync/sync.h"

enum { ACQ_IDLE = 0, ACQ_INIT, ACQ_QUEUED, ACQ_DONE };

struct acquire {
    weft_semaphore *sem;
    uint32_t n;               /* permits requested */
    uint32_t step;            /* ACQ_*; zero-filled = IDLE */
    struct weft__waiter node; /* val: permits still needed while queued */
};
_Static_assert(sizeof(struct acquire) <= sizeof(weft_semaphore_acquire), "acquire fits");
_Static_assert(_Alignof(struct acquire) <= _Alignof(weft_semaphore_acquire), "acquire aligns");

struct permit {
    weft_semaphore *sem;
    uint64_t n;
};
_Static_assert(sizeof(struct permit) == sizeof(weft_permit), "permit fits");

#define MAX_PERMITS ((uint64_t)WEFT_SEMAPHORE_MAX_PERMITS)

static inline void permit_set(weft_permit *p, weft_semaphore *sem, uint64_t n)
{
    struct permit *pp = (struct permit *)p;
    pp->sem = n ? sem : NULL;
    pp->n = n;
}

/* ------------------------------------------------------------------ create, inspect */

void weft__semaphore_init(struct weft_semaphore *s, uint64_t permits)
{
    atomic_init(&s->state, permits << SEM_SHIFT);
    weft__waitlist_init(&s->wl);
}

int weft_semaphore_new(weft_semaphore **out, size_t permits)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (permits > MAX_PERMITS)
        return -EINVAL;
    weft_semaphore *s = weft__alloc(sizeof *s);
    if (!s)
        return -ENOMEM;
    weft__semaphore_init(s, permits);
    *out = s;
    return 0;
}

void weft_semaphore_free(weft_semaphore *sem)
{
    if (sem)
        WEFT_ASSERT(sem->wl.head == NULL); /* freeing with queued acquirers: a use-after-free */
    weft__free(sem);
}

size_t weft_semaphore_available(const weft_semaphore *sem)
{
    if (!sem)
        return 0;
    return (size_t)(ld_acquire(&((weft_semaphore *)sem)->state) >> SEM_SHIFT);
}

bool weft_semaphore_is_closed(const weft_semaphore *sem)
{
    return sem && (ld_acquire(&((weft_semaphore *)sem)->state) & SEM_CLOSED);
}

/* ------------------------------------------------------------------ release */

/* Assign `rem` permits to the head waiters, then put the rest back. Lock held on entry and
 * on return; it is dropped and retaken whenever the wake list fills. */
static void assign_locked(weft_semaphore *s, uint64_t rem, struct weft__wakelist *wl)
{
    struct weft__waiter *w;
    while (rem && (w = s->wl.head)) {
        uint64_t need = ld_relaxed(&w->val);
        if (rem < need) {
            st_relaxed(&w->val, need - rem);
            return; /* the list stays non-empty, WAITERS stays set */
        }
        rem -= need;
        weft__waitlist_remove(&s->wl, w);
        weft__wakelist_take(wl, &w->waker);
        st_release(&w->val, 0); /* last touch: the owner may finish and free the node now */
        weft__wakelist_flush_if_full(wl, &s->wl);
    }
    if (s->wl.head)
        return;
    uint64_t cur = ld_relaxed(&s->state);
    while (!atomic_compare_exchange_weak_explicit(&s->state, &cur,
                                                  (cur & ~SEM_WAITERS) + (rem << SEM_SHIFT),
                                                  memory_order_release, memory_order_relaxed))
        ;
}

static void release(weft_semaphore *s, uint64_t n)
{
    uint64_t cur = ld_relaxed(&s->state);
    while (!(cur & SEM_WAITERS)) {
        if (atomic_compare_exchange_weak_explicit(&s->state, &cur, cur + (n << SEM_SHIFT),
                                                  memory_order_release, memory_order_relaxed))
            return;
    }
    struct weft__wakelist wl;
    weft__wakelist_init(&wl);
    weft__waitlist_lock(&s->wl);
    assign_locked(s, n, &wl);
    weft__waitlist_unlock(&s->wl);
    weft__wakelist_wake(&wl);
}

int weft_semaphore_add_permits(weft_semaphore *sem, size_t n)
{
    if (!sem || n > MAX_PERMITS || (ld_relaxed(&sem->state) >> SEM_SHIFT) + n > MAX_PERMITS)
        return -EINVAL;
    if (n)
        release(sem, n);
    return 0;
}

void weft_permit_release(weft_permit *permit)
{
    struct permit *p = (struct permit *)permit;
    if (!p || !p->sem)
        return;
    weft_semaphore *s = p->sem;
    uint64_t n = p->n;
    p->sem = NULL;
    p->n = 0;
    if (n)
        release(s, n);
}

size_t weft_permit_forget(weft_permit *permit)
{
    struct permit *p = (struct permit *)permit;
    if (!p)
        return 0;
    size_t n = p->sem ? (size_t)p->n : 0;
    p->sem = NULL;
    p->n = 0;
    return n;
}

size_t weft_permit_count(const weft_permit *permit)
{
    const struct permit *p = (const struct permit *)permit;
    return p && p->sem ? (size_t)p->n : 0;
}

/* ------------------------------------------------------------------ close */

void weft_semaphore_close(weft_semaphore *sem)
{
    if (!sem)
        return;
    atomic_fetch_or_explicit(&sem->state, SEM_CLOSED, memory_order_acq_rel);
    struct weft__wakelist wl;
    weft__wakelist_init(&wl);
    weft__waitlist_lock(&sem->wl);
    /* val stays non-zero: "unlinked with a need left" is how the owner sees the close */
    weft__waitlist_take_all(&sem->wl, &wl);
    atomic_fetch_and_explicit(&sem->state, ~SEM_WAITERS, memory_order_release);
    weft__waitlist_unlock(&sem->wl);
    weft__wakelist_wake(&wl);
}

/* ------------------------------------------------------------------ acquire */

/* One CAS while nobody waits. Returns 1 taken, 0 not enough / waiters, -EPIPE closed. */
static inline int take_fast(weft_semaphore *s, uint64_t n)
{
    uint64_t cur = ld_relaxed(&s->state);
    for (;;) {
        if (WEFT_UNLIKELY(cur & SEM_CLOSED))
            return -EPIPE;
        if ((cur & SEM_WAITERS) || (cur >> SEM_SHIFT) < n)
            return 0;
        if (atomic_compare_exchange_weak_explicit(&s->state, &cur, cur - (n << SEM_SHIFT),
                                                  memory_order_acquire, memory_order_relaxed))
            return 1;
    }
}

int weft_semaphore_try_acquire_many(weft_semaphore *sem, uint32_t n, weft_permit *permit)
{
    if (!sem || !permit) {
        if (permit)
            permit_set(permit, NULL, 0);
        return -EINVAL;
    }
    if (n == 0) {
        permit_set(permit, NULL, 0);
        return 0;
    }
    int r = take_fast(sem, n);
    if (r == 1) {
        permit_set(permit, sem, n);
        return 0;
    }
    permit_set(permit, NULL, 0);
    return r < 0 ? r : -EAGAIN;
}

int weft_semaphore_try_acquire(weft_semaphore *sem, weft_permit *permit)
{
    return weft_semaphore_try_acquire_many(sem, 1, permit);
}

void weft_semaphore_acquire_many_init(weft_semaphore_acquire *acq, weft_semaphore *sem,
                                      uint32_t n)
{
    struct acquire *a = (struct acquire *)acq;
    if (!a)
        return;
    a->sem = sem;
    a->n = n;
    a->step = ACQ_INIT;
    a->node.prev = a->node.next = NULL;
    a->node.waker.data = NULL;
    a->node.waker.vtable = NULL;
    atomic_init(&a->node.val, 0);
    a->node.aux = 0;
    a->node.queued = 0;
}

void weft_semaphore_acquire_init(weft_semaphore_acquire *acq, weft_semaphore *sem)
{
    weft_semaphore_acquire_many_init(acq, sem, 1);
}

static weft_poll finish(struct acquire *a, weft_permit *permit, int *result, uint64_t n, int err)
{
    a->step = ACQ_DONE;
    permit_set(permit, a->sem, n);
    *result = err;
    return WEFT_READY;
}

/* Lock, take what is there, queue for the rest. */
static weft_poll acquire_slow(struct acquire *a, weft_cx *cx, weft_permit *permit, int *result)
{
    weft_semaphore *s = a->sem;
    uint64_t n = a->n, took;

    weft__waitlist_lock(&s->wl);
    uint64_t cur = ld_relaxed(&s->state);
    for (;;) {
        if (cur & SEM_CLOSED) {
            weft__waitlist_unlock(&s->wl);
            return finish(a, permit, result, 0, -EPIPE);
        }
        uint64_t avail = (cur & SEM_WAITERS) ? 0 : cur >> SEM_SHIFT;
        if (avail >= n) { /* released while we were getting the lock */
            if (atomic_compare_exchange_weak_explicit(&s->state, &cur, cur - (n << SEM_SHIFT),
                                                      memory_order_acquire,
                                                      memory_order_relaxed)) {
                weft__waitlist_unlock(&s->wl);
                return finish(a, permit, result, n, 0);
            }
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&s->state, &cur,
                                                  (cur & SEM_CLOSED) | SEM_WAITERS,
                                                  memory_order_acquire, memory_order_relaxed)) {
            took = avail;
            break;
        }
    }
    st_relaxed(&a->node.val, n - took);
    weft_waker_clone(&cx->waker, &a->node.waker);
    weft__waitlist_push(&s->wl, &a->node);
    a->step = ACQ_QUEUED;
    weft__waitlist_unlock(&s->wl);
    return WEFT_PENDING;
}

static weft_poll acquire_queued(struct acquire *a, weft_cx *cx, weft_permit *permit, int *result)
{
    weft_semaphore *s = a->sem;
    if (ld_acquire(&a->node.val) == 0) /* assigned in full and unlinked by a release */
        return finish(a, permit, result, a->n, 0);

    weft__waitlist_lock(&s->wl);
    uint64_t need = ld_relaxed(&a->node.val);
    if (need == 0) {
        weft__waitlist_unlock(&s->wl);
        return finish(a, permit, result, a->n, 0);
    }
    if (!a->node.queued) { /* closed while queued: give back what we had collected */
        struct weft__wakelist wl;
        weft__wakelist_init(&wl);
        assign_locked(s, a->n - need, &wl);
        weft__waitlist_unlock(&s->wl);
        weft__wakelist_wake(&wl);
        return finish(a, permit, result, 0, -EPIPE);
    }
    weft__waiter_set_waker(&a->node, &cx->waker);
    weft__waitlist_unlock(&s->wl);
    return WEFT_PENDING;
}

weft_poll weft_semaphore_acquire_poll(weft_semaphore_acquire *acq, weft_cx *cx,
                                      weft_permit *permit, int *result)
{
    struct acquire *a = (struct acquire *)acq;
    int dummy;

    if (!result)
        result = &dummy;
    if (WEFT_UNLIKELY(!a || !cx || !permit)) {
        if (permit)
            permit_set(permit, NULL, 0);
        *result = -EINVAL;
        return WEFT_READY;
    }
    if (WEFT_LIKELY(a->step == ACQ_INIT)) {
        if (WEFT_UNLIKELY(!a->sem))
            return finish(a, permit, result, 0, -EINVAL);
        if (a->n == 0)
            return finish(a, permit, result, 0, 0);
        if (!weft_cx_budget_take(cx))
            return WEFT_PENDING;
        int r = take_fast(a->sem, a->n);
        if (WEFT_LIKELY(r == 1))
            return finish(a, permit, result, a->n, 0);
        if (r < 0)
            return finish(a, permit, result, 0, r);
        return acquire_slow(a, cx, permit, result);
    }
    if (a->step == ACQ_QUEUED)
        return acquire_queued(a, cx, permit, result);
    permit_set(permit, NULL, 0); /* never initialised, or polled after READY */
    *result = -EINVAL;
    return WEFT_READY;
}

void weft_semaphore_acquire_drop(weft_semaphore_acquire *acq)
{
    struct acquire *a = (struct acquire *)acq;
    if (!a || a->step == ACQ_IDLE)
        return;
    if (a->step != ACQ_QUEUED) {
        a->step = ACQ_DONE;
        return;
    }
    weft_semaphore *s = a->sem;
    a->step = ACQ_DONE;
    if (ld_acquire(&a->node.val) == 0) { /* assigned in full, never collected */
        release(s, a->n);
        return;
    }
    struct weft__wakelist wl;
    weft_waker old = {0};
    weft__wakelist_init(&wl);
    weft__waitlist_lock(&s->wl);
    uint64_t need = ld_relaxed(&a->node.val);
    if (a->node.queued) {
        weft__waitlist_remove(&s->wl, &a->node);
        old = a->node.waker;
        a->node.waker.vtable = NULL;
    }
    /* Whatever was assigned to us (all of it, part, or nothing) goes to the next waiters;
     * with the list now empty this also clears WAITERS. */
    assign_locked(s, a->n - need, &wl);
    weft__waitlist_unlock(&s->wl);
    weft__wakelist_wake(&wl);
    weft_waker_drop(&old);
}

/* ------------------------------------------------------------------ mutex */

struct weft_mutex {
    struct weft_semaphore sem;
};

int weft_mutex_new(weft_mutex **out)
{
    if (!out)
        return -EINVAL;
    weft_mutex *m = weft__alloc(sizeof *m);
    *out = m;
    if (!m)
        return -ENOMEM;
    weft__semaphore_init(&m->sem, 1);
    return 0;
}

void weft_mutex_free(weft_mutex *m)
{
    if (m)
        WEFT_ASSERT(m->sem.wl.head == NULL);
    weft__free(m);
}

int weft_mutex_try_lock(weft_mutex *m, weft_permit *guard)
{
    return weft_semaphore_try_acquire_many(m ? &m->sem : NULL, 1, guard);
}

void weft_mutex_lock_init(weft_mutex_lock *f, weft_mutex *m)
{
    weft_semaphore_acquire_many_init(f, m ? &m->sem : NULL, 1);
}

weft_poll weft_mutex_lock_poll(weft_mutex_lock *f, weft_cx *cx, weft_permit *guard, int *result)
{
    return weft_semaphore_acquire_poll(f, cx, guard, result);
}

void weft_mutex_lock_drop(weft_mutex_lock *f)
{
    weft_semaphore_acquire_drop(f);
}

/* ------------------------------------------------------------------ rwlock */

struct weft_rwlock {
    struct weft_semaphore sem; /* max permits: a reader takes 1, a writer all */
    uint32_t max;
};

int weft_rwlock_new(weft_rwlock **out, uint32_t max_readers)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (max_readers > WEFT_RWLOCK_MAX_READERS)
        return -EINVAL;
    if (max_readers == 0)
        max_readers = WEFT_RWLOCK_MAX_READERS;
    weft_rwlock *rw = weft__alloc(sizeof *rw);
    if (!rw)
        return -ENOMEM;
    weft__semaphore_init(&rw->sem, max_readers);
    rw->max = max_readers;
    *out = rw;
    return 0;
}

void weft_rwlock_free(weft_rwlock *rw)
{
    if (rw)
        WEFT_ASSERT(rw->sem.wl.head == NULL);
    weft__free(rw);
}

int weft_rwlock_try_read(weft_rwlock *rw, weft_permit *guard)
{
    return weft_semaphore_try_acquire_many(rw ? &rw->sem : NULL, 1, guard);
}

int weft_rwlock_try_write(weft_rwlock *rw, weft_permit *guard)
{
    return weft_semaphore_try_acquire_many(rw ? &rw->sem : NULL, rw ? rw->max : 1, guard);
}

void weft_rwlock_read_init(weft_rwlock_lock *f, weft_rwlock *rw)
{
    weft_semaphore_acquire_many_init(f, rw ? &rw->sem : NULL, 1);
}

void weft_rwlock_write_init(weft_rwlock_lock *f, weft_rwlock *rw)
{
    weft_semaphore_acquire_many_init(f, rw ? &rw->sem : NULL, rw ? rw->max : 1);
}

weft_poll weft_rwlock_lock_poll(weft_rwlock_lock *f, weft_cx *cx, weft_permit *guard,
                                int *result)
{
    return weft_semaphore_acquire_poll(f, cx, guard, result);
}

void weft_rwlock_lock_drop(weft_rwlock_lock *f)
{
    weft_semaphore_acquire_drop(f);
}
