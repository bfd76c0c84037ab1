/*
 * ties.h — comparing C's detections with torchvision's when the last bits of
 * the two differ, and excusing a difference only where a near-tie proves it.
 *
 * Two correct implementations on two CPUs compute every score and box to within
 * a few ulps, yet a few discrete outcomes hinge on those ulps: which of two
 * overlapping boxes of one class with (almost) equal scores survives the
 * per-class NMS, whether an IoU right at the NMS threshold suppresses, whether a
 * score right at box_score_thresh is kept, and what the detections_per_img cut
 * takes from a tail of near-equal scores. Every other difference is an error.
 *
 * ties_compare() matches each detection of one list to the other (same label,
 * |dscore| <= TIE_MATCH_SCORE, IoU >= 0.99: the end-to-end rule of
 * docs/torchvision-inference.md §10.2) and then tries to explain every unmatched one, using torchvision's
 * box-head candidates (the list its per-class NMS chose from):
 *
 *   swap       a candidate of the same label overlapping it beyond
 *              nms_thresh - TIE_IOU, with a score within TIE_SCORE, is in the
 *              other list instead: the two traded places in NMS;
 *   iou edge   the other list has a same-label box scoring at least as high
 *              whose IoU with it is within TIE_IOU of nms_thresh;
 *   threshold  its score is within TIE_SCORE of box_score_thresh;
 *   knock-on   the other list has an explained difference of the same label,
 *              scoring higher, overlapping it beyond nms_thresh - TIE_IOU: the
 *              box that won a tie there suppressed this one;
 *   cut        the other list is full (detections_per_img) and its last score
 *              is at least this one's minus TIE_SCORE.
 *
 * Knock-ons and cuts are found by iterating to a fixed point. Only differences
 * scoring >= min_score are judged (the others may still explain); the count
 * excused is printed and must stay within max(2, max_excused_frac * compared).
 */
#ifndef VDETECT_TESTS_TIES_H
#define VDETECT_TESTS_TIES_H

#include <stdint.h>

/* Two candidates whose scores differ by less than this can swap order between
 * two correct implementations: about 10x the largest end-to-end score
 * difference measured on matched detections (1.1e-5, ResNet-50-FPN at 800 px;
 * ~1e-6 for the MobileNets and VGG16; every comparison prints its own), and
 * still 10x below the 1e-3 that §10.2 allows a matched score to be off. */
#define TIE_SCORE 1e-4f
/* An IoU this close to the NMS threshold can land on either side of it. */
#define TIE_IOU 1e-4f
/* §10.2's end-to-end match: same label, IoU >= 0.99, |dscore| <= this. */
#define TIE_MATCH_SCORE 1e-3f

/* A list of detections (borrowed), boxes in image pixels, scores descending. */
struct dets {
    const float *box;        /* [n][4] x1, y1, x2, y2 */
    const float *score;      /* [n] */
    const int64_t *label;    /* [n] */
    int n;
};

struct tie_rule {
    float nms_thresh;        /* box_nms_thresh */
    float score_thresh;      /* box_score_thresh */
    int max_det;             /* box_detections_per_img */
    float min_score;         /* judge differences from this score up (0.3) */
    double max_excused_frac; /* bound on excused differences per compared one */
};

struct tie_report {
    int compared;            /* torchvision detections scoring >= min_score */
    int matched;             /* ... of them with a match in C's list */
    int swap, iou_edge, threshold, knock_on, cut;  /* excused, both lists */
    int missing;             /* torchvision's, unmatched and unexplained */
    int extra;               /* C's (>= min_score), unmatched and unexplained */
    int excused_bound;       /* the most differences that may be excused */
    float max_dscore;        /* largest |dscore| over matched pairs */
};

/* Compare C's detections c with torchvision's tv, given torchvision's box-head
 * candidates cand (may have n == 0: then no swap can be proven). Prints every
 * unexplained difference and one summary line prefixed with what. Returns 0
 * when every judged difference is matched or explained and the excused count
 * is within bound, -1 otherwise. */
int ties_compare(const char *what, const struct dets *tv, const struct dets *cand,
                 const struct dets *c, const struct tie_rule *rule, struct tie_report *rep);

/* §10.2's match of two detections (see above); exposed for tests. */
int ties_same(const float *box_a, float score_a, int64_t label_a, const float *box_b,
              float score_b, int64_t label_b);

float ties_iou(const float *a, const float *b);

#endif
