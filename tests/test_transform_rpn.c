/*
 * test_transform_rpn.c — unit tests of the pre- and post-backbone stages that need
 * no weights (docs/torchvision-inference.md): transform (§1), anchors (§2), RPN
 * flattening and filtering (§3.2, §3.4),
 * box decode and clip (§3.3).
 *
 * Expected values are either derived by hand in the comments (exactly representable
 * cases) or are torch 1.13.1 / torchvision 0.14.1 outputs written as hex floats
 * (the expression that produced them is quoted beside them). Nothing is checked
 * against the code under test itself, except the fused normalise-and-resize pass,
 * held to the two stages it fuses.
 */
#include "../model/net/net.h"
#include "check.h"

#include <math.h>
#include <string.h>

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* |a - b| within n ulps of b's magnitude (for values that go through exp, where
 * torch's SLEEF exp and glibc's expf may disagree by 1 ulp) */
static int within_ulps(float a, float b, int n)
{
    float m = fabsf(b);
    return fabsf(a - b) <= n * (nextafterf(m, INFINITY) - m);
}

/* ---- §1.3 resized size -------------------------------------------------- */

static void test_resized_size(void)
{
    static const struct { int h, w; float s, m; int oh, ow; } t[] = {
        { 240, 320, 800, 1333, 800, 1066 },
        { 480, 640, 800, 1333, 800, 1066 },
        { 375, 500, 800, 1333, 799, 1066 },   /* fl(fl(1/375)*800) = 2.1333332 < 32/15 */
        { 500, 375, 800, 1333, 1066, 799 },   /* portrait: same rule on the other axis */
        { 427, 640, 800, 1333, 799, 1199 },
        { 720, 1280, 800, 1333, 749, 1333 },  /* max side binds */
        { 1080, 1920, 800, 1333, 749, 1333 },
        { 300, 300, 800, 1333, 800, 800 },
        { 100, 1000, 800, 1333, 133, 1333 },
        { 240, 320, 320, 640, 320, 426 },     /* mobilenet_320 */
        { 480, 640, 320, 640, 320, 426 },
        { 720, 1280, 320, 640, 320, 568 },
        { 1080, 1920, 320, 640, 320, 568 },
        { 800, 800, 800, 1333, 800, 800 },    /* already the target size */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int oh = -1, ow = -1;
        transform_resized_size(t[i].h, t[i].w, t[i].s, t[i].m, &oh, &ow);
        CHECK(oh == t[i].oh && ow == t[i].ow, "resize %dx%d (%g/%g): got %dx%d, want %dx%d",
              t[i].h, t[i].w, (double)t[i].s, (double)t[i].m, oh, ow, t[i].oh, t[i].ow);
    }
}

/* ---- §1.2 normalize ----------------------------------------------------- */

static void test_normalize(void)
{
    /* 2 x 3 image, stride 11 bytes (> 9): channel c of pixel k holds vals[k]. */
    static const uint8_t vals[6] = { 0, 1, 127, 128, 200, 255 };
    /* torch: ((u8.float() / 255) - mean[c]) / std[c], f32 */
    static const float want[3][6] = {
        { -0x1.0f177ap+1f, -0x1.0ce656p+1f, 0x1.d2734cp-5f, 0x1.2f5e64p-4f, 0x1.4e9a9ep+0f, 0x1.1fdc3ap+1f },
        { -0x1.049248p+1f, -0x1.02549ep+1f, 0x1.805bc8p-3f, 0x1.a43690p-3f, 0x1.773738p+0f, 0x1.36db6ep+1f },
        { -0x1.cdf012p+0f, -0x1.c979d4p+0f, 0x1.a2e17ap-2f, 0x1.b4ba78p-2f, 0x1.ae6fdep+0f, 0x1.51eb86p+1f },
    };
    const float mean[3] = { 0.485f, 0.456f, 0.406f }, std[3] = { 0.229f, 0.224f, 0.225f };
    uint8_t img[2 * 11];
    memset(img, 0xEE, sizeof img);
    for (int k = 0; k < 6; k++) {
        int y = k / 3, x = k % 3;
        for (int c = 0; c < 3; c++) img[y * 11 + 3 * x + c] = vals[k];
    }
    float out[3 * 6];
    transform_normalize(img, 11, 2, 3, mean, std, out);
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < 6; k++)
            CHECK(same_bits(out[c * 6 + k], want[c][k]), "normalize c%d u8 %d: got %a want %a", c,
                  vals[k], (double)out[c * 6 + k], (double)want[c][k]);
}

/* ---- §1.3 bilinear ------------------------------------------------------ */

static void test_resize_identity(void)
{
    /* 2 channels of 2 x 3, written with strides into a 4 x 5 per-channel buffer */
    float in[12], out[2 * 4 * 5];
    for (int i = 0; i < 12; i++) in[i] = (float)i * 0.1f - 0.37f;
    for (int i = 0; i < 40; i++) out[i] = 99.0f;
    transform_resize_bilinear(in, 2, 2, 3, out, 2, 3, 5, 20);
    int ok = 1, pad_ok = 1;
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 5; x++) {
                float v = out[c * 20 + y * 5 + x];
                if (y < 2 && x < 3) ok &= same_bits(v, in[c * 6 + y * 3 + x]);
                else pad_ok &= v == 99.0f;
            }
    CHECK(ok, "bilinear with equal sizes is not the identity");
    CHECK(pad_ok, "bilinear wrote outside its strided rows");
}

static void test_resize_up_2x2(void)
{
    /* ratio 2/4 = 0.5: src = -0.25 (→ 0), 0.25, 0.75, 1.25 (i0 = i1 = 1 at the edge),
     * lambda1 = 0, 0.25, 0.75, 0.25. Input [[0, 4], [8, 12]] gives every row
     * [a, a+1, a+3, a+4] and the rows a = 0, 2, 6, 8, all exact. */
    const float in[4] = { 0, 4, 8, 12 };
    const float want[16] = { 0, 1, 3, 4, 2, 3, 5, 6, 6, 7, 9, 10, 8, 9, 11, 12 };
    float out[16];
    transform_resize_bilinear(in, 1, 2, 2, out, 4, 4, 4, 16);
    for (int i = 0; i < 16; i++)
        CHECK(out[i] == want[i], "2x2->4x4 [%d]: got %g want %g", i, (double)out[i], (double)want[i]);

    /* The FMA pattern. a = 1 + 2^-23, b = 3 * 2^-23, weights 0.75 on a, 0.25 on b:
     *   fma(a, 0.75, fl(b * 0.25)) = 0.75 + 6 * 2^-25 exactly = 0.75 + 3 * 2^-24;
     *   fl(fl(a * 0.75) + b/4)     = fl(0.75 + 2^-23 + 3 * 2^-25) → tie → 0.75 + 2^-22;
     *   fma(b, 0.25, fl(a * 0.75)) = fl(0.75 + 7 * 2^-25) → tie → 0.75 + 2^-22.
     * Only torch's pattern gives 0.75 + 3 * 2^-24. Checked horizontally (row [a, b],
     * output column 1 of row 0, where the vertical weights are 1 and 0) and vertically
     * (the transposed input). */
    const float a = 1.0f + 0x1p-23f, b = 3.0f * 0x1p-23f;
    const float fma_want = 0.75f + 3.0f * 0x1p-24f;
    float h_in[4] = { a, b, a, b }, v_in[4] = { a, a, b, b };
    transform_resize_bilinear(h_in, 1, 2, 2, out, 4, 4, 4, 16);
    CHECK(same_bits(out[1], fma_want), "horizontal FMA pattern: got %a want %a", (double)out[1],
          (double)fma_want);
    transform_resize_bilinear(v_in, 1, 2, 2, out, 4, 4, 4, 16);
    CHECK(same_bits(out[4], fma_want), "vertical FMA pattern: got %a want %a", (double)out[4],
          (double)fma_want);
}

static void test_resize_down(void)
{
    /* 3 -> 2, ratio 1.5: src 0.25 (0,1; λ1 .25) and 1.75 (1,2; λ1 .75).
     * 4 -> 2, ratio 2:   src 0.5  (0,1; λ1 .5)  and 2.5  (2,3; λ1 .5).
     * Input rows: 3 rows of x-ramp [0, 2, 4, 6] + 100 * y, 3 x 4 → 2 x 2:
     *   x: (0.5*0 + 0.5*2) = 1, (0.5*4 + 0.5*6) = 5
     *   y: rows 0.25 → 25, 1.75 → 175 */
    float in[12];
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 4; x++) in[y * 4 + x] = (float)(2 * x + 100 * y);
    const float want[4] = { 26, 30, 176, 180 };
    float out[4];
    transform_resize_bilinear(in, 1, 3, 4, out, 2, 2, 2, 4);
    for (int i = 0; i < 4; i++)
        CHECK(out[i] == want[i], "3x4->2x2 [%d]: got %g want %g", i, (double)out[i], (double)want[i]);

    /* 1 -> n: every output row reads row 0 with weights (1, 0) */
    float one[3] = { 1.5f, -2.0f, 7.25f }, col[3 * 4];
    transform_resize_bilinear(one, 1, 1, 3, col, 4, 3, 3, 12);
    int ok = 1;
    for (int i = 0; i < 12; i++) ok &= col[i] == one[i % 3];
    CHECK(ok, "1-row input upsampled vertically is not a copy");
}

static void test_resize_wide(void)
{
    /* Wider than one column block, several channels, strided output, both directions.
     * A dyadic linear ramp f = 1024 y + x + 4096 c is reproduced exactly by bilinear:
     * f at the clamped source coordinates. Up by 2: src = d/2 - 0.25 clamped to
     * [0, n_in - 1]; down by 2: src = 2d + 0.5. */
    enum { C = 2, IH = 3, IW = 700, OH = 6, OW = 1400, SW = 1408 };
    static float in[C * IH * IW], up[C * OH * SW], down[C * IH * IW / 2];
    for (int c = 0; c < C; c++)
        for (int y = 0; y < IH; y++)
            for (int x = 0; x < IW; x++) in[(c * IH + y) * IW + x] = (float)(1024 * y + x + 4096 * c);
    transform_resize_bilinear(in, C, IH, IW, up, OH, OW, SW, (size_t)OH * SW);
    int ok = 1;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < OH; i++)
            for (int j = 0; j < OW; j++) {
                double sy = fmin(fmax(i / 2.0 - 0.25, 0), IH - 1);
                double sx = fmin(fmax(j / 2.0 - 0.25, 0), IW - 1);
                double want = 1024 * sy + sx + 4096 * c;
                float got = up[(size_t)(c * OH + i) * SW + j];
                if (got != want && ok) {
                    CHECK(0, "up c%d (%d,%d): got %g want %g", c, i, j, (double)got, want);
                    ok = 0;
                }
            }
    CHECK(ok, "wide upsample");

    /* 3 x 700 → 3 x 350: rows identity, columns src = 2j + 0.5 */
    transform_resize_bilinear(in, C, IH, IW, down, IH, IW / 2, IW / 2, (size_t)IH * IW / 2);
    ok = 1;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < IH; i++)
            for (int j = 0; j < IW / 2; j++) {
                double want = 1024 * i + (2 * j + 0.5) + 4096 * c;
                ok &= down[(c * IH + i) * (IW / 2) + j] == want;
            }
    CHECK(ok, "wide downsample");
}

/* transform_forward's fused pass (normalising the bytes as the resize reads
 * them) gives the bits of the two stages above, which are held to torch's, down
 * and up, alone and with its rows split over a pool of 2. */
static void test_normalize_resize(void)
{
    enum { H = 61, W = 83, STRIDE = 3 * W + 5 };
    static uint8_t img[H * STRIDE];
    static float norm[3 * H * W], a[3 * 130 * 180], b[3 * 130 * 180];
    unsigned r = 99;
    for (int i = 0; i < H * STRIDE; i++) img[i] = (uint8_t)((r = r * 1103515245u + 12345u) >> 16);
    const float mean[3] = { 0.485f, 0.456f, 0.406f }, sd[3] = { 0.229f, 0.224f, 0.225f };
    transform_normalize(img, STRIDE, H, W, mean, sd, norm);
    static const int sizes[][2] = { { 37, 50 }, { 122, 166 }, { H, W } };
    struct pool *pool = NULL;
    CHECK(pool_open(&pool, 2) == 0, "pool of 2");
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < 3; k++) {
            int oh = sizes[k][0], ow = sizes[k][1], sw = ow + 3;
            size_t sc = (size_t)(oh + 2) * sw;
            memset(a, 0, sizeof a);
            memset(b, 0, sizeof b);
            transform_resize_bilinear(norm, 3, H, W, a, oh, ow, sw, sc);
            ops_use_pool(t ? pool : NULL);
            transform_normalize_resize(img, STRIDE, H, W, mean, sd, b, oh, ow, sw, sc);
            ops_use_pool(NULL);
            CHECK(!memcmp(a, b, sizeof(float) * 3 * sc),
                  "normalize + resize in one pass to %dx%d (%s): the two stages' bits", oh, ow,
                  t ? "2 threads" : "1 thread");
        }
    pool_close(&pool);
}

/* ---- §1.5 rescale ------------------------------------------------------- */

static void test_rescale(void)
{
    /* torchvision resize_boxes(b, (799, 1066), (375, 500)) */
    float b[12] = { 0x1.5p+3f, 0x1.44p+4f, 0x1.8f8p+9f, 0x1.0a8p+10f, 0, 0, 0x1.0a8p+10f,
                    0x1.8f8p+9f, 0x1.4d4cccp+8f, 0x1.b33334p+0f, 0x1.5e7334p+9f, 0x1.8f0cccp+9f };
    const float want[12] = { 0x1.3b327p+2f, 0x1.302152p+3f, 0x1.76c3f8p+8f, 0x1.f45018p+8f, 0, 0,
                             0x1.f4p+8f, 0x1.77p+8f, 0x1.38aa06p+7f, 0x1.9882bap-1f,
                             0x1.48c09cp+8f, 0x1.7693dcp+8f };
    transform_rescale_boxes(b, 3, 799, 1066, 375, 500);
    for (int i = 0; i < 12; i++)
        CHECK(same_bits(b[i], want[i]), "rescale [%d]: got %a want %a", i, (double)b[i],
              (double)want[i]);
}

/* ---- §2.1 cell anchors -------------------------------------------------- */

static void test_anchors_cell(void)
{
    const float ratios[3] = { 0.5f, 1.0f, 2.0f };
    const float sizes[5] = { 32, 64, 128, 256, 512 };
    /* the §2.1 table: per size, ratio 0.5, 1, 2 */
    static const float table[5][3][4] = {
        { { -23, -11, 23, 11 }, { -16, -16, 16, 16 }, { -11, -23, 11, 23 } },
        { { -45, -23, 45, 23 }, { -32, -32, 32, 32 }, { -23, -45, 23, 45 } },
        { { -91, -45, 91, 45 }, { -64, -64, 64, 64 }, { -45, -91, 45, 91 } },
        { { -181, -91, 181, 91 }, { -128, -128, 128, 128 }, { -91, -181, 91, 181 } },
        { { -362, -181, 362, 181 }, { -256, -256, 256, 256 }, { -181, -362, 181, 362 } },
    };
    /* one size per level (resnet FPN): A = 3 */
    for (int s = 0; s < 5; s++) {
        float base[12];
        anchors_cell(&sizes[s], 1, ratios, 3, base);
        for (int r = 0; r < 3; r++)
            for (int k = 0; k < 4; k++)
                CHECK(base[r * 4 + k] == table[s][r][k], "size %g ratio %g [%d]: got %g want %g",
                      (double)sizes[s], (double)ratios[r], k, (double)base[r * 4 + k],
                      (double)table[s][r][k]);
    }
    /* 5 sizes x 3 ratios (mobilenet): ratio-major, a = r * 5 + s */
    float base[60];
    anchors_cell(sizes, 5, ratios, 3, base);
    int ok = 1;
    for (int r = 0; r < 3; r++)
        for (int s = 0; s < 5; s++)
            for (int k = 0; k < 4; k++) ok &= base[(r * 5 + s) * 4 + k] == table[s][r][k];
    CHECK(ok, "15 cell anchors are not ratio-major");
}

/* ---- §2.2-2.3 grid anchors ---------------------------------------------- */

static void test_anchors_grid(void)
{
    /* The 'pool' level of an 800 x 1088 input: 13 x 17 grid, strides 800//13 = 61
     * and 1088//17 = 64. Centres at (x*64, y*61), (y, x, a) order, not clipped. */
    static const float base[12] = { -23, -11, 23, 11, -16, -16, 16, 16, -11, -23, 11, 23 };
    enum { GH = 13, GW = 17, A = 3 };
    static float out[GH * GW * A * 4];
    anchors_grid(base, A, GH, GW, 800 / GH, 1088 / GW, out);
    int ok = 1;
    for (int y = 0; y < GH; y++)
        for (int x = 0; x < GW; x++)
            for (int a = 0; a < A; a++) {
                const float *o = out + ((y * GW + x) * A + a) * 4;
                ok &= o[0] == base[a * 4 + 0] + 64 * x && o[1] == base[a * 4 + 1] + 61 * y &&
                      o[2] == base[a * 4 + 2] + 64 * x && o[3] == base[a * 4 + 3] + 61 * y;
            }
    CHECK(ok, "grid anchors");
    /* spot values written out: last location, ratio 2 */
    const float *last = out + ((12 * GW + 16) * A + 2) * 4;
    CHECK(last[0] == 1013 && last[1] == 709 && last[2] == 1035 && last[3] == 755,
          "last anchor (%g %g %g %g)", (double)last[0], (double)last[1], (double)last[2],
          (double)last[3]);
    CHECK(out[4] == -16 && out[5] == -16, "second anchor at the origin");
}

/* ---- §3.2 flatten ------------------------------------------------------- */

static void test_rpn_flatten(void)
{
    enum { A = 2, H = 2, W = 3 };
    float lg[A * H * W], dl[4 * A * H * W], obj[H * W * A], del[H * W * A * 4];
    for (int a = 0; a < A; a++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) lg[(a * H + y) * W + x] = (float)(100 * a + 10 * y + x);
    for (int ch = 0; ch < 4 * A; ch++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) dl[(ch * H + y) * W + x] = (float)(1000 * ch + 10 * y + x);
    struct fmap L = { lg, A, H, W }, D = { dl, 4 * A, H, W };
    rpn_flatten(&L, &D, A, obj, del);
    /* obj[(y*W + x)*A + a] = 100a + 10y + x; del[...*4 + k] = 1000(4a + k) + 10y + x */
    static const float want_obj[12] = { 0, 100, 1, 101, 2, 102, 10, 110, 11, 111, 12, 112 };
    for (int i = 0; i < 12; i++)
        CHECK(obj[i] == want_obj[i], "obj[%d] = %g want %g", i, (double)obj[i], (double)want_obj[i]);
    static const float want_del_loc4[8] = { 11, 1011, 2011, 3011, 4011, 5011, 6011, 7011 };
    for (int i = 0; i < 8; i++)   /* location (y=1, x=1) = 4: both anchors' 4 codes */
        CHECK(del[4 * A * 4 + i] == want_del_loc4[i], "del loc 4 [%d] = %g want %g", i,
              (double)del[4 * A * 4 + i], (double)want_del_loc4[i]);
    int ok = 1;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int a = 0; a < A; a++)
                for (int k = 0; k < 4; k++)
                    ok &= del[((y * W + x) * A + a) * 4 + k] == 1000 * (4 * a + k) + 10 * y + x;
    CHECK(ok, "delta order (y, x, a, k)");
}

/* ---- §3.3 decode, clip -------------------------------------------------- */

static void test_decode(void)
{
    static const float ref[6 * 4] = {
        0, 0, 10, 20,  -8, -8, 8, 8,  -8, -8, 8, 8,  0, 0, 16, 16,  0, 0, 16, 16,  3, 5, 40, 29,
    };
    static const float codes[6 * 4] = {
        0.1f, -0.2f, 0, 0,  9, 13, 0, 0,  9, 13, 0, 0,  0, 0, 10, 0x1.08a692p+2f,
        0, 0, -10, -3,  0.3f, -0.7f, 0.5f, -0.25f,
    };
    /* torchvision BoxCoder(w).decode_single(codes, ref), torch 1.13.1 */
    static const float want1[6 * 4] = {
        1, -4, 11, 16,                               /* hand: pcx = 1 + 5, pcy = -4 + 10 */
        136, 200, 152, 216,
        136, 200, 152, 216,
        -0x1.ec0002p+8f, -0x1.ec0002p+8f, 0x1.fc0002p+8f, 0x1.fc0002p+8f,
        0x1.fffa0cp+2f, 0x1.e6825p+2f, 0x1.0002fap+3f, 0x1.0cbed8p+3f,
        0x1.0ca0cp+1f, -0x1.24a8d4p+3f, 0x1.f8cf8cp+5f, 0x1.3175a4p+3f,
    };
    static const float want10[6 * 4] = {
        0x1.99998p-4f, -0x1.99998p-2f, 0x1.433334p+3f, 0x1.39999ap+4f,
        0x1.999998p+2f, 0x1.999998p+3f, 0x1.666666p+4f, 0x1.ccccccp+4f,
        0x1.999998p+2f, 0x1.999998p+3f, 0x1.666666p+4f, 0x1.ccccccp+4f,
        -0x1.98e64cp+5f, -0x1.4959b8p+3f, 0x1.0c7326p+6f, 0x1.a4acdcp+4f,
        0x1.bab556p+2f, 0x1.ce0454p+1f, 0x1.22a556p+3f, 0x1.8c7eecp+3f,
        0x1.1509p+1f, 0x1.f3df2p+1f, 0x1.5872p+5f, 0x1.abc18cp+4f,
    };
    const float w1[4] = { 1, 1, 1, 1 }, w10[4] = { 10, 10, 5, 5 };
    float out[6 * 4];
    /* exp-dependent values may differ from torch's SLEEF exp by 1 ulp (§3.3); the
     * rows with dw = dh = 0 (exp(0) = 1) must be bit-exact. */
    const int exact_rows = 3;
    box_decode(ref, codes, 6, 4, w1, out);
    for (int i = 0; i < 24; i++) {
        float want = want1[i];
        int ok = i < 4 * exact_rows ? same_bits(out[i], want) : within_ulps(out[i], want, 2);
        CHECK(ok, "decode w=1 [%d]: got %a want %a", i, (double)out[i], (double)want);
    }
    box_decode(ref, codes, 6, 4, w10, out);
    for (int i = 0; i < 24; i++) {
        float want = want10[i];
        int ok = i < 4 * exact_rows ? same_bits(out[i], want) : within_ulps(out[i], want, 2);
        CHECK(ok, "decode w=10,5 [%d]: got %a want %a", i, (double)out[i], (double)want);
    }
    /* 9 / 10 is not 9 * fl(0.1): x1 = 16 * fl(0.9) - 8 = 0x1.999998p+2 by division,
     * and 16 * fl(9 * fl(0.1)) - 8 = 0x1.99999cp+2 by a reciprocal */
    CHECK(same_bits(out[4], 0x1.999998p+2f), "decode divides by the weights");

    /* The clamp is one-sided at fl(log(1000/16)): dw = 10, dw = clip and any value
     * above give the same box; a large negative dw is not clamped. */
    const float r[4] = { 0, 0, 16, 16 };
    const float c_hi[3 * 4] = { 0, 0, 10, 1e30f, 0, 0, 0x1.08a692p+2f, 0x1.08a692p+2f,
                                0, 0, -10, 0 };
    float o[12];
    box_decode(r, c_hi, 1, 4, w1, o);
    box_decode(r, c_hi + 4, 1, 4, w1, o + 4);
    box_decode(r, c_hi + 8, 1, 4, w1, o + 8);
    CHECK(memcmp(o, o + 4, 4 * sizeof(float)) == 0, "clamp at log(1000/16)");
    /* 16 * exp(-10) = 7.3e-4; a symmetric clamp would give 16 / 62.5 = 0.256 */
    CHECK(o[10] - o[8] > 7e-4f && o[10] - o[8] < 7.5e-4f, "no lower clamp: width %g",
          (double)(o[10] - o[8]));

    /* code_stride: codes of one class out of [n, 4K] rows (K = 3, class 1) */
    float wide[2 * 12] = { 0 };
    for (int k = 0; k < 4; k++) { wide[4 + k] = codes[4 + k]; wide[12 + 4 + k] = codes[8 + k]; }
    box_decode(ref + 4, wide + 4, 2, 12, w10, out);
    CHECK(memcmp(out, want10 + 4, 8 * sizeof(float)) == 0, "decode with code_stride 12");
}

static void test_clip(void)
{
    float b[4 * 4] = {
        -5, -3, 700, 500,          /* → 0, 0, 640, 480 */
        1.5f, 2.5f, 639.5f, 479.5f,/* inside: unchanged */
        640, 480, 641, 481,        /* on / past the far edge */
        NAN, -0.0f, -INFINITY, INFINITY,
    };
    box_clip(b, 4, 480, 640);
    const float want[12] = { 0, 0, 640, 480, 1.5f, 2.5f, 639.5f, 479.5f, 640, 480, 640, 480 };
    for (int i = 0; i < 12; i++)
        CHECK(b[i] == want[i], "clip [%d]: got %g want %g", i, (double)b[i], (double)want[i]);
    /* torch.clamp keeps NaN and -0.0 (max(v, 0) returns v when v == 0) */
    CHECK(isnan(b[12]), "clip NaN stays NaN");
    CHECK(b[13] == 0 && signbit(b[13]), "clip -0 stays -0");
    CHECK(b[14] == 0 && b[15] == 480, "clip infinities");
}

/* ---- §3.4 filter_proposals ---------------------------------------------- */

/* torch.sigmoid(tensor([3, 2.5, 1, 0.5, 0])) */
static const float SIG3 = 0x1.e7b7ccp-1f, SIG25 = 0x1.d9291ep-1f, SIG1 = 0x1.764d5p-1f,
                   SIG05 = 0x1.3eb2fep-1f, SIG0 = 0.5f;

static void test_rpn_filter(void)
{
    /* Two levels of 5 anchors, image 100 x 100, pre_nms_top_n 4:
     *  level 0: 0 (10,10,50,50) logit 2     suppressed by 2 (IoU 1520/1680 = .905)
     *           1 (0,0,10,10)   logit -1    dropped by the top-4
     *           2 (12,10,52,50) logit 3     kept
     *           3 (-20,60,30,130) logit 1   kept, clipped to (0,60,30,100)
     *           4 (60,0,90,30)  logit 0     kept
     *  level 1: 5 (10,10,50,50) logit .5    kept: same box as 0 but another level
     *           6 (70,70,70.0005,90) logit 4  removed: width < 1e-3
     *           7 (0,20,1e-3f,40) logit 2.5 kept: width == 1e-3f (>=)
     *           8 (0,50,1e-3f-ulp,60) logit 1.5  removed: width just below
     *           9 (200,200,300,300) logit -3  dropped by the top-4
     * Survivors by descending score: 2, 7, 3, 5, 4. */
    const float dec[10 * 4] = {
        10, 10, 50, 50,  0, 0, 10, 10,  12, 10, 52, 50,  -20, 60, 30, 130,  60, 0, 90, 30,
        10, 10, 50, 50,  70, 70, 70.0005f, 90,  0, 20, 1e-3f, 40,
        0, 50, 0x1.0624dcp-10f, 60,  200, 200, 300, 300,
    };
    const float logit[10] = { 2, -1, 3, 1, 0, 0.5f, 4, 2.5f, 1.5f, -3 };
    const int counts[2] = { 5, 5 };
    CHECK(0x1.0624dcp-10f < 1e-3f && nextafterf(0x1.0624dcp-10f, 1) == 1e-3f, "test setup: ulp below 1e-3f");

    const int order[5] = { 2, 7, 3, 5, 4 };
    const float sc[5] = { SIG3, SIG25, SIG1, SIG05, SIG0 };
    const float clipped3[4] = { 0, 60, 30, 100 };

    struct arena ar;
    arena_init(&ar);
    float ob[10 * 4], os[10];
    struct rpn_params p = { 4, 10, 0.7f, 0.0f };
    int P = rpn_filter_proposals(dec, logit, counts, 2, 100, 100, &p, ob, os, &ar);
    CHECK(P == 5, "filter: %d proposals, want 5", P);
    for (int j = 0; j < P && j < 5; j++) {
        const float *want = order[j] == 3 ? clipped3 : dec + 4 * order[j];
        CHECK(memcmp(ob + 4 * j, want, 4 * sizeof(float)) == 0,
              "filter [%d]: box (%g %g %g %g), want anchor %d", j, (double)ob[4 * j],
              (double)ob[4 * j + 1], (double)ob[4 * j + 2], (double)ob[4 * j + 3], order[j]);
        /* torch's sigmoid uses SLEEF exp: allow 1 ulp (§10.2) */
        CHECK(within_ulps(os[j], sc[j], 1), "filter [%d]: score %a want %a", j,
              (double)os[j], (double)sc[j]);
    }

    /* global top-n after NMS */
    p.post_nms_top_n = 3;
    P = rpn_filter_proposals(dec, logit, counts, 2, 100, 100, &p, ob, os, &ar);
    CHECK(P == 3 && ob[0] == 12 && ob[4] == 0 && ob[7] == 40 && ob[9] == 60,
          "post_nms_top_n 3: P = %d", P);

    /* score threshold is >= in f32: a threshold equal to fl(sigmoid(0.5)) keeps it */
    p.post_nms_top_n = 10;
    float s05;
    {
        float one_box[4] = { 10, 10, 50, 50 }, l = 0.5f;
        int c1 = 1;
        struct rpn_params q = { 1, 1, 0.7f, 0.0f };
        rpn_filter_proposals(one_box, &l, &c1, 1, 100, 100, &q, ob, &s05, &ar);
    }
    p.score_thresh = s05;
    P = rpn_filter_proposals(dec, logit, counts, 2, 100, 100, &p, ob, os, &ar);
    CHECK(P == 4, "score >= threshold keeps the equal score: P = %d", P);
    p.score_thresh = nextafterf(s05, 1);
    P = rpn_filter_proposals(dec, logit, counts, 2, 100, 100, &p, ob, os, &ar);
    CHECK(P == 3, "score below threshold dropped: P = %d", P);

    /* the whole top-k goes through: pre_nms_top_n larger than the levels */
    p.score_thresh = 0;
    p.pre_nms_top_n = 1000;
    P = rpn_filter_proposals(dec, logit, counts, 2, 100, 100, &p, ob, os, &ar);
    CHECK(P == 6, "pre_nms_top_n 1000: P = %d, want 6 (adds anchor 1)", P);

    arena_release(&ar);
}

int main(void)
{
    test_resized_size();
    test_normalize();
    test_resize_identity();
    test_resize_up_2x2();
    test_resize_down();
    test_resize_wide();
    test_normalize_resize();
    test_rescale();
    test_anchors_cell();
    test_anchors_grid();
    test_rpn_flatten();
    test_decode();
    test_clip();
    test_rpn_filter();
    return check_summary("test_transform_rpn");
}
