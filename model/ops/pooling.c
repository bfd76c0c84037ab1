/*
 * pooling.c — spatial pooling as torch's CPU kernels compute it, for model
 * graphs (net/graph_run.c): max and average pooling with any kernel, stride, padding,
 * dilation (max) and ceil mode, and adaptive average and max pooling.
 */
#include "ops.h"

#include <math.h>

/* torch's pooling_output_shape: floor (or ceil) of the span over the stride,
 * and in ceil mode the last window must start inside the input or its left
 * padding. <= 0 for an input smaller than the window. */
int pool_out_len(int n, int k, int stride, int pad, int dil, int ceil_mode)
{
    int64_t span = (int64_t)n + 2 * pad - (int64_t)dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
    int64_t len = (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;
    if (ceil_mode && len > 0 && (len - 1) * stride >= (int64_t)n + pad) len--;
    return len > INT32_MAX ? INT32_MAX : (int)len;
}

struct pool_job {
    const struct fmap *in;
    struct fmap *out;
    const struct pool_geom *g;
    int is_max;
};

/* torch's max: a larger value or a NaN replaces the running maximum. */
static inline float max_nan(float m, float v) { return v > m || v != v ? v : m; }

/* One output of a max pool, with its window clipped to the map. */
static float max_at(const float *src, int h, int w, const struct pool_geom *g, int oy, int ox)
{
    float m = -INFINITY;
    for (int ky = 0; ky < g->k; ky++) {
        int iy = oy * g->stride - g->pad + ky * g->dil;
        if (iy < 0 || iy >= h) continue;
        for (int kx = 0; kx < g->k; kx++) {
            int ix = ox * g->stride - g->pad + kx * g->dil;
            if (ix >= 0 && ix < w) m = max_nan(m, src[(size_t)iy * w + ix]);
        }
    }
    return m;
}

/* dst[x] = max(dst[x], row[x * stride]) over n outputs: the inner loop of the
 * columns whose windows lie inside the map, which vectorises. */
static void max_into(float *restrict dst, const float *restrict row, int stride, int n)
{
    for (int x = 0; x < n; x++) dst[x] = max_nan(dst[x], row[(size_t)x * stride]);
}

static void max_channels(void *ctx, int c0, int c1)
{
    const struct pool_job *j = ctx;
    const struct fmap *in = j->in;
    struct fmap *out = j->out;
    const struct pool_geom *g = j->g;
    int s = g->stride, span = g->dil * (g->k - 1);
    /* outputs [xa, xb) have every column of their window inside the map */
    int xa = (g->pad + s - 1) / s, xb = 0;
    while (xb < out->w && xb * s - g->pad + span < in->w) xb++;
    if (xa > xb) xa = xb;
    for (int c = c0; c < c1; c++) {
        const float *src = in->d + (size_t)c * in->h * in->w;
        float *dst = out->d + (size_t)c * out->h * out->w;
        for (int oy = 0; oy < out->h; oy++) {
            float *drow = dst + (size_t)oy * out->w;
            for (int ox = 0; ox < xa; ox++) drow[ox] = max_at(src, in->h, in->w, g, oy, ox);
            for (int ox = xb; ox < out->w; ox++) drow[ox] = max_at(src, in->h, in->w, g, oy, ox);
            /* the inside columns tap by tap, in max_at's order (ky, then kx): the same bits */
            for (int ox = xa; ox < xb; ox++) drow[ox] = -INFINITY;
            for (int ky = 0; ky < g->k; ky++) {
                int iy = oy * s - g->pad + ky * g->dil;
                if (iy < 0 || iy >= in->h) continue;
                for (int kx = 0; kx < g->k; kx++)
                    max_into(drow + xa, src + (size_t)iy * in->w + xa * s - g->pad + kx * g->dil,
                             s, xb - xa);
            }
        }
    }
}

/* (channels split over the ops' pool, here and below) */
void pool_max(const struct fmap *in, struct fmap *out, const struct pool_geom *g)
{
    MODEL_ASSERT(out->c == in->c);
    struct pool_job j = { in, out, g, 1 };
    pool_for(in->c, (double)fmap_numel(out) * g->k * g->k, max_channels, &j);
}

static void avg_channels(void *ctx, int c0, int c1)
{
    const struct pool_job *j = ctx;
    const struct fmap *in = j->in;
    struct fmap *out = j->out;
    const struct pool_geom *g = j->g;
    for (int c = c0; c < c1; c++) {
        const float *src = in->d + (size_t)c * in->h * in->w;
        float *dst = out->d + (size_t)c * out->h * out->w;
        for (int oy = 0; oy < out->h; oy++) {
            int y0 = oy * g->stride - g->pad, y1 = y0 + g->k;
            if (y1 > in->h + g->pad) y1 = in->h + g->pad;
            int padded_h = y1 - y0;
            if (y0 < 0) y0 = 0;
            if (y1 > in->h) y1 = in->h;
            for (int ox = 0; ox < out->w; ox++) {
                int x0 = ox * g->stride - g->pad, x1 = x0 + g->k;
                if (x1 > in->w + g->pad) x1 = in->w + g->pad;
                int padded = padded_h * (x1 - x0);
                if (x0 < 0) x0 = 0;
                if (x1 > in->w) x1 = in->w;
                float s = 0.0f;
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) s += src[(size_t)y * in->w + x];
                int n = g->count_include_pad ? padded : (y1 - y0) * (x1 - x0);
                dst[(size_t)oy * out->w + ox] = n > 0 ? s / (float)n : 0.0f;
            }
        }
    }
}

void pool_avg(const struct fmap *in, struct fmap *out, const struct pool_geom *g)
{
    MODEL_ASSERT(out->c == in->c);
    struct pool_job j = { in, out, g, 0 };
    pool_for(in->c, (double)fmap_numel(out) * g->k * g->k, avg_channels, &j);
}

/* Output cell o of an adaptive pool over n inputs covers [floor(o n / len),
 * ceil((o + 1) n / len)). */
static int adaptive_start(int o, int len, int n) { return (int)(((int64_t)o * n) / len); }
static int adaptive_end(int o, int len, int n)
{
    return (int)(((int64_t)(o + 1) * n + len - 1) / len);
}

static void adaptive_channels(void *ctx, int c0, int c1)
{
    const struct pool_job *j = ctx;
    const struct fmap *in = j->in;
    struct fmap *out = j->out;
    int is_max = j->is_max;
    for (int c = c0; c < c1; c++) {
        const float *src = in->d + (size_t)c * in->h * in->w;
        float *dst = out->d + (size_t)c * out->h * out->w;
        for (int oy = 0; oy < out->h; oy++) {
            int y0 = adaptive_start(oy, out->h, in->h), y1 = adaptive_end(oy, out->h, in->h);
            for (int ox = 0; ox < out->w; ox++) {
                int x0 = adaptive_start(ox, out->w, in->w), x1 = adaptive_end(ox, out->w, in->w);
                float acc = is_max ? -INFINITY : 0.0f;
                for (int y = y0; y < y1; y++) {
                    for (int x = x0; x < x1; x++) {
                        float v = src[(size_t)y * in->w + x];
                        if (!is_max) acc += v;
                        else if (v > acc || isnan(v)) acc = v;
                    }
                }
                /* torch: sum / kh / kw, in float */
                dst[(size_t)oy * out->w + ox] =
                    is_max ? acc : acc / (float)(y1 - y0) / (float)(x1 - x0);
            }
        }
    }
}

void pool_adaptive(const struct fmap *in, struct fmap *out, int is_max)
{
    MODEL_ASSERT(out->c == in->c && out->h >= 1 && out->w >= 1);
    struct pool_job j = { in, out, NULL, is_max };
    pool_for(in->c, (double)fmap_numel(in), adaptive_channels, &j);
}
