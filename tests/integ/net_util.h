/* Helpers shared by the tcp_/udp_/unix_/net_/io_ tests: run one poll closure as a task (block
 * on it, or spawn it), small wrappers for each IO future, raw blocking peers. */
#ifndef WEFT_NET_UTIL_H
#define WEFT_NET_UTIL_H

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"
#include "weft.h"

typedef weft_poll (*nu_fn)(void *arg, weft_cx *cx);

/* A task that polls fn(arg) until READY. arg lives outside the task: run it to READY. */
struct nu_call {
    nu_fn fn;
    void *arg;
};
static weft_poll nu_call_poll(void *st, weft_cx *cx, void *out)
{
    struct nu_call *c = st;
    (void)out;
    return c->fn(c->arg, cx);
}
static const weft_future_type nu_call_type = {
    .name = "nu_call", .poll = nu_call_poll, .state_size = sizeof(struct nu_call)};

static inline int nu_run(weft_rt *rt, nu_fn fn, void *arg)
{
    struct nu_call c = {fn, arg};
    return weft_rt_block_on(rt, &nu_call_type, &c, NULL);
}

static inline weft_join *nu_spawn(weft_rt *rt, nu_fn fn, void *arg)
{
    struct nu_call c = {fn, arg};
    weft_join *j = NULL;
    ASSERT_EQ(weft_spawn(rt, &nu_call_type, &c, &j), 0);
    return j;
}

/* A task that polls fn1(a1) and fn2(a2) until both are READY (works on a current-thread
 * runtime too, where spawned tasks only run inside block_on). */
struct nu_two {
    nu_fn fn[2];
    void *arg[2];
    int done[2];
};
static weft_poll nu_two_poll(void *st, weft_cx *cx, void *out)
{
    struct nu_two *t = st;
    (void)out;
    for (int i = 0; i < 2; i++)
        if (!t->done[i] && t->fn[i](t->arg[i], cx) == WEFT_READY)
            t->done[i] = 1;
    return t->done[0] && t->done[1] ? WEFT_READY : WEFT_PENDING;
}
static const weft_future_type nu_two_type = {
    .name = "nu_two", .poll = nu_two_poll, .state_size = sizeof(struct nu_two)};

static inline int nu_run2(weft_rt *rt, nu_fn f1, void *a1, nu_fn f2, void *a2)
{
    struct nu_two t = {{f1, f2}, {a1, a2}, {0, 0}};
    return weft_rt_block_on(rt, &nu_two_type, &t, NULL);
}

static inline weft_rt *nu_rt(int flavor)
{
    weft_rt *rt = NULL;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = flavor, .workers = 2}), 0);
    return rt;
}

/* Wrappers: one struct per future kind, with its result. */
struct nu_x {
    weft_read_some f;
    ssize_t n;
};
#define NU_X(name, pollfn)                                                                         \
    static inline weft_poll name(void *a, weft_cx *cx)                                             \
    {                                                                                              \
        struct nu_x *x = a;                                                                        \
        return pollfn(&x->f, cx, &x->n);                                                           \
    }
NU_X(nu_read_some, weft_read_some_poll)
NU_X(nu_read_exact, weft_read_exact_poll)
NU_X(nu_write, weft_write_poll)
NU_X(nu_write_all, weft_write_all_poll)

struct nu_acc {
    weft_accept f;
    weft_stream *conn;
    int err;
};
static inline weft_poll nu_accept(void *a, weft_cx *cx)
{
    struct nu_acc *x = a;
    return weft_accept_poll(&x->f, cx, &x->conn, &x->err);
}

struct nu_conn {
    weft_connect f;
    weft_stream *conn;
    int err;
};
static inline weft_poll nu_connect(void *a, weft_cx *cx)
{
    struct nu_conn *x = a;
    return weft_connect_poll(&x->f, cx, &x->conn, &x->err);
}

/* Run one read/write future to READY on rt; returns its result. */
static inline ssize_t nu_xfer(weft_rt *rt, nu_fn fn, struct nu_x *x)
{
    x->n = -12345;
    ASSERT_EQ(nu_run(rt, fn, x), 0);
    return x->n;
}

static inline ssize_t nu_read_exact_now(weft_rt *rt, weft_stream *s, void *buf, size_t len,
                                        int64_t deadline)
{
    struct nu_x x;
    weft_read_exact_init(&x.f, s, buf, len, deadline);
    return nu_xfer(rt, nu_read_exact, &x);
}

static inline ssize_t nu_write_all_now(weft_rt *rt, weft_stream *s, const void *buf, size_t len,
                                       int64_t deadline)
{
    struct nu_x x;
    weft_write_all_init(&x.f, s, buf, len, deadline);
    return nu_xfer(rt, nu_write_all, &x);
}

/* A TCP listener on 127.0.0.1:0 and its address. */
static inline weft_listener *nu_listen(weft_sockaddr *addr)
{
    weft_sockaddr a;
    weft_listener *ln = NULL;
    ASSERT_EQ(weft_sockaddr_parse(&a, "127.0.0.1:0"), 0);
    ASSERT_EQ(weft_tcp_listen(&ln, &a, NULL), 0);
    ASSERT_EQ(weft_listener_local_addr(ln, addr), 0);
    ASSERT_GT(weft_sockaddr_port(addr), 0);
    return ln;
}

/* A connected pair of weft TCP streams through ln (accept + connect concurrently). */
static inline void nu_tcp_pair(weft_rt *rt, weft_listener *ln, const weft_sockaddr *addr,
                               weft_stream **client, weft_stream **server)
{
    struct nu_acc acc;
    struct nu_conn con;
    weft_accept_init(&acc.f, ln, weft_deadline_in(WEFT_SEC(10)));
    weft_tcp_connect_init(&con.f, addr, weft_deadline_in(WEFT_SEC(10)));
    ASSERT_EQ(nu_run2(rt, nu_accept, &acc, nu_connect, &con), 0);
    ASSERT_EQ(con.err, 0);
    ASSERT_EQ(acc.err, 0);
    *client = con.conn;
    *server = acc.conn;
}

/* A runtime of `flavor` with a loopback listener and one connected TCP pair through it. */
struct nu_net {
    weft_rt *rt;
    weft_sockaddr addr;
    weft_listener *ln;
    weft_stream *client, *server;
};
static inline void nu_net_open(struct nu_net *n, int flavor)
{
    n->rt = nu_rt(flavor);
    n->ln = nu_listen(&n->addr);
    nu_tcp_pair(n->rt, n->ln, &n->addr, &n->client, &n->server);
}
static inline void nu_net_close(struct nu_net *n)
{
    weft_stream_close(n->client);
    weft_stream_close(n->server);
    weft_listener_close(n->ln);
    weft_rt_free(n->rt);
}

/* A raw blocking TCP client socket connected to addr (CLOEXEC, blocking). */
static inline int nu_raw_connect(const weft_sockaddr *addr)
{
    int fd = socket(addr->u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(connect(fd, &addr->u.sa, addr->len), 0);
    return fd;
}

static inline size_t nu_raw_read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

static inline int nu_count_open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

#endif
