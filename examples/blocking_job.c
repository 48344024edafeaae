/* blocking_job: a CPU-heavy job on the blocking pool, so the runtime stays responsive.
 *
 * The runtime here has a single thread. Counting primes inline would freeze it: no other task
 * could run until the count ended. weft_spawn_blocking() runs the count on a pool thread
 * instead; the runtime's thread keeps running a ticker task every 10 ms meanwhile, and the
 * root task awaits the job's join handle like any other task's. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>

#define LIMIT 20000000 /* count the primes below this: ~100 ms of CPU, 20 MB */

/* The job: an ordinary blocking function. Its return value becomes the join's output. */
static void *count_primes(void *arg)
{
    int limit = *(const int *)arg;
    char *composite = calloc((size_t)limit, 1);
    if (!composite)
        return (void *)(intptr_t)-1;
    intptr_t count = 0;
    for (int i = 2; i < limit; i++) {
        if (composite[i])
            continue;
        count++;
        for (long long j = (long long)i * i; j < limit; j += i)
            composite[j] = 1;
    }
    free(composite);
    return (void *)count;
}

struct ticker {
    WEFT_ASYNC_STATE;
    atomic_bool *stop;
    weft_interval every;
    int64_t at;
};

static weft_poll ticker_poll(void *state, weft_cx *cx, void *out)
{
    struct ticker *t = state;
    WEFT_ASYNC_BEGIN(t);
    weft_interval_init(&t->every, weft_now(), WEFT_MS(10), WEFT_MISSED_SKIP);
    while (!atomic_load(t->stop)) {
        WEFT_AWAIT(t, weft_interval_tick_poll(&t->every, cx, &t->at));
        ++*(int *)out;
    }
    WEFT_ASYNC_END(t);
}
static void ticker_drop(void *state) { weft_interval_drop(&((struct ticker *)state)->every); }
static const weft_future_type ticker_type = {.name = "ticker",
                                             .poll = ticker_poll,
                                             .drop = ticker_drop,
                                             .state_size = sizeof(struct ticker),
                                             .out_size = sizeof(int)};

struct root {
    WEFT_ASYNC_STATE;
    int limit, ticks, err;
    atomic_bool stop;
    weft_join *job, *ticker;
    void *primes;
    int64_t t0;
};

static weft_poll root_poll(void *state, weft_cx *cx, void *out)
{
    struct root *r = state;
    (void)out;
    WEFT_ASYNC_BEGIN(r);
    r->t0 = weft_now();
    if ((r->err = weft_spawn(weft_cx_rt(cx), &ticker_type, &(struct ticker){.stop = &r->stop},
                             &r->ticker)) < 0)
        WEFT_ASYNC_FAIL(r, r->err);
    if ((r->err = weft_spawn_blocking(weft_cx_rt(cx), count_primes, &r->limit, &r->job)) < 0)
        WEFT_ASYNC_FAIL(r, r->err);
    WEFT_AWAIT(r, weft_join_poll(r->job, cx, &r->primes, sizeof r->primes, &r->err));
    if (r->err < 0 || (intptr_t)r->primes < 0)
        WEFT_ASYNC_FAIL(r, r->err < 0 ? r->err : -ENOMEM);
    printf("%ld primes below %d, counted in %.0f ms on a pool thread\n", (long)(intptr_t)r->primes,
           r->limit, (weft_now() - r->t0) / 1e6);
    atomic_store(&r->stop, true);
    WEFT_AWAIT(r, weft_join_poll(r->ticker, cx, &r->ticks, sizeof r->ticks, &r->err));
    printf("meanwhile the runtime's only thread ran the 10 ms ticker %d times\n", r->ticks);
    WEFT_ASYNC_END(r);
}
static const weft_future_type root_type = {
    .name = "root", .poll = root_poll, .state_size = sizeof(struct root)};

int main(void)
{
    weft_rt *rt;
    int err = weft_rt_new(&rt, &(weft_rt_config){.flavor = WEFT_RT_CURRENT_THREAD});
    if (err == 0)
        err = weft_rt_block_on(rt, &root_type, &(struct root){.limit = LIMIT}, NULL);
    weft_rt_free(rt);
    if (err < 0) {
        fprintf(stderr, "blocking_job: %s\n", weft_strerror(err));
        return 1;
    }
    return 0;
}
