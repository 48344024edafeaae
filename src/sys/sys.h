/* src/sys - the only place that calls the kernel for the generic system calls weft uses.
 *
 * Every wrapper returns the result or a negative errno (never -1 + errno), retries EINTR
 * where retrying is correct, and adds the flags weft always wants:
 *   - every descriptor it creates is close-on-exec (F10: a fork+exec child inherits nothing);
 *   - sockets, accepted sockets, socket pairs and eventfds are non-blocking;
 *   - send and sendmsg always carry MSG_NOSIGNAL (F2: a reset peer never raises SIGPIPE).
 * close() is never retried: on Linux the descriptor is gone even when close reports EINTR,
 * so EINTR is reported as success.
 *
 * Backend calls (epoll, io_uring) are not here: they live in src/io/epoll.c and
 * src/io/uring.c only.
 *
 * Test seam (the neco/sds idea, STYLE.md §2): weft__sys_fault_inject() makes the next calls
 * of one wrapper fail with a chosen errno before they reach the kernel, so tests can provoke
 * EINTR, EAGAIN, ENOMEM, EMFILE... on demand. When nothing is armed the cost is one relaxed
 * atomic load per call, against ~1 us for the system call itself (research/vm-limits.md).
 * An injected EINTR goes through the same retry loop as a real one.
 *
 * Threads: every function may be called from any thread.
 */
#ifndef WEFT_SYS_H
#define WEFT_SYS_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

/* One entry per wrapper that can be made to fail. */
enum weft__sys_call {
    WEFT__SYS_SOCKET,
    WEFT__SYS_SOCKETPAIR,
    WEFT__SYS_ACCEPT4,
    WEFT__SYS_CONNECT,
    WEFT__SYS_BIND,
    WEFT__SYS_LISTEN,
    WEFT__SYS_SHUTDOWN,
    WEFT__SYS_GETSOCKOPT,
    WEFT__SYS_SETSOCKOPT,
    WEFT__SYS_GETSOCKNAME,
    WEFT__SYS_READ,  /* read, pread, readv, preadv */
    WEFT__SYS_WRITE, /* write, pwrite, writev, pwritev */
    WEFT__SYS_RECV,  /* recv, recvmsg */
    WEFT__SYS_SEND,  /* send, sendmsg */
    WEFT__SYS_CLOSE,
    WEFT__SYS_EVENTFD,
    WEFT__SYS_PIPE2,
    WEFT__SYS_OPENAT,
    WEFT__SYS_FSYNC,
    WEFT__SYS_STATX,
    WEFT__SYS_SPLICE,
    WEFT__SYS_POLL,
    WEFT__SYS_SENDFILE,
    WEFT__SYS_CALL_COUNT
};

/* ------------------------------------------------------------------ sockets */

/* socket(2) with SOCK_CLOEXEC|SOCK_NONBLOCK added. Returns the fd or -errno. */
int weft__sys_socket(int domain, int type, int protocol);
/* socketpair(2) with SOCK_CLOEXEC|SOCK_NONBLOCK added. Returns 0 or -errno. */
int weft__sys_socketpair(int domain, int type, int protocol, int sv[2]);
/* accept4(2) with SOCK_CLOEXEC|SOCK_NONBLOCK. addr/addrlen may be NULL. Returns the new fd,
 * -EAGAIN when no connection is pending, -EMFILE/-ENFILE at the descriptor limit, ... */
int weft__sys_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen);
/* connect(2). On a non-blocking socket: 0, -EINPROGRESS (wait for POLLOUT, then read
 * SO_ERROR), -EALREADY, -EISCONN or the failure. */
int weft__sys_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
int weft__sys_bind(int fd, const struct sockaddr *addr, socklen_t addrlen);
int weft__sys_listen(int fd, int backlog);
int weft__sys_shutdown(int fd, int how);
int weft__sys_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int weft__sys_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int weft__sys_getsockname(int fd, struct sockaddr *addr, socklen_t *addrlen);
/* getpeername(2) (fault-injected as WEFT__SYS_GETSOCKNAME). */
int weft__sys_getpeername(int fd, struct sockaddr *addr, socklen_t *addrlen);
/* The pending error of a socket (SO_ERROR) as -errno, or 0. */
int weft__sys_socket_error(int fd);

/* ------------------------------------------------------------------ data transfer */

/* read/write at the current position when off < 0, pread/pwrite at off otherwise.
 * Return bytes or -errno. */
ssize_t weft__sys_read(int fd, void *buf, size_t len, int64_t off);
ssize_t weft__sys_write(int fd, const void *buf, size_t len, int64_t off);
/* readv/writev (off < 0) or preadv/pwritev. */
ssize_t weft__sys_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off);
ssize_t weft__sys_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off);
/* recv/recvmsg with the caller's flags (add MSG_DONTWAIT for a non-blocking attempt). */
ssize_t weft__sys_recv(int fd, void *buf, size_t len, int flags);
ssize_t weft__sys_recvmsg(int fd, struct msghdr *msg, int flags);
/* send/sendmsg; MSG_NOSIGNAL is always added. */
ssize_t weft__sys_send(int fd, const void *buf, size_t len, int flags);
ssize_t weft__sys_sendmsg(int fd, const struct msghdr *msg, int flags);
/* splice(2); off_in/off_out may be NULL (use the file position / a pipe). */
ssize_t weft__sys_splice(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, size_t len,
                         unsigned flags);
/* sendfile(2) from in_fd at *off (advanced by what was sent; the file position is unused).
 * On -EPIPE the SIGPIPE the kernel raised at this thread is taken back (it must block
 * SIGPIPE, as weft's threads do while they run tasks). */
ssize_t weft__sys_sendfile(int out_fd, int in_fd, int64_t *off, size_t len);
/* Whether reading the byte at `off` of a regular file would not wait for the disk: 1 (it is
 * in the page cache), 0 (off is at or past the end), -EAGAIN (not cached), or -errno. One
 * preadv2(RWF_NOWAIT) of one byte; counted as a READ for fault injection. */
int weft__sys_cached(int fd, int64_t off);

/* ------------------------------------------------------------------ descriptors, files */

/* close(2). Never retried; EINTR counts as success (the fd is released either way). */
int weft__sys_close(int fd);
/* eventfd(2) with EFD_CLOEXEC added (pass EFD_NONBLOCK for a non-blocking one). */
int weft__sys_eventfd(unsigned initval, int flags);
/* pipe2(2) with O_CLOEXEC added. */
int weft__sys_pipe2(int fds[2], int flags);
/* openat(2) with O_CLOEXEC added. Returns the fd or -errno. */
int weft__sys_openat(int dirfd, const char *path, int flags, mode_t mode);
/* fsync(2), or fdatasync(2) when datasync. */
int weft__sys_fsync(int fd, bool datasync);
/* statx(2). */
int weft__sys_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *buf);
/* poll(2); timeout in ms (0 = check and return). Returns the number of ready entries. */
int weft__sys_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms);

/* ------------------------------------------------------------------ close generations */

/* Every close made through weft (weft__sys_close, and io_uring CLOSE ops via
 * weft__sys_fd_closed) bumps a per-fd-number counter after the descriptor is gone. Whoever
 * caches facts about an fd number (the epoll backend's registrations, in several per-worker
 * drivers) reads the counter BEFORE it learns the fact and compares later: a different value
 * means the number may now name another file. Descriptors >= WEFT__SYS_FD_GEN_MAX are not
 * tracked: their generation reads WEFT__SYS_FD_GEN_UNKNOWN and callers must re-check.
 * Threads: any (relaxed atomics; the counters live in a 4 MiB zero-filled static table whose
 * pages the kernel only materialises for fd numbers in use). */
#define WEFT__SYS_FD_GEN_MAX (1 << 20)
#define WEFT__SYS_FD_GEN_UNKNOWN UINT32_MAX
uint32_t weft__sys_fd_gen(int fd);
void weft__sys_fd_closed(int fd);

/* ------------------------------------------------------------------ time */

/* CLOCK_MONOTONIC in ns (vDSO: no kernel entry). */
int64_t weft__sys_now(void);

/* ------------------------------------------------------------------ test seam */

/**
 * weft__sys_fault_inject - make `call` fail with -err (err > 0, e.g. EMFILE) for `count`
 * calls, after letting `skip` calls through untouched. err == 0 or count == 0 disarms `call`.
 * Injected failures do not reach the kernel. Threads: any (tests usually arm from the test
 * thread and the failure happens wherever the call is made).
 */
void weft__sys_fault_inject(enum weft__sys_call call, int err, unsigned skip, unsigned count);
/* Disarm every call. */
void weft__sys_fault_clear(void);
/* How many failures have been injected into `call` since it was last armed. */
unsigned weft__sys_fault_hits(enum weft__sys_call call);

#endif
