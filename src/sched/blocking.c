/* The blocking pool (DESIGN decision 6; docs/design/blocking.md): weft_spawn_blocking*.
 *
 * Shape. A pool per runtime, created on first use, with WEFT_LANE_COUNT lanes. A lane is a
 * lock-free MPMC queue of task cells (blocking.h), a thread cap, and its threads. A job is an
 * ordinary task cell (weft__task_create) whose future is never polled: a pool thread claims
 * the cell, runs fn(arg) outside the task machinery, writes the output and completes the cell,
 * which wakes the join side. So joins, abort, detach and join_wait are the task system's own.
 *
 * A queued cell is *idle* (SCHEDULED clear) and holds one extra reference for the queue.
 * Claiming is one CAS: idle -> SCHEDULED, dropping the queue ref (the alive ref keeps the
 * cell until it completes). weft_join_abort on a queued job finds it idle and wakes it: the
 * executor gets it, sees CANCELLED, and completes it with -ECANCELED at once, without waiting
 * for a pool thread. The pool later pops the entry, fails to claim it and drops its ref.
 *
 * Threads and counts. Each lane keeps `awake` = (running << 16) | searching. A thread is
 * searching (just started or woken, or spinning for work after a job), running (holding a
 * job), or parked on the lane's idle list. At most one thread per lane spins (SPIN_NS) after
 * its queue runs dry, so a job that comes soon after is taken without a futex hand-off.
 *
 * Who starts threads. A submitter, after its push and a seq_cst fence, reads `awake`:
 *   - a searcher exists: nothing to do, it will take the job;
 *   - fewer than ncpu threads are running: wake an idle thread, or start one below the cap;
 *   - otherwise arm the monitor.
 * The monitor (one thread per pool, also "<rt>-blk", parked while no lane has a backlog)
 * ticks every 50 us .. 1 ms while one does. A running thread that has been on the same job
 * since the last tick counts as stalled; when fewer than ncpu running threads make progress,
 * the monitor wakes or starts max(ncpu - progressing, stalled) more (at most the backlog and
 * the cap). Short jobs in a burst so stay on ncpu threads instead of waking one thread per
 * job (Tokio's 16 us per spawn_blocking in a batch), and blocked jobs still get threads
 * within a tick. Go's sysmon and .NET's starvation detection do the same.
 *
 * Lost wakeups. A thread leaving the searching/running states decrements `awake` (seq_cst),
 * fences and re-checks its queue before it sleeps; a submitter pushes, fences and reads
 * `awake`. One of the two always sees the other. The monitor's arm flag works the same way.
 *
 * Shutdown and the runtime's lifetime (weft__blocking_fini, called by weft_rt_free after the
 * workers are stopped). The pool struct is refcounted: the runtime holds one ref and each
 * live thread one, so a thread that outlives the runtime still has its pool. What a thread may
 * touch of the runtime (task cells, their joins' wakers) is fenced by its `job` word:
 *   IDLE     spinning, parked or exiting: pool memory only;
 *   BUSY     popping, claiming, cancelling or completing cells, back to back while jobs
 *            keep coming: touches the runtime, never blocks;
 *   RUNNING  inside fn: touches nothing of ours;
 *   DETACHED set by fini: the thread may never touch the runtime again.
 * A thread enters BUSY only by CAS from IDLE or RUNNING; fini detaches with a CAS from IDLE
 * or RUNNING and waits out BUSY (short). A thread whose CAS fails has been detached: it
 * drops the job's result, skips on_thread_stop and exits, touching pool memory only.
 * fini: close the pool (new submissions fail with -ESHUTDOWN; in-flight ones are waited
 * for), wake every idle thread, cancel every queued job (-ECANCELED), wait until every
 * thread has exited or cfg.shutdown_timeout has passed, then detach the rest and count them.
 * rt_free then cancels the cells of detached jobs with the other unfinished tasks.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sched/blocking.h"
#include "sched/sched.h"
#include "sys/futex.h"
#include "weft/blocking.h"

/* ------------------------------------------------------------------ tunables */

#define DEFAULT_MAX_THREADS      512u
#define SIDE_LANE_MAX_THREADS    64u    /* fs and dns default caps (never above the default's) */
#define MAX_THREADS_LIMIT        65535u /* `awake` packs two 16-bit counts */
#define DEFAULT_KEEP_ALIVE       WEFT_SEC(10)
#define DEFAULT_SHUTDOWN_TIMEOUT WEFT_SEC(10)
#define SPIN_NS                  WEFT_US(50) /* a thread whose queue ran dry spins this long */
#define SPIN_PAUSES              16u         /* between two looks at the queue while spinning */
#define SPIN_PREEMPTED_NS        WEFT_US(20) /* a gap this long between clock reads: descheduled */
#define MAX_SPINNERS             1u          /* per lane */
#define TICK_MIN                 WEFT_US(50) /* monitor period while it has something to do */
#define TICK_MAX                 WEFT_MS(1)  /* ... doubling up to this while nothing needs doing */

#define SEARCH_ONE   1u
#define RUN_ONE      (1u << 16)
#define SEARCHING(a) ((a)&0xffffu)
#define RUNNING(a)   ((a) >> 16)

enum { JOB_IDLE = 0, JOB_BUSY = 1, JOB_RUNNING = 2, JOB_DETACHED = 3 };
enum { PK_RUNNING = 0, PK_PARKED = 1, PK_NOTIFIED = 2 };
enum { MON_IDLE = 0, MON_ARMED = 1, MON_CLOSED = 2 };

/* rt->blocking after fini: no pool may be created any more. */
#define POOL_DEAD ((struct weft__blocking *)(uintptr_t)1)

/* ------------------------------------------------------------------ structures */

struct blk_thread {
    struct weft__blocking *pool; /* holds one pool ref for the thread's life */
    struct blk_lane *lane;       /* NULL for the monitor */
    _Atomic uint32_t job;        /* JOB_*: what of the runtime this thread may touch */
    _Atomic uint32_t park;       /* futex word: PK_*; written under lane->lock or by us */
    _Atomic uint64_t started;    /* jobs started; written by the thread, read by the monitor */
    _Atomic uint64_t done;       /* jobs whose fn returned; same */
    uint64_t seen_started;       /* monitor only: `started` at its previous tick */
    struct blk_thread *all_prev, *all_next;   /* pool->threads; guarded by pool->lock */
    struct blk_thread *idle_prev, *idle_next; /* lane->idle; guarded by lane->lock */
    bool in_idle;                             /* on lane->idle; guarded by lane->lock */
};

struct blk_lane {
    struct bq q;                                    /* the jobs: task cells */
    alignas(WEFT_CACHELINE) _Atomic uint32_t awake; /* running << 16 | searching */
    _Atomic uint32_t max_threads;
    _Atomic size_t max_queued;                    /* 0: unbounded */
    alignas(WEFT_CACHELINE) pthread_mutex_t lock; /* idle list; thread count changes */
    struct blk_thread *idle;                      /* parked threads, most recent first */
    _Atomic uint32_t nthreads;                    /* alive; changed under lock */
    _Atomic uint32_t nidle;                       /* on the idle list; changed under lock */
    _Atomic uint64_t cancelled, refused, spawned; /* rare events: plain RMWs */
    _Atomic uint64_t retired_done;                /* `done` of threads that have exited */
};

struct weft__blocking {
    _Atomic int refs;           /* the runtime's + one per live thread */
    _Atomic int closed;         /* fini has begun: refuse new jobs, cancel queued ones */
    _Atomic int inflight;       /* submitters between their closed check and their push */
    _Atomic uint32_t alive;     /* futex word: live threads (monitor included) */
    _Atomic uint32_t mon_state; /* futex word: MON_* */
    pthread_mutex_t lock;       /* threads list, monitor start/stop */
    struct blk_thread *threads; /* every live thread; guarded by lock */
    bool mon_alive;             /* a monitor thread exists; guarded by lock */
    unsigned ncpus;             /* immutable from here on */
    int64_t keep_alive;
    size_t stack_size;
    void (*on_start)(void *);
    void (*on_stop)(void *);
    void *hook_arg;
    char name[16]; /* "<rt name>-blk", truncated to 15 bytes */
    struct blk_lane lanes[WEFT_LANE_COUNT];
};

/* The job's state inside its task cell. */
struct blk_job {
    weft_blocking_fn fn;
    void *arg;
};

static _Atomic uint64_t detached_total;

/* Polled only when an abort moved a queued job to the executor: the poller sees CANCELLED
 * and never calls this; if anything else ever woke it, refuse rather than block a worker. */
static weft_poll blk_poll(void *state, weft_cx *cx, void *out)
{
    (void)state, (void)cx, (void)out;
    return WEFT_FAIL(-ECANCELED);
}

static const weft_future_type blk_type = {
    .name = "spawn_blocking",
    .poll = blk_poll,
    .state_size = sizeof(struct blk_job),
    .out_size = sizeof(void *),
};

/* ------------------------------------------------------------------ pool lifetime */

static void pool_free(struct weft__blocking *p)
{
    for (unsigned i = 0; i < WEFT_LANE_COUNT; i++) {
        bq_fini(&p->lanes[i].q);
        pthread_mutex_destroy(&p->lanes[i].lock);
    }
    pthread_mutex_destroy(&p->lock);
    weft__free(p);
}

static void pool_unref(struct weft__blocking *p)
{
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        pool_free(p);
}

static struct weft__blocking *pool_new(weft_rt *rt)
{
    struct weft__blocking *p = weft__calloc(1, sizeof *p);
    if (!p)
        return NULL;
    atomic_init(&p->refs, 1);
    pthread_mutex_init(&p->lock, NULL);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    p->ncpus = n > 0 ? (unsigned)n : 1;
    p->keep_alive =
        rt->cfg.blocking_keep_alive > 0 ? rt->cfg.blocking_keep_alive : DEFAULT_KEEP_ALIVE;
    p->stack_size = rt->cfg.thread_stack_size;
    p->on_start = rt->cfg.on_thread_start;
    p->on_stop = rt->cfg.on_thread_stop;
    p->hook_arg = rt->cfg.hook_arg;
    snprintf(p->name, sizeof p->name, "%.11s-blk", rt->thread_name);
    unsigned cap =
        rt->cfg.max_blocking_threads ? rt->cfg.max_blocking_threads : DEFAULT_MAX_THREADS;
    if (cap > MAX_THREADS_LIMIT)
        cap = MAX_THREADS_LIMIT;
    for (unsigned i = 0; i < WEFT_LANE_COUNT; i++) {
        struct blk_lane *l = &p->lanes[i];
        bq_init(&l->q);
        pthread_mutex_init(&l->lock, NULL);
        unsigned c = i == WEFT_LANE_DEFAULT        ? cap
                     : cap < SIDE_LANE_MAX_THREADS ? cap
                                                   : SIDE_LANE_MAX_THREADS;
        atomic_init(&l->max_threads, c);
    }
    return p;
}

/* The runtime's pool, created on first use. NULL with *err set when it cannot be. */
static struct weft__blocking *get_pool(weft_rt *rt, int *err)
{
    struct weft__blocking *p = __atomic_load_n(&rt->blocking, __ATOMIC_ACQUIRE);
    if (WEFT_LIKELY(p && p != POOL_DEAD))
        return p;
    if (p == POOL_DEAD || ld_relaxed(&rt->closed)) {
        *err = -ESHUTDOWN;
        return NULL;
    }
    struct weft__blocking *mine = pool_new(rt);
    if (!mine) {
        *err = -ENOMEM;
        return NULL;
    }
    struct weft__blocking *expected = NULL;
    if (__atomic_compare_exchange_n(&rt->blocking, &expected, mine, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return mine;
    pool_free(mine);
    if (expected == POOL_DEAD) {
        *err = -ESHUTDOWN;
        return NULL;
    }
    return expected;
}

/* ------------------------------------------------------------------ threads */

static void *thread_main(void *arg);
static void *monitor_main(void *arg);

/* Start a thread for `lane` (NULL: the monitor). The caller has already counted it in the
 * lane's nthreads/awake. Returns 0 or -EAGAIN/-ENOMEM (nothing left behind). */
static int thread_start(struct weft__blocking *p, struct blk_lane *lane)
{
    struct blk_thread *th = weft__calloc(1, sizeof *th);
    if (!th)
        return -ENOMEM;
    th->pool = p;
    th->lane = lane;
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->alive, 1, memory_order_relaxed);
    pthread_mutex_lock(&p->lock);
    th->all_next = p->threads;
    if (p->threads)
        p->threads->all_prev = th;
    p->threads = th;
    pthread_mutex_unlock(&p->lock);

    pthread_attr_t attr;
    pthread_t tid;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, p->stack_size);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Counted before the thread exists: it may run a job, and its joiner read the stats,
     * before pthread_create returns here (blocking_api saw 31 of 32). */
    if (lane)
        atomic_fetch_add_explicit(&lane->spawned, 1, memory_order_relaxed);
    int e = pthread_create(&tid, &attr, lane ? thread_main : monitor_main, th);
    pthread_attr_destroy(&attr);
    if (e == 0)
        return 0;
    if (lane)
        atomic_fetch_sub_explicit(&lane->spawned, 1, memory_order_relaxed);
    pthread_mutex_lock(&p->lock);
    if (th->all_prev)
        th->all_prev->all_next = th->all_next;
    else
        p->threads = th->all_next;
    if (th->all_next)
        th->all_next->all_prev = th->all_prev;
    pthread_mutex_unlock(&p->lock);
    weft__free(th);
    atomic_fetch_sub_explicit(&p->alive, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&p->refs, 1, memory_order_relaxed); /* the caller holds one */
    return -EAGAIN;
}

/* The last thing a thread does: leave the list, fold its counters in, release its refs. */
static void thread_exit(struct blk_thread *th)
{
    struct weft__blocking *p = th->pool;
    pthread_mutex_lock(&p->lock);
    if (th->all_prev)
        th->all_prev->all_next = th->all_next;
    else
        p->threads = th->all_next;
    if (th->all_next)
        th->all_next->all_prev = th->all_prev;
    if (th->lane)
        atomic_fetch_add_explicit(&th->lane->retired_done, ld_relaxed(&th->done),
                                  memory_order_relaxed);
    pthread_mutex_unlock(&p->lock);
    weft__free(th);
    atomic_fetch_sub_explicit(&p->alive, 1, memory_order_release);
    weft__futex_wake(&p->alive, INT_MAX); /* fini may wait for the count to reach 0 */
    pool_unref(p);
}

/* Wake up to n idle threads of the lane, then start threads below the cap for the rest. Each
 * counts as searching from here. With `if_no_searcher`, stop as soon as a searcher exists.
 * Returns how many were woken or started. */
static unsigned lane_grow(struct weft__blocking *p, struct blk_lane *l, unsigned n,
                          bool if_no_searcher)
{
    struct blk_thread *wake[16];
    unsigned nwake = 0, nspawn = 0;

    if (n > 16)
        n = 16;
    pthread_mutex_lock(&l->lock);
    while (nwake + nspawn < n) {
        if (if_no_searcher && SEARCHING(ld_relaxed(&l->awake)) != 0)
            break;
        if (ld_relaxed(&p->closed))
            break;
        struct blk_thread *th = l->idle;
        if (th) {
            l->idle = th->idle_next;
            if (l->idle)
                l->idle->idle_prev = NULL;
            th->in_idle = false;
            atomic_fetch_sub_explicit(&l->nidle, 1, memory_order_relaxed);
            wake[nwake++] = th;
        } else if (ld_relaxed(&l->nthreads) < ld_relaxed(&l->max_threads)) {
            atomic_fetch_add_explicit(&l->nthreads, 1, memory_order_relaxed);
            nspawn++;
        } else {
            break;
        }
        atomic_fetch_add_explicit(&l->awake, SEARCH_ONE, memory_order_seq_cst);
        if_no_searcher = false; /* the one we just added is the searcher */
    }
    /* Wake while holding the lock: every way out of a thread (keep-alive, close, retire,
     * detach) takes this lock, so the thread record outlives our store and futex call. */
    for (unsigned i = 0; i < nwake; i++) {
        st_release(&wake[i]->park, PK_NOTIFIED);
        weft__futex_wake(&wake[i]->park, 1);
    }
    pthread_mutex_unlock(&l->lock);

    unsigned started = nwake;
    for (unsigned i = 0; i < nspawn; i++) {
        if (thread_start(p, l) == 0) {
            started++;
            continue;
        }
        pthread_mutex_lock(&l->lock);
        atomic_fetch_sub_explicit(&l->nthreads, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&l->awake, SEARCH_ONE, memory_order_seq_cst);
        pthread_mutex_unlock(&l->lock);
    }
    return started;
}

/* Make sure the monitor is awake (it parks while no lane has a backlog). */
static void monitor_arm(struct weft__blocking *p)
{
    uint32_t expected = MON_IDLE;
    if (ld_relaxed(&p->mon_state) != MON_IDLE ||
        !atomic_compare_exchange_strong_explicit(&p->mon_state, &expected, MON_ARMED,
                                                 memory_order_seq_cst, memory_order_relaxed))
        return;
    pthread_mutex_lock(&p->lock);
    bool start = !p->mon_alive && !ld_relaxed(&p->closed);
    if (start)
        p->mon_alive = true;
    pthread_mutex_unlock(&p->lock);
    if (!start) {
        weft__futex_wake(&p->mon_state, 1);
        return;
    }
    if (thread_start(p, NULL) < 0) {
        pthread_mutex_lock(&p->lock);
        p->mon_alive = false;
        pthread_mutex_unlock(&p->lock);
        uint32_t armed = MON_ARMED;
        atomic_compare_exchange_strong(&p->mon_state, &armed, MON_IDLE); /* retry next time */
    }
}

/* After a push: make sure someone will take the job (see the top comment). Returns false only
 * when the lane has no thread at all and none could be started. */
static bool lane_notify(struct weft__blocking *p, struct blk_lane *l)
{
    atomic_thread_fence(memory_order_seq_cst); /* pairs with park()'s re-check */
    uint32_t a = ld_relaxed(&l->awake);
    if (WEFT_LIKELY(SEARCHING(a) != 0))
        return true;
    if (RUNNING(a) < p->ncpus) {
        if (lane_grow(p, l, 1, true) == 0 && ld_relaxed(&l->nthreads) == 0)
            return false;
        return true;
    }
    monitor_arm(p);
    return true;
}

/* ------------------------------------------------------------------ jobs */

/* Take a popped cell from the queue: idle -> SCHEDULED, dropping the queue's ref. False when
 * an abort got there first (the executor completes it): then drop the queue's ref and count
 * the job as cancelled. */
static bool job_claim(struct blk_lane *l, struct weft__task *t, uint64_t *state)
{
    uint64_t s = ld_relaxed(&t->state);
    for (;;) {
        if (s & (TASK_SCHEDULED | TASK_COMPLETE)) {
            weft__task_ref_dec(t);
            atomic_fetch_add_explicit(&l->cancelled, 1, memory_order_relaxed);
            return false;
        }
        uint64_t ns = (s | TASK_SCHEDULED) - TASK_REF_ONE;
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, ns, memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            *state = ns;
            return true;
        }
    }
}

/* A popped job that will not run (pool closed): cancel it. Returns true if it was ours. */
static bool job_cancel_queued(struct blk_lane *l, struct weft__task *t)
{
    uint64_t s;
    if (!job_claim(l, t, &s))
        return false;
    weft__task_cancel_now(t, -ECANCELED);
    atomic_fetch_add_explicit(&l->cancelled, 1, memory_order_relaxed);
    return true;
}

/* A running thread about to look for work again becomes the lane's spinner if it has none.
 * Done before completing the job's cell: whoever that completion wakes and submits next then
 * finds a searcher, instead of waking or starting a second thread. */
static void become_searcher(struct blk_lane *l, uint32_t *count)
{
    if (*count != RUN_ONE)
        return;
    uint32_t a = ld_relaxed(&l->awake);
    while (SEARCHING(a) < MAX_SPINNERS)
        if (atomic_compare_exchange_weak_explicit(&l->awake, &a, a - RUN_ONE + SEARCH_ONE,
                                                  memory_order_seq_cst, memory_order_relaxed)) {
            *count = SEARCH_ONE;
            return;
        }
}

/* Run one popped job on thread th, counted in `awake` as *count; `more` is the pop's hint
 * that jobs were left behind it. *busy: th's job word is BUSY already (back-to-back jobs keep
 * it so: one CAS and one store fewer per job in a burst); on return it is BUSY (*busy set)
 * and the caller stores IDLE before it spins, parks or exits. False when fini has detached
 * th: th must exit at once and touch nothing of the runtime (the cell included). */
static bool job_run(struct blk_thread *th, struct weft__task *t, uint32_t *count, bool more,
                    bool *busy)
{
    struct weft__blocking *p = th->pool;
    struct blk_lane *l = th->lane;
    uint32_t expected = JOB_IDLE;
    uint64_t s;

    if (!*busy) {
        if (!atomic_compare_exchange_strong_explicit(&th->job, &expected, JOB_BUSY,
                                                     memory_order_acq_rel, memory_order_acquire))
            return false;
        *busy = true;
    }
    if (!job_claim(l, t, &s))
        return true;
    if ((s & TASK_CANCELLED) || ld_acquire(&p->closed)) {
        weft__task_cancel_now(t, -ECANCELED);
        atomic_fetch_add_explicit(&l->cancelled, 1, memory_order_relaxed);
        return true;
    }
    const struct blk_job *j = weft__task_state(t);
    weft_blocking_fn fn = j->fn;
    void *arg = j->arg;
    st_relaxed(&th->started, ld_relaxed(&th->started) + 1);
    st_release(&th->job, JOB_RUNNING);

    void *r = fn(arg);

    expected = JOB_RUNNING;
    if (!atomic_compare_exchange_strong_explicit(&th->job, &expected, JOB_BUSY,
                                                 memory_order_acq_rel, memory_order_acquire)) {
        *busy = false;
        return false; /* abandoned at shutdown: the runtime may be gone; drop r */
    }
    if (!more)
        become_searcher(l, count);
    *(void **)weft__task_out(t) = r;
    st_relaxed(&th->done, ld_relaxed(&th->done) + 1); /* counted before its join can see it */
    weft__task_cancel_now(t, 0); /* "finish with the output just written": wakes the join */
    return true;
}

/* ------------------------------------------------------------------ thread main loop */

/* Spin while the lane is empty, up to SPIN_NS. True when there may be work (or we close).
 * Each check reads the producers' tail line, which costs the next push a cache miss, so the
 * checks are spaced SPIN_PAUSES pauses apart (~160 ns here): a tight poll doubled the cost of
 * a submission in a burst. */
static bool spin_for_work(struct weft__blocking *p, struct blk_lane *l)
{
    int64_t end = 0, last = 0;
    for (unsigned i = 1;; i++) {
        if (!bq_is_empty(&l->q) || ld_relaxed(&p->closed))
            return true;
        for (unsigned k = 0; k < SPIN_PAUSES; k++)
            weft__cpu_relax();
        if ((i & 7) == 0) {
            int64_t now = weft__now();
            if (!end) {
                end = now + SPIN_NS;
            } else if (now >= end || now - last > SPIN_PREEMPTED_NS) {
                /* Time is up, or we were descheduled between two looks: the CPUs are
                 * oversubscribed, and a spinner that is off its CPU strands the jobs that
                 * trusted it. Park: the next submitter wakes us the ordinary way. */
                return false;
            }
            last = now;
        }
    }
}

static void idle_remove(struct blk_lane *l, struct blk_thread *th)
{
    if (th->idle_prev)
        th->idle_prev->idle_next = th->idle_next;
    else
        l->idle = th->idle_next;
    if (th->idle_next)
        th->idle_next->idle_prev = th->idle_prev;
    th->in_idle = false;
    atomic_fetch_sub_explicit(&l->nidle, 1, memory_order_relaxed);
}

/* Park th (counted in `awake` as `count`, SEARCH_ONE or RUN_ONE). Returns true when it comes
 * back as a searcher (woken, or found work on its re-check), false when its keep-alive ran
 * out: it has then left the lane (nthreads decremented) and must exit. */
static bool park(struct blk_thread *th, uint32_t count)
{
    struct weft__blocking *p = th->pool;
    struct blk_lane *l = th->lane;

    pthread_mutex_lock(&l->lock);
    st_relaxed(&th->park, PK_PARKED);
    th->idle_prev = NULL;
    th->idle_next = l->idle;
    if (l->idle)
        l->idle->idle_prev = th;
    l->idle = th;
    th->in_idle = true;
    atomic_fetch_add_explicit(&l->nidle, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&l->awake, count, memory_order_seq_cst);
    pthread_mutex_unlock(&l->lock);

    atomic_thread_fence(memory_order_seq_cst); /* pairs with lane_notify() */
    if (!bq_is_empty(&l->q) || ld_relaxed(&p->closed)) {
        pthread_mutex_lock(&l->lock);
        if (th->in_idle) { /* nobody picked us: take ourselves back */
            idle_remove(l, th);
            atomic_fetch_add_explicit(&l->awake, SEARCH_ONE, memory_order_seq_cst);
            st_relaxed(&th->park, PK_RUNNING);
            pthread_mutex_unlock(&l->lock);
            return true;
        }
        pthread_mutex_unlock(&l->lock); /* a waker picked us: it stores NOTIFIED */
    }

    int64_t deadline = weft_deadline_in(p->keep_alive);
    for (;;) {
        uint32_t v = ld_acquire(&th->park);
        if (v == PK_NOTIFIED) {
            st_relaxed(&th->park, PK_RUNNING);
            return true; /* the waker counted us as searching */
        }
        if (weft__now() >= deadline) {
            pthread_mutex_lock(&l->lock);
            if (th->in_idle) {
                idle_remove(l, th);
                atomic_fetch_sub_explicit(&l->nthreads, 1, memory_order_relaxed);
                pthread_mutex_unlock(&l->lock);
                return false;
            }
            pthread_mutex_unlock(&l->lock);
            deadline = WEFT_NEVER; /* picked meanwhile: NOTIFIED is on its way */
        }
        weft__futex_wait(&th->park, PK_PARKED, deadline);
    }
}

static void *thread_main(void *arg)
{
    struct blk_thread *th = arg;
    struct weft__blocking *p = th->pool;
    struct blk_lane *l = th->lane;
    uint32_t count = SEARCH_ONE; /* how `awake` counts us: whoever started us counted us so */
    bool detached = false;
    bool busy = false; /* our job word is BUSY (between back-to-back jobs) */

    pthread_setname_np(pthread_self(), p->name);
    if (p->on_start)
        p->on_start(p->hook_arg);

    for (;;) {
        bool more;
        struct weft__task *t = bq_pop_hint(&l->q, &more);
        if (t) {
            /* The cell was written on another CPU: fetch its header (claim, completion) and
             * body (fn, arg, output) lines together instead of one miss after the other. */
            __builtin_prefetch(t, 1);
            __builtin_prefetch((const char *)t + WEFT_CACHELINE, 1);
            if (count == SEARCH_ONE) {
                uint32_t a = atomic_fetch_add_explicit(&l->awake, RUN_ONE - SEARCH_ONE,
                                                       memory_order_seq_cst);
                count = RUN_ONE;
                /* The last searcher to find work passes the baton: what is left behind us
                 * must not wait for our job, which may block. `more` was read before our
                 * seq_cst RMW above; a job pushed since may have seen us still searching and
                 * counted on us, so look at the queue again (Dekker with lane_notify's fence
                 * and load). Without this re-check a burst could strand its tail behind one
                 * blocked job (seen once under TSan: 30 jobs waited 20 s). */
                if (SEARCHING(a) == 1 && (more || !bq_is_empty(&l->q)))
                    lane_notify(p, l);
            }
            if (!job_run(th, t, &count, more, &busy)) {
                detached = true;
                break;
            }
            /* Above a lowered cap: retire (the queue is someone else's now). */
            if (WEFT_UNLIKELY(ld_relaxed(&l->nthreads) > ld_relaxed(&l->max_threads))) {
                pthread_mutex_lock(&l->lock);
                bool retire = ld_relaxed(&l->nthreads) > ld_relaxed(&l->max_threads);
                if (retire) {
                    atomic_fetch_sub_explicit(&l->nthreads, 1, memory_order_relaxed);
                    atomic_fetch_sub_explicit(&l->awake, count, memory_order_seq_cst);
                }
                pthread_mutex_unlock(&l->lock);
                if (retire) {
                    count = 0;
                    if (!bq_is_empty(&l->q))
                        lane_notify(p, l);
                    break;
                }
            }
            continue;
        }
        if (busy) { /* no job at hand: fini may detach us from here on */
            st_release(&th->job, JOB_IDLE);
            busy = false;
        }
        if (ld_acquire(&p->closed)) {
            pthread_mutex_lock(&l->lock);
            atomic_fetch_sub_explicit(&l->nthreads, 1, memory_order_relaxed);
            atomic_fetch_sub_explicit(&l->awake, count, memory_order_seq_cst);
            pthread_mutex_unlock(&l->lock);
            count = 0;
            break;
        }
        /* The queue is empty. One thread per lane spins for a while; the others park. */
        become_searcher(l, &count);
        if (count == SEARCH_ONE && spin_for_work(p, l))
            continue;
        if (!park(th, count)) {
            count = 0;
            break; /* keep-alive ran out */
        }
        count = SEARCH_ONE;
    }

    if (busy) /* retiring straight after a job */
        st_release(&th->job, JOB_IDLE);
    if (!detached) {
        /* on_thread_stop runs only while the runtime is alive: claim BUSY to call it. */
        uint32_t expected = JOB_IDLE;
        if (atomic_compare_exchange_strong_explicit(&th->job, &expected, JOB_BUSY,
                                                    memory_order_acq_rel, memory_order_acquire)) {
            if (p->on_stop)
                p->on_stop(p->hook_arg);
            st_release(&th->job, JOB_IDLE);
        }
    } else {
        /* Detached inside a job: still counted in the lane; leave it (pool memory only). */
        pthread_mutex_lock(&l->lock);
        atomic_fetch_sub_explicit(&l->nthreads, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&l->awake, count, memory_order_seq_cst);
        pthread_mutex_unlock(&l->lock);
    }
    thread_exit(th);
    return NULL;
}

/* ------------------------------------------------------------------ monitor */

/* One pass over the lanes. Returns true while some lane has a backlog to watch. */
static bool monitor_tick(struct weft__blocking *p, bool *acted)
{
    bool backlog = false;
    for (unsigned i = 0; i < WEFT_LANE_COUNT; i++) {
        struct blk_lane *l = &p->lanes[i];
        unsigned progressing = 0, stalled = 0;

        /* Refresh every thread's snapshot, so "stalled" always means "same job for a tick". */
        pthread_mutex_lock(&p->lock);
        for (struct blk_thread *th = p->threads; th; th = th->all_next) {
            if (th->lane != l)
                continue;
            uint64_t s = ld_relaxed(&th->started);
            if (ld_relaxed(&th->job) == JOB_RUNNING && s == th->seen_started)
                stalled++;
            th->seen_started = s;
        }
        pthread_mutex_unlock(&p->lock);

        size_t depth = bq_len(&l->q);
        if (depth == 0)
            continue;
        /* At its cap with nobody idle: nothing to do but wait for a thread to come free, which
         * then takes the next job itself. Raising the cap re-arms us. */
        if (ld_relaxed(&l->nthreads) >= ld_relaxed(&l->max_threads) && ld_relaxed(&l->nidle) == 0)
            continue;
        backlog = true;
        uint32_t a = ld_relaxed(&l->awake);
        if (SEARCHING(a) != 0)
            continue; /* a searcher is about to take the next job */
        progressing = RUNNING(a) > stalled ? RUNNING(a) - stalled : 0;
        if (progressing >= p->ncpus)
            continue;
        size_t n = p->ncpus - progressing;
        if (n < stalled)
            n = stalled; /* blocked jobs: replace each (the backlog doubles our threads) */
        if (n > depth)
            n = depth;
        if (lane_grow(p, l, (unsigned)(n > 16 ? 16 : n), false))
            *acted = true;
    }
    return backlog;
}

static void *monitor_main(void *arg)
{
    struct blk_thread *th = arg;
    struct weft__blocking *p = th->pool;
    int64_t period = TICK_MIN;

    pthread_setname_np(pthread_self(), p->name);
    for (;;) {
        if (ld_acquire(&p->mon_state) == MON_CLOSED)
            break;
        bool acted = false;
        if (monitor_tick(p, &acted)) {
            period = acted ? TICK_MIN : (period * 2 > TICK_MAX ? TICK_MAX : period * 2);
            weft__futex_wait(&p->mon_state, MON_ARMED, weft_deadline_in(period));
            continue;
        }
        /* Nothing to watch: park until armed, leaving after keep-alive. */
        uint32_t expected = MON_ARMED;
        if (!atomic_compare_exchange_strong_explicit(&p->mon_state, &expected, MON_IDLE,
                                                     memory_order_seq_cst, memory_order_relaxed))
            continue; /* closed */
        atomic_thread_fence(memory_order_seq_cst);
        bool work = false;
        for (unsigned i = 0; i < WEFT_LANE_COUNT; i++)
            work |= !bq_is_empty(&p->lanes[i].q);
        if (work) {
            expected = MON_IDLE;
            atomic_compare_exchange_strong(&p->mon_state, &expected, MON_ARMED);
            continue;
        }
        int64_t deadline = weft_deadline_in(p->keep_alive);
        while (ld_acquire(&p->mon_state) == MON_IDLE && weft__now() < deadline)
            weft__futex_wait(&p->mon_state, MON_IDLE, deadline);
        period = TICK_MIN;
        if (ld_acquire(&p->mon_state) != MON_IDLE)
            continue;
        pthread_mutex_lock(&p->lock);
        bool leave = ld_relaxed(&p->mon_state) == MON_IDLE;
        if (leave)
            p->mon_alive = false; /* the next arm starts a new monitor */
        pthread_mutex_unlock(&p->lock);
        if (leave)
            break;
    }
    thread_exit(th);
    return NULL;
}

/* ------------------------------------------------------------------ public API */

int weft_spawn_blocking_on(weft_rt *rt, weft_lane lane, weft_blocking_fn fn, void *arg,
                           weft_join **join)
{
    struct weft__blocking *p;
    struct weft__task *t;
    int err = 0;

    if (join)
        *join = NULL;
    if (WEFT_UNLIKELY(!rt || !fn || (unsigned)lane >= WEFT_LANE_COUNT))
        return -EINVAL;
    if (WEFT_UNLIKELY(!(p = get_pool(rt, &err))))
        return err;
    struct blk_lane *l = &p->lanes[lane];
    /* Workers are stopped before fini runs, so only other threads can race with it. */
    bool counted = !(weft__tl.worker && weft__tl.rt == rt);
    if (counted)
        atomic_fetch_add_explicit(&p->inflight, 1, memory_order_seq_cst);
    if (WEFT_UNLIKELY(atomic_load_explicit(&p->closed, memory_order_seq_cst))) {
        err = -ESHUTDOWN;
        goto out;
    }
    size_t cap = ld_relaxed(&l->max_queued);
    if (WEFT_UNLIKELY(cap) && bq_len(&l->q) >= cap) {
        atomic_fetch_add_explicit(&l->refused, 1, memory_order_relaxed);
        err = -EAGAIN;
        goto out;
    }
    struct blk_job init = {.fn = fn, .arg = arg};
    if ((err = weft__task_create(rt, &blk_type, &init, NULL, join, &t)) < 0)
        goto out;
    /* Not shared yet: make it idle and give the queue its ref with a plain store. */
    uint64_t s0 = ld_relaxed(&t->state);
    st_relaxed(&t->state, (s0 & ~TASK_SCHEDULED) + TASK_REF_ONE);
    if (WEFT_UNLIKELY((err = bq_push(&l->q, t)) < 0)) {
        st_relaxed(&t->state, s0);
        goto undo;
    }
    if (WEFT_LIKELY(lane_notify(p, l)))
        goto out;
    /* No thread at all could be started for this lane (out of threads, or fini closed the
     * pool under us): take the job back if still queued, keeping the queue's ref, which the
     * next pop or fini drops. */
    err = atomic_load_explicit(&p->closed, memory_order_seq_cst) ? -ESHUTDOWN : -EAGAIN;
    uint64_t s = ld_relaxed(&t->state);
    do {
        if (s & (TASK_SCHEDULED | TASK_COMPLETE)) {
            err = 0; /* a thread took it meanwhile after all: it runs, so this call succeeded */
            goto out;
        }
    } while (!atomic_compare_exchange_weak_explicit(&t->state, &s, s | TASK_SCHEDULED,
                                                    memory_order_acq_rel, memory_order_relaxed));
undo:
    weft__task_cancel_now(t, err); /* releases the alive ref */
    if (join) {
        weft_join_detach(*join);
        *join = NULL;
    }
out:
    if (counted)
        atomic_fetch_sub_explicit(&p->inflight, 1, memory_order_seq_cst);
    return err;
}

int weft_spawn_blocking(weft_rt *rt, weft_blocking_fn fn, void *arg, weft_join **join)
{
    return weft_spawn_blocking_on(rt, WEFT_LANE_DEFAULT, fn, arg, join);
}

int weft_blocking_lane_set_max_threads(weft_rt *rt, weft_lane lane, unsigned n)
{
    struct weft__blocking *p;
    int err = 0;

    if (!rt || (unsigned)lane >= WEFT_LANE_COUNT || n == 0 || n > MAX_THREADS_LIMIT)
        return -EINVAL;
    if (!(p = get_pool(rt, &err)))
        return err;
    struct blk_lane *l = &p->lanes[lane];
    st_release(&l->max_threads, n);
    if (!bq_is_empty(&l->q))
        monitor_arm(p); /* room for threads the backlog may need */
    return 0;
}

int weft_blocking_lane_set_max_queued(weft_rt *rt, weft_lane lane, size_t n)
{
    struct weft__blocking *p;
    int err = 0;

    if (!rt || (unsigned)lane >= WEFT_LANE_COUNT)
        return -EINVAL;
    if (!(p = get_pool(rt, &err)))
        return err;
    st_release(&p->lanes[lane].max_queued, n);
    return 0;
}

int weft_blocking_stats_get(weft_rt *rt, int lane, weft_blocking_stats *out)
{
    if (!rt || !out || lane < WEFT_LANE_ALL || lane >= WEFT_LANE_COUNT)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    struct weft__blocking *p = __atomic_load_n(&rt->blocking, __ATOMIC_ACQUIRE);
    if (!p || p == POOL_DEAD)
        return 0;
    pthread_mutex_lock(&p->lock);
    for (unsigned i = 0; i < WEFT_LANE_COUNT; i++) {
        struct blk_lane *l = &p->lanes[i];
        if (lane != WEFT_LANE_ALL && (unsigned)lane != i)
            continue;
        out->threads += ld_relaxed(&l->nthreads);
        out->idle_threads += ld_relaxed(&l->nidle);
        out->max_threads += ld_relaxed(&l->max_threads);
        out->queue_depth += bq_len(&l->q);
        out->jobs_run += ld_relaxed(&l->retired_done);
        out->jobs_cancelled += ld_relaxed(&l->cancelled);
        out->jobs_refused += ld_relaxed(&l->refused);
        out->threads_spawned += ld_relaxed(&l->spawned);
        for (struct blk_thread *th = p->threads; th; th = th->all_next)
            if (th->lane == l)
                out->jobs_run += ld_relaxed(&th->done);
    }
    pthread_mutex_unlock(&p->lock);
    return 0;
}

uint64_t weft_blocking_detached_total(void)
{
    return ld_acquire(&detached_total);
}

/* ------------------------------------------------------------------ shutdown */

void weft__blocking_fini(weft_rt *rt)
{
    struct weft__blocking *p = __atomic_exchange_n(&rt->blocking, POOL_DEAD, __ATOMIC_ACQ_REL);
    if (!p || p == POOL_DEAD)
        return;
    int64_t timeout =
        rt->cfg.shutdown_timeout > 0 ? rt->cfg.shutdown_timeout : DEFAULT_SHUTDOWN_TIMEOUT;
    int64_t deadline = weft_deadline_in(timeout);

    /* 1. Close: from here submissions fail; wait out those already past their check. */
    atomic_store_explicit(&p->closed, 1, memory_order_seq_cst);
    while (atomic_load_explicit(&p->inflight, memory_order_seq_cst) != 0)
        sched_yield();

    /* 2. Stop the monitor and wake every parked thread: they find the pool closed. */
    st_release(&p->mon_state, MON_CLOSED);
    weft__futex_wake(&p->mon_state, INT_MAX);
    for (unsigned i = 0; i < WEFT_LANE_COUNT; i++) {
        struct blk_lane *l = &p->lanes[i];
        pthread_mutex_lock(&l->lock); /* held: see lane_grow */
        while (l->idle) {
            struct blk_thread *th = l->idle;
            idle_remove(l, th);
            atomic_fetch_add_explicit(&l->awake, SEARCH_ONE, memory_order_seq_cst);
            st_release(&th->park, PK_NOTIFIED);
            weft__futex_wake(&th->park, 1);
        }
        pthread_mutex_unlock(&l->lock);
    }

    /* 3. Cancel what never started. Threads popping concurrently cancel theirs. */
    for (unsigned i = 0; i < WEFT_LANE_COUNT; i++) {
        struct blk_lane *l = &p->lanes[i];
        struct weft__task *t;
        while ((t = bq_pop(&l->q)))
            job_cancel_queued(l, t);
    }

    /* 4. Wait for running jobs, up to the timeout. */
    uint32_t a;
    while ((a = ld_acquire(&p->alive)) != 0 && weft__now() < deadline)
        weft__futex_wait(&p->alive, a, deadline);

    /* 5. Detach what is left: those threads never touch the runtime again. */
    uint64_t detached = 0;
    if (ld_acquire(&p->alive) != 0) {
    again:
        pthread_mutex_lock(&p->lock);
        for (struct blk_thread *th = p->threads; th; th = th->all_next) {
            uint32_t v = ld_acquire(&th->job);
            for (;;) {
                if (v == JOB_DETACHED)
                    break;
                if (v == JOB_BUSY) { /* short and non-blocking: wait it out, unlocked */
                    pthread_mutex_unlock(&p->lock);
                    sched_yield();
                    goto again;
                }
                if (atomic_compare_exchange_weak_explicit(
                        &th->job, &v, JOB_DETACHED, memory_order_acq_rel, memory_order_acquire)) {
                    if (v == JOB_RUNNING)
                        detached++;
                    break;
                }
            }
        }
        pthread_mutex_unlock(&p->lock);
    }
    if (detached)
        atomic_fetch_add_explicit(&detached_total, detached, memory_order_relaxed);
    pool_unref(p);
}
