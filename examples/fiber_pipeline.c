/* fiber_pipeline: a value travels down a chain of stages, each a separate task that receives
 * from a oneshot channel, adds its number and sends to the next. Even stages are fibers,
 * odd stages are state machines: the same stage written in both styles, side by side, on one
 * scheduler - a fiber awaits a state machine's channel and the other way round.
 *
 * Then cancellation: a fiber parked on a channel nobody will send on is aborted; its await
 * returns -ECANCELED and it runs its own cleanup before it ends. */
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>

#define STAGES 100

struct stage {
    weft_oneshot *in, *out; /* receive from in, send to out (each end used once) */
    long add;
};

/* ---- the stage as a fiber: straight-line code, locals on the fiber's stack */

static int stage_fiber(void *arg)
{
    struct stage *s = arg;
    long v;
    int err = weft_await_oneshot(s->in, &v); /* suspends until the value arrives */
    if (err < 0) {
        weft_oneshot_sender_drop(s->out); /* pass the failure down the chain */
        return err;
    }
    return weft_oneshot_send(s->out, &(long){v + s->add});
}

/* ---- the same stage as a state machine: state that outlives an await is in the struct */

struct stage_sm {
    WEFT_ASYNC_STATE;
    struct stage *s;
    long v;
    int err;
};

static weft_poll stage_sm_poll(void *state, weft_cx *cx, void *out)
{
    struct stage_sm *m = state;
    (void)out;
    WEFT_ASYNC_BEGIN(m);
    WEFT_AWAIT(m, weft_oneshot_recv_poll(m->s->in, cx, &m->v, &m->err));
    if (m->err < 0) {
        weft_oneshot_sender_drop(m->s->out);
        WEFT_ASYNC_FAIL(m, m->err);
    }
    m->err = weft_oneshot_send(m->s->out, &(long){m->v + m->s->add});
    if (m->err < 0)
        WEFT_ASYNC_FAIL(m, m->err);
    WEFT_ASYNC_END(m);
}
static const weft_future_type stage_sm_type = {
    .name = "stage_sm", .poll = stage_sm_poll, .state_size = sizeof(struct stage_sm)};

/* ---- cancellation: a fiber that cleans up after itself */

static int wait_forever(void *arg)
{
    int *cleaned = arg;
    weft_oneshot *never;
    if (weft_oneshot_new(&never, 0) < 0)
        return -ENOMEM;
    char *buffer = malloc(4096); /* something to clean up */
    int err = weft_await_oneshot(never, NULL); /* -ECANCELED once aborted */
    free(buffer);                              /* the cleanup runs either way */
    weft_oneshot_sender_drop(never);
    *cleaned = 1;
    return err;
}

/* The end of the chain, as a fiber: main itself is no task and cannot await. */
static int sink(void *arg)
{
    long v = 0;
    int err = weft_await_oneshot(arg, &v);
    return err < 0 ? err : (int)v;
}

int main(void)
{
    static struct stage st[STAGES];
    weft_oneshot *links[STAGES + 1];
    weft_rt *rt = NULL;
    weft_join *j = NULL;
    int result = 0, cleaned = 0;
    int err = weft_rt_new(&rt, &(weft_rt_config){.workers = 2});

    for (int i = 0; err == 0 && i <= STAGES; i++)
        err = weft_oneshot_new(&links[i], sizeof(long));
    for (int i = 0; err == 0 && i < STAGES; i++) {
        st[i] = (struct stage){.in = links[i], .out = links[i + 1], .add = i + 1};
        if (i % 2 == 0)
            err = weft_fiber_spawn(rt, stage_fiber, &st[i], NULL, NULL);
        else
            err = weft_spawn(rt, &stage_sm_type, &(struct stage_sm){.s = &st[i]}, NULL);
    }
    if (err == 0)
        err = weft_fiber_spawn(rt, sink, links[STAGES], NULL, &j);
    if (err == 0)
        err = weft_oneshot_send(links[0], &(long){0}); /* start the value on its way */
    if (err == 0)
        err = weft_join_wait(j, &result, sizeof result);
    if (err == 0)
        printf("0 + 1 + ... + %d through %d stages = %d\n", STAGES, STAGES, result);

    /* Abort a parked fiber: its await fails, it cleans up, its join says -ECANCELED. */
    if (err == 0)
        err = weft_fiber_spawn(rt, wait_forever, &cleaned, NULL, &j);
    if (err == 0) {
        weft_join_abort(j);
        int r = weft_join_wait(j, NULL, 0);
        printf("aborted fiber: %s, cleaned up: %s\n", weft_strerror(r), cleaned ? "yes" : "no");
        if (r != -ECANCELED || !cleaned)
            err = -EPROTO;
    }
    weft_rt_free(rt);
    if (err < 0) {
        fprintf(stderr, "fiber_pipeline: %s\n", weft_strerror(err));
        return 1;
    }
    return result != STAGES * (STAGES + 1) / 2;
}
