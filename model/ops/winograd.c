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
 * (matmul.c). Its error against f32 is about twice im2col's in bf16
 * (tests/test_precision.c holds it under three times im2col's).
 *
 * Only --precision bf16 comes here: fp32 keeps im2col's sums, which are
 * torchvision's arithmetic up to the order of additions; Winograd's are not.
 *
 * The work goes by bands of tile rows, one band a task of the pool: each thread
 * transforms its band's input, runs the band's 16 products itself (no split,
 * no wait between them) and transforms their output, with V and M of one band
 * its own and small enough to stay in its caches. (Splitting each product and
 * each transform over the threads instead, with a wait after each, scaled 1.4x
 * to two threads; memory traffic and waits, not arithmetic, were the limit.)
 * A map may hold several images stacked along its height (the conv box head's
 * RoIs): tile rows never straddle two images.
 */
#include "ops.h"

#include <string.h>

/* A band's V and M: about this many bytes (in whole tile rows, at least
 * WINO_MIN_TILES tiles, but no more than a WINO_MIN_BANDS-th of the map): small
 * enough to stay in a core's caches, big enough for efficient products. */
#define WINO_BAND_BYTES ((size_t)1 << 20)
#define WINO_MIN_TILES 64
#define WINO_MIN_BANDS 4
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
    int rows;             /* tile rows of all the images */
    int band;             /* tile rows per band */
};

static struct wino_geom geom_of(const struct conv *cv, int nimg, int ih, int w)
{
    struct wino_geom g = { ih, 0, 0, 0, 0, 0, 0 };
    conv_out_size(cv, ih, w, &g.oh, &g.ow);
    g.th = (g.oh + 1) / 2;
    g.tw = (g.ow + 1) / 2;
    g.rows = g.th * nimg;
    if (g.tw < 1 || g.rows < 1) return g;
    size_t per_tile = (size_t)16 * (2 * (size_t)cv->cin + 4 * (size_t)cv->cout);
    size_t tiles = WINO_BAND_BYTES / per_tile;
    if (tiles < WINO_MIN_TILES) tiles = WINO_MIN_TILES;
    int band = (int)((tiles + g.tw - 1) / g.tw);
    /* at least WINO_MIN_BANDS bands where there are rows enough, so that threads
     * share the work; never by the thread count, which would change the
     * products' shapes and with them the last bits of their sums */
    int share = (g.rows + WINO_MIN_BANDS - 1) / WINO_MIN_BANDS;
    if (band > share) band = share;
    g.band = band < 1 ? 1 : band;
    return g;
}

/* Per thread: V and M of one band; four input rows with their zero border and a
 * row of zeros (pw each), whose start the output transform's four rows of tw
 * reuse. */
static size_t v_floats(const struct conv *cv, const struct wino_geom *g)
{
    return arena_aligned_floats((16 * (size_t)cv->cin * g->band * g->tw + 1) / 2);
}
static size_t m_floats(const struct conv *cv, const struct wino_geom *g)
{
    return arena_aligned_floats(16 * (size_t)cv->cout * g->band * g->tw);
}
static size_t worker_floats(const struct conv *cv, const struct wino_geom *g)
{
    size_t pw = (size_t)2 * g->tw + 2;
    return v_floats(cv, g) + m_floats(cv, g) + arena_aligned_floats(5 * pw);
}

size_t winograd_scratch_floats(const struct conv *cv, int nimg, int h, int w)
{
    struct wino_geom g = geom_of(cv, nimg, h, w);
    if (g.oh < 1 || g.ow < 1) return 0;
    return worker_floats(cv, &g) * (size_t)pool_size(ops_pool());
}

/* ---- one band: its input's transform, its products, its output's ------------------ */

struct wino_job {
    const struct conv *cv;
    const uint16_t *u;    /* U: [16][cout][cin] */
    const struct fmap *in;
    struct fmap *out;
    struct wino_geom g;
    float *scratch;       /* worker_floats each */
};

/* A band's buffers on this worker. */
struct band {
    int r0, r1;           /* its tile rows [r0, r1) */
    size_t n;             /* its tiles: (r1 - r0) * tw */
    uint16_t *v;          /* V: [16][cin][n] */
    float *m;             /* M: [16][cout][n] */
    float *rows;          /* [4][pw], then [pw] of zeros */
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

/* B along one row of B^T d, tile by tile (columns 2x..2x+3 of q), each result
 * rounded to bf16 as it is made (bf16_round: a plain loop that vectorises). */
static void tiles_along(const float *restrict q, int tw, uint16_t *restrict v0,
                        uint16_t *restrict v1, uint16_t *restrict v2, uint16_t *restrict v3)
{
    for (int x = 0; x < tw; x++) {
        float a = q[2 * x], b = q[2 * x + 1], c = q[2 * x + 2], e = q[2 * x + 3];
        v0[x] = bf16_round(a - c);
        v1[x] = bf16_round(b + c);
        v2[x] = bf16_round(c - b);
        v3[x] = bf16_round(b - e);
    }
}

/* V of every input channel for the band's tile rows. */
static void input_band(const struct wino_job *j, const struct band *b)
{
    const struct wino_geom *g = &j->g;
    int cin = j->cv->cin, pad = j->cv->pad, w = j->in->w, tw = g->tw;
    size_t n = b->n, pw = (size_t)2 * tw + 2;
    float *rows = b->rows;                                   /* [4][pw] */
    float *zero = rows + 4 * pw;                             /* [pw]: rows outside the map */
    memset(zero, 0, sizeof(float) * pw);
    /* the bordered columns x' that hold input columns x = x' - pad: [x0, x1) */
    int x0 = pad < (int)pw ? pad : (int)pw, x1 = w + pad < (int)pw ? w + pad : (int)pw;
    if (x1 < x0) x1 = x0;
    for (int i = 0; i < 4; i++) {   /* the borders, once: columns() writes only [x0, x1) */
        memset(rows + i * pw, 0, sizeof(float) * x0);
        memset(rows + i * pw + x1, 0, sizeof(float) * (pw - x1));
    }
    for (int c = 0; c < cin; c++) {
        const float *src = j->in->d + (size_t)c * j->in->h * w;
        for (int r = b->r0; r < b->r1; r++) {
            int img = r / g->th, y0 = (r - img * g->th) * 2 - pad;
            const float *s[4];   /* the tile row's four input rows (zero outside the map) */
            for (int i = 0; i < 4; i++) {
                int y = y0 + i;
                s[i] = y < 0 || y >= g->ih ? zero : src + ((size_t)img * g->ih + y) * w;
            }
            /* B^T d: down the columns, over the whole bordered width at once */
            float *d0 = rows, *d1 = rows + pw, *d2 = rows + 2 * pw, *d3 = rows + 3 * pw;
            columns(s[0], s[1], s[2], s[3], x1 - x0, d0 + x0, d1 + x0, d2 + x0, d3 + x0);
            /* (B^T d) B: along each row, tile by tile, rounded into V */
            size_t at = (size_t)(r - b->r0) * tw;
            for (int i = 0; i < 4; i++) {
                uint16_t *v0 = b->v + ((size_t)(4 * i) * cin + c) * n + at;
                size_t xs = (size_t)cin * n;   /* from one position's V to the next */
                tiles_along(rows + i * pw, tw, v0, v0 + xs, v0 + 2 * xs, v0 + 3 * xs);
            }
        }
    }
}

/* One tile row of one output channel: Y = A^T M A + bias, as four rows of tw
 * (y00, y01, y10, y11: the tiles' top-left, top-right, ... outputs), then
 * interleaved into the two output rows. m: position 0's row, xs floats from
 * one position's to the next. Plain loops over the tiles, which vectorise. */
static void output_tiles(const float *restrict m, size_t xs, int tw, float bias, int relu,
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
        float p = a0 + a1 + a2 + bias, q = a1 - a2 - a3 + bias;
        float r = b0 + b1 + b2 + bias, t = b1 - b2 - b3 + bias;
        if (relu) {   /* act_inplace's ReLU, fused */
            p = p < 0.0f ? 0.0f : p;
            q = q < 0.0f ? 0.0f : q;
            r = r < 0.0f ? 0.0f : r;
            t = t < 0.0f ? 0.0f : t;
        }
        y00[x] = p;
        y01[x] = q;
        y10[x] = r;
        y11[x] = t;
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

/* Y = A^T M A of every output channel for the band, + bias, then the activation. */
static void output_band(const struct wino_job *j, const struct band *b)
{
    const struct wino_geom *g = &j->g;
    const struct conv *cv = j->cv;
    int cout = cv->cout, tw = g->tw, ow = g->ow, relu = cv->act == ACT_RELU;
    size_t n = b->n;
    float *y = b->rows;   /* [4][tw] */
    for (int o = 0; o < cout; o++) {
        float bias = cv->b ? cv->b[o] : 0.0f;
        float *dst = j->out->d + (size_t)o * j->out->h * ow;
        for (int r = b->r0; r < b->r1; r++) {
            output_tiles(b->m + (size_t)o * n + (size_t)(r - b->r0) * tw, (size_t)cout * n, tw,
                         bias, relu, y);
            if (!relu) act_inplace(y, 4 * (size_t)tw, cv->act);
            int img = r / g->th, oy = (r - img * g->th) * 2;
            for (int a = 0; a < 2 && oy + a < g->oh; a++) {
                float *row = dst + ((size_t)img * g->oh + oy + a) * ow;
                interleave(y + (size_t)(2 * a) * tw, y + (size_t)(2 * a + 1) * tw, ow, row);
            }
        }
    }
}

/* Task band: the whole of one band on this worker. */
static void band_task(void *ctx, int band, int worker)
{
    const struct wino_job *j = ctx;
    const struct conv *cv = j->cv;
    const struct wino_geom *g = &j->g;
    float *s = j->scratch + worker_floats(cv, g) * worker;
    struct band b;
    b.r0 = band * g->band;
    b.r1 = b.r0 + g->band < g->rows ? b.r0 + g->band : g->rows;
    b.n = (size_t)(b.r1 - b.r0) * g->tw;
    b.v = (uint16_t *)s;
    b.m = s + v_floats(cv, g);
    b.rows = b.m + m_floats(cv, g);
    input_band(j, &b);
    size_t plane = (size_t)cv->cout * cv->cin;
    int n = (int)b.n;
    for (int xi = 0; xi < 16; xi++)   /* this thread's own products, not split */
        gemm_bf16_alone(cv->cout, n, cv->cin, j->u + xi * plane, cv->cin,
                        b.v + (size_t)xi * cv->cin * n, n, b.m + (size_t)xi * cv->cout * n, n, 0);
    output_band(j, &b);
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
    struct wino_job j = { cv, u, in, out, g, NULL };
    j.scratch = arena_floats(scratch, worker_floats(cv, &g) * (size_t)T);
    int bands = (g.rows + g.band - 1) / g.band;
    pool_run(ops_pool(), bands, band_task, &j);
    arena_rewind(scratch, mark);
}
