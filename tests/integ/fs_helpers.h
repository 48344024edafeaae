/* Helpers shared by the fs_*_test.c files: run one file future as a task (fs_open, fs_read...),
 * temporary paths, descriptor counting. Header-only; each test file includes it once. */
#ifndef WEFT_TEST_FS_HELPERS_H
#define WEFT_TEST_FS_HELPERS_H

#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io.h"
#include "test.h"
#include "weft.h"

enum {
    OP_OPEN = 1,
    OP_READ,
    OP_READ_ALL,
    OP_WRITE,
    OP_WRITE_ALL,
    OP_SYNC,
    OP_DATASYNC,
    OP_STAT,
    OP_STAT_PATH,
    OP_LSTAT_PATH,
    OP_CLOSE,
    OP_OPEN_BENEATH,
};

/* One file operation as a task: the arguments, then the future. */
struct op_task {
    int kind;
    const char *path;
    int flags;
    mode_t mode;
    weft_file *file;
    void *buf;
    size_t len;
    int64_t off;
    union {
        weft_file_open open;
        weft_file_read rd;
        weft_file_write wr;
        weft_file_sync sy;
        weft_file_stat st;
        weft_file_close cl;
    } u;
    int started;
    int dirfd;        /* OP_OPEN_BENEATH */
    unsigned resolve; /* OP_OPEN_BENEATH */
};

struct op_out {
    int64_t res;
    weft_file *file;
    weft_file_info info;
};

static inline void op_start(struct op_task *t)
{
    switch (t->kind) {
    case OP_OPEN:
        weft_file_open_init(&t->u.open, t->path, t->flags, t->mode);
        break;
    case OP_OPEN_BENEATH:
        weft_file_open_beneath_init(&t->u.open, t->dirfd, t->path, t->flags, t->mode,
                                    t->resolve);
        break;
    case OP_READ:
        weft_file_read_init(&t->u.rd, t->file, t->buf, t->len, t->off);
        break;
    case OP_READ_ALL:
        weft_file_read_all_init(&t->u.rd, t->file, t->buf, t->len, t->off);
        break;
    case OP_WRITE:
        weft_file_write_init(&t->u.wr, t->file, t->buf, t->len, t->off);
        break;
    case OP_WRITE_ALL:
        weft_file_write_all_init(&t->u.wr, t->file, t->buf, t->len, t->off);
        break;
    case OP_SYNC:
        weft_file_sync_init(&t->u.sy, t->file, false);
        break;
    case OP_DATASYNC:
        weft_file_sync_init(&t->u.sy, t->file, true);
        break;
    case OP_STAT:
        weft_file_stat_init(&t->u.st, t->file);
        break;
    case OP_STAT_PATH:
        weft_file_stat_path_init(&t->u.st, t->path, true);
        break;
    case OP_LSTAT_PATH:
        weft_file_stat_path_init(&t->u.st, t->path, false);
        break;
    case OP_CLOSE:
        weft_file_close_init(&t->u.cl, t->file);
        break;
    }
}

/* Poll the operation once; READY with o->res (and o->file / o->info) filled in. */
static inline weft_poll op_step(struct op_task *t, weft_cx *cx, struct op_out *o)
{
    weft_poll p = WEFT_READY;
    ssize_t n = 0;
    int r = 0;

    if (!t->started) {
        op_start(t);
        t->started = 1;
    }
    switch (t->kind) {
    case OP_OPEN:
    case OP_OPEN_BENEATH:
        p = weft_file_open_poll(&t->u.open, cx, &o->file, &r);
        n = r;
        break;
    case OP_READ:
    case OP_READ_ALL:
        p = weft_file_read_poll(&t->u.rd, cx, &n);
        break;
    case OP_WRITE:
    case OP_WRITE_ALL:
        p = weft_file_write_poll(&t->u.wr, cx, &n);
        break;
    case OP_SYNC:
    case OP_DATASYNC:
        p = weft_file_sync_poll(&t->u.sy, cx, &r);
        n = r;
        break;
    case OP_STAT:
    case OP_STAT_PATH:
    case OP_LSTAT_PATH:
        p = weft_file_stat_poll(&t->u.st, cx, &o->info, &r);
        n = r;
        break;
    case OP_CLOSE:
        p = weft_file_close_poll(&t->u.cl, cx, &r);
        n = r;
        break;
    }
    if (p == WEFT_READY)
        o->res = n;
    return p;
}

static inline void op_drop_future(struct op_task *t)
{
    if (!t->started)
        return;
    switch (t->kind) {
    case OP_OPEN:
    case OP_OPEN_BENEATH:
        weft_file_open_drop(&t->u.open);
        break;
    case OP_READ:
    case OP_READ_ALL:
        weft_file_read_drop(&t->u.rd);
        break;
    case OP_WRITE:
    case OP_WRITE_ALL:
        weft_file_write_drop(&t->u.wr);
        break;
    case OP_SYNC:
    case OP_DATASYNC:
        weft_file_sync_drop(&t->u.sy);
        break;
    case OP_STAT:
    case OP_STAT_PATH:
    case OP_LSTAT_PATH:
        weft_file_stat_drop(&t->u.st);
        break;
    case OP_CLOSE:
        weft_file_close_drop(&t->u.cl);
        break;
    }
}

static weft_poll op_task_poll(void *state, weft_cx *cx, void *out)
{
    struct op_out o = {0};
    if (op_step(state, cx, &o) == WEFT_PENDING)
        return WEFT_PENDING;
    memcpy(out, &o, sizeof o);
    return WEFT_READY;
}

static void op_task_drop(void *state)
{
    op_drop_future(state);
}

static const weft_future_type op_type = {
    .name = "fs_op",
    .poll = op_task_poll,
    .drop = op_task_drop,
    .state_size = sizeof(struct op_task),
    .out_size = sizeof(struct op_out),
};

/* Run one operation to the end on rt (rt NULL: polled by hand, outside any runtime). */
static inline struct op_out fs_run(weft_rt *rt, struct op_task t)
{
    struct op_out o = {0};
    if (!rt) {
        weft_cx cx = {0};
        ASSERT_EQ(op_step(&t, &cx, &o), WEFT_READY);
        return o;
    }
    int err = weft_rt_block_on(rt, &op_type, &t, &o);
    ASSERT_EQ(err, 0);
    return o;
}

static inline int fs_open(weft_rt *rt, const char *path, int flags, mode_t mode, weft_file **f)
{
    struct op_out o =
        fs_run(rt, (struct op_task){.kind = OP_OPEN, .path = path, .flags = flags, .mode = mode});
    *f = o.file;
    if (o.res == 0)
        ASSERT_TRUE(o.file != NULL);
    else
        ASSERT_TRUE(o.file == NULL);
    return (int)o.res;
}

/* Open `path` beneath the directory dirfd (weft_file_open_beneath_init). */
static inline int fs_open_beneath(weft_rt *rt, int dirfd, const char *path, int flags,
                                  mode_t mode, unsigned resolve, weft_file **f)
{
    struct op_out o = fs_run(rt, (struct op_task){.kind = OP_OPEN_BENEATH, .dirfd = dirfd,
                                                  .path = path, .flags = flags, .mode = mode,
                                                  .resolve = resolve});
    *f = o.file;
    if (o.res == 0)
        ASSERT_TRUE(o.file != NULL);
    else
        ASSERT_TRUE(o.file == NULL);
    return (int)o.res;
}

static inline ssize_t fs_rw(weft_rt *rt, int kind, weft_file *f, const void *buf, size_t len,
                            int64_t off)
{
    return (ssize_t)fs_run(rt,
                           (struct op_task){
                               .kind = kind, .file = f, .buf = (void *)buf, .len = len, .off = off})
        .res;
}

static inline int fs_simple(weft_rt *rt, int kind, weft_file *f)
{
    return (int)fs_run(rt, (struct op_task){.kind = kind, .file = f}).res;
}

static inline int fs_stat(weft_rt *rt, int kind, weft_file *f, const char *path,
                          weft_file_info *info)
{
    struct op_out o = fs_run(rt, (struct op_task){.kind = kind, .file = f, .path = path});
    if (o.res == 0)
        *info = o.info;
    return (int)o.res;
}

/* A fresh path under $TMPDIR (or /tmp), removed by the caller. */
static inline void fs_tmp_path(char *out, size_t n, const char *tag)
{
    static _Atomic int seq;
    const char *dir = getenv("TMPDIR");
    snprintf(out, n, "%s/weft_fs_%d_%s_%d", dir && *dir ? dir : "/tmp", (int)getpid(), tag,
             atomic_fetch_add(&seq, 1));
}

/* Open descriptors of this process. */
static inline int fs_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    ASSERT_TRUE(d != NULL);
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the DIR's own fd */
}

static inline weft_rt *fs_rt(weft_rt_flavor flavor, unsigned workers)
{
    weft_rt *rt = NULL;
    ASSERT_EQ(
        weft_rt_new(&rt,
                    &(weft_rt_config){.flavor = flavor, .workers = workers, .thread_name = "fs"}),
        0);
    return rt;
}

static inline bool fs_on_pool(weft_rt *rt)
{
    return weft__io_backend_of(rt) == WEFT__IO_BACKEND_EPOLL;
}

#endif
