/* The local run queue: FIFO order, overflow claim, steal-half, and a two-thread race between
 * the owner and a thief that must neither lose nor duplicate a task. */
#include <pthread.h>

#include "sched/queue.h"
#include "test.h"

#define NT 4096
static struct weft__task tasks[NT];

static void q_init(struct weft__lq *q)
{
    memset(q, 0, sizeof *q);
}

TEST(push_pop_is_fifo)
{
    static struct weft__lq q;
    q_init(&q);
    for (unsigned i = 0; i < WEFT_LQ_CAP; i++)
        ASSERT_TRUE(weft__lq_try_push(&q, &tasks[i]));
    ASSERT_TRUE(!weft__lq_try_push(&q, &tasks[WEFT_LQ_CAP]));
    ASSERT_EQ(weft__lq_len(&q), WEFT_LQ_CAP);
    for (unsigned i = 0; i < WEFT_LQ_CAP; i++)
        ASSERT_TRUE(weft__lq_pop(&q) == &tasks[i]);
    ASSERT_TRUE(weft__lq_pop(&q) == NULL);
}

TEST(claim_half_takes_the_oldest)
{
    static struct weft__lq q;
    struct weft__task *first, *last;
    q_init(&q);
    for (unsigned i = 0; i < WEFT_LQ_CAP; i++)
        ASSERT_TRUE(weft__lq_try_push(&q, &tasks[i]));
    ASSERT_EQ(weft__lq_claim_half(&q, &first, &last), WEFT_LQ_CAP / 2);
    unsigned n = 0;
    for (struct weft__task *t = first; t; t = t->next, n++)
        ASSERT_TRUE(t == &tasks[n]);
    ASSERT_EQ(n, WEFT_LQ_CAP / 2);
    ASSERT_TRUE(last == &tasks[n - 1]);
    ASSERT_TRUE(weft__lq_pop(&q) == &tasks[WEFT_LQ_CAP / 2]);
}

TEST(steal_takes_half_and_returns_one)
{
    static struct weft__lq src, dst;
    q_init(&src);
    q_init(&dst);
    for (unsigned i = 0; i < 10 && i < WEFT_LQ_CAP; i++)
        ASSERT_TRUE(weft__lq_try_push(&src, &tasks[i]));
    unsigned len = weft__lq_len(&src);
    struct weft__task *t = weft__lq_steal_into(&src, &dst);
    ASSERT_TRUE(t != NULL);
    unsigned stolen = len - weft__lq_len(&src);
    ASSERT_EQ(stolen, len - len / 2);
    ASSERT_EQ(weft__lq_len(&dst), stolen - 1);
    ASSERT_TRUE(weft__lq_steal_into(&(struct weft__lq){0}, &dst) == NULL);
}

/* Owner pushes and pops while a thief steals: every task is seen exactly once. */
static struct weft__lq race_q, thief_q;
static _Atomic int seen[NT];
static _Atomic int done;

static void *thief(void *arg)
{
    (void)arg;
    while (!atomic_load(&done)) {
        struct weft__task *t = weft__lq_steal_into(&race_q, &thief_q);
        while (t) {
            atomic_fetch_add(&seen[t - tasks], 1);
            t = weft__lq_pop(&thief_q);
        }
    }
    return NULL;
}

TEST(owner_and_thief_race)
{
    pthread_t th;
    q_init(&race_q);
    q_init(&thief_q);
    int rounds = (int)(200 * weft_test_scale()) + 1;
    for (int r = 0; r < rounds; r++) {
        memset(seen, 0, sizeof seen);
        atomic_store(&done, 0);
        pthread_create(&th, NULL, thief, NULL);
        for (int i = 0; i < NT; i++) {
            while (!weft__lq_try_push(&race_q, &tasks[i])) {
                struct weft__task *t = weft__lq_pop(&race_q);
                if (t)
                    atomic_fetch_add(&seen[t - tasks], 1);
            }
            if (i % 3 == 0) {
                struct weft__task *t = weft__lq_pop(&race_q);
                if (t)
                    atomic_fetch_add(&seen[t - tasks], 1);
            }
        }
        struct weft__task *t;
        while ((t = weft__lq_pop(&race_q)))
            atomic_fetch_add(&seen[t - tasks], 1);
        atomic_store(&done, 1);
        pthread_join(th, NULL);
        while ((t = weft__lq_pop(&thief_q)))
            atomic_fetch_add(&seen[t - tasks], 1);
        for (int i = 0; i < NT; i++)
            ASSERT_EQ(atomic_load(&seen[i]), 1);
    }
}

TEST_MAIN()
