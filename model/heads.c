/*
 * heads.c — the RPN head (3x3 conv + ReLU, then objectness and box deltas,
 * shared by every level) and the box head (TwoMLPHead + FastRCNNPredictor).
 * The two 1x1 / linear predictors of each head are fused into one GEMM at load.
 */
#include "net.h"

#include <string.h>

int rpn_head_build(struct rpn_head *h, const struct spec *s, struct binder *b)
{
    memset(h, 0, sizeof *h);
    int C = s->fpn_out;
    int A = s->n_sizes[0] * s->n_ratios[0];
    for (int l = 1; l < s->n_levels; l++) MODEL_ASSERT(s->n_sizes[l] * s->n_ratios[l] == A);
    h->A = A;
    if (bind_conv(b, &h->conv, "rpn.head.conv.0.0", NULL, C, C, 3, 1, 1, 1, 1, ACT_RELU)) return -1;
    struct conv cls, box;
    if (bind_conv(b, &cls, "rpn.head.cls_logits", NULL, C, A, 1, 1, 0, 1, 1, ACT_NONE) ||
        bind_conv(b, &box, "rpn.head.bbox_pred", NULL, C, 4 * A, 1, 1, 0, 1, 1, ACT_NONE))
        return -1;
    float *w = arena_floats(b->store, (size_t)5 * A * C), *bias = arena_floats(b->store, 5 * A);
    memcpy(w, cls.w, sizeof(float) * A * C);
    memcpy(w + (size_t)A * C, box.w, sizeof(float) * 4 * A * C);
    memcpy(bias, cls.b, sizeof(float) * A);
    memcpy(bias + A, box.b, sizeof(float) * 4 * A);
    h->pred = cls;
    h->pred.cout = 5 * A;
    h->pred.w = w;
    h->pred.b = bias;
    return 0;
}

void rpn_head_forward(const struct rpn_head *h, struct run *r, const struct fmap *f,
                      struct fmap *logits, struct fmap *deltas)
{
    struct fmap t = run_conv(r, &h->conv, f);
    struct fmap p = run_conv(r, &h->pred, &t);
    size_t hw = (size_t)p.h * p.w;
    *logits = (struct fmap){ p.d, h->A, p.h, p.w };
    *deltas = (struct fmap){ p.d + (size_t)h->A * hw, 4 * h->A, p.h, p.w };
}

int box_head_build(struct box_head *h, const struct spec *s, struct binder *b)
{
    memset(h, 0, sizeof *h);
    h->in = s->fpn_out * s->roi_out * s->roi_out;
    h->rep = s->representation;
    h->K = s->num_classes;
    if (bind_linear(b, &h->fc6_w, &h->fc6_b, "roi_heads.box_head.fc6", h->in, h->rep) ||
        bind_linear(b, &h->fc7_w, &h->fc7_b, "roi_heads.box_head.fc7", h->rep, h->rep))
        return -1;
    const float *cw, *cb, *bw, *bbias;
    if (bind_linear(b, &cw, &cb, "roi_heads.box_predictor.cls_score", h->rep, h->K) ||
        bind_linear(b, &bw, &bbias, "roi_heads.box_predictor.bbox_pred", h->rep, 4 * h->K))
        return -1;
    int K = h->K, R = h->rep;
    h->pred_w = arena_floats(b->store, (size_t)5 * K * R);
    h->pred_b = arena_floats(b->store, (size_t)5 * K);
    memcpy(h->pred_w, cw, sizeof(float) * K * R);
    memcpy(h->pred_w + (size_t)K * R, bw, sizeof(float) * 4 * K * R);
    memcpy(h->pred_b, cb, sizeof(float) * K);
    memcpy(h->pred_b + K, bbias, sizeof(float) * 4 * K);
    return 0;
}

void box_head_forward(const struct box_head *h, struct run *r, const float *pooled, int P,
                      float *features, float *logits, float *regression)
{
    int K = h->K;
    r->macs += (double)P * ((double)h->in * h->rep + (double)h->rep * h->rep + 5.0 * K * h->rep);
    if (r->dry || P == 0) return;
    struct arena_mark m = arena_mark(r->arena);
    float *t = arena_floats(r->arena, (size_t)P * h->rep);
    float *pred = arena_floats(r->arena, (size_t)P * 5 * K);
    linear_forward(pooled, P, h->in, h->fc6_w, h->fc6_b, h->rep, t, 1);
    linear_forward(t, P, h->rep, h->fc7_w, h->fc7_b, h->rep, features, 1);
    linear_forward(features, P, h->rep, h->pred_w, h->pred_b, 5 * K, pred, 0);
    for (int i = 0; i < P; i++) {
        memcpy(logits + (size_t)i * K, pred + (size_t)i * 5 * K, sizeof(float) * K);
        memcpy(regression + (size_t)i * 4 * K, pred + (size_t)i * 5 * K + K, sizeof(float) * 4 * K);
    }
    arena_rewind(r->arena, m);
}
