/* hello: run one task on a runtime and get its output back. */
#include <stdio.h>
#include <weft.h>

/* A future: a poll function over a state struct. This one finishes on its first poll. */
struct greet {
    const char *who;
};

static weft_poll greet_poll(void *state, weft_cx *cx, void *out)
{
    struct greet *g = state;
    (void)cx; /* never waits, so it never needs its waker */
    snprintf(out, 64, "hello, %s, from task %llu", g->who,
             (unsigned long long)weft_task_current_id());
    return WEFT_READY;
}

static const weft_future_type greet_type = {
    .name = "greet", .poll = greet_poll, .state_size = sizeof(struct greet), .out_size = 64};

int main(void)
{
    weft_rt *rt;
    char msg[64];
    int err = weft_rt_new(&rt, NULL); /* multi-thread, one worker per CPU */

    if (err == 0)
        err = weft_rt_block_on(rt, &greet_type, &(struct greet){"world"}, msg);
    if (err == 0)
        puts(msg);
    else
        fprintf(stderr, "hello: %s\n", weft_strerror(err));
    weft_rt_free(rt);
    return err != 0;
}
