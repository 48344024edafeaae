/* src/time - timers for futures: a wheel per worker behind a small lock.
 *
 * Each worker (and the current-thread core) owns a struct weft__timers: the hierarchical wheel
 * (wheel.h) plus a spinlock. A future arms its struct weft__timer on the wheel of the worker
 * that polls it; that worker fires it from its loop (every event_interval ticks and before it
 * parks, with the next deadline as its park timeout). The lock is per wheel, never global: it
 * is uncontended except when a stolen task re-polls or cancels a timer armed on its old
 * worker, or a foreign thread arms one.
 *
 * Firing moves the waker out under the lock, clears `owner` (release) and wakes after the
 * unlock; a poller that sees owner == NULL knows the timer has fired (or was never armed).
 */
#ifndef WEFT_TIME_TIMER_H
#define WEFT_TIME_TIMER_H

#include "core/core.h"
#include "time/wheel.h"
#include "weft/base.h"

struct weft__timers {
    _Atomic uint32_t lock;        /* spinlock: 0 free, 1 held */
    _Atomic int64_t next;         /* earliest deadline (ns) or INT64_MAX; read without the lock */
    _Atomic uint64_t fired;       /* timers fired, for metrics */
    struct weft__timer_wheel wheel; /* guarded by lock */
};

/* Embedded in a future's state (64 bytes). Zero-filled = idle. */
struct weft__timer {
    struct weft__timer_entry entry;       /* guarded by owner->lock while armed */
    _Atomic(struct weft__timers *) owner; /* wheel it is armed on; NULL when idle or fired */
    weft_waker waker;                     /* guarded by owner->lock while armed */
};

void weft__timers_init(struct weft__timers *ts, int64_t now);
/* Fire what is due at `now`; returns how many fired. Any thread. */
size_t weft__timers_advance(struct weft__timers *ts, int64_t now);
static inline int64_t weft__timers_next(struct weft__timers *ts)
{
    return atomic_load_explicit(&ts->next, memory_order_acquire);
}
/* Number of armed timers (metrics). */
size_t weft__timers_count(struct weft__timers *ts);

/* Arm (or re-arm) t at `deadline` on the wheel of the thread polling now, keeping `waker`
 * (borrowed when it is the polling task's own waker, see weft__waker_keep). A deadline that
 * has passed fires at the wheel's next advance. From a thread that does not work for rt it
 * uses worker 0's wheel and unparks that worker. */
void weft__timer_arm(weft_rt *rt, struct weft__timer *t, int64_t deadline, const weft_waker *waker);
/* Arm t on the given wheel `ts` (a worker's or the current-thread core's). `foreign`: the
 * caller is not the wheel's owner, so its owner is unparked when the deadline is its earliest.
 * src/metrics uses it to run a task dump on each worker's own thread. */
void weft__timer_arm_on(weft_rt *rt, struct weft__timers *ts, bool foreign, struct weft__timer *t,
                        int64_t deadline, const weft_waker *waker);
/* Still armed? If so, make sure the stored waker wakes `waker`'s task. */
bool weft__timer_pending(struct weft__timer *t, const weft_waker *waker);
/* Disarm (harmless when idle or fired) and drop the stored waker. Any thread. */
void weft__timer_cancel(struct weft__timer *t);

#endif
