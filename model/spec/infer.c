/*
 * infer.c — the architecture of a plain state_dict, from what its keys
 * and shapes fix: a Faster R-CNN over resnet_fpn_backbone(...) (any depth,
 * BasicBlock or Bottleneck, groups, width per group, returned layers) or
 * mobilenet_backbone(..., fpn=True) (MobileNetV3-Large or -Small), with
 * torchvision's heads (TwoMLPHead or the v2 conv head, any RPN conv depth).
 *
 * What the keys cannot tell — anchors, input sizes, thresholds, BatchNorm eps —
 * is torchvision's defaults, and the note says so: a model built with its own
 * must be exported (model/py/export.py), which writes them down. A layout the
 * defaults cannot fit (a ResNet with fewer than four returned layers, whose
 * default 5-level anchors torchvision itself would refuse; LastLevelP6P7) is
 * refused with that advice rather than guessed.
 */

#include "spec.h"
#include <string.h>

static const struct ckpt_tensor *key(const struct ckpt *ck, const char *fmt, int a, int b)
{
    char k[160];
    snprintf(k, sizeof k, fmt, a, b);
    return ckpt_find(ck, k);
}

/* How many of fmt's keys exist for index 0, 1, ...: fmt takes the index, or
 * (layer >= 0) the layer and then the index. */
static int count(const struct ckpt *ck, const char *fmt, int layer)
{
    int n = 0;
    while (n < 1000 && (layer >= 0 ? key(ck, fmt, layer, n) : key(ck, fmt, n, 0))) n++;
    return n;
}

static void heads(struct spec *s, const struct ckpt *ck)
{
    s->rpn_conv_depth = count(ck, "rpn.head.conv.%d.0.weight", -1);
    if (s->rpn_conv_depth < 1) s->rpn_conv_depth = 1;
    if (s->rpn_conv_depth > SPEC_MAX_HEAD_CONVS) s->rpn_conv_depth = SPEC_MAX_HEAD_CONVS;
    s->box_head_convs = count(ck, "roi_heads.box_head.%d.0.weight", -1);
    if (s->box_head_convs > SPEC_MAX_HEAD_CONVS) s->box_head_convs = SPEC_MAX_HEAD_CONVS;
    const struct ckpt_tensor *fc = s->box_head_convs
                                       ? key(ck, "roi_heads.box_head.%d.weight", s->box_head_convs + 1, 0)
                                       : ckpt_find(ck, "roi_heads.box_head.fc6.weight");
    if (fc && fc->ndim == 2 && fc->shape[0] >= 1 && fc->shape[0] <= 65536)
        s->representation = (int)fc->shape[0];
    const struct ckpt_tensor *inner = ckpt_find(ck, "backbone.fpn.inner_blocks.0.0.weight");
    if (inner && inner->ndim == 4 && inner->shape[0] >= 1 && inner->shape[0] <= 65536)
        s->fpn_out = (int)inner->shape[0];
    s->fpn_norm = ckpt_find(ck, "backbone.fpn.inner_blocks.0.1.weight") != NULL;
}

/* The FPN's input channels, in order; their count. */
static int fpn_inputs(const struct ckpt *ck, int64_t *ch)
{
    int n = 0;
    for (const struct ckpt_tensor *t; n < SPEC_MAX_LEVELS - 1 &&
                                      (t = key(ck, "backbone.fpn.inner_blocks.%d.0.weight", n, 0));
         n++)
        ch[n] = t->ndim == 4 ? t->shape[1] : -1;
    return n;
}

static int refuse(const char *path, const char *why)
{
    fprintf(stderr, "checkpoint %s: %s; a plain state_dict does not say how it was built, so "
            "export the model with model/py/export.py (it writes everything down)\n", path, why);
    return -1;
}

static int resnet(struct spec *s, const struct ckpt *ck, const char *path, char *note, size_t len)
{
    int64_t ch[SPEC_MAX_LEVELS];
    int nin = fpn_inputs(ck, ch);
    const struct ckpt_tensor *c1 = ckpt_find(ck, "backbone.body.layer1.0.conv1.weight");
    int bottleneck = key(ck, "backbone.body.layer%d.0.conv3.weight", 1, 0) != NULL;
    int expansion = bottleneck ? 4 : 1;
    if (!c1 || nin < 1) return 0;
    if (ckpt_find(ck, "backbone.fpn.extra_blocks.p6.weight"))
        return refuse(path, "its FPN ends in LastLevelP6P7");
    if (spec_preset(s, "fasterrcnn_resnet50_fpn")) return -1;
    s->bottleneck = bottleneck;
    /* returned layers: the one whose output channels (64 << (L-1)) * expansion feed each
     * FPN input */
    s->n_returned = 0;
    for (int i = 0; i < nin; i++) {
        int L = 0;
        for (int l = 1; l <= 4 && !L; l++)
            if (ch[i] == (int64_t)(64 << (l - 1)) * expansion) L = l;
        if (!L || (s->n_returned && L <= s->returned[s->n_returned - 1]))
            return refuse(path, "its FPN inputs do not match a ResNet's layers");
        s->returned[s->n_returned++] = L;
    }
    int last = s->returned[s->n_returned - 1];
    for (int l = 1; l <= 4; l++) {
        s->resnet_blocks[l - 1] = count(ck, "backbone.body.layer%d.%d.conv1.weight", l);
        if (l <= last && s->resnet_blocks[l - 1] < 1) return refuse(path, "a ResNet layer is missing");
    }
    /* groups and width from layer1's 3x3 conv: [width, width / groups, 3, 3] */
    const struct ckpt_tensor *c2 = key(ck, "backbone.body.layer%d.0.conv%d.weight", 1, bottleneck ? 2 : 1);
    if (!c2 || c2->ndim != 4 || c2->shape[1] < 1 || c2->shape[0] % c2->shape[1])
        return refuse(path, "its first ResNet block has an unexpected shape");
    int width = (int)c2->shape[0];
    s->groups = (int)(c2->shape[0] / c2->shape[1]);
    s->width_per_group = bottleneck ? width / s->groups : 64;
    heads(s, ck);
    if (s->n_returned + 1 != 5)
        return refuse(path, "it returns fewer than four ResNet layers, and torchvision's default "
                      "anchors have five levels, so it was built with anchors of its own");

    /* the name a user would call it by */
    int depth = 2;   /* stem conv + fc, as ResNet depths count */
    for (int l = 0; l < 4; l++) depth += s->resnet_blocks[l] * (bottleneck ? 3 : 2);
    char base[48];
    if (s->groups > 1) snprintf(base, sizeof base, "resnext%d_%dx%dd", depth, s->groups, s->width_per_group);
    else if (s->width_per_group != 64) snprintf(base, sizeof base, "wide_resnet%d_%d", depth, s->width_per_group / 64);
    else snprintf(base, sizeof base, "resnet%d", depth);
    int preset50 = depth == 50 && s->groups == 1 && s->width_per_group == 64 && s->fpn_out == 256 &&
                   s->representation == 1024;
    if (preset50 && !s->fpn_norm && s->rpn_conv_depth == 1 && !s->box_head_convs) {
        /* the fasterrcnn_resnet50_fpn preset exactly: keep its own settings (eps) */
        return spec_preset(s, "fasterrcnn_resnet50_fpn") ? -1 : 1;
    }
    if (preset50 && s->fpn_norm && s->rpn_conv_depth == 2 && s->box_head_convs == 4)
        return spec_preset(s, "fasterrcnn_resnet50_fpn_v2") ? -1 : 1;
    snprintf(s->arch, sizeof s->arch, "%s_fpn", base);
    s->p.bn_eps = 1e-5f;   /* FrozenBatchNorm2d's default, as resnet_fpn_backbone builds it */
    snprintf(note, len, "%s is a plain state_dict: inferred %s (%d returned layers, FPN %d) from "
             "its keys; anchors, sizes and thresholds are torchvision's defaults and BatchNorm "
             "eps 1e-5 (export the model with model/py/export.py if you changed them)",
             path, s->arch, s->n_returned, s->fpn_out);
    return 1;
}

static int mobilenet(struct spec *s, const struct ckpt *ck, const char *path, char *note,
                     size_t len)
{
    int64_t ch[SPEC_MAX_LEVELS];
    int nin = fpn_inputs(ck, ch);
    if (!ckpt_find(ck, "backbone.body.0.0.weight") || nin != 2) return 0;
    int large = ch[0] == 160 && ch[1] == 960 && ckpt_find(ck, "backbone.body.16.0.weight");
    int small = ch[0] == 96 && ch[1] == 576 && ckpt_find(ck, "backbone.body.12.0.weight") &&
                !ckpt_find(ck, "backbone.body.13.0.weight");
    if (!large && !small) return 0;
    if (large) return 0;   /* the two large builders share every key: spec_guess_arch's job */
    if (spec_preset(s, "fasterrcnn_mobilenet_v3_large_fpn")) return -1;
    s->backbone = BACKBONE_MOBILENET_V3_SMALL;
    s->p.rpn_score_thresh = 0.0f;   /* FasterRCNN's own default: no builder for -Small */
    heads(s, ck);
    snprintf(s->arch, sizeof s->arch, "mobilenet_v3_small_fpn");
    snprintf(note, len, "%s is a plain state_dict: inferred mobilenet_v3_small_fpn from its keys; "
             "anchors are torchvision's mobilenet builders' (32-512 on each of 3 maps), sizes "
             "and thresholds FasterRCNN's defaults (export the model with model/py/export.py if "
             "yours differ)", path);
    return 1;
}

int spec_infer(struct spec *s, const struct ckpt *ck, const char *path, char *note, size_t len)
{
    *note = 0;
    int r = resnet(s, ck, path, note, len);
    if (r) return r;
    return mobilenet(s, ck, path, note, len);
}
