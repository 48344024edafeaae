/* Embedding: a current-thread runtime driven from a plain poll() loop through weft_rt_fd()
 * and weft_rt_run_once(): timers fire on time, tasks spawned from another thread wake the
 * host loop through the fd, and the loop never spins. */
// labels: embed
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include "test.h"
#include "weft.h"

struct napper {
    WEFT_ASYNC_STATE;
    int ms;
    _Atomic int *done;
    weft_sleep s;
};
static weft_poll napper_poll(void *st, weft_cx *cx, void *out)
{
    struct napper *n = st;
    (void)out;
    WEFT_ASYNC_BEGIN(n);
    weft_sleep_init(&n->s, WEFT_MS(n->ms));
    WEFT_AWAIT(n, weft_sleep_poll(&n->s, cx));
    atomic_fetch_add(n->done, 1);
    WEFT_ASYNC_END(n);
}
static void napper_drop(void *st) { weft_sleep_drop(&((struct napper *)st)->s); }
static const weft_future_type napper_type = {.name = "napper",
                                             .poll = napper_poll,
                                             .drop = napper_drop,
                                             .state_size = sizeof(struct napper)};

static int ms_until(int64_t deadline)
{
    if (deadline == WEFT_NEVER)
        return -1;
    int64_t left = deadline - weft_now();
    return left <= 0 ? 0 : (int)((left + 999999) / 1000000);
}

struct remote_arg {
    weft_rt *rt;
    _Atomic int *done;
};
static void *remote_spawner(void *p)
{
    struct remote_arg *a = p;
    for (int i = 0; i < 20; i++) {
        usleep(2000);
        ASSERT_EQ(weft_spawn(a->rt, &napper_type, &(struct napper){.ms = 0, .done = a->done}, NULL),
                  0);
    }
    return NULL;
}

TEST(poll_loop_drives_a_runtime)
{
    weft_rt *rt;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = WEFT_RT_CURRENT_THREAD}), 0);
    int fd = weft_rt_fd(rt);
    ASSERT_GE(fd, 0);
    _Atomic int done = 0;
    for (int i = 0; i < 10; i++)
        ASSERT_EQ(weft_spawn(rt, &napper_type, &(struct napper){.ms = 5 + i * 3, .done = &done},
                             NULL),
                  0);
    pthread_t th;
    struct remote_arg a = {rt, &done};
    pthread_create(&th, NULL, remote_spawner, &a);
    int64_t t0 = weft_now();
    int loops = 0;
    while (atomic_load(&done) < 30 && weft_now() - t0 < WEFT_SEC(10)) {
        int64_t deadline;
        ASSERT_GE(weft_rt_run_once(rt, &deadline), 0);
        if (atomic_load(&done) == 30)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, ms_until(deadline));
        loops++;
    }
    pthread_join(th, NULL);
    ASSERT_EQ(atomic_load(&done), 30);
    ASSERT_LT(loops, 2000); /* woken by the fd and deadlines, not spinning */
    /* block_on still works after embedding, and embedding after block_on */
    ASSERT_EQ(weft_rt_block_on(rt, &napper_type, &(struct napper){.ms = 1, .done = &done}, NULL), 0);
    int64_t deadline;
    ASSERT_GE(weft_rt_run_once(rt, &deadline), 0);
    weft_rt_free(rt);
}

TEST(embedding_bad_arguments)
{
    weft_rt *mt;
    ASSERT_EQ(weft_rt_new(&mt, &(weft_rt_config){.workers = 1}), 0);
    ASSERT_EQ(weft_rt_fd(mt), -EINVAL);
    ASSERT_EQ(weft_rt_fd(NULL), -EINVAL);
    ASSERT_EQ(weft_rt_run_once(mt, NULL), -EINVAL);
    ASSERT_EQ(weft_rt_run_once(NULL, NULL), -EINVAL);
    weft_rt_free(mt);
}

TEST_MAIN()
