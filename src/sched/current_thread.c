/* The current-thread executor: every task runs on the thread inside weft_rt_block_on().
 *
 * The run queue is a plain growable ring touched only by the driving thread, so a push or a
 * pop is a few instructions. Other threads (and wakes from them) go through the inject queue
 * and unpark the driver with a futex. Tasks still queued when block_on returns wait for the
 * next block_on.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "sched/sched.h"
#include "io/driver.h"
#include "sys/futex.h"

static bool ring_init(struct weft__ring *r)
{
    r->cap = 64;
    r->head = r->len = 0;
    r->slots = weft__alloc(r->cap * sizeof *r->slots);
    return r->slots != NULL;
}

bool weft__ct_ring_grow(struct weft__ring *r)
{
    size_t cap = r->cap * 2;
    struct weft__task **slots = weft__alloc(cap * sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < r->len; i++)
        slots[i] = r->slots[(r->head + i) & (r->cap - 1)];
    weft__free(r->slots);
    r->slots = slots;
    r->cap = cap;
    r->head = 0;
    return true;
}

static inline struct weft__task *ring_pop(struct weft__ring *r)
{
    if (r->len == 0)
        return NULL;
    struct weft__task *t = r->slots[r->head];
    r->head = (r->head + 1) & (r->cap - 1);
    r->len--;
    return t;
}

static void wake_driver(weft_rt *rt)
{
    if (rt->ct.io)
        weft__io_unpark(rt->ct.io);
    else
        weft__futex_wake(&rt->ct.park, 1);
}

int weft__ct_init(weft_rt *rt)
{
    struct weft__ct *ct = &rt->ct;
    for (int r = 0; r < WEFT_NPRIO; r++) {
        if (!ring_init(&ct->ring[r])) {
            weft__ct_fini(rt);
            return -ENOMEM;
        }
    }
    weft__slab_init(&ct->slab);
    weft__timers_init(&ct->timers, weft__now());
    /* A plain ring: successive block_on calls may come from different threads (no
     * SINGLE_ISSUER), and a host loop may sleep in poll() on the ring fd (no deferred task
     * work that only runs when we enter the kernel ourselves). */
    int err = weft__io_driver_new(
        &ct->io, &(struct weft__io_config){.backend = rt->cfg.io_backend, .uring_first_rung = 2});
    if (err < 0) {
        weft__ct_fini(rt);
        return err;
    }
    ct->until_global = rt->global_interval;
    ct->until_event = rt->event_interval;
    return 0;
}

void weft__ct_fini(weft_rt *rt)
{
    weft__io_driver_free(rt->ct.io);
    rt->ct.io = NULL;
    for (int r = 0; r < WEFT_NPRIO; r++) {
        weft__free(rt->ct.ring[r].slots);
        rt->ct.ring[r].slots = NULL;
    }
}

void weft__ct_push_remote(weft_rt *rt, struct weft__task *t)
{
    weft__inject_push(&rt->inject[t->prio], t, t, 1);
    atomic_thread_fence(memory_order_seq_cst); /* pairs with the driver's park re-check */
    if (ld_relaxed(&rt->ct.park) == PARK_PARKED) {
        st_release(&rt->ct.park, PARK_NOTIFIED);
        wake_driver(rt);
    }
}

static struct weft__task *pull_inject(weft_rt *rt, unsigned first_rank)
{
    for (unsigned i = 0; i < WEFT_NPRIO; i++) {
        struct weft__task *first = NULL;
        unsigned r = (first_rank + i) % WEFT_NPRIO;
        if (weft__inject_pop(&rt->inject[r], 128, &first) == 0)
            continue;
        for (struct weft__task *t = first->next; t;) {
            struct weft__task *next = t->next;
            weft__ct_push_local(rt, t);
            t = next;
        }
        return first;
    }
    return NULL;
}

static bool inject_empty(weft_rt *rt)
{
    for (int r = 0; r < WEFT_NPRIO; r++)
        if (atomic_load(&rt->inject[r].len) != 0)
            return false;
    return true;
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
        wake_driver(rt);
}

int weft__ct_block_on(weft_rt *rt, struct weft__task *until)
{
    struct weft__ct *ct = &rt->ct;
    int expected = 0;

    if (!atomic_compare_exchange_strong(&ct->driving, &expected, 1))
        return -EDEADLK;
    if (ct->embed_parked) { /* a host loop drove us before: take the reactor back */
        weft__io_park_end(ct->io);
        ct->embed_parked = false;
        st_relaxed(&ct->park, PARK_RUNNING);
    }
    struct weft__tl saved = weft__tl;
    sigset_t pipe, old_mask; /* SIGPIPE blocked while weft runs here, as on the workers (F2) */
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &old_mask);
    weft__tl.rt = rt;
    weft__tl.worker = NULL;
    weft__tl.slab = &ct->slab;
    weft__tl.current = NULL;
    weft__tl.stats = &ct->stats;
    weft__tl.index = 0;
    st_relaxed(&ct->stats.tid, (int)gettid()); /* the driving thread can change per call */
    st_relaxed(&ct->stats.busy_since, weft__now());

    while (!(ld_acquire(&until->state) & TASK_COMPLETE)) {
        struct weft__task *t = NULL;
        unsigned first = weft__first_rank(++ct->tick);
        /* Countdowns, not `tick % interval`: a division per tick is measurable here. */
        if (WEFT_UNLIKELY(--ct->until_global == 0) && (ct->until_global = rt->global_interval))
            for (unsigned r = 0; !t && r < WEFT_NPRIO; r++)
                weft__inject_pop(&rt->inject[(first + r) % WEFT_NPRIO], 1, &t);
        if (!t && WEFT_UNLIKELY(ld_relaxed(&rt->inject[RANK_HIGH].len) != 0))
            weft__inject_pop(&rt->inject[RANK_HIGH], 1, &t);
        if (!t)
            t = ring_pop(&ct->ring[first]);
        for (unsigned r = 0; !t && r < WEFT_NPRIO; r++)
            t = ring_pop(&ct->ring[r]);
        if (!t)
            t = pull_inject(rt, first);
        if (t) {
            if (WEFT_UNLIKELY(--ct->until_event == 0)) {
                ct->until_event = rt->event_interval;
                fire_due_timers(ct);
                if (ct->io) {
                    weft__io_poll(ct->io);
                    weft__publish_io_stats(&ct->stats, ct->io);
                }
            }
            weft__run_task(rt, t);
            continue;
        }
        if (fire_due_timers(ct))
            continue;
        if (ct->io && weft__io_poll(ct->io) > 0)
            continue;
        /* Park: publish, re-check, sleep until the next timer at most. */
        WEFT_STAT_ADD(&ct->stats, parks, 1);
        WEFT_STAT_ADD(&ct->stats, busy_ns, weft__now() - ld_relaxed(&ct->stats.busy_since));
        weft__publish_io_stats(&ct->stats, ct->io);
        atomic_store(&ct->park, PARK_PARKED);
        if (inject_empty(rt) && !(ld_acquire(&until->state) & TASK_COMPLETE)) {
            int64_t deadline = weft__timers_next(&ct->timers);
            while (ld_acquire(&ct->park) == PARK_PARKED && weft__now() < deadline) {
                if (!ct->io)
                    weft__futex_wait(&ct->park, PARK_PARKED, deadline);
                else if (weft__io_park(ct->io, deadline) > 0)
                    break; /* completions woke tasks */
            }
        }
        st_relaxed(&ct->park, PARK_RUNNING);
        WEFT_STAT_ADD(&ct->stats, unparks, 1);
        st_relaxed(&ct->stats.busy_since, weft__now());
    }
    WEFT_STAT_ADD(&ct->stats, busy_ns, weft__now() - ld_relaxed(&ct->stats.busy_since));
    st_relaxed(&ct->stats.busy_since, 0);
    weft__publish_io_stats(&ct->stats, ct->io);

    saved.id_next = weft__tl.id_next;
    saved.id_end = weft__tl.id_end;
    weft__tl = saved;
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    atomic_store(&ct->driving, 0);
    return 0;
}

/* ------------------------------------------------------------------ embedding */

int weft_rt_fd(weft_rt *rt)
{
    if (!rt || rt->flavor != WEFT_RT_CURRENT_THREAD || !rt->ct.io)
        return -EINVAL;
    return weft__io_driver_pollfd(rt->ct.io);
}

#define RUN_ONCE_MAX_POLLS 4096

int weft_rt_run_once(weft_rt *rt, int64_t *next_deadline)
{
    if (!rt || rt->flavor != WEFT_RT_CURRENT_THREAD)
        return -EINVAL;
    struct weft__ct *ct = &rt->ct;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&ct->driving, &expected, 1))
        return -EBUSY;
    if (ct->embed_parked) { /* back from the host's wait */
        weft__io_park_end(ct->io);
        ct->embed_parked = false;
    }
    st_relaxed(&ct->park, PARK_RUNNING);
    struct weft__tl saved = weft__tl;
    weft__tl.rt = rt;
    weft__tl.worker = NULL;
    weft__tl.slab = &ct->slab;
    weft__tl.current = NULL;
    weft__tl.stats = &ct->stats;
    weft__tl.index = 0;
    st_relaxed(&ct->stats.tid, (int)gettid()); /* the driving thread can change per call */

    int polls = 0;
    for (int pass = 0; pass < 4; pass++) {
        fire_due_timers(ct);
        weft__io_poll(ct->io);
        struct weft__task *t = NULL;
        while (polls < RUN_ONCE_MAX_POLLS) {
            unsigned first = weft__first_rank(++ct->tick);
            t = ring_pop(&ct->ring[first]);
            for (unsigned r = 0; !t && r < WEFT_NPRIO; r++)
                t = ring_pop(&ct->ring[r]);
            if (!t)
                t = pull_inject(rt, first);
            if (!t)
                break;
            weft__run_task(rt, t);
            polls++;
        }
        if (t || polls >= RUN_ONCE_MAX_POLLS)
            break;
        /* Nothing local: did timers or IO produce more? */
        if (weft__timers_next(&ct->timers) > weft__now() && !weft__io_has_ready(ct->io))
            break;
    }

    /* Prepare for the host's wait: from here, wakes from other threads write the eventfd. */
    int64_t deadline = weft__timers_next(&ct->timers);
    bool more = polls >= RUN_ONCE_MAX_POLLS || weft__io_poll(ct->io) > 0;
    for (int r = 0; r < WEFT_NPRIO; r++)
        more |= ct->ring[r].len != 0;
    atomic_store(&ct->park, PARK_PARKED);
    if (!more && inject_empty(rt) && !weft__io_has_ready(ct->io)) {
        if (weft__io_park_begin(ct->io) == 0) {
            ct->embed_parked = true;
        } else { /* an unpark is already pending */
            weft__io_park_end(ct->io);
            more = true;
        }
    } else {
        more = true;
    }
    if (more) {
        st_relaxed(&ct->park, PARK_RUNNING);
        deadline = 0; /* call again at once */
    }
    saved.id_next = weft__tl.id_next;
    saved.id_end = weft__tl.id_end;
    weft__tl = saved;
    atomic_store(&ct->driving, 0);
    if (next_deadline)
        *next_deadline = deadline;
    return polls;
}
