/* weft/signal.h - POSIX signals as an async stream, and a ctrl-c future.
 *
 * Signals arrive through a signalfd (SFD_CLOEXEC|SFD_NONBLOCK) read on the reactor: no
 * signal handler runs, so the code that reacts is ordinary task code.
 *
 * The one rule: a signal read this way must be BLOCKED in every thread of the process,
 * otherwise the kernel may deliver it to a thread that has it unblocked (its default action
 * then runs: SIGINT and SIGTERM end the process). Threads inherit the mask of the thread that
 * creates them, so call weft_signal_block() (or create the stream) in main() BEFORE creating
 * any runtime or other thread:
 *
 *   int sigs[] = {SIGINT, SIGTERM};
 *   weft_signal_block(sigs, 2);          // first thing in main()
 *   weft_rt_new(&rt, NULL);              // workers inherit the mask
 *   ...
 *   weft_signals_new(&sig, sigs, 2);     // in a task, or anywhere
 *   weft_signal_recv_init(&s->recv, sig);
 *   WEFT_AWAIT(s, weft_signal_recv_poll(&s->recv, cx, &s->signo));
 *
 * Each delivered signal is read by exactly one stream: with two streams for the same signal,
 * one of them gets it. Several deliveries of the same signal before a read merge into one
 * (standard signals are not queued).
 */
#ifndef WEFT_SIGNAL_H
#define WEFT_SIGNAL_H

#include "base.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * weft_signal_block - block the n signals in the calling thread (pthread_sigmask): threads
 * created afterwards inherit the mask. SIGKILL, SIGSTOP and signals out of range are
 * rejected. Threads: any (normally main, first). Returns 0 or -EINVAL (NULL with n > 0, bad
 * signal, n > 64).
 */
WEFT_API int weft_signal_block(const int *signals, size_t n);

/* A stream of signals: one handle, read by one task at a time. */
typedef struct weft_signals weft_signals;

/**
 * weft_signals_new - watch the n signals (1..64 of them; SIGKILL/SIGSTOP refused). Blocks
 * them in the calling thread too (see the rule above: the other threads must have them
 * blocked already). Ownership: the caller's; release with weft_signals_close().
 * Threads: any. Returns 0; -EINVAL; -EMFILE; -ENOMEM. *out NULL on failure.
 */
WEFT_API int weft_signals_new(weft_signals **out, const int *signals, size_t n);

/* Release the stream. Drop a pending recv future on it first (its drop cancels the read);
 * the descriptor is closed once no read is in flight. The signals stay blocked. NULL ok.
 * Threads: any. */
WEFT_API void weft_signals_close(weft_signals *s);

/* A future that receives the next signal. Opaque-by-size. */
typedef struct weft_signal_recv {
    uint64_t _opaque[64];
} weft_signal_recv;

/* Prepare to receive one signal from s. Cannot fail. Threads: any. */
WEFT_API void weft_signal_recv_init(weft_signal_recv *f, weft_signals *s);
/**
 * weft_signal_recv_poll - on WEFT_READY *signo (may not be NULL) is the signal number, or
 * -errno: -EINVAL (NULL), -ECANCELED. Threads: the owning task.
 * Cancellation: dropping the future cancels the read; a signal that arrives afterwards stays
 * pending for the next recv.
 */
WEFT_API weft_poll weft_signal_recv_poll(weft_signal_recv *f, weft_cx *cx, int *signo);
/* Cancel and forget. Harmless when finished or zero-filled; NULL ok. */
WEFT_API void weft_signal_recv_drop(weft_signal_recv *f);

/* A future that completes at the next SIGINT (ctrl-c). Opaque-by-size. */
typedef struct weft_ctrl_c {
    uint64_t _opaque[66];
} weft_ctrl_c;

/* Prepare; the SIGINT stream is created at the first poll. SIGINT must be blocked in every
 * thread (weft_signal_block at the start of main). Cannot fail. Threads: any. */
WEFT_API void weft_ctrl_c_init(weft_ctrl_c *f);
/* On WEFT_READY *result (may be NULL) is 0 (SIGINT arrived) or -errno (-EMFILE, -ENOMEM from
 * creating the stream, -EINVAL). Threads: the owning task. */
WEFT_API weft_poll weft_ctrl_c_poll(weft_ctrl_c *f, weft_cx *cx, int *result);
/* Cancel and forget; releases the stream. Harmless when finished or zero-filled; NULL ok. */
WEFT_API void weft_ctrl_c_drop(weft_ctrl_c *f);

#ifdef __cplusplus
}
#endif
#endif
