/* The per-worker local run queue: a fixed ring the owner pushes to and pops from (FIFO), and
 * other workers steal half of.
 *
 * head packs two 32-bit indices: `real` (next slot the owner pops) in the low half and
 * `steal` (start of a range a thief is copying) in the high half. They differ only while a
 * steal is in flight; that blocks a second thief and keeps the owner from reusing the slots
 * being copied (the owner's capacity check counts from `steal`). Only the owner writes tail.
 * No fences: acquire/release loads and stores plus CAS on head (TSan sees all of it).
 * Slots are relaxed atomics: the tail store (release) publishes them.
 */
#ifndef WEFT_SCHED_QUEUE_H
#define WEFT_SCHED_QUEUE_H

#include "core/core.h"
#include "task/task.h"

#ifdef WEFT_SMALL_QUEUE
#define WEFT_LQ_CAP 4u /* tests: force overflow and steals */
#else
#define WEFT_LQ_CAP 256u
#endif
#define WEFT_LQ_MASK (WEFT_LQ_CAP - 1)

struct weft__lq {
    alignas(WEFT_CACHELINE) _Atomic uint64_t head; /* steal:32 | real:32 */
    alignas(WEFT_CACHELINE) _Atomic uint32_t tail; /* written by the owner only */
    _Atomic(struct weft__task *) buf[WEFT_LQ_CAP];
};

static inline uint32_t lq_real(uint64_t h) { return (uint32_t)h; }
static inline uint32_t lq_steal(uint64_t h) { return (uint32_t)(h >> 32); }
static inline uint64_t lq_pack(uint32_t steal, uint32_t real)
{
    return ((uint64_t)steal << 32) | real;
}

static inline uint32_t weft__lq_len(struct weft__lq *q)
{
    uint64_t h = ld_acquire(&q->head);
    return ld_acquire(&q->tail) - lq_real(h);
}

/* Owner: push at the tail. Returns false when full (the caller overflows). */
static inline bool weft__lq_try_push(struct weft__lq *q, struct weft__task *t)
{
    uint32_t tail = ld_relaxed(&q->tail);
    uint32_t steal = lq_steal(ld_acquire(&q->head));
    if (WEFT_UNLIKELY(tail - steal >= WEFT_LQ_CAP))
        return false;
    st_relaxed(&q->buf[tail & WEFT_LQ_MASK], t);
    st_release(&q->tail, tail + 1);
    return true;
}

/* Owner: pop from the head (FIFO). */
static inline struct weft__task *weft__lq_pop(struct weft__lq *q)
{
    uint64_t h = ld_acquire(&q->head);
    for (;;) {
        uint32_t steal = lq_steal(h), real = lq_real(h);
        if (real == ld_relaxed(&q->tail))
            return NULL;
        uint64_t next = steal == real ? lq_pack(real + 1, real + 1) : lq_pack(steal, real + 1);
        if (atomic_compare_exchange_weak_explicit(&q->head, &h, next, memory_order_acq_rel,
                                                  memory_order_acquire))
            return ld_relaxed(&q->buf[real & WEFT_LQ_MASK]);
    }
}

/* Owner: the ring is full; claim its older half so the caller can move it (plus the new
 * task) to the inject queue in one batch. Returns the number claimed (0 if a steal is in
 * flight or the ring drained meanwhile), with the tasks linked through ->next into
 * *first and *last. */
uint32_t weft__lq_claim_half(struct weft__lq *q, struct weft__task **first,
                             struct weft__task **last);

/* Thief: move half of src's tasks into dst (dst's owner calls this). Returns one task to run
 * now, or NULL. */
struct weft__task *weft__lq_steal_into(struct weft__lq *src, struct weft__lq *dst);

#endif
