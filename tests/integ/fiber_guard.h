/* The canary fiber of io_fiber_drop and fs_fiber_drop: it fills a large frame with a pattern,
 * yields while the reactors and pool threads run, then checks that nothing wrote into that
 * frame. Spawned right before a fiber that dropped an IO future returns, it gets the stack
 * memory nearest to hand; a write from an operation the drop did not wait for lands in it.
 */
#ifndef WEFT_TEST_FIBER_GUARD_H
#define WEFT_TEST_FIBER_GUARD_H

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

#include "weft/fiber.h"

#define GUARD_PAD 16384
#define GUARD_MARK 0xA5

struct guard_opts {
    int yields;   /* weft_fiber_yield calls while waiting */
    int sleep_us; /* after each yield: time for a stray write to land */
};

/* arg: a struct guard_opts. Returns 0, -EFAULT (the frame was written) or -ECANCELED. */
static int guard_fiber(void *arg)
{
    const struct guard_opts *o = arg;
    volatile unsigned char pad[GUARD_PAD];
    for (size_t i = 0; i < GUARD_PAD; i++)
        pad[i] = GUARD_MARK;
    for (int i = 0; i < o->yields; i++) {
        if (weft_fiber_yield() < 0)
            return -ECANCELED;
        if (o->sleep_us)
            usleep((useconds_t)o->sleep_us);
    }
    for (size_t i = 0; i < GUARD_PAD; i++)
        if (pad[i] != GUARD_MARK)
            return -EFAULT;
    return 0;
}

#endif
