/* IO from anywhere: tasks that migrate between the 2 workers while their operations are in
 * flight (completions on one reactor, polls on the other; aborts and deadlines that cancel
 * from the other worker through the NOP carrier), futures polled by hand on a foreign thread
 * and on a blocking-pool thread (their operations go through worker 0's remote queue), and a
 * drop from a foreign thread with the operation in flight. */
#include "net_util.h"

/* ------------------------------------------------------------------ migrating tasks */

enum { PAIRS = 24, ROUNDS = 300 };

struct pinger {
    WEFT_ASYNC_STATE;
    weft_stream *s;
    int rounds, r, first_worker;
    _Atomic int *migrated;
    int moved;
    weft_read_exact rd;
    weft_write_all wr;
    ssize_t n;
    char buf[32];
};
static void note_worker(struct pinger *p)
{
    int w = weft_rt_worker_index();
    if (p->first_worker < 0)
        p->first_worker = w;
    else if (w != p->first_worker && !p->moved) {
        p->moved = 1;
        atomic_fetch_add(p->migrated, 1);
    }
}
/* Client half: write, read back, yield (a yield lets the other worker steal us). */
static weft_poll pinger_poll(void *st, weft_cx *cx, void *out)
{
    struct pinger *p = st;
    (void)out;
    WEFT_ASYNC_BEGIN(p);
    for (p->r = 0; p->r < p->rounds; p->r++) {
        snprintf(p->buf, sizeof p->buf, "ping %08d", p->r);
        weft_write_all_init(&p->wr, p->s, p->buf, 13, WEFT_NEVER);
        WEFT_AWAIT(p, weft_write_all_poll(&p->wr, cx, &p->n));
        if (p->n != 13)
            WEFT_ASYNC_FAIL(p, -EIO);
        note_worker(p);
        weft_read_exact_init(&p->rd, p->s, p->buf, 13, weft_deadline_in(WEFT_SEC(20)));
        WEFT_AWAIT(p, weft_read_exact_poll(&p->rd, cx, &p->n));
        if (p->n != 13)
            WEFT_ASYNC_FAIL(p, p->n < 0 ? (int)p->n : -EIO);
        note_worker(p);
        WEFT_YIELD(p, cx);
    }
    WEFT_ASYNC_END(p);
}
/* Server half: echo until the end of the stream. */
static weft_poll ponger_poll(void *st, weft_cx *cx, void *out)
{
    struct pinger *p = st;
    (void)out;
    WEFT_ASYNC_BEGIN(p);
    for (;;) {
        weft_read_exact_init(&p->rd, p->s, p->buf, 13, weft_deadline_in(WEFT_SEC(20)));
        WEFT_AWAIT(p, weft_read_exact_poll(&p->rd, cx, &p->n));
        if (p->n <= 0)
            break;
        note_worker(p);
        weft_write_all_init(&p->wr, p->s, p->buf, 13, WEFT_NEVER);
        WEFT_AWAIT(p, weft_write_all_poll(&p->wr, cx, &p->n));
        note_worker(p);
    }
    WEFT_ASYNC_END(p);
}
static void pinger_drop(void *st)
{
    struct pinger *p = st;
    weft_read_exact_drop(&p->rd);
    weft_write_all_drop(&p->wr);
    weft_stream_close(p->s);
}
static const weft_future_type pinger_type = {
    .name = "pinger", .poll = pinger_poll, .drop = pinger_drop, .state_size = sizeof(struct pinger)};
static const weft_future_type ponger_type = {
    .name = "ponger", .poll = ponger_poll, .drop = pinger_drop, .state_size = sizeof(struct pinger)};

TEST(tasks_migrate_with_io_in_flight)
{
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    _Atomic int migrated = 0;
    int rounds = (int)(ROUNDS * weft_test_scale()) + 20;
    weft_join *cj[PAIRS], *sj[PAIRS];
    for (int i = 0; i < PAIRS; i++) {
        weft_unix_stream *a, *b;
        ASSERT_EQ(weft_unix_pair(&a, &b), 0);
        struct pinger ci = {.s = a, .rounds = rounds, .first_worker = -1, .migrated = &migrated};
        struct pinger si = {.s = b, .first_worker = -1, .migrated = &migrated};
        ASSERT_EQ(weft_spawn(rt, &ponger_type, &si, &sj[i]), 0);
        ASSERT_EQ(weft_spawn(rt, &pinger_type, &ci, &cj[i]), 0);
    }
    for (int i = 0; i < PAIRS; i++)
        ASSERT_EQ(weft_join_wait(cj[i], NULL, 0), 0);
    for (int i = 0; i < PAIRS; i++)
        ASSERT_EQ(weft_join_wait(sj[i], NULL, 0), 0);
    fprintf(stderr, "%d of %d tasks ran on both workers\n", atomic_load(&migrated), 2 * PAIRS);
    ASSERT_GT(atomic_load(&migrated), 0);
    weft_rt_free(rt);
}

/* Tasks parked on reads that never complete, aborted from the test thread (the drop runs on
 * whichever worker picks the task, often not the one whose reactor holds the read), and
 * reads whose deadline fires on the other worker. */
struct waiter {
    WEFT_ASYNC_STATE;
    weft_stream *s;
    int64_t deadline;
    weft_read_some rd;
    ssize_t n;
    char buf[8];
};
static weft_poll waiter_poll(void *st, weft_cx *cx, void *out)
{
    struct waiter *w = st;
    WEFT_ASYNC_BEGIN(w);
    weft_read_some_init(&w->rd, w->s, w->buf, sizeof w->buf, w->deadline);
    WEFT_AWAIT(w, weft_read_some_poll(&w->rd, cx, &w->n));
    *(ssize_t *)out = w->n;
    WEFT_ASYNC_END(w);
}
static void waiter_drop(void *st) { weft_read_some_drop(&((struct waiter *)st)->rd); }
static const weft_future_type waiter_type = {.name = "waiter",
                                             .poll = waiter_poll,
                                             .drop = waiter_drop,
                                             .state_size = sizeof(struct waiter),
                                             .out_size = sizeof(ssize_t)};

TEST(abort_and_deadline_from_the_other_worker)
{
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    enum { N = 64 };
    weft_unix_stream *a[N], *b[N];
    weft_join *j[N];
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(weft_unix_pair(&a[i], &b[i]), 0);
        struct waiter init = {.s = b[i],
                              .deadline = i % 2 ? weft_deadline_in(WEFT_MS(20 + i)) : WEFT_NEVER};
        ASSERT_EQ(weft_spawn(rt, &waiter_type, &init, &j[i]), 0);
    }
    usleep(100 * 1000);
    for (int i = 0; i < N; i += 2)
        weft_join_abort(j[i]);
    for (int i = 0; i < N; i++) {
        ssize_t n = 0;
        int err = weft_join_wait(j[i], &n, sizeof n);
        if (i % 2) {
            ASSERT_EQ(err, 0);
            ASSERT_EQ(n, -ETIMEDOUT);
        } else {
            ASSERT_EQ(err, -ECANCELED);
        }
    }
    /* A read that ended by its deadline has been confirmed cancelled by the kernel before
     * the future finished, so its stream can be read again at once. (An aborted task's read
     * is cancelled asynchronously: data arriving before the reactor processed the cancel may
     * still land in the dead read, so those streams are not reused here.) */
    for (int i = 0; i < N; i++) {
        if (i % 2) {
            char c;
            ASSERT_EQ(nu_write_all_now(rt, a[i], "z", 1, WEFT_NEVER), 1);
            ASSERT_EQ(nu_read_exact_now(rt, b[i], &c, 1, weft_deadline_in(WEFT_SEC(5))), 1);
        }
        weft_stream_close(a[i]);
        weft_stream_close(b[i]);
    }
    weft_rt_free(rt);
}

/* ------------------------------------------------------------------ polling by hand */

/* A waker for a plain thread: a condition variable plus a reference count, so the test
 * can see when the reactor has let go of every clone. */
struct tw {
    pthread_mutex_t m;
    pthread_cond_t c;
    int woken;
    _Atomic int refs;
};
static void *tw_clone(void *d)
{
    atomic_fetch_add(&((struct tw *)d)->refs, 1);
    return d;
}
static void tw_wake_by_ref(void *d)
{
    struct tw *t = d;
    pthread_mutex_lock(&t->m);
    t->woken = 1;
    pthread_cond_signal(&t->c);
    pthread_mutex_unlock(&t->m);
}
static void tw_drop(void *d) { atomic_fetch_sub(&((struct tw *)d)->refs, 1); }
static void tw_wake(void *d)
{
    tw_wake_by_ref(d);
    tw_drop(d);
}
static const weft_waker_vtable tw_vt = {tw_clone, tw_wake, tw_wake_by_ref, tw_drop};

static void tw_init(struct tw *t)
{
    pthread_mutex_init(&t->m, NULL);
    pthread_cond_init(&t->c, NULL);
    t->woken = 0;
    atomic_init(&t->refs, 0);
}

/* Poll fn(arg) on this thread until READY, sleeping on the waker in between. */
static void hand_run(weft_rt *rt, struct tw *t, nu_fn fn, void *arg)
{
    for (;;) {
        weft_cx cx = {.waker = {t, &tw_vt}, .rt = rt, .budget = 128};
        pthread_mutex_lock(&t->m);
        t->woken = 0;
        pthread_mutex_unlock(&t->m);
        if (fn(arg, &cx) == WEFT_READY)
            return;
        pthread_mutex_lock(&t->m);
        while (!t->woken)
            pthread_cond_wait(&t->c, &t->m);
        pthread_mutex_unlock(&t->m);
    }
}

struct foreign {
    weft_rt *rt;
    weft_stream *s;
    ssize_t n;
    char buf[32];
};
static void *foreign_read(void *arg)
{
    struct foreign *f = arg;
    struct tw t;
    tw_init(&t);
    ASSERT_EQ(weft_rt_worker_index(), -1);
    struct nu_x x;
    weft_read_exact_init(&x.f, f->s, f->buf, 12, weft_deadline_in(WEFT_SEC(10)));
    hand_run(f->rt, &t, nu_read_exact, &x);
    f->n = x.n;
    /* and a write the same way */
    weft_write_all_init(&x.f, f->s, "from afar", 9, WEFT_NEVER);
    hand_run(f->rt, &t, nu_write_all, &x);
    ASSERT_EQ(x.n, 9);
    /* The reactor wakes (and releases) the waker just after publishing the result: wait for
     * the last clone to come back before the waker's memory goes. */
    for (int k = 0; k < 5000 && atomic_load(&t.refs) != 0; k++)
        usleep(100);
    ASSERT_EQ(atomic_load(&t.refs), 0);
    return NULL;
}

TEST(io_polled_on_a_foreign_thread)
{
    for (int fl = 0; fl < 2; fl++) {
        weft_rt *rt = nu_rt(fl ? WEFT_RT_CURRENT_THREAD : WEFT_RT_MULTI_THREAD);
        weft_unix_stream *a, *b;
        ASSERT_EQ(weft_unix_pair(&a, &b), 0);
        struct foreign f = {.rt = rt, .s = b};
        pthread_t th;
        ASSERT_EQ(pthread_create(&th, NULL, foreign_read, &f), 0);
        usleep(20 * 1000);
        /* drive the runtime (the current-thread one only runs inside block_on) */
        char back[9];
        ASSERT_EQ(nu_write_all_now(rt, a, "hello, afar!", 12, WEFT_NEVER), 12);
        ASSERT_EQ(nu_read_exact_now(rt, a, back, 9, weft_deadline_in(WEFT_SEC(10))), 9);
        ASSERT_TRUE(memcmp(back, "from afar", 9) == 0);
        pthread_join(th, NULL);
        ASSERT_EQ(f.n, 12);
        ASSERT_TRUE(memcmp(f.buf, "hello, afar!", 12) == 0);
        weft_stream_close(a);
        weft_stream_close(b);
        weft_rt_free(rt);
    }
}

static void *blocking_job(void *arg)
{
    foreign_read(arg);
    return (void *)1;
}

TEST(io_polled_on_a_blocking_pool_thread)
{
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    weft_unix_stream *a, *b;
    ASSERT_EQ(weft_unix_pair(&a, &b), 0);
    struct foreign f = {.rt = rt, .s = b};
    weft_join *j;
    ASSERT_EQ(weft_spawn_blocking(rt, blocking_job, &f, &j), 0);
    char back[9];
    ASSERT_EQ(nu_write_all_now(rt, a, "hello, pool!", 12, WEFT_NEVER), 12);
    ASSERT_EQ(nu_read_exact_now(rt, a, back, 9, weft_deadline_in(WEFT_SEC(10))), 9);
    void *res = NULL;
    ASSERT_EQ(weft_join_wait(j, &res, sizeof res), 0);
    ASSERT_TRUE(res == (void *)1);
    ASSERT_EQ(f.n, 12);
    weft_stream_close(a);
    weft_stream_close(b);
    weft_rt_free(rt);
}

/* Start a read from a foreign thread, drop it there while it is in flight, then wait until
 * the reactor has released every clone of our waker (the op completed with -ECANCELED and the
 * cancel carrier came back): only then may the future's memory go. */
TEST(drop_from_a_foreign_thread)
{
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    for (int i = 0; i < 50; i++) {
        weft_unix_stream *a, *b;
        ASSERT_EQ(weft_unix_pair(&a, &b), 0);
        struct tw t;
        tw_init(&t);
        struct nu_x *x = malloc(sizeof *x);
        char buf[4];
        weft_read_some_init(&x->f, b, buf, sizeof buf, i % 2 ? weft_deadline_in(WEFT_MS(5)) : WEFT_NEVER);
        weft_cx cx = {.waker = {&t, &tw_vt}, .rt = rt, .budget = 128};
        ASSERT_EQ(nu_read_some(x, &cx), WEFT_PENDING);
        if (i % 3 == 0)
            usleep(2000);
        weft_read_some_drop(&x->f);
        for (int k = 0; k < 5000 && atomic_load(&t.refs) != 0; k++)
            usleep(1000);
        ASSERT_EQ(atomic_load(&t.refs), 0);
        free(x);
        weft_stream_close(a);
        weft_stream_close(b);
    }
    weft_rt_free(rt);
}

TEST_MAIN()
