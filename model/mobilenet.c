/*
 * mobilenet.c — MobileNetV3-Large features as the Faster R-CNN builders use
 * them (reference §7.3): stem, 15 inverted residual blocks, the last 1x1 conv;
 * FPN taps block 13 ('0') and the last conv 16 ('1'), both stride 32.
 */
#include "net.h"

#include <string.h>

/* torchvision's mobilenet_v3_large inverted residual settings */
static const struct {
    int k, exp, out, se, hs, stride;
} cfgs[15] = {
    { 3, 16, 16, 0, 0, 1 },   { 3, 64, 24, 0, 0, 2 },   { 3, 72, 24, 0, 0, 1 },
    { 5, 72, 40, 1, 0, 2 },   { 5, 120, 40, 1, 0, 1 },  { 5, 120, 40, 1, 0, 1 },
    { 3, 240, 80, 0, 1, 2 },  { 3, 200, 80, 0, 1, 1 },  { 3, 184, 80, 0, 1, 1 },
    { 3, 184, 80, 0, 1, 1 },  { 3, 480, 112, 1, 1, 1 }, { 3, 672, 112, 1, 1, 1 },
    { 5, 672, 160, 1, 1, 2 }, { 5, 960, 160, 1, 1, 1 }, { 5, 960, 160, 1, 1, 1 },
};

struct irblock {
    struct conv expand, dw, project;
    int has_expand, has_se, residual;
    const float *se_w1, *se_b1, *se_w2, *se_b2;
    int sq;
};

struct mobilenet {
    struct conv stem, last;
    struct irblock blocks[15];
};

static int make_divisible(double v, int d)
{
    int n = (int)(v + d / 2.0) / d * d;
    if (n < d) n = d;
    if (n < 0.9 * v) n += d;
    return n;
}

int mobilenet_build(struct backbone *bb, const struct spec *s, struct binder *b)
{
    (void)s;
    struct mobilenet *mn = calloc(1, sizeof *mn);
    if (!mn) return -1;
    bb->impl = mn;
    if (bind_conv(b, &mn->stem, "backbone.body.0.0", "backbone.body.0.1", 3, 16, 3, 2, 1, 1, 0,
                  ACT_HARDSWISH))
        return -1;
    int in = 16;
    for (int i = 0; i < 15; i++) {
        struct irblock *blk = &mn->blocks[i];
        enum act act = cfgs[i].hs ? ACT_HARDSWISH : ACT_RELU;
        int exp = cfgs[i].exp, m = 0, err = 0;
        char c[128], n[128];
#define NAMES(idx)                                                                 \
    (snprintf(c, sizeof c, "backbone.body.%d.block.%d.0", i + 1, idx),             \
     snprintf(n, sizeof n, "backbone.body.%d.block.%d.1", i + 1, idx))
        if (exp != in) {
            blk->has_expand = 1;
            NAMES(m);
            err |= bind_conv(b, &blk->expand, c, n, in, exp, 1, 1, 0, 1, 0, act);
            m++;
        }
        NAMES(m);
        err |= bind_conv(b, &blk->dw, c, n, exp, exp, cfgs[i].k, cfgs[i].stride,
                         (cfgs[i].k - 1) / 2, exp, 0, act);
        m++;
        if (cfgs[i].se) {
            blk->has_se = 1;
            blk->sq = make_divisible(exp / 4, 8);
            int64_t w1[4] = { blk->sq, exp, 1, 1 }, b1[1] = { blk->sq };
            int64_t w2[4] = { exp, blk->sq, 1, 1 }, b2[1] = { exp };
            snprintf(c, sizeof c, "backbone.body.%d.block.%d.fc1.weight", i + 1, m);
            blk->se_w1 = bind_tensor(b, c, 4, w1);
            snprintf(c, sizeof c, "backbone.body.%d.block.%d.fc1.bias", i + 1, m);
            blk->se_b1 = bind_tensor(b, c, 1, b1);
            snprintf(c, sizeof c, "backbone.body.%d.block.%d.fc2.weight", i + 1, m);
            blk->se_w2 = bind_tensor(b, c, 4, w2);
            snprintf(c, sizeof c, "backbone.body.%d.block.%d.fc2.bias", i + 1, m);
            blk->se_b2 = bind_tensor(b, c, 1, b2);
            m++;
        }
        NAMES(m);
#undef NAMES
        err |= bind_conv(b, &blk->project, c, n, exp, cfgs[i].out, 1, 1, 0, 1, 0, ACT_NONE);
        if (err || b->failed) return -1;
        blk->residual = cfgs[i].stride == 1 && in == cfgs[i].out;
        in = cfgs[i].out;
    }
    if (bind_conv(b, &mn->last, "backbone.body.16.0", "backbone.body.16.1", 160, 960, 1, 1, 0, 1,
                  0, ACT_HARDSWISH))
        return -1;
    bb->n_out = 2;
    bb->out_channels[0] = 160;
    bb->out_channels[1] = 960;
    return 0;
}

static struct fmap ir_forward(const struct irblock *blk, struct run *r, const struct fmap *x)
{
    int oh, ow;
    conv_out_size(&blk->dw, x->h, x->w, &oh, &ow);
    struct fmap out = arena_fmap(r->arena, blk->project.cout, oh, ow);
    struct arena_mark m = arena_mark(r->arena);
    struct fmap t = *x;
    if (blk->has_expand) t = run_conv(r, &blk->expand, &t);
    t = run_conv(r, &blk->dw, &t);
    if (blk->has_se) {
        r->macs += 2.0 * blk->sq * t.c;
        if (!r->dry) {
            float *scratch = arena_floats(r->arena, (size_t)t.c + blk->sq);
            se_forward(&t, blk->se_w1, blk->se_b1, blk->sq, blk->se_w2, blk->se_b2, scratch);
        }
    }
    r->macs += (double)blk->project.cout * oh * ow * blk->project.cin;
    if (!r->dry) {
        conv_forward(&blk->project, &t, &out, r->arena);
        if (blk->residual) add_inplace(out.d, x->d, fmap_numel(&out), 0);
    }
    arena_rewind(r->arena, m);
    return out;
}

void mobilenet_body(const struct backbone *bb, struct run *r, const struct fmap *img,
                    struct fmap *out, struct fmap *stem)
{
    const struct mobilenet *mn = bb->impl;
    struct fmap x = run_conv(r, &mn->stem, img);
    if (stem) *stem = x;
    for (int i = 0; i < 15; i++) {
        x = ir_forward(&mn->blocks[i], r, &x);
        if (i + 1 == 13) out[0] = x;
    }
    out[1] = run_conv(r, &mn->last, &x);
}
