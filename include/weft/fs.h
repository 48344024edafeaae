/* weft/fs.h - files: open, read and write at an offset or at the current position, fsync,
 * stat, close. Design and figures: docs/design/fs.md.
 *
 * Every operation is a caller-stored future (_init / _poll / _drop, opaque-by-size, so it
 * lives inline in your task's state and costs no allocation of its own). Where it runs
 * depends on the runtime's IO backend:
 *   io_uring  the operation is an io_uring request (READ, WRITE, OPENAT, FSYNC, STATX, CLOSE)
 *             submitted by the polling worker's reactor with the rest of its tick's work;
 *   epoll     regular files cannot be waited for with epoll, so the operation runs as a job
 *             on the blocking pool's "fs" lane (weft/blocking.h), like tokio::fs does.
 * Polled outside any runtime (cx->rt == NULL) an operation runs synchronously at its first
 * poll.
 *
 *   struct copy { WEFT_ASYNC_STATE; weft_file_open open; weft_file_read rd; weft_file *f;
 *                 int err; ssize_t n; char buf[4096]; };
 *   ...
 *   weft_file_open_init(&s->open, "/etc/hostname", O_RDONLY, 0);
 *   WEFT_AWAIT(s, weft_file_open_poll(&s->open, cx, &s->f, &s->err));
 *   if (s->err < 0) ...                                  // -ENOENT, -EACCES, ...
 *   weft_file_read_init(&s->rd, s->f, s->buf, sizeof s->buf, 0);   // pread at offset 0
 *   WEFT_AWAIT(s, weft_file_read_poll(&s->rd, cx, &s->n));          // bytes, 0 at EOF, -errno
 *   weft_file_free(s->f);                                // closes the descriptor
 *
 * OWNERSHIP OF BUFFERS, AND CANCELLATION. An operation owns the memory it was given (the
 * buffer, the future itself) from its first poll until it completes - also when the future is
 * dropped early (the task aborted, a timeout fired): the kernel or a pool thread may still be
 * writing into the buffer. weft keeps the task's cell allocated until then (the operation
 * holds a reference on the task), so a buffer that lives in the task's state - the usual
 * case, and the one to prefer - is always safe. A buffer elsewhere (heap, another task) must
 * stay valid until the operation has completed: when you drop an unfinished operation you
 * cannot tell when that is, so do not free such a buffer in the same task's drop.
 * Dropping an unfinished operation cancels what can be cancelled and never blocks: on
 * io_uring a cancel request is sent; on the pool a job that has not started never runs, a
 * running one finishes. A dropped open whose file was opened anyway closes it; nothing leaks.
 *
 * Threads: a future is polled and dropped by the task that owns it (any thread that task runs
 * on). A weft_file may be used by many tasks at once; see weft_file_free for its lifetime.
 */
#ifndef WEFT_FS_H
#define WEFT_FS_H

#include <fcntl.h>
#include <sys/types.h>

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An open file: a heap object owning one descriptor (always O_CLOEXEC). Create it with
 * weft_file_open_poll or weft_file_from_fd; release it with weft_file_free. */
typedef struct weft_file weft_file;

/* Offset argument meaning "at the file's current position" (read(2)/write(2) instead of
 * pread(2)/pwrite(2)); the position then advances by the bytes moved. Concurrent
 * current-position operations on one file are ordered only by the kernel, as in POSIX. */
#define WEFT_FILE_CURRENT ((int64_t)-1)

/* ------------------------------------------------------------------ handles */

/**
 * weft_file_from_fd - wrap a descriptor the caller already has in a weft_file.
 * @fd: an open descriptor (any kind read(2)/pread(2) accept); the weft_file owns it from here
 *      on and closes it. It is not made close-on-exec: set FD_CLOEXEC yourself if it matters.
 * Threads: any. Returns 0 and sets *out; -EINVAL (NULL out, fd < 0; fd is not taken);
 * -ENOMEM (fd is not taken). *out is NULL on failure.
 * Cancellation: synchronous, nothing to cancel.
 */
WEFT_API int weft_file_from_fd(weft_file **out, int fd);

/**
 * weft_file_fd - the descriptor, for calls weft does not wrap (sendfile, mmap, fcntl).
 * It stays the caller's to use only while the weft_file is open; never close it directly.
 * Threads: any. Returns the fd; -EBADF once the file has been closed (weft_file_close or
 * weft_file_free has begun); -EINVAL on NULL.
 * Cancellation: synchronous, nothing to cancel.
 */
WEFT_API int weft_file_fd(const weft_file *file);

/**
 * weft_file_free - release the handle and close its descriptor (unless weft_file_close did).
 * Operations still in flight on the file keep the descriptor open until the last of them
 * completes (the close then happens on the thread that completes it), so a descriptor number
 * is never reused under an operation; the memory goes with the last of them. The caller must
 * not use `file` afterwards. close(2)'s own error is not reported: use weft_file_close for
 * that. NULL is a no-op.
 * Threads: any, once per file, when no other thread may still start operations on it.
 * Cancellation: operations in flight are not cancelled (drop their futures for that); the
 * descriptor waits for them.
 */
WEFT_API void weft_file_free(weft_file *file);

/* ------------------------------------------------------------------ open */

/* A caller-stored future that opens a file. Opaque-by-size. */
typedef struct weft_file_open {
    uint64_t _opaque[44];
} weft_file_open;

/**
 * weft_file_open_init - prepare to open `path` with open(2) `flags` (O_RDONLY, O_WRONLY or
 * O_RDWR, plus O_CREAT, O_TRUNC, O_APPEND, O_EXCL, O_DIRECT, O_SYNC...) and `mode` (used with
 * O_CREAT/O_TMPFILE). O_CLOEXEC is always added (F10). Relative paths resolve against the
 * process's working directory.
 * @path: borrowed until the first poll returns; that poll copies it.
 * Cannot fail: bad arguments are reported by the poll. Threads: any.
 * Cancellation: nothing starts before the first poll; an initialised future that is never
 * polled needs no drop (calling weft_file_open_drop is harmless).
 */
WEFT_API void weft_file_open_init(weft_file_open *op, const char *path, int flags, mode_t mode);

/**
 * weft_file_open_poll - drive the open. On WEFT_READY *result is 0 and *file a new weft_file
 * (yours: release it with weft_file_free), or *result is a negative errno and *file is NULL:
 * -ENOENT, -EACCES, -EISDIR (a directory opened for writing), -EEXIST (O_CREAT|O_EXCL),
 * -EMFILE, -ENOMEM, -EINVAL (NULL path, file or result; bad flags), any other open(2) error.
 * Do not poll it again after READY. Threads: the owning task.
 * Cancellation: the first poll starts the open; from then on an unfinished future must be
 * released with weft_file_open_drop.
 */
WEFT_API weft_poll weft_file_open_poll(weft_file_open *op, weft_cx *cx, weft_file **file,
                                       int *result);

/**
 * weft_file_open_drop - release an unfinished open (call it from your future's drop).
 * Harmless after READY, on an initialised but never polled future, and twice.
 * Cancellation: the open may still complete in the background; a file it opens is closed
 * there and never reaches you. Threads: the owning task, or whoever drops its state.
 */
WEFT_API void weft_file_open_drop(weft_file_open *op);

/* Flags for weft_file_open_beneath_init (resolve_flags). */
#define WEFT_OPEN_NO_SYMLINKS 0x1u /* refuse every symbolic link on the way (-ELOOP) */
#define WEFT_OPEN_NO_XDEV     0x2u /* refuse to cross a mount point (-EXDEV) */

/**
 * weft_file_open_beneath_init - like weft_file_open_init, but `path` resolves against the
 * directory `dirfd` and may never leave it: openat2(2) with RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS (plus RESOLVE_NO_SYMLINKS / RESOLVE_NO_XDEV for the flags above).
 * An absolute path, a ".." that would climb above `dirfd`, or a symbolic link whose target
 * lies outside fail with -EXDEV; /proc magic links fail with -ELOOP. Symbolic links that stay
 * inside are followed unless WEFT_OPEN_NO_SYMLINKS (then -ELOOP). Meant for serving files
 * from a root directory: open the root once (O_DIRECTORY|O_PATH is enough), then open each
 * request path with this.
 * @dirfd: an open directory; stays the caller's and must stay open until the open completes.
 * @resolve_flags: 0 or WEFT_OPEN_NO_SYMLINKS | WEFT_OPEN_NO_XDEV.
 * Poll and drop it with weft_file_open_poll / weft_file_open_drop. Extra errors: -EINVAL
 * (dirfd < 0, unknown resolve_flags, mode given with flags openat2 refuses), -EXDEV, -ELOOP,
 * -EAGAIN (the kernel asks to retry after a concurrent rename; rare), and -ENOSYS when the
 * kernel lacks openat2 (Linux < 5.6; both backends). There is deliberately no fallback:
 * a user-space walk cannot match the kernel's guarantee against concurrent renames, so on
 * -ENOSYS refuse the request rather than opening the path another way.
 * Threads: any. Cancellation: as weft_file_open_init.
 */
WEFT_API void weft_file_open_beneath_init(weft_file_open *op, int dirfd, const char *path,
                                          int flags, mode_t mode, unsigned resolve_flags);

/* ------------------------------------------------------------------ read */

/* A caller-stored future that reads from a file. Opaque-by-size. */
typedef struct weft_file_read {
    uint64_t _opaque[44];
} weft_file_read;

/**
 * weft_file_read_init - prepare one read of up to `len` bytes into `buf` at `offset` (>= 0,
 * pread(2)) or at WEFT_FILE_CURRENT (read(2)). Like pread, it may return fewer bytes than
 * asked (at end of file, or above 0x7ffff000 bytes, the kernel's per-call limit).
 * @file: borrowed; must stay valid (not freed) until the future is READY or dropped.
 * @buf:  owned by the operation from the first poll until it completes (see the top comment).
 * Cannot fail: bad arguments are reported by the poll. Threads: any.
 * Cancellation: nothing starts before the first poll.
 */
WEFT_API void weft_file_read_init(weft_file_read *op, weft_file *file, void *buf, size_t len,
                                  int64_t offset);

/**
 * weft_file_read_all_init - like weft_file_read_init, but read until `len` bytes are in
 * `buf` or the file ends: the result is len, or fewer only at end of file. With an offset,
 * each further read continues where the previous one stopped. Same ownership, threads and
 * cancellation; a dropped read_all stops after the read in flight.
 */
WEFT_API void weft_file_read_all_init(weft_file_read *op, weft_file *file, void *buf, size_t len,
                                      int64_t offset);

/**
 * weft_file_read_poll - drive the read. On WEFT_READY *n is the number of bytes read (0 at
 * end of file or for len 0) or a negative errno: -EBADF (the file was closed, or not open for
 * reading), -EISDIR, -EINVAL (NULL file or buf with len > 0, offset < 0 other than
 * WEFT_FILE_CURRENT, a misaligned O_DIRECT read), -EIO, -ECANCELED (the runtime is shutting
 * down), any other read(2) error. A read_all that fails after some bytes reports the error;
 * the bytes already in buf stay there. Do not poll it again after READY.
 * Threads: the owning task.
 * Cancellation: from the first poll on, release an unfinished read with weft_file_read_drop.
 */
WEFT_API weft_poll weft_file_read_poll(weft_file_read *op, weft_cx *cx, ssize_t *n);

/**
 * weft_file_read_drop - release an unfinished read (call it from your future's drop).
 * Harmless after READY, before the first poll, and twice.
 * Cancellation: see the top comment - the buffer stays owned by the operation until it
 * completes; the task's cell is kept until then. Threads: as weft_file_open_drop.
 */
WEFT_API void weft_file_read_drop(weft_file_read *op);

/* ------------------------------------------------------------------ write */

/* A caller-stored future that writes to a file. Opaque-by-size. */
typedef struct weft_file_write {
    uint64_t _opaque[44];
} weft_file_write;

/**
 * weft_file_write_init - prepare one write of up to `len` bytes from `buf` at `offset`
 * (>= 0, pwrite(2)) or at WEFT_FILE_CURRENT (write(2); with O_APPEND, at the end). It may
 * write fewer bytes than asked (a full disk, RLIMIT_FSIZE, the 0x7ffff000 per-call limit).
 * @file: borrowed until READY or drop. @buf: read by the operation from the first poll until
 * it completes; do not change it meanwhile.
 * Cannot fail: bad arguments are reported by the poll. Threads: any.
 * Cancellation: nothing starts before the first poll.
 */
WEFT_API void weft_file_write_init(weft_file_write *op, weft_file *file, const void *buf,
                                   size_t len, int64_t offset);

/**
 * weft_file_write_all_init - like weft_file_write_init, but keep writing until all `len`
 * bytes are written: the result is len or an error. Same ownership, threads and
 * cancellation; a dropped write_all stops after the write in flight.
 */
WEFT_API void weft_file_write_all_init(weft_file_write *op, weft_file *file, const void *buf,
                                       size_t len, int64_t offset);

/**
 * weft_file_write_poll - drive the write. On WEFT_READY *n is the number of bytes written or
 * a negative errno: -EBADF (closed, or not open for writing), -EINVAL (as for reads),
 * -ENOSPC, -EFBIG, -EDQUOT, -EIO (also when the kernel accepted 0 bytes of a write_all),
 * -ECANCELED (the runtime is shutting down), any other write(2) error. A write_all that fails
 * midway reports the error; an unknown prefix of the data may have been written.
 * Do not poll it again after READY. Threads: the owning task.
 * Cancellation: from the first poll on, release an unfinished write with weft_file_write_drop.
 */
WEFT_API weft_poll weft_file_write_poll(weft_file_write *op, weft_cx *cx, ssize_t *n);

/**
 * weft_file_write_drop - release an unfinished write (call it from your future's drop).
 * Harmless after READY, before the first poll, and twice.
 * Cancellation: the write may still happen (completely or in part); buf stays owned by it
 * until it completes. Threads: as weft_file_open_drop.
 */
WEFT_API void weft_file_write_drop(weft_file_write *op);

/* ------------------------------------------------------------------ sync */

/* A caller-stored future that flushes a file to its storage. Opaque-by-size. */
typedef struct weft_file_sync {
    uint64_t _opaque[44];
} weft_file_sync;

/**
 * weft_file_sync_init - prepare fsync(2), or fdatasync(2) when data_only (skips metadata such
 * as the modification time that is not needed to read the data back).
 * @file: borrowed until READY or drop. Cannot fail. Threads: any.
 * Cancellation: nothing starts before the first poll.
 */
WEFT_API void weft_file_sync_init(weft_file_sync *op, weft_file *file, bool data_only);

/**
 * weft_file_sync_poll - drive the flush. On WEFT_READY *result is 0 or a negative errno:
 * -EBADF (closed), -EIO (a write-back failed: data may be lost), -ENOSPC, -EDQUOT, -EROFS,
 * -EINVAL (NULL file; a file that cannot be synced), -ECANCELED (shutting down).
 * Threads: the owning task.
 * Cancellation: from the first poll on, release an unfinished flush with weft_file_sync_drop.
 */
WEFT_API weft_poll weft_file_sync_poll(weft_file_sync *op, weft_cx *cx, int *result);

/**
 * weft_file_sync_drop - release an unfinished flush. Harmless when finished or never polled.
 * Cancellation: a flush already handed to the kernel or the pool completes in the background.
 * Threads: as weft_file_open_drop.
 */
WEFT_API void weft_file_sync_drop(weft_file_sync *op);

/* ------------------------------------------------------------------ stat */

/* What weft_file_stat_poll reports (from statx(2)). Times are ns since the Unix epoch.
 * A plain value: copy it freely; any thread. */
typedef struct weft_file_info {
    uint64_t size;      /* bytes */
    uint64_t blocks;    /* 512-byte blocks allocated */
    uint64_t ino;       /* inode number */
    uint64_t dev;       /* device of the filesystem (makedev(major, minor)) */
    uint64_t rdev;      /* the device itself, for device files */
    uint32_t mode;      /* type and permission bits (S_ISREG(mode), mode & 0777) */
    uint32_t nlink;     /* hard links */
    uint32_t uid, gid;  /* owner */
    uint32_t blksize;   /* preferred IO size */
    uint32_t has_btime; /* 1 when btime_ns is known (the filesystem reports creation times) */
    int64_t atime_ns, mtime_ns, ctime_ns, btime_ns;
} weft_file_info;

/* A caller-stored future that reads a file's metadata. Opaque-by-size (it holds the kernel's
 * statx buffer, so it is larger than the others). */
typedef struct weft_file_stat {
    uint64_t _opaque[76];
} weft_file_stat;

/**
 * weft_file_stat_init - prepare fstat of an open file (statx with AT_EMPTY_PATH).
 * @file: borrowed until READY or drop. Cannot fail. Threads: any.
 * Cancellation: nothing starts before the first poll.
 */
WEFT_API void weft_file_stat_init(weft_file_stat *op, weft_file *file);

/**
 * weft_file_stat_path_init - prepare stat of `path` without opening it; symbolic links are
 * followed unless follow_links is false (lstat). @path: borrowed until the first poll returns
 * (it is copied then). Cannot fail. Threads: any.
 * Cancellation: nothing starts before the first poll.
 */
WEFT_API void weft_file_stat_path_init(weft_file_stat *op, const char *path, bool follow_links);

/**
 * weft_file_stat_poll - drive the stat. On WEFT_READY *result is 0 and *info filled in, or a
 * negative errno (info untouched): -ENOENT, -ENOTDIR, -EACCES, -ELOOP, -ENAMETOOLONG (paths);
 * -EBADF (a closed file); -ENOMEM; -EINVAL (NULL info, file, path or result);
 * -ECANCELED (shutting down). Threads: the owning task.
 * Cancellation: from the first poll on, release an unfinished stat with weft_file_stat_drop.
 */
WEFT_API weft_poll weft_file_stat_poll(weft_file_stat *op, weft_cx *cx, weft_file_info *info,
                                       int *result);

/**
 * weft_file_stat_drop - release an unfinished stat. Harmless when finished or never polled.
 * Cancellation: as for reads (the kernel's buffer lives inside the future, which stays
 * allocated until the operation completes). Threads: as weft_file_open_drop.
 */
WEFT_API void weft_file_stat_drop(weft_file_stat *op);

/* ------------------------------------------------------------------ close */

/* A caller-stored future that closes a file's descriptor and reports close(2)'s result.
 * Opaque-by-size. */
typedef struct weft_file_close {
    uint64_t _opaque[44];
} weft_file_close;

/**
 * weft_file_close_init - prepare to close `file`'s descriptor. The handle stays allocated
 * (operations started on it afterwards fail with -EBADF): release it with weft_file_free,
 * which you must still call. Cannot fail. Threads: any.
 * Cancellation: nothing happens before the first poll; an unpolled close closes nothing.
 */
WEFT_API void weft_file_close_init(weft_file_close *op, weft_file *file);

/**
 * weft_file_close_poll - drive the close. New operations on the file fail with -EBADF from
 * the first poll on. On WEFT_READY *result is 0 or a negative errno: -EIO (a write-back
 * error reported at close, NFS), -EBADF (already closed), -EINVAL (NULL file or result).
 * If other operations are still in flight on the file, the descriptor is closed when the
 * last of them completes and *result is 0 (close's own error is then not reported).
 * Threads: the owning task.
 * Cancellation: see weft_file_close_drop.
 */
WEFT_API weft_poll weft_file_close_poll(weft_file_close *op, weft_cx *cx, int *result);

/**
 * weft_file_close_drop - release an unfinished close. Harmless when finished or never polled.
 * Cancellation: once polled, the descriptor is closed whatever happens to the future.
 * Threads: as weft_file_open_drop.
 */
WEFT_API void weft_file_close_drop(weft_file_close *op);

#ifdef __cplusplus
}
#endif
#endif
