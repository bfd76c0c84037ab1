/*
 * box_head.c — the box head of torchvision's Faster R-CNN (docs/torchvision-inference.md
 * §6.1): TwoMLPHead (fc6, fc7 with ReLU) or v2's FastRCNNConvFCHead (3x3 conv + BN
 * + ReLU blocks, then one fc with ReLU), then FastRCNNPredictor (cls_score and
 * bbox_pred, two linear layers).
 */
#include "net.h"

#include <string.h>

int box_head_build(struct box_head *h, const struct spec *s, struct binder *b)
{
    memset(h, 0, sizeof *h);
    h->in = s->fpn_out * s->roi_out * s->roi_out;
    h->rep = s->representation;
    h->K = s->num_classes;
    h->nconv = s->box_head_convs;
    MODEL_ASSERT(h->nconv <= SPEC_MAX_HEAD_CONVS);
    if (h->nconv) {
        /* FastRCNNConvFCHead: Sequential of conv+BN+ReLU blocks, Flatten, Linear, ReLU */
        for (int i = 0; i < h->nconv; i++) {
            char c[64], n[64];
            snprintf(c, sizeof c, "roi_heads.box_head.%d.0", i);
            snprintf(n, sizeof n, "roi_heads.box_head.%d.1", i);
            if (bind_conv(b, &h->convs[i], c, n, s->fpn_out, s->fpn_out, 3, 1, 1, 1, 0, ACT_RELU))
                return -1;
        }
        char fc[64];
        snprintf(fc, sizeof fc, "roi_heads.box_head.%d", h->nconv + 1);
        if (bind_linear(b, &h->fc6, fc, h->in, h->rep)) return -1;
    } else if (bind_linear(b, &h->fc6, "roi_heads.box_head.fc6", h->in, h->rep) ||
               bind_linear(b, &h->fc7, "roi_heads.box_head.fc7", h->rep, h->rep)) {
        return -1;
    }
    return bind_linear(b, &h->cls, "roi_heads.box_predictor.cls_score", h->rep, h->K) ||
           bind_linear(b, &h->reg, "roi_heads.box_predictor.bbox_pred", h->rep, 4 * h->K);
}

/* [n, C, S2] <-> [C, n, S2]: the conv head stacks the RoIs' maps along the height */
static void swap_outer(const float *src, int n, int C, int S2, float *dst)
{
    for (int p = 0; p < n; p++)
        for (int c = 0; c < C; c++)
            memcpy(dst + ((size_t)c * n + p) * S2, src + ((size_t)p * C + c) * S2,
                   sizeof(float) * S2);
}

/* The conv head's convs over all RoIs at once: each RoI's C x S x S map is its
 * own image (3x3, pad 1: nothing crosses from one RoI to the next), stacked as
 * one [C, P * S, S] map of P images. Returns [P, C, S, S] (torch's flatten
 * order) in r's arena. */
static float *conv_head_forward(const struct box_head *h, struct run *r, const float *pooled,
                                 int P)
{
    int C = h->convs[0].cin, S2 = h->in / C, S = 1;
    while (S * S < S2) S++;
    MODEL_ASSERT(S * S == S2);
    size_t n = (size_t)P * C * S2;
    float *a = arena_floats(r->arena, n), *b = arena_floats(r->arena, n);
    swap_outer(pooled, P, C, S2, a);
    for (int i = 0; i < h->nconv; i++) {
        struct fmap in = { a, C, P * S, S }, out = { b, C, P * S, S };
        conv_forward_images(&h->convs[i], &in, P, &out, r->arena);
        float *t = a;
        a = b;
        b = t;
    }
    swap_outer(a, C, P, S2, b);
    return b;
}

void box_head_forward(const struct box_head *h, struct run *r, const float *pooled, int P,
                      float *features, float *logits, float *regression)
{
    if (P == 0) return;
    struct arena_mark m = arena_mark(r->arena);
    if (h->nconv) {
        const float *x = conv_head_forward(h, r, pooled, P);
        linear_forward(&h->fc6, x, P, features, 1, r->arena);
    } else {
        float *t = arena_floats(r->arena, (size_t)P * h->rep);
        linear_forward(&h->fc6, pooled, P, t, 1, r->arena);
        linear_forward(&h->fc7, t, P, features, 1, r->arena);
    }
    arena_rewind(r->arena, m);
    linear_forward(&h->cls, features, P, logits, 0, r->arena);
    linear_forward(&h->reg, features, P, regression, 0, r->arena);
}
