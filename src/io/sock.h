/* src/io/sock.h - what the socket, stream, buffered-IO, sendfile and signal files share:
 * handles, the leaf-op base every IO future embeds, and the stream "vtable".
 *
 * HANDLES. Every socket (and stream, signal fd) is a small heap object that starts with a
 * struct weft__handle: the fd, a reference count and a closed flag. References: one for the
 * owners together (weft_stream_retain adds owners; each _close drops one), plus one per
 * operation in flight. The fd is closed, and the memory freed, when the last reference goes:
 *
 *   - closing with operations in flight is allowed: the last owner's close marks the handle
 *     closed and, when operations are in flight, shuts the socket down (SHUT_RDWR) so every
 *     pending op comes out of the kernel at once; each then completes with -ECANCELED (a
 *     data transfer that had already moved bytes keeps its count). The fd itself is closed
 *     only after the last of them has completed, so no op ever runs on a recycled fd number.
 *   - the handle pointer stays valid as long as a reference exists; the rule for callers is
 *     "close is the owner's last call on the handle": a future started before the close may
 *     be polled or dropped afterwards, a future not yet started must not be.
 *
 * LEAF OPS (struct weft__opf). One kernel operation at a time, embedded in a future's state:
 * the io glue (io/io.h) plus an optional deadline (a weft_sleep armed at the first pending
 * poll), the handle reference and an "orphan" slot for heap buffers whose owner was dropped
 * while the kernel still had them (they are freed by the op's completion instead).
 *
 * STREAMS. A stream is a handle plus a tiny vtable of how to prepare a read, a write, a readv
 * and a writev on its fd, and what a completed transfer does to its position: sockets use
 * RECV/SEND/RECVMSG/SENDMSG (MSG_NOSIGNAL), files READ/WRITE at a position they advance,
 * pipes READ/WRITE at the current position.
 */
#ifndef WEFT_IO_SOCK_H
#define WEFT_IO_SOCK_H

#include <string.h>
#include <sys/uio.h>

#include "core/core.h"
#include "io/io.h"
#include "sync/waitlist.h"
#include "sys/sys.h"
#include "weft/io.h"
#include "weft/net.h"
#include "weft/time.h"

/* ------------------------------------------------------------------ handles */

enum { H_STREAM = 1, H_LISTENER = 2, H_DGRAM = 3, H_SIGNALS = 4 };

struct weft__opf;

struct weft__handle {
    _Atomic uint32_t refs;   /* 1 for the owners + 1 per op in flight; the last frees */
    _Atomic uint32_t owners; /* weft_*_close calls still expected */
    _Atomic uint8_t closed;  /* the last owner closed: ops ending now report -ECANCELED */
    _Atomic uint8_t lock;    /* tracked handles: guards `ops` */
    uint8_t kind;            /* H_*; immutable */
    uint8_t sub;             /* streams: weft_stream_kind; listeners/dgrams: the family */
    uint8_t borrowed;        /* the fd is the caller's: do not close it */
    uint8_t tracked;         /* ops in flight are listed in `ops` (close cancels them one by
                                one) instead of being kicked out by shutdown(2); immutable */
    int fd;                  /* immutable until the last reference is gone */
    struct weft__opf *ops;   /* tracked handles: ops in flight (under lock) */
};

/* Fill a handle: one owner, one reference. Datagram sockets, signal fds and non-socket
 * streams are tracked: shutdown(2) cannot interrupt their pending operations (a UDP recv
 * after shutdown keeps saying EAGAIN, a pipe has no shutdown), so close cancels each one. */
void weft__handle_init(struct weft__handle *h, int kind, int fd);
/* Set the stream kind (and with it whether ops are tracked). */
void weft__handle_set_sub(struct weft__handle *h, int sub);
/* Take a reference for an op (the handle must be alive: the caller holds one). */
static inline void weft__handle_ref(struct weft__handle *h)
{
    atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
}
/* Drop a reference; the last one closes the fd and frees the handle. Threads: any. */
void weft__handle_release(struct weft__handle *h);
/* One owner closes; the last one marks the handle closed, kicks pending ops out of the
 * kernel (sockets: shutdown) and drops the owners' reference. */
void weft__handle_close(struct weft__handle *h);
static inline bool weft__handle_closed(const struct weft__handle *h)
{
    return ld_acquire(&h->closed) != 0;
}

/* ------------------------------------------------------------------ streams */

struct weft_stream {
    struct weft__handle h;
    _Atomic int64_t pos; /* files: the position of the next transfer; else unused */
    weft_sockaddr peer;  /* sockets: the peer's address when known (len 0 otherwise) */
};

/* Multishot accept (io_uring 5.19+, see tcp.c): one kernel op per listener accepts every
 * connection as it arrives; accept futures take them from here. */
struct weft__accept_engine {
    struct weft__waitlist wl; /* waiting accept futures; its lock guards every field here */
    struct weft__io_op op;    /* the multishot accept while `armed` (holds a handle ref) */
    int *fds;                 /* accepted, not yet taken: a ring of cap slots */
    uint32_t head, count, cap;
    int32_t err;              /* why the last multishot ended, for the next acceptor; or 0 */
    uint8_t armed;
    _Atomic uint8_t unsupported; /* no multishot accept in this kernel: one accept at a time */
    uint8_t got_any;
};

struct weft_listener {
    struct weft__handle h;
    _Atomic int64_t pause_until;   /* F1: no accept is started before this time (ns) */
    _Atomic uint64_t limit_hits;   /* accepts that failed with EMFILE/ENFILE/ENOBUFS/ENOMEM */
    struct weft__accept_engine eng;
};

/* The listener's last reference is going: close the connections nobody took. */
void weft__listener_fini(struct weft_listener *ln);

struct weft_dgram {
    struct weft__handle h;
};

/* Bind a stream socket to addr (checked by the caller) and listen; tcp adds SO_REUSEADDR
 * and the TCP options of opts. */
int weft__listen(weft_listener **out, const weft_sockaddr *addr, const weft_listen_opts *opts,
                 bool tcp);
/* Allocate a datagram handle around fd (family: AF_INET, AF_INET6, AF_UNIX). Returns 0 or
 * -ENOMEM (fd untouched). */
int weft__dgram_new(struct weft_dgram **out, int fd, int family);

/* Allocate a stream handle around fd (kind: weft_stream_kind). Returns 0 or -ENOMEM (the fd
 * is then NOT closed: the caller still owns it). */
int weft__stream_new(struct weft_stream **out, int fd, int kind, int64_t pos);

/* Prepare op (done = weft__opf_done) for a transfer on s. */
void weft__stream_prep_read(struct weft__io_op *op, struct weft_stream *s, void *buf, size_t len);
void weft__stream_prep_write(struct weft__io_op *op, struct weft_stream *s, const void *buf,
                             size_t len);
/* readv/writev: sockets use msg (which must live as long as the op). */
void weft__stream_prep_readv(struct weft__io_op *op, struct weft_stream *s,
                             const struct iovec *iov, int iovcnt, struct msghdr *msg);
void weft__stream_prep_writev(struct weft__io_op *op, struct weft_stream *s,
                              const struct iovec *iov, int iovcnt, struct msghdr *msg);
/* A transfer of n > 0 bytes completed: files move their position. */
static inline void weft__stream_advance(struct weft_stream *s, int32_t n)
{
    if (s->h.sub == WEFT_STREAM_FILE && n > 0)
        atomic_fetch_add_explicit(&s->pos, n, memory_order_relaxed);
}

/* ------------------------------------------------------------------ leaf ops */

enum { OPF_IDLE = 0, OPF_INFLIGHT = 1, OPF_ORPHAN = 2 };

struct weft__opf {
    struct weft__io_wait w;  /* the op and its glue (w.op is prepared by the future) */
    weft_sleep sleep;        /* the deadline, armed at the first pending poll */
    struct weft__handle *h;  /* the handle the op in flight holds a reference on, or NULL */
    void *orphan;            /* heap block to free when the op ends (set by drop) */
    void (*orphan_free)(void *orphan); /* how to free it; NULL = weft__free */
    int64_t deadline;        /* absolute; WEFT_NEVER = none */
    _Atomic uint8_t ostate;  /* OPF_*: arbitrates the orphan between drop and done */
    uint8_t inflight;        /* an op was started and its result not yet collected (poller) */
    uint8_t timed_out;       /* the deadline passed; a cancel was requested */
    uint8_t accept;          /* the op is an ACCEPT: a late fd result is closed, not leaked */
    uint8_t slept;           /* the deadline's sleep was polled (so it may be armed) */
    struct weft__opf *hnext, *hprev; /* tracked handles: the handle's list of ops in flight */
};

/* Zero the base and set the deadline. */
void weft__opf_init(struct weft__opf *f, int64_t deadline);
/* The done callback for ops started through weft__opf_start. */
void weft__opf_done(struct weft__io_op *op);
/* Start f->w.op (prepared, done = weft__opf_done) for the task polling with cx; h (may be
 * NULL) is referenced until the op completes. Returns 0, or -ETIMEDOUT (the deadline has
 * passed: nothing was started) or -ECANCELED (h was closed: nothing was started). */
int weft__opf_start(struct weft__opf *f, struct weft__handle *h, weft_cx *cx);
/* Poll the op in flight: PENDING, or READY with *res (a timed-out op that was cancelled
 * reports -ETIMEDOUT). */
weft_poll weft__opf_poll(struct weft__opf *f, weft_cx *cx, int32_t *res);
/* The future is finished: disarm the deadline. */
void weft__opf_finish(struct weft__opf *f);
/* The future is dropped: cancel an op in flight, disarm the deadline; `orphan` (may be NULL)
 * is heap memory the op may still use: freed now if no op is in flight, else when it ends. */
void weft__opf_drop(struct weft__opf *f, void *orphan);
static inline bool weft__opf_busy(const struct weft__opf *f)
{
    return f->inflight;
}

/* The calling poll may start another op (one unit of the coop budget). */
static inline bool weft__budget(weft_cx *cx)
{
    return weft_cx_budget_take(cx);
}

/* Test seam for weft_sendfile's paths: 1 = behave as if the kernel refused the first
 * file -> pipe splice, 2 = as if it refused the first pipe -> socket splice (bytes already
 * in the pipe then drain through the bounce buffer), 3 = splice only (as if the file were
 * never cached). Any non-zero value turns the direct sendfile(2) path off. 0 = off. */
extern _Atomic int weft__sendfile_test_refuse;

/* Copy an address given by the caller into a weft_sockaddr after checking it. */
int weft__sockaddr_check(const weft_sockaddr *a);

/* Opaque-by-size helpers. */
#define WEFT__IMPL(pub_type, impl_type)                                                            \
    _Static_assert(sizeof(impl_type) <= sizeof(pub_type), #pub_type " too small");                 \
    _Static_assert(alignof(impl_type) <= alignof(pub_type), #pub_type " misaligned")

#endif
