/* apps/httpd/files.c - the static-file handler and its per-thread open-file cache.
 * See files.h for the rules. The handler never waits: a cache hit costs no system call; a
 * miss or a revalidation costs an openat2 and an fstat on the worker (a metadata lookup in
 * the page cache, microseconds). */
#include "files.h"
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

struct httpd_files {
    int root_fd;
    httpd_files_cfg cfg;
    uint64_t id; /* tells the per-thread caches of two roots apart */
};

/* ------------------------------------------------------------------ cache entries */

struct fentry {
    _Atomic int refs;             /* the cache's own reference + one per response using it */
    struct fentry *hnext;         /* hash chain (owning thread only) */
    struct fentry *lprev, *lnext; /* LRU list (owning thread only) */
    uint64_t hash;
    uint64_t owner; /* httpd_files id */
    int fd;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    int64_t checked; /* weft_now() of the last validation */
    const char *mime;
    char *data; /* contents for small files, else NULL */
    char etag[40];
    char lastmod[32];
    char hdrs[200]; /* Content-Type, Last-Modified, ETag, Accept-Ranges lines */
    uint16_t hdrs_len;
    uint16_t klen;
    char key[]; /* the normalised path + (dir? "/") */
};

enum { NBUCKET = 2048 };

static __thread struct fcache {
    struct fentry *buckets[NBUCKET];
    struct fentry *lru_head, *lru_tail; /* head = most recent */
    uint32_t count;
} * tcache;

static _Atomic uint64_t next_files_id = 1;

static void fentry_release(void *arg)
{
    struct fentry *e = arg;
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) {
        if (e->fd >= 0)
            close(e->fd);
        free(e->data);
        free(e);
    }
}

static uint64_t hash_key(const char *k, size_t n, uint64_t owner)
{
    uint64_t h = 1469598103934665603ull ^ owner;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
    return h;
}

static struct fcache *cache_here(void)
{
    if (!tcache)
        tcache = calloc(1, sizeof *tcache);
    return tcache;
}

static void lru_unlink(struct fcache *c, struct fentry *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        c->lru_head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        c->lru_tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

static void lru_push(struct fcache *c, struct fentry *e)
{
    e->lprev = NULL;
    e->lnext = c->lru_head;
    if (c->lru_head)
        c->lru_head->lprev = e;
    c->lru_head = e;
    if (!c->lru_tail)
        c->lru_tail = e;
}

static void cache_remove(struct fcache *c, struct fentry *e)
{
    struct fentry **pp = &c->buckets[e->hash % NBUCKET];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    lru_unlink(c, e);
    c->count--;
    fentry_release(e);
}

void httpd_files_thread_flush(void)
{
    struct fcache *c = tcache;
    if (!c)
        return;
    while (c->lru_head)
        cache_remove(c, c->lru_head);
    free(c);
    tcache = NULL;
}

/* ------------------------------------------------------------------ opening beneath the root */

static int open_beneath(const httpd_files *f, int dirfd, const char *rel, int flags)
{
    if (rel[0] == '\0')
        rel = ".";
    if (f->cfg.allow_symlink_escape)
        return openat(dirfd, rel, flags | O_CLOEXEC | O_NOCTTY);
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC | O_NOCTTY),
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
    if (fd < 0 && errno == ENOSYS) {
        /* Kernels before 5.6: refuse every symlink on the way (O_NOFOLLOW per component). */
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", rel);
        int cur = dup(dirfd);
        char *save = NULL;
        for (char *seg = strtok_r(buf, "/", &save); seg && cur >= 0;
             seg = strtok_r(NULL, "/", &save)) {
            bool lastseg = save == NULL || *save == '\0';
            int nfd =
                openat(cur, seg, (lastseg ? flags : O_PATH | O_DIRECTORY) | O_NOFOLLOW | O_CLOEXEC);
            close(cur);
            cur = nfd;
        }
        return cur;
    }
    return (int)fd;
}

/* Open the file (or a directory's index.html) for a normalised path and build an entry. */
static int build_entry(const httpd_files *f, const char *rel, bool want_dir, struct fentry **out,
                       bool *is_dir)
{
    *is_dir = false;
    int fd = open_beneath(f, f->root_fd, rel, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    const char *name = rel;
    char idx[4200];
    if (S_ISDIR(st.st_mode)) {
        if (!want_dir) {
            close(fd);
            *is_dir = true;
            return -EISDIR; /* redirect to the path with a slash */
        }
        int ifd = open_beneath(f, fd, "index.html", O_RDONLY | O_NONBLOCK);
        if (ifd < 0) {
            int e = errno;
            *is_dir = true;
            if (e == ENOENT && f->cfg.autoindex) {
                *out = NULL;
                return fd; /* the caller lists it and closes fd */
            }
            close(fd);
            return e == ENOENT ? -EACCES : -e;
        }
        close(fd);
        fd = ifd;
        if (fstat(fd, &st) < 0) {
            int e = -errno;
            close(fd);
            return e;
        }
        snprintf(idx, sizeof idx, "%s/index.html", rel);
        name = idx;
    } else if (want_dir) {
        close(fd);
        return -ENOTDIR; /* "/file.txt/" */
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return -EACCES;
    }
    size_t klen = strlen(rel) + (want_dir ? 1 : 0);
    struct fentry *e = calloc(1, sizeof *e + klen + 1);
    if (!e) {
        close(fd);
        return -ENOMEM;
    }
    atomic_init(&e->refs, 1);
    e->fd = fd;
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    e->size = st.st_size;
    e->mtime = st.st_mtim;
    e->mime = httpd_mime_type(name, strlen(name));
    snprintf(e->etag, sizeof e->etag, "\"%llx-%llx\"", (unsigned long long)st.st_mtim.tv_sec,
             (unsigned long long)st.st_size);
    httpd_http_date(st.st_mtim.tv_sec, e->lastmod);
    int hl =
        snprintf(e->hdrs, sizeof e->hdrs,
                 "Content-Type: %s\r\nLast-Modified: %s\r\nETag: %s\r\nAccept-Ranges: bytes\r\n",
                 e->mime, e->lastmod, e->etag);
    e->hdrs_len = hl > 0 && (size_t)hl < sizeof e->hdrs ? (uint16_t)hl : 0;
    e->klen = (uint16_t)klen;
    memcpy(e->key, rel, strlen(rel));
    if (want_dir)
        e->key[klen - 1] = '/';
    if (st.st_size > 0 && (uint64_t)st.st_size <= f->cfg.small_file_max) {
        e->data = malloc((size_t)st.st_size);
        if (e->data && pread(fd, e->data, (size_t)st.st_size, 0) != st.st_size) {
            free(e->data);
            e->data = NULL;
        }
    }
    *out = e;
    return 0;
}

static bool same_file(const struct fentry *a, const struct fentry *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Look a path up; returns a referenced entry, NULL with *err (negative errno, or a directory
 * fd >= 0 to list when autoindex). */
static struct fentry *lookup(const httpd_files *f, const char *rel, bool dir, int *err,
                             bool *is_dir)
{
    struct fcache *c = cache_here();
    size_t rl = strlen(rel);
    size_t klen = rl + (dir ? 1 : 0);
    char key[4200];
    memcpy(key, rel, rl);
    if (dir)
        key[rl] = '/';
    uint64_t h = hash_key(key, klen, f->id);
    struct timespec ts; /* the coarse clock: revalidation is once a second, no need for ns */
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    *is_dir = false;
    struct fentry *e = NULL;
    if (c) {
        for (e = c->buckets[h % NBUCKET]; e; e = e->hnext)
            if (e->hash == h && e->owner == f->id && e->klen == klen &&
                memcmp(e->key, key, klen) == 0)
                break;
    }
    if (e && now - e->checked < f->cfg.revalidate) {
        lru_unlink(c, e);
        lru_push(c, e);
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
        return e;
    }
    struct fentry *n = NULL;
    int r = build_entry(f, rel, dir, &n, is_dir);
    if (r < 0 || !n) {
        if (e)
            cache_remove(c, e);
        *err = r;
        return NULL;
    }
    if (e) {
        if (same_file(e, n)) { /* unchanged: keep the old entry (and its cached bytes) */
            e->checked = now;
            fentry_release(n);
            lru_unlink(c, e);
            lru_push(c, e);
            atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
            return e;
        }
        cache_remove(c, e);
    }
    n->hash = h;
    n->owner = f->id;
    n->checked = now;
    if (c) {
        while (c->count >= f->cfg.cache_entries && c->lru_tail)
            cache_remove(c, c->lru_tail);
        n->hnext = c->buckets[h % NBUCKET];
        c->buckets[h % NBUCKET] = n;
        lru_push(c, n);
        c->count++;
        atomic_fetch_add_explicit(&n->refs, 1, memory_order_relaxed); /* the response's */
    }
    return n;
}

/* ------------------------------------------------------------------ conditional requests */

/* Does an If-Match / If-None-Match list match etag? weak: W/ prefixes are ignored. */
static bool etag_list_match(http_str v, const char *etag, bool weak)
{
    size_t el = strlen(etag);
    size_t i = 0;
    while (i < v.len) {
        while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
            i++;
        if (i >= v.len)
            break;
        if (v.p[i] == '*')
            return true;
        bool w = false;
        if (i + 2 <= v.len && v.p[i] == 'W' && v.p[i + 1] == '/')
            w = true, i += 2;
        size_t s = i;
        if (i < v.len && v.p[i] == '"') {
            i++;
            while (i < v.len && v.p[i] != '"')
                i++;
            if (i < v.len)
                i++;
        } else {
            while (i < v.len && v.p[i] != ',')
                i++;
        }
        if ((!w || weak) && i - s == el && memcmp(v.p + s, etag, el) == 0)
            return true;
    }
    return false;
}

static bool header_date(http_ex *ex, const char *name, time_t *t)
{
    http_str v;
    return http_req_header(ex, name, &v) && httpd_parse_http_date(v.p, v.len, t) == 0;
}

/* ------------------------------------------------------------------ responses */

static int send_simple(http_ex *ex, int status, const char *extra_name, const char *extra_val)
{
    char body[96];
    int n = snprintf(body, sizeof body, "%d %s\n", status, http_status_text(status));
    int err = http_resp_start(ex, status);
    if (!err && extra_name)
        err = http_resp_header(ex, extra_name, extra_val);
    if (!err)
        err = http_resp_header(ex, "Content-Type", "text/plain; charset=utf-8");
    if (!err)
        err = http_resp_body_begin(ex, n);
    if (!err)
        err = http_resp_write(ex, body, (size_t)n);
    if (!err)
        err = http_resp_end(ex);
    return err;
}

static int redirect_slash(http_ex *ex)
{
    http_str p = http_req_path(ex), q = http_req_query(ex);
    char loc[8400];
    int n = snprintf(loc, sizeof loc, "%.*s/%s%.*s", (int)p.len, p.p, q.len ? "?" : "", (int)q.len,
                     q.p);
    if (n < 0 || (size_t)n >= sizeof loc)
        return send_simple(ex, 414, NULL, NULL);
    return send_simple(ex, 301, "Location", loc);
}

struct listing {
    char *buf;
    size_t len, cap;
};

static void lput(struct listing *l, const char *s, size_t n)
{
    if (l->len + n + 1 > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        while (cap < l->len + n + 1)
            cap *= 2;
        char *b = realloc(l->buf, cap);
        if (!b)
            return;
        l->buf = b;
        l->cap = cap;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void lputs(struct listing *l, const char *s)
{
    lput(l, s, strlen(s));
}

static void lput_html(struct listing *l, const char *s, size_t n)
{
    char tmp[2048];
    size_t need = httpd_html_escape(s, n, tmp, sizeof tmp);
    if (need < sizeof tmp)
        lput(l, tmp, need);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int send_listing(http_ex *ex, int dfd)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return send_simple(ex, 500, NULL, NULL);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 100000) {
        if (de->d_name[0] == '.')
            continue; /* hidden, like the files themselves */
        bool isdir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN || de->d_type == DT_LNK) {
            struct stat st;
            isdir = fstatat(dirfd(d), de->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        size_t l = strlen(de->d_name);
        names[n] = malloc(l + 2);
        if (!names[n])
            break;
        memcpy(names[n], de->d_name, l);
        names[n][l] = isdir ? '/' : '\0';
        names[n][l + 1] = '\0';
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, name_cmp);
    struct listing l = {0};
    http_str p = http_req_path(ex);
    char dp[4096];
    size_t dl = p.len < sizeof dp ? p.len : sizeof dp - 1;
    memcpy(dp, p.p, dl); /* the path as requested, still %-encoded: decode for display */
    dp[dl] = 0;
    lputs(&l, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
    lput_html(&l, dp, dl);
    lputs(&l, "</title></head>\n<body><h1>Index of ");
    lput_html(&l, dp, dl);
    lputs(&l, "</h1>\n<ul>\n<li><a href=\"../\">../</a></li>\n");
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        bool isdir = nl > 0 && names[i][nl - 1] == '/';
        size_t base = isdir ? nl - 1 : nl;
        char href[8192];
        size_t hl = httpd_url_escape(names[i], base, href, sizeof href);
        if (hl >= sizeof href - 2)
            continue;
        if (isdir)
            href[hl++] = '/', href[hl] = 0;
        lputs(&l, "<li><a href=\"");
        lput(&l, href, hl);
        lputs(&l, "\">");
        lput_html(&l, names[i], nl);
        lputs(&l, "</a></li>\n");
        free(names[i]);
    }
    free(names);
    lputs(&l, "</ul>\n</body></html>\n");
    int err = http_resp_start(ex, 200);
    if (!err)
        err = http_resp_header(ex, "Content-Type", "text/html; charset=utf-8");
    if (!err)
        err = http_resp_header(ex, "Cache-Control", "no-cache");
    if (!err)
        err = http_resp_body_begin(ex, (int64_t)l.len);
    if (!err && l.len)
        err = http_resp_write_ref(ex, l.buf, l.len, free, l.buf);
    else
        free(l.buf);
    if (!err)
        err = http_resp_end(ex);
    return err;
}

static int send_entry(http_ex *ex, struct fentry *e)
{
    http_method m = http_req_method(ex);
    uint64_t size = (uint64_t)e->size;
    http_str v;
    time_t t;
    /* RFC 9110 13.2.2: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since, If-Range */
    if (http_req_header(ex, "If-Match", &v)) {
        if (!etag_list_match(v, e->etag, false))
            goto precondition_failed;
    } else if (header_date(ex, "If-Unmodified-Since", &t) && e->mtime.tv_sec > t) {
        goto precondition_failed;
    }
    if (http_req_header(ex, "If-None-Match", &v)) {
        if (etag_list_match(v, e->etag, true))
            goto not_modified;
    } else if (header_date(ex, "If-Modified-Since", &t) && e->mtime.tv_sec <= t &&
               t <= time(NULL)) {
        /* A date later than our clock is not a date we could have sent: ignore it (RFC 7232
         * 3.3 called it invalid; Apache does the same) rather than answer 304 forever. */
        goto not_modified;
    }

    int status = 200;
    uint64_t first = 0, last = size ? size - 1 : 0;
    if (m == HTTP_M_GET && http_req_header(ex, "Range", &v)) {
        bool use = true;
        http_str ir;
        if (http_req_header(ex, "If-Range", &ir)) {
            if (ir.len && ir.p[0] == '"')
                use = ir.len == strlen(e->etag) && memcmp(ir.p, e->etag, ir.len) == 0;
            else
                use = httpd_parse_http_date(ir.p, ir.len, &t) == 0 && t == e->mtime.tv_sec;
        }
        if (use) {
            int r = httpd_parse_range(v.p, v.len, size, &first, &last);
            if (r < 0) {
                char cr[64];
                snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
                fentry_release(e);
                return send_simple(ex, 416, "Content-Range", cr);
            }
            if (r > 0)
                status = 206;
        }
    }
    uint64_t len = size ? last - first + 1 : 0;
    int err = http_resp_start(ex, status);
    if (!err && e->hdrs_len) {
        err = http_resp_headers_raw(ex, e->hdrs, e->hdrs_len);
    } else if (!err) {
        err = http_resp_header(ex, "Content-Type", e->mime);
        if (!err)
            err = http_resp_header(ex, "Last-Modified", e->lastmod);
        if (!err)
            err = http_resp_header(ex, "ETag", e->etag);
        if (!err)
            err = http_resp_header(ex, "Accept-Ranges", "bytes");
    }
    if (!err && status == 206) {
        char cr[80];
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)first,
                 (unsigned long long)last, (unsigned long long)size);
        err = http_resp_header(ex, "Content-Range", cr);
    }
    if (!err)
        err = http_resp_body_begin(ex, (int64_t)len);
    if (!err && len && m != HTTP_M_HEAD) {
        /* The response holds our reference until the bytes are sent. */
        if (e->data)
            err = http_resp_write_ref(ex, e->data + first, len, fentry_release, e);
        else
            err = http_resp_write_file(ex, e->fd, (int64_t)first, (int64_t)len, fentry_release, e);
        return err ? err : http_resp_end(ex);
    }
    fentry_release(e);
    return err ? err : http_resp_end(ex);

not_modified:
    if (m == HTTP_M_GET || m == HTTP_M_HEAD) {
        err = http_resp_start(ex, 304);
        if (!err)
            err = http_resp_header(ex, "ETag", e->etag);
        if (!err)
            err = http_resp_header(ex, "Last-Modified", e->lastmod);
        fentry_release(e);
        if (!err)
            err = http_resp_body_begin(ex, 0);
        return err ? err : http_resp_end(ex);
    }
precondition_failed:
    fentry_release(e);
    return send_simple(ex, 412, NULL, NULL);
}

static weft_poll files_handle(http_ex *ex, void *state, weft_cx *cx)
{
    (void)state, (void)cx;
    httpd_files *f = http_ex_arg(ex);
    http_method m = http_req_method(ex);
    if (m == HTTP_M_OPTIONS) {
        http_resp_start(ex, 204);
        http_resp_header(ex, "Allow", "GET, HEAD, OPTIONS");
        http_resp_body_begin(ex, 0);
        http_resp_end(ex);
        return WEFT_READY;
    }
    if (m != HTTP_M_GET && m != HTTP_M_HEAD) {
        send_simple(ex, 405, "Allow", "GET, HEAD, OPTIONS");
        return WEFT_READY;
    }
    http_str p = http_req_path(ex);
    char rel[4096];
    bool dir = false;
    int n = httpd_path_normalize(p.p, p.len, rel, sizeof rel, &dir);
    if (n < 0) {
        /* Too long to name a file is "no such file": the request-target limit (414, 8 KiB,
         * RFC 9112's recommended minimum of 8000) is the engine's. */
        send_simple(ex, n == -ENOENT || n == -ENAMETOOLONG ? 404 : 400, NULL, NULL);
        return WEFT_READY;
    }
    int err = 0;
    bool is_dir = false;
    struct fentry *e = lookup(f, rel, dir, &err, &is_dir);
    if (e) {
        send_entry(ex, e);
        return WEFT_READY;
    }
    if (err >= 0) { /* a directory to list */
        send_listing(ex, err);
        return WEFT_READY;
    }
    if (err == -EISDIR)
        redirect_slash(ex);
    else if (err == -ENOENT || err == -ENOTDIR || err == -ELOOP || err == -EXDEV ||
             err == -ENAMETOOLONG)
        send_simple(ex, 404, NULL, NULL); /* EXDEV/ELOOP: the path tried to leave the root */
    else if (err == -EACCES || err == -EPERM)
        send_simple(ex, 403, NULL, NULL);
    else
        send_simple(ex, 500, NULL, NULL);
    return WEFT_READY;
}

/* ------------------------------------------------------------------ setup */

int httpd_files_new(httpd_files **out, const httpd_files_cfg *cfg)
{
    if (!out || !cfg || !cfg->root)
        return -EINVAL;
    *out = NULL;
    int fd = open(cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    httpd_files *f = calloc(1, sizeof *f);
    if (!f) {
        close(fd);
        return -ENOMEM;
    }
    f->root_fd = fd;
    f->cfg = *cfg;
    f->cfg.root = NULL; /* not kept: the fd is the root */
    if (!f->cfg.revalidate)
        f->cfg.revalidate = WEFT_SEC(1);
    if (!f->cfg.cache_entries)
        f->cfg.cache_entries = 1024;
    if (!f->cfg.small_file_max)
        f->cfg.small_file_max = 32 * 1024;
    f->id = atomic_fetch_add(&next_files_id, 1);
    *out = f;
    return 0;
}

void httpd_files_free(httpd_files *f)
{
    if (!f)
        return;
    close(f->root_fd);
    free(f);
}

void httpd_files_handler(httpd_files *f, http_handler *h)
{
    *h = (http_handler){.name = "files", .handle = files_handle, .arg = f, .ignores_body = true};
}
