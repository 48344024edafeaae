/* Unix sockets: stream listen/accept/connect on a path and in the abstract namespace, socket
 * pairs, datagram sockets (bound, unbound, pairs), errors. */
#include <sys/stat.h>

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

static void stream_case(weft_rt *rt, const char *path)
{
    weft_unix_listener *ln = NULL;
    ASSERT_EQ(weft_unix_listen(&ln, path, NULL), 0);
    weft_sockaddr la;
    ASSERT_EQ(weft_listener_local_addr(ln, &la), 0);
    ASSERT_EQ(weft_sockaddr_family(&la), AF_UNIX);
    char text[128];
    ASSERT_GT(weft_sockaddr_format(&la, text, sizeof text), 0);
    ASSERT_STREQ(text, path);

    struct nu_acc acc;
    struct nu_conn con;
    weft_accept_init(&acc.f, ln, weft_deadline_in(WEFT_SEC(5)));
    weft_unix_connect_init(&con.f, path, weft_deadline_in(WEFT_SEC(5)));
    ASSERT_EQ(nu_run2(rt, nu_accept, &acc, nu_connect, &con), 0);
    ASSERT_EQ(acc.err, 0);
    ASSERT_EQ(con.err, 0);
    char buf[16];
    ASSERT_EQ(nu_write_all_now(rt, con.conn, "unix!", 5, WEFT_NEVER), 5);
    ASSERT_EQ(nu_read_exact_now(rt, acc.conn, buf, 5, weft_deadline_in(WEFT_SEC(5))), 5);
    ASSERT_TRUE(memcmp(buf, "unix!", 5) == 0);
    /* TCP options do not apply */
    ASSERT_EQ(weft_tcp_set_nodelay(con.conn, true), -EOPNOTSUPP);
    ASSERT_EQ(weft_tcp_set_cork(con.conn, true), -EOPNOTSUPP);
    weft_sockaddr peer;
    ASSERT_EQ(weft_stream_peer_addr(con.conn, &peer), 0);
    ASSERT_EQ(weft_sockaddr_family(&peer), AF_UNIX);
    weft_unix_close(con.conn);
    weft_unix_close(acc.conn);
    weft_listener_close(ln);
}

TEST(stream_path_and_abstract)
{
    for (int fl = 0; fl < 2; fl++) {
        weft_rt *rt = nu_rt(fl ? WEFT_RT_CURRENT_THREAD : WEFT_RT_MULTI_THREAD);
        char path[64];
        snprintf(path, sizeof path, "/tmp/weft_unix_%d_%d.sock", (int)getpid(), fl);
        unlink(path);
        stream_case(rt, path);
        struct stat st;
        ASSERT_EQ(stat(path, &st), 0); /* close does not remove the file */
        /* a second listener on the same path: in use */
        weft_unix_listener *ln = NULL;
        ASSERT_EQ(weft_unix_listen(&ln, path, NULL), -EADDRINUSE);
        unlink(path);
        snprintf(path, sizeof path, "@weft_unix_%d_%d", (int)getpid(), fl);
        stream_case(rt, path);

        /* nobody there */
        struct nu_conn con;
        weft_unix_connect_init(&con.f, "/tmp/weft_no_such_socket", weft_deadline_in(WEFT_SEC(5)));
        ASSERT_EQ(nu_run(rt, nu_connect, &con), 0);
        ASSERT_EQ(con.err, -ENOENT);
        weft_rt_free(rt);
    }
}

TEST(pairs_and_datagrams)
{
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    weft_unix_stream *a, *b;
    ASSERT_EQ(weft_unix_pair(&a, &b), 0);
    char buf[32];
    ASSERT_EQ(nu_write_all_now(rt, a, "pair", 4, WEFT_NEVER), 4);
    ASSERT_EQ(nu_read_exact_now(rt, b, buf, 4, weft_deadline_in(WEFT_SEC(5))), 4);
    weft_unix_close(a);
    weft_unix_close(b);

    weft_unix_datagram *x, *y;
    ASSERT_EQ(weft_unix_dgram_pair(&x, &y), 0);
    struct dx s, r;
    weft_dgram_send_init(&s.f, x, "one", 3, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, dx_send, &s), 0);
    ASSERT_EQ(s.n, 3);
    weft_dgram_recv_init(&r.f, y, buf, sizeof buf, weft_deadline_in(WEFT_SEC(5)));
    ASSERT_EQ(nu_run(rt, dx_recv, &r), 0);
    ASSERT_EQ(r.n, 3);
    weft_dgram_close(x);
    weft_dgram_close(y);

    /* a bound server and an unbound client sending to its path */
    char path[64];
    snprintf(path, sizeof path, "@weft_dgram_%d", (int)getpid());
    weft_unix_datagram *srv, *cli;
    ASSERT_EQ(weft_unix_dgram_bind(&srv, path), 0);
    ASSERT_EQ(weft_unix_dgram_bind(&cli, NULL), 0);
    weft_sockaddr to, from;
    ASSERT_EQ(weft_sockaddr_unix(&to, path), 0);
    weft_recv_from_init(&r.f, srv, buf, sizeof buf, &from, weft_deadline_in(WEFT_SEC(5)));
    weft_send_to_init(&s.f, cli, "hello", 5, &to, WEFT_NEVER);
    ASSERT_EQ(nu_run2(rt, dx_recv_from, &r, dx_send_to, &s), 0);
    ASSERT_EQ(r.n, 5);
    ASSERT_TRUE(memcmp(buf, "hello", 5) == 0);
    ASSERT_EQ(from.len, 0); /* an unbound sender has no address */
    ASSERT_EQ(weft_sockaddr_family(&from), -EINVAL);
    /* connect: the family must match */
    weft_sockaddr inet;
    ASSERT_EQ(weft_sockaddr_parse(&inet, "127.0.0.1:9"), 0);
    ASSERT_EQ(weft_dgram_connect(cli, &inet), -EINVAL);
    ASSERT_EQ(weft_dgram_connect(cli, &to), 0);
    weft_dgram_send_init(&s.f, cli, "again", 5, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, dx_send, &s), 0);
    ASSERT_EQ(s.n, 5);
    weft_dgram_recv_init(&r.f, srv, buf, sizeof buf, weft_deadline_in(WEFT_SEC(5)));
    ASSERT_EQ(nu_run(rt, dx_recv, &r), 0);
    ASSERT_EQ(r.n, 5);
    weft_dgram_close(srv);
    weft_dgram_close(cli);
    weft_rt_free(rt);
}

TEST_MAIN()
