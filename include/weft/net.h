/* weft/net.h - sockets: addresses, TCP, UDP, Unix stream and datagram sockets, name
 * resolution.
 *
 * Handles. A socket is a small heap handle created synchronously (socket, bind, listen are
 * immediate system calls): weft_tcp_listen, weft_udp_bind, weft_unix_listen... or produced by
 * a future (accept, connect). Stream sockets are weft_streams (io.h): every read/write
 * future and the buffered reader/writer work on them. Every descriptor is created
 * SOCK_CLOEXEC|SOCK_NONBLOCK (F10: a fork+exec child inherits none of them), and sends carry
 * MSG_NOSIGNAL (F2: a reset peer gives -EPIPE/-ECONNRESET, never SIGPIPE).
 *
 * Lifetime rule (docs/design/net.md). A handle is released with its _close function, which
 * may be called while operations are pending on it: they are kicked out of the kernel and
 * complete with -ECANCELED, and the descriptor is closed only after the last of them has
 * completed (the handle's memory lives as long as that), so an operation never runs on a
 * recycled fd number and a handle is never freed under an operation in flight. Close is the
 * owner's last call: futures started before it may still be polled or dropped; do not start
 * new ones. weft_stream_retain() adds an owner when two tasks share a stream.
 *
 * Futures follow io.h's shapes: opaque-by-size, `_init` cannot fail, `_poll`, `_drop` for a
 * future abandoned before READY, an absolute deadline (WEFT_NEVER = none) ending in
 * -ETIMEDOUT. Bad arguments make the first poll finish with -EINVAL.
 */
#ifndef WEFT_NET_H
#define WEFT_NET_H

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "base.h"
#include "io.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ addresses */

/* A socket address of any family weft speaks (IPv4, IPv6, Unix), with its length. A plain
 * value: copy it freely. */
typedef struct weft_sockaddr {
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        struct sockaddr_un un;
    } u;
    socklen_t len; /* bytes of u in use; 0 = no address */
} weft_sockaddr;

/**
 * weft_sockaddr_parse - parse a numeric "ip:port": "127.0.0.1:8080", "[::1]:443", "[::]:0".
 * No name lookup (see weft_resolve). Threads: any.
 * Returns 0; -EINVAL (NULL, malformed, port > 65535).
 */
WEFT_API int weft_sockaddr_parse(weft_sockaddr *out, const char *text);

/* An IPv4 or IPv6 address from a numeric ip string and a port. Returns 0 or -EINVAL. */
WEFT_API int weft_sockaddr_ip(weft_sockaddr *out, const char *ip, uint16_t port);

/* A Unix socket path (at most 107 bytes). A leading '@' names Linux's abstract namespace
 * ("@weft-test" -> "\0weft-test": no file is created). Returns 0 or -EINVAL (NULL, empty, too
 * long). */
WEFT_API int weft_sockaddr_unix(weft_sockaddr *out, const char *path);

/* Text form: "1.2.3.4:80", "[::1]:80", a Unix path ("@name" for abstract ones, "" for
 * unnamed). Writes at most len bytes including the NUL. Returns the length of the full text
 * (like snprintf: >= len means truncated), or -EINVAL (NULL, unknown family). */
WEFT_API int weft_sockaddr_format(const weft_sockaddr *a, char *buf, size_t len);

/* The port of an IPv4/IPv6 address (0..65535), or -EINVAL. */
WEFT_API int weft_sockaddr_port(const weft_sockaddr *a);

/* AF_INET, AF_INET6, AF_UNIX, or -EINVAL (NULL or empty). */
WEFT_API int weft_sockaddr_family(const weft_sockaddr *a);

/* ------------------------------------------------------------------ listeners and accept */

/* A listening socket (TCP or Unix). */
typedef struct weft_listener weft_listener;
typedef weft_listener weft_tcp_listener;
typedef weft_listener weft_unix_listener;
typedef weft_stream weft_tcp_stream;
typedef weft_stream weft_unix_stream;

/* Listen options; zero means default for every field. */
typedef struct weft_listen_opts {
    int backlog;    /* listen(2) backlog; 0 = 1024 */
    bool reuseport; /* SO_REUSEPORT: several listeners (processes, runtimes) share the port */
    bool v6only;    /* IPv6: do not also accept IPv4-mapped connections */
} weft_listen_opts;

/**
 * weft_tcp_listen - bind a TCP socket to addr (port 0 picks a free port: see
 * weft_listener_local_addr) with SO_REUSEADDR, and listen.
 * Ownership: the caller owns *out; release it with weft_listener_close().
 * Threads: any. Returns 0; -EINVAL (NULL out/addr, not IPv4/IPv6, bad backlog); -EADDRINUSE;
 * -EACCES; -EMFILE; -ENOMEM... *out is NULL on failure.
 */
WEFT_API int weft_tcp_listen(weft_tcp_listener **out, const weft_sockaddr *addr,
                             const weft_listen_opts *opts);

/**
 * weft_unix_listen - bind a Unix stream socket to `path` ('@' = abstract) and listen. The
 * socket file is not removed by close: unlink it yourself. opts: backlog only (NULL ok).
 * Threads: any. Returns 0; -EINVAL; -EADDRINUSE (the path exists); -EACCES; -EMFILE...
 */
WEFT_API int weft_unix_listen(weft_unix_listener **out, const char *path,
                              const weft_listen_opts *opts);

/* Close (see the lifetime rule): pending accepts complete with -ECANCELED. NULL ok.
 * Threads: any. */
WEFT_API void weft_listener_close(weft_listener *ln);
/* The bound address (the real port after port 0). Returns 0 or -EINVAL/-errno. */
WEFT_API int weft_listener_local_addr(const weft_listener *ln, weft_sockaddr *out);
/* The descriptor (still owned by the handle), or -EINVAL. */
WEFT_API int weft_listener_fd(const weft_listener *ln);
/* How many accepts met the descriptor or memory limit (EMFILE, ENFILE, ENOBUFS, ENOMEM).
 * 0 on NULL. Threads: any. */
WEFT_API uint64_t weft_listener_limit_hits(const weft_listener *ln);

/* The pause after an accept met the descriptor or memory limit (F1): accepting resumes this
 * long after the failure, so a full fd table does not turn the accept loop into a spin. */
#define WEFT_ACCEPT_LIMIT_PAUSE WEFT_MS(100)

/* An accept future. Opaque-by-size. */
typedef struct weft_accept {
    uint64_t _opaque[80];
} weft_accept;

/* Prepare to accept one connection on ln. Cannot fail. Threads: any. */
WEFT_API void weft_accept_init(weft_accept *f, weft_listener *ln, int64_t deadline);

/**
 * weft_accept_poll - wait for a connection.
 * On WEFT_READY *result (may be NULL) is 0 and *conn holds the new stream (the caller owns
 * it: weft_stream_close; its peer address is known: weft_stream_peer_addr), or *result is
 * -errno and *conn is NULL:
 *   -EMFILE / -ENFILE / -ENOBUFS / -ENOMEM: a limit was hit; the listener pauses for
 *     WEFT_ACCEPT_LIMIT_PAUSE (the next accept waits that long before trying), so looping on
 *     accept does not spin. Count it and keep accepting.
 *   -ETIMEDOUT, -ECANCELED (ln closed), -EINVAL (NULL ln/conn).
 * Transient failures (ECONNABORTED, EINTR, EAGAIN, EPERM from a firewall) are retried inside.
 * Threads: the owning task.
 */
WEFT_API weft_poll weft_accept_poll(weft_accept *f, weft_cx *cx, weft_stream **conn,
                                    int *result);
/* Cancel and forget; a connection accepted meanwhile is closed. Harmless when finished or
 * zero-filled; NULL ok. Cancellation: the cancellation path. */
WEFT_API void weft_accept_drop(weft_accept *f);

/* ------------------------------------------------------------------ connect */

/* A connect future (TCP or Unix). Opaque-by-size. */
typedef struct weft_connect {
    uint64_t _opaque[60];
} weft_connect;

/* Prepare a TCP connection to addr (IPv4/IPv6; copied). Cannot fail. Threads: any. */
WEFT_API void weft_tcp_connect_init(weft_connect *f, const weft_sockaddr *addr,
                                    int64_t deadline);
/* Prepare a Unix stream connection to path ('@' = abstract; copied). Cannot fail. */
WEFT_API void weft_unix_connect_init(weft_connect *f, const char *path, int64_t deadline);

/**
 * weft_connect_poll - create the socket and connect.
 * On WEFT_READY *result (may be NULL) is 0 and *conn holds the connected stream (the
 * caller's), or -errno with *conn NULL: -ECONNREFUSED, -ETIMEDOUT (the deadline passed: the
 * attempt is abandoned and its socket closed), -ENETUNREACH, -ENOENT (no such Unix path),
 * -EMFILE, -ENOMEM, -EINVAL (bad address or family, NULL conn).
 * Threads: the owning task.
 */
WEFT_API weft_poll weft_connect_poll(weft_connect *f, weft_cx *cx, weft_stream **conn,
                                     int *result);
/* Cancel and forget; the half-made socket is closed. Harmless when finished or zero-filled;
 * NULL ok. Cancellation: the cancellation path. */
WEFT_API void weft_connect_drop(weft_connect *f);

/* ------------------------------------------------------------------ stream sockets */

/* Shut down reading (SHUT_RD), writing (SHUT_WR: the peer reads end of stream) or both.
 * Returns 0, -ENOTCONN, -ENOTSOCK (not a socket stream), -EINVAL. Threads: any. */
WEFT_API int weft_stream_shutdown(weft_stream *s, int how);
/* The peer's address (recorded at accept/connect; getpeername otherwise). Returns 0,
 * -ENOTCONN, -ENOTSOCK, -EINVAL. */
WEFT_API int weft_stream_peer_addr(const weft_stream *s, weft_sockaddr *out);
/* The local address. Returns 0, -ENOTSOCK, -EINVAL. */
WEFT_API int weft_stream_local_addr(const weft_stream *s, weft_sockaddr *out);
/* TCP_NODELAY on or off (send small writes at once). Returns 0, -EOPNOTSUPP (not TCP),
 * -EINVAL. Threads: any. */
WEFT_API int weft_tcp_set_nodelay(weft_tcp_stream *s, bool on);
/* Read TCP_NODELAY: 1, 0, or -errno. */
WEFT_API int weft_tcp_nodelay(const weft_tcp_stream *s);
/* TCP_CORK on or off. While on, the kernel sends only full segments, so a response head and
 * the file body that follows it (weft_sendfile) leave in as few, as large, packets as
 * possible; turning it off sends what is held at once. Cork around a large body, not around
 * small replies (each call is a system call). Returns 0, -EOPNOTSUPP (not TCP), -EINVAL.
 * Threads: any. */
WEFT_API int weft_tcp_set_cork(weft_tcp_stream *s, bool on);
/* SO_KEEPALIVE: idle <= 0 turns probes off; otherwise on, first probe after `idle` ns of
 * silence (rounded up to seconds, at most 32767 s), then every `idle`/3 (at least 1 s), 5
 * probes. Returns 0, -EOPNOTSUPP (not TCP), -EINVAL. Threads: any. */
WEFT_API int weft_tcp_set_keepalive(weft_tcp_stream *s, int64_t idle);

/* Stream-socket spellings of weft_stream_close (same rule). */
static inline void weft_tcp_close(weft_tcp_stream *s) { weft_stream_close(s); }
static inline void weft_unix_close(weft_unix_stream *s) { weft_stream_close(s); }

/**
 * weft_unix_pair - a connected pair of Unix stream sockets (socketpair). Both are the
 * caller's. Threads: any. Returns 0; -EINVAL (NULL); -EMFILE; -ENOMEM. Both NULL on failure.
 */
WEFT_API int weft_unix_pair(weft_unix_stream **a, weft_unix_stream **b);

/* ------------------------------------------------------------------ datagram sockets */

/* A datagram socket: UDP or Unix datagram. */
typedef struct weft_dgram weft_dgram;
typedef weft_dgram weft_udp_socket;
typedef weft_dgram weft_unix_datagram;

/* UDP options; zero means default. */
typedef struct weft_udp_opts {
    bool reuseaddr; /* SO_REUSEADDR */
    bool reuseport; /* SO_REUSEPORT */
    bool broadcast; /* SO_BROADCAST */
    bool v6only;    /* IPV6_V6ONLY */
} weft_udp_opts;

/**
 * weft_udp_bind - a UDP socket bound to addr (port 0: any free port). opts may be NULL.
 * Ownership: the caller's; release with weft_dgram_close(). Threads: any.
 * Returns 0; -EINVAL; -EADDRINUSE; -EMFILE; -ENOMEM... *out NULL on failure.
 */
WEFT_API int weft_udp_bind(weft_udp_socket **out, const weft_sockaddr *addr,
                           const weft_udp_opts *opts);
/**
 * weft_unix_dgram_bind - a Unix datagram socket bound to path ('@' = abstract), or unbound
 * when path is NULL (it can send, and receive replies only on a connected pair). The file is
 * not removed by close. Threads: any. Returns 0; -EINVAL; -EADDRINUSE; -EMFILE; -ENOMEM.
 */
WEFT_API int weft_unix_dgram_bind(weft_unix_datagram **out, const char *path);
/* A connected pair of Unix datagram sockets. Returns 0, -EINVAL, -EMFILE, -ENOMEM. */
WEFT_API int weft_unix_dgram_pair(weft_unix_datagram **a, weft_unix_datagram **b);
/* Set the default destination (and the only accepted source) to addr; immediate for
 * datagrams. Returns 0, -EINVAL (NULL, family mismatch), -ECONNREFUSED, -ENOENT...
 * Threads: any. */
WEFT_API int weft_dgram_connect(weft_dgram *s, const weft_sockaddr *addr);
/* Close (see the lifetime rule): pending sends/receives complete with -ECANCELED. NULL ok. */
WEFT_API void weft_dgram_close(weft_dgram *s);
static inline void weft_udp_close(weft_udp_socket *s) { weft_dgram_close(s); }
/* The local address. Returns 0 or -errno. */
WEFT_API int weft_dgram_local_addr(const weft_dgram *s, weft_sockaddr *out);
/* The descriptor (owned by the handle), or -EINVAL. */
WEFT_API int weft_dgram_fd(const weft_dgram *s);

/* A datagram future (send_to, recv_from, send, recv). Opaque-by-size. */
typedef struct weft_send_to {
    uint64_t _opaque[72];
} weft_send_to;
typedef weft_send_to weft_recv_from;
typedef weft_send_to weft_dgram_send;
typedef weft_send_to weft_dgram_recv;

/**
 * weft_send_to_init - send one datagram of len bytes to `to` (copied). Result: len, or
 * -errno: -EMSGSIZE (too big for one datagram), -ECONNREFUSED (an earlier datagram bounced),
 * -EINVAL (NULL s, family mismatch), -ETIMEDOUT, -ECANCELED. Cannot fail. Threads: any.
 */
WEFT_API void weft_send_to_init(weft_send_to *f, weft_dgram *s, const void *buf, size_t len,
                                const weft_sockaddr *to, int64_t deadline);
WEFT_API weft_poll weft_send_to_poll(weft_send_to *f, weft_cx *cx, ssize_t *result);
WEFT_API void weft_send_to_drop(weft_send_to *f);

/**
 * weft_recv_from_init - receive one datagram into buf[0..len) (a longer datagram is truncated
 * to len: the rest is lost, and weft_recv_from_truncated() says so); *from (may be NULL)
 * receives the sender's address at READY. Result: the bytes stored, or -errno: -ETIMEDOUT,
 * -ECANCELED, -ECONNREFUSED (connected UDP: the peer is not listening), -EINVAL.
 * Cannot fail. Threads: any.
 */
WEFT_API void weft_recv_from_init(weft_recv_from *f, weft_dgram *s, void *buf, size_t len,
                                  weft_sockaddr *from, int64_t deadline);
WEFT_API weft_poll weft_recv_from_poll(weft_recv_from *f, weft_cx *cx, ssize_t *result);
WEFT_API void weft_recv_from_drop(weft_recv_from *f);
/* True when the datagram received was longer than the buffer. */
WEFT_API bool weft_recv_from_truncated(const weft_recv_from *f);

/* Send on / receive from a connected datagram socket (weft_dgram_connect or a pair).
 * Same results as weft_send_to / weft_recv_from (-EDESTADDRREQ: not connected). */
WEFT_API void weft_dgram_send_init(weft_dgram_send *f, weft_dgram *s, const void *buf,
                                   size_t len, int64_t deadline);
WEFT_API weft_poll weft_dgram_send_poll(weft_dgram_send *f, weft_cx *cx, ssize_t *result);
WEFT_API void weft_dgram_send_drop(weft_dgram_send *f);
WEFT_API void weft_dgram_recv_init(weft_dgram_recv *f, weft_dgram *s, void *buf, size_t len,
                                   int64_t deadline);
WEFT_API weft_poll weft_dgram_recv_poll(weft_dgram_recv *f, weft_cx *cx, ssize_t *result);
WEFT_API void weft_dgram_recv_drop(weft_dgram_recv *f);

/* ------------------------------------------------------------------ name resolution */

/* A name-resolution future (getaddrinfo on the blocking pool's DNS lane). Opaque-by-size. */
typedef struct weft_resolve {
    uint64_t _opaque[16];
} weft_resolve;

/**
 * weft_resolve_init - look up host (a name or a numeric address; NULL = the wildcard/loopback
 * per getaddrinfo) and service (a port number or a service name; NULL = port 0) for stream
 * sockets of `family` (AF_UNSPEC, AF_INET or AF_INET6), storing up to max addresses in
 * out[0..max). host and service are copied at the first poll; they must stay valid until it.
 * Cannot fail. Threads: any.
 */
WEFT_API void weft_resolve_init(weft_resolve *f, const char *host, const char *service,
                                int family, weft_sockaddr *out, size_t max);
/**
 * weft_resolve_poll - on WEFT_READY *result is the number of addresses stored (>= 1), or
 * -errno: -ENOENT (no such name or service), -EAGAIN (temporary DNS failure), -ENOMEM,
 * -EINVAL (NULL, max 0, bad family, both host and service NULL, no runtime), -EIO (any other
 * resolver failure), -ECANCELED (the runtime shut down). The addresses are in out.
 * Threads: the owning task.
 */
WEFT_API weft_poll weft_resolve_poll(weft_resolve *f, weft_cx *cx, int *result);
/* Abandon a lookup: the blocking job finishes on its own and frees what it used (out is
 * never written after the drop). Harmless when finished or zero-filled; NULL ok. */
WEFT_API void weft_resolve_drop(weft_resolve *f);

#ifdef __cplusplus
}
#endif
#endif
