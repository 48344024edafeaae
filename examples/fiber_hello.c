/* fiber_hello: spawn_join.c again, written as fibers. Compare the two files: the fiber's
 * locals survive every await (they live on its own stack), so there is no state struct, no
 * resume point and no macros - just a loop. The price: a stack per fiber (64 KiB of address
 * space, about one page of memory while parked) and a context switch per suspension. */
#include <stdio.h>
#include <weft.h>

static int square(void *arg)
{
    int n = (int)(intptr_t)arg;
    weft_fiber_yield(); /* let the others run: the result is the same on any worker */
    return n * n;       /* the join handle's output */
}

static int root(void *arg)
{
    weft_rt *rt = weft_rt_current();
    weft_join *joins[10];
    int sum = 0;

    (void)arg;
    for (int i = 0; i < 10; i++) {
        int err = weft_fiber_spawn(rt, square, (void *)(intptr_t)(i + 1), NULL, &joins[i]);
        if (err < 0)
            return err; /* (a real program would also abort the ones already spawned) */
    }
    for (int i = 0; i < 10; i++) {
        int value = 0;
        int err = weft_await_join(joins[i], &value, sizeof value); /* suspends this fiber */
        if (err < 0)
            return err;
        sum += value;
    }
    printf("hello from fiber %llu on worker %d\n", (unsigned long long)weft_fiber_id(),
           weft_rt_worker_index());
    return sum;
}

int main(void)
{
    weft_rt *rt = NULL;
    weft_join *join = NULL;
    int sum = 0;
    int err = weft_rt_new(&rt, &(weft_rt_config){.workers = 2});

    if (err == 0)
        err = weft_fiber_spawn(rt, root, NULL, &(weft_fiber_opts){.name = "root"}, &join);
    if (err == 0)
        err = weft_join_wait(join, &sum, sizeof sum); /* main is not a worker: it may block */
    weft_rt_free(rt);
    if (err < 0) {
        fprintf(stderr, "fiber_hello: %s\n", weft_strerror(err));
        return 1;
    }
    printf("1^2 + ... + 10^2 = %d\n", sum);
    return sum != 385;
}
