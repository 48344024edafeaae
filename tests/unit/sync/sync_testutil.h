/* Helpers shared by the sync tests (unit, integ and stress): a counting waker for polling
 * futures by hand, and small runtime helpers. Header-only; every function is static. */
#ifndef WEFT_SYNC_TESTUTIL_H
#define WEFT_SYNC_TESTUTIL_H

#include <pthread.h>
#include <stdatomic.h>

#include "test.h"
#include "weft.h"

/* ------------------------------------------------------------------ counting waker */

struct twaker {
    _Atomic int wakes; /* wake + wake_by_ref calls */
    _Atomic int refs;  /* clones not yet consumed (wake or drop) */
};

__attribute__((unused)) static void *tw_clone(void *d)
{
    atomic_fetch_add(&((struct twaker *)d)->refs, 1);
    return d;
}
__attribute__((unused)) static void tw_wake(void *d)
{
    atomic_fetch_add(&((struct twaker *)d)->wakes, 1);
    atomic_fetch_sub(&((struct twaker *)d)->refs, 1);
}
__attribute__((unused)) static void tw_wake_by_ref(void *d)
{
    atomic_fetch_add(&((struct twaker *)d)->wakes, 1);
}
__attribute__((unused)) static void tw_drop(void *d)
{
    atomic_fetch_sub(&((struct twaker *)d)->refs, 1);
}
__attribute__((unused)) static const weft_waker_vtable tw_vtable = {tw_clone, tw_wake,
                                                                   tw_wake_by_ref, tw_drop};

/* A context for polling by hand: its waker counts. Budget: plenty. */
static inline weft_cx tw_cx(struct twaker *w)
{
    weft_cx cx = {.waker = {.data = w, .vtable = &tw_vtable}, .budget = 1 << 20};
    return cx;
}

static inline int tw_wakes(struct twaker *w)
{
    return atomic_load(&w->wakes);
}

/* ------------------------------------------------------------------ runtimes */

static inline weft_rt *rt_mt(unsigned workers)
{
    weft_rt *rt = NULL;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.workers = workers, .thread_name = "synct"}),
              0);
    return rt;
}

static inline weft_rt *rt_ct(void)
{
    weft_rt *rt = NULL;
    ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = WEFT_RT_CURRENT_THREAD}), 0);
    return rt;
}

/* Scale an iteration count for sanitizer builds (at least 1). */
static inline int scaled(int n)
{
    int v = (int)(n * weft_test_scale());
    return v < 1 ? 1 : v;
}

/* A poll function that never finishes (for select/join tests); counts its polls. */
struct forever {
    int polls;
    int drops;
};
__attribute__((unused)) static weft_poll forever_poll(void *state, weft_cx *cx, void *out)
{
    (void)cx, (void)out;
    ((struct forever *)state)->polls++;
    return WEFT_PENDING;
}
__attribute__((unused)) static void forever_drop(void *state)
{
    ((struct forever *)state)->drops++;
}
__attribute__((unused)) static const weft_future_type forever_type = {
    .name = "forever", .poll = forever_poll, .drop = forever_drop,
    .state_size = sizeof(struct forever)};

#endif
