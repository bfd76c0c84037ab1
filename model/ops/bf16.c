/*
 * bf16.c — bfloat16 numbers for --precision bf16: f32 rounded to nearest even
 * (the weights once at load, each product's other input when im2col writes it),
 * and back. The products themselves are matmul.c's.
 *
 * Rounding a map is a pass over every input of every bf16 layer (14% of a
 * ResNet-50 bf16 run under perf in plain C), so where the CPU has AVX512_BF16 (chosen at
 * run time) bf16_from_f32 uses its conversion instruction, 32 values at a time:
 * the same round-to-nearest-even and NaN rule, except that inputs below f32's
 * smallest normal (|x| < 1.2e-38) become a signed zero where the plain loop
 * would keep a bf16 subnormal — far below anything a detector's maps resolve.
 */
#include "ops.h"

#include <pthread.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86_BF16 1
#endif

float bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static void from_f32_plain(const float *restrict x, size_t n, uint16_t *restrict y)
{
    for (size_t i = 0; i < n; i++) y[i] = bf16_round(x[i]);
}

#ifdef HAVE_X86_BF16
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) static void
from_f32_avx512bf16(const float *x, size_t n, uint16_t *y)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh r = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
        _mm512_storeu_si512((void *)(y + i), (__m512i)r);
    }
    for (; i < n; i += 16) {
        size_t left = n - i;
        __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        __m256bh r = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + i));
        _mm256_mask_storeu_epi16(y + i, m, (__m256i)r);
    }
}
#endif

static void (*from_f32)(const float *, size_t, uint16_t *) = from_f32_plain;
static pthread_once_t pick_once = PTHREAD_ONCE_INIT;

static void pick(void)
{
#ifdef HAVE_X86_BF16
    if (cpu_has("avx512f") && cpu_has("avx512bw") && cpu_has("avx512vl") && cpu_has("avx512_bf16"))
        from_f32 = from_f32_avx512bf16;
#endif
}

int bf16_rounding_native(void)
{
    pthread_once(&pick_once, pick);
    return from_f32 != from_f32_plain;
}

void bf16_from_f32(const float *x, size_t n, uint16_t *y)
{
    pthread_once(&pick_once, pick);
    from_f32(x, n, y);
}
