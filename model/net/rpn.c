/*
 * rpn.c — torchvision's RegionProposalNetwork (docs/torchvision-inference.md §3):
 * RPNHead (3x3 conv + ReLU blocks, then objectness and box deltas, shared by
 * every level), flattening the head outputs into anchor order, decoding against
 * the anchors (anchor_utils.c) and filter_proposals (per-level top-k, sigmoid,
 * clip, remove-small, score threshold, per-level NMS, global top-n).
 */
#include "net.h"

#include <math.h>
#include <string.h>

/* ---- RPNHead ------------------------------------------------------------------------ */

int rpn_head_build(struct rpn_head *h, const struct spec *s, struct binder *b)
{
    memset(h, 0, sizeof *h);
    int C = s->fpn_out;
    int A = s->n_sizes[0] * s->n_ratios[0];
    for (int l = 1; l < s->n_levels; l++) MODEL_ASSERT(s->n_sizes[l] * s->n_ratios[l] == A);
    h->A = A;
    h->depth = s->rpn_conv_depth > 0 ? s->rpn_conv_depth : 1;
    MODEL_ASSERT(h->depth <= SPEC_MAX_HEAD_CONVS);
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

/* conv into a new map from the pass's arena */
static struct fmap conv_new(struct run *r, const struct conv *cv, const struct fmap *in)
{
    int oh, ow;
    conv_out_size(cv, in->h, in->w, &oh, &ow);
    struct fmap out = arena_fmap(r->arena, cv->cout, oh, ow);
    conv_forward(cv, in, &out, r->arena);
    return out;
}

void rpn_head_forward(const struct rpn_head *h, struct run *r, const struct fmap *f,
                      struct fmap *logits, struct fmap *deltas)
{
    struct fmap t = *f;
    for (int i = 0; i < h->depth; i++) t = conv_new(r, &h->conv[i], &t);
    struct fmap p = conv_new(r, &h->pred, &t);
    size_t hw = (size_t)p.h * p.w;
    *logits = (struct fmap){ p.d, h->A, p.h, p.w };
    *deltas = (struct fmap){ p.d + (size_t)h->A * hw, 4 * h->A, p.h, p.w };
}

/* ---- flattening and filter_proposals ------------------------------------------------ */

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
 * 1 / (1 + exp(-x)) in f32 with torch's own exp (torch_expf). Remove-small keeps w >= 1e-3f and h >= 1e-3f;
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

    /* 6. NMS per level. torchvision passes the threshold as a Python float: the
     * params hold it as a double and compare in double (§4.1). */
    int nk = batched_nms(boxes, scores, lvl, kept, p->nms_thresh, keep, scratch);

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

/* ---- RegionProposalNetwork.forward ------------------------------------------------- */

int rpn_forward(struct model *m, struct run *r, const struct fmap *feats, int nfeat,
                const struct image_sizes *z, struct proposals *out)
{
    const struct spec *s = &m->spec;
    struct model_timing *tm = &m->timing;
    double t = ops_now_ms();
    /* the head on every level, flattened in (y, x, a) order */
    if (anchors_forward(m, feats, nfeat, z)) return -1;
    int N = m->n_anchors;
    float *obj = arena_floats(r->arena, (size_t)N);
    float *del = arena_floats(r->arena, (size_t)N * 4);
    for (int l = 0, off = 0; l < nfeat; l++) {
        struct fmap lg, dl;
        struct arena_mark mk = arena_mark(r->arena);
        rpn_head_forward(&m->rpn, r, &feats[l], &lg, &dl);
        rpn_flatten(&lg, &dl, m->rpn.A, obj + off, del + (size_t)off * 4);
        arena_rewind(r->arena, mk);
        off += m->level_counts[l];
    }
    tm->rpn_head = ops_now_ms() - t;

    t = ops_now_ms();
    float *decoded = arena_floats(r->arena, (size_t)N * 4);
    box_decode(m->anchors, del, N, 4, s->rpn_coder, decoded);
    /* at most post_nms_top_n of the top-k candidates come out: sized by those */
    int post = 0;
    for (int l = 0; l < nfeat; l++)
        post += m->level_counts[l] < s->p.rpn_pre_nms_top_n_test ? m->level_counts[l]
                                                                  : s->p.rpn_pre_nms_top_n_test;
    if (post > s->p.rpn_post_nms_top_n_test) post = s->p.rpn_post_nms_top_n_test;
    out->boxes = arena_floats(r->arena, (size_t)post * 4 + 4);
    out->scores = arena_floats(r->arena, (size_t)post + 1);
    struct rpn_params rp = { s->p.rpn_pre_nms_top_n_test, post, s->p.rpn_nms_thresh,
                             s->p.rpn_score_thresh };
    out->n = rpn_filter_proposals(decoded, obj, m->level_counts, nfeat, z->rh, z->rw, &rp,
                                  out->boxes, out->scores, r->arena);
    tm->rpn_proposals = ops_now_ms() - t;
    return 0;
}
