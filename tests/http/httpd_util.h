/* tests/http/httpd_util.h - start the weft-httpd binary on a free port and talk to it over raw
 * loopback sockets. Header-only; every test file that drives the real server includes it.
 * The backend comes from WEFT_IO_BACKEND, which CTest sets per registration (@uring/@epoll)
 * and the child inherits. */
#ifndef WEFT_TESTS_HTTPD_UTIL_H
#define WEFT_TESTS_HTTPD_UTIL_H

#include "test.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct srv {
    pid_t pid;
    int port;
    int err_fd; /* the read end of the child's stderr */
    char root[256];
} srv;

static inline int64_t hu_now_ms(void)
{
    return weft_test_now_ns() / 1000000;
}

/* A scratch document root with a few files. */
static inline void hu_make_root(char *root, size_t cap)
{
    snprintf(root, cap, "/tmp/weft-httpd-test-%d-%d", (int)getpid(), rand());
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/dir %s/empty && printf 'Hello, files!\\n' > %s/hello.txt && "
             "printf '<h1>home</h1>\\n' > %s/index.html && printf 'x' > %s/dir/a.txt && "
             "head -c 4096 /dev/urandom > %s/4k.bin && head -c 20000000 /dev/zero > %s/20m.bin",
             root, root, root, root, root, root, root);
    ASSERT_EQ(system(cmd), 0);
}

static inline void hu_remove_root(const char *root)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s.log", root, root);
    (void)!system(cmd);
}

/* Servers still running when a test fails (the harness exits): killed at exit. */
static pid_t hu_children[16];

static inline void hu_kill_children(void)
{
    for (int i = 0; i < 16; i++)
        if (hu_children[i] > 0)
            kill(hu_children[i], SIGKILL);
}

/* Start weft-httpd with the given extra arguments (NULL-terminated), on 127.0.0.1:0; parses
 * the real port from its start-up line. */
static inline void hu_start(srv *s, ...)
{
    memset(s, 0, sizeof *s);
    hu_make_root(s->root, sizeof s->root);
    const char *argv[64];
    int n = 0;
    argv[n++] = WEFT_HTTPD_BIN;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--root";
    argv[n++] = s->root;
    va_list ap;
    va_start(ap, s);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 62)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    /* The server's stderr goes to <root>.log (kept when a test fails: sanitizer reports
     * land there); the start-up line gives the port. */
    char logp[300];
    snprintf(logp, sizeof logp, "%s.log", s->root);
    int logfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_TRUE(logfd >= 0);
    s->pid = fork();
    ASSERT_TRUE(s->pid >= 0);
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed (aborted) test leaves no server behind */
        dup2(logfd, 2);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(logfd);
    s->err_fd = open(logp, O_RDONLY | O_CLOEXEC);
    static bool registered;
    if (!registered) {
        registered = true;
        atexit(hu_kill_children);
    }
    for (int i = 0; i < 16; i++)
        if (hu_children[i] <= 0) {
            hu_children[i] = s->pid;
            break;
        }
    char buf[1024] = "";
    int64_t end = hu_now_ms() + 20000;
    while (hu_now_ms() < end) {
        ssize_t r = pread(s->err_fd, buf, sizeof buf - 1, 0);
        if (r > 0) {
            buf[r] = 0;
            char *at = strstr(buf, "http://127.0.0.1:");
            if (at && strchr(at + 17, '/')) {
                s->port = atoi(at + 17);
                break;
            }
        }
        usleep(10000);
    }
    if (s->port <= 0)
        fprintf(stderr, "server did not start: %s\n", buf);
    ASSERT_GT(s->port, 0);
}

/* Send sig, wait for the exit; returns the exit status (or 128+signal), -1 on timeout. */
static inline int hu_stop_sig(srv *s, int sig, int timeout_ms)
{
    if (s->pid <= 0)
        return -1;
    if (sig)
        kill(s->pid, sig);
    int64_t end = hu_now_ms() + timeout_ms;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid) {
            for (int i = 0; i < 16; i++)
                if (hu_children[i] == s->pid)
                    hu_children[i] = 0;
            break;
        }
        if (hu_now_ms() > end) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
            s->pid = 0;
            return -1;
        }
        usleep(10000);
    }
    s->pid = 0;
    close(s->err_fd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static inline void hu_stop(srv *s)
{
    ASSERT_EQ(hu_stop_sig(s, SIGTERM, 15000), 0);
    hu_remove_root(s->root);
}

static inline int hu_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_TRUE(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -errno;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static inline void hu_send(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        ASSERT_GT(w, 0);
        c += w;
        n -= (size_t)w;
    }
}

static inline void hu_sends(int fd, const char *s)
{
    hu_send(fd, s, strlen(s));
}

/* Read until the peer closes, `want` bytes arrived, or timeout. Returns the byte count;
 * *closed tells whether EOF (or a reset) was seen. out is NUL-terminated. */
static inline size_t hu_recv(int fd, char *out, size_t cap, size_t want, int timeout_ms,
                             bool *closed)
{
    size_t len = 0;
    int64_t end = hu_now_ms() + timeout_ms;
    if (closed)
        *closed = false;
    while (len < cap - 1 && len < want) {
        int64_t left = end - hu_now_ms();
        if (left <= 0)
            break;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, (int)left) <= 0)
            continue;
        ssize_t r = recv(fd, out + len, cap - 1 - len, 0);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            if (closed)
                *closed = true;
            break;
        }
        len += (size_t)r;
    }
    out[len] = 0;
    return len;
}

/* Count complete responses with their status codes in a byte stream of responses that carry
 * Content-Length (HEAD-free). Returns how many were complete. */
static inline int hu_statuses(const char *p, size_t len, int *st, int max)
{
    int n = 0;
    const char *end = p + len;
    while (n < max && p < end) {
        const char *h = strstr(p, "\r\n\r\n");
        if (!h || strncmp(p, "HTTP/1.1 ", 9) != 0)
            break;
        long cl = 0;
        const char *c = strstr(p, "Content-Length: ");
        if (c && c < h)
            cl = atol(c + 16);
        if (h + 4 + cl > end)
            break;
        st[n++] = atoi(p + 9);
        p = h + 4 + cl;
    }
    return n;
}

/* One request on a fresh connection: returns the status, the whole response in out. */
static inline int hu_request(int port, const char *req, char *out, size_t cap)
{
    int fd = hu_connect(port);
    ASSERT_TRUE(fd >= 0);
    hu_sends(fd, req);
    bool closed;
    size_t n = hu_recv(fd, out, cap, cap, 5000, &closed);
    close(fd);
    return n > 12 ? atoi(out + 9) : 0;
}

/* The server's resident memory in KiB (VmRSS) and its PSS (smaps_rollup). */
static inline long hu_rss_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path,
             strcmp(field, "Pss:") == 0 ? "/proc/%d/smaps_rollup" : "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, strlen(field)) == 0)
            v = atol(line + strlen(field));
    fclose(f);
    return v;
}

static inline void hu_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

#endif
