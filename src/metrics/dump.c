/* Task dumps: weft_rt_dump_tasks and its text form.
 *
 * Why each worker lists its own tasks. Task cells live in per-thread slabs whose span headers
 * and arena lists only their owner writes (task/slab.h: a walk is safe for the owner or when
 * quiescent). So the dump never walks another thread's slab: it arms a timer, already due, on
 * each worker's wheel (weft__timer_arm_on) with a waker of ours. The worker fires it from its
 * scheduler loop (at its next event tick, or at once when parked: arming unparks it), and our
 * wake function, running on that worker, walks that worker's slab and copies what it finds
 * (id, name, state, priority, poll count) into the request. The requesting thread waits for
 * every worker, at most 1 s; a worker the monitor reports stuck is not waited for (its timer
 * may even be fired by the monitor - then our wake function sees it is not on the owner and
 * declines). Cells of the shared "foreign" slab and the big-cell list are guarded by
 * rt->foreign_lock, which the requester holds while it walks them.
 *
 * The request is refcounted: one reference for the requester, one per waker clone the timers
 * hold; the last release frees it, so a worker that answers after the requester gave up
 * writes into memory that is still there.
 */
#include <string.h>

#include "metrics/metrics.h"
#include "sys/futex.h"
#include "task/slab.h"

#define ANSWER_TIMEOUT WEFT_SEC(1)

struct ent {
    uintptr_t cell;     /* the cell's address: compared with stats.running, never read */
    uint64_t id;
    int64_t polls, last_poll;
    uint32_t name;      /* index in the slot's names */
    uint8_t state, prio;
    int16_t worker;
};

struct slot {
    struct weft__timer timer;
    struct req *req;
    unsigned index;
    _Atomic int done;   /* 0 waiting, 1 answered, 2 declined */
    struct ent *ents;
    size_t n, cap;
    bool oom;
    struct weft__names names;
};

struct req {
    _Atomic int refs;
    _Atomic uint32_t pending; /* futex word: slots not answered */
    weft_rt *rt;
    unsigned n;
    struct slot *slots; /* n worker slots, then one for the foreign slab and big cells */
};

static void req_unref(struct req *q)
{
    if (atomic_fetch_sub_explicit(&q->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (unsigned i = 0; i <= q->n; i++) {
        weft__free(q->slots[i].ents);
        weft__names_fini(&q->slots[i].names);
    }
    weft__free(q->slots);
    weft__free(q);
}

/* ------------------------------------------------------------------ walking */

static void visit(struct weft__task *t, void *arg)
{
    struct slot *s = arg;
    uint64_t st = ld_acquire(&t->state);
    if (st == 0 || (st & TASK_COMPLETE) || s->oom)
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        void *p = weft__realloc(s->ents, cap * sizeof *s->ents);
        if (!p) {
            s->oom = true;
            return;
        }
        s->ents = p;
        s->cap = cap;
    }
    struct ent *e = &s->ents[s->n++];
    e->cell = (uintptr_t)t;
    e->id = t->id;
    e->prio = t->prio;
    e->name = weft__names_intern(&s->names, weft__task_name(t));
    e->state = (st & TASK_CANCELLED) ? WEFT_TASK_CANCELLING
               : (st & TASK_SCHEDULED) ? WEFT_TASK_SCHEDULED
                                       : WEFT_TASK_IDLE;
    e->worker = s->index < s->req->n ? (int16_t)s->index : -1;
    e->polls = -1;
    e->last_poll = -1;
    if (t->flags & TASK_F_TIMED) {
        int64_t *tw = weft__task_sched_at(t);
        e->polls = __atomic_load_n(&tw[1], __ATOMIC_RELAXED);
        int64_t last = __atomic_load_n(&tw[2], __ATOMIC_RELAXED);
        e->last_poll = last > 0 ? last : -1;
    }
}

static bool on_owner(weft_rt *rt, unsigned i)
{
    struct weft__tl *tl = &weft__tl;
    if (tl->rt != rt)
        return false;
    if (rt->flavor == WEFT_RT_MULTI_THREAD)
        return tl->worker == &rt->workers[i];
    return tl->slab == &rt->ct.slab;
}

static void answer(struct slot *s)
{
    weft_rt *rt = s->req->rt;
    int result = 2;
    if (on_owner(rt, s->index)) {
        weft__slab_walk(rt->flavor == WEFT_RT_MULTI_THREAD ? &rt->workers[s->index].slab
                                                           : &rt->ct.slab,
                        visit, s);
        result = 1;
    }
    st_release(&s->done, result);
    atomic_fetch_sub_explicit(&s->req->pending, 1, memory_order_acq_rel);
    weft__futex_wake(&s->req->pending, 1);
}

static void *w_clone(void *data)
{
    struct slot *s = data;
    atomic_fetch_add_explicit(&s->req->refs, 1, memory_order_relaxed);
    return s;
}
static void w_wake_by_ref(void *data)
{
    answer(data);
}
static void w_drop(void *data)
{
    req_unref(((struct slot *)data)->req);
}
static void w_wake(void *data)
{
    struct req *q = ((struct slot *)data)->req;
    answer(data);
    req_unref(q);
}
static const weft_waker_vtable dump_waker = {w_clone, w_wake, w_wake_by_ref, w_drop};

static void walk_foreign(weft_rt *rt, struct slot *s)
{
    pthread_mutex_lock(&rt->foreign_lock);
    weft__slab_walk(&rt->foreign_slab, visit, s);
    /* Big cells: two list links (prev, next) in front of each header (task.c). */
    for (struct weft__task *p = rt->big_tasks; p;) {
        struct weft__task **links = (struct weft__task **)p;
        visit((struct weft__task *)((char *)p + 2 * sizeof(void *)), s);
        p = links[1];
    }
    pthread_mutex_unlock(&rt->foreign_lock);
}

/* ------------------------------------------------------------------ the request */

static struct req *collect(weft_rt *rt, struct weft__metrics *m)
{
    struct req *q = weft__calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->rt = rt;
    q->n = m->n;
    q->slots = weft__calloc(q->n + 1, sizeof *q->slots);
    atomic_init(&q->refs, 1);
    if (!q->slots) {
        weft__free(q);
        return NULL;
    }
    for (unsigned i = 0; i <= q->n; i++) {
        q->slots[i].req = q;
        q->slots[i].index = i;
        if (weft__names_init(&q->slots[i].names, 64, 65536) < 0) {
            req_unref(q);
            return NULL;
        }
    }
    atomic_init(&q->pending, q->n);
    int64_t now = weft__now();
    for (unsigned i = 0; i < q->n; i++) {
        weft_waker w = {.data = &q->slots[i], .vtable = &dump_waker};
        weft__timer_arm_on(rt, weft__metrics_timers(rt, i), true, &q->slots[i].timer, now, &w);
    }
    walk_foreign(rt, &q->slots[q->n]);

    int64_t deadline = now + ANSWER_TIMEOUT;
    for (;;) {
        uint32_t p = ld_acquire(&q->pending);
        if (p == 0)
            break;
        now = weft__now();
        if (now >= deadline)
            break;
        bool waiting = false; /* for a worker that is not reported stuck */
        for (unsigned i = 0; i < q->n; i++)
            if (ld_acquire(&q->slots[i].done) == 0 && !ld_acquire(&m->w[i].stuck_now) &&
                (rt->flavor == WEFT_RT_MULTI_THREAD || ld_acquire(&rt->ct.driving)))
                waiting = true;
        if (!waiting)
            break;
        weft__futex_wait(&q->pending, p, now + WEFT_MS(10) < deadline ? now + WEFT_MS(10)
                                                                       : deadline);
    }
    for (unsigned i = 0; i < q->n; i++)
        weft__timer_cancel(&q->slots[i].timer); /* drops the clone of a timer still armed */
    return q;
}

struct running {
    uintptr_t cell;
    uint64_t id;
    char name[WEFT__NAME_MAX];
    bool stuck;
    bool listed; /* deliver: found among the walked tasks */
    int64_t stuck_for;
};

/* What each worker is polling now, read once after the answers came in. */
static void read_running(struct weft__metrics *m, struct running *run)
{
    int64_t now = weft__now();
    for (unsigned i = 0; i < m->n; i++) {
        struct weft__task *t = ld_acquire(&weft__metrics_stats(m->rt, i)->running);
        run[i].cell = (uintptr_t)t;
        run[i].stuck = ld_acquire(&m->w[i].stuck_now);
        run[i].id = run[i].stuck ? ld_relaxed(&m->w[i].stuck_id) : 0;
        run[i].name[0] = 0;
        run[i].stuck_for = run[i].stuck ? now - ld_relaxed(&m->w[i].stuck_since) : 0;
        if (run[i].stuck) {
            pthread_mutex_lock(&m->stuck_lock);
            memcpy(run[i].name, m->w[i].stuck_name, sizeof run[i].name);
            pthread_mutex_unlock(&m->stuck_lock);
        }
    }
}

typedef void emit_fn(const weft_task_info *info, void *arg);

/* Hand every entry to fn; returns the count. */
static int deliver(struct weft__metrics *m, struct req *q, struct running *run,
                   const int *done, emit_fn *fn, void *arg)
{
    int count = 0;
    int64_t now = weft__now();
    static const weft_priority prio_of_rank[] = {WEFT_PRIO_HIGH, WEFT_PRIO_NORMAL, WEFT_PRIO_LOW};
    for (unsigned i = 0; i <= q->n; i++) {
        struct slot *s = &q->slots[i];
        if (done[i] != 1)
            continue;
        for (size_t k = 0; k < s->n; k++) {
            const struct ent *e = &s->ents[k];
            weft_task_info info = {
                .id = e->id,
                .name = weft__names_get(&s->names, e->name),
                .state = (weft_task_state)e->state,
                .priority = prio_of_rank[e->prio < 3 ? e->prio : 1],
                .worker = e->worker,
                .polls = e->polls,
                .since_last_poll = e->last_poll > 0 && now > e->last_poll ? now - e->last_poll
                                                                          : -1,
            };
            for (unsigned w = 0; w < m->n; w++) {
                if (run[w].cell == e->cell) {
                    info.state = WEFT_TASK_RUNNING;
                    info.worker = (int)w;
                    run[w].listed = true;
                }
            }
            fn(&info, arg);
            count++;
        }
    }
    /* A worker that did not answer: list the task it is stuck in, as the monitor saw it, unless
     * that task's memory belongs to a slab that was walked. */
    for (unsigned i = 0; i < q->n; i++) {
        if (done[i] == 1 || !run[i].stuck || !run[i].id || run[i].listed)
            continue;
        weft_task_info info = {.id = run[i].id, .name = run[i].name,
                               .state = WEFT_TASK_RUNNING, .priority = WEFT_PRIO_NORMAL,
                               .worker = (int)i, .polls = -1, .since_last_poll = -1};
        fn(&info, arg);
        count++;
    }
    return count;
}

static int dump(weft_rt *rt, emit_fn *fn, void *arg, struct weft__mbuf *head)
{
    struct weft__metrics *m = weft__metrics_of(rt);
    if (!m || !fn)
        return -EINVAL;
    if (weft__tl.rt == rt)
        return -EDEADLK; /* a worker (or the driver) would wait for itself */
    struct running *run = weft__calloc(m->n, sizeof *run);
    int *done = weft__calloc(m->n + 1, sizeof *done);
    struct req *q = run && done ? collect(rt, m) : NULL;
    if (!q) {
        weft__free(run);
        weft__free(done);
        return -ENOMEM;
    }
    read_running(m, run);
    /* One look at who answered: the slots of the others are never read (a late answer may
     * still be writing them). */
    for (unsigned i = 0; i < q->n; i++)
        done[i] = ld_acquire(&q->slots[i].done);
    done[q->n] = 1; /* the foreign slot: filled by this thread */
    bool oom = false;
    for (unsigned i = 0; i <= q->n; i++)
        oom |= done[i] == 1 && q->slots[i].oom;
    if (head) {
        weft__mbuf_printf(head, "weft task dump: %u worker%s\n", m->n, m->n == 1 ? "" : "s");
        for (unsigned i = 0; i < m->n; i++) {
            if (run[i].stuck)
                weft__mbuf_printf(head,
                                  "worker %u: stuck for %.1f ms in task %llu \"%s\"\n", i,
                                  (double)run[i].stuck_for / 1e6,
                                  (unsigned long long)run[i].id, run[i].name);
            if (done[i] != 1)
                weft__mbuf_printf(head,
                                  "worker %u: did not answer (inside a long poll, or not being "
                                  "driven); the tasks spawned on it are not listed\n",
                                  i);
        }
    }
    int n = deliver(m, q, run, done, fn, arg);
    req_unref(q);
    weft__free(run);
    weft__free(done);
    return oom ? -ENOMEM : n;
}

int weft_rt_dump_tasks(weft_rt *rt, weft_task_visit_fn *fn, void *arg)
{
    if (!rt || !fn)
        return -EINVAL;
    return dump(rt, fn, arg, NULL);
}

static void text_line(const weft_task_info *t, void *arg)
{
    static const char *const states[] = {"idle", "scheduled", "running", "cancelling"};
    struct weft__mbuf *b = arg;
    const char *prio = t->priority == WEFT_PRIO_HIGH ? "high"
                       : t->priority == WEFT_PRIO_LOW ? "low"
                                                      : "normal";
    weft__mbuf_printf(b, "task %llu \"%s\" %s", (unsigned long long)t->id, t->name,
                      states[t->state]);
    if (t->state == WEFT_TASK_RUNNING)
        weft__mbuf_printf(b, " on worker %d", t->worker);
    else if (t->worker >= 0)
        weft__mbuf_printf(b, " (spawned on worker %d)", t->worker);
    weft__mbuf_printf(b, ", prio %s", prio);
    if (t->polls >= 0)
        weft__mbuf_printf(b, ", polls %lld", (long long)t->polls);
    if (t->since_last_poll >= 0)
        weft__mbuf_printf(b, ", last poll %.1f ms ago", (double)t->since_last_poll / 1e6);
    weft__mbuf_put(b, "\n", 1);
}

int weft__dump_to_buf(weft_rt *rt, struct weft__mbuf *b)
{
    struct weft__mbuf lines = {0};
    int n = dump(rt, text_line, &lines, b);
    if (n >= 0) {
        weft__mbuf_printf(b, "%d live task%s\n", n, n == 1 ? "" : "s");
        if (lines.p)
            weft__mbuf_put(b, lines.p, lines.len);
        if (lines.oom)
            b->oom = true;
    }
    weft__mbuf_fini(&lines);
    return n;
}

int weft_rt_dump_tasks_fd(weft_rt *rt, int fd)
{
    struct weft__mbuf b = {0};
    if (!rt || fd < 0)
        return -EINVAL;
    int n = weft__dump_to_buf(rt, &b);
    if (n >= 0) {
        int err = weft__mbuf_write_fd(&b, fd);
        if (err < 0)
            n = err;
    }
    weft__mbuf_fini(&b);
    return n;
}
