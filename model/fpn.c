/*
 * fpn.c — the backbone as torchvision's BackboneWithFPN: dispatch to the body
 * (ResNet, MobileNetV3, VGG) and the FeaturePyramidNetwork with
 * LastLevelMaxPool on top (reference §7.4).
 */
#include "net.h"

#include <string.h>

int backbone_build(struct backbone *bb, const struct spec *s, struct binder *b)
{
    memset(bb, 0, sizeof *bb);
    bb->kind = s->backbone;
    int err;
    switch (s->backbone) {
    case BACKBONE_RESNET: err = resnet_build(bb, s, b); break;
    case BACKBONE_MOBILENET_V3_LARGE: err = mobilenet_build(bb, s, b); break;
    case BACKBONE_VGG: err = vgg_build(bb, s, b); break;
    default: err = -1; break;
    }
    if (err) return -1;
    bb->fpn_out = s->fpn_out;
    bb->pool_level = s->pool_level;
    for (int i = 0; i < bb->n_out; i++) {
        char c[96];
        /* v1: conv with bias; v2 (norm_layer=BatchNorm2d): conv without bias + BN */
        char n[96];
        snprintf(c, sizeof c, "backbone.fpn.inner_blocks.%d.0", i);
        snprintf(n, sizeof n, "backbone.fpn.inner_blocks.%d.1", i);
        if (bind_conv(b, &bb->inner[i], c, s->fpn_norm ? n : NULL, bb->out_channels[i],
                      s->fpn_out, 1, 1, 0, 1, !s->fpn_norm, ACT_NONE))
            return -1;
        snprintf(c, sizeof c, "backbone.fpn.layer_blocks.%d.0", i);
        snprintf(n, sizeof n, "backbone.fpn.layer_blocks.%d.1", i);
        if (bind_conv(b, &bb->layer[i], c, s->fpn_norm ? n : NULL, s->fpn_out, s->fpn_out, 3, 1,
                      1, 1, !s->fpn_norm, ACT_NONE))
            return -1;
    }
    return 0;
}

void backbone_free(struct backbone *bb)
{
    if (!bb->impl) return;
    if (bb->kind == BACKBONE_RESNET) resnet_free(bb->impl);
    else free(bb->impl);
    bb->impl = NULL;
}

void backbone_body(const struct backbone *bb, struct run *r, const struct fmap *img,
                   struct fmap *out, struct fmap *stem)
{
    switch (bb->kind) {
    case BACKBONE_RESNET: resnet_body(bb, r, img, out, stem); break;
    case BACKBONE_MOBILENET_V3_LARGE: mobilenet_body(bb, r, img, out, stem); break;
    case BACKBONE_VGG: vgg_body(bb, r, img, out, stem); break;
    }
}

int backbone_fpn(const struct backbone *bb, struct run *r, const struct fmap *body,
                 struct fmap *out)
{
    int n = bb->n_out;
    struct fmap last = run_conv(r, &bb->inner[n - 1], &body[n - 1]);
    out[n - 1] = run_conv(r, &bb->layer[n - 1], &last);
    for (int i = n - 2; i >= 0; i--) {
        struct fmap lat = run_conv(r, &bb->inner[i], &body[i]);
        if (!r->dry) upsample_nearest_add(&last, &lat);
        last = lat;
        out[i] = run_conv(r, &bb->layer[i], &last);
    }
    if (!bb->pool_level) return n;
    /* LastLevelMaxPool: max_pool2d(kernel 1, stride 2) of P_last, i.e. [::2, ::2] */
    const struct fmap *p = &out[n - 1];
    struct fmap pool = arena_fmap(r->arena, p->c, (p->h + 1) / 2, (p->w + 1) / 2);
    if (!r->dry) {
        for (int c = 0; c < p->c; c++)
            for (int y = 0; y < pool.h; y++)
                for (int x = 0; x < pool.w; x++)
                    pool.d[((size_t)c * pool.h + y) * pool.w + x] =
                        p->d[((size_t)c * p->h + 2 * y) * p->w + 2 * x];
    }
    out[n] = pool;
    return n + 1;
}
