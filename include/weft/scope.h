/* weft/scope.h - structured concurrency: tasks that cannot outlive their owner.
 *
 * A scope owns the tasks spawned into it. Closing it (awaiting weft_scope_close_poll, or
 * weft_scope_close_wait from a plain thread) waits for every child; cancelling it aborts every
 * child and every nested scope, depth first. Each child's drop (its cleanup) runs exactly once,
 * whatever ends it: completion, failure, cancellation or runtime shutdown.
 *
 *   weft_scope *s;
 *   weft_scope_new(&s, rt, &(weft_scope_opts){.policy = WEFT_SCOPE_FAIL_FAST});
 *   weft_scope_spawn(s, &fetch_type, &a, NULL);
 *   weft_scope_spawn(s, &fetch_type, &b, NULL);
 *   WEFT_AWAIT(st, weft_scope_close_poll(s, cx, &st->err, &st->failed)); // frees s
 */
#ifndef WEFT_SCOPE_H
#define WEFT_SCOPE_H

#include "base.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum weft_scope_policy {
    WEFT_SCOPE_FAIL_FAST = 0, /* the first child error cancels the siblings; close reports it */
    WEFT_SCOPE_COLLECT = 1,   /* every child runs to its end; close reports the first error and
                                 how many failed */
} weft_scope_policy;

typedef struct weft_scope weft_scope;

typedef struct weft_scope_opts {
    weft_scope_policy policy;
    int64_t deadline;    /* absolute; 0 = none: when it passes, what is left is cancelled and
                            close reports -ETIMEDOUT */
    weft_scope *parent;  /* cancelling the parent cancels this scope too; NULL = none */
} weft_scope_opts;

/* Create a scope on rt (opts may be NULL). Returns 0, -EINVAL, -ENOMEM or -ESHUTDOWN.
 * Threads: any. */
WEFT_API int weft_scope_new(weft_scope **out, weft_rt *rt, const weft_scope_opts *opts);

/* Spawn a child into the scope (as weft_spawn; join may be NULL). Returns 0, -EINVAL, -ENOMEM,
 * -ESHUTDOWN, or -ECANCELED when the scope is cancelled or closing. Threads: any. */
WEFT_API int weft_scope_spawn(weft_scope *s, const weft_future_type *type, const void *init,
                              weft_join **join);

/* Cancel every child and nested scope, depth first; later spawns fail with -ECANCELED. Each
 * child stops at its next suspension point; its drop runs once. Threads: any. NULL: no-op. */
WEFT_API void weft_scope_cancel(weft_scope *s);

/* Await the end of every child, then free the scope. On WEFT_READY: *result is 0, the first
 * child error (FAIL_FAST and COLLECT), -ETIMEDOUT (deadline) or -ECANCELED (cancelled from
 * outside); *failed (may be NULL) is how many children ended with an error. Spawning stops
 * once close starts. Threads: the awaiting task. Cancellation: dropping an unfinished close
 * cancels the scope's children and frees it when they are gone - a scope never leaks its
 * children. */
WEFT_API weft_poll weft_scope_close_poll(weft_scope *s, weft_cx *cx, int *result, int *failed);

/* Same from a plain thread (not a worker): blocks until every child ended, frees the scope,
 * returns the result as above. -EINVAL on NULL, -EDEADLK on a worker thread. */
WEFT_API int weft_scope_close_wait(weft_scope *s, int *failed);

/* Children still running. Threads: any. */
WEFT_API size_t weft_scope_live(const weft_scope *s);

#ifdef __cplusplus
}
#endif
#endif
