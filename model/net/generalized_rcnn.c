/*
 * generalized_rcnn.c — GeneralizedRCNN.forward for one image, the whole
 * torchvision inference path (docs/torchvision-inference.md §0), one stage per file:
 *
 *   transform.c       normalise, resize, zero-pad               (§1)
 *   backbone.c        backbone + FPN, a graph of torch ops       (graph_*.c)
 *   rpn.c             RPN head, anchors (anchor_utils.c), decode, filter_proposals (§2, §3)
 *   roi_heads.c       MultiScaleRoIAlign, box head (box_head.c), postprocess (§5, §6)
 *   transform.c       boxes back to the input's size             (§1)
 *
 * Everything per frame comes from the activation arena, reserved for the input
 * size before the first frame of that size (plan.c).
 */
#include "net.h"

#include <string.h>

void net_ops_begin(const struct model *m)
{
    ops_use_pool(m->pool);
    ops_use_engine(m->engine);
    ops_use_precision(m->precision);
}

void net_ops_end(void)
{
    ops_use_pool(NULL);
    ops_use_precision(PREC_FP32);
}

int generalized_rcnn_forward(struct model *m, const struct model_image *img,
                             struct model_detection *dets, int max, int *n,
                             struct proposals *props)
{
    *n = 0;
    struct model_timing *tm = &m->timing;
    memset(tm, 0, sizeof *tm);
    arena_reset(&m->arena);
    struct run r = { .arena = &m->arena };
    double t0 = ops_now_ms(), t;

    if (img && img->rgb && img->stride >= 3 * img->width &&
        (img->width != m->plan_w || img->height != m->plan_h) &&
        plan_reserve(m, img->width, img->height))
        return -1;
    struct fmap x;
    struct image_sizes z;
    net_ops_begin(m);   /* (the transform splits its rows over the pool too) */
    if (transform_forward(m, img, &x, &z)) {
        net_ops_end();
        return -1;
    }
    tm->preprocess = (t = ops_now_ms()) - t0;

    struct fmap feats[SPEC_MAX_LEVELS];
    int nfeat = backbone_run(&m->bb, &r, &x, feats);
    tm->fpn = r.fpn_ms;
    tm->backbone = ops_now_ms() - t - tm->fpn;

    struct proposals pr;
    if (rpn_forward(m, &r, feats, nfeat, &z, &pr)) {
        net_ops_end();
        return -1;
    }
    if (props) *props = pr;
    *n = roi_heads_forward(m, &r, feats, &pr, &z, dets, max);
    net_ops_end();
    tm->total = ops_now_ms() - t0;
    return 0;
}

int model_detect(struct model *m, const struct model_image *img, struct model_detection *dets,
                 int max, int *n)
{
    return generalized_rcnn_forward(m, img, dets, max, n, NULL);
}
