/* watch: one value, replaced by a sender, observed by any number of receivers.
 *
 * Guarded by the wait list's lock: the value, its version (bumped by every send) and the
 * counts. A receiver remembers the version it has seen; changed() is ready as soon as the
 * version differs (intermediate values are skipped: only the latest is kept). Receivers park
 * on the wait list with the node inside their handle; a send or the sender's drop unlinks them
 * all and wakes them after unlocking, 32 at a time.
 *
 * Lifetime: `refs` counts the sender and every receiver; each drop releases its reference
 * after its last use of the lock, and the last one frees the block.
 */
#include <string.h>

#include "sync/sync.h"

#define MAX_ELEM (64u << 10)

struct wshared {
    struct weft__waitlist wl; /* the lock guards every field below; list = waiting receivers */
    size_t elem_size;         /* immutable */
    _Atomic size_t refs;      /* handles alive (not under the lock) */
    uint64_t version;
    bool tx_alive;
    size_t rx_count;
    unsigned char value[];
};

struct weft_watch_receiver {
    struct wshared *sh;
    uint64_t seen;            /* guarded by sh's lock */
    struct weft__waiter node; /* queued while waiting for a change */
};

static inline struct wshared *shared_of(weft_watch_sender *tx)
{
    return (struct wshared *)tx;
}

static weft_watch_receiver *receiver_new(struct wshared *sh)
{
    weft_watch_receiver *rx = weft__calloc(1, sizeof *rx);
    if (rx)
        rx->sh = sh;
    return rx;
}

/* Release one handle's reference; the last frees the block. Call with no lock held. */
static void shared_put(struct wshared *sh)
{
    if (atomic_fetch_sub_explicit(&sh->refs, 1, memory_order_acq_rel) != 1)
        return;
    WEFT_ASSERT(sh->wl.head == NULL);
    weft__free(sh);
}

int weft_watch_new(weft_watch_sender **tx, weft_watch_receiver **rx, size_t elem_size,
                   const void *initial)
{
    if (!tx || !rx) {
        if (tx)
            *tx = NULL;
        if (rx)
            *rx = NULL;
        return -EINVAL;
    }
    *tx = NULL;
    *rx = NULL;
    if (elem_size == 0 || elem_size > MAX_ELEM)
        return -EINVAL;
    struct wshared *sh = weft__calloc(1, sizeof *sh + elem_size);
    weft_watch_receiver *r = sh ? receiver_new(sh) : NULL;
    if (!r) {
        weft__free(sh);
        return -ENOMEM;
    }
    weft__waitlist_init(&sh->wl);
    sh->elem_size = elem_size;
    sh->tx_alive = true;
    sh->rx_count = 1;
    atomic_init(&sh->refs, 2);
    if (initial)
        memcpy(sh->value, initial, elem_size);
    *tx = (weft_watch_sender *)sh;
    *rx = r;
    return 0;
}

int weft_watch_send(weft_watch_sender *tx, const void *value)
{
    struct wshared *sh = shared_of(tx);
    if (!sh || !value)
        return -EINVAL;
    struct weft__wakelist wl;
    weft__wakelist_init(&wl);
    weft__waitlist_lock(&sh->wl);
    memcpy(sh->value, value, sh->elem_size);
    sh->version++;
    bool any = sh->rx_count != 0;
    weft__waitlist_take_all(&sh->wl, &wl);
    weft__waitlist_unlock(&sh->wl);
    weft__wakelist_wake(&wl);
    return any ? 0 : -EPIPE;
}

void weft_watch_sender_drop(weft_watch_sender *tx)
{
    struct wshared *sh = shared_of(tx);
    if (!sh)
        return;
    struct weft__wakelist wl;
    weft__wakelist_init(&wl);
    weft__waitlist_lock(&sh->wl);
    sh->tx_alive = false;
    weft__waitlist_take_all(&sh->wl, &wl);
    weft__waitlist_unlock(&sh->wl);
    weft__wakelist_wake(&wl);
    shared_put(sh);
}

static int new_receiver(struct wshared *sh, const weft_watch_receiver *from,
                        weft_watch_receiver **out)
{
    weft_watch_receiver *rx = receiver_new(sh);
    *out = rx;
    if (!rx)
        return -ENOMEM;
    atomic_fetch_add_explicit(&sh->refs, 1, memory_order_relaxed);
    weft__waitlist_lock(&sh->wl);
    rx->seen = from ? from->seen : sh->version;
    sh->rx_count++;
    weft__waitlist_unlock(&sh->wl);
    return 0;
}

int weft_watch_subscribe(weft_watch_sender *tx, weft_watch_receiver **out)
{
    if (!tx || !out) {
        if (out)
            *out = NULL;
        return -EINVAL;
    }
    return new_receiver(shared_of(tx), NULL, out);
}

int weft_watch_receiver_clone(weft_watch_receiver *rx, weft_watch_receiver **out)
{
    if (!rx || !out) {
        if (out)
            *out = NULL;
        return -EINVAL;
    }
    return new_receiver(rx->sh, rx, out);
}

weft_poll weft_watch_changed_poll(weft_watch_receiver *rx, weft_cx *cx, int *result)
{
    int dummy;
    if (!result)
        result = &dummy;
    if (!rx || !cx) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    if (!weft_cx_budget_take(cx))
        return WEFT_PENDING;
    struct wshared *sh = rx->sh;
    weft_waker old = {0};
    int r;
    weft__waitlist_lock(&sh->wl);
    if (sh->version != rx->seen) {
        rx->seen = sh->version;
        r = 0;
    } else if (!sh->tx_alive) {
        r = -EPIPE;
    } else {
        weft__waiter_set_waker(&rx->node, &cx->waker);
        if (!rx->node.queued)
            weft__waitlist_push(&sh->wl, &rx->node);
        weft__waitlist_unlock(&sh->wl);
        return WEFT_PENDING;
    }
    if (rx->node.queued) {
        weft__waitlist_remove(&sh->wl, &rx->node);
        old = rx->node.waker;
        rx->node.waker.vtable = NULL;
    }
    weft__waitlist_unlock(&sh->wl);
    weft_waker_drop(&old);
    *result = r;
    return WEFT_READY;
}

static int borrow(weft_watch_receiver *rx, void *value, bool update)
{
    if (!rx || !value)
        return -EINVAL;
    struct wshared *sh = rx->sh;
    weft__waitlist_lock(&sh->wl);
    memcpy(value, sh->value, sh->elem_size);
    if (update)
        rx->seen = sh->version;
    weft__waitlist_unlock(&sh->wl);
    return 0;
}

int weft_watch_borrow(weft_watch_receiver *rx, void *value)
{
    return borrow(rx, value, false);
}

int weft_watch_borrow_and_update(weft_watch_receiver *rx, void *value)
{
    return borrow(rx, value, true);
}

void weft_watch_receiver_drop(weft_watch_receiver *rx)
{
    if (!rx)
        return;
    struct wshared *sh = rx->sh;
    weft__waitlist_lock(&sh->wl);
    if (rx->node.queued)
        weft__waitlist_remove(&sh->wl, &rx->node);
    sh->rx_count--;
    weft__waitlist_unlock(&sh->wl);
    weft_waker_drop(&rx->node.waker);
    weft__free(rx);
    shared_put(sh);
}
