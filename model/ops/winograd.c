/*
 * winograd.c — 3x3 stride-1 convolutions in bf16 by Winograd's minimal filtering
 * algorithm F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2016). A 2x2 block of outputs of one filter g over one 4x4 block d
 * of its input is
 *
 *     Y = A^T [ (G g G^T) (.) (B^T d B) ] A          ((.): element by element)
 *
 *     B^T = | 1  0 -1  0 |    G = | 1    0    0  |    A^T = | 1  1  1  0 |
 *           | 0  1  1  0 |        | 1/2  1/2  1/2 |          | 0  1 -1 -1 |
 *           | 0 -1  1  0 |        | 1/2 -1/2  1/2 |
 *           | 0  1  0 -1 |        | 0    0    1  |
 *
 * Summed over the input channels, the element-by-element products of every
 * position xi of the 4x4 tile are one matrix product: M_xi[cout, tiles] =
 * U_xi[cout, cin] . V_xi[cin, tiles], with U = G g G^T of every filter (made
 * once at load from the f32 weights: winograd_weights_bf16) and V = B^T d B of
 * every input tile. 16 products of cin multiply-adds per 4 outputs, against 36
 * for im2col: 2.25x fewer. The transforms are additions (and halvings in U),
 * done in f32; U and V are rounded to bf16 for the products, whose sums are f32
 * (matmul.c). Its error against f32 is a small multiple of im2col's in bf16
 * (tests/test_precision.c holds both to the same bound).
 *
 * Only --precision bf16 comes here: fp32 keeps im2col's sums, which are
 * torchvision's arithmetic up to the order of additions; Winograd's are not.
 *
 * The tiles go by bands of tile rows, so that V and M stay bounded like
 * im2col's buffer. A map may hold several images stacked along its height (the
 * conv box head's RoIs): tile rows never straddle two images.
 */
#include "ops.h"

#include <string.h>

/* Keep V and M of a band below this many floats. */
#define WINO_MAX_FLOATS ((size_t)4 << 20)
/* Channels below which im2col's longer sums pay better (VGG's first conv: 3). */
#define WINO_MIN_CHANNELS 16

int winograd_eligible(const struct conv *cv)
{
    return cv->k == 3 && cv->stride == 1 && cv->dil <= 1 && cv->groups == 1 &&
           cv->cin >= WINO_MIN_CHANNELS && cv->cout >= WINO_MIN_CHANNELS;
}

size_t winograd_weights_len(const struct conv *cv) { return (size_t)16 * cv->cout * cv->cin; }

void winograd_weights_bf16(const struct conv *cv, uint16_t *u)
{
    size_t plane = (size_t)cv->cout * cv->cin;
    for (int o = 0; o < cv->cout; o++)
        for (int i = 0; i < cv->cin; i++) {
            const float *g = cv->w + ((size_t)o * cv->cin + i) * 9;
            float t[4][3], v[4][4];
            for (int c = 0; c < 3; c++) {   /* G g: along the filter's columns */
                float g0 = g[c], g1 = g[3 + c], g2 = g[6 + c];
                t[0][c] = g0;
                t[1][c] = 0.5f * (g0 + g1 + g2);
                t[2][c] = 0.5f * (g0 - g1 + g2);
                t[3][c] = g2;
            }
            for (int r = 0; r < 4; r++) {   /* (G g) G^T: along its rows */
                v[r][0] = t[r][0];
                v[r][1] = 0.5f * (t[r][0] + t[r][1] + t[r][2]);
                v[r][2] = 0.5f * (t[r][0] - t[r][1] + t[r][2]);
                v[r][3] = t[r][2];
            }
            for (int xi = 0; xi < 16; xi++)
                u[xi * plane + (size_t)o * cv->cin + i] = bf16_round(v[xi / 4][xi % 4]);
        }
}

/* ---- geometry ------------------------------------------------------------------ */

struct wino_geom {
    int ih, oh, ow;       /* one image's input and output height; output width */
    int th, tw;           /* tile rows per image, tiles per row */
    int nimg, rows;       /* images; tile rows in all */
    int band;             /* tile rows per band */
};

static struct wino_geom geom_of(const struct conv *cv, int nimg, int ih, int w)
{
    struct wino_geom g = { ih, 0, 0, 0, 0, nimg, 0, 0 };
    conv_out_size(cv, ih, w, &g.oh, &g.ow);
    g.th = (g.oh + 1) / 2;
    g.tw = (g.ow + 1) / 2;
    g.rows = g.th * nimg;
    /* V (bf16) and M (f32) of one tile row: 16 * tw * (cin / 2 + cout) floats */
    size_t per_row = (size_t)16 * g.tw * ((size_t)cv->cin / 2 + cv->cout + 1);
    size_t band = WINO_MAX_FLOATS / (per_row ? per_row : 1);
    g.band = band < 1 ? 1 : band > (size_t)g.rows ? g.rows : (int)band;
    return g;
}

/* Per thread: four input rows with their zero border and a row of zeros (pw
 * each), 16 transformed rows (tw each); the output transform's four rows of tw
 * reuse the start. */
static size_t worker_floats(const struct wino_geom *g)
{
    size_t pw = (size_t)2 * g->tw + 2;
    return arena_aligned_floats(5 * pw + 16 * (size_t)g->tw);
}

size_t winograd_scratch_floats(const struct conv *cv, int nimg, int h, int w)
{
    struct wino_geom g = geom_of(cv, nimg, h, w);
    if (g.oh < 1 || g.ow < 1) return 0;
    size_t n = (size_t)g.band * g.tw;
    return arena_aligned_floats((16 * (size_t)cv->cin * n + 1) / 2) +
           arena_aligned_floats(16 * (size_t)cv->cout * n) +
           worker_floats(&g) * (size_t)pool_size(ops_pool());
}

/* ---- the transforms, split by channel over the pool ------------------------------- */

struct wino_job {
    const struct conv *cv;
    const struct fmap *in;
    struct fmap *out;
    struct wino_geom g;
    int r0, r1;           /* this band's tile rows [r0, r1) */
    uint16_t *v;          /* V: [16][cin][n], n = (r1 - r0) * tw */
    float *m;             /* M: [16][cout][n] */
    float *scratch;       /* worker_floats each */
    int parts;
};

/* B^T d down n columns: d0..d3 from the input rows s0..s3. */
static void columns(const float *restrict s0, const float *restrict s1, const float *restrict s2,
                    const float *restrict s3, int n, float *restrict d0, float *restrict d1,
                    float *restrict d2, float *restrict d3)
{
    for (int x = 0; x < n; x++) {
        float a = s0[x], b = s1[x], c = s2[x], e = s3[x];
        d0[x] = a - c;
        d1[x] = b + c;
        d2[x] = c - b;
        d3[x] = b - e;
    }
}

/* V of input channels [lo, hi) for the band's tile rows. */
static void input_part(void *ctx, int part, int worker)
{
    const struct wino_job *j = ctx;
    const struct wino_geom *g = &j->g;
    int cin = j->cv->cin, pad = j->cv->pad, w = j->in->w, tw = g->tw;
    int lo = cin * part / j->parts, hi = cin * (part + 1) / j->parts;
    size_t n = (size_t)(j->r1 - j->r0) * tw, pw = (size_t)2 * tw + 2;
    float *rows = j->scratch + worker_floats(g) * worker;   /* [4][pw] */
    float *t = rows + 4 * pw;                                /* [16][tw] */
    float *zero = t + 16 * (size_t)tw;                       /* [pw]: rows outside the map */
    memset(zero, 0, sizeof(float) * pw);
    /* the bordered columns x' that hold input columns x = x' - pad: [x0, x1) */
    int x0 = pad < (int)pw ? pad : (int)pw, x1 = w + pad < (int)pw ? w + pad : (int)pw;
    if (x1 < x0) x1 = x0;
    for (int c = lo; c < hi; c++) {
        const float *src = j->in->d + (size_t)c * j->in->h * w;
        for (int r = j->r0; r < j->r1; r++) {
            int img = r / g->th, y0 = (r - img * g->th) * 2 - pad;
            const float *s[4];   /* the tile row's four input rows (zero outside the map) */
            for (int i = 0; i < 4; i++) {
                int y = y0 + i;
                s[i] = y < 0 || y >= g->ih ? zero : src + ((size_t)img * g->ih + y) * w;
            }
            /* B^T d: down the columns, over the whole bordered width at once */
            float *d0 = rows, *d1 = rows + pw, *d2 = rows + 2 * pw, *d3 = rows + 3 * pw;
            for (int i = 0; i < 4; i++) {
                memset(rows + i * pw, 0, sizeof(float) * x0);
                memset(rows + i * pw + x1, 0, sizeof(float) * (pw - x1));
            }
            columns(s[0], s[1], s[2], s[3], x1 - x0, d0 + x0, d1 + x0, d2 + x0, d3 + x0);
            /* (B^T d) B: along each row, tile by tile */
            for (int i = 0; i < 4; i++) {
                const float *q = rows + i * pw;
                float *t0 = t + (size_t)(4 * i) * tw, *t1 = t0 + tw, *t2 = t1 + tw, *t3 = t2 + tw;
                for (int x = 0; x < tw; x++) {
                    float a = q[2 * x], b = q[2 * x + 1], cc = q[2 * x + 2], e = q[2 * x + 3];
                    t0[x] = a - cc;
                    t1[x] = b + cc;
                    t2[x] = cc - b;
                    t3[x] = b - e;
                }
            }
            size_t at = (size_t)(r - j->r0) * tw;
            for (int xi = 0; xi < 16; xi++)
                bf16_from_f32(t + (size_t)xi * tw, (size_t)tw,
                              j->v + ((size_t)xi * cin + c) * n + at);
        }
    }
}

/* One tile row of one output channel: Y = A^T M A + bias, as four rows of tw
 * (y00, y01, y10, y11: the tiles' top-left, top-right, ... outputs), then
 * interleaved into the two output rows. m: position 0's row, xs floats from
 * one position's to the next. Plain loops over the tiles, which vectorise. */
static void output_tiles(const float *restrict m, size_t xs, int tw, float bias,
                         float *restrict y /* [4][tw] */)
{
    float *restrict y00 = y, *restrict y01 = y + tw, *restrict y10 = y + 2 * tw,
          *restrict y11 = y + 3 * tw;
    const float *m0 = m, *m1 = m + xs, *m2 = m + 2 * xs, *m3 = m + 3 * xs;
    const float *m4 = m + 4 * xs, *m5 = m + 5 * xs, *m6 = m + 6 * xs, *m7 = m + 7 * xs;
    const float *m8 = m + 8 * xs, *m9 = m + 9 * xs, *m10 = m + 10 * xs, *m11 = m + 11 * xs;
    const float *m12 = m + 12 * xs, *m13 = m + 13 * xs, *m14 = m + 14 * xs, *m15 = m + 15 * xs;
    for (int x = 0; x < tw; x++) {
        /* A^T M: down the columns c = 0..3 (position 4 r + c) */
        float a0 = m0[x] + m4[x] + m8[x], b0 = m4[x] - m8[x] - m12[x];
        float a1 = m1[x] + m5[x] + m9[x], b1 = m5[x] - m9[x] - m13[x];
        float a2 = m2[x] + m6[x] + m10[x], b2 = m6[x] - m10[x] - m14[x];
        float a3 = m3[x] + m7[x] + m11[x], b3 = m7[x] - m11[x] - m15[x];
        /* (A^T M) A: along the rows */
        y00[x] = a0 + a1 + a2 + bias;
        y01[x] = a1 - a2 - a3 + bias;
        y10[x] = b0 + b1 + b2 + bias;
        y11[x] = b1 - b2 - b3 + bias;
    }
}

/* row[2 x] = left[x], row[2 x + 1] = right[x], for ow outputs. */
static void interleave(const float *restrict left, const float *restrict right, int ow,
                       float *restrict row)
{
    int pairs = ow / 2;
    for (int x = 0; x < pairs; x++) {
        row[2 * x] = left[x];
        row[2 * x + 1] = right[x];
    }
    if (ow & 1) row[ow - 1] = left[pairs];
}

/* Y = A^T M A of output channels [lo, hi), + bias, then the activation. */
static void output_part(void *ctx, int part, int worker)
{
    const struct wino_job *j = ctx;
    const struct wino_geom *g = &j->g;
    const struct conv *cv = j->cv;
    int cout = cv->cout, tw = g->tw, ow = g->ow;
    int lo = cout * part / j->parts, hi = cout * (part + 1) / j->parts;
    size_t n = (size_t)(j->r1 - j->r0) * tw;
    float *y = j->scratch + worker_floats(g) * worker;   /* [4][tw] */
    for (int o = lo; o < hi; o++) {
        float bias = cv->b ? cv->b[o] : 0.0f;
        float *dst = j->out->d + (size_t)o * j->out->h * ow;
        for (int r = j->r0; r < j->r1; r++) {
            output_tiles(j->m + (size_t)o * n + (size_t)(r - j->r0) * tw, (size_t)cout * n, tw,
                         bias, y);
            act_inplace(y, 4 * (size_t)tw, cv->act);
            int img = r / g->th, oy = (r - img * g->th) * 2;
            for (int a = 0; a < 2 && oy + a < g->oh; a++) {
                float *row = dst + ((size_t)img * g->oh + oy + a) * ow;
                interleave(y + (size_t)(2 * a) * tw, y + (size_t)(2 * a + 1) * tw, ow, row);
            }
        }
    }
}

void conv_winograd_bf16(const struct conv *cv, const uint16_t *u, const struct fmap *in, int nimg,
                        struct fmap *out, struct arena *scratch)
{
    MODEL_ASSERT(winograd_eligible(cv) && nimg >= 1 && in->h % nimg == 0);
    struct wino_geom g = geom_of(cv, nimg, in->h / nimg, in->w);
    MODEL_ASSERT(in->c == cv->cin && out->c == cv->cout && out->h == g.oh * nimg &&
                 out->w == g.ow && g.oh >= 1 && g.ow >= 1);
    int T = pool_size(ops_pool());
    struct arena_mark mark = arena_mark(scratch);
    size_t nmax = (size_t)g.band * g.tw;
    struct wino_job j = { cv, in, out, g, 0, 0, NULL, NULL, NULL, 1 };
    j.v = (uint16_t *)arena_floats(scratch, (16 * (size_t)cv->cin * nmax + 1) / 2);
    j.m = arena_floats(scratch, 16 * (size_t)cv->cout * nmax);
    j.scratch = arena_floats(scratch, worker_floats(&g) * (size_t)T);
    size_t plane = (size_t)cv->cout * cv->cin;
    for (int r0 = 0; r0 < g.rows; r0 += g.band) {
        j.r0 = r0;
        j.r1 = r0 + g.band < g.rows ? r0 + g.band : g.rows;
        int n = (j.r1 - j.r0) * g.tw;
        /* each part's work: 16 values per tile of its channels */
        j.parts = T < cv->cin ? T : cv->cin;
        if (16.0 * n * cv->cin < 1e5) j.parts = 1;
        pool_run(ops_pool(), j.parts, input_part, &j);
        for (int xi = 0; xi < 16; xi++)
            gemm_bf16(cv->cout, n, cv->cin, u + xi * plane, cv->cin,
                      j.v + (size_t)xi * cv->cin * n, n, j.m + (size_t)xi * cv->cout * n, n, 0);
        j.parts = T < cv->cout ? T : cv->cout;
        if (16.0 * n * cv->cout < 1e5) j.parts = 1;
        pool_run(ops_pool(), j.parts, output_part, &j);
    }
    arena_rewind(scratch, mark);
}
