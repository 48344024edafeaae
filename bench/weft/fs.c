/* file_read_4k (docs/design/fs.md): random 4 KiB reads from a 1 GiB file, 64 tasks with one
 * read in flight each (64 in flight in all), N = 200,000 reads per iteration, on a runtime with
 * 2 workers; the backend is whatever WEFT_IO_BACKEND (uring|epoll) or the probe chooses.
 *
 * The file (WEFT_BENCH_FILE, default /tmp/weft_file_read_4k.dat) is created once if missing or
 * of the wrong size; every 4 KiB block starts with its own index, which each read checks.
 * Page cache: before timing the file is read through once, so every read is served from the
 * cache (this measures the runtime's file path, not the disk); mincore(2) then reports how much
 * of it is resident, printed as file_read_4k_cached_pct. Offsets come from a per-task xorshift,
 * the same sequence in every iteration.
 *
 * Prints file_read_4k_ns_per_read (median of 5 timed iterations after 1 warm-up, wall time of
 * the whole batch / N), file_read_4k_cpu_ns_per_read (CPU time of all the process's threads,
 * user + system, over the 6 iterations / 6 N: what a read costs the machine, a figure that a
 * busy machine distorts far less than wall time) and file_read_4k_cached_pct. */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "io/io.h"

#define FR_FILE_SIZE (1ull << 30)
#define FR_BLOCK     4096
#define FR_BLOCKS    (FR_FILE_SIZE / FR_BLOCK)
#define FR_N         200000
#define FR_TASKS     64

static const char *fr_path(void)
{
    const char *p = getenv("WEFT_BENCH_FILE");
    return p && *p ? p : "/tmp/weft_file_read_4k.dat";
}

/* Create the file unless it is there with the right size. */
static void fr_ensure_file(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && (uint64_t)st.st_size == FR_FILE_SIZE)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    int fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        bench_fail("create the 1 GiB file", -errno);
    size_t chunk = 1u << 20;
    unsigned char *buf = calloc(1, chunk);
    for (uint64_t off = 0; off < FR_FILE_SIZE; off += chunk) {
        for (size_t b = 0; b < chunk; b += FR_BLOCK) {
            uint64_t idx = (off + b) / FR_BLOCK;
            memcpy(buf + b, &idx, sizeof idx);
            memset(buf + b + sizeof idx, (int)(idx & 0xff), 64);
        }
        if (pwrite(fd, buf, chunk, (off_t)off) != (ssize_t)chunk)
            bench_fail("write the 1 GiB file", -errno);
    }
    free(buf);
    close(fd);
    if (rename(tmp, path) != 0)
        bench_fail("rename the 1 GiB file", -errno);
}

/* Read the file once so that it is in the page cache; return the resident percentage. */
static double fr_warm_cache(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        bench_fail("open the 1 GiB file", -errno);
    size_t chunk = 1u << 20;
    char *buf = malloc(chunk);
    while (read(fd, buf, chunk) > 0)
        ;
    free(buf);
    double pct = -1;
    void *map = mmap(NULL, FR_FILE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    if (map != MAP_FAILED) {
        size_t pages = FR_FILE_SIZE / (size_t)sysconf(_SC_PAGESIZE), in = 0;
        unsigned char *vec = malloc(pages);
        if (vec && mincore(map, FR_FILE_SIZE, vec) == 0) {
            for (size_t i = 0; i < pages; i++)
                in += vec[i] & 1;
            pct = 100.0 * (double)in / (double)pages;
        }
        free(vec);
        munmap(map, FR_FILE_SIZE);
    }
    close(fd);
    return pct;
}

struct fr_reader {
    weft_file *f;
    uint64_t seed;
    int n;
    _Atomic int *bad;
    WEFT_ASYNC_STATE;
    weft_file_read rd;
    uint64_t idx;
    ssize_t got;
    unsigned char buf[FR_BLOCK];
};

static weft_poll fr_reader_poll(void *state, weft_cx *cx, void *out)
{
    struct fr_reader *s = state;
    (void)out;
    WEFT_ASYNC_BEGIN(s);
    while (s->n-- > 0) {
        s->seed ^= s->seed << 13, s->seed ^= s->seed >> 7, s->seed ^= s->seed << 17;
        s->idx = s->seed % FR_BLOCKS;
        weft_file_read_init(&s->rd, s->f, s->buf, FR_BLOCK, (int64_t)(s->idx * FR_BLOCK));
        WEFT_AWAIT(s, weft_file_read_poll(&s->rd, cx, &s->got));
        uint64_t stamp;
        memcpy(&stamp, s->buf, sizeof stamp);
        if (s->got != FR_BLOCK || stamp != s->idx)
            atomic_fetch_add_explicit(s->bad, 1, memory_order_relaxed);
    }
    WEFT_ASYNC_END(s);
}

static const weft_future_type fr_reader_type = {
    .name = "file_read_4k_reader",
    .poll = fr_reader_poll,
    .state_size = sizeof(struct fr_reader),
    .out_size = 0,
};

struct fr_root {
    weft_file *f;
    _Atomic int *bad;
    WEFT_ASYNC_STATE;
    weft_join *joins[FR_TASKS];
    int64_t t0;
    int i, err;
};

static weft_poll fr_root_poll(void *state, weft_cx *cx, void *out)
{
    struct fr_root *s = state;
    WEFT_ASYNC_BEGIN(s);
    s->t0 = weft_now();
    for (s->i = 0; s->i < FR_TASKS; s->i++) {
        struct fr_reader r = {.f = s->f,
                              .seed = 0x9e3779b97f4a7c15ull * (uint64_t)(s->i + 1),
                              .n = FR_N / FR_TASKS + (s->i < FR_N % FR_TASKS),
                              .bad = s->bad};
        s->err = weft_spawn(weft_cx_rt(cx), &fr_reader_type, &r, &s->joins[s->i]);
        if (s->err < 0)
            WEFT_ASYNC_FAIL(s, s->err);
    }
    for (s->i = 0; s->i < FR_TASKS; s->i++) {
        WEFT_AWAIT(s, weft_join_poll(s->joins[s->i], cx, NULL, 0, &s->err));
        if (s->err < 0)
            WEFT_ASYNC_FAIL(s, s->err);
    }
    *(int64_t *)out = weft_now() - s->t0;
    WEFT_ASYNC_END(s);
}

static const weft_future_type fr_root_type = {
    .name = "file_read_4k",
    .poll = fr_root_poll,
    .state_size = sizeof(struct fr_root),
    .out_size = sizeof(int64_t),
};

/* CPU time (user + system) of every thread of the process so far, in ns. */
static int64_t fr_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

static void run_file_read_4k(const char *name)
{
    (void)name;
    const char *path = fr_path();
    fr_ensure_file(path);
    double cached = fr_warm_cache(path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        bench_fail("open the 1 GiB file", -errno);
    weft_file *f;
    int err = weft_file_from_fd(&f, fd);
    if (err < 0)
        bench_fail("weft_file_from_fd", err);
    weft_rt *rt = bench_rt(WEFT_RT_MULTI_THREAD);
    fprintf(stderr, "file_read_4k: backend %s, %s\n",
            weft__io_backend_of(rt) == WEFT__IO_BACKEND_URING ? "io_uring" : "epoll (fs lane)",
            path);
    _Atomic int bad = 0;
    struct fr_root init = {.f = f, .bad = &bad};
    int64_t cpu0 = fr_cpu_ns();
    double ns = bench_median_ns(rt, &fr_root_type, &init);
    double cpu = (double)(fr_cpu_ns() - cpu0) / ((double)FR_N * (BENCH_WARMUP + BENCH_ITERS));
    if (atomic_load(&bad) != 0)
        bench_fail("file_read_4k: wrong data read", -EIO);
    weft_rt_free(rt);
    weft_file_free(f);
    bench_out("file_read_4k_ns_per_read", ns / FR_N, "ns");
    bench_out("file_read_4k_cpu_ns_per_read", cpu, "ns");
    bench_out("file_read_4k_cached_pct", cached, "%");
}

const struct bench_workload bench_file_read_4k = {"file_read_4k", run_file_read_4k};
