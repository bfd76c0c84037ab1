/*
 * test_video_image.c — video_load_image(): exact RGB from a lossless file,
 * colour range and matrix (full-range JPEG, limited-range BT.709 video),
 * EXIF orientation, file names FFmpeg would misread, and clean failures on
 * missing, empty, truncated and non-image inputs.
 *
 * The test picture is four quadrants: red, green / blue, white. Encoded
 * variants are made with the ffmpeg command-line tool; without it those
 * checks are skipped (and said so).
 */
#include "../video/video.h"
#include "check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define W 64
#define H 48

static char dir[256];

static const uint8_t QUAD[4][3] = { { 255, 0, 0 }, { 0, 255, 0 }, { 0, 0, 255 }, { 255, 255, 255 } };

/* dir/name; the result stays valid for the next three calls only. */
static const char *path_of(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static int write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc(len > 0 ? (size_t)len : 1);
    *n = d ? fread(d, 1, (size_t)len, f) : 0;
    fclose(f);
    return d;
}

static int write_quadrant_ppm(const char *path)
{
    char hdr[32];
    int hl = snprintf(hdr, sizeof hdr, "P6\n%d %d\n255\n", W, H);
    size_t n = (size_t)hl + 3 * W * H;
    uint8_t *d = malloc(n);
    memcpy(d, hdr, (size_t)hl);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            memcpy(d + hl + 3 * (y * W + x), QUAD[(y >= H / 2) * 2 + (x >= W / 2)], 3);
    int r = write_file(path, d, n);
    free(d);
    return r;
}

/* Pixel (x, y) within tol of rgb[3]. */
static int near(const uint8_t *img, int w, int x, int y, const uint8_t *want, int tol)
{
    const uint8_t *p = img + 3 * ((size_t)y * w + x);
    for (int c = 0; c < 3; c++)
        if (abs(p[c] - want[c]) > tol)
            return 0;
    return 1;
}

/* The quadrant centres of a w x h image are tl, tr, bl, br (indices into QUAD). */
static void check_quadrants(const char *what, const uint8_t *img, int w, int h, int tl, int tr,
                            int bl, int br, int tol)
{
    CHECK(near(img, w, w / 4, h / 4, QUAD[tl], tol), "%s: top-left colour", what);
    CHECK(near(img, w, 3 * w / 4, h / 4, QUAD[tr], tol), "%s: top-right colour", what);
    CHECK(near(img, w, w / 4, 3 * h / 4, QUAD[bl], tol), "%s: bottom-left colour", what);
    CHECK(near(img, w, 3 * w / 4, 3 * h / 4, QUAD[br], tol), "%s: bottom-right colour", what);
}

static void expect_failure(const char *what, const char *path)
{
    uint8_t *rgb = (uint8_t *)1;
    int w = -1, h = -1;
    int r = video_load_image(path, &rgb, &w, &h);
    CHECK(r < 0 && rgb == NULL && w == 0 && h == 0, "%s: r=%d w=%d h=%d", what, r, w, h);
    free(r < 0 ? NULL : rgb);
}

static int ffmpeg(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v error -y %s", args);
    return system(cmd) == 0 ? 0 : -1;
}

/* Insert an EXIF APP1 segment with Orientation = o after a JPEG's SOI. */
static int add_exif(const char *src, const char *dst, int o)
{
    size_t n;
    uint8_t *d = read_file(src, &n);
    if (!d || n < 2)
        return free(d), -1;
    static const uint8_t head[] = { 0xff, 0xe1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0,
                                    'I', 'I', 42, 0, 8, 0, 0, 0, /* TIFF, IFD at 8 */
                                    1, 0,                        /* one entry */
                                    0x12, 0x01, 3, 0, 1, 0, 0, 0 /* 0x0112 SHORT x1 */ };
    uint8_t seg[sizeof head + 8];
    memcpy(seg, head, sizeof head);
    uint8_t tail[8] = { (uint8_t)o, 0, 0, 0, 0, 0, 0, 0 }; /* value, next IFD = 0 */
    memcpy(seg + sizeof head, tail, 8);
    seg[3] = (uint8_t)(sizeof seg - 2);
    uint8_t *out = malloc(n + sizeof seg);
    memcpy(out, d, 2);
    memcpy(out + 2, seg, sizeof seg);
    memcpy(out + 2 + sizeof seg, d + 2, n - 2);
    int r = write_file(dst, out, n + sizeof seg);
    free(out);
    free(d);
    return r;
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/vdetect-image-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    video_set_log_level(NULL);
    uint8_t *img = NULL;
    int w, h, r;

    /* lossless: exact */
    char ppm[512];
    snprintf(ppm, sizeof ppm, "%s", path_of("quad.ppm"));
    CHECK(write_quadrant_ppm(ppm) == 0, "write %s", ppm);
    r = video_load_image(ppm, &img, &w, &h);
    CHECK(r == 0 && w == W && h == H, "ppm: r=%d %dx%d", r, w, h);
    if (r == 0) {
        int diff = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                diff += !near(img, W, x, y, QUAD[(y >= H / 2) * 2 + (x >= W / 2)], 0);
        CHECK(diff == 0, "ppm: %d pixels differ", diff);
    }
    free(img);

    /* names FFmpeg would read as a pattern or a protocol */
    char odd[600];
    snprintf(odd, sizeof odd, "%s/img%%03d:x.ppm", dir);
    rename(ppm, odd);
    r = video_load_image(odd, &img, &w, &h);
    CHECK(r == 0 && w == W && h == H, "'%%' and ':' in the name: r=%d", r);
    free(img);
    rename(odd, ppm);

    /* failures */
    expect_failure("missing file", path_of("missing.png"));
    expect_failure("directory", dir);
    CHECK(write_file(path_of("empty.png"), "", 0) == 0, "write empty");
    expect_failure("empty file", path_of("empty.png"));
    CHECK(write_file(path_of("text.jpg"), "hello, world\n", 13) == 0, "write text");
    expect_failure("text file", path_of("text.jpg"));
    {
        size_t n;
        uint8_t *d = read_file(ppm, &n);
        CHECK(d && write_file(path_of("trunc.ppm"), d, n / 2) == 0, "write truncated ppm");
        free(d);
        expect_failure("truncated ppm", path_of("trunc.ppm"));
    }

    char args[1600];
    if (system("ffmpeg -version >/dev/null 2>&1") != 0) {
        printf("SKIP: encoded formats (no ffmpeg command)\n");
        goto done;
    }

    /* full-range JPEG (yuvj420p): red must stay red */
    snprintf(args, sizeof args, "-i '%s' -q:v 2 '%s'", ppm, path_of("quad.jpg"));
    CHECK(ffmpeg(args) == 0, "ffmpeg jpeg");
    r = video_load_image(path_of("quad.jpg"), &img, &w, &h);
    CHECK(r == 0 && w == W && h == H, "jpeg: r=%d %dx%d", r, w, h);
    if (r == 0)
        check_quadrants("jpeg", img, w, h, 0, 1, 2, 3, 6);
    free(img);

    /* limited-range BT.709 4:4:4 in a lossless codec, flagged as such */
    snprintf(args, sizeof args,
             "-i '%s' -vf scale=out_range=tv:out_color_matrix=bt709,format=yuv444p "
             "-colorspace bt709 -color_range tv -c:v ffv1 '%s'",
             ppm, path_of("bt709.mkv"));
    CHECK(ffmpeg(args) == 0, "ffmpeg bt709");
    r = video_load_image(path_of("bt709.mkv"), &img, &w, &h);
    CHECK(r == 0 && w == W && h == H, "bt709 mkv: r=%d", r);
    if (r == 0)
        check_quadrants("limited-range bt709", img, w, h, 0, 1, 2, 3, 3);
    free(img);

    /* full-range YUV that is not a YUVJ format: the range flag alone says so */
    snprintf(args, sizeof args,
             "-i '%s' -vf scale=out_range=pc,format=yuv444p -color_range pc -c:v ffv1 '%s'", ppm,
             path_of("pc.mkv"));
    CHECK(ffmpeg(args) == 0, "ffmpeg full range");
    r = video_load_image(path_of("pc.mkv"), &img, &w, &h);
    CHECK(r == 0, "full-range mkv: r=%d", r);
    if (r == 0)
        check_quadrants("full-range yuv444p", img, w, h, 0, 1, 2, 3, 3);
    free(img);

    /* EXIF orientation: 3 = rotate 180, 6 = rotate 90 clockwise, 8 = 90 counter-clockwise,
     * 2 = mirrored left-right */
    static const struct {
        int o, w, h, tl, tr, bl, br;
    } ex[] = {
        { 1, W, H, 0, 1, 2, 3 }, { 2, W, H, 1, 0, 3, 2 }, { 3, W, H, 3, 2, 1, 0 },
        { 6, H, W, 2, 0, 3, 1 }, { 8, H, W, 1, 3, 0, 2 },
    };
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        char name[32], what[32];
        snprintf(name, sizeof name, "exif%d.jpg", ex[i].o);
        snprintf(what, sizeof what, "EXIF orientation %d", ex[i].o);
        CHECK(add_exif(path_of("quad.jpg"), path_of(name), ex[i].o) == 0, "write %s", name);
        r = video_load_image(path_of(name), &img, &w, &h);
        CHECK(r == 0 && w == ex[i].w && h == ex[i].h, "%s: r=%d %dx%d", what, r, w, h);
        if (r == 0 && w == ex[i].w)
            check_quadrants(what, img, w, h, ex[i].tl, ex[i].tr, ex[i].bl, ex[i].br, 6);
        free(img);
    }

    /* truncated JPEG: an error, not a half-grey picture */
    {
        size_t n;
        uint8_t *d = read_file(path_of("quad.jpg"), &n);
        CHECK(d && write_file(path_of("trunc.jpg"), d, n * 2 / 3) == 0, "write truncated jpeg");
        free(d);
        expect_failure("truncated jpeg", path_of("trunc.jpg"));
    }
    /* audio only */
    snprintf(args, sizeof args, "-f lavfi -i sine=d=0.1 '%s'", path_of("a.wav"));
    CHECK(ffmpeg(args) == 0, "ffmpeg wav");
    expect_failure("audio-only file", path_of("a.wav"));

done:
    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    if (system(args) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary("test_video_image");
}
