/*
 * torch_exp.c — torch's float exp. torch's vectorised CPU kernels (softmax, exp)
 * call SLEEF's expf8_u10; this is one lane of it, written out so scalar code
 * gets the same bits (glibc's expf differs by 1 ulp in ~40% of cases).
 */
#include "ops.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* 2^q as a float, for q in the normal exponent range (SLEEF vpow2i) */
static inline float pow2i(int q)
{
    uint32_t bits = (uint32_t)(q + 0x7f) << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* SLEEF xexpf (u10), the lanes of Sleef_expf8_u10 that torch's Vectorized<float>::exp
 * calls; vmla is a fused multiply-add there, hence fmaf. */
float torch_expf(float d)
{
    if (isnan(d)) return d;
    if (d < -104.0f) return 0.0f;
    if (100.0f < d) return INFINITY;
    int q = (int)nearbyintf(d * 1.442695040888963407359924681001892137426645954152985934135449406931f);
    float s = fmaf((float)q, -0.693145751953125f, d);
    s = fmaf((float)q, -1.428606765330187045e-06f, s);
    float u = 0.000198527617612853646278381f;
    u = fmaf(u, s, 0.00139304355252534151077271f);
    u = fmaf(u, s, 0.00833336077630519866943359f);
    u = fmaf(u, s, 0.0416664853692054748535156f);
    u = fmaf(u, s, 0.166666671633720397949219f);
    u = fmaf(u, s, 0.5f);
    u = 1.0f + fmaf(s * s, u, s);
    return u * pow2i(q >> 1) * pow2i(q - (q >> 1));
}
