/* tests/http/http_engine_test.c - the HTTP/1.1 engine driven from a buffer: framing, keep-alive,
 * pipelining, bodies, 100-continue, HEAD, and every rejection class, each also trickled in
 * one byte at a time. */
#include "drive.h"
#include "test.h"

/* ------------------------------------------------------------------ test handlers */

/* Echo: reads the whole body, answers "M=<method> P=<path> Q=<query> V=<ver> H=<host>
 * N=<headers> L=<content-length> B=<body>". */
struct echo {
    size_t blen;
    char body[3000];
};

static weft_poll echo_handle(http_ex *ex, void *state, weft_cx *cx)
{
    struct echo *e = state;
    for (;;) {
        ssize_t n;
        if (http_req_body_read(ex, cx, e->body + e->blen, sizeof e->body - e->blen, &n) ==
            WEFT_PENDING)
            return WEFT_PENDING;
        if (n < 0)
            return WEFT_READY; /* the engine answers (413, 400, 408) */
        if (n == 0)
            break;
        e->blen += (size_t)n;
    }
    char out[4000];
    http_str m = http_req_method_str(ex), p = http_req_path(ex), q = http_req_query(ex),
             h = http_req_host(ex);
    int len = snprintf(out, sizeof out, "M=%.*s P=%.*s Q=%.*s V=%d H=%.*s N=%zu L=%lld B=%.*s",
                       (int)m.len, m.p, (int)p.len, p.p, (int)q.len, q.p, http_req_version(ex),
                       (int)h.len, h.p, http_req_header_count(ex),
                       (long long)http_req_content_length(ex), (int)e->blen, e->body);
    http_resp_send(ex, 200, "text/plain", out, (size_t)len);
    return WEFT_READY;
}

static const http_handler echo_handler = {
    .name = "echo", .handle = echo_handle, .state_size = sizeof(struct echo)};

/* Ignores the body and answers "ok". */
static weft_poll ok_handle(http_ex *ex, void *state, weft_cx *cx)
{
    (void)state, (void)cx;
    http_resp_send(ex, 200, "text/plain", "ok", 2);
    return WEFT_READY;
}
static const http_handler ok_handler = {.name = "ok", .handle = ok_handle};

/* Streams three chunks of unknown total length, flushing in between. */
struct stream {
    int i;
};
static weft_poll stream_handle(http_ex *ex, void *state, weft_cx *cx)
{
    struct stream *s = state;
    if (s->i == 0) {
        http_resp_start(ex, 200);
        http_resp_header(ex, "Content-Type", "text/plain");
        http_resp_body_begin(ex, -1);
    }
    while (s->i < 3) {
        char piece[32];
        int n = snprintf(piece, sizeof piece, "piece%d;", s->i);
        http_resp_write(ex, piece, (size_t)n);
        s->i++;
        int r;
        if (http_resp_flush_poll(ex, cx, &r) == WEFT_PENDING)
            return WEFT_PENDING;
    }
    http_resp_end(ex);
    return WEFT_READY;
}
static const http_handler stream_handler = {
    .name = "stream", .handle = stream_handle, .state_size = sizeof(struct stream)};

static const http_route routes[] = {
    {.path = "/ok", .prefix = false, .handler = &ok_handler},
    {.path = "/stream", .prefix = false, .handler = &stream_handler},
};

static http_config cfg;

static void setup(void)
{
    memset(&cfg, 0, sizeof cfg);
    cfg.routes = routes;
    cfg.nroutes = 2;
    cfg.fallback = &echo_handler;
    cfg.limits.max_body = 4096;
    cfg.limits.max_request_line = 1024;
    cfg.limits.max_header_bytes = 4096;
    cfg.limits.max_headers = 20;
    http_config_defaults(&cfg);
}

/* Status codes of every response in out, in order. */
static int statuses(const char *out, int *st, int max)
{
    int n = 0;
    const char *p = out;
    while (n < max && (p = strstr(p, "HTTP/1.1 ")) != NULL) {
        if (p[9] >= '1' && p[9] <= '5' && p[12] == ' ')
            st[n++] = atoi(p + 9);
        p += 9;
    }
    return n;
}

static int first_status(const char *in, size_t chunk)
{
    drive_result r;
    ASSERT_EQ(drive(&cfg, in, strlen(in), chunk, true, &r), 0);
    int st[4] = {0};
    int n = statuses(r.out, st, 4);
    drive_result_free(&r);
    return n ? st[0] : 0;
}

/* ------------------------------------------------------------------ basics */

TEST(simple_get)
{
    setup();
    drive_result r;
    const char *req = "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n";
    ASSERT_EQ(drive(&cfg, req, strlen(req), 0, false, &r), 0);
    ASSERT_TRUE(strncmp(r.out, "HTTP/1.1 200 OK\r\nServer: weft-httpd\r\nDate: ", 42) == 0);
    ASSERT_TRUE(strstr(r.out, " GMT\r\n") != NULL);
    ASSERT_TRUE(strstr(r.out, "Content-Type: text/plain\r\n") != NULL);
    ASSERT_TRUE(strstr(r.out, "M=GET P=/a/b Q=x=1 V=11 H=example.com N=2 L=0 B=") != NULL);
    ASSERT_TRUE(strstr(r.out, "Connection:") == NULL); /* 1.1 keep-alive is implicit */
    ASSERT_TRUE(!r.closed);
    drive_result_free(&r);
}

TEST(pipelined_responses_leave_in_one_write)
{
    setup();
    drive_result r;
    const char *req = "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"
                      "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
                      "HEAD /2 HTTP/1.1\r\nHost: a\r\n\r\n"
                      "GET /3 HTTP/1.1\r\nHost: a\r\n\r\n";
    ASSERT_EQ(drive(&cfg, req, strlen(req), 0, false, &r), 0);
    int st[8];
    ASSERT_EQ(statuses(r.out, st, 8), 4);
    ASSERT_EQ(r.writes, 1);
    const char *a = strstr(r.out, "\r\n\r\nok"), *b = strstr(r.out, "P=/1 "),
               *c = strstr(r.out, "P=/3 ");
    ASSERT_TRUE(a && b && c && a < b && b < c);
    ASSERT_TRUE(strstr(r.out, "P=/2") == NULL); /* HEAD: no body */
    drive_result_free(&r);
}

TEST(pipelined_trickled_one_byte_at_a_time)
{
    setup();
    drive_result r;
    const char *req = "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"
                      "POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n"
                      "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n";
    ASSERT_EQ(drive(&cfg, req, strlen(req), 1, false, &r), 0);
    int st[8];
    ASSERT_EQ(statuses(r.out, st, 8), 3);
    ASSERT_TRUE(strstr(r.out, "L=-1 B=abcde") != NULL);
    drive_result_free(&r);
}

TEST(content_length_body)
{
    setup();
    drive_result r;
    const char *req = "POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello worldGET /ok "
                      "HTTP/1.1\r\nHost: a\r\n\r\n";
    ASSERT_EQ(drive(&cfg, req, strlen(req), 5, false, &r), 0);
    ASSERT_TRUE(strstr(r.out, "L=11 B=hello world") != NULL);
    ASSERT_TRUE(strstr(r.out, "\r\n\r\nok") != NULL);
    drive_result_free(&r);
}

TEST(unread_body_is_drained_and_connection_kept)
{
    setup();
    drive_result r;
    const char *req =
        "POST /ok HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nxxxxx"
        "POST /ok HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"
        "GET /z HTTP/1.1\r\nHost: a\r\n\r\n";
    ASSERT_EQ(drive(&cfg, req, strlen(req), 7, false, &r), 0);
    int st[8];
    ASSERT_EQ(statuses(r.out, st, 8), 3);
    ASSERT_TRUE(strstr(r.out, "P=/z") != NULL);
    ASSERT_TRUE(!r.closed);
    drive_result_free(&r);
}

TEST(connection_close_and_http10)
{
    setup();
    drive_result r;
    const char *req = "GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /ok "
                      "HTTP/1.1\r\nHost: a\r\n\r\n";
    ASSERT_EQ(drive(&cfg, req, strlen(req), 0, false, &r), 0);
    int st[4];
    ASSERT_EQ(statuses(r.out, st, 4), 1); /* nothing after close is answered */
    ASSERT_TRUE(strstr(r.out, "Connection: close\r\n") != NULL);
    ASSERT_TRUE(r.closed);
    drive_result_free(&r);

    req = "GET /ok HTTP/1.0\r\n\r\n";
    ASSERT_EQ(drive(&cfg, req, strlen(req), 0, false, &r), 0);
    ASSERT_TRUE(strstr(r.out, "HTTP/1.1 200 OK") && strstr(r.out, "Connection: close\r\n"));
    ASSERT_TRUE(r.closed);
    drive_result_free(&r);

    req = "GET /ok HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /x HTTP/1.0\r\n\r\n";
    ASSERT_EQ(drive(&cfg, req, strlen(req), 0, false, &r), 0);
    ASSERT_EQ(statuses(r.out, st, 4), 2);
    ASSERT_TRUE(strstr(r.out, "Connection: keep-alive\r\n") != NULL);
    ASSERT_TRUE(strstr(r.out, "V=10 H= ") != NULL);
    ASSERT_TRUE(r.closed);
    drive_result_free(&r);
}

TEST(head_has_length_but_no_body)
{
    setup();
    drive_result r;
    const char *req = "HEAD /ok HTTP/1.1\r\nHost: a\r\n\r\n";
    ASSERT_EQ(drive(&cfg, req, strlen(req), 0, false, &r), 0);
    ASSERT_TRUE(strstr(r.out, "Content-Length: 2\r\n") != NULL);
    size_t l = strlen(r.out);
    ASSERT_TRUE(l > 4 && strcmp(r.out + l - 4, "\r\n\r\n") == 0);
    drive_result_free(&r);
}

TEST(expect_100_continue)
{
    setup();
    drive_result r;
    /* The head arrives alone: the handler's first body read sends 100 Continue. */
    const char *head =
        "POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n";
    ASSERT_EQ(drive(&cfg, head, strlen(head), 0, false, &r), 0);
    ASSERT_TRUE(strncmp(r.out, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0);
    drive_result_free(&r);
    char full[256];
    snprintf(full, sizeof full, "%sabc", head);
    ASSERT_EQ(drive(&cfg, full, strlen(full), strlen(head), false, &r), 0);
    ASSERT_TRUE(strstr(r.out, "100 Continue") != NULL);
    ASSERT_TRUE(strstr(r.out, "B=abc") != NULL);
    drive_result_free(&r);
    /* A handler that does not read: no 100, final answer, and the connection closes. */
    snprintf(full, sizeof full,
             "POST /ok HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    ASSERT_EQ(drive(&cfg, full, strlen(full), 0, false, &r), 0);
    ASSERT_TRUE(strstr(r.out, "100 Continue") == NULL);
    ASSERT_TRUE(strstr(r.out, "Connection: close") != NULL && r.closed);
    drive_result_free(&r);
    /* Unknown expectation: 417. */
    ASSERT_EQ(
        first_status("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: tea\r\n\r\nx", 0),
        417);
}

TEST(chunked_response_and_http10_stream)
{
    setup();
    drive_result r;
    const char *req = "GET /stream HTTP/1.1\r\nHost: a\r\n\r\n";
    ASSERT_EQ(drive(&cfg, req, strlen(req), 0, false, &r), 0);
    ASSERT_TRUE(strstr(r.out, "Transfer-Encoding: chunked\r\n") != NULL);
    ASSERT_TRUE(
        strstr(r.out, "\r\n\r\n7\r\npiece0;\r\n7\r\npiece1;\r\n7\r\npiece2;\r\n0\r\n\r\n") != NULL);
    drive_result_free(&r);
    req = "GET /stream HTTP/1.0\r\n\r\n";
    ASSERT_EQ(drive(&cfg, req, strlen(req), 0, false, &r), 0);
    ASSERT_TRUE(strstr(r.out, "Transfer-Encoding") == NULL);
    ASSERT_TRUE(strstr(r.out, "\r\n\r\npiece0;piece1;piece2;") != NULL && r.closed);
    drive_result_free(&r);
}

TEST(options_star_and_absolute_form)
{
    setup();
    drive_result r;
    const char *req = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nGET http://Example.org:8080/p/q?z "
                      "HTTP/1.1\r\nHost: other\r\n\r\nGET http://h HTTP/1.1\r\nHost: h\r\n\r\n";
    ASSERT_EQ(drive(&cfg, req, strlen(req), 0, false, &r), 0);
    ASSERT_TRUE(strstr(r.out, "Allow: GET, HEAD, OPTIONS\r\n") != NULL);
    ASSERT_TRUE(strstr(r.out, "P=/p/q Q=z V=11 H=Example.org:8080 ") != NULL);
    ASSERT_TRUE(strstr(r.out, "P=/ Q= V=11 H=h ") != NULL);
    drive_result_free(&r);
}

TEST(leading_empty_lines_are_ignored)
{
    setup();
    ASSERT_EQ(first_status("\r\n\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\n", 0), 200);
}

/* ------------------------------------------------------------------ rejections */

struct bad {
    const char *req;
    int status;
};

static const struct bad bad_requests[] = {
    /* request line */
    {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
    {"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET /\r\n\r\n", 400},
    {"GET / http/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\rHost: a\r\n\r\n", 400},
    {"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
    {"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505},
    {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
    {"GET / HTTP/3.1\r\nHost: a\r\n\r\n", 505},
    {"GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1\r\nHost: a\r\n\r\n", 400},
    {"FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 501},
    {"get / HTTP/1.1\r\nHost: a\r\n\r\n", 501},
    {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 405},
    /* request-target */
    {"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET /a#f HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET /a\"b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET /a{b} HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET /a|b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET /a% HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET a HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET http:/// HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    /* Host */
    {"GET / HTTP/1.1\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: \r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400},
    {"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    /* header syntax */
    {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX-E:\r\n folded\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tfolded\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHo st: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX-\xe9: b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\nY: b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\n\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\n\rX", 400},
    /* Content-Length */
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\nhello", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\nhello", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n", 413},
    /* Transfer-Encoding */
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: "
     "chunked\r\n\r\n0\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: "
     "5\r\n\r\n0\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
     "chunked\r\n\r\n0\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n0\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", 400},
    {"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
    /* chunked framing */
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\n", 400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
     "chunked\r\n\r\n5;a=b\rc\r\nhello\r\n0\r\n\r\n",
     400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
     400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
     400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
     400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
     "chunked\r\n\r\nfffffffffffffffff\r\nx\r\n0\r\n\r\n",
     400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: "
     "\x01\r\n\r\n",
     400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n", 413},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n", 400},
    /* the classes a smuggling/conformance prober sends (Http11Probe-style), each a framing
     * that two parsers could read differently */
    {"GET / HTTP/01.1\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n \r\nHost: a\r\n\r\n", 400},
    {"   \r\n\r\n", 400},
    {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost:\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX\tY: v\r\n\r\n", 400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \vchunked\r\n\r\n0\r\n\r\n", 400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=y\r\n\r\n0\r\n\r\n", 400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n0\r\n\r\n", 400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: -0\r\n\r\n", 400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello", 400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\nhelloworld", 400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n",
     400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n",
     400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
     400},
    {"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello!!\r\n0\r\n\r\n",
     400},
    /* sizes */
    {NULL, 414},
    {NULL, 431},
    {NULL, -431},
};

static char *big_request(int status)
{
    size_t n = 8192;
    char *b = malloc(n + 256);
    if (status == 414) {
        strcpy(b, "GET /");
        memset(b + 5, 'a', 2000);
        strcpy(b + 2005, " HTTP/1.1\r\nHost: a\r\n\r\n");
    } else if (status == 431) {
        strcpy(b, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
        size_t l = strlen(b);
        memset(b + l, 'a', 5000);
        strcpy(b + l + 5000, "\r\n\r\n");
    } else { /* too many fields */
        strcpy(b, "GET / HTTP/1.1\r\nHost: a\r\n");
        for (int i = 0; i < 30; i++)
            sprintf(b + strlen(b), "X%d: y\r\n", i);
        strcat(b, "\r\n");
    }
    return b;
}

TEST(every_rejection_class_whole_and_trickled)
{
    setup();
    for (size_t i = 0; i < sizeof bad_requests / sizeof bad_requests[0]; i++) {
        const struct bad *b = &bad_requests[i];
        char *req = b->req ? (char *)b->req : big_request(b->status);
        int want = b->status < 0 ? -b->status : b->status;
        for (size_t chunk = 0; chunk <= 1; chunk++) {
            drive_result r;
            ASSERT_EQ(drive(&cfg, req, strlen(req), chunk ? 1 : 0, true, &r), 0);
            int st[4] = {0};
            statuses(r.out, st, 4);
            if (st[0] != want)
                fprintf(stderr, "request %zu (%s) chunk %zu: got %d want %d\n---\n%s\n", i,
                        b->req ? b->req : "big", chunk, st[0], want, r.out);
            ASSERT_EQ(st[0], want);
            ASSERT_TRUE(r.closed);
            ASSERT_TRUE(strstr(r.out, "Connection: close\r\n") != NULL);
            drive_result_free(&r);
        }
        if (!b->req)
            free(req);
    }
}

TEST(rejection_after_good_pipelined_request_keeps_order)
{
    setup();
    drive_result r;
    const char *req =
        "GET /ok HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nContent-Length: "
        "1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\n";
    ASSERT_EQ(drive(&cfg, req, strlen(req), 0, true, &r), 0);
    int st[4] = {0};
    ASSERT_EQ(statuses(r.out, st, 4), 2);
    ASSERT_EQ(st[0], 200);
    ASSERT_EQ(st[1], 400);
    ASSERT_TRUE(r.closed && r.lingered);
    drive_result_free(&r);
}

TEST(upgrade_header_is_ignored_and_framing_kept)
{
    setup();
    drive_result r;
    const char *req =
        "POST /e HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: "
        "Upgrade\r\nContent-Length: 5\r\n\r\nhelloGET /ok HTTP/1.1\r\nHost: a\r\n\r\n";
    ASSERT_EQ(drive(&cfg, req, strlen(req), 0, false, &r), 0);
    int st[4] = {0};
    ASSERT_EQ(statuses(r.out, st, 4), 2);
    ASSERT_TRUE(strstr(r.out, "B=hello") != NULL);
    drive_result_free(&r);
}

TEST(max_requests_closes)
{
    setup();
    cfg.limits.max_requests = 2;
    drive_result r;
    const char *req = "GET /ok HTTP/1.1\r\nHost: a\r\n\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\nGET "
                      "/ok HTTP/1.1\r\nHost: a\r\n\r\n";
    ASSERT_EQ(drive(&cfg, req, strlen(req), 0, false, &r), 0);
    int st[4] = {0};
    ASSERT_EQ(statuses(r.out, st, 4), 2);
    ASSERT_TRUE(r.closed);
    drive_result_free(&r);
}

TEST(idle_connection_holds_no_buffer)
{
    setup();
    http_conn c;
    http_conn_init(&c, &cfg);
    ASSERT_EQ(http_conn_step(&c, drive_cx()), HTTP_NEXT_READ);
    ASSERT_TRUE(c.in == NULL && c.obuf == NULL);
    size_t room;
    char *b = http_conn_read_buf(&c, &room);
    const char *req = "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n";
    memcpy(b, req, strlen(req));
    http_conn_read_done(&c, (ssize_t)strlen(req));
    ASSERT_EQ(http_conn_step(&c, drive_cx()), HTTP_NEXT_WRITE);
    struct iovec iov[4];
    http_file_seg f;
    int k = http_conn_out_iov(&c, iov, 4, &f);
    ASSERT_EQ(k, 1);
    http_conn_out_done(&c, (ssize_t)iov[0].iov_len);
    ASSERT_EQ(http_conn_step(&c, drive_cx()), HTTP_NEXT_READ);
    ASSERT_TRUE(c.in == NULL && c.obuf == NULL && c.segs == NULL);
    ASSERT_TRUE(http_conn_is_idle(&c));
    http_conn_free(&c);
}

TEST(partial_writes_resume)
{
    setup();
    http_conn c;
    http_conn_init(&c, &cfg);
    ASSERT_EQ(http_conn_step(&c, drive_cx()), HTTP_NEXT_READ);
    size_t room;
    char *b = http_conn_read_buf(&c, &room);
    const char *req = "GET /ok HTTP/1.1\r\nHost: a\r\n\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\n";
    memcpy(b, req, strlen(req));
    http_conn_read_done(&c, (ssize_t)strlen(req));
    char out[2048];
    size_t got = 0;
    int next;
    while ((next = http_conn_step(&c, drive_cx())) == HTTP_NEXT_WRITE) {
        struct iovec iov[4];
        http_file_seg f;
        int k = http_conn_out_iov(&c, iov, 4, &f);
        ASSERT_GT(k, 0);
        memcpy(out + got, iov[0].iov_base, 1); /* one byte at a time */
        got++;
        http_conn_out_done(&c, 1);
    }
    out[got] = 0;
    ASSERT_EQ(next, HTTP_NEXT_READ);
    int st[4];
    ASSERT_EQ(statuses(out, st, 4), 2);
    http_conn_free(&c);
}

TEST_MAIN()
