/* Listeners, accept, connect and stream-socket options (TCP; Unix listeners share them).
 *
 * F1 (descriptor exhaustion): an accept that fails with EMFILE/ENFILE/ENOBUFS/ENOMEM reports
 * the error once and sets the listener's pause_until to now + WEFT_ACCEPT_LIMIT_PAUSE; every
 * accept started before that time first sleeps until it. A loop that simply accepts again
 * therefore tries ten times a second instead of spinning, connections already accepted keep
 * being served (nothing else changes), and the pending connection is taken as soon as an fd
 * is free again. Transient errors (ECONNABORTED, EINTR, EAGAIN, EPERM, EPROTO) are retried.
 *
 * MULTISHOT (io_uring 5.19+). On io_uring a listener keeps one multishot accept in the kernel
 * (its "engine", armed by the first accept future that finds nothing to take, on the reactor
 * of the thread polling it). Every connection the kernel accepts lands in the engine's queue
 * and wakes one waiting accept future; a burst of connections costs one submission instead
 * of one per connection. Peer addresses are not delivered that way: weft_stream_peer_addr
 * asks getpeername(2) when first called. The multishot ends on an error (EMFILE and the F1
 * pause work as above: the next acceptor reports it and nobody re-arms before the pause
 * ends), on close (the listener's shutdown makes the kernel end it), or at runtime shutdown.
 * A kernel without it answers -EINVAL at once; the listener then accepts one at a time.
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
    memset(&ln->eng, 0, sizeof ln->eng);
    weft__waitlist_init(&ln->eng.wl);
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

enum { ACC_UNDECIDED = 0, ACC_MULTI = 1, ACC_SINGLE = 2 };

struct acc {
    struct weft__opf f;
    struct weft_listener *ln;
    weft_sockaddr peer; /* written by the kernel while the accept is in flight */
    weft_sleep pause;   /* F1 back-off */
    struct weft__waiter node; /* ACC_MULTI: queued on the engine while waiting */
    uint8_t inited;
    uint8_t pausing;    /* pause is armed */
    uint8_t finished;
    uint8_t mode;       /* ACC_*: from the engine's queue, or one accept op of our own */
    uint8_t held;       /* ACC_MULTI: we hold a reference on the listener (until finished) */
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
    a->mode = ACC_UNDECIDED;
    a->held = 0;
    memset(&a->node, 0, sizeof a->node);
}

static void acc_leave_queue(struct acc *a);

static weft_poll acc_finish(struct acc *a, weft_stream **conn, int *result, int r,
                            struct weft_stream *s)
{
    acc_leave_queue(a);
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

/* F1: while the listener pauses after hitting the descriptor limit, wait (or time out).
 * Returns true when the caller must return *ret; false to go on. */
static bool acc_wait_pause(struct acc *a, weft_cx *cx, weft_stream **conn, int *result,
                           weft_poll *ret)
{
    int64_t until = ld_relaxed(&a->ln->pause_until);
    if (WEFT_LIKELY(until == 0) || weft__now() >= until) {
        if (a->pausing) {
            weft_sleep_drop(&a->pause);
            a->pausing = 0;
        }
        return false;
    }
    if (!a->pausing) {
        weft_sleep_until_init(&a->pause, until);
        a->pausing = 1;
    }
    if (weft_sleep_poll(&a->pause, cx) == WEFT_READY) {
        weft_sleep_drop(&a->pause);
        a->pausing = 0;
        return false;
    }
    *ret = WEFT_PENDING;
    if (a->f.deadline != WEFT_NEVER) {
        a->f.slept = 1;
        if (weft_sleep_poll(&a->f.sleep, cx) == WEFT_READY)
            *ret = acc_finish(a, conn, result, -ETIMEDOUT, NULL);
    }
    return true;
}

/* A connection the kernel accepted becomes a stream (or, out of memory, an F1 limit hit). */
static weft_poll acc_take(struct acc *a, weft_stream **conn, int *result, int fd)
{
    struct weft_stream *s;
    if (weft__stream_new(&s, fd, WEFT_STREAM_SOCKET, 0) < 0) {
        weft__sys_close(fd);
        hit_limit(a->ln);
        return acc_finish(a, conn, result, -ENOMEM, NULL);
    }
    if (a->mode == ACC_SINGLE && a->peer.len <= sizeof a->peer.u)
        s->peer = a->peer;
    return acc_finish(a, conn, result, 0, s);
}

/* ------------------------------------------------------------------ the multishot engine */

static bool engine_push(struct weft__accept_engine *e, int fd)
{
    if (e->count == e->cap) {
        uint32_t cap = e->cap ? e->cap * 2 : 16;
        int *fds = weft__alloc(cap * sizeof *fds);
        if (!fds)
            return false;
        for (uint32_t i = 0; i < e->count; i++)
            fds[i] = e->fds[(e->head + i) % e->cap];
        weft__free(e->fds);
        e->fds = fds, e->cap = cap, e->head = 0;
    }
    e->fds[(e->head + e->count++) % e->cap] = fd;
    return true;
}

static int engine_pop(struct weft__accept_engine *e)
{
    int fd = e->fds[e->head];
    e->head = (e->head + 1) % e->cap;
    e->count--;
    return fd;
}

/* Runs on the reactor that holds the multishot: once per connection (WEFT__IO_F_MORE), and
 * once more when it ends. */
static void engine_done(struct weft__io_op *op)
{
    struct weft__accept_engine *e = WEFT__IO_CONTAINER(op, struct weft__accept_engine, op);
    struct weft_listener *ln = WEFT__IO_CONTAINER(e, struct weft_listener, eng);
    bool more = (op->flags & WEFT__IO_F_MORE) != 0;
    int32_t res = op->res;
    struct weft__wakelist wk;

    weft__wakelist_init(&wk);
    weft__waitlist_lock(&e->wl);
    if (res >= 0) {
        e->got_any = 1;
        if (weft__handle_closed(&ln->h) || !engine_push(e, res)) {
            weft__sys_close(res);
            if (!weft__handle_closed(&ln->h))
                e->err = -ENOMEM;
        }
    } else if (!more && (res == -EINVAL || res == -EOPNOTSUPP) && !e->got_any &&
               !weft__handle_closed(&ln->h)) {
        st_relaxed(&e->unsupported, 1); /* acceptors go one at a time from now on */
    } else if (res != -ECANCELED && !weft__handle_closed(&ln->h)) {
        e->err = res;
    }
    if (!more) {
        e->armed = 0;
        weft__waitlist_take_all(&e->wl, &wk); /* one of them re-arms, or all see the end */
    } else {
        struct weft__waiter *w = weft__waitlist_pop(&e->wl);
        if (w)
            weft__wakelist_take(&wk, &w->waker);
    }
    weft__waitlist_unlock(&e->wl);
    weft__wakelist_wake(&wk);
    if (!more)
        weft__handle_release(&ln->h); /* the multishot's reference */
}

void weft__listener_fini(struct weft_listener *ln)
{
    struct weft__accept_engine *e = &ln->eng;
    while (e->count)
        weft__sys_close(engine_pop(e));
    weft__free(e->fds);
    e->fds = NULL;
}

/* Off the engine's queue (a finished, timed-out or dropped accept). If connections are left
 * and others wait, the next one is woken: a wakeup meant for us is never lost. */
static void acc_leave_queue(struct acc *a)
{
    if (a->mode == ACC_MULTI) {
        struct weft__accept_engine *e = &a->ln->eng;
        struct weft__wakelist wk;
        weft__wakelist_init(&wk);
        weft__waitlist_lock(&e->wl);
        if (a->node.queued)
            weft__waitlist_remove(&e->wl, &a->node);
        if (e->count || e->err) {
            struct weft__waiter *w = weft__waitlist_pop(&e->wl);
            if (w)
                weft__wakelist_take(&wk, &w->waker);
        }
        weft__waitlist_unlock(&e->wl);
        weft__wakelist_wake(&wk);
        weft_waker_drop(&a->node.waker);
    }
    if (a->held) {
        a->held = 0;
        weft__handle_release(&a->ln->h); /* last: it may free the listener */
    }
}

/* ACC_MULTI: take a connection from the engine, or wait on it (arming it if needed). Sets
 * a->mode = ACC_SINGLE and returns PENDING without waiting when the kernel turns out to lack
 * multishot accept; the caller then goes on with its own accept op. */
static weft_poll acc_poll_multi(struct acc *a, weft_cx *cx, weft_stream **conn, int *result)
{
    struct weft_listener *ln = a->ln;
    struct weft__accept_engine *e = &ln->eng;
    weft_poll ret;

    for (;;) {
        weft__waitlist_lock(&e->wl);
        if (a->node.queued)
            weft__waitlist_remove(&e->wl, &a->node);
        if (e->count) {
            int fd = engine_pop(e);
            weft__waitlist_unlock(&e->wl);
            return acc_take(a, conn, result, fd);
        }
        if (e->err) {
            int err = e->err;
            e->err = 0;
            weft__waitlist_unlock(&e->wl);
            if (limit_error(err)) {
                hit_limit(ln);
                return acc_finish(a, conn, result, err, NULL);
            }
            if (transient_error(err))
                continue;
            return acc_finish(a, conn, result, err, NULL);
        }
        if (weft__handle_closed(&ln->h)) {
            weft__waitlist_unlock(&e->wl);
            return acc_finish(a, conn, result, -ECANCELED, NULL);
        }
        if (ld_relaxed(&e->unsupported)) {
            weft__waitlist_unlock(&e->wl);
            weft_waker_drop(&a->node.waker);
            a->mode = ACC_SINGLE;
            return WEFT_PENDING;
        }
        bool arm = false;
        if (!e->armed) {
            if (ld_relaxed(&ln->pause_until) != 0 && weft__now() < ld_relaxed(&ln->pause_until)) {
                weft__waitlist_unlock(&e->wl);
                if (acc_wait_pause(a, cx, conn, result, &ret))
                    return ret;
                continue;
            }
            if (!weft__budget(cx)) {
                weft__waitlist_unlock(&e->wl);
                return WEFT_PENDING;
            }
            e->armed = 1;
            weft__handle_ref(&ln->h);
            weft__io_prep_accept_multi(&e->op, ln->h.fd, engine_done);
            arm = true;
        }
        weft__waiter_set_waker(&a->node, &cx->waker);
        weft__waitlist_push(&e->wl, &a->node);
        weft__waitlist_unlock(&e->wl);
        if (arm)
            weft__io_submit_any(weft_cx_rt(cx), &e->op);
        if (a->f.deadline != WEFT_NEVER) {
            a->f.slept = 1;
            if (weft_sleep_poll(&a->f.sleep, cx) == WEFT_READY)
                return acc_finish(a, conn, result, -ETIMEDOUT, NULL);
        }
        return WEFT_PENDING;
    }
}

weft_poll weft_accept_poll(weft_accept *pub, weft_cx *cx, weft_stream **conn, int *result)
{
    struct acc *a = (struct acc *)pub;
    int dummy;
    int32_t res;
    weft_poll ret;

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
    if (a->mode == ACC_UNDECIDED) {
        weft_rt *rt = weft_cx_rt(cx);
        a->mode = rt && weft__io_backend_of(rt) == WEFT__IO_BACKEND_URING &&
                          !ld_relaxed(&ln->eng.unsupported)
                      ? ACC_MULTI
                      : ACC_SINGLE;
    }
    if (a->mode == ACC_MULTI) {
        if (!a->held) { /* a close from another task must not free the listener under us */
            weft__handle_ref(&ln->h);
            a->held = 1;
        }
        ret = acc_poll_multi(a, cx, conn, result);
        if (a->mode == ACC_MULTI || ret == WEFT_READY)
            return ret;
    }
    for (;;) {
        if (!a->f.inflight) {
            if (acc_wait_pause(a, cx, conn, result, &ret))
                return ret;
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
        if (res >= 0)
            return acc_take(a, conn, result, res);
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
    if (!a->inited || a->finished)
        return;
    acc_leave_queue(a);
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

int weft_tcp_set_cork(weft_tcp_stream *s, bool on)
{
    int fd = sock_of(s), v = on;
    if (fd < 0)
        return fd;
    return weft__sys_setsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, sizeof v);
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
