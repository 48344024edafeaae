/* Spawning and joining on both executors, from every kind of thread: tasks, the block_on
 * caller, foreign threads; outputs, errors, abort, detach, yield. */
#include <pthread.h>

#include "test.h"
#include "weft.h"

static weft_rt *make(weft_rt_flavor f)
{
    weft_rt *rt = NULL;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = f, .workers = 2}), 0);
    ASSERT_TRUE(rt != NULL);
    return rt;
}

/* ---- a task that returns its input doubled, or fails when asked */
struct dbl {
    int v;
};
static weft_poll dbl_poll(void *st, weft_cx *cx, void *out)
{
    struct dbl *d = st;
    (void)cx;
    if (d->v < 0)
        return WEFT_FAIL(d->v);
    *(int *)out = d->v * 2;
    return WEFT_READY;
}
static const weft_future_type dbl_type = {
    .name = "dbl", .poll = dbl_poll, .state_size = sizeof(struct dbl), .out_size = sizeof(int)};

/* ---- a parent that spawns children from inside a task and joins them */
struct parent {
    WEFT_ASYNC_STATE;
    weft_join *j[64];
    int i, err, v, sum;
};
static weft_poll parent_poll(void *st, weft_cx *cx, void *out)
{
    struct parent *p = st;
    WEFT_ASYNC_BEGIN(p);
    for (p->i = 0; p->i < 64; p->i++) {
        struct dbl d = {p->i};
        if ((p->err = weft_spawn(weft_cx_rt(cx), &dbl_type, &d, &p->j[p->i])) < 0)
            WEFT_ASYNC_FAIL(p, p->err);
    }
    for (p->i = 0; p->i < 64; p->i++) {
        WEFT_AWAIT(p, weft_join_poll(p->j[p->i], cx, &p->v, sizeof p->v, &p->err));
        if (p->err < 0)
            WEFT_ASYNC_FAIL(p, p->err);
        p->sum += p->v;
        WEFT_YIELD(p, cx);
    }
    *(int *)out = p->sum;
    WEFT_ASYNC_END(p);
}
static const weft_future_type parent_type = {.name = "parent",
                                             .poll = parent_poll,
                                             .state_size = sizeof(struct parent),
                                             .out_size = sizeof(int)};

TEST(block_on_returns_output_both_flavours)
{
    for (int f = 0; f < 2; f++) {
        weft_rt *rt = make((weft_rt_flavor)f);
        int out = 0;
        ASSERT_EQ(weft_rt_block_on(rt, &dbl_type, &(struct dbl){21}, &out), 0);
        ASSERT_EQ(out, 42);
        ASSERT_EQ(weft_rt_block_on(rt, &parent_type, NULL, &out), 0);
        ASSERT_EQ(out, 2 * (63 * 64 / 2));
        weft_rt_free(rt);
    }
}

TEST(failed_task_reports_its_error_and_runtime_goes_on)
{
    for (int f = 0; f < 2; f++) {
        weft_rt *rt = make((weft_rt_flavor)f);
        int out = 7;
        ASSERT_EQ(weft_rt_block_on(rt, &dbl_type, &(struct dbl){-EIO}, &out), -EIO);
        ASSERT_EQ(out, 7); /* untouched */
        ASSERT_EQ(weft_rt_block_on(rt, &dbl_type, &(struct dbl){1}, &out), 0);
        ASSERT_EQ(out, 2);
        weft_rt_free(rt);
    }
}

TEST(spawn_from_foreign_thread_and_join_wait)
{
    weft_rt *rt = make(WEFT_RT_MULTI_THREAD);
    weft_join *j[100];
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(weft_spawn(rt, &dbl_type, &(struct dbl){i}, &j[i]), 0);
    for (int i = 0; i < 100; i++) {
        int out = -1;
        ASSERT_TRUE(weft_join_id(j[i]) != 0);
        ASSERT_EQ(weft_join_wait(j[i], &out, sizeof out), 0);
        ASSERT_EQ(out, 2 * i);
    }
    weft_rt_free(rt);
}

/* ---- a task that waits forever (never wakes), to abort */
static _Atomic int dropped;
static weft_poll forever_poll(void *st, weft_cx *cx, void *out)
{
    (void)st, (void)cx, (void)out;
    return WEFT_PENDING;
}
static void forever_drop(void *st)
{
    (void)st;
    atomic_fetch_add(&dropped, 1);
}
static const weft_future_type forever_type = {
    .name = "forever", .poll = forever_poll, .drop = forever_drop, .state_size = 8};

TEST(abort_drops_future_once_and_join_reports_ecanceled)
{
    for (int f = 0; f < 2; f++) {
        weft_rt *rt = make((weft_rt_flavor)f);
        weft_join *j;
        atomic_store(&dropped, 0);
        ASSERT_EQ(weft_spawn(rt, &forever_type, NULL, &j), 0);
        if (f == WEFT_RT_CURRENT_THREAD) {
            /* Let the task run once on the driver, then abort from here. */
            ASSERT_EQ(weft_rt_block_on(rt, &dbl_type, &(struct dbl){1}, NULL), 0);
        }
        weft_join_abort(j);
        weft_join_abort(j); /* twice is harmless */
        if (f == WEFT_RT_CURRENT_THREAD)
            ASSERT_EQ(weft_rt_block_on(rt, &dbl_type, &(struct dbl){1}, NULL), 0);
        ASSERT_EQ(weft_join_wait(j, NULL, 0), -ECANCELED);
        ASSERT_EQ(atomic_load(&dropped), 1);
        weft_rt_free(rt);
        ASSERT_EQ(atomic_load(&dropped), 1);
    }
}

TEST(abort_after_completion_keeps_result)
{
    weft_rt *rt = make(WEFT_RT_MULTI_THREAD);
    weft_join *j;
    ASSERT_EQ(weft_spawn(rt, &dbl_type, &(struct dbl){5}, &j), 0);
    while (!weft_join_is_finished(j))
        ;
    weft_join_abort(j);
    int out;
    ASSERT_EQ(weft_join_wait(j, &out, sizeof out), 0);
    ASSERT_EQ(out, 10);
    weft_rt_free(rt);
}

TEST(detached_tasks_run_and_free)
{
    for (int f = 0; f < 2; f++) {
        weft_rt *rt = make((weft_rt_flavor)f);
        for (int i = 0; i < 1000; i++)
            ASSERT_EQ(weft_spawn(rt, &dbl_type, &(struct dbl){i}, NULL), 0);
        weft_join *j;
        ASSERT_EQ(weft_spawn(rt, &dbl_type, &(struct dbl){1}, &j), 0);
        weft_join_detach(j);
        ASSERT_EQ(weft_rt_block_on(rt, &parent_type, NULL, NULL), 0);
        weft_rt_free(rt);
    }
}

/* ---- big futures (over the slab's largest class) */
struct big {
    char pad[10000];
    int v;
};
static weft_poll big_poll(void *st, weft_cx *cx, void *out)
{
    (void)cx;
    *(int *)out = ((struct big *)st)->v;
    return WEFT_READY;
}
static const weft_future_type big_type = {
    .name = "big", .poll = big_poll, .state_size = sizeof(struct big), .out_size = sizeof(int)};

TEST(big_futures_fall_back_to_the_allocator)
{
    weft_rt *rt = make(WEFT_RT_MULTI_THREAD);
    static struct big b = {.v = 99};
    int out = 0;
    ASSERT_EQ(weft_rt_block_on(rt, &big_type, &b, &out), 0);
    ASSERT_EQ(out, 99);
    weft_join *j;
    ASSERT_EQ(weft_spawn(rt, &big_type, &b, &j), 0); /* left for rt_free */
    weft_rt_free(rt);
}

TEST(bad_arguments_give_einval)
{
    weft_rt *rt = make(WEFT_RT_MULTI_THREAD);
    weft_join *j = (weft_join *)1;
    ASSERT_EQ(weft_rt_new(NULL, NULL), -EINVAL);
    ASSERT_EQ(weft_spawn(NULL, &dbl_type, NULL, &j), -EINVAL);
    ASSERT_TRUE(j == NULL);
    ASSERT_EQ(weft_spawn(rt, NULL, NULL, NULL), -EINVAL);
    ASSERT_EQ(weft_spawn(rt, &(weft_future_type){.poll = NULL}, NULL, NULL), -EINVAL);
    ASSERT_EQ(weft_spawn(rt, &(weft_future_type){.poll = dbl_poll, .state_size = 1ull << 40},
                         NULL, NULL),
              -EINVAL);
    ASSERT_EQ(weft_spawn_with(rt, &dbl_type, NULL, &(weft_spawn_opts){.priority = 7}, NULL),
              -EINVAL);
    ASSERT_EQ(weft_join_wait(NULL, NULL, 0), -EINVAL);
    weft_join_detach(NULL);
    weft_join_abort(NULL);
    ASSERT_TRUE(!weft_join_is_finished(NULL));
    ASSERT_EQ(weft_join_id(NULL), 0);
    int r = 0;
    weft_cx cx = {0};
    ASSERT_EQ(weft_join_poll(NULL, &cx, NULL, 0, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    ASSERT_EQ(weft_rt_block_on(NULL, &dbl_type, NULL, NULL), -EINVAL);
    ASSERT_EQ(weft_rt_block_on(rt, NULL, NULL, NULL), -EINVAL);
    weft_rt *bad = (weft_rt *)1;
    ASSERT_EQ(weft_rt_new(&bad, &(weft_rt_config){.workers = 5000}), -EINVAL);
    ASSERT_TRUE(bad == NULL);
    ASSERT_EQ(weft_rt_new(&bad, &(weft_rt_config){.thread_stack_size = 100}), -EINVAL);
    ASSERT_EQ(weft_rt_new(&bad, &(weft_rt_config){.thread_stack_size = 1ull << 40}), -EINVAL);
    ASSERT_EQ(weft_rt_new(&bad, &(weft_rt_config){.flavor = 9}), -EINVAL);
    ASSERT_EQ(weft_rt_new(&bad, &(weft_rt_config){.thread_name = "much-too-long-name"}), -EINVAL);
    ASSERT_EQ(weft_rt_new(&bad, &(weft_rt_config){.thread_name = ""}), -EINVAL);
    weft_rt_free(NULL);
    ASSERT_STREQ(weft_strerror(-ECANCELED), "operation cancelled");
    ASSERT_TRUE(weft_strerror(-EMFILE)[0] != 0);
    ASSERT_TRUE(weft_strerror(-123456)[0] != 0);
    weft_rt_free(rt);
}

/* ---- join_wait from a worker is refused */
struct wait_in_task {
    weft_join *j;
};
static weft_poll wait_in_task_poll(void *st, weft_cx *cx, void *out)
{
    (void)cx;
    *(int *)out = weft_join_wait(((struct wait_in_task *)st)->j, NULL, 0);
    return WEFT_READY;
}
static const weft_future_type wait_in_task_type = {.poll = wait_in_task_poll,
                                                   .state_size = sizeof(struct wait_in_task),
                                                   .out_size = sizeof(int)};

TEST(join_wait_on_a_worker_is_edeadlk)
{
    for (int f = 0; f < 2; f++) {
        weft_rt *rt = make((weft_rt_flavor)f);
        weft_join *j;
        ASSERT_EQ(weft_spawn(rt, &dbl_type, &(struct dbl){1}, &j), 0);
        int out = 0;
        ASSERT_EQ(weft_rt_block_on(rt, &wait_in_task_type, &(struct wait_in_task){j}, &out), 0);
        ASSERT_EQ(out, -EDEADLK);
        ASSERT_EQ(weft_join_wait(j, NULL, 0), 0);
        weft_rt_free(rt);
    }
}

/* ---- builder */
static _Atomic int starts, stops;
static void on_start(void *arg)
{
    ASSERT_TRUE(arg == &starts);
    ASSERT_TRUE(weft_rt_worker_index() >= 0);
    atomic_fetch_add(&starts, 1);
}
static void on_stop(void *arg)
{
    (void)arg;
    atomic_fetch_add(&stops, 1);
}

TEST(builder_validates_and_builds)
{
    weft_rt_builder *b;
    ASSERT_EQ(weft_rt_builder_new(&b, WEFT_RT_MULTI_THREAD), 0);
    ASSERT_EQ(weft_rt_builder_workers(b, 0), -EINVAL);
    ASSERT_EQ(weft_rt_builder_workers(b, 100000), -EINVAL);
    ASSERT_EQ(weft_rt_builder_thread_stack_size(b, 1), -EINVAL);
    ASSERT_EQ(weft_rt_builder_thread_stack_size(b, (size_t)1 << 40), -EINVAL);
    ASSERT_EQ(weft_rt_builder_thread_name(b, NULL), -EINVAL);
    ASSERT_EQ(weft_rt_builder_event_interval(b, 0), -EINVAL);
    ASSERT_EQ(weft_rt_builder_global_queue_interval(b, 0), -EINVAL);
    ASSERT_EQ(weft_rt_builder_on_thread_start(b, NULL, NULL), -EINVAL);
    ASSERT_EQ(weft_rt_builder_workers(b, 3), 0);
    ASSERT_EQ(weft_rt_builder_thread_name(b, "tester"), 0);
    ASSERT_EQ(weft_rt_builder_thread_stack_size(b, 256 << 10), 0);
    ASSERT_EQ(weft_rt_builder_on_thread_start(b, on_start, &starts), 0);
    ASSERT_EQ(weft_rt_builder_on_thread_stop(b, on_stop, &starts), 0);
    ASSERT_EQ(weft_rt_builder_event_interval(b, 31), 0);
    ASSERT_EQ(weft_rt_builder_global_queue_interval(b, 7), 0);
    weft_rt *rt;
    ASSERT_EQ(weft_rt_builder_build(b, &rt), 0);
    weft_rt_builder_free(b);
    ASSERT_EQ(weft_rt_workers(rt), 3);
    ASSERT_EQ(weft_rt_flavor_of(rt), WEFT_RT_MULTI_THREAD);
    int out;
    ASSERT_EQ(weft_rt_block_on(rt, &parent_type, NULL, &out), 0);
    weft_rt_free(rt);
    ASSERT_EQ(atomic_load(&starts), 3);
    ASSERT_EQ(atomic_load(&stops), 3);
    ASSERT_EQ(weft_rt_builder_new(NULL, WEFT_RT_MULTI_THREAD), -EINVAL);
    ASSERT_EQ(weft_rt_builder_build(NULL, &rt), -EINVAL);
    weft_rt_builder_free(NULL);
}

TEST_MAIN()
