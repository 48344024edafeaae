/* apps/httpd/http_conn.h - one HTTP/1.1 connection's protocol engine, IO-free.
 *
 * The engine owns no socket. A driver (the server's connection task, a unit test, the fuzz
 * target) runs it in a loop:
 *
 *     for (;;) switch (http_conn_step(c, cx)) {
 *     case HTTP_NEXT_READ:  buf = http_conn_read_buf(c, &room); n = read(...);
 *                           http_conn_read_done(c, n);            // n == 0: EOF, < 0: error
 *                           // no data before http_conn_deadline(c): http_conn_timed_out(c)
 *     case HTTP_NEXT_WRITE: k = http_conn_out_iov(c, iov, 16, &file); writev or sendfile;
 *                           http_conn_out_done(c, bytes);         // bytes < 0: write error
 *     case HTTP_NEXT_WAIT:  return WEFT_PENDING;  // a handler waits on some other future
 *     case HTTP_NEXT_CLOSE: close the socket (after a lingering drain if
 *                           http_conn_wants_linger(c)); http_conn_free(c);
 *     }
 *
 * BUFFERS. Reads start in a 1 KiB landing pad inside the connection (so a read can wait on
 * an idle keep-alive connection without holding any buffer: the pad lives in the task's
 * state, which exists anyway). A request that outgrows the pad moves to an input buffer
 * (8 KiB by default, grown up to the header limit for a large head) taken from a per-thread
 * pool, and the buffer goes back as soon as the connection is idle again (no request in
 * progress, nothing unparsed). The output buffer is likewise taken per response and returned
 * once it is sent. A typical GET (and wrk's 16 pipelined GETs) never leaves the pad.
 *
 * PARSING (http_parse.c). llhttp runs in strict mode with no lenient flag. It is fed the
 * unparsed bytes and pauses at the end of each request head (the handler runs) and at the end
 * of each message (so a pipelined next request stays unparsed until the current one is
 * answered). The head stays in place in the buffer until the request is done; header fields
 * are recorded as offsets. Body bytes are decoded in place: each body span llhttp reports is
 * moved down to the end of the decoded region, which never overtakes the parse position.
 * On top of llhttp the engine checks what llhttp 8 lets through (see docs/httpd.md): bare LF
 * or bare CR anywhere in the framing, obs-fold, spacing in the request line, versions other
 * than 1.0/1.1, request-target syntax, Host, Transfer-Encoding semantics, Expect.
 *
 * PIPELINING. step() parses and answers every complete request already buffered before it
 * asks to write, so the responses to one read leave in one write (up to a 64 KiB watermark).
 *
 * Threads: one connection is used by one task at a time (it may migrate between workers).
 */
#ifndef WEFT_HTTPD_HTTP_CONN_H
#define WEFT_HTTPD_HTTP_CONN_H

#include "http.h"
#include "llhttp.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Limits. Zero in any field means the default shown (nginx's and h2o's are the guide). */
typedef struct http_limits {
    uint32_t max_request_line; /* 8192: longer request-target -> 414 */
    uint32_t max_header_bytes; /* 16384: request line + headers (and trailers) -> 431 */
    uint32_t max_headers;      /* 100 header fields -> 431 */
    uint64_t max_body;         /* 1 MiB request body -> 413 */
    int64_t header_timeout;    /* 10 s, total, from the first byte of a request head -> 408 */
    int64_t body_timeout;      /* 10 s between two reads of a body -> 408 */
    int64_t send_timeout;      /* 30 s between two writes that make progress -> close */
    int64_t keepalive_timeout; /* 30 s idle between requests -> close */
    uint32_t max_requests;     /* 10000 requests per connection, then Connection: close */
    uint32_t buffer_size;      /* 8192: the input buffer taken when data arrives */
    uint64_t max_discard;      /* 64 KiB: unread body drained to keep a connection alive */
} http_limits;

/* The defaults, filled into every zero field of *l. */
void http_limits_defaults(http_limits *l);

/* A route: requests whose (still encoded) path equals `path`, or starts with it when `prefix`,
 * go to `handler`. Routes are tried in order. */
typedef struct http_route {
    const char *path;
    bool prefix;
    const http_handler *handler;
} http_route;

/* What the engine reports for each finished request (access log, metrics). */
typedef struct http_done_info {
    int status;          /* the status sent; 0 when the connection died before one */
    uint64_t body_bytes; /* response body bytes queued */
    int64_t start_ns;    /* weft_now() when the request head was complete */
    int64_t end_ns;      /* weft_now() when the response was complete */
    bool rejected;       /* answered by the engine (400, 414, 431, ...), no handler ran */
} http_done_info;

/* Shared, read-only configuration of every connection of a server. */
typedef struct http_config {
    http_limits limits;
    const char *server_name;  /* the Server header; default "weft-httpd" */
    const http_route *routes; /* tried in order */
    size_t nroutes;
    const http_handler *fallback; /* when no route matches; NULL: 404 */
    /* Called once per answered request (also rejections), on the connection's thread.
     * `ex` gives the request fields when rejected == false, and may be NULL otherwise. */
    void (*on_done)(const http_ex *ex, const http_done_info *info, void *arg);
    void *on_done_arg;
    /* When non-NULL and true, every response ends with Connection: close and idle connections
     * close (graceful shutdown). */
    const _Atomic bool *draining;
} http_config;

/* Fill the defaults into cfg (limits, server name). */
void http_config_defaults(http_config *cfg);

/* What the driver must do next. */
enum http_next {
    HTTP_NEXT_READ = 1,  /* read into http_conn_read_buf() */
    HTTP_NEXT_WRITE = 2, /* send http_conn_out_iov() */
    HTTP_NEXT_WAIT = 3,  /* a handler waits on another future: return WEFT_PENDING */
    HTTP_NEXT_CLOSE = 4, /* everything is sent: close */
};

/* An output segment sent with sendfile. */
typedef struct http_file_seg {
    int fd;
    int64_t off;
    size_t len;
} http_file_seg;

/* ------------------------------------------------------------------ internals (the engine
 * and its tests read these; handlers use http.h) */

/* One header field: offsets into the input buffer. */
struct http_hdr {
    uint32_t name_off;
    uint32_t val_off;
    uint32_t val_len;
    uint16_t name_len;
    uint16_t flags;
};

enum { HTTP_INLINE_HDRS = 12, HTTP_PAD = 1024, HTTP_INLINE_SEGS = 4 };

/* One output segment. */
struct http_seg {
    uint8_t kind;            /* SEG_BUF (bytes in obuf), SEG_REF (borrowed bytes), SEG_FILE */
    int fd;                  /* SEG_FILE */
    uint64_t off;            /* SEG_BUF: offset in obuf; SEG_FILE: file offset */
    uint64_t len;            /* bytes left to send */
    const char *p;           /* SEG_REF */
    http_release_fn release; /* SEG_REF/SEG_FILE: called once when done */
    void *arg;
};

struct http_conn;

/* The exchange: one request and its response. Embedded in the connection (requests of one
 * connection are answered strictly in order, one at a time). */
struct http_ex {
    struct http_conn *conn;
    const http_handler *handler; /* NULL while no handler runs */
    void *hstate;                /* handler state (inline or heap) */
    /* request: offsets into conn->in */
    uint32_t method_off, target_off, path_off, query_off, host_off, version_off;
    uint16_t method_len, version_len;
    uint32_t target_len, path_len, query_len, host_len;
    uint8_t method;  /* http_method */
    uint8_t version; /* 10 or 11 */
    bool chunked;
    bool expect_continue;
    bool req_close; /* the client asked to close (1.1 close, 1.0 without keep-alive) */
    bool has_host;
    bool host_in_target;
    int64_t content_length; /* -1 chunked */
    uint32_t nhdr;
    uint32_t hdr_cap;
    struct http_hdr *hdrs; /* inline_hdrs or heap */
    struct http_hdr inline_hdrs[HTTP_INLINE_HDRS];
    /* response */
    uint8_t resp_state; /* RESP_NONE, RESP_HEAD, RESP_BODY, RESP_DONE */
    bool resp_chunked;
    bool resp_nobody;   /* HEAD, 204, 304, 1xx: no body bytes on the wire */
    bool resp_close;    /* Connection: close was (or will be) sent */
    bool resp_eof_body; /* HTTP/1.0 streamed body: delimited by closing */
    int status;
    int64_t resp_len;      /* announced Content-Length, -1 when streamed */
    uint64_t resp_written; /* body bytes accepted from the handler */
    int64_t start_ns;
    int body_err; /* sticky body-read error */
};

/* The connection. Embed it (e.g. in the connection task's state); ~700 bytes, no heap while
 * idle. */
typedef struct http_conn {
    const http_config *cfg;
    llhttp_t parser;
    /* input */
    char *in;           /* NULL while idle */
    uint32_t in_cap;    /* bytes allocated */
    uint32_t in_len;    /* bytes held */
    uint32_t in_parsed; /* bytes given to llhttp */
    uint32_t msg_start; /* where the current message's head begins */
    uint32_t head_end;  /* end of the head (headers complete), where the body starts */
    uint32_t body_rd;   /* decoded body region [body_rd, body_wr) */
    uint32_t body_wr;
    uint32_t scan_pos;  /* framing bytes checked for bare CR/LF up to here */
    uint32_t url_len;   /* bytes of request-target seen so far */
    uint64_t body_seen; /* decoded body bytes of the current message */
    uint64_t trailer_bytes;
    /* parse state */
    uint8_t phase;     /* PH_HEAD, PH_HANDLER, PH_DRAIN, PH_CLOSING */
    uint8_t hstate_cb; /* header callback state (field / value / value done) */
    bool prev_cr;      /* last framing byte was CR */
    bool headers_done; /* of the current message (later fields are trailers) */
    bool msg_done;     /* message complete (llhttp paused after it) */
    bool msg_started;  /* a byte of the next message has arrived */
    bool discard;      /* body bytes are dropped, not kept for the handler */
    bool continue_sent;
    bool want_read;      /* the handler waits for body bytes */
    bool want_flush;     /* the handler waits for output to drain */
    bool closing;        /* close once the output is sent */
    bool linger;         /* drain input before closing (an error response was sent) */
    bool read_eof;       /* the peer closed its side */
    bool dead;           /* a write failed: nothing more will be sent */
    uint16_t err_status; /* a rejection decided by a callback */
    int out_err;         /* the write error, for handlers waiting in flush */
    uint32_t requests;   /* requests answered on this connection */
    int64_t idle_since;  /* weft_now() when the connection became idle */
    int64_t head_deadline;
    int64_t body_deadline;
    /* output */
    char *obuf;
    uint32_t ob_cap, ob_len;
    struct http_seg *segs; /* seg_inline, or heap when more are queued */
    uint32_t seg_cap, seg_head, seg_tail;
    struct http_seg seg_inline[HTTP_INLINE_SEGS];
    uint64_t out_pending; /* bytes queued, not yet sent */
    /* the exchange in progress */
    struct http_ex ex;
    _Alignas(16) unsigned char hstate_inline[64];
    char peer[48];
    char pad[HTTP_PAD]; /* the landing pad: c->in points here until a request outgrows it */
} http_conn;

/* Prepare a connection (no allocation; cannot fail). cfg must outlive it. */
void http_conn_init(http_conn *c, const http_config *cfg);
/* Record the peer's address for logs (copied, truncated to 47 bytes). */
void http_conn_set_peer(http_conn *c, const char *peer);
/* Release everything: buffers, borrowed segments, a running handler (its drop runs). */
void http_conn_free(http_conn *c);
/* For a driver dropped while a read or write is still in flight (an aborted task): forget the
 * heap buffers and borrowed segments without freeing or releasing them (the kernel may still
 * use them; a bounded leak on an abnormal path), so a following http_conn_free is safe. */
void http_conn_forget_buffers(http_conn *c);

/* Run the engine as far as it goes without IO; returns an enum http_next. cx is the driving
 * task's context (handlers register its waker). */
int http_conn_step(http_conn *c, weft_cx *cx);

/* The free space to read into (taking a buffer from the pool if none is held). NULL with
 * *room 0 only on allocation failure (the driver should close). */
char *http_conn_read_buf(http_conn *c, size_t *room);
/* Report a read: n > 0 bytes arrived in the buffer, 0 the peer closed, < 0 a read error. */
void http_conn_read_done(http_conn *c, ssize_t n);
/* The deadline (weft_now() clock) of the read step() asked for. */
int64_t http_conn_deadline(const http_conn *c);
/* The deadline for a write starting now (the send timeout from now). */
int64_t http_conn_send_deadline(const http_conn *c);
/* The read deadline passed: the engine answers 408 if a request was under way, else it
 * closes quietly. Call step() next. */
void http_conn_timed_out(http_conn *c);

/* Fill up to `max` iovecs with the output ready to send and return their count; when the
 * first pending segment is a file, return 0 and fill *file instead. */
int http_conn_out_iov(http_conn *c, struct iovec *iov, int max, http_file_seg *file);
/* Whether the pending output holds a file range of at least `min` bytes (the driver corks
 * the socket around such a body, so its head and data leave in full segments). */
bool http_conn_out_has_file(const http_conn *c, uint64_t min);
/* Report a write: n >= 0 bytes were sent, < 0 a write error (the connection is dead). */
void http_conn_out_done(http_conn *c, ssize_t n);
/* Bytes queued and not sent. */
static inline uint64_t http_conn_out_pending(const http_conn *c)
{
    return c->out_pending;
}

/* After HTTP_NEXT_CLOSE: true when an error response was sent and unread input may follow;
 * the driver should shut down its write side and read (and drop) input for a short while
 * before closing, so that the peer reads the response instead of a reset. */
bool http_conn_wants_linger(const http_conn *c);
/* True while the connection is idle between requests (no request bytes held). */
bool http_conn_is_idle(const http_conn *c);

/* Free the calling thread's pool of idle buffers. Call it on each worker thread as it stops
 * (weft_rt_config.on_thread_stop), so nothing outlives the threads. */
void http_thread_cleanup(void);

/* Internal, shared by the engine's files. */
int http__parse_feed(http_conn *c, uint32_t limit);
void http__parse_reset_message(http_conn *c);
void http__parser_init(http_conn *c);
int http__resp_error(http_conn *c, int status);
int http__out_bytes(http_conn *c, const void *p, size_t n);
int http__out_seg(http_conn *c, const struct http_seg *s);
void http__out_release_all(http_conn *c);
void http__date_now(char out[32]);
void *http__buf_get(size_t size);
void http__buf_put(void *p, size_t size);
bool http__tchar(unsigned char ch);

enum { PH_HEAD = 0, PH_HANDLER, PH_DRAIN, PH_CLOSING };
enum { RESP_NONE = 0, RESP_HEAD, RESP_BODY, RESP_DONE };
enum { SEG_BUF = 0, SEG_REF, SEG_FILE };
/* http__parse_feed results */
enum { FEED_MORE = 0, FEED_HEAD = 1, FEED_MSG = 2, FEED_ERROR = 3, FEED_LIMIT = 4 };

#ifdef __cplusplus
}
#endif
#endif
