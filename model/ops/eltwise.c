/*
 * eltwise.c — the per-element and per-channel ops of model graphs (net/graph_run.c):
 * broadcasting add and multiply, per-channel affine (an unfused BatchNorm, a
 * layer scale), LayerNorm over the channels of each pixel, channel concat and
 * nearest upsampling.
 */
#include "ops.h"

#include <math.h>
#include <string.h>

/* b broadcasts when it is [C, 1, 1] against a [C, H, W] a. */
static int broadcasts(const struct fmap *a, const struct fmap *b)
{
    return b->c == a->c && b->h == 1 && b->w == 1 && (a->h != 1 || a->w != 1);
}

struct binary_job {
    const struct fmap *a, *b;
    struct fmap *out;
    int mul, bcast;
    enum act act;
};

/* channels [c0, c1): the same per-element arithmetic whatever the split */
static void binary_channels(void *ctx, int c0, int c1)
{
    const struct binary_job *j = ctx;
    size_t hw = (size_t)j->a->h * j->a->w;
    for (int c = c0; c < c1; c++) {
        const float *x = j->a->d + (size_t)c * hw;
        float *y = j->out->d + (size_t)c * hw;
        if (j->bcast) {
            float v = j->b->d[c];
            if (j->mul)
                for (size_t i = 0; i < hw; i++) y[i] = x[i] * v;
            else
                for (size_t i = 0; i < hw; i++) y[i] = x[i] + v;
        } else {
            const float *z = j->b->d + (size_t)c * hw;
            if (j->mul)
                for (size_t i = 0; i < hw; i++) y[i] = x[i] * z[i];
            else
                for (size_t i = 0; i < hw; i++) y[i] = x[i] + z[i];
        }
        act_inplace(y, hw, j->act);
    }
}

void eltwise_binary(const struct fmap *a, const struct fmap *b, struct fmap *out, int mul,
                    enum act act)
{
    if (broadcasts(b, a)) {            /* keep the full map on the left */
        const struct fmap *t = a;
        a = b;
        b = t;
    }
    MODEL_ASSERT(out->c == a->c && out->h == a->h && out->w == a->w);
    struct binary_job j = { a, b, out, mul, broadcasts(a, b), act };
    if (!j.bcast) MODEL_ASSERT(b->c == a->c && b->h == a->h && b->w == a->w);
    pool_for(a->c, (double)fmap_numel(a), binary_channels, &j);
}

void channel_affine(const struct fmap *in, const float *scale, const float *shift,
                    struct fmap *out, enum act act)
{
    MODEL_ASSERT(out->c == in->c && out->h == in->h && out->w == in->w);
    size_t hw = (size_t)in->h * in->w;
    for (int c = 0; c < in->c; c++) {
        const float *x = in->d + (size_t)c * hw;
        float *y = out->d + (size_t)c * hw, s = scale ? scale[c] : 1.0f,
              t = shift ? shift[c] : 0.0f;
        if (shift)
            for (size_t i = 0; i < hw; i++) y[i] = x[i] * s + t;
        else
            for (size_t i = 0; i < hw; i++) y[i] = x[i] * s;
        act_inplace(y, hw, act);
    }
}

void layernorm_channels(const struct fmap *in, const float *w, const float *b, float eps,
                        struct fmap *out, enum act act)
{
    MODEL_ASSERT(out->c == in->c && out->h == in->h && out->w == in->w);
    size_t hw = (size_t)in->h * in->w;
    int C = in->c;
    for (size_t p = 0; p < hw; p++) {
        double s = 0.0, s2 = 0.0;
        for (int c = 0; c < C; c++) s += in->d[(size_t)c * hw + p];
        double mean = s / C;
        for (int c = 0; c < C; c++) {
            double d = in->d[(size_t)c * hw + p] - mean;
            s2 += d * d;
        }
        float rstd = (float)(1.0 / sqrt(s2 / C + (double)eps)), m = (float)mean;
        for (int c = 0; c < C; c++) {
            float x = (in->d[(size_t)c * hw + p] - m) * rstd;
            out->d[(size_t)c * hw + p] = x * w[c] + b[c];
        }
    }
    act_inplace(out->d, fmap_numel(out), act);
}

void concat_channels(const struct fmap *const *in, int n, struct fmap *out)
{
    float *dst = out->d;
    for (int i = 0; i < n; i++) {
        MODEL_ASSERT(in[i]->h == out->h && in[i]->w == out->w);
        memcpy(dst, in[i]->d, sizeof(float) * fmap_numel(in[i]));
        dst += fmap_numel(in[i]);
    }
    MODEL_ASSERT(dst == out->d + fmap_numel(out));
}
