/*
 * heads.c — the RPN head (3x3 conv + ReLU blocks, then objectness and box
 * deltas, shared by every level) and the box head (TwoMLPHead, or v2's
 * FastRCNNConvFCHead, + FastRCNNPredictor). The two 1x1 / linear predictors of
 * each head are fused into one GEMM at load.
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
    h->depth = s->rpn_conv_depth > 0 ? s->rpn_conv_depth : 1;
    MODEL_ASSERT(h->depth <= NET_MAX_HEAD_CONVS);
    for (int i = 0; i < h->depth; i++) {
        char key[64];
        snprintf(key, sizeof key, "rpn.head.conv.%d.0", i);
        if (bind_conv(b, &h->conv[i], key, NULL, C, C, 3, 1, 1, 1, 1, ACT_RELU)) return -1;
    }
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
    struct fmap t = *f;
    for (int i = 0; i < h->depth; i++) t = run_conv(r, &h->conv[i], &t);
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
    h->nconv = s->box_head_convs;
    MODEL_ASSERT(h->nconv <= NET_MAX_HEAD_CONVS);
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
        if (bind_linear(b, &h->fc6_w, &h->fc6_b, fc, h->in, h->rep)) return -1;
    } else if (bind_linear(b, &h->fc6_w, &h->fc6_b, "roi_heads.box_head.fc6", h->in, h->rep) ||
               bind_linear(b, &h->fc7_w, &h->fc7_b, "roi_heads.box_head.fc7", h->rep, h->rep)) {
        return -1;
    }
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

/* The conv head's convs over all RoIs at once: each RoI's C x S x S map is its
 * own image (3x3, pad 1: nothing crosses from one RoI to the next), so the maps
 * are laid side by side as [C, P, S, S] and every conv is one GEMM per chunk of
 * RoIs. Returns the result in [P, C, S, S] (torch's flatten order). */
static float *conv_head_forward(const struct box_head *h, struct run *r, const float *pooled,
                                int P)
{
    int C = h->convs[0].cin, S2 = h->in / C, S = 1;
    while (S * S < S2) S++;
    MODEL_ASSERT(S * S == S2);
    size_t n = (size_t)P * C * S2;
    float *a = arena_floats(r->arena, n), *b = arena_floats(r->arena, n);
    for (int p = 0; p < P; p++)         /* [P, C, S2] → [C, P, S2] */
        for (int c = 0; c < C; c++)
            memcpy(a + ((size_t)c * P + p) * S2, pooled + ((size_t)p * C + c) * S2,
                   sizeof(float) * S2);
    /* im2col per RoI (its own zero padding), in chunks of RoIs to bound the buffer */
    int chunk = P;
    size_t kk = (size_t)C * 9;
    if ((size_t)chunk * S2 * kk > ((size_t)8 << 20)) chunk = (int)(((size_t)8 << 20) / (S2 * kk));
    if (chunk < 1) chunk = 1;
    struct arena_mark m = arena_mark(r->arena);
    float *col = arena_floats(r->arena, kk * (size_t)chunk * S2);
    for (int i = 0; i < h->nconv; i++) {
        const struct conv *cv = &h->convs[i];
        for (int p0 = 0; p0 < P; p0 += chunk) {
            int np = p0 + chunk < P ? chunk : P - p0;
            size_t ncol = (size_t)np * S2;
            for (int c = 0; c < C; c++)
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++) {
                        float *dst = col + ((size_t)c * 9 + ky * 3 + kx) * ncol;
                        for (int p = 0; p < np; p++) {
                            const float *src = a + ((size_t)c * P + p0 + p) * S2;
                            for (int y = 0; y < S; y++) {
                                int iy = y + ky - 1;
                                for (int x = 0; x < S; x++) {
                                    int ix = x + kx - 1;
                                    dst[(size_t)p * S2 + y * S + x] =
                                        iy < 0 || iy >= S || ix < 0 || ix >= S ? 0.0f
                                                                               : src[iy * S + ix];
                                }
                            }
                        }
                    }
            /* out[c_out, p0.., S2] for the chunk: rows are strided by P * S2 */
            gemm_strided(cv->cout, (int)ncol, (int)kk, cv->w, col, b + (size_t)p0 * S2,
                         P * S2);
        }
        for (int c = 0; c < cv->cout; c++) {
            float *row = b + (size_t)c * P * S2;
            for (size_t j = 0; j < (size_t)P * S2; j++) {
                float v = row[j] + cv->b[c];
                row[j] = v < 0.0f ? 0.0f : v;
            }
        }
        float *t = a;
        a = b;
        b = t;
    }
    arena_rewind(r->arena, m);
    for (int p = 0; p < P; p++)         /* [C, P, S2] → [P, C, S2] */
        for (int c = 0; c < C; c++)
            memcpy(b + ((size_t)p * C + c) * S2, a + ((size_t)c * P + p) * S2,
                   sizeof(float) * S2);
    return b;
}

void box_head_forward(const struct box_head *h, struct run *r, const float *pooled, int P,
                      float *features, float *logits, float *regression)
{
    int K = h->K;
    for (int i = 0; i < h->nconv; i++)
        r->macs += (double)P * h->convs[i].cout * h->convs[i].cin * 9 * (h->in / h->convs[i].cin);
    r->macs += (double)P * ((double)h->in * h->rep + (h->nconv ? 0.0 : (double)h->rep * h->rep) +
                            5.0 * K * h->rep);
    if (r->dry || P == 0) return;
    struct arena_mark m = arena_mark(r->arena);
    float *pred = arena_floats(r->arena, (size_t)P * 5 * K);
    if (h->nconv) {
        const float *x = conv_head_forward(h, r, pooled, P);
        linear_forward(x, P, h->in, h->fc6_w, h->fc6_b, h->rep, features, 1);
    } else {
        float *t = arena_floats(r->arena, (size_t)P * h->rep);
        linear_forward(pooled, P, h->in, h->fc6_w, h->fc6_b, h->rep, t, 1);
        linear_forward(t, P, h->rep, h->fc7_w, h->fc7_b, h->rep, features, 1);
    }
    linear_forward(features, P, h->rep, h->pred_w, h->pred_b, 5 * K, pred, 0);
    for (int i = 0; i < P; i++) {
        memcpy(logits + (size_t)i * K, pred + (size_t)i * 5 * K, sizeof(float) * K);
        memcpy(regression + (size_t)i * 4 * K, pred + (size_t)i * 5 * K + K, sizeof(float) * 4 * K);
    }
    arena_rewind(r->arena, m);
}
