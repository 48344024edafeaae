/* weft/io.h - byte streams, the futures that read and write them, and buffered IO.
 *
 * A weft_stream is a small heap handle around a descriptor that moves bytes: a TCP or Unix
 * stream socket (net.h creates those), a pipe, or a file read and written at a position it
 * keeps. The futures below work on any of them; behind each is one kernel operation at a
 * time on the calling worker's reactor (io_uring or epoll, io.h's backends).
 *
 *   weft_read_some   one read: up to len bytes, 0 at end of stream
 *   weft_read_exact  len bytes, looping over short reads
 *   weft_write       one write: some bytes (a short count is possible)
 *   weft_write_all   every byte, looping over short writes
 *   weft_readv / weft_writev   one scatter/gather transfer
 *   weft_bufreader + weft_read_until / weft_read_line / weft_bufreader_read_exact /
 *   weft_bufreader_fill, and weft_bufwriter + weft_bufwriter_write / weft_bufwriter_flush
 *
 * Shapes (STYLE.md): futures are opaque-by-size structs you embed in your state; `_init`
 * cannot fail and touches nothing shared; `_poll` returns WEFT_PENDING or WEFT_READY and
 * writes the result (bytes >= 0, or -errno) through its out-parameter; `_drop` must be called
 * on a future abandoned before READY (a task's drop function calls it), and is a no-op on a
 * finished, never-polled or zero-filled future. A future must not move while pending.
 *
 * Buffers. From the first poll until READY (or until the op ends after a drop), the kernel
 * may read or write the buffer you passed: it must stay valid and untouched. A buffer inside
 * your task's state is always safe: a task whose future was dropped with an operation in
 * flight stays allocated until the kernel has let go (DESIGN decision 12). So is a future and
 * buffer on a fiber's stack: its `_drop` waits until the kernel has let go, since the frame
 * dies with the call. A buffer elsewhere (heap, stack of another thread) must outlive the
 * operation: free it only after READY.
 *
 * Deadlines. Every future takes an absolute deadline (weft_deadline_in(WEFT_SEC(5)), or
 * WEFT_NEVER). It covers the whole future (every loop iteration of write_all). When it
 * passes, the operation in flight is cancelled and the future finishes with -ETIMEDOUT once
 * the kernel has confirmed (if the operation completed first, its real result wins).
 *
 * Cancellation: dropping a pending future cancels the operation in flight (asynchronously:
 * the drop returns at once); bytes a read had already received into your buffer before the
 * drop are lost to you, and a write may have sent part of its data.
 *
 * Threads: a future is polled by one task at a time, on any worker (tasks migrate; the
 * operation is submitted on the reactor of the thread that polls, and from a thread that is
 * no worker through worker 0's remote queue). Handles may be used from any thread.
 */
#ifndef WEFT_IO_H
#define WEFT_IO_H

#include "base.h"
#include "task.h"

struct iovec;

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ backends */

/* Values of weft_rt_config.io_backend. WEFT_IO_BACKEND=uring|epoll in the environment
 * overrides the config. */
enum {
    WEFT_IO_BACKEND_AUTO = 0,  /* io_uring when the kernel allows it, else epoll */
    WEFT_IO_BACKEND_URING = 1,
    WEFT_IO_BACKEND_EPOLL = 2,
};

/* The backend rt's reactors use (WEFT_IO_BACKEND_URING or _EPOLL), or -EINVAL (NULL).
 * Threads: any, while rt is alive. */
WEFT_API int weft_io_backend(weft_rt *rt);
/* "io_uring/defer_taskrun", "io_uring/coop_taskrun", "io_uring/plain", "epoll" ("?" on
 * NULL). Static storage. Threads: any, while rt is alive. */
WEFT_API const char *weft_io_backend_name(weft_rt *rt);

/* ------------------------------------------------------------------ streams */

/* A byte stream handle. TCP and Unix stream sockets are weft_streams (net.h's
 * weft_tcp_stream and weft_unix_stream are the same type). */
typedef struct weft_stream weft_stream;

/* What moves the bytes of a stream built with weft_stream_from_fd. */
typedef enum weft_stream_kind {
    WEFT_STREAM_SOCKET = 1, /* a connected stream socket: recv/send with MSG_NOSIGNAL */
    WEFT_STREAM_FILE = 2,   /* a file: read/write at the stream's position, which advances */
    WEFT_STREAM_PIPE = 3,   /* a pipe, tty or character device: read/write */
} weft_stream_kind;

/* weft_stream_from_fd flags. */
#define WEFT_STREAM_BORROW_FD 1u /* the fd stays the caller's: weft_stream_close does not
                                    close it (the caller closes it after the handle is gone) */

/**
 * weft_stream_from_fd - wrap a descriptor in a stream handle.
 * @fd:     an open descriptor; sockets and pipes must be O_NONBLOCK (the epoll backend
 *          performs transfers with plain system calls and would block the worker).
 * @kind:   how to move bytes (see weft_stream_kind).
 * @offset: WEFT_STREAM_FILE: the position of the first transfer; ignored otherwise.
 * @flags:  0 or WEFT_STREAM_BORROW_FD.
 * Ownership: on success the handle owns fd (unless borrowed) and the caller owns the handle:
 * release it with weft_stream_close(). On failure fd is untouched and still the caller's.
 * Threads: any. Returns 0; -EINVAL (NULL out, fd < 0, bad kind or flags, offset < 0 for a
 * file); -ENOMEM. *out is NULL on failure.
 */
WEFT_API int weft_stream_from_fd(weft_stream **out, int fd, weft_stream_kind kind,
                                 int64_t offset, unsigned flags);

/**
 * weft_stream_close - release the caller's ownership of s (one owner; see
 * weft_stream_retain). When the last owner closes: operations pending on a socket are
 * kicked out of the kernel and complete with -ECANCELED (non-socket streams: drop their
 * futures first, their drop cancels them); the fd is closed once the last operation has
 * completed, so no operation ever runs on a recycled fd number.
 * Rule: close is an owner's last call on the handle. Futures already started on s may still
 * be polled or dropped afterwards; do not start new ones.
 * NULL is a no-op. Threads: any.
 */
WEFT_API void weft_stream_close(weft_stream *s);

/* Add an owner (for a reader task and a writer task sharing one socket): each owner calls
 * weft_stream_close() once. Returns s (NULL on NULL). Threads: any. */
WEFT_API weft_stream *weft_stream_retain(weft_stream *s);

/* The descriptor (for options weft does not wrap), or -EINVAL on NULL. Still owned by the
 * handle: do not close it. Threads: any. */
WEFT_API int weft_stream_fd(const weft_stream *s);

/* The stream's kind, or -EINVAL on NULL. Threads: any. */
WEFT_API int weft_stream_kind_of(const weft_stream *s);

/* ------------------------------------------------------------------ read and write futures */

/* One read or write future (read_some, read_exact, write, write_all). Opaque-by-size. */
typedef struct weft_read_some {
    uint64_t _opaque[48];
} weft_read_some;
typedef weft_read_some weft_read_exact;
typedef weft_read_some weft_write;
typedef weft_read_some weft_write_all;

/**
 * weft_read_some_init - read up to len bytes from s into buf (one kernel read).
 * Result: the bytes read (1..len), 0 at end of stream (or len == 0), or -errno:
 * -ETIMEDOUT, -ECONNRESET, -ECANCELED (s was closed), -EINVAL (NULL s, or buf NULL with
 * len > 0), ... Cannot fail. Threads: any.
 */
WEFT_API void weft_read_some_init(weft_read_some *f, weft_stream *s, void *buf, size_t len,
                                  int64_t deadline);
/* Poll: on WEFT_READY *result holds the result above. Threads: the owning task. */
WEFT_API weft_poll weft_read_some_poll(weft_read_some *f, weft_cx *cx, ssize_t *result);
/* Cancel and forget (see the top comment). Harmless when finished or zero-filled; NULL ok.
 * Threads: any, not concurrently with a poll of f. Cancellation: the cancellation path. */
WEFT_API void weft_read_some_drop(weft_read_some *f);

/**
 * weft_read_exact_init - read exactly len bytes into buf, looping over short reads.
 * Result: len; 0 when the stream ended before the first byte (a clean end); -EPIPE when it
 * ended after some but not all bytes (weft_io_progress() tells how many arrived); or -errno
 * as weft_read_some. Cannot fail. Threads: any.
 */
WEFT_API void weft_read_exact_init(weft_read_exact *f, weft_stream *s, void *buf, size_t len,
                                   int64_t deadline);
WEFT_API weft_poll weft_read_exact_poll(weft_read_exact *f, weft_cx *cx, ssize_t *result);
WEFT_API void weft_read_exact_drop(weft_read_exact *f);

/**
 * weft_write_init - write up to len bytes of buf to s (one kernel write; sockets never raise
 * SIGPIPE). Result: the bytes written (a short count is possible), or -errno: -EPIPE or
 * -ECONNRESET (peer gone), -ETIMEDOUT, -ECANCELED, -EINVAL. Cannot fail. Threads: any.
 */
WEFT_API void weft_write_init(weft_write *f, weft_stream *s, const void *buf, size_t len,
                              int64_t deadline);
WEFT_API weft_poll weft_write_poll(weft_write *f, weft_cx *cx, ssize_t *result);
WEFT_API void weft_write_drop(weft_write *f);

/**
 * weft_write_all_init - write all len bytes of buf, looping over short writes.
 * Result: len, or -errno as weft_write (weft_io_progress() then tells how many bytes were
 * written before the error). Cannot fail. Threads: any.
 */
WEFT_API void weft_write_all_init(weft_write_all *f, weft_stream *s, const void *buf,
                                  size_t len, int64_t deadline);
WEFT_API weft_poll weft_write_all_poll(weft_write_all *f, weft_cx *cx, ssize_t *result);
WEFT_API void weft_write_all_drop(weft_write_all *f);

/* Bytes a read/write future (any of the four) has transferred so far. 0 on NULL.
 * Threads: the owning task. */
WEFT_API size_t weft_io_progress(const weft_read_some *f);

/* A scatter/gather future. Opaque-by-size. */
typedef struct weft_readv {
    uint64_t _opaque[56];
} weft_readv;
typedef weft_readv weft_writev;

/**
 * weft_readv_init - one scatter read into iovcnt buffers (1..1024). The iovec array and the
 * buffers must stay valid until READY. Result: bytes read, 0 at end of stream, or -errno as
 * weft_read_some (-EINVAL for a NULL iov or a bad iovcnt). Cannot fail. Threads: any.
 */
WEFT_API void weft_readv_init(weft_readv *f, weft_stream *s, const struct iovec *iov,
                              int iovcnt, int64_t deadline);
WEFT_API weft_poll weft_readv_poll(weft_readv *f, weft_cx *cx, ssize_t *result);
WEFT_API void weft_readv_drop(weft_readv *f);

/**
 * weft_writev_init - one gather write from iovcnt buffers (1..1024); a short count is
 * possible. Result: bytes written or -errno as weft_write. Cannot fail. Threads: any.
 */
WEFT_API void weft_writev_init(weft_writev *f, weft_stream *s, const struct iovec *iov,
                               int iovcnt, int64_t deadline);
WEFT_API weft_poll weft_writev_poll(weft_writev *f, weft_cx *cx, ssize_t *result);
WEFT_API void weft_writev_drop(weft_writev *f);

/* ------------------------------------------------------------------ buffered reader */

/* The default buffer size of buffered readers and writers. */
#define WEFT_BUF_DEFAULT 8192

/* A buffered reader over a stream: a buffer (caller-provided or allocated), the bytes read
 * ahead, and views into them. Opaque-by-size; lives in your state. One task at a time. */
typedef struct weft_bufreader {
    uint64_t _opaque[6];
} weft_bufreader;

/**
 * weft_bufreader_init - read s through buf[0..cap).
 * @buf: the caller's buffer (it must outlive the reader and every future on it), or NULL to
 *       allocate cap bytes (cap 0 = WEFT_BUF_DEFAULT), freed by weft_bufreader_fini().
 * Ownership: s stays the caller's; the reader only borrows it.
 * Threads: any. Returns 0; -EINVAL (NULL rd or s, buf given with cap 0); -ENOMEM.
 * On failure *rd is empty (fini is a no-op).
 */
WEFT_API int weft_bufreader_init(weft_bufreader *rd, weft_stream *s, void *buf, size_t cap);
/* Free an allocated buffer. Drop every future on rd first: a fill still in flight then keeps
 * the buffer until the kernel lets go. Harmless on a zero-filled reader; NULL ok. */
WEFT_API void weft_bufreader_fini(weft_bufreader *rd);
/* A view of the buffered bytes: valid until the next fill, read or consume on rd. */
WEFT_API const char *weft_bufreader_data(const weft_bufreader *rd);
/* How many bytes are buffered (0 on NULL). */
WEFT_API size_t weft_bufreader_len(const weft_bufreader *rd);
/* The buffer's capacity (0 on NULL). */
WEFT_API size_t weft_bufreader_cap(const weft_bufreader *rd);
/* Forget the first n buffered bytes (n is clamped to what is buffered). */
WEFT_API void weft_bufreader_consume(weft_bufreader *rd, size_t n);
/* True once the stream reported its end (buffered bytes may remain). */
WEFT_API bool weft_bufreader_eof(const weft_bufreader *rd);

/* A future on a buffered reader (fill, read_until, read_line, read_exact). Opaque-by-size. */
typedef struct weft_bufreader_fill {
    uint64_t _opaque[54];
} weft_bufreader_fill;
typedef weft_bufreader_fill weft_read_until;
typedef weft_bufreader_fill weft_read_line;
typedef weft_bufreader_fill weft_bufreader_read_exact;

/**
 * weft_bufreader_fill_init - read once more into the free part of the buffer (moving the
 * buffered bytes to its start first if needed). Result: the bytes added, 0 at end of
 * stream, -ENOBUFS when the buffer is already full, or -errno as weft_read_some.
 * Cannot fail. Threads: any.
 */
WEFT_API void weft_bufreader_fill_init(weft_bufreader_fill *f, weft_bufreader *rd,
                                       int64_t deadline);
WEFT_API weft_poll weft_bufreader_fill_poll(weft_bufreader_fill *f, weft_cx *cx,
                                            ssize_t *result);
/* Drop any buffered-reader future (fill, read_until, read_line, read_exact). Harmless when
 * finished or zero-filled; NULL ok. Cancellation: bytes already read stay buffered (fill,
 * read_until, read_line), or are lost with the future (read_exact). */
WEFT_API void weft_bufreader_fill_drop(weft_bufreader_fill *f);

/**
 * weft_read_until_init - read until `delim` is buffered. Nothing is consumed: on success the
 * line is the first `result` bytes of weft_bufreader_data(rd), delimiter included; consume
 * them when done with them. Result: the length up to and including the delimiter; at end of
 * stream the length of what is buffered (no delimiter; 0 = nothing left); -EMSGSIZE when
 * the buffer is full without a delimiter; or -errno as weft_read_some.
 * Cannot fail. Threads: any.
 */
WEFT_API void weft_read_until_init(weft_read_until *f, weft_bufreader *rd, int delim,
                                   int64_t deadline);
WEFT_API weft_poll weft_read_until_poll(weft_read_until *f, weft_cx *cx, ssize_t *result);
WEFT_API void weft_read_until_drop(weft_read_until *f);

/* weft_read_until with '\n' (the "\r\n" case is left to the caller: the line ends in
 * "\r\n"). Same result, threads and cancellation. */
WEFT_API void weft_read_line_init(weft_read_line *f, weft_bufreader *rd, int64_t deadline);
WEFT_API weft_poll weft_read_line_poll(weft_read_line *f, weft_cx *cx, ssize_t *result);
WEFT_API void weft_read_line_drop(weft_read_line *f);

/**
 * weft_bufreader_read_exact_init - copy exactly n bytes into dst and consume them: buffered
 * bytes first, then reads (a read of n or more bytes goes straight into dst). Result: n;
 * 0 at a clean end of stream (nothing buffered, nothing read); -EPIPE when the stream ended
 * midway; or -errno as weft_read_some. dst must stay valid until READY.
 * Cannot fail. Threads: any.
 */
WEFT_API void weft_bufreader_read_exact_init(weft_bufreader_read_exact *f, weft_bufreader *rd,
                                             void *dst, size_t n, int64_t deadline);
WEFT_API weft_poll weft_bufreader_read_exact_poll(weft_bufreader_read_exact *f, weft_cx *cx,
                                                  ssize_t *result);
WEFT_API void weft_bufreader_read_exact_drop(weft_bufreader_read_exact *f);

/* ------------------------------------------------------------------ buffered writer */

/* A buffered writer: small writes are copied into a buffer that goes out in one write when
 * it fills or on flush. Opaque-by-size; lives in your state. One task at a time. */
typedef struct weft_bufwriter {
    uint64_t _opaque[5];
} weft_bufwriter;

/**
 * weft_bufwriter_init - write to s through buf[0..cap) (NULL: allocate cap bytes, 0 =
 * WEFT_BUF_DEFAULT; freed by weft_bufwriter_fini). s stays the caller's.
 * Threads: any. Returns 0; -EINVAL (NULL wr or s, buf with cap 0); -ENOMEM.
 */
WEFT_API int weft_bufwriter_init(weft_bufwriter *wr, weft_stream *s, void *buf, size_t cap);
/* Free an allocated buffer WITHOUT flushing (await weft_bufwriter_flush first to keep the
 * data). Drop every future on wr first. Harmless on a zero-filled writer; NULL ok. */
WEFT_API void weft_bufwriter_fini(weft_bufwriter *wr);
/* Bytes buffered and not yet written (0 on NULL). */
WEFT_API size_t weft_bufwriter_len(const weft_bufwriter *wr);
/* Copy up to len bytes into the free part of the buffer now, without writing; returns how
 * many were taken (0 when full; 0 on NULL). */
WEFT_API size_t weft_bufwriter_put(weft_bufwriter *wr, const void *data, size_t len);

/* A buffered-writer future (write, flush). Opaque-by-size. */
typedef struct weft_bufwriter_write {
    uint64_t _opaque[54];
} weft_bufwriter_write;
typedef weft_bufwriter_write weft_bufwriter_flush;

/**
 * weft_bufwriter_write_init - write len bytes through the buffer: copied if they fit,
 * otherwise the buffer is flushed first (and data of a buffer's size or more is written
 * directly). data must stay valid until READY. Result: len, or -errno as weft_write_all
 * (bytes still buffered stay buffered). Cannot fail. Threads: any.
 */
WEFT_API void weft_bufwriter_write_init(weft_bufwriter_write *f, weft_bufwriter *wr,
                                        const void *data, size_t len, int64_t deadline);
WEFT_API weft_poll weft_bufwriter_write_poll(weft_bufwriter_write *f, weft_cx *cx,
                                             ssize_t *result);
/* Drop any buffered-writer future. Harmless when finished or zero-filled; NULL ok.
 * Cancellation: what was written stays written; the rest stays buffered. */
WEFT_API void weft_bufwriter_write_drop(weft_bufwriter_write *f);

/* Write every buffered byte. Result: the bytes written (0 when nothing was buffered), or
 * -errno (what was not written stays buffered). Cannot fail. Threads: any. */
WEFT_API void weft_bufwriter_flush_init(weft_bufwriter_flush *f, weft_bufwriter *wr,
                                        int64_t deadline);
WEFT_API weft_poll weft_bufwriter_flush_poll(weft_bufwriter_flush *f, weft_cx *cx,
                                             ssize_t *result);
WEFT_API void weft_bufwriter_flush_drop(weft_bufwriter_flush *f);

/* ------------------------------------------------------------------ zero-copy file sending */

/* A file-to-socket transfer future. Opaque-by-size. */
typedef struct weft_sendfile {
    uint64_t _opaque[60];
} weft_sendfile;

/**
 * weft_sendfile_init - send len bytes of the file `file_fd` from `offset` to the stream s
 * without copying them through user space: sendfile(2) straight from the page cache while the
 * data is cached (no pipe; the task waits for POLLOUT through the reactor when the socket is
 * full), else splice(2) file -> pipe -> socket, which io_uring runs off the worker so a cold
 * file never blocks it (on epoll the splice is synchronous). Where the kernel refuses splice
 * for this pair (EINVAL, ENOSYS, EOPNOTSUPP) the transfer falls back to read + write through
 * a 64 KiB bounce buffer, transparently. For a response head followed by a large body, cork
 * the socket around both (weft_tcp_set_cork) so they leave in full segments.
 * The file fd stays the caller's (it must stay open until READY; its file position is not
 * used or moved).
 * Result: the bytes sent. It equals len unless the file ended first (truncated or shorter
 * than asked: the count is then what was really sent, F11); or -errno when the transfer
 * failed (-EPIPE / -ECONNRESET: peer gone, never SIGPIPE; -ETIMEDOUT; -ECANCELED; -EINVAL:
 * NULL s, file_fd < 0, offset < 0; -ENOMEM; -EMFILE: no fds for the pipe):
 * weft_sendfile_sent() tells how many bytes had gone out before the error.
 * Cannot fail. Threads: any.
 */
WEFT_API void weft_sendfile_init(weft_sendfile *f, weft_stream *s, int file_fd, int64_t offset,
                                 size_t len, int64_t deadline);
WEFT_API weft_poll weft_sendfile_poll(weft_sendfile *f, weft_cx *cx, ssize_t *result);
/* Cancel and forget; the pipe and bounce buffer are released once the kernel lets go.
 * Harmless when finished or zero-filled; NULL ok. Cancellation: the cancellation path. */
WEFT_API void weft_sendfile_drop(weft_sendfile *f);
/* Bytes sent so far (0 on NULL). Threads: the owning task. */
WEFT_API size_t weft_sendfile_sent(const weft_sendfile *f);
/* True when the transfer used (or switched to) the read+write fallback. */
WEFT_API bool weft_sendfile_fell_back(const weft_sendfile *f);

#ifdef __cplusplus
}
#endif
#endif
