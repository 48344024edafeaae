/* Many interleavings of the semaphore and the mutex (run under TSan too): hundreds of tasks on
 * 2 and 4 workers acquiring 1..3 permits and holding them across yields, threads outside the
 * runtime taking and returning permits, and a thread aborting random tasks meanwhile.
 * Invariants: never more permits out than exist; available == initial at the end; the mutex
 * protects a plain counter (TSan checks the happens-before it provides). */
#include <sched.h>
#include <unistd.h>

#include "../unit/sync/sync_testutil.h"

enum { PERMITS = 5, TASKS = 400 };

struct shared {
    weft_semaphore *sem;
    weft_mutex *mu;
    _Atomic int out;        /* permits currently held by someone */
    _Atomic int max_out;
    long plain;             /* guarded by mu */
    _Atomic int stop;
};

static void note_out(struct shared *sh, int n)
{
    int now = atomic_fetch_add(&sh->out, n) + n;
    int m = atomic_load(&sh->max_out);
    while (now > m && !atomic_compare_exchange_weak(&sh->max_out, &m, now))
        ;
}

struct task {
    WEFT_ASYNC_STATE;
    struct shared *sh;
    int rounds, i, err, held;
    uint32_t seed;
    weft_semaphore_acquire acq;
    weft_mutex_lock lock;
    weft_permit permit, guard;
};

static uint32_t rnd(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 16;
}

static weft_poll task_poll(void *state, weft_cx *cx, void *out)
{
    struct task *t = state;
    (void)out;
    WEFT_ASYNC_BEGIN(t);
    for (t->i = 0; t->i < t->rounds; t->i++) {
        weft_semaphore_acquire_many_init(&t->acq, t->sh->sem, 1 + rnd(&t->seed) % 3);
        WEFT_AWAIT(t, weft_semaphore_acquire_poll(&t->acq, cx, &t->permit, &t->err));
        if (t->err < 0)
            WEFT_ASYNC_FAIL(t, t->err);
        t->held = (int)weft_permit_count(&t->permit);
        note_out(t->sh, t->held);
        if (rnd(&t->seed) % 2)
            WEFT_YIELD(t, cx);
        atomic_fetch_sub(&t->sh->out, t->held);
        t->held = 0;
        weft_permit_release(&t->permit);

        weft_mutex_lock_init(&t->lock, t->sh->mu);
        WEFT_AWAIT(t, weft_mutex_lock_poll(&t->lock, cx, &t->guard, &t->err));
        t->sh->plain++;
        if (rnd(&t->seed) % 4 == 0)
            WEFT_YIELD(t, cx); /* hold the lock across a suspension */
        weft_permit_release(&t->guard);
    }
    WEFT_ASYNC_END(t);
}

static void task_drop(void *state)
{
    struct task *t = state;
    weft_semaphore_acquire_drop(&t->acq);
    weft_mutex_lock_drop(&t->lock);
    if (t->held)
        atomic_fetch_sub(&t->sh->out, t->held);
    weft_permit_release(&t->permit);
    weft_permit_release(&t->guard);
}

static const weft_future_type task_type = {
    .name = "stress", .poll = task_poll, .drop = task_drop, .state_size = sizeof(struct task)};

static void *foreign(void *p)
{
    struct shared *sh = p;
    weft_permit pm = {0};
    while (!atomic_load(&sh->stop)) {
        if (weft_semaphore_try_acquire_many(sh->sem, 2, &pm) == 0) {
            note_out(sh, 2);
            sched_yield();
            atomic_fetch_sub(&sh->out, 2);
            if (weft_permit_forget(&pm) == 2) /* forget + add_permits: the other way back */
                weft_semaphore_add_permits(sh->sem, 2);
        }
        sched_yield();
    }
    return NULL;
}

struct abort_arg {
    weft_join **j;
    int n;
};

static void *aborter(void *p)
{
    struct abort_arg *a = p;
    uint32_t seed = 7;
    for (int k = 0; k < a->n / 4; k++) {
        weft_join_abort(a->j[rnd(&seed) % (uint32_t)a->n]);
        usleep(50);
    }
    return NULL;
}

static void run(unsigned workers)
{
    static struct shared sh;
    static weft_join *j[TASKS];
    weft_rt *rt = rt_mt(workers);
    pthread_t f[2], ab;
    memset(&sh, 0, sizeof sh);
    ASSERT_EQ(weft_semaphore_new(&sh.sem, PERMITS), 0);
    ASSERT_EQ(weft_mutex_new(&sh.mu), 0);
    for (int i = 0; i < 2; i++)
        ASSERT_EQ(pthread_create(&f[i], NULL, foreign, &sh), 0);
    int rounds = scaled(100);
    for (int i = 0; i < TASKS; i++) {
        struct task init = {.sh = &sh, .rounds = rounds, .seed = (uint32_t)i * 2654435761u};
        ASSERT_EQ(weft_spawn(rt, &task_type, &init, &j[i]), 0);
    }
    struct abort_arg aa = {.j = j, .n = TASKS};
    ASSERT_EQ(pthread_create(&ab, NULL, aborter, &aa), 0);
    pthread_join(ab, NULL); /* before any handle is consumed: abort needs a live handle */
    int done = 0;
    for (int i = 0; i < TASKS; i++) {
        int r = weft_join_wait(j[i], NULL, 0);
        ASSERT_TRUE(r == 0 || r == -ECANCELED);
        done += r == 0;
    }
    atomic_store(&sh.stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(f[i], NULL);
    ASSERT_LE(atomic_load(&sh.max_out), PERMITS);
    ASSERT_EQ(atomic_load(&sh.out), 0);
    ASSERT_EQ(weft_semaphore_available(sh.sem), PERMITS);
    ASSERT_GE(sh.plain, (long)done * rounds);
    weft_permit g = {0};
    ASSERT_EQ(weft_mutex_try_lock(sh.mu, &g), 0); /* nobody kept the lock */
    weft_permit_release(&g);
    weft_rt_free(rt);
    weft_mutex_free(sh.mu);
    weft_semaphore_free(sh.sem);
}

TEST(two_workers)
{
    run(2);
}

TEST(four_workers)
{
    run(4);
}

TEST_MAIN()
