/*
 * detector.c — the whole torchvision inference path for one image, and the
 * model's life cycle: load (checkpoint → spec → bound modules), detect, free,
 * and the facts `vdetect info` prints.
 *
 * Data flow of model_detect (reference §0): normalise + resize + zero-pad,
 * backbone + FPN, RPN head on every level, anchors + decode + filter_proposals,
 * MultiScaleRoIAlign, box head, postprocess_detections, rescale to the input.
 * Everything per frame comes from the activation arena.
 */
#include "detector.h"

#include <math.h>
#include <string.h>
#include <time.h>

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
    backbone_free(&m->bb);
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
    if (spec_from_metadata(&m->spec, meta, &names, &n))
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
    const char *arch = opt->arch ? opt->arch : meta ? "" : spec_guess_arch(m->ck, opt->weights);
    if (!arch) {
        fprintf(stderr, "checkpoint %s: cannot tell the architecture from its keys; pass --arch (",
                opt->weights);
        for (const char *const *p = spec_preset_names(); *p; p++)
            fprintf(stderr, "%s%s", p == spec_preset_names() ? "" : ", ", *p);
        fprintf(stderr, ")\n");
        goto fail;
    }
    if (meta ? spec_from_model_file(m, opt, meta) : spec_preset(&m->spec, arch)) goto fail;
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
    int nfeat = m->bb.n_out + (m->bb.pool_level ? 1 : 0);
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
int model_num_classes(const struct model *m) { return m->spec.num_classes; }
const struct model_params *model_get_params(const struct model *m) { return &m->spec.p; }
int64_t model_param_count(const struct model *m) { return m->params; }
const struct model_timing *model_last_timing(const struct model *m) { return &m->timing; }

const char *model_class_name(const struct model *m, int label)
{
    if (!m->names || label < 0 || label >= m->spec.num_classes) return NULL;
    return m->names[label];
}

void model_resized_size(const struct model *m, int width, int height, int *rw, int *rh)
{
    transform_resized_size(height, width, m->spec.p.min_size, m->spec.p.max_size, rh, rw);
}

/* ---- stages -------------------------------------------------------------------------- */

void detector_anchors(struct model *m, const struct fmap *feats, int nfeat, int hp, int wp)
{
    int same = m->anchors && m->anchor_hp == hp && m->anchor_wp == wp;
    for (int l = 0; same && l < nfeat; l++)
        same = m->grid_h[l] == feats[l].h && m->grid_w[l] == feats[l].w;
    if (same) return;

    const struct spec *s = &m->spec;
    int total = 0;
    for (int l = 0; l < nfeat; l++) {
        m->grid_h[l] = feats[l].h;
        m->grid_w[l] = feats[l].w;
        m->level_counts[l] = feats[l].h * feats[l].w * s->n_sizes[l] * s->n_ratios[l];
        total += m->level_counts[l];
    }
    free(m->anchors);
    m->anchors = malloc(sizeof(float) * 4 * (size_t)total);
    MODEL_ASSERT(m->anchors);
    float *dst = m->anchors;
    for (int l = 0; l < nfeat; l++) {
        float base[4 * 64];
        int A = s->n_sizes[l] * s->n_ratios[l];
        MODEL_ASSERT(A <= 64);
        anchors_cell(s->anchor_sizes[l], s->n_sizes[l], s->aspect_ratios[l], s->n_ratios[l], base);
        anchors_grid(base, A, feats[l].h, feats[l].w, hp / feats[l].h, wp / feats[l].w, dst);
        dst += (size_t)m->level_counts[l] * 4;
    }
    m->n_anchors = total;
    m->anchor_hp = hp;
    m->anchor_wp = wp;
}

void detector_roi_scales(struct model *m, const struct fmap *feats, int resized_h)
{
    if (m->scales_ready) return;
    int n = m->spec.roi_maps;
    for (int i = 0; i < n; i++) m->roi_scales[i] = roi_infer_scale(feats[i].h, resized_h);
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
    int hp = (*rh + 31) / 32 * 32, wp = (*rw + 31) / 32 * 32;
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
    detector_anchors(m, feats, nfeat, hp, wp);
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
    static const float rpn_w[4] = { 1.0f, 1.0f, 1.0f, 1.0f };
    float *decoded = arena_floats(&m->arena, (size_t)N * 4);
    box_decode(m->anchors, del, N, 4, rpn_w, decoded);
    int post = s->p.rpn_post_nms_top_n_test;
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
    if (P > 0)
        multiscale_roi_align(feats, m->roi_scales, s->roi_maps, m->k_min, m->k_max, props, P, ro,
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
    int D = 0, maxd = s->p.box_detections_per_img;
    float *boxes = arena_floats(&m->arena, (size_t)maxd * 4 + 4);
    float *scores = arena_floats(&m->arena, (size_t)maxd + 1);
    int *labels = arena_ints(&m->arena, (size_t)maxd + 1);
    if (P > 0) {
        struct box_params bp = { s->p.box_score_thresh, s->p.box_nms_thresh, maxd };
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

    struct fmap x;
    int rh, rw;
    if (detector_preprocess(m, img, &x, &rh, &rw)) return -1;
    ops_use_pool(m->pool);
    tm->preprocess = (t = now_ms()) - t0;

    struct fmap body[NET_MAX_LEVELS], feats[NET_MAX_LEVELS];
    backbone_body(&m->bb, &r, &x, body, NULL);
    tm->backbone = now_ms() - t;
    t = now_ms();
    int nfeat = backbone_fpn(&m->bb, &r, body, feats);
    tm->fpn = now_ms() - t;

    float *props, *pscores;
    int P = detector_proposals(m, &r, feats, nfeat, x.h, x.w, rh, rw, &props, &pscores);
    *n = detector_heads(m, &r, feats, props, P, rh, rw, img->height, img->width, dets, max);
    ops_use_pool(NULL);
    tm->total = now_ms() - t0;
    return 0;
}

double model_gflops(const struct model *m, int width, int height, int *resized_w, int *resized_h)
{
    const struct spec *s = &m->spec;
    int rh, rw;
    transform_resized_size(height, width, s->p.min_size, s->p.max_size, &rh, &rw);
    if (resized_w) *resized_w = rw;
    if (resized_h) *resized_h = rh;
    struct arena a;
    arena_init(&a);
    struct run r = { .arena = &a, .dry = 1 };
    struct fmap x = { NULL, 3, (rh + 31) / 32 * 32, (rw + 31) / 32 * 32 };
    struct fmap body[NET_MAX_LEVELS], feats[NET_MAX_LEVELS];
    backbone_body(&m->bb, &r, &x, body, NULL);
    int nfeat = backbone_fpn(&m->bb, &r, body, feats);
    for (int l = 0; l < nfeat; l++) {
        struct fmap lg, dl;
        rpn_head_forward(&m->rpn, &r, &feats[l], &lg, &dl);
    }
    box_head_forward(&m->box, &r, NULL, s->p.rpn_post_nms_top_n_test, NULL, NULL, NULL);
    arena_release(&a);
    return 2.0 * r.macs / 1e9;
}
