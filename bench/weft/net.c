/* Network workloads: tcp_echo (WORKLOADS.md). C = 100 connections, R = 10,000 round trips of
 * 64 bytes each, client and server tasks in one multi-thread runtime (2 workers). One timed
 * iteration per process. TCP_ECHO_C / TCP_ECHO_R in the environment shrink it for strace. */
#include <string.h>

#include "bench.h"

#define MSG 64

/* ------------------------------------------------------------------ server side */

struct echo {
    WEFT_ASYNC_STATE;
    weft_stream *s; /* owned: closed by echo_drop */
    weft_read_exact rd;
    weft_write_all wr;
    ssize_t n;
    char buf[MSG];
};

static weft_poll echo_poll(void *state, weft_cx *cx, void *out)
{
    struct echo *e = state;
    (void)out;
    WEFT_ASYNC_BEGIN(e);
    weft_tcp_set_nodelay(e->s, true);
    for (;;) {
        weft_read_exact_init(&e->rd, e->s, e->buf, MSG, WEFT_NEVER);
        WEFT_AWAIT(e, weft_read_exact_poll(&e->rd, cx, &e->n));
        if (e->n <= 0)
            break; /* EOF: the client is done */
        weft_write_all_init(&e->wr, e->s, e->buf, MSG, WEFT_NEVER);
        WEFT_AWAIT(e, weft_write_all_poll(&e->wr, cx, &e->n));
        if (e->n < 0)
            break;
    }
    WEFT_ASYNC_END(e);
}

static void echo_drop(void *state)
{
    struct echo *e = state;
    weft_read_exact_drop(&e->rd);
    weft_write_all_drop(&e->wr);
    weft_tcp_close(e->s);
}

static const weft_future_type echo_type = {
    .name = "echo", .poll = echo_poll, .drop = echo_drop, .state_size = sizeof(struct echo)};

struct server {
    WEFT_ASYNC_STATE;
    weft_listener *ln;
    int c, i, err;
    weft_join **joins;
    weft_accept acc;
    weft_stream *conn;
};

static weft_poll server_poll(void *state, weft_cx *cx, void *out)
{
    struct server *s = state;
    (void)out;
    WEFT_ASYNC_BEGIN(s);
    for (s->i = 0; s->i < s->c; s->i++) {
        weft_accept_init(&s->acc, s->ln, WEFT_NEVER);
        WEFT_AWAIT(s, weft_accept_poll(&s->acc, cx, &s->conn, &s->err));
        if (s->err < 0)
            WEFT_ASYNC_FAIL(s, s->err);
        struct echo init = {.s = s->conn};
        if ((s->err = weft_spawn(weft_cx_rt(cx), &echo_type, &init, &s->joins[s->i])) < 0) {
            weft_tcp_close(s->conn);
            WEFT_ASYNC_FAIL(s, s->err);
        }
    }
    for (s->i = 0; s->i < s->c; s->i++)
        WEFT_AWAIT(s, weft_join_poll(s->joins[s->i], cx, NULL, 0, &s->err));
    WEFT_ASYNC_END(s);
}

static void server_drop(void *state)
{
    weft_accept_drop(&((struct server *)state)->acc);
}

static const weft_future_type server_type = {.name = "echo_server",
                                             .poll = server_poll,
                                             .drop = server_drop,
                                             .state_size = sizeof(struct server)};

/* ------------------------------------------------------------------ client side */

struct client {
    WEFT_ASYNC_STATE;
    const weft_sockaddr *addr;
    int id, r, rounds, err;
    weft_stream *s;
    union {
        weft_connect con;
        weft_write_all wr;
        weft_read_exact rd;
    } f;
    ssize_t n;
    unsigned char msg[MSG], back[MSG];
};

static weft_poll client_poll(void *state, weft_cx *cx, void *out)
{
    struct client *c = state;
    (void)out;
    WEFT_ASYNC_BEGIN(c);
    weft_tcp_connect_init(&c->f.con, c->addr, WEFT_NEVER);
    WEFT_AWAIT(c, weft_connect_poll(&c->f.con, cx, &c->s, &c->err));
    if (c->err < 0)
        WEFT_ASYNC_FAIL(c, c->err);
    weft_tcp_set_nodelay(c->s, true);
    memset(c->msg, 0, MSG);
    c->msg[0] = (unsigned char)c->id;
    for (c->r = 0; c->r < c->rounds; c->r++) {
        uint64_t round = (uint64_t)c->r;
        memcpy(c->msg + 1, &round, 8); /* little-endian on every target we build for */
        weft_write_all_init(&c->f.wr, c->s, c->msg, MSG, WEFT_NEVER);
        WEFT_AWAIT(c, weft_write_all_poll(&c->f.wr, cx, &c->n));
        if (c->n != MSG)
            WEFT_ASYNC_FAIL(c, c->n < 0 ? (int)c->n : -EPIPE);
        weft_read_exact_init(&c->f.rd, c->s, c->back, MSG, WEFT_NEVER);
        WEFT_AWAIT(c, weft_read_exact_poll(&c->f.rd, cx, &c->n));
        if (c->n != MSG || memcmp(c->msg, c->back, MSG) != 0)
            WEFT_ASYNC_FAIL(c, c->n < 0 ? (int)c->n : -EBADMSG);
    }
    WEFT_ASYNC_END(c);
}

static void client_drop(void *state)
{
    struct client *c = state;
    /* wr and rd are the same future type, so one drop covers whichever is live. */
    if (c->s) {
        weft_read_exact_drop(&c->f.rd);
        weft_tcp_close(c->s);
    } else {
        weft_connect_drop(&c->f.con);
    }
}

static const weft_future_type client_type = {
    .name = "echo_client", .poll = client_poll, .drop = client_drop,
    .state_size = sizeof(struct client)};

/* ------------------------------------------------------------------ root */

struct root {
    WEFT_ASYNC_STATE;
    weft_sockaddr addr;
    weft_listener *ln;
    int c, rounds, i, err;
    weft_join *server;
    weft_join **joins, **echo_joins;
    int64_t t0, elapsed;
};

static weft_poll root_poll(void *state, weft_cx *cx, void *out)
{
    struct root *r = state;
    WEFT_ASYNC_BEGIN(r);
    {
        struct server init = {.ln = r->ln, .c = r->c, .joins = r->echo_joins};
        if ((r->err = weft_spawn(weft_cx_rt(cx), &server_type, &init, &r->server)) < 0)
            WEFT_ASYNC_FAIL(r, r->err);
    }
    r->t0 = weft_now();
    for (r->i = 0; r->i < r->c; r->i++) {
        struct client init = {.addr = &r->addr, .id = r->i, .rounds = r->rounds};
        if ((r->err = weft_spawn(weft_cx_rt(cx), &client_type, &init, &r->joins[r->i])) < 0)
            WEFT_ASYNC_FAIL(r, r->err);
    }
    for (r->i = 0; r->i < r->c; r->i++) {
        WEFT_AWAIT(r, weft_join_poll(r->joins[r->i], cx, NULL, 0, &r->err));
        if (r->err < 0)
            bench_fail("tcp_echo client", r->err);
    }
    r->elapsed = weft_now() - r->t0;
    WEFT_AWAIT(r, weft_join_poll(r->server, cx, NULL, 0, &r->err));
    if (r->err < 0)
        bench_fail("tcp_echo server", r->err);
    *(int64_t *)out = r->elapsed;
    WEFT_ASYNC_END(r);
}

static const weft_future_type root_type = {.name = "tcp_echo",
                                           .poll = root_poll,
                                           .state_size = sizeof(struct root),
                                           .out_size = sizeof(int64_t)};

static int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    return v && atoi(v) > 0 ? atoi(v) : dflt;
}

static void run_tcp_echo(const char *name)
{
    (void)name;
    weft_rt *rt = NULL;
    int workers = env_int("TCP_ECHO_WORKERS", 2); /* WORKLOADS.md: 2; other values for study */
    if (weft_rt_new(&rt, &(weft_rt_config){.workers = (unsigned)workers}) < 0)
        bench_fail("weft_rt_new", -ENOMEM);
    struct root init = {.c = env_int("TCP_ECHO_C", 100), .rounds = env_int("TCP_ECHO_R", 10000)};
    int err = weft_sockaddr_parse(&init.addr, "127.0.0.1:0");
    if (err == 0)
        err = weft_tcp_listen(&init.ln, &init.addr, &(weft_listen_opts){.backlog = 1024});
    if (err == 0)
        err = weft_listener_local_addr(init.ln, &init.addr);
    if (err < 0)
        bench_fail("tcp_echo listen", err);
    init.joins = calloc((size_t)init.c, sizeof(weft_join *));
    init.echo_joins = calloc((size_t)init.c, sizeof(weft_join *));
    int64_t ns = 0;
    if ((err = weft_rt_block_on(rt, &root_type, &init, &ns)) < 0)
        bench_fail("tcp_echo", err);
    bench_out("tcp_echo_roundtrips_per_s", (double)init.c * init.rounds / ((double)ns / 1e9),
              "rt/s");
    if (getenv("WEFT_BENCH_VERBOSE")) {
        weft_rt_metrics m;
        weft_rt_metrics_get(rt, &m, sizeof m);
        double rts = (double)init.c * init.rounds;
        fprintf(stderr,
                "tcp_echo: backend %s, %.3f s; per round trip: %.2f polls, %.3f parks, "
                "%.3f steals, %.3f lifo hits; workers busy %.0f%% of 2 CPUs\n",
                weft_io_backend_name(rt), ns / 1e9, m.polls / rts, m.parks / rts,
                m.steals / rts, m.lifo_hits / rts, 100.0 * (double)m.busy_ns / (2.0 * ns));
    }
    weft_listener_close(init.ln);
    weft_rt_free(rt);
    free(init.joins);
    free(init.echo_joins);
}

const struct bench_workload bench_tcp_echo = {"tcp_echo", run_tcp_echo};
