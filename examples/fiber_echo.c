/* fiber_echo - echo_server.c rewritten as fibers: an accept loop and one fiber per
 * connection. Read the two side by side: the same futures (accept, read_some, write_all,
 * connect, read_exact), awaited with WEFT_FIBER_AWAIT from straight-line code, no state
 * struct, no resume points; a connection's socket is closed at the end of its function.
 *
 *   example_fiber_echo                 demo: serve 4 connections from in-process clients, exit
 *   example_fiber_echo 127.0.0.1:7000  serve until the process is killed (try: nc 127.0.0.1 7000)
 *
 * Buffers on a fiber stack and cancellation: a read or write future gives the kernel your
 * buffer until it is READY. Here every future runs to READY (deadlines end them, with the
 * kernel's confirmation); a future dropped while pending would leave the kernel a buffer on a
 * stack that is about to be reused - see docs/design/fiber.md, "IO buffers on fiber stacks".
 */
#include <stdio.h>
#include <string.h>

#include "weft.h"

/* ------------------------------------------------------------------ one connection */

static int conn_fiber(void *arg)
{
    weft_tcp_stream *sock = arg; /* ours: closed below, whatever ends the loop */
    char buf[4096];

    for (;;) {
        weft_read_some rd;
        ssize_t n = 0;
        weft_read_some_init(&rd, sock, buf, sizeof buf, weft_deadline_in(WEFT_SEC(30)));
        if (WEFT_FIBER_AWAIT(cx, weft_read_some_poll(&rd, cx, &n)) < 0) {
            weft_read_some_drop(&rd); /* cancelled (runtime shutdown) */
            break;
        }
        if (n <= 0) /* 0: the peer is done; -ETIMEDOUT: idle too long; -ECONNRESET... */
            break;
        weft_write_all wr;
        ssize_t w = 0;
        weft_write_all_init(&wr, sock, buf, (size_t)n, WEFT_NEVER);
        if (WEFT_FIBER_AWAIT(cx, weft_write_all_poll(&wr, cx, &w)) < 0) {
            weft_write_all_drop(&wr);
            break;
        }
        if (w < 0)
            break;
    }
    weft_tcp_close(sock);
    return 0;
}

/* ------------------------------------------------------------------ the accept loop */

struct server {
    weft_tcp_listener *ln; /* borrowed */
    int limit;             /* connections to serve; 0 = forever */
};

static int server_fiber(void *arg)
{
    struct server *s = arg;
    for (int served = 0; !s->limit || served < s->limit;) {
        weft_accept acc;
        weft_stream *conn = NULL;
        int err = 0;
        weft_accept_init(&acc, s->ln, WEFT_NEVER);
        if (WEFT_FIBER_AWAIT(cx, weft_accept_poll(&acc, cx, &conn, &err)) < 0) {
            weft_accept_drop(&acc);
            return -ECANCELED;
        }
        if (err < 0) { /* -EMFILE etc.: the listener pauses by itself; keep serving */
            fprintf(stderr, "accept: %s\n", weft_strerror(err));
            continue;
        }
        weft_tcp_set_nodelay(conn, true);
        /* The fiber owns the socket from here; if it cannot start, close it ourselves. */
        if (weft_fiber_spawn(weft_rt_current(), conn_fiber, conn,
                             &(weft_fiber_opts){.name = "echo_conn"}, NULL) < 0)
            weft_tcp_close(conn);
        served++;
    }
    return 0;
}

/* ------------------------------------------------------------------ demo clients */

struct client {
    const weft_sockaddr *addr;
    int id;
};

static int client_fiber(void *arg)
{
    struct client *c = arg;
    weft_connect con;
    weft_tcp_stream *sock = NULL;
    int err = 0;

    weft_tcp_connect_init(&con, c->addr, weft_deadline_in(WEFT_SEC(5)));
    if (WEFT_FIBER_AWAIT(cx, weft_connect_poll(&con, cx, &sock, &err)) < 0) {
        weft_connect_drop(&con);
        return -ECANCELED;
    }
    if (err < 0)
        return err;
    for (int round = 0; round < 3 && err == 0; round++) {
        char msg[64], back[64];
        ssize_t n = 0;
        snprintf(msg, sizeof msg, "client %d says hello #%d", c->id, round);
        weft_write_all wr;
        weft_write_all_init(&wr, sock, msg, strlen(msg), WEFT_NEVER);
        if (WEFT_FIBER_AWAIT(cx, weft_write_all_poll(&wr, cx, &n)) < 0) {
            weft_write_all_drop(&wr);
            err = -ECANCELED;
            break;
        }
        weft_read_exact rd;
        weft_read_exact_init(&rd, sock, back, strlen(msg), weft_deadline_in(WEFT_SEC(5)));
        if (WEFT_FIBER_AWAIT(cx, weft_read_exact_poll(&rd, cx, &n)) < 0) {
            weft_read_exact_drop(&rd);
            err = -ECANCELED;
            break;
        }
        if (n != (ssize_t)strlen(msg) || memcmp(msg, back, (size_t)n) != 0)
            err = n < 0 ? (int)n : -EBADMSG;
    }
    weft_tcp_close(sock);
    if (err == 0)
        printf("client %d: 3 echoes ok\n", c->id);
    return err < 0 ? err : 1;
}

int main(int argc, char **argv)
{
    enum { DEMO_CLIENTS = 4 };
    const char *where = argc > 1 ? argv[1] : "127.0.0.1:0";
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
        fprintf(stderr, "fiber_echo %s: %s\n", where, weft_strerror(err));
        weft_rt_free(rt);
        return 1;
    }
    weft_sockaddr_format(&addr, text, sizeof text);
    printf("fiber echo server on %s\n", text);

    struct server srv = {.ln = ln, .limit = argc > 1 ? 0 : DEMO_CLIENTS};
    weft_join *server = NULL, *clients[DEMO_CLIENTS];
    static struct client cl[DEMO_CLIENTS];
    int ok_count = 0;
    err = weft_fiber_spawn(rt, server_fiber, &srv, &(weft_fiber_opts){.name = "echo_server"},
                           &server);
    for (int i = 0; argc == 1 && err == 0 && i < DEMO_CLIENTS; i++) {
        cl[i] = (struct client){.addr = &addr, .id = i};
        err = weft_fiber_spawn(rt, client_fiber, &cl[i], NULL, &clients[i]);
    }
    for (int i = 0; argc == 1 && err == 0 && i < DEMO_CLIENTS; i++) {
        int ok = 0;
        if ((err = weft_join_wait(clients[i], &ok, sizeof ok)) == 0)
            ok_count += ok;
    }
    if (err == 0)
        err = weft_join_wait(server, NULL, 0);
    printf("%d of %d clients echoed fine\n", ok_count, DEMO_CLIENTS);
    if (err == 0 && argc == 1 && ok_count != DEMO_CLIENTS)
        err = -EIO;
    if (err < 0)
        fprintf(stderr, "fiber_echo: %s\n", weft_strerror(err));
    weft_listener_close(ln);
    weft_rt_free(rt);
    return err < 0;
}
