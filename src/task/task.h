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
    const char *name;               /* spawn name or type->name; immutable */
    weft_waker join_waker;          /* guarded by JOIN_WAKER (see above) */
    int32_t result;                 /* 0 or -errno; written before COMPLETE is published */
    uint16_t out_off;               /* offset of the output from body */
    uint8_t prio;                   /* weft_priority */
    uint8_t big;                    /* 1: allocated through the seam, not the slab */
    alignas(16) unsigned char body[]; /* the future's state, then its output */
};

static inline void *weft__task_state(struct weft__task *t) { return t->body; }
static inline void *weft__task_out(struct weft__task *t) { return t->body + t->out_off; }

extern const weft_waker_vtable weft__task_waker_vtable;

static inline struct weft__task *weft__task_from_join(const weft_join *j)
{
    return (struct weft__task *)(uintptr_t)j;
}

/* Release one reference; frees the cell on the last one. */
void weft__task_ref_dec(struct weft__task *t);
/* Drop the future of an unfinished task and mark it COMPLETE with `result`, waking its join
 * side. Used by the poller for aborts and by shutdown. Does not release the alive ref when
 * `keep_alive_ref` (shutdown frees memory wholesale). */
void weft__task_cancel_now(struct weft__task *t, int result);

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
    if (!(s & TASK_SCHEDULED)) {
        extern void weft__sched_schedule(struct weft__task * t, int how);
        weft__sched_schedule(t, 0);
    }
}

#endif
