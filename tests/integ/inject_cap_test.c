/* The inject-queue cap (weft_rt_config.max_inject, weft_rt_builder_max_inject): spawns from a
 * thread that is not one of the runtime's fail with -EAGAIN once that many tasks wait in the
 * inject queues, the refusal is counted (weft_rt_metrics.inject_refused and the Prometheus
 * counter weft_inject_refused_total), spawns from inside the runtime are never refused, the
 * queue takes spawns again once it drains, and bad caps are -EINVAL. Both flavours. */
// labels: caps
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "test.h"
#include "weft.h"

/* ------------------------------------------------------------------ futures */

static atomic_int ran;

static weft_poll count_poll(void *state, weft_cx *cx, void *out)
{
    (void)state, (void)cx, (void)out;
    atomic_fetch_add(&ran, 1);
    return WEFT_READY;
}
static const weft_future_type count_type = {.name = "count", .poll = count_poll};

/* Holds its worker (a busy wait, on purpose) until *gate is set: the inject queue then fills
 * because nobody drains it. */
static weft_poll hold_poll(void *state, weft_cx *cx, void *out)
{
    (void)cx, (void)out;
    atomic_int *gate = *(atomic_int **)state;
    atomic_store(gate + 1, 1); /* entered */
    while (!atomic_load(gate))
        ;
    return WEFT_READY;
}
static const weft_future_type hold_type = {
    .name = "hold", .poll = hold_poll, .state_size = sizeof(atomic_int *)};

/* Spawns `n` children from inside the runtime (local queue: never refused), joins none. */
static weft_poll spawner_poll(void *state, weft_cx *cx, void *out)
{
    (void)cx;
    int n = *(int *)state, ok = 0;
    for (int i = 0; i < n; i++)
        ok += weft_spawn(weft_rt_current(), &count_type, NULL, NULL) == 0;
    *(int *)out = ok;
    return WEFT_READY;
}
static const weft_future_type spawner_type = {
    .name = "spawner", .poll = spawner_poll, .state_size = sizeof(int), .out_size = sizeof(int)};

static uint64_t refused(weft_rt *rt)
{
    weft_rt_metrics m;
    ASSERT_EQ(weft_rt_metrics_get(rt, &m, sizeof m), 0);
    return m.inject_refused;
}

static void wait_ran(int n)
{
    while (atomic_load(&ran) < n)
        sched_yield();
}

/* ------------------------------------------------------------------ tests */

TEST(multi_thread_foreign_spawn_past_cap_is_eagain)
{
    weft_rt *rt = NULL;
    weft_rt_config cfg = {.workers = 1, .max_inject = 4, .stuck_threshold = -1};
    ASSERT_EQ(weft_rt_new(&rt, &cfg), 0);
    atomic_store(&ran, 0);
    atomic_int gate[2] = {0, 0};
    atomic_int *gp = gate;
    weft_join *h;
    ASSERT_EQ(weft_spawn(rt, &hold_type, &gp, &h), 0);
    while (!atomic_load(&gate[1]))
        sched_yield(); /* the only worker is busy: what follows stays in the inject queue */
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(weft_spawn(rt, &count_type, NULL, NULL), 0);
    weft_join *j = (weft_join *)rt;
    ASSERT_EQ(weft_spawn(rt, &count_type, NULL, &j), -EAGAIN);
    ASSERT_TRUE(j == NULL);
    ASSERT_EQ(weft_spawn_with(rt, &count_type, NULL, &(weft_spawn_opts){.priority = WEFT_PRIO_HIGH},
                              NULL),
              -EAGAIN); /* the cap covers every rank together */
    ASSERT_EQ(refused(rt), 2);
    weft_rt_metrics m;
    ASSERT_EQ(weft_rt_metrics_get(rt, &m, sizeof m), 0);
    ASSERT_EQ(m.inject_queue_depth, 4);

    char buf[1 << 16];
    ssize_t n = weft_metrics_prometheus_format(rt, buf, sizeof buf - 1);
    ASSERT_GT(n, 0);
    buf[n] = 0;
    ASSERT_TRUE(strstr(buf, "# TYPE weft_inject_refused_total counter\n") != NULL);
    ASSERT_TRUE(strstr(buf, "\nweft_inject_refused_total 2\n") != NULL);

    atomic_store(&gate[0], 1);
    ASSERT_EQ(weft_join_wait(h, NULL, 0), 0);
    wait_ran(4);
    /* Drained: foreign spawns are taken again. */
    ASSERT_EQ(weft_spawn(rt, &count_type, NULL, &j), 0);
    ASSERT_EQ(weft_join_wait(j, NULL, 0), 0);
    ASSERT_EQ(atomic_load(&ran), 5);
    ASSERT_EQ(refused(rt), 2);
    weft_rt_free(rt);
}

TEST(current_thread_foreign_spawn_past_cap_is_eagain)
{
    weft_rt *rt = NULL;
    weft_rt_builder *b = NULL;
    ASSERT_EQ(weft_rt_builder_new(&b, WEFT_RT_CURRENT_THREAD), 0);
    ASSERT_EQ(weft_rt_builder_max_inject(b, 3), 0);
    ASSERT_EQ(weft_rt_builder_build(b, &rt), 0);
    weft_rt_builder_free(b);
    atomic_store(&ran, 0);
    /* No thread drives the runtime: spawns from here wait in the inject queue. */
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(weft_spawn(rt, &count_type, NULL, NULL), 0);
    ASSERT_EQ(weft_spawn(rt, &count_type, NULL, NULL), -EAGAIN);
    ASSERT_EQ(refused(rt), 1);
    /* block_on is not a spawn: it is not refused, and it runs the queued tasks. Its task
     * spawns more than the cap from inside the runtime: none refused. */
    int want = 10, ok = 0;
    ASSERT_EQ(weft_rt_block_on(rt, &spawner_type, &want, &ok), 0);
    ASSERT_EQ(ok, 10);
    int64_t dl;
    while (atomic_load(&ran) < 13)
        ASSERT_GE(weft_rt_run_once(rt, &dl), 0);
    ASSERT_EQ(refused(rt), 1);
    ASSERT_EQ(weft_spawn(rt, &count_type, NULL, NULL), 0);
    ASSERT_GE(weft_rt_run_once(rt, &dl), 0);
    ASSERT_EQ(atomic_load(&ran), 14);
    weft_rt_free(rt);
}

TEST(spawns_inside_the_runtime_are_never_refused)
{
    weft_rt *rt = NULL;
    weft_rt_config cfg = {.workers = 2, .max_inject = 1, .stuck_threshold = -1};
    ASSERT_EQ(weft_rt_new(&rt, &cfg), 0);
    atomic_store(&ran, 0);
    int want = 2000, ok = 0; /* far more than a local ring holds: overflow is never refused */
    ASSERT_EQ(weft_rt_block_on(rt, &spawner_type, &want, &ok), 0);
    ASSERT_EQ(ok, 2000);
    wait_ran(2000);
    ASSERT_EQ(refused(rt), 0);
    weft_rt_free(rt);
}

/* Several foreign threads race at the cap: every call is either taken (and runs) or refused
 * (and counted); nothing is lost or run twice. */
struct racer {
    weft_rt *rt;
    int taken, refused;
};

static void *racer_main(void *arg)
{
    struct racer *r = arg;
    for (int i = 0; i < 5000; i++) {
        int err = weft_spawn(r->rt, &count_type, NULL, NULL);
        if (err == 0)
            r->taken++;
        else if (err == -EAGAIN)
            r->refused++;
        else
            return (void *)1;
    }
    return NULL;
}

TEST(racing_foreign_spawners_are_counted_exactly)
{
    weft_rt *rt = NULL;
    weft_rt_config cfg = {.workers = 1, .max_inject = 8, .stuck_threshold = -1};
    ASSERT_EQ(weft_rt_new(&rt, &cfg), 0);
    atomic_store(&ran, 0);
    struct racer r[3] = {{rt, 0, 0}, {rt, 0, 0}, {rt, 0, 0}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(pthread_create(&th[i], NULL, racer_main, &r[i]), 0);
    int taken = 0, nref = 0;
    for (int i = 0; i < 3; i++) {
        void *res;
        ASSERT_EQ(pthread_join(th[i], &res), 0);
        ASSERT_TRUE(res == NULL);
        taken += r[i].taken;
        nref += r[i].refused;
    }
    ASSERT_EQ(taken + nref, 15000);
    wait_ran(taken);
    ASSERT_EQ(refused(rt), (uint64_t)nref);
    weft_rt_free(rt);
    ASSERT_EQ(atomic_load(&ran), taken);
}

TEST(bad_caps_are_einval)
{
    weft_rt_builder *b = NULL;
    ASSERT_EQ(weft_rt_builder_max_inject(NULL, 4), -EINVAL);
    ASSERT_EQ(weft_rt_builder_new(&b, WEFT_RT_MULTI_THREAD), 0);
    ASSERT_EQ(weft_rt_builder_max_inject(b, 0), -EINVAL);
    ASSERT_EQ(weft_rt_builder_max_inject(b, ((size_t)1 << 40) + 1), -EINVAL);
    ASSERT_EQ(weft_rt_builder_max_inject(b, (size_t)-1), -EINVAL);
    ASSERT_EQ(weft_rt_builder_max_inject(b, (size_t)1 << 40), 0);
    weft_rt_builder_free(b);
    /* The config path checks the same range (0 = no cap). */
    weft_rt *rt = (weft_rt *)&b;
    weft_rt_config cfg = {.workers = 1, .max_inject = ((size_t)1 << 40) + 1};
    ASSERT_EQ(weft_rt_new(&rt, &cfg), -EINVAL);
    ASSERT_TRUE(rt == NULL);
}

TEST_MAIN()
