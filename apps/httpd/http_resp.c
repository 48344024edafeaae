/* apps/httpd/http_resp.c - the response writer and the connection's output queue.
 *
 * Output is a queue of segments: bytes copied into the output buffer (SEG_BUF, consecutive
 * copies merge into one segment), borrowed bytes (SEG_REF) and file ranges (SEG_FILE, sent
 * with sendfile). Responses to pipelined requests queue up behind each other and leave in as
 * few writes as the segments allow: one writev for any run of byte segments.
 *
 * The engine writes the framing headers itself - Date (formatted once per second per thread),
 * Server, Content-Length or Transfer-Encoding: chunked, Connection - so a handler cannot get
 * the framing wrong, and bodies of HEAD, 204 and 304 responses never reach the wire.
 * Responses are always "HTTP/1.1" (RFC 9110 2.5: the highest version we conform to), also to
 * HTTP/1.0 clients, with keep-alive only when a 1.0 client asked for it.
 */
#include "http_conn.h"
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ status texts */

const char *http_status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "";
    }
}

/* ------------------------------------------------------------------ Date, once a second */

static __thread struct {
    time_t sec;
    char text[32];
} date_cache;

void http__date_now(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != date_cache.sec || !date_cache.text[0]) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(date_cache.text, sizeof date_cache.text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        date_cache.sec = ts.tv_sec;
    }
    memcpy(out, date_cache.text, 32);
}

/* ------------------------------------------------------------------ buffer pool */

/* A per-thread stack of free blocks of one size (the configured buffer size): taking and
 * returning a buffer per request is a pointer push/pop. Blocks may be returned on another
 * thread than the one that gave them out (tasks migrate); they are plain malloc blocks. */
enum { POOL_MAX = 64 };
static __thread struct {
    size_t size;
    int n;
    void *items[POOL_MAX];
} pool;

void *http__buf_get(size_t size)
{
    if (pool.n > 0 && pool.size == size)
        return pool.items[--pool.n];
    return malloc(size);
}

void http_thread_cleanup(void)
{
    while (pool.n > 0)
        free(pool.items[--pool.n]);
}

void http__buf_put(void *p, size_t size)
{
    if (!p)
        return;
    if (pool.n == 0)
        pool.size = size;
    if (pool.size == size && pool.n < POOL_MAX) {
        pool.items[pool.n++] = p;
        return;
    }
    free(p);
}

/* ------------------------------------------------------------------ output queue */

enum { SEG_INIT = 16, LOW_WATER = 32 * 1024 };

static int ensure_obuf(http_conn *c, size_t more)
{
    size_t need = (size_t)c->ob_len + more;
    if (need > UINT32_MAX / 2)
        return -ENOMEM;
    if (c->obuf && need <= c->ob_cap)
        return 0;
    size_t std = c->cfg->limits.buffer_size;
    if (!c->obuf && need <= std) {
        c->obuf = http__buf_get(std);
        if (!c->obuf)
            return -ENOMEM;
        c->ob_cap = (uint32_t)std;
        return 0;
    }
    size_t cap = c->ob_cap ? c->ob_cap : std;
    while (cap < need)
        cap *= 2;
    char *n = malloc(cap);
    if (!n)
        return -ENOMEM;
    if (c->obuf) {
        memcpy(n, c->obuf, c->ob_len);
        if (c->ob_cap == std)
            http__buf_put(c->obuf, std);
        else
            free(c->obuf);
    }
    c->obuf = n;
    c->ob_cap = (uint32_t)cap;
    return 0;
}

static struct http_seg *push_seg(http_conn *c)
{
    if (c->seg_tail == c->seg_cap) {
        if (c->seg_head > 0) { /* slide the live segments down */
            memmove(c->segs, c->segs + c->seg_head, (c->seg_tail - c->seg_head) * sizeof *c->segs);
            c->seg_tail -= c->seg_head;
            c->seg_head = 0;
        }
        if (c->seg_tail == c->seg_cap) {
            if (!c->segs) {
                c->segs = c->seg_inline;
                c->seg_cap = HTTP_INLINE_SEGS;
            } else {
                uint32_t cap = c->seg_cap * 2 > SEG_INIT ? c->seg_cap * 2 : SEG_INIT;
                struct http_seg *s = malloc(cap * sizeof *s);
                if (!s)
                    return NULL;
                memcpy(s, c->segs, c->seg_tail * sizeof *s);
                if (c->segs != c->seg_inline)
                    free(c->segs);
                c->segs = s;
                c->seg_cap = cap;
            }
        }
    }
    return &c->segs[c->seg_tail++];
}

int http__out_bytes(http_conn *c, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (c->dead)
        return 0; /* nothing more reaches the peer; keep handlers simple */
    if (ensure_obuf(c, n) < 0)
        return -ENOMEM;
    uint32_t at = c->ob_len;
    memcpy(c->obuf + at, p, n);
    c->ob_len += (uint32_t)n;
    c->out_pending += n;
    if (c->seg_tail > c->seg_head) {
        struct http_seg *last = &c->segs[c->seg_tail - 1];
        if (last->kind == SEG_BUF && last->off + last->len == at) {
            last->len += n;
            return 0;
        }
    }
    struct http_seg *s = push_seg(c);
    if (!s) {
        c->ob_len = at;
        c->out_pending -= n;
        return -ENOMEM;
    }
    *s = (struct http_seg){.kind = SEG_BUF, .off = at, .len = n};
    return 0;
}

static void release_seg(struct http_seg *s)
{
    if (s->release) {
        http_release_fn fn = s->release;
        s->release = NULL;
        fn(s->arg);
    }
}

int http__out_seg(http_conn *c, const struct http_seg *seg)
{
    if (c->dead || seg->len == 0) {
        struct http_seg tmp = *seg;
        release_seg(&tmp);
        return 0;
    }
    struct http_seg *s = push_seg(c);
    if (!s) {
        struct http_seg tmp = *seg;
        release_seg(&tmp);
        return -ENOMEM;
    }
    *s = *seg;
    c->out_pending += seg->len;
    return 0;
}

/* Give the buffers back once everything is sent. */
static void out_idle(http_conn *c)
{
    c->seg_head = c->seg_tail = 0;
    c->ob_len = 0;
    c->out_pending = 0;
    if (c->obuf) {
        if (c->ob_cap == c->cfg->limits.buffer_size)
            http__buf_put(c->obuf, c->ob_cap);
        else
            free(c->obuf);
        c->obuf = NULL;
        c->ob_cap = 0;
    }
    if (c->segs != c->seg_inline)
        free(c->segs);
    c->segs = NULL;
    c->seg_cap = 0;
}

void http__out_release_all(http_conn *c)
{
    for (uint32_t i = c->seg_head; i < c->seg_tail; i++)
        release_seg(&c->segs[i]);
    out_idle(c);
}

int http_conn_out_iov(http_conn *c, struct iovec *iov, int max, http_file_seg *file)
{
    int k = 0;
    for (uint32_t i = c->seg_head; i < c->seg_tail && k < max; i++) {
        const struct http_seg *s = &c->segs[i];
        if (s->kind == SEG_FILE) {
            if (k == 0 && file)
                *file = (http_file_seg){.fd = s->fd, .off = (int64_t)s->off, .len = s->len};
            break;
        }
        iov[k].iov_base = (char *)(s->kind == SEG_BUF ? c->obuf : s->p) + s->off;
        iov[k].iov_len = s->len;
        k++;
    }
    return k;
}

bool http_conn_out_has_file(const http_conn *c, uint64_t min)
{
    for (uint32_t i = c->seg_head; i < c->seg_tail; i++)
        if (c->segs[i].kind == SEG_FILE && c->segs[i].len >= min)
            return true;
    return false;
}

void http_conn_out_done(http_conn *c, ssize_t n)
{
    if (n < 0) {
        c->dead = true;
        c->out_err = (int)n;
        c->closing = true;
        http__out_release_all(c);
        return;
    }
    size_t left = (size_t)n;
    c->out_pending -= left <= c->out_pending ? left : c->out_pending;
    while (c->seg_head < c->seg_tail) {
        struct http_seg *s = &c->segs[c->seg_head];
        size_t take = left < s->len ? left : s->len;
        s->off += take;
        s->len -= take;
        left -= take;
        if (s->len > 0)
            break;
        release_seg(s);
        c->seg_head++;
    }
    if (c->seg_head == c->seg_tail)
        out_idle(c);
}

/* ------------------------------------------------------------------ response head */

static int out_str(http_conn *c, const char *s)
{
    return http__out_bytes(c, s, strlen(s));
}

static size_t put_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return n;
}

/* Decimal digits of v into p; returns the count. */
static size_t put_u64(char *p, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

static int write_status_line(http_conn *c, int status)
{
    char line[256], date[32];
    size_t n = 0;
    http__date_now(date);
    if (strlen(c->cfg->server_name) > 100)
        return -EINVAL;
    if (status == 200) {
        n += put_str(line, "HTTP/1.1 200 OK\r\nServer: ");
    } else {
        n += put_str(line, "HTTP/1.1 ");
        n += put_u64(line + n, (uint64_t)status);
        line[n++] = ' ';
        n += put_str(line + n, http_status_text(status));
        n += put_str(line + n, "\r\nServer: ");
    }
    n += put_str(line + n, c->cfg->server_name);
    n += put_str(line + n, "\r\nDate: ");
    n += put_str(line + n, date);
    n += put_str(line + n, "\r\n");
    return http__out_bytes(c, line, n);
}

int http_resp_start(http_ex *ex, int status)
{
    if (!ex || status < 100 || status > 999 || status == 101)
        return -EINVAL;
    if (ex->resp_state != RESP_NONE)
        return -EALREADY;
    int err = write_status_line(ex->conn, status);
    if (err)
        return err;
    ex->status = status;
    ex->resp_state = RESP_HEAD;
    return 0;
}

static bool reserved_header(const char *n, size_t len)
{
    static const char *const names[] = {
        "date", "server", "content-length", "transfer-encoding", "connection", NULL};
    for (int i = 0; names[i]; i++) {
        size_t l = strlen(names[i]);
        if (l != len)
            continue;
        size_t k = 0;
        while (k < l && (n[k] | 0x20) == names[i][k])
            k++;
        if (k == l)
            return true;
    }
    return false;
}

int http_resp_header_n(http_ex *ex, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (!ex || !name || (!value && vlen) || nlen == 0 || nlen > 256 || vlen > 16384)
        return -EINVAL;
    if (ex->resp_state != RESP_HEAD)
        return -EALREADY;
    for (size_t i = 0; i < nlen; i++)
        if (!http__tchar((unsigned char)name[i]))
            return -EINVAL;
    for (size_t i = 0; i < vlen; i++)
        if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0')
            return -EINVAL;
    if (reserved_header(name, nlen))
        return -EINVAL;
    http_conn *c = ex->conn;
    int err;
    if ((err = http__out_bytes(c, name, nlen)) || (err = http__out_bytes(c, ": ", 2)) ||
        (err = http__out_bytes(c, value, vlen)) || (err = http__out_bytes(c, "\r\n", 2)))
        return err;
    return 0;
}

int http_resp_headers_raw(http_ex *ex, const char *block, size_t len)
{
    if (!ex || !block || len < 2 || block[len - 2] != '\r' || block[len - 1] != '\n')
        return -EINVAL;
    if (ex->resp_state != RESP_HEAD)
        return -EALREADY;
    return http__out_bytes(ex->conn, block, len);
}

int http_resp_header(http_ex *ex, const char *name, const char *value)
{
    if (!name || !value)
        return -EINVAL;
    return http_resp_header_n(ex, name, strlen(name), value, strlen(value));
}

/* Will the connection close after this response? */
static bool must_close(http_conn *c, const http_ex *ex)
{
    if (c->closing || ex->req_close || ex->resp_close)
        return true;
    if (c->cfg->draining && atomic_load_explicit(c->cfg->draining, memory_order_relaxed))
        return true;
    if (c->requests + 1 >= c->cfg->limits.max_requests)
        return true;
    if (!c->msg_done) {
        /* The body is not read yet. If the client waits for 100 Continue it will not send it:
         * close. A known remainder too large to drain: close. */
        bool no_body_yet = c->in_parsed == c->in_len && c->body_seen == 0;
        if (ex->expect_continue && !c->continue_sent && no_body_yet)
            return true;
        if (ex->content_length > 0 &&
            (uint64_t)ex->content_length - c->body_seen > c->cfg->limits.max_discard)
            return true;
    }
    return false;
}

int http_resp_body_begin(http_ex *ex, int64_t length)
{
    if (!ex || length < -1)
        return -EINVAL;
    if (ex->resp_state != RESP_HEAD)
        return -EALREADY;
    http_conn *c = ex->conn;
    int st = ex->status;
    bool bodyless_status = st < 200 || st == 204 || st == 304;
    ex->resp_nobody = bodyless_status || ex->method == HTTP_M_HEAD;
    ex->resp_len = length;
    char hdr[96];
    int n = 0, err;
    if (!bodyless_status) {
        if (length >= 0) {
            n = (int)put_str(hdr, "Content-Length: ");
            n += (int)put_u64(hdr + n, (uint64_t)length);
            n += (int)put_str(hdr + n, "\r\n");
        } else if (ex->version == 11)
            n = snprintf(hdr, sizeof hdr, "Transfer-Encoding: chunked\r\n"),
            ex->resp_chunked = true;
        else
            ex->resp_eof_body = true, ex->resp_close = true;
    }
    if (n > 0 && (err = http__out_bytes(c, hdr, (size_t)n)))
        return err;
    if (must_close(c, ex)) {
        ex->resp_close = true;
        err = out_str(c, "Connection: close\r\n\r\n");
    } else if (ex->version == 10) {
        err = out_str(c, "Connection: keep-alive\r\n\r\n");
    } else {
        err = out_str(c, "\r\n");
    }
    if (err)
        return err;
    ex->resp_state = RESP_BODY;
    if (ex->resp_nobody)
        ex->resp_chunked = false;
    return 0;
}

static int body_check(http_ex *ex, size_t len)
{
    if (!ex)
        return -EINVAL;
    if (ex->resp_state != RESP_BODY)
        return -EALREADY;
    if (ex->resp_len >= 0 && ex->resp_written + len > (uint64_t)ex->resp_len)
        return -EINVAL;
    return 0;
}

static int chunk_head(http_conn *c, size_t len)
{
    char h[24];
    int n = snprintf(h, sizeof h, "%zx\r\n", len);
    return http__out_bytes(c, h, (size_t)n);
}

int http_resp_write(http_ex *ex, const void *data, size_t len)
{
    int err = body_check(ex, len);
    if (err)
        return err;
    if (len == 0)
        return 0;
    if (!data)
        return -EINVAL;
    ex->resp_written += len;
    if (ex->resp_nobody)
        return 0;
    http_conn *c = ex->conn;
    if (ex->resp_chunked && (err = chunk_head(c, len)))
        return err;
    if ((err = http__out_bytes(c, data, len)))
        return err;
    if (ex->resp_chunked)
        return http__out_bytes(c, "\r\n", 2);
    return 0;
}

static int write_seg(http_ex *ex, const struct http_seg *seg)
{
    int err = body_check(ex, seg->len);
    if (err) {
        struct http_seg tmp = *seg;
        release_seg(&tmp);
        return err;
    }
    ex->resp_written += seg->len;
    if (ex->resp_nobody || seg->len == 0) {
        struct http_seg tmp = *seg;
        release_seg(&tmp);
        return 0;
    }
    http_conn *c = ex->conn;
    if (ex->resp_chunked && (err = chunk_head(c, seg->len))) {
        struct http_seg tmp = *seg;
        release_seg(&tmp);
        return err;
    }
    if ((err = http__out_seg(c, seg)))
        return err;
    if (ex->resp_chunked)
        return http__out_bytes(c, "\r\n", 2);
    return 0;
}

int http_resp_write_ref(http_ex *ex, const void *data, size_t len, http_release_fn release,
                        void *arg)
{
    if (!data && len) {
        if (release)
            release(arg);
        return -EINVAL;
    }
    return write_seg(
        ex,
        &(struct http_seg){.kind = SEG_REF, .p = data, .len = len, .release = release, .arg = arg});
}

int http_resp_write_file(http_ex *ex, int fd, int64_t off, int64_t len, http_release_fn release,
                         void *arg)
{
    if (fd < 0 || off < 0 || len < 0) {
        if (release)
            release(arg);
        return -EINVAL;
    }
    return write_seg(ex, &(struct http_seg){.kind = SEG_FILE,
                                            .fd = fd,
                                            .off = (uint64_t)off,
                                            .len = (uint64_t)len,
                                            .release = release,
                                            .arg = arg});
}

int http_resp_end(http_ex *ex)
{
    if (!ex)
        return -EINVAL;
    if (ex->resp_state != RESP_BODY)
        return -EALREADY;
    ex->resp_state = RESP_DONE;
    if (ex->resp_chunked)
        return out_str(ex->conn, "0\r\n\r\n");
    if (!ex->resp_nobody && ex->resp_len >= 0 && ex->resp_written < (uint64_t)ex->resp_len)
        ex->resp_close = true; /* the framing promised more: only closing ends it */
    return 0;
}

int http_resp_send(http_ex *ex, int status, const char *content_type, const void *body, size_t len)
{
    int err = http_resp_start(ex, status);
    if (!err && content_type)
        err = http_resp_header(ex, "Content-Type", content_type);
    if (!err)
        err = http_resp_body_begin(ex, (int64_t)len);
    if (!err && len)
        err = http_resp_write(ex, body, len);
    if (!err)
        err = http_resp_end(ex);
    return err;
}

bool http_resp_started(const http_ex *ex)
{
    return ex && ex->resp_state != RESP_NONE;
}

void http_resp_close_after(http_ex *ex)
{
    if (ex)
        ex->resp_close = true;
}

weft_poll http_resp_flush_poll(http_ex *ex, weft_cx *cx, int *result)
{
    (void)cx;
    http_conn *c = ex->conn;
    if (c->dead) {
        *result = c->out_err ? c->out_err : -EPIPE;
        return WEFT_READY;
    }
    if (c->out_pending <= LOW_WATER) {
        *result = 0;
        return WEFT_READY;
    }
    c->want_flush = true; /* the engine writes, then polls the handler again */
    return WEFT_PENDING;
}

/* ------------------------------------------------------------------ engine rejections */

int http__resp_error(http_conn *c, int status)
{
    char body[96], head[160];
    int bl = snprintf(body, sizeof body, "%d %s\n", status, http_status_text(status));
    int err = write_status_line(c, status);
    if (err)
        return err;
    int hl = snprintf(head, sizeof head,
                      "%sContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
                      "Connection: close\r\n\r\n",
                      status == 405 ? "Allow: GET, HEAD, OPTIONS\r\n" : "", bl);
    if ((err = http__out_bytes(c, head, (size_t)hl)))
        return err;
    return http__out_bytes(c, body, (size_t)bl);
}
