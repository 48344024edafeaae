/* src/sync/waitlist.h - the intrusive waiter list every sync primitive shares.
 *
 * Protocol (Tokio's batch_semaphore + WakeList, adapted):
 *
 *  - A waiter (struct weft__waiter) is embedded in the caller's future state: waiting never
 *    allocates. The future owns the node; the list borrows it while `queued` is set.
 *  - One small lock per list (struct weft__waitlist.lock: 0 free, 1 held, 2 held with
 *    sleepers) guards the links, `queued`, the stored waker and whatever per-primitive fields
 *    the owner puts under it. Uncontended it is one CAS to lock and one exchange to unlock; a
 *    contended locker spins briefly, then sleeps on a futex.
 *  - Whoever completes a waiter (a release, a notify, a close) does, under the lock: unlink it,
 *    move its waker out into a wake list, and store its outcome into `val` with release order
 *    LAST. After that store the waiter's owner may see the outcome without taking the lock,
 *    return READY and free the node: the completer touches the node no more.
 *  - Wakers are never called under the lock: they are collected (at most WEFT__WAKE_BATCH at a
 *    time) and woken after unlocking. A completer that fills the batch unlocks, wakes, relocks
 *    and goes on, so one call can wake any number of waiters with bounded stack.
 *  - The owner reads `val` with acquire order without the lock (fast check); to change its
 *    stored waker or to leave the list (its future was dropped) it takes the lock.
 */
#ifndef WEFT_SYNC_WAITLIST_H
#define WEFT_SYNC_WAITLIST_H

#include "core/core.h"
#include "weft/base.h"

#define WEFT__WAKE_BATCH 32

struct weft__waiter {
    struct weft__waiter *prev, *next; /* guarded by the list lock */
    weft_waker waker;                 /* guarded by the list lock; the completer moves it out */
    _Atomic uint64_t val;             /* outcome / per-primitive counter; see the owner */
    uint64_t aux;                     /* per-primitive data (epoch, reserved slot...) */
    uint8_t queued;                   /* guarded by the list lock: linked in the list */
};

struct weft__waitlist {
    _Atomic uint32_t lock;            /* 0 free, 1 held, 2 held and somebody sleeps */
    struct weft__waiter *head, *tail; /* guarded by lock; FIFO: push at tail, pop at head */
};

/* Out of line (waitlist.c): spin, then sleep on the futex. */
void weft__waitlist_lock_slow(struct weft__waitlist *l);
void weft__waitlist_unlock_slow(struct weft__waitlist *l);

static inline void weft__waitlist_init(struct weft__waitlist *l)
{
    atomic_init(&l->lock, 0);
    l->head = l->tail = NULL;
}

static inline void weft__waitlist_lock(struct weft__waitlist *l)
{
    uint32_t z = 0;
    if (WEFT_LIKELY(atomic_compare_exchange_weak_explicit(&l->lock, &z, 1, memory_order_acquire,
                                                          memory_order_relaxed)))
        return;
    weft__waitlist_lock_slow(l);
}

static inline void weft__waitlist_unlock(struct weft__waitlist *l)
{
    if (WEFT_UNLIKELY(atomic_exchange_explicit(&l->lock, 0, memory_order_release) == 2))
        weft__waitlist_unlock_slow(l);
}

static inline bool weft__waitlist_empty(const struct weft__waitlist *l)
{
    return l->head == NULL;
}

/* Link w at the tail. Lock held; w not queued. */
static inline void weft__waitlist_push(struct weft__waitlist *l, struct weft__waiter *w)
{
    w->next = NULL;
    w->prev = l->tail;
    if (l->tail)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
    w->queued = 1;
}

/* Unlink w. Lock held; w queued in l. */
static inline void weft__waitlist_remove(struct weft__waitlist *l, struct weft__waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        l->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        l->tail = w->prev;
    w->prev = w->next = NULL;
    w->queued = 0;
}

/* Unlink and return the head, or NULL. Lock held. */
static inline struct weft__waiter *weft__waitlist_pop(struct weft__waitlist *l)
{
    struct weft__waiter *w = l->head;
    if (w)
        weft__waitlist_remove(l, w);
    return w;
}

/* Store cx's waker in w unless it already wakes the same thing. Lock held (or w private). The
 * replaced waker is dropped here: dropping a waker only releases a reference, it never runs
 * application code, so it is allowed under the lock. */
static inline void weft__waiter_set_waker(struct weft__waiter *w, const weft_waker *cx_waker)
{
    weft_waker_set(&w->waker, cx_waker);
}

/* ------------------------------------------------------------------ wake list */

/* Wakers collected under a lock, woken after unlocking. */
struct weft__wakelist {
    unsigned n;
    weft_waker w[WEFT__WAKE_BATCH];
};

static inline void weft__wakelist_init(struct weft__wakelist *wl)
{
    wl->n = 0;
}

static inline bool weft__wakelist_full(const struct weft__wakelist *wl)
{
    return wl->n == WEFT__WAKE_BATCH;
}

/* Move *src (may be empty) into the list; *src becomes empty. The list must not be full. */
static inline void weft__wakelist_take(struct weft__wakelist *wl, weft_waker *src)
{
    if (src->vtable) {
        wl->w[wl->n++] = *src;
        src->vtable = NULL;
        src->data = NULL;
    }
}

/* Wake (and release) everything collected. Call with no lock held. */
static inline void weft__wakelist_wake(struct weft__wakelist *wl)
{
    for (unsigned i = 0; i < wl->n; i++)
        weft_waker_wake(&wl->w[i]);
    wl->n = 0;
}

/* With l locked: once the batch is full, unlock, wake it and lock again, so a completer can
 * wake any number of waiters with bounded stack. */
static inline void weft__wakelist_flush_if_full(struct weft__wakelist *wl,
                                                struct weft__waitlist *l)
{
    if (weft__wakelist_full(wl)) {
        weft__waitlist_unlock(l);
        weft__wakelist_wake(wl);
        weft__waitlist_lock(l);
    }
}

/* Unlink every waiter of l and collect its waker (a close: the owners see it through the
 * primitive's own state, not through `val`). Lock held; dropped and retaken per batch. */
static inline void weft__waitlist_take_all(struct weft__waitlist *l, struct weft__wakelist *wl)
{
    struct weft__waiter *w;
    while ((w = weft__waitlist_pop(l))) {
        weft__wakelist_take(wl, &w->waker);
        weft__wakelist_flush_if_full(wl, l);
    }
}

#endif
