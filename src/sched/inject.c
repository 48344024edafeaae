/* The inject queue: where work from outside a worker lands (remote spawns and wakes, ring
 * overflow). A mutex around an intrusive list; `len` is read without the lock so workers skip
 * an empty queue for the price of a load. */
#include "sched/sched.h"

void weft__inject_init(struct weft__inject *q)
{
    pthread_mutex_init(&q->lock, NULL);
    q->head = q->tail = NULL;
    st_relaxed(&q->len, 0);
}

void weft__inject_fini(struct weft__inject *q)
{
    pthread_mutex_destroy(&q->lock);
}

void weft__inject_push(struct weft__inject *q, struct weft__task *first, struct weft__task *last,
                       size_t n)
{
    last->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->tail)
        q->tail->next = first;
    else
        q->head = first;
    q->tail = last;
    atomic_store_explicit(&q->len, ld_relaxed(&q->len) + n, memory_order_release);
    pthread_mutex_unlock(&q->lock);
}

size_t weft__inject_pop(struct weft__inject *q, size_t max, struct weft__task **first)
{
    if (ld_acquire(&q->len) == 0)
        return 0;
    pthread_mutex_lock(&q->lock);
    size_t len = ld_relaxed(&q->len), n = len < max ? len : max;
    struct weft__task *t = q->head, *last = NULL;
    for (size_t i = 0; i < n; i++) {
        last = t;
        t = t->next;
    }
    if (n) {
        *first = q->head;
        last->next = NULL;
        q->head = t;
        if (!t)
            q->tail = NULL;
        st_release(&q->len, len - n);
    }
    pthread_mutex_unlock(&q->lock);
    return n;
}

int weft__inject_admit(weft_rt *rt)
{
    size_t cap = rt->cfg.max_inject;
    if (WEFT_LIKELY(cap == 0))
        return 0;
    if (weft__tl_drives(rt))
        return 0; /* to the caller's own queue */
    size_t len = 0;
    for (int r = 0; r < WEFT_NPRIO; r++)
        len += ld_relaxed(&rt->inject[r].len);
    if (len < cap)
        return 0; /* a snapshot: racing spawners may overshoot by their number */
    atomic_fetch_add_explicit(&rt->inject_refused, 1, memory_order_relaxed);
    return -EAGAIN;
}
