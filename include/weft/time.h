/* weft/time.h - sleeping, deadlines and intervals.
 *
 * Timers live on a hierarchical wheel per worker (1 ms resolution: a timer never fires early
 * and at most ~1 ms late on an idle runtime). Arming one allocates nothing: the timer is
 * inside the future, which is inside your task's state.
 */
#ifndef WEFT_TIME_H
#define WEFT_TIME_H

#include "base.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ sleep */

/* A caller-stored future that becomes ready at a deadline. Opaque-by-size. */
typedef struct weft_sleep {
    uint64_t _opaque[10];
} weft_sleep;

/* Sleep until `deadline` (absolute ns, CLOCK_MONOTONIC; WEFT_NEVER sleeps forever; a deadline
 * in the past is ready at the first poll). Cannot fail. */
WEFT_API void weft_sleep_until_init(weft_sleep *s, int64_t deadline);
/* Sleep for `duration` ns from now (0 or negative: ready at the first poll). Cannot fail. */
WEFT_API void weft_sleep_init(weft_sleep *s, int64_t duration);
/* Poll: WEFT_READY once the deadline has passed. The first pending poll arms the timer on the
 * polling worker's wheel. Threads: the task that owns the future. */
WEFT_API weft_poll weft_sleep_poll(weft_sleep *s, weft_cx *cx);
/* Move the deadline (re-arms at the next poll). */
WEFT_API void weft_sleep_reset(weft_sleep *s, int64_t deadline);
WEFT_API int64_t weft_sleep_deadline(const weft_sleep *s);
/* Disarm. Required before a pending sleep's memory goes away (call it from your future's
 * drop); harmless on a fired, idle or already dropped sleep. Threads: any.
 * Cancellation: dropping a pending sleep is always safe. */
WEFT_API void weft_sleep_drop(weft_sleep *s);

/* ------------------------------------------------------------------ timeout */

/* Run a child future under a deadline. The child (type + state) lives in the caller's state;
 * the timeout only points at it. */
typedef struct weft_timeout {
    weft_sleep sleep;
    const weft_future_type *type;
    void *state;
    int done;
} weft_timeout;

/* Cannot fail. The child's state must be initialised and must not move while in use. */
WEFT_API void weft_timeout_init(weft_timeout *t, const weft_future_type *type, void *state,
                                int64_t deadline);
/* Poll the child; if it is ready, READY with *result 0 (or the child's negative poll result)
 * and its output in `out`. If the deadline passes first, the child is dropped (type->drop runs
 * once) and READY with *result = -ETIMEDOUT. Threads: the owning task. */
WEFT_API weft_poll weft_timeout_poll(weft_timeout *t, weft_cx *cx, void *out, int *result);
/* Drop an unfinished timeout: the child is dropped too. Harmless when finished. */
WEFT_API void weft_timeout_drop(weft_timeout *t);

/* ------------------------------------------------------------------ interval */

/* What an interval does when ticks were missed (the task was late). */
typedef enum weft_missed_tick {
    WEFT_MISSED_BURST = 0, /* fire the missed ticks back to back until caught up */
    WEFT_MISSED_DELAY = 1, /* the next tick is a full period after the late one */
    WEFT_MISSED_SKIP = 2,  /* skip missed ticks; stay on the original grid */
} weft_missed_tick;

typedef struct weft_interval {
    weft_sleep sleep;
    int64_t period;
    int policy;
} weft_interval;

/* First tick at `start` (absolute; <= now ticks at once), then every `period` ns (> 0).
 * Returns 0 or -EINVAL (period <= 0, bad policy, NULL). */
WEFT_API int weft_interval_init(weft_interval *iv, int64_t start, int64_t period,
                                weft_missed_tick policy);
/* READY at each tick with *tick_time = the scheduled time of that tick. */
WEFT_API weft_poll weft_interval_tick_poll(weft_interval *iv, weft_cx *cx, int64_t *tick_time);
WEFT_API void weft_interval_drop(weft_interval *iv);

#ifdef __cplusplus
}
#endif
#endif
