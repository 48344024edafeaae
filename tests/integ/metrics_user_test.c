/* User metrics: the article's tasks.started / tasks.completed / task.duration as counters and
 * a histogram updated from tasks on every worker and from plain threads, labels, families, and
 * bad arguments. */
// labels: metrics
#include <math.h>
#include <pthread.h>

#include "test.h"
#include "weft.h"

struct app {
    weft_counter *started, *completed;
    weft_histogram *duration;
    weft_gauge *inflight;
};

struct job {
    WEFT_ASYNC_STATE;
    struct app *app;
    int64_t t0;
    weft_yield y;
};
static weft_poll job_poll(void *st, weft_cx *cx, void *out)
{
    struct job *j = st;
    (void)out;
    WEFT_ASYNC_BEGIN(j);
    j->t0 = weft_now();
    weft_counter_inc(j->app->started);
    weft_gauge_add(j->app->inflight, 1);
    weft_yield_init(&j->y);
    WEFT_AWAIT(j, weft_yield_poll(&j->y, cx));
    weft_histogram_observe(j->app->duration, (double)(weft_now() - j->t0) / 1e9);
    weft_gauge_add(j->app->inflight, -1);
    weft_counter_inc(j->app->completed);
    WEFT_ASYNC_END(j);
}
static const weft_future_type job_type = {
    .name = "job", .poll = job_poll, .state_size = sizeof(struct job)};

TEST(article_metrics_from_tasks)
{
    weft_rt *rt;
    struct app a;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2}), 0);
    ASSERT_EQ(weft_counter_new(&a.started, rt,
                               &(weft_metric_opts){.name = "app_tasks_started_total",
                                                   .help = "Tasks started (tasks.started)."}),
              0);
    ASSERT_EQ(weft_counter_new(&a.completed, rt,
                               &(weft_metric_opts){.name = "app_tasks_completed_total"}),
              0);
    ASSERT_EQ(weft_histogram_new(&a.duration, rt,
                                 &(weft_metric_opts){.name = "app_task_duration_seconds",
                                                     .buckets = (double[]){1e-6, 1e-4, 1e-2},
                                                     .nbuckets = 3}),
              0);
    ASSERT_EQ(weft_gauge_new(&a.inflight, rt, &(weft_metric_opts){.name = "app_inflight"}), 0);
    enum { N = 2000 };
    weft_join **j = calloc(N, sizeof *j);
    for (int i = 0; i < N; i++)
        ASSERT_EQ(weft_spawn(rt, &job_type, &(struct job){.app = &a}, &j[i]), 0);
    for (int i = 0; i < N; i++)
        ASSERT_EQ(weft_join_wait(j[i], NULL, 0), 0);
    free(j);
    ASSERT_EQ(weft_counter_value(a.started), N);
    ASSERT_EQ(weft_counter_value(a.completed), N);
    ASSERT_TRUE(weft_gauge_value(a.inflight) == 0);
    uint64_t count;
    double sum;
    ASSERT_EQ(weft_histogram_read(a.duration, &count, &sum), 0);
    ASSERT_EQ(count, N);
    ASSERT_TRUE(sum > 0 && sum < N);

    char *buf = malloc(1 << 16);
    ASSERT_GT(weft_metrics_prometheus_format(rt, buf, 1 << 16), 0);
    ASSERT_TRUE(strstr(buf, "# HELP app_tasks_started_total Tasks started (tasks.started).\n"
                            "# TYPE app_tasks_started_total counter\n"
                            "app_tasks_started_total 2000\n"));
    ASSERT_TRUE(strstr(buf, "app_task_duration_seconds_bucket{le=\"+Inf\"} 2000\n"));
    ASSERT_TRUE(strstr(buf, "app_task_duration_seconds_count 2000\n"));
    ASSERT_TRUE(strstr(buf, "# TYPE app_inflight gauge\napp_inflight 0\n"));
    free(buf);
    weft_rt_free(rt);
}

/* ---- many plain threads on one counter and one histogram */
struct hammer {
    weft_counter *c;
    weft_histogram *h;
    weft_gauge *g;
};
static void *hammer_main(void *p)
{
    struct hammer *h = p;
    for (int i = 0; i < 100000; i++) {
        weft_counter_add(h->c, 2);
        weft_histogram_observe(h->h, (double)(i % 10));
        weft_gauge_add(h->g, 1);
    }
    return NULL;
}

TEST(updates_from_many_threads_add_up)
{
    weft_rt *rt;
    struct hammer h;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 1}), 0);
    ASSERT_EQ(weft_counter_new(&h.c, rt, &(weft_metric_opts){.name = "t_total"}), 0);
    ASSERT_EQ(weft_histogram_new(&h.h, rt, &(weft_metric_opts){.name = "t_h"}), 0);
    ASSERT_EQ(weft_gauge_new(&h.g, rt, &(weft_metric_opts){.name = "t_g"}), 0);
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, hammer_main, &h);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    ASSERT_EQ(weft_counter_value(h.c), 8 * 100000 * 2);
    uint64_t count;
    double sum;
    ASSERT_EQ(weft_histogram_read(h.h, &count, &sum), 0);
    ASSERT_EQ(count, 800000);
    ASSERT_TRUE(fabs(sum - 8 * 10000 * 45.0) < 1e-6);
    ASSERT_TRUE(weft_gauge_value(h.g) == 800000);
    weft_gauge_set(h.g, -2.5);
    ASSERT_TRUE(weft_gauge_value(h.g) == -2.5);
    weft_rt_free(rt);
}

TEST(labels_and_families)
{
    weft_rt *rt;
    weft_counter *get, *post, *dup, *bad;
    weft_gauge *g;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 1}), 0);
    const char *const l_get[] = {"method", "GET", "path", "/a\"b\\c\nd", NULL};
    const char *const l_post[] = {"method", "POST", "path", "/", NULL};
    ASSERT_EQ(weft_counter_new(&get, rt,
                               &(weft_metric_opts){.name = "http_requests_total",
                                                   .help = "Requests\\served per route.",
                                                   .labels = l_get}),
              0);
    ASSERT_EQ(weft_counter_new(&post, rt,
                               &(weft_metric_opts){.name = "http_requests_total",
                                                   .labels = l_post}),
              0);
    /* Same name and label values: taken. */
    ASSERT_EQ(weft_counter_new(&dup, rt,
                               &(weft_metric_opts){.name = "http_requests_total",
                                                   .labels = l_post}),
              -EEXIST);
    ASSERT_TRUE(dup == NULL);
    /* Same name, other label names or kind: refused. */
    ASSERT_EQ(weft_counter_new(&bad, rt,
                               &(weft_metric_opts){.name = "http_requests_total",
                                                   .labels = (const char *const[]){"verb", "GET",
                                                                                   NULL}}),
              -EINVAL);
    ASSERT_EQ(weft_gauge_new(&g, rt, &(weft_metric_opts){.name = "http_requests_total",
                                                         .labels = l_get}),
              -EINVAL);
    weft_counter_add(get, 3);
    weft_counter_add(post, 4);
    char *buf = malloc(1 << 16);
    ASSERT_GT(weft_metrics_prometheus_format(rt, buf, 1 << 16), 0);
    ASSERT_TRUE(strstr(buf, "# HELP http_requests_total Requests\\\\served per route.\n"
                            "# TYPE http_requests_total counter\n"
                            "http_requests_total{method=\"GET\",path=\"/a\\\"b\\\\c\\nd\"} 3\n"
                            "http_requests_total{method=\"POST\",path=\"/\"} 4\n"));
    free(buf);
    weft_rt_free(rt);
}

TEST(bad_arguments)
{
    weft_rt *rt;
    weft_counter *c = (weft_counter *)&rt;
    weft_gauge *g;
    weft_histogram *h;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 1}), 0);
    weft_metric_opts ok = {.name = "ok_total"};
    ASSERT_EQ(weft_counter_new(NULL, rt, &ok), -EINVAL);
    ASSERT_EQ(weft_counter_new(&c, NULL, &ok), -EINVAL);
    ASSERT_TRUE(c == NULL);
    ASSERT_EQ(weft_counter_new(&c, rt, NULL), -EINVAL);
    ASSERT_EQ(weft_gauge_new(NULL, rt, &ok), -EINVAL);
    ASSERT_EQ(weft_gauge_new(&g, NULL, &ok), -EINVAL);
    ASSERT_EQ(weft_gauge_new(&g, rt, NULL), -EINVAL);
    ASSERT_EQ(weft_histogram_new(NULL, rt, &ok), -EINVAL);
    ASSERT_EQ(weft_histogram_new(&h, NULL, &ok), -EINVAL);
    ASSERT_EQ(weft_histogram_new(&h, rt, NULL), -EINVAL);
    static const char *const bad_names[] = {"", "1abc", "a-b", "a b", "weft_mine", "é"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++)
        ASSERT_EQ(weft_counter_new(&c, rt, &(weft_metric_opts){.name = bad_names[i]}), -EINVAL);
    ASSERT_EQ(weft_counter_new(&c, rt, &(weft_metric_opts){.name = NULL}), -EINVAL);
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    ASSERT_EQ(weft_counter_new(&c, rt, &(weft_metric_opts){.name = longname}), -EINVAL);
    ASSERT_EQ(weft_counter_new(&c, rt, &(weft_metric_opts){.name = "x", .help = "two\nlines"}),
              -EINVAL);
    /* Labels: bad names, reserved, odd count, duplicates, more than 8 pairs. */
    static const char *const l_bad1[] = {"1x", "v", NULL};
    static const char *const l_bad2[] = {"__x", "v", NULL};
    static const char *const l_bad3[] = {"x", NULL};
    static const char *const l_bad4[] = {"x", "1", "x", "2", NULL};
    static const char *const l_many[] = {"a", "1", "b", "1", "c", "1", "d", "1", "e", "1",
                                         "f", "1", "g", "1", "h", "1", "i", "1", NULL};
    const char *const *lbad[] = {l_bad1, l_bad2, l_bad3, l_bad4, l_many};
    for (size_t i = 0; i < 5; i++)
        ASSERT_EQ(weft_counter_new(&c, rt, &(weft_metric_opts){.name = "x", .labels = lbad[i]}),
                  -EINVAL);
    static const char *const l_le[] = {"le", "1", NULL};
    ASSERT_EQ(weft_histogram_new(&h, rt, &(weft_metric_opts){.name = "x", .labels = l_le}),
              -EINVAL);
    /* Buckets: unsorted, infinite, too many, none. */
    ASSERT_EQ(weft_histogram_new(&h, rt,
                                 &(weft_metric_opts){.name = "x", .buckets = (double[]){2, 1},
                                                     .nbuckets = 2}),
              -EINVAL);
    ASSERT_EQ(weft_histogram_new(&h, rt,
                                 &(weft_metric_opts){.name = "x",
                                                     .buckets = (double[]){1, INFINITY},
                                                     .nbuckets = 2}),
              -EINVAL);
    static double many[65];
    for (int i = 0; i < 65; i++)
        many[i] = i;
    ASSERT_EQ(weft_histogram_new(&h, rt,
                                 &(weft_metric_opts){.name = "x", .buckets = many,
                                                     .nbuckets = 65}),
              -EINVAL);
    ASSERT_EQ(weft_histogram_new(&h, rt,
                                 &(weft_metric_opts){.name = "x", .buckets = many,
                                                     .nbuckets = 0}),
              -EINVAL);
    /* Updates and reads on NULL are no-ops. */
    weft_counter_add(NULL, 1);
    weft_counter_inc(NULL);
    ASSERT_EQ(weft_counter_value(NULL), 0);
    weft_gauge_set(NULL, 1);
    weft_gauge_add(NULL, 1);
    ASSERT_TRUE(weft_gauge_value(NULL) == 0);
    weft_histogram_observe(NULL, 1);
    ASSERT_EQ(weft_histogram_read(NULL, NULL, NULL), -EINVAL);
    ASSERT_EQ(weft_histogram_new(&h, rt, &(weft_metric_opts){.name = "x_h"}), 0);
    weft_histogram_observe(h, NAN); /* ignored */
    ASSERT_EQ(weft_histogram_read(h, NULL, NULL), 0);
    uint64_t n = 9;
    ASSERT_EQ(weft_histogram_read(h, &n, NULL), 0);
    ASSERT_EQ(n, 0);
    weft_rt_free(rt);
}

TEST_MAIN()
