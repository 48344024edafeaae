/* Files on both backends (registered as fs_basic@uring and fs_basic@epoll): reads and writes at
 * offsets and at the current position, short reads at end of file, read_all/write_all, large
 * files and offsets past 4 GiB, fsync/fdatasync, stat of a file and of a path, open flags
 * (O_CREAT|O_EXCL, O_TRUNC, O_APPEND, access modes, O_CLOEXEC), errors (ENOENT, EISDIR,
 * EBADF after close), both runtime flavours and polling by hand outside a runtime. */
#include "fs_helpers.h"

static weft_rt *mt(void)
{
    return fs_rt(WEFT_RT_MULTI_THREAD, 2);
}

/* A file of n bytes whose byte i is pattern(i), written with plain syscalls. */
static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 7 + (i >> 9) * 13 + 1);
}

static void make_file(const char *path, size_t n)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    unsigned char chunk[8192];
    for (size_t done = 0; done < n;) {
        size_t k = n - done < sizeof chunk ? n - done : sizeof chunk;
        for (size_t i = 0; i < k; i++)
            chunk[i] = pattern(done + i);
        ASSERT_EQ(write(fd, chunk, k), (ssize_t)k);
        done += k;
    }
    close(fd);
}

static void check_pattern(const unsigned char *buf, size_t n, size_t off)
{
    for (size_t i = 0; i < n; i++)
        if (buf[i] != pattern(off + i))
            weft_test_fail(__FILE__, __LINE__, "byte %zu: %u != %u", off + i, buf[i],
                           pattern(off + i));
}

TEST(read_at_offsets_and_short_read_at_eof)
{
    weft_rt *rt = mt();
    char path[256];
    fs_tmp_path(path, sizeof path, "rd");
    make_file(path, 10000);
    weft_file *f;
    ASSERT_EQ(fs_open(rt, path, O_RDONLY, 0, &f), 0);
    unsigned char buf[4096];

    ASSERT_EQ(fs_rw(rt, OP_READ, f, buf, 4096, 0), 4096);
    check_pattern(buf, 4096, 0);
    ASSERT_EQ(fs_rw(rt, OP_READ, f, buf, 100, 5000), 100);
    check_pattern(buf, 100, 5000);
    /* Short read at end of file, then 0 at and past the end. */
    ASSERT_EQ(fs_rw(rt, OP_READ, f, buf, 4096, 8000), 2000);
    check_pattern(buf, 2000, 8000);
    ASSERT_EQ(fs_rw(rt, OP_READ, f, buf, 4096, 10000), 0);
    ASSERT_EQ(fs_rw(rt, OP_READ, f, buf, 4096, 1 << 30), 0);
    /* read_all: fills the buffer, or stops at end of file. */
    ASSERT_EQ(fs_rw(rt, OP_READ_ALL, f, buf, 4096, 3), 4096);
    check_pattern(buf, 4096, 3);
    ASSERT_EQ(fs_rw(rt, OP_READ_ALL, f, buf, 4096, 7000), 3000);
    check_pattern(buf, 3000, 7000);
    /* Length 0 reads nothing. */
    ASSERT_EQ(fs_rw(rt, OP_READ, f, buf, 0, 0), 0);
    weft_file_free(f);
    unlink(path);
    weft_rt_free(rt);
}

TEST(current_position_reads_and_writes)
{
    weft_rt *rt = mt();
    char path[256];
    fs_tmp_path(path, sizeof path, "pos");
    make_file(path, 3000);
    weft_file *f;
    ASSERT_EQ(fs_open(rt, path, O_RDWR, 0, &f), 0);
    unsigned char buf[4096];
    /* Positional reads do not move the position; current-position ones do. */
    ASSERT_EQ(fs_rw(rt, OP_READ, f, buf, 10, 500), 10);
    ASSERT_EQ(fs_rw(rt, OP_READ, f, buf, 1000, WEFT_FILE_CURRENT), 1000);
    check_pattern(buf, 1000, 0);
    ASSERT_EQ(fs_rw(rt, OP_READ_ALL, f, buf, 4096, WEFT_FILE_CURRENT), 2000);
    check_pattern(buf, 2000, 1000);
    ASSERT_EQ(fs_rw(rt, OP_READ, f, buf, 10, WEFT_FILE_CURRENT), 0);
    /* Writes at the current position (the end now) extend the file. */
    ASSERT_EQ(fs_rw(rt, OP_WRITE_ALL, f, "tail", 4, WEFT_FILE_CURRENT), 4);
    ASSERT_EQ(lseek(weft_file_fd(f), 0, SEEK_CUR), 3004);
    ASSERT_EQ(fs_rw(rt, OP_READ, f, buf, 4, 3000), 4);
    ASSERT_EQ(memcmp(buf, "tail", 4), 0);
    weft_file_free(f);
    unlink(path);
    weft_rt_free(rt);
}

TEST(write_at_offsets_then_read_back)
{
    weft_rt *rt = mt();
    char path[256];
    fs_tmp_path(path, sizeof path, "wr");
    weft_file *f;
    ASSERT_EQ(fs_open(rt, path, O_RDWR | O_CREAT | O_TRUNC, 0640, &f), 0);
    ASSERT_EQ(fs_rw(rt, OP_WRITE, f, "hello", 5, 0), 5);
    ASSERT_EQ(fs_rw(rt, OP_WRITE, f, "world", 5, 100), 5); /* a hole in between */
    ASSERT_EQ(fs_rw(rt, OP_WRITE_ALL, f, "HE", 2, 0), 2);
    char buf[200];
    memset(buf, 'x', sizeof buf);
    ASSERT_EQ(fs_rw(rt, OP_READ_ALL, f, buf, sizeof buf, 0), 105);
    ASSERT_EQ(memcmp(buf, "HEllo", 5), 0);
    for (int i = 5; i < 100; i++)
        ASSERT_EQ(buf[i], 0);
    ASSERT_EQ(memcmp(buf + 100, "world", 5), 0);
    /* What the kernel sees matches. */
    char raw[8];
    ASSERT_EQ(pread(weft_file_fd(f), raw, 5, 100), 5);
    ASSERT_EQ(memcmp(raw, "world", 5), 0);
    ASSERT_EQ(fs_simple(rt, OP_SYNC, f), 0);
    ASSERT_EQ(fs_simple(rt, OP_DATASYNC, f), 0);
    weft_file_info info = {0};
    ASSERT_EQ(fs_stat(rt, OP_STAT, f, NULL, &info), 0);
    ASSERT_EQ(info.size, 105);
    ASSERT_EQ(info.mode & 0777, 0640);
    ASSERT_TRUE(S_ISREG(info.mode));
    ASSERT_EQ(fs_simple(rt, OP_CLOSE, f), 0);
    weft_file_free(f);
    unlink(path);
    weft_rt_free(rt);
}

TEST(large_file_and_offsets_past_4_gib)
{
    weft_rt *rt = mt();
    char path[256];
    fs_tmp_path(path, sizeof path, "big");
    size_t n = (size_t)(64.0 * 1024 * 1024 * weft_test_scale());
    if (n < (1u << 20))
        n = 1u << 20;
    unsigned char *src = malloc(n), *dst = malloc(n);
    ASSERT_TRUE(src && dst);
    for (size_t i = 0; i < n; i++)
        src[i] = pattern(i);
    weft_file *f;
    ASSERT_EQ(fs_open(rt, path, O_RDWR | O_CREAT | O_TRUNC, 0600, &f), 0);
    ASSERT_EQ(fs_rw(rt, OP_WRITE_ALL, f, src, n, 0), (ssize_t)n);
    ASSERT_EQ(fs_simple(rt, OP_DATASYNC, f), 0);
    memset(dst, 0, n);
    ASSERT_EQ(fs_rw(rt, OP_READ_ALL, f, dst, n, 0), (ssize_t)n);
    ASSERT_EQ(memcmp(src, dst, n), 0);
    /* Unaligned chunked reads across the whole file. */
    for (size_t off = 0; off < n; off += 1000003) {
        size_t k = n - off < 70001 ? n - off : 70001;
        ASSERT_EQ(fs_rw(rt, OP_READ, f, dst, k, (int64_t)off), (ssize_t)k);
        check_pattern(dst, k, off);
    }
    /* A sparse write at 5 GiB: 64-bit offsets all the way. */
    int64_t far = 5ll << 30;
    ASSERT_EQ(fs_rw(rt, OP_WRITE, f, "far", 3, far), 3);
    char buf[8] = {0};
    ASSERT_EQ(fs_rw(rt, OP_READ, f, buf, 8, far), 3);
    ASSERT_EQ(memcmp(buf, "far", 3), 0);
    weft_file_info info = {0};
    ASSERT_EQ(fs_stat(rt, OP_STAT, f, NULL, &info), 0);
    ASSERT_EQ(info.size, (uint64_t)far + 3);
    ASSERT_LT(info.blocks * 512, (uint64_t)n + (64u << 20)); /* still sparse */
    weft_file_free(f);
    unlink(path);
    free(src);
    free(dst);
    weft_rt_free(rt);
}

TEST(stat_of_file_and_path_matches_the_kernel)
{
    weft_rt *rt = mt();
    char path[256], link[300];
    fs_tmp_path(path, sizeof path, "st");
    snprintf(link, sizeof link, "%s.lnk", path);
    make_file(path, 12345);
    ASSERT_EQ(symlink(path, link), 0);
    struct stat ref;
    ASSERT_EQ(stat(path, &ref), 0);

    weft_file_info a = {0}, b = {0}, c = {0};
    ASSERT_EQ(fs_stat(rt, OP_STAT_PATH, NULL, path, &a), 0);
    ASSERT_EQ(a.size, 12345);
    ASSERT_EQ(a.ino, (uint64_t)ref.st_ino);
    ASSERT_EQ(a.dev, (uint64_t)ref.st_dev);
    ASSERT_EQ(a.mode, ref.st_mode);
    ASSERT_EQ(a.uid, ref.st_uid);
    ASSERT_EQ(a.nlink, 1);
    ASSERT_EQ(a.mtime_ns, (int64_t)ref.st_mtim.tv_sec * 1000000000 + ref.st_mtim.tv_nsec);
    ASSERT_GT(a.blksize, 0);
    /* Through the symlink: followed, or not (lstat). */
    ASSERT_EQ(fs_stat(rt, OP_STAT_PATH, NULL, link, &b), 0);
    ASSERT_EQ(b.ino, a.ino);
    ASSERT_EQ(fs_stat(rt, OP_LSTAT_PATH, NULL, link, &c), 0);
    ASSERT_TRUE(S_ISLNK(c.mode));
    ASSERT_NE(c.ino, a.ino);
    /* fstat of an open file. */
    weft_file *f;
    ASSERT_EQ(fs_open(rt, path, O_RDONLY, 0, &f), 0);
    ASSERT_EQ(fs_stat(rt, OP_STAT, f, NULL, &b), 0);
    ASSERT_EQ(b.ino, a.ino);
    ASSERT_EQ(b.size, 12345);
    weft_file_free(f);
    /* A directory, and errors. */
    ASSERT_EQ(fs_stat(rt, OP_STAT_PATH, NULL, "/tmp", &c), 0);
    ASSERT_TRUE(S_ISDIR(c.mode));
    ASSERT_EQ(fs_stat(rt, OP_STAT_PATH, NULL, "/nonexistent/weft/x", &c), -ENOENT);
    char notdir[300];
    snprintf(notdir, sizeof notdir, "%s/x", path);
    ASSERT_EQ(fs_stat(rt, OP_STAT_PATH, NULL, notdir, &c), -ENOTDIR);
    unlink(link);
    unlink(path);
    weft_rt_free(rt);
}

TEST(open_flags_are_honoured)
{
    weft_rt *rt = mt();
    char path[256];
    fs_tmp_path(path, sizeof path, "fl");
    weft_file *f, *g;

    /* O_CREAT|O_EXCL creates with the mode (umask applies), then refuses. */
    mode_t um = umask(022);
    ASSERT_EQ(fs_open(rt, path, O_WRONLY | O_CREAT | O_EXCL, 0666, &f), 0);
    umask(um);
    struct stat st;
    ASSERT_EQ(fstat(weft_file_fd(f), &st), 0);
    ASSERT_EQ(st.st_mode & 0777, 0644);
    /* Always close-on-exec. */
    ASSERT_TRUE(fcntl(weft_file_fd(f), F_GETFD) & FD_CLOEXEC);
    ASSERT_EQ(fs_open(rt, path, O_WRONLY | O_CREAT | O_EXCL, 0600, &g), -EEXIST);
    ASSERT_EQ(fs_rw(rt, OP_WRITE_ALL, f, "0123456789", 10, 0), 10);
    /* Access modes: a write-only file cannot be read, a read-only one cannot be written. */
    char buf[16];
    ASSERT_EQ(fs_rw(rt, OP_READ, f, buf, 4, 0), -EBADF);
    weft_file_free(f);
    ASSERT_EQ(fs_open(rt, path, O_RDONLY, 0, &f), 0);
    ASSERT_EQ(fs_rw(rt, OP_WRITE, f, "x", 1, 0), -EBADF);
    weft_file_free(f);
    /* O_APPEND: writes go to the end whatever the offset asked. */
    ASSERT_EQ(fs_open(rt, path, O_WRONLY | O_APPEND, 0, &f), 0);
    ASSERT_EQ(fs_rw(rt, OP_WRITE, f, "ab", 2, WEFT_FILE_CURRENT), 2);
    weft_file_free(f);
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_EQ(st.st_size, 12);
    /* O_TRUNC empties it. */
    ASSERT_EQ(fs_open(rt, path, O_RDWR | O_TRUNC, 0, &f), 0);
    ASSERT_EQ(fstat(weft_file_fd(f), &st), 0);
    ASSERT_EQ(st.st_size, 0);
    ASSERT_EQ(fs_rw(rt, OP_READ, f, buf, 4, 0), 0);
    weft_file_free(f);
    /* O_DIRECTORY on a file; O_NOFOLLOW on a symlink. */
    ASSERT_EQ(fs_open(rt, path, O_RDONLY | O_DIRECTORY, 0, &f), -ENOTDIR);
    char link[300];
    snprintf(link, sizeof link, "%s.lnk", path);
    ASSERT_EQ(symlink(path, link), 0);
    ASSERT_EQ(fs_open(rt, link, O_RDONLY | O_NOFOLLOW, 0, &f), -ELOOP);
    unlink(link);
    unlink(path);
    weft_rt_free(rt);
}

TEST(errors_enoent_eisdir_ebadf_after_close)
{
    weft_rt *rt = mt();
    weft_file *f;
    char buf[16];
    ASSERT_EQ(fs_open(rt, "/nonexistent/weft/file", O_RDONLY, 0, &f), -ENOENT);
    ASSERT_EQ(fs_open(rt, "", O_RDONLY, 0, &f), -ENOENT);
    ASSERT_EQ(fs_open(rt, "/tmp", O_WRONLY, 0, &f), -EISDIR);
    /* A directory opens read-only, and reading it is EISDIR. */
    ASSERT_EQ(fs_open(rt, "/tmp", O_RDONLY, 0, &f), 0);
    ASSERT_EQ(fs_rw(rt, OP_READ, f, buf, sizeof buf, 0), -EISDIR);
    weft_file_free(f);

    char path[256];
    fs_tmp_path(path, sizeof path, "ebadf");
    ASSERT_EQ(fs_open(rt, path, O_RDWR | O_CREAT, 0600, &f), 0);
    int fd = weft_file_fd(f);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(fs_simple(rt, OP_CLOSE, f), 0);
    /* The descriptor is gone, and the handle refuses everything. */
    ASSERT_EQ(fcntl(fd, F_GETFD), -1);
    ASSERT_EQ(weft_file_fd(f), -EBADF);
    ASSERT_EQ(fs_rw(rt, OP_READ, f, buf, sizeof buf, 0), -EBADF);
    ASSERT_EQ(fs_rw(rt, OP_WRITE, f, "x", 1, 0), -EBADF);
    ASSERT_EQ(fs_rw(rt, OP_READ, f, buf, 0, 0), -EBADF);
    ASSERT_EQ(fs_simple(rt, OP_SYNC, f), -EBADF);
    weft_file_info info = {0};
    ASSERT_EQ(fs_stat(rt, OP_STAT, f, NULL, &info), -EBADF);
    ASSERT_EQ(fs_simple(rt, OP_CLOSE, f), -EBADF); /* twice */
    weft_file_free(f);
    /* A descriptor closed behind weft's back: the kernel's EBADF comes through. */
    int raw = open(path, O_RDONLY | O_CLOEXEC);
    ASSERT_GE(raw, 0);
    ASSERT_EQ(weft_file_from_fd(&f, raw), 0);
    ASSERT_EQ(weft_file_fd(f), raw);
    close(raw);
    ASSERT_EQ(fs_rw(rt, OP_READ, f, buf, sizeof buf, 0), -EBADF);
    ASSERT_EQ(fs_simple(rt, OP_SYNC, f), -EBADF);
    weft_file_free(f); /* closes a dead number: harmless */
    unlink(path);
    weft_rt_free(rt);
}

TEST(current_thread_runtime)
{
    weft_rt *rt = fs_rt(WEFT_RT_CURRENT_THREAD, 0);
    char path[256];
    fs_tmp_path(path, sizeof path, "ct");
    weft_file *f;
    ASSERT_EQ(fs_open(rt, path, O_RDWR | O_CREAT | O_TRUNC, 0600, &f), 0);
    ASSERT_EQ(fs_rw(rt, OP_WRITE_ALL, f, "current thread", 14, 0), 14);
    ASSERT_EQ(fs_simple(rt, OP_SYNC, f), 0);
    char buf[32] = {0};
    ASSERT_EQ(fs_rw(rt, OP_READ_ALL, f, buf, sizeof buf, 0), 14);
    ASSERT_STREQ(buf, "current thread");
    weft_file_info info = {0};
    ASSERT_EQ(fs_stat(rt, OP_STAT, f, NULL, &info), 0);
    ASSERT_EQ(info.size, 14);
    ASSERT_EQ(fs_simple(rt, OP_CLOSE, f), 0);
    weft_file_free(f);
    unlink(path);
    weft_rt_free(rt);
}

TEST(polled_by_hand_outside_a_runtime)
{
    char path[256];
    fs_tmp_path(path, sizeof path, "hand");
    weft_file *f;
    ASSERT_EQ(fs_open(NULL, path, O_RDWR | O_CREAT | O_TRUNC, 0600, &f), 0);
    ASSERT_EQ(fs_rw(NULL, OP_WRITE_ALL, f, "by hand", 7, 0), 7);
    char buf[16] = {0};
    ASSERT_EQ(fs_rw(NULL, OP_READ_ALL, f, buf, sizeof buf, 0), 7);
    ASSERT_STREQ(buf, "by hand");
    ASSERT_EQ(fs_simple(NULL, OP_SYNC, f), 0);
    weft_file_info info = {0};
    ASSERT_EQ(fs_stat(NULL, OP_STAT_PATH, NULL, path, &info), 0);
    ASSERT_EQ(info.size, 7);
    ASSERT_EQ(fs_simple(NULL, OP_CLOSE, f), 0);
    weft_file_free(f);
    unlink(path);
}

TEST(epoll_uses_the_fs_lane_uring_does_not)
{
    weft_rt *rt = mt();
    char path[256];
    fs_tmp_path(path, sizeof path, "lane");
    make_file(path, 4096);
    weft_file *f;
    ASSERT_EQ(fs_open(rt, path, O_RDONLY, 0, &f), 0);
    char buf[4096];
    for (int i = 0; i < 10; i++)
        ASSERT_EQ(fs_rw(rt, OP_READ, f, buf, sizeof buf, 0), 4096);
    weft_file_free(f);
    weft_blocking_stats st;
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_FS, &st), 0);
    if (fs_on_pool(rt))
        ASSERT_GE(st.jobs_run, 11); /* the open and the reads */
    else
        ASSERT_EQ(st.jobs_run, 0);
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_DEFAULT, &st), 0);
    ASSERT_EQ(st.jobs_run, 0);
    unlink(path);
    weft_rt_free(rt);
}

TEST_MAIN()
