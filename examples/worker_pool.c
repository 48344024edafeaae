/* worker_pool: a fixed pool of worker tasks fed by a bounded channel.
 *
 * The producer sends 200 jobs into a channel that holds 8: when the workers fall behind, its
 * send waits (backpressure) instead of queueing without limit. An mpsc channel has a single
 * receiver, so the four workers share it behind an async mutex: whoever holds the lock waits
 * for the next job, takes it, unlocks, and works on it while the others take theirs. When the
 * producer drops its sender, every worker sees -EPIPE once the channel is empty, and stops. */
#include <errno.h>
#include <stdio.h>
#include <weft.h>

#define WORKERS 4
#define JOBS 200
#define CAPACITY 8

struct job {
    int id;
    int64_t value;
};

/* What the workers share; it outlives them (the root awaits them all). */
struct pool {
    weft_mutex *lock;        /* guards rx: one waiter on the channel at a time */
    weft_mpsc_receiver *rx;
};

struct worker {
    WEFT_ASYNC_STATE;
    struct pool *pool;
    int id;
    weft_mutex_lock locking;
    weft_permit guard; /* the mutex, while held */
    weft_sleep work;   /* stands for the job's own async work (a request, a query...) */
    struct job job;
    int64_t sum;
    int done, err;
};

static weft_poll worker_poll(void *state, weft_cx *cx, void *out)
{
    struct worker *w = state;
    WEFT_ASYNC_BEGIN(w);
    for (;;) {
        weft_mutex_lock_init(&w->locking, w->pool->lock);
        WEFT_AWAIT(w, weft_mutex_lock_poll(&w->locking, cx, &w->guard, &w->err));
        WEFT_AWAIT(w, weft_mpsc_recv_poll(w->pool->rx, cx, &w->job, &w->err));
        weft_permit_release(&w->guard); /* the next worker may wait for a job now */
        if (w->err == -EPIPE)
            break; /* the producer is gone and the channel is empty */
        weft_sleep_init(&w->work, WEFT_US(200));
        WEFT_AWAIT(w, weft_sleep_poll(&w->work, cx));
        w->sum += w->job.value * w->job.value;
        w->done++;
    }
    *(int64_t *)out = w->sum;
    printf("  worker %d handled %d jobs\n", w->id, w->done);
    WEFT_ASYNC_END(w);
}

/* Runs once if the worker is dropped before it finishes (an abort, a runtime shutdown). */
static void worker_drop(void *state)
{
    struct worker *w = state;
    weft_mutex_lock_drop(&w->locking);
    weft_permit_release(&w->guard); /* no-op unless held */
    weft_sleep_drop(&w->work);
}
static const weft_future_type worker_type = {.name = "worker",
                                             .poll = worker_poll,
                                             .drop = worker_drop,
                                             .state_size = sizeof(struct worker),
                                             .out_size = sizeof(int64_t)};

struct producer {
    WEFT_ASYNC_STATE;
    struct pool pool;
    weft_mpsc_sender *tx;
    weft_mpsc_send sending;
    weft_join *workers[WORKERS];
    struct job job;
    int64_t part, total;
    int i, err;
};

static weft_poll producer_poll(void *state, weft_cx *cx, void *out)
{
    struct producer *p = state;
    WEFT_ASYNC_BEGIN(p);
    for (p->i = 0; p->i < WORKERS; p->i++) {
        struct worker init = {.pool = &p->pool, .id = p->i + 1};
        if ((p->err = weft_spawn(weft_cx_rt(cx), &worker_type, &init, &p->workers[p->i])) < 0)
            WEFT_ASYNC_FAIL(p, p->err);
    }
    for (p->i = 1; p->i <= JOBS; p->i++) {
        p->job = (struct job){.id = p->i, .value = p->i};
        weft_mpsc_send_init(&p->sending, p->tx, &p->job);
        WEFT_AWAIT(p, weft_mpsc_send_poll(&p->sending, cx, &p->err)); /* waits while full */
        if (p->err < 0)
            WEFT_ASYNC_FAIL(p, p->err);
    }
    weft_mpsc_sender_drop(p->tx); /* no more jobs: the workers drain and stop */
    p->tx = NULL;
    for (p->i = 0; p->i < WORKERS; p->i++) {
        WEFT_AWAIT(p, weft_join_poll(p->workers[p->i], cx, &p->part, sizeof p->part, &p->err));
        if (p->err < 0)
            WEFT_ASYNC_FAIL(p, p->err);
        p->total += p->part;
    }
    *(int64_t *)out = p->total;
    WEFT_ASYNC_END(p);
}

static void producer_drop(void *state)
{
    struct producer *p = state;
    weft_mpsc_send_drop(&p->sending);
    weft_mpsc_sender_drop(p->tx);
}
static const weft_future_type producer_type = {.name = "producer",
                                               .poll = producer_poll,
                                               .drop = producer_drop,
                                               .state_size = sizeof(struct producer),
                                               .out_size = sizeof(int64_t)};

int main(void)
{
    weft_rt *rt = NULL;
    struct producer init = {0};
    int64_t total = 0;
    int err = weft_rt_new(&rt, NULL);
    if (err == 0)
        err = weft_mutex_new(&init.pool.lock);
    if (err == 0)
        err = weft_mpsc_new(&init.tx, &init.pool.rx, sizeof(struct job), CAPACITY);
    if (err == 0) {
        printf("%d jobs, %d workers, a channel of %d\n", JOBS, WORKERS, CAPACITY);
        err = weft_rt_block_on(rt, &producer_type, &init, &total);
    }
    /* The producer awaited every worker, so nothing uses the channel or the mutex now. The
     * receiver goes before the runtime: it may still hold a worker's waker. */
    weft_mpsc_receiver_drop(init.pool.rx);
    weft_mutex_free(init.pool.lock);
    weft_rt_free(rt);
    if (err < 0) {
        fprintf(stderr, "worker_pool: %s\n", weft_strerror(err));
        return 1;
    }
    int64_t want = (int64_t)JOBS * (JOBS + 1) * (2 * JOBS + 1) / 6; /* sum of squares */
    printf("sum of squares 1..%d = %lld (%s)\n", JOBS, (long long)total,
           total == want ? "right" : "WRONG");
    return total != want;
}
