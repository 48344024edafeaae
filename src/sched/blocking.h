/* src/sched/blocking.h - the blocking pool's job queue: an unbounded lock-free MPMC FIFO of
 * pointers made of linked blocks (the algorithm of crossbeam's SegQueue).
 *
 * Why this shape: every lane of the pool has one of these, so producers (workers, foreign
 * threads, blocking jobs) and consumers (pool threads) never share a lock - Tokio's single
 * Mutex+Condvar queue is its known hotspot (runtime-internals.md 1.8). A bounded Vyukov ring
 * would need an overflow path for bursts (10,000 jobs at once); linked blocks do not.
 *
 * Layout. Positions are counted in `index >> SHIFT`; the low bit of the head index says "the
 * head block has a successor" (HAS_NEXT) so a pop need not read the tail. A block holds
 * BQ_LAP - 1 slots: the position whose offset is BQ_BLOCK_CAP is never a slot, it means "the
 * block is full and its successor is being installed" and everyone waits for it to pass.
 *
 * Slot protocol (state bits): a producer claims a position with a CAS on tail.index, writes
 * the value, then sets WRITE. A consumer claims a position with a CAS on head.index, waits
 * for WRITE, reads, sets READ. A block is freed by whoever reads its last slot, unless an
 * earlier slot is still being read: then that reader, which will find DESTROY set, finishes
 * the job (bq_destroy). So no thread ever touches a freed block, without epochs or hazard
 * pointers. One freed block is kept as `spare` to save a malloc per 63 items.
 *
 * Emptiness is decided on the indices (head == tail after a seq_cst fence), not on slot
 * states: a push that has claimed its position but not yet written counts as "not empty" and
 * the consumer waits for it, which is what the pool's park protocol needs (pool.c: a thread
 * that re-checks the queue after announcing it parks must see every claimed push).
 */
#ifndef WEFT_SCHED_BLOCKING_H
#define WEFT_SCHED_BLOCKING_H

#include <errno.h>
#include <sched.h>
#include <string.h>

#include "core/core.h"

#define BQ_LAP       64u
#define BQ_BLOCK_CAP (BQ_LAP - 1)
#define BQ_SHIFT     1u
#define BQ_HAS_NEXT  1u

#define BQ_WRITE   1u
#define BQ_READ    2u
#define BQ_DESTROY 4u

struct bq_slot {
    void *value;            /* written before WRITE is set; read after WRITE is seen */
    _Atomic unsigned state; /* BQ_WRITE | BQ_READ | BQ_DESTROY */
};

struct bq_block {
    _Atomic(struct bq_block *) next; /* set once by the producer that filled the block */
    struct bq_slot slots[BQ_BLOCK_CAP];
};

struct bq_pos {
    _Atomic size_t index;             /* position << BQ_SHIFT (| BQ_HAS_NEXT on the head) */
    _Atomic(struct bq_block *) block; /* the block that position lives in (NULL: none yet) */
};

struct bq {
    alignas(WEFT_CACHELINE) struct bq_pos head;               /* consumers */
    alignas(WEFT_CACHELINE) struct bq_pos tail;               /* producers */
    alignas(WEFT_CACHELINE) _Atomic(struct bq_block *) spare; /* one recycled block */
};

static inline void bq_init(struct bq *q)
{
    atomic_init(&q->head.index, 0);
    atomic_init(&q->head.block, NULL);
    atomic_init(&q->tail.index, 0);
    atomic_init(&q->tail.block, NULL);
    atomic_init(&q->spare, NULL);
}

/* Free every block. Quiescent only (no concurrent push or pop); remaining items are dropped. */
static inline void bq_fini(struct bq *q)
{
    struct bq_block *b = ld_relaxed(&q->head.block);
    while (b) {
        struct bq_block *next = ld_relaxed(&b->next);
        weft__free(b);
        b = next;
    }
    weft__free(ld_relaxed(&q->spare));
    bq_init(q);
}

static inline void bq_backoff(unsigned *step)
{
    if (*step < 6) {
        for (unsigned i = 0; i < (1u << *step); i++)
            weft__cpu_relax();
        (*step)++;
    } else {
        sched_yield(); /* the thread we wait for may be preempted: let it run */
    }
}

static inline struct bq_block *bq_block_new(struct bq *q)
{
    struct bq_block *b = atomic_exchange_explicit(&q->spare, NULL, memory_order_acquire);
    if (b) {
        memset(b, 0, sizeof *b); /* plain zeroes are valid initial atomics */
        return b;
    }
    return weft__calloc(1, sizeof(struct bq_block));
}

static inline void bq_block_free(struct bq *q, struct bq_block *b)
{
    struct bq_block *expected = NULL;
    if (!atomic_compare_exchange_strong_explicit(&q->spare, &expected, b, memory_order_release,
                                                 memory_order_relaxed))
        weft__free(b);
}

/* Append v (not NULL). Returns 0, or -ENOMEM when a new block was needed and the allocation
 * seam said no (nothing was queued then). Threads: any. */
static inline int bq_push(struct bq *q, void *v)
{
    size_t tail = ld_acquire(&q->tail.index);
    struct bq_block *block = ld_acquire(&q->tail.block);
    struct bq_block *next_block = NULL;
    unsigned step = 0;

    for (;;) {
        size_t offset = (tail >> BQ_SHIFT) % BQ_LAP;
        if (offset == BQ_BLOCK_CAP) { /* the next block is being installed */
            bq_backoff(&step);
            tail = ld_acquire(&q->tail.index);
            block = ld_acquire(&q->tail.block);
            continue;
        }
        /* About to fill the block: allocate its successor before claiming, so a claimed
         * position is never abandoned for lack of memory. */
        if (offset + 1 == BQ_BLOCK_CAP && !next_block) {
            next_block = bq_block_new(q);
            if (!next_block)
                return -ENOMEM;
        }
        if (!block) { /* the very first push installs the first block */
            struct bq_block *nb = next_block ? next_block : bq_block_new(q);
            if (!nb)
                return -ENOMEM;
            next_block = NULL;
            struct bq_block *expected = NULL;
            if (atomic_compare_exchange_strong_explicit(
                    &q->tail.block, &expected, nb, memory_order_release, memory_order_relaxed)) {
                st_release(&q->head.block, nb);
                block = nb;
            } else {
                next_block = nb;
                tail = ld_acquire(&q->tail.index);
                block = ld_acquire(&q->tail.block);
                continue;
            }
        }
        size_t new_tail = tail + (1u << BQ_SHIFT);
        if (atomic_compare_exchange_weak_explicit(&q->tail.index, &tail, new_tail,
                                                  memory_order_seq_cst, memory_order_acquire)) {
            if (offset + 1 == BQ_BLOCK_CAP) { /* we took the last slot: install the next */
                struct bq_block *nb = next_block;
                next_block = NULL;
                st_release(&q->tail.block, nb);
                st_release(&q->tail.index, new_tail + (1u << BQ_SHIFT));
                st_release(&block->next, nb);
            }
            if (next_block)
                bq_block_free(q, next_block);
            struct bq_slot *slot = &block->slots[offset];
            slot->value = v;
            atomic_fetch_or_explicit(&slot->state, BQ_WRITE, memory_order_release);
            return 0;
        }
        block = ld_acquire(&q->tail.block);
        bq_backoff(&step);
    }
}

/* Free block b once slots [start, BQ_BLOCK_CAP - 1) are read; if one is still being read,
 * mark it DESTROY and let its reader continue from there. */
static inline void bq_destroy(struct bq *q, struct bq_block *b, size_t start)
{
    for (size_t i = start; i < BQ_BLOCK_CAP - 1; i++) {
        struct bq_slot *slot = &b->slots[i];
        if (!(ld_acquire(&slot->state) & BQ_READ) &&
            !(atomic_fetch_or_explicit(&slot->state, BQ_DESTROY, memory_order_acq_rel) & BQ_READ))
            return;
    }
    bq_block_free(q, b);
}

/* Take the oldest item, or NULL when the queue is empty. If `more` is not NULL it is set to
 * a hint, from what the pop read anyway, that items were left behind it (false: it probably
 * took the last one). Threads: any. */
static inline void *bq_pop_hint(struct bq *q, bool *more)
{
    bool left = true; /* HAS_NEXT: the tail is in a later block */
    size_t head = ld_acquire(&q->head.index);
    struct bq_block *block = ld_acquire(&q->head.block);
    unsigned step = 0;

    for (;;) {
        size_t offset = (head >> BQ_SHIFT) % BQ_LAP;
        if (offset == BQ_BLOCK_CAP) {
            bq_backoff(&step);
            head = ld_acquire(&q->head.index);
            block = ld_acquire(&q->head.block);
            continue;
        }
        size_t new_head = head + (1u << BQ_SHIFT);
        if (!(new_head & BQ_HAS_NEXT)) {
            atomic_thread_fence(memory_order_seq_cst);
            size_t tail = ld_relaxed(&q->tail.index);
            if ((head >> BQ_SHIFT) == (tail >> BQ_SHIFT))
                return NULL;
            if ((head >> BQ_SHIFT) / BQ_LAP != (tail >> BQ_SHIFT) / BQ_LAP)
                new_head |= BQ_HAS_NEXT;
            else
                left = (tail >> BQ_SHIFT) - (head >> BQ_SHIFT) > 1;
        }
        if (!block) { /* the first push is installing the first block */
            bq_backoff(&step);
            head = ld_acquire(&q->head.index);
            block = ld_acquire(&q->head.block);
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&q->head.index, &head, new_head,
                                                  memory_order_seq_cst, memory_order_acquire)) {
            if (offset + 1 == BQ_BLOCK_CAP) { /* move the head to the next block */
                struct bq_block *next;
                unsigned s2 = 0;
                while (!(next = ld_acquire(&block->next)))
                    bq_backoff(&s2);
                size_t next_index = (new_head & ~(size_t)BQ_HAS_NEXT) + (1u << BQ_SHIFT);
                if (ld_relaxed(&next->next))
                    next_index |= BQ_HAS_NEXT;
                st_release(&q->head.block, next);
                st_release(&q->head.index, next_index);
            }
            struct bq_slot *slot = &block->slots[offset];
            unsigned s3 = 0;
            while (!(ld_acquire(&slot->state) & BQ_WRITE))
                bq_backoff(&s3);
            void *v = slot->value;
            if (offset + 1 == BQ_BLOCK_CAP)
                bq_destroy(q, block, 0);
            else if (atomic_fetch_or_explicit(&slot->state, BQ_READ, memory_order_acq_rel) &
                     BQ_DESTROY)
                bq_destroy(q, block, offset + 1);
            if (more)
                *more = left;
            return v;
        }
        block = ld_acquire(&q->head.block);
        bq_backoff(&step);
        left = true;
    }
}

static inline void *bq_pop(struct bq *q)
{
    return bq_pop_hint(q, NULL);
}

/* True when no push is pending or done past the head (a claimed but unwritten push counts as
 * an item). Call after a seq_cst fence when pairing with a producer. Threads: any. */
static inline bool bq_is_empty(struct bq *q)
{
    size_t head = ld_acquire(&q->head.index) >> BQ_SHIFT;
    size_t tail = ld_acquire(&q->tail.index) >> BQ_SHIFT;
    return head == tail;
}

/* Items queued (approximate under concurrency: a racy snapshot). Threads: any. */
static inline size_t bq_len(struct bq *q)
{
    /* Head first: both indices only grow, so head <= tail holds for this snapshot. */
    size_t head = ld_acquire(&q->head.index) >> BQ_SHIFT;
    size_t tail = ld_acquire(&q->tail.index) >> BQ_SHIFT;
    if (head >= tail)
        return 0;
    /* Positions whose offset is BQ_BLOCK_CAP are not slots; [0, x) holds x / BQ_LAP of them. */
    return (tail - head) - (tail / BQ_LAP - head / BQ_LAP);
}

#endif
