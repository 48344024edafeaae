/* Socket addresses: parsing and formatting numeric IPv4/IPv6 "ip:port", Unix paths. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include "io/sock.h"

int weft__sockaddr_check(const weft_sockaddr *a)
{
    if (!a)
        return -EINVAL;
    switch (a->u.sa.sa_family) {
    case AF_INET:
        return a->len == sizeof(struct sockaddr_in) ? 0 : -EINVAL;
    case AF_INET6:
        return a->len == sizeof(struct sockaddr_in6) ? 0 : -EINVAL;
    case AF_UNIX:
        return a->len >= offsetof(struct sockaddr_un, sun_path) &&
                       a->len <= sizeof(struct sockaddr_un)
                   ? 0
                   : -EINVAL;
    default:
        return -EINVAL;
    }
}

int weft_sockaddr_ip(weft_sockaddr *out, const char *ip, uint16_t port)
{
    if (!out || !ip)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, ip, &out->u.in.sin_addr) == 1) {
        out->u.in.sin_family = AF_INET;
        out->u.in.sin_port = htons(port);
        out->len = sizeof(struct sockaddr_in);
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &out->u.in6.sin6_addr) == 1) {
        out->u.in6.sin6_family = AF_INET6;
        out->u.in6.sin6_port = htons(port);
        out->len = sizeof(struct sockaddr_in6);
        return 0;
    }
    memset(out, 0, sizeof *out);
    return -EINVAL;
}

int weft_sockaddr_parse(weft_sockaddr *out, const char *text)
{
    if (!out || !text)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    char ip[INET6_ADDRSTRLEN + 1];
    const char *port_s;
    size_t n;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        n = (size_t)(close - text - 1);
        if (n == 0 || n >= sizeof ip)
            return -EINVAL;
        memcpy(ip, text + 1, n);
        port_s = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || memchr(text, ':', (size_t)(colon - text)))
            return -EINVAL; /* bare IPv6 needs brackets */
        n = (size_t)(colon - text);
        if (n == 0 || n >= sizeof ip)
            return -EINVAL;
        memcpy(ip, text, n);
        port_s = colon + 1;
    }
    ip[n] = 0;
    if (*port_s < '0' || *port_s > '9' || strlen(port_s) > 5)
        return -EINVAL;
    char *end;
    unsigned long port = strtoul(port_s, &end, 10);
    if (*end || port > 65535)
        return -EINVAL;
    if (strchr(ip, ':') && text[0] != '[')
        return -EINVAL;
    return weft_sockaddr_ip(out, ip, (uint16_t)port);
}

int weft_sockaddr_unix(weft_sockaddr *out, const char *path)
{
    if (!out || !path)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof out->u.un.sun_path)
        return -EINVAL;
    out->u.un.sun_family = AF_UNIX;
    memcpy(out->u.un.sun_path, path, n);
    if (path[0] == '@') { /* abstract: no trailing NUL counted */
        out->u.un.sun_path[0] = 0;
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

int weft_sockaddr_format(const weft_sockaddr *a, char *buf, size_t len)
{
    if (!a || (!buf && len))
        return -EINVAL;
    char ip[INET6_ADDRSTRLEN];
    switch (a->u.sa.sa_family) {
    case AF_INET:
        if (a->len < sizeof(struct sockaddr_in))
            return -EINVAL;
        inet_ntop(AF_INET, &a->u.in.sin_addr, ip, sizeof ip);
        return snprintf(buf, len, "%s:%u", ip, ntohs(a->u.in.sin_port));
    case AF_INET6:
        if (a->len < sizeof(struct sockaddr_in6))
            return -EINVAL;
        inet_ntop(AF_INET6, &a->u.in6.sin6_addr, ip, sizeof ip);
        return snprintf(buf, len, "[%s]:%u", ip, ntohs(a->u.in6.sin6_port));
    case AF_UNIX: {
        size_t off = offsetof(struct sockaddr_un, sun_path);
        if (a->len < off || a->len > sizeof(struct sockaddr_un))
            return -EINVAL;
        size_t n = a->len - off;
        if (n == 0)
            return snprintf(buf, len, "%s", "");
        if (a->u.un.sun_path[0] == 0) /* abstract */
            return snprintf(buf, len, "@%.*s", (int)(n - 1), a->u.un.sun_path + 1);
        return snprintf(buf, len, "%.*s", (int)strnlen(a->u.un.sun_path, n), a->u.un.sun_path);
    }
    default:
        return -EINVAL;
    }
}

int weft_sockaddr_port(const weft_sockaddr *a)
{
    if (!a)
        return -EINVAL;
    if (a->u.sa.sa_family == AF_INET && a->len >= sizeof(struct sockaddr_in))
        return ntohs(a->u.in.sin_port);
    if (a->u.sa.sa_family == AF_INET6 && a->len >= sizeof(struct sockaddr_in6))
        return ntohs(a->u.in6.sin6_port);
    return -EINVAL;
}

int weft_sockaddr_family(const weft_sockaddr *a)
{
    if (!a || a->len == 0)
        return -EINVAL;
    int f = a->u.sa.sa_family;
    return f == AF_INET || f == AF_INET6 || f == AF_UNIX ? f : -EINVAL;
}
