/*
 * test_conv_bf16.c — our own AVX512_BF16 kernels (model/ops/conv_bf16.c and
 * linear_bf16.c), where this CPU runs them (conv_bf16_native; skipped where not):
 *   - a conv's output equals the sums of its bf16-rounded weights and inputs,
 *     computed in double, plus the bias and through the activation, within f32
 *     summation error: 1x1 (the map itself) and k x k (im2col) convs, odd input
 *     lengths (a zero half pair), output channels beyond the 8-row blocks, pixel
 *     counts beyond the 48-pixel panels, stacked images, padding, stride 2, the
 *     activations done in registers (ReLU, hardswish) and after (ReLU6, SiLU),
 *     no bias, NaN inputs kept NaN;
 *   - in every way of cutting the work (bands of pixels, of im2col rows; shared
 *     panels, gathered from a padded copy for k x k, by groups of panels or of
 *     output channels), the result is bit for bit the same on 1, 2 and 3
 *     threads, nothing is written outside the output, and the scratch stays
 *     within what conv_scratch_floats_images reports — also for fewer stacked
 *     images than it was asked for (the box head's plan);
 *   - linear_bf16 likewise: exact against double sums, chunked sums (more than
 *     1024 input pairs), odd inputs, outputs beyond a panel, rows beyond a
 *     block, one row, ReLU, no bias, the same bits on any thread count; and
 *     linear_forward takes it where the layer has panels;
 *   - with conv_bf16_allow(0) every bf16 conv goes back to oneDNN, and both stay
 *     within bf16's error of f32.
 */
#include "../model/ops/ops.h"
#include "check.h"
#include "numeric.h"

#include <math.h>
#include <string.h>

static unsigned rng = 777;
static void fill(float *x, size_t n) { test_fill(&rng, x, n); }

static double rd(float x) { return bf16_to_f32(bf16_round(x)); }

static double act_ref(double x, enum act a)
{
    float y = (float)x;
    act_inplace(&y, 1, a);
    return y;
}

/* ---- convs ------------------------------------------------------------------------ */

struct conv_case {
    int cin, cout, k, stride, pad, h, w, nimg;
    enum act act;
    int bias, dil;
};

/* in [cin, nimg * h, w] -> out by the definition, in double on rounded values */
static void conv_ref(const struct conv *cv, const struct fmap *in, int nimg, int oh, int ow,
                     double *out, double *mag)
{
    int ih = in->h / nimg;
    for (int img = 0; img < nimg; img++)
        for (int o = 0; o < cv->cout; o++)
            for (int y = 0; y < oh; y++)
                for (int x = 0; x < ow; x++) {
                    double s = 0, m = 0;
                    for (int c = 0; c < cv->cin; c++)
                        for (int ky = 0; ky < cv->k; ky++)
                            for (int kx = 0; kx < cv->k; kx++) {
                                int d = cv->dil > 1 ? cv->dil : 1;
                                int iy = y * cv->stride - cv->pad + ky * d;
                                int ix = x * cv->stride - cv->pad + kx * d;
                                if (iy < 0 || iy >= ih || ix < 0 || ix >= in->w) continue;
                                double a = rd(cv->w[((size_t)(o * cv->cin + c) * cv->k + ky) * cv->k + kx]);
                                double b = rd(in->d[((size_t)c * in->h + img * ih + iy) * in->w + ix]);
                                s += a * b;
                                m += fabs(a * b);
                            }
                    size_t at = ((size_t)o * nimg * oh + img * oh + y) * ow + x;
                    out[at] = s + (cv->b ? cv->b[o] : 0.0);
                    mag[at] = m + (cv->b ? fabs(cv->b[o]) : 0.0);
                }
}

static float *run_conv(const struct conv *cv, const struct fmap *in, int nimg, int oh, int ow,
                       struct pool *pool, size_t *peak, size_t *want, int *guard_ok)
{
    size_t no = (size_t)cv->cout * nimg * oh * ow;
    float *o = malloc(sizeof(float) * (no + 16));
    for (size_t i = 0; i < no + 16; i++) o[i] = 12345.0f;
    struct fmap out = { o, cv->cout, nimg * oh, ow };
    struct arena a;
    arena_init(&a);
    ops_use_pool(pool);
    ops_use_precision(PREC_BF16);
    *want = conv_scratch_floats_images(cv, nimg, in->h / nimg, in->w);
    conv_forward_images(cv, in, nimg, &out, &a);
    ops_use_precision(PREC_FP32);
    ops_use_pool(NULL);
    *peak = a.peak;
    arena_release(&a);
    *guard_ok = 1;
    for (int i = 0; i < 16; i++) *guard_ok &= o[no + i] == 12345.0f;
    return o;
}

static void check_conv(struct conv_case c, struct pool *p2, struct pool *p3)
{
    struct conv cv = { .cin = c.cin, .cout = c.cout, .k = c.k, .stride = c.stride, .pad = c.pad,
                       .groups = 1, .act = c.act, .dil = c.dil };
    size_t nw = (size_t)c.cout * c.cin * c.k * c.k;
    float *w = malloc(sizeof(float) * nw), *b = malloc(sizeof(float) * c.cout);
    uint16_t *w16 = malloc(sizeof(uint16_t) * nw);
    fill(w, nw);
    fill(b, (size_t)c.cout);
    bf16_from_f32(w, nw, w16);
    cv.w = w;
    cv.b = c.bias ? b : NULL;
    cv.w16 = w16;
    int oh, ow;
    conv_out_size(&cv, c.h, c.w, &oh, &ow);
    struct fmap in = { malloc(sizeof(float) * c.cin * c.h * c.w * c.nimg), c.cin, c.h * c.nimg, c.w };
    fill(in.d, fmap_numel(&in));
    size_t no = (size_t)c.cout * c.nimg * oh * ow;
    double *ref = malloc(sizeof(double) * no), *mag = malloc(sizeof(double) * no);
    conv_ref(&cv, &in, c.nimg, oh, ow, ref, mag);

    size_t peak[3], want[3];
    int guard[3];
    struct pool *pools[3] = { NULL, p2, p3 };
    float *o[3];
    for (int t = 0; t < 3; t++) o[t] = run_conv(&cv, &in, c.nimg, oh, ow, pools[t], &peak[t], &want[t], &guard[t]);
    double worst = 0;
    int kk = c.cin * c.k * c.k;
    for (size_t i = 0; i < no; i++) {
        double r = act_ref(ref[i], c.act);
        double e = fabs(o[0][i] - r) / (mag[i] + 1e-30);
        if (e > worst) worst = e;
    }
    CHECK(worst <= 1e-6 * kk + 1e-6,
          "conv %d->%d k%d s%d p%d %dx%d x%d act %d%s: rel err %.2e against double sums", c.cin,
          c.cout, c.k, c.stride, c.pad, c.h, c.w, c.nimg, (int)c.act, c.bias ? "" : " no bias", worst);
    CHECK(!memcmp(o[0], o[1], sizeof(float) * no) && !memcmp(o[0], o[2], sizeof(float) * no),
          "conv %d->%d k%d %dx%d: the same bits on 1, 2 and 3 threads", c.cin, c.cout, c.k, c.h, c.w);
    CHECK(guard[0] && guard[1] && guard[2], "conv %d->%d k%d: nothing written past the output",
          c.cin, c.cout, c.k);
    for (int t = 0; t < 3; t++)
        CHECK(peak[t] <= want[t] * sizeof(float) + 64 && want[t] > 0,
              "conv %d->%d k%d %dx%d on %d thread(s): %zu bytes of scratch, reports %zu", c.cin,
              c.cout, c.k, c.h, c.w, t + 1, peak[t], want[t] * sizeof(float));
    for (int t = 0; t < 3; t++) free(o[t]);
    free(ref); free(mag); free(in.d); free(w); free(b); free(w16);
}

/* The box head plans its convs' scratch for its largest RoI count: any fewer
 * stacked images must fit in it, though few images take shared panels (a padded
 * copy and all panels) where many take bands. */
static void check_stacked_scratch(struct pool *pool)
{
    struct conv cv = { .cin = 64, .cout = 64, .k = 3, .stride = 1, .pad = 1, .groups = 1,
                       .act = ACT_RELU };
    size_t nw = (size_t)64 * 64 * 9;
    float *w = malloc(sizeof(float) * nw), *b = malloc(sizeof(float) * 64);
    uint16_t *w16 = malloc(sizeof(uint16_t) * nw);
    fill(w, nw);
    fill(b, 64);
    bf16_from_f32(w, nw, w16);
    cv.w = w;
    cv.b = b;
    cv.w16 = w16;
    enum { N = 80 };
    struct fmap in = { malloc(sizeof(float) * 64 * 49 * N), 64, 7 * N, 7 };
    float *o = malloc(sizeof(float) * 64 * 49 * N);
    fill(in.d, fmap_numel(&in));
    ops_use_pool(pool);
    ops_use_precision(PREC_BF16);
    size_t want = conv_scratch_floats_images(&cv, N, 7, 7);
    static const int counts[] = { 1, 10, 40, 62, 63, 80 };
    int fits = 1;
    for (int i = 0; i < 6; i++) {
        int n = counts[i];
        struct fmap part = { in.d, 64, 7 * n, 7 }, out = { o, 64, 7 * n, 7 };
        struct arena a;
        arena_init(&a);
        conv_forward_images(&cv, &part, n, &out, &a);
        if (a.peak > want * sizeof(float) + 64) {
            fits = 0;
            fprintf(stderr, "  %d images used %zu bytes of scratch, %d reserved %zu\n", n, a.peak,
                    N, want * sizeof(float));
        }
        arena_release(&a);
    }
    ops_use_precision(PREC_FP32);
    ops_use_pool(NULL);
    CHECK(fits, "64->64 3x3 on up to %d stacked 7x7 images: every count fits the plan for %d", N, N);
    free(in.d); free(o); free(w); free(b); free(w16);
}

/* NaN in, NaN out, through the register activations too. */
static void check_nan(void)
{
    struct conv cv = { .cin = 4, .cout = 8, .k = 1, .stride = 1, .pad = 0, .groups = 1,
                       .act = ACT_HARDSWISH };
    float w[32], b[8];
    uint16_t w16[32];
    fill(w, 32);
    fill(b, 8);
    bf16_from_f32(w, 32, w16);
    cv.w = w;
    cv.b = b;
    cv.w16 = w16;
    struct fmap in = { malloc(sizeof(float) * 4 * 64), 4, 8, 8 };
    fill(in.d, 256);
    in.d[5] = NAN;
    float o[8 * 64];
    struct fmap out = { o, 8, 8, 8 };
    struct arena a;
    arena_init(&a);
    int ok = 1;
    for (int act = 0; act < 2; act++) {
        cv.act = act ? ACT_RELU : ACT_HARDSWISH;
        ops_use_precision(PREC_BF16);
        conv_forward(&cv, &in, &out, &a);
        ops_use_precision(PREC_FP32);
        for (int c = 0; c < 8; c++) ok &= isnan(o[c * 64 + 5]) && !isnan(o[c * 64 + 6]);
    }
    CHECK(ok, "a NaN input gives NaN outputs at its pixel only (hardswish and ReLU)");
    arena_release(&a);
    free(in.d);
}

static double rel_l2(const float *x, const float *ref, size_t n) { return test_rel_l2(x, ref, n); }

/* With conv_bf16_allow(0), the same conv runs on oneDNN: both near f32. */
static void check_allow(struct pool *pool)
{
    struct conv cv = { .cin = 32, .cout = 24, .k = 3, .stride = 1, .pad = 1, .groups = 1,
                       .act = ACT_NONE };
    size_t nw = (size_t)24 * 32 * 9, no = (size_t)24 * 30 * 30;
    float *w = malloc(sizeof(float) * nw), *b = malloc(sizeof(float) * 24);
    uint16_t *w16 = malloc(sizeof(uint16_t) * nw);
    fill(w, nw);
    fill(b, 24);
    bf16_from_f32(w, nw, w16);
    cv.w = w;
    cv.b = b;
    cv.w16 = w16;
    struct fmap in = { malloc(sizeof(float) * 32 * 900), 32, 30, 30 };
    fill(in.d, 32 * 900);
    float *o[3];
    struct arena a;
    arena_init(&a);
    ops_use_pool(pool);
    for (int i = 0; i < 3; i++) {
        o[i] = malloc(sizeof(float) * no);
        struct fmap out = { o[i], 24, 30, 30 };
        conv_bf16_allow(i != 2);
        ops_use_precision(i ? PREC_BF16 : PREC_FP32);
        conv_forward(&cv, &in, &out, &a);
    }
    conv_bf16_allow(1);
    ops_use_precision(PREC_FP32);
    ops_use_pool(NULL);
    double own = rel_l2(o[1], o[0], no), dnn = rel_l2(o[2], o[0], no);
    CHECK(own > 0 && own < 8e-3 && dnn > 0 && dnn < 8e-3 && own < 2 * dnn && dnn < 2 * own,
          "own kernel and oneDNN in bf16: rel L2 %.2e and %.2e against f32", own, dnn);
    arena_release(&a);
    for (int i = 0; i < 3; i++) free(o[i]);
    free(in.d); free(w); free(b); free(w16);
}

/* ---- linears ---------------------------------------------------------------------- */

static float *run_linear(const struct linear *l, const float *x, int m, int relu,
                         struct pool *pool, size_t *peak, size_t *want)
{
    size_t no = (size_t)m * l->out;
    float *y = malloc(sizeof(float) * (no + 16));
    for (size_t i = 0; i < no + 16; i++) y[i] = 12345.0f;
    struct arena a;
    arena_init(&a);
    ops_use_pool(pool);
    ops_use_precision(PREC_BF16);
    *want = linear_scratch_floats(l, m);
    linear_forward(l, x, m, y, relu, &a);
    ops_use_precision(PREC_FP32);
    ops_use_pool(NULL);
    *peak = a.peak;
    arena_release(&a);
    return y;
}

static void check_linear(int m, int in, int out, int relu, int bias, struct pool *p2,
                         struct pool *p3)
{
    float *w = malloc(sizeof(float) * in * out), *b = malloc(sizeof(float) * out);
    float *x = malloc(sizeof(float) * m * in);
    fill(w, (size_t)in * out);
    fill(b, (size_t)out);
    fill(x, (size_t)m * in);
    struct linear l = { .in = in, .out = out, .w = w, .b = bias ? b : NULL };
    uint16_t *wp = malloc(sizeof(uint16_t) * linear_bf16_weights_len(&l));
    linear_bf16_weights(&l, wp);
    l.wp16 = wp;
    size_t no = (size_t)m * out, peak[3], want[3];
    struct pool *pools[3] = { NULL, p2, p3 };
    float *y[3];
    for (int t = 0; t < 3; t++) y[t] = run_linear(&l, x, m, relu, pools[t], &peak[t], &want[t]);
    double worst = 0;
    int guard = 1;
    for (int i = 0; i < m; i++)
        for (int o = 0; o < out; o++) {
            double s = 0, mag = 0;
            for (int k = 0; k < in; k++) {
                double t = rd(x[(size_t)i * in + k]) * rd(w[(size_t)o * in + k]);
                s += t;
                mag += fabs(t);
            }
            if (bias) s += b[o], mag += fabs(b[o]);
            if (relu) s = s > 0 ? s : 0;
            double e = fabs(y[0][(size_t)i * out + o] - s) / (mag + 1e-30);
            if (e > worst) worst = e;
        }
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < 16; i++) guard &= y[t][no + i] == 12345.0f;
    CHECK(worst <= 1e-6 * in + 1e-6, "linear %dx%d->%d%s%s: rel err %.2e against double sums",
          m, in, out, relu ? " relu" : "", bias ? "" : " no bias", worst);
    CHECK(!memcmp(y[0], y[1], sizeof(float) * no) && !memcmp(y[0], y[2], sizeof(float) * no),
          "linear %dx%d->%d: the same bits on 1, 2 and 3 threads", m, in, out);
    CHECK(guard, "linear %dx%d->%d: nothing written past the output", m, in, out);
    for (int t = 0; t < 3; t++)
        CHECK(peak[t] <= want[t] * sizeof(float) + 64,
              "linear %dx%d->%d: %zu bytes of scratch, reports %zu", m, in, out, peak[t],
              want[t] * sizeof(float));
    for (int t = 0; t < 3; t++) free(y[t]);
    free(w); free(b); free(x); free(wp);
}

int main(void)
{
    if (!conv_bf16_native()) {
        printf("test_conv_bf16: this CPU has no AVX512_BF16 without AMX (or oneDNN is capped "
               "below it): the kernels do not run here\n");
        return check_summary("test_conv_bf16");
    }
    struct pool *p2 = NULL, *p3 = NULL;
    CHECK(pool_open(&p2, 2) == 0 && pool_open(&p3, 3) == 0, "pools of 2 and 3");
    /* paths per plan_of (conv_bf16.c): at 1 thread a 1x1 conv always goes by bands */
    struct conv_case cases[] = {
        /* 1x1, 47 panels: bands of panels on every thread count */
        { 16, 64, 1, 1, 0, 40, 56, 1, ACT_HARDSWISH, 1, 0 },
        /* 1x1, 2 panels: shared panels by groups of output channels at 2 and 3
         * threads; cout past the 8-row blocks */
        { 96, 27, 1, 1, 0, 7, 9, 1, ACT_RELU, 1, 0 },
        /* odd cin (a zero half pair), pixels past the last panel */
        { 5, 16, 1, 1, 0, 13, 11, 1, ACT_NONE, 0, 0 },
        /* k x k on small maps: gathered panels, by output channels (3 panels) and
         * by groups of panels (32 panels) */
        { 32, 40, 3, 1, 1, 10, 14, 1, ACT_RELU, 1, 0 },
        { 24, 16, 3, 1, 1, 41, 37, 1, ACT_RELU6, 1, 0 },
        /* 3 channels (k = 27, odd), stride 2, gathered */
        { 3, 16, 3, 2, 1, 64, 90, 1, ACT_HARDSWISH, 1, 0 },
        /* stacked images, each padded on its own, gathered; SiLU after the kernel */
        { 16, 8, 3, 1, 1, 7, 7, 5, ACT_SILU, 1, 0 },
        /* dilation 2, gathered */
        { 8, 16, 3, 1, 2, 15, 13, 1, ACT_RELU, 1, 2 },
        /* im2col bands: a padded copy over 2 MB; over 64 panels with k = 27 (odd)
         * and cout past the 8-row blocks; stacked images over 64 panels */
        { 64, 24, 3, 2, 1, 96, 100, 1, ACT_RELU, 1, 0 },
        { 3, 20, 3, 1, 1, 60, 70, 1, ACT_HARDSWISH, 1, 0 },
        { 16, 12, 3, 1, 1, 40, 40, 3, ACT_NONE, 1, 0 },
        /* a 1x1 with stride 2 and a 5x5 with pad 2: im2col convs, gathered */
        { 24, 24, 1, 2, 0, 30, 22, 1, ACT_NONE, 1, 0 },
        { 8, 12, 5, 1, 2, 17, 19, 1, ACT_HARDSWISH, 0, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_conv(cases[i], p2, p3);
    check_nan();
    check_stacked_scratch(p2);
    check_stacked_scratch(NULL);
    check_allow(p2);
    check_linear(151, 784, 128, 1, 1, p2, p3);    /* a row past the 6-row blocks */
    check_linear(37, 201, 45, 0, 1, p2, p3);      /* odd in, out below one panel */
    check_linear(1, 64, 70, 1, 0, p2, p3);        /* one row, no bias */
    check_linear(13, 4100, 130, 0, 1, p2, p3);    /* 2050 pairs: three chunks of sums */
    pool_close(&p2);
    pool_close(&p3);
    return check_summary("test_conv_bf16");
}
