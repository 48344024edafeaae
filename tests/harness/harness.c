#include "test.h"

#include <signal.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS 256

static struct {
    const char *name;
    weft_test_fn fn;
} tests[MAX_TESTS];
static int ntests;
static const char *current;

void weft_test_register(const char *name, weft_test_fn fn)
{
    if (ntests == MAX_TESTS) {
        fprintf(stderr, "too many tests in one file\n");
        abort();
    }
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    ntests++;
}

void weft_test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "FAIL %s (%s:%d): ", current ? current : "?", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

int64_t weft_test_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double weft_test_scale(void)
{
    const char *s = getenv("WEFT_TEST_SCALE");
    if (s)
        return atof(s);
#if defined(WEFT_SANITIZE_ADDRESS) || defined(WEFT_SANITIZE_THREAD)
    return 0.1;
#else
    return 1.0;
#endif
}

static void on_alarm(int sig)
{
    static const char msg[] = "FAIL: watchdog timeout in test ";
    (void)sig;
    (void)!write(2, msg, sizeof msg - 1);
    if (current)
        (void)!write(2, current, strlen(current));
    (void)!write(2, "\n", 1);
    _exit(124);
}

int weft_test_main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    const char *t = getenv("WEFT_TEST_TIMEOUT");
    int ran = 0;

    signal(SIGALRM, on_alarm);
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < ntests; i++) {
        if (only && strcmp(only, tests[i].name) != 0)
            continue;
        current = tests[i].name;
        alarm(t ? (unsigned)atoi(t) : 170);
        int64_t t0 = weft_test_now_ns();
        tests[i].fn();
        alarm(0);
        fprintf(stderr, "ok %s (%.1f ms)\n", tests[i].name, (weft_test_now_ns() - t0) / 1e6);
        ran++;
    }
    current = NULL;
    if (ran == 0) {
        fprintf(stderr, "no test matched\n");
        return 1;
    }
    return 0;
}
