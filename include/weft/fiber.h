/* weft/fiber.h - stackful fibers: straight-line async code on the same scheduler.
 *
 * A fiber is a task whose poll function resumes a stack of its own (DESIGN decision 2). Inside
 * a fiber, awaiting a future polls it; while it is pending, the fiber's stack is put aside, the
 * task's poll returns WEFT_PENDING and the worker runs other tasks. When the future's waker
 * fires, the task is polled again - maybe on another worker - and the poll resumes the stack.
 * Every weft future works from a fiber as it is: no fiber-specific twin is needed.
 *
 *   static int worker(void *arg)
 *   {
 *       weft_oneshot *ch = arg;
 *       int v, err;
 *       int rc = WEFT_FIBER_AWAIT(cx, weft_oneshot_recv_poll(ch, cx, &v, &err));
 *       if (rc < 0)                 // -ECANCELED: the fiber was aborted; the channel is ours
 *           weft_oneshot_receiver_drop(ch);
 *       return rc < 0 ? rc : err < 0 ? err : v;
 *   }
 *   ...
 *   weft_fiber_spawn(rt, worker, ch, NULL, &join);
 *
 * Three ways to await, from the most general to the most convenient:
 *   WEFT_FIBER_AWAIT(cx, expr)   any poll expression (names the context `cx` for it)
 *   weft_await(poll, fut, out)   any future whose poll has the weft_poll_fn shape
 *   weft_fiber_yield(), weft_await_join(), weft_await_oneshot()   the common cases
 * Each returns 0 (or the awaited thing's result) when the future is ready, and -ECANCELED when
 * the fiber has been cancelled: the future is then left unfinished, and the fiber unwinds
 * through its own cleanup code and returns. Every later await fails with -ECANCELED at once.
 *
 * Rules of the road (docs/design/fiber.md has the why):
 *  - Stacks are fixed (default 64 KiB, guard page below). Deep recursion or big local arrays
 *    need opts.stack_size; an overflow kills the process with "weft: fiber stack overflow".
 *  - A fiber may resume on another worker after any await: do not keep a pointer to a
 *    thread-local variable (or errno's address, or a worker-owned object) across an await.
 *    weft's own API is safe to call from any fiber at any time.
 *  - Never block the OS thread (sleep(), a blocking read, weft_join_wait): await instead.
 *  - IO futures and their buffers may live on the fiber stack: dropping one whose operation is
 *    still in the kernel waits (inside the drop) until the kernel has let go of it - a few
 *    microseconds for a socket, up to the end of a read(2) already running on the blocking
 *    pool (docs/design/fiber.md, "IO buffers on fiber stacks").
 */
#ifndef WEFT_FIBER_H
#define WEFT_FIBER_H

#include "base.h"
#include "sync.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The body of a fiber. Returns a value >= 0 (the task's output, an int that weft_join_wait /
 * weft_join_poll / weft_await_join copy out) or a negative errno (the task's error). */
typedef int (*weft_fiber_fn)(void *arg);

/* Fiber options. Zero means default for every field; new fields go at the end. */
typedef struct weft_fiber_opts {
    size_t stack_size;         /* usable stack bytes; 0 = 64 KiB. Rounded up to a power of two,
                                  16 KiB .. 1 GiB; more is -EINVAL. Only touched pages cost
                                  memory: a parked fiber costs about one page plus its task. */
    const char *name;          /* for traces and the overflow report; must outlive the fiber;
                                  default "fiber" */
    weft_priority priority;    /* as for tasks; default NORMAL */
    void (*drop_arg)(void *arg); /* optional: runs, with arg, if fn never runs (no stack could
                                    be allocated for it); see weft_fiber_spawn */
} weft_fiber_opts;

/**
 * weft_fiber_spawn - run fn(arg) as a fiber on rt.
 * @fn:   the fiber's body; runs on the fiber's own stack, on whichever worker polls it.
 * @arg:  passed to fn; weft never touches it. It belongs to fn, which runs exactly once -
 *        also when the fiber is cancelled before it first ran (then every await in it fails
 *        with -ECANCELED at once), so fn is the one place to free it. The exception: if no
 *        stack can be mapped when the fiber must start, fn never runs, opts->drop_arg(arg)
 *        runs instead (when set) and the join reports -ENOMEM.
 * @opts: may be NULL (all defaults).
 * @join: out: a join handle (output: fn's int result), or NULL to detach. Set to NULL on
 *        failure. Consume it as any task's handle (weft_join_wait, weft_join_poll,
 *        weft_await_join from another fiber, or weft_join_detach).
 * The stack is taken from the polling worker's pool at the first poll, not here, so a spawn
 * costs what a task spawn costs. The first spawn in the process installs a SIGSEGV handler (on
 * an alternate signal stack) that reports fiber stack overflows and passes every other fault
 * on to the handler that was there before.
 * Threads: any (as weft_spawn). Cancellation: weft_join_abort(join) cancels the fiber at its
 * next await (see the top of this file); weft_rt_free cancels every unfinished fiber the same
 * way and runs it to its end on the thread calling weft_rt_free.
 * Returns 0; -EINVAL (NULL rt or fn, bad opts); -ENOMEM; -ESHUTDOWN (rt is shutting down);
 * -EAGAIN (the inject-queue cap, as weft_spawn).
 */
WEFT_API int weft_fiber_spawn(weft_rt *rt, weft_fiber_fn fn, void *arg,
                              const weft_fiber_opts *opts, weft_join **join);

/**
 * weft_fiber_cx - the poll context of the calling fiber, for polling a future by hand.
 * Sets *cx to the context of the current poll (valid until the fiber next suspends).
 * Threads: the calling fiber. Returns 0; -ECANCELED (the fiber is being cancelled: *cx is
 * NULL and no future may be polled); -EPERM (not called from a fiber: *cx is NULL).
 */
WEFT_API int weft_fiber_cx(weft_cx **cx);

/**
 * weft_fiber_suspend - give the worker back until the calling fiber's task is woken.
 * Call it after a poll returned WEFT_PENDING (so a waker is registered), or after waking the
 * task yourself. On return *cx is the new poll's context: the fiber may be on another worker
 * now. Threads: the calling fiber.
 * Returns 0; -ECANCELED (the fiber was cancelled meanwhile, or before: *cx is NULL; the
 * pending future is left unfinished - drop it if it has a drop); -EPERM (not in a fiber).
 */
WEFT_API int weft_fiber_suspend(weft_cx **cx);

/**
 * WEFT_FIBER_AWAIT(cx, expr) - await any poll expression from a fiber.
 * Declares `weft_cx *cx` for expr, then evaluates expr (a weft_poll: WEFT_READY or
 * WEFT_PENDING) until it is not pending, suspending the fiber in between. Evaluates to an int:
 * 0 when expr returned WEFT_READY (its results are wherever expr put them), -ECANCELED when
 * the fiber was cancelled (expr is not evaluated again: the future is left unfinished and the
 * caller drops it if needed), -EPERM outside a fiber (expr is never evaluated).
 *   int err, n;
 *   if (WEFT_FIBER_AWAIT(cx, weft_join_poll(j, cx, &n, sizeof n, &err)) < 0) ...
 * A GNU statement expression (gcc, clang): the macro is the one place this header needs one.
 */
#define WEFT_FIBER_AWAIT(cx, expr)                                                                 \
    __extension__({                                                                                \
        weft_cx *cx;                                                                               \
        int weft_fa_rc_ = weft_fiber_cx(&cx);                                                      \
        while (weft_fa_rc_ == 0 && (expr) == WEFT_PENDING)                                         \
            weft_fa_rc_ = weft_fiber_suspend(&cx);                                                 \
        weft_fa_rc_;                                                                               \
    })

/**
 * weft_await - await a future whose poll has the weft_poll_fn shape (fut, cx, out), as a
 * weft_future_type's poll does. Polls poll(fut, cx, out) until it is not WEFT_PENDING.
 * fut and out stay owned by the caller; they must stay valid until weft_await returns.
 * Threads: the calling fiber. Returns 0 (WEFT_READY), the negative errno a task-style poll
 * returned, -ECANCELED (the fiber was cancelled: fut is left unfinished), -EPERM (not in a
 * fiber), -EINVAL (NULL poll).
 */
WEFT_API int weft_await(weft_poll_fn poll, void *fut, void *out);

/**
 * weft_fiber_yield - go to the back of the run queue once (other tasks run meanwhile).
 * Threads: the calling fiber. Returns 0, -ECANCELED, -EPERM (not in a fiber).
 */
WEFT_API int weft_fiber_yield(void);

/**
 * weft_await_join - wait for a task (or fiber) to end and consume its join handle.
 * Copies up to out_size bytes of its output to out (may be NULL) on success.
 * Returns the task's result: 0, its error, or -ECANCELED (it was aborted). When the calling
 * fiber is itself cancelled while waiting it also returns -ECANCELED (weft_fiber_cancelled()
 * tells the two apart) and detaches the handle: the task runs on - abort it first if it
 * should not. The handle is consumed in every case. -EPERM outside a fiber (not consumed),
 * -EINVAL on NULL. Threads: the calling fiber.
 */
WEFT_API int weft_await_join(weft_join *join, void *out, size_t out_size);

/**
 * weft_await_oneshot - receive from a oneshot channel, releasing the receiver end.
 * On 0 the value (value_size bytes) is in `value` (may be NULL). Returns 0; -EPIPE (the sender
 * was dropped); -ECANCELED (the fiber was cancelled: the receiver end is released and a later
 * send returns -EPIPE); -EPERM outside a fiber (the end is not released); -EINVAL on NULL.
 * Threads: the calling fiber.
 */
WEFT_API int weft_await_oneshot(weft_oneshot *ch, void *value);

/* True when the calling fiber is being cancelled, or an abort of it is pending (its next
 * suspension will be its last). For long computations that never await. Threads: the calling
 * fiber; false elsewhere. */
WEFT_API bool weft_fiber_cancelled(void);

/* The calling fiber's task id (as weft_join_id reports it), or 0 when not in a fiber.
 * Threads: any. */
WEFT_API uint64_t weft_fiber_id(void);

#ifdef __cplusplus
}
#endif
#endif
