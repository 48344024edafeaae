/* Task-cell slab: see slab.h. */
#include "task/slab.h"

#include <string.h>
#include <sys/mman.h>

#define ARENA_SIZE (2u << 20)
#define SPAN_SIZE (64u << 10)
#define SPAN_HDR 128u /* block area starts here in every span */

struct span_hdr {
    struct weft__slab *slab;
    uint32_t size;  /* block size of this span's class */
    uint32_t used;  /* blocks carved so far (bump) */
    struct weft__arena *next_arena; /* span 0 of an arena only: the slab's arena list */
};

/* An arena is its first span: the arena list runs through span 0's header. */
struct weft__arena {
    struct span_hdr first;
};

static inline struct span_hdr *span_of(const void *p)
{
    return (struct span_hdr *)((uintptr_t)p & ~(uintptr_t)(SPAN_SIZE - 1));
}

/* 16-byte steps to 256 (a parked task with a timer fits 192), 32 to 512, then 256. */
static inline unsigned class_of(size_t size)
{
    if (size <= 256)
        return (unsigned)((size + 15) / 16) - 1;       /* 0..15 */
    if (size <= 512)
        return 16 + (unsigned)((size - 257) / 32);     /* 16..23 */
    return 24 + (unsigned)((size - 513) / 256);        /* 24..37 */
}

static inline uint32_t class_size(unsigned c)
{
    if (c < 16)
        return (c + 1) * 16;
    if (c < 24)
        return 256 + (c - 15) * 32;
    return 512 + (c - 23) * 256;
}

void weft__slab_init(struct weft__slab *s)
{
    memset(s, 0, sizeof *s);
}

static int new_arena(struct weft__slab *s)
{
    uintptr_t base;
    if (weft__alloc_hooked()) {
        /* The user's allocator owns all our memory: take the arena from it, aligned by hand. */
        void *p = weft__alloc_aligned(ARENA_SIZE, ARENA_SIZE);
        if (!p)
            return -1;
        base = (uintptr_t)p;
        memset(p, 0, SPAN_HDR); /* span 0's header; later spans are written when carved */
        goto carve_first;
    }
    /* Seam first: an injected allocation failure must reach the slab too (F13). */
    void *probe = weft__alloc(1);
    if (!probe)
        return -1;
    weft__free(probe);

    size_t len = 2 * (size_t)ARENA_SIZE;
    unsigned char *raw = mmap(NULL, len, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED)
        return -1;
    base = ((uintptr_t)raw + ARENA_SIZE - 1) & ~(uintptr_t)(ARENA_SIZE - 1);
    size_t head = base - (uintptr_t)raw, tail = len - head - ARENA_SIZE;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap((unsigned char *)base + ARENA_SIZE, tail);
#ifdef MADV_HUGEPAGE
    madvise((void *)base, ARENA_SIZE, MADV_HUGEPAGE); /* quietly ignored where THP is off */
#endif
carve_first:;
    struct weft__arena *a = (struct weft__arena *)base;
    a->first.next_arena = s->arenas;
    s->arenas = a;
    s->next_span = (unsigned char *)base;
    s->spans_end = (unsigned char *)base + ARENA_SIZE;
    return 0;
}

static void *carve(struct weft__slab *s, unsigned c)
{
    uint32_t size = class_size(c);
    unsigned char *span = s->bump_span[c];

    if (span) {
        struct span_hdr *h = (struct span_hdr *)span;
        if (SPAN_HDR + (size_t)(h->used + 1) * size <= SPAN_SIZE)
            return span + SPAN_HDR + (size_t)h->used++ * size;
    }
    if (s->next_span == s->spans_end && new_arena(s) < 0)
        return NULL;
    span = s->next_span;
    s->next_span += SPAN_SIZE;
    struct span_hdr *h = (struct span_hdr *)span;
    h->slab = s; /* next_arena (span 0) is left as new_arena set it */
    h->size = size;
    h->used = 1;
    s->bump_span[c] = span;
    return span + SPAN_HDR;
}

/* Take every block other threads freed and file it under its class. */
static bool drain_remote(struct weft__slab *s)
{
    struct weft__task *t = atomic_exchange_explicit(&s->remote, NULL, memory_order_acquire);
    if (!t)
        return false;
    while (t) {
        struct weft__task *next = t->next;
        unsigned c = class_of(span_of(t)->size);
        t->next = s->free[c];
        s->free[c] = t;
        t = next;
    }
    return true;
}

void *weft__slab_alloc(struct weft__slab *s, size_t size)
{
    unsigned c = class_of(size);
    struct weft__task *t = s->free[c];

    if (WEFT_UNLIKELY(!t) && drain_remote(s))
        t = s->free[c];
    if (t) {
        s->free[c] = t->next;
        return t;
    }
    return carve(s, c);
}

void weft__slab_free(struct weft__task *t, struct weft__slab *local)
{
    struct weft__slab *s = span_of(t)->slab;

    st_relaxed(&t->state, 0); /* "free" for the shutdown walk */
    if (s == local) {
        unsigned c = class_of(span_of(t)->size);
        t->next = s->free[c];
        s->free[c] = t;
        return;
    }
    struct weft__task *head = ld_relaxed(&s->remote);
    do
        t->next = head;
    while (!atomic_compare_exchange_weak_explicit(&s->remote, &head, t, memory_order_release,
                                                  memory_order_relaxed));
}

void weft__slab_walk(struct weft__slab *s, void (*fn)(struct weft__task *t, void *arg), void *arg)
{
    for (struct weft__arena *a = s->arenas; a; a = a->first.next_arena) {
        unsigned char *base = (unsigned char *)a;
        for (unsigned char *span = base; span < base + ARENA_SIZE; span += SPAN_SIZE) {
            struct span_hdr *h = (struct span_hdr *)span;
            if (a == s->arenas && span >= s->next_span)
                break; /* not carved yet: untouched memory */
            for (uint32_t i = 0; i < h->used; i++) {
                struct weft__task *t = (struct weft__task *)(span + SPAN_HDR + (size_t)i * h->size);
                if (ld_acquire(&t->state) != 0)
                    fn(t, arg);
            }
        }
    }
}

void weft__slab_fini(struct weft__slab *s)
{
    struct weft__arena *a = s->arenas;
    while (a) {
        struct weft__arena *next = a->first.next_arena;
        if (weft__alloc_hooked())
            weft__free_aligned(a);
        else
            munmap(a, ARENA_SIZE);
        a = next;
    }
    memset(s, 0, sizeof *s);
}
