/* weft/async.h - write an async function as a resumable state machine without a hand-written
 * switch.
 *
 *   struct job { WEFT_ASYNC_STATE; weft_join *child; int i, err; };
 *
 *   static weft_poll job_poll(void *state, weft_cx *cx, void *out)
 *   {
 *       struct job *j = state;
 *       WEFT_ASYNC_BEGIN(j);
 *       for (j->i = 0; j->i < 10; j->i++)
 *           WEFT_YIELD(j, cx);
 *       WEFT_AWAIT(j, weft_join_poll(j->child, cx, NULL, 0, &j->err));
 *       WEFT_ASYNC_END(j);
 *   }
 *
 * Rules: locals do not survive an await or a yield (keep them in the state struct); child
 * futures live inline in the state, so the whole chain is one allocation; an await may not
 * sit inside a nested `switch`. Under the hood: a switch on the line number of the last
 * suspension point (Duff's device).
 */
#ifndef WEFT_ASYNC_H
#define WEFT_ASYNC_H

#include "task.h"

/* The resume point; zero-initialised state starts at the beginning. */
#define WEFT_ASYNC_STATE int weft_async_line_

#define WEFT_ASYNC_BEGIN(s)                                                                        \
    switch ((s)->weft_async_line_) {                                                               \
    case 0:

/* Poll `expr` (an expression returning weft_poll) until it is READY, suspending meanwhile. */
#define WEFT_AWAIT(s, expr)                                                                        \
    do {                                                                                           \
        (s)->weft_async_line_ = __LINE__;                                                          \
        __attribute__((fallthrough));                                                              \
    case __LINE__:                                                                                 \
        if ((expr) == WEFT_PENDING)                                                                \
            return WEFT_PENDING;                                                                   \
    } while (0)

/* Go to the back of the run queue once. */
#define WEFT_YIELD(s, cx)                                                                          \
    do {                                                                                           \
        weft_yield weft_y_ = {0};                                                                  \
        (s)->weft_async_line_ = __LINE__;                                                          \
        (void)weft_yield_poll(&weft_y_, (cx));                                                     \
        return WEFT_PENDING;                                                                       \
    case __LINE__:;                                                                                \
    } while (0)

/* Finish now with WEFT_READY (the output must already be written). */
#define WEFT_ASYNC_RETURN(s)                                                                       \
    do {                                                                                           \
        (s)->weft_async_line_ = -1;                                                                \
        return WEFT_READY;                                                                         \
    } while (0)

/* Finish now with an error (a task's poll: the join reports it). */
#define WEFT_ASYNC_FAIL(s, neg_errno)                                                              \
    do {                                                                                           \
        (s)->weft_async_line_ = -1;                                                                \
        return WEFT_FAIL(neg_errno);                                                               \
    } while (0)

#define WEFT_ASYNC_END(s)                                                                          \
    default:                                                                                       \
        break;                                                                                     \
        }                                                                                          \
        (s)->weft_async_line_ = -1;                                                                \
        return WEFT_READY

#endif
