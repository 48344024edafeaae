/* Fibers: spawn, results, every kind of await, both runtime flavours, options. */
#include <stdatomic.h>
#include <unistd.h>

#include "test.h"
#include "weft.h"

static weft_rt *mt(unsigned workers)
{
    weft_rt *rt = NULL;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = workers}), 0);
    return rt;
}

/* ------------------------------------------------------------------ results */

static int return_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

TEST(result_is_output_and_error_is_result)
{
    weft_rt *rt = mt(2);
    weft_join *j;
    int out = -1;

    ASSERT_EQ(weft_fiber_spawn(rt, return_arg, (void *)(intptr_t)42, NULL, &j), 0);
    ASSERT_NE(weft_join_id(j), 0);
    ASSERT_EQ(weft_join_wait(j, &out, sizeof out), 0);
    ASSERT_EQ(out, 42);

    ASSERT_EQ(weft_fiber_spawn(rt, return_arg, (void *)(intptr_t)-EIO, NULL, &j), 0);
    ASSERT_EQ(weft_join_wait(j, &out, sizeof out), -EIO);
    weft_rt_free(rt);
}

TEST(bad_arguments)
{
    weft_rt *rt = mt(1);
    weft_join *j = (weft_join *)1;
    weft_cx *cx = (weft_cx *)1;

    ASSERT_EQ(weft_fiber_spawn(NULL, return_arg, NULL, NULL, &j), -EINVAL);
    ASSERT_TRUE(j == NULL);
    ASSERT_EQ(weft_fiber_spawn(rt, NULL, NULL, NULL, &j), -EINVAL);
    ASSERT_EQ(weft_fiber_spawn(rt, return_arg, NULL,
                               &(weft_fiber_opts){.stack_size = (size_t)2 << 30}, &j),
              -EINVAL);
    ASSERT_EQ(weft_fiber_spawn(rt, return_arg, NULL, &(weft_fiber_opts){.priority = 7}, &j),
              -EINVAL);
    /* Outside a fiber every await says so and consumes nothing. */
    ASSERT_EQ(weft_fiber_yield(), -EPERM);
    ASSERT_EQ(weft_fiber_cx(&cx), -EPERM);
    ASSERT_TRUE(cx == NULL);
    ASSERT_EQ(weft_fiber_suspend(&cx), -EPERM);
    ASSERT_EQ(weft_await_join(NULL, NULL, 0), -EINVAL);
    ASSERT_EQ(weft_await_oneshot(NULL, NULL), -EINVAL);
    ASSERT_EQ(weft_fiber_id(), 0);
    ASSERT_TRUE(!weft_fiber_cancelled());
    weft_oneshot *ch;
    ASSERT_EQ(weft_oneshot_new(&ch, 0), 0);
    ASSERT_EQ(weft_await_oneshot(ch, NULL), -EPERM);
    weft_oneshot_receiver_drop(ch);
    weft_oneshot_sender_drop(ch);
    weft_rt_free(rt);
}

/* ------------------------------------------------------------------ yield, join, oneshot */

static int yielder(void *arg)
{
    int n = (int)(intptr_t)arg;
    uint64_t id = weft_fiber_id();
    for (int i = 0; i < n; i++) {
        if (weft_fiber_yield() != 0)
            return -EFAULT;
        if (weft_fiber_id() != id || weft_task_current_id() != id)
            return -EFAULT;
    }
    return n;
}

static int joiner(void *arg)
{
    weft_rt *rt = weft_rt_current();
    int total = 0;
    weft_join *j[16];
    (void)arg;
    for (int i = 0; i < 16; i++)
        if (weft_fiber_spawn(rt, yielder, (void *)(intptr_t)(i * 3), NULL, &j[i]) < 0)
            return -ENOMEM;
    for (int i = 0; i < 16; i++) {
        int out = -1;
        int r = weft_await_join(j[i], &out, sizeof out);
        if (r < 0)
            return r;
        total += out;
    }
    return total;
}

TEST(fibers_join_fibers)
{
    weft_rt *rt = mt(2);
    weft_join *j;
    int out = 0;
    ASSERT_EQ(weft_fiber_spawn(rt, joiner, NULL, NULL, &j), 0);
    ASSERT_EQ(weft_join_wait(j, &out, sizeof out), 0);
    ASSERT_EQ(out, 3 * (15 * 16 / 2));
    weft_rt_free(rt);
}

struct relay {
    weft_oneshot *in;  /* we receive on it */
    weft_oneshot *out; /* we send on it (NULL: last) */
};

static int relay_fn(void *arg)
{
    struct relay *r = arg;
    long v = 0;
    int err = weft_await_oneshot(r->in, &v);
    if (err < 0)
        return err;
    if (r->out)
        weft_oneshot_send(r->out, &(long){v + 1});
    return (int)v;
}

TEST(oneshot_chain_through_fibers)
{
    enum { N = 200 };
    weft_rt *rt = mt(2);
    static struct relay r[N];
    weft_oneshot *chans[N + 1];
    weft_join *j[N];

    for (int i = 0; i <= N; i++)
        ASSERT_EQ(weft_oneshot_new(&chans[i], sizeof(long)), 0);
    for (int i = 0; i < N; i++) {
        r[i].in = chans[i];
        r[i].out = chans[i + 1];
        ASSERT_EQ(weft_fiber_spawn(rt, relay_fn, &r[i], NULL, &j[i]), 0);
    }
    ASSERT_EQ(weft_oneshot_send(chans[0], &(long){1000}), 0);
    for (int i = 0; i < N; i++) {
        int out = -1;
        ASSERT_EQ(weft_join_wait(j[i], &out, sizeof out), 0);
        ASSERT_EQ(out, 1000 + i);
    }
    weft_oneshot_receiver_drop(chans[N]); /* the last value was sent into it */
    weft_rt_free(rt);
}

static int recv_dropped(void *arg)
{
    return weft_await_oneshot(arg, NULL) == -EPIPE ? 7 : -EFAULT;
}

TEST(oneshot_sender_dropped_gives_epipe)
{
    weft_rt *rt = mt(2);
    weft_oneshot *ch;
    weft_join *j;
    int out = 0;
    ASSERT_EQ(weft_oneshot_new(&ch, 0), 0);
    ASSERT_EQ(weft_fiber_spawn(rt, recv_dropped, ch, NULL, &j), 0);
    usleep(1000);
    weft_oneshot_sender_drop(ch);
    ASSERT_EQ(weft_join_wait(j, &out, sizeof out), 0);
    ASSERT_EQ(out, 7);
    weft_rt_free(rt);
}

/* ------------------------------------------------------------------ generic awaits */

/* A hand-written future: pending `left` times (waking itself), then ready with 99. */
struct countdown {
    int left;
};

static weft_poll countdown_poll(void *state, weft_cx *cx, void *out)
{
    struct countdown *c = state;
    if (c->left-- > 0) {
        weft_waker_wake_by_ref(weft_cx_waker(cx));
        return WEFT_PENDING;
    }
    if (out)
        *(int *)out = 99;
    return WEFT_READY;
}

static weft_poll failing_poll(void *state, weft_cx *cx, void *out)
{
    (void)state, (void)cx, (void)out;
    return WEFT_FAIL(-EBADMSG);
}

static int generic_awaits(void *arg)
{
    (void)arg;
    struct countdown c = {5};
    int v = 0;
    if (weft_await(countdown_poll, &c, &v) != 0 || v != 99 || c.left != -1)
        return -EFAULT;
    if (weft_await(failing_poll, NULL, NULL) != -EBADMSG)
        return -EFAULT;
    if (weft_await(NULL, NULL, NULL) != -EINVAL)
        return -EFAULT;
    /* The macro form: any poll expression. */
    struct countdown d = {3};
    v = 0;
    int rc = WEFT_FIBER_AWAIT(cx, countdown_poll(&d, cx, &v));
    if (rc != 0 || v != 99)
        return -EFAULT;
    /* A state-machine task awaited from a fiber, by join handle. */
    weft_join *j;
    static const weft_future_type cd_type = {.name = "countdown", .poll = countdown_poll,
                                             .state_size = sizeof(struct countdown),
                                             .out_size = sizeof(int)};
    if (weft_spawn(weft_rt_current(), &cd_type, &(struct countdown){10}, &j) < 0)
        return -ENOMEM;
    v = 0;
    if (weft_await_join(j, &v, sizeof v) != 0 || v != 99)
        return -EFAULT;
    return 1;
}

TEST(generic_awaits_work_with_any_future)
{
    weft_rt *rt = mt(2);
    weft_join *j;
    int out = 0;
    ASSERT_EQ(weft_fiber_spawn(rt, generic_awaits, NULL, NULL, &j), 0);
    ASSERT_EQ(weft_join_wait(j, &out, sizeof out), 0);
    ASSERT_EQ(out, 1);
    weft_rt_free(rt);
}

/* A state-machine task joins a fiber: fibers are ordinary tasks to the rest of weft. */
struct sm_join {
    WEFT_ASYNC_STATE;
    weft_join *j;
    int out, err;
};

static weft_poll sm_join_poll(void *state, weft_cx *cx, void *out)
{
    struct sm_join *s = state;
    WEFT_ASYNC_BEGIN(s);
    if ((s->err = weft_fiber_spawn(weft_cx_rt(cx), yielder, (void *)(intptr_t)20, NULL,
                                   &s->j)) < 0)
        WEFT_ASYNC_FAIL(s, s->err);
    WEFT_AWAIT(s, weft_join_poll(s->j, cx, &s->out, sizeof s->out, &s->err));
    *(int *)out = s->err < 0 ? s->err : s->out;
    WEFT_ASYNC_END(s);
}

TEST(state_machine_awaits_fiber)
{
    static const weft_future_type t = {.name = "sm_join", .poll = sm_join_poll,
                                       .state_size = sizeof(struct sm_join),
                                       .out_size = sizeof(int)};
    for (int flavor = 0; flavor < 2; flavor++) {
        weft_rt *rt = NULL;
        ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = flavor, .workers = 2}), 0);
        int out = 0;
        ASSERT_EQ(weft_rt_block_on(rt, &t, NULL, &out), 0);
        ASSERT_EQ(out, 20);
        weft_rt_free(rt);
    }
}

/* ------------------------------------------------------------------ current-thread runtime */

TEST(current_thread_runtime)
{
    weft_rt *rt = NULL;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = WEFT_RT_CURRENT_THREAD}), 0);
    static const weft_future_type t = {.name = "sm_join", .poll = sm_join_poll,
                                       .state_size = sizeof(struct sm_join),
                                       .out_size = sizeof(int)};
    int out = 0;
    ASSERT_EQ(weft_rt_block_on(rt, &t, NULL, &out), 0);
    ASSERT_EQ(out, 20);
    weft_rt_free(rt);
}

/* ------------------------------------------------------------------ stacks */

static int recurse(int depth, volatile char *sink)
{
    volatile char buf[1024];
    buf[0] = (char)depth;
    buf[1023] = (char)depth;
    if (depth == 0)
        return sink[0] + buf[0];
    return recurse(depth - 1, buf) + buf[1023] - (char)depth + 1;
}

static int deep(void *arg)
{
    int depth = (int)(intptr_t)arg;
    weft_fiber_yield(); /* resume mid-way on whichever worker */
    return recurse(depth, (volatile char[1]){0});
}

TEST(big_stack_option_allows_deep_recursion)
{
    weft_rt *rt = mt(2);
    weft_join *j;
    int out = 0;
    /* ~1.2 KiB per frame (more under ASan) x 600 frames: needs the 4 MiB class. */
    ASSERT_EQ(weft_fiber_spawn(rt, deep, (void *)(intptr_t)600,
                               &(weft_fiber_opts){.stack_size = 4u << 20, .name = "deep"}, &j),
              0);
    ASSERT_EQ(weft_join_wait(j, &out, sizeof out), 0);
    ASSERT_EQ(out, 601);
    weft_rt_free(rt);
}

static _Atomic int live;

static int count_live(void *arg)
{
    (void)arg;
    atomic_fetch_add(&live, 1);
    for (int i = 0; i < 3; i++)
        weft_fiber_yield();
    atomic_fetch_sub(&live, 1);
    return 0;
}

TEST(many_fibers_at_once)
{
    int n = (int)(5000 * weft_test_scale());
    weft_rt *rt = mt(2);
    weft_join **j = calloc((size_t)n, sizeof *j);
    for (int i = 0; i < n; i++)
        ASSERT_EQ(weft_fiber_spawn(rt, count_live, NULL, NULL, &j[i]), 0);
    for (int i = 0; i < n; i++)
        ASSERT_EQ(weft_join_wait(j[i], NULL, 0), 0);
    ASSERT_EQ(atomic_load(&live), 0);
    free(j);
    weft_rt_free(rt);
}

static int detached_fn(void *arg)
{
    weft_fiber_yield();
    atomic_fetch_add((_Atomic int *)arg, 1);
    return 0;
}

TEST(detached_fibers_run)
{
    static _Atomic int done;
    weft_rt *rt = mt(2);
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(weft_fiber_spawn(rt, detached_fn, (void *)&done, NULL, NULL), 0);
    for (int i = 0; i < 5000 && atomic_load(&done) < 100; i++)
        usleep(1000);
    ASSERT_EQ(atomic_load(&done), 100);
    weft_rt_free(rt);
}

TEST_MAIN()
