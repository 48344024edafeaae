/* src/sched - the executors: what rt/ and task/ call.
 *
 * weft_rt is one struct for both flavours. Multi-thread: N workers, each with a LIFO slot, a
 * local ring (queue.h) and a slab; one inject queue for work from outside (and overflow);
 * an idle set of parked workers. Current-thread: one "core" driven by whichever thread is
 * inside weft_rt_block_on, with a plain ring and the same inject queue.
 *
 * Thread-local `weft__tl` says which runtime and worker the calling thread works for; every
 * schedule decision starts there: a wake on the task's own runtime's worker goes to that
 * worker's queue without atomics beyond the ring's; anything else goes through the inject
 * queue and, if needed, unparks a worker.
 */
#ifndef WEFT_SCHED_H
#define WEFT_SCHED_H

#include <pthread.h>

#include "io/driver.h"
#include "sched/queue.h"
#include "task/slab.h"
#include "task/task.h"
#include "time/timer.h"

struct weft__io_driver;

#define WEFT_COOP_BUDGET 128
#define WEFT_MAX_LIFO_POLLS 3

/* Priorities. A task's `prio` field holds its rank: the index of its queues.
 * Workers serve rank 0 (high) first, then 1 (normal), then 2 (low), except that every 4th
 * tick starts with normal and every 16th with low, so no level starves. */
#define WEFT_NPRIO 3
enum { RANK_HIGH = 0, RANK_NORMAL = 1, RANK_LOW = 2 };
static inline unsigned weft__rank_of(weft_priority p)
{
    return p == WEFT_PRIO_HIGH ? RANK_HIGH : p == WEFT_PRIO_LOW ? RANK_LOW : RANK_NORMAL;
}
/* The rank to try first at this tick (anti-starvation quota). */
static inline unsigned weft__first_rank(uint32_t tick)
{
    return (tick & 15) == 0 ? RANK_LOW : (tick & 3) == 0 ? RANK_NORMAL : RANK_HIGH;
}

/* Counters a worker (or the current-thread core) keeps about itself. One writer - the thread
 * itself - bumps them with a relaxed load and store (a plain add on x86, no lock prefix);
 * any thread may read them with relaxed loads. src/metrics exports them. */
struct weft__stats {
    _Atomic uint64_t polls;         /* task polls; bumped at poll start, before `running` is
                                       set (the stuck monitor: has it moved?) */
    _Atomic uint64_t steals;        /* successful steal operations */
    _Atomic uint64_t stolen;        /* tasks taken by those steals */
    _Atomic uint64_t overflows;     /* ring overflows to the inject queue */
    _Atomic uint64_t parks;         /* times the thread went to sleep */
    _Atomic uint64_t unparks;       /* times it woke up */
    _Atomic uint64_t lifo_hits;     /* tasks run from the LIFO slot */
    _Atomic uint64_t forced_yields; /* polls that ended because the coop budget ran out */
    _Atomic uint64_t spawned;       /* tasks spawned from this thread */
    _Atomic uint64_t completed;     /* tasks that ended on this thread */
    _Atomic uint64_t busy_ns;       /* time spent awake, up to the last park */
    _Atomic int64_t busy_since;     /* when it last woke (ns), 0 while parked */
    _Atomic(struct weft__task *) running; /* task in poll now, or NULL (stuck-worker monitor) */
    _Atomic int tid;                /* kernel thread id of the polling thread, 0 = unknown */
    /* The reactor's counters, copied by its owner at each park and every event_interval
     * ticks (the driver's own are plain fields of the owner's). */
    _Atomic uint64_t io_submitted, io_completed, io_enters;
};
/* Copy io's counters into st, where the metrics read them (owner thread of io, at its parks
 * and event ticks, for both scheduler flavours; NULL io is a no-op). */
static inline void weft__publish_io_stats(struct weft__stats *st, struct weft__io_driver *io)
{
    if (!io)
        return;
    const struct weft__io_stats *s = weft__io_driver_stats(io);
    atomic_store_explicit(&st->io_submitted, s->submitted, memory_order_relaxed);
    atomic_store_explicit(&st->io_completed, s->completed, memory_order_relaxed);
    atomic_store_explicit(&st->io_enters, s->enters, memory_order_relaxed);
}

/* WEFT_METRICS=0 (CMake -DWEFT_METRICS=OFF) compiles the counters out: a measurement build
 * for docs/design/metrics.md; src/metrics then starts no monitor and reads zeros. */
#ifndef WEFT_METRICS
#define WEFT_METRICS 1
#endif
#if WEFT_METRICS
#define WEFT_STAT_ADD(st, field, n)                                                                \
    st_relaxed(&(st)->field, ld_relaxed(&(st)->field) + (uint64_t)(n))
#else
#define WEFT_STAT_ADD(st, field, n) ((void)(st), (void)sizeof(n))
#endif

/* Optional observers of every poll, installed by src/metrics when tracing or histograms are
 * on (NULL otherwise: one predictable branch per poll). `scheduled_at` is when the task was
 * queued (0 if unknown); `start`/`end` bracket the poll. */
typedef void weft__poll_observer(weft_rt *rt, struct weft__task *t, unsigned worker,
                                 int64_t scheduled_at, int64_t start, int64_t end);

/* The inject (global) queue: a locked intrusive list; `len` lets workers skip the lock. */
struct weft__inject {
    pthread_mutex_t lock;
    struct weft__task *head, *tail; /* guarded by lock */
    _Atomic size_t len;
};

/* Park word values. NOTIFIED: woken by notify_one (counted as searching). TIMER: woken
 * because a foreign thread armed an earlier timer on this worker's wheel. */
enum { PARK_RUNNING = 0, PARK_PARKED = 1, PARK_NOTIFIED = 2, PARK_TIMER = 3 };

struct weft__worker {
    /* Owner-only fields first. */
    struct weft__task *lifo;  /* task woken by the task running now; not stealable */
    uint32_t tick;
    uint32_t until_global;    /* ticks left before the inject queue goes first */
    uint32_t until_event;     /* ticks left before the timers are checked */
    bool searching;           /* counted in rt->num_searching */
    uint64_t rng;             /* steal victim choice */
    weft_rt *rt;
    unsigned index;
    pthread_t thread;
    struct weft__slab slab;
    struct weft__timers timers;   /* this worker's wheel (locked; see time/timer.h) */
    struct weft__stats stats;
    struct weft__io_driver *io;   /* this worker's reactor (io/driver.h); it also parks here */
    /* Written by other threads. */
    alignas(WEFT_CACHELINE) _Atomic uint32_t park; /* futex word: PARK_* */
    alignas(WEFT_CACHELINE) struct weft__lq q[WEFT_NPRIO]; /* one ring per rank */
};

/* A growable ring of tasks, touched by one thread only. */
struct weft__ring {
    struct weft__task **slots;
    size_t cap, head, len;
};

/* Current-thread core: tasks live in growable rings owned by the driving thread. */
struct weft__ct {
    struct weft__ring ring[WEFT_NPRIO]; /* driving thread only */
    uint32_t tick;
    uint32_t until_global, until_event; /* countdowns, as in struct weft__worker */
    struct weft__slab slab;
    struct weft__timers timers;
    struct weft__stats stats;
    struct weft__io_driver *io; /* the reactor; the driving thread parks in it */
    _Atomic uint32_t park;    /* futex word: PARK_* */
    _Atomic int driving;      /* a thread is inside block_on or run_once */
    bool embed_parked;        /* run_once left the reactor in park_begin for a host loop */
};

struct weft_rt {
    weft_rt_flavor flavor;
    unsigned nworkers;
    unsigned event_interval;
    unsigned global_interval;
    int64_t park_spin_ns;      /* multi-thread: how long an idle worker looks for work */
    weft_rt_config cfg;
    char thread_name[16];
    _Atomic int closed;        /* no new spawns (set under foreign_lock) */
    _Atomic int shutdown;      /* workers: stop */
    _Atomic unsigned exited;   /* workers out of their loop (shutdown barrier) */
    _Atomic int stop_woken;    /* weft__mt_stop has woken every worker */
    _Atomic unsigned waking;   /* notify_one calls between picking a sleeper and waking it */
    struct weft__inject inject[WEFT_NPRIO]; /* by rank */
    /* Idle set (multi-thread). */
    alignas(WEFT_CACHELINE) _Atomic uint32_t num_searching;
    _Atomic uint32_t num_parked;
    pthread_mutex_t idle_lock;
    unsigned *sleepers;        /* stack of parked worker indices; guarded by idle_lock */
    unsigned nsleepers;
    /* Allocation for threads that are not workers. */
    pthread_mutex_t foreign_lock;
    struct weft__slab foreign_slab; /* guarded by foreign_lock */
    struct weft__task *big_tasks;   /* cells above the slab's max; guarded by foreign_lock */
    _Atomic int foreign_joiners;    /* threads inside weft_join_wait */
    _Atomic uint64_t next_id;
    _Atomic uint64_t foreign_spawned;  /* spawns from threads that are not workers */
    _Atomic uint64_t foreign_completed; /* tasks ended off the workers (blocking pool, shutdown) */
    _Atomic uint64_t inject_refused;    /* spawns refused at cfg.max_inject */
    weft__poll_observer *_Atomic observer; /* see weft__poll_observer; NULL = off */
    _Atomic int timed_tasks;        /* new tasks record when they are queued (histograms) */
    void *metrics;                  /* src/metrics state, owned by it */
    _Atomic uint32_t monitor_idle;  /* src/metrics' monitor sleeps until a worker unparks */
    struct weft__blocking *blocking; /* blocking pool (blocking.c); created on first use */
    struct weft__worker *workers;   /* MT */
    struct weft__ct ct;             /* CT */
};

/* What the calling thread works for. */
struct weft__tl {
    weft_rt *rt;                 /* NULL on other threads */
    struct weft__worker *worker; /* MT worker, or NULL */
    struct weft__slab *slab;     /* slab this thread owns, or NULL */
    struct weft__task *current;  /* task being polled */
    struct weft__stats *stats;   /* this thread's counters, or NULL */
    unsigned index;              /* worker index (0 on the current-thread driver) */
    uint64_t id_next, id_end;    /* block of task ids */
};
extern WEFT_TLS struct weft__tl weft__tl;


/* Poll one popped task (both flavours). */
void weft__run_task(weft_rt *rt, struct weft__task *t);

void weft__inject_init(struct weft__inject *q);
void weft__inject_fini(struct weft__inject *q);
void weft__inject_push(struct weft__inject *q, struct weft__task *first, struct weft__task *last,
                       size_t n);
/* Pop up to max tasks into a list; returns the count. */
size_t weft__inject_pop(struct weft__inject *q, size_t max, struct weft__task **first);
/* Before a spawn: 0, or -EAGAIN (counted) when the caller's task would go to the inject
 * queues and they hold cfg.max_inject tasks already. */
int weft__inject_admit(weft_rt *rt);

/* Multi-thread executor. */
int weft__mt_start(weft_rt *rt);
void weft__mt_stop(weft_rt *rt);
void weft__mt_push_local(struct weft__worker *w, struct weft__task *t, int how);
void weft__mt_push_remote(weft_rt *rt, struct weft__task *t);
void weft__mt_unpark_timers(weft_rt *rt, struct weft__timers *ts);

/* Current-thread executor. */
int weft__ct_init(weft_rt *rt);
void weft__ct_fini(weft_rt *rt);
bool weft__ct_ring_grow(struct weft__ring *r);
static inline void weft__ct_push_local(weft_rt *rt, struct weft__task *t);
void weft__ct_push_remote(weft_rt *rt, struct weft__task *t);
void weft__ct_unpark(weft_rt *rt);
/* Run tasks on the calling thread until `until` completes. */
int weft__ct_block_on(weft_rt *rt, struct weft__task *until);

/* Blocking pool (blocking.c): stop it during weft_rt_free, before unfinished tasks are
 * cancelled. Waits for running jobs up to cfg.shutdown_timeout. */
void weft__blocking_fini(weft_rt *rt);

/* Wake the thread that owns `ts` so it re-reads its next timer deadline. */
void weft__sched_unpark_timers(weft_rt *rt, struct weft__timers *ts);

/* Observability (src/metrics): started at the end of weft_rt_new (an error undoes the
 * runtime), stopped at the start of weft_rt_free, before the workers stop. */
int weft__metrics_init(weft_rt *rt);
void weft__metrics_fini(weft_rt *rt);
/* Free the metrics state: after the workers are joined (they may be inside the observer until
 * then). */
void weft__metrics_free(weft_rt *rt);
/* A worker unparked while monitor_idle was set: wake the monitor. */
void weft__metrics_wake_monitor(weft_rt *rt);

/* A fresh task id for the calling thread. */
uint64_t weft__next_task_id(weft_rt *rt);

/* ------------------------------------------------------------------ hot paths, inline */

static inline void weft__ct_push_local(weft_rt *rt, struct weft__task *t)
{
    struct weft__ring *r = &rt->ct.ring[t->prio];
    if (WEFT_UNLIKELY(r->len == r->cap) && !weft__ct_ring_grow(r)) {
        /* Out of memory for the ring: the inject list needs none. */
        weft__ct_push_remote(rt, t);
        return;
    }
    r->slots[(r->head + r->len) & (r->cap - 1)] = t;
    r->len++;
}

/* True when this thread runs rt's tasks: one of its workers, or the thread inside a
 * current-thread runtime's block_on / run_once. Work it queues goes to its own queue. */
static inline bool weft__tl_drives(const weft_rt *rt)
{
    const struct weft__tl *tl = &weft__tl;
    return tl->rt == rt && (tl->worker || (rt->flavor == WEFT_RT_CURRENT_THREAD &&
                                           tl->slab == &rt->ct.slab));
}

/* Put a task that has just become SCHEDULED onto a queue. how: 0 = woken or spawned (the LIFO
 * slot when on a worker inside a poll), 1 = requeued (back of its queue). */
static inline void weft__sched_schedule(struct weft__task *t, int how)
{
    weft_rt *rt = t->rt;
    struct weft__tl *tl = &weft__tl;

    if (WEFT_UNLIKELY(t->flags & TASK_F_TIMED))
        *weft__task_sched_at(t) = weft__now();
    if (WEFT_LIKELY(tl->rt == rt)) {
        if (tl->worker) {
            weft__mt_push_local(tl->worker, t, how);
            return;
        }
        if (rt->flavor == WEFT_RT_CURRENT_THREAD && tl->slab == &rt->ct.slab) {
            weft__ct_push_local(rt, t);
            return;
        }
    }
    if (WEFT_UNLIKELY(ld_acquire(&rt->shutdown)))
        return; /* teardown: weft_rt_free cancels it where it is */
    if (rt->flavor == WEFT_RT_MULTI_THREAD)
        weft__mt_push_remote(rt, t);
    else
        weft__ct_push_remote(rt, t);
}

#endif
