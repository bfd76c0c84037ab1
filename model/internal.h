/*
 * internal.h — model/'s private vocabulary: feature maps, the activation arena,
 * the tensor ops and the detection stages. Only model/ sources and the tests that
 * check model/ stage by stage include it.
 *
 * Conventions: batch size is always 1; feature maps are CHW float32, contiguous.
 * Boxes are float[4] = x1, y1, x2, y2 in pixels, no "+1" anywhere. Every stage
 * follows torchvision 0.14's arithmetic as described in
 * docs/torchvision-inference.md (its section numbers are the § in comments).
 * Ops take const inputs and caller-provided outputs and assert their shapes.
 */
#ifndef VDETECT_MODEL_INTERNAL_H
#define VDETECT_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Always-on invariant check (bugs assert; the world returns errors). */
#define MODEL_ASSERT(cond)                                                         \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                               \
        }                                                                          \
    } while (0)

/* ---- feature maps ------------------------------------------------------- */

struct fmap {
    float *d;       /* c * h * w floats, CHW; owned by whoever allocated it */
    int c, h, w;
};

static inline size_t fmap_numel(const struct fmap *f) { return (size_t)f->c * f->h * f->w; }

/* ---- arena -------------------------------------------------------------- */

/*
 * Bump allocator for activations. arena_reset() rewinds it; if the last pass
 * needed more than the first block held, reset() replaces the blocks by one
 * block of the high-water size, so a repeated input size allocates nothing.
 * Allocations are 64-byte aligned. A pass reserves its memory first
 * (arena_reserve, sized by a counting dry run: detector.c), so running out
 * later is a bug and aborts.
 *
 * A counting arena returns one dummy pointer for every allocation (never to be
 * dereferenced) and only tracks the
 * sizes (total, high); maps that come out empty set empty_map instead of
 * asserting. Dry runs (struct run .dry) use one.
 */
struct arena_block;
struct arena {
    struct arena_block *head;   /* current block; older ones chained behind */
    size_t used;                /* bytes used in head */
    size_t total;               /* bytes used this pass, all blocks */
    size_t high;                /* high-water mark over passes */
    int counting;               /* hand out nothing, only count (dry runs) */
    int empty_map;              /* counting: a map had a side <= 0 */
};

void arena_init(struct arena *a);
void arena_init_counting(struct arena *a);
/* Before a pass (nothing allocated since the reset): make sure one block of
 * at least bytes is there. 0, or -1 when the memory cannot be had (the arena
 * is then unchanged). */
int arena_reserve(struct arena *a, size_t bytes);
/* Did this pass outgrow its first block (for tests: a reservation too small)? */
int arena_chained(const struct arena *a);
void *arena_alloc(struct arena *a, size_t bytes);
float *arena_floats(struct arena *a, size_t n);
int *arena_ints(struct arena *a, size_t n);
struct fmap arena_fmap(struct arena *a, int c, int h, int w);
void arena_reset(struct arena *a);
void arena_release(struct arena *a);
/* Temporary allocations: arena_rewind() gives back everything allocated since
 * arena_mark() (if no new block was chained meanwhile; otherwise it keeps it). */
struct arena_mark { struct arena_block *head; size_t used, total; };
struct arena_mark arena_mark(const struct arena *a);
void arena_rewind(struct arena *a, struct arena_mark m);

/* ---- worker threads (pool.c) --------------------------------------------- */

struct pool;
/* nthreads in all, the caller included (nthreads - 1 workers). 0 or -1. */
int pool_open(struct pool **out, int nthreads);
void pool_close(struct pool **p);           /* NULL-safe; joins the workers */
int pool_size(const struct pool *p);        /* 1 for NULL */
/* Run fn(ctx, task, worker) for task = 0..ntasks-1 on the caller and the
 * workers (worker: 0..size-1, for per-thread scratch); returns when all ran. */
void pool_run(struct pool *p, int ntasks, void (*fn)(void *ctx, int task, int worker), void *ctx);

/* ---- GEMM and convolution (ops.c) -------------------------------------- */

/* Keep OpenBLAS on its calling thread (once per process; every GEMM calls it). */
void blas_single_thread(void);

/* The pool the ops on this thread use (NULL: run on the calling thread alone).
 * model_detect sets its model's pool; tests may leave it unset. */
void ops_use_pool(struct pool *p);

/* C[m,n] = A[m,k] * B[k,n] (+ C if accumulate), row-major. The one GEMM wrapper. */
void gemm(int m, int n, int k, const float *A, const float *B, float *C, int accumulate);
/* The same into a wider C: row i of the result at C + i * ldc. */
void gemm_strided(int m, int n, int k, const float *A, const float *B, float *C, int ldc);
/* C[m,n] = A[m,k] * B[n,k]^T  (Linear: y = x W^T) */
void gemm_nt(int m, int n, int k, const float *A, const float *B, float *C);

/* Activations as torch computes them (FORMAT.md lists the formulas). */
enum act { ACT_NONE, ACT_RELU, ACT_HARDSWISH, ACT_RELU6, ACT_HARDSIGMOID, ACT_SILU, ACT_GELU,
           ACT_SIGMOID, ACT_TANH };

/* A convolution whose BatchNorm (if any) is folded in at load. */
struct conv {
    int cin, cout, k, stride, pad, groups;
    const float *w;   /* [cout, cin/groups, k, k] */
    const float *b;   /* [cout] or NULL */
    enum act act;     /* applied after bias */
    int dil;          /* dilation; 0 or 1: none */
};

void conv_out_size(const struct conv *cv, int h, int w, int *oh, int *ow);
/* floor((n + 2 pad - dil (k - 1) - 1) / stride) + 1, floored as torch does (<= 0 when
 * the input is smaller than the kernel: an empty map, which torch refuses). */
int conv_out_len(int n, int k, int stride, int pad, int dil);
/* Floats of scratch conv_forward takes from its arena for an h x w input (with
 * the ops' current pool), so that dry runs can count them. */
size_t conv_scratch_floats(const struct conv *cv, int h, int w);
/* torch.nn.Conv2d (+ folded BN + activation). out must be sized by conv_out_size.
 * Uses im2col + gemm for dense convs (none for 1x1 stride 1), direct loops for
 * depthwise. scratch supplies the im2col buffer. */
void conv_forward(const struct conv *cv, const struct fmap *in, struct fmap *out, struct arena *scratch);

void act_inplace(float *x, size_t n, enum act a);
/* F.interpolate(mode="nearest") to out's size: out = up(in) */
void upsample_nearest(const struct fmap *in, struct fmap *out);
/* F.linear: y[m, out] = x[m, in] W[out, in]^T + b, optional ReLU */
void linear_forward(const float *x, int m, int in, const float *W, const float *b, int out,
                    float *y, int relu);

/* ---- pooling (pooling.c) and per-element ops (eltwise.c) of model graphs ---- */

struct pool_geom { int k, stride, pad, dil, ceil_mode, count_include_pad; };
/* torch's pooling_output_shape (<= 0: the window does not fit) */
int pool_out_len(int n, int k, int stride, int pad, int dil, int ceil_mode);
void pool_max(const struct fmap *in, struct fmap *out, const struct pool_geom *g);
void pool_avg(const struct fmap *in, struct fmap *out, const struct pool_geom *g);
/* AdaptiveAvgPool2d / AdaptiveMaxPool2d to out's size */
void pool_adaptive(const struct fmap *in, struct fmap *out, int is_max);
/* out = a + b or a * b (one side may be [C, 1, 1]), then act */
void eltwise_binary(const struct fmap *a, const struct fmap *b, struct fmap *out, int mul,
                    enum act act);
/* out = in * scale[c] (+ shift[c]), then act; shift may be NULL */
void channel_affine(const struct fmap *in, const float *scale, const float *shift,
                    struct fmap *out, enum act act);
/* LayerNorm over the C values of each pixel, then * w[c] + b[c], then act */
void layernorm_channels(const struct fmap *in, const float *w, const float *b, float eps,
                        struct fmap *out, enum act act);
/* torch.cat(dim=0 of CHW) of n maps of out's height and width */
void concat_channels(const struct fmap *const *in, int n, struct fmap *out);

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
/* transform.postprocess: boxes from the resized (rh x rw) to the original (h x w) size. */
void transform_rescale_boxes(float *boxes, int n, int rh, int rw, int h, int w);

/* ---- anchors (anchors.c, §2) -------------------------------------------- */

/* Cell anchors of one level, ratio-major: base[(i * nsizes + j) * 4 ...]. */
void anchors_cell(const float *sizes, int nsizes, const float *ratios, int nratios, float *base);
/* All anchors of one level: out[((y * gw + x) * A + a) * 4 ...]. */
void anchors_grid(const float *base, int A, int gh, int gw, int stride_h, int stride_w, float *out);

/* ---- math ---------------------------------------------------------------- */

/* exp as torch's vectorised CPU kernels compute it (SLEEF u10, bit-exact). */
float torch_expf(float x);

/* ---- box coding and NMS (boxes.c, nms.c, sort.c; §3.3, §4) -------------- */

/* BoxCoder.decode of n boxes: ref[i], code[i] → out[i]; weights (wx, wy, ww, wh).
 * code_stride: floats between successive codes (4 for packed). */
void box_decode(const float *ref, const float *codes, int n, size_t code_stride,
                const float weights[4], float *out);
void box_clip(float *boxes, int n, int h, int w);

/* torch CPU Tensor.sort(descending=True) order (libstdc++ introsort on
 * (value, index) pairs): writes the permutation to idx[n]. */
void torch_sort_desc(const float *v, int n, int *idx);
/* torch CPU topk(k, largest, sorted) indices (partial_sort or nth_element+sort
 * as torch 1.13 chooses); idx[k]. */
void torch_topk(const float *v, int n, int k, int *idx, struct arena *scratch);

/* torchvision.ops.nms: returns the number kept, keep[] in keep order. */
int nms(const float *boxes, const float *scores, int n, double thresh, int *keep,
        struct arena *scratch);
/* torchvision.ops.batched_nms with the CPU path selection (§4.2). */
int batched_nms(const float *boxes, const float *scores, const int *idxs, int n, double thresh,
                int *keep, struct arena *scratch);

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

/* ---- RoI pooling (roi_align.c, §5) --------------------------------------- */

/* _infer_scale: 2 ** round(log2(feat_h / img_h)). */
float roi_infer_scale(int feat_h, int img_h);
/* LevelMapper: level index per box (0 .. k_max - k_min). */
void roi_levels(const float *boxes, int n, int k_min, int k_max, int *levels);
/* roi_align(aligned=False) of n boxes on one map → out[n][c][out_size][out_size]. */
void roi_align(const struct fmap *f, float scale, const float *boxes, int n, int out_size,
               int sampling_ratio, float *out);
/* MultiScaleRoIAlign: maps[0..nmaps) with scales; boxes with a level that has no
 * map get zeros (§5.3). out[n][c][out_size][out_size]. */
void multiscale_roi_align(const struct fmap *maps, const float *scales, int nmaps, int k_min,
                          int k_max, const float *boxes, int n, int out_size, int sampling_ratio,
                          float *out, struct arena *scratch);

/* ---- box head postprocess (roi_heads.c, §6.2) ---------------------------- */

struct box_params {
    float score_thresh;
    double nms_thresh;        /* compared in double, like torchvision's */
    int detections_per_img;
    const float *weights;     /* BoxCoder weights; NULL: torchvision's (10, 10, 5, 5) */
};

/* postprocess_detections: proposals [P, 4], class_logits [P, K], box_regression
 * [P, 4K] → at most detections_per_img boxes (resized coordinates), scores and
 * labels, sorted by descending score. Returns D. */
int box_postprocess(const float *proposals, int P, const float *class_logits,
                    const float *box_regression, int K, int img_h, int img_w,
                    const struct box_params *p, float *out_boxes, float *out_scores,
                    int *out_labels, struct arena *scratch);

#endif
