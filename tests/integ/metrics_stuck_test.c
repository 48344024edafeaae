/* Stuck-worker detection (reliability F4): a task that blocks its worker for 2 s does not hold
 * up a 10 ms timer armed on that worker's wheel, its queued tasks run elsewhere, and the
 * monitor reports it (counter, hook naming the task). No false reports on ordinary work.
 */
// labels: metrics
#include <pthread.h>
#include <unistd.h>

#include "test.h"
#include "weft.h"

/* ---- a task that blocks its worker thread */
struct blocker {
    int64_t dur;
};
static weft_poll blocker_poll(void *st, weft_cx *cx, void *out)
{
    struct blocker *b = st;
    int64_t end = weft_now() + b->dur;
    (void)cx, (void)out;
    while (weft_now() < end)
        usleep(1000); /* the bug under test: a blocking call inside a poll */
    return WEFT_READY;
}
static const weft_future_type blocker_type = {
    .name = "blocker", .poll = blocker_poll, .state_size = sizeof(struct blocker)};

static _Atomic int small_done;
static weft_poll small_poll(void *st, weft_cx *cx, void *out)
{
    (void)st, (void)cx, (void)out;
    atomic_fetch_add(&small_done, 1);
    return WEFT_READY;
}
static const weft_future_type small_type = {.name = "small", .poll = small_poll};

/* ---- arms a 10 ms sleep on its worker, then makes that worker block (LIFO slot: the blocker
 * runs on this same worker right after this poll returns) */
struct sleeper {
    WEFT_ASYNC_STATE;
    int64_t armed, dur;
    int smalls;
    weft_sleep s;
};
struct sleeper_out {
    int64_t took;
    uint64_t blocker_id;
};
static weft_poll sleeper_poll(void *st, weft_cx *cx, void *out)
{
    struct sleeper *s = st;
    struct sleeper_out *o = out;
    weft_join *j;
    WEFT_ASYNC_BEGIN(s);
    s->armed = weft_now();
    weft_sleep_init(&s->s, WEFT_MS(10));
    if (weft_sleep_poll(&s->s, cx) == WEFT_READY)
        WEFT_ASYNC_FAIL(s, -EPROTO);
    for (int i = 0; i < s->smalls; i++) /* queued on this worker's ring, behind the blocker */
        if (weft_spawn(weft_cx_rt(cx), &small_type, NULL, NULL) < 0)
            WEFT_ASYNC_FAIL(s, -ENOMEM);
    if (weft_spawn(weft_cx_rt(cx), &blocker_type, &(struct blocker){s->dur}, &j) < 0)
        WEFT_ASYNC_FAIL(s, -ENOMEM);
    o->blocker_id = weft_join_id(j);
    weft_join_detach(j);
    WEFT_AWAIT(s, weft_sleep_poll(&s->s, cx));
    o->took = weft_now() - s->armed;
    WEFT_ASYNC_END(s);
}
static void sleeper_drop(void *st) { weft_sleep_drop(&((struct sleeper *)st)->s); }
static const weft_future_type sleeper_type = {.name = "sleeper",
                                              .poll = sleeper_poll,
                                              .drop = sleeper_drop,
                                              .state_size = sizeof(struct sleeper),
                                              .out_size = sizeof(struct sleeper_out)};

/* ---- the hook */
/* Every report is kept: on a loaded machine (ctest -j) a preempted poll can pass the
 * threshold too, so the tests look for the report about the blocker. */
static struct {
    pthread_mutex_t lock;
    int calls;
    uint64_t id;
    char name[64];
    unsigned worker;
    int64_t stuck_for;
    void *arg;
} hook = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_stuck(const weft_stuck_info *info, void *arg)
{
    pthread_mutex_lock(&hook.lock);
    hook.calls++;
    if (strcmp(info->task_name, "blocker") == 0) { /* the one under test */
        hook.id = info->task_id;
        snprintf(hook.name, sizeof hook.name, "%s", info->task_name);
        hook.worker = info->worker;
        hook.stuck_for = info->stuck_for;
        hook.arg = arg;
    }
    pthread_mutex_unlock(&hook.lock);
}

static void reset_hook(void)
{
    pthread_mutex_lock(&hook.lock);
    hook.calls = 0;
    hook.id = 0;
    hook.name[0] = 0;
    pthread_mutex_unlock(&hook.lock);
}

static int marker;

TEST(blocked_worker_keeps_timers_and_queue_moving_and_is_reported)
{
    weft_rt *rt;
    reset_hook();
    atomic_store(&small_done, 0);
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2, .stuck_threshold = WEFT_MS(10), .on_stuck = on_stuck,
                                                  .on_stuck_arg = &marker}),
              0);
    usleep(20000); /* let the workers park: the monitor must wake up for this */
    struct sleeper_out o = {0};
    int64_t t0 = weft_now();
    ASSERT_EQ(weft_rt_block_on(rt, &sleeper_type,
                               &(struct sleeper){.dur = WEFT_SEC(2), .smalls = 8}, &o),
              0);
    /* Quiet machine: 10.5-12.5 ms (detection at threshold + up to threshold/4, then the wheel's
     * 1 ms grid). The slack is for a box loaded by parallel tests, where the monitor thread
     * itself waits for a CPU; what must never happen is waiting for the 2 s blocker. */
    int64_t slack = weft_test_scale() < 1 ? WEFT_MS(80) : WEFT_MS(40);
    fprintf(stderr, "10 ms timer fired after %.2f ms while its worker was blocked\n",
            o.took / 1e6);
    ASSERT_GE(o.took, WEFT_MS(10));
    ASSERT_LT(o.took, WEFT_MS(10) + slack);
    ASSERT_LT(weft_now() - t0, WEFT_MS(500)); /* did not wait for the blocker */

    /* (a): the tasks queued behind the blocker ran on the other worker. */
    while (atomic_load(&small_done) < 8 && weft_now() - t0 < WEFT_MS(500))
        usleep(1000);
    ASSERT_EQ(atomic_load(&small_done), 8);

    /* (c): reported once, naming the blocker (the report may trail the timer a little on a
     * loaded sanitizer run: give the monitor up to a second). */
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&hook.lock);
        uint64_t id = hook.id;
        pthread_mutex_unlock(&hook.lock);
        if (id != 0)
            break;
        usleep(1000);
    }
    pthread_mutex_lock(&hook.lock);
    ASSERT_GE(hook.calls, 1);
    ASSERT_EQ(hook.id, o.blocker_id);
    ASSERT_STREQ(hook.name, "blocker");
    ASSERT_TRUE(hook.arg == &marker);
    ASSERT_GE(hook.stuck_for, WEFT_MS(10));
    unsigned w = hook.worker;
    pthread_mutex_unlock(&hook.lock);
    weft_rt_metrics m;
    ASSERT_EQ(weft_rt_metrics_get(rt, &m, sizeof m), 0);
    ASSERT_EQ(m.stuck_polls, (uint64_t)hook.calls);
    weft_worker_metrics wm;
    ASSERT_EQ(weft_rt_worker_metrics_get(rt, w, &wm, sizeof wm), 0);
    ASSERT_GE(wm.stuck_polls, 1);
    ASSERT_EQ(wm.stuck_task, o.blocker_id);

    /* A dump during the stall lists the blocker as running without waiting 1 s for it. */
    char buf[8192];
    ssize_t n = weft_metrics_prometheus_format(rt, buf, sizeof buf);
    ASSERT_GT(n, 0);
    ASSERT_TRUE(strstr(buf, "\nweft_stuck_polls_total ") != NULL);
    weft_rt_free(rt); /* waits for the blocker's poll to end */
}

/* ---- ordinary work: many short polls and parks, no report */
struct spinner {
    WEFT_ASYNC_STATE;
    int64_t until;
    weft_yield y;
    weft_sleep s;
};
static weft_poll spinner_poll(void *st, weft_cx *cx, void *out)
{
    struct spinner *s = st;
    (void)out;
    WEFT_ASYNC_BEGIN(s);
    while (weft_now() < s->until) {
        weft_yield_init(&s->y);
        WEFT_AWAIT(s, weft_yield_poll(&s->y, cx));
        weft_sleep_init(&s->s, WEFT_US(200));
        WEFT_AWAIT(s, weft_sleep_poll(&s->s, cx));
    }
    WEFT_ASYNC_END(s);
}
static void spinner_drop(void *st) { weft_sleep_drop(&((struct spinner *)st)->s); }
static const weft_future_type spinner_type = {.name = "spinner",
                                              .poll = spinner_poll,
                                              .drop = spinner_drop,
                                              .state_size = sizeof(struct spinner)};

TEST(no_report_for_short_polls)
{
    weft_rt *rt;
    reset_hook();
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2, .on_stuck = on_stuck,
                                                  .stuck_threshold = WEFT_MS(50)}),
              0);
    weft_join *j[4];
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(weft_spawn(rt, &spinner_type, &(struct spinner){.until = weft_now() +
                                                                           WEFT_MS(150)},
                             &j[i]),
                  0);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(weft_join_wait(j[i], NULL, 0), 0);
    weft_rt_metrics m;
    ASSERT_EQ(weft_rt_metrics_get(rt, &m, sizeof m), 0);
    ASSERT_EQ(m.stuck_polls, 0);
    ASSERT_EQ(hook.calls, 0);
    weft_rt_free(rt);
}

TEST(current_thread_stuck_poll_is_reported)
{
    weft_rt *rt;
    reset_hook();
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = WEFT_RT_CURRENT_THREAD,
                                                  .on_stuck = on_stuck,
                                                  .stuck_threshold = WEFT_MS(10)}),
              0);
    ASSERT_EQ(weft_rt_block_on(rt, &blocker_type, &(struct blocker){WEFT_MS(400)}, NULL), 0);
    pthread_mutex_lock(&hook.lock);
    ASSERT_GE(hook.calls, 1);
    ASSERT_STREQ(hook.name, "blocker");
    ASSERT_EQ(hook.worker, 0);
    pthread_mutex_unlock(&hook.lock);
    weft_rt_free(rt);
}

TEST(threshold_config)
{
    weft_rt *rt = (weft_rt *)&marker;
    /* Out of range: below 1 ms or above an hour. */
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.stuck_threshold = WEFT_US(10)}), -EINVAL);
    ASSERT_TRUE(rt == NULL);
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.stuck_threshold = WEFT_SEC(7200)}), -EINVAL);
    /* Negative: no detection. */
    reset_hook();
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 1, .on_stuck = on_stuck,
                                                  .stuck_threshold = -1}),
              0);
    ASSERT_EQ(weft_rt_block_on(rt, &blocker_type, &(struct blocker){WEFT_MS(50)}, NULL), 0);
    ASSERT_EQ(hook.calls, 0);
    weft_rt_free(rt);
}

TEST_MAIN()
