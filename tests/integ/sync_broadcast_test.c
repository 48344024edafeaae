/* broadcast (every receiver sees every value, lag reporting, close) and watch (latest value,
 * changed, close), hand-polled and on a runtime. */
#include "../unit/sync/sync_testutil.h"

TEST(broadcast_every_receiver_sees_every_value)
{
    weft_broadcast_sender *tx;
    weft_broadcast_receiver *r1, *r2;
    int v, r;
    uint64_t missed;
    ASSERT_EQ(weft_broadcast_new(&tx, &r1, sizeof v, 4), 0);
    ASSERT_EQ(weft_broadcast_subscribe(tx, &r2), 0);
    for (v = 0; v < 3; v++)
        ASSERT_EQ(weft_broadcast_send(tx, &v), 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(weft_broadcast_try_recv(r1, &v, &missed), 0);
        ASSERT_EQ(v, i);
        ASSERT_EQ(weft_broadcast_try_recv(r2, &v, NULL), 0);
        ASSERT_EQ(v, i);
    }
    ASSERT_EQ(weft_broadcast_try_recv(r1, &v, NULL), -EAGAIN);
    /* a late subscriber sees only what comes after */
    weft_broadcast_receiver *r3;
    ASSERT_EQ(weft_broadcast_subscribe(tx, &r3), 0);
    ASSERT_EQ(weft_broadcast_try_recv(r3, &v, NULL), -EAGAIN);
    weft_broadcast_sender_drop(tx);
    ASSERT_EQ(weft_broadcast_try_recv(r1, &v, NULL), -EPIPE);
    weft_broadcast_receiver_drop(r1);
    weft_broadcast_receiver_drop(r2);
    weft_broadcast_receiver_drop(r3);
    (void)r;
}

TEST(broadcast_lagging_receiver_told_how_many)
{
    weft_broadcast_sender *tx;
    weft_broadcast_receiver *rx;
    int v;
    uint64_t missed = 0;
    ASSERT_EQ(weft_broadcast_new(&tx, &rx, sizeof v, 3), 0);
    for (v = 0; v < 10; v++)
        ASSERT_EQ(weft_broadcast_send(tx, &v), 0);
    ASSERT_EQ(weft_broadcast_try_recv(rx, &v, &missed), -EOVERFLOW);
    ASSERT_EQ(missed, 7);
    for (int i = 7; i < 10; i++) {
        ASSERT_EQ(weft_broadcast_try_recv(rx, &v, &missed), 0);
        ASSERT_EQ(v, i);
    }
    weft_broadcast_receiver_drop(rx);
    v = 1;
    ASSERT_EQ(weft_broadcast_send(tx, &v), -EPIPE); /* nobody listens */
    weft_broadcast_sender_drop(tx);
}

TEST(broadcast_recv_parks_and_wakes)
{
    weft_broadcast_sender *tx, *tx2;
    weft_broadcast_receiver *r1, *r2;
    struct twaker t1 = {0}, t2 = {0};
    int v = 5, r;
    weft_cx c1 = tw_cx(&t1), c2 = tw_cx(&t2);
    ASSERT_EQ(weft_broadcast_new(&tx, &r1, sizeof v, 2), 0);
    ASSERT_EQ(weft_broadcast_subscribe(tx, &r2), 0);
    ASSERT_EQ(weft_broadcast_recv_poll(r1, &c1, &v, &r, NULL), WEFT_PENDING);
    ASSERT_EQ(weft_broadcast_recv_poll(r2, &c2, &v, &r, NULL), WEFT_PENDING);
    ASSERT_EQ(weft_broadcast_recv_poll(r1, &c1, &v, &r, NULL), WEFT_PENDING);
    ASSERT_EQ(weft_broadcast_send(tx, &(int){7}), 0);
    ASSERT_EQ(tw_wakes(&t1), 1);
    ASSERT_EQ(tw_wakes(&t2), 1);
    ASSERT_EQ(weft_broadcast_recv_poll(r1, &c1, &v, &r, NULL), WEFT_READY);
    ASSERT_EQ(r, 0);
    ASSERT_EQ(v, 7);
    ASSERT_EQ(weft_broadcast_sender_clone(tx, &tx2), 0);
    weft_broadcast_sender_drop(tx);
    ASSERT_EQ(weft_broadcast_recv_poll(r1, &c1, &v, &r, NULL), WEFT_PENDING);
    weft_broadcast_sender_drop(tx2); /* last sender: parked receivers wake and see the end */
    ASSERT_EQ(tw_wakes(&t1), 2);
    ASSERT_EQ(weft_broadcast_recv_poll(r1, &c1, &v, &r, NULL), WEFT_READY);
    ASSERT_EQ(r, -EPIPE);
    ASSERT_EQ(weft_broadcast_recv_poll(r2, &c2, &v, &r, NULL), WEFT_READY);
    ASSERT_EQ(r, 0); /* r2 still had 7 */
    ASSERT_EQ(weft_broadcast_recv_poll(r2, &c2, &v, &r, NULL), WEFT_READY);
    ASSERT_EQ(r, -EPIPE);
    weft_broadcast_receiver_drop(r1);
    weft_broadcast_receiver_drop(r2);
    ASSERT_EQ(atomic_load(&t1.refs) + atomic_load(&t2.refs), 0);
}

TEST(broadcast_receiver_dropped_while_parked)
{
    weft_broadcast_sender *tx;
    weft_broadcast_receiver *rx;
    struct twaker tw = {0};
    int v, r;
    weft_cx cx = tw_cx(&tw);
    ASSERT_EQ(weft_broadcast_new(&tx, &rx, sizeof v, 2), 0);
    ASSERT_EQ(weft_broadcast_recv_poll(rx, &cx, &v, &r, NULL), WEFT_PENDING);
    weft_broadcast_receiver_drop(rx);
    ASSERT_EQ(atomic_load(&tw.refs), 0);
    ASSERT_EQ(weft_broadcast_send(tx, &(int){1}), -EPIPE);
    weft_broadcast_sender_drop(tx);
}

/* ------------------------------------------------------------------ watch */

TEST(watch_changed_and_borrow)
{
    weft_watch_sender *tx;
    weft_watch_receiver *rx, *rx2;
    struct twaker tw = {0};
    int v = 0, r, init = 100;
    weft_cx cx = tw_cx(&tw);
    ASSERT_EQ(weft_watch_new(&tx, &rx, sizeof v, &init), 0);
    ASSERT_EQ(weft_watch_borrow(rx, &v), 0);
    ASSERT_EQ(v, 100);
    ASSERT_EQ(weft_watch_changed_poll(rx, &cx, &r), WEFT_PENDING); /* initial counts as seen */
    ASSERT_EQ(weft_watch_send(tx, &(int){1}), 0);
    ASSERT_EQ(weft_watch_send(tx, &(int){2}), 0);
    ASSERT_EQ(tw_wakes(&tw), 1);
    ASSERT_EQ(weft_watch_changed_poll(rx, &cx, &r), WEFT_READY);
    ASSERT_EQ(r, 0);
    ASSERT_EQ(weft_watch_borrow(rx, &v), 0);
    ASSERT_EQ(v, 2); /* only the latest */
    ASSERT_EQ(weft_watch_changed_poll(rx, &cx, &r), WEFT_PENDING);
    ASSERT_EQ(weft_watch_receiver_clone(rx, &rx2), 0);
    ASSERT_EQ(weft_watch_send(tx, &(int){3}), 0);
    ASSERT_EQ(weft_watch_borrow_and_update(rx2, &v), 0);
    ASSERT_EQ(v, 3);
    struct twaker t2 = {0};
    weft_cx c2 = tw_cx(&t2);
    ASSERT_EQ(weft_watch_changed_poll(rx2, &c2, &r), WEFT_PENDING); /* marked seen */
    ASSERT_EQ(weft_watch_changed_poll(rx, &cx, &r), WEFT_READY);
    weft_watch_sender_drop(tx);
    ASSERT_EQ(tw_wakes(&t2), 1);
    ASSERT_EQ(weft_watch_changed_poll(rx2, &c2, &r), WEFT_READY);
    ASSERT_EQ(r, -EPIPE);
    ASSERT_EQ(weft_watch_borrow(rx2, &v), 0); /* still readable */
    ASSERT_EQ(v, 3);
    weft_watch_receiver_drop(rx);
    weft_watch_receiver_drop(rx2);
    ASSERT_EQ(atomic_load(&tw.refs) + atomic_load(&t2.refs), 0);
}

TEST(watch_send_without_receivers_still_stores)
{
    weft_watch_sender *tx;
    weft_watch_receiver *rx;
    int v;
    ASSERT_EQ(weft_watch_new(&tx, &rx, sizeof v, NULL), 0);
    ASSERT_EQ(weft_watch_borrow(rx, &v), 0);
    ASSERT_EQ(v, 0);
    weft_watch_receiver_drop(rx);
    ASSERT_EQ(weft_watch_send(tx, &(int){9}), -EPIPE);
    ASSERT_EQ(weft_watch_subscribe(tx, &rx), 0);
    ASSERT_EQ(weft_watch_borrow(rx, &v), 0);
    ASSERT_EQ(v, 9);
    weft_watch_sender_drop(tx);
    weft_watch_receiver_drop(rx);
}

/* ------------------------------------------------------------------ on a runtime */

struct bcast_rx {
    WEFT_ASYNC_STATE;
    weft_broadcast_receiver *rx; /* owned */
    int v, err, expect;
    uint64_t missed;
    long got;
};

static weft_poll bcast_rx_poll(void *state, weft_cx *cx, void *out)
{
    struct bcast_rx *b = state;
    WEFT_ASYNC_BEGIN(b);
    for (;;) {
        WEFT_AWAIT(b, weft_broadcast_recv_poll(b->rx, cx, &b->v, &b->err, &b->missed));
        if (b->err == -EPIPE)
            break;
        if (b->err != 0 || b->v != b->expect++)
            WEFT_ASYNC_FAIL(b, -EPROTO); /* capacity covers everything: no lag allowed */
        b->got++;
    }
    *(long *)out = b->got;
    WEFT_ASYNC_END(b);
}

static void bcast_rx_drop(void *state)
{
    weft_broadcast_receiver_drop(((struct bcast_rx *)state)->rx);
}

static const weft_future_type bcast_rx_type = {
    .name = "bcast_rx", .poll = bcast_rx_poll, .drop = bcast_rx_drop,
    .state_size = sizeof(struct bcast_rx), .out_size = sizeof(long)};

TEST(broadcast_on_runtime_from_foreign_thread)
{
    enum { R = 5 };
    weft_rt *rt = rt_mt(2);
    weft_broadcast_sender *tx;
    weft_broadcast_receiver *first;
    weft_join *j[R];
    int n = scaled(5000);
    ASSERT_EQ(weft_broadcast_new(&tx, &first, sizeof(int), (size_t)n), 0);
    for (int i = 0; i < R; i++) {
        struct bcast_rx init = {0};
        if (i == 0)
            init.rx = first;
        else
            ASSERT_EQ(weft_broadcast_subscribe(tx, &init.rx), 0);
        ASSERT_EQ(weft_spawn(rt, &bcast_rx_type, &init, &j[i]), 0);
    }
    for (int v = 0; v < n; v++)
        ASSERT_EQ(weft_broadcast_send(tx, &v), 0);
    weft_broadcast_sender_drop(tx);
    for (int i = 0; i < R; i++) {
        long got = 0;
        ASSERT_EQ(weft_join_wait(j[i], &got, sizeof got), 0);
        ASSERT_EQ(got, n);
    }
    weft_rt_free(rt);
}

TEST_MAIN()
