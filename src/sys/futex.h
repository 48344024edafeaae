/* Futex wait/wake on a 32-bit word: how weft parks and wakes threads without an fd. */
#ifndef WEFT_SYS_FUTEX_H
#define WEFT_SYS_FUTEX_H

#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleep while *addr == expected, at most until the absolute CLOCK_MONOTONIC deadline
 * (INT64_MAX: no timeout). Spurious returns are possible: callers re-check. */
static inline void weft__futex_wait(const void *addr, uint32_t expected, int64_t deadline)
{
    if (deadline == INT64_MAX) {
        syscall(SYS_futex, addr, FUTEX_WAIT_BITSET_PRIVATE, expected, NULL, NULL,
                FUTEX_BITSET_MATCH_ANY);
    } else {
        struct timespec ts = {.tv_sec = deadline / 1000000000, .tv_nsec = deadline % 1000000000};
        syscall(SYS_futex, addr, FUTEX_WAIT_BITSET_PRIVATE, expected, &ts, NULL,
                FUTEX_BITSET_MATCH_ANY);
    }
}

static inline void weft__futex_wake(const void *addr, int n)
{
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

#endif
