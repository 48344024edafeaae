/* apps/httpd/http_server.h - the weft tasks around the HTTP engine: listeners, the connection
 * cap, a task per connection, timeouts and graceful shutdown.
 *
 * The article's shape: a listener (one per worker, SO_REUSEPORT, so the kernel spreads new
 * connections), a weft semaphore capping connections (a permit is taken before accept, so at
 * the cap new connections wait in the kernel's backlog, not in our memory, and the idle
 * keep-alive connection that waited longest is asked to close to make room), TCP_NODELAY, and
 * one task per connection whose state holds the engine (http_conn.h) and one IO future at a
 * time: a read into the engine's buffer, a writev of its queued output, or a sendfile.
 *
 * Deadlines: every read carries the engine's deadline (total header time, body time between
 * reads, keep-alive idle time), every write the send timeout.
 *
 * Shutdown (httpd_server_shutdown): listeners close and accepting stops; every connection is
 * woken; idle ones close at once, busy ones finish the response in progress with
 * Connection: close. httpd_server_wait_idle tells when the last one has gone. Whatever is
 * left when the caller gives up is dropped by weft_rt_free (each connection task's drop
 * closes its socket and releases its permit).
 *
 * Threads: create, start and shut down from any thread; connection tasks run on rt's workers.
 */
#ifndef WEFT_HTTPD_HTTP_SERVER_H
#define WEFT_HTTPD_HTTP_SERVER_H

#include "http_conn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Server options. Zero means the default shown. */
typedef struct httpd_server_cfg {
    weft_sockaddr addr;  /* where to listen (required; port 0 picks one) */
    unsigned listeners;  /* SO_REUSEPORT listeners, each with its accept task;
                            default: the runtime's worker count */
    size_t max_conns;    /* 10000: open connections (the semaphore's permits) */
    int backlog;         /* 4096 */
    int64_t linger_time; /* 2 s: after an error response, drain input at most this long */
    bool peer_names;     /* record "ip:port" of each peer (access logs) */
    http_config http;    /* routes, handlers, limits; copied (its strings are not) */
} httpd_server_cfg;

typedef struct httpd_server httpd_server;

/**
 * httpd_server_new - bind the listeners and prepare the server on rt (nothing runs yet).
 * Ownership: the caller frees *out with httpd_server_free after weft_rt_free(rt) (the tasks
 * refer to it). Threads: any. Returns 0; -EINVAL; -EADDRINUSE, -EACCES... from listen;
 * -ENOMEM.
 */
int httpd_server_new(httpd_server **out, weft_rt *rt, const httpd_server_cfg *cfg);

/* Spawn the accept tasks. Returns 0, -ENOMEM or -ESHUTDOWN. Threads: any. */
int httpd_server_start(httpd_server *s);

/* The bound port (useful after port 0). */
int httpd_server_port(const httpd_server *s);

/* The configuration the connections use (limits filled in), e.g. for adding metrics. */
const http_config *httpd_server_http_config(const httpd_server *s);

/* Begin a graceful shutdown (see the top comment). Idempotent. Threads: any. */
void httpd_server_shutdown(httpd_server *s);

/* Open connections right now. Threads: any. */
size_t httpd_server_active(const httpd_server *s);
/* Connections accepted since the start. */
uint64_t httpd_server_accepted(const httpd_server *s);

/**
 * httpd_server_idle_wait - a future for a task: READY once httpd_server_shutdown was called and
 * the last connection has gone. Caller-stored; init cannot fail; drop it if abandoned.
 */
typedef struct httpd_idle_wait {
    httpd_server *srv;
    weft_notify_wait wait;
    bool armed;
} httpd_idle_wait;
void httpd_idle_wait_init(httpd_idle_wait *w, httpd_server *s);
weft_poll httpd_idle_wait_poll(httpd_idle_wait *w, weft_cx *cx);
void httpd_idle_wait_drop(httpd_idle_wait *w);

/* Free the server (after weft_rt_free of its runtime). NULL ok. */
void httpd_server_free(httpd_server *s);

#ifdef __cplusplus
}
#endif
#endif
