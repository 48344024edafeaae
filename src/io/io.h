/* src/io/io.h - the glue between leaf IO futures and the per-thread reactors.
 *
 * A leaf future (a socket read, an accept, a file write...) embeds a struct weft__io_wait,
 * prepares its op with a weft__io_prep_*() helper (done = weft__io_wait_done) and starts it
 * with weft__io_wait_start(). The op goes to the reactor of the thread polling the future: a
 * worker's own driver, the current-thread runtime's driver, or - from any other thread -
 * worker 0's through its remote queue. Completion runs on that reactor's thread, stores the
 * result and wakes the task, wherever the task is by then.
 *
 * Buffer ownership (DESIGN decision 12). While an op is in flight the wait holds a real
 * reference on the task (a cloned waker), so the task cell - and every buffer inside the
 * future's state - stays allocated until the kernel is done, even if the task is aborted and
 * its future dropped meanwhile. Dropping a future with an op in flight asks for a cancel
 * (routed to the reactor's own thread if needed: a NOP carrier op whose completion issues the
 * cancel) and returns at once; the op then completes exactly once, with -ECANCELED or its real
 * result, and only then is the reference released. Buffers outside the task (heap memory the
 * future points to) must likewise outlive the op: free them from the op's completion, or keep
 * them until the wait is idle.
 */
#ifndef WEFT_IO_IO_H
#define WEFT_IO_IO_H

#include "io/driver.h"
#include "weft/base.h"

enum { WEFT__WAIT_IDLE = 0, WEFT__WAIT_INFLIGHT = 1, WEFT__WAIT_DONE = 2 };

struct weft__io_wait {
    struct weft__io_op op;        /* prepared by the future; done = weft__io_wait_done */
    struct weft__io_op cancel_op; /* NOP carrier for a cancel from another thread */
    struct weft__io_driver *drv;  /* where op was submitted (valid while not IDLE) */
    weft_waker waker;             /* clone: holds the task while in flight (guarded by lock) */
    weft_waker cancel_ref;        /* clone held by the cancel carrier while it is in flight */
    _Atomic uint8_t lock;         /* spinlock for waker/state handoff with the reactor thread */
    _Atomic uint8_t state;        /* WEFT__WAIT_* */
    _Atomic uint8_t carrier;      /* the cancel carrier is in flight (poll stays PENDING) */
    _Atomic uint8_t cancel_sent;  /* a cancel was requested (by a drop, a deadline or a close
                                     of the handle from another task: only the first one acts) */
    int32_t res;                  /* the result, once DONE */
};

/* The done callback to pass to weft__io_prep_*(). */
void weft__io_wait_done(struct weft__io_op *op);

/* Submit w->op (already prepared) for the task polling with `cx`. Never fails: errors come
 * back as the result. The wait must be IDLE or DONE (then it is reset). */
void weft__io_wait_start(struct weft__io_wait *w, weft_cx *cx);

/* PENDING while in flight (keeping cx's waker current); READY once done, with *res set (the
 * wait is then IDLE again and may be reused). Call only after weft__io_wait_start. */
weft_poll weft__io_wait_poll(struct weft__io_wait *w, weft_cx *cx, int32_t *res);

/* Call from the future's drop: cancels an op in flight (see the top comment). Harmless when
 * idle or done. Threads: any; also concurrently with a poll of the wait (a close of the
 * handle from another task), as long as the wait cannot complete meanwhile (the caller holds
 * what keeps done from running, or is the wait's own poller). Also usable to cancel without abandoning (a deadline passed):
 * keep polling; the wait stays PENDING until both the op and any cancel carrier are done, so
 * once it is READY the wait may be restarted at once. */
void weft__io_wait_drop(struct weft__io_wait *w);
/* True when p lies on the stack of a fiber running on a runtime thread: a future there dies
 * with its frame, so its drop must wait until the kernel (or a pool thread) has let go of it
 * (docs/design/fiber.md, "IO buffers on fiber stacks"). Shutdown's unwinding on a thread
 * outside the runtime does not wait: every reactor completes what is left before it goes. */
bool weft__io_dies_with_frame(const void *p);

/* True while an op is in flight. */
static inline bool weft__io_wait_busy(struct weft__io_wait *w)
{
    return atomic_load_explicit(&w->state, memory_order_acquire) == WEFT__WAIT_INFLIGHT;
}

/* The reactor of the calling thread if it works for rt (a worker, or the current-thread
 * driver), else NULL. */
struct weft__io_driver *weft__io_driver_here(weft_rt *rt);
/* Submit an op prepared by the caller (not through a wait) on the calling thread's reactor,
 * or remotely to worker 0's. For internal ops whose memory the caller manages. */
void weft__io_submit_any(weft_rt *rt, struct weft__io_op *op);
/* The backend every reactor of rt uses (WEFT__IO_BACKEND_URING or _EPOLL). */
int weft__io_backend_of(weft_rt *rt);

#endif
