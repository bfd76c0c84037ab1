/*
 * bf16.c — bfloat16 numbers for --precision bf16: f32 rounded to nearest even
 * (the weights once at load, each product's other input when im2col writes it),
 * and back. The products themselves are matmul.c's.
 */
#include "ops.h"

#include <string.h>

/* Branch-free, so that the loop below vectorises: round to nearest, ties to
 * even; a NaN keeps its sign and becomes a quiet NaN. */
static inline uint16_t round_bits(uint32_t u)
{
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1)) >> 16;
    uint32_t nan = (u >> 16) | 0x40;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : r);
}

uint16_t bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return round_bits(u);
}

float bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

void bf16_from_f32(const float *restrict x, size_t n, uint16_t *restrict y)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);   /* (compiles to a vector load) */
        y[i] = round_bits(u);
    }
}

