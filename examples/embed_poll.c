/* embed_poll: weft living inside a plain poll() loop that also serves other work.
 * The loop owns the thread; weft gets a descriptor to watch and a deadline to honour. */
#include <poll.h>

#include "embed_common.h"

int main(void)
{
    weft_rt *rt;
    weft_join *demo;
    int rounds = 0, err;

    if ((err = weft_rt_new(&rt, &(weft_rt_config){.flavor = WEFT_RT_CURRENT_THREAD})) < 0 ||
        (err = weft_spawn(rt, &echo_demo_type, NULL, &demo)) < 0) {
        fprintf(stderr, "embed_poll: %s\n", weft_strerror(err));
        return 1;
    }
    int fd = weft_rt_fd(rt);
    int wakeups = 0;
    while (!weft_join_is_finished(demo)) {
        int64_t deadline;
        weft_rt_run_once(rt, &deadline); /* runs what is ready; never blocks */
        if (weft_join_is_finished(demo))
            break;
        /* ...a real program would watch its own descriptors here too... */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, embed_ms_until(deadline));
        wakeups++;
    }
    err = weft_join_wait(demo, &rounds, sizeof rounds);
    printf("host loop: %d wake-ups, task result %s, %d rounds\n", wakeups, weft_strerror(err),
           rounds);
    weft_rt_free(rt);
    return err != 0 || rounds != ROUNDS;
}
