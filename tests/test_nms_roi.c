/*
 * test_nms_roi.c — sort.c, nms.c, roi_align.c and roi_heads.c against torch.
 *
 * Hand-derived cases first (each with the reasoning), then the fixtures that
 * tests/gen_nms_roi.py writes from torch 1.13 / torchvision 0.14 into
 * $VDETECT_FIXTURES/nms_roi (format described in that script). Everything is
 * compared bit for bit except the postprocessed box coordinates, which go
 * through box_decode's glibc expf (≤ 1 ulp from torch's exp, docs/torchvision-inference.md §3.3).
 */
#include "../model/net/net.h"
#include "check.h"

#include <math.h>
#include <string.h>

/* ---- fixture reader -------------------------------------------------------- */

struct rd {
    FILE *f;
    const char *name;
    int bad;
};

static void *rd_arr(struct rd *r, int type, size_t elsize, int *count)
{
    int hdr[2] = { -1, -1 };
    if (r->bad || fread(hdr, sizeof(int), 2, r->f) != 2 || hdr[0] != type || hdr[1] < 0) {
        if (!r->bad) fprintf(stderr, "%s: malformed fixture (type %d, want %d)\n", r->name, hdr[0], type);
        r->bad = 1;
        *count = 0;
        return calloc(1, 16);
    }
    void *p = calloc((size_t)hdr[1] + 4, elsize);
    if (!p || fread(p, elsize, (size_t)hdr[1], r->f) != (size_t)hdr[1]) {
        fprintf(stderr, "%s: truncated fixture\n", r->name);
        r->bad = 1;
    }
    *count = hdr[1];
    return p;
}

static float *rd_f32(struct rd *r, int *n) { return rd_arr(r, 0, sizeof(float), n); }
static int *rd_i32(struct rd *r, int *n) { return rd_arr(r, 1, sizeof(int), n); }

/* a small int record of exactly `want` values */
static void rd_ints(struct rd *r, int *dst, int want)
{
    int n;
    int *p = rd_i32(r, &n);
    if (n != want && !r->bad) {
        fprintf(stderr, "%s: expected %d ints, found %d\n", r->name, want, n);
        r->bad = 1;
    }
    for (int i = 0; i < want; i++) dst[i] = i < n ? p[i] : 0;
    free(p);
}

static double rd_f64_1(struct rd *r)
{
    int n;
    double *p = rd_arr(r, 2, sizeof(double), &n);
    double v = n == 1 ? p[0] : NAN;
    free(p);
    return v;
}

static int rd_open(struct rd *r, const char *file)
{
    static char path[1024];
    const char *dir = getenv("VDETECT_FIXTURES");
    snprintf(path, sizeof path, "%s/nms_roi/%s", dir && *dir ? dir : "tests/fixtures", file);
    r->name = path;
    r->bad = 0;
    r->f = fopen(path, "rb");
    CHECK(r->f != NULL, "cannot open fixture %s (run tests/gen_nms_roi.py)", path);
    if (!r->f) return -1;
    int ncases;
    rd_ints(r, &ncases, 1);
    return r->bad ? -1 : ncases;
}

static void rd_close(struct rd *r)
{
    CHECK(!r->bad, "fixture %s read cleanly", r->name);
    if (r->f) fclose(r->f);
    r->f = NULL;
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* ---- hand-derived cases ---------------------------------------------------- */

static struct arena sort_scratch;

static void test_sort_hand(void)
{
    /* n <= 16: std::sort is only __insertion_sort, which is stable for a strict
     * comparator, so ties keep index order. */
    const float v[6] = { 0.5f, 1.0f, 0.5f, 1.0f, NAN, 0.25f };
    int idx[6];
    torch_sort_desc(v, 6, idx);
    const int want[6] = { 4, 1, 3, 0, 2, 5 };   /* NaN first, then descending */
    CHECK(memcmp(idx, want, sizeof want) == 0, "sort_desc small: %d %d %d %d %d %d", idx[0], idx[1],
          idx[2], idx[3], idx[4], idx[5]);

    /* topk(k=1) of 3: 64 > 3 → nth_element(first, first, last); 3 elements is
     * below its threshold, so insertion sort → the first of the tied maxima. */
    const float t[3] = { 2.0f, 5.0f, 5.0f };
    int k1;
    torch_topk(t, 3, 1, &k1, &sort_scratch);
    CHECK(k1 == 1, "topk k=1 tie: %d", k1);

    /* partial_sort path (k*64 <= n): 128 equal values, k = 2. make_heap's
     * adjust_heap moves child 1 into the hole at the root and re-inserts 0 below
     * it (heap [1, 0]); no later element is strictly greater; sort_heap pops the
     * root 1 to the back: [0, 1] (torch.topk(torch.full((128,), 3.), 2) agrees). */
    float eq[128];
    for (int i = 0; i < 128; i++) eq[i] = 3.0f;
    int k2[2];
    torch_topk(eq, 128, 2, k2, &sort_scratch);
    CHECK(k2[0] == 0 && k2[1] == 1, "topk partial_sort ties: %d %d", k2[0], k2[1]);
}

static void test_nms_hand(struct arena *a)
{
    /* IoU([0,0,10,10], [0,0,10,5]) = 50 / (100 + 50 - 50) = 0.5 exactly:
     * kept at thresh 0.5 (strict >), suppressed just below. */
    const float b[8] = { 0, 0, 10, 10, 0, 0, 10, 5 };
    const float s[2] = { 0.9f, 0.8f };
    int keep[2];
    int nk = nms(b, s, 2, 0.5, keep, a);
    CHECK(nk == 2 && keep[0] == 0 && keep[1] == 1, "nms ovr == thresh keeps both (%d)", nk);
    nk = nms(b, s, 2, 0.4999, keep, a);
    CHECK(nk == 1 && keep[0] == 0, "nms ovr > thresh suppresses (%d)", nk);

    /* Equal scores: stable order, so the lower index wins between duplicates. */
    const float d[12] = { 5, 5, 9, 9, 0, 0, 4, 4, 5, 5, 9, 9 };
    const float ds[3] = { 0.7f, 0.7f, 0.7f };
    int k3[3];
    nk = nms(d, ds, 3, 0.5, k3, a);
    CHECK(nk == 2 && k3[0] == 0 && k3[1] == 1, "nms stable ties: n=%d %d %d", nk, k3[0], k3[1]);

    /* Coordinate trick: the same box in two classes is kept twice, in score order. */
    const int cls[3] = { 1, 2, 2 };
    nk = batched_nms(d, (const float[3]){ 0.2f, 0.6f, 0.4f }, cls, 3, 0.5, k3, a);
    CHECK(nk == 3 && k3[0] == 1 && k3[1] == 2 && k3[2] == 0,
          "batched_nms per class: n=%d %d %d %d", nk, k3[0], k3[1], k3[2]);
    CHECK(nms(d, ds, 0, 0.5, k3, a) == 0 && batched_nms(d, ds, cls, 0, 0.5, k3, a) == 0,
          "empty inputs");
}

static void test_levels_hand(void)
{
    /* sqrt(224*224) / 224 = 1 → level 4; 112 → 3; 448 → 5; tiny → clamp k_min. */
    const float b[16] = { 0, 0, 224, 224, 10, 10, 122, 122, 0, 0, 448, 448, 0, 0, 1, 1 };
    int lv[4];
    roi_levels(b, 4, 2, 5, lv);
    CHECK(lv[0] == 2 && lv[1] == 1 && lv[2] == 3 && lv[3] == 0, "levels %d %d %d %d", lv[0], lv[1],
          lv[2], lv[3]);
    CHECK(roi_infer_scale(200, 800) == 0.25f && roi_infer_scale(272, 1066) == 0.25f &&
              roi_infer_scale(16, 240) == 0.0625f,
          "infer_scale §5.2 examples");
}

/* ---- fixtures --------------------------------------------------------------- */

static void test_sort_fixture(void)
{
    struct rd r;
    int nc = rd_open(&r, "sort.bin");
    int bad_sort = 0, bad_topk = 0;
    for (int c = 0; c < nc && !r.bad; c++) {
        int nk[2], n;
        rd_ints(&r, nk, 2);
        float *v = rd_f32(&r, &n);
        int *ws = rd_i32(&r, &n);
        int *wt = rd_i32(&r, &n);
        int *got = malloc(sizeof(int) * ((size_t)nk[0] + 1));
        torch_sort_desc(v, nk[0], got);
        if (memcmp(got, ws, sizeof(int) * nk[0]) != 0) {
            bad_sort++;
            fprintf(stderr, "sort case %d (n=%d) differs\n", c, nk[0]);
        }
        torch_topk(v, nk[0], nk[1], got, &sort_scratch);
        if (memcmp(got, wt, sizeof(int) * nk[1]) != 0) {
            bad_topk++;
            fprintf(stderr, "topk case %d (n=%d k=%d) differs\n", c, nk[0], nk[1]);
        }
        free(v), free(ws), free(wt), free(got);
    }
    CHECK(nc > 0 && bad_sort == 0, "torch.sort permutations: %d of %d differ", bad_sort, nc);
    CHECK(nc > 0 && bad_topk == 0, "torch.topk permutations: %d of %d differ", bad_topk, nc);
    rd_close(&r);
}

static void test_nms_fixture(struct arena *a)
{
    struct rd r;
    int nc = rd_open(&r, "nms.bin"), bad = 0;
    for (int c = 0; c < nc && !r.bad; c++) {
        int n, m;
        rd_ints(&r, &n, 1);
        double thr = rd_f64_1(&r);
        float *b = rd_f32(&r, &m);
        float *s = rd_f32(&r, &m);
        int nw;
        int *want = rd_i32(&r, &nw);
        int *keep = malloc(sizeof(int) * ((size_t)n + 1));
        int nk = nms(b, s, n, thr, keep, a);
        if (nk != nw || memcmp(keep, want, sizeof(int) * nk) != 0) {
            bad++;
            fprintf(stderr, "nms case %d (n=%d thr=%g): kept %d, torch %d\n", c, n, thr, nk, nw);
        }
        free(b), free(s), free(want), free(keep);
        arena_reset(a);
    }
    CHECK(nc > 0 && bad == 0, "torchvision.ops.nms keep lists: %d of %d differ", bad, nc);
    rd_close(&r);
}

static void test_batched_fixture(struct arena *a)
{
    struct rd r;
    int nc = rd_open(&r, "batched.bin"), bad = 0, vanilla = 0, trick = 0;
    for (int c = 0; c < nc && !r.bad; c++) {
        int n, m;
        rd_ints(&r, &n, 1);
        double thr = rd_f64_1(&r);
        float *b = rd_f32(&r, &m);
        float *s = rd_f32(&r, &m);
        int *idx = rd_i32(&r, &m);
        int nw;
        int *want = rd_i32(&r, &nw);
        int *keep = malloc(sizeof(int) * ((size_t)n + 1));
        int nk = batched_nms(b, s, idx, n, thr, keep, a);
        if (n > 1000) vanilla++;
        else trick++;
        if (nk != nw || memcmp(keep, want, sizeof(int) * nk) != 0) {
            bad++;
            fprintf(stderr, "batched_nms case %d (n=%d): kept %d, torch %d\n", c, n, nk, nw);
        }
        free(b), free(s), free(idx), free(want), free(keep);
        arena_reset(a);
    }
    CHECK(vanilla > 0 && trick > 0, "both batched_nms paths covered (%d, %d)", vanilla, trick);
    CHECK(nc > 0 && bad == 0, "torchvision batched_nms keep lists: %d of %d differ", bad, nc);
    rd_close(&r);
}

static void test_roi_align_fixture(void)
{
    struct rd r;
    int nc = rd_open(&r, "roi_align.bin"), bad = 0;
    for (int c = 0; c < nc && !r.bad; c++) {
        int h[6], m;
        rd_ints(&r, h, 6);   /* c, h, w, n, sampling_ratio, out_size */
        float *scale = rd_f32(&r, &m);
        struct fmap f = { rd_f32(&r, &m), h[0], h[1], h[2] };
        float *b = rd_f32(&r, &m);
        int nw;
        float *want = rd_f32(&r, &nw);
        float *got = calloc((size_t)nw + 1, sizeof(float));
        roi_align(&f, scale[0], b, h[3], h[5], h[4], got);
        int diff = 0;
        for (int i = 0; i < nw; i++) diff += !same_bits(got[i], want[i]);
        if (diff) {
            bad++;
            fprintf(stderr, "roi_align case %d (sr=%d): %d of %d values differ\n", c, h[4], diff, nw);
        }
        free(scale), free(f.d), free(b), free(want), free(got);
    }
    CHECK(nc > 0 && bad == 0, "torchvision.ops.roi_align bit-exact: %d of %d cases differ", bad, nc);
    rd_close(&r);
}

static void test_multiscale_fixture(struct arena *a)
{
    struct rd r;
    int nc = rd_open(&r, "multiscale.bin");
    for (int c = 0; c < nc && !r.bad; c++) {
        int h[7], m;
        rd_ints(&r, h, 7);   /* img h, img w, nmaps, C, n, k_min, k_max */
        int nmaps = h[2], n = h[4];
        struct fmap maps[8];
        MODEL_ASSERT(nmaps <= 8);
        for (int l = 0; l < nmaps; l++) {
            int hw[2];
            rd_ints(&r, hw, 2);
            maps[l] = (struct fmap){ rd_f32(&r, &m), h[3], hw[0], hw[1] };
        }
        float *scales = rd_f32(&r, &m);
        float *b = rd_f32(&r, &m);
        int *lv = rd_i32(&r, &m);
        int nw;
        float *want = rd_f32(&r, &nw);
        if (r.bad) break;

        int ok = 1;
        for (int l = 0; l < nmaps; l++) ok &= roi_infer_scale(maps[l].h, h[0]) == scales[l];
        CHECK(ok, "multiscale case %d: inferred scales", c);
        if (nmaps > 1) {
            int *got = malloc(sizeof(int) * (size_t)n);
            roi_levels(b, n, h[5], h[6], got);
            CHECK(memcmp(got, lv, sizeof(int) * n) == 0, "multiscale case %d: LevelMapper levels", c);
            free(got);
        }
        float *out = malloc(sizeof(float) * (size_t)nw);
        memset(out, 0xff, sizeof(float) * (size_t)nw);   /* NaN: unwritten outputs show */
        multiscale_roi_align(maps, scales, nmaps, h[5], h[6], b, n, 7, 2, out, a);
        int diff = 0, zeros = 0;
        for (int i = 0; i < nw; i++) diff += !same_bits(out[i], want[i]);
        for (int i = 0; i < n; i++) zeros += lv[i] >= nmaps;
        CHECK(diff == 0, "multiscale case %d (%d maps, %d RoIs beyond the maps): %d of %d differ", c,
              nmaps, zeros, diff, nw);
        free(out);
        for (int l = 0; l < nmaps; l++) free(maps[l].d);
        free(scales), free(b), free(lv), free(want);
        arena_reset(a);
    }
    rd_close(&r);
}

static void test_levels_fixture(void)
{
    struct rd r;
    int nc = rd_open(&r, "levels.bin");
    for (int c = 0; c < nc && !r.bad; c++) {
        int h[3], m, nw;
        rd_ints(&r, h, 3);
        float *b = rd_f32(&r, &m);
        int *want = rd_i32(&r, &nw);
        int *got = malloc(sizeof(int) * ((size_t)h[0] + 1));
        roi_levels(b, h[0], h[1], h[2], got);
        int diff = 0;
        for (int i = 0; i < h[0]; i++) diff += got[i] != want[i];
        CHECK(diff == 0, "LevelMapper near level boundaries: %d of %d differ", diff, h[0]);
        free(b), free(want), free(got);
    }
    int np = 0;
    rd_ints(&r, &np, 1);
    int bad = 0;
    for (int i = 0; i < np && !r.bad; i++) {
        int fi[2], m;
        rd_ints(&r, fi, 2);
        float *s = rd_f32(&r, &m);
        if (roi_infer_scale(fi[0], fi[1]) != s[0]) {
            bad++;
            fprintf(stderr, "infer_scale(%d, %d) = %g, torch %g\n", fi[0], fi[1],
                    roi_infer_scale(fi[0], fi[1]), s[0]);
        }
        free(s);
    }
    CHECK(np > 0 && bad == 0, "_infer_scale: %d of %d differ", bad, np);
    rd_close(&r);
}

static void test_postprocess_fixture(struct arena *a)
{
    struct rd r;
    int nc = rd_open(&r, "postprocess.bin");
    for (int c = 0; c < nc && !r.bad; c++) {
        int h[5], m;
        rd_ints(&r, h, 5);   /* P, K, img h, img w, candidates after the score test */
        int P = h[0], K = h[1];
        float *props = rd_f32(&r, &m);
        float *logits = rd_f32(&r, &m);
        float *reg = rd_f32(&r, &m);
        int nb, ns, nl;
        float *wb = rd_f32(&r, &nb);
        float *wsc = rd_f32(&r, &ns);
        int *wl = rd_i32(&r, &nl);
        if (r.bad) break;

        static const float coder[4] = { 10.0f, 10.0f, 5.0f, 5.0f };   /* torchvision's */
        struct box_params bp = { 0.05f, 0.5f, 100, coder };
        float ob[400], os[100];
        int ol[100];
        int d = box_postprocess(props, P, logits, reg, K, h[2], h[3], &bp, ob, os, ol, a);
        CHECK(d == nl, "postprocess case %d (%d candidates): %d detections, torch %d", c, h[4], d, nl);
        int lab = 0, sc = 0;
        float maxdb = 0;
        for (int i = 0; i < d && i < nl; i++) {
            lab += ol[i] != wl[i];
            sc += !same_bits(os[i], wsc[i]);
            for (int j = 0; j < 4; j++) {
                float e = fabsf(ob[4 * i + j] - wb[4 * i + j]);
                if (!(e <= maxdb)) maxdb = e;
            }
        }
        CHECK(lab == 0, "postprocess case %d: %d labels differ", c, lab);
        CHECK(sc == 0, "postprocess case %d: %d scores not bit-exact", c, sc);
        CHECK(maxdb <= 1e-3f, "postprocess case %d: box max |diff| %g", c, maxdb);
        if (getenv("VDETECT_VERBOSE"))
            printf("postprocess case %d: P=%d K=%d, %d candidates, %d detections, box max |diff| %g\n",
                   c, P, K, h[4], d, maxdb);
        free(props), free(logits), free(reg), free(wb), free(wsc), free(wl);
        arena_reset(a);
    }
    rd_close(&r);
}

int main(void)
{
    struct arena a;
    arena_init(&a);
    arena_init(&sort_scratch);
    test_sort_hand();
    test_nms_hand(&a);
    test_levels_hand();
    arena_reset(&a);
    test_sort_fixture();
    test_nms_fixture(&a);
    test_batched_fixture(&a);
    test_roi_align_fixture();
    test_multiscale_fixture(&a);
    test_levels_fixture();
    test_postprocess_fixture(&a);
    arena_release(&a);
    return check_summary("test_nms_roi");
}
