/*
 * net.h — the network side of model/: the architecture spec (every
 * hyperparameter, filled from a preset and --set), the weight binder, and the
 * modules (backbones, FPN, RPN head, box head) with their build and forward
 * functions. Private to model/.
 *
 * A module is built once from the checkpoint by key name (BatchNorm folded into
 * the preceding conv) and then run with a struct run, which supplies the
 * activation arena and, for cost estimates, a dry mode that only counts
 * multiply-adds.
 */
#ifndef VDETECT_MODEL_NET_H
#define VDETECT_MODEL_NET_H

#include "ckpt.h"
#include "internal.h"
#include "model.h"

#define NET_MAX_LEVELS 8
#define NET_MAX_VGG 64

/* What describes the backbone: a preset's family (graph_presets.c writes the
 * graph) or the model file's graph. */
enum backbone_kind { BACKBONE_RESNET, BACKBONE_MOBILENET_V3_LARGE, BACKBONE_MOBILENET_V3_SMALL,
                     BACKBONE_VGG, BACKBONE_GRAPH };

struct graph;

/* Everything that describes one detector. Presets fill it; --set edits params. */
struct spec {
    char arch[64];
    enum backbone_kind backbone;

    /* ResNet: blocks per layer, Bottleneck (1) or BasicBlock (0), groups and
     * width per group; FPN on layers returned[0..n_returned) (1-based). */
    int resnet_blocks[4];
    int bottleneck, groups, width_per_group;
    int returned[4], n_returned;

    /* VGG features: cfg entries are channel counts, 0 for a max-pool ('M');
     * vgg_bn adds BatchNorm after each conv. FPN taps the module indices
     * vgg_return[0..n) of the Sequential (torchvision numbering). */
    int vgg_cfg[NET_MAX_VGG], vgg_cfg_len, vgg_bn;
    int vgg_return[NET_MAX_LEVELS], n_vgg_return;

    int fpn_out;              /* FPN channels (256) */
    int fpn_norm;             /* FPN convs are conv (no bias) + BatchNorm (v2) */
    int pool_level;           /* LastLevelMaxPool adds a 'pool' map */
    int rpn_conv_depth;       /* 3x3 conv + ReLU blocks in the RPN head (1; v2: 2) */
    int box_head_convs;       /* FastRCNNConvFCHead: conv3x3+BN+ReLU blocks before the
                                 one FC (v2: 4); 0 = TwoMLPHead (fc6, fc7) */

    /* Anchors per RPN level (one entry per feature map, 'pool' included). */
    int n_levels;
    float anchor_sizes[NET_MAX_LEVELS][8];
    int n_sizes[NET_MAX_LEVELS];
    float aspect_ratios[NET_MAX_LEVELS][8];
    int n_ratios[NET_MAX_LEVELS];

    /* A model file's backbone as a graph of operations (graph.h; version 2 files):
     * its outputs are the feature maps, FPN included. Owned; spec_release frees it. */
    struct graph *graph;

    int size_divisible;       /* the transform pads to a multiple of this (32) */
    float rpn_coder[4], box_coder[4]; /* BoxCoder weights: (1,1,1,1) and (10,10,5,5) */

    int roi_maps;             /* maps pooled by MultiScaleRoIAlign, */
    int roi_index[NET_MAX_LEVELS]; /* at these feature map indices, increasing */
    int roi_out, roi_sampling;/* 7, 2 */
    int representation;       /* TwoMLPHead width (1024) */
    int num_classes;          /* from the weights */

    struct model_params p;
};

int spec_preset(struct spec *s, const char *arch);  /* -1 + message if unknown */
void spec_release(struct spec *s);                   /* frees the graph; NULL-safe */
const char *const *spec_preset_names(void);          /* NULL-terminated */
int spec_set(struct spec *s, const char *assignment); /* --set NAME=VALUE; -1 + message */

/* The inference parameters and the values vdetect accepts for each (the same
 * for --set and a model file's "params"; README lists them). */
#define SPEC_MAX_SIZE 8192      /* min_size, max_size: pixels */
#define SPEC_MAX_COUNT 1000000  /* top-n counts, detections per image */
enum spec_param_type { SPEC_FLOAT, SPEC_DOUBLE, SPEC_INT, SPEC_TRIPLE, SPEC_TRIPLE_NONZERO };
struct spec_param {
    const char *name;         /* torchvision's keyword */
    enum spec_param_type type;
    size_t off;               /* in struct model_params */
    double lo, hi;            /* accepted values, inclusive (each of a triple's) */
};
const struct spec_param *spec_param_find(const char *name);   /* NULL if unknown */
const char *spec_param_names(void);                           /* "min_size, ..." */
/* "an integer in [1, 1000000]", "a number in [1, 8192]", ... */
void spec_param_range(const struct spec_param *p, char *buf, size_t len);
/* n values (3 for a triple, else 1) into *out if every one is accepted; else
 * -1 and *out unchanged. */
int spec_param_store(const struct spec_param *p, const double *v, int n, struct model_params *out);
/* "NAME=VALUE" into *p (NULL: only check). 0, or -1 with one line in msg naming
 * the parameter, the value and the accepted range. */
int spec_param_check(const char *assignment, struct model_params *p, char *msg, size_t len);
/* A model file's architecture JSON (__metadata__["vdetect"], see spec_meta.c)
 * → *s (which may own a graph afterwards, also after a failure: spec_release), and its class names (*class_names: *n_names malloc'd strings, entries
 * may be NULL; the caller frees; NULL/0 when the file has none). -1 after
 * printing "model metadata: FIELD: problem". num_classes is left to the weights. */
int spec_from_metadata(struct spec *s, const char *json, char ***class_names, int *n_names);
/* The file spec_from_metadata's messages name ("checkpoint F: model metadata: ..."),
 * NULL for none; per thread, set by the caller around the call. */
extern _Thread_local const char *spec_meta_source;
/* Print "checkpoint F: model metadata: FIELD: " + the message + newline; -1. */
int spec_meta_error(const char *field, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A plain state_dict's architecture from what its keys and shapes fix
 * (spec_infer.c): 1 and *s filled (note: what was assumed, or empty for a
 * preset's exact layout), 0 when the keys are not a layout it knows, -1 after
 * printing why a layout it knows cannot be run without the exporter. */
int spec_infer(struct spec *s, const struct ckpt *ck, const char *path, char *note, size_t len);
/* Guess the preset from the checkpoint's keys and file name; NULL if it can't. */
const char *spec_guess_arch(const struct ckpt *ck, const char *path);

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
int bind_linear(struct binder *b, const float **w, const float **bias, const char *prefix,
                int in, int out);
/* After everything is bound: error naming unexpected keys. */
int bind_finish(struct binder *b);

/* ---- running ------------------------------------------------------------------- */

struct run {
    struct arena *arena;
    int dry;                  /* only sizes and multiply-adds, no arithmetic */
    double macs;              /* multiply-adds counted */
    double fpn_ms;            /* graph_run: time in the nodes after the body (the FPN) */
    const char *refused;      /* dry runs: why the graph cannot take this size, or NULL */
};

/* conv into a new arena map */
struct fmap run_conv(struct run *r, const struct conv *cv, const struct fmap *in);

/* ---- backbone ------------------------------------------------------------------- */

/* The backbone is always a graph (graph.h): a model file's, or the preset's
 * description of itself (graph_presets.c). Its outputs are the feature maps,
 * FPN included, in the RPN's level order. */
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

/* ---- heads ----------------------------------------------------------------------- */

#define NET_MAX_HEAD_CONVS 8

struct rpn_head {
    struct conv conv[NET_MAX_HEAD_CONVS]; /* 3x3 + ReLU, depth of them */
    int depth;
    struct conv pred;         /* cls_logits and bbox_pred fused: A + 4A outputs */
    int A;
};

int rpn_head_build(struct rpn_head *h, const struct spec *s, struct binder *b);
/* logits [A, h, w] and deltas [4A, h, w] for one level */
void rpn_head_forward(const struct rpn_head *h, struct run *r, const struct fmap *f,
                      struct fmap *logits, struct fmap *deltas);

struct box_head {
    struct conv convs[NET_MAX_HEAD_CONVS]; /* FastRCNNConvFCHead, BN folded */
    int nconv;
    const float *fc6_w, *fc6_b, *fc7_w, *fc7_b; /* fc7 NULL for the conv head */
    float *pred_w, *pred_b;   /* cls_score and bbox_pred fused: K + 4K outputs */
    int in, rep, K;
};

int box_head_build(struct box_head *h, const struct spec *s, struct binder *b);
/* pooled [P, in] → features [P, rep], logits [P, K], regression [P, 4K] */
void box_head_forward(const struct box_head *h, struct run *r, const float *pooled, int P,
                      float *features, float *logits, float *regression);

#endif
