/* Semaphore, permits, mutex and rwlock: fairness, partial assignment, drop-while-queued,
 * close, wake batching (hand-polled, deterministic), then contention on a real runtime. */
#include "../unit/sync/sync_testutil.h"

/* Poll an acquire future once with its own counting waker. */
static weft_poll poll_acq(weft_semaphore_acquire *a, struct twaker *tw, weft_permit *p, int *r)
{
    weft_cx cx = tw_cx(tw);
    return weft_semaphore_acquire_poll(a, &cx, p, r);
}

TEST(try_acquire_counts)
{
    weft_semaphore *s;
    weft_permit p[4] = {0};
    ASSERT_EQ(weft_semaphore_new(&s, 3), 0);
    ASSERT_EQ(weft_semaphore_available(s), 3);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(weft_semaphore_try_acquire(s, &p[i]), 0);
        ASSERT_EQ(weft_permit_count(&p[i]), 1);
    }
    ASSERT_EQ(weft_semaphore_try_acquire(s, &p[3]), -EAGAIN);
    ASSERT_EQ(weft_permit_count(&p[3]), 0);
    ASSERT_EQ(weft_semaphore_available(s), 0);
    weft_permit_release(&p[0]);
    weft_permit_release(&p[0]); /* exactly once: the second is a no-op */
    ASSERT_EQ(weft_semaphore_available(s), 1);
    ASSERT_EQ(weft_semaphore_try_acquire_many(s, 2, &p[3]), -EAGAIN);
    ASSERT_EQ(weft_permit_forget(&p[1]), 1);
    ASSERT_EQ(weft_permit_forget(&p[1]), 0);
    ASSERT_EQ(weft_semaphore_add_permits(s, 1), 0); /* give the forgotten one back */
    ASSERT_EQ(weft_semaphore_try_acquire_many(s, 2, &p[3]), 0);
    ASSERT_EQ(weft_permit_count(&p[3]), 2);
    ASSERT_EQ(weft_semaphore_try_acquire_many(s, 0, &p[0]), 0);
    ASSERT_EQ(weft_permit_count(&p[0]), 0);
    weft_permit_release(&p[2]);
    weft_permit_release(&p[3]);
    ASSERT_EQ(weft_semaphore_available(s), 3);
    ASSERT_EQ(weft_semaphore_add_permits(s, WEFT_SEMAPHORE_MAX_PERMITS), -EINVAL);
    ASSERT_EQ(weft_semaphore_available(s), 3);
    weft_semaphore_free(s);
}

TEST(acquire_ready_at_once_when_free)
{
    weft_semaphore *s;
    struct twaker tw = {0};
    weft_semaphore_acquire a;
    weft_permit p = {0};
    int r = 1;
    ASSERT_EQ(weft_semaphore_new(&s, 2), 0);
    weft_semaphore_acquire_many_init(&a, s, 2);
    ASSERT_EQ(poll_acq(&a, &tw, &p, &r), WEFT_READY);
    ASSERT_EQ(r, 0);
    ASSERT_EQ(weft_permit_count(&p), 2);
    ASSERT_EQ(poll_acq(&a, &tw, &(weft_permit){{0}}, &r), WEFT_READY); /* polled after READY */
    ASSERT_EQ(r, -EINVAL);
    weft_semaphore_acquire_drop(&a); /* finished: no-op */
    weft_permit_release(&p);
    ASSERT_EQ(weft_semaphore_available(s), 2);
    ASSERT_EQ(atomic_load(&tw.refs), 0);
    weft_semaphore_free(s);
}

TEST(fifo_large_acquirer_not_overtaken)
{
    weft_semaphore *s;
    struct twaker ta = {0}, tb = {0};
    weft_semaphore_acquire a, b;
    weft_permit pa = {0}, pb = {0}, pc = {0};
    int r;
    ASSERT_EQ(weft_semaphore_new(&s, 1), 0);
    weft_semaphore_acquire_many_init(&a, s, 3);
    weft_semaphore_acquire_init(&b, s);
    ASSERT_EQ(poll_acq(&a, &ta, &pa, &r), WEFT_PENDING); /* takes the 1, needs 2 more */
    ASSERT_EQ(poll_acq(&b, &tb, &pb, &r), WEFT_PENDING); /* queued behind a */
    ASSERT_EQ(weft_semaphore_available(s), 0);
    ASSERT_EQ(weft_semaphore_add_permits(s, 1), 0); /* goes to a (now 2 of 3) */
    ASSERT_EQ(tw_wakes(&ta) + tw_wakes(&tb), 0);
    ASSERT_EQ(weft_semaphore_try_acquire(s, &pc), -EAGAIN); /* nobody overtakes a */
    ASSERT_EQ(poll_acq(&b, &tb, &pb, &r), WEFT_PENDING);
    ASSERT_EQ(weft_semaphore_add_permits(s, 2), 0); /* a complete: 1 left over for b */
    ASSERT_EQ(tw_wakes(&ta), 1);
    ASSERT_EQ(tw_wakes(&tb), 1);
    ASSERT_EQ(poll_acq(&a, &ta, &pa, &r), WEFT_READY);
    ASSERT_EQ(r, 0);
    ASSERT_EQ(weft_permit_count(&pa), 3);
    ASSERT_EQ(poll_acq(&b, &tb, &pb, &r), WEFT_READY);
    ASSERT_EQ(weft_permit_count(&pb), 1);
    ASSERT_EQ(weft_semaphore_available(s), 0);
    weft_permit_release(&pa);
    weft_permit_release(&pb);
    ASSERT_EQ(weft_semaphore_available(s), 4);
    ASSERT_EQ(atomic_load(&ta.refs) + atomic_load(&tb.refs), 0);
    weft_semaphore_free(s);
}

TEST(drop_while_queued_passes_partial_permits_on)
{
    weft_semaphore *s;
    struct twaker ta = {0}, tb = {0};
    weft_semaphore_acquire a, b;
    weft_permit pa = {0}, pb = {0};
    int r;
    ASSERT_EQ(weft_semaphore_new(&s, 0), 0);
    weft_semaphore_acquire_many_init(&a, s, 3);
    weft_semaphore_acquire_init(&b, s);
    ASSERT_EQ(poll_acq(&a, &ta, &pa, &r), WEFT_PENDING);
    ASSERT_EQ(poll_acq(&b, &tb, &pb, &r), WEFT_PENDING);
    ASSERT_EQ(weft_semaphore_add_permits(s, 2), 0); /* a holds 2 of 3 */
    weft_semaphore_acquire_drop(&a);               /* the 2 go on: 1 to b, 1 to the count */
    weft_semaphore_acquire_drop(&a);               /* idempotent */
    ASSERT_EQ(tw_wakes(&ta), 0);
    ASSERT_EQ(tw_wakes(&tb), 1);
    ASSERT_EQ(weft_semaphore_available(s), 1);
    ASSERT_EQ(poll_acq(&b, &tb, &pb, &r), WEFT_READY);
    ASSERT_EQ(weft_permit_count(&pb), 1);
    weft_permit_release(&pb);
    ASSERT_EQ(weft_semaphore_available(s), 2);
    ASSERT_EQ(atomic_load(&ta.refs) + atomic_load(&tb.refs), 0);
    weft_semaphore_free(s);
}

TEST(drop_after_grant_before_poll_returns_permits)
{
    weft_semaphore *s;
    struct twaker ta = {0}, tb = {0};
    weft_semaphore_acquire a, b;
    weft_permit pa = {0}, pb = {0};
    int r;
    ASSERT_EQ(weft_semaphore_new(&s, 0), 0);
    weft_semaphore_acquire_init(&a, s);
    weft_semaphore_acquire_init(&b, s);
    ASSERT_EQ(poll_acq(&a, &ta, &pa, &r), WEFT_PENDING);
    ASSERT_EQ(poll_acq(&b, &tb, &pb, &r), WEFT_PENDING);
    ASSERT_EQ(weft_semaphore_add_permits(s, 1), 0); /* assigned to a, a woken */
    ASSERT_EQ(tw_wakes(&ta), 1);
    weft_semaphore_acquire_drop(&a); /* a never collects: its permit goes to b (no loss) */
    ASSERT_EQ(tw_wakes(&tb), 1);
    ASSERT_EQ(poll_acq(&b, &tb, &pb, &r), WEFT_READY);
    weft_permit_release(&pb);
    ASSERT_EQ(weft_semaphore_available(s), 1);
    weft_semaphore_free(s);
}

TEST(waker_is_replaced_on_repoll)
{
    weft_semaphore *s;
    struct twaker x = {0}, y = {0};
    weft_semaphore_acquire a;
    weft_permit p = {0};
    int r;
    ASSERT_EQ(weft_semaphore_new(&s, 0), 0);
    weft_semaphore_acquire_init(&a, s);
    ASSERT_EQ(poll_acq(&a, &x, &p, &r), WEFT_PENDING);
    ASSERT_EQ(poll_acq(&a, &x, &p, &r), WEFT_PENDING);
    ASSERT_EQ(atomic_load(&x.refs), 1);
    ASSERT_EQ(poll_acq(&a, &y, &p, &r), WEFT_PENDING);
    ASSERT_EQ(atomic_load(&x.refs), 0);
    weft_semaphore_add_permits(s, 1);
    ASSERT_EQ(tw_wakes(&x), 0);
    ASSERT_EQ(tw_wakes(&y), 1);
    ASSERT_EQ(poll_acq(&a, &y, &p, &r), WEFT_READY);
    weft_permit_release(&p);
    ASSERT_EQ(atomic_load(&y.refs), 0);
    weft_semaphore_free(s);
}

TEST(close_fails_waiters_and_keeps_held_permits_valid)
{
    weft_semaphore *s;
    struct twaker ta = {0}, tb = {0};
    weft_semaphore_acquire a, b, c;
    weft_permit held = {0}, pa = {0}, pb = {0}, pc = {0};
    int r;
    ASSERT_EQ(weft_semaphore_new(&s, 2), 0);
    ASSERT_EQ(weft_semaphore_try_acquire(s, &held), 0);
    weft_semaphore_acquire_many_init(&a, s, 3); /* takes 1, needs 2 */
    weft_semaphore_acquire_init(&b, s);
    ASSERT_EQ(poll_acq(&a, &ta, &pa, &r), WEFT_PENDING);
    ASSERT_EQ(poll_acq(&b, &tb, &pb, &r), WEFT_PENDING);
    ASSERT_TRUE(!weft_semaphore_is_closed(s));
    weft_semaphore_close(s);
    weft_semaphore_close(s);
    ASSERT_TRUE(weft_semaphore_is_closed(s));
    ASSERT_EQ(tw_wakes(&ta), 1);
    ASSERT_EQ(tw_wakes(&tb), 1);
    ASSERT_EQ(poll_acq(&a, &ta, &pa, &r), WEFT_READY);
    ASSERT_EQ(r, -EPIPE);
    ASSERT_EQ(weft_permit_count(&pa), 0);
    ASSERT_EQ(poll_acq(&b, &tb, &pb, &r), WEFT_READY);
    ASSERT_EQ(r, -EPIPE);
    ASSERT_EQ(weft_semaphore_available(s), 1); /* a's collected permit came back */
    ASSERT_EQ(weft_semaphore_try_acquire(s, &pc), -EPIPE);
    weft_semaphore_acquire_init(&c, s);
    ASSERT_EQ(poll_acq(&c, &ta, &pc, &r), WEFT_READY);
    ASSERT_EQ(r, -EPIPE);
    weft_permit_release(&held);
    ASSERT_EQ(weft_semaphore_available(s), 2);
    ASSERT_EQ(atomic_load(&ta.refs) + atomic_load(&tb.refs), 0);
    weft_semaphore_free(s);
}

TEST(close_with_queued_then_drop_instead_of_poll)
{
    weft_semaphore *s;
    struct twaker ta = {0};
    weft_semaphore_acquire a;
    weft_permit pa = {0};
    int r;
    ASSERT_EQ(weft_semaphore_new(&s, 1), 0);
    weft_semaphore_acquire_many_init(&a, s, 2);
    ASSERT_EQ(poll_acq(&a, &ta, &pa, &r), WEFT_PENDING);
    weft_semaphore_close(s);
    weft_semaphore_acquire_drop(&a);
    ASSERT_EQ(weft_semaphore_available(s), 1);
    ASSERT_EQ(atomic_load(&ta.refs), 0);
    weft_semaphore_free(s);
}

TEST(many_waiters_woken_in_batches_exactly_once)
{
    enum { N = 100 };
    weft_semaphore *s;
    static struct twaker tw[N];
    static weft_semaphore_acquire a[N];
    static weft_permit p[N];
    int r;
    memset(tw, 0, sizeof tw);
    ASSERT_EQ(weft_semaphore_new(&s, 0), 0);
    for (int i = 0; i < N; i++) {
        weft_semaphore_acquire_init(&a[i], s);
        ASSERT_EQ(poll_acq(&a[i], &tw[i], &p[i], &r), WEFT_PENDING);
    }
    ASSERT_EQ(weft_semaphore_add_permits(s, N - 1), 0);
    for (int i = 0; i < N; i++)
        ASSERT_EQ(tw_wakes(&tw[i]), i < N - 1 ? 1 : 0); /* FIFO: the last one still waits */
    ASSERT_EQ(weft_semaphore_add_permits(s, 1), 0);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(tw_wakes(&tw[i]), 1);
        ASSERT_EQ(poll_acq(&a[i], &tw[i], &p[i], &r), WEFT_READY);
        ASSERT_EQ(r, 0);
    }
    for (int i = 0; i < N; i++)
        weft_permit_release(&p[i]);
    ASSERT_EQ(weft_semaphore_available(s), N);
    weft_semaphore_free(s);
}

TEST(zero_and_edge_requests)
{
    weft_semaphore *s;
    struct twaker tw = {0};
    weft_semaphore_acquire a, z = {{0}};
    weft_permit p = {0};
    int r;
    ASSERT_EQ(weft_semaphore_new(&s, 0), 0);
    weft_semaphore_acquire_many_init(&a, s, 0);
    ASSERT_EQ(poll_acq(&a, &tw, &p, &r), WEFT_READY);
    ASSERT_EQ(r, 0);
    ASSERT_EQ(weft_permit_count(&p), 0);
    weft_permit_release(&p);                /* empty: no-op */
    weft_semaphore_acquire_drop(&z);        /* zero-filled: no-op */
    ASSERT_EQ(poll_acq(&z, &tw, &p, &r), WEFT_READY); /* never initialised */
    ASSERT_EQ(r, -EINVAL);
    weft_semaphore_acquire_init(&a, NULL);
    ASSERT_EQ(poll_acq(&a, &tw, &p, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    ASSERT_EQ(weft_semaphore_new(&(weft_semaphore *){0}, WEFT_SEMAPHORE_MAX_PERMITS + 1),
              -EINVAL);
    weft_semaphore_free(s);
}

/* ------------------------------------------------------------------ mutex and rwlock */

TEST(mutex_is_fifo_and_exclusive)
{
    weft_mutex *m;
    struct twaker t1 = {0}, t2 = {0};
    weft_mutex_lock l1, l2;
    weft_permit g0 = {0}, g1 = {0}, g2 = {0};
    int r;
    ASSERT_EQ(weft_mutex_new(&m), 0);
    ASSERT_EQ(weft_mutex_try_lock(m, &g0), 0);
    ASSERT_EQ(weft_mutex_try_lock(m, &g1), -EAGAIN);
    weft_mutex_lock_init(&l1, m);
    weft_mutex_lock_init(&l2, m);
    weft_cx c1 = tw_cx(&t1), c2 = tw_cx(&t2);
    ASSERT_EQ(weft_mutex_lock_poll(&l1, &c1, &g1, &r), WEFT_PENDING);
    ASSERT_EQ(weft_mutex_lock_poll(&l2, &c2, &g2, &r), WEFT_PENDING);
    weft_permit_release(&g0); /* unlock: l1 gets it */
    ASSERT_EQ(tw_wakes(&t1), 1);
    ASSERT_EQ(tw_wakes(&t2), 0);
    ASSERT_EQ(weft_mutex_lock_poll(&l1, &c1, &g1, &r), WEFT_READY);
    ASSERT_EQ(weft_mutex_lock_poll(&l2, &c2, &g2, &r), WEFT_PENDING);
    weft_mutex_lock_drop(&l2); /* cancelled waiter: nothing owed */
    weft_permit_release(&g1);
    ASSERT_EQ(weft_mutex_try_lock(m, &g0), 0);
    weft_permit_release(&g0);
    weft_mutex_lock_drop(&l1);
    weft_mutex_free(m);
}

TEST(rwlock_readers_share_writer_not_overtaken)
{
    weft_rwlock *rw;
    struct twaker tw = {0}, tr = {0};
    weft_rwlock_lock w, r3;
    weft_permit r1 = {0}, r2 = {0}, g = {0}, g3 = {0};
    int r;
    ASSERT_EQ(weft_rwlock_new(&rw, 0), 0);
    ASSERT_EQ(weft_rwlock_try_read(rw, &r1), 0);
    ASSERT_EQ(weft_rwlock_try_read(rw, &r2), 0);
    ASSERT_EQ(weft_rwlock_try_write(rw, &g), -EAGAIN);
    weft_rwlock_write_init(&w, rw);
    weft_rwlock_read_init(&r3, rw);
    weft_cx cw = tw_cx(&tw), cr = tw_cx(&tr);
    ASSERT_EQ(weft_rwlock_lock_poll(&w, &cw, &g, &r), WEFT_PENDING);
    ASSERT_EQ(weft_rwlock_lock_poll(&r3, &cr, &g3, &r), WEFT_PENDING); /* behind the writer */
    ASSERT_EQ(weft_rwlock_try_read(rw, &g3), -EAGAIN);
    weft_permit_release(&r1);
    ASSERT_EQ(tw_wakes(&tw), 0);
    weft_permit_release(&r2);
    ASSERT_EQ(tw_wakes(&tw), 1);
    ASSERT_EQ(weft_rwlock_lock_poll(&w, &cw, &g, &r), WEFT_READY);
    ASSERT_EQ(tw_wakes(&tr), 0);
    weft_permit_release(&g);
    ASSERT_EQ(tw_wakes(&tr), 1);
    ASSERT_EQ(weft_rwlock_lock_poll(&r3, &cr, &g3, &r), WEFT_READY);
    weft_permit_release(&g3);
    ASSERT_EQ(weft_rwlock_try_write(rw, &g), 0);
    weft_permit_release(&g);
    weft_rwlock_free(rw);
    ASSERT_EQ(weft_rwlock_new(&rw, WEFT_RWLOCK_MAX_READERS + 1), -EINVAL);
    ASSERT_EQ(weft_rwlock_new(&rw, 2), 0);
    ASSERT_EQ(weft_rwlock_try_read(rw, &r1), 0);
    ASSERT_EQ(weft_rwlock_try_read(rw, &r2), 0);
    ASSERT_EQ(weft_rwlock_try_read(rw, &g), -EAGAIN);
    weft_permit_release(&r1);
    weft_permit_release(&r2);
    weft_rwlock_free(rw);
}

/* ------------------------------------------------------------------ on a runtime */

struct worker {
    WEFT_ASYNC_STATE;
    weft_semaphore *sem;
    _Atomic int *inside, *max_inside;
    weft_semaphore_acquire acq;
    weft_permit permit;
    int i, rounds, err;
};

static weft_poll worker_poll(void *state, weft_cx *cx, void *out)
{
    struct worker *w = state;
    (void)out;
    WEFT_ASYNC_BEGIN(w);
    for (w->i = 0; w->i < w->rounds; w->i++) {
        weft_semaphore_acquire_many_init(&w->acq, w->sem, 1 + (uint32_t)(w->i % 3));
        WEFT_AWAIT(w, weft_semaphore_acquire_poll(&w->acq, cx, &w->permit, &w->err));
        if (w->err < 0)
            WEFT_ASYNC_FAIL(w, w->err);
        {
            int in = atomic_fetch_add(w->inside, (int)weft_permit_count(&w->permit)) +
                     (int)weft_permit_count(&w->permit);
            int m = atomic_load(w->max_inside);
            while (in > m && !atomic_compare_exchange_weak(w->max_inside, &m, in))
                ;
        }
        WEFT_YIELD(w, cx);
        atomic_fetch_sub(w->inside, (int)weft_permit_count(&w->permit));
        weft_permit_release(&w->permit);
    }
    WEFT_ASYNC_END(w);
}

static void worker_drop(void *state)
{
    struct worker *w = state;
    weft_semaphore_acquire_drop(&w->acq);
    weft_permit_release(&w->permit);
}

static const weft_future_type worker_type = {
    .name = "sem_worker", .poll = worker_poll, .drop = worker_drop,
    .state_size = sizeof(struct worker)};

struct root {
    WEFT_ASYNC_STATE;
    weft_semaphore *sem;
    int ntasks, rounds, i, err;
    _Atomic int inside, max_inside;
    weft_join *joins[64];
};

static weft_poll root_poll(void *state, weft_cx *cx, void *out)
{
    struct root *r = state;
    (void)out;
    WEFT_ASYNC_BEGIN(r);
    for (r->i = 0; r->i < r->ntasks; r->i++) {
        struct worker init = {.sem = r->sem, .inside = &r->inside, .max_inside = &r->max_inside,
                              .rounds = r->rounds};
        if ((r->err = weft_spawn(weft_cx_rt(cx), &worker_type, &init, &r->joins[r->i])) < 0)
            WEFT_ASYNC_FAIL(r, r->err);
    }
    for (r->i = 0; r->i < r->ntasks; r->i++) {
        WEFT_AWAIT(r, weft_join_poll(r->joins[r->i], cx, NULL, 0, &r->err));
        if (r->err < 0)
            WEFT_ASYNC_FAIL(r, r->err);
    }
    /* never more permits out than the semaphore holds, and none left out */
    if (atomic_load(&r->max_inside) > 4 || atomic_load(&r->inside) != 0)
        WEFT_ASYNC_FAIL(r, -EPROTO);
    WEFT_ASYNC_END(r);
}

static const weft_future_type root_type = {
    .name = "sem_root", .poll = root_poll, .state_size = sizeof(struct root)};

static void contend(weft_rt *rt)
{
    static struct root r;
    memset(&r, 0, sizeof r);
    ASSERT_EQ(weft_semaphore_new(&r.sem, 4), 0);
    r.ntasks = 64;
    r.rounds = scaled(200);
    /* the workers point at the counters inside the root task's own state */
    ASSERT_EQ(weft_rt_block_on(rt, &root_type, &r, NULL), 0);
    ASSERT_EQ(weft_semaphore_available(r.sem), 4);
    weft_semaphore_free(r.sem);
}

TEST(contention_multi_thread)
{
    weft_rt *rt = rt_mt(2);
    contend(rt);
    weft_rt_free(rt);
}

TEST(contention_current_thread)
{
    weft_rt *rt = rt_ct();
    contend(rt);
    weft_rt_free(rt);
}

TEST_MAIN()
