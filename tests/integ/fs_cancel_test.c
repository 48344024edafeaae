/* Cancelling file operations (fs_cancel@uring, fs_cancel@epoll): a read in flight on a pipe
 * is aborted and its task's memory stays valid until the read really ends (ASan would see a
 * write into freed memory otherwise); many reads of a regular file aborted at random moments;
 * opens dropped mid-flight close the file they opened; a deadline around a read; a file freed
 * while reads are in flight keeps its descriptor until they end; weft_rt_free with file jobs
 * still queued on the pool leaks nothing. */
#include <pthread.h>
#include <time.h>

#include "fs_helpers.h"

static void sleep_ms(int ms)
{
    usleep((useconds_t)ms * 1000);
}

static void wait_flag(_Atomic int *flag, int want)
{
    int64_t end = weft_test_now_ns() + 10ll * 1000000000;
    while (atomic_load(flag) < want) {
        if (weft_test_now_ns() > end)
            weft_test_fail(__FILE__, __LINE__, "timed out waiting for %d (at %d)", want,
                           atomic_load(flag));
        usleep(100);
    }
}

/* ------------------------------------------------------------------ a reading task */

/* Reads `len` bytes at `off` (or loops over the file forever when `loop`) into a buffer that
 * lives in the task's own state, so the task cell is what must outlive an abandoned read. */
struct rd_task {
    weft_file *file;
    int64_t off;
    size_t len;
    int loop;
    _Atomic int *started; /* bumped at the first PENDING */
    int inited, counted;
    int64_t file_size;
    weft_file_read rd;
    unsigned char buf[32 * 1024]; /* states over 64 KiB cannot have an output */
};

static weft_poll rd_poll(void *state, weft_cx *cx, void *out)
{
    struct rd_task *t = state;
    ssize_t n;
    for (;;) {
        if (!t->inited) {
            weft_file_read_all_init(&t->rd, t->file, t->buf, t->len, t->off);
            t->inited = 1;
        }
        if (weft_file_read_poll(&t->rd, cx, &n) == WEFT_PENDING) {
            if (!t->counted && t->started) {
                t->counted = 1;
                atomic_fetch_add(t->started, 1);
            }
            return WEFT_PENDING;
        }
        t->inited = 0;
        if (!t->loop || n < 0) {
            *(ssize_t *)out = n;
            return WEFT_READY;
        }
        t->off = (t->off + 4096 * 7) % (t->file_size - (int64_t)t->len);
    }
}

static void rd_drop(void *state)
{
    struct rd_task *t = state;
    if (t->inited)
        weft_file_read_drop(&t->rd);
}

static const weft_future_type rd_type = {
    .name = "rd",
    .poll = rd_poll,
    .drop = rd_drop,
    .state_size = sizeof(struct rd_task),
    .out_size = sizeof(ssize_t),
};

static weft_rt *mt(void)
{
    return fs_rt(WEFT_RT_MULTI_THREAD, 2);
}

static void make_file(const char *path, size_t n)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, (off_t)n), 0);
    char c = 'z';
    ASSERT_EQ(pwrite(fd, &c, 1, 0), 1);
    close(fd);
}

/* ------------------------------------------------------------------ tests */

/* Wait until fd is closed: weft_file_free closes a file's descriptor when its last operation
 * ends, so this is how a test sees an abandoned operation end. */
static void wait_closed(int fd)
{
    int64_t end = weft_test_now_ns() + 10ll * 1000000000;
    while (fcntl(fd, F_GETFD) != -1) {
        if (weft_test_now_ns() > end)
            weft_test_fail(__FILE__, __LINE__, "fd %d still open", fd);
        usleep(200);
    }
}

/* After the task that read from `rd` (a dup of p[0]) was dropped: the read must end, and the
 * data written afterwards must go where the backend's cancel semantics say. io_uring cancels
 * the read (the data stays in the pipe); the pool cannot interrupt read(2), so its job takes
 * the data, writing into the dropped task's buffer, which must still be allocated (ASan). */
static void finish_abandoned_pipe_read(weft_rt *rt, weft_file *f, int rd, int p[2], size_t n)
{
    static char data[4096];
    memset(data, 'd', sizeof data);
    weft_file_free(f); /* closes rd once the abandoned read has ended */
    if (!fs_on_pool(rt))
        wait_closed(rd); /* the cancel has completed the read */
    ASSERT_EQ(write(p[1], data, n), (ssize_t)n);
    if (fs_on_pool(rt))
        wait_closed(rd); /* the job has read the data and ended */
    char back[4096];
    ASSERT_EQ(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    ssize_t left = read(p[0], back, sizeof back);
    weft_blocking_stats st;
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_FS, &st), 0);
    if (fs_on_pool(rt) && st.jobs_run == 1) {
        ASSERT_EQ(left, -1); /* consumed by the abandoned job */
    } else {
        /* io_uring cancelled the read; or, on a machine too loaded to start the pool thread
         * in time, the job was still queued and the abort cancelled it: it never ran. */
        ASSERT_EQ(st.jobs_run, 0); /* (jobs_cancelled counts it once the pool pops it) */
        ASSERT_EQ(left, (ssize_t)n);
    }
}

/* Pool: wait until the job has left the fs lane's queue (a thread took it). */
static void wait_job_taken(weft_rt *rt)
{
    weft_blocking_stats st;
    int64_t end = weft_test_now_ns() + 10ll * 1000000000;
    do {
        ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_FS, &st), 0);
        if (st.queue_depth == 0 && st.threads > st.idle_threads)
            return;
        usleep(200);
    } while (weft_test_now_ns() < end);
}

TEST(abort_read_in_flight_on_a_pipe)
{
    int base = fs_count_fds();
    weft_rt *rt = mt();
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0); /* blocking: the read really waits */
    int rd = dup(p[0]);
    weft_file *f;
    ASSERT_EQ(weft_file_from_fd(&f, rd), 0);
    _Atomic int started = 0;
    struct rd_task init = {.file = f, .len = 4096, .off = WEFT_FILE_CURRENT, .started = &started};
    weft_join *j;
    ASSERT_EQ(weft_spawn(rt, &rd_type, &init, &j), 0);
    wait_flag(&started, 1);
    if (fs_on_pool(rt))
        wait_job_taken(rt);
    sleep_ms(20); /* in the kernel (io_uring) or blocked in read(2) on a pool thread */
    weft_join_abort(j);
    ssize_t n = 0;
    ASSERT_EQ(weft_join_wait(j, &n, sizeof n), -ECANCELED);
    finish_abandoned_pipe_read(rt, f, rd, p, 4096);
    close(p[0]);
    close(p[1]);
    weft_rt_free(rt);
    ASSERT_EQ(fs_count_fds(), base);
}

/* The timed task: a weft_timeout over an rd_task child, both in this state. */
struct timed_state {
    struct rd_task rd;
    weft_timeout to;
    int inited;
};

static weft_poll timed_poll(void *state, weft_cx *cx, void *out)
{
    struct timed_state *s = state;
    ssize_t n;
    int result;
    if (!s->inited) {
        weft_timeout_init(&s->to, &rd_type, &s->rd, weft_deadline_in(WEFT_MS(30)));
        s->inited = 1;
    }
    if (weft_timeout_poll(&s->to, cx, &n, &result) == WEFT_PENDING)
        return WEFT_PENDING;
    *(int *)out = result;
    return WEFT_READY;
}

static void timed_drop(void *state)
{
    struct timed_state *s = state;
    if (s->inited)
        weft_timeout_drop(&s->to);
}

static const weft_future_type timed_type = {
    .name = "timed",
    .poll = timed_poll,
    .drop = timed_drop,
    .state_size = sizeof(struct timed_state),
    .out_size = sizeof(int),
};

TEST(deadline_around_a_read_on_a_pipe)
{
    int base = fs_count_fds();
    weft_rt *rt = mt();
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    int rd = dup(p[0]);
    weft_file *f;
    ASSERT_EQ(weft_file_from_fd(&f, rd), 0);
    struct timed_state *init = calloc(1, sizeof *init);
    init->rd = (struct rd_task){.file = f, .len = 100, .off = WEFT_FILE_CURRENT};
    int64_t t0 = weft_test_now_ns();
    int result = 0;
    ASSERT_EQ(weft_rt_block_on(rt, &timed_type, init, &result), 0);
    ASSERT_EQ(result, -ETIMEDOUT);
    ASSERT_GE(weft_test_now_ns() - t0, 25000000);
    free(init);
    finish_abandoned_pipe_read(rt, f, rd, p, 4);
    close(p[0]);
    close(p[1]);
    weft_rt_free(rt);
    ASSERT_EQ(fs_count_fds(), base);
}

TEST(abort_many_reads_of_a_file_at_random_moments)
{
    int base = fs_count_fds();
    weft_rt *rt = mt();
    char path[256];
    fs_tmp_path(path, sizeof path, "many");
    size_t size = 8u << 20;
    make_file(path, size);
    weft_file *f;
    ASSERT_EQ(fs_open(rt, path, O_RDONLY, 0, &f), 0);
    int ntasks = (int)(200 * weft_test_scale());
    if (ntasks < 20)
        ntasks = 20;
    weft_join **js = calloc((size_t)ntasks, sizeof *js);
    unsigned seed = 12345;
    for (int i = 0; i < ntasks; i++) {
        struct rd_task init = {.file = f,
                               .len = 32 * 1024,
                               .off = (int64_t)(i * 4096) % (1 << 20),
                               .loop = 1,
                               .file_size = (int64_t)size};
        ASSERT_EQ(weft_spawn(rt, &rd_type, &init, &js[i]), 0);
        if (rand_r(&seed) % 4 == 0)
            usleep(rand_r(&seed) % 500);
        if (i >= 10)
            weft_join_abort(js[i - 10]);
    }
    for (int i = 0; i < ntasks; i++) {
        weft_join_abort(js[i]);
        ssize_t n;
        ASSERT_EQ(weft_join_wait(js[i], &n, sizeof n), -ECANCELED);
    }
    free(js);
    weft_file_free(f); /* may close later, when the last abandoned read ends */
    weft_rt_free(rt);
    ASSERT_EQ(fs_count_fds(), base);
    unlink(path);
}

TEST(dropped_opens_close_what_they_opened)
{
    int base = fs_count_fds();
    weft_rt *rt = mt();
    char path[256];
    fs_tmp_path(path, sizeof path, "open");
    make_file(path, 4096);
    int n = (int)(300 * weft_test_scale());
    if (n < 30)
        n = 30;
    int opened = 0, cancelled = 0;
    unsigned seed = 7;
    for (int round = 0; round < n; round += 10) {
        weft_join *js[10];
        for (int i = 0; i < 10; i++) {
            struct op_task t = {.kind = OP_OPEN, .path = path, .flags = O_RDONLY};
            ASSERT_EQ(weft_spawn(rt, &op_type, &t, &js[i]), 0);
        }
        usleep(rand_r(&seed) % 300);
        for (int i = 0; i < 10; i++)
            weft_join_abort(js[i]);
        for (int i = 0; i < 10; i++) {
            struct op_out o = {0};
            int err = weft_join_wait(js[i], &o, sizeof o);
            if (err == 0) {
                ASSERT_EQ(o.res, 0);
                weft_file_free(o.file);
                opened++;
            } else {
                ASSERT_EQ(err, -ECANCELED);
                cancelled++;
            }
        }
    }
    ASSERT_EQ(opened + cancelled, (n + 9) / 10 * 10);
    weft_rt_free(rt);
    ASSERT_EQ(fs_count_fds(), base); /* every open that completed for nobody was closed */
    unlink(path);
}

TEST(freed_file_stays_open_until_its_reads_end)
{
    weft_rt *rt = mt();
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    weft_file *f;
    ASSERT_EQ(weft_file_from_fd(&f, p[0]), 0);
    _Atomic int started = 0;
    struct rd_task init = {.file = f, .len = 5, .off = WEFT_FILE_CURRENT, .started = &started};
    weft_join *j;
    ASSERT_EQ(weft_spawn(rt, &rd_type, &init, &j), 0);
    wait_flag(&started, 1);

    /* A close future while the read is in flight: reports 0 at once, closes later. */
    struct op_out o = fs_run(rt, (struct op_task){.kind = OP_CLOSE, .file = f});
    ASSERT_EQ(o.res, 0);
    ASSERT_EQ(weft_file_fd(f), -EBADF);
    ASSERT_NE(fcntl(p[0], F_GETFD), -1); /* still open: the read names it */
    char buf[8];
    ASSERT_EQ(fs_rw(rt, OP_READ, f, buf, 1, WEFT_FILE_CURRENT), -EBADF); /* no new ones */
    weft_file_free(f);
    ASSERT_NE(fcntl(p[0], F_GETFD), -1);

    ASSERT_EQ(write(p[1], "hello", 5), 5);
    ssize_t n = 0;
    ASSERT_EQ(weft_join_wait(j, &n, sizeof n), 0);
    ASSERT_EQ(n, 5);
    int64_t end = weft_test_now_ns() + 5000000000ll;
    while (fcntl(p[0], F_GETFD) != -1 && weft_test_now_ns() < end)
        usleep(100);
    ASSERT_EQ(fcntl(p[0], F_GETFD), -1); /* the read's end closed it */
    close(p[1]);
    weft_rt_free(rt);
}

/* ------------------------------------------------------------------ shutdown */

struct gate {
    pthread_mutex_t m;
    pthread_cond_t c;
    int open;
    _Atomic int entered;
};

static void *gate_job(void *arg)
{
    struct gate *g = arg;
    atomic_fetch_add(&g->entered, 1);
    pthread_mutex_lock(&g->m);
    while (!g->open)
        pthread_cond_wait(&g->c, &g->m);
    pthread_mutex_unlock(&g->m);
    return NULL;
}

static void *open_gate_later(void *arg)
{
    struct gate *g = arg;
    sleep_ms(100);
    pthread_mutex_lock(&g->m);
    g->open = 1;
    pthread_cond_broadcast(&g->c);
    pthread_mutex_unlock(&g->m);
    return NULL;
}

TEST(rt_free_with_file_jobs_queued_leaks_nothing)
{
    int base = fs_count_fds();
    weft_rt *rt = mt();
    char path[256];
    fs_tmp_path(path, sizeof path, "shut");
    make_file(path, 1 << 20);
    weft_file *f;
    ASSERT_EQ(fs_open(rt, path, O_RDONLY, 0, &f), 0);

    /* One fs-lane thread, held by a gate: file jobs queue up behind it (epoll). */
    ASSERT_EQ(weft_blocking_lane_set_max_threads(rt, WEFT_LANE_FS, 1), 0);
    struct gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    ASSERT_EQ(weft_spawn_blocking_on(rt, WEFT_LANE_FS, gate_job, &g, NULL), 0);
    wait_flag(&g.entered, 1);

    _Atomic int started = 0;
    for (int i = 0; i < 20; i++) {
        weft_join *j;
        struct rd_task rd = {.file = f, .len = 4096, .off = i * 4096, .started = &started};
        ASSERT_EQ(weft_spawn(rt, &rd_type, &rd, &j), 0);
        if (i % 2)
            weft_join_abort(j); /* some are dropped while queued */
        weft_join_detach(j);
        struct op_task op = {.kind = OP_STAT_PATH, .path = path};
        ASSERT_EQ(weft_spawn(rt, &op_type, &op, &j), 0); /* path copies in flight */
        weft_join_detach(j);
    }
    sleep_ms(20);
    pthread_t opener;
    ASSERT_EQ(pthread_create(&opener, NULL, open_gate_later, &g), 0);
    weft_file_free(f);
    weft_rt_free(rt); /* cancels the queued jobs, waits for the gate */
    pthread_join(opener, NULL);
    ASSERT_EQ(fs_count_fds(), base);
    unlink(path);
}

TEST_MAIN()
