/* The one allocation seam. Today it forwards to libc and can be told to fail every Nth call
 * (the F13 test seam). Keeping every allocation here is what lets a user allocator hook and
 * allocation-failure tests cover all of libweft at once. */
#include "core/core.h"

#include <errno.h>

static _Atomic uint64_t alloc_calls;
static _Atomic uint64_t fail_every;

static int should_fail(void)
{
    uint64_t every = ld_relaxed(&fail_every);
    uint64_t n = atomic_fetch_add_explicit(&alloc_calls, 1, memory_order_relaxed) + 1;
    return every != 0 && n % every == 0;
}

void *weft__alloc(size_t size)
{
    if (WEFT_UNLIKELY(should_fail()))
        return NULL;
    return malloc(size ? size : 1);
}

void *weft__calloc(size_t n, size_t size)
{
    if (WEFT_UNLIKELY(should_fail()))
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *weft__realloc(void *p, size_t size)
{
    if (WEFT_UNLIKELY(should_fail()))
        return NULL;
    return realloc(p, size ? size : 1);
}

void weft__free(void *p)
{
    free(p);
}

void weft__alloc_fail_every(uint64_t every_n)
{
    st_relaxed(&alloc_calls, 0);
    st_relaxed(&fail_every, every_n);
}

uint64_t weft__alloc_count(void)
{
    return ld_relaxed(&alloc_calls);
}
