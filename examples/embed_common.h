/* The task both embedding examples run: a TCP echo over loopback with timers in between,
 * so the host loop has real socket IO and real deadlines to serve. Header-only on purpose:
 * each example stays one file plus this. */
#ifndef EMBED_COMMON_H
#define EMBED_COMMON_H

#include <stdio.h>
#include <string.h>

#include "weft.h"

#define ROUNDS 5

struct echo_demo {
    WEFT_ASYNC_STATE;
    weft_tcp_listener *ln;
    weft_stream *client, *server;
    weft_accept accept;
    weft_connect connect;
    weft_write_all write;
    weft_read_exact read;
    weft_sleep nap;
    weft_sockaddr addr;
    int round, err;
    ssize_t n;
    char out[24], in[24];
};

static weft_poll echo_demo_poll(void *state, weft_cx *cx, void *result)
{
    struct echo_demo *d = state;
    WEFT_ASYNC_BEGIN(d);
    weft_sockaddr_ip(&d->addr, "127.0.0.1", 0);
    if ((d->err = weft_tcp_listen(&d->ln, &d->addr, NULL)) < 0)
        WEFT_ASYNC_FAIL(d, d->err);
    weft_listener_local_addr(d->ln, &d->addr);
    weft_tcp_connect_init(&d->connect, &d->addr, weft_deadline_in(WEFT_SEC(5)));
    WEFT_AWAIT(d, weft_connect_poll(&d->connect, cx, &d->client, &d->err));
    if (d->err < 0)
        WEFT_ASYNC_FAIL(d, d->err);
    weft_accept_init(&d->accept, d->ln, weft_deadline_in(WEFT_SEC(5)));
    WEFT_AWAIT(d, weft_accept_poll(&d->accept, cx, &d->server, &d->err));
    if (d->err < 0)
        WEFT_ASYNC_FAIL(d, d->err);
    for (d->round = 1; d->round <= ROUNDS; d->round++) {
        snprintf(d->out, sizeof d->out, "ping %d", d->round);
        weft_write_all_init(&d->write, d->client, d->out, sizeof d->out, WEFT_NEVER);
        WEFT_AWAIT(d, weft_write_all_poll(&d->write, cx, &d->n));
        weft_read_exact_init(&d->read, d->server, d->in, sizeof d->in, weft_deadline_in(WEFT_SEC(5)));
        WEFT_AWAIT(d, weft_read_exact_poll(&d->read, cx, &d->n));
        if (d->n < 0 || memcmp(d->in, d->out, sizeof d->in) != 0)
            WEFT_ASYNC_FAIL(d, d->n < 0 ? (int)d->n : -EIO);
        printf("weft task: got \"%s\" over TCP, now sleeping 10 ms\n", d->in);
        weft_sleep_init(&d->nap, WEFT_MS(10));
        WEFT_AWAIT(d, weft_sleep_poll(&d->nap, cx));
    }
    *(int *)result = ROUNDS;
    WEFT_ASYNC_END(d);
}

static void echo_demo_drop(void *state)
{
    struct echo_demo *d = state;
    weft_accept_drop(&d->accept);
    weft_connect_drop(&d->connect);
    weft_write_all_drop(&d->write);
    weft_read_exact_drop(&d->read);
    weft_sleep_drop(&d->nap);
    weft_stream_close(d->client);
    weft_stream_close(d->server);
    weft_listener_close(d->ln);
}

static const weft_future_type echo_demo_type = {.name = "echo_demo",
                                                .poll = echo_demo_poll,
                                                .drop = echo_demo_drop,
                                                .state_size = sizeof(struct echo_demo),
                                                .out_size = sizeof(int)};

/* Milliseconds until an absolute weft deadline, for poll()/uv timers; -1 = none. */
static inline int embed_ms_until(int64_t deadline)
{
    if (deadline == WEFT_NEVER)
        return -1;
    int64_t left = deadline - weft_now();
    return left <= 0 ? 0 : (int)((left + 999999) / 1000000);
}

#endif
