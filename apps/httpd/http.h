/* apps/httpd/http.h - an HTTP/1.1 server module on weft: the handler API.
 *
 * The module is weft-httpd's library part, written on weft's public API only. It has three
 * layers; this header is the one handler authors use:
 *
 *   handlers      a handler gets an exchange (http_ex): the request (method, target, version,
 *                 headers, a body reader) and the response writer (status, headers, a body from
 *                 memory, streamed in chunks, or a file sent with sendfile). A handler is a poll
 *                 function, so it may wait on any weft future (a timer, a channel, the request
 *                 body arriving, the response draining) and the connection task waits with it.
 *   engine        http_conn.h: one connection's protocol state machine, IO-free. It is fed bytes,
 *                 runs handlers, and says what it needs next (read, write, wait, close). Unit
 *                 tests and the fuzz target drive it from a buffer.
 *   server        http_server.h: the weft tasks around the engine (listener, a task per
 *                 connection, timeouts, graceful shutdown).
 *
 * Protocol rules implemented for handlers (RFC 9110/9112): the engine adds Date, Server and the
 * framing headers (Content-Length or Transfer-Encoding: chunked, Connection), drops bodies of
 * HEAD requests and of 204/304 responses, answers Expect: 100-continue when the handler first
 * reads the body, and decides keep-alive. Every request a handler sees has passed the strict
 * checks listed in docs/httpd.md (request line, version, Host, header syntax, framing).
 *
 * Threads: an exchange belongs to the connection task that polls the handler; call these
 * functions only from inside the handler's poll (or its drop, for the request getters).
 * Strings: http_str views point into the connection's buffers and are valid until the handler
 * finishes (returns WEFT_READY or fails) - copy what you keep longer.
 */
#ifndef WEFT_HTTPD_HTTP_H
#define WEFT_HTTPD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <weft.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A byte string that is not NUL-terminated. */
typedef struct http_str {
    const char *p;
    size_t len;
} http_str;

/* The request methods the module knows (llhttp's numbering is not exposed). A request with a
 * syntactically valid but unknown method never reaches a handler: the engine answers 501. */
typedef enum http_method {
    HTTP_M_GET = 1,
    HTTP_M_HEAD,
    HTTP_M_POST,
    HTTP_M_PUT,
    HTTP_M_DELETE,
    HTTP_M_OPTIONS,
    HTTP_M_TRACE,
    HTTP_M_PATCH,
    HTTP_M_CONNECT,
    HTTP_M_OTHER, /* a method llhttp knows but this module does not name (PROPFIND...) */
} http_method;

/* One exchange: a request and its response. Opaque; owned by the connection engine. */
typedef struct http_ex http_ex;

/**
 * http_handle_fn - a handler's poll function.
 * @ex:    the exchange; valid until the handler returns WEFT_READY or fails.
 * @state: handler->state_size bytes, zero-filled before the first call, owned by the engine.
 * @cx:    the connection task's poll context: register its waker before returning PENDING.
 * Returns WEFT_READY when the handler is done (the engine completes the response if the
 * handler did not: 500 if nothing was written, the final chunk for a chunked body, a closed
 * connection if a Content-Length body was left short); WEFT_PENDING after arranging a wakeup
 * (any weft future, or http_req_body_read / http_resp_flush_poll, which arrange it for you);
 * or WEFT_FAIL(-errno): as READY, but logged as a handler failure.
 */
typedef weft_poll (*http_handle_fn)(http_ex *ex, void *state, weft_cx *cx);

/* A request handler: its poll function, an optional drop (runs exactly once after the last
 * poll, also when the connection dies while the handler waits), its per-request state size
 * (at most HTTP_HANDLER_STATE_MAX bytes) and a user pointer (http_ex_arg). Must outlive the
 * server; usually a static const. */
typedef struct http_handler {
    const char *name;                       /* for logs; may be NULL */
    http_handle_fn handle;                  /* required */
    void (*drop)(http_ex *ex, void *state); /* optional */
    size_t state_size;                      /* bytes of per-request state */
    void *arg;                              /* returned by http_ex_arg() */
    /* The handler never reads the request body (e.g. static files). Body bytes that arrived
     * with the head are then checked before the handler runs, so a malformed body (bad chunk
     * size, body too large) gets its 400/413 instead of the handler's answer. */
    bool ignores_body;
} http_handler;

/* The largest per-request handler state. */
#define HTTP_HANDLER_STATE_MAX 4096

/* The handler's user pointer (handler->arg). */
void *http_ex_arg(const http_ex *ex);

/* ------------------------------------------------------------------ request */

/* The method as an enum, and as the exact bytes the client sent. */
http_method http_req_method(const http_ex *ex);
http_str http_req_method_str(const http_ex *ex);
/* The request-target exactly as sent (origin-form "/a?b", absolute-form "http://h/a?b",
 * "*" for OPTIONS). */
http_str http_req_target(const http_ex *ex);
/* The path of the target, still percent-encoded ("/a%20b"); "/" for an absolute-form target
 * with an empty path, "*" for the asterisk form. */
http_str http_req_path(const http_ex *ex);
/* The query without the '?' (len 0 when absent). */
http_str http_req_query(const http_ex *ex);
/* The HTTP version: 10 for HTTP/1.0, 11 for HTTP/1.1. */
int http_req_version(const http_ex *ex);
/* The Host: from an absolute-form target's authority if there was one, else the Host header
 * (validated: a reg-name, IPv4 or [IPv6] literal with an optional port). len 0 on HTTP/1.0
 * without Host. */
http_str http_req_host(const http_ex *ex);
/* Number of header fields (trailers excluded), and the i-th as sent (name case preserved, the
 * value without leading and trailing whitespace). Returns false when i is out of range. */
size_t http_req_header_count(const http_ex *ex);
bool http_req_header_at(const http_ex *ex, size_t i, http_str *name, http_str *value);
/* The first header named `name` (ASCII case-insensitive). Returns false if absent. */
bool http_req_header(const http_ex *ex, const char *name, http_str *value);
/* The body length from Content-Length, -1 for a chunked body, 0 when there is no body. */
int64_t http_req_content_length(const http_ex *ex);
/* The peer's address as text ("127.0.0.1:51234"), "" when unknown (a test driver). */
const char *http_req_peer(const http_ex *ex);

/**
 * http_req_body_read - read decoded body bytes (chunked framing removed) into buf.
 * On WEFT_READY *n is the byte count (> 0), 0 at the end of the body, or a negative errno:
 * -EMSGSIZE (the body exceeds the server's max_body: the engine answers 413 and closes once the
 * handler returns), -ETIMEDOUT (body timeout), -ECONNRESET (peer closed early), -EPROTO
 * (malformed chunked framing: the engine answers 400 and closes). On WEFT_PENDING more bytes
 * must come from the socket: the engine reads them and polls the handler again. The first read
 * of a request carrying "Expect: 100-continue" sends "100 Continue" first.
 */
weft_poll http_req_body_read(http_ex *ex, weft_cx *cx, void *buf, size_t cap, ssize_t *n);

/* ------------------------------------------------------------------ response */

/**
 * http_resp_start - begin the response with a status (100 < status < 1000, not 101).
 * Writes the status line, Date and Server. Headers follow with http_resp_header; the body
 * starts with http_resp_body_begin. Returns 0, -EINVAL (bad status), -EALREADY (already
 * started), -ENOMEM.
 */
int http_resp_start(http_ex *ex, int status);

/**
 * http_resp_header - add a header after http_resp_start and before the body. The name must be
 * a token and the value must hold no CR, LF or NUL (-EINVAL otherwise). Do not add Date,
 * Server, Content-Length, Transfer-Encoding or Connection: the engine writes those (-EINVAL).
 * Returns 0, -EINVAL, -EALREADY (body begun or not started), -ENOMEM.
 */
int http_resp_header(http_ex *ex, const char *name, const char *value);
/* As http_resp_header, with lengths (value may hold any bytes but CR, LF and NUL). */
int http_resp_header_n(http_ex *ex, const char *name, size_t nlen, const char *value, size_t vlen);

/**
 * http_resp_headers_raw - add a block of header lines as they are: "Name: value\r\n" lines,
 * each ending in CRLF, already validated by the caller (a handler that prepares its headers
 * once, like the static-file cache). Nothing is checked but the state and the final CRLF.
 * Returns 0, -EINVAL (len 0 or no final CRLF), -EALREADY, -ENOMEM.
 */
int http_resp_headers_raw(http_ex *ex, const char *block, size_t len);

/**
 * http_resp_body_begin - end the headers; `length` is the body length, or -1 for a streamed
 * body of unknown length (chunked for HTTP/1.1; for HTTP/1.0 the body is delimited by closing
 * the connection). Adds Content-Length or Transfer-Encoding and Connection. For HEAD, 204 and
 * 304 no body is sent, whatever is written. Returns 0, -EINVAL (length < -1), -EALREADY,
 * -ENOMEM.
 */
int http_resp_body_begin(http_ex *ex, int64_t length);

/**
 * http_resp_write - append body bytes (copied). With a Content-Length, writing more than it
 * announced returns -EINVAL and writes nothing. Returns 0, -EINVAL, -EALREADY (no body begun,
 * or ended), -ENOMEM. The bytes are sent when the handler returns or waits (see
 * http_resp_flush_poll for streaming large bodies without buffering them all).
 */
int http_resp_write(http_ex *ex, const void *data, size_t len);

/* A release callback for bytes or files the response borrows (called once, when the engine
 * is done with them: sent, or the connection died). */
typedef void (*http_release_fn)(void *arg);

/* As http_resp_write without copying: `data` stays valid until release(arg) is called
 * (release may be NULL for static data). On error release is called before returning. */
int http_resp_write_ref(http_ex *ex, const void *data, size_t len, http_release_fn release,
                        void *arg);

/**
 * http_resp_write_file - append `len` bytes of the open file `fd` from offset `off` to the body;
 * they go out with sendfile. fd must stay open until release(arg) is called. Same errors as
 * http_resp_write (release is called on error).
 */
int http_resp_write_file(http_ex *ex, int fd, int64_t off, int64_t len, http_release_fn release,
                         void *arg);

/* End the body (the last chunk for a chunked body). Returns 0, -EALREADY, -ENOMEM. */
int http_resp_end(http_ex *ex);

/**
 * http_resp_send - a whole response in one call: status, an optional Content-Type (NULL: none),
 * and a body copied from memory. Returns as http_resp_start/http_resp_write.
 */
int http_resp_send(http_ex *ex, int status, const char *content_type, const void *body, size_t len);

/**
 * http_resp_flush_poll - wait until the response's unsent bytes fall below the engine's low
 * watermark (32 KiB). Use it between writes of a large streamed body. READY with *result 0, or
 * a negative errno when the connection failed (-EPIPE, -ETIMEDOUT: stop writing and return).
 */
weft_poll http_resp_flush_poll(http_ex *ex, weft_cx *cx, int *result);

/* True once http_resp_start was called. */
bool http_resp_started(const http_ex *ex);
/* Ask the engine to close the connection after this response (adds Connection: close when
 * the headers are not sent yet). */
void http_resp_close_after(http_ex *ex);

/* The reason phrase of a status ("Not Found"), "" for unknown codes. */
const char *http_status_text(int status);

#ifdef __cplusplus
}
#endif
#endif
