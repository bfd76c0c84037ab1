/*
 * net.h — the network as it runs: weights bound to the spec's modules by
 * torchvision key name (BatchNorm folded into the conv before it), the backbone
 * graph planned and run, the RPN, the box head and the stages of one
 * model_detect, each named after the torchvision module it implements. Private
 * to model/ and its stage-by-stage tests.
 *
 * A forward pass takes its memory from one activation arena (struct run); what
 * a pass will need, and what it costs in multiply-adds, is plan.c's to say (with
 * graph_plan for the backbone), from shapes alone, before anything runs.
 */
#ifndef VDETECT_MODEL_NET_H
#define VDETECT_MODEL_NET_H

#include "../spec/spec.h"

/* ---- weight binding ----------------------------------------------------------- */

struct binder {
    const struct ckpt *ck;
    const char *path;         /* for messages */
    const char *arch;         /* for messages */
    unsigned char *used;      /* one flag per checkpoint tensor */
    struct arena *store;      /* permanent storage for folded weights */
    float bn_eps;
    int64_t params;           /* parameters bound (before folding) */
    int failed;               /* an error has been printed */
};

/* The tensor named key with exactly the given shape, or NULL after printing
 * "checkpoint PATH: key K: expected [..], found [..]" (or "missing key"). */
const float *bind_tensor(struct binder *b, const char *key, int ndim, const int64_t *shape);
/* Conv at prefix ("backbone.body.conv1") with optional BatchNorm at bn_prefix
 * folded in. has_bias: the conv itself has a bias key. */
int bind_conv(struct binder *b, struct conv *cv, const char *prefix, const char *bn_prefix,
              int cin, int cout, int k, int stride, int pad, int groups, int has_bias,
              enum act act);
/* BatchNorm in eval (weight, bias, running mean, running var): channel c's
 * y = x * scale + shift, scale = w / sqrt(var + eps), in double. */
void bn_coeffs(const float *const bn[4], float eps, int c, double *scale, double *shift);
/* cv's weights and bias with BatchNorm bn folded in (new arrays in b's store). */
void bind_fold_bn(struct binder *b, struct conv *cv, const float *const bn[4], float eps);
/* Linear [out, in] + bias at prefix. */
int bind_linear(struct binder *b, struct linear *l, const char *prefix, int in, int out);
/* After everything is bound: error naming unexpected keys. */
int bind_finish(struct binder *b);

/* ---- one image through the network ------------------------------------------- */

/* What a forward pass runs with: the activation arena every stage allocates
 * from (rewound per detect), and the time the backbone graph spent in its FPN. */
struct run {
    struct arena *arena;
    double fpn_ms;            /* graph_run: time in the nodes after the body (the FPN) */
};

/* The sizes of one image through the transform: the input (h x w), resized
 * (rh x rw, §1.3) and zero-padded to a multiple of size_divisible (hp x wp). */
struct image_sizes {
    int h, w, rh, rw, hp, wp;
};

/* The RPN's output: n boxes (resized coordinates) and their scores, best first. */
struct proposals {
    float *boxes, *scores;    /* [n, 4], [n]; in the pass's arena */
    int n;
};

/* ---- the backbone graph (graph_bind.c, graph_plan.c, graph_run.c) and the
 *      backbone (backbone.c) --------------------------------------------------- */

/* A node's k-th input */
static inline int graph_in(const struct graph *g, const struct gnode *n, int k)
{
    return g->ins[n->in0 + k];
}

/* Bind every key to the checkpoint (shapes checked against the channels flowing
 * in), fold and fuse. out_channels: what every output must have. 0, or -1 after
 * printing the problem. */
int graph_bind(struct graph *g, struct binder *b, int out_channels);

/* What running the graph on a [3, h, w] input takes, from shapes alone. */
struct graph_plan {
    int n_out;
    int out_c[GRAPH_MAX_OUTPUTS], out_h[GRAPH_MAX_OUTPUTS], out_w[GRAPH_MAX_OUTPUTS];
    size_t shared_bytes;      /* the one buffer the inner values share */
    size_t scratch_floats;    /* the largest conv's scratch, taken after it */
    double macs;              /* multiply-adds of its convs and linears */
};
/* 0 and *p, or -1 with *why saying which value's size would be empty (or absurd). */
int graph_plan(const struct graph *g, int h, int w, struct graph_plan *p, const char **why);

/* The pieces of a plan the run shares (graph_plan.c). A value's shape: */
struct vshape { int c, h, w; };
/* Every needed value's shape for an ih x iw input into s[] (seeded values take
 * val's): NULL, or why the graph cannot take the size. */
const char *graph_shapes(const struct graph *g, int ih, int iw, struct vshape *s,
                         const char *need, const char *seeded, const struct fmap *val);
/* Offsets of the values not skipped in one buffer, by lifetime; its size. */
size_t graph_place(const struct graph *g, const struct vshape *s, const char *skip, size_t *off);
struct graph_io;
/* Which values a run needs (need[]) and which the caller gives (seeded[]). */
void graph_needed(const struct graph *g, const struct graph_io *io, char *seeded, char *need);

/* Run on img ([3, H, W], a size graph_plan accepts) into out[0 .. n_out): the
 * outputs come from r's arena and stay; everything else is given back. */
void graph_run(const struct graph *g, struct run *r, const struct fmap *img, struct fmap *out);

/* For stage-by-stage tests: taps (n_tap entries, or NULL) receive the tapped
 * values, kept like outputs; seeds (n_tap entries, or NULL; an entry with a
 * NULL d is not a seed) replace tapped values, which are then not computed, nor
 * anything only they need. img may be NULL when the seeds make it unneeded. */
struct graph_io {
    struct fmap *taps;
    const struct fmap *seeds;
};
void graph_run_io(const struct graph *g, struct run *r, const struct fmap *img, struct fmap *out,
                  const struct graph_io *io);

/* The backbone is always a graph: a model file's, or the preset's description
 * of itself (graph_presets.c). Its outputs are the feature maps, FPN included,
 * in the RPN's level order. */
struct backbone {
    struct graph *graph;      /* the spec's */
    int n_out;
};

/* The spec's graph (made from the preset if the model file gave none), bound to
 * the weights. 0, or -1 with the problem printed. */
int backbone_build(struct backbone *bb, struct spec *s, struct binder *b);
/* Feature maps of img into out[0 .. n_out), from r's arena; returns n_out. */
int backbone_run(const struct backbone *bb, struct run *r, const struct fmap *img,
                 struct fmap *out);

/* ---- transform (transform.c, §1) ---------------------------------------- */

/* The resized (unpadded) size for an h x w input: §1.3's f32 rule. */
void transform_resized_size(int h, int w, float min_size, float max_size, int *oh, int *ow);
/* RGB24 (stride bytes per row) → CHW f32: x = fl(u8 / 255), then (x - mean) / std. */
void transform_normalize(const uint8_t *rgb, int stride, int h, int w, const float mean[3],
                         const float std[3], float *out);
/* torch upsample_bilinear2d(align_corners=False, antialias=False), exact FMA pattern.
 * in [c, ih, iw] → out [c, oh, ow]; out rows may be strided: out_stride_w floats per
 * row, out_stride_c floats per channel (to write straight into the padded tensor). */
void transform_resize_bilinear(const float *in, int c, int ih, int iw, float *out, int oh,
                               int ow, int out_stride_w, size_t out_stride_c);
/* The two in one pass, as transform_forward runs them: the same values, the
 * normalised copy of the input never written. */
void transform_normalize_resize(const uint8_t *rgb, int stride, int h, int w, const float mean[3],
                                const float std[3], float *out, int oh, int ow, int out_stride_w,
                                size_t out_stride_c);
/* transform.postprocess: boxes from the resized (rh x rw) to the original (h x w) size. */
void transform_rescale_boxes(float *boxes, int n, int rh, int rw, int h, int w);

/* ---- anchors (anchor_utils.c, §2) -------------------------------------------- */

/* Cell anchors of one level, ratio-major: base[(i * nsizes + j) * 4 ...]. */
void anchors_cell(const float *sizes, int nsizes, const float *ratios, int nratios, float *base);
/* All anchors of one level: out[((y * gw + x) * A + a) * 4 ...]. */
void anchors_grid(const float *base, int A, int gh, int gw, int stride_h, int stride_w, float *out);

/* ---- RPN (rpn.c, §3) ------------------------------------------------------ */

/* permute_and_flatten of one level's head outputs: logits [A, h, w] → obj[(y*w+x)*A+a],
 * deltas [4A, h, w] → del[((y*w+x)*A+a)*4+k]. */
void rpn_flatten(const struct fmap *logits, const struct fmap *deltas, int A, float *obj,
                 float *del);

struct rpn_params {
    int pre_nms_top_n, post_nms_top_n;
    double nms_thresh;        /* torchvision passes a Python float: compared in double */
    float score_thresh;
};

/* filter_proposals (§3.4): decoded boxes [N, 4] and logits [N] over nlevels levels
 * of level_counts[] anchors each → at most post_nms_top_n proposals and sigmoid
 * scores, sorted by descending score. img_h, img_w: resized size. Returns P. */
int rpn_filter_proposals(const float *decoded, const float *logits, const int *level_counts,
                         int nlevels, int img_h, int img_w, const struct rpn_params *p,
                         float *out_boxes, float *out_scores, struct arena *scratch);

/* RPNHead: 3x3 conv + ReLU blocks shared by every level, then the objectness
 * and box-delta 1x1 convs, fused into one conv of A + 4A outputs at load (the
 * two results are its first A and last 4A channels: nothing is copied). */
struct rpn_head {
    struct conv conv[SPEC_MAX_HEAD_CONVS];
    int depth;
    struct conv pred;
    int A;                    /* anchors per location */
};

int rpn_head_build(struct rpn_head *h, const struct spec *s, struct binder *b);
/* logits [A, h, w] and deltas [4A, h, w] of one level, from r's arena */
void rpn_head_forward(const struct rpn_head *h, struct run *r, const struct fmap *f,
                      struct fmap *logits, struct fmap *deltas);

/* ---- box head (box_head.c, §6.1) ---------------------------------------------- */

/* TwoMLPHead (fc6, fc7) or v2's FastRCNNConvFCHead (conv3x3 + BN + ReLU blocks,
 * then one fc), then FastRCNNPredictor (cls_score, bbox_pred). */
struct box_head {
    struct conv convs[SPEC_MAX_HEAD_CONVS]; /* BN folded; each C -> C channels */
    int nconv;
    struct linear fc6, fc7;   /* fc7.w NULL for the conv head */
    struct linear cls, reg;   /* the predictor: cls_score, bbox_pred */
    int in, rep, K;           /* C * S * S inputs, representation size, classes */
};

int box_head_build(struct box_head *h, const struct spec *s, struct binder *b);
/* pooled [P, in] → features [P, rep], logits [P, K], regression [P, 4K]; the
 * conv head's work memory comes from r's arena and is given back */
void box_head_forward(const struct box_head *h, struct run *r, const float *pooled, int P,
                      float *features, float *logits, float *regression);

/* ---- box head postprocess (roi_heads.c, §6.2) ---------------------------- */

struct box_params {
    float score_thresh;
    double nms_thresh;        /* compared in double, like torchvision's */
    int detections_per_img;
    const float *weights;     /* BoxCoder weights (the spec's box_coder) */
};

/* postprocess_detections: proposals [P, 4], class_logits [P, K], box_regression
 * [P, 4K] → at most detections_per_img boxes (resized coordinates), scores and
 * labels, sorted by descending score. Returns D. */
int box_postprocess(const float *proposals, int P, const float *class_logits,
                    const float *box_regression, int K, int img_h, int img_w,
                    const struct box_params *p, float *out_boxes, float *out_scores,
                    int *out_labels, struct arena *scratch);

/* ---- the loaded detector ------------------------------------------------------- */

struct calib_run;

struct model {
    struct spec spec;
    struct ckpt *ck;              /* owns (maps) the weights the modules point into */
    struct arena store;           /* folded / fused weights, kept until free */
    struct arena arena;           /* activations, rewound every detect */
    struct pool *pool;            /* threads - 1 workers for the ops, or NULL */
    enum gemm_engine engine;      /* what runs the f32 GEMMs */
    enum precision precision;     /* f32, or bf16 / int8 convs and linears (w16 / w8 made) */
    uint16_t *w16_block;          /* every w16 (precision.c), malloc'd; NULL until bf16 */
    int winograd;                 /* convs with Winograd weights in w16_block (wino16) */
    void *w8_block;               /* every w8 and its scales; NULL until int8 */
    struct int8_table calib;      /* int8 input ranges from the model file, one per layer of
                                     precision_layer_list (calibrate.c); n 0: none */
    struct calib_run *calib_run;  /* ranges being measured (model_calibrate), or NULL */
    char *path;                   /* the weights file it was loaded from */
    struct backbone bb;
    struct rpn_head rpn;
    struct box_head box;
    int64_t params;
    char **names;                 /* num_classes entries or NULL; owned */
    uint32_t *colors;             /* num_classes entries (SPEC_COLOR_SET | 0xrrggbb, or 0)
                                     from the model file, or NULL; owned */
    char note[512];               /* what loading assumed (spec_infer), or empty */
    struct model_timing timing;

    /* anchors for one padded input size (recomputed when it changes) */
    int anchor_hp, anchor_wp;
    int grid_h[SPEC_MAX_LEVELS], grid_w[SPEC_MAX_LEVELS];
    int level_counts[SPEC_MAX_LEVELS];
    int n_anchors;
    float *anchors;               /* n_anchors x 4, malloc'd */

    /* MultiScaleRoIAlign scales, set on the first call as torchvision does */
    int scales_ready;
    float roi_scales[SPEC_MAX_LEVELS];
    int k_min, k_max;

    /* the input size model_detect last checked and reserved memory for */
    int plan_w, plan_h;
};

/* ---- the stages of model_detect, in order ----------------------------------------
 * Each takes its working memory from the pass's arena (the anchors, cached
 * between frames, are malloc'd); generalized_rcnn_forward records their times in
 * m->timing. The stage-by-stage tests call them one by one. */

/* GeneralizedRCNNTransform (transform.c): normalise, resize and zero-pad img into
 * x [3, hp, wp]; *z its sizes. -1 (printed) for an image model_detect refuses. */
int transform_forward(struct model *m, const struct model_image *img, struct fmap *x,
                      struct image_sizes *z);
/* The transform's sizes for an h x w input. */
void transform_sizes(const struct spec *s, int h, int w, struct image_sizes *z);
/* AnchorGenerator (anchor_utils.c): the anchors of the feature maps of a padded
 * image, cached in m for the next image of that size. 0, or -1 with a message
 * when they do not fit in memory. */
int anchors_forward(struct model *m, const struct fmap *feats, int nfeat,
                    const struct image_sizes *z);
/* RegionProposalNetwork (rpn.c): head on every level, anchors, decode,
 * filter_proposals → *out, or -1 (printed) when the anchors cannot be allocated. */
int rpn_forward(struct model *m, struct run *r, const struct fmap *feats, int nfeat,
                const struct image_sizes *z, struct proposals *out);
/* RoIHeads (roi_heads.c): MultiScaleRoIAlign, box head, postprocess_detections,
 * then transform.postprocess to the input's size → at most max detections. */
int roi_heads_forward(struct model *m, struct run *r, const struct fmap *feats,
                      const struct proposals *props, const struct image_sizes *z,
                      struct model_detection *dets, int max);
/* MultiScaleRoIAlign's scales, set from the first image's sizes (as torchvision). */
void roi_heads_scales(struct model *m, const struct fmap *feats, int resized_h);
/* GeneralizedRCNN.forward (generalized_rcnn.c): model_detect, which also hands
 * the RPN's proposals to props when it is not NULL (valid until the next detect). */
/* The ops on this thread run as m says (pool, engine, precision) until _end. */
void net_ops_begin(const struct model *m);
void net_ops_end(void);
/* The layers that run in bf16 and int8: dense convs (graph, RPN head, conv box
 * head) and linears, in one fixed order (the calibration's). */
struct qlayer {
    struct conv *cv;              /* one of the two is set */
    struct linear *lin;
};
/* Those layers, malloc'd (*n of them); NULL after printing when out of memory. */
struct qlayer *precision_layer_list(struct model *m, int *n);
void qlayer_shape(const struct qlayer *q, int *rows, int *cols);   /* weights as a matrix */
/* Round every such layer's weights to bf16 (w16), or quantise them to int8 (w8,
 * with the input scales of m->calib), once. 0, or -1 when the memory cannot be
 * had (message printed). */
int precision_prepare_bf16(struct model *m);
int precision_prepare_int8(struct model *m);
/* calibrate.c: m->calib from the model file's "vdetect_int8" metadata, if any.
 * 0, or -1 (printed) when it is there but does not fit the model. */
int calib_load(struct model *m);
void calib_free(struct model *m);
int generalized_rcnn_forward(struct model *m, const struct model_image *img,
                             struct model_detection *dets, int max, int *n,
                             struct proposals *props);

/* ---- planning a pass (plan.c) -------------------------------------------------- */

#define NET_MAX_INPUT_SIDE 16384

/* Before the first image of a size: can it run, and is its memory there? Reserves
 * the arena for it. 0, or -1 with the reason printed. */
int plan_reserve(struct model *m, int width, int height);
/* The arena bytes a pass at this size takes, as planned (no headroom): for
 * tests, which hold a real pass against it. 0, or -1 if the size cannot run. */
int plan_arena_bytes(const struct model *m, int width, int height, size_t *bytes);

#endif
