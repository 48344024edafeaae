/* apps/httpd/files_util.c - the static-file handler's pure helpers: path decoding and
 * normalisation, MIME types, HTTP dates, Range parsing, HTML and URL escaping. No IO, so the
 * unit tests and the fuzz target call them directly. */
#include "files.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ paths */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int httpd_path_normalize(const char *path, size_t len, char *out, size_t cap, bool *dir)
{
    if (!path || !out || cap == 0 || len == 0 || path[0] != '/')
        return -EINVAL;
    if (dir)
        *dir = path[len - 1] == '/';
    /* Decode first, so an encoded '/' or '.' is handled exactly like a literal one. */
    char dec[4096];
    size_t d = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)path[i];
        if (ch == '%') {
            int hi, lo;
            if (i + 2 >= len || (hi = hexval((unsigned char)path[i + 1])) < 0 ||
                (lo = hexval((unsigned char)path[i + 2])) < 0)
                return -EINVAL;
            ch = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (ch < 0x20 || ch == 0x7f)
            return -EINVAL; /* NUL, CR, LF and other controls never name a file here */
        if (d >= sizeof dec)
            return -ENAMETOOLONG;
        dec[d++] = (char)ch;
    }
    if (dir && d > 0)
        *dir = dec[d - 1] == '/';
    /* Walk the segments, keeping the start offset of each kept one for "..". */
    size_t o = 0, depth = 0;
    size_t starts[512];
    size_t i = 0;
    while (i < d) {
        while (i < d && dec[i] == '/')
            i++;
        size_t s = i;
        while (i < d && dec[i] != '/')
            i++;
        size_t n = i - s;
        if (n == 0 || (n == 1 && dec[s] == '.'))
            continue;
        if (n == 2 && dec[s] == '.' && dec[s + 1] == '.') {
            if (depth == 0)
                return -EPERM;
            o = starts[--depth];
            continue;
        }
        if (dec[s] == '.' && !(depth == 0 && n == 11 && memcmp(dec + s, ".well-known", 11) == 0))
            return -ENOENT; /* hidden: .git, .htpasswd, .env ... */
        if (depth >= sizeof starts / sizeof starts[0])
            return -ENAMETOOLONG;
        size_t at = o ? o + 1 : 0;
        if (at + n + 1 > cap)
            return -ENAMETOOLONG;
        if (o)
            out[o] = '/';
        starts[depth++] = o;
        memcpy(out + at, dec + s, n);
        o = at + n;
    }
    out[o] = '\0';
    if (o == 0 && dir)
        *dir = true;
    return (int)o;
}

/* ------------------------------------------------------------------ MIME types */

static const struct {
    const char *ext;
    const char *type;
} mime_table[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"bmp", "image/bmp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"wasm", "application/wasm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"c", "text/plain; charset=utf-8"},
    {"h", "text/plain; charset=utf-8"},
    {"sh", "text/plain; charset=utf-8"},
    {"webmanifest", "application/manifest+json"},
    {"bin", "application/octet-stream"},
};

const char *httpd_mime_type(const char *name, size_t len)
{
    size_t dot = len;
    while (dot > 0 && name[dot - 1] != '.' && name[dot - 1] != '/')
        dot--;
    if (dot == 0 || name[dot - 1] != '.')
        return "application/octet-stream";
    const char *ext = name + dot;
    size_t el = len - dot;
    for (size_t i = 0; i < sizeof mime_table / sizeof mime_table[0]; i++)
        if (strlen(mime_table[i].ext) == el && strncasecmp(ext, mime_table[i].ext, el) == 0)
            return mime_table[i].type;
    return "application/octet-stream";
}

/* ------------------------------------------------------------------ HTTP dates */

static const char wdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void httpd_http_date(time_t t, char out[32])
{
    struct tm tm;
    char tmp[64];
    gmtime_r(&t, &tm);
    snprintf(tmp, sizeof tmp, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[tm.tm_wday & 7],
             tm.tm_mday & 63, months[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000, tm.tm_hour & 31,
             tm.tm_min & 63, tm.tm_sec & 63);
    memcpy(out, tmp, 30);
    out[29] = 0;
}

static int month_of(const char *s)
{
    for (int i = 0; i < 12; i++)
        if (memcmp(s, months[i], 3) == 0)
            return i;
    return -1;
}

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* days since 1970-01-01 (proleptic Gregorian), no timezone involved */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int hms(const char *s, int *h, int *m, int *sec)
{
    if (s[2] != ':' || s[5] != ':')
        return -1;
    *h = num(s, 2), *m = num(s + 3, 2), *sec = num(s + 6, 2);
    return (*h < 0 || *m < 0 || *sec < 0 || *h > 23 || *m > 59 || *sec > 60) ? -1 : 0;
}

int httpd_parse_http_date(const char *s, size_t n, time_t *t)
{
    int day, mon, year, h, mi, se;
    char buf[64];
    if (n >= sizeof buf || n < 24)
        return -EINVAL;
    memcpy(buf, s, n);
    buf[n] = 0;
    if (n == 29 && buf[3] == ',' && buf[4] == ' ' && buf[7] == ' ' && buf[11] == ' ' &&
        buf[16] == ' ' && memcmp(buf + 25, " GMT", 4) == 0) {
        /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
        day = num(buf + 5, 2), mon = month_of(buf + 8), year = num(buf + 12, 4);
        if (hms(buf + 17, &h, &mi, &se))
            return -EINVAL;
    } else if (n == 24 && buf[3] == ' ' && buf[7] == ' ' && buf[10] == ' ' && buf[19] == ' ') {
        /* asctime: Sun Nov  6 08:49:37 1994 */
        mon = month_of(buf + 4);
        day = buf[8] == ' ' ? num(buf + 9, 1) : num(buf + 8, 2);
        year = num(buf + 20, 4);
        if (hms(buf + 11, &h, &mi, &se))
            return -EINVAL;
    } else {
        /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
        const char *c = strchr(buf, ',');
        if (!c || strlen(c) != 24 || c[1] != ' ' || c[4] != '-' || c[8] != '-' || c[11] != ' ' ||
            memcmp(c + 20, " GMT", 4) != 0)
            return -EINVAL;
        day = num(c + 2, 2), mon = month_of(c + 5), year = num(c + 9, 2);
        if (year < 0)
            return -EINVAL;
        year += year < 70 ? 2000 : 1900;
        if (hms(c + 12, &h, &mi, &se))
            return -EINVAL;
    }
    if (day < 1 || day > 31 || mon < 0 || year < 1970)
        return -EINVAL;
    int64_t days = days_from_civil(year, (unsigned)mon + 1, (unsigned)day);
    *t = (time_t)(days * 86400 + h * 3600 + mi * 60 + se);
    return 0;
}

/* ------------------------------------------------------------------ Range */

static bool parse_u64(const char *s, size_t n, uint64_t *v)
{
    if (n == 0 || n > 19)
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *v = x;
    return true;
}

int httpd_parse_range(const char *v, size_t n, uint64_t size, uint64_t *first, uint64_t *last)
{
    size_t i = 0;
    while (i < n && (v[i] == ' ' || v[i] == '\t'))
        i++;
    if (n - i < 6 || strncasecmp(v + i, "bytes=", 6) != 0)
        return 0;
    i += 6;
    size_t e = n;
    while (e > i && (v[e - 1] == ' ' || v[e - 1] == '\t'))
        e--;
    for (size_t k = i; k < e; k++)
        if (v[k] == ',')
            return 0; /* several ranges: answer with the whole representation */
    while (i < e && (v[i] == ' ' || v[i] == '\t'))
        i++;
    size_t dash = i;
    while (dash < e && v[dash] != '-')
        dash++;
    if (dash == e)
        return 0;
    uint64_t a = 0, b = 0;
    bool has_a = parse_u64(v + i, dash - i, &a);
    bool has_b = parse_u64(v + dash + 1, e - dash - 1, &b);
    if ((dash > i && !has_a) || (e > dash + 1 && !has_b) || (!has_a && !has_b))
        return 0;
    if (!has_a) { /* suffix: the last b bytes */
        if (b == 0 || size == 0)
            return -1;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return 1;
    }
    if (has_b && b < a)
        return 0; /* invalid: ignore */
    if (a >= size)
        return -1;
    *first = a;
    *last = has_b && b < size ? b : size - 1;
    return 1;
}

/* ------------------------------------------------------------------ escaping */

size_t httpd_html_escape(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            break;
        }
        size_t rl = rep ? strlen(rep) : 1;
        if (o + rl < cap)
            memcpy(out + o, rep ? rep : s + i, rl);
        o += rl;
    }
    if (cap)
        out[o < cap ? o : cap - 1] = 0;
    return o;
}

size_t httpd_url_escape(const char *s, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';
        if (plain) {
            if (o + 1 < cap)
                out[o] = (char)c;
            o++;
        } else {
            if (o + 3 < cap) {
                out[o] = '%';
                out[o + 1] = hex[c >> 4];
                out[o + 2] = hex[c & 15];
            }
            o += 3;
        }
    }
    if (cap)
        out[o < cap ? o : cap - 1] = 0;
    return o;
}
