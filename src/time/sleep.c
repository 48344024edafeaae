/* Time futures: sleep, timeout, interval, on top of the per-worker timers (timer.h). */
#include <string.h>

#include "core/core.h"
#include "time/timer.h"
#include "weft/time.h"

/* The real layout of weft_sleep. */
struct sleep_impl {
    struct weft__timer timer; /* 64 bytes */
    int64_t deadline;
    int armed;                /* armed for the current deadline (then fired or pending) */
};
_Static_assert(sizeof(struct sleep_impl) <= sizeof(weft_sleep), "weft_sleep too small");
_Static_assert(alignof(struct sleep_impl) <= alignof(weft_sleep), "weft_sleep misaligned");

static inline struct sleep_impl *impl(weft_sleep *s) { return (struct sleep_impl *)s; }

void weft_sleep_until_init(weft_sleep *s, int64_t deadline)
{
    memset(s, 0, sizeof *s);
    impl(s)->deadline = deadline;
}

void weft_sleep_init(weft_sleep *s, int64_t duration)
{
    weft_sleep_until_init(s, weft_deadline_in(duration));
}

int64_t weft_sleep_deadline(const weft_sleep *s)
{
    return ((const struct sleep_impl *)s)->deadline;
}

/* No clock read here: the wheel never fires early, so "fired" means "due", and a deadline
 * that has already passed goes on the wheel's due list and fires at its next advance, which
 * is also what F7 asks of sleep(0): ready after a yield, never inline. */
weft_poll weft_sleep_poll(weft_sleep *s, weft_cx *cx)
{
    struct sleep_impl *si = impl(s);

    if (si->armed)
        return weft__timer_pending(&si->timer, &cx->waker) ? WEFT_PENDING : WEFT_READY;
    if (WEFT_UNLIKELY(!cx->rt)) /* polled by hand, outside a runtime: no wheel to arm */
        return si->deadline != WEFT_NEVER && si->deadline <= weft__now() ? WEFT_READY
                                                                         : WEFT_PENDING;
    weft__timer_arm(cx->rt, &si->timer, si->deadline, &cx->waker);
    si->armed = 1;
    return WEFT_PENDING;
}

void weft_sleep_reset(weft_sleep *s, int64_t deadline)
{
    struct sleep_impl *si = impl(s);
    weft__timer_cancel(&si->timer);
    si->armed = 0;
    si->deadline = deadline;
}

void weft_sleep_drop(weft_sleep *s)
{
    if (!s)
        return;
    struct sleep_impl *si = impl(s);
    weft__timer_cancel(&si->timer);
    si->armed = 0;
}

/* ------------------------------------------------------------------ timeout */

void weft_timeout_init(weft_timeout *t, const weft_future_type *type, void *state,
                       int64_t deadline)
{
    weft_sleep_until_init(&t->sleep, deadline);
    t->type = type;
    t->state = state;
    t->done = 0;
}

weft_poll weft_timeout_poll(weft_timeout *t, weft_cx *cx, void *out, int *result)
{
    int dummy;
    if (!result)
        result = &dummy;
    if (t->done || !t->type || !t->type->poll) {
        *result = -EINVAL; /* polled after READY, or no child */
        return WEFT_READY;
    }
    weft_poll r = t->type->poll(t->state, cx, out);
    if (r != WEFT_PENDING) {
        t->done = 1;
        weft_sleep_drop(&t->sleep);
        if (t->type->drop)
            t->type->drop(t->state);
        *result = r < 0 ? r : 0;
        return WEFT_READY;
    }
    if (weft_sleep_poll(&t->sleep, cx) == WEFT_PENDING)
        return WEFT_PENDING;
    t->done = 1;
    if (t->type->drop)
        t->type->drop(t->state);
    *result = -ETIMEDOUT;
    return WEFT_READY;
}

void weft_timeout_drop(weft_timeout *t)
{
    if (!t)
        return;
    weft_sleep_drop(&t->sleep);
    if (!t->done && t->type && t->type->drop)
        t->type->drop(t->state);
    t->done = 1;
}

/* ------------------------------------------------------------------ interval */

int weft_interval_init(weft_interval *iv, int64_t start, int64_t period, weft_missed_tick policy)
{
    if (!iv || period <= 0 || (unsigned)policy > WEFT_MISSED_SKIP)
        return -EINVAL;
    weft_sleep_until_init(&iv->sleep, start);
    iv->period = period;
    iv->policy = policy;
    return 0;
}

static int64_t add_sat(int64_t a, int64_t b)
{
    return a > WEFT_NEVER - b ? WEFT_NEVER : a + b;
}

weft_poll weft_interval_tick_poll(weft_interval *iv, weft_cx *cx, int64_t *tick_time)
{
    if (weft_sleep_poll(&iv->sleep, cx) == WEFT_PENDING)
        return WEFT_PENDING;
    int64_t due = weft_sleep_deadline(&iv->sleep), now = weft__now(), next;
    if (tick_time)
        *tick_time = due;
    switch (iv->policy) {
    case WEFT_MISSED_DELAY:
        next = add_sat(now > due ? now : due, iv->period);
        break;
    case WEFT_MISSED_SKIP:
        next = add_sat(due, iv->period);
        if (next <= now) /* jump to the first grid point after now */
            next = add_sat(due, ((now - due) / iv->period + 1) * iv->period);
        break;
    default: /* BURST: keep the grid; missed ticks come back to back */
        next = add_sat(due, iv->period);
        break;
    }
    weft_sleep_reset(&iv->sleep, next);
    return WEFT_READY;
}

void weft_interval_drop(weft_interval *iv)
{
    if (iv)
        weft_sleep_drop(&iv->sleep);
}
