/* Signals as a stream (weft/signal.h): a signalfd (SFD_CLOEXEC|SFD_NONBLOCK) read with the
 * reactor's READ op. A read that finds nothing pending waits for readiness like any other
 * descriptor (io_uring: the driver's poll-and-retry; epoll: the fd's registration).
 *
 * signalfd returns signals pending for the process and for the reading thread. The read runs
 * on a reactor thread (a worker), so a signal must be process-directed (kill(2), a terminal's
 * ctrl-c) or directed at that very thread to be seen; and it must be blocked everywhere, or
 * its default action runs on whichever thread has it unblocked (signal.h's rule).
 *
 * signalfd(2) is called here rather than in src/sys: it is the one signal-specific system
 * call weft makes, and nothing else needs it.
 */
#include <signal.h>
#include <sys/signalfd.h>

#include "io/sock.h"
#include "weft/signal.h"

struct weft_signals {
    struct weft__handle h;
};

static int make_set(const int *signals, size_t n, sigset_t *set)
{
    if ((!signals && n) || n > 64)
        return -EINVAL;
    sigemptyset(set);
    for (size_t i = 0; i < n; i++) {
        int s = signals[i];
        if (s <= 0 || s >= NSIG || s == SIGKILL || s == SIGSTOP || sigaddset(set, s) < 0)
            return -EINVAL;
    }
    return 0;
}

int weft_signal_block(const int *signals, size_t n)
{
    sigset_t set;
    int err = make_set(signals, n, &set);
    if (err < 0)
        return err;
    return -pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int weft_signals_new(weft_signals **out, const int *signals, size_t n)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    sigset_t set;
    int err = make_set(signals, n, &set);
    if (err < 0 || n == 0)
        return -EINVAL;
    if ((err = pthread_sigmask(SIG_BLOCK, &set, NULL)) != 0)
        return -err;
    int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct weft_signals *s = weft__alloc(sizeof *s);
    if (!s) {
        weft__sys_close(fd);
        return -ENOMEM;
    }
    weft__handle_init(&s->h, H_SIGNALS, fd);
    *out = s;
    return 0;
}

void weft_signals_close(weft_signals *s)
{
    if (s)
        weft__handle_close(&s->h);
}

/* ------------------------------------------------------------------ recv */

struct sigrecv {
    struct weft__opf f;
    struct weft_signals *s;
    struct signalfd_siginfo si; /* written by the kernel while the read is in flight */
    uint8_t inited;
    uint8_t finished;
};
WEFT__IMPL(weft_signal_recv, struct sigrecv);

void weft_signal_recv_init(weft_signal_recv *pub, weft_signals *s)
{
    struct sigrecv *r = (struct sigrecv *)pub;
    weft__opf_init(&r->f, WEFT_NEVER);
    r->s = s;
    r->inited = 1;
    r->finished = 0;
}

static weft_poll recv_finish(struct sigrecv *r, int *signo, int v)
{
    r->finished = 1;
    *signo = v;
    return WEFT_READY;
}

weft_poll weft_signal_recv_poll(weft_signal_recv *pub, weft_cx *cx, int *signo)
{
    struct sigrecv *r = (struct sigrecv *)pub;
    int32_t res;

    if (!signo)
        return WEFT_FAIL(-EINVAL);
    if (!pub) {
        *signo = -EINVAL;
        return WEFT_READY;
    }
    if (!r->inited || r->finished || !r->s || !cx)
        return recv_finish(r, signo, -EINVAL);
    for (;;) {
        if (!r->f.inflight) {
            if (!weft__budget(cx))
                return WEFT_PENDING;
            weft__io_prep_read(&r->f.w.op, r->s->h.fd, &r->si, sizeof r->si, -1,
                               weft__opf_done);
            int err = weft__opf_start(&r->f, &r->s->h, cx);
            if (err < 0)
                return recv_finish(r, signo, err);
        }
        if (weft__opf_poll(&r->f, cx, &res) == WEFT_PENDING)
            return WEFT_PENDING;
        if (res == (int32_t)sizeof r->si)
            return recv_finish(r, signo, (int)r->si.ssi_signo);
        if (res < 0 && res != -EAGAIN && res != -EINTR)
            return recv_finish(r, signo, res);
        /* a short read or a spurious wakeup: read again */
    }
}

void weft_signal_recv_drop(weft_signal_recv *pub)
{
    if (!pub)
        return;
    struct sigrecv *r = (struct sigrecv *)pub;
    weft__opf_drop(&r->f, NULL);
    r->finished = 1;
}

/* ------------------------------------------------------------------ ctrl-c */

struct ctrlc {
    struct sigrecv r;  /* first: weft_signal_recv's layout */
    struct weft_signals *s;
    uint8_t inited;
    uint8_t finished;
};
WEFT__IMPL(weft_ctrl_c, struct ctrlc);

void weft_ctrl_c_init(weft_ctrl_c *pub)
{
    struct ctrlc *c = (struct ctrlc *)pub;
    memset(c, 0, sizeof *c);
    c->inited = 1;
}

static weft_poll ctrlc_finish(struct ctrlc *c, int *result, int r)
{
    weft_signals_close(c->s);
    c->s = NULL;
    c->finished = 1;
    *result = r;
    return WEFT_READY;
}

weft_poll weft_ctrl_c_poll(weft_ctrl_c *pub, weft_cx *cx, int *result)
{
    struct ctrlc *c = (struct ctrlc *)pub;
    int dummy, signo;

    if (!result)
        result = &dummy;
    if (!pub) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    if (!c->inited || c->finished || !cx)
        return ctrlc_finish(c, result, -EINVAL);
    if (!c->s) {
        static const int sigint[] = {SIGINT};
        int err = weft_signals_new(&c->s, sigint, 1);
        if (err < 0)
            return ctrlc_finish(c, result, err);
        weft_signal_recv_init((weft_signal_recv *)&c->r, c->s);
    }
    if (weft_signal_recv_poll((weft_signal_recv *)&c->r, cx, &signo) == WEFT_PENDING)
        return WEFT_PENDING;
    return ctrlc_finish(c, result, signo < 0 ? signo : 0);
}

void weft_ctrl_c_drop(weft_ctrl_c *pub)
{
    if (!pub)
        return;
    struct ctrlc *c = (struct ctrlc *)pub;
    weft_signal_recv_drop((weft_signal_recv *)&c->r);
    weft_signals_close(c->s); /* the read in flight holds the handle until it ends */
    c->s = NULL;
    c->finished = 1;
}
