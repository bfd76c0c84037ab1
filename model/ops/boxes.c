/*
 * boxes.c — BoxCoder.decode and clip_boxes_to_image (docs/torchvision-inference.md
 * §3.3), shared by the RPN and the box head. NMS and the sorts live in nms.c and
 * sort.c.
 */
#include "ops.h"

#include <math.h>

/*
 * BoxCoder.decode_single in f32. Every product and sum is rounded on its own (torch
 * does not fuse here; the project builds with -ffp-contract=off), the codes are
 * truly divided by the weights (1/10 is inexact, so a reciprocal would change
 * ulps), and dw, dh are clamped from above only, at fl(log(1000 / 16)).
 *
 * exp: torch exponentiates dw / ww, a fresh contiguous tensor, with its
 * vectorised SLEEF kernel; torch_expf reproduces it bit for bit (glibc's expf
 * would differ by 1 ulp in ~40% of cases, §3.3).
 */
void box_decode(const float *ref, const float *codes, int n, size_t code_stride,
                const float weights[4], float *out)
{
    MODEL_ASSERT(n >= 0 && code_stride >= 4);
    const float clip = (float)4.135166556742356;   /* log(1000. / 16) */
    const float wx = weights[0], wy = weights[1], ww = weights[2], wh = weights[3];
    for (int i = 0; i < n; i++) {
        const float *b = ref + 4 * (size_t)i;
        const float *d = codes + code_stride * (size_t)i;
        float w = b[2] - b[0];
        float h = b[3] - b[1];
        float cx = b[0] + 0.5f * w;
        float cy = b[1] + 0.5f * h;

        float dx = d[0] / wx;
        float dy = d[1] / wy;
        float dw = d[2] / ww;
        float dh = d[3] / wh;
        /* torch.clamp(max=): NaN stays NaN, hence not fminf */
        dw = dw > clip ? clip : dw;
        dh = dh > clip ? clip : dh;

        float pcx = dx * w + cx;
        float pcy = dy * h + cy;
        float pw = torch_expf(dw) * w;
        float ph = torch_expf(dh) * h;
        float hw = 0.5f * pw, hh = 0.5f * ph;

        float *o = out + 4 * (size_t)i;
        o[0] = pcx - hw;
        o[1] = pcy - hh;
        o[2] = pcx + hw;
        o[3] = pcy + hh;
    }
}

/*
 * clip_boxes_to_image: x.clamp(min=0, max=w), y.clamp(min=0, max=h), written as
 * torch's scalar clamp min(max(v, lo), hi) so NaN and -0 behave the same.
 */
void box_clip(float *boxes, int n, int h, int w)
{
    MODEL_ASSERT(n >= 0 && h >= 0 && w >= 0);
    const float fw = (float)w, fh = (float)h;
    for (size_t i = 0; i < 4 * (size_t)n; i += 2) {
        float x = boxes[i], y = boxes[i + 1];
        x = x < 0.0f ? 0.0f : x;
        x = fw < x ? fw : x;
        y = y < 0.0f ? 0.0f : y;
        y = fh < y ? fh : y;
        boxes[i] = x;
        boxes[i + 1] = y;
    }
}
