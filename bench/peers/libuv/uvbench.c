/* libuv anchor benchmarks (single-threaded callback event loop).
 * See ../WORKLOADS.md. Only workloads with a fair libuv analogue exist here:
 * timers, uv_queue_work (~ spawn_blocking), tcp_echo on one loop, and a
 * cross-thread uv_async wakeup ping-pong (libuv-only figure).
 *
 * Usage: uvbench <workload>... | all     Prints `name value unit` lines.
 * Micro workloads: 1 warm-up + 5 timed iterations, median printed.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define WARMUP 1
#define ITERS 5

static double now_s(void) { return (double)uv_hrtime() / 1e9; }

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
static uv_loop_t *L;
static long timers_left;
static void on_timer_free(uv_handle_t *h) { free(h); }
static void on_timer(uv_timer_t *t) {
    timers_left--;
    uv_close((uv_handle_t *)t, on_timer_free);
}
typedef struct { double spawn_loop; long after_kib; long done; } spawn_stats;
/* n timers of ms each, every timer its own heap allocation (like a task).
 * st (optional) receives the spawn-loop figures that sleep_1Mx100ms reports. */
static double sleep_n(long n, uint64_t ms, spawn_stats *st) {
    timers_left = n;
    uv_update_time(L);
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        uv_timer_t *t = malloc(sizeof *t);
        uv_timer_init(L, t);
        uv_timer_start(t, on_timer, ms, 0);
    }
    if (st) {
        st->spawn_loop = now_s() - t0;
        st->after_kib = status_kib("VmRSS");
        st->done = n - timers_left; /* always 0: callbacks cannot run during the loop */
    }
    while (timers_left) uv_run(L, UV_RUN_ONCE);
    double d = now_s() - t0;
    uv_run(L, UV_RUN_NOWAIT); /* run close callbacks */
    return d;
}
static double sleep_1000x50(void) { return sleep_n(1000, 50, NULL); }

static void never(uv_timer_t *t) { (void)t; abort(); }
static double timer_churn(void) {
    uv_timer_t t;
    uv_timer_init(L, &t);
    double t0 = now_s();
    for (int i = 0; i < 1000000; i++) {
        uv_timer_start(&t, never, 60000, 0); /* insert into the timer heap */
        uv_timer_stop(&t);                   /* cancel before firing */
    }
    double d = now_s() - t0;
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(L, UV_RUN_NOWAIT);
    return d;
}

/* ------------------------------------------------------- uv_queue_work */
#define WORK_N 10000
static int work_done, work_queued;
static uv_work_t works[WORK_N];
static volatile uint64_t sink;
static void work_cb(uv_work_t *w) { sink += (uintptr_t)w->data + 1; }
static void after_seq(uv_work_t *w, int st) {
    (void)st;
    work_done++;
    if (work_queued < WORK_N) {
        uv_work_t *n = &works[work_queued++];
        n->data = (void *)(uintptr_t)work_queued;
        uv_queue_work(L, n, work_cb, after_seq);
    }
    (void)w;
}
static void after_batch(uv_work_t *w, int st) { (void)w; (void)st; work_done++; }
static double queue_work_seq(void) {
    work_done = 0; work_queued = 1;
    double t0 = now_s();
    uv_queue_work(L, &works[0], work_cb, after_seq);
    uv_run(L, UV_RUN_DEFAULT);
    assert(work_done == WORK_N);
    return now_s() - t0;
}
static double queue_work_batch(void) {
    work_done = 0;
    double t0 = now_s();
    for (int i = 0; i < WORK_N; i++) uv_queue_work(L, &works[i], work_cb, after_batch);
    uv_run(L, UV_RUN_DEFAULT);
    assert(work_done == WORK_N);
    return now_s() - t0;
}

/* ------------------------------------------- cross-thread async ping-pong */
#define PP_ROUNDS 10000
static uv_loop_t loop_b;
static uv_async_t a_to_b, b_to_a, b_stop;
static int pp_count;
static void on_b_stop(uv_async_t *h) {
    (void)h;
    uv_close((uv_handle_t *)&a_to_b, NULL);
    uv_close((uv_handle_t *)&b_stop, NULL);
}
static void on_b(uv_async_t *h) { (void)h; uv_async_send(&b_to_a); }
static void on_a(uv_async_t *h) {
    (void)h;
    if (++pp_count < PP_ROUNDS) uv_async_send(&a_to_b);
    else uv_close((uv_handle_t *)&b_to_a, NULL);
}
static void thread_b(void *arg) { (void)arg; uv_run(&loop_b, UV_RUN_DEFAULT); }
static double async_pingpong(void) {
    /* each uv_async_send coalesces, but the protocol has 1 message in flight */
    uv_loop_init(&loop_b);
    uv_async_init(&loop_b, &a_to_b, on_b);
    uv_async_init(&loop_b, &b_stop, on_b_stop);
    uv_async_init(L, &b_to_a, on_a);
    uv_thread_t th;
    uv_thread_create(&th, thread_b, NULL);
    pp_count = 0;
    double t0 = now_s();
    uv_async_send(&a_to_b);
    uv_run(L, UV_RUN_DEFAULT);
    double d = now_s() - t0;
    uv_async_send(&b_stop);
    uv_thread_join(&th);
    uv_loop_close(&loop_b);
    return d;
}

/* ------------------------------------------------------------ tcp_echo */
#define TCP_CONNS 100
#define TCP_ROUNDS 10000
#define TCP_MSG 64
typedef struct {
    uv_tcp_t tcp;
    int is_client, id;
    long rounds;
    int got;
    char msg[TCP_MSG];
    char rbuf[65536];
} conn_t;
typedef struct { uv_write_t req; uv_buf_t buf; } wreq_t;
static uv_tcp_t server;
static int clients_done, server_conns_closed, accepted;
static void on_wdone(uv_write_t *r, int st) {
    if (st) { fprintf(stderr, "write: %s\n", uv_strerror(st)); abort(); }
    free(r);
}
/* try a direct write; queue the remainder with a private copy */
static void send_bytes(conn_t *c, const char *p, size_t n) {
    uv_buf_t b = uv_buf_init((char *)p, n);
    int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (w == UV_EAGAIN) w = 0;
    if (w < 0) { fprintf(stderr, "try_write: %s\n", uv_strerror(w)); abort(); }
    if ((size_t)w == n) return;
    wreq_t *r = malloc(sizeof *r + (n - w));
    memcpy((char *)(r + 1), p + w, n - w);
    r->buf = uv_buf_init((char *)(r + 1), n - w);
    uv_write(&r->req, (uv_stream_t *)&c->tcp, &r->buf, 1, on_wdone);
}
static void alloc_cb(uv_handle_t *h, size_t s, uv_buf_t *b) {
    (void)s;
    conn_t *c = h->data;
    *b = uv_buf_init(c->rbuf, sizeof c->rbuf);
}
static void on_close_conn(uv_handle_t *h) {
    conn_t *c = h->data;
    if (!c->is_client && ++server_conns_closed == TCP_CONNS) uv_close((uv_handle_t *)&server, NULL);
    free(c);
}
static void fill_msg(conn_t *c) {
    c->msg[0] = (char)c->id;
    uint64_t r = c->rounds;
    memcpy(c->msg + 1, &r, 8);
}
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    conn_t *c = s->data;
    if (n < 0) { /* EOF (server side) */
        uv_close((uv_handle_t *)s, on_close_conn);
        return;
    }
    if (n == 0) return;
    if (!c->is_client) { send_bytes(c, b->base, n); return; }
    if (memcmp(b->base, c->msg + c->got, n)) abort();
    c->got += n;
    assert(c->got <= TCP_MSG);
    if (c->got < TCP_MSG) return;
    c->got = 0;
    if (++c->rounds == TCP_ROUNDS) {
        clients_done++;
        uv_close((uv_handle_t *)s, on_close_conn);
        return;
    }
    fill_msg(c);
    send_bytes(c, c->msg, TCP_MSG);
}
static void on_conn(uv_stream_t *srv, int st) {
    assert(st == 0);
    conn_t *c = calloc(1, sizeof *c);
    uv_tcp_init(L, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp)) abort();
    uv_tcp_nodelay(&c->tcp, 1);
    accepted++;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
}
static void on_connect(uv_connect_t *r, int st) {
    if (st) { fprintf(stderr, "connect: %s\n", uv_strerror(st)); abort(); }
    conn_t *c = r->handle->data;
    free(r);
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
    fill_msg(c);
    send_bytes(c, c->msg, TCP_MSG);
}
static double tcp_echo(void) {
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(L, &server);
    if (uv_tcp_bind(&server, (struct sockaddr *)&a, 0)) abort();
    if (uv_listen((uv_stream_t *)&server, 1024, on_conn)) abort();
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&server, (struct sockaddr *)&ss, &len);
    clients_done = server_conns_closed = accepted = 0;
    double t0 = now_s();
    for (int i = 0; i < TCP_CONNS; i++) {
        conn_t *c = calloc(1, sizeof *c);
        c->is_client = 1; c->id = i;
        uv_tcp_init(L, &c->tcp);
        c->tcp.data = c;
        uv_connect_t *r = malloc(sizeof *r);
        uv_tcp_connect(r, &c->tcp, (struct sockaddr *)&ss, on_connect);
    }
    while (clients_done < TCP_CONNS) uv_run(L, UV_RUN_ONCE);
    double d = now_s() - t0;
    uv_run(L, UV_RUN_DEFAULT); /* server sides see EOF, close, listener closes */
    return d;
}

/* -------------------------------------------------------------- driver */
/* All seven metrics of WORKLOADS.md, in the same order as evbench.c. */
static void sleep_1m(void) {
    long base = status_kib("VmRSS");
    spawn_stats st;
    double d = sleep_n(1000000, 100, &st);
    long hwm = status_kib("VmHWM");
    out("sleep_1Mx100ms_wall_ms", d * 1e3, "ms");
    out("sleep_1Mx100ms_spawn_loop_ms", st.spawn_loop * 1e3, "ms");
    out("sleep_1Mx100ms_peak_rss_mib", hwm / 1024.0, "MiB");
    out("sleep_1Mx100ms_baseline_rss_mib", base / 1024.0, "MiB");
    out("sleep_1Mx100ms_done_at_spawn_end", (double)st.done, "tasks");
    out("sleep_1Mx100ms_bytes_per_task_after_spawn", (st.after_kib - base) * 1024.0 / 1e6, "B");
    out("sleep_1Mx100ms_bytes_per_task_peak", (hwm - base) * 1024.0 / 1e6, "B");
}
/* uv_timer_start registers synchronously, so there is nothing to poll for:
 * RSS is sampled right after the start loop and the spec's 20 ms settle wait
 * is not added to setup_ms (as in evbench.c). */
static void pending_1m(void) {
    long base = status_kib("VmRSS");
    uv_update_time(L);
    double t0 = now_s();
    for (long i = 0; i < 1000000; i++) {
        uv_timer_t *t = malloc(sizeof *t);
        uv_timer_init(L, t);
        uv_timer_start(t, never, 60000, 0);
    }
    double d = now_s() - t0;
    long pend = status_kib("VmRSS");
    out("pending_1M_setup_ms", d * 1e3, "ms");
    out("pending_1M_rss_mib", pend / 1024.0, "MiB");
    out("pending_1M_bytes_per_pending_task", (pend - base) * 1024.0 / 1e6, "B");
    exit(0); /* must be last: exits without draining */
}

int main(int argc, char **argv) {
    static const char *all[] = {"sleep_1000x50ms", "timer_churn", "spawn_blocking", "async_pingpong",
                                "tcp_echo", "sleep_1Mx100ms", "pending_1M"};
    L = uv_default_loop();
    alarm(180); /* watchdog */
    int n = argc - 1;
    const char **ws = (const char **)argv + 1;
    if (n == 0 || !strcmp(ws[0], "all")) { ws = all; n = sizeof all / sizeof *all; }
    for (int i = 0; i < n; i++) {
        const char *w = ws[i];
        if (!strcmp(w, "sleep_1000x50ms")) out("sleep_1000x50ms_wall_ms", bench(sleep_1000x50) * 1e3, "ms");
        else if (!strcmp(w, "timer_churn")) out("timer_churn_ns_per_op", bench(timer_churn) * 1e9 / 1e6, "ns");
        else if (!strcmp(w, "spawn_blocking")) {
            out("spawn_blocking_seq_ns_per_call", bench(queue_work_seq) * 1e9 / WORK_N, "ns");
            out("spawn_blocking_batch_ns_per_call", bench(queue_work_batch) * 1e9 / WORK_N, "ns");
        } else if (!strcmp(w, "async_pingpong"))
            out("async_xthread_pingpong_ns_per_roundtrip", bench(async_pingpong) * 1e9 / PP_ROUNDS, "ns");
        else if (!strcmp(w, "tcp_echo")) out("tcp_echo_roundtrips_per_s", TCP_CONNS * (double)TCP_ROUNDS / tcp_echo(), "rt/s");
        else if (!strcmp(w, "sleep_1Mx100ms")) sleep_1m();
        else if (!strcmp(w, "pending_1M")) pending_1m();
        else { fprintf(stderr, "unknown workload %s\n", w); return 2; }
    }
    return 0;
}
