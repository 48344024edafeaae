/* Fibers: a task whose poll resumes a stack (DESIGN decision 2).
 *
 * Life of a fiber (the task's state is a struct weft__fiber, inline in the task cell):
 *   NEW      spawned; no stack yet. The first poll takes a stack from the polling worker's
 *            pool (so a spawn costs what a task spawn costs), lays out a first frame that calls
 *            fiber_entry, and resumes it.
 *   STARTED  fn is running or suspended. poll = resume; the fiber runs until it awaits a
 *            pending future, switches back (switch_out) and the poll returns WEFT_PENDING.
 *            The task's waker is what the future holds, so the scheduler polls the task again
 *            when it fires - on any worker - and that poll resumes the stack there.
 *   DONE     fn returned: its last switch brought the poller back, which releases the stack
 *            and returns WEFT_READY (output: fn's int) or WEFT_FAIL(fn's negative errno).
 *   FAILED   no stack could be had at the first poll: the task failed with -ENOMEM.
 *
 * No lock or atomic of our own: the task state word already guarantees one poller at a time,
 * and a suspension is published (SCHEDULED cleared) only after the poll returns, i.e. after
 * the fiber's registers are saved - the "switch, then publish" order an M:N scheduler needs.
 *
 * Cancellation. The task system drops a future exactly once, with no further poll: on an
 * abort at its next pop, at shutdown from weft_rt_free. fiber_drop turns that drop into an
 * unwind: it sets `cancelled`, clears cx and resumes the fiber, in which every await now fails
 * with -ECANCELED at once without polling or suspending, until fn returns. A fiber cancelled
 * before it started still runs fn (arg belongs to fn). A fiber that ignores -ECANCELED keeps
 * running until fn returns; one that never returns hangs the thread that dropped it, as a
 * poll that never returns would.
 *
 * Stack overflow. A SIGSEGV handler (installed once, SA_ONSTACK; every thread that runs fibers
 * gets an alternate signal stack) checks whether the fault hit the running fiber's guard page
 * (or its stack pointer is below its stack) and then writes
 * "weft: fiber stack overflow (fiber <id> <name>)" and dies with SIGSEGV; any other fault goes
 * to the handler that was installed before.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ucontext.h>
#include <unistd.h>

#include "fiber/fiber.h"
#include "fiber/tools.h"
#include "task/task.h"

enum { F_NEW = 0, F_STARTED, F_DONE, F_FAILED };

struct weft__fiber {
    /* Hot: touched by every suspend and resume; kept in the first cache line of the state. */
    void *sp;                   /* fiber side: saved stack pointer while switched out */
    void *caller_sp;            /* poller side: saved stack pointer while the fiber runs */
    weft_cx *cx;                /* context of the poll running the fiber; NULL when cancelled */
    const void *low_sp;         /* lowest stack pointer seen at a switch (pool hint) */
    uint8_t state;              /* F_* */
    uint8_t cancelled;          /* set by fiber_drop before the unwinding resume */
    int result;                 /* fn's return value, once DONE */
    /* Cold: start, finish, cancellation, tools. */
    weft_fiber_fn fn;           /* immutable */
    void *arg;                  /* fn's; never touched by weft */
    void (*drop_arg)(void *);   /* runs if fn cannot be started */
    struct weft__stack stack;   /* mapped from the first poll until DONE */
    struct weft__task *task;    /* the task this fiber is the future of; set at start */
    size_t stack_size;          /* class size, from opts */
    struct weft__fiber_tools tools; /* sanitizer contexts (empty in plain builds) */
};

/* The fiber running on this thread (set by the poller around a resume). Read it only through
 * current() on a fiber stack: see WEFT_FIBER_TLS_FN. */
static WEFT_TLS struct weft__fiber *tl_fiber;
/* weft__fiber_thread_init has succeeded on this thread (poller side only). */
static WEFT_TLS bool tl_thread_ready;

WEFT_FIBER_TLS_FN static struct weft__fiber *current(void)
{
    return tl_fiber;
}

bool weft__fiber_stack_holds(const void *p)
{
    const struct weft__fiber *f = current();
    const unsigned char *c = p;
    return f && f->stack.lo && c >= f->stack.lo && c < f->stack.hi;
}

/* ------------------------------------------------------------------ switching */

/* Fiber side: give control back to the poller. Returns when a poll resumes us - maybe on
 * another thread: nothing thread-local may be reused after it. */
static void switch_out(struct weft__fiber *f)
{
    const void *sp = __builtin_frame_address(0);
    if (sp < f->low_sp)
        f->low_sp = sp;
    tool_suspend_begin(&f->tools);
    weft__fiber_switch(&f->sp, f->caller_sp);
    tool_suspend_end(&f->tools);
}

/* Poller side: run the fiber until it switches out or finishes. Always returns on the
 * calling thread. */
static void resume(struct weft__fiber *f)
{
    struct weft__fiber *prev = tl_fiber;
    void *save = NULL;

    /* Every thread that runs a fiber needs an alternate signal stack, or an overflow cannot
     * be reported (the kernel has nowhere to put the signal frame). A fiber may be resumed
     * by a thread that never started one, so this is checked here (one TLS load when done).
     * Failing to get one only loses the report. */
    if (WEFT_UNLIKELY(!tl_thread_ready))
        tl_thread_ready = weft__fiber_thread_init() == 0;
    tl_fiber = f;
    tool_resume_begin(&f->tools, &save, f->stack.lo, (size_t)(f->stack.hi - f->stack.lo));
    weft__fiber_switch(&f->caller_sp, f->sp);
    tool_resume_end(save);
    tl_fiber = prev;
}

/* The first frame of every fiber. Never returns: its last switch hands the poller DONE. */
static void fiber_entry(void *p)
{
    struct weft__fiber *f = p;

    tool_entry(&f->tools);
    f->result = f->fn(f->arg);
    f->state = F_DONE;
    const void *sp = __builtin_frame_address(0);
    if (sp < f->low_sp)
        f->low_sp = sp;
    tool_exit(&f->tools);
    void *dead;
    weft__fiber_switch(&dead, f->caller_sp);
    __builtin_trap(); /* nobody switches back to a finished fiber */
}

/* Poller side: map (or reuse) a stack and lay out the first frame. */
static int fiber_start(struct weft__fiber *f, void *state)
{
    int err = weft__stack_acquire(f->stack_size, &f->stack);
    if (err < 0) {
        f->state = F_FAILED;
        return err;
    }
    f->task = (struct weft__task *)(void *)((unsigned char *)state -
                                            offsetof(struct weft__task, body));
    f->sp = weft__fiber_make(weft__stack_top(&f->stack), fiber_entry, f);
    f->low_sp = f->sp;
    tool_create(&f->tools, weft__task_name(f->task));
    f->state = F_STARTED;
    return 0;
}

/* Poller side, after the last switch: the stack goes back to this thread's pool. */
static void fiber_finish(struct weft__fiber *f)
{
    tool_destroy(&f->tools);
    weft__stack_release(&f->stack, f->low_sp);
}

/* ------------------------------------------------------------------ the task type */

static weft_poll fiber_poll(void *state, weft_cx *cx, void *out)
{
    struct weft__fiber *f = state;

    if (WEFT_UNLIKELY(f->state != F_STARTED)) {
        int err = fiber_start(f, state);
        if (err < 0)
            return WEFT_FAIL(err);
    }
    f->cx = cx;
    resume(f);
    if (WEFT_LIKELY(f->state != F_DONE))
        return WEFT_PENDING;
    fiber_finish(f);
    if (f->result < 0)
        return WEFT_FAIL(f->result);
    *(int *)out = f->result;
    return WEFT_READY;
}

static void fiber_drop(void *state)
{
    struct weft__fiber *f = state;

    if (f->state == F_DONE)
        return; /* the common case: finished; the stack is back in a pool already */
    if (f->state == F_NEW && fiber_start(f, state) < 0)
        f->state = F_FAILED;
    if (f->state == F_FAILED) {
        if (f->drop_arg)
            f->drop_arg(f->arg);
        return;
    }
    /* Cancelled while suspended (or before it began): unwind. Every await fails at once and
     * none suspends, so one resume runs fn to its end. */
    f->cancelled = 1;
    f->cx = NULL;
    while (f->state != F_DONE)
        resume(f);
    fiber_finish(f);
}

static const weft_future_type fiber_type = {
    .name = "fiber",
    .poll = fiber_poll,
    .drop = fiber_drop,
    .state_size = sizeof(struct weft__fiber),
    .out_size = sizeof(int),
};

int weft_fiber_spawn(weft_rt *rt, weft_fiber_fn fn, void *arg, const weft_fiber_opts *opts,
                     weft_join **join)
{
    static const weft_fiber_opts defaults;

    if (join)
        *join = NULL;
    if (!opts)
        opts = &defaults;
    size_t size = weft__stack_class_size(opts->stack_size);
    if (!rt || !fn || size == 0 || (unsigned)opts->priority > WEFT_PRIO_LOW)
        return -EINVAL;
    weft__fiber_signals_init();
    struct weft__fiber init = {.fn = fn, .arg = arg, .drop_arg = opts->drop_arg,
                               .stack_size = size};
    weft_spawn_opts so = {.priority = opts->priority, .name = opts->name};
    return weft_spawn_with(rt, &fiber_type, &init, &so, join);
}

/* ------------------------------------------------------------------ inside a fiber */

int weft_fiber_cx(weft_cx **cx)
{
    struct weft__fiber *f = current();

    if (WEFT_UNLIKELY(!f)) {
        *cx = NULL;
        return -EPERM;
    }
    *cx = f->cx;
    return f->cancelled ? -ECANCELED : 0;
}

int weft_fiber_suspend(weft_cx **cx)
{
    struct weft__fiber *f = current(); /* the last thread-local read until we return */

    if (WEFT_UNLIKELY(!f)) {
        *cx = NULL;
        return -EPERM;
    }
    if (!f->cancelled)
        switch_out(f);
    *cx = f->cx;
    return f->cancelled ? -ECANCELED : 0;
}

int weft_await(weft_poll_fn poll, void *fut, void *out)
{
    weft_poll r = WEFT_READY;

    if (!poll)
        return -EINVAL;
    int rc = WEFT_FIBER_AWAIT(cx, (r = poll(fut, cx, out)));
    if (rc < 0)
        return rc;
    return r < 0 ? r : 0;
}

int weft_fiber_yield(void)
{
    struct weft__fiber *f = current(); /* the last thread-local read until we return */
    weft_yield y;

    /* WEFT_FIBER_AWAIT(cx, weft_yield_poll(&y, cx)), with one TLS lookup instead of two and
     * no second poll: a yield is ready as soon as the fiber runs again. */
    if (WEFT_UNLIKELY(!f))
        return -EPERM;
    if (f->cancelled)
        return -ECANCELED;
    weft_yield_init(&y);
    if (weft_yield_poll(&y, f->cx) == WEFT_PENDING)
        switch_out(f);
    return f->cancelled ? -ECANCELED : 0;
}

int weft_await_join(weft_join *join, void *out, size_t out_size)
{
    int result = 0;

    if (!join)
        return -EINVAL;
    int rc = WEFT_FIBER_AWAIT(cx, weft_join_poll(join, cx, out, out_size, &result));
    if (rc == -EPERM)
        return rc;
    if (rc < 0) {
        weft_join_detach(join);
        return rc;
    }
    return result;
}

int weft_await_oneshot(weft_oneshot *ch, void *value)
{
    int result = 0;

    if (!ch)
        return -EINVAL;
    int rc = WEFT_FIBER_AWAIT(cx, weft_oneshot_recv_poll(ch, cx, value, &result));
    if (rc == -EPERM)
        return rc;
    if (rc < 0) {
        weft_oneshot_receiver_drop(ch);
        return rc;
    }
    return result;
}

bool weft_fiber_cancelled(void)
{
    struct weft__fiber *f = current();

    if (!f)
        return false;
    return f->cancelled || (ld_acquire(&f->task->state) & TASK_CANCELLED);
}

uint64_t weft_fiber_id(void)
{
    struct weft__fiber *f = current();
    return f ? f->task->id : 0;
}

/* ------------------------------------------------------------------ overflow report */

static struct sigaction old_segv;
static pthread_once_t signals_once = PTHREAD_ONCE_INIT;

static uintptr_t fault_sp(void *uctx)
{
    const ucontext_t *uc = uctx;
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.sp;
#else
    (void)uc;
    return 0;
#endif
}

static size_t fmt_u64(char *p, uint64_t v)
{
    char tmp[24];
    size_t n = 0, i = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        p[i++] = tmp[--n];
    return i;
}

static void report_overflow(const struct weft__fiber *f)
{
    char msg[256];
    static const char head[] = "weft: fiber stack overflow (fiber ";
    const char *name = f->task && weft__task_name(f->task) ? weft__task_name(f->task) : "fiber";
    if (!name)
        name = "fiber";
    size_t n = sizeof head - 1, len = strlen(name);

    memcpy(msg, head, n);
    n += fmt_u64(msg + n, f->task ? f->task->id : 0);
    msg[n++] = ' ';
    if (len > sizeof msg - n - 3)
        len = sizeof msg - n - 3;
    memcpy(msg + n, name, len);
    n += len;
    msg[n++] = ')';
    msg[n++] = '\n';
    (void)!write(STDERR_FILENO, msg, n);
}

static void on_segv(int sig, siginfo_t *si, void *uctx)
{
    static volatile sig_atomic_t reported;
    const struct weft__fiber *f = tl_fiber;

    if (f && f->stack.lo) {
        uintptr_t lo = (uintptr_t)f->stack.lo, guard = weft__stack_guard_size();
        uintptr_t addr = (uintptr_t)si->si_addr, sp = fault_sp(uctx);
        bool in_guard = addr < lo && addr >= lo - guard;
        bool sp_below = sp && sp < lo && sp >= lo - (64u << 20);
        if (in_guard || sp_below) {
            if (reported)
                _exit(128 + SIGSEGV); /* SIG_DFL did not stick: do not loop */
            reported = 1;
            report_overflow(f);
            struct sigaction dfl = {.sa_handler = SIG_DFL};
            sigemptyset(&dfl.sa_mask);
            sigaction(SIGSEGV, &dfl, NULL);
            return; /* the faulting access runs again and the default action ends us */
        }
    }
    /* Not ours: pass it on, staying installed. */
    if (old_segv.sa_flags & SA_SIGINFO) {
        old_segv.sa_sigaction(sig, si, uctx);
    } else if (old_segv.sa_handler != SIG_DFL && old_segv.sa_handler != SIG_IGN) {
        old_segv.sa_handler(sig);
    } else {
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        sigemptyset(&dfl.sa_mask);
        sigaction(SIGSEGV, &dfl, NULL); /* re-fault with the default action */
    }
}

static void install_signals(void)
{
    struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_ONSTACK};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
}

void weft__fiber_signals_init(void)
{
    pthread_once(&signals_once, install_signals);
}
