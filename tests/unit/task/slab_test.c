/* The task slab: classes, reuse, frees from another thread, the shutdown walk. */
#include <pthread.h>

#include "task/slab.h"
#include "test.h"

TEST(alloc_reuses_freed_blocks)
{
    struct weft__slab s;
    weft__slab_init(&s);
    struct weft__task *a = weft__slab_alloc(&s, 200);
    ASSERT_TRUE(a != NULL);
    ASSERT_EQ((uintptr_t)a % 16, 0);
    st_relaxed(&a->state, 1);
    weft__slab_free(a, &s);
    struct weft__task *b = weft__slab_alloc(&s, 200);
    ASSERT_TRUE(a == b);
    weft__slab_fini(&s);
}

TEST(every_size_class_fits)
{
    struct weft__slab s;
    weft__slab_init(&s);
    for (size_t size = 96; size <= TASK_SLAB_MAX; size += 40) {
        unsigned char *p = weft__slab_alloc(&s, size);
        ASSERT_TRUE(p != NULL);
        memset(p, 0xab, size); /* ASan would catch an overlap with the span header */
        st_relaxed(&((struct weft__task *)p)->state, 0);
    }
    weft__slab_fini(&s);
}

static int walked;
static void count(struct weft__task *t, void *arg)
{
    (void)t, (void)arg;
    walked++;
}

struct remote_arg {
    struct weft__task **blocks;
    int n;
};
static void *free_remote(void *p)
{
    struct remote_arg *a = p;
    for (int i = 0; i < a->n; i++)
        weft__slab_free(a->blocks[i], NULL);
    return NULL;
}

TEST(remote_frees_come_back_and_walk_sees_live_blocks)
{
    enum { N = 50000 };
    static struct weft__task *blocks[N];
    struct weft__slab s;
    weft__slab_init(&s);
    for (int i = 0; i < N; i++) {
        blocks[i] = weft__slab_alloc(&s, 128);
        ASSERT_TRUE(blocks[i] != NULL);
        st_relaxed(&blocks[i]->state, TASK_REF_ONE);
    }
    walked = 0;
    weft__slab_walk(&s, count, NULL);
    ASSERT_EQ(walked, N);
    pthread_t th;
    struct remote_arg a = {blocks, N / 2};
    pthread_create(&th, NULL, free_remote, &a);
    pthread_join(th, NULL);
    walked = 0;
    weft__slab_walk(&s, count, NULL);
    ASSERT_EQ(walked, N - N / 2);
    /* The remote frees are reused before new memory is carved. */
    for (int i = 0; i < N / 2; i++) {
        struct weft__task *t = weft__slab_alloc(&s, 128);
        int found = 0;
        for (int j = 0; j < N / 2 && !found; j += 1)
            found = blocks[j] == t;
        if (i < 10)
            ASSERT_TRUE(found);
        st_relaxed(&t->state, TASK_REF_ONE);
    }
    weft__slab_fini(&s);
}

TEST_MAIN()
