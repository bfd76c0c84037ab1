/*
 * spec.h — what a detector is, before any weight is bound: the architecture
 * (struct spec: every hyperparameter, from a preset, a model file's metadata or
 * a plain checkpoint's keys, edited by --set) and its backbone as a graph of
 * torch operations (model/FORMAT.md), read from a model file (graph_json.c) or
 * written in C for a preset (graph_build.c, graph_presets.c). Binding, planning
 * and running a graph are net/'s (net.h). Private to model/ and its tests.
 */
#ifndef VDETECT_MODEL_SPEC_H
#define VDETECT_MODEL_SPEC_H

#include "../ckpt/ckpt.h"
#include "../model.h"
#include "../ops/ops.h"

#define GRAPH_MAX_NODES 4096
#define GRAPH_MAX_OUTPUTS 8
#define GRAPH_MAX_TAPS 8
#define GRAPH_NAME_LEN 32

enum gop {
    G_NONE,        /* fused into a consumer, or never read: does not run */
    G_INPUT, G_CONV, G_LINEAR, G_BATCHNORM, G_LAYERNORM, G_ACT, G_ADD, G_MUL, G_SCALE, G_CAT,
    G_MAXPOOL, G_AVGPOOL, G_ADAPTIVE_AVG, G_ADAPTIVE_MAX, G_UPSAMPLE
};

struct gnode {
    enum gop op;
    int in0, n_in;             /* inputs: graph.ins[in0 .. in0 + n_in) */
    enum act act;              /* applied last (an act node, or one fused in) */

    /* tensors by key (as read; NULL when absent), then bound */
    char *key[4];              /* conv/linear: weight, bias; norms: weight, bias, mean, var;
                                  scale: weight */
    float eps;
    int stride, pad, dil, groups;
    int want_cout, want_k;     /* built-in descriptions: the weight shape they imply (0: any) */
    struct conv cv;            /* G_CONV / G_LINEAR once bound (BatchNorm folded) */
    const float *scale, *shift;/* G_BATCHNORM (folded to an affine), G_SCALE; G_LAYERNORM:
                                  weight and bias */
    struct pool_geom pg;       /* G_MAXPOOL / G_AVGPOOL */
    int out_h, out_w;          /* G_ADAPTIVE_*: output size; G_UPSAMPLE: integer scale
                                  (0: to the second input's size) */

    int c;                     /* output channels (known once bound) */
    int last;                  /* the last node that reads this value */
};

struct graph {
    struct gnode *nodes;
    int n;
    int *ins, n_ins;
    int out_node[GRAPH_MAX_OUTPUTS];
    char out_name[GRAPH_MAX_OUTPUTS][GRAPH_NAME_LEN];
    int n_out;
    /* named inner values the stage tests read or replace ("stem", "body_0", ...) */
    int tap_node[GRAPH_MAX_TAPS];
    char tap_name[GRAPH_MAX_TAPS][GRAPH_NAME_LEN];
    int n_tap;
    int split;                 /* nodes from here on are the FPN (timed apart): after the
                                  last body_* tap; n when there is none */
    int cap_nodes, cap_ins, build_failed;   /* graph_build.c */
};

/* The "graph" object of a description → *g (keys and parameters, nothing bound).
 * -1 after printing "model metadata: graph.nodes[I].FIELD: problem". */
typedef struct json_t json_t;
int graph_parse(struct graph *g, const json_t *v);
void graph_free(struct graph *g);

/* ---- building a graph in C (graph_build.c) ------------------------------------------
 * graph_build_start() makes node 0 (the input); each gb_* appends a node reading
 * earlier ones and returns its index, -1 once anything failed; keys are
 * PREFIX.weight etc. graph_build_done() prints the failure (out of memory). */
void graph_build_start(struct graph *g);
int gb_conv(struct graph *g, int x, const char *prefix, int stride, int pad, int groups, int bias);
/* The conv node's weight must have cout outputs and a k x k kernel (load error otherwise). */
void gb_expect(struct graph *g, int conv, int cout, int k);
int gb_batchnorm(struct graph *g, int x, const char *prefix, float eps);
int gb_act(struct graph *g, int x, enum act act);
int gb_binary(struct graph *g, int a, int b, int mul);
int gb_maxpool(struct graph *g, int x, int k, int stride, int pad);
int gb_adaptive_avg(struct graph *g, int x, int oh, int ow);
int gb_upsample_to(struct graph *g, int x, int ref);
int gb_output(struct graph *g, int node, const char *name);
int gb_tap(struct graph *g, int node, const char *name);
int graph_build_done(struct graph *g, const char *what);

/* ---- the built-in architectures as graphs (graph_presets.c) ----------------------- */
struct spec;
/* The spec's backbone (ResNet, MobileNetV3, VGG body + FPN) as a graph with
 * torchvision's key names; taps "stem" and "body_I". 0 or -1 (message printed). */
int graph_from_spec(struct graph *g, const struct spec *s);

/* ---- the detector's description ------------------------------------------------------ */

#define SPEC_MAX_LEVELS 8
#define SPEC_MAX_VGG 64
#define SPEC_MAX_HEAD_CONVS 8       /* 3x3 convs in the RPN head or the box head */

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
    int vgg_cfg[SPEC_MAX_VGG], vgg_cfg_len, vgg_bn;
    int vgg_return[SPEC_MAX_LEVELS], n_vgg_return;

    int fpn_out;              /* FPN channels (256) */
    int fpn_norm;             /* FPN convs are conv (no bias) + BatchNorm (v2) */
    int pool_level;           /* LastLevelMaxPool adds a 'pool' map */
    int rpn_conv_depth;       /* 3x3 conv + ReLU blocks in the RPN head (1; v2: 2) */
    int box_head_convs;       /* FastRCNNConvFCHead: conv3x3+BN+ReLU blocks before the
                                 one FC (v2: 4); 0 = TwoMLPHead (fc6, fc7) */

    /* Anchors per RPN level (one entry per feature map, 'pool' included). */
    int n_levels;
    float anchor_sizes[SPEC_MAX_LEVELS][8];
    int n_sizes[SPEC_MAX_LEVELS];
    float aspect_ratios[SPEC_MAX_LEVELS][8];
    int n_ratios[SPEC_MAX_LEVELS];

    /* A model file's backbone as a graph of operations (above; version 2 files):
     * its outputs are the feature maps, FPN included. Owned; spec_release frees it. */
    struct graph *graph;

    int size_divisible;       /* the transform pads to a multiple of this (32) */
    float rpn_coder[4], box_coder[4]; /* BoxCoder weights: (1,1,1,1) and (10,10,5,5) */

    int roi_maps;             /* maps pooled by MultiScaleRoIAlign, */
    int roi_index[SPEC_MAX_LEVELS]; /* at these feature map indices, increasing */
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
/* A model file's architecture JSON (__metadata__["vdetect"], see metadata.c)
 * → *s (which may own a graph afterwards, also after a failure: spec_release), and its class names (*class_names: *n_names malloc'd strings, entries
 * may be NULL; the caller frees; NULL/0 when the file has none) and colours
 * (below). -1 after
 * printing "model metadata: FIELD: problem". num_classes is left to the weights. */
int spec_from_metadata(struct spec *s, const char *json, char ***class_names, int *n_names,
                       uint32_t **colors);
/* *colors of spec_from_metadata: NULL, or one per class name: 0 (none) or
 * SPEC_COLOR_SET | 0xrrggbb; malloc'd, the caller frees. */
#define SPEC_COLOR_SET 0x1000000u
/* The file spec_from_metadata's messages name ("checkpoint F: model metadata: ..."),
 * NULL for none; per thread, set by the caller around the call. */
extern _Thread_local const char *spec_meta_source;
/* Print "checkpoint F: model metadata: FIELD: " + the message + newline; -1. */
int spec_meta_error(const char *field, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A plain state_dict's architecture from what its keys and shapes fix
 * (infer.c): 1 and *s filled (note: what was assumed, or empty for a
 * preset's exact layout), 0 when the keys are not a layout it knows, -1 after
 * printing why a layout it knows cannot be run without the exporter. */
int spec_infer(struct spec *s, const struct ckpt *ck, const char *path, char *note, size_t len);
/* Guess the preset from the checkpoint's keys and file name; NULL if it can't. */
const char *spec_guess_arch(const struct ckpt *ck, const char *path);

/* ---- int8 ranges as a model file carries them (int8_table.c) ------------------------
 * model/FORMAT.md, "int8 ranges": one entry per layer, its weights' shape as a
 * matrix and the largest |x| its input reached. */
struct int8_table {
    int n, images;
    int (*shape)[2];              /* n, malloc'd */
    float *amax;                  /* n, malloc'd */
};
/* The text of __metadata__["vdetect_int8"] → *t. 0, or -1 with one line in err
 * (no newline); *t is then empty. */
int int8_table_parse(const char *text, struct int8_table *t, char *err, size_t len);
/* The text of *t, malloc'd (JSON, compact); NULL when out of memory. */
char *int8_table_format(const struct int8_table *t);
void int8_table_free(struct int8_table *t);

#endif
