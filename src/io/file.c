/* src/io/file.c - weft_file handles and the file futures of weft/fs.h (docs/design/fs.md).
 *
 * HANDLE. A weft_file is { word, fd }. `word` packs HANDLE (the user has not freed it),
 * CLOSING (a close was asked for: new operations fail with -EBADF), FD_GONE (the descriptor's
 * close has been claimed) and, above them, the number of operations in flight. Every change
 * is one CAS, decided on the value it replaces, and the fd is read before the CAS (it is
 * immutable), so after its CAS a thread touches the file only if that CAS made it the owner
 * of what is left: the descriptor closes exactly once, when CLOSING is set and no operation
 * is in flight, and the memory goes exactly once, when HANDLE is clear and none is in flight.
 *
 * FUTURES. Every future is a `struct fop` (opaque-by-size in fs.h) whose op (inside the
 * embedded struct weft__io_wait) describes the system call. A poll runs one or more
 * sub-operations (read_all and write_all loop) through one of three paths:
 *   DRIVER  io_uring backend: weft__io_wait_start submits the op to the polling thread's
 *           reactor; fop_done runs on the reactor thread when it completes. The wait holds a
 *           task reference while in flight (io.h).
 *   POOL    epoll backend: the op becomes a job on the blocking pool's fs lane (fs_job runs
 *           weft__io_perform on a pool thread, storing the result in f->res); the future
 *           awaits the job's join. f->task_ref, a clone of the task's waker taken at start,
 *           keeps the task's cell - the future and its buffer - allocated while the job may
 *           touch it. If spawning fails (queue cap, no memory) the op takes the DRIVER path,
 *           where the epoll reactor performs it synchronously.
 *   INLINE  polled outside a runtime (cx->rt == NULL): performed at once.
 *
 * ABANDONMENT (a future dropped with a sub-operation in flight). The operation must finish
 * before anything it uses is released, and it may own something the future never saw (the
 * descriptor a dropped open created). Whoever learns last that (a) the future is gone and
 * (b) the operation has completed runs `abandon_cleanup`: close that descriptor, free the
 * path copy, end the operation on the file.
 *   DRIVER: f->fin collects FIN_DONE (fop_done) and FIN_DROPPED (drop) with fetch_or; the
 *           second one cleans up. fop_done then lets weft__io_wait_done release the task ref.
 *   POOL:   drop aborts the job's join (a queued job then never runs) and re-polls the join
 *           with a hook waker (hook_vtable): if the job has ended the cleanup runs at once;
 *           otherwise the job cell's completion calls hook wake_by_ref (which detaches the
 *           join) and then drops the hook (which cleans up and finally drops task_ref, the
 *           last touch of the future's memory). f->cleaned makes the cleanup run once
 *           whichever of these gets there. A job cancelled by weft_rt_free (never started)
 *           completes its join the same way, so nothing leaks at shutdown either; a job still
 *           running when the runtime's shutdown_timeout expires is abandoned by the pool and
 *           may outlive the memory it writes to (docs/design/fs.md, "limits").
 */
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "core/core.h"
#include "io/file.h"
#include "io/io.h"
#include "sys/sys.h"
#include "weft/blocking.h"
#include "weft/fs.h"
#include "weft/task.h"

/* ------------------------------------------------------------------ handles */

#define F_HANDLE  1u /* the user still holds the handle */
#define F_CLOSING 2u /* a close was asked for: operations refused */
#define F_FD_GONE 4u /* the descriptor's close is claimed (done or under way) */
#define F_OP_ONE  8u /* one operation in flight (count in the bits above) */

struct weft_file {
    _Atomic uint64_t word; /* see the top comment; every change is a CAS */
    int fd;                /* immutable */
};

static int file_new(weft_file **out, int fd)
{
    weft_file *f = weft__alloc(sizeof *f);
    if (!f)
        return -ENOMEM;
    atomic_init(&f->word, F_HANDLE);
    f->fd = fd;
    *out = f;
    return 0;
}

int weft_file_from_fd(weft_file **out, int fd)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (fd < 0)
        return -EINVAL;
    return file_new(out, fd);
}

int weft_file_fd(const weft_file *file)
{
    if (!file)
        return -EINVAL;
    if (ld_acquire(&((weft_file *)file)->word) & F_CLOSING)
        return -EBADF;
    return file->fd;
}

int weft__file_get(weft_file *file)
{
    if (!file)
        return -EINVAL;
    uint64_t w = ld_relaxed(&file->word);
    do {
        if (w & F_CLOSING)
            return -EBADF;
    } while (!atomic_compare_exchange_weak_explicit(&file->word, &w, w + F_OP_ONE,
                                                    memory_order_acquire, memory_order_relaxed));
    return file->fd;
}

/* Clear `clear`, set `set`, and drop `ops` operations in one CAS; then do what that made this
 * thread responsible for. `w` never carries F_HANDLE into `set`. */
static void file_settle(weft_file *file, uint64_t clear, uint64_t set, uint64_t ops)
{
    int fd = file->fd; /* before the CAS: afterwards the file may be gone */
    uint64_t w = ld_relaxed(&file->word), nw;
    bool do_close, do_free;
    do {
        nw = ((w - ops * F_OP_ONE) & ~clear) | set;
        do_close = do_free = false;
        if (nw < F_OP_ONE) { /* nothing in flight */
            if ((nw & F_CLOSING) && !(nw & F_FD_GONE)) {
                nw |= F_FD_GONE;
                do_close = true;
            }
            do_free = !(nw & F_HANDLE);
        }
    } while (!atomic_compare_exchange_weak_explicit(&file->word, &w, nw, memory_order_acq_rel,
                                                    memory_order_relaxed));
    if (do_close)
        (void)weft__sys_close(fd);
    if (do_free)
        weft__free(file);
}

void weft__file_put(weft_file *file)
{
    file_settle(file, 0, 0, 1);
}

void weft_file_free(weft_file *file)
{
    if (file)
        file_settle(file, F_HANDLE, F_CLOSING, 0);
}

/* For the close future: refuse new operations and claim the descriptor's close. Returns 1
 * (the caller closes *fd now), 0 (operations are in flight: the last one closes it) or
 * -EBADF (already closing). */
static int file_close_claim(weft_file *file, int *fd)
{
    *fd = file->fd;
    uint64_t w = ld_relaxed(&file->word), nw;
    int claim;
    do {
        if (w & F_CLOSING)
            return -EBADF;
        nw = w | F_CLOSING;
        claim = nw < F_OP_ONE;
        if (claim)
            nw |= F_FD_GONE;
    } while (!atomic_compare_exchange_weak_explicit(&file->word, &w, nw, memory_order_acq_rel,
                                                    memory_order_relaxed));
    return claim;
}

/* ------------------------------------------------------------------ the common future */

enum { K_OPEN = 1, K_READ, K_WRITE, K_SYNC, K_STAT, K_CLOSE };
enum {
    S_INIT = 0, /* initialised, never polled */
    S_IDLE,     /* begun (arguments checked, file counted), no sub-operation in flight */
    S_DRIVER,   /* a sub-operation is in the reactor */
    S_POOL,     /* a sub-operation is a blocking-pool job */
    S_FINISHED, /* READY was returned, or dropped: everything released */
};
#define FIN_DONE    1u
#define FIN_DROPPED 2u

struct fop {
    struct weft__io_wait w;  /* w.op: the current sub-operation (every path); the glue */
    weft_join *job;          /* S_POOL: the job's join (after a drop: the hook's to detach) */
    weft_waker task_ref;     /* S_POOL: keeps this memory allocated while the job may use it */
    weft_file *file;         /* the file (NULL for open and stat of a path) */
    const char *user_path;   /* init's path: read by the first poll only */
    char *path;              /* our copy while in flight (open, stat of a path) */
    unsigned char *buf;      /* read/write buffer */
    size_t len;              /* bytes asked for */
    size_t done;             /* bytes moved so far */
    int64_t off;             /* offset of the first byte, or WEFT_FILE_CURRENT */
    int32_t res;             /* S_POOL: the job's result; -ECANCELED until it has run */
    int fd;                  /* the descriptor, counted on `file` while begun */
    int flags;               /* open(2) flags; statx flags; 1 = datasync */
    uint32_t mode;           /* open(2) mode */
    uint8_t kind;            /* K_* */
    uint8_t step;            /* S_*; owner only */
    uint8_t all;             /* read_all / write_all */
    uint8_t held;            /* `file` counts one operation for us */
    uint8_t by_path;         /* stat of a path rather than of `file` */
    _Atomic uint8_t fin;     /* S_DRIVER: FIN_DONE | FIN_DROPPED */
    _Atomic uint8_t cleaned; /* S_POOL after a drop: abandon_cleanup has begun */
    _Atomic uint8_t gone;    /* S_POOL after a drop: ... and made its last touch of f */
    uint8_t beneath;         /* K_OPEN by weft_file_open_beneath: openat2 with `how` */
    int dirfd;               /* K_OPEN: the directory relative paths resolve against */
    struct open_how how;     /* beneath: read by the kernel when the op starts */
};

struct stat_fop {
    struct fop f;
    struct statx stx; /* the kernel's buffer, owned by the op while in flight */
};

#define CHECK_SIZE(pub, impl)                                                                      \
    _Static_assert(sizeof(impl) <= sizeof(pub), #pub " too small");                                \
    _Static_assert(alignof(impl) <= alignof(pub), #pub " misaligned")
CHECK_SIZE(weft_file_open, struct fop);
CHECK_SIZE(weft_file_read, struct fop);
CHECK_SIZE(weft_file_write, struct fop);
CHECK_SIZE(weft_file_sync, struct fop);
CHECK_SIZE(weft_file_close, struct fop);
CHECK_SIZE(weft_file_stat, struct stat_fop);

static void fop_init(struct fop *f, int kind)
{
    memset(f, 0, sizeof *f);
    f->kind = (uint8_t)kind;
    f->fd = -1;
    f->res = -ECANCELED;
}

/* The future is done with its arguments: free the path copy, end the file operation. */
static void release_args(struct fop *f)
{
    weft__free(f->path);
    f->path = NULL;
    if (f->held) {
        f->held = 0;
        weft__file_put(f->file);
    }
}

/* The future was dropped and its last sub-operation has completed with `res`. Runs once,
 * on whichever thread learned it last (see the top comment). */
static void abandon_cleanup(struct fop *f, int32_t res)
{
    if (f->kind == K_OPEN && res >= 0)
        (void)weft__sys_close(res); /* opened for nobody */
    release_args(f);
}

/* ------------------------------------------------------------------ DRIVER path */

static void fop_done(struct weft__io_op *op)
{
    struct fop *f = WEFT__IO_CONTAINER(op, struct fop, w.op);
    if (atomic_fetch_or_explicit(&f->fin, FIN_DONE, memory_order_acq_rel) & FIN_DROPPED)
        abandon_cleanup(f, op->res);
    weft__io_wait_done(op); /* wakes and releases the task: f may be freed after this */
}

/* ------------------------------------------------------------------ POOL path */

static void *fs_job(void *arg)
{
    struct fop *f = arg;
    f->res = weft__io_perform(&f->w.op); /* the task reference keeps f and its buffer */
    return NULL;
}

/* Runs once per abandoned pool job, after the job has ended or been cancelled. */
static void pool_cleanup(struct fop *f)
{
    if (atomic_exchange_explicit(&f->cleaned, 1, memory_order_acq_rel))
        return;
    f->job = NULL;
    abandon_cleanup(f, f->res);
    weft_waker ref = f->task_ref;
    f->task_ref.vtable = NULL;
    st_release(&f->gone, 1); /* a drop on a fiber stack may return (and the frame go) now */
    weft_waker_drop(&ref); /* may free the task's cell */
}

/* The hook waker that an abandoned job's join holds (data: the fop). The job cell's
 * completion calls wake_by_ref, then drops it. */
static void *hook_clone(void *data)
{
    return data; /* only ever one stored copy */
}

static void hook_wake_by_ref(void *data)
{
    struct fop *f = data;
    weft_join_detach(f->job); /* the cell drops the hook right after this call */
}

static void hook_drop(void *data)
{
    pool_cleanup(data);
}

static void hook_wake(void *data)
{
    hook_wake_by_ref(data);
    hook_drop(data);
}

static const weft_waker_vtable hook_vtable = {
    .clone = hook_clone,
    .wake = hook_wake,
    .wake_by_ref = hook_wake_by_ref,
    .drop = hook_drop,
};

static void drop_pool(struct fop *f)
{
    weft_join *job = f->job;
    weft_cx hook_cx = {.waker = {.data = f, .vtable = &hook_vtable}};
    int err;

    weft_join_abort(job); /* not started yet: it never will */
    if (weft_join_poll(job, &hook_cx, NULL, 0, &err) == WEFT_READY)
        pool_cleanup(f); /* ended already (a no-op if the hook got there inside the poll) */
    /* A future on a fiber's stack dies with its frame: wait for the job's last touch (the
     * pool thread finishing its system call), as weft__io_wait_drop does for the reactor.
     * Not from outside the runtime (shutdown's unwinding: the pool cancels or finishes it). */
    if (weft__io_dies_with_frame(f))
        while (!ld_acquire(&f->gone))
            sched_yield();
}

/* ------------------------------------------------------------------ sub-operations */

static bool use_pool(weft_rt *rt)
{
    return weft__io_backend_of(rt) == WEFT__IO_BACKEND_EPOLL;
}

/* Fill f->w.op for the next sub-operation. */
static void prep(struct fop *f)
{
    struct weft__io_op *op = &f->w.op;
    int64_t off = f->off < 0 ? -1 : f->off + (int64_t)f->done;

    switch (f->kind) {
    case K_OPEN:
        if (f->beneath)
            weft__io_prep_openat2(op, f->dirfd, f->path, &f->how, fop_done);
        else
            weft__io_prep_openat(op, f->dirfd, f->path, f->flags | O_CLOEXEC,
                                 (mode_t)f->mode, fop_done);
        break;
    case K_READ:
        weft__io_prep_read(op, f->fd, f->buf + f->done, f->len - f->done, off, fop_done);
        break;
    case K_WRITE:
        weft__io_prep_write(op, f->fd, f->buf + f->done, f->len - f->done, off, fop_done);
        break;
    case K_SYNC:
        weft__io_prep_fsync(op, f->fd, f->flags, fop_done);
        break;
    case K_STAT: {
        struct stat_fop *s = (struct stat_fop *)f;
        unsigned mask = STATX_BASIC_STATS | STATX_BTIME;
        if (f->file)
            weft__io_prep_statx(op, f->fd, "", AT_EMPTY_PATH, mask, &s->stx, fop_done);
        else
            weft__io_prep_statx(op, AT_FDCWD, f->path, f->flags, mask, &s->stx, fop_done);
        break;
    }
    case K_CLOSE:
        weft__io_prep_close(op, f->fd, fop_done);
        break;
    }
}

/* Start (when idle) or continue the current sub-operation. READY with its result in *r. */
static weft_poll sub_op(struct fop *f, weft_cx *cx, int32_t *r)
{
    if (f->step == S_IDLE) {
        prep(f);
        if (WEFT_UNLIKELY(!cx->rt)) { /* polled by hand: no reactor, no pool */
            *r = weft__io_perform(&f->w.op);
            return WEFT_READY;
        }
        f->step = S_DRIVER;
        if (use_pool(cx->rt)) {
            f->res = -ECANCELED;
            atomic_store_explicit(&f->cleaned, 0, memory_order_relaxed);
            atomic_store_explicit(&f->gone, 0, memory_order_relaxed);
            weft_waker_clone(&cx->waker, &f->task_ref);
            if (weft_spawn_blocking_on(cx->rt, WEFT_LANE_FS, fs_job, f, &f->job) == 0)
                f->step = S_POOL;
            else
                weft_waker_drop(&f->task_ref); /* no pool: the reactor does it inline */
        }
        if (f->step == S_DRIVER) {
            atomic_store_explicit(&f->fin, 0, memory_order_relaxed);
            weft__io_wait_start(&f->w, cx);
        }
    }
    if (f->step == S_POOL) {
        int err;
        if (weft_join_poll(f->job, cx, NULL, 0, &err) == WEFT_PENDING)
            return WEFT_PENDING;
        f->job = NULL;
        weft_waker_drop(&f->task_ref);
        *r = err < 0 ? err : f->res; /* err: the pool was shut down before the job ran */
    } else {
        if (weft__io_wait_poll(&f->w, cx, r) == WEFT_PENDING)
            return WEFT_PENDING;
    }
    f->step = S_IDLE;
    return WEFT_READY;
}

/* Count the operation on f->file and note its descriptor. 0 or -EBADF/-EINVAL. */
static int hold_file(struct fop *f)
{
    int fd = weft__file_get(f->file);
    if (fd < 0)
        return fd;
    f->fd = fd;
    f->held = 1;
    return 0;
}

/* Copy the init's path. 0, -EINVAL (NULL) or -ENOMEM. */
static int copy_path(struct fop *f)
{
    if (!f->user_path)
        return -EINVAL;
    size_t n = strlen(f->user_path) + 1;
    f->path = weft__alloc(n);
    if (!f->path)
        return -ENOMEM;
    memcpy(f->path, f->user_path, n);
    f->user_path = NULL;
    return 0;
}

static void finish(struct fop *f)
{
    release_args(f);
    f->step = S_FINISHED;
}

static void fop_drop(struct fop *f)
{
    switch (f->step) {
    case S_DRIVER:
        if (atomic_fetch_or_explicit(&f->fin, FIN_DROPPED, memory_order_acq_rel) & FIN_DONE)
            abandon_cleanup(f, f->w.op.res); /* completed, result never collected */
        else
            weft__io_wait_drop(&f->w); /* cancel; fop_done cleans up when it completes */
        break;
    case S_POOL:
        drop_pool(f);
        break;
    case S_IDLE:
        release_args(f);
        break;
    default:
        break;
    }
    f->step = S_FINISHED;
}

/* A poll with bad arguments: READY with -EINVAL, and the future is finished (dropped). */
static weft_poll bad_poll(struct fop *f, int kind, int *result)
{
    if (f && f->kind == kind)
        fop_drop(f);
    *result = -EINVAL;
    return WEFT_READY;
}

static bool poll_ok(const struct fop *f, int kind, const weft_cx *cx)
{
    return f && cx && f->kind == kind && f->step != S_FINISHED;
}

/* ------------------------------------------------------------------ open */

void weft_file_open_init(weft_file_open *op, const char *path, int flags, mode_t mode)
{
    struct fop *f = (struct fop *)op;
    if (!f)
        return;
    fop_init(f, K_OPEN);
    f->user_path = path;
    f->flags = flags;
    f->mode = (uint32_t)mode;
    f->dirfd = AT_FDCWD;
}

void weft_file_open_beneath_init(weft_file_open *op, int dirfd, const char *path, int flags,
                                 mode_t mode, unsigned resolve_flags)
{
    struct fop *f = (struct fop *)op;
    if (!f)
        return;
    weft_file_open_init(op, path, flags, mode);
    f->beneath = 1;
    f->dirfd = dirfd;
    /* openat2 rejects unknown flag bits and a mode without O_CREAT/O_TMPFILE; bad arguments
     * (a negative dirfd, unknown resolve_flags) are reported by the poll as -EINVAL. */
    f->how.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC);
    f->how.mode = ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? (uint64_t)(mode & 07777) : 0;
    f->how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    if (resolve_flags & WEFT_OPEN_NO_SYMLINKS)
        f->how.resolve |= RESOLVE_NO_SYMLINKS;
    if (resolve_flags & WEFT_OPEN_NO_XDEV)
        f->how.resolve |= RESOLVE_NO_XDEV;
    if (dirfd < 0 || (resolve_flags & ~(unsigned)(WEFT_OPEN_NO_SYMLINKS | WEFT_OPEN_NO_XDEV)))
        f->beneath = 2; /* reported by the first poll */
}

weft_poll weft_file_open_poll(weft_file_open *op, weft_cx *cx, weft_file **file, int *result)
{
    struct fop *f = (struct fop *)op;
    int dummy, err;
    int32_t r;

    if (!result)
        result = &dummy;
    if (file)
        *file = NULL;
    if (WEFT_UNLIKELY(!poll_ok(f, K_OPEN, cx) || !file))
        return bad_poll(f, K_OPEN, result);
    if (f->step == S_INIT) {
        if ((err = f->beneath == 2 ? -EINVAL : copy_path(f)) < 0) {
            f->step = S_FINISHED;
            *result = err;
            return WEFT_READY;
        }
        f->step = S_IDLE;
    }
    if (sub_op(f, cx, &r) == WEFT_PENDING)
        return WEFT_PENDING;
    finish(f);
    if (r >= 0 && (err = file_new(file, r)) < 0) {
        (void)weft__sys_close(r);
        r = err;
    }
    *result = r < 0 ? r : 0;
    return WEFT_READY;
}

void weft_file_open_drop(weft_file_open *op)
{
    if (op)
        fop_drop((struct fop *)op);
}

/* ------------------------------------------------------------------ read and write */

static void rw_init(struct fop *f, int kind, weft_file *file, const void *buf, size_t len,
                    int64_t offset, bool all)
{
    fop_init(f, kind);
    f->file = file;
    f->buf = (unsigned char *)buf;
    f->len = len > (size_t)SSIZE_MAX ? (size_t)SSIZE_MAX : len;
    f->off = offset;
    f->all = all;
}

static weft_poll rw_poll(struct fop *f, int kind, weft_cx *cx, ssize_t *n)
{
    ssize_t dummy;
    int32_t r;
    int err;

    if (!n)
        n = &dummy;
    if (WEFT_UNLIKELY(!poll_ok(f, kind, cx))) {
        bad_poll(f, kind, &err);
        *n = err;
        return WEFT_READY;
    }
    if (f->step == S_INIT) {
        err = 0;
        if (!f->file || (!f->buf && f->len) || (f->off < 0 && f->off != WEFT_FILE_CURRENT) ||
            (f->off >= 0 && (uint64_t)f->off + f->len > (uint64_t)INT64_MAX))
            err = -EINVAL;
        else
            err = hold_file(f);
        if (err < 0 || f->len == 0) {
            finish(f);
            *n = err;
            return WEFT_READY;
        }
        f->step = S_IDLE;
    }
    for (;;) {
        if (sub_op(f, cx, &r) == WEFT_PENDING)
            return WEFT_PENDING;
        if (r < 0) {
            *n = r;
            break;
        }
        f->done += (size_t)r;
        if (!f->all || f->done == f->len || r == 0) {
            /* r == 0: end of file (read), or a write that made no progress */
            *n = (kind == K_WRITE && f->all && f->done < f->len) ? -EIO : (ssize_t)f->done;
            break;
        }
    }
    finish(f);
    return WEFT_READY;
}

void weft_file_read_init(weft_file_read *op, weft_file *file, void *buf, size_t len, int64_t offset)
{
    if (op)
        rw_init((struct fop *)op, K_READ, file, buf, len, offset, false);
}

void weft_file_read_all_init(weft_file_read *op, weft_file *file, void *buf, size_t len,
                             int64_t offset)
{
    if (op)
        rw_init((struct fop *)op, K_READ, file, buf, len, offset, true);
}

weft_poll weft_file_read_poll(weft_file_read *op, weft_cx *cx, ssize_t *n)
{
    return rw_poll((struct fop *)op, K_READ, cx, n);
}

void weft_file_read_drop(weft_file_read *op)
{
    if (op)
        fop_drop((struct fop *)op);
}

void weft_file_write_init(weft_file_write *op, weft_file *file, const void *buf, size_t len,
                          int64_t offset)
{
    if (op)
        rw_init((struct fop *)op, K_WRITE, file, buf, len, offset, false);
}

void weft_file_write_all_init(weft_file_write *op, weft_file *file, const void *buf, size_t len,
                              int64_t offset)
{
    if (op)
        rw_init((struct fop *)op, K_WRITE, file, buf, len, offset, true);
}

weft_poll weft_file_write_poll(weft_file_write *op, weft_cx *cx, ssize_t *n)
{
    return rw_poll((struct fop *)op, K_WRITE, cx, n);
}

void weft_file_write_drop(weft_file_write *op)
{
    if (op)
        fop_drop((struct fop *)op);
}

/* ------------------------------------------------------------------ sync and stat */

void weft_file_sync_init(weft_file_sync *op, weft_file *file, bool data_only)
{
    struct fop *f = (struct fop *)op;
    if (!f)
        return;
    fop_init(f, K_SYNC);
    f->file = file;
    f->flags = data_only ? 1 : 0;
}

/* One sub-operation on a held file or a copied path: sync and stat. */
static weft_poll single_poll(struct fop *f, weft_cx *cx, int32_t *r)
{
    if (f->step == S_INIT) {
        int err = f->by_path ? copy_path(f) : hold_file(f);
        if (err < 0) {
            finish(f);
            *r = err;
            return WEFT_READY;
        }
        f->step = S_IDLE;
    }
    if (sub_op(f, cx, r) == WEFT_PENDING)
        return WEFT_PENDING;
    finish(f);
    return WEFT_READY;
}

weft_poll weft_file_sync_poll(weft_file_sync *op, weft_cx *cx, int *result)
{
    struct fop *f = (struct fop *)op;
    int32_t r;
    int dummy;

    if (!result)
        result = &dummy;
    if (WEFT_UNLIKELY(!poll_ok(f, K_SYNC, cx)))
        return bad_poll(f, K_SYNC, result);
    if (single_poll(f, cx, &r) == WEFT_PENDING)
        return WEFT_PENDING;
    *result = r;
    return WEFT_READY;
}

void weft_file_sync_drop(weft_file_sync *op)
{
    if (op)
        fop_drop((struct fop *)op);
}

void weft_file_stat_init(weft_file_stat *op, weft_file *file)
{
    struct stat_fop *s = (struct stat_fop *)op;
    if (!s)
        return;
    fop_init(&s->f, K_STAT);
    s->f.file = file;
}

void weft_file_stat_path_init(weft_file_stat *op, const char *path, bool follow_links)
{
    struct stat_fop *s = (struct stat_fop *)op;
    if (!s)
        return;
    fop_init(&s->f, K_STAT);
    s->f.by_path = 1;
    s->f.user_path = path;
    s->f.flags = follow_links ? 0 : AT_SYMLINK_NOFOLLOW;
}

static int64_t ts_ns(const struct statx_timestamp *t)
{
    return t->tv_sec * 1000000000 + t->tv_nsec;
}

weft_poll weft_file_stat_poll(weft_file_stat *op, weft_cx *cx, weft_file_info *info, int *result)
{
    struct stat_fop *s = (struct stat_fop *)op;
    struct fop *f = (struct fop *)op;
    int32_t r;
    int dummy;

    if (!result)
        result = &dummy;
    if (WEFT_UNLIKELY(!poll_ok(f, K_STAT, cx) || !info))
        return bad_poll(f, K_STAT, result);
    if (single_poll(f, cx, &r) == WEFT_PENDING)
        return WEFT_PENDING;
    if (r == 0) {
        const struct statx *x = &s->stx;
        *info = (weft_file_info){
            .size = x->stx_size,
            .blocks = x->stx_blocks,
            .ino = x->stx_ino,
            .dev = makedev(x->stx_dev_major, x->stx_dev_minor),
            .rdev = makedev(x->stx_rdev_major, x->stx_rdev_minor),
            .mode = x->stx_mode,
            .nlink = x->stx_nlink,
            .uid = x->stx_uid,
            .gid = x->stx_gid,
            .blksize = x->stx_blksize,
            .has_btime = (x->stx_mask & STATX_BTIME) ? 1u : 0u,
            .atime_ns = ts_ns(&x->stx_atime),
            .mtime_ns = ts_ns(&x->stx_mtime),
            .ctime_ns = ts_ns(&x->stx_ctime),
            .btime_ns = (x->stx_mask & STATX_BTIME) ? ts_ns(&x->stx_btime) : 0,
        };
    }
    *result = r;
    return WEFT_READY;
}

void weft_file_stat_drop(weft_file_stat *op)
{
    if (op)
        fop_drop((struct fop *)op);
}

/* ------------------------------------------------------------------ close */

void weft_file_close_init(weft_file_close *op, weft_file *file)
{
    struct fop *f = (struct fop *)op;
    if (!f)
        return;
    fop_init(f, K_CLOSE);
    f->file = file;
}

weft_poll weft_file_close_poll(weft_file_close *op, weft_cx *cx, int *result)
{
    struct fop *f = (struct fop *)op;
    int32_t r;
    int dummy;

    if (!result)
        result = &dummy;
    if (WEFT_UNLIKELY(!poll_ok(f, K_CLOSE, cx)))
        return bad_poll(f, K_CLOSE, result);
    if (f->step == S_INIT) {
        int claim = f->file ? file_close_claim(f->file, &f->fd) : -EINVAL;
        if (claim <= 0) { /* error, or the last operation in flight will close it */
            f->step = S_FINISHED;
            *result = claim;
            return WEFT_READY;
        }
        f->step = S_IDLE; /* not `held`: the claim made the descriptor ours */
    }
    if (sub_op(f, cx, &r) == WEFT_PENDING)
        return WEFT_PENDING;
    finish(f);
    *result = r;
    return WEFT_READY;
}

void weft_file_close_drop(weft_file_close *op)
{
    if (op)
        fop_drop((struct fop *)op);
}
