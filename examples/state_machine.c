/* state_machine: the same async function twice - once with a hand-written switch, once with
 * the async.h macros - to show what the macros expand to. Each ticks three times, 10 ms apart. */
#include <stdio.h>
#include <weft.h>

/* By hand: an explicit step field and a switch. */
struct ticker_by_hand {
    enum { START, SLEEPING, DONE } step;
    int ticks;
    weft_sleep sleep; /* a child future, held inline: no allocation */
};

static weft_poll ticker_by_hand_poll(void *state, weft_cx *cx, void *out)
{
    struct ticker_by_hand *t = state;
    (void)out;
    for (;;) {
        switch (t->step) {
        case START:
            weft_sleep_init(&t->sleep, WEFT_MS(10));
            t->step = SLEEPING;
            /* fall through */
        case SLEEPING:
            if (weft_sleep_poll(&t->sleep, cx) == WEFT_PENDING)
                return WEFT_PENDING; /* the timer holds our waker */
            printf("by hand: tick %d\n", ++t->ticks);
            t->step = t->ticks < 3 ? START : DONE;
            break;
        case DONE:
            return WEFT_READY;
        }
    }
}

/* With the macros: the same machine; the resume point is kept in WEFT_ASYNC_STATE. */
struct ticker {
    WEFT_ASYNC_STATE;
    int ticks;
    weft_sleep sleep;
};

static weft_poll ticker_poll(void *state, weft_cx *cx, void *out)
{
    struct ticker *t = state;
    (void)out;
    WEFT_ASYNC_BEGIN(t);
    for (t->ticks = 1; t->ticks <= 3; t->ticks++) {
        weft_sleep_init(&t->sleep, WEFT_MS(10));
        WEFT_AWAIT(t, weft_sleep_poll(&t->sleep, cx));
        printf("macros:  tick %d\n", t->ticks);
    }
    WEFT_ASYNC_END(t);
}

/* If a task is cancelled while sleeping, its drop disarms the timer. */
static void ticker_by_hand_drop(void *state) { weft_sleep_drop(&((struct ticker_by_hand *)state)->sleep); }
static void ticker_drop(void *state) { weft_sleep_drop(&((struct ticker *)state)->sleep); }

static const weft_future_type by_hand_type = {.name = "by_hand",
                                              .poll = ticker_by_hand_poll,
                                              .drop = ticker_by_hand_drop,
                                              .state_size = sizeof(struct ticker_by_hand)};
static const weft_future_type ticker_type = {
    .name = "ticker", .poll = ticker_poll, .drop = ticker_drop, .state_size = sizeof(struct ticker)};

int main(void)
{
    weft_rt *rt;
    int err = weft_rt_new(&rt, &(weft_rt_config){.flavor = WEFT_RT_CURRENT_THREAD});

    if (err == 0)
        err = weft_rt_block_on(rt, &by_hand_type, NULL, NULL);
    if (err == 0)
        err = weft_rt_block_on(rt, &ticker_type, NULL, NULL);
    weft_rt_free(rt);
    if (err < 0)
        fprintf(stderr, "state_machine: %s\n", weft_strerror(err));
    return err != 0;
}
