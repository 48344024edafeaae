/* F13: with every Nth allocation failing, runtime creation and spawn return -ENOMEM, the
 * runtime keeps running the tasks it has, and nothing leaks (ASan's leak check) or crashes. */
#include "core/core.h"
#include "test.h"
#include "weft.h"

struct chain {
    WEFT_ASYNC_STATE;
    int i, ok, nomem;
    weft_join *j;
    int err;
};

static weft_poll leaf_poll(void *st, weft_cx *cx, void *out)
{
    (void)st, (void)cx, (void)out;
    return WEFT_READY;
}
static const weft_future_type leaf_type = {.name = "leaf", .poll = leaf_poll, .state_size = 64};

static weft_poll chain_poll(void *st, weft_cx *cx, void *out)
{
    struct chain *c = st;
    WEFT_ASYNC_BEGIN(c);
    for (c->i = 0; c->i < 20000; c->i++) {
        c->err = weft_spawn(weft_cx_rt(cx), &leaf_type, NULL, &c->j);
        if (c->err == -ENOMEM) {
            c->nomem++;
            continue;
        }
        if (c->err < 0)
            WEFT_ASYNC_FAIL(c, c->err);
        WEFT_AWAIT(c, weft_join_poll(c->j, cx, NULL, 0, &c->err));
        if (c->err == 0)
            c->ok++;
    }
    ((int *)out)[0] = c->ok;
    ((int *)out)[1] = c->nomem;
    WEFT_ASYNC_END(c);
}
static const weft_future_type chain_type = {.name = "chain",
                                            .poll = chain_poll,
                                            .state_size = sizeof(struct chain),
                                            .out_size = 2 * sizeof(int)};

TEST(every_nth_allocation_fails)
{
    static const uint64_t every[] = {2, 3, 5, 7, 50, 1000};
    for (size_t k = 0; k < sizeof every / sizeof every[0]; k++) {
        for (int f = 0; f < 2; f++) {
            int created = 0, nomem_new = 0;
            weft__alloc_fail_every(every[k]);
            for (int attempt = 0; attempt < 20; attempt++) {
                weft_rt *rt = NULL;
                int err = weft_rt_new(&rt, &(weft_rt_config){.flavor = f, .workers = 2});
                if (err == -ENOMEM) {
                    ASSERT_TRUE(rt == NULL);
                    nomem_new++;
                    continue;
                }
                ASSERT_EQ(err, 0);
                created++;
                int out[2] = {0, 0};
                err = weft_rt_block_on(rt, &chain_type, NULL, out);
                /* The root spawn itself may fail; otherwise every leaf either ran or got
                 * -ENOMEM, and the runtime kept going. */
                if (err == 0)
                    ASSERT_EQ(out[0] + out[1], 20000);
                else
                    ASSERT_EQ(err, -ENOMEM);
                weft_rt_free(rt);
            }
            weft__alloc_fail_every(0);
            ASSERT_TRUE(created + nomem_new == 20);
        }
    }
}

TEST_MAIN()
