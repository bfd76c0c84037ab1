/*
 * clock.c — the one clock the forward pass reads for its stage times.
 */
#include "ops.h"

#include <time.h>

double ops_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
