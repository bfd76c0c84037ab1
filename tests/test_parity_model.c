/*
 * test_parity_model.c — the C detector against torchvision, case by case.
 *
 * For every fixture case made by tests/gen_parity.py (seeded random weights,
 * saved as a float32 zip and a float16 legacy checkpoint holding the same
 * values, every stage dumped), this checks that both files load to the same
 * weights bit for bit, and then, with the tolerances of the reference (§10.2):
 *   - the body and FPN from torchvision's preprocessed image (chained),
 *   - the FPN alone from torchvision's body outputs (isolated),
 *   - the RPN head on torchvision's FPN maps, and the anchors,
 *   - the box head and predictor on torchvision's pooled RoIs,
 *   - the whole path from the RGB image to detections (model_detect), and the
 *     command line's `vdetect detect` on the case's PNG: the same detections
 *     bit for bit (for the MobileNet-320 cases, where it is quick).
 *
 * End to end, random weights make near-ties (flat regions and the zero padding
 * give anchors whose objectness differs by < 1e-6), and which of two tied,
 * overlapping proposals survives NMS then depends on 1-ulp differences. So:
 * C's proposals must equal torchvision's except for entries in a near-tie
 * group, their NMS knock-on, and the resulting shift at the top-n cut; if they
 * are identical, C's detections must match torchvision's (§10.2); if they
 * differ by such tie-breaks, C's own image → features → heads path is run on
 * torchvision's proposals and must match instead.
 *
 * Detections are compared by ties.c: what differs must be proven a near-tie of
 * the box head's NMS (against torchvision's candidates), its knock-on, an IoU or
 * score at a threshold, or the detections_per_img cut; the count is bounded.
 */
#include "../model/detector.h"
#include "../model/ckpt.h"
#include "../model/json.h"
#include "check.h"
#include "npy.h"
#include "ties.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char root[400];

static int load(const char *dir, const char *name, struct npy *a)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    return npy_load(path, a);
}

/* max|a - b| / max|b| over n floats */
static double rel_diff(const float *a, const float *b, size_t n, double *maxref)
{
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > md || isnan(d)) md = isnan(d) ? INFINITY : d;
        if (fabs(b[i]) > mr) mr = fabs(b[i]);
    }
    if (maxref) *maxref = mr;
    return mr > 0 ? md / mr : md;
}

/* f against ref, which is the whole map or (stride > 1) every stride-th value
 * of it in flat order (gen_parity.py samples big compared-only maps) */
static void check_map_sampled(const char *cs, const char *what, const struct fmap *f,
                              struct npy *ref, double tol, int64_t stride)
{
    const size_t n = fmap_numel(f);
    int ok = stride > 1 ? ref->ndim == 1 && ref->numel == (int64_t)((n + stride - 1) / stride)
                        : ref->numel == (int64_t)n && ref->ndim == 3 && ref->shape[0] == f->c &&
                              ref->shape[1] == f->h && ref->shape[2] == f->w;
    CHECK(ok, "%s %s: shape %dx%dx%d (sample stride %lld) vs %lld values", cs, what, f->c, f->h,
          f->w, (long long)stride, (long long)ref->numel);
    if (!ok) return;
    double r;
    if (stride > 1) {
        float *pick = malloc(sizeof(float) * (size_t)ref->numel);
        for (int64_t i = 0; i < ref->numel; i++) pick[i] = f->d[i * stride];
        r = rel_diff(pick, npy_f32(ref), (size_t)ref->numel, NULL);
        free(pick);
    } else {
        r = rel_diff(f->d, npy_f32(ref), n, NULL);
    }
    printf("  %-14s %-22s rel %.2e%s\n", cs, what, r, stride > 1 ? " (sampled)" : "");
    CHECK(r <= tol, "%s %s: relative difference %.3e > %.1e", cs, what, r, tol);
}

static void check_map(const char *cs, const char *what, const struct fmap *f, struct npy *ref,
                      double tol)
{
    check_map_sampled(cs, what, f, ref, tol, 1);
}

static struct fmap fmap_of(struct npy *a)
{
    struct fmap f = { npy_f32(a), (int)a->shape[0], (int)a->shape[1], (int)a->shape[2] };
    return f;
}

static float iou(const float *a, const float *b)
{
    float iw = fminf(a[2], b[2]) - fmaxf(a[0], b[0]), ih = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    if (iw <= 0 || ih <= 0) return 0;
    float inter = iw * ih;
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

/* Equal up to the drift of end-to-end features (~1e-3 px; tiny boxes make an
 * IoU test too strict). */
static int same_box(const float *a, const float *b)
{
    for (int k = 0; k < 4; k++)
        if (fabsf(a[k] - b[k]) > 1e-2f + 1e-5f * fabsf(b[k])) return iou(a, b) >= 0.999f;
    return 1;
}

/* torchvision's RPN candidates: the per-level top-n anchors, decoded, clipped
 * and thresholded, that its per-level NMS chose the proposals from */
struct rpn_cands {
    const float *box, *score;
    const int64_t *level;
    int n;
    float nms_thresh;
};

/* Proposal x (score s) lost or won an NMS near-tie: the other list (y, sy, ny)
 * kept a candidate of x's level that overlaps x beyond the NMS threshold and
 * scores within TIE_SCORE of it (ties.h's swap, for the RPN's per-level NMS). */
static int rpn_swap(const struct rpn_cands *rc, const float *x, float s, const float *y,
                    const float *sy, int ny)
{
    int self = -1;
    for (int k = 0; k < rc->n; k++)
        if (same_box(x, rc->box + 4 * k) && fabsf(rc->score[k] - s) <= TIE_SCORE &&
            (self < 0 || fabsf(rc->score[k] - s) < fabsf(rc->score[self] - s)))
            self = k;
    if (self < 0) return 0;
    for (int k = 0; k < rc->n; k++) {
        const float *kb = rc->box + 4 * k;
        if (k == self || rc->level[k] != rc->level[self] ||
            fabsf(rc->score[k] - rc->score[self]) > TIE_SCORE || same_box(kb, x) ||
            iou(kb, x) <= rc->nms_thresh - TIE_IOU)
            continue;
        for (int j = 0; j < ny; j++)
            if (same_box(kb, y + 4 * j) && fabsf(sy[j] - rc->score[k]) <= TIE_SCORE) return 1;
    }
    return 0;
}

/* Proposals present in one list but not the other (no box with IoU >= 0.999
 * and |dscore| <= 1e-5): flagged in diff_a / diff_b. Returns how many of them
 * are not part of a near-tie (another proposal of the same list within 1e-6,
 * or a swap with a candidate the NMS suppressed, see rpn_swap) — the only kind
 * of difference that may not be excused. */
static int proposal_diff(const float *a, const float *sa, int na, const float *b,
                         const float *sb, int nb, unsigned char *diff_a, unsigned char *diff_b,
                         const struct rpn_cands *rc)
{
    int untied = 0, tied[2] = { 0, 0 };
    /* pass 0/1 flag the differences and count those in near-tie groups; pass
     * 2/3 judge the rest: each tie flip may push one entry across the top-n
     * cut, so differences within the last (tie flips) places are excused too */
    for (int pass = 0; pass < 4; pass++) {
        int side = pass & 1;
        const float *x = side ? b : a, *sx = side ? sb : sa, *y = side ? a : b;
        const float *sy = side ? sa : sb;
        int nx = side ? nb : na, ny = side ? na : nb;
        unsigned char *d = side ? diff_b : diff_a;
        int flips = tied[0] > tied[1] ? tied[0] : tied[1];
        for (int i = 0; i < nx; i++) {
            if (pass < 2) {
                int hit = 0;
                for (int j = 0; j < ny && !hit; j++)
                    hit = fabsf(sx[i] - sy[j]) <= 1e-5f && same_box(x + 4 * i, y + 4 * j);
                d[i] = !hit;
            }
            if (!d[i]) continue;
            int near = 0;
            for (int k = 0; k < nx && !near; k++)
                near = k != i && fabsf(sx[k] - sx[i]) < 1e-6f;
            if (!near && rc) near = rpn_swap(rc, x + 4 * i, sx[i], y, sy, ny);
            /* knock-on of a flip: the other list kept a higher-scoring box this
             * one overlaps beyond the NMS threshold, and that box is itself a
             * difference (so it was suppressed here by the tie-break) */
            const unsigned char *dy = side ? diff_a : diff_b;
            for (int j = 0; pass >= 2 && j < ny && !near; j++)
                near = dy[j] && sy[j] > sx[i] && iou(x + 4 * i, y + 4 * j) > 0.7f;
            if (pass < 2) tied[side] += near;
            else if (!near && i < nx - flips - 1) {
                untied++;
                int best = -1;   /* the other list's closest box, for the diagnosis */
                for (int j = 0; j < ny; j++)
                    if (best < 0 || iou(x + 4 * i, y + 4 * j) > iou(x + 4 * i, y + 4 * best)) best = j;
                printf("    %s proposal %d (score %.7f box %.3f,%.3f,%.3f,%.3f) differs, no near-tie",
                       side ? "C" : "torchvision", i, sx[i], x[4 * i], x[4 * i + 1], x[4 * i + 2],
                       x[4 * i + 3]);
                if (best >= 0)
                    printf("; closest there: %d (score %.7f box %.3f,%.3f,%.3f,%.3f)", best, sy[best],
                           y[4 * best], y[4 * best + 1], y[4 * best + 2], y[4 * best + 3]);
                printf("\n");
            }
        }
    }
    return untied;
}

/* torchvision's and C's proposals and scores, and which of them differ */
struct props_cmp {
    const float *tb, *ts, *cb, *cs;
    int tn, cn;
    unsigned char *tdiff, *cdiff;
};

/* Every C detection against torchvision's under the near-tie rule (ties.h). */
static void check_detections(const char *cs, const struct model_detection *d, int nd,
                             const char *dir, const struct meta *meta)
{
    struct npy db = { 0 }, ds = { 0 }, dl = { 0 }, cb = { 0 }, csc = { 0 }, cl = { 0 };
    int have = load(dir, "det_boxes", &db) == 0 && load(dir, "det_scores", &ds) == 0 &&
               load(dir, "det_labels", &dl) == 0 && load(dir, "cand_boxes", &cb) == 0 &&
               load(dir, "cand_scores", &csc) == 0 && load(dir, "cand_labels", &cl) == 0;
    CHECK(have, "%s: detection or candidate dumps missing", cs);
    if (have) {
        float *box = malloc(sizeof(float) * 4 * ((size_t)nd + 1));
        float *score = malloc(sizeof(float) * ((size_t)nd + 1));
        int64_t *label = malloc(sizeof(int64_t) * ((size_t)nd + 1));
        for (int i = 0; i < nd; i++) {
            memcpy(box + 4 * i, d[i].box, sizeof d[i].box);
            score[i] = d[i].score;
            label[i] = d[i].label;
        }
        struct dets tv = { npy_f32(&db), npy_f32(&ds), npy_i64(&dl), (int)ds.numel };
        struct dets cand = { npy_f32(&cb), npy_f32(&csc), npy_i64(&cl), (int)csc.numel };
        struct dets c = { box, score, label, nd };
        struct tie_rule rule = { (float)meta_num(meta, "box_nms_thresh"),
                                 (float)meta_num(meta, "box_score_thresh"),
                                 (int)meta_num(meta, "box_detections_per_img"), 0.3f, 0.1 };
        struct tie_report rep;
        int r = ties_compare(cs, &tv, &cand, &c, &rule, &rep);
        CHECK(r == 0, "%s: %d torchvision and %d C detections unexplained, %d+%d+%d+%d+%d excused "
              "(at most %d)", cs, rep.missing, rep.extra, rep.swap, rep.iou_edge, rep.threshold,
              rep.knock_on, rep.cut, rep.excused_bound);
        free(box); free(score); free(label);
    }
    npy_free(&db); npy_free(&ds); npy_free(&dl); npy_free(&cb); npy_free(&csc); npy_free(&cl);
}

/* The legacy (float16) checkpoint holds the zip's (float32) weights: the same
 * names in the same order, shapes and every value bit for bit after loading. */
static void check_same_weights(const char *cs, const char *zip, const char *legacy)
{
    struct ckpt *a = NULL, *b = NULL;
    CHECK(ckpt_load(zip, &a) == 0 && ckpt_load(legacy, &b) == 0, "%s: load both checkpoints", cs);
    if (a && b) {
        int n = ckpt_count(a), bad = 0;
        CHECK(n == ckpt_count(b) && n > 0, "%s: %d vs %d tensors", cs, n, ckpt_count(b));
        for (int i = 0; i < n && n == ckpt_count(b); i++) {
            const struct ckpt_tensor *x = ckpt_at(a, i), *y = ckpt_at(b, i);
            int same = !strcmp(x->name, y->name) && x->ndim == y->ndim && x->numel == y->numel &&
                       !memcmp(x->shape, y->shape, sizeof(int64_t) * (size_t)x->ndim) &&
                       !memcmp(x->data, y->data, sizeof(float) * (size_t)x->numel);
            if (!same && bad++ < 3) printf("    %s: tensor %s differs\n", cs, x->name);
        }
        CHECK(bad == 0, "%s: %d tensors differ between the zip and legacy files", cs, bad);
        printf("  %-14s legacy (%s) == zip (%s): %d tensors, %d differ\n", cs, ckpt_format(b),
               ckpt_format(a), n, bad);
    }
    ckpt_free(&a);
    ckpt_free(&b);
}

/* `vdetect detect` on the case's PNG gives model_detect's detections bit for
 * bit (the JSON writer prints floats that read back exactly). */
static void check_cli(const char *cs, const char *dir, const char *weights, const char *arch,
                      const char *const *sets, const struct model_detection *d, int nd)
{
    const char *bin = getenv("VDETECT_BIN");
    if (!bin || access(bin, X_OK)) {
        printf("  %-14s command line: skipped (no VDETECT_BIN)\n", cs);
        return;
    }
    char cmd[4096];
    int len = snprintf(cmd, sizeof cmd, "'%s' detect --weights '%s' --arch %s --threads 2 "
                       "--score-thresh 0 --json - '%s/image.png'", bin, weights, arch, dir);
    for (int i = 0; sets[i] && len < (int)sizeof cmd; i++)
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, " --set %s", sets[i]);
    FILE *p = popen(cmd, "r");
    static char out[1 << 20];
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    int rc = p ? pclose(p) : -1;
    CHECK(rc == 0 && n > 0, "%s: %s: exit %d", cs, cmd, rc);
    if (rc != 0 || n == 0) return;
    struct json_doc *doc = NULL;
    char err[200];
    CHECK(json_parse(out, n, NULL, &doc, err, sizeof err) == 0, "%s: CLI JSON: %s", cs, err);
    const struct json_value *dl = doc ? json_get(json_root(doc), "detections") : NULL;
    int same = dl && dl->type == JSON_ARRAY && (int)dl->len == nd;
    for (int i = 0; same && i < nd; i++) {
        const struct json_value *o = &dl->items[i], *b = json_get(o, "box");
        const struct json_value *sc = json_get(o, "score"), *lb = json_get(o, "label");
        same = b && b->type == JSON_ARRAY && b->len == 4 && sc && sc->type == JSON_NUMBER &&
               lb && lb->type == JSON_NUMBER && (float)sc->number == d[i].score &&
               (int)lb->number == d[i].label;
        for (int k = 0; same && k < 4; k++)
            same = b->items[k].type == JSON_NUMBER && (float)b->items[k].number == d[i].box[k];
    }
    CHECK(same, "%s: vdetect detect differs from model_detect (%zu vs %d detections)", cs,
          dl ? dl->len : 0, nd);
    printf("  %-14s command line: %d detections, %s model_detect's\n", cs, nd,
           same ? "bit-identical to" : "NOT equal to");
    json_free(&doc);
}

/* Every stage against torchvision's dumps: the body and FPN chained from
 * torchvision's preprocessed image, the FPN alone from its body outputs, the
 * RPN head on its FPN maps, the anchors, the box head on its pooled RoIs. */
static void check_stages(const char *cs, const char *dir, struct model *m, const struct meta *meta)
{
    struct npy img = { 0 };
    struct arena a;
    arena_init(&a);
    struct run r = { .arena = &a };
    CHECK(load(dir, "transform", &img) == 0, "%s: transform.npy", cs);
    struct fmap x = fmap_of(&img);
    struct fmap body[NET_MAX_LEVELS], feats[NET_MAX_LEVELS], stem;
    backbone_body(&m->bb, &r, &x, body, &stem);
    struct npy ref = { 0 };
    const char *ss = meta_get(meta, "sample_stem");
    if (load(dir, "stem", &ref) == 0)
        check_map_sampled(cs, "stem", &stem, &ref, 1e-5, ss ? atoll(ss) : 1);
    npy_free(&ref);
    for (int i = 0; i < m->bb.n_out; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "body_%d", i);
        if (load(dir, nm, &ref) == 0) check_map(cs, nm, &body[i], &ref, 1e-4);
        else CHECK(0, "%s: %s.npy missing", cs, nm);
        npy_free(&ref);
    }
    /* FPN in isolation from torchvision's body outputs */
    struct npy bref[NET_MAX_LEVELS] = { 0 };
    for (int i = 0; i < m->bb.n_out; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "body_%d", i);
        load(dir, nm, &bref[i]);
        body[i] = fmap_of(&bref[i]);
    }
    int nfeat = backbone_fpn(&m->bb, &r, body, feats);
    struct npy fref[NET_MAX_LEVELS] = { 0 };
    for (int i = 0; i < nfeat; i++) {
        char nm[32];
        if (i == m->bb.n_out) snprintf(nm, sizeof nm, "fpn_pool");
        else snprintf(nm, sizeof nm, "fpn_%d", i);
        if (load(dir, nm, &fref[i]) == 0) check_map(cs, nm, &feats[i], &fref[i], 1e-4);
        else CHECK(0, "%s: %s.npy missing", cs, nm);
    }
    /* RPN head on torchvision's maps; anchors */
    for (int l = 0; l < nfeat; l++) {
        struct fmap f = fmap_of(&fref[l]), lg, dd;
        rpn_head_forward(&m->rpn, &r, &f, &lg, &dd);
        char nm[32];
        snprintf(nm, sizeof nm, "rpn_logits_%d", l);
        if (load(dir, nm, &ref) == 0) check_map(cs, nm, &lg, &ref, 1e-4);
        npy_free(&ref);
        snprintf(nm, sizeof nm, "rpn_deltas_%d", l);
        if (load(dir, nm, &ref) == 0) check_map(cs, nm, &dd, &ref, 1e-4);
        npy_free(&ref);
    }
    struct fmap fm[NET_MAX_LEVELS];
    for (int l = 0; l < nfeat; l++) fm[l] = fmap_of(&fref[l]);
    detector_anchors(m, fm, nfeat, img.shape[1], img.shape[2]);
    if (load(dir, "anchors", &ref) == 0) {
        int same = ref.numel == (int64_t)m->n_anchors * 4 &&
                   !memcmp(npy_f32(&ref), m->anchors, sizeof(float) * ref.numel);
        CHECK(same, "%s: anchors differ", cs);
    }
    npy_free(&ref);
    /* box head on torchvision's pooled RoIs */
    struct npy pooled = { 0 }, bf = { 0 }, cl = { 0 }, br = { 0 };
    if (load(dir, "roi_pooled", &pooled) == 0 && load(dir, "box_features", &bf) == 0 &&
        load(dir, "class_logits", &cl) == 0 && load(dir, "box_regression", &br) == 0) {
        int P = (int)pooled.shape[0], K = m->spec.num_classes;
        float *f = malloc(sizeof(float) * (P + 1) * m->box.rep);
        float *lo = malloc(sizeof(float) * (P + 1) * K);
        float *re = malloc(sizeof(float) * (P + 1) * 4 * K);
        box_head_forward(&m->box, &r, npy_f32(&pooled), P, f, lo, re);
        double d1 = rel_diff(f, npy_f32(&bf), (size_t)P * m->box.rep, NULL);
        double d2 = rel_diff(lo, npy_f32(&cl), (size_t)P * K, NULL);
        double d3 = rel_diff(re, npy_f32(&br), (size_t)P * 4 * K, NULL);
        printf("  %-14s box head (P=%d)         rel %.2e %.2e %.2e\n", cs, P, d1, d2, d3);
        CHECK(d1 <= 1e-4 && d2 <= 1e-4 && d3 <= 1e-4, "%s: box head %.2e %.2e %.2e", cs,
              d1, d2, d3);
        free(f); free(lo); free(re);
    } else {
        CHECK(0, "%s: box head dumps missing", cs);
    }
    npy_free(&pooled); npy_free(&bf); npy_free(&cl); npy_free(&br);
    for (int i = 0; i < NET_MAX_LEVELS; i++) { npy_free(&bref[i]); npy_free(&fref[i]); }
    arena_release(&a);
    npy_free(&img);
}

/* The whole path from the RGB image (model_detect) against torchvision's
 * proposals and detections; the command line against model_detect. */
static void check_end_to_end(const char *cs, const char *dir, struct model *m,
                             const struct meta *meta, const char *weights, const char *arch,
                             const char *const *sets)
{
    struct npy u8 = { 0 };
    if (load(dir, "input_u8", &u8) == 0) {
        struct model_image im = { u8.data, (int)u8.shape[1], (int)u8.shape[0],
                                  3 * (int)u8.shape[1] };
        struct model_detection dets[1000];
        int nd = 0;
        CHECK(model_detect(m, &im, dets, 1000, &nd) == 0, "%s: model_detect", cs);
        struct npy tp = { 0 }, tps = { 0 };
        load(dir, "proposals", &tp);
        load(dir, "proposal_scores", &tps);
        struct props_cmp pc = { npy_f32(&tp), npy_f32(&tps), m->last_props, m->last_pscores,
                                (int)tps.numel, m->last_P, NULL, NULL };
        pc.tdiff = calloc((size_t)pc.tn + 1, 1);
        pc.cdiff = calloc((size_t)pc.cn + 1, 1);
        struct npy rcb = { 0 }, rcs = { 0 }, rcl = { 0 };
        int have_rc = load(dir, "rpn_cand_boxes", &rcb) == 0 &&
                      load(dir, "rpn_cand_scores", &rcs) == 0 &&
                      load(dir, "rpn_cand_levels", &rcl) == 0;
        CHECK(have_rc, "%s: RPN candidate dumps missing", cs);
        struct rpn_cands rc = { npy_f32(&rcb), npy_f32(&rcs), npy_i64(&rcl), (int)rcs.numel,
                                (float)meta_num(meta, "rpn_nms_thresh") };
        int untied = proposal_diff(pc.tb, pc.ts, pc.tn, pc.cb, pc.cs, pc.cn, pc.tdiff, pc.cdiff,
                                   have_rc ? &rc : NULL);
        npy_free(&rcb); npy_free(&rcs); npy_free(&rcl);
        int ndiff = 0;
        for (int i = 0; i < pc.tn; i++) ndiff += pc.tdiff[i];
        printf("  %-14s proposals: %d C, %d torchvision, %d differ (%d not in a near-tie)\n",
               cs, pc.cn, pc.tn, ndiff, untied);
        CHECK(untied == 0, "%s: %d proposals differ without a near-tie", cs, untied);
        if (!strcmp(arch, "fasterrcnn_mobilenet_v3_large_320_fpn"))
            check_cli(cs, dir, weights, arch, sets, dets, nd);
        if (!ndiff) {
            check_detections(cs, dets, nd, dir, meta);
        } else {
            /* The proposals differ by tie-breaks only: run C's own image →
             * features → heads path on torchvision's proposals, which must
             * then give torchvision's detections with no excuses. */
            struct run r = { .arena = &m->arena };
            struct fmap x, body[NET_MAX_LEVELS], feats[NET_MAX_LEVELS];
            int rh, rw;
            arena_reset(&m->arena);
            detector_preprocess(m, &im, &x, &rh, &rw);
            backbone_body(&m->bb, &r, &x, body, NULL);
            backbone_fpn(&m->bb, &r, body, feats);
            nd = detector_heads(m, &r, feats, pc.tb, pc.tn, rh, rw, im.height, im.width,
                                dets, 1000);
            char cs2[96];
            snprintf(cs2, sizeof cs2, "%s+tv-proposals", cs);
            check_detections(cs2, dets, nd, dir, meta);
        }
        free(pc.tdiff);
        free(pc.cdiff);
        npy_free(&tp);
        npy_free(&tps);
        printf("  %-14s model_detect %.0f ms\n", cs, model_last_timing(m)->total);
    } else {
        CHECK(0, "%s: end-to-end dumps missing", cs);
    }
    npy_free(&u8);
}

static void run_case(const char *name)
{
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    struct meta meta;
    snprintf(path, sizeof path, "%s/meta.txt", dir);
    if (meta_load(path, &meta)) { CHECK(0, "%s: no meta.txt", name); return; }

    /* --set overrides the case needs */
    char setbuf[512] = "";
    const char *sets[16] = { 0 };
    const char *sv = meta_get(&meta, "sets");
    if (sv && strcmp(sv, "-")) {
        snprintf(setbuf, sizeof setbuf, "%s", sv);
        int ns = 0;
        for (char *save = NULL, *tok = strtok_r(setbuf, " ", &save); tok && ns < 15;
             tok = strtok_r(NULL, " ", &save))
            sets[ns++] = tok;
    }
    const char *arch = meta_get(&meta, "arch");
    const char *owner = meta_get(&meta, "weights");
    char legacy[1024];
    snprintf(path, sizeof path, "%s/%s/model_zip.pth", root, owner ? owner : name);
    snprintf(legacy, sizeof legacy, "%s/%s/model_legacy.pth", root, owner ? owner : name);
    /* the formats are checked once per set of weights, on the case that made them */
    if (!owner || !strcmp(owner, name)) check_same_weights(name, path, legacy);
    struct model_options opt = { .weights = path, .arch = arch, .sets = sets, .threads = 2 };
    struct model *m = NULL;
    CHECK(model_load(&m, &opt) == 0, "%s: model_load failed", name);
    if (m) {
        CHECK(m->spec.num_classes == (int)meta_num(&meta, "num_classes"), "%s: num_classes", name);
        check_stages(name, dir, m, &meta);
        check_end_to_end(name, dir, m, &meta, path, arch, sets);
        model_free(&m);
    }
    meta_free(&meta);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv)
{
    model_prepare_blas(argv);   /* the same BLAS kernels as vdetect itself */
    printf("BLAS kernels: %s; near-tie rule: scores within %g, IoU within %g of the NMS "
           "threshold, matches within %g (tests/ties.h)\n", model_blas_core(), TIE_SCORE,
           TIE_IOU, TIE_MATCH_SCORE);
    const char *fx = getenv("VDETECT_FIXTURES");
    snprintf(root, sizeof root, "%s/parity", fx ? fx : "tests/fixtures");
    char *names[64];
    int n = 0;
    if (argc > 1) {
        for (int i = 1; i < argc && n < 64; i++) names[n++] = strdup(argv[i]);
    } else {
        DIR *d = opendir(root);
        CHECK(d != NULL, "no parity fixtures in %s", root);
        for (struct dirent *e; d && (e = readdir(d)) && n < 64;)
            if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
        if (d) closedir(d);
    }
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        printf("case %s\n", names[i]);
        fflush(stdout);
        run_case(names[i]);
        free(names[i]);
    }
    return check_summary("test_parity_model");
}
