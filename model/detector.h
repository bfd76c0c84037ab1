/*
 * detector.h — the loaded detector's insides (private to model/ and its
 * stage-by-stage tests): spec, bound modules, the activation arena and the
 * per-input-size caches.
 */
#ifndef VDETECT_MODEL_DETECTOR_H
#define VDETECT_MODEL_DETECTOR_H

#include "net.h"

struct model {
    struct spec spec;
    struct ckpt *ck;              /* owns (maps) the weights the modules point into */
    struct arena store;           /* folded / fused weights, kept until free */
    struct arena arena;           /* activations, rewound every detect */
    struct pool *pool;            /* threads - 1 workers for the ops, or NULL */
    struct backbone bb;
    struct rpn_head rpn;
    struct box_head box;
    int64_t params;
    char **names;                 /* num_classes entries or NULL; owned */
    char note[512];               /* what loading assumed (spec_infer), or empty */
    struct model_timing timing;

    /* anchors for one padded input size (recomputed when it changes) */
    int anchor_hp, anchor_wp;
    int grid_h[NET_MAX_LEVELS], grid_w[NET_MAX_LEVELS];
    int level_counts[NET_MAX_LEVELS];
    int n_anchors;
    float *anchors;               /* n_anchors x 4, malloc'd */

    /* MultiScaleRoIAlign scales, set on the first call as torchvision does */
    int scales_ready;
    float roi_scales[NET_MAX_LEVELS];
    int k_min, k_max;

    /* the input size model_detect last checked and reserved memory for */
    int plan_w, plan_h;

    /* the last detect's RPN proposals (resized coordinates) and scores, in the
     * arena: valid until the next detect; for stage-by-stage tests */
    const float *last_props, *last_pscores;
    int last_P;
};

/* Stages of model_detect, for it and for stage-by-stage tests; all allocate
 * from m->arena and fill m->timing. */
/* Normalise, resize and zero-pad img into x [3, Hp, Wp]; resized size out. */
int detector_preprocess(struct model *m, const struct model_image *img, struct fmap *x,
                        int *rh, int *rw);
/* RPN head, anchors, decode, filter_proposals → P proposals (resized coords),
 * or -1 (message printed) when the anchors cannot be allocated. */
int detector_proposals(struct model *m, struct run *r, const struct fmap *feats, int nfeat,
                       int hp, int wp, int rh, int rw, float **props, float **pscores);
/* MultiScaleRoIAlign, box head, postprocess, rescale to H x W → at most max. */
int detector_heads(struct model *m, struct run *r, const struct fmap *feats, const float *props,
                   int P, int rh, int rw, int H, int W, struct model_detection *dets, int max);
/* Anchors for the feature maps of a padded image (cached). 0, or -1 with a
 * message when they do not fit in memory. */
int detector_anchors(struct model *m, const struct fmap *feats, int nfeat, int hp, int wp);
/* MultiScaleRoIAlign scales from the first call's sizes. */
void detector_roi_scales(struct model *m, const struct fmap *feats, int resized_h);

#endif
