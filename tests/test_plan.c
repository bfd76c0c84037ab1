/*
 * test_plan.c — sizing a pass before running it (model/net/plan.c, model/ops/arena.c's
 * counting mode and reservation) and the limits on sizes and parameters.
 *
 * The reservation model_detect makes for a new input size must be an upper
 * bound of what the pass then takes: if it were not, the arena would chain a
 * block mid-pass, where running out of memory can only abort. Checked on the
 * demo model and on one checkpoint of each preset (from the parity fixtures,
 * when present) at several sizes, with box_score_thresh 0 so that every
 * proposal and class becomes a candidate. Also: sizes torchvision refuses
 * (a side resized to 0) are refused with the accepted range, conv/pool output
 * sizes floor like torch's, counting arenas count, --set ranges.
 */
#include "../model/net/net.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Random RGB of w x h (fixed seed): texture gives the RPN many proposals. */
static uint8_t *picture(int w, int h, unsigned seed)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    for (size_t i = 0; p && i < (size_t)w * h * 3; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
    return p;
}

static void check_reservation(const char *what, const char *weights, const char *arch,
                              const char *const *sets, const int (*sizes)[2], int nsizes,
                              const char *precision)
{
    struct model *m = NULL;
    struct model_options opt = { .weights = weights, .arch = arch, .sets = sets, .threads = 2,
                                 .precision = precision };
    if (model_load(&m, &opt) != 0) {
        CHECK(0, "%s: model_load %s failed", what, weights);
        return;
    }
    int maxd = model_max_detections(m);
    struct model_detection *d = calloc((size_t)maxd, sizeof *d);
    size_t planned_max = 0;
    for (int i = 0; i < nsizes; i++) {
        int w = sizes[i][0], h = sizes[i][1], n = -1;
        uint8_t *rgb = picture(w, h, (unsigned)(w * 31 + h));
        struct model_image img = { rgb, w, h, 3 * w };
        int r = model_detect(m, &img, d, maxd, &n);
        CHECK(r == 0, "%s %dx%d: model_detect failed", what, w, h);
        CHECK(!arena_chained(&m->arena),
              "%s %dx%d: the pass outgrew its reservation (high %zu)", what, w, h, m->arena.high);
        /* the replay itself, without the headroom: the most a pass has used
         * so far stays within the largest plan so far */
        size_t planned = 0;
        CHECK(plan_arena_bytes(m, w, h, &planned) == 0, "%s %dx%d: planned", what, w, h);
        if (planned > planned_max) planned_max = planned;
        CHECK(m->arena.peak <= planned_max, "%s %dx%d: a pass took %zu bytes, the plan %zu",
              what, w, h, m->arena.peak, planned_max);
        CHECK(n >= 0 && n <= maxd, "%s %dx%d: %d detections, max %d", what, w, h, n, maxd);
        free(rgb);
    }
    free(d);
    model_free(&m);
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

int main(void)
{
    /* ---- arena: counting mode and reservation ---- */
    struct arena a;
    arena_init_counting(&a);
    struct fmap f = arena_fmap(&a, 3, 10, 10);
    CHECK(f.d != NULL && a.high >= 300 * sizeof(float), "counting arena counts a map");
    struct arena_mark mk = arena_mark(&a);
    arena_floats(&a, (size_t)1 << 40);   /* 4 TiB: counted, not allocated */
    CHECK(a.high >= ((size_t)4 << 40), "counting arena counts a huge request");
    arena_rewind(&a, mk);
    CHECK(a.total < 4096, "counting arena rewinds");
    arena_fmap(&a, 8, 0, 5);
    CHECK(a.empty_map, "an empty map is noted, not asserted, when counting");
    arena_release(&a);

    struct arena b;
    arena_init(&b);
    CHECK(arena_reserve(&b, (size_t)1 << 20) == 0, "reserve 1 MiB");
#ifndef __SANITIZE_ADDRESS__   /* ASan aborts on an impossible allocation by default */
    CHECK(arena_reserve(&b, SIZE_MAX / 2) == -1, "an impossible reservation fails cleanly");
#endif
    float *x = arena_floats(&b, 1000);
    CHECK(x != NULL && !arena_chained(&b), "the arena still works after a refused reservation");
    arena_release(&b);

    /* ---- output sizes floor like torch's: smaller than the kernel → <= 0 ---- */
    int oh = pool_out_len(1, 2, 2, 0, 1, 0), ow = pool_out_len(3, 2, 2, 0, 1, 0);
    CHECK(oh == 0 && ow == 1, "maxpool k2 s2 of 1x3: %dx%d (torch: 0x1)", oh, ow);
    CHECK(pool_out_len(80, 3, 2, 1, 1, 1) == 41 && pool_out_len(81, 3, 2, 1, 1, 1) == 41 &&
          pool_out_len(80, 3, 2, 1, 1, 0) == 40, "ceil mode: 80 -> 41, 81 -> 41, floor 80 -> 40");
    struct conv cv = { .cin = 1, .cout = 1, .k = 3, .stride = 2, .pad = 0, .groups = 1 };
    conv_out_size(&cv, 2, 7, &oh, &ow);
    CHECK(oh == 0 && ow == 3, "conv k3 s2 of 2x7: %dx%d (torch: 0x3)", oh, ow);

    /* ---- --set ranges ---- */
    char msg[400];
    CHECK(model_check_set("min_size=8192", msg, sizeof msg) == 0, "min_size=8192 accepted");
    CHECK(model_check_set("min_size=8193", msg, sizeof msg) == -1 && strstr(msg, "[1, 8192]"),
          "min_size=8193: %s", msg);
    CHECK(model_check_set("rpn_post_nms_top_n_test=1e6", msg, sizeof msg) == 0, "1e6 accepted");
    CHECK(model_check_set("rpn_post_nms_top_n_test=1e9", msg, sizeof msg) == -1 &&
          strstr(msg, "rpn_post_nms_top_n_test") && strstr(msg, "1e9") &&
          strstr(msg, "[1, 1000000]"), "post 1e9: %s", msg);
    CHECK(model_check_set("box_detections_per_img=0", msg, sizeof msg) == 0, "0 detections ok");
    CHECK(model_check_set("image_mean=0.5,0.5", msg, sizeof msg) == -1, "two means refused");
    CHECK(model_check_set("image_std=1,1,0", msg, sizeof msg) == -1, "zero std refused");
    CHECK(model_check_set("rpn_nms_thresh=nan", msg, sizeof msg) == -1, "NaN refused");
    CHECK(model_check_set("nope=1", msg, sizeof msg) == -1 && strstr(msg, "unknown"),
          "unknown name: %s", msg);

    /* ---- the demo model: sizes torchvision refuses, reservations ---- */
    const char *demo = "assets/demo.vdm";
    if (exists(demo)) {
        struct model *m = NULL;
        struct model_options opt = { .weights = demo, .threads = 1 };
        CHECK(model_load(&m, &opt) == 0, "demo model loads");
        if (m) {
            /* torchvision 0.14 with min_size 216, max_size 384: 1x400 → 0x383
             * (raises), 3x1000 → 1x384 (runs) */
            CHECK(model_check_size(m, 400, 1, msg, sizeof msg) == -1 &&
                  strstr(msg, "383x0") && strstr(msg, "at least 2"), "400x1: %s", msg);
            CHECK(model_check_size(m, 1, 400, msg, sizeof msg) == -1 && strstr(msg, "0x383"),
                  "1x400: %s", msg);
            CHECK(model_check_size(m, 1000, 3, msg, sizeof msg) == 0, "1000x3: %s", msg);
            int rw, rh;
            double g;
            CHECK(model_gflops(m, 1000, 3, &g, &rw, &rh, msg, sizeof msg) == 0 && rw == 384 &&
                  rh == 1, "1000x3 resizes to %dx%d (torchvision: 384x1)", rw, rh);
            CHECK(model_gflops(m, 1000, 1, &g, &rw, &rh, msg, sizeof msg) == -1,
                  "gflops of 1000x1 refused");
            CHECK(model_check_size(m, 16385, 10, msg, sizeof msg) == -1, "16385 wide refused");
            struct model_detection d[4];
            int n = 7;
            uint8_t px[3 * 400] = { 0 };
            struct model_image thin = { px, 400, 1, 1200 };
            CHECK(model_detect(m, &thin, d, 4, &n) == -1 && n == 0, "model_detect 400x1 refused");
            CHECK(model_set(m, "max_size=1") == 0, "max_size=1 is in range");
            CHECK(model_check_size(m, 64, 48, msg, sizeof msg) == -1 && strstr(msg, "1x0"),
                  "max_size=1, 64x48: %s", msg);
            CHECK(model_check_size(m, 800, 2, msg, sizeof msg) == -1 &&
                  strstr(msg, "no height works"), "max_size=1, 800x2: %s", msg);
            model_free(&m);
        }
        static const char *const sets[] = { "box_score_thresh=0", "rpn_post_nms_top_n_test=1000",
                                            NULL };
        static const int sizes[][2] = { { 640, 360 }, { 64, 48 }, { 1000, 3 }, { 33, 700 },
                                        { 640, 360 } };
        check_reservation("demo", demo, NULL, sets, sizes, 5, NULL);
        check_reservation("demo bf16", demo, NULL, sets, sizes, 5, "bf16");
        check_reservation("demo int8", demo, NULL, sets, sizes, 5, "int8");
    } else {
        CHECK(0, "no %s (run from the repository root)", demo);
    }

    /* ---- one checkpoint of each preset, small inputs to stay quick ---- */
    const char *fix = getenv("VDETECT_FIXTURES");
    if (!fix) fix = "tests/fixtures";
    static const struct { const char *dir, *arch; } cases[] = {
        { "mnv3_320_odd", "fasterrcnn_mobilenet_v3_large_320_fpn" },
        { "mnv3_photo", "fasterrcnn_mobilenet_v3_large_fpn" },
        { "r50_odd", "fasterrcnn_resnet50_fpn" },
        { "r50v2_photo", "fasterrcnn_resnet50_fpn_v2" },
        { "vgg16_photo", "fasterrcnn_vgg16_fpn" },
    };
    static const char *const small[] = { "min_size=96", "max_size=160", "box_score_thresh=0",
                                          NULL };
    static const int psizes[][2] = { { 160, 96 }, { 50, 300 } };
    int ran = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/parity/%s/model_zip.pth", fix, cases[i].dir);
        if (!exists(path)) continue;
        check_reservation(cases[i].dir, path, cases[i].arch, small, psizes, 2, NULL);
        char bf[64];
        snprintf(bf, sizeof bf, "%s bf16", cases[i].dir);
        check_reservation(bf, path, cases[i].arch, small, psizes, 2, "bf16");
        snprintf(bf, sizeof bf, "%s int8", cases[i].dir);
        check_reservation(bf, path, cases[i].arch, small, psizes, 2, "int8");
        ran++;
    }
    if (!ran) printf("test_plan: no parity fixtures under %s: presets not checked\n", fix);
    return check_summary("test_plan");
}
