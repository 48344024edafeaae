/* src/task - the task cell, its state word, wakers and join handles.
 *
 * A task cell is one block: this header, then the future's state (16-byte aligned), then
 * its output. Cells come from the per-thread slab (slab.h) or, past 4 KiB, from the
 * allocation seam.
 *
 * State word (all transitions are single atomic RMWs or CAS loops on it):
 *   SCHEDULED      the executor owns the task: it is queued or being polled. Set by whoever
 *                  moves it from idle to a queue (spawn, wake, abort); cleared only by the
 *                  poller when the poll returns PENDING and nobody woke it meanwhile.
 *   NOTIFIED       woken while SCHEDULED: poll once more. Cleared when the task is popped.
 *   COMPLETE       the future is dropped, result (and output) are written. Final.
 *   CANCELLED      abort requested; honoured at the next pop (the future is dropped unpolled).
 *   JOIN_INTEREST  a join handle exists.
 *   JOIN_WAKER     join_waker holds a waker the completer may use (ownership bit: while set
 *                  the completer side owns the field, while clear the join side does).
 *   JOIN_SLEEPER   a thread sleeps in weft_join_wait on this word (futex on the low half).
 *   refcount       bits 8.. : one "alive" ref held until COMPLETE, one for the join handle,
 *                  one per waker clone. The last release frees the cell; since the alive ref
 *                  is held until COMPLETE, a freed cell's future has always been dropped.
 *
 * A yielded task goes back to its queue with SCHEDULED still set and no RMW at all: a yield
 * costs a queue push and pop, nothing else.
 */
#ifndef WEFT_TASK_INTERNAL_H
#define WEFT_TASK_INTERNAL_H

#include <stdalign.h>

#include "core/core.h"
#include "weft/rt.h"
#include "weft/task.h"

#define TASK_SCHEDULED (1ull << 0)
#define TASK_NOTIFIED (1ull << 1)
#define TASK_COMPLETE (1ull << 2)
#define TASK_CANCELLED (1ull << 3)
#define TASK_JOIN_INTEREST (1ull << 4)
#define TASK_JOIN_WAKER (1ull << 5)
#define TASK_JOIN_SLEEPER (1ull << 6)
#define TASK_REF_ONE (1ull << 8)
#define TASK_REF_MASK (~(TASK_REF_ONE - 1))

#define TASK_SLAB_MAX 4096 /* cells above this come from the allocation seam */

struct weft__task {
    _Atomic uint64_t state;         /* see above */
    struct weft__task *next;        /* queue link: inject queue, overflow batches, slab lists */
    const weft_future_type *type;   /* immutable after spawn */
    weft_rt *rt;                    /* the runtime that runs it; immutable */
    uint64_t id;                    /* unique, never 0; immutable */
    weft_waker join_waker;          /* guarded by JOIN_WAKER (see above) */
    int32_t result;                 /* 0 or -errno; written before COMPLETE is published */
    uint16_t out_off;               /* offset of the output from body */
    uint8_t prio;                   /* rank: 0 high, 1 normal, 2 low (sched.h) */
    uint8_t flags;                  /* TASK_F_*; immutable */
    alignas(16) unsigned char body[]; /* the future's state, then its output, then (when
                                         TASK_F_NAMED) the spawn name pointer */
};
_Static_assert(sizeof(struct weft__task) == 64, "the task header is one cache line");

#define TASK_F_BIG 1   /* allocated through the seam, not the slab */
#define TASK_F_NAMED 2 /* a name pointer follows the output */
#define TASK_F_TIMED 4 /* an int64_t "queued at" follows (histograms on at spawn) */
#define TASK_F_SCOPED 8 /* a scope tag follows the name pointer (task/scope.c) */
/* Bytes of the TIMED trailer: queued at, then two words src/metrics keeps (polls, last poll
 * end), read and written with __atomic builtins. */
#define TASK_TIMED_SIZE (3 * sizeof(int64_t))

static inline void *weft__task_state(struct weft__task *t) { return t->body; }
static inline void *weft__task_out(struct weft__task *t) { return t->body + t->out_off; }
/* Offset of the optional trailer (name pointer, then queued-at time) from body. */
static inline size_t weft__task_trailer_off(const struct weft__task *t)
{
    size_t end = t->type->out_size ? (size_t)t->out_off + t->type->out_size
                                   : ((t->type->state_size + 15) & ~(size_t)15);
    return (end + 7) & ~(size_t)7;
}
static inline const char *weft__task_name(const struct weft__task *t)
{
    if (t->flags & TASK_F_NAMED)
        return *(const char *const *)(t->body + weft__task_trailer_off(t));
    return t->type->name;
}
/* The scope tag of a TASK_F_SCOPED task: the scope's address, low bit set for its deadline
 * watchdog. */
static inline uintptr_t *weft__task_scope_tag(struct weft__task *t)
{
    size_t off = weft__task_trailer_off(t) + ((t->flags & TASK_F_NAMED) ? sizeof(char *) : 0);
    return (uintptr_t *)(t->body + off);
}
static inline int64_t *weft__task_sched_at(struct weft__task *t)
{
    size_t off = weft__task_trailer_off(t) + ((t->flags & TASK_F_NAMED) ? sizeof(char *) : 0) +
                 ((t->flags & TASK_F_SCOPED) ? sizeof(uintptr_t) : 0);
    return (int64_t *)(t->body + off);
}

extern const weft_waker_vtable weft__task_waker_vtable;
/* A task waker stored without a reference: wake does not consume, drop does nothing. Only for
 * wakers kept inside a future that lives in that same task (a timer in a sleep, a waiter in a
 * semaphore acquire): the task cannot be freed before its futures are dropped. */
extern const weft_waker_vtable weft__task_waker_borrowed_vtable;

/* Copy `w` into `out` for storage inside a future of the task being polled: borrowed (no
 * refcount traffic) for task wakers, a real clone for anything else. */
static inline void weft__waker_keep(const weft_waker *w, weft_waker *out)
{
    if (w->vtable == &weft__task_waker_vtable) {
        out->data = w->data;
        out->vtable = &weft__task_waker_borrowed_vtable;
    } else {
        weft_waker_clone(w, out);
    }
}
/* Does stored waker `kept` (from weft__waker_keep) wake the same thing as `w`? */
static inline bool weft__waker_kept_same(const weft_waker *kept, const weft_waker *w)
{
    if (kept->vtable == &weft__task_waker_borrowed_vtable)
        return w->vtable == &weft__task_waker_vtable && kept->data == w->data;
    return weft_waker_will_wake(kept, w);
}

static inline struct weft__task *weft__task_from_join(const weft_join *j)
{
    return (struct weft__task *)(uintptr_t)j;
}

/* Allocate and initialise a task cell, SCHEDULED but on no queue: the caller decides where it
 * runs (weft_spawn queues it on the executor; spawn_blocking hands it to a pool thread, which
 * calls weft__run_task on it). Arguments and errors as weft_spawn_with. */
int weft__task_create(weft_rt *rt, const weft_future_type *type, const void *init,
                      const weft_spawn_opts *opts, weft_join **join, struct weft__task **out);

/* As weft__task_create, for a child of a scope: `scope_tag` (non-zero) is kept in the cell,
 * and weft__scope_child_end(tag, result, polled) runs once when the child ends, right after
 * its future's drop (polled: the poll returned `result`; otherwise it was cancelled). */
int weft__task_create_scoped(weft_rt *rt, const weft_future_type *type, const void *init,
                             weft_join **join, uintptr_t scope_tag, struct weft__task **out);
void weft__scope_child_end(uintptr_t scope_tag, int result, bool polled);
/* True when the child's scope is cancelled: checked before each poll of a scoped task, so a
 * child the cancel's walk missed (spawned at that very moment) stops all the same. */
bool weft__scope_child_cancelled(uintptr_t scope_tag);

/* Release one reference; frees the cell on the last one. */
void weft__task_ref_dec(struct weft__task *t);
/* Drop the future of an unfinished task and mark it COMPLETE with `result`, waking its join
 * side. Used by the poller for aborts and by shutdown. Does not release the alive ref when
 * `keep_alive_ref` (shutdown frees memory wholesale). */
void weft__task_cancel_now(struct weft__task *t, int result);

/* Queue a task that has just become SCHEDULED (sched.h's weft__sched_schedule, out of line
 * for code that only sees task.h). */
void weft__task_schedule(struct weft__task *t);

/* Wake by reference: move the task to its executor unless it is already scheduled/complete. */
static inline void weft__task_wake(struct weft__task *t)
{
    uint64_t s = ld_relaxed(&t->state);
    for (;;) {
        uint64_t ns;
        if (s & (TASK_COMPLETE | TASK_NOTIFIED))
            return;
        ns = (s & TASK_SCHEDULED) ? s | TASK_NOTIFIED : s | TASK_SCHEDULED;
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, ns, memory_order_acq_rel,
                                                  memory_order_relaxed))
            break;
    }
    if (!(s & TASK_SCHEDULED))
        weft__task_schedule(t);
}

#endif
