/* Thin system-call wrappers: -errno results, EINTR retries, close-on-exec and non-blocking
 * flags added, MSG_NOSIGNAL on every send, and the fault-injection seam. See sys.h. */
#include "sys/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ fault seam */

/* One slot per call. The hot path reads only `armed` (how many slots are armed); the slots
 * themselves are changed and consumed under a mutex, which only tests ever take. */
struct fault {
    int err;        /* positive errno to inject; 0 = disarmed */
    unsigned skip;  /* calls to let through before failing */
    unsigned count; /* failures left to inject */
    unsigned hits;  /* failures injected since armed */
};

static _Atomic unsigned armed;
static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fault faults[WEFT__SYS_CALL_COUNT];

static int fault_slow(enum weft__sys_call call)
{
    int err = 0;

    pthread_mutex_lock(&fault_lock);
    struct fault *f = &faults[call];
    if (f->err != 0 && f->count > 0) {
        if (f->skip > 0) {
            f->skip--;
        } else {
            err = -f->err;
            f->hits++;
            if (--f->count == 0) {
                f->err = 0;
                atomic_fetch_sub_explicit(&armed, 1, memory_order_relaxed);
            }
        }
    }
    pthread_mutex_unlock(&fault_lock);
    return err;
}

/* 0 = make the real call; otherwise the -errno to return instead. */
static inline int fault(enum weft__sys_call call)
{
    if (__builtin_expect(atomic_load_explicit(&armed, memory_order_relaxed) == 0, 1))
        return 0;
    return fault_slow(call);
}

void weft__sys_fault_inject(enum weft__sys_call call, int err, unsigned skip, unsigned count)
{
    if ((unsigned)call >= WEFT__SYS_CALL_COUNT)
        return;
    pthread_mutex_lock(&fault_lock);
    struct fault *f = &faults[call];
    bool was = f->err != 0;
    bool now = err > 0 && count > 0;
    f->err = now ? err : 0;
    f->skip = skip;
    f->count = now ? count : 0;
    f->hits = 0;
    if (was != now) {
        if (now)
            atomic_fetch_add_explicit(&armed, 1, memory_order_relaxed);
        else
            atomic_fetch_sub_explicit(&armed, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&fault_lock);
}

void weft__sys_fault_clear(void)
{
    pthread_mutex_lock(&fault_lock);
    for (int i = 0; i < WEFT__SYS_CALL_COUNT; i++)
        faults[i].err = 0, faults[i].count = 0, faults[i].skip = 0;
    atomic_store_explicit(&armed, 0, memory_order_relaxed);
    pthread_mutex_unlock(&fault_lock);
}

unsigned weft__sys_fault_hits(enum weft__sys_call call)
{
    unsigned hits = 0;

    if ((unsigned)call >= WEFT__SYS_CALL_COUNT)
        return 0;
    pthread_mutex_lock(&fault_lock);
    hits = faults[call].hits;
    pthread_mutex_unlock(&fault_lock);
    return hits;
}

/* Store in `res` the result of `expr` (a libc call returning -1 + errno on failure), or the
 * injected -errno; retry on EINTR. */
#define SYSCALL(call, res, expr)                                                                   \
    do {                                                                                           \
        for (;;) {                                                                                 \
            int f_ = fault(call);                                                                  \
            if (f_ != 0) {                                                                         \
                (res) = f_;                                                                        \
            } else {                                                                               \
                (res) = (expr);                                                                    \
                if ((res) < 0)                                                                     \
                    (res) = -errno;                                                                \
            }                                                                                      \
            if ((res) != -EINTR)                                                               \
                break;                                                                             \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------------------ sockets */

int weft__sys_socket(int domain, int type, int protocol)
{
    int r;
    SYSCALL(WEFT__SYS_SOCKET, r, socket(domain, type | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol));
    return r;
}

int weft__sys_socketpair(int domain, int type, int protocol, int sv[2])
{
    int r;
    SYSCALL(WEFT__SYS_SOCKETPAIR, r,
            socketpair(domain, type | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol, sv));
    return r;
}

int weft__sys_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    int r;
    SYSCALL(WEFT__SYS_ACCEPT4, r, accept4(fd, addr, addrlen, SOCK_CLOEXEC | SOCK_NONBLOCK));
    return r;
}

int weft__sys_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    /* A real EINTR leaves the connect running; the retry then reports -EALREADY, which
     * callers treat like -EINPROGRESS. */
    int r;
    SYSCALL(WEFT__SYS_CONNECT, r, connect(fd, addr, addrlen));
    return r;
}

int weft__sys_bind(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    int r;
    SYSCALL(WEFT__SYS_BIND, r, bind(fd, addr, addrlen));
    return r;
}

int weft__sys_listen(int fd, int backlog)
{
    int r;
    SYSCALL(WEFT__SYS_LISTEN, r, listen(fd, backlog));
    return r;
}

int weft__sys_shutdown(int fd, int how)
{
    int r;
    SYSCALL(WEFT__SYS_SHUTDOWN, r, shutdown(fd, how));
    return r;
}

int weft__sys_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    int r;
    SYSCALL(WEFT__SYS_GETSOCKOPT, r, getsockopt(fd, level, name, val, len));
    return r;
}

int weft__sys_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    int r;
    SYSCALL(WEFT__SYS_SETSOCKOPT, r, setsockopt(fd, level, name, val, len));
    return r;
}

int weft__sys_getsockname(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    int r;
    SYSCALL(WEFT__SYS_GETSOCKNAME, r, getsockname(fd, addr, addrlen));
    return r;
}

int weft__sys_getpeername(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    int r;
    SYSCALL(WEFT__SYS_GETSOCKNAME, r, getpeername(fd, addr, addrlen));
    return r;
}

int weft__sys_socket_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    int r = weft__sys_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    return r < 0 ? r : -err;
}

/* ------------------------------------------------------------------ data transfer */

ssize_t weft__sys_read(int fd, void *buf, size_t len, int64_t off)
{
    ssize_t r;
    if (off < 0)
        SYSCALL(WEFT__SYS_READ, r, read(fd, buf, len));
    else
        SYSCALL(WEFT__SYS_READ, r, pread(fd, buf, len, (off_t)off));
    return r;
}

ssize_t weft__sys_write(int fd, const void *buf, size_t len, int64_t off)
{
    ssize_t r;
    if (off < 0)
        SYSCALL(WEFT__SYS_WRITE, r, write(fd, buf, len));
    else
        SYSCALL(WEFT__SYS_WRITE, r, pwrite(fd, buf, len, (off_t)off));
    return r;
}

ssize_t weft__sys_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    ssize_t r;
    if (off < 0)
        SYSCALL(WEFT__SYS_READ, r, readv(fd, iov, iovcnt));
    else
        SYSCALL(WEFT__SYS_READ, r, preadv(fd, iov, iovcnt, (off_t)off));
    return r;
}

ssize_t weft__sys_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    ssize_t r;
    if (off < 0)
        SYSCALL(WEFT__SYS_WRITE, r, writev(fd, iov, iovcnt));
    else
        SYSCALL(WEFT__SYS_WRITE, r, pwritev(fd, iov, iovcnt, (off_t)off));
    return r;
}

ssize_t weft__sys_recv(int fd, void *buf, size_t len, int flags)
{
    ssize_t r;
    SYSCALL(WEFT__SYS_RECV, r, recv(fd, buf, len, flags));
    return r;
}

ssize_t weft__sys_recvmsg(int fd, struct msghdr *msg, int flags)
{
    ssize_t r;
    SYSCALL(WEFT__SYS_RECV, r, recvmsg(fd, msg, flags));
    return r;
}

ssize_t weft__sys_send(int fd, const void *buf, size_t len, int flags)
{
    ssize_t r;
    SYSCALL(WEFT__SYS_SEND, r, send(fd, buf, len, flags | MSG_NOSIGNAL));
    return r;
}

ssize_t weft__sys_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    ssize_t r;
    SYSCALL(WEFT__SYS_SEND, r, sendmsg(fd, msg, flags | MSG_NOSIGNAL));
    return r;
}

ssize_t weft__sys_splice(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, size_t len,
                         unsigned flags)
{
    loff_t in = off_in ? (loff_t)*off_in : 0, out = off_out ? (loff_t)*off_out : 0;
    ssize_t r;
    SYSCALL(WEFT__SYS_SPLICE, r,
            splice(fd_in, off_in ? &in : NULL, fd_out, off_out ? &out : NULL, len, flags));
    if (off_in)
        *off_in = (int64_t)in;
    if (off_out)
        *off_out = (int64_t)out;
    return r;
}

ssize_t weft__sys_sendfile(int out_fd, int in_fd, int64_t *off, size_t len)
{
    off_t o = (off_t)*off;
    ssize_t r;
    SYSCALL(WEFT__SYS_SENDFILE, r, sendfile(out_fd, in_fd, &o, len));
    *off = (int64_t)o;
    if (r == -EPIPE) {
        /* sendfile(2) has no MSG_NOSIGNAL: the peer is gone and the kernel raised SIGPIPE at
         * this thread, which blocks it while weft runs (F2). Take it back, so a current-thread
         * runtime restoring the caller's mask on the way out does not deliver it. */
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        sigtimedwait(&pipe, NULL, &(struct timespec){0, 0});
    }
    return r;
}

int weft__sys_cached(int fd, int64_t off)
{
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    ssize_t r;
    SYSCALL(WEFT__SYS_READ, r, preadv2(fd, &iov, 1, (off_t)off, RWF_NOWAIT));
    return r > 0 ? 1 : (int)r;
}

/* ------------------------------------------------------------------ descriptors, files */

int weft__sys_close(int fd)
{
    int f = fault(WEFT__SYS_CLOSE);
    if (f != 0)
        return f == -EINTR ? 0 : f;
    int r = close(fd) == 0 || errno == EINTR ? 0 : -errno;
    weft__sys_fd_closed(fd); /* after the close: see sys.h */
    return r;
}

int weft__sys_eventfd(unsigned initval, int flags)
{
    int r;
    SYSCALL(WEFT__SYS_EVENTFD, r, eventfd(initval, flags | EFD_CLOEXEC));
    return r;
}

int weft__sys_pipe2(int fds[2], int flags)
{
    int r;
    SYSCALL(WEFT__SYS_PIPE2, r, pipe2(fds, flags | O_CLOEXEC));
    return r;
}

int weft__sys_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    int r;
    SYSCALL(WEFT__SYS_OPENAT, r, openat(dirfd, path, flags | O_CLOEXEC, mode));
    return r;
}

int weft__sys_fsync(int fd, bool datasync)
{
    int r;
    if (datasync)
        SYSCALL(WEFT__SYS_FSYNC, r, fdatasync(fd));
    else
        SYSCALL(WEFT__SYS_FSYNC, r, fsync(fd));
    return r;
}

int weft__sys_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *buf)
{
    int r;
    SYSCALL(WEFT__SYS_STATX, r, statx(dirfd, path, flags, mask, buf));
    return r;
}

int weft__sys_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
    /* Retrying with the full timeout after EINTR can wait longer than asked; every caller in
     * weft polls with timeout 0. */
    int r;
    SYSCALL(WEFT__SYS_POLL, r, poll(fds, nfds, timeout_ms));
    return r;
}

/* ------------------------------------------------------------------ close generations */

static _Atomic uint32_t fd_gens[WEFT__SYS_FD_GEN_MAX];

uint32_t weft__sys_fd_gen(int fd)
{
    if (fd < 0 || fd >= WEFT__SYS_FD_GEN_MAX)
        return WEFT__SYS_FD_GEN_UNKNOWN;
    uint32_t g = atomic_load_explicit(&fd_gens[fd], memory_order_acquire);
    return g == WEFT__SYS_FD_GEN_UNKNOWN ? 0 : g; /* never collide with UNKNOWN */
}

void weft__sys_fd_closed(int fd)
{
    if (fd >= 0 && fd < WEFT__SYS_FD_GEN_MAX)
        atomic_fetch_add_explicit(&fd_gens[fd], 1, memory_order_release);
}

/* ------------------------------------------------------------------ time */

int64_t weft__sys_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
