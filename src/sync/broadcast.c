/* broadcast: one ring of `cap` values, many receivers, each with its own read position.
 *
 * Everything is guarded by the wait list's lock: a broadcast send copies one value and wakes
 * every waiting receiver, a receive copies one value out. Receivers park on the wait list
 * (their node lives in the receiver handle, so a receiver waits without allocating); a send
 * unlinks them all and wakes them after unlocking, 32 at a time. A receiver more than `cap`
 * behind has lost values: its next receive reports how many (-EOVERFLOW) and moves it to the
 * oldest value still held (Tokio's Lagged).
 *
 * Lifetime: `refs` counts every handle (sender handles and receivers); each drop releases its
 * reference after its last use of the lock, and the last one frees the block.
 */
#include <string.h>

#include "sync/sync.h"

#define MAX_ELEM (64u << 10)
#define MAX_CAP (1u << 20)

struct bshared {
    struct weft__waitlist wl; /* the lock guards every field below; list = waiting receivers */
    size_t elem_size, cap;    /* immutable */
    _Atomic size_t refs;      /* handles alive (not under the lock) */
    uint64_t tail;            /* values sent so far */
    size_t tx_count, rx_count;
    unsigned char *buf;       /* cap * elem_size */
};

struct weft_broadcast_receiver {
    struct bshared *sh;
    uint64_t next;            /* guarded by sh's lock: position of our next value */
    struct weft__waiter node; /* queued while waiting for a send */
};

static inline struct bshared *shared_of(weft_broadcast_sender *tx)
{
    return (struct bshared *)tx;
}

/* Release one handle's reference; the last frees the block. Call with no lock held. */
static void shared_put(struct bshared *sh)
{
    if (atomic_fetch_sub_explicit(&sh->refs, 1, memory_order_acq_rel) != 1)
        return;
    WEFT_ASSERT(sh->wl.head == NULL);
    weft__free(sh->buf);
    weft__free(sh);
}

static weft_broadcast_receiver *receiver_new(struct bshared *sh)
{
    weft_broadcast_receiver *rx = weft__calloc(1, sizeof *rx);
    if (rx)
        rx->sh = sh;
    return rx;
}

int weft_broadcast_new(weft_broadcast_sender **tx, weft_broadcast_receiver **rx,
                       size_t elem_size, size_t capacity)
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
    if (elem_size == 0 || elem_size > MAX_ELEM || capacity == 0 || capacity > MAX_CAP)
        return -EINVAL;
    struct bshared *sh = weft__calloc(1, sizeof *sh);
    weft_broadcast_receiver *r = NULL;
    if (sh)
        sh->buf = weft__alloc(elem_size * capacity);
    if (sh && sh->buf)
        r = receiver_new(sh);
    if (!r) {
        if (sh)
            weft__free(sh->buf);
        weft__free(sh);
        return -ENOMEM;
    }
    weft__waitlist_init(&sh->wl);
    sh->elem_size = elem_size;
    sh->cap = capacity;
    sh->tx_count = 1;
    sh->rx_count = 1;
    atomic_init(&sh->refs, 2);
    *tx = (weft_broadcast_sender *)sh;
    *rx = r;
    return 0;
}

int weft_broadcast_sender_clone(weft_broadcast_sender *tx, weft_broadcast_sender **out)
{
    if (!tx || !out) {
        if (out)
            *out = NULL;
        return -EINVAL;
    }
    struct bshared *sh = shared_of(tx);
    atomic_fetch_add_explicit(&sh->refs, 1, memory_order_relaxed);
    weft__waitlist_lock(&sh->wl);
    sh->tx_count++;
    weft__waitlist_unlock(&sh->wl);
    *out = tx;
    return 0;
}

void weft_broadcast_sender_drop(weft_broadcast_sender *tx)
{
    struct bshared *sh = shared_of(tx);
    if (!sh)
        return;
    struct weft__wakelist wl;
    weft__wakelist_init(&wl);
    weft__waitlist_lock(&sh->wl);
    if (--sh->tx_count == 0)
        weft__waitlist_take_all(&sh->wl, &wl); /* they will see the close */
    weft__waitlist_unlock(&sh->wl);
    weft__wakelist_wake(&wl);
    shared_put(sh);
}

int weft_broadcast_subscribe(weft_broadcast_sender *tx, weft_broadcast_receiver **out)
{
    if (!tx || !out) {
        if (out)
            *out = NULL;
        return -EINVAL;
    }
    struct bshared *sh = shared_of(tx);
    weft_broadcast_receiver *rx = receiver_new(sh);
    *out = rx;
    if (!rx)
        return -ENOMEM;
    atomic_fetch_add_explicit(&sh->refs, 1, memory_order_relaxed);
    weft__waitlist_lock(&sh->wl);
    rx->next = sh->tail;
    sh->rx_count++;
    weft__waitlist_unlock(&sh->wl);
    return 0;
}

int weft_broadcast_send(weft_broadcast_sender *tx, const void *value)
{
    struct bshared *sh = shared_of(tx);
    if (!sh || !value)
        return -EINVAL;
    struct weft__wakelist wl;
    weft__wakelist_init(&wl);
    weft__waitlist_lock(&sh->wl);
    if (sh->rx_count == 0) {
        weft__waitlist_unlock(&sh->wl);
        return -EPIPE;
    }
    memcpy(sh->buf + (sh->tail % sh->cap) * sh->elem_size, value, sh->elem_size);
    sh->tail++;
    weft__waitlist_take_all(&sh->wl, &wl);
    weft__waitlist_unlock(&sh->wl);
    weft__wakelist_wake(&wl);
    return 0;
}

/* Lock held. 0, -EOVERFLOW, -EPIPE or -EAGAIN. */
static int recv_locked(weft_broadcast_receiver *rx, void *value, uint64_t *missed)
{
    struct bshared *sh = rx->sh;
    if (rx->next < sh->tail) {
        uint64_t oldest = sh->tail > sh->cap ? sh->tail - sh->cap : 0;
        if (rx->next < oldest) {
            *missed = oldest - rx->next;
            rx->next = oldest;
            return -EOVERFLOW;
        }
        if (value)
            memcpy(value, sh->buf + (rx->next % sh->cap) * sh->elem_size, sh->elem_size);
        rx->next++;
        return 0;
    }
    return sh->tx_count == 0 ? -EPIPE : -EAGAIN;
}

int weft_broadcast_try_recv(weft_broadcast_receiver *rx, void *value, uint64_t *missed)
{
    uint64_t dummy;
    if (!missed)
        missed = &dummy;
    *missed = 0;
    if (!rx)
        return -EINVAL;
    weft__waitlist_lock(&rx->sh->wl);
    int r = recv_locked(rx, value, missed);
    weft__waitlist_unlock(&rx->sh->wl);
    return r;
}

weft_poll weft_broadcast_recv_poll(weft_broadcast_receiver *rx, weft_cx *cx, void *value,
                                   int *result, uint64_t *missed)
{
    int dummy;
    uint64_t dummy_missed;
    if (!result)
        result = &dummy;
    if (!missed)
        missed = &dummy_missed;
    *missed = 0;
    if (!rx || !cx) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    if (!weft_cx_budget_take(cx))
        return WEFT_PENDING;
    struct bshared *sh = rx->sh;
    weft_waker old = {0};
    weft__waitlist_lock(&sh->wl);
    int r = recv_locked(rx, value, missed);
    if (r != -EAGAIN) {
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
    weft__waiter_set_waker(&rx->node, &cx->waker);
    if (!rx->node.queued)
        weft__waitlist_push(&sh->wl, &rx->node);
    weft__waitlist_unlock(&sh->wl);
    return WEFT_PENDING;
}

void weft_broadcast_receiver_drop(weft_broadcast_receiver *rx)
{
    if (!rx)
        return;
    struct bshared *sh = rx->sh;
    weft__waitlist_lock(&sh->wl);
    if (rx->node.queued)
        weft__waitlist_remove(&sh->wl, &rx->node);
    sh->rx_count--;
    weft__waitlist_unlock(&sh->wl);
    weft_waker_drop(&rx->node.waker);
    weft__free(rx);
    shared_put(sh);
}
