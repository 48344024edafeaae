/* embed_libuv: weft inside a libuv loop. A uv_poll_t watches weft's descriptor and a
 * uv_timer_t honours the deadline weft_rt_run_once returns; libuv stays in charge. */
#include <uv.h>

#include "embed_common.h"

struct host {
    weft_rt *rt;
    weft_join *demo;
    uv_poll_t poll;
    uv_timer_t timer;
    int runs;
};

static void drive(struct host *h);

static void on_readable(uv_poll_t *p, int status, int events)
{
    (void)status, (void)events;
    drive(p->data);
}

static void on_timer(uv_timer_t *t)
{
    drive(t->data);
}

/* Run weft, then either stop (the demo is done) or re-arm the timer for weft's deadline. */
static void drive(struct host *h)
{
    int64_t deadline;
    weft_rt_run_once(h->rt, &deadline);
    h->runs++;
    if (weft_join_is_finished(h->demo)) {
        uv_poll_stop(&h->poll);
        uv_timer_stop(&h->timer);
        return;
    }
    int ms = embed_ms_until(deadline);
    if (ms >= 0)
        uv_timer_start(&h->timer, on_timer, (uint64_t)ms, 0);
    else
        uv_timer_stop(&h->timer);
}

int main(void)
{
    struct host h = {0};
    int rounds = 0, err;

    if ((err = weft_rt_new(&h.rt, &(weft_rt_config){.flavor = WEFT_RT_CURRENT_THREAD})) < 0 ||
        (err = weft_spawn(h.rt, &echo_demo_type, NULL, &h.demo)) < 0) {
        fprintf(stderr, "embed_libuv: %s\n", weft_strerror(err));
        return 1;
    }
    uv_loop_t *loop = uv_default_loop();
    uv_poll_init(loop, &h.poll, weft_rt_fd(h.rt));
    uv_timer_init(loop, &h.timer);
    h.poll.data = h.timer.data = &h;
    uv_poll_start(&h.poll, UV_READABLE, on_readable);
    drive(&h); /* the first turn: start the demo */
    uv_run(loop, UV_RUN_DEFAULT);

    err = weft_join_wait(h.demo, &rounds, sizeof rounds);
    printf("libuv loop: weft ran %d times, task result %s, %d rounds\n", h.runs,
           weft_strerror(err), rounds);
    uv_close((uv_handle_t *)&h.poll, NULL);
    uv_close((uv_handle_t *)&h.timer, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    weft_rt_free(h.rt);
    return err != 0 || rounds != ROUNDS;
}
