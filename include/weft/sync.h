/* weft/sync.h - synchronisation between tasks. */
#ifndef WEFT_SYNC_H
#define WEFT_SYNC_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ oneshot */

/* A channel for exactly one value, from one sender to one receiver. One allocation shared by
 * both ends; each end is released exactly once (send or sender_drop; a READY recv or
 * receiver_drop), and the last release frees it. */
typedef struct weft_oneshot weft_oneshot;

/* Create a channel carrying value_size bytes (0 allowed: a bare signal, at most 1 MiB).
 * Returns 0, -EINVAL or -ENOMEM. Threads: any. */
WEFT_API int weft_oneshot_new(weft_oneshot **out, size_t value_size);

/* Send and release the sender end. Returns 0, or -EPIPE when the receiver is gone (the value
 * is dropped), -EINVAL on NULL. Never waits. Threads: any. */
WEFT_API int weft_oneshot_send(weft_oneshot *ch, const void *value);

/* Release the sender end without sending: the receiver gets -EPIPE. Threads: any. */
WEFT_API void weft_oneshot_sender_drop(weft_oneshot *ch);

/* Receive. On WEFT_READY, *result is 0 and the value is in `value` (may be NULL), or *result
 * is -EPIPE (sender dropped); the receiver end is then released. Threads: the polling task. */
WEFT_API weft_poll weft_oneshot_recv_poll(weft_oneshot *ch, weft_cx *cx, void *value,
                                          int *result);

/* Release the receiver end without receiving; a later send returns -EPIPE. Threads: any. */
WEFT_API void weft_oneshot_receiver_drop(weft_oneshot *ch);

#ifdef __cplusplus
}
#endif
#endif
