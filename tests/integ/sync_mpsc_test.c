/* mpsc channels: bounded and unbounded, try and async paths, close from both sides, FIFO
 * waiting senders and their cancellation (a dropped send never sent; its slot goes on),
 * element sizes, ring wrap-around, then producers on workers and on foreign threads. */
#include <sched.h>

#include "../unit/sync/sync_testutil.h"

static weft_poll recv1(weft_mpsc_receiver *rx, struct twaker *tw, void *v, int *r)
{
    weft_cx cx = tw_cx(tw);
    return weft_mpsc_recv_poll(rx, &cx, v, r);
}

static weft_poll send1(weft_mpsc_send *s, struct twaker *tw, int *r)
{
    weft_cx cx = tw_cx(tw);
    return weft_mpsc_send_poll(s, &cx, r);
}

TEST(bounded_try_paths)
{
    weft_mpsc_sender *tx;
    weft_mpsc_receiver *rx;
    uint64_t v;
    ASSERT_EQ(weft_mpsc_new(&tx, &rx, sizeof v, 2), 0);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), -EAGAIN);
    v = 1;
    ASSERT_EQ(weft_mpsc_try_send(tx, &v), 0);
    v = 2;
    ASSERT_EQ(weft_mpsc_try_send(tx, &v), 0);
    v = 3;
    ASSERT_EQ(weft_mpsc_try_send(tx, &v), -EAGAIN);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), 0);
    ASSERT_EQ(v, 1);
    v = 3;
    ASSERT_EQ(weft_mpsc_try_send(tx, &v), 0);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), 0);
    ASSERT_EQ(v, 2);
    ASSERT_EQ(weft_mpsc_try_recv(rx, NULL), 0); /* discard 3 */
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), -EAGAIN);
    weft_mpsc_sender_drop(tx);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), -EPIPE);
    weft_mpsc_receiver_drop(rx);
}

TEST(recv_parks_and_send_wakes)
{
    for (int bounded = 0; bounded < 2; bounded++) {
        weft_mpsc_sender *tx;
        weft_mpsc_receiver *rx;
        struct twaker tw = {0};
        uint64_t v = 0;
        int r;
        ASSERT_EQ(bounded ? weft_mpsc_new(&tx, &rx, 8, 4) : weft_mpsc_unbounded_new(&tx, &rx, 8),
                  0);
        ASSERT_EQ(recv1(rx, &tw, &v, &r), WEFT_PENDING);
        ASSERT_EQ(recv1(rx, &tw, &v, &r), WEFT_PENDING); /* same waker: kept */
        ASSERT_EQ(atomic_load(&tw.refs), 1);
        v = 42;
        ASSERT_EQ(weft_mpsc_try_send(tx, &v), 0);
        ASSERT_EQ(tw_wakes(&tw), 1);
        v = 43;
        ASSERT_EQ(weft_mpsc_try_send(tx, &v), 0);
        ASSERT_EQ(tw_wakes(&tw), 1); /* disarmed by the first wake */
        ASSERT_EQ(recv1(rx, &tw, &v, &r), WEFT_READY);
        ASSERT_EQ(r, 0);
        ASSERT_EQ(v, 42);
        ASSERT_EQ(recv1(rx, &tw, &v, &r), WEFT_READY);
        ASSERT_EQ(v, 43);
        /* a pending recv is woken by the last sender's drop, then sees the close */
        ASSERT_EQ(recv1(rx, &tw, &v, &r), WEFT_PENDING);
        weft_mpsc_sender *tx2;
        ASSERT_EQ(weft_mpsc_sender_clone(tx, &tx2), 0);
        weft_mpsc_sender_drop(tx);
        ASSERT_EQ(tw_wakes(&tw), 1);
        weft_mpsc_sender_drop(tx2);
        ASSERT_EQ(tw_wakes(&tw), 2);
        ASSERT_EQ(recv1(rx, &tw, &v, &r), WEFT_READY);
        ASSERT_EQ(r, -EPIPE);
        weft_mpsc_receiver_drop(rx);
        ASSERT_EQ(atomic_load(&tw.refs), 0);
    }
}

TEST(recv_waker_replaced)
{
    weft_mpsc_sender *tx;
    weft_mpsc_receiver *rx;
    struct twaker x = {0}, y = {0};
    uint64_t v = 1;
    int r;
    ASSERT_EQ(weft_mpsc_new(&tx, &rx, 8, 1), 0);
    ASSERT_EQ(recv1(rx, &x, &v, &r), WEFT_PENDING);
    ASSERT_EQ(recv1(rx, &y, &v, &r), WEFT_PENDING);
    ASSERT_EQ(atomic_load(&x.refs), 0);
    ASSERT_EQ(weft_mpsc_try_send(tx, &v), 0);
    ASSERT_EQ(tw_wakes(&x), 0);
    ASSERT_EQ(tw_wakes(&y), 1);
    weft_mpsc_sender_drop(tx);
    weft_mpsc_receiver_drop(rx);
    ASSERT_EQ(atomic_load(&y.refs), 0);
}

TEST(drain_after_all_senders_dropped)
{
    weft_mpsc_sender *tx;
    weft_mpsc_receiver *rx;
    uint32_t v;
    ASSERT_EQ(weft_mpsc_unbounded_new(&tx, &rx, sizeof v), 0);
    for (v = 0; v < 500; v++)
        ASSERT_EQ(weft_mpsc_try_send(tx, &v), 0);
    weft_mpsc_sender_drop(tx);
    for (uint32_t i = 0; i < 500; i++) {
        ASSERT_EQ(weft_mpsc_try_recv(rx, &v), 0);
        ASSERT_EQ(v, i);
    }
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), -EPIPE);
    weft_mpsc_receiver_drop(rx);
}

TEST(receiver_close_fails_senders_and_still_drains)
{
    weft_mpsc_sender *tx;
    weft_mpsc_receiver *rx;
    struct twaker t1 = {0}, t2 = {0};
    weft_mpsc_send s1, s2;
    uint64_t a = 1, b = 2, c = 3, v;
    int r;
    ASSERT_EQ(weft_mpsc_new(&tx, &rx, 8, 1), 0);
    ASSERT_EQ(weft_mpsc_try_send(tx, &a), 0);
    weft_mpsc_send_init(&s1, tx, &b);
    weft_mpsc_send_init(&s2, tx, &c);
    ASSERT_EQ(send1(&s1, &t1, &r), WEFT_PENDING);
    ASSERT_EQ(send1(&s2, &t2, &r), WEFT_PENDING);
    weft_mpsc_receiver_close(rx);
    weft_mpsc_receiver_close(rx);
    ASSERT_EQ(tw_wakes(&t1), 1);
    ASSERT_EQ(tw_wakes(&t2), 1);
    ASSERT_EQ(send1(&s1, &t1, &r), WEFT_READY);
    ASSERT_EQ(r, -EPIPE);
    ASSERT_EQ(send1(&s2, &t2, &r), WEFT_READY);
    ASSERT_EQ(r, -EPIPE);
    ASSERT_EQ(weft_mpsc_try_send(tx, &a), -EPIPE);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), 0); /* what was sent before the close */
    ASSERT_EQ(v, 1);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), -EPIPE);
    weft_mpsc_sender_drop(tx);
    weft_mpsc_receiver_drop(rx);
    ASSERT_EQ(atomic_load(&t1.refs) + atomic_load(&t2.refs), 0);
}

TEST(waiting_senders_are_fifo)
{
    weft_mpsc_sender *tx;
    weft_mpsc_receiver *rx;
    struct twaker tw[3] = {0};
    weft_mpsc_send s[3];
    uint64_t val[3] = {10, 11, 12}, first = 9, v;
    int r;
    ASSERT_EQ(weft_mpsc_new(&tx, &rx, 8, 1), 0);
    ASSERT_EQ(weft_mpsc_try_send(tx, &first), 0);
    for (int i = 0; i < 3; i++) {
        weft_mpsc_send_init(&s[i], tx, &val[i]);
        ASSERT_EQ(send1(&s[i], &tw[i], &r), WEFT_PENDING);
    }
    ASSERT_EQ(weft_mpsc_try_send(tx, &first), -EAGAIN); /* queued senders go first */
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(weft_mpsc_try_recv(rx, &v), 0); /* frees the slot: granted to s[i] */
        ASSERT_EQ(v, i == 0 ? 9 : val[i - 1]);
        for (int j = 0; j < 3; j++)
            ASSERT_EQ(tw_wakes(&tw[j]), j <= i ? 1 : 0);
        ASSERT_EQ(weft_mpsc_try_recv(rx, &v), -EAGAIN); /* granted, not yet written */
        ASSERT_EQ(send1(&s[i], &tw[i], &r), WEFT_READY);
        ASSERT_EQ(r, 0);
    }
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), 0);
    ASSERT_EQ(v, 12);
    weft_mpsc_sender_drop(tx);
    weft_mpsc_receiver_drop(rx);
}

TEST(receiver_parks_on_granted_slot_and_its_writer_wakes_it)
{
    weft_mpsc_sender *tx;
    weft_mpsc_receiver *rx;
    struct twaker ts = {0}, tr = {0};
    weft_mpsc_send s1;
    uint64_t first = 1, a = 2, v = 0;
    int r;
    ASSERT_EQ(weft_mpsc_new(&tx, &rx, 8, 1), 0);
    ASSERT_EQ(weft_mpsc_try_send(tx, &first), 0);
    weft_mpsc_send_init(&s1, tx, &a);
    ASSERT_EQ(send1(&s1, &ts, &r), WEFT_PENDING);
    ASSERT_EQ(recv1(rx, &tr, &v, &r), WEFT_READY); /* takes 1, grants the slot to s1 */
    ASSERT_EQ(v, 1);
    ASSERT_EQ(tw_wakes(&ts), 1);
    ASSERT_EQ(recv1(rx, &tr, &v, &r), WEFT_PENDING); /* parks on the granted slot... */
    ASSERT_EQ(tw_wakes(&tr), 0);                     /* ...without asking to be re-polled */
    ASSERT_EQ(send1(&s1, &ts, &r), WEFT_READY);      /* the granted writer wakes it */
    ASSERT_EQ(tw_wakes(&tr), 1);
    ASSERT_EQ(recv1(rx, &tr, &v, &r), WEFT_READY);
    ASSERT_EQ(v, 2);
    weft_mpsc_sender_drop(tx);
    weft_mpsc_receiver_drop(rx);
    ASSERT_EQ(atomic_load(&ts.refs) + atomic_load(&tr.refs), 0);
}

TEST(dropped_granted_send_was_not_sent_and_slot_moves_on)
{
    weft_mpsc_sender *tx;
    weft_mpsc_receiver *rx;
    struct twaker t1 = {0}, t2 = {0};
    weft_mpsc_send s1, s2;
    uint64_t first = 1, a = 2, b = 3, v;
    int r;
    ASSERT_EQ(weft_mpsc_new(&tx, &rx, 8, 1), 0);
    ASSERT_EQ(weft_mpsc_try_send(tx, &first), 0);
    weft_mpsc_send_init(&s1, tx, &a);
    weft_mpsc_send_init(&s2, tx, &b);
    ASSERT_EQ(send1(&s1, &t1, &r), WEFT_PENDING);
    ASSERT_EQ(send1(&s2, &t2, &r), WEFT_PENDING);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), 0); /* slot granted to s1 */
    ASSERT_EQ(tw_wakes(&t1), 1);
    weft_mpsc_send_drop(&s1); /* cancelled before READY: a is never sent; its slot is skipped */
    weft_mpsc_send_drop(&s1);
    ASSERT_EQ(tw_wakes(&t2), 0);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), -EAGAIN); /* steps over the skip, grants s2 */
    ASSERT_EQ(tw_wakes(&t2), 1);
    ASSERT_EQ(send1(&s2, &t2, &r), WEFT_READY);
    ASSERT_EQ(r, 0);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), 0);
    ASSERT_EQ(v, 3);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), -EAGAIN);
    /* with nobody waiting behind it, the skipped slot simply frees up */
    ASSERT_EQ(weft_mpsc_try_send(tx, &first), 0);
    weft_mpsc_send_init(&s1, tx, &a);
    ASSERT_EQ(send1(&s1, &t1, &r), WEFT_PENDING);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), 0);
    ASSERT_EQ(v, 1);
    weft_mpsc_send_drop(&s1);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), -EAGAIN); /* skipped, nothing there */
    ASSERT_EQ(weft_mpsc_try_send(tx, &b), 0);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), 0);
    ASSERT_EQ(v, 3);
    /* a queued (not granted) send dropped leaves the queue: later sends are not blocked */
    ASSERT_EQ(weft_mpsc_try_send(tx, &first), 0);
    weft_mpsc_send_init(&s1, tx, &a);
    ASSERT_EQ(send1(&s1, &t1, &r), WEFT_PENDING);
    weft_mpsc_send_drop(&s1);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), 0);
    ASSERT_EQ(weft_mpsc_try_send(tx, &b), 0);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), 0);
    ASSERT_EQ(v, 3);
    weft_mpsc_sender_drop(tx);
    weft_mpsc_receiver_drop(rx);
    ASSERT_EQ(atomic_load(&t1.refs) + atomic_load(&t2.refs), 0);
}

TEST(element_sizes_and_wraparound)
{
    static const size_t sizes[] = {1, 3, 8, 24, 4096};
    static const size_t caps[] = {1, 3, 7, 64};
    unsigned char in[4096], out[4096];
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        for (size_t ci = 0; ci <= sizeof caps / sizeof caps[0]; ci++) {
            weft_mpsc_sender *tx;
            weft_mpsc_receiver *rx;
            bool unbounded = ci == sizeof caps / sizeof caps[0];
            size_t cap = unbounded ? 200 : caps[ci];
            ASSERT_EQ(unbounded ? weft_mpsc_unbounded_new(&tx, &rx, n)
                                : weft_mpsc_new(&tx, &rx, n, cap),
                      0);
            uint32_t sent = 0, got = 0;
            for (int round = 0; round < 40; round++) {
                size_t burst = 1 + (size_t)round % cap;
                for (size_t k = 0; k < burst; k++, sent++) {
                    memset(in, (int)(sent & 0xff), n);
                    memcpy(in, &sent, n < 4 ? n : 4);
                    ASSERT_EQ(weft_mpsc_try_send(tx, in), 0);
                }
                for (size_t k = 0; k < burst; k++, got++) {
                    ASSERT_EQ(weft_mpsc_try_recv(rx, out), 0);
                    memset(in, (int)(got & 0xff), n);
                    memcpy(in, &got, n < 4 ? n : 4);
                    ASSERT_EQ(memcmp(in, out, n), 0);
                }
            }
            ASSERT_EQ(weft_mpsc_try_recv(rx, out), -EAGAIN);
            weft_mpsc_sender_drop(tx);
            weft_mpsc_receiver_drop(rx);
        }
    }
}

TEST(create_rejects_bad_sizes)
{
    weft_mpsc_sender *tx = (void *)1;
    weft_mpsc_receiver *rx = (void *)1;
    ASSERT_EQ(weft_mpsc_new(&tx, &rx, 0, 1), -EINVAL);
    ASSERT_TRUE(tx == NULL && rx == NULL);
    ASSERT_EQ(weft_mpsc_new(&tx, &rx, 8, 0), -EINVAL);
    ASSERT_EQ(weft_mpsc_new(&tx, &rx, (64u << 10) + 1, 1), -EINVAL);
    ASSERT_EQ(weft_mpsc_new(&tx, &rx, 8, (1u << 30) + 1), -EINVAL);
    ASSERT_EQ(weft_mpsc_new(&tx, &rx, 64 << 10, 1 << 20), -EINVAL); /* 64 GiB ring */
    ASSERT_EQ(weft_mpsc_unbounded_new(&tx, &rx, 0), -EINVAL);
}

/* ------------------------------------------------------------------ on a runtime */

struct msg {
    uint32_t producer, seq;
};

struct prod {
    WEFT_ASYNC_STATE;
    weft_mpsc_sender *tx; /* owned */
    weft_mpsc_send send;
    struct msg m;
    int n, err;
};

static weft_poll prod_poll(void *state, weft_cx *cx, void *out)
{
    struct prod *p = state;
    (void)out;
    WEFT_ASYNC_BEGIN(p);
    for (p->m.seq = 0; (int)p->m.seq < p->n; p->m.seq++) {
        weft_mpsc_send_init(&p->send, p->tx, &p->m);
        WEFT_AWAIT(p, weft_mpsc_send_poll(&p->send, cx, &p->err));
        if (p->err < 0)
            WEFT_ASYNC_FAIL(p, p->err);
        if (p->m.seq % 7 == 0)
            WEFT_YIELD(p, cx);
    }
    WEFT_ASYNC_END(p);
}

static void prod_drop(void *state)
{
    struct prod *p = state;
    weft_mpsc_send_drop(&p->send);
    weft_mpsc_sender_drop(p->tx);
}

static const weft_future_type prod_type = {
    .name = "prod", .poll = prod_poll, .drop = prod_drop, .state_size = sizeof(struct prod)};

enum { MAXP = 8 };

struct cons {
    WEFT_ASYNC_STATE;
    weft_mpsc_receiver *rx;
    struct msg m;
    uint32_t next[MAXP + 1];
    long total;
    int err;
};

static weft_poll cons_poll(void *state, weft_cx *cx, void *out)
{
    struct cons *c = state;
    WEFT_ASYNC_BEGIN(c);
    for (;;) {
        WEFT_AWAIT(c, weft_mpsc_recv_poll(c->rx, cx, &c->m, &c->err));
        if (c->err < 0)
            break;
        if (c->m.producer > MAXP || c->m.seq != c->next[c->m.producer]++)
            WEFT_ASYNC_FAIL(c, -EPROTO); /* per-producer order broken */
        c->total++;
    }
    *(long *)out = c->total;
    WEFT_ASYNC_END(c);
}

static const weft_future_type cons_type = {
    .name = "cons", .poll = cons_poll, .state_size = sizeof(struct cons), .out_size = sizeof(long)};

struct foreign_arg {
    weft_mpsc_sender *tx; /* owned */
    uint32_t id;
    int n;
};

static void *foreign_sender(void *p)
{
    struct foreign_arg *a = p;
    struct msg m = {.producer = a->id};
    for (m.seq = 0; (int)m.seq < a->n; m.seq++) {
        int r;
        while ((r = weft_mpsc_try_send(a->tx, &m)) == -EAGAIN)
            sched_yield(); /* full, or task senders queued ahead of us (fair) */
        if (r != 0)
            abort();
    }
    weft_mpsc_sender_drop(a->tx);
    return NULL;
}

/* TASKS producer tasks and `threads` producer threads outside the runtime (try_send in a
 * loop), one consumer task checking per-producer order. */
static void producers_run(weft_rt *rt, bool bounded, size_t cap, int threads)
{
    enum { TASKS = 6, THREADS = 2 };
    weft_mpsc_sender *tx;
    weft_mpsc_receiver *rx;
    weft_join *cj, *pj[TASKS];
    pthread_t th[THREADS];
    struct foreign_arg fa[THREADS];
    int n = scaled(20000);
    ASSERT_EQ(bounded ? weft_mpsc_new(&tx, &rx, sizeof(struct msg), cap)
              : cap   ? weft_mpsc_unbounded_new_capped(&tx, &rx, sizeof(struct msg), cap)
                      : weft_mpsc_unbounded_new(&tx, &rx, sizeof(struct msg)),
              0);
    struct cons ci = {.rx = rx};
    ASSERT_EQ(weft_spawn(rt, &cons_type, &ci, &cj), 0);
    for (int i = 0; i < TASKS; i++) {
        struct prod pi = {.m = {.producer = (uint32_t)i}, .n = n};
        ASSERT_EQ(weft_mpsc_sender_clone(tx, &pi.tx), 0);
        ASSERT_EQ(weft_spawn(rt, &prod_type, &pi, &pj[i]), 0);
    }
    for (int i = 0; i < threads; i++) {
        fa[i] = (struct foreign_arg){.id = (uint32_t)(TASKS + i), .n = n / 4};
        ASSERT_EQ(weft_mpsc_sender_clone(tx, &fa[i].tx), 0);
        ASSERT_EQ(pthread_create(&th[i], NULL, foreign_sender, &fa[i]), 0);
    }
    weft_mpsc_sender_drop(tx);
    for (int i = 0; i < TASKS; i++)
        ASSERT_EQ(weft_join_wait(pj[i], NULL, 0), 0);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    long total = 0;
    ASSERT_EQ(weft_join_wait(cj, &total, sizeof total), 0);
    ASSERT_EQ(total, (long)TASKS * n + (long)threads * (n / 4));
    weft_mpsc_receiver_drop(rx);
}

TEST(producers_mt_bounded_small)
{
    weft_rt *rt = rt_mt(2);
    producers_run(rt, true, 1, 0);
    producers_run(rt, true, 5, 1);
    weft_rt_free(rt);
}

TEST(producers_mt_bounded_large)
{
    weft_rt *rt = rt_mt(3);
    producers_run(rt, true, 1024, 2);
    weft_rt_free(rt);
}

TEST(producers_mt_unbounded)
{
    weft_rt *rt = rt_mt(2);
    producers_run(rt, false, 0, 2);
    weft_rt_free(rt);
}

/* An unbounded channel with a cap (issue "bounded memory where users feed work in"). */
TEST(capped_unbounded_try_paths_and_close)
{
    weft_mpsc_sender *tx;
    weft_mpsc_receiver *rx;
    uint64_t v = 0;
    ASSERT_EQ(weft_mpsc_unbounded_new_capped(&tx, &rx, 8, 0), -EINVAL);
    ASSERT_TRUE(tx == NULL && rx == NULL);
    ASSERT_EQ(weft_mpsc_unbounded_new_capped(&tx, &rx, 8, ((size_t)1 << 40) + 1), -EINVAL);
    ASSERT_EQ(weft_mpsc_unbounded_new_capped(&tx, &rx, 8, 100), 0);
    for (v = 0; v < 100; v++) /* crosses block boundaries (63 a block) */
        ASSERT_EQ(weft_mpsc_try_send(tx, &v), 0);
    ASSERT_EQ(weft_mpsc_try_send(tx, &v), -EAGAIN);
    ASSERT_EQ(weft_mpsc_try_send(tx, &v), -EAGAIN);
    ASSERT_EQ(weft_mpsc_refused(tx), 2);
    ASSERT_EQ(weft_mpsc_refused(NULL), 0);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), 0);
    ASSERT_EQ(v, 0);
    v = 100;
    ASSERT_EQ(weft_mpsc_try_send(tx, &v), 0); /* room again */
    ASSERT_EQ(weft_mpsc_try_send(tx, &v), -EAGAIN);

    /* A send waits at the cap and goes through once the receiver takes one. */
    struct twaker tw = {0};
    weft_mpsc_send f;
    int r = 1;
    v = 101;
    weft_mpsc_send_init(&f, tx, &v);
    ASSERT_EQ(send1(&f, &tw, &r), WEFT_PENDING);
    ASSERT_EQ(send1(&f, &tw, &r), WEFT_PENDING);
    uint64_t got;
    ASSERT_EQ(weft_mpsc_try_recv(rx, &got), 0);
    ASSERT_EQ(got, 1);
    ASSERT_GE(tw_wakes(&tw), 1);
    ASSERT_EQ(send1(&f, &tw, &r), WEFT_READY);
    ASSERT_EQ(r, 0);
    for (uint64_t want = 2; want <= 101; want++) {
        ASSERT_EQ(weft_mpsc_try_recv(rx, &got), 0);
        ASSERT_EQ(got, want);
    }
    ASSERT_EQ(weft_mpsc_try_recv(rx, &got), -EAGAIN);

    /* Fill again; a waiting send is failed by the receiver's close; a dropped one is gone. */
    for (v = 0; v < 100; v++)
        ASSERT_EQ(weft_mpsc_try_send(tx, &v), 0);
    weft_mpsc_send g;
    weft_mpsc_send_init(&f, tx, &v);
    weft_mpsc_send_init(&g, tx, &v);
    ASSERT_EQ(send1(&f, &tw, &r), WEFT_PENDING);
    ASSERT_EQ(send1(&g, &tw, &r), WEFT_PENDING);
    weft_mpsc_send_drop(&g);
    weft_mpsc_receiver_close(rx);
    ASSERT_EQ(send1(&f, &tw, &r), WEFT_READY);
    ASSERT_EQ(r, -EPIPE);
    ASSERT_EQ(weft_mpsc_try_send(tx, &v), -EPIPE);
    for (v = 0; v < 100; v++) {
        ASSERT_EQ(weft_mpsc_try_recv(rx, &got), 0); /* what was sent still drains */
        ASSERT_EQ(got, v);
    }
    weft_mpsc_sender_drop(tx);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &got), -EPIPE);
    weft_mpsc_receiver_drop(rx);
    ASSERT_EQ(atomic_load(&tw.refs), 0);
}

TEST(producers_mt_capped_unbounded)
{
    weft_rt *rt = rt_mt(2);
    producers_run(rt, false, 3, 2);
    producers_run(rt, false, 100, 1);
    weft_rt_free(rt);
}

TEST(producers_ct)
{
    weft_rt *rt = rt_ct();
    struct cons ci = {0};
    (void)ci;
    /* current-thread: run producers and the consumer as tasks under one block_on */
    weft_mpsc_sender *tx;
    weft_mpsc_receiver *rx;
    weft_join *pj[3];
    ASSERT_EQ(weft_mpsc_new(&tx, &rx, sizeof(struct msg), 2), 0);
    for (int i = 0; i < 3; i++) {
        struct prod pi = {.m = {.producer = (uint32_t)i}, .n = scaled(5000)};
        ASSERT_EQ(weft_mpsc_sender_clone(tx, &pi.tx), 0);
        ASSERT_EQ(weft_spawn(rt, &prod_type, &pi, &pj[i]), 0);
    }
    weft_mpsc_sender_drop(tx);
    long total = 0;
    struct cons c2 = {.rx = rx};
    ASSERT_EQ(weft_rt_block_on(rt, &cons_type, &c2, &total), 0);
    ASSERT_EQ(total, 3L * scaled(5000));
    for (int i = 0; i < 3; i++)
        weft_join_detach(pj[i]);
    weft_mpsc_receiver_drop(rx);
    weft_rt_free(rt);
}

TEST_MAIN()
