/*
 * numeric.c — numeric.h: seeded random values and the relative L2 distance.
 */
#include "numeric.h"

#include <math.h>

float test_frand(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return (float)((*state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

void test_fill(unsigned *state, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = test_frand(state);
}

double test_rel_l2(const float *x, const float *ref, size_t n)
{
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)x[i] - ref[i]) * ((double)x[i] - ref[i]);
        r += (double)ref[i] * ref[i];
    }
    return sqrt(d / (r + 1e-30));
}
