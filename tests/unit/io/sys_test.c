/* src/sys: -errno results, the flags every wrapper adds, and the fault-injection seam.
 * (Lives beside the io tests because src/sys has no test folder of its own yet.) */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sys/sys.h"

static void assert_cloexec_nonblock(int fd, bool nonblock)
{
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    ASSERT_EQ(!!(fcntl(fd, F_GETFL) & O_NONBLOCK), nonblock);
}

TEST(created_descriptors_are_cloexec)
{
    int fd = weft__sys_socket(AF_INET, SOCK_STREAM, 0);
    assert_cloexec_nonblock(fd, true);
    weft__sys_close(fd);

    int sv[2];
    ASSERT_EQ(weft__sys_socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_cloexec_nonblock(sv[0], true);
    assert_cloexec_nonblock(sv[1], true);
    weft__sys_close(sv[0]);
    weft__sys_close(sv[1]);

    fd = weft__sys_eventfd(0, 0);
    assert_cloexec_nonblock(fd, false);
    weft__sys_close(fd);
    fd = weft__sys_eventfd(0, EFD_NONBLOCK);
    assert_cloexec_nonblock(fd, true);
    weft__sys_close(fd);

    int p[2];
    ASSERT_EQ(weft__sys_pipe2(p, 0), 0);
    assert_cloexec_nonblock(p[0], false);
    assert_cloexec_nonblock(p[1], false);
    weft__sys_close(p[0]);
    weft__sys_close(p[1]);

    fd = weft__sys_openat(AT_FDCWD, "/dev/null", O_RDONLY, 0);
    assert_cloexec_nonblock(fd, false);
    weft__sys_close(fd);
}

TEST(errors_are_negative_errno)
{
    char c;
    ASSERT_EQ(weft__sys_read(-1, &c, 1, -1), -EBADF);
    ASSERT_EQ(weft__sys_close(-1), -EBADF);
    ASSERT_EQ(weft__sys_openat(AT_FDCWD, "/nonexistent/weft", O_RDONLY, 0), -ENOENT);
    int sv[2];
    ASSERT_EQ(weft__sys_socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ASSERT_EQ(weft__sys_recv(sv[0], &c, 1, MSG_DONTWAIT), -EAGAIN);
    ASSERT_EQ(weft__sys_accept4(sv[0], NULL, NULL), -EINVAL);
    weft__sys_close(sv[0]);
    weft__sys_close(sv[1]);
}

TEST(send_never_raises_sigpipe)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
    ASSERT_EQ(sigaction(SIGPIPE, &dfl, &old), 0); /* a SIGPIPE would now kill the test */
    int sv[2];
    ASSERT_EQ(weft__sys_socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    weft__sys_close(sv[1]);
    ASSERT_EQ(weft__sys_send(sv[0], "x", 1, 0), -EPIPE);
    struct iovec iov = {"y", 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    ASSERT_EQ(weft__sys_sendmsg(sv[0], &m, 0), -EPIPE);
    weft__sys_close(sv[0]);
    ASSERT_EQ(sigaction(SIGPIPE, &old, NULL), 0);
}

TEST(injected_eintr_is_retried)
{
    int sv[2];
    ASSERT_EQ(weft__sys_socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    weft__sys_fault_inject(WEFT__SYS_WRITE, EINTR, 0, 5);
    ASSERT_EQ(weft__sys_write(sv[0], "abc", 3, -1), 3);
    ASSERT_EQ(weft__sys_fault_hits(WEFT__SYS_WRITE), 5);
    char buf[4];
    weft__sys_fault_inject(WEFT__SYS_READ, EINTR, 0, 2);
    ASSERT_EQ(weft__sys_read(sv[1], buf, sizeof buf, -1), 3);
    ASSERT_EQ(weft__sys_fault_hits(WEFT__SYS_READ), 2);
    /* close: EINTR means "closed anyway", reported as success and never retried */
    weft__sys_fault_inject(WEFT__SYS_CLOSE, EINTR, 0, 1);
    ASSERT_EQ(weft__sys_close(sv[0]), 0);
    ASSERT_TRUE(fcntl(sv[0], F_GETFD) >= 0); /* injected: the real close was skipped */
    ASSERT_EQ(weft__sys_close(sv[0]), 0);
    weft__sys_close(sv[1]);
    weft__sys_fault_clear();
}

TEST(injected_errors_skip_and_count)
{
    int sv[2];
    ASSERT_EQ(weft__sys_socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    /* let two calls through, fail the next two with ENOMEM, then behave again */
    weft__sys_fault_inject(WEFT__SYS_SEND, ENOMEM, 2, 2);
    ASSERT_EQ(weft__sys_send(sv[0], "a", 1, 0), 1);
    ASSERT_EQ(weft__sys_send(sv[0], "b", 1, 0), 1);
    ASSERT_EQ(weft__sys_send(sv[0], "c", 1, 0), -ENOMEM);
    ASSERT_EQ(weft__sys_send(sv[0], "d", 1, 0), -ENOMEM);
    ASSERT_EQ(weft__sys_send(sv[0], "e", 1, 0), 1);
    ASSERT_EQ(weft__sys_fault_hits(WEFT__SYS_SEND), 2);

    weft__sys_fault_inject(WEFT__SYS_ACCEPT4, EMFILE, 0, 1);
    ASSERT_EQ(weft__sys_accept4(sv[0], NULL, NULL), -EMFILE);
    ASSERT_EQ(weft__sys_accept4(sv[0], NULL, NULL), -EINVAL); /* the real answer again */

    weft__sys_fault_inject(WEFT__SYS_RECV, EAGAIN, 0, 1);
    char buf[8];
    ASSERT_EQ(weft__sys_recv(sv[1], buf, sizeof buf, 0), -EAGAIN);
    ASSERT_EQ(weft__sys_recv(sv[1], buf, sizeof buf, 0), 3);

    weft__sys_fault_inject(WEFT__SYS_SOCKET, EMFILE, 0, 100);
    ASSERT_EQ(weft__sys_socket(AF_INET, SOCK_STREAM, 0), -EMFILE);
    weft__sys_fault_inject(WEFT__SYS_SOCKET, 0, 0, 0); /* disarm one */
    int fd = weft__sys_socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    weft__sys_close(fd);

    weft__sys_fault_inject(WEFT__SYS_EVENTFD, EMFILE, 0, 1);
    weft__sys_fault_clear();
    fd = weft__sys_eventfd(0, 0);
    ASSERT_GE(fd, 0);
    weft__sys_close(fd);
    weft__sys_close(sv[0]);
    weft__sys_close(sv[1]);
}

static void *inject_reader(void *arg)
{
    int *fd = arg;
    char c;
    int fails = 0;
    for (int i = 0; i < 2000; i++)
        fails += weft__sys_read(*fd, &c, 1, -1) == -ENOMEM;
    return (void *)(intptr_t)fails;
}

TEST(injection_is_thread_safe)
{
    int sv[2];
    ASSERT_EQ(weft__sys_socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    weft__sys_fault_inject(WEFT__SYS_READ, ENOMEM, 0, 1000);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(pthread_create(&t[i], NULL, inject_reader, &sv[0]), 0);
    intptr_t total = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        ASSERT_EQ(pthread_join(t[i], &r), 0);
        total += (intptr_t)r;
    }
    ASSERT_EQ(total, 1000); /* exactly count failures, shared by all threads */
    ASSERT_EQ(weft__sys_fault_hits(WEFT__SYS_READ), 1000);
    weft__sys_fault_clear();
    weft__sys_close(sv[0]);
    weft__sys_close(sv[1]);
}

TEST(close_generation_moves_on_close)
{
    int fd = weft__sys_eventfd(0, 0);
    uint32_t g = weft__sys_fd_gen(fd);
    weft__sys_close(fd);
    ASSERT_NE(weft__sys_fd_gen(fd), g);
    ASSERT_EQ(weft__sys_fd_gen(-1), WEFT__SYS_FD_GEN_UNKNOWN);
    ASSERT_EQ(weft__sys_fd_gen(WEFT__SYS_FD_GEN_MAX), WEFT__SYS_FD_GEN_UNKNOWN);
}

TEST(splice_and_poll)
{
    int p[2], q[2];
    ASSERT_EQ(weft__sys_pipe2(p, O_NONBLOCK), 0);
    ASSERT_EQ(weft__sys_pipe2(q, O_NONBLOCK), 0);
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    ASSERT_EQ(weft__sys_poll(&pf, 1, 0), 0);
    ASSERT_EQ(weft__sys_write(p[1], "hello", 5, -1), 5);
    ASSERT_EQ(weft__sys_poll(&pf, 1, 0), 1);
    ASSERT_EQ(weft__sys_splice(p[0], NULL, q[1], NULL, 5, SPLICE_F_NONBLOCK), 5);
    char buf[8];
    ASSERT_EQ(weft__sys_read(q[0], buf, sizeof buf, -1), 5);
    ASSERT_EQ(weft__sys_splice(p[0], NULL, q[1], NULL, 5, SPLICE_F_NONBLOCK), -EAGAIN);
    for (int i = 0; i < 2; i++)
        weft__sys_close(p[i]), weft__sys_close(q[i]);
}

TEST_MAIN()
