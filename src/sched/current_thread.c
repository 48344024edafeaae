/* The current-thread executor: every task runs on the thread inside weft_rt_block_on().
 *
 * The run queue is a plain growable ring touched only by the driving thread, so a push or a
 * pop is a few instructions. Other threads (and wakes from them) go through the inject queue
 * and unpark the driver with a futex. Tasks still queued when block_on returns wait for the
 * next block_on.
 */
#include <string.h>

#include "sched/sched.h"
#include "sys/futex.h"

int weft__ct_init(weft_rt *rt)
{
    struct weft__ct *ct = &rt->ct;
    ct->cap = 256;
    ct->ring = weft__alloc(ct->cap * sizeof *ct->ring);
    if (!ct->ring)
        return -ENOMEM;
    ct->head = ct->len = 0;
    weft__slab_init(&ct->slab);
    weft__timers_init(&ct->timers, weft__now());
    return 0;
}

void weft__ct_fini(weft_rt *rt)
{
    weft__free(rt->ct.ring);
    rt->ct.ring = NULL;
}

static bool grow(struct weft__ct *ct)
{
    size_t cap = ct->cap * 2;
    struct weft__task **ring = weft__alloc(cap * sizeof *ring);
    if (!ring)
        return false;
    for (size_t i = 0; i < ct->len; i++)
        ring[i] = ct->ring[(ct->head + i) & (ct->cap - 1)];
    weft__free(ct->ring);
    ct->ring = ring;
    ct->cap = cap;
    ct->head = 0;
    return true;
}

void weft__ct_push_local(weft_rt *rt, struct weft__task *t)
{
    struct weft__ct *ct = &rt->ct;
    if (WEFT_UNLIKELY(ct->len == ct->cap) && !grow(ct)) {
        /* Out of memory for the ring: the inject list needs none. */
        weft__inject_push(&rt->inject, t, t, 1);
        return;
    }
    ct->ring[(ct->head + ct->len) & (ct->cap - 1)] = t;
    ct->len++;
}

static inline struct weft__task *pop_local(struct weft__ct *ct)
{
    if (ct->len == 0)
        return NULL;
    struct weft__task *t = ct->ring[ct->head];
    ct->head = (ct->head + 1) & (ct->cap - 1);
    ct->len--;
    return t;
}

void weft__ct_push_remote(weft_rt *rt, struct weft__task *t)
{
    weft__inject_push(&rt->inject, t, t, 1);
    atomic_thread_fence(memory_order_seq_cst); /* pairs with the driver's park re-check */
    if (ld_relaxed(&rt->ct.park) == PARK_PARKED) {
        st_release(&rt->ct.park, PARK_NOTIFIED);
        weft__futex_wake(&rt->ct.park, 1);
    }
}

static struct weft__task *pull_inject(weft_rt *rt)
{
    struct weft__task *first = NULL;
    if (weft__inject_pop(&rt->inject, 128, &first) == 0)
        return NULL;
    for (struct weft__task *t = first->next; t;) {
        struct weft__task *next = t->next;
        weft__ct_push_local(rt, t);
        t = next;
    }
    return first;
}

static size_t fire_due_timers(struct weft__ct *ct)
{
    if (weft__timers_next(&ct->timers) == INT64_MAX)
        return 0;
    int64_t now = weft__now();
    if (weft__timers_next(&ct->timers) > now)
        return 0;
    return weft__timers_advance(&ct->timers, now);
}

void weft__ct_unpark(weft_rt *rt)
{
    uint32_t expected = PARK_PARKED;
    if (atomic_compare_exchange_strong(&rt->ct.park, &expected, PARK_NOTIFIED))
        weft__futex_wake(&rt->ct.park, 1);
}

int weft__ct_block_on(weft_rt *rt, struct weft__task *until)
{
    struct weft__ct *ct = &rt->ct;
    int expected = 0;

    if (!atomic_compare_exchange_strong(&ct->driving, &expected, 1))
        return -EDEADLK;
    struct weft__tl saved = weft__tl;
    weft__tl.rt = rt;
    weft__tl.worker = NULL;
    weft__tl.slab = &ct->slab;
    weft__tl.current = NULL;

    while (!(ld_acquire(&until->state) & TASK_COMPLETE)) {
        struct weft__task *t = NULL;
        if (WEFT_UNLIKELY(++ct->tick % rt->global_interval == 0))
            weft__inject_pop(&rt->inject, 1, &t);
        if (!t)
            t = pop_local(ct);
        if (!t)
            t = pull_inject(rt);
        if (t) {
            if (WEFT_UNLIKELY(ct->tick % rt->event_interval == 0))
                fire_due_timers(ct);
            weft__run_task(rt, t);
            continue;
        }
        if (fire_due_timers(ct))
            continue;
        /* Park: publish, re-check, sleep until the next timer at most. */
        atomic_store(&ct->park, PARK_PARKED);
        if (atomic_load(&rt->inject.len) == 0 && !(ld_acquire(&until->state) & TASK_COMPLETE)) {
            int64_t deadline = weft__timers_next(&ct->timers);
            while (ld_acquire(&ct->park) == PARK_PARKED && weft__now() < deadline)
                weft__futex_wait(&ct->park, PARK_PARKED, deadline);
        }
        st_relaxed(&ct->park, PARK_RUNNING);
    }

    saved.id_next = weft__tl.id_next;
    saved.id_end = weft__tl.id_end;
    weft__tl = saved;
    atomic_store(&ct->driving, 0);
    return 0;
}
