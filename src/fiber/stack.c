/* Fiber stacks: mmap'd, guarded, pooled per thread by size class.
 *
 * A stack is one anonymous mapping: a guard page, then the usable area. The guard is a
 * MADV_GUARD_INSTALL region where the kernel has it (Linux 6.13+: no VMA split, so 100,000
 * stacks stay a handful of VMAs; vm.max_map_count is 65,530 by default), else a PROT_NONE page
 * (two VMAs per stack: fine for tens of thousands). Every mapping is MADV_NOHUGEPAGE, so a
 * stack touched only at its top costs 4 KiB pages, not a 2 MiB huge page.
 *
 * The top 64 bytes of each stack are its header (pool link, class, uses since the last probe,
 * Valgrind id); frames start below it. Sizes are powers of two from 16 KiB; classes up to
 * POOL_CLASS_MAX are pooled, larger stacks are unmapped on release.
 *
 * Pools are per thread (the poller side of a fiber - never the fiber side, which may migrate),
 * so acquire and release take no lock. A stack goes back to the pool of the thread that
 * releases it; a pool holds at most POOL_BYTES of stack per thread, the rest is unmapped.
 * Thread exit unmaps the pool (a pthread key destructor).
 *
 * Returning pages to the kernel. A pooled stack keeps its top KEEP_BYTES resident (they are
 * about to be touched again by the next fiber); below that, pages its user dirtied are
 * dropped with MADV_DONTNEED before it is pooled, so a parked fiber on a reused stack costs
 * what a fresh one does. A madvise costs ~165 ns when nothing is mapped there, but once it
 * has pages to zap it sends a TLB-shootdown IPI to every CPU running the process (several us,
 * and the other workers are interrupted), and the next user re-faults (~1.5 us a page). So the
 * call is made only when the stack is dirty below KEEP_BYTES:
 *   - the lowest stack pointer seen at a switch went there (a fiber suspended deep: the usual
 *     case, e.g. awaiting a read into a big local buffer), or
 *   - every PROBE_EVERY-th release of the stack, the page just below KEEP_BYTES holds a
 *     non-zero word (transient deep calls that never suspended leave their return addresses
 *     there; dirt stays until cleaned, so a later probe still sees it).
 * What this misses: a transient frame that jumped over the probe page without writing to it
 * and wrote only deeper. Those pages stay resident (at most the stack's size) until a later
 * release sees the stack dirty. The probe reads the zero page for untouched memory, which maps
 * it once per stack and costs no RSS.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/core.h"
#include "fiber/fiber.h"

#ifndef WEFT_FIBER_VALGRIND
#define WEFT_FIBER_VALGRIND 1 /* on whenever the header exists; cmake/Fiber.cmake can turn it off */
#endif
#if WEFT_FIBER_VALGRIND && defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define HAVE_VALGRIND 1
#endif
#endif
#ifndef HAVE_VALGRIND
#define HAVE_VALGRIND 0
#endif

#if defined(WEFT_SANITIZE_ADDRESS)
#include <sanitizer/asan_interface.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define STACK_HEADER 64
#define KEEP_BYTES (8u << 10)
#define PROBE_EVERY 16
#define NCLASSES 17 /* 16 KiB << 0 .. 16 KiB << 16 = 1 GiB */
#define POOL_CLASS_MAX (8u << 20)
#define POOL_BYTES (32u << 20)
#define ALTSTACK_SIZE (64u << 10)

struct stack_hdr {
    struct stack_hdr *next; /* pool link while pooled */
    size_t size;            /* usable bytes (the class size) */
    uint32_t uses;          /* releases since the last probe */
    uint32_t vg_id;         /* Valgrind stack id (0 without Valgrind) */
};
_Static_assert(sizeof(struct stack_hdr) <= STACK_HEADER, "header fits its slot");

/* Per-thread state: the pool and the alternate signal stack. Reached only from the poller
 * side (and the thread-exit destructor). */
struct fiber_thread {
    struct stack_hdr *pool[NCLASSES]; /* LIFO per class: the warmest first */
    uint32_t count[NCLASSES];
    size_t pooled_bytes;              /* virtual bytes held in pool[] */
    void *altstack;                   /* ours to free, or NULL (none, or someone else's) */
    bool ready;                       /* weft__fiber_thread_init has run on this thread */
};

static WEFT_TLS struct fiber_thread *tl_thread;
static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;
static _Atomic size_t page_size; /* cached sysconf(_SC_PAGESIZE) */
static _Atomic int guard_mode; /* 0 unknown, 1 MADV_GUARD_INSTALL, 2 mprotect */
static _Atomic uint64_t n_mapped, n_unmapped, n_cleaned;

static size_t pagesz(void)
{
    size_t p = ld_relaxed(&page_size);
    if (WEFT_UNLIKELY(p == 0)) {
        p = (size_t)sysconf(_SC_PAGESIZE);
        st_relaxed(&page_size, p);
    }
    return p;
}

size_t weft__stack_guard_size(void) { return pagesz(); }
size_t weft__stack_keep_bytes(void) { return KEEP_BYTES; }

void weft__stack_stats(uint64_t *mapped, uint64_t *unmapped, uint64_t *cleaned)
{
    *mapped = ld_relaxed(&n_mapped);
    *unmapped = ld_relaxed(&n_unmapped);
    *cleaned = ld_relaxed(&n_cleaned);
}

size_t weft__stack_class_size(size_t request)
{
    if (request == 0)
        return WEFT_FIBER_STACK_DEFAULT;
    if (request > WEFT_FIBER_STACK_MAX)
        return 0;
    size_t s = WEFT_FIBER_STACK_MIN;
    while (s < request)
        s <<= 1;
    return s;
}

static unsigned class_of(size_t size)
{
    unsigned c = 0;
    while ((size_t)WEFT_FIBER_STACK_MIN << c < size)
        c++;
    return c;
}

static struct stack_hdr *hdr_of(unsigned char *hi)
{
    return (struct stack_hdr *)(void *)(hi - STACK_HEADER);
}

/* ------------------------------------------------------------------ mapping */

/* True when reading p faults, checked without faulting: process_vm_readv on ourselves says
 * EFAULT (any other answer, ENOSYS included, counts as "not guarded"). Some environments
 * (qemu-user) accept an madvise they do not know and do nothing. */
static bool really_guarded(unsigned char *p)
{
    char byte;
    struct iovec local = {.iov_base = &byte, .iov_len = 1}, remote = {.iov_base = p, .iov_len = 1};
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) < 0 && errno == EFAULT;
}

static int install_guard(unsigned char *p, size_t len)
{
    int mode = ld_relaxed(&guard_mode);
    if (mode != 2) {
        bool ok = madvise(p, len, MADV_GUARD_INSTALL) == 0;
        if (mode == 1)
            return ok ? 0 : -ENOMEM; /* it worked before: a failure now is real */
        if (ok && really_guarded(p)) { /* the first time: make sure it took */
            st_relaxed(&guard_mode, 1);
            return 0;
        }
        /* EINVAL (an older kernel, Valgrind), or accepted and ignored (qemu-user). */
        st_relaxed(&guard_mode, 2);
    }
    return mprotect(p, len, PROT_NONE) == 0 ? 0 : -ENOMEM;
}

static void unmap_stack(struct stack_hdr *h)
{
    unsigned char *hi = (unsigned char *)h + STACK_HEADER;
    unsigned char *lo = hi - h->size;
#if HAVE_VALGRIND
    if (h->vg_id)
        VALGRIND_STACK_DEREGISTER(h->vg_id);
#endif
#if defined(WEFT_SANITIZE_ADDRESS)
    /* ASan keeps shadow poison across munmap: the redzones of the last fiber's frames that
     * never returned would be blamed on whatever is mapped here next (a slab arena...). */
    ASAN_UNPOISON_MEMORY_REGION(lo, h->size);
#endif
    munmap(lo - pagesz(), h->size + pagesz());
    atomic_fetch_add_explicit(&n_unmapped, 1, memory_order_relaxed);
}

static int map_stack(size_t size, struct weft__stack *out)
{
    size_t guard = pagesz();
    unsigned char *p = mmap(NULL, guard + size, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED)
        return -ENOMEM;
    (void)madvise(p, guard + size, MADV_NOHUGEPAGE); /* best effort: THP may be off */
    if (install_guard(p, guard) < 0) {
        munmap(p, guard + size);
        return -ENOMEM;
    }
    out->lo = p + guard;
    out->hi = p + guard + size;
    struct stack_hdr *h = hdr_of(out->hi);
    h->next = NULL;
    h->size = size;
    h->uses = 0;
    h->vg_id = 0;
#if HAVE_VALGRIND
    h->vg_id = VALGRIND_STACK_REGISTER(out->lo, out->hi);
#endif
    atomic_fetch_add_explicit(&n_mapped, 1, memory_order_relaxed);
    return 0;
}

/* ------------------------------------------------------------------ per-thread state */

static void thread_exit(void *arg)
{
    struct fiber_thread *ft = arg;
    tl_thread = ft;
    weft__stack_pool_trim();
    if (ft->altstack) {
        stack_t ss = {.ss_flags = SS_DISABLE};
        sigaltstack(&ss, NULL);
        munmap(ft->altstack, ALTSTACK_SIZE);
    }
    tl_thread = NULL;
    weft__free(ft);
}

static void make_key(void)
{
    if (pthread_key_create(&thread_key, thread_exit) != 0)
        abort(); /* only fails when the process is out of keys: nothing sane to do */
}

static struct fiber_thread *thread_state(void)
{
    struct fiber_thread *ft = tl_thread;
    if (WEFT_LIKELY(ft))
        return ft;
    pthread_once(&thread_key_once, make_key);
    ft = weft__calloc(1, sizeof *ft);
    if (!ft)
        return NULL;
    if (pthread_setspecific(thread_key, ft) != 0) {
        weft__free(ft);
        return NULL;
    }
    tl_thread = ft;
    return ft;
}

int weft__fiber_thread_init(void)
{
    struct fiber_thread *ft = thread_state();
    if (WEFT_LIKELY(ft && ft->ready))
        return 0;
    if (!ft)
        return -ENOMEM;
    stack_t old;
    if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE)) {
        ft->ready = true; /* the thread has one (a sanitizer's, the application's): use it */
        return 0;
    }
    void *p = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -ENOMEM;
    stack_t ss = {.ss_sp = p, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(p, ALTSTACK_SIZE);
        return -ENOMEM;
    }
    ft->altstack = p;
    ft->ready = true;
    return 0;
}

/* ------------------------------------------------------------------ pool */

void *weft__stack_top(const struct weft__stack *s)
{
    return s->hi - STACK_HEADER;
}

int weft__stack_acquire(size_t size, struct weft__stack *out)
{
    struct fiber_thread *ft = thread_state();
    if (WEFT_LIKELY(ft != NULL) && size <= POOL_CLASS_MAX) {
        unsigned c = class_of(size);
        struct stack_hdr *h = ft->pool[c];
        if (h) {
            ft->pool[c] = h->next;
            ft->count[c]--;
            ft->pooled_bytes -= size;
            out->hi = (unsigned char *)h + STACK_HEADER;
            out->lo = out->hi - size;
#if defined(WEFT_SANITIZE_ADDRESS)
            /* Frames of the previous user that never returned (its entry frame) stay
             * poisoned in the shadow; the new fiber starts from a clean slate. */
            ASAN_UNPOISON_MEMORY_REGION(out->lo, size - STACK_HEADER);
#endif
            return 0;
        }
    }
    return map_stack(size, out);
}

/* True when the page [p, p + page) holds only zero words. Reads memory below the stack
 * pointer of a finished fiber: not instrumented. */
__attribute__((no_sanitize_address, no_sanitize_thread)) static bool page_is_zero(
    const unsigned char *p, size_t len)
{
    const uint64_t *w = (const uint64_t *)(const void *)p;
    uint64_t acc = 0;
    for (size_t i = 0; i < len / sizeof *w; i++)
        acc |= w[i];
    return acc == 0;
}

void weft__stack_release(struct weft__stack *s, const void *low_sp)
{
    struct stack_hdr *h = hdr_of(s->hi);
    size_t size = h->size;
    struct fiber_thread *ft = thread_state();

    if (!ft || size > POOL_CLASS_MAX || ft->pooled_bytes + size > POOL_BYTES) {
        unmap_stack(h);
        s->lo = s->hi = NULL;
        return;
    }
    unsigned char *keep = s->hi - KEEP_BYTES;
    size_t page = pagesz();
    bool dirty = (const unsigned char *)low_sp < keep + 256;
    if (!dirty && ++h->uses >= PROBE_EVERY && keep - page >= s->lo) {
        h->uses = 0;
#if HAVE_VALGRIND
        if (RUNNING_ON_VALGRIND)
            dirty = true; /* the probe would read undefined stack memory */
        else
#endif
            dirty = !page_is_zero(keep - page, page);
    }
    if (dirty) {
        (void)madvise(s->lo, (size_t)(keep - s->lo), MADV_DONTNEED);
        h->uses = 0;
        atomic_fetch_add_explicit(&n_cleaned, 1, memory_order_relaxed);
    }
    unsigned c = class_of(size);
    h->next = ft->pool[c];
    ft->pool[c] = h;
    ft->count[c]++;
    ft->pooled_bytes += size;
    s->lo = s->hi = NULL;
}

void weft__stack_pool_trim(void)
{
    struct fiber_thread *ft = tl_thread;
    if (!ft)
        return;
    for (unsigned c = 0; c < NCLASSES; c++) {
        struct stack_hdr *h = ft->pool[c];
        while (h) {
            struct stack_hdr *next = h->next;
            unmap_stack(h);
            h = next;
        }
        ft->pool[c] = NULL;
        ft->count[c] = 0;
    }
    ft->pooled_bytes = 0;
}
