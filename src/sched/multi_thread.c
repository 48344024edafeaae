/* The multi-thread work-stealing executor (DESIGN decision 3).
 *
 * Each worker runs: LIFO slot -> local rings -> inject queues (first, every global_interval
 * ticks, so they cannot starve) -> steal half of another worker's rings -> park. There is a
 * ring and an inject queue per priority rank (sched.h); ranks are served high to low with a
 * quota that gives normal and low work a regular first turn.
 *
 * Waking a parked worker costs ~8 us on our VMs (research/vm-limits.md), so it happens only
 * when no worker is already searching for work and somebody is parked; a worker woken that
 * way counts as searching, and the last searcher to find work passes the baton on.
 *
 * Lost wakeups. A parking worker publishes itself (num_parked, under idle_lock) and then
 * re-checks every queue; a thread that pushes to the inject queue issues a seq_cst fence and
 * then reads num_parked/num_searching. One of the two always sees the other. Pushes to a
 * worker's own ring skip the fence: a missed notification there costs parallelism, never
 * liveness, because the pushing worker runs its own ring.
 */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sched/sched.h"
#include "io/driver.h"
#include "sys/futex.h"

/* ------------------------------------------------------------------ sleeping and waking */

/* A parked worker sleeps in its reactor (so IO completions wake it too); the futex is the
 * fallback when it has none. */
static int sleep_parked(struct weft__worker *w, uint32_t expect, int64_t deadline)
{
    if (w->io)
        return weft__io_park(w->io, deadline);
    weft__futex_wait(&w->park, expect, deadline);
    return 0;
}

static void wake_worker(struct weft__worker *w)
{
    if (w->io)
        weft__io_unpark(w->io);
    else
        weft__futex_wake(&w->park, 1);
}

/* ------------------------------------------------------------------ idle set */

static void notify_one(weft_rt *rt)
{
    /* Shutting down: workers are leaving or freeing their reactors (whose last completions
     * wake tasks, which lands here): nobody is to be woken any more. */
    if (ld_acquire(&rt->shutdown))
        return;
    pthread_mutex_lock(&rt->idle_lock);
    if (rt->nsleepers == 0 || ld_relaxed(&rt->num_searching) != 0 ||
        ld_relaxed(&rt->shutdown)) {
        pthread_mutex_unlock(&rt->idle_lock);
        return;
    }
    unsigned idx = rt->sleepers[--rt->nsleepers];
    atomic_fetch_sub_explicit(&rt->num_parked, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&rt->num_searching, 1, memory_order_seq_cst);
    /* Counted under the lock: a worker leaving at shutdown takes the lock once, then waits
     * for this to drop before it frees the reactor we are about to unpark (a blocking-pool
     * thread waking a task raced with exactly that: TSan, net_resolve@uring). */
    atomic_fetch_add_explicit(&rt->waking, 1, memory_order_relaxed);
    pthread_mutex_unlock(&rt->idle_lock);
    struct weft__worker *w = &rt->workers[idx];
    st_release(&w->park, PARK_NOTIFIED);
    wake_worker(w);
    atomic_fetch_sub_explicit(&rt->waking, 1, memory_order_release);
}

/* Cheap check after a local push: two loads, no fence (see the top comment). */
static inline void maybe_notify(weft_rt *rt)
{
    if (ld_relaxed(&rt->num_parked) != 0 && ld_relaxed(&rt->num_searching) == 0)
        notify_one(rt);
}

static bool has_work(weft_rt *rt)
{
    for (int r = 0; r < WEFT_NPRIO; r++) {
        if (atomic_load(&rt->inject[r].len) != 0)
            return true;
        for (unsigned i = 0; i < rt->nworkers; i++)
            if (weft__lq_len(&rt->workers[i].q[r]) != 0)
                return true;
    }
    return false;
}

static bool start_searching(struct weft__worker *w)
{
    weft_rt *rt = w->rt;
    if (w->searching)
        return true;
    uint32_t n = ld_relaxed(&rt->num_searching);
    if (2 * n >= rt->nworkers)
        return false; /* at most half the workers search at once */
    atomic_fetch_add_explicit(&rt->num_searching, 1, memory_order_seq_cst);
    w->searching = true;
    return true;
}

static void stop_searching(struct weft__worker *w)
{
    w->searching = false;
    /* The last searcher to find work wakes another: there may be more where it came from. */
    if (atomic_fetch_sub_explicit(&w->rt->num_searching, 1, memory_order_seq_cst) == 1 &&
        ld_relaxed(&w->rt->num_parked) != 0)
        notify_one(w->rt);
}

/* Take w out of the sleepers if it is still there. False: a notifier already took it and
 * is about to set PARK_NOTIFIED. */
static bool leave_sleepers(struct weft__worker *w)
{
    weft_rt *rt = w->rt;
    bool found = false;
    pthread_mutex_lock(&rt->idle_lock);
    for (unsigned i = 0; i < rt->nsleepers; i++) {
        if (rt->sleepers[i] == w->index) {
            rt->sleepers[i] = rt->sleepers[--rt->nsleepers];
            atomic_fetch_sub_explicit(&rt->num_parked, 1, memory_order_seq_cst);
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&rt->idle_lock);
    return found;
}

static size_t fire_due_timers(struct weft__worker *w)
{
    if (weft__timers_next(&w->timers) == INT64_MAX)
        return 0;
    int64_t now = weft__now();
    if (weft__timers_next(&w->timers) > now)
        return 0;
    return weft__timers_advance(&w->timers, now);
}

void weft__mt_unpark_timers(weft_rt *rt, struct weft__timers *ts)
{
    for (unsigned i = 0; i < rt->nworkers; i++) {
        struct weft__worker *w = &rt->workers[i];
        if (&w->timers != ts)
            continue;
        uint32_t expected = PARK_PARKED;
        if (atomic_compare_exchange_strong(&w->park, &expected, PARK_TIMER))
            wake_worker(w);
    }
}

/* Before sleeping, look for work for a few microseconds: waking a parked thread costs ~8 us
 * on our VMs and work often arrives sooner (a blocking job finishing, the other worker's
 * message). Bounded to 20 us. Measured on spawn_blocking seq: 8 us -> 2-3 us per call
 * (docs/benchmarks.md). Only when every worker can have a CPU of its own (park_spin_ns is 0
 * otherwise, see weft__mt_start): a worker spinning on the CPU another worker needs delays
 * the very work it waits for, and a server pinned to fewer CPUs than workers burned up to a
 * fifth of its CPU that way (bench/http, plain_c100). */
#define PARK_SPIN_NS WEFT_US(20)

static bool spin_for_work(struct weft__worker *w)
{
    weft_rt *rt = w->rt;
    if (rt->park_spin_ns == 0)
        return false;
    int64_t until = weft__now() + rt->park_spin_ns;
    for (unsigned i = 0;; i++) {
        if (has_work(rt) || ld_relaxed(&rt->shutdown))
            return true;
        if (weft__timers_next(&w->timers) <= weft__now())
            return true;
        /* Our own reactor too (with io_uring's DEFER_TASKRUN its completions arrive only when
         * we enter the kernel), but not every turn: a poll can cost a system call. */
        if (w->io && (i & 63) == 0 && weft__io_poll(w->io) > 0)
            return true;
        if (weft__now() >= until)
            return false;
        /* pause, not sched_yield: measured 2.2-3.6 us vs 3.7-17 us per spawn_blocking call. */
        weft__cpu_relax();
    }
}

static void park(struct weft__worker *w)
{
    weft_rt *rt = w->rt;
    if (spin_for_work(w))
        return;
    int64_t now = weft__now();

    WEFT_STAT_ADD(&w->stats, parks, 1);
    WEFT_STAT_ADD(&w->stats, busy_ns, now - ld_relaxed(&w->stats.busy_since));
    weft__publish_io_stats(&w->stats, w->io);
    st_relaxed(&w->stats.busy_since, 0);

    if (w->searching) {
        w->searching = false;
        atomic_fetch_sub_explicit(&rt->num_searching, 1, memory_order_seq_cst);
    }
    pthread_mutex_lock(&rt->idle_lock);
    st_relaxed(&w->park, PARK_PARKED);
    rt->sleepers[rt->nsleepers++] = w->index;
    atomic_fetch_add_explicit(&rt->num_parked, 1, memory_order_seq_cst);
    pthread_mutex_unlock(&rt->idle_lock);

    if (has_work(rt) || atomic_load(&rt->shutdown)) {
        if (leave_sleepers(w)) {
            st_relaxed(&w->park, PARK_RUNNING);
            st_relaxed(&w->stats.busy_since, weft__now());
            return;
        }
    }
    int64_t deadline = weft__timers_next(&w->timers);
    uint32_t p;
    for (;;) {
        p = ld_acquire(&w->park);
        if (p == PARK_NOTIFIED)
            break;
        if (p == PARK_TIMER || (deadline != INT64_MAX && weft__now() >= deadline)) {
            /* Our own timer is due (or moved earlier): get up unless a notifier beat us. */
            if (leave_sleepers(w))
                break;
            sleep_parked(w, p, INT64_MAX); /* NOTIFIED is on its way */
            continue;
        }
        if (sleep_parked(w, PARK_PARKED, deadline) > 0 && leave_sleepers(w))
            break; /* IO completions woke tasks onto our queue */
    }
    if (p == PARK_NOTIFIED)
        w->searching = true; /* the notifier counted us in num_searching */
    WEFT_STAT_ADD(&w->stats, unparks, 1);
    st_relaxed(&w->stats.busy_since, weft__now());
    st_relaxed(&w->park, PARK_RUNNING);
}

/* ------------------------------------------------------------------ queues */

static void push_back(struct weft__worker *w, struct weft__task *t)
{
    struct weft__lq *q = &w->q[t->prio];
    if (WEFT_LIKELY(weft__lq_try_push(q, t)))
        return;
    /* Full: move the older half plus t to the inject queue in one batch. */
    struct weft__task *first, *last;
    struct weft__inject *inj = &w->rt->inject[t->prio];
    uint32_t n = weft__lq_claim_half(q, &first, &last);
    WEFT_STAT_ADD(&w->stats, overflows, 1);
    if (n) {
        last->next = t;
        weft__inject_push(inj, first, t, n + 1);
    } else {
        weft__inject_push(inj, t, t, 1);
    }
}

void weft__mt_push_local(struct weft__worker *w, struct weft__task *t, int how)
{
    if (how == 0 && weft__tl.current) {
        /* Woken or spawned by the running task: run it next (cache-warm), Tokio's LIFO slot. */
        struct weft__task *prev = w->lifo;
        w->lifo = t;
        if (!prev)
            return;
        t = prev;
    }
    push_back(w, t);
    maybe_notify(w->rt);
}

void weft__mt_push_remote(weft_rt *rt, struct weft__task *t)
{
    weft__inject_push(&rt->inject[t->prio], t, t, 1);
    atomic_thread_fence(memory_order_seq_cst); /* pairs with park()'s re-check */
    if (ld_relaxed(&rt->num_parked) != 0 && ld_relaxed(&rt->num_searching) == 0)
        notify_one(rt);
}

/* Move a batch from inject queue `r` into our ring; return one task to run. */
static struct weft__task *pull_inject_rank(struct weft__worker *w, unsigned r)
{
    weft_rt *rt = w->rt;
    struct weft__inject *inj = &rt->inject[r];
    size_t len = ld_acquire(&inj->len);
    if (len == 0)
        return NULL;
    struct weft__lq *q = &w->q[r];
    uint32_t used = ld_relaxed(&q->tail) - lq_steal(ld_acquire(&q->head));
    size_t room = WEFT_LQ_CAP - used;
    size_t n = len / rt->nworkers + 1;
    if (n > room)
        n = room;
    if (n > 128)
        n = 128;
    if (n == 0)
        n = 1;
    struct weft__task *first = NULL;
    n = weft__inject_pop(inj, n, &first);
    if (n == 0)
        return NULL;
    struct weft__task *t = first->next;
    while (t) {
        struct weft__task *next = t->next;
        push_back(w, t);
        t = next;
    }
    return first;
}

static struct weft__task *pull_inject(struct weft__worker *w, unsigned first_rank)
{
    struct weft__task *t = pull_inject_rank(w, first_rank);
    for (unsigned r = 0; !t && r < WEFT_NPRIO; r++)
        if (r != first_rank)
            t = pull_inject_rank(w, r);
    return t;
}

static struct weft__task *next_task(struct weft__worker *w)
{
    struct weft__task *t;
    unsigned first = weft__first_rank(w->tick);

    /* High-priority work from outside is taken at the next tick, not at the next
     * global_interval: one relaxed load of a line nobody writes while it is empty. */
    if (WEFT_UNLIKELY(ld_relaxed(&w->rt->inject[RANK_HIGH].len) != 0) &&
        weft__inject_pop(&w->rt->inject[RANK_HIGH], 1, &t))
        return t;
    if (WEFT_UNLIKELY(--w->until_global == 0)) {
        w->until_global = w->rt->global_interval;
        for (unsigned r = 0; r < WEFT_NPRIO; r++)
            if (weft__inject_pop(&w->rt->inject[(first + r) % WEFT_NPRIO], 1, &t))
                return t;
    }
    if ((t = w->lifo)) {
        w->lifo = NULL;
        WEFT_STAT_ADD(&w->stats, lifo_hits, 1);
        return t;
    }
    if ((t = weft__lq_pop(&w->q[first])))
        return t;
    for (unsigned r = 0; r < WEFT_NPRIO; r++)
        if (r != first && (t = weft__lq_pop(&w->q[r])))
            return t;
    return pull_inject(w, first);
}

static struct weft__task *steal_work(struct weft__worker *w)
{
    weft_rt *rt = w->rt;
    if (rt->nworkers > 1 && start_searching(w)) {
        w->rng ^= w->rng << 13;
        w->rng ^= w->rng >> 7;
        w->rng ^= w->rng << 17;
        unsigned start = (unsigned)(w->rng % rt->nworkers);
        for (unsigned r = 0; r < WEFT_NPRIO; r++) {
            for (unsigned i = 0; i < rt->nworkers; i++) {
                unsigned v = (start + i) % rt->nworkers;
                if (v == w->index)
                    continue;
                uint32_t before = ld_relaxed(&w->q[r].tail);
                struct weft__task *t = weft__lq_steal_into(&rt->workers[v].q[r], &w->q[r]);
                if (t) {
                    WEFT_STAT_ADD(&w->stats, steals, 1);
                    WEFT_STAT_ADD(&w->stats, stolen, ld_relaxed(&w->q[r].tail) - before + 1);
                    return t;
                }
            }
        }
    }
    return pull_inject(w, RANK_HIGH);
}

static void run_with_lifo(struct weft__worker *w, struct weft__task *t)
{
    weft__run_task(w->rt, t);
    for (int i = 0; i < WEFT_MAX_LIFO_POLLS; i++) {
        t = w->lifo;
        if (!t)
            return;
        w->lifo = NULL;
        WEFT_STAT_ADD(&w->stats, lifo_hits, 1);
        weft__run_task(w->rt, t);
    }
    if (w->lifo) { /* LIFO has had its turns this tick: to the back of the line */
        t = w->lifo;
        w->lifo = NULL;
        push_back(w, t);
    }
}

/* ------------------------------------------------------------------ threads */

static void *worker_main(void *arg)
{
    struct weft__worker *w = arg;
    weft_rt *rt = w->rt;
    char name[32];

    /* Linux keeps 15 characters: the prefix is capped at 12, leaving room for "-NN". */
    snprintf(name, sizeof name, "%s-%u", rt->thread_name, w->index % 1000);
    name[15] = 0;
    pthread_setname_np(pthread_self(), name);
    /* A write into a socket whose peer left must return -EPIPE to the task, not kill the
     * process (F2): SIGPIPE stays pending on this thread instead. */
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    weft__tl.rt = rt;
    weft__tl.worker = w;
    weft__tl.slab = &w->slab;
    weft__tl.stats = &w->stats;
    weft__tl.index = w->index;
    st_relaxed(&w->stats.tid, (int)gettid());
    st_relaxed(&w->stats.busy_since, weft__now());
    if (rt->cfg.on_thread_start)
        rt->cfg.on_thread_start(rt->cfg.hook_arg);

    while (!ld_relaxed(&rt->shutdown)) {
        w->tick++;
        if (WEFT_UNLIKELY(--w->until_event == 0)) {
            w->until_event = rt->event_interval;
            fire_due_timers(w);
            if (w->io) {
                weft__io_poll(w->io); /* one enter carries every SQE since the last one */
                weft__publish_io_stats(&w->stats, w->io);
            }
        }
        struct weft__task *t = next_task(w);
        if (!t && w->io && weft__io_poll(w->io) > 0)
            continue; /* completions queued tasks here */
        if (!t)
            t = steal_work(w);
        if (t) {
            if (w->searching)
                stop_searching(w);
            run_with_lifo(w, t);
            continue;
        }
        if (fire_due_timers(w))
            continue;
        park(w);
        if (WEFT_UNLIKELY(atomic_load(&rt->monitor_idle))) /* seq_cst: pairs with the monitor */
            weft__metrics_wake_monitor(rt);
    }

    /* The reactor goes with its owner: pending operations complete (-ECANCELED) here, while
     * their task cells are still mapped; wakes are dropped since shutdown is set. Nobody may
     * unpark it any more, so wait until every worker is out of its loop (no more notify_one)
     * and weft__mt_stop has finished waking us. */
    atomic_fetch_add_explicit(&rt->exited, 1, memory_order_acq_rel);
    while (ld_acquire(&rt->exited) < rt->nworkers || !ld_acquire(&rt->stop_woken))
        sched_yield();
    /* A notify_one from another thread (a blocking job's wake) may have picked a sleeper
     * before shutdown: after this lock/unlock every such call is counted in `waking`, and
     * later ones see shutdown. Let them finish their unpark first. */
    pthread_mutex_lock(&rt->idle_lock);
    pthread_mutex_unlock(&rt->idle_lock);
    while (ld_acquire(&rt->waking) != 0)
        sched_yield();
    struct weft__io_driver *io = w->io;
    weft__publish_io_stats(&w->stats, io);
    w->io = NULL;
    weft__io_driver_free(io);
    if (rt->cfg.on_thread_stop)
        rt->cfg.on_thread_stop(rt->cfg.hook_arg);
    WEFT_STAT_ADD(&w->stats, busy_ns, weft__now() - ld_relaxed(&w->stats.busy_since));
    st_relaxed(&w->stats.busy_since, 0);
    weft__tl.rt = NULL;
    weft__tl.worker = NULL;
    weft__tl.slab = NULL;
    weft__tl.stats = NULL;
    return NULL;
}

int weft__mt_start(weft_rt *rt)
{
    unsigned n = rt->nworkers;
    rt->workers = weft__calloc(n, sizeof *rt->workers);
    rt->sleepers = weft__calloc(n, sizeof *rt->sleepers);
    if (!rt->workers || !rt->sleepers) {
        weft__free(rt->workers);
        weft__free(rt->sleepers);
        rt->workers = NULL;
        rt->sleepers = NULL;
        return -ENOMEM;
    }
    /* The workers inherit this thread's CPU set: spin before parking only if it has a CPU
     * for each of them. */
    cpu_set_t cpus;
    rt->park_spin_ns = PARK_SPIN_NS;
    if (sched_getaffinity(0, sizeof cpus, &cpus) == 0 && (unsigned)CPU_COUNT(&cpus) < n)
        rt->park_spin_ns = 0;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, rt->cfg.thread_stack_size);
    for (unsigned i = 0; i < n; i++) {
        struct weft__worker *w = &rt->workers[i];
        w->rt = rt;
        w->index = i;
        w->rng = 0x9e3779b97f4a7c15ull * (i + 1);
        w->until_global = rt->global_interval;
        w->until_event = rt->event_interval;
        weft__slab_init(&w->slab);
        weft__timers_init(&w->timers, weft__now());
    }
    for (unsigned i = 0; i < n; i++) {
        int err = weft__io_driver_new(&rt->workers[i].io,
                                      &(struct weft__io_config){.backend = rt->cfg.io_backend});
        if (err < 0) {
            pthread_attr_destroy(&attr);
            for (unsigned j = 0; j < i; j++)
                weft__io_driver_free(rt->workers[j].io);
            return err;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        int err = pthread_create(&rt->workers[i].thread, &attr, worker_main, &rt->workers[i]);
        if (err) {
            pthread_attr_destroy(&attr);
            for (unsigned j = i; j < n; j++) { /* never started: nobody owns them yet */
                weft__io_driver_free(rt->workers[j].io);
                rt->workers[j].io = NULL;
            }
            rt->nworkers = i; /* stop only those that started */
            weft__mt_stop(rt);
            rt->nworkers = n;
            return -EAGAIN;
        }
    }
    pthread_attr_destroy(&attr);
    return 0;
}

void weft__mt_stop(weft_rt *rt)
{
    atomic_store(&rt->shutdown, 1);
    for (unsigned i = 0; i < rt->nworkers; i++) {
        st_release(&rt->workers[i].park, PARK_NOTIFIED);
        wake_worker(&rt->workers[i]);
    }
    atomic_store_explicit(&rt->stop_woken, 1, memory_order_release);
    for (unsigned i = 0; i < rt->nworkers; i++)
        pthread_join(rt->workers[i].thread, NULL);
}
