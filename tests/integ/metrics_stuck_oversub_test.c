/* Stuck-worker detection when workers outnumber CPUs: the whole process is pinned to one CPU
 * and two workers share it. Each is preempted in the middle of its short polls for longer than
 * a low threshold; that is the OS's doing, not the tasks', and must not be reported. A task
 * that blocks in a system call, and one that computes for a long time, still are.
 */
// labels: metrics
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "test.h"
#include "weft.h"

static _Atomic int hook_calls;
static char hook_name[64];
static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_stuck(const weft_stuck_info *info, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&hook_lock);
    snprintf(hook_name, sizeof hook_name, "%s", info->task_name ? info->task_name : "");
    pthread_mutex_unlock(&hook_lock);
    atomic_fetch_add(&hook_calls, 1);
}

/* Ordinary work: polls of 50 us by the clock, a yield between them, until `until`. */
struct busy {
    WEFT_ASYNC_STATE;
    int64_t until;
    weft_yield y;
};
static weft_poll busy_poll(void *st, weft_cx *cx, void *out)
{
    struct busy *b = st;
    (void)out;
    WEFT_ASYNC_BEGIN(b);
    while (weft_now() < b->until) {
        int64_t end = weft_now() + WEFT_US(50);
        while (weft_now() < end)
            ;
        weft_yield_init(&b->y);
        WEFT_AWAIT(b, weft_yield_poll(&b->y, cx));
    }
    WEFT_ASYNC_END(b);
}
static const weft_future_type busy_type = {
    .name = "busy", .poll = busy_poll, .state_size = sizeof(struct busy)};

/* The bugs the detector is for: one poll that sleeps, one that computes, for `dur`. */
struct blocker {
    int64_t dur;
    bool compute;
};
static weft_poll blocker_poll(void *st, weft_cx *cx, void *out)
{
    struct blocker *b = st;
    int64_t end = weft_now() + b->dur;
    (void)cx, (void)out;
    while (weft_now() < end)
        if (!b->compute)
            usleep(1000);
    return WEFT_READY;
}
static const weft_future_type sleeper_type = {
    .name = "sleeps-in-poll", .poll = blocker_poll, .state_size = sizeof(struct blocker)};
static const weft_future_type computer_type = {
    .name = "computes-in-poll", .poll = blocker_poll, .state_size = sizeof(struct blocker)};

/* Pin this thread (and so every thread the runtime starts) to one CPU of its current set. */
static void pin_to_one_cpu(void)
{
    cpu_set_t set;
    ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    int cpu = 0;
    while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set))
        cpu++;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    ASSERT_EQ(sched_setaffinity(0, sizeof set, &set), 0);
}

static void run_busy(weft_rt *rt, int64_t dur)
{
    weft_join *j[2];
    int64_t until = weft_now() + dur;
    for (int i = 0; i < 2; i++)
        ASSERT_EQ(weft_spawn(rt, &busy_type, &(struct busy){.until = until}, &j[i]), 0);
    for (int i = 0; i < 2; i++)
        ASSERT_EQ(weft_join_wait(j[i], NULL, 0), 0);
}

TEST(preempted_workers_are_not_reported_blocked_and_computing_ones_are)
{
    pin_to_one_cpu();
    weft_rt *rt;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2, .on_stuck = on_stuck,
                                                  .stuck_threshold = WEFT_MS(2)}),
              0);

    /* Two workers on one CPU, both always inside a short poll: each is preempted mid-poll
     * for a time slice (~3 ms) again and again. */
    run_busy(rt, WEFT_MS(400));
    weft_rt_metrics m;
    ASSERT_EQ(weft_rt_metrics_get(rt, &m, sizeof m), 0);
    ASSERT_EQ(m.stuck_polls, 0);
    ASSERT_EQ(atomic_load(&hook_calls), 0);

    /* A poll that sleeps, with the other worker busy: reported, by name. */
    weft_join *busy;
    ASSERT_EQ(weft_spawn(rt, &busy_type, &(struct busy){.until = weft_now() + WEFT_MS(300)},
                         &busy),
              0);
    ASSERT_EQ(weft_rt_block_on(rt, &sleeper_type, &(struct blocker){WEFT_MS(100), false}, NULL),
              0);
    ASSERT_GE(atomic_load(&hook_calls), 1);
    pthread_mutex_lock(&hook_lock);
    ASSERT_STREQ(hook_name, "sleeps-in-poll");
    pthread_mutex_unlock(&hook_lock);
    ASSERT_EQ(weft_join_wait(busy, NULL, 0), 0);

    /* A poll that computes while sharing the CPU with the other worker: reported too. */
    int before = atomic_load(&hook_calls);
    ASSERT_EQ(weft_spawn(rt, &busy_type, &(struct busy){.until = weft_now() + WEFT_MS(300)},
                         &busy),
              0);
    ASSERT_EQ(weft_rt_block_on(rt, &computer_type, &(struct blocker){WEFT_MS(100), true}, NULL),
              0);
    ASSERT_GT(atomic_load(&hook_calls), before);
    pthread_mutex_lock(&hook_lock);
    ASSERT_STREQ(hook_name, "computes-in-poll");
    pthread_mutex_unlock(&hook_lock);
    ASSERT_EQ(weft_join_wait(busy, NULL, 0), 0);
    weft_rt_free(rt);
}

TEST_MAIN()
