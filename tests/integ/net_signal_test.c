/* Signals: a stream of signals read through the reactor, ctrl-c, cancellation and close with
 * a read pending, close-on-exec, bad arguments. Signals are blocked first, before any
 * runtime thread exists (weft/signal.h's rule). */
#include <dirent.h>
#include <signal.h>

#include "net_util.h"

static void block_all(void)
{
    static const int sigs[] = {SIGUSR1, SIGUSR2, SIGINT, SIGHUP};
    ASSERT_EQ(weft_signal_block(sigs, 4), 0);
}

struct sr {
    weft_signal_recv f;
    int signo;
};
static weft_poll sr_poll(void *a, weft_cx *cx)
{
    struct sr *r = a;
    return weft_signal_recv_poll(&r->f, cx, &r->signo);
}

/* Raise `sig` at the process after a short nap, from inside the runtime. */
struct raiser {
    weft_sleep nap;
    int sig, done;
};
static weft_poll raiser_poll(void *a, weft_cx *cx)
{
    struct raiser *r = a;
    if (weft_sleep_poll(&r->nap, cx) == WEFT_PENDING)
        return WEFT_PENDING;
    kill(getpid(), r->sig);
    return WEFT_READY;
}

static int signalfd_cloexec_count(int *total)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int ok = 0;
    *total = 0;
    while ((e = readdir(d))) {
        char link[300], target[64];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = 0;
        if (strstr(target, "signalfd")) {
            (*total)++;
            if (fcntl(atoi(e->d_name), F_GETFD) & FD_CLOEXEC)
                ok++;
        }
    }
    closedir(d);
    return ok;
}

TEST(signal_stream_receives)
{
    block_all();
    for (int fl = 0; fl < 2; fl++) {
        weft_rt *rt = nu_rt(fl ? WEFT_RT_CURRENT_THREAD : WEFT_RT_MULTI_THREAD);
        static const int sigs[] = {SIGUSR1, SIGUSR2};
        weft_signals *s = NULL;
        ASSERT_EQ(weft_signals_new(&s, sigs, 2), 0);
        int total, ok = signalfd_cloexec_count(&total);
        ASSERT_EQ(total, 1);
        ASSERT_EQ(ok, 1);

        /* pending before the read starts */
        kill(getpid(), SIGUSR2);
        struct sr r;
        weft_signal_recv_init(&r.f, s);
        ASSERT_EQ(nu_run(rt, sr_poll, &r), 0);
        ASSERT_EQ(r.signo, SIGUSR2);

        /* arriving while the read waits in the reactor */
        struct raiser ra = {.sig = SIGUSR1};
        weft_sleep_init(&ra.nap, WEFT_MS(30));
        weft_signal_recv_init(&r.f, s);
        ASSERT_EQ(nu_run2(rt, sr_poll, &r, raiser_poll, &ra), 0);
        ASSERT_EQ(r.signo, SIGUSR1);

        weft_signals_close(s);
        weft_rt_free(rt);
    }
}

struct ctrlc {
    weft_ctrl_c f;
    int err;
};
static weft_poll ctrlc_poll(void *a, weft_cx *cx)
{
    struct ctrlc *c = a;
    return weft_ctrl_c_poll(&c->f, cx, &c->err);
}

TEST(ctrl_c)
{
    block_all();
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    struct ctrlc c;
    struct raiser ra = {.sig = SIGINT};
    weft_ctrl_c_init(&c.f);
    weft_sleep_init(&ra.nap, WEFT_MS(30));
    ASSERT_EQ(nu_run2(rt, ctrlc_poll, &c, raiser_poll, &ra), 0);
    ASSERT_EQ(c.err, 0);
    int total;
    signalfd_cloexec_count(&total);
    ASSERT_EQ(total, 0); /* the stream went with the future */
    weft_ctrl_c_drop(&c.f);
    weft_rt_free(rt);
}

struct closer {
    weft_sleep nap;
    weft_signals *s;
};
static weft_poll closer_poll(void *a, weft_cx *cx)
{
    struct closer *c = a;
    if (weft_sleep_poll(&c->nap, cx) == WEFT_PENDING)
        return WEFT_PENDING;
    weft_signals_close(c->s);
    return WEFT_READY;
}

/* A task waiting for ctrl-c, aborted: the read is cancelled and the signalfd closed. */
struct waiter {
    WEFT_ASYNC_STATE;
    weft_ctrl_c c;
    int err;
};
static weft_poll waiter_poll(void *st, weft_cx *cx, void *out)
{
    struct waiter *w = st;
    (void)out;
    WEFT_ASYNC_BEGIN(w);
    weft_ctrl_c_init(&w->c);
    WEFT_AWAIT(w, weft_ctrl_c_poll(&w->c, cx, &w->err));
    WEFT_ASYNC_END(w);
}
static void waiter_drop(void *st) { weft_ctrl_c_drop(&((struct waiter *)st)->c); }
static const weft_future_type waiter_type = {
    .name = "waiter", .poll = waiter_poll, .drop = waiter_drop,
    .state_size = sizeof(struct waiter)};

TEST(close_and_drop_with_a_read_pending)
{
    block_all();
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    static const int sigs[] = {SIGHUP};
    weft_signals *s = NULL;
    ASSERT_EQ(weft_signals_new(&s, sigs, 1), 0);
    struct sr r;
    struct closer cl = {.s = s};
    weft_signal_recv_init(&r.f, s);
    weft_sleep_init(&cl.nap, WEFT_MS(30));
    ASSERT_EQ(nu_run2(rt, sr_poll, &r, closer_poll, &cl), 0);
    ASSERT_EQ(r.signo, -ECANCELED);

    weft_join *j;
    ASSERT_EQ(weft_spawn(rt, &waiter_type, NULL, &j), 0);
    usleep(30 * 1000);
    weft_join_abort(j);
    ASSERT_EQ(weft_join_wait(j, NULL, 0), -ECANCELED);
    int total = 1;
    for (int i = 0; i < 100 && total; i++) {
        signalfd_cloexec_count(&total);
        if (total)
            usleep(10 * 1000);
    }
    ASSERT_EQ(total, 0);
    weft_rt_free(rt);
}

TEST(signal_bad_arguments)
{
    weft_signals *s = (weft_signals *)1;
    int sig = SIGKILL, zero = 0, big = 1000;
    ASSERT_EQ(weft_signals_new(NULL, &sig, 1), -EINVAL);
    ASSERT_EQ(weft_signals_new(&s, &sig, 1), -EINVAL);
    ASSERT_TRUE(s == NULL);
    ASSERT_EQ(weft_signals_new(&s, &zero, 1), -EINVAL);
    ASSERT_EQ(weft_signals_new(&s, &big, 1), -EINVAL);
    ASSERT_EQ(weft_signals_new(&s, NULL, 1), -EINVAL);
    ASSERT_EQ(weft_signals_new(&s, NULL, 0), -EINVAL);
    ASSERT_EQ(weft_signal_block(NULL, 1), -EINVAL);
    ASSERT_EQ(weft_signal_block(NULL, 0), 0);
    sig = SIGSTOP;
    ASSERT_EQ(weft_signal_block(&sig, 1), -EINVAL);
    weft_signals_close(NULL);
    int signo;
    ASSERT_EQ(weft_signal_recv_poll(NULL, NULL, &signo), WEFT_READY);
    ASSERT_EQ(signo, -EINVAL);
    weft_signal_recv f;
    memset(&f, 0, sizeof f);
    weft_cx cx = {0};
    ASSERT_EQ(weft_signal_recv_poll(&f, &cx, &signo), WEFT_READY);
    ASSERT_EQ(signo, -EINVAL);
    ASSERT_EQ(weft_signal_recv_poll(&f, &cx, NULL), WEFT_FAIL(-EINVAL));
    weft_signal_recv_drop(&f);
    weft_signal_recv_drop(NULL);
    int err;
    ASSERT_EQ(weft_ctrl_c_poll(NULL, NULL, &err), WEFT_READY);
    ASSERT_EQ(err, -EINVAL);
    weft_ctrl_c c;
    memset(&c, 0, sizeof c);
    ASSERT_EQ(weft_ctrl_c_poll(&c, &cx, &err), WEFT_READY);
    ASSERT_EQ(err, -EINVAL);
    weft_ctrl_c_drop(&c);
    weft_ctrl_c_drop(NULL);
}

TEST_MAIN()
