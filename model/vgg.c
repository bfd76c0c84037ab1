/*
 * vgg.c — a VGG features Sequential given by its cfg (torchvision make_layers:
 * channel counts and 'M' max-pools, optional BatchNorm), run as
 * IntermediateLayerGetter runs it: modules in order up to the last returned
 * index, returned maps taken by reference — so an in-place ReLU right after a
 * returned conv shows in the returned map (reference §7.5).
 */
#include "net.h"

#include <string.h>

enum vgg_op { VGG_CONV, VGG_POOL };

struct vgg_step {
    enum vgg_op op;
    struct conv conv;         /* VGG_CONV: BN folded, ReLU fused if it runs */
    int returns;              /* this step's output is a returned map */
};

struct vgg {
    struct vgg_step steps[NET_MAX_VGG];
    int n;
};

int vgg_build(struct backbone *bb, const struct spec *s, struct binder *b)
{
    struct vgg *v = calloc(1, sizeof *v);
    if (!v) return -1;
    bb->impl = v;
    int last = 0;
    for (int i = 0; i < s->n_vgg_return; i++)
        if (s->vgg_return[i] > last) last = s->vgg_return[i];
    for (int i = 1; i < s->n_vgg_return; i++) {
        if (s->vgg_return[i] <= s->vgg_return[i - 1]) {
            fprintf(stderr, "vgg: returned layers must be increasing module indices\n");
            return -1;
        }
    }

    int idx = 0, in = 3, ri = 0;
    bb->n_out = 0;
    for (int i = 0; i < s->vgg_cfg_len && idx <= last; i++) {
        struct vgg_step *st = &v->steps[v->n++];
        /* module indices this cfg entry spans: conv[, bn], relu  or  pool */
        int first = idx, span = s->vgg_cfg[i] == 0 ? 1 : (s->vgg_bn ? 3 : 2);
        if (s->vgg_cfg[i] == 0) {
            st->op = VGG_POOL;
        } else {
            char c[96], n[96];
            int out = s->vgg_cfg[i];
            int relu_idx = first + span - 1;
            snprintf(c, sizeof c, "backbone.body.%d", first);
            snprintf(n, sizeof n, "backbone.body.%d", first + 1);
            if (ri < s->n_vgg_return && s->vgg_bn && s->vgg_return[ri] == first) {
                fprintf(stderr, "vgg: returning conv %d before its BatchNorm is not supported; "
                        "return the BatchNorm or ReLU index instead\n", first);
                return -1;
            }
            if (bind_conv(b, &st->conv, c, s->vgg_bn ? n : NULL, in, out, 3, 1, 1, 1, 1,
                          relu_idx <= last ? ACT_RELU : ACT_NONE))
                return -1;
            in = out;
        }
        if (ri < s->n_vgg_return && s->vgg_return[ri] < first + span) {
            st->returns = 1;
            bb->out_channels[bb->n_out++] = in;
            ri++;
        }
        idx += span;
    }
    if (ri != s->n_vgg_return) {
        fprintf(stderr, "vgg: returned layer %d is past the end of the features\n",
                s->vgg_return[ri]);
        return -1;
    }
    /* drop steps after the last returned one (IntermediateLayerGetter stops there) */
    while (v->n > 0 && !v->steps[v->n - 1].returns) v->n--;
    return 0;
}

void vgg_body(const struct backbone *bb, struct run *r, const struct fmap *img, struct fmap *out,
              struct fmap *stem)
{
    const struct vgg *v = bb->impl;
    struct fmap x = *img;
    int no = 0;
    for (int i = 0; i < v->n; i++) {
        const struct vgg_step *st = &v->steps[i];
        if (st->op == VGG_CONV) {
            x = run_conv(r, &st->conv, &x);
            if (i == 0 && stem) *stem = x;
        } else {
            int oh, ow;
            maxpool_out_size(x.h, x.w, 2, 2, 0, &oh, &ow);
            struct fmap y = arena_fmap(r->arena, x.c, oh, ow);
            if (!r->dry) maxpool_forward(&x, &y, 2, 2, 0);
            x = y;
        }
        if (st->returns) out[no++] = x;
    }
}
