/* tests/http/drive.c - see drive.h. */
#include "drive.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *nop_clone(void *d)
{
    return d;
}
static void nop(void *d)
{
    (void)d;
}
static const weft_waker_vtable nop_vt = {nop_clone, nop, nop, nop};

weft_cx *drive_cx(void)
{
    static __thread weft_cx cx;
    cx = (weft_cx){.waker = {.data = NULL, .vtable = &nop_vt}, .budget = 128};
    return &cx;
}

static void append(drive_result *r, const void *p, size_t n)
{
    r->out = realloc(r->out, r->out_len + n + 1);
    memcpy(r->out + r->out_len, p, n);
    r->out_len += n;
    r->out[r->out_len] = 0;
}

int drive(const http_config *cfg, const char *in, size_t len, size_t chunk, bool eof,
          drive_result *res)
{
    http_conn c;
    size_t pos = 0;
    int rc = -1;

    memset(res, 0, sizeof *res);
    append(res, "", 0);
    http_conn_init(&c, cfg);
    if (chunk == 0)
        chunk = len ? len : 1;
    for (int steps = 0; steps < 1000000; steps++) {
        int next = http_conn_step(&c, drive_cx());
        if (next == HTTP_NEXT_READ) {
            if (pos == len) {
                if (!eof) {
                    rc = 0;
                    break;
                }
                http_conn_read_done(&c, 0);
                continue;
            }
            size_t room;
            char *b = http_conn_read_buf(&c, &room);
            if (!b || room == 0)
                break;
            size_t n = len - pos;
            if (n > chunk)
                n = chunk;
            if (n > room)
                n = room;
            memcpy(b, in + pos, n);
            pos += n;
            http_conn_read_done(&c, (ssize_t)n);
        } else if (next == HTTP_NEXT_WRITE) {
            struct iovec iov[16];
            http_file_seg f;
            int k = http_conn_out_iov(&c, iov, 16, &f);
            size_t sent = 0;
            res->writes++;
            if (k > 0) {
                for (int i = 0; i < k; i++) {
                    append(res, iov[i].iov_base, iov[i].iov_len);
                    sent += iov[i].iov_len;
                }
            } else {
                char *tmp = malloc(f.len ? f.len : 1);
                ssize_t got = pread(f.fd, tmp, f.len, f.off);
                if (got > 0)
                    append(res, tmp, (size_t)got), sent = (size_t)got;
                free(tmp);
                if (got <= 0) {
                    http_conn_out_done(&c, -EIO);
                    continue;
                }
            }
            http_conn_out_done(&c, (ssize_t)sent);
        } else if (next == HTTP_NEXT_WAIT) {
            res->waits++;
            if (res->waits > 1000)
                break;
        } else {
            res->closed = true;
            res->lingered = http_conn_wants_linger(&c);
            rc = 0;
            break;
        }
    }
    http_conn_free(&c);
    return rc;
}

void drive_result_free(drive_result *res)
{
    free(res->out);
    res->out = NULL;
}
