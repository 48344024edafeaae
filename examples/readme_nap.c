/* readme_nap: the example from README.md, kept here so the test suite builds and runs it. */
#include <stdio.h>
#include <weft.h>

struct nap { WEFT_ASYNC_STATE; int id; weft_sleep sleep; };

static weft_poll nap_poll(void *state, weft_cx *cx, void *out)
{
    struct nap *n = state;
    WEFT_ASYNC_BEGIN(n);
    weft_sleep_init(&n->sleep, WEFT_MS(50));
    WEFT_AWAIT(n, weft_sleep_poll(&n->sleep, cx)); /* parks the task, not the thread */
    *(int *)out = n->id * 2;
    WEFT_ASYNC_END(n);
}
static const weft_future_type nap_type = {.name = "nap", .poll = nap_poll,
    .state_size = sizeof(struct nap), .out_size = sizeof(int)};

int main(void)
{
    weft_rt *rt; int out;
    if (weft_rt_new(&rt, NULL) < 0) return 1;
    weft_rt_block_on(rt, &nap_type, &(struct nap){.id = 21}, &out);
    printf("%d\n", out); /* 42, 50 ms later */
    weft_rt_free(rt);
    return out != 42;
}
