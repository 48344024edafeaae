/* The task-cell allocator: one slab per worker thread (and one shared, locked, for threads
 * that are not workers), size classes from 16 to 4096 bytes (16-byte steps to 256, 32 to 512, then 256).
 *
 * Memory comes from 2 MiB-aligned arenas (MADV_HUGEPAGE: first touch costs ~250 ns per 4 KiB
 * instead of ~11 us on our VMs, research/vm-limits.md) cut into 64 KiB spans; each span serves
 * one size class and starts with a header naming its slab and block size, so a block finds
 * its owner by masking its address - no per-block field. Memory is kept for the runtime's
 * life and reused; it goes back to the kernel when the runtime is freed.
 *
 * The owner allocates and frees without atomics. Another thread's free pushes the block onto
 * the owner's remote stack (one CAS); the owner takes the whole stack with one exchange when
 * its free lists run dry. A free block's state word is 0, which lets shutdown walk the spans
 * and find every live task without a task list on the spawn path.
 */
#ifndef WEFT_TASK_SLAB_H
#define WEFT_TASK_SLAB_H

#include "task/task.h"

#define WEFT_SLAB_CLASSES 38

struct weft__arena;

struct weft__slab {
    struct weft__task *free[WEFT_SLAB_CLASSES]; /* owner only */
    unsigned char *bump_span[WEFT_SLAB_CLASSES]; /* span being carved per class; owner only */
    struct weft__arena *arenas;                  /* owner only (walked at shutdown) */
    unsigned char *next_span;                    /* next unused span of the newest arena */
    unsigned char *spans_end;
    alignas(WEFT_CACHELINE) _Atomic(struct weft__task *) remote; /* frees from other threads */
};

void weft__slab_init(struct weft__slab *s);
/* Unmap everything. Every thread that could free into it must be gone. */
void weft__slab_fini(struct weft__slab *s);
/* Owner only. size includes the header. NULL when the seam or mmap says no. */
void *weft__slab_alloc(struct weft__slab *s, size_t size);
/* Any thread: `local` is the slab the calling thread owns (or NULL). */
void weft__slab_free(struct weft__task *t, struct weft__slab *local);
/* Call fn on every allocated block (state != 0). Owner or quiescent only. */
void weft__slab_walk(struct weft__slab *s, void (*fn)(struct weft__task *t, void *arg),
                     void *arg);

#endif
