/* join_all and select: only woken children are re-polled, every child is dropped exactly once,
 * errors, yields, the shared budget, the poll-all fallback when the wake set cannot be
 * allocated, and use from the async macros on a runtime (with a timer as a select branch). */
#include "../unit/sync/sync_testutil.h"
#include "core/core.h"

/* A child that waits on its own Notify; counts polls and drops. */
struct nchild {
    weft_notify *n;
    weft_notify_wait w;
    int polls, drops, started, fail;
};

static weft_poll nchild_poll(void *state, weft_cx *cx, void *out)
{
    struct nchild *c = state;
    c->polls++;
    if (!c->started) {
        weft_notify_wait_init(&c->w, c->n);
        c->started = 1;
    }
    if (weft_notify_wait_poll(&c->w, cx) == WEFT_PENDING)
        return WEFT_PENDING;
    if (out)
        *(int *)out = 7;
    return c->fail ? WEFT_FAIL(c->fail) : WEFT_READY;
}

static void nchild_drop(void *state)
{
    struct nchild *c = state;
    c->drops++;
    weft_notify_wait_drop(&c->w);
}

static const weft_future_type nchild_type = {
    .name = "nchild", .poll = nchild_poll, .drop = nchild_drop,
    .state_size = sizeof(struct nchild), .out_size = sizeof(int)};

enum { N = 100 };

struct kids {
    weft_notify *n[N];
    struct nchild st[N];
    int out[N];
    weft_child ch[N];
};

static void kids_init(struct kids *k, int n)
{
    memset(k, 0, sizeof *k);
    for (int i = 0; i < n; i++) {
        ASSERT_EQ(weft_notify_new(&k->n[i]), 0);
        k->st[i].n = k->n[i];
        k->ch[i] = (weft_child){.type = &nchild_type, .state = &k->st[i], .out = &k->out[i]};
    }
}

static void kids_fini(struct kids *k, int n)
{
    for (int i = 0; i < n; i++) {
        ASSERT_EQ(k->st[i].drops, 1); /* every child dropped exactly once */
        weft_notify_free(k->n[i]);
    }
}

TEST(join_all_polls_only_woken_children)
{
    static struct kids k;
    struct twaker tw = {0};
    weft_join_all j;
    int r = 1;
    kids_init(&k, N);
    weft_join_all_init(&j, k.ch, N);
    weft_cx cx = tw_cx(&tw);
    ASSERT_EQ(weft_join_all_poll(&j, &cx, &r), WEFT_PENDING);
    for (int i = 0; i < N; i++)
        ASSERT_EQ(k.st[i].polls, 1);
    weft_notify_one(k.n[17]);
    weft_notify_one(k.n[80]);
    ASSERT_EQ(tw_wakes(&tw), 2);
    ASSERT_EQ(weft_join_all_poll(&j, &cx, &r), WEFT_PENDING);
    for (int i = 0; i < N; i++)
        ASSERT_EQ(k.st[i].polls, (i == 17 || i == 80) ? 2 : 1);
    ASSERT_EQ(k.st[17].drops, 1); /* finished children are dropped at once */
    ASSERT_EQ(k.ch[17].result, 0);
    ASSERT_EQ(k.out[17], 7);
    ASSERT_EQ(weft_join_all_poll(&j, &cx, &r), WEFT_PENDING); /* spurious: polls nobody */
    ASSERT_EQ(k.st[3].polls, 1);
    for (int i = 0; i < N; i++)
        weft_notify_one(k.n[i]);
    ASSERT_EQ(weft_join_all_poll(&j, &cx, &r), WEFT_READY);
    ASSERT_EQ(r, 0);
    for (int i = 0; i < N; i++)
        ASSERT_EQ(k.st[i].polls, 2);
    weft_join_all_drop(&j); /* finished: no-op */
    kids_fini(&k, N);
    ASSERT_EQ(atomic_load(&tw.refs), 0);
}

TEST(join_all_reports_lowest_error_and_drop_cancels_rest)
{
    static struct kids k;
    struct twaker tw = {0};
    weft_join_all j;
    int r;
    kids_init(&k, 4);
    k.st[1].fail = -EIO;
    k.st[3].fail = -ENOENT;
    weft_join_all_init(&j, k.ch, 4);
    weft_cx cx = tw_cx(&tw);
    ASSERT_EQ(weft_join_all_poll(&j, &cx, &r), WEFT_PENDING);
    weft_notify_one(k.n[3]);
    weft_notify_one(k.n[1]);
    weft_notify_one(k.n[0]);
    weft_notify_one(k.n[2]);
    ASSERT_EQ(weft_join_all_poll(&j, &cx, &r), WEFT_READY);
    ASSERT_EQ(r, -EIO);
    ASSERT_EQ(k.ch[1].result, -EIO);
    ASSERT_EQ(k.ch[3].result, -ENOENT);
    kids_fini(&k, 4);

    kids_init(&k, 5);
    weft_join_all_init(&j, k.ch, 5);
    ASSERT_EQ(weft_join_all_poll(&j, &cx, &r), WEFT_PENDING);
    weft_notify_one(k.n[2]);
    ASSERT_EQ(weft_join_all_poll(&j, &cx, &r), WEFT_PENDING);
    weft_join_all_drop(&j);
    weft_join_all_drop(&j);
    ASSERT_EQ(k.ch[2].result, 0);
    ASSERT_EQ(k.ch[0].result, -ECANCELED);
    kids_fini(&k, 5);
    ASSERT_EQ(atomic_load(&tw.refs), 0);

    /* dropped before its first poll: the children are still dropped */
    kids_init(&k, 3);
    weft_join_all_init(&j, k.ch, 3);
    weft_join_all_drop(&j);
    kids_fini(&k, 3);
}

TEST(join_all_empty_and_bad)
{
    struct twaker tw = {0};
    weft_join_all j, z = {{0}};
    weft_child bad[1] = {{.type = NULL}};
    int r = 1;
    weft_cx cx = tw_cx(&tw);
    weft_join_all_init(&j, NULL, 0);
    ASSERT_EQ(weft_join_all_poll(&j, &cx, &r), WEFT_READY);
    ASSERT_EQ(r, 0);
    weft_join_all_init(&j, bad, 1);
    ASSERT_EQ(weft_join_all_poll(&j, &cx, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    ASSERT_EQ(weft_join_all_poll(&z, &cx, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    weft_join_all_init(&j, NULL, 2);
    ASSERT_EQ(weft_join_all_poll(&j, &cx, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
}

TEST(select_first_ready_wins_and_losers_dropped)
{
    static struct kids k;
    struct forever f = {0};
    struct twaker tw = {0};
    weft_select s;
    int w = -1;
    kids_init(&k, 3);
    k.ch[0] = (weft_child){.type = &forever_type, .state = &f};
    weft_select_init(&s, k.ch, 3);
    weft_cx cx = tw_cx(&tw);
    ASSERT_EQ(weft_select_poll(&s, &cx, &w), WEFT_PENDING);
    weft_notify_one(k.n[2]);
    ASSERT_EQ(weft_select_poll(&s, &cx, &w), WEFT_READY);
    ASSERT_EQ(w, 2);
    ASSERT_EQ(f.polls, 1); /* not woken: not polled again */
    ASSERT_EQ(f.drops, 1);
    ASSERT_EQ(k.st[1].drops, 1);
    ASSERT_EQ(k.ch[1].result, -ECANCELED);
    ASSERT_EQ(k.ch[2].result, 0);
    ASSERT_EQ(k.out[2], 7);
    weft_select_drop(&s); /* finished: no-op */
    ASSERT_EQ(f.drops, 1);
    k.st[0].drops = 1; /* slot 0 was the forever child */
    kids_fini(&k, 3);
    ASSERT_EQ(atomic_load(&tw.refs), 0);
}

TEST(select_ties_go_to_lower_index)
{
    static struct kids k;
    struct twaker tw = {0};
    weft_select s;
    int w = -1;
    kids_init(&k, 3);
    weft_notify_one(k.n[1]);
    weft_notify_one(k.n[2]); /* both ready at the first poll */
    weft_select_init(&s, k.ch, 3);
    weft_cx cx = tw_cx(&tw);
    ASSERT_EQ(weft_select_poll(&s, &cx, &w), WEFT_READY);
    ASSERT_EQ(w, 1);
    ASSERT_EQ(k.st[2].polls, 0); /* never polled, still dropped once */
    kids_fini(&k, 3);
    weft_select_init(&s, k.ch, 0);
    ASSERT_EQ(weft_select_poll(&s, &cx, &w), WEFT_READY);
    ASSERT_EQ(w, -EINVAL);
}

TEST(poll_all_fallback_when_wake_set_allocation_fails)
{
    static struct kids k;
    struct twaker tw = {0};
    weft_join_all j;
    int r;
    kids_init(&k, 8);
    weft_join_all_init(&j, k.ch, 8);
    weft_cx cx = tw_cx(&tw);
    weft__alloc_fail_every(1);
    ASSERT_EQ(weft_join_all_poll(&j, &cx, &r), WEFT_PENDING);
    weft__alloc_fail_every(0);
    weft_notify_one(k.n[5]);
    ASSERT_EQ(tw_wakes(&tw), 1); /* children hold the parent's own waker */
    ASSERT_EQ(weft_join_all_poll(&j, &cx, &r), WEFT_PENDING);
    ASSERT_EQ(k.st[0].polls, 2); /* every pending child polled again */
    for (int i = 0; i < 8; i++)
        weft_notify_one(k.n[i]);
    ASSERT_EQ(weft_join_all_poll(&j, &cx, &r), WEFT_READY);
    ASSERT_EQ(r, 0);
    kids_fini(&k, 8);
    ASSERT_EQ(atomic_load(&tw.refs), 0);
}

/* A child that yields `left` times, spending one budget unit per poll, then finishes. */
struct yielder {
    int left;
    weft_yield y;
};

static weft_poll yielder_poll(void *state, weft_cx *cx, void *out)
{
    struct yielder *y = state;
    (void)out;
    if (!weft_cx_budget_take(cx))
        return WEFT_PENDING;
    if (y->left == 0)
        return WEFT_READY;
    y->left--;
    weft_yield_init(&y->y);
    return weft_yield_poll(&y->y, cx);
}

static const weft_future_type yielder_type = {
    .name = "yielder", .poll = yielder_poll, .state_size = sizeof(struct yielder)};

TEST(yields_and_budget_pass_through_by_hand)
{
    struct yielder y[3] = {{.left = 2}, {.left = 0}, {.left = 5}};
    weft_child ch[3];
    struct twaker tw = {0};
    weft_join_all j;
    int r, polls = 0;
    for (int i = 0; i < 3; i++)
        ch[i] = (weft_child){.type = &yielder_type, .state = &y[i]};
    weft_join_all_init(&j, ch, 3);
    weft_cx cx = tw_cx(&tw);
    cx.budget = 1000;
    while (weft_join_all_poll(&j, &cx, &r) == WEFT_PENDING) {
        ASSERT_LT(++polls, 20);
        ASSERT_GT(tw_wakes(&tw), 0); /* a yield by hand wakes the child, hence the parent */
    }
    ASSERT_EQ(r, 0);
    ASSERT_EQ(cx.budget, 1000 - (3 + 1 + 6)); /* every child poll spent the task's budget */
    ASSERT_EQ(atomic_load(&tw.refs), 0);
}

/* ------------------------------------------------------------------ on a runtime */

struct sleeper {
    weft_sleep s;
    int64_t ns;
    int started;
};

static weft_poll sleeper_poll(void *state, weft_cx *cx, void *out)
{
    struct sleeper *s = state;
    (void)out;
    if (!s->started) {
        weft_sleep_init(&s->s, s->ns);
        s->started = 1;
    }
    return weft_sleep_poll(&s->s, cx);
}

static void sleeper_drop(void *state)
{
    weft_sleep_drop(&((struct sleeper *)state)->s);
}

static const weft_future_type sleeper_type = {
    .name = "sleeper", .poll = sleeper_poll, .drop = sleeper_drop,
    .state_size = sizeof(struct sleeper)};

struct recv_child {
    weft_mpsc_receiver *rx;
    int err;
};

static weft_poll recv_child_poll(void *state, weft_cx *cx, void *out)
{
    struct recv_child *c = state;
    return weft_mpsc_recv_poll(c->rx, cx, out, &c->err);
}

static const weft_future_type recv_child_type = {
    .name = "recv", .poll = recv_child_poll, .state_size = sizeof(struct recv_child),
    .out_size = sizeof(int)};

struct root {
    WEFT_ASYNC_STATE;
    weft_mpsc_sender *tx;
    weft_mpsc_receiver *rx;
    struct recv_child rc;
    struct sleeper sl;
    weft_child ch[2];
    weft_select sel;
    struct yielder y[16];
    weft_child ych[16];
    weft_join_all ja;
    int winner, got, err, timeouts;
};

static weft_poll root_poll(void *state, weft_cx *cx, void *out)
{
    struct root *r = state;
    (void)out;
    WEFT_ASYNC_BEGIN(r);
    /* 1: a timeout on an empty channel: the timer branch wins */
    r->rc = (struct recv_child){.rx = r->rx};
    r->sl = (struct sleeper){.ns = WEFT_MS(5)};
    r->ch[0] = (weft_child){.type = &recv_child_type, .state = &r->rc, .out = &r->got};
    r->ch[1] = (weft_child){.type = &sleeper_type, .state = &r->sl};
    weft_select_init(&r->sel, r->ch, 2);
    WEFT_AWAIT(r, weft_select_poll(&r->sel, cx, &r->winner));
    if (r->winner != 1)
        WEFT_ASYNC_FAIL(r, -EPROTO);
    /* 2: with a value there the receive wins the same race */
    if ((r->err = weft_mpsc_try_send(r->tx, &(int){5})) != 0)
        WEFT_ASYNC_FAIL(r, r->err);
    r->sl = (struct sleeper){.ns = WEFT_SEC(10)};
    weft_select_init(&r->sel, r->ch, 2);
    WEFT_AWAIT(r, weft_select_poll(&r->sel, cx, &r->winner));
    if (r->winner != 0 || r->got != 5 || r->rc.err != 0)
        WEFT_ASYNC_FAIL(r, -EPROTO);
    /* 3: join_all over yielding children on a real executor */
    for (int i = 0; i < 16; i++) {
        r->y[i].left = i;
        r->ych[i] = (weft_child){.type = &yielder_type, .state = &r->y[i]};
    }
    weft_join_all_init(&r->ja, r->ych, 16);
    WEFT_AWAIT(r, weft_join_all_poll(&r->ja, cx, &r->err));
    if (r->err != 0)
        WEFT_ASYNC_FAIL(r, r->err);
    WEFT_ASYNC_END(r);
}

static void root_drop(void *state)
{
    struct root *r = state;
    weft_select_drop(&r->sel);
    weft_join_all_drop(&r->ja);
}

static const weft_future_type root_type = {
    .name = "comb_root", .poll = root_poll, .drop = root_drop, .state_size = sizeof(struct root)};

static void run_root(weft_rt *rt)
{
    weft_mpsc_sender *tx;
    weft_mpsc_receiver *rx;
    ASSERT_EQ(weft_mpsc_new(&tx, &rx, sizeof(int), 4), 0);
    static struct root r;
    memset(&r, 0, sizeof r);
    r.tx = tx;
    r.rx = rx;
    ASSERT_EQ(weft_rt_block_on(rt, &root_type, &r, NULL), 0);
    weft_mpsc_sender_drop(tx);
    weft_mpsc_receiver_drop(rx);
}

TEST(select_timeout_and_join_all_on_runtimes)
{
    weft_rt *rt = rt_mt(2);
    run_root(rt);
    weft_rt_free(rt);
    rt = rt_ct();
    run_root(rt);
    weft_rt_free(rt);
}

TEST_MAIN()
