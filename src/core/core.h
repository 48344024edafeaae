/* src/core - no OS calls: atomics shorthands, assertions, the allocation seam.
 *
 * Every allocation libweft makes goes through weft__alloc/weft__free (DESIGN decision 12):
 * the allocation-failure test hook (F13) and, later, the user's allocator hook live here.
 */
#ifndef WEFT_CORE_H
#define WEFT_CORE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define WEFT_LIKELY(x) __builtin_expect(!!(x), 1)
#define WEFT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define WEFT_CACHELINE 64
#define WEFT_TLS __thread __attribute__((tls_model("initial-exec")))

/* Internal invariant check: always on (a broken invariant is worth a crash report). */
#define WEFT_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (WEFT_UNLIKELY(!(c)))                                                                   \
            weft__panic(__FILE__, __LINE__, #c);                                                   \
    } while (0)

__attribute__((noreturn, cold)) void weft__panic(const char *file, int line, const char *what);

/* Relaxed/acquire/release shorthands, so protocol code reads as the protocol. */
#define ld_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define ld_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define st_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define st_release(p, v) atomic_store_explicit((p), (v), memory_order_release)

static inline void weft__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ------------------------------------------------------------------ allocation seam */

void *weft__alloc(size_t size);
void *weft__calloc(size_t n, size_t size);
void *weft__realloc(void *p, size_t size);
void weft__free(void *p);
/* Aligned blocks through the seam (align: a power of two); free with weft__free_aligned. */
void *weft__alloc_aligned(size_t align, size_t size);
void weft__free_aligned(void *p);
/* Has the user installed an allocator (weft_set_allocator)? */
bool weft__alloc_hooked(void);
/* Live runtime count (weft_set_allocator refuses while it is not 0). */
void weft__runtime_count(int delta);

/* Test seam (F13): when every_n > 0, every every_n-th allocation through the seam fails.
 * 0 turns it off. Returns the number of allocations made so far. */
void weft__alloc_fail_every(uint64_t every_n);
uint64_t weft__alloc_count(void);

/* Monotonic clock in ns (vDSO). */
int64_t weft__now(void);

#endif
