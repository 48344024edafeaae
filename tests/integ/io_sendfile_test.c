/* Zero-copy file sending: sendfile(2) from the page cache, splice file -> pipe -> socket when
 * the data is not cached, offsets, short files and a file truncated mid-send (F11), the
 * read+send fallback (forced through the test seam), deadlines, bad arguments. */
#include <sys/stat.h>

#include "io/sock.h"
#include "net_util.h"

struct sfx {
    weft_sendfile f;
    ssize_t n;
};
static weft_poll sfx_poll(void *a, weft_cx *cx)
{
    struct sfx *x = a;
    return weft_sendfile_poll(&x->f, cx, &x->n);
}

static int temp_file(size_t size, unsigned seed)
{
    char path[] = "/tmp/weft_sf_XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    unlink(path);
    char *buf = malloc(size ? size : 1);
    for (size_t i = 0; i < size; i++)
        buf[i] = (char)((i * 2654435761u + seed) >> 13);
    ASSERT_EQ(pwrite(fd, buf, size, 0), (ssize_t)size);
    free(buf);
    return fd;
}

static void expect_content(const char *got, size_t n, int64_t off, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        char want = (char)((((size_t)off + i) * 2654435761u + seed) >> 13);
        if (got[i] != want)
            weft_test_fail(__FILE__, __LINE__, "byte %zu differs", i);
    }
}

/* Send [off, off+len) of a file of `size` bytes through a stream pair; check what arrives. */
static void send_case(weft_rt *rt, weft_stream *tx, weft_stream *rx, size_t size, int64_t off,
                      size_t len)
{
    int fd = temp_file(size, 7);
    size_t expect = off >= (int64_t)size ? 0 : (size - (size_t)off < len ? size - (size_t)off : len);
    char *in = malloc(expect + 1);
    struct sfx sf;
    struct nu_x rd;
    weft_sendfile_init(&sf.f, tx, fd, off, len, weft_deadline_in(WEFT_SEC(20)));
    weft_read_exact_init(&rd.f, rx, in, expect, weft_deadline_in(WEFT_SEC(20)));
    ASSERT_EQ(nu_run2(rt, sfx_poll, &sf, nu_read_exact, &rd), 0);
    ASSERT_EQ(sf.n, (ssize_t)expect);
    ASSERT_EQ(weft_sendfile_sent(&sf.f), expect);
    ASSERT_EQ(rd.n, (ssize_t)expect);
    expect_content(in, expect, off, 7);
    /* the file position was not used or moved */
    ASSERT_EQ(lseek(fd, 0, SEEK_CUR), 0); /* pwrite made it: still 0 */
    free(in);
    close(fd);
}

TEST(sendfile_tcp_and_unix)
{
    for (int fl = 0; fl < 2; fl++) {
        weft_rt *rt = nu_rt(fl ? WEFT_RT_CURRENT_THREAD : WEFT_RT_MULTI_THREAD);
        weft_sockaddr addr;
        weft_listener *ln = nu_listen(&addr);
        weft_stream *c, *s;
        nu_tcp_pair(rt, ln, &addr, &c, &s);
        send_case(rt, s, c, 3 << 20, 0, 3 << 20);    /* whole file, many chunks */
        send_case(rt, s, c, 1 << 20, 12345, 100000); /* a slice at an odd offset */
        send_case(rt, s, c, 1000, 0, 1 << 20);       /* file shorter than asked: short count */
        send_case(rt, s, c, 1000, 5000, 10);         /* offset past the end: 0 */
        weft_stream_close(c);
        weft_stream_close(s);
        weft_listener_close(ln);

        weft_unix_stream *a, *b;
        ASSERT_EQ(weft_unix_pair(&a, &b), 0);
        send_case(rt, a, b, 700000, 1, 699999);
        weft_stream_close(a);
        weft_stream_close(b);
        weft_rt_free(rt);
    }
}

TEST(sendfile_fallback_paths)
{
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    for (int mode = 1; mode <= 2; mode++) {
        weft_unix_stream *a, *b;
        ASSERT_EQ(weft_unix_pair(&a, &b), 0);
        atomic_store(&weft__sendfile_test_refuse, mode);
        int fd = temp_file(300000, 3);
        char *in = malloc(300000);
        struct sfx sf;
        struct nu_x rd;
        weft_sendfile_init(&sf.f, a, fd, 0, 300000, weft_deadline_in(WEFT_SEC(20)));
        weft_read_exact_init(&rd.f, b, in, 300000, weft_deadline_in(WEFT_SEC(20)));
        ASSERT_EQ(nu_run2(rt, sfx_poll, &sf, nu_read_exact, &rd), 0);
        atomic_store(&weft__sendfile_test_refuse, 0);
        ASSERT_EQ(sf.n, 300000);
        ASSERT_TRUE(weft_sendfile_fell_back(&sf.f));
        expect_content(in, 300000, 0, 3);
        free(in);
        close(fd);
        weft_stream_close(a);
        weft_stream_close(b);
    }
    weft_rt_free(rt);
}

/* The direct path's branches, forced with injected system call results: a cold page cache
 * (the RWF_NOWAIT probe says -EAGAIN) and a kernel that refuses sendfile(2) both hand the
 * transfer to the splice path, whose bytes must be the same; splice-only mode (seam 3) too;
 * a sendfile(2) error ends the transfer with it. */
TEST(sendfile_direct_and_splice_paths)
{
    struct nu_net n;
    nu_net_open(&n, WEFT_RT_MULTI_THREAD);
    weft_rt *rt = n.rt;
    weft_stream *c = n.client, *s = n.server;

    send_case(rt, s, c, 3 << 20, 0, 3 << 20); /* cached: direct */

    weft__sys_fault_inject(WEFT__SYS_READ, EAGAIN, 0, 1000000); /* "not cached" */
    send_case(rt, s, c, 1 << 20, 4096, 500000);
    ASSERT_GT(weft__sys_fault_hits(WEFT__SYS_READ), 0u);
    weft__sys_fault_clear();

    weft__sys_fault_inject(WEFT__SYS_SENDFILE, EINVAL, 0, 1000000); /* refused */
    send_case(rt, s, c, 1 << 20, 1, 700000);
    ASSERT_EQ(weft__sys_fault_hits(WEFT__SYS_SENDFILE), 1u); /* asked once, then spliced */
    weft__sys_fault_clear();

    atomic_store(&weft__sendfile_test_refuse, 3); /* splice only */
    send_case(rt, s, c, 3 << 20, 0, 3 << 20);
    atomic_store(&weft__sendfile_test_refuse, 0);

    weft__sys_fault_inject(WEFT__SYS_SENDFILE, ECONNRESET, 0, 1);
    int fd = temp_file(100000, 1);
    struct sfx sf;
    weft_sendfile_init(&sf.f, s, fd, 0, 100000, weft_deadline_in(WEFT_SEC(20)));
    ASSERT_EQ(nu_run(rt, sfx_poll, &sf), 0);
    ASSERT_EQ(sf.n, -ECONNRESET);
    weft__sys_fault_clear();
    close(fd);
    nu_net_close(&n);
}

/* F11: the file shrinks while it is being sent. */
struct slow_reader {
    weft_stream *s;
    int fd;
    size_t got, truncate_at;
    int truncated, done;
    weft_read_some rd;
    int started;
    char buf[32768];
    ssize_t n;
};
static weft_poll slow_reader_poll(void *a, weft_cx *cx)
{
    struct slow_reader *r = a;
    for (;;) {
        if (!r->started) {
            weft_read_some_init(&r->rd, r->s, r->buf, sizeof r->buf, weft_deadline_in(WEFT_SEC(20)));
            r->started = 1;
        }
        if (weft_read_some_poll(&r->rd, cx, &r->n) == WEFT_PENDING)
            return WEFT_PENDING;
        r->started = 0;
        if (r->n <= 0)
            return WEFT_READY;
        r->got += (size_t)r->n;
        if (!r->truncated && r->got >= r->truncate_at) {
            ASSERT_EQ(ftruncate(r->fd, 2 << 20), 0);
            r->truncated = 1;
        }
    }
}
struct sf_then_close {
    struct sfx sf;
    weft_stream *s;
    int done;
};
static weft_poll sf_then_close(void *a, weft_cx *cx)
{
    struct sf_then_close *t = a;
    if (sfx_poll(&t->sf, cx) == WEFT_PENDING)
        return WEFT_PENDING;
    weft_stream_shutdown(t->s, SHUT_WR); /* the reader sees the end */
    return WEFT_READY;
}

TEST(f11_file_truncated_mid_send)
{
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    weft_sockaddr addr;
    weft_listener *ln = nu_listen(&addr);
    weft_stream *c, *s;
    nu_tcp_pair(rt, ln, &addr, &c, &s);
    size_t size = 16 << 20;
    int fd = temp_file(size, 9);
    struct sf_then_close tx = {.s = s};
    struct slow_reader rx = {.s = c, .fd = fd, .truncate_at = 1 << 20};
    weft_sendfile_init(&tx.sf.f, s, fd, 0, size, weft_deadline_in(WEFT_SEC(30)));
    ASSERT_EQ(nu_run2(rt, sf_then_close, &tx, slow_reader_poll, &rx), 0);
    fprintf(stderr, "F11: asked %zu, file cut to %d after %zu received; sendfile says %zd, the "
                    "reader got %zu\n",
            size, 2 << 20, rx.truncate_at, tx.sf.n, rx.got);
    ASSERT_TRUE(rx.truncated);
    ASSERT_GE(tx.sf.n, 0);
    ASSERT_EQ((size_t)tx.sf.n, rx.got);          /* truthful: what really went out */
    ASSERT_LT((size_t)tx.sf.n, size);            /* short */
    ASSERT_LE((size_t)tx.sf.n, (size_t)(2 << 20) + (4 << 20)); /* ended near the new end */
    close(fd);
    weft_stream_close(c);
    weft_stream_close(s);
    weft_listener_close(ln);
    weft_rt_free(rt);
}

TEST(sendfile_deadline_and_bad_arguments)
{
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    weft_unix_stream *a, *b;
    ASSERT_EQ(weft_unix_pair(&a, &b), 0);
    int fd = temp_file(8 << 20, 1);
    struct sfx sf;
    /* nobody reads b: the socket fills up and the deadline ends the transfer */
    weft_sendfile_init(&sf.f, a, fd, 0, 8 << 20, weft_deadline_in(WEFT_MS(100)));
    ASSERT_EQ(nu_run(rt, sfx_poll, &sf), 0);
    ASSERT_EQ(sf.n, -ETIMEDOUT);
    ASSERT_LT(weft_sendfile_sent(&sf.f), (size_t)(8 << 20)); /* what fit in the socket */

    weft_sendfile_init(&sf.f, NULL, fd, 0, 10, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, sfx_poll, &sf), 0);
    ASSERT_EQ(sf.n, -EINVAL);
    weft_sendfile_init(&sf.f, a, -1, 0, 10, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, sfx_poll, &sf), 0);
    ASSERT_EQ(sf.n, -EINVAL);
    weft_sendfile_init(&sf.f, a, fd, -5, 10, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, sfx_poll, &sf), 0);
    ASSERT_EQ(sf.n, -EINVAL);
    weft_sendfile_init(&sf.f, a, fd, 0, 0, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, sfx_poll, &sf), 0);
    ASSERT_EQ(sf.n, 0);
    /* a non-socket stream */
    weft_stream *fs;
    ASSERT_EQ(weft_stream_from_fd(&fs, fd, WEFT_STREAM_FILE, 0, WEFT_STREAM_BORROW_FD), 0);
    weft_sendfile_init(&sf.f, fs, fd, 0, 10, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, sfx_poll, &sf), 0);
    ASSERT_EQ(sf.n, -ENOTSOCK);
    weft_stream_close(fs);
    /* polled again after READY, a zero-filled future, NULL */
    ASSERT_EQ(nu_run(rt, sfx_poll, &sf), 0);
    ASSERT_EQ(sf.n, -EINVAL);
    memset(&sf, 0, sizeof sf);
    ASSERT_EQ(nu_run(rt, sfx_poll, &sf), 0);
    ASSERT_EQ(sf.n, -EINVAL);
    weft_sendfile_drop(&sf.f);
    weft_sendfile_drop(NULL);
    ASSERT_EQ(weft_sendfile_sent(NULL), 0);
    ASSERT_TRUE(!weft_sendfile_fell_back(NULL));
    ssize_t r;
    ASSERT_EQ(weft_sendfile_poll(NULL, NULL, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    close(fd);
    weft_stream_close(a);
    weft_stream_close(b);
    weft_rt_free(rt);
}

/* Dropping a task in the middle of a transfer: the pipe is released once the kernel lets go,
 * no descriptor leaks. */
struct sf_task {
    WEFT_ASYNC_STATE;
    weft_stream *s;
    int fd;
    weft_sendfile sf;
    ssize_t n;
};
static weft_poll sf_task_poll(void *st, weft_cx *cx, void *out)
{
    struct sf_task *t = st;
    (void)out;
    WEFT_ASYNC_BEGIN(t);
    weft_sendfile_init(&t->sf, t->s, t->fd, 0, 8 << 20, WEFT_NEVER);
    WEFT_AWAIT(t, weft_sendfile_poll(&t->sf, cx, &t->n));
    WEFT_ASYNC_END(t);
}
static void sf_task_drop(void *st) { weft_sendfile_drop(&((struct sf_task *)st)->sf); }
static const weft_future_type sf_task_type = {.name = "sf_task",
                                              .poll = sf_task_poll,
                                              .drop = sf_task_drop,
                                              .state_size = sizeof(struct sf_task)};

TEST(sendfile_abort_releases_everything)
{
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    weft_unix_stream *a, *b;
    ASSERT_EQ(weft_unix_pair(&a, &b), 0);
    int fd = temp_file(8 << 20, 1);
    int before = nu_count_open_fds();
    weft_join *j;
    ASSERT_EQ(weft_spawn(rt, &sf_task_type, &(struct sf_task){.s = a, .fd = fd}, &j), 0);
    usleep(50 * 1000); /* it is stuck: nobody reads b */
    ASSERT_TRUE(!weft_join_is_finished(j));
    weft_join_abort(j);
    ASSERT_EQ(weft_join_wait(j, NULL, 0), -ECANCELED);
    weft_stream_close(a); /* kicks the splice out of the kernel */
    for (int i = 0; i < 100 && nu_count_open_fds() > before - 1; i++)
        usleep(10 * 1000);
    ASSERT_EQ(nu_count_open_fds(), before - 1); /* the pipe went, and a's socket */
    close(fd);
    weft_stream_close(b);
    weft_rt_free(rt);
}

TEST_MAIN()
