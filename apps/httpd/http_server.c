/* apps/httpd/http_server.c - listeners, accept tasks and connection tasks. See
 * http_server.h for the model.
 *
 * Connection registry: every connection task puts an entry (a clone of its own waker, and
 * two flags) on the server's list at its first poll and takes it off in its drop: two lock
 * operations per connection, none per request. The list lets shutdown wake every connection,
 * and lets an accept task at the connection cap ask the oldest idle one to leave (F3: idle
 * keep-alive connections are reclaimed first).
 *
 * A connection task's IO future is one of read / writev / sendfile at a time (a union).
 * Reads into the engine's landing pad are always safe to abandon (the pad lives in the task's
 * state); a task dropped with an operation on a heap buffer in flight forgets that buffer
 * instead of freeing it (http_conn_forget_buffers).
 */
#include "http_server.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

struct reg_entry {
    struct reg_entry *prev, *next;
    weft_waker waker;    /* the connection task's, cloned at its first poll */
    _Atomic bool idle;   /* waiting for the next request, holding no request bytes */
    _Atomic bool kicked; /* asked to close if idle (reclaim at the cap) */
};

struct httpd_server {
    weft_rt *rt;
    httpd_server_cfg cfg;
    http_config http; /* the connections' config (limits filled in) */
    weft_listener **lns;
    unsigned nlns;
    weft_join **accept_joins;
    weft_semaphore *sem;
    weft_notify *idle_notify; /* notified when draining and the last connection ends */
    _Atomic bool draining;
    _Atomic size_t active;
    _Atomic uint64_t accepted;
    pthread_mutex_t lock;  /* guards the registry */
    struct reg_entry head; /* sentinel; oldest connection first */
    int port;
};

/* ------------------------------------------------------------------ registry */

static void reg_add(httpd_server *s, struct reg_entry *e, weft_cx *cx)
{
    weft_waker_clone(weft_cx_waker(cx), &e->waker);
    pthread_mutex_lock(&s->lock);
    e->prev = s->head.prev;
    e->next = &s->head;
    s->head.prev->next = e;
    s->head.prev = e;
    pthread_mutex_unlock(&s->lock);
}

/* Neighbours write our links when they come and go: read them under the lock only. The
 * caller says whether e was ever added (a task dropped before its first poll was not). */
static void reg_remove(httpd_server *s, struct reg_entry *e, bool added)
{
    if (!added)
        return;
    pthread_mutex_lock(&s->lock);
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->next = e->prev = NULL;
    pthread_mutex_unlock(&s->lock);
    weft_waker_drop(&e->waker);
}

/* Wake every connection (shutdown). */
static void reg_wake_all(httpd_server *s)
{
    pthread_mutex_lock(&s->lock);
    for (struct reg_entry *e = s->head.next; e != &s->head; e = e->next)
        weft_waker_wake_by_ref(&e->waker);
    pthread_mutex_unlock(&s->lock);
}

/* Ask the longest-connected idle connection to close. Returns true if one was asked. */
static bool reg_reclaim_one(httpd_server *s)
{
    bool found = false;
    pthread_mutex_lock(&s->lock);
    for (struct reg_entry *e = s->head.next; e != &s->head; e = e->next) {
        if (atomic_load_explicit(&e->idle, memory_order_acquire) &&
            !atomic_exchange_explicit(&e->kicked, true, memory_order_acq_rel)) {
            weft_waker_wake_by_ref(&e->waker);
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

/* ------------------------------------------------------------------ connection task */

enum { OP_NONE = 0, OP_READ, OP_WRITE, OP_SENDFILE, OP_LINGER };
enum { NIOV = 16 };

struct conn_task {
    httpd_server *srv;
    weft_stream *sock;  /* owned: closed by conn_drop */
    weft_permit permit; /* owned: released by conn_drop */
    struct reg_entry reg;
    uint8_t op; /* the IO future in flight (OP_*) */
    bool registered;
    bool op_on_heap; /* the op in flight uses a heap buffer */
    bool corked;     /* TCP_CORK is on: a large file body is on its way */
    uint32_t linger_bytes;
    int64_t linger_deadline;
    size_t file_len; /* length asked of the sendfile in flight */
    union {
        weft_read_some rd;
        weft_writev wv;
        weft_sendfile sf;
    } io;
    struct iovec iov[NIOV];
    http_conn c; /* the engine, with its landing pad */
};

static void conn_gone(httpd_server *s)
{
    size_t left = atomic_fetch_sub_explicit(&s->active, 1, memory_order_acq_rel) - 1;
    if (left == 0 && atomic_load_explicit(&s->draining, memory_order_acquire))
        weft_notify_waiters(s->idle_notify);
}

static void conn_drop(void *state)
{
    struct conn_task *t = state;
    switch (t->op) {
    case OP_READ:
    case OP_LINGER:
        weft_read_some_drop(&t->io.rd);
        break;
    case OP_WRITE:
        weft_writev_drop(&t->io.wv);
        break;
    case OP_SENDFILE:
        weft_sendfile_drop(&t->io.sf);
        break;
    default:
        break;
    }
    if (t->op != OP_NONE && t->op_on_heap)
        http_conn_forget_buffers(&t->c);
    http_conn_free(&t->c);
    reg_remove(t->srv, &t->reg, t->registered);
    weft_stream_close(t->sock);
    weft_permit_release(&t->permit);
    conn_gone(t->srv);
}

static bool should_close_idle(struct conn_task *t)
{
    httpd_server *s = t->srv;
    return (atomic_load_explicit(&s->draining, memory_order_relaxed) ||
            atomic_load_explicit(&t->reg.kicked, memory_order_relaxed)) &&
           http_conn_is_idle(&t->c);
}

/* File bodies from this size up are sent corked (smaller ones are one writev anyway). */
#define CORK_MIN_BYTES (64 * 1024)

static void set_cork(struct conn_task *t, bool on)
{
    if (t->corked != on && weft_tcp_set_cork(t->sock, on) == 0)
        t->corked = on;
}

static weft_poll conn_poll(void *state, weft_cx *cx, void *out)
{
    struct conn_task *t = state;
    httpd_server *s = t->srv;
    http_conn *c = &t->c;
    (void)out;

    if (!t->registered) {
        char peer[sizeof c->peer];
        memcpy(peer, c->peer, sizeof peer);
        http_conn_init(c, &s->http);
        http_conn_set_peer(c, peer);
        t->registered = true;
        reg_add(s, &t->reg, cx);
    }
    for (;;) {
        ssize_t n;
        switch (t->op) {
        case OP_READ:
            if (weft_read_some_poll(&t->io.rd, cx, &n) == WEFT_PENDING) {
                if (should_close_idle(t)) {
                    weft_read_some_drop(&t->io.rd); /* the pad is ours: safe to abandon */
                    t->op = OP_NONE;
                    return WEFT_READY;
                }
                return WEFT_PENDING;
            }
            t->op = OP_NONE;
            atomic_store_explicit(&t->reg.idle, false, memory_order_relaxed);
            if (n == -ETIMEDOUT)
                http_conn_timed_out(c);
            else
                http_conn_read_done(c, n);
            break;
        case OP_WRITE:
            if (weft_writev_poll(&t->io.wv, cx, &n) == WEFT_PENDING)
                return WEFT_PENDING;
            t->op = OP_NONE;
            http_conn_out_done(c, n);
            break;
        case OP_SENDFILE:
            if (weft_sendfile_poll(&t->io.sf, cx, &n) == WEFT_PENDING)
                return WEFT_PENDING;
            t->op = OP_NONE;
            if (n >= 0 && (size_t)n < t->file_len) {
                http_conn_out_done(c, n);
                n = -EIO; /* the file shrank: the promised length cannot be kept */
            }
            http_conn_out_done(c, n);
            break;
        case OP_LINGER:
            if (weft_read_some_poll(&t->io.rd, cx, &n) == WEFT_PENDING)
                return WEFT_PENDING;
            t->op = OP_NONE;
            t->linger_bytes += n > 0 ? (uint32_t)n : 0;
            if (n <= 0 || t->linger_bytes > 256 * 1024 || weft_now() >= t->linger_deadline)
                return WEFT_READY;
            weft_read_some_init(&t->io.rd, t->sock, c->pad, sizeof c->pad, t->linger_deadline);
            t->op = OP_LINGER;
            continue;
        default:
            break;
        }

        enum http_next next = http_conn_step(c, cx);
        /* Cork while a large file body is queued (nginx's tcp_nopush): its head and data
         * leave in full segments instead of one small packet per write. On loopback that
         * halves the receiver's work per byte (docs/design/net.md, "Corking"). */
        set_cork(t, next == HTTP_NEXT_WRITE && http_conn_out_has_file(c, CORK_MIN_BYTES));
        switch (next) {
        case HTTP_NEXT_READ: {
            if (should_close_idle(t))
                return WEFT_READY;
            size_t room;
            char *buf = http_conn_read_buf(c, &room);
            if (!buf)
                return WEFT_READY; /* out of memory: drop the connection */
            bool idle = http_conn_is_idle(c);
            atomic_store_explicit(&t->reg.idle, idle, memory_order_release);
            t->op_on_heap = buf < c->pad || buf >= c->pad + sizeof c->pad;
            weft_read_some_init(&t->io.rd, t->sock, buf, room, http_conn_deadline(c));
            t->op = OP_READ;
            break;
        }
        case HTTP_NEXT_WRITE: {
            http_file_seg f;
            int k = http_conn_out_iov(c, t->iov, NIOV, &f);
            int64_t dl = http_conn_send_deadline(c);
            t->op_on_heap = true;
            if (k > 0) {
                weft_writev_init(&t->io.wv, t->sock, t->iov, k, dl);
                t->op = OP_WRITE;
            } else {
                t->file_len = f.len;
                weft_sendfile_init(&t->io.sf, t->sock, f.fd, f.off, f.len, dl);
                t->op = OP_SENDFILE;
            }
            break;
        }
        case HTTP_NEXT_WAIT:
            return WEFT_PENDING;
        case HTTP_NEXT_CLOSE:
        default:
            if (!http_conn_wants_linger(c) || s->cfg.linger_time <= 0)
                return WEFT_READY;
            /* An error response went out and the client may still be sending: stop our side
             * and read what comes for a while, so the response is not lost to a reset. */
            weft_stream_shutdown(t->sock, SHUT_WR);
            t->linger_deadline = weft_deadline_in(s->cfg.linger_time);
            t->op_on_heap = false;
            weft_read_some_init(&t->io.rd, t->sock, c->pad, sizeof c->pad, t->linger_deadline);
            t->op = OP_LINGER;
            break;
        }
    }
}

static const weft_future_type conn_type = {
    .name = "http-conn",
    .poll = conn_poll,
    .drop = conn_drop,
    .state_size = sizeof(struct conn_task),
};

/* ------------------------------------------------------------------ accept task */

struct accept_task {
    httpd_server *srv;
    weft_listener *ln;
    WEFT_ASYNC_STATE;
    weft_semaphore_acquire acq;
    weft_accept acc;
    weft_permit permit;
    weft_stream *conn;
    int err;
};

static void start_conn(httpd_server *s, weft_stream *sock, weft_permit *permit)
{
    /* weft_spawn copies the initial state: build it in a per-thread template. The engine
     * holds pointers to itself, so it is initialised at the task's first poll, in place. */
    static __thread struct conn_task init;
    memset(&init, 0, sizeof init);
    weft_tcp_set_nodelay(sock, true);
    init.srv = s;
    init.sock = sock;
    init.permit = *permit;
    if (s->cfg.peer_names) {
        weft_sockaddr pa;
        if (weft_stream_peer_addr(sock, &pa) == 0)
            weft_sockaddr_format(&pa, init.c.peer, sizeof init.c.peer);
    }
    memset(permit, 0, sizeof *permit); /* the task owns it now */
    atomic_fetch_add_explicit(&s->active, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->accepted, 1, memory_order_relaxed);
    if (weft_spawn(s->rt, &conn_type, &init, NULL) < 0) {
        weft_stream_close(sock);
        weft_permit_release(&init.permit);
        conn_gone(s);
    }
}

static weft_poll accept_poll(void *state, weft_cx *cx, void *out)
{
    struct accept_task *a = state;
    httpd_server *s = a->srv;
    (void)out;

    WEFT_ASYNC_BEGIN(a);
    for (;;) {
        if (atomic_load_explicit(&s->draining, memory_order_acquire))
            break;
        /* A permit first: at the cap, new connections wait in the kernel's backlog. */
        if (weft_semaphore_try_acquire(s->sem, &a->permit) < 0) {
            reg_reclaim_one(s);
            weft_semaphore_acquire_init(&a->acq, s->sem);
            WEFT_AWAIT(a, weft_semaphore_acquire_poll(&a->acq, cx, &a->permit, &a->err));
            if (a->err < 0)
                break; /* closed: shutting down */
        }
        weft_accept_init(&a->acc, a->ln, WEFT_NEVER);
        WEFT_AWAIT(a, weft_accept_poll(&a->acc, cx, &a->conn, &a->err));
        if (a->err < 0) {
            weft_permit_release(&a->permit);
            if (a->err == -ECANCELED || a->err == -EINVAL)
                break; /* the listener was closed */
            continue;  /* EMFILE and friends: the listener pauses itself (F1) */
        }
        start_conn(s, a->conn, &a->permit);
        a->conn = NULL;
    }
    WEFT_ASYNC_END(a);
}

static void accept_drop(void *state)
{
    struct accept_task *a = state;
    weft_semaphore_acquire_drop(&a->acq);
    weft_accept_drop(&a->acc);
    weft_permit_release(&a->permit);
    if (a->conn)
        weft_stream_close(a->conn);
    weft_listener_close(a->ln); /* the task owns its listener: new clients are refused */
}

static const weft_future_type accept_type = {
    .name = "http-accept",
    .poll = accept_poll,
    .drop = accept_drop,
    .state_size = sizeof(struct accept_task),
};

/* ------------------------------------------------------------------ server */

int httpd_server_new(httpd_server **out, weft_rt *rt, const httpd_server_cfg *cfg)
{
    if (!out || !rt || !cfg)
        return -EINVAL;
    *out = NULL;
    httpd_server *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->rt = rt;
    s->cfg = *cfg;
    if (!s->cfg.max_conns)
        s->cfg.max_conns = 10000;
    if (!s->cfg.backlog)
        s->cfg.backlog = 4096;
    if (!s->cfg.linger_time)
        s->cfg.linger_time = WEFT_SEC(2);
    if (!s->cfg.listeners)
        s->cfg.listeners = weft_rt_workers(rt);
    if (s->cfg.listeners > 64)
        s->cfg.listeners = 64;
    s->http = cfg->http;
    http_config_defaults(&s->http);
    s->http.draining = &s->draining;
    s->head.next = s->head.prev = &s->head;
    pthread_mutex_init(&s->lock, NULL);
    int err = weft_semaphore_new(&s->sem, s->cfg.max_conns);
    if (!err)
        err = weft_notify_new(&s->idle_notify);
    s->lns = calloc(s->cfg.listeners, sizeof *s->lns);
    s->accept_joins = calloc(s->cfg.listeners, sizeof *s->accept_joins);
    if (!err && (!s->lns || !s->accept_joins))
        err = -ENOMEM;
    weft_sockaddr addr = s->cfg.addr;
    for (unsigned i = 0; !err && i < s->cfg.listeners; i++) {
        weft_listen_opts lo = {.backlog = s->cfg.backlog, .reuseport = s->cfg.listeners > 1};
        err = weft_tcp_listen(&s->lns[i], &addr, &lo);
        if (!err && i == 0) {
            weft_sockaddr bound;
            if (weft_listener_local_addr(s->lns[0], &bound) == 0) {
                addr = bound; /* port 0: the others join the port the first one got */
                s->port = weft_sockaddr_port(&bound);
            }
        }
        if (!err)
            s->nlns = i + 1;
    }
    if (err) {
        httpd_server_free(s);
        return err;
    }
    *out = s;
    return 0;
}

int httpd_server_start(httpd_server *s)
{
    for (unsigned i = 0; i < s->nlns; i++) {
        struct accept_task init = {.srv = s, .ln = s->lns[i]};
        int err = weft_spawn(s->rt, &accept_type, &init, &s->accept_joins[i]);
        if (err < 0)
            return err;
        s->lns[i] = NULL; /* the task owns it now */
    }
    return 0;
}

int httpd_server_port(const httpd_server *s)
{
    return s->port;
}
const http_config *httpd_server_http_config(const httpd_server *s)
{
    return &s->http;
}

void httpd_server_shutdown(httpd_server *s)
{
    if (atomic_exchange_explicit(&s->draining, true, memory_order_acq_rel))
        return;
    for (unsigned i = 0; i < s->nlns; i++) {
        if (s->accept_joins[i]) { /* stops waiting in accept or for a permit; its drop closes
                                     the listener */
            weft_join_abort(s->accept_joins[i]);
            weft_join_detach(s->accept_joins[i]);
            s->accept_joins[i] = NULL;
        }
    }
    weft_semaphore_close(s->sem);
    reg_wake_all(s);
    if (atomic_load_explicit(&s->active, memory_order_acquire) == 0)
        weft_notify_waiters(s->idle_notify);
}

size_t httpd_server_active(const httpd_server *s)
{
    return atomic_load_explicit(&s->active, memory_order_relaxed);
}

uint64_t httpd_server_accepted(const httpd_server *s)
{
    return atomic_load_explicit(&s->accepted, memory_order_relaxed);
}

void httpd_idle_wait_init(httpd_idle_wait *w, httpd_server *s)
{
    memset(w, 0, sizeof *w);
    w->srv = s;
}

weft_poll httpd_idle_wait_poll(httpd_idle_wait *w, weft_cx *cx)
{
    httpd_server *s = w->srv;
    for (;;) {
        if (!w->armed) {
            weft_notify_wait_init(&w->wait, s->idle_notify); /* before the check: no lost wake */
            w->armed = true;
        }
        if (atomic_load_explicit(&s->draining, memory_order_acquire) &&
            atomic_load_explicit(&s->active, memory_order_acquire) == 0) {
            weft_notify_wait_drop(&w->wait);
            w->armed = false;
            return WEFT_READY;
        }
        if (weft_notify_wait_poll(&w->wait, cx) == WEFT_PENDING)
            return WEFT_PENDING;
        w->armed = false; /* notified: check again */
    }
}

void httpd_idle_wait_drop(httpd_idle_wait *w)
{
    if (w->armed)
        weft_notify_wait_drop(&w->wait);
    w->armed = false;
}

void httpd_server_free(httpd_server *s)
{
    if (!s)
        return;
    /* Listeners handed to accept tasks were closed by their drops (weft_rt_free runs them);
     * the join handles died with the runtime. */
    for (unsigned i = 0; s->lns && i < s->nlns; i++)
        weft_listener_close(s->lns[i]);
    free(s->lns);
    free(s->accept_joins);
    weft_notify_free(s->idle_notify);
    weft_semaphore_free(s->sem);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
