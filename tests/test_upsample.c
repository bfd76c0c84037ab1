/*
 * test_upsample.c — upsample_nearest (model/ops/upsample.c) against F.interpolate's
 * nearest rule written out plainly (src = min(floor(dst * f32(in / out)), in - 1),
 * dst >> 1 for exactly twice the size): up by 2, by non-integer factors, down,
 * the same size, one row or column, NaN copied as is; alone and split over a
 * pool of 2 (the same bits).
 */
#include "../model/ops/ops.h"
#include "check.h"
#include "numeric.h"

#include <math.h>
#include <string.h>

static int src_of(int d, int in, int out)
{
    if (in == out) return d;
    if (out == 2 * in) return d >> 1;
    int s = (int)floorf((float)d * ((float)in / (float)out));
    return s > in - 1 ? in - 1 : s;
}

static void check(int c, int ih, int iw, int oh, int ow, struct pool *pool)
{
    static unsigned rng = 4242;
    struct fmap in = { malloc(sizeof(float) * c * ih * iw), c, ih, iw };
    struct fmap out = { malloc(sizeof(float) * c * oh * ow), c, oh, ow };
    test_fill(&rng, in.d, fmap_numel(&in));
    in.d[0] = NAN;
    ops_use_pool(pool);
    upsample_nearest(&in, &out);
    ops_use_pool(NULL);
    int same = 1;
    for (int k = 0; k < c; k++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                float want = in.d[((size_t)k * ih + src_of(y, ih, oh)) * iw + src_of(x, iw, ow)];
                float got = out.d[((size_t)k * oh + y) * ow + x];
                same &= !memcmp(&want, &got, sizeof want);
            }
    CHECK(same, "nearest %dx%dx%d -> %dx%d (%s): torch's source for every output", c, ih, iw, oh,
          ow, pool ? "2 threads" : "1 thread");
    free(in.d);
    free(out.d);
}

int main(void)
{
    struct pool *pool = NULL;
    CHECK(pool_open(&pool, 2) == 0, "pool of 2");
    for (int t = 0; t < 2; t++) {
        struct pool *p = t ? pool : NULL;
        check(3, 10, 14, 20, 28, p);    /* the FPN's 2x */
        check(5, 7, 9, 15, 19, p);      /* 2x plus one: not exact */
        check(2, 13, 17, 40, 50, p);    /* non-integer up */
        check(4, 30, 40, 13, 17, p);    /* down */
        check(2, 9, 11, 9, 11, p);      /* the same size */
        check(3, 1, 6, 4, 12, p);       /* one row */
        check(3, 6, 1, 12, 4, p);       /* one column */
        check(64, 60, 80, 120, 160, p); /* big enough to be split */
    }
    pool_close(&pool);
    return check_summary("test_upsample");
}
