/* The inject-queue cap (weft_rt_config.max_inject): spawns from outside the runtime fail with
 * -EAGAIN while the cap's worth of tasks waits, the refusals are counted, and spawns from the
 * runtime's own threads are never refused. */
// labels: allocator
#include <stdatomic.h>
#include <unistd.h>

#include "test.h"
#include "weft.h"

static _Atomic int ran;

static weft_poll count_poll(void *st, weft_cx *cx, void *out)
{
    (void)st, (void)cx, (void)out;
    atomic_fetch_add(&ran, 1);
    return WEFT_READY;
}
static const weft_future_type count_type = {.name = "count", .poll = count_poll};

/* Spawns 20 tasks from inside the runtime: its own queue, no cap. */
static weft_poll inside_poll(void *st, weft_cx *cx, void *out)
{
    (void)st, (void)out;
    for (int i = 0; i < 20; i++)
        if (weft_spawn(weft_cx_rt(cx), &count_type, NULL, NULL) != 0)
            return WEFT_FAIL(-EIO);
    return WEFT_READY;
}
static const weft_future_type inside_type = {.name = "inside", .poll = inside_poll};

static uint64_t refused(weft_rt *rt)
{
    weft_rt_metrics m;
    ASSERT_EQ(weft_rt_metrics_get(rt, &m, sizeof m), 0);
    return m.inject_refused;
}

TEST(current_thread_cap_refuses_foreign_spawns_only)
{
    weft_rt *rt = NULL;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = WEFT_RT_CURRENT_THREAD,
                                                 .max_inject = 5}),
              0);
    atomic_store(&ran, 0);
    /* Nothing runs a current-thread runtime until block_on: these wait in the inject queue. */
    for (int i = 0; i < 5; i++)
        ASSERT_EQ(weft_spawn(rt, &count_type, NULL, NULL), 0);
    weft_join *j = (weft_join *)1;
    ASSERT_EQ(weft_spawn(rt, &count_type, NULL, &j), -EAGAIN);
    ASSERT_TRUE(j == NULL);
    ASSERT_EQ(refused(rt), 1);
    /* The runtime's own thread is not capped; the queued five run too. */
    ASSERT_EQ(weft_rt_block_on(rt, &inside_type, NULL, NULL), 0);
    ASSERT_EQ(weft_rt_block_on(rt, &count_type, NULL, NULL), 0);
    ASSERT_EQ(atomic_load(&ran), 5 + 20 + 1);
    ASSERT_EQ(refused(rt), 1);
    /* Drained: foreign spawns are accepted again. */
    ASSERT_EQ(weft_spawn(rt, &count_type, NULL, NULL), 0);
    weft_rt_free(rt);
}

static _Atomic int release_worker;

static weft_poll hog_poll(void *st, weft_cx *cx, void *out)
{
    (void)st, (void)cx, (void)out;
    while (!atomic_load(&release_worker))
        ; /* keeps the only worker busy so that foreign spawns pile up */
    return WEFT_READY;
}
static const weft_future_type hog_type = {.name = "hog", .poll = hog_poll};

TEST(multi_thread_cap_and_metric)
{
    weft_rt *rt = NULL;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 1, .max_inject = 8,
                                                 .stuck_threshold = -1}),
              0);
    atomic_store(&ran, 0);
    atomic_store(&release_worker, 0);
    weft_join *hog;
    ASSERT_EQ(weft_spawn(rt, &hog_type, NULL, &hog), 0);
    usleep(20000); /* the worker has taken the hog and spins in it */
    int ok = 0, again = 0;
    for (int i = 0; i < 50; i++) {
        int err = weft_spawn(rt, &count_type, NULL, NULL);
        if (err == 0)
            ok++;
        else if (err == -EAGAIN)
            again++;
        else
            ASSERT_EQ(err, 0);
    }
    ASSERT_EQ(ok, 8);
    ASSERT_EQ(again, 42);
    ASSERT_EQ(refused(rt), 42);
    atomic_store(&release_worker, 1);
    ASSERT_EQ(weft_join_wait(hog, NULL, 0), 0);
    while (atomic_load(&ran) < 8)
        usleep(1000);
    weft_rt_free(rt);
}

TEST(builder_and_defaults)
{
    weft_rt_builder *b = NULL;
    ASSERT_EQ(weft_rt_builder_new(&b, WEFT_RT_MULTI_THREAD), 0);
    ASSERT_EQ(weft_rt_builder_max_inject(b, 0), -EINVAL);
    ASSERT_EQ(weft_rt_builder_max_inject(b, ((size_t)1 << 40) + 1), -EINVAL);
    ASSERT_EQ(weft_rt_builder_max_inject(NULL, 4), -EINVAL);
    ASSERT_EQ(weft_rt_builder_max_inject(b, 4), 0);
    weft_rt *rt = NULL;
    ASSERT_EQ(weft_rt_builder_build(b, &rt), 0);
    weft_rt_builder_free(b);
    weft_rt_free(rt);
    /* No cap by default: many foreign spawns on a fresh current-thread runtime all queue. */
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = WEFT_RT_CURRENT_THREAD}), 0);
    for (int i = 0; i < 1000; i++)
        ASSERT_EQ(weft_spawn(rt, &count_type, NULL, NULL), 0);
    ASSERT_EQ(refused(rt), 0);
    weft_rt_free(rt);
}

TEST_MAIN()
