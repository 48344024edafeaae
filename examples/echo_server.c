/* echo_server - a TCP echo server: an accept loop and one task per connection.
 *
 *   example_echo_server                 demo: serve 4 connections from in-process clients, exit
 *   example_echo_server 127.0.0.1:7000  serve until ctrl-c (try: nc 127.0.0.1 7000)
 *
 * What it shows: weft_tcp_listen, the accept future, a connection task that owns its socket
 * (closed by the task's drop function, whatever ends it), read_some + write_all, and a
 * ctrl-c future raced against accept.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "weft.h"

/* ------------------------------------------------------------------ one connection */

struct conn {
    weft_tcp_stream *sock; /* owned: closed by conn_drop */
    WEFT_ASYNC_STATE;
    weft_read_some read;
    weft_write_all write;
    ssize_t n;
    char buf[4096];
};

static weft_poll conn_poll(void *state, weft_cx *cx, void *out)
{
    struct conn *c = state;
    (void)out;
    WEFT_ASYNC_BEGIN(c);
    for (;;) {
        weft_read_some_init(&c->read, c->sock, c->buf, sizeof c->buf,
                            weft_deadline_in(WEFT_SEC(30)));
        WEFT_AWAIT(c, weft_read_some_poll(&c->read, cx, &c->n));
        if (c->n <= 0) /* 0: the peer is done; -ETIMEDOUT: idle too long; -ECONNRESET... */
            break;
        weft_write_all_init(&c->write, c->sock, c->buf, (size_t)c->n, WEFT_NEVER);
        WEFT_AWAIT(c, weft_write_all_poll(&c->write, cx, &c->n));
        if (c->n < 0)
            break;
    }
    WEFT_ASYNC_END(c);
}

static void conn_drop(void *state) /* runs once: on completion, abort or shutdown */
{
    struct conn *c = state;
    weft_read_some_drop(&c->read);
    weft_write_all_drop(&c->write);
    weft_tcp_close(c->sock);
}

static const weft_future_type conn_type = {
    .name = "echo_conn", .poll = conn_poll, .drop = conn_drop, .state_size = sizeof(struct conn)};

/* ------------------------------------------------------------------ the accept loop */

struct server {
    weft_tcp_listener *ln; /* borrowed */
    int limit;             /* connections to serve; 0 = until ctrl-c */
    WEFT_ASYNC_STATE;
    int served, err, stopping;
    weft_accept accept;
    weft_ctrl_c ctrl_c;    /* one future for the whole loop */
    weft_stream *conn;
};

/* A connection, or (when serving forever) ctrl-c: whichever comes first. */
static weft_poll accept_or_stop(struct server *s, weft_cx *cx)
{
    if (!s->limit && weft_ctrl_c_poll(&s->ctrl_c, cx, &s->err) == WEFT_READY) {
        s->stopping = 1;
        return WEFT_READY;
    }
    return weft_accept_poll(&s->accept, cx, &s->conn, &s->err);
}

static weft_poll server_poll(void *state, weft_cx *cx, void *out)
{
    struct server *s = state;
    (void)out;
    WEFT_ASYNC_BEGIN(s);
    if (!s->limit)
        weft_ctrl_c_init(&s->ctrl_c);
    while (!s->limit || s->served < s->limit) {
        weft_accept_init(&s->accept, s->ln, WEFT_NEVER);
        WEFT_AWAIT(s, accept_or_stop(s, cx));
        if (s->stopping) {
            printf("\nctrl-c: stopping after %d connections\n", s->served);
            break; /* server_drop drops the pending accept */
        }
        if (s->err < 0) { /* -EMFILE etc.: the listener pauses by itself; keep serving */
            fprintf(stderr, "accept: %s\n", weft_strerror(s->err));
            continue;
        }
        weft_tcp_set_nodelay(s->conn, true);
        /* The task owns the socket from here; if it cannot start, close it ourselves. */
        if (weft_spawn(weft_cx_rt(cx), &conn_type, &(struct conn){.sock = s->conn}, NULL) < 0)
            weft_tcp_close(s->conn);
        s->served++;
    }
    WEFT_ASYNC_END(s);
}

static void server_drop(void *state)
{
    struct server *s = state;
    weft_accept_drop(&s->accept);
    weft_ctrl_c_drop(&s->ctrl_c);
}

static const weft_future_type server_type = {.name = "echo_server",
                                             .poll = server_poll,
                                             .drop = server_drop,
                                             .state_size = sizeof(struct server)};

/* ------------------------------------------------------------------ demo clients */

struct client {
    const weft_sockaddr *addr;
    int id;
    WEFT_ASYNC_STATE;
    weft_connect connect;
    weft_tcp_stream *sock;
    weft_write_all write;
    weft_read_exact read;
    ssize_t n;
    int err, round;
    char msg[64], back[64];
};

static weft_poll client_poll(void *state, weft_cx *cx, void *out)
{
    struct client *c = state;
    int *ok = out;
    WEFT_ASYNC_BEGIN(c);
    *ok = 0;
    weft_tcp_connect_init(&c->connect, c->addr, weft_deadline_in(WEFT_SEC(5)));
    WEFT_AWAIT(c, weft_connect_poll(&c->connect, cx, &c->sock, &c->err));
    if (c->err < 0)
        WEFT_ASYNC_FAIL(c, c->err);
    for (c->round = 0; c->round < 3; c->round++) {
        snprintf(c->msg, sizeof c->msg, "client %d says hello #%d", c->id, c->round);
        weft_write_all_init(&c->write, c->sock, c->msg, strlen(c->msg), WEFT_NEVER);
        WEFT_AWAIT(c, weft_write_all_poll(&c->write, cx, &c->n));
        weft_read_exact_init(&c->read, c->sock, c->back, strlen(c->msg),
                             weft_deadline_in(WEFT_SEC(5)));
        WEFT_AWAIT(c, weft_read_exact_poll(&c->read, cx, &c->n));
        if (c->n != (ssize_t)strlen(c->msg) || memcmp(c->msg, c->back, (size_t)c->n) != 0)
            WEFT_ASYNC_FAIL(c, c->n < 0 ? (int)c->n : -EBADMSG);
    }
    printf("client %d: 3 echoes ok\n", c->id);
    *ok = 1;
    WEFT_ASYNC_END(c);
}

static void client_drop(void *state)
{
    struct client *c = state;
    weft_connect_drop(&c->connect);
    weft_write_all_drop(&c->write);
    weft_read_exact_drop(&c->read);
    weft_tcp_close(c->sock);
}

static const weft_future_type client_type = {.name = "echo_client",
                                             .poll = client_poll,
                                             .drop = client_drop,
                                             .state_size = sizeof(struct client),
                                             .out_size = sizeof(int)};

int main(int argc, char **argv)
{
    enum { DEMO_CLIENTS = 4 };
    const char *where = argc > 1 ? argv[1] : "127.0.0.1:0";
    if (argc > 1) { /* serving until ctrl-c: SIGINT blocked before any thread exists */
        int sigint = SIGINT;
        weft_signal_block(&sigint, 1);
    }
    weft_rt *rt = NULL;
    weft_tcp_listener *ln = NULL;
    weft_sockaddr addr;
    char text[64];
    int err = weft_sockaddr_parse(&addr, where);
    if (err == 0)
        err = weft_rt_new(&rt, &(weft_rt_config){.workers = 2, .thread_name = "echo"});
    if (err == 0)
        err = weft_tcp_listen(&ln, &addr, NULL);
    if (err == 0)
        err = weft_listener_local_addr(ln, &addr);
    if (err < 0) {
        fprintf(stderr, "echo_server %s: %s\n", where, weft_strerror(err));
        weft_rt_free(rt);
        return 1;
    }
    weft_sockaddr_format(&addr, text, sizeof text);
    printf("echo server on %s (%s)\n", text, weft_io_backend_name(rt));

    if (argc > 1) {
        err = weft_rt_block_on(rt, &server_type, &(struct server){.ln = ln}, NULL);
    } else {
        weft_join *server, *clients[DEMO_CLIENTS];
        int ok_count = 0;
        err = weft_spawn(rt, &server_type, &(struct server){.ln = ln, .limit = DEMO_CLIENTS},
                         &server);
        for (int i = 0; err == 0 && i < DEMO_CLIENTS; i++)
            err = weft_spawn(rt, &client_type, &(struct client){.addr = &addr, .id = i},
                             &clients[i]);
        for (int i = 0; err == 0 && i < DEMO_CLIENTS; i++) {
            int ok = 0;
            if ((err = weft_join_wait(clients[i], &ok, sizeof ok)) == 0)
                ok_count += ok;
        }
        if (err == 0)
            err = weft_join_wait(server, NULL, 0);
        printf("%d of %d clients echoed fine\n", ok_count, DEMO_CLIENTS);
        if (err == 0 && ok_count != DEMO_CLIENTS)
            err = -EIO;
    }
    if (err < 0)
        fprintf(stderr, "echo_server: %s\n", weft_strerror(err));
    weft_listener_close(ln);
    weft_rt_free(rt);
    return err < 0;
}
