/* The one allocation seam (DESIGN decision 12). Every allocation libweft makes comes here:
 * the user's allocator hook (weft_set_allocator) and the allocation-failure test seam (fail
 * every Nth call, F13) are the same place. Slabs take their 2 MiB arenas from here too when a
 * hook is set (over-allocated and aligned by hand); without one they use mmap. */
#include "core/core.h"

#include <errno.h>
#include <stdalign.h>
#include <string.h>

#include "weft/alloc.h"

static _Atomic uint64_t alloc_calls;
static _Atomic uint64_t fail_every;
static weft_allocator hook;          /* valid when hooked; changed only with no runtime alive */
static _Atomic int hooked;
static _Atomic int live_runtimes;

static int should_fail(void)
{
    uint64_t every = ld_relaxed(&fail_every);
    uint64_t n = atomic_fetch_add_explicit(&alloc_calls, 1, memory_order_relaxed) + 1;
    return every != 0 && n % every == 0;
}

int weft_set_allocator(const weft_allocator *a)
{
    if (a && (!a->malloc || !a->realloc || !a->free))
        return -EINVAL;
    if (atomic_load(&live_runtimes) != 0)
        return -EBUSY;
    if (a) {
        hook = *a;
        atomic_store(&hooked, 1);
    } else {
        atomic_store(&hooked, 0);
    }
    return 0;
}

bool weft__alloc_hooked(void)
{
    return ld_relaxed(&hooked) != 0;
}

void weft__runtime_count(int delta)
{
    atomic_fetch_add(&live_runtimes, delta);
}

void *weft__alloc(size_t size)
{
    if (WEFT_UNLIKELY(should_fail()))
        return NULL;
    if (size == 0)
        size = 1;
    return WEFT_UNLIKELY(ld_relaxed(&hooked)) ? hook.malloc(hook.ctx, size) : malloc(size);
}

void *weft__calloc(size_t n, size_t size)
{
    if (WEFT_UNLIKELY(should_fail()))
        return NULL;
    if (n == 0 || size == 0)
        n = size = 1;
    if (size > SIZE_MAX / n)
        return NULL;
    if (WEFT_LIKELY(!ld_relaxed(&hooked)))
        return calloc(n, size);
    void *p = hook.malloc(hook.ctx, n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *weft__realloc(void *p, size_t size)
{
    if (WEFT_UNLIKELY(should_fail()))
        return NULL;
    if (size == 0)
        size = 1;
    return WEFT_UNLIKELY(ld_relaxed(&hooked)) ? hook.realloc(hook.ctx, p, size)
                                              : realloc(p, size);
}

void weft__free(void *p)
{
    if (!p)
        return;
    if (WEFT_UNLIKELY(ld_relaxed(&hooked)))
        hook.free(hook.ctx, p);
    else
        free(p);
}

/* Aligned blocks: over-allocate through the seam and keep the raw pointer just below. */
void *weft__alloc_aligned(size_t align, size_t size)
{
    size_t extra = align + sizeof(void *);
    if (size > SIZE_MAX - extra)
        return NULL;
    unsigned char *raw = weft__alloc(size + extra);
    if (!raw)
        return NULL;
    uintptr_t p = ((uintptr_t)raw + sizeof(void *) + align - 1) & ~(uintptr_t)(align - 1);
    ((void **)p)[-1] = raw;
    return (void *)p;
}

void weft__free_aligned(void *p)
{
    if (p)
        weft__free(((void **)p)[-1]);
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
