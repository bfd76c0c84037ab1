/*
 * test_parity_model.c — the C detector against torchvision, case by case.
 *
 * For every fixture case made by tests/gen_parity.py (seeded random weights,
 * saved as a float32 zip and a float16 legacy checkpoint holding the same
 * values, every stage dumped), this checks that both files load to the same
 * weights bit for bit, and then, with the tolerances of docs/torchvision-inference.md §10.2:
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
#include "../model/net/net.h"
#include "../model/ckpt/ckpt.h"
#include "../model/ckpt/sjson.h"
#include "check.h"
#include "npy.h"
#include "parity.h"
#include "ties.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    char err[200];
    json_t *doc = sjson_load(out, n, NULL, err, sizeof err);
    CHECK(doc != NULL, "%s: CLI JSON: %s", cs, err);
    const json_t *dl = json_object_get(doc, "detections");
    int same = json_is_array(dl) && (int)json_array_size(dl) == nd;
    for (int i = 0; same && i < nd; i++) {
        const json_t *o = json_array_get(dl, (size_t)i), *b = json_object_get(o, "box");
        const json_t *sc = json_object_get(o, "score"), *lb = json_object_get(o, "label");
        int64_t label;
        same = json_is_array(b) && json_array_size(b) == 4 && json_is_number(sc) &&
               sjson_int(lb, INT32_MIN, INT32_MAX, &label) &&
               (float)json_number_value(sc) == d[i].score && label == d[i].label;
        for (int k = 0; same && k < 4; k++) {
            const json_t *x = json_array_get(b, (size_t)k);
            same = json_is_number(x) && (float)json_number_value(x) == d[i].box[k];
        }
    }
    CHECK(same, "%s: vdetect detect differs from model_detect (%zu vs %d detections)", cs,
          json_array_size(dl), nd);
    printf("  %-14s command line: %d detections, %s model_detect's\n", cs, nd,
           same ? "bit-identical to" : "NOT equal to");
    json_decref(doc);
}

struct cli_ctx {
    const char *dir, *weights, *arch;
    const char *const *sets;
};

static void cli_also(const char *cs, const struct model_detection *d, int nd, void *ctx)
{
    const struct cli_ctx *c = ctx;
    check_cli(cs, c->dir, c->weights, c->arch, c->sets, d, nd);
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
    CHECK(parity_load(dir, "transform", &img) == 0, "%s: transform.npy", cs);
    struct fmap x = parity_fmap_of(&img);
    /* the graph's taps: "stem" and the FPN's inputs "body_I" */
    const struct graph *g = m->bb.graph;
    struct fmap taps[GRAPH_MAX_TAPS], seeds[GRAPH_MAX_TAPS], feats[SPEC_MAX_LEVELS];
    struct graph_io io = { taps, NULL };
    ops_use_pool(m->pool);
    graph_run_io(g, &r, &x, feats, &io);
    struct npy ref = { 0 }, bref[GRAPH_MAX_TAPS] = { 0 };
    const char *ss = meta_get(meta, "sample_stem");
    int nbody = 0;
    for (int k = 0; k < g->n_tap; k++) {
        const char *nm = g->tap_name[k];
        seeds[k] = (struct fmap){ 0 };
        if (!strcmp(nm, "stem")) {
            if (parity_load(dir, "stem", &ref) == 0)
                parity_check_map_sampled(cs, "stem", &taps[k], &ref, 1e-5, ss ? atoll(ss) : 1);
            npy_free(&ref);
            continue;
        }
        nbody++;
        if (parity_load(dir, nm, &bref[k]) == 0) {
            parity_check_map(cs, nm, &taps[k], &bref[k], 1e-4);
            seeds[k] = parity_fmap_of(&bref[k]);
        } else {
            CHECK(0, "%s: %s.npy missing", cs, nm);
        }
    }
    CHECK(nbody >= 1, "%s: the graph has no body taps", cs);
    /* FPN in isolation: torchvision's body outputs in place of the taps */
    io = (struct graph_io){ NULL, seeds };
    graph_run_io(g, &r, NULL, feats, &io);
    ops_use_pool(NULL);
    int nfeat = m->bb.n_out;
    struct npy fref[SPEC_MAX_LEVELS] = { 0 };
    for (int i = 0; i < nfeat; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "fpn_%s", g->out_name[i]);
        if (parity_load(dir, nm, &fref[i]) == 0) parity_check_map(cs, nm, &feats[i], &fref[i], 1e-4);
        else CHECK(0, "%s: %s.npy missing", cs, nm);
    }
    /* RPN head on torchvision's maps; anchors */
    for (int l = 0; l < nfeat; l++) {
        struct fmap f = parity_fmap_of(&fref[l]), lg, dd;
        rpn_head_forward(&m->rpn, &r, &f, &lg, &dd);
        char nm[32];
        snprintf(nm, sizeof nm, "rpn_logits_%d", l);
        if (parity_load(dir, nm, &ref) == 0) parity_check_map(cs, nm, &lg, &ref, 1e-4);
        npy_free(&ref);
        snprintf(nm, sizeof nm, "rpn_deltas_%d", l);
        if (parity_load(dir, nm, &ref) == 0) parity_check_map(cs, nm, &dd, &ref, 1e-4);
        npy_free(&ref);
    }
    struct fmap fm[SPEC_MAX_LEVELS];
    for (int l = 0; l < nfeat; l++) fm[l] = parity_fmap_of(&fref[l]);
    struct image_sizes z = { .hp = (int)img.shape[1], .wp = (int)img.shape[2] };
    anchors_forward(m, fm, nfeat, &z);
    if (parity_load(dir, "anchors", &ref) == 0) {
        int same = ref.numel == (int64_t)m->n_anchors * 4 &&
                   !memcmp(npy_f32(&ref), m->anchors, sizeof(float) * ref.numel);
        CHECK(same, "%s: anchors differ", cs);
    }
    npy_free(&ref);
    /* box head on torchvision's pooled RoIs */
    struct npy pooled = { 0 }, bf = { 0 }, cl = { 0 }, br = { 0 };
    if (parity_load(dir, "roi_pooled", &pooled) == 0 && parity_load(dir, "box_features", &bf) == 0 &&
        parity_load(dir, "class_logits", &cl) == 0 && parity_load(dir, "box_regression", &br) == 0) {
        int P = (int)pooled.shape[0], K = m->spec.num_classes;
        float *f = malloc(sizeof(float) * (P + 1) * m->box.rep);
        float *lo = malloc(sizeof(float) * (P + 1) * K);
        float *re = malloc(sizeof(float) * (P + 1) * 4 * K);
        box_head_forward(&m->box, &r, npy_f32(&pooled), P, f, lo, re);
        double d1 = parity_rel_diff(f, npy_f32(&bf), (size_t)P * m->box.rep, NULL);
        double d2 = parity_rel_diff(lo, npy_f32(&cl), (size_t)P * K, NULL);
        double d3 = parity_rel_diff(re, npy_f32(&br), (size_t)P * 4 * K, NULL);
        printf("  %-14s box head (P=%d)         rel %.2e %.2e %.2e\n", cs, P, d1, d2, d3);
        CHECK(d1 <= 1e-4 && d2 <= 1e-4 && d3 <= 1e-4, "%s: box head %.2e %.2e %.2e", cs,
              d1, d2, d3);
        free(f); free(lo); free(re);
    } else {
        CHECK(0, "%s: box head dumps missing", cs);
    }
    npy_free(&pooled); npy_free(&bf); npy_free(&cl); npy_free(&br);
    for (int i = 0; i < SPEC_MAX_LEVELS; i++) { npy_free(&bref[i]); npy_free(&fref[i]); }
    arena_release(&a);
    npy_free(&img);
}

/* The whole path from the RGB image (model_detect) against torchvision's
 * proposals and detections; the command line against model_detect. */
static void run_case(const char *root, const char *name, const char *dir,
                     const struct meta *meta)
{
    char path[1024];

    /* --set overrides the case needs */
    char setbuf[512];
    const char *sets[16];
    parity_words(meta_get(meta, "sets"), setbuf, sizeof setbuf, sets, 16);
    const char *arch = meta_get(meta, "arch");
    const char *owner = meta_get(meta, "weights");
    char legacy[1024];
    snprintf(path, sizeof path, "%s/%s/model_zip.pth", root, owner ? owner : name);
    snprintf(legacy, sizeof legacy, "%s/%s/model_legacy.pth", root, owner ? owner : name);
    /* the formats are checked once per set of weights, on the case that made them */
    if (!owner || !strcmp(owner, name)) check_same_weights(name, path, legacy);
    struct model_options opt = { .weights = path, .arch = arch, .sets = sets, .threads = 2 };
    struct model *m = NULL;
    CHECK(model_load(&m, &opt) == 0, "%s: model_load failed", name);
    if (m) {
        CHECK(m->spec.num_classes == (int)meta_num(meta, "num_classes"), "%s: num_classes", name);
        check_stages(name, dir, m, meta);
        struct cli_ctx cc = { dir, path, arch, sets };
        parity_end_to_end(name, dir, m, meta,
                          !strcmp(arch, "fasterrcnn_mobilenet_v3_large_320_fpn") ? cli_also : NULL,
                          &cc);
        model_free(&m);
    }
}

int main(int argc, char **argv)
{
    model_prepare_blas(argv);   /* the same BLAS kernels as vdetect itself */
    if (argc == 2 && !strcmp(argv[1], "--engine")) {   /* for test_parity_kernels.sh */
        printf("%s\n", gemm_engine_name(gemm_engine_by_cpu()));
        return 0;
    }
    printf("BLAS kernels: %s; GEMM engine: %s; near-tie rule: scores within %g, IoU within %g "
           "of the NMS threshold, matches within %g (tests/ties.h)\n", model_blas_core(),
           gemm_engine_name(gemm_engine_by_cpu()), TIE_SCORE, TIE_IOU, TIE_MATCH_SCORE);
    parity_run_cases("parity", argc, argv, run_case);
    return check_summary("test_parity_model");
}
