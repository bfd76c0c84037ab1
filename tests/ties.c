/*
 * ties.c — the near-tie rule for end-to-end detection comparisons; see ties.h
 * for what is excused and why.
 */
#include "ties.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum why { WHY_NONE, WHY_SWAP, WHY_IOU_EDGE, WHY_THRESHOLD, WHY_KNOCK_ON, WHY_CUT };

static const char *const why_name[] = { "unexplained", "swap", "iou edge", "threshold",
                                        "knock-on", "cut" };

float ties_iou(const float *a, const float *b)
{
    float iw = fminf(a[2], b[2]) - fmaxf(a[0], b[0]), ih = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    if (iw <= 0 || ih <= 0) return 0;
    float inter = iw * ih;
    float uni = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return uni > 0 ? inter / uni : 0;
}

int ties_same(const float *box_a, float score_a, int64_t label_a, const float *box_b,
              float score_b, int64_t label_b)
{
    if (label_a != label_b || !(fabsf(score_a - score_b) <= TIE_MATCH_SCORE)) return 0;
    if (ties_iou(box_a, box_b) >= 0.99f) return 1;
    /* degenerate boxes (random regressions make zero-height ones, where IoU is
     * 0/0): every coordinate within 0.05 px */
    for (int k = 0; k < 4; k++)
        if (!(fabsf(box_a[k] - box_b[k]) <= 0.05f)) return 0;
    return 1;
}

static int same_at(const struct dets *a, int i, const struct dets *b, int j)
{
    return ties_same(a->box + 4 * i, a->score[i], a->label[i], b->box + 4 * j, b->score[j],
                     b->label[j]);
}

/* index in d of a detection matching entry i of x, or -1 */
static int find_same(const struct dets *x, int i, const struct dets *d)
{
    for (int j = 0; j < d->n; j++)
        if (same_at(x, i, d, j)) return j;
    return -1;
}

/* The candidate C's entry i stands for: the matching one closest in score, or -1. */
static int candidate_of(const struct dets *c, int i, const struct dets *cand)
{
    int best = -1;
    for (int k = 0; k < cand->n; k++)
        if (same_at(c, i, cand, k) &&
            (best < 0 || fabsf(cand->score[k] - c->score[i]) < fabsf(cand->score[best] - c->score[i])))
            best = k;
    return best;
}

/* Entry y of the other list stands for candidate k with (for C's list) the same
 * score to within TIE_SCORE: the other implementation kept k, and computed it
 * as the reference did. */
static int kept_as_computed(const struct dets *cand, int k, const struct dets *other)
{
    for (int y = 0; y < other->n; y++)
        if (same_at(cand, k, other, y) && fabsf(other->score[y] - cand->score[k]) <= TIE_SCORE)
            return 1;
    return 0;
}

/* The first-order reasons a difference (entry i of own, absent from other; side
 * 0: own is torchvision's list, 1: C's) can have; WHY_NONE if none holds. */
static enum why primary(int side, const struct dets *own, int i, const struct dets *other,
                        const struct dets *cand, const struct tie_rule *r)
{
    const float *b = own->box + 4 * i, s = own->score[i];
    const int64_t l = own->label[i];
    if (fabsf(s - r->score_thresh) <= TIE_SCORE) return WHY_THRESHOLD;
    /* the swap is judged on torchvision's values: for C's entry, those of the
     * candidate it stands for, which C must have computed to within TIE_SCORE */
    const float *tb = b;
    float ts = s;
    int self = -1;
    if (side == 1 && cand->n > 0) {
        self = candidate_of(own, i, cand);
        if (self < 0) return WHY_NONE;   /* a box torchvision never had */
        tb = cand->box + 4 * self;
        ts = cand->score[self];
    }
    if (side == 0 || fabsf(ts - s) <= TIE_SCORE) {
        for (int k = 0; k < cand->n; k++) {
            if (k == self || cand->label[k] != l || fabsf(cand->score[k] - ts) > TIE_SCORE) continue;
            const float *kb = cand->box + 4 * k;
            if (ties_same(tb, ts, l, kb, cand->score[k], l) ||
                ties_iou(tb, kb) <= r->nms_thresh - TIE_IOU)
                continue;
            if (kept_as_computed(cand, k, other)) return WHY_SWAP;
        }
    }
    for (int j = 0; j < other->n; j++) {
        if (other->label[j] != l || other->score[j] < ts - TIE_SCORE) continue;
        if (fabsf(ties_iou(tb, other->box + 4 * j) - r->nms_thresh) <= TIE_IOU) return WHY_IOU_EDGE;
    }
    return WHY_NONE;
}

/* Reasons that depend on other explained differences (why_other: the other
 * list's verdicts, WHY_NONE also for matched entries; diff_other: unmatched). */
static enum why secondary(const struct dets *own, int i, const struct dets *other,
                          const unsigned char *diff_other, const unsigned char *why_other,
                          const struct tie_rule *r)
{
    const float *b = own->box + 4 * i, s = own->score[i];
    for (int j = 0; j < other->n; j++) {
        if (!diff_other[j] || why_other[j] == WHY_NONE || other->label[j] != own->label[i])
            continue;
        if (other->score[j] > s - TIE_SCORE && ties_iou(b, other->box + 4 * j) > r->nms_thresh - TIE_IOU)
            return WHY_KNOCK_ON;
    }
    if (other->n >= r->max_det && other->n > 0 && other->score[other->n - 1] >= s - TIE_SCORE)
        return WHY_CUT;
    return WHY_NONE;
}

int ties_compare(const char *what, const struct dets *tv, const struct dets *cand,
                 const struct dets *c, const struct tie_rule *rule, struct tie_report *rep)
{
    static const struct dets none = { 0 };
    if (!cand) cand = &none;
    const struct dets *list[2] = { tv, c };
    unsigned char *diff[2], *why[2];
    struct tie_report z = { 0 };
    *rep = z;
    for (int s = 0; s < 2; s++) {
        diff[s] = calloc((size_t)list[s]->n + 1, 1);
        why[s] = calloc((size_t)list[s]->n + 1, 1);
    }
    for (int s = 0; s < 2; s++) {
        const struct dets *own = list[s], *other = list[!s];
        for (int i = 0; i < own->n; i++) {
            int j = find_same(own, i, other);
            diff[s][i] = j < 0;
            if (j >= 0 && s == 0) {
                float d = fabsf(own->score[i] - other->score[j]);
                if (d > rep->max_dscore) rep->max_dscore = d;
            }
            if (j < 0) why[s][i] = (unsigned char)primary(s, own, i, other, cand, rule);
        }
    }
    for (int changed = 1; changed;) {
        changed = 0;
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < list[s]->n; i++) {
                if (!diff[s][i] || why[s][i] != WHY_NONE) continue;
                enum why w = secondary(list[s], i, list[!s], diff[!s], why[!s], rule);
                if (w != WHY_NONE) why[s][i] = (unsigned char)w, changed = 1;
            }
    }

    int excused = 0;
    for (int s = 0; s < 2; s++) {
        const struct dets *own = list[s];
        for (int i = 0; i < own->n; i++) {
            if (own->score[i] < rule->min_score) continue;
            if (s == 0) rep->compared++;
            if (!diff[s][i]) {
                rep->matched += s == 0;
                continue;
            }
            switch ((enum why)why[s][i]) {
            case WHY_SWAP: rep->swap++; break;
            case WHY_IOU_EDGE: rep->iou_edge++; break;
            case WHY_THRESHOLD: rep->threshold++; break;
            case WHY_KNOCK_ON: rep->knock_on++; break;
            case WHY_CUT: rep->cut++; break;
            case WHY_NONE:
                if (s == 0) rep->missing++;
                else rep->extra++;
                printf("    %s: %s detection %d (label %lld score %.7f box %.2f,%.2f,%.2f,%.2f) has "
                       "no match in %s and no near-tie explains it\n", what,
                       s ? "C" : "torchvision", i, (long long)own->label[i], own->score[i],
                       own->box[4 * i], own->box[4 * i + 1], own->box[4 * i + 2],
                       own->box[4 * i + 3], s ? "torchvision's" : "C's");
                break;
            }
            if (why[s][i] != WHY_NONE) {
                excused++;
                printf("    %s: %s detection %d (label %lld score %.7f) excused: %s\n", what,
                       s ? "C" : "torchvision", i, (long long)own->label[i], own->score[i],
                       why_name[why[s][i]]);
            }
        }
    }
    int bound = (int)(rule->max_excused_frac * rep->compared);
    rep->excused_bound = bound > 2 ? bound : 2;
    printf("  %-24s >=%.2g: %d/%d matched (max|dscore| %.1e); excused %d of at most %d (swap %d, "
           "iou edge %d, threshold %d, knock-on %d, cut %d); unexplained %d torchvision, %d C\n",
           what, rule->min_score, rep->matched, rep->compared, rep->max_dscore, excused,
           rep->excused_bound, rep->swap, rep->iou_edge, rep->threshold, rep->knock_on, rep->cut,
           rep->missing, rep->extra);
    for (int s = 0; s < 2; s++) {
        free(diff[s]);
        free(why[s]);
    }
    return rep->missing || rep->extra || excused > rep->excused_bound ? -1 : 0;
}
