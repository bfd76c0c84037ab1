/*
 * detector.c — the motion detector (after Frigate's, in our own code): each
 * frame is reduced to a small grey copy frame_height rows high (a box filter:
 * every small pixel is the mean of the frame pixels it covers), compared with
 * an adaptive background (a running average), thresholded, dilated, and its
 * 8-connected components (label.c) of enough moving pixels become motion
 * boxes in full-frame pixels.
 *
 * Choices, with their reasons:
 * - The background of a moving pixel is updated too, at moving_alpha (slower
 *   than alpha): skipping it entirely would make an object that stops "move"
 *   forever; updating it at full speed would leave less contrast for a slow
 *   object that covers the same pixels for many frames.
 * - A motion box is the bounding box of the moving pixels (before dilation) of
 *   one dilated component, and its area counts those pixels: dilation only
 *   joins fragments, it does not grow boxes or make noise pass min_area.
 * - Masked pixels neither move nor count in recal_share: a clock overlay must
 *   not push a frame toward recalibration either.
 * - A frame of another size restarts the detector (first-frame semantics) with
 *   buffers for the new size: streams do change resolution, and failing would
 *   leave the caller nothing better to do than to re-create the detector.
 *
 * Everything is allocated at the first frame (and at a size change); steady
 * frames allocate nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_SIDE 16384

struct motion {
    struct motion_params p;
    struct motion_polygon masks[MOTION_MAX_ZONES];
    int nmasks;

    int fw, fh;            /* frame size the buffers are for; 0 before the first frame */
    int sw, sh;            /* small (grey copy) size */
    int *xstart;           /* sw + 1: first frame column of each small column */
    int *ystart;           /* sh + 1: first frame row of each small row */
    uint64_t *colsum;      /* sw: weighted grey sums of one small row being built (a
                              small pixel may cover millions of frame pixels) */
    uint8_t *grey;         /* sw * sh: this frame's grey copy */
    float *bg;             /* sw * sh: background, grey levels */
    uint8_t *ignore;       /* sw * sh: 1 under a motion mask */
    int nactive;           /* small pixels not ignored */
    uint8_t *moving;       /* sw * sh: 1 where |grey - bg| > threshold */
    uint8_t *dil, *tmp, *spare; /* sw * sh: the dilated mask, the row pass, the last pass */
    int *labels, *parent;  /* label.c workspace */
    struct motion_comp *comps;
    struct motion_box *boxes;  /* motion_label_cap(sw, sh) */

    long frames, recalibrations, restarts;
};

static void free_buffers(struct motion *m)
{
    free(m->xstart);
    free(m->ystart);
    free(m->colsum);
    free(m->grey);
    free(m->bg);
    free(m->ignore);
    free(m->moving);
    free(m->dil);
    free(m->tmp);
    free(m->spare);
    free(m->labels);
    free(m->parent);
    free(m->comps);
    free(m->boxes);
    m->xstart = m->ystart = NULL;
    m->colsum = NULL;
    m->grey = m->ignore = m->moving = m->dil = m->tmp = m->spare = NULL;
    m->bg = NULL;
    m->labels = m->parent = NULL;
    m->comps = NULL;
    m->boxes = NULL;
    m->fw = m->fh = m->sw = m->sh = 0;
}

int motion_create(struct motion **m, const struct motion_params *p, char *msg, size_t len)
{
    *m = NULL;
    if (motion_params_check(p, msg, len) < 0) return -1;
    struct motion *d = calloc(1, sizeof *d);
    if (!d) return base_err(msg, len, "motion: out of memory");
    d->p = *p;
    *m = d;
    return 0;
}

void motion_free(struct motion **m)
{
    if (!m || !*m) return;
    free_buffers(*m);
    free(*m);
    *m = NULL;
}

/* A small pixel is masked when its centre, in frame coordinates, is inside a mask. */
static void rasterise_masks(struct motion *m)
{
    int n = 0;
    for (int y = 0; y < m->sh; y++) {
        float cy = 0.5f * (float)(m->ystart[y] + m->ystart[y + 1]);
        for (int x = 0; x < m->sw; x++) {
            float cx = 0.5f * (float)(m->xstart[x] + m->xstart[x + 1]);
            uint8_t in = 0;
            for (int k = 0; k < m->nmasks && !in; k++)
                in = (uint8_t)motion_point_in_polygon(&m->masks[k], cx, cy);
            m->ignore[(size_t)y * m->sw + x] = in;
            n += !in;
        }
    }
    m->nactive = n;
}

int motion_set_masks(struct motion *m, const struct motion_polygon *masks, int n, char *msg,
                     size_t len)
{
    if (n < 0 || n > MOTION_MAX_ZONES)
        return base_err(msg, len, "motion: %d masks (at most %d)", n, MOTION_MAX_ZONES);
    for (int i = 0; i < n; i++) {
        char what[32];
        snprintf(what, sizeof what, "mask %d", i + 1);
        if (motion_polygon_check(&masks[i], what, msg, len) < 0) return -1;
    }
    if (n) memcpy(m->masks, masks, (size_t)n * sizeof *masks);
    m->nmasks = n;
    if (m->fw) rasterise_masks(m);
    return 0;
}

/* Buffers for a fw x fh frame; the frame after this is a first frame. */
static int make_buffers(struct motion *m, int fw, int fh, char *msg, size_t len)
{
    free_buffers(m);
    int sh = fh < m->p.frame_height ? fh : m->p.frame_height;
    long sw = lround((double)fw * sh / fh);
    if (sw < 1) sw = 1;
    if (sw > fw) sw = fw;
    size_t n = (size_t)sw * (size_t)sh, cap = motion_label_cap((int)sw, sh);
    m->xstart = malloc(((size_t)sw + 1) * sizeof *m->xstart);
    m->ystart = malloc(((size_t)sh + 1) * sizeof *m->ystart);
    m->colsum = malloc((size_t)sw * sizeof *m->colsum);
    m->grey = malloc(n);
    m->bg = malloc(n * sizeof *m->bg);
    m->ignore = malloc(n);
    m->moving = malloc(n);
    m->dil = malloc(n);
    m->tmp = malloc(n);
    m->spare = malloc(n);
    m->labels = malloc(n * sizeof *m->labels);
    m->parent = malloc(cap * sizeof *m->parent);
    m->comps = malloc(cap * sizeof *m->comps);
    m->boxes = malloc(cap * sizeof *m->boxes);
    if (!m->xstart || !m->ystart || !m->colsum || !m->grey || !m->bg || !m->ignore ||
        !m->moving || !m->dil || !m->tmp || !m->spare || !m->labels || !m->parent || !m->comps || !m->boxes) {
        free_buffers(m);
        return base_err(msg, len, "motion: out of memory for a %dx%d frame", fw, fh);
    }
    m->fw = fw;
    m->fh = fh;
    m->sw = (int)sw;
    m->sh = sh;
    for (long i = 0; i <= sw; i++) m->xstart[i] = (int)(i * fw / sw);
    for (long i = 0; i <= sh; i++) m->ystart[i] = (int)(i * fh / sh);
    rasterise_masks(m);
    return 0;
}

/* The grey copy: BT.601 luma in 8-bit fixed point (77 R + 150 G + 29 B) / 256,
 * averaged over each small pixel's frame pixels. Each small column's channels
 * are summed in registers and weighted once per row (the weighting is linear),
 * so the inner loop is three additions and carries no dependency through memory. */
static void downscale(struct motion *m, const uint8_t *rgb, int stride)
{
    for (int sy = 0; sy < m->sh; sy++) {
        memset(m->colsum, 0, (size_t)m->sw * sizeof *m->colsum);
        for (int y = m->ystart[sy]; y < m->ystart[sy + 1]; y++) {
            const uint8_t *row = rgb + (size_t)y * (size_t)stride;
            for (int sx = 0; sx < m->sw; sx++) {
                uint32_t r = 0, g = 0, b = 0;
                const uint8_t *px = row + 3 * (size_t)m->xstart[sx];
                const uint8_t *end = row + 3 * (size_t)m->xstart[sx + 1];
                for (; px < end; px += 3) {
                    r += px[0];
                    g += px[1];
                    b += px[2];
                }
                /* one row of one column: < 2^32 even weighted */
                m->colsum[sx] += 77u * r + 150u * g + 29u * b;
            }
        }
        uint64_t rows = (uint64_t)(m->ystart[sy + 1] - m->ystart[sy]);
        uint8_t *g = m->grey + (size_t)sy * m->sw;
        for (int sx = 0; sx < m->sw; sx++) {
            uint64_t cnt = 256u * rows * (uint64_t)(m->xstart[sx + 1] - m->xstart[sx]);
            g[sx] = (uint8_t)((m->colsum[sx] + cnt / 2) / cnt);
        }
    }
}

/* One 3x3 dilation of src into dst (separable: a row max, then a column max). */
static void dilate3(const uint8_t *src, uint8_t *dst, uint8_t *tmp, int w, int h)
{
    for (int y = 0; y < h; y++) {
        const uint8_t *s = src + (size_t)y * w;
        uint8_t *t = tmp + (size_t)y * w;
        for (int x = 0; x < w; x++)
            t[x] = s[x] | (x ? s[x - 1] : 0) | (x + 1 < w ? s[x + 1] : 0);
    }
    for (int y = 0; y < h; y++) {
        const uint8_t *t = tmp + (size_t)y * w;
        const uint8_t *up = y ? t - w : t, *dn = y + 1 < h ? t + w : t;
        uint8_t *d = dst + (size_t)y * w;
        for (int x = 0; x < w; x++) d[x] = t[x] | up[x] | dn[x];
    }
}

static void reset_background(struct motion *m)
{
    size_t n = (size_t)m->sw * m->sh;
    for (size_t i = 0; i < n; i++) m->bg[i] = m->grey[i];
}

int motion_detect(struct motion *m, const uint8_t *rgb, int w, int h, int stride,
                  const struct motion_box **boxes, char *msg, size_t len)
{
    *boxes = NULL;
    if (w < 1 || h < 1 || w > MAX_SIDE || h > MAX_SIDE)
        return base_err(msg, len, "motion: frame size %dx%d (1 to %d wanted)", w, h, MAX_SIDE);
    if (stride < 3 * w)
        return base_err(msg, len, "motion: stride %d is below 3 x width %d", stride, w);
    if (!rgb) return base_err(msg, len, "motion: no pixels");

    int first = 0;
    if (w != m->fw || h != m->fh) {
        if (make_buffers(m, w, h, msg, len) < 0) return -1;
        first = 1;
    }
    downscale(m, rgb, stride);
    m->frames++;
    *boxes = m->boxes;
    if (first) {
        m->restarts++;
        reset_background(m);
        return 0;
    }

    const size_t n = (size_t)m->sw * m->sh;
    const float thr = (float)m->p.threshold;
    size_t nmoving = 0;
    for (size_t i = 0; i < n; i++) {
        float diff = fabsf((float)m->grey[i] - m->bg[i]);
        uint8_t mv = diff > thr && !m->ignore[i];
        m->moving[i] = mv;
        nmoving += mv;
    }
    if (nmoving > 0 && (double)nmoving > (double)m->p.recal_share * m->nactive) {
        m->recalibrations++;
        reset_background(m);
        return 0;
    }
    const float a = m->p.alpha, am = m->p.moving_alpha;
    for (size_t i = 0; i < n; i++) {
        float k = m->moving[i] ? am : a;
        m->bg[i] += k * ((float)m->grey[i] - m->bg[i]);
    }
    if (!nmoving) return 0;

    const uint8_t *fg = m->moving;
    for (int i = 0; i < m->p.dilate; i++) {
        if (i) memcpy(m->spare, m->dil, n);  /* a pass cannot work in place */
        dilate3(i ? m->spare : m->moving, m->dil, m->tmp, m->sw, m->sh);
        fg = m->dil;
    }
    int k = motion_label(fg, m->moving, m->sw, m->sh, m->labels, m->parent, m->comps);
    int nb = 0;
    for (int i = 0; i < k; i++) {
        const struct motion_comp *c = &m->comps[i];
        if (c->area < m->p.min_area) continue;
        m->boxes[nb++] = (struct motion_box){
            { (float)m->xstart[c->x1], (float)m->ystart[c->y1], (float)m->xstart[c->x2 + 1],
              (float)m->ystart[c->y2 + 1] },
            c->area,
        };
    }
    return nb;
}

void motion_get_stats(const struct motion *m, struct motion_stats *s)
{
    s->frames = m->frames;
    s->recalibrations = m->recalibrations;
    s->restarts = m->restarts;
    s->small_w = m->sw;
    s->small_h = m->sh;
}
