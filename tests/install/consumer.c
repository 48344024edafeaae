/* Built out of tree against an installed weft, once with pkg-config, once with CMake. */
#include <stdio.h>
#include <weft.h>

static weft_poll answer_poll(void *state, weft_cx *cx, void *out)
{
    (void)state, (void)cx;
    *(int *)out = 42;
    return WEFT_READY;
}
static const weft_future_type answer_type = {
    .name = "answer", .poll = answer_poll, .out_size = sizeof(int)};

int main(void)
{
    weft_rt *rt;
    int v = 0;
    if (weft_rt_new(&rt, NULL) < 0 || weft_rt_block_on(rt, &answer_type, NULL, &v) < 0)
        return 1;
    weft_rt_free(rt);
    printf("installed weft %s says %d\n", WEFT_VERSION_STRING, v);
    return v != 42;
}
