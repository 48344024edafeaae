/* weft/sync.h - synchronisation between tasks: oneshot, semaphore and permits, mutex, rwlock,
 * notify, barrier, mpsc (bounded and unbounded), broadcast, watch, and the join_all / select
 * combinators.
 *
 * Semantics follow Tokio's: waiters are served first come, first served (FIFO-fair), and
 * every wait is cancel-safe: a future dropped while it waits leaves its queue, and whatever
 * was handed to it meanwhile (permits, a notification, a send slot) goes to the next waiter.
 * docs/design/sync.md has the protocols.
 *
 * Shapes used throughout (STYLE.md):
 *  - Shared objects are heap handles: `_new(&out, ...)` returns 0 or -errno and sets *out
 *    (NULL on failure); `_free` / `_drop` accept NULL (a no-op).
 *  - Waits are caller-stored futures, opaque-by-size structs you embed in your state:
 *    `_init` (cannot fail, touches no shared state; NULL future: no-op), `_poll`, `_drop`.
 *    A zero-filled future and a finished one are both valid to drop (a no-op), so a task's drop
 *    function may drop every future it embeds unconditionally. A future must not move while
 *    it waits, and only one thread polls or drops it at a time.
 *  - Poll functions return WEFT_READY or WEFT_PENDING; results (0 or -errno) go through an
 *    `int *result` out-parameter, which may be NULL. Bad arguments (NULL future/cx/handle, a
 *    future never initialised or polled after READY) make a poll finish at once with -EINVAL
 *    in *result; a poll without a result parameter returns WEFT_FAIL(-EINVAL) instead, which
 *    WEFT_AWAIT treats as finished.
 *  - "Threads: any" means any thread, inside the runtime or not. Poll functions run on the
 *    thread polling the owning task.
 *  - Leaf operations that complete (acquire, send, recv) spend one unit of the task's
 *    cooperative budget; when it is spent they wake the task and return WEFT_PENDING.
 *  - Cancellation: a future is cancelled by dropping it (its _drop); functions that never
 *    wait have nothing to cancel.
 */
#ifndef WEFT_SYNC_H
#define WEFT_SYNC_H

#include "base.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ oneshot */

/* A channel for exactly one value, from one sender to one receiver. One allocation shared by
 * both ends; each end is released exactly once (send or sender_drop; a READY recv or
 * receiver_drop), and the last release frees it. */
typedef struct weft_oneshot weft_oneshot;

/* Create a channel carrying value_size bytes (0 allowed: a bare signal; at most 1 MiB).
 * Ownership: the caller holds both ends. Threads: any.
 * Returns 0, -EINVAL (NULL out, too big) or -ENOMEM. Cancellation: never waits. */
WEFT_API int weft_oneshot_new(weft_oneshot **out, size_t value_size);

/* Send (value_size bytes copied; NULL sends zeroes) and release the sender end.
 * Threads: any. Returns 0, -EPIPE (the receiver is gone: the value is dropped) or -EINVAL
 * (NULL ch). Cancellation: never waits. */
WEFT_API int weft_oneshot_send(weft_oneshot *ch, const void *value);

/* Release the sender end without sending: the receiver gets -EPIPE. NULL is a no-op.
 * Threads: any. Cancellation: never waits. */
WEFT_API void weft_oneshot_sender_drop(weft_oneshot *ch);

/* Receive. On WEFT_READY, *result is 0 and the value is in `value` (may be NULL), or -EPIPE
 * (sender dropped) or -EINVAL (NULL ch/cx); the receiver end is then released.
 * Threads: the polling task.
 * Cancellation: to stop waiting, call weft_oneshot_receiver_drop() instead of polling again;
 * nothing is lost but the value. */
WEFT_API weft_poll weft_oneshot_recv_poll(weft_oneshot *ch, weft_cx *cx, void *value,
                                          int *result);

/* Release the receiver end without receiving; a later send returns -EPIPE. NULL is a no-op.
 * Threads: any. Cancellation: never waits. */
WEFT_API void weft_oneshot_receiver_drop(weft_oneshot *ch);

/* ------------------------------------------------------------------ semaphore and permits */

/* A counting semaphore with a FIFO-fair wait queue (Tokio's batch semaphore): permits that
 * come back go to the oldest waiter first, even a large one, so nobody is overtaken. Taking
 * and returning permits with nobody waiting is one atomic compare-and-swap each. */
typedef struct weft_semaphore weft_semaphore;

/* The largest permit count a semaphore can hold (2^61 - 1). */
#define WEFT_SEMAPHORE_MAX_PERMITS ((size_t)(UINT64_MAX >> 3))

/* Permits taken from a semaphore, owned by whoever holds this struct (embed it in a task's
 * state). A zero-filled permit is empty. It goes back exactly once: weft_permit_release()
 * returns the permits and empties the struct, so releasing it again (for example from the
 * task's drop function, which runs after completion and after abort alike) is a no-op.
 * Copying a non-empty permit copies the ownership: release only one of the copies. */
typedef struct weft_permit {
    uint64_t _opaque[2];
} weft_permit;

/* A caller-stored acquire future (see weft_semaphore_acquire_init). */
typedef struct weft_semaphore_acquire {
    uint64_t _opaque[10];
} weft_semaphore_acquire;

/**
 * weft_semaphore_new - create a semaphore holding `permits` permits (0 allowed).
 * Ownership: the caller owns *out and frees it with weft_semaphore_free().
 * Threads: any. Returns 0; -EINVAL (NULL out, permits > WEFT_SEMAPHORE_MAX_PERMITS);
 * -ENOMEM. Cancellation: never waits.
 */
WEFT_API int weft_semaphore_new(weft_semaphore **out, size_t permits);

/* Free a semaphore. Every acquire future on it must be finished or dropped and every permit
 * released (or forgotten) first. NULL is a no-op. Threads: any. Cancellation: never waits. */
WEFT_API void weft_semaphore_free(weft_semaphore *sem);

/* Permits available right now (0 while anybody waits): a snapshot. 0 on NULL.
 * Threads: any. Cancellation: never waits. */
WEFT_API size_t weft_semaphore_available(const weft_semaphore *sem);

/**
 * weft_semaphore_add_permits - add n permits (also how permits taken out with
 * weft_permit_forget() are given back). They go to queued acquirers first, in FIFO order;
 * those are woken after the internal lock is released.
 * Threads: any. Returns 0, or -EINVAL (NULL, or the count would exceed
 * WEFT_SEMAPHORE_MAX_PERMITS: nothing is added). Adding to a closed semaphore is allowed.
 * Cancellation: never waits.
 */
WEFT_API int weft_semaphore_add_permits(weft_semaphore *sem, size_t n);

/* Close: queued acquirers finish with -EPIPE, later acquires fail with -EPIPE; permits
 * already held stay valid and may still be released. Idempotent; NULL is a no-op.
 * Threads: any. Cancellation: never waits. */
WEFT_API void weft_semaphore_close(weft_semaphore *sem);

/* True once closed (false on NULL). Threads: any. Cancellation: never waits. */
WEFT_API bool weft_semaphore_is_closed(const weft_semaphore *sem);

/**
 * weft_semaphore_try_acquire - take one permit now, without waiting. On success *permit holds
 * it (whatever it held before is overwritten, not released). Fair: fails while others are
 * queued even if permits are free. Threads: any.
 * Returns 0; -EAGAIN (not enough permits, or waiters queued); -EPIPE (closed); -EINVAL (NULL).
 * *permit (when not NULL) is empty on failure. Cancellation: never waits.
 */
WEFT_API int weft_semaphore_try_acquire(weft_semaphore *sem, weft_permit *permit);

/* As weft_semaphore_try_acquire, for n permits at once (n == 0 succeeds with an empty
 * permit). Same threads, errors and cancellation. */
WEFT_API int weft_semaphore_try_acquire_many(weft_semaphore *sem, uint32_t n,
                                             weft_permit *permit);

/* Prepare to acquire one permit. Cannot fail; touches nothing shared (a NULL sem is reported
 * by the first poll). Threads: any. Cancellation: drop with weft_semaphore_acquire_drop. */
WEFT_API void weft_semaphore_acquire_init(weft_semaphore_acquire *acq, weft_semaphore *sem);

/* Prepare to acquire n permits at once: all or nothing, FIFO among waiters (a large request
 * at the head of the queue collects released permits until it has n, and nobody behind it
 * overtakes it). n == 0 finishes at the first poll with an empty permit. Cannot fail.
 * Threads: any. Cancellation: drop with weft_semaphore_acquire_drop. */
WEFT_API void weft_semaphore_acquire_many_init(weft_semaphore_acquire *acq,
                                               weft_semaphore *sem, uint32_t n);

/**
 * weft_semaphore_acquire_poll - wait for the permits.
 * On WEFT_READY: *result is 0 and *permit holds the permits (overwritten, not released, if it
 * held any); or *result is -EPIPE (closed; *permit empty) or -EINVAL. On WEFT_PENDING the
 * future is queued (FIFO) and the task is woken once all its permits were assigned.
 * Threads: the task that owns the future.
 * Cancellation: dropping the future (weft_semaphore_acquire_drop) while queued leaves the
 * queue; permits assigned to it meanwhile go to the next waiter. Nothing is lost or doubled.
 */
WEFT_API weft_poll weft_semaphore_acquire_poll(weft_semaphore_acquire *acq, weft_cx *cx,
                                               weft_permit *permit, int *result);

/* Drop an acquire future: leaves the queue if queued and passes on permits assigned to it but
 * not yet collected. No-op when finished, never polled, zero-filled or NULL. Threads: any,
 * not concurrently with a poll of it. Cancellation: this is the cancellation path; call it
 * from your future's drop. */
WEFT_API void weft_semaphore_acquire_drop(weft_semaphore_acquire *acq);

/* Return a permit's permits to its semaphore (waking the next waiters) and empty it.
 * No-op on an empty permit or NULL: a permit goes back exactly once. Threads: any.
 * Cancellation: never waits; call it from your future's drop. */
WEFT_API void weft_permit_release(weft_permit *permit);

/* Empty the permit without returning its permits (they leave circulation until given back
 * with weft_semaphore_add_permits). Returns how many it held (0 on NULL/empty).
 * Threads: any. Cancellation: never waits. */
WEFT_API size_t weft_permit_forget(weft_permit *permit);

/* How many permits it holds (0: empty or NULL). Threads: any. Cancellation: never waits. */
WEFT_API size_t weft_permit_count(const weft_permit *permit);

/* ------------------------------------------------------------------ mutex */

/* An async mutex: lock() waits by parking the task, never the thread; FIFO-fair (it is a
 * one-permit semaphore). The guard is a weft_permit: weft_permit_release() unlocks, so a task
 * that embeds its guard and releases it in its drop function unlocks on abort too. It guards
 * no memory by itself: keep the data it protects beside it. */
typedef struct weft_mutex weft_mutex;
/* The lock future: an acquire of one permit. */
typedef weft_semaphore_acquire weft_mutex_lock;

/* Create an unlocked mutex; the caller owns it. Threads: any. Returns 0, -EINVAL (NULL out)
 * or -ENOMEM. Cancellation: never waits. */
WEFT_API int weft_mutex_new(weft_mutex **out);
/* Free; it must be unlocked with no lock future queued. NULL is a no-op. Threads: any.
 * Cancellation: never waits. */
WEFT_API void weft_mutex_free(weft_mutex *m);
/* Lock now if free and nobody waits: 0 and *guard holds the lock; -EAGAIN; -EINVAL (NULL).
 * Threads: any. Cancellation: never waits. */
WEFT_API int weft_mutex_try_lock(weft_mutex *m, weft_permit *guard);
/* Prepare a lock future. Cannot fail. Threads: any. Cancellation: weft_mutex_lock_drop. */
WEFT_API void weft_mutex_lock_init(weft_mutex_lock *f, weft_mutex *m);
/**
 * weft_mutex_lock_poll - wait for the lock. On WEFT_READY *result is 0 and *guard holds the
 * lock, or -EINVAL. Threads: the owning task.
 * Cancellation: weft_mutex_lock_drop() while queued leaves the queue; if the lock was handed
 * to the future meanwhile it passes on to the next waiter.
 */
WEFT_API weft_poll weft_mutex_lock_poll(weft_mutex_lock *f, weft_cx *cx, weft_permit *guard,
                                        int *result);
/* Drop a lock future (no-op when finished, zero-filled or NULL). Threads: any, not
 * concurrently with a poll of it. Cancellation: the cancellation path. */
WEFT_API void weft_mutex_lock_drop(weft_mutex_lock *f);

/* ------------------------------------------------------------------ rwlock */

/* An async readers-writer lock, FIFO-fair (a semaphore of max_readers permits: a reader takes
 * one, a writer all): a queued writer is not overtaken by later readers, so writers do not
 * starve. Guards are weft_permits; weft_permit_release() unlocks either kind. */
typedef struct weft_rwlock weft_rwlock;
typedef weft_semaphore_acquire weft_rwlock_lock;

/* Default and largest number of concurrent readers. */
#define WEFT_RWLOCK_MAX_READERS ((uint32_t)(UINT32_MAX >> 3))

/* Create; max_readers 0 means WEFT_RWLOCK_MAX_READERS. The caller owns it. Threads: any.
 * Returns 0, -EINVAL (NULL out, max_readers too large) or -ENOMEM. Cancellation: never
 * waits. */
WEFT_API int weft_rwlock_new(weft_rwlock **out, uint32_t max_readers);
/* Free; it must be unlocked with no lock future queued. NULL is a no-op. Threads: any.
 * Cancellation: never waits. */
WEFT_API void weft_rwlock_free(weft_rwlock *rw);
/* Take a read lock now: 0; -EAGAIN (write-locked, readers full, or others queued); -EINVAL.
 * Threads: any. Cancellation: never waits. */
WEFT_API int weft_rwlock_try_read(weft_rwlock *rw, weft_permit *guard);
/* Take the write lock now: 0; -EAGAIN (held, or others queued); -EINVAL. Threads: any.
 * Cancellation: never waits. */
WEFT_API int weft_rwlock_try_write(weft_rwlock *rw, weft_permit *guard);
/* Prepare a read-lock future. Cannot fail. Threads: any. Cancellation: weft_rwlock_lock_drop. */
WEFT_API void weft_rwlock_read_init(weft_rwlock_lock *f, weft_rwlock *rw);
/* Prepare a write-lock future. Cannot fail. Threads: any. Cancellation: weft_rwlock_lock_drop. */
WEFT_API void weft_rwlock_write_init(weft_rwlock_lock *f, weft_rwlock *rw);
/**
 * weft_rwlock_lock_poll - wait for the lock prepared by _read_init or _write_init. On
 * WEFT_READY *result is 0 and *guard holds it, or -EINVAL. Threads: the owning task.
 * Cancellation: as weft_mutex_lock_poll.
 */
WEFT_API weft_poll weft_rwlock_lock_poll(weft_rwlock_lock *f, weft_cx *cx, weft_permit *guard,
                                         int *result);
/* Drop a lock future (no-op when finished, zero-filled or NULL). Threads: any, not
 * concurrently with a poll of it. Cancellation: the cancellation path. */
WEFT_API void weft_rwlock_lock_drop(weft_rwlock_lock *f);

/* ------------------------------------------------------------------ notify */

/* Tokio's Notify: notify_one wakes the oldest waiter or, with nobody waiting, stores one
 * permit that the next wait consumes at once; notify_waiters wakes every wait that existed
 * (was initialised) at the time of the call and stores nothing. */
typedef struct weft_notify weft_notify;

typedef struct weft_notify_wait {
    uint64_t _opaque[10];
} weft_notify_wait;

/* Create; the caller owns it. Threads: any. Returns 0, -EINVAL (NULL out) or -ENOMEM.
 * Cancellation: never waits. */
WEFT_API int weft_notify_new(weft_notify **out);
/* Free; no wait future may be queued on it. NULL is a no-op. Threads: any.
 * Cancellation: never waits. */
WEFT_API void weft_notify_free(weft_notify *n);
/* Wake the oldest waiter, or store a permit (at most one) if none waits. NULL: no-op.
 * Threads: any. Cancellation: never waits. */
WEFT_API void weft_notify_one(weft_notify *n);
/* Wake every current waiter (woken after the internal lock is released, 32 at a time).
 * Stores no permit. NULL: no-op. Threads: any. Cancellation: never waits. */
WEFT_API void weft_notify_waiters(weft_notify *n);
/* Prepare a wait. It already counts for weft_notify_waiters() calls made after this init,
 * even before its first poll. Cannot fail. Threads: any.
 * Cancellation: weft_notify_wait_drop. */
WEFT_API void weft_notify_wait_init(weft_notify_wait *f, weft_notify *n);
/**
 * weft_notify_wait_poll - WEFT_READY once notified (a stored permit is consumed at once),
 * WEFT_PENDING while waiting, WEFT_FAIL(-EINVAL) on bad arguments. Threads: the owning task.
 * Cancellation: weft_notify_wait_drop() leaves the queue; a notify_one that had already
 * picked this wait is passed on to the next waiter (or stored as the permit): none is lost.
 */
WEFT_API weft_poll weft_notify_wait_poll(weft_notify_wait *f, weft_cx *cx);
/* Drop a wait (no-op when finished, zero-filled or NULL). Threads: any, not concurrently
 * with a poll of it. Cancellation: the cancellation path. */
WEFT_API void weft_notify_wait_drop(weft_notify_wait *f);

/* ------------------------------------------------------------------ barrier */

/* n tasks wait until all n have arrived; then all are released and the barrier starts over.
 * Exactly one waiter of each round is told it is the leader (the last to arrive). */
typedef struct weft_barrier weft_barrier;

typedef struct weft_barrier_wait {
    uint64_t _opaque[10];
} weft_barrier_wait;

/* Create for n >= 1 tasks; the caller owns it. Threads: any. Returns 0, -EINVAL (NULL out,
 * n == 0) or -ENOMEM. Cancellation: never waits. */
WEFT_API int weft_barrier_new(weft_barrier **out, uint32_t n);
/* Free; no wait may be queued. NULL is a no-op. Threads: any. Cancellation: never waits. */
WEFT_API void weft_barrier_free(weft_barrier *b);
/* Prepare a wait. Cannot fail. Threads: any. Cancellation: weft_barrier_wait_drop. */
WEFT_API void weft_barrier_wait_init(weft_barrier_wait *f, weft_barrier *b);
/**
 * weft_barrier_wait_poll - arrive (at the first poll) and wait for the round to complete.
 * On WEFT_READY *is_leader (may be NULL) tells whether this waiter completed the round.
 * WEFT_FAIL(-EINVAL) on bad arguments. Threads: the owning task.
 * Cancellation: dropping a waiting future leaves the queue, but its arrival still counts for
 * the round (as in Tokio).
 */
WEFT_API weft_poll weft_barrier_wait_poll(weft_barrier_wait *f, weft_cx *cx, bool *is_leader);
/* Drop a wait (no-op when finished, zero-filled or NULL). Threads: any, not concurrently
 * with a poll of it. Cancellation: the cancellation path. */
WEFT_API void weft_barrier_wait_drop(weft_barrier_wait *f);

/* ------------------------------------------------------------------ mpsc */

/* A multi-producer, single-consumer channel of fixed-size elements (bytes copied in and out).
 *
 * Bounded: a ring of `capacity` slots; a send waits while it is full, and waiting senders are
 * served FIFO. Unbounded: a list of blocks; a send never waits. The fast paths take no lock:
 * a send claims a slot with one compare-and-swap and publishes it; a receive reads its slot
 * and hands it back. The receiver parks only when the channel is empty.
 *
 * Handles: sender handles are counted; weft_mpsc_sender_clone() adds one, and each is
 * released exactly once with weft_mpsc_sender_drop(). When the last one goes, the receiver
 * drains what was sent and then gets -EPIPE. The receiver is one handle used by one task at a
 * time (single consumer); weft_mpsc_receiver_close() makes later sends fail with -EPIPE while
 * letting it drain, weft_mpsc_receiver_drop() closes and releases it. The channel's memory
 * goes when both sides are released; elements still queued then are discarded (plain
 * bytes). */
typedef struct weft_mpsc_sender weft_mpsc_sender;
typedef struct weft_mpsc_receiver weft_mpsc_receiver;

typedef struct weft_mpsc_send {
    uint64_t _opaque[11];
} weft_mpsc_send;

/**
 * weft_mpsc_new - create a bounded channel of `capacity` (1 .. 2^30) elements of `elem_size`
 * bytes (1 .. 64 KiB), allocated at once: capacity rounded up to a power of two, times
 * elem_size + 8 rounded up to 8, at most 1 GiB.
 * Ownership: the caller owns one sender handle (*tx) and the receiver (*rx).
 * Threads: any. Returns 0; -EINVAL; -ENOMEM. *tx and *rx are NULL on failure.
 * Cancellation: never waits.
 */
WEFT_API int weft_mpsc_new(weft_mpsc_sender **tx, weft_mpsc_receiver **rx, size_t elem_size,
                           size_t capacity);

/* Create an unbounded channel (memory grows in blocks of 63 elements as needed; finished
 * blocks are freed or reused). Same ownership, threads, errors and cancellation as
 * weft_mpsc_new (elem_size 1 .. 64 KiB). */
WEFT_API int weft_mpsc_unbounded_new(weft_mpsc_sender **tx, weft_mpsc_receiver **rx,
                                     size_t elem_size);

/* Create an unbounded channel that holds at most `max_queued` elements (1 .. 2^40): memory
 * still grows in blocks as needed, but past the cap weft_mpsc_try_send fails with -EAGAIN
 * (counted by weft_mpsc_refused) and weft_mpsc_send_poll waits until the receiver takes an
 * element. The cap is checked against a count that concurrent senders can overshoot by their
 * number. Same ownership, threads and cancellation as weft_mpsc_new; -EINVAL for a cap of 0. */
WEFT_API int weft_mpsc_unbounded_new_capped(weft_mpsc_sender **tx, weft_mpsc_receiver **rx,
                                            size_t elem_size, size_t max_queued);

/* How many weft_mpsc_try_send calls on this channel returned -EAGAIN (full, at the cap, or
 * behind waiting senders). 0 for NULL. Threads: any. */
WEFT_API uint64_t weft_mpsc_refused(const weft_mpsc_sender *tx);

/* Another handle to the same channel; the caller owns it and drops it with
 * weft_mpsc_sender_drop(). Works on a closed channel too. Threads: any. Returns 0 or -EINVAL
 * (NULL; *out NULL). Cancellation: never waits. */
WEFT_API int weft_mpsc_sender_clone(weft_mpsc_sender *tx, weft_mpsc_sender **out);

/* Release one sender handle. The last one closes the sending side (the receiver gets -EPIPE
 * once drained). Every send future using the handle must be finished or dropped first.
 * NULL is a no-op. Threads: any. Cancellation: never waits. */
WEFT_API void weft_mpsc_sender_drop(weft_mpsc_sender *tx);

/**
 * weft_mpsc_try_send - send one element now, without waiting. `value` points to elem_size
 * bytes (copied). Fair: fails while earlier senders wait for room.
 * Threads: any, including threads outside the runtime.
 * Returns 0; -EAGAIN (bounded and full, or senders queued); -EPIPE (receiver closed or
 * dropped: not sent); -ENOMEM (unbounded: no memory for a new block; not sent); -EINVAL (NULL).
 * Cancellation: never waits.
 */
WEFT_API int weft_mpsc_try_send(weft_mpsc_sender *tx, const void *value);

/* Prepare a send of the elem_size bytes at `value`, which are read when the send completes:
 * they must stay valid and unchanged until then (keep them in your state). The sender handle
 * must outlive the future. Cannot fail. Threads: any. Cancellation: weft_mpsc_send_drop. */
WEFT_API void weft_mpsc_send_init(weft_mpsc_send *f, weft_mpsc_sender *tx, const void *value);

/**
 * weft_mpsc_send_poll - send, waiting (FIFO among waiting senders) while a bounded channel is
 * full. On WEFT_READY *result is 0 (sent), -EPIPE (receiver closed: not sent), -ENOMEM
 * (unbounded, no memory: not sent) or -EINVAL. Threads: the owning task.
 * Cancellation: dropping the future before it returned WEFT_READY guarantees the value was
 * not sent; a slot reserved for it meanwhile is skipped by the receiver, which then gives the
 * next waiting sender a slot (so no wakeup is lost and every sender's order holds).
 */
WEFT_API weft_poll weft_mpsc_send_poll(weft_mpsc_send *f, weft_cx *cx, int *result);

/* Drop a send future (no-op when finished, zero-filled or NULL). Threads: any, not
 * concurrently with a poll of it. Cancellation: the cancellation path. */
WEFT_API void weft_mpsc_send_drop(weft_mpsc_send *f);

/**
 * weft_mpsc_recv_poll - receive the next element into `value` (elem_size bytes; NULL
 * discards it). On WEFT_READY *result is 0, -EPIPE (every sender gone, or the receiver
 * closed, and nothing left) or -EINVAL.
 * Threads: one task at a time (single consumer). The channel keeps the waker of the last
 * pending poll until the next poll or weft_mpsc_receiver_drop().
 * Cancellation: safe at any point: stopping to poll loses nothing (no element is taken
 * unless the poll returns it).
 */
WEFT_API weft_poll weft_mpsc_recv_poll(weft_mpsc_receiver *rx, weft_cx *cx, void *value,
                                       int *result);

/* Receive now: 0 (an element was copied to `value`, which may be NULL); -EAGAIN (empty);
 * -EPIPE (empty and closed); -EINVAL (NULL rx). Threads: the consumer (as recv_poll).
 * Cancellation: never waits. */
WEFT_API int weft_mpsc_try_recv(weft_mpsc_receiver *rx, void *value);

/* Close the receiving side but keep the handle: queued senders and later sends get -EPIPE,
 * what was already sent can still be received. Idempotent; NULL is a no-op.
 * Threads: the consumer. Cancellation: never waits. */
WEFT_API void weft_mpsc_receiver_close(weft_mpsc_receiver *rx);

/* Close and release the receiver (queued elements are discarded when the channel is freed).
 * NULL is a no-op. Threads: the consumer, not concurrently with its polls.
 * Cancellation: never waits; call it from the consumer's drop. */
WEFT_API void weft_mpsc_receiver_drop(weft_mpsc_receiver *rx);

/* ------------------------------------------------------------------ broadcast */

/* Every receiver sees every value sent after it subscribed, in order. A ring of `capacity`
 * values: a receiver that falls more than `capacity` behind is told how many it missed and
 * continues from the oldest value still held. Sends never wait. */
typedef struct weft_broadcast_sender weft_broadcast_sender;
typedef struct weft_broadcast_receiver weft_broadcast_receiver;

/* Create with one sender handle and one receiver, both owned by the caller; capacity
 * 1 .. 2^20, elem_size 1 .. 64 KiB. Threads: any. Returns 0, -EINVAL or -ENOMEM (*tx, *rx
 * NULL on failure). Cancellation: never waits. */
WEFT_API int weft_broadcast_new(weft_broadcast_sender **tx, weft_broadcast_receiver **rx,
                                size_t elem_size, size_t capacity);
/* Another sender handle (released with weft_broadcast_sender_drop). Threads: any. Returns 0
 * or -EINVAL. Cancellation: never waits. */
WEFT_API int weft_broadcast_sender_clone(weft_broadcast_sender *tx, weft_broadcast_sender **out);
/* Release one sender handle; when the last goes, receivers get -EPIPE after draining.
 * NULL is a no-op. Threads: any. Cancellation: never waits. */
WEFT_API void weft_broadcast_sender_drop(weft_broadcast_sender *tx);
/* A new receiver, owned by the caller, that sees values sent from now on. Threads: any.
 * Returns 0, -EINVAL or -ENOMEM. Cancellation: never waits. */
WEFT_API int weft_broadcast_subscribe(weft_broadcast_sender *tx, weft_broadcast_receiver **out);
/* Send a copy of elem_size bytes to every receiver; waiting receivers are woken after the
 * internal lock is released. Threads: any. Returns 0, -EPIPE (no receiver: dropped) or
 * -EINVAL. Cancellation: never waits. */
WEFT_API int weft_broadcast_send(weft_broadcast_sender *tx, const void *value);
/**
 * weft_broadcast_recv_poll - the next value for this receiver. On WEFT_READY *result is 0
 * (value copied; `value` may be NULL), -EOVERFLOW (this receiver lagged: *missed, which may
 * be NULL, says how many values it lost; the next recv returns the oldest one still held),
 * -EPIPE (every sender gone and nothing left) or -EINVAL.
 * Threads: one task at a time per receiver.
 * Cancellation: safe; a value is consumed only when returned.
 */
WEFT_API weft_poll weft_broadcast_recv_poll(weft_broadcast_receiver *rx, weft_cx *cx,
                                            void *value, int *result, uint64_t *missed);
/* Receive now: as recv_poll, with -EAGAIN when nothing is new. Threads: as recv_poll.
 * Cancellation: never waits. */
WEFT_API int weft_broadcast_try_recv(weft_broadcast_receiver *rx, void *value, uint64_t *missed);
/* Release a receiver. NULL is a no-op. Threads: the receiver's user, not during its poll.
 * Cancellation: never waits; call it from the receiving task's drop. */
WEFT_API void weft_broadcast_receiver_drop(weft_broadcast_receiver *rx);

/* ------------------------------------------------------------------ watch */

/* A single value that senders update and any number of receivers observe: receivers wait
 * for "changed since I last looked", then read the latest value (older ones are skipped). */
typedef struct weft_watch_sender weft_watch_sender;
typedef struct weft_watch_receiver weft_watch_receiver;

/* Create holding a copy of `initial` (elem_size bytes, 1 .. 64 KiB; NULL: zeroes), which the
 * first receiver counts as seen. The caller owns the sender and the receiver. Threads: any.
 * Returns 0, -EINVAL or -ENOMEM. Cancellation: never waits. */
WEFT_API int weft_watch_new(weft_watch_sender **tx, weft_watch_receiver **rx, size_t elem_size,
                            const void *initial);
/* Replace the value and wake every receiver waiting in changed. The value is stored even with
 * no receiver (a later subscriber sees it). Threads: any (sends are serialised inside).
 * Returns 0, -EPIPE (no receiver) or -EINVAL. Cancellation: never waits. */
WEFT_API int weft_watch_send(weft_watch_sender *tx, const void *value);
/* Release the sender: receivers' changed polls return -EPIPE (the last value stays
 * readable). NULL is a no-op. Threads: any. Cancellation: never waits. */
WEFT_API void weft_watch_sender_drop(weft_watch_sender *tx);
/* A new receiver, owned by the caller, that has seen the current value. Threads: any.
 * Returns 0, -EINVAL or -ENOMEM. Cancellation: never waits. */
WEFT_API int weft_watch_subscribe(weft_watch_sender *tx, weft_watch_receiver **out);
/* A new receiver with the same "seen" mark as rx. Threads: any. Returns 0, -EINVAL or
 * -ENOMEM. Cancellation: never waits. */
WEFT_API int weft_watch_receiver_clone(weft_watch_receiver *rx, weft_watch_receiver **out);
/**
 * weft_watch_changed_poll - WEFT_READY once a value newer than the last seen one was sent
 * (it is then marked seen; read it with weft_watch_borrow). *result is 0, -EPIPE (the sender
 * is gone and nothing new) or -EINVAL. Threads: one task at a time per receiver.
 * Cancellation: safe; nothing is consumed unless it returns READY.
 */
WEFT_API weft_poll weft_watch_changed_poll(weft_watch_receiver *rx, weft_cx *cx, int *result);
/* Copy the latest value to `value` (does not mark it seen). 0 or -EINVAL. Threads: any.
 * Cancellation: never waits. */
WEFT_API int weft_watch_borrow(weft_watch_receiver *rx, void *value);
/* Copy the latest value and mark it seen. 0 or -EINVAL. Threads: the receiver's user.
 * Cancellation: never waits. */
WEFT_API int weft_watch_borrow_and_update(weft_watch_receiver *rx, void *value);
/* Release a receiver. NULL is a no-op. Threads: the receiver's user, not during its poll.
 * Cancellation: never waits; call it from the receiving task's drop. */
WEFT_API void weft_watch_receiver_drop(weft_watch_receiver *rx);

/* ------------------------------------------------------------------ join_all and select */

/* One child future of a combinator, in an array the caller owns (it must outlive the
 * combinator). The caller fills type, state and out; the combinator writes result and flags.
 * From the combinator's _init on, it owns the children and drives each exactly like a task
 * drives its future: it polls type->poll(state, cx, out) and calls type->drop(state) (when
 * non-NULL) exactly once after the child's last poll - when it finished, or when it is
 * dropped unfinished (by select, or by the combinator's own _drop). */
typedef struct weft_child {
    const weft_future_type *type; /* in: poll (required) and drop (optional) */
    void *state;                  /* in: the child's state, initialised, not moved while in use */
    void *out;                    /* in: type->out_size bytes for the output (NULL if 0) */
    int result;                   /* out: 0 or the child's negative poll result once it
                                     finished; -ECANCELED if dropped unfinished */
    uint32_t flags;               /* internal: do not touch */
} weft_child;

/* Caller-stored combinator futures. */
typedef struct weft_join_all {
    uint64_t _opaque[6];
} weft_join_all;
typedef struct weft_select {
    uint64_t _opaque[6];
} weft_select;

/* Prepare to run n children (at most 2^24) concurrently inside the calling task; resets their
 * result and flags. Allocates nothing yet; cannot fail. Threads: any.
 * Cancellation: weft_join_all_drop. */
WEFT_API void weft_join_all_init(weft_join_all *j, weft_child *children, size_t n);
/**
 * weft_join_all_poll - poll the children until every one has finished.
 * The first poll polls all of them and sets up per-child wakers (one allocation per
 * join_all; if it fails, every later poll simply polls all pending children); later polls
 * poll only the children that were woken. A child that finishes is dropped at once.
 * On WEFT_READY *result is 0 if every child returned WEFT_READY, else the error of the
 * lowest-index child that failed (each child's own result is in children[i].result).
 * n == 0 is READY at once with 0. *result is -EINVAL on bad arguments (NULL j/cx, NULL
 * children with n > 0, a NULL type or poll, n too big, never initialised, polled after
 * READY); then no child was polled or dropped.
 * Threads: the owning task. The children share the task's coop budget; a child's yield
 * yields the task.
 * Cancellation: weft_join_all_drop() drops every unfinished child (type->drop once each).
 */
WEFT_API weft_poll weft_join_all_poll(weft_join_all *j, weft_cx *cx, int *result);
/* Drop: every child not yet finished is dropped (result -ECANCELED), also when the join_all
 * was never polled. No-op when finished, zero-filled or NULL. Threads: any, not concurrently
 * with a poll. Cancellation: the cancellation path; call it from your future's drop. */
WEFT_API void weft_join_all_drop(weft_join_all *j);

/* Prepare to race n >= 1 children (at most 2^24); resets their result and flags. Cannot
 * fail. Threads: any. Cancellation: weft_select_drop. */
WEFT_API void weft_select_init(weft_select *s, weft_child *children, size_t n);
/**
 * weft_select_poll - poll the children (only the woken ones after the first poll) in index
 * order; the first to finish wins: *winner (may be NULL) is its index, its output is in its
 * `out`, its result in children[winner].result, and every other child has been dropped
 * (type->drop, result -ECANCELED) before this returns WEFT_READY. Ties go to the lower
 * index, so put the branch that should win a tie first (e.g. the operation before its timer).
 * *winner is -EINVAL on bad arguments (NULL s/cx/children, n == 0 or too big, NULL
 * type/poll, never initialised, polled after READY); then no child was touched.
 * Generic: any weft_future_type works as a branch (a sleep wrapped in a future type makes a
 * timeout). Threads: the owning task.
 * Cancellation: weft_select_drop() drops every child.
 */
WEFT_API weft_poll weft_select_poll(weft_select *s, weft_cx *cx, int *winner);
/* Drop every child still pending (also when never polled). No-op when finished, zero-filled
 * or NULL. Threads: any, not concurrently with a poll. Cancellation: the cancellation path. */
WEFT_API void weft_select_drop(weft_select *s);

#ifdef __cplusplus
}
#endif
#endif
