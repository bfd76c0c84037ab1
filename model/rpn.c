/*
 * rpn.c — the parts of torchvision's RegionProposalNetwork after the head convs
 * (docs/torchvision-inference.md §3.2, §3.4): flattening the head outputs into anchor
 * order, and filter_proposals (per-level top-k, sigmoid, clip, remove-small, score
 * threshold, per-level NMS, global top-n). The head convs themselves are plain
 * conv_forward calls made by the model; decoding is box_decode.
 */
#include "internal.h"

#include <math.h>

/*
 * permute_and_flatten: logits [A, h, w] → (y, x, a); deltas viewed as [A, 4, h, w]
 * → (y, x, a, k), i.e. del[((y*w + x)*A + a)*4 + k] = D[a*4 + k, y, x].
 */
void rpn_flatten(const struct fmap *logits, const struct fmap *deltas, int A, float *obj,
                 float *del)
{
    MODEL_ASSERT(A > 0 && logits->c == A && deltas->c == 4 * A);
    MODEL_ASSERT(logits->h == deltas->h && logits->w == deltas->w);
    size_t hw = (size_t)logits->h * logits->w;
    for (int a = 0; a < A; a++) {
        const float *src = logits->d + a * hw;
        for (size_t p = 0; p < hw; p++)
            obj[p * A + a] = src[p];
    }
    for (int ak = 0; ak < 4 * A; ak++) {
        const float *src = deltas->d + ak * hw;
        float *dst = del + ak;   /* ((p*A + a)*4 + k) = p*4A + ak */
        for (size_t p = 0; p < hw; p++)
            dst[p * 4 * A] = src[p];
    }
}

/*
 * filter_proposals for one image (§3.4). The top-k selects on the raw logits
 * (torch topk order, ties included, via torch_topk); the sigmoid is
 * 1 / (1 + exp(-x)) in f32 (torch's vectorised exp may differ by 1 ulp, hence the
 * 1-ulp score tolerance of §10.2). Remove-small keeps w >= 1e-3f and h >= 1e-3f;
 * the score test is >= in f32 — unlike the box head's strict >. NMS runs per level
 * through batched_nms with the level index as the class.
 *
 * Scratch: about 10 words per top-k candidate (plus batched_nms's own) from
 * `scratch`, given back before returning. out_boxes / out_scores must hold
 * post_nms_top_n entries.
 */
int rpn_filter_proposals(const float *decoded, const float *logits, const int *level_counts,
                         int nlevels, int img_h, int img_w, const struct rpn_params *p,
                         float *out_boxes, float *out_scores, struct arena *scratch)
{
    MODEL_ASSERT(nlevels > 0 && p->pre_nms_top_n >= 0 && p->post_nms_top_n >= 0);

    size_t total = 0;
    for (int l = 0; l < nlevels; l++) {
        MODEL_ASSERT(level_counts[l] >= 0);
        int k = level_counts[l] < p->pre_nms_top_n ? level_counts[l] : p->pre_nms_top_n;
        total += (size_t)k;
    }
    if (total == 0) return 0;
    MODEL_ASSERT(total <= (size_t)INT32_MAX / 4);

    struct arena_mark mark = arena_mark(scratch);
    int *idx = arena_ints(scratch, total);
    int *lvl = arena_ints(scratch, total);
    int *keep = arena_ints(scratch, total);
    float *boxes = arena_floats(scratch, 4 * total);
    float *scores = arena_floats(scratch, total);

    /* 1. per-level top-k of the raw logits, as indices into the whole array */
    size_t off = 0;
    int m = 0;
    for (int l = 0; l < nlevels; l++) {
        int n = level_counts[l];
        int k = n < p->pre_nms_top_n ? n : p->pre_nms_top_n;
        if (k > 0) {
            torch_topk(logits + off, n, k, idx + m, scratch);
            for (int j = m; j < m + k; j++) {
                idx[j] += (int)off;
                lvl[j] = l;
            }
        }
        m += k;
        off += (size_t)n;
    }

    /* 2.-5. sigmoid, clip, remove small, score threshold: one compacting pass */
    const float min_size = 1e-3f;
    int kept = 0;
    for (int j = 0; j < m; j++) {
        int i = idx[j];
        float s = 1.0f / (1.0f + torch_expf(-logits[i]));
        float *b = boxes + 4 * (size_t)kept;
        for (int c = 0; c < 4; c++) b[c] = decoded[4 * (size_t)i + c];
        box_clip(b, 1, img_h, img_w);
        if (!(b[2] - b[0] >= min_size && b[3] - b[1] >= min_size)) continue;
        if (!(s >= p->score_thresh)) continue;
        scores[kept] = s;
        lvl[kept] = lvl[j];   /* kept <= j: compaction in place is safe */
        kept++;
    }
    if (kept == 0) {
        arena_rewind(scratch, mark);
        return 0;
    }

    /* 6. NMS per level. torchvision passes the threshold as a Python float; the
     * params hold it as f32, which gives the same decisions for 0.7 (§4.1). */
    int nk = batched_nms(boxes, scores, lvl, kept, (double)p->nms_thresh, keep, scratch);

    /* 7. global top-n: the keep list is already in descending score order */
    int P = nk < p->post_nms_top_n ? nk : p->post_nms_top_n;
    for (int j = 0; j < P; j++) {
        int i = keep[j];
        for (int c = 0; c < 4; c++) out_boxes[4 * j + c] = boxes[4 * (size_t)i + c];
        out_scores[j] = scores[i];
    }
    arena_rewind(scratch, mark);
    return P;
}
