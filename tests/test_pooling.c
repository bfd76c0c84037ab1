/*
 * test_pooling.c — max pooling (model/ops/pooling.c) against the plain loop of
 * torch's CPU kernel: for every output, the window row by row and column by
 * column, a larger value or a NaN replacing the running maximum. pool_max runs
 * the windows that lie inside the map tap by tap over whole rows; it must give
 * the same bits — NaNs where torch has them, and the same zero (+0 or -0) where
 * the two tie — at every kernel, stride, padding, dilation and ceil mode, on
 * maps narrower than their window and with a pool of 2.
 */
#include "../model/ops/ops.h"
#include "check.h"

#include <math.h>
#include <string.h>

static unsigned seed = 99;
static float next(void)
{
    seed = seed * 1664525u + 1013904223u;
    unsigned r = seed >> 8;
    if (r % 97 == 0) return NAN;
    if (r % 89 == 0) return -0.0f;
    if (r % 83 == 0) return 0.0f;
    if (r % 79 == 0) return -INFINITY;
    return (float)((int)(r % 2001) - 1000) / 97.0f;
}

static float reference_at(const float *src, int h, int w, const struct pool_geom *g, int oy, int ox)
{
    float m = -INFINITY;
    for (int ky = 0; ky < g->k; ky++)
        for (int kx = 0; kx < g->k; kx++) {
            int iy = oy * g->stride - g->pad + ky * g->dil;
            int ix = ox * g->stride - g->pad + kx * g->dil;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            float v = src[(size_t)iy * w + ix];
            if (v > m || isnan(v)) m = v;
        }
    return m;
}

static int same_bits(float a, float b) { return !memcmp(&a, &b, sizeof a); }

static void check(int c, int h, int w, struct pool_geom g, struct pool *p)
{
    int oh = pool_out_len(h, g.k, g.stride, g.pad, g.dil, g.ceil_mode);
    int ow = pool_out_len(w, g.k, g.stride, g.pad, g.dil, g.ceil_mode);
    if (oh < 1 || ow < 1) return;
    struct fmap in = { malloc(sizeof(float) * c * h * w), c, h, w };
    struct fmap out = { malloc(sizeof(float) * c * oh * ow), c, oh, ow };
    for (size_t i = 0; i < fmap_numel(&in); i++) in.d[i] = next();
    ops_use_pool(p);
    pool_max(&in, &out, &g);
    ops_use_pool(NULL);
    int bad = 0;
    for (int ch = 0; ch < c && !bad; ch++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                float want = reference_at(in.d + (size_t)ch * h * w, h, w, &g, y, x);
                float got = out.d[((size_t)ch * oh + y) * ow + x];
                /* any NaN is torch's NaN; every other value bit for bit */
                if (isnan(want) ? !isnan(got) : !same_bits(want, got)) bad++;
            }
    CHECK(!bad, "max pool %dx%dx%d k%d s%d p%d d%d%s%s: %d outputs differ", c, h, w, g.k,
          g.stride, g.pad, g.dil, g.ceil_mode ? " ceil" : "", p ? " (pool of 2)" : "", bad);
    free(in.d);
    free(out.d);
}

int main(void)
{
    struct pool *pool = NULL;
    CHECK(pool_open(&pool, 2) == 0, "pool of 2");
    for (int t = 0; t < 2; t++) {
        struct pool *p = t ? pool : NULL;
        for (int k = 1; k <= 4; k++)
            for (int s = 1; s <= 3; s++)
                for (int pad = 0; pad <= k / 2; pad++)
                    for (int d = 1; d <= 2; d++)
                        for (int cm = 0; cm < 2; cm++) {
                            struct pool_geom g = { k, s, pad, d, cm, 1 };
                            check(3, 13, 17, g, p);
                            check(2, 5, 4, g, p);   /* narrower than some windows */
                            check(1, 1, 9, g, p);
                        }
        check(64, 240, 320, (struct pool_geom){ 3, 2, 1, 1, 0, 1 }, p);   /* ResNet's stem */
        check(256, 15, 20, (struct pool_geom){ 1, 2, 0, 1, 0, 1 }, p);    /* FPN's extra level */
    }
    pool_close(&pool);
    return check_summary("test_pooling");
}
