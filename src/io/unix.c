/* Unix sockets: listeners, socket pairs, datagram sockets. Connect and accept are tcp.c's
 * futures; datagram transfers are udp.c's. */
#include "io/sock.h"

int weft_unix_listen(weft_unix_listener **out, const char *path, const weft_listen_opts *opts)
{
    weft_sockaddr a;
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (weft_sockaddr_unix(&a, path) < 0)
        return -EINVAL;
    return weft__listen(out, &a, opts, false);
}

int weft_unix_pair(weft_unix_stream **a, weft_unix_stream **b)
{
    if (!a || !b)
        return -EINVAL;
    *a = *b = NULL;
    int sv[2];
    int err = weft__sys_socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    if (err < 0)
        return err;
    if (weft__stream_new(a, sv[0], WEFT_STREAM_SOCKET, 0) < 0 ||
        weft__stream_new(b, sv[1], WEFT_STREAM_SOCKET, 0) < 0) {
        weft__free(*a);
        *a = *b = NULL;
        weft__sys_close(sv[0]);
        weft__sys_close(sv[1]);
        return -ENOMEM;
    }
    return 0;
}

int weft_unix_dgram_bind(weft_unix_datagram **out, const char *path)
{
    weft_sockaddr a;
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (path && weft_sockaddr_unix(&a, path) < 0)
        return -EINVAL;
    int fd = weft__sys_socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0)
        return fd;
    int err = path ? weft__sys_bind(fd, &a.u.sa, a.len) : 0;
    if (err == 0)
        err = weft__dgram_new(out, fd, AF_UNIX);
    if (err < 0)
        weft__sys_close(fd);
    return err;
}

int weft_unix_dgram_pair(weft_unix_datagram **a, weft_unix_datagram **b)
{
    if (!a || !b)
        return -EINVAL;
    *a = *b = NULL;
    int sv[2];
    int err = weft__sys_socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    if (err < 0)
        return err;
    if (weft__dgram_new(a, sv[0], AF_UNIX) < 0 || weft__dgram_new(b, sv[1], AF_UNIX) < 0) {
        weft__free(*a);
        *a = *b = NULL;
        weft__sys_close(sv[0]);
        weft__sys_close(sv[1]);
        return -ENOMEM;
    }
    return 0;
}
