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

#include "fiber_guard.h"

static weft_rt *rt;
static weft_stream *rd_stream;
static weft_join *b_join;
static const struct guard_opts guard = {.yields = 300};

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
    for (int i = 0; i < yields_before_drop; i++)
        if (weft_fiber_yield() < 0)
            return -ECANCELED;
    weft_read_some_drop(&rd); /* the cancel goes out; the operation ends later */
    return weft_fiber_spawn(rt, guard_fiber, (void *)&guard, NULL, &b_join);
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
        ASSERT_EQ(out, 0); /* -EFAULT: the reactor wrote into a stack a new fiber was using */

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
