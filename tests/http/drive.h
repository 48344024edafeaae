/* tests/http/drive.h - run the HTTP engine (apps/httpd/http_conn.h) from a buffer: the input is
 * handed over in pieces of `chunk` bytes, every write is taken whole, file segments are read
 * with pread. Used by the engine tests and the fuzz target. */
#ifndef WEFT_TESTS_HTTP_DRIVE_H
#define WEFT_TESTS_HTTP_DRIVE_H

#include "http_conn.h"

typedef struct drive_result {
    char *out; /* everything the server sent (NUL-terminated; malloc'd) */
    size_t out_len;
    bool closed;   /* the engine asked to close */
    bool lingered; /* ... after an error response */
    int writes;    /* write steps taken */
    int waits;     /* HTTP_NEXT_WAIT seen (a handler waited on a foreign future) */
} drive_result;

/* Run `in` through a fresh connection. eof: the peer closes after the last byte (else the
 * run stops when the engine asks for more input). Returns 0, or -1 if the engine looped. */
int drive(const http_config *cfg, const char *in, size_t len, size_t chunk, bool eof,
          drive_result *res);
void drive_result_free(drive_result *res);
/* A context whose waker does nothing. */
weft_cx *drive_cx(void);

#endif
