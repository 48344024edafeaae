/* The epoll backend: the completion model of driver.h emulated over readiness.
 *
 * SUBMIT tries the operation at once with a non-blocking syscall (it often succeeds: a
 * socket usually has send space, a request has often already arrived); a result other than
 * -EAGAIN goes on the ready list, and done runs at the next park/poll, never inline. On
 * -EAGAIN the op waits on its fd: the fd is registered once, lazily, edge-triggered for
 * everything (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET, mio's scheme), and the op is appended to
 * the fd's FIFO wait list.
 *
 * READINESS CACHE. Each registered fd keeps two bits, IN and OUT: "the last attempt in this
 * direction did not say EAGAIN, or an edge arrived since". An op submitted while its bit is
 * clear goes straight to the wait list without a futile syscall. An edge sets the bits from
 * the event; then the wait list is walked in order, retrying each op whose direction is
 * ready, until one says EAGAIN (that clears the bit, and later ops of that direction keep
 * waiting, so writes stay in submission order). Invariant at the end of each step: a
 * direction with waiters has its bit clear. Edge-triggered epoll reports every later change,
 * so clearing a bit only after an EAGAIN can never lose a wakeup.
 *
 * FILE OPS (OPENAT, FSYNC, STATX, CLOSE, and reads/writes on regular files, which never say
 * EAGAIN) run synchronously inside submit; the runtime will move them to the blocking pool
 * on this backend.
 *
 * FD TABLE. Indexed by fd, grown by doubling; an entry exists only for fds that once said
 * EAGAIN. CLOSE (and weft__io_forget_fd) deregisters with EPOLL_CTL_DEL before closing - a
 * dup'ed descriptor would otherwise keep reporting events under the old number - and
 * cancels ops still waiting on that fd. An fd closed elsewhere (weft__sys_close from any
 * thread, or a CLOSE op on another worker's driver) is noticed through its close generation
 * (sys.h) the next time an op on that number has to wait: one EPOLL_CTL_ADD then decides
 * whether the registration still belongs to the file now behind the number.
 *
 * WAKEUP. The shared eventfd is registered too (EPOLLIN|EPOLLET, data = -1) and read when it
 * fires. Timed waits use epoll_pwait2 (ns resolution), else epoll_wait rounded up to ms.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "core/core.h"
#include "io/driver.h"
#include "sys/sys.h"

#define MAX_EVENTS 256
#define IN 1u
#define OUT 2u

struct fdent {
    struct weft__io_op *head, *tail; /* ops waiting on this fd, FIFO */
    uint32_t gen;                    /* weft__sys_fd_gen(fd) read before registering */
    uint8_t registered;              /* in the epoll set (as of gen) */
    uint8_t ready;                   /* IN | OUT readiness cache, see above */
};

struct epoll_driver {
    struct weft__io_driver base; /* first: the driver.h part */
    int epfd;                    /* CLOEXEC */
    bool no_pwait2;              /* epoll_pwait2 said ENOSYS: use epoll_wait */
    struct fdent *fds;           /* indexed by fd; nfds entries */
    size_t nfds;
    size_t waiting;              /* ops on any wait list */
    struct epoll_event events[MAX_EVENTS];
};

/* ------------------------------------------------------------------ memory (one place) */

static void *ep_alloc(size_t size)
{
    return weft__alloc_aligned(64, (size + 63) & ~(size_t)63);
}

static void *ep_realloc(void *p, size_t size)
{
    return weft__realloc(p, size);
}

static void ep_free(void *p)
{
    weft__free_aligned(p);
}

/* ------------------------------------------------------------------ helpers */

static struct epoll_driver *ep(struct weft__io_driver *drv)
{
    return (struct epoll_driver *)drv;
}

static unsigned dir_of(unsigned events)
{
    unsigned d = 0;
    if (events & (POLLIN | POLLPRI | POLLRDHUP))
        d |= IN;
    if (events & POLLOUT)
        d |= OUT;
    return d ? d : IN | OUT;
}

static struct fdent *fd_get(struct epoll_driver *e, int fd, bool create)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd < e->nfds)
        return &e->fds[fd];
    if (!create)
        return NULL;
    size_t n = e->nfds ? e->nfds : 64;
    while (n <= (size_t)fd)
        n *= 2;
    struct fdent *t = ep_realloc(e->fds, n * sizeof *t);
    if (t == NULL)
        return NULL;
    memset(t + e->nfds, 0, (n - e->nfds) * sizeof *t);
    e->fds = t;
    e->nfds = n;
    return &e->fds[fd];
}

/* op->priv while waiting: the fd (low 32 bits) and the poll events awaited (high 32). */
static int waiting_fd(const struct weft__io_op *op)
{
    return (int)(uint32_t)op->priv;
}

static unsigned waiting_events(const struct weft__io_op *op)
{
    return (unsigned)(op->priv >> 32);
}

static void wait_append(struct epoll_driver *e, struct fdent *ent, int fd, unsigned events,
                        struct weft__io_op *op)
{
    op->state = WEFT__IO_ST_WAITING;
    op->priv = (uint64_t)(uint32_t)fd | (uint64_t)events << 32;
    op->next = NULL;
    if (ent->tail)
        ent->tail->next = op;
    else
        ent->head = op;
    ent->tail = op;
    e->waiting++;
}

/* Unlink op (whose predecessor is prev, NULL for the head) from ent's wait list. */
static void wait_unlink(struct epoll_driver *e, struct fdent *ent, struct weft__io_op *prev,
                        struct weft__io_op *op)
{
    if (prev)
        prev->next = op->next;
    else
        ent->head = op->next;
    if (ent->tail == op)
        ent->tail = prev;
    op->next = NULL;
    e->waiting--;
}

/* Is what ent remembers about fd still about the same file? */
static bool fd_current(const struct fdent *ent, int fd)
{
    uint32_t g = weft__sys_fd_gen(fd);
    return ent->registered && ent->gen == g && g != WEFT__SYS_FD_GEN_UNKNOWN;
}

/* Register fd once (edge-triggered, every direction). Returns 0 or -errno.
 * If fd was closed and its number reused since it was registered (its close generation
 * moved), EPOLL_CTL_ADD tells which file the registration belongs to: EEXIST = the current
 * one (keep everything); success = the old file was gone, so the ops still waiting on it
 * can never complete: they end with -ECANCELED, as a CLOSE op would have ended them. */
static int fd_register(struct epoll_driver *e, struct fdent *ent, int fd)
{
    if (fd_current(ent, fd))
        return 0;
    uint32_t g = weft__sys_fd_gen(fd); /* read before the ADD: see sys.h */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.fd = fd};
    e->base.stats.syscalls++;
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        if (errno != EEXIST)
            return -errno;
        if (!ent->registered) /* registered for this file by an earlier life of ent */
            ent->ready = IN | OUT;
    } else {
        while (ent->head) {
            struct weft__io_op *op = ent->head;
            wait_unlink(e, ent, NULL, op);
            weft__io_ready_push(&e->base, op, -ECANCELED);
        }
        ent->ready = IN | OUT; /* unknown = try; the failed direction is cleared by the caller */
    }
    ent->registered = 1;
    ent->gen = g;
    return 0;
}

/* op said -EAGAIN: wait for its fd. */
static void wait_for(struct epoll_driver *e, struct weft__io_op *op)
{
    int fd;
    unsigned events;

    weft__io_wait_target(op, &fd, &events);
    struct fdent *ent = fd_get(e, fd, true);
    if (ent == NULL) {
        weft__io_ready_push(&e->base, op, -ENOMEM);
        return;
    }
    int err = fd_register(e, ent, fd);
    if (err < 0) {
        /* EPERM: a regular file or directory, which epoll cannot watch (and which never
         * says EAGAIN in the first place); report the EAGAIN rather than hang. */
        weft__io_ready_push(&e->base, op, err == -EPERM ? -EAGAIN : err);
        return;
    }
    ent->ready &= (uint8_t)~dir_of(events);
    wait_append(e, ent, fd, events, op);
}

/* Complete every op waiting on fd with -ECANCELED and forget the fd. */
static void fd_drop(struct epoll_driver *e, int fd)
{
    struct fdent *ent = fd_get(e, fd, false);

    if (ent == NULL)
        return;
    if (ent->registered) {
        e->base.stats.syscalls++;
        (void)epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
    }
    while (ent->head) {
        struct weft__io_op *op = ent->head;
        wait_unlink(e, ent, NULL, op);
        weft__io_ready_push(&e->base, op, -ECANCELED);
    }
    memset(ent, 0, sizeof *ent);
}

/* ------------------------------------------------------------------ backend ops */

static void epoll_submit(struct weft__io_driver *drv, struct weft__io_op *op)
{
    struct epoll_driver *e = ep(drv);

    op->flags = 0;
    op->next = NULL;
    switch (weft__io_op_kind(op)) {
    case WEFT__IO_KIND_NOP:
        weft__io_ready_push(drv, op, 0);
        return;
    case WEFT__IO_KIND_SYNC:
        if (op->opcode == WEFT__IO_CLOSE)
            fd_drop(e, op->fd);
        drv->stats.syscalls++;
        weft__io_ready_push(drv, op, weft__io_perform(op));
        return;
    case WEFT__IO_KIND_READINESS:
        break;
    default:
        weft__io_ready_push(drv, op, -EINVAL);
        return;
    }
    /* Known not ready: join the queue without a futile syscall (keeps FIFO order, too). */
    if (op->opcode != WEFT__IO_SPLICE && op->opcode != WEFT__IO_CONNECT) {
        int fd;
        unsigned events;
        weft__io_wait_target(op, &fd, &events);
        struct fdent *ent = fd_get(e, fd, false);
        if (ent && fd_current(ent, fd) && !(ent->ready & dir_of(events))) {
            wait_append(e, ent, fd, events, op);
            return;
        }
    }
    drv->stats.syscalls++;
    int32_t res = weft__io_perform(op);
    if (res == -EAGAIN)
        wait_for(e, op);
    else
        weft__io_ready_push(drv, op, res);
}

/* An edge for fd: update the cache and retry the waiters whose direction is ready. */
static void on_event(struct epoll_driver *e, int fd, uint32_t ev)
{
    struct fdent *ent = fd_get(e, fd, false);

    if (ent == NULL || !ent->registered)
        return; /* stale: the fd was dropped after the event was queued */
    unsigned bits = 0;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI))
        bits |= IN;
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        bits |= OUT;
    ent->ready |= (uint8_t)bits;

    struct weft__io_op *prev = NULL, *op = ent->head;
    while (op != NULL) {
        struct weft__io_op *next = op->next;
        unsigned events = waiting_events(op);
        if (op->opcode == WEFT__IO_POLL) {
            /* Readiness itself is the result: no syscall. */
            uint32_t got = ev & (events | POLLERR | POLLHUP);
            if (got) {
                wait_unlink(e, ent, prev, op);
                weft__io_ready_push(&e->base, op, (int32_t)got);
                op = next;
                continue;
            }
        } else if (ent->ready & dir_of(events)) {
            e->base.stats.syscalls++;
            int32_t res = weft__io_perform(op);
            if (res != -EAGAIN) {
                wait_unlink(e, ent, prev, op);
                weft__io_ready_push(&e->base, op, res);
                op = next;
                continue;
            }
            int nfd = fd;
            if (op->opcode == WEFT__IO_SPLICE)
                weft__io_wait_target(op, &nfd, &events);
            if (nfd != fd) { /* SPLICE: now the other end blocks; wait there */
                wait_unlink(e, ent, prev, op);
                wait_for(e, op);
                ent = fd_get(e, fd, false); /* the table may have moved */
                op = next;
                continue;
            }
            ent->ready &= (uint8_t)~dir_of(events);
            op->priv = (uint64_t)(uint32_t)fd | (uint64_t)events << 32;
        }
        prev = op;
        op = next;
    }
}

static int epoll_park(struct weft__io_driver *drv, int64_t deadline)
{
    struct epoll_driver *e = ep(drv);

    for (struct weft__io_op *op = weft__io_take_remote(drv), *next; op != NULL; op = next) {
        next = op->next;
        drv->stats.submitted++;
        epoll_submit(drv, op);
    }

    bool block = drv->ready_head == NULL && deadline > 0;
    int64_t now = 0;
    if (block && deadline != INT64_MAX) {
        now = weft__sys_now();
        block = deadline > now;
    }
    /* Nothing can become ready and nothing is to be waited for: no syscall at all (unless a
     * host loop watches our fd: then its readiness must be consumed). */
    if (!block && e->waiting == 0 && !drv->embedded)
        return weft__io_run_ready(drv);

    bool parked = false;
    if (block) {
        parked = true;
        if (weft__io_park_begin(drv))
            block = false;
    }
    int n;
    drv->stats.enters++;
    if (!block) {
        n = epoll_wait(e->epfd, e->events, MAX_EVENTS, 0);
    } else if (deadline == INT64_MAX) {
        n = epoll_wait(e->epfd, e->events, MAX_EVENTS, -1);
    } else {
        int64_t left = deadline - now;
        n = -1;
        errno = ENOSYS;
        if (!e->no_pwait2) {
            struct timespec ts = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
            n = epoll_pwait2(e->epfd, e->events, MAX_EVENTS, &ts, NULL);
            if (n < 0 && errno == ENOSYS)
                e->no_pwait2 = true;
        }
        if (n < 0 && errno == ENOSYS) {
            int64_t ms = (left + 999999) / 1000000;
            n = epoll_wait(e->epfd, e->events, MAX_EVENTS, ms > 0x7fffffff ? 0x7fffffff : (int)ms);
        }
    }
    int err = n < 0 ? -errno : 0;
    if (parked)
        weft__io_park_end(drv);
    if (n < 0)
        n = 0;
    for (int i = 0; i < n; i++) {
        if (e->events[i].data.fd == -1) { /* the wake eventfd */
            uint64_t v;
            drv->stats.syscalls++;
            (void)weft__sys_read(drv->wake_fd, &v, sizeof v, -1);
            continue;
        }
        on_event(e, e->events[i].data.fd, e->events[i].events);
    }
    int done = weft__io_run_ready(drv);
    if (err < 0 && err != -EINTR && done == 0)
        return err;
    return done;
}

static int epoll_cancel(struct weft__io_driver *drv, struct weft__io_op *op)
{
    struct epoll_driver *e = ep(drv);

    if (op->state != WEFT__IO_ST_WAITING)
        return op->state == WEFT__IO_ST_READY ? -EALREADY : -ENOENT;
    struct fdent *ent = fd_get(e, waiting_fd(op), false);
    struct weft__io_op *prev = NULL, *o = ent ? ent->head : NULL;
    while (o != NULL && o != op)
        prev = o, o = o->next;
    if (o == NULL)
        return -ENOENT; /* not on the list it claims: should not happen */
    wait_unlink(e, ent, prev, op);
    weft__io_ready_push(drv, op, -ECANCELED);
    return 0;
}

static void epoll_forget_fd(struct weft__io_driver *drv, int fd)
{
    fd_drop(ep(drv), fd);
}

static void epoll_destroy(struct weft__io_driver *drv)
{
    struct epoll_driver *e = ep(drv);

    /* Remote ops first (they become ours), then every waiter is cancelled; all done calls
     * run here, so nothing refers to any op afterwards. */
    for (struct weft__io_op *op = weft__io_take_remote(drv), *next; op != NULL; op = next) {
        next = op->next;
        drv->stats.submitted++;
        epoll_submit(drv, op);
    }
    for (size_t fd = 0; fd < e->nfds; fd++) {
        struct fdent *ent = &e->fds[fd];
        while (ent->head) {
            struct weft__io_op *op = ent->head;
            wait_unlink(e, ent, NULL, op);
            weft__io_ready_push(drv, op, -ECANCELED);
        }
    }
    while (drv->ready_head)
        weft__io_run_ready(drv);
    weft__sys_close(e->epfd);
    weft__free(e->fds); /* grown with ep_realloc: a plain block */
    ep_free(e);
}

static int epoll_pollfd(const struct weft__io_driver *drv)
{
    return ((const struct epoll_driver *)drv)->epfd;
}

static const struct weft__io_backend_ops epoll_ops = {
    .pollfd = epoll_pollfd,
    .submit = epoll_submit,
    .cancel = epoll_cancel,
    .park = epoll_park,
    .forget_fd = epoll_forget_fd,
    .destroy = epoll_destroy,
};

int weft__io_new_epoll(struct weft__io_driver **out, const struct weft__io_config *cfg,
                       int wake_fd)
{
    (void)cfg;
    struct epoll_driver *e = ep_alloc(sizeof *e);
    if (e == NULL)
        return -ENOMEM;
    memset(e, 0, sizeof *e);
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (e->epfd < 0) {
        int err = -errno;
        ep_free(e);
        return err;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = -1};
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, wake_fd, &ev) < 0) {
        int err = -errno;
        weft__sys_close(e->epfd);
        ep_free(e);
        return err;
    }
    e->base.ops = &epoll_ops;
    e->base.backend = WEFT__IO_BACKEND_EPOLL;
    e->base.name = "epoll";
    e->base.wake_fd = wake_fd;
    *out = &e->base;
    return 0;
}
