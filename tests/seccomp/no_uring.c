/* no_uring - run a program with io_uring forbidden, as Docker's default seccomp profile does
 * (reliability.md F9; research/runtime-internals.md 3.1).
 *
 *   no_uring PROGRAM [ARG...]   install the filter, then exec PROGRAM
 *   no_uring --check            install the filter and verify it: io_uring_setup must fail
 *                               with EPERM (exit 0), anything else exits 1
 *
 * The filter (seccomp BPF, after PR_SET_NO_NEW_PRIVS so no privilege is needed) makes
 * io_uring_setup, io_uring_enter and io_uring_register fail with EPERM and allows every other
 * system call; it is inherited across execve and by every thread and child. A process of
 * another architecture than this build's (a 32-bit program) is refused outright (ENOSYS from
 * the filter), so it cannot slip past under other system call numbers. WEFT_IO_BACKEND is
 * removed from the environment so that weft's own probe, not an override, picks the backend.
 *
 * Registered by tests/extra.cmake: every IO test (name@epoll exists) gets a name@no_uring
 * twin run through this launcher (labels io;seccomp), and seccomp_fallback checks the one
 * fallback line weft prints.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#elif defined(__riscv) && __riscv_xlen == 64
#define NATIVE_ARCH AUDIT_ARCH_RISCV64
#else
#error "no_uring: add this architecture's AUDIT_ARCH_ value"
#endif

#ifndef __NR_io_uring_setup /* same numbers on every architecture since 5.1 */
#define __NR_io_uring_setup    425
#define __NR_io_uring_enter    426
#define __NR_io_uring_register 427
#endif

#define X32_BIT 0x40000000u /* x86_64's x32 ABI: same numbers with this bit set */

static int install_filter(void)
{
    struct sock_filter prog[] = {
        /* Refuse foreign architectures: their numbers mean other calls. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        /* The call number, without the x32 bit. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, ~X32_BIT),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_register, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
    };
    struct sock_fprog fprog = {.len = sizeof prog / sizeof prog[0], .filter = prog};

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        perror("no_uring: PR_SET_NO_NEW_PRIVS");
        return -1;
    }
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) != 0) {
        perror("no_uring: PR_SET_SECCOMP");
        return -1;
    }
    return 0;
}

/* io_uring_setup must now fail with EPERM; so must enter and register. */
static int check(void)
{
    unsigned char params[120]; /* struct io_uring_params */
    memset(params, 0, sizeof params);
    long r = syscall(__NR_io_uring_setup, 4, params);
    if (r >= 0 || errno != EPERM) {
        fprintf(stderr, "no_uring: io_uring_setup returned %ld (%s), expected EPERM\n", r,
                r < 0 ? strerror(errno) : "a ring");
        return 1;
    }
    r = syscall(__NR_io_uring_enter, -1, 0, 0, 0, NULL, 0);
    if (r >= 0 || errno != EPERM) {
        fprintf(stderr, "no_uring: io_uring_enter: %ld (%s), expected EPERM\n", r, strerror(errno));
        return 1;
    }
    r = syscall(__NR_io_uring_register, -1, 0, NULL, 0);
    if (r >= 0 || errno != EPERM) {
        fprintf(stderr, "no_uring: io_uring_register: %ld (%s), expected EPERM\n", r,
                strerror(errno));
        return 1;
    }
    printf("no_uring: io_uring_setup/enter/register fail with EPERM\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: no_uring PROGRAM [ARG...] | no_uring --check\n");
        return 2;
    }
    if (install_filter() != 0)
        return 1;
    if (strcmp(argv[1], "--check") == 0)
        return check();
    unsetenv("WEFT_IO_BACKEND");
    execvp(argv[1], argv + 1);
    fprintf(stderr, "no_uring: exec %s: %s\n", argv[1], strerror(errno));
    return 127;
}
