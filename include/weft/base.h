/* weft/base.h - the vocabulary every weft header shares: poll results, wakers, the poll
 * context, time units, error strings and the export macro.
 *
 * The future contract (same as Rust's Future): a poll function either finishes and returns
 * WEFT_READY, or registers the context's waker with whatever it waits for and returns
 * WEFT_PENDING. Whoever holds the waker wakes it once the thing happened; the executor then
 * polls the task again. Nothing in weft calls application code from a reactor, a timer or a
 * channel: a wakeup is the only currency between the parts.
 */
#ifndef WEFT_BASE_H
#define WEFT_BASE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(WEFT_BUILDING)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0
#define WEFT_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------ poll results */

/* The result of a poll function. A task's top-level poll may also return a negative errno
 * (for example WEFT_FAIL(-EIO)): the task has finished with that error, which its join handle
 * reports. Child futures deliver errors through their out-parameters instead. */
typedef int weft_poll;
enum { WEFT_READY = 0, WEFT_PENDING = 1 };
#define WEFT_FAIL(neg_errno) ((weft_poll)(neg_errno))

/* ------------------------------------------------------------------ time */

/* Time is int64_t nanoseconds on CLOCK_MONOTONIC. Deadlines are absolute. */
#define WEFT_NS(n) ((int64_t)(n))
#define WEFT_US(n) ((int64_t)(n) * 1000)
#define WEFT_MS(n) ((int64_t)(n) * 1000000)
#define WEFT_SEC(n) ((int64_t)(n) * 1000000000)
/* "No deadline". */
#define WEFT_NEVER INT64_MAX

/* Now, in ns on CLOCK_MONOTONIC (vDSO, no system call). Threads: any. */
WEFT_API int64_t weft_now(void);
/* now + d, saturating at WEFT_NEVER (never wraps into the past). Threads: any. */
WEFT_API int64_t weft_deadline_in(int64_t d);

/* ------------------------------------------------------------------ wakers */

/* A waker is a (data, vtable) pair: the ABI through which anything - a task, a fiber, a
 * thread blocked on a futex, foreign code - can be told "poll me again".
 *   clone:        return a new reference (usually data itself after a retain)
 *   wake:         wake and consume the reference
 *   wake_by_ref:  wake, keep the reference
 *   drop:         release the reference without waking
 * All four must be callable from any thread. */
typedef struct weft_waker_vtable {
    void *(*clone)(void *data);
    void (*wake)(void *data);
    void (*wake_by_ref)(void *data);
    void (*drop)(void *data);
} weft_waker_vtable;

typedef struct weft_waker {
    void *data;
    const weft_waker_vtable *vtable; /* NULL: an empty waker; every operation is a no-op */
} weft_waker;

/* Copy *src into *dst as a new reference. Threads: any. */
static inline void weft_waker_clone(const weft_waker *src, weft_waker *dst)
{
    dst->vtable = src->vtable;
    dst->data = src->vtable ? src->vtable->clone(src->data) : NULL;
}
/* Wake and release *w; *w becomes empty. Threads: any. */
static inline void weft_waker_wake(weft_waker *w)
{
    if (w->vtable) {
        const weft_waker_vtable *vt = w->vtable;
        w->vtable = NULL;
        vt->wake(w->data);
    }
}
/* Wake, keeping the reference. Threads: any. */
static inline void weft_waker_wake_by_ref(const weft_waker *w)
{
    if (w->vtable)
        w->vtable->wake_by_ref(w->data);
}
/* Release *w without waking; *w becomes empty. Safe on an empty waker. Threads: any. */
static inline void weft_waker_drop(weft_waker *w)
{
    if (w->vtable) {
        const weft_waker_vtable *vt = w->vtable;
        w->vtable = NULL;
        vt->drop(w->data);
    }
}
/* True when both wake the same thing (so a stored waker need not be replaced). */
static inline bool weft_waker_will_wake(const weft_waker *a, const weft_waker *b)
{
    return a->vtable == b->vtable && a->data == b->data;
}
/* Replace the waker stored in *slot with a clone of cx's waker, unless it already wakes the
 * same task. The common "remember who to wake" step of every leaf future. */
static inline void weft_waker_set(weft_waker *slot, const weft_waker *w)
{
    if (slot->vtable && weft_waker_will_wake(slot, w))
        return;
    weft_waker_drop(slot);
    weft_waker_clone(w, slot);
}

/* ------------------------------------------------------------------ poll context */

typedef struct weft_rt weft_rt;

/* The context a poll function receives: the waker of the task being polled, the runtime,
 * and the cooperative budget. Valid only during the poll; clone the waker to keep it. */
typedef struct weft_cx {
    weft_waker waker;   /* borrowed: wakes the task being polled */
    weft_rt *rt;        /* the runtime running the task (NULL when polled by hand) */
    void *sched;        /* internal: the executor's per-thread state */
    int32_t budget;     /* coop budget left in this poll; leaf futures spend one unit each */
    uint32_t flags;     /* internal: executor hints set by futures (yield) */
} weft_cx;

#define WEFT_CX_YIELDED 1u /* internal: the task asked to go to the back of the run queue */

static inline const weft_waker *weft_cx_waker(weft_cx *cx) { return &cx->waker; }
static inline weft_rt *weft_cx_rt(weft_cx *cx) { return cx->rt; }

/* Cooperative scheduling: leaf futures (channel recv, socket read, ...) call this before doing
 * ready work. When the task's budget (128 units per poll) is spent it wakes the task and returns
 * false; the leaf then returns WEFT_PENDING so other tasks get a turn. */
static inline bool weft_cx_budget_take(weft_cx *cx)
{
    if (cx->budget > 0) {
        cx->budget--;
        return true;
    }
    cx->budget = -1; /* tells the executor this poll was cut short (a forced yield) */
    weft_waker_wake_by_ref(&cx->waker);
    return false;
}

/* ------------------------------------------------------------------ errors */

/* A message for a negative errno (or 0). Never NULL; thread-safe; static storage. */
WEFT_API const char *weft_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
