/* weft/task.h - futures, tasks, join handles, yield.
 *
 * A future is a poll function over a state struct, described by a weft_future_type. Spawning
 * copies the initial state into a task cell - one allocation that holds the header, the state
 * and the output - and schedules it. The task is polled until it returns WEFT_READY (the
 * output is then in the cell) or a negative errno (the task failed), or until it is aborted.
 * Its type->drop runs exactly once, after the last poll, whatever the ending.
 */
#ifndef WEFT_TASK_H
#define WEFT_TASK_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Poll the future whose state is `state`. On WEFT_READY the poll has written type->out_size
 * bytes to `out`. A task's poll may also return a negative errno (see WEFT_FAIL). */
typedef weft_poll (*weft_poll_fn)(void *state, weft_cx *cx, void *out);

typedef struct weft_future_type {
    const char *name;         /* for traces, task dumps and logs; may be NULL */
    weft_poll_fn poll;        /* required */
    void (*drop)(void *state); /* optional: runs once after the last poll (ready, failed,
                                  aborted or cancelled by shutdown) */
    size_t state_size;        /* bytes copied from `init` at spawn */
    size_t out_size;          /* bytes of output the poll writes on WEFT_READY */
} weft_future_type;

/* Task priorities. High-priority tasks are polled first; a quota keeps low ones moving. */
typedef enum weft_priority {
    WEFT_PRIO_NORMAL = 0,
    WEFT_PRIO_HIGH = 1,
    WEFT_PRIO_LOW = 2,
} weft_priority;

typedef struct weft_spawn_opts {
    weft_priority priority; /* default NORMAL */
    const char *name;       /* overrides type->name in traces; must outlive the task */
} weft_spawn_opts;

/* A handle to a spawned task's result. Exactly one of weft_join_wait(), a weft_join_poll()
 * that returns WEFT_READY, or weft_join_detach() consumes it. */
typedef struct weft_join weft_join;

/**
 * weft_spawn - run a future as a new task on `rt`.
 * @type:  the future's type; must outlive the task (usually a static const).
 * @init:  type->state_size bytes copied into the task (NULL: zeroed state).
 * @join:  out: a join handle, or NULL to detach at once. Set to NULL on failure.
 * Threads: any - a worker (the task goes to that worker's queue), the current-thread runtime's
 * driving thread, or any other thread (the task goes through the inject queue).
 * Returns 0; -EINVAL (NULL rt/type/poll, or sizes over 1 GiB); -ENOMEM; -ESHUTDOWN (the
 * runtime is shutting down: nothing was started); -EAGAIN (called off the runtime while the
 * inject queue holds weft_rt_config.max_inject tasks: nothing was started).
 */
WEFT_API int weft_spawn(weft_rt *rt, const weft_future_type *type, const void *init,
                        weft_join **join);

/* weft_spawn with options (priority, name). opts may be NULL. Same threads and errors. */
WEFT_API int weft_spawn_with(weft_rt *rt, const weft_future_type *type, const void *init,
                             const weft_spawn_opts *opts, weft_join **join);

/**
 * weft_join_poll - await a task's end from inside another future.
 * On WEFT_READY: *result is 0 and the output was copied to `out` (out_size bytes, at most the
 * task's out_size; `out` may be NULL), or *result is the task's error (-ECANCELED when aborted)
 * and `out` is untouched. The handle is then consumed: do not use it again.
 * On WEFT_PENDING the caller's waker is stored and woken when the task ends.
 * Threads: the thread polling the awaiting future.
 */
WEFT_API weft_poll weft_join_poll(weft_join *join, weft_cx *cx, void *out, size_t out_size,
                                  int *result);

/**
 * weft_join_wait - block the calling OS thread until the task ends, then consume the handle.
 * Returns the task's result (0, its error, or -ECANCELED) and copies the output as
 * weft_join_poll does. Threads: any thread that is not a runtime worker (returns -EDEADLK if
 * called from a worker or a current-thread runtime's driver, without consuming the handle);
 * -EINVAL on NULL.
 */
WEFT_API int weft_join_wait(weft_join *join, void *out, size_t out_size);

/* Give up the handle: the task runs on and its output is dropped. NULL is a no-op.
 * Threads: any. */
WEFT_API void weft_join_detach(weft_join *join);

/* Ask the task to stop: at its next suspension point its future is dropped and the join
 * reports -ECANCELED. A task that is done already keeps its result. The handle stays valid and
 * must still be consumed. Threads: any. NULL is a no-op. */
WEFT_API void weft_join_abort(weft_join *join);

/* True once the task has ended (its result is ready). Threads: any. */
WEFT_API bool weft_join_is_finished(const weft_join *join);

/* The task's id: unique within the process, never 0. Threads: any. */
WEFT_API uint64_t weft_join_id(const weft_join *join);

/* ------------------------------------------------------------------ yield */

/* A future that returns WEFT_PENDING once, putting the task at the back of the run queue,
 * then WEFT_READY. Caller-stored; init cannot fail. */
typedef struct weft_yield {
    int done;
} weft_yield;

static inline void weft_yield_init(weft_yield *y) { y->done = 0; }
WEFT_API weft_poll weft_yield_poll(weft_yield *y, weft_cx *cx);

/* ------------------------------------------------------------------ current task */

/* The id of the task being polled on this thread, or 0. Threads: any. */
WEFT_API uint64_t weft_task_current_id(void);

#ifdef __cplusplus
}
#endif
#endif
