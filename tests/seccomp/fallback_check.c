/* seccomp_fallback: run by CTest under tests/seccomp/no_uring (F9). With io_uring forbidden by
 * the seccomp filter, creating runtimes prints exactly one line "weft: io_uring unavailable
 * (setup: EPERM); using epoll" on stderr, every reactor is epoll, and files work (through the
 * blocking pool's fs lane). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "io/io.h"
#include "test.h"
#include "weft.h"

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif

/* Write a file and read it back through weft on rt. */
struct roundtrip {
    const char *path;
    WEFT_ASYNC_STATE;
    weft_file_open open;
    weft_file_write wr;
    weft_file_read rd;
    weft_file *f;
    int err;
    ssize_t n;
    char buf[32];
};

static weft_poll roundtrip_poll(void *state, weft_cx *cx, void *out)
{
    struct roundtrip *s = state;
    int *res = out;
    WEFT_ASYNC_BEGIN(s);
    weft_file_open_init(&s->open, s->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    WEFT_AWAIT(s, weft_file_open_poll(&s->open, cx, &s->f, &s->err));
    if (s->err < 0) {
        *res = s->err;
        WEFT_ASYNC_RETURN(s);
    }
    weft_file_write_all_init(&s->wr, s->f, "no io_uring here", 16, 0);
    WEFT_AWAIT(s, weft_file_write_poll(&s->wr, cx, &s->n));
    weft_file_read_all_init(&s->rd, s->f, s->buf, sizeof s->buf, 0);
    WEFT_AWAIT(s, weft_file_read_poll(&s->rd, cx, &s->n));
    *res = (s->n == 16 && memcmp(s->buf, "no io_uring here", 16) == 0) ? 0 : -EIO;
    weft_file_free(s->f);
    WEFT_ASYNC_END(s);
}

static const weft_future_type roundtrip_type = {
    .name = "roundtrip",
    .poll = roundtrip_poll,
    .state_size = sizeof(struct roundtrip),
    .out_size = sizeof(int),
};

TEST(filter_is_active)
{
    unsigned char params[120] = {0};
    errno = 0;
    ASSERT_EQ(syscall(__NR_io_uring_setup, 4, params), -1);
    ASSERT_EQ(errno, EPERM);
    ASSERT_TRUE(getenv("WEFT_IO_BACKEND") == NULL); /* the probe decides, not an override */
}

TEST(one_fallback_line_and_epoll_everywhere)
{
    /* Capture stderr while the runtimes are created. */
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    int saved = dup(2);
    ASSERT_GE(saved, 0);
    ASSERT_EQ(dup2(p[1], 2), 2);
    weft_rt *mt = NULL, *ct = NULL;
    int e1 = weft_rt_new(&mt, &(weft_rt_config){.workers = 2, .thread_name = "nou"});
    int e2 = weft_rt_new(&ct, &(weft_rt_config){.flavor = WEFT_RT_CURRENT_THREAD});
    ASSERT_EQ(dup2(saved, 2), 2);
    close(saved);
    close(p[1]);
    char log[4096];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof log - 1 && (r = read(p[0], log + len, sizeof log - 1 - len)) > 0)
        len += (size_t)r;
    log[len] = '\0';
    close(p[0]);
    fputs(log, stderr); /* keep it in the CTest log */
    ASSERT_EQ(e1, 0);
    ASSERT_EQ(e2, 0);

    const char *first = strstr(log, "weft: io_uring unavailable");
    ASSERT_TRUE(first != NULL);
    ASSERT_TRUE(strstr(first + 1, "weft: io_uring unavailable") == NULL); /* once per process */
    ASSERT_TRUE(strstr(log, "EPERM") != NULL);
    ASSERT_EQ(weft__io_backend_of(mt), WEFT__IO_BACKEND_EPOLL);
    ASSERT_EQ(weft__io_backend_of(ct), WEFT__IO_BACKEND_EPOLL);

    char path[256];
    snprintf(path, sizeof path, "%s/weft_no_uring_%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    struct roundtrip init = {.path = path};
    int res = 1;
    ASSERT_EQ(weft_rt_block_on(mt, &roundtrip_type, &init, &res), 0);
    ASSERT_EQ(res, 0);
    res = 1;
    ASSERT_EQ(weft_rt_block_on(ct, &roundtrip_type, &init, &res), 0);
    ASSERT_EQ(res, 0);
    weft_blocking_stats st;
    ASSERT_EQ(weft_blocking_stats_get(mt, WEFT_LANE_FS, &st), 0);
    ASSERT_GE(st.jobs_run, 3); /* files went through the fs lane */
    unlink(path);
    weft_rt_free(ct);
    weft_rt_free(mt);
}

TEST_MAIN()
