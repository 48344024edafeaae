/* Notify (Tokio's semantics) and Barrier, both on the shared wait list.
 *
 * Notify state word: calls << 2 | EMPTY/WAITING/NOTIFIED.
 *   EMPTY     nobody waits, no permit stored.
 *   WAITING   the list is not empty. Entered and left only under the lock.
 *   NOTIFIED  one permit stored by notify_one; a wait consumes it with one CAS.
 *   calls     how many notify_waiters() happened. A wait records it at init (node.aux); a wait
 *             that sees it changed is done - this is how notify_waiters reaches waits that
 *             were created but not polled yet.
 * A queued wait's node.val is 0 while it waits, NOTIFY_ONE or NOTIFY_ALL once picked (stored
 * last, with release, by the notifier holding the lock).
 *
 * notify_waiters drains only the nodes queued before its call: it bumps `calls` under the
 * lock and pops while the head's recorded epoch is older, so waits that queue while it has
 * dropped the lock to run a batch of wakers are not woken by mistake.
 *
 * Cancellation: a wait dropped after notify_one picked it but before it saw that passes the
 * notification on (to the next waiter, or as the stored permit): no notify_one is lost.
 */
#include <string.h>

#include "sync/sync.h"

/* ------------------------------------------------------------------ notify */

#define N_EMPTY 0ull
#define N_WAITING 1ull
#define N_NOTIFIED 2ull
#define N_MASK 3ull
#define N_CALL 4ull /* one notify_waiters call */

#define NOTIFY_ONE 1
#define NOTIFY_ALL 2

struct weft_notify {
    _Atomic uint64_t state;
    struct weft__waitlist wl; /* node.aux: the calls count the wait was created under */
};

enum { W_IDLE = 0, W_INIT, W_QUEUED, W_DONE };

struct notify_wait {
    weft_notify *n;
    uint32_t step;
    uint32_t pad;
    uint64_t epoch; /* calls at init */
    struct weft__waiter node;
};
_Static_assert(sizeof(struct notify_wait) <= sizeof(weft_notify_wait), "notify wait fits");

int weft_notify_new(weft_notify **out)
{
    if (!out)
        return -EINVAL;
    weft_notify *n = weft__alloc(sizeof *n);
    *out = n;
    if (!n)
        return -ENOMEM;
    atomic_init(&n->state, 0);
    weft__waitlist_init(&n->wl);
    return 0;
}

void weft_notify_free(weft_notify *n)
{
    if (n)
        WEFT_ASSERT(n->wl.head == NULL);
    weft__free(n);
}

/* Pick the head waiter for a notify_one, or store the permit. Lock held. Returns the waker to
 * wake after unlocking (empty if none). */
static weft_waker notify_one_locked(weft_notify *n)
{
    weft_waker wk = {0};
    uint64_t s = ld_relaxed(&n->state);
    struct weft__waiter *w = n->wl.head;
    if (!w) {
        /* EMPTY or NOTIFIED: store the permit (CAS: a wait may consume one concurrently) */
        while ((s & N_MASK) != N_NOTIFIED &&
               !atomic_compare_exchange_weak_explicit(&n->state, &s, (s & ~N_MASK) | N_NOTIFIED,
                                                      memory_order_release,
                                                      memory_order_relaxed))
            ;
        return wk;
    }
    weft__waitlist_remove(&n->wl, w);
    wk = w->waker;
    w->waker.vtable = NULL;
    st_release(&w->val, NOTIFY_ONE);
    if (!n->wl.head) /* WAITING -> EMPTY; only lock holders change a WAITING state */
        atomic_store_explicit(&n->state, (s & ~N_MASK) | N_EMPTY, memory_order_release);
    return wk;
}

void weft_notify_one(weft_notify *n)
{
    if (!n)
        return;
    uint64_t s = ld_relaxed(&n->state);
    for (;;) {
        uint64_t st = s & N_MASK;
        if (st == N_NOTIFIED)
            return;
        if (st == N_WAITING)
            break;
        if (atomic_compare_exchange_weak_explicit(&n->state, &s, (s & ~N_MASK) | N_NOTIFIED,
                                                  memory_order_release, memory_order_relaxed))
            return;
    }
    weft__waitlist_lock(&n->wl);
    weft_waker wk = notify_one_locked(n);
    weft__waitlist_unlock(&n->wl);
    weft_waker_wake(&wk);
}

void weft_notify_waiters(weft_notify *n)
{
    if (!n)
        return;
    struct weft__wakelist wl;
    weft__wakelist_init(&wl);
    weft__waitlist_lock(&n->wl);
    uint64_t s = ld_relaxed(&n->state), ns;
    do {
        ns = s + N_CALL;
        if ((s & N_MASK) == N_WAITING)
            ns = (ns & ~N_MASK) | N_EMPTY;
    } while (!atomic_compare_exchange_weak_explicit(&n->state, &s, ns, memory_order_acq_rel,
                                                    memory_order_relaxed));
    uint64_t calls = ns >> 2;
    struct weft__waiter *w;
    /* Older than this call: queued before it (a later call may have drained some already). */
    while ((w = n->wl.head) && (int64_t)(w->aux - calls) < 0) {
        weft__waitlist_remove(&n->wl, w);
        weft__wakelist_take(&wl, &w->waker);
        st_release(&w->val, NOTIFY_ALL);
        weft__wakelist_flush_if_full(&wl, &n->wl);
    }
    /* Waits that queued meanwhile set WAITING again; otherwise leave it EMPTY/NOTIFIED. */
    weft__waitlist_unlock(&n->wl);
    weft__wakelist_wake(&wl);
}

void weft_notify_wait_init(weft_notify_wait *f, weft_notify *n)
{
    struct notify_wait *w = (struct notify_wait *)f;
    if (!w)
        return;
    memset(w, 0, sizeof *w);
    w->n = n;
    w->step = W_INIT;
    w->epoch = n ? ld_acquire(&n->state) >> 2 : 0;
}

/* Consume a stored permit. Returns true if taken. */
static bool take_permit(weft_notify *n, uint64_t *sp)
{
    uint64_t s = *sp;
    while ((s & N_MASK) == N_NOTIFIED) {
        if (atomic_compare_exchange_weak_explicit(&n->state, &s, (s & ~N_MASK) | N_EMPTY,
                                                  memory_order_acquire, memory_order_relaxed))
            return true;
    }
    *sp = s;
    return false;
}

weft_poll weft_notify_wait_poll(weft_notify_wait *f, weft_cx *cx)
{
    struct notify_wait *w = (struct notify_wait *)f;
    if (WEFT_UNLIKELY(!w || !cx || !w->n || w->step == W_IDLE))
        return WEFT_FAIL(-EINVAL);
    weft_notify *n = w->n;

    if (w->step == W_INIT) {
        uint64_t s = ld_acquire(&n->state);
        if ((s >> 2) != w->epoch || take_permit(n, &s)) {
            w->step = W_DONE;
            return WEFT_READY;
        }
        weft__waitlist_lock(&n->wl);
        s = ld_relaxed(&n->state);
        for (;;) {
            if ((s >> 2) != w->epoch || take_permit(n, &s)) {
                weft__waitlist_unlock(&n->wl);
                w->step = W_DONE;
                return WEFT_READY;
            }
            if ((s & N_MASK) == N_WAITING)
                break;
            if (atomic_compare_exchange_weak_explicit(&n->state, &s, (s & ~N_MASK) | N_WAITING,
                                                      memory_order_acq_rel, memory_order_relaxed))
                break;
        }
        st_relaxed(&w->node.val, 0);
        w->node.aux = w->epoch;
        weft_waker_clone(&cx->waker, &w->node.waker);
        weft__waitlist_push(&n->wl, &w->node);
        w->step = W_QUEUED;
        weft__waitlist_unlock(&n->wl);
        return WEFT_PENDING;
    }
    if (w->step == W_QUEUED) {
        if (ld_acquire(&w->node.val) != 0) {
            w->step = W_DONE;
            return WEFT_READY;
        }
        weft__waitlist_lock(&n->wl);
        if (ld_relaxed(&w->node.val) != 0) {
            weft__waitlist_unlock(&n->wl);
            w->step = W_DONE;
            return WEFT_READY;
        }
        weft__waiter_set_waker(&w->node, &cx->waker);
        weft__waitlist_unlock(&n->wl);
        return WEFT_PENDING;
    }
    return WEFT_READY; /* W_DONE: stays ready */
}

void weft_notify_wait_drop(weft_notify_wait *f)
{
    struct notify_wait *w = (struct notify_wait *)f;
    if (!w || w->step != W_QUEUED) {
        if (w && w->step != W_IDLE)
            w->step = W_DONE;
        return;
    }
    weft_notify *n = w->n;
    w->step = W_DONE;
    weft_waker old = {0}, fwd = {0};
    uint64_t v = ld_acquire(&w->node.val);
    if (v == NOTIFY_ALL)
        return;
    weft__waitlist_lock(&n->wl);
    v = ld_relaxed(&w->node.val);
    if (w->node.queued) {
        weft__waitlist_remove(&n->wl, &w->node);
        old = w->node.waker;
        w->node.waker.vtable = NULL;
        if (!n->wl.head) {
            uint64_t s = ld_relaxed(&n->state);
            if ((s & N_MASK) == N_WAITING)
                atomic_store_explicit(&n->state, (s & ~N_MASK) | N_EMPTY, memory_order_release);
        }
    } else if (v == NOTIFY_ONE) {
        fwd = notify_one_locked(n); /* picked but never told: pass it on */
    }
    weft__waitlist_unlock(&n->wl);
    weft_waker_wake(&fwd);
    weft_waker_drop(&old);
}

/* ------------------------------------------------------------------ barrier */

struct weft_barrier {
    struct weft__waitlist wl; /* node.aux: the generation the wait arrived in */
    uint32_t n;               /* immutable */
    uint32_t arrived;         /* guarded by wl's lock */
    uint64_t generation;      /* guarded by wl's lock */
};

struct barrier_wait {
    weft_barrier *b;
    uint32_t step;
    uint32_t pad;
    struct weft__waiter node;
};
_Static_assert(sizeof(struct barrier_wait) <= sizeof(weft_barrier_wait), "barrier wait fits");

int weft_barrier_new(weft_barrier **out, uint32_t n)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (n == 0)
        return -EINVAL;
    weft_barrier *b = weft__alloc(sizeof *b);
    if (!b)
        return -ENOMEM;
    weft__waitlist_init(&b->wl);
    b->n = n;
    b->arrived = 0;
    b->generation = 0;
    *out = b;
    return 0;
}

void weft_barrier_free(weft_barrier *b)
{
    if (b)
        WEFT_ASSERT(b->wl.head == NULL);
    weft__free(b);
}

void weft_barrier_wait_init(weft_barrier_wait *f, weft_barrier *b)
{
    struct barrier_wait *w = (struct barrier_wait *)f;
    if (!w)
        return;
    memset(w, 0, sizeof *w);
    w->b = b;
    w->step = W_INIT;
}

weft_poll weft_barrier_wait_poll(weft_barrier_wait *f, weft_cx *cx, bool *is_leader)
{
    struct barrier_wait *w = (struct barrier_wait *)f;
    bool dummy;
    if (!is_leader)
        is_leader = &dummy;
    if (WEFT_UNLIKELY(!w || !cx || !w->b || w->step == W_IDLE))
        return WEFT_FAIL(-EINVAL);
    weft_barrier *b = w->b;

    if (w->step == W_INIT) {
        weft__waitlist_lock(&b->wl);
        uint64_t gen = b->generation;
        if (++b->arrived < b->n) {
            st_relaxed(&w->node.val, 0);
            w->node.aux = gen;
            weft_waker_clone(&cx->waker, &w->node.waker);
            weft__waitlist_push(&b->wl, &w->node);
            w->step = W_QUEUED;
            weft__waitlist_unlock(&b->wl);
            return WEFT_PENDING;
        }
        /* The last arrival: release this round. */
        b->arrived = 0;
        b->generation = gen + 1;
        struct weft__wakelist wl;
        struct weft__waiter *x;
        weft__wakelist_init(&wl);
        while ((x = b->wl.head) && x->aux == gen) {
            weft__waitlist_remove(&b->wl, x);
            weft__wakelist_take(&wl, &x->waker);
            st_release(&x->val, 1);
            weft__wakelist_flush_if_full(&wl, &b->wl);
        }
        weft__waitlist_unlock(&b->wl);
        weft__wakelist_wake(&wl);
        w->step = W_DONE;
        *is_leader = true;
        return WEFT_READY;
    }
    if (w->step == W_QUEUED) {
        if (ld_acquire(&w->node.val) == 0) {
            weft__waitlist_lock(&b->wl);
            if (ld_relaxed(&w->node.val) == 0) {
                weft__waiter_set_waker(&w->node, &cx->waker);
                weft__waitlist_unlock(&b->wl);
                return WEFT_PENDING;
            }
            weft__waitlist_unlock(&b->wl);
        }
        w->step = W_DONE;
        *is_leader = false;
        return WEFT_READY;
    }
    *is_leader = false;
    return WEFT_READY;
}

void weft_barrier_wait_drop(weft_barrier_wait *f)
{
    struct barrier_wait *w = (struct barrier_wait *)f;
    if (!w || w->step != W_QUEUED) {
        if (w && w->step != W_IDLE)
            w->step = W_DONE;
        return;
    }
    weft_barrier *b = w->b;
    weft_waker old = {0};
    w->step = W_DONE;
    if (ld_acquire(&w->node.val) != 0)
        return;
    weft__waitlist_lock(&b->wl);
    if (w->node.queued) { /* the arrival stays counted */
        weft__waitlist_remove(&b->wl, &w->node);
        old = w->node.waker;
        w->node.waker.vtable = NULL;
    }
    weft__waitlist_unlock(&b->wl);
    weft_waker_drop(&old);
}
