/* weft-bench <workload>...: runs WORKLOADS.md's workloads on weft, one `metric value unit`
 * line per figure. A 180 s watchdog ends a hung run. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static const struct bench_workload *const workloads[] = {
    &bench_spawn_many,    &bench_spawn_many_ct, &bench_chained_spawn,
    &bench_chained_spawn_ct, &bench_yield_many, &bench_yield_many_ct,
    &bench_ping_pong, &bench_ping_pong_ct, &bench_mpsc_bounded, &bench_mpsc_unbounded,
    &bench_semaphore,
    &bench_sleep_1000x50ms, &bench_timer_churn, &bench_sleep_1Mx100ms, &bench_pending_1M,
    &bench_priority_latency, &bench_spawn_many_scope,
    &bench_spawn_blocking,
    &bench_fiber_spawn_many, &bench_fiber_yield_many, &bench_fiber_ping_pong,
    &bench_pending_100k_fibers,
    &bench_file_read_4k,
    &bench_tcp_echo,
};
#define NWORKLOADS (sizeof workloads / sizeof workloads[0])

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median_ns(weft_rt *rt, const weft_future_type *type, const void *init)
{
    double v[BENCH_ITERS];
    for (int i = 0; i < BENCH_WARMUP + BENCH_ITERS; i++) {
        int64_t ns = 0;
        int err = weft_rt_block_on(rt, type, init, &ns);
        if (err < 0)
            bench_fail(type->name, err);
        if (i >= BENCH_WARMUP)
            v[i - BENCH_WARMUP] = (double)ns;
    }
    qsort(v, BENCH_ITERS, sizeof v[0], cmp_double);
    return v[BENCH_ITERS / 2];
}

/* --prometheus FILE / --trace FILE: written for each runtime at its bench_rt_free. */
static const char *prometheus_path, *trace_path;

static void write_file(const char *path, int (*writer)(weft_rt *, int), weft_rt *rt)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err = fd < 0 ? -errno : writer(rt, fd);
    if (fd >= 0)
        close(fd);
    if (err < 0)
        fprintf(stderr, "weft-bench: %s: %s\n", path, weft_strerror(err));
}

void bench_rt_free(weft_rt *rt)
{
    if (rt && prometheus_path)
        write_file(prometheus_path, weft_metrics_prometheus_write, rt);
    if (rt && trace_path && weft_trace_stop(rt) == 0)
        write_file(trace_path, weft_trace_write, rt);
    (weft_rt_free)(rt);
}

weft_rt *bench_rt(weft_rt_flavor flavor)
{
    weft_rt *rt;
    int err = weft_rt_new(&rt, &(weft_rt_config){.flavor = flavor, .workers = 2});
    if (err < 0)
        bench_fail("weft_rt_new", err);
    if (trace_path && (err = weft_trace_start(rt, 1u << 18)) < 0)
        bench_fail("weft_trace_start", err);
    return rt;
}

void bench_out(const char *metric, double value, const char *unit)
{
    printf("%s %.1f %s\n", metric, value, unit);
    fflush(stdout);
}

long bench_status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':')
            v = atol(line + n + 1);
    if (f)
        fclose(f);
    return v;
}

void bench_fail(const char *what, int err)
{
    fprintf(stderr, "weft-bench: %s: %s\n", what, weft_strerror(err));
    exit(1);
}

int main(int argc, char **argv)
{
    /* Options first: --prometheus FILE, --trace FILE (anywhere on the line). */
    int nargs = 1;
    for (int a = 1; a < argc; a++) {
        if ((strcmp(argv[a], "--prometheus") == 0 || strcmp(argv[a], "--trace") == 0) &&
            a + 1 < argc) {
            *(argv[a][2] == 'p' ? &prometheus_path : &trace_path) = argv[a + 1];
            a++;
        } else {
            argv[nargs++] = argv[a];
        }
    }
    argc = nargs;
    if (argc < 2) {
        fprintf(stderr, "usage: weft-bench [--prometheus FILE] [--trace FILE] <workload>... | all\n"
                        "workloads:");
        for (size_t i = 0; i < NWORKLOADS; i++)
            fprintf(stderr, " %s", workloads[i]->name);
        fprintf(stderr, "\n");
        return 2;
    }
    alarm(180);
    for (int a = 1; a < argc; a++) {
        int found = 0;
        for (size_t i = 0; i < NWORKLOADS; i++) {
            if (strcmp(argv[a], "all") == 0 || strcmp(argv[a], workloads[i]->name) == 0) {
                workloads[i]->run(workloads[i]->name);
                found = 1;
            }
        }
        if (!found) {
            fprintf(stderr, "weft-bench: unknown workload '%s'\n", argv[a]);
            return 2;
        }
    }
    return 0;
}
