/* Fiber cancellation: abort and shutdown make the pending await fail with -ECANCELED, the
 * fiber unwinds through its own cleanup, every later await fails at once, and the stack is
 * freed. */
#include <stdatomic.h>
#include <unistd.h>

#include "fiber/fiber.h"
#include "test.h"
#include "weft.h"

static weft_rt *mt(void)
{
    weft_rt *rt = NULL;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2}), 0);
    return rt;
}

static void wait_for(_Atomic int *v, int want)
{
    for (int i = 0; i < 10000 && atomic_load(v) < want; i++)
        usleep(500);
    ASSERT_EQ(atomic_load(v), want);
}

/* ------------------------------------------------------------------ abort while pending */

struct parked {
    weft_oneshot *ch;     /* never sent */
    _Atomic int parked;   /* the fiber is about to await */
    _Atomic int cleaned;  /* cleanup ran */
    int first, later, later_yield, saw_cancelled;
};

static int park_forever(void *arg)
{
    struct parked *p = arg;
    atomic_fetch_add(&p->parked, 1);
    p->first = weft_await_oneshot(p->ch, NULL); /* -ECANCELED; releases the receiver */
    p->saw_cancelled = weft_fiber_cancelled();
    /* Every later await fails at once, without suspending. */
    p->later_yield = weft_fiber_yield();
    weft_oneshot *again;
    if (weft_oneshot_new(&again, 0) == 0) {
        p->later = weft_await_oneshot(again, NULL); /* releases its receiver end */
        weft_oneshot_sender_drop(again);
    }
    atomic_fetch_add(&p->cleaned, 1); /* "cleanup code" */
    return 5;                         /* lost: the join reports -ECANCELED */
}

TEST(abort_fails_the_pending_await)
{
    weft_rt *rt = mt();
    static struct parked p;
    weft_join *j;

    ASSERT_EQ(weft_oneshot_new(&p.ch, 0), 0);
    ASSERT_EQ(weft_fiber_spawn(rt, park_forever, &p, NULL, &j), 0);
    wait_for(&p.parked, 1);
    usleep(2000); /* let it suspend */
    ASSERT_TRUE(!weft_join_is_finished(j));
    weft_join_abort(j);
    ASSERT_EQ(weft_join_wait(j, NULL, 0), -ECANCELED);
    ASSERT_EQ(p.first, -ECANCELED);
    ASSERT_EQ(p.later_yield, -ECANCELED);
    ASSERT_EQ(p.later, -ECANCELED);
    ASSERT_EQ(p.saw_cancelled, 1);
    ASSERT_EQ(atomic_load(&p.cleaned), 1);
    ASSERT_EQ(weft_oneshot_send(p.ch, NULL), -EPIPE); /* the fiber released its end */
    weft_rt_free(rt);
}

/* ------------------------------------------------------------------ abort before start */

static int count_runs(void *arg)
{
    _Atomic int *runs = arg;
    int rc = weft_fiber_yield();
    atomic_fetch_add(runs, rc == -ECANCELED ? 100 : 1);
    return 0;
}

static weft_poll noop_poll(void *s, weft_cx *cx, void *out)
{
    (void)s, (void)cx, (void)out;
    return WEFT_READY;
}

TEST(abort_before_first_poll_still_runs_fn_once)
{
    static _Atomic int runs;
    static const weft_future_type noop = {.name = "noop", .poll = noop_poll};
    weft_rt *rt = NULL;
    weft_join *j;

    /* Current-thread: nothing runs until block_on, so the abort lands before the start. */
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = WEFT_RT_CURRENT_THREAD}), 0);
    ASSERT_EQ(weft_fiber_spawn(rt, count_runs, (void *)&runs, NULL, &j), 0);
    weft_join_abort(j);
    ASSERT_EQ(weft_rt_block_on(rt, &noop, NULL, NULL), 0);
    ASSERT_EQ(weft_join_wait(j, NULL, 0), -ECANCELED);
    ASSERT_EQ(atomic_load(&runs), 100); /* ran once, and its await failed at once */
    weft_rt_free(rt);
}

/* ------------------------------------------------------------------ self-abort */

static int abort_self(void *arg)
{
    _Atomic(weft_join *) *self = arg;
    while (!atomic_load(self))
        weft_fiber_yield();
    weft_join_abort(atomic_load(self));
    if (!weft_fiber_cancelled()) /* pending abort is visible before the next await */
        return -EFAULT;
    return weft_fiber_yield() == -ECANCELED ? 0 : -EFAULT;
}

TEST(abort_of_a_running_fiber_lands_at_its_next_await)
{
    weft_rt *rt = mt();
    static _Atomic(weft_join *) self;
    weft_join *j;
    ASSERT_EQ(weft_fiber_spawn(rt, abort_self, (void *)&self, NULL, &j), 0);
    atomic_store(&self, j);
    ASSERT_EQ(weft_join_wait(j, NULL, 0), -ECANCELED);
    weft_rt_free(rt);
}

TEST(abort_after_finish_keeps_result)
{
    weft_rt *rt = mt();
    static _Atomic int runs;
    weft_join *j;
    ASSERT_EQ(weft_fiber_spawn(rt, count_runs, (void *)&runs, NULL, &j), 0);
    while (!weft_join_is_finished(j))
        usleep(100);
    weft_join_abort(j);
    int out = -1;
    ASSERT_EQ(weft_join_wait(j, &out, sizeof out), 0);
    ASSERT_EQ(out, 0);
    weft_rt_free(rt);
}

/* ------------------------------------------------------------------ ignoring cancellation */

static int stubborn(void *arg)
{
    int *spins = arg;
    weft_oneshot *ch;
    if (weft_oneshot_new(&ch, 0) < 0)
        return -ENOMEM;
    weft_await_oneshot(ch, NULL); /* aborted here: ignores the error */
    weft_oneshot_sender_drop(ch);
    /* Keeps going: every await returns -ECANCELED at once, nothing suspends. */
    for (int i = 0; i < 1000; i++)
        if (weft_fiber_yield() == -ECANCELED)
            (*spins)++;
    return 0;
}

TEST(fiber_ignoring_cancellation_runs_to_its_end)
{
    weft_rt *rt = mt();
    static int spins;
    weft_join *j;
    ASSERT_EQ(weft_fiber_spawn(rt, stubborn, &spins, NULL, &j), 0);
    usleep(2000);
    weft_join_abort(j);
    ASSERT_EQ(weft_join_wait(j, NULL, 0), -ECANCELED);
    ASSERT_EQ(spins, 1000);
    weft_rt_free(rt);
}

/* ------------------------------------------------------------------ cancelled while joining */

static int slow_child(void *arg)
{
    _Atomic int *go = arg;
    while (!atomic_load(go))
        weft_fiber_yield();
    return 3;
}

struct joining {
    weft_join *child;
    int rc, was_cancelled;
    _Atomic int waiting;
};

static int join_child(void *arg)
{
    struct joining *s = arg;
    atomic_store(&s->waiting, 1);
    s->rc = weft_await_join(s->child, NULL, 0); /* detaches the child when cancelled */
    s->was_cancelled = weft_fiber_cancelled();
    return 0;
}

TEST(cancelled_joiner_detaches_child)
{
    weft_rt *rt = mt();
    static _Atomic int go;
    static struct joining s;
    weft_join *j;
    ASSERT_EQ(weft_fiber_spawn(rt, slow_child, (void *)&go, NULL, &s.child), 0);
    ASSERT_EQ(weft_fiber_spawn(rt, join_child, &s, NULL, &j), 0);
    wait_for(&s.waiting, 1);
    usleep(1000);
    weft_join_abort(j);
    ASSERT_EQ(weft_join_wait(j, NULL, 0), -ECANCELED);
    ASSERT_EQ(s.rc, -ECANCELED);
    ASSERT_EQ(s.was_cancelled, 1);
    atomic_store(&go, 1); /* the detached child finishes on its own */
    usleep(2000);
    weft_rt_free(rt);
}

/* ------------------------------------------------------------------ shutdown */

struct shut {
    _Atomic int parked, unwound, yields_failed;
};

static int park_until_shutdown(void *arg)
{
    struct shut *s = arg;
    weft_oneshot *ch;
    if (weft_oneshot_new(&ch, 0) < 0)
        return -ENOMEM;
    atomic_fetch_add(&s->parked, 1);
    int rc = weft_await_oneshot(ch, NULL);
    weft_oneshot_sender_drop(ch);
    if (rc == -ECANCELED && weft_fiber_yield() == -ECANCELED)
        atomic_fetch_add(&s->yields_failed, 1);
    atomic_fetch_add(&s->unwound, 1);
    return 0;
}

static int yield_forever_until_cancelled(void *arg)
{
    struct shut *s = arg;
    atomic_fetch_add(&s->parked, 1);
    while (weft_fiber_yield() == 0)
        ;
    atomic_fetch_add(&s->unwound, 1);
    return 0;
}

TEST(shutdown_unwinds_suspended_fibers_and_frees_stacks)
{
    enum { N = 200, Y = 4 };
    static struct shut s;
    uint64_t mapped0, unmapped0, cleaned;
    weft__stack_pool_trim();
    weft__stack_stats(&mapped0, &unmapped0, &cleaned);
    weft_rt *rt = mt();
    for (int i = 0; i < N; i++)
        ASSERT_EQ(weft_fiber_spawn(rt, park_until_shutdown, &s, NULL, NULL), 0);
    for (int i = 0; i < Y; i++)
        ASSERT_EQ(weft_fiber_spawn(rt, yield_forever_until_cancelled, &s, NULL, NULL), 0);
    wait_for(&s.parked, N + Y);
    usleep(2000);
    ASSERT_EQ(atomic_load(&s.unwound), 0);
    weft_rt_free(rt);
    ASSERT_EQ(atomic_load(&s.unwound), N + Y);
    ASSERT_EQ(atomic_load(&s.yields_failed), N);
    /* Every stack is back: unmapped with the worker pools, or pooled on this thread. */
    weft__stack_pool_trim();
    uint64_t mapped1, unmapped1;
    weft__stack_stats(&mapped1, &unmapped1, &cleaned);
    ASSERT_EQ(mapped1 - mapped0, unmapped1 - unmapped0);
}

TEST_MAIN()
