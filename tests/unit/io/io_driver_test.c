/* The reactor driver, standalone (no scheduler): every test runs once per backend, chosen
 * by WEFT_IO_BACKEND through driver.c's selection (CTest registers io_driver@uring and
 * io_driver@epoll). Tests marked "fallback" run again with io_uring's per-opcode fallback
 * forced for every opcode but POLL (a no-op on the epoll backend).
 */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io/driver.h"
#include "sys/sys.h"

/* ------------------------------------------------------------------ helpers */

/* An op plus what its done callback saw. */
struct rec {
    struct weft__io_op op;
    int calls;
    int32_t res;
    pthread_t thread;
};

static void rec_done(struct weft__io_op *op)
{
    struct rec *r = WEFT__IO_CONTAINER(op, struct rec, op);
    r->calls++;
    r->res = op->res;
    r->thread = pthread_self();
}

static const struct weft__io_config default_cfg;
/* io_uring with every opcode but POLL taken through the fallback path. */
static const struct weft__io_config fallback_cfg = {
    .uring_disable_ops = ~(1u << WEFT__IO_POLL),
};

static struct weft__io_driver *driver(const struct weft__io_config *cfg)
{
    struct weft__io_driver *d = NULL;
    ASSERT_EQ(weft__io_driver_new(&d, cfg), 0);
    ASSERT_TRUE(d != NULL);
    const char *env = getenv("WEFT_IO_BACKEND");
    if (env && strcmp(env, "epoll") == 0)
        ASSERT_EQ(weft__io_driver_backend(d), WEFT__IO_BACKEND_EPOLL);
    return d;
}

/* Park until *calls >= want; fail after 10 s. */
static void wait_calls(struct weft__io_driver *d, const int *calls, int want)
{
    int64_t give_up = weft_test_now_ns() + 10 * 1000000000LL;
    while (*calls < want) {
        ASSERT_LT(weft_test_now_ns(), give_up);
        ASSERT_GE(weft__io_park(d, weft_test_now_ns() + 1000000000LL), 0);
    }
}

static void submit_wait(struct weft__io_driver *d, struct rec *r)
{
    r->calls = 0;
    weft__io_submit(d, &r->op);
    wait_calls(d, &r->calls, 1);
    ASSERT_EQ(r->calls, 1);
}

static void socketpair_nb(int sv[2])
{
    ASSERT_EQ(weft__sys_socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

/* A listener on 127.0.0.1, port chosen by the kernel. */
static int tcp_listener(struct sockaddr_in *addr)
{
    int fd = weft__sys_socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    *addr = (struct sockaddr_in){.sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT_EQ(weft__sys_bind(fd, (struct sockaddr *)addr, sizeof *addr), 0);
    ASSERT_EQ(weft__sys_listen(fd, 64), 0);
    socklen_t len = sizeof *addr;
    ASSERT_EQ(weft__sys_getsockname(fd, (struct sockaddr *)addr, &len), 0);
    return fd;
}

/* A connected loopback pair made with the driver's ACCEPT and CONNECT. */
static void tcp_pair(struct weft__io_driver *d, int *client, int *server)
{
    struct sockaddr_in addr, peer;
    socklen_t peer_len = sizeof peer;
    int ln = tcp_listener(&addr);
    struct rec acc = {0}, con = {0};

    weft__io_prep_accept(&acc.op, ln, (struct sockaddr *)&peer, &peer_len, rec_done);
    weft__io_submit(d, &acc.op);
    *client = weft__sys_socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(*client, 0);
    weft__io_prep_connect(&con.op, *client, (struct sockaddr *)&addr, sizeof addr, rec_done);
    weft__io_submit(d, &con.op);
    wait_calls(d, &acc.calls, 1);
    wait_calls(d, &con.calls, 1);
    ASSERT_EQ(con.res, 0);
    ASSERT_GE(acc.res, 0);
    ASSERT_EQ(peer_len, sizeof peer);
    ASSERT_EQ(peer.sin_family, AF_INET);
    *server = acc.res;
    /* accepted sockets are close-on-exec and non-blocking (F10) */
    ASSERT_TRUE(fcntl(*server, F_GETFD) & FD_CLOEXEC);
    ASSERT_TRUE(fcntl(*server, F_GETFL) & O_NONBLOCK);
    weft__sys_close(ln);
}

/* write n bytes with WRITE/SEND ops and read them back with READ/RECV ops on the peer. */
static void echo(struct weft__io_driver *d, int a, int b, bool use_send)
{
    char out[64], in[64] = {0};
    struct rec w = {0}, r = {0};

    for (int i = 0; i < 64; i++)
        out[i] = (char)(i * 7 + (use_send ? 1 : 0));
    /* read first: it has to wait for readiness */
    if (use_send)
        weft__io_prep_recv(&r.op, b, in, sizeof in, 0, rec_done);
    else
        weft__io_prep_read(&r.op, b, in, sizeof in, -1, rec_done);
    weft__io_submit(d, &r.op);
    ASSERT_GE(weft__io_poll(d), 0);
    ASSERT_EQ(r.calls, 0);
    if (use_send)
        weft__io_prep_send(&w.op, a, out, sizeof out, 0, rec_done);
    else
        weft__io_prep_write(&w.op, a, out, sizeof out, -1, rec_done);
    weft__io_submit(d, &w.op);
    wait_calls(d, &w.calls, 1);
    wait_calls(d, &r.calls, 1);
    ASSERT_EQ(w.res, 64);
    ASSERT_EQ(r.res, 64);
    ASSERT_EQ(memcmp(in, out, 64), 0);
    ASSERT_EQ(w.calls, 1);
    ASSERT_EQ(r.calls, 1);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ------------------------------------------------------------------ selection */

TEST(backend_follows_env)
{
    struct weft__io_driver *d = driver(NULL);
    const char *env = getenv("WEFT_IO_BACKEND");
    fprintf(stderr, "  WEFT_IO_BACKEND=%s -> %s\n", env ? env : "(unset)",
            weft__io_driver_name(d));
    if (weft__io_driver_backend(d) == WEFT__IO_BACKEND_EPOLL)
        ASSERT_STREQ(weft__io_driver_name(d), "epoll");
    else
        ASSERT_TRUE(strncmp(weft__io_driver_name(d), "io_uring/", 9) == 0);
    weft__io_driver_free(d);

    struct weft__io_config bad = {.backend = 7};
    if (env == NULL || strcmp(env, "uring") != 0) {
        /* a config asking for epoll gets epoll unless the env overrides it */
        struct weft__io_config want_epoll = {.backend = WEFT__IO_BACKEND_EPOLL};
        d = driver(&want_epoll);
        if (env == NULL)
            ASSERT_EQ(weft__io_driver_backend(d), WEFT__IO_BACKEND_EPOLL);
        weft__io_driver_free(d);
    }
    if (env == NULL) {
        struct weft__io_driver *x = (struct weft__io_driver *)&bad;
        ASSERT_EQ(weft__io_driver_new(&x, &bad), -EINVAL);
        ASSERT_TRUE(x == NULL);
    }
    ASSERT_EQ(weft__io_driver_new(NULL, NULL), -EINVAL);
}

/* Capture what the driver prints on fd 2 while fn runs. */
static void capture_stderr(void (*fn)(void *), void *arg, char *buf, size_t cap)
{
    char path[] = "/tmp/weft_io_stderr_XXXXXX";
    int tmp = mkstemp(path);
    ASSERT_GE(tmp, 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    ASSERT_GE(saved, 0);
    ASSERT_EQ(dup2(tmp, 2), 2);
    fn(arg);
    fflush(stderr);
    ASSERT_EQ(dup2(saved, 2), 2);
    close(saved);
    ssize_t n = pread(tmp, buf, cap - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    close(tmp);
}

struct fallback_case {
    int err;           /* injected setup error */
    int backends[2];   /* what the two drivers became */
    int new_err;       /* weft__io_driver_new's result */
};

static void make_two(void *arg)
{
    struct fallback_case *c = arg;
    for (int i = 0; i < 2; i++) {
        struct weft__io_driver *d = NULL;
        c->new_err = weft__io_driver_new(&d, NULL);
        if (c->new_err < 0)
            return;
        c->backends[i] = weft__io_driver_backend(d);
        /* the fallback driver works */
        int sv[2];
        socketpair_nb(sv);
        echo(d, sv[0], sv[1], true);
        weft__sys_close(sv[0]);
        weft__sys_close(sv[1]);
        weft__io_driver_free(d);
    }
}

TEST(fallback_when_uring_forbidden)
{
    /* Run with the env override removed: AUTO must probe io_uring, see it fail, fall back. */
    char *env = getenv("WEFT_IO_BACKEND") ? strdup(getenv("WEFT_IO_BACKEND")) : NULL;
    unsetenv("WEFT_IO_BACKEND");
    char out[1024];

    /* Is io_uring usable here at all (and compiled in)? Without it there is no fallback to
     * observe: AUTO is plain epoll. */
    struct weft__io_driver *probe = NULL;
    ASSERT_EQ(weft__io_driver_new(&probe, NULL), 0);
    bool have_uring = weft__io_driver_backend(probe) == WEFT__IO_BACKEND_URING;
    weft__io_driver_free(probe);

    static const int errs[] = {-EPERM, -ENOSYS, -ENOMEM, -EACCES};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        struct fallback_case c = {.err = errs[i]};
        weft__io_test_reset_log();
        weft__io_test_hooks.uring_setup_err = errs[i];
        capture_stderr(make_two, &c, out, sizeof out);
        weft__io_test_hooks.uring_setup_err = 0;
        ASSERT_EQ(c.new_err, 0);
        ASSERT_EQ(c.backends[0], WEFT__IO_BACKEND_EPOLL);
        ASSERT_EQ(c.backends[1], WEFT__IO_BACKEND_EPOLL);
        if (have_uring) {
            ASSERT_EQ(count_lines(out), 1); /* one line, for two drivers */
            ASSERT_TRUE(strstr(out, "using epoll") != NULL);
            ASSERT_TRUE(strstr(out, "weft: ") == out);
        }
        if (i == 0)
            fprintf(stderr, "  logged: %s", out[0] ? out : "(nothing: no io_uring here)\n");
    }
    if (have_uring) {
        /* Any other setup error is a real error, reported as such. */
        struct fallback_case c = {.err = -EMFILE};
        weft__io_test_hooks.uring_setup_err = -EMFILE;
        capture_stderr(make_two, &c, out, sizeof out);
        weft__io_test_hooks.uring_setup_err = 0;
        ASSERT_EQ(c.new_err, -EMFILE);
    }
    weft__io_test_reset_log();
    if (env) {
        setenv("WEFT_IO_BACKEND", env, 1);
        free(env);
    }
}

TEST(uring_setup_rungs)
{
    static const char *names[] = {"io_uring/defer_taskrun", "io_uring/coop_taskrun",
                                  "io_uring/plain"};
    for (unsigned rung = 0; rung < 3; rung++) {
        struct weft__io_config cfg = {.uring_first_rung = rung};
        struct weft__io_driver *d = driver(&cfg);
        if (weft__io_driver_backend(d) == WEFT__IO_BACKEND_URING)
            ASSERT_STREQ(weft__io_driver_name(d), names[rung]);
        int sv[2];
        socketpair_nb(sv);
        echo(d, sv[0], sv[1], false);
        echo(d, sv[1], sv[0], true);
        weft__sys_close(sv[0]);
        weft__sys_close(sv[1]);
        weft__io_driver_free(d);
    }
}

TEST(driver_fds_are_cloexec)
{
    static bool before[1024];
    for (int fd = 0; fd < 1024; fd++)
        before[fd] = fcntl(fd, F_GETFD) >= 0;
    struct weft__io_driver *d = driver(NULL);
    ASSERT_GE(weft__io_poll(d), 0);
    int seen = 0;
    for (int fd = 0; fd < 1024; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl < 0 || before[fd])
            continue;
        seen++;
        ASSERT_TRUE(fl & FD_CLOEXEC);
    }
    ASSERT_GE(seen, 2); /* the eventfd and the ring or epoll fd */
    weft__io_driver_free(d);
}

/* ------------------------------------------------------------------ data transfer */

static void socketpair_rw(const struct weft__io_config *cfg)
{
    struct weft__io_driver *d = driver(cfg);
    int sv[2];
    socketpair_nb(sv);
    echo(d, sv[0], sv[1], false);
    echo(d, sv[1], sv[0], false);
    echo(d, sv[0], sv[1], true);
    echo(d, sv[1], sv[0], true);
    weft__sys_close(sv[0]);
    weft__sys_close(sv[1]);
    weft__io_driver_free(d);
}

TEST(socketpair_read_write_recv_send)
{
    socketpair_rw(&default_cfg);
}

TEST(socketpair_read_write_recv_send_fallback)
{
    socketpair_rw(&fallback_cfg);
}

static void tcp_loopback(const struct weft__io_config *cfg)
{
    struct weft__io_driver *d = driver(cfg);
    int c, s;
    tcp_pair(d, &c, &s);
    echo(d, c, s, true);
    echo(d, s, c, true);
    echo(d, c, s, false);
    echo(d, s, c, false);

    /* recv of 0 bytes at EOF */
    char buf[8];
    struct rec r = {0};
    ASSERT_EQ(weft__sys_shutdown(c, SHUT_WR), 0);
    weft__io_prep_recv(&r.op, s, buf, sizeof buf, 0, rec_done);
    submit_wait(d, &r);
    ASSERT_EQ(r.res, 0);
    weft__sys_close(c);
    weft__sys_close(s);
    weft__io_driver_free(d);
}

TEST(tcp_loopback_accept_connect)
{
    tcp_loopback(&default_cfg);
}

TEST(tcp_loopback_accept_connect_fallback)
{
    tcp_loopback(&fallback_cfg);
}

TEST(connect_refused)
{
    struct weft__io_driver *d = driver(NULL);
    struct sockaddr_in addr;
    int ln = tcp_listener(&addr);
    weft__sys_close(ln); /* nobody listens on that port now */
    int fd = weft__sys_socket(AF_INET, SOCK_STREAM, 0);
    struct rec con = {0};
    weft__io_prep_connect(&con.op, fd, (struct sockaddr *)&addr, sizeof addr, rec_done);
    submit_wait(d, &con);
    ASSERT_EQ(con.res, -ECONNREFUSED);
    weft__sys_close(fd);
    weft__io_driver_free(d);
}

static void vectored(const struct weft__io_config *cfg)
{
    struct weft__io_driver *d = driver(cfg);
    int sv[2];
    socketpair_nb(sv);
    char a[] = "hello, ", b[] = "vectored ", c[] = "world";
    struct iovec out[3] = {{a, 7}, {b, 9}, {c, 5}};
    char x[10] = {0}, y[11] = {0};
    struct iovec in[2] = {{x, 10}, {y, 11}};
    struct rec w = {0}, r = {0};

    weft__io_prep_readv(&r.op, sv[1], in, 2, -1, rec_done);
    weft__io_submit(d, &r.op);
    weft__io_prep_writev(&w.op, sv[0], out, 3, -1, rec_done);
    weft__io_submit(d, &w.op);
    wait_calls(d, &w.calls, 1);
    wait_calls(d, &r.calls, 1);
    ASSERT_EQ(w.res, 21);
    ASSERT_EQ(r.res, 21);
    ASSERT_TRUE(memcmp(x, "hello, vec", 10) == 0);
    ASSERT_TRUE(memcmp(y, "tored world", 11) == 0);

    /* sendmsg/recvmsg with iovecs */
    struct msghdr mo = {.msg_iov = out, .msg_iovlen = 3}, mi = {.msg_iov = in, .msg_iovlen = 2};
    memset(x, 0, sizeof x), memset(y, 0, sizeof y);
    weft__io_prep_sendmsg(&w.op, sv[1], &mo, 0, rec_done);
    submit_wait(d, &w);
    ASSERT_EQ(w.res, 21);
    weft__io_prep_recvmsg(&r.op, sv[0], &mi, 0, rec_done);
    submit_wait(d, &r);
    ASSERT_EQ(r.res, 21);
    ASSERT_TRUE(memcmp(y, "tored world", 11) == 0);
    weft__sys_close(sv[0]);
    weft__sys_close(sv[1]);
    weft__io_driver_free(d);
}

TEST(readv_writev_sendmsg_recvmsg)
{
    vectored(&default_cfg);
}

TEST(readv_writev_sendmsg_recvmsg_fallback)
{
    vectored(&fallback_cfg);
}

static void file_ops(const struct weft__io_config *cfg)
{
    struct weft__io_driver *d = driver(cfg);
    char dir[] = "/tmp/weft_io_XXXXXX";
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    char path[64];
    snprintf(path, sizeof path, "%s/f", dir);
    struct rec r = {0};

    weft__io_prep_openat(&r.op, AT_FDCWD, path, O_CREAT | O_RDWR | O_TRUNC, 0600, rec_done);
    submit_wait(d, &r);
    ASSERT_GE(r.res, 0);
    int fd = r.res;
    ASSERT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC); /* O_CLOEXEC added by the driver */

    weft__io_prep_write(&r.op, fd, "hello", 5, 0, rec_done);
    submit_wait(d, &r);
    ASSERT_EQ(r.res, 5);
    weft__io_prep_write(&r.op, fd, "world", 5, 100, rec_done);
    submit_wait(d, &r);
    ASSERT_EQ(r.res, 5);
    weft__io_prep_write(&r.op, fd, "!", 1, -1, rec_done); /* current position: 0 */
    submit_wait(d, &r);
    ASSERT_EQ(r.res, 1);

    char buf[16] = {0};
    weft__io_prep_read(&r.op, fd, buf, 5, 100, rec_done);
    submit_wait(d, &r);
    ASSERT_EQ(r.res, 5);
    ASSERT_TRUE(memcmp(buf, "world", 5) == 0);
    weft__io_prep_read(&r.op, fd, buf, 5, 0, rec_done);
    submit_wait(d, &r);
    ASSERT_EQ(r.res, 5);
    ASSERT_TRUE(memcmp(buf, "!ello", 5) == 0);
    weft__io_prep_read(&r.op, fd, buf, 16, 200, rec_done); /* past EOF */
    submit_wait(d, &r);
    ASSERT_EQ(r.res, 0);

    weft__io_prep_fsync(&r.op, fd, 0, rec_done);
    submit_wait(d, &r);
    ASSERT_EQ(r.res, 0);
    weft__io_prep_fsync(&r.op, fd, 1, rec_done);
    submit_wait(d, &r);
    ASSERT_EQ(r.res, 0);

    struct statx stx;
    memset(&stx, 0, sizeof stx);
    weft__io_prep_statx(&r.op, AT_FDCWD, path, 0, STATX_SIZE | STATX_MODE, &stx, rec_done);
    submit_wait(d, &r);
    ASSERT_EQ(r.res, 0);
    ASSERT_EQ(stx.stx_size, 105);
    ASSERT_EQ(stx.stx_mode & 0777, 0600);
    weft__io_prep_statx(&r.op, AT_FDCWD, "/nonexistent/weft", 0, STATX_SIZE, &stx, rec_done);
    submit_wait(d, &r);
    ASSERT_EQ(r.res, -ENOENT);

    weft__io_prep_close(&r.op, fd, rec_done);
    submit_wait(d, &r);
    ASSERT_EQ(r.res, 0);
    ASSERT_EQ(fcntl(fd, F_GETFD), -1); /* really closed */
    weft__io_prep_close(&r.op, fd, rec_done);
    submit_wait(d, &r);
    ASSERT_EQ(r.res, -EBADF);

    weft__io_prep_openat(&r.op, AT_FDCWD, "/nonexistent/weft", O_RDONLY, 0, rec_done);
    submit_wait(d, &r);
    ASSERT_EQ(r.res, -ENOENT);
    unlink(path);
    rmdir(dir);
    weft__io_driver_free(d);
}

TEST(file_open_write_read_fsync_statx_close)
{
    file_ops(&default_cfg);
}

TEST(file_open_write_read_fsync_statx_close_fallback)
{
    file_ops(&fallback_cfg);
}

static void splice_file_pipe_socket(const struct weft__io_config *cfg)
{
    struct weft__io_driver *d = driver(cfg);
    enum { SIZE = 256 * 1024, CHUNK = 16 * 1024 };
    char *data = malloc(SIZE), *got = malloc(SIZE);
    char path[] = "/tmp/weft_io_splice_XXXXXX";
    int f = mkstemp(path);
    ASSERT_GE(f, 0);
    unlink(path);
    for (int i = 0; i < SIZE; i++)
        data[i] = (char)(i * 31 + i / 4096);
    ASSERT_EQ(write(f, data, SIZE), SIZE);
    int p[2], sv[2];
    ASSERT_EQ(weft__sys_pipe2(p, O_NONBLOCK), 0);
    socketpair_nb(sv);

    size_t sent = 0, received = 0;
    struct rec in = {0}, out = {0}, rd = {0};
    while (received < SIZE) {
        if (sent < SIZE) {
            /* file -> pipe at an explicit offset, then pipe -> socket */
            weft__io_prep_splice(&in.op, f, (int64_t)sent, p[1], -1, CHUNK, 0, rec_done);
            submit_wait(d, &in);
            ASSERT_GT(in.res, 0);
            size_t moved = 0;
            while (moved < (size_t)in.res) {
                weft__io_prep_splice(&out.op, p[0], -1, sv[0], -1, (size_t)in.res - moved, 0,
                                     rec_done);
                weft__io_submit(d, &out.op);
                out.calls = 0;
                /* the socket may fill up: drain the peer while the splice waits */
                while (out.calls == 0) {
                    weft__io_prep_recv(&rd.op, sv[1], got + received, SIZE - received, 0,
                                       rec_done);
                    rd.calls = 0;
                    weft__io_submit(d, &rd.op);
                    while (rd.calls == 0)
                        ASSERT_GE(weft__io_park(d, weft_test_now_ns() + 1000000000LL), 0);
                    ASSERT_GT(rd.res, 0);
                    received += (size_t)rd.res;
                    ASSERT_GE(weft__io_poll(d), 0);
                }
                ASSERT_GT(out.res, 0);
                moved += (size_t)out.res;
            }
            sent += (size_t)in.res;
        } else {
            weft__io_prep_recv(&rd.op, sv[1], got + received, SIZE - received, 0, rec_done);
            submit_wait(d, &rd);
            ASSERT_GT(rd.res, 0);
            received += (size_t)rd.res;
        }
    }
    ASSERT_EQ(received, SIZE);
    ASSERT_EQ(memcmp(data, got, SIZE), 0);
    free(data);
    free(got);
    close(f);
    weft__sys_close(p[0]);
    weft__sys_close(p[1]);
    weft__sys_close(sv[0]);
    weft__sys_close(sv[1]);
    weft__io_driver_free(d);
}

TEST(splice_file_pipe_socket)
{
    splice_file_pipe_socket(&default_cfg);
}

TEST(splice_file_pipe_socket_fallback)
{
    splice_file_pipe_socket(&fallback_cfg);
}

TEST(poll_readiness)
{
    struct weft__io_driver *d = driver(NULL);
    int sv[2];
    socketpair_nb(sv);
    struct rec pin = {0}, pout = {0};
    weft__io_prep_poll(&pout.op, sv[0], POLLOUT, rec_done);
    submit_wait(d, &pout);
    ASSERT_TRUE(pout.res & POLLOUT);
    weft__io_prep_poll(&pin.op, sv[1], POLLIN, rec_done);
    weft__io_submit(d, &pin.op);
    ASSERT_GE(weft__io_poll(d), 0);
    ASSERT_EQ(pin.calls, 0);
    ASSERT_EQ(write(sv[0], "x", 1), 1);
    wait_calls(d, &pin.calls, 1);
    ASSERT_TRUE(pin.res & POLLIN);
    weft__sys_close(sv[0]);
    weft__sys_close(sv[1]);
    weft__io_driver_free(d);
}

/* ------------------------------------------------------------------ cancel */

static void cancel_recv(const struct weft__io_config *cfg)
{
    struct weft__io_driver *d = driver(cfg);
    int sv[2];
    socketpair_nb(sv);
    unsigned char buf[64];
    struct rec r = {0};

    /* 1. cancelled while in the kernel (or parked on readiness) */
    memset(buf, 0xAA, sizeof buf);
    weft__io_prep_recv(&r.op, sv[1], buf, sizeof buf, 0, rec_done);
    weft__io_submit(d, &r.op);
    ASSERT_GE(weft__io_poll(d), 0);
    ASSERT_GE(weft__io_poll(d), 0);
    ASSERT_EQ(r.calls, 0);
    ASSERT_EQ(weft__io_cancel(d, &r.op), 0);
    ASSERT_EQ(r.calls, 0); /* never inline */
    ASSERT_EQ(weft__io_cancel(d, &r.op), -EALREADY);
    wait_calls(d, &r.calls, 1);
    ASSERT_EQ(r.res, -ECANCELED);
    /* the buffer is untouched, and stays so once data arrives */
    ASSERT_EQ(write(sv[0], "data", 4), 4);
    for (int i = 0; i < 5; i++)
        ASSERT_GE(weft__io_park(d, weft_test_now_ns() + 2000000), 0);
    ASSERT_EQ(r.calls, 1);
    for (size_t i = 0; i < sizeof buf; i++)
        ASSERT_EQ(buf[i], 0xAA);
    char tmp[8];
    ASSERT_EQ(read(sv[1], tmp, sizeof tmp), 4); /* the cancelled recv consumed nothing */
    ASSERT_EQ(weft__io_cancel(d, &r.op), -ENOENT);

    /* 2. cancelled before it ever reached the kernel */
    r.calls = 0;
    weft__io_prep_recv(&r.op, sv[1], buf, sizeof buf, 0, rec_done);
    weft__io_submit(d, &r.op);
    ASSERT_EQ(weft__io_cancel(d, &r.op), 0);
    ASSERT_EQ(r.calls, 0);
    wait_calls(d, &r.calls, 1);
    ASSERT_EQ(r.res, -ECANCELED);
    ASSERT_EQ(write(sv[0], "more", 4), 4);
    for (int i = 0; i < 3; i++)
        ASSERT_GE(weft__io_park(d, weft_test_now_ns() + 2000000), 0);
    ASSERT_EQ(r.calls, 1);
    ASSERT_EQ(buf[0], 0xAA);

    /* 3. cancel after completion is refused; the op completes once with its result */
    r.calls = 0;
    weft__io_prep_recv(&r.op, sv[1], buf, sizeof buf, 0, rec_done);
    weft__io_submit(d, &r.op);
    wait_calls(d, &r.calls, 1);
    ASSERT_EQ(r.res, 4);
    ASSERT_EQ(weft__io_cancel(d, &r.op), -ENOENT);

    /* 4. an op that was never submitted */
    struct rec idle = {0};
    weft__io_prep_nop(&idle.op, rec_done);
    ASSERT_EQ(weft__io_cancel(d, &idle.op), -ENOENT);

    weft__sys_close(sv[0]);
    weft__sys_close(sv[1]);
    weft__io_driver_free(d);
}

TEST(cancel_pending_recv)
{
    cancel_recv(&default_cfg);
}

TEST(cancel_pending_recv_fallback)
{
    cancel_recv(&fallback_cfg);
}

TEST(close_cancels_pending_ops_on_fd)
{
    struct weft__io_driver *d = driver(NULL);
    int sv[2];
    socketpair_nb(sv);
    char buf[8];
    struct rec r = {0}, c = {0};
    weft__io_prep_recv(&r.op, sv[1], buf, sizeof buf, 0, rec_done);
    weft__io_submit(d, &r.op);
    ASSERT_GE(weft__io_poll(d), 0);
    weft__io_prep_close(&c.op, sv[1], rec_done);
    submit_wait(d, &c);
    ASSERT_EQ(c.res, 0);
    wait_calls(d, &r.calls, 1);
    ASSERT_EQ(r.res, -ECANCELED);
    weft__sys_close(sv[0]);
    weft__io_driver_free(d);
}

TEST(fd_number_reused_after_close_elsewhere)
{
    /* Two drivers (two workers) both wait on the same fd; it is closed through one of them,
     * the number is reused by a new socket, and ops on the new socket must still complete on
     * both (the epoll backend must not trust its stale registration). */
    struct weft__io_driver *a = driver(NULL), *b = driver(NULL);
    char buf[8];
    for (int round = 0; round < 3; round++) {
        int sv[2];
        socketpair_nb(sv);
        struct rec ra = {0}, rb = {0}, c = {0};
        weft__io_prep_recv(&ra.op, sv[1], buf, 1, 0, rec_done);
        weft__io_submit(a, &ra.op);
        weft__io_prep_recv(&rb.op, sv[1], buf + 1, 1, 0, rec_done);
        weft__io_submit(b, &rb.op);
        ASSERT_GE(weft__io_poll(a), 0);
        ASSERT_GE(weft__io_poll(b), 0);
        ASSERT_EQ(write(sv[0], "xy", 2), 2);
        wait_calls(a, &ra.calls, 1);
        wait_calls(b, &rb.calls, 1);
        ASSERT_EQ(ra.res, 1);
        ASSERT_EQ(rb.res, 1);
        int old = sv[1];
        if (round == 0) {
            weft__sys_close(sv[1]); /* outside both drivers */
        } else {
            weft__io_prep_close(&c.op, sv[1], rec_done); /* through one of them */
            submit_wait(round == 1 ? a : b, &c);
            ASSERT_EQ(c.res, 0);
        }
        weft__sys_close(sv[0]);
        socketpair_nb(sv);
        int peer = sv[0] == old ? sv[1] : sv[0], mine = sv[0] == old ? sv[0] : sv[1];
        ASSERT_EQ(mine, old); /* the number came back */
        ra.calls = rb.calls = 0;
        weft__io_prep_recv(&ra.op, mine, buf, 1, 0, rec_done);
        weft__io_submit(a, &ra.op);
        weft__io_prep_recv(&rb.op, mine, buf + 1, 1, 0, rec_done);
        weft__io_submit(b, &rb.op);
        ASSERT_GE(weft__io_poll(a), 0);
        ASSERT_GE(weft__io_poll(b), 0);
        ASSERT_EQ(write(peer, "zw", 2), 2);
        wait_calls(a, &ra.calls, 1);
        wait_calls(b, &rb.calls, 1);
        ASSERT_EQ(ra.res, 1);
        ASSERT_EQ(rb.res, 1);
        weft__sys_close(sv[0]);
        weft__sys_close(sv[1]);
    }
    weft__io_driver_free(a);
    weft__io_driver_free(b);
}

TEST(free_completes_pending_ops)
{
    struct weft__io_driver *d = driver(NULL);
    int sv[2];
    socketpair_nb(sv);
    char buf[8];
    struct rec r = {0}, q = {0};
    weft__io_prep_recv(&r.op, sv[1], buf, sizeof buf, 0, rec_done);
    weft__io_submit(d, &r.op);
    ASSERT_GE(weft__io_poll(d), 0);
    weft__io_prep_recv(&q.op, sv[0], buf, sizeof buf, 0, rec_done); /* never flushed */
    weft__io_submit(d, &q.op);
    weft__io_driver_free(d);
    ASSERT_EQ(r.calls, 1);
    ASSERT_EQ(r.res, -ECANCELED);
    ASSERT_EQ(q.calls, 1);
    ASSERT_EQ(q.res, -ECANCELED);
    weft__sys_close(sv[0]);
    weft__sys_close(sv[1]);
}

/* ------------------------------------------------------------------ cross-thread */

/* Park until the deadline has passed (a park may end early on EINTR). Returns the number
 * of parks it took. */
static int park_until(struct weft__io_driver *d, int64_t deadline)
{
    int parks = 0;
    while (weft_test_now_ns() < deadline) {
        ASSERT_EQ(weft__io_park(d, deadline), 0);
        parks++;
    }
    return parks;
}

struct waker_arg {
    struct weft__io_driver *d;
    int64_t delay_ns;
    struct rec *op;    /* submit_remote this one, or NULL: unpark only */
    atomic_int called; /* set just before the unpark */
};

static void *waker_main(void *p)
{
    struct waker_arg *a = p;
    struct timespec ts = {.tv_sec = a->delay_ns / 1000000000, .tv_nsec = a->delay_ns % 1000000000};
    nanosleep(&ts, NULL);
    atomic_store(&a->called, 1);
    if (a->op)
        weft__io_submit_remote(a->d, &a->op->op);
    else
        weft__io_unpark(a->d);
    return NULL;
}

TEST(unpark_from_another_thread)
{
    struct weft__io_driver *d = driver(NULL);
    ASSERT_GE(weft__io_poll(d), 0);

    for (int round = 0; round < 3; round++) {
        struct waker_arg a = {.d = d, .delay_ns = 50 * 1000000};
        pthread_t t;
        int64_t t0 = weft_test_now_ns();
        ASSERT_EQ(pthread_create(&t, NULL, waker_main, &a), 0);
        /* A park may also end early on a signal (EINTR; io_uring task-work notifications
         * from rings freed by earlier tests do that): park until the unpark was made. */
        int parks = 0;
        do {
            ASSERT_EQ(weft__io_park(d, INT64_MAX), 0);
            parks++;
        } while (!atomic_load(&a.called));
        int64_t waited = weft_test_now_ns() - t0;
        ASSERT_EQ(pthread_join(t, NULL), 0);
        ASSERT_LE(parks, 3);
        ASSERT_GE(waited, 40 * 1000000);
        ASSERT_LT(waited, 5 * 1000000000LL);
    }
    /* Coalescing: unparks while the owner runs cost no syscall; the next park returns. */
    uint64_t before = atomic_load(&d->wakeups);
    weft__io_unpark(d);
    weft__io_unpark(d);
    weft__io_unpark(d);
    ASSERT_EQ(atomic_load(&d->wakeups), before);
    int64_t t0 = weft_test_now_ns();
    ASSERT_EQ(weft__io_park(d, INT64_MAX), 0);
    ASSERT_LT(weft_test_now_ns() - t0, 1000000000LL);
    /* and the unpark is consumed: a timed park now waits its full time */
    ASSERT_LE(park_until(d, weft_test_now_ns() + 20 * 1000000), 2);
    weft__io_driver_free(d);
}

TEST(park_deadline)
{
    struct weft__io_driver *d = driver(NULL);
    int64_t t0 = weft_test_now_ns();
    ASSERT_LE(park_until(d, t0 + 30 * 1000000), 2);
    int64_t waited = weft_test_now_ns() - t0;
    ASSERT_LT(waited, 2 * 1000000000LL);
    t0 = weft_test_now_ns();
    ASSERT_EQ(weft__io_park(d, t0 - 1), 0); /* in the past: no wait */
    ASSERT_EQ(weft__io_park(d, 0), 0);
    ASSERT_LT(weft_test_now_ns() - t0, 100 * 1000000);
    /* poll with nothing pending makes no system call */
    uint64_t enters = weft__io_driver_stats(d)->enters;
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(weft__io_poll(d), 0);
    ASSERT_EQ(weft__io_driver_stats(d)->enters, enters);
    weft__io_driver_free(d);
}

TEST(submit_remote_from_another_thread)
{
    struct weft__io_driver *d = driver(NULL);
    int sv[2];
    socketpair_nb(sv);
    ASSERT_EQ(write(sv[0], "remote", 6), 6);
    char buf[16] = {0};
    struct rec nop = {0}, rcv = {0};

    weft__io_prep_nop(&nop.op, rec_done);
    struct waker_arg a = {.d = d, .delay_ns = 30 * 1000000, .op = &nop};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, waker_main, &a), 0);
    while (nop.calls == 0)
        ASSERT_GE(weft__io_park(d, INT64_MAX), 0);
    ASSERT_EQ(pthread_join(t, NULL), 0);
    ASSERT_EQ(nop.calls, 1);
    ASSERT_EQ(nop.res, 0);
    ASSERT_TRUE(pthread_equal(nop.thread, pthread_self())); /* done runs on the owner */

    weft__io_prep_recv(&rcv.op, sv[1], buf, sizeof buf, 0, rec_done);
    a = (struct waker_arg){.d = d, .delay_ns = 1000000, .op = &rcv};
    ASSERT_EQ(pthread_create(&t, NULL, waker_main, &a), 0);
    while (rcv.calls == 0)
        ASSERT_GE(weft__io_park(d, INT64_MAX), 0);
    ASSERT_EQ(pthread_join(t, NULL), 0);
    ASSERT_EQ(rcv.res, 6);
    ASSERT_TRUE(memcmp(buf, "remote", 6) == 0);
    weft__sys_close(sv[0]);
    weft__sys_close(sv[1]);
    weft__io_driver_free(d);
}

struct flood_arg {
    struct weft__io_driver *d;
    struct rec *ops;
    int n;
};

static void *flood_main(void *p)
{
    struct flood_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        weft__io_prep_nop(&a->ops[i].op, rec_done);
        weft__io_submit_remote(a->d, &a->ops[i].op);
    }
    return NULL;
}

TEST(submit_remote_many_threads)
{
    enum { THREADS = 4 };
    int per = (int)(2000 * weft_test_scale()) + 10;
    struct weft__io_driver *d = driver(NULL);
    struct rec *ops = calloc((size_t)(THREADS * per), sizeof *ops);
    struct flood_arg args[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (struct flood_arg){d, ops + i * per, per};
        ASSERT_EQ(pthread_create(&t[i], NULL, flood_main, &args[i]), 0);
    }
    int total = 0;
    int64_t give_up = weft_test_now_ns() + 20 * 1000000000LL;
    while (total < THREADS * per) {
        ASSERT_LT(weft_test_now_ns(), give_up);
        int n = weft__io_park(d, weft_test_now_ns() + 100 * 1000000);
        ASSERT_GE(n, 0);
        total += n;
    }
    for (int i = 0; i < THREADS; i++)
        ASSERT_EQ(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < THREADS * per; i++)
        ASSERT_EQ(ops[i].calls, 1);
    free(ops);
    weft__io_driver_free(d);
}

/* ------------------------------------------------------------------ batching */

TEST(batch_1000_ops_in_one_park)
{
    enum { N = 1000 };
    struct weft__io_driver *d = driver(NULL);
    struct rec *ops = calloc(N, sizeof *ops);
    ASSERT_GE(weft__io_poll(d), 0);

    /* 1000 NOPs */
    uint64_t e0 = weft__io_driver_stats(d)->enters;
    for (int i = 0; i < N; i++) {
        weft__io_prep_nop(&ops[i].op, rec_done);
        weft__io_submit(d, &ops[i].op);
    }
    int n = weft__io_park(d, weft_test_now_ns() + 1000000000LL);
    uint64_t enters = weft__io_driver_stats(d)->enters - e0;
    fprintf(stderr, "  1000 nops: park returned %d, %llu kernel entries\n", n,
            (unsigned long long)enters);
    ASSERT_EQ(n, N);
    ASSERT_LE(enters, N / 256 + 1); /* SQ of 256: three early flushes + the park's one */
    for (int i = 0; i < N; i++)
        ASSERT_EQ(ops[i].calls, 1);

    /* 1000 8-byte sends on one TCP socket (TCP coalesces them; a unix socket would charge
     * ~770 bytes of skb per send and fill its buffer after ~280), then read all back */
    int sv[2];
    tcp_pair(d, &sv[0], &sv[1]);
    char payload[N][8];
    e0 = weft__io_driver_stats(d)->enters;
    for (int i = 0; i < N; i++) {
        for (int k = 0, v = i; k < 8; k++, v /= 10)
            payload[i][7 - k] = (char)('0' + v % 10);
        ops[i].calls = 0;
        weft__io_prep_send(&ops[i].op, sv[0], payload[i], 8, 0, rec_done);
        weft__io_submit(d, &ops[i].op);
    }
    int done = 0, parks = 0;
    while (done < N) {
        n = weft__io_park(d, weft_test_now_ns() + 1000000000LL);
        ASSERT_GE(n, 0);
        done += n;
        parks++;
        ASSERT_LE(parks, 3);
    }
    enters = weft__io_driver_stats(d)->enters - e0;
    fprintf(stderr, "  1000 sends: %d park(s), %llu kernel entries\n", parks,
            (unsigned long long)enters);
    if (weft__io_driver_backend(d) == WEFT__IO_BACKEND_URING)
        ASSERT_LE(enters, N / 256 + 2);
    long sum = 0;
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(ops[i].res, 8);
        sum += ops[i].res;
    }
    ASSERT_EQ(sum, 8 * N);
    char *got = malloc(8 * N);
    size_t have = 0;
    while (have < 8 * N) {
        struct rec rd = {0};
        weft__io_prep_recv(&rd.op, sv[1], got + have, 8 * N - have, 0, rec_done);
        submit_wait(d, &rd);
        ASSERT_GT(rd.res, 0);
        have += (size_t)rd.res;
    }
    for (int i = 0; i < N; i++)
        ASSERT_EQ(memcmp(got + 8 * i, payload[i], 8), 0); /* in submission order */
    free(got);
    weft__sys_close(sv[0]);
    weft__sys_close(sv[1]);
    free(ops);
    weft__io_driver_free(d);
}

TEST(cq_overflow_loses_nothing)
{
    /* A tiny ring (8 SQEs, 16 CQEs): 500 NOPs overflow the CQ many times over. */
    enum { N = 500 };
    struct weft__io_config cfg = {.sq_entries = 8, .cq_entries = 16};
    struct weft__io_driver *d = driver(&cfg);
    struct rec *ops = calloc(N, sizeof *ops);
    for (int i = 0; i < N; i++) {
        weft__io_prep_nop(&ops[i].op, rec_done);
        weft__io_submit(d, &ops[i].op);
    }
    int done = 0, parks = 0;
    while (done < N) {
        int n = weft__io_park(d, weft_test_now_ns() + 1000000000LL);
        ASSERT_GE(n, 0);
        done += n;
        ASSERT_LT(++parks, 100);
    }
    ASSERT_EQ(done, N);
    fprintf(stderr, "  %d nops through a 16-entry CQ: %d park(s), %llu kernel entries\n", N, parks,
            (unsigned long long)weft__io_driver_stats(d)->enters);
    for (int i = 0; i < N; i++)
        ASSERT_EQ(ops[i].calls, 1);
    free(ops);
    weft__io_driver_free(d);
}

/* ------------------------------------------------------------------ faults */

static void accept_emfile(const struct weft__io_config *cfg)
{
    struct weft__io_driver *d = driver(cfg);
    struct sockaddr_in addr;
    int ln = tcp_listener(&addr);
    int c = weft__sys_socket(AF_INET, SOCK_STREAM, 0);
    int r0 = weft__sys_connect(c, (struct sockaddr *)&addr, sizeof addr);
    ASSERT_TRUE(r0 == 0 || r0 == -EINPROGRESS);

    struct rlimit old, low;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 256;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    int dups[256], ndup = 0;
    for (;;) {
        int fd = dup(0);
        if (fd < 0) {
            ASSERT_EQ(errno, EMFILE);
            break;
        }
        ASSERT_LT(ndup, 256);
        dups[ndup++] = fd;
    }
    struct rec acc = {0};
    weft__io_prep_accept(&acc.op, ln, NULL, NULL, rec_done);
    submit_wait(d, &acc);
    ASSERT_EQ(acc.res, -EMFILE);
    /* the listener is still usable once a descriptor is free */
    close(dups[--ndup]);
    weft__io_prep_accept(&acc.op, ln, NULL, NULL, rec_done);
    submit_wait(d, &acc);
    ASSERT_GE(acc.res, 0);
    weft__sys_close(acc.res);
    while (ndup > 0)
        close(dups[--ndup]);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);

    /* Injected through the sys seam: reaches the caller the same way (the epoll backend and
     * the io_uring fallback accept with accept4(2); io_uring's own accept never calls it). */
    int c2 = weft__sys_socket(AF_INET, SOCK_STREAM, 0);
    r0 = weft__sys_connect(c2, (struct sockaddr *)&addr, sizeof addr);
    ASSERT_TRUE(r0 == 0 || r0 == -EINPROGRESS);
    weft__sys_fault_inject(WEFT__SYS_ACCEPT4, EMFILE, 0, 1);
    weft__io_prep_accept(&acc.op, ln, NULL, NULL, rec_done);
    submit_wait(d, &acc);
    if (weft__sys_fault_hits(WEFT__SYS_ACCEPT4) == 1) {
        ASSERT_EQ(acc.res, -EMFILE);
        weft__io_prep_accept(&acc.op, ln, NULL, NULL, rec_done);
        submit_wait(d, &acc);
    }
    weft__sys_fault_clear();
    ASSERT_GE(acc.res, 0);
    weft__sys_close(acc.res);
    weft__sys_close(c);
    weft__sys_close(c2);
    weft__sys_close(ln);
    weft__io_driver_free(d);
}

TEST(accept_emfile_surfaces)
{
    accept_emfile(&default_cfg);
}

TEST(accept_emfile_surfaces_fallback)
{
    accept_emfile(&fallback_cfg);
}

static void peer_reset(const struct weft__io_config *cfg)
{
    /* The harness ignores SIGPIPE; restore the default so a SIGPIPE would kill us. */
    struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
    ASSERT_EQ(sigaction(SIGPIPE, &dfl, &old), 0);
    struct weft__io_driver *d = driver(cfg);
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    struct rec r = {0};

    /* RST: SO_LINGER {1, 0} then close */
    int c, s;
    tcp_pair(d, &c, &s);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    ASSERT_EQ(weft__sys_setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    weft__sys_close(s);
    weft__io_prep_recv(&r.op, c, buf, sizeof buf, 0, rec_done);
    submit_wait(d, &r);
    ASSERT_EQ(r.res, -ECONNRESET);
    for (int i = 0; i < 3; i++) {
        weft__io_prep_send(&r.op, c, buf, sizeof buf, 0, rec_done);
        submit_wait(d, &r);
        ASSERT_TRUE(r.res == -EPIPE || r.res == -ECONNRESET);
    }
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    weft__io_prep_sendmsg(&r.op, c, &msg, 0, rec_done);
    submit_wait(d, &r);
    ASSERT_TRUE(r.res == -EPIPE || r.res == -ECONNRESET);
    weft__sys_close(c);

    /* plain close: sends succeed until the peer's RST arrives, then -EPIPE/-ECONNRESET */
    tcp_pair(d, &c, &s);
    weft__sys_close(s);
    int failed = 0;
    for (int i = 0; i < 100 && !failed; i++) {
        weft__io_prep_send(&r.op, c, buf, sizeof buf, 0, rec_done);
        submit_wait(d, &r);
        if (r.res < 0) {
            ASSERT_TRUE(r.res == -EPIPE || r.res == -ECONNRESET);
            failed = 1;
        }
        usleep(1000);
    }
    ASSERT_TRUE(failed);
    weft__io_prep_send(&r.op, c, buf, sizeof buf, 0, rec_done);
    submit_wait(d, &r);
    ASSERT_EQ(r.res, -EPIPE);
    weft__sys_close(c);
    weft__io_driver_free(d);
    ASSERT_EQ(sigaction(SIGPIPE, &old, NULL), 0);
}

TEST(peer_reset_no_sigpipe)
{
    peer_reset(&default_cfg);
}

TEST(peer_reset_no_sigpipe_fallback)
{
    peer_reset(&fallback_cfg);
}

TEST(sys_seam_eintr_eagain_through_driver)
{
    /* An injected EINTR is retried inside sys.c; an injected EAGAIN on a ready socket makes
     * the op wait for readiness and retry (epoll, and io_uring's fallback path). */
    struct weft__io_driver *d = driver(&fallback_cfg);
    int sv[2];
    socketpair_nb(sv);
    ASSERT_EQ(write(sv[0], "abc", 3), 3);
    char buf[8];
    struct rec r = {0};
    weft__sys_fault_inject(WEFT__SYS_RECV, EINTR, 0, 3);
    weft__io_prep_recv(&r.op, sv[1], buf, sizeof buf, 0, rec_done);
    submit_wait(d, &r);
    ASSERT_EQ(r.res, 3);
    bool syscall_path = weft__sys_fault_hits(WEFT__SYS_RECV) == 3;
    weft__sys_fault_clear();

    weft__sys_fault_inject(WEFT__SYS_RECV, EAGAIN, 0, 1);
    weft__io_prep_recv(&r.op, sv[1], buf, sizeof buf, 0, rec_done);
    r.calls = 0;
    weft__io_submit(d, &r.op);
    ASSERT_GE(weft__io_poll(d), 0);
    if (syscall_path)
        ASSERT_EQ(r.calls, 0); /* waiting for readiness after the (fake) EAGAIN */
    ASSERT_EQ(write(sv[0], "de", 2), 2);
    wait_calls(d, &r.calls, 1);
    ASSERT_EQ(r.res, 2);
    weft__sys_fault_clear();
    weft__sys_close(sv[0]);
    weft__sys_close(sv[1]);
    weft__io_driver_free(d);
}

TEST(bad_opcode_and_bad_fd)
{
    struct weft__io_driver *d = driver(NULL);
    struct rec r = {0};
    weft__io_prep_nop(&r.op, rec_done);
    r.op.opcode = 200;
    submit_wait(d, &r);
    ASSERT_EQ(r.res, -EINVAL);
    char buf[4];
    weft__io_prep_recv(&r.op, 987, buf, sizeof buf, 0, rec_done);
    submit_wait(d, &r);
    ASSERT_EQ(r.res, -EBADF);
    weft__io_driver_free(d);
}

TEST_MAIN()
