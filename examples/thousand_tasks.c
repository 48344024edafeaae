/* thousand_tasks: the article's demo. Spawn 1,000 tasks; each does a small async step (sleeps
 * 50 ms, then yields) and reports back. With a blocking sleep this would take 50 s; on weft
 * all 1,000 sleep at once, so it takes about 50 ms. */
#include <stdio.h>
#include <weft.h>

#define TASKS 1000

struct worker_task {
    WEFT_ASYNC_STATE;
    int id;
    int64_t started;
    weft_sleep sleep;
};

static weft_poll worker_poll(void *state, weft_cx *cx, void *out)
{
    struct worker_task *w = state;
    WEFT_ASYNC_BEGIN(w);
    w->started = weft_now();
    weft_sleep_init(&w->sleep, WEFT_MS(50));
    WEFT_AWAIT(w, weft_sleep_poll(&w->sleep, cx)); /* the task is parked, not the thread */
    WEFT_YIELD(w, cx);
    *(int64_t *)out = weft_now() - w->started;
    WEFT_ASYNC_END(w);
}
static void worker_drop(void *state) { weft_sleep_drop(&((struct worker_task *)state)->sleep); }
static const weft_future_type worker_type = {.name = "worker",
                                             .poll = worker_poll,
                                             .drop = worker_drop,
                                             .state_size = sizeof(struct worker_task),
                                             .out_size = sizeof(int64_t)};

struct root {
    WEFT_ASYNC_STATE;
    weft_join *joins[TASKS];
    int i, err;
    int64_t took, max_task, sum_task;
};

static weft_poll root_poll(void *state, weft_cx *cx, void *out)
{
    struct root *r = state;
    (void)out;
    WEFT_ASYNC_BEGIN(r);
    for (r->i = 0; r->i < TASKS; r->i++) {
        struct worker_task init = {.id = r->i};
        if ((r->err = weft_spawn(weft_cx_rt(cx), &worker_type, &init, &r->joins[r->i])) < 0)
            WEFT_ASYNC_FAIL(r, r->err);
    }
    for (r->i = 0; r->i < TASKS; r->i++) {
        WEFT_AWAIT(r, weft_join_poll(r->joins[r->i], cx, &r->took, sizeof r->took, &r->err));
        if (r->err < 0)
            WEFT_ASYNC_FAIL(r, r->err);
        r->sum_task += r->took;
        if (r->took > r->max_task)
            r->max_task = r->took;
    }
    printf("each task slept 50 ms: mean %.2f ms, slowest %.2f ms\n",
           r->sum_task / 1e6 / TASKS, r->max_task / 1e6);
    WEFT_ASYNC_END(r);
}
static const weft_future_type root_type = {
    .name = "root", .poll = root_poll, .state_size = sizeof(struct root)};

int main(void)
{
    weft_rt *rt;
    int err = weft_rt_new(&rt, NULL);
    if (err < 0) {
        fprintf(stderr, "thousand_tasks: %s\n", weft_strerror(err));
        return 1;
    }
    printf("spawning %d tasks on %u workers...\n", TASKS, weft_rt_workers(rt));
    int64_t t0 = weft_now();
    err = weft_rt_block_on(rt, &root_type, NULL, NULL);
    int64_t wall = weft_now() - t0;
    weft_rt_free(rt);
    if (err < 0) {
        fprintf(stderr, "thousand_tasks: %s\n", weft_strerror(err));
        return 1;
    }
    printf("%d tasks done in %.1f ms of wall time (sequentially: %d ms)\n", TASKS, wall / 1e6,
           TASKS * 50);
    return 0;
}
