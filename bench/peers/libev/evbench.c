/* libev anchor benchmarks (single-threaded callback event loop, libev 4.33).
 * See ../WORKLOADS.md. Mirrors ../libuv/uvbench.c: only workloads with
 * a fair libev analogue exist here, namely timers and tcp_echo on one loop.
 *
 * Skipped, and why:
 * - spawn_many, chained_spawn, yield_many, ping_pong, mpsc_*, semaphore
 *   (and their _ct variants): libev has no tasks, channels or semaphore.
 * - spawn_blocking: libev has no worker pool (libuv's uv_queue_work has no
 *   libev counterpart).
 * - async_xthread_pingpong: libuv-only informative figure; not part of the
 *   libev subset (ev_async could express it).
 *
 * Per-workload notes:
 * - sleep_1000x50ms / sleep_1Mx100ms / pending_1M: every timer is its own
 *   malloc'ed ev_timer (libev's timers live in a 4-heap of pointers).
 *   ev_timer_start uses the cached loop time, so ev_now_update() is called
 *   once before the start loop (as uv_update_time in uvbench.c).
 * - sleep_1Mx100ms: the callbacks cannot run during the start loop (one
 *   thread), so done_at_spawn_end is always 0 and spawn_loop_ms is the time
 *   to malloc + start 10^6 timers.
 * - pending_1M: as in uvbench.c, RSS is sampled right after the start loop:
 *   ev_timer_start registers synchronously, so there is nothing to poll for
 *   and the spec's extra 20 ms settle wait is not added to setup_ms.
 * - timer_churn: ev_timer_set(60 s) + ev_timer_start + ev_timer_stop on one
 *   reused ev_timer (the heap holds at most one entry; no clock read).
 * - tcp_echo: client and server on one loop, non-blocking sockets, one
 *   ev_io per direction. Writes go straight to write(); a remainder is queued
 *   and flushed from an EV_WRITE watcher (like uv_try_write + uv_write). The
 *   server echoes whatever bytes arrive; a client reads into a 64 KiB buffer
 *   and checks the bytes against its 64-byte message.
 *
 * Usage: evbench <workload>... | all     Prints `name value unit` lines.
 * Micro workloads: 1 warm-up + 5 timed iterations, median printed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 1
#define ITERS 5

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmpd);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
typedef double (*bench_fn)(void);
static double bench(bench_fn f) {
    double v[ITERS];
    for (int i = 0; i < WARMUP + ITERS; i++) {
        double d = f();
        if (i >= WARMUP) v[i - WARMUP] = d;
    }
    return median(v, ITERS);
}
static void out(const char *name, double v, const char *unit) {
    printf("%s %.1f %s\n", name, v, unit);
    fflush(stdout);
}
static long status_kib(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kl = strlen(key);
    long v = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') { v = atol(line + kl + 1); break; }
    fclose(f);
    return v;
}

/* ---------------------------------------------------------------- timers */
static struct ev_loop *L;
static long timers_left;
static void on_timer(struct ev_loop *loop, ev_timer *t, int revents) {
    (void)loop; (void)revents;
    timers_left--;
    free(t); /* a non-repeating timer is already stopped when its callback runs */
}
typedef struct { double spawn_loop; long after_kib; long done; } spawn_stats;
/* n timers of sec each, every timer its own heap allocation (like a task). */
static double sleep_n(long n, double sec, spawn_stats *st) {
    timers_left = n;
    ev_now_update(L);
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        ev_timer *t = malloc(sizeof *t);
        ev_timer_init(t, on_timer, sec, 0.);
        ev_timer_start(L, t);
    }
    if (st) {
        st->spawn_loop = now_s() - t0;
        st->after_kib = status_kib("VmRSS");
        st->done = n - timers_left;
    }
    while (timers_left) ev_run(L, EVRUN_ONCE);
    return now_s() - t0;
}
static double sleep_1000x50(void) { return sleep_n(1000, 0.050, NULL); }

static void never(struct ev_loop *loop, ev_timer *t, int revents) { (void)loop; (void)t; (void)revents; abort(); }
static double timer_churn(void) {
    ev_timer t;
    ev_timer_init(&t, never, 60., 0.);
    double t0 = now_s();
    for (int i = 0; i < 1000000; i++) {
        ev_timer_set(&t, 60., 0.); /* 60 s from the cached loop time */
        ev_timer_start(L, &t);     /* insert into the timer heap */
        ev_timer_stop(L, &t);      /* cancel before firing */
    }
    return now_s() - t0;
}

/* ------------------------------------------------------------ tcp_echo */
#define TCP_CONNS 100
#define TCP_ROUNDS 10000
#define TCP_MSG 64
typedef struct {
    ev_io rio, wio; /* readable watcher (always on), writable watcher (connect / pending output) */
    int fd, is_client, id;
    long rounds;
    int got;
    char msg[TCP_MSG];
    char *out; /* bytes that write() could not take yet */
    size_t outlen, outoff, outcap;
    char rbuf[65536];
} conn_t;
static int lfd;
static ev_io accept_w;
static int clients_done, server_conns_closed, accepted;

static void close_conn(conn_t *c) {
    ev_io_stop(L, &c->rio);
    ev_io_stop(L, &c->wio);
    close(c->fd);
    if (!c->is_client && ++server_conns_closed == TCP_CONNS) {
        ev_io_stop(L, &accept_w);
        close(lfd);
    }
    free(c->out);
    free(c);
}
static void on_writable(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop; (void)revents;
    conn_t *c = w->data;
    ssize_t n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        perror("write"); abort();
    }
    c->outoff += n;
    if (c->outoff == c->outlen) { c->outoff = c->outlen = 0; ev_io_stop(L, &c->wio); }
}
/* try a direct write; queue the remainder (behind anything already queued) */
static void send_bytes(conn_t *c, const char *p, size_t n) {
    size_t w = 0;
    if (c->outlen == c->outoff) {
        ssize_t r = write(c->fd, p, n);
        if (r < 0) {
            if (errno != EAGAIN && errno != EINTR) { perror("write"); abort(); }
            r = 0;
        }
        w = (size_t)r;
        if (w == n) return;
    }
    size_t rest = n - w;
    if (c->outlen + rest > c->outcap) {
        c->outcap = (c->outlen + rest) * 2;
        c->out = realloc(c->out, c->outcap);
    }
    memcpy(c->out + c->outlen, p + w, rest);
    c->outlen += rest;
    if (!ev_is_active(&c->wio)) ev_io_start(L, &c->wio);
}
static void fill_msg(conn_t *c) {
    c->msg[0] = (char)c->id;
    uint64_t r = c->rounds;
    memcpy(c->msg + 1, &r, 8);
}
static void on_read(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop; (void)revents;
    conn_t *c = w->data;
    ssize_t n = read(c->fd, c->rbuf, sizeof c->rbuf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) { /* EOF or error: expected only on the server side */
        if (c->is_client) { fprintf(stderr, "client %d: unexpected EOF/error\n", c->id); abort(); }
        close_conn(c);
        return;
    }
    if (!c->is_client) { send_bytes(c, c->rbuf, n); return; }
    if (c->got + n > TCP_MSG || memcmp(c->rbuf, c->msg + c->got, n)) abort();
    c->got += n;
    if (c->got < TCP_MSG) return;
    c->got = 0;
    if (++c->rounds == TCP_ROUNDS) {
        clients_done++;
        close_conn(c);
        return;
    }
    fill_msg(c);
    send_bytes(c, c->msg, TCP_MSG);
}
static void set_nodelay(int fd) {
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one)) { perror("TCP_NODELAY"); abort(); }
}
static conn_t *new_conn(int fd, int is_client, int id) {
    conn_t *c = calloc(1, sizeof *c);
    c->fd = fd; c->is_client = is_client; c->id = id;
    ev_io_init(&c->rio, on_read, fd, EV_READ);
    ev_io_init(&c->wio, on_writable, fd, EV_WRITE);
    c->rio.data = c->wio.data = c;
    return c;
}
static void on_accept(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop; (void)w; (void)revents;
    for (;;) { /* accept until EAGAIN, like libuv's uv__server_io */
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            perror("accept4"); abort();
        }
        set_nodelay(fd);
        accepted++;
        conn_t *c = new_conn(fd, 0, 0);
        ev_io_start(L, &c->rio);
    }
}
static void client_connected(conn_t *c) {
    set_nodelay(c->fd);
    ev_io_start(L, &c->rio);
    fill_msg(c);
    send_bytes(c, c->msg, TCP_MSG);
}
static void on_connect(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop; (void)revents;
    conn_t *c = w->data;
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) || err) {
        fprintf(stderr, "connect: %s\n", strerror(err ? err : errno));
        abort();
    }
    ev_io_stop(L, &c->wio);
    ev_set_cb(&c->wio, on_writable); /* from now on it flushes queued output */
    client_connected(c);
}
static double tcp_echo(void) {
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* 127.0.0.1:0 */
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 1024)) { perror("listen"); abort(); }
    struct sockaddr_in ss;
    socklen_t len = sizeof ss;
    getsockname(lfd, (struct sockaddr *)&ss, &len);
    ev_io_init(&accept_w, on_accept, lfd, EV_READ);
    ev_io_start(L, &accept_w);
    clients_done = server_conns_closed = accepted = 0;
    double t0 = now_s();
    for (int i = 0; i < TCP_CONNS; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) { perror("socket"); abort(); }
        conn_t *c = new_conn(fd, 1, i);
        if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
            client_connected(c);
        } else if (errno == EINPROGRESS) {
            ev_set_cb(&c->wio, on_connect);
            ev_io_start(L, &c->wio);
        } else {
            perror("connect"); abort();
        }
    }
    while (clients_done < TCP_CONNS) ev_run(L, EVRUN_ONCE);
    double d = now_s() - t0;
    ev_run(L, 0); /* server sides see EOF and close; the listener closes; no watcher is left */
    assert(accepted == TCP_CONNS && server_conns_closed == TCP_CONNS);
    return d;
}

/* -------------------------------------------------------------- driver */
static void sleep_1m(void) {
    long base = status_kib("VmRSS");
    spawn_stats st;
    double d = sleep_n(1000000, 0.100, &st);
    long hwm = status_kib("VmHWM");
    out("sleep_1Mx100ms_wall_ms", d * 1e3, "ms");
    out("sleep_1Mx100ms_spawn_loop_ms", st.spawn_loop * 1e3, "ms");
    out("sleep_1Mx100ms_peak_rss_mib", hwm / 1024.0, "MiB");
    out("sleep_1Mx100ms_baseline_rss_mib", base / 1024.0, "MiB");
    out("sleep_1Mx100ms_done_at_spawn_end", (double)st.done, "tasks");
    out("sleep_1Mx100ms_bytes_per_task_after_spawn", (st.after_kib - base) * 1024.0 / 1e6, "B");
    out("sleep_1Mx100ms_bytes_per_task_peak", (hwm - base) * 1024.0 / 1e6, "B");
}
static void pending_1m(void) {
    long base = status_kib("VmRSS");
    ev_now_update(L);
    double t0 = now_s();
    for (long i = 0; i < 1000000; i++) {
        ev_timer *t = malloc(sizeof *t);
        ev_timer_init(t, never, 60., 0.);
        ev_timer_start(L, t);
    }
    double d = now_s() - t0;
    long pend = status_kib("VmRSS");
    out("pending_1M_setup_ms", d * 1e3, "ms");
    out("pending_1M_rss_mib", pend / 1024.0, "MiB");
    out("pending_1M_bytes_per_pending_task", (pend - base) * 1024.0 / 1e6, "B");
    exit(0); /* must be last: exits without draining */
}

int main(int argc, char **argv) {
    static const char *all[] = {"sleep_1000x50ms", "timer_churn", "tcp_echo", "sleep_1Mx100ms", "pending_1M"};
    L = ev_default_loop(EVFLAG_AUTO); /* epoll backend on Linux */
    if (!L) { fprintf(stderr, "ev_default_loop failed\n"); return 1; }
    alarm(180); /* watchdog */
    int n = argc - 1;
    const char **ws = (const char **)argv + 1;
    if (n == 0 || !strcmp(ws[0], "all")) { ws = all; n = sizeof all / sizeof *all; }
    for (int i = 0; i < n; i++) {
        const char *w = ws[i];
        if (!strcmp(w, "sleep_1000x50ms")) out("sleep_1000x50ms_wall_ms", bench(sleep_1000x50) * 1e3, "ms");
        else if (!strcmp(w, "timer_churn")) out("timer_churn_ns_per_op", bench(timer_churn) * 1e9 / 1e6, "ns");
        else if (!strcmp(w, "tcp_echo")) out("tcp_echo_roundtrips_per_s", TCP_CONNS * (double)TCP_ROUNDS / tcp_echo(), "rt/s");
        else if (!strcmp(w, "sleep_1Mx100ms")) sleep_1m();
        else if (!strcmp(w, "pending_1M")) pending_1m();
        else { fprintf(stderr, "unknown workload %s\n", w); return 2; }
    }
    return 0;
}
