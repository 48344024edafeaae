/* Every public function of weft/sync.h with NULL or invalid arguments: -EINVAL (or the
 * documented no-op / READY-with--EINVAL), never a crash. */
#include "../unit/sync/sync_testutil.h"

static struct twaker tw;

TEST(oneshot)
{
    weft_oneshot *o = (void *)1;
    int r = 0;
    weft_cx cx = tw_cx(&tw);
    ASSERT_EQ(weft_oneshot_new(NULL, 1), -EINVAL);
    ASSERT_EQ(weft_oneshot_new(&o, (1u << 20) + 1), -EINVAL);
    ASSERT_TRUE(o == NULL);
    ASSERT_EQ(weft_oneshot_send(NULL, &r), -EINVAL);
    weft_oneshot_sender_drop(NULL);
    weft_oneshot_receiver_drop(NULL);
    ASSERT_EQ(weft_oneshot_recv_poll(NULL, &cx, NULL, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    ASSERT_EQ(weft_oneshot_recv_poll(NULL, NULL, NULL, NULL), WEFT_READY);
}

TEST(semaphore_and_permits)
{
    weft_semaphore *s = (void *)1;
    weft_semaphore_acquire a;
    weft_permit p = {{1, 2}};
    int r = 0;
    weft_cx cx = tw_cx(&tw);
    ASSERT_EQ(weft_semaphore_new(NULL, 1), -EINVAL);
    ASSERT_EQ(weft_semaphore_new(&s, WEFT_SEMAPHORE_MAX_PERMITS + 1), -EINVAL);
    ASSERT_TRUE(s == NULL);
    weft_semaphore_free(NULL);
    ASSERT_EQ(weft_semaphore_available(NULL), 0);
    ASSERT_EQ(weft_semaphore_add_permits(NULL, 1), -EINVAL);
    weft_semaphore_close(NULL);
    ASSERT_TRUE(!weft_semaphore_is_closed(NULL));
    ASSERT_EQ(weft_semaphore_try_acquire(NULL, &p), -EINVAL);
    ASSERT_EQ(weft_permit_count(&p), 0); /* emptied on failure */
    ASSERT_EQ(weft_semaphore_try_acquire(NULL, NULL), -EINVAL);
    ASSERT_EQ(weft_semaphore_try_acquire_many(NULL, 2, NULL), -EINVAL);
    weft_semaphore_acquire_init(NULL, NULL);
    weft_semaphore_acquire_many_init(NULL, NULL, 3);
    ASSERT_EQ(weft_semaphore_acquire_poll(NULL, &cx, &p, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    weft_semaphore_acquire_init(&a, NULL);
    ASSERT_EQ(weft_semaphore_acquire_poll(&a, NULL, &p, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    ASSERT_EQ(weft_semaphore_acquire_poll(&a, &cx, NULL, NULL), WEFT_READY);
    ASSERT_EQ(weft_semaphore_acquire_poll(&a, &cx, &p, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL); /* NULL semaphore */
    weft_semaphore_acquire_drop(NULL);
    weft_semaphore_acquire_drop(&a);
    weft_permit_release(NULL);
    ASSERT_EQ(weft_permit_forget(NULL), 0);
    ASSERT_EQ(weft_permit_count(NULL), 0);

    ASSERT_EQ(weft_semaphore_new(&s, 1), 0);
    ASSERT_EQ(weft_semaphore_try_acquire(s, NULL), -EINVAL);
    ASSERT_EQ(weft_semaphore_available(s), 1);
    weft_semaphore_free(s);
}

TEST(mutex_and_rwlock)
{
    weft_mutex *m = (void *)1;
    weft_rwlock *rw = (void *)1;
    weft_mutex_lock l;
    weft_permit g = {0};
    int r = 0;
    weft_cx cx = tw_cx(&tw);
    ASSERT_EQ(weft_mutex_new(NULL), -EINVAL);
    weft_mutex_free(NULL);
    ASSERT_EQ(weft_mutex_try_lock(NULL, &g), -EINVAL);
    weft_mutex_lock_init(NULL, NULL);
    weft_mutex_lock_init(&l, NULL);
    ASSERT_EQ(weft_mutex_lock_poll(&l, &cx, &g, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    ASSERT_EQ(weft_mutex_lock_poll(NULL, NULL, NULL, NULL), WEFT_READY);
    weft_mutex_lock_drop(NULL);
    ASSERT_EQ(weft_rwlock_new(NULL, 0), -EINVAL);
    ASSERT_EQ(weft_rwlock_new(&rw, WEFT_RWLOCK_MAX_READERS + 1), -EINVAL);
    ASSERT_TRUE(rw == NULL);
    weft_rwlock_free(NULL);
    ASSERT_EQ(weft_rwlock_try_read(NULL, &g), -EINVAL);
    ASSERT_EQ(weft_rwlock_try_write(NULL, &g), -EINVAL);
    weft_rwlock_read_init(NULL, NULL);
    weft_rwlock_write_init(NULL, NULL);
    weft_rwlock_write_init(&l, NULL);
    ASSERT_EQ(weft_rwlock_lock_poll(&l, &cx, &g, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    ASSERT_EQ(weft_rwlock_lock_poll(NULL, &cx, &g, &r), WEFT_READY);
    weft_rwlock_lock_drop(NULL);
    (void)m;
}

TEST(notify_and_barrier)
{
    weft_notify_wait w = {{0}};
    weft_barrier_wait bw = {{0}};
    weft_barrier *b = (void *)1;
    bool leader;
    weft_cx cx = tw_cx(&tw);
    ASSERT_EQ(weft_notify_new(NULL), -EINVAL);
    weft_notify_free(NULL);
    weft_notify_one(NULL);
    weft_notify_waiters(NULL);
    weft_notify_wait_init(NULL, NULL);
    ASSERT_EQ(weft_notify_wait_poll(&w, &cx), WEFT_FAIL(-EINVAL)); /* never initialised */
    weft_notify_wait_init(&w, NULL);
    ASSERT_EQ(weft_notify_wait_poll(&w, &cx), WEFT_FAIL(-EINVAL));
    ASSERT_EQ(weft_notify_wait_poll(NULL, &cx), WEFT_FAIL(-EINVAL));
    ASSERT_EQ(weft_notify_wait_poll(&w, NULL), WEFT_FAIL(-EINVAL));
    weft_notify_wait_drop(NULL);
    weft_notify_wait_drop(&w);
    ASSERT_EQ(weft_barrier_new(NULL, 2), -EINVAL);
    ASSERT_EQ(weft_barrier_new(&b, 0), -EINVAL);
    ASSERT_TRUE(b == NULL);
    weft_barrier_free(NULL);
    weft_barrier_wait_init(NULL, NULL);
    ASSERT_EQ(weft_barrier_wait_poll(&bw, &cx, &leader), WEFT_FAIL(-EINVAL));
    weft_barrier_wait_init(&bw, NULL);
    ASSERT_EQ(weft_barrier_wait_poll(&bw, &cx, NULL), WEFT_FAIL(-EINVAL));
    ASSERT_EQ(weft_barrier_wait_poll(NULL, &cx, NULL), WEFT_FAIL(-EINVAL));
    weft_barrier_wait_drop(NULL);
    weft_barrier_wait_drop(&bw);
}

TEST(mpsc)
{
    weft_mpsc_sender *tx = (void *)1, *tx2 = (void *)1;
    weft_mpsc_receiver *rx = (void *)1;
    weft_mpsc_send s = {{0}};
    uint64_t v = 0;
    int r = 0;
    weft_cx cx = tw_cx(&tw);
    ASSERT_EQ(weft_mpsc_new(NULL, &rx, 8, 1), -EINVAL);
    ASSERT_TRUE(rx == NULL);
    ASSERT_EQ(weft_mpsc_new(&tx, NULL, 8, 1), -EINVAL);
    ASSERT_TRUE(tx == NULL);
    ASSERT_EQ(weft_mpsc_unbounded_new(NULL, NULL, 8), -EINVAL);
    ASSERT_EQ(weft_mpsc_sender_clone(NULL, &tx2), -EINVAL);
    ASSERT_TRUE(tx2 == NULL);
    weft_mpsc_sender_drop(NULL);
    ASSERT_EQ(weft_mpsc_try_send(NULL, &v), -EINVAL);
    weft_mpsc_send_init(NULL, NULL, NULL);
    ASSERT_EQ(weft_mpsc_send_poll(&s, &cx, &r), WEFT_READY); /* never initialised */
    ASSERT_EQ(r, -EINVAL);
    weft_mpsc_send_init(&s, NULL, &v);
    ASSERT_EQ(weft_mpsc_send_poll(&s, &cx, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    ASSERT_EQ(weft_mpsc_send_poll(NULL, &cx, NULL), WEFT_READY);
    weft_mpsc_send_drop(NULL);
    weft_mpsc_send_drop(&s);
    ASSERT_EQ(weft_mpsc_recv_poll(NULL, &cx, &v, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    ASSERT_EQ(weft_mpsc_try_recv(NULL, &v), -EINVAL);
    weft_mpsc_receiver_close(NULL);
    weft_mpsc_receiver_drop(NULL);

    ASSERT_EQ(weft_mpsc_new(&tx, &rx, 8, 1), 0);
    ASSERT_EQ(weft_mpsc_try_send(tx, NULL), -EINVAL);
    ASSERT_EQ(weft_mpsc_sender_clone(tx, NULL), -EINVAL);
    weft_mpsc_send_init(&s, tx, NULL);
    ASSERT_EQ(weft_mpsc_send_poll(&s, &cx, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    ASSERT_EQ(weft_mpsc_recv_poll(rx, NULL, &v, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    weft_mpsc_sender_drop(tx);
    weft_mpsc_receiver_drop(rx);
}

TEST(broadcast_and_watch)
{
    weft_broadcast_sender *bt = (void *)1, *bt2;
    weft_broadcast_receiver *br = (void *)1;
    weft_watch_sender *wt = (void *)1;
    weft_watch_receiver *wr = (void *)1, *wr2;
    int v = 0, r = 0;
    uint64_t missed = 9;
    weft_cx cx = tw_cx(&tw);
    ASSERT_EQ(weft_broadcast_new(&bt, &br, 0, 1), -EINVAL);
    ASSERT_TRUE(bt == NULL && br == NULL);
    ASSERT_EQ(weft_broadcast_new(&bt, &br, 4, 0), -EINVAL);
    ASSERT_EQ(weft_broadcast_new(NULL, &br, 4, 1), -EINVAL);
    ASSERT_EQ(weft_broadcast_sender_clone(NULL, &bt2), -EINVAL);
    weft_broadcast_sender_drop(NULL);
    ASSERT_EQ(weft_broadcast_subscribe(NULL, &br), -EINVAL);
    ASSERT_EQ(weft_broadcast_send(NULL, &v), -EINVAL);
    ASSERT_EQ(weft_broadcast_recv_poll(NULL, &cx, &v, &r, &missed), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    ASSERT_EQ(missed, 0);
    ASSERT_EQ(weft_broadcast_try_recv(NULL, &v, NULL), -EINVAL);
    weft_broadcast_receiver_drop(NULL);
    ASSERT_EQ(weft_broadcast_new(&bt, &br, sizeof v, 2), 0);
    ASSERT_EQ(weft_broadcast_send(bt, NULL), -EINVAL);
    ASSERT_EQ(weft_broadcast_recv_poll(br, NULL, &v, &r, NULL), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    weft_broadcast_sender_drop(bt);
    weft_broadcast_receiver_drop(br);

    ASSERT_EQ(weft_watch_new(&wt, &wr, 0, NULL), -EINVAL);
    ASSERT_TRUE(wt == NULL && wr == NULL);
    ASSERT_EQ(weft_watch_new(NULL, &wr, 4, NULL), -EINVAL);
    ASSERT_EQ(weft_watch_send(NULL, &v), -EINVAL);
    weft_watch_sender_drop(NULL);
    ASSERT_EQ(weft_watch_subscribe(NULL, &wr2), -EINVAL);
    ASSERT_EQ(weft_watch_receiver_clone(NULL, &wr2), -EINVAL);
    ASSERT_EQ(weft_watch_changed_poll(NULL, &cx, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    ASSERT_EQ(weft_watch_borrow(NULL, &v), -EINVAL);
    ASSERT_EQ(weft_watch_borrow_and_update(NULL, &v), -EINVAL);
    weft_watch_receiver_drop(NULL);
    ASSERT_EQ(weft_watch_new(&wt, &wr, sizeof v, NULL), 0);
    ASSERT_EQ(weft_watch_send(wt, NULL), -EINVAL);
    ASSERT_EQ(weft_watch_borrow(wr, NULL), -EINVAL);
    ASSERT_EQ(weft_watch_subscribe(wt, NULL), -EINVAL);
    ASSERT_EQ(weft_watch_changed_poll(wr, NULL, NULL), WEFT_READY);
    weft_watch_sender_drop(wt);
    weft_watch_receiver_drop(wr);
}

TEST(combinators)
{
    weft_join_all j = {{0}};
    weft_select s = {{0}};
    weft_child bad[2] = {{.type = &forever_type}, {.type = NULL}};
    struct forever f = {0};
    int r = 0;
    weft_cx cx = tw_cx(&tw);
    weft_join_all_init(NULL, NULL, 0);
    ASSERT_EQ(weft_join_all_poll(&j, &cx, &r), WEFT_READY); /* never initialised */
    ASSERT_EQ(r, -EINVAL);
    ASSERT_EQ(weft_join_all_poll(NULL, &cx, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    bad[0].state = &f;
    weft_join_all_init(&j, bad, 2);
    ASSERT_EQ(weft_join_all_poll(&j, NULL, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    weft_join_all_init(&j, bad, 2);
    ASSERT_EQ(weft_join_all_poll(&j, &cx, NULL), WEFT_READY); /* bad child: nothing polled */
    ASSERT_EQ(f.polls + f.drops, 0);
    weft_join_all_init(&j, bad, (size_t)1 << 30);
    ASSERT_EQ(weft_join_all_poll(&j, &cx, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    weft_join_all_drop(NULL);
    weft_select_init(NULL, NULL, 1);
    ASSERT_EQ(weft_select_poll(&s, &cx, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    weft_select_init(&s, NULL, 1);
    ASSERT_EQ(weft_select_poll(&s, &cx, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    weft_select_init(&s, bad, 2);
    ASSERT_EQ(weft_select_poll(&s, &cx, &r), WEFT_READY);
    ASSERT_EQ(r, -EINVAL);
    ASSERT_EQ(weft_select_poll(NULL, NULL, NULL), WEFT_READY);
    weft_select_drop(NULL);
    weft_select_drop(&s);
    ASSERT_EQ(f.polls + f.drops, 0);
    ASSERT_EQ(atomic_load(&tw.refs), 0);
}

TEST_MAIN()
