/*
 * test_coco.c — app/coco.c, the COCOeval arithmetic of `vdetect eval`, on
 * small hand-made cases whose AP is derived by hand in the comments.
 *
 * Reminders for the derivations (pycocotools' COCOeval, bbox, area all):
 * - the IoU thresholds are .50, .55, ..., .95 (ap[0] = AP50, ap[5] = AP75); a
 *   detection matches a ground truth box when IoU >= the threshold;
 * - detections of a category are ranked by score over all images; each one is
 *   a TP (matched), an FP (not matched) or skipped (matched to a crowd box);
 *   after each kept one, recall = TP / #gt and precision = TP / (TP + FP);
 * - precision is made non-increasing from the right (p[i] = max(p[i..])), then
 *   sampled at the 101 recall points R = 0, .01, ..., 1: at each R the first
 *   entry with recall >= R, 0 when recall never reaches R; AP is the mean of
 *   the 101 samples. So AP = (sum of the samples) / 101.
 * - precision is TP / (TP + FP + 2^-52) in pycocotools, so a "1" is 1 - 2^-52:
 *   the checks allow 1e-12.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../app/coco.h"
#include "check.h"

#define EPS 1e-12

static struct coco *truth(const char *json)
{
    struct coco *c = coco_parse_truth(json, strlen(json), "test");
    CHECK(c != NULL, "truth should load: %s", json);
    return c;
}

static void det(struct coco *c, int img, int label, float x1, float y1, float x2, float y2,
                float score)
{
    struct model_detection d = { .box = { x1, y1, x2, y2 }, .score = score, .label = label };
    CHECK(coco_add_detection(c, img, &d) == 0, "detection of label %d should be added", label);
}

/* ap[0..10) of category index cat against expected[0..10) */
static void check_ap(const struct coco *c, int cat, const double *expected, const char *what)
{
    const struct coco_category *k = coco_category(c, cat);
    for (int t = 0; t < COCO_NT; t++)
        CHECK(fabs(k->ap[t] - expected[t]) < EPS, "%s: AP at threshold %d is %.17g, expected %.17g",
              what, t, k->ap[t], expected[t]);
}

static void all_ap(double *v, double x)
{
    for (int t = 0; t < COCO_NT; t++)
        v[t] = x;
}

/* One image, one box, one detection exactly on it: IoU 1, a TP at every
 * threshold; recall 1, precision 1 -> all 101 samples 1 -> AP 1 everywhere. */
static void test_perfect(void)
{
    struct coco *c = truth("{\"images\": [{\"id\": 1, \"file_name\": \"a.png\"}], "
                           "\"annotations\": [{\"image_id\": 1, \"category_id\": 1, "
                           "\"bbox\": [0, 0, 10, 10]}], \"categories\": [{\"id\": 1}]}");
    if (!c)
        return;
    det(c, 0, 1, 0, 0, 10, 10, 0.9f);
    CHECK(coco_evaluate(c) == 0, "evaluate");
    double e[COCO_NT];
    all_ap(e, 1);
    check_ap(c, 0, e, "perfect");
    struct coco_summary s = coco_summary(c);
    CHECK(s.ncat == 1 && fabs(s.ap - 1) < EPS && fabs(s.ap50 - 1) < EPS && fabs(s.ap75 - 1) < EPS,
          "perfect: summary %g %g %g over %d", s.ap, s.ap50, s.ap75, s.ncat);
    CHECK(coco_category(c, 0)->ngt == 1 && coco_category(c, 0)->ndet == 1, "perfect: counts");
    coco_free(c);
}

/* gt [0, 0, 100, 100] (area 10000); detection x1 y1 x2 y2 = 0 0 100 62: the
 * overlap is 100 x 62 = 6200, the union 10000, IoU 0.62. A TP at .50, .55, .60
 * (AP 1 there, as above), an FP from .65 on: recall 0, precision 0 -> the sample
 * at R = 0 is 0 and recall never reaches R > 0 -> AP 0. AP@[.5:.95] = 3/10,
 * AP50 = 1, AP75 = 0.
 * The same with detection 0 0 100 50: IoU 5000/10000 = 0.5 exactly, a TP at
 * .50 only: AP = 1/10. */
static void test_partial_overlap(void)
{
    const char *t = "{\"images\": [{\"id\": 1, \"file_name\": \"a.png\"}], "
                    "\"annotations\": [{\"image_id\": 1, \"category_id\": 1, "
                    "\"bbox\": [0, 0, 100, 100]}], \"categories\": [{\"id\": 1}]}";
    struct coco *c = truth(t);
    if (!c)
        return;
    det(c, 0, 1, 0, 0, 100, 62, 0.9f);
    CHECK(coco_evaluate(c) == 0, "evaluate");
    double e[COCO_NT] = { 1, 1, 1, 0, 0, 0, 0, 0, 0, 0 };
    check_ap(c, 0, e, "IoU 0.62");
    struct coco_summary s = coco_summary(c);
    CHECK(fabs(s.ap - 0.3) < EPS && fabs(s.ap50 - 1) < EPS && fabs(s.ap75) < EPS,
          "IoU 0.62: AP %.17g AP50 %.17g AP75 %.17g, expected 0.3 1 0", s.ap, s.ap50, s.ap75);
    CHECK(fabs(coco_mean_ap(coco_category(c, 0)->ap) - 0.3) < EPS, "IoU 0.62: mean AP");
    coco_free(c);

    if (!(c = truth(t)))
        return;
    det(c, 0, 1, 0, 0, 100, 50, 0.9f);
    CHECK(coco_evaluate(c) == 0, "evaluate");
    double h[COCO_NT] = { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    check_ap(c, 0, h, "IoU 0.5");
    CHECK(fabs(coco_summary(c).ap - 0.1) < EPS, "IoU 0.5: AP %.17g, expected 0.1",
          coco_summary(c).ap);
    coco_free(c);
}

/* One box G = [0, 0, 10, 10]; an FP far away (score .9) ranked above a TP on G
 * (score .8). After the FP: recall 0, precision 0; after the TP: recall 1,
 * precision 1/2. Made non-increasing: 1/2, 1/2. Every R in 0..1 takes the
 * first entry with recall >= R: R = 0 the first (1/2), R > 0 the second (1/2):
 * all 101 samples 1/2 -> AP 0.5 at every threshold (IoUs are 1 and 0). */
static void test_fp_above_tp(void)
{
    struct coco *c = truth("{\"images\": [{\"id\": 1, \"file_name\": \"a.png\"}], "
                           "\"annotations\": [{\"image_id\": 1, \"category_id\": 1, "
                           "\"bbox\": [0, 0, 10, 10]}], \"categories\": [{\"id\": 1}]}");
    if (!c)
        return;
    det(c, 0, 1, 50, 50, 60, 60, 0.9f);
    det(c, 0, 1, 0, 0, 10, 10, 0.8f);
    CHECK(coco_evaluate(c) == 0, "evaluate");
    double e[COCO_NT];
    all_ap(e, 0.5);
    check_ap(c, 0, e, "FP above TP");
    coco_free(c);
}

/* Two boxes G1 = [0, 0, 10, 10], G2 = [20, 20, 10, 10]; ranked TP on G1 (.9),
 * then `second` (.8, an FP), then TP on G2 (.7): recall 1/2, 1/2, 1; precision
 * 1, 1/2, 2/3 -> non-increasing 1, 2/3, 2/3. R = 0 .. .50 (51 points: 50 * .01
 * is exactly .5 in doubles) take the first entry: 1; R = .51 .. 1 (50 points)
 * the third: 2/3. AP = (51 + 50 * 2/3) / 101 at every threshold. The FP is a
 * box far away, or a duplicate on G1 (G1 is taken: a second match is an FP). */
static void test_interpolation(const char *what, float x1, float y1, float x2, float y2)
{
    struct coco *c = truth("{\"images\": [{\"id\": 1, \"file_name\": \"a.png\"}], "
                           "\"annotations\": ["
                           "{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 10, 10]},"
                           "{\"image_id\": 1, \"category_id\": 1, \"bbox\": [20, 20, 10, 10]}],"
                           " \"categories\": [{\"id\": 1}]}");
    if (!c)
        return;
    det(c, 0, 1, 0, 0, 10, 10, 0.9f);
    det(c, 0, 1, x1, y1, x2, y2, 0.8f);
    det(c, 0, 1, 20, 20, 30, 30, 0.7f);
    CHECK(coco_evaluate(c) == 0, "evaluate");
    double e[COCO_NT];
    all_ap(e, (51 + 50 * (2.0 / 3)) / 101);
    check_ap(c, 0, e, what);
    coco_free(c);
}

/* Three boxes, one TP: recall 1/3, precision 1. R = 0 .. .33 (34 points; .33 <
 * 1/3 < .34) sample 1, recall never reaches R >= .34 (67 points: 0). AP = 34/101.
 * The two missed boxes are in a second image (id 2) with no detection at all. */
static void test_recall_third(void)
{
    struct coco *c = truth("{\"images\": [{\"id\": 2, \"file_name\": \"b.png\"}, "
                           "{\"id\": 1, \"file_name\": \"a.png\"}], \"annotations\": ["
                           "{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 10, 10]},"
                           "{\"image_id\": 2, \"category_id\": 1, \"bbox\": [0, 0, 10, 10]},"
                           "{\"image_id\": 2, \"category_id\": 1, \"bbox\": [20, 20, 10, 10]}],"
                           " \"categories\": [{\"id\": 1}]}");
    if (!c)
        return;
    /* images are indexed by ascending id: index 0 is id 1, a.png */
    CHECK(coco_num_images(c) == 2 && coco_image(c, 0)->id == 1 &&
          !strcmp(coco_image(c, 0)->file, "a.png") && coco_image(c, 1)->id == 2,
          "images in ascending id order");
    det(c, 0, 1, 0, 0, 10, 10, 0.9f);
    CHECK(coco_evaluate(c) == 0, "evaluate");
    double e[COCO_NT];
    all_ap(e, 34.0 / 101);
    check_ap(c, 0, e, "recall 1/3");
    coco_free(c);
}

/* iscrowd: image 1 has G1 = [0, 0, 10, 10] and a crowd box [50, 50, 40, 40];
 * image 2 has G2 = [0, 0, 10, 10] and a crowd box [50, 50, 40, 40] that no
 * detection touches. Detections: 60 60 70 70 in image 1 (.95): inside the crowd
 * box; IoU against a crowd box is over the detection's own area, 100/100 = 1, so
 * it matches the crowd box and is skipped (neither TP nor FP; against a normal
 * box it would be 100/1600 and an FP). Then TPs on G1 (.9) and G2 (.8). The
 * crowd boxes are not ground truth to find: #gt = 2. Kept: TP, TP -> recall 1/2,
 * 1, precision 1, 1 -> AP 1 everywhere (an FP or a miss would lower it). */
static void test_crowd(void)
{
    struct coco *c = truth("{\"images\": [{\"id\": 1, \"file_name\": \"a.png\"}, "
                           "{\"id\": 2, \"file_name\": \"b.png\"}], \"annotations\": ["
                           "{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 10, 10]},"
                           "{\"image_id\": 1, \"category_id\": 1, \"bbox\": [50, 50, 40, 40], "
                           "\"iscrowd\": 1},"
                           "{\"image_id\": 2, \"category_id\": 1, \"bbox\": [50, 50, 40, 40], "
                           "\"iscrowd\": 1},"
                           "{\"image_id\": 2, \"category_id\": 1, \"bbox\": [0, 0, 10, 10]}],"
                           " \"categories\": [{\"id\": 1}]}");
    if (!c)
        return;
    CHECK(coco_category(c, 0)->ngt == 2, "crowd: %d boxes to find, expected 2",
          coco_category(c, 0)->ngt);
    det(c, 0, 1, 60, 60, 70, 70, 0.95f);
    det(c, 0, 1, 0, 0, 10, 10, 0.9f);
    det(c, 1, 1, 0, 0, 10, 10, 0.8f);
    CHECK(coco_evaluate(c) == 0, "evaluate");
    double e[COCO_NT];
    all_ap(e, 1);
    check_ap(c, 0, e, "crowd");
    coco_free(c);
}

/* Four categories, one image:
 *   1: G [0, 0, 10, 10] and a perfect detection     -> AP 1
 *   2: no ground truth, one detection              -> no AP (-1), not in the mean
 *   3: G [20, 20, 10, 10], no detection            -> AP 0 (recall never above 0)
 *   4: only a crowd box, one detection on it       -> nothing to find: no AP
 *   5: G and a perfect detection, but left out with coco_set_evaluated -> no AP
 * A detection of label 9 (no category) is not added. The means are over
 * categories 1 and 3: AP = AP50 = AP75 = (1 + 0) / 2. */
static void test_categories(void)
{
    struct coco *c = truth("{\"images\": [{\"id\": 1, \"file_name\": \"a.png\"}], "
                           "\"annotations\": ["
                           "{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 10, 10]},"
                           "{\"image_id\": 1, \"category_id\": 3, \"bbox\": [20, 20, 10, 10]},"
                           "{\"image_id\": 1, \"category_id\": 4, \"bbox\": [40, 40, 10, 10], "
                           "\"iscrowd\": 1},"
                           "{\"image_id\": 1, \"category_id\": 5, \"bbox\": [60, 60, 10, 10]}],"
                           " \"categories\": [{\"id\": 1, \"name\": \"one\"}, {\"id\": 2}, "
                           "{\"id\": 3}, {\"id\": 4}, {\"id\": 5}]}");
    if (!c)
        return;
    CHECK(coco_num_categories(c) == 5 && !strcmp(coco_category(c, 0)->name, "one") &&
          coco_category(c, 1)->name == NULL, "categories and names");
    det(c, 0, 1, 0, 0, 10, 10, 0.9f);
    det(c, 0, 2, 0, 0, 10, 10, 0.9f);
    det(c, 0, 4, 40, 40, 50, 50, 0.9f);
    det(c, 0, 5, 60, 60, 70, 70, 0.9f);
    struct model_detection other = { .box = { 0, 0, 10, 10 }, .score = 0.9f, .label = 9 };
    CHECK(coco_add_detection(c, 0, &other) == 1, "label 9 is no category: not added");
    coco_set_evaluated(c, 4, 0);
    CHECK(coco_evaluate(c) == 0, "evaluate");
    double one[COCO_NT], none[COCO_NT], zero[COCO_NT];
    all_ap(one, 1);
    all_ap(none, -1);
    all_ap(zero, 0);
    check_ap(c, 0, one, "category 1");
    check_ap(c, 1, none, "category 2 (no ground truth)");
    check_ap(c, 2, zero, "category 3 (no detection)");
    check_ap(c, 3, none, "category 4 (crowd only)");
    check_ap(c, 4, none, "category 5 (not evaluated)");
    CHECK(coco_category(c, 1)->ndet == 1 && coco_category(c, 2)->ndet == 0 &&
          coco_category(c, 3)->ngt == 0, "category counts");
    struct coco_summary s = coco_summary(c);
    CHECK(s.ncat == 2 && fabs(s.ap - 0.5) < EPS && fabs(s.ap50 - 0.5) < EPS &&
          fabs(s.ap75 - 0.5) < EPS, "categories: summary %.17g %.17g %.17g over %d, expected 0.5 "
          "over 2", s.ap, s.ap50, s.ap75, s.ncat);
    coco_free(c);

    /* nothing with ground truth: the means are -1 */
    if (!(c = truth("{\"images\": [], \"annotations\": [], \"categories\": [{\"id\": 1}]}")))
        return;
    CHECK(coco_evaluate(c) == 0, "evaluate");
    s = coco_summary(c);
    CHECK(s.ncat == 0 && s.ap == -1 && s.ap50 == -1 && s.ap75 == -1, "no ground truth: -1");
    coco_free(c);
}

/* 100 detections per image and category count. One box G = [0, 0, 10, 10].
 * nfp FPs (boxes far away, scores above the TP's) and then a TP on G:
 * - nfp = 99: the TP is the 100th and counts: recall 0 (x99) then 1, precision
 *   0 (x99) then 1/100 -> non-increasing: all 1/100; every sample 1/100 -> AP .01;
 * - nfp = 100: the TP is the 101st and is dropped: all FPs, recall 0 -> AP 0.
 * With nfp = 100 FPs of another category instead, the TP counts (the limit is
 * per category): AP 1. */
static void test_max_dets(int nfp, int other_label, double expected)
{
    struct coco *c = truth("{\"images\": [{\"id\": 1, \"file_name\": \"a.png\"}], "
                           "\"annotations\": [{\"image_id\": 1, \"category_id\": 1, "
                           "\"bbox\": [0, 0, 10, 10]}], \"categories\": [{\"id\": 1}, {\"id\": 2}]}");
    if (!c)
        return;
    for (int i = 0; i < nfp; i++)
        det(c, 0, other_label, 500 + i, 500, 510 + i, 510, 0.99f - 0.001f * (float)i);
    det(c, 0, 1, 0, 0, 10, 10, 0.5f);
    CHECK(coco_evaluate(c) == 0, "evaluate");
    double e[COCO_NT];
    all_ap(e, expected);
    char what[64];
    snprintf(what, sizeof what, "%d FPs of label %d before the TP", nfp, other_label);
    check_ap(c, 0, e, what);
    coco_free(c);
}

/* Ties: two detections of equal score, the FP added first. Equal scores rank in
 * the order added, so the FP comes first: AP 0.5 as in test_fp_above_tp. */
static void test_tie_order(void)
{
    struct coco *c = truth("{\"images\": [{\"id\": 1, \"file_name\": \"a.png\"}], "
                           "\"annotations\": [{\"image_id\": 1, \"category_id\": 1, "
                           "\"bbox\": [0, 0, 10, 10]}], \"categories\": [{\"id\": 1}]}");
    if (!c)
        return;
    det(c, 0, 1, 50, 50, 60, 60, 0.8f);
    det(c, 0, 1, 0, 0, 10, 10, 0.8f);
    CHECK(coco_evaluate(c) == 0, "evaluate");
    double e[COCO_NT];
    all_ap(e, 0.5);
    check_ap(c, 0, e, "tie, FP first");
    coco_free(c);
}

/* The truth file's checks and the image lookup by path. */
static void test_loading(void)
{
    static const char *bad[] = {
        "[1, 2]",
        "{\"images\": [], \"annotations\": []}",
        "{\"images\": [{\"id\": 1, \"file_name\": \"../a.png\"}], \"annotations\": [], "
        "\"categories\": []}",
        "{\"images\": [{\"id\": 1, \"file_name\": \"x/../../a.png\"}], \"annotations\": [], "
        "\"categories\": []}",
        "{\"images\": [{\"id\": 1, \"file_name\": \"/etc/passwd\"}], \"annotations\": [], "
        "\"categories\": []}",
        "{\"images\": [{\"id\": 1, \"file_name\": \"a\"}, {\"id\": 1, \"file_name\": \"b\"}], "
        "\"annotations\": [], \"categories\": []}",
        "{\"images\": [], \"annotations\": [], \"categories\": [{\"id\": 3}, {\"id\": 3}]}",
        "{\"images\": [{\"id\": 1, \"file_name\": \"a\"}], \"annotations\": [{\"image_id\": 2, "
        "\"category_id\": 1, \"bbox\": [0, 0, 1, 1]}], \"categories\": [{\"id\": 1}]}",
        "{\"images\": [{\"id\": 1, \"file_name\": \"a\"}], \"annotations\": [{\"image_id\": 1, "
        "\"category_id\": 2, \"bbox\": [0, 0, 1, 1]}], \"categories\": [{\"id\": 1}]}",
        "{\"images\": [{\"id\": 1, \"file_name\": \"a\"}], \"annotations\": [{\"image_id\": 1, "
        "\"category_id\": 1, \"bbox\": [0, 0, -1, 1]}], \"categories\": [{\"id\": 1}]}",
        "{\"images\": [{\"id\": 1, \"file_name\": \"a\"}], \"annotations\": [{\"image_id\": 1, "
        "\"category_id\": 1, \"bbox\": [0, 0, 1]}], \"categories\": [{\"id\": 1}]}",
    };
    fprintf(stderr, "(test_coco: %zu refused truth files follow)\n", sizeof bad / sizeof *bad);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct coco *c = coco_parse_truth(bad[i], strlen(bad[i]), "bad");
        CHECK(c == NULL, "refused: %s", bad[i]);
        coco_free(c);
    }
    struct coco *c = truth("{\"images\": [{\"id\": 5, \"file_name\": \"dir/a.png\", \"width\": 64,"
                           " \"height\": 48}, {\"id\": 4, \"file_name\": \"./b.png\"}], "
                           "\"annotations\": [], \"categories\": []}");
    if (!c)
        return;
    /* index 0 is id 4 ("./b.png"), index 1 id 5 */
    CHECK(coco_find_image(c, "/data/dir/a.png") == 1, "find by trailing components");
    CHECK(coco_find_image(c, "dir/a.png") == 1, "find by the whole name");
    CHECK(coco_find_image(c, "xdir/a.png") == -1, "a partial component does not match");
    CHECK(coco_find_image(c, "a.png") == -1, "fewer components do not match");
    CHECK(coco_find_image(c, "x/./b.png") == 0, "find ./b.png");
    CHECK(coco_image(c, 1)->width == 64 && coco_image(c, 1)->height == 48 &&
          coco_image(c, 0)->width == 0, "image sizes");
    CHECK(coco_image(c, 2) == NULL && coco_category(c, 0) == NULL, "out of range");
    coco_free(c);
}

/* What the JSON reading (jansson) must refuse, and what it must still take. */
static void test_json(void)
{
    static const char *bad[] = {
        "{\"images\": [], \"images\": [], \"annotations\": [], \"categories\": []}",
        "{\"images\": [{\"id\": 1, \"file_name\": \"a\\u0000b\"}], \"annotations\": [], "
        "\"categories\": []}",
        "{\"images\": [{\"id\": 1, \"file_name\": \"a\xff\"}], \"annotations\": [], "
        "\"categories\": []}",
        "{\"images\": [{\"id\": 1e400, \"file_name\": \"a\"}], \"annotations\": [], "
        "\"categories\": []}",
        "{\"images\": [{\"id\": 1.5, \"file_name\": \"a\"}], \"annotations\": [], "
        "\"categories\": []}",
        "{\"images\": [], \"annotations\": [], \"categories\": [],}",
        "5",
        "",
    };
    fprintf(stderr, "(test_coco: %zu refused JSON texts follow)\n", sizeof bad / sizeof *bad);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct coco *c = coco_parse_truth(bad[i], strlen(bad[i]), "bad");
        CHECK(c == NULL, "refused: %s", bad[i]);
        coco_free(c);
    }
    /* integral reals are integers (as pycocotools' json.load has them); the text is
     * read to its length only */
    const char *ok = "{\"images\": [{\"id\": 2.0, \"file_name\": \"a\", \"width\": 6.4e2}], "
                     "\"annotations\": [{\"image_id\": 2, \"category_id\": 1e0, \"bbox\": [0, 0, "
                     "1.5, 2]}], \"categories\": [{\"id\": 1}]}garbage";
    struct coco *c = coco_parse_truth(ok, strlen(ok) - 7, "ok");
    CHECK(c && coco_num_images(c) == 1 && coco_image(c, 0)->id == 2 &&
          coco_image(c, 0)->width == 640 && coco_category(c, 0)->ngt == 1, "integral reals");
    coco_free(c);

    /* hostile: 4 MB of empty objects would cost jansson ~290 MB; deep nesting */
    size_t n = (size_t)4 << 20;
    char *h = malloc(n);
    if (h) {
        h[0] = '[';
        for (size_t i = 1; i + 3 <= n; i += 3)
            memcpy(h + i, i + 6 <= n ? "{}," : "{}]", 3);
        size_t len = 1 + (n - 1) / 3 * 3;
        fprintf(stderr, "(test_coco: a hostile file, then a deep one)\n");
        c = coco_parse_truth(h, len, "hostile");
        CHECK(c == NULL, "4 MB of empty objects: refused on the memory budget");
        coco_free(c);
        size_t d = 100000;
        memset(h, '[', d);
        memset(h + d, ']', d);
        c = coco_parse_truth(h, 2 * d, "deep");
        CHECK(c == NULL, "100000 nested arrays: refused");
        coco_free(c);
        free(h);
    }
}


/* ---- what detect and annotate write, read back (coco_parse_detections, _results) ----------- */

/* The hand-checked case of tests/test_demo.sh as frames: frame 0 (a) has a box and
 * a crowd box, frame 1 (b) two boxes. Frame 0: a det inside the crowd box
 * (ignored), a perfect hit, a det of a category without truth and one of an
 * unknown label (not scored). Frame 1: a hit (0.8), a miss (0.7) and a box with
 * IoU exactly 0.5 (a hit at .50 only). Ranked: TP TP FP TP(.50)/FP(>.50) ->
 * precision 1, 1, 2/3, 3/4 at recall 1/3, 2/3, 2/3, 1: AP50 = (67 + 34 * 0.75)
 * / 101, every other threshold 67 / 101 (recall stops at 2/3). */
#define FRAMES_TRUTH(IMG0, IMG1)                                                              \
    "{\"images\": [" IMG1 ", " IMG0 "], \"annotations\": ["                                   \
    "{\"image_id\": 3, \"category_id\": 1, \"bbox\": [0, 0, 10, 10], \"iscrowd\": 0},"       \
    "{\"image_id\": 3, \"category_id\": 1, \"bbox\": [30, 30, 20, 20], \"iscrowd\": 1},"     \
    "{\"image_id\": 7, \"category_id\": 1, \"bbox\": [0, 0, 10, 10], \"iscrowd\": 0},"       \
    "{\"image_id\": 7, \"category_id\": 1, \"bbox\": [20, 20, 10, 10], \"iscrowd\": 0}],"    \
    "\"categories\": [{\"id\": 1, \"name\": \"red circle\"}, {\"id\": 2}]}"

static const char frames_detect[] =
    "{\"image\": \"x/frame_0000.png\", \"detections\": [{\"box\": [35, 35, 45, 45], \"label\": 1, "
    "\"score\": 0.95}, {\"box\": [0, 0, 10, 10], \"label\": 1, \"score\": 0.9}, {\"box\": [1, 1, "
    "5, 5], \"label\": 2, \"score\": 0.5}, {\"box\": [1, 1, 5, 5], \"label\": 9, \"score\": 0.5}]}\n"
    "{\"image\": \"x/frame_0001.png\", \"detections\": [{\"box\": [20, 20, 30, 30], \"label\": 1, "
    "\"score\": 0.8}, {\"box\": [50, 50, 55, 55], \"label\": 1, \"score\": 0.7}, {\"box\": [0, 0, "
    "10, 5], \"label\": 1, \"score\": 0.6}]}\n";
/* annotate --json: the same, by frame, with its other fields; frame 2 is held and
 * has no truth image (skipped, with a note) */
static const char frames_annotate[] =
    "{\"frame\": 0, \"pts\": 0, \"width\": 100, \"height\": 100, \"detections\": [{\"box\": [35, "
    "35, 45, 45], \"label\": 1, \"name\": \"red circle\", \"score\": 0.95}, {\"box\": [0, 0, 10, "
    "10], \"label\": 1, \"name\": null, \"score\": 0.9}, {\"box\": [1, 1, 5, 5], \"label\": 2, "
    "\"name\": null, \"score\": 0.5}, {\"box\": [1, 1, 5, 5], \"label\": 9, \"name\": null, "
    "\"score\": 0.5}]}\n"
    "{\"frame\": 1, \"pts\": 0.04, \"width\": 100, \"height\": 100, \"detections\": [{\"box\": [20, "
    "20, 30, 30], \"label\": 1, \"name\": null, \"score\": 0.8}, {\"box\": [50, 50, 55, 55], "
    "\"label\": 1, \"name\": null, \"score\": 0.7}, {\"box\": [0, 0, 10, 5], \"label\": 1, "
    "\"name\": null, \"score\": 0.6}]}\n"
    "{\"frame\": 2, \"pts\": 0.08, \"width\": 100, \"height\": 100, \"detections\": [{\"box\": [0, "
    "0, 10, 5], \"label\": 1, \"name\": null, \"score\": 0.6}], \"held\": true, \"held_from\": 1}\n";
/* annotate --coco: the same records, bbox [x, y, w, h] */
static const char frames_results[] =
    "[\n{\"image_id\": 0, \"category_id\": 1, \"bbox\": [35, 35, 10, 10], \"score\": 0.95},\n"
    "{\"image_id\": 0, \"category_id\": 1, \"bbox\": [0, 0, 10, 10], \"score\": 0.9},\n"
    "{\"image_id\": 0, \"category_id\": 2, \"bbox\": [1, 1, 4, 4], \"score\": 0.5},\n"
    "{\"image_id\": 0, \"category_id\": 9, \"bbox\": [1, 1, 4, 4], \"score\": 0.5},\n"
    "{\"image_id\": 1, \"category_id\": 1, \"bbox\": [20, 20, 10, 10], \"score\": 0.8},\n"
    "{\"image_id\": 1, \"category_id\": 1, \"bbox\": [50, 50, 5, 5], \"score\": 0.7},\n"
    "{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 10, 5], \"score\": 0.6}\n]\n";

enum frames_format { FROM_DETECT, FROM_ANNOTATE, FROM_RESULTS };

/* The hand-checked AP from truth t and one of the three files. */
static void check_frames_case(const char *t, enum frames_format f, const char *what)
{
    struct coco *c = truth(t);
    if (!c)
        return;
    const char *text = f == FROM_DETECT ? frames_detect : f == FROM_ANNOTATE ? frames_annotate
                                                                             : frames_results;
    int r = f == FROM_RESULTS ? coco_parse_results(c, text, strlen(text), what)
                              : coco_parse_detections(c, text, strlen(text), what);
    CHECK(r == 0, "%s: read", what);
    CHECK(coco_evaluate(c) == 0, "%s: evaluate", what);
    double e[COCO_NT];
    all_ap(e, 67.0 / 101);
    e[0] = (67 + 34 * 0.75) / 101;
    check_ap(c, 0, e, what);
    CHECK(coco_category(c, 1)->ap[0] < 0, "%s: no AP for a category without truth", what);
    CHECK(coco_category(c, 0)->ndet == 5, "%s: 5 detections of category 1, got %d", what,
          coco_category(c, 0)->ndet);
    coco_free(c);
}

static void test_frames(void)
{
    /* frames by file_name number (ids 3 and 7 are not the frames) */
    const char *by_name = FRAMES_TRUTH("{\"id\": 3, \"file_name\": \"frame_0000.png\"}",
                                       "{\"id\": 7, \"file_name\": \"frame_0001.png\"}");
    /* by "frame" field, which wins over the number in the name */
    const char *by_field = FRAMES_TRUTH(
        "{\"id\": 3, \"file_name\": \"frame_0000.png\", \"frame\": 0}",
        "{\"id\": 7, \"file_name\": \"frame_0001.png\", \"frame\": 1}");
    fprintf(stderr, "(test_coco: two notes of a held frame 2 without truth follow)\n");
    check_frames_case(by_name, FROM_DETECT, "detect's JSON Lines");
    check_frames_case(by_name, FROM_ANNOTATE, "annotate's JSON Lines, frames by file_name");
    check_frames_case(by_name, FROM_RESULTS, "annotate's COCO results, frames by file_name");
    check_frames_case(by_field, FROM_ANNOTATE, "annotate's JSON Lines, frames by field");
    check_frames_case(by_field, FROM_RESULTS, "annotate's COCO results, frames by field");

    struct coco *c = truth("{\"images\": [{\"id\": 1, \"file_name\": \"f_0009.png\", \"frame\": 4},"
                           " {\"id\": 2, \"file_name\": \"f_0004.png\"}], \"annotations\": [], "
                           "\"categories\": []}");
    if (c) {
        CHECK(coco_find_frame(c, 4) == 0 && coco_find_frame(c, 9) == -1,
              "a \"frame\" field on any image: only the fields count");
        CHECK(coco_image(c, 1)->frame == -1, "an image without the field has no frame");
        coco_free(c);
    }
    c = truth("{\"images\": [{\"id\": 1, \"file_name\": \"clip2/0017.jpg\"}, {\"id\": 2, "
              "\"file_name\": \"x/shot3_frame12b.png\"}], \"annotations\": [], \"categories\": []}");
    if (c) {
        CHECK(coco_find_frame(c, 17) == 0 && coco_find_frame(c, 12) == 1 &&
              coco_find_frame(c, 2) == -1 && coco_find_frame(c, 3) == -1,
              "the last number of the file's own name");
        coco_free(c);
    }
    fprintf(stderr, "(test_coco: 2 truths that cannot map frames follow)\n");
    c = truth("{\"images\": [{\"id\": 1, \"file_name\": \"a/1.png\"}, {\"id\": 2, "
              "\"file_name\": \"b/1.png\"}], \"annotations\": [], \"categories\": []}");
    if (c) {
        CHECK(coco_find_frame(c, 1) == -2, "two images of frame 1: frames cannot be mapped");
        CHECK(coco_find_frame(c, 1) == -2, "and stays so (reported once)");
        coco_free(c);
    }
    c = truth("{\"images\": [{\"id\": 1, \"file_name\": \"a.png\"}], \"annotations\": [], "
              "\"categories\": []}");
    if (c) {
        const char *l = "{\"frame\": 0, \"detections\": []}\n";
        CHECK(coco_parse_detections(c, l, strlen(l), "lines") == -1,
              "no frame numbers in the truth: annotate's lines refused");
        coco_free(c);
    }
}

/* Files of the wrong kind, and malformed ones, are refused with what they look like. */
static void test_wrong_kind(void)
{
    const char *t = "{\"images\": [{\"id\": 1, \"file_name\": \"frame_0000.png\"}], "
                    "\"annotations\": [], \"categories\": [{\"id\": 1}]}";
    CHECK(coco_sniff(t, strlen(t)) == COCO_KIND_TRUTH, "sniff truth");
    CHECK(coco_sniff(frames_detect, strlen(frames_detect)) == COCO_KIND_DETECT_LINES,
          "sniff detect's lines");
    CHECK(coco_sniff(frames_annotate, strlen(frames_annotate)) == COCO_KIND_ANNOTATE_LINES,
          "sniff annotate's lines");
    CHECK(coco_sniff(frames_results, strlen(frames_results)) == COCO_KIND_RESULTS,
          "sniff COCO results");
    CHECK(coco_sniff("[]", 2) == COCO_KIND_RESULTS, "sniff an empty results array");
    /* a killed annotate: the array without "]" */
    CHECK(coco_sniff(frames_results, strlen(frames_results) - 2) == COCO_KIND_RESULTS,
          "sniff results without their \"]\"");
    const char *report = "{\"weights\": null, \"images\": 2, \"ap\": 0.5, \"per_class\": []}";
    CHECK(coco_sniff(report, strlen(report)) == COCO_KIND_TRUTH ||
          coco_sniff(report, strlen(report)) == COCO_KIND_REPORT, "sniff a report");
    CHECK(coco_sniff("hello\n", 6) == COCO_KIND_UNKNOWN, "sniff text");
    CHECK(strstr(coco_kind_hint(COCO_KIND_ANNOTATE_LINES), "--detections") &&
          strstr(coco_kind_hint(COCO_KIND_RESULTS), "--coco") &&
          strstr(coco_kind_hint(COCO_KIND_TRUTH), "--truth") &&
          !coco_kind_hint(COCO_KIND_UNKNOWN), "hints name the option");

    fprintf(stderr, "(test_coco: 9 refused detection files follow)\n");
    struct coco *c = truth(t);
    if (!c)
        return;
    CHECK(coco_parse_detections(c, frames_results, strlen(frames_results), "r") == -1,
          "COCO results as JSON Lines: refused");
    CHECK(coco_parse_detections(c, t, strlen(t), "t") == -1, "truth as JSON Lines: refused");
    CHECK(coco_parse_results(c, frames_annotate, strlen(frames_annotate), "a") == -1,
          "annotate's lines as COCO results: refused");
    CHECK(coco_parse_results(c, t, strlen(t), "t") == -1, "truth as COCO results: refused");
    CHECK(coco_parse_results(c, frames_results, strlen(frames_results) - 2, "k") == -1,
          "results without \"]\": refused");
    const char *mixed = "{\"frame\": 0, \"detections\": []}\n"
                        "{\"image\": \"frame_0000.png\", \"detections\": []}\n";
    CHECK(coco_parse_detections(c, mixed, strlen(mixed), "m") == -1, "mixed lines: refused");
    const char *twice = "{\"frame\": 0, \"detections\": []}\n{\"frame\": 0, \"detections\": []}\n";
    CHECK(coco_parse_detections(c, twice, strlen(twice), "2") == -1, "a frame twice: refused");
    const char *elsewhere = "{\"frame\": 5, \"detections\": []}\n{\"frame\": 6, \"detections\": []}\n";
    CHECK(coco_parse_detections(c, elsewhere, strlen(elsewhere), "e") == -1,
          "no frame of the truth at all: refused");
    const char *badrec = "[{\"image_id\": 0, \"category_id\": 1, \"bbox\": [0, 0, -1, 1], "
                         "\"score\": 0.5}]";
    CHECK(coco_parse_results(c, badrec, strlen(badrec), "b") == -1, "negative width: refused");
    CHECK(coco_evaluate(c) == 0 && coco_category(c, 0)->ndet == 0,
          "nothing of the refused files was added");
    coco_free(c);
}

int main(void)
{
    test_perfect();
    test_partial_overlap();
    test_fp_above_tp();
    test_interpolation("FP between TPs", 50, 50, 60, 60);
    test_interpolation("duplicate between TPs", 0, 0, 10, 10);
    test_recall_third();
    test_crowd();
    test_categories();
    test_max_dets(99, 1, 0.01);
    test_max_dets(100, 1, 0);
    test_max_dets(100, 2, 1);
    test_tie_order();
    test_loading();
    test_json();
    test_frames();
    test_wrong_kind();
    return check_summary("test_coco");
}
