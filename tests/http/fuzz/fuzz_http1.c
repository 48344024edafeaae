/* tests/http/fuzz/fuzz_http1.c - libFuzzer target for weft-httpd's request path, fed from a
 * buffer: the input is a byte stream from a client, run through the connection engine
 * (llhttp in strict mode, validation, routing, the static-file handler over a scratch root,
 * a body-reading handler, the response writer) once whole and once in pieces whose size the
 * first byte picks. Invariants checked besides the sanitizers: the engine never loops, every
 * answer starts with a status line, and the path normaliser never returns a path that climbs
 * or is absolute.
 *
 *   ./fuzz_http1 -dict=http.dict corpus-copy/     (seeds: /work/shared/corpus/http1)
 */
#include "drive.h"
#include "files.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The engine's one runtime dependency, so the target needs no libweft build. */
int64_t weft_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static weft_poll body_handle(http_ex *ex, void *state, weft_cx *cx)
{
    size_t *total = state;
    char buf[512];
    for (;;) {
        ssize_t n;
        if (http_req_body_read(ex, cx, buf, sizeof buf, &n) == WEFT_PENDING)
            return WEFT_PENDING;
        if (n <= 0)
            break;
        *total += (size_t)n;
    }
    char out[64];
    int len = snprintf(out, sizeof out, "%zu", *total);
    http_resp_start(ex, 200);
    http_resp_body_begin(ex, -1); /* chunked for 1.1, close-delimited for 1.0 */
    http_resp_write(ex, out, (size_t)len);
    http_resp_end(ex);
    return WEFT_READY;
}

static const http_handler body_handler = {.handle = body_handle, .state_size = sizeof(size_t)};
static http_handler files_handler;
static http_route routes[1];
static http_config cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    char root[128], p[256];
    snprintf(root, sizeof root, "/tmp/weft-fuzz-root-%d", (int)getpid());
    mkdir(root, 0755);
    snprintf(p, sizeof p, "%s/dir", root), mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/index.html", root);
    FILE *f = fopen(p, "w");
    if (f)
        fputs("<h1>fuzz</h1>\n", f), fclose(f);
    snprintf(p, sizeof p, "%s/dir/a.txt", root);
    if ((f = fopen(p, "w")))
        fputs("aaaaaaaaaaaaaaaaaaaa\n", f), fclose(f);
    httpd_files *files;
    if (httpd_files_new(&files, &(httpd_files_cfg){.root = root, .autoindex = true}) != 0)
        abort();
    httpd_files_handler(files, &files_handler);
    routes[0] = (http_route){.path = "/post", .prefix = true, .handler = &body_handler};
    cfg.routes = routes;
    cfg.nroutes = 1;
    cfg.fallback = &files_handler;
    cfg.limits.max_body = 4096;
    cfg.limits.max_header_bytes = 4096;
    cfg.limits.max_request_line = 2048;
    cfg.limits.max_headers = 32;
    http_config_defaults(&cfg);
    return 0;
}

static void check_path(const uint8_t *data, size_t size)
{
    char out[512];
    bool dir;
    int n = httpd_path_normalize((const char *)data, size, out, sizeof out, &dir);
    if (n < 0)
        return;
    if ((size_t)n != strlen(out) || out[0] == '/')
        abort();
    for (const char *s = out; *s;) { /* no "..", ".", empty or hidden segment */
        const char *e = strchr(s, '/');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l == 0 || (s[0] == '.' && !(s == out && l == 11 && memcmp(s, ".well-known", 11) == 0)))
            abort();
        s += l + (e ? 1 : 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    check_path(data, size);
    for (int pass = 0; pass < 2; pass++) {
        size_t chunk = pass == 0 ? 0 : 1 + (size ? data[0] % 97 : 0);
        drive_result r;
        if (drive(&cfg, (const char *)data, size, chunk, true, &r) != 0)
            abort(); /* the engine looped */
        if (r.out_len && strncmp(r.out, "HTTP/1.1 ", 9) != 0)
            abort();
        drive_result_free(&r);
    }
    return 0;
}
