/*
 * detector.c — the whole torchvision inference path for one image, and the
 * model's life cycle: load (checkpoint → spec → bound modules), detect, free,
 * and the facts `vdetect info` prints.
 *
 * Data flow of model_detect (docs/torchvision-inference.md §0): normalise + resize +
 * zero-pad, backbone + FPN, RPN head on every level, anchors + decode +
 * filter_proposals, MultiScaleRoIAlign, box head, postprocess_detections, rescale to
 * the input. Everything per frame comes from the activation arena.
 */
#include "detector.h"

#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_INPUT_SIDE 16384

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- load / free ------------------------------------------------------------------ */

void model_free(struct model **pm)
{
    struct model *m = pm ? *pm : NULL;
    if (!m) return;
    spec_release(&m->spec);
    pool_close(&m->pool);
    arena_release(&m->store);
    arena_release(&m->arena);
    ckpt_free(&m->ck);
    if (m->names) {
        for (int i = 0; i < m->spec.num_classes; i++) free(m->names[i]);
        free(m->names);
    }
    free(m->anchors);
    free(m);
    *pm = NULL;
}

/* A self-describing model file: the spec and class names from its metadata
 * JSON (spec_meta.c) instead of a preset; --arch, if given, must agree. */
static int spec_from_model_file(struct model *m, const struct model_options *opt,
                                const char *meta)
{
    char **names = NULL;
    int n = 0, err = -1;
    spec_meta_source = opt->weights;
    int bad = spec_from_metadata(&m->spec, meta, &names, &n);
    spec_meta_source = NULL;
    if (bad)
        return -1;
    const struct ckpt_tensor *cls = ckpt_find(m->ck, "roi_heads.box_predictor.cls_score.weight");
    if (opt->arch && strcmp(opt->arch, m->spec.arch)) {
        fprintf(stderr, "checkpoint %s: --arch %s disagrees with the model file's architecture "
                "%s (leave --arch out)\n", opt->weights, opt->arch, m->spec.arch);
    } else if (names && cls && cls->ndim == 2 && cls->shape[0] != n) {
        fprintf(stderr, "checkpoint %s: metadata names %d classes but the weights have %lld\n",
                opt->weights, n, (long long)cls->shape[0]);
    } else {
        err = 0;
        if (names && cls) {
            m->spec.num_classes = n;
            err = model_set_class_names(m, (const char *const *)names, n);
        }
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return err;
}

int model_load(struct model **out, const struct model_options *opt)
{
    *out = NULL;
    if (!opt || !opt->weights) {
        fprintf(stderr, "model: no weights file given\n");
        return -1;
    }
    struct model *m = calloc(1, sizeof *m);
    if (!m) return -1;
    arena_init(&m->store);
    arena_init(&m->arena);
    /* our own workers split every GEMM and run the loops BLAS does not */
    if (opt->threads > 1 && pool_open(&m->pool, opt->threads)) {
        fprintf(stderr, "model: cannot start %d threads\n", opt->threads);
        goto fail;
    }

    if (ckpt_load(opt->weights, &m->ck)) goto fail;
    const char *meta = ckpt_metadata(m->ck, "vdetect");
    int inferred = 0;
    if (!opt->arch && !meta) {
        inferred = spec_infer(&m->spec, m->ck, opt->weights, m->note, sizeof m->note);
        if (inferred < 0) goto fail;
        if (m->note[0]) fprintf(stderr, "note: %s\n", m->note);
    }
    const char *arch = opt->arch ? opt->arch : meta || inferred ? "" : spec_guess_arch(m->ck, opt->weights);
    if (!arch) {
        fprintf(stderr, "checkpoint %s: cannot tell the architecture from its keys; pass --arch (",
                opt->weights);
        for (const char *const *p = spec_preset_names(); *p; p++)
            fprintf(stderr, "%s%s", p == spec_preset_names() ? "" : ", ", *p);
        fprintf(stderr, ") if it is one of torchvision's builders, or export your own model with "
                "model/py/export.py (README: Bring your own model)\n");
        goto fail;
    }
    if (meta ? spec_from_model_file(m, opt, meta) : !inferred && spec_preset(&m->spec, arch))
        goto fail;
    /* The resnet50 preset assumes the COCO weights' FrozenBatchNorm2d with eps 0;
     * a backbone saved with nn.BatchNorm2d (trained without those weights) used
     * eps 1e-5, and its counters give it away. --set bn_eps still decides. */
    if (!meta && m->spec.p.bn_eps == 0.0f && ckpt_batchnorm_counters(m->ck) > 0) {
        m->spec.p.bn_eps = 1e-5f;
        int user_eps = 0;
        for (int i = 0; opt->sets && opt->sets[i]; i++)
            user_eps |= !strncmp(opt->sets[i], "bn_eps=", 7);
        if (!user_eps)
            fprintf(stderr, "note: %s has nn.BatchNorm2d layers (num_batches_tracked): using "
                    "bn_eps=1e-5 (override with --set bn_eps=...)\n", opt->weights);
    }
    for (int i = 0; opt->sets && opt->sets[i]; i++)
        if (spec_set(&m->spec, opt->sets[i])) goto fail;

    const struct ckpt_tensor *cls = ckpt_find(m->ck, "roi_heads.box_predictor.cls_score.weight");
    if (!cls || cls->ndim != 2 || cls->shape[0] < 2 || cls->shape[0] > 100000) {
        fprintf(stderr, "checkpoint %s: not a Faster R-CNN state_dict (no usable "
                "roi_heads.box_predictor.cls_score.weight)\n", opt->weights);
        goto fail;
    }
    m->spec.num_classes = (int)cls->shape[0];

    struct binder b = { .ck = m->ck, .path = opt->weights, .arch = m->spec.arch,
                        .store = &m->store, .bn_eps = m->spec.p.bn_eps };
    b.used = calloc((size_t)ckpt_count(m->ck) + 1, 1);
    if (!b.used) goto fail;
    int err = backbone_build(&m->bb, &m->spec, &b) || rpn_head_build(&m->rpn, &m->spec, &b) ||
              box_head_build(&m->box, &m->spec, &b) || bind_finish(&b);
    m->params = b.params;
    free(b.used);
    if (err) goto fail;
    int nfeat = m->bb.n_out;
    if (nfeat != m->spec.n_levels) {
        fprintf(stderr, "model %s: %d feature maps but %d anchor levels\n", m->spec.arch, nfeat,
                m->spec.n_levels);
        goto fail;
    }
    if (m->spec.num_classes == 91 && !m->names) model_set_class_names(m, model_coco_names, 91);
    *out = m;
    return 0;
fail:
    model_free(&m);
    return -1;
}

int model_set(struct model *m, const char *assignment)
{
    if (!strncmp(assignment, "bn_eps=", 7)) {
        fprintf(stderr, "--set bn_eps: must be given when the model is loaded\n");
        return -1;
    }
    m->plan_w = m->plan_h = 0;   /* sizes and memory change with the parameters */
    return spec_set(&m->spec, assignment);
}

int model_set_class_names(struct model *m, const char *const *names, int count)
{
    int K = m->spec.num_classes;
    char **nn = calloc((size_t)K, sizeof *nn);
    if (!nn) return -1;
    for (int i = 0; i < K && i < count; i++) {
        if (names[i] && !(nn[i] = strdup(names[i]))) {
            for (int j = 0; j < i; j++) free(nn[j]);
            free(nn);
            return -1;
        }
    }
    if (m->names)
        for (int i = 0; i < K; i++) free(m->names[i]);
    free(m->names);
    m->names = nn;
    return 0;
}

/* ---- facts -------------------------------------------------------------------------- */

const char *model_arch(const struct model *m) { return m->spec.arch; }
const char *model_note(const struct model *m) { return m->note[0] ? m->note : NULL; }
int model_num_classes(const struct model *m) { return m->spec.num_classes; }
const struct model_params *model_get_params(const struct model *m) { return &m->spec.p; }
int64_t model_param_count(const struct model *m) { return m->params; }
const struct model_timing *model_last_timing(const struct model *m) { return &m->timing; }

const char *model_stage_name(enum model_stage s)
{
    static const char *const names[MODEL_STAGES] = {
        "preprocess", "backbone", "fpn", "rpn_head", "rpn_proposals", "roi_align", "box_head",
        "postprocess", "total",
    };
    return s >= 0 && s < MODEL_STAGES ? names[s] : NULL;
}

double model_stage_ms(const struct model_timing *t, enum model_stage s)
{
    const double v[MODEL_STAGES] = { t->preprocess, t->backbone, t->fpn, t->rpn_head,
                                     t->rpn_proposals, t->roi_align, t->box_head,
                                     t->postprocess, t->total };
    return s >= 0 && s < MODEL_STAGES ? v[s] : 0.0;
}

const char *model_class_name(const struct model *m, int label)
{
    if (!m->names || label < 0 || label >= m->spec.num_classes) return NULL;
    return m->names[label];
}

void model_resized_size(const struct model *m, int width, int height, int *rw, int *rh)
{
    transform_resized_size(height, width, m->spec.p.min_size, m->spec.p.max_size, rh, rw);
}

/* ---- planning a pass ------------------------------------------------------------------ */

/* The most working memory a pass may ask for: what the kernel says is
 * available now (MemAvailable), else physical memory. Beyond it the system
 * would swap, or overcommit its way into the OOM killer. */
static size_t available_bytes(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    unsigned long long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) break;
    if (f) fclose(f);
    if (kib > 0 && kib < SIZE_MAX / 1024) return (size_t)kib * 1024;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0 || (size_t)pages > SIZE_MAX / (size_t)page) return SIZE_MAX;
    return (size_t)pages * (size_t)page;
}

static size_t min_z(size_t a, size_t b) { return a < b ? a : b; }

/* The transform's batch padding: each side up to a multiple of size_divisible. */
static void padded_size(const struct spec *s, int rh, int rw, int *hp, int *wp)
{
    int d = s->size_divisible > 0 ? s->size_divisible : 1;
    *hp = (rh + d - 1) / d * d;
    *wp = (rw + d - 1) / d * d;
}

/* Overflow-safe a * b, saturating at SIZE_MAX (a saturated size is refused). */
static size_t mul_z(size_t a, size_t b)
{
    return a && b > SIZE_MAX / a ? SIZE_MAX : a * b;
}

/* Scratch of batched_nms / nms on n boxes (nms.c): order and tmp, the packed
 * boxes and areas, suppression flags, kept flags, the re-sort's scores. */
static void count_nms(struct arena *a, size_t n)
{
    struct arena_mark mk = arena_mark(a);
    arena_ints(a, mul_z(2, n));
    arena_floats(a, mul_z(5, n));
    arena_ints(a, n);
    arena_alloc(a, n);
    arena_floats(a, n);
    arena_rewind(a, mk);
}

/*
 * What one model_detect on a W x H input needs, found without allocating: a dry
 * run of preprocess, backbone, FPN and RPN head on a counting arena, then the
 * data-dependent stages at their upper bounds (every top-k candidate survives,
 * rpn_post_nms_top_n_test or fewer proposals, every class of every proposal a
 * candidate) — each allocation as the stage makes it. *arena_bytes: the
 * activation arena's high-water mark; *anchor_bytes: the anchors (malloc'd
 * apart); *macs (may be NULL): the multiply-adds, for cost estimates. -1 with a one-line reason in msg when
 * torchvision could not run this size either (a side resized to 0 pixels, an
 * empty feature map).
 */
static int plan_pass(const struct model *m, int W, int H, size_t *arena_bytes,
                     size_t *anchor_bytes, double *macs, int *rh_out, int *rw_out, char *msg,
                     size_t len)
{
    const struct spec *s = &m->spec;
    int rh, rw;
    transform_resized_size(H, W, s->p.min_size, s->p.max_size, &rh, &rw);
    if (rh_out) *rh_out = rh;
    if (rw_out) *rw_out = rw;
    if (rh < 1 || rw < 1) {
        /* the smallest short side that keeps both resized sides >= 1, if any */
        int wide = W >= H, lng = wide ? W : H, need = 0;
        for (int t = 1; t <= lng && !need; t++) {
            int th, tw;
            transform_resized_size(wide ? t : lng, wide ? lng : t, s->p.min_size,
                                   s->p.max_size, &th, &tw);
            if (th >= 1 && tw >= 1) need = t;
        }
        char hint[128];
        if (need)
            snprintf(hint, sizeof hint, "with a %s of %d the %s must be at least %d pixels",
                     wide ? "width" : "height", lng, wide ? "height" : "width", need);
        else
            snprintf(hint, sizeof hint, "no %s works with a %s of %d at this max_size",
                     wide ? "height" : "width", wide ? "width" : "height", lng);
        snprintf(msg, len, "a %dx%d input resizes to %dx%d with min_size %g and max_size %g, "
                 "an empty image (torchvision refuses it too); %s", W, H, rw, rh,
                 s->p.min_size, s->p.max_size, hint);
        return -1;
    }
    struct arena a;
    arena_init_counting(&a);
    struct run r = { .arena = &a, .dry = 1 };
    int hp, wp;
    padded_size(s, rh, rw, &hp, &wp);

    /* detector_preprocess */
    struct fmap x = arena_fmap(&a, 3, hp, wp);
    struct arena_mark mk = arena_mark(&a);
    arena_floats(&a, (size_t)3 * H * W);
    arena_rewind(&a, mk);

    struct fmap feats[NET_MAX_LEVELS];
    int nfeat = backbone_run(&m->bb, &r, &x, feats);
    if (a.empty_map) {
        const char *why = r.refused ? r.refused : "a feature map shrinks to nothing";
        snprintf(msg, len, "a %dx%d input (resized to %dx%d, padded to %dx%d) cannot run through "
                 "this backbone: %s%s", W, H, rw, rh, wp, hp, why,
                 strstr(why, "grows") ? "" : " (torchvision refuses it too)");
        return -1;
    }

    /* detector_proposals */
    size_t N = 0, k_total = 0, n_max = 0;
    for (int l = 0; l < nfeat; l++) {
        size_t n = (size_t)feats[l].h * feats[l].w * s->n_sizes[l] * s->n_ratios[l];
        N += n;
        k_total += min_z(n, (size_t)s->p.rpn_pre_nms_top_n_test);
        if (n > n_max) n_max = n;
    }
    arena_floats(&a, N);
    arena_floats(&a, mul_z(4, N));
    for (int l = 0; l < nfeat; l++) {
        struct fmap lg, dl;
        mk = arena_mark(&a);
        rpn_head_forward(&m->rpn, &r, &feats[l], &lg, &dl);
        arena_rewind(&a, mk);
    }
    arena_floats(&a, mul_z(4, N));
    size_t P = min_z((size_t)s->p.rpn_post_nms_top_n_test, k_total);
    arena_floats(&a, 4 * P + 4);
    arena_floats(&a, P + 1);
    mk = arena_mark(&a);                       /* rpn_filter_proposals */
    arena_ints(&a, mul_z(3, k_total));
    arena_floats(&a, mul_z(5, k_total));
    struct arena_mark mk2 = arena_mark(&a);    /* torch_topk's work array */
    arena_ints(&a, n_max);
    arena_rewind(&a, mk2);
    count_nms(&a, k_total);
    arena_rewind(&a, mk);

    /* detector_heads */
    size_t Pn = P > 0 ? P : 1, C = (size_t)s->fpn_out, ro2 = (size_t)s->roi_out * s->roi_out;
    size_t K = (size_t)s->num_classes, rep = (size_t)m->box.rep;
    arena_floats(&a, mul_z(Pn, C * ro2));
    mk = arena_mark(&a);                       /* multiscale_roi_align */
    size_t map_max = 0;
    for (int l = 0; l < s->roi_maps; l++) {
        size_t e = fmap_numel(&feats[s->roi_index[l]]);
        map_max = map_max > e ? map_max : e;
    }
    arena_ints(&a, P + 1);
    arena_ints(&a, (size_t)s->roi_maps);
    arena_floats(&a, map_max);
    arena_floats(&a, C * ro2);
    arena_rewind(&a, mk);
    arena_floats(&a, mul_z(Pn, rep));
    arena_floats(&a, mul_z(Pn, K));
    arena_floats(&a, mul_z(Pn, 4 * K));
    mk = arena_mark(&a);                       /* box_head_forward */
    arena_floats(&a, mul_z(P, 5 * K));
    if (m->box.nconv) {
        size_t Cb = (size_t)m->box.convs[0].cin, S2 = (size_t)m->box.in / Cb, kk = Cb * 9;
        arena_floats(&a, mul_z(P, Cb * S2));
        arena_floats(&a, mul_z(P, Cb * S2));
        size_t chunk = P;
        if (mul_z(chunk, S2 * kk) > ((size_t)8 << 20)) chunk = ((size_t)8 << 20) / (S2 * kk);
        arena_floats(&a, mul_z(kk, mul_z(chunk ? chunk : 1, S2)));
    } else {
        arena_floats(&a, mul_z(P, rep));
    }
    arena_rewind(&a, mk);
    size_t cap = mul_z(P, K - 1);
    size_t D = min_z((size_t)s->p.box_detections_per_img, cap);
    arena_floats(&a, 4 * D + 4);
    arena_floats(&a, D + 1);
    arena_ints(&a, D + 1);
    mk = arena_mark(&a);                       /* box_postprocess */
    arena_floats(&a, mul_z(cap, 4));
    arena_floats(&a, cap);
    arena_ints(&a, cap);
    arena_floats(&a, K);
    arena_ints(&a, cap + 1);
    count_nms(&a, cap);
    arena_rewind(&a, mk);

    if (macs) {
        struct arena b;                        /* the box head's cost at P proposals */
        arena_init_counting(&b);
        struct run rb = { .arena = &b, .dry = 1, .macs = r.macs };
        box_head_forward(&m->box, &rb, NULL, (int)P, NULL, NULL, NULL);
        *macs = rb.macs;
    }
    *arena_bytes = a.high > SIZE_MAX - ((size_t)1 << 20) ? SIZE_MAX : a.high + ((size_t)1 << 20);
    *anchor_bytes = mul_z(N, 4 * sizeof(float));
    return 0;
}

/* plan_pass, then the memory it needs against the machine's. */
static int check_size(const struct model *m, int W, int H, size_t *arena_bytes, char *msg,
                      size_t len)
{
    if (W < 1 || H < 1 || W > MAX_INPUT_SIDE || H > MAX_INPUT_SIDE) {
        snprintf(msg, len, "a %dx%d input is outside the sizes vdetect takes (1 to %d pixels a "
                 "side)", W, H, MAX_INPUT_SIDE);
        return -1;
    }
    size_t bytes, anchors;
    int rh, rw;
    ops_use_pool(m->pool);   /* the depthwise scratch depends on the thread count */
    int err = plan_pass(m, W, H, &bytes, &anchors, NULL, &rh, &rw, msg, len);
    ops_use_pool(NULL);
    if (err) return -1;
    size_t total = bytes > SIZE_MAX - anchors ? SIZE_MAX : bytes + anchors;
    if (total > ((size_t)1 << 30)) {   /* below 1 GiB: not worth reading /proc */
        size_t avail = available_bytes();
        if (total > avail) {
            snprintf(msg, len, "a %dx%d input (resized to %dx%d) needs %.1f GiB of working "
                     "memory with this model, more than the %.1f GiB available", W, H, rw, rh,
                     (double)total / (1 << 30), (double)avail / (1 << 30));
            return -1;
        }
    }
    if (arena_bytes) *arena_bytes = bytes;
    return 0;
}

int model_check_size(const struct model *m, int width, int height, char *msg, size_t len)
{
    return check_size(m, width, height, NULL, msg, len);
}

int model_max_detections(const struct model *m)
{
    const struct model_params *p = &m->spec.p;
    int64_t props = (int64_t)p->rpn_pre_nms_top_n_test * m->spec.n_levels;
    if (props > p->rpn_post_nms_top_n_test) props = p->rpn_post_nms_top_n_test;
    int64_t n = props * (m->spec.num_classes - 1);
    if (n > p->box_detections_per_img) n = p->box_detections_per_img;
    return n > 0 ? (int)n : 1;
}

/* ---- stages -------------------------------------------------------------------------- */

int detector_anchors(struct model *m, const struct fmap *feats, int nfeat, int hp, int wp)
{
    int same = m->anchors && m->anchor_hp == hp && m->anchor_wp == wp;
    for (int l = 0; same && l < nfeat; l++)
        same = m->grid_h[l] == feats[l].h && m->grid_w[l] == feats[l].w;
    if (same) return 0;

    const struct spec *s = &m->spec;
    int64_t total = 0;
    for (int l = 0; l < nfeat; l++) total += (int64_t)feats[l].h * feats[l].w * s->n_sizes[l] * s->n_ratios[l];
    free(m->anchors);
    m->anchors = total <= INT32_MAX ? malloc(sizeof(float) * 4 * (size_t)total) : NULL;
    if (!m->anchors) {
        fprintf(stderr, "model: out of memory for %lld anchors\n", (long long)total);
        m->n_anchors = 0;
        return -1;
    }
    for (int l = 0; l < nfeat; l++) {
        m->grid_h[l] = feats[l].h;
        m->grid_w[l] = feats[l].w;
        m->level_counts[l] = feats[l].h * feats[l].w * s->n_sizes[l] * s->n_ratios[l];
    }
    float *dst = m->anchors;
    for (int l = 0; l < nfeat; l++) {
        float base[4 * 64];
        int A = s->n_sizes[l] * s->n_ratios[l];
        MODEL_ASSERT(A <= 64);
        anchors_cell(s->anchor_sizes[l], s->n_sizes[l], s->aspect_ratios[l], s->n_ratios[l], base);
        anchors_grid(base, A, feats[l].h, feats[l].w, hp / feats[l].h, wp / feats[l].w, dst);
        dst += (size_t)m->level_counts[l] * 4;
    }
    m->n_anchors = (int)total;
    m->anchor_hp = hp;
    m->anchor_wp = wp;
    return 0;
}

void detector_roi_scales(struct model *m, const struct fmap *feats, int resized_h)
{
    if (m->scales_ready) return;
    int n = m->spec.roi_maps;
    for (int i = 0; i < n; i++)
        m->roi_scales[i] = roi_infer_scale(feats[m->spec.roi_index[i]].h, resized_h);
    m->k_min = (int)-log2f(m->roi_scales[0]);
    m->k_max = (int)-log2f(m->roi_scales[n - 1]);
    m->scales_ready = 1;
}

int detector_preprocess(struct model *m, const struct model_image *img, struct fmap *x,
                        int *rh, int *rw)
{
    if (!img || !img->rgb || img->width < 1 || img->height < 1 || img->width > MAX_INPUT_SIDE ||
        img->height > MAX_INPUT_SIDE || img->stride < 3 * img->width) {
        fprintf(stderr, "model: bad input image (%dx%d, stride %d)\n", img ? img->width : 0,
                img ? img->height : 0, img ? img->stride : 0);
        return -1;
    }
    const struct spec *s = &m->spec;
    int H = img->height, W = img->width;
    transform_resized_size(H, W, s->p.min_size, s->p.max_size, rh, rw);
    int hp, wp;
    padded_size(s, *rh, *rw, &hp, &wp);
    *x = arena_fmap(&m->arena, 3, hp, wp);
    memset(x->d, 0, sizeof(float) * fmap_numel(x));
    struct arena_mark mk2 = arena_mark(&m->arena);
    float *norm = arena_floats(&m->arena, (size_t)3 * H * W);
    transform_normalize(img->rgb, img->stride, H, W, s->p.image_mean, s->p.image_std, norm);
    transform_resize_bilinear(norm, 3, H, W, x->d, *rh, *rw, wp, (size_t)hp * wp);
    arena_rewind(&m->arena, mk2);   /* the unpadded copy is not needed any more */
    return 0;
}

int detector_proposals(struct model *m, struct run *r, const struct fmap *feats, int nfeat,
                       int hp, int wp, int rh, int rw, float **props, float **pscores)
{
    const struct spec *s = &m->spec;
    struct model_timing *tm = &m->timing;
    double t = now_ms();
    /* RPN head on every level, flattened in (y, x, a) order */
    if (detector_anchors(m, feats, nfeat, hp, wp)) return -1;
    int N = m->n_anchors;
    float *obj = arena_floats(&m->arena, (size_t)N);
    float *del = arena_floats(&m->arena, (size_t)N * 4);
    for (int l = 0, off = 0; l < nfeat; l++) {
        struct fmap lg, dl;
        struct arena_mark mk = arena_mark(&m->arena);
        rpn_head_forward(&m->rpn, r, &feats[l], &lg, &dl);
        rpn_flatten(&lg, &dl, m->rpn.A, obj + off, del + (size_t)off * 4);
        arena_rewind(&m->arena, mk);
        off += m->level_counts[l];
    }
    tm->rpn_head = now_ms() - t;

    t = now_ms();
    float *decoded = arena_floats(&m->arena, (size_t)N * 4);
    box_decode(m->anchors, del, N, 4, s->rpn_coder, decoded);
    /* at most post_nms_top_n of the top-k candidates come out: sized by those */
    int post = 0;
    for (int l = 0; l < nfeat; l++)
        post += m->level_counts[l] < s->p.rpn_pre_nms_top_n_test ? m->level_counts[l]
                                                                  : s->p.rpn_pre_nms_top_n_test;
    if (post > s->p.rpn_post_nms_top_n_test) post = s->p.rpn_post_nms_top_n_test;
    *props = arena_floats(&m->arena, (size_t)post * 4 + 4);
    *pscores = arena_floats(&m->arena, (size_t)post + 1);
    struct rpn_params rp = { s->p.rpn_pre_nms_top_n_test, post, s->p.rpn_nms_thresh,
                             s->p.rpn_score_thresh };
    int P = rpn_filter_proposals(decoded, obj, m->level_counts, nfeat, rh, rw, &rp, *props,
                                 *pscores, &m->arena);
    tm->rpn_proposals = now_ms() - t;
    m->last_props = *props;
    m->last_pscores = *pscores;
    m->last_P = P;
    return P;
}

int detector_heads(struct model *m, struct run *r, const struct fmap *feats, const float *props,
                   int P, int rh, int rw, int H, int W, struct model_detection *dets, int max)
{
    const struct spec *s = &m->spec;
    struct model_timing *tm = &m->timing;

    /* MultiScaleRoIAlign */
    double t = now_ms();
    detector_roi_scales(m, feats, rh);
    int C = s->fpn_out, ro = s->roi_out;
    float *pooled = arena_floats(&m->arena, (size_t)(P > 0 ? P : 1) * C * ro * ro);
    struct fmap maps[NET_MAX_LEVELS];   /* the maps featmap_names picks */
    for (int i = 0; i < s->roi_maps; i++) maps[i] = feats[s->roi_index[i]];
    if (P > 0)
        multiscale_roi_align(maps, m->roi_scales, s->roi_maps, m->k_min, m->k_max, props, P, ro,
                             s->roi_sampling, pooled, &m->arena);
    tm->roi_align = now_ms() - t;

    /* box head */
    t = now_ms();
    int K = s->num_classes, Pn = P > 0 ? P : 1;
    float *feat = arena_floats(&m->arena, (size_t)Pn * m->box.rep);
    float *logits = arena_floats(&m->arena, (size_t)Pn * K);
    float *reg = arena_floats(&m->arena, (size_t)Pn * 4 * K);
    box_head_forward(&m->box, r, pooled, P, feat, logits, reg);
    tm->box_head = now_ms() - t;

    /* postprocess_detections + transform.postprocess */
    t = now_ms();
    /* no more than P x (K - 1) candidates can come out */
    int D = 0, maxd = s->p.box_detections_per_img;
    if ((int64_t)P * (K - 1) < maxd) maxd = P * (K - 1);
    float *boxes = arena_floats(&m->arena, (size_t)maxd * 4 + 4);
    float *scores = arena_floats(&m->arena, (size_t)maxd + 1);
    int *labels = arena_ints(&m->arena, (size_t)maxd + 1);
    if (P > 0) {
        struct box_params bp = { s->p.box_score_thresh, s->p.box_nms_thresh, maxd, s->box_coder };
        D = box_postprocess(props, P, logits, reg, K, rh, rw, &bp, boxes, scores, labels,
                            &m->arena);
    }
    transform_rescale_boxes(boxes, D, rh, rw, H, W);
    int n = D < max ? D : max;
    for (int i = 0; i < n; i++) {
        memcpy(dets[i].box, boxes + (size_t)i * 4, sizeof dets[i].box);
        dets[i].score = scores[i];
        dets[i].label = labels[i];
    }
    tm->postprocess = now_ms() - t;
    return n;
}

int model_detect(struct model *m, const struct model_image *img, struct model_detection *dets,
                 int max, int *n)
{
    *n = 0;
    struct model_timing *tm = &m->timing;
    memset(tm, 0, sizeof *tm);
    arena_reset(&m->arena);
    struct run r = { .arena = &m->arena };
    double t0 = now_ms(), t;

    if (img && img->rgb && img->stride >= 3 * img->width &&
        (img->width != m->plan_w || img->height != m->plan_h)) {
        /* a new size: can it run, and is its memory there? asked once */
        char msg[320];
        size_t bytes;
        if (check_size(m, img->width, img->height, &bytes, msg, sizeof msg)) {
            fprintf(stderr, "model: %s\n", msg);
            return -1;
        }
        if (arena_reserve(&m->arena, bytes)) {
            fprintf(stderr, "model: a %dx%d input needs %.1f MiB of working memory with this "
                    "model, which the system refused\n", img->width, img->height,
                    (double)bytes / (1 << 20));
            return -1;
        }
        m->plan_w = img->width;
        m->plan_h = img->height;
    }
    struct fmap x;
    int rh, rw;
    if (detector_preprocess(m, img, &x, &rh, &rw)) return -1;
    ops_use_pool(m->pool);
    tm->preprocess = (t = now_ms()) - t0;

    struct fmap feats[NET_MAX_LEVELS];
    int nfeat = backbone_run(&m->bb, &r, &x, feats);
    tm->fpn = r.fpn_ms;
    tm->backbone = now_ms() - t - tm->fpn;

    float *props, *pscores;
    int P = detector_proposals(m, &r, feats, nfeat, x.h, x.w, rh, rw, &props, &pscores);
    if (P < 0) {
        ops_use_pool(NULL);
        return -1;
    }
    *n = detector_heads(m, &r, feats, props, P, rh, rw, img->height, img->width, dets, max);
    ops_use_pool(NULL);
    tm->total = now_ms() - t0;
    return 0;
}

int model_gflops(const struct model *m, int width, int height, double *gflops,
                 int *resized_w, int *resized_h, char *msg, size_t len)
{
    size_t bytes, anchors;
    double macs = 0;
    if (plan_pass(m, width, height, &bytes, &anchors, &macs, resized_h, resized_w, msg, len))
        return -1;
    *gflops = 2.0 * macs / 1e9;
    return 0;
}
