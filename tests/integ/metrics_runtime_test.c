/* Runtime metrics: the counters move with the work, totals add up, histograms are opt-in,
 * other parts plug in through sources, and every function rejects bad arguments. */
// labels: metrics
#include <unistd.h>

#include "metrics/metrics.h"
#include "test.h"
#include "weft.h"

/* ---- a task that yields n times */
struct yielder {
    WEFT_ASYNC_STATE;
    int n, i;
    weft_yield y;
};
static weft_poll yielder_poll(void *st, weft_cx *cx, void *out)
{
    struct yielder *s = st;
    (void)out;
    WEFT_ASYNC_BEGIN(s);
    for (s->i = 0; s->i < s->n; s->i++) {
        weft_yield_init(&s->y);
        WEFT_AWAIT(s, weft_yield_poll(&s->y, cx));
    }
    WEFT_ASYNC_END(s);
}
static const weft_future_type yielder_type = {
    .name = "yielder", .poll = yielder_poll, .state_size = sizeof(struct yielder)};

/* ---- a task that sleeps */
struct napper {
    WEFT_ASYNC_STATE;
    weft_sleep s;
};
static weft_poll napper_poll(void *st, weft_cx *cx, void *out)
{
    struct napper *s = st;
    (void)out;
    WEFT_ASYNC_BEGIN(s);
    weft_sleep_init(&s->s, WEFT_MS(2));
    WEFT_AWAIT(s, weft_sleep_poll(&s->s, cx));
    WEFT_ASYNC_END(s);
}
static void napper_drop(void *st) { weft_sleep_drop(&((struct napper *)st)->s); }
static const weft_future_type napper_type = {.name = "napper",
                                             .poll = napper_poll,
                                             .drop = napper_drop,
                                             .state_size = sizeof(struct napper)};

static void run_work(weft_rt *rt, int tasks, int yields)
{
    weft_join *j[64];
    for (int i = 0; i < tasks; i++)
        ASSERT_EQ(weft_spawn(rt, &yielder_type, &(struct yielder){.n = yields}, &j[i]), 0);
    for (int i = 0; i < tasks; i++)
        ASSERT_EQ(weft_join_wait(j[i], NULL, 0), 0);
}

TEST(counters_follow_the_work)
{
    for (int flavor = 0; flavor < 2; flavor++) {
        weft_rt *rt;
        ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = flavor, .workers = 2}), 0);
        weft_rt_metrics m0, m;
        ASSERT_EQ(weft_rt_metrics_get(rt, &m0, sizeof m0), 0);
        ASSERT_EQ(m0.workers, flavor ? 1u : 2u);
        if (flavor) {
            ASSERT_EQ(weft_rt_block_on(rt, &yielder_type, &(struct yielder){.n = 1000}, NULL), 0);
        } else {
            run_work(rt, 16, 1000);
        }
        ASSERT_EQ(weft_rt_block_on(rt, &napper_type, NULL, NULL), 0);
        int tasks = flavor ? 2 : 17;
        /* A join may return just before the worker counts the completion. */
        int64_t t0 = weft_now();
        do
            ASSERT_EQ(weft_rt_metrics_get(rt, &m, sizeof m), 0);
        while (m.tasks_completed - m0.tasks_completed < (uint64_t)tasks &&
               weft_now() - t0 < WEFT_SEC(2));
        ASSERT_EQ(m.tasks_spawned - m0.tasks_spawned, tasks);
        ASSERT_EQ(m.tasks_completed - m0.tasks_completed, tasks);
        ASSERT_EQ(m.tasks_alive, 0);
        ASSERT_GE(m.polls, flavor ? 1001u : 16u * 1001);
        ASSERT_GE(m.timers_fired, 1);
        ASSERT_EQ(m.timers_active, 0);
        ASSERT_EQ(m.inject_queue_depth, 0);
        ASSERT_GT(m.busy_ns, 0);
        ASSERT_GE(m.parks, 1);

        /* Worker figures add up to the totals. */
        uint64_t polls = 0;
        int64_t busy = 0;
        for (unsigned i = 0; i < m.workers; i++) {
            weft_worker_metrics w;
            ASSERT_EQ(weft_rt_worker_metrics_get(rt, i, &w, sizeof w), 0);
            polls += w.polls;
            busy += w.busy_ns;
            ASSERT_EQ(w.local_queue_depth, 0);
        }
        ASSERT_GE(polls, m.polls); /* read later: never less */
        ASSERT_GE(busy, m.busy_ns);

        /* Busy time never goes back, even read while the workers run. */
        int64_t last = 0;
        for (int i = 0; i < 200; i++) {
            weft_worker_metrics w;
            ASSERT_EQ(weft_rt_worker_metrics_get(rt, 0, &w, sizeof w), 0);
            ASSERT_GE(w.busy_ns, last);
            last = w.busy_ns;
        }
        weft_rt_free(rt);
    }
}

TEST(steals_show_on_a_busy_multi_thread_runtime)
{
    weft_rt *rt;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2}), 0);
    for (int round = 0; round < 20; round++)
        run_work(rt, 64, 50);
    weft_rt_metrics m;
    ASSERT_EQ(weft_rt_metrics_get(rt, &m, sizeof m), 0);
    /* Spawned from outside, the tasks reach both workers through the inject queue or steals;
     * in any case both workers polled. */
    for (unsigned i = 0; i < 2; i++) {
        weft_worker_metrics w;
        ASSERT_EQ(weft_rt_worker_metrics_get(rt, i, &w, sizeof w), 0);
        ASSERT_GT(w.polls, 0);
    }
    ASSERT_GE(m.stolen, m.steals);
    weft_rt_free(rt);
}

TEST(histograms_are_opt_in)
{
    char *buf = malloc(1 << 16);
    weft_rt *rt;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2}), 0);
    run_work(rt, 4, 10);
    ASSERT_GT(weft_metrics_prometheus_format(rt, buf, 1 << 16), 0);
    ASSERT_TRUE(strstr(buf, "weft_poll_duration_seconds") == NULL);
    weft_rt_free(rt);

    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2, .metrics_histograms = 1}), 0);
    run_work(rt, 4, 10);
    ASSERT_GT(weft_metrics_prometheus_format(rt, buf, 1 << 16), 0);
    ASSERT_TRUE(strstr(buf, "weft_poll_duration_seconds_bucket{le=\"1e-06\"}") != NULL);
    ASSERT_TRUE(strstr(buf, "weft_schedule_delay_seconds_bucket{le=\"+Inf\"}") != NULL);
    /* 4 tasks x 11 polls, all counted once (the count line). */
    const char *c = strstr(buf, "weft_poll_duration_seconds_count ");
    ASSERT_TRUE(c != NULL);
    ASSERT_GE(atoll(c + strlen("weft_poll_duration_seconds_count ")), 44);
    c = strstr(buf, "weft_schedule_delay_seconds_count ");
    ASSERT_GE(atoll(c + strlen("weft_schedule_delay_seconds_count ")), 44);
    weft_rt_free(rt);
    free(buf);
}

TEST(histogram_buckets)
{
    ASSERT_EQ(weft__rh_bucket(-5), 0);
    ASSERT_EQ(weft__rh_bucket(0), 0);
    ASSERT_EQ(weft__rh_bucket(1000), 0);
    ASSERT_EQ(weft__rh_bucket(1001), 1);
    ASSERT_EQ(weft__rh_bucket(2000), 1);
    ASSERT_EQ(weft__rh_bucket(2001), 2);
    ASSERT_EQ(weft__rh_bucket(4000), 2);
    ASSERT_EQ(weft__rh_bucket(1048576000), 20);
    ASSERT_EQ(weft__rh_bucket(1048576001), WEFT__RH_FINITE);
    ASSERT_EQ(weft__rh_bucket(INT64_MAX), WEFT__RH_FINITE);
}

/* ---- sources: how the blocking pool and the IO driver plug in */
static void io_source(weft_rt *rt, void *arg, struct weft__metrics_sink *sink)
{
    (void)rt;
    weft__metrics_emit(sink, WEFT__COUNTER, "weft_io_operations_total", "IO operations.",
                       (double)*(int *)arg, "backend", "uring", "kind", "read", NULL);
    weft__metrics_emit(sink, WEFT__COUNTER, "weft_io_operations_total", "IO operations.", 7,
                       "backend", "uring", "kind", "write", NULL);
    weft__metrics_emit(sink, WEFT__GAUGE, "weft_blocking_threads", "Threads.", 3, NULL);
    weft__metrics_emit(sink, WEFT__GAUGE, "weft_io_registered_fds", "Registered fds.", 2,
                       "backend", "a\"b", NULL);
}

TEST(sources_replace_the_defaults)
{
    char *buf = malloc(1 << 16);
    weft_rt *rt;
    int reads = 41;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 1}), 0);
    ASSERT_GT(weft_metrics_prometheus_format(rt, buf, 1 << 16), 0);
    ASSERT_TRUE(strstr(buf, "\nweft_io_operations_total 0\n") != NULL);
    ASSERT_TRUE(strstr(buf, "\nweft_blocking_threads 0\n") != NULL);

    ASSERT_EQ(weft__metrics_register_source(rt, io_source, &reads), 0);
    ASSERT_EQ(weft__metrics_register_source(rt, io_source, &reads), -EEXIST);
    ASSERT_EQ(weft__metrics_register_source(rt, NULL, &reads), -EINVAL);
    ASSERT_EQ(weft__metrics_register_source(NULL, io_source, &reads), -EINVAL);
    ASSERT_GT(weft_metrics_prometheus_format(rt, buf, 1 << 16), 0);
    ASSERT_TRUE(strstr(buf, "\nweft_io_operations_total 0\n") == NULL);
    ASSERT_TRUE(strstr(buf, "weft_io_operations_total{backend=\"uring\",kind=\"read\"} 41\n"));
    ASSERT_TRUE(strstr(buf, "weft_io_operations_total{backend=\"uring\",kind=\"write\"} 7\n"));
    ASSERT_TRUE(strstr(buf, "\nweft_blocking_threads 3\n"));
    ASSERT_TRUE(strstr(buf, "# TYPE weft_io_registered_fds gauge\n"
                            "weft_io_registered_fds{backend=\"a\\\"b\"} 2\n"));
    /* One HELP/TYPE per family. */
    const char *first = strstr(buf, "# TYPE weft_io_operations_total");
    ASSERT_TRUE(first && !strstr(first + 1, "# TYPE weft_io_operations_total"));

    weft__metrics_unregister_source(rt, io_source, &reads);
    ASSERT_GT(weft_metrics_prometheus_format(rt, buf, 1 << 16), 0);
    ASSERT_TRUE(strstr(buf, "\nweft_io_operations_total 0\n") != NULL);
    weft_rt_free(rt);
    free(buf);
}

TEST(bad_arguments)
{
    weft_rt *rt;
    weft_rt_metrics m;
    weft_worker_metrics w;
    char small[8];
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2}), 0);
    ASSERT_EQ(weft_rt_metrics_get(NULL, &m, sizeof m), -EINVAL);
    ASSERT_EQ(weft_rt_metrics_get(rt, NULL, sizeof m), -EINVAL);
    ASSERT_EQ(weft_rt_metrics_get(rt, &m, 0), -EINVAL);
    ASSERT_EQ(weft_rt_worker_metrics_get(NULL, 0, &w, sizeof w), -EINVAL);
    ASSERT_EQ(weft_rt_worker_metrics_get(rt, 2, &w, sizeof w), -EINVAL);
    ASSERT_EQ(weft_rt_worker_metrics_get(rt, 0, NULL, sizeof w), -EINVAL);
    ASSERT_EQ(weft_rt_worker_metrics_get(rt, 0, &w, 0), -EINVAL);
    /* A smaller struct from an older header gets its prefix; a bigger one is zero-filled. */
    memset(&m, 0xff, sizeof m);
    ASSERT_EQ(weft_rt_metrics_get(rt, &m, sizeof(unsigned)), 0);
    ASSERT_EQ(m.workers, 2);
    ASSERT_EQ(m.tasks_spawned, UINT64_MAX);
    struct {
        weft_rt_metrics m;
        uint64_t more[4];
    } big;
    memset(&big, 0xff, sizeof big);
    ASSERT_EQ(weft_rt_metrics_get(rt, &big.m, sizeof big), 0);
    ASSERT_EQ(big.more[3], 0);

    ASSERT_EQ(weft_metrics_prometheus_format(NULL, small, sizeof small), -EINVAL);
    ASSERT_EQ(weft_metrics_prometheus_format(rt, NULL, 5), -EINVAL);
    ssize_t need = weft_metrics_prometheus_format(rt, NULL, 0);
    ASSERT_GT(need, 100);
    /* Cut and NUL-ended; the length it reports may differ by a few bytes from the first call,
     * since live values (busy seconds) are formatted again. */
    ssize_t need2 = weft_metrics_prometheus_format(rt, small, sizeof small);
    ASSERT_GT(need2, need - 64);
    ASSERT_LT(need2, need + 64);
    ASSERT_EQ(strlen(small), sizeof small - 1);
    ASSERT_EQ(weft_metrics_prometheus_write(NULL, 1), -EINVAL);
    ASSERT_EQ(weft_metrics_prometheus_write(rt, -1), -EINVAL);
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    close(p[0]);
    ASSERT_EQ(weft_metrics_prometheus_write(rt, p[1]), -EPIPE); /* the harness ignores SIGPIPE */
    close(p[1]);
    ASSERT_EQ(weft_metrics_prometheus_write(rt, p[1]), -EBADF);
    weft_rt_free(rt);
}

TEST_MAIN()
