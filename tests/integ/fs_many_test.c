/* Files from many tasks at once (fs_many@uring, fs_many@epoll): 128 tasks on 2 workers each
 * create, write, sync, stat, read back and close their own file; 64 tasks read one shared file
 * at random offsets; the same with the fs lane's queue capped (epoll: ops that cannot be queued
 * run on the reactor instead); and a current-thread runtime. Every descriptor is closed at the
 * end. */
#include "fs_helpers.h"

#define CHUNK  4096
#define CHUNKS 16

static unsigned char byte_of(int id, size_t off)
{
    return (unsigned char)(id * 31 + off * 7 + (off >> 12));
}

/* ------------------------------------------------------------------ one file per task */

struct own_file {
    int id;
    char path[200];
    WEFT_ASYNC_STATE;
    weft_file_open open;
    weft_file_write wr;
    weft_file_sync sy;
    weft_file_stat st;
    weft_file_read rd;
    weft_file_close cl;
    weft_file *f;
    int err, i;
    ssize_t n;
    weft_file_info info;
    unsigned char buf[CHUNK];
    unsigned char back[CHUNK * 4];
};

#define FAIL_AT(s) (-100000 - __LINE__)

static weft_poll own_poll(void *state, weft_cx *cx, void *out)
{
    struct own_file *s = state;
    int *res = out;

    WEFT_ASYNC_BEGIN(s);
    weft_file_open_init(&s->open, s->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    WEFT_AWAIT(s, weft_file_open_poll(&s->open, cx, &s->f, &s->err));
    if (s->err < 0) {
        *res = s->err;
        WEFT_ASYNC_RETURN(s);
    }
    /* Chunks written in a scrambled order, each at its own offset. */
    for (s->i = 0; s->i < CHUNKS; s->i++) {
        {
            size_t c = (size_t)((s->i * 5 + s->id) % CHUNKS);
            for (size_t k = 0; k < CHUNK; k++)
                s->buf[k] = byte_of(s->id, c * CHUNK + k);
            weft_file_write_all_init(&s->wr, s->f, s->buf, CHUNK, (int64_t)(c * CHUNK));
        }
        WEFT_AWAIT(s, weft_file_write_poll(&s->wr, cx, &s->n));
        if (s->n != CHUNK) {
            *res = s->n < 0 ? (int)s->n : FAIL_AT(s);
            goto out;
        }
    }
    weft_file_sync_init(&s->sy, s->f, s->id % 2);
    WEFT_AWAIT(s, weft_file_sync_poll(&s->sy, cx, &s->err));
    if (s->err < 0) {
        *res = s->err;
        goto out;
    }
    weft_file_stat_init(&s->st, s->f);
    WEFT_AWAIT(s, weft_file_stat_poll(&s->st, cx, &s->info, &s->err));
    if (s->err < 0 || s->info.size != CHUNK * CHUNKS) {
        *res = s->err < 0 ? s->err : FAIL_AT(s);
        goto out;
    }
    for (s->i = 0; s->i < CHUNKS / 4; s->i++) {
        weft_file_read_all_init(&s->rd, s->f, s->back, sizeof s->back,
                                (int64_t)(s->i * sizeof s->back));
        WEFT_AWAIT(s, weft_file_read_poll(&s->rd, cx, &s->n));
        if (s->n != (ssize_t)sizeof s->back) {
            *res = s->n < 0 ? (int)s->n : FAIL_AT(s);
            goto out;
        }
        for (size_t k = 0; k < sizeof s->back; k++)
            if (s->back[k] != byte_of(s->id, s->i * sizeof s->back + k)) {
                *res = FAIL_AT(s);
                goto out;
            }
    }
    weft_file_close_init(&s->cl, s->f);
    WEFT_AWAIT(s, weft_file_close_poll(&s->cl, cx, &s->err));
    *res = s->err;
out:
    weft_file_free(s->f);
    s->f = NULL;
    WEFT_ASYNC_END(s);
}

static const weft_future_type own_type = {
    .name = "own_file",
    .poll = own_poll,
    .state_size = sizeof(struct own_file),
    .out_size = sizeof(int),
};

static void run_own_files(weft_rt *rt, int ntasks)
{
    weft_join **js = calloc((size_t)ntasks, sizeof *js);
    char base[160];
    fs_tmp_path(base, sizeof base, "own");
    for (int i = 0; i < ntasks; i++) {
        struct own_file init = {.id = i};
        snprintf(init.path, sizeof init.path, "%s_%d", base, i);
        ASSERT_EQ(weft_spawn(rt, &own_type, &init, &js[i]), 0);
    }
    for (int i = 0; i < ntasks; i++) {
        int res = 1;
        ASSERT_EQ(weft_join_wait(js[i], &res, sizeof res), 0);
        if (res != 0)
            weft_test_fail(__FILE__, __LINE__, "task %d: %d (%s)", i, res,
                           res > -100000 ? weft_strerror(res) : "wrong data");
        char p[220];
        snprintf(p, sizeof p, "%s_%d", base, i);
        struct stat st;
        ASSERT_EQ(stat(p, &st), 0);
        ASSERT_EQ(st.st_size, CHUNK * CHUNKS);
        unlink(p);
    }
    free(js);
}

/* ------------------------------------------------------------------ one shared file */

#define SHARED_SIZE (4u << 20)

struct reader {
    weft_file *f;
    unsigned seed;
    int left;
    WEFT_ASYNC_STATE;
    weft_file_read rd;
    int64_t off;
    ssize_t n;
    unsigned char buf[CHUNK];
};

static weft_poll reader_poll(void *state, weft_cx *cx, void *out)
{
    struct reader *s = state;
    int *res = out;

    WEFT_ASYNC_BEGIN(s);
    while (s->left-- > 0) {
        s->off = (int64_t)(rand_r(&s->seed) % (SHARED_SIZE / CHUNK)) * CHUNK;
        weft_file_read_init(&s->rd, s->f, s->buf, CHUNK, s->off);
        WEFT_AWAIT(s, weft_file_read_poll(&s->rd, cx, &s->n));
        if (s->n != CHUNK) {
            *res = s->n < 0 ? (int)s->n : FAIL_AT(s);
            WEFT_ASYNC_RETURN(s);
        }
        for (size_t k = 0; k < CHUNK; k++)
            if (s->buf[k] != byte_of(0, (size_t)s->off + k)) {
                *res = FAIL_AT(s);
                WEFT_ASYNC_RETURN(s);
            }
    }
    *res = 0;
    WEFT_ASYNC_END(s);
}

static const weft_future_type reader_type = {
    .name = "reader",
    .poll = reader_poll,
    .state_size = sizeof(struct reader),
    .out_size = sizeof(int),
};

static void make_shared(const char *path)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    unsigned char *b = malloc(SHARED_SIZE);
    for (size_t k = 0; k < SHARED_SIZE; k++)
        b[k] = byte_of(0, k);
    ASSERT_EQ(write(fd, b, SHARED_SIZE), (ssize_t)SHARED_SIZE);
    free(b);
    close(fd);
}

static void run_readers(weft_rt *rt, weft_file *f, int ntasks, int each)
{
    weft_join **js = calloc((size_t)ntasks, sizeof *js);
    for (int i = 0; i < ntasks; i++) {
        struct reader init = {.f = f, .seed = (unsigned)i * 7919u + 1, .left = each};
        ASSERT_EQ(weft_spawn(rt, &reader_type, &init, &js[i]), 0);
    }
    for (int i = 0; i < ntasks; i++) {
        int res = 1;
        ASSERT_EQ(weft_join_wait(js[i], &res, sizeof res), 0);
        if (res != 0)
            weft_test_fail(__FILE__, __LINE__, "reader %d: %d", i, res);
    }
    free(js);
}

static int scaled(int n, int min)
{
    int v = (int)(n * weft_test_scale());
    return v < min ? min : v;
}

/* ------------------------------------------------------------------ tests */

TEST(many_tasks_each_with_its_own_file)
{
    int base = fs_count_fds();
    weft_rt *rt = fs_rt(WEFT_RT_MULTI_THREAD, 2);
    run_own_files(rt, 128);
    weft_rt_free(rt);
    ASSERT_EQ(fs_count_fds(), base);
}

TEST(many_tasks_reading_one_file)
{
    int base = fs_count_fds();
    weft_rt *rt = fs_rt(WEFT_RT_MULTI_THREAD, 2);
    char path[256];
    fs_tmp_path(path, sizeof path, "shared");
    make_shared(path);
    weft_file *f;
    ASSERT_EQ(fs_open(rt, path, O_RDONLY, 0, &f), 0);
    run_readers(rt, f, 64, scaled(300, 30));
    weft_file_free(f);
    weft_rt_free(rt);
    ASSERT_EQ(fs_count_fds(), base);
    unlink(path);
}

TEST(capped_fs_queue_falls_back_to_the_reactor)
{
    weft_rt *rt = fs_rt(WEFT_RT_MULTI_THREAD, 2);
    char path[256];
    fs_tmp_path(path, sizeof path, "cap");
    make_shared(path);
    weft_file *f;
    ASSERT_EQ(fs_open(rt, path, O_RDONLY, 0, &f), 0);
    ASSERT_EQ(weft_blocking_lane_set_max_threads(rt, WEFT_LANE_FS, 1), 0);
    ASSERT_EQ(weft_blocking_lane_set_max_queued(rt, WEFT_LANE_FS, 1), 0);
    run_readers(rt, f, 64, scaled(100, 20));
    run_own_files(rt, 16);
    weft_blocking_stats st;
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_FS, &st), 0);
    if (fs_on_pool(rt))
        ASSERT_GT(st.jobs_refused, 0); /* those ran on the reactor, and were right */
    else
        ASSERT_EQ(st.jobs_run, 0);
    weft_file_free(f);
    weft_rt_free(rt);
    unlink(path);
}

/* A parent that spawns readers on its own runtime and awaits them all. */
struct parent {
    weft_file *f;
    int n, each;
    int i, err, res;
    weft_join *js[32];
};

static weft_poll parent_poll(void *state, weft_cx *cx, void *out)
{
    struct parent *s = state;
    int *res = out;
    if (s->i == 0 && !s->js[0]) {
        for (int k = 0; k < s->n; k++) {
            struct reader init = {.f = s->f, .seed = (unsigned)k + 11, .left = s->each};
            int err = weft_spawn(weft_cx_rt(cx), &reader_type, &init, &s->js[k]);
            if (err < 0) {
                *res = err;
                return WEFT_READY;
            }
        }
    }
    for (; s->i < s->n; s->i++) {
        if (weft_join_poll(s->js[s->i], cx, &s->res, sizeof s->res, &s->err) == WEFT_PENDING)
            return WEFT_PENDING;
        if (s->err < 0 || s->res != 0) {
            *res = s->err < 0 ? s->err : s->res;
            for (s->i++; s->i < s->n; s->i++)
                weft_join_detach(s->js[s->i]);
            return WEFT_READY;
        }
    }
    *res = 0;
    return WEFT_READY;
}

static const weft_future_type parent_type = {
    .name = "parent",
    .poll = parent_poll,
    .state_size = sizeof(struct parent),
    .out_size = sizeof(int),
};

TEST(current_thread_runtime_many_tasks)
{
    int base = fs_count_fds();
    weft_rt *rt = fs_rt(WEFT_RT_CURRENT_THREAD, 0);
    char path[256];
    fs_tmp_path(path, sizeof path, "ctshared");
    make_shared(path);
    weft_file *f;
    ASSERT_EQ(fs_open(rt, path, O_RDONLY, 0, &f), 0);
    struct parent init = {.f = f, .n = 32, .each = scaled(200, 20)};
    int res = 1;
    ASSERT_EQ(weft_rt_block_on(rt, &parent_type, &init, &res), 0);
    ASSERT_EQ(res, 0);
    weft_file_free(f);
    weft_rt_free(rt);
    ASSERT_EQ(fs_count_fds(), base);
    unlink(path);
}

TEST_MAIN()
