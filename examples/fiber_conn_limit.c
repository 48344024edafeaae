/* fiber_conn_limit - conn_limit_server.c (the article's connection-limited server) rewritten as
 * fibers. Same shape: a semaphore caps open connections, the permit is taken BEFORE accepting
 * (at the limit, new connections wait in the kernel's backlog), TCP_NODELAY, one fiber per
 * connection with a preallocated 8 KiB buffer, and the permit goes back when the connection
 * ends. Compare the two files: the state-machine version keeps its locals in a struct and
 * resumes with WEFT_AWAIT; here they are plain locals on the fiber's stack.
 *
 *   example_fiber_conn_limit   demo: a limit of 2, 6 in-process clients, each echoed once
 */
#include <stdio.h>
#include <string.h>

#include "weft.h"

#define LIMIT 2
#define CLIENTS 6

struct conn {
    weft_tcp_stream *sock; /* owned: closed at the end */
    weft_permit permit;    /* owned: released at the end */
};

static int conn_fiber(void *arg)
{
    struct conn c = *(struct conn *)arg;
    char buf[8192]; /* the article's preallocated buffer, on the fiber's stack */
    weft_read_some rd;
    ssize_t n = 0;
    weft_read_some_init(&rd, c.sock, buf, sizeof buf, weft_deadline_in(WEFT_SEC(5)));
    if (WEFT_FIBER_AWAIT(cx, weft_read_some_poll(&rd, cx, &n)) == 0 && n > 0) {
        weft_write_all wr;
        ssize_t w = 0;
        weft_write_all_init(&wr, c.sock, buf, (size_t)n, WEFT_NEVER);
        if (WEFT_FIBER_AWAIT(cx, weft_write_all_poll(&wr, cx, &w)) < 0)
            weft_write_all_drop(&wr);
    } else {
        weft_read_some_drop(&rd);
    }
    /* Hold the connection (and its permit) a little, so the limit is visible. */
    weft_sleep nap;
    weft_sleep_init(&nap, WEFT_MS(30));
    if (WEFT_FIBER_AWAIT(cx, weft_sleep_poll(&nap, cx)) < 0)
        weft_sleep_drop(&nap);
    weft_tcp_close(c.sock);
    weft_permit_release(&c.permit); /* the next waiting accept may go on */
    return 0;
}

struct server {
    weft_tcp_listener *ln;
    weft_semaphore *limit;
    struct conn conns[CLIENTS]; /* hand-over slots, one per accepted connection */
    int max_in_use;
};

static int server_fiber(void *arg)
{
    struct server *s = arg;
    for (int served = 0; served < CLIENTS; served++) {
        weft_permit permit = {0};
        int err = 0;
        weft_semaphore_acquire acq;
        weft_semaphore_acquire_init(&acq, s->limit);
        if (WEFT_FIBER_AWAIT(cx, weft_semaphore_acquire_poll(&acq, cx, &permit, &err)) < 0) {
            weft_semaphore_acquire_drop(&acq);
            return -ECANCELED;
        }
        if (err < 0)
            return err;
        int in_use = LIMIT - (int)weft_semaphore_available(s->limit);
        if (in_use > s->max_in_use)
            s->max_in_use = in_use;
        weft_accept acc;
        weft_stream *sock = NULL;
        weft_accept_init(&acc, s->ln, WEFT_NEVER);
        if (WEFT_FIBER_AWAIT(cx, weft_accept_poll(&acc, cx, &sock, &err)) < 0 || err < 0) {
            weft_accept_drop(&acc);
            weft_permit_release(&permit);
            return err < 0 ? err : -ECANCELED;
        }
        weft_tcp_set_nodelay(sock, true);
        s->conns[served] = (struct conn){.sock = sock, .permit = permit};
        if (weft_fiber_spawn(weft_rt_current(), conn_fiber, &s->conns[served], NULL, NULL) < 0) {
            weft_tcp_close(sock);
            weft_permit_release(&s->conns[served].permit);
        }
    }
    return 0;
}

static int client_fiber(void *arg)
{
    const weft_sockaddr *addr = arg;
    weft_connect con;
    weft_tcp_stream *sock = NULL;
    int err = 0;
    weft_tcp_connect_init(&con, addr, weft_deadline_in(WEFT_SEC(5)));
    if (WEFT_FIBER_AWAIT(cx, weft_connect_poll(&con, cx, &sock, &err)) < 0 || err < 0) {
        weft_connect_drop(&con);
        return err < 0 ? err : -ECANCELED;
    }
    char msg[] = "hello", back[sizeof msg];
    ssize_t n = 0;
    weft_write_all wr;
    weft_write_all_init(&wr, sock, msg, sizeof msg, WEFT_NEVER);
    WEFT_FIBER_AWAIT(cx, weft_write_all_poll(&wr, cx, &n));
    weft_read_exact rd;
    weft_read_exact_init(&rd, sock, back, sizeof back, weft_deadline_in(WEFT_SEC(5)));
    WEFT_FIBER_AWAIT(cx, weft_read_exact_poll(&rd, cx, &n));
    weft_tcp_close(sock);
    return n == (ssize_t)sizeof back && memcmp(msg, back, sizeof back) == 0 ? 1 : -EBADMSG;
}

int main(void)
{
    weft_rt *rt = NULL;
    static struct server srv;
    weft_sockaddr addr;
    weft_join *server, *clients[CLIENTS];
    int err = weft_sockaddr_parse(&addr, "127.0.0.1:0"), ok = 0;

    if (err == 0)
        err = weft_rt_new(&rt, &(weft_rt_config){.workers = 2});
    if (err == 0)
        err = weft_semaphore_new(&srv.limit, LIMIT);
    if (err == 0)
        err = weft_tcp_listen(&srv.ln, &addr, NULL);
    if (err == 0)
        err = weft_listener_local_addr(srv.ln, &addr);
    if (err == 0)
        err = weft_fiber_spawn(rt, server_fiber, &srv, NULL, &server);
    for (int i = 0; err == 0 && i < CLIENTS; i++)
        err = weft_fiber_spawn(rt, client_fiber, &addr, NULL, &clients[i]);
    for (int i = 0; err == 0 && i < CLIENTS; i++) {
        int one = 0;
        if ((err = weft_join_wait(clients[i], &one, sizeof one)) == 0)
            ok += one;
    }
    if (err == 0)
        err = weft_join_wait(server, NULL, 0);
    printf("%d of %d clients echoed; at most %d connections were open at once (limit %d)\n",
           ok, CLIENTS, srv.max_in_use, LIMIT);
    weft_listener_close(srv.ln);
    weft_rt_free(rt);
    weft_semaphore_free(srv.limit);
    if (err < 0)
        fprintf(stderr, "fiber_conn_limit: %s\n", weft_strerror(err));
    return err < 0 || ok != CLIENTS || srv.max_in_use > LIMIT;
}
