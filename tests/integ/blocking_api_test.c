/* weft_spawn_blocking*: results through every kind of join (wait, poll from a task in both
 * flavours, detach), calls from a foreign thread and from inside a blocking job, abort before
 * and after start, thread caps, on-demand growth for blocked jobs, keep-alive, queue caps,
 * thread names, stats, and bad arguments. */
// labels: lanes
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "test.h"
#include "weft.h"

/* ------------------------------------------------------------------ helpers */

static weft_rt *rt_new(weft_rt_flavor flavor, int64_t keep_alive)
{
    weft_rt *rt = NULL;
    weft_rt_config cfg = {
        .flavor = flavor, .workers = 2, .thread_name = "bt", .blocking_keep_alive = keep_alive};
    ASSERT_EQ(weft_rt_new(&rt, &cfg), 0);
    return rt;
}

static void *plus_one(void *arg)
{
    return (void *)((uintptr_t)arg + 1);
}

/* A gate jobs can block on: closed until opened, like a pipe nobody writes to. */
struct gate {
    pthread_mutex_t m;
    pthread_cond_t c;
    int open;
    _Atomic int entered, running, max_running, ran;
};
#define GATE_INIT                                                                                  \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0                         \
    }

static void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->m);
    g->open = 1;
    pthread_cond_broadcast(&g->c);
    pthread_mutex_unlock(&g->m);
}

static void *gate_job(void *arg)
{
    struct gate *g = arg;
    atomic_fetch_add(&g->entered, 1);
    int now = atomic_fetch_add(&g->running, 1) + 1;
    int m = atomic_load(&g->max_running);
    while (now > m && !atomic_compare_exchange_weak(&g->max_running, &m, now))
        ;
    pthread_mutex_lock(&g->m);
    while (!g->open)
        pthread_cond_wait(&g->c, &g->m);
    pthread_mutex_unlock(&g->m);
    atomic_fetch_sub(&g->running, 1);
    atomic_fetch_add(&g->ran, 1);
    return g;
}

static void wait_until(_Atomic int *v, int want)
{
    int64_t end = weft_test_now_ns() + 10 * 1000000000ll;
    while (atomic_load(v) < want) {
        if (weft_test_now_ns() > end)
            weft_test_fail(__FILE__, __LINE__, "timed out waiting for %d (at %d)", want,
                           atomic_load(v));
        usleep(200);
    }
}

/* ------------------------------------------------------------------ results */

TEST(join_wait_gets_the_result)
{
    weft_rt *rt = rt_new(WEFT_RT_MULTI_THREAD, 0);
    weft_join *j;
    void *res = NULL;
    ASSERT_EQ(weft_spawn_blocking(rt, plus_one, (void *)41, &j), 0);
    ASSERT_TRUE(j != NULL);
    ASSERT_EQ(weft_join_wait(j, &res, sizeof res), 0);
    ASSERT_EQ((uintptr_t)res, 42);
    for (int lane = 0; lane < WEFT_LANE_COUNT; lane++) {
        ASSERT_EQ(
            weft_spawn_blocking_on(rt, (weft_lane)lane, plus_one, (void *)(uintptr_t)lane, &j), 0);
        ASSERT_EQ(weft_join_wait(j, &res, sizeof res), 0);
        ASSERT_EQ((uintptr_t)res, lane + 1);
    }
    weft_rt_free(rt);
}

/* A task that spawns K blocking jobs and awaits them all with weft_join_poll. */
#define K 64
struct awaiter {
    WEFT_ASYNC_STATE;
    weft_join *joins[K];
    void *res;
    int i, err;
    uintptr_t sum;
};

static weft_poll awaiter_poll(void *state, weft_cx *cx, void *out)
{
    struct awaiter *a = state;
    WEFT_ASYNC_BEGIN(a);
    for (a->i = 0; a->i < K; a->i++)
        if ((a->err = weft_spawn_blocking(weft_cx_rt(cx), plus_one, (void *)(uintptr_t)a->i,
                                          &a->joins[a->i])) < 0)
            WEFT_ASYNC_FAIL(a, a->err);
    for (a->i = 0; a->i < K; a->i++) {
        WEFT_AWAIT(a, weft_join_poll(a->joins[a->i], cx, &a->res, sizeof a->res, &a->err));
        if (a->err < 0)
            WEFT_ASYNC_FAIL(a, a->err);
        a->sum += (uintptr_t)a->res;
    }
    *(uintptr_t *)out = a->sum;
    WEFT_ASYNC_END(a);
}
static const weft_future_type awaiter_type = {
    .poll = awaiter_poll, .state_size = sizeof(struct awaiter), .out_size = sizeof(uintptr_t)};

TEST(join_poll_from_a_task_both_flavours)
{
    for (int f = 0; f < 2; f++) {
        weft_rt *rt = rt_new(f ? WEFT_RT_CURRENT_THREAD : WEFT_RT_MULTI_THREAD, 0);
        for (int rep = 0; rep < 20; rep++) {
            uintptr_t sum = 0;
            ASSERT_EQ(weft_rt_block_on(rt, &awaiter_type, NULL, &sum), 0);
            ASSERT_EQ(sum, K * (K + 1) / 2);
        }
        weft_rt_free(rt);
    }
}

static _Atomic int detached_ran;
static void *count_job(void *arg)
{
    (void)arg;
    atomic_fetch_add(&detached_ran, 1);
    return NULL;
}

TEST(detached_jobs_run)
{
    weft_rt *rt = rt_new(WEFT_RT_MULTI_THREAD, 0);
    weft_join *j;
    atomic_store(&detached_ran, 0);
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(weft_spawn_blocking(rt, count_job, NULL, NULL), 0);
    ASSERT_EQ(weft_spawn_blocking(rt, count_job, NULL, &j), 0);
    weft_join_detach(j);
    wait_until(&detached_ran, 101);
    weft_blocking_stats st;
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_DEFAULT, &st), 0);
    ASSERT_EQ(st.jobs_run, 101);
    ASSERT_EQ(st.jobs_cancelled, 0);
    ASSERT_GE(st.threads, 1);
    ASSERT_GE(st.threads_spawned, 1);
    ASSERT_EQ(st.queue_depth, 0);
    weft_rt_free(rt);
}

/* ------------------------------------------------------------------ callers */

struct nested {
    weft_rt *rt;
};

static void *nested_job(void *arg)
{
    struct nested *n = arg;
    weft_join *j;
    void *res = NULL;
    /* A blocking job may submit and wait: it is not a worker. */
    if (weft_spawn_blocking_on(n->rt, WEFT_LANE_FS, plus_one, (void *)99, &j) < 0)
        return NULL;
    if (weft_join_wait(j, &res, sizeof res) < 0)
        return NULL;
    /* ... and even drive the runtime with block_on. */
    uintptr_t sum = 0;
    if (weft_rt_block_on(n->rt, &awaiter_type, NULL, &sum) < 0 || sum != K * (K + 1) / 2)
        return NULL;
    if (weft_rt_current() != NULL)
        return NULL;
    return res;
}

TEST(spawn_and_wait_inside_a_blocking_job)
{
    weft_rt *rt = rt_new(WEFT_RT_MULTI_THREAD, 0);
    struct nested n = {rt};
    weft_join *j;
    void *res = NULL;
    ASSERT_EQ(weft_spawn_blocking(rt, nested_job, &n, &j), 0);
    ASSERT_EQ(weft_join_wait(j, &res, sizeof res), 0);
    ASSERT_EQ((uintptr_t)res, 100);
    weft_rt_free(rt);
}

static void *foreign_thread(void *arg)
{
    weft_rt *rt = arg;
    for (int i = 0; i < 200; i++) {
        weft_join *j;
        void *res = NULL;
        if (weft_spawn_blocking(rt, plus_one, (void *)(uintptr_t)i, &j) < 0)
            return (void *)1;
        if (weft_join_wait(j, &res, sizeof res) != 0 || (uintptr_t)res != (uintptr_t)i + 1)
            return (void *)1;
    }
    return NULL;
}

TEST(foreign_threads_submit)
{
    weft_rt *rt = rt_new(WEFT_RT_MULTI_THREAD, 0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(pthread_create(&th[i], NULL, foreign_thread, rt), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        ASSERT_TRUE(r == NULL);
    }
    weft_rt_free(rt);
}

static void *name_job(void *arg)
{
    char *buf = arg;
    pthread_getname_np(pthread_self(), buf, 16);
    return NULL;
}

TEST(threads_are_named_rt_blk)
{
    weft_rt *rt = rt_new(WEFT_RT_MULTI_THREAD, 0);
    char name[16] = "";
    weft_join *j;
    ASSERT_EQ(weft_spawn_blocking(rt, name_job, name, &j), 0);
    ASSERT_EQ(weft_join_wait(j, NULL, 0), 0);
    ASSERT_STREQ(name, "bt-blk");
    weft_rt_free(rt);

    /* A 12-character runtime name keeps the suffix: Linux allows 15 characters. */
    weft_rt_config cfg = {.workers = 1, .thread_name = "abcdefghijkl"};
    ASSERT_EQ(weft_rt_new(&rt, &cfg), 0);
    ASSERT_EQ(weft_spawn_blocking(rt, name_job, name, &j), 0);
    ASSERT_EQ(weft_join_wait(j, NULL, 0), 0);
    ASSERT_STREQ(name, "abcdefghijk-blk");
    weft_rt_free(rt);
}

static _Atomic int hook_starts, hook_stops;
static void on_start(void *arg)
{
    (void)arg;
    atomic_fetch_add(&hook_starts, 1);
}
static void on_stop(void *arg)
{
    (void)arg;
    atomic_fetch_add(&hook_stops, 1);
}

TEST(thread_hooks_run_on_pool_threads)
{
    weft_rt *rt;
    weft_rt_config cfg = {.workers = 1, .on_thread_start = on_start, .on_thread_stop = on_stop};
    ASSERT_EQ(weft_rt_new(&rt, &cfg), 0);
    usleep(20000);
    int workers = atomic_load(&hook_starts);
    weft_join *j;
    ASSERT_EQ(weft_spawn_blocking(rt, plus_one, NULL, &j), 0);
    ASSERT_EQ(weft_join_wait(j, NULL, 0), 0);
    ASSERT_EQ(atomic_load(&hook_starts), workers + 1);
    weft_rt_free(rt);
    ASSERT_EQ(atomic_load(&hook_stops), atomic_load(&hook_starts));
}

/* ------------------------------------------------------------------ abort */

TEST(abort_before_start_reports_ecanceled_promptly)
{
    weft_rt *rt = rt_new(WEFT_RT_MULTI_THREAD, 0);
    struct gate g = GATE_INIT, g2 = GATE_INIT;
    weft_join *blocker, *queued;
    ASSERT_EQ(weft_blocking_lane_set_max_threads(rt, WEFT_LANE_DEFAULT, 1), 0);
    ASSERT_EQ(weft_spawn_blocking(rt, gate_job, &g, &blocker), 0);
    wait_until(&g.entered, 1);
    ASSERT_EQ(weft_spawn_blocking(rt, gate_job, &g2, &queued), 0);
    weft_blocking_stats st;
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_DEFAULT, &st), 0);
    ASSERT_EQ(st.queue_depth, 1);
    ASSERT_EQ(st.threads, 1);

    int64_t t0 = weft_test_now_ns();
    weft_join_abort(queued);
    ASSERT_EQ(weft_join_wait(queued, NULL, 0), -ECANCELED); /* the only thread is still busy */
    ASSERT_LT(weft_test_now_ns() - t0, 1000000000ll);
    ASSERT_EQ(atomic_load(&g2.entered), 0);

    gate_open(&g);
    void *res = NULL;
    ASSERT_EQ(weft_join_wait(blocker, &res, sizeof res), 0);
    ASSERT_TRUE(res == &g);
    /* The dead entry is skipped: the lane still serves new jobs. */
    weft_join *j;
    ASSERT_EQ(weft_spawn_blocking(rt, plus_one, (void *)1, &j), 0);
    ASSERT_EQ(weft_join_wait(j, &res, sizeof res), 0);
    ASSERT_EQ((uintptr_t)res, 2);
    ASSERT_EQ(atomic_load(&g2.entered), 0);
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_DEFAULT, &st), 0);
    ASSERT_EQ(st.jobs_cancelled, 1); /* counted when the pool passed its queue entry */
    ASSERT_EQ(st.jobs_run, 2);
    weft_rt_free(rt);
}

TEST(abort_before_start_current_thread_runtime)
{
    weft_rt *rt = rt_new(WEFT_RT_CURRENT_THREAD, 0);
    struct gate g = GATE_INIT, g2 = GATE_INIT;
    weft_join *blocker, *queued;
    ASSERT_EQ(weft_blocking_lane_set_max_threads(rt, WEFT_LANE_DEFAULT, 1), 0);
    ASSERT_EQ(weft_spawn_blocking(rt, gate_job, &g, &blocker), 0);
    wait_until(&g.entered, 1);
    ASSERT_EQ(weft_spawn_blocking(rt, gate_job, &g2, &queued), 0);
    weft_join_abort(queued);
    gate_open(&g);
    ASSERT_EQ(weft_join_wait(blocker, NULL, 0), 0);
    /* Nobody drives this runtime: the cancelled job is still settled by the pool or at free. */
    weft_rt_free(rt);
    ASSERT_EQ(atomic_load(&g2.entered), 0);
    weft_join_detach(NULL);
}

TEST(abort_after_start_runs_to_the_end)
{
    weft_rt *rt = rt_new(WEFT_RT_MULTI_THREAD, 0);
    struct gate g = GATE_INIT;
    weft_join *j;
    ASSERT_EQ(weft_spawn_blocking(rt, gate_job, &g, &j), 0);
    wait_until(&g.entered, 1);
    weft_join_abort(j);
    usleep(10000);
    ASSERT_TRUE(!weft_join_is_finished(j));
    gate_open(&g);
    void *res = NULL;
    ASSERT_EQ(weft_join_wait(j, &res, sizeof res), 0); /* it ran: its result stands */
    ASSERT_TRUE(res == &g);
    ASSERT_EQ(atomic_load(&g.ran), 1);
    weft_rt_free(rt);
}

/* ------------------------------------------------------------------ threads */

TEST(lane_cap_bounds_concurrency)
{
    weft_rt *rt = rt_new(WEFT_RT_MULTI_THREAD, 0);
    struct gate g = GATE_INIT;
    weft_join *j[12];
    ASSERT_EQ(weft_blocking_lane_set_max_threads(rt, WEFT_LANE_DEFAULT, 4), 0);
    for (int i = 0; i < 12; i++)
        ASSERT_EQ(weft_spawn_blocking(rt, gate_job, &g, &j[i]), 0);
    wait_until(&g.entered, 4);
    usleep(20000); /* time for a (wrong) fifth thread to start */
    ASSERT_EQ(atomic_load(&g.entered), 4);
    weft_blocking_stats st;
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_DEFAULT, &st), 0);
    ASSERT_EQ(st.threads, 4);
    ASSERT_EQ(st.max_threads, 4);
    ASSERT_EQ(st.queue_depth, 8);
    /* Raising the cap lets the backlog start at once. */
    ASSERT_EQ(weft_blocking_lane_set_max_threads(rt, WEFT_LANE_DEFAULT, 12), 0);
    wait_until(&g.entered, 12);
    gate_open(&g);
    for (int i = 0; i < 12; i++)
        ASSERT_EQ(weft_join_wait(j[i], NULL, 0), 0);
    ASSERT_EQ(atomic_load(&g.max_running), 12);
    /* Lowering it retires the surplus as jobs end. */
    ASSERT_EQ(weft_blocking_lane_set_max_threads(rt, WEFT_LANE_DEFAULT, 2), 0);
    for (int i = 0; i < 40; i++) {
        weft_join *x;
        ASSERT_EQ(weft_spawn_blocking(rt, plus_one, NULL, &x), 0);
        ASSERT_EQ(weft_join_wait(x, NULL, 0), 0);
    }
    weft_rt_free(rt);
}

/* 32 jobs that can only finish together: the pool must grow to 32 threads on its own. */
struct barrier_job {
    _Atomic int arrived;
    int n;
};

static void *barrier_job(void *arg)
{
    struct barrier_job *b = arg;
    atomic_fetch_add(&b->arrived, 1);
    int64_t end = weft_test_now_ns() + 20 * 1000000000ll;
    while (atomic_load(&b->arrived) < b->n && weft_test_now_ns() < end)
        usleep(100);
    return (void *)(uintptr_t)(atomic_load(&b->arrived) >= b->n);
}

TEST(threads_start_on_demand_for_blocked_jobs)
{
    weft_rt *rt = rt_new(WEFT_RT_MULTI_THREAD, 0);
    struct barrier_job b = {0, 32};
    weft_join *j[32];
    int64_t t0 = weft_test_now_ns();
    for (int i = 0; i < 32; i++)
        ASSERT_EQ(weft_spawn_blocking(rt, barrier_job, &b, &j[i]), 0);
    for (int i = 0; i < 32; i++) {
        void *ok = NULL;
        ASSERT_EQ(weft_join_wait(j[i], &ok, sizeof ok), 0);
        ASSERT_TRUE(ok != NULL);
    }
    ASSERT_LT(weft_test_now_ns() - t0, 5 * 1000000000ll);
    weft_blocking_stats st;
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_DEFAULT, &st), 0);
    ASSERT_GE(st.threads_spawned, 32);
    ASSERT_LE(st.threads, 512);
    weft_rt_free(rt);
}

TEST(idle_threads_leave_after_keep_alive)
{
    weft_rt *rt = rt_new(WEFT_RT_MULTI_THREAD, WEFT_MS(50));
    struct barrier_job b = {0, 6};
    weft_join *j[6];
    for (int i = 0; i < 6; i++)
        ASSERT_EQ(weft_spawn_blocking(rt, barrier_job, &b, &j[i]), 0);
    for (int i = 0; i < 6; i++)
        ASSERT_EQ(weft_join_wait(j[i], NULL, 0), 0);
    weft_blocking_stats st;
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_ALL, &st), 0);
    ASSERT_GE(st.threads, 6);
    int64_t end = weft_test_now_ns() + 5 * 1000000000ll;
    do {
        usleep(10000);
        ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_ALL, &st), 0);
    } while (st.threads != 0 && weft_test_now_ns() < end);
    ASSERT_EQ(st.threads, 0);
    ASSERT_EQ(st.idle_threads, 0);
    ASSERT_EQ(st.jobs_run, 6);
    /* And the pool starts again on demand. */
    void *res = NULL;
    ASSERT_EQ(weft_spawn_blocking(rt, plus_one, (void *)1, &j[0]), 0);
    ASSERT_EQ(weft_join_wait(j[0], &res, sizeof res), 0);
    ASSERT_EQ((uintptr_t)res, 2);
    weft_rt_free(rt);
}

TEST(idle_threads_are_reused_and_counted)
{
    weft_rt *rt = rt_new(WEFT_RT_MULTI_THREAD, 0);
    weft_join *j;
    for (int i = 0; i < 50; i++) {
        ASSERT_EQ(weft_spawn_blocking(rt, plus_one, NULL, &j), 0);
        ASSERT_EQ(weft_join_wait(j, NULL, 0), 0);
        usleep(i % 5 == 0 ? 200 : 0); /* sometimes long enough to park, sometimes not */
    }
    usleep(100000); /* past the spin: everyone parks */
    weft_blocking_stats st;
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_DEFAULT, &st), 0);
    ASSERT_LE(st.threads_spawned, 2); /* one job at a time never needs more than two */
    ASSERT_EQ(st.idle_threads, st.threads);
    ASSERT_EQ(st.jobs_run, 50);
    weft_rt_free(rt);
}

TEST(queue_cap_refuses_with_eagain)
{
    weft_rt *rt = rt_new(WEFT_RT_MULTI_THREAD, 0);
    struct gate g = GATE_INIT;
    weft_join *b, *q1, *q2, *q3;
    ASSERT_EQ(weft_blocking_lane_set_max_threads(rt, WEFT_LANE_FS, 1), 0);
    ASSERT_EQ(weft_blocking_lane_set_max_queued(rt, WEFT_LANE_FS, 2), 0);
    ASSERT_EQ(weft_spawn_blocking_on(rt, WEFT_LANE_FS, gate_job, &g, &b), 0);
    wait_until(&g.entered, 1);
    ASSERT_EQ(weft_spawn_blocking_on(rt, WEFT_LANE_FS, gate_job, &g, &q1), 0);
    ASSERT_EQ(weft_spawn_blocking_on(rt, WEFT_LANE_FS, gate_job, &g, &q2), 0);
    q3 = (weft_join *)&g;
    ASSERT_EQ(weft_spawn_blocking_on(rt, WEFT_LANE_FS, gate_job, &g, &q3), -EAGAIN);
    ASSERT_TRUE(q3 == NULL);
    /* Other lanes are not affected. */
    ASSERT_EQ(weft_spawn_blocking(rt, plus_one, NULL, &q3), 0);
    ASSERT_EQ(weft_join_wait(q3, NULL, 0), 0);
    weft_blocking_stats st;
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_FS, &st), 0);
    ASSERT_EQ(st.jobs_refused, 1);
    ASSERT_EQ(st.queue_depth, 2);
    gate_open(&g);
    ASSERT_EQ(weft_join_wait(b, NULL, 0), 0);
    ASSERT_EQ(weft_join_wait(q1, NULL, 0), 0);
    ASSERT_EQ(weft_join_wait(q2, NULL, 0), 0);
    ASSERT_EQ(weft_blocking_lane_set_max_queued(rt, WEFT_LANE_FS, 0), 0);
    weft_rt_free(rt);
}

/* ------------------------------------------------------------------ bad arguments */

TEST(bad_arguments)
{
    weft_rt *rt = rt_new(WEFT_RT_MULTI_THREAD, 0);
    weft_join *j = (weft_join *)rt;
    ASSERT_EQ(weft_spawn_blocking(NULL, plus_one, NULL, &j), -EINVAL);
    ASSERT_TRUE(j == NULL);
    j = (weft_join *)rt;
    ASSERT_EQ(weft_spawn_blocking(rt, NULL, NULL, &j), -EINVAL);
    ASSERT_TRUE(j == NULL);
    ASSERT_EQ(weft_spawn_blocking_on(rt, (weft_lane)-1, plus_one, NULL, &j), -EINVAL);
    ASSERT_EQ(weft_spawn_blocking_on(rt, (weft_lane)WEFT_LANE_COUNT, plus_one, NULL, &j), -EINVAL);
    ASSERT_EQ(weft_spawn_blocking_on(rt, (weft_lane)1000, plus_one, NULL, NULL), -EINVAL);
    ASSERT_EQ(weft_blocking_lane_set_max_threads(NULL, WEFT_LANE_FS, 4), -EINVAL);
    ASSERT_EQ(weft_blocking_lane_set_max_threads(rt, WEFT_LANE_FS, 0), -EINVAL);
    ASSERT_EQ(weft_blocking_lane_set_max_threads(rt, WEFT_LANE_FS, 65536), -EINVAL);
    ASSERT_EQ(weft_blocking_lane_set_max_threads(rt, (weft_lane)3, 4), -EINVAL);
    ASSERT_EQ(weft_blocking_lane_set_max_queued(NULL, WEFT_LANE_FS, 4), -EINVAL);
    ASSERT_EQ(weft_blocking_lane_set_max_queued(rt, (weft_lane)-2, 4), -EINVAL);
    weft_blocking_stats st;
    ASSERT_EQ(weft_blocking_stats_get(NULL, WEFT_LANE_ALL, &st), -EINVAL);
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_ALL, NULL), -EINVAL);
    ASSERT_EQ(weft_blocking_stats_get(rt, -2, &st), -EINVAL);
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_COUNT, &st), -EINVAL);
    /* Nothing used yet: all zero, no pool needed. */
    weft_rt *fresh = rt_new(WEFT_RT_MULTI_THREAD, 0);
    memset(&st, 0xff, sizeof st);
    ASSERT_EQ(weft_blocking_stats_get(fresh, WEFT_LANE_ALL, &st), 0);
    ASSERT_EQ(st.threads, 0);
    ASSERT_EQ(st.jobs_run, 0);
    weft_rt_free(fresh);
    /* A NULL join detaches: still valid. */
    ASSERT_EQ(weft_spawn_blocking(rt, plus_one, NULL, NULL), 0);
    weft_rt_free(rt);
}

TEST_MAIN()
