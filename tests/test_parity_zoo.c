/*
 * test_parity_zoo.c — exported models of every backbone family against
 * torchvision (fixtures: tests/gen_zoo.py, one model per family built the way
 * users build them, written by model/py/export.py).
 *
 * Per case: the model file loads with no --arch; its graph run on torchvision's
 * preprocessed image gives torchvision's backbone outputs (relative difference
 * within the case's tolerance, 1e-4 unless meta says otherwise); and the whole
 * path from the RGB image gives torchvision's detections under the end-to-end
 * rule (parity.c: proposals equal up to near-ties, detections matched under
 * ties.h's rule). Where the case also saved its plain state_dict (meta
 * pth_sets), that file is loaded with no --arch too — its architecture inferred
 * from its keys — and must pass the same checks.
 */
#include "check.h"
#include "parity.h"

#include <stdlib.h>
#include <string.h>

static void check_outputs(const char *cs, const char *dir, struct model *m,
                          const struct meta *meta)
{
    struct npy img = { 0 };
    CHECK(parity_load(dir, "transform", &img) == 0, "%s: transform.npy", cs);
    if (!img.data) return;
    struct arena a;
    arena_init(&a);
    struct run r = { .arena = &a };
    struct fmap x = parity_fmap_of(&img), feats[SPEC_MAX_LEVELS];
    ops_use_pool(m->pool);
    int n = backbone_run(&m->bb, &r, &x, feats);
    ops_use_pool(NULL);
    double tol = meta_num(meta, "feat_tol");
    if (!(tol > 0)) tol = 1e-4;
    const struct graph *g = m->spec.graph;
    CHECK(g && n == g->n_out, "%s: %d outputs", cs, n);
    for (int i = 0; g && i < n; i++) {
        char nm[64];
        struct npy ref = { 0 };
        snprintf(nm, sizeof nm, "feat_%s", g->out_name[i]);
        CHECK(parity_load(dir, nm, &ref) == 0, "%s: %s.npy", cs, nm);
        if (ref.data) parity_check_map(cs, nm, &feats[i], &ref, tol);
        npy_free(&ref);
    }
    arena_release(&a);
    npy_free(&img);
}

static void run_case(const char *root, const char *name, const char *dir,
                     const struct meta *meta)
{
    (void)root;
    char path[1024];
    snprintf(path, sizeof path, "%s/model.vdm", dir);
    struct model_options opt = { .weights = path, .threads = 2 };
    struct model *m = NULL;
    CHECK(model_load(&m, &opt) == 0, "%s: model_load failed", name);
    if (m) {
        printf("  %-14s %s: %d classes, %lld parameters, %d feature maps\n", name, model_arch(m),
               model_num_classes(m), (long long)model_param_count(m), m->spec.n_levels);
        CHECK(m->spec.num_classes == (int)meta_num(meta, "num_classes"), "%s: num_classes", name);
        check_outputs(name, dir, m, meta);
        parity_end_to_end(name, dir, m, meta, NULL, NULL);
        model_free(&m);
    }
    /* the plain state_dict, where its keys fix the architecture (model/spec/infer.c) */
    const char *ps = meta_get(meta, "pth_sets");
    if (ps) {
        char sets_buf[256], cs[96];
        const char *sets[8];
        parity_words(ps, sets_buf, sizeof sets_buf, sets, 8);
        snprintf(path, sizeof path, "%s/model.pth", dir);
        snprintf(cs, sizeof cs, "%s+pth", name);
        struct model_options po = { .weights = path, .sets = sets, .threads = 2 };
        CHECK(model_load(&m, &po) == 0, "%s: the plain state_dict does not load", cs);
        if (m) {
            printf("  %-14s inferred %s; note: %s\n", cs, model_arch(m),
                   model_note(m) ? model_note(m) : "(none)");
            CHECK(model_note(m) != NULL, "%s: no note of what was assumed", cs);
            check_outputs(cs, dir, m, meta);
            parity_end_to_end(cs, dir, m, meta, NULL, NULL);
            model_free(&m);
        }
    }
}

int main(int argc, char **argv)
{
    model_prepare_blas(argv);
    printf("BLAS kernels: %s; GEMM engine: %s\n", model_blas_core(),
           gemm_engine_name(gemm_engine_by_cpu()));
    parity_run_cases("zoo", argc, argv, run_case);
    return check_summary("test_parity_zoo");
}
