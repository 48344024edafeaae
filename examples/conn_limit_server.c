/* conn_limit_server - the article's connection-limited server: a semaphore caps how many
 * connections are served at once, each connection is a task with TCP_NODELAY and a
 * preallocated 8 KiB buffer inside its state (no allocation per read).
 *
 *   example_conn_limit_server                 demo: limit 2, 6 in-process clients, then exit
 *   example_conn_limit_server ADDR [LIMIT]    serve until ctrl-c
 *
 * The permit is taken BEFORE accepting: at the limit, new connections wait in the kernel's
 * backlog, not in our memory. The connection task owns the permit and gives it back in its
 * drop function, which runs exactly once however the task ends (EOF, error, abort, shutdown).
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

static _Atomic int live, peak; /* connections being served now / at most */

/* ------------------------------------------------------------------ one connection */

struct conn {
    weft_tcp_stream *sock; /* owned: closed by conn_drop */
    weft_permit permit;    /* owned: released by conn_drop */
    WEFT_ASYNC_STATE;
    int counted;           /* counted in `live` */
    weft_read_some read;
    weft_write_all write;
    ssize_t n;
    char buf[8 * 1024];    /* preallocated with the task: one allocation per connection */
};

static weft_poll conn_poll(void *state, weft_cx *cx, void *out)
{
    struct conn *c = state;
    (void)out;
    WEFT_ASYNC_BEGIN(c);
    c->counted = 1;
    int now = atomic_fetch_add(&live, 1) + 1, p = atomic_load(&peak);
    while (now > p && !atomic_compare_exchange_weak(&peak, &p, now))
        ;
    weft_tcp_set_nodelay(c->sock, true);
    for (;;) {
        weft_read_some_init(&c->read, c->sock, c->buf, sizeof c->buf,
                            weft_deadline_in(WEFT_SEC(30)));
        WEFT_AWAIT(c, weft_read_some_poll(&c->read, cx, &c->n));
        if (c->n <= 0)
            break;
        weft_write_all_init(&c->write, c->sock, c->buf, (size_t)c->n, WEFT_NEVER);
        WEFT_AWAIT(c, weft_write_all_poll(&c->write, cx, &c->n));
        if (c->n < 0)
            break;
    }
    WEFT_ASYNC_END(c);
}

static void conn_drop(void *state)
{
    struct conn *c = state;
    weft_read_some_drop(&c->read);
    weft_write_all_drop(&c->write);
    weft_tcp_close(c->sock);
    if (c->counted)
        atomic_fetch_sub(&live, 1);
    weft_permit_release(&c->permit); /* the next queued acquire gets it */
}

static const weft_future_type conn_type = {
    .name = "conn", .poll = conn_poll, .drop = conn_drop, .state_size = sizeof(struct conn)};

/* ------------------------------------------------------------------ the accept loop */

struct server {
    weft_tcp_listener *ln; /* borrowed */
    weft_semaphore *limit; /* borrowed */
    int serve;             /* connections to serve; 0 = until ctrl-c */
    WEFT_ASYNC_STATE;
    int served, err, stopping;
    weft_semaphore_acquire acquire;
    weft_accept accept;
    weft_ctrl_c ctrl_c;
    weft_permit permit;    /* owned from acquire until handed to a connection task */
    weft_tcp_stream *conn; /* likewise */
};

static weft_poll or_stop(struct server *s, weft_cx *cx, weft_poll (*fn)(struct server *, weft_cx *))
{
    if (!s->serve && weft_ctrl_c_poll(&s->ctrl_c, cx, &s->err) == WEFT_READY) {
        s->stopping = 1;
        return WEFT_READY;
    }
    return fn(s, cx);
}
static weft_poll do_acquire(struct server *s, weft_cx *cx)
{
    return weft_semaphore_acquire_poll(&s->acquire, cx, &s->permit, &s->err);
}
static weft_poll do_accept(struct server *s, weft_cx *cx)
{
    return weft_accept_poll(&s->accept, cx, &s->conn, &s->err);
}

static weft_poll server_poll(void *state, weft_cx *cx, void *out)
{
    struct server *s = state;
    (void)out;
    WEFT_ASYNC_BEGIN(s);
    if (!s->serve)
        weft_ctrl_c_init(&s->ctrl_c);
    while (!s->serve || s->served < s->serve) {
        /* Permit first: at the limit, connections wait in the kernel backlog. */
        weft_semaphore_acquire_init(&s->acquire, s->limit);
        WEFT_AWAIT(s, or_stop(s, cx, do_acquire));
        if (s->stopping || s->err < 0)
            break;
        weft_accept_init(&s->accept, s->ln, WEFT_NEVER);
        WEFT_AWAIT(s, or_stop(s, cx, do_accept));
        if (s->stopping)
            break;
        if (s->err < 0) { /* -EMFILE, -ENFILE: count it, keep serving (the listener pauses) */
            weft_permit_release(&s->permit);
            continue;
        }
        /* On success the task owns both (the copies in s are dead). */
        struct conn init = {.sock = s->conn, .permit = s->permit};
        memset(&s->permit, 0, sizeof s->permit);
        if (weft_spawn(weft_cx_rt(cx), &conn_type, &init, NULL) < 0) {
            weft_tcp_close(init.sock);
            weft_permit_release(&init.permit);
        }
        s->served++;
    }
    if (s->stopping)
        printf("\nctrl-c: stopping after %d connections\n", s->served);
    WEFT_ASYNC_END(s);
}

static void server_drop(void *state)
{
    struct server *s = state;
    weft_semaphore_acquire_drop(&s->acquire);
    weft_accept_drop(&s->accept);
    weft_ctrl_c_drop(&s->ctrl_c);
    weft_permit_release(&s->permit); /* no-op when handed over or empty */
}

static const weft_future_type server_type = {
    .name = "server", .poll = server_poll, .drop = server_drop,
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
    weft_sleep hold;
    ssize_t n;
    int err;
    char msg[32], back[32];
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
    snprintf(c->msg, sizeof c->msg, "client %d", c->id);
    weft_write_all_init(&c->write, c->sock, c->msg, sizeof c->msg, WEFT_NEVER);
    WEFT_AWAIT(c, weft_write_all_poll(&c->write, cx, &c->n));
    /* at the limit the server has not accepted us yet: the echo waits for a free permit */
    weft_read_exact_init(&c->read, c->sock, c->back, sizeof c->back,
                         weft_deadline_in(WEFT_SEC(10)));
    WEFT_AWAIT(c, weft_read_exact_poll(&c->read, cx, &c->n));
    if (c->n != (ssize_t)sizeof c->msg || memcmp(c->msg, c->back, sizeof c->msg) != 0)
        WEFT_ASYNC_FAIL(c, c->n < 0 ? (int)c->n : -EBADMSG);
    weft_sleep_init(&c->hold, WEFT_MS(50)); /* keep the connection (and its permit) a while */
    WEFT_AWAIT(c, weft_sleep_poll(&c->hold, cx));
    printf("client %d served\n", c->id);
    *ok = 1;
    WEFT_ASYNC_END(c);
}

static void client_drop(void *state)
{
    struct client *c = state;
    weft_connect_drop(&c->connect);
    weft_write_all_drop(&c->write);
    weft_read_exact_drop(&c->read);
    weft_sleep_drop(&c->hold);
    weft_tcp_close(c->sock);
}

static const weft_future_type client_type = {.name = "client",
                                             .poll = client_poll,
                                             .drop = client_drop,
                                             .state_size = sizeof(struct client),
                                             .out_size = sizeof(int)};

int main(int argc, char **argv)
{
    enum { DEMO_LIMIT = 2, DEMO_CLIENTS = 6 };
    const char *where = argc > 1 ? argv[1] : "127.0.0.1:0";
    int limit = argc > 2 ? atoi(argv[2]) : DEMO_LIMIT;
    if (argc > 1) {
        int sigint = SIGINT;
        weft_signal_block(&sigint, 1); /* before any thread exists */
    }
    weft_rt *rt = NULL;
    weft_semaphore *sem = NULL;
    weft_tcp_listener *ln = NULL;
    weft_sockaddr addr;
    char text[64];
    int err = limit > 0 ? weft_sockaddr_parse(&addr, where) : -EINVAL;
    if (err == 0)
        err = weft_rt_new(&rt, &(weft_rt_config){.workers = 2, .thread_name = "limit"});
    if (err == 0)
        err = weft_semaphore_new(&sem, (size_t)limit);
    if (err == 0)
        err = weft_tcp_listen(&ln, &addr, &(weft_listen_opts){.backlog = 1024});
    if (err == 0)
        err = weft_listener_local_addr(ln, &addr);
    if (err < 0) {
        fprintf(stderr, "conn_limit_server %s: %s\n", where, weft_strerror(err));
        weft_rt_free(rt);
        weft_semaphore_free(sem);
        return 1;
    }
    weft_sockaddr_format(&addr, text, sizeof text);
    printf("serving on %s, at most %d connections at once\n", text, limit);

    struct server srv = {.ln = ln, .limit = sem, .serve = argc > 1 ? 0 : DEMO_CLIENTS};
    if (argc > 1) {
        err = weft_rt_block_on(rt, &server_type, &srv, NULL);
    } else {
        weft_join *server, *clients[DEMO_CLIENTS];
        int ok_count = 0;
        err = weft_spawn(rt, &server_type, &srv, &server);
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
        printf("%d of %d clients served; at most %d at once (limit %d)\n", ok_count,
               DEMO_CLIENTS, atomic_load(&peak), limit);
        if (err == 0 && (ok_count != DEMO_CLIENTS || atomic_load(&peak) > limit))
            err = -EIO;
    }
    if (err < 0)
        fprintf(stderr, "conn_limit_server: %s\n", weft_strerror(err));
    weft_listener_close(ln);
    weft_rt_free(rt); /* drops the connection tasks: their permits go back */
    weft_semaphore_free(sem);
    return err < 0;
}
