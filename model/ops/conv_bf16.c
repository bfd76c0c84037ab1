/*
 * conv_bf16.c — convolutions in bf16 by our own AVX512_BF16 kernel: the product
 * out[o][p] = act(b[o] + sum_k w[o][k] B[k][p]) of a conv's bf16 weights w
 * [cout, K] and its input as a [K, pixels] matrix B — the map itself for a 1x1
 * stride-1 conv, the im2col matrix for any other (made in tiles by conv.c's
 * im2col on larger maps, gathered here from a padded copy of the input on small
 * ones).
 *
 * MobileNet's backbone is mostly 1x1 convs, many on maps of thousands of pixels
 * with few channels (16 in, 64 out) or on maps of a hundred pixels with many
 * (960 in, 160 out). Through oneDNN's matmul each such product cost a rounding
 * pass over the input, a packing of it inside oneDNN, the product, and a pass for
 * bias and activation: on a 2-core Zen 5 the bf16 1x1 convs of MobileNet-320 took
 * longer than the same convs in f32. Here one pass rounds B into the layout the
 * dot-product instruction reads, and one kernel does the sums, the bias and the
 * activation while the outputs are still in registers.
 *
 * VDPBF16PS adds, in each of 16 f32 lanes, the products of two bf16 pairs. A lane
 * is a pixel and a pair is two successive rows of B (k = 2kp, 2kp + 1). So B is
 * rounded into panels of PANEL pixels, each holding, for every pair kp, the
 * 2 x PANEL values B[2kp][p], B[2kp + 1][p] interleaved (an odd K's last pair has
 * a zero second row); the weights' pair (w[o][2kp], w[o][2kp + 1]) is one 32-bit
 * word of the bf16 copy the model holds, broadcast to every lane. A register
 * block is MR output channels by one panel (MR x NV accumulators of 16 lanes).
 *
 * Each output's sum is one accumulation over all pairs in order, in one register:
 * the result does not depend on how the work is split over threads.
 *
 * Only where the CPU has AVX512_BF16 (and oneDNN may use it: a ONEDNN_MAX_CPU_ISA
 * cap below it applies here too) and has no AMX: with AMX, oneDNN's tile
 * kernels do 16 times the work per instruction and keep these convs.
 */
#include "ops.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86_BF16 1
#endif

#define MR 8                /* output channels per register block */
#define NV 3                /* vectors of 16 pixels per register block */
#define PANEL (16 * NV)     /* pixels per panel */

static int native, gathers_slow;
static pthread_once_t native_once = PTHREAD_ONCE_INIT;

/* Intel CPUs patched against Gather Data Sampling (Skylake to Ice Lake server
 * cores, Cooper Lake's AVX512_BF16 among them) run vector gathers several times
 * slower under that microcode; there small maps' panels come from im2col too. */
static int gathers_mitigated(void)
{
    FILE *f = fopen("/sys/devices/system/cpu/vulnerabilities/gather_data_sampling", "r");
    if (!f) return 0;
    char line[128] = "";
    int slow = fgets(line, sizeof line, f) && !strncmp(line, "Mitigation", 10);
    fclose(f);
    return slow;
}

static void find_native(void)
{
#ifdef HAVE_X86_BF16
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    unsigned bf16 = (unsigned)dnnl_cpu_isa_avx512_core_bf16;
    native = (isa & bf16) == bf16 && !cpu_has("amx_bf16") && cpu_has("avx512f") &&
             cpu_has("avx512bw") && cpu_has("avx512vl") && cpu_has("avx512_bf16");
    gathers_slow = native && gathers_mitigated();
#endif
}

static int allowed = 1;

int conv_bf16_native(void)
{
    pthread_once(&native_once, find_native);
    return native && allowed;
}

void conv_bf16_allow(int allow) { allowed = allow; }

static size_t panels_of(size_t pixels) { return (pixels + PANEL - 1) / PANEL; }

/* Floats of the panels of k rows of B over this many pixels. */
static size_t panel_floats(int k, size_t pixels)
{
    return arena_aligned_floats(panels_of(pixels) * (size_t)((k + 1) / 2) * PANEL);
}

/* A band's im2col and panels: about this many bytes, within a core's L2. */
#define BAND_BYTES ((size_t)256 << 10)

/* A k x k conv's panels are gathered from its input's zero-padded copy up to
 * this many bytes of copy and this many panels of output (3072 pixels: the
 * stem's 35840 went faster through im2col bands, measured on Zen 5). */
#define GATHER_BYTES ((size_t)2 << 20)
#define GATHER_PANELS 64

/* How a conv's product is cut into the pool's tasks.
 * - Bands: each task takes its pixels' rows of B (the map's, or an im2col tile
 *   made by the task), rounds them into panels of its own and computes every
 *   output channel of those pixels: B goes through the caches once, never
 *   through memory as panels. For 1x1 convs on one thread or with at least 4
 *   panels per thread, and k x k convs on larger maps. A band is about
 *   BAND_BYTES of scratch, and about a quarter of a thread's share when that is
 *   less; never under a panel (1x1) or 4 panels' worth of whole output rows
 *   (k x k: a band's last panel may be part empty).
 * - Shared panels: the panels of all of B first, then tasks of panels x groups
 *   of output channels (few pixels: the channels give the threads their work).
 *   A k x k conv's panels are gathered straight from a zero-padded copy of its
 *   input (small maps, whose rows of a dozen pixels made im2col a third of the
 *   conv's time), not through an im2col matrix: k x k convs on small maps come
 *   here whatever the thread count. */
struct plan {
    int k;               /* rows of B: cin * k * k */
    int oh, ow, rows;    /* output rows of all images, their width */
    size_t pixels;
    int im2col;          /* B is an im2col matrix (not the map) */
    int banded;
    size_t band_px;      /* banded: pixels per band (whole output rows for an im2col) */
    int bands;
    size_t per_worker;   /* banded: floats of scratch per thread */
    int ph, pw;          /* shared im2col: the padded input's rows and width (per image) */
    size_t padded;       /* its floats */
};

static struct plan plan_of(const struct conv *cv, int nimg, int ih, int w)
{
    struct plan p = { 0 };
    conv_out_size(cv, ih, w, &p.oh, &p.ow);
    p.rows = p.oh * nimg;
    p.k = cv->cin * cv->k * cv->k;
    p.pixels = (size_t)p.rows * p.ow;
    p.im2col = !(cv->k == 1 && cv->stride == 1 && cv->pad == 0);
    int T = pool_size(ops_pool());
    size_t panels = panels_of(p.pixels);
    if (p.im2col) {
        p.ph = ih + 2 * cv->pad;
        p.pw = w + 2 * cv->pad;
        p.padded = (size_t)cv->cin * nimg * p.ph * p.pw;
        p.banded = p.padded * sizeof(float) > GATHER_BYTES || panels > GATHER_PANELS ||
                   gathers_slow;
    } else {
        p.banded = T == 1 || panels >= 4 * (size_t)T;
    }
    if (!p.banded) return p;
    size_t per_px = (size_t)p.k * (p.im2col ? 6 : 2);   /* f32 im2col + bf16 panel */
    size_t px = BAND_BYTES / per_px, min_px = p.im2col ? 4 * PANEL : PANEL;
    size_t share = (p.pixels + 4 * T - 1) / (4 * (size_t)T);
    if (T > 1 && px > share) px = share;
    if (px < min_px) px = min_px;
    if (p.im2col) {
        size_t rows = px / p.ow;
        px = (rows ? rows : 1) * (size_t)p.ow;
    } else {
        px = (px + PANEL - 1) / PANEL * PANEL;
    }
    p.band_px = px;
    p.bands = (int)((p.pixels + px - 1) / px);
    p.per_worker = (p.im2col ? arena_aligned_floats((size_t)p.k * px) : 0) + panel_floats(p.k, px);
    return p;
}

/* (for n stacked images exactly; conv_scratch_floats_images takes the most over
 * every count up to n, which the box head's plan needs) */
size_t conv_bf16_scratch_floats(const struct conv *cv, int n, int h, int w)
{
    struct plan p = plan_of(cv, n, h, w);
    if (p.banded) return p.per_worker * (size_t)pool_size(ops_pool());
    size_t idx = arena_aligned_floats(panels_of(p.pixels) * PANEL);   /* int32 each */
    return (p.im2col ? arena_aligned_floats(p.padded) + idx : 0) + panel_floats(p.k, p.pixels);
}

#ifdef HAVE_X86_BF16
#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* ---- rounding B into panels ----------------------------------------------------- */

struct pack_job {
    const float *b;     /* [k, pixels], rows ldb apart */
    size_t pixels, ldb;
    int k, pairs;
    uint16_t *pack;     /* [panel][pair][PANEL][2] */
};

TARGET static void pack_part(void *ctx, int lo, int hi)
{
    const struct pack_job *j = ctx;
    /* word 2i of the result is word i of the low half, word 2i + 1 word i of the high */
    __m512i inter = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24,
                                     8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int panel = lo; panel < hi; panel++) {
        size_t p0 = (size_t)panel * PANEL;
        uint16_t *dst = j->pack + (size_t)panel * j->pairs * PANEL * 2;
        for (int kp = 0; kp < j->pairs; kp++) {
            const float *r0 = j->b + (size_t)2 * kp * j->ldb;
            const float *r1 = 2 * kp + 1 < j->k ? r0 + j->ldb : NULL;   /* odd k: zeros */
            for (int v = 0; v < NV; v++, dst += 32) {
                size_t p = p0 + (size_t)v * 16;
                size_t left = p < j->pixels ? j->pixels - p : 0;
                __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
                __m512 a = _mm512_maskz_loadu_ps(m, r0 + (left ? p : 0));
                __m512 b = r1 ? _mm512_maskz_loadu_ps(m, r1 + (left ? p : 0)) : _mm512_setzero_ps();
                __m512i ab = (__m512i)_mm512_cvtne2ps_pbh(b, a);   /* a's 16 low, b's high */
                _mm512_storeu_si512((void *)dst, _mm512_permutexvar_epi16(inter, ab));
            }
        }
    }
}

/* ---- gathering an im2col's panels from the padded input ---------------------------- */

struct gather_job {
    const float *pad;       /* [cin][nimg][ph][pw], zero borders */
    const int32_t *idx;     /* per pixel (panels x PANEL): its window's corner in pad */
    size_t pixels, plane;   /* plane: floats per channel of pad */
    int k, pairs, ksize, dil, pw, panels;
    uint16_t *pack;
};

/* Row r of B (channel, ky, kx) is pad[channel] at offset ky * dil * pw + kx * dil
 * from each pixel's corner. */
static int32_t row_offset(const struct gather_job *j, int r)
{
    int kk = j->ksize * j->ksize, ci = r / kk, ky = r % kk / j->ksize, kx = r % j->ksize;
    return (int32_t)((size_t)ci * j->plane + (size_t)ky * j->dil * j->pw + (size_t)kx * j->dil);
}

/* pairs [lo, hi) of every panel */
TARGET static void gather_part(void *ctx, int lo, int hi)
{
    const struct gather_job *j = ctx;
    __m512i inter = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24,
                                     8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int kp = lo; kp < hi; kp++) {
        __m512i o0 = _mm512_set1_epi32(row_offset(j, 2 * kp));
        int second = 2 * kp + 1 < j->k;   /* odd k: the last pair's second row is zeros */
        __m512i o1 = _mm512_set1_epi32(second ? row_offset(j, 2 * kp + 1) : 0);
        for (int panel = 0; panel < j->panels; panel++) {
            uint16_t *dst = j->pack + ((size_t)panel * j->pairs + kp) * PANEL * 2;
            for (int v = 0; v < NV; v++) {
                size_t p = (size_t)panel * PANEL + 16 * (size_t)v;
                size_t left = p < j->pixels ? j->pixels - p : 0;
                __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
                __m512i at = _mm512_loadu_si512((const void *)(j->idx + p));
                __m512 a = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m,
                                                    _mm512_add_epi32(at, o0), j->pad, 4);
                __m512 b = second ? _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m,
                                                             _mm512_add_epi32(at, o1), j->pad, 4)
                                  : _mm512_setzero_ps();
                __m512i ab = (__m512i)_mm512_cvtne2ps_pbh(b, a);
                _mm512_storeu_si512((void *)(dst + 32 * v), _mm512_permutexvar_epi16(inter, ab));
            }
        }
    }
}

struct pad_job {
    const struct fmap *in;
    int nimg, ih, pad, ph, pw;
    float *out;
};

/* channels [lo, hi) of the zero-padded copy */
static void pad_part(void *ctx, int lo, int hi)
{
    const struct pad_job *j = ctx;
    size_t plane = (size_t)j->ph * j->pw;
    for (int c = lo; c < hi; c++)
        for (int img = 0; img < j->nimg; img++) {
            float *d = j->out + ((size_t)c * j->nimg + img) * plane;
            const float *s = j->in->d + ((size_t)c * j->in->h + (size_t)img * j->ih) * j->in->w;
            memset(d, 0, sizeof(float) * plane);
            for (int y = 0; y < j->ih; y++)
                memcpy(d + (size_t)(y + j->pad) * j->pw + j->pad, s + (size_t)y * j->in->w,
                       sizeof(float) * j->in->w);
        }
}

/* ---- the kernel ---------------------------------------------------------------- */

/* torch's hardswish, x * min(max(x + 3, 0), 6) / 6, NaN kept: max_ps and min_ps
 * return their second operand when either is NaN. */
TARGET static inline __m512 hardswish16(__m512 x)
{
    __m512 c = _mm512_add_ps(x, _mm512_set1_ps(3.0f));
    c = _mm512_max_ps(_mm512_setzero_ps(), c);
    c = _mm512_min_ps(_mm512_set1_ps(6.0f), c);
    return _mm512_div_ps(_mm512_mul_ps(x, c), _mm512_set1_ps(6.0f));
}

/* The weights' pair kp of row w (k values): an odd k's last pair is its last
 * value and a zero (the word past the row is not read). */
static inline uint32_t weight_pair(const uint16_t *w, int k, int kp)
{
    if (2 * kp + 1 < k) {
        uint32_t pair;
        memcpy(&pair, w + 2 * kp, sizeof pair);
        return pair;
    }
    return w[2 * kp];   /* little-endian: the first of a pair is the low half */
}

/* rows (<= MR) output channels of one panel: w points at the first one's
 * weights (rows ldw apart), out at its output for the panel's first pixel
 * (rows ldo apart); cnt of the panel's PANEL pixels are real. */
TARGET static inline __attribute__((always_inline)) void
block(const int rows, const uint16_t *xp, int k, const uint16_t *w, size_t ldw,
      const float *bias, enum act act, float *out, size_t ldo, int cnt)
{
    __m512 acc[MR][NV];
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
    int pairs = (k + 1) / 2;
    for (int kp = 0; kp < pairs; kp++, xp += PANEL * 2) {
        __m512bh x[NV];
        for (int v = 0; v < NV; v++) x[v] = (__m512bh)_mm512_loadu_si512((const void *)(xp + 32 * v));
        for (int r = 0; r < rows; r++) {
            __m512bh wb = (__m512bh)_mm512_set1_epi32((int)weight_pair(w + r * ldw, k, kp));
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], x[v], wb);
        }
    }
    for (int r = 0; r < rows; r++) {
        __m512 b = _mm512_set1_ps(bias ? bias[r] : 0.0f);
        float *o = out + (size_t)r * ldo;
        for (int v = 0; v < NV; v++) {
            int left = cnt - 16 * v;
            if (left <= 0) break;
            __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
            __m512 y = bias ? _mm512_add_ps(acc[r][v], b) : acc[r][v];
            if (act == ACT_RELU) y = _mm512_max_ps(_mm512_setzero_ps(), y);
            else if (act == ACT_HARDSWISH) y = hardswish16(y);
            _mm512_mask_storeu_ps(o + 16 * v, m, y);
        }
        if (act != ACT_NONE && act != ACT_RELU && act != ACT_HARDSWISH) act_inplace(o, (size_t)cnt, act);
    }
}

TARGET static void block_full(const uint16_t *xp, int k, const uint16_t *w, size_t ldw,
                              const float *bias, enum act act, float *out, size_t ldo, int cnt)
{
    block(MR, xp, k, w, ldw, bias, act, out, ldo, cnt);
}

TARGET static void block_one(const uint16_t *xp, int k, const uint16_t *w, size_t ldw,
                             const float *bias, enum act act, float *out, size_t ldo, int cnt)
{
    block(1, xp, k, w, ldw, bias, act, out, ldo, cnt);
}

/* ---- the work ---------------------------------------------------------------------- */

/* Output channels [o_lo, o_hi) of the panels at xp (pairs of PANEL pixels each),
 * which hold pixels [p0, p0 + n) of the output. */
static void panels_product(const struct conv *cv, int k, const uint16_t *xp, size_t p0, size_t n,
                           int o_lo, int o_hi, float *out, size_t ldo)
{
    size_t step = (size_t)((k + 1) / 2) * PANEL * 2;
    for (int o = o_lo; o < o_hi;) {
        int full = o + MR <= o_hi;
        const uint16_t *w = cv->w16 + (size_t)o * k;
        const float *bias = cv->b ? cv->b + o : NULL;
        float *o0 = out + (size_t)o * ldo + p0;
        const uint16_t *x = xp;
        for (size_t q = 0; q < n; q += PANEL, x += step) {
            int cnt = n - q >= PANEL ? PANEL : (int)(n - q);
            if (full) block_full(x, k, w, (size_t)k, bias, cv->act, o0 + q, ldo, cnt);
            else block_one(x, k, w, (size_t)k, bias, cv->act, o0 + q, ldo, cnt);
        }
        o += full ? MR : 1;
    }
}

struct job {
    const struct conv *cv;
    const struct plan *p;
    const struct fmap *in;
    int ih;
    float *out;
    float *scratch;        /* banded: per_worker floats per thread */
    uint16_t *pack;        /* not banded: the panels of all of B */
    int panel_step, row_groups, rows_per_group;
};

static void band_part(void *ctx, int band, int worker)
{
    const struct job *j = ctx;
    const struct plan *p = j->p;
    size_t lo = (size_t)band * p->band_px, n = p->band_px;
    if (lo + n > p->pixels) n = p->pixels - lo;
    float *col = j->scratch + p->per_worker * worker;
    const float *b;
    size_t ldb;
    if (p->im2col) {
        int y0 = (int)(lo / p->ow), y1 = (int)((lo + n) / p->ow);
        im2col_f32(j->in, j->ih, p->oh, j->cv, p->ow, 0, j->cv->cin, y0, y1, col);
        b = col;
        ldb = n;
    } else {
        b = j->in->d + lo;
        ldb = p->pixels;
    }
    uint16_t *pack = (uint16_t *)(col + (p->im2col ? arena_aligned_floats((size_t)p->k * p->band_px) : 0));
    struct pack_job pj = { b, n, ldb, p->k, (p->k + 1) / 2, pack };
    pack_part(&pj, 0, (int)panels_of(n));
    panels_product(j->cv, p->k, pack, lo, n, 0, j->cv->cout, j->out, p->pixels);
}

static void shared_part(void *ctx, int task, int worker)
{
    (void)worker;
    const struct job *j = ctx;
    const struct plan *p = j->p;
    int pg = task / j->row_groups, rg = task % j->row_groups;
    size_t panels = panels_of(p->pixels);
    size_t q_lo = (size_t)pg * j->panel_step, q_hi = q_lo + j->panel_step;
    if (q_hi > panels) q_hi = panels;
    int o_lo = rg * j->rows_per_group, o_hi = o_lo + j->rows_per_group;
    if (o_hi > j->cv->cout) o_hi = j->cv->cout;
    size_t p0 = q_lo * PANEL, n = q_hi * PANEL > p->pixels ? p->pixels - p0 : (q_hi - q_lo) * PANEL;
    const uint16_t *xp = j->pack + q_lo * (size_t)((p->k + 1) / 2) * PANEL * 2;
    panels_product(j->cv, p->k, xp, p0, n, o_lo, o_hi, j->out, p->pixels);
}

void conv_bf16_forward(const struct conv *cv, const struct fmap *in, int nimg, struct fmap *out,
                       struct arena *scratch)
{
    MODEL_ASSERT(conv_bf16_native() && cv->w16 && cv->groups == 1 && in->h % nimg == 0);
    int ih = in->h / nimg;
    struct plan p = plan_of(cv, nimg, ih, in->w);
    MODEL_ASSERT(p.pixels > 0 && out->c == cv->cout && out->h == p.rows && out->w == p.ow);
    struct arena_mark mark = arena_mark(scratch);
    struct job j = { cv, &p, in, ih, out->d, NULL, NULL, 1, 1, cv->cout };
    if (p.banded) {
        j.scratch = arena_floats(scratch, p.per_worker * (size_t)pool_size(ops_pool()));
        pool_run(ops_pool(), p.bands, band_part, &j);
        arena_rewind(scratch, mark);
        return;
    }
    size_t panels = panels_of(p.pixels);
    int pairs = (p.k + 1) / 2;
    if (p.im2col) {   /* gathered from the padded input */
        float *pad = arena_floats(scratch, p.padded);
        int32_t *idx = (int32_t *)arena_floats(scratch, panels * PANEL);
        struct pad_job dj = { in, nimg, ih, cv->pad, p.ph, p.pw, pad };
        pool_for(cv->cin, (double)p.padded, pad_part, &dj);
        size_t q = 0;   /* each pixel's window corner; the panels' padding: 0 */
        for (int img = 0; img < nimg; img++)
            for (int y = 0; y < p.oh; y++)
                for (int x = 0; x < p.ow; x++, q++)
                    idx[q] = (int32_t)(((size_t)img * p.ph + (size_t)y * cv->stride) * p.pw +
                                       (size_t)x * cv->stride);
        for (; q < panels * PANEL; q++) idx[q] = 0;
        j.pack = (uint16_t *)arena_floats(scratch, panel_floats(p.k, p.pixels));
        struct gather_job gj = { pad, idx, p.pixels, (size_t)nimg * p.ph * p.pw, p.k, pairs,
                                 cv->k, cv->dil > 1 ? cv->dil : 1, p.pw, (int)panels, j.pack };
        pool_for(pairs, (double)p.k * p.pixels, gather_part, &gj);
    } else {
        j.pack = (uint16_t *)arena_floats(scratch, panel_floats(p.k, p.pixels));
        struct pack_job pj = { in->d, p.pixels, p.pixels, p.k, pairs, j.pack };
        pool_for((int)panels, (double)p.k * p.pixels, pack_part, &pj);
    }

    /* about 8 tasks per thread (the pool hands them out as threads come free):
     * groups of panels, or panels by groups of output channels */
    int want = 8 * pool_size(ops_pool());
    if (panels >= (size_t)want) {
        j.panel_step = (int)((panels + want - 1) / want);
    } else {
        int groups = (want + (int)panels - 1) / (int)panels, blocks = (cv->cout + MR - 1) / MR;
        if (groups > blocks) groups = blocks;
        j.rows_per_group = (blocks + groups - 1) / groups * MR;
        j.row_groups = (cv->cout + j.rows_per_group - 1) / j.rows_per_group;
    }
    int tasks = (int)((panels + j.panel_step - 1) / j.panel_step) * j.row_groups;
    pool_run(ops_pool(), tasks, shared_part, &j);
    arena_rewind(scratch, mark);
}

#else /* not x86-64 with GCC's intrinsics: never native */

void conv_bf16_forward(const struct conv *cv, const struct fmap *in, int n, struct fmap *out,
                       struct arena *scratch)
{
    (void)cv, (void)in, (void)n, (void)out, (void)scratch;
    MODEL_ASSERT(0);
}

#endif
