/*
 * nms.c — torchvision.ops.nms and batched_nms on CPU (docs/torchvision-inference.md §4.1–§4.3).
 *
 * nms: stable sort by descending score (equal scores keep ascending index, NaN
 * first), f32 areas, then the greedy pass of torchvision's nms_kernel.cpp with
 * IoU = inter / (area_i + area_j - inter) in f32 and suppression when
 * (double)IoU > thresh.
 *
 * batched_nms: torchvision picks by size — more than 1000 boxes runs one nms per
 * idx value and re-sorts the union with torch's unstable sort (sort.c); up to
 * 1000 boxes shifts every box by f32(idx) * (max coordinate + 1) and runs a
 * single nms, keeping the f32 rounding of the shifted coordinates.
 *
 * Scratch (order, gathered boxes, suppression flags) comes from the caller's
 * arena and is handed back (arena_rewind) before returning.
 */
#include "ops.h"

#include <math.h>
#include <string.h>

/* ---- stable merge sort of indices --------------------------------------- */

/* Ordering keys: cls may be NULL (then only scores count). */
struct order_key {
    const float *score;
    const int *cls;
};

/* Does a have to come strictly before b? class ascending, then score descending
 * with NaN first (torch's KeyValueCompDesc). Equal keys are left to stability. */
static inline int before(const struct order_key *k, int a, int b)
{
    if (k->cls && k->cls[a] != k->cls[b]) return k->cls[a] < k->cls[b];
    float x = k->score[a], y = k->score[b];
    return (isnan(x) && !isnan(y)) || x > y;
}

/* Stable sort of idx[n]; tmp holds n ints. Insertion-sorted runs of 16, then
 * bottom-up merges that take from the left run unless the right one is
 * strictly before it. */
static void stable_sort(const struct order_key *k, int *idx, int *tmp, int n)
{
    enum { RUN = 16 };
    for (int lo = 0; lo < n; lo += RUN) {
        int hi = lo + RUN < n ? lo + RUN : n;
        for (int i = lo + 1; i < hi; i++) {
            int v = idx[i], j = i;
            while (j > lo && before(k, v, idx[j - 1])) {
                idx[j] = idx[j - 1];
                j--;
            }
            idx[j] = v;
        }
    }
    int *src = idx, *dst = tmp;
    for (int w = RUN; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n;
            int hi = lo + 2 * w < n ? lo + 2 * w : n;
            int i = lo, j = mid, o = lo;
            while (i < mid && j < hi) dst[o++] = before(k, src[j], src[i]) ? src[j++] : src[i++];
            while (i < mid) dst[o++] = src[i++];
            while (j < hi) dst[o++] = src[j++];
        }
        int *t = src;
        src = dst;
        dst = t;
    }
    if (src != idx) memcpy(idx, src, (size_t)n * sizeof *idx);
}

/* ---- greedy pass ---------------------------------------------------------- */

/* Boxes gathered in score order as structure-of-arrays, so the inner loop is
 * contiguous and vectorisable. */
struct soa {
    float *x1, *y1, *x2, *y2, *area;
};

static struct soa soa_alloc(struct arena *a, int n)
{
    float *p = arena_floats(a, (size_t)5 * n);
    struct soa s = { p, p + n, p + 2 * (size_t)n, p + 3 * (size_t)n, p + 4 * (size_t)n };
    return s;
}

/* Box b = (x1, y1, x2, y2) into slot i, with its f32 area. */
static inline void soa_put(struct soa *s, int i, const float *b)
{
    float x1 = b[0], y1 = b[1], x2 = b[2], y2 = b[3];
    s->x1[i] = x1;
    s->y1[i] = y1;
    s->x2[i] = x2;
    s->y2[i] = y2;
    s->area[i] = (x2 - x1) * (y2 - y1);
}

/* The largest float f with (double)f <= thresh, so that for every float x,
 * x > f  <=>  (double)x > thresh (the kernel's comparison). */
static float thresh_f32(double thresh)
{
    if (isnan(thresh)) return NAN;
    float f = (float)thresh;
    if ((double)f > thresh) f = nextafterf(f, -INFINITY);
    return f;
}

typedef float v8f __attribute__((vector_size(32), aligned(4)));
typedef int32_t v8i __attribute__((vector_size(32), aligned(4)));

/* mask ? a : b, lane-wise (C has no vector ternary). Macros, not functions:
 * passing 32-byte vectors by value trips -Wpsabi in builds without AVX. */
#define SEL(m, a, b) ((v8f)(((m) & (v8i)(a)) | (~(m) & (v8i)(b))))
#define LD(v, p) memcpy(&(v), (p), sizeof(v))

/*
 * nms_kernel.cpp's loop over boxes already in score order, positions [0, n).
 * Writes kept positions to keep[], returns their count. supp: n ints.
 * The inner loop runs over all later boxes without skipping suppressed ones:
 * re-testing a suppressed box only ORs its flag again, and the branch-free loop
 * runs eight boxes at a time. std::max(a, b) is (a < b ? b : a) and
 * std::min(a, b) is (b < a ? b : a); every lane does the kernel's f32 operations
 * in the kernel's order.
 */
static int greedy(const struct soa *s, int n, float thr, int32_t *supp, int *keep)
{
    const float *x1 = s->x1, *y1 = s->y1, *x2 = s->x2, *y2 = s->y2, *area = s->area;
    memset(supp, 0, (size_t)n * sizeof *supp);
    const v8f zero = { 0 };
    int nk = 0;
    for (int i = 0; i < n; i++) {
        if (supp[i]) continue;
        keep[nk++] = i;
        const float ix1 = x1[i], iy1 = y1[i], ix2 = x2[i], iy2 = y2[i], ia = area[i];
        const v8f vix1 = zero + ix1, viy1 = zero + iy1, vix2 = zero + ix2, viy2 = zero + iy2;
        int j = i + 1;
        for (; j + 8 <= n; j += 8) {
            v8f bx1, by1, bx2, by2, ar;
            LD(bx1, x1 + j);
            LD(by1, y1 + j);
            LD(bx2, x2 + j);
            LD(by2, y2 + j);
            LD(ar, area + j);
            v8f xx1 = SEL(vix1 < bx1, bx1, vix1);
            v8f yy1 = SEL(viy1 < by1, by1, viy1);
            v8f xx2 = SEL(bx2 < vix2, bx2, vix2);
            v8f yy2 = SEL(by2 < viy2, by2, viy2);
            v8f dw = xx2 - xx1, dh = yy2 - yy1;
            v8f w = SEL(zero < dw, dw, zero);
            v8f h = SEL(zero < dh, dh, zero);
            v8f inter = w * h;
            v8f ovr = inter / ((ia + ar) - inter);
            v8i sj;
            memcpy(&sj, supp + j, sizeof sj);
            sj |= ovr > thr;
            memcpy(supp + j, &sj, sizeof sj);
        }
        for (; j < n; j++) {
            float xx1 = ix1 < x1[j] ? x1[j] : ix1;
            float yy1 = iy1 < y1[j] ? y1[j] : iy1;
            float xx2 = x2[j] < ix2 ? x2[j] : ix2;
            float yy2 = y2[j] < iy2 ? y2[j] : iy2;
            float dw = xx2 - xx1, dh = yy2 - yy1;
            float w = 0.0f < dw ? dw : 0.0f;
            float h = 0.0f < dh ? dh : 0.0f;
            float inter = w * h;
            float ovr = inter / ((ia + area[j]) - inter);
            supp[j] |= ovr > thr;
        }
    }
    return nk;
}

/* The stable sort both nms() and the per-class path start with — by score
 * descending, first by idx ascending when idxs is given — and the boxes packed
 * in that order. *order gets the permutation; *tmp is n more ints of scratch. */
static struct soa sorted_boxes(const float *boxes, const float *scores, const int *idxs, int n,
                               int **order, int **tmp, struct arena *scratch)
{
    *order = arena_ints(scratch, (size_t)2 * n);
    *tmp = *order + n;
    for (int i = 0; i < n; i++) (*order)[i] = i;
    struct order_key k = { scores, idxs };
    stable_sort(&k, *order, *tmp, n);
    struct soa s = soa_alloc(scratch, n);
    for (int i = 0; i < n; i++) soa_put(&s, i, boxes + (size_t)4 * (*order)[i]);
    return s;
}

/* ---- public --------------------------------------------------------------- */

/* torchvision.ops.nms(boxes [n, 4], scores [n], thresh) → keep indices */
int nms(const float *boxes, const float *scores, int n, double thresh, int *keep,
        struct arena *scratch)
{
    MODEL_ASSERT(n >= 0);
    if (n == 0) return 0;
    MODEL_ASSERT(boxes && scores && keep && scratch);
    const struct arena_mark mark = arena_mark(scratch);
    int *order, *tmp;
    struct soa s = sorted_boxes(boxes, scores, NULL, n, &order, &tmp, scratch);
    int32_t *supp = arena_alloc(scratch, (size_t)n * sizeof(int32_t));
    int nk = greedy(&s, n, thresh_f32(thresh), supp, tmp);
    for (int i = 0; i < nk; i++) keep[i] = order[tmp[i]];
    arena_rewind(scratch, mark);
    return nk;
}

/* _batched_nms_coordinate_trick (n <= 1000 on CPU) */
static int batched_offset(const float *boxes, const float *scores, const int *idxs, int n,
                          double thresh, int *keep, struct arena *scratch)
{
    /* boxes.max(): NaN propagates */
    float m = -INFINITY;
    for (size_t i = 0; i < (size_t)4 * n; i++) {
        float c = boxes[i];
        if (isnan(c) || c > m) m = c;
        if (isnan(m)) break;
    }
    const float m1 = m + 1.0f;

    int *order = arena_ints(scratch, (size_t)2 * n);
    int *tmp = order + n;
    for (int i = 0; i < n; i++) order[i] = i;
    struct order_key k = { scores, NULL };
    stable_sort(&k, order, tmp, n);

    struct soa s = soa_alloc(scratch, n);
    for (int i = 0; i < n; i++) {
        const float *b = boxes + (size_t)4 * order[i];
        const float off = (float)idxs[order[i]] * m1;   /* offsets[:, None] */
        const float sh[4] = { b[0] + off, b[1] + off, b[2] + off, b[3] + off };
        soa_put(&s, i, sh);
    }
    int32_t *supp = arena_alloc(scratch, (size_t)n * sizeof(int32_t));
    int nk = greedy(&s, n, thresh_f32(thresh), supp, tmp);
    for (int i = 0; i < nk; i++) keep[i] = order[tmp[i]];
    return nk;
}

/* _batched_nms_vanilla (n > 1000 on CPU) */
static int batched_vanilla(const float *boxes, const float *scores, const int *idxs, int n,
                           double thresh, int *keep, struct arena *scratch)
{
    /* One stable sort by (idx ascending, score descending) lays out every
     * class's subset in exactly the order nms() would sort it into. */
    int *order, *tmp;
    struct soa s = sorted_boxes(boxes, scores, idxs, n, &order, &tmp, scratch);
    int32_t *supp = arena_alloc(scratch, (size_t)n * sizeof(int32_t));
    unsigned char *kept = arena_alloc(scratch, (size_t)n);
    memset(kept, 0, (size_t)n);
    const float thr = thresh_f32(thresh);

    for (int lo = 0; lo < n;) {
        int hi = lo + 1;
        while (hi < n && idxs[order[hi]] == idxs[order[lo]]) hi++;
        struct soa g = { s.x1 + lo, s.y1 + lo, s.x2 + lo, s.y2 + lo, s.area + lo };
        int nk = greedy(&g, hi - lo, thr, supp, tmp);
        for (int i = 0; i < nk; i++) kept[order[lo + tmp[i]]] = 1;
        lo = hi;
    }

    /* keep_indices = where(keep_mask); keep_indices[scores[keep_indices].sort(desc)] */
    int nk = 0;
    for (int i = 0; i < n; i++)
        if (kept[i]) tmp[nk++] = i;
    float *ks = arena_floats(scratch, (size_t)nk);
    for (int i = 0; i < nk; i++) ks[i] = scores[tmp[i]];
    torch_sort_desc(ks, nk, order);
    for (int i = 0; i < nk; i++) keep[i] = tmp[order[i]];
    return nk;
}

/* torchvision.ops.batched_nms(boxes [n, 4], scores [n], idxs [n], thresh), CPU path
 * selection: boxes.numel() > 4000 → per-idx nms, else the coordinate trick. */
int batched_nms(const float *boxes, const float *scores, const int *idxs, int n, double thresh,
                int *keep, struct arena *scratch)
{
    MODEL_ASSERT(n >= 0);
    if (n == 0) return 0;
    MODEL_ASSERT(boxes && scores && idxs && keep && scratch);
    const struct arena_mark mark = arena_mark(scratch);
    int nk = (int64_t)n * 4 > 4000 ? batched_vanilla(boxes, scores, idxs, n, thresh, keep, scratch)
                                   : batched_offset(boxes, scores, idxs, n, thresh, keep, scratch);
    arena_rewind(scratch, mark);
    return nk;
}
