/* mpsc: multi-producer single-consumer channels of fixed-size elements.
 *
 * BOUNDED: a ring of R = next_pow2(cap) slots. `tail` is the next position to claim, `head`
 * the next to read (written by the consumer only); a position p lives in slot p & (R - 1).
 * A send claims p with one CAS on `tail` if p - head < cap (producers share a cached copy of
 * head and re-read the real one only when the cache says "full"), copies its element and
 * publishes the slot's stamp = p + 1. Bit 63 (SKIP) marks a slot a cancelled sender reserved
 * but never filled: the consumer steps over it. The consumer (no CAS) waits for
 * stamp == head + 1, copies, and publishes head + 1; it never writes into a slot except to
 * mark one it granted (below). Since p - head < cap <= R, the slot of p was read (position
 * p - R < head) before p is claimed. (The first version used crossbeam's ArrayQueue stamps,
 * the consumer handing each slot to the next lap; measured the same, and this is simpler.)
 *
 * UNBOUNDED: a list of blocks of BLOCK_CAP slots (crossbeam's list channel, single consumer).
 * `tail` counts positions, LAP per block; offset BLOCK_CAP is a transient "next block being
 * installed" state. The producer claiming the last slot of a block installs the next one
 * (allocated before its CAS, so nobody waits on malloc) and links it before publishing its
 * slot, so the consumer always finds `next` once it has read the last slot. The consumer then
 * owns the finished block outright (no producer can touch it any more) and keeps one spare for
 * reuse. A slot's stamp is its lap (position / LAP) + 1 once written, so a reused block needs
 * no reset and the consumer never writes to the lines producers are filling.
 *
 * RECEIVER WAKEUP (both kinds): rx_state IDLE / ARMED / WAKING. The consumer stores its waker
 * while IDLE (it owns rx_waker then), publishes ARMED (seq_cst), re-checks its next slot, and
 * then looks at `tail` (seq_cst): if a sender has claimed the slot but not yet published it,
 * the consumer asks to be polled again instead of parking. A sender claims with a seq_cst CAS
 * on tail, publishes its slot with a plain release store, then loads rx_state (seq_cst); only
 * if it sees ARMED does it CAS ARMED -> WAKING (one winner), wake rx_waker by reference, and
 * store IDLE. The CAS and the ARMED store are in one total order: either the sender sees
 * ARMED, or the consumer sees the claim. A send therefore costs one atomic read-modify-write
 * (its claim) while the consumer is busy; the publish does not wait for the slot's cache line.
 * Slots granted to waiting senders are marked (stamp = pos | GRANT) so the consumer parks on
 * them: their writers publish with a seq_cst store and check rx_state like a Dekker pair.
 *
 * WAITING SENDERS (bounded): a sender that finds the ring full (or others queued: FIFO)
 * queues a node under the `senders` list lock and sets CH_WAITERS. The consumer checks
 * CH_WAITERS after every position it frees (seq_cst store of head, then a load: Dekker with
 * the sender's fetch_or + seq_cst re-read of head) and, if set, GRANTS: it claims the freed
 * slot on behalf of the head waiter (so nobody can overtake it), marks it pos | GRANT,
 * records the position in node.aux and stores SEND_GRANTED last. The woken sender writes its
 * element there. Because the element is copied by the sender itself, a send future dropped
 * before READY has never sent; its slot is published as a SKIP, which the consumer steps over
 * (granting the slot it frees to the next waiter). The reserved position is never handed to
 * another sender: per-sender order would break.
 *
 * Close: the last sender drop sets TX_CLOSED and wakes the consumer; receiver_close sets
 * RX_CLOSED and fails every queued sender with -EPIPE (granted senders still complete, as
 * Tokio's permits do). The consumer reports -EPIPE once it finds its next slot empty and a
 * CLOSED bit set.
 */
#include <string.h>

#include "sync/sync.h"

#define CH_RX_CLOSED 1u
#define CH_TX_CLOSED 2u
#define CH_WAITERS 4u

enum { RX_IDLE = 0, RX_ARMED = 1, RX_WAKING = 2, RX_DEAD = 3 };

#define SEND_GRANTED 1
#define SEND_CLOSED 2
#define SEND_RETRY 3 /* capped unbounded: an element was taken, try again */

#define SKIP (1ull << 63)
#define GRANT (1ull << 62) /* bounded: stamp = pos | GRANT while granted and not yet written */

#define LAP 64u
#define BLOCK_CAP (LAP - 1)

#define CAS_BACKOFF_PAUSES 32

#define MAX_ELEM (64u << 10)
#define MAX_CAP (1u << 30)
#define MAX_RING (1ull << 30)

struct slot {
    _Atomic uint64_t stamp; /* bounded: position + 1 once written; unbounded: lap + 1 */
    unsigned char data[];
};

struct block {
    _Atomic(struct block *) next;
    uint64_t pad;
    unsigned char slots[]; /* BLOCK_CAP slots of `stride` bytes */
};

struct chan {
    /* Read-mostly, shared. */
    size_t elem_size;
    size_t stride;             /* sizeof(struct slot) + elem_size, rounded up to 8 */
    uint64_t cap;              /* bounded capacity; 0 = unbounded */
    uint64_t mask;             /* bounded: R - 1, R = next_pow2(cap) slots */
    unsigned char *ring;       /* bounded slots */
    uint64_t ucap;             /* unbounded with a cap: most elements queued; 0 = no cap */
    char pad0[64];
    /* Producers. */
    _Atomic uint64_t tail;     /* next position to claim */
    _Atomic uint64_t head_cache; /* bounded: a recent value of head (lags; never ahead) */
    _Atomic(struct block *) tail_block; /* unbounded: block of `tail` */
    _Atomic(struct block *) spare; /* unbounded: one finished block kept for reuse */
    char pad1[64];
    /* Consumer. */
    _Atomic uint64_t head;     /* bounded: next position to read; the consumer writes it */
    uint64_t head_pos;         /* unbounded: consumer-only position */
    struct block *head_block;  /* unbounded: consumer-only */
    char pad2[64];
    /* Flags and the receiver's waker. */
    _Atomic uint32_t state;    /* CH_* */
    _Atomic uint32_t rx_state; /* RX_* */
    weft_waker rx_waker;       /* owned by the consumer while IDLE, by the WAKING producer */
    char pad3[64];
    /* Cold. */
    _Atomic size_t tx_count;   /* sender handles */
    _Atomic uint32_t refs;     /* 2: the sending side (while tx_count > 0) and the receiver */
    struct weft__waitlist senders; /* queued send futures (bounded, or capped unbounded) */
    _Atomic uint64_t ulen;     /* capped unbounded: elements queued (sends minus receives) */
    _Atomic uint64_t refused;  /* try_send calls that got -EAGAIN */
};

enum { S_IDLE = 0, S_INIT, S_QUEUED, S_DONE };

struct send {
    struct chan *c;
    const void *value;
    uint32_t step;
    uint32_t pad;
    struct weft__waiter node; /* val: 0 / SEND_GRANTED (aux = position) / SEND_CLOSED */
};
_Static_assert(sizeof(struct send) <= sizeof(weft_mpsc_send), "send fits");

static inline struct chan *tx_chan(weft_mpsc_sender *tx) { return (struct chan *)tx; }
static inline struct chan *rx_chan(weft_mpsc_receiver *rx) { return (struct chan *)rx; }

static inline void copy_elem(void *dst, const void *src, size_t n)
{
    if (n == 8)
        memcpy(dst, src, 8);
    else if (n == 4)
        memcpy(dst, src, 4);
    else
        memcpy(dst, src, n);
}

/* ------------------------------------------------------------------ create, free */

static uint64_t next_pow2(uint64_t v)
{
    uint64_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

static struct block *block_new(struct chan *c)
{
    struct block *b = weft__alloc(sizeof(struct block) + BLOCK_CAP * c->stride);
    if (!b)
        return NULL;
    atomic_init(&b->next, NULL);
    for (unsigned i = 0; i < BLOCK_CAP; i++) /* 0 matches no lap: every slot unwritten */
        atomic_init(&((struct slot *)(b->slots + i * c->stride))->stamp, 0);
    return b;
}

/* Producer: a fresh block (the spare if there is one). */
static struct block *block_get(struct chan *c)
{
    struct block *b = atomic_exchange_explicit(&c->spare, NULL, memory_order_acquire);
    return b ? b : block_new(c);
}

/* Give back a finished block (next reset to NULL; its stamps hold older laps, which match no
 * future position) that nobody else can touch. */
static void block_put(struct chan *c, struct block *b)
{
    struct block *expected = NULL;
    if (!atomic_compare_exchange_strong_explicit(&c->spare, &expected, b, memory_order_release,
                                                 memory_order_relaxed))
        weft__free(b);
}

static int chan_new(weft_mpsc_sender **tx, weft_mpsc_receiver **rx, size_t elem_size,
                    size_t cap, bool bounded, uint64_t ucap)
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
    size_t stride = (sizeof(struct slot) + elem_size + 7) & ~(size_t)7;
    if (!bounded) /* at most 2 slots a line: producers on different cores write neighbours
                   * (measured: 14-15 -> 16-18 Mmsg/s on mpsc_unbounded; 64 bytes: 17-20 for
                   * twice the memory again; the bounded ring gets slower when padded) */
        stride = (stride + 31) & ~(size_t)31;
    if (bounded && (cap == 0 || cap > MAX_CAP || next_pow2(cap) * stride > MAX_RING))
        return -EINVAL;
    struct chan *c = weft__calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->elem_size = elem_size;
    c->stride = stride;
    if (bounded) {
        uint64_t r = next_pow2(cap);
        c->cap = cap;
        c->mask = r - 1;
        c->ring = weft__alloc(r * stride);
        if (!c->ring) {
            weft__free(c);
            return -ENOMEM;
        }
        for (uint64_t i = 0; i < r; i++) /* 0 is nobody's position + 1: nothing written */
            atomic_init(&((struct slot *)(c->ring + i * stride))->stamp, 0);
    } else {
        struct block *b = block_new(c);
        if (!b) {
            weft__free(c);
            return -ENOMEM;
        }
        c->head_block = b;
        atomic_init(&c->tail_block, b);
        c->ucap = ucap;
    }
    atomic_init(&c->tx_count, 1);
    atomic_init(&c->refs, 2);
    weft__waitlist_init(&c->senders);
    *tx = (weft_mpsc_sender *)c;
    *rx = (weft_mpsc_receiver *)c;
    return 0;
}

int weft_mpsc_new(weft_mpsc_sender **tx, weft_mpsc_receiver **rx, size_t elem_size,
                  size_t capacity)
{
    return chan_new(tx, rx, elem_size, capacity, true, 0);
}

int weft_mpsc_unbounded_new(weft_mpsc_sender **tx, weft_mpsc_receiver **rx, size_t elem_size)
{
    return chan_new(tx, rx, elem_size, 0, false, 0);
}

int weft_mpsc_unbounded_new_capped(weft_mpsc_sender **tx, weft_mpsc_receiver **rx,
                                   size_t elem_size, size_t max_queued)
{
    if (max_queued == 0 || max_queued > ((size_t)1 << 40)) {
        if (tx)
            *tx = NULL;
        if (rx)
            *rx = NULL;
        return -EINVAL;
    }
    return chan_new(tx, rx, elem_size, 0, false, max_queued);
}

uint64_t weft_mpsc_refused(const weft_mpsc_sender *tx)
{
    const struct chan *c = (const struct chan *)tx;
    return c ? atomic_load_explicit(&((struct chan *)c)->refused, memory_order_relaxed) : 0;
}

static void chan_release(struct chan *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    WEFT_ASSERT(c->senders.head == NULL);
    weft_waker_drop(&c->rx_waker);
    if (c->cap) {
        weft__free(c->ring);
    } else {
        struct block *b = c->head_block;
        while (b) {
            struct block *next = ld_acquire(&b->next);
            weft__free(b);
            b = next;
        }
        weft__free(ld_relaxed(&c->spare));
    }
    weft__free(c);
}

/* ------------------------------------------------------------------ receiver wakeup */

static void wake_rx(struct chan *c)
{
    uint32_t e = RX_ARMED;
    if (atomic_compare_exchange_strong_explicit(&c->rx_state, &e, RX_WAKING, memory_order_acquire,
                                                memory_order_relaxed)) {
        weft_waker_wake_by_ref(&c->rx_waker);
        st_release(&c->rx_state, RX_IDLE);
    }
}

/* After a publish: wake the consumer if it is parked. The seq_cst load pairs with the
 * consumer's seq_cst ARMED store (see "RECEIVER WAKEUP" at the top). */
static inline void notify_rx(struct chan *c)
{
    if (WEFT_UNLIKELY(atomic_load_explicit(&c->rx_state, memory_order_seq_cst) == RX_ARMED))
        wake_rx(c);
}

/* ------------------------------------------------------------------ bounded ring */

/* A CAS on tail lost to a producer on another CPU: pause before trying again. Retrying at
 * once pulls tail's cache line back while the winner still needs it, and the line then moves
 * on almost every send; a short pause lets one CPU claim a run of positions in a row.
 * Same-minute A/B on two workers: mpsc_bounded 23-25 -> 60-84 M msg/s, mpsc_unbounded 29-30
 * -> 37-38 (4 to 128 pauses tried; 32-64 best; docs/benchmarks.md). */
static inline void cas_backoff(void)
{
    for (int i = 0; i < CAS_BACKOFF_PAUSES; i++)
        weft__cpu_relax();
}

static inline struct slot *ring_slot(struct chan *c, uint64_t pos)
{
    return (struct slot *)(c->ring + (pos & c->mask) * c->stride);
}

/* Claim the position at the tail. 0 and *pos, or -EAGAIN when full. fresh: re-read head
 * itself (seq_cst) instead of trusting the cache - for the re-check after setting
 * CH_WAITERS. "Full" with a stale tail is full with the real one too (tail only grows). */
static inline int ring_claim(struct chan *c, uint64_t *pos, bool fresh)
{
    uint64_t tail = ld_relaxed(&c->tail);
    uint64_t head = fresh ? atomic_load_explicit(&c->head, memory_order_seq_cst)
                          : ld_acquire(&c->head_cache);
    /* Signed distances: a tail read before a newer head can be behind it; then the CAS
     * fails and we retry with the current tail. */
    for (;;) {
        if (WEFT_UNLIKELY((int64_t)(tail - head) >= (int64_t)c->cap)) {
            /* acquire: the consumer has finished reading the slot we are about to reuse */
            uint64_t h = atomic_load_explicit(&c->head, memory_order_seq_cst);
            if ((int64_t)(tail - h) >= (int64_t)c->cap)
                return -EAGAIN;
            if (h != head) {
                head = h;
                st_release(&c->head_cache, h); /* racy but monotonic enough: only a hint */
            }
        }
        if (atomic_compare_exchange_weak_explicit(&c->tail, &tail, tail + 1, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *pos = tail;
            return 0;
        }
        cas_backoff();
    }
}

/* Write a slot claimed by our own CAS on tail and publish it. A release store is enough: the
 * consumer decides whether it may park from `tail`, which our CAS changed before we look at
 * rx_state, not from this stamp (see "RECEIVER WAKEUP"). */
static inline void ring_publish(struct chan *c, uint64_t pos, const void *value)
{
    struct slot *s = ring_slot(c, pos);
    copy_elem(s->data, value, c->elem_size);
    st_release(&s->stamp, pos + 1);
    notify_rx(c);
}

/* Write a slot granted by the consumer. It may have parked on this slot, so the stamp is the
 * Dekker half here (seq_cst store, then the rx_state load). */
static void ring_publish_granted(struct chan *c, uint64_t pos, const void *value)
{
    struct slot *s = ring_slot(c, pos);
    copy_elem(s->data, value, c->elem_size);
    atomic_store_explicit(&s->stamp, pos + 1, memory_order_seq_cst);
    notify_rx(c);
}

static void grant_senders(struct chan *c);
static int ring_pop_skip(struct chan *c, void *out, memory_order order);

/* Consumer: take the element at head. 0, or -EAGAIN (empty / not yet written). */
static inline int ring_pop(struct chan *c, void *out, memory_order order)
{
    uint64_t head = ld_relaxed(&c->head);
    struct slot *s = ring_slot(c, head);
    uint64_t stamp = atomic_load_explicit(&s->stamp, order);
    if (WEFT_UNLIKELY(stamp != head + 1))
        return stamp == ((head + 1) | SKIP) ? ring_pop_skip(c, out, order) : -EAGAIN;
    if (out)
        copy_elem(out, s->data, c->elem_size);
    /* Free the position (release: our read of the slot is done), then look for waiting
     * senders (Dekker with send_slow, see top). */
    atomic_store_explicit(&c->head, head + 1, memory_order_seq_cst);
    if (WEFT_UNLIKELY(atomic_load_explicit(&c->state, memory_order_seq_cst) & CH_WAITERS))
        grant_senders(c);
    return 0;
}

/* The head slot is a SKIP left by a cancelled sender: free it like a read one, then go on. */
static __attribute__((noinline)) int ring_pop_skip(struct chan *c, void *out, memory_order order)
{
    atomic_store_explicit(&c->head, ld_relaxed(&c->head) + 1, memory_order_seq_cst);
    if (atomic_load_explicit(&c->state, memory_order_seq_cst) & CH_WAITERS)
        grant_senders(c);
    return ring_pop(c, out, order);
}

/* Consumer freed a slot and senders wait: give free slots to them, head first. */
static void grant_senders(struct chan *c)
{
    struct weft__wakelist wl;
    struct weft__waiter *w;
    weft__wakelist_init(&wl);
    weft__waitlist_lock(&c->senders);
    while ((w = c->senders.head)) {
        uint64_t pos;
        if (ring_claim(c, &pos, true) != 0)
            break;
        weft__waitlist_remove(&c->senders, w);
        /* Tell our own later pops that this slot is owed by a waiter (not a send in flight):
         * we may park on it, its writer publishes with seq_cst. */
        st_relaxed(&ring_slot(c, pos)->stamp, pos | GRANT);
        w->aux = pos;
        weft__wakelist_take(&wl, &w->waker);
        st_release(&w->val, SEND_GRANTED);
        weft__wakelist_flush_if_full(&wl, &c->senders);
    }
    if (!c->senders.head)
        atomic_fetch_and_explicit(&c->state, ~CH_WAITERS, memory_order_relaxed);
    weft__waitlist_unlock(&c->senders);
    weft__wakelist_wake(&wl);
}

/* A granted slot whose sender went away: fill it with a SKIP, which the consumer steps over
 * (and, freeing it, grants the next waiting sender a slot at the tail). The position must not
 * be handed to another waiting sender: that sender may have published later elements at
 * later positions since, and its element would then overtake them. */
static void skip_grant(struct chan *c, uint64_t pos)
{
    atomic_store_explicit(&ring_slot(c, pos)->stamp, (pos + 1) | SKIP, memory_order_seq_cst);
    notify_rx(c);
}

/* ------------------------------------------------------------------ unbounded list */

static inline struct slot *block_slot(struct chan *c, struct block *b, uint64_t off)
{
    return (struct slot *)(b->slots + off * c->stride);
}

static int list_push(struct chan *c, const void *value)
{
    uint64_t tail = ld_acquire(&c->tail);
    struct block *b = ld_acquire(&c->tail_block);
    struct block *next = NULL;
    for (;;) {
        uint64_t off = tail % LAP;
        if (WEFT_UNLIKELY(off == BLOCK_CAP)) {
            /* The claimer of the last slot is installing the next block: a few instructions
             * (the block was allocated before its CAS). */
            weft__cpu_relax();
            tail = ld_acquire(&c->tail);
            b = ld_acquire(&c->tail_block);
            continue;
        }
        if (WEFT_UNLIKELY(off + 1 == BLOCK_CAP) && !next) {
            next = block_get(c);
            if (!next)
                return -ENOMEM;
        }
        if (atomic_compare_exchange_weak_explicit(&c->tail, &tail, tail + 1, memory_order_acquire,
                                                  memory_order_acquire)) {
            if (WEFT_UNLIKELY(off + 1 == BLOCK_CAP)) {
                st_release(&c->tail_block, next);
                atomic_fetch_add_explicit(&c->tail, 1, memory_order_release);
                st_release(&b->next, next); /* before our slot: the consumer needs it after */
                next = NULL;
            }
            struct slot *s = block_slot(c, b, off);
            copy_elem(s->data, value, c->elem_size);
            /* Tagged with the lap (block use), so a reused block needs no reset. Release is
             * enough: the consumer parks or not from `tail` (see "RECEIVER WAKEUP"). */
            st_release(&s->stamp, tail / LAP + 1);
            if (WEFT_UNLIKELY(next != NULL))
                block_put(c, next);
            notify_rx(c);
            return 0;
        }
        cas_backoff();
        b = ld_acquire(&c->tail_block);
    }
}

static inline int list_pop(struct chan *c, void *out, memory_order order)
{
    uint64_t off = c->head_pos % LAP;
    struct block *b = c->head_block;
    struct slot *s = block_slot(c, b, off);
    if (atomic_load_explicit(&s->stamp, order) != c->head_pos / LAP + 1)
        return -EAGAIN;
    if (out)
        copy_elem(out, s->data, c->elem_size); /* read only: no write to the producers' line */
    if (WEFT_UNLIKELY(off + 1 == BLOCK_CAP)) {
        struct block *next = ld_acquire(&b->next);
        WEFT_ASSERT(next != NULL);
        st_relaxed(&b->next, NULL);
        c->head_block = next;
        c->head_pos += 2;
        block_put(c, b); /* every slot read: no producer can touch it any more */
    } else {
        c->head_pos += 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ send */

static void wake_one_sender(struct chan *c);

static inline int pop(struct chan *c, void *out, memory_order order)
{
    if (c->cap)
        return ring_pop(c, out, order);
    int r = list_pop(c, out, order);
    if (WEFT_UNLIKELY(c->ucap) && r == 0) {
        /* Decrement, then look for waiters (seq_cst both): Dekker with capped_wait. */
        atomic_fetch_sub_explicit(&c->ulen, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&c->state, memory_order_seq_cst) & CH_WAITERS)
            wake_one_sender(c);
    }
    return r;
}

/* Capped unbounded: push if under the cap. -EAGAIN at the cap (a racy snapshot: concurrent
 * senders may overshoot it by their number). */
static int capped_push(struct chan *c, const void *value)
{
    if (ld_relaxed(&c->ulen) >= c->ucap)
        return -EAGAIN;
    atomic_fetch_add_explicit(&c->ulen, 1, memory_order_seq_cst);
    int r = list_push(c, value);
    if (r < 0)
        atomic_fetch_sub_explicit(&c->ulen, 1, memory_order_seq_cst);
    return r;
}

/* The receiver took an element from a capped channel with senders waiting: let the first
 * one try again. */
static void wake_one_sender(struct chan *c)
{
    weft_waker w = {0};
    weft__waitlist_lock(&c->senders);
    struct weft__waiter *n = weft__waitlist_pop(&c->senders);
    if (n) {
        w = n->waker;
        n->waker.vtable = NULL;
        st_release(&n->val, SEND_RETRY);
    }
    if (!c->senders.head)
        atomic_fetch_and_explicit(&c->state, ~CH_WAITERS, memory_order_relaxed);
    weft__waitlist_unlock(&c->senders);
    weft_waker_wake(&w);
}

/* Send now if fair and possible: 0, -EAGAIN (full / senders queued), -EPIPE, -ENOMEM. */
static inline int send_now(struct chan *c, const void *value)
{
    uint32_t st = ld_relaxed(&c->state);
    if (WEFT_UNLIKELY(st & (CH_RX_CLOSED | CH_WAITERS)))
        return (st & CH_RX_CLOSED) ? -EPIPE : -EAGAIN;
    if (!c->cap)
        return WEFT_UNLIKELY(c->ucap) ? capped_push(c, value) : list_push(c, value);
    uint64_t pos;
    if (ring_claim(c, &pos, false) != 0)
        return -EAGAIN;
    ring_publish(c, pos, value);
    return 0;
}

int weft_mpsc_try_send(weft_mpsc_sender *tx, const void *value)
{
    struct chan *c = tx_chan(tx);
    if (WEFT_UNLIKELY(!c || !value))
        return -EINVAL;
    int r = send_now(c, value);
    if (WEFT_UNLIKELY(r == -EAGAIN))
        atomic_fetch_add_explicit(&c->refused, 1, memory_order_relaxed);
    return r;
}

void weft_mpsc_send_init(weft_mpsc_send *f, weft_mpsc_sender *tx, const void *value)
{
    struct send *s = (struct send *)f;
    if (!s)
        return;
    /* The node is set up when (if) the send queues; until then only these are read. */
    s->c = tx_chan(tx);
    s->value = value;
    s->step = S_INIT;
}

static weft_poll send_done(struct send *s, int *result, int r)
{
    s->step = S_DONE;
    *result = r;
    return WEFT_READY;
}

/* Ring full or senders queued: queue behind them (FIFO). */
static weft_poll send_slow(struct send *s, weft_cx *cx, int *result)
{
    struct chan *c = s->c;
    weft__waitlist_lock(&c->senders);
    uint32_t st = ld_relaxed(&c->state);
    if (st & CH_RX_CLOSED) {
        weft__waitlist_unlock(&c->senders);
        return send_done(s, result, -EPIPE);
    }
    if (!c->cap) {
        /* Capped unbounded: announce, then look at the count again (Dekker with pop's
         * decrement + load). Room after all: try again at once instead of waiting. */
        atomic_fetch_or_explicit(&c->state, CH_WAITERS, memory_order_seq_cst);
        if (atomic_load_explicit(&c->ulen, memory_order_seq_cst) < c->ucap) {
            if (!c->senders.head)
                atomic_fetch_and_explicit(&c->state, ~CH_WAITERS, memory_order_relaxed);
            weft__waitlist_unlock(&c->senders);
            int r = capped_push(c, s->value);
            if (r != -EAGAIN)
                return send_done(s, result, r);
            weft_waker_wake_by_ref(&cx->waker); /* overtaken: look again at the next poll */
            return WEFT_PENDING;
        }
    } else if (!c->senders.head) {
        /* First in line: announce, then look again (Dekker with ring_pop's store + load). */
        atomic_fetch_or_explicit(&c->state, CH_WAITERS, memory_order_seq_cst);
        uint64_t pos;
        if (ring_claim(c, &pos, true) == 0) {
            atomic_fetch_and_explicit(&c->state, ~CH_WAITERS, memory_order_relaxed);
            weft__waitlist_unlock(&c->senders);
            ring_publish(c, pos, s->value);
            return send_done(s, result, 0);
        }
    }
    st_relaxed(&s->node.val, 0);
    weft_waker_clone(&cx->waker, &s->node.waker);
    weft__waitlist_push(&c->senders, &s->node);
    s->step = S_QUEUED;
    weft__waitlist_unlock(&c->senders);
    return WEFT_PENDING;
}

/* Everything but the first attempt: bad arguments, a spent budget, a full ring, a queued
 * send being polled again. */
static __attribute__((noinline)) weft_poll send_poll_slow(struct send *s, weft_cx *cx,
                                                          int *result)
{
    int dummy;
    if (!result)
        result = &dummy;
    if (WEFT_UNLIKELY(!s || !cx)) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    if (s->step == S_INIT) {
        if (WEFT_UNLIKELY(!s->c || !s->value))
            return send_done(s, result, -EINVAL);
        if (!weft_cx_budget_take(cx))
            return WEFT_PENDING;
        int r = send_now(s->c, s->value);
        if (r != -EAGAIN)
            return send_done(s, result, r);
        return send_slow(s, cx, result);
    }
    if (s->step != S_QUEUED) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    struct chan *c = s->c;
    uint64_t v = ld_acquire(&s->node.val);
    if (v == 0) {
        weft__waitlist_lock(&c->senders);
        v = ld_relaxed(&s->node.val);
        if (v == 0) {
            weft__waiter_set_waker(&s->node, &cx->waker);
            weft__waitlist_unlock(&c->senders);
            return WEFT_PENDING;
        }
        weft__waitlist_unlock(&c->senders);
    }
    if (v == SEND_CLOSED)
        return send_done(s, result, -EPIPE);
    if (v == SEND_RETRY) { /* capped unbounded: an element was taken; our turn to try */
        int r = capped_push(c, s->value);
        if (r != -EAGAIN)
            return send_done(s, result, r);
        s->step = S_INIT;
        return send_slow(s, cx, result); /* overtaken: queue again */
    }
    ring_publish_granted(c, s->node.aux, s->value);
    return send_done(s, result, 0);
}

weft_poll weft_mpsc_send_poll(weft_mpsc_send *f, weft_cx *cx, int *result)
{
    struct send *s = (struct send *)f;
    /* Fast path: a first attempt with budget left that fits without waiting. */
    if (WEFT_LIKELY(s && cx && result && s->step == S_INIT && s->c && s->value &&
                    cx->budget > 0)) {
        int r = send_now(s->c, s->value);
        if (WEFT_LIKELY(r != -EAGAIN)) {
            cx->budget--;
            s->step = S_DONE;
            *result = r;
            return WEFT_READY;
        }
    }
    return send_poll_slow(s, cx, result);
}

void weft_mpsc_send_drop(weft_mpsc_send *f)
{
    struct send *s = (struct send *)f;
    if (!s || s->step != S_QUEUED) {
        if (s && s->step != S_IDLE)
            s->step = S_DONE;
        return;
    }
    struct chan *c = s->c;
    weft_waker old = {0};
    s->step = S_DONE;
    uint64_t v = ld_acquire(&s->node.val);
    if (v == 0) {
        weft__waitlist_lock(&c->senders);
        v = ld_relaxed(&s->node.val);
        if (s->node.queued) {
            weft__waitlist_remove(&c->senders, &s->node);
            old = s->node.waker;
            s->node.waker.vtable = NULL;
            if (!c->senders.head)
                atomic_fetch_and_explicit(&c->state, ~CH_WAITERS, memory_order_relaxed);
        }
        weft__waitlist_unlock(&c->senders);
        weft_waker_drop(&old);
    }
    if (v == SEND_GRANTED)
        skip_grant(c, s->node.aux);
    else if (v == SEND_RETRY && (ld_acquire(&c->state) & CH_WAITERS))
        wake_one_sender(c); /* the room it was woken for goes to the next in line */
}

/* ------------------------------------------------------------------ sender handles */

int weft_mpsc_sender_clone(weft_mpsc_sender *tx, weft_mpsc_sender **out)
{
    if (!tx || !out) {
        if (out)
            *out = NULL;
        return -EINVAL;
    }
    atomic_fetch_add_explicit(&tx_chan(tx)->tx_count, 1, memory_order_relaxed);
    *out = tx;
    return 0;
}

void weft_mpsc_sender_drop(weft_mpsc_sender *tx)
{
    struct chan *c = tx_chan(tx);
    if (!c)
        return;
    if (atomic_fetch_sub_explicit(&c->tx_count, 1, memory_order_acq_rel) != 1)
        return;
    atomic_fetch_or_explicit(&c->state, CH_TX_CLOSED, memory_order_seq_cst);
    notify_rx(c);
    chan_release(c);
}

/* ------------------------------------------------------------------ receive */

static inline bool closed(struct chan *c)
{
    return atomic_load_explicit(&c->state, memory_order_seq_cst) & (CH_TX_CLOSED | CH_RX_CLOSED);
}

static inline void disarm(struct chan *c)
{
    uint32_t e = RX_ARMED;
    /* Failing means a producer is waking us: harmless, we get one spurious poll. */
    atomic_compare_exchange_strong_explicit(&c->rx_state, &e, RX_IDLE, memory_order_relaxed,
                                            memory_order_relaxed);
}

/* After arming (seq_cst) and finding our next slot unwritten: has a sender claimed it with its
 * CAS on tail? (seq_cst load: the other half of the Dekker with that CAS.) A slot granted to
 * a waiting sender does not count: its writer publishes with seq_cst and checks rx_state. */
static bool send_in_flight(struct chan *c)
{
    uint64_t tail = atomic_load_explicit(&c->tail, memory_order_seq_cst);
    if (!c->cap)
        return tail != c->head_pos;
    uint64_t head = ld_relaxed(&c->head);
    if (tail == head)
        return false;
    return atomic_load_explicit(&ring_slot(c, head)->stamp, memory_order_seq_cst) !=
           (head | GRANT);
}

static __attribute__((noinline)) weft_poll recv_slow(struct chan *c, weft_cx *cx, void *value,
                                                     int *result)
{
    if (closed(c)) { /* closed first, then look: an element sent before the close is seen */
        *result = pop(c, value, memory_order_acquire) == 0 ? 0 : -EPIPE;
        return WEFT_READY;
    }
    uint32_t s = ld_acquire(&c->rx_state);
    for (int spins = 0; s == RX_WAKING; spins++) {
        /* A producer is inside its wake of the stored waker (a few instructions). That wake
         * may be the very one that got us polled now, so it cannot be counted on: wait for
         * it to finish, or ask to be polled again. */
        if (spins == 64) {
            weft_waker_wake_by_ref(&cx->waker);
            return WEFT_PENDING;
        }
        weft__cpu_relax();
        s = ld_acquire(&c->rx_state);
    }
    if (s == RX_ARMED && !weft_waker_will_wake(&c->rx_waker, &cx->waker)) {
        uint32_t e = RX_ARMED;
        if (!atomic_compare_exchange_strong_explicit(&c->rx_state, &e, RX_IDLE,
                                                     memory_order_acquire, memory_order_relaxed)) {
            weft_waker_wake_by_ref(&cx->waker);
            return WEFT_PENDING;
        }
        s = RX_IDLE;
    }
    if (s == RX_IDLE) {
        weft_waker_set(&c->rx_waker, &cx->waker);
        atomic_store_explicit(&c->rx_state, RX_ARMED, memory_order_seq_cst);
    }
    if (pop(c, value, memory_order_seq_cst) == 0) {
        disarm(c);
        *result = 0;
        return WEFT_READY;
    }
    if (closed(c)) {
        disarm(c);
        *result = pop(c, value, memory_order_acquire) == 0 ? 0 : -EPIPE;
        return WEFT_READY;
    }
    if (WEFT_UNLIKELY(send_in_flight(c))) {
        /* A sender has claimed our next slot but not published it yet, and its look at
         * rx_state may have come before our ARMED: it might not wake us. It is a few
         * instructions from done, so ask to be polled again rather than park. */
        weft_waker_wake_by_ref(&cx->waker);
    }
    return WEFT_PENDING;
}

/* Everything the fast path does not cover: NULL arguments, a spent budget. */
static __attribute__((noinline)) weft_poll recv_poll_other(struct chan *c, weft_cx *cx,
                                                           void *value, int *result)
{
    int dummy;
    if (!result)
        result = &dummy;
    if (WEFT_UNLIKELY(!c || !cx)) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    if (cx->budget <= 0) {
        weft_waker_wake_by_ref(&cx->waker);
        return WEFT_PENDING;
    }
    if (pop(c, value, memory_order_acquire) == 0) {
        cx->budget--;
        *result = 0;
        return WEFT_READY;
    }
    return recv_slow(c, cx, value, result);
}

weft_poll weft_mpsc_recv_poll(weft_mpsc_receiver *rx, weft_cx *cx, void *value, int *result)
{
    struct chan *c = rx_chan(rx);
    /* Fast path: an element is there and the budget allows taking it. The budget is spent
     * only on a receive that returns something (Tokio's coop rule). */
    if (WEFT_LIKELY(c && cx && result && cx->budget > 0)) {
        if (WEFT_LIKELY(pop(c, value, memory_order_acquire) == 0)) {
            cx->budget--;
            *result = 0;
            return WEFT_READY;
        }
        return recv_slow(c, cx, value, result);
    }
    return recv_poll_other(c, cx, value, result);
}

int weft_mpsc_try_recv(weft_mpsc_receiver *rx, void *value)
{
    struct chan *c = rx_chan(rx);
    if (!c)
        return -EINVAL;
    if (pop(c, value, memory_order_acquire) == 0)
        return 0;
    if (!closed(c))
        return -EAGAIN;
    return pop(c, value, memory_order_acquire) == 0 ? 0 : -EPIPE;
}

void weft_mpsc_receiver_close(weft_mpsc_receiver *rx)
{
    struct chan *c = rx_chan(rx);
    if (!c)
        return;
    atomic_fetch_or_explicit(&c->state, CH_RX_CLOSED, memory_order_seq_cst);
    struct weft__wakelist wl;
    struct weft__waiter *w;
    weft__wakelist_init(&wl);
    weft__waitlist_lock(&c->senders);
    while ((w = weft__waitlist_pop(&c->senders))) {
        weft__wakelist_take(&wl, &w->waker);
        st_release(&w->val, SEND_CLOSED);
        weft__wakelist_flush_if_full(&wl, &c->senders);
    }
    atomic_fetch_and_explicit(&c->state, ~CH_WAITERS, memory_order_relaxed);
    weft__waitlist_unlock(&c->senders);
    weft__wakelist_wake(&wl);
}

void weft_mpsc_receiver_drop(weft_mpsc_receiver *rx)
{
    struct chan *c = rx_chan(rx);
    if (!c)
        return;
    weft_mpsc_receiver_close(rx);
    /* Retire the waker slot: wait out a producer that is reading it right now. */
    uint32_t s = ld_acquire(&c->rx_state);
    for (;;) {
        if (s == RX_WAKING) {
            weft__cpu_relax();
            s = ld_acquire(&c->rx_state);
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&c->rx_state, &s, RX_DEAD, memory_order_acquire,
                                                  memory_order_acquire))
            break;
    }
    weft_waker_drop(&c->rx_waker);
    chan_release(c);
}
