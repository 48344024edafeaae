/* Many interleavings of the mpsc channels (run under TSan too): producer tasks on 2 and 4
 * workers and producer threads outside the runtime, capacities 1, 3, 64 and unbounded, some
 * producer tasks aborted mid-stream, and a consumer that alternates plain receives with
 * select{recv, yield} (so its parked waker keeps changing). Invariants: per producer, values
 * arrive in order with no duplicates; an aborted producer's values are a prefix; everything a
 * finished producer sent arrives. A join_all over receivers fed from foreign threads stresses
 * the combinator's per-child wakers. */
#include <sched.h>

#include "../unit/sync/sync_testutil.h"

enum { TASKS = 6, THREADS = 2, NPROD = TASKS + THREADS };

struct msg {
    uint32_t producer, seq;
};

struct prod {
    WEFT_ASYNC_STATE;
    weft_mpsc_sender *tx; /* owned */
    weft_mpsc_send send;
    struct msg m;
    int n, err;
    _Atomic uint32_t *sent; /* values that completed */
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
        atomic_store(p->sent, p->m.seq + 1);
        if (p->m.seq % 5 == 0)
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

/* select branch 1: a receive; branch 2: a yield (so the select often loses the receive). */
struct recv_branch {
    weft_mpsc_receiver *rx;
    int err;
};
static weft_poll recv_branch_poll(void *state, weft_cx *cx, void *out)
{
    struct recv_branch *b = state;
    return weft_mpsc_recv_poll(b->rx, cx, out, &b->err);
}
static const weft_future_type recv_branch_type = {
    .name = "recv", .poll = recv_branch_poll, .state_size = sizeof(struct recv_branch),
    .out_size = sizeof(struct msg)};

struct yield_branch {
    weft_yield y;
};
static weft_poll yield_branch_poll(void *state, weft_cx *cx, void *out)
{
    (void)out;
    return weft_yield_poll(&((struct yield_branch *)state)->y, cx);
}
static const weft_future_type yield_branch_type = {
    .name = "yield", .poll = yield_branch_poll, .state_size = sizeof(struct yield_branch)};

struct cons {
    WEFT_ASYNC_STATE;
    weft_mpsc_receiver *rx; /* borrowed */
    uint32_t next[NPROD];
    struct msg m;
    long total;
    int err, winner, k;
    struct recv_branch rb;
    struct yield_branch yb;
    weft_child ch[2];
    weft_select sel;
};

static weft_poll cons_poll(void *state, weft_cx *cx, void *out)
{
    struct cons *c = state;
    WEFT_ASYNC_BEGIN(c);
    for (c->k = 0;; c->k++) {
        if (c->k % 3 == 0) {
            c->rb = (struct recv_branch){.rx = c->rx};
            weft_yield_init(&c->yb.y);
            c->ch[0] = (weft_child){.type = &yield_branch_type, .state = &c->yb};
            c->ch[1] = (weft_child){.type = &recv_branch_type, .state = &c->rb, .out = &c->m};
            weft_select_init(&c->sel, c->ch, 2);
            WEFT_AWAIT(c, weft_select_poll(&c->sel, cx, &c->winner));
            if (c->winner == 0)
                continue;
            c->err = c->rb.err;
        } else {
            WEFT_AWAIT(c, weft_mpsc_recv_poll(c->rx, cx, &c->m, &c->err));
        }
        if (c->err < 0)
            break;
        if (c->m.producer >= NPROD || c->m.seq != c->next[c->m.producer])
            WEFT_ASYNC_FAIL(c, -EPROTO); /* out of order or duplicated */
        c->next[c->m.producer]++;
        c->total++;
    }
    memcpy(out, c->next, sizeof c->next);
    WEFT_ASYNC_END(c);
}

static void cons_drop(void *state)
{
    struct cons *c = state;
    weft_select_drop(&c->sel);
    weft_mpsc_receiver_close(c->rx); /* if we failed, producers fail too instead of hanging */
}

static const weft_future_type cons_type = {
    .name = "cons", .poll = cons_poll, .drop = cons_drop, .state_size = sizeof(struct cons),
    .out_size = sizeof(uint32_t) * NPROD};

struct thread_arg {
    weft_mpsc_sender *tx; /* owned */
    uint32_t id;
    int n;
};

static void *thread_producer(void *p)
{
    struct thread_arg *a = p;
    struct msg m = {.producer = a->id};
    for (m.seq = 0; (int)m.seq < a->n; m.seq++) {
        int r;
        while ((r = weft_mpsc_try_send(a->tx, &m)) == -EAGAIN)
            sched_yield();
        if (r != 0)
            abort();
    }
    weft_mpsc_sender_drop(a->tx);
    return NULL;
}

static void run(unsigned workers, size_t cap)
{
    weft_rt *rt = rt_mt(workers);
    weft_mpsc_sender *tx;
    weft_mpsc_receiver *rx;
    weft_join *pj[TASKS], *cj;
    pthread_t th[THREADS];
    struct thread_arg ta[THREADS];
    _Atomic uint32_t sent[TASKS];
    uint32_t got[NPROD];
    int n = scaled(8000);
    ASSERT_EQ(cap ? weft_mpsc_new(&tx, &rx, sizeof(struct msg), cap)
                  : weft_mpsc_unbounded_new(&tx, &rx, sizeof(struct msg)),
              0);
    struct cons ci = {.rx = rx};
    ASSERT_EQ(weft_spawn(rt, &cons_type, &ci, &cj), 0);
    for (int i = 0; i < TASKS; i++) {
        atomic_init(&sent[i], 0);
        struct prod pi = {.m = {.producer = (uint32_t)i}, .n = n, .sent = &sent[i]};
        ASSERT_EQ(weft_mpsc_sender_clone(tx, &pi.tx), 0);
        ASSERT_EQ(weft_spawn(rt, &prod_type, &pi, &pj[i]), 0);
    }
    int tn = cap == 1 ? 0 : n / 8; /* threads cannot queue: keep them off the 1-slot ring */
    for (int i = 0; i < THREADS; i++) {
        ta[i] = (struct thread_arg){.id = (uint32_t)(TASKS + i), .n = tn};
        ASSERT_EQ(weft_mpsc_sender_clone(tx, &ta[i].tx), 0);
        ASSERT_EQ(pthread_create(&th[i], NULL, thread_producer, &ta[i]), 0);
    }
    weft_mpsc_sender_drop(tx);
    weft_join_abort(pj[1]); /* mid-stream */
    weft_join_abort(pj[4]);
    int res[TASKS];
    for (int i = 0; i < TASKS; i++) {
        res[i] = weft_join_wait(pj[i], NULL, 0);
        ASSERT_TRUE(res[i] == 0 || res[i] == -ECANCELED);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    ASSERT_EQ(weft_join_wait(cj, got, sizeof got), 0);
    for (int i = 0; i < TASKS; i++) {
        if (res[i] == 0)
            ASSERT_EQ(got[i], (uint32_t)n);
        else /* an aborted producer: exactly the sends that completed, none after */
            ASSERT_EQ(got[i], atomic_load(&sent[i]));
    }
    for (int i = 0; i < THREADS; i++)
        ASSERT_EQ(got[TASKS + i], (uint32_t)tn);
    weft_mpsc_receiver_drop(rx);
    weft_rt_free(rt);
}

TEST(cap1_two_workers)
{
    run(2, 1);
}

TEST(cap3_four_workers)
{
    run(4, 3);
}

TEST(cap64_two_workers)
{
    run(2, 64);
}

TEST(unbounded_four_workers)
{
    run(4, 0);
}

/* ------------------------------------------------------------------ join_all of receivers */

enum { CHANS = 40 };

struct counted_recv {
    weft_mpsc_receiver *rx;
    int want, got, err;
    uint64_t v;
};

static weft_poll counted_recv_poll(void *state, weft_cx *cx, void *out)
{
    struct counted_recv *c = state;
    (void)out;
    while (c->got < c->want) {
        if (weft_mpsc_recv_poll(c->rx, cx, &c->v, &c->err) == WEFT_PENDING)
            return WEFT_PENDING;
        if (c->err < 0)
            return WEFT_FAIL(c->err);
        c->got++;
    }
    return WEFT_READY;
}

static const weft_future_type counted_recv_type = {
    .name = "counted_recv", .poll = counted_recv_poll, .state_size = sizeof(struct counted_recv)};

struct ja_root {
    WEFT_ASYNC_STATE;
    weft_child *ch;
    weft_join_all ja;
    int err;
};

static weft_poll ja_root_poll(void *state, weft_cx *cx, void *out)
{
    struct ja_root *r = state;
    (void)out;
    WEFT_ASYNC_BEGIN(r);
    weft_join_all_init(&r->ja, r->ch, CHANS);
    WEFT_AWAIT(r, weft_join_all_poll(&r->ja, cx, &r->err));
    if (r->err < 0)
        WEFT_ASYNC_FAIL(r, r->err);
    WEFT_ASYNC_END(r);
}

static void ja_root_drop(void *state)
{
    weft_join_all_drop(&((struct ja_root *)state)->ja);
}

static const weft_future_type ja_root_type = {
    .name = "ja_root", .poll = ja_root_poll, .drop = ja_root_drop,
    .state_size = sizeof(struct ja_root)};

struct feeder_arg {
    weft_mpsc_sender **tx;
    int per, id;
};

static void *feeder(void *p)
{
    struct feeder_arg *a = p;
    for (int k = 0; k < a->per; k++)
        for (int c = a->id; c < CHANS; c += 2) {
            uint64_t v = (uint64_t)k;
            while (weft_mpsc_try_send(a->tx[c], &v) == -EAGAIN)
                sched_yield();
        }
    return NULL;
}

TEST(join_all_of_receivers_fed_by_threads)
{
    static weft_mpsc_sender *tx[CHANS];
    static weft_mpsc_receiver *rx[CHANS];
    static struct counted_recv cr[CHANS];
    static weft_child ch[CHANS];
    weft_rt *rt = rt_mt(2);
    weft_join *j;
    pthread_t th[2];
    struct feeder_arg fa[2];
    int per = scaled(300);
    for (int c = 0; c < CHANS; c++) {
        ASSERT_EQ(c % 2 ? weft_mpsc_new(&tx[c], &rx[c], 8, 2)
                        : weft_mpsc_unbounded_new(&tx[c], &rx[c], 8),
                  0);
        cr[c] = (struct counted_recv){.rx = rx[c], .want = per};
        ch[c] = (weft_child){.type = &counted_recv_type, .state = &cr[c]};
    }
    struct ja_root init = {.ch = ch};
    ASSERT_EQ(weft_spawn(rt, &ja_root_type, &init, &j), 0);
    for (int i = 0; i < 2; i++) {
        fa[i] = (struct feeder_arg){.tx = tx, .per = per, .id = i};
        ASSERT_EQ(pthread_create(&th[i], NULL, feeder, &fa[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    ASSERT_EQ(weft_join_wait(j, NULL, 0), 0);
    for (int c = 0; c < CHANS; c++) {
        ASSERT_EQ(cr[c].got, per);
        weft_mpsc_sender_drop(tx[c]);
        weft_mpsc_receiver_drop(rx[c]);
    }
    weft_rt_free(rt);
}

TEST_MAIN()
