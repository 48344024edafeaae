/* The waiter-list lock's slow paths (the protocol is in waitlist.h).
 *
 * Lock word: 0 free, 1 held, 2 held and a thread may sleep on it. A contended locker spins
 * for a short while (critical sections are a few dozen instructions), then marks the word 2
 * and sleeps on the futex; the unlocker that swaps out a 2 wakes one sleeper. This is
 * Drepper's "mutex 2" with a spin phase, so a preempted holder costs the others a futex
 * sleep, not a burnt time slice.
 */
#include "sync/waitlist.h"
#include "sys/futex.h"

#define SPINS 100

void weft__waitlist_lock_slow(struct weft__waitlist *l)
{
    for (int i = 0; i < SPINS; i++) {
        uint32_t v = ld_relaxed(&l->lock);
        if (v == 0 && atomic_compare_exchange_weak_explicit(&l->lock, &v, 1, memory_order_acquire,
                                                            memory_order_relaxed))
            return;
        if (v == 2)
            break; /* somebody already sleeps: join them rather than spin */
        weft__cpu_relax();
    }
    while (atomic_exchange_explicit(&l->lock, 2, memory_order_acquire) != 0)
        weft__futex_wait(&l->lock, 2, INT64_MAX);
}

void weft__waitlist_unlock_slow(struct weft__waitlist *l)
{
    weft__futex_wake(&l->lock, 1);
}
