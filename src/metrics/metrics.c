/* Observability: placeholder until the metrics module lands. */
#include "sched/sched.h"

int weft__metrics_init(weft_rt *rt)
{
    (void)rt;
    return 0;
}

void weft__metrics_fini(weft_rt *rt)
{
    (void)rt;
}
