/*
 * spec.c — architecture presets by torchvision builder name, with each builder's
 * defaults (docs/torchvision-inference.md §3.6), the --set NAME=VALUE overrides, and
 * the guess of an architecture from a checkpoint's keys.
 */
#include "spec.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

static const char *const preset_names[] = {
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_resnet50_fpn_v2",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "fasterrcnn_vgg16_fpn",
    NULL,
};

const char *const *spec_preset_names(void) { return preset_names; }

static void default_params(struct model_params *p)
{
    p->min_size = 800.0f;
    p->max_size = 1333.0f;
    p->image_mean[0] = 0.485f; p->image_mean[1] = 0.456f; p->image_mean[2] = 0.406f;
    p->image_std[0] = 0.229f;  p->image_std[1] = 0.224f;  p->image_std[2] = 0.225f;
    p->rpn_pre_nms_top_n_test = 1000;
    p->rpn_post_nms_top_n_test = 1000;
    p->rpn_nms_thresh = 0.7;
    p->rpn_score_thresh = 0.0f;
    p->box_score_thresh = 0.05f;
    p->box_nms_thresh = 0.5;
    p->box_detections_per_img = 100;
    p->bn_eps = 1e-5f;
}

/* torchvision's _default_anchorgen: one size per level, three ratios */
static void fpn_anchors(struct spec *s, int levels)
{
    static const float sizes[] = { 32, 64, 128, 256, 512 };
    s->n_levels = levels;
    for (int l = 0; l < levels; l++) {
        s->anchor_sizes[l][0] = sizes[l < 5 ? l : 4];
        s->n_sizes[l] = 1;
        s->aspect_ratios[l][0] = 0.5f; s->aspect_ratios[l][1] = 1.0f; s->aspect_ratios[l][2] = 2.0f;
        s->n_ratios[l] = 3;
    }
}

/* the mobilenet builders: five sizes x three ratios on every level */
static void mobilenet_anchors(struct spec *s, int levels)
{
    static const float sizes[] = { 32, 64, 128, 256, 512 };
    s->n_levels = levels;
    for (int l = 0; l < levels; l++) {
        memcpy(s->anchor_sizes[l], sizes, sizeof sizes);
        s->n_sizes[l] = 5;
        s->aspect_ratios[l][0] = 0.5f; s->aspect_ratios[l][1] = 1.0f; s->aspect_ratios[l][2] = 2.0f;
        s->n_ratios[l] = 3;
    }
}

void spec_release(struct spec *s)
{
    if (!s || !s->graph) return;
    graph_free(s->graph);
    free(s->graph);
    s->graph = NULL;
}

int spec_preset(struct spec *s, const char *arch)
{
    memset(s, 0, sizeof *s);
    default_params(&s->p);
    s->fpn_out = 256;
    s->pool_level = 1;
    s->roi_out = 7;
    s->roi_sampling = 2;
    s->representation = 1024;
    s->rpn_conv_depth = 1;
    s->size_divisible = 32;
    for (int i = 0; i < 4; i++) {
        s->rpn_coder[i] = 1.0f;
        s->box_coder[i] = i < 2 ? 10.0f : 5.0f;
    }
    for (int i = 0; i < SPEC_MAX_LEVELS; i++) s->roi_index[i] = i;
    snprintf(s->arch, sizeof s->arch, "%s", arch);

    if (!strcmp(arch, "fasterrcnn_resnet50_fpn") || !strcmp(arch, "fasterrcnn_resnet50_fpn_v2")) {
        static const int blocks[4] = { 3, 4, 6, 3 };
        s->backbone = BACKBONE_RESNET;
        memcpy(s->resnet_blocks, blocks, sizeof blocks);
        s->bottleneck = 1;
        s->groups = 1;
        s->width_per_group = 64;
        for (int i = 0; i < 4; i++) s->returned[i] = i + 1;
        s->n_returned = 4;
        fpn_anchors(s, 5);
        s->roi_maps = 4;
        if (strstr(arch, "_v2")) {
            /* nn.BatchNorm2d (eps 1e-5) in body, FPN and box head; 2 RPN convs */
            s->fpn_norm = 1;
            s->rpn_conv_depth = 2;
            s->box_head_convs = 4;
            return 0;
        }
        s->p.bn_eps = 0.0f;   /* overwrite_eps(model, 0.0) of the COCO_V1 weights */
        return 0;
    }
    if (!strcmp(arch, "fasterrcnn_mobilenet_v3_large_fpn") ||
        !strcmp(arch, "fasterrcnn_mobilenet_v3_large_320_fpn")) {
        s->backbone = BACKBONE_MOBILENET_V3_LARGE;
        mobilenet_anchors(s, 3);
        s->roi_maps = 2;
        s->p.rpn_score_thresh = 0.05f;
        if (strstr(arch, "_320_")) {
            s->p.min_size = 320.0f;
            s->p.max_size = 640.0f;
            s->p.rpn_pre_nms_top_n_test = 150;
            s->p.rpn_post_nms_top_n_test = 150;
        }
        return 0;
    }
    if (!strcmp(arch, "fasterrcnn_vgg16_fpn")) {
        /* torchvision vgg16().features, config "D"; BackboneWithFPN on 2, 7, 14, 28 */
        static const int cfg[] = { 64, 64, 0, 128, 128, 0, 256, 256, 256, 0,
                                   512, 512, 512, 0, 512, 512, 512, 0 };
        static const int ret[] = { 2, 7, 14, 28 };
        s->backbone = BACKBONE_VGG;
        memcpy(s->vgg_cfg, cfg, sizeof cfg);
        s->vgg_cfg_len = (int)(sizeof cfg / sizeof cfg[0]);
        memcpy(s->vgg_return, ret, sizeof ret);
        s->n_vgg_return = 4;
        fpn_anchors(s, 5);
        s->roi_maps = 4;
        return 0;
    }
    fprintf(stderr, "unknown architecture '%s' (known:", arch);
    for (int i = 0; preset_names[i]; i++) fprintf(stderr, " %s", preset_names[i]);
    fprintf(stderr, ")\n");
    return -1;
}

/* ---- parameters: ranges, --set ------------------------------------------------ */

/*
 * Every inference parameter with the values vdetect accepts. torchvision takes
 * any number for most of them; the bounds keep a pass's size sane (an 8192-pixel
 * side already needs gigabytes of activations) and are the same for --set and a
 * model file's "params".
 */
#define OFF(f) offsetof(struct model_params, f)
static const struct spec_param params[] = {
    { "min_size", SPEC_FLOAT, OFF(min_size), 1, SPEC_MAX_SIZE },
    { "max_size", SPEC_FLOAT, OFF(max_size), 1, SPEC_MAX_SIZE },
    { "image_mean", SPEC_TRIPLE, OFF(image_mean), -1e30, 1e30 },
    { "image_std", SPEC_TRIPLE_NONZERO, OFF(image_std), -1e30, 1e30 },
    { "rpn_pre_nms_top_n_test", SPEC_INT, OFF(rpn_pre_nms_top_n_test), 1, SPEC_MAX_COUNT },
    { "rpn_post_nms_top_n_test", SPEC_INT, OFF(rpn_post_nms_top_n_test), 1, SPEC_MAX_COUNT },
    { "rpn_nms_thresh", SPEC_DOUBLE, OFF(rpn_nms_thresh), -1e30, 1e30 },
    { "rpn_score_thresh", SPEC_FLOAT, OFF(rpn_score_thresh), -1e30, 1e30 },
    { "box_score_thresh", SPEC_FLOAT, OFF(box_score_thresh), -1e30, 1e30 },
    { "box_nms_thresh", SPEC_DOUBLE, OFF(box_nms_thresh), -1e30, 1e30 },
    { "box_detections_per_img", SPEC_INT, OFF(box_detections_per_img), 0, SPEC_MAX_COUNT },
    { "bn_eps", SPEC_FLOAT, OFF(bn_eps), 0, 1 },
};
#undef OFF

const struct spec_param *spec_param_find(const char *name)
{
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        if (!strcmp(params[i].name, name)) return &params[i];
    return NULL;
}

const char *spec_param_names(void)
{
    return "min_size, max_size, image_mean, image_std, rpn_pre_nms_top_n_test, "
           "rpn_post_nms_top_n_test, rpn_nms_thresh, rpn_score_thresh, box_score_thresh, "
           "box_nms_thresh, box_detections_per_img, bn_eps";
}

void spec_param_range(const struct spec_param *p, char *buf, size_t len)
{
    int bounded = p->lo > -1e30 || p->hi < 1e30;
    switch (p->type) {
    case SPEC_INT:
        snprintf(buf, len, "an integer in [%.0f, %.0f]", p->lo, p->hi);
        break;
    case SPEC_TRIPLE:
        snprintf(buf, len, "three finite numbers R,G,B");
        break;
    case SPEC_TRIPLE_NONZERO:
        snprintf(buf, len, "three finite non-zero numbers R,G,B");
        break;
    default:
        if (bounded) snprintf(buf, len, "a number in [%g, %g]", p->lo, p->hi);
        else snprintf(buf, len, "a finite number");
    }
}

/* Is v acceptable for p (one value; for triples, one of the three)? */
static int in_range(const struct spec_param *p, double v)
{
    if (!isfinite(v) || v < p->lo || v > p->hi) return 0;
    if (p->type == SPEC_INT && v != floor(v)) return 0;
    if (p->type == SPEC_TRIPLE_NONZERO && v == 0) return 0;
    return 1;
}

int spec_param_store(const struct spec_param *p, const double *v, int n, struct model_params *out)
{
    int want = p->type == SPEC_TRIPLE || p->type == SPEC_TRIPLE_NONZERO ? 3 : 1;
    if (n != want) return -1;
    for (int i = 0; i < n; i++)
        if (!in_range(p, v[i])) return -1;
    char *dst = (char *)out + p->off;
    switch (p->type) {
    case SPEC_INT: memcpy(dst, &(int){ (int)v[0] }, sizeof(int)); break;
    case SPEC_DOUBLE: memcpy(dst, &v[0], sizeof(double)); break;
    case SPEC_FLOAT: memcpy(dst, &(float){ (float)v[0] }, sizeof(float)); break;
    default:
        for (int i = 0; i < 3; i++) ((float *)(void *)dst)[i] = (float)v[i];
    }
    return 0;
}

/* "a,b,c" or "x": up to 3 numbers (strtod's syntax, e.g. 1e6, each whole). */
static int parse_numbers(const char *text, double v[3], int *n)
{
    *n = 0;
    const char *t = text;
    for (;;) {
        char *end;
        errno = 0;
        double d = strtod(t, &end);
        if (end == t || errno || !isfinite(d) || *n == 3) return -1;
        v[(*n)++] = d;
        if (*end == '\0') return 0;
        if (*end != ',') return -1;
        t = end + 1;
    }
}

int spec_param_check(const char *assignment, struct model_params *p, char *msg, size_t len)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment) {
        snprintf(msg, len, "--set %s: expected NAME=VALUE", assignment);
        return -1;
    }
    char name[64];
    size_t nl = (size_t)(eq - assignment);
    if (nl >= sizeof name) nl = sizeof name - 1;
    memcpy(name, assignment, nl);
    name[nl] = 0;
    const struct spec_param *sp = spec_param_find(name);
    if (!sp) {
        snprintf(msg, len, "--set %s: unknown parameter (known: %s)", name, spec_param_names());
        return -1;
    }
    double v[3];
    int n;
    struct model_params scratch;
    if (!p) {
        memset(&scratch, 0, sizeof scratch);
        p = &scratch;
    }
    char range[96];
    spec_param_range(sp, range, sizeof range);
    if (parse_numbers(eq + 1, v, &n)) {
        snprintf(msg, len, "--set %s: '%.40s' is not %s", name, eq + 1, range);
        return -1;
    }
    if (spec_param_store(sp, v, n, p)) {
        snprintf(msg, len, "--set %s: %.40s is out of range (accepted: %s)", name, eq + 1, range);
        return -1;
    }
    return 0;
}

int spec_set(struct spec *s, const char *assignment)
{
    char msg[400];
    if (spec_param_check(assignment, &s->p, msg, sizeof msg)) {
        fprintf(stderr, "%s\n", msg);
        return -1;
    }
    return 0;
}

int model_check_set(const char *assignment, char *msg, size_t len)
{
    return spec_param_check(assignment, NULL, msg, len);
}

/* ---- guessing the architecture ---------------------------------------------------- */

static int has(const struct ckpt *ck, const char *key) { return ckpt_find(ck, key) != NULL; }

const char *spec_guess_arch(const struct ckpt *ck, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (has(ck, "backbone.body.conv1.weight") && has(ck, "backbone.body.layer3.5.conv3.weight") &&
        !has(ck, "backbone.body.layer3.6.conv1.weight")) {
        if (has(ck, "roi_heads.box_head.fc6.weight")) return "fasterrcnn_resnet50_fpn";
        if (has(ck, "roi_heads.box_head.0.0.weight") && has(ck, "rpn.head.conv.1.0.weight"))
            return "fasterrcnn_resnet50_fpn_v2";
    }
    if (has(ck, "backbone.body.0.0.weight") && has(ck, "backbone.body.16.0.weight")) {
        if (strstr(base, "320")) return "fasterrcnn_mobilenet_v3_large_320_fpn";
        if (strstr(base, "mobilenet_v3_large_fpn")) return "fasterrcnn_mobilenet_v3_large_fpn";
        return NULL;   /* the two mobilenet builders share every key */
    }
    if (has(ck, "backbone.body.0.weight") && has(ck, "backbone.body.28.weight") &&
        !has(ck, "backbone.body.29.weight") && has(ck, "backbone.fpn.inner_blocks.3.0.weight"))
        return "fasterrcnn_vgg16_fpn";
    return NULL;
}
