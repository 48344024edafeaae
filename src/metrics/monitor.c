/* The stuck-worker monitor (reliability F4, research recommendation 21): one low-frequency
 * thread per runtime, "<name>-mon".
 *
 * Detection. Each worker publishes the task it is polling (stats.running, release) after it
 * bumps stats.polls. Every period (threshold / 4, 1 ms .. 250 ms) the monitor reads
 * both; a worker seen in the same poll (same seq, same task) for `threshold` since the monitor
 * first saw that poll is stuck. So a poll is reported between threshold and threshold + period
 * after it started, once per poll.
 *
 * What it does about it, while the poll lasts:
 *   (a) queued work: the stuck worker's rings are stealable; when they hold tasks and nobody is
 *       searching, the monitor unparks a parked worker (through its timer wake-up, which makes
 *       it look for work and steal). The LIFO slot is not stealable (see docs/design/metrics.md).
 *   (b) timers: it advances the stuck worker's wheel itself (weft__timers_advance is
 *       thread-safe), sleeping until that wheel's next deadline; the wakes go through the
 *       inject queue to the other workers.
 *   (c) reports: weft_stuck_polls_total and the worker's counter, one line on stderr naming
 *       the task, and cfg.on_stuck.
 *
 * Reading the stuck task's id and name: the monitor loads `running` (acquire; pairs with the
 * worker's release, so the task's fields are visible), reads the header, then the name pointer,
 * then the name, checking after each step that the worker is still in the same poll (same
 * running, same polls). A task cannot end during its own poll, so what passed the checks was
 * read from a live task; if the poll ended meanwhile the reading is thrown away (a seqlock
 * reader, so those reads are kept out of the sanitizers' sight).
 *
 * Idle. When every worker is parked the monitor sets rt->monitor_idle and sleeps on its futex
 * word; a worker that unparks sees the flag and wakes it (multi_thread.c, after park()). Both
 * sides use seq_cst (flag store then num_parked load / num_parked RMW then flag load), so one
 * of them sees the other; a 1 s timeout bounds any doubt. A current-thread runtime has no such
 * hook: its monitor checks every 250 ms while nothing is being driven.
 *
 * Signal dumps (weft_rt_dump_on_signal): the handler only bumps a per-signal counter; the
 * monitor notices the change (within 100 ms: its sleeps are capped while a signal is set) and
 * writes the task dump to the registered fd from its own thread.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "sys/futex.h"

#define MIN_PERIOD WEFT_MS(1)
#define MAX_PERIOD WEFT_MS(250)
#define IDLE_SLEEP WEFT_SEC(1)
#define CT_IDLE_SLEEP WEFT_MS(250)
#define SIGNAL_SLEEP WEFT_MS(100)

/* ------------------------------------------------------------------ helpers */

static bool all_idle(weft_rt *rt)
{
    if (rt->flavor == WEFT_RT_MULTI_THREAD)
        return atomic_load(&rt->num_parked) == rt->nworkers;
    return ld_acquire(&rt->ct.driving) == 0 || ld_acquire(&rt->ct.park) == PARK_PARKED;
}

static uint64_t queued_on(weft_rt *rt, unsigned i)
{
    uint64_t n = 0;
    for (int r = 0; r < WEFT_NPRIO; r++)
        n += weft__lq_len(&rt->workers[i].q[r]);
    return n;
}

/* Unpark one parked worker other than `not` so it searches (and steals). */
static void wake_a_worker(weft_rt *rt, unsigned not)
{
    if (rt->flavor != WEFT_RT_MULTI_THREAD || ld_relaxed(&rt->num_searching) != 0)
        return;
    for (unsigned j = 0; j < rt->nworkers; j++) {
        if (j != not && ld_acquire(&rt->workers[j].park) == PARK_PARKED) {
            weft__mt_unpark_timers(rt, &rt->workers[j].timers);
            return;
        }
    }
}

/* ------------------------------------------------------------------ stuck workers */

/* Seqlock-style reads of a task that may end (and its cell be reused) while we read: the
 * caller re-checks that the worker is still in the same poll after each step and discards
 * what it read otherwise. The sanitizers cannot model that pattern, hence the attribute. */
#define PEEK __attribute__((no_sanitize_thread, no_sanitize_address, noinline))

PEEK static void peek_header(const struct weft__task *t, uint64_t *id, uint8_t *flags,
                             const weft_future_type **type, uint16_t *out_off)
{
    *id = t->id;
    *flags = t->flags;
    *type = t->type;
    *out_off = t->out_off;
}

/* weft__task_name() over the header values read above. */
PEEK static const char *peek_name(const struct weft__task *t, uint8_t flags,
                                  const weft_future_type *type, uint16_t out_off)
{
    if (!type)
        return NULL;
    if (!(flags & TASK_F_NAMED))
        return type->name;
    size_t end = type->out_size ? (size_t)out_off + type->out_size
                                : ((type->state_size + 15) & ~(size_t)15);
    return *(const char *const *)(t->body + ((end + 7) & ~(size_t)7));
}

PEEK static void peek_copy(char *dst, const char *src)
{
    size_t i = 0;
    for (; src && i < WEFT__NAME_MAX - 1 && src[i]; i++)
        dst[i] = src[i];
    dst[i] = 0;
}

static bool same_poll(struct weft__stats *st, struct weft__task *t, uint64_t seq)
{
    return ld_acquire(&st->running) == t && ld_relaxed(&st->polls) == seq;
}

static void report(struct weft__metrics *m, unsigned i, struct weft__task *t, uint64_t seq,
                   int64_t stuck_for)
{
    weft_rt *rt = m->rt;
    struct weft__stats *st = weft__metrics_stats(rt, i);
    struct weft__mworker *mw = &m->w[i];
    char name[WEFT__NAME_MAX];
    uint64_t id;
    uint8_t flags;
    const weft_future_type *type;
    uint16_t out_off;

    peek_header(t, &id, &flags, &type, &out_off);
    if (!same_poll(st, t, seq))
        return; /* the poll ended while we read: not stuck after all */
    const char *nm = peek_name(t, flags, type, out_off);
    if (!same_poll(st, t, seq))
        return;
    peek_copy(name, nm);
    if (!same_poll(st, t, seq))
        return;
    mw->mon_reported = true;
    pthread_mutex_lock(&m->stuck_lock);
    memcpy(mw->stuck_name, name, sizeof name);
    pthread_mutex_unlock(&m->stuck_lock);
    st_relaxed(&mw->stuck_id, id);
    st_relaxed(&mw->stuck_since, mw->mon_first);
    atomic_fetch_add_explicit(&mw->stuck_total, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->stuck_total, 1, memory_order_relaxed);
    st_release(&mw->stuck_now, 1);

    /* One line per second at most: a program that polls long on purpose (a benchmark's root
     * task, a tight compute loop) must not flood stderr. The counter and hook see them all. */
    int64_t now = weft_now();
    if (now - m->last_log >= WEFT_SEC(1)) {
        m->last_log = now;
        fprintf(stderr,
                "weft: worker %u stuck in one poll for %.1f ms (threshold %.1f ms): task %llu "
                "\"%s\"; its queued tasks go to the other workers\n",
                i, (double)stuck_for / 1e6, (double)m->threshold / 1e6, (unsigned long long)id,
                name);
    }
    if (rt->cfg.on_stuck) {
        weft_stuck_info info = {
            .rt = rt, .worker = i, .task_id = id, .task_name = name, .stuck_for = stuck_for};
        rt->cfg.on_stuck(&info, rt->cfg.on_stuck_arg);
    }
    wake_a_worker(rt, i);
}

/* CPU time used so far by thread `tid` of this process, in ns, or -1. The clock id is the
 * kernel's encoding of a per-thread CPU clock (what pthread_getcpuclockid returns). */
static int64_t thread_cpu_ns(int tid)
{
    struct timespec ts;
    clockid_t id = (clockid_t)((~(unsigned)tid << 3) | 6u);
    if (clock_gettime(id, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The scheduler state of thread `tid` (R running or runnable, S/D blocked, ...), or 0. */
static char thread_state(int tid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* "tid (comm) S ...": comm may hold anything */
    return p && p[1] == ' ' ? p[2] : 0;
}

/* A poll has lasted the threshold by the wall clock. Is that the task's doing? A worker the OS
 * left without a CPU (more workers than CPUs, a busy machine) looks the same from here, and
 * reporting it sends a user after a task that did nothing wrong. So the monitor watches the
 * worker's thread for one more period: the poll is reported if the thread ran for at least an
 * eighth of that period (a long computation) or is blocked in a system call (state S or D:
 * the blocking call this detector is for); a thread that is runnable but barely ran is waiting
 * for a CPU, and the watch goes on. One clock read per period and one small /proc read, only
 * while some poll is over the threshold. Without a thread id the wall clock decides. */
static bool not_the_os(struct weft__mworker *mw, struct weft__stats *st, int64_t now)
{
    int tid = ld_relaxed(&st->tid);
    int64_t cpu = tid > 0 ? thread_cpu_ns(tid) : -1;
    if (cpu < 0)
        return true;
    if (!mw->mon_checking) {
        mw->mon_checking = true;
        mw->mon_check_at = now;
        mw->mon_cpu0 = cpu;
        return false;
    }
    int64_t span = now - mw->mon_check_at, ran = cpu - mw->mon_cpu0;
    mw->mon_check_at = now;
    mw->mon_cpu0 = cpu;
    if (ran >= span / 8)
        return true;
    char state = thread_state(tid);
    return state != 'R' && state != 0;
}

/* While worker i is stuck: fire its timers and hand its queue to the others. Lowers *wake_at
 * to its next timer deadline. */
static void keep_moving(struct weft__metrics *m, unsigned i, int64_t now, int64_t *wake_at)
{
    weft_rt *rt = m->rt;
    struct weft__timers *ts = weft__metrics_timers(rt, i);
    if (weft__timers_next(ts) <= now)
        weft__timers_advance(ts, now);
    int64_t next = weft__timers_next(ts);
    if (next < *wake_at)
        *wake_at = next > now + WEFT_US(100) ? next : now + WEFT_US(100);
    if (rt->flavor == WEFT_RT_MULTI_THREAD && queued_on(rt, i) != 0)
        wake_a_worker(rt, i);
}

/* One look at every worker. Returns true when some worker is inside a poll. */
static bool scan(struct weft__metrics *m, int64_t now, int64_t *wake_at)
{
    weft_rt *rt = m->rt;
    bool busy = false;
    for (unsigned i = 0; i < m->n; i++) {
        struct weft__stats *st = weft__metrics_stats(rt, i);
        struct weft__mworker *mw = &m->w[i];
        struct weft__task *r = ld_acquire(&st->running);
        uint64_t seq = ld_relaxed(&st->polls);
        if (!r || seq != mw->mon_seq || r != mw->mon_task) {
            mw->mon_checking = false;
            if (mw->mon_reported) {
                mw->mon_reported = false;
                st_release(&mw->stuck_now, 0);
            }
            mw->mon_seq = seq;
            mw->mon_task = r;
            mw->mon_first = now;
            busy |= r != NULL;
            continue;
        }
        busy = true;
        int64_t d = now - mw->mon_first;
        if (!mw->mon_reported && d >= m->threshold && not_the_os(mw, st, now))
            report(m, i, r, seq, d);
        if (mw->mon_reported)
            keep_moving(m, i, now, wake_at);
    }
    return busy;
}

/* ------------------------------------------------------------------ signal dumps */

static _Atomic uint32_t sig_gen[NSIG];
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int users;
    struct sigaction old;
} sig_tab[NSIG]; /* guarded by sig_lock */

static void on_signal(int signo)
{
    if (signo > 0 && signo < NSIG)
        atomic_fetch_add_explicit(&sig_gen[signo], 1, memory_order_relaxed);
}

static void check_signal(struct weft__metrics *m)
{
    int signo = ld_acquire(&m->sig_signo);
    if (!signo)
        return;
    uint32_t g = ld_relaxed(&sig_gen[signo]);
    if (g == ld_relaxed(&m->sig_seen))
        return;
    st_relaxed(&m->sig_seen, g);
    weft_rt_dump_tasks_fd(m->rt, ld_relaxed(&m->sig_fd));
}

static void signal_release(int signo) /* under sig_lock */
{
    if (--sig_tab[signo].users == 0)
        sigaction(signo, &sig_tab[signo].old, NULL);
}

void weft__monitor_signal_undo(struct weft__metrics *m)
{
    pthread_mutex_lock(&sig_lock);
    int signo = ld_relaxed(&m->sig_signo);
    if (signo) {
        st_release(&m->sig_signo, 0);
        signal_release(signo);
    }
    pthread_mutex_unlock(&sig_lock);
}

int weft_rt_dump_on_signal(weft_rt *rt, int signo, int fd)
{
    struct weft__metrics *m = weft__metrics_of(rt);
    if (!m)
        return -EINVAL;
    if (signo == 0) {
        weft__monitor_signal_undo(m);
        return 0;
    }
    if (fd < 0 || signo < 1 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP ||
        signo == SIGSEGV || signo == SIGBUS || signo == SIGILL || signo == SIGFPE ||
        signo == SIGABRT)
        return -EINVAL;
    if (!m->mon_started)
        return -ENOTSUP;
    int err = 0;
    pthread_mutex_lock(&sig_lock);
    int old = ld_relaxed(&m->sig_signo);
    if (old != signo) {
        if (sig_tab[signo].users == 0) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_signal;
            sa.sa_flags = SA_RESTART;
            sigemptyset(&sa.sa_mask);
            if (sigaction(signo, &sa, &sig_tab[signo].old) < 0)
                err = -errno;
        }
        if (!err) {
            sig_tab[signo].users++;
            if (old)
                signal_release(old);
        }
    }
    if (!err) {
        st_relaxed(&m->sig_fd, fd);
        st_relaxed(&m->sig_seen, ld_relaxed(&sig_gen[signo]));
        st_release(&m->sig_signo, signo);
    }
    pthread_mutex_unlock(&sig_lock);
    if (!err) { /* let it shorten its sleeps now */
        atomic_fetch_add(&m->mon_word, 1);
        weft__futex_wake(&m->mon_word, 1);
    }
    return err;
}

/* ------------------------------------------------------------------ the thread */

static void *monitor_main(void *arg)
{
    struct weft__metrics *m = arg;
    weft_rt *rt = m->rt;
    char name[32];

    snprintf(name, sizeof name, "%s-mon", rt->thread_name);
    name[15] = 0;
    pthread_setname_np(pthread_self(), name);
    int64_t period = m->threshold / 4;
    period = period < MIN_PERIOD ? MIN_PERIOD : period > MAX_PERIOD ? MAX_PERIOD : period;

    for (;;) {
        uint32_t word = ld_acquire(&m->mon_word);
        if (ld_acquire(&m->mon_stop))
            break;
        check_signal(m);
        int64_t now = weft__now();
        int64_t cap = ld_relaxed(&m->sig_signo) ? SIGNAL_SLEEP : INT64_MAX;
        int64_t wake_at = now + period;
        bool busy = m->threshold ? scan(m, now, &wake_at) : false;
        if (!m->threshold) {
            wake_at = cap == INT64_MAX ? INT64_MAX : now + cap;
        } else if (!busy && all_idle(rt)) {
            /* Everybody sleeps: so do we, until a worker unparks (see the top comment). */
            atomic_store(&rt->monitor_idle, 1);
            if (all_idle(rt)) {
                int64_t idle = rt->flavor == WEFT_RT_MULTI_THREAD ? IDLE_SLEEP : CT_IDLE_SLEEP;
                weft__futex_wait(&m->mon_word, word, now + (idle < cap ? idle : cap));
            }
            atomic_store(&rt->monitor_idle, 0);
            continue;
        } else if (cap != INT64_MAX && wake_at > now + cap) {
            wake_at = now + cap;
        }
        weft__futex_wait(&m->mon_word, word, wake_at);
    }
    return NULL;
}

int weft__monitor_start(struct weft__metrics *m)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256u << 10);
    int err = pthread_create(&m->mon, &attr, monitor_main, m);
    pthread_attr_destroy(&attr);
    if (err)
        return -EAGAIN;
    m->mon_started = true;
    return 0;
}

void weft__monitor_stop(struct weft__metrics *m)
{
    if (!m->mon_started)
        return;
    st_release(&m->mon_stop, 1);
    atomic_fetch_add(&m->mon_word, 1);
    weft__futex_wake(&m->mon_word, 1);
    pthread_join(m->mon, NULL);
    m->mon_started = false;
    st_relaxed(&m->rt->monitor_idle, 0);
}
