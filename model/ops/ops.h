/*
 * ops.h — the kernels of model/: feature maps, the activation arena, the worker
 * pool, GEMM, convolution, activations, pooling, per-element ops, torch's exp,
 * sort and topk, box decoding, NMS and RoIAlign — each a plain function that
 * knows nothing of the network around it (net/ composes them). Private to
 * model/ and its tests.
 *
 * Conventions: batch size is always 1; feature maps are CHW float32, contiguous.
 * Boxes are float[4] = x1, y1, x2, y2 in pixels, no "+1" anywhere. Every stage
 * follows torchvision 0.14's arithmetic as described in
 * docs/torchvision-inference.md (its section numbers are the § in comments).
 * Ops take const inputs and caller-provided outputs and assert their shapes.
 */
#ifndef VDETECT_MODEL_OPS_H
#define VDETECT_MODEL_OPS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
 * (arena_reserve, sized by replaying its allocations on a counting arena:
 * net/plan.c), so running out later is a bug and aborts.
 *
 * A counting arena returns one dummy pointer for every allocation (never to be
 * dereferenced) and only tracks the
 * sizes (total, high); maps that come out empty set empty_map instead of
 * asserting. Plans (net/plan.c) use one.
 */
struct arena_block;
struct arena {
    struct arena_block *head;   /* current block; older ones chained behind */
    size_t used;                /* bytes used in head */
    size_t total;               /* bytes used this pass, all blocks */
    size_t high;                /* high-water mark over passes (reservations included) */
    size_t peak;                /* the most any pass has used (for tests) */
    int counting;               /* hand out nothing, only count (plans) */
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
/* n floats rounded up as the arena rounds each allocation (to its alignment):
 * for sizes that add up several allocations. */
size_t arena_aligned_floats(size_t n);
int *arena_ints(struct arena *a, size_t n);
struct fmap arena_fmap(struct arena *a, int c, int h, int w);
void arena_reset(struct arena *a);
void arena_release(struct arena *a);
/* Temporary allocations: arena_rewind() gives back everything allocated since
 * arena_mark() (if no new block was chained meanwhile; otherwise it keeps it). */
struct arena_mark { struct arena_block *head; size_t used, total; };
struct arena_mark arena_mark(const struct arena *a);
void arena_rewind(struct arena *a, struct arena_mark m);

/* ---- time (clock.c) ------------------------------------------------------- */

/* Milliseconds on a monotonic clock (stage timings). */
double ops_now_ms(void);

/* ---- worker threads (thread_pool.c) -------------------------------------- */

struct pool;
/* nthreads in all, the caller included (nthreads - 1 workers). 0 or -1. */
int pool_open(struct pool **out, int nthreads);
void pool_close(struct pool **p);           /* NULL-safe; joins the workers */
int pool_size(const struct pool *p);        /* 1 for NULL */
/* Run fn(ctx, task, worker) for task = 0..ntasks-1 on the caller and the
 * workers (worker: 0..size-1, for per-thread scratch); returns when all ran. */
void pool_run(struct pool *p, int ntasks, void (*fn)(void *ctx, int task, int worker), void *ctx);
/* fn(ctx, lo, hi) over [0, n) in one contiguous range per thread of the ops'
 * pool (see ops_use_pool), or in one call when work (the values it touches)
 * is too small to share. Each range's results must not depend on the split. */
void pool_for(int n, double work, void (*fn)(void *ctx, int lo, int hi), void *ctx);
/* The pool the ops on this thread use (NULL: run on the calling thread alone).
 * model_detect sets its model's pool; tests may leave it unset. */
void ops_use_pool(struct pool *p);

/* The pool set by ops_use_pool on this thread, or NULL. */
struct pool *ops_pool(void);

/* ---- GEMM (gemm.c), activations (activation.c), convolution (conv.c),
 *      nearest upsampling (upsample.c) ---------------------------------------- */

/* Keep OpenBLAS on its calling thread (once per process; every GEMM calls it). */
void blas_single_thread(void);

/* ---- the GEMM engine, the precision and the CPU (engine.c, bf16.c, quant.c,
 *      matmul.c) ------------------------------------------------------------------- */

/* Does the CPU have this /proc/cpuinfo flag ("avx512f", "amx_bf16", ...)? */
int cpu_has(const char *flag);

enum gemm_engine { GEMM_OPENBLAS, GEMM_ONEDNN };
/* The default engine: VDETECT_ENGINE's (openblas, onednn, auto; anything else is
 * said once on stderr and ignored), else oneDNN on AVX-512 CPUs, else OpenBLAS. */
enum gemm_engine gemm_engine_by_cpu(void);
/* "openblas", "onednn", or "auto" (by the CPU's flags alone) → *e; -1 for
 * anything else. */
int gemm_engine_parse(const char *name, enum gemm_engine *e);
const char *gemm_engine_name(enum gemm_engine e);
/* The engine the GEMMs on this thread use (model_detect sets its model's; unset:
 * gemm_engine_by_cpu). */
void ops_use_engine(enum gemm_engine e);
enum gemm_engine ops_engine(void);
/* Keep oneDNN's OpenMP to the calling thread (once per thread). */
void onednn_single_thread(void);

/* What the convs and linears compute in: f32 (torchvision's arithmetic), bf16
 * inputs with f32 sums where the layer has bf16 weights (w16), or int8 inputs
 * with int32 sums where it has int8 weights (w8). Per thread, like the pool;
 * unset: f32. */
enum precision { PREC_FP32, PREC_BF16, PREC_INT8 };
void ops_use_precision(enum precision p);
enum precision ops_precision(void);
const char *precision_name(enum precision p);
/* "fp32" / "bf16" / "int8"; else -1 */
int precision_parse(const char *name, enum precision *p);
/* Has the CPU bf16 dot products (AVX512_BF16 or AMX)? Without them oneDNN
 * emulates bf16, slower than f32. */
int cpu_has_bf16(void);
/* Has it int8 dot products (AVX512_VNNI, AVX_VNNI or AMX)? Without them oneDNN
 * runs int8 on plain AVX-512/AVX2, at about fp32's speed. */
int cpu_has_int8(void);

/* bfloat16: round to nearest even (NaN stays NaN), and back. Branch-free so
 * loops over it vectorise; a NaN keeps its sign and becomes a quiet NaN. */
static inline uint16_t bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1)) >> 16;
    uint32_t nan = (u >> 16) | 0x40;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : r);
}
/* (bf16_from_f32 uses AVX512_BF16 where the CPU has it: see bf16.c) */
int bf16_rounding_native(void);   /* 1 when it does */
float bf16_to_f32(uint16_t h);
void bf16_from_f32(const float *x, size_t n, uint16_t *y);
/* C[m,n] = A[m,k] * op(B) in bf16 with f32 sums, row-major with leading dimensions
 * (op(B) = B[k,n], or B[n,k]^T with trans_b); split over the ops' pool. */
void gemm_bf16(int m, int n, int k, const uint16_t *A, int lda, const uint16_t *B, int ldb,
               float *C, int ldc, int trans_b);
/* gemm_bf16 on the calling thread alone (never split: for tasks of the pool). */
void gemm_bf16_alone(int m, int n, int k, const uint16_t *A, int lda, const uint16_t *B, int ldb,
                     float *C, int ldc, int trans_b);
/* The same in int8 with exact int32 sums. */
void gemm_s8(int m, int n, int k, const int8_t *A, int lda, const int8_t *B, int ldb, int32_t *C,
             int ldc, int trans_b);

/* int8 is symmetric with zero point 0: x ≈ q * scale, q = round(x / scale)
 * clamped to [-L, L]. Weights have a scale per output channel (L = 127: the
 * row's largest |w| / 127), a layer's input one scale (calibrated: the typical
 * largest |x| / L; or measured on each input when the layer has none) with L =
 * quant_levels(): 127 where oneDNN's int8 kernels have VNNI or AMX dot products;
 * 63 where they multiply pairs into 16 bits (AVX-512 or AVX2 without VNNI), which
 * saturates unless one side keeps to 7 bits — measured: exact with 63, wrong
 * with 127. */
int quant_levels(void);
float absmax(const float *x, size_t n);               /* largest |x[i]|; NaN counts as 0 */
float quant_scale(float amax);                        /* amax / L, or 1 when amax is 0 */
/* A layer's input, clamped to +-quant_levels(). */
void quantize_s8(const float *x, size_t n, float scale, int8_t *q);
/* One value, given 1 / scale and the limit: clamped, rounded half away from
 * zero, NaN → 0; branch-free so that loops over it vectorise. */
static inline int8_t quant_one(float x, float inv, float lim)
{
    float v = x * inv;
    v = v == v ? v : 0.0f;
    v = v > lim ? lim : v;
    v = v < -lim ? -lim : v;
    v += v >= 0.0f ? 0.5f : -0.5f;
    return (int8_t)(int)v;
}
/* rows x cols weights → q (same layout, +-127) and scale[rows]. */
void quantize_rows_s8(const float *w, int rows, int cols, int8_t *q, float *scale);

/* Calibration: while an observer is set on this thread, every conv and linear
 * that has int8 weights or could have them (dense convs and linears) reports
 * the largest |x| of its input on each call. NULL: none. */
typedef void (*ops_observer_fn)(void *ctx, const void *layer, float amax);
void ops_observe(ops_observer_fn fn, void *ctx);
/* (conv.c, gemm.c) Report layer's input x[n] to this thread's observer, if any. */
void ops_observed(const void *layer, const float *x, size_t n);

/* The one GEMM: C[m,n] = A[m,k] * op(B) (+ C if accumulate), row-major with leading
 * dimensions; op(B) = B[k,n], or B[n,k]^T with trans_b. Split over the ops' pool. */
void gemm_ld(int m, int n, int k, const float *A, int lda, const float *B, int ldb, float *C,
             int ldc, int accumulate, int trans_b);
/* A product's shape: C[m,n] = A[m,k] * op(B), leading dimensions, B transposed? */
struct gemm_shape { int m, n, k, lda, ldb, ldc, trans_b; };
/* How gemm_ld and gemm_bf16 split a product over the ops' pool: into parts along
 * N, or along M when N is narrow (every element's sum stays one call's). */
struct gemm_split { struct gemm_shape whole; int by_rows, parts; };
struct gemm_split gemm_split(const struct gemm_shape *s);
/* Part part's sub-product: its shape, and the element offsets into A, B and C;
 * 0 when the part is empty. */
int gemm_piece(const struct gemm_split *sp, int part, struct gemm_shape *s, size_t *a, size_t *b,
               size_t *c);
/* C[m,n] = A[m,k] * B[k,n] (+ C if accumulate), packed. */
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
    const uint16_t *w16; /* w rounded to bf16 (--precision bf16), or NULL */
    const int8_t *w8;    /* w in int8 (--precision int8), or NULL; */
    const float *w8_scale;  /* its scale per output channel */
    float x_scale;       /* the input's int8 scale; 0: measured on each input */
    const uint16_t *wino16; /* bf16: w transformed for Winograd (winograd.c), or NULL */
};

void conv_out_size(const struct conv *cv, int h, int w, int *oh, int *ow);
/* groups == cin == cout > 1: one filter per channel */
int conv_is_depthwise(const struct conv *cv);
/* floor((n + 2 pad - dil (k - 1) - 1) / stride) + 1, floored as torch does (<= 0 when
 * the input is smaller than the kernel: an empty map, which torch refuses). */
int conv_out_len(int n, int k, int stride, int pad, int dil);
/* Floats of scratch conv_forward takes from its arena for an h x w input (with
 * the ops' current pool), so that plans can count them. */
size_t conv_scratch_floats(const struct conv *cv, int h, int w);
/* torch.nn.Conv2d (+ folded BN + activation). out must be sized by conv_out_size.
 * Uses im2col + gemm for dense convs (none for 1x1 stride 1), direct loops for
 * depthwise. scratch supplies the im2col buffer. */
void conv_forward(const struct conv *cv, const struct fmap *in, struct fmap *out, struct arena *scratch);
/* The same over n images stacked along in's height (in->h = n * image height),
 * each zero-padded on its own: out->h = n * the output height of one. */
void conv_forward_images(const struct conv *cv, const struct fmap *in, int n, struct fmap *out,
                         struct arena *scratch);
size_t conv_scratch_floats_images(const struct conv *cv, int n, int h, int w);
/* Winograd F(2x2, 3x3) in bf16 (winograd.c): for 3x3 stride-1 convs of at
 * least 16 channels in and out (winograd_eligible). Its weights, 16 * cout * cin
 * bf16 (winograd_weights_len), are made once from cv->w; conv_forward_images
 * runs it in bf16 where the conv has them (cv->wino16). */
int winograd_eligible(const struct conv *cv);
size_t winograd_weights_len(const struct conv *cv);
void winograd_weights_bf16(const struct conv *cv, uint16_t *u);
size_t winograd_scratch_floats(const struct conv *cv, int n, int h, int w);
void conv_winograd_bf16(const struct conv *cv, const uint16_t *u, const struct fmap *in, int n,
                        struct fmap *out, struct arena *scratch);
/* Convs in bf16 by our own AVX512_BF16 kernel (conv_bf16.c), where the CPU has
 * AVX512_BF16 and no AMX (conv_bf16_native); groups 1 only. Bias and activation
 * included; sums do not depend on the thread count. conv_forward_images sends
 * bf16 convs here (but Winograd's on large maps). */
int conv_bf16_native(void);
/* Tests and benchmarks: 0 sends every bf16 conv to oneDNN (set between runs,
 * while nothing runs). Linear layers prepared while allowed keep only their
 * panels (wp16): with 0 they run in f32. */
void conv_bf16_allow(int allow);
size_t conv_bf16_scratch_floats(const struct conv *cv, int n, int h, int w);
void conv_bf16_forward(const struct conv *cv, const struct fmap *in, int n, struct fmap *out,
                       struct arena *scratch);
/* Rows [y0, y1) of the im2col matrix of channels [c0, c0 + cn) of cv's input
 * in (n images of ih rows stacked, oh output rows each) in f32: col[(ci * k +
 * ky) * k + kx][(y - y0) * ow + x] (conv.c). */
void im2col_f32(const struct fmap *in, int ih, int oh, const struct conv *cv, int ow, int c0,
                int cn, int y0, int y1, float *col);
/* Multiply-adds of cv producing an oh x ow map. */
double conv_macs(const struct conv *cv, int oh, int ow);

void act_inplace(float *x, size_t n, enum act a);
/* F.interpolate(mode="nearest") to out's size: out = up(in) */
void upsample_nearest(const struct fmap *in, struct fmap *out);
/* F.linear: y[m, out] = x[m, in] W[out, in]^T + b, optional ReLU */
/* A linear layer: y = x W^T + b. */
struct linear {
    int in, out;
    const float *w;          /* [out, in] */
    const float *b;          /* [out] or NULL */
    const uint16_t *w16;     /* w rounded to bf16 (--precision bf16), or NULL */
    const uint16_t *wp16;    /* w in bf16 panels for linear_bf16.c, or NULL */
    const int8_t *w8;        /* w in int8 (--precision int8), or NULL; */
    const float *w8_scale;   /* its scale per output */
    float x_scale;           /* the input's int8 scale; 0: measured on each input */
};
/* F.linear in bf16 by our own AVX512_BF16 kernel (linear_bf16.c), where
 * conv_bf16_native(): its weights in panels, linear_bf16_weights_len values made
 * once by linear_bf16_weights from w (the layer's wp16, in place of a w16);
 * y = x W^T + b, optional ReLU.
 * Sums do not depend on the thread count. */
size_t linear_bf16_weights_len(const struct linear *l);
void linear_bf16_weights(const struct linear *l, uint16_t *wp);
size_t linear_bf16_scratch_floats(const struct linear *l, int m);
void linear_bf16_forward(const struct linear *l, const uint16_t *wp, const float *x, int m,
                         float *y, int relu, struct arena *scratch);
/* F.linear on x [m, in] → y [m, out], optional ReLU; in bf16 (when the thread's
 * precision is bf16 and l has w16) x is rounded into scratch first, or it runs
 * on linear_bf16.c where l has wp16 and the CPU that kernel. */
void linear_forward(const struct linear *l, const float *x, int m, float *y, int relu,
                    struct arena *scratch);
size_t linear_scratch_floats(const struct linear *l, int m);

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

#endif
