/* join_all and select: drive N child futures inside one task.
 *
 * Per-child wakers. At the first poll a combinator allocates a wake set: a refcounted block
 * holding the parent's waker, one "woken" bit per child and one index word per child. Child i
 * is polled with a waker whose data points at its index word (so the set is found from it);
 * waking it sets bit i and, if the bit was clear, wakes the parent. A later poll swaps each
 * bit word to 0 and polls only the children whose bits were set, so a join over 10,000
 * children woken one at a time costs O(1) per wakeup, not O(N).
 *
 * The set outlives the combinator as long as any child waker clone does (a leaf may keep one
 * stored after the child is dropped, e.g. an mpsc receiver's parked waker): every clone holds
 * a reference. When the combinator finishes or is dropped it takes the parent waker out of the
 * set (late wakes then go nowhere) and releases its own reference. The parent waker is read
 * by wakers only under the set's small lock, and only cloned there: it is woken after
 * unlocking.
 *
 * If that one allocation fails, the combinator falls back to giving every child the parent's
 * own waker and polling all pending children each time: slower, never wrong.
 *
 * Children's yields: a child that yields sets WEFT_CX_YIELDED in its context; the flag is
 * passed up (the task goes to the back of the queue) and the child's bit is set so it is
 * polled again. The coop budget is shared: what a child spends, the task has spent.
 *
 * Ownership: from _init the combinator owns its children: each child's type->drop runs
 * exactly once (after it finishes, or when it is dropped unfinished).
 */
#include <string.h>

#include "sync/sync.h"

#define MAX_CHILDREN (1u << 24)
#define CHILD_DONE 1u

enum { C_IDLE = 0, C_INIT, C_RUNNING, C_DONE };

struct combo {
    weft_child *ch;
    size_t n;
    struct wakeset *ws; /* NULL before the first poll, or in poll-all mode */
    size_t left;        /* children not finished */
    uint32_t step;      /* C_* */
    uint32_t pad;
};
_Static_assert(sizeof(struct combo) <= sizeof(weft_join_all), "join_all fits");
_Static_assert(sizeof(struct combo) <= sizeof(weft_select), "select fits");

/* ------------------------------------------------------------------ wake set */

struct wakeset {
    _Atomic uint32_t refs;    /* the combinator + every child waker clone */
    uint32_t pad;
    struct weft__waitlist lk; /* only its lock is used: guards `parent` against wakers */
    weft_waker parent;        /* written by the combinator's poller (under lk) */
    _Atomic uint64_t *bits;   /* n bits: child woken since its last poll */
    size_t nwords;
    uint32_t idx[];           /* idx[i] == i: child i's waker data points here */
};

static const weft_waker_vtable child_vtable;

static inline struct wakeset *ws_of(void *data)
{
    uint32_t *p = data;
    return (struct wakeset *)((char *)(p - *p) - offsetof(struct wakeset, idx));
}

static void ws_put(struct wakeset *ws)
{
    if (atomic_fetch_sub_explicit(&ws->refs, 1, memory_order_acq_rel) != 1)
        return;
    weft_waker_drop(&ws->parent);
    weft__free(ws);
}

static void *child_clone(void *data)
{
    atomic_fetch_add_explicit(&ws_of(data)->refs, 1, memory_order_relaxed);
    return data;
}

static void child_wake_by_ref(void *data)
{
    struct wakeset *ws = ws_of(data);
    uint32_t i = *(uint32_t *)data;
    uint64_t bit = 1ull << (i % 64);
    if (atomic_fetch_or_explicit(&ws->bits[i / 64], bit, memory_order_acq_rel) & bit)
        return; /* already flagged: the parent has been woken and will see it */
    weft_waker w;
    weft__waitlist_lock(&ws->lk);
    weft_waker_clone(&ws->parent, &w);
    weft__waitlist_unlock(&ws->lk);
    weft_waker_wake(&w);
}

static void child_drop(void *data)
{
    ws_put(ws_of(data));
}

static void child_wake(void *data)
{
    child_wake_by_ref(data);
    child_drop(data);
}

static const weft_waker_vtable child_vtable = {
    .clone = child_clone,
    .wake = child_wake,
    .wake_by_ref = child_wake_by_ref,
    .drop = child_drop,
};

static struct wakeset *ws_new(size_t n, const weft_waker *parent)
{
    size_t nwords = (n + 63) / 64;
    size_t idx_bytes = (n * sizeof(uint32_t) + 7) & ~(size_t)7;
    struct wakeset *ws = weft__alloc(sizeof *ws + idx_bytes + nwords * sizeof(uint64_t));
    if (!ws)
        return NULL;
    atomic_init(&ws->refs, 1);
    weft__waitlist_init(&ws->lk);
    weft_waker_clone(parent, &ws->parent);
    ws->bits = (_Atomic uint64_t *)((char *)ws->idx + idx_bytes);
    ws->nwords = nwords;
    for (size_t i = 0; i < n; i++)
        ws->idx[i] = (uint32_t)i;
    for (size_t w = 0; w < nwords; w++)
        atomic_init(&ws->bits[w], 0);
    return ws;
}

static void ws_set_parent(struct wakeset *ws, const weft_waker *w)
{
    if (ws->parent.vtable && weft_waker_will_wake(&ws->parent, w))
        return; /* the usual case: read without the lock, we are its only writer */
    weft_waker old;
    weft__waitlist_lock(&ws->lk);
    old = ws->parent;
    weft_waker_clone(w, &ws->parent);
    weft__waitlist_unlock(&ws->lk);
    weft_waker_drop(&old);
}

/* The combinator is done with the set: late wakes go nowhere. */
static void ws_close(struct wakeset *ws)
{
    weft_waker old;
    weft__waitlist_lock(&ws->lk);
    old = ws->parent;
    ws->parent.vtable = NULL;
    ws->parent.data = NULL;
    weft__waitlist_unlock(&ws->lk);
    weft_waker_drop(&old);
    ws_put(ws);
}

/* ------------------------------------------------------------------ driving children */

static void init(struct combo *c, weft_child *children, size_t n)
{
    memset(c, 0, sizeof *c);
    c->ch = children;
    c->n = n;
    c->left = n;
    c->step = C_INIT;
    if (children && n <= MAX_CHILDREN) {
        for (size_t i = 0; i < n; i++) {
            children[i].result = 0;
            children[i].flags = 0;
        }
    }
}

static bool valid(const struct combo *c)
{
    if (c->n > MAX_CHILDREN || (c->n && !c->ch))
        return false;
    for (size_t i = 0; i < c->n; i++)
        if (!c->ch[i].type || !c->ch[i].type->poll)
            return false;
    return true;
}

static void finish_child(struct combo *c, weft_child *ch, int result)
{
    ch->result = result;
    ch->flags |= CHILD_DONE;
    c->left--;
    if (ch->type->drop)
        ch->type->drop(ch->state);
}

/* Poll child i. Returns true when it finished (and was dropped). */
static bool poll_child(struct combo *c, size_t i, weft_cx *cx)
{
    weft_child *ch = &c->ch[i];
    weft_cx ccx = *cx;
    if (c->ws) {
        ccx.waker.data = &c->ws->idx[i];
        ccx.waker.vtable = &child_vtable;
    }
    ccx.flags = 0;
    weft_poll r = ch->type->poll(ch->state, &ccx, ch->out);
    cx->budget = ccx.budget;
    if (ccx.flags) {
        cx->flags |= ccx.flags;
        if ((ccx.flags & WEFT_CX_YIELDED) && c->ws && r == WEFT_PENDING)
            atomic_fetch_or_explicit(&c->ws->bits[i / 64], 1ull << (i % 64),
                                     memory_order_relaxed);
    }
    if (r == WEFT_PENDING)
        return false;
    finish_child(c, ch, r < 0 ? r : 0);
    return true;
}

/* Poll what needs polling. With stop_first (select), return the index of the first child
 * that finished; otherwise poll everything due. Returns -1 when none finished (select) or
 * always (join_all). */
static long drive(struct combo *c, weft_cx *cx, bool stop_first)
{
    bool all = c->step == C_INIT || !c->ws;
    if (c->step == C_INIT) {
        c->ws = ws_new(c->n, &cx->waker); /* NULL: poll-all mode */
        c->step = C_RUNNING;
    } else if (c->ws) {
        ws_set_parent(c->ws, &cx->waker);
    }
    if (all) {
        for (size_t i = 0; i < c->n; i++)
            if (!(c->ch[i].flags & CHILD_DONE) && poll_child(c, i, cx) && stop_first)
                return (long)i;
        return -1;
    }
    for (size_t w = 0; w < c->ws->nwords; w++) {
        if (!ld_relaxed(&c->ws->bits[w]))
            continue;
        uint64_t bits = atomic_exchange_explicit(&c->ws->bits[w], 0, memory_order_acquire);
        while (bits) {
            size_t i = w * 64 + (size_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            if (!(c->ch[i].flags & CHILD_DONE) && poll_child(c, i, cx) && stop_first)
                return (long)i;
        }
    }
    return -1;
}

/* Drop every unfinished child and let go of the wake set. */
static void drop_all(struct combo *c)
{
    if (c->step == C_INIT || c->step == C_RUNNING) {
        for (size_t i = 0; i < c->n; i++)
            if (!(c->ch[i].flags & CHILD_DONE))
                finish_child(c, &c->ch[i], -ECANCELED);
    }
    if (c->ws) {
        ws_close(c->ws);
        c->ws = NULL;
    }
    c->step = C_DONE;
}

/* ------------------------------------------------------------------ join_all */

void weft_join_all_init(weft_join_all *j, weft_child *children, size_t n)
{
    if (j)
        init((struct combo *)j, children, n);
}

weft_poll weft_join_all_poll(weft_join_all *j, weft_cx *cx, int *result)
{
    struct combo *c = (struct combo *)j;
    int dummy;
    if (!result)
        result = &dummy;
    if (!c || !cx || c->step == C_IDLE || c->step == C_DONE ||
        (c->step == C_INIT && !valid(c))) {
        if (c && c->step == C_INIT)
            c->step = C_DONE; /* nothing was polled or dropped */
        *result = -EINVAL;
        return WEFT_READY;
    }
    if (c->n) {
        drive(c, cx, false);
        if (c->left)
            return WEFT_PENDING;
    }
    *result = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->ch[i].result < 0) {
            *result = c->ch[i].result;
            break;
        }
    }
    drop_all(c);
    return WEFT_READY;
}

void weft_join_all_drop(weft_join_all *j)
{
    struct combo *c = (struct combo *)j;
    if (c && c->step != C_IDLE && c->step != C_DONE)
        drop_all(c);
}

/* ------------------------------------------------------------------ select */

void weft_select_init(weft_select *s, weft_child *children, size_t n)
{
    if (s)
        init((struct combo *)s, children, n);
}

weft_poll weft_select_poll(weft_select *s, weft_cx *cx, int *winner)
{
    struct combo *c = (struct combo *)s;
    int dummy;
    if (!winner)
        winner = &dummy;
    if (!c || !cx || c->step == C_IDLE || c->step == C_DONE ||
        (c->step == C_INIT && (c->n == 0 || !valid(c)))) {
        if (c && c->step == C_INIT)
            c->step = C_DONE;
        *winner = -EINVAL;
        return WEFT_READY;
    }
    long w = drive(c, cx, true);
    if (w < 0)
        return WEFT_PENDING;
    drop_all(c); /* the losers: dropped before we return */
    *winner = (int)w;
    return WEFT_READY;
}

void weft_select_drop(weft_select *s)
{
    struct combo *c = (struct combo *)s;
    if (c && c->step != C_IDLE && c->step != C_DONE)
        drop_all(c);
}
