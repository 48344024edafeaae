/* The io_uring backend (liburing 2.3). Compiled only when WEFT_WITH_URING is defined.
 *
 * RING. One ring per driver: 256 SQEs, CQ 4x (IORING_SETUP_CQSIZE). Setup tries, in order,
 *   SINGLE_ISSUER|DEFER_TASKRUN|TASKRUN_FLAG|SUBMIT_ALL|R_DISABLED  (6.1+)
 *   COOP_TASKRUN|TASKRUN_FLAG|SUBMIT_ALL                            (5.19+)
 *   plain                                                           (5.5+)
 * dropping a rung on EINVAL; any other failure goes back to driver.c, which falls back to
 * epoll on ENOSYS/EPERM/EACCES/ENOMEM. A SINGLE_ISSUER ring is created disabled and enabled
 * by the first thread that needs to enter it (the owner), so drivers can be created by the
 * runtime's constructor thread; that same moment registers the ring fd (5.18+, best effort)
 * to make every io_uring_enter cheaper.
 *
 * USER_DATA. An op's SQE carries the op's address (8-aligned) with tag 0 in the low bits;
 * its fallback readiness poll carries tag 1. Values below 8 are the driver's own: 2 = ignore
 * (cancel SQEs, NOPs), 6 = the shutdown CANCEL_ANY, 3 = the wakeup eventfd read, 7 = the
 * wakeup eventfd poll (used only if the kernel bounces the read with EAGAIN).
 *
 * BATCHING. submit only fills an SQE. park makes ONE io_uring_enter that submits everything
 * and waits (IORING_ENTER_EXT_ARG timeout; GETEVENTS runs DEFER_TASKRUN work). poll skips
 * the kernel entirely when the SQ is empty, the CQ already holds entries or is empty, and
 * the kernel has not flagged pending task work (IORING_SQ_TASKRUN) or CQ overflow. When the
 * SQ is full, submit flushes it and retries (never ENOBUFS to the caller). CQ overflow (more
 * than 1024 completions between two reaps) is flushed with one GETEVENTS entry while reaping.
 *
 * PER-OPCODE FALLBACK. io_uring_get_probe_ring tells which opcodes the kernel has. A missing
 * READINESS-kind op is tried with the plain syscall; on EAGAIN a POLL_ADD is queued and the
 * syscall retried when it fires. A missing file op runs synchronously (like epoll). If the
 * kernel completes a native op with -EAGAIN (old kernels, O_NONBLOCK files), the same poll
 * is armed and the native op resubmitted.
 *
 * CANCEL. The op's SQE position in the SQ is kept in op->priv. If the SQE has not been
 * consumed by the kernel yet, cancel rewrites it into a NOP and the op completes with
 * -ECANCELED from the ready list. Otherwise an ASYNC_CANCEL SQE (tag 2) keyed by the op's
 * user_data goes out with the next park; the op's own CQE then completes it (-ECANCELED, or
 * the real result if it won the race; -EINTR from an interrupted io-wq op counts as
 * -ECANCELED). Should the op complete while its cancel SQE is still unconsumed, that SQE is
 * rewritten into a NOP before done runs, so a stale cancel can never hit a later op that
 * reuses the same memory.
 *
 * CLOSE queues an ASYNC_CANCEL(fd, ALL) before the close, so ops of this ring still pending
 * on the fd end with -ECANCELED instead of holding the file open forever (as on epoll).
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "io/driver.h"
#include "sys/sys.h"

#define TAG_MASK 7u
#define TAG_OP 0u
#define TAG_POLL 1u
#define UD_IGNORE 2u
#define UD_WAKE_READ 3u
#define UD_CANCEL_ANY 6u
#define UD_WAKE_POLL 7u
#define REAP_BATCH 64

_Static_assert(_Alignof(struct weft__io_op) >= 8, "op addresses need 3 free low bits");

/* A CQE copied out of the ring, so the CQ can advance before done runs. */
struct cqe_copy {
    uint64_t ud;
    int32_t res;
    uint32_t flags; /* IORING_CQE_F_MORE matters (multishot accept) */
};

struct uring_driver {
    struct weft__io_driver base; /* first: the driver.h part */
    struct io_uring ring;
    unsigned setup_flags;        /* the rung that worked */
    uint32_t inflight;           /* ops in state KERNEL or POLLING */
    bool enabled;                /* the owner has enabled (and entered) the ring */
    bool closing;                /* destroy: do not re-arm the wakeup read */
    bool wake_armed;             /* a wakeup read or poll is queued or in the kernel */
    bool wake_use_poll;          /* wake with POLL_ADD + read(2) instead of a ring read */
    bool cancel_any_failed;      /* shutdown's CANCEL_ANY was refused (kernel < 5.19) */
    uint8_t native[WEFT__IO_OPCODE_COUNT]; /* 1: the kernel implements the opcode */
    uint64_t wake_buf;           /* target of the eventfd read */
    struct cqe_copy *stash;      /* CQEs reaped while submitting, dispatched at park */
    size_t nstash, capstash;
};

/* ------------------------------------------------------------------ memory (one place) */

static void *ur_alloc(size_t size)
{
    return weft__alloc_aligned(64, (size + 63) & ~(size_t)63);
}

static void *ur_realloc(void *p, size_t size)
{
    return weft__realloc(p, size);
}

static void ur_free(void *p)
{
    weft__free_aligned(p);
}

/* ------------------------------------------------------------------ ring plumbing */

static struct uring_driver *ur(struct weft__io_driver *drv)
{
    return (struct uring_driver *)drv;
}

static void ensure_enabled(struct uring_driver *u)
{
    if (u->enabled)
        return;
    u->enabled = true;
    /* io_uring_enable_rings() is declared by liburing 2.3 but missing from its .so: use the
     * raw register call it wraps. */
    if (u->setup_flags & IORING_SETUP_R_DISABLED)
        (void)io_uring_register((unsigned)u->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    (void)io_uring_register_ring_fd(&u->ring); /* optional: -EINVAL before 5.18, 16 per thread */
}

/* Position (in SQ ring counter space) of the SQE last returned by io_uring_get_sqe. */
static uint32_t last_sqe_pos(struct uring_driver *u)
{
    return u->ring.sq.sqe_tail - 1;
}

/* The SQE at pos if the kernel has not consumed it yet, else NULL. */
static struct io_uring_sqe *unconsumed_sqe(struct uring_driver *u, uint32_t pos)
{
    uint32_t head = io_uring_smp_load_acquire(u->ring.sq.khead);
    if ((int32_t)(pos - head) < 0 || (int32_t)(u->ring.sq.sqe_tail - pos) <= 0)
        return NULL;
    return &u->ring.sq.sqes[pos & u->ring.sq.ring_mask];
}

static void neutralize(struct io_uring_sqe *sqe)
{
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, UD_IGNORE);
}

/* Copy whatever the CQ holds into the stash (used when the kernel refuses a submission
 * because the CQ is full); the stash is dispatched by the next park. */
static void stash_cq(struct uring_driver *u)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;

    io_uring_for_each_cqe(&u->ring, head, cqe)
    {
        if (u->nstash == u->capstash) {
            size_t cap = u->capstash ? u->capstash * 2 : 256;
            struct cqe_copy *s = ur_realloc(u->stash, cap * sizeof *s);
            if (s == NULL)
                break;
            u->stash = s, u->capstash = cap;
        }
        u->stash[u->nstash++] = (struct cqe_copy){cqe->user_data, cqe->res, cqe->flags};
        n++;
    }
    io_uring_cq_advance(&u->ring, n);
}

/* A free SQE, flushing the SQ into the kernel when it is full. NULL only when the ring is
 * broken (the error is then reported through the op). */
static struct io_uring_sqe *sqe_get(struct uring_driver *u)
{
    for (int tries = 0;; tries++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
        if (sqe != NULL)
            return sqe;
        if (tries == 16)
            return NULL;
        ensure_enabled(u);
        u->base.stats.enters++;
        int r = io_uring_submit(&u->ring);
        if (r == -EBUSY || r == -EAGAIN)
            stash_cq(u); /* CQ full: make room, finish the completions at park */
        else if (r < 0 && r != -EINTR)
            return NULL;
    }
}

static uint64_t op_ud(struct weft__io_op *op, unsigned tag)
{
    return (uint64_t)(uintptr_t)op | tag;
}

/* Keep a read of the wakeup eventfd in the ring, so an unpark's eventfd write completes it
 * and ends the owner's wait. Where the kernel bounces that read with EAGAIN (or READ is not
 * native), a POLL_ADD takes its place and the eventfd is drained with read(2) when it fires. */
static void arm_wake(struct uring_driver *u)
{
    struct io_uring_sqe *sqe = sqe_get(u);
    if (sqe == NULL)
        return; /* unparks then only shorten the next park; the next park retries */
    if (u->wake_use_poll) {
        io_uring_prep_poll_add(sqe, u->base.wake_fd, POLLIN);
        io_uring_sqe_set_data64(sqe, UD_WAKE_POLL);
    } else {
        io_uring_prep_read(sqe, u->base.wake_fd, &u->wake_buf, sizeof u->wake_buf, 0);
        io_uring_sqe_set_data64(sqe, UD_WAKE_READ);
    }
    u->wake_armed = true;
}

static void on_wake(struct uring_driver *u, uint64_t ud, int32_t res)
{
    u->wake_armed = false;
    if (ud == UD_WAKE_READ && res == -EAGAIN)
        u->wake_use_poll = true;
    if (ud == UD_WAKE_POLL && res > 0) {
        uint64_t v;
        u->base.stats.syscalls++;
        (void)weft__sys_read(u->base.wake_fd, &v, sizeof v, -1);
    }
    /* Any other error means the eventfd is unusable: re-arming would only spin. */
    if (!u->closing && (res >= 0 || res == -EAGAIN || res == -EINTR || res == -ECANCELED))
        arm_wake(u);
}

/* ------------------------------------------------------------------ submission */

static void prep_sqe(struct io_uring_sqe *sqe, struct weft__io_op *op)
{
    switch (op->opcode) {
    case WEFT__IO_NOP:
        io_uring_prep_nop(sqe);
        break;
    case WEFT__IO_READ:
        io_uring_prep_read(sqe, op->fd, op->addr, op->len, (uint64_t)op->off);
        break;
    case WEFT__IO_WRITE:
        io_uring_prep_write(sqe, op->fd, op->addr, op->len, (uint64_t)op->off);
        break;
    case WEFT__IO_READV:
        io_uring_prep_readv(sqe, op->fd, op->addr, op->len, (uint64_t)op->off);
        break;
    case WEFT__IO_WRITEV:
        io_uring_prep_writev(sqe, op->fd, op->addr, op->len, (uint64_t)op->off);
        break;
    case WEFT__IO_RECV:
        io_uring_prep_recv(sqe, op->fd, op->addr, op->len, op->u.msg_flags);
        break;
    case WEFT__IO_SEND:
        io_uring_prep_send(sqe, op->fd, op->addr, op->len, op->u.msg_flags | MSG_NOSIGNAL);
        break;
    case WEFT__IO_RECVMSG:
        io_uring_prep_recvmsg(sqe, op->fd, op->addr, (unsigned)op->u.msg_flags);
        break;
    case WEFT__IO_SENDMSG:
        io_uring_prep_sendmsg(sqe, op->fd, op->addr, (unsigned)(op->u.msg_flags | MSG_NOSIGNAL));
        break;
    case WEFT__IO_ACCEPT:
        io_uring_prep_accept(sqe, op->fd, op->addr, op->u.addrlen, SOCK_CLOEXEC | SOCK_NONBLOCK);
        break;
    case WEFT__IO_ACCEPT_MULTI:
        io_uring_prep_multishot_accept(sqe, op->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        break;
    case WEFT__IO_CONNECT:
        io_uring_prep_connect(sqe, op->fd, op->addr, (socklen_t)op->len);
        break;
    case WEFT__IO_POLL:
        io_uring_prep_poll_add(sqe, op->fd, op->len);
        break;
    case WEFT__IO_CLOSE:
        io_uring_prep_close(sqe, op->fd);
        break;
    case WEFT__IO_OPENAT:
        io_uring_prep_openat(sqe, op->fd, op->addr, op->u.open_flags | O_CLOEXEC,
                             (mode_t)op->len);
        break;
    case WEFT__IO_OPENAT2:
        io_uring_prep_openat2(sqe, op->fd, op->addr, op->u.how);
        break;
    case WEFT__IO_FSYNC:
        io_uring_prep_fsync(sqe, op->fd, (op->u.fsync_flags & 1u) ? IORING_FSYNC_DATASYNC : 0);
        break;
    case WEFT__IO_STATX:
        io_uring_prep_statx(sqe, op->fd, op->addr, op->u.statx.flags, op->u.statx.mask,
                            op->u.statx.buf);
        break;
    case WEFT__IO_SPLICE:
        io_uring_prep_splice(sqe, op->fd, op->off, op->u.splice.fd_out, op->u.splice.off_out,
                             op->len, op->u.splice.flags);
        break;
    }
    io_uring_sqe_set_data64(sqe, op_ud(op, TAG_OP));
}

static void queue_native(struct uring_driver *u, struct weft__io_op *op)
{
    struct io_uring_sqe *sqe = sqe_get(u);
    if (sqe == NULL) {
        weft__io_ready_push(&u->base, op, -EBUSY);
        return;
    }
    prep_sqe(sqe, op);
    op->state = WEFT__IO_ST_KERNEL;
    op->priv = last_sqe_pos(u);
    u->inflight++;
}

/* Wait for op's readiness in the kernel, then retry it (see dispatch_poll). */
static void queue_poll(struct uring_driver *u, struct weft__io_op *op)
{
    int fd;
    unsigned events;

    weft__io_wait_target(op, &fd, &events);
    struct io_uring_sqe *sqe = sqe_get(u);
    if (sqe == NULL) {
        weft__io_ready_push(&u->base, op, -EBUSY);
        return;
    }
    io_uring_prep_poll_add(sqe, fd, events);
    io_uring_sqe_set_data64(sqe, op_ud(op, TAG_POLL));
    op->state = WEFT__IO_ST_POLLING;
    op->priv = last_sqe_pos(u);
    u->inflight++;
}

/* Run a READINESS op with the plain syscall; poll when it would block. */
static void try_syscall(struct uring_driver *u, struct weft__io_op *op)
{
    u->base.stats.syscalls++;
    int32_t res = weft__io_perform(op);
    if (res == -EAGAIN)
        queue_poll(u, op);
    else
        weft__io_ready_push(&u->base, op, res);
}

static void uring_submit(struct weft__io_driver *drv, struct weft__io_op *op)
{
    struct uring_driver *u = ur(drv);
    enum weft__io_kind kind = weft__io_op_kind(op);

    op->flags = 0;
    op->next = NULL;
    if (op->opcode == WEFT__IO_ACCEPT_MULTI) {
        /* No fallback: without the op, the caller accepts one connection at a time. */
        if (u->native[WEFT__IO_ACCEPT_MULTI])
            queue_native(u, op);
        else
            weft__io_ready_push(drv, op, -EOPNOTSUPP);
        return;
    }
    if (kind == WEFT__IO_KIND_INVALID) {
        weft__io_ready_push(drv, op, -EINVAL);
        return;
    }
    if (!u->native[op->opcode]) {
        if (kind == WEFT__IO_KIND_READINESS) {
            try_syscall(u, op);
        } else {
            drv->stats.syscalls++;
            weft__io_ready_push(drv, op, weft__io_perform(op));
        }
        return;
    }
    if (op->opcode == WEFT__IO_CLOSE) {
        /* Cancel this ring's ops still on the fd first (5.19+; harmless -EINVAL before). */
        struct io_uring_sqe *sqe = sqe_get(u);
        if (sqe != NULL) {
            io_uring_prep_cancel_fd(sqe, op->fd, IORING_ASYNC_CANCEL_ALL);
            io_uring_sqe_set_data64(sqe, UD_IGNORE);
        }
    }
    queue_native(u, op);
}

/* ------------------------------------------------------------------ completion */

/* op's last SQE is done with: make sure no cancel SQE aimed at it is still queued. */
static void retire(struct uring_driver *u, struct weft__io_op *op)
{
    u->inflight--;
    if (op->flags & WEFT__IO_F_CANCEL_SQE) {
        struct io_uring_sqe *sqe = unconsumed_sqe(u, (uint32_t)op->priv);
        if (sqe != NULL)
            neutralize(sqe);
        op->flags &= (uint16_t)~WEFT__IO_F_CANCEL_SQE;
    }
}

static int32_t final_res(const struct weft__io_op *op, int32_t res)
{
    if ((op->flags & WEFT__IO_F_CANCEL) && (res == -EINTR || res == -EAGAIN))
        return -ECANCELED;
    return res;
}

/* The op's own CQE. Returns 1 if done ran. */
static int dispatch_op(struct uring_driver *u, struct weft__io_op *op, int32_t res)
{
    retire(u, op);
    if (res == -EAGAIN && !(op->flags & WEFT__IO_F_CANCEL) &&
        weft__io_op_kind(op) == WEFT__IO_KIND_READINESS) {
        op->flags |= WEFT__IO_F_RETRY;
        queue_poll(u, op);
        return 0;
    }
    if (op->opcode == WEFT__IO_CLOSE && res == 0)
        weft__sys_fd_closed(op->fd); /* keep the close generations (sys.h) exact */
    weft__io_complete(&u->base, op, final_res(op, res));
    return 1;
}

/* The fallback readiness poll fired (or failed). Returns 1 if done ran. */
static int dispatch_poll(struct uring_driver *u, struct weft__io_op *op, int32_t res)
{
    retire(u, op);
    if (res < 0 || (op->flags & WEFT__IO_F_CANCEL)) {
        weft__io_complete(&u->base, op, final_res(op, res < 0 ? res : -ECANCELED));
        return 1;
    }
    if ((op->flags & WEFT__IO_F_RETRY) && u->native[op->opcode]) {
        queue_native(u, op); /* the kernel bounced it with EAGAIN; it is ready now */
        return 0;
    }
    u->base.stats.syscalls++;
    int32_t r = weft__io_perform(op);
    if (r == -EAGAIN) {
        queue_poll(u, op);
        return 0;
    }
    weft__io_complete(&u->base, op, r);
    return 1;
}

static int dispatch(struct uring_driver *u, uint64_t ud, int32_t res, uint32_t cqe_flags)
{
    if (ud < 8 || ud == LIBURING_UDATA_TIMEOUT) {
        switch (ud) {
        case UD_WAKE_READ:
        case UD_WAKE_POLL:
            on_wake(u, ud, res);
            break;
        case UD_CANCEL_ANY:
            if (res == -EINVAL)
                u->cancel_any_failed = true;
            break;
        default:
            break;
        }
        return 0;
    }
    struct weft__io_op *op = (struct weft__io_op *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK);
    if ((ud & TAG_MASK) == TAG_POLL)
        return dispatch_poll(u, op, res);
    if (cqe_flags & IORING_CQE_F_MORE) {
        /* A multishot accept delivered one connection and stays in the kernel. */
        op->res = res;
        op->flags |= WEFT__IO_F_MORE;
        u->base.stats.completed++;
        op->done(op);
        op->flags &= (uint16_t)~WEFT__IO_F_MORE;
        return 1;
    }
    return dispatch_op(u, op, res);
}

/* Dispatch everything the CQ holds. When the kernel kept completions aside because the CQ
 * was full (IORING_SQ_CQ_OVERFLOW), flush them in (one GETEVENTS entry per CQ-full) and go
 * on; bounded, so a flood cannot keep one park here forever. Returns done calls. */
static int reap(struct uring_driver *u)
{
    struct cqe_copy batch[REAP_BATCH];
    int flushes = 0;
    int n = 0;

    for (;;) {
        unsigned ready = io_uring_cq_ready(&u->ring);
        if (ready == 0) {
            if (flushes == 16 || !io_uring_cq_has_overflow(&u->ring))
                break;
            flushes++;
            u->base.stats.enters++;
            (void)io_uring_get_events(&u->ring);
            continue;
        }
        struct io_uring_cqe *cqe;
        unsigned head, got = 0;
        io_uring_for_each_cqe(&u->ring, head, cqe)
        {
            batch[got++] = (struct cqe_copy){cqe->user_data, cqe->res, cqe->flags};
            if (got == REAP_BATCH)
                break;
        }
        io_uring_cq_advance(&u->ring, got); /* before done: done may submit and enter */
        for (unsigned i = 0; i < got; i++)
            n += dispatch(u, batch[i].ud, batch[i].res, batch[i].flags);
    }
    return n;
}

static int run_stash(struct uring_driver *u)
{
    int n = 0;

    for (size_t i = 0; i < u->nstash; i++) /* dispatch may append: re-read nstash */
        n += dispatch(u, u->stash[i].ud, u->stash[i].res, u->stash[i].flags);
    u->nstash = 0;
    return n;
}

/* ------------------------------------------------------------------ park, cancel */

static int uring_park(struct weft__io_driver *drv, int64_t deadline)
{
    struct uring_driver *u = ur(drv);
    int err = 0;

    ensure_enabled(u);
    for (struct weft__io_op *op = weft__io_take_remote(drv), *next; op != NULL; op = next) {
        next = op->next;
        drv->stats.submitted++;
        uring_submit(drv, op);
    }
    if (!u->wake_armed && !u->closing)
        arm_wake(u);

    bool block = deadline > 0 && drv->ready_head == NULL && u->nstash == 0 &&
                 io_uring_cq_ready(&u->ring) == 0;
    int64_t now = 0;
    if (block && deadline != INT64_MAX) {
        now = weft__sys_now();
        block = deadline > now;
    }
    bool parked = false;
    if (block) {
        parked = true;
        if (weft__io_park_begin(drv))
            block = false;
    }
    if (block) {
        drv->stats.enters++;
        if (deadline == INT64_MAX) {
            err = io_uring_submit_and_wait(&u->ring, 1);
        } else {
            int64_t left = deadline - now;
            struct __kernel_timespec ts = {.tv_sec = left / 1000000000,
                                           .tv_nsec = left % 1000000000};
            struct io_uring_cqe *cqe;
            err = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
        }
    } else if (io_uring_sq_ready(&u->ring) > 0 ||
               (IO_URING_READ_ONCE(*u->ring.sq.kflags) &
                (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN))) {
        drv->stats.enters++;
        err = io_uring_submit_and_get_events(&u->ring);
    }
    if (parked)
        weft__io_park_end(drv);

    int n = weft__io_run_ready(drv);
    n += run_stash(u);
    n += reap(u);
    if (err < 0 && err != -ETIME && err != -EINTR && err != -EAGAIN && err != -EBUSY && n == 0)
        return err;
    return n;
}

static int uring_cancel(struct weft__io_driver *drv, struct weft__io_op *op)
{
    struct uring_driver *u = ur(drv);

    if (op->state == WEFT__IO_ST_READY)
        return -EALREADY;
    if (op->state != WEFT__IO_ST_KERNEL && op->state != WEFT__IO_ST_POLLING)
        return -ENOENT;
    if (op->flags & WEFT__IO_F_CANCEL)
        return -EALREADY;
    op->flags |= WEFT__IO_F_CANCEL;

    /* Still in the SQ: the kernel never saw it. Turn it into a NOP and finish it here. */
    struct io_uring_sqe *sqe = unconsumed_sqe(u, (uint32_t)op->priv);
    if (sqe != NULL) {
        neutralize(sqe);
        u->inflight--;
        weft__io_ready_push(drv, op, -ECANCELED);
        return 0;
    }
    uint64_t target = op_ud(op, op->state == WEFT__IO_ST_POLLING ? TAG_POLL : TAG_OP);
    sqe = sqe_get(u);
    if (sqe == NULL)
        return 0; /* the ring is broken; the op completes with whatever the kernel says */
    io_uring_prep_cancel64(sqe, target, 0);
    io_uring_sqe_set_data64(sqe, UD_IGNORE);
    op->flags |= WEFT__IO_F_CANCEL_SQE;
    op->priv = last_sqe_pos(u);
    return 0;
}

static void uring_destroy(struct weft__io_driver *drv)
{
    struct uring_driver *u = ur(drv);

    ensure_enabled(u);
    for (struct weft__io_op *op = weft__io_take_remote(drv), *next; op != NULL; op = next) {
        next = op->next;
        drv->stats.submitted++;
        uring_submit(drv, op);
    }
    u->closing = true;
    if (u->inflight > 0 || u->wake_armed) {
        struct io_uring_sqe *sqe = sqe_get(u);
        if (sqe != NULL) {
            io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
            io_uring_sqe_set_data64(sqe, UD_CANCEL_ANY);
        }
        /* Wait for the kernel to let go of every buffer (each done runs, with -ECANCELED
         * or its result). Bounded: an op the kernel cannot interrupt is abandoned after
         * 10 s, and so is everything when the ring refuses this thread (not the owner). */
        int64_t give_up = weft__sys_now() + 10 * (int64_t)1000000000;
        while ((u->inflight > 0 || u->wake_armed) && !u->cancel_any_failed) {
            int64_t now = weft__sys_now();
            if (now >= give_up || uring_park(drv, now + 100 * (int64_t)1000000) < 0)
                break;
        }
    }
    while (drv->ready_head != NULL || u->nstash > 0) {
        weft__io_run_ready(drv);
        run_stash(u);
    }
    io_uring_queue_exit(&u->ring);
    weft__free(u->stash); /* grown with ur_realloc: a plain block */
    ur_free(u);
}

static int uring_pollfd(const struct weft__io_driver *drv)
{
    return ((const struct uring_driver *)drv)->ring.ring_fd;
}

static const struct weft__io_backend_ops uring_ops = {
    .pollfd = uring_pollfd,
    .submit = uring_submit,
    .cancel = uring_cancel,
    .park = uring_park,
    .forget_fd = NULL,
    .destroy = uring_destroy,
};

/* ------------------------------------------------------------------ setup and probe */

static const uint8_t uring_opcode[WEFT__IO_OPCODE_COUNT] = {
    [WEFT__IO_NOP] = IORING_OP_NOP,         [WEFT__IO_READ] = IORING_OP_READ,
    [WEFT__IO_WRITE] = IORING_OP_WRITE,     [WEFT__IO_READV] = IORING_OP_READV,
    [WEFT__IO_WRITEV] = IORING_OP_WRITEV,   [WEFT__IO_RECV] = IORING_OP_RECV,
    [WEFT__IO_SEND] = IORING_OP_SEND,       [WEFT__IO_RECVMSG] = IORING_OP_RECVMSG,
    [WEFT__IO_SENDMSG] = IORING_OP_SENDMSG, [WEFT__IO_ACCEPT] = IORING_OP_ACCEPT,
    [WEFT__IO_CONNECT] = IORING_OP_CONNECT, [WEFT__IO_POLL] = IORING_OP_POLL_ADD,
    [WEFT__IO_CLOSE] = IORING_OP_CLOSE,     [WEFT__IO_OPENAT] = IORING_OP_OPENAT,
    [WEFT__IO_FSYNC] = IORING_OP_FSYNC,     [WEFT__IO_STATX] = IORING_OP_STATX,
    [WEFT__IO_SPLICE] = IORING_OP_SPLICE,   [WEFT__IO_ACCEPT_MULTI] = IORING_OP_ACCEPT,
    [WEFT__IO_OPENAT2] = IORING_OP_OPENAT2,
};

static const struct {
    unsigned flags;
    const char *name;
} rungs[] = {
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
         IORING_SETUP_SUBMIT_ALL | IORING_SETUP_R_DISABLED,
     "io_uring/defer_taskrun"},
    {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
     "io_uring/coop_taskrun"},
    {0, "io_uring/plain"},
};

static void probe_opcodes(struct uring_driver *u, uint32_t disable)
{
    struct io_uring_probe *probe = io_uring_get_probe_ring(&u->ring);

    for (int op = 0; op < WEFT__IO_OPCODE_COUNT; op++) {
        bool ok = probe ? io_uring_opcode_supported(probe, uring_opcode[op]) : op == WEFT__IO_NOP;
        u->native[op] = ok && !(disable & (1u << op));
    }
    if (probe)
        io_uring_free_probe(probe);
}

int weft__io_new_uring(struct weft__io_driver **out, const struct weft__io_config *cfg,
                       int wake_fd)
{
    if (weft__io_test_hooks.uring_setup_err != 0)
        return weft__io_test_hooks.uring_setup_err;

    struct uring_driver *u = ur_alloc(sizeof *u);
    if (u == NULL)
        return -ENOMEM;
    memset(u, 0, sizeof *u);
    unsigned entries = cfg->sq_entries ? cfg->sq_entries : 256;
    unsigned cq_entries = cfg->cq_entries ? cfg->cq_entries : 4 * entries;
    int err = -EINVAL;
    size_t rung = cfg->uring_first_rung;
    for (; rung < sizeof rungs / sizeof rungs[0]; rung++) {
        struct io_uring_params p = {.flags = rungs[rung].flags | IORING_SETUP_CQSIZE,
                                    .cq_entries = cq_entries};
        err = io_uring_queue_init_params(entries, &u->ring, &p);
        if (err != -EINVAL)
            break;
    }
    if (err < 0) {
        ur_free(u);
        return err == -EINVAL ? -ENOSYS : err; /* no usable rung: io_uring too old */
    }
    u->setup_flags = rungs[rung].flags;
    probe_opcodes(u, cfg->uring_disable_ops);
    if (!u->native[WEFT__IO_POLL]) { /* every fallback rests on POLL_ADD */
        io_uring_queue_exit(&u->ring);
        ur_free(u);
        return -ENOSYS;
    }
    u->base.ops = &uring_ops;
    u->base.backend = WEFT__IO_BACKEND_URING;
    u->base.name = rungs[rung].name;
    u->base.wake_fd = wake_fd;
    u->wake_use_poll = !u->native[WEFT__IO_READ];
    arm_wake(u); /* an SQE only; it reaches the kernel with the first park */
    *out = &u->base;
    return 0;
}
