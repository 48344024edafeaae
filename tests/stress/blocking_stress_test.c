/* Stress of the blocking pool, for TSan: foreign threads, worker tasks and blocking jobs all
 * submitting at once with joins that are waited, awaited, detached and aborted (from the
 * submitting thread and from another one, racing with the job's start), on every lane; then
 * submissions racing with weft_rt_free. Every job is accounted for: it ran exactly once and
 * its join said 0 with the right output, or it never ran and its join said -ECANCELED. */
// labels: lanes foreign
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "test.h"
#include "weft.h"

struct job {
    _Atomic int ran;
    uintptr_t in;
};

static _Atomic long detached_ran;

static void *job_fn(void *arg)
{
    struct job *j = arg;
    int prev = atomic_fetch_add(&j->ran, 1);
    if (prev != 0)
        weft_test_fail(__FILE__, __LINE__, "job ran twice");
    if ((j->in & 7) == 0)
        usleep(50); /* some jobs block a little, so queues build up */
    return (void *)(j->in * 3);
}

static void *detached_fn(void *arg)
{
    (void)arg;
    atomic_fetch_add(&detached_ran, 1);
    return NULL;
}

static void check(struct job *j, int err, void *res)
{
    if (err == 0) {
        if (atomic_load(&j->ran) != 1 || (uintptr_t)res != j->in * 3)
            weft_test_fail(__FILE__, __LINE__, "ok join but ran=%d res=%lu in=%lu",
                           atomic_load(&j->ran), (unsigned long)(uintptr_t)res,
                           (unsigned long)j->in);
    } else if (err == -ECANCELED) {
        if (atomic_load(&j->ran) != 0)
            weft_test_fail(__FILE__, __LINE__, "cancelled join but the job ran");
    } else {
        weft_test_fail(__FILE__, __LINE__, "join error %d", err);
    }
}

/* ------------------------------------------------------------------ foreign threads */

struct fctx {
    weft_rt *rt;
    int id, n;
    long cancelled, ok, detached;
};

/* A second thread that aborts handles the first one publishes, racing with their start. */
struct abort_ring {
    weft_join *_Atomic slot[64];
    _Atomic int stop;
};

static void *aborter(void *arg)
{
    struct abort_ring *r = arg;
    while (!atomic_load(&r->stop)) {
        for (int i = 0; i < 64; i++) {
            weft_join *j = atomic_load(&r->slot[i]);
            if (j && j != (weft_join *)1) {
                weft_join_abort(j);
                atomic_store(&r->slot[i], (weft_join *)1); /* done with it: hand it back */
            }
        }
        sched_yield();
    }
    return NULL;
}

static void *foreign_main(void *arg)
{
    struct fctx *c = arg;
    struct job *jobs = calloc((size_t)c->n, sizeof *jobs);
    struct abort_ring ring = {0};
    pthread_t ab;
    pthread_create(&ab, NULL, aborter, &ring);
    for (int i = 0; i < c->n; i++) {
        struct job *j = &jobs[i];
        weft_join *h;
        void *res = NULL;
        j->in = (uintptr_t)(c->id * 1000003 + i);
        weft_lane lane = (weft_lane)(i % WEFT_LANE_COUNT);
        switch (i % 5) {
        case 0: /* wait */
        case 1: /* abort ourselves, at once */
            if (weft_spawn_blocking_on(c->rt, lane, job_fn, j, &h) < 0)
                weft_test_fail(__FILE__, __LINE__, "spawn failed");
            if (i % 5 == 1)
                weft_join_abort(h);
            int err = weft_join_wait(h, &res, sizeof res);
            check(j, err, res);
            err == 0 ? c->ok++ : c->cancelled++;
            break;
        case 2: { /* abort from the other thread */
            if (weft_spawn_blocking_on(c->rt, lane, job_fn, j, &h) < 0)
                weft_test_fail(__FILE__, __LINE__, "spawn failed");
            _Atomic(weft_join *) *slot = &ring.slot[i % 64];
            atomic_store(slot, h);
            while (atomic_load(slot) != (weft_join *)1)
                sched_yield();
            atomic_store(slot, NULL);
            int e = weft_join_wait(h, &res, sizeof res);
            check(j, e, res);
            e == 0 ? c->ok++ : c->cancelled++;
            break;
        }
        case 3: /* detach at once */
            if (weft_spawn_blocking_on(c->rt, lane, detached_fn, NULL, NULL) < 0)
                weft_test_fail(__FILE__, __LINE__, "spawn failed");
            c->detached++;
            break;
        case 4: /* detach later */
            if (weft_spawn_blocking_on(c->rt, lane, detached_fn, NULL, &h) < 0)
                weft_test_fail(__FILE__, __LINE__, "spawn failed");
            weft_join_detach(h);
            c->detached++;
            break;
        }
    }
    atomic_store(&ring.stop, 1);
    pthread_join(ab, NULL);
    free(jobs);
    return NULL;
}

/* ------------------------------------------------------------------ worker tasks */

#define TASK_JOBS 32
struct task_state {
    WEFT_ASYNC_STATE;
    struct job jobs[TASK_JOBS];
    weft_join *joins[TASK_JOBS];
    void *res;
    int i, err;
    long ok, cancelled;
};

static weft_poll task_poll(void *state, weft_cx *cx, void *out)
{
    struct task_state *s = state;
    (void)out;
    WEFT_ASYNC_BEGIN(s);
    for (s->i = 0; s->i < TASK_JOBS; s->i++) {
        s->jobs[s->i].in = (uintptr_t)s->i + 7;
        if ((s->err = weft_spawn_blocking_on(weft_cx_rt(cx), (weft_lane)(s->i % 3), job_fn,
                                             &s->jobs[s->i], &s->joins[s->i])) < 0)
            WEFT_ASYNC_FAIL(s, s->err);
        if (s->i % 4 == 3)
            weft_join_abort(s->joins[s->i]);
    }
    for (s->i = 0; s->i < TASK_JOBS; s->i++) {
        WEFT_AWAIT(s, weft_join_poll(s->joins[s->i], cx, &s->res, sizeof s->res, &s->err));
        check(&s->jobs[s->i], s->err, s->res);
    }
    WEFT_ASYNC_END(s);
}
static const weft_future_type task_type = {.poll = task_poll,
                                           .state_size = sizeof(struct task_state)};

static void *block_on_main(void *arg)
{
    weft_rt *rt = arg;
    int n = (int)(100 * weft_test_scale()) + 5;
    for (int i = 0; i < n; i++)
        if (weft_rt_block_on(rt, &task_type, NULL, NULL) != 0)
            weft_test_fail(__FILE__, __LINE__, "block_on failed");
    return NULL;
}

TEST(foreign_threads_tasks_and_aborts)
{
    weft_rt *rt = NULL;
    weft_rt_config cfg = {.workers = 2, .blocking_keep_alive = WEFT_MS(20)};
    ASSERT_EQ(weft_rt_new(&rt, &cfg), 0);
    ASSERT_EQ(weft_blocking_lane_set_max_threads(rt, WEFT_LANE_FS, 2), 0);
    ASSERT_EQ(weft_blocking_lane_set_max_threads(rt, WEFT_LANE_DNS, 3), 0);
    atomic_store(&detached_ran, 0);
    enum { NT = 8 };
    struct fctx c[NT];
    pthread_t th[NT], bo[2];
    int per = (int)(3000 * weft_test_scale()) + 50;
    for (int i = 0; i < NT; i++) {
        c[i] = (struct fctx){.rt = rt, .id = i, .n = per};
        ASSERT_EQ(pthread_create(&th[i], NULL, foreign_main, &c[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        ASSERT_EQ(pthread_create(&bo[i], NULL, block_on_main, rt), 0);
    long detached = 0, ok = 0, cancelled = 0;
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        detached += c[i].detached;
        ok += c[i].ok;
        cancelled += c[i].cancelled;
    }
    for (int i = 0; i < 2; i++)
        pthread_join(bo[i], NULL);
    int64_t end = weft_test_now_ns() + 30 * 1000000000ll;
    while (atomic_load(&detached_ran) < detached && weft_test_now_ns() < end)
        usleep(1000);
    ASSERT_EQ(atomic_load(&detached_ran), detached);
    ASSERT_GT(ok, 0);
    fprintf(stderr, "  ok %ld, cancelled %ld, detached %ld\n", ok, cancelled, detached);
    weft_blocking_stats st;
    ASSERT_EQ(weft_blocking_stats_get(rt, WEFT_LANE_ALL, &st), 0);
    ASSERT_EQ(st.queue_depth, 0);
    weft_rt_free(rt);
}

/* ------------------------------------------------------------------ jobs that submit */

struct tree {
    weft_rt *rt;
    _Atomic long nodes;
    _Atomic long refused;
};

struct node {
    struct tree *t;
    int depth;
};

static void *tree_job(void *arg)
{
    struct node *n = arg;
    atomic_fetch_add(&n->t->nodes, 1);
    if (n->depth > 0) {
        struct node kids[3];
        weft_join *j[3];
        for (int i = 0; i < 3; i++) {
            kids[i] = (struct node){n->t, n->depth - 1};
            if (weft_spawn_blocking_on(n->t->rt, (weft_lane)i, tree_job, &kids[i], &j[i]) < 0)
                weft_test_fail(__FILE__, __LINE__, "nested spawn failed");
        }
        for (int i = 0; i < 3; i++)
            if (weft_join_wait(j[i], NULL, 0) != 0)
                weft_test_fail(__FILE__, __LINE__, "nested join failed");
    }
    return NULL;
}

TEST(jobs_submit_and_wait_for_jobs)
{
    weft_rt *rt = NULL;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2}), 0);
    struct tree t = {.rt = rt};
    struct node root = {&t, 4}; /* 1 + 3 + 9 + 27 + 81 = 121 jobs, 40 of them waiting */
    weft_join *j;
    ASSERT_EQ(weft_spawn_blocking(rt, tree_job, &root, &j), 0);
    ASSERT_EQ(weft_join_wait(j, NULL, 0), 0);
    ASSERT_EQ(atomic_load(&t.nodes), 121);
    weft_rt_free(rt);
}

/* ------------------------------------------------------------------ shutdown races */

struct chain {
    weft_rt *rt;
    _Atomic long links, refused;
};

/* Resubmits itself until the pool refuses: races submissions with weft_rt_free. */
static void *chain_job(void *arg)
{
    struct chain *c = arg;
    atomic_fetch_add(&c->links, 1);
    int err =
        weft_spawn_blocking_on(c->rt, (weft_lane)(atomic_load(&c->links) % 3), chain_job, c, NULL);
    if (err == -ESHUTDOWN)
        atomic_fetch_add(&c->refused, 1);
    else if (err != 0)
        weft_test_fail(__FILE__, __LINE__, "chain spawn: %d", err);
    return NULL;
}

TEST(submissions_race_with_free)
{
    int n = (int)(300 * weft_test_scale()) + 10;
    for (int i = 0; i < n; i++) {
        weft_rt *rt = NULL;
        weft_rt_config cfg = {.workers = 1 + (i & 1), .shutdown_timeout = WEFT_SEC(2)};
        ASSERT_EQ(weft_rt_new(&rt, &cfg), 0);
        struct chain c = {.rt = rt};
        for (int k = 0; k < 4; k++)
            ASSERT_EQ(weft_spawn_blocking(rt, chain_job, &c, NULL), 0);
        usleep((useconds_t)(i % 7) * 100);
        weft_rt_free(rt);
        /* Every chain ended: refused, or its next link was cancelled before it ran. */
        ASSERT_LE(atomic_load(&c.refused), 4);
    }
}

TEST_MAIN()
