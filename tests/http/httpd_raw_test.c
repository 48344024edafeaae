/* tests/http/httpd_raw_test.c - the weft-httpd binary over raw sockets: every rejection class
 * with its status and a closed connection, pipelining (16 requests in one write, answered in
 * order), input trickled a byte at a time, lingering close, and the timeouts (header,
 * keep-alive, body, send). Registered as httpd_raw@uring and httpd_raw@epoll. */
#include "httpd_util.h"

static srv s;

static void start(void)
{
    if (s.pid == 0)
        hu_start(&s, "--plaintext", "/plain", "--max-body", "1000", "--header-timeout", "2",
                 "--keepalive-timeout", "2", "--body-timeout", "1", "--send-timeout", "1", NULL);
}

struct bad {
    const char *req;
    int status;
};

static const struct bad bad_requests[] = {
    {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
    {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
    {"FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 501},
    {"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET /a|b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX y: b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\na", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: "
     "chunked\r\n\r\n0\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n", 413},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: tea\r\n\r\nhello", 417},
    {"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 405},
    /* Malformed bodies sent with the head to handlers that do not read bodies (files, the
     * plaintext route): 400 before the handler's 405/200, then close. */
    {"POST /plain HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
     400},
    {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nabc\r\n"
     "0\r\n\r\n",
     400},
    {"POST /plain HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;\x01\r\nabc\r\n0\r\n\r\n",
     400},
    {"POST /plain HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n", 400},
    {"POST /plain HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n", 400},
    {"POST /plain HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX y\r\n\r\n",
     400},
    {"GET /nope HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400},
};

TEST(every_rejection_class_answers_and_closes)
{
    start();
    for (size_t i = 0; i < sizeof bad_requests / sizeof bad_requests[0]; i++) {
        int fd = hu_connect(s.port);
        ASSERT_TRUE(fd >= 0);
        hu_sends(fd, bad_requests[i].req);
        char out[4096];
        bool closed;
        hu_recv(fd, out, sizeof out, sizeof out, 5000, &closed);
        int st = strlen(out) > 12 ? atoi(out + 9) : 0;
        if (st != bad_requests[i].status || !closed)
            fprintf(stderr, "request %zu: status %d closed %d\n%s\n", i, st, closed, out);
        ASSERT_EQ(st, bad_requests[i].status);
        ASSERT_TRUE(closed);
        ASSERT_TRUE(strstr(out, "Connection: close\r\n") != NULL);
        close(fd);
    }
}

TEST(uri_too_long_and_headers_too_large)
{
    start();
    char *req = malloc(40000), out[4096];
    strcpy(req, "GET /");
    memset(req + 5, 'a', 9000);
    strcpy(req + 9005, " HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(hu_request(s.port, req, out, sizeof out), 414);
    /* 7,900 bytes is within the request-line limit (RFC 9112 recommends at least 8000):
     * too long to name a file, so 404, not 414 */
    strcpy(req, "GET /");
    memset(req + 5, 'a', 7900);
    strcpy(req + 7905, " HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(hu_request(s.port, req, out, sizeof out), 404);
    strcpy(req, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(req + strlen(req), 'b', 20000);
    strcpy(req + 29 + 20000 - 4, "\r\n\r\n");
    ASSERT_EQ(hu_request(s.port, req, out, sizeof out), 431);
    strcpy(req, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 150; i++)
        sprintf(req + strlen(req), "X-%d: v\r\n", i);
    strcat(req, "\r\n");
    ASSERT_EQ(hu_request(s.port, req, out, sizeof out), 431);
    free(req);
}

TEST(pipelined_16_in_one_write_answered_in_order)
{
    start();
    char req[4096] = "";
    for (int i = 0; i < 16; i++)
        sprintf(req + strlen(req), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n",
                i % 4 == 3 ? "/hello.txt" : "/plain");
    int fd = hu_connect(s.port);
    hu_sends(fd, req);
    char out[16384];
    bool closed;
    size_t n = hu_recv(fd, out, sizeof out, 16 * 150, 3000, &closed);
    int st[32];
    int k = hu_statuses(out, n, st, 32);
    ASSERT_EQ(k, 16);
    /* in order: every 4th is the file */
    const char *p = out;
    for (int i = 0; i < 16; i++) {
        const char *b = strstr(p, "\r\n\r\n") + 4;
        ASSERT_TRUE(strncmp(b, i % 4 == 3 ? "Hello, files!" : "Hello, World!", 13) == 0);
        p = b + (i % 4 == 3 ? 14 : 13);
    }
    ASSERT_TRUE(!closed);
    close(fd);
}

TEST(trickled_byte_by_byte)
{
    start();
    const char *req = "POST /plain HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n0\r\n\r\n"
                      "GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n";
    int fd = hu_connect(s.port);
    for (size_t i = 0; req[i]; i++) {
        hu_send(fd, req + i, 1);
        if (i % 8 == 0)
            usleep(1000);
    }
    char out[4096];
    bool closed;
    size_t n = hu_recv(fd, out, sizeof out, 10000, 1500, &closed);
    int st[4];
    ASSERT_EQ(hu_statuses(out, n, st, 4), 2);
    ASSERT_EQ(st[0], 405); /* the plaintext route takes GET and HEAD */
    ASSERT_EQ(st[1], 200);
    close(fd);
}

TEST(error_response_survives_unread_input)
{
    /* A client that sent a body after a rejected head still reads the 413: the server stops
     * writing, drains for a while, then closes (no reset destroying the response). */
    start();
    int fd = hu_connect(s.port);
    char *req = malloc(300000);
    strcpy(req, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 200000\r\n\r\n");
    size_t h = strlen(req);
    memset(req + h, 'z', 200000);
    send(fd, req, h + 200000, MSG_NOSIGNAL | MSG_DONTWAIT); /* as much as the kernel takes */
    char out[4096];
    bool closed;
    hu_recv(fd, out, sizeof out, sizeof out, 5000, &closed);
    ASSERT_EQ(atoi(out + 9), 413);
    free(req);
    close(fd);
}

TEST(valid_bodies_to_handlers_that_ignore_them_keep_the_connection)
{
    /* Chunk extensions and trailers are fine: 405 for the POST, then the next request. */
    start();
    int fd = hu_connect(s.port);
    hu_sends(fd, "POST /plain HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "3;a=\"b c\"\r\nabc\r\n0\r\nX: y\r\n\r\n"
                 "GET /plain HTTP/1.1\r\nHost: a\r\n\r\n");
    char out[4096];
    bool closed;
    hu_recv(fd, out, sizeof out, sizeof out, 1500, &closed);
    ASSERT_EQ(atoi(out + 9), 405);
    const char *second = strstr(out + 10, "HTTP/1.1 200");
    ASSERT_TRUE(second != NULL);
    ASSERT_TRUE(!closed);
    close(fd);
}

TEST(head_keepalive_and_http10)
{
    start();
    int fd = hu_connect(s.port);
    hu_sends(fd, "HEAD /hello.txt HTTP/1.1\r\nHost: a\r\n\r\nGET /plain HTTP/1.0\r\n\r\n");
    char out[4096];
    bool closed;
    hu_recv(fd, out, sizeof out, sizeof out, 3000, &closed);
    ASSERT_TRUE(strstr(out, "Content-Length: 14\r\n") != NULL);
    const char *second = strstr(out + 10, "HTTP/1.1 200");
    ASSERT_TRUE(second != NULL);
    ASSERT_TRUE(strstr(second, "Connection: close\r\n") != NULL);
    ASSERT_TRUE(strstr(out, "Hello, files!") == NULL);
    ASSERT_TRUE(closed); /* 1.0 without keep-alive */
    close(fd);
}

TEST(header_deadline_is_total_not_per_byte)
{
    /* A client that sends a byte every 300 ms never completes its head: closed with 408 after
     * the 2 s total, although it never paused for 2 s. */
    start();
    int fd = hu_connect(s.port);
    const char *req = "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    int64_t t0 = hu_now_ms();
    bool closed = false;
    char out[1024];
    for (size_t i = 0; req[i] && hu_now_ms() - t0 < 6000; i++) {
        if (send(fd, req + i, 1, MSG_NOSIGNAL) <= 0)
            break;
        hu_recv(fd, out, sizeof out, sizeof out, 300, &closed);
        if (closed || out[0])
            break;
    }
    if (!closed)
        hu_recv(fd, out, sizeof out, sizeof out, 3000, &closed);
    int64_t took = hu_now_ms() - t0;
    ASSERT_TRUE(strncmp(out, "HTTP/1.1 408", 12) == 0);
    ASSERT_GE(took, 1800);
    ASSERT_LT(took, 4500);
    close(fd);
}

TEST(keepalive_idle_timeout_closes_quietly)
{
    start();
    int fd = hu_connect(s.port);
    hu_sends(fd, "GET /plain HTTP/1.1\r\nHost: a\r\n\r\n");
    char out[1024];
    bool closed;
    hu_recv(fd, out, sizeof out, 100, 2000, &closed);
    int64_t t0 = hu_now_ms();
    hu_recv(fd, out, sizeof out, sizeof out, 6000, &closed);
    ASSERT_TRUE(closed);
    ASSERT_EQ(out[0], 0); /* nothing sent, just closed */
    int64_t took = hu_now_ms() - t0;
    ASSERT_GE(took, 1500);
    ASSERT_LT(took, 4500);
    close(fd);
}

TEST(send_timeout_drops_a_client_that_never_reads)
{
    start();
    int fd = hu_connect(s.port);
    hu_sends(fd, "GET /20m.bin HTTP/1.1\r\nHost: a\r\n\r\n");
    sleep(4); /* never read: the server's writes stop making progress */
    char *buf = malloc(1 << 20);
    size_t total = 0;
    bool closed = false;
    int64_t end = hu_now_ms() + 10000;
    while (!closed && hu_now_ms() < end)
        total += hu_recv(fd, buf, 1 << 20, 1 << 20, 1000, &closed);
    if (!closed)
        fprintf(stderr, "received %zu bytes, no EOF\n", total);
    ASSERT_TRUE(closed);
    ASSERT_LT(total, 20000000); /* cut off, not completed */
    free(buf);
    close(fd);
}

TEST(stop)
{
    start();
    hu_stop(&s);
}

TEST_MAIN()
