/* The allocator hook: a counting allocator sees every allocation libweft makes (allocs and
 * frees match after a full workload and weft_rt_free); a failing allocator gives -ENOMEM from
 * the calls that allocate, never a crash or a leak. */
// labels: allocator
#include <stdlib.h>

#include "test.h"
#include "weft.h"

static _Atomic long live, total, refuse_after = -1;

static void *count_malloc(void *ctx, size_t size)
{
    (void)ctx;
    long n = atomic_fetch_add(&total, 1);
    if (atomic_load(&refuse_after) >= 0 && n >= atomic_load(&refuse_after))
        return NULL;
    void *p = malloc(size);
    if (p)
        atomic_fetch_add(&live, 1);
    return p;
}
static void *count_realloc(void *ctx, void *p, size_t size)
{
    (void)ctx;
    atomic_fetch_add(&total, 1);
    void *q = realloc(p, size);
    if (q && !p)
        atomic_fetch_add(&live, 1);
    return q;
}
static void count_free(void *ctx, void *p)
{
    (void)ctx;
    if (p)
        atomic_fetch_sub(&live, 1);
    free(p);
}
static const weft_allocator counting = {count_malloc, count_realloc, count_free, NULL};

struct work {
    WEFT_ASYNC_STATE;
    weft_join *j[200];
    int i, err;
    weft_sleep s;
    weft_oneshot *ch;
};
static weft_poll leaf_poll(void *st, weft_cx *cx, void *out)
{
    (void)st, (void)cx, (void)out;
    return WEFT_READY;
}
static const weft_future_type big_leaf_type = {.name = "big", .poll = leaf_poll, .state_size = 5000};
static const weft_future_type leaf_type = {.name = "leaf", .poll = leaf_poll};
static weft_poll work_poll(void *st, weft_cx *cx, void *out)
{
    struct work *w = st;
    (void)out;
    WEFT_ASYNC_BEGIN(w);
    for (w->i = 0; w->i < 200; w->i++) /* slab cells and big (seam) cells */
        if ((w->err = weft_spawn(weft_cx_rt(cx), w->i % 2 ? &big_leaf_type : &leaf_type,
                                 NULL, &w->j[w->i])) < 0)
            WEFT_ASYNC_FAIL(w, w->err);
    for (w->i = 0; w->i < 200; w->i++)
        WEFT_AWAIT(w, weft_join_poll(w->j[w->i], cx, NULL, 0, &w->err));
    weft_sleep_init(&w->s, WEFT_MS(2));
    WEFT_AWAIT(w, weft_sleep_poll(&w->s, cx));
    if ((w->err = weft_oneshot_new(&w->ch, 8)) < 0)
        WEFT_ASYNC_FAIL(w, w->err);
    weft_oneshot_send(w->ch, &w->i);
    WEFT_AWAIT(w, weft_oneshot_recv_poll(w->ch, cx, NULL, &w->err));
    WEFT_ASYNC_END(w);
}
static const weft_future_type work_type = {
    .name = "work", .poll = work_poll, .state_size = sizeof(struct work)};

TEST(counting_allocator_sees_everything)
{
    for (int f = 0; f < 2; f++) {
        atomic_store(&live, 0);
        atomic_store(&total, 0);
        ASSERT_EQ(weft_set_allocator(&counting), 0);
        weft_rt *rt;
        ASSERT_EQ(weft_rt_new(&rt, &(weft_rt_config){.flavor = f, .workers = 2}), 0);
        ASSERT_EQ(weft_set_allocator(NULL), -EBUSY); /* not while a runtime lives */
        ASSERT_EQ(weft_rt_block_on(rt, &work_type, NULL, NULL), 0);
        ASSERT_GT(atomic_load(&live), 0);
        weft_rt_free(rt);
        ASSERT_GT(atomic_load(&total), 5);
        ASSERT_EQ(atomic_load(&live), 0); /* every block came back */
        ASSERT_EQ(weft_set_allocator(NULL), 0);
    }
}

TEST(failing_allocator_gives_enomem)
{
    for (long after = 0; after < 40; after++) {
        for (int f = 0; f < 2; f++) {
            atomic_store(&live, 0);
            atomic_store(&total, 0);
            atomic_store(&refuse_after, after);
            ASSERT_EQ(weft_set_allocator(&counting), 0);
            weft_rt *rt = NULL;
            int err = weft_rt_new(&rt, &(weft_rt_config){.flavor = f, .workers = 2});
            if (err == 0) {
                err = weft_rt_block_on(rt, &work_type, NULL, NULL);
                ASSERT_TRUE(err == 0 || err == -ENOMEM);
                weft_rt_free(rt);
            } else {
                ASSERT_EQ(err, -ENOMEM);
                ASSERT_TRUE(rt == NULL);
            }
            ASSERT_EQ(atomic_load(&live), 0);
            atomic_store(&refuse_after, -1);
            ASSERT_EQ(weft_set_allocator(NULL), 0);
        }
    }
}

TEST(bad_allocator_is_einval)
{
    ASSERT_EQ(weft_set_allocator(&(weft_allocator){.malloc = count_malloc}), -EINVAL);
    ASSERT_EQ(weft_set_allocator(NULL), 0);
}

TEST_MAIN()
