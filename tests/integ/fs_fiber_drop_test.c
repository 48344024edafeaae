/* A fiber drops a file read that is in flight (a blocking pipe: on the epoll backend a pool
 * thread sits in read(2), on io_uring the kernel holds the read), then returns. The future and
 * its 4 KiB buffer lived in the fiber's frame, which dies with the call; so the drop must not
 * return before the operation is over. Fiber B, spawned by A just before it returns and run
 * right after it, fills a large frame with a pattern and yields for a while; the pattern must
 * stay intact. (Without the wait, the pool job's read(2) returns later and writes 4 KiB into
 * what is by then B's frame.) fs_fiber_drop@uring and @epoll.
 */
#include <pthread.h>

#include "fs_helpers.h"

#include "fiber_guard.h"
#include "weft/blocking.h"

#define LEN 4096

static weft_rt *rt;
static weft_file *file;
static _Atomic int a_polled;
static weft_join *b_join;
static const struct guard_opts guard = {.yields = 200, .sleep_us = 100};

/* On the pool: wait until a thread has taken the job (it then blocks in read(2)). */
static void wait_job_running(void)
{
    weft_blocking_stats st;
    for (int i = 0; i < 20000; i++) {
        if (weft_blocking_stats_get(rt, WEFT_LANE_FS, &st) == 0 && st.queue_depth == 0 &&
            st.threads > st.idle_threads)
            break;
        usleep(100);
    }
    usleep(10000);
}

static int fiber_a(void *arg)
{
    (void)arg;
    char buf[LEN];
    weft_file_read rd;
    weft_cx *cx;
    ssize_t n;
    if (weft_fiber_cx(&cx) < 0)
        return -EINVAL;
    weft_file_read_init(&rd, file, buf, sizeof buf, WEFT_FILE_CURRENT);
    if (weft_file_read_poll(&rd, cx, &n) != WEFT_PENDING)
        return -EPROTO; /* an empty blocking pipe: the read must wait */
    if (fs_on_pool(rt))
        wait_job_running();
    atomic_store(&a_polled, 1);
    weft_file_read_drop(&rd); /* epoll: returns once the job's read(2) has returned */
    return weft_fiber_spawn(rt, guard_fiber, (void *)&guard, NULL, &b_join);
}

/* The data that ends the pool job's read: written once A is about to drop. */
static void *writer(void *arg)
{
    int fd = *(int *)arg;
    static char data[LEN];
    memset(data, 'd', sizeof data);
    while (!atomic_load(&a_polled))
        usleep(100);
    usleep(20000);
    if (write(fd, data, sizeof data) != (ssize_t)sizeof data)
        abort();
    return NULL;
}

TEST(dropping_a_file_read_in_flight_waits_for_it)
{
    int base = fs_count_fds();
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 1}), 0);
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0); /* blocking: the read really waits */
    int rdfd = dup(p[0]);
    ASSERT_EQ(weft_file_from_fd(&file, rdfd), 0);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, writer, &p[1]), 0);

    weft_join *a;
    int out = -1;
    ASSERT_EQ(weft_fiber_spawn(rt, fiber_a, NULL, NULL, &a), 0);
    ASSERT_EQ(weft_join_wait(a, &out, sizeof out), 0);
    ASSERT_EQ(out, 0);
    ASSERT_TRUE(b_join != NULL);
    ASSERT_EQ(weft_join_wait(b_join, &out, sizeof out), 0);
    ASSERT_EQ(out, 0); /* -EFAULT: the abandoned read wrote into a frame B was using */
    pthread_join(th, NULL);

    weft_file_free(file);
    close(p[0]);
    close(p[1]);
    weft_rt_free(rt);
    ASSERT_EQ(fs_count_fds(), base);
}

TEST_MAIN()
