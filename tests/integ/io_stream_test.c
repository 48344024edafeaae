/* weft_stream over other descriptors: pipes (close cancels a pending read), files (the
 * position advances, readv/writev at it), borrowed fds, a bufreader over a file. */
#include <sys/uio.h>

#include "net_util.h"

struct closer {
    weft_sleep nap;
    weft_stream *s;
};
static weft_poll closer_poll(void *a, weft_cx *cx)
{
    struct closer *c = a;
    if (weft_sleep_poll(&c->nap, cx) == WEFT_PENDING)
        return WEFT_PENDING;
    weft_stream_close(c->s);
    return WEFT_READY;
}

TEST(pipe_stream_and_close_cancels)
{
    for (int fl = 0; fl < 2; fl++) {
        weft_rt *rt = nu_rt(fl ? WEFT_RT_CURRENT_THREAD : WEFT_RT_MULTI_THREAD);
        int p[2];
        ASSERT_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
        weft_stream *r, *w;
        ASSERT_EQ(weft_stream_from_fd(&r, p[0], WEFT_STREAM_PIPE, 0, 0), 0);
        ASSERT_EQ(weft_stream_from_fd(&w, p[1], WEFT_STREAM_PIPE, 0, 0), 0);
        ASSERT_EQ(weft_stream_kind_of(r), WEFT_STREAM_PIPE);
        char buf[16];
        ASSERT_EQ(nu_write_all_now(rt, w, "through a pipe", 14, WEFT_NEVER), 14);
        ASSERT_EQ(nu_read_exact_now(rt, r, buf, 14, weft_deadline_in(WEFT_SEC(5))), 14);
        ASSERT_TRUE(memcmp(buf, "through a pipe", 14) == 0);

        /* a read waits; closing the handle cancels it (a pipe has no shutdown(2)) */
        struct nu_x rd;
        struct closer cl = {.s = r};
        weft_read_some_init(&rd.f, r, buf, sizeof buf, WEFT_NEVER);
        weft_sleep_init(&cl.nap, WEFT_MS(30));
        int before = nu_count_open_fds();
        ASSERT_EQ(nu_run2(rt, nu_read_some, &rd, closer_poll, &cl), 0);
        ASSERT_EQ(rd.n, -ECANCELED);
        ASSERT_EQ(nu_count_open_fds(), before - 1); /* the read end is closed now */
        /* the writer sees the pipe broken: -EPIPE, never SIGPIPE on weft's threads */
        ASSERT_EQ(nu_write_all_now(rt, w, "x", 1, WEFT_NEVER), -EPIPE);
        weft_stream_close(w);
        weft_rt_free(rt);
    }
}

struct vx {
    weft_readv f;
    ssize_t n;
};
static weft_poll vx_read(void *a, weft_cx *cx)
{
    struct vx *v = a;
    return weft_readv_poll(&v->f, cx, &v->n);
}
static weft_poll vx_write(void *a, weft_cx *cx)
{
    struct vx *v = a;
    return weft_writev_poll(&v->f, cx, &v->n);
}

struct line {
    weft_read_line f;
    ssize_t n;
};
static weft_poll line_poll(void *a, weft_cx *cx)
{
    struct line *l = a;
    return weft_read_line_poll(&l->f, cx, &l->n);
}

TEST(file_stream_positions)
{
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    char path[] = "/tmp/weft_stream_XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    unlink(path);
    weft_stream *f;
    ASSERT_EQ(weft_stream_from_fd(&f, fd, WEFT_STREAM_FILE, 0, WEFT_STREAM_BORROW_FD), 0);
    ASSERT_EQ(nu_write_all_now(rt, f, "line one\n", 9, WEFT_NEVER), 9);
    char a[] = "line ", b[] = "two\nline three\n";
    struct iovec wv[2] = {{a, 5}, {b, strlen(b)}};
    struct vx v;
    weft_writev_init(&v.f, f, wv, 2, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, vx_write, &v), 0);
    ASSERT_EQ(v.n, (ssize_t)(5 + strlen(b)));
    weft_stream_close(f);
    ASSERT_TRUE(fcntl(fd, F_GETFD) >= 0); /* borrowed: still open */

    char whole[64];
    ASSERT_EQ(pread(fd, whole, sizeof whole, 0), 29);
    ASSERT_TRUE(memcmp(whole, "line one\nline two\nline three\n", 29) == 0);

    /* read it back from offset 5 with readv, then by lines through a bufreader */
    ASSERT_EQ(weft_stream_from_fd(&f, fd, WEFT_STREAM_FILE, 5, WEFT_STREAM_BORROW_FD), 0);
    char r1[4], r2[5];
    struct iovec rv[2] = {{r1, 4}, {r2, 5}};
    weft_readv_init(&v.f, f, rv, 2, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, vx_read, &v), 0);
    ASSERT_EQ(v.n, 9);
    ASSERT_TRUE(memcmp(r1, "one\n", 4) == 0 && memcmp(r2, "line ", 5) == 0);
    weft_bufreader rd;
    char buf[8]; /* small: forces several fills and compactions */
    ASSERT_EQ(weft_bufreader_init(&rd, f, buf, sizeof buf), 0);
    struct line l;
    weft_read_line_init(&l.f, &rd, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, line_poll, &l), 0);
    ASSERT_EQ(l.n, 4);
    ASSERT_TRUE(memcmp(weft_bufreader_data(&rd), "two\n", 4) == 0);
    weft_bufreader_consume(&rd, 4);
    weft_read_line_init(&l.f, &rd, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, line_poll, &l), 0);
    ASSERT_EQ(l.n, -EMSGSIZE); /* "line three\n" does not fit in 8 */
    weft_bufreader_consume(&rd, 8);
    weft_read_line_init(&l.f, &rd, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, line_poll, &l), 0);
    ASSERT_EQ(l.n, 3); /* "ee\n" */
    weft_bufreader_consume(&rd, 3);
    weft_read_line_init(&l.f, &rd, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, line_poll, &l), 0);
    ASSERT_EQ(l.n, 0); /* end of file */
    weft_bufreader_fini(&rd);
    weft_stream_close(f);

    /* an owned fd is closed with the handle */
    int fd2 = dup(fd);
    ASSERT_EQ(weft_stream_from_fd(&f, fd2, WEFT_STREAM_FILE, 0, 0), 0);
    ASSERT_EQ(weft_stream_fd(f), fd2);
    weft_stream_close(f);
    ASSERT_TRUE(fcntl(fd2, F_GETFD) < 0);
    close(fd);
    weft_rt_free(rt);
}

TEST(stream_from_fd_arguments)
{
    weft_stream *s = (weft_stream *)1;
    ASSERT_EQ(weft_stream_from_fd(NULL, 0, WEFT_STREAM_PIPE, 0, 0), -EINVAL);
    ASSERT_EQ(weft_stream_from_fd(&s, -1, WEFT_STREAM_PIPE, 0, 0), -EINVAL);
    ASSERT_TRUE(s == NULL);
    ASSERT_EQ(weft_stream_from_fd(&s, 0, (weft_stream_kind)0, 0, 0), -EINVAL);
    ASSERT_EQ(weft_stream_from_fd(&s, 0, (weft_stream_kind)4, 0, 0), -EINVAL);
    ASSERT_EQ(weft_stream_from_fd(&s, 0, WEFT_STREAM_PIPE, 0, 8), -EINVAL);
    ASSERT_EQ(weft_stream_from_fd(&s, 0, WEFT_STREAM_FILE, -1, 0), -EINVAL);
    ASSERT_EQ(weft_stream_fd(NULL), -EINVAL);
    ASSERT_EQ(weft_stream_kind_of(NULL), -EINVAL);
    ASSERT_TRUE(weft_stream_retain(NULL) == NULL);
    weft_stream_close(NULL);
}

TEST_MAIN()
