/* Lanes: 1,000 stalled lookups fill the DNS lane (each job blocks reading a pipe nobody has
 * written to yet) and file work on the FS lane, and default-lane work, is still served
 * promptly. Then the stalled lookups still queued can be aborted, and the rest complete when
 * the pipe is fed. */
// labels: lanes
#include <fcntl.h>
#include <stdatomic.h>
#include <unistd.h>

#include "test.h"
#include "weft.h"

#define STALLED 1000

static int pipefd[2];
static _Atomic int lookups_started;

static void *stalled_lookup(void *arg)
{
    char c;
    (void)arg;
    atomic_fetch_add(&lookups_started, 1);
    ssize_t n = read(pipefd[0], &c, 1); /* blocks until the test feeds the pipe */
    return (void *)(intptr_t)n;
}

/* A real file read, as the epoll backend's fs operations will do on this lane. */
static void *read_file(void *arg)
{
    char buf[256];
    int fd = open((const char *)arg, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return (void *)(intptr_t)n;
}

static void *plus_one(void *arg)
{
    return (void *)((uintptr_t)arg + 1);
}

TEST(saturated_dns_lane_leaves_fs_and_default_served)
{
    weft_rt *rt = NULL;
    weft_rt_config cfg = {.workers = 2, .shutdown_timeout = WEFT_SEC(5)};
    static weft_join *lookups[STALLED];

    ASSERT_EQ(pipe2(pipefd, O_CLOEXEC), 0);
    ASSERT_EQ(weft_rt_new(&rt, &cfg), 0);
    for (int i = 0; i < STALLED; i++)
        ASSERT_EQ(weft_spawn_blocking_on(rt, WEFT_LANE_DNS, stalled_lookup, NULL, &lookups[i]), 0);

    /* The DNS lane grows to its cap (64 by default) and stays there. */
    int64_t end = weft_test_now_ns() + 10 * 1000000000ll;
    while (atomic_load(&lookups_started) < 64 && weft_test_now_ns() < end)
        usleep(1000);
    ASSERT_EQ(atomic_load(&lookups_started), 64);
    weft_blocking_stats st;
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_DNS, &st), 0);
    ASSERT_EQ(st.threads, 64);
    ASSERT_EQ(st.max_threads, 64);
    ASSERT_EQ(st.queue_depth, STALLED - 64);

    /* File reads and default-lane jobs complete promptly meanwhile. */
    for (int i = 0; i < 20; i++) {
        weft_join *j;
        void *n = NULL;
        int64_t t0 = weft_test_now_ns();
        ASSERT_EQ(weft_spawn_blocking_on(rt, WEFT_LANE_FS, read_file,
                                         (void *)(WEFT_TEST_SRCDIR "/CMakeLists.txt"), &j),
                  0);
        ASSERT_EQ(weft_join_wait(j, &n, sizeof n), 0);
        ASSERT_GT((intptr_t)n, 0);
        ASSERT_LT(weft_test_now_ns() - t0, 100 * 1000000ll);
        t0 = weft_test_now_ns();
        ASSERT_EQ(weft_spawn_blocking(rt, plus_one, (void *)1, &j), 0);
        ASSERT_EQ(weft_join_wait(j, &n, sizeof n), 0);
        ASSERT_EQ((uintptr_t)n, 2);
        ASSERT_LT(weft_test_now_ns() - t0, 100 * 1000000ll);
    }
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_FS, &st), 0);
    ASSERT_EQ(st.jobs_run, 20);
    ASSERT_LE(st.threads, 2);

    /* Cancel the last 500 stalled lookups while they wait: each reports -ECANCELED at once. */
    int64_t t0 = weft_test_now_ns();
    for (int i = STALLED - 500; i < STALLED; i++)
        weft_join_abort(lookups[i]);
    for (int i = STALLED - 500; i < STALLED; i++)
        ASSERT_EQ(weft_join_wait(lookups[i], NULL, 0), -ECANCELED);
    ASSERT_LT(weft_test_now_ns() - t0, 1000 * 1000000ll);

    /* Feed the pipe: the other 500 lookups run, 64 at a time. */
    char bytes[STALLED - 500];
    memset(bytes, 'x', sizeof bytes);
    ASSERT_EQ(write(pipefd[1], bytes, sizeof bytes), (ssize_t)sizeof bytes);
    for (int i = 0; i < STALLED - 500; i++) {
        void *n = NULL;
        ASSERT_EQ(weft_join_wait(lookups[i], &n, sizeof n), 0);
        ASSERT_EQ((intptr_t)n, 1);
    }
    ASSERT_EQ(atomic_load(&lookups_started), STALLED - 500);
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_DNS, &st), 0);
    ASSERT_EQ(st.jobs_run, STALLED - 500);
    ASSERT_EQ(st.queue_depth, 0);
    ASSERT_LE(st.threads_spawned, 64);
    weft_rt_free(rt);
    close(pipefd[0]);
    close(pipefd[1]);
}

TEST(lane_caps_are_independent)
{
    weft_rt *rt = NULL;
    weft_rt_config cfg = {.workers = 1, .max_blocking_threads = 8};
    ASSERT_EQ(weft_rt_new(&rt, &cfg), 0);
    weft_blocking_stats st;
    ASSERT_EQ(weft_blocking_lane_set_max_queued(rt, WEFT_LANE_DEFAULT, 0), 0); /* makes the pool */
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_DEFAULT, &st), 0);
    ASSERT_EQ(st.max_threads, 8);
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_FS, &st), 0);
    ASSERT_EQ(st.max_threads, 8); /* min(64, max_blocking_threads) */
    ASSERT_EQ(weft_blocking_lane_set_max_threads(rt, WEFT_LANE_DNS, 3), 0);
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_DNS, &st), 0);
    ASSERT_EQ(st.max_threads, 3);
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_ALL, &st), 0);
    ASSERT_EQ(st.max_threads, 8 + 8 + 3);
    weft_rt_free(rt);
}

TEST_MAIN()
