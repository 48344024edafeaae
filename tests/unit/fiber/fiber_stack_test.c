/* Fiber stacks, white box: size classes, the guard page, pooling, and returning dirtied
 * pages to the kernel before reuse (checked with mincore). */
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fiber/fiber.h"
#include "test.h"

TEST(size_classes)
{
    ASSERT_EQ(weft__stack_class_size(0), 64 << 10);
    ASSERT_EQ(weft__stack_class_size(1), 16 << 10);
    ASSERT_EQ(weft__stack_class_size(16 << 10), 16 << 10);
    ASSERT_EQ(weft__stack_class_size((16 << 10) + 1), 32 << 10);
    ASSERT_EQ(weft__stack_class_size(100 << 10), 128 << 10);
    ASSERT_EQ(weft__stack_class_size((size_t)1 << 30), (size_t)1 << 30);
    ASSERT_EQ(weft__stack_class_size(((size_t)1 << 30) + 1), 0);
}

TEST(guard_page_faults)
{
    struct weft__stack s;
    ASSERT_EQ(weft__stack_acquire(16 << 10, &s), 0);
    ASSERT_EQ((size_t)(s.hi - s.lo), 16 << 10);
    s.lo[0] = 1; /* the lowest usable byte is usable */
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        ((volatile unsigned char *)s.lo)[-1] = 1; /* the guard */
        _exit(0);
    }
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), SIGSEGV);
    weft__stack_release(&s, s.hi);
}

static size_t resident_pages(unsigned char *lo, unsigned char *hi)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (size_t)(hi - lo) / page, count = 0;
    unsigned char vec[1 << 12];
    ASSERT_TRUE(n <= sizeof vec);
    ASSERT_EQ(mincore(lo, (size_t)(hi - lo), vec), 0);
    for (size_t i = 0; i < n; i++)
        count += vec[i] & 1;
    return count;
}

TEST(pool_reuses_and_cleans_deep_use)
{
    uint64_t m0, u0, c0, m1, u1, c1;
    struct weft__stack s, t;
    size_t keep = weft__stack_keep_bytes();

    weft__stack_pool_trim();
    weft__stack_stats(&m0, &u0, &c0);
    ASSERT_EQ(weft__stack_acquire(64 << 10, &s), 0);
    unsigned char *lo = s.lo, *hi = s.hi;

    /* Shallow use: the top page only. Pooled as is: no madvise. */
    memset(hi - 2048, 0xaa, 2048 - 64);
    weft__stack_release(&s, hi - 2048);
    weft__stack_stats(&m1, &u1, &c1);
    ASSERT_EQ(c1, c0);
    ASSERT_EQ(weft__stack_acquire(64 << 10, &t), 0);
    ASSERT_TRUE(t.lo == lo); /* LIFO: the warm one */

    /* Deep use (the whole stack), seen at a switch: cleaned below the kept top. */
    memset(t.lo, 0xbb, (size_t)(t.hi - t.lo) - 64);
    ASSERT_EQ(resident_pages(lo, hi), (size_t)(hi - lo) / 4096);
    weft__stack_release(&t, t.lo + 128);
    weft__stack_stats(&m1, &u1, &c1);
    ASSERT_EQ(c1, c0 + 1);
    ASSERT_EQ(resident_pages(lo, hi - keep), 0);
    ASSERT_EQ(resident_pages(hi - keep, hi), keep / 4096);

    /* A transient deep call not seen at a switch: the probe below the kept top finds it
     * within PROBE_EVERY (16) releases; until then the stack is pooled as is. */
    ASSERT_EQ(weft__stack_acquire(64 << 10, &s), 0);
    ASSERT_TRUE(s.lo == lo);
    memset(hi - keep - 3000, 0xcc, 3000);
    int releases = 0;
    for (;;) {
        weft__stack_release(&s, hi - 512);
        releases++;
        weft__stack_stats(&m1, &u1, &c1);
        if (c1 != c0 + 1 || releases > 16)
            break;
        ASSERT_EQ(weft__stack_acquire(64 << 10, &s), 0);
        ASSERT_TRUE(s.lo == lo);
    }
    ASSERT_LE(releases, 16);
    ASSERT_EQ(c1, c0 + 2);
    ASSERT_EQ(resident_pages(lo, hi - keep), 0);

    /* Shallow users never pay a madvise, probe or not. */
    for (int i = 0; i < 40; i++) {
        ASSERT_EQ(weft__stack_acquire(64 << 10, &s), 0);
        memset(s.hi - 1024, 0xdd, 1024 - 64);
        weft__stack_release(&s, s.hi - 1024);
    }
    weft__stack_stats(&m1, &u1, &c1);
    ASSERT_EQ(c1, c0 + 2);

    weft__stack_pool_trim();
    weft__stack_stats(&m1, &u1, &c1);
    ASSERT_EQ(m1 - m0, u1 - u0);
}

TEST(big_stacks_are_not_pooled)
{
    uint64_t m0, u0, c0, m1, u1, c1;
    struct weft__stack s;
    weft__stack_stats(&m0, &u0, &c0);
    ASSERT_EQ(weft__stack_acquire(16u << 20, &s), 0);
    weft__stack_release(&s, s.hi);
    weft__stack_stats(&m1, &u1, &c1);
    ASSERT_EQ(m1, m0 + 1);
    ASSERT_EQ(u1, u0 + 1);
}

TEST_MAIN()
