/* The fiber workloads: WORKLOADS.md's yield_many, spawn_many and ping_pong with fibers as the
 * tasks (the root is a fiber too), and pending_100k_fibers, the memory of a parked fiber.
 * Written the way a user would write them: straight-line code, weft_await_* to wait. */
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

struct fiber_root {
    weft_join **joins; /* preallocated before the timed region */
    int64_t ns;        /* elapsed, written by the root */
    int n, each;       /* workload parameters */
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Run `root` as a fiber on rt WARMUP+ITERS times; the median of its `ns`. */
static double fiber_median_ns(weft_rt *rt, weft_fiber_fn root, struct fiber_root *r)
{
    int64_t v[BENCH_ITERS];
    for (int i = 0; i < BENCH_WARMUP + BENCH_ITERS; i++) {
        weft_join *j;
        int err = weft_fiber_spawn(rt, root, r, NULL, &j);
        if (err == 0)
            err = weft_join_wait(j, NULL, 0);
        if (err < 0)
            bench_fail("fiber root", err);
        if (i >= BENCH_WARMUP)
            v[i - BENCH_WARMUP] = r->ns;
    }
    qsort(v, BENCH_ITERS, sizeof v[0], cmp_i64);
    return (double)v[BENCH_ITERS / 2];
}

/* ------------------------------------------------------------------ fiber_spawn_many */

#define SPAWN_N 100000

static int empty_fiber(void *arg)
{
    (void)arg;
    return 0;
}

static int spawn_many_root(void *arg)
{
    struct fiber_root *r = arg;
    weft_rt *rt = weft_rt_current();
    int64_t t0 = weft_now();
    for (int i = 0; i < r->n; i++) {
        int err = weft_fiber_spawn(rt, empty_fiber, NULL, NULL, &r->joins[i]);
        if (err < 0)
            return err;
    }
    for (int i = 0; i < r->n; i++) {
        int err = weft_await_join(r->joins[i], NULL, 0);
        if (err < 0)
            return err;
    }
    r->ns = weft_now() - t0;
    return 0;
}

static void run_spawn_many(const char *name)
{
    weft_rt *rt = bench_rt(WEFT_RT_MULTI_THREAD);
    struct fiber_root r = {.joins = calloc(SPAWN_N, sizeof(weft_join *)), .n = SPAWN_N};
    double ns = fiber_median_ns(rt, spawn_many_root, &r);
    char metric[64];
    snprintf(metric, sizeof metric, "%s_ns_per_task", name);
    bench_out(metric, ns / SPAWN_N, "ns");
    weft_rt_free(rt);
    free(r.joins);
}
const struct bench_workload bench_fiber_spawn_many = {"fiber_spawn_many", run_spawn_many};

/* ------------------------------------------------------------------ fiber_yield_many */

#define YIELD_TASKS 1000
#define YIELD_EACH 200

static int yielder(void *arg)
{
    int n = (int)(intptr_t)arg;
    for (int i = 0; i < n; i++)
        if (weft_fiber_yield() < 0)
            return -ECANCELED;
    return 0;
}

static int yield_many_root(void *arg)
{
    struct fiber_root *r = arg;
    weft_rt *rt = weft_rt_current();
    int64_t t0 = weft_now();
    for (int i = 0; i < r->n; i++) {
        int err = weft_fiber_spawn(rt, yielder, (void *)(intptr_t)r->each, NULL, &r->joins[i]);
        if (err < 0)
            return err;
    }
    for (int i = 0; i < r->n; i++) {
        int err = weft_await_join(r->joins[i], NULL, 0);
        if (err < 0)
            return err;
    }
    r->ns = weft_now() - t0;
    return 0;
}

static void run_yield_many(const char *name)
{
    weft_rt *rt = bench_rt(WEFT_RT_MULTI_THREAD);
    struct fiber_root r = {.joins = calloc(YIELD_TASKS, sizeof(weft_join *)),
                           .n = YIELD_TASKS, .each = YIELD_EACH};
    double ns = fiber_median_ns(rt, yield_many_root, &r);
    char metric[64];
    snprintf(metric, sizeof metric, "%s_ns_per_yield", name);
    bench_out(metric, ns / ((double)YIELD_TASKS * YIELD_EACH), "ns");
    weft_rt_free(rt);
    free(r.joins);
}
const struct bench_workload bench_fiber_yield_many = {"fiber_yield_many", run_yield_many};

/* ------------------------------------------------------------------ fiber_ping_pong */

#define PING_R 100000


struct pong_chans {
    weft_mpsc_receiver *rx; /* A -> B */
    weft_mpsc_sender *tx;   /* B -> A */
};

/* Task B: echo every value until A -> B is closed. */
static int ponger(void *arg)
{
    struct pong_chans *c = arg;
    for (;;) {
        uint64_t v;
        int res = 0;
        if (WEFT_FIBER_AWAIT(cx, weft_mpsc_recv_poll(c->rx, cx, &v, &res)) < 0 || res < 0)
            break;
        weft_mpsc_send send;
        weft_mpsc_send_init(&send, c->tx, &v);
        if (WEFT_FIBER_AWAIT(cx, weft_mpsc_send_poll(&send, cx, &res)) < 0) {
            weft_mpsc_send_drop(&send);
            break;
        }
        if (res < 0)
            break;
    }
    weft_mpsc_receiver_drop(c->rx);
    weft_mpsc_sender_drop(c->tx);
    return 0;
}

static int ping_pong_root(void *arg)
{
    struct fiber_root *r = arg;
    weft_mpsc_sender *ab_tx, *ba_tx;
    weft_mpsc_receiver *ab_rx, *ba_rx;
    weft_join *b;
    int err;

    if ((err = weft_mpsc_new(&ab_tx, &ab_rx, sizeof(uint64_t), 1)) < 0)
        return err;
    if ((err = weft_mpsc_new(&ba_tx, &ba_rx, sizeof(uint64_t), 1)) < 0)
        return err;
    struct pong_chans chans = {ab_rx, ba_tx};
    if ((err = weft_fiber_spawn(weft_rt_current(), ponger, &chans, NULL, &b)) < 0)
        return err;
    int64_t t0 = weft_now();
    for (uint64_t i = 0; i < (uint64_t)r->n; i++) {
        weft_mpsc_send send;
        uint64_t v = i, got = ~0ull;
        int res = 0;
        weft_mpsc_send_init(&send, ab_tx, &v);
        if (WEFT_FIBER_AWAIT(cx, weft_mpsc_send_poll(&send, cx, &res)) < 0 || res < 0)
            return -EPIPE;
        if (WEFT_FIBER_AWAIT(cx, weft_mpsc_recv_poll(ba_rx, cx, &got, &res)) < 0 || res < 0)
            return -EPIPE;
        if (got != i)
            return -EBADMSG;
    }
    r->ns = weft_now() - t0;
    weft_mpsc_sender_drop(ab_tx); /* B sees the channel closed and ends */
    err = weft_await_join(b, NULL, 0);
    weft_mpsc_receiver_drop(ba_rx);
    return err;
}

static void run_ping_pong(const char *name)
{
    weft_rt *rt = bench_rt(WEFT_RT_MULTI_THREAD);
    struct fiber_root r = {.n = PING_R};
    double ns = fiber_median_ns(rt, ping_pong_root, &r);
    char metric[64];
    snprintf(metric, sizeof metric, "%s_ns_per_roundtrip", name);
    bench_out(metric, ns / PING_R, "ns");
    weft_rt_free(rt);
}
const struct bench_workload bench_fiber_ping_pong = {"fiber_ping_pong", run_ping_pong};

/* ------------------------------------------------------------------ pending_100k_fibers */

#define PENDING_N 100000

static _Atomic int pending_started;

/* Parks forever on a oneshot nobody sends (there is no timer yet to park on). */
static int parked_fiber(void *arg)
{
    weft_oneshot *ch;
    (void)arg;
    if (weft_oneshot_new(&ch, 0) < 0)
        return -ENOMEM;
    atomic_fetch_add_explicit(&pending_started, 1, memory_order_relaxed);
    int err = weft_await_oneshot(ch, NULL); /* -ECANCELED at shutdown */
    weft_oneshot_sender_drop(ch);
    return err;
}

static int pending_root(void *arg)
{
    (void)arg;
    weft_rt *rt = weft_rt_current();
    for (int i = 0; i < PENDING_N; i++) {
        int err = weft_fiber_spawn(rt, parked_fiber, NULL, NULL, NULL);
        if (err < 0)
            return err;
    }
    return 0;
}

static void run_pending(const char *name)
{
    weft_rt *rt = bench_rt(WEFT_RT_MULTI_THREAD);
    char metric[96];
    usleep(20000);
    long base = bench_status_kib("VmRSS");
    int64_t t0 = weft_now();
    weft_join *j;
    int err = weft_fiber_spawn(rt, pending_root, NULL, NULL, &j);
    if (err == 0)
        err = weft_join_wait(j, NULL, 0);
    if (err < 0)
        bench_fail("pending_100k_fibers spawn", err);
    for (int i = 0; i < 12000 && atomic_load(&pending_started) < PENDING_N; i++)
        usleep(5000);
    if (atomic_load(&pending_started) < PENDING_N)
        bench_fail("pending_100k_fibers: not all parked", -ETIMEDOUT);
    usleep(20000);
    long rss = bench_status_kib("VmRSS");
    double setup_ms = (double)(weft_now() - t0) / 1e6;
    snprintf(metric, sizeof metric, "%s_setup_ms", name);
    bench_out(metric, setup_ms, "ms");
    snprintf(metric, sizeof metric, "%s_rss_mib", name);
    bench_out(metric, (double)rss / 1024, "MiB");
    snprintf(metric, sizeof metric, "%s_bytes_per_pending_fiber", name);
    bench_out(metric, (double)(rss - base) * 1024 / PENDING_N, "B");
    weft_rt_free(rt); /* unwinds every parked fiber: each await returns -ECANCELED */
}
const struct bench_workload bench_pending_100k_fibers = {"pending_100k_fibers", run_pending};
