/*
 * test_precision.c — the bf16 path of model/ops (bf16.c, conv.c, gemm.c):
 *   - bf16_round rounds to nearest even, keeps NaN a NaN and overflows to inf;
 *   - gemm_bf16 computes the product of the bf16-rounded inputs with f32 sums
 *     (checked against double sums of the same rounded values), with leading
 *     dimensions, B transposed or not, on one thread and split over a pool;
 *   - a conv and a linear layer in bf16 stay within bf16's rounding of their f32
 *     results, for dense, 1x1, strided, grouped, dilated and stacked-image convs;
 *   - 3x3 stride-1 convs by Winograd (winograd.c) likewise, within 3x im2col's
 *     bf16 error, at partial tiles, paddings 0-2, stacked images and several bands
 *     (with our own bf16 kernel turned off: it takes small maps where it runs;
 *     tests/test_conv_bf16.c holds it);
 *   - both GEMM engines agree with each other to f32 rounding.
 *   - int8 (quant.c, matmul.c): quant_one rounds half away from zero, clamps to
 *     +-127 and sends NaN to 0; absmax ignores NaN and gives the same over a pool;
 *     gemm_s8 equals exact integer sums; a conv and a linear layer in int8 stay
 *     within int8's resolution of their f32 results, with a calibrated input
 *     scale and with one measured per input, and use no more scratch than they
 *     report; the predictors' calibration hook sees every dense conv and linear.
 * (The whole model in bf16 and int8 is held against f32 by
 * tests/test_precision_model.sh.)
 */
#include "../model/ops/ops.h"
#include "check.h"
#include "numeric.h"

#include <math.h>
#include <string.h>

static unsigned rng = 12345;
static float frand(void) { return test_frand(&rng); }
static void fill(float *x, size_t n) { test_fill(&rng, x, n); }

static float from_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static void test_round(void)
{
    CHECK(bf16_round(1.0f) == 0x3f80, "1.0 -> 0x3f80");
    CHECK(bf16_round(from_bits(0x3f808000u)) == 0x3f80, "a tie rounds to even (down)");
    CHECK(bf16_round(from_bits(0x3f818000u)) == 0x3f82, "a tie rounds to even (up)");
    CHECK(bf16_round(from_bits(0x3f808001u)) == 0x3f81, "above the tie rounds up");
    CHECK(bf16_round(-2.5f) == 0xc020, "-2.5 is exact");
    CHECK(bf16_round(INFINITY) == 0x7f80 && bf16_round(-INFINITY) == 0xff80, "inf stays inf");
    CHECK(bf16_round(from_bits(0x7f7fffffu)) == 0x7f80, "FLT_MAX rounds to inf, as torch does");
    uint16_t n = bf16_round(NAN);
    CHECK((n & 0x7f80) == 0x7f80 && (n & 0x7f), "NaN stays NaN (0x%04x)", n);
    n = bf16_round(from_bits(0x7f800001u));   /* a NaN whose payload sits in the low bits */
    CHECK((n & 0x7f80) == 0x7f80 && (n & 0x7f), "low-payload NaN stays NaN (0x%04x)", n);
    CHECK(bf16_to_f32(0x3f80) == 1.0f, "back to f32");
    int same = 1;
    for (int i = 0; i < 1000; i++) {
        float x = frand() * 1000.0f;
        float r = bf16_to_f32(bf16_round(x));
        same &= fabsf(r - x) <= fabsf(x) * (1.0f / 256.0f);
    }
    CHECK(same, "round trips stay within half a bf16 ulp");
}

/* bf16_from_f32 (the CPU's conversion instruction where it has AVX512_BF16)
 * gives bf16_round's bits for every normal value, inf and NaN at every length
 * and offset (the tails are masked); subnormal inputs give a signed zero or
 * bf16_round's bits. */
static void test_round_array(void)
{
    enum { N = 100 };
    float x[N + 8];
    uint16_t y[N + 8];
    for (int i = 0; i < N + 8; i++) x[i] = frand() * (i % 3 ? 1e3f : 1e-30f);
    x[5] = from_bits(0x3f808000u);   /* ties */
    x[6] = from_bits(0x3f818000u);
    x[7] = NAN;
    x[8] = -INFINITY;
    x[9] = from_bits(0x7f7fffffu);
    x[10] = from_bits(0x00000123u);   /* subnormal */
    x[11] = from_bits(0x80400000u);
    int same = 1, guard = 1;
    for (int off = 0; off < 3; off++)
        for (int n = 0; n <= N; n += n < 40 ? 1 : 7) {
            for (int i = 0; i < N + 8; i++) y[i] = 0xabcd;
            bf16_from_f32(x + off, (size_t)n, y + off);
            for (int i = 0; i < n; i++) {
                uint16_t want = bf16_round(x[off + i]), got = y[off + i];
                int sub = (want & 0x7f80) == 0 && (want & 0x7f);
                same &= got == want || (sub && (got & 0x7fff) == 0 && got == (want & 0x8000));
            }
            for (int i = 0; i < N + 8; i++)
                if (i < off || i >= off + n) guard &= y[i] == 0xabcd;
        }
    CHECK(same, "bf16_from_f32 rounds every element as bf16_round does");
    CHECK(guard, "bf16_from_f32 writes nothing outside its n elements");
}

/* gemm_bf16 against double sums of the rounded values. */
static void check_gemm(int m, int n, int k, int trans_b, int pad, struct pool *pool)
{
    int lda = k + pad, ldb = (trans_b ? k : n) + pad, ldc = n + pad;
    size_t na = (size_t)m * lda, nb = (size_t)(trans_b ? n : k) * ldb, nc = (size_t)m * ldc;
    float *a = malloc(sizeof(float) * na), *b = malloc(sizeof(float) * nb);
    float *c = malloc(sizeof(float) * nc);
    uint16_t *a16 = malloc(sizeof(uint16_t) * na), *b16 = malloc(sizeof(uint16_t) * nb);
    fill(a, na);
    fill(b, nb);
    bf16_from_f32(a, na, a16);
    bf16_from_f32(b, nb, b16);
    for (size_t i = 0; i < nc; i++) c[i] = 12345.0f;   /* the padding must stay */
    ops_use_pool(pool);
    gemm_bf16(m, n, k, a16, lda, b16, ldb, c, ldc, trans_b);
    ops_use_pool(NULL);
    double worst = 0;
    int pad_kept = 1;
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (int p = 0; p < k; p++) {
                double x = bf16_to_f32(a16[(size_t)i * lda + p]);
                double y = bf16_to_f32(trans_b ? b16[(size_t)j * ldb + p] : b16[(size_t)p * ldb + j]);
                s += x * y;
                mag += fabs(x * y);
            }
            double e = fabs(c[(size_t)i * ldc + j] - s) / (mag + 1e-30);
            if (e > worst) worst = e;
        }
        for (int j = n; j < ldc; j++) pad_kept &= c[(size_t)i * ldc + j] == 12345.0f;
    }
    /* f32 sums of k terms: at most about k ulps of the sum of magnitudes */
    CHECK(worst <= 1e-6 * k + 1e-6, "gemm_bf16 %dx%dx%d%s pad %d %s: rel err %.2e", m, n, k,
          trans_b ? " B^T" : "", pad, pool ? "2 threads" : "1 thread", worst);
    CHECK(pad_kept, "gemm_bf16 %dx%dx%d: writes only its columns", m, n, k);
    free(a); free(b); free(c); free(a16); free(b16);
}

/* A conv with random weights and bias and their bf16 copy (random_conv_free
 * gives them back). */
static struct conv random_conv(int cin, int cout, int k, int stride, int pad, int groups, int dil)
{
    struct conv cv = { .cin = cin, .cout = cout, .k = k, .stride = stride, .pad = pad,
                       .groups = groups, .act = ACT_RELU, .dil = dil };
    size_t nw = (size_t)cout * (cin / groups) * k * k;
    float *wt = malloc(sizeof(float) * nw), *bias = malloc(sizeof(float) * cout);
    uint16_t *w16 = malloc(sizeof(uint16_t) * nw);
    fill(wt, nw);
    fill(bias, (size_t)cout);
    bf16_from_f32(wt, nw, w16);
    cv.w = wt;
    cv.b = bias;
    cv.w16 = w16;
    return cv;
}

static void random_conv_free(struct conv *cv)
{
    free((void *)cv->w);
    free((void *)cv->b);
    free((void *)cv->w16);
}

static double rel_l2(const float *x, const float *ref, size_t n) { return test_rel_l2(x, ref, n); }

/* A conv in bf16 against f32: the relative L2 error of bf16 inputs is about 2^-9. */
static void check_conv(int cin, int cout, int k, int stride, int pad, int groups, int dil, int h,
                       int w, int nimg, struct pool *pool)
{
    struct conv cv = random_conv(cin, cout, k, stride, pad, groups, dil);
    int oh, ow;
    conv_out_size(&cv, h, w, &oh, &ow);
    struct fmap in = { malloc(sizeof(float) * cin * h * w * nimg), cin, h * nimg, w };
    fill(in.d, fmap_numel(&in));
    struct fmap o32 = { malloc(sizeof(float) * cout * oh * ow * nimg), cout, oh * nimg, ow };
    struct fmap o16 = { malloc(sizeof(float) * cout * oh * ow * nimg), cout, oh * nimg, ow };
    struct arena a;
    arena_init(&a);
    ops_use_pool(pool);
    conv_forward_images(&cv, &in, nimg, &o32, &a);
    ops_use_precision(PREC_BF16);
    size_t want = conv_scratch_floats_images(&cv, nimg, h, w);
    struct arena_mark mk = arena_mark(&a);
    conv_forward_images(&cv, &in, nimg, &o16, &a);
    arena_rewind(&a, mk);
    ops_use_precision(PREC_FP32);
    ops_use_pool(NULL);
    double e = rel_l2(o16.d, o32.d, fmap_numel(&o32));
    int dw = groups == cin && groups == cout;
    CHECK(dw ? e == 0 : e < 8e-3 && e > 0,
          "conv %d->%d k%d s%d p%d g%d d%d %dx%d x%d in bf16: rel L2 %.2e%s", cin, cout, k,
          stride, pad, groups, dil, h, w, nimg, e, dw ? " (depthwise: f32, exact)" : "");
    CHECK(want > 0 || (groups == cin && groups == cout), "bf16 conv reports its scratch");
    arena_release(&a);
    random_conv_free(&cv);
    free(in.d); free(o32.d); free(o16.d);
}

/* A 3x3 stride-1 conv by Winograd F(2x2, 3x3) in bf16 against f32 and against
 * im2col's bf16: within bf16's bound, and within a small multiple of im2col's
 * error (its transforms add a few roundings, not a different scale of error). */
static void check_winograd(int cin, int cout, int pad, int h, int w, int nimg, struct pool *pool)
{
    struct conv cv = random_conv(cin, cout, 3, 1, pad, 1, 1);
    CHECK(winograd_eligible(&cv), "%d->%d 3x3 stride 1 is Winograd's", cin, cout);
    uint16_t *u = malloc(sizeof(uint16_t) * winograd_weights_len(&cv));
    winograd_weights_bf16(&cv, u);
    int oh, ow;
    conv_out_size(&cv, h, w, &oh, &ow);
    size_t no = (size_t)cout * oh * ow * nimg;
    struct fmap in = { malloc(sizeof(float) * cin * h * w * nimg), cin, h * nimg, w };
    fill(in.d, fmap_numel(&in));
    struct fmap o32 = { malloc(sizeof(float) * no), cout, oh * nimg, ow };
    struct fmap o16 = { malloc(sizeof(float) * no), cout, oh * nimg, ow };
    struct fmap ow16 = { malloc(sizeof(float) * (no + 1)), cout, oh * nimg, ow };
    ow16.d[no] = 12345.0f;   /* a guard past the end */
    struct arena a, b;
    arena_init(&a);
    arena_init(&b);
    ops_use_pool(pool);
    conv_bf16_allow(0);   /* oneDNN's im2col and Winograd, never conv_bf16.c's kernel */
    conv_forward_images(&cv, &in, nimg, &o32, &a);
    ops_use_precision(PREC_BF16);
    conv_forward_images(&cv, &in, nimg, &o16, &a);   /* im2col: no wino16 yet */
    cv.wino16 = u;
    size_t want = conv_scratch_floats_images(&cv, nimg, h, w);
    conv_forward_images(&cv, &in, nimg, &ow16, &b);
    ops_use_precision(PREC_FP32);
    conv_bf16_allow(1);
    ops_use_pool(NULL);
    double e16 = rel_l2(o16.d, o32.d, no), ew = rel_l2(ow16.d, o32.d, no);
    CHECK(ew < 8e-3 && ew > 0 && ew < 3 * e16,
          "conv %d->%d 3x3 p%d %dx%d x%d by Winograd in bf16: rel L2 %.2e (im2col %.2e)", cin,
          cout, pad, h, w, nimg, ew, e16);
    CHECK(ow16.d[no] == 12345.0f, "Winograd writes nothing past the output");
    CHECK(b.peak <= want * sizeof(float) + 64 && want > 0,
          "Winograd uses %zu bytes of scratch, reports %zu", b.peak, want * sizeof(float));
    arena_release(&a);
    arena_release(&b);
    random_conv_free(&cv);
    free(u); free(in.d); free(o32.d); free(o16.d); free(ow16.d);
}

static void check_linear(int m, int in, int out, struct pool *pool)
{
    float *w = malloc(sizeof(float) * in * out), *b = malloc(sizeof(float) * out);
    float *x = malloc(sizeof(float) * m * in);
    float *y32 = malloc(sizeof(float) * m * out), *y16 = malloc(sizeof(float) * m * out);
    uint16_t *w16 = malloc(sizeof(uint16_t) * in * out);
    fill(w, (size_t)in * out);
    fill(b, (size_t)out);
    fill(x, (size_t)m * in);
    bf16_from_f32(w, (size_t)in * out, w16);
    struct linear l = { .in = in, .out = out, .w = w, .b = b, .w16 = w16 };
    struct arena a;
    arena_init(&a);
    ops_use_pool(pool);
    linear_forward(&l, x, m, y32, 0, &a);
    ops_use_precision(PREC_BF16);
    CHECK(linear_scratch_floats(&l, m) >= (size_t)m * in / 2, "bf16 linear reports its scratch");
    linear_forward(&l, x, m, y16, 0, &a);
    ops_use_precision(PREC_FP32);
    ops_use_pool(NULL);
    double e = rel_l2(y16, y32, (size_t)m * out);
    CHECK(e < 8e-3 && e > 0, "linear %dx%d->%d in bf16: rel L2 %.2e", m, in, out, e);
    arena_release(&a);
    free(w); free(b); free(x); free(y32); free(y16); free(w16);
}

/* ---- int8 -------------------------------------------------------------------------- */

static void test_quant(struct pool *pool)
{
    CHECK(quant_one(0.5f, 1.0f, 127) == 1 && quant_one(-0.5f, 1.0f, 127) == -1,
          "ties away from zero");
    CHECK(quant_one(1.49f, 1.0f, 127) == 1 && quant_one(-1.51f, 1.0f, 127) == -2,
          "nearest otherwise");
    CHECK(quant_one(200.0f, 1.0f, 127) == 127 && quant_one(-1e30f, 1.0f, 127) == -127 &&
          quant_one(100.0f, 1.0f, 63) == 63, "clamped to the limit");
    CHECK(quant_one(NAN, 1.0f, 127) == 0 && quant_one(INFINITY, 1.0f, 127) == 127,
          "NaN -> 0, inf -> the limit");
    CHECK(quant_one(3.0f, 0.5f, 127) == 2, "scaled by 1/scale");
    int L = quant_levels();
    printf("test_precision: int8 inputs use +-%d here (oneDNN ISA)\n", L);
    CHECK(L == 127 || L == 63, "quant_levels is 127 or 63");
    CHECK(quant_scale(0.0f) == 1.0f && quant_scale((float)L) == 1.0f && quant_scale(NAN) == 1.0f,
          "quant_scale: amax / levels, 1 for nothing to scale");
    float x[5] = { 1.0f, -3.0f, NAN, 2.0f, -0.0f };
    CHECK(absmax(x, 5) == 3.0f, "absmax ignores NaN, takes the largest |x|");
    size_t n = (size_t)1 << 20;
    float *big = malloc(sizeof(float) * n);
    int8_t *q1 = malloc(n), *q2 = malloc(n);
    fill(big, n);
    big[n - 3] = -7.5f;
    ops_use_pool(pool);
    float m2 = absmax(big, n);
    quantize_s8(big, n, 0.05f, q2);
    ops_use_pool(NULL);
    quantize_s8(big, n, 0.05f, q1);
    CHECK(absmax(big, n) == 7.5f && m2 == 7.5f, "absmax of 1M values, alone and split");
    CHECK(!memcmp(q1, q2, n), "quantize_s8 split over the pool writes the same bytes");
    int inside = 1;
    for (size_t i = 0; i < n; i++) inside &= q1[i] >= -L && q1[i] <= L;
    CHECK(inside && q1[n - 3] == -L, "a layer's input stays within +-%d", L);
    free(big); free(q1); free(q2);
}

/* gemm_s8 against exact integer sums. */
static void check_gemm_s8(int m, int n, int k, int trans_b, int pad, struct pool *pool)
{
    int lda = k + pad, ldb = (trans_b ? k : n) + pad, ldc = n + pad;
    int8_t *a = malloc((size_t)m * lda), *b = malloc((size_t)(trans_b ? n : k) * ldb);
    int32_t *c = malloc(sizeof(int32_t) * m * ldc);
    for (size_t i = 0; i < (size_t)m * lda; i++) a[i] = (int8_t)(frand() * 127.0f);
    /* A holds weights (+-127), B a layer's input (+-quant_levels()) */
    float L = (float)quant_levels();
    for (size_t i = 0; i < (size_t)(trans_b ? n : k) * ldb; i++) b[i] = (int8_t)(frand() * L);
    a[0] = -127;   /* the extremes */
    b[0] = (int8_t)-L;
    for (size_t i = 0; i < (size_t)m * ldc; i++) c[i] = 0x5a5a5a5a;
    ops_use_pool(pool);
    gemm_s8(m, n, k, a, lda, b, ldb, c, ldc, trans_b);
    ops_use_pool(NULL);
    int exact = 1, pad_kept = 1;
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            int64_t s = 0;
            for (int p = 0; p < k; p++)
                s += (int64_t)a[(size_t)i * lda + p] *
                     (trans_b ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j]);
            exact &= c[(size_t)i * ldc + j] == s;
        }
        for (int j = n; j < ldc; j++) pad_kept &= c[(size_t)i * ldc + j] == 0x5a5a5a5a;
    }
    CHECK(exact, "gemm_s8 %dx%dx%d%s%s: exact integer sums", m, n, k, trans_b ? " B^T" : "",
          pool ? " (pool)" : "");
    CHECK(pad_kept, "gemm_s8 %dx%dx%d: writes only its columns", m, n, k);
    free(a); free(b); free(c);
}

/* The calibration hook: which layers reported, with which largest |x|. */
struct seen {
    const void *layer[8];
    float amax[8];
    int n;
};
static void observe(void *ctx, const void *layer, float amax)
{
    struct seen *s = ctx;
    if (s->n < 8) {
        s->layer[s->n] = layer;
        s->amax[s->n++] = amax;
    }
}

/* A conv in int8 against f32 (inputs in [-1, 1): relative L2 error ~ 1e-2), with
 * the input's scale calibrated (calibrated != 0) or measured. */
static void check_conv_s8(int cin, int cout, int k, int stride, int pad, int groups, int dil,
                          int h, int w, int nimg, int calibrated, struct pool *pool)
{
    struct conv cv = { .cin = cin, .cout = cout, .k = k, .stride = stride, .pad = pad,
                       .groups = groups, .act = ACT_NONE, .dil = dil };
    int kk = cin / groups * k * k;
    size_t nw = (size_t)cout * kk;
    float *wt = malloc(sizeof(float) * nw), *bias = malloc(sizeof(float) * cout);
    float *ws = malloc(sizeof(float) * cout);
    int8_t *w8 = malloc(nw);
    fill(wt, nw);
    fill(bias, (size_t)cout);
    quantize_rows_s8(wt, cout, kk, w8, ws);
    cv.w = wt;
    cv.b = bias;
    cv.w8 = w8;
    cv.w8_scale = ws;
    int oh, ow;
    conv_out_size(&cv, h, w, &oh, &ow);
    struct fmap in = { malloc(sizeof(float) * cin * h * w * nimg), cin, h * nimg, w };
    fill(in.d, fmap_numel(&in));
    cv.x_scale = calibrated ? quant_scale(absmax(in.d, fmap_numel(&in))) : 0.0f;
    struct fmap o32 = { malloc(sizeof(float) * cout * oh * ow * nimg), cout, oh * nimg, ow };
    struct fmap o8 = { malloc(sizeof(float) * cout * oh * ow * nimg), cout, oh * nimg, ow };
    struct arena a, b;
    arena_init(&a);
    arena_init(&b);
    ops_use_pool(pool);
    struct seen seen = { .n = 0 };
    ops_observe(observe, &seen);
    conv_forward_images(&cv, &in, nimg, &o32, &a);
    ops_observe(NULL, NULL);
    ops_use_precision(PREC_INT8);
    size_t want = conv_scratch_floats_images(&cv, nimg, h / 1, w);
    conv_forward_images(&cv, &in, nimg, &o8, &b);
    ops_use_precision(PREC_FP32);
    ops_use_pool(NULL);
    double e = rel_l2(o8.d, o32.d, fmap_numel(&o32));
    CHECK(e < 2e-2 && e > 0, "conv %d->%d k%d s%d p%d g%d d%d %dx%d x%d in int8 (%s scale): "
          "rel L2 %.2e", cin, cout, k, stride, pad, groups, dil, h, w, nimg,
          calibrated ? "calibrated" : "measured", e);
    CHECK(b.peak <= want * sizeof(float) + 64, "int8 conv uses %zu bytes of scratch, reports %zu",
          b.peak, want * sizeof(float));
    CHECK(seen.n == 1 && seen.layer[0] == &cv && seen.amax[0] == absmax(in.d, fmap_numel(&in)),
          "the calibration hook saw the conv's input once");
    arena_release(&a);
    arena_release(&b);
    free(wt); free(bias); free(ws); free(w8); free(in.d); free(o32.d); free(o8.d);
}

static void check_linear_s8(int m, int in, int out, struct pool *pool)
{
    float *w = malloc(sizeof(float) * in * out), *b = malloc(sizeof(float) * out);
    float *ws = malloc(sizeof(float) * out);
    float *x = malloc(sizeof(float) * m * in);
    float *y32 = malloc(sizeof(float) * m * out), *y8 = malloc(sizeof(float) * m * out);
    int8_t *w8 = malloc((size_t)in * out);
    fill(w, (size_t)in * out);
    fill(b, (size_t)out);
    fill(x, (size_t)m * in);
    quantize_rows_s8(w, out, in, w8, ws);
    struct linear l = { .in = in, .out = out, .w = w, .b = b, .w8 = w8, .w8_scale = ws };
    struct arena a;
    arena_init(&a);
    ops_use_pool(pool);
    struct seen seen = { .n = 0 };
    ops_observe(observe, &seen);
    linear_forward(&l, x, m, y32, 1, &a);
    ops_observe(NULL, NULL);
    CHECK(seen.n == 1 && seen.layer[0] == &l, "the calibration hook saw the linear's input");
    ops_use_precision(PREC_INT8);
    CHECK(linear_scratch_floats(&l, m) >= (size_t)m * in / 4, "int8 linear reports its scratch");
    linear_forward(&l, x, m, y8, 1, &a);
    ops_use_precision(PREC_FP32);
    ops_use_pool(NULL);
    double e = rel_l2(y8, y32, (size_t)m * out);
    CHECK(e < 2e-2 && e > 0, "linear %dx%d->%d in int8: rel L2 %.2e", m, in, out, e);
    arena_release(&a);
    free(w); free(b); free(ws); free(x); free(y32); free(y8); free(w8);
}

/* OpenBLAS and oneDNN: the same products to f32 rounding. */
static void check_engines(int m, int n, int k)
{
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n);
    float *c1 = malloc(sizeof(float) * m * n), *c2 = malloc(sizeof(float) * m * n);
    fill(a, (size_t)m * k);
    fill(b, (size_t)k * n);
    ops_use_engine(GEMM_OPENBLAS);
    gemm(m, n, k, a, b, c1, 0);
    ops_use_engine(GEMM_ONEDNN);
    gemm(m, n, k, a, b, c2, 0);
    ops_use_engine(gemm_engine_by_cpu());
    double e = rel_l2(c2, c1, (size_t)m * n);
    CHECK(e < 1e-6, "openblas vs onednn %dx%dx%d: rel L2 %.2e", m, n, k, e);
    free(a); free(b); free(c1); free(c2);
}

int main(void)
{
    test_round();
    test_round_array();
    struct pool *pool = NULL;
    CHECK(pool_open(&pool, 2) == 0, "pool of 2");
    for (int t = 0; t < 2; t++) {
        struct pool *p = t ? pool : NULL;
        check_gemm(7, 5, 3, 0, 0, p);
        check_gemm(64, 300, 129, 0, 3, p);
        check_gemm(300, 64, 129, 1, 1, p);
        check_gemm(150, 1024, 640, 1, 0, p);
        check_gemm(1, 1, 1, 0, 0, p);
        check_conv(16, 32, 3, 1, 1, 1, 1, 20, 24, 1, p);
        check_conv(16, 32, 1, 1, 0, 1, 1, 20, 24, 1, p);      /* 1x1: rounded, no im2col */
        check_conv(16, 24, 3, 2, 1, 1, 1, 21, 17, 1, p);      /* strided, odd sizes */
        check_conv(16, 32, 3, 1, 2, 4, 2, 15, 15, 1, p);      /* grouped, dilated */
        check_conv(8, 8, 3, 1, 1, 1, 1, 7, 7, 5, p);          /* stacked images (box head) */
        check_conv(8, 8, 3, 1, 1, 8, 1, 9, 9, 1, p);          /* depthwise: stays f32 */
        check_winograd(16, 32, 1, 20, 24, 1, p);
        check_winograd(24, 16, 1, 21, 17, 1, p);              /* odd sizes: partial tiles */
        check_winograd(16, 16, 0, 9, 11, 1, p);               /* no padding */
        check_winograd(16, 16, 2, 5, 6, 1, p);                /* padding 2: a wider output */
        check_winograd(16, 16, 0, 3, 3, 1, p);                /* one output */
        check_winograd(16, 24, 1, 7, 7, 5, p);                /* stacked images (box head) */
        check_winograd(64, 64, 1, 120, 128, 1, p);            /* several bands */
        check_linear(37, 200, 45, p);
        check_linear(150, 784, 128, p);
        check_gemm_s8(7, 5, 3, 0, 0, p);
        check_gemm_s8(64, 300, 129, 0, 3, p);
        check_gemm_s8(300, 64, 129, 1, 1, p);
        check_gemm_s8(150, 1024, 640, 1, 0, p);
        check_gemm_s8(1, 1, 1, 0, 0, p);
        for (int cal = 0; cal < 2; cal++) {
            check_conv_s8(16, 32, 3, 1, 1, 1, 1, 20, 24, 1, cal, p);
            check_conv_s8(16, 32, 1, 1, 0, 1, 1, 20, 24, 1, cal, p);   /* 1x1: the map itself */
            check_conv_s8(16, 24, 3, 2, 1, 1, 1, 21, 17, 1, cal, p);   /* strided, odd sizes */
            check_conv_s8(16, 32, 3, 1, 2, 4, 2, 15, 15, 1, cal, p);   /* grouped, dilated */
            check_conv_s8(8, 8, 3, 1, 1, 1, 1, 7, 7, 5, cal, p);       /* stacked images */
        }
        check_linear_s8(37, 200, 45, p);
        check_linear_s8(150, 784, 128, p);
    }
    test_quant(pool);
    check_engines(64, 500, 300);
    check_engines(1000, 91, 256);
    pool_close(&pool);
    return check_summary("test_precision");
}
