/* Datagram sockets (UDP and Unix datagram): handles and the send/receive futures. */
#include "io/sock.h"

int weft__dgram_new(struct weft_dgram **out, int fd, int family)
{
    struct weft_dgram *d = weft__alloc(sizeof *d);
    *out = d;
    if (!d)
        return -ENOMEM;
    weft__handle_init(&d->h, H_DGRAM, fd);
    d->h.sub = (uint8_t)family;
    return 0;
}

int weft_udp_bind(weft_udp_socket **out, const weft_sockaddr *addr, const weft_udp_opts *opts)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (weft__sockaddr_check(addr) < 0 || addr->u.sa.sa_family == AF_UNIX)
        return -EINVAL;
    int family = addr->u.sa.sa_family, one = 1, err = 0;
    int fd = weft__sys_socket(family, SOCK_DGRAM, 0);
    if (fd < 0)
        return fd;
    if (opts && opts->reuseaddr)
        err = weft__sys_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (err == 0 && opts && opts->reuseport)
        err = weft__sys_setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (err == 0 && opts && opts->broadcast)
        err = weft__sys_setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
    if (err == 0 && opts && opts->v6only && family == AF_INET6)
        err = weft__sys_setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (err == 0)
        err = weft__sys_bind(fd, &addr->u.sa, addr->len);
    if (err == 0)
        err = weft__dgram_new(out, fd, family);
    if (err < 0)
        weft__sys_close(fd);
    return err;
}

int weft_dgram_connect(weft_dgram *s, const weft_sockaddr *addr)
{
    if (!s || weft__sockaddr_check(addr) < 0)
        return -EINVAL;
    if ((addr->u.sa.sa_family == AF_UNIX) != (s->h.sub == AF_UNIX))
        return -EINVAL;
    return weft__sys_connect(s->h.fd, &addr->u.sa, addr->len);
}

void weft_dgram_close(weft_dgram *s)
{
    if (s)
        weft__handle_close(&s->h);
}

int weft_dgram_local_addr(const weft_dgram *s, weft_sockaddr *out)
{
    if (!s || !out)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    out->len = sizeof out->u;
    int err = weft__sys_getsockname(s->h.fd, &out->u.sa, &out->len);
    if (err < 0)
        memset(out, 0, sizeof *out);
    return err;
}

int weft_dgram_fd(const weft_dgram *s)
{
    return s ? s->h.fd : -EINVAL;
}

/* ------------------------------------------------------------------ futures */

enum { D_SEND_TO = 1, D_RECV_FROM, D_SEND, D_RECV };

struct dg {
    struct weft__opf f;
    struct weft_dgram *s;
    struct msghdr msg;     /* read by the kernel while in flight */
    struct iovec iov;
    weft_sockaddr addr;    /* D_SEND_TO: the destination (copied); D_RECV_FROM: the source */
    weft_sockaddr *from;   /* D_RECV_FROM: the caller's out-address, or NULL */
    uint8_t mode;          /* D_* */
    uint8_t finished;
    uint8_t truncated;
    uint8_t bad_addr;      /* D_SEND_TO: the destination given was invalid */
};
WEFT__IMPL(weft_send_to, struct dg);

static void dg_init(weft_send_to *pub, int mode, weft_dgram *s, const void *buf, size_t len,
                    int64_t deadline)
{
    struct dg *d = (struct dg *)pub;
    weft__opf_init(&d->f, deadline);
    d->s = s;
    d->iov = (struct iovec){.iov_base = (void *)buf, .iov_len = len};
    memset(&d->msg, 0, sizeof d->msg);
    memset(&d->addr, 0, sizeof d->addr);
    d->from = NULL;
    d->mode = (uint8_t)mode;
    d->finished = 0;
    d->truncated = 0;
    d->bad_addr = 0;
}

static weft_poll dg_finish(struct dg *d, ssize_t *result, ssize_t r)
{
    weft__opf_finish(&d->f);
    d->finished = 1;
    *result = r;
    return WEFT_READY;
}

static weft_poll dg_poll(weft_send_to *pub, weft_cx *cx, ssize_t *result)
{
    struct dg *d = (struct dg *)pub;
    ssize_t dummy;
    int32_t res;

    if (!result)
        result = &dummy;
    if (!pub) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    if (!d->mode || d->finished || !d->s || (!d->iov.iov_base && d->iov.iov_len) || !cx ||
        d->bad_addr || d->iov.iov_len > WEFT__IO_MAX_LEN)
        return dg_finish(d, result, -EINVAL);
    if (!d->f.inflight) {
        if (!weft__budget(cx))
            return WEFT_PENDING;
        struct weft__io_op *op = &d->f.w.op;
        d->msg = (struct msghdr){.msg_iov = &d->iov, .msg_iovlen = 1};
        switch (d->mode) {
        case D_SEND_TO:
            d->msg.msg_name = &d->addr.u;
            d->msg.msg_namelen = d->addr.len;
            weft__io_prep_sendmsg(op, d->s->h.fd, &d->msg, 0, weft__opf_done);
            break;
        case D_RECV_FROM:
            d->msg.msg_name = &d->addr.u;
            d->msg.msg_namelen = sizeof d->addr.u;
            weft__io_prep_recvmsg(op, d->s->h.fd, &d->msg, 0, weft__opf_done);
            break;
        case D_SEND:
            weft__io_prep_send(op, d->s->h.fd, d->iov.iov_base, d->iov.iov_len, 0,
                               weft__opf_done);
            break;
        default:
            weft__io_prep_recvmsg(op, d->s->h.fd, &d->msg, 0, weft__opf_done);
            break;
        }
        int err = weft__opf_start(&d->f, &d->s->h, cx);
        if (err < 0)
            return dg_finish(d, result, err);
    }
    if (weft__opf_poll(&d->f, cx, &res) == WEFT_PENDING)
        return WEFT_PENDING;
    if (res >= 0 && (d->mode == D_RECV_FROM || d->mode == D_RECV)) {
        d->truncated = (d->msg.msg_flags & MSG_TRUNC) != 0;
        if (d->mode == D_RECV_FROM && d->from) {
            d->addr.len = d->msg.msg_namelen <= sizeof d->addr.u ? d->msg.msg_namelen : 0;
            *d->from = d->addr;
        }
    }
    return dg_finish(d, result, res);
}

static void dg_drop(weft_send_to *pub)
{
    if (!pub)
        return;
    struct dg *d = (struct dg *)pub;
    weft__opf_drop(&d->f, NULL);
    d->finished = 1;
}

void weft_send_to_init(weft_send_to *f, weft_dgram *s, const void *buf, size_t len,
                       const weft_sockaddr *to, int64_t deadline)
{
    dg_init(f, D_SEND_TO, s, buf, len, deadline);
    struct dg *d = (struct dg *)f;
    if (weft__sockaddr_check(to) == 0)
        d->addr = *to;
    else
        d->bad_addr = 1;
}
weft_poll weft_send_to_poll(weft_send_to *f, weft_cx *cx, ssize_t *result)
{
    return dg_poll(f, cx, result);
}
void weft_send_to_drop(weft_send_to *f) { dg_drop(f); }

void weft_recv_from_init(weft_recv_from *f, weft_dgram *s, void *buf, size_t len,
                         weft_sockaddr *from, int64_t deadline)
{
    dg_init(f, D_RECV_FROM, s, buf, len, deadline);
    ((struct dg *)f)->from = from;
}
weft_poll weft_recv_from_poll(weft_recv_from *f, weft_cx *cx, ssize_t *result)
{
    return dg_poll(f, cx, result);
}
void weft_recv_from_drop(weft_recv_from *f) { dg_drop(f); }

bool weft_recv_from_truncated(const weft_recv_from *f)
{
    return f && ((const struct dg *)f)->truncated;
}

void weft_dgram_send_init(weft_dgram_send *f, weft_dgram *s, const void *buf, size_t len,
                          int64_t deadline)
{
    dg_init(f, D_SEND, s, buf, len, deadline);
}
weft_poll weft_dgram_send_poll(weft_dgram_send *f, weft_cx *cx, ssize_t *result)
{
    return dg_poll(f, cx, result);
}
void weft_dgram_send_drop(weft_dgram_send *f) { dg_drop(f); }

void weft_dgram_recv_init(weft_dgram_recv *f, weft_dgram *s, void *buf, size_t len,
                          int64_t deadline)
{
    dg_init(f, D_RECV, s, buf, len, deadline);
}
weft_poll weft_dgram_recv_poll(weft_dgram_recv *f, weft_cx *cx, ssize_t *result)
{
    return dg_poll(f, cx, result);
}
void weft_dgram_recv_drop(weft_dgram_recv *f) { dg_drop(f); }
