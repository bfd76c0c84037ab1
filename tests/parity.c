/*
 * parity.c — comparing the C detector with torchvision's dumps, shared by the
 * parity tests (test_parity_model.c for the presets, test_parity_zoo.c for
 * exported models): maps within a relative tolerance, detections under the
 * near-tie rule (ties.h), and the end-to-end path with its proposal check.
 */
#include "parity.h"

#include "check.h"
#include "ties.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int parity_load(const char *dir, const char *name, struct npy *a)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    return npy_load(path, a);
}

/* max|a - b| / max|b| over n floats */
double parity_rel_diff(const float *a, const float *b, size_t n, double *maxref)
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
void parity_check_map_sampled(const char *cs, const char *what, const struct fmap *f,
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
        r = parity_rel_diff(pick, npy_f32(ref), (size_t)ref->numel, NULL);
        free(pick);
    } else {
        r = parity_rel_diff(f->d, npy_f32(ref), n, NULL);
    }
    printf("  %-14s %-22s rel %.2e%s\n", cs, what, r, stride > 1 ? " (sampled)" : "");
    CHECK(r <= tol, "%s %s: relative difference %.3e > %.1e", cs, what, r, tol);
}

void parity_check_map(const char *cs, const char *what, const struct fmap *f, struct npy *ref,
                      double tol)
{
    parity_check_map_sampled(cs, what, f, ref, tol, 1);
}

struct fmap parity_fmap_of(struct npy *a)
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
void parity_check_detections(const char *cs, const struct model_detection *d, int nd,
                             const char *dir, const struct meta *meta)
{
    struct npy db = { 0 }, ds = { 0 }, dl = { 0 }, cb = { 0 }, csc = { 0 }, cl = { 0 };
    int have = parity_load(dir, "det_boxes", &db) == 0 && parity_load(dir, "det_scores", &ds) == 0 &&
               parity_load(dir, "det_labels", &dl) == 0 && parity_load(dir, "cand_boxes", &cb) == 0 &&
               parity_load(dir, "cand_scores", &csc) == 0 && parity_load(dir, "cand_labels", &cl) == 0;
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

void parity_end_to_end(const char *cs, const char *dir, struct model *m, const struct meta *meta,
                       void (*also)(const char *cs, const struct model_detection *d, int nd,
                                    void *ctx),
                       void *ctx)
{
    struct npy u8 = { 0 };
    if (parity_load(dir, "input_u8", &u8) == 0) {
        struct model_image im = { u8.data, (int)u8.shape[1], (int)u8.shape[0],
                                  3 * (int)u8.shape[1] };
        struct model_detection dets[1000];
        int nd = 0;
        struct proposals cp = { 0 };
        CHECK(generalized_rcnn_forward(m, &im, dets, 1000, &nd, &cp) == 0, "%s: model_detect",
              cs);
        struct npy tp = { 0 }, tps = { 0 };
        parity_load(dir, "proposals", &tp);
        parity_load(dir, "proposal_scores", &tps);
        struct props_cmp pc = { npy_f32(&tp), npy_f32(&tps), cp.boxes, cp.scores,
                                (int)tps.numel, cp.n, NULL, NULL };
        pc.tdiff = calloc((size_t)pc.tn + 1, 1);
        pc.cdiff = calloc((size_t)pc.cn + 1, 1);
        struct npy rcb = { 0 }, rcs = { 0 }, rcl = { 0 };
        int have_rc = parity_load(dir, "rpn_cand_boxes", &rcb) == 0 &&
                      parity_load(dir, "rpn_cand_scores", &rcs) == 0 &&
                      parity_load(dir, "rpn_cand_levels", &rcl) == 0;
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
        if (also) also(cs, dets, nd, ctx);
        if (!ndiff) {
            parity_check_detections(cs, dets, nd, dir, meta);
        } else {
            /* The proposals differ by tie-breaks only: run C's own image →
             * features → heads path on torchvision's proposals, which must
             * then give torchvision's detections with no excuses. */
            struct run r = { .arena = &m->arena };
            struct fmap x, feats[SPEC_MAX_LEVELS];
            struct image_sizes z;
            arena_reset(&m->arena);
            transform_forward(m, &im, &x, &z);
            net_ops_begin(m);
            backbone_run(&m->bb, &r, &x, feats);
            struct proposals tv = { (float *)pc.tb, (float *)pc.ts, pc.tn };
            nd = roi_heads_forward(m, &r, feats, &tv, &z, dets, 1000);
            net_ops_end();
            char cs2[96];
            snprintf(cs2, sizeof cs2, "%s+tv-proposals", cs);
            parity_check_detections(cs2, dets, nd, dir, meta);
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


int parity_words(const char *value, char *buf, size_t len, const char **out, int max)
{
    int n = 0;
    out[0] = NULL;
    if (!value || !strcmp(value, "-")) return 0;
    snprintf(buf, len, "%s", value);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && n < max - 1;
         t = strtok_r(NULL, " ", &save))
        out[n++] = t;
    out[n] = NULL;
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void parity_run_cases(const char *subdir, int argc, char **argv,
                      void (*run)(const char *root, const char *name, const char *dir,
                                  const struct meta *meta))
{
    const char *fx = getenv("VDETECT_FIXTURES");
    char root[400];
    snprintf(root, sizeof root, "%s/%s", fx ? fx : "tests/fixtures", subdir);
    char *names[64];
    int n = 0;
    if (argc > 1) {
        for (int i = 1; i < argc && n < 64; i++) names[n++] = strdup(argv[i]);
    } else {
        DIR *d = opendir(root);
        CHECK(d != NULL, "no %s fixtures in %s", subdir, root);
        for (struct dirent *e; d && (e = readdir(d)) && n < 64;)
            if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
        if (d) closedir(d);
    }
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        printf("case %s\n", names[i]);
        fflush(stdout);
        char dir[512], path[1024];
        struct meta meta;
        snprintf(dir, sizeof dir, "%s/%s", root, names[i]);
        snprintf(path, sizeof path, "%s/meta.txt", dir);
        if (meta_load(path, &meta) == 0) {
            run(root, names[i], dir, &meta);
            meta_free(&meta);
        } else {
            CHECK(0, "%s: no meta.txt", names[i]);
        }
        free(names[i]);
    }
}
