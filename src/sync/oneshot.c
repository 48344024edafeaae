/* oneshot: one value, one sender, one receiver.
 *
 * State bits: SENT (value written), TX_CLOSED (sender gone without sending), RX_CLOSED
 * (receiver gone), RX_WAKER (rx_waker holds the receiver's waker; while set the sender may
 * wake it). The receiver changes rx_waker only after clearing RX_WAKER while nothing has
 * happened yet; whoever frees the channel drops it. `refs` counts the two ends.
 */
#include <string.h>

#include <stdalign.h>

#include "core/core.h"
#include "weft/sync.h"

#define SENT 1u
#define TX_CLOSED 2u
#define RX_CLOSED 4u
#define RX_WAKER 8u

struct weft_oneshot {
    _Atomic uint32_t state;
    _Atomic uint32_t refs;
    size_t value_size;
    weft_waker rx_waker;
    alignas(16) unsigned char value[];
};

int weft_oneshot_new(weft_oneshot **out, size_t value_size)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (value_size > (1u << 20))
        return -EINVAL;
    weft_oneshot *ch = weft__alloc(sizeof *ch + value_size);
    if (!ch)
        return -ENOMEM;
    atomic_init(&ch->state, 0);
    atomic_init(&ch->refs, 2);
    ch->value_size = value_size;
    ch->rx_waker.data = NULL;
    ch->rx_waker.vtable = NULL;
    *out = ch;
    return 0;
}

static void release(weft_oneshot *ch)
{
    if (atomic_fetch_sub_explicit(&ch->refs, 1, memory_order_acq_rel) == 1) {
        weft_waker_drop(&ch->rx_waker);
        weft__free(ch);
    }
}

static void close_tx(weft_oneshot *ch, uint32_t bit)
{
    uint32_t old = atomic_fetch_or_explicit(&ch->state, bit, memory_order_acq_rel);
    if (old & RX_WAKER)
        weft_waker_wake_by_ref(&ch->rx_waker);
    release(ch);
}

int weft_oneshot_send(weft_oneshot *ch, const void *value)
{
    if (!ch)
        return -EINVAL;
    if (ld_acquire(&ch->state) & RX_CLOSED) {
        release(ch);
        return -EPIPE;
    }
    if (ch->value_size && value)
        memcpy(ch->value, value, ch->value_size);
    else if (ch->value_size)
        memset(ch->value, 0, ch->value_size);
    close_tx(ch, SENT);
    return 0;
}

void weft_oneshot_sender_drop(weft_oneshot *ch)
{
    if (ch)
        close_tx(ch, TX_CLOSED);
}

weft_poll weft_oneshot_recv_poll(weft_oneshot *ch, weft_cx *cx, void *value, int *result)
{
    int dummy;
    if (!result)
        result = &dummy;
    if (!ch || !cx) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    uint32_t s = ld_acquire(&ch->state);
    for (;;) {
        if (s & SENT) {
            if (value && ch->value_size)
                memcpy(value, ch->value, ch->value_size);
            *result = 0;
            release(ch);
            return WEFT_READY;
        }
        if (s & TX_CLOSED) {
            *result = -EPIPE;
            release(ch);
            return WEFT_READY;
        }
        if (s & RX_WAKER) {
            if (weft_waker_will_wake(&ch->rx_waker, &cx->waker))
                return WEFT_PENDING;
            if (!atomic_compare_exchange_weak_explicit(&ch->state, &s, s & ~RX_WAKER,
                                                       memory_order_acq_rel, memory_order_acquire))
                continue;
            s &= ~RX_WAKER;
        }
        weft_waker_drop(&ch->rx_waker);
        weft_waker_clone(&cx->waker, &ch->rx_waker);
        s = atomic_fetch_or_explicit(&ch->state, RX_WAKER, memory_order_acq_rel);
        if (!(s & (SENT | TX_CLOSED)))
            return WEFT_PENDING;
        s |= RX_WAKER;
    }
}

void weft_oneshot_receiver_drop(weft_oneshot *ch)
{
    if (!ch)
        return;
    atomic_fetch_or_explicit(&ch->state, RX_CLOSED, memory_order_acq_rel);
    release(ch);
}
