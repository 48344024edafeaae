/* Name resolution (weft_resolve): getaddrinfo(3) on the blocking pool's DNS lane, so a slow
 * resolver never holds a worker and 1,000 stalled lookups cannot starve file work.
 *
 * The request block is shared by the future and the job, with two references. The job drops
 * its own when it has run; the future drops its own at READY or at drop. A lookup abandoned
 * by a drop still runs to the end on its pool thread (getaddrinfo cannot be interrupted) but
 * skips the lookup if it has not started yet, and frees the block if it is the last holder.
 * The caller's `out` array is only ever written by the future's poll, never by the job, so
 * it may go away right after the drop.
 */
#include <netdb.h>

#include "io/sock.h"
#include "weft/blocking.h"

struct req {
    _Atomic int refs;       /* future + job */
    _Atomic int started;    /* the job function has been entered */
    _Atomic int abandoned;  /* the future was dropped */
    int family;
    int err;                /* written by the job */
    size_t n, max;          /* addresses found / room */
    char *host, *service;   /* copies, inside this block (NULL allowed) */
    weft_sockaddr addrs[];  /* max entries */
};

static void req_release(struct req *r)
{
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
        weft__free(r);
}

static int map_gai(int e)
{
    switch (e) {
    case 0:
        return 0;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
    case EAI_SERVICE:
        return -ENOENT;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_FAMILY:
    case EAI_SOCKTYPE:
    case EAI_BADFLAGS:
        return -EINVAL;
    case EAI_SYSTEM:
        return errno ? -errno : -EIO;
    default:
        return -EIO;
    }
}

static void *resolve_job(void *arg)
{
    struct req *r = arg;
    st_release(&r->started, 1);
    if (!ld_acquire(&r->abandoned)) {
        struct addrinfo hints = {.ai_family = r->family, .ai_socktype = SOCK_STREAM}, *res;
        int e = getaddrinfo(r->host, r->service, &hints, &res);
        r->err = map_gai(e);
        if (e == 0) {
            for (struct addrinfo *a = res; a && r->n < r->max; a = a->ai_next) {
                if (a->ai_addrlen > sizeof r->addrs[0].u)
                    continue;
                memset(&r->addrs[r->n], 0, sizeof r->addrs[0]);
                memcpy(&r->addrs[r->n].u, a->ai_addr, a->ai_addrlen);
                r->addrs[r->n].len = a->ai_addrlen;
                r->n++;
            }
            freeaddrinfo(res);
            if (r->n == 0)
                r->err = -ENOENT;
        }
    }
    req_release(r);
    return NULL;
}

struct rfut {
    const char *host, *service;
    weft_sockaddr *out;
    size_t max;
    struct req *req;
    weft_join *join;
    int family;
    uint8_t inited;
    uint8_t finished;
};
WEFT__IMPL(weft_resolve, struct rfut);

void weft_resolve_init(weft_resolve *pub, const char *host, const char *service, int family,
                       weft_sockaddr *out, size_t max)
{
    struct rfut *f = (struct rfut *)pub;
    memset(pub, 0, sizeof *pub);
    f->host = host;
    f->service = service;
    f->family = family;
    f->out = out;
    f->max = max;
    f->inited = 1;
}

static weft_poll rs_finish(struct rfut *f, int *result, int r)
{
    if (f->req) {
        req_release(f->req);
        f->req = NULL;
    }
    f->join = NULL;
    f->finished = 1;
    *result = r;
    return WEFT_READY;
}

static char *copy_in(char **p, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = memcpy(*p, s, n);
    *p += n;
    return d;
}

weft_poll weft_resolve_poll(weft_resolve *pub, weft_cx *cx, int *result)
{
    struct rfut *f = (struct rfut *)pub;
    int dummy, err;

    if (!result)
        result = &dummy;
    if (!pub) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    if (!f->inited || f->finished || !cx)
        return rs_finish(f, result, -EINVAL);
    if (!f->join) {
        if (!f->out || f->max == 0 || (!f->host && !f->service) || !cx->rt ||
            (f->family != AF_UNSPEC && f->family != AF_INET && f->family != AF_INET6) ||
            f->max > (1u << 20))
            return rs_finish(f, result, -EINVAL);
        size_t hl = f->host ? strlen(f->host) + 1 : 0, sl = f->service ? strlen(f->service) + 1 : 0;
        size_t size = sizeof(struct req) + f->max * sizeof(weft_sockaddr) + hl + sl;
        struct req *r = weft__alloc(size);
        if (!r)
            return rs_finish(f, result, -ENOMEM);
        atomic_init(&r->refs, 2);
        atomic_init(&r->started, 0);
        atomic_init(&r->abandoned, 0);
        r->family = f->family;
        r->err = -EIO;
        r->n = 0;
        r->max = f->max;
        char *p = (char *)&r->addrs[f->max];
        r->host = copy_in(&p, f->host);
        r->service = copy_in(&p, f->service);
        f->req = r;
        err = weft_spawn_blocking_on(cx->rt, WEFT_LANE_DNS, resolve_job, r, &f->join);
        if (err < 0) {
            atomic_store(&r->refs, 1); /* the job will never hold its reference */
            return rs_finish(f, result, err);
        }
    }
    if (weft_join_poll(f->join, cx, NULL, 0, &err) == WEFT_PENDING)
        return WEFT_PENDING;
    struct req *r = f->req;
    if (err < 0) {
        /* Cancelled by shutdown. A job that never started never will: drop its reference
         * for it. One that started releases its own. */
        if (!ld_acquire(&r->started))
            req_release(r);
        return rs_finish(f, result, err);
    }
    if (r->err < 0)
        return rs_finish(f, result, r->err);
    memcpy(f->out, r->addrs, r->n * sizeof r->addrs[0]);
    return rs_finish(f, result, (int)r->n);
}

void weft_resolve_drop(weft_resolve *pub)
{
    if (!pub)
        return;
    struct rfut *f = (struct rfut *)pub;
    if (f->join && !f->finished) {
        st_release(&f->req->abandoned, 1);
        weft_join_detach(f->join); /* the job runs on (or skips) and drops its reference */
        req_release(f->req);
        f->req = NULL;
        f->join = NULL;
    }
    f->finished = 1;
}
