/*
 * faster_rcnn.c — a detector's life cycle: load (checkpoint → spec → modules bound
 * to the weights, as torchvision's fasterrcnn_* builders assemble them), --set,
 * class names, free, and the facts `vdetect info` prints.
 */
#include "net.h"

#include <stdatomic.h>
#include <string.h>

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
    free(m->colors);
    free(m->anchors);
    free(m->w16_block);
    free(m->w8_block);
    calib_free(m);
    free(m->path);
    free(m);
    *pm = NULL;
}

/* A self-describing model file: the spec and class names from its metadata
 * JSON (spec/metadata.c) instead of a preset; --arch, if given, must agree. */
static int spec_from_model_file(struct model *m, const struct model_options *opt,
                                const char *meta)
{
    char **names = NULL;
    uint32_t *colors = NULL;
    int n = 0, err = -1;
    spec_meta_source = opt->weights;
    int bad = spec_from_metadata(&m->spec, meta, &names, &n, &colors);
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
            m->colors = colors;   /* n == num_classes entries, or NULL */
            colors = NULL;
        }
    }
    free(colors);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return err;
}

const char *const *model_arch_names(void)
{
    return spec_preset_names();
}

/* An --arch that names no preset is unknown, whatever the file holds (a model
 * file would otherwise report it as disagreeing with its own architecture). */
static int arch_known(const char *arch)
{
    for (const char *const *p = spec_preset_names(); *p; p++)
        if (!strcmp(*p, arch))
            return 1;
    fprintf(stderr, "model: unknown architecture '%s' (known:", arch);
    for (const char *const *p = spec_preset_names(); *p; p++)
        fprintf(stderr, "%s %s", p == spec_preset_names() ? "" : ",", *p);
    fprintf(stderr, ")\n");
    return 0;
}

int model_load(struct model **out, const struct model_options *opt)
{
    *out = NULL;
    if (!opt || !opt->weights) {
        fprintf(stderr, "model: no weights file given\n");
        return -1;
    }
    if (opt->arch && !arch_known(opt->arch))
        return -1;
    struct model *m = calloc(1, sizeof *m);
    if (!m) return -1;
    arena_init(&m->store);
    arena_init(&m->arena);
    /* our own workers split every GEMM and run the loops BLAS does not */
    if (opt->threads > 1 && pool_open(&m->pool, opt->threads)) {
        fprintf(stderr, "model: cannot start %d threads\n", opt->threads);
        goto fail;
    }

    if (precision_parse(opt->precision ? opt->precision : "fp32", &m->precision)) {
        fprintf(stderr, "model: unknown precision '%s' (fp32, bf16 or int8)\n", opt->precision);
        goto fail;
    }
    if (!(m->path = strdup(opt->weights))) goto fail;
    if (!opt->engine) {
        m->engine = gemm_engine_by_cpu();
    } else if (gemm_engine_parse(opt->engine, &m->engine)) {
        fprintf(stderr, "model: unknown GEMM engine '%s' (openblas, onednn or auto)\n",
                opt->engine);
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
    if (calib_load(m)) goto fail;
    if (m->precision != PREC_FP32 && model_set_precision(m, precision_name(m->precision)))
        goto fail;
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
const char *model_file_format(const struct model *m) { return ckpt_format(m->ck); }
const char *model_note(const struct model *m) { return m->note[0] ? m->note : NULL; }
const char *model_engine(const struct model *m)
{
    /* in bf16 and int8 every product runs on oneDNN, whatever ran fp32 */
    return gemm_engine_name(m->precision != PREC_FP32 ? GEMM_ONEDNN : m->engine);
}
const char *model_precision(const struct model *m) { return precision_name(m->precision); }

/* What runs each kind of layer in the model's precision on this CPU: chosen at
 * load from the CPU's flags, after measurements recorded in README's
 * Performance section (the kernels each candidate was measured against). */
const char *model_kernels(const struct model *m, char *buf, size_t len)
{
    const char *dense;
    char tmp[96];
    if (m->precision == PREC_BF16) {
        /* (the rules the precision itself goes by: cpu_has_bf16, quant_levels) */
        dense = !cpu_has_bf16()        ? "oneDNN bf16 matmul (emulated)"
                : cpu_has("amx_bf16") ? "oneDNN bf16 matmul (AMX)"
                : conv_bf16_native()  ? "own AVX512_BF16 kernel"
                                      : "oneDNN bf16 matmul (AVX512_BF16)";
    } else if (m->precision == PREC_INT8) {
        dense = quant_levels() < 127   ? "oneDNN int8 matmul (no VNNI: inputs to +-63)"
                : cpu_has("amx_int8") ? "oneDNN int8 matmul (AMX)"
                                      : "oneDNN int8 matmul (VNNI)";
    } else {
        snprintf(tmp, sizeof tmp, "%s sgemm", m->engine == GEMM_ONEDNN ? "oneDNN" : "OpenBLAS");
        dense = tmp;
    }
    const char *how = "k x k convs through im2col";
    if (m->precision == PREC_BF16 && conv_bf16_native())
        how = m->winograd ? "k x k convs gathered on small maps, through im2col on larger; 3x3 "
                            "stride-1 convs on maps of 64 or more 2x2 tiles by Winograd F(2x2,3x3) "
                            "on oneDNN bf16 matmul; convs on maps under 32 pixels fp32"
                          : "k x k convs gathered on small maps, through im2col on larger; convs "
                            "on maps under 32 pixels fp32";
    else if (m->precision == PREC_BF16 && m->winograd)
        how = "3x3 stride-1 convs by Winograd F(2x2,3x3), other k x k through im2col";
    snprintf(buf, len,
             "convs and linears %s (%s); depthwise convs own "
             "(register blocks)%s; RoIAlign, pooling, adds split over the threads",
             dense, how,
             m->precision == PREC_BF16 ? (bf16_rounding_native() ? "; bf16 rounding AVX512_BF16"
                                                                 : "; bf16 rounding plain C")
                                       : "");
    return buf;
}

int model_set_precision(struct model *m, const char *name)
{
    enum precision p;
    if (precision_parse(name, &p)) {
        fprintf(stderr, "model: unknown precision '%s' (fp32, bf16 or int8)\n", name);
        return -1;
    }
    if (p == PREC_BF16) {
        static atomic_flag warned = ATOMIC_FLAG_INIT;   /* once, whichever thread loads */
        if (!cpu_has_bf16() && !atomic_flag_test_and_set(&warned))
            fprintf(stderr, "note: this CPU has no bf16 instructions (AVX512_BF16 or AMX): "
                    "oneDNN emulates them, slower than fp32\n");
        if (precision_prepare_bf16(m)) return -1;
    }
    if (p == PREC_INT8) {
        static atomic_flag warned = ATOMIC_FLAG_INIT;
        if (!cpu_has_int8() && !atomic_flag_test_and_set(&warned))
            fprintf(stderr, "note: this CPU has no int8 dot products (AVX512_VNNI, AVX_VNNI or "
                    "AMX): int8 runs about as fast as fp32\n");
        if (precision_prepare_int8(m)) return -1;
    }
    m->precision = p;
    m->plan_w = m->plan_h = 0;   /* the working memory depends on the precision */
    return 0;
}
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

int model_class_color(const struct model *m, int label, uint8_t rgb[3])
{
    if (!m->colors || label < 0 || label >= m->spec.num_classes ||
        !(m->colors[label] & SPEC_COLOR_SET))
        return 0;
    rgb[0] = (uint8_t)(m->colors[label] >> 16);
    rgb[1] = (uint8_t)(m->colors[label] >> 8);
    rgb[2] = (uint8_t)m->colors[label];
    return 1;
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
