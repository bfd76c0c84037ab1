/*
 * bind.c — binding checkpoint tensors to modules by torchvision key name.
 *
 * Every lookup checks the shape and marks the key used; the first problem is
 * reported as one line naming the key and both shapes. BatchNorm (nn.BatchNorm2d
 * or FrozenBatchNorm2d, which are the same at inference) is folded into the
 * preceding conv here, in double precision, into permanent storage.
 */
#include "net.h"

#include <math.h>
#include <string.h>

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t off = 0;
    off += (size_t)snprintf(buf + off, n - off, "[");
    for (int i = 0; i < ndim && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (off < n) snprintf(buf + off, n - off, "]");
}

const float *bind_tensor(struct binder *b, const char *key, int ndim, const int64_t *shape)
{
    if (b->failed) return NULL;
    const struct ckpt_tensor *t = ckpt_find(b->ck, key);
    if (!t) {
        fprintf(stderr, "checkpoint %s: missing key %s (needed by %s; wrong --arch?)\n", b->path,
                key, b->arch);
        b->failed = 1;
        return NULL;
    }
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char want[128], got[128];
        shape_str(want, sizeof want, ndim, shape);
        shape_str(got, sizeof got, t->ndim, t->shape);
        fprintf(stderr, "checkpoint %s: key %s: expected shape %s, found %s\n", b->path, key, want,
                got);
        b->failed = 1;
        return NULL;
    }
    for (int i = 0; i < ckpt_count(b->ck); i++)
        if (ckpt_at(b->ck, i) == t) b->used[i] = 1;
    b->params += t->numel;
    return t->data;
}

int bind_conv(struct binder *b, struct conv *cv, const char *prefix, const char *bn_prefix,
              int cin, int cout, int k, int stride, int pad, int groups, int has_bias,
              enum act act)
{
    char key[256];
    memset(cv, 0, sizeof *cv);
    cv->cin = cin; cv->cout = cout; cv->k = k; cv->stride = stride; cv->pad = pad;
    cv->groups = groups; cv->act = act;

    int64_t wshape[4] = { cout, cin / groups, k, k }, vshape[1] = { cout };
    snprintf(key, sizeof key, "%s.weight", prefix);
    const float *w = bind_tensor(b, key, 4, wshape);
    const float *bias = NULL;
    if (w && has_bias) {
        snprintf(key, sizeof key, "%s.bias", prefix);
        bias = bind_tensor(b, key, 1, vshape);
    }
    if (b->failed) return -1;
    if (!bn_prefix) {
        cv->w = w;
        cv->b = bias;
        return 0;
    }
    const float *bn[4];
    static const char *const names[4] = { "weight", "bias", "running_mean", "running_var" };
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "%s.%s", bn_prefix, names[i]);
        bn[i] = bind_tensor(b, key, 1, vshape);
    }
    if (b->failed) return -1;
    b->params -= 2 * (int64_t)cout;   /* running statistics are buffers, not parameters */
    cv->w = w;
    cv->b = bias;
    bind_fold_bn(b, cv, bn, b->bn_eps);
    return 0;
}

void bn_coeffs(const float *const bn[4], float eps, int c, double *scale, double *shift)
{
    /* FrozenBatchNorm2d: scale = w * rsqrt(var + eps), shift = b - mean * scale */
    *scale = (double)bn[0][c] / sqrt((double)bn[3][c] + (double)eps);
    *shift = (double)bn[1][c] - (double)bn[2][c] * *scale;
}

void bind_fold_bn(struct binder *b, struct conv *cv, const float *const bn[4], float eps)
{
    size_t per = (size_t)(cv->cin / cv->groups) * cv->k * cv->k;
    float *fw = arena_floats(b->store, per * (size_t)cv->cout);
    float *fb = arena_floats(b->store, (size_t)cv->cout);
    for (int o = 0; o < cv->cout; o++) {
        double scale, shift;
        bn_coeffs(bn, eps, o, &scale, &shift);
        for (size_t i = 0; i < per; i++) fw[o * per + i] = (float)(cv->w[o * per + i] * scale);
        fb[o] = (float)((cv->b ? cv->b[o] * scale : 0.0) + shift);
    }
    cv->w = fw;
    cv->b = fb;
}

int bind_linear(struct binder *b, struct linear *l, const char *prefix, int in, int out)
{
    char key[256];
    int64_t wshape[2] = { out, in }, bshape[1] = { out };
    memset(l, 0, sizeof *l);
    l->in = in;
    l->out = out;
    snprintf(key, sizeof key, "%s.weight", prefix);
    l->w = bind_tensor(b, key, 2, wshape);
    snprintf(key, sizeof key, "%s.bias", prefix);
    l->b = bind_tensor(b, key, 1, bshape);
    return b->failed ? -1 : 0;
}

int bind_finish(struct binder *b)
{
    if (b->failed) return -1;
    int extra = 0;
    for (int i = 0; i < ckpt_count(b->ck); i++) {
        if (b->used[i]) continue;
        if (!extra)
            fprintf(stderr, "checkpoint %s: unexpected key %s (not part of %s; wrong --arch?)\n",
                    b->path, ckpt_at(b->ck, i)->name, b->arch);
        extra++;
    }
    return extra ? -1 : 0;
}
