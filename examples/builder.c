/* builder: configure a runtime step by step; every setter checks its value at once. */
#include <stdio.h>
#include <weft.h>

static void started(void *arg)
{
    printf("%s: worker %d started\n", (const char *)arg, weft_rt_worker_index());
}

static weft_poll which_worker_poll(void *state, weft_cx *cx, void *out)
{
    (void)state, (void)cx;
    *(int *)out = weft_rt_worker_index();
    return WEFT_READY;
}
static const weft_future_type which_worker_type = {
    .name = "which_worker", .poll = which_worker_poll, .out_size = sizeof(int)};

int main(void)
{
    weft_rt_builder *b;
    weft_rt *rt = NULL;
    int worker = -1, err;

    if ((err = weft_rt_builder_new(&b, WEFT_RT_MULTI_THREAD)) < 0)
        return 1;
    printf("workers(0) -> %s\n", weft_strerror(weft_rt_builder_workers(b, 0))); /* rejected */
    if ((err = weft_rt_builder_workers(b, 2)) == 0 &&
        (err = weft_rt_builder_thread_name(b, "demo")) == 0 &&
        (err = weft_rt_builder_thread_stack_size(b, 256 * 1024)) == 0 &&
        (err = weft_rt_builder_on_thread_start(b, started, "builder")) == 0)
        err = weft_rt_builder_build(b, &rt);
    weft_rt_builder_free(b);
    if (err == 0)
        err = weft_rt_block_on(rt, &which_worker_type, NULL, &worker);
    weft_rt_free(rt); /* joins the workers */
    if (err < 0) {
        fprintf(stderr, "builder: %s\n", weft_strerror(err));
        return 1;
    }
    printf("the task ran on worker %d of 2 (threads are named demo-0, demo-1)\n", worker);
    return 0;
}
