/* apps/httpd/files.h - static files from a document root: the handler and its pure helpers.
 *
 * A request path is percent-decoded, then normalised (empty and "." segments dropped, ".."
 * popping one segment; climbing above the root is a 400), and dot-files are hidden (404)
 * except under /.well-known/. The resulting relative path is opened beneath the root with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): the kernel refuses any ".." or symlink
 * that would leave the root, also through symlinks inside it. With allow_symlink_escape the
 * path is opened with a plain openat relative to the root (symlinks may then point anywhere).
 *
 * Responses: MIME type from the extension, ETag ("<mtime>-<size>", hex) and Last-Modified,
 * 304 for If-None-Match / If-Modified-Since, 412 for If-Match / If-Unmodified-Since, one byte
 * range (206, 416; If-Range honoured; several ranges are answered with the whole file),
 * index.html for directories (301 to add the trailing slash), an optional HTML-escaped
 * listing, 405 with Allow for methods other than GET, HEAD and OPTIONS. Bodies are sent with
 * sendfile from the cached descriptor, or from memory for files up to small_file_max.
 *
 * Open-file cache: per worker thread (no lock), keyed by the normalised path; an entry holds
 * the descriptor, the metadata, the prepared header values and (small files) the contents. An
 * entry older than `revalidate` is checked again (open + fstat) before use, so a changed file
 * is seen within that time. Responses hold a reference on their entry until the bytes are
 * sent, so eviction never closes a descriptor a send still uses.
 */
#ifndef WEFT_HTTPD_FILES_H
#define WEFT_HTTPD_FILES_H

#include "http.h"
#include <sys/stat.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Static-file options. Zero means the default. */
typedef struct httpd_files_cfg {
    const char *root;          /* the document root (required) */
    bool autoindex;            /* list directories without index.html (else 403) */
    bool allow_symlink_escape; /* let symlinks point outside the root */
    int64_t revalidate;        /* ns before a cached entry is checked again; default 1 s */
    uint32_t cache_entries;    /* per thread; default 1024 */
    uint32_t small_file_max;   /* files up to this size are cached in memory; default 32 KiB */
} httpd_files_cfg;

/* A document root and its options. */
typedef struct httpd_files httpd_files;

/**
 * httpd_files_new - open the root (it must be a directory) and keep the options.
 * Ownership: the caller frees *out with httpd_files_free after the last request.
 * Returns 0; -EINVAL (NULL); -ENOTDIR; -ENOENT, -EACCES... from open; -ENOMEM.
 */
int httpd_files_new(httpd_files **out, const httpd_files_cfg *cfg);
/* Free (NULL ok). Cached entries of worker threads are released by httpd_files_thread_flush
 * on those threads, or at exit. */
void httpd_files_free(httpd_files *f);
/* Drop the calling thread's cache (call on each worker before freeing, if it matters). */
void httpd_files_thread_flush(void);

/* Fill *h with the static-file handler serving f (h->arg = f). */
void httpd_files_handler(httpd_files *f, http_handler *h);

/* ------------------------------------------------------------------ pure helpers (tested and
 * fuzzed on their own) */

/**
 * httpd_path_normalize - decode a request path ("/a/%2e%2E/b") and normalise it into a path
 * relative to the root ("b"; "" for the root itself), written to out with a NUL.
 * *dir: set when the request path ends in '/' (or is the root).
 * Returns the length, or -EINVAL (not starting with '/', a bad %-escape, a NUL or control
 * byte), -EPERM (".." above the root), -ENOENT (a hidden dot-file segment), -ENAMETOOLONG.
 */
int httpd_path_normalize(const char *path, size_t len, char *out, size_t cap, bool *dir);

/* The MIME type for a file name (by extension, case-insensitive); text types carry
 * "; charset=utf-8". "application/octet-stream" when unknown. */
const char *httpd_mime_type(const char *name, size_t len);

/* Format t as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into out (>= 30 bytes). */
void httpd_http_date(time_t t, char out[32]);
/* Parse an HTTP-date (IMF-fixdate, RFC 850 or asctime form). Returns 0 and *t, or -EINVAL. */
int httpd_parse_http_date(const char *s, size_t n, time_t *t);

/**
 * httpd_parse_range - parse a Range value for a representation of `size` bytes.
 * Returns 1 with [*first, *last] for one satisfiable byte range; 0 when the header must be
 * ignored (not "bytes=", a syntax error, or several ranges); -1 when it is unsatisfiable (416).
 */
int httpd_parse_range(const char *v, size_t n, uint64_t size, uint64_t *first, uint64_t *last);

/* Append s (len bytes) HTML-escaped to out (cap bytes); returns the bytes it would need
 * (like snprintf), writing only whole escapes. */
size_t httpd_html_escape(const char *s, size_t len, char *out, size_t cap);
/* Percent-encode s for use in a URL path segment; returns the length written (<= cap) or
 * the length needed when cap is too small. */
size_t httpd_url_escape(const char *s, size_t len, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
