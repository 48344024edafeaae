/* tests/http/http_files_test.c - static files without sockets: path normalisation, Range,
 * dates, escaping, and the handler driven from a buffer over a scratch document root
 * (conditional requests, ranges, directories, listings, symlinks, traversal). */
#include "drive.h"
#include "files.h"
#include "test.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ pure helpers */

TEST(path_normalize)
{
    static const struct {
        const char *in;
        int ret; /* length, or -errno */
        const char *out;
        bool dir;
    } cases[] = {
        {"/", 0, "", true},
        {"/a/b", 3, "a/b", false},
        {"/a/b/", 3, "a/b", true},
        {"//a///b", 3, "a/b", false},
        {"/a/./b/.", 3, "a/b", false},
        {"/a/../b", 1, "b", false},
        {"/a/b/../../c", 1, "c", false},
        {"/..", -EPERM, NULL, false},
        {"/../etc/passwd", -EPERM, NULL, false},
        {"/a/../../etc", -EPERM, NULL, false},
        {"/%2e%2e/etc/passwd", -EPERM, NULL, false},
        {"/%2E%2e%2fetc", -EPERM, NULL, false},
        {"/a%2f..%2f..%2fb", -EPERM, NULL, false},
        {"/.%2e/x", -EPERM, NULL, false},
        {"/a%20b", 3, "a b", false},
        {"/a%00b", -EINVAL, NULL, false},
        {"/a%0d%0ab", -EINVAL, NULL, false},
        {"/a%zz", -EINVAL, NULL, false},
        {"/a%2", -EINVAL, NULL, false},
        {"a/b", -EINVAL, NULL, false},
        {"/.git/config", -ENOENT, NULL, false},
        {"/a/.htpasswd", -ENOENT, NULL, false},
        {"/.well-known/acme", 16, ".well-known/acme", false},
        {"/a/b/..", 1, "a", false},
        {"/%c3%a9t%c3%a9", 5, "\xc3\xa9t\xc3\xa9", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256];
        bool dir = false;
        int r = httpd_path_normalize(cases[i].in, strlen(cases[i].in), out, sizeof out, &dir);
        if (r != cases[i].ret)
            fprintf(stderr, "case %s: %d\n", cases[i].in, r);
        ASSERT_EQ(r, cases[i].ret);
        if (r >= 0) {
            ASSERT_STREQ(out, cases[i].out);
            ASSERT_EQ(dir, cases[i].dir);
        }
    }
}

TEST(range_parse)
{
    uint64_t a, b;
    ASSERT_EQ(httpd_parse_range("bytes=0-0", 9, 100, &a, &b), 1);
    ASSERT_EQ(a, 0);
    ASSERT_EQ(b, 0);
    ASSERT_EQ(httpd_parse_range("bytes=10-", 9, 100, &a, &b), 1);
    ASSERT_EQ(a, 10);
    ASSERT_EQ(b, 99);
    ASSERT_EQ(httpd_parse_range("bytes=-10", 9, 100, &a, &b), 1);
    ASSERT_EQ(a, 90);
    ASSERT_EQ(b, 99);
    ASSERT_EQ(httpd_parse_range("bytes=-1000", 11, 100, &a, &b), 1);
    ASSERT_EQ(a, 0);
    ASSERT_EQ(httpd_parse_range("bytes=50-1000", 13, 100, &a, &b), 1);
    ASSERT_EQ(b, 99);
    ASSERT_EQ(httpd_parse_range("bytes=100-", 10, 100, &a, &b), -1);
    ASSERT_EQ(httpd_parse_range("bytes=-0", 8, 100, &a, &b), -1);
    ASSERT_EQ(httpd_parse_range("bytes=0-", 8, 0, &a, &b), -1);
    ASSERT_EQ(httpd_parse_range("bytes=5-1", 9, 100, &a, &b), 0);
    ASSERT_EQ(httpd_parse_range("bytes=0-1,5-6", 13, 100, &a, &b), 0);
    ASSERT_EQ(httpd_parse_range("items=0-1", 9, 100, &a, &b), 0);
    ASSERT_EQ(httpd_parse_range("bytes=x-1", 9, 100, &a, &b), 0);
    ASSERT_EQ(httpd_parse_range("bytes=-", 7, 100, &a, &b), 0);
    ASSERT_EQ(httpd_parse_range("bytes=1-2-3", 11, 100, &a, &b), 0);
    ASSERT_EQ(httpd_parse_range("bytes=99999999999999999999-", 27, 100, &a, &b), 0);
}

TEST(http_dates)
{
    time_t t;
    char s[32];
    ASSERT_EQ(httpd_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", 29, &t), 0);
    ASSERT_EQ(t, 784111777);
    ASSERT_EQ(httpd_parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", 30, &t), 0);
    ASSERT_EQ(t, 784111777);
    ASSERT_EQ(httpd_parse_http_date("Sun Nov  6 08:49:37 1994", 24, &t), 0);
    ASSERT_EQ(t, 784111777);
    ASSERT_TRUE(httpd_parse_http_date("yesterday", 9, &t) < 0);
    ASSERT_TRUE(httpd_parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT", 29, &t) < 0);
    httpd_http_date(784111777, s);
    ASSERT_STREQ(s, "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST(escaping_and_mime)
{
    char out[128];
    ASSERT_EQ(httpd_html_escape("<a href=\"x\">&'", 14, out, sizeof out), 38);
    ASSERT_STREQ(out, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    httpd_url_escape("a b/<c>", 7, out, sizeof out);
    ASSERT_STREQ(out, "a%20b%2F%3Cc%3E");
    ASSERT_STREQ(httpd_mime_type("x/INDEX.HTML", 12), "text/html; charset=utf-8");
    ASSERT_STREQ(httpd_mime_type("a.tar.gz", 8), "application/gzip");
    ASSERT_STREQ(httpd_mime_type("noext", 5), "application/octet-stream");
    ASSERT_STREQ(httpd_mime_type(".d/x", 4), "application/octet-stream");
}

/* ------------------------------------------------------------------ the handler */

static char root[256];
static httpd_files *files;
static http_handler fh;
static http_config cfg;

static void put(const char *rel, const char *data, size_t n)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(write(fd, data, n), (ssize_t)n);
    close(fd);
}

static void setup(bool autoindex)
{
    if (!root[0]) {
        snprintf(root, sizeof root, "/tmp/weft-files-test-%d", getpid());
        char p[512];
        mkdir(root, 0755);
        snprintf(p, sizeof p, "%s/dir", root), mkdir(p, 0755);
        snprintf(p, sizeof p, "%s/list", root), mkdir(p, 0755);
        snprintf(p, sizeof p, "%s/.git", root), mkdir(p, 0755);
        put("hello.txt", "Hello, files!\n", 14);
        put("dir/index.html", "<h1>dir</h1>\n", 13);
        put("list/<b>&amp.txt", "x", 1);
        put("list/plain.txt", "y", 1);
        put(".git/config", "secret", 6);
        char big[100000];
        for (size_t i = 0; i < sizeof big; i++)
            big[i] = (char)('a' + i % 26);
        put("big.bin", big, sizeof big);
        snprintf(p, sizeof p, "%s/escape", root);
        ASSERT_EQ(symlink("/etc/passwd", p), 0);
        snprintf(p, sizeof p, "%s/inside", root);
        ASSERT_EQ(symlink("hello.txt", p), 0);
        snprintf(p, sizeof p, "%s/updir", root);
        ASSERT_EQ(symlink("..", p), 0);
    }
    httpd_files_free(files);
    httpd_files_thread_flush();
    ASSERT_EQ(httpd_files_new(&files, &(httpd_files_cfg){.root = root, .autoindex = autoindex}), 0);
    httpd_files_handler(files, &fh);
    memset(&cfg, 0, sizeof cfg);
    cfg.fallback = &fh;
    http_config_defaults(&cfg);
}

static drive_result get(const char *req)
{
    drive_result r;
    ASSERT_EQ(drive(&cfg, req, strlen(req), 0, false, &r), 0);
    return r;
}

static int status_of(const drive_result *r)
{
    return r->out_len > 12 ? atoi(r->out + 9) : 0;
}

static const char *body_of(const drive_result *r)
{
    const char *b = strstr(r->out, "\r\n\r\n");
    return b ? b + 4 : "";
}

TEST(get_head_and_conditionals)
{
    setup(false);
    drive_result r = get("GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(status_of(&r), 200);
    ASSERT_STREQ(body_of(&r), "Hello, files!\n");
    ASSERT_TRUE(strstr(r.out, "Content-Type: text/plain; charset=utf-8\r\n") != NULL);
    ASSERT_TRUE(strstr(r.out, "Content-Length: 14\r\n") != NULL);
    ASSERT_TRUE(strstr(r.out, "Accept-Ranges: bytes\r\n") != NULL);
    const char *et = strstr(r.out, "ETag: ");
    const char *lm = strstr(r.out, "Last-Modified: ");
    ASSERT_TRUE(et && lm);
    char etag[64], lastmod[64], req[512];
    sscanf(et + 6, "%63[^\r]", etag);
    sscanf(lm + 15, "%63[^\r]", lastmod);
    drive_result_free(&r);

    r = get("HEAD /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(status_of(&r), 200);
    ASSERT_STREQ(body_of(&r), "");
    ASSERT_TRUE(strstr(r.out, "Content-Length: 14\r\n") != NULL);
    drive_result_free(&r);

    snprintf(req, sizeof req,
             "GET /hello.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"x\", %s\r\n\r\n", etag);
    r = get(req);
    ASSERT_EQ(status_of(&r), 304);
    ASSERT_STREQ(body_of(&r), "");
    ASSERT_TRUE(strstr(r.out, "Content-Length") == NULL);
    drive_result_free(&r);

    snprintf(req, sizeof req, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: W/%s\r\n\r\n",
             etag);
    r = get(req);
    ASSERT_EQ(status_of(&r), 304); /* weak comparison for If-None-Match */
    drive_result_free(&r);

    snprintf(req, sizeof req, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: %s\r\n\r\n",
             lastmod);
    r = get(req);
    ASSERT_EQ(status_of(&r), 304);
    drive_result_free(&r);

    r = get("GET /hello.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 "
            "GMT\r\n\r\n");
    ASSERT_EQ(status_of(&r), 200);
    drive_result_free(&r);

    /* A date in the future is ignored, not taken as "not modified since" */
    r = get("GET /hello.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Sun, 06 Nov 2095 08:49:37 "
            "GMT\r\n\r\n");
    ASSERT_EQ(status_of(&r), 200);
    drive_result_free(&r);

    /* If-None-Match wins over If-Modified-Since */
    snprintf(req, sizeof req,
             "GET /hello.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"other\"\r\nIf-Modified-Since: "
             "%s\r\n\r\n",
             lastmod);
    r = get(req);
    ASSERT_EQ(status_of(&r), 200);
    drive_result_free(&r);

    r = get("GET /hello.txt HTTP/1.1\r\nHost: a\r\nIf-Match: \"nope\"\r\n\r\n");
    ASSERT_EQ(status_of(&r), 412);
    drive_result_free(&r);
    r = get("GET /hello.txt HTTP/1.1\r\nHost: a\r\nIf-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 "
            "GMT\r\n\r\n");
    ASSERT_EQ(status_of(&r), 412);
    drive_result_free(&r);
    snprintf(req, sizeof req, "GET /hello.txt HTTP/1.1\r\nHost: a\r\nIf-Match: %s\r\n\r\n", etag);
    r = get(req);
    ASSERT_EQ(status_of(&r), 200);
    drive_result_free(&r);
}

TEST(ranges)
{
    setup(false);
    drive_result r = get("GET /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-4\r\n\r\n");
    ASSERT_EQ(status_of(&r), 206);
    ASSERT_STREQ(body_of(&r), "Hello");
    ASSERT_TRUE(strstr(r.out, "Content-Range: bytes 0-4/14\r\n") != NULL);
    drive_result_free(&r);
    r = get("GET /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=-7\r\n\r\n");
    ASSERT_EQ(status_of(&r), 206);
    ASSERT_STREQ(body_of(&r), "files!\n");
    drive_result_free(&r);
    r = get("GET /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=14-\r\n\r\n");
    ASSERT_EQ(status_of(&r), 416);
    ASSERT_TRUE(strstr(r.out, "Content-Range: bytes */14\r\n") != NULL);
    drive_result_free(&r);
    r = get("GET /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1,3-4\r\n\r\n");
    ASSERT_EQ(status_of(&r), 200);
    drive_result_free(&r);
    r = get(
        "GET /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\nIf-Range: \"stale\"\r\n\r\n");
    ASSERT_EQ(status_of(&r), 200);
    drive_result_free(&r);
    r = get("HEAD /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\n\r\n");
    ASSERT_EQ(status_of(&r), 200); /* Range applies to GET only */
    drive_result_free(&r);
    /* a large file goes out as a file segment (sendfile) */
    r = get("GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=26-51\r\n\r\n");
    ASSERT_EQ(status_of(&r), 206);
    ASSERT_STREQ(body_of(&r), "abcdefghijklmnopqrstuvwxyz");
    drive_result_free(&r);
    r = get("GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(status_of(&r), 200);
    ASSERT_EQ(strlen(body_of(&r)), 100000);
    drive_result_free(&r);
}

TEST(directories_and_listing)
{
    setup(false);
    drive_result r = get("GET /dir HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(status_of(&r), 301);
    ASSERT_TRUE(strstr(r.out, "Location: /dir/\r\n") != NULL);
    drive_result_free(&r);
    r = get("GET /dir?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_TRUE(strstr(r.out, "Location: /dir/?x=1\r\n") != NULL);
    drive_result_free(&r);
    r = get("GET /dir/ HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(status_of(&r), 200);
    ASSERT_STREQ(body_of(&r), "<h1>dir</h1>\n");
    ASSERT_TRUE(strstr(r.out, "text/html") != NULL);
    drive_result_free(&r);
    r = get("GET /list/ HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(status_of(&r), 403); /* no index, no autoindex */
    drive_result_free(&r);
    r = get("GET /hello.txt/ HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(status_of(&r), 404);
    drive_result_free(&r);

    setup(true);
    r = get("GET /list/ HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(status_of(&r), 200);
    ASSERT_TRUE(strstr(r.out, "<a href=\"%3Cb%3E%26amp.txt\">&lt;b&gt;&amp;amp.txt</a>") != NULL);
    ASSERT_TRUE(strstr(r.out, "plain.txt") != NULL);
    ASSERT_TRUE(strstr(r.out, "<b>") == NULL);
    drive_result_free(&r);
    r = get("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(status_of(&r), 200);
    ASSERT_TRUE(strstr(r.out, ".git") == NULL); /* hidden */
    drive_result_free(&r);
}

TEST(root_is_never_left)
{
    setup(true);
    static const struct {
        const char *path;
        int status;
    } cases[] = {
        {"/../etc/passwd", 400},
        {"/%2e%2e/etc/passwd", 400},
        {"/dir/../../etc/passwd", 400},
        {"/dir/%2e%2e%2f%2e%2e%2fetc/passwd", 400},
        {"/escape", 404},           /* a symlink to /etc/passwd */
        {"/updir/etc/passwd", 404}, /* a symlink to .. */
        {"/updir/", 404},
        {"/inside", 200}, /* a symlink within the root is fine */
        {"/.git/config", 404},
        {"/%2egit/config", 404},
        {"/hello.txt%00.html", 400},
        {"/nope", 404},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[256];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", cases[i].path);
        drive_result r = get(req);
        if (status_of(&r) != cases[i].status)
            fprintf(stderr, "%s -> %d\n%s\n", cases[i].path, status_of(&r), r.out);
        ASSERT_EQ(status_of(&r), cases[i].status);
        ASSERT_TRUE(strstr(r.out, "root:") == NULL);
        drive_result_free(&r);
    }
}

TEST(methods)
{
    setup(false);
    drive_result r = get("POST /hello.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc");
    ASSERT_EQ(status_of(&r), 405);
    ASSERT_TRUE(strstr(r.out, "Allow: GET, HEAD, OPTIONS\r\n") != NULL);
    drive_result_free(&r);
    r = get("OPTIONS /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(status_of(&r), 204);
    drive_result_free(&r);
    r = get("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(status_of(&r), 405);
    drive_result_free(&r);
}

TEST(cache_sees_changes_after_revalidate)
{
    setup(false);
    httpd_files_free(files);
    httpd_files_thread_flush();
    ASSERT_EQ(httpd_files_new(&files, &(httpd_files_cfg){.root = root, .revalidate = 1}), 0);
    httpd_files_handler(files, &fh);
    drive_result r = get("GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_STREQ(body_of(&r), "Hello, files!\n");
    drive_result_free(&r);
    put("hello.txt", "changed\n", 8);
    usleep(30000); /* the cache reads the coarse clock: let a tick pass */
    r = get("GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_STREQ(body_of(&r), "changed\n");
    drive_result_free(&r);
    put("hello.txt", "Hello, files!\n", 14);
    httpd_files_free(files);
    files = NULL;
    httpd_files_thread_flush();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    ASSERT_EQ(system(cmd), 0);
}

TEST_MAIN()
