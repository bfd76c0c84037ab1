/*
 * test_parity_stages.c — stage-isolation parity of model/'s post-backbone stages
 * against torchvision 0.14 (docs/torchvision-inference.md §10.2).
 *
 * For every case directory under $VDETECT_FIXTURES/parity (written by
 * tests/gen_parity.py) each stage is fed torchvision's own inputs from the dump
 * and its output is compared with torchvision's output:
 *
 *   stage          inputs (dump)                        expected        tolerance
 *   resize         height, width, min/max size          meta resized    exact
 *   transform      input_u8                             transform.npy   abs 1e-6
 *   anchors        rpn_logits_<l> shapes, padded size   anchors         exact
 *   flatten        rpn_logits_<l>, rpn_deltas_<l>       rpn_obj/_del    exact
 *   decode         anchors, rpn_del                     rpn_decoded     1e-3 + 1e-6|x|
 *   proposals      rpn_decoded, rpn_obj                 proposals(+_scores)  boxes exact,
 *                                                       scores 1 ulp, ties as multisets
 *   roi_levels     proposals                            roi_levels      exact
 *   roi_align      fpn_<name>, proposals                roi_pooled      1e-6 max|feat|
 *   postprocess    proposals, class_logits, box_regr.   det_*_resized   labels exact, boxes
 *                                                       1e-3, scores 2e-7, ties permuted
 *   rescale        det_boxes_resized                    det_boxes       exact
 *
 * Parameters per case: the architecture's defaults (§3.6, tabulated
 * here independently of model/spec/spec.c) with meta.txt's `sets` applied; the
 * torchvision values gen_parity.py records in meta.txt are cross-checked.
 *
 * Each case runs in a child process, so a stage that aborts fails its case and
 * the others still run (VDETECT_NOFORK=1 runs in-process, for a debugger;
 * VDETECT_PARITY_CASE=name runs one case).
 */
#include "../model/net/net.h"
#include "check.h"
#include "npy.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_LEVELS 8
#define TIE 1e-6f /* scores this close may legitimately swap places (§10.2) */

/* ---- per-architecture defaults (§3.6) ---------------------------------------- */

struct params {
    float min_size, max_size;
    int nlevels, nsizes;              /* anchor levels; sizes per level */
    float sizes[MAX_LEVELS][5];
    struct rpn_params rpn;
    struct box_params box;
};

static const float RATIOS[3] = {0.5f, 1.0f, 2.0f};

static int arch_defaults(const char *arch, struct params *p)
{
    memset(p, 0, sizeof *p);
    p->min_size = 800;
    p->max_size = 1333;
    p->rpn = (struct rpn_params){1000, 1000, 0.7f, 0.0f};
    static const float coder[4] = { 10.0f, 10.0f, 5.0f, 5.0f };   /* torchvision's BoxCoder */
    p->box = (struct box_params){0.05f, 0.5f, 100, coder};
    if (!strcmp(arch, "fasterrcnn_resnet50_fpn") || !strcmp(arch, "fasterrcnn_resnet50_fpn_v2") ||
        !strcmp(arch, "fasterrcnn_vgg16_fpn")) {
        p->nlevels = 5; /* '0'..'3', 'pool': _default_anchorgen */
        p->nsizes = 1;
        for (int l = 0; l < 5; l++)
            p->sizes[l][0] = (float)(32 << l);
        return 0;
    }
    if (!strcmp(arch, "fasterrcnn_mobilenet_v3_large_fpn") ||
        !strcmp(arch, "fasterrcnn_mobilenet_v3_large_320_fpn")) {
        p->nlevels = 3;
        p->nsizes = 5;
        for (int l = 0; l < 3; l++)
            for (int j = 0; j < 5; j++)
                p->sizes[l][j] = (float)(32 << j);
        p->rpn.score_thresh = 0.05f;
        if (strstr(arch, "_320_")) {
            p->min_size = 320;
            p->max_size = 640;
            p->rpn.pre_nms_top_n = p->rpn.post_nms_top_n = 150;
        }
        return 0;
    }
    return -1;
}

/* Apply meta's `sets` ("-" or "NAME=VALUE ..."). Returns 0 or -1 (message). */
static int apply_sets(struct params *p, const char *sets)
{
    if (!sets || !strcmp(sets, "-"))
        return 0;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", sets);
    char *save = NULL;
    for (char *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(t, '=');
        if (!eq) {
            fprintf(stderr, "sets: '%s' is not NAME=VALUE\n", t);
            return -1;
        }
        *eq = 0;
        char *end;
        double v = strtod(eq + 1, &end);
        if (end == eq + 1 || *end) {
            fprintf(stderr, "sets: bad value for %s\n", t);
            return -1;
        }
        if (!strcmp(t, "min_size"))
            p->min_size = (float)v;
        else if (!strcmp(t, "max_size"))
            p->max_size = (float)v;
        else if (!strcmp(t, "rpn_pre_nms_top_n_test"))
            p->rpn.pre_nms_top_n = (int)v;
        else if (!strcmp(t, "rpn_post_nms_top_n_test"))
            p->rpn.post_nms_top_n = (int)v;
        else if (!strcmp(t, "rpn_nms_thresh"))
            p->rpn.nms_thresh = (float)v;
        else if (!strcmp(t, "rpn_score_thresh"))
            p->rpn.score_thresh = (float)v;
        else if (!strcmp(t, "box_score_thresh"))
            p->box.score_thresh = (float)v;
        else if (!strcmp(t, "box_nms_thresh"))
            p->box.nms_thresh = (float)v;
        else if (!strcmp(t, "box_detections_per_img"))
            p->box.detections_per_img = (int)v;
        else if (strcmp(t, "bn_eps") != 0) { /* bn_eps: backbone only */
            fprintf(stderr, "sets: unknown parameter %s\n", t);
            return -1;
        }
    }
    return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

static const char *g_dir, *g_case;

static int load(const char *name, struct npy *a)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", g_dir, name);
    if (n < 0 || (size_t)n >= sizeof path) {
        fprintf(stderr, "path too long: %s/%s\n", g_dir, name);
        return -1;
    }
    if (npy_load(path, a) != 0)
        return -1;
    if (strcmp(a->dtype, "i8") && strcmp(a->dtype, "u1") && !npy_f32(a)) {
        npy_free(a);
        return -1;
    }
    return 0;
}

static int exists(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    return access(path, R_OK) == 0;
}

/* Distance in units in the last place between two finite floats. */
static int64_t ulp_dist(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    int64_t la = ia < 0 ? (int64_t)INT32_MIN - ia : ia;
    int64_t lb = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
    return la > lb ? la - lb : lb - la;
}

/* max |a - b|, and the number of positions that are not bit-identical. NaNs
 * in the same place count as equal; elsewhere they make the difference inf. */
static double max_abs_diff(const float *a, const float *b, int64_t n, int64_t *ndiff)
{
    double m = 0;
    int64_t nd = 0;
    for (int64_t i = 0; i < n; i++) {
        if (memcmp(&a[i], &b[i], 4) == 0)
            continue;
        if (a[i] == b[i]) /* +0 / -0 */
            continue;
        nd++;
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d))
            d = INFINITY;
        if (d > m)
            m = d;
    }
    if (ndiff)
        *ndiff = nd;
    return m;
}

static double max_abs(const float *a, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(a[i]) > m)
            m = fabs(a[i]);
    return m;
}

static void report(const char *stage, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(const char *stage, int ok, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    printf("  %-18s %-12s %-4s %s\n", g_case, stage, ok ? "ok" : "FAIL", msg);
    fflush(stdout);
    CHECK(ok, "%s: %s: %s", g_case, stage, msg);
}

static float iou(const float *a, const float *b)
{
    float aa = (a[2] - a[0]) * (a[3] - a[1]), ab = (b[2] - b[0]) * (b[3] - b[1]);
    float w = fminf(a[2], b[2]) - fmaxf(a[0], b[0]);
    float h = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    if (w <= 0 || h <= 0)
        return 0;
    float inter = w * h;
    return inter / (aa + ab - inter);
}

/* ---- ranked-list comparison with tie tolerance ---------------------------------- */

/* One ranked list (proposals or detections): n boxes[4], scores, labels (or NULL). */
struct ranked {
    int n;
    const float *boxes, *scores;
    const int64_t *labels;
};

struct match_opts {
    double box_tol;     /* max |Δcoordinate| of a matched pair */
    double score_tol;   /* max |Δscore| of a matched pair */
    int64_t score_ulps; /* and/or ulps (< 0: ignore) */
    double iou_thresh;  /* NMS threshold: a tied overlapping pair may swap survivors */
    int cap;            /* top-n cut-off of the list */
    float score_thresh; /* candidates within TIE of it may flip */
};

struct match_result {
    int in_place, permuted, excused, failed;
    double max_box, max_score;
    int64_t max_ulps;   /* of the scores of matched pairs */
};

static int same_entry(const struct ranked *c, int i, const struct ranked *r, int j,
                      const struct match_opts *o, double *db, double *ds, int64_t *du)
{
    if (c->labels && c->labels[i] != r->labels[j])
        return 0;
    double b = max_abs_diff(&c->boxes[4 * i], &r->boxes[4 * j], 4, NULL);
    double s = fabs((double)c->scores[i] - (double)r->scores[j]);
    if (b > o->box_tol || s > o->score_tol)
        return 0;
    if (o->score_ulps >= 0 && ulp_dist(c->scores[i], r->scores[j]) > o->score_ulps)
        return 0;
    *db = b;
    *ds = s;
    *du = ulp_dist(c->scores[i], r->scores[j]);
    return 1;
}

/* An unmatched entry e of list a is excused when the ranking legitimately may
 * differ there: at the top-n cut-off with a tied score, within TIE of the score
 * threshold, or tied with a *different* overlapping box of list b (same label)
 * that made it instead (which of two tied overlapping boxes survives NMS follows
 * the order of equal scores, §4.4). The same box at a non-tied position is an
 * ordering error, never excused. */
static int excused(const struct ranked *a, int e, const struct ranked *b, const struct match_opts *o)
{
    float s = a->scores[e];
    if (a->n >= o->cap && fabsf(s - a->scores[a->n - 1]) <= TIE)
        return 1;
    if (b->n >= o->cap && b->n > 0 && fabsf(s - b->scores[b->n - 1]) <= TIE)
        return 1;
    if (fabsf(s - o->score_thresh) <= TIE)
        return 1;
    for (int k = 0; k < b->n; k++) {
        if (a->labels && a->labels[e] != b->labels[k])
            continue;
        if (fabsf(b->scores[k] - s) > TIE)
            continue;
        if (max_abs_diff(&a->boxes[4 * e], &b->boxes[4 * k], 4, NULL) <= o->box_tol)
            continue; /* the same entry, out of place */
        if (iou(&a->boxes[4 * e], &b->boxes[4 * k]) > o->iou_thresh)
            return 1;
    }
    return 0;
}

/* Whether C's entry i is one of the stage's real candidates (an excused C entry
 * must be: a box C made up is never excused). NULL: not checked. */
typedef int (*candidate_fn)(const void *ctx, const float *box, float score, int64_t label);

static struct match_result match_ranked(const struct ranked *c, const struct ranked *r,
                                        const struct match_opts *o, candidate_fn is_candidate,
                                        const void *ctx)
{
    struct match_result m = {0};
    unsigned char *mc = calloc((size_t)c->n + 1, 1), *mr = calloc((size_t)r->n + 1, 1);
    MODEL_ASSERT(mc && mr);
    double db, ds;
    int64_t du;
    int n = c->n < r->n ? c->n : r->n;
    for (int i = 0; i < n; i++) {
        if (same_entry(c, i, r, i, o, &db, &ds, &du)) {
            mc[i] = mr[i] = 1;
            m.in_place++;
            m.max_box = fmax(m.max_box, db);
            m.max_score = fmax(m.max_score, ds);
            m.max_ulps = du > m.max_ulps ? du : m.max_ulps;
        }
    }
    /* Out of place: only among scores tied (within TIE) with the reference
     * score at the C entry's position. */
    for (int i = 0; i < c->n; i++) {
        if (mc[i])
            continue;
        float here = r->scores[i < r->n ? i : r->n - 1];
        for (int j = 0; j < r->n; j++) {
            if (mr[j] || fabsf(r->scores[j] - here) > TIE)
                continue;
            if (same_entry(c, i, r, j, o, &db, &ds, &du)) {
                mc[i] = mr[j] = 1;
                m.permuted++;
                m.max_box = fmax(m.max_box, db);
                m.max_score = fmax(m.max_score, ds);
                m.max_ulps = du > m.max_ulps ? du : m.max_ulps;
                break;
            }
        }
    }
    for (int i = 0; i < c->n; i++)
        if (!mc[i]) {
            if (excused(c, i, r, o) &&
                (!is_candidate ||
                 is_candidate(ctx, &c->boxes[4 * i], c->scores[i], c->labels ? c->labels[i] : 0))) {
                m.excused++;
                if (m.excused <= 6)
                    fprintf(stderr, "    %s: excused C entry %d (score %.9g box %.4f %.4f %.4f %.4f "
                            "label %lld)\n", g_case, i, c->scores[i], c->boxes[4 * i],
                            c->boxes[4 * i + 1], c->boxes[4 * i + 2], c->boxes[4 * i + 3],
                            c->labels ? (long long)c->labels[i] : -1LL);
            }
            else {
                m.failed++;
                if (m.failed <= 5)
                    fprintf(stderr, "    %s: C entry %d (score %.9g box %.4f %.4f %.4f %.4f label %lld) "
                            "has no torchvision match\n", g_case, i, c->scores[i], c->boxes[4 * i],
                            c->boxes[4 * i + 1], c->boxes[4 * i + 2], c->boxes[4 * i + 3],
                            c->labels ? (long long)c->labels[i] : -1LL);
            }
        }
    for (int j = 0; j < r->n; j++)
        if (!mr[j]) {
            if (excused(r, j, c, o)) {
                m.excused++;
                if (m.excused <= 6)
                    fprintf(stderr, "    %s: excused torchvision entry %d (score %.9g box %.4f %.4f "
                            "%.4f %.4f label %lld)\n", g_case, j, r->scores[j], r->boxes[4 * j],
                            r->boxes[4 * j + 1], r->boxes[4 * j + 2], r->boxes[4 * j + 3],
                            r->labels ? (long long)r->labels[j] : -1LL);
            }
            else {
                m.failed++;
                if (m.failed <= 10)
                    fprintf(stderr, "    %s: torchvision entry %d (score %.9g box %.4f %.4f %.4f %.4f "
                            "label %lld) missing from C\n", g_case, j, r->scores[j], r->boxes[4 * j],
                            r->boxes[4 * j + 1], r->boxes[4 * j + 2], r->boxes[4 * j + 3],
                            r->labels ? (long long)r->labels[j] : -1LL);
            }
        }
    free(mc);
    free(mr);
    return m;
}

/* ---- candidate checks (independent, in double; only for excused C entries) ---- */

struct rpn_candidates {
    const float *decoded, *logits; /* torchvision's, all anchors */
    int64_t n;
    int img_h, img_w;
};

/* A clipped decoded anchor box, bit-identical, with sigmoid(logit) within TIE. */
static int rpn_candidate(const void *ctx, const float *box, float score, int64_t label)
{
    const struct rpn_candidates *k = ctx;
    (void)label;
    for (int64_t i = 0; i < k->n; i++) {
        const float *d = &k->decoded[4 * i];
        float b[4] = {fminf(fmaxf(d[0], 0), (float)k->img_w), fminf(fmaxf(d[1], 0), (float)k->img_h),
                      fminf(fmaxf(d[2], 0), (float)k->img_w), fminf(fmaxf(d[3], 0), (float)k->img_h)};
        if (b[0] != box[0] || b[1] != box[1] || b[2] != box[2] || b[3] != box[3])
            continue;
        if (fabs(1.0 / (1.0 + exp(-(double)k->logits[i])) - score) <= TIE)
            return 1;
    }
    return 0;
}

struct det_candidates {
    const float *proposals, *logits, *regression;
    int P, K, img_h, img_w;
};

/* Some proposal's class-`label` box (decode with (10, 10, 5, 5), clip) within
 * 2e-3 and its softmax probability within TIE, both evaluated in double. */
static int det_candidate(const void *ctx, const float *box, float score, int64_t label)
{
    const struct det_candidates *k = ctx;
    if (label < 1 || label >= k->K)
        return 0;
    const double clip = log(1000.0 / 16);
    for (int n = 0; n < k->P; n++) {
        const float *lg = &k->logits[(size_t)n * k->K];
        double mx = lg[0], sum = 0;
        for (int j = 1; j < k->K; j++)
            mx = fmax(mx, lg[j]);
        for (int j = 0; j < k->K; j++)
            sum += exp(lg[j] - mx);
        if (fabs(exp(lg[label] - mx) / sum - score) > TIE)
            continue;
        const float *b = &k->proposals[4 * n];
        const float *r = &k->regression[(size_t)n * 4 * k->K + 4 * label];
        double w = (double)b[2] - b[0], h = (double)b[3] - b[1];
        double cx = b[0] + 0.5 * w, cy = b[1] + 0.5 * h;
        double pcx = r[0] / 10.0 * w + cx, pcy = r[1] / 10.0 * h + cy;
        double pw = exp(fmin(r[2] / 5.0, clip)) * w, ph = exp(fmin(r[3] / 5.0, clip)) * h;
        double x[4] = {pcx - 0.5 * pw, pcy - 0.5 * ph, pcx + 0.5 * pw, pcy + 0.5 * ph};
        double lim[4] = {k->img_w, k->img_h, k->img_w, k->img_h};
        int ok = 1;
        for (int c = 0; c < 4 && ok; c++) {
            double v = fmin(fmax(x[c], 0), lim[c]);
            ok = fabs(v - box[c]) <= 2e-3 + 1e-6 * fabs(v);
        }
        if (ok)
            return 1;
    }
    return 0;
}

/* ---- one case ---------------------------------------------------------------------- */

struct refs {
    struct npy u8, transform, anchors, obj, del, decoded, proposals, pscores, levels, pooled,
        logits, regression, dboxes_r, dscores, dlabels, dboxes;
    struct npy rpn_logits[MAX_LEVELS], rpn_deltas[MAX_LEVELS], fpn[MAX_LEVELS];
};

static void free_refs(struct refs *r)
{
    struct npy *all[] = {&r->u8, &r->transform, &r->anchors, &r->obj, &r->del, &r->decoded,
                         &r->proposals, &r->pscores, &r->levels, &r->pooled, &r->logits,
                         &r->regression, &r->dboxes_r, &r->dscores, &r->dlabels, &r->dboxes};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        npy_free(all[i]);
    for (int l = 0; l < MAX_LEVELS; l++) {
        npy_free(&r->rpn_logits[l]);
        npy_free(&r->rpn_deltas[l]);
        npy_free(&r->fpn[l]);
    }
}

static void check_meta_param(const struct meta *m, const char *key, double want)
{
    double v = meta_num(m, key);
    if (isnan(v))
        return; /* older fixtures: nothing to cross-check */
    CHECK((float)v == (float)want, "%s: preset table %s = %g but torchvision used %g", g_case, key,
          want, v);
}

static void run_case(const char *dir, const char *name)
{
    g_dir = dir;
    g_case = name;
    struct meta m;
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.txt", dir);
    if (meta_load(path, &m) != 0) {
        CHECK(0, "%s: no meta.txt", name);
        return;
    }
    struct params p;
    const char *arch = meta_get(&m, "arch");
    if (!arch || arch_defaults(arch, &p) != 0 || apply_sets(&p, meta_get(&m, "sets")) != 0) {
        CHECK(0, "%s: unknown arch '%s' or bad sets", name, arch ? arch : "?");
        meta_free(&m);
        return;
    }
    check_meta_param(&m, "min_size", p.min_size);
    check_meta_param(&m, "max_size", p.max_size);
    check_meta_param(&m, "rpn_pre_nms_top_n_test", p.rpn.pre_nms_top_n);
    check_meta_param(&m, "rpn_post_nms_top_n_test", p.rpn.post_nms_top_n);
    check_meta_param(&m, "rpn_nms_thresh", p.rpn.nms_thresh);
    check_meta_param(&m, "rpn_score_thresh", p.rpn.score_thresh);
    check_meta_param(&m, "box_score_thresh", p.box.score_thresh);
    check_meta_param(&m, "box_nms_thresh", p.box.nms_thresh);
    check_meta_param(&m, "box_detections_per_img", p.box.detections_per_img);
    check_meta_param(&m, "rpn_levels", p.nlevels);

    const int H = (int)meta_num(&m, "height"), W = (int)meta_num(&m, "width");
    const int mrh = (int)meta_num(&m, "resized_h"), mrw = (int)meta_num(&m, "resized_w");
    const int Hp = (int)meta_num(&m, "padded_h"), Wp = (int)meta_num(&m, "padded_w");
    const int K = (int)meta_num(&m, "num_classes");
    const int roi_maps = (int)meta_num(&m, "roi_maps");
    const int k_min = (int)meta_num(&m, "k_min"), k_max = (int)meta_num(&m, "k_max");
    double scales_d[MAX_LEVELS];
    int nscales = meta_nums(&m, "roi_scales", scales_d, MAX_LEVELS);
    CHECK(nscales == roi_maps && roi_maps >= 1 && roi_maps <= MAX_LEVELS,
          "%s: roi_scales/roi_maps in meta", name);

    struct refs R;
    memset(&R, 0, sizeof R);
    struct arena arena;
    arena_init(&arena);
    int loaded = 1;

    /* ---- resize size (§1.3) and padding (§1.4) */
    int rh = 0, rw = 0;
    transform_resized_size(H, W, p.min_size, p.max_size, &rh, &rw);
    int hp = (rh + 31) / 32 * 32, wp = (rw + 31) / 32 * 32;
    report("resize", rh == mrh && rw == mrw && hp == Hp && wp == Wp,
           "%dx%d -> %dx%d padded %dx%d (torchvision %dx%d padded %dx%d)", W, H, rw, rh, wp, hp,
           mrw, mrh, Wp, Hp);
    rh = mrh; /* later stages get torchvision's sizes */
    rw = mrw;

    /* ---- normalize + bilinear resize + pad (§1.2-1.4) */
    if (load("input_u8.npy", &R.u8) == 0 && load("transform.npy", &R.transform) == 0 &&
        npy_shape_is(&R.u8, "input_u8", 3, (const int64_t[]){H, W, 3}) &&
        npy_shape_is(&R.transform, "transform", 3, (const int64_t[]){3, Hp, Wp})) {
        static const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
        float *norm = calloc((size_t)3 * H * W, sizeof(float));
        float *pad = calloc((size_t)3 * Hp * Wp, sizeof(float));
        MODEL_ASSERT(norm && pad);
        transform_normalize(R.u8.data, 3 * W, H, W, mean, stdv, norm);
        transform_resize_bilinear(norm, 3, H, W, pad, rh, rw, Wp, (size_t)Hp * Wp);
        int64_t nd;
        double d = max_abs_diff(pad, R.transform.data, R.transform.numel, &nd);
        report("transform", d <= 1e-6, "max|d| %.3g, %lld of %lld values not bit-exact", d,
               (long long)nd, (long long)R.transform.numel);
        free(norm);
        free(pad);
    } else {
        loaded = 0;
    }
    npy_free(&R.u8);
    npy_free(&R.transform);

    /* ---- per-level head outputs: anchors (§2) and flatten (§3.2) */
    int nlev = 0, counts[MAX_LEVELS];
    int64_t N = 0;
    for (int l = 0; l < MAX_LEVELS; l++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "rpn_logits_%d.npy", l);
        snprintf(b, sizeof b, "rpn_deltas_%d.npy", l);
        if (!exists(a))
            break;
        if (load(a, &R.rpn_logits[l]) != 0 || load(b, &R.rpn_deltas[l]) != 0) {
            loaded = 0;
            break;
        }
        counts[l] = (int)R.rpn_logits[l].numel;
        N += counts[l];
        nlev++;
    }
    CHECK(nlev == p.nlevels, "%s: %d RPN levels in the dump, preset has %d", name, nlev, p.nlevels);
    if (load("anchors.npy", &R.anchors) || load("rpn_obj.npy", &R.obj) ||
        load("rpn_del.npy", &R.del) || load("rpn_decoded.npy", &R.decoded))
        loaded = 0;
    if (loaded && nlev == p.nlevels &&
        npy_shape_is(&R.anchors, "anchors", 2, (const int64_t[]){N, 4}) &&
        npy_shape_is(&R.obj, "rpn_obj", 1, (const int64_t[]){N}) &&
        npy_shape_is(&R.del, "rpn_del", 2, (const int64_t[]){N, 4}) &&
        npy_shape_is(&R.decoded, "rpn_decoded", 2, (const int64_t[]){N, 4})) {
        const int A = p.nsizes * 3;
        float *anch = malloc((size_t)N * 4 * sizeof(float));
        float *obj = malloc((size_t)N * sizeof(float));
        float *del = malloc((size_t)N * 4 * sizeof(float));
        MODEL_ASSERT(anch && obj && del);
        int64_t off = 0;
        int strides_ok = 1;
        char strides[128] = "";
        for (int l = 0; l < nlev; l++) {
            const struct npy *lg = &R.rpn_logits[l];
            int gh = (int)lg->shape[1], gw = (int)lg->shape[2];
            strides_ok &= lg->shape[0] == A && R.rpn_deltas[l].shape[0] == 4 * A &&
                          R.rpn_deltas[l].shape[1] == gh && R.rpn_deltas[l].shape[2] == gw;
            int sh = Hp / gh, sw = Wp / gw;
            float base[5 * 3 * 4];
            anchors_cell(p.sizes[l], p.nsizes, RATIOS, 3, base);
            anchors_grid(base, A, gh, gw, sh, sw, anch + off * 4);
            struct fmap fl = {lg->data, A, gh, gw};
            struct fmap fd = {R.rpn_deltas[l].data, 4 * A, gh, gw};
            rpn_flatten(&fl, &fd, A, obj + off, del + off * 4);
            off += (int64_t)gh * gw * A;
            size_t sl = strlen(strides);
            snprintf(strides + sl, sizeof strides - sl, "%s%dx%d", l ? " " : "", sh, sw);
        }
        CHECK(strides_ok, "%s: head output shapes do not match A = %d", name, A);
        int64_t nd;
        double d = max_abs_diff(anch, R.anchors.data, N * 4, &nd);
        report("anchors", nd == 0, "%lld anchors, strides %s: %lld differ (max|d| %.3g)",
               (long long)N, strides, (long long)nd, d);
        int64_t nd2;
        double d1 = max_abs_diff(obj, R.obj.data, N, &nd);
        double d2 = max_abs_diff(del, R.del.data, N * 4, &nd2);
        report("flatten", nd == 0 && nd2 == 0, "objectness %lld differ (max|d| %.3g), deltas %lld "
               "differ (max|d| %.3g)", (long long)nd, d1, (long long)nd2, d2);

        /* ---- decode (§3.3) from torchvision's anchors and deltas */
        static const float w1[4] = {1, 1, 1, 1};
        box_decode(R.anchors.data, R.del.data, (int)N, 4, w1, anch);
        const float *ref = R.decoded.data;
        double worst = 0, dmax = 0;
        int64_t bad = 0;
        for (int64_t i = 0; i < N * 4; i++) {
            double e = fabs((double)anch[i] - ref[i]);
            if (anch[i] == ref[i])
                e = 0;
            else if (isnan(e))
                e = INFINITY;
            double tol = 1e-3 + 1e-6 * fabs(ref[i]);
            if (e > tol)
                bad++;
            if (e / tol > worst)
                worst = e / tol;
            if (e > dmax)
                dmax = e;
        }
        max_abs_diff(anch, ref, N * 4, &nd);
        report("decode", bad == 0, "max|d| %.3g (%.2f of tolerance), %lld of %lld not bit-exact",
               dmax, worst, (long long)nd, (long long)(N * 4));
        free(anch);
        free(obj);
        free(del);
    } else {
        CHECK(0, "%s: RPN dumps missing or misshaped", name);
    }

    /* ---- filter_proposals (§3.4) from torchvision's decoded boxes and logits */
    if (load("proposals.npy", &R.proposals) || load("proposal_scores.npy", &R.pscores))
        loaded = 0;
    if (R.decoded.data && R.obj.data && R.proposals.data && R.pscores.data) {
        int cap = p.rpn.post_nms_top_n;
        float *pb = malloc((size_t)cap * 4 * sizeof(float) + 16);
        float *ps = malloc((size_t)cap * sizeof(float) + 16);
        MODEL_ASSERT(pb && ps);
        int P = rpn_filter_proposals(R.decoded.data, R.obj.data, counts, nlev, rh, rw, &p.rpn, pb,
                                     ps, &arena);
        arena_reset(&arena);
        struct ranked c = {P, pb, ps, NULL};
        struct ranked r = {(int)R.proposals.shape[0], R.proposals.data, R.pscores.data, NULL};
        /* Boxes must be bit-exact; the sigmoid may differ by an ulp or two (torch's
         * vectorised exp is not libm's), so pairs match within TIE and the ulps
         * are reported. */
        struct match_opts o = {0.0, TIE, -1, p.rpn.nms_thresh, cap, p.rpn.score_thresh};
        struct rpn_candidates cands = {R.decoded.data, R.obj.data, R.obj.numel, rh, rw};
        struct match_result mr = match_ranked(&c, &r, &o, rpn_candidate, &cands);
        report("proposals", P <= cap && mr.failed == 0,
               "C %d / torchvision %d: %d in place, %d tie-permuted, %d excused, %d unmatched; "
               "max|d| box %.3g score %.3g (%lld ulp)", P, r.n, mr.in_place, mr.permuted,
               mr.excused, mr.failed, mr.max_box, mr.max_score, (long long)mr.max_ulps);
        free(pb);
        free(ps);
    }
    npy_free(&R.anchors);
    npy_free(&R.obj);
    npy_free(&R.del);
    npy_free(&R.decoded);
    npy_free(&R.pscores);

    int P = R.proposals.data ? (int)R.proposals.shape[0] : 0;

    /* ---- LevelMapper (§5.3) */
    if (roi_maps > 1 && R.proposals.data) {
        if (load("roi_levels.npy", &R.levels) == 0 &&
            npy_shape_is(&R.levels, "roi_levels", 1, (const int64_t[]){P})) {
            int *lv = malloc(((size_t)P + 1) * sizeof(int));
            MODEL_ASSERT(lv);
            roi_levels(R.proposals.data, P, k_min, k_max, lv);
            const int64_t *ref = R.levels.data;
            int nd = 0, first = -1;
            int hist[MAX_LEVELS + 1] = {0};
            for (int i = 0; i < P; i++) {
                if (lv[i] != ref[i]) {
                    nd++;
                    if (first < 0)
                        first = i;
                }
                if (ref[i] >= 0 && ref[i] <= MAX_LEVELS)
                    hist[ref[i]]++;
            }
            char h[128] = "";
            for (int l = 0; l <= k_max - k_min && l <= MAX_LEVELS; l++) {
                size_t sl = strlen(h);
                snprintf(h + sl, sizeof h - sl, "%s%d", l ? "/" : "", hist[l]);
            }
            report("roi_levels", nd == 0, "k %d..%d, per level %s: %d of %d differ%s", k_min,
                   k_max, h, nd, P, nd ? " (first shown in stderr)" : "");
            if (first >= 0)
                fprintf(stderr, "    %s: roi %d level C %d torchvision %lld\n", name, first,
                        lv[first], (long long)ref[first]);
            free(lv);
        } else {
            CHECK(0, "%s: roi_levels.npy missing or misshaped", name);
        }
        npy_free(&R.levels);
    }

    /* ---- MultiScaleRoIAlign (§5) on torchvision's maps and proposals */
    const char *fpn_names = meta_get(&m, "fpn_names");
    char names[MAX_LEVELS][16];
    int nnames = 0;
    if (fpn_names) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", fpn_names);
        char *save = NULL;
        for (char *t = strtok_r(buf, " ", &save); t && nnames < MAX_LEVELS;
             t = strtok_r(NULL, " ", &save))
            snprintf(names[nnames++], sizeof names[0], "%s", t);
    } else {
        for (int i = 0; i < roi_maps; i++)
            snprintf(names[nnames++], sizeof names[0], "%d", i);
    }
    if (R.proposals.data && load("roi_pooled.npy", &R.pooled) == 0 && roi_maps <= nnames) {
        struct fmap maps[MAX_LEVELS];
        float scales[MAX_LEVELS];
        double featmax = 0;
        int ok = 1, scales_ok = 1;
        /* featmap_names ['0'..'3'] in feature-dict order: the first roi_maps maps */
        for (int i = 0; i < roi_maps && ok; i++) {
            char f[160];
            snprintf(f, sizeof f, "fpn_%s.npy", names[i]);
            if (load(f, &R.fpn[i]) != 0 || R.fpn[i].ndim != 3) {
                ok = 0;
                break;
            }
            maps[i] = (struct fmap){R.fpn[i].data, (int)R.fpn[i].shape[0], (int)R.fpn[i].shape[1],
                                    (int)R.fpn[i].shape[2]};
            scales[i] = (float)scales_d[i];
            scales_ok &= roi_infer_scale(maps[i].h, rh) == scales[i];
            featmax = fmax(featmax, max_abs(maps[i].d, (int64_t)fmap_numel(&maps[i])));
        }
        if (ok && npy_shape_is(&R.pooled, "roi_pooled", 4,
                               (const int64_t[]){P, maps[0].c, 7, 7})) {
            report("roi_scale", scales_ok, "roi_infer_scale %s torchvision's (%g ...)",
                   scales_ok ? "matches" : "differs from", scales_d[0]);
            float *out = malloc((size_t)R.pooled.numel * sizeof(float) + 16);
            MODEL_ASSERT(out);
            if (roi_maps == 1)
                roi_align(&maps[0], scales[0], R.proposals.data, P, 7, 2, out);
            else
                multiscale_roi_align(maps, scales, roi_maps, k_min, k_max, R.proposals.data, P, 7,
                                     2, out, &arena);
            arena_reset(&arena);
            int64_t nd;
            double d = max_abs_diff(out, R.pooled.data, R.pooled.numel, &nd);
            double tol = 1e-6 * featmax;
            report("roi_align", d <= tol, "%d maps, max|d| %.3g (tol %.3g = 1e-6 max|feat|), "
                   "%lld of %lld not bit-exact", roi_maps, d, tol, (long long)nd,
                   (long long)R.pooled.numel);
            free(out);
        } else {
            CHECK(0, "%s: fpn maps missing or roi_pooled misshaped", name);
        }
        for (int i = 0; i < MAX_LEVELS; i++)
            npy_free(&R.fpn[i]);
    } else if (R.proposals.data) {
        CHECK(0, "%s: roi_pooled.npy missing or fpn_names short", name);
    }
    npy_free(&R.pooled);

    /* ---- postprocess_detections (§6.2) from torchvision's logits and regression */
    if (R.proposals.data && !load("class_logits.npy", &R.logits) &&
        !load("box_regression.npy", &R.regression) && !load("det_boxes_resized.npy", &R.dboxes_r) &&
        !load("det_scores.npy", &R.dscores) && !load("det_labels.npy", &R.dlabels) &&
        !load("det_boxes.npy", &R.dboxes) &&
        npy_shape_is(&R.logits, "class_logits", 2, (const int64_t[]){P, K}) &&
        npy_shape_is(&R.regression, "box_regression", 2, (const int64_t[]){P, 4 * K}) &&
        npy_i64(&R.dlabels)) {
        int cap = p.box.detections_per_img;
        float *db = malloc((size_t)cap * 4 * sizeof(float) + 16);
        float *ds = malloc((size_t)cap * sizeof(float) + 16);
        int *dl = malloc((size_t)cap * sizeof(int) + 16);
        int64_t *dl64 = malloc((size_t)cap * sizeof(int64_t) + 16);
        MODEL_ASSERT(db && ds && dl && dl64);
        int D = box_postprocess(R.proposals.data, P, R.logits.data, R.regression.data, K, rh, rw,
                                &p.box, db, ds, dl, &arena);
        arena_reset(&arena);
        for (int i = 0; i < D && i < cap; i++)
            dl64[i] = dl[i];
        struct ranked c = {D, db, ds, dl64};
        struct ranked r = {(int)R.dscores.numel, R.dboxes_r.data, R.dscores.data, R.dlabels.data};
        struct match_opts o = {1e-3, 2e-7, -1, p.box.nms_thresh, cap, p.box.score_thresh};
        struct det_candidates cands = {R.proposals.data, R.logits.data, R.regression.data, P, K,
                                       rh, rw};
        struct match_result mr = match_ranked(&c, &r, &o, det_candidate, &cands);
        report("postprocess", D <= cap && mr.failed == 0,
               "C %d / torchvision %d: %d in place, %d tie-permuted, %d excused, %d unmatched; "
               "max|d| box %.3g score %.3g (%lld ulp)", D, r.n, mr.in_place, mr.permuted,
               mr.excused, mr.failed, mr.max_box, mr.max_score, (long long)mr.max_ulps);

        /* ---- transform.postprocess (§1.5) on torchvision's resized boxes */
        int Dr = r.n;
        float *rb = malloc((size_t)Dr * 4 * sizeof(float) + 16);
        MODEL_ASSERT(rb);
        memcpy(rb, R.dboxes_r.data, (size_t)Dr * 4 * sizeof(float));
        transform_rescale_boxes(rb, Dr, rh, rw, H, W);
        int64_t nd;
        double d = max_abs_diff(rb, R.dboxes.data, (int64_t)Dr * 4, &nd);
        report("rescale", nd == 0, "%d boxes %dx%d -> %dx%d: %lld coordinates differ (max|d| %.3g)",
               Dr, rw, rh, W, H, (long long)nd, d);
        free(rb);
        free(db);
        free(ds);
        free(dl);
        free(dl64);
    } else if (R.proposals.data) {
        CHECK(0, "%s: box-head dumps missing or misshaped", name);
    }
    CHECK(loaded, "%s: some dumps could not be read", name);
    free_refs(&R);
    arena_release(&arena);
    meta_free(&m);
}

/* Run one case in a child; fold its counts into ours. */
static void run_case_isolated(const char *dir, const char *name)
{
    if (getenv("VDETECT_NOFORK")) {
        run_case(dir, name);
        return;
    }
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        run_case(dir, name);
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        close(fds[0]);
        close(fds[1]);
        run_case(dir, name);
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        check_passed = check_failed = 0;
        run_case(dir, name);
        int counts[2] = {check_passed, check_failed};
        fflush(stdout);
        fflush(stderr);
        if (write(fds[1], counts, sizeof counts) != (ssize_t)sizeof counts)
            _exit(3);
        _exit(0);
    }
    close(fds[1]);
    int counts[2];
    ssize_t got = read(fds[0], counts, sizeof counts);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got == (ssize_t)sizeof counts && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        check_passed += counts[0];
        check_failed += counts[1];
    } else if (WIFSIGNALED(status)) {
        printf("  %-18s %-12s FAIL crashed (signal %d) in the stage after the last line above\n",
               name, "-", WTERMSIG(status));
        CHECK(0, "%s: crashed with signal %d", name, WTERMSIG(status));
    } else {
        CHECK(0, "%s: child exited with status %d", name, WEXITSTATUS(status));
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    const char *root = getenv("VDETECT_FIXTURES");
    char pdir[2048];
    snprintf(pdir, sizeof pdir, "%s/parity", root && *root ? root : "tests/fixtures");
    const char *only = getenv("VDETECT_PARITY_CASE");
    DIR *d = opendir(pdir);
    CHECK(d != NULL, "fixtures %s missing (run /usr/bin/python3 tests/gen_parity.py %s)", pdir, pdir);
    if (!d)
        return check_summary("test_parity_stages");
    char *cases[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        if (e->d_name[0] == '.' || (only && strcmp(only, e->d_name)))
            continue;
        char mp[4096];
        int len = snprintf(mp, sizeof mp, "%s/%s/meta.txt", pdir, e->d_name);
        if (len < 0 || (size_t)len >= sizeof mp || access(mp, R_OK) != 0)
            continue;
        cases[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(cases, (size_t)n, sizeof cases[0], cmp_str);
    CHECK(n > 0, "no cases under %s", pdir);
    printf("test_parity_stages: %d cases under %s\n", n, pdir);
    for (int i = 0; i < n; i++) {
        char dir[4096];
        int len = snprintf(dir, sizeof dir, "%s/%s", pdir, cases[i]);
        if (len > 0 && (size_t)len < sizeof dir)
            run_case_isolated(dir, cases[i]);
        free(cases[i]);
    }
    return check_summary("test_parity_stages");
}
