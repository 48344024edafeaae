/* The backend-independent half of the driver: selection and fallback, the unpark protocol,
 * the remote-submission stack, the ready list, and the plain-syscall path that the epoll
 * backend (always) and the io_uring backend (for opcodes its probe lacks) share.
 *
 * UNPARK PROTOCOL (park_state, two bits). The owner announces PARKED before it blocks
 * (fetch_or, acq_rel) and blocks only when NOTIFIED was not already set; after the wait it
 * clears both bits (exchange). unpark() reads the word first and returns if NOTIFIED is set
 * (an unpark is pending: coalesced, no RMW, no syscall); otherwise fetch_or(NOTIFIED) and,
 * only when it was the first to notify and the owner is PARKED, writes the eventfd. Every
 * transition is an RMW on the one word, so either the owner sees NOTIFIED before it blocks,
 * or the notifier sees PARKED and writes the eventfd that the blocked wait watches. A stale
 * eventfd count (the owner woke for another reason just as an unpark came in) only makes
 * one later park return early. submit_remote pushes (release) before it unparks, so an op
 * pushed after the owner drained the stack always causes a wake.
 */
#include "io/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/stat.h>

#include "sys/sys.h"

struct weft__io_test_hooks weft__io_test_hooks;
static atomic_bool fallback_logged;

/* ------------------------------------------------------------------ logging */

void weft__io_log_once(const char *msg)
{
    char line[256];

    if (atomic_exchange_explicit(&fallback_logged, true, memory_order_relaxed))
        return;
    int n = snprintf(line, sizeof line, "weft: %s\n", msg);
    if (n > (int)sizeof line - 1)
        n = (int)sizeof line - 1;
    if (n > 0)
        (void)weft__sys_write(2, line, (size_t)n, -1); /* one write: one line, unsplit */
}

void weft__io_test_reset_log(void)
{
    atomic_store_explicit(&fallback_logged, false, memory_order_relaxed);
}

/* ------------------------------------------------------------------ selection */

static int env_backend(void)
{
    const char *v = getenv("WEFT_IO_BACKEND");

    if (v == NULL || *v == '\0' || strcmp(v, "auto") == 0)
        return WEFT__IO_BACKEND_AUTO;
    if (strcmp(v, "uring") == 0 || strcmp(v, "io_uring") == 0)
        return WEFT__IO_BACKEND_URING;
    if (strcmp(v, "epoll") == 0)
        return WEFT__IO_BACKEND_EPOLL;
    return -1;
}

/* The errors that mean "io_uring is not available here" rather than "something is wrong":
 * ENOSYS (old kernel, or seccomp), EPERM/EACCES (the io_uring-disabled sysctl, Docker's default
 * seccomp profile), ENOMEM (RLIMIT_MEMLOCK on kernels before 5.12). */
static bool uring_unavailable(int err)
{
    return err == -ENOSYS || err == -EPERM || err == -EACCES || err == -ENOMEM;
}

static int create_backend(struct weft__io_driver **out, const struct weft__io_config *cfg,
                          int wake_fd)
{
    int backend = cfg->backend;
    int env = env_backend();

    if (env < 0)
        weft__io_log_once("ignoring WEFT_IO_BACKEND (expected uring or epoll)");
    else if (env != WEFT__IO_BACKEND_AUTO)
        backend = env;
    if (backend != WEFT__IO_BACKEND_AUTO && backend != WEFT__IO_BACKEND_URING &&
        backend != WEFT__IO_BACKEND_EPOLL)
        return -EINVAL;
    if (backend == WEFT__IO_BACKEND_EPOLL)
        return weft__io_new_epoll(out, cfg, wake_fd);
#ifdef WEFT_WITH_URING
    int err = weft__io_new_uring(out, cfg, wake_fd);
    if (err == 0 || !uring_unavailable(err))
        return err;
    char msg[128];
    snprintf(msg, sizeof msg, "io_uring unavailable (setup: %s); using epoll",
             strerrorname_np(-err) ? strerrorname_np(-err) : "?");
    weft__io_log_once(msg);
#else
    (void)uring_unavailable;
    if (backend == WEFT__IO_BACKEND_URING)
        weft__io_log_once("built without io_uring (WEFT_WITH_URING); using epoll");
#endif
    return weft__io_new_epoll(out, cfg, wake_fd);
}

int weft__io_driver_new(struct weft__io_driver **out, const struct weft__io_config *cfg)
{
    static const struct weft__io_config defaults;
    struct weft__io_driver *drv = NULL;

    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (cfg == NULL)
        cfg = &defaults;
    int wake_fd = weft__sys_eventfd(0, EFD_NONBLOCK);
    if (wake_fd < 0)
        return wake_fd;
    int err = create_backend(&drv, cfg, wake_fd);
    if (err < 0) {
        weft__sys_close(wake_fd);
        return err;
    }
    atomic_init(&drv->park_state, 0);
    atomic_init(&drv->remote, NULL);
    atomic_init(&drv->wakeups, 0);
    drv->wake_fd = wake_fd;
    *out = drv;
    return 0;
}

void weft__io_driver_free(struct weft__io_driver *drv)
{
    if (drv == NULL)
        return;
    int wake_fd = drv->wake_fd;
    drv->ops->destroy(drv); /* drains, runs the last done calls, frees drv */
    weft__sys_close(wake_fd);
}

int weft__io_driver_backend(const struct weft__io_driver *drv)
{
    return drv->backend;
}

const char *weft__io_driver_name(const struct weft__io_driver *drv)
{
    return drv->name;
}

const struct weft__io_stats *weft__io_driver_stats(const struct weft__io_driver *drv)
{
    return &drv->stats;
}

int weft__io_cancel(struct weft__io_driver *drv, struct weft__io_op *op)
{
    if (op->state == WEFT__IO_ST_IDLE) {
        /* Not known to the owner yet: it may still sit on the remote stack. Move the stack
         * into the driver (exactly what the next park would do) and look again. */
        for (struct weft__io_op *o = weft__io_take_remote(drv), *next; o != NULL; o = next) {
            next = o->next;
            o->next = NULL;
            drv->stats.submitted++;
            drv->ops->submit(drv, o);
        }
        if (op->state == WEFT__IO_ST_IDLE)
            return -ENOENT;
    }
    return drv->ops->cancel(drv, op);
}

void weft__io_forget_fd(struct weft__io_driver *drv, int fd)
{
    if (drv->ops->forget_fd)
        drv->ops->forget_fd(drv, fd);
}

/* ------------------------------------------------------------------ unpark, remote ops */

void weft__io_unpark(struct weft__io_driver *drv)
{
    uint32_t s = atomic_load_explicit(&drv->park_state, memory_order_acquire);

    if (s & WEFT__IO_NOTIFIED)
        return; /* coalesced with the pending one */
    s = atomic_fetch_or_explicit(&drv->park_state, WEFT__IO_NOTIFIED, memory_order_acq_rel);
    if ((s & WEFT__IO_NOTIFIED) || !(s & WEFT__IO_PARKED))
        return; /* someone else notifies, or the owner will see NOTIFIED before blocking */
    uint64_t one = 1;
    atomic_fetch_add_explicit(&drv->wakeups, 1, memory_order_relaxed);
    (void)weft__sys_write(drv->wake_fd, &one, sizeof one, -1); /* EAGAIN: count saturated */
}

int weft__io_park_begin(struct weft__io_driver *drv)
{
    uint32_t s = atomic_fetch_or_explicit(&drv->park_state, WEFT__IO_PARKED,
                                          memory_order_acq_rel);
    return (s & WEFT__IO_NOTIFIED) ? 1 : 0;
}

void weft__io_park_end(struct weft__io_driver *drv)
{
    atomic_exchange_explicit(&drv->park_state, 0, memory_order_acq_rel);
}

void weft__io_submit_remote(struct weft__io_driver *drv, struct weft__io_op *op)
{
    struct weft__io_op *head = atomic_load_explicit(&drv->remote, memory_order_relaxed);

    do {
        op->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&drv->remote, &head, op,
                                                    memory_order_release,
                                                    memory_order_relaxed));
    weft__io_unpark(drv);
}

struct weft__io_op *weft__io_take_remote(struct weft__io_driver *drv)
{
    struct weft__io_op *lifo, *fifo = NULL;

    if (atomic_load_explicit(&drv->remote, memory_order_relaxed) == NULL)
        return NULL;
    lifo = atomic_exchange_explicit(&drv->remote, NULL, memory_order_acquire);
    while (lifo != NULL) { /* reverse: oldest first */
        struct weft__io_op *next = lifo->next;
        lifo->next = fifo;
        fifo = lifo;
        lifo = next;
    }
    return fifo;
}

/* ------------------------------------------------------------------ ready list */

void weft__io_ready_push(struct weft__io_driver *drv, struct weft__io_op *op, int32_t res)
{
    op->res = res;
    op->state = WEFT__IO_ST_READY;
    op->next = NULL;
    if (drv->ready_tail)
        drv->ready_tail->next = op;
    else
        drv->ready_head = op;
    drv->ready_tail = op;
}

int weft__io_run_ready(struct weft__io_driver *drv)
{
    struct weft__io_op *op = drv->ready_head;
    int n = 0;

    drv->ready_head = drv->ready_tail = NULL;
    while (op != NULL) {
        struct weft__io_op *next = op->next;
        op->next = NULL;
        weft__io_complete(drv, op, op->res);
        op = next;
        n++;
    }
    return n;
}

/* ------------------------------------------------------------------ the plain-syscall path */

enum weft__io_kind weft__io_op_kind(const struct weft__io_op *op)
{
    switch (op->opcode) {
    case WEFT__IO_NOP:
        return WEFT__IO_KIND_NOP;
    case WEFT__IO_READ:
    case WEFT__IO_WRITE:
    case WEFT__IO_READV:
    case WEFT__IO_WRITEV:
    case WEFT__IO_RECV:
    case WEFT__IO_SEND:
    case WEFT__IO_RECVMSG:
    case WEFT__IO_SENDMSG:
    case WEFT__IO_ACCEPT:
    case WEFT__IO_CONNECT:
    case WEFT__IO_POLL:
    case WEFT__IO_SPLICE:
        return WEFT__IO_KIND_READINESS;
    case WEFT__IO_CLOSE:
    case WEFT__IO_OPENAT:
    case WEFT__IO_OPENAT2:
    case WEFT__IO_FSYNC:
    case WEFT__IO_STATX:
        return WEFT__IO_KIND_SYNC;
    default:
        return WEFT__IO_KIND_INVALID;
    }
}

static int32_t perform_connect(struct weft__io_op *op)
{
    if (!(op->flags & WEFT__IO_F_CONNECTING)) {
        int r = weft__sys_connect(op->fd, op->addr, (socklen_t)op->len);
        if (r == -EINPROGRESS || r == -EALREADY || r == -EAGAIN) {
            op->flags |= WEFT__IO_F_CONNECTING;
            return -EAGAIN;
        }
        return r;
    }
    /* Woken by POLLOUT/ERR/HUP: SO_ERROR holds the outcome. Make sure the socket really left
     * the connecting state (a spurious retry must not report success early). */
    int err = weft__sys_socket_error(op->fd);
    if (err != 0)
        return err;
    struct pollfd p = {.fd = op->fd, .events = POLLOUT};
    int r = weft__sys_poll(&p, 1, 0);
    if (r < 0)
        return r;
    if (r == 0 || !(p.revents & (POLLOUT | POLLERR | POLLHUP)))
        return -EAGAIN;
    err = weft__sys_socket_error(op->fd);
    return err;
}

static int32_t to_res(ssize_t r)
{
    return (int32_t)r; /* lengths are clamped to WEFT__IO_MAX_LEN, so r always fits */
}

int32_t weft__io_perform(struct weft__io_op *op)
{
    switch (op->opcode) {
    case WEFT__IO_NOP:
        return 0;
    case WEFT__IO_READ:
        return to_res(weft__sys_read(op->fd, op->addr, op->len, op->off));
    case WEFT__IO_WRITE:
        return to_res(weft__sys_write(op->fd, op->addr, op->len, op->off));
    case WEFT__IO_READV:
        return to_res(weft__sys_readv(op->fd, op->addr, (int)op->len, op->off));
    case WEFT__IO_WRITEV:
        return to_res(weft__sys_writev(op->fd, op->addr, (int)op->len, op->off));
    case WEFT__IO_RECV:
        return to_res(weft__sys_recv(op->fd, op->addr, op->len, op->u.msg_flags | MSG_DONTWAIT));
    case WEFT__IO_SEND:
        return to_res(weft__sys_send(op->fd, op->addr, op->len, op->u.msg_flags | MSG_DONTWAIT));
    case WEFT__IO_RECVMSG:
        return to_res(weft__sys_recvmsg(op->fd, op->addr, op->u.msg_flags | MSG_DONTWAIT));
    case WEFT__IO_SENDMSG:
        return to_res(weft__sys_sendmsg(op->fd, op->addr, op->u.msg_flags | MSG_DONTWAIT));
    case WEFT__IO_ACCEPT:
        return weft__sys_accept4(op->fd, op->addr, op->u.addrlen);
    case WEFT__IO_CONNECT:
        return perform_connect(op);
    case WEFT__IO_POLL: {
        struct pollfd p = {.fd = op->fd, .events = (short)op->len};
        int r = weft__sys_poll(&p, 1, 0);
        if (r < 0)
            return r;
        return r == 0 ? -EAGAIN : (int32_t)(uint16_t)p.revents;
    }
    case WEFT__IO_SPLICE: {
        int64_t in = op->off, out = op->u.splice.off_out;
        return to_res(weft__sys_splice(op->fd, in < 0 ? NULL : &in, op->u.splice.fd_out,
                                       out < 0 ? NULL : &out, op->len,
                                       op->u.splice.flags | SPLICE_F_NONBLOCK));
    }
    case WEFT__IO_CLOSE:
        return weft__sys_close(op->fd);
    case WEFT__IO_OPENAT:
        return weft__sys_openat(op->fd, op->addr, op->u.open_flags, (mode_t)op->len);
    case WEFT__IO_OPENAT2: {
        /* No fallback when the kernel lacks openat2 (before 5.6): -ENOSYS reaches the caller,
         * who must not then open the path some less safe way. */
        long r = syscall(SYS_openat2, op->fd, (const char *)op->addr, op->u.how,
                         sizeof(*op->u.how));
        return r < 0 ? -errno : (int32_t)r;
    }
    case WEFT__IO_FSYNC:
        return weft__sys_fsync(op->fd, op->u.fsync_flags & 1u);
    case WEFT__IO_STATX:
        return weft__sys_statx(op->fd, op->addr, op->u.statx.flags, op->u.statx.mask,
                               op->u.statx.buf);
    default:
        return -EINVAL;
    }
}

void weft__io_wait_target(const struct weft__io_op *op, int *fd, unsigned *events)
{
    switch (op->opcode) {
    case WEFT__IO_WRITE:
    case WEFT__IO_WRITEV:
    case WEFT__IO_SEND:
    case WEFT__IO_SENDMSG:
    case WEFT__IO_CONNECT:
        *fd = op->fd, *events = POLLOUT;
        return;
    case WEFT__IO_POLL:
        *fd = op->fd, *events = op->len;
        return;
    case WEFT__IO_SPLICE: {
        /* Either end can be the one that blocks: wait on the one that is not ready now
         * (the input first). If both look ready (a race), wait for the output to drain. */
        struct pollfd p[2] = {{.fd = op->fd, .events = POLLIN},
                              {.fd = op->u.splice.fd_out, .events = POLLOUT}};
        if (weft__sys_poll(p, 2, 0) >= 0 && !(p[0].revents & (POLLIN | POLLERR | POLLHUP))) {
            *fd = op->fd, *events = POLLIN;
            return;
        }
        *fd = op->u.splice.fd_out, *events = POLLOUT;
        return;
    }
    default: /* READ, READV, RECV, RECVMSG, ACCEPT */
        *fd = op->fd, *events = POLLIN;
        return;
    }
}

int weft__io_driver_pollfd(struct weft__io_driver *drv)
{
    drv->embedded = true; /* from now on a poll always drains what makes the fd readable */
    return drv->ops->pollfd(drv);
}
