/*
 * regions.c — where the object detector looks: crop regions built from motion
 * boxes and moving tracks (padded, enlarged to the model's input size, merged
 * while they overlap, or the full frame when they cover most of it), the
 * mapping of a crop's detections back to the frame, and the merge of the
 * duplicates that overlapping crops produce. All in the caller's arrays.
 */
#include <math.h>

#include "internal.h"

/* Grow [*lo, *hi) about its centre to at least min within [0, size). */
static void enlarge(int *lo, int *hi, int min, int size)
{
    if (min > size) min = size;
    int w = *hi - *lo;
    if (w >= min) return;
    int l = *lo - (min - w) / 2;
    if (l < 0) l = 0;
    if (l + min > size) l = size - min;
    *lo = l;
    *hi = l + min;
}

/* One box as a region; 0 when it is invalid or entirely outside the frame. */
static int box_region(const struct motion_params *p, int fw, int fh, const float *b,
                      struct motion_region *r)
{
    for (int k = 0; k < 4; k++)
        if (!isfinite(b[k])) return 0;
    if (!(b[2] > b[0] && b[3] > b[1])) return 0;
    double m = p->region_margin;
    double x1 = floor(b[0] - m), y1 = floor(b[1] - m), x2 = ceil(b[2] + m), y2 = ceil(b[3] + m);
    x1 = fmax(x1, 0), y1 = fmax(y1, 0), x2 = fmin(x2, fw), y2 = fmin(y2, fh);
    if (!(x2 > x1 && y2 > y1)) return 0;
    int l = (int)x1, t = (int)y1, rr = (int)x2, bt = (int)y2;
    enlarge(&l, &rr, p->region_min_w, fw);
    enlarge(&t, &bt, p->region_min_h, fh);
    *r = (struct motion_region){ l, t, rr - l, bt - t };
    return 1;
}

static int overlap(const struct motion_region *a, const struct motion_region *b)
{
    return a->x < b->x + b->w && b->x < a->x + a->w && a->y < b->y + b->h && b->y < a->y + a->h;
}

int motion_regions(const struct motion_params *p, int frame_w, int frame_h,
                   const float (*a)[4], int na, const float (*b)[4], int nb,
                   struct motion_region *out, int cap, int *full_frame, char *msg, size_t len)
{
    *full_frame = 0;
    if (frame_w < 1 || frame_h < 1)
        return base_err(msg, len, "motion: regions of a %dx%d frame", frame_w, frame_h);
    BASE_ASSERT(na >= 0 && nb >= 0);
    if (cap < na + nb || cap < 1)
        return base_err(msg, len, "motion: room for %d regions, %d boxes given", cap, na + nb);
    int n = 0;
    for (int i = 0; i < na + nb; i++)
        n += box_region(p, frame_w, frame_h, i < na ? a[i] : b[i - na], &out[n]);

    /* merge until no two overlap: a merged region may reach a third one */
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < n; i++) {
            for (int j = i + 1; j < n; j++) {
                if (!overlap(&out[i], &out[j])) continue;
                int x1 = out[i].x < out[j].x ? out[i].x : out[j].x;
                int y1 = out[i].y < out[j].y ? out[i].y : out[j].y;
                int x2 = out[i].x + out[i].w > out[j].x + out[j].w ? out[i].x + out[i].w
                                                                   : out[j].x + out[j].w;
                int y2 = out[i].y + out[i].h > out[j].y + out[j].h ? out[i].y + out[i].h
                                                                   : out[j].y + out[j].h;
                out[i] = (struct motion_region){ x1, y1, x2 - x1, y2 - y1 };
                out[j--] = out[--n];  /* j's slot takes the last one, looked at next */
                changed = 1;
            }
        }
    }
    double area = 0;
    for (int i = 0; i < n; i++) area += (double)out[i].w * out[i].h;
    if (n && area > (double)p->full_frame_share * frame_w * frame_h) {
        out[0] = (struct motion_region){ 0, 0, frame_w, frame_h };
        *full_frame = 1;
        return 1;
    }
    return n;
}

void motion_map_back(const struct motion_region *r, struct motion_det *d, int n)
{
    BASE_ASSERT(n >= 0);
    for (int i = 0; i < n; i++) {
        d[i].box[0] += (float)r->x;
        d[i].box[2] += (float)r->x;
        d[i].box[1] += (float)r->y;
        d[i].box[3] += (float)r->y;
    }
}

static double iou(const float *a, const float *b)
{
    double l = fmax(a[0], b[0]), r = fmin(a[2], b[2]);
    double t = fmax(a[1], b[1]), btm = fmin(a[3], b[3]);
    if (!(r > l && btm > t)) return 0;
    double inter = (r - l) * (btm - t);
    double u = ((double)a[2] - a[0]) * ((double)a[3] - a[1]) +
               ((double)b[2] - b[0]) * ((double)b[3] - b[1]) - inter;
    return u > 0 ? inter / u : 0;
}

int motion_dedup(const struct motion_params *p, struct motion_det *d, int n)
{
    BASE_ASSERT(n >= 0);
    /* a stable insertion sort by decreasing score (n is tens: a few hundred
     * comparisons, no allocation), then greedy suppression as in NMS: a box
     * survives unless an earlier survivor of its label overlaps it enough */
    for (int i = 1; i < n; i++) {
        struct motion_det t = d[i];
        int j = i;
        for (; j > 0 && d[j - 1].score < t.score; j--) d[j] = d[j - 1];
        d[j] = t;
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        int keep = 1;
        for (int j = 0; j < k && keep; j++)
            keep = !(d[j].label == d[i].label && iou(d[j].box, d[i].box) >= p->dedup_iou);
        if (keep) d[k++] = d[i];
    }
    return k;
}
