/* spawn_join: a root task spawns ten children, then awaits each join handle in turn. The
 * async.h macros turn the poll function into a resumable state machine. */
#include <stdio.h>
#include <weft.h>

static weft_poll square_poll(void *state, weft_cx *cx, void *out)
{
    int n = *(int *)state;
    (void)cx;
    *(int *)out = n * n;
    return WEFT_READY;
}
static const weft_future_type square_type = {
    .name = "square", .poll = square_poll, .state_size = sizeof(int), .out_size = sizeof(int)};

struct root {
    WEFT_ASYNC_STATE;      /* where to resume */
    weft_join *joins[10];  /* state that must survive an await lives here, not in locals */
    int i, value, err, sum;
};

static weft_poll root_poll(void *state, weft_cx *cx, void *out)
{
    struct root *r = state;
    WEFT_ASYNC_BEGIN(r);
    for (r->i = 0; r->i < 10; r->i++) {
        int n = r->i + 1;
        r->err = weft_spawn(weft_cx_rt(cx), &square_type, &n, &r->joins[r->i]);
        if (r->err < 0)
            WEFT_ASYNC_FAIL(r, r->err);
    }
    for (r->i = 0; r->i < 10; r->i++) {
        WEFT_AWAIT(r, weft_join_poll(r->joins[r->i], cx, &r->value, sizeof r->value, &r->err));
        if (r->err < 0)
            WEFT_ASYNC_FAIL(r, r->err);
        r->sum += r->value;
    }
    *(int *)out = r->sum;
    WEFT_ASYNC_END(r);
}
static const weft_future_type root_type = {
    .name = "root", .poll = root_poll, .state_size = sizeof(struct root), .out_size = sizeof(int)};

int main(void)
{
    weft_rt *rt;
    int sum = 0;
    int err = weft_rt_new(&rt, &(weft_rt_config){.workers = 2});

    if (err == 0)
        err = weft_rt_block_on(rt, &root_type, NULL, &sum);
    weft_rt_free(rt);
    if (err < 0) {
        fprintf(stderr, "spawn_join: %s\n", weft_strerror(err));
        return 1;
    }
    printf("1^2 + ... + 10^2 = %d\n", sum);
    return sum != 385;
}
