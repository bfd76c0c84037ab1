/*
 * transform.c — GeneralizedRCNNTransform (docs/torchvision-inference.md §1): the
 * resized size, u8 → normalised f32, torch's bilinear resize, the zero padding to
 * a multiple of size_divisible, and the final rescale of boxes to the original size.
 *
 * Everything here reproduces torch 1.13's CPU arithmetic bit for bit on an AVX2
 * build: f32 where torch uses f32 tensors, double where its kernels use double,
 * and explicit fmaf() exactly where GCC contracted torch's expressions into FMAs
 * (the project builds with -ffp-contract=off, so nothing else may be fused).
 */
#include "net.h"

#include <math.h>
#include <string.h>

/*
 * §1.3: `S / tensor(min(H, W))` is Tensor.__rtruediv__ = reciprocal(t) * S, both in
 * f32, so the scale is fl(fl(1 / n) * S), not the correctly rounded S / n; this is
 * what makes 375x500 resize to 799 rows rather than 800. The output size is then
 * floor(double(H) * double(r)) (interpolate with recompute_scale_factor=True).
 */
void transform_resized_size(int h, int w, float min_size, float max_size, int *oh, int *ow)
{
    MODEL_ASSERT(h > 0 && w > 0);
    float mn = (float)(h < w ? h : w);
    float mx = (float)(h < w ? w : h);
    float r_min = (1.0f / mn) * min_size;
    float r_max = (1.0f / mx) * max_size;
    float r = r_min < r_max ? r_min : r_max;
    *oh = (int)floor((double)h * (double)r);
    *ow = (int)floor((double)w * (double)r);
}

/*
 * x = fl(u8 / 255), then fl((x - mean) / std) with true f32 divisions (§1.2). The
 * result depends only on the byte and the channel, so it is tabulated once per
 * call (768 entries) and the pixel loop is a plain de-interleaving lookup.
 */
static void normalize_lut(const float mean[3], const float std[3], float lut[3][256])
{
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++)
            lut[c][v] = ((float)v / 255.0f - mean[c]) / std[c];
}

void transform_normalize(const uint8_t *rgb, int stride, int h, int w, const float mean[3],
                         const float std[3], float *out)
{
    MODEL_ASSERT(h > 0 && w > 0 && stride >= 3 * w);
    float lut[3][256];
    normalize_lut(mean, std, lut);

    size_t plane = (size_t)h * w;
    float *r = out, *g = out + plane, *b = out + 2 * plane;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = rgb + (size_t)y * stride;
        size_t o = (size_t)y * w;
        for (int x = 0; x < w; x++) {
            r[o + x] = lut[0][row[3 * x + 0]];
            g[o + x] = lut[1][row[3 * x + 1]];
            b[o + x] = lut[2][row[3 * x + 2]];
        }
    }
}

/*
 * One axis of upsample_bilinear2d(align_corners=False) at output index d:
 * ratio = fl(f32(n_in) / f32(n_out)) (the f32 quotient of the sizes, never 1/r);
 * the source coordinate in double; lambda1 = (float)(src - i0). An axis whose
 * sizes are equal gets torch's own identity weights (i0 = i1 = d, 1 and 0), which
 * the FMA pattern below turns into an exact copy of finite values.
 */
static inline void axis_coef(int n_in, int n_out, float ratio, int d, int *i0, int *i1,
                             float *l0, float *l1)
{
    if (n_in == n_out) {
        *i0 = *i1 = d;
        *l0 = 1.0f;
        *l1 = 0.0f;
        return;
    }
    double src = (double)ratio * (d + 0.5) - 0.5;
    if (src < 0) src = 0;
    int a = (int)src;
    *i0 = a;
    *i1 = a < n_in - 1 ? a + 1 : a;
    float lam1 = (float)(src - a);
    *l1 = lam1;
    *l0 = 1.0f - lam1;
}

/* Horizontal pass of one input row over a block of output columns:
 * t = fma(a[x0], l0, fl(a[x1] * l1)) — the contraction torch's AVX2 build does. */
static void resize_row(const float *row, const int *x0, const int *x1, const float *l0,
                       const float *l1, int n, float *dst)
{
    for (int j = 0; j < n; j++)
        dst[j] = fmaf(row[x0[j]], l0[j], row[x1[j]] * l1[j]);
}

/* The same on a row of RGB24 bytes, normalised by lut as it is read (the values
 * transform_normalize would have written, without writing them). */
static void resize_row_rgb(const uint8_t *row, const float *lut, int c, const int *x0,
                           const int *x1, const float *l0, const float *l1, int n, float *dst)
{
    for (int j = 0; j < n; j++)
        dst[j] = fmaf(lut[row[3 * x0[j] + c]], l0[j], lut[row[3 * x1[j] + c]] * l1[j]);
}

/* Vertical pass: out = fma(t0, ly0, fl(t1 * ly1)). Written in fixed groups of 8 so
 * that -O2's very cheap vectoriser turns each group into one AVX op. */
static void blend_rows(const float *restrict t0, const float *restrict t1, float ly0, float ly1,
                       int n, float *restrict o)
{
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) o[j + k] = fmaf(t0[j + k], ly0, t1[j + k] * ly1);
    for (; j < n; j++) o[j] = fmaf(t0[j], ly0, t1[j] * ly1);
}

/* Output columns per block: the per-column tables and two horizontally resampled
 * rows live on the stack (6 * RESIZE_BLOCK * 4 bytes), whatever the image width. */
#define RESIZE_BLOCK 512

/*
 * torch upsample_bilinear2d, CPU, NCHW float (§1.3): horizontal first, then
 * out = fma(t0, ly0, fl(t1 * ly1)). Bit-exact against torch 1.13 on AVX2 for a
 * contiguous CHW input tensor. (A channels-last-strided tensor, such as
 * from_numpy(hwc).permute(2, 0, 1) without .contiguous(), makes torch take another
 * kernel whose rounding differs by 1 ulp in ~30% of values.)
 *
 * The horizontal result of an input row depends only on that row, so the two most
 * recent ones are kept and reused by the next output rows (an upscale by ~2 reads
 * each input row twice): same values, about half the work.
 */
struct resize_job {
    const float *in;         /* [c, ih, iw], or NULL: */
    const uint8_t *rgb;      /* RGB24 rows stride bytes apart, normalised by lut */
    int stride;
    const float (*lut)[256];
    int c, ih, iw;
    float *out;
    int oh, ow, out_stride_w;
    size_t out_stride_c;
};

/* Input row y of channel ch resampled horizontally into dst: from the float
 * planes, or from the RGB24 bytes through the normalising lut. */
static void input_row(const struct resize_job *r, int ch, int y, const int *x0, const int *x1,
                      const float *l0, const float *l1, int n, float *dst)
{
    if (r->rgb)
        resize_row_rgb(r->rgb + (size_t)y * r->stride, r->lut[ch], ch, x0, x1, l0, l1, n, dst);
    else
        resize_row(r->in + ((size_t)ch * r->ih + y) * r->iw, x0, x1, l0, l1, n, dst);
}

/* output rows [lo, hi) of every channel (each range starts its row cache afresh:
 * the same values, computed once more at the ranges' edges) */
static void resize_rows(void *ctx, int lo, int hi)
{
    const struct resize_job *r = ctx;
    int x0[RESIZE_BLOCK], x1[RESIZE_BLOCK];
    float lx0[RESIZE_BLOCK], lx1[RESIZE_BLOCK];
    float hbuf[2][RESIZE_BLOCK];
    int ih = r->ih, iw = r->iw, oh = r->oh, ow = r->ow;
    float rx = (float)iw / (float)ow, ry = (float)ih / (float)oh;

    for (int jb = 0; jb < ow; jb += RESIZE_BLOCK) {
        int n = ow - jb < RESIZE_BLOCK ? ow - jb : RESIZE_BLOCK;
        for (int j = 0; j < n; j++)
            axis_coef(iw, ow, rx, jb + j, &x0[j], &x1[j], &lx0[j], &lx1[j]);

        for (int ch = 0; ch < r->c; ch++) {
            float *dst = r->out + ch * r->out_stride_c + jb;
            int cached[2] = { -1, -1 };   /* input row held by hbuf[s] */

            for (int i = lo; i < hi; i++) {
                int y0, y1;
                float ly0, ly1;
                axis_coef(ih, oh, ry, i, &y0, &y1, &ly0, &ly1);

                int s0 = cached[0] == y0 ? 0 : cached[1] == y0 ? 1 : -1;
                if (s0 < 0) {
                    s0 = cached[0] == y1 ? 1 : 0;   /* keep y1's row if we have it */
                    input_row(r, ch, y0, x0, x1, lx0, lx1, n, hbuf[s0]);
                    cached[s0] = y0;
                }
                int s1 = cached[0] == y1 ? 0 : cached[1] == y1 ? 1 : -1;
                if (s1 < 0) {
                    s1 = 1 - s0;
                    input_row(r, ch, y1, x0, x1, lx0, lx1, n, hbuf[s1]);
                    cached[s1] = y1;
                }

                blend_rows(hbuf[s0], hbuf[s1], ly0, ly1, n, dst + (size_t)i * r->out_stride_w);
            }
        }
    }
}

void transform_resize_bilinear(const float *in, int c, int ih, int iw, float *out, int oh,
                               int ow, int out_stride_w, size_t out_stride_c)
{
    MODEL_ASSERT(c > 0 && ih > 0 && iw > 0 && oh > 0 && ow > 0);
    MODEL_ASSERT(out_stride_w >= ow && out_stride_c >= (size_t)oh * out_stride_w);
    struct resize_job r = { in, NULL, 0, NULL, c, ih, iw, out, oh, ow, out_stride_w, out_stride_c };
    pool_for(oh, (double)c * oh * ow * 4, resize_rows, &r);
}

void transform_normalize_resize(const uint8_t *rgb, int stride, int h, int w, const float mean[3],
                                const float std[3], float *out, int oh, int ow, int out_stride_w,
                                size_t out_stride_c)
{
    MODEL_ASSERT(h > 0 && w > 0 && stride >= 3 * w && oh > 0 && ow > 0);
    MODEL_ASSERT(out_stride_w >= ow && out_stride_c >= (size_t)oh * out_stride_w);
    float lut[3][256];
    normalize_lut(mean, std, lut);
    struct resize_job r = { NULL, rgb, stride, lut, 3, h, w, out, oh, ow, out_stride_w, out_stride_c };
    pool_for(oh, (double)3 * oh * ow * 4, resize_rows, &r);
}

/*
 * transform.postprocess → resize_boxes(boxes, resized, original): ratios are f32
 * tensor quotients original / resized (§1.5), one f32 product per coordinate, no
 * clipping or rounding afterwards.
 */
void transform_rescale_boxes(float *boxes, int n, int rh, int rw, int h, int w)
{
    MODEL_ASSERT(n >= 0 && rh > 0 && rw > 0 && h > 0 && w > 0);
    float ratio_h = (float)h / (float)rh;
    float ratio_w = (float)w / (float)rw;
    for (int i = 0; i < n; i++) {
        float *b = boxes + 4 * (size_t)i;
        b[0] = b[0] * ratio_w;
        b[1] = b[1] * ratio_h;
        b[2] = b[2] * ratio_w;
        b[3] = b[3] * ratio_h;
    }
}

/* ---- the transform of one image ------------------------------------------------------ */

void transform_sizes(const struct spec *s, int h, int w, struct image_sizes *z)
{
    z->h = h;
    z->w = w;
    transform_resized_size(h, w, s->p.min_size, s->p.max_size, &z->rh, &z->rw);
    /* the transform's batch padding: each side up to a multiple of size_divisible */
    int d = s->size_divisible > 0 ? s->size_divisible : 1;
    z->hp = (z->rh + d - 1) / d * d;
    z->wp = (z->rw + d - 1) / d * d;
}

int transform_forward(struct model *m, const struct model_image *img, struct fmap *x,
                      struct image_sizes *z)
{
    if (!img || !img->rgb || img->width < 1 || img->height < 1 || img->width > NET_MAX_INPUT_SIDE ||
        img->height > NET_MAX_INPUT_SIDE || img->stride < 3 * img->width) {
        fprintf(stderr, "model: bad input image (%dx%d, stride %d)\n", img ? img->width : 0,
                img ? img->height : 0, img ? img->stride : 0);
        return -1;
    }
    const struct spec *s = &m->spec;
    int H = img->height, W = img->width;
    transform_sizes(s, H, W, z);
    *x = arena_fmap(&m->arena, 3, z->hp, z->wp);
    for (int c = 0; c < 3; c++) {   /* the padding (the resize writes the rest) */
        float *plane = x->d + (size_t)c * z->hp * z->wp;
        if (z->wp > z->rw)
            for (int y = 0; y < z->rh; y++)
                memset(plane + (size_t)y * z->wp + z->rw, 0, sizeof(float) * (z->wp - z->rw));
        memset(plane + (size_t)z->rh * z->wp, 0, sizeof(float) * (z->hp - z->rh) * z->wp);
    }
    transform_normalize_resize(img->rgb, img->stride, H, W, s->p.image_mean, s->p.image_std, x->d,
                               z->rh, z->rw, z->wp, (size_t)z->hp * z->wp);
    return 0;
}
