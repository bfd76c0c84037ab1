/*
 * anchors.c — torchvision's AnchorGenerator (docs/torchvision-inference.md §2): the
 * cell anchors of one level and their placement over the level's grid.
 *
 * All values are small integers in f32, so every operation below is exact except
 * the ones §2.1 names (sqrt, the reciprocal, the size products), which follow
 * torch's f32 tensor ops.
 */
#include "internal.h"

#include <math.h>

/*
 * generate_anchors (§2.1): h_ratio = fl(sqrt(ar)), w_ratio = fl(1 / h_ratio),
 * ws / hs = ratio * size in f32, flattened ratio-major; then
 * round((-ws, -hs, ws, hs) / 2) with round-half-to-even (rintf in the default
 * rounding mode, as torch.round).
 */
void anchors_cell(const float *sizes, int nsizes, const float *ratios, int nratios, float *base)
{
    MODEL_ASSERT(nsizes > 0 && nratios > 0);
    for (int i = 0; i < nratios; i++) {
        float h_ratio = sqrtf(ratios[i]);
        float w_ratio = 1.0f / h_ratio;
        for (int j = 0; j < nsizes; j++) {
            float ws = w_ratio * sizes[j];
            float hs = h_ratio * sizes[j];
            float *b = base + ((size_t)i * nsizes + j) * 4;
            b[0] = rintf(-ws / 2.0f);
            b[1] = rintf(-hs / 2.0f);
            b[2] = rintf(ws / 2.0f);
            b[3] = rintf(hs / 2.0f);
        }
    }
}

/*
 * grid_anchors (§2.2–2.3): centres at (x * stride_w, y * stride_h) with no
 * half-stride offset, where the strides are padded_size // grid_size (61 rows for
 * the 13-high 'pool' level of an 800-high input: reproduce, don't fix). Order is
 * (y, x, a), A cell anchors innermost. Not clipped.
 */
void anchors_grid(const float *base, int A, int gh, int gw, int stride_h, int stride_w, float *out)
{
    MODEL_ASSERT(A > 0 && gh > 0 && gw > 0 && stride_h > 0 && stride_w > 0);
    for (int y = 0; y < gh; y++) {
        float sy = (float)(y * stride_h);
        for (int x = 0; x < gw; x++) {
            float sx = (float)(x * stride_w);
            float *o = out + ((size_t)y * gw + x) * A * 4;
            for (int a = 0; a < A; a++) {
                o[4 * a + 0] = base[4 * a + 0] + sx;
                o[4 * a + 1] = base[4 * a + 1] + sy;
                o[4 * a + 2] = base[4 * a + 2] + sx;
                o[4 * a + 3] = base[4 * a + 3] + sy;
            }
        }
    }
}
