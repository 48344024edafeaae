/* Buffered reader and writer over any weft_stream (weft/io.h).
 *
 * The reader keeps bytes [start, end) of its buffer; reads land in [end, cap), after moving
 * the buffered bytes to the front when the tail is full. read_until scans only bytes it has
 * not scanned yet, so a long line costs O(length), not O(length^2). The writer keeps
 * [0, len) and writes it out with write_all semantics; a failed flush keeps the unwritten
 * tail at the front of the buffer.
 *
 * Allocated buffers and cancellation: a future dropped while the kernel is reading into (or
 * writing from) an allocated buffer hands that buffer to the operation as an "orphan" (sock.h)
 * and detaches it from the reader/writer, which is then empty; the operation's completion
 * frees it. A caller-provided buffer must simply outlive the operation (inside a task's state
 * it always does).
 */
#include "io/sock.h"

struct rd_impl {
    struct weft_stream *s;
    char *buf;
    size_t cap, start, end;
    uint8_t owned; /* buf was allocated by init */
    uint8_t eof;   /* the stream reported its end */
};
WEFT__IMPL(weft_bufreader, struct rd_impl);

struct wr_impl {
    struct weft_stream *s;
    char *buf;
    size_t cap, len;
    uint8_t owned;
};
WEFT__IMPL(weft_bufwriter, struct wr_impl);

static inline struct rd_impl *rdi(weft_bufreader *rd) { return (struct rd_impl *)rd; }
static inline const struct rd_impl *crdi(const weft_bufreader *rd)
{
    return (const struct rd_impl *)rd;
}
static inline struct wr_impl *wri(weft_bufwriter *wr) { return (struct wr_impl *)wr; }

/* ------------------------------------------------------------------ reader */

int weft_bufreader_init(weft_bufreader *pub, weft_stream *s, void *buf, size_t cap)
{
    if (!pub)
        return -EINVAL;
    struct rd_impl *rd = rdi(pub);
    memset(pub, 0, sizeof *pub);
    if (!s || (buf && cap == 0))
        return -EINVAL;
    if (!buf) {
        if (cap == 0)
            cap = WEFT_BUF_DEFAULT;
        if (!(buf = weft__alloc(cap)))
            return -ENOMEM;
        rd->owned = 1;
    }
    rd->s = s;
    rd->buf = buf;
    rd->cap = cap;
    return 0;
}

void weft_bufreader_fini(weft_bufreader *pub)
{
    if (!pub)
        return;
    struct rd_impl *rd = rdi(pub);
    if (rd->owned)
        weft__free(rd->buf);
    memset(pub, 0, sizeof *pub);
}

const char *weft_bufreader_data(const weft_bufreader *pub)
{
    const struct rd_impl *rd = crdi(pub);
    return pub && rd->buf ? rd->buf + rd->start : NULL;
}

size_t weft_bufreader_len(const weft_bufreader *pub)
{
    return pub ? crdi(pub)->end - crdi(pub)->start : 0;
}

size_t weft_bufreader_cap(const weft_bufreader *pub)
{
    return pub ? crdi(pub)->cap : 0;
}

void weft_bufreader_consume(weft_bufreader *pub, size_t n)
{
    if (!pub)
        return;
    struct rd_impl *rd = rdi(pub);
    size_t have = rd->end - rd->start;
    rd->start += n < have ? n : have;
    if (rd->start == rd->end)
        rd->start = rd->end = 0;
}

bool weft_bufreader_eof(const weft_bufreader *pub)
{
    return pub && crdi(pub)->eof;
}

enum { R_FILL = 1, R_UNTIL, R_EXACT };

struct rfut {
    struct weft__opf f;
    struct rd_impl *rd;
    char *dst;        /* R_EXACT: destination */
    size_t n, got;    /* R_EXACT: wanted, copied so far */
    size_t scanned;   /* R_UNTIL: bytes after start already searched */
    int delim;        /* R_UNTIL */
    uint8_t mode;     /* R_* */
    uint8_t into_buf; /* the op in flight reads into rd->buf */
    uint8_t finished;
};
WEFT__IMPL(weft_bufreader_fill, struct rfut);

static void rfut_init(weft_bufreader_fill *pub, int mode, weft_bufreader *rd, int64_t deadline)
{
    struct rfut *f = (struct rfut *)pub;
    weft__opf_init(&f->f, deadline);
    f->rd = rd ? rdi(rd) : NULL;
    f->dst = NULL;
    f->n = f->got = f->scanned = 0;
    f->delim = 0;
    f->mode = (uint8_t)mode;
    f->into_buf = 0;
    f->finished = 0;
}

static weft_poll rfut_finish(struct rfut *f, ssize_t *result, ssize_t r)
{
    weft__opf_finish(&f->f);
    f->finished = 1;
    *result = r;
    return WEFT_READY;
}

/* Start (if needed) and poll one read into the buffer's tail. READY with *res: bytes added
 * (already accounted), 0 at end of stream (eof set), -ENOBUFS (no room), or -errno. */
static weft_poll fill_step(struct rfut *f, weft_cx *cx, int32_t *res)
{
    struct rd_impl *rd = f->rd;
    if (!f->f.inflight) {
        if (rd->end == rd->cap && rd->start > 0) {
            memmove(rd->buf, rd->buf + rd->start, rd->end - rd->start);
            rd->end -= rd->start;
            rd->start = 0;
        }
        if (rd->end == rd->cap) {
            *res = -ENOBUFS;
            return WEFT_READY;
        }
        if (!weft__budget(cx))
            return WEFT_PENDING;
        weft__stream_prep_read(&f->f.w.op, rd->s, rd->buf + rd->end, rd->cap - rd->end);
        int err = weft__opf_start(&f->f, &rd->s->h, cx);
        if (err < 0) {
            *res = err;
            return WEFT_READY;
        }
        f->into_buf = 1;
    }
    if (weft__opf_poll(&f->f, cx, res) == WEFT_PENDING)
        return WEFT_PENDING;
    f->into_buf = 0;
    if (*res > 0) {
        weft__stream_advance(rd->s, *res);
        rd->end += (size_t)*res;
    } else if (*res == 0) {
        rd->eof = 1;
    }
    return WEFT_READY;
}

static bool rd_ok(const struct rd_impl *rd)
{
    return rd && rd->s && rd->buf && rd->cap > 0;
}

weft_poll weft_bufreader_fill_poll(weft_bufreader_fill *pub, weft_cx *cx, ssize_t *result)
{
    struct rfut *f = (struct rfut *)pub;
    ssize_t dummy;
    int32_t res;

    if (!result)
        result = &dummy;
    if (!pub) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    if (f->mode != R_FILL || f->finished || !rd_ok(f->rd) || !cx)
        return rfut_finish(f, result, -EINVAL);
    if (fill_step(f, cx, &res) == WEFT_PENDING)
        return WEFT_PENDING;
    return rfut_finish(f, result, res);
}

static weft_poll until_poll(struct rfut *f, weft_cx *cx, ssize_t *result)
{
    int32_t res;
    for (;;) {
        struct rd_impl *rd = f->rd;
        if (!f->f.inflight) {
            size_t have = rd->end - rd->start;
            const char *base = rd->buf + rd->start;
            const char *p = memchr(base + f->scanned, f->delim, have - f->scanned);
            if (p)
                return rfut_finish(f, result, (ssize_t)(p - base + 1));
            f->scanned = have;
            if (rd->eof)
                return rfut_finish(f, result, (ssize_t)have);
            if (have == rd->cap)
                return rfut_finish(f, result, -EMSGSIZE);
        }
        if (fill_step(f, cx, &res) == WEFT_PENDING)
            return WEFT_PENDING;
        if (res < 0)
            return rfut_finish(f, result, res);
    }
}

static weft_poll exact_poll(struct rfut *f, weft_cx *cx, ssize_t *result)
{
    int32_t res;
    for (;;) {
        struct rd_impl *rd = f->rd;
        if (!f->f.inflight) {
            size_t have = rd->end - rd->start, want = f->n - f->got;
            size_t take = have < want ? have : want;
            if (take) {
                memcpy(f->dst + f->got, rd->buf + rd->start, take);
                f->got += take;
                rd->start += take;
                if (rd->start == rd->end)
                    rd->start = rd->end = 0;
            }
            if (f->got == f->n)
                return rfut_finish(f, result, (ssize_t)f->n);
            if (rd->eof)
                return rfut_finish(f, result, f->got == 0 ? 0 : -EPIPE);
            want = f->n - f->got;
            if (want >= rd->cap) { /* big: straight into dst, no copy */
                if (!weft__budget(cx))
                    return WEFT_PENDING;
                weft__stream_prep_read(&f->f.w.op, rd->s, f->dst + f->got, want);
                int err = weft__opf_start(&f->f, &rd->s->h, cx);
                if (err < 0)
                    return rfut_finish(f, result, err);
                f->into_buf = 0;
            }
        }
        if (f->f.inflight && !f->into_buf) {
            if (weft__opf_poll(&f->f, cx, &res) == WEFT_PENDING)
                return WEFT_PENDING;
            if (res < 0)
                return rfut_finish(f, result, res);
            if (res == 0) {
                rd->eof = 1;
                continue;
            }
            weft__stream_advance(rd->s, res);
            f->got += (size_t)res;
            continue;
        }
        if (fill_step(f, cx, &res) == WEFT_PENDING)
            return WEFT_PENDING;
        if (res < 0)
            return rfut_finish(f, result, res);
    }
}

void weft_bufreader_fill_init(weft_bufreader_fill *f, weft_bufreader *rd, int64_t deadline)
{
    rfut_init(f, R_FILL, rd, deadline);
}

void weft_bufreader_fill_drop(weft_bufreader_fill *pub)
{
    if (!pub)
        return;
    struct rfut *f = (struct rfut *)pub;
    void *orphan = NULL;
    if (f->f.inflight && f->into_buf && f->rd && f->rd->owned) {
        /* The kernel may still write into the allocated buffer: it goes with the op, and
         * the reader is left empty (fini will not free it). */
        orphan = f->rd->buf;
        f->rd->buf = NULL;
        f->rd->owned = 0;
        f->rd->cap = f->rd->start = f->rd->end = 0;
    }
    weft__opf_drop(&f->f, orphan);
    f->finished = 1;
}

void weft_read_until_init(weft_read_until *pub, weft_bufreader *rd, int delim, int64_t deadline)
{
    rfut_init(pub, R_UNTIL, rd, deadline);
    ((struct rfut *)pub)->delim = (unsigned char)delim;
}

weft_poll weft_read_until_poll(weft_read_until *pub, weft_cx *cx, ssize_t *result)
{
    struct rfut *f = (struct rfut *)pub;
    ssize_t dummy;
    if (!result)
        result = &dummy;
    if (!pub) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    if (f->mode != R_UNTIL || f->finished || !rd_ok(f->rd) || !cx)
        return rfut_finish(f, result, -EINVAL);
    return until_poll(f, cx, result);
}

void weft_read_until_drop(weft_read_until *f) { weft_bufreader_fill_drop(f); }

void weft_read_line_init(weft_read_line *f, weft_bufreader *rd, int64_t deadline)
{
    weft_read_until_init(f, rd, '\n', deadline);
}
weft_poll weft_read_line_poll(weft_read_line *f, weft_cx *cx, ssize_t *result)
{
    return weft_read_until_poll(f, cx, result);
}
void weft_read_line_drop(weft_read_line *f) { weft_bufreader_fill_drop(f); }

void weft_bufreader_read_exact_init(weft_bufreader_read_exact *pub, weft_bufreader *rd,
                                    void *dst, size_t n, int64_t deadline)
{
    rfut_init(pub, R_EXACT, rd, deadline);
    ((struct rfut *)pub)->dst = dst;
    ((struct rfut *)pub)->n = n;
}

weft_poll weft_bufreader_read_exact_poll(weft_bufreader_read_exact *pub, weft_cx *cx,
                                         ssize_t *result)
{
    struct rfut *f = (struct rfut *)pub;
    ssize_t dummy;
    if (!result)
        result = &dummy;
    if (!pub) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    if (f->mode != R_EXACT || f->finished || !rd_ok(f->rd) || (!f->dst && f->n) || !cx)
        return rfut_finish(f, result, -EINVAL);
    return exact_poll(f, cx, result);
}

void weft_bufreader_read_exact_drop(weft_bufreader_read_exact *f)
{
    weft_bufreader_fill_drop(f);
}

/* ------------------------------------------------------------------ writer */

int weft_bufwriter_init(weft_bufwriter *pub, weft_stream *s, void *buf, size_t cap)
{
    if (!pub)
        return -EINVAL;
    struct wr_impl *wr = wri(pub);
    memset(pub, 0, sizeof *pub);
    if (!s || (buf && cap == 0))
        return -EINVAL;
    if (!buf) {
        if (cap == 0)
            cap = WEFT_BUF_DEFAULT;
        if (!(buf = weft__alloc(cap)))
            return -ENOMEM;
        wr->owned = 1;
    }
    wr->s = s;
    wr->buf = buf;
    wr->cap = cap;
    return 0;
}

void weft_bufwriter_fini(weft_bufwriter *pub)
{
    if (!pub)
        return;
    struct wr_impl *wr = wri(pub);
    if (wr->owned)
        weft__free(wr->buf);
    memset(pub, 0, sizeof *pub);
}

size_t weft_bufwriter_len(const weft_bufwriter *pub)
{
    return pub ? ((const struct wr_impl *)pub)->len : 0;
}

size_t weft_bufwriter_put(weft_bufwriter *pub, const void *data, size_t len)
{
    if (!pub || (!data && len))
        return 0;
    struct wr_impl *wr = wri(pub);
    if (!wr->buf)
        return 0;
    size_t room = wr->cap - wr->len, take = len < room ? len : room;
    if (take) {
        memcpy(wr->buf + wr->len, data, take);
        wr->len += take;
    }
    return take;
}

enum { W_WRITE = 1, W_FLUSH };
enum { WP_START = 0, WP_FLUSH, WP_DIRECT };

struct wfut {
    struct weft__opf f;
    struct wr_impl *wr;
    const char *data;  /* W_WRITE: the caller's bytes */
    size_t len;        /* W_WRITE: how many */
    size_t off;        /* WP_FLUSH: bytes of wr->buf written; WP_DIRECT: of data */
    size_t flushed;    /* W_FLUSH: total written */
    uint8_t mode;      /* W_* */
    uint8_t phase;     /* WP_* */
    uint8_t finished;
};
WEFT__IMPL(weft_bufwriter_write, struct wfut);

static void wfut_init(weft_bufwriter_write *pub, int mode, weft_bufwriter *wr, const void *data,
                      size_t len, int64_t deadline)
{
    struct wfut *f = (struct wfut *)pub;
    weft__opf_init(&f->f, deadline);
    f->wr = wr ? wri(wr) : NULL;
    f->data = data;
    f->len = len;
    f->off = f->flushed = 0;
    f->mode = (uint8_t)mode;
    f->phase = WP_START;
    f->finished = 0;
}

/* Keep the unwritten tail of the buffer at its front. */
static void wr_compact(struct wfut *f)
{
    struct wr_impl *wr = f->wr;
    if (f->phase == WP_FLUSH && f->off > 0 && wr->buf) {
        memmove(wr->buf, wr->buf + f->off, wr->len - f->off);
        wr->len -= f->off;
        f->off = 0;
    }
}

static weft_poll wfut_finish(struct wfut *f, ssize_t *result, ssize_t r)
{
    wr_compact(f);
    weft__opf_finish(&f->f);
    f->finished = 1;
    *result = r;
    return WEFT_READY;
}

/* Write buf/data [off, end) until done. READY with *res 0 (all written) or -errno. */
static weft_poll write_step(struct wfut *f, weft_cx *cx, const char *p, size_t end, int32_t *res)
{
    for (;;) {
        if (!f->f.inflight) {
            if (f->off == end) {
                *res = 0;
                return WEFT_READY;
            }
            if (!weft__budget(cx))
                return WEFT_PENDING;
            weft__stream_prep_write(&f->f.w.op, f->wr->s, p + f->off, end - f->off);
            int err = weft__opf_start(&f->f, &f->wr->s->h, cx);
            if (err < 0) {
                *res = err;
                return WEFT_READY;
            }
        }
        if (weft__opf_poll(&f->f, cx, res) == WEFT_PENDING)
            return WEFT_PENDING;
        if (*res <= 0) {
            if (*res == 0)
                *res = -EPIPE;
            return WEFT_READY;
        }
        weft__stream_advance(f->wr->s, *res);
        f->off += (size_t)*res;
        if (f->mode == W_FLUSH && f->phase == WP_FLUSH)
            f->flushed += (size_t)*res;
    }
}

static weft_poll wfut_poll(struct wfut *f, weft_cx *cx, ssize_t *result)
{
    struct wr_impl *wr = f->wr;
    int32_t res;

    if (f->phase == WP_START) {
        if (f->mode == W_WRITE && wr->cap - wr->len >= f->len) {
            if (f->len)
                memcpy(wr->buf + wr->len, f->data, f->len);
            wr->len += f->len;
            return wfut_finish(f, result, (ssize_t)f->len);
        }
        f->phase = WP_FLUSH;
        f->off = 0;
    }
    if (f->phase == WP_FLUSH) {
        if (write_step(f, cx, wr->buf, wr->len, &res) == WEFT_PENDING)
            return WEFT_PENDING;
        if (res < 0)
            return wfut_finish(f, result, res);
        wr->len = 0;
        f->off = 0;
        if (f->mode == W_FLUSH)
            return wfut_finish(f, result, (ssize_t)f->flushed);
        if (f->len < wr->cap) {
            memcpy(wr->buf, f->data, f->len);
            wr->len = f->len;
            f->phase = WP_DIRECT; /* nothing to compact */
            return wfut_finish(f, result, (ssize_t)f->len);
        }
        f->phase = WP_DIRECT;
    }
    if (write_step(f, cx, f->data, f->len, &res) == WEFT_PENDING)
        return WEFT_PENDING;
    return wfut_finish(f, result, res < 0 ? res : (ssize_t)f->len);
}

static bool wr_ok(const struct wr_impl *wr)
{
    return wr && wr->s && wr->buf && wr->cap > 0;
}

void weft_bufwriter_write_init(weft_bufwriter_write *f, weft_bufwriter *wr, const void *data,
                               size_t len, int64_t deadline)
{
    wfut_init(f, W_WRITE, wr, data, len, deadline);
}

weft_poll weft_bufwriter_write_poll(weft_bufwriter_write *pub, weft_cx *cx, ssize_t *result)
{
    struct wfut *f = (struct wfut *)pub;
    ssize_t dummy;
    if (!result)
        result = &dummy;
    if (!pub) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    if (f->mode != W_WRITE || f->finished || !wr_ok(f->wr) || (!f->data && f->len) || !cx)
        return wfut_finish(f, result, -EINVAL);
    return wfut_poll(f, cx, result);
}

void weft_bufwriter_write_drop(weft_bufwriter_write *pub)
{
    if (!pub)
        return;
    struct wfut *f = (struct wfut *)pub;
    void *orphan = NULL;
    if (f->f.inflight && f->phase == WP_FLUSH && f->wr && f->wr->owned) {
        orphan = f->wr->buf; /* the kernel may still read it: it goes with the op */
        f->wr->buf = NULL;
        f->wr->owned = 0;
        f->wr->cap = f->wr->len = 0;
        f->off = 0;
    } else if (!f->f.inflight && f->wr && !f->finished) {
        wr_compact(f);
    }
    weft__opf_drop(&f->f, orphan);
    f->finished = 1;
}

void weft_bufwriter_flush_init(weft_bufwriter_flush *f, weft_bufwriter *wr, int64_t deadline)
{
    wfut_init(f, W_FLUSH, wr, NULL, 0, deadline);
    ((struct wfut *)f)->phase = WP_FLUSH;
}

weft_poll weft_bufwriter_flush_poll(weft_bufwriter_flush *pub, weft_cx *cx, ssize_t *result)
{
    struct wfut *f = (struct wfut *)pub;
    ssize_t dummy;
    if (!result)
        result = &dummy;
    if (!pub) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    if (f->mode != W_FLUSH || f->finished || !wr_ok(f->wr) || !cx)
        return wfut_finish(f, result, -EINVAL);
    return wfut_poll(f, cx, result);
}

void weft_bufwriter_flush_drop(weft_bufwriter_flush *f) { weft_bufwriter_write_drop(f); }
