/* apps/httpd/main.c - weft-httpd: a static-file HTTP/1.1 server on weft.
 *
 *   weft-httpd [--listen ADDR:PORT] [--root DIR] [--workers N] [--max-conns N]
 *              [--backend uring|epoll] [--plaintext PATH] [--metrics PATH]
 *              [--access-log FILE|-] [--autoindex] [--help] [--version]
 *
 * main() blocks SIGINT and SIGTERM before any thread exists (weft/signal.h's rule), builds the
 * runtime, the static-file handler and the server, then runs the root task: it waits for the
 * first signal, starts the graceful shutdown, and waits for the last connection, the
 * shutdown deadline or a second signal (which exits at once). docs/httpd.md is the manual.
 */
#include "files.h"
#include "http_server.h"
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define HTTPD_VERSION "0.1.0"

/* ------------------------------------------------------------------ options */

struct options {
    const char *listen;
    const char *root;
    unsigned workers;
    size_t max_conns;
    int backend;
    const char *plaintext;
    const char *metrics;
    const char *access_log;
    bool autoindex;
    bool symlink_escape;
    bool quiet;
    int64_t shutdown_timeout;
    http_limits limits;
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: weft-httpd [OPTION]...\n"
            "Serve the files of a directory over HTTP/1.1, on the weft async runtime.\n"
            "\n"
            "  --listen ADDR:PORT     address to listen on (default 127.0.0.1:8080; [::1]:8080 for "
            "IPv6)\n"
            "  --root DIR             document root (default: the current directory)\n"
            "  --workers N            worker threads (default: one per CPU)\n"
            "  --max-conns N          open connections at most (default 10000)\n"
            "  --backend uring|epoll  IO backend (default: io_uring when available)\n"
            "  --plaintext PATH       answer 'Hello, World!' (text/plain) at PATH\n"
            "  --metrics PATH         Prometheus metrics at PATH\n"
            "  --access-log FILE|-    log each request (combined format) to FILE, or stdout\n"
            "  --autoindex            list directories that have no index.html\n"
            "  --allow-symlink-escape let symlinks point outside the root (default: refused)\n"
            "  --header-timeout SEC   total time to receive a request head (default 10)\n"
            "  --body-timeout SEC     time between two reads of a request body (default 10)\n"
            "  --send-timeout SEC     time between two writes of a response (default 30)\n"
            "  --keepalive-timeout SEC  idle time between requests (default 30)\n"
            "  --max-body BYTES       largest request body (default 1048576)\n"
            "  --max-requests N       requests per connection (default 10000)\n"
            "  --shutdown-timeout SEC time to finish in-flight responses on SIGTERM (default 10)\n"
            "  --quiet                no start-up and shutdown messages\n"
            "  --help                 this text\n"
            "  --version              the version\n"
            "\n"
            "SIGTERM or SIGINT stops accepting, finishes in-flight responses (within the shutdown\n"
            "timeout), closes idle connections and exits 0; a second signal exits at once.\n");
}

static int bad(const char *fmt, const char *arg)
{
    fprintf(stderr, "weft-httpd: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'weft-httpd --help' for more information.\n");
    return 2;
}

static bool parse_num(const char *s, unsigned long long min, unsigned long long max,
                      unsigned long long *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

enum {
    O_LISTEN = 'l',
    O_ROOT = 'r',
    O_WORKERS = 'w',
    O_MAXCONNS = 'm',
    O_BACKEND = 'b',
    O_PLAIN = 'p',
    O_METRICS = 'M',
    O_LOG = 'a',
    O_AUTOINDEX = 'i',
    O_HELP = 'h',
    O_VERSION = 'V',
    O_SYMLINK = 256,
    O_HTO,
    O_BTO,
    O_STO,
    O_KTO,
    O_MAXBODY,
    O_MAXREQ,
    O_SHUTDOWN,
    O_QUIET,
};

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longs[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"root", required_argument, NULL, O_ROOT},
        {"workers", required_argument, NULL, O_WORKERS},
        {"max-conns", required_argument, NULL, O_MAXCONNS},
        {"backend", required_argument, NULL, O_BACKEND},
        {"plaintext", required_argument, NULL, O_PLAIN},
        {"metrics", required_argument, NULL, O_METRICS},
        {"access-log", required_argument, NULL, O_LOG},
        {"autoindex", no_argument, NULL, O_AUTOINDEX},
        {"allow-symlink-escape", no_argument, NULL, O_SYMLINK},
        {"header-timeout", required_argument, NULL, O_HTO},
        {"body-timeout", required_argument, NULL, O_BTO},
        {"send-timeout", required_argument, NULL, O_STO},
        {"keepalive-timeout", required_argument, NULL, O_KTO},
        {"max-body", required_argument, NULL, O_MAXBODY},
        {"max-requests", required_argument, NULL, O_MAXREQ},
        {"shutdown-timeout", required_argument, NULL, O_SHUTDOWN},
        {"quiet", no_argument, NULL, O_QUIET},
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int ch;
    unsigned long long v;
    while ((ch = getopt_long(argc, argv, ":", longs, NULL)) != -1) {
        const char *a = optarg;
        switch (ch) {
        case O_LISTEN:
            o->listen = a;
            break;
        case O_ROOT:
            o->root = a;
            break;
        case O_WORKERS:
            if (!parse_num(a, 1, 1024, &v))
                return bad("--workers wants a number from 1 to 1024, not '%s'", a);
            o->workers = (unsigned)v;
            break;
        case O_MAXCONNS:
            if (!parse_num(a, 1, 10000000, &v))
                return bad("--max-conns wants a number from 1 to 10000000, not '%s'", a);
            o->max_conns = (size_t)v;
            break;
        case O_BACKEND:
            if (strcmp(a, "uring") == 0)
                o->backend = WEFT_IO_BACKEND_URING;
            else if (strcmp(a, "epoll") == 0)
                o->backend = WEFT_IO_BACKEND_EPOLL;
            else
                return bad("--backend wants 'uring' or 'epoll', not '%s'", a);
            break;
        case O_PLAIN:
        case O_METRICS:
            if (a[0] != '/')
                return bad("a route path must start with '/', not '%s'", a);
            if (ch == O_PLAIN)
                o->plaintext = a;
            else
                o->metrics = a;
            break;
        case O_LOG:
            o->access_log = a;
            break;
        case O_AUTOINDEX:
            o->autoindex = true;
            break;
        case O_SYMLINK:
            o->symlink_escape = true;
            break;
        case O_QUIET:
            o->quiet = true;
            break;
        case O_HTO:
        case O_BTO:
        case O_STO:
        case O_KTO:
        case O_SHUTDOWN: {
            if (!parse_num(a, 1, 86400, &v))
                return bad("timeouts are whole seconds from 1 to 86400, not '%s'", a);
            int64_t ns = WEFT_SEC((int64_t)v);
            if (ch == O_HTO)
                o->limits.header_timeout = ns;
            else if (ch == O_BTO)
                o->limits.body_timeout = ns;
            else if (ch == O_STO)
                o->limits.send_timeout = ns;
            else if (ch == O_KTO)
                o->limits.keepalive_timeout = ns;
            else
                o->shutdown_timeout = ns;
            break;
        }
        case O_MAXBODY:
            if (!parse_num(a, 1, 1ull << 40, &v))
                return bad("--max-body wants a byte count from 1 to 2^40, not '%s'", a);
            o->limits.max_body = v;
            break;
        case O_MAXREQ:
            if (!parse_num(a, 1, UINT32_MAX, &v))
                return bad("--max-requests wants a number from 1 to 4294967295, not '%s'", a);
            o->limits.max_requests = (uint32_t)v;
            break;
        case O_HELP:
            usage(stdout);
            exit(0);
        case O_VERSION:
            printf("weft-httpd %s (weft %s, llhttp %d.%d.%d)\n", HTTPD_VERSION, WEFT_VERSION_STRING,
                   LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH);
            exit(0);
        case ':':
            return bad("option '%s' needs an argument", argv[optind - 1]);
        default:
            return bad("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return bad("unexpected argument '%s'", argv[optind]);
    return 0;
}

/* ------------------------------------------------------------------ built-in routes */

static weft_poll plaintext_handle(http_ex *ex, void *state, weft_cx *cx)
{
    (void)state, (void)cx;
    http_method m = http_req_method(ex);
    if (m != HTTP_M_GET && m != HTTP_M_HEAD) {
        http_resp_start(ex, 405);
        http_resp_header(ex, "Allow", "GET, HEAD");
        http_resp_body_begin(ex, 0);
        http_resp_end(ex);
        return WEFT_READY;
    }
    http_resp_send(ex, 200, "text/plain", "Hello, World!", 13);
    return WEFT_READY;
}

/* Metrics: the runtime's series plus ours, updated from on_done. */
static struct {
    weft_rt *rt;
    httpd_server *srv;
    weft_counter *by_class[5];
    weft_counter *body_bytes;
    weft_histogram *duration;
    weft_gauge *active;
    weft_counter *accepted;
    pthread_mutex_t lock;
    uint64_t accepted_seen;
} met = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int metrics_init(weft_rt *rt)
{
    static const char *const classes[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                     0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
    int err = 0;
    met.rt = rt;
    for (int i = 0; i < 5 && !err; i++) {
        const char *labels[] = {"code", classes[i], NULL};
        err =
            weft_counter_new(&met.by_class[i], rt,
                             &(weft_metric_opts){.name = "httpd_requests_total",
                                                 .help = "HTTP requests answered, by status class",
                                                 .labels = labels});
    }
    if (!err)
        err = weft_counter_new(&met.body_bytes, rt,
                               &(weft_metric_opts){.name = "httpd_response_body_bytes_total",
                                                   .help = "Response body bytes queued"});
    if (!err)
        err = weft_histogram_new(
            &met.duration, rt,
            &(weft_metric_opts){.name = "httpd_request_duration_seconds",
                                .help = "From a complete request head to a complete response",
                                .buckets = buckets,
                                .nbuckets = sizeof buckets / sizeof buckets[0]});
    if (!err)
        err = weft_gauge_new(&met.active, rt,
                             &(weft_metric_opts){.name = "httpd_connections_active",
                                                 .help = "Open client connections"});
    if (!err)
        err = weft_counter_new(&met.accepted, rt,
                               &(weft_metric_opts){.name = "httpd_connections_accepted_total",
                                                   .help = "Client connections accepted"});
    return err;
}

static void free_text(void *p)
{
    free(p);
}

static weft_poll metrics_handle(http_ex *ex, void *state, weft_cx *cx)
{
    (void)state, (void)cx;
    if (met.srv) {
        pthread_mutex_lock(&met.lock);
        uint64_t acc = httpd_server_accepted(met.srv);
        weft_counter_add(met.accepted, acc - met.accepted_seen);
        met.accepted_seen = acc;
        weft_gauge_set(met.active, (double)httpd_server_active(met.srv));
        pthread_mutex_unlock(&met.lock);
    }
    /* Counters move between the sizing call and the real one: leave room, retry if short. */
    char *text = NULL;
    ssize_t need = weft_metrics_prometheus_format(met.rt, NULL, 0);
    for (int tries = 0; need >= 0 && tries < 4; tries++) {
        size_t cap = (size_t)need + (size_t)need / 4 + 4096;
        free(text);
        text = malloc(cap);
        if (!text)
            break;
        need = weft_metrics_prometheus_format(met.rt, text, cap);
        if (need >= 0 && (size_t)need < cap)
            break;
    }
    if (!text || need < 0) {
        free(text);
        http_resp_send(ex, 500, "text/plain", "metrics unavailable\n", 20);
        return WEFT_READY;
    }
    http_resp_start(ex, 200);
    http_resp_header(ex, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    http_resp_header(ex, "Cache-Control", "no-store");
    http_resp_body_begin(ex, need);
    http_resp_write_ref(ex, text, (size_t)need, free_text, text);
    http_resp_end(ex);
    return WEFT_READY;
}

/* ------------------------------------------------------------------ access log */

static struct {
    int fd;
    pthread_mutex_t lock;
    char buf[64 * 1024];
    size_t len;
} alog = {.fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

static void alog_flush_locked(void)
{
    size_t off = 0;
    while (off < alog.len) {
        ssize_t n = write(alog.fd, alog.buf + off, alog.len - off);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
        off += (size_t)n;
    }
    alog.len = 0;
}

static void alog_flush(void)
{
    if (alog.fd < 0)
        return;
    pthread_mutex_lock(&alog.lock);
    alog_flush_locked();
    pthread_mutex_unlock(&alog.lock);
}

/* Copy a header value for the log: quotes, backslashes and controls become \xHH. */
static size_t log_quote(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    if (n == 0 && cap > 1)
        out[o++] = '-';
    for (size_t i = 0; i < n && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\' || c >= 0x7f)
            o += (size_t)snprintf(out + o, cap - o, "\\x%02X", c);
        else
            out[o++] = (char)c;
    }
    out[o] = 0;
    return o;
}

static void alog_line(const http_ex *ex, const http_done_info *info)
{
    char line[2048], when[64], ref[256], ua[512], tgt[1024];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S %z", &tm);
    int n;
    if (ex) {
        http_str m = http_req_method_str(ex), t = http_req_target(ex), r = {0}, u = {0};
        http_req_header(ex, "Referer", &r);
        http_req_header(ex, "User-Agent", &u);
        log_quote(ref, sizeof ref, r.p, r.len);
        log_quote(ua, sizeof ua, u.p, u.len);
        log_quote(tgt, sizeof tgt, t.p, t.len);
        const char *peer = http_req_peer(ex);
        n = snprintf(line, sizeof line, "%s - - [%s] \"%.*s %s HTTP/1.%d\" %d %llu \"%s\" \"%s\"\n",
                     peer[0] ? peer : "-", when, (int)m.len, m.p, tgt,
                     http_req_version(ex) == 11 ? 1 : 0, info->status,
                     (unsigned long long)info->body_bytes, ref, ua);
    } else {
        n = snprintf(line, sizeof line, "- - - [%s] \"-\" %d 0 \"-\" \"-\"\n", when, info->status);
    }
    if (n <= 0)
        return;
    if ((size_t)n >= sizeof line)
        n = sizeof line - 1;
    pthread_mutex_lock(&alog.lock);
    if (alog.len + (size_t)n > sizeof alog.buf)
        alog_flush_locked();
    memcpy(alog.buf + alog.len, line, (size_t)n);
    alog.len += (size_t)n;
    pthread_mutex_unlock(&alog.lock);
}

static void on_done(const http_ex *ex, const http_done_info *info, void *arg)
{
    (void)arg;
    if (met.duration) {
        int cls = info->status / 100;
        if (cls >= 1 && cls <= 5)
            weft_counter_inc(met.by_class[cls - 1]);
        weft_counter_add(met.body_bytes, info->body_bytes);
        weft_histogram_observe(met.duration, (double)(info->end_ns - info->start_ns) / 1e9);
    }
    if (alog.fd >= 0)
        alog_line(ex, info);
}

/* A task that flushes the access log once a second. */
struct flusher {
    WEFT_ASYNC_STATE;
    weft_interval iv;
    int64_t tick;
};

static weft_poll flusher_poll(void *state, weft_cx *cx, void *out)
{
    struct flusher *f = state;
    (void)out;
    WEFT_ASYNC_BEGIN(f);
    weft_interval_init(&f->iv, weft_deadline_in(WEFT_SEC(1)), WEFT_SEC(1), WEFT_MISSED_SKIP);
    for (;;) {
        WEFT_AWAIT(f, weft_interval_tick_poll(&f->iv, cx, &f->tick));
        alog_flush();
    }
    WEFT_ASYNC_END(f);
}

static void flusher_drop(void *state)
{
    weft_interval_drop(&((struct flusher *)state)->iv);
}

static const weft_future_type flusher_type = {.name = "access-log",
                                              .poll = flusher_poll,
                                              .drop = flusher_drop,
                                              .state_size = sizeof(struct flusher)};

/* ------------------------------------------------------------------ the root task */

struct main_task {
    WEFT_ASYNC_STATE;
    httpd_server *srv;
    int64_t grace;
    bool quiet;
    weft_signals *sig;
    weft_signal_recv recv;
    httpd_idle_wait idle;
    weft_sleep deadline;
    int signo;
    int err;
};

/* Wait for the first of: every connection gone, the deadline, a second signal. */
static weft_poll wait_drain(struct main_task *m, weft_cx *cx)
{
    if (weft_signal_recv_poll(&m->recv, cx, &m->signo) == WEFT_READY && m->signo > 0) {
        if (!m->quiet)
            fprintf(stderr, "weft-httpd: second signal (%s): exiting now\n", strsignal(m->signo));
        alog_flush();
        _exit(128 + m->signo);
    }
    if (httpd_idle_wait_poll(&m->idle, cx) == WEFT_READY)
        return WEFT_READY;
    if (weft_sleep_poll(&m->deadline, cx) == WEFT_READY) {
        if (!m->quiet)
            fprintf(stderr, "weft-httpd: shutdown deadline passed: closing %zu connection(s)\n",
                    httpd_server_active(m->srv));
        return WEFT_READY;
    }
    return WEFT_PENDING;
}

static weft_poll main_poll(void *state, weft_cx *cx, void *out)
{
    struct main_task *m = state;
    (void)out;
    WEFT_ASYNC_BEGIN(m);
    {
        static const int sigs[] = {SIGINT, SIGTERM};
        m->err = weft_signals_new(&m->sig, sigs, 2);
        if (m->err < 0)
            WEFT_ASYNC_FAIL(m, m->err);
    }
    weft_signal_recv_init(&m->recv, m->sig);
    WEFT_AWAIT(m, weft_signal_recv_poll(&m->recv, cx, &m->signo));
    if (m->signo < 0)
        WEFT_ASYNC_FAIL(m, m->signo);
    if (!m->quiet)
        fprintf(stderr, "weft-httpd: %s: shutting down (%zu connection(s) open)\n",
                strsignal(m->signo), httpd_server_active(m->srv));
    httpd_server_shutdown(m->srv);
    httpd_idle_wait_init(&m->idle, m->srv);
    weft_sleep_init(&m->deadline, m->grace);
    weft_signal_recv_init(&m->recv, m->sig);
    WEFT_AWAIT(m, wait_drain(m, cx));
    WEFT_ASYNC_END(m);
}

static void main_drop(void *state)
{
    struct main_task *m = state;
    weft_signal_recv_drop(&m->recv);
    httpd_idle_wait_drop(&m->idle);
    weft_sleep_drop(&m->deadline);
    weft_signals_close(m->sig);
}

static const weft_future_type main_type = {
    .name = "main", .poll = main_poll, .drop = main_drop, .state_size = sizeof(struct main_task)};

/* ------------------------------------------------------------------ main */

/* Each worker frees its per-thread buffer pool and file cache as it stops. */
static void worker_stop(void *arg)
{
    (void)arg;
    http_thread_cleanup();
    httpd_files_thread_flush();
}

static void raise_nofile(size_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want + 128)
        fprintf(stderr,
                "weft-httpd: note: the descriptor limit (%llu) is below --max-conns; "
                "accepts will pause when it is reached\n",
                (unsigned long long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
    struct options o = {.listen = "127.0.0.1:8080",
                        .root = ".",
                        .max_conns = 10000,
                        .shutdown_timeout = WEFT_SEC(10)};
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    weft_sockaddr addr;
    if (weft_sockaddr_parse(&addr, o.listen) < 0)
        return bad(
            "--listen wants a numeric ADDR:PORT such as 127.0.0.1:8080 or [::1]:8080, not '%s'",
            o.listen);

    /* Before any thread: the signals we read must be blocked everywhere. */
    static const int sigs[] = {SIGINT, SIGTERM};
    weft_signal_block(sigs, 2);
    /* A shell starts background jobs with SIGINT ignored, and an ignored signal never reaches
     * the signalfd: restore the default (it stays blocked, so it only ever arrives there). */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile(o.max_conns);

    if (o.access_log) {
        if (strcmp(o.access_log, "-") == 0)
            alog.fd = STDOUT_FILENO;
        else if ((alog.fd = open(o.access_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) <
                 0) {
            fprintf(stderr, "weft-httpd: cannot open the access log %s: %s\n", o.access_log,
                    strerror(errno));
            return 1;
        }
    }

    httpd_files *files = NULL;
    int err = httpd_files_new(&files, &(httpd_files_cfg){.root = o.root,
                                                         .autoindex = o.autoindex,
                                                         .allow_symlink_escape = o.symlink_escape});
    if (err < 0) {
        fprintf(stderr, "weft-httpd: cannot serve %s: %s\n", o.root, weft_strerror(err));
        return 1;
    }

    weft_rt *rt = NULL;
    err = weft_rt_new(&rt, &(weft_rt_config){.workers = o.workers,
                                             .thread_name = "httpd",
                                             .io_backend = o.backend,
                                             .on_thread_stop = worker_stop});
    if (err < 0) {
        fprintf(stderr, "weft-httpd: cannot start the runtime: %s\n", weft_strerror(err));
        return 1;
    }
    if (o.metrics && (err = metrics_init(rt)) < 0) {
        fprintf(stderr, "weft-httpd: cannot register metrics: %s\n", weft_strerror(err));
        return 1;
    }

    static http_handler files_h,
        plain_h = {.name = "plaintext", .handle = plaintext_handle, .ignores_body = true},
        metrics_h = {.name = "metrics", .handle = metrics_handle, .ignores_body = true};
    httpd_files_handler(files, &files_h);
    http_route routes[2];
    size_t nroutes = 0;
    if (o.plaintext)
        routes[nroutes++] = (http_route){.path = o.plaintext, .handler = &plain_h};
    if (o.metrics)
        routes[nroutes++] = (http_route){.path = o.metrics, .handler = &metrics_h};

    httpd_server_cfg scfg = {
        .addr = addr,
        .max_conns = o.max_conns,
        .peer_names = alog.fd >= 0,
        .http = {.limits = o.limits,
                 .routes = routes,
                 .nroutes = nroutes,
                 .fallback = &files_h,
                 .on_done = (o.metrics || alog.fd >= 0) ? on_done : NULL},
    };
    httpd_server *srv = NULL;
    err = httpd_server_new(&srv, rt, &scfg);
    if (err < 0) {
        fprintf(stderr, "weft-httpd: cannot listen on %s: %s\n", o.listen, weft_strerror(err));
        weft_rt_free(rt);
        return 1;
    }
    met.srv = srv;
    if ((err = httpd_server_start(srv)) < 0) {
        fprintf(stderr, "weft-httpd: cannot start: %s\n", weft_strerror(err));
        weft_rt_free(rt);
        return 1;
    }
    if (alog.fd >= 0)
        weft_spawn(rt, &flusher_type, NULL, NULL);
    if (!o.quiet) {
        char shown[128];
        weft_sockaddr_format(&addr, shown, sizeof shown);
        char *colon = strrchr(shown, ':');
        if (colon)
            snprintf(colon + 1, sizeof shown - (size_t)(colon + 1 - shown), "%d",
                     httpd_server_port(srv));
        char real[PATH_MAX];
        fprintf(stderr,
                "weft-httpd %s: serving %s on http://%s/ (%u workers, %s, max %zu connections)\n",
                HTTPD_VERSION, realpath(o.root, real) ? real : o.root, shown, weft_rt_workers(rt),
                weft_io_backend_name(rt), o.max_conns);
    }

    struct main_task mt = {.srv = srv, .grace = o.shutdown_timeout, .quiet = o.quiet};
    err = weft_rt_block_on(rt, &main_type, &mt, NULL);
    if (err < 0)
        fprintf(stderr, "weft-httpd: %s\n", weft_strerror(err));
    if (err == 0 && httpd_server_active(srv) > 0) {
        /* The deadline passed with responses still in flight: their sockets, files and
         * buffers are the kernel's until it lets go, so do not wait for that - the exit closes
         * every descriptor at once. */
        alog_flush();
        _exit(0);
    }
    weft_rt_free(rt); /* stops the workers; any task left is dropped (and its socket closed) */
    httpd_server_free(srv);
    httpd_files_free(files);
    alog_flush();
    if (!o.quiet && err == 0)
        fprintf(stderr, "weft-httpd: stopped\n");
    return err < 0 ? 1 : 0;
}
