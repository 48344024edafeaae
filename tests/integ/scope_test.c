/* Scopes: close waits for every child, cancellation runs each cleanup exactly once (nested,
 * depth first), fail-fast and collect policies, deadlines, on both executors. */
// labels: scope
#include "test.h"
#include "weft.h"
#include "weft/scope.h"

static _Atomic int finished, dropped;
static _Atomic int spawned_all; /* the parent has spawned its whole batch */

struct kid {
    WEFT_ASYNC_STATE;
    int ms, fail;
    weft_sleep s;
};
static weft_poll kid_poll(void *st, weft_cx *cx, void *out)
{
    struct kid *k = st;
    (void)out;
    WEFT_ASYNC_BEGIN(k);
    /* A failing kid waits for the whole batch to be spawned: failing earlier (a slow spawn
     * loop under TSan) would cancel the scope and refuse the rest of the batch. */
    while (k->fail && !atomic_load(&spawned_all)) {
        weft_sleep_init(&k->s, WEFT_MS(1));
        WEFT_AWAIT(k, weft_sleep_poll(&k->s, cx));
    }
    weft_sleep_init(&k->s, WEFT_MS(k->ms));
    WEFT_AWAIT(k, weft_sleep_poll(&k->s, cx));
    if (k->fail)
        WEFT_ASYNC_FAIL(k, k->fail);
    atomic_fetch_add(&finished, 1);
    WEFT_ASYNC_END(k);
}
static void kid_drop(void *st)
{
    weft_sleep_drop(&((struct kid *)st)->s);
    atomic_fetch_add(&dropped, 1);
}
static const weft_future_type kid_type = {
    .name = "kid", .poll = kid_poll, .drop = kid_drop, .state_size = sizeof(struct kid)};

/* A parent task that opens a scope, spawns a batch, optionally a nested scope, closes. */
struct parent {
    WEFT_ASYNC_STATE;
    int policy, n, fail_at, nested, cancel_after_ms;
    int64_t deadline_ms;
    weft_scope *scope, *inner;
    int i, err, failed;
    weft_sleep s;
};
static weft_poll parent_poll(void *st, weft_cx *cx, void *out)
{
    struct parent *p = st;
    int *res = out;
    WEFT_ASYNC_BEGIN(p);
    ASSERT_EQ(weft_scope_new(&p->scope, weft_cx_rt(cx),
                             &(weft_scope_opts){.policy = p->policy,
                                               .deadline = p->deadline_ms
                                                               ? weft_deadline_in(WEFT_MS(p->deadline_ms))
                                                               : 0}),
              0);
    for (p->i = 0; p->i < p->n; p->i++) {
        struct kid k = {.ms = p->i == p->fail_at ? 2 : 5 + p->i % 20,
                        .fail = p->i == p->fail_at ? -EIO : 0};
        if (p->fail_at < 0 && p->policy == WEFT_SCOPE_COLLECT && p->i % 10 == 3)
            k.fail = -EPERM - (p->i == 3 ? 0 : 1); /* -EPERM first, -ENOENT after */
        if (p->deadline_ms || p->cancel_after_ms)
            k.ms = 10000;
        ASSERT_EQ(weft_scope_spawn(p->scope, &kid_type, &k, NULL), 0);
    }
    atomic_store(&spawned_all, 1);
    if (p->nested) {
        ASSERT_EQ(weft_scope_new(&p->inner, weft_cx_rt(cx), &(weft_scope_opts){.parent = p->scope}), 0);
        for (p->i = 0; p->i < 10; p->i++)
            ASSERT_EQ(weft_scope_spawn(p->inner, &kid_type, &(struct kid){.ms = 10000}, NULL), 0);
    }
    if (p->cancel_after_ms) {
        weft_sleep_init(&p->s, WEFT_MS(p->cancel_after_ms));
        WEFT_AWAIT(p, weft_sleep_poll(&p->s, cx));
        weft_scope_cancel(p->scope);
        ASSERT_EQ(weft_scope_spawn(p->scope, &kid_type, &(struct kid){.ms = 1}, NULL), -ECANCELED);
    }
    if (p->nested)
        WEFT_AWAIT(p, weft_scope_close_poll(p->inner, cx, &p->err, NULL));
    WEFT_AWAIT(p, weft_scope_close_poll(p->scope, cx, &p->err, &p->failed));
    res[0] = p->err;
    res[1] = p->failed;
    WEFT_ASYNC_END(p);
}
static const weft_future_type parent_type = {.name = "parent",
                                             .poll = parent_poll,
                                             .state_size = sizeof(struct parent),
                                             .out_size = 2 * sizeof(int)};

static void run(int flavor, struct parent init, int *err, int *failed)
{
    weft_rt *rt;
    int out[2] = {99, 99};
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = flavor, .workers = 2}), 0);
    atomic_store(&finished, 0);
    atomic_store(&dropped, 0);
    atomic_store(&spawned_all, 0);
    ASSERT_EQ(weft_rt_block_on(rt, &parent_type, &init, out), 0);
    weft_rt_free(rt);
    *err = out[0];
    *failed = out[1];
}

TEST(close_waits_for_every_child)
{
    for (int f = 0; f < 2; f++) {
        int err, failed;
        run(f, (struct parent){.n = 200, .fail_at = -1}, &err, &failed);
        ASSERT_EQ(err, 0);
        ASSERT_EQ(failed, 0);
        ASSERT_EQ(atomic_load(&finished), 200);
        ASSERT_EQ(atomic_load(&dropped), 200);
    }
}

TEST(fail_fast_cancels_siblings)
{
    for (int f = 0; f < 2; f++) {
        int err, failed;
        run(f, (struct parent){.n = 50, .fail_at = 7, .policy = WEFT_SCOPE_FAIL_FAST}, &err, &failed);
        ASSERT_EQ(err, -EIO);
        ASSERT_EQ(failed, 1);
        ASSERT_EQ(atomic_load(&dropped), 50); /* every cleanup ran exactly once */
        ASSERT_LT(atomic_load(&finished), 49);
    }
}

TEST(collect_runs_everyone_and_counts)
{
    for (int f = 0; f < 2; f++) {
        int err, failed;
        run(f, (struct parent){.n = 50, .fail_at = -1, .policy = WEFT_SCOPE_COLLECT}, &err,
            &failed);
        ASSERT_TRUE(err == -EPERM || err == -EPERM - 1); /* the first error to happen */
        ASSERT_EQ(failed, 5);
        ASSERT_EQ(atomic_load(&finished), 45);
        ASSERT_EQ(atomic_load(&dropped), 50);
    }
}

TEST(cancel_is_depth_first_and_cleanup_runs_once)
{
    for (int f = 0; f < 2; f++) {
        int err, failed;
        int64_t t0 = weft_now();
        run(f, (struct parent){.n = 30, .fail_at = -1, .nested = 1, .cancel_after_ms = 10}, &err,
            &failed);
        ASSERT_EQ(err, -ECANCELED);
        ASSERT_EQ(atomic_load(&finished), 0);
        ASSERT_EQ(atomic_load(&dropped), 40);
        ASSERT_LT(weft_now() - t0, WEFT_SEC(5)); /* nobody waited for the 10 s sleeps */
    }
}

TEST(deadline_cancels_what_is_left)
{
    for (int f = 0; f < 2; f++) {
        int err, failed;
        run(f, (struct parent){.n = 20, .fail_at = -1, .deadline_ms = 20}, &err, &failed);
        ASSERT_EQ(err, -ETIMEDOUT);
        ASSERT_EQ(atomic_load(&dropped), 20);
    }
}

TEST(close_wait_from_a_thread_and_bad_arguments)
{
    weft_rt *rt;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2}), 0);
    weft_scope *s;
    atomic_store(&dropped, 0);
    ASSERT_EQ(weft_scope_new(&s, rt, NULL), 0);
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(weft_scope_spawn(s, &kid_type, &(struct kid){.ms = i % 7}, NULL), 0);
    weft_join *j;
    ASSERT_EQ(weft_scope_spawn(s, &kid_type, &(struct kid){.ms = 1}, &j), 0);
    ASSERT_EQ(weft_join_wait(j, NULL, 0), 0);
    int failed = -1;
    ASSERT_EQ(weft_scope_close_wait(s, &failed), 0);
    ASSERT_EQ(failed, 0);
    ASSERT_EQ(atomic_load(&dropped), 101);

    weft_scope *bad = (weft_scope *)1;
    ASSERT_EQ(weft_scope_new(NULL, rt, NULL), -EINVAL);
    ASSERT_EQ(weft_scope_new(&bad, NULL, NULL), -EINVAL);
    ASSERT_TRUE(bad == NULL);
    ASSERT_EQ(weft_scope_new(&bad, rt, &(weft_scope_opts){.policy = 9}), -EINVAL);
    ASSERT_EQ(weft_scope_new(&bad, rt, &(weft_scope_opts){.deadline = -5}), -EINVAL);
    ASSERT_EQ(weft_scope_spawn(NULL, &kid_type, NULL, NULL), -EINVAL);
    ASSERT_EQ(weft_scope_new(&s, rt, NULL), 0);
    ASSERT_EQ(weft_scope_spawn(s, NULL, NULL, NULL), -EINVAL);
    ASSERT_EQ(weft_scope_live(NULL), 0);
    ASSERT_EQ(weft_scope_close_wait(NULL, NULL), -EINVAL);
    weft_scope_cancel(NULL);
    ASSERT_EQ(weft_scope_close_wait(s, NULL), 0);
    weft_rt_free(rt);
}

TEST_MAIN()
