/* apps/httpd/http_parse.c - llhttp glue: request heads and bodies into the connection's
 * buffer, and every check llhttp 8 leaves to us.
 *
 * llhttp runs in strict mode (LLHTTP_STRICT_MODE=1, no lenient flag). What it still accepts
 * and we reject (each found by probing llhttp 8.1, see tests/http/parse_test.c):
 *   - a bare LF ending the request line or the header block, and leading bare-LF lines: every
 *     framing byte (all bytes that are not body data) is scanned, and an LF must follow a CR,
 *     a CR must precede an LF;
 *   - obs-fold (a header line starting with SP/HTAB), also after an empty value, where llhttp
 *     silently joins the lines;
 *   - two spaces between request-line parts; HTTP/0.9 (no version); versions other than 1.0
 *     and 1.1 (505); characters RFC 3986 forbids in a request-target ('"', '<', '>', '\', '^',
 *     '`', '{', '|', '}', '#', non-ASCII) and malformed %-escapes; '*' with a method other
 *     than OPTIONS; absolute-form with a scheme other than http(s) or with userinfo;
 *   - a missing (HTTP/1.1), repeated or malformed Host;
 *   - Transfer-Encoding in HTTP/1.0, a final coding other than chunked (400) and codings we
 *     do not implement before it (501);
 *   - Expect values other than 100-continue (417).
 * llhttp itself rejects: duplicate or malformed Content-Length, CL with TE, header names that
 * are not tokens, control characters in values, bad chunk sizes and extensions, a missing CRLF
 * after chunk data.
 */
#include "http_conn.h"
#include <string.h>

/* Header-callback states (c->hstate_cb). */
enum { HS_NONE = 0, HS_FIELD, HS_FIELD_DONE, HS_VALUE, HS_VALUE_DONE };

static http_conn *conn_of(llhttp_t *p)
{
    return p->data;
}

static int fail(llhttp_t *p, int status, const char *why)
{
    http_conn *c = conn_of(p);
    if (!c->err_status)
        c->err_status = (uint16_t)status;
    llhttp_set_error_reason(p, why);
    return HPE_USER;
}

bool http__tchar(unsigned char ch)
{
    /* token = 1*tchar; tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
     * "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
        return true;
    return ch != 0 && strchr(extra, ch) != NULL;
}

static bool ieq(const char *a, size_t alen, const char *lit)
{
    size_t n = strlen(lit);
    if (alen != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)lit[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (x != y)
            return false;
    }
    return true;
}

/* Check framing bytes [from, to) of c->in: no bare CR, no bare LF. */
static bool scan_framing(http_conn *c, uint32_t from, uint32_t to)
{
    const unsigned char *b = (const unsigned char *)c->in;
    bool cr = c->prev_cr;
    for (uint32_t i = from; i < to; i++) {
        unsigned char ch = b[i];
        if (cr != (ch == '\n'))
            return false; /* CR not followed by LF, or LF not preceded by CR */
        cr = ch == '\r';
    }
    c->prev_cr = cr;
    return true;
}

/* ------------------------------------------------------------------ callbacks */

static int cb_message_begin(llhttp_t *p)
{
    (void)p;
    return 0;
}

static int cb_method(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = conn_of(p);
    if (c->ex.method_len == 0)
        c->ex.method_off = (uint32_t)(at - c->in);
    c->ex.method_len = (uint16_t)(c->ex.method_len + len);
    return 0;
}

static int cb_url(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = conn_of(p);
    if (c->url_len == 0)
        c->ex.target_off = (uint32_t)(at - c->in);
    c->url_len += (uint32_t)len;
    if (c->url_len > c->cfg->limits.max_request_line)
        return fail(p, 414, "request-target too long");
    return 0;
}

static int cb_version(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = conn_of(p);
    if (c->ex.version_len == 0)
        c->ex.version_off = (uint32_t)(at - c->in);
    c->ex.version_len = (uint16_t)(c->ex.version_len + len);
    return 0;
}

static int cb_field(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = conn_of(p);
    struct http_ex *ex = &c->ex;

    if (c->hstate_cb == HS_FIELD) { /* the same name, continued in a later read */
        ex->hdrs[ex->nhdr - 1].name_len = (uint16_t)(ex->hdrs[ex->nhdr - 1].name_len + len);
        return 0;
    }
    if (len == 0 && c->hstate_cb != HS_NONE && c->hstate_cb != HS_VALUE_DONE)
        return 0;
    if (ex->nhdr >= c->cfg->limits.max_headers)
        return fail(p, 431, "too many header fields");
    if (ex->nhdr == ex->hdr_cap) {
        uint32_t cap = ex->hdr_cap * 2;
        if (cap > c->cfg->limits.max_headers)
            cap = c->cfg->limits.max_headers;
        struct http_hdr *h = malloc(cap * sizeof *h);
        if (!h)
            return fail(p, 503, "out of memory");
        memcpy(h, ex->hdrs, ex->nhdr * sizeof *h);
        if (ex->hdrs != ex->inline_hdrs)
            free(ex->hdrs);
        ex->hdrs = h;
        ex->hdr_cap = cap;
    }
    ex->hdrs[ex->nhdr++] =
        (struct http_hdr){.name_off = (uint32_t)(at - c->in), .name_len = (uint16_t)len};
    c->hstate_cb = HS_FIELD;
    return 0;
}

static int cb_field_complete(llhttp_t *p)
{
    http_conn *c = conn_of(p);
    /* llhttp 8 accepts a line starting with ':' (an empty field name). */
    if (c->hstate_cb != HS_FIELD || (!c->headers_done && c->ex.hdrs[c->ex.nhdr - 1].name_len == 0))
        return fail(p, 400, "empty field name");
    c->hstate_cb = HS_FIELD_DONE;
    return 0;
}

static int cb_value(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = conn_of(p);
    struct http_ex *ex = &c->ex;
    uint32_t off = (uint32_t)(at - c->in);

    if (c->hstate_cb == HS_VALUE_DONE)
        return fail(p, 400, "obs-fold");
    if (c->headers_done) {
        c->hstate_cb = HS_VALUE;
        return 0;
    }
    struct http_hdr *h = &ex->hdrs[ex->nhdr - 1];
    if (c->hstate_cb == HS_FIELD_DONE) {
        /* Between the colon and the value only SP/HTAB may appear; a CR or LF there is a fold
         * after an empty first line, which llhttp would join silently. */
        for (uint32_t i = h->name_off + h->name_len; i < off; i++)
            if (c->in[i] == '\r' || c->in[i] == '\n')
                return fail(p, 400, "obs-fold");
        h->val_off = off;
        h->val_len = (uint32_t)len;
        c->hstate_cb = HS_VALUE;
        return 0;
    }
    if (len == 0)
        return 0;
    if (h->val_off + h->val_len != off)
        return fail(p, 400, "obs-fold");
    h->val_len += (uint32_t)len;
    return 0;
}

static int cb_value_complete(llhttp_t *p)
{
    http_conn *c = conn_of(p);
    if (!c->headers_done) {
        struct http_hdr *h = &c->ex.hdrs[c->ex.nhdr - 1];
        if (c->hstate_cb == HS_FIELD_DONE) /* an empty value: no value callback came */
            h->val_off = h->name_off + h->name_len + 1, h->val_len = 0;
        while (h->val_len > 0 && (c->in[h->val_off + h->val_len - 1] == ' ' ||
                                  c->in[h->val_off + h->val_len - 1] == '\t'))
            h->val_len--;
    }
    c->hstate_cb = HS_VALUE_DONE;
    return 0;
}

/* ------------------------------------------------------------------ head validation */

static bool hexd(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* pchar / "/" / "?" (RFC 3986), with %HH checked. */
static bool target_chars_ok(const char *s, size_t n)
{
    static const char ok[] = "-._~!$&'()*+,;=:@/?";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
            continue;
        if (ch == '%') {
            if (i + 2 >= n || !hexd((unsigned char)s[i + 1]) || !hexd((unsigned char)s[i + 2]))
                return false;
            i += 2;
            continue;
        }
        if (ch == 0 || !strchr(ok, ch))
            return false;
    }
    return true;
}

/* host = IP-literal / IPv4address / reg-name, then [ ":" port ]. Empty is invalid (RFC 9110
 * 4.2.1: an http URI must not have an empty host). */
static bool host_ok(const char *s, size_t n)
{
    size_t i = 0;
    if (n == 0)
        return false;
    if (s[0] == '[') {
        for (i = 1; i < n && s[i] != ']'; i++) {
            unsigned char ch = (unsigned char)s[i];
            if (!hexd(ch) && ch != ':' && ch != '.')
                return false;
        }
        if (i >= n || i == 1)
            return false;
        i++;
    } else {
        static const char ok[] = "-._~!$&'()*+,;=";
        for (; i < n && s[i] != ':'; i++) {
            unsigned char ch = (unsigned char)s[i];
            if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
                continue;
            if (ch == '%') {
                if (i + 2 >= n || !hexd((unsigned char)s[i + 1]) || !hexd((unsigned char)s[i + 2]))
                    return false;
                i += 2;
                continue;
            }
            if (!strchr(ok, ch))
                return false;
        }
        if (i == 0)
            return false;
    }
    if (i == n)
        return true;
    if (s[i] != ':')
        return false;
    for (i++; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Split the target into path and query, handling the absolute and asterisk forms. */
static int parse_target(http_conn *c, llhttp_t *p)
{
    struct http_ex *ex = &c->ex;
    const char *t = c->in + ex->target_off;
    size_t n = ex->target_len;
    size_t path_at = 0;

    if (n == 0)
        return 400;
    if (ex->method == HTTP_M_CONNECT)
        return 405; /* authority-form: tunnels are not served */
    if (n == 1 && t[0] == '*') {
        if (p->method != HTTP_OPTIONS)
            return 400;
        ex->path_off = ex->target_off, ex->path_len = 1;
        ex->query_off = ex->target_off + 1, ex->query_len = 0;
        return 0;
    }
    if (t[0] != '/') {
        /* absolute-form: scheme "://" authority path-abempty [ "?" query ] */
        size_t i = 0;
        while (i < n && t[i] != ':')
            i++;
        if (!(ieq(t, i, "http") || ieq(t, i, "https")) || i + 3 > n || t[i + 1] != '/' ||
            t[i + 2] != '/')
            return 400;
        size_t a = i + 3, e = a;
        while (e < n && t[e] != '/' && t[e] != '?')
            e++;
        for (size_t k = a; k < e; k++)
            if (t[k] == '@')
                return 400; /* userinfo is an error (RFC 9110 4.2.4) */
        if (!host_ok(t + a, e - a))
            return 400;
        ex->host_off = ex->target_off + (uint32_t)a;
        ex->host_len = (uint32_t)(e - a);
        ex->host_in_target = true;
        path_at = e;
    }
    if (!target_chars_ok(t + path_at, n - path_at))
        return 400;
    size_t q = path_at;
    while (q < n && t[q] != '?')
        q++;
    ex->path_off = ex->target_off + (uint32_t)path_at;
    ex->path_len = (uint32_t)(q - path_at); /* 0: "http://host", read as "/" */
    ex->query_off = ex->target_off + (uint32_t)(q < n ? q + 1 : n);
    ex->query_len = (uint32_t)(q < n ? n - q - 1 : 0);
    return 0;
}

/* Walk a comma-separated list value; calls fn for each trimmed, non-empty element.
 * Returns the first non-zero fn result. */
typedef int (*list_fn)(const char *e, size_t n, void *arg);
static int each_elem(const char *v, size_t n, list_fn fn, void *arg)
{
    size_t i = 0;
    while (i <= n) {
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (s < e && (v[s] == ' ' || v[s] == '\t'))
            s++;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e > s) {
            int r = fn(v + s, e - s, arg);
            if (r)
                return r;
        }
        i++;
    }
    return 0;
}

struct te_state {
    int count;
    bool last_chunked;
    bool chunked_seen;
    bool unknown;
};

static int te_elem(const char *e, size_t n, void *arg)
{
    struct te_state *st = arg;
    st->count++;
    if (st->last_chunked)
        st->chunked_seen = true; /* chunked was not the last coding */
    st->last_chunked = ieq(e, n, "chunked");
    if (!st->last_chunked)
        st->unknown = true;
    return 0;
}

struct conn_state {
    bool close, keep_alive;
};

static int conn_elem(const char *e, size_t n, void *arg)
{
    struct conn_state *st = arg;
    if (ieq(e, n, "close"))
        st->close = true;
    else if (ieq(e, n, "keep-alive"))
        st->keep_alive = true;
    return 0;
}

static http_method method_of(uint8_t m)
{
    switch (m) {
    case HTTP_GET:
        return HTTP_M_GET;
    case HTTP_HEAD:
        return HTTP_M_HEAD;
    case HTTP_POST:
        return HTTP_M_POST;
    case HTTP_PUT:
        return HTTP_M_PUT;
    case HTTP_DELETE:
        return HTTP_M_DELETE;
    case HTTP_OPTIONS:
        return HTTP_M_OPTIONS;
    case HTTP_TRACE:
        return HTTP_M_TRACE;
    case HTTP_PATCH:
        return HTTP_M_PATCH;
    case HTTP_CONNECT:
        return HTTP_M_CONNECT;
    default:
        return HTTP_M_OTHER;
    }
}

/* Everything about the head llhttp does not check. Returns 0 or the status to answer. */
static int validate_head(http_conn *c, llhttp_t *p)
{
    struct http_ex *ex = &c->ex;
    const char *in = c->in;

    ex->target_len = c->url_len;
    ex->method = (uint8_t)method_of(p->method);
    /* request-line = method SP request-target SP HTTP-version CRLF, single spaces. */
    if (ex->version_len == 0)
        return 400; /* HTTP/0.9 simple request */
    if (ex->target_off != ex->method_off + ex->method_len + 1u)
        return 400;
    uint32_t after_target = ex->target_off + ex->target_len;
    if (in[after_target] != ' ' || ex->version_off != after_target + 6 ||
        memcmp(in + after_target + 1, "HTTP/", 5) != 0)
        return 400;
    if (ex->version_len != 3 || in[ex->version_off + 3] != '\r')
        return 400;
    if (p->http_major != 1 || p->http_minor > 1)
        return 505;
    ex->version = (uint8_t)(p->http_minor ? 11 : 10);

    int st = parse_target(c, p);
    if (st)
        return st;

    /* Header semantics. */
    struct te_state te = {0};
    struct conn_state cs = {0};
    int hosts = 0, te_headers = 0, expects = 0;
    bool expect_bad = false;
    for (uint32_t i = 0; i < ex->nhdr; i++) {
        const struct http_hdr *h = &ex->hdrs[i];
        const char *name = in + h->name_off, *val = in + h->val_off;
        switch (h->name_len) {
        case 4:
            if (ieq(name, 4, "host")) {
                if (++hosts > 1)
                    return 400;
                if (!host_ok(val, h->val_len))
                    return 400;
                if (!ex->host_in_target)
                    ex->host_off = h->val_off, ex->host_len = h->val_len;
            }
            break;
        case 6:
            if (ieq(name, 6, "expect")) {
                expects++;
                if (!ieq(val, h->val_len, "100-continue"))
                    expect_bad = true;
            }
            break;
        case 10:
            if (ieq(name, 10, "connection"))
                each_elem(val, h->val_len, conn_elem, &cs);
            break;
        case 17:
            if (ieq(name, 17, "transfer-encoding")) {
                te_headers++;
                if (h->val_len == 0)
                    return 400;
                each_elem(val, h->val_len, te_elem, &te);
            }
            break;
        default:
            break;
        }
    }
    ex->has_host = hosts == 1;
    if (ex->version == 11 && hosts == 0)
        return 400;
    if (te_headers) {
        if (ex->version == 10)
            return 400; /* RFC 9112 6.1: faulty framing in HTTP/1.0 */
        if (te.count == 0 || !te.last_chunked || te.chunked_seen)
            return 400; /* chunked must be the final coding, applied once */
        if (te.unknown)
            return 501; /* gzip, chunked: a coding we do not decode */
        ex->chunked = true;
        ex->content_length = -1;
    } else {
        ex->content_length = (p->flags & F_CONTENT_LENGTH) ? (int64_t)p->content_length : 0;
    }
    if (ex->version == 11) {
        ex->req_close = cs.close;
        if (expects) {
            if (expect_bad || expects > 1)
                return 417;
            ex->expect_continue = ex->content_length != 0;
        }
    } else {
        ex->req_close = cs.close || !cs.keep_alive;
    }
    if (ex->content_length > 0 && (uint64_t)ex->content_length > c->cfg->limits.max_body)
        return 413;
    return 0;
}

static int cb_headers_complete(llhttp_t *p)
{
    http_conn *c = conn_of(p);
    int st = validate_head(c, p);
    c->headers_done = true;
    c->hstate_cb = HS_NONE;
    if (st)
        return fail(p, st, "invalid request head");
    return HPE_PAUSED;
}

static int cb_chunk_header(llhttp_t *p)
{
    http_conn *c = conn_of(p);
    if (c->body_seen + p->content_length > c->cfg->limits.max_body)
        return fail(p, 413, "body too large");
    return 0;
}

static int cb_body(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = conn_of(p);
    uint32_t off = (uint32_t)(at - c->in);

    if (!scan_framing(c, c->scan_pos, off))
        return fail(p, 400, "bare CR or LF in chunked framing");
    c->scan_pos = off + (uint32_t)len;
    c->prev_cr = false;
    c->body_seen += len;
    if (c->body_seen > c->cfg->limits.max_body)
        return fail(p, 413, "body too large");
    if (c->discard)
        return 0;
    if (c->body_wr != off)
        memmove(c->in + c->body_wr, at, len);
    c->body_wr += (uint32_t)len;
    return 0;
}

static int cb_message_complete(llhttp_t *p)
{
    conn_of(p)->msg_done = true;
    return HPE_PAUSED;
}

static int cb_trailer_guard(llhttp_t *p, const char *at, size_t len)
{
    (void)at;
    http_conn *c = conn_of(p);
    c->trailer_bytes += len;
    if (c->trailer_bytes > c->cfg->limits.max_header_bytes)
        return fail(p, 431, "trailers too large");
    return 0;
}

static int cb_field_any(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = conn_of(p);
    if (c->headers_done) {
        if (len > 0)
            c->hstate_cb = HS_FIELD;
        return cb_trailer_guard(p, at, len);
    }
    return cb_field(p, at, len);
}

static int cb_value_any(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = conn_of(p);
    if (c->headers_done) {
        if (c->hstate_cb == HS_VALUE_DONE && len > 0)
            return fail(p, 400, "obs-fold in trailer");
        return cb_trailer_guard(p, at, len);
    }
    return cb_value(p, at, len);
}

static const llhttp_settings_t settings = {
    .on_message_begin = cb_message_begin,
    .on_method = cb_method,
    .on_url = cb_url,
    .on_version = cb_version,
    .on_header_field = cb_field_any,
    .on_header_field_complete = cb_field_complete,
    .on_header_value = cb_value_any,
    .on_header_value_complete = cb_value_complete,
    .on_headers_complete = cb_headers_complete,
    .on_chunk_header = cb_chunk_header,
    .on_body = cb_body,
    .on_message_complete = cb_message_complete,
};

/* ------------------------------------------------------------------ feeding */

void http__parser_init(http_conn *c)
{
    llhttp_init(&c->parser, HTTP_REQUEST, &settings);
    c->parser.data = c;
}

void http__parse_reset_message(http_conn *c)
{
    struct http_ex *ex = &c->ex;
    if (ex->hdrs && ex->hdrs != ex->inline_hdrs)
        free(ex->hdrs);
    memset(ex, 0, offsetof(struct http_ex, inline_hdrs));
    memset(&ex->resp_state, 0, sizeof *ex - offsetof(struct http_ex, resp_state));
    ex->conn = c;
    ex->hdrs = ex->inline_hdrs;
    ex->hdr_cap = HTTP_INLINE_HDRS;
    ex->content_length = 0;
    c->url_len = 0;
    c->body_seen = 0;
    c->trailer_bytes = 0;
    c->hstate_cb = HS_NONE;
    c->headers_done = false;
    c->msg_done = false;
    c->discard = false;
    c->continue_sent = false;
    c->err_status = 0;
    c->msg_start = c->in_parsed;
    c->head_end = c->body_rd = c->body_wr = c->in_parsed;
}

/* A status for an llhttp error that no callback chose. */
static int status_for(http_conn *c, int err)
{
    const unsigned char *b = (const unsigned char *)c->in;
    switch (err) {
    case HPE_INVALID_METHOD: {
        /* A well-formed token we do not know is "not implemented"; junk is a bad request. */
        uint32_t i = c->msg_start;
        while (i + 1 < c->in_len && b[i] == '\r' && b[i + 1] == '\n')
            i += 2;
        uint32_t s = i;
        while (i < c->in_len && http__tchar(b[i]))
            i++;
        if (i > s && (i == c->in_len || b[i] == ' '))
            return 501;
        return 400;
    }
    case HPE_INVALID_VERSION: {
        /* "HTTP/" DIGIT "." DIGIT CRLF with an unsupported number is 505; anything else is a
         * malformed line. Bytes not received yet (input trickling in) count as matching. */
        static const char pat[] = "HTTP/d.d\r\n";
        uint32_t v = c->ex.target_off + c->url_len + 1;
        if (!c->url_len || v + 6 > c->in_len)
            return 400;
        for (uint32_t i = 0; i < 10 && v + i < c->in_len; i++) {
            unsigned char ch = b[v + i];
            if (pat[i] == 'd' ? !(ch >= '0' && ch <= '9') : ch != (unsigned char)pat[i])
                return 400;
        }
        return 505;
    }
    default:
        return 400;
    }
}

/* Feed unparsed bytes up to `limit` to llhttp. */
int http__parse_feed(http_conn *c, uint32_t limit)
{
    for (;;) {
        /* With no new bytes, llhttp still needs one call to finish a message whose head we
         * paused at (a request without a body completes without consuming input). */
        if (c->in_parsed >= limit && !(c->headers_done && !c->msg_done))
            return FEED_MORE;
        const char *start = c->in + c->in_parsed;
        int err = llhttp_execute(&c->parser, start, limit - c->in_parsed);
        uint32_t pos = limit;
        if (err != HPE_OK) {
            const char *ep = llhttp_get_error_pos(&c->parser);
            pos = ep ? (uint32_t)(ep - c->in) : c->in_parsed;
            if (pos < c->in_parsed || pos > limit)
                pos = c->in_parsed;
        }
        bool framing_ok = scan_framing(c, c->scan_pos, pos);
        c->scan_pos = pos;
        c->in_parsed = pos;
        if (err == HPE_PAUSED_UPGRADE) {
            /* We do not upgrade: the next bytes are an ordinary request. */
            llhttp_resume_after_upgrade(&c->parser);
            if (!framing_ok) {
                c->err_status = 400;
                return FEED_ERROR;
            }
            continue;
        }
        if (!framing_ok) {
            c->err_status = 400;
            c->msg_done = false;
            return FEED_ERROR;
        }
        if (err == HPE_PAUSED) {
            llhttp_resume(&c->parser);
            if (c->msg_done)
                return FEED_MSG;
            if (pos - c->msg_start > c->cfg->limits.max_header_bytes) {
                c->err_status = 431;
                return FEED_ERROR;
            }
            c->head_end = c->body_rd = c->body_wr = pos;
            return FEED_HEAD;
        }
        if (err != HPE_OK) {
            if (!c->err_status)
                c->err_status = (uint16_t)status_for(c, err);
            c->msg_done = false;
            return FEED_ERROR;
        }
        /* All bytes taken, the head still incomplete: enforce the head limits. */
        if (!c->headers_done && c->in_parsed - c->msg_start > c->cfg->limits.max_header_bytes) {
            c->err_status = c->ex.version_len == 0 && c->url_len > 0 ? 414 : 431;
            return FEED_ERROR;
        }
        return FEED_MORE;
    }
}
