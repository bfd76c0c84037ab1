/*
 * conv.c — torch.nn.Conv2d on CHW maps, with its bias and a fused activation:
 * im2col + GEMM for dense and grouped convs (tiled over output rows so the
 * column buffer stays bounded; none for 1x1 stride 1 in f32), direct loops for
 * depthwise ones. In bf16 and int8 the im2col writes the product's input in that
 * type (rounded, or quantised with the layer's input scale); int8 sums come back
 * as int32 and the bias pass turns them into floats. Where the CPU runs our own
 * bf16 kernel (conv_bf16.c), bf16 convs go there instead, but 3x3 stride-1 ones
 * on large maps (Winograd, winograd.c) and those on tiny maps (f32). A map may
 * hold several images stacked along its height, each padded on its own
 * (conv_forward_images): the box head runs its convs over all RoIs at once that
 * way.
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
    const float *w_scale;   /* int8: y holds int32 sums, each x w_scale[o] * x_scale */
    float x_scale;
};

static void bias_act_part(void *ctx, int part, int worker)
{
    (void)worker;
    const struct bias_job *j = ctx;
    int lo = j->c * part / j->parts, hi = j->c * (part + 1) / j->parts;
    for (int o = lo; o < hi; o++) {
        float *row = j->y + (size_t)o * j->hw;
        if (j->w_scale) {   /* the int32 sums in place → floats (same size, same place) */
            const int32_t *sum = (const int32_t *)row;
            float k = j->w_scale[o] * j->x_scale, bv = j->b ? j->b[o] : 0.0f;
            for (size_t i = 0; i < j->hw; i++) row[i] = (float)sum[i] * k + bv;
        } else if (j->b) {
            float bv = j->b[o];
            for (size_t i = 0; i < j->hw; i++) row[i] += bv;
        }
        act_inplace(row, j->hw, j->a);
    }
}

/* Bias then activation over [c, hw]; with w_scale, y holds int32 sums first. */
static void bias_act(float *y, int c, size_t hw, const float *b, enum act a,
                     const float *w_scale, float x_scale)
{
    if (!b && a == ACT_NONE && !w_scale) return;
    struct bias_job j = { y, c, pool_size(ops_pool()), hw, b, a, w_scale, x_scale };
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

/* What the im2col matrix holds: floats, bf16 (rounded from the input as it is
 * copied), or int8 (copied from q, the input quantised once beforehand: a 3x3
 * conv copies each value 9 times, and quantising it once is cheaper). */
enum col_type { COL_F32, COL_BF16, COL_S8 };
struct col_fmt {
    enum col_type t;
    float scale;        /* int8: the input's scale */
    const int8_t *q;    /* int8: the input quantised, in its layout */
};

static size_t col_bytes(enum col_type t) { return t == COL_S8 ? 1 : t == COL_BF16 ? 2 : 4; }

/* Writing one im2col row. */
static inline void put_zeros(void *col, struct col_fmt f, size_t at, int n)
{
    if (f.t == COL_F32 && n <= 16) {   /* short rows (small maps): no call */
        float *c = (float *)col + at;
        for (int i = 0; i < n; i++) c[i] = 0.0f;
        return;
    }
    memset((char *)col + at * col_bytes(f.t), 0, col_bytes(f.t) * n);   /* 0 in every type */
}

/* n input values from element off of the input x (or of f.q). */
static inline void put_span(void *col, struct col_fmt f, size_t at, const float *x, size_t off,
                            int n)
{
    if (f.t == COL_BF16) bf16_from_f32(x + off, (size_t)n, (uint16_t *)col + at);
    else if (f.t == COL_S8) memcpy((int8_t *)col + at, f.q + off, (size_t)n);
    else if (n <= 16) {   /* short rows (small maps): no call */
        float *c = (float *)col + at;
        for (int i = 0; i < n; i++) c[i] = x[off + i];
    } else memcpy((float *)col + at, x + off, sizeof(float) * n);
}

/* n values from every stride-th element of the input from element off: plain
 * loops per type, which vectorise. */
static void put_strided(void *col, struct col_fmt f, size_t at, const float *x, size_t off,
                        int stride, int n)
{
    if (f.t == COL_F32) {
        float *restrict c = (float *)col + at;
        const float *restrict s = x + off;
        for (int i = 0; i < n; i++) c[i] = s[(size_t)i * stride];
    } else if (f.t == COL_BF16) {
        uint16_t *restrict c = (uint16_t *)col + at;
        const float *restrict s = x + off;
        for (int i = 0; i < n; i++) c[i] = bf16_round(s[(size_t)i * stride]);
    } else {
        int8_t *restrict c = (int8_t *)col + at;
        const int8_t *restrict s = f.q + off;
        for (int i = 0; i < n; i++) c[i] = s[(size_t)i * stride];
    }
}

/* Rows [y0, y1) of the im2col matrix of channels [c0, c0 + cn) of in, which
 * holds images of ih rows stacked along its height (each padded on its own; oh
 * output rows each): col[(ci * k + ky) * k + kx][(y - y0) * ow + x], in f's type. */
static void im2col_rows(const struct fmap *in, int ih, int oh, int c0, int cn, int k, int stride,
                        int pad, int dil, int ow, int y0, int y1, void *col, struct col_fmt f)
{
    size_t ncols = (size_t)(y1 - y0) * ow;
    for (int ci = 0; ci < cn; ci++) {
        size_t src = (size_t)(c0 + ci) * in->h * in->w;
        for (int ky = 0; ky < k; ky++) {
            for (int kx = 0; kx < k; kx++) {
                size_t dst = ((size_t)(ci * k + ky) * k + kx) * ncols;
                for (int y = y0; y < y1; y++) {
                    int img = y / oh;
                    int iy = (y - img * oh) * stride - pad + ky * dil;
                    size_t d = dst + (size_t)(y - y0) * ow;
                    if (iy < 0 || iy >= ih) {
                        put_zeros(col, f, d, ow);
                        continue;
                    }
                    size_t s = src + ((size_t)img * ih + iy) * in->w;   /* the row's offset */
                    if (stride == 1) {
                        int x_lo = pad - kx * dil;          /* first x with ix >= 0 */
                        int x_hi = in->w + pad - kx * dil;  /* first x with ix >= w */
                        if (x_lo < 0) x_lo = 0;
                        if (x_hi > ow) x_hi = ow;
                        if (x_lo > ow) x_lo = ow;
                        put_zeros(col, f, d, x_lo);
                        if (x_hi > x_lo) {
                            put_span(col, f, d + x_lo, in->d, s + x_lo - pad + kx * dil,
                                     x_hi - x_lo);
                            put_zeros(col, f, d + x_hi, ow - x_hi);
                        } else {
                            put_zeros(col, f, d + x_lo, ow - x_lo);
                        }
                    } else {
                        /* outputs [x_lo, x_hi) read inside the row: ix = x * stride + off */
                        int off = kx * dil - pad;
                        int x_lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
                        int x_hi = in->w - 1 - off < 0 ? 0 : (in->w - 1 - off) / stride + 1;
                        if (x_hi > ow) x_hi = ow;
                        if (x_lo > x_hi) x_lo = x_hi;
                        put_zeros(col, f, d, x_lo);
                        put_strided(col, f, d + x_lo, in->d, s + (ptrdiff_t)x_lo * stride + off,
                                    stride, x_hi - x_lo);
                        put_zeros(col, f, d + x_hi, ow - x_hi);
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
    struct col_fmt f;
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
                dil_of(j->cv), j->ow, j->y0, j->y1, (char *)j->col + at * col_bytes(j->f.t), j->f);
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

/* The depthwise loops' register blocks: NV vectors of 8 floats of partial sums
 * stay in registers across the k*k taps. Each output's sum is formed in the
 * same order as before (0, then tap by tap in row order, then the bias), so the
 * results are the same bits at every block width. GCC/clang vector extension:
 * AVX registers, or two SSE halves each. */
typedef float v8f __attribute__((vector_size(32)));
typedef float v8f_u __attribute__((vector_size(32), aligned(4)));   /* unaligned access */

static inline __attribute__((always_inline)) void
dw_block(int NV, const float *rows, size_t rstep, int s, int half, const float *wk, int k,
         float bias, float *out)
{
    v8f a[4] = { { 0 }, { 0 }, { 0 }, { 0 } };
    for (int ky = 0; ky < k; ky++) {
        const float *rk = rows + (size_t)ky * rstep;
        for (int kx = 0; kx < k; kx++) {
            float wv = wk[ky * k + kx];
            const float *r = rk + (s == 1 ? kx : (kx & 1 ? half : 0) + (kx >> 1));
            v8f w = { wv, wv, wv, wv, wv, wv, wv, wv };
            for (int v = 0; v < NV; v++) a[v] += w * *(const v8f_u *)(r + 8 * v);
        }
    }
    v8f b = { bias, bias, bias, bias, bias, bias, bias, bias };
    for (int v = 0; v < NV; v++) *(v8f_u *)(out + 8 * v) = a[v] + b;
}

/* One output row of a depthwise conv: blocks of 32 outputs, then of 8, then the
 * last 1..7 through a block of 8 into tmp (its extra lanes read up to 8 floats
 * past the row's end — the plane is followed by DW_SLACK floats — and are
 * dropped). */
#define DW_SLACK 16
static void dw_row(const float *rows, size_t rstep, int s, int half, const float *wk, int k,
                   float bias, float *out, int ow)
{
    int x = 0;
    for (; x + 32 <= ow; x += 32) dw_block(4, rows + x, rstep, s, half, wk, k, bias, out + x);
    for (; x + 8 <= ow; x += 8) dw_block(1, rows + x, rstep, s, half, wk, k, bias, out + x);
    if (x < ow) {
        float tmp[8];
        dw_block(1, rows + x, rstep, s, half, wk, k, bias, tmp);
        memcpy(out + x, tmp, sizeof(float) * (size_t)(ow - x));
    }
}

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
                /* padded column px = x + p goes to plane px & 1, at px / 2 */
                float *even = pad + (size_t)(y + p) * 2 * half, *odd = even + half;
                int x0 = p & 1;   /* the first x with an even px */
                for (int x = x0; x < in->w; x += 2) even[(x + p) >> 1] = srow[x];
                for (int x = 1 - x0; x < in->w; x += 2) odd[(x + p) >> 1] = srow[x];
            }
        }
        size_t rstep = (size_t)rowlen * s;   /* floats from one padded input row to the next */
        for (int oy = 0; oy < out->h; oy++)
            dw_row(pad + (size_t)oy * s * rstep, rstep, s, half, wk, k, bias,
                   dst + (size_t)oy * out->w, out->w);
        act_inplace(dst, (size_t)out->h * out->w, cv->act);
    }
}

/* Scratch floats per thread of conv_depthwise: the zero-bordered plane (two
 * half-width planes for stride 2) and the slack dw_row's last block reads. */
static size_t dw_per_worker(const struct conv *cv, int h, int w)
{
    size_t ph = (size_t)h + 2 * cv->pad, pw = (size_t)w + 2 * cv->pad;
    size_t plane = ph * (cv->stride == 1 ? pw : (pw + 1) / 2) * cv->stride;
    return plane + DW_SLACK;
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
    struct dw_job j = { cv, in, out, NULL, dw_per_worker(cv, in->h, in->w),
                        T < cv->cout ? T : cv->cout };
    if ((double)fmap_numel(out) * cv->k * cv->k < 1e5) j.parts = 1;   /* too small to split */
    struct arena_mark mark = arena_mark(scratch);
    j.scratch = arena_floats(scratch, j.per_worker * (size_t)T);
    pool_run(ops_pool(), j.parts, dw_part, &j);
    arena_rewind(scratch, mark);
}

/* Maps of fewer output pixels than this are not for our bf16 kernel (its panels
 * would be mostly padding); where it runs, they run in f32 (the squeeze-excitation
 * convs on 1x1 maps: oneDNN's bf16 took twice f32's time on them on Zen 5). */
#define OWN_BF16_MIN_PIXELS 32

/* Is this conv our bf16 kernel's (conv_bf16.c) where it runs? In bf16 it then
 * takes every map of OWN_BF16_MIN_PIXELS or more (col_type sends the others to
 * f32), but Winograd's (use_winograd). */
static int own_bf16(const struct conv *cv) { return cv->groups == 1 && conv_bf16_native(); }

/* Winograd's products are oneDNN's, small ones inefficient: below this many
 * tiles our kernel on the im2col matrix is faster (measured on Zen 5). */
#define WINO_OVER_OWN_TILES 64

/* Does this bf16 conv run by Winograd (it has the weights, and is not small
 * enough for our kernel to be faster)? */
static int use_winograd(const struct conv *cv, int nimg, int oh, int ow)
{
    size_t tiles = (size_t)nimg * ((oh + 1) / 2) * ((ow + 1) / 2);
    return cv->wino16 && !(own_bf16(cv) && tiles < WINO_OVER_OWN_TILES);
}

/* What this conv's product runs in: the thread's precision where the layer has
 * weights for it. Depthwise convs stay f32: they are memory-bound, not products. */
static enum col_type col_type(const struct conv *cv, size_t pixels)
{
    if (use_depthwise(cv)) return COL_F32;
    enum precision p = ops_precision();
    if (p == PREC_BF16 && cv->w16)   /* (tiny maps: see OWN_BF16_MIN_PIXELS) */
        return own_bf16(cv) && pixels < OWN_BF16_MIN_PIXELS ? COL_F32 : COL_BF16;
    return p == PREC_INT8 && cv->w8 ? COL_S8 : COL_F32;
}

/* A 1x1 stride-1 conv without padding: its input is already the product's
 * [cin, hw] matrix (in f32 and int8; bf16 rounds it into a copy). */
static int is_plain_product(const struct conv *cv)
{
    return cv->k == 1 && cv->stride == 1 && cv->pad == 0;
}

void im2col_f32(const struct fmap *in, int ih, int oh, const struct conv *cv, int ow, int c0,
                int cn, int y0, int y1, float *col)
{
    struct col_fmt f = { COL_F32, 0.0f, NULL };
    im2col_rows(in, ih, oh, c0, cn, cv->k, cv->stride, cv->pad, dil_of(cv), ow, y0, y1, col, f);
}

static size_t scratch_floats(const struct conv *cv, int n, int h, int w)
{
    int oh, ow;
    conv_out_size(cv, h, w, &oh, &ow);
    if (oh < 1 || ow < 1 || n < 1) return 0;
    if (n == 1 && use_depthwise(cv))   /* one zero-bordered plane per thread */
        return dw_per_worker(cv, h, w) * (size_t)pool_size(ops_pool());
    enum col_type t = col_type(cv, (size_t)n * oh * ow);
    if (t == COL_BF16 && use_winograd(cv, n, oh, ow)) return winograd_scratch_floats(cv, n, h, w);
    if (t == COL_BF16 && own_bf16(cv)) return conv_bf16_scratch_floats(cv, n, h, w);
    size_t kk = (size_t)(cv->cin / cv->groups) * cv->k * cv->k;
    /* the int8 input, a block of its own */
    size_t q = t == COL_S8 ? arena_aligned_floats(((size_t)cv->cin * n * h * w + 3) / 4) : 0;
    if (t != COL_BF16 && is_plain_product(cv)) return q;
    size_t col = kk * (size_t)im2col_tile_rows(kk, ow, oh * n) * (size_t)ow;
    return q + (col * col_bytes(t) + 3) / 4;
}

/* n stacked images (the box head's RoIs, planned for the largest count): in bf16
 * where our kernel runs, the path depends on the count (Winograd from 64 tiles,
 * our kernel's shared panels or bands, f32 under 32 pixels), and so does the
 * scratch: the most that any count up to n needs. */
size_t conv_scratch_floats_images(const struct conv *cv, int n, int h, int w)
{
    size_t most = scratch_floats(cv, n, h, w);
    if (n > 1 && ops_precision() == PREC_BF16 && cv->w16 && conv_bf16_native())
        for (int i = 1; i < n; i++) {
            size_t s = scratch_floats(cv, i, h, w);
            if (s > most) most = s;
        }
    return most;
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
    ops_observed(cv, in->d, fmap_numel(in));
    enum col_type t = col_type(cv, (size_t)nimg * oh * ow);
    if (t == COL_BF16 && use_winograd(cv, nimg, oh, ow)) {
        conv_winograd_bf16(cv, cv->wino16, in, nimg, out, scratch);
        return;
    }
    if (t == COL_BF16 && own_bf16(cv)) {
        conv_bf16_forward(cv, in, nimg, out, scratch);
        return;
    }
    int g = cv->groups, cin_g = cv->cin / g, cout_g = cv->cout / g;
    int kk = cin_g * cv->k * cv->k;
    int rows_out = oh * nimg;                  /* output rows of all images */
    size_t ohw = (size_t)rows_out * ow;

    struct arena_mark mark = arena_mark(scratch);
    struct col_fmt f = { t, 0.0f, NULL };
    if (f.t == COL_S8) {   /* the calibrated scale, or this input's own; quantised once */
        size_t numel = fmap_numel(in);
        f.scale = cv->x_scale > 0.0f ? cv->x_scale : quant_scale(absmax(in->d, numel));
        int8_t *q = (int8_t *)arena_floats(scratch, (numel + 3) / 4);
        quantize_s8(in->d, numel, f.scale, q);
        f.q = q;
    }
    if (f.t != COL_BF16 && is_plain_product(cv)) {
        for (int gi = 0; gi < g; gi++) {
            size_t a = (size_t)gi * cout_g * kk, b = (size_t)gi * cin_g * ohw;
            float *dst = out->d + (size_t)gi * cout_g * ohw;
            if (f.t == COL_S8)   /* int32 sums, in place of the floats */
                gemm_s8(cout_g, (int)ohw, kk, cv->w8 + a, kk, f.q + b, (int)ohw, (int32_t *)dst,
                        (int)ohw, 0);
            else
                gemm_ld(cout_g, (int)ohw, kk, cv->w + a, kk, in->d + b, (int)ohw, dst, (int)ohw, 0,
                        0);
        }
    } else {
        /* tile over output rows so the im2col buffer stays bounded */
        int rows = im2col_tile_rows((size_t)kk, ow, rows_out);
        /* (in bf16 a 1x1 conv comes here too: its "im2col" rounds the input) */
        size_t ncol = (size_t)kk * rows * ow;
        void *col = arena_floats(scratch, (ncol * col_bytes(f.t) + 3) / 4);
        int T = pool_size(ops_pool());
        for (int gi = 0; gi < g; gi++) {
            for (int y0 = 0; y0 < rows_out; y0 += rows) {
                int y1 = y0 + rows < rows_out ? y0 + rows : rows_out;
                int n = (y1 - y0) * ow;
                struct im2col_job ij = { in, ih, oh, gi * cin_g, cin_g, cv, ow, y0, y1, col, f,
                                         T < cin_g ? T : cin_g };
                if ((double)kk * n < 1e5) ij.parts = 1;
                pool_run(ops_pool(), ij.parts, im2col_part, &ij);
                float *dst = out->d + (size_t)gi * cout_g * ohw + (size_t)y0 * ow;
                if (f.t == COL_BF16)
                    gemm_bf16(cout_g, n, kk, cv->w16 + (size_t)gi * cout_g * kk, kk, col, n, dst,
                              (int)ohw, 0);
                else if (f.t == COL_S8)   /* int32 sums, in place of the floats */
                    gemm_s8(cout_g, n, kk, cv->w8 + (size_t)gi * cout_g * kk, kk, col, n,
                            (int32_t *)dst, (int)ohw, 0);
                else
                    gemm_ld(cout_g, n, kk, cv->w + (size_t)gi * cout_g * kk, kk, col, n, dst,
                            (int)ohw, 0, 0);
            }
        }
    }
    arena_rewind(scratch, mark);
    bias_act(out->d, cv->cout, ohw, cv->b, cv->act, f.t == COL_S8 ? cv->w8_scale : NULL, f.scale);
}

void conv_forward(const struct conv *cv, const struct fmap *in, struct fmap *out,
                  struct arena *scratch)
{
    conv_forward_images(cv, in, 1, out, scratch);
}
