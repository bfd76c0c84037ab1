/*
 * quant.c — int8 numbers for --precision int8: symmetric quantisation with zero
 * point 0 (x ≈ q · scale, q in [-127, 127] — -128 is never used — or [-63, 63] for
 * a layer's input where the CPU lacks int8 dot products: see quant_levels in
 * ops.h), a scale per output channel for weights and one per layer input for
 * activations, and the calibration hook that measures those inputs.
 */
#include "ops.h"

#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>

static int levels = 127;
static pthread_once_t levels_once = PTHREAD_ONCE_INIT;

/* The ISA oneDNN's kernels use (the CPU's, or less under ONEDNN_MAX_CPU_ISA):
 * the VNNI bit is set for avx512_core_vnni and above; avx2_vnni has its own. */
static void find_levels(void)
{
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    unsigned vnni = (unsigned)dnnl_cpu_isa_avx512_core_vnni & ~(unsigned)dnnl_cpu_isa_avx512_core;
    unsigned avx2_vnni = (unsigned)dnnl_cpu_isa_avx2_vnni & ~(unsigned)dnnl_cpu_isa_avx2;
    levels = (isa & vnni) || (isa & avx2_vnni) ? 127 : 63;
}

int quant_levels(void)
{
    pthread_once(&levels_once, find_levels);
    return levels;
}

/* Large arrays are split over the ops' pool in parts of at least this many. */
#define PART_MIN ((size_t)1 << 16)

static int parts_for(size_t n)
{
    int T = pool_size(ops_pool());
    size_t p = n / PART_MIN;
    return p < 1 ? 1 : p < (size_t)T ? (int)p : T;
}

static float absmax_span(const float *x, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        m = a > m ? a : m;   /* (a NaN compares false: ignored) */
    }
    return m;
}

struct span_job {
    const float *x;
    size_t n;
    int parts;
    float scale, lim;   /* quantize */
    int8_t *q;
    float max[64];   /* absmax, per part */
};

static void absmax_part(void *ctx, int p, int worker)
{
    (void)worker;
    struct span_job *j = ctx;
    size_t lo = j->n * p / j->parts, hi = j->n * (p + 1) / j->parts;
    j->max[p] = absmax_span(j->x + lo, hi - lo);
}

float absmax(const float *x, size_t n)
{
    struct span_job j = { .x = x, .n = n, .parts = parts_for(n) };
    if (j.parts > 64) j.parts = 64;
    if (j.parts == 1) return absmax_span(x, n);
    pool_run(ops_pool(), j.parts, absmax_part, &j);
    float m = 0.0f;
    for (int p = 0; p < j.parts; p++) m = j.max[p] > m ? j.max[p] : m;
    return m;
}

/* The scale that maps amax to lim: 1 when there is nothing to scale. */
static float scale_for(float amax, float lim)
{
    return amax > 0.0f && isfinite(amax) ? amax / lim : 1.0f;
}

float quant_scale(float amax) { return scale_for(amax, (float)quant_levels()); }

static void quantize_span(const float *restrict x, size_t n, float inv, float lim,
                          int8_t *restrict q)
{
    for (size_t i = 0; i < n; i++) q[i] = quant_one(x[i], inv, lim);
}

static void quantize_part(void *ctx, int p, int worker)
{
    (void)worker;
    struct span_job *j = ctx;
    size_t lo = j->n * p / j->parts, hi = j->n * (p + 1) / j->parts;
    quantize_span(j->x + lo, hi - lo, 1.0f / j->scale, j->lim, j->q + lo);
}

void quantize_s8(const float *x, size_t n, float scale, int8_t *q)
{
    struct span_job j = { .x = x, .n = n, .parts = parts_for(n), .scale = scale,
                          .lim = (float)quant_levels(), .q = q };
    if (j.parts == 1) quantize_span(x, n, 1.0f / scale, j.lim, q);
    else pool_run(ops_pool(), j.parts, quantize_part, &j);
}

void quantize_rows_s8(const float *w, int rows, int cols, int8_t *q, float *scale)
{
    for (int r = 0; r < rows; r++) {
        const float *row = w + (size_t)r * cols;
        scale[r] = scale_for(absmax(row, (size_t)cols), 127.0f);
        quantize_span(row, (size_t)cols, 1.0f / scale[r], 127.0f, q + (size_t)r * cols);
    }
}

/* ---- the calibration hook ---------------------------------------------------------- */

static _Thread_local ops_observer_fn tl_fn;
static _Thread_local void *tl_ctx;

void ops_observe(ops_observer_fn fn, void *ctx)
{
    tl_fn = fn;
    tl_ctx = ctx;
}

void ops_observed(const void *layer, const float *x, size_t n)
{
    if (tl_fn) tl_fn(tl_ctx, layer, absmax(x, n));
}
