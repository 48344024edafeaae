/* Bad arguments to every public function of weft/fs.h (fs_args@uring, fs_args@epoll): -EINVAL
 * (or -EBADF where the file is the problem), never a crash, nothing leaked; futures polled
 * after READY, zeroed futures, NULL out-parameters. */
#include "fs_helpers.h"

/* Poll a future that must finish at the first poll, inside a task. */
struct bad {
    int which;
    weft_file *file;
    int started;
    char buf[8];
    union {
        weft_file_open open;
        weft_file_read rd;
        weft_file_write wr;
        weft_file_sync sy;
        weft_file_stat st;
        weft_file_close cl;
    } u;
};

enum {
    B_OPEN_NULL_PATH = 1,
    B_OPEN_NULL_FILE_OUT,
    B_OPEN_NULL_CX,
    B_READ_NULL_FILE,
    B_READ_NULL_BUF,
    B_READ_NEG_OFFSET,
    B_READ_OVERFLOW_OFFSET,
    B_WRITE_NULL_BUF,
    B_WRITE_NEG_OFFSET,
    B_SYNC_NULL_FILE,
    B_STAT_NULL_FILE,
    B_STAT_NULL_PATH,
    B_STAT_NULL_INFO,
    B_CLOSE_NULL_FILE,
    B_ZEROED_READ,
    B_ZEROED_OPEN,
    B_READ_TWICE,
    B_NULL_RESULTS,
    B_COUNT
};

static weft_poll bad_poll(void *state, weft_cx *cx, void *out)
{
    struct bad *b = state;
    int r = 12345;
    ssize_t n = 12345;
    weft_file *f = (weft_file *)(uintptr_t)1;
    weft_file_info info;
    char buf[8];
    weft_poll p = WEFT_READY;

    switch (b->which) {
    case B_OPEN_NULL_PATH:
        weft_file_open_init(&b->u.open, NULL, O_RDONLY, 0);
        p = weft_file_open_poll(&b->u.open, cx, &f, &r);
        if (f != NULL)
            r = 777;
        break;
    case B_OPEN_NULL_FILE_OUT:
        weft_file_open_init(&b->u.open, "/etc/hostname", O_RDONLY, 0);
        p = weft_file_open_poll(&b->u.open, cx, NULL, &r);
        break;
    case B_OPEN_NULL_CX:
        weft_file_open_init(&b->u.open, "/etc/hostname", O_RDONLY, 0);
        p = weft_file_open_poll(&b->u.open, NULL, &f, &r);
        break;
    case B_READ_NULL_FILE:
        weft_file_read_init(&b->u.rd, NULL, buf, sizeof buf, 0);
        p = weft_file_read_poll(&b->u.rd, cx, &n);
        r = (int)n;
        break;
    case B_READ_NULL_BUF:
        weft_file_read_all_init(&b->u.rd, b->file, NULL, 10, 0);
        p = weft_file_read_poll(&b->u.rd, cx, &n);
        r = (int)n;
        break;
    case B_READ_NEG_OFFSET:
        weft_file_read_init(&b->u.rd, b->file, buf, sizeof buf, -2);
        p = weft_file_read_poll(&b->u.rd, cx, &n);
        r = (int)n;
        break;
    case B_READ_OVERFLOW_OFFSET:
        weft_file_read_init(&b->u.rd, b->file, buf, sizeof buf, INT64_MAX - 2);
        p = weft_file_read_poll(&b->u.rd, cx, &n);
        r = (int)n;
        break;
    case B_WRITE_NULL_BUF:
        weft_file_write_init(&b->u.wr, b->file, NULL, 3, 0);
        p = weft_file_write_poll(&b->u.wr, cx, &n);
        r = (int)n;
        break;
    case B_WRITE_NEG_OFFSET:
        weft_file_write_all_init(&b->u.wr, b->file, "abc", 3, INT64_MIN);
        p = weft_file_write_poll(&b->u.wr, cx, &n);
        r = (int)n;
        break;
    case B_SYNC_NULL_FILE:
        weft_file_sync_init(&b->u.sy, NULL, false);
        p = weft_file_sync_poll(&b->u.sy, cx, &r);
        break;
    case B_STAT_NULL_FILE:
        weft_file_stat_init(&b->u.st, NULL);
        p = weft_file_stat_poll(&b->u.st, cx, &info, &r);
        break;
    case B_STAT_NULL_PATH:
        weft_file_stat_path_init(&b->u.st, NULL, true);
        p = weft_file_stat_poll(&b->u.st, cx, &info, &r);
        break;
    case B_STAT_NULL_INFO:
        weft_file_stat_init(&b->u.st, b->file);
        p = weft_file_stat_poll(&b->u.st, cx, NULL, &r);
        break;
    case B_CLOSE_NULL_FILE:
        weft_file_close_init(&b->u.cl, NULL);
        p = weft_file_close_poll(&b->u.cl, cx, &r);
        break;
    case B_ZEROED_READ:
        memset(&b->u, 0, sizeof b->u);
        p = weft_file_read_poll(&b->u.rd, cx, &n);
        r = (int)n;
        break;
    case B_ZEROED_OPEN:
        memset(&b->u, 0, sizeof b->u);
        p = weft_file_open_poll(&b->u.open, cx, &f, &r);
        break;
    case B_READ_TWICE: { /* polled again after READY */
        if (!b->started) {
            weft_file_read_init(&b->u.rd, b->file, b->buf, sizeof b->buf, 0);
            b->started = 1;
        }
        if (weft_file_read_poll(&b->u.rd, cx, &n) == WEFT_PENDING)
            return WEFT_PENDING; /* woken when it completes */
        if (n < 0) {
            r = 999;
            break;
        }
        p = weft_file_read_poll(&b->u.rd, cx, &n);
        r = (int)n;
        weft_file_read_drop(&b->u.rd); /* harmless after READY */
        weft_file_read_drop(&b->u.rd);
        break;
    }
    case B_NULL_RESULTS: /* NULL result pointers are allowed: the result is dropped */
        weft_file_sync_init(&b->u.sy, NULL, false);
        p = weft_file_sync_poll(&b->u.sy, cx, NULL);
        weft_file_close_init(&b->u.cl, NULL);
        p |= weft_file_close_poll(&b->u.cl, cx, NULL);
        weft_file_read_init(&b->u.rd, NULL, NULL, 0, 0);
        p |= weft_file_read_poll(&b->u.rd, cx, NULL);
        r = -EINVAL;
        break;
    }
    if (p != WEFT_READY)
        r = 888; /* must finish at the first poll */
    *(int *)out = r;
    return WEFT_READY;
}

static const weft_future_type bad_type = {
    .name = "bad",
    .poll = bad_poll,
    .state_size = sizeof(struct bad),
    .out_size = sizeof(int),
};

TEST(every_future_rejects_bad_arguments)
{
    weft_rt *rt = fs_rt(WEFT_RT_MULTI_THREAD, 2);
    weft_file *f;
    ASSERT_EQ(fs_open(rt, "/etc/hostname", O_RDONLY, 0, &f), 0);
    for (int w = 1; w < B_COUNT; w++) {
        struct bad b = {.which = w, .file = f};
        int r = 0;
        ASSERT_EQ(weft_rt_block_on(rt, &bad_type, &b, &r), 0);
        if (w == B_READ_OVERFLOW_OFFSET || w == B_READ_TWICE || w == B_NULL_RESULTS ||
            w == B_OPEN_NULL_CX || w == B_ZEROED_OPEN || w == B_ZEROED_READ)
            ASSERT_EQ(r, -EINVAL);
        else if (r != -EINVAL)
            weft_test_fail(__FILE__, __LINE__, "case %d: %d", w, r);
    }
    weft_file_free(f);
    weft_rt_free(rt);
}

TEST(handle_functions_reject_bad_arguments)
{
    weft_file *f = (weft_file *)(uintptr_t)1;
    ASSERT_EQ(weft_file_from_fd(NULL, 0), -EINVAL);
    ASSERT_EQ(weft_file_from_fd(&f, -1), -EINVAL);
    ASSERT_TRUE(f == NULL);
    ASSERT_EQ(weft_file_fd(NULL), -EINVAL);
    weft_file_free(NULL);
    /* NULL futures: init and drop are no-ops. */
    weft_file_open_init(NULL, "x", 0, 0);
    weft_file_read_init(NULL, NULL, NULL, 0, 0);
    weft_file_read_all_init(NULL, NULL, NULL, 0, 0);
    weft_file_write_init(NULL, NULL, NULL, 0, 0);
    weft_file_write_all_init(NULL, NULL, NULL, 0, 0);
    weft_file_sync_init(NULL, NULL, false);
    weft_file_stat_init(NULL, NULL);
    weft_file_stat_path_init(NULL, NULL, false);
    weft_file_close_init(NULL, NULL);
    weft_file_open_drop(NULL);
    weft_file_read_drop(NULL);
    weft_file_write_drop(NULL);
    weft_file_sync_drop(NULL);
    weft_file_stat_drop(NULL);
    weft_file_close_drop(NULL);
    /* NULL future to a poll. */
    weft_cx cx = {0};
    ssize_t n = 0;
    int r = 0;
    ASSERT_EQ(weft_file_read_poll(NULL, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    ASSERT_EQ(weft_file_write_poll(NULL, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    ASSERT_EQ(weft_file_open_poll(NULL, &cx, &f, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    ASSERT_EQ(weft_file_sync_poll(NULL, &cx, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    weft_file_info info;
    ASSERT_EQ(weft_file_stat_poll(NULL, &cx, &info, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    ASSERT_EQ(weft_file_close_poll(NULL, &cx, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
}

TEST(dropping_unpolled_and_finished_futures_is_harmless)
{
    weft_rt *rt = fs_rt(WEFT_RT_MULTI_THREAD, 2);
    weft_file *f;
    ASSERT_EQ(fs_open(rt, "/etc/hostname", O_RDONLY, 0, &f), 0);
    char buf[8];
    weft_file_open open;
    weft_file_read rd;
    weft_file_write wr;
    weft_file_sync sy;
    weft_file_stat st;
    weft_file_close cl;
    weft_file_open_init(&open, "/etc/hostname", O_RDONLY, 0);
    weft_file_read_init(&rd, f, buf, sizeof buf, 0);
    weft_file_write_init(&wr, f, buf, sizeof buf, 0);
    weft_file_sync_init(&sy, f, true);
    weft_file_stat_path_init(&st, "/etc/hostname", true);
    weft_file_close_init(&cl, f);
    for (int i = 0; i < 2; i++) {
        weft_file_open_drop(&open);
        weft_file_read_drop(&rd);
        weft_file_write_drop(&wr);
        weft_file_sync_drop(&sy);
        weft_file_stat_drop(&st);
        weft_file_close_drop(&cl);
    }
    /* The unpolled close did nothing: the file still works. */
    ASSERT_GE(weft_file_fd(f), 0);
    ASSERT_GE(fs_rw(rt, OP_READ, f, buf, sizeof buf, 0), 0);
    weft_file_free(f);
    weft_rt_free(rt);
}

TEST_MAIN()
