/* line_client - a line-based TCP client: resolve a name, connect, send lines through a
 * buffered writer, read replies line by line through a buffered reader.
 *
 *   example_line_client               demo: an in-process server that upper-cases lines;
 *                                     the client sends a few and prints the replies, then exits
 *   example_line_client HOST PORT     send the lines read from stdin (itself read through
 *                                     the reactor, as a non-blocking stream), print each reply
 *
 * What it shows: weft_resolve (getaddrinfo on the blocking pool), weft_bufwriter (several
 * small writes, one flush), weft_bufreader + weft_read_line (a view into the buffer, then an
 * explicit consume), deadlines.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "weft.h"

/* ------------------------------------------------------------------ demo server */

struct upper {
    weft_tcp_stream *sock; /* owned */
    WEFT_ASYNC_STATE;
    weft_bufreader rd;
    weft_read_line line;
    weft_write_all write;
    ssize_t len, n;
    char rbuf[1024], out[1024];
};

static weft_poll upper_poll(void *state, weft_cx *cx, void *out)
{
    struct upper *u = state;
    (void)out;
    WEFT_ASYNC_BEGIN(u);
    weft_bufreader_init(&u->rd, u->sock, u->rbuf, sizeof u->rbuf);
    for (;;) {
        weft_read_line_init(&u->line, &u->rd, weft_deadline_in(WEFT_SEC(10)));
        WEFT_AWAIT(u, weft_read_line_poll(&u->line, cx, &u->len));
        if (u->len <= 0) /* 0: the client closed; -EMSGSIZE: a line over 1 KiB */
            break;
        const char *line = weft_bufreader_data(&u->rd); /* valid until the consume */
        for (ssize_t i = 0; i < u->len; i++)
            u->out[i] = (char)toupper((unsigned char)line[i]);
        weft_bufreader_consume(&u->rd, (size_t)u->len);
        weft_write_all_init(&u->write, u->sock, u->out, (size_t)u->len, WEFT_NEVER);
        WEFT_AWAIT(u, weft_write_all_poll(&u->write, cx, &u->n));
        if (u->n < 0)
            break;
    }
    WEFT_ASYNC_END(u);
}

static void upper_drop(void *state)
{
    struct upper *u = state;
    weft_read_line_drop(&u->line); /* futures first, then the reader */
    weft_write_all_drop(&u->write);
    weft_bufreader_fini(&u->rd);
    weft_tcp_close(u->sock);
}

static const weft_future_type upper_type = {
    .name = "upper", .poll = upper_poll, .drop = upper_drop, .state_size = sizeof(struct upper)};

struct acceptor {
    weft_tcp_listener *ln;
    WEFT_ASYNC_STATE;
    weft_accept accept;
    weft_stream *conn;
    int err;
};

static weft_poll acceptor_poll(void *state, weft_cx *cx, void *out)
{
    struct acceptor *a = state;
    (void)out;
    WEFT_ASYNC_BEGIN(a);
    weft_accept_init(&a->accept, a->ln, weft_deadline_in(WEFT_SEC(10)));
    WEFT_AWAIT(a, weft_accept_poll(&a->accept, cx, &a->conn, &a->err));
    if (a->err < 0)
        WEFT_ASYNC_FAIL(a, a->err);
    if ((a->err = weft_spawn(weft_cx_rt(cx), &upper_type, &(struct upper){.sock = a->conn},
                             NULL)) < 0) {
        weft_tcp_close(a->conn);
        WEFT_ASYNC_FAIL(a, a->err);
    }
    WEFT_ASYNC_END(a);
}

static void acceptor_drop(void *state) { weft_accept_drop(&((struct acceptor *)state)->accept); }

static const weft_future_type acceptor_type = {.name = "acceptor",
                                               .poll = acceptor_poll,
                                               .drop = acceptor_drop,
                                               .state_size = sizeof(struct acceptor)};

/* ------------------------------------------------------------------ the client */

struct client {
    const char *host, *port;
    const char *const *lines; /* NULL-terminated; NULL = read `in` */
    weft_stream *in;          /* stdin as a stream (borrowed fd), or NULL */
    WEFT_ASYNC_STATE;
    weft_bufreader inrd;
    weft_read_line inline_;
    weft_resolve resolve;
    weft_sockaddr addrs[4];
    int naddr, i, err;
    weft_connect connect;
    weft_tcp_stream *sock;
    weft_bufwriter wr;
    weft_bufreader rd;
    weft_bufwriter_write put;
    weft_bufwriter_flush flush;
    weft_read_line line;
    ssize_t n, len;
    int sent, got;
    char wbuf[256], rbuf[2048], inbuf[1024], input[1024];
};

/* The next line to send into c->input: from the demo list, or from stdin through the reactor.
 * READY with *len = its length, 0 when there are no more. */
static weft_poll next_line(struct client *c, weft_cx *cx, ssize_t *len)
{
    if (c->lines) {
        const char *l = c->lines[c->sent];
        *len = l ? snprintf(c->input, sizeof c->input, "%s\n", l) : 0;
        return WEFT_READY;
    }
    if (weft_read_line_poll(&c->inline_, cx, len) == WEFT_PENDING)
        return WEFT_PENDING;
    if (*len > 0) {
        size_t n = (size_t)*len < sizeof c->input - 2 ? (size_t)*len : sizeof c->input - 2;
        memcpy(c->input, weft_bufreader_data(&c->inrd), n);
        weft_bufreader_consume(&c->inrd, (size_t)*len);
        if (c->input[n - 1] != '\n')
            c->input[n++] = '\n'; /* a last line without a newline */
        *len = (ssize_t)n;
    }
    return WEFT_READY;
}

static weft_poll client_poll(void *state, weft_cx *cx, void *out)
{
    struct client *c = state;
    (void)out;
    WEFT_ASYNC_BEGIN(c);
    weft_resolve_init(&c->resolve, c->host, c->port, AF_INET, c->addrs, 4);
    WEFT_AWAIT(c, weft_resolve_poll(&c->resolve, cx, &c->naddr));
    if (c->naddr < 0)
        WEFT_ASYNC_FAIL(c, c->naddr);
    c->err = -ECONNREFUSED;
    for (c->i = 0; c->i < c->naddr && c->err < 0; c->i++) { /* first address that answers */
        weft_tcp_connect_init(&c->connect, &c->addrs[c->i], weft_deadline_in(WEFT_SEC(5)));
        WEFT_AWAIT(c, weft_connect_poll(&c->connect, cx, &c->sock, &c->err));
    }
    if (c->err < 0)
        WEFT_ASYNC_FAIL(c, c->err);
    weft_bufwriter_init(&c->wr, c->sock, c->wbuf, sizeof c->wbuf);
    weft_bufreader_init(&c->rd, c->sock, c->rbuf, sizeof c->rbuf);
    if (c->in)
        weft_bufreader_init(&c->inrd, c->in, c->inbuf, sizeof c->inbuf);
    for (;;) {
        if (c->in)
            weft_read_line_init(&c->inline_, &c->inrd, WEFT_NEVER);
        WEFT_AWAIT(c, next_line(c, cx, &c->len));
        if (c->len <= 0)
            break;
        /* A small write goes into the buffer; the flush sends it in one system call. */
        weft_bufwriter_write_init(&c->put, &c->wr, c->input, (size_t)c->len, WEFT_NEVER);
        WEFT_AWAIT(c, weft_bufwriter_write_poll(&c->put, cx, &c->n));
        weft_bufwriter_flush_init(&c->flush, &c->wr, weft_deadline_in(WEFT_SEC(5)));
        WEFT_AWAIT(c, weft_bufwriter_flush_poll(&c->flush, cx, &c->n));
        if (c->n < 0)
            WEFT_ASYNC_FAIL(c, (int)c->n);
        c->sent++;
        weft_read_line_init(&c->line, &c->rd, weft_deadline_in(WEFT_SEC(5)));
        WEFT_AWAIT(c, weft_read_line_poll(&c->line, cx, &c->len));
        if (c->len <= 0)
            WEFT_ASYNC_FAIL(c, c->len < 0 ? (int)c->len : -EPIPE);
        printf("< %.*s", (int)c->len, weft_bufreader_data(&c->rd));
        weft_bufreader_consume(&c->rd, (size_t)c->len);
        c->got++;
    }
    printf("%d lines sent, %d replies\n", c->sent, c->got);
    WEFT_ASYNC_END(c);
}

static void client_drop(void *state)
{
    struct client *c = state;
    weft_resolve_drop(&c->resolve);
    weft_connect_drop(&c->connect);
    weft_bufwriter_write_drop(&c->put);
    weft_bufwriter_flush_drop(&c->flush);
    weft_read_line_drop(&c->line);
    weft_read_line_drop(&c->inline_);
    weft_bufreader_fini(&c->inrd);
    weft_bufwriter_fini(&c->wr);
    weft_bufreader_fini(&c->rd);
    weft_tcp_close(c->sock);
}

static const weft_future_type client_type = {.name = "line_client",
                                             .poll = client_poll,
                                             .drop = client_drop,
                                             .state_size = sizeof(struct client)};

int main(int argc, char **argv)
{
    static const char *const demo[] = {"hello, weft", "lines go out buffered",
                                       "and come back upper-cased", NULL};
    weft_rt *rt = NULL;
    int err = weft_rt_new(&rt, &(weft_rt_config){.workers = 2, .thread_name = "lines"});
    if (err < 0) {
        fprintf(stderr, "line_client: %s\n", weft_strerror(err));
        return 1;
    }
    struct client c = {.host = argc > 2 ? argv[1] : "localhost",
                       .port = argc > 2 ? argv[2] : NULL,
                       .lines = argc > 2 ? NULL : demo};
    weft_tcp_listener *ln = NULL;
    char port[16];
    int stdin_flags = -1;
    if (argc > 2) { /* stdin as a non-blocking stream; its flags are restored at the end */
        stdin_flags = fcntl(0, F_GETFL);
        if (stdin_flags >= 0 && fcntl(0, F_SETFL, stdin_flags | O_NONBLOCK) == 0)
            err = weft_stream_from_fd(&c.in, 0, WEFT_STREAM_PIPE, 0, WEFT_STREAM_BORROW_FD);
    }
    if (argc <= 2) { /* the demo server, on a free port of 127.0.0.1 */
        weft_sockaddr addr;
        err = weft_sockaddr_parse(&addr, "127.0.0.1:0");
        if (err == 0)
            err = weft_tcp_listen(&ln, &addr, NULL);
        if (err == 0)
            err = weft_listener_local_addr(ln, &addr);
        if (err == 0) {
            snprintf(port, sizeof port, "%d", weft_sockaddr_port(&addr));
            c.port = port;
            err = weft_spawn(rt, &acceptor_type, &(struct acceptor){.ln = ln}, NULL);
        }
    }
    if (err == 0)
        err = weft_rt_block_on(rt, &client_type, &c, NULL);
    if (err < 0)
        fprintf(stderr, "line_client %s:%s: %s\n", c.host, c.port ? c.port : "?",
                weft_strerror(err));
    weft_listener_close(ln);
    weft_stream_close(c.in);
    weft_rt_free(rt);
    if (stdin_flags >= 0)
        fcntl(0, F_SETFL, stdin_flags);
    return err < 0;
}
