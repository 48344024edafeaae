/* A fiber drops a read whose operation is still in the reactor, then returns. The future (and
 * its buffer) lived on the fiber's stack, and the reactor writes into it when the cancelled
 * operation ends. The stack must not be handed to another fiber before that: fiber B, spawned
 * by A just before A returns and run right after it on the same worker, fills a large frame
 * with a pattern and yields while the reactor finishes A's operation; the pattern must stay
 * intact. (Before the fix, B got A's stack from the pool and the completion wrote into B's
 * frame.) Both backends.
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
    weft_read_some_drop(&rd); /* the cancel goes out; the operation ends later */
    return weft_fiber_spawn(rt, fiber_b, NULL, NULL, &b_join);
}

TEST(stack_outlives_a_dropped_read)
{
    for (int round = 0; round < 20; round++) {
        ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 1}), 0);
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

TEST_MAIN()
