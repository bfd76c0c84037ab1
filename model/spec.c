/*
 * spec.c — architecture presets by torchvision builder name, with each
 * builder's defaults (reference §3.6), the --set NAME=VALUE overrides, and the
 * guess of an architecture from a checkpoint's keys.
 */
#include "net.h"

#include <errno.h>
#include <math.h>
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

/* ---- --set ------------------------------------------------------------------- */

static int parse_double(const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(d)) return -1;
    *out = d;
    return 0;
}

static int parse_float(const char *v, float *out)
{
    double d;
    if (parse_double(v, &d)) return -1;
    *out = (float)d;
    return 0;
}

static int parse_int(const char *v, int *out)
{
    char *end;
    errno = 0;
    long l = strtol(v, &end, 10);
    if (end == v || *end || errno || l < 0 || l > 1000000000L) return -1;
    *out = (int)l;
    return 0;
}

static int parse_triple(const char *v, float out[3])
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", v);
    char *save = NULL, *tok = strtok_r(buf, ",", &save);
    for (int i = 0; i < 3; i++) {
        if (!tok || parse_float(tok, &out[i])) return -1;
        tok = strtok_r(NULL, ",", &save);
    }
    return tok ? -1 : 0;
}

int spec_set(struct spec *s, const char *assignment)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment) {
        fprintf(stderr, "--set %s: expected NAME=VALUE\n", assignment);
        return -1;
    }
    char name[64];
    size_t len = (size_t)(eq - assignment);
    if (len >= sizeof name) len = sizeof name - 1;
    memcpy(name, assignment, len);
    name[len] = 0;
    const char *v = eq + 1;
    struct model_params *p = &s->p;
    struct model_params old = *p;
    int bad = 0;
    float f;

    if (!strcmp(name, "min_size")) bad = parse_float(v, &p->min_size) || p->min_size < 1;
    else if (!strcmp(name, "max_size")) bad = parse_float(v, &p->max_size) || p->max_size < 1;
    else if (!strcmp(name, "image_mean")) bad = parse_triple(v, p->image_mean);
    else if (!strcmp(name, "image_std"))
        bad = parse_triple(v, p->image_std) || p->image_std[0] == 0 || p->image_std[1] == 0 ||
              p->image_std[2] == 0;
    else if (!strcmp(name, "rpn_pre_nms_top_n_test"))
        bad = parse_int(v, &p->rpn_pre_nms_top_n_test) || p->rpn_pre_nms_top_n_test < 1;
    else if (!strcmp(name, "rpn_post_nms_top_n_test"))
        bad = parse_int(v, &p->rpn_post_nms_top_n_test) || p->rpn_post_nms_top_n_test < 1;
    else if (!strcmp(name, "rpn_nms_thresh")) bad = parse_double(v, &p->rpn_nms_thresh);
    else if (!strcmp(name, "rpn_score_thresh")) bad = parse_float(v, &p->rpn_score_thresh);
    else if (!strcmp(name, "box_score_thresh")) bad = parse_float(v, &p->box_score_thresh);
    else if (!strcmp(name, "box_nms_thresh")) bad = parse_double(v, &p->box_nms_thresh);
    else if (!strcmp(name, "box_detections_per_img"))
        bad = parse_int(v, &p->box_detections_per_img);
    else if (!strcmp(name, "bn_eps")) bad = parse_float(v, &f) || f < 0 || (p->bn_eps = f, 0);
    else {
        fprintf(stderr,
                "--set %s: unknown parameter (known: min_size, max_size, image_mean, image_std, "
                "rpn_pre_nms_top_n_test, rpn_post_nms_top_n_test, rpn_nms_thresh, "
                "rpn_score_thresh, box_score_thresh, box_nms_thresh, box_detections_per_img, "
                "bn_eps)\n", name);
        return -1;
    }
    if (bad) {
        *p = old;
        fprintf(stderr, "--set %s: bad value '%s'\n", name, v);
        return -1;
    }
    return 0;
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
