/* Buffered reader and writer: read_line, read_until, read_exact (buffered and direct), fill,
 * EOF and overflow cases, caller-provided and allocated buffers, the writer's buffering,
 * flush and error paths, and a drop while a fill is in flight (the orphaned buffer). */
#include "net_util.h"

struct rl {
    weft_read_until f;
    ssize_t n;
};
static weft_poll rl_line(void *a, weft_cx *cx)
{
    struct rl *r = a;
    return weft_read_line_poll(&r->f, cx, &r->n);
}
static weft_poll rl_until(void *a, weft_cx *cx)
{
    struct rl *r = a;
    return weft_read_until_poll(&r->f, cx, &r->n);
}
static weft_poll rl_exact(void *a, weft_cx *cx)
{
    struct rl *r = a;
    return weft_bufreader_read_exact_poll(&r->f, cx, &r->n);
}
static weft_poll rl_fill(void *a, weft_cx *cx)
{
    struct rl *r = a;
    return weft_bufreader_fill_poll(&r->f, cx, &r->n);
}

struct wb {
    weft_bufwriter_write f;
    ssize_t n;
};
static weft_poll wb_write(void *a, weft_cx *cx)
{
    struct wb *w = a;
    return weft_bufwriter_write_poll(&w->f, cx, &w->n);
}
static weft_poll wb_flush(void *a, weft_cx *cx)
{
    struct wb *w = a;
    return weft_bufwriter_flush_poll(&w->f, cx, &w->n);
}

static ssize_t line(weft_rt *rt, weft_bufreader *rd)
{
    struct rl r;
    weft_read_line_init(&r.f, rd, weft_deadline_in(WEFT_SEC(5)));
    ASSERT_EQ(nu_run(rt, rl_line, &r), 0);
    return r.n;
}

static void raw_send(weft_stream *s, const char *text)
{
    size_t n = strlen(text);
    ASSERT_EQ(send(weft_stream_fd(s), text, n, MSG_NOSIGNAL), (ssize_t)n);
}

TEST(read_line_until_and_views)
{
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    weft_unix_stream *a, *b;
    ASSERT_EQ(weft_unix_pair(&a, &b), 0);
    weft_bufreader rd;
    ASSERT_EQ(weft_bufreader_init(&rd, b, NULL, 0), 0);
    ASSERT_EQ(weft_bufreader_cap(&rd), WEFT_BUF_DEFAULT);

    raw_send(a, "first\nsecond\r\nthi");
    ASSERT_EQ(line(rt, &rd), 6);
    ASSERT_TRUE(memcmp(weft_bufreader_data(&rd), "first\n", 6) == 0);
    weft_bufreader_consume(&rd, 6);
    ASSERT_EQ(line(rt, &rd), 8);
    ASSERT_TRUE(memcmp(weft_bufreader_data(&rd), "second\r\n", 8) == 0);
    weft_bufreader_consume(&rd, 8);
    ASSERT_EQ(weft_bufreader_len(&rd), 3); /* "thi" read ahead */

    /* the rest of the line arrives in pieces while read_line waits */
    struct rl r;
    weft_read_line_init(&r.f, &rd, weft_deadline_in(WEFT_SEC(5)));
    struct nu_x w1;
    weft_write_all_init(&w1.f, a, "rd\n", 3, WEFT_NEVER);
    ASSERT_EQ(nu_run2(rt, rl_line, &r, nu_write_all, &w1), 0);
    ASSERT_EQ(r.n, 6);
    ASSERT_TRUE(memcmp(weft_bufreader_data(&rd), "third\n", 6) == 0);
    weft_bufreader_consume(&rd, 100); /* clamped */
    ASSERT_EQ(weft_bufreader_len(&rd), 0);

    /* a custom delimiter */
    raw_send(a, "k=v;x=y;");
    weft_read_until_init(&r.f, &rd, ';', weft_deadline_in(WEFT_SEC(5)));
    ASSERT_EQ(nu_run(rt, rl_until, &r), 0);
    ASSERT_EQ(r.n, 4);
    weft_bufreader_consume(&rd, 4);
    weft_read_until_init(&r.f, &rd, ';', weft_deadline_in(WEFT_SEC(5)));
    ASSERT_EQ(nu_run(rt, rl_until, &r), 0);
    ASSERT_EQ(r.n, 4);
    ASSERT_TRUE(memcmp(weft_bufreader_data(&rd), "x=y;", 4) == 0);
    weft_bufreader_consume(&rd, 4);

    /* a deadline while nothing comes */
    weft_read_line_init(&r.f, &rd, weft_deadline_in(WEFT_MS(20)));
    ASSERT_EQ(nu_run(rt, rl_line, &r), 0);
    ASSERT_EQ(r.n, -ETIMEDOUT);

    /* end of stream with a partial line: its length, then 0 */
    raw_send(a, "tail");
    weft_stream_shutdown(a, SHUT_WR);
    ASSERT_EQ(line(rt, &rd), 4);
    ASSERT_TRUE(weft_bufreader_eof(&rd));
    weft_bufreader_consume(&rd, 4);
    ASSERT_EQ(line(rt, &rd), 0);

    weft_bufreader_fini(&rd);
    weft_bufreader_fini(&rd); /* harmless twice */
    weft_stream_close(a);
    weft_stream_close(b);
    weft_rt_free(rt);
}

TEST(overflow_fill_and_read_exact)
{
    weft_rt *rt = nu_rt(WEFT_RT_CURRENT_THREAD);
    weft_unix_stream *a, *b;
    ASSERT_EQ(weft_unix_pair(&a, &b), 0);
    char small[16];
    weft_bufreader rd;
    ASSERT_EQ(weft_bufreader_init(&rd, b, small, sizeof small), 0);

    raw_send(a, "0123456789abcdefXYZ\n");
    ASSERT_EQ(line(rt, &rd), -EMSGSIZE); /* 16 bytes, no newline */
    ASSERT_EQ(weft_bufreader_len(&rd), 16);
    struct rl r;
    weft_bufreader_fill_init(&r.f, &rd, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, rl_fill, &r), 0);
    ASSERT_EQ(r.n, -ENOBUFS);
    weft_bufreader_consume(&rd, 10);
    weft_bufreader_fill_init(&r.f, &rd, weft_deadline_in(WEFT_SEC(5)));
    ASSERT_EQ(nu_run(rt, rl_fill, &r), 0); /* compacts, then reads "XYZ\n" */
    ASSERT_EQ(r.n, 4);
    ASSERT_EQ(line(rt, &rd), 10);
    ASSERT_TRUE(memcmp(weft_bufreader_data(&rd), "abcdefXYZ\n", 10) == 0);
    weft_bufreader_consume(&rd, 10);

    /* read_exact: partly buffered, partly read; then a big one straight into dst */
    raw_send(a, "hello, ");
    raw_send(a, "world");
    char dst[64];
    weft_bufreader_read_exact_init(&r.f, &rd, dst, 12, weft_deadline_in(WEFT_SEC(5)));
    ASSERT_EQ(nu_run(rt, rl_exact, &r), 0);
    ASSERT_EQ(r.n, 12);
    ASSERT_TRUE(memcmp(dst, "hello, world", 12) == 0);
    char big[40];
    memset(big, 'q', sizeof big);
    ASSERT_EQ(send(weft_stream_fd(a), big, sizeof big, 0), (ssize_t)sizeof big);
    weft_bufreader_read_exact_init(&r.f, &rd, dst, 40, weft_deadline_in(WEFT_SEC(5)));
    ASSERT_EQ(nu_run(rt, rl_exact, &r), 0);
    ASSERT_EQ(r.n, 40);
    ASSERT_TRUE(memcmp(dst, big, 40) == 0);

    /* the stream ends midway: -EPIPE; then a clean end: 0 */
    raw_send(a, "abc");
    weft_stream_shutdown(a, SHUT_WR);
    weft_bufreader_read_exact_init(&r.f, &rd, dst, 5, weft_deadline_in(WEFT_SEC(5)));
    ASSERT_EQ(nu_run(rt, rl_exact, &r), 0);
    ASSERT_EQ(r.n, -EPIPE);
    weft_bufreader_read_exact_init(&r.f, &rd, dst, 5, weft_deadline_in(WEFT_SEC(5)));
    ASSERT_EQ(nu_run(rt, rl_exact, &r), 0);
    ASSERT_EQ(r.n, 0);
    weft_bufreader_fill_init(&r.f, &rd, weft_deadline_in(WEFT_SEC(5)));
    ASSERT_EQ(nu_run(rt, rl_fill, &r), 0);
    ASSERT_EQ(r.n, 0);

    weft_bufreader_fini(&rd);
    weft_stream_close(a);
    weft_stream_close(b);
    weft_rt_free(rt);
}

TEST(bufwriter_buffers_flushes_and_fails)
{
    weft_rt *rt = nu_rt(WEFT_RT_MULTI_THREAD);
    weft_unix_stream *a, *b;
    ASSERT_EQ(weft_unix_pair(&a, &b), 0);
    weft_bufwriter wr;
    ASSERT_EQ(weft_bufwriter_init(&wr, a, NULL, 32), 0);
    ASSERT_EQ(weft_bufwriter_put(&wr, "abc", 3), 3);
    struct wb w;
    weft_bufwriter_write_init(&w.f, &wr, "defgh", 5, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, wb_write, &w), 0);
    ASSERT_EQ(w.n, 5);
    ASSERT_EQ(weft_bufwriter_len(&wr), 8);
    char buf[256];
    ASSERT_EQ(recv(weft_stream_fd(b), buf, sizeof buf, MSG_DONTWAIT), -1); /* nothing sent */

    /* does not fit: flush the 8, then buffer the 30 */
    char thirty[30];
    memset(thirty, 't', 30);
    weft_bufwriter_write_init(&w.f, &wr, thirty, 30, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, wb_write, &w), 0);
    ASSERT_EQ(w.n, 30);
    ASSERT_EQ(weft_bufwriter_len(&wr), 30);
    ASSERT_EQ(nu_raw_read_full(weft_stream_fd(b), buf, 8), 8);
    ASSERT_TRUE(memcmp(buf, "abcdefgh", 8) == 0);

    /* bigger than the buffer: flush, then straight out */
    char hundred[100];
    memset(hundred, 'h', 100);
    weft_bufwriter_write_init(&w.f, &wr, hundred, 100, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, wb_write, &w), 0);
    ASSERT_EQ(w.n, 100);
    ASSERT_EQ(weft_bufwriter_len(&wr), 0);
    ASSERT_EQ(nu_raw_read_full(weft_stream_fd(b), buf, 130), 130);
    ASSERT_TRUE(memcmp(buf, thirty, 30) == 0 && memcmp(buf + 30, hundred, 100) == 0);

    /* flush of nothing, then of something */
    weft_bufwriter_flush_init(&w.f, &wr, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, wb_flush, &w), 0);
    ASSERT_EQ(w.n, 0);
    ASSERT_EQ(weft_bufwriter_put(&wr, "zz", 2), 2);
    weft_bufwriter_flush_init(&w.f, &wr, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, wb_flush, &w), 0);
    ASSERT_EQ(w.n, 2);

    /* the peer is gone: the flush fails and the bytes stay buffered */
    weft_stream_close(b);
    ASSERT_EQ(weft_bufwriter_put(&wr, "lost", 4), 4);
    weft_bufwriter_flush_init(&w.f, &wr, WEFT_NEVER);
    ASSERT_EQ(nu_run(rt, wb_flush, &w), 0);
    ASSERT_EQ(w.n, -EPIPE);
    ASSERT_EQ(weft_bufwriter_len(&wr), 4);
    ASSERT_EQ(weft_bufwriter_put(&wr, thirty, 30), 28); /* only the room left */

    weft_bufwriter_fini(&wr);
    weft_bufwriter_fini(&wr);
    weft_stream_close(a);
    weft_rt_free(rt);
}

/* A task whose reader fill is in flight when it is aborted: the allocated buffer goes with
 * the operation and is freed when the kernel lets go (ASan checks). */
struct reader_task {
    WEFT_ASYNC_STATE;
    weft_stream *s;
    weft_bufreader rd;
    weft_read_line line;
    ssize_t n;
};
static weft_poll reader_task_poll(void *st, weft_cx *cx, void *out)
{
    struct reader_task *t = st;
    (void)out;
    WEFT_ASYNC_BEGIN(t);
    if (weft_bufreader_init(&t->rd, t->s, NULL, 0) < 0)
        WEFT_ASYNC_FAIL(t, -ENOMEM);
    weft_read_line_init(&t->line, &t->rd, WEFT_NEVER);
    WEFT_AWAIT(t, weft_read_line_poll(&t->line, cx, &t->n));
    WEFT_ASYNC_END(t);
}
static void reader_task_drop(void *st)
{
    struct reader_task *t = st;
    weft_read_line_drop(&t->line); /* futures first, then the reader */
    weft_bufreader_fini(&t->rd);
}
static const weft_future_type reader_task_type = {.name = "reader",
                                                  .poll = reader_task_poll,
                                                  .drop = reader_task_drop,
                                                  .state_size = sizeof(struct reader_task)};

TEST(abort_with_a_fill_in_flight)
{
    for (int fl = 0; fl < 2; fl++) {
        weft_rt *rt = nu_rt(fl ? WEFT_RT_CURRENT_THREAD : WEFT_RT_MULTI_THREAD);
        weft_unix_stream *a, *b;
        ASSERT_EQ(weft_unix_pair(&a, &b), 0);
        weft_join *j;
        ASSERT_EQ(weft_spawn(rt, &reader_task_type, &(struct reader_task){.s = b}, &j), 0);
        if (fl == 0) {
            usleep(30 * 1000);
            weft_join_abort(j);
            ASSERT_EQ(weft_join_wait(j, NULL, 0), -ECANCELED);
        } else {
            /* current-thread: let it reach the kernel inside a block_on, then abort */
            struct nu_x x;
            weft_read_some_init(&x.f, a, NULL, 0, weft_deadline_in(WEFT_MS(20)));
            char c;
            weft_read_some_init(&x.f, a, &c, 1, weft_deadline_in(WEFT_MS(20)));
            ASSERT_EQ(nu_xfer(rt, nu_read_some, &x), -ETIMEDOUT);
            weft_join_abort(j);
            weft_join_detach(j);
        }
        raw_send(a, "late data\n"); /* lands after the drop: in the orphaned buffer */
        weft_stream_close(a);
        weft_stream_close(b);
        weft_rt_free(rt);
    }
}

TEST_MAIN()
