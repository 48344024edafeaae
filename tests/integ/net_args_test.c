/* Bad arguments to every public function of io.h and net.h: -EINVAL (or the documented
 * neutral value), never a crash. (Addresses: net_resolve_test; signals: net_signal_test;
 * sendfile: io_sendfile_test; weft_stream_from_fd: io_stream_test.) */
#include "net_util.h"

/* Poll once with a context that has no runtime (a hand poll outside weft). */
static weft_cx no_rt_cx(void)
{
    return (weft_cx){.budget = 128};
}

TEST(stream_futures)
{
    weft_cx cx = no_rt_cx();
    weft_read_some f;
    ssize_t n;
    char buf[4];
    weft_unix_stream *a, *b;
    ASSERT_EQ(weft_unix_pair(&a, &b), 0);

    /* NULL future, NULL stream, NULL buffer with a length, zero-filled, polled twice */
    ASSERT_EQ(weft_read_some_poll(NULL, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    weft_read_some_init(&f, NULL, buf, 4, WEFT_NEVER);
    ASSERT_EQ(weft_read_some_poll(&f, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    ASSERT_EQ(weft_read_some_poll(&f, &cx, &n), WEFT_READY); /* after READY */
    ASSERT_EQ(n, -EINVAL);
    weft_read_exact_init(&f, a, NULL, 4, WEFT_NEVER);
    ASSERT_EQ(weft_read_exact_poll(&f, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    weft_write_init(&f, a, NULL, 4, WEFT_NEVER);
    ASSERT_EQ(weft_write_poll(&f, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    weft_write_all_init(&f, NULL, "x", 1, WEFT_NEVER);
    ASSERT_EQ(weft_write_all_poll(&f, &cx, NULL), WEFT_READY); /* result may be NULL */
    memset(&f, 0, sizeof f);
    ASSERT_EQ(weft_read_some_poll(&f, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    ASSERT_EQ(weft_read_some_poll(&f, NULL, &n), WEFT_READY);
    /* no runtime in the context: nothing can be submitted */
    weft_read_some_init(&f, a, buf, 4, WEFT_NEVER);
    ASSERT_EQ(weft_read_some_poll(&f, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    weft_read_some_drop(&f);
    weft_read_some_drop(NULL);
    weft_read_exact_drop(NULL);
    weft_write_drop(NULL);
    weft_write_all_drop(NULL);
    memset(&f, 0, sizeof f);
    weft_write_all_drop(&f);
    ASSERT_EQ(weft_io_progress(NULL), 0);

    weft_readv v;
    ASSERT_EQ(weft_readv_poll(NULL, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    ASSERT_EQ(weft_writev_poll(NULL, &cx, &n), WEFT_READY);
    weft_readv_init(&v, NULL, NULL, 1, WEFT_NEVER);
    ASSERT_EQ(weft_readv_poll(&v, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    struct iovec iov = {buf, 4};
    weft_writev_init(&v, a, &iov, 1025, WEFT_NEVER);
    ASSERT_EQ(weft_writev_poll(&v, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    memset(&v, 0, sizeof v);
    ASSERT_EQ(weft_readv_poll(&v, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    weft_readv_drop(&v);
    weft_readv_drop(NULL);
    weft_writev_drop(NULL);

    ASSERT_EQ(weft_io_backend(NULL), -EINVAL);
    ASSERT_STREQ(weft_io_backend_name(NULL), "?");
    weft_stream_close(a);
    weft_stream_close(b);
}

TEST(buffered_io)
{
    weft_cx cx = no_rt_cx();
    weft_unix_stream *a, *b;
    ASSERT_EQ(weft_unix_pair(&a, &b), 0);
    weft_bufreader rd;
    char buf[8];
    ssize_t n;
    ASSERT_EQ(weft_bufreader_init(NULL, a, NULL, 0), -EINVAL);
    ASSERT_EQ(weft_bufreader_init(&rd, NULL, NULL, 0), -EINVAL);
    ASSERT_EQ(weft_bufreader_init(&rd, a, buf, 0), -EINVAL);
    weft_bufreader_fini(&rd); /* empty after a failed init */
    weft_bufreader_fini(NULL);
    ASSERT_TRUE(weft_bufreader_data(NULL) == NULL);
    ASSERT_EQ(weft_bufreader_len(NULL), 0);
    ASSERT_EQ(weft_bufreader_cap(NULL), 0);
    ASSERT_TRUE(!weft_bufreader_eof(NULL));
    weft_bufreader_consume(NULL, 3);

    weft_bufreader_fill f;
    ASSERT_EQ(weft_bufreader_fill_poll(NULL, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    ASSERT_EQ(weft_read_until_poll(NULL, &cx, &n), WEFT_READY);
    ASSERT_EQ(weft_read_line_poll(NULL, &cx, &n), WEFT_READY);
    ASSERT_EQ(weft_bufreader_read_exact_poll(NULL, &cx, &n), WEFT_READY);
    weft_bufreader_fill_init(&f, NULL, WEFT_NEVER);
    ASSERT_EQ(weft_bufreader_fill_poll(&f, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    weft_read_until_init(&f, NULL, ';', WEFT_NEVER);
    ASSERT_EQ(weft_read_until_poll(&f, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    weft_read_line_init(&f, NULL, WEFT_NEVER);
    ASSERT_EQ(weft_read_line_poll(&f, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    ASSERT_EQ(weft_bufreader_init(&rd, a, buf, sizeof buf), 0);
    weft_bufreader_read_exact_init(&f, &rd, NULL, 3, WEFT_NEVER);
    ASSERT_EQ(weft_bufreader_read_exact_poll(&f, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    /* the wrong poll for a future's kind */
    weft_read_line_init(&f, &rd, WEFT_NEVER);
    ASSERT_EQ(weft_bufreader_fill_poll(&f, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    /* no runtime */
    weft_bufreader_fill_init(&f, &rd, WEFT_NEVER);
    ASSERT_EQ(weft_bufreader_fill_poll(&f, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    memset(&f, 0, sizeof f);
    ASSERT_EQ(weft_read_until_poll(&f, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    weft_bufreader_fill_drop(&f);
    weft_bufreader_fill_drop(NULL);
    weft_read_until_drop(NULL);
    weft_read_line_drop(NULL);
    weft_bufreader_read_exact_drop(NULL);
    weft_bufreader_fini(&rd);

    weft_bufwriter wr;
    ASSERT_EQ(weft_bufwriter_init(NULL, a, NULL, 0), -EINVAL);
    ASSERT_EQ(weft_bufwriter_init(&wr, NULL, NULL, 0), -EINVAL);
    ASSERT_EQ(weft_bufwriter_init(&wr, a, buf, 0), -EINVAL);
    weft_bufwriter_fini(&wr);
    weft_bufwriter_fini(NULL);
    ASSERT_EQ(weft_bufwriter_len(NULL), 0);
    ASSERT_EQ(weft_bufwriter_put(NULL, "x", 1), 0);
    ASSERT_EQ(weft_bufwriter_init(&wr, a, buf, sizeof buf), 0);
    ASSERT_EQ(weft_bufwriter_put(&wr, NULL, 1), 0);
    weft_bufwriter_write w;
    ASSERT_EQ(weft_bufwriter_write_poll(NULL, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    ASSERT_EQ(weft_bufwriter_flush_poll(NULL, &cx, &n), WEFT_READY);
    weft_bufwriter_write_init(&w, NULL, "x", 1, WEFT_NEVER);
    ASSERT_EQ(weft_bufwriter_write_poll(&w, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    weft_bufwriter_write_init(&w, &wr, NULL, 1, WEFT_NEVER);
    ASSERT_EQ(weft_bufwriter_write_poll(&w, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    weft_bufwriter_flush_init(&w, NULL, WEFT_NEVER);
    ASSERT_EQ(weft_bufwriter_flush_poll(&w, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    weft_bufwriter_write_init(&w, &wr, "x", 1, WEFT_NEVER);
    ASSERT_EQ(weft_bufwriter_flush_poll(&w, &cx, &n), WEFT_READY); /* wrong kind */
    ASSERT_EQ(n, -EINVAL);
    memset(&w, 0, sizeof w);
    ASSERT_EQ(weft_bufwriter_write_poll(&w, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    weft_bufwriter_write_drop(&w);
    weft_bufwriter_write_drop(NULL);
    weft_bufwriter_flush_drop(NULL);
    weft_bufwriter_fini(&wr);
    weft_stream_close(a);
    weft_stream_close(b);
}

TEST(sockets)
{
    weft_cx cx = no_rt_cx();
    weft_sockaddr in, un, empty;
    memset(&empty, 0, sizeof empty);
    ASSERT_EQ(weft_sockaddr_parse(&in, "127.0.0.1:0"), 0);
    ASSERT_EQ(weft_sockaddr_unix(&un, "@weft_args"), 0);
    weft_listener *ln = (weft_listener *)1;
    ASSERT_EQ(weft_tcp_listen(NULL, &in, NULL), -EINVAL);
    ASSERT_EQ(weft_tcp_listen(&ln, NULL, NULL), -EINVAL);
    ASSERT_TRUE(ln == NULL);
    ASSERT_EQ(weft_tcp_listen(&ln, &un, NULL), -EINVAL);
    ASSERT_EQ(weft_tcp_listen(&ln, &empty, NULL), -EINVAL);
    ASSERT_EQ(weft_tcp_listen(&ln, &in, &(weft_listen_opts){.backlog = -1}), -EINVAL);
    ASSERT_EQ(weft_unix_listen(NULL, "/tmp/x", NULL), -EINVAL);
    ASSERT_EQ(weft_unix_listen(&ln, NULL, NULL), -EINVAL);
    ASSERT_EQ(weft_unix_listen(&ln, "", NULL), -EINVAL);
    weft_listener_close(NULL);
    weft_sockaddr out;
    ASSERT_EQ(weft_listener_local_addr(NULL, &out), -EINVAL);
    ASSERT_EQ(weft_listener_fd(NULL), -EINVAL);
    ASSERT_EQ(weft_listener_limit_hits(NULL), 0);
    ASSERT_EQ(weft_tcp_listen(&ln, &in, NULL), 0);
    ASSERT_EQ(weft_listener_local_addr(ln, NULL), -EINVAL);

    weft_accept acc;
    weft_stream *conn = (weft_stream *)1;
    int err;
    ASSERT_EQ(weft_accept_poll(NULL, &cx, &conn, &err), WEFT_READY);
    ASSERT_EQ(err, -EINVAL);
    ASSERT_TRUE(conn == NULL);
    weft_accept_init(&acc, NULL, WEFT_NEVER);
    ASSERT_EQ(weft_accept_poll(&acc, &cx, &conn, &err), WEFT_READY);
    ASSERT_EQ(err, -EINVAL);
    weft_accept_init(&acc, ln, WEFT_NEVER);
    ASSERT_EQ(weft_accept_poll(&acc, &cx, NULL, &err), WEFT_READY);
    ASSERT_EQ(err, -EINVAL);
    weft_accept_init(&acc, ln, WEFT_NEVER);
    ASSERT_EQ(weft_accept_poll(&acc, &cx, &conn, &err), WEFT_READY); /* no runtime */
    ASSERT_EQ(err, -EINVAL);
    memset(&acc, 0, sizeof acc);
    ASSERT_EQ(weft_accept_poll(&acc, &cx, &conn, &err), WEFT_READY);
    ASSERT_EQ(err, -EINVAL);
    weft_accept_drop(&acc);
    weft_accept_drop(NULL);

    weft_connect con;
    ASSERT_EQ(weft_connect_poll(NULL, &cx, &conn, &err), WEFT_READY);
    ASSERT_EQ(err, -EINVAL);
    weft_tcp_connect_init(&con, NULL, WEFT_NEVER);
    ASSERT_EQ(weft_connect_poll(&con, &cx, &conn, &err), WEFT_READY);
    ASSERT_EQ(err, -EINVAL);
    weft_tcp_connect_init(&con, &un, WEFT_NEVER);
    ASSERT_EQ(weft_connect_poll(&con, &cx, &conn, &err), WEFT_READY);
    ASSERT_EQ(err, -EINVAL);
    weft_unix_connect_init(&con, NULL, WEFT_NEVER);
    ASSERT_EQ(weft_connect_poll(&con, &cx, &conn, &err), WEFT_READY);
    ASSERT_EQ(err, -EINVAL);
    weft_tcp_connect_init(&con, &in, WEFT_NEVER);
    ASSERT_EQ(weft_connect_poll(&con, &cx, NULL, &err), WEFT_READY);
    ASSERT_EQ(err, -EINVAL);
    weft_tcp_connect_init(&con, &in, WEFT_NEVER);
    ASSERT_EQ(weft_connect_poll(&con, &cx, &conn, &err), WEFT_READY); /* no runtime */
    ASSERT_EQ(err, -EINVAL);
    memset(&con, 0, sizeof con);
    ASSERT_EQ(weft_connect_poll(&con, &cx, &conn, &err), WEFT_READY);
    ASSERT_EQ(err, -EINVAL);
    weft_connect_drop(&con);
    weft_connect_drop(NULL);
    weft_listener_close(ln);

    ASSERT_EQ(weft_stream_shutdown(NULL, SHUT_WR), -EINVAL);
    ASSERT_EQ(weft_stream_peer_addr(NULL, &out), -EINVAL);
    ASSERT_EQ(weft_stream_local_addr(NULL, &out), -EINVAL);
    ASSERT_EQ(weft_tcp_set_nodelay(NULL, true), -EINVAL);
    ASSERT_EQ(weft_tcp_nodelay(NULL), -EINVAL);
    ASSERT_EQ(weft_tcp_set_cork(NULL, true), -EINVAL);
    ASSERT_EQ(weft_tcp_set_keepalive(NULL, 1), -EINVAL);
    weft_tcp_close(NULL);
    weft_unix_close(NULL);
    weft_unix_stream *a, *b;
    ASSERT_EQ(weft_unix_pair(NULL, &b), -EINVAL);
    ASSERT_EQ(weft_unix_pair(&a, NULL), -EINVAL);
    ASSERT_EQ(weft_unix_pair(&a, &b), 0);
    ASSERT_EQ(weft_stream_shutdown(a, 7), -EINVAL);
    ASSERT_EQ(weft_stream_peer_addr(a, NULL), -EINVAL);
    ASSERT_EQ(weft_stream_local_addr(a, NULL), -EINVAL);
    ASSERT_EQ(weft_tcp_set_keepalive(a, WEFT_SEC(1)), -EOPNOTSUPP);
    weft_stream_close(a);
    weft_stream_close(b);
    /* socket calls on a non-socket stream */
    int p[2];
    ASSERT_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    weft_stream *ps;
    ASSERT_EQ(weft_stream_from_fd(&ps, p[0], WEFT_STREAM_PIPE, 0, 0), 0);
    ASSERT_EQ(weft_stream_shutdown(ps, SHUT_RD), -ENOTSOCK);
    ASSERT_EQ(weft_tcp_set_nodelay(ps, true), -ENOTSOCK);
    ASSERT_EQ(weft_tcp_set_cork(ps, true), -ENOTSOCK);
    ASSERT_EQ(weft_stream_peer_addr(ps, &out), -ENOTSOCK);
    weft_stream_close(ps);
    close(p[1]);
}

TEST(datagrams)
{
    weft_cx cx = no_rt_cx();
    weft_sockaddr in, un;
    ASSERT_EQ(weft_sockaddr_parse(&in, "127.0.0.1:0"), 0);
    ASSERT_EQ(weft_sockaddr_unix(&un, "@weft_args_d"), 0);
    weft_udp_socket *u = (weft_udp_socket *)1;
    ASSERT_EQ(weft_udp_bind(NULL, &in, NULL), -EINVAL);
    ASSERT_EQ(weft_udp_bind(&u, NULL, NULL), -EINVAL);
    ASSERT_TRUE(u == NULL);
    ASSERT_EQ(weft_udp_bind(&u, &un, NULL), -EINVAL);
    ASSERT_EQ(weft_unix_dgram_bind(NULL, NULL), -EINVAL);
    ASSERT_EQ(weft_unix_dgram_bind(&u, ""), -EINVAL);
    ASSERT_EQ(weft_unix_dgram_pair(NULL, &u), -EINVAL);
    ASSERT_EQ(weft_unix_dgram_pair(&u, NULL), -EINVAL);
    ASSERT_EQ(weft_dgram_connect(NULL, &in), -EINVAL);
    weft_dgram_close(NULL);
    weft_udp_close(NULL);
    weft_sockaddr out;
    ASSERT_EQ(weft_dgram_local_addr(NULL, &out), -EINVAL);
    ASSERT_EQ(weft_dgram_fd(NULL), -EINVAL);
    ASSERT_EQ(weft_udp_bind(&u, &in, NULL), 0);
    ASSERT_EQ(weft_dgram_connect(u, NULL), -EINVAL);
    ASSERT_EQ(weft_dgram_connect(u, &un), -EINVAL);
    ASSERT_EQ(weft_dgram_local_addr(u, NULL), -EINVAL);

    weft_send_to f;
    ssize_t n;
    char buf[4];
    ASSERT_EQ(weft_send_to_poll(NULL, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    ASSERT_EQ(weft_recv_from_poll(NULL, &cx, &n), WEFT_READY);
    ASSERT_EQ(weft_dgram_send_poll(NULL, &cx, &n), WEFT_READY);
    ASSERT_EQ(weft_dgram_recv_poll(NULL, &cx, &n), WEFT_READY);
    weft_send_to_init(&f, u, "x", 1, NULL, WEFT_NEVER);
    ASSERT_EQ(weft_send_to_poll(&f, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    weft_send_to_init(&f, NULL, "x", 1, &in, WEFT_NEVER);
    ASSERT_EQ(weft_send_to_poll(&f, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    weft_recv_from_init(&f, u, NULL, 4, NULL, WEFT_NEVER);
    ASSERT_EQ(weft_recv_from_poll(&f, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    weft_dgram_send_init(&f, NULL, "x", 1, WEFT_NEVER);
    ASSERT_EQ(weft_dgram_send_poll(&f, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    weft_dgram_recv_init(&f, u, buf, 4, WEFT_NEVER);
    ASSERT_EQ(weft_dgram_recv_poll(&f, &cx, &n), WEFT_READY); /* no runtime */
    ASSERT_EQ(n, -EINVAL);
    memset(&f, 0, sizeof f);
    ASSERT_EQ(weft_recv_from_poll(&f, &cx, &n), WEFT_READY);
    ASSERT_EQ(n, -EINVAL);
    ASSERT_TRUE(!weft_recv_from_truncated(NULL));
    weft_send_to_drop(&f);
    weft_send_to_drop(NULL);
    weft_recv_from_drop(NULL);
    weft_dgram_send_drop(NULL);
    weft_dgram_recv_drop(NULL);
    weft_udp_close(u);
}

TEST_MAIN()
