/*
 * ops.c — the dense tensor ops of the forward pass: GEMM, convolution (im2col +
 * GEMM, 1x1 as a plain GEMM, depthwise as direct loops), activations, nearest
 * upsampling and linear layers. Pooling is pooling.c, per-element ops eltwise.c.
 *
 * Every op is a plain function on CHW float32 maps with a caller-provided output.
 * All GEMM goes through gemm_ex() so BLAS is called from one place.
 */
#include "internal.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* Keep the im2col buffer below this many floats by tiling over output rows. */
#define IM2COL_MAX_FLOATS ((size_t)8 << 20)

static _Thread_local struct pool *tl_pool;

void ops_use_pool(struct pool *p) { tl_pool = p; }

struct gemm_job {
    int m, n, k, lda, ldb, ldc, accumulate, trans_b, by_rows, parts;
    const float *A, *B;
    float *C;
};

static void gemm_part(void *ctx, int part, int worker)
{
    (void)worker;
    const struct gemm_job *g = ctx;
    int total = g->by_rows ? g->m : g->n;
    int lo = (int)((int64_t)total * part / g->parts), hi = (int)((int64_t)total * (part + 1) / g->parts);
    if (hi <= lo) return;
    const float *A = g->A, *B = g->B;
    float *C = g->C;
    int m = g->m, n = g->n;
    if (g->by_rows) {
        A += (size_t)lo * g->lda;
        C += (size_t)lo * g->ldc;
        m = hi - lo;
    } else {
        B += g->trans_b ? (size_t)lo * g->ldb : (size_t)lo;
        C += lo;
        n = hi - lo;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, g->trans_b ? CblasTrans : CblasNoTrans, m, n, g->k,
                1.0f, A, g->lda, B, g->ldb, g->accumulate ? 1.0f : 0.0f, C, g->ldc);
}

/* Every GEMM: with a pool, split along N (or M when N is narrow) into one part
 * per thread — each element's sum is computed exactly as without the split. */
static void gemm_ex(int m, int n, int k, const float *A, int lda, const float *B, int ldb,
                    float *C, int ldc, int accumulate, int trans_b)
{
    blas_single_thread();
    int T = pool_size(tl_pool);
    struct gemm_job g = { m, n, k, lda, ldb, ldc, accumulate, trans_b, 0, 1, A, B, C };
    /* below ~1e6 multiply-adds (~10 us of one core) waking a worker costs more than it saves */
    if (T > 1 && (double)m * n * k >= 1e6) {
        if (n >= 32 * T) g.parts = T;
        else if (m >= 8 * T) g.parts = T, g.by_rows = 1;
    }
    if (g.parts == 1) gemm_part(&g, 0, 0);
    else pool_run(tl_pool, g.parts, gemm_part, &g);
}

void gemm(int m, int n, int k, const float *A, const float *B, float *C, int accumulate)
{
    gemm_ex(m, n, k, A, k, B, n, C, n, accumulate, 0);
}

void gemm_strided(int m, int n, int k, const float *A, const float *B, float *C, int ldc)
{
    gemm_ex(m, n, k, A, k, B, n, C, ldc, 0, 0);
}

void gemm_nt(int m, int n, int k, const float *A, const float *B, float *C)
{
    gemm_ex(m, n, k, A, k, B, k, C, n, 0, 1);
}

/* ---- activations ----------------------------------------------------------- */

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
    struct bias_job j = { y, c, pool_size(tl_pool), hw, b, a };
    if (j.parts > c) j.parts = c;
    if ((double)c * hw < 65536) j.parts = 1;   /* too small to be worth a wake-up */
    pool_run(tl_pool, j.parts, bias_act_part, &j);
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

/* The direct depthwise loops take groups == cin == cout, stride 1 or 2, no dilation;
 * every other grouped conv goes through im2col per group. */
static int use_depthwise(const struct conv *cv)
{
    return cv->groups == cv->cin && cv->groups == cv->cout && cv->groups > 1 &&
           (cv->stride == 1 || cv->stride == 2) && dil_of(cv) == 1;
}

void conv_out_size(const struct conv *cv, int h, int w, int *oh, int *ow)
{
    *oh = conv_out_len(h, cv->k, cv->stride, cv->pad, dil_of(cv));
    *ow = conv_out_len(w, cv->k, cv->stride, cv->pad, dil_of(cv));
}

/* Rows [y0, y1) of the im2col matrix of channels [c0, c0 + cn) of in:
 * col[(ci * k + ky) * k + kx][(y - y0) * ow + x]. */
static void im2col_rows(const struct fmap *in, int c0, int cn, int k, int stride, int pad,
                        int dil, int ow, int y0, int y1, float *col)
{
    size_t ncols = (size_t)(y1 - y0) * ow;
    for (int ci = 0; ci < cn; ci++) {
        const float *src = in->d + (size_t)(c0 + ci) * in->h * in->w;
        for (int ky = 0; ky < k; ky++) {
            for (int kx = 0; kx < k; kx++) {
                float *dst = col + ((size_t)(ci * k + ky) * k + kx) * ncols;
                for (int y = y0; y < y1; y++) {
                    int iy = y * stride - pad + ky * dil;
                    float *d = dst + (size_t)(y - y0) * ow;
                    if (iy < 0 || iy >= in->h) {
                        memset(d, 0, sizeof(float) * ow);
                        continue;
                    }
                    const float *s = src + (size_t)iy * in->w;
                    if (stride == 1) {
                        int x_lo = pad - kx * dil;          /* first x with ix >= 0 */
                        int x_hi = in->w + pad - kx * dil;  /* first x with ix >= w */
                        if (x_lo < 0) x_lo = 0;
                        if (x_hi > ow) x_hi = ow;
                        int x = 0;
                        for (; x < x_lo && x < ow; x++) d[x] = 0.0f;
                        if (x_hi > x_lo) {
                            memcpy(d + x_lo, s + x_lo - pad + kx * dil,
                                   sizeof(float) * (x_hi - x_lo));
                            x = x_hi;
                        }
                        for (; x < ow; x++) d[x] = 0.0f;
                    } else {
                        for (int x = 0; x < ow; x++) {
                            int ix = x * stride - pad + kx * dil;
                            d[x] = (ix >= 0 && ix < in->w) ? s[ix] : 0.0f;
                        }
                    }
                }
            }
        }
    }
}

struct im2col_job {
    const struct fmap *in;
    int c0, cn;
    const struct conv *cv;
    int ow, y0, y1;
    float *col;
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
    im2col_rows(j->in, j->c0 + lo, hi - lo, k, j->cv->stride, j->cv->pad, dil_of(j->cv), j->ow,
                j->y0, j->y1,
                j->col + (size_t)lo * k * k * ncols);
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

/* Depthwise conv (groups == cin == cout): direct loops, channels split across
 * the pool. Each channel is first copied into a zero-bordered buffer (stride 2:
 * split into even and odd columns) so the inner loops are plain contiguous
 * multiply-adds the compiler vectorises. */
static void conv_depthwise(const struct conv *cv, const struct fmap *in, struct fmap *out,
                           struct arena *scratch)
{
    MODEL_ASSERT(cv->stride == 1 || cv->stride == 2);
    int T = pool_size(tl_pool);
    int ph = in->h + 2 * cv->pad, pw = in->w + 2 * cv->pad;
    size_t plane = (size_t)ph * (cv->stride == 1 ? pw : (pw + 1) / 2) * cv->stride;
    struct dw_job j = { cv, in, out, NULL, plane + (size_t)out->w + 16, T < cv->cout ? T : cv->cout };
    if ((double)fmap_numel(out) * cv->k * cv->k < 1e5) j.parts = 1;   /* too small to split */
    struct arena_mark mark = arena_mark(scratch);
    j.scratch = arena_floats(scratch, j.per_worker * (size_t)T);
    pool_run(tl_pool, j.parts, dw_part, &j);
    arena_rewind(scratch, mark);
}

size_t conv_scratch_floats(const struct conv *cv, int h, int w)
{
    int oh, ow;
    conv_out_size(cv, h, w, &oh, &ow);
    if (oh < 1 || ow < 1) return 0;
    if (use_depthwise(cv)) {
        /* conv_depthwise: one zero-bordered plane per thread */
        size_t T = (size_t)pool_size(tl_pool);
        size_t ph = (size_t)h + 2 * cv->pad, pw = (size_t)w + 2 * cv->pad;
        size_t plane = ph * (cv->stride == 1 ? pw : (pw + 1) / 2) * cv->stride;
        return (plane + (size_t)ow + 16) * T;
    }
    if (cv->k == 1 && cv->stride == 1 && cv->pad == 0) return 0;   /* plain GEMM */
    size_t kk = (size_t)(cv->cin / cv->groups) * cv->k * cv->k;
    size_t rows = IM2COL_MAX_FLOATS / (kk * (size_t)ow);
    if (rows < 1) rows = 1;
    if (rows > (size_t)oh) rows = (size_t)oh;
    return kk * rows * (size_t)ow;
}

void conv_forward(const struct conv *cv, const struct fmap *in, struct fmap *out,
                  struct arena *scratch)
{
    int oh, ow;
    conv_out_size(cv, in->h, in->w, &oh, &ow);
    MODEL_ASSERT(in->c == cv->cin && out->c == cv->cout && out->h == oh && out->w == ow);
    MODEL_ASSERT(cv->groups >= 1 && cv->cin % cv->groups == 0 && cv->cout % cv->groups == 0);

    if (use_depthwise(cv)) {
        conv_depthwise(cv, in, out, scratch);
        return;
    }
    int g = cv->groups, cin_g = cv->cin / g, cout_g = cv->cout / g;
    int kk = cin_g * cv->k * cv->k;
    size_t ohw = (size_t)oh * ow;

    if (cv->k == 1 && cv->stride == 1 && cv->pad == 0) {
        for (int gi = 0; gi < g; gi++)
            gemm_ex(cout_g, (int)ohw, kk, cv->w + (size_t)gi * cout_g * kk, kk,
                    in->d + (size_t)gi * cin_g * ohw, (int)ohw, out->d + (size_t)gi * cout_g * ohw,
                    (int)ohw, 0, 0);
    } else {
        /* tile over output rows so the im2col buffer stays bounded */
        int rows = (int)(IM2COL_MAX_FLOATS / ((size_t)kk * ow));
        if (rows < 1) rows = 1;
        if (rows > oh) rows = oh;
        struct arena_mark mark = arena_mark(scratch);
        float *col = arena_floats(scratch, (size_t)kk * rows * ow);
        for (int gi = 0; gi < g; gi++) {
            for (int y0 = 0; y0 < oh; y0 += rows) {
                int y1 = y0 + rows < oh ? y0 + rows : oh;
                int n = (y1 - y0) * ow;
                struct im2col_job ij = { in, gi * cin_g, cin_g, cv, ow, y0, y1, col,
                                         pool_size(tl_pool) < cin_g ? pool_size(tl_pool) : cin_g };
                if ((double)kk * n < 1e5) ij.parts = 1;
                pool_run(tl_pool, ij.parts, im2col_part, &ij);
                gemm_ex(cout_g, n, kk, cv->w + (size_t)gi * cout_g * kk, kk, col, n,
                        out->d + (size_t)gi * cout_g * ohw + (size_t)y0 * ow, (int)ohw, 0, 0);
            }
        }
        arena_rewind(scratch, mark);
    }
    bias_act(out->d, cv->cout, ohw, cv->b, cv->act);
}

/* ---- resampling ------------------------------------------------------ */

/* torch "nearest": src = floor(dst * f32(in / out)), clamped; exact 2x uses dst >> 1 */
static void nearest_index(int in, int out, int *idx)
{
    float scale = (float)in / (float)out;
    for (int d = 0; d < out; d++) {
        int s;
        if (in == out) s = d;
        else if (out == 2 * in) s = d >> 1;
        else {
            s = (int)floorf((float)d * scale);
            if (s > in - 1) s = in - 1;
        }
        idx[d] = s;
    }
}

void upsample_nearest(const struct fmap *in, struct fmap *out)
{
    MODEL_ASSERT(in->c == out->c);
    int ys[out->h > 0 ? out->h : 1], xs[out->w > 0 ? out->w : 1];
    nearest_index(in->h, out->h, ys);
    nearest_index(in->w, out->w, xs);
    for (int c = 0; c < out->c; c++) {
        const float *src = in->d + (size_t)c * in->h * in->w;
        float *dst = out->d + (size_t)c * out->h * out->w;
        for (int y = 0; y < out->h; y++) {
            const float *srow = src + (size_t)ys[y] * in->w;
            float *drow = dst + (size_t)y * out->w;
            for (int x = 0; x < out->w; x++) drow[x] = srow[xs[x]];
        }
    }
}

/* ---- fully connected -------------------------------------------------------- */

void linear_forward(const float *x, int m, int in, const float *W, const float *b, int out,
                    float *y, int relu)
{
    gemm_nt(m, out, in, x, W, y);
    for (int i = 0; i < m; i++) {
        float *row = y + (size_t)i * out;
        if (b)
            for (int o = 0; o < out; o++) row[o] += b[o];
        if (relu)
            for (int o = 0; o < out; o++) row[o] = row[o] > 0.0f ? row[o] : 0.0f;
    }
}
