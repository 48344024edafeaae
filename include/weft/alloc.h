/* weft/alloc.h - put libweft's memory under your control.
 *
 * Every allocation libweft makes goes through one seam: task slabs, timers' wheels, reactors,
 * channels, sockets. Install your allocator before the first runtime exists (or after the
 * last one is freed); weft then calls nothing else for memory, with two exceptions that need
 * the kernel itself: fiber stacks (mmap, for their guard page) and io_uring's rings (mapped by
 * the kernel).
 */
#ifndef WEFT_ALLOC_H
#define WEFT_ALLOC_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_allocator {
    void *(*malloc)(void *ctx, size_t size);            /* NULL on failure */
    void *(*realloc)(void *ctx, void *ptr, size_t size); /* NULL on failure, ptr untouched */
    void (*free)(void *ctx, void *ptr);                 /* ptr may be NULL */
    void *ctx;
} weft_allocator;

/**
 * weft_set_allocator - route every allocation libweft makes through `a` (copied), or back to
 * the C library when `a` is NULL. When an allocator returns NULL the weft call that needed the
 * memory returns -ENOMEM; nothing crashes or leaks.
 * Returns 0; -EINVAL if a function pointer is missing; -EBUSY while any runtime exists.
 * Threads: any, but not concurrently with creating a runtime.
 */
WEFT_API int weft_set_allocator(const weft_allocator *a);

#ifdef __cplusplus
}
#endif
#endif
