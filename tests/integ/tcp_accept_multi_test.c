/* The listener's multishot accept (io_uring) and the one-at-a-time accept (epoll, or a kernel
 * without multishot): the same behaviour seen from the API, checked on every backend. On
 * io_uring the test also looks inside the listener (white box) to be sure the multishot path
 * is the one that ran. */
#include <stdatomic.h>

#include "io/sock.h"
#include "net_util.h"

/* Acceptor tasks share one counter; each accepts until `want` connections were taken. */
struct accepting {
    weft_listener *ln;
    _Atomic int taken, bad_peer, errors;
    int want;
};

struct acceptor {
    WEFT_ASYNC_STATE;
    struct accepting *sh;
    weft_accept acc;
    weft_stream *conn;
    int err;
};

static weft_poll acceptor_poll(void *st, weft_cx *cx, void *out)
{
    struct acceptor *a = st;
    *(int *)out = 0;
    WEFT_ASYNC_BEGIN(a);
    while (atomic_load(&a->sh->taken) < a->sh->want) {
        weft_accept_init(&a->acc, a->sh->ln, weft_deadline_in(WEFT_MS(100)));
        WEFT_AWAIT(a, weft_accept_poll(&a->acc, cx, &a->conn, &a->err));
        if (a->err == -ETIMEDOUT)
            continue;
        if (a->err < 0) {
            *(int *)out = a->err;
            WEFT_ASYNC_RETURN(a);
        }
        weft_sockaddr peer;
        if (weft_stream_peer_addr(a->conn, &peer) != 0 || weft_sockaddr_port(&peer) <= 0)
            atomic_fetch_add(&a->sh->bad_peer, 1);
        weft_stream_close(a->conn);
        atomic_fetch_add(&a->sh->taken, 1);
    }
    WEFT_ASYNC_END(a);
}
static void acceptor_drop(void *st) { weft_accept_drop(&((struct acceptor *)st)->acc); }
static const weft_future_type acceptor_type = {.name = "acceptor",
                                               .poll = acceptor_poll,
                                               .drop = acceptor_drop,
                                               .state_size = sizeof(struct acceptor),
                                               .out_size = sizeof(int)};

static bool on_uring(weft_rt *rt)
{
    return strcmp(weft_io_backend_name(rt), "epoll") != 0;
}

static int join_result(weft_join *j)
{
    int out = 0, err = weft_join_wait(j, &out, sizeof out);
    return err < 0 ? err : out;
}

/* Many connections at once, four acceptors on two workers: every connection is taken once,
 * with its peer address. */
static void burst(int flavor)
{
    enum { N = 300, A = 4 };
    weft_rt *rt = nu_rt(flavor);
    weft_sockaddr addr;
    struct accepting sh = {.ln = nu_listen(&addr), .want = N};
    weft_join *j[A];
    for (int i = 0; i < A; i++)
        ASSERT_EQ(weft_spawn(rt, &acceptor_type, &(struct acceptor){.sh = &sh}, &j[i]), 0);
    static int cl[N];
    for (int i = 0; i < N; i++)
        cl[i] = nu_raw_connect(&addr);
    for (int i = 0; i < A; i++)
        ASSERT_EQ(join_result(j[i]), 0);
    ASSERT_EQ(atomic_load(&sh.taken), N);
    ASSERT_EQ(atomic_load(&sh.bad_peer), 0);
    if (on_uring(rt)) /* the multishot ran (this kernel has it: 6.x) */
        ASSERT_TRUE(sh.ln->eng.got_any && !atomic_load(&sh.ln->eng.unsupported));
    else
        ASSERT_TRUE(!sh.ln->eng.got_any);
    for (int i = 0; i < N; i++)
        close(cl[i]);
    weft_listener_close(sh.ln);
    weft_rt_free(rt);
}

TEST(burst_multi_thread) { burst(WEFT_RT_MULTI_THREAD); }
TEST(burst_current_thread_spawned_from_outside)
{
    /* A current-thread runtime runs tasks only inside block_on: drive it from one. */
    enum { N = 64 };
    weft_rt *rt = nu_rt(WEFT_RT_CURRENT_THREAD);
    weft_sockaddr addr;
    struct accepting sh = {.ln = nu_listen(&addr), .want = N};
    static int cl[N];
    for (int i = 0; i < N; i++)
        cl[i] = nu_raw_connect(&addr); /* queued in the backlog before anyone accepts */
    int out = -1;
    ASSERT_EQ(weft_rt_block_on(rt, &acceptor_type, &(struct acceptor){.sh = &sh}, &out), 0);
    ASSERT_EQ(out, 0);
    ASSERT_EQ(atomic_load(&sh.taken), N);
    for (int i = 0; i < N; i++)
        close(cl[i]);
    weft_listener_close(sh.ln);
    weft_rt_free(rt);
}

/* Closing the listener (from a foreign thread) ends every waiting accept with -ECANCELED. */
TEST(close_ends_waiting_accepts)
{
    enum { A = 3 };
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    weft_sockaddr addr;
    struct accepting sh = {.ln = nu_listen(&addr), .want = 1000};
    weft_join *j[A];
    for (int i = 0; i < A; i++)
        ASSERT_EQ(weft_spawn(rt, &acceptor_type, &(struct acceptor){.sh = &sh}, &j[i]), 0);
    usleep(50 * 1000); /* all three wait (the multishot is armed on io_uring) */
    weft_listener_close(sh.ln);
    for (int i = 0; i < A; i++)
        ASSERT_EQ(join_result(j[i]), -ECANCELED);
    weft_rt_free(rt);
}

/* Connections the kernel accepted for nobody are closed with the listener: their clients
 * see the end (EOF or a reset), nothing leaks. */
TEST(untaken_connections_closed_with_listener)
{
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    weft_sockaddr addr;
    struct accepting sh = {.ln = nu_listen(&addr), .want = 1};
    weft_join *j = NULL;
    ASSERT_EQ(weft_spawn(rt, &acceptor_type, &(struct acceptor){.sh = &sh}, &j), 0);
    int first = nu_raw_connect(&addr);
    ASSERT_EQ(join_result(j), 0); /* on io_uring the multishot stays armed after this */
    enum { K = 5 };
    int cl[K];
    struct timeval tv = {.tv_sec = 5};
    for (int i = 0; i < K; i++) {
        cl[i] = nu_raw_connect(&addr);
        setsockopt(cl[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    usleep(50 * 1000);
    weft_listener_close(sh.ln);
    for (int i = 0; i < K; i++) {
        char c;
        ssize_t r = read(cl[i], &c, 1);
        ASSERT_LE(r, 0); /* 0 (EOF) or -1 (reset), never a 5 s timeout */
        if (r < 0)
            ASSERT_TRUE(errno != EAGAIN && errno != EWOULDBLOCK);
        close(cl[i]);
    }
    close(first);
    weft_rt_free(rt);
}

/* The runtime is freed while an accept waits (and the multishot is armed): everything is
 * released; the listener is closed afterwards. */
TEST(runtime_freed_while_accepting)
{
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    weft_sockaddr addr;
    struct accepting sh = {.ln = nu_listen(&addr), .want = 1000};
    weft_join *j = NULL;
    ASSERT_EQ(weft_spawn(rt, &acceptor_type, &(struct acceptor){.sh = &sh}, &j), 0);
    usleep(30 * 1000);
    weft_join_detach(j);
    weft_rt_free(rt);
    int cl = nu_raw_connect(&addr); /* the listener still listens: the backlog takes it */
    close(cl);
    weft_listener_close(sh.ln);
}

/* A kernel without multishot accept: the listener falls back to one accept at a time. */
TEST(fallback_when_unsupported)
{
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    weft_sockaddr addr;
    struct accepting sh = {.ln = nu_listen(&addr), .want = 20};
    atomic_store(&sh.ln->eng.unsupported, 1); /* what an -EINVAL from the kernel leaves */
    weft_join *j = NULL;
    ASSERT_EQ(weft_spawn(rt, &acceptor_type, &(struct acceptor){.sh = &sh}, &j), 0);
    int cl[20];
    for (int i = 0; i < 20; i++)
        cl[i] = nu_raw_connect(&addr);
    ASSERT_EQ(join_result(j), 0);
    ASSERT_EQ(atomic_load(&sh.taken), 20);
    ASSERT_TRUE(!sh.ln->eng.got_any);
    for (int i = 0; i < 20; i++)
        close(cl[i]);
    weft_listener_close(sh.ln);
    weft_rt_free(rt);
}

TEST_MAIN()
