/* Leaf IO futures meet the reactors: see io.h. */
#include "io/io.h"

#include <sched.h>

#include "fiber/fiber.h"
#include "sched/sched.h"

static inline void wlock(struct weft__io_wait *w)
{
    while (atomic_exchange_explicit(&w->lock, 1, memory_order_acquire))
        while (ld_relaxed(&w->lock))
            weft__cpu_relax();
}

static inline void wunlock(struct weft__io_wait *w)
{
    st_release(&w->lock, 0);
}

struct weft__io_driver *weft__io_driver_here(weft_rt *rt)
{
    struct weft__tl *tl = &weft__tl;
    if (tl->rt != rt)
        return NULL;
    if (tl->worker)
        return tl->worker->io;
    if (rt->flavor == WEFT_RT_CURRENT_THREAD && tl->slab == &rt->ct.slab)
        return rt->ct.io;
    return NULL;
}

static struct weft__io_driver *remote_driver(weft_rt *rt)
{
    return rt->flavor == WEFT_RT_CURRENT_THREAD ? rt->ct.io : rt->workers[0].io;
}

int weft__io_backend_of(weft_rt *rt)
{
    return weft__io_driver_backend(remote_driver(rt));
}

void weft__io_submit_any(weft_rt *rt, struct weft__io_op *op)
{
    struct weft__io_driver *here = weft__io_driver_here(rt);
    if (here)
        weft__io_submit(here, op);
    else
        weft__io_submit_remote(remote_driver(rt), op);
}

void weft__io_wait_done(struct weft__io_op *op)
{
    struct weft__io_wait *w = WEFT__IO_CONTAINER(op, struct weft__io_wait, op);
    wlock(w);
    w->res = op->res;
    weft_waker waker = w->waker;
    w->waker.vtable = NULL;
    st_release(&w->state, WEFT__WAIT_DONE);
    wunlock(w);
    /* Wake and release the task reference: if the future was dropped meanwhile, this may free
     * the task cell (and w with it), so nothing touches w after this line. */
    weft_waker_wake(&waker);
}

void weft__io_wait_start(struct weft__io_wait *w, weft_cx *cx)
{
    struct weft__io_driver *drv = weft__io_driver_here(cx->rt);
    w->res = 0;
    st_relaxed(&w->cancel_sent, 0);
    w->drv = drv ? drv : remote_driver(cx->rt);
    weft_waker_clone(&cx->waker, &w->waker);
    st_relaxed(&w->lock, 0);
    st_release(&w->state, WEFT__WAIT_INFLIGHT);
    if (drv)
        weft__io_submit(drv, &w->op);
    else
        weft__io_submit_remote(w->drv, &w->op);
}

weft_poll weft__io_wait_poll(struct weft__io_wait *w, weft_cx *cx, int32_t *res)
{
    if (ld_acquire(&w->state) == WEFT__WAIT_INFLIGHT) {
        wlock(w);
        if (ld_relaxed(&w->state) == WEFT__WAIT_INFLIGHT) {
            if (!weft_waker_will_wake(&w->waker, &cx->waker)) {
                weft_waker old = w->waker;
                weft_waker_clone(&cx->waker, &w->waker);
                wunlock(w);
                weft_waker_drop(&old);
            } else {
                wunlock(w);
            }
            return WEFT_PENDING;
        }
        wunlock(w);
    }
    /* weft__io_wait_done publishes DONE inside its critical section; its unlock is its last
     * touch of w. Wait for that store before handing w back (the caller may reuse or free it
     * at once): one load, nearly always 0 already. */
    while (WEFT_UNLIKELY(ld_acquire(&w->lock)))
        weft__cpu_relax();
    if (WEFT_UNLIKELY(ld_acquire(&w->carrier)))
        return WEFT_PENDING; /* cancel_carrier_done wakes us once it let go of w */
    *res = w->res;
    st_relaxed(&w->state, WEFT__WAIT_IDLE);
    return WEFT_READY;
}

/* Runs on the reactor's thread: now the cancel can be issued where it is allowed. */
static void cancel_carrier_done(struct weft__io_op *op)
{
    struct weft__io_wait *w = WEFT__IO_CONTAINER(op, struct weft__io_wait, cancel_op);
    weft_waker ref = w->cancel_ref;
    w->cancel_ref.vtable = NULL;
    if (ld_acquire(&w->state) == WEFT__WAIT_INFLIGHT)
        weft__io_cancel(w->drv, &w->op);
    /* A poll that saw the op done waits for this carrier too (the wait may be reused once it
     * is READY): tell it, and wake it. Waking a task whose future was dropped is harmless. */
    st_release(&w->carrier, 0);
    weft_waker_wake(&ref); /* may free the cell: last touch of w */
}

/* The wait is on a fiber's stack and its frame is about to go: a frame the fiber's next calls
 * reuse at once, so the reactor must be done with it before the drop returns (a state
 * machine's wait lives in its task cell, which the operation keeps alive instead). On the
 * reactor's own thread, run the reactor until the operation's done has run; on another worker,
 * that reactor's thread does it (the carrier is on its way). */
bool weft__io_dies_with_frame(const void *p)
{
    return weft__tl.rt && weft__fiber_stack_holds(p);
}

static void wait_gone(struct weft__io_wait *w)
{
    struct weft__tl *tl = &weft__tl;
    while (ld_acquire(&w->state) != WEFT__WAIT_DONE || ld_acquire(&w->lock) ||
           ld_acquire(&w->carrier)) {
        if (weft__io_driver_here(tl->rt) == w->drv)
            weft__io_park(w->drv, weft__now() + WEFT_US(200));
        else
            sched_yield();
    }
}

void weft__io_wait_drop(struct weft__io_wait *w)
{
    bool on_fiber = weft__io_dies_with_frame(w);
    if (ld_acquire(&w->state) != WEFT__WAIT_INFLIGHT ||
        atomic_exchange_explicit(&w->cancel_sent, 1, memory_order_relaxed)) {
        if (on_fiber)
            wait_gone(w);
        return;
    }
    struct weft__tl *tl = &weft__tl;
    bool owner = tl->rt && weft__io_driver_here(tl->rt) == w->drv;
    if (owner) {
        weft__io_cancel(w->drv, &w->op);
        if (on_fiber)
            wait_gone(w);
        return;
    }
    /* Another thread: hand the cancel to the reactor's thread with a NOP carrier, holding a
     * second reference so the cell outlives the carrier too. */
    wlock(w);
    bool inflight = ld_relaxed(&w->state) == WEFT__WAIT_INFLIGHT;
    if (inflight) {
        weft_waker_clone(&w->waker, &w->cancel_ref);
        st_relaxed(&w->carrier, 1);
    }
    wunlock(w);
    if (inflight) {
        weft__io_prep_nop(&w->cancel_op, cancel_carrier_done);
        weft__io_submit_remote(w->drv, &w->cancel_op);
    }
    if (on_fiber)
        wait_gone(w);
}
