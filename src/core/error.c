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

int64_t weft_deadline_in(int64_t d)
{
    int64_t now = weft__now();
    if (d <= 0) /* already due; saturate instead of wrapping below INT64_MIN */
        return d < INT64_MIN + now ? INT64_MIN : now + d;
    return d > WEFT_NEVER - now ? WEFT_NEVER : now + d;
}
