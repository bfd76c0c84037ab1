/*
 * roi_align.c — MultiScaleRoIAlign and torchvision's CPU roi_align kernel
 * (docs/torchvision-inference.md §5): scale inference, the FPN LevelMapper and
 * RoIAlign with aligned=False, all in f32 with the kernel's exact operation order.
 *
 * Per RoI the sample positions and bilinear weights depend only on the box, so
 * they are computed once (as the kernel's pre_calc does) and reused for every
 * channel. The arithmetic per sample and per bin is the kernel's, term by term:
 * the project builds with -ffp-contract=off, so no FMA creeps in.
 *
 * multiscale_roi_align additionally has a channel-vectorised path: it copies a
 * map to HWC once, after which the four taps of a sample are four contiguous
 * runs of C floats and every channel lane does exactly the scalar kernel's
 * operations in the same order (so results stay bit-identical).
 */
#include "ops.h"

#include <math.h>
#include <string.h>

/* _infer_scale: 2 ** round(log2(f32(feat_h / img_h))), round half to even. */
float roi_infer_scale(int feat_h, int img_h)
{
    MODEL_ASSERT(feat_h > 0 && img_h > 0);
    float approx = (float)((double)feat_h / (double)img_h);
    float e = nearbyintf(log2f(approx));
    return (float)pow(2.0, (double)e);
}

/* LevelMapper(k_min, k_max, canonical_scale=224, canonical_level=4, eps=1e-6).
 * A box whose level is NaN (negative area) gets -1: torch casts NaN to an int64
 * that matches no level, so such a RoI is pooled nowhere and stays zero. */
void roi_levels(const float *boxes, int n, int k_min, int k_max, int *levels)
{
    MODEL_ASSERT(n >= 0 && k_min <= k_max);
    for (int i = 0; i < n; i++) {
        const float *b = boxes + (size_t)4 * i;
        float area = (b[2] - b[0]) * (b[3] - b[1]);
        float s = sqrtf(area);
        float t = floorf((4.0f + log2f(s / 224.0f)) + 1e-6f);
        if (isnan(t)) {
            levels[i] = -1;
            continue;
        }
        if (t < (float)k_min) t = (float)k_min;
        if (t > (float)k_max) t = (float)k_max;
        levels[i] = (int)t - k_min;
    }
}

/* ---- per-RoI sample table (the kernel's pre_calc) ------------------------ */

struct sample {
    int pos[4];     /* y_lo*w+x_lo, y_lo*w+x_hi, y_hi*w+x_lo, y_hi*w+x_hi */
    float w[4];     /* hy*hx, hy*lx, ly*hx, ly*lx; all 0 (pos 0) when out of range */
};

struct roi_geom {
    float rs_w, rs_h, bin_w, bin_h;
    int gh, gw;
    float count;
};

/* sampling_ratio <= 0: ceil(roi_size / out_size) samples per bin. A non-finite
 * size (NaN/inf box, where torch's int cast is undefined) gets one sample. */
static int adaptive_grid(float roi_size, int out_size)
{
    float g = ceilf(roi_size / (float)out_size);
    return g >= 1.0f && g < 65536.0f ? (int)g : 1;
}

static struct roi_geom roi_geometry(const float *box, float scale, int out_size, int sampling_ratio)
{
    struct roi_geom g;
    g.rs_w = box[0] * scale;
    g.rs_h = box[1] * scale;
    float re_w = box[2] * scale, re_h = box[3] * scale;
    float roi_w = re_w - g.rs_w, roi_h = re_h - g.rs_h;
    /* std::max(roi_width, 1.f): NaN stays NaN */
    if (roi_w < 1.0f) roi_w = 1.0f;
    if (roi_h < 1.0f) roi_h = 1.0f;
    g.bin_h = roi_h / (float)out_size;
    g.bin_w = roi_w / (float)out_size;
    g.gh = sampling_ratio > 0 ? sampling_ratio : adaptive_grid(roi_h, out_size);
    g.gw = sampling_ratio > 0 ? sampling_ratio : adaptive_grid(roi_w, out_size);
    int cnt = g.gh * g.gw;
    g.count = (float)(cnt > 1 ? cnt : 1);
    return g;
}

/* Sample (iy, ix) of bin (ph, pw): the four neighbours and weights, as
 * pre_calc_for_bilinear_interpolate computes them. */
static void sample_at(const struct roi_geom *g, int H, int W, int ph, int pw, int iy, int ix,
                      struct sample *s)
{
    const float yy = (g->rs_h + (float)ph * g->bin_h) + ((float)iy + 0.5f) * g->bin_h / (float)g->gh;
    const float xx = (g->rs_w + (float)pw * g->bin_w) + ((float)ix + 0.5f) * g->bin_w / (float)g->gw;
    float y = yy, x = xx;
    /* the kernel's (y < -1 || y > H || x < -1 || x > W), written so that NaN also
     * counts as out of range instead of reaching an undefined int cast */
    if (!(y >= -1.0f && y <= (float)H && x >= -1.0f && x <= (float)W)) {
        memset(s, 0, sizeof *s);
        return;
    }
    if (y <= 0) y = 0;
    if (x <= 0) x = 0;
    int y_lo = (int)y, x_lo = (int)x, y_hi, x_hi;
    if (y_lo >= H - 1) {
        y_hi = y_lo = H - 1;
        y = (float)y_lo;
    } else {
        y_hi = y_lo + 1;
    }
    if (x_lo >= W - 1) {
        x_hi = x_lo = W - 1;
        x = (float)x_lo;
    } else {
        x_hi = x_lo + 1;
    }
    float ly = y - (float)y_lo, lx = x - (float)x_lo;
    float hy = 1.0f - ly, hx = 1.0f - lx;
    s->pos[0] = y_lo * W + x_lo;
    s->pos[1] = y_lo * W + x_hi;
    s->pos[2] = y_hi * W + x_lo;
    s->pos[3] = y_hi * W + x_hi;
    s->w[0] = hy * hx;
    s->w[1] = hy * lx;
    s->w[2] = ly * hx;
    s->w[3] = ly * lx;
}

/* Every sample of one RoI, in (ph, pw, iy, ix) order. */
static void roi_samples(const struct roi_geom *g, int H, int W, int out_size, struct sample *t)
{
    int k = 0;
    for (int ph = 0; ph < out_size; ph++)
        for (int pw = 0; pw < out_size; pw++)
            for (int iy = 0; iy < g->gh; iy++)
                for (int ix = 0; ix < g->gw; ix++) sample_at(g, H, W, ph, pw, iy, ix, &t[k++]);
}

/* One RoI without a table, for grids too big to tabulate (sampling_ratio <= 0 on
 * a huge RoI): each sample computed once and added to every channel's bin, in
 * the same order as align_chw, so the sums are the same. */
static void align_direct(const struct fmap *f, const struct roi_geom *g, int out_size, float *out)
{
    const size_t hw = (size_t)f->h * f->w;
    const int bins = out_size * out_size;
    memset(out, 0, sizeof(float) * (size_t)f->c * bins);
    for (int ph = 0, b = 0; ph < out_size; ph++)
        for (int pw = 0; pw < out_size; pw++, b++)
            for (int iy = 0; iy < g->gh; iy++)
                for (int ix = 0; ix < g->gw; ix++) {
                    struct sample sm;
                    sample_at(g, f->h, f->w, ph, pw, iy, ix, &sm);
                    for (int c = 0; c < f->c; c++) {
                        const float *in = f->d + (size_t)c * hw;
                        out[(size_t)c * bins + b] +=
                            ((sm.w[0] * in[sm.pos[0]] + sm.w[1] * in[sm.pos[1]]) +
                             sm.w[2] * in[sm.pos[2]]) + sm.w[3] * in[sm.pos[3]];
                    }
                }
    for (size_t i = 0; i < (size_t)f->c * bins; i++) out[i] /= g->count;
}

/* Samples of one RoI; a stack table covers sampling_ratio <= 4 at 7x7, larger
 * (adaptive or big output) tables are malloc'ed up to SAMPLES_HEAP; beyond that,
 * or when the memory is not there, NULL: align_direct then needs no table. */
enum { SAMPLES_STACK = 7 * 7 * 4 * 4 };
#ifndef SAMPLES_HEAP   /* (tests may build with 0 to run every large grid direct) */
#define SAMPLES_HEAP ((size_t)1 << 20)
#endif

static struct sample *samples_get(size_t ns, struct sample *stack)
{
    if (ns <= SAMPLES_STACK && SAMPLES_HEAP > 0) return stack;
    return ns <= SAMPLES_HEAP ? malloc(ns * sizeof(struct sample)) : NULL;
}

/* One RoI, CHW map: the kernel's channel loop. out: [c][out_size][out_size]. */
static void align_chw(const struct fmap *f, const struct roi_geom *g, const struct sample *t,
                      int out_size, float *out)
{
    const size_t hw = (size_t)f->h * f->w;
    const int bins = out_size * out_size, per_bin = g->gh * g->gw;
    for (int c = 0; c < f->c; c++) {
        const float *in = f->d + (size_t)c * hw;
        float *o = out + (size_t)c * bins;
        const struct sample *s = t;
        for (int b = 0; b < bins; b++) {
            float acc = 0.0f;
            for (int k = 0; k < per_bin; k++, s++)
                acc += ((s->w[0] * in[s->pos[0]] + s->w[1] * in[s->pos[1]]) +
                        s->w[2] * in[s->pos[2]]) + s->w[3] * in[s->pos[3]];
            o[b] = acc / g->count;
        }
    }
}

/* torchvision.ops.roi_align(f[None], boxes, out_size, scale, sampling_ratio,
 * aligned=False) for n boxes on one map → out[n][c][out_size][out_size]. */
void roi_align(const struct fmap *f, float scale, const float *boxes, int n, int out_size,
               int sampling_ratio, float *out)
{
    MODEL_ASSERT(f && f->d && f->c > 0 && f->h > 0 && f->w > 0);
    MODEL_ASSERT(n >= 0 && out_size > 0);
    struct sample stack[SAMPLES_STACK];
    const size_t per_roi = (size_t)f->c * out_size * out_size;
    for (int i = 0; i < n; i++) {
        struct roi_geom g = roi_geometry(boxes + (size_t)4 * i, scale, out_size, sampling_ratio);
        size_t ns = (size_t)out_size * out_size * g.gh * g.gw;
        struct sample *t = samples_get(ns, stack);
        if (!t) {
            align_direct(f, &g, out_size, out + per_roi * i);
            continue;
        }
        roi_samples(&g, f->h, f->w, out_size, t);
        align_chw(f, &g, t, out_size, out + per_roi * i);
        if (t != stack) free(t);
    }
}

/* ---- channel-vectorised path (HWC copy of the map) ----------------------- */

typedef float v8f __attribute__((vector_size(32), aligned(4)));

/* CHW → HWC in 64 x 64 tiles (contiguous writes measured fastest). */
static void to_hwc(const struct fmap *f, float *hwc)
{
    const int C = f->c;
    const size_t HW = (size_t)f->h * f->w;
    enum { T = 64 };
    for (size_t p0 = 0; p0 < HW; p0 += T) {
        size_t p1 = p0 + T < HW ? p0 + T : HW;
        for (int c0 = 0; c0 < C; c0 += T) {
            int c1 = c0 + T < C ? c0 + T : C;
            for (size_t p = p0; p < p1; p++)
                for (int c = c0; c < c1; c++) hwc[p * C + c] = f->d[(size_t)c * HW + p];
        }
    }
}

/* Eight rows of eight floats (r[i] at src + i * lds) written as their columns
 * (column j at dst + j * ldd): the unpack / shuffle network of an 8 x 8
 * transpose. */
static void transpose8(const float *src, size_t lds, float *dst, size_t ldd)
{
    v8f r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) memcpy(&r[i], src + i * lds, sizeof r[i]);
    for (int i = 0; i < 8; i += 2) {
        t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = __builtin_shufflevector(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
        u[i + 1] = __builtin_shufflevector(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        u[i + 2] = __builtin_shufflevector(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
        u[i + 3] = __builtin_shufflevector(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
    }
    for (int j = 0; j < 4; j++) {   /* u[j]: column j in its low half, j + 4 in its high */
        v8f lo = __builtin_shufflevector(u[j], u[j + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        v8f hi = __builtin_shufflevector(u[j], u[j + 4], 4, 5, 6, 7, 12, 13, 14, 15);
        memcpy(dst + j * ldd, &lo, sizeof lo);
        memcpy(dst + (j + 4) * ldd, &hi, sizeof hi);
    }
}

/* stage [bins][C] -> out [C][bins], by 8 x 8 blocks. */
static void bins_to_channels(const float *stage, int bins, int C, float *out)
{
    int b8 = bins & ~7, c8 = C & ~7;
    for (int c = 0; c < c8; c += 8) {
        for (int b = 0; b < b8; b += 8)
            transpose8(stage + (size_t)b * C + c, (size_t)C, out + (size_t)c * bins + b, (size_t)bins);
        for (int b = b8; b < bins; b++)
            for (int j = 0; j < 8; j++) out[(size_t)(c + j) * bins + b] = stage[(size_t)b * C + c + j];
    }
    for (int c = c8; c < C; c++)
        for (int b = 0; b < bins; b++) out[(size_t)c * bins + b] = stage[(size_t)b * C + c];
}

/* One RoI on an HWC map of C channels: the same per-lane arithmetic as align_chw,
 * each lane adding its samples in order, but channels across the lanes: a bin's
 * sums stay in registers (CB channels at a time) over its samples. Writes
 * out[bin][c] in `stage`, then out[c][bin]. */
enum { CB = 32 };   /* channels per register block: 4 vectors of 8 */

static void align_hwc(const float *hwc, int C, const struct roi_geom *g, const struct sample *t,
                      int out_size, float *stage, float *out)
{
    const int bins = out_size * out_size, per_bin = g->gh * g->gw;
    const int cb = C - C % CB;
    const float count = g->count;
    for (int b = 0; b < bins; b++) {
        float *st = stage + (size_t)b * C;
        const struct sample *s0 = t + (size_t)b * per_bin;
        for (int c = 0; c < cb; c += CB) {
            v8f acc[CB / 8] = { 0 };
            const struct sample *s = s0;
            for (int k = 0; k < per_bin; k++, s++) {
                const float w0 = s->w[0], w1 = s->w[1], w2 = s->w[2], w3 = s->w[3];
                const float *p0 = hwc + (size_t)s->pos[0] * C + c, *p1 = hwc + (size_t)s->pos[1] * C + c;
                const float *p2 = hwc + (size_t)s->pos[2] * C + c, *p3 = hwc + (size_t)s->pos[3] * C + c;
                for (int v = 0; v < CB / 8; v++) {
                    v8f a, bb, cc, d;
                    memcpy(&a, p0 + 8 * v, sizeof a);
                    memcpy(&bb, p1 + 8 * v, sizeof bb);
                    memcpy(&cc, p2 + 8 * v, sizeof cc);
                    memcpy(&d, p3 + 8 * v, sizeof d);
                    acc[v] += ((w0 * a + w1 * bb) + w2 * cc) + w3 * d;
                }
            }
            for (int v = 0; v < CB / 8; v++) {
                acc[v] /= count;
                memcpy(st + c + 8 * v, &acc[v], sizeof acc[v]);
            }
        }
        for (int c = cb; c < C; c++) {
            float acc = 0.0f;
            const struct sample *s = s0;
            for (int k = 0; k < per_bin; k++, s++)
                acc += ((s->w[0] * hwc[(size_t)s->pos[0] * C + c] +
                         s->w[1] * hwc[(size_t)s->pos[1] * C + c]) +
                        s->w[2] * hwc[(size_t)s->pos[2] * C + c]) +
                       s->w[3] * hwc[(size_t)s->pos[3] * C + c];
            st[c] = acc / count;
        }
    }
    bins_to_channels(stage, bins, C, out);
}

/* One part of one level's RoIs: those of RoIs [n p / parts, n (p + 1) / parts). */
struct level_job {
    const struct fmap *f;
    const float *hwc;
    float *stage;          /* per_roi floats per worker */
    size_t per_roi;
    int C, level;
    const int *levels;
    int n;
    const float *boxes;
    float scale;
    int out_size, sampling_ratio;
    float *out;
    int parts, use_hwc;
};

static void level_part(void *ctx, int p, int worker)
{
    const struct level_job *j = ctx;
    struct sample stack[SAMPLES_STACK];
    int lo = (int)((int64_t)j->n * p / j->parts), hi = (int)((int64_t)j->n * (p + 1) / j->parts);
    for (int i = lo; i < hi; i++) {
        if (j->levels[i] != j->level) continue;
        struct roi_geom g = roi_geometry(j->boxes + (size_t)4 * i, j->scale, j->out_size,
                                         j->sampling_ratio);
        size_t ns = (size_t)j->out_size * j->out_size * g.gh * g.gw;
        float *out = j->out + j->per_roi * i;
        struct sample *t = samples_get(ns, stack);
        if (!t) {
            align_direct(j->f, &g, j->out_size, out);
            continue;
        }
        roi_samples(&g, j->f->h, j->f->w, j->out_size, t);
        if (j->use_hwc)
            align_hwc(j->hwc, j->C, &g, t, j->out_size, j->stage + j->per_roi * worker, out);
        else align_chw(j->f, &g, t, j->out_size, out);
        if (t != stack) free(t);
    }
}

/* MultiScaleRoIAlign(featmap_names, out_size, sampling_ratio) on already selected
 * maps. One map: no LevelMapper, scales[0]. Several: LevelMapper(k_min, k_max);
 * a RoI whose level index has no map (gapped pyramids, §5.3) stays zero. */
void multiscale_roi_align(const struct fmap *maps, const float *scales, int nmaps, int k_min,
                          int k_max, const float *boxes, int n, int out_size, int sampling_ratio,
                          float *out, struct arena *scratch)
{
    MODEL_ASSERT(maps && scales && nmaps > 0 && n >= 0 && out_size > 0 && scratch);
    const int C = maps[0].c;
    for (int m = 1; m < nmaps; m++) MODEL_ASSERT(maps[m].c == C);
    const size_t per_roi = (size_t)C * out_size * out_size;

    const struct arena_mark mark = arena_mark(scratch);
    int *levels = arena_ints(scratch, (size_t)n + 1);
    if (nmaps == 1) {
        for (int i = 0; i < n; i++) levels[i] = 0;
    } else {
        roi_levels(boxes, n, k_min, k_max, levels);
    }

    /* Per level: CHW kernel for a few RoIs, HWC copy + channel-vectorised loop
     * when the RoIs pay for the copy. Measured (256 channels, AVX2): the copy
     * costs ~1.3 ns per map element, the HWC path saves ~1 us per RoI and channel,
     * hence HWC when nroi * 768 >= h * w. One HWC buffer serves every level. */
    int *count = arena_ints(scratch, (size_t)nmaps);
    memset(count, 0, sizeof(int) * (size_t)nmaps);
    for (int i = 0; i < n; i++)
        if (levels[i] >= 0 && levels[i] < nmaps) count[levels[i]]++;
    size_t hwc_max = 0;
    for (int l = 0; l < nmaps; l++) {
        size_t hw = (size_t)maps[l].h * maps[l].w;
        if (count[l] > 0 && (size_t)count[l] * 768 >= hw && fmap_numel(&maps[l]) > hwc_max)
            hwc_max = fmap_numel(&maps[l]);
    }
    /* the RoIs of a level are split over the ops' pool, each part with its own stage */
    int parts = pool_size(ops_pool());
    float *hwc = hwc_max ? arena_floats(scratch, hwc_max) : NULL;
    float *stage = hwc_max ? arena_floats(scratch, per_roi * (size_t)parts) : NULL;

    for (int i = 0; i < n; i++)
        if (levels[i] < 0 || levels[i] >= nmaps) memset(out + per_roi * i, 0, per_roi * sizeof *out);

    for (int l = 0; l < nmaps; l++) {
        if (count[l] == 0) continue;
        const struct fmap *f = &maps[l];
        MODEL_ASSERT(f->d && f->h > 0 && f->w > 0);
        struct level_job j = { f, hwc, stage, per_roi, C, l, levels, n, boxes, scales[l],
                               out_size, sampling_ratio, out, parts, 0 };
        j.use_hwc = (size_t)count[l] * 768 >= (size_t)f->h * f->w;
        if (j.use_hwc) to_hwc(f, hwc);
        pool_run(ops_pool(), count[l] > 1 ? parts : 1, level_part, &j);
    }
    arena_rewind(scratch, mark);
}
