/* A fiber drops a read whose operation is still in the reactor, then returns. The future
 * lived in the fiber's frame, which is dead (and reused by the fiber's next calls, at the
 * latest its last switch) as soon as the function returns; so the drop must not return before
 * the reactor is done with it. Fiber B, spawned by A just before A returns and run right
 * after it on the same worker, fills a large frame with a pattern and yields while the
 * reactor runs; the pattern must stay intact and the process alive. (Before the synchronous
 * drop, the cancelled operation's completion read a clobbered done pointer: SIGSEGV, or wrote
 * into B's frame once A's stack was pooled.) Both backends, and a second worker that may
 * steal B or run A's later polls.
 */
#include "net_util.h"

#include "weft/fiber.h"

#define PAD 16384
#define MARK 0xA5

static weft_rt *rt;
static weft_stream *rd_stream;
static _Atomic uintptr_t a_future_at; /* where A's read future lived */
static weft_join *b_join;

static int fiber_b(void *arg)
{
    (void)arg;
    volatile unsigned char pad[PAD];
    for (size_t i = 0; i < PAD; i++)
        pad[i] = MARK;
    uintptr_t lo = (uintptr_t)pad, at = atomic_load(&a_future_at);
    int overlap = at >= lo && at < lo + PAD;
    /* Let the worker poll its reactor (every event_interval ticks, and when idle). */
    for (int i = 0; i < 300; i++)
        if (weft_fiber_yield() < 0)
            return -ECANCELED;
    for (size_t i = 0; i < PAD; i++)
        if (pad[i] != MARK)
            return -EFAULT; /* something wrote into this frame */
    return overlap;
}

static int yields_before_drop; /* > 0: A may move to another worker before it drops */

static int fiber_a(void *arg)
{
    (void)arg;
    char buf[64];
    weft_read_some rd;
    weft_cx *cx;
    ssize_t n;
    if (weft_fiber_cx(&cx) < 0)
        return -EINVAL;
    weft_read_some_init(&rd, rd_stream, buf, sizeof buf, WEFT_NEVER);
    if (weft_read_some_poll(&rd, cx, &n) != WEFT_PENDING)
        return -EPROTO; /* nothing was written: the read must wait in the reactor */
    atomic_store(&a_future_at, (uintptr_t)&rd);
    for (int i = 0; i < yields_before_drop; i++)
        if (weft_fiber_yield() < 0)
            return -ECANCELED;
    weft_read_some_drop(&rd); /* the cancel goes out; the operation ends later */
    return weft_fiber_spawn(rt, fiber_b, NULL, NULL, &b_join);
}

static void run_rounds(unsigned workers, int yields, int rounds)
{
    yields_before_drop = yields;
    for (int round = 0; round < rounds; round++) {
        ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = workers}), 0);
        weft_sockaddr addr;
        weft_listener *ln = nu_listen(&addr);
        weft_stream *c;
        nu_tcp_pair(rt, ln, &addr, &c, &rd_stream);

        weft_join *a;
        int out = -1;
        b_join = NULL;
        ASSERT_EQ(weft_fiber_spawn(rt, fiber_a, NULL, NULL, &a), 0);
        ASSERT_EQ(weft_join_wait(a, &out, sizeof out), 0);
        ASSERT_EQ(out, 0);
        ASSERT_TRUE(b_join != NULL);
        ASSERT_EQ(weft_join_wait(b_join, &out, sizeof out), 0);
        ASSERT_GE(out, 0); /* -EFAULT: the reactor wrote into a stack a new fiber was using */

        weft_stream_close(c);
        weft_stream_close(rd_stream);
        weft_listener_close(ln);
        weft_rt_free(rt);
    }
}

TEST(dropping_a_pending_read_waits_for_the_reactor)
{
    run_rounds(1, 0, 20);
}

/* The drop may run on another worker than the one whose reactor holds the operation (A yields
 * between the poll and the drop): that reactor's thread finishes it while the drop waits. */
TEST(dropping_after_moving_to_another_worker)
{
    run_rounds(2, 3, 50);
}

TEST_MAIN()
