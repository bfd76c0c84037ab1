/*
 * test_motion.c — motion/: the detector on synthetic frames (a static scene,
 * one and two movers with their boxes in full-frame pixels, a mover below
 * min_area, a global brightness change and recalibration, motion masks, a size
 * change, no allocation after the first frame, bad input), crop regions
 * (padding, minimum size, merging, full-frame fallback, mapping back, the
 * cross-region duplicate merge), polygons (even-odd and the boundary on convex
 * and concave shapes, the parser's errors), zones (entry/exit events on
 * scripted paths under hysteresis, counts), object masks and parameters; and
 * the detector's time per 1920x1080 frame (printed, not asserted).
 * Run it under ASan and UBSan with `make asan && build-asan/tests/test_motion`.
 */
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../motion/internal.h"
#include "../motion/motion.h"
#include "check.h"

/* ---- helpers ---------------------------------------------------------------- */

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* An RGB24 frame with padding at the end of each row (stride > 3w). */
struct frame {
    int w, h, stride;
    uint8_t *px;
};

static struct frame frame_new(int w, int h)
{
    struct frame f = { w, h, 3 * w + 13, NULL };
    f.px = calloc((size_t)f.stride * h, 1);
    return f;
}

/* A textured scene at brightness level: a soft diagonal pattern, the same each
 * time it is drawn (so a static scene is static). */
static void scene(struct frame *f, int level)
{
    for (int y = 0; y < f->h; y++) {
        uint8_t *r = f->px + (size_t)y * f->stride;
        for (int x = 0; x < f->w; x++) {
            int v = level + ((x + 2 * y) / 16) % 8;
            r[3 * x] = (uint8_t)v;
            r[3 * x + 1] = (uint8_t)(v + 2);
            r[3 * x + 2] = (uint8_t)(v > 3 ? v - 3 : 0);
        }
    }
}

/* A solid rectangle [x1, x2) x [y1, y2) of grey v. */
static void rect(struct frame *f, int x1, int y1, int x2, int y2, int v)
{
    for (int y = y1; y < y2; y++)
        for (int x = x1; x < x2; x++) memset(f->px + (size_t)y * f->stride + 3 * x, v, 3);
}

static struct motion *new_motion(const char *const *sets)
{
    struct motion_params p;
    motion_params_default(&p);
    char msg[256];
    for (; sets && *sets; sets++)
        if (motion_param_set(&p, *sets, msg, sizeof msg) < 0) fprintf(stderr, "%s\n", msg);
    struct motion *m = NULL;
    if (motion_create(&m, &p, msg, sizeof msg) < 0) fprintf(stderr, "%s\n", msg);
    return m;
}

static int detect(struct motion *m, const struct frame *f, const struct motion_box **b)
{
    char msg[256] = "";
    int n = motion_detect(m, f->px, f->w, f->h, f->stride, b, msg, sizeof msg);
    if (n < 0) fprintf(stderr, "motion_detect: %s\n", msg);
    return n;
}

static int near(float a, float b, float tol)
{
    return fabsf(a - b) <= tol;
}

/* box within tol of the rectangle (x1, y1, x2, y2) */
static int box_near(const float *b, float x1, float y1, float x2, float y2, float tol)
{
    return near(b[0], x1, tol) && near(b[1], y1, tol) && near(b[2], x2, tol) &&
           near(b[3], y2, tol);
}

static struct motion_polygon poly(const char *spec)
{
    struct motion_polygon p;
    char msg[256];
    memset(&p, 0, sizeof p);
    if (motion_polygon_parse(&p, spec, msg, sizeof msg) < 0) fprintf(stderr, "%s\n", msg);
    return p;
}

/* ---- the detector ------------------------------------------------------------- */

static void test_static_and_one_mover(void)
{
    struct frame f = frame_new(640, 360);
    struct motion *m = new_motion(NULL);
    const struct motion_box *b;
    int nonzero = 0;
    for (int i = 0; i < 20; i++) {
        scene(&f, 60);
        nonzero += detect(m, &f, &b) != 0;
    }
    CHECK(nonzero == 0, "a static scene: no motion (%d frames had some)", nonzero);
    struct motion_stats s;
    motion_get_stats(m, &s);
    CHECK(s.small_h == 100 && s.small_w == 178, "grey copy 178x100 (%dx%d)", s.small_w, s.small_h);
    CHECK(s.frames == 20 && s.restarts == 1 && s.recalibrations == 0, "stats %ld %ld %ld",
          s.frames, s.restarts, s.recalibrations);

    /* a 60x40 bright rectangle moving right 8 px a frame: one box around it,
     * within two small pixels (3.6 frame pixels each) */
    const float tol = 2 * 3.6f;
    int good = 0;
    for (int k = 0; k < 15; k++) {
        scene(&f, 60);
        int x = 100 + 8 * k;
        rect(&f, x, 150, x + 60, 190, 220);
        int n = detect(m, &f, &b);
        if (n == 1 && box_near(b[0].box, x, 150, x + 60, 190, tol) && b[0].area >= 10) good++;
        else if (n >= 1)
            fprintf(stderr, "frame %d: %d boxes, first %.1f %.1f %.1f %.1f\n", k, n, b[0].box[0],
                    b[0].box[1], b[0].box[2], b[0].box[3]);
        else fprintf(stderr, "frame %d: no box\n", k);
    }
    CHECK(good == 15, "one box around the mover in each of 15 frames (%d)", good);
    /* it stops being drawn: the scene is back, the old position differs from the
     * background by little (moving pixels learn slowly) */
    scene(&f, 60);
    int n = detect(m, &f, &b);
    CHECK(n == 0, "the mover gone, no ghost (%d boxes)", n);
    motion_free(&m);
    motion_free(&m);
    CHECK(m == NULL, "motion_free nulls and is safe twice");
    free(f.px);
}

static void test_two_movers_and_tiny(void)
{
    struct frame f = frame_new(640, 360);
    struct motion *m = new_motion(NULL);
    const struct motion_box *b;
    scene(&f, 40);
    detect(m, &f, &b);
    detect(m, &f, &b);
    scene(&f, 40);
    rect(&f, 50, 50, 110, 100, 200);
    rect(&f, 400, 200, 460, 300, 200);
    int n = detect(m, &f, &b);
    CHECK(n == 2, "two movers: two boxes (%d)", n);
    if (n == 2) {
        /* raster order: the upper one first */
        CHECK(box_near(b[0].box, 50, 50, 110, 100, 7.2f), "first box %.1f %.1f %.1f %.1f",
              b[0].box[0], b[0].box[1], b[0].box[2], b[0].box[3]);
        CHECK(box_near(b[1].box, 400, 200, 460, 300, 7.2f), "second box %.1f %.1f %.1f %.1f",
              b[1].box[0], b[1].box[1], b[1].box[2], b[1].box[3]);
    }
    /* a 6x6 mover: about 2x2 small pixels, below min_area 10 */
    scene(&f, 40);
    rect(&f, 300, 300, 306, 306, 250);
    n = detect(m, &f, &b);
    CHECK(n == 0, "a tiny mover: no box (%d)", n);
    /* the same with min_area 1 is seen: the threshold is what hid it */
    struct motion *m1 = new_motion((const char *const[]){ "min_area=1", NULL });
    scene(&f, 40);
    detect(m1, &f, &b);
    rect(&f, 300, 300, 306, 306, 250);
    n = detect(m1, &f, &b);
    CHECK(n == 1, "a tiny mover with min_area 1: one box (%d)", n);
    motion_free(&m1);
    motion_free(&m);
    free(f.px);
}

static void test_recalibration(void)
{
    struct frame f = frame_new(640, 360);
    struct motion *m = new_motion(NULL);
    const struct motion_box *b;
    struct motion_stats s;
    scene(&f, 80);
    for (int i = 0; i < 5; i++) detect(m, &f, &b);
    scene(&f, 160);  /* the lights go on */
    int n = detect(m, &f, &b);
    motion_get_stats(m, &s);
    CHECK(n == 0, "brightness change: no motion boxes (%d)", n);
    CHECK(s.recalibrations == 1, "brightness change: recalibrated once (%ld)", s.recalibrations);
    n = detect(m, &f, &b);
    motion_get_stats(m, &s);
    CHECK(n == 0 && s.recalibrations == 1, "the next frame is quiet (%d boxes, %ld recal)", n,
          s.recalibrations);
    rect(&f, 200, 100, 260, 180, 20);  /* a dark mover on the bright scene */
    n = detect(m, &f, &b);
    CHECK(n == 1 && box_near(b[0].box, 200, 100, 260, 180, 7.2f),
          "after recalibration a mover is seen (%d boxes)", n);
    motion_get_stats(m, &s);
    CHECK(s.recalibrations == 1, "a mover does not recalibrate (%ld)", s.recalibrations);
    motion_free(&m);
    free(f.px);
}

static void test_masks_and_sizes(void)
{
    struct frame f = frame_new(640, 360);
    struct motion *m = new_motion(NULL);
    const struct motion_box *b;
    char msg[256];
    /* a clock overlay's corner is masked; a triangle given before the first frame */
    struct motion_polygon masks[2] = { poly("clock=0,0,200,0,200,60,0,60"),
                                       poly("tri=600,300,640,360,560,360") };
    CHECK(motion_set_masks(m, masks, 2, msg, sizeof msg) == 0, "set masks: %s", msg);
    scene(&f, 50);
    detect(m, &f, &b);
    scene(&f, 50);
    rect(&f, 20, 10, 150, 45, 230);  /* the clock changes */
    int n = detect(m, &f, &b);
    CHECK(n == 0, "a mover inside a mask: no box (%d)", n);
    scene(&f, 50);
    rect(&f, 20, 100, 150, 135, 230);  /* the same below the mask */
    n = detect(m, &f, &b);
    CHECK(n == 1, "the same mover outside the mask: one box (%d)", n);
    /* masks removed after the first frame apply at once */
    CHECK(motion_set_masks(m, NULL, 0, msg, sizeof msg) == 0, "no masks");
    scene(&f, 50);
    rect(&f, 20, 10, 150, 45, 230);
    n = detect(m, &f, &b);
    CHECK(n == 1, "unmasked: the clock moves (%d)", n);
    /* a mask covering almost everything: the rest still recalibrates on its own */
    struct motion_polygon bad = masks[0];
    bad.n = 2;
    CHECK(motion_set_masks(m, &bad, 1, msg, sizeof msg) < 0 && strstr(msg, "mask 1"),
          "a 2-vertex mask is refused: %s", msg);
    CHECK(motion_set_masks(m, masks, MOTION_MAX_ZONES + 1, msg, sizeof msg) < 0,
          "too many masks: %s", msg);

    /* a size change restarts: no motion that frame, a second restart counted */
    struct frame g = frame_new(320, 240);
    scene(&g, 50);
    n = detect(m, &g, &b);
    struct motion_stats s;
    motion_get_stats(m, &s);
    CHECK(n == 0 && s.restarts == 2 && s.small_w == 133 && s.small_h == 100,
          "size change: restart (%d boxes, %ld restarts, %dx%d)", n, s.restarts, s.small_w,
          s.small_h);
    rect(&g, 100, 100, 140, 140, 240);
    n = detect(m, &g, &b);
    CHECK(n == 1 && box_near(b[0].box, 100, 100, 140, 140, 2 * 2.4f),
          "after the size change a mover is seen (%d)", n);
    /* a frame lower than frame_height is used at its own size */
    struct frame t = frame_new(40, 30);
    scene(&t, 50);
    detect(m, &t, &b);
    motion_get_stats(m, &s);
    CHECK(s.small_w == 40 && s.small_h == 30, "small frame kept (%dx%d)", s.small_w, s.small_h);
    rect(&t, 10, 10, 20, 20, 250);
    n = detect(m, &t, &b);
    CHECK(n == 1 && box_near(b[0].box, 10, 10, 20, 20, 0), "exact box at scale 1 (%d)", n);

    /* bad input */
    CHECK(motion_detect(m, f.px, 0, 10, 30, &b, msg, sizeof msg) < 0 && strstr(msg, "0x10"),
          "zero width: %s", msg);
    CHECK(motion_detect(m, f.px, 640, 360, 1000, &b, msg, sizeof msg) < 0 &&
              strstr(msg, "stride"),
          "short stride: %s", msg);
    motion_free(&m);
    free(f.px);
    free(g.px);
    free(t.px);
}

/* No allocation after the first frame, and the time of a 1920x1080 frame. */
static void test_alloc_and_time(void)
{
    struct frame f = frame_new(1920, 1080);
    struct motion *m = new_motion(NULL);
    const struct motion_box *b;
    long grown = 0;
    int seen = 0;
    double t_total = 0, t_min = INFINITY;
    const int frames = 40;
    scene(&f, 70);
    detect(m, &f, &b);  /* the empty scene is the background */
    for (int i = 0; i < frames; i++) {
        scene(&f, 70);
        rect(&f, 300 + 20 * i, 400, 500 + 20 * i, 800, 210);
        rect(&f, 1500, 100 + 10 * i, 1700, 300 + 10 * i, 10);
        size_t heap = mallinfo2().uordblks;
        double t0 = now_us();
        int n = detect(m, &f, &b);
        double t1 = now_us();
        grown += (long)(mallinfo2().uordblks - heap);
        t_total += t1 - t0;
        t_min = fmin(t_min, t1 - t0);
        seen += n == 2;
    }
    CHECK(grown == 0, "no allocation after the first frame (%ld bytes)", grown);
    CHECK(seen == frames, "two movers at 1920x1080 in every frame (%d)", seen);
    struct motion_stats s;
    motion_get_stats(m, &s);
    printf("test_motion: motion_detect 1920x1080 -> %dx%d: %.2f ms per frame (mean of %d; "
           "best %.2f ms)\n",
           s.small_w, s.small_h, t_total / frames / 1000, frames, t_min / 1000);
    motion_free(&m);
    free(f.px);
}

/* The labelling alone on a hand-drawn image: 8-connectivity joins diagonals, a
 * U shape met from two sides is one component, core pixels measure. */
static void test_label(void)
{
    static const char *img[] = {
        "#..#....#",
        ".#.#....#",
        "..##..#.#",
        "......###",
        "#........",
    };
    enum { W = 9, H = 5 };
    uint8_t fg[W * H];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) fg[y * W + x] = img[y][x] == '#';
    int labels[W * H], parent[W * H + 1];
    struct motion_comp comps[W * H + 1];
    int k = motion_label(fg, fg, W, H, labels, parent, comps);
    CHECK(k == 3, "3 components (%d)", k);
    if (k == 3) {
        CHECK(comps[0].x1 == 0 && comps[0].y1 == 0 && comps[0].x2 == 3 && comps[0].y2 == 2 &&
                  comps[0].area == 6,
              "diagonal + bar: %d %d %d %d area %d", comps[0].x1, comps[0].y1, comps[0].x2,
              comps[0].y2, comps[0].area);
        CHECK(comps[1].x1 == 6 && comps[1].y1 == 0 && comps[1].x2 == 8 && comps[1].y2 == 3 &&
                  comps[1].area == 7,
              "the U: %d %d %d %d area %d", comps[1].x1, comps[1].y1, comps[1].x2, comps[1].y2,
              comps[1].area);
        CHECK(comps[2].x1 == 0 && comps[2].y1 == 4 && comps[2].area == 1, "the lone pixel");
    }
}

/* ---- regions ------------------------------------------------------------------ */

static struct motion_params region_params(int margin, int minw, int minh)
{
    struct motion_params p;
    motion_params_default(&p);
    p.region_margin = margin;
    p.region_min_w = minw;
    p.region_min_h = minh;
    return p;
}

static int region_is(const struct motion_region *r, int x, int y, int w, int h)
{
    return r->x == x && r->y == y && r->w == w && r->h == h;
}

static void test_regions(void)
{
    struct motion_region out[8];
    int full;
    char msg[256];
    struct motion_params p = region_params(20, 320, 320);
    /* padding and the minimum size about the centre */
    const float a1[][4] = { { 1000, 500, 1050, 560 } };
    int n = motion_regions(&p, 1920, 1080, a1, 1, NULL, 0, out, 8, &full, msg, sizeof msg);
    CHECK(n == 1 && !full && region_is(&out[0], 865, 370, 320, 320),
          "padded and enlarged: %d %d %d %d", out[0].x, out[0].y, out[0].w, out[0].h);
    /* padding alone, fractional coordinates rounded outward */
    struct motion_params p0 = region_params(10, 0, 0);
    const float a2[][4] = { { 10.5f, 20.2f, 30.7f, 40.1f } };
    n = motion_regions(&p0, 1920, 1080, a2, 1, NULL, 0, out, 8, &full, msg, sizeof msg);
    CHECK(n == 1 && region_is(&out[0], 0, 10, 41, 41), "padding: %d %d %d %d", out[0].x,
          out[0].y, out[0].w, out[0].h);
    /* at the frame's corner the minimum size is shifted inside */
    const float a3[][4] = { { 1900, 1000, 1915, 1070 } };
    n = motion_regions(&p, 1920, 1080, a3, 1, NULL, 0, out, 8, &full, msg, sizeof msg);
    CHECK(n == 1 && region_is(&out[0], 1600, 760, 320, 320), "corner: %d %d %d %d", out[0].x,
          out[0].y, out[0].w, out[0].h);
    /* a minimum larger than the frame is the frame */
    n = motion_regions(&p, 200, 100, a2, 1, NULL, 0, out, 8, &full, msg, sizeof msg);
    CHECK(n == 1 && region_is(&out[0], 0, 0, 200, 100), "min > frame: %d %d %d %d", out[0].x,
          out[0].y, out[0].w, out[0].h);

    /* merging: C meets neither A nor B, but A u B; touching regions stay apart;
     * the tracks' list b takes part */
    struct motion_params pm = region_params(0, 0, 0);
    pm.full_frame_share = 1;
    const float c[][4] = { { 20, 0, 30, 10 } };
    const float ab[][4] = { { 0, 0, 10, 30 }, { 0, 20, 30, 30 }, { 30, 40, 40, 50 },
                            { 40, 40, 50, 50 } };
    n = motion_regions(&pm, 1000, 1000, c, 1, ab, 4, out, 8, &full, msg, sizeof msg);
    CHECK(n == 3, "merged into 3 (%d)", n);
    int u = 0, t1 = 0, t2 = 0;
    for (int i = 0; i < n; i++) {
        u += region_is(&out[i], 0, 0, 30, 30);
        t1 += region_is(&out[i], 30, 40, 10, 10);
        t2 += region_is(&out[i], 40, 40, 10, 10);
    }
    CHECK(u == 1 && t1 == 1 && t2 == 1, "A, B, C as one; the touching pair apart");
    /* invalid boxes are skipped */
    const float badb[][4] = { { NAN, 0, 10, 10 }, { 10, 10, 5, 20 }, { 2000, 0, 2100, 10 },
                              { -50, -50, -10, -10 } };
    n = motion_regions(&pm, 1000, 1000, badb, 4, NULL, 0, out, 8, &full, msg, sizeof msg);
    CHECK(n == 0 && !full, "invalid boxes: no region (%d)", n);
    n = motion_regions(&pm, 1000, 1000, NULL, 0, NULL, 0, out, 8, &full, msg, sizeof msg);
    CHECK(n == 0, "no boxes: no region");
    /* the full frame above full_frame_share (default 0.6) */
    struct motion_params pf = region_params(0, 0, 0);
    const float big[][4] = { { 0, 0, 700, 900 }, { 800, 0, 1000, 1000 } };  /* 0.63 + 0.2 */
    n = motion_regions(&pf, 1000, 1000, big, 1, NULL, 0, out, 8, &full, msg, sizeof msg);
    CHECK(n == 1 && full && region_is(&out[0], 0, 0, 1000, 1000), "0.63 of the frame: full");
    pf.full_frame_share = 0.9f;
    n = motion_regions(&pf, 1000, 1000, big, 2, NULL, 0, out, 8, &full, msg, sizeof msg);
    CHECK(n == 2 && !full, "0.83 of the frame under 0.9: two regions (%d)", n);
    n = motion_regions(&pf, 1000, 1000, big, 2, c, 1, out, 2, &full, msg, sizeof msg);
    CHECK(n < 0 && strstr(msg, "room for 2"), "cap too small: %s", msg);
    n = motion_regions(&pf, 0, 1000, big, 2, NULL, 0, out, 8, &full, msg, sizeof msg);
    CHECK(n < 0, "empty frame: %s", msg);

    /* mapping back */
    struct motion_region r = { 100, 50, 320, 320 };
    struct motion_det d[1] = { { { 10, 20, 30, 40 }, 0.9f, 3 } };
    motion_map_back(&r, d, 1);
    CHECK(d[0].box[0] == 110 && d[0].box[1] == 70 && d[0].box[2] == 130 && d[0].box[3] == 90 &&
              d[0].label == 3,
          "mapped back: %g %g %g %g", d[0].box[0], d[0].box[1], d[0].box[2], d[0].box[3]);

    /* duplicates across regions */
    struct motion_params pd;
    motion_params_default(&pd);
    struct motion_det dd[] = {
        { { 0, 0, 10, 10 }, 0.8f, 1 },    /* A */
        { { 1, 0, 11, 10 }, 0.9f, 1 },    /* B: IoU 0.82 with A, higher: kept */
        { { 1, 0, 11, 10 }, 0.7f, 2 },    /* C: other label: kept */
        { { 50, 50, 60, 60 }, 0.95f, 1 }, /* D: apart */
        { { 5, 0, 15, 10 }, 0.85f, 1 },   /* E: IoU 0.33 with B: kept */
        { { 50, 50, 60, 60 }, 0.95f, 1 }, /* F: D's twin, equal score: the earlier D stays */
    };
    n = motion_dedup(&pd, dd, 6);
    CHECK(n == 4, "dedup: 4 left (%d)", n);
    if (n == 4)
        CHECK(dd[0].box[0] == 50 && dd[1].box[0] == 1 && dd[1].label == 1 && dd[2].box[0] == 5 &&
                  dd[3].label == 2,
              "dedup: D, B, E, C in score order");
    CHECK(motion_dedup(&pd, dd, 0) == 0, "dedup of nothing");
}

/* ---- polygons, zones, object masks ---------------------------------------------------- */

static void test_point_in_polygon(void)
{
    struct motion_polygon sq = poly("sq=0,0,10,0,10,10,0,10");
    struct { float x, y; int in; } cs[] = {
        { 5, 5, 1 },     { 15, 5, 0 },   { -1, 5, 0 },     { 10, 5, 1 },  { 0, 5, 1 },
        { 5, 0, 1 },     { 5, 10, 1 },   { 0, 0, 1 },      { 10, 10, 1 }, { 10, 0, 1 },
        { 10.001f, 5, 0 }, { 5, -0.001f, 0 }, { 5, 10.001f, 0 }, { 9.999f, 9.999f, 1 },
        { 20, 0, 0 },    { 20, 10, 0 },  { -5, 10, 0 },
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        CHECK(motion_point_in_polygon(&sq, cs[i].x, cs[i].y) == cs[i].in, "square (%g, %g): %d",
              cs[i].x, cs[i].y, cs[i].in);
    /* the square clockwise instead: the same answers */
    struct motion_polygon sq2 = poly("sq=0,0,0,10,10,10,10,0");
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        CHECK(motion_point_in_polygon(&sq2, cs[i].x, cs[i].y) == cs[i].in,
              "clockwise square (%g, %g)", cs[i].x, cs[i].y);

    /* a U (concave): the notch is outside; rays through vertices and along the
     * notch's floor (y = 10) count right */
    struct motion_polygon uu = poly("u=0,0,30,0,30,30,20,30,20,10,10,10,10,30,0,30");
    struct { float x, y; int in; } us[] = {
        { 15, 20, 0 }, { 15, 5, 1 },  { 5, 20, 1 },   { 25, 20, 1 }, { 15, 10, 1 },
        { 20, 20, 1 }, { 20, 10, 1 }, { 5, 10, 1 },   { 25, 10, 1 }, { 35, 10, 0 },
        { -5, 10, 0 }, { 15, 30, 0 }, { 15, 29, 0 },  { 10, 30, 1 }, { 15, 10.5f, 0 },
        { -5, 30, 0 }, { -5, 0, 0 },  { 31, 30, 0 },  { 15, 0, 1 },  { 15, -0.5f, 0 },
    };
    for (size_t i = 0; i < sizeof us / sizeof us[0]; i++)
        CHECK(motion_point_in_polygon(&uu, us[i].x, us[i].y) == us[i].in, "U (%g, %g): %d",
              us[i].x, us[i].y, us[i].in);
    /* a triangle whose vertex lies on the test ray */
    struct motion_polygon tr = poly("t=0,0,10,5,0,10");
    CHECK(motion_point_in_polygon(&tr, 5, 5) == 1, "triangle inside");
    CHECK(motion_point_in_polygon(&tr, -5, 5) == 0, "triangle: ray through the far vertex");
    CHECK(motion_point_in_polygon(&tr, 12, 5) == 0, "triangle: right of the vertex");
    CHECK(motion_point_in_polygon(&tr, 10, 5) == 1, "triangle: on the vertex");
    CHECK(motion_point_in_polygon(&tr, 6, 3) == 1, "triangle: on an edge (6, 3)");
    /* even-odd on a self-crossing star: the pentagram's centre is outside */
    struct motion_polygon star = poly("s=50,0,79,90,2,35,98,35,21,90");
    CHECK(motion_point_in_polygon(&star, 50, 50) == 0, "pentagram centre: outside (even-odd)");
    CHECK(motion_point_in_polygon(&star, 50, 10) == 1, "pentagram tip: inside");
}

static void test_parser(void)
{
    struct motion_polygon p;
    char msg[256];
    CHECK(motion_polygon_parse(&p, "door-2_A=0,0, 10.5,0,10,10 ,0,10", msg, sizeof msg) == 0,
          "parse: %s", msg);
    CHECK(!strcmp(p.name, "door-2_A") && p.n == 4 && p.x[1] == 10.5f && p.y[2] == 10 &&
              p.y[3] == 10,
          "parsed");
    struct motion_polygon keep = p;
    struct {
        const char *spec, *want;
    } bad[] = {
        { "0,0,10,0,10,10", "is not NAME=" },
        { "=0,0,10,0,10,10", "zone name ''" },
        { "do or=0,0,10,0,10,10", "zone name 'do or'" },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=0,0,1,0,1,1", "1 to 32" },
        { "z=0,0,10,0,10", "5 numbers" },
        { "z=0,0,10,0", "2 points" },
        { "z=0,0,10,0,nan,10", "number 5 ('nan')" },
        { "z=0,0,10,0,1e400,10", "number 5" },
        { "z=0,0,10,x,10,10", "number 4 ('x')" },
        { "z=0,0,,0,10,10", "number 3 ('')" },
        { "z=0,0,10,0,10,10,", "number 7 ('')" },
        { "z=0,0,1 0,0,10,10", "number 3 ('1 0')" },
        { "z=", "number 1" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = 0;
        int rc = motion_polygon_parse(&p, bad[i].spec, msg, sizeof msg);
        CHECK(rc < 0 && strstr(msg, bad[i].want), "'%s': wanted '%s', got '%s'", bad[i].spec,
              bad[i].want, msg);
    }
    CHECK(!memcmp(&p, &keep, sizeof p), "the polygon is unchanged by errors");
    /* 32 points fit, 33 do not */
    char spec[1024] = "z=";
    for (int i = 0; i < 33; i++) {
        char xy[32];
        snprintf(xy, sizeof xy, "%s%d,%d", i ? "," : "", i, i * i % 7);
        strcat(spec, xy);
        if (i == 31) {
            CHECK(motion_polygon_parse(&p, spec, msg, sizeof msg) == 0 && p.n == 32, "32 points");
        }
    }
    CHECK(motion_polygon_parse(&p, spec, msg, sizeof msg) < 0 && strstr(msg, "more than 32"),
          "33 points: %s", msg);
    CHECK(motion_polygon_parse(&p, NULL, msg, sizeof msg) < 0, "NULL spec");
}

static struct motion_object obj_at(int id, float bx, float by)
{
    return (struct motion_object){ id, { bx - 5, by - 20, bx + 5, by } };
}

static void test_zones(void)
{
    struct motion_params p;
    motion_params_default(&p);
    char msg[256];
    struct motion_polygon zs[2] = { poly("yard=100,100,200,100,200,200,100,200"),
                                    poly("gate=190,100,300,100,300,200,190,200") };
    struct motion_zones *z = NULL;
    CHECK(motion_zones_create(&z, zs, 2, &p, msg, sizeof msg) == 0, "zones: %s", msg);
    if (!z) return;
    /* object 1 walks right along y = 150 from x = 50 to 350, then back to 150 */
    const struct motion_zone_event *ev;
    int enter[2] = { 0 }, exit_[2] = { 0 }, first_in = -1;
    for (int step = 0; step <= 50; step++) {
        float x = step <= 30 ? 50 + 10 * step : 350 - 10 * (step - 30);
        struct motion_object o = obj_at(1, x, 150);
        int n = motion_zones_update(z, &o, 1, &ev, msg, sizeof msg);
        for (int i = 0; i < n; i++) {
            CHECK(ev[i].id == 1, "event's id");
            if (ev[i].kind == MOTION_ZONE_ENTER) {
                enter[ev[i].zone]++;
                if (ev[i].zone == 0 && first_in < 0) first_in = (int)x;
            } else exit_[ev[i].zone]++;
        }
        if (x == 190) CHECK(motion_zones_of(z, 1) == 3u, "in both zones on the overlap");
    }
    CHECK(first_in == 100, "enters the yard on its edge, x = 100 (%d)", first_in);
    CHECK(enter[0] == 2 && exit_[0] == 1, "yard: 2 entries, 1 exit (%d, %d)", enter[0], exit_[0]);
    CHECK(enter[1] == 2 && exit_[1] == 2, "gate: 2 entries, 2 exits (%d, %d)", enter[1], exit_[1]);
    int inside;
    long en, ex;
    motion_zones_counts(z, 0, &inside, &en, &ex);
    CHECK(inside == 1 && en == 2 && ex == 1, "yard counts %d %ld %ld", inside, en, ex);
    motion_zones_counts(z, 1, &inside, &en, &ex);
    CHECK(inside == 0 && en == 2 && ex == 2, "gate counts %d %ld %ld", inside, en, ex);
    /* a repeated id is refused and changes nothing */
    struct motion_object two[2] = { obj_at(7, 150, 150), obj_at(7, 160, 150) };
    CHECK(motion_zones_update(z, two, 2, &ev, msg, sizeof msg) < 0 && strstr(msg, "id 7"),
          "repeated id: %s", msg);
    CHECK(motion_zones_of(z, 1) == 1u, "still in the yard");
    /* object 1 vanishes: it leaves the yard at once; a new object 2 appears inside */
    struct motion_object o2 = obj_at(2, 150, 150);
    int n = motion_zones_update(z, &o2, 1, &ev, msg, sizeof msg);
    CHECK(n == 2 && ev[0].id == 1 && ev[0].kind == MOTION_ZONE_EXIT && ev[0].zone == 0 &&
              ev[1].id == 2 && ev[1].kind == MOTION_ZONE_ENTER && ev[1].zone == 0,
          "vanished exits first, then the newcomer enters (%d events)", n);
    motion_zones_counts(z, 0, &inside, &en, &ex);
    CHECK(inside == 1 && en == 3 && ex == 2, "yard counts %d %ld %ld", inside, en, ex);
    n = motion_zones_update(z, NULL, 0, &ev, msg, sizeof msg);
    CHECK(n == 1 && motion_zones_of(z, 2) == 0, "everyone gone: one exit");
    motion_zones_free(&z);
    motion_zones_free(&z);

    /* hysteresis: in after 3 updates inside, out after 2 outside; jitter on the edge */
    motion_param_set(&p, "zone_frames_in=3", msg, sizeof msg);
    motion_param_set(&p, "zone_frames_out=2", msg, sizeof msg);
    CHECK(motion_zones_create(&z, zs, 1, &p, msg, sizeof msg) == 0, "zones: %s", msg);
    if (!z) return;
    /* x per update; 1 = the point is inside the yard */
    const float path[] = { 95, 105, 95, 105, 105, 95, 105, 105, 105, 95, 105, 95, 95, 105, 95, 95 };
    /* in at update 8 (6, 7, 8 inside: 1 and 3-4 were too short); out at 12 (11, 12
     * outside: 9 alone was too short, 10 reset it); 13 alone does not re-enter */
    const int want_in[] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0 };
    int entries = 0, exits = 0, agree = 0;
    for (int i = 0; i < (int)(sizeof path / sizeof path[0]); i++) {
        struct motion_object o = obj_at(5, path[i], 150);
        int k = motion_zones_update(z, &o, 1, &ev, msg, sizeof msg);
        for (int e = 0; e < k; e++) {
            entries += ev[e].kind == MOTION_ZONE_ENTER;
            exits += ev[e].kind == MOTION_ZONE_EXIT;
        }
        int in = (int)(motion_zones_of(z, 5) & 1u);
        agree += in == want_in[i];
        if (in != want_in[i]) fprintf(stderr, "update %d: in %d, wanted %d\n", i, in, want_in[i]);
    }
    CHECK(agree == (int)(sizeof path / sizeof path[0]), "hysteresis path followed");
    CHECK(entries == 1 && exits == 1, "jitter: 1 entry, 1 exit (%d, %d)", entries, exits);
    motion_zones_free(&z);

    struct motion_polygon badz = zs[0];
    badz.x[1] = NAN;
    CHECK(motion_zones_create(&z, &badz, 1, &p, msg, sizeof msg) < 0 && strstr(msg, "yard") && !z,
          "non-finite zone refused: %s", msg);
    CHECK(motion_zones_create(&z, zs, MOTION_MAX_ZONES + 1, &p, msg, sizeof msg) < 0,
          "too many zones: %s", msg);
}

static void test_object_masks(void)
{
    struct motion_polygon masks[1] = { poly("parking=0,300,400,300,400,400,0,400") };
    struct motion_det d[] = {
        { { 10, 200, 50, 350 }, 0.9f, 1 },   /* stands in the mask: dropped */
        { { 10, 100, 50, 250 }, 0.8f, 2 },   /* above it: kept */
        { { 380, 200, 420, 300 }, 0.7f, 3 }, /* stands on its edge (400, 300): dropped */
        { { 500, 200, 600, 350 }, 0.6f, 4 }, /* beside it: kept */
    };
    int n = motion_mask_filter(masks, 1, d, 4);
    CHECK(n == 2 && d[0].label == 2 && d[1].label == 4, "object mask: 2 and 4 kept (%d)", n);
    CHECK(motion_mask_filter(NULL, 0, d, 2) == 2, "no masks: all kept");
}

/* ---- parameters --------------------------------------------------------------------- */

static void test_params(void)
{
    struct motion_params p, q;
    motion_params_default(&p);
    char msg[512];
    CHECK(p.frame_height == 100 && p.threshold == 15 && p.alpha == 0.01f && p.min_area == 10 &&
              p.recal_share == 0.8f && p.full_frame_share == 0.6f && p.dedup_iou == 0.5f &&
              p.zone_frames_in == 1,
          "defaults");
    CHECK(motion_params_check(&p, msg, sizeof msg) == 0, "defaults check");
    CHECK(motion_param_set(&p, "threshold=40", msg, sizeof msg) == 0 && p.threshold == 40,
          "set threshold");
    CHECK(motion_param_set(&p, "alpha=0.05", msg, sizeof msg) == 0 && p.alpha == 0.05f,
          "set alpha");
    q = p;
    struct {
        const char *set, *want;
    } bad[] = {
        { "threshold=300", "threshold: '300' is not an integer in [1, 254]" },
        { "threshold=3.5", "not an integer" },
        { "alpha=0", "alpha: '0' is not a number" },
        { "alpha=abc", "alpha: 'abc'" },
        { "alpha=", "alpha: ''" },
        { "alpha=nan", "alpha" },
        { "recal_share=1.5", "recal_share" },
        { "frame_height=4", "[8, 2160]" },
        { "zone_frames_in=0", "zone_frames_in" },
        { "nosuch=1", "unknown parameter 'nosuch' (known: frame_height, threshold," },
        { "threshold", "is not NAME=VALUE" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = 0;
        int rc = motion_param_set(&p, bad[i].set, msg, sizeof msg);
        CHECK(rc < 0 && strstr(msg, bad[i].want), "'%s': wanted '%s', got '%s'", bad[i].set,
              bad[i].want, msg);
    }
    CHECK(!memcmp(&p, &q, sizeof p), "params unchanged by errors");
    CHECK(motion_param_set(&p, "nosuch=1", msg, sizeof msg) < 0 &&
              strstr(msg, "zone_frames_out"),
          "the known list is complete: %s", msg);
    p.min_area = 0;
    struct motion *m = NULL;
    CHECK(motion_create(&m, &p, msg, sizeof msg) < 0 && !m && strstr(msg, "min_area"),
          "create with bad params: %s", msg);
}

int main(void)
{
    test_static_and_one_mover();
    test_two_movers_and_tiny();
    test_recalibration();
    test_masks_and_sizes();
    test_label();
    test_alloc_and_time();
    test_regions();
    test_point_in_polygon();
    test_parser();
    test_zones();
    test_object_masks();
    test_params();
    return check_summary("test_motion");
}
