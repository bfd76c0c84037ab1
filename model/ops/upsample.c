/*
 * upsample.c — F.interpolate(mode="nearest") on CHW maps: the FPN's top-down
 * path and graph nodes that upsample by a scale or to another map's size.
 */
#include "ops.h"

#include <math.h>
#include <string.h>

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

struct up_job {
    const struct fmap *in;
    struct fmap *out;
    const int *ys, *xs;
};

/* channels [c0, c1): an output row whose source row is the previous one's is a
 * copy of it; an exact 2x row writes each input value twice */
static void up_channels(void *ctx, int c0, int c1)
{
    const struct up_job *j = ctx;
    const struct fmap *in = j->in;
    struct fmap *out = j->out;
    int x2 = out->w == 2 * in->w;
    for (int c = c0; c < c1; c++) {
        const float *src = in->d + (size_t)c * in->h * in->w;
        float *dst = out->d + (size_t)c * out->h * out->w;
        for (int y = 0; y < out->h; y++) {
            float *drow = dst + (size_t)y * out->w;
            if (y > 0 && j->ys[y] == j->ys[y - 1]) {
                memcpy(drow, drow - out->w, sizeof(float) * out->w);
                continue;
            }
            const float *srow = src + (size_t)j->ys[y] * in->w;
            if (x2)
                for (int x = 0; x < in->w; x++) drow[2 * x] = drow[2 * x + 1] = srow[x];
            else
                for (int x = 0; x < out->w; x++) drow[x] = srow[j->xs[x]];
        }
    }
}

void upsample_nearest(const struct fmap *in, struct fmap *out)
{
    MODEL_ASSERT(in->c == out->c);
    int ys[out->h > 0 ? out->h : 1], xs[out->w > 0 ? out->w : 1];
    nearest_index(in->h, out->h, ys);
    nearest_index(in->w, out->w, xs);
    struct up_job j = { in, out, ys, xs };
    pool_for(out->c, (double)fmap_numel(out), up_channels, &j);
}
