/*
 * activation.c — the activations as torch computes them, in place (the
 * formulas are listed in model/FORMAT.md): convs, graph nodes and heads apply
 * them after their bias.
 */
#include "ops.h"

#include <math.h>

static inline float hardswish(float x)
{
    /* torch: x * min(max(x + 3, 0), 6) / 6 with a true division */
    float c = x + 3.0f;
    c = c < 0.0f ? 0.0f : c;      /* compare-selects (not fminf/fmaxf) vectorise */
    c = c > 6.0f ? 6.0f : c;      /* and keep NaN as NaN, like torch */
    return (x * c) / 6.0f;
}

static inline float relu6(float x)
{
    x = x < 0.0f ? 0.0f : x;
    return x > 6.0f ? 6.0f : x;
}

void act_inplace(float *x, size_t n, enum act a)
{
    switch (a) {
    case ACT_NONE:
        break;
    case ACT_RELU:
        for (size_t i = 0; i < n; i++) x[i] = x[i] < 0.0f ? 0.0f : x[i];
        break;
    case ACT_HARDSWISH:
        for (size_t i = 0; i < n; i++) x[i] = hardswish(x[i]);
        break;
    case ACT_RELU6:
        for (size_t i = 0; i < n; i++) x[i] = relu6(x[i]);
        break;
    case ACT_HARDSIGMOID:
        for (size_t i = 0; i < n; i++) x[i] = relu6(x[i] + 3.0f) / 6.0f;
        break;
    case ACT_SILU:   /* torch: x / (1 + exp(-x)) */
        for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + torch_expf(-x[i]));
        break;
    case ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) x[i] = 1.0f / (1.0f + torch_expf(-x[i]));
        break;
    case ACT_GELU:   /* the exact form: x * 0.5 * (1 + erf(x / sqrt 2)) */
        for (size_t i = 0; i < n; i++)
            x[i] = x[i] * 0.5f * (1.0f + erff(x[i] * (float)M_SQRT1_2));
        break;
    case ACT_TANH:
        for (size_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
        break;
    }
}
