/* Addresses (parse, format, port, family, Unix paths) and name resolution on the blocking
 * pool (numeric, localhost, an unknown name, bad arguments, drop while in flight). */
#include "net_util.h"

TEST(sockaddr_parse_and_format)
{
    weft_sockaddr a;
    char t[128];
    ASSERT_EQ(weft_sockaddr_parse(&a, "127.0.0.1:8080"), 0);
    ASSERT_EQ(weft_sockaddr_family(&a), AF_INET);
    ASSERT_EQ(weft_sockaddr_port(&a), 8080);
    ASSERT_EQ(weft_sockaddr_format(&a, t, sizeof t), 14);
    ASSERT_STREQ(t, "127.0.0.1:8080");
    ASSERT_EQ(weft_sockaddr_parse(&a, "[::1]:443"), 0);
    ASSERT_EQ(weft_sockaddr_family(&a), AF_INET6);
    ASSERT_EQ(weft_sockaddr_port(&a), 443);
    weft_sockaddr_format(&a, t, sizeof t);
    ASSERT_STREQ(t, "[::1]:443");
    ASSERT_EQ(weft_sockaddr_parse(&a, "0.0.0.0:0"), 0);
    ASSERT_EQ(weft_sockaddr_parse(&a, "[::]:65535"), 0);
    /* truncated output reports the full length, like snprintf */
    ASSERT_EQ(weft_sockaddr_parse(&a, "10.1.2.3:1"), 0);
    ASSERT_EQ(weft_sockaddr_format(&a, t, 4), 10);
    ASSERT_STREQ(t, "10.");
    ASSERT_EQ(weft_sockaddr_format(&a, NULL, 0), 10);

    static const char *bad[] = {"", "1.2.3.4", "1.2.3.4:", ":80", "1.2.3.4:65536",
                                "1.2.3.4:-1", "1.2.3.4:8x", "::1:80", "[::1]80", "[::1]:",
                                "[]:1", "host:80", "1.2.3.4:123456", "[1.2.3.4]:80x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (weft_sockaddr_parse(&a, bad[i]) != -EINVAL)
            weft_test_fail(__FILE__, __LINE__, "parsed \"%s\"", bad[i]);
        ASSERT_EQ(a.len, 0);
    }
    ASSERT_EQ(weft_sockaddr_parse(NULL, "1.2.3.4:5"), -EINVAL);
    ASSERT_EQ(weft_sockaddr_parse(&a, NULL), -EINVAL);
    ASSERT_EQ(weft_sockaddr_ip(&a, "192.168.0.1", 22), 0);
    ASSERT_EQ(weft_sockaddr_port(&a), 22);
    ASSERT_EQ(weft_sockaddr_ip(&a, "fe80::1", 22), 0);
    ASSERT_EQ(weft_sockaddr_family(&a), AF_INET6);
    ASSERT_EQ(weft_sockaddr_ip(&a, "nope", 1), -EINVAL);
    ASSERT_EQ(weft_sockaddr_ip(NULL, "1.1.1.1", 1), -EINVAL);
    ASSERT_EQ(weft_sockaddr_ip(&a, NULL, 1), -EINVAL);

    ASSERT_EQ(weft_sockaddr_unix(&a, "/run/x.sock"), 0);
    ASSERT_EQ(weft_sockaddr_family(&a), AF_UNIX);
    ASSERT_EQ(weft_sockaddr_port(&a), -EINVAL);
    weft_sockaddr_format(&a, t, sizeof t);
    ASSERT_STREQ(t, "/run/x.sock");
    ASSERT_EQ(weft_sockaddr_unix(&a, "@abstract"), 0);
    weft_sockaddr_format(&a, t, sizeof t);
    ASSERT_STREQ(t, "@abstract");
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    ASSERT_EQ(weft_sockaddr_unix(&a, longp), -EINVAL);
    ASSERT_EQ(weft_sockaddr_unix(&a, ""), -EINVAL);
    ASSERT_EQ(weft_sockaddr_unix(&a, NULL), -EINVAL);
    ASSERT_EQ(weft_sockaddr_unix(NULL, "/x"), -EINVAL);

    memset(&a, 0, sizeof a);
    ASSERT_EQ(weft_sockaddr_family(&a), -EINVAL);
    ASSERT_EQ(weft_sockaddr_format(&a, t, sizeof t), -EINVAL);
    ASSERT_EQ(weft_sockaddr_family(NULL), -EINVAL);
    ASSERT_EQ(weft_sockaddr_port(NULL), -EINVAL);
    ASSERT_EQ(weft_sockaddr_format(NULL, t, sizeof t), -EINVAL);
}

struct rs {
    weft_resolve f;
    int n;
};
static weft_poll rs_poll(void *a, weft_cx *cx)
{
    struct rs *r = a;
    return weft_resolve_poll(&r->f, cx, &r->n);
}

TEST(resolve_names)
{
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    weft_sockaddr out[8];
    struct rs r;
    char t[64];

    weft_resolve_init(&r.f, "127.0.0.1", "8080", AF_UNSPEC, out, 8);
    ASSERT_EQ(nu_run(rt, rs_poll, &r), 0);
    ASSERT_EQ(r.n, 1);
    weft_sockaddr_format(&out[0], t, sizeof t);
    ASSERT_STREQ(t, "127.0.0.1:8080");

    weft_resolve_init(&r.f, "localhost", "80", AF_INET, out, 8);
    ASSERT_EQ(nu_run(rt, rs_poll, &r), 0);
    ASSERT_GE(r.n, 1);
    ASSERT_EQ(weft_sockaddr_family(&out[0]), AF_INET);
    ASSERT_EQ(weft_sockaddr_port(&out[0]), 80);

    /* a resolved address is usable: listen on it, connect to it */
    weft_resolve_init(&r.f, "localhost", "0", AF_INET, out, 1);
    ASSERT_EQ(nu_run(rt, rs_poll, &r), 0);
    ASSERT_EQ(r.n, 1);
    weft_listener *ln = NULL;
    ASSERT_EQ(weft_tcp_listen(&ln, &out[0], NULL), 0);
    weft_listener_close(ln);

    /* an unknown name (a reserved TLD): not found, or a temporary failure without DNS */
    weft_resolve_init(&r.f, "no-such-host.invalid", "80", AF_UNSPEC, out, 8);
    ASSERT_EQ(nu_run(rt, rs_poll, &r), 0);
    ASSERT_TRUE(r.n == -ENOENT || r.n == -EAGAIN);
    weft_resolve_init(&r.f, "127.0.0.1", "no-such-service-xyz", AF_UNSPEC, out, 8);
    ASSERT_EQ(nu_run(rt, rs_poll, &r), 0);
    ASSERT_EQ(r.n, -ENOENT);

    /* bad arguments */
    weft_resolve_init(&r.f, "localhost", "80", AF_UNIX, out, 8);
    ASSERT_EQ(nu_run(rt, rs_poll, &r), 0);
    ASSERT_EQ(r.n, -EINVAL);
    weft_resolve_init(&r.f, NULL, NULL, AF_UNSPEC, out, 8);
    ASSERT_EQ(nu_run(rt, rs_poll, &r), 0);
    ASSERT_EQ(r.n, -EINVAL);
    weft_resolve_init(&r.f, "localhost", "80", AF_UNSPEC, NULL, 8);
    ASSERT_EQ(nu_run(rt, rs_poll, &r), 0);
    ASSERT_EQ(r.n, -EINVAL);
    weft_resolve_init(&r.f, "localhost", "80", AF_UNSPEC, out, 0);
    ASSERT_EQ(nu_run(rt, rs_poll, &r), 0);
    ASSERT_EQ(r.n, -EINVAL);
    ASSERT_EQ(nu_run(rt, rs_poll, &r), 0); /* polled after READY */
    ASSERT_EQ(r.n, -EINVAL);
    memset(&r, 0, sizeof r);
    ASSERT_EQ(nu_run(rt, rs_poll, &r), 0);
    ASSERT_EQ(r.n, -EINVAL);
    weft_resolve_drop(&r.f);
    weft_resolve_drop(NULL);
    int res;
    ASSERT_EQ(weft_resolve_poll(NULL, NULL, &res), WEFT_READY);
    ASSERT_EQ(res, -EINVAL);
    weft_rt_free(rt);
}

/* A task that starts a lookup and is aborted while it runs: nothing leaks (ASan). */
struct lookup_task {
    WEFT_ASYNC_STATE;
    weft_resolve r;
    weft_sockaddr out[4];
    weft_sleep nap;
    int n;
};
static weft_poll lookup_poll(void *st, weft_cx *cx, void *out)
{
    struct lookup_task *t = st;
    (void)out;
    WEFT_ASYNC_BEGIN(t);
    weft_resolve_init(&t->r, "localhost", "http", AF_UNSPEC, t->out, 4);
    WEFT_AWAIT(t, weft_resolve_poll(&t->r, cx, &t->n));
    weft_sleep_init(&t->nap, WEFT_SEC(60));
    WEFT_AWAIT(t, weft_sleep_poll(&t->nap, cx));
    WEFT_ASYNC_END(t);
}
static void lookup_drop(void *st)
{
    struct lookup_task *t = st;
    weft_resolve_drop(&t->r);
    weft_sleep_drop(&t->nap);
}
static const weft_future_type lookup_type = {.name = "lookup",
                                             .poll = lookup_poll,
                                             .drop = lookup_drop,
                                             .state_size = sizeof(struct lookup_task)};

TEST(resolve_dropped_midway)
{
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    weft_join *js[16];
    for (int i = 0; i < 16; i++)
        ASSERT_EQ(weft_spawn(rt, &lookup_type, NULL, &js[i]), 0);
    for (int i = 0; i < 16; i++) {
        if (i % 2)
            usleep(1000);
        weft_join_abort(js[i]);
    }
    for (int i = 0; i < 16; i++)
        ASSERT_EQ(weft_join_wait(js[i], NULL, 0), -ECANCELED);
    usleep(200 * 1000); /* let the pool finish the abandoned lookups before the check */
    weft_rt_free(rt);
}

TEST_MAIN()
