/* Crashes in a child process: a fiber stack overflow is reported as one and kills the
 * process; a fiber whose stack cannot be mapped fails its task with -ENOMEM and runs
 * opts.drop_arg. The parent never starts a thread (it only forks and waits), so forking is
 * safe here under every sanitizer. */
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "weft.h"

/* Run fn in a child; capture its stderr into buf; return its wait status. */
static int run_child(void (*fn)(void), char *buf, size_t cap)
{
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fds[0], buf + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
    close(fds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    return status;
}

/* ------------------------------------------------------------------ overflow */

static volatile int depth_limit = 1 << 30;

static int down(int n)
{
    volatile char buf[256];
    buf[0] = (char)n;
    if (n > depth_limit)
        return 0;
    return down(n + 1) + buf[0];
}

static int overflower(void *arg)
{
    (void)arg;
    weft_fiber_yield();
    return down(0);
}

static void overflow_child(void)
{
    weft_rt *rt = NULL;
    weft_join *j;
    if (weft_rt_new(&rt, &(weft_rt_config){.workers = 2}) < 0)
        _exit(3);
    if (weft_fiber_spawn(rt, overflower, NULL,
                         &(weft_fiber_opts){.stack_size = 16u << 10, .name = "overflower"},
                         &j) < 0)
        _exit(4);
    weft_join_wait(j, NULL, 0);
    _exit(5); /* not reached: the overflow kills the process */
}

TEST(stack_overflow_is_reported_and_kills)
{
    char buf[8192];
    int status = run_child(overflow_child, buf, sizeof buf);
    fprintf(stderr, "child status %#x stderr: %.400s\n", status, buf);
    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), SIGSEGV);
    ASSERT_TRUE(strstr(buf, "weft: fiber stack overflow (fiber ") != NULL);
    ASSERT_TRUE(strstr(buf, " overflower)") != NULL);
}

/* A fault that is not a fiber overflow still reaches the previous disposition. */
static int null_deref(void *arg)
{
    return *(volatile int *)((uintptr_t)arg + 64); /* page zero, but not NULL (UBSan) */
}

static void other_fault_child(void)
{
    weft_rt *rt = NULL;
    weft_join *j;
    if (weft_rt_new(&rt, &(weft_rt_config){.workers = 1}) < 0)
        _exit(3);
    if (weft_fiber_spawn(rt, null_deref, NULL, NULL, &j) < 0)
        _exit(4);
    weft_join_wait(j, NULL, 0);
    _exit(5);
}

TEST(other_faults_are_passed_on)
{
    char buf[8192];
    int status = run_child(other_fault_child, buf, sizeof buf);
    fprintf(stderr, "child status %#x stderr: %.400s\n", status, buf);
    ASSERT_TRUE(strstr(buf, "fiber stack overflow") == NULL);
#if defined(WEFT_SANITIZE_ADDRESS)
    (void)status;
    ASSERT_TRUE(strstr(buf, "AddressSanitizer") != NULL); /* ASan's handler got it */
#else
    ASSERT_TRUE(WIFSIGNALED(status) || WEXITSTATUS(status) != 0);
    ASSERT_TRUE(!WIFEXITED(status) || WEXITSTATUS(status) != 5);
#endif
}

/* ------------------------------------------------------------------ no stack */

static _Atomic int ran_fn, ran_drop;

static int never(void *arg)
{
    (void)arg;
    atomic_fetch_add(&ran_fn, 1);
    return 0;
}

static void drop_it(void *arg)
{
    (void)arg;
    atomic_fetch_add(&ran_drop, 1);
}

static __attribute__((unused)) void enomem_child(void)
{
    weft_rt *rt = NULL;
    weft_join *j;
    if (weft_rt_new(&rt, &(weft_rt_config){.workers = 1}) < 0)
        _exit(3);
    /* Address space for the runtime, not for a 512 MiB stack. */
    struct rlimit rl = {.rlim_cur = 256u << 20, .rlim_max = 256u << 20};
    if (setrlimit(RLIMIT_AS, &rl) < 0)
        _exit(6);
    if (weft_fiber_spawn(rt, never, NULL,
                         &(weft_fiber_opts){.stack_size = 512u << 20, .drop_arg = drop_it},
                         &j) < 0)
        _exit(4);
    int r = weft_join_wait(j, NULL, 0);
    if (r != -ENOMEM)
        _exit(10);
    if (atomic_load(&ran_fn) != 0 || atomic_load(&ran_drop) != 1)
        _exit(11);
    _exit(0);
}

TEST(no_stack_fails_with_enomem_and_runs_drop_arg)
{
#if defined(WEFT_SANITIZE_ADDRESS) || defined(WEFT_SANITIZE_THREAD)
    fprintf(stderr, "skipped: sanitizers reserve terabytes of address space\n");
#else
    char buf[4096];
    int status = run_child(enomem_child, buf, sizeof buf);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
#endif
}

TEST_MAIN()
