/* Driver micro-benchmark (not a CTest test): 64-byte write+read round trips on socketpairs,
 * through each backend, with 100 ops per park (50 pairs, a write and a read each) against 1
 * op per park. Prints ns per op (a round trip is 2 ops) and kernel entries per op.
 *
 *   gcc -std=c11 -D_GNU_SOURCE -DWEFT_WITH_URING=1 -O2 -Iinclude -Isrc src/io/[a-z]*.c
 *       src/sys/sys.c tests/unit/io/io_driver_bench.c -luring -lpthread -o /tmp/io_bench
 *   /tmp/io_bench [rounds]
 *
 * Modes:
 *   batch100   per round: 50 x (write on a_i, read on b_i) submitted, then park until all
 *              100 completed (io_uring: one enter; epoll: the syscalls run at submit)
 *   single     per op: submit, park until it completed (write, park, read, park)
 *   batch100rf the read is submitted before the write, so on epoll it has to wait for
 *              readiness (EAGAIN, registration once, epoll_wait, retry): the echo-server case
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "io/driver.h"
#include "sys/sys.h"

enum { PAIRS = 50, MSG = 64 };

struct slot {
    struct weft__io_op op;
    int *left;
};

static void slot_done(struct weft__io_op *op)
{
    struct slot *s = WEFT__IO_CONTAINER(op, struct slot, op);
    if (op->res != MSG) {
        fprintf(stderr, "bench: op result %d\n", op->res);
        exit(1);
    }
    (*s->left)--;
}

static int64_t now_ns(void)
{
    return weft__sys_now();
}

static void drain(struct weft__io_driver *d, int *left)
{
    while (*left > 0)
        if (weft__io_park(d, INT64_MAX) < 0)
            exit(1);
}

/* Returns ns per op; *enters_per_op and *sys_per_op get the kernel-entry counts. */
static double run(struct weft__io_driver *d, int mode, int rounds, double *enters_per_op,
                  double *sys_per_op)
{
    static int sv[PAIRS][2];
    static char out[PAIRS][MSG], in[PAIRS][MSG];
    static struct slot w[PAIRS], r[PAIRS];
    int left = 0;

    for (int i = 0; i < PAIRS; i++) {
        if (weft__sys_socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) < 0)
            exit(1);
        memset(out[i], 'a' + i % 26, MSG);
        w[i].left = r[i].left = &left;
    }
    const struct weft__io_stats *st = weft__io_driver_stats(d);
    uint64_t e0 = 0, s0 = 0;
    int64_t t0 = 0;
    long ops = 0;
    for (int round = -rounds / 10; round < rounds; round++) { /* first 10%: warm-up */
        if (round == 0) {
            e0 = st->enters, s0 = st->syscalls, t0 = now_ns(), ops = 0;
        }
        if (mode == 1) { /* single */
            for (int i = 0; i < PAIRS; i++) {
                weft__io_prep_write(&w[i].op, sv[i][0], out[i], MSG, -1, slot_done);
                left = 1;
                weft__io_submit(d, &w[i].op);
                drain(d, &left);
                weft__io_prep_read(&r[i].op, sv[i][1], in[i], MSG, -1, slot_done);
                left = 1;
                weft__io_submit(d, &r[i].op);
                drain(d, &left);
            }
        } else {
            left = 2 * PAIRS;
            for (int i = 0; i < PAIRS; i++) {
                weft__io_prep_write(&w[i].op, sv[i][0], out[i], MSG, -1, slot_done);
                weft__io_prep_read(&r[i].op, sv[i][1], in[i], MSG, -1, slot_done);
                if (mode == 2) {
                    weft__io_submit(d, &r[i].op);
                    weft__io_submit(d, &w[i].op);
                } else {
                    weft__io_submit(d, &w[i].op);
                    weft__io_submit(d, &r[i].op);
                }
            }
            drain(d, &left);
        }
        ops += 2 * PAIRS;
    }
    double ns = (double)(now_ns() - t0) / (double)ops;
    *enters_per_op = (double)(st->enters - e0) / (double)ops;
    *sys_per_op = (double)(st->syscalls - s0) / (double)ops;
    for (int i = 0; i < PAIRS; i++) {
        weft__sys_close(sv[i][0]);
        weft__sys_close(sv[i][1]);
    }
    return ns;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 2000;
    enum { REPS = 5 };
    static const struct {
        const char *label;
        struct weft__io_config cfg;
    } backends[] = {
        {"io_uring/defer_taskrun", {.backend = WEFT__IO_BACKEND_URING}},
        {"io_uring/coop_taskrun", {.backend = WEFT__IO_BACKEND_URING, .uring_first_rung = 1}},
        {"epoll", {.backend = WEFT__IO_BACKEND_EPOLL}},
    };
    static const char *modes[] = {"batch100", "single", "batch100rf"};

    unsetenv("WEFT_IO_BACKEND");
    printf("%-24s %-11s %10s %14s %14s\n", "backend", "mode", "ns/op", "enters/op",
           "syscalls/op");
    for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
        for (int m = 0; m < 3; m++) {
            double ns[REPS], e = 0, s = 0;
            /* interleave nothing else: one driver per repetition, median of REPS */
            for (int rep = 0; rep < REPS; rep++) {
                struct weft__io_driver *d;
                if (weft__io_driver_new(&d, &backends[b].cfg) < 0)
                    return 1;
                if (strcmp(weft__io_driver_name(d), backends[b].label) != 0) {
                    fprintf(stderr, "skipping %s (got %s)\n", backends[b].label,
                            weft__io_driver_name(d));
                    weft__io_driver_free(d);
                    goto next_backend;
                }
                ns[rep] = run(d, m, m == 1 ? rounds / 4 : rounds, &e, &s);
                weft__io_driver_free(d);
            }
            qsort(ns, REPS, sizeof ns[0], cmp_double);
            printf("%-24s %-11s %10.0f %14.3f %14.3f\n", backends[b].label, modes[m],
                   ns[REPS / 2], e, s);
        }
    next_backend:;
    }
    return 0;
}
