/* weft_file_open_beneath_init on both backends (fs_beneath@uring, fs_beneath@epoll): paths
 * inside the root open; absolute paths, ".." above the root, symbolic links pointing out of
 * the root (absolute or relative targets) and /proc magic links are refused; links that stay
 * inside are followed unless WEFT_OPEN_NO_SYMLINKS; bad arguments give -EINVAL. */
#include "fs_helpers.h"

/* root/
 *   a.txt            "inside"
 *   sub/b.txt        "sub"
 *   in_link   -> a.txt           (stays inside)
 *   sub/up    -> ../a.txt        (stays inside)
 *   out_abs   -> <outside file>  (absolute, leaves)
 *   out_rel   -> ../<outside>    (relative, leaves)
 *   dir_out   -> /               (a directory outside) */
struct tree {
    char root[256], outside[256];
    int dirfd;
};

static void write_str(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(write(fd, s, strlen(s)), (ssize_t)strlen(s));
    close(fd);
}

static void tree_make(struct tree *t)
{
    char p[512], q[512];
    fs_tmp_path(t->root, sizeof t->root, "root");
    fs_tmp_path(t->outside, sizeof t->outside, "secret");
    ASSERT_EQ(mkdir(t->root, 0700), 0);
    write_str(t->outside, "secret");
    snprintf(p, sizeof p, "%s/a.txt", t->root);
    write_str(p, "inside");
    snprintf(p, sizeof p, "%s/sub", t->root);
    ASSERT_EQ(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/sub/b.txt", t->root);
    write_str(p, "sub");
    snprintf(p, sizeof p, "%s/in_link", t->root);
    ASSERT_EQ(symlink("a.txt", p), 0);
    snprintf(p, sizeof p, "%s/sub/up", t->root);
    ASSERT_EQ(symlink("../a.txt", p), 0);
    snprintf(p, sizeof p, "%s/out_abs", t->root);
    ASSERT_EQ(symlink(t->outside, p), 0);
    const char *base = strrchr(t->outside, '/') + 1;
    snprintf(q, sizeof q, "../%s", base);
    snprintf(p, sizeof p, "%s/out_rel", t->root);
    ASSERT_EQ(symlink(q, p), 0);
    snprintf(p, sizeof p, "%s/dir_out", t->root);
    ASSERT_EQ(symlink("/", p), 0);
    t->dirfd = open(t->root, O_DIRECTORY | O_PATH | O_CLOEXEC);
    ASSERT_TRUE(t->dirfd >= 0);
}

static void tree_remove(struct tree *t)
{
    static const char *const names[] = {"sub/up", "sub/b.txt", "in_link", "out_abs", "out_rel",
                                        "dir_out", "a.txt", "new.txt"};
    char p[512];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(p, sizeof p, "%s/%s", t->root, names[i]);
        (void)unlink(p);
    }
    snprintf(p, sizeof p, "%s/sub", t->root);
    (void)rmdir(p);
    (void)rmdir(t->root);
    (void)unlink(t->outside);
    close(t->dirfd);
}

/* Open beneath the root and read the first bytes; returns the open's result. */
static int read_beneath(weft_rt *rt, struct tree *t, const char *path, unsigned resolve,
                        char *buf, size_t n)
{
    weft_file *f;
    int r = fs_open_beneath(rt, t->dirfd, path, O_RDONLY, 0, resolve, &f);
    if (r < 0)
        return r;
    memset(buf, 0, n);
    ASSERT_TRUE(fs_rw(rt, OP_READ_ALL, f, buf, n - 1, 0) >= 0);
    ASSERT_EQ(fs_simple(rt, OP_CLOSE, f), 0);
    weft_file_free(f);
    return 0;
}

static void run_all(weft_rt *rt)
{
    struct tree t;
    char buf[32];
    int fds = fs_count_fds();
    tree_make(&t);

    /* Inside: plain names, subdirectories, "." and ".." that stay inside, links that stay. */
    ASSERT_EQ(read_beneath(rt, &t, "a.txt", 0, buf, sizeof buf), 0);
    ASSERT_STREQ(buf, "inside");
    ASSERT_EQ(read_beneath(rt, &t, "./sub/../sub/b.txt", 0, buf, sizeof buf), 0);
    ASSERT_STREQ(buf, "sub");
    ASSERT_EQ(read_beneath(rt, &t, "in_link", 0, buf, sizeof buf), 0);
    ASSERT_STREQ(buf, "inside");
    ASSERT_EQ(read_beneath(rt, &t, "sub/up", 0, buf, sizeof buf), 0);
    ASSERT_STREQ(buf, "inside");

    /* Escapes: absolute paths, ".." above the root, links out (absolute and relative). */
    ASSERT_EQ(read_beneath(rt, &t, t.outside, 0, buf, sizeof buf), -EXDEV);
    ASSERT_EQ(read_beneath(rt, &t, "/etc/passwd", 0, buf, sizeof buf), -EXDEV);
    ASSERT_EQ(read_beneath(rt, &t, "../a.txt", 0, buf, sizeof buf), -EXDEV);
    ASSERT_EQ(read_beneath(rt, &t, "sub/../../a.txt", 0, buf, sizeof buf), -EXDEV);
    char p[300];
    snprintf(p, sizeof p, "../%s", strrchr(t.outside, '/') + 1);
    ASSERT_EQ(read_beneath(rt, &t, p, 0, buf, sizeof buf), -EXDEV);
    ASSERT_EQ(read_beneath(rt, &t, "out_abs", 0, buf, sizeof buf), -EXDEV);
    ASSERT_EQ(read_beneath(rt, &t, "out_rel", 0, buf, sizeof buf), -EXDEV);
    ASSERT_EQ(read_beneath(rt, &t, "dir_out/etc/passwd", 0, buf, sizeof buf), -EXDEV);

    /* WEFT_OPEN_NO_SYMLINKS: even links that stay inside are refused. */
    ASSERT_EQ(read_beneath(rt, &t, "in_link", WEFT_OPEN_NO_SYMLINKS, buf, sizeof buf), -ELOOP);
    ASSERT_EQ(read_beneath(rt, &t, "sub/up", WEFT_OPEN_NO_SYMLINKS, buf, sizeof buf), -ELOOP);
    ASSERT_EQ(read_beneath(rt, &t, "a.txt", WEFT_OPEN_NO_SYMLINKS | WEFT_OPEN_NO_XDEV, buf,
                           sizeof buf),
              0);

    /* Missing files and creating inside the root (the mode is honoured). */
    weft_file *f;
    ASSERT_EQ(fs_open_beneath(rt, t.dirfd, "nope", O_RDONLY, 0, 0, &f), -ENOENT);
    mode_t um = umask(022);
    ASSERT_EQ(fs_open_beneath(rt, t.dirfd, "new.txt", O_WRONLY | O_CREAT | O_EXCL, 0640, 0, &f),
              0);
    umask(um);
    struct stat st;
    ASSERT_EQ(fstat(weft_file_fd(f), &st), 0);
    ASSERT_EQ(st.st_mode & 0777, 0640);
    ASSERT_TRUE(fcntl(weft_file_fd(f), F_GETFD) & FD_CLOEXEC);
    ASSERT_EQ(fs_simple(rt, OP_CLOSE, f), 0);
    weft_file_free(f);
    /* Creating through a link that leaves is refused too. */
    ASSERT_EQ(fs_open_beneath(rt, t.dirfd, "dir_out/tmp/x", O_WRONLY | O_CREAT, 0600, 0, &f),
              -EXDEV);

    /* Bad arguments. */
    ASSERT_EQ(fs_open_beneath(rt, -1, "a.txt", O_RDONLY, 0, 0, &f), -EINVAL);
    ASSERT_EQ(fs_open_beneath(rt, t.dirfd, "a.txt", O_RDONLY, 0, 0x100, &f), -EINVAL);
    ASSERT_EQ(fs_open_beneath(rt, t.dirfd, NULL, O_RDONLY, 0, 0, &f), -EINVAL);

    tree_remove(&t);
    ASSERT_EQ(fs_count_fds(), fds);
}

TEST(multi_thread_runtime)
{
    weft_rt *rt = fs_rt(WEFT_RT_MULTI_THREAD, 2);
    run_all(rt);
    weft_rt_free(rt);
}

TEST(current_thread_runtime)
{
    weft_rt *rt = fs_rt(WEFT_RT_CURRENT_THREAD, 1);
    run_all(rt);
    weft_rt_free(rt);
}

TEST(polled_by_hand_outside_a_runtime)
{
    run_all(NULL);
}

TEST_MAIN()
