/* Listeners, accept, connect and stream-socket options (TCP; Unix listeners share them).
 *
 * F1 (descriptor exhaustion): an accept that fails with EMFILE/ENFILE/ENOBUFS/ENOMEM reports
 * the error once and sets the listener's pause_until to now + WEFT_ACCEPT_LIMIT_PAUSE; every
 * accept started before that time first sleeps until it. A loop that simply accepts again
 * therefore tries ten times a second instead of spinning, connections already accepted keep
 * being served (nothing else changes), and the pending connection is taken as soon as an fd
 * is free again. Transient errors (ECONNABORTED, EINTR, EAGAIN, EPERM, EPROTO) are retried.
 */
#include <netinet/tcp.h>

#include "io/sock.h"

/* ------------------------------------------------------------------ listeners */

int weft__listen(weft_listener **out, const weft_sockaddr *addr, const weft_listen_opts *opts,
                 bool tcp)
{
    int backlog = opts && opts->backlog ? opts->backlog : 1024;
    int family = addr->u.sa.sa_family, one = 1;
    if (backlog < 0)
        return -EINVAL;
    int fd = weft__sys_socket(family, SOCK_STREAM, 0);
    if (fd < 0)
        return fd;
    int err = 0;
    if (tcp) {
        err = weft__sys_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (err == 0 && opts && opts->reuseport)
            err = weft__sys_setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        if (err == 0 && opts && opts->v6only && family == AF_INET6)
            err = weft__sys_setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    if (err == 0)
        err = weft__sys_bind(fd, &addr->u.sa, addr->len);
    if (err == 0)
        err = weft__sys_listen(fd, backlog);
    struct weft_listener *ln = err == 0 ? weft__alloc(sizeof *ln) : NULL;
    if (!ln) {
        weft__sys_close(fd);
        return err < 0 ? err : -ENOMEM;
    }
    weft__handle_init(&ln->h, H_LISTENER, fd);
    ln->h.sub = (uint8_t)family;
    atomic_init(&ln->pause_until, 0);
    atomic_init(&ln->limit_hits, 0);
    *out = ln;
    return 0;
}

int weft_tcp_listen(weft_tcp_listener **out, const weft_sockaddr *addr,
                    const weft_listen_opts *opts)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (weft__sockaddr_check(addr) < 0 || addr->u.sa.sa_family == AF_UNIX)
        return -EINVAL;
    return weft__listen(out, addr, opts, true);
}

void weft_listener_close(weft_listener *ln)
{
    if (ln)
        weft__handle_close(&ln->h);
}

int weft_listener_local_addr(const weft_listener *ln, weft_sockaddr *out)
{
    if (!ln || !out)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    out->len = sizeof out->u;
    int err = weft__sys_getsockname(ln->h.fd, &out->u.sa, &out->len);
    if (err < 0)
        memset(out, 0, sizeof *out);
    return err;
}

int weft_listener_fd(const weft_listener *ln)
{
    return ln ? ln->h.fd : -EINVAL;
}

uint64_t weft_listener_limit_hits(const weft_listener *ln)
{
    return ln ? ld_relaxed(&ln->limit_hits) : 0;
}

/* ------------------------------------------------------------------ accept */

struct acc {
    struct weft__opf f;
    struct weft_listener *ln;
    weft_sockaddr peer; /* written by the kernel while the accept is in flight */
    weft_sleep pause;   /* F1 back-off */
    uint8_t inited;
    uint8_t pausing;    /* pause is armed */
    uint8_t finished;
};
WEFT__IMPL(weft_accept, struct acc);

void weft_accept_init(weft_accept *pub, weft_listener *ln, int64_t deadline)
{
    struct acc *a = (struct acc *)pub;
    weft__opf_init(&a->f, deadline);
    a->f.accept = 1;
    a->ln = ln;
    a->inited = 1;
    a->pausing = 0;
    a->finished = 0;
}

static weft_poll acc_finish(struct acc *a, weft_stream **conn, int *result, int r,
                            struct weft_stream *s)
{
    if (a->pausing) {
        weft_sleep_drop(&a->pause);
        a->pausing = 0;
    }
    weft__opf_finish(&a->f);
    a->finished = 1;
    if (conn)
        *conn = s;
    *result = r;
    return WEFT_READY;
}

static bool limit_error(int err)
{
    return err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM;
}

static bool transient_error(int err)
{
    return err == -ECONNABORTED || err == -EINTR || err == -EAGAIN || err == -EPERM ||
           err == -EPROTO;
}

static void hit_limit(struct weft_listener *ln)
{
    atomic_fetch_add_explicit(&ln->limit_hits, 1, memory_order_relaxed);
    st_relaxed(&ln->pause_until, weft__now() + WEFT_ACCEPT_LIMIT_PAUSE);
}

weft_poll weft_accept_poll(weft_accept *pub, weft_cx *cx, weft_stream **conn, int *result)
{
    struct acc *a = (struct acc *)pub;
    int dummy;
    int32_t res;

    if (!result)
        result = &dummy;
    if (!pub) {
        *result = -EINVAL;
        if (conn)
            *conn = NULL;
        return WEFT_READY;
    }
    if (!a->inited || a->finished || !a->ln || !conn || !cx)
        return acc_finish(a, conn, result, -EINVAL, NULL);
    struct weft_listener *ln = a->ln;
    for (;;) {
        if (!a->f.inflight) {
            int64_t until = ld_relaxed(&ln->pause_until);
            if (WEFT_UNLIKELY(until != 0) && weft__now() < until) {
                if (!a->pausing) {
                    weft_sleep_until_init(&a->pause, until);
                    a->pausing = 1;
                }
                if (weft_sleep_poll(&a->pause, cx) == WEFT_PENDING) {
                    if (a->f.deadline != WEFT_NEVER) {
                        a->f.slept = 1;
                        if (weft_sleep_poll(&a->f.sleep, cx) == WEFT_READY)
                            return acc_finish(a, conn, result, -ETIMEDOUT, NULL);
                    }
                    return WEFT_PENDING;
                }
                weft_sleep_drop(&a->pause);
                a->pausing = 0;
                continue;
            }
            if (!weft__budget(cx))
                return WEFT_PENDING;
            memset(&a->peer, 0, sizeof a->peer);
            a->peer.len = sizeof a->peer.u;
            weft__io_prep_accept(&a->f.w.op, ln->h.fd, &a->peer.u.sa, &a->peer.len,
                                 weft__opf_done);
            int err = weft__opf_start(&a->f, &ln->h, cx);
            if (err < 0)
                return acc_finish(a, conn, result, err, NULL);
        }
        if (weft__opf_poll(&a->f, cx, &res) == WEFT_PENDING)
            return WEFT_PENDING;
        if (res >= 0) {
            struct weft_stream *s;
            if (weft__stream_new(&s, res, WEFT_STREAM_SOCKET, 0) < 0) {
                weft__sys_close(res);
                hit_limit(ln);
                return acc_finish(a, conn, result, -ENOMEM, NULL);
            }
            if (a->peer.len <= sizeof a->peer.u)
                s->peer = a->peer;
            return acc_finish(a, conn, result, 0, s);
        }
        if (limit_error(res)) {
            hit_limit(ln);
            return acc_finish(a, conn, result, res, NULL);
        }
        if (!transient_error(res))
            return acc_finish(a, conn, result, res, NULL);
    }
}

void weft_accept_drop(weft_accept *pub)
{
    if (!pub)
        return;
    struct acc *a = (struct acc *)pub;
    if (a->pausing) {
        weft_sleep_drop(&a->pause);
        a->pausing = 0;
    }
    weft__opf_drop(&a->f, NULL); /* an fd accepted meanwhile is closed (f.accept) */
    a->finished = 1;
}

/* ------------------------------------------------------------------ connect */

struct conn {
    struct weft__opf f;
    weft_sockaddr addr;    /* read by the kernel while the connect is in flight */
    struct weft_stream *s; /* ours until READY hands it over */
    uint8_t kind;          /* 1 TCP, 2 Unix; 0 = never initialised */
    uint8_t started;
    uint8_t finished;
};
WEFT__IMPL(weft_connect, struct conn);

void weft_tcp_connect_init(weft_connect *pub, const weft_sockaddr *addr, int64_t deadline)
{
    struct conn *c = (struct conn *)pub;
    weft__opf_init(&c->f, deadline);
    if (addr && weft__sockaddr_check(addr) == 0 && addr->u.sa.sa_family != AF_UNIX)
        c->addr = *addr;
    else
        memset(&c->addr, 0, sizeof c->addr);
    c->s = NULL;
    c->kind = 1;
    c->started = 0;
    c->finished = 0;
}

void weft_unix_connect_init(weft_connect *pub, const char *path, int64_t deadline)
{
    struct conn *c = (struct conn *)pub;
    weft__opf_init(&c->f, deadline);
    if (weft_sockaddr_unix(&c->addr, path) < 0)
        memset(&c->addr, 0, sizeof c->addr);
    c->s = NULL;
    c->kind = 2;
    c->started = 0;
    c->finished = 0;
}

static weft_poll conn_finish(struct conn *c, weft_stream **conn, int *result, int r)
{
    weft__opf_finish(&c->f);
    c->finished = 1;
    if (conn) {
        *conn = r == 0 ? c->s : NULL;
        if (r == 0)
            c->s = NULL;
    }
    if (c->s) {
        weft_stream_close(c->s);
        c->s = NULL;
    }
    *result = r;
    return WEFT_READY;
}

weft_poll weft_connect_poll(weft_connect *pub, weft_cx *cx, weft_stream **conn, int *result)
{
    struct conn *c = (struct conn *)pub;
    int dummy;
    int32_t res;

    if (!result)
        result = &dummy;
    if (!pub) {
        *result = -EINVAL;
        if (conn)
            *conn = NULL;
        return WEFT_READY;
    }
    if (!c->kind || c->finished || !conn || !cx || c->addr.len == 0)
        return conn_finish(c, conn, result, -EINVAL);
    if (!c->started) {
        if (!cx->rt)
            return conn_finish(c, conn, result, -EINVAL);
        if (!weft__budget(cx))
            return WEFT_PENDING;
        c->started = 1;
        int fd = weft__sys_socket(c->addr.u.sa.sa_family, SOCK_STREAM, 0);
        if (fd < 0)
            return conn_finish(c, conn, result, fd);
        if (weft__stream_new(&c->s, fd, WEFT_STREAM_SOCKET, 0) < 0) {
            weft__sys_close(fd);
            return conn_finish(c, conn, result, -ENOMEM);
        }
        c->s->peer = c->addr;
        weft__io_prep_connect(&c->f.w.op, fd, &c->addr.u.sa, c->addr.len, weft__opf_done);
        int err = weft__opf_start(&c->f, &c->s->h, cx);
        if (err < 0)
            return conn_finish(c, conn, result, err);
    }
    if (weft__opf_poll(&c->f, cx, &res) == WEFT_PENDING)
        return WEFT_PENDING;
    return conn_finish(c, conn, result, res < 0 ? res : 0);
}

void weft_connect_drop(weft_connect *pub)
{
    if (!pub)
        return;
    struct conn *c = (struct conn *)pub;
    weft__opf_drop(&c->f, NULL);
    if (c->s) { /* closing with the connect in flight aborts it (see sock.h) */
        weft_stream_close(c->s);
        c->s = NULL;
    }
    c->finished = 1;
}

/* ------------------------------------------------------------------ stream-socket options */

static int sock_of(const weft_stream *s)
{
    if (!s)
        return -EINVAL;
    return s->h.sub == WEFT_STREAM_SOCKET ? s->h.fd : -ENOTSOCK;
}

int weft_stream_shutdown(weft_stream *s, int how)
{
    int fd = sock_of(s);
    if (fd < 0)
        return fd;
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return -EINVAL;
    return weft__sys_shutdown(fd, how);
}

int weft_stream_peer_addr(const weft_stream *s, weft_sockaddr *out)
{
    int fd = sock_of(s);
    if (fd < 0 || !out)
        return fd < 0 ? fd : -EINVAL;
    if (s->peer.len) {
        *out = s->peer;
        return 0;
    }
    memset(out, 0, sizeof *out);
    out->len = sizeof out->u;
    int err = weft__sys_getpeername(fd, &out->u.sa, &out->len);
    if (err < 0)
        memset(out, 0, sizeof *out);
    return err;
}

int weft_stream_local_addr(const weft_stream *s, weft_sockaddr *out)
{
    int fd = sock_of(s);
    if (fd < 0 || !out)
        return fd < 0 ? fd : -EINVAL;
    memset(out, 0, sizeof *out);
    out->len = sizeof out->u;
    int err = weft__sys_getsockname(fd, &out->u.sa, &out->len);
    if (err < 0)
        memset(out, 0, sizeof *out);
    return err;
}

int weft_tcp_set_nodelay(weft_tcp_stream *s, bool on)
{
    int fd = sock_of(s), v = on;
    if (fd < 0)
        return fd;
    return weft__sys_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v);
}

int weft_tcp_nodelay(const weft_tcp_stream *s)
{
    int fd = sock_of(s), v = 0;
    socklen_t len = sizeof v;
    if (fd < 0)
        return fd;
    int err = weft__sys_getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len);
    return err < 0 ? err : v != 0;
}

int weft_tcp_set_keepalive(weft_tcp_stream *s, int64_t idle)
{
    int fd = sock_of(s);
    if (fd < 0)
        return fd;
    int on = idle > 0;
    if (on) { /* TCP options first: a Unix socket fails here with EOPNOTSUPP */
        int64_t sec = (idle + WEFT_SEC(1) - 1) / WEFT_SEC(1);
        int secs = sec > 32767 ? 32767 : (int)sec, intvl = secs / 3 ? secs / 3 : 1, cnt = 5;
        int err = weft__sys_setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &secs, sizeof secs);
        if (err == 0)
            err = weft__sys_setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
        if (err == 0)
            err = weft__sys_setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
        if (err < 0)
            return err;
    }
    return weft__sys_setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
}
