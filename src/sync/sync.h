/* src/sync - internal header of the sync part: what its files share.
 *
 * The semaphore is the base of the mutex and the rwlock (Tokio's design): they embed one and
 * use its acquire future and permits unchanged.
 */
#ifndef WEFT_SYNC_INTERNAL_H
#define WEFT_SYNC_INTERNAL_H

#include "core/core.h"
#include "sync/waitlist.h"
#include "weft/sync.h"

/* Semaphore state word: permits << SEM_SHIFT | SEM_WAITERS | SEM_CLOSED.
 *   SEM_WAITERS  the wait list is not empty (changed only under the list lock). While it is
 *                set the permit field is 0: returned permits go to the waiters first, so
 *                nobody can take a permit past them (FIFO fairness without a lock on the fast
 *                paths: acquire and release are one CAS each while nobody waits).
 *   SEM_CLOSED   set once by close; never cleared. */
#define SEM_CLOSED 1ull
#define SEM_WAITERS 2ull
#define SEM_SHIFT 2

struct weft_semaphore {
    _Atomic uint64_t state;   /* see above */
    struct weft__waitlist wl; /* queued acquirers; waiter.val = permits still needed */
};

void weft__semaphore_init(struct weft_semaphore *s, uint64_t permits);

#endif
