/* src/fiber - stackful fibers on top of tasks: the context switch, stacks, tool hooks.
 *
 * A fiber is a task (type fiber_type in fiber.c) whose state is a struct weft__fiber. Its
 * poll resumes the fiber's stack with weft__fiber_switch; the fiber runs until it awaits a
 * pending future, then switches back and the poll returns WEFT_PENDING. The poller side of a
 * switch always returns on the thread that made it; the fiber side may come back on another
 * thread, so code that runs on a fiber stack reads thread-locals only through out-of-line,
 * non-IPA accessors (WEFT_FIBER_TLS_FN) - never an address computed before a switch.
 */
#ifndef WEFT_FIBER_INTERNAL_H
#define WEFT_FIBER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "weft/fiber.h"

/* Out of line, invisible to inter-procedural analysis: the compiler cannot cache a
 * thread-local address across a call to it (GCC assumes the thread pointer is constant within
 * one function, including across calls). */
#if defined(__has_attribute) && __has_attribute(noipa)
#define WEFT_FIBER_TLS_FN __attribute__((noinline, noipa))
#else /* clang: no IPA across noinline functions that touch thread-locals */
#define WEFT_FIBER_TLS_FN __attribute__((noinline))
#endif

/* ------------------------------------------------------------------ switch (switch_*.S) */

/* Save the callee-saved registers and FP control state on the current stack, store the stack
 * pointer in *save_sp, load to_sp and restore what it saved: returns when someone switches
 * back to *save_sp. */
void weft__fiber_switch(void **save_sp, void *to_sp);

/* Lay out a first frame below `top` (any alignment) so that switching to the returned stack
 * pointer calls entry(arg) with an ABI-conforming stack; entry must never return. The FP
 * control state (MXCSR/x87 CW, FPCR) is copied from the calling thread. */
void *weft__fiber_make(void *top, void (*entry)(void *arg), void *arg);

/* ------------------------------------------------------------------ stacks (stack.c) */

#define WEFT_FIBER_STACK_DEFAULT (64u << 10)
#define WEFT_FIBER_STACK_MIN (16u << 10)
#define WEFT_FIBER_STACK_MAX (1ull << 30)

/* A stack: [lo - guard, lo) is the guard, [lo, hi) is usable; the fiber's frames start just
 * below `hi - WEFT_STACK_HEADER`, where the pool keeps its bookkeeping. */
struct weft__stack {
    unsigned char *lo;   /* lowest usable byte */
    unsigned char *hi;   /* one past the highest usable byte */
};

/* Round a requested size to its class; 0 on a size out of range. */
size_t weft__stack_class_size(size_t request);
/* Take a stack of class size `size` (from weft__stack_class_size) from the calling thread's
 * pool, or map a fresh one. Returns 0 or -ENOMEM. Poller side only. */
int weft__stack_acquire(size_t size, struct weft__stack *out);
/* Give a stack back to the calling thread's pool (or unmap it if the pool is full). Pages
 * below the stack's top ones that its user dirtied are returned to the kernel first. Poller
 * side only. `low_sp` is the lowest stack pointer seen at a switch (a depth hint). */
void weft__stack_release(struct weft__stack *s, const void *low_sp);
/* True when p lies on the stack of the fiber running on this thread. The IO layer asks before
 * a future there is dropped: that memory dies with its frame (src/io/io.c). */
bool weft__fiber_stack_holds(const void *p);
/* The top of the usable area for frames (below the pool's header). */
void *weft__stack_top(const struct weft__stack *s);
/* Guard size in bytes (one page). */
size_t weft__stack_guard_size(void);
/* How many pages below the top a stack keeps when it is cleaned (test hook). */
size_t weft__stack_keep_bytes(void);
/* Unmap every stack pooled by the calling thread (also runs at thread exit). */
void weft__stack_pool_trim(void);
/* Counters for tests: stacks mapped, unmapped and cleaned (MADV_DONTNEED) so far. */
void weft__stack_stats(uint64_t *mapped, uint64_t *unmapped, uint64_t *cleaned);

/* ------------------------------------------------------------------ overflow reporting */

/* Install the SIGSEGV handler once per process (fiber.c). */
void weft__fiber_signals_init(void);
/* Give the calling thread an alternate signal stack if it has none (stack.c keeps it and
 * frees it at thread exit). Returns 0 or -ENOMEM. */
int weft__fiber_thread_init(void);

#endif
