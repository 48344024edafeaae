/* Structured concurrency: scopes (weft/scope.h).
 *
 * A child is an ordinary task whose future is wrapped: the cell's state starts with a
 * struct child (links, the scope, the inner type), followed by the inner future's state; the
 * wrapper's type lives inside the cell too, so no allocation is needed beyond the cell. The
 * wrapper's drop runs exactly once, however the child ends, and reports to the scope there.
 *
 * Lifetimes. The scope holds one reference on every child cell (taken at spawn, before the
 * task is visible), so cancel can abort any child without racing with its free; close
 * releases them once every child has ended. The scope itself is freed by close, after `live`
 * reaches zero: no child can touch it afterwards.
 *
 * A deadline is a watchdog child that sleeps until it and then cancels the scope with
 * -ETIMEDOUT; close aborts it once the real children are done.
 */
#include <pthread.h>
#include <string.h>

#include "sched/sched.h"
#include "sys/futex.h"
#include "weft/async.h"
#include "weft/scope.h"
#include "weft/time.h"

enum { SCOPE_OPEN = 0, SCOPE_CLOSING = 1, SCOPE_CANCELLED = 2 };

struct child {
    struct child *next;             /* the scope's list (a lock-free stack) */
    weft_scope *scope;
    struct weft__task *task;
    const weft_future_type *inner;
    weft_future_type type;          /* the wrapper's type: the cell's t->type points here */
    uint8_t finished;               /* the inner poll returned READY or an error */
    uint8_t watchdog;               /* the deadline task, not a user child */
    alignas(16) unsigned char inner_state[];
};

struct weft_scope {
    weft_rt *rt;
    int policy;
    int64_t deadline;
    alignas(WEFT_CACHELINE) _Atomic long live; /* children (incl. the watchdog) whose drop
                                                  has not run; its own line: children
                                                  decrement it while the spawner pushes */
    _Atomic int state;              /* SCOPE_* */
    _Atomic int first_error;        /* first child error, or the cancel reason */
    _Atomic int failed;             /* children that ended with an error */
    _Atomic int watchdog_live;      /* 1 while the deadline task lives */
    alignas(WEFT_CACHELINE) _Atomic(struct child *) children; /* the spawner's line */
    alignas(WEFT_CACHELINE) pthread_mutex_t lock; /* guards closer, nested, sibling links */
    weft_waker closer;              /* the task awaiting close */
    _Atomic uint32_t close_seq;     /* futex word for weft_scope_close_wait */
    weft_scope *parent;
    weft_scope *nested, *next_sibling; /* child scopes (guarded by lock of this scope) */
};

static void scope_cancel(weft_scope *s, int reason);

static void wake_closer(weft_scope *s)
{
    weft_waker w = {0};
    pthread_mutex_lock(&s->lock);
    if (s->closer.vtable)
        weft_waker_clone(&s->closer, &w);
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add_explicit(&s->close_seq, 1, memory_order_release);
    weft__futex_wake(&s->close_seq, INT32_MAX);
    weft_waker_wake(&w);
}

static weft_poll child_poll(void *state, weft_cx *cx, void *out)
{
    struct child *c = state;
    weft_poll r = c->inner->poll(c->inner_state, cx, out);
    if (r == WEFT_PENDING)
        return r;
    c->finished = 1;
    if (r < 0 && !c->watchdog) {
        weft_scope *s = c->scope;
        int expected = 0;
        atomic_compare_exchange_strong(&s->first_error, &expected, r);
        atomic_fetch_add(&s->failed, 1);
        if (s->policy == WEFT_SCOPE_FAIL_FAST)
            scope_cancel(s, r);
    }
    return r;
}

static void child_drop(void *state)
{
    struct child *c = state;
    weft_scope *s = c->scope;
    if (c->inner->drop)
        c->inner->drop(c->inner_state);
    if (c->watchdog)
        atomic_store(&s->watchdog_live, 0);
    /* The last one out (or the last real child, leaving the watchdog) tells the closer. */
    long left = atomic_fetch_sub_explicit(&s->live, 1, memory_order_acq_rel) - 1;
    if (left == 0 || (left == 1 && atomic_load(&s->watchdog_live)))
        wake_closer(s);
}

static int spawn_child(weft_scope *s, const weft_future_type *type, const void *init,
                       weft_join **join, bool watchdog)
{
    if (join)
        *join = NULL;
    if (!s || !type || !type->poll || type->state_size > (1u << 30))
        return -EINVAL;
    if (atomic_load_explicit(&s->state, memory_order_acquire) != SCOPE_OPEN && !watchdog)
        return -ECANCELED;
    size_t inner = (type->state_size + 15) & ~(size_t)15;
    weft_future_type shape = {.name = type->name,
                              .poll = child_poll,
                              .drop = child_drop,
                              .state_size = sizeof(struct child) + inner,
                              .out_size = type->out_size};
    struct weft__task *t;
    int err = weft__task_create(s->rt, &shape, NULL, NULL, join, &t);
    if (err < 0)
        return err;
    struct child *c = weft__task_state(t);
    c->scope = s;
    c->task = t;
    c->inner = type;
    c->type = shape;
    c->finished = 0;
    c->watchdog = watchdog;
    if (init)
        memcpy(c->inner_state, init, type->state_size);
    t->type = &c->type; /* not visible to anyone yet */
    /* The scope's reference, before the task can run (not yet published: a plain add). */
    st_relaxed(&t->state, ld_relaxed(&t->state) + TASK_REF_ONE);
    atomic_fetch_add_explicit(&s->live, 1, memory_order_relaxed);
    struct child *head = ld_relaxed(&s->children);
    do
        c->next = head;
    while (!atomic_compare_exchange_weak_explicit(&s->children, &head, c, memory_order_release,
                                                  memory_order_relaxed));
    weft__sched_schedule(t, 0);
    /* Cancelled while we were adding it: make sure it is cancelled too. */
    if (!watchdog && atomic_load(&s->state) == SCOPE_CANCELLED)
        weft_join_abort((weft_join *)t);
    return 0;
}

int weft_scope_spawn(weft_scope *s, const weft_future_type *type, const void *init,
                     weft_join **join)
{
    return spawn_child(s, type, init, join, false);
}

/* ------------------------------------------------------------------ deadline watchdog */

struct watchdog {
    WEFT_ASYNC_STATE;
    weft_scope *scope;
    weft_sleep sleep;
};

static weft_poll watchdog_poll(void *state, weft_cx *cx, void *out)
{
    struct watchdog *w = state;
    (void)out;
    WEFT_ASYNC_BEGIN(w);
    weft_sleep_until_init(&w->sleep, w->scope->deadline);
    WEFT_AWAIT(w, weft_sleep_poll(&w->sleep, cx));
    scope_cancel(w->scope, -ETIMEDOUT);
    WEFT_ASYNC_END(w);
}

static void watchdog_drop(void *state)
{
    weft_sleep_drop(&((struct watchdog *)state)->sleep);
}

static const weft_future_type watchdog_type = {.name = "weft-scope-deadline",
                                               .poll = watchdog_poll,
                                               .drop = watchdog_drop,
                                               .state_size = sizeof(struct watchdog)};

/* ------------------------------------------------------------------ life cycle */

int weft_scope_new(weft_scope **out, weft_rt *rt, const weft_scope_opts *opts)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!rt || (opts && (unsigned)opts->policy > WEFT_SCOPE_COLLECT) ||
        (opts && opts->deadline < 0))
        return -EINVAL;
    weft_scope *s = weft__calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->rt = rt;
    s->policy = opts ? opts->policy : WEFT_SCOPE_FAIL_FAST;
    s->deadline = opts ? opts->deadline : 0;
    pthread_mutex_init(&s->lock, NULL);
    if (opts && opts->parent) {
        weft_scope *p = opts->parent;
        pthread_mutex_lock(&p->lock);
        s->parent = p;
        s->next_sibling = p->nested;
        p->nested = s;
        bool cancelled = atomic_load(&p->state) == SCOPE_CANCELLED;
        pthread_mutex_unlock(&p->lock);
        if (cancelled)
            atomic_store(&s->state, SCOPE_CANCELLED);
    }
    if (s->deadline) {
        atomic_store(&s->watchdog_live, 1);
        int err = spawn_child(s, &watchdog_type, &(struct watchdog){.scope = s}, NULL, true);
        if (err < 0) {
            atomic_store(&s->watchdog_live, 0);
            pthread_mutex_destroy(&s->lock);
            weft__free(s);
            return err;
        }
    }
    *out = s;
    return 0;
}

/* Abort every child and nested scope (depth first). `reason` becomes the result when no
 * child error came first. */
static void scope_cancel(weft_scope *s, int reason)
{
    int prev = atomic_exchange(&s->state, SCOPE_CANCELLED);
    if (prev == SCOPE_CANCELLED)
        return;
    int expected = 0;
    atomic_compare_exchange_strong(&s->first_error, &expected, reason);
    pthread_mutex_lock(&s->lock);
    for (weft_scope *n = s->nested; n; n = n->next_sibling)
        scope_cancel(n, -ECANCELED);
    pthread_mutex_unlock(&s->lock);
    /* Every child cell is held by our reference: abort is safe even if it has ended. */
    for (struct child *c = ld_acquire(&s->children); c; c = c->next)
        if (!c->watchdog || reason != -ETIMEDOUT)
            weft_join_abort((weft_join *)c->task);
}

void weft_scope_cancel(weft_scope *s)
{
    if (s)
        scope_cancel(s, -ECANCELED);
}

size_t weft_scope_live(const weft_scope *s)
{
    if (!s)
        return 0;
    long n = atomic_load(&((weft_scope *)s)->live) - atomic_load(&((weft_scope *)s)->watchdog_live);
    return n > 0 ? (size_t)n : 0;
}

/* Every real child has ended: stop the watchdog; true once nothing is left at all. */
static bool all_done(weft_scope *s)
{
    long live = atomic_load_explicit(&s->live, memory_order_acquire);
    if (live == 0)
        return true;
    if (live == 1 && atomic_load(&s->watchdog_live)) {
        for (struct child *c = ld_acquire(&s->children); c; c = c->next)
            if (c->watchdog)
                weft_join_abort((weft_join *)c->task);
    }
    return false;
}

static int finish(weft_scope *s, int *failed)
{
    if (failed)
        *failed = atomic_load(&s->failed);
    int result = atomic_load(&s->first_error);
    if (s->parent) {
        weft_scope *p = s->parent;
        pthread_mutex_lock(&p->lock);
        for (weft_scope **pp = &p->nested; *pp; pp = &(*pp)->next_sibling)
            if (*pp == s) {
                *pp = s->next_sibling;
                break;
            }
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_lock(&s->lock);
    for (weft_scope *n = s->nested; n; n = n->next_sibling)
        n->parent = NULL; /* outliving nested scopes are on their own now */
    pthread_mutex_unlock(&s->lock);
    struct child *c = ld_acquire(&s->children);
    while (c) {
        struct child *next = c->next;
        weft__task_ref_dec(c->task);
        c = next;
    }
    weft_waker_drop(&s->closer);
    pthread_mutex_destroy(&s->lock);
    weft__free(s);
    return result;
}

weft_poll weft_scope_close_poll(weft_scope *s, weft_cx *cx, int *result, int *failed)
{
    int dummy;
    if (!result)
        result = &dummy;
    if (!s || !cx) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    int open = SCOPE_OPEN;
    atomic_compare_exchange_strong(&s->state, &open, SCOPE_CLOSING);
    if (!all_done(s)) {
        pthread_mutex_lock(&s->lock);
        weft_waker_set(&s->closer, &cx->waker);
        pthread_mutex_unlock(&s->lock);
        if (!all_done(s)) /* re-check: the last child may have left before we stored the waker */
            return WEFT_PENDING;
    }
    *result = finish(s, failed);
    return WEFT_READY;
}

int weft_scope_close_wait(weft_scope *s, int *failed)
{
    if (!s)
        return -EINVAL;
    if (weft__tl.worker)
        return -EDEADLK;
    int open = SCOPE_OPEN;
    atomic_compare_exchange_strong(&s->state, &open, SCOPE_CLOSING);
    for (;;) {
        uint32_t seq = atomic_load_explicit(&s->close_seq, memory_order_acquire);
        if (all_done(s))
            break;
        weft__futex_wait(&s->close_seq, seq, INT64_MAX);
    }
    return finish(s, failed);
}
