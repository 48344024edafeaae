/* Shutdown of the blocking pool (weft_rt_free): queued jobs are cancelled, running ones get
 * shutdown_timeout to finish, stuck ones are detached and counted, and a stuck job that
 * finishes after the runtime is gone touches nothing of it (ASan watches). */
// labels: lanes
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "test.h"
#include "weft.h"

/* weft_rt_free returns within shutdown_timeout + 150 ms (the rest of the teardown: stopping
 * workers, cancelling tasks; 71 ms was seen with the whole suite running on two CPUs);
 * sanitizers slow it by 10x, so they get more room. */
#if defined(WEFT_SANITIZE_ADDRESS) || defined(WEFT_SANITIZE_THREAD)
#define SLACK WEFT_MS(300)
#else
#define SLACK WEFT_MS(150)
#endif

static int pipefd[2];
static _Atomic int stuck_started, stuck_finished, queued_ran;

static void *stuck_job(void *arg)
{
    char c;
    (void)arg;
    atomic_fetch_add(&stuck_started, 1);
    ssize_t n = read(pipefd[0], &c, 1);
    atomic_fetch_add(&stuck_finished, 1);
    return (void *)(intptr_t)n; /* dropped: nobody may look at it any more */
}

static void *queued_job(void *arg)
{
    (void)arg;
    atomic_fetch_add(&queued_ran, 1);
    return NULL;
}

struct waiter {
    weft_join *join;
    int result;
    int64_t done_at;
};

static void *join_waiter(void *arg)
{
    struct waiter *w = arg;
    w->result = weft_join_wait(w->join, NULL, 0);
    w->done_at = weft_test_now_ns();
    return NULL;
}

static void wait_for(_Atomic int *v, int want)
{
    int64_t end = weft_test_now_ns() + 10 * 1000000000ll;
    while (atomic_load(v) < want && weft_test_now_ns() < end)
        usleep(200);
    ASSERT_GE(atomic_load(v), want);
}

TEST(stuck_job_is_detached_within_timeout)
{
    const int64_t timeout = WEFT_MS(200);
    weft_rt *rt = NULL;
    weft_rt_config cfg = {.workers = 2, .shutdown_timeout = timeout};
    uint64_t detached0 = weft_blocking_detached_total();

    ASSERT_EQ(pipe2(pipefd, O_CLOEXEC), 0);
    ASSERT_EQ(weft_rt_new(&rt, &cfg), 0);
    ASSERT_EQ(weft_blocking_lane_set_max_threads(rt, WEFT_LANE_DNS, 1), 0);
    struct waiter w = {0};
    ASSERT_EQ(weft_spawn_blocking_on(rt, WEFT_LANE_DNS, stuck_job, NULL, &w.join), 0);
    wait_for(&stuck_started, 1);
    /* Behind it, in its lane: 100 jobs that must never run. */
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(weft_spawn_blocking_on(rt, WEFT_LANE_DNS, queued_job, NULL, NULL), 0);
    pthread_t waiter;
    ASSERT_EQ(pthread_create(&waiter, NULL, join_waiter, &w), 0);
    usleep(10000);

    int64_t t0 = weft_test_now_ns();
    weft_rt_free(rt);
    int64_t took = weft_test_now_ns() - t0;
    ASSERT_GE(took, timeout - WEFT_MS(5));
    ASSERT_LT(took, timeout + SLACK);
    pthread_join(waiter, NULL);
    ASSERT_EQ(w.result, -ECANCELED);
    ASSERT_EQ(atomic_load(&queued_ran), 0);
    ASSERT_EQ(atomic_load(&stuck_finished), 0);
    ASSERT_EQ(weft_blocking_detached_total(), detached0 + 1);

    /* Now let the stuck job finish, long after its runtime is gone. */
    ASSERT_EQ(write(pipefd[1], "x", 1), 1);
    wait_for(&stuck_finished, 1);
    usleep(50000); /* and let its thread exit */
    close(pipefd[0]);
    close(pipefd[1]);
}

static void *slow_job(void *arg)
{
    usleep(50000);
    return arg;
}

TEST(running_jobs_finish_within_timeout_and_deliver)
{
    weft_rt *rt = NULL;
    weft_rt_config cfg = {.workers = 1, .shutdown_timeout = WEFT_SEC(5)};
    uint64_t detached0 = weft_blocking_detached_total();
    ASSERT_EQ(weft_rt_new(&rt, &cfg), 0);
    struct waiter w = {0};
    int64_t spawned_at = weft_test_now_ns();
    ASSERT_EQ(weft_spawn_blocking(rt, slow_job, (void *)7, &w.join), 0);
    usleep(5000);
    pthread_t waiter;
    ASSERT_EQ(pthread_create(&waiter, NULL, join_waiter, &w), 0);
    int64_t t0 = weft_test_now_ns();
    weft_rt_free(rt);
    int64_t took = weft_test_now_ns() - t0;
    pthread_join(waiter, NULL);
    ASSERT_EQ(w.result, 0); /* it finished in time: its join saw the result */
    ASSERT_LT(w.done_at, t0 + took + 1);
    /* weft_rt_free waited for the 50 ms job (however long the steps above took: under TSan
     * thread creation alone can take 20 ms). */
    ASSERT_GE(t0 + took - spawned_at, WEFT_MS(50));
    ASSERT_LT(took, WEFT_SEC(1));
    ASSERT_EQ(weft_blocking_detached_total(), detached0);
}

TEST(idle_pool_shuts_down_fast)
{
    weft_rt *rt = NULL;
    weft_rt_config cfg = {.workers = 2};
    ASSERT_EQ(weft_rt_new(&rt, &cfg), 0);
    for (int i = 0; i < 3; i++) {
        weft_join *j;
        ASSERT_EQ(weft_spawn_blocking_on(rt, (weft_lane)i, queued_job, NULL, &j), 0);
        ASSERT_EQ(weft_join_wait(j, NULL, 0), 0);
    }
    int64_t t0 = weft_test_now_ns();
    weft_rt_free(rt);
    ASSERT_LT(weft_test_now_ns() - t0, WEFT_MS(50));
}

/* A job running during shutdown may still call in: it gets -ESHUTDOWN, nothing crashes. */
struct late {
    weft_rt *rt;
    _Atomic int go, started, err;
};

static void *late_submitter(void *arg)
{
    struct late *l = arg;
    atomic_store(&l->started, 1);
    while (!atomic_load(&l->go))
        usleep(100);
    usleep(20000); /* weft_rt_free has begun by now */
    weft_join *j = (weft_join *)l;
    atomic_store(&l->err, weft_spawn_blocking(l->rt, queued_job, NULL, &j));
    if (j != NULL)
        atomic_store(&l->err, 12345);
    return NULL;
}

TEST(submit_during_shutdown_is_refused)
{
    weft_rt *rt = NULL;
    weft_rt_config cfg = {.workers = 1, .shutdown_timeout = WEFT_SEC(5)};
    ASSERT_EQ(weft_rt_new(&rt, &cfg), 0);
    struct late l = {.rt = rt};
    ASSERT_EQ(weft_spawn_blocking(rt, late_submitter, &l, NULL), 0);
    wait_for(&l.started, 1);
    atomic_store(&l.go, 1);
    weft_rt_free(rt);
    ASSERT_EQ(atomic_load(&l.err), -ESHUTDOWN);
}

TEST(free_without_pool_and_spawn_after_close)
{
    weft_rt *rt = NULL;
    ASSERT_EQ(weft_rt_new(&rt, NULL), 0);
    weft_rt_free(rt); /* never used the pool */
}

static void *short_job(void *arg)
{
    usleep(2000);
    return arg;
}

TEST(many_short_lived_runtimes)
{
    int n = (int)(200 * weft_test_scale()) + 10;
    for (int i = 0; i < n; i++) {
        weft_rt *rt = NULL;
        weft_rt_config cfg = {.workers = 1 + i % 2,
                              .shutdown_timeout = WEFT_MS(100),
                              .flavor = i % 3 == 0 ? WEFT_RT_CURRENT_THREAD : WEFT_RT_MULTI_THREAD};
        ASSERT_EQ(weft_rt_new(&rt, &cfg), 0);
        for (int k = 0; k < 20; k++)
            ASSERT_EQ(weft_spawn_blocking_on(rt, (weft_lane)(k % 3), queued_job, NULL, NULL), 0);
        if (i % 2) {
            weft_join *j;
            ASSERT_EQ(weft_spawn_blocking(rt, short_job, NULL, &j), 0);
            weft_join_detach(j);
        }
        weft_rt_free(rt); /* some jobs ran, the rest were cancelled: no leak, no crash */
    }
}

TEST_MAIN()
