/*
 * conv.c — torch.nn.Conv2d on CHW maps, with its bias and a fused activation:
 * im2col + GEMM for dense and grouped convs (tiled over output rows so the
 * column buffer stays bounded; none for 1x1 stride 1), direct loops for
 * depthwise ones. A map may hold several images stacked along its height, each
 * padded on its own (conv_forward_images): the box head runs its convs over all
 * RoIs at once that way.
 */
#include "ops.h"

#include <string.h>

/* Keep the im2col buffer below this many floats by tiling over output rows. */
#define IM2COL_MAX_FLOATS ((size_t)8 << 20)

struct bias_job {
    float *y;
    int c, parts;
    size_t hw;
    const float *b;
    enum act a;
};

static void bias_act_part(void *ctx, int part, int worker)
{
    (void)worker;
    const struct bias_job *j = ctx;
    int lo = j->c * part / j->parts, hi = j->c * (part + 1) / j->parts;
    for (int o = lo; o < hi; o++) {
        float *row = j->y + (size_t)o * j->hw;
        if (j->b) {
            float bv = j->b[o];
            for (size_t i = 0; i < j->hw; i++) row[i] += bv;
        }
        act_inplace(row, j->hw, j->a);
    }
}

/* Bias then activation over [c, hw]. */
static void bias_act(float *y, int c, size_t hw, const float *b, enum act a)
{
    if (!b && a == ACT_NONE) return;
    struct bias_job j = { y, c, pool_size(ops_pool()), hw, b, a };
    if (j.parts > c) j.parts = c;
    if ((double)c * hw < 65536) j.parts = 1;   /* too small to be worth a wake-up */
    pool_run(ops_pool(), j.parts, bias_act_part, &j);
}

/* ---- convolution ------------------------------------------------------------ */

/* floor((n + 2 pad - k) / stride) + 1 as torch computes it: floor, not C's
 * truncation, so an input smaller than the kernel gives <= 0 (an empty map,
 * which torch refuses), never 1. */
int conv_out_len(int n, int k, int stride, int pad, int dil)
{
    int span = n + 2 * pad - (dil > 1 ? dil : 1) * (k - 1) - 1;
    return (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;
}

static int dil_of(const struct conv *cv) { return cv->dil > 1 ? cv->dil : 1; }

int conv_is_depthwise(const struct conv *cv)
{
    return cv->groups == cv->cin && cv->groups == cv->cout && cv->groups > 1;
}

/* The direct depthwise loops take groups == cin == cout, stride 1 or 2, no dilation;
 * every other grouped conv goes through im2col per group. */
static int use_depthwise(const struct conv *cv)
{
    return conv_is_depthwise(cv) && (cv->stride == 1 || cv->stride == 2) && dil_of(cv) == 1;
}

void conv_out_size(const struct conv *cv, int h, int w, int *oh, int *ow)
{
    *oh = conv_out_len(h, cv->k, cv->stride, cv->pad, dil_of(cv));
    *ow = conv_out_len(w, cv->k, cv->stride, cv->pad, dil_of(cv));
}

/* Writing one im2col row: floats, or bf16 (rounded) when bf is set. */
static inline void put_zeros(void *col, int bf, size_t at, int n)
{
    if (bf) memset((uint16_t *)col + at, 0, sizeof(uint16_t) * n);
    else memset((float *)col + at, 0, sizeof(float) * n);
}

static inline void put_span(void *col, int bf, size_t at, const float *src, int n)
{
    if (bf) bf16_from_f32(src, (size_t)n, (uint16_t *)col + at);
    else memcpy((float *)col + at, src, sizeof(float) * n);
}

static inline void put_one(void *col, int bf, size_t at, float v)
{
    if (bf) ((uint16_t *)col)[at] = bf16_round(v);
    else ((float *)col)[at] = v;
}

/* Rows [y0, y1) of the im2col matrix of channels [c0, c0 + cn) of in, which
 * holds images of ih rows stacked along its height (each padded on its own; oh
 * output rows each): col[(ci * k + ky) * k + kx][(y - y0) * ow + x], in floats or
 * (bf) bf16. */
static void im2col_rows(const struct fmap *in, int ih, int oh, int c0, int cn, int k, int stride,
                        int pad, int dil, int ow, int y0, int y1, void *col, int bf)
{
    size_t ncols = (size_t)(y1 - y0) * ow;
    for (int ci = 0; ci < cn; ci++) {
        const float *src = in->d + (size_t)(c0 + ci) * in->h * in->w;
        for (int ky = 0; ky < k; ky++) {
            for (int kx = 0; kx < k; kx++) {
                size_t dst = ((size_t)(ci * k + ky) * k + kx) * ncols;
                for (int y = y0; y < y1; y++) {
                    int img = y / oh;
                    int iy = (y - img * oh) * stride - pad + ky * dil;
                    size_t d = dst + (size_t)(y - y0) * ow;
                    if (iy < 0 || iy >= ih) {
                        put_zeros(col, bf, d, ow);
                        continue;
                    }
                    const float *s = src + ((size_t)img * ih + iy) * in->w;
                    if (stride == 1) {
                        int x_lo = pad - kx * dil;          /* first x with ix >= 0 */
                        int x_hi = in->w + pad - kx * dil;  /* first x with ix >= w */
                        if (x_lo < 0) x_lo = 0;
                        if (x_hi > ow) x_hi = ow;
                        if (x_lo > ow) x_lo = ow;
                        put_zeros(col, bf, d, x_lo);
                        if (x_hi > x_lo) {
                            put_span(col, bf, d + x_lo, s + x_lo - pad + kx * dil, x_hi - x_lo);
                            put_zeros(col, bf, d + x_hi, ow - x_hi);
                        } else {
                            put_zeros(col, bf, d + x_lo, ow - x_lo);
                        }
                    } else {
                        for (int x = 0; x < ow; x++) {
                            int ix = x * stride - pad + kx * dil;
                            put_one(col, bf, d + x, (ix >= 0 && ix < in->w) ? s[ix] : 0.0f);
                        }
                    }
                }
            }
        }
    }
}
struct im2col_job {
    const struct fmap *in;
    int ih, oh;
    int c0, cn;
    const struct conv *cv;
    int ow, y0, y1;
    void *col;
    int bf;
    int parts;
};

/* channels [lo, hi) of the job's im2col rows; each channel owns k*k rows of col */
static void im2col_part(void *ctx, int part, int worker)
{
    (void)worker;
    const struct im2col_job *j = ctx;
    int lo = j->cn * part / j->parts, hi = j->cn * (part + 1) / j->parts;
    int k = j->cv->k;
    size_t ncols = (size_t)(j->y1 - j->y0) * j->ow;
    size_t at = (size_t)lo * k * k * ncols;
    im2col_rows(j->in, j->ih, j->oh, j->c0 + lo, hi - lo, k, j->cv->stride, j->cv->pad,
                dil_of(j->cv), j->ow, j->y0, j->y1,
                j->bf ? (void *)((uint16_t *)j->col + at) : (void *)((float *)j->col + at), j->bf);
}

/* Depthwise conv (groups == cin == cout): direct loops, one channel at a time.
 * Each channel is first copied into a zero-bordered buffer (stride 2: split
 * into even and odd columns) so the inner loops are plain contiguous FMAs-free
 * multiply-adds the compiler vectorises. */
struct dw_job {
    const struct conv *cv;
    const struct fmap *in;
    struct fmap *out;
    float *scratch;        /* per worker: pad plane(s) then one accumulator row */
    size_t per_worker;     /* floats of scratch per worker */
    int parts;
};

static void dw_part(void *ctx, int part, int worker)
{
    const struct dw_job *j = ctx;
    const struct conv *cv = j->cv;
    const struct fmap *in = j->in;
    struct fmap *out = j->out;
    int k = cv->k, s = cv->stride, p = cv->pad;
    int ph = in->h + 2 * p, pw = in->w + 2 * p;
    int half = (pw + 1) / 2;                 /* columns per parity plane (stride 2) */
    int rowlen = s == 1 ? pw : half;
    float *pad = j->scratch + (size_t)worker * j->per_worker;
    float *acc = pad + (size_t)ph * rowlen * s;
    int c0 = cv->cout * part / j->parts, c1 = cv->cout * (part + 1) / j->parts;
    memset(pad, 0, sizeof(float) * (size_t)ph * rowlen * s);

    for (int c = c0; c < c1; c++) {
        const float *src = in->d + (size_t)c * in->h * in->w;
        const float *wk = cv->w + (size_t)c * k * k;
        float *dst = out->d + (size_t)c * out->h * out->w;
        float bias = cv->b ? cv->b[c] : 0.0f;
        /* fill the interior; the zero border stays from the memset */
        for (int y = 0; y < in->h; y++) {
            const float *srow = src + (size_t)y * in->w;
            if (s == 1) {
                memcpy(pad + (size_t)(y + p) * pw + p, srow, sizeof(float) * in->w);
            } else {
                float *even = pad + (size_t)(y + p) * 2 * half, *odd = even + half;
                for (int x = 0; x < in->w; x++) {
                    int px = x + p;
                    (px & 1 ? odd : even)[px >> 1] = srow[x];
                }
            }
        }
        for (int oy = 0; oy < out->h; oy++) {
            float *restrict a = acc;
            for (int ox = 0; ox < out->w; ox++) a[ox] = 0.0f;
            for (int ky = 0; ky < k; ky++) {
                int r = oy * s + ky;
                for (int kx = 0; kx < k; kx++) {
                    float wv = wk[ky * k + kx];
                    const float *restrict row;
                    if (s == 1) row = pad + (size_t)r * pw + kx;
                    else row = pad + (size_t)r * 2 * half + (kx & 1 ? half : 0) + (kx >> 1);
                    for (int ox = 0; ox < out->w; ox++) a[ox] += wv * row[ox];
                }
            }
            float *drow = dst + (size_t)oy * out->w;
            for (int ox = 0; ox < out->w; ox++) drow[ox] = a[ox] + bias;
        }
        act_inplace(dst, (size_t)out->h * out->w, cv->act);
    }
}

/* Scratch floats per thread of conv_depthwise: the zero-bordered plane (two
 * half-width planes for stride 2) and one accumulator row. */
static size_t dw_per_worker(const struct conv *cv, int h, int w, int ow)
{
    size_t ph = (size_t)h + 2 * cv->pad, pw = (size_t)w + 2 * cv->pad;
    size_t plane = ph * (cv->stride == 1 ? pw : (pw + 1) / 2) * cv->stride;
    return plane + (size_t)ow + 16;
}

/* Output rows per im2col tile: as many as keep the column buffer (kk rows of
 * rows * ow floats) under IM2COL_MAX_FLOATS, at least one, at most all. */
static int im2col_tile_rows(size_t kk, int ow, int rows_out)
{
    size_t rows = IM2COL_MAX_FLOATS / (kk * (size_t)ow);
    if (rows < 1) rows = 1;
    return rows > (size_t)rows_out ? rows_out : (int)rows;
}

/* Depthwise conv (groups == cin == cout): direct loops, channels split across
 * the pool. Each channel is first copied into a zero-bordered buffer (stride 2:
 * split into even and odd columns) so the inner loops are plain contiguous
 * multiply-adds the compiler vectorises. */
static void conv_depthwise(const struct conv *cv, const struct fmap *in, struct fmap *out,
                           struct arena *scratch)
{
    MODEL_ASSERT(cv->stride == 1 || cv->stride == 2);
    int T = pool_size(ops_pool());
    struct dw_job j = { cv, in, out, NULL, dw_per_worker(cv, in->h, in->w, out->w),
                        T < cv->cout ? T : cv->cout };
    if ((double)fmap_numel(out) * cv->k * cv->k < 1e5) j.parts = 1;   /* too small to split */
    struct arena_mark mark = arena_mark(scratch);
    j.scratch = arena_floats(scratch, j.per_worker * (size_t)T);
    pool_run(ops_pool(), j.parts, dw_part, &j);
    arena_rewind(scratch, mark);
}

/* Does this conv run in bf16 (the thread's precision, and weights for it)?
 * Depthwise convs stay f32: they are memory-bound, not products. */
static int in_bf16(const struct conv *cv)
{
    return ops_precision() == PREC_BF16 && cv->w16 && !use_depthwise(cv);
}

size_t conv_scratch_floats_images(const struct conv *cv, int n, int h, int w)
{
    int oh, ow;
    conv_out_size(cv, h, w, &oh, &ow);
    if (oh < 1 || ow < 1 || n < 1) return 0;
    if (n == 1 && use_depthwise(cv))   /* one zero-bordered plane per thread */
        return dw_per_worker(cv, h, w, ow) * (size_t)pool_size(ops_pool());
    int bf = in_bf16(cv);
    if (!bf && cv->k == 1 && cv->stride == 1 && cv->pad == 0) return 0;   /* plain GEMM */
    size_t kk = (size_t)(cv->cin / cv->groups) * cv->k * cv->k;
    size_t col = kk * (size_t)im2col_tile_rows(kk, ow, oh * n) * (size_t)ow;
    return bf ? (col + 1) / 2 : col;
}

size_t conv_scratch_floats(const struct conv *cv, int h, int w)
{
    return conv_scratch_floats_images(cv, 1, h, w);
}

double conv_macs(const struct conv *cv, int oh, int ow)
{
    return (double)cv->cout * oh * ow * (cv->cin / cv->groups) * cv->k * cv->k;
}

void conv_forward_images(const struct conv *cv, const struct fmap *in, int nimg, struct fmap *out,
                         struct arena *scratch)
{
    MODEL_ASSERT(nimg >= 1 && in->h % nimg == 0);
    int ih = in->h / nimg, oh, ow;
    conv_out_size(cv, ih, in->w, &oh, &ow);
    MODEL_ASSERT(in->c == cv->cin && out->c == cv->cout && out->h == oh * nimg && out->w == ow);
    MODEL_ASSERT(cv->groups >= 1 && cv->cin % cv->groups == 0 && cv->cout % cv->groups == 0);

    if (nimg == 1 && use_depthwise(cv)) {
        conv_depthwise(cv, in, out, scratch);
        return;
    }
    int g = cv->groups, cin_g = cv->cin / g, cout_g = cv->cout / g;
    int kk = cin_g * cv->k * cv->k;
    int rows_out = oh * nimg;                  /* output rows of all images */
    size_t ohw = (size_t)rows_out * ow;

    int bf = in_bf16(cv);
    if (!bf && cv->k == 1 && cv->stride == 1 && cv->pad == 0) {
        for (int gi = 0; gi < g; gi++)
            gemm_ld(cout_g, (int)ohw, kk, cv->w + (size_t)gi * cout_g * kk, kk,
                    in->d + (size_t)gi * cin_g * ohw, (int)ohw, out->d + (size_t)gi * cout_g * ohw,
                    (int)ohw, 0, 0);
    } else {
        /* tile over output rows so the im2col buffer stays bounded */
        int rows = im2col_tile_rows((size_t)kk, ow, rows_out);
        /* (in bf16 a 1x1 conv comes here too: its "im2col" rounds the input) */
        struct arena_mark mark = arena_mark(scratch);
        size_t ncol = (size_t)kk * rows * ow;
        void *col = arena_floats(scratch, bf ? (ncol + 1) / 2 : ncol);
        int T = pool_size(ops_pool());
        for (int gi = 0; gi < g; gi++) {
            for (int y0 = 0; y0 < rows_out; y0 += rows) {
                int y1 = y0 + rows < rows_out ? y0 + rows : rows_out;
                int n = (y1 - y0) * ow;
                struct im2col_job ij = { in, ih, oh, gi * cin_g, cin_g, cv, ow, y0, y1, col, bf,
                                         T < cin_g ? T : cin_g };
                if ((double)kk * n < 1e5) ij.parts = 1;
                pool_run(ops_pool(), ij.parts, im2col_part, &ij);
                float *dst = out->d + (size_t)gi * cout_g * ohw + (size_t)y0 * ow;
                if (bf)
                    gemm_bf16(cout_g, n, kk, cv->w16 + (size_t)gi * cout_g * kk, kk, col, n, dst,
                              (int)ohw, 0);
                else
                    gemm_ld(cout_g, n, kk, cv->w + (size_t)gi * cout_g * kk, kk, col, n, dst,
                            (int)ohw, 0, 0);
            }
        }
        arena_rewind(scratch, mark);
    }
    bias_act(out->d, cv->cout, ohw, cv->b, cv->act);
}

void conv_forward(const struct conv *cv, const struct fmap *in, struct fmap *out,
                  struct arena *scratch)
{
    conv_forward_images(cv, in, 1, out, scratch);
}
