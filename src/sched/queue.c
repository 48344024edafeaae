/* The cold halves of the local run queue: overflow and steal (see queue.h). */
#include "sched/queue.h"

uint32_t weft__lq_claim_half(struct weft__lq *q, struct weft__task **first,
                             struct weft__task **last)
{
    const uint32_t n = WEFT_LQ_CAP / 2;
    uint64_t h = ld_acquire(&q->head);
    uint32_t real = lq_real(h);

    if (lq_steal(h) != real)
        return 0; /* a thief is copying: it will free slots soon */
    if (ld_relaxed(&q->tail) - real < n)
        return 0;
    if (!atomic_compare_exchange_strong_explicit(&q->head, &h, lq_pack(real + n, real + n),
                                                 memory_order_acq_rel, memory_order_acquire))
        return 0; /* a thief got in first */
    struct weft__task *prev = NULL;
    for (uint32_t i = 0; i < n; i++) {
        struct weft__task *t = ld_relaxed(&q->buf[(real + i) & WEFT_LQ_MASK]);
        if (prev)
            prev->next = t;
        else
            *first = t;
        prev = t;
    }
    prev->next = NULL;
    *last = prev;
    return n;
}

struct weft__task *weft__lq_steal_into(struct weft__lq *src, struct weft__lq *dst)
{
    uint32_t dst_tail = ld_relaxed(&dst->tail);
    uint32_t dst_steal = lq_steal(ld_acquire(&dst->head));
    if (dst_tail - dst_steal > WEFT_LQ_CAP / 2)
        return NULL; /* we have plenty of our own */

    /* 1. Claim: advance src's real head past half its tasks, leaving steal where it was. */
    uint64_t h = ld_acquire(&src->head);
    uint32_t first, n;
    uint64_t claimed;
    for (;;) {
        uint32_t steal = lq_steal(h), real = lq_real(h);
        if (steal != real)
            return NULL; /* another thief is at work */
        uint32_t len = ld_acquire(&src->tail) - real;
        n = len - len / 2;
        if (n == 0)
            return NULL;
        if (n > WEFT_LQ_CAP / 2)
            n = WEFT_LQ_CAP / 2;
        claimed = lq_pack(steal, real + n);
        if (atomic_compare_exchange_weak_explicit(&src->head, &h, claimed, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            first = real;
            break;
        }
    }

    /* 2. Copy into our own ring (slots past our tail are ours to write). */
    for (uint32_t i = 0; i < n; i++) {
        struct weft__task *t = ld_relaxed(&src->buf[(first + i) & WEFT_LQ_MASK]);
        st_relaxed(&dst->buf[(dst_tail + i) & WEFT_LQ_MASK], t);
    }

    /* 3. Release the claim: steal catches up with real (the owner may have popped meanwhile). */
    h = claimed;
    for (;;) {
        uint32_t real = lq_real(h);
        if (atomic_compare_exchange_weak_explicit(&src->head, &h, lq_pack(real, real),
                                                  memory_order_acq_rel, memory_order_acquire))
            break;
    }

    /* 4. Keep the last one to run now; publish the rest. */
    n--;
    struct weft__task *ret = ld_relaxed(&dst->buf[(dst_tail + n) & WEFT_LQ_MASK]);
    if (n)
        st_release(&dst->tail, dst_tail + n);
    return ret;
}
