/* Runtimes: configuration, creation, block_on and shutdown, for both flavours.
 *
 * Shutdown order (weft_rt_free):
 *   1. closed = 1 under foreign_lock: from here every spawn fails with -ESHUTDOWN.
 *   2. Stop and join the workers (MT); wakes from other threads are dropped from now on.
 *   3. Walk every slab (and the big-cell list) and cancel each unfinished task: its future's
 *      drop runs exactly once, its join sees -ECANCELED, threads in weft_join_wait wake up.
 *   4. Wait for those threads to leave weft_join_wait, then unmap the slabs wholesale.
 */
#include <string.h>
#include <unistd.h>

#include "io/driver.h"
#include "sched/sched.h"

void weft__sched_unpark_timers(weft_rt *rt, struct weft__timers *ts)
{
    if (rt->flavor == WEFT_RT_MULTI_THREAD)
        weft__mt_unpark_timers(rt, ts);
    else
        weft__ct_unpark(rt);
}

/* ------------------------------------------------------------------ config */

#define MAX_WORKERS 1024
#define MIN_STACK (64u << 10)
#define MAX_STACK (1ull << 30)

static int check_config(const weft_rt_config *c)
{
    if ((unsigned)c->flavor > WEFT_RT_CURRENT_THREAD)
        return -EINVAL;
    if (c->workers > MAX_WORKERS)
        return -EINVAL;
    if (c->thread_stack_size && (c->thread_stack_size < MIN_STACK ||
                                 c->thread_stack_size > MAX_STACK))
        return -EINVAL;
    if (c->thread_name && (c->thread_name[0] == 0 || strlen(c->thread_name) > 12))
        return -EINVAL;
    if (c->event_interval > 1000000 || c->global_queue_interval > 1000000)
        return -EINVAL;
    if (c->blocking_keep_alive < 0 || c->shutdown_timeout < 0)
        return -EINVAL;
    if (c->max_inject > ((size_t)1 << 40)) /* same range as weft_rt_builder_max_inject */
        return -EINVAL;
    return 0;
}

int weft_rt_new(weft_rt **out, const weft_rt_config *cfg)
{
    static const weft_rt_config defaults;
    int err;

    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!cfg)
        cfg = &defaults;
    if ((err = check_config(cfg)) < 0)
        return err;

    weft_rt *rt = weft__calloc(1, sizeof *rt);
    if (!rt)
        return -ENOMEM;
    rt->cfg = *cfg;
    rt->flavor = cfg->flavor;
    if (rt->flavor == WEFT_RT_CURRENT_THREAD) {
        rt->nworkers = 1;
    } else {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        rt->nworkers = cfg->workers ? cfg->workers : (unsigned)(ncpu > 0 ? ncpu : 1);
    }
    rt->event_interval = cfg->event_interval ? cfg->event_interval : 61;
    rt->global_interval = cfg->global_queue_interval ? cfg->global_queue_interval
                          : rt->flavor == WEFT_RT_CURRENT_THREAD ? 31
                                                                 : 61;
    if (!rt->cfg.thread_stack_size)
        rt->cfg.thread_stack_size = 2u << 20;
    strncpy(rt->thread_name, cfg->thread_name ? cfg->thread_name : "weft",
            sizeof rt->thread_name - 4);
    rt->cfg.thread_name = rt->thread_name;
    atomic_init(&rt->next_id, 1);
    for (int r = 0; r < WEFT_NPRIO; r++)
        weft__inject_init(&rt->inject[r]);
    pthread_mutex_init(&rt->idle_lock, NULL);
    pthread_mutex_init(&rt->foreign_lock, NULL);
    weft__slab_init(&rt->foreign_slab);

    if (rt->flavor == WEFT_RT_CURRENT_THREAD)
        err = weft__ct_init(rt);
    else
        err = weft__mt_start(rt);
    if (err < 0) {
        weft__slab_fini(&rt->foreign_slab);
        pthread_mutex_destroy(&rt->foreign_lock);
        pthread_mutex_destroy(&rt->idle_lock);
        for (int r = 0; r < WEFT_NPRIO; r++)
            weft__inject_fini(&rt->inject[r]);
        weft__free(rt->workers);
        weft__free(rt->sleepers);
        weft__free(rt);
        return err;
    }
    weft__runtime_count(1);
    if ((err = weft__metrics_init(rt)) < 0) {
        weft_rt_free(rt);
        return err;
    }
    *out = rt;
    return 0;
}

/* ------------------------------------------------------------------ shutdown */

static void cancel_unfinished(struct weft__task *t, void *arg)
{
    (void)arg;
    uint64_t s = ld_acquire(&t->state);
    if (s != 0 && !(s & TASK_COMPLETE)) {
        /* Hold a ref so the cell stays "live" for the walk even if its last ref goes. */
        weft__task_cancel_now(t, -ECANCELED);
    }
}

static void walk_all(weft_rt *rt, void (*fn)(struct weft__task *, void *))
{
    if (rt->flavor == WEFT_RT_MULTI_THREAD) {
        for (unsigned i = 0; i < rt->nworkers; i++)
            weft__slab_walk(&rt->workers[i].slab, fn, NULL);
    } else {
        weft__slab_walk(&rt->ct.slab, fn, NULL);
    }
    weft__slab_walk(&rt->foreign_slab, fn, NULL);
    /* Big cells: walk a snapshot of the list, since cancelling may free some. */
    pthread_mutex_lock(&rt->foreign_lock);
    struct weft__task *p = rt->big_tasks;
    pthread_mutex_unlock(&rt->foreign_lock);
    while (p) {
        struct weft__task **links = (struct weft__task **)p; /* prev, next */
        struct weft__task *next = links[1];
        struct weft__task *t = (struct weft__task *)((char *)p + 2 * sizeof(void *));
        fn(t, NULL);
        p = next;
    }
}

void weft_rt_free(weft_rt *rt)
{
    if (!rt)
        return;
    weft__metrics_fini(rt);
    pthread_mutex_lock(&rt->foreign_lock);
    atomic_store(&rt->closed, 1);
    pthread_mutex_unlock(&rt->foreign_lock);

    /* The blocking pool first, while the schedulers and reactors are still alive: a job that
     * ends wakes its joiner, and that wake pushes into a run queue and unparks a reactor. Done
     * after the reactors were freed, a pool thread still inside that wake wrote into freed
     * memory (TSan, example_blocking_job under load). */
    weft__blocking_fini(rt);

    if (rt->flavor == WEFT_RT_MULTI_THREAD) {
        weft__mt_stop(rt); /* each worker frees its own reactor on its way out */
    } else {
        atomic_store(&rt->shutdown, 1);
        /* In-flight operations complete (-ECANCELED) before their futures are dropped. */
        weft__io_driver_free(rt->ct.io);
        rt->ct.io = NULL;
    }

    walk_all(rt, cancel_unfinished);
    weft__metrics_free(rt); /* the workers are gone: nobody is inside the observer now */
    while (atomic_load(&rt->foreign_joiners) != 0)
        usleep(100);

    if (rt->flavor == WEFT_RT_MULTI_THREAD) {
        for (unsigned i = 0; i < rt->nworkers; i++)
            weft__slab_fini(&rt->workers[i].slab);
    } else {
        weft__slab_fini(&rt->ct.slab);
        weft__ct_fini(rt);
    }
    weft__slab_fini(&rt->foreign_slab);
    struct weft__task *p = rt->big_tasks;
    while (p) {
        struct weft__task *next = ((struct weft__task **)p)[1];
        weft__free(p);
        p = next;
    }
    pthread_mutex_destroy(&rt->foreign_lock);
    pthread_mutex_destroy(&rt->idle_lock);
    for (int r = 0; r < WEFT_NPRIO; r++)
        weft__inject_fini(&rt->inject[r]);
    weft__free(rt->workers);
    weft__free(rt->sleepers);
    weft__free(rt);
    weft__runtime_count(-1);
}

/* ------------------------------------------------------------------ block_on */

int weft_rt_block_on(weft_rt *rt, const weft_future_type *type, const void *init, void *out)
{
    weft_join *join;
    int err;

    if (!rt || !type)
        return -EINVAL;
    if (weft__tl.rt == rt)
        return -EDEADLK;
    /* Not weft_spawn: the inject-queue cap (cfg.max_inject) must not refuse block_on, the
     * call that drains the queue of a current-thread runtime. */
    struct weft__task *t;
    if ((err = weft__task_create(rt, type, init, NULL, &join, &t)) < 0)
        return err;
    weft__sched_schedule(t, 0);
    if (rt->flavor == WEFT_RT_CURRENT_THREAD) {
        err = weft__ct_block_on(rt, weft__task_from_join(join));
        if (err < 0) {
            weft_join_abort(join);
            weft_join_detach(join);
            return err;
        }
    }
    return weft_join_wait(join, out, type->out_size);
}

weft_rt_flavor weft_rt_flavor_of(const weft_rt *rt)
{
    return rt ? rt->flavor : WEFT_RT_MULTI_THREAD;
}

unsigned weft_rt_workers(const weft_rt *rt)
{
    return rt ? rt->nworkers : 0;
}

weft_rt *weft_rt_current(void)
{
    return weft__tl.rt;
}

int weft_rt_worker_index(void)
{
    return weft__tl.worker ? (int)weft__tl.worker->index : -1;
}

/* ------------------------------------------------------------------ builder */

struct weft_rt_builder {
    weft_rt_config cfg;
    char name[16];
};

int weft_rt_builder_new(weft_rt_builder **out, weft_rt_flavor flavor)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if ((unsigned)flavor > WEFT_RT_CURRENT_THREAD)
        return -EINVAL;
    weft_rt_builder *b = weft__calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->cfg.flavor = flavor;
    *out = b;
    return 0;
}

int weft_rt_builder_workers(weft_rt_builder *b, unsigned n)
{
    if (!b || n == 0 || n > MAX_WORKERS)
        return -EINVAL;
    b->cfg.workers = n;
    return 0;
}

int weft_rt_builder_thread_name(weft_rt_builder *b, const char *name)
{
    if (!b || !name || !name[0] || strlen(name) > 12)
        return -EINVAL;
    strcpy(b->name, name);
    b->cfg.thread_name = b->name;
    return 0;
}

int weft_rt_builder_thread_stack_size(weft_rt_builder *b, size_t bytes)
{
    if (!b || bytes < MIN_STACK || bytes > MAX_STACK)
        return -EINVAL;
    b->cfg.thread_stack_size = bytes;
    return 0;
}

int weft_rt_builder_on_thread_start(weft_rt_builder *b, void (*fn)(void *), void *arg)
{
    if (!b || !fn)
        return -EINVAL;
    b->cfg.on_thread_start = fn;
    b->cfg.hook_arg = arg;
    return 0;
}

int weft_rt_builder_on_thread_stop(weft_rt_builder *b, void (*fn)(void *), void *arg)
{
    if (!b || !fn)
        return -EINVAL;
    b->cfg.on_thread_stop = fn;
    b->cfg.hook_arg = arg;
    return 0;
}

int weft_rt_builder_event_interval(weft_rt_builder *b, unsigned ticks)
{
    if (!b || ticks == 0 || ticks > 1000000)
        return -EINVAL;
    b->cfg.event_interval = ticks;
    return 0;
}

int weft_rt_builder_global_queue_interval(weft_rt_builder *b, unsigned ticks)
{
    if (!b || ticks == 0 || ticks > 1000000)
        return -EINVAL;
    b->cfg.global_queue_interval = ticks;
    return 0;
}

int weft_rt_builder_max_inject(weft_rt_builder *b, size_t tasks)
{
    if (!b || tasks == 0 || tasks > ((size_t)1 << 40))
        return -EINVAL;
    b->cfg.max_inject = tasks;
    return 0;
}

int weft_rt_builder_build(const weft_rt_builder *b, weft_rt **out)
{
    if (!b) {
        if (out)
            *out = NULL;
        return -EINVAL;
    }
    return weft_rt_new(out, &b->cfg);
}

void weft_rt_builder_free(weft_rt_builder *b)
{
    weft__free(b);
}
