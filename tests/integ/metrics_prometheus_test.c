/* The Prometheus export passes `promtool check metrics` (Debian package prometheus) on real
 * output: runtime series with histograms on, a source's series, user series of every kind with
 * labels that need escaping; and it carries the series the issue names. */
// labels: metrics
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "test.h"
#include "weft.h"

struct napper {
    WEFT_ASYNC_STATE;
    weft_sleep s;
    weft_yield y;
};
static weft_poll napper_poll(void *st, weft_cx *cx, void *out)
{
    struct napper *s = st;
    (void)out;
    WEFT_ASYNC_BEGIN(s);
    weft_yield_init(&s->y);
    WEFT_AWAIT(s, weft_yield_poll(&s->y, cx));
    weft_sleep_init(&s->s, WEFT_MS(1));
    WEFT_AWAIT(s, weft_sleep_poll(&s->s, cx));
    WEFT_ASYNC_END(s);
}
static void napper_drop(void *st) { weft_sleep_drop(&((struct napper *)st)->s); }
static const weft_future_type napper_type = {.name = "napper",
                                             .poll = napper_poll,
                                             .drop = napper_drop,
                                             .state_size = sizeof(struct napper)};

static void src(weft_rt *rt, void *arg, struct weft__metrics_sink *sink)
{
    (void)rt, (void)arg;
    weft__metrics_emit(sink, WEFT__COUNTER, "weft_io_operations_total",
                       "IO operations completed, by backend and kind.", 12, "backend", "epoll",
                       "kind", "accept", NULL);
}

static int promtool(const char *path)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
    int st = system(cmd);
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void check_file(weft_rt *rt)
{
    char path[] = "/tmp/weft-prom-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(weft_metrics_prometheus_write(rt, fd), 0);
    close(fd);
    int rc = promtool(path);
    if (rc != 0) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "cat %s >&2", path);
        (void)!system(cmd);
    }
    unlink(path);
    ASSERT_EQ(rc, 0); /* 127: promtool missing - apt-get install prometheus */
}

TEST(promtool_accepts_the_export)
{
    weft_rt *rt;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2, .metrics_histograms = 1}), 0);
    check_file(rt); /* fresh: zeros everywhere */

    weft_counter *c1, *c2;
    weft_gauge *g;
    weft_histogram *h1, *h2;
    const char *const l1[] = {"route", "/a\"b\\c\nd", "method", "GET", NULL};
    const char *const l2[] = {"route", "/", "method", "POST", NULL};
    ASSERT_EQ(weft_counter_new(&c1, rt, &(weft_metric_opts){.name = "app_requests_total",
                                                            .help = "Requests \\ served.",
                                                            .labels = l1}),
              0);
    ASSERT_EQ(weft_counter_new(&c2, rt,
                               &(weft_metric_opts){.name = "app_requests_total", .labels = l2}),
              0);
    ASSERT_EQ(weft_gauge_new(&g, rt, &(weft_metric_opts){.name = "app_temperature_celsius",
                                                         .help = "Temperature."}),
              0);
    ASSERT_EQ(weft_histogram_new(&h1, rt, &(weft_metric_opts){.name = "app_latency_seconds",
                                                              .help = "Latency.",
                                                              .labels = l1}),
              0);
    ASSERT_EQ(weft_histogram_new(&h2, rt, &(weft_metric_opts){.name = "app_latency_seconds",
                                                              .labels = l2}),
              0);
    weft_counter_add(c1, 5);
    weft_gauge_set(g, -12.25);
    for (int i = 0; i < 100; i++)
        weft_histogram_observe(i % 2 ? h1 : h2, i * 0.01);
    ASSERT_EQ(weft__metrics_register_source(rt, src, NULL), 0);

    weft_join *j[32];
    for (int i = 0; i < 32; i++)
        ASSERT_EQ(weft_spawn(rt, &napper_type, NULL, &j[i]), 0);
    for (int i = 0; i < 32; i++)
        ASSERT_EQ(weft_join_wait(j[i], NULL, 0), 0);
    check_file(rt);

    char *buf = malloc(1 << 17);
    ASSERT_GT(weft_metrics_prometheus_format(rt, buf, 1 << 17), 0);
    static const char *const names[] = {
        "\nweft_tasks_spawned_total ", "\nweft_tasks_completed_total ",
        "\nweft_worker_polls_total{worker=\"0\"} ", "\nweft_worker_polls_total{worker=\"1\"} ",
        "\nweft_worker_steals_total{worker=\"1\"} ", "\nweft_worker_parks_total{worker=\"0\"} ",
        "\nweft_worker_busy_seconds_total{worker=\"1\"} ", "\nweft_blocking_threads ",
        "\nweft_timers_active ", "\nweft_io_operations_total{",
        "\nweft_poll_duration_seconds_bucket{le=\"+Inf\"} ", "\nweft_tasks_alive 0\n",
        "\nweft_tasks_spawned_total 32\n"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!strstr(buf, names[i]))
            fprintf(stderr, "missing: %s\n", names[i]);
        ASSERT_TRUE(strstr(buf, names[i]) != NULL);
    }
    free(buf);
    weft_rt_free(rt);
}

TEST(promtool_accepts_a_current_thread_export)
{
    weft_rt *rt;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = WEFT_RT_CURRENT_THREAD}), 0);
    ASSERT_EQ(weft_rt_block_on(rt, &napper_type, NULL, NULL), 0);
    check_file(rt);
    weft_rt_free(rt);
}

TEST_MAIN()
