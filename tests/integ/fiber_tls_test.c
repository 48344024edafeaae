/* The thread-local storage hazard: a fiber may resume on another worker after any await, so
 * anything thread-local it looked up before the await (a pointer to a __thread variable,
 * errno's address, "my worker") may belong to another thread afterwards. This test makes
 * fibers migrate on a 2-worker runtime, shows that the OS thread (and so a TLS pointer taken
 * before the await) changes across weft_await, and checks that weft's own API - which reads
 * its thread-locals afresh on every call - stays right after every migration. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "test.h"
#include "weft.h"

static pthread_t worker_thread[2];
static __thread int tls_var;

static void on_start(void *arg)
{
    (void)arg;
    int i = weft_rt_worker_index();
    if (i >= 0 && i < 2)
        worker_thread[i] = pthread_self();
}

/* Out of line so the compiler cannot reuse a thread pointer it computed before an await. */
#if defined(__has_attribute) && __has_attribute(noipa)
#define OUT_OF_LINE __attribute__((noinline, noipa))
#else
#define OUT_OF_LINE __attribute__((noinline))
#endif
OUT_OF_LINE static pthread_t self_now(void)
{
    return pthread_self();
}
OUT_OF_LINE static int *tls_addr_now(void)
{
    return &tls_var;
}

static weft_poll empty_poll(void *s, weft_cx *cx, void *out)
{
    (void)s, (void)cx;
    *(int *)out = 11;
    return WEFT_READY;
}
static const weft_future_type empty_type = {
    .name = "empty", .poll = empty_poll, .out_size = sizeof(int)};

static _Atomic int migrations, api_errors, stale_tls;

/* Yields a few times; after each await checks where it is and that weft's API agrees. */
static int hopper(void *arg)
{
    (void)arg;
    uint64_t id = weft_fiber_id();
    for (int i = 0; i < 4; i++) {
        pthread_t before = self_now();
        int *tls_before = tls_addr_now(); /* the hazard: cached across the await */
        if (weft_fiber_yield() != 0)
            return -EFAULT;
        pthread_t after = self_now();
        if (!pthread_equal(before, after)) {
            atomic_fetch_add(&migrations, 1);
            if (tls_before != tls_addr_now())
                atomic_fetch_add(&stale_tls, 1); /* now another thread's variable */
        }
        /* weft's API is safe: it answers for the thread we are on now. */
        int w = weft_rt_worker_index();
        if (w < 0 || w > 1 || !pthread_equal(worker_thread[w], after))
            atomic_fetch_add(&api_errors, 1);
        if (weft_task_current_id() != id || weft_fiber_id() != id)
            atomic_fetch_add(&api_errors, 1);
        /* Spawning and joining allocate from the current worker's slab. */
        weft_join *j;
        int out = 0;
        if (weft_spawn(weft_rt_current(), &empty_type, NULL, &j) < 0 ||
            weft_await_join(j, &out, sizeof out) != 0 || out != 11)
            atomic_fetch_add(&api_errors, 1);
    }
    return 0;
}

/* Spawns hoppers onto its worker's queue, lets them run once there, then blocks its worker
 * thread for a moment so the other worker steals them: they resume there. */
static int root(void *arg)
{
    (void)arg;
    enum { N = 32 };
    weft_join *j[N];
    for (int i = 0; i < N; i++)
        if (weft_fiber_spawn(weft_rt_current(), hopper, NULL, NULL, &j[i]) < 0)
            return -ENOMEM;
    weft_fiber_yield(); /* the hoppers start here and yield back into this worker's ring */
    usleep(3000);       /* blocking the worker (never do this in real code): a steal follows */
    for (int i = 0; i < N; i++)
        if (weft_await_join(j[i], NULL, 0) != 0)
            return -EFAULT;
    return 0;
}

TEST(fibers_migrate_and_weft_api_stays_right)
{
    weft_rt *rt = NULL;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = 2, .on_thread_start = on_start}), 0);
    usleep(2000); /* both workers have recorded their threads */
    for (int round = 0; round < 50 && atomic_load(&migrations) < 8; round++) {
        weft_join *j;
        ASSERT_EQ(weft_fiber_spawn(rt, root, NULL, NULL, &j), 0);
        ASSERT_EQ(weft_join_wait(j, NULL, 0), 0);
    }
    weft_rt_free(rt);
    fprintf(stderr, "migrations seen: %d\n", atomic_load(&migrations));
    ASSERT_GT(atomic_load(&migrations), 0);
    ASSERT_EQ(atomic_load(&stale_tls), atomic_load(&migrations));
    ASSERT_EQ(atomic_load(&api_errors), 0);
}

TEST_MAIN()
