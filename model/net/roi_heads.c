/*
 * roi_heads.c — torchvision's RoIHeads for one image (docs/torchvision-inference.md
 * §5, §6): MultiScaleRoIAlign of the proposals (ops/roi_align.c), the box head
 * (box_head.c), and postprocess_detections: softmax, class-specific decode, clip,
 * background removal, score threshold, remove-small, per-class batched NMS and the
 * detections_per_img cut; then transform.postprocess back to the input's size.
 *
 * The softmax reproduces torch 1.13's AVX2 _vec_softmax_lastdim bit for bit:
 * SLEEF's expf8_u10 (with its FMAs), the eight-lane sum with a shuffle-tree
 * finish (a plain left-to-right sum below eight classes) and a multiply by the
 * reciprocal of the sum. Checked against torch.softmax / torch.exp; box_decode's
 * exp is torch's too (torch_expf), so the box head's arithmetic is torchvision's.
 */
#include "net.h"

#include <math.h>
#include <string.h>


/* F.softmax(x[K], -1) as torch's vectorised last-dim kernel computes it. */
static void softmax_row(const float *x, int K, float *out)
{
    float m = x[0];   /* vec::maximum propagates NaN */
    for (int k = 1; k < K && !isnan(m); k++)
        if (isnan(x[k]) || x[k] > m) m = x[k];
    for (int k = 0; k < K; k++) out[k] = torch_expf(x[k] - m);

    float sum;
    if (K < 8) {
        sum = out[0];
        for (int k = 1; k < K; k++) sum += out[k];
    } else {
        float acc[8];
        for (int l = 0; l < 8; l++) acc[l] = out[l];
        int d = 8;
        for (; d < K - K % 8; d += 8)
            for (int l = 0; l < 8; l++) acc[l] += out[d + l];
        for (int l = 0; l < K - d; l++) acc[l] += out[d + l];
        /* permute2f128, shuffle 0x4E, shuffle 0xB1 */
        sum = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    }
    const float inv = 1.0f / sum;
    for (int k = 0; k < K; k++) out[k] *= inv;
}

/* roi_heads.postprocess_detections for one image; see net.h. */
int box_postprocess(const float *proposals, int P, const float *class_logits,
                    const float *box_regression, int K, int img_h, int img_w,
                    const struct box_params *p, float *out_boxes, float *out_scores,
                    int *out_labels, struct arena *scratch)
{
    MODEL_ASSERT(P >= 0 && K >= 1 && p && p->weights && scratch);
    MODEL_ASSERT(p->detections_per_img >= 0);
    if (P == 0 || K == 1) return 0;

    const float *weights = p->weights;
    const float min_size = 1e-2f;
    const struct arena_mark mark = arena_mark(scratch);
    const size_t cap = (size_t)P * (K - 1);
    float *cb = arena_floats(scratch, cap * 4);
    float *cs = arena_floats(scratch, cap);
    int *cl = arena_ints(scratch, cap);
    float *prob = arena_floats(scratch, (size_t)K);

    /* Candidates in flatten order (proposal-major, class-minor). Decode and clip
     * are elementwise, so only the boxes that survive the score test need them;
     * the survivors get exactly the values the full [P, K, 4] decode would give. */
    int n = 0;
    for (int i = 0; i < P; i++) {
        softmax_row(class_logits + (size_t)i * K, K, prob);
        for (int k = 1; k < K; k++) {
            if (!(prob[k] > p->score_thresh)) continue;
            float *b = cb + (size_t)4 * n;
            box_decode(proposals + (size_t)4 * i, box_regression + ((size_t)i * K + k) * 4, 1, 4,
                       weights, b);
            box_clip(b, 1, img_h, img_w);
            if (!((b[2] - b[0]) >= min_size && (b[3] - b[1]) >= min_size)) continue;
            cs[n] = prob[k];
            cl[n] = k;
            n++;
        }
    }

    int *keep = arena_ints(scratch, (size_t)n + 1);
    int nk = batched_nms(cb, cs, cl, n, (double)p->nms_thresh, keep, scratch);
    int d = nk < p->detections_per_img ? nk : p->detections_per_img;
    for (int i = 0; i < d; i++) {
        memcpy(out_boxes + (size_t)4 * i, cb + (size_t)4 * keep[i], 4 * sizeof(float));
        out_scores[i] = cs[keep[i]];
        out_labels[i] = cl[keep[i]];
    }
    arena_rewind(scratch, mark);
    return d;
}

/* ---- RoIHeads.forward ---------------------------------------------------------------- */

void roi_heads_scales(struct model *m, const struct fmap *feats, int resized_h)
{
    if (m->scales_ready) return;
    int n = m->spec.roi_maps;
    for (int i = 0; i < n; i++)
        m->roi_scales[i] = roi_infer_scale(feats[m->spec.roi_index[i]].h, resized_h);
    m->k_min = (int)-log2f(m->roi_scales[0]);
    m->k_max = (int)-log2f(m->roi_scales[n - 1]);
    m->scales_ready = 1;
}

int roi_heads_forward(struct model *m, struct run *r, const struct fmap *feats,
                      const struct proposals *pr, const struct image_sizes *z,
                      struct model_detection *dets, int max)
{
    const float *props = pr->boxes;
    int P = pr->n, rh = z->rh, rw = z->rw;
    const struct spec *s = &m->spec;
    struct model_timing *tm = &m->timing;

    /* MultiScaleRoIAlign */
    double t = ops_now_ms();
    roi_heads_scales(m, feats, rh);
    int C = s->fpn_out, ro = s->roi_out;
    float *pooled = arena_floats(r->arena, (size_t)(P > 0 ? P : 1) * C * ro * ro);
    struct fmap maps[SPEC_MAX_LEVELS];   /* the maps featmap_names picks */
    for (int i = 0; i < s->roi_maps; i++) maps[i] = feats[s->roi_index[i]];
    if (P > 0)
        multiscale_roi_align(maps, m->roi_scales, s->roi_maps, m->k_min, m->k_max, props, P, ro,
                             s->roi_sampling, pooled, r->arena);
    tm->roi_align = ops_now_ms() - t;

    /* box head */
    t = ops_now_ms();
    int K = s->num_classes, Pn = P > 0 ? P : 1;
    float *feat = arena_floats(r->arena, (size_t)Pn * m->box.rep);
    float *logits = arena_floats(r->arena, (size_t)Pn * K);
    float *reg = arena_floats(r->arena, (size_t)Pn * 4 * K);
    box_head_forward(&m->box, r, pooled, P, feat, logits, reg);
    tm->box_head = ops_now_ms() - t;

    /* postprocess_detections + transform.postprocess */
    t = ops_now_ms();
    /* no more than P x (K - 1) candidates can come out */
    int D = 0, maxd = s->p.box_detections_per_img;
    if ((int64_t)P * (K - 1) < maxd) maxd = P * (K - 1);
    float *boxes = arena_floats(r->arena, (size_t)maxd * 4 + 4);
    float *scores = arena_floats(r->arena, (size_t)maxd + 1);
    int *labels = arena_ints(r->arena, (size_t)maxd + 1);
    if (P > 0) {
        struct box_params bp = { s->p.box_score_thresh, s->p.box_nms_thresh, maxd, s->box_coder };
        D = box_postprocess(props, P, logits, reg, K, rh, rw, &bp, boxes, scores, labels,
                            r->arena);
    }
    transform_rescale_boxes(boxes, D, rh, rw, z->h, z->w);
    int n = D < max ? D : max;
    for (int i = 0; i < n; i++) {
        memcpy(dets[i].box, boxes + (size_t)i * 4, sizeof dets[i].box);
        dets[i].score = scores[i];
        dets[i].label = labels[i];
    }
    tm->postprocess = ops_now_ms() - t;
    return n;
}
