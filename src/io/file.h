/* src/io/file.h - what other IO code (sendfile, buffered IO) may use of a weft_file.
 *
 * A weft_file counts the operations in flight on it; its descriptor is closed only when a
 * close was asked for AND that count is zero, so a descriptor number is never reused under
 * an operation that still names it. Code outside file.c that uses the descriptor for a
 * while (a sendfile loop) brackets the use with get/put like the file futures do.
 */
#ifndef WEFT_IO_FILE_H
#define WEFT_IO_FILE_H

#include "weft/fs.h"

/* Count one operation on `file` and return its descriptor, valid until weft__file_put; or
 * -EBADF once the file is closing, -EINVAL on NULL. Threads: any. */
int weft__file_get(weft_file *file);

/* End an operation counted by weft__file_get. The last one of a closed file closes the
 * descriptor (on the calling thread) and, if the handle was freed, frees the file: do not
 * touch `file` afterwards. Threads: any. */
void weft__file_put(weft_file *file);

#endif
