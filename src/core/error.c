/* Error strings, the panic path and the clock. */
#include "core/core.h"

#include <string.h>
#include <time.h>

#include "weft/base.h"

const char *weft_strerror(int err)
{
    static WEFT_TLS char buf[64];

    if (err == 0)
        return "success";
    if (err > 0)
        err = -err;
    switch (err) {
    case -ECANCELED:
        return "operation cancelled";
    case -ESHUTDOWN:
        return "runtime is shutting down";
    case -ETIMEDOUT:
        return "timed out";
    case -EPIPE:
        return "channel or pipe closed";
    default:
        break;
    }
    /* strerror_r (GNU) may return a static string or fill buf. */
    const char *s = strerror_r(-err, buf, sizeof buf);
    return s ? s : "unknown error";
}

void weft__panic(const char *file, int line, const char *what)
{
    fprintf(stderr, "weft: internal assertion failed at %s:%d: %s\n", file, line, what);
    fflush(stderr);
    abort();
}

int64_t weft__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t weft_now(void)
{
    return weft__now();
}

/* Long durations take their start from CLOCK_MONOTONIC_COARSE (the kernel's last tick: ~7 ns
 * against ~27 ns for the precise clock on our VMs) plus its resolution, which can only move
 * the deadline later: the coarse clock trails the precise one by less than one resolution.
 * So a deadline a second or more away is never early and at most one kernel tick (1-4 ms)
 * later than now + d - the slack Linux's own timer wheel gives long timers, bought for the
 * timeouts that servers arm and cancel on every request. Shorter durations stay exact. */
#define COARSE_FROM WEFT_SEC(1)
#define COARSE_MAX_RES WEFT_MS(10)

static int64_t coarse_res(void)
{
    static _Atomic int64_t res; /* 0: not asked yet; -1: no usable coarse clock */
    int64_t r = atomic_load_explicit(&res, memory_order_relaxed);
    if (WEFT_LIKELY(r != 0))
        return r;
    struct timespec ts;
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &ts) == 0 && ts.tv_sec == 0 &&
        ts.tv_nsec <= COARSE_MAX_RES)
        r = ts.tv_nsec > 0 ? ts.tv_nsec : 1;
    else
        r = -1;
    atomic_store_explicit(&res, r, memory_order_relaxed);
    return r;
}

static int64_t now_for(int64_t d)
{
    int64_t res;
    if (d < COARSE_FROM || (res = coarse_res()) < 0)
        return weft__now();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + res;
}

int64_t weft_deadline_in(int64_t d)
{
    int64_t now = now_for(d);
    if (d <= 0) /* already due; saturate instead of wrapping below INT64_MIN */
        return d < INT64_MIN + now ? INT64_MIN : now + d;
    return d > WEFT_NEVER - now ? WEFT_NEVER : now + d;
}
