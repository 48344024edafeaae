/* Freeing a runtime with work left: every unfinished future is dropped exactly once, joins
 * report -ECANCELED, threads blocked in weft_join_wait are released, nothing leaks (ASan). */
#include <pthread.h>
#include <unistd.h>

#include "test.h"
#include "weft.h"

static _Atomic int drops;

struct idle {
    int polled;
};
static weft_poll idle_poll(void *st, weft_cx *cx, void *out)
{
    (void)cx, (void)out;
    ((struct idle *)st)->polled++;
    return WEFT_PENDING; /* nobody will ever wake it */
}
static void idle_drop(void *st)
{
    (void)st;
    atomic_fetch_add(&drops, 1);
}
static const weft_future_type idle_type = {
    .name = "idle", .poll = idle_poll, .drop = idle_drop, .state_size = sizeof(struct idle)};

/* A task that keeps yielding forever: it is always queued. */
static weft_poll spin_poll(void *st, weft_cx *cx, void *out)
{
    weft_yield y = {0};
    (void)st, (void)out;
    return weft_yield_poll(&y, cx);
}
static const weft_future_type spin_type = {
    .name = "spin", .poll = spin_poll, .drop = idle_drop, .state_size = 8};

TEST(free_drops_idle_and_queued_tasks_once)
{
    for (int f = 0; f < 2; f++) {
        weft_rt *rt;
        ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = f, .workers = 2}), 0);
        atomic_store(&drops, 0);
        weft_join *kept;
        for (int i = 0; i < 500; i++)
            ASSERT_EQ(weft_spawn(rt, &idle_type, NULL, NULL), 0);
        for (int i = 0; i < 10; i++)
            ASSERT_EQ(weft_spawn(rt, &spin_type, NULL, NULL), 0);
        ASSERT_EQ(weft_spawn(rt, &idle_type, NULL, &kept), 0); /* a handle still held */
        usleep(20000);
        weft_rt_free(rt);
        ASSERT_EQ(atomic_load(&drops), 511);
    }
}

struct waiter_arg {
    weft_join *j;
    int result;
};
static void *waiter(void *p)
{
    struct waiter_arg *a = p;
    a->result = weft_join_wait(a->j, NULL, 0);
    return NULL;
}

TEST(free_releases_threads_in_join_wait)
{
    weft_rt *rt;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2}), 0);
    struct waiter_arg a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ(weft_spawn(rt, &idle_type, NULL, &a[i].j), 0);
        a[i].result = 1;
        pthread_create(&th[i], NULL, waiter, &a[i]);
    }
    usleep(20000);
    weft_rt_free(rt);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ASSERT_EQ(a[i].result, -ECANCELED);
    }
}

/* A task whose drop tries to spawn: during shutdown that must fail with -ESHUTDOWN. */
static _Atomic int spawn_in_drop = 1;
struct spawner {
    weft_rt *rt;
};
static void spawner_drop(void *st)
{
    atomic_store(&spawn_in_drop, weft_spawn(((struct spawner *)st)->rt, &idle_type, NULL, NULL));
}
static weft_poll spawner_poll(void *st, weft_cx *cx, void *out)
{
    (void)st, (void)cx, (void)out;
    return WEFT_PENDING; /* never woken */
}
static const weft_future_type spawner_type = {.name = "spawner",
                                              .poll = spawner_poll,
                                              .drop = spawner_drop,
                                              .state_size = sizeof(struct spawner)};

TEST(spawn_during_shutdown_is_eshutdown)
{
    for (int f = 0; f < 2; f++) {
        weft_rt *rt;
        ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = f, .workers = 2}), 0);
        ASSERT_EQ(weft_spawn(rt, &spawner_type, &(struct spawner){rt}, NULL), 0);
        weft_rt_free(rt);
        ASSERT_EQ(atomic_load(&spawn_in_drop), -ESHUTDOWN);
    }
}

TEST(create_and_free_many_runtimes)
{
    for (int i = 0; i < 50; i++) {
        weft_rt *rt;
        ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = i & 1, .workers = 2}), 0);
        ASSERT_EQ(weft_spawn(rt, &idle_type, NULL, NULL), 0);
        weft_rt_free(rt);
    }
}

TEST_MAIN()
