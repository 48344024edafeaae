/* UDP: bind, send_to/recv_from with addresses, connect + send/recv, truncation, deadlines,
 * close with a receive pending, options; on both executors. */
#include "net_util.h"

struct dx {
    weft_send_to f;
    ssize_t n;
};
static weft_poll dx_send_to(void *a, weft_cx *cx)
{
    struct dx *x = a;
    return weft_send_to_poll(&x->f, cx, &x->n);
}
static weft_poll dx_recv_from(void *a, weft_cx *cx)
{
    struct dx *x = a;
    return weft_recv_from_poll(&x->f, cx, &x->n);
}
static weft_poll dx_send(void *a, weft_cx *cx)
{
    struct dx *x = a;
    return weft_dgram_send_poll(&x->f, cx, &x->n);
}
static weft_poll dx_recv(void *a, weft_cx *cx)
{
    struct dx *x = a;
    return weft_dgram_recv_poll(&x->f, cx, &x->n);
}

static weft_udp_socket *bind_any(weft_sockaddr *addr)
{
    weft_sockaddr a;
    weft_udp_socket *u = NULL;
    ASSERT_EQ(weft_sockaddr_parse(&a, "127.0.0.1:0"), 0);
    ASSERT_EQ(weft_udp_bind(&u, &a, NULL), 0);
    ASSERT_EQ(weft_dgram_local_addr(u, addr), 0);
    return u;
}

TEST(send_to_recv_from)
{
    for (int fl = 0; fl < 2; fl++) {
        weft_rt *rt = nu_rt(fl ? WEFT_RT_CURRENT_THREAD : WEFT_RT_MULTI_THREAD);
        weft_sockaddr aa, ba, from;
        weft_udp_socket *a = bind_any(&aa), *b = bind_any(&ba);
        char buf[64];
        struct dx s, r;
        /* the receive waits first, then the datagram arrives */
        weft_recv_from_init(&r.f, b, buf, sizeof buf, &from, weft_deadline_in(WEFT_SEC(5)));
        weft_send_to_init(&s.f, a, "datagram", 8, &ba, WEFT_NEVER);
        ASSERT_EQ(nu_run2(rt, dx_recv_from, &r, dx_send_to, &s), 0);
        ASSERT_EQ(s.n, 8);
        ASSERT_EQ(r.n, 8);
        ASSERT_TRUE(memcmp(buf, "datagram", 8) == 0);
        ASSERT_TRUE(!weft_recv_from_truncated(&r.f));
        ASSERT_EQ(weft_sockaddr_port(&from), weft_sockaddr_port(&aa));

        /* a datagram longer than the buffer is truncated, and says so */
        weft_send_to_init(&s.f, b, "0123456789", 10, &aa, WEFT_NEVER);
        ASSERT_EQ(nu_run(rt, dx_send_to, &s), 0);
        weft_recv_from_init(&r.f, a, buf, 4, NULL, weft_deadline_in(WEFT_SEC(5)));
        ASSERT_EQ(nu_run(rt, dx_recv_from, &r), 0);
        ASSERT_EQ(r.n, 4);
        ASSERT_TRUE(weft_recv_from_truncated(&r.f));

        /* an empty datagram is a datagram */
        weft_send_to_init(&s.f, a, NULL, 0, &ba, WEFT_NEVER);
        ASSERT_EQ(nu_run(rt, dx_send_to, &s), 0);
        ASSERT_EQ(s.n, 0);
        weft_recv_from_init(&r.f, b, buf, sizeof buf, &from, weft_deadline_in(WEFT_SEC(5)));
        ASSERT_EQ(nu_run(rt, dx_recv_from, &r), 0);
        ASSERT_EQ(r.n, 0);

        /* a deadline with nothing coming */
        weft_recv_from_init(&r.f, b, buf, sizeof buf, &from, weft_deadline_in(WEFT_MS(20)));
        ASSERT_EQ(nu_run(rt, dx_recv_from, &r), 0);
        ASSERT_EQ(r.n, -ETIMEDOUT);

        /* connected: send/recv without addresses */
        ASSERT_EQ(weft_dgram_connect(a, &ba), 0);
        ASSERT_EQ(weft_dgram_connect(b, &aa), 0);
        weft_dgram_send_init(&s.f, a, "conn", 4, WEFT_NEVER);
        ASSERT_EQ(nu_run(rt, dx_send, &s), 0);
        ASSERT_EQ(s.n, 4);
        weft_dgram_recv_init(&r.f, b, buf, sizeof buf, weft_deadline_in(WEFT_SEC(5)));
        ASSERT_EQ(nu_run(rt, dx_recv, &r), 0);
        ASSERT_EQ(r.n, 4);

        /* connected to a port nobody listens on: the bounce comes back as ECONNREFUSED */
        weft_udp_socket *c = bind_any(&aa);
        weft_dgram_close(b); /* now ba is dead */
        ASSERT_EQ(weft_dgram_connect(c, &ba), 0);
        weft_dgram_send_init(&s.f, c, "x", 1, WEFT_NEVER);
        ASSERT_EQ(nu_run(rt, dx_send, &s), 0);
        weft_dgram_recv_init(&r.f, c, buf, sizeof buf, weft_deadline_in(WEFT_SEC(2)));
        ASSERT_EQ(nu_run(rt, dx_recv, &r), 0);
        ASSERT_EQ(r.n, -ECONNREFUSED);

        weft_udp_close(a);
        weft_udp_close(c);
        weft_rt_free(rt);
    }
}

struct closing {
    struct dx r;
    weft_dgram *s;
    weft_sleep nap;
};
static weft_poll closing_close(void *a, weft_cx *cx)
{
    struct closing *c = a;
    if (weft_sleep_poll(&c->nap, cx) == WEFT_PENDING)
        return WEFT_PENDING;
    weft_dgram_close(c->s);
    return WEFT_READY;
}

TEST(close_with_a_receive_pending_and_options)
{
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    weft_sockaddr aa;
    weft_udp_socket *a = bind_any(&aa);
    char buf[8];
    struct closing c = {.s = a};
    weft_recv_from_init(&c.r.f, a, buf, sizeof buf, NULL, WEFT_NEVER);
    weft_sleep_init(&c.nap, WEFT_MS(30));
    ASSERT_EQ(nu_run2(rt, dx_recv_from, &c.r, closing_close, &c), 0);
    ASSERT_EQ(c.r.n, -ECANCELED);

    /* options: reuseaddr + reuseport lets two sockets share a port; broadcast is set */
    weft_sockaddr any;
    weft_udp_socket *x = NULL, *y = NULL;
    ASSERT_EQ(weft_sockaddr_parse(&any, "127.0.0.1:0"), 0);
    weft_udp_opts o = {.reuseaddr = true, .reuseport = true, .broadcast = true};
    ASSERT_EQ(weft_udp_bind(&x, &any, &o), 0);
    ASSERT_EQ(weft_dgram_local_addr(x, &any), 0);
    ASSERT_EQ(weft_udp_bind(&y, &any, &o), 0);
    int v = 0;
    socklen_t len = sizeof v;
    ASSERT_EQ(getsockopt(weft_dgram_fd(x), SOL_SOCKET, SO_BROADCAST, &v, &len), 0);
    ASSERT_EQ(v, 1);
    ASSERT_TRUE(fcntl(weft_dgram_fd(x), F_GETFD) & FD_CLOEXEC);
    weft_udp_close(x);
    weft_udp_close(y);
    ASSERT_EQ(weft_udp_bind(&x, &any, NULL), 0); /* free again */
    weft_udp_close(x);
    weft_rt_free(rt);
}

TEST_MAIN()
