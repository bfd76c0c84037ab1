/*
 * test_parity_model.c — the C detector against torchvision, case by case.
 *
 * For every fixture case made by tests/gen_parity.py (seeded random weights,
 * saved as zip and legacy checkpoints, every stage dumped), this loads the
 * checkpoint in both formats and checks, with the tolerances of the reference
 * (§10.2):
 *   - the body and FPN from torchvision's preprocessed image (chained),
 *   - the FPN alone from torchvision's body outputs (isolated),
 *   - the RPN head on torchvision's FPN maps, and the anchors,
 *   - the box head and predictor on torchvision's pooled RoIs,
 *   - the whole path from the RGB image to detections (model_detect).
 */
#include "../model/detector.h"
#include "check.h"
#include "npy.h"

#include <dirent.h>
#include <math.h>
#include <string.h>

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

static void check_map(const char *cs, const char *what, const struct fmap *f, struct npy *ref,
                      double tol)
{
    int ok = ref->numel == (int64_t)fmap_numel(f) && ref->ndim == 3 && ref->shape[0] == f->c &&
             ref->shape[1] == f->h && ref->shape[2] == f->w;
    CHECK(ok, "%s %s: shape %dx%dx%d vs %lldx%lldx%lld", cs, what, f->c, f->h, f->w,
          (long long)ref->shape[0], (long long)ref->shape[1], (long long)ref->shape[2]);
    if (!ok) return;
    double r = rel_diff(f->d, npy_f32(ref), fmap_numel(f), NULL);
    printf("  %-14s %-22s rel %.2e\n", cs, what, r);
    CHECK(r <= tol, "%s %s: relative difference %.3e > %.1e", cs, what, r, tol);
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

/* §10.2 end-to-end rule: every reference detection with score >= 0.3 has a C
 * detection of the same label with IoU >= 0.99 and |dscore| <= 1e-3, except
 * near-ties (|dscore| < 1e-6 with an overlapping box) and the 100-cut. */
static void check_detections(const char *cs, const struct model_detection *d, int nd,
                             const float *rb, const float *rs, const int64_t *rl, int nr,
                             int maxdet)
{
    int considered = 0, matched = 0, excused = 0;
    for (int i = 0; i < nr; i++) {
        if (rs[i] < 0.3f) continue;
        considered++;
        int hit = 0;
        for (int j = 0; j < nd && !hit; j++)
            hit = d[j].label == rl[i] && iou(d[j].box, rb + 4 * i) >= 0.99f &&
                  fabsf(d[j].score - rs[i]) <= 1e-3f;
        if (hit) { matched++; continue; }
        int tie = i >= maxdet - 1;
        for (int k = 0; k < nr && !tie; k++)
            tie = k != i && fabsf(rs[k] - rs[i]) < 1e-6f && iou(rb + 4 * k, rb + 4 * i) > 0;
        if (tie) excused++;
        else CHECK(0, "%s: torchvision detection %d (label %lld score %.6f box %.1f,%.1f,%.1f,%.1f) "
                   "has no C match", cs, i, (long long)rl[i], rs[i], rb[4 * i], rb[4 * i + 1],
                   rb[4 * i + 2], rb[4 * i + 3]);
    }
    int extra = 0;
    for (int j = 0; j < nd; j++) {
        if (d[j].score < 0.3f) continue;
        int hit = 0;
        for (int i = 0; i < nr && !hit; i++)
            hit = d[j].label == rl[i] && iou(d[j].box, rb + 4 * i) >= 0.99f &&
                  fabsf(d[j].score - rs[i]) <= 1e-3f;
        extra += !hit;
    }
    printf("  %-14s detections: %d C, %d torchvision; >=0.3: %d/%d matched, %d tie-excused, "
           "%d unmatched C\n", cs, nd, nr, matched, considered, excused, extra);
    CHECK(considered == 0 || matched >= 0.99 * considered, "%s: only %d of %d matched", cs,
          matched, considered);
    CHECK(extra <= excused, "%s: %d C detections >= 0.3 have no torchvision match", cs, extra);
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
    static const char *const formats[2] = { "model_zip.pth", "model_legacy.pth" };
    for (int fi = 0; fi < 2; fi++) {
        char cs[64];
        snprintf(cs, sizeof cs, "%s/%s", name, fi ? "legacy" : "zip");
        snprintf(path, sizeof path, "%s/%s", dir, formats[fi]);
        struct model_options opt = { .weights = path, .arch = arch, .sets = sets, .threads = 2 };
        struct model *m = NULL;
        CHECK(model_load(&m, &opt) == 0, "%s: model_load failed", cs);
        if (!m) continue;
        CHECK(m->spec.num_classes == (int)meta_num(&meta, "num_classes"), "%s: num_classes", cs);

        struct npy img = { 0 }, u8 = { 0 }, db = { 0 }, ds = { 0 }, dl = { 0 };
        if (fi == 0) {   /* stage checks once per case; end to end for both formats */
            struct arena a;
            arena_init(&a);
            struct run r = { .arena = &a };
            CHECK(load(dir, "transform", &img) == 0, "%s: transform.npy", cs);
            struct fmap x = fmap_of(&img);
            struct fmap body[NET_MAX_LEVELS], feats[NET_MAX_LEVELS], stem;
            backbone_body(&m->bb, &r, &x, body, &stem);
            struct npy ref = { 0 };
            if (load(dir, "stem", &ref) == 0) check_map(cs, "stem", &stem, &ref, 1e-5);
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
        }

        /* end to end */
        if (load(dir, "input_u8", &u8) == 0 && load(dir, "det_boxes", &db) == 0 &&
            load(dir, "det_scores", &ds) == 0 && load(dir, "det_labels", &dl) == 0) {
            struct model_image im = { u8.data, (int)u8.shape[1], (int)u8.shape[0],
                                      3 * (int)u8.shape[1] };
            struct model_detection dets[1000];
            int nd = 0;
            CHECK(model_detect(m, &im, dets, 1000, &nd) == 0, "%s: model_detect", cs);
            check_detections(cs, dets, nd, npy_f32(&db), npy_f32(&ds), npy_i64(&dl),
                             (int)ds.numel, m->spec.p.box_detections_per_img);
            printf("  %-14s model_detect %.0f ms\n", cs, model_last_timing(m)->total);
        } else {
            CHECK(0, "%s: end-to-end dumps missing", cs);
        }
        npy_free(&img); npy_free(&u8); npy_free(&db); npy_free(&ds); npy_free(&dl);
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
