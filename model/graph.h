/*
 * graph.h — a backbone as a graph of torch operations (model/FORMAT.md): read
 * from a model file's description (graph_json.c), bound to the checkpoint's
 * tensors and fused (graph.c: BatchNorm folded into the conv before it, an
 * activation into the op before it), planned for each input size (one buffer,
 * values placed by lifetime) and run. Private to model/.
 */
#ifndef VDETECT_MODEL_GRAPH_H
#define VDETECT_MODEL_GRAPH_H

#include "internal.h"

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
struct json_value;
int graph_parse(struct graph *g, const struct json_value *v);
void graph_free(struct graph *g);

/* Bind every key to the checkpoint (shapes checked against the channels flowing
 * in), fold and fuse. out_channels: what every output must have. 0, or -1 after
 * printing the problem. */
struct binder;
int graph_bind(struct graph *g, struct binder *b, int out_channels);

/* Run on img ([3, H, W]) into out[0 .. n_out): the outputs come from r's arena
 * and stay; everything else is given back. With r->dry only the sizes and the
 * multiply-adds are counted (r's arena is a counting one). */
struct run;
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

#endif
