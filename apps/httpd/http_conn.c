/* apps/httpd/http_conn.c - the connection engine: the step loop, buffers, the body reader and
 * the request getters. See http_conn.h for the model.
 *
 * Phases of a connection (c->phase):
 *   PH_HEAD     parse bytes until a request head is complete; rejections answer and close
 *   PH_HANDLER  the request's handler runs (polled again after each read/write it asked for)
 *   PH_DRAIN    the handler is done; the rest of the request body is read and dropped (up to
 *               max_discard, else the connection closes), then back to PH_HEAD
 *   PH_CLOSING  send what is queued, then close
 */
#include "http_conn.h"
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { HIGH_WATER = 64 * 1024 };

/* Timeouts are seconds long: the coarse clock (updated each tick, read without the TSC; at
 * most a few ms behind weft_now(), same base) keeps them off the hot path. Durations for
 * metrics and logs use the precise clock, and only when someone listens (cfg->on_done). */
static int64_t coarse_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t http_conn_send_deadline(const http_conn *c)
{
    return coarse_now() + c->cfg->limits.send_timeout;
}

void http_limits_defaults(http_limits *l)
{
    if (!l->max_request_line)
        l->max_request_line = 8192;
    if (!l->max_header_bytes)
        l->max_header_bytes = 16384;
    if (!l->max_headers)
        l->max_headers = 100;
    if (!l->max_body)
        l->max_body = 1 << 20;
    if (!l->header_timeout)
        l->header_timeout = WEFT_SEC(10);
    if (!l->body_timeout)
        l->body_timeout = WEFT_SEC(10);
    if (!l->send_timeout)
        l->send_timeout = WEFT_SEC(30);
    if (!l->keepalive_timeout)
        l->keepalive_timeout = WEFT_SEC(30);
    if (!l->max_requests)
        l->max_requests = 10000;
    if (!l->buffer_size)
        l->buffer_size = 8192;
    if (l->buffer_size < 1024)
        l->buffer_size = 1024;
    if (!l->max_discard)
        l->max_discard = 64 * 1024;
    if (l->max_headers > 65535)
        l->max_headers = 65535;
}

void http_config_defaults(http_config *cfg)
{
    http_limits_defaults(&cfg->limits);
    if (!cfg->server_name)
        cfg->server_name = "weft-httpd";
}

void http_conn_init(http_conn *c, const http_config *cfg)
{
    memset(c, 0, sizeof *c);
    c->cfg = cfg;
    c->ex.conn = c;
    http__parser_init(c);
    http__parse_reset_message(c);
    c->idle_since = coarse_now();
}

void http_conn_set_peer(http_conn *c, const char *peer)
{
    snprintf(c->peer, sizeof c->peer, "%s", peer ? peer : "");
}

static void hstate_free(http_conn *c)
{
    struct http_ex *ex = &c->ex;
    if (ex->hstate && ex->hstate != (void *)c->hstate_inline)
        free(ex->hstate);
    ex->hstate = NULL;
}

static void handler_drop(http_conn *c)
{
    struct http_ex *ex = &c->ex;
    if (ex->handler) {
        const http_handler *h = ex->handler;
        ex->handler = NULL;
        if (h->drop)
            h->drop(ex, ex->hstate);
    }
    hstate_free(c);
}

static void in_free(http_conn *c, char *p, uint32_t cap)
{
    if (!p || p == c->pad)
        return;
    if (cap == c->cfg->limits.buffer_size)
        http__buf_put(p, cap);
    else
        free(p);
}

static void in_release(http_conn *c)
{
    in_free(c, c->in, c->in_cap);
    c->in = NULL;
    c->in_cap = c->in_len = c->in_parsed = 0;
    c->msg_start = c->head_end = c->body_rd = c->body_wr = c->scan_pos = 0;
}

void http_conn_forget_buffers(http_conn *c)
{
    if (c->in != c->pad)
        c->in = NULL;
    c->obuf = NULL;
    if (c->segs != c->seg_inline)
        free(c->segs); /* the array itself is never the kernel's; what it points to may be */
    c->segs = NULL;
    c->seg_cap = c->seg_head = c->seg_tail = 0;
    c->ob_cap = c->ob_len = 0;
    c->out_pending = 0;
}

void http_conn_free(http_conn *c)
{
    handler_drop(c);
    http__out_release_all(c);
    if (c->ex.hdrs && c->ex.hdrs != c->ex.inline_hdrs)
        free(c->ex.hdrs);
    c->ex.hdrs = c->ex.inline_hdrs;
    in_release(c);
}

bool http_conn_is_idle(const http_conn *c)
{
    return c->phase == PH_HEAD && !c->msg_started && c->in_parsed == c->in_len;
}

bool http_conn_wants_linger(const http_conn *c)
{
    return c->linger && !c->dead;
}

/* ------------------------------------------------------------------ input buffer */

/* Move the current message's bytes to the start of the buffer (head phase only). */
static void compact_head(http_conn *c)
{
    uint32_t d = c->msg_start;
    if (d == 0)
        return;
    memmove(c->in, c->in + d, c->in_len - d);
    c->in_len -= d;
    c->in_parsed -= d;
    c->scan_pos -= d;
    c->msg_start = 0;
    c->head_end = c->body_rd = c->body_wr = 0;
    struct http_ex *ex = &c->ex;
    if (ex->method_len)
        ex->method_off -= d;
    if (c->url_len)
        ex->target_off -= d;
    if (ex->version_len)
        ex->version_off -= d;
    for (uint32_t i = 0; i < ex->nhdr; i++) {
        ex->hdrs[i].name_off -= d;
        if (ex->hdrs[i].val_off >= d)
            ex->hdrs[i].val_off -= d;
    }
}

/* Drop consumed body bytes: unparsed input moves down to the end of the decoded region. */
static void compact_body(http_conn *c)
{
    if (c->body_rd != c->body_wr || c->in_parsed <= c->head_end)
        return;
    uint32_t d = c->in_parsed - c->head_end;
    memmove(c->in + c->head_end, c->in + c->in_parsed, c->in_len - c->in_parsed);
    c->in_len -= d;
    c->in_parsed = c->head_end;
    c->scan_pos = c->head_end;
    c->body_rd = c->body_wr = c->head_end;
}

/* Move to a bigger buffer: the pad to a pooled one, a pooled one to twice its size (up to
 * `max`). Returns false when it cannot grow. */
static bool in_grow(http_conn *c, size_t max)
{
    size_t std = c->cfg->limits.buffer_size;
    size_t cap = c->in == c->pad ? std : (size_t)c->in_cap * 2;
    if (cap > max)
        cap = max;
    if (cap <= c->in_cap)
        return false;
    char *n = cap == std ? http__buf_get(std) : malloc(cap);
    if (!n)
        return false;
    memcpy(n, c->in, c->in_len);
    in_free(c, c->in, c->in_cap);
    c->in = n;
    c->in_cap = (uint32_t)cap;
    return true;
}

char *http_conn_read_buf(http_conn *c, size_t *room)
{
    size_t std = c->cfg->limits.buffer_size;
    if (!c->in) {
        c->in = c->pad;
        c->in_cap = HTTP_PAD;
        c->in_len = c->in_parsed = 0;
        c->msg_start = c->head_end = c->body_rd = c->body_wr = c->scan_pos = 0;
    }
    if (c->phase == PH_HEAD) {
        if (c->in_parsed == c->in_len && c->msg_start == c->in_parsed && c->msg_start > 0) {
            /* everything consumed: start over at 0 */
            c->in_len = c->in_parsed = c->msg_start = c->scan_pos = 0;
            c->head_end = c->body_rd = c->body_wr = 0;
        } else if (c->in_cap - c->in_len < c->in_cap / 4) {
            compact_head(c);
        }
        if (c->in_len == c->in_cap)
            in_grow(c, (size_t)c->cfg->limits.max_header_bytes + std);
    } else {
        compact_body(c);
        if (c->in_len == c->in_cap)
            in_grow(c, std);
    }
    *room = c->in_cap - c->in_len;
    if (*room == 0)
        return NULL;
    return c->in + c->in_len;
}

void http_conn_read_done(http_conn *c, ssize_t n)
{
    if (n > 0 && c->in && (size_t)n <= (size_t)(c->in_cap - c->in_len))
        c->in_len += (uint32_t)n;
    else
        c->read_eof = true;
}

int64_t http_conn_deadline(const http_conn *c)
{
    if (c->phase == PH_HEAD) {
        if (c->msg_started)
            return c->head_deadline;
        int64_t d = c->idle_since + c->cfg->limits.keepalive_timeout;
        return d < c->idle_since ? WEFT_NEVER : d;
    }
    return c->body_deadline;
}

static void reject(http_conn *c, int status);

void http_conn_timed_out(http_conn *c)
{
    switch (c->phase) {
    case PH_HEAD:
        if (c->msg_started && c->in_len > c->msg_start) {
            reject(c, 408);
            c->linger = false;
        } else {
            c->phase = PH_CLOSING;
            c->closing = true;
        }
        break;
    case PH_HANDLER:
        c->ex.body_err = -ETIMEDOUT;
        break;
    default:
        c->closing = true;
        c->phase = PH_CLOSING;
        break;
    }
}

/* ------------------------------------------------------------------ requests */

static void report(http_conn *c, const http_ex *ex, int status, uint64_t bytes, int64_t start,
                   bool rejected)
{
    if (!c->cfg->on_done)
        return;
    http_done_info info = {.status = status,
                           .body_bytes = bytes,
                           .start_ns = start ? start : weft_now(),
                           .end_ns = weft_now(),
                           .rejected = rejected};
    c->cfg->on_done(ex, &info, c->cfg->on_done_arg);
}

/* A request that no handler may see: answer and close. */
static void reject(http_conn *c, int status)
{
    if (status < 400)
        status = 400;
    http__resp_error(c, status);
    bool line_ok = c->ex.method_len > 0 && c->url_len > 0 && c->ex.version_len > 0;
    c->ex.target_len = c->url_len;
    report(c, line_ok ? &c->ex : NULL, status, 0, 0, true);
    c->requests++;
    c->closing = true;
    c->linger = true;
    c->phase = PH_CLOSING;
}

static const http_handler *route(const http_config *cfg, const char *p, size_t n)
{
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const http_route *r = &cfg->routes[i];
        size_t l = strlen(r->path);
        if (r->prefix ? (n >= l && memcmp(p, r->path, l) == 0)
                      : (n == l && memcmp(p, r->path, l) == 0))
            return r->handler;
    }
    return cfg->fallback;
}

/* The request will be answered without reading its body: drop the body bytes that came with
 * the head now, so that a malformed or oversized body is answered 400/413 (as the RFC asks and
 * nginx does) rather than with the handler's status followed by a bare close. Bytes still to
 * come are drained after the response (PH_DRAIN). With Expect: 100-continue no body is sent
 * before our answer, so there is nothing to check. Returns false when the request was rejected. */
static bool precheck_body(http_conn *c)
{
    if (c->msg_done || c->ex.content_length == 0 || c->ex.expect_continue)
        return true;
    c->discard = true;
    c->body_rd = c->body_wr = c->head_end;
    if (http__parse_feed(c, c->in_len) == FEED_ERROR) {
        reject(c, c->err_status ? c->err_status : 400);
        return false;
    }
    return true;
}

/* The head is complete and valid: pick the handler. */
static void begin_request(http_conn *c)
{
    struct http_ex *ex = &c->ex;
    ex->start_ns = c->cfg->on_done ? weft_now() : 0;
    c->phase = PH_DRAIN;
    if (ex->method == HTTP_M_OPTIONS && ex->path_len == 1 && c->in[ex->path_off] == '*') {
        /* OPTIONS * : the server's capabilities. */
        if (http_resp_start(ex, 200) == 0 &&
            http_resp_header(ex, "Allow", "GET, HEAD, OPTIONS") == 0 &&
            http_resp_body_begin(ex, 0) == 0)
            http_resp_end(ex);
        return;
    }
    const char *path = ex->path_len ? c->in + ex->path_off : "/";
    const http_handler *h = route(c->cfg, path, ex->path_len ? ex->path_len : 1);
    if (!h || !h->handle) {
        if (!precheck_body(c))
            return;
        http_resp_send(ex, 404, "text/plain; charset=utf-8", "404 Not Found\n", 14);
        return;
    }
    if (h->ignores_body && !precheck_body(c))
        return;
    if (h->state_size > HTTP_HANDLER_STATE_MAX) {
        http_resp_send(ex, 500, "text/plain; charset=utf-8", "500 Internal Server Error\n", 26);
        return;
    }
    if (h->state_size <= sizeof c->hstate_inline) {
        memset(c->hstate_inline, 0, h->state_size);
        ex->hstate = c->hstate_inline;
    } else {
        ex->hstate = calloc(1, h->state_size);
        if (!ex->hstate) {
            http_resp_send(ex, 503, "text/plain; charset=utf-8", "503 Service Unavailable\n", 24);
            return;
        }
    }
    ex->handler = h;
    c->phase = PH_HANDLER;
}

static int status_for_body_err(int err)
{
    switch (err) {
    case -EMSGSIZE:
        return 413;
    case -ETIMEDOUT:
        return 408;
    case -EPROTO:
        return 400;
    default:
        return 400;
    }
}

/* The handler returned: complete its response, whatever state it left it in. */
static void finish_handler(http_conn *c, weft_poll r)
{
    struct http_ex *ex = &c->ex;
    handler_drop(c);
    int berr = ex->body_err;
    if (berr)
        ex->resp_close = true;
    switch (ex->resp_state) {
    case RESP_NONE: {
        int st = berr ? status_for_body_err(berr) : 500;
        if (berr == -ECONNRESET)
            c->closing = true;
        char body[64];
        int n = snprintf(body, sizeof body, "%d %s\n", st, http_status_text(st));
        http_resp_send(ex, st, "text/plain; charset=utf-8", body, (size_t)n);
        break;
    }
    case RESP_HEAD:
        if (http_resp_body_begin(ex, 0) == 0)
            http_resp_end(ex);
        break;
    case RESP_BODY:
        http_resp_end(ex);
        break;
    default:
        break;
    }
    if (r < 0 && ex->resp_state != RESP_DONE)
        ex->resp_close = true;
    if (berr)
        c->linger = berr != -ECONNRESET && berr != -ETIMEDOUT;
}

static void end_request(http_conn *c)
{
    struct http_ex *ex = &c->ex;
    report(c, ex, ex->status, ex->resp_written, ex->start_ns, false);
    c->requests++;
    bool close = ex->resp_close || ex->resp_eof_body || c->closing || !c->msg_done;
    http__parse_reset_message(c);
    c->msg_started = false;
    if (close) {
        c->closing = true;
        c->phase = PH_CLOSING;
    } else {
        c->phase = PH_HEAD;
        c->idle_since = coarse_now();
    }
}

static bool draining(const http_conn *c)
{
    return c->cfg->draining && atomic_load_explicit(c->cfg->draining, memory_order_relaxed);
}

int http_conn_step(http_conn *c, weft_cx *cx)
{
    for (;;) {
        switch (c->phase) {
        case PH_HEAD:
            if (c->in_parsed < c->in_len) {
                if (c->out_pending >= HIGH_WATER && !c->dead)
                    return HTTP_NEXT_WRITE; /* pipelined responses pile up: send first */
                if (!c->msg_started) {
                    c->msg_started = true;
                    c->head_deadline = coarse_now() + c->cfg->limits.header_timeout;
                }
                int r = http__parse_feed(c, c->in_len);
                if (r == FEED_HEAD) {
                    begin_request(c);
                    continue;
                }
                if (r == FEED_ERROR) {
                    reject(c, c->err_status);
                    continue;
                }
            }
            if (c->dead || c->read_eof || (draining(c) && !c->msg_started)) {
                c->closing = true;
                c->phase = PH_CLOSING;
                continue;
            }
            if (c->out_pending)
                return HTTP_NEXT_WRITE;
            if (!c->msg_started)
                in_release(c); /* idle: hold no buffer */
            return HTTP_NEXT_READ;

        case PH_HANDLER: {
            struct http_ex *ex = &c->ex;
            c->want_read = c->want_flush = false;
            weft_poll r = ex->handler->handle(ex, ex->hstate, cx);
            if (r == WEFT_PENDING) {
                if (c->want_flush) {
                    if (c->dead)
                        continue; /* the handler's next flush poll reports the error */
                    return HTTP_NEXT_WRITE;
                }
                if (c->want_read) {
                    if (c->out_pending && !c->dead)
                        return HTTP_NEXT_WRITE; /* e.g. 100 Continue */
                    if (c->read_eof || c->dead) {
                        if (!ex->body_err)
                            ex->body_err = -ECONNRESET;
                        continue;
                    }
                    c->body_deadline = coarse_now() + c->cfg->limits.body_timeout;
                    return HTTP_NEXT_READ;
                }
                if (c->out_pending && !c->dead)
                    return HTTP_NEXT_WRITE; /* send what is ready while the handler waits */
                return HTTP_NEXT_WAIT;
            }
            finish_handler(c, r);
            c->phase = PH_DRAIN;
            continue;
        }

        case PH_DRAIN: {
            struct http_ex *ex = &c->ex;
            if (!c->msg_done && !ex->resp_close && !c->dead && !c->closing) {
                c->discard = true;
                c->body_rd = c->body_wr = c->head_end;
                int r = http__parse_feed(c, c->in_len);
                if (r == FEED_ERROR) {
                    c->closing = true;
                } else if (!c->msg_done) {
                    if (c->read_eof || c->body_seen > c->cfg->limits.max_discard) {
                        c->closing = true;
                    } else {
                        if (c->out_pending)
                            return HTTP_NEXT_WRITE;
                        c->body_deadline = coarse_now() + c->cfg->limits.body_timeout;
                        return HTTP_NEXT_READ;
                    }
                }
            }
            end_request(c);
            continue;
        }

        case PH_CLOSING:
        default:
            if (c->out_pending && !c->dead)
                return HTTP_NEXT_WRITE;
            return HTTP_NEXT_CLOSE;
        }
    }
}

/* ------------------------------------------------------------------ request getters */

static http_str str_at(const http_ex *ex, uint32_t off, size_t len)
{
    return (http_str){.p = ex->conn->in + off, .len = len};
}

void *http_ex_arg(const http_ex *ex)
{
    return ex && ex->handler ? ex->handler->arg : NULL;
}
http_method http_req_method(const http_ex *ex)
{
    return (http_method)ex->method;
}
http_str http_req_method_str(const http_ex *ex)
{
    return str_at(ex, ex->method_off, ex->method_len);
}
http_str http_req_target(const http_ex *ex)
{
    return str_at(ex, ex->target_off, ex->target_len);
}

http_str http_req_path(const http_ex *ex)
{
    if (ex->path_len == 0)
        return (http_str){.p = "/", .len = 1};
    return str_at(ex, ex->path_off, ex->path_len);
}

http_str http_req_query(const http_ex *ex)
{
    return str_at(ex, ex->query_off, ex->query_len);
}
int http_req_version(const http_ex *ex)
{
    return ex->version;
}

http_str http_req_host(const http_ex *ex)
{
    if (!ex->host_len)
        return (http_str){.p = "", .len = 0};
    return str_at(ex, ex->host_off, ex->host_len);
}

size_t http_req_header_count(const http_ex *ex)
{
    return ex->nhdr;
}

bool http_req_header_at(const http_ex *ex, size_t i, http_str *name, http_str *value)
{
    if (i >= ex->nhdr)
        return false;
    const struct http_hdr *h = &ex->hdrs[i];
    if (name)
        *name = str_at(ex, h->name_off, h->name_len);
    if (value)
        *value = str_at(ex, h->val_off, h->val_len);
    return true;
}

bool http_req_header(const http_ex *ex, const char *name, http_str *value)
{
    size_t n = strlen(name);
    const char *in = ex->conn->in;
    for (uint32_t i = 0; i < ex->nhdr; i++) {
        const struct http_hdr *h = &ex->hdrs[i];
        if (h->name_len != n)
            continue;
        const char *a = in + h->name_off;
        size_t k = 0;
        while (k < n && ((unsigned char)a[k] | 0x20) == ((unsigned char)name[k] | 0x20))
            k++;
        if (k == n) {
            if (value)
                *value = str_at(ex, h->val_off, h->val_len);
            return true;
        }
    }
    return false;
}

int64_t http_req_content_length(const http_ex *ex)
{
    return ex->content_length;
}
const char *http_req_peer(const http_ex *ex)
{
    return ex->conn->peer;
}

weft_poll http_req_body_read(http_ex *ex, weft_cx *cx, void *buf, size_t cap, ssize_t *n)
{
    (void)cx;
    http_conn *c = ex->conn;
    for (;;) {
        if (c->body_rd < c->body_wr) {
            size_t k = c->body_wr - c->body_rd;
            if (k > cap)
                k = cap;
            memcpy(buf, c->in + c->body_rd, k);
            c->body_rd += (uint32_t)k;
            *n = (ssize_t)k;
            return WEFT_READY;
        }
        if (ex->body_err) {
            *n = ex->body_err;
            return WEFT_READY;
        }
        if (c->msg_done || ex->content_length == 0) {
            *n = 0;
            return WEFT_READY;
        }
        if (cap == 0) {
            *n = 0;
            return WEFT_READY;
        }
        uint32_t before = c->in_parsed;
        bool was_done = c->msg_done;
        int r = http__parse_feed(c, c->in_len);
        if (r == FEED_ERROR) {
            ex->body_err = c->err_status == 413 ? -EMSGSIZE : -EPROTO;
            continue;
        }
        if (c->in_parsed != before || c->msg_done != was_done || c->body_rd < c->body_wr)
            continue;
        if (c->read_eof || c->dead) {
            ex->body_err = -ECONNRESET;
            continue;
        }
        if (ex->expect_continue && !c->continue_sent && ex->resp_state == RESP_NONE) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            http__out_bytes(c, cont, sizeof cont - 1);
            c->continue_sent = true;
        }
        c->want_read = true;
        return WEFT_PENDING;
    }
}
