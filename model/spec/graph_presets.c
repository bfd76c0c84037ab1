/*
 * graph_presets.c — the built-in backbones described as graphs, node for node
 * what torchvision runs, with its state_dict key names: ResNet (any depth,
 * Bottleneck or BasicBlock, groups, width per group, returned layers), the
 * MobileNetV3-Large and -Small features as mobilenet_backbone cuts them, a VGG
 * features cfg, and the FeaturePyramidNetwork over the returned maps
 * (LastLevelMaxPool when the spec says so). Taps: "stem" (the first conv
 * block) and "body_I" (the FPN's inputs), for stage-by-stage tests.
 *
 * § numbers refer to docs/torchvision-inference.md.
 */
#include "spec.h"

#include <string.h>

/* conv (no bias) + BatchNorm (+ activation): torchvision's Conv2dNormActivation
 * and every conv/bn pair of ResNet and VGG */
static int conv_bn(struct graph *g, int x, const char *conv, const char *bn, int cout, int k,
                   int stride, int pad, int groups, float eps, enum act act)
{
    x = gb_conv(g, x, conv, stride, pad, groups, 0);
    gb_expect(g, x, cout, k);
    x = gb_batchnorm(g, x, bn, eps);
    return act == ACT_NONE ? x : gb_act(g, x, act);
}

/* ---- ResNet (§7.2) -------------------------------------------------------------------- */

static int resnet(struct graph *g, const struct spec *s, int *body)
{
    float eps = s->p.bn_eps;
    int last = 0, nb = 0;
    for (int i = 0; i < s->n_returned; i++)
        if (s->returned[i] > last) last = s->returned[i];
    int x = conv_bn(g, 0, "backbone.body.conv1", "backbone.body.bn1", 64, 7, 2, 3, 1, eps, ACT_RELU);
    gb_tap(g, x, "stem");
    x = gb_maxpool(g, x, 3, 2, 1);
    int expansion = s->bottleneck ? 4 : 1, inplanes = 64;
    for (int l = 0; l < last; l++) {
        int planes = 64 << l, width = planes * s->width_per_group / 64 * s->groups;
        for (int k = 0; k < s->resnet_blocks[l]; k++) {
            char p[96], c[128], n[128];
            snprintf(p, sizeof p, "backbone.body.layer%d.%d", l + 1, k);
            int st = k == 0 && l > 0 ? 2 : 1, y = x;
#define CB(i, cout, ks, stride, pad, groups, act)                                            \
    (snprintf(c, sizeof c, "%s.conv%d", p, i), snprintf(n, sizeof n, "%s.bn%d", p, i),     \
     y = conv_bn(g, y, c, n, cout, ks, stride, pad, groups, eps, act))
            if (s->bottleneck) {
                CB(1, width, 1, 1, 0, 1, ACT_RELU);
                CB(2, width, 3, st, 1, s->groups, ACT_RELU);
                CB(3, planes * 4, 1, 1, 0, 1, ACT_NONE);
            } else {
                CB(1, planes, 3, st, 1, 1, ACT_RELU);
                CB(2, planes, 3, 1, 1, 1, ACT_NONE);
            }
#undef CB
            int id = x;
            if (k == 0 && (st != 1 || inplanes != planes * expansion)) {
                snprintf(c, sizeof c, "%s.downsample.0", p);
                snprintf(n, sizeof n, "%s.downsample.1", p);
                id = conv_bn(g, x, c, n, planes * expansion, 1, st, 0, 1, eps, ACT_NONE);
            }
            x = gb_act(g, gb_binary(g, y, id, 0), ACT_RELU);
            inplanes = planes * expansion;
        }
        for (int i = 0; i < s->n_returned; i++)
            if (s->returned[i] == l + 1) body[nb++] = x;
    }
    return nb;
}

/* ---- MobileNetV3 (§7.3) --------------------------------------------------------- */

/* torchvision's mobilenet_v3_large and _small inverted residual settings */
struct irconf {
    int k, exp, out, se, hs, stride;
};

static const struct irconf mnv3_large[15] = {
    { 3, 16, 16, 0, 0, 1 },   { 3, 64, 24, 0, 0, 2 },   { 3, 72, 24, 0, 0, 1 },
    { 5, 72, 40, 1, 0, 2 },   { 5, 120, 40, 1, 0, 1 },  { 5, 120, 40, 1, 0, 1 },
    { 3, 240, 80, 0, 1, 2 },  { 3, 200, 80, 0, 1, 1 },  { 3, 184, 80, 0, 1, 1 },
    { 3, 184, 80, 0, 1, 1 },  { 3, 480, 112, 1, 1, 1 }, { 3, 672, 112, 1, 1, 1 },
    { 5, 672, 160, 1, 1, 2 }, { 5, 960, 160, 1, 1, 1 }, { 5, 960, 160, 1, 1, 1 },
};

static const struct irconf mnv3_small[11] = {
    { 3, 16, 16, 1, 0, 2 },  { 3, 72, 24, 0, 0, 2 },  { 3, 88, 24, 0, 0, 1 },
    { 5, 96, 40, 1, 1, 2 },  { 5, 240, 40, 1, 1, 1 }, { 5, 240, 40, 1, 1, 1 },
    { 5, 120, 48, 1, 1, 1 }, { 5, 144, 48, 1, 1, 1 }, { 5, 288, 96, 1, 1, 2 },
    { 5, 576, 96, 1, 1, 1 }, { 5, 576, 96, 1, 1, 1 },
};

/* Keys of module idx of block b's Sequential: conv ".0" and its BatchNorm ".1". */
static void block_keys(char (*c)[128], char (*n)[128], int b, int idx)
{
    snprintf(*c, sizeof *c, "backbone.body.%d.block.%d.0", b, idx);
    snprintf(*n, sizeof *n, "backbone.body.%d.block.%d.1", b, idx);
}

/* The features as mobilenet_backbone(fpn=True) cuts them: the FPN reads the
 * last stride-2 block's output ('0': features 13 of large, 9 of small) and the
 * last 1x1 conv ('1': features 16, 12). */
static int mobilenet(struct graph *g, const struct spec *s, int *body)
{
    float eps = s->p.bn_eps;
    int small = s->backbone == BACKBONE_MOBILENET_V3_SMALL;
    const struct irconf *cf = small ? mnv3_small : mnv3_large;
    int nblocks = small ? 11 : 15, tap = small ? 9 : 13;
    int x = conv_bn(g, 0, "backbone.body.0.0", "backbone.body.0.1", 16, 3, 2, 1, 1, eps,
                    ACT_HARDSWISH);
    gb_tap(g, x, "stem");
    int in = 16;
    for (int i = 0; i < nblocks; i++) {
        enum act act = cf[i].hs ? ACT_HARDSWISH : ACT_RELU;
        int exp = cf[i].exp, m = 0, y = x, k = cf[i].k;
        char c[128], n[128];
        if (exp != in) {
            block_keys(&c, &n, i + 1, m++);
            y = conv_bn(g, y, c, n, exp, 1, 1, 0, 1, eps, act);
        }
        block_keys(&c, &n, i + 1, m++);
        y = conv_bn(g, y, c, n, exp, k, cf[i].stride, (k - 1) / 2, exp, eps, act);
        if (cf[i].se) {
            /* SqueezeExcitation: mean, fc1, ReLU, fc2, Hardsigmoid, scale */
            snprintf(c, sizeof c, "backbone.body.%d.block.%d.fc1", i + 1, m);
            snprintf(n, sizeof n, "backbone.body.%d.block.%d.fc2", i + 1, m);
            m++;
            int sq = gb_adaptive_avg(g, y, 1, 1);
            sq = gb_conv(g, sq, c, 1, 0, 1, 1);
            gb_expect(g, sq, 0, 1);
            sq = gb_conv(g, gb_act(g, sq, ACT_RELU), n, 1, 0, 1, 1);
            gb_expect(g, sq, exp, 1);
            sq = gb_act(g, sq, ACT_HARDSIGMOID);
            y = gb_binary(g, sq, y, 1);
        }
        block_keys(&c, &n, i + 1, m);
        y = conv_bn(g, y, c, n, cf[i].out, 1, 1, 0, 1, eps, ACT_NONE);
        if (cf[i].stride == 1 && in == cf[i].out) y = gb_binary(g, y, x, 0);
        x = y;
        in = cf[i].out;
        if (i + 1 == tap) body[0] = x;
    }
    char c[64], n[64];
    snprintf(c, sizeof c, "backbone.body.%d.0", nblocks + 1);
    snprintf(n, sizeof n, "backbone.body.%d.1", nblocks + 1);
    body[1] = conv_bn(g, x, c, n, 6 * in, 1, 1, 0, 1, eps, ACT_HARDSWISH);
    return 2;
}

/* ---- VGG features (§7.5) -------------------------------------------------------------- */

static int vgg(struct graph *g, const struct spec *s, int *body)
{
    int last = 0, nb = 0, ri = 0, idx = 0, x = 0;
    for (int i = 0; i < s->n_vgg_return; i++) {
        if (s->vgg_return[i] > last) last = s->vgg_return[i];
        if (i && s->vgg_return[i] <= s->vgg_return[i - 1]) {
            fprintf(stderr, "vgg: returned layers must be increasing module indices\n");
            return -1;
        }
    }
    for (int i = 0; i < s->vgg_cfg_len && idx <= last; i++) {
        /* module indices of this cfg entry: conv[, bn], relu  or  pool. IntermediateLayerGetter
         * returns maps by reference, so the in-place ReLU shows in a returned conv or BN. */
        int first = idx, span = s->vgg_cfg[i] == 0 ? 1 : (s->vgg_bn ? 3 : 2);
        if (s->vgg_cfg[i] == 0) {
            x = gb_maxpool(g, x, 2, 2, 0);
        } else {
            char c[96], n[96];
            snprintf(c, sizeof c, "backbone.body.%d", first);
            snprintf(n, sizeof n, "backbone.body.%d", first + 1);
            if (ri < s->n_vgg_return && s->vgg_bn && s->vgg_return[ri] == first) {
                fprintf(stderr, "vgg: returning conv %d before its BatchNorm is not supported; "
                        "return the BatchNorm or ReLU index instead\n", first);
                return -1;
            }
            x = gb_conv(g, x, c, 1, 1, 1, 1);
            gb_expect(g, x, s->vgg_cfg[i], 3);
            if (s->vgg_bn) x = gb_batchnorm(g, x, n, s->p.bn_eps);
            if (first + span - 1 <= last) x = gb_act(g, x, ACT_RELU);
            if (i == 0) gb_tap(g, x, "stem");
        }
        if (ri < s->n_vgg_return && s->vgg_return[ri] < first + span) {
            body[nb++] = x;
            ri++;
        }
        idx += span;
    }
    if (ri != s->n_vgg_return) {
        fprintf(stderr, "vgg: returned layer %d is past the end of the features\n",
                s->vgg_return[ri]);
        return -1;
    }
    return nb;
}

/* ---- FeaturePyramidNetwork (§7.4) ----------------------------------------------------- */

static void fpn(struct graph *g, const struct spec *s, const int *body, int n)
{
    int inner[SPEC_MAX_LEVELS], results[SPEC_MAX_LEVELS];
    char c[96], b[96];
    for (int i = 0; i < n; i++) {
        /* v1: conv with bias; v2 (norm_layer=BatchNorm2d): conv without bias + BN */
        snprintf(c, sizeof c, "backbone.fpn.inner_blocks.%d.0", i);
        snprintf(b, sizeof b, "backbone.fpn.inner_blocks.%d.1", i);
        inner[i] = gb_conv(g, body[i], c, 1, 0, 1, !s->fpn_norm);
        gb_expect(g, inner[i], s->fpn_out, 1);
        if (s->fpn_norm) inner[i] = gb_batchnorm(g, inner[i], b, s->p.bn_eps);
    }
    int last = inner[n - 1];
    for (int i = n - 1; i >= 0; i--) {
        if (i < n - 1) last = gb_binary(g, inner[i], gb_upsample_to(g, last, inner[i]), 0);
        snprintf(c, sizeof c, "backbone.fpn.layer_blocks.%d.0", i);
        snprintf(b, sizeof b, "backbone.fpn.layer_blocks.%d.1", i);
        results[i] = gb_conv(g, last, c, 1, 1, 1, !s->fpn_norm);
        gb_expect(g, results[i], s->fpn_out, 3);
        if (s->fpn_norm) results[i] = gb_batchnorm(g, results[i], b, s->p.bn_eps);
    }
    for (int i = 0; i < n; i++) {
        snprintf(c, sizeof c, "%d", i);
        gb_output(g, results[i], c);
    }
    /* LastLevelMaxPool: max_pool2d(kernel 1, stride 2) of the last map */
    if (s->pool_level) gb_output(g, gb_maxpool(g, results[n - 1], 1, 2, 0), "pool");
}

int graph_from_spec(struct graph *g, const struct spec *s)
{
    int body[SPEC_MAX_LEVELS], n = -1;
    graph_build_start(g);
    switch (s->backbone) {
    case BACKBONE_RESNET: n = resnet(g, s, body); break;
    case BACKBONE_MOBILENET_V3_LARGE: case BACKBONE_MOBILENET_V3_SMALL:
        n = mobilenet(g, s, body);
        break;
    case BACKBONE_VGG: n = vgg(g, s, body); break;
    case BACKBONE_GRAPH: break;
    }
    if (n < 1 || n + (s->pool_level ? 1 : 0) > SPEC_MAX_LEVELS) {
        if (n >= 0) fprintf(stderr, "model %s: %d feature maps\n", s->arch, n);
        graph_free(g);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char t[GRAPH_NAME_LEN];
        snprintf(t, sizeof t, "body_%d", i);
        gb_tap(g, body[i], t);
    }
    fpn(g, s, body, n);
    if (graph_build_done(g, s->arch)) {
        graph_free(g);
        return -1;
    }
    return 0;
}
