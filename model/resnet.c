/*
 * resnet.c — torchvision's ResNet body (v1.5: the stride sits on the 3x3 conv)
 * as IntermediateLayerGetter runs it for FPN: stem, max-pool, layer1..layerN up
 * to the last returned layer. Bottleneck and BasicBlock, groups and width per
 * group, so resnet18..152, ResNeXt and wide ResNets all fit (reference §7.2).
 */
#include "net.h"

#include <string.h>

struct resblock {
    struct conv c1, c2, c3, down;   /* c3 unused for BasicBlock */
    int has_down;
};

struct resnet {
    struct conv stem;
    struct resblock *blocks;        /* all layers' blocks, in order */
    int nblocks[4];
    int nlayers;                    /* layers run: up to the last returned */
    int bottleneck;
    int is_out[4];                  /* layer L (0-based) is returned */
};

int resnet_build(struct backbone *bb, const struct spec *s, struct binder *b)
{
    struct resnet *rn = calloc(1, sizeof *rn);
    if (!rn) return -1;
    bb->impl = rn;
    rn->bottleneck = s->bottleneck;
    rn->nlayers = 0;
    for (int i = 0; i < s->n_returned; i++) {
        MODEL_ASSERT(s->returned[i] >= 1 && s->returned[i] <= 4);
        rn->is_out[s->returned[i] - 1] = 1;
        if (s->returned[i] > rn->nlayers) rn->nlayers = s->returned[i];
    }
    int total = 0;
    for (int l = 0; l < rn->nlayers; l++) total += (rn->nblocks[l] = s->resnet_blocks[l]);
    rn->blocks = calloc((size_t)total, sizeof *rn->blocks);
    if (!rn->blocks) return -1;

    if (bind_conv(b, &rn->stem, "backbone.body.conv1", "backbone.body.bn1", 3, 64, 7, 2, 3, 1, 0,
                  ACT_RELU))
        return -1;
    int expansion = s->bottleneck ? 4 : 1, inplanes = 64, bi = 0;
    bb->n_out = 0;
    for (int l = 0; l < rn->nlayers; l++) {
        int planes = 64 << l, stride = l == 0 ? 1 : 2;
        int width = planes * s->width_per_group / 64 * s->groups;
        for (int k = 0; k < rn->nblocks[l]; k++, bi++) {
            struct resblock *blk = &rn->blocks[bi];
            char p[128], c[160], n[160];
            snprintf(p, sizeof p, "backbone.body.layer%d.%d", l + 1, k);
            int st = k == 0 ? stride : 1;
            int err = 0;
#define CONV(dst, i, cin, cout, ks, s_, pad, g, act)                                      \
    (snprintf(c, sizeof c, "%s.conv%d", p, i), snprintf(n, sizeof n, "%s.bn%d", p, i),     \
     bind_conv(b, dst, c, n, cin, cout, ks, s_, pad, g, 0, act))
            if (s->bottleneck) {
                err |= CONV(&blk->c1, 1, inplanes, width, 1, 1, 0, 1, ACT_RELU);
                err |= CONV(&blk->c2, 2, width, width, 3, st, 1, s->groups, ACT_RELU);
                err |= CONV(&blk->c3, 3, width, planes * 4, 1, 1, 0, 1, ACT_NONE);
            } else {
                err |= CONV(&blk->c1, 1, inplanes, planes, 3, st, 1, 1, ACT_RELU);
                err |= CONV(&blk->c2, 2, planes, planes, 3, 1, 1, 1, ACT_NONE);
            }
#undef CONV
            if (k == 0 && (st != 1 || inplanes != planes * expansion)) {
                blk->has_down = 1;
                snprintf(c, sizeof c, "%s.downsample.0", p);
                snprintf(n, sizeof n, "%s.downsample.1", p);
                err |= bind_conv(b, &blk->down, c, n, inplanes, planes * expansion, 1, st, 0, 1,
                                 0, ACT_NONE);
            }
            if (err) return -1;
            inplanes = planes * expansion;
        }
        if (rn->is_out[l]) bb->out_channels[bb->n_out++] = inplanes;
    }
    return 0;
}

void resnet_free(void *impl)
{
    struct resnet *rn = impl;
    if (!rn) return;
    free(rn->blocks);
    free(rn);
}

static struct fmap block_forward(const struct resnet *rn, const struct resblock *blk,
                                 struct run *r, const struct fmap *x)
{
    const struct conv *last = rn->bottleneck ? &blk->c3 : &blk->c2;
    int oh, ow;
    conv_out_size(&blk->c1, x->h, x->w, &oh, &ow);
    if (rn->bottleneck) conv_out_size(&blk->c2, oh, ow, &oh, &ow);
    struct fmap out = arena_fmap(r->arena, last->cout, oh, ow);
    struct arena_mark m = arena_mark(r->arena);
    struct fmap t = run_conv(r, &blk->c1, x);
    if (rn->bottleneck) t = run_conv(r, &blk->c2, &t);
    r->macs += (double)last->cout * oh * ow * last->cin * last->k * last->k;
    struct fmap id = *x;
    if (blk->has_down) id = run_conv(r, &blk->down, x);
    if (!r->dry) {
        conv_forward(last, &t, &out, r->arena);
        add_inplace(out.d, id.d, fmap_numel(&out), 1);
    }
    arena_rewind(r->arena, m);
    return out;
}

void resnet_body(const struct backbone *bb, struct run *r, const struct fmap *img,
                 struct fmap *out, struct fmap *stem)
{
    const struct resnet *rn = bb->impl;
    struct fmap s = run_conv(r, &rn->stem, img);
    if (stem) *stem = s;
    int ph, pw;
    maxpool_out_size(s.h, s.w, 3, 2, 1, &ph, &pw);
    struct fmap x = arena_fmap(r->arena, s.c, ph, pw);
    if (!r->dry) maxpool_forward(&s, &x, 3, 2, 1);
    int bi = 0, no = 0;
    for (int l = 0; l < rn->nlayers; l++) {
        for (int k = 0; k < rn->nblocks[l]; k++, bi++) x = block_forward(rn, &rn->blocks[bi], r, &x);
        if (rn->is_out[l]) out[no++] = x;
    }
}
