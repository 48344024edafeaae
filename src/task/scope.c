/* Structured concurrency: scopes (weft/scope.h).
 *
 * A child is an ordinary task whose cell carries a scope tag (task.h: TASK_F_SCOPED): the
 * executor calls weft__scope_child_end() once when the child ends, right after its future's
 * drop, with the poll's result. There is no wrapper future: a scoped spawn costs what a plain
 * spawn costs plus the bookkeeping below, which is kept off shared cache lines.
 *
 * Shards. The scope has one shard per worker plus one for every other thread. A shard counts
 * children spawned minus children ended *on that thread* (so a worker's shard is written by
 * that worker only: a plain load and store, no bouncing line), and lists the children
 * spawned there, each holding one reference on its cell so that a cancel can abort any of
 * them without racing with its free. The spawner compacts its own list when it fills up:
 * children that have ended are released there, so their cells go back to its slab while the
 * scope is still open. Live children = the sum of the shards.
 *
 * Closing. The closer moves the scope to CLOSING, then sums the shards. A child that ends
 * after it sees CLOSING sums them too (after its own decrement, seq_cst) and wakes the closer
 * when the sum is zero: whichever ends last sees zero. The scope itself is freed by close,
 * after that: no child touches it afterwards (the end hook reads the state and the shards
 * before its last decrement is visible... see child_end).
 *
 * A deadline is a watchdog child (tag bit 0 set) that sleeps until it and then cancels the
 * scope with -ETIMEDOUT; it is not counted in the shards, and close aborts it once the real
 * children are done.
 */
#include <pthread.h>
#include <string.h>

#include "sched/sched.h"
#include "sys/futex.h"
#include "weft/async.h"
#include "weft/scope.h"
#include "weft/time.h"

enum { SCOPE_OPEN = 0, SCOPE_CLOSING = 1, SCOPE_CANCELLED = 2 };

#define SHARD_CAP0 64
#define TAG_WATCHDOG ((uintptr_t)1)

struct shard {
    alignas(WEFT_CACHELINE) _Atomic long live; /* spawned here minus ended here */
    _Atomic uint32_t lock;  /* held by walkers (cancel), by compaction and by shared appends */
    _Atomic uint32_t n;     /* entries of v in use: a worker appends without the lock */
    uint32_t cap;
    struct weft__task **v;  /* children spawned here (one ref each) */
};

struct weft_scope {
    weft_rt *rt;
    int policy;
    int64_t deadline;
    _Atomic int state;              /* SCOPE_* */
    _Atomic int first_error;        /* first child error, or the cancel reason */
    _Atomic int failed;             /* children that ended with an error */
    _Atomic int watchdog_live;      /* 1 while the deadline task lives */
    struct weft__task *watchdog;    /* the deadline task (our reference), or NULL */
    pthread_mutex_t lock;           /* guards closer, nested, sibling links */
    weft_waker closer;              /* the task awaiting close */
    _Atomic uint32_t close_seq;     /* futex word for weft_scope_close_wait */
    weft_scope *parent;
    weft_scope *nested, *next_sibling; /* child scopes (guarded by lock of this scope) */
    unsigned nshards;               /* workers + 1 */
    struct shard *shards;
};

static void scope_cancel(weft_scope *s, int reason);

static void shard_lock(struct shard *sh)
{
    while (atomic_exchange_explicit(&sh->lock, 1, memory_order_acquire))
        while (ld_relaxed(&sh->lock))
            weft__cpu_relax();
}

static void shard_unlock(struct shard *sh)
{
    st_release(&sh->lock, 0);
}

/* The calling thread's shard, and whether another thread may write it too (then counts are
 * read-modify-writes). */
static struct shard *my_shard(weft_scope *s, bool *shared)
{
    struct weft__tl *tl = &weft__tl;
    if (tl->rt == s->rt && tl->worker && tl->worker->index < s->nshards - 1) {
        *shared = false;
        return &s->shards[tl->worker->index];
    }
    *shared = true;
    return &s->shards[s->nshards - 1];
}

/* Spawns count with a plain store (a worker's shard has one writer); ends use seq_cst, for
 * the closing handshake in weft__scope_child_end. */
static void count(struct shard *sh, bool shared, long d, memory_order mo)
{
    if (shared)
        atomic_fetch_add_explicit(&sh->live, d, memory_order_seq_cst);
    else
        atomic_store_explicit(&sh->live, ld_relaxed(&sh->live) + d, mo);
}

/* Live children. The shards are not read at one instant, so one pass could see a child's end
 * without its spawn (a false zero): read them until two passes agree. Every end a pass saw
 * happened after its spawn, which the next pass then sees too. */
static long live_sum(weft_scope *s)
{
    uint64_t prev_mix = 0;
    for (int pass = 0;; pass++) {
        long n = 0;
        uint64_t mix = 0; /* the values read, folded: equal folds = equal passes */
        for (unsigned i = 0; i < s->nshards; i++) {
            long v = atomic_load_explicit(&s->shards[i].live, memory_order_seq_cst);
            n += v;
            mix = (mix ^ (uint64_t)v) * 0x100000001b3ull + i;
        }
        if (pass && mix == prev_mix)
            return n;
        prev_mix = mix;
    }
}

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

void weft__scope_child_end(uintptr_t tag, int result, bool polled)
{
    weft_scope *s = (weft_scope *)(tag & ~TAG_WATCHDOG);
    /* The scope is not freed before this child's cell is COMPLETE (published after this
     * returns: see finish), so everything here may touch it. */
    if (tag & TAG_WATCHDOG) {
        atomic_store(&s->watchdog_live, 0);
        if (atomic_load(&s->state) != SCOPE_OPEN && live_sum(s) == 0)
            wake_closer(s);
        return;
    }
    if (polled && result < 0) {
        int expected = 0;
        atomic_compare_exchange_strong(&s->first_error, &expected, result);
        atomic_fetch_add(&s->failed, 1);
        if (s->policy == WEFT_SCOPE_FAIL_FAST)
            scope_cancel(s, result);
    }
    bool shared;
    struct shard *sh = my_shard(s, &shared);
    count(sh, shared, -1, memory_order_seq_cst);
    /* Decrement, then read the state (both seq_cst), while the closer stores CLOSING, then
     * sums: either it counts our decrement or we see CLOSING and check the sum ourselves. */
    if (atomic_load_explicit(&s->state, memory_order_seq_cst) != SCOPE_OPEN && live_sum(s) == 0)
        wake_closer(s);
}

bool weft__scope_child_cancelled(uintptr_t tag)
{
    if (tag & TAG_WATCHDOG)
        return false; /* stopped by close or cancel directly */
    weft_scope *s = (weft_scope *)tag;
    return atomic_load_explicit(&s->state, memory_order_relaxed) == SCOPE_CANCELLED;
}

/* Make room for one more child in sh's list: release the children that have ended (their
 * cells go back to this thread's slab), then grow when still more than half full. Lock held.
 * False when out of memory. */
static bool registry_make_room(struct shard *sh)
{
    uint32_t n = ld_relaxed(&sh->n);
    if (n < sh->cap)
        return true;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct weft__task *c = sh->v[i];
        if (ld_acquire(&c->state) & TASK_COMPLETE)
            weft__task_ref_dec(c);
        else
            sh->v[k++] = c;
    }
    st_release(&sh->n, k);
    if (k <= sh->cap / 2 && sh->v)
        return true;
    uint32_t cap = sh->cap ? sh->cap * 2 : SHARD_CAP0;
    struct weft__task **v = weft__alloc(cap * sizeof *v);
    if (!v)
        return k < sh->cap;
    if (k)
        memcpy(v, sh->v, k * sizeof *v);
    weft__free(sh->v);
    sh->v = v, sh->cap = cap;
    return true;
}

static int spawn_child(weft_scope *s, const weft_future_type *type, const void *init,
                       weft_join **join, bool watchdog)
{
    if (join)
        *join = NULL;
    if (!s || !type || !type->poll)
        return -EINVAL;
    if (atomic_load_explicit(&s->state, memory_order_acquire) != SCOPE_OPEN && !watchdog)
        return -ECANCELED;
    struct weft__task *t;
    if (watchdog) {
        int err = weft__task_create_scoped(s->rt, type, init, join,
                                           (uintptr_t)s | TAG_WATCHDOG, &t);
        if (err < 0)
            return err;
        st_relaxed(&t->state, ld_relaxed(&t->state) + TASK_REF_ONE); /* the scope's ref */
        s->watchdog = t;
        weft__sched_schedule(t, 0);
        return 0;
    }
    bool shared;
    struct shard *sh = my_shard(s, &shared);
    /* A worker's list only grows from that worker (which appends without the lock: walkers
     * read up to n); other threads share one list and keep its lock across the spawn. */
    if (shared || ld_relaxed(&sh->n) == sh->cap) {
        shard_lock(sh);
        if (!registry_make_room(sh)) {
            shard_unlock(sh);
            return -ENOMEM;
        }
        if (!shared)
            shard_unlock(sh);
    }
    int err = weft__task_create_scoped(s->rt, type, init, join, (uintptr_t)s, &t);
    if (err < 0) {
        if (shared)
            shard_unlock(sh);
        return err;
    }
    /* The scope's reference, before the task can run (not yet published: a plain add). */
    st_relaxed(&t->state, ld_relaxed(&t->state) + TASK_REF_ONE);
    count(sh, shared, +1, memory_order_release);
    uint32_t n = ld_relaxed(&sh->n);
    sh->v[n] = t;
    st_release(&sh->n, n + 1);
    if (shared)
        shard_unlock(sh);
    /* A cancel that misses this entry (it read n just before) is seen by the child itself:
     * a scoped task checks its scope before every poll (task.c). */
    weft__sched_schedule(t, 0);
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
    unsigned nshards = (rt->flavor == WEFT_RT_MULTI_THREAD ? rt->nworkers : 0) + 1;
    struct shard *shards =
        s ? weft__alloc_aligned(WEFT_CACHELINE, nshards * sizeof(struct shard)) : NULL;
    if (!shards) {
        weft__free(s);
        return -ENOMEM;
    }
    memset(shards, 0, nshards * sizeof(struct shard));
    s->shards = shards;
    s->nshards = nshards;
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
            weft__free_aligned(s->shards);
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
    /* Every listed cell is held by our reference: abort is safe even if it has ended. */
    for (unsigned i = 0; i < s->nshards; i++) {
        struct shard *sh = &s->shards[i];
        shard_lock(sh);
        uint32_t n = ld_acquire(&sh->n);
        for (uint32_t k = 0; k < n; k++)
            weft_join_abort((weft_join *)sh->v[k]);
        shard_unlock(sh);
    }
    if (s->watchdog && reason != -ETIMEDOUT)
        weft_join_abort((weft_join *)s->watchdog);
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
    long n = live_sum((weft_scope *)s);
    return n > 0 ? (size_t)n : 0;
}

/* Every real child has ended: stop the watchdog; true once nothing is left at all. */
static bool all_done(weft_scope *s)
{
    if (live_sum(s) != 0)
        return false;
    if (atomic_load(&s->watchdog_live)) {
        weft_join_abort((weft_join *)s->watchdog);
        return false;
    }
    return true;
}

/* Wait (briefly: they are in their last instructions) until the end hook of t has returned. */
static void release_ended(struct weft__task *t)
{
    while (!(ld_acquire(&t->state) & TASK_COMPLETE))
        weft__cpu_relax();
    weft__task_ref_dec(t);
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
    for (unsigned i = 0; i < s->nshards; i++) {
        struct shard *sh = &s->shards[i];
        uint32_t n = ld_acquire(&sh->n);
        for (uint32_t k = 0; k < n; k++)
            release_ended(sh->v[k]);
        weft__free(sh->v);
    }
    if (s->watchdog)
        release_ended(s->watchdog);
    weft_waker_drop(&s->closer);
    pthread_mutex_destroy(&s->lock);
    weft__free_aligned(s->shards);
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
