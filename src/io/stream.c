/* Handles, the leaf-op base and the generic stream futures (read_some, read_exact, write,
 * write_all, readv, writev): see sock.h for the handle rule and weft/io.h for the API. */
#include <sys/socket.h>

#include "io/sock.h"
#include "sched/sched.h"

/* ------------------------------------------------------------------ handles */

static bool is_socket(const struct weft__handle *h)
{
    return h->kind == H_LISTENER || h->kind == H_DGRAM ||
           (h->kind == H_STREAM && h->sub == WEFT_STREAM_SOCKET);
}

void weft__handle_init(struct weft__handle *h, int kind, int fd)
{
    atomic_init(&h->refs, 1);
    atomic_init(&h->owners, 1);
    atomic_init(&h->closed, 0);
    atomic_init(&h->lock, 0);
    h->kind = (uint8_t)kind;
    h->sub = 0;
    h->borrowed = 0;
    h->tracked = kind == H_DGRAM || kind == H_SIGNALS;
    h->fd = fd;
    h->ops = NULL;
}

void weft__handle_set_sub(struct weft__handle *h, int sub)
{
    h->sub = (uint8_t)sub;
    if (h->kind == H_STREAM)
        h->tracked = sub != WEFT_STREAM_SOCKET;
}

static inline void hlock(struct weft__handle *h)
{
    while (atomic_exchange_explicit(&h->lock, 1, memory_order_acquire))
        while (ld_relaxed(&h->lock))
            weft__cpu_relax();
}

static inline void hunlock(struct weft__handle *h)
{
    st_release(&h->lock, 0);
}

void weft__handle_release(struct weft__handle *h)
{
    if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (h->kind == H_LISTENER)
        weft__listener_fini((struct weft_listener *)h);
    if (!h->borrowed)
        weft__sys_close(h->fd);
    weft__free(h);
}

void weft__handle_close(struct weft__handle *h)
{
    if (atomic_fetch_sub_explicit(&h->owners, 1, memory_order_acq_rel) != 1)
        return;
    st_release(&h->closed, 1);
    if (h->tracked) {
        /* Cancel each op in flight. Holding the lock keeps their completions (which unlink
         * under it) from running, so every wait on the list is alive and in flight. */
        hlock(h);
        for (struct weft__opf *f = h->ops; f; f = f->hnext)
            weft__io_wait_drop(&f->w);
        hunlock(h);
    } else if (ld_acquire(&h->refs) > 1 && is_socket(h)) {
        /* Operations in flight: kick them out of the kernel now (a recv parked in io_uring
         * would otherwise keep the socket - and the peer's connection - alive). With nothing
         * in flight a plain close keeps its usual meaning (SO_LINGER resets included). */
        weft__sys_shutdown(h->fd, SHUT_RDWR);
    }
    weft__handle_release(h);
}

/* ------------------------------------------------------------------ leaf ops */

void weft__opf_init(struct weft__opf *f, int64_t deadline)
{
    memset(f, 0, sizeof *f);
    f->deadline = deadline;
    if (deadline != WEFT_NEVER)
        weft_sleep_until_init(&f->sleep, deadline);
}

static void orphan_release(struct weft__opf *f)
{
    if (f->orphan_free)
        f->orphan_free(f->orphan);
    else
        weft__free(f->orphan);
    f->orphan = NULL;
}

void weft__opf_done(struct weft__io_op *op)
{
    struct weft__opf *f = WEFT__IO_CONTAINER(op, struct weft__opf, w.op);
    struct weft__handle *h = f->h;

    if (h && weft__handle_closed(h)) {
        if (f->accept) {
            if (op->res >= 0)
                weft__sys_close(op->res);
            op->res = -ECANCELED;
        } else if (op->res <= 0) {
            op->res = -ECANCELED;
        }
    }
    if (atomic_exchange_explicit(&f->ostate, OPF_IDLE, memory_order_acq_rel) == OPF_ORPHAN) {
        /* The future was dropped while we ran in the kernel: what it left is ours. */
        if (f->accept && op->res >= 0)
            weft__sys_close(op->res);
        orphan_release(f);
    }
    if (h) {
        if (h->tracked) {
            hlock(h);
            if (f->hprev)
                f->hprev->hnext = f->hnext;
            else
                h->ops = f->hnext;
            if (f->hnext)
                f->hnext->hprev = f->hprev;
            hunlock(h);
        }
        weft__handle_release(h);
    }
    weft__io_wait_done(op); /* may free the task cell holding f: last touch */
}

int weft__opf_start(struct weft__opf *f, struct weft__handle *h, weft_cx *cx)
{
    if (WEFT_UNLIKELY(!cx->rt))
        return -EINVAL; /* polled by hand outside a runtime: no reactor to use */
    if (f->deadline != WEFT_NEVER && (f->timed_out || weft__now() >= f->deadline))
        return -ETIMEDOUT;
    if (h) {
        if (WEFT_UNLIKELY(weft__handle_closed(h)))
            return -ECANCELED;
        weft__handle_ref(h);
    }
    f->h = h;
    f->inflight = 1;
    st_relaxed(&f->ostate, OPF_INFLIGHT);
    if (h && h->tracked) {
        /* Listed before it can complete; a close that came first is seen under the lock. */
        hlock(h);
        if (weft__handle_closed(h)) {
            hunlock(h);
            weft__handle_release(h);
            f->h = NULL;
            f->inflight = 0;
            st_relaxed(&f->ostate, OPF_IDLE);
            return -ECANCELED;
        }
        f->hprev = NULL;
        f->hnext = h->ops;
        if (h->ops)
            h->ops->hprev = f;
        h->ops = f;
        weft__io_wait_start(&f->w, cx);
        hunlock(h);
        return 0;
    }
    weft__io_wait_start(&f->w, cx);
    return 0;
}

weft_poll weft__opf_poll(struct weft__opf *f, weft_cx *cx, int32_t *res)
{
    if (weft__io_wait_poll(&f->w, cx, res) == WEFT_PENDING) {
        if (f->deadline != WEFT_NEVER && !f->timed_out) {
            f->slept = 1;
            if (weft_sleep_poll(&f->sleep, cx) == WEFT_READY) {
                f->timed_out = 1;
                weft__io_wait_drop(&f->w); /* ask; the op's completion wakes us */
            }
        }
        return WEFT_PENDING;
    }
    f->inflight = 0;
    if (f->timed_out && *res == -ECANCELED)
        *res = -ETIMEDOUT;
    return WEFT_READY;
}

void weft__opf_finish(struct weft__opf *f)
{
    if (f->slept) {
        weft_sleep_drop(&f->sleep);
        f->slept = 0;
    }
}

void weft__opf_drop(struct weft__opf *f, void *orphan)
{
    f->orphan = orphan;
    if (f->inflight) {
        weft__io_wait_drop(&f->w);
        if (atomic_exchange_explicit(&f->ostate, OPF_ORPHAN, memory_order_acq_rel) == OPF_IDLE) {
            /* Completed already, result never collected. */
            if (f->accept && f->w.op.res >= 0)
                weft__sys_close(f->w.op.res);
            orphan_release(f);
        }
        f->inflight = 0;
    } else if (orphan) {
        orphan_release(f);
    }
    weft__opf_finish(f);
}

/* ------------------------------------------------------------------ streams */

struct stream_vt {
    void (*read)(struct weft__io_op *op, struct weft_stream *s, void *buf, size_t len);
    void (*write)(struct weft__io_op *op, struct weft_stream *s, const void *buf, size_t len);
};

static void sock_read(struct weft__io_op *op, struct weft_stream *s, void *buf, size_t len)
{
    weft__io_prep_recv(op, s->h.fd, buf, len, 0, weft__opf_done);
}
static void sock_write(struct weft__io_op *op, struct weft_stream *s, const void *buf,
                       size_t len)
{
    weft__io_prep_send(op, s->h.fd, buf, len, 0, weft__opf_done);
}
static void file_read(struct weft__io_op *op, struct weft_stream *s, void *buf, size_t len)
{
    weft__io_prep_read(op, s->h.fd, buf, len, ld_relaxed(&s->pos), weft__opf_done);
}
static void file_write(struct weft__io_op *op, struct weft_stream *s, const void *buf,
                       size_t len)
{
    weft__io_prep_write(op, s->h.fd, buf, len, ld_relaxed(&s->pos), weft__opf_done);
}
static void pipe_read(struct weft__io_op *op, struct weft_stream *s, void *buf, size_t len)
{
    weft__io_prep_read(op, s->h.fd, buf, len, -1, weft__opf_done);
}
static void pipe_write(struct weft__io_op *op, struct weft_stream *s, const void *buf,
                       size_t len)
{
    weft__io_prep_write(op, s->h.fd, buf, len, -1, weft__opf_done);
}

/* The tiny vtable, by weft_stream_kind. */
static const struct stream_vt stream_vts[4] = {
    [WEFT_STREAM_SOCKET] = {sock_read, sock_write},
    [WEFT_STREAM_FILE] = {file_read, file_write},
    [WEFT_STREAM_PIPE] = {pipe_read, pipe_write},
};

void weft__stream_prep_read(struct weft__io_op *op, struct weft_stream *s, void *buf, size_t len)
{
    stream_vts[s->h.sub].read(op, s, buf, len);
}

void weft__stream_prep_write(struct weft__io_op *op, struct weft_stream *s, const void *buf,
                             size_t len)
{
    stream_vts[s->h.sub].write(op, s, buf, len);
}

void weft__stream_prep_readv(struct weft__io_op *op, struct weft_stream *s,
                             const struct iovec *iov, int iovcnt, struct msghdr *msg)
{
    if (s->h.sub == WEFT_STREAM_SOCKET) {
        *msg = (struct msghdr){.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
        weft__io_prep_recvmsg(op, s->h.fd, msg, 0, weft__opf_done);
    } else {
        int64_t off = s->h.sub == WEFT_STREAM_FILE ? ld_relaxed(&s->pos) : -1;
        weft__io_prep_readv(op, s->h.fd, iov, iovcnt, off, weft__opf_done);
    }
}

void weft__stream_prep_writev(struct weft__io_op *op, struct weft_stream *s,
                              const struct iovec *iov, int iovcnt, struct msghdr *msg)
{
    if (s->h.sub == WEFT_STREAM_SOCKET) { /* SENDMSG: MSG_NOSIGNAL, unlike writev */
        *msg = (struct msghdr){.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
        weft__io_prep_sendmsg(op, s->h.fd, msg, 0, weft__opf_done);
    } else {
        int64_t off = s->h.sub == WEFT_STREAM_FILE ? ld_relaxed(&s->pos) : -1;
        weft__io_prep_writev(op, s->h.fd, iov, iovcnt, off, weft__opf_done);
    }
}

int weft__stream_new(struct weft_stream **out, int fd, int kind, int64_t pos)
{
    struct weft_stream *s = weft__alloc(sizeof *s);
    *out = s;
    if (!s)
        return -ENOMEM;
    weft__handle_init(&s->h, H_STREAM, fd);
    weft__handle_set_sub(&s->h, kind);
    atomic_init(&s->pos, pos);
    memset(&s->peer, 0, sizeof s->peer);
    return 0;
}

int weft_stream_from_fd(weft_stream **out, int fd, weft_stream_kind kind, int64_t offset,
                        unsigned flags)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (fd < 0 || kind < WEFT_STREAM_SOCKET || kind > WEFT_STREAM_PIPE ||
        (flags & ~WEFT_STREAM_BORROW_FD) || (kind == WEFT_STREAM_FILE && offset < 0))
        return -EINVAL;
    int err = weft__stream_new(out, fd, kind, kind == WEFT_STREAM_FILE ? offset : 0);
    if (err == 0)
        (*out)->h.borrowed = (flags & WEFT_STREAM_BORROW_FD) != 0;
    return err;
}

void weft_stream_close(weft_stream *s)
{
    if (s)
        weft__handle_close(&s->h);
}

weft_stream *weft_stream_retain(weft_stream *s)
{
    if (s)
        atomic_fetch_add_explicit(&s->h.owners, 1, memory_order_relaxed);
    return s;
}

int weft_stream_fd(const weft_stream *s)
{
    return s ? s->h.fd : -EINVAL;
}

int weft_stream_kind_of(const weft_stream *s)
{
    return s ? s->h.sub : -EINVAL;
}

/* ------------------------------------------------------------------ backends */

int weft_io_backend(weft_rt *rt)
{
    return rt ? weft__io_backend_of(rt) : -EINVAL;
}

const char *weft_io_backend_name(weft_rt *rt)
{
    if (!rt)
        return "?";
    struct weft__io_driver *d =
        rt->flavor == WEFT_RT_CURRENT_THREAD ? rt->ct.io : rt->workers[0].io;
    return d ? weft__io_driver_name(d) : "?";
}

/* ------------------------------------------------------------------ read/write futures */

enum { X_READ_SOME = 1, X_READ_EXACT, X_WRITE, X_WRITE_ALL };

struct xfer {
    struct weft__opf f;
    struct weft_stream *s;
    char *buf;
    size_t len, done;
    uint8_t mode;     /* X_* */
    uint8_t finished; /* READY was returned */
};
WEFT__IMPL(weft_read_some, struct xfer);

static void xfer_init(weft_read_some *pub, int mode, weft_stream *s, const void *buf, size_t len,
                      int64_t deadline)
{
    struct xfer *x = (struct xfer *)pub;
    weft__opf_init(&x->f, deadline);
    x->s = s;
    x->buf = (char *)buf;
    x->len = len;
    x->done = 0;
    x->mode = (uint8_t)mode;
    x->finished = 0;
}

static weft_poll xfer_finish(struct xfer *x, ssize_t *result, ssize_t r)
{
    weft__opf_finish(&x->f);
    x->finished = 1;
    *result = r;
    return WEFT_READY;
}

static weft_poll xfer_poll(weft_read_some *pub, weft_cx *cx, ssize_t *result)
{
    struct xfer *x = (struct xfer *)pub;
    ssize_t dummy;
    int32_t res;

    if (!result)
        result = &dummy;
    if (WEFT_UNLIKELY(!pub)) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    if (WEFT_UNLIKELY(!x->mode || x->finished || !x->s || (!x->buf && x->len) || !cx))
        return xfer_finish(x, result, -EINVAL);
    bool reading = x->mode <= X_READ_EXACT;
    for (;;) {
        if (!x->f.inflight) {
            if (x->done == x->len && (x->len == 0 || x->mode == X_READ_EXACT ||
                                      x->mode == X_WRITE_ALL))
                return xfer_finish(x, result, (ssize_t)x->done);
            if (!weft__budget(cx))
                return WEFT_PENDING;
            if (reading)
                weft__stream_prep_read(&x->f.w.op, x->s, x->buf + x->done, x->len - x->done);
            else
                weft__stream_prep_write(&x->f.w.op, x->s, x->buf + x->done, x->len - x->done);
            int err = weft__opf_start(&x->f, &x->s->h, cx);
            if (err < 0)
                return xfer_finish(x, result, err);
        }
        if (weft__opf_poll(&x->f, cx, &res) == WEFT_PENDING)
            return WEFT_PENDING;
        if (res < 0)
            return xfer_finish(x, result, res);
        if (res == 0) { /* end of stream (a write of 0 bytes cannot make progress either) */
            if (x->mode == X_READ_EXACT)
                return xfer_finish(x, result, x->done == 0 ? 0 : -EPIPE);
            if (x->mode == X_WRITE_ALL)
                return xfer_finish(x, result, -EPIPE);
            return xfer_finish(x, result, (ssize_t)x->done);
        }
        weft__stream_advance(x->s, res);
        x->done += (size_t)res;
        if (x->mode == X_READ_SOME || x->mode == X_WRITE || x->done == x->len)
            return xfer_finish(x, result, (ssize_t)x->done);
    }
}

static void xfer_drop(weft_read_some *pub)
{
    if (!pub)
        return;
    struct xfer *x = (struct xfer *)pub;
    weft__opf_drop(&x->f, NULL);
    x->finished = 1;
}

void weft_read_some_init(weft_read_some *f, weft_stream *s, void *buf, size_t len,
                         int64_t deadline)
{
    xfer_init(f, X_READ_SOME, s, buf, len, deadline);
}
weft_poll weft_read_some_poll(weft_read_some *f, weft_cx *cx, ssize_t *result)
{
    return xfer_poll(f, cx, result);
}
void weft_read_some_drop(weft_read_some *f) { xfer_drop(f); }

void weft_read_exact_init(weft_read_exact *f, weft_stream *s, void *buf, size_t len,
                          int64_t deadline)
{
    xfer_init(f, X_READ_EXACT, s, buf, len, deadline);
}
weft_poll weft_read_exact_poll(weft_read_exact *f, weft_cx *cx, ssize_t *result)
{
    return xfer_poll(f, cx, result);
}
void weft_read_exact_drop(weft_read_exact *f) { xfer_drop(f); }

void weft_write_init(weft_write *f, weft_stream *s, const void *buf, size_t len, int64_t deadline)
{
    xfer_init(f, X_WRITE, s, buf, len, deadline);
}
weft_poll weft_write_poll(weft_write *f, weft_cx *cx, ssize_t *result)
{
    return xfer_poll(f, cx, result);
}
void weft_write_drop(weft_write *f) { xfer_drop(f); }

void weft_write_all_init(weft_write_all *f, weft_stream *s, const void *buf, size_t len,
                         int64_t deadline)
{
    xfer_init(f, X_WRITE_ALL, s, buf, len, deadline);
}
weft_poll weft_write_all_poll(weft_write_all *f, weft_cx *cx, ssize_t *result)
{
    return xfer_poll(f, cx, result);
}
void weft_write_all_drop(weft_write_all *f) { xfer_drop(f); }

size_t weft_io_progress(const weft_read_some *f)
{
    return f ? ((const struct xfer *)f)->done : 0;
}

/* ------------------------------------------------------------------ readv / writev */

#define IOV_MAX_WEFT 1024

struct xferv {
    struct weft__opf f;
    struct weft_stream *s;
    const struct iovec *iov;
    struct msghdr msg;
    int iovcnt;
    uint8_t write;
    uint8_t finished;
};
WEFT__IMPL(weft_readv, struct xferv);

static void xferv_init(weft_readv *pub, bool write, weft_stream *s, const struct iovec *iov,
                       int iovcnt, int64_t deadline)
{
    struct xferv *x = (struct xferv *)pub;
    weft__opf_init(&x->f, deadline);
    x->s = s;
    x->iov = iov;
    x->iovcnt = iovcnt;
    x->write = write ? 2 : 1;
    x->finished = 0;
}

static weft_poll xferv_finish(struct xferv *x, ssize_t *result, ssize_t r)
{
    weft__opf_finish(&x->f);
    x->finished = 1;
    *result = r;
    return WEFT_READY;
}

static weft_poll xferv_poll(weft_readv *pub, weft_cx *cx, ssize_t *result)
{
    struct xferv *x = (struct xferv *)pub;
    ssize_t dummy;
    int32_t res;

    if (!result)
        result = &dummy;
    if (WEFT_UNLIKELY(!pub)) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    if (WEFT_UNLIKELY(!x->write || x->finished || !x->s || !x->iov || x->iovcnt < 1 ||
                      x->iovcnt > IOV_MAX_WEFT || !cx))
        return xferv_finish(x, result, -EINVAL);
    if (!x->f.inflight) {
        if (!weft__budget(cx))
            return WEFT_PENDING;
        if (x->write == 2)
            weft__stream_prep_writev(&x->f.w.op, x->s, x->iov, x->iovcnt, &x->msg);
        else
            weft__stream_prep_readv(&x->f.w.op, x->s, x->iov, x->iovcnt, &x->msg);
        int err = weft__opf_start(&x->f, &x->s->h, cx);
        if (err < 0)
            return xferv_finish(x, result, err);
    }
    if (weft__opf_poll(&x->f, cx, &res) == WEFT_PENDING)
        return WEFT_PENDING;
    if (res > 0)
        weft__stream_advance(x->s, res);
    return xferv_finish(x, result, res);
}

static void xferv_drop(weft_readv *pub)
{
    if (!pub)
        return;
    struct xferv *x = (struct xferv *)pub;
    weft__opf_drop(&x->f, NULL);
    x->finished = 1;
}

void weft_readv_init(weft_readv *f, weft_stream *s, const struct iovec *iov, int iovcnt,
                     int64_t deadline)
{
    xferv_init(f, false, s, iov, iovcnt, deadline);
}
weft_poll weft_readv_poll(weft_readv *f, weft_cx *cx, ssize_t *result)
{
    return xferv_poll(f, cx, result);
}
void weft_readv_drop(weft_readv *f) { xferv_drop(f); }

void weft_writev_init(weft_writev *f, weft_stream *s, const struct iovec *iov, int iovcnt,
                      int64_t deadline)
{
    xferv_init(f, true, s, iov, iovcnt, deadline);
}
weft_poll weft_writev_poll(weft_writev *f, weft_cx *cx, ssize_t *result)
{
    return xferv_poll(f, cx, result);
}
void weft_writev_drop(weft_writev *f) { xferv_drop(f); }
