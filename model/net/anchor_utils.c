/*
 * anchor_utils.c — torchvision's AnchorGenerator (docs/torchvision-inference.md §2):
 * the cell anchors of one level, their placement over the level's grid, and the
 * anchors of every level for one padded image size (kept for the next image).
 *
 * All values are small integers in f32, so every operation below is exact except
 * the ones §2.1 names (sqrt, the reciprocal, the size products), which follow
 * torch's f32 tensor ops.
 */
#include "net.h"

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

int anchors_forward(struct model *m, const struct fmap *feats, int nfeat,
                    const struct image_sizes *z)
{
    int hp = z->hp, wp = z->wp;
    int same = m->anchors && m->anchor_hp == hp && m->anchor_wp == wp;
    for (int l = 0; same && l < nfeat; l++)
        same = m->grid_h[l] == feats[l].h && m->grid_w[l] == feats[l].w;
    if (same) return 0;

    const struct spec *s = &m->spec;
    int64_t total = 0;
    for (int l = 0; l < nfeat; l++) total += (int64_t)feats[l].h * feats[l].w * s->n_sizes[l] * s->n_ratios[l];
    free(m->anchors);
    m->anchors = total <= INT32_MAX ? malloc(sizeof(float) * 4 * (size_t)total) : NULL;
    if (!m->anchors) {
        fprintf(stderr, "model: out of memory for %lld anchors\n", (long long)total);
        m->n_anchors = 0;
        return -1;
    }
    for (int l = 0; l < nfeat; l++) {
        m->grid_h[l] = feats[l].h;
        m->grid_w[l] = feats[l].w;
        m->level_counts[l] = feats[l].h * feats[l].w * s->n_sizes[l] * s->n_ratios[l];
    }
    float *dst = m->anchors;
    for (int l = 0; l < nfeat; l++) {
        float base[4 * 64];
        int A = s->n_sizes[l] * s->n_ratios[l];
        MODEL_ASSERT(A <= 64);
        anchors_cell(s->anchor_sizes[l], s->n_sizes[l], s->aspect_ratios[l], s->n_ratios[l], base);
        anchors_grid(base, A, feats[l].h, feats[l].w, hp / feats[l].h, wp / feats[l].w, dst);
        dst += (size_t)m->level_counts[l] * 4;
    }
    m->n_anchors = (int)total;
    m->anchor_hp = hp;
    m->anchor_wp = wp;
    return 0;
}
