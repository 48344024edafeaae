/* File-to-socket transfer (weft_sendfile): sendfile(2) straight from the page cache when the
 * data is cached, else splice(2) file -> pipe -> socket, with a read + send fallback.
 *
 * DIRECT PATH. When the next byte of the file is in the page cache (a one-byte
 * preadv2(RWF_NOWAIT) says so), the worker calls sendfile(2) on the non-blocking socket itself,
 * up to 1 MiB per call, and waits for POLLOUT through the reactor when the socket is full. No
 * pipe is made. Why: io_uring runs every SPLICE in one of its io-wq threads, so the splice
 * path costs two thread hand-offs per 64 KiB; measured on weft-httpd's static_1m (a 1 MiB
 * file to 100 connections), the direct path cut the server's CPU time about four-fold and its
 * context switches from ~18,000/s to under 1,000/s (docs/benchmarks.md). The probe covers the
 * first page of each call only: a partly cached file can still make one call wait for the
 * disk, as nginx's sendfile does; an uncached start takes the splice path, whose disk reads
 * io_uring runs off the worker.
 *
 * SPLICE PATH, one op at a time, 64 KiB per round (the default pipe capacity):
 *   1. SPLICE file[off..] -> pipe (explicit offset: the file position is never used or moved)
 *      0 = the file ended: finish with the bytes really sent (F11: a file truncated mid-send
 *      gives a short count, not an error and not a hang).
 *   2. SPLICE pipe -> socket until the pipe is empty (short splices loop).
 * Fallback: when the kernel refuses a splice (EINVAL, ENOSYS, EOPNOTSUPP: a file system
 * without splice_read, a socket type without splice_write), the transfer continues with READ
 * into a 64 KiB bounce buffer and SEND from it, draining the pipe first if bytes sit in it.
 * sendfile(2) refusing the pair turns the direct path off for the rest of the transfer.
 *
 * The pipe and the bounce buffer live in one heap block, made when the splice path is first
 * needed; a future dropped mid-operation hands it to the operation (sock.h's orphan), whose
 * completion closes the pipe and frees it.
 */
#include <fcntl.h>
#include <poll.h>

#include "io/sock.h"

#define SF_CHUNK (64 * 1024)
#define SF_DIRECT_MAX (1024 * 1024) /* bytes per sendfile(2) call */

_Atomic int weft__sendfile_test_refuse;

struct sf_res {
    int pipe[2];  /* O_NONBLOCK|O_CLOEXEC; -1 when not made */
    char *bounce; /* SF_CHUNK bytes, fallback only */
};

static void sf_res_free(void *p)
{
    struct sf_res *r = p;
    if (!r)
        return;
    if (r->pipe[0] >= 0)
        weft__sys_close(r->pipe[0]);
    if (r->pipe[1] >= 0)
        weft__sys_close(r->pipe[1]);
    weft__free(r->bounce);
    weft__free(r);
}

enum { SF_SPLICE_IN = 1, SF_SPLICE_OUT, SF_READ_FILE, SF_READ_PIPE, SF_SEND, SF_WAIT_OUT };

struct sf {
    struct weft__opf f;
    struct weft_stream *s;
    struct sf_res *res;
    int64_t off;       /* next file offset to read */
    size_t len;        /* bytes asked for */
    size_t taken;      /* bytes taken from the file (into the pipe or the bounce buffer) */
    size_t sent;       /* bytes the socket accepted */
    size_t in_pipe;    /* bytes sitting in the pipe */
    size_t bounce_len, bounce_off; /* fallback: bytes in the bounce buffer, already sent */
    int file_fd;
    uint8_t step;      /* SF_*: the op in flight */
    uint8_t fallback;  /* read + send */
    uint8_t eof;       /* the file ended */
    uint8_t inited;
    uint8_t started;   /* arguments checked */
    uint8_t finished;
    uint8_t no_direct; /* sendfile(2) refused this pair: splice from now on */
    uint8_t full;      /* the last direct send was short: wait for POLLOUT first */
};
WEFT__IMPL(weft_sendfile, struct sf);

void weft_sendfile_init(weft_sendfile *pub, weft_stream *s, int file_fd, int64_t offset,
                        size_t len, int64_t deadline)
{
    struct sf *f = (struct sf *)pub;
    weft__opf_init(&f->f, deadline);
    f->f.orphan_free = sf_res_free;
    f->s = s;
    f->res = NULL;
    f->off = offset;
    f->len = len;
    f->taken = f->sent = f->in_pipe = f->bounce_len = f->bounce_off = 0;
    f->file_fd = file_fd;
    f->step = 0;
    f->fallback = 0;
    f->eof = 0;
    f->inited = 1;
    f->started = f->finished = f->no_direct = f->full = 0;
}

static weft_poll sf_finish(struct sf *f, ssize_t *result, ssize_t r)
{
    weft__opf_finish(&f->f);
    sf_res_free(f->res);
    f->res = NULL;
    f->finished = 1;
    *result = r;
    return WEFT_READY;
}

static bool refused(int32_t err)
{
    return err == -EINVAL || err == -ENOSYS || err == -EOPNOTSUPP;
}

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* Prepare the next op into f->f.w.op; returns false when the transfer is complete. */
static bool sf_next(struct sf *f)
{
    struct weft__io_op *op = &f->f.w.op;
    int sock = f->s->h.fd;
    if (!f->fallback) {
        if (f->in_pipe > 0) {
            weft__io_prep_splice(op, f->res->pipe[0], -1, sock, -1, f->in_pipe, SPLICE_F_MOVE,
                                 weft__opf_done);
            f->step = SF_SPLICE_OUT;
            return true;
        }
        if (f->eof || f->taken == f->len)
            return false;
        weft__io_prep_splice(op, f->file_fd, f->off, f->res->pipe[1], -1,
                             min_sz(SF_CHUNK, f->len - f->taken), SPLICE_F_MOVE, weft__opf_done);
        f->step = SF_SPLICE_IN;
        return true;
    }
    if (f->bounce_off < f->bounce_len) {
        weft__io_prep_send(op, sock, f->res->bounce + f->bounce_off,
                           f->bounce_len - f->bounce_off, 0, weft__opf_done);
        f->step = SF_SEND;
        return true;
    }
    f->bounce_len = f->bounce_off = 0;
    if (f->in_pipe > 0) {
        weft__io_prep_read(op, f->res->pipe[0], f->res->bounce, min_sz(SF_CHUNK, f->in_pipe), -1,
                           weft__opf_done);
        f->step = SF_READ_PIPE;
        return true;
    }
    if (f->eof || f->taken == f->len)
        return false;
    weft__io_prep_read(op, f->file_fd, f->res->bounce, min_sz(SF_CHUNK, f->len - f->taken),
                       f->off, weft__opf_done);
    f->step = SF_READ_FILE;
    return true;
}

static int sf_res_new(struct sf *f)
{
    if (!(f->res = weft__alloc(sizeof *f->res)))
        return -ENOMEM;
    f->res->bounce = NULL;
    int err = weft__sys_pipe2(f->res->pipe, O_NONBLOCK);
    if (err < 0)
        f->res->pipe[0] = f->res->pipe[1] = -1;
    return err;
}

/* One direct step (see the top): 1 after progress or at the end of the file, 0 to take the
 * splice path (the data is not cached, or the kernel refuses sendfile for this pair),
 * -EAGAIN when the socket is full, or another -errno. */
static int sf_direct(struct sf *f)
{
    int cached = weft__sys_cached(f->file_fd, f->off);
    if (cached == 0) {
        f->eof = 1;
        return 1;
    }
    if (cached < 0)
        return 0; /* not cached, or an error the splice path will meet and report */
    size_t want = min_sz(SF_DIRECT_MAX, f->len - f->taken);
    int64_t off = f->off;
    ssize_t n = weft__sys_sendfile(f->s->h.fd, f->file_fd, &off, want);
    if (n > 0) {
        f->off += n;
        f->taken += (size_t)n;
        f->sent += (size_t)n;
        f->full = (size_t)n < want;
        return 1;
    }
    if (n == 0) {
        f->eof = 1;
        return 1;
    }
    if (refused((int32_t)n)) {
        f->no_direct = 1;
        return 0;
    }
    return (int)n;
}

static int sf_fall_back(struct sf *f)
{
    if (!f->res->bounce && !(f->res->bounce = weft__alloc(SF_CHUNK)))
        return -ENOMEM;
    f->fallback = 1;
    return 0;
}

weft_poll weft_sendfile_poll(weft_sendfile *pub, weft_cx *cx, ssize_t *result)
{
    struct sf *f = (struct sf *)pub;
    ssize_t dummy;
    int32_t res;

    if (!result)
        result = &dummy;
    if (!pub) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    if (!f->inited || f->finished || !f->s || f->file_fd < 0 || f->off < 0 || !cx)
        return sf_finish(f, result, -EINVAL);
    if (!f->started) {
        if (f->s->h.sub != WEFT_STREAM_SOCKET)
            return sf_finish(f, result, -ENOTSOCK);
        if (f->len == 0)
            return sf_finish(f, result, 0);
        f->started = 1;
    }
    for (;;) {
        if (!f->f.inflight) {
            int refuse = ld_relaxed(&weft__sendfile_test_refuse);
            if (!refuse && !f->fallback && !f->no_direct && !f->res) {
                if (f->eof || f->taken == f->len)
                    return sf_finish(f, result, (ssize_t)f->sent);
                if (!weft__budget(cx))
                    return WEFT_PENDING;
                int r = f->full ? -EAGAIN : sf_direct(f);
                if (r > 0)
                    continue;
                if (r == -EAGAIN) {
                    f->full = 0;
                    weft__io_prep_poll(&f->f.w.op, f->s->h.fd, POLLOUT, weft__opf_done);
                    f->step = SF_WAIT_OUT;
                    int err = weft__opf_start(&f->f, &f->s->h, cx);
                    if (err < 0)
                        return sf_finish(f, result, err);
                    continue; /* in flight now: the loop goes on to poll it */
                }
                if (r < 0)
                    return sf_finish(f, result, r);
                /* r == 0: not cached, or sendfile(2) refused: the splice path from here */
            }
            if (!f->res) {
                int err = sf_res_new(f);
                if (err < 0)
                    return sf_finish(f, result, err);
            }
            if (WEFT_UNLIKELY(refuse) && !f->fallback &&
                ((refuse == 1 && f->taken == 0) || (refuse == 2 && f->in_pipe > 0))) {
                int err = sf_fall_back(f); /* as if the kernel had said EINVAL */
                if (err < 0)
                    return sf_finish(f, result, err);
            }
            if (!sf_next(f))
                return sf_finish(f, result, (ssize_t)f->sent);
            if (!weft__budget(cx))
                return WEFT_PENDING;
            int err = weft__opf_start(&f->f, &f->s->h, cx);
            if (err < 0)
                return sf_finish(f, result, err);
        }
        if (weft__opf_poll(&f->f, cx, &res) == WEFT_PENDING)
            return WEFT_PENDING;
        switch (f->step) {
        case SF_WAIT_OUT:
            if (res < 0)
                return sf_finish(f, result, res);
            break; /* writable, or an error the next sendfile(2) reports */
        case SF_SPLICE_IN:
        case SF_READ_FILE:
            if (res == 0) {
                f->eof = 1; /* the file is shorter than asked (F11) */
            } else if (res > 0) {
                f->off += res;
                f->taken += (size_t)res;
                if (f->step == SF_SPLICE_IN)
                    f->in_pipe = (size_t)res;
                else
                    f->bounce_len = (size_t)res;
            } else if (f->step == SF_SPLICE_IN && refused(res)) {
                int err = sf_fall_back(f);
                if (err < 0)
                    return sf_finish(f, result, err);
            } else {
                return sf_finish(f, result, res);
            }
            break;
        case SF_SPLICE_OUT:
        case SF_SEND:
            if (res > 0) {
                f->sent += (size_t)res;
                if (f->step == SF_SPLICE_OUT)
                    f->in_pipe -= (size_t)res;
                else
                    f->bounce_off += (size_t)res;
            } else if (f->step == SF_SPLICE_OUT && refused(res)) {
                int err = sf_fall_back(f);
                if (err < 0)
                    return sf_finish(f, result, err);
            } else {
                return sf_finish(f, result, res == 0 ? -EPIPE : res);
            }
            break;
        default: /* SF_READ_PIPE */
            if (res <= 0)
                return sf_finish(f, result, res == 0 ? -EIO : res);
            f->in_pipe -= (size_t)res;
            f->bounce_len = (size_t)res;
            break;
        }
    }
}

void weft_sendfile_drop(weft_sendfile *pub)
{
    if (!pub)
        return;
    struct sf *f = (struct sf *)pub;
    struct sf_res *r = f->res;
    f->res = NULL;
    weft__opf_drop(&f->f, r); /* freed now, or by the op's completion */
    f->finished = 1;
}

size_t weft_sendfile_sent(const weft_sendfile *pub)
{
    return pub ? ((const struct sf *)pub)->sent : 0;
}

bool weft_sendfile_fell_back(const weft_sendfile *pub)
{
    return pub && ((const struct sf *)pub)->fallback;
}
