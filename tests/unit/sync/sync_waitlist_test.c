/* White-box tests of the shared waiter list (src/sync/waitlist.h): FIFO links, removal from
 * any position, the lock under contention (spin and futex paths), and wake batching. */
#include "sync/waitlist.h"
#include "sync_testutil.h"

TEST(push_pop_is_fifo)
{
    struct weft__waitlist l;
    struct weft__waiter w[4] = {0};
    weft__waitlist_init(&l);
    ASSERT_TRUE(weft__waitlist_empty(&l));
    for (int i = 0; i < 4; i++)
        weft__waitlist_push(&l, &w[i]);
    for (int i = 0; i < 4; i++) {
        ASSERT_TRUE(w[i].queued);
        ASSERT_TRUE(weft__waitlist_pop(&l) == &w[i]);
        ASSERT_TRUE(!w[i].queued);
    }
    ASSERT_TRUE(weft__waitlist_pop(&l) == NULL);
    ASSERT_TRUE(l.tail == NULL);
}

TEST(remove_head_middle_tail)
{
    struct weft__waitlist l;
    struct weft__waiter w[5] = {0};
    weft__waitlist_init(&l);
    for (int i = 0; i < 5; i++)
        weft__waitlist_push(&l, &w[i]);
    weft__waitlist_remove(&l, &w[2]); /* middle */
    weft__waitlist_remove(&l, &w[0]); /* head */
    weft__waitlist_remove(&l, &w[4]); /* tail */
    ASSERT_TRUE(l.head == &w[1] && l.tail == &w[3]);
    ASSERT_TRUE(w[1].next == &w[3] && w[3].prev == &w[1]);
    weft__waitlist_remove(&l, &w[1]);
    weft__waitlist_remove(&l, &w[3]);
    ASSERT_TRUE(weft__waitlist_empty(&l) && l.tail == NULL);
    /* re-queue after removal */
    weft__waitlist_push(&l, &w[2]);
    ASSERT_TRUE(l.head == &w[2] && l.tail == &w[2] && w[2].prev == NULL && w[2].next == NULL);
}

struct lock_arg {
    struct weft__waitlist *l;
    long *counter;
    int iters;
};

static void *hammer(void *p)
{
    struct lock_arg *a = p;
    for (int i = 0; i < a->iters; i++) {
        weft__waitlist_lock(a->l);
        long v = *a->counter;
        if ((i & 63) == 0)
            for (volatile int k = 0; k < 2000; k++) /* long holds: exercise the futex path */
                ;
        *a->counter = v + 1;
        weft__waitlist_unlock(a->l);
    }
    return NULL;
}

TEST(lock_is_mutually_exclusive)
{
    struct weft__waitlist l;
    long counter = 0;
    enum { T = 4 };
    pthread_t th[T];
    struct lock_arg a = {&l, &counter, scaled(50000)};
    weft__waitlist_init(&l);
    for (int i = 0; i < T; i++)
        ASSERT_EQ(pthread_create(&th[i], NULL, hammer, &a), 0);
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    ASSERT_EQ(counter, (long)T * a.iters);
    ASSERT_EQ(atomic_load(&l.lock), 0);
}

TEST(wakelist_batches_and_wakes_each_once)
{
    struct twaker tw = {0};
    struct weft__wakelist wl;
    weft_waker w[WEFT__WAKE_BATCH];
    weft_waker empty = {0};
    weft__wakelist_init(&wl);
    weft_cx cx = tw_cx(&tw);
    for (int i = 0; i < WEFT__WAKE_BATCH; i++)
        weft_waker_clone(&cx.waker, &w[i]);
    ASSERT_EQ(atomic_load(&tw.refs), WEFT__WAKE_BATCH);
    weft__wakelist_take(&wl, &empty); /* an empty waker takes no room */
    ASSERT_EQ(wl.n, 0);
    for (int i = 0; i < WEFT__WAKE_BATCH; i++) {
        ASSERT_TRUE(!weft__wakelist_full(&wl));
        weft__wakelist_take(&wl, &w[i]);
        ASSERT_TRUE(w[i].vtable == NULL);
    }
    ASSERT_TRUE(weft__wakelist_full(&wl));
    weft__wakelist_wake(&wl);
    ASSERT_EQ(wl.n, 0);
    ASSERT_EQ(tw_wakes(&tw), WEFT__WAKE_BATCH);
    ASSERT_EQ(atomic_load(&tw.refs), 0); /* each reference consumed exactly once */
}

TEST(set_waker_keeps_same_and_replaces_other)
{
    struct twaker a = {0}, b = {0};
    struct weft__waiter w = {0};
    weft_cx ca = tw_cx(&a), cb = tw_cx(&b);
    weft__waiter_set_waker(&w, &ca.waker);
    weft__waiter_set_waker(&w, &ca.waker);
    ASSERT_EQ(atomic_load(&a.refs), 1);
    weft__waiter_set_waker(&w, &cb.waker);
    ASSERT_EQ(atomic_load(&a.refs), 0);
    ASSERT_EQ(atomic_load(&b.refs), 1);
    weft_waker_drop(&w.waker);
    ASSERT_EQ(atomic_load(&b.refs), 0);
}

TEST_MAIN()
