/*
 * test_ties.c — the near-tie rule of ties.c both ways: constructed ties that two
 * correct implementations can resolve differently are excused (a swap in the
 * per-class NMS, its knock-on, an IoU at the threshold, a score at
 * box_score_thresh, the detections_per_img cut), while a real error of 1e-3 in
 * a score, a wrong box, a dropped or an invented detection is not.
 */
#include "check.h"
#include "ties.h"

#include <string.h>

enum { MAXN = 16 };

struct list {
    float box[MAXN][4];
    float score[MAXN];
    int64_t label[MAXN];
    int n;
};

static void add(struct list *l, float x1, float y1, float x2, float y2, float score, int label)
{
    float *b = l->box[l->n];
    b[0] = x1, b[1] = y1, b[2] = x2, b[3] = y2;
    l->score[l->n] = score;
    l->label[l->n] = label;
    l->n++;
}

static struct dets view(const struct list *l)
{
    struct dets d = { &l->box[0][0], l->score, l->label, l->n };
    return d;
}

/* max_excused_frac 1: the bound itself is tested last */
static const struct tie_rule rule = { 0.5f, 0.05f, 100, 0.3f, 1.0 };

static int compare(const char *what, const struct list *tv, const struct list *cand,
                   const struct list *c, const struct tie_rule *r, struct tie_report *rep)
{
    struct dets a = view(tv), k = view(cand), b = view(c);
    return ties_compare(what, &a, &k, &b, r, rep);
}

/* candidates A, its near-twin B (IoU 0.9, score 5e-7 lower), and D elsewhere */
static void twins(struct list *cand, float b_score)
{
    memset(cand, 0, sizeof *cand);
    add(cand, 10, 10, 110, 110, 0.600000f, 3);       /* A */
    add(cand, 15, 10, 115, 110, b_score, 3);         /* B: IoU(A, B) = 95/105 */
    add(cand, 300, 300, 340, 380, 0.45f, 7);         /* D */
}

int main(void)
{
    struct list tv, c, cand;
    struct tie_report rep;

    /* identical lists */
    twins(&cand, 0.5999995f);
    memset(&tv, 0, sizeof tv);
    add(&tv, 10, 10, 110, 110, 0.6f, 3);
    add(&tv, 300, 300, 340, 380, 0.45f, 7);
    c = tv;
    CHECK(compare("identical", &tv, &cand, &c, &rule, &rep) == 0 && rep.matched == 2 &&
          rep.compared == 2, "identical lists match");

    /* last-bit drift (1e-6 in a score, 1e-3 px) still matches */
    c.score[0] += 1e-6f;
    c.box[1][2] += 1e-3f;
    CHECK(compare("drift", &tv, &cand, &c, &rule, &rep) == 0 && rep.matched == 2, "drift matches");

    /* a near-tie swap: C keeps B (5e-7 below A) where torchvision kept A */
    memset(&c, 0, sizeof c);
    add(&c, 15, 10, 115, 110, 0.5999995f, 3);
    add(&c, 300, 300, 340, 380, 0.45f, 7);
    CHECK(compare("swap", &tv, &cand, &c, &rule, &rep) == 0 && rep.swap == 2 && rep.matched == 1,
          "a near-tie swap is excused (swap %d)", rep.swap);

    /* the same flip when B scores 1e-3 below A: a real score error, not a tie */
    twins(&cand, 0.599f);
    c.score[0] = 0.6f;     /* C computed B 1e-3 too high and kept it */
    CHECK(compare("flip 1e-3", &tv, &cand, &c, &rule, &rep) != 0 && rep.missing == 1,
          "a flip caused by a 1e-3 score error is not excused");

    /* a plain 1e-3-scale score error on a detection */
    c = tv;
    c.score[1] += 2e-3f;
    CHECK(compare("score error", &tv, &cand, &c, &rule, &rep) != 0 && rep.missing == 1 &&
          rep.extra == 1, "a 2e-3 score error is not excused");
    c = tv;
    c.score[1] += 1e-3f * 0.999f;
    CHECK(compare("score 1e-3", &tv, &cand, &c, &rule, &rep) == 0,
          "a score within the 1e-3 of docs/torchvision-inference.md §10.2 matches");

    /* a wrong box, a dropped and an invented detection */
    c = tv;
    c.box[1][0] += 2;
    CHECK(compare("wrong box", &tv, &cand, &c, &rule, &rep) != 0, "a 2 px box error is caught");
    c = tv;
    c.n = 1;
    CHECK(compare("dropped", &tv, &cand, &c, &rule, &rep) != 0 && rep.missing == 1,
          "a dropped detection is caught");
    c = tv;
    add(&c, 200, 10, 260, 90, 0.7f, 3);
    CHECK(compare("invented", &tv, &cand, &c, &rule, &rep) != 0 && rep.extra == 1,
          "an invented detection is caught");

    /* knock-on: S overlaps B beyond the threshold but not A; torchvision keeps
     * A and S, C keeps B, which suppresses S */
    twins(&cand, 0.5999995f);
    add(&cand, 55, 10, 125, 110, 0.5f, 3);     /* S: IoU(B, S) = 60/110, IoU(A, S) = 55/115 */
    memset(&tv, 0, sizeof tv);
    add(&tv, 10, 10, 110, 110, 0.6f, 3);
    add(&tv, 300, 300, 340, 380, 0.45f, 7);
    add(&tv, 55, 10, 125, 110, 0.5f, 3);
    memset(&c, 0, sizeof c);
    add(&c, 15, 10, 115, 110, 0.5999995f, 3);
    add(&c, 300, 300, 340, 380, 0.45f, 7);
    CHECK(compare("knock-on", &tv, &cand, &c, &rule, &rep) == 0 && rep.knock_on == 1 &&
          rep.swap == 2, "the knock-on of a swap is excused (knock-on %d)", rep.knock_on);
    /* ... but S missing with A kept is not a knock-on of anything */
    memset(&c, 0, sizeof c);
    add(&c, 10, 10, 110, 110, 0.6f, 3);
    add(&c, 300, 300, 340, 380, 0.45f, 7);
    CHECK(compare("no knock-on", &tv, &cand, &c, &rule, &rep) != 0 && rep.missing == 1,
          "a missing detection with no tie behind it is caught");

    /* IoU at the NMS threshold: E overlaps A by 0.50002 in torchvision's boxes
     * (kept by C's arithmetic, suppressed by torchvision's) */
    memset(&cand, 0, sizeof cand);
    add(&cand, 10, 10, 110, 110, 0.6f, 3);
    add(&cand, 10, 10, 110, 60.0015f, 0.4f, 3);  /* E: IoU 0.500015 with A */
    memset(&tv, 0, sizeof tv);
    add(&tv, 10, 10, 110, 110, 0.6f, 3);
    c = tv;
    add(&c, 10, 10, 110, 60.0015f, 0.4f, 3);     /* IoU 0.500015 */
    CHECK(compare("iou edge", &tv, &cand, &c, &rule, &rep) == 0 && rep.iou_edge == 1,
          "an IoU within 1e-4 of the threshold is excused");
    c.box[1][3] = cand.box[1][3] = 56.0f;        /* IoU 0.46: NMS keeps it for sure */
    CHECK(compare("iou clear", &tv, &cand, &c, &rule, &rep) != 0 && rep.extra == 1,
          "an IoU clear of the threshold is not");

    /* a score at box_score_thresh (judged from 0 here) */
    struct tie_rule low = rule;
    low.min_score = 0;
    memset(&tv, 0, sizeof tv);
    add(&tv, 10, 10, 110, 110, 0.6f, 3);
    add(&tv, 200, 10, 260, 90, 0.050004f, 5);
    c = tv;
    c.n = 1;
    memset(&cand, 0, sizeof cand);
    CHECK(compare("threshold", &tv, &cand, &c, &low, &rep) == 0 && rep.threshold == 1,
          "a score within TIE_SCORE of box_score_thresh is excused");
    tv.score[1] = 0.0502f;
    CHECK(compare("threshold clear", &tv, &cand, &c, &low, &rep) != 0,
          "a score 2e-4 above the threshold is not");

    /* the detections_per_img cut: with 3 allowed, the knock-on above lets X in */
    struct tie_rule cut = rule;
    cut.max_det = 3;
    cut.max_excused_frac = 2;
    twins(&cand, 0.5999995f);
    add(&cand, 55, 10, 125, 110, 0.5f, 3);     /* S */
    add(&cand, 500, 500, 560, 560, 0.35f, 1);   /* X */
    memset(&tv, 0, sizeof tv);
    add(&tv, 10, 10, 110, 110, 0.6f, 3);
    add(&tv, 55, 10, 125, 110, 0.5f, 3);
    add(&tv, 300, 300, 340, 380, 0.45f, 7);     /* full: X cut */
    memset(&c, 0, sizeof c);
    add(&c, 15, 10, 115, 110, 0.5999995f, 3);
    add(&c, 300, 300, 340, 380, 0.45f, 7);
    add(&c, 500, 500, 560, 560, 0.35f, 1);
    CHECK(compare("cut", &tv, &cand, &c, &cut, &rep) == 0 && rep.cut == 1,
          "an entry let in at the cut by a tie is excused (cut %d)", rep.cut);
    c.score[2] = 0.47f;                          /* scores above torchvision's last */
    CHECK(compare("cut clear", &tv, &cand, &c, &cut, &rep) != 0,
          "an entry above the other list's last score is not");

    /* the bound: ties everywhere are suspicious */
    struct tie_rule tight = rule;
    tight.max_excused_frac = 0;
    twins(&cand, 0.5999995f);
    memset(&tv, 0, sizeof tv);
    add(&tv, 10, 10, 110, 110, 0.6f, 3);
    memset(&c, 0, sizeof c);
    add(&c, 15, 10, 115, 110, 0.5999995f, 3);
    CHECK(compare("bound ok", &tv, &cand, &c, &tight, &rep) == 0, "two excused within max(2, ...)");
    add(&cand, 400, 10, 500, 110, 0.5f, 2);
    add(&cand, 405, 10, 505, 110, 0.4999996f, 2);
    add(&tv, 400, 10, 500, 110, 0.5f, 2);
    add(&c, 405, 10, 505, 110, 0.4999996f, 2);
    CHECK(compare("bound", &tv, &cand, &c, &tight, &rep) != 0,
          "more excused differences than the bound fail");

    return check_summary("test_ties");
}
