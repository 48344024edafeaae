/* 16 threads the runtime did not create do 1,000,000 mixed operations into a running
 * multi-thread runtime: spawn, spawn+abort, channel send, semaphore acquire/release, waking a
 * parked task. At the end every operation is accounted for: counts match, no task is lost,
 * nothing leaks (ASan), no race (TSan). */
// labels: foreign
#include <pthread.h>
#include <unistd.h>

#include "test.h"
#include "weft.h"

#define THREADS 16
#define TOTAL_OPS 1000000

static weft_rt *rt;
static weft_mpsc_sender *tx;
static weft_semaphore *sem;
static weft_notify *bell;
static _Atomic long ran, spawned, aborted_ok, sent, received, acquired, rang, heard;

static weft_poll count_poll(void *st, weft_cx *cx, void *out)
{
    (void)st, (void)cx, (void)out;
    atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed);
    return WEFT_READY;
}
static const weft_future_type count_type = {.name = "count", .poll = count_poll};

/* Receives everything the threads send; ends when every sender is gone. */
struct consumer {
    WEFT_ASYNC_STATE;
    weft_mpsc_receiver *rx;
    long v;
    int err;
};
static weft_poll consumer_poll(void *st, weft_cx *cx, void *out)
{
    struct consumer *c = st;
    (void)out;
    WEFT_ASYNC_BEGIN(c);
    for (;;) {
        WEFT_AWAIT(c, weft_mpsc_recv_poll(c->rx, cx, &c->v, &c->err));
        if (c->err < 0)
            break;
        atomic_fetch_add_explicit(&received, 1, memory_order_relaxed);
    }
    WEFT_ASYNC_END(c);
}
static void consumer_drop(void *st) { weft_mpsc_receiver_drop(((struct consumer *)st)->rx); }
static const weft_future_type consumer_type = {.name = "consumer",
                                               .poll = consumer_poll,
                                               .drop = consumer_drop,
                                               .state_size = sizeof(struct consumer)};

/* Parks on the notify until told to stop; counts every wake-up it sees. */
static _Atomic int listener_stop;
struct listener {
    WEFT_ASYNC_STATE;
    weft_notify_wait w;
};
static weft_poll listener_poll(void *st, weft_cx *cx, void *out)
{
    struct listener *l = st;
    (void)out;
    WEFT_ASYNC_BEGIN(l);
    while (!atomic_load(&listener_stop)) {
        weft_notify_wait_init(&l->w, bell);
        WEFT_AWAIT(l, weft_notify_wait_poll(&l->w, cx));
        atomic_fetch_add_explicit(&heard, 1, memory_order_relaxed);
    }
    WEFT_ASYNC_END(l);
}
static void listener_drop(void *st) { weft_notify_wait_drop(&((struct listener *)st)->w); }
static const weft_future_type listener_type = {.name = "listener",
                                               .poll = listener_poll,
                                               .drop = listener_drop,
                                               .state_size = sizeof(struct listener)};

static void *hammer(void *arg)
{
    long id = (long)arg, ops = TOTAL_OPS / THREADS;
    weft_mpsc_sender *mine;
    ASSERT_EQ(weft_mpsc_sender_clone(tx, &mine), 0);
    uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1);
    for (long i = 0; i < ops; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        switch (x % 5) {
        case 0: /* spawn, detached */
            ASSERT_EQ(weft_spawn(rt, &count_type, NULL, NULL), 0);
            atomic_fetch_add_explicit(&spawned, 1, memory_order_relaxed);
            break;
        case 1: { /* spawn, abort at once, wait: it either ran or was cancelled */
            weft_join *j;
            ASSERT_EQ(weft_spawn(rt, &count_type, NULL, &j), 0);
            atomic_fetch_add_explicit(&spawned, 1, memory_order_relaxed);
            weft_join_abort(j);
            int r = weft_join_wait(j, NULL, 0);
            ASSERT_TRUE(r == 0 || r == -ECANCELED);
            if (r == -ECANCELED)
                atomic_fetch_add_explicit(&aborted_ok, 1, memory_order_relaxed);
            break;
        }
        case 2: /* channel send */
            ASSERT_EQ(weft_mpsc_try_send(mine, &i), 0);
            atomic_fetch_add_explicit(&sent, 1, memory_order_relaxed);
            break;
        case 3: { /* semaphore from a foreign thread */
            weft_permit p = {0};
            if (weft_semaphore_try_acquire(sem, &p) == 0) {
                atomic_fetch_add_explicit(&acquired, 1, memory_order_relaxed);
                weft_permit_release(&p);
            }
            break;
        }
        default: /* wake a parked task */
            weft_notify_one(bell);
            atomic_fetch_add_explicit(&rang, 1, memory_order_relaxed);
            break;
        }
    }
    weft_mpsc_sender_drop(mine);
    return NULL;
}

TEST(sixteen_foreign_threads_a_million_operations)
{
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2}), 0);
    weft_mpsc_receiver *rx;
    ASSERT_EQ(weft_mpsc_unbounded_new(&tx, &rx, sizeof(long)), 0);
    ASSERT_EQ(weft_semaphore_new(&sem, 4), 0);
    ASSERT_EQ(weft_notify_new(&bell), 0);
    weft_join *consumer, *listener;
    ASSERT_EQ(weft_spawn(rt, &consumer_type, &(struct consumer){.rx = rx}, &consumer), 0);
    ASSERT_EQ(weft_spawn(rt, &listener_type, NULL, &listener), 0);

    pthread_t th[THREADS];
    for (long i = 0; i < THREADS; i++)
        ASSERT_EQ(pthread_create(&th[i], NULL, hammer, (void *)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    weft_mpsc_sender_drop(tx); /* the last sender: the consumer drains and ends */
    ASSERT_EQ(weft_join_wait(consumer, NULL, 0), 0);
    atomic_store(&listener_stop, 1);
    weft_notify_one(bell);
    ASSERT_EQ(weft_join_wait(listener, NULL, 0), 0);

    /* Every detached task ran, every aborted one either ran or was cancelled. */
    for (int i = 0; i < 2000 && atomic_load(&ran) + atomic_load(&aborted_ok) < atomic_load(&spawned); i++)
        usleep(1000);
    ASSERT_EQ(atomic_load(&ran) + atomic_load(&aborted_ok), atomic_load(&spawned));
    ASSERT_EQ(atomic_load(&received), atomic_load(&sent));
    ASSERT_EQ(weft_semaphore_available(sem), 4); /* every permit came back */
    ASSERT_GT(atomic_load(&heard), 0);
    ASSERT_LE(atomic_load(&heard), atomic_load(&rang) + 1); /* no wake-up out of thin air */
    long total = atomic_load(&spawned) + atomic_load(&sent) + atomic_load(&rang);
    ASSERT_GT(total + atomic_load(&acquired), TOTAL_OPS / 2);
    weft_rt_free(rt);
    weft_semaphore_free(sem);
    weft_notify_free(bell);
}

TEST_MAIN()
