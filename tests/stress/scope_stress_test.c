/* Scopes under concurrency (labels: scope, stress): children ending on every worker while
 * the scope is cancelled from a foreign thread, children spawning siblings, enough children
 * that each worker's list is compacted many times. Every child's drop must run exactly once,
 * close must always return, and nothing may leak (ASan) or race (TSan). */
// labels: scope
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "test.h"
#include "weft.h"
#include "weft/scope.h"

static _Atomic long spawned, dropped;
static _Atomic int cancel_pending; /* the foreign canceller has not run yet: close must wait
                                     (close frees the scope; a cancel after that is a misuse) */

struct kid {
    WEFT_ASYNC_STATE;
    weft_scope *scope;
    int yields, i;
};

static weft_poll kid_poll(void *st, weft_cx *cx, void *out)
{
    struct kid *k = st;
    (void)out;
    WEFT_ASYNC_BEGIN(k);
    for (k->i = 0; k->i < k->yields; k->i++)
        WEFT_YIELD(k, cx);
    WEFT_ASYNC_END(k);
}
static void kid_drop(void *st)
{
    (void)st;
    atomic_fetch_add(&dropped, 1);
}
static const weft_future_type kid_type = {
    .name = "kid", .poll = kid_poll, .drop = kid_drop, .state_size = sizeof(struct kid)};

/* A child that spawns `fanout` real siblings before yielding. */
struct spawner {
    WEFT_ASYNC_STATE;
    weft_scope *scope;
    int fanout, i;
};
static weft_poll spawner_poll(void *st, weft_cx *cx, void *out)
{
    struct spawner *p = st;
    (void)out;
    WEFT_ASYNC_BEGIN(p);
    for (p->i = 0; p->i < p->fanout; p->i++) {
        struct kid k = {.scope = p->scope, .yields = p->i % 3};
        if (weft_scope_spawn(p->scope, &kid_type, &k, NULL) == 0)
            atomic_fetch_add(&spawned, 1);
        WEFT_YIELD(p, cx);
    }
    WEFT_ASYNC_END(p);
}
static void spawner_drop(void *st)
{
    (void)st;
    atomic_fetch_add(&dropped, 1);
}
static const weft_future_type spawner_type = {.name = "spawner",
                                              .poll = spawner_poll,
                                              .drop = spawner_drop,
                                              .state_size = sizeof(struct spawner)};

struct root {
    WEFT_ASYNC_STATE;
    weft_scope *scope;
    int n, i, err, failed;
};
static weft_poll root_poll(void *st, weft_cx *cx, void *out)
{
    struct root *r = st;
    (void)out;
    WEFT_ASYNC_BEGIN(r);
    for (r->i = 0; r->i < r->n; r->i++) {
        int err = r->i % 16 == 0
                      ? weft_scope_spawn(r->scope, &spawner_type,
                                         &(struct spawner){.scope = r->scope, .fanout = 8}, NULL)
                      : weft_scope_spawn(r->scope, &kid_type,
                                         &(struct kid){.scope = r->scope, .yields = r->i % 4},
                                         NULL);
        if (err == 0)
            atomic_fetch_add(&spawned, 1);
        else if (err != -ECANCELED)
            WEFT_ASYNC_FAIL(r, err);
        if (r->i % 64 == 0)
            WEFT_YIELD(r, cx); /* let children end, so the lists get compacted */
    }
    while (atomic_load(&cancel_pending))
        WEFT_YIELD(r, cx);
    WEFT_AWAIT(r, weft_scope_close_poll(r->scope, cx, &r->err, &r->failed));
    WEFT_ASYNC_END(r);
}
static const weft_future_type root_type = {
    .name = "root", .poll = root_poll, .state_size = sizeof(struct root)};

struct canceller {
    weft_scope *scope;
    useconds_t after;
};
static void *cancel_main(void *arg)
{
    struct canceller *c = arg;
    usleep(c->after);
    weft_scope_cancel(c->scope);
    atomic_store(&cancel_pending, 0);
    return NULL;
}

TEST(cancel_from_a_foreign_thread_while_children_end)
{
    int rounds = (int)(60 * weft_test_scale()) + 4;
    for (int round = 0; round < rounds; round++) {
        weft_rt *rt = NULL;
        ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2}), 0);
        atomic_store(&spawned, 0);
        atomic_store(&dropped, 0);
        weft_scope *scope;
        ASSERT_EQ(weft_scope_new(&scope, rt, NULL), 0);
        pthread_t th;
        struct canceller c = {scope, (useconds_t)(round % 5) * 300};
        bool cancel = round % 3 != 0;
        atomic_store(&cancel_pending, cancel);
        if (cancel)
            ASSERT_EQ(pthread_create(&th, NULL, cancel_main, &c), 0);
        ASSERT_EQ(weft_rt_block_on(rt, &root_type, &(struct root){.scope = scope, .n = 3000},
                                   NULL),
                  0);
        if (cancel)
            pthread_join(th, NULL);
        ASSERT_EQ(atomic_load(&dropped), atomic_load(&spawned)); /* each drop exactly once */
        weft_rt_free(rt);
    }
}

TEST(many_children_compacted_and_closed_from_a_thread)
{
    weft_rt *rt = NULL;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2}), 0);
    atomic_store(&spawned, 0);
    atomic_store(&dropped, 0);
    weft_scope *scope;
    ASSERT_EQ(weft_scope_new(&scope, rt, &(weft_scope_opts){.policy = WEFT_SCOPE_COLLECT}), 0);
    /* Spawned from this (foreign) thread: the shared list, under its lock. */
    for (int i = 0; i < 20000; i++) {
        ASSERT_EQ(weft_scope_spawn(scope, &kid_type, &(struct kid){.scope = scope, .yields = i % 2},
                                   NULL),
                  0);
        atomic_fetch_add(&spawned, 1);
    }
    int failed = -1;
    ASSERT_EQ(weft_scope_close_wait(scope, &failed), 0);
    ASSERT_EQ(failed, 0);
    ASSERT_EQ(atomic_load(&dropped), 20000);
    weft_rt_free(rt);
}

TEST_MAIN()
