/*
 * model.h — the detector as a library: torchvision's Faster R-CNN in C.
 *
 * The only public header of model/. It knows nothing of video or SDL: callers
 * hand it packed RGB24 images of any size and get torchvision's detections back,
 * boxes in the original image's pixels, sorted by descending score.
 *
 * Lifetime: model_load() returns an object the caller owns and frees with
 * model_free(). One model must not be used by two threads at once; separate
 * models are independent. model_detect() allocates nothing once it has seen an
 * input size (its activation arena is sized by the first frame of each size).
 *
 * Errors: fallible functions return 0 or a negative code and print one line
 * naming the problem to stderr ("checkpoint x.pth: ..."). Nothing here exits.
 */
#ifndef VDETECT_MODEL_H
#define VDETECT_MODEL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

struct model;

/* Where the weights come from and how to build around them. */
struct model_options {
    const char *weights;      /* .pth (zip or legacy) or self-describing model file */
    const char *arch;         /* torchvision builder name; NULL: from the file/keys */
    const char *const *sets;  /* "NAME=VALUE" overrides (--set), NULL-terminated or NULL */
    int threads;              /* threads the ops run on (the caller + threads - 1 workers);
                                 <= 1: the calling thread only. OpenBLAS itself always
                                 runs on the thread that calls it (see model_prepare_blas). */
    const char *engine;       /* the fp32 GEMM engine: "openblas", "onednn", "auto" (by the
                                 CPU) or NULL (VDETECT_ENGINE's, else by the CPU) */
    const char *precision;    /* "fp32" (NULL: torchvision's arithmetic), "bf16": convs
                                 and linears on bf16 inputs with f32 sums, or "int8": on
                                 int8 inputs with int32 sums (oneDNN; see model_calibrate) */
};

/* Packed RGB24 image borrowed for the duration of one model_detect() call. */
struct model_image {
    const uint8_t *rgb;       /* row-major, 3 bytes per pixel, R G B */
    int width, height;        /* pixels, both >= 1 */
    int stride;               /* bytes from one row to the next, >= 3 * width */
};

struct model_detection {
    float box[4];             /* x1, y1, x2, y2 in original-image pixels */
    float score;              /* softmax probability of label */
    int label;                /* class index, 1..num_classes-1 (0 is background) */
};

/* Wall time of each stage of the last model_detect(), in milliseconds. */
struct model_timing {
    double preprocess;        /* normalise, resize, pad (and, for a new input size, planning
                                 and reserving its memory) */
    double backbone;          /* body up to the FPN inputs */
    double fpn;
    double rpn_head;          /* anchors (when the size changed), RPN convs on every level */
    double rpn_proposals;     /* decode, top-k, NMS */
    double roi_align;         /* MultiScaleRoIAlign */
    double box_head;          /* box head MLP + predictor */
    double postprocess;       /* softmax, decode, per-class NMS, rescale */
    double total;
};

/* Resolved torchvision inference parameters (names as torchvision's kwargs). */
struct model_params {
    float min_size, max_size;
    float image_mean[3], image_std[3];
    int rpn_pre_nms_top_n_test, rpn_post_nms_top_n_test;
    double rpn_nms_thresh;    /* NMS IoU thresholds compare in double, as torchvision's */
    float rpn_score_thresh;
    float box_score_thresh;
    double box_nms_thresh;
    int box_detections_per_img;
    float bn_eps;             /* backbone BatchNorm epsilon (not stored in checkpoints) */
};

int model_load(struct model **out, const struct model_options *opt);
void model_free(struct model **m);

/* Run the whole torchvision path on one image. Writes at most max detections
 * into dets (which may be NULL when max is 0) and their count to *n. The
 * detections are those torchvision returns (box_score_thresh applies; no
 * further filtering). Returns 0, or a negative code with a message on bad
 * input: a size model_check_size() refuses, or working memory the system will
 * not give (checked, and reserved, the first time each input size is seen). */
int model_detect(struct model *m, const struct model_image *img,
                 struct model_detection *dets, int max, int *n);

/* Timing of the last model_detect(). */
const struct model_timing *model_last_timing(const struct model *m);

/* The stages of struct model_timing, in its order, for tables and loops. */
enum model_stage {
    MODEL_STAGE_PREPROCESS, MODEL_STAGE_BACKBONE, MODEL_STAGE_FPN, MODEL_STAGE_RPN_HEAD,
    MODEL_STAGE_RPN_PROPOSALS, MODEL_STAGE_ROI_ALIGN, MODEL_STAGE_BOX_HEAD,
    MODEL_STAGE_POSTPROCESS, MODEL_STAGE_TOTAL, MODEL_STAGES
};
/* "preprocess", "backbone", "fpn", "rpn_head", "rpn_proposals", "roi_align",
 * "box_head", "postprocess", "total" (the field names); NULL out of range. */
const char *model_stage_name(enum model_stage s);
/* The field of t for stage s (0 out of range). */
double model_stage_ms(const struct model_timing *t, enum model_stage s);

/* The architecture names model_options.arch takes (torchvision's builder names,
 * "fasterrcnn_resnet50_fpn", ...), NULL-terminated; static storage. */
const char *const *model_arch_names(void);

/* Facts about the loaded model; pointers stay valid until model_free(). */
const char *model_arch(const struct model *m);          /* e.g. "fasterrcnn_resnet50_fpn" */
/* The weights file's format: "zip" or "legacy" (a .pth), "safetensors" (.vdm). */
const char *model_file_format(const struct model *m);
/* What loading had to assume (a plain state_dict's architecture inferred from its
 * keys, with torchvision's default anchors and sizes), or NULL. */
const char *model_note(const struct model *m);
/* The backbone in one line, e.g. "graph of 150 operations (98 run after fusion);
 * maps 0 1 2 3 pool, 256 channels" (into buf, always NUL-terminated). */
void model_backbone_summary(const struct model *m, char *buf, size_t len);
int model_num_classes(const struct model *m);           /* including background */
const char *model_class_name(const struct model *m, int label); /* NULL if none known */
/* The colour the model file gives class label (its "colors"): 1 and rgb set,
 * or 0 when it gives none (draw with the default palette). */
int model_class_color(const struct model *m, int label, uint8_t rgb[3]);
const struct model_params *model_get_params(const struct model *m);
int64_t model_param_count(const struct model *m);
/* Multiply-adds x 2 of one forward pass on an input of width x height (in
 * *gflops), with as many proposals as rpn_post_nms_top_n_test allows at that
 * size; fills the resized size too. Allocates nothing. 0, or -1 with the reason
 * in msg (one line, no newline) when the model cannot run that size at all: a
 * side that resizes to 0 pixels, or a feature map that shrinks to nothing. */
int model_gflops(const struct model *m, int width, int height, double *gflops,
                 int *resized_w, int *resized_h, char *msg, size_t len);
void model_resized_size(const struct model *m, int width, int height, int *rw, int *rh);
/* Can model_detect run on a width x height image? 0, or -1 with the reason in
 * msg (one line, no newline, names the sizes and the accepted range): outside
 * 1..16384 pixels a side, a side that resizes to 0 pixels (torchvision raises
 * for it), a feature map that shrinks to nothing, or more working memory than
 * the machine has. Allocates nothing; model_detect checks the same for every
 * new size, so callers use this to refuse an input before writing outputs. */
int model_check_size(const struct model *m, int width, int height, char *msg, size_t len);
/* The most detections one model_detect() can return: box_detections_per_img,
 * or fewer when the proposals cannot give that many (rpn_post_nms_top_n_test
 * per class). >= 1; size detection buffers with it. */
int model_max_detections(const struct model *m);

/* Replace class names (e.g. from --labels). names[0] is background. Copies. */
int model_set_class_names(struct model *m, const char *const *names, int count);

/* Apply one "NAME=VALUE" override after loading. Returns -1 with a message
 * for an unknown name or a bad value. */
int model_set(struct model *m, const char *assignment);
/* Check a "NAME=VALUE" override without a model (for command lines: a bad
 * value is a usage error before any loading). 0, or -1 with one line in msg
 * (no newline) naming the parameter, the value and the accepted range, e.g.
 * "--set min_size: '100000' is not a number in [1, 8192]". */
int model_check_set(const char *assignment, char *msg, size_t len);

/* Call first thing in main(). If the OpenBLAS build does not recognise this
 * CPU and fell back to its generic kernels, re-executes the program once with
 * OPENBLAS_CORETYPE set from the CPU's flags (a user's own setting wins).
 * Returns only when no re-exec happened. */
void model_prepare_blas(char **argv);
/* The OpenBLAS kernel set in use, e.g. "Cooperlake". */
const char *model_blas_core(void);
/* The GEMM engine the model's products run on: "openblas" or "onednn" (always
 * "onednn" in bf16). */
const char *model_engine(const struct model *m);
/* "fp32", "bf16" or "int8"; model_set_precision switches between them (the first
 * switch to bf16 or int8 converts a copy of the weights). 0, or -1 with a message. */
const char *model_precision(const struct model *m);
/* One line naming what runs each kind of layer in the model's precision on
 * this CPU (chosen at load from its flags), into buf; returns buf. */
const char *model_kernels(const struct model *m, char *buf, size_t len);
int model_set_precision(struct model *m, const char *name);
/* int8 calibration. In int8 each layer's input is quantised with one scale; a
 * model file may carry them (measured once on representative images), else
 * each input's own range is measured as it comes, which costs a pass over it.
 * model_calibrate runs one image in fp32 and records every int8 layer's input
 * range; model_write_calibrated writes the model file m was loaded from (a .vdm;
 * a .pth cannot carry them) to out, byte for byte but for the ranges added to
 * its metadata. 0, or -1 with a message. */
int model_calibrate(struct model *m, const struct model_image *img);
int model_write_calibrated(struct model *m, FILE *out);
/* Images behind the int8 ranges: those model_calibrate has seen, else those of
 * the model file's calibration; 0 when there is none. */
int model_calibrated_images(const struct model *m);

/* The 91-entry COCO category list torchvision uses ("__background__", "person",
 * ..., with "N/A" for unused ids). */
extern const char *const model_coco_names[91];

#endif
