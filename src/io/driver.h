/* src/io/driver.h - the reactor's driver: one completion-based interface, two backends
 * (io_uring in uring.c, epoll in epoll.c), chosen at run time by driver.c.
 *
 * MODEL. An operation is a `struct weft__io_op` that its owner (a future's state) embeds and
 * fills with a weft__io_prep_*() helper: opcode, fd, buffers, lengths, offsets and a
 * completion callback `done`. The driver fills `res` (bytes, an fd, 0, a poll mask, or
 * -errno) and calls `done(op)` exactly once. The scheduler's leaf futures implement `done`
 * as "store the result, wake the task's waker"; the driver never calls anything else.
 *
 *   struct my_read { struct weft__io_op op; weft_waker waker; ssize_t n; bool ready; };
 *   static void my_read_done(struct weft__io_op *op) {
 *       struct my_read *r = WEFT__IO_CONTAINER(op, struct my_read, op);
 *       r->n = op->res; r->ready = true; weft_waker_wake(&r->waker);
 *   }
 *   weft__io_prep_recv(&r->op, fd, buf, sizeof buf, 0, my_read_done);
 *   weft__io_submit(drv, &r->op);                    // no system call here
 *   ...  weft__io_park(drv, deadline);              // one ring entry for the whole tick
 *
 * THREADS. One driver per worker thread: its OWNER. The owner calls submit, cancel, park,
 * poll and free. Any thread may call unpark and submit_remote (the only cross-thread entry
 * points; C11 atomics, explicit orders). `done` always runs on the owner, inside park/poll,
 * never inline in submit or cancel. done may submit or cancel ops (including the same op, as
 * soon as done has been entered) but must not call park, poll or free.
 *
 * OWNERSHIP. From submit until done runs, the op and everything it points to (buffers, iovec
 * arrays, msghdr, sockaddr and socklen_t, path strings, statx buffer) belong to the driver
 * and must stay valid and untouched, ALSO AFTER CANCEL (DESIGN decision 12): cancel only
 * asks; the kernel may still write into a recv buffer until the op's completion arrives.
 * When done runs, everything is the caller's again, and the op may be reused at once.
 *
 * CANCEL. weft__io_cancel(drv, op) from the owner: the op then completes exactly once, with
 * -ECANCELED or, if it finished first, with its real result. io_uring: an ASYNC_CANCEL SQE
 * goes out with the next park and the op's own CQE then delivers done (an op whose SQE had
 * not reached the kernel yet is turned into a NOP and completes from the next park). epoll:
 * an op parked on readiness completes with -ECANCELED from the next park/poll.
 *
 * PARK. weft__io_park(drv, deadline) flushes every submission made since the last call in
 * ONE enter system call (56 ns/op batched against 1.3 us unbatched on our VMs), waits until at
 * least one completion arrives, an unpark, or the absolute CLOCK_MONOTONIC deadline
 * (INT64_MAX = no timeout; deadline <= now = do not block), runs done for every completion
 * and returns how many it ran (or -errno on a broken ring/epoll fd). A park can return 0
 * (timeout, unpark, internal completions). weft__io_poll(drv) = park with deadline 0; when
 * there is nothing to submit and the CQ already holds entries (or nothing at all is pending)
 * it makes no system call. No timeouts live here: the timer wheel turns its next expiry into
 * the deadline.
 *
 * UNPARK. weft__io_unpark(drv) from any thread makes a current or the next park return
 * promptly. It costs one eventfd write only when the owner is parked and no unpark is
 * already pending; otherwise it is one atomic RMW (or a load) and no system call.
 *
 * REMOTE SUBMIT. weft__io_submit_remote(drv, op) from a non-owner thread (a stolen task, a
 * blocking-pool thread) pushes op on a lock-free stack and unparks the owner; the owner moves
 * such ops into the ring at its next park/poll, in submission order. done still runs on the
 * owner. Cancel of such an op must also come from the owner (see docs/design/io.md: a remote
 * cancel is future work).
 *
 * SUBMISSION NEVER FAILS. Every error arrives through done: a full SQ is submitted and
 * retried internally, a full CQ overflows into the kernel's list and is flushed, a missing
 * opcode falls back (readiness poll + the plain syscall, or a synchronous call), a bad
 * opcode completes with -EINVAL.
 *
 * OPCODES and results (res):
 *   NOP                                         0
 *   READ/WRITE  fd, buf, len, off (-1 = current file position)        bytes
 *   READV/WRITEV fd, iov, iovcnt, off                                 bytes
 *   RECV/SEND   fd, buf, len, msg flags (SEND always adds MSG_NOSIGNAL)  bytes
 *   RECVMSG/SENDMSG fd, msghdr, msg flags (SENDMSG adds MSG_NOSIGNAL)  bytes
 *   ACCEPT      fd, sockaddr*, socklen_t* (both may be NULL); the new fd is always
 *               SOCK_CLOEXEC|SOCK_NONBLOCK                            fd; -EMFILE at the limit
 *   CONNECT     fd (non-blocking socket), sockaddr, addrlen            0
 *   POLL        fd, POLLIN/POLLOUT/...: one-shot readiness            the revents mask
 *   CLOSE       fd. Also completes this driver's ops still pending on fd with -ECANCELED
 *   OPENAT      dirfd, path, flags (O_CLOEXEC always added), mode     fd
 *   FSYNC       fd, datasync                                          0
 *   STATX       dirfd, path, flags, mask, struct statx *              0
 *   SPLICE      fd_in, off_in, fd_out, off_out (-1 = none), len, flags  bytes
 * WRITE/WRITEV to a socket whose peer is gone raise SIGPIPE like write(2) does: use
 * SEND/SENDMSG for sockets (MSG_NOSIGNAL), and the runtime should keep SIGPIPE ignored or
 * blocked on its threads (SPLICE into a socket can raise it too; see io.md).
 * Descriptors handed to the driver should be O_NONBLOCK (all weft sockets are): the epoll
 * backend performs reads and writes with plain syscalls and would block on a blocking pipe.
 *
 * EPOLL BACKEND LIMITS. File operations (OPENAT, FSYNC, STATX, CLOSE, READ/WRITE on regular
 * files) cannot be made asynchronous with epoll: this backend performs them synchronously on
 * the owner and completes them at the next park/poll. The runtime will route them to the
 * blocking pool on this backend later. An fd used with the epoll backend must be closed
 * through a CLOSE op (or weft__io_forget_fd) on every driver that saw it before its number
 * is reused, or a stale registration can hide the new file's readiness.
 *
 * SELECTION (driver.c): WEFT_IO_BACKEND=uring|epoll in the environment overrides the
 * config's backend, which overrides the probe (io_uring when it can be set up). When
 * io_uring setup fails with ENOSYS, EPERM, EACCES or ENOMEM the driver falls back to epoll
 * and prints one line on stderr (once per process).
 */
#ifndef WEFT_IO_DRIVER_H
#define WEFT_IO_DRIVER_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct iovec;
struct msghdr;
struct statx;

/* The op that contains `field`, from a pointer to it (the usual container_of). */
#define WEFT__IO_CONTAINER(ptr, type, field) ((type *)(void *)((char *)(ptr)-offsetof(type, field)))

/* ------------------------------------------------------------------ operations */

enum weft__io_opcode {
    WEFT__IO_NOP = 0,
    WEFT__IO_READ,
    WEFT__IO_WRITE,
    WEFT__IO_READV,
    WEFT__IO_WRITEV,
    WEFT__IO_RECV,
    WEFT__IO_SEND,
    WEFT__IO_RECVMSG,
    WEFT__IO_SENDMSG,
    WEFT__IO_ACCEPT,
    WEFT__IO_CONNECT,
    WEFT__IO_POLL,
    WEFT__IO_CLOSE,
    WEFT__IO_OPENAT,
    WEFT__IO_FSYNC,
    WEFT__IO_STATX,
    WEFT__IO_SPLICE,
    WEFT__IO_ACCEPT_MULTI,
    WEFT__IO_OPENAT2,
    WEFT__IO_OPCODE_COUNT
};

struct weft__io_op;
struct open_how;
typedef void (*weft__io_done_fn)(struct weft__io_op *op);

/* Lifecycle (op->state). Written by the owner thread only. */
enum weft__io_state {
    WEFT__IO_ST_IDLE = 0, /* not submitted, or done has been entered: the caller's */
    WEFT__IO_ST_KERNEL,   /* io_uring: its SQE is queued or in the kernel */
    WEFT__IO_ST_POLLING,  /* io_uring fallback: a readiness poll for it is in the kernel */
    WEFT__IO_ST_WAITING,  /* epoll: parked on its fd's readiness */
    WEFT__IO_ST_READY,    /* result known; done runs at the next park/poll */
};

/* The most bytes one op moves (Linux's MAX_RW_COUNT); prep helpers clamp to it, so a byte
 * count always fits res. */
#define WEFT__IO_MAX_LEN 0x7ffff000u

struct weft__io_op {
    /* --- arguments: set by a prep helper, read-only while the driver owns the op --- */
    uint8_t opcode; /* enum weft__io_opcode */
    uint8_t state;  /* enum weft__io_state; driver-private */
    uint16_t flags; /* driver-private (WEFT__IO_F_*) */
    int32_t fd;     /* the descriptor; dirfd for OPENAT/STATX; fd_in for SPLICE */
    int32_t res;    /* OUT: the result, valid once done runs */
    uint32_t len;   /* bytes; iovcnt (READV/WRITEV); events (POLL); mode (OPENAT);
                       addrlen (CONNECT) */
    int64_t off;    /* file offset, -1 = current position; off_in for SPLICE */
    void *addr;     /* buffer, iovec array, msghdr, sockaddr or path */
    union {
        int msg_flags;         /* RECV/SEND/RECVMSG/SENDMSG */
        socklen_t *addrlen;    /* ACCEPT (may be NULL) */
        int open_flags;        /* OPENAT */
        struct open_how *how;  /* OPENAT2: flags (O_CLOEXEC included), mode, resolve; kept
                                  alive by the caller until done runs */
        unsigned fsync_flags;  /* FSYNC: 1 = datasync */
        struct {
            int flags;
            unsigned mask;
            struct statx *buf;
        } statx;               /* STATX */
        struct {
            int fd_out;
            unsigned flags;
            int64_t off_out;
        } splice;              /* SPLICE */
    } u;
    weft__io_done_fn done; /* called once, on the owner, when the op completes */
    /* --- driver-private --- */
    struct weft__io_op *next; /* remote stack, ready list, epoll fd wait list */
    uint64_t priv;            /* uring: SQ position of the op's pending SQE;
                                 epoll: the fd whose wait list holds the op */
};

/* Driver-private flag bits (op->flags). */
#define WEFT__IO_F_CANCEL 0x1u     /* cancel requested */
#define WEFT__IO_F_CANCEL_SQE 0x2u /* uring: an ASYNC_CANCEL SQE for it sits at priv */
#define WEFT__IO_F_CONNECTING 0x4u /* a non-blocking connect has been started */
#define WEFT__IO_F_RETRY 0x8u      /* uring: the kernel said -EAGAIN; poll, then resubmit */
#define WEFT__IO_F_MORE 0x10u      /* ACCEPT_MULTI: done runs again later (set while in done) */

static inline uint32_t weft__io_clamp_len(size_t len)
{
    return len > WEFT__IO_MAX_LEN ? WEFT__IO_MAX_LEN : (uint32_t)len;
}

static inline void weft__io_prep(struct weft__io_op *op, int opcode, int fd,
                                 weft__io_done_fn done)
{
    *op = (struct weft__io_op){.opcode = (uint8_t)opcode, .fd = fd, .off = -1, .done = done};
}

static inline void weft__io_prep_nop(struct weft__io_op *op, weft__io_done_fn done)
{
    weft__io_prep(op, WEFT__IO_NOP, -1, done);
}

/* off < 0: the file's current position (and the only choice on sockets and pipes). */
static inline void weft__io_prep_read(struct weft__io_op *op, int fd, void *buf, size_t len,
                                      int64_t off, weft__io_done_fn done)
{
    weft__io_prep(op, WEFT__IO_READ, fd, done);
    op->addr = buf, op->len = weft__io_clamp_len(len), op->off = off < 0 ? -1 : off;
}

static inline void weft__io_prep_write(struct weft__io_op *op, int fd, const void *buf,
                                       size_t len, int64_t off, weft__io_done_fn done)
{
    weft__io_prep(op, WEFT__IO_WRITE, fd, done);
    op->addr = (void *)buf, op->len = weft__io_clamp_len(len), op->off = off < 0 ? -1 : off;
}

static inline void weft__io_prep_readv(struct weft__io_op *op, int fd, const struct iovec *iov,
                                       int iovcnt, int64_t off, weft__io_done_fn done)
{
    weft__io_prep(op, WEFT__IO_READV, fd, done);
    op->addr = (void *)iov, op->len = (uint32_t)iovcnt, op->off = off < 0 ? -1 : off;
}

static inline void weft__io_prep_writev(struct weft__io_op *op, int fd, const struct iovec *iov,
                                        int iovcnt, int64_t off, weft__io_done_fn done)
{
    weft__io_prep(op, WEFT__IO_WRITEV, fd, done);
    op->addr = (void *)iov, op->len = (uint32_t)iovcnt, op->off = off < 0 ? -1 : off;
}

static inline void weft__io_prep_recv(struct weft__io_op *op, int fd, void *buf, size_t len,
                                      int msg_flags, weft__io_done_fn done)
{
    weft__io_prep(op, WEFT__IO_RECV, fd, done);
    op->addr = buf, op->len = weft__io_clamp_len(len), op->u.msg_flags = msg_flags;
}

/* MSG_NOSIGNAL is always added. */
static inline void weft__io_prep_send(struct weft__io_op *op, int fd, const void *buf,
                                      size_t len, int msg_flags, weft__io_done_fn done)
{
    weft__io_prep(op, WEFT__IO_SEND, fd, done);
    op->addr = (void *)buf, op->len = weft__io_clamp_len(len), op->u.msg_flags = msg_flags;
}

static inline void weft__io_prep_recvmsg(struct weft__io_op *op, int fd, struct msghdr *msg,
                                         int msg_flags, weft__io_done_fn done)
{
    weft__io_prep(op, WEFT__IO_RECVMSG, fd, done);
    op->addr = msg, op->u.msg_flags = msg_flags;
}

/* MSG_NOSIGNAL is always added. */
static inline void weft__io_prep_sendmsg(struct weft__io_op *op, int fd, const struct msghdr *msg,
                                         int msg_flags, weft__io_done_fn done)
{
    weft__io_prep(op, WEFT__IO_SENDMSG, fd, done);
    op->addr = (void *)msg, op->u.msg_flags = msg_flags;
}

/* addr/addrlen may be NULL; *addrlen is in/out like accept4's. */
static inline void weft__io_prep_accept(struct weft__io_op *op, int fd, struct sockaddr *addr,
                                        socklen_t *addrlen, weft__io_done_fn done)
{
    weft__io_prep(op, WEFT__IO_ACCEPT, fd, done);
    op->addr = addr, op->u.addrlen = addrlen;
}

/* io_uring only (5.19+): one op that accepts every connection as it comes. done runs once
 * per accepted fd with WEFT__IO_F_MORE set in op->flags (the op stays in flight; do not reuse
 * it), and a last time without it (an error, -ECANCELED after a cancel, or -EINVAL from a
 * kernel without multishot accept). The epoll backend completes it with -EINVAL. */
static inline void weft__io_prep_accept_multi(struct weft__io_op *op, int fd,
                                              weft__io_done_fn done)
{
    weft__io_prep(op, WEFT__IO_ACCEPT_MULTI, fd, done);
}

static inline void weft__io_prep_connect(struct weft__io_op *op, int fd,
                                         const struct sockaddr *addr, socklen_t addrlen,
                                         weft__io_done_fn done)
{
    weft__io_prep(op, WEFT__IO_CONNECT, fd, done);
    op->addr = (void *)addr, op->len = addrlen;
}

/* One-shot readiness: completes with the ready mask (POLLIN, POLLOUT, POLLERR, POLLHUP...). */
static inline void weft__io_prep_poll(struct weft__io_op *op, int fd, unsigned events,
                                      weft__io_done_fn done)
{
    weft__io_prep(op, WEFT__IO_POLL, fd, done);
    op->len = events;
}

static inline void weft__io_prep_close(struct weft__io_op *op, int fd, weft__io_done_fn done)
{
    weft__io_prep(op, WEFT__IO_CLOSE, fd, done);
}

/* O_CLOEXEC is always added. */
static inline void weft__io_prep_openat(struct weft__io_op *op, int dirfd, const char *path,
                                        int flags, mode_t mode, weft__io_done_fn done)
{
    weft__io_prep(op, WEFT__IO_OPENAT, dirfd, done);
    op->addr = (void *)path, op->u.open_flags = flags, op->len = (uint32_t)mode;
}

/* openat2(2): `how` (flags must include O_CLOEXEC) stays the caller's and must stay valid
 * until done runs. A kernel without openat2 gives -ENOSYS (no fallback: see fs.h). */
static inline void weft__io_prep_openat2(struct weft__io_op *op, int dirfd, const char *path,
                                         struct open_how *how, weft__io_done_fn done)
{
    weft__io_prep(op, WEFT__IO_OPENAT2, dirfd, done);
    op->addr = (void *)path, op->u.how = how;
}

static inline void weft__io_prep_fsync(struct weft__io_op *op, int fd, int datasync,
                                       weft__io_done_fn done)
{
    weft__io_prep(op, WEFT__IO_FSYNC, fd, done);
    op->u.fsync_flags = datasync ? 1u : 0u;
}

static inline void weft__io_prep_statx(struct weft__io_op *op, int dirfd, const char *path,
                                       int flags, unsigned mask, struct statx *buf,
                                       weft__io_done_fn done)
{
    weft__io_prep(op, WEFT__IO_STATX, dirfd, done);
    op->addr = (void *)path, op->u.statx.flags = flags, op->u.statx.mask = mask;
    op->u.statx.buf = buf;
}

/* Offsets < 0 mean "none" (a pipe, or the file position). One side must be a pipe. */
static inline void weft__io_prep_splice(struct weft__io_op *op, int fd_in, int64_t off_in,
                                        int fd_out, int64_t off_out, size_t len, unsigned flags,
                                        weft__io_done_fn done)
{
    weft__io_prep(op, WEFT__IO_SPLICE, fd_in, done);
    op->off = off_in < 0 ? -1 : off_in, op->len = weft__io_clamp_len(len);
    op->u.splice.fd_out = fd_out, op->u.splice.flags = flags;
    op->u.splice.off_out = off_out < 0 ? -1 : off_out;
}

/* ------------------------------------------------------------------ the driver */

enum weft__io_backend {
    WEFT__IO_BACKEND_AUTO = 0,  /* probe: io_uring when available, else epoll */
    WEFT__IO_BACKEND_URING = 1, /* same values as the public weft_rt_config.io_backend */
    WEFT__IO_BACKEND_EPOLL = 2,
};

/* Zero means default for every field. */
struct weft__io_config {
    int backend;          /* enum weft__io_backend; WEFT_IO_BACKEND in the env overrides it */
    unsigned sq_entries;  /* io_uring SQ size; 0 = 256 */
    unsigned cq_entries;  /* io_uring CQ size; 0 = 4 x sq_entries */
    /* Test seams. */
    uint32_t uring_disable_ops; /* bit (1u << opcode): behave as if the probe lacked it */
    unsigned uring_first_rung;  /* ring flags to start from: 0 = SINGLE_ISSUER|DEFER_TASKRUN,
                                   1 = COOP_TASKRUN|TASKRUN_FLAG, 2 = plain */
};

/* Counters, written by the owner only (read them on the owner, e.g. at park time). */
struct weft__io_stats {
    uint64_t submitted; /* ops accepted by submit / taken from the remote stack */
    uint64_t completed; /* done calls */
    uint64_t enters;    /* io_uring enter / epoll wait system calls */
    uint64_t syscalls;  /* every other system call the driver made for ops (epoll: the op
                           syscalls and registrations; uring: fallback syscalls) */
};

struct weft__io_driver;

/**
 * weft__io_driver_new - create a driver (selection described at the top of this file).
 * The calling thread need not be the owner: the owner is the thread that first submits,
 * parks or polls (io_uring rings are created disabled and enabled on that thread, as
 * SINGLE_ISSUER requires). Returns 0 and sets *out, or -EINVAL, -ENOMEM, -EMFILE...
 * (*out = NULL, nothing left behind).
 */
int weft__io_driver_new(struct weft__io_driver **out, const struct weft__io_config *cfg);

/**
 * weft__io_driver_free - cancel everything still pending (done runs for each, with
 * -ECANCELED or its real result), wait for the kernel to let go of every buffer, then release
 * the ring/epoll fd and the memory. Owner thread only (or any thread when nothing is
 * pending). NULL is a no-op. No other thread may unpark or submit_remote afterwards.
 */
void weft__io_driver_free(struct weft__io_driver *drv);

/* Embedding in a host event loop: a descriptor that polls readable when the driver has
 * completions for its owner or an unpark arrives (the ring fd, or the epoll fd, which watches
 * the wakeup eventfd). Before the host waits on it, call weft__io_park_begin (so unparks write
 * the eventfd) and weft__io_poll first (so queued submissions reach the kernel); after, call
 * weft__io_park_end. Threads: any. */
int weft__io_driver_pollfd(struct weft__io_driver *drv);

/* WEFT__IO_BACKEND_URING or WEFT__IO_BACKEND_EPOLL. Threads: any. */
int weft__io_driver_backend(const struct weft__io_driver *drv);
/* "io_uring/defer_taskrun", "io_uring/coop_taskrun", "io_uring/plain" or "epoll". */
const char *weft__io_driver_name(const struct weft__io_driver *drv);
/* Counters; owner thread. */
const struct weft__io_stats *weft__io_driver_stats(const struct weft__io_driver *drv);

/* Queue op (prepared, state IDLE). Owner only; no system call on io_uring (until the SQ is
 * full); the epoll backend tries the syscall at once. Never fails: errors come via done. */
static inline void weft__io_submit(struct weft__io_driver *drv, struct weft__io_op *op);

/* Queue op from any thread; the owner picks it up at its next park/poll. */
void weft__io_submit_remote(struct weft__io_driver *drv, struct weft__io_op *op);

/**
 * weft__io_cancel - ask for op to end early; owner only. Never frees or calls done inline.
 * Returns 0 (requested: done will run, usually with -ECANCELED), -EALREADY (already
 * completed or being cancelled: done will run with the result it has), or -ENOENT (op is not
 * pending on this driver).
 */
int weft__io_cancel(struct weft__io_driver *drv, struct weft__io_op *op);

/* Flush, wait until deadline (absolute ns, CLOCK_MONOTONIC; INT64_MAX = none; <= now = no
 * wait), run done for each completion. Returns how many done calls it made, or -errno.
 * Owner only. */
static inline int weft__io_park(struct weft__io_driver *drv, int64_t deadline);
/* park(drv, 0). */
static inline int weft__io_poll(struct weft__io_driver *drv);

/* Wake the owner out of a park (or make its next park return at once). Any thread. */
void weft__io_unpark(struct weft__io_driver *drv);

/* epoll: drop what the driver remembers about fd (call before closing fd other than via a
 * CLOSE op); ops still waiting on fd complete with -ECANCELED. io_uring: no-op. Owner only. */
void weft__io_forget_fd(struct weft__io_driver *drv, int fd);

/* ------------------------------------------------------------------ test seams */

struct weft__io_test_hooks {
    int uring_setup_err; /* nonzero (-EPERM, -ENOSYS...): io_uring setup "fails" with it */
};
extern struct weft__io_test_hooks weft__io_test_hooks;
/* Forget that the fallback line was printed, so the next fallback prints it again. */
void weft__io_test_reset_log(void);

/* ================================================================== for backends only */

struct weft__io_backend_ops {
    void (*submit)(struct weft__io_driver *drv, struct weft__io_op *op);
    int (*cancel)(struct weft__io_driver *drv, struct weft__io_op *op);
    int (*park)(struct weft__io_driver *drv, int64_t deadline);
    void (*forget_fd)(struct weft__io_driver *drv, int fd);
    void (*destroy)(struct weft__io_driver *drv); /* drain (see driver_free), then release */
    int (*pollfd)(const struct weft__io_driver *drv); /* the backend's own pollable fd */
};

/* Park protocol bits (park_state). */
#define WEFT__IO_PARKED 1u   /* the owner is about to block or is blocked */
#define WEFT__IO_NOTIFIED 2u /* an unpark is pending: the next park must not block */

/* The part every backend shares; backends embed it as their first member. */
struct weft__io_driver {
    /* Cross-thread line: written by unpark/submit_remote callers and the owner. */
    alignas(64) _Atomic uint32_t park_state;  /* WEFT__IO_PARKED | WEFT__IO_NOTIFIED */
    _Atomic(struct weft__io_op *) remote;     /* Treiber stack of remote submissions (LIFO) */
    _Atomic uint64_t wakeups;                 /* eventfd writes made by unpark */
    int wake_fd;                              /* eventfd (CLOEXEC|NONBLOCK); immutable */
    /* Owner line. */
    alignas(64) const struct weft__io_backend_ops *ops; /* immutable after new */
    int backend;                              /* WEFT__IO_BACKEND_URING / _EPOLL */
    bool embedded;                            /* a host loop polls pollfd: poll must always
                                                 consume readiness, never skip the syscall */
    const char *name;                         /* see weft__io_driver_name */
    struct weft__io_op *ready_head;           /* ops with a result, done not yet run (FIFO) */
    struct weft__io_op *ready_tail;
    struct weft__io_stats stats;
};

static inline void weft__io_submit(struct weft__io_driver *drv, struct weft__io_op *op)
{
    drv->stats.submitted++;
    drv->ops->submit(drv, op);
}

static inline int weft__io_park(struct weft__io_driver *drv, int64_t deadline)
{
    return drv->ops->park(drv, deadline);
}

static inline int weft__io_poll(struct weft__io_driver *drv)
{
    return drv->ops->park(drv, 0);
}

/* Completions waiting for the next park/poll to run their done (owner only). */
static inline bool weft__io_has_ready(const struct weft__io_driver *drv)
{
    return drv->ready_head != NULL;
}

/* Backend constructors: fill *out with a driver whose base is initialised except for
 * park_state/remote (zeroed) and wake_fd (the eventfd passed in, which the backend watches). */
int weft__io_new_epoll(struct weft__io_driver **out, const struct weft__io_config *cfg,
                       int wake_fd);
int weft__io_new_uring(struct weft__io_driver **out, const struct weft__io_config *cfg,
                       int wake_fd);

/* Shared helpers (driver.c). All owner-only. */

/* Take every remotely submitted op, oldest first (linked through ->next). */
struct weft__io_op *weft__io_take_remote(struct weft__io_driver *drv);
/* Record res and queue op so done runs at the next park/poll. */
void weft__io_ready_push(struct weft__io_driver *drv, struct weft__io_op *op, int32_t res);
/* Run done for every queued op (those queued meanwhile wait for the next call). Returns the
 * number run. */
int weft__io_run_ready(struct weft__io_driver *drv);
/* Deliver a completion now: state IDLE, res, done(op). */
static inline void weft__io_complete(struct weft__io_driver *drv, struct weft__io_op *op,
                                     int32_t res)
{
    op->state = WEFT__IO_ST_IDLE;
    op->flags = 0;
    op->res = res;
    drv->stats.completed++;
    op->done(op);
}
/* Before blocking: announce PARKED. Returns 0 if the owner may block, or 1 when an unpark is
 * already pending (then do not block). Always pair with weft__io_park_end. */
int weft__io_park_begin(struct weft__io_driver *drv);
/* After the wait: clear PARKED and any pending NOTIFIED. */
void weft__io_park_end(struct weft__io_driver *drv);

/* How a backend must treat an opcode. */
enum weft__io_kind {
    WEFT__IO_KIND_NOP,       /* completes with 0 */
    WEFT__IO_KIND_READINESS, /* a non-blocking attempt, then wait for readiness and retry */
    WEFT__IO_KIND_SYNC,      /* a file op: perform it in place (or in the kernel on uring) */
    WEFT__IO_KIND_INVALID,
};
enum weft__io_kind weft__io_op_kind(const struct weft__io_op *op);
/* Perform op once with plain, non-blocking system calls (sys.c). Returns the result, or
 * -EAGAIN when it would block (then wait on weft__io_wait_target and call again). Tracks a
 * started connect in op->flags. */
int32_t weft__io_perform(struct weft__io_op *op);
/* After -EAGAIN: the fd and poll events op must wait for (SPLICE checks both ends). */
void weft__io_wait_target(const struct weft__io_op *op, int *fd, unsigned *events);
/* Print "weft: <msg>" on stderr, at most once per process (the fallback notice). */
void weft__io_log_once(const char *msg);

#endif
