/* The blocking pool: placeholder until spawn_blocking lands. */
#include "sched/sched.h"

void weft__blocking_fini(weft_rt *rt)
{
    (void)rt;
}
