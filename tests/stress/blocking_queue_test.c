/* White-box stress of the blocking pool's lock-free MPMC queue (src/sched/blocking.h): many
 * producers and consumers, every item taken exactly once, each producer's items seen in order
 * by every consumer, block recycling across many laps, and the length snapshot. */
#include <pthread.h>
#include <stdatomic.h>

#include "sched/blocking.h"
#include "test.h"

#define PRODUCERS 4
#define CONSUMERS 4

static struct bq Q;
static long per_producer;
static _Atomic long taken;
static unsigned char *seen; /* [producer][seq] */

static void *producer(void *arg)
{
    uintptr_t p = (uintptr_t)arg;
    for (long i = 0; i < per_producer; i++) {
        uintptr_t v = (p << 32) | (uintptr_t)(i + 1);
        while (bq_push(&Q, (void *)v) < 0)
            sched_yield();
    }
    return NULL;
}

static void *consumer(void *arg)
{
    long last[PRODUCERS] = {0};
    (void)arg;
    while (atomic_load(&taken) < PRODUCERS * per_producer) {
        void *v = bq_pop(&Q);
        if (!v) {
            weft__cpu_relax();
            continue;
        }
        uintptr_t x = (uintptr_t)v;
        unsigned p = (unsigned)(x >> 32);
        long seq = (long)(x & 0xffffffffu);
        if (p >= PRODUCERS || seq < 1 || seq > per_producer)
            weft_test_fail(__FILE__, __LINE__, "garbage item %#lx", (unsigned long)x);
        if (seq <= last[p])
            weft_test_fail(__FILE__, __LINE__, "producer %u out of order: %ld after %ld", p, seq,
                           last[p]);
        last[p] = seq;
        unsigned char prev =
            __atomic_exchange_n(&seen[p * per_producer + seq - 1], 1, __ATOMIC_RELAXED);
        if (prev)
            weft_test_fail(__FILE__, __LINE__, "item %u/%ld taken twice", p, seq);
        atomic_fetch_add(&taken, 1);
    }
    return NULL;
}

TEST(mpmc_every_item_exactly_once_in_producer_order)
{
    per_producer = (long)(200000 * weft_test_scale()) + 1000;
    seen = calloc((size_t)(PRODUCERS * per_producer), 1);
    ASSERT_TRUE(seen != NULL);
    bq_init(&Q);
    pthread_t pt[PRODUCERS], ct[CONSUMERS];
    for (uintptr_t i = 0; i < CONSUMERS; i++)
        ASSERT_EQ(pthread_create(&ct[i], NULL, consumer, NULL), 0);
    for (uintptr_t i = 0; i < PRODUCERS; i++)
        ASSERT_EQ(pthread_create(&pt[i], NULL, producer, (void *)i), 0);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(pt[i], NULL);
    for (int i = 0; i < CONSUMERS; i++)
        pthread_join(ct[i], NULL);
    ASSERT_EQ(atomic_load(&taken), PRODUCERS * per_producer);
    for (long i = 0; i < PRODUCERS * per_producer; i++)
        ASSERT_EQ(seen[i], 1);
    ASSERT_TRUE(bq_pop(&Q) == NULL);
    ASSERT_TRUE(bq_is_empty(&Q));
    bq_fini(&Q);
    free(seen);
}

TEST(single_thread_fifo_and_length)
{
    bq_init(&Q);
    ASSERT_TRUE(bq_is_empty(&Q));
    ASSERT_EQ(bq_len(&Q), 0);
    ASSERT_TRUE(bq_pop(&Q) == NULL);
    for (uintptr_t round = 0; round < 5; round++) {
        for (uintptr_t i = 1; i <= 1000; i++) {
            ASSERT_EQ(bq_push(&Q, (void *)i), 0);
            ASSERT_EQ(bq_len(&Q), i);
        }
        ASSERT_TRUE(!bq_is_empty(&Q));
        for (uintptr_t i = 1; i <= 1000; i++) {
            ASSERT_EQ((uintptr_t)bq_pop(&Q), i);
            ASSERT_EQ(bq_len(&Q), 1000 - i);
        }
        ASSERT_TRUE(bq_pop(&Q) == NULL);
        ASSERT_TRUE(bq_is_empty(&Q));
    }
    /* Items left behind are dropped by fini without leaking blocks (ASan checks). */
    for (uintptr_t i = 1; i <= 200; i++)
        ASSERT_EQ(bq_push(&Q, (void *)i), 0);
    bq_fini(&Q);
}

TEST(push_reports_enomem_and_queues_nothing)
{
    bq_init(&Q);
    weft__alloc_fail_every(1); /* every allocation fails: the first block cannot be made */
    int err = bq_push(&Q, (void *)1);
    weft__alloc_fail_every(0);
    ASSERT_EQ(err, -ENOMEM);
    ASSERT_TRUE(bq_is_empty(&Q));
    /* Fill a block up to its last slot, then fail the successor's allocation. */
    for (uintptr_t i = 1; i < BQ_BLOCK_CAP; i++)
        ASSERT_EQ(bq_push(&Q, (void *)i), 0);
    weft__alloc_fail_every(1);
    err = bq_push(&Q, (void *)99);
    weft__alloc_fail_every(0);
    ASSERT_EQ(err, -ENOMEM);
    ASSERT_EQ(bq_len(&Q), BQ_BLOCK_CAP - 1);
    ASSERT_EQ(bq_push(&Q, (void *)99), 0);
    for (uintptr_t i = 1; i < BQ_BLOCK_CAP; i++)
        ASSERT_EQ((uintptr_t)bq_pop(&Q), i);
    ASSERT_EQ((uintptr_t)bq_pop(&Q), 99);
    bq_fini(&Q);
}

TEST_MAIN()
