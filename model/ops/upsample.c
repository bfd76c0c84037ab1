/*
 * upsample.c — F.interpolate(mode="nearest") on CHW maps: the FPN's top-down
 * path and graph nodes that upsample by a scale or to another map's size.
 */
#include "ops.h"

#include <math.h>

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

void upsample_nearest(const struct fmap *in, struct fmap *out)
{
    MODEL_ASSERT(in->c == out->c);
    int ys[out->h > 0 ? out->h : 1], xs[out->w > 0 ? out->w : 1];
    nearest_index(in->h, out->h, ys);
    nearest_index(in->w, out->w, xs);
    for (int c = 0; c < out->c; c++) {
        const float *src = in->d + (size_t)c * in->h * in->w;
        float *dst = out->d + (size_t)c * out->h * out->w;
        for (int y = 0; y < out->h; y++) {
            const float *srow = src + (size_t)ys[y] * in->w;
            float *drow = dst + (size_t)y * out->w;
            for (int x = 0; x < out->w; x++) drow[x] = srow[xs[x]];
        }
    }
}
