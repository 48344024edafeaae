/* The sync workloads of WORKLOADS.md: ping_pong (MT and CT), mpsc_bounded, mpsc_unbounded and
 * semaphore, written with the async.h macros the way a user would write them. */
#include "bench.h"

/* ------------------------------------------------------------------ ping_pong */

#define PP_ROUNDS 100000

/* Task B: receive v on A->B, send it back on B->A, until A->B is closed. */
struct pp_echo {
    WEFT_ASYNC_STATE;
    weft_mpsc_receiver *rx; /* owned: A->B */
    weft_mpsc_sender *tx;   /* owned: B->A */
    weft_mpsc_send send;
    uint64_t v;
    int err;
};

static weft_poll pp_echo_poll(void *state, weft_cx *cx, void *out)
{
    struct pp_echo *b = state;
    (void)out;
    WEFT_ASYNC_BEGIN(b);
    for (;;) {
        WEFT_AWAIT(b, weft_mpsc_recv_poll(b->rx, cx, &b->v, &b->err));
        if (b->err < 0)
            break; /* A->B closed */
        weft_mpsc_send_init(&b->send, b->tx, &b->v);
        WEFT_AWAIT(b, weft_mpsc_send_poll(&b->send, cx, &b->err));
        if (b->err < 0)
            break;
    }
    WEFT_ASYNC_END(b);
}

static void pp_echo_drop(void *state)
{
    struct pp_echo *b = state;
    weft_mpsc_send_drop(&b->send);
    weft_mpsc_receiver_drop(b->rx);
    weft_mpsc_sender_drop(b->tx);
}

static const weft_future_type pp_echo_type = {
    .name = "pp_echo", .poll = pp_echo_poll, .drop = pp_echo_drop,
    .state_size = sizeof(struct pp_echo)};

struct ping_pong {
    WEFT_ASYNC_STATE;
    weft_mpsc_sender *tx;   /* A->B */
    weft_mpsc_receiver *rx; /* B->A */
    weft_join *b;
    weft_mpsc_send send;
    uint64_t i, v;
    int64_t t0, elapsed;
    int err;
};

static weft_poll ping_pong_poll(void *state, weft_cx *cx, void *out)
{
    struct ping_pong *s = state;
    WEFT_ASYNC_BEGIN(s);
    {
        weft_mpsc_sender *tx_ba;
        weft_mpsc_receiver *rx_ab;
        if ((s->err = weft_mpsc_new(&s->tx, &rx_ab, sizeof(uint64_t), 1)) < 0)
            WEFT_ASYNC_FAIL(s, s->err);
        if ((s->err = weft_mpsc_new(&tx_ba, &s->rx, sizeof(uint64_t), 1)) < 0)
            WEFT_ASYNC_FAIL(s, s->err);
        struct pp_echo init = {.rx = rx_ab, .tx = tx_ba};
        if ((s->err = weft_spawn(weft_cx_rt(cx), &pp_echo_type, &init, &s->b)) < 0)
            WEFT_ASYNC_FAIL(s, s->err);
    }
    s->t0 = weft_now();
    for (s->i = 0; s->i < PP_ROUNDS; s->i++) {
        weft_mpsc_send_init(&s->send, s->tx, &s->i);
        WEFT_AWAIT(s, weft_mpsc_send_poll(&s->send, cx, &s->err));
        if (s->err < 0)
            WEFT_ASYNC_FAIL(s, s->err);
        WEFT_AWAIT(s, weft_mpsc_recv_poll(s->rx, cx, &s->v, &s->err));
        if (s->err < 0 || s->v != s->i)
            WEFT_ASYNC_FAIL(s, s->err < 0 ? s->err : -EPROTO);
    }
    s->elapsed = weft_now() - s->t0;
    weft_mpsc_sender_drop(s->tx); /* closes A->B: B ends */
    s->tx = NULL;
    WEFT_AWAIT(s, weft_join_poll(s->b, cx, NULL, 0, &s->err));
    s->b = NULL;
    if (s->err < 0)
        WEFT_ASYNC_FAIL(s, s->err);
    *(int64_t *)out = s->elapsed;
    WEFT_ASYNC_END(s);
}

static void ping_pong_drop(void *state)
{
    struct ping_pong *s = state;
    weft_mpsc_send_drop(&s->send);
    weft_mpsc_sender_drop(s->tx);
    weft_mpsc_receiver_drop(s->rx);
    if (s->b)
        weft_join_detach(s->b);
}

static const weft_future_type ping_pong_type = {
    .name = "ping_pong", .poll = ping_pong_poll, .drop = ping_pong_drop,
    .state_size = sizeof(struct ping_pong), .out_size = sizeof(int64_t)};

static void run_ping_pong(const char *name, weft_rt_flavor flavor)
{
    weft_rt *rt = bench_rt(flavor);
    double ns = bench_median_ns(rt, &ping_pong_type, NULL);
    char metric[64];
    snprintf(metric, sizeof metric, "%s_ns_per_roundtrip", name);
    bench_out(metric, ns / PP_ROUNDS, "ns");
    weft_rt_free(rt);
}
static void ping_pong_mt(const char *n) { run_ping_pong(n, WEFT_RT_MULTI_THREAD); }
static void ping_pong_ct(const char *n) { run_ping_pong(n, WEFT_RT_CURRENT_THREAD); }
const struct bench_workload bench_ping_pong = {"ping_pong", ping_pong_mt};
const struct bench_workload bench_ping_pong_ct = {"ping_pong_ct", ping_pong_ct};

/* ------------------------------------------------------------------ mpsc */

#define MPSC_PRODUCERS 4
#define MPSC_PER 250000
#define MPSC_CAP 1024

struct producer {
    WEFT_ASYNC_STATE;
    weft_mpsc_sender *tx; /* owned */
    weft_mpsc_send send;
    uint64_t i;
    int err;
};

static weft_poll producer_poll(void *state, weft_cx *cx, void *out)
{
    struct producer *p = state;
    (void)out;
    WEFT_ASYNC_BEGIN(p);
    for (p->i = 0; p->i < MPSC_PER; p->i++) {
        weft_mpsc_send_init(&p->send, p->tx, &p->i);
        WEFT_AWAIT(p, weft_mpsc_send_poll(&p->send, cx, &p->err));
        if (p->err < 0)
            WEFT_ASYNC_FAIL(p, p->err);
    }
    WEFT_ASYNC_END(p);
}

static void producer_drop(void *state)
{
    struct producer *p = state;
    weft_mpsc_send_drop(&p->send);
    weft_mpsc_sender_drop(p->tx); /* the last one closes the channel */
}

static const weft_future_type producer_type = {
    .name = "producer", .poll = producer_poll, .drop = producer_drop,
    .state_size = sizeof(struct producer)};

struct mpsc_root {
    WEFT_ASYNC_STATE;
    bool bounded;
    weft_mpsc_receiver *rx;
    uint64_t v, n, sum;
    int64_t t0;
    int err;
};

static weft_poll mpsc_root_poll(void *state, weft_cx *cx, void *out)
{
    struct mpsc_root *s = state;
    WEFT_ASYNC_BEGIN(s);
    s->t0 = weft_now();
    {
        weft_mpsc_sender *tx;
        s->err = s->bounded ? weft_mpsc_new(&tx, &s->rx, sizeof(uint64_t), MPSC_CAP)
                            : weft_mpsc_unbounded_new(&tx, &s->rx, sizeof(uint64_t));
        if (s->err < 0)
            WEFT_ASYNC_FAIL(s, s->err);
        for (int p = 0; p < MPSC_PRODUCERS && s->err == 0; p++) {
            struct producer init = {0};
            if ((s->err = weft_mpsc_sender_clone(tx, &init.tx)) == 0 &&
                (s->err = weft_spawn(weft_cx_rt(cx), &producer_type, &init, NULL)) < 0)
                weft_mpsc_sender_drop(init.tx);
        }
        weft_mpsc_sender_drop(tx);
        if (s->err < 0)
            WEFT_ASYNC_FAIL(s, s->err);
    }
    s->n = s->sum = 0;
    for (;;) {
        WEFT_AWAIT(s, weft_mpsc_recv_poll(s->rx, cx, &s->v, &s->err));
        if (s->err < 0)
            break; /* closed and drained */
        s->n++;
        s->sum += s->v;
    }
    *(int64_t *)out = weft_now() - s->t0;
    if (s->n != (uint64_t)MPSC_PRODUCERS * MPSC_PER ||
        s->sum != (uint64_t)MPSC_PRODUCERS * ((uint64_t)MPSC_PER * (MPSC_PER - 1) / 2))
        WEFT_ASYNC_FAIL(s, -EPROTO);
    WEFT_ASYNC_END(s);
}

static void mpsc_root_drop(void *state)
{
    struct mpsc_root *s = state;
    weft_mpsc_receiver_drop(s->rx);
}

static const weft_future_type mpsc_root_type = {
    .name = "mpsc", .poll = mpsc_root_poll, .drop = mpsc_root_drop,
    .state_size = sizeof(struct mpsc_root), .out_size = sizeof(int64_t)};

static void run_mpsc(const char *name, bool bounded)
{
    weft_rt *rt = bench_rt(WEFT_RT_MULTI_THREAD);
    struct mpsc_root init = {.bounded = bounded};
    double ns = bench_median_ns(rt, &mpsc_root_type, &init);
    char metric[64];
    snprintf(metric, sizeof metric, "%s_mmsgs_per_s", name);
    bench_out(metric, (double)MPSC_PRODUCERS * MPSC_PER / (ns / 1e9) / 1e6, "Mmsg/s");
    weft_rt_free(rt);
}
static void mpsc_bounded(const char *n) { run_mpsc(n, true); }
static void mpsc_unbounded(const char *n) { run_mpsc(n, false); }
const struct bench_workload bench_mpsc_bounded = {"mpsc_bounded", mpsc_bounded};
const struct bench_workload bench_mpsc_unbounded = {"mpsc_unbounded", mpsc_unbounded};

/* ------------------------------------------------------------------ semaphore */

#define SEM_TASKS 10000
#define SEM_PERMITS 100

struct sem_task {
    WEFT_ASYNC_STATE;
    weft_semaphore *sem; /* borrowed */
    weft_semaphore_acquire acq;
    weft_permit permit;  /* owned while held */
    int err;
};

static weft_poll sem_task_poll(void *state, weft_cx *cx, void *out)
{
    struct sem_task *t = state;
    (void)out;
    WEFT_ASYNC_BEGIN(t);
    weft_semaphore_acquire_init(&t->acq, t->sem);
    WEFT_AWAIT(t, weft_semaphore_acquire_poll(&t->acq, cx, &t->permit, &t->err));
    if (t->err < 0)
        WEFT_ASYNC_FAIL(t, t->err);
    WEFT_YIELD(t, cx);
    weft_permit_release(&t->permit);
    WEFT_ASYNC_END(t);
}

static void sem_task_drop(void *state)
{
    struct sem_task *t = state;
    weft_semaphore_acquire_drop(&t->acq);
    weft_permit_release(&t->permit);
}

static const weft_future_type sem_task_type = {
    .name = "sem_task", .poll = sem_task_poll, .drop = sem_task_drop,
    .state_size = sizeof(struct sem_task)};

struct sem_root {
    WEFT_ASYNC_STATE;
    weft_join **joins; /* preallocated */
    weft_semaphore *sem;
    int64_t t0;
    int i, err;
};

static weft_poll sem_root_poll(void *state, weft_cx *cx, void *out)
{
    struct sem_root *s = state;
    WEFT_ASYNC_BEGIN(s);
    if ((s->err = weft_semaphore_new(&s->sem, SEM_PERMITS)) < 0)
        WEFT_ASYNC_FAIL(s, s->err);
    s->t0 = weft_now();
    for (s->i = 0; s->i < SEM_TASKS; s->i++) {
        struct sem_task init = {.sem = s->sem};
        if ((s->err = weft_spawn(weft_cx_rt(cx), &sem_task_type, &init, &s->joins[s->i])) < 0)
            WEFT_ASYNC_FAIL(s, s->err);
    }
    for (s->i = 0; s->i < SEM_TASKS; s->i++) {
        WEFT_AWAIT(s, weft_join_poll(s->joins[s->i], cx, NULL, 0, &s->err));
        if (s->err < 0)
            WEFT_ASYNC_FAIL(s, s->err);
    }
    *(int64_t *)out = weft_now() - s->t0;
    if (weft_semaphore_available(s->sem) != SEM_PERMITS)
        WEFT_ASYNC_FAIL(s, -EPROTO);
    WEFT_ASYNC_END(s);
}

static void sem_root_drop(void *state)
{
    struct sem_root *s = state;
    weft_semaphore_free(s->sem);
}

static const weft_future_type sem_root_type = {
    .name = "semaphore", .poll = sem_root_poll, .drop = sem_root_drop,
    .state_size = sizeof(struct sem_root), .out_size = sizeof(int64_t)};

static void run_semaphore(const char *name)
{
    weft_rt *rt = bench_rt(WEFT_RT_MULTI_THREAD);
    struct sem_root init = {.joins = calloc(SEM_TASKS, sizeof(weft_join *))};
    double ns = bench_median_ns(rt, &sem_root_type, &init);
    char metric[64];
    snprintf(metric, sizeof metric, "%s_ns_per_acquire", name);
    bench_out(metric, ns / SEM_TASKS, "ns");
    weft_rt_free(rt);
    free(init.joins);
}
const struct bench_workload bench_semaphore = {"semaphore", run_semaphore};
