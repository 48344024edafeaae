/* F6 (research/reliability.md): cancellation safety of the sync primitives on real runtimes.
 *
 * Abort a task holding a permit, one queued in acquire, one queued in send, one parked in recv;
 * race abort against release; close while tasks wait. After every scenario: permits available
 * == initial (nothing lost, nothing released twice), the channel still moves data, and every
 * waker reference has been given back (ASan's leak check sees the task cells). */
#include <unistd.h>

#include "../unit/sync/sync_testutil.h"
#include "sync/sync.h"

static bool sem_has_waiters(weft_semaphore *s)
{
    return ld_acquire(&s->state) & SEM_WAITERS;
}

static void wait_until(bool (*pred)(void *), void *arg)
{
    for (int i = 0; !pred(arg); i++) {
        ASSERT_LT(i, 200000); /* 10 s */
        usleep(50);
    }
}

static bool has_waiters_pred(void *s)
{
    return sem_has_waiters(s);
}

/* ------------------------------------------------------------------ semaphore tasks */

struct holder {
    WEFT_ASYNC_STATE;
    weft_semaphore *sem;
    weft_notify *never; /* waits here forever once it holds its permits */
    uint32_t n;
    int hold, release_in_poll, err;
    _Atomic int *holding;
    weft_semaphore_acquire acq;
    weft_permit permit;
    weft_notify_wait w;
    weft_yield y;
};

static weft_poll holder_poll(void *state, weft_cx *cx, void *out)
{
    struct holder *h = state;
    (void)out;
    WEFT_ASYNC_BEGIN(h);
    weft_semaphore_acquire_many_init(&h->acq, h->sem, h->n ? h->n : 1);
    WEFT_AWAIT(h, weft_semaphore_acquire_poll(&h->acq, cx, &h->permit, &h->err));
    if (h->err < 0)
        WEFT_ASYNC_FAIL(h, h->err);
    if (h->holding)
        atomic_fetch_add(h->holding, 1);
    if (h->release_in_poll)
        weft_permit_release(&h->permit); /* and the drop releases it again: must be a no-op */
    if (h->hold) {
        weft_notify_wait_init(&h->w, h->never);
        WEFT_AWAIT(h, weft_notify_wait_poll(&h->w, cx));
    }
    weft_yield_init(&h->y);
    WEFT_AWAIT(h, weft_yield_poll(&h->y, cx));
    WEFT_ASYNC_END(h);
}

static void holder_drop(void *state)
{
    struct holder *h = state;
    weft_semaphore_acquire_drop(&h->acq);
    weft_notify_wait_drop(&h->w);
    weft_permit_release(&h->permit); /* covers completion and abort alike */
}

static const weft_future_type holder_type = {
    .name = "holder", .poll = holder_poll, .drop = holder_drop,
    .state_size = sizeof(struct holder)};

static bool holding_pred(void *p)
{
    return atomic_load((_Atomic int *)p) > 0;
}

static void run_both(void (*fn)(weft_rt *))
{
    weft_rt *rt = rt_mt(2);
    fn(rt);
    weft_rt_free(rt);
    rt = rt_mt(4);
    fn(rt);
    weft_rt_free(rt);
}

static void abort_holder(weft_rt *rt)
{
    weft_semaphore *s;
    weft_notify *never;
    weft_join *j;
    _Atomic int holding = 0;
    ASSERT_EQ(weft_semaphore_new(&s, 3), 0);
    ASSERT_EQ(weft_notify_new(&never), 0);
    struct holder init = {.sem = s, .never = never, .n = 2, .hold = 1, .holding = &holding};
    ASSERT_EQ(weft_spawn(rt, &holder_type, &init, &j), 0);
    wait_until(holding_pred, &holding);
    ASSERT_EQ(weft_semaphore_available(s), 1);
    weft_join_abort(j);
    ASSERT_EQ(weft_join_wait(j, NULL, 0), -ECANCELED);
    ASSERT_EQ(weft_semaphore_available(s), 3); /* returned exactly once */
    weft_notify_free(never);
    weft_semaphore_free(s);
}

TEST(abort_task_holding_permit)
{
    run_both(abort_holder);
}

static void abort_queued(weft_rt *rt)
{
    weft_semaphore *s;
    weft_notify *never;
    weft_join *j1, *j2;
    weft_permit mine = {0};
    ASSERT_EQ(weft_semaphore_new(&s, 2), 0);
    ASSERT_EQ(weft_notify_new(&never), 0);
    ASSERT_EQ(weft_semaphore_try_acquire(s, &mine), 0);
    /* j1 asks for 2: takes the free 1 and queues for another; j2 queues behind it */
    struct holder i1 = {.sem = s, .never = never, .n = 2};
    struct holder i2 = {.sem = s, .never = never, .n = 1};
    ASSERT_EQ(weft_spawn(rt, &holder_type, &i1, &j1), 0);
    wait_until(has_waiters_pred, s);
    ASSERT_EQ(weft_spawn(rt, &holder_type, &i2, &j2), 0);
    weft_join_abort(j1); /* its partial permit goes to j2, which finishes */
    ASSERT_EQ(weft_join_wait(j1, NULL, 0), -ECANCELED);
    ASSERT_EQ(weft_join_wait(j2, NULL, 0), 0);
    weft_permit_release(&mine);
    ASSERT_EQ(weft_semaphore_available(s), 2);
    weft_notify_free(never);
    weft_semaphore_free(s);
}

TEST(abort_task_waiting_in_acquire)
{
    run_both(abort_queued);
}

struct race_arg {
    weft_semaphore *s;
    weft_join *j;
    _Atomic int go;
};

static void *releaser(void *p)
{
    struct race_arg *a = p;
    while (!atomic_load(&a->go))
        ;
    weft_semaphore_add_permits(a->s, 1);
    return NULL;
}

static void *aborter(void *p)
{
    struct race_arg *a = p;
    while (!atomic_load(&a->go))
        ;
    weft_join_abort(a->j);
    return NULL;
}

static void race_abort_release(weft_rt *rt)
{
    weft_notify *never;
    ASSERT_EQ(weft_notify_new(&never), 0);
    int rounds = scaled(300), cancelled = 0;
    for (int i = 0; i < rounds; i++) {
        struct race_arg a = {0};
        pthread_t t1, t2;
        ASSERT_EQ(weft_semaphore_new(&a.s, 0), 0);
        struct holder init = {.sem = a.s, .never = never, .n = 1, .hold = i % 2};
        ASSERT_EQ(weft_spawn(rt, &holder_type, &init, &a.j), 0);
        wait_until(has_waiters_pred, a.s);
        ASSERT_EQ(pthread_create(&t1, NULL, releaser, &a), 0);
        ASSERT_EQ(pthread_create(&t2, NULL, aborter, &a), 0);
        atomic_store(&a.go, 1);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        int r = weft_join_wait(a.j, NULL, 0);
        ASSERT_TRUE(r == 0 || r == -ECANCELED);
        cancelled += r == -ECANCELED;
        /* granted-then-aborted, aborted-while-queued, or completed: the permit is back */
        ASSERT_EQ(weft_semaphore_available(a.s), 1);
        ASSERT_TRUE(!sem_has_waiters(a.s));
        weft_semaphore_free(a.s);
    }
    ASSERT_GT(cancelled, 0);
    weft_notify_free(never);
}

TEST(race_abort_with_release)
{
    run_both(race_abort_release);
}

/* Await join handles from inside a task (a current-thread runtime only runs tasks inside
 * block_on); results[i] gets each task's result. */
struct joiner {
    WEFT_ASYNC_STATE;
    weft_join **j;
    int *results;
    int n, i;
};

static weft_poll joiner_poll(void *state, weft_cx *cx, void *out)
{
    struct joiner *jn = state;
    (void)out;
    WEFT_ASYNC_BEGIN(jn);
    for (jn->i = 0; jn->i < jn->n; jn->i++)
        WEFT_AWAIT(jn, weft_join_poll(jn->j[jn->i], cx, NULL, 0, &jn->results[jn->i]));
    WEFT_ASYNC_END(jn);
}

static const weft_future_type joiner_type = {
    .name = "joiner", .poll = joiner_poll, .state_size = sizeof(struct joiner)};

static void join_all_handles(weft_rt *rt, weft_join **j, int *results, int n)
{
    if (weft_rt_flavor_of(rt) == WEFT_RT_CURRENT_THREAD) {
        struct joiner init = {.j = j, .results = results, .n = n};
        ASSERT_EQ(weft_rt_block_on(rt, &joiner_type, &init, NULL), 0);
        return;
    }
    for (int i = 0; i < n; i++)
        results[i] = weft_join_wait(j[i], NULL, 0);
}

static void many_random_aborts(weft_rt *rt)
{
    enum { T = 200, PERMITS = 7 };
    weft_semaphore *s;
    weft_notify *never;
    weft_join *j[T];
    ASSERT_EQ(weft_semaphore_new(&s, PERMITS), 0);
    ASSERT_EQ(weft_notify_new(&never), 0);
    for (int i = 0; i < T; i++) {
        struct holder init = {.sem = s, .never = never, .n = 1 + (uint32_t)(i % 3),
                              .hold = i % 5 == 0, .release_in_poll = i % 2};
        ASSERT_EQ(weft_spawn(rt, &holder_type, &init, &j[i]), 0);
        if (i % 3 == 1)
            weft_join_abort(j[i - 1]);
    }
    for (int i = 0; i < T; i += 5)
        weft_join_abort(j[i]); /* the ones that hold forever */
    int res[T];
    join_all_handles(rt, j, res, T);
    for (int i = 0; i < T; i++)
        ASSERT_TRUE(res[i] == 0 || res[i] == -ECANCELED);
    ASSERT_EQ(weft_semaphore_available(s), PERMITS);
    ASSERT_TRUE(!sem_has_waiters(s));
    weft_notify_free(never);
    weft_semaphore_free(s);
}

TEST(many_tasks_random_aborts_permits_back_to_initial)
{
    run_both(many_random_aborts);
    weft_rt *rt = rt_ct();
    many_random_aborts(rt);
    weft_rt_free(rt);
}

static void close_while_waiting(weft_rt *rt)
{
    enum { T = 20 };
    weft_semaphore *s;
    weft_notify *never;
    weft_join *j[T];
    weft_permit mine = {0};
    ASSERT_EQ(weft_semaphore_new(&s, 1), 0);
    ASSERT_EQ(weft_notify_new(&never), 0);
    ASSERT_EQ(weft_semaphore_try_acquire(s, &mine), 0);
    for (int i = 0; i < T; i++) {
        struct holder init = {.sem = s, .never = never, .n = 1};
        ASSERT_EQ(weft_spawn(rt, &holder_type, &init, &j[i]), 0);
    }
    wait_until(has_waiters_pred, s);
    weft_semaphore_close(s);
    for (int i = 0; i < T; i++)
        ASSERT_EQ(weft_join_wait(j[i], NULL, 0), -EPIPE);
    weft_permit_release(&mine);
    ASSERT_EQ(weft_semaphore_available(s), 1);
    weft_notify_free(never);
    weft_semaphore_free(s);
}

TEST(close_while_tasks_wait)
{
    run_both(close_while_waiting);
}

/* ------------------------------------------------------------------ channels */

struct sender_task {
    WEFT_ASYNC_STATE;
    weft_mpsc_sender *tx; /* owned */
    uint64_t v;
    _Atomic int *polled;
    weft_mpsc_send send;
    int err;
};

static weft_poll sender_poll(void *state, weft_cx *cx, void *out)
{
    struct sender_task *t = state;
    (void)out;
    WEFT_ASYNC_BEGIN(t);
    weft_mpsc_send_init(&t->send, t->tx, &t->v);
    atomic_fetch_add(t->polled, 1);
    WEFT_AWAIT(t, weft_mpsc_send_poll(&t->send, cx, &t->err));
    if (t->err < 0)
        WEFT_ASYNC_FAIL(t, t->err);
    WEFT_ASYNC_END(t);
}

static void sender_drop(void *state)
{
    struct sender_task *t = state;
    weft_mpsc_send_drop(&t->send);
    weft_mpsc_sender_drop(t->tx);
}

static const weft_future_type sender_type = {
    .name = "sender", .poll = sender_poll, .drop = sender_drop,
    .state_size = sizeof(struct sender_task)};

static bool polled_pred(void *p)
{
    return atomic_load((_Atomic int *)p) > 0;
}

static void abort_waiting_sender(weft_rt *rt)
{
    weft_mpsc_sender *tx;
    weft_mpsc_receiver *rx;
    weft_join *j1, *j2;
    _Atomic int polled = 0;
    uint64_t v = 1;
    ASSERT_EQ(weft_mpsc_new(&tx, &rx, 8, 1), 0);
    ASSERT_EQ(weft_mpsc_try_send(tx, &v), 0); /* full */
    struct sender_task i1 = {.v = 100, .polled = &polled};
    struct sender_task i2 = {.v = 200, .polled = &polled};
    ASSERT_EQ(weft_mpsc_sender_clone(tx, &i1.tx), 0);
    ASSERT_EQ(weft_mpsc_sender_clone(tx, &i2.tx), 0);
    ASSERT_EQ(weft_spawn(rt, &sender_type, &i1, &j1), 0);
    wait_until(polled_pred, &polled);
    usleep(1000);
    weft_join_abort(j1);
    ASSERT_EQ(weft_join_wait(j1, NULL, 0), -ECANCELED);
    ASSERT_EQ(weft_spawn(rt, &sender_type, &i2, &j2), 0);
    /* the channel is not wedged by the cancelled sender: 1, then 200, and 100 never */
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), 0);
    ASSERT_EQ(v, 1);
    ASSERT_EQ(weft_join_wait(j2, NULL, 0), 0);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), 0);
    ASSERT_EQ(v, 200);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), -EAGAIN);
    weft_mpsc_sender_drop(tx);
    ASSERT_EQ(weft_mpsc_try_recv(rx, &v), -EPIPE); /* every sender handle went exactly once */
    weft_mpsc_receiver_drop(rx);
}

TEST(abort_task_waiting_in_send)
{
    run_both(abort_waiting_sender);
}

/* Many senders block on a small channel while a consumer drains and some senders are
 * aborted: every value received is unique, every completed send was received, and no
 * aborted send that reported nothing shows up twice. */
struct drain_task {
    WEFT_ASYNC_STATE;
    weft_mpsc_receiver *rx; /* owned */
    uint64_t v;
    uint8_t *seen;
    int err;
    long n;
};

static weft_poll drain_poll(void *state, weft_cx *cx, void *out)
{
    struct drain_task *d = state;
    WEFT_ASYNC_BEGIN(d);
    for (;;) {
        WEFT_AWAIT(d, weft_mpsc_recv_poll(d->rx, cx, &d->v, &d->err));
        if (d->err < 0)
            break;
        if (d->seen[d->v]++)
            WEFT_ASYNC_FAIL(d, -EPROTO); /* duplicate */
        d->n++;
        if (d->n % 3 == 0)
            WEFT_YIELD(d, cx);
    }
    *(long *)out = d->n;
    WEFT_ASYNC_END(d);
}

static void drain_drop(void *state)
{
    weft_mpsc_receiver_drop(((struct drain_task *)state)->rx);
}

static const weft_future_type drain_type = {
    .name = "drain", .poll = drain_poll, .drop = drain_drop,
    .state_size = sizeof(struct drain_task), .out_size = sizeof(long)};

static void senders_aborted_under_load(weft_rt *rt)
{
    enum { S = 300 };
    weft_mpsc_sender *tx;
    weft_mpsc_receiver *rx;
    weft_join *js[S], *jd;
    static uint8_t seen[S];
    _Atomic int polled = 0;
    memset(seen, 0, sizeof seen);
    ASSERT_EQ(weft_mpsc_new(&tx, &rx, 8, 2), 0);
    struct drain_task di = {.rx = rx, .seen = seen};
    for (int i = 0; i < S; i++) {
        struct sender_task si = {.v = (uint64_t)i, .polled = &polled};
        ASSERT_EQ(weft_mpsc_sender_clone(tx, &si.tx), 0);
        ASSERT_EQ(weft_spawn(rt, &sender_type, &si, &js[i]), 0);
    }
    ASSERT_EQ(weft_spawn(rt, &drain_type, &di, &jd), 0);
    for (int i = 0; i < S; i += 3)
        weft_join_abort(js[i]);
    int ok = 0;
    for (int i = 0; i < S; i++) {
        int r = weft_join_wait(js[i], NULL, 0);
        ASSERT_TRUE(r == 0 || r == -ECANCELED);
        ok += r == 0;
    }
    weft_mpsc_sender_drop(tx);
    long got = 0;
    ASSERT_EQ(weft_join_wait(jd, &got, sizeof got), 0);
    ASSERT_EQ(got, ok); /* completed sends arrived; cancelled ones never did */
    for (int i = 0; i < S; i++)
        ASSERT_TRUE(seen[i] <= 1);
}

TEST(senders_aborted_while_consumer_drains)
{
    run_both(senders_aborted_under_load);
}

struct recv_task {
    WEFT_ASYNC_STATE;
    weft_mpsc_receiver *rx; /* owned */
    _Atomic int *polled;
    uint64_t v;
    int err;
};

static weft_poll recv_task_poll(void *state, weft_cx *cx, void *out)
{
    struct recv_task *t = state;
    (void)out;
    WEFT_ASYNC_BEGIN(t);
    atomic_fetch_add(t->polled, 1);
    WEFT_AWAIT(t, weft_mpsc_recv_poll(t->rx, cx, &t->v, &t->err));
    WEFT_ASYNC_END(t);
}

static void recv_task_drop(void *state)
{
    weft_mpsc_receiver_drop(((struct recv_task *)state)->rx);
}

static const weft_future_type recv_task_type = {
    .name = "recv_task", .poll = recv_task_poll, .drop = recv_task_drop,
    .state_size = sizeof(struct recv_task)};

static void abort_waiting_receiver(weft_rt *rt)
{
    for (int bounded = 0; bounded < 2; bounded++) {
        weft_mpsc_sender *tx;
        weft_mpsc_receiver *rx;
        weft_join *j;
        _Atomic int polled = 0;
        uint64_t v = 5;
        ASSERT_EQ(bounded ? weft_mpsc_new(&tx, &rx, 8, 1) : weft_mpsc_unbounded_new(&tx, &rx, 8),
                  0);
        struct recv_task init = {.rx = rx, .polled = &polled};
        ASSERT_EQ(weft_spawn(rt, &recv_task_type, &init, &j), 0);
        wait_until(polled_pred, &polled);
        usleep(500);
        weft_join_abort(j);
        ASSERT_EQ(weft_join_wait(j, NULL, 0), -ECANCELED);
        ASSERT_EQ(weft_mpsc_try_send(tx, &v), -EPIPE); /* the receiver went with its task */
        weft_mpsc_sender_drop(tx);
    }
}

TEST(abort_task_waiting_in_recv)
{
    run_both(abort_waiting_receiver);
}

TEST_MAIN()
