/* Chrome trace export: a window of polls as JSON that python3's json module accepts, one row
 * per worker, one slice per poll with the task's name and id; bounded rings that count what
 * they drop; start/stop/format errors. */
// labels: metrics
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "weft.h"

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

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void run(weft_rt *rt, int tasks, int yields, const char *name)
{
    weft_join *j[16];
    for (int i = 0; i < tasks; i++)
        ASSERT_EQ(weft_spawn_with(rt, &yielder_type, &(struct yielder){.n = yields},
                                  &(weft_spawn_opts){.name = name}, &j[i]),
                  0);
    for (int i = 0; i < tasks; i++)
        ASSERT_EQ(weft_join_wait(j[i], NULL, 0), 0);
}

TEST(trace_json_has_a_slice_per_poll)
{
    weft_rt *rt;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2}), 0);
    run(rt, 4, 10, "before"); /* outside the window */
    ASSERT_EQ(weft_trace_start(rt, 0), 0);
    ASSERT_EQ(weft_trace_start(rt, 0), -EBUSY);
    ASSERT_EQ(weft_trace_format(rt, NULL, 0), -EBUSY);
    run(rt, 8, 20, "needs \"escaping\"\\");
    ASSERT_EQ(weft_trace_stop(rt), 0);
    ASSERT_EQ(weft_trace_stop(rt), -EALREADY);
    run(rt, 4, 10, "after"); /* outside the window */
    ASSERT_EQ(weft_trace_dropped(rt), 0);

    char path[] = "/tmp/weft-trace-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(weft_trace_write(rt, fd), 0);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "python3 -m json.tool %s > /dev/null", path);
    int st = system(cmd);
    ASSERT_TRUE(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0);
    unlink(path);

    ssize_t need = weft_trace_format(rt, NULL, 0);
    ASSERT_GT(need, 0);
    char *buf = malloc((size_t)need + 1);
    ASSERT_EQ(weft_trace_format(rt, buf, (size_t)need + 1), need);
    /* 8 tasks x 21 polls, each a complete event named after the task. */
    ASSERT_EQ(count(buf, "\"ph\":\"X\""), 8 * 21);
    ASSERT_EQ(count(buf, "\"name\":\"needs \\\"escaping\\\"\\\\\""), 8 * 21);
    ASSERT_EQ(count(buf, "\"before\""), 0);
    ASSERT_EQ(count(buf, "\"after\""), 0);
    ASSERT_EQ(count(buf, "\"name\":\"thread_name\""), 2);
    ASSERT_TRUE(strstr(buf, "\"args\":{\"name\":\"worker 1\"}") != NULL);
    ASSERT_TRUE(strstr(buf, "\"dropped_events\":\"0\"") != NULL);
    ASSERT_TRUE(strstr(buf, "\"args\":{\"task\":") != NULL);
    free(buf);
    weft_rt_free(rt);
}

TEST(small_rings_drop_the_oldest_and_say_so)
{
    weft_rt *rt;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = WEFT_RT_CURRENT_THREAD}), 0);
    ASSERT_EQ(weft_trace_start(rt, 5), 0); /* rounded up to 8 */
    ASSERT_EQ(weft_rt_block_on(rt, &yielder_type, &(struct yielder){.n = 99}, NULL), 0);
    ASSERT_EQ(weft_trace_stop(rt), 0);
    ASSERT_EQ(weft_trace_dropped(rt), 100 - 8);
    ssize_t need = weft_trace_format(rt, NULL, 0);
    char *buf = malloc((size_t)need + 1);
    ASSERT_EQ(weft_trace_format(rt, buf, (size_t)need + 1), need);
    ASSERT_EQ(count(buf, "\"ph\":\"X\""), 8);
    ASSERT_TRUE(strstr(buf, "\"dropped_events\":\"92\"") != NULL);
    free(buf);
    /* The Prometheus export carries the count too. */
    char *p = malloc(1 << 16);
    ASSERT_GT(weft_metrics_prometheus_format(rt, p, 1 << 16), 0);
    ASSERT_TRUE(strstr(p, "\nweft_trace_dropped_events_total 92\n") != NULL);
    free(p);
    /* A new window starts empty. */
    ASSERT_EQ(weft_trace_start(rt, 1024), 0);
    ASSERT_EQ(weft_trace_stop(rt), 0);
    ASSERT_EQ(weft_trace_dropped(rt), 0);
    weft_rt_free(rt);
}

TEST(bad_arguments)
{
    weft_rt *rt;
    char b[4];
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 1}), 0);
    ASSERT_EQ(weft_trace_start(NULL, 0), -EINVAL);
    ASSERT_EQ(weft_trace_start(rt, (1u << 24) + 1), -EINVAL);
    ASSERT_EQ(weft_trace_stop(NULL), -EINVAL);
    ASSERT_EQ(weft_trace_stop(rt), -EALREADY);
    ASSERT_EQ(weft_trace_format(NULL, b, sizeof b), -EINVAL);
    ASSERT_EQ(weft_trace_format(rt, NULL, 4), -EINVAL);
    ASSERT_EQ(weft_trace_format(rt, b, sizeof b), -ENODATA);
    ASSERT_EQ(weft_trace_write(NULL, 1), -EINVAL);
    ASSERT_EQ(weft_trace_write(rt, -1), -EINVAL);
    ASSERT_EQ(weft_trace_write(rt, 1), -ENODATA);
    ASSERT_EQ(weft_trace_dropped(NULL), 0);
    /* A window left open is closed by weft_rt_free. */
    ASSERT_EQ(weft_trace_start(rt, 16), 0);
    run(rt, 2, 50, "open");
    weft_rt_free(rt);
}

TEST_MAIN()
