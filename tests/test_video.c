/*
 * test_video.c — video/ sources, frame pool and writer on media generated at
 * test time with the ffmpeg CLI into a temporary directory: frame counts and
 * pts against ffprobe, VFR, rotation, odd sizes, colour range, damaged and
 * missing inputs, lavfi live sources, the writer round trip (timestamps,
 * audio stream copy, playability), the stream-copy queue's bound and failure
 * cleanup. The frame pool has its own test (test_frame_pool.c, under TSan).
 */
#include "check.h"
#include "shell.h"
#include "../video/video.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *dir;   /* the scratch directory (tests/shell.c) */


/* ffprobe's video frame pts in seconds (best effort timestamp); count returned. */
static int probe_pts(const char *file, double *out, int max)
{
    char *s = test_capture("ffprobe -v error -select_streams v:0 -show_entries "
                      "frame=best_effort_timestamp_time -of csv=p=0 '%s'",
                      file);
    if (!s)
        return -1;
    int n = 0;
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        if (!*line || *line == ',')
            continue;
        if (n < max)
            out[n] = strtod(line, NULL);
        n++;
    }
    free(s);
    return n;
}

static double probe_double(const char *entries, const char *sel, const char *file)
{
    char *s = test_capture("ffprobe -v error %s -show_entries %s -of csv=p=0 '%s'", sel, entries, file);
    char *end = s;
    double v = s ? strtod(s, &end) : NAN;
    if (!s || end == s)
        v = NAN; /* "N/A" */
    free(s);
    return v;
}

/* A video stream's duration: the stream's (mp4), else its DURATION tag (mkv). */
static double probe_video_duration(const char *file)
{
    double d = probe_double("stream=duration", "-select_streams v:0", file);
    if (!isnan(d))
        return d;
    char *s = test_capture("ffprobe -v error -select_streams v:0 -show_entries stream_tags=DURATION "
                      "-of csv=p=0 '%s'", file);
    int hh, mm;
    double ss;
    if (s && sscanf(s, "%d:%d:%lf", &hh, &mm, &ss) == 3)
        d = hh * 3600.0 + mm * 60 + ss;
    free(s);
    return d;
}

static char *probe_str(const char *entries, const char *sel, const char *file)
{
    char *s = test_capture("ffprobe -v error %s -show_entries %s -of csv=p=0 '%s'", sel, entries, file);
    if (s)
        s[strcspn(s, "\r\n")] = 0;
    return s;
}

/* Time covered by a stream's packets: max(pts + duration) - min(pts), s. */
static double probe_span(const char *file, const char *stream)
{
    char *s = test_capture("ffprobe -v error -select_streams %s -show_entries "
                      "packet=pts_time,duration_time -of csv=p=0 '%s'",
                      stream, file);
    if (!s)
        return NAN;
    double lo = INFINITY, hi = -INFINITY;
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        char *end;
        double p = strtod(line, &end);
        if (end == line)
            continue;
        double d = *end == ',' ? strtod(end + 1, NULL) : 0;
        if (p < lo)
            lo = p;
        if (p + d > hi)
            hi = p + d;
    }
    free(s);
    return hi > lo ? hi - lo : NAN;
}

struct read_result {
    int n, err, w, h;
    double pts[512];
    struct video_info info; /* codec/format pointers cleared: they die with the source */
    char codec[32];
    double rgb0[3]; /* mean colour of the first frame */
    struct video_copy_stats copy; /* the writer's stream-copy queue, at its close */
};

/* Read every frame of input; optionally write them to out. */
static int read_all(const char *input, const char *out, struct read_result *r,
                    const struct video_writer_options *wo)
{
    memset(r, 0, sizeof *r);
    struct video_source *s = NULL;
    struct video_source_options o = { .input = input };
    r->err = video_open(&s, &o);
    if (r->err < 0)
        return r->err;
    r->info = *video_source_info(s);
    snprintf(r->codec, sizeof r->codec, "%s", r->info.codec);
    r->info.codec = r->info.format = NULL;
    r->w = r->info.width;
    r->h = r->info.height;
    struct video_pool *pool = NULL;
    struct video_writer *w = NULL;
    if (video_pool_open(&pool, 2, r->w, r->h) < 0) {
        video_close(&s);
        return r->err = -1;
    }
    if (out && (r->err = video_writer_open(&w, out, s, wo)) < 0)
        goto done;
    for (;;) {
        struct video_frame *f = video_pool_get(pool);
        int ret = video_read(s, f);
        if (ret == 0) {
            if (r->n == 0) {
                for (int c = 0; c < 3; c++) {
                    double sum = 0;
                    for (int i = 0; i < r->w * r->h; i++)
                        sum += f->rgb[3 * i + c];
                    r->rgb0[c] = sum / (r->w * r->h);
                }
            }
            if (f->index != r->n)
                r->err = -100;
            if (r->n < 512)
                r->pts[r->n] = f->pts == VIDEO_NOPTS
                                   ? NAN
                                   : f->pts * (double)r->info.time_base_num / r->info.time_base_den;
            r->n++;
            if (w && (ret = video_writer_write(w, f)) < 0)
                r->err = ret;
        }
        video_pool_put(pool, f);
        if (ret == VIDEO_EOF)
            break;
        if (ret < 0) {
            r->err = ret;
            break;
        }
        if (r->err)
            break;
    }
    if (w) {
        video_writer_copy_stats(w, &r->copy);
        int ret = video_writer_close(&w);
        if (!r->err)
            r->err = ret;
    }
done:
    video_writer_abort(&w);
    video_pool_close(&pool);
    video_close(&s);
    return r->err;
}

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void check_pts_equal(const char *what, const char *file, const struct read_result *r)
{
    static double ref[1024];
    int n = probe_pts(file, ref, 1024);
    CHECK(n == r->n, "%s: %d frames read, ffprobe says %d", what, r->n, n);
    int bad = 0;
    for (int i = 0; i < n && i < r->n && i < 512; i++)
        if (!(fabs(ref[i] - r->pts[i]) < 1e-4)) {
            if (!bad)
                fprintf(stderr, "%s: frame %d pts %.6f, ffprobe %.6f\n", what, i, r->pts[i],
                        ref[i]);
            bad++;
        }
    CHECK(bad == 0, "%s: %d frames with pts unlike ffprobe's", what, bad);
}

/* ---- sources ---- */

static void test_basic(void)
{
    struct read_result r;
    const char *f = test_path("av.mp4");
    CHECK(read_all(f, NULL, &r, NULL) == VIDEO_EOF || r.err == 0, "read av.mp4: %d", r.err);
    CHECK(r.w == 160 && r.h == 120, "av.mp4 size %dx%d", r.w, r.h);
    CHECK(r.n == 50, "av.mp4: %d frames", r.n);
    CHECK(fabs(r.info.fps - 25) < 1e-6, "fps %g", r.info.fps);
    CHECK(r.info.live == 0 && r.info.rotation == 0, "live %d rot %d", r.info.live,
          r.info.rotation);
    CHECK(r.info.nb_frames == 50, "nb_frames %lld", (long long)r.info.nb_frames);
    CHECK(fabs(r.info.duration - 2.0) < 0.05, "duration %g", r.info.duration);
    CHECK(!strcmp(r.codec, "h264"), "codec %s", r.codec);
    check_pts_equal("av.mp4", f, &r);

    /* realtime = 1 paces a file like ffmpeg -re: 10 frames at 25 fps */
    struct video_source *s = NULL;
    struct video_source_options o = { .input = f, .realtime = 1 };
    if (video_open(&s, &o) == 0) {
        struct video_pool *pool = NULL;
        video_pool_open(&pool, 1, 160, 120);
        struct video_frame *fr = video_pool_get(pool);
        double t0 = video_now();
        for (int i = 0; i < 11; i++)
            video_read(s, fr);
        double dt = video_now() - t0;
        CHECK(dt > 0.38 && dt < 0.8, "realtime file: 10 frame intervals in %.3f s", dt);
        video_pool_put(pool, fr);
        video_pool_close(&pool);
        video_close(&s);
    }

    f = test_path("vfr.mkv");
    read_all(f, NULL, &r, NULL);
    CHECK(r.err == 0 && r.n == 50, "vfr.mkv: err %d, %d frames", r.err, r.n);
    check_pts_equal("vfr.mkv", f, &r);

    f = test_path("odd.mkv");
    read_all(f, NULL, &r, NULL);
    CHECK(r.err == 0 && r.w == 333 && r.h == 247 && r.n == 10, "odd.mkv: err %d %dx%d n %d",
          r.err, r.w, r.h, r.n);
}

/* Mean absolute difference between our first frame and ffmpeg's own
 * (auto-rotated) RGB decode of it. */
static double diff_with_ffmpeg(const char *file, int *w, int *h)
{
    struct video_source *s = NULL;
    struct video_source_options o = { .input = file };
    if (video_open(&s, &o) < 0)
        return 1e9;
    *w = video_source_info(s)->width;
    *h = video_source_info(s)->height;
    struct video_pool *pool = NULL;
    video_pool_open(&pool, 1, *w, *h);
    struct video_frame *f = video_pool_get(pool);
    double d = 1e9;
    size_t n = (size_t)*w * *h * 3;
    uint8_t *ref = malloc(n);
    const char *raw = test_path("ref.rgb");
    if (video_read(s, f) == 0 &&
        test_sh("ffmpeg -v error -y -i '%s' -frames:v 1 -f rawvideo -pix_fmt rgb24 '%s'", file,
           raw) == 0) {
        FILE *fp = fopen(raw, "rb");
        if (fp && fread(ref, 1, n, fp) == n) {
            double sum = 0;
            for (size_t i = 0; i < n; i++)
                sum += abs((int)ref[i] - (int)f->rgb[i]);
            d = sum / n;
        }
        if (fp)
            fclose(fp);
    }
    free(ref);
    video_pool_put(pool, f);
    video_pool_close(&pool);
    video_close(&s);
    return d;
}

/* First frame of file as RGB (malloc'ed), or NULL. */
static uint8_t *first_frame(const char *file, int *w, int *h, int *rotation)
{
    struct video_source *s = NULL;
    struct video_source_options o = { .input = file };
    if (video_open(&s, &o) < 0)
        return NULL;
    *w = video_source_info(s)->width;
    *h = video_source_info(s)->height;
    *rotation = video_source_info(s)->rotation;
    struct video_pool *pool = NULL;
    video_pool_open(&pool, 1, *w, *h);
    struct video_frame *f = video_pool_get(pool);
    uint8_t *rgb = malloc((size_t)*w * *h * 3);
    if (video_read(s, f) == 0)
        memcpy(rgb, f->rgb, (size_t)*w * *h * 3);
    else
        rgb = (free(rgb), NULL);
    video_pool_put(pool, f);
    video_pool_close(&pool);
    video_close(&s);
    return rgb;
}

/* Is b (bw x bh) exactly a turned clockwise by deg? */
static int is_turned(const uint8_t *a, int aw, int ah, const uint8_t *b, int bw, int bh, int deg)
{
    if ((deg % 180 ? ah : aw) != bw || (deg % 180 ? aw : ah) != bh)
        return 0;
    for (int y = 0; y < ah; y++)
        for (int x = 0; x < aw; x++) {
            int X = deg == 90 ? ah - 1 - y : deg == 270 ? y : deg == 180 ? aw - 1 - x : x;
            int Y = deg == 90 ? x : deg == 270 ? aw - 1 - x : deg == 180 ? ah - 1 - y : y;
            if (memcmp(a + ((size_t)y * aw + x) * 3, b + ((size_t)Y * bw + X) * 3, 3))
                return 0;
        }
    return 1;
}

static void test_rotation(void)
{
    /* ffprobe's "rotation=90" (display matrix turning counter-clockwise, as
     * ffmpeg 5.1 writes for -metadata rotate=90) is shown by turning the
     * picture 90 degrees counter-clockwise = 270 clockwise; phone portrait
     * video (rotation=-90) is the 90 clockwise case. */
    int w0, h0, r0, w, h, r;
    uint8_t *base = first_frame(test_path("base.mp4"), &w0, &h0, &r0);
    uint8_t *rot = first_frame(test_path("rot.mp4"), &w, &h, &r);
    CHECK(base && rot && w == 120 && h == 160, "rotated clip comes out %dx%d, want 120x160", w, h);
    CHECK(r == 270, "rot.mp4: rotation %d, want 270", r);
    CHECK(base && rot && is_turned(base, w0, h0, rot, w, h, 270), "rot.mp4 = base turned 270");
    free(rot);
    rot = first_frame(test_path("rot270.mp4"), &w, &h, &r);
    CHECK(r == 90, "rot270.mp4: rotation %d, want 90", r);
    CHECK(base && rot && is_turned(base, w0, h0, rot, w, h, 90), "rot270.mp4 = base turned 90");
    free(rot);
    free(base);
    /* and the same orientation as ffmpeg's own autorotation (conversion
     * details differ a little: ffmpeg's default scaler flags) */
    double d = diff_with_ffmpeg(test_path("rot.mp4"), &w, &h);
    CHECK(w == 120 && h == 160 && d < 8, "rot.mp4 vs ffmpeg autorotated: %.2f per sample", d);
    d = diff_with_ffmpeg(test_path("rot270.mp4"), &w, &h);
    CHECK(w == 120 && h == 160 && d < 8, "rot270.mp4 vs ffmpeg autorotated: %.2f", d);
}

static void test_colour(void)
{
    static const char *names[] = { "red_tv.mkv", "red_pc.mkv", "red_709.mkv" };
    for (int i = 0; i < 3; i++) {
        struct read_result r;
        read_all(test_path(names[i]), NULL, &r, NULL);
        CHECK(r.err == 0 && r.n > 0, "%s: err %d", names[i], r.err);
        CHECK(fabs(r.rgb0[0] - 255) < 4 && r.rgb0[1] < 4 && r.rgb0[2] < 4,
              "%s: red came out as (%.1f, %.1f, %.1f)", names[i], r.rgb0[0], r.rgb0[1],
              r.rgb0[2]);
    }
}

/* video_open(input) fails, printing exactly one line that contains want. */
static void expect_open_error(const char *input, const char *want)
{
    struct video_source *s = (struct video_source *)1;
    struct video_source_options o = { .input = input };
    const char *log = test_path("stderr.txt");
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    dup2(fd, 2);
    close(fd);
    int ret = video_open(&s, &o);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char msg[512] = "";
    FILE *fp = fopen(log, "r");
    size_t n = fp ? fread(msg, 1, sizeof msg - 1, fp) : 0;
    msg[n] = 0;
    if (fp)
        fclose(fp);
    CHECK(ret < 0 && s == NULL, "%s: video_open returned %d", input, ret);
    int lines = 0;
    for (char *c = msg; *c; c++)
        lines += *c == '\n';
    CHECK(lines == 1 && !strncmp(msg, "video ", 6) && (!want || strstr(msg, want)),
          "%s: message \"%s\" (want one line with \"%s\")", input, msg, want ? want : "");
}

static void test_bad_inputs(void)
{
    expect_open_error(test_path("missing.mp4"), "No such file");
    expect_open_error(test_path("garbage.mp4"), "not a video");
    expect_open_error(test_path("trunc.mp4"), "not a video");
    expect_open_error(test_path("audio.m4a"), "no video stream");
    expect_open_error("/dev/video9", "No such file");
    expect_open_error("webcam:7", "--list-devices");
    expect_open_error("webcam:7", "/dev/video7: No such file");
    expect_open_error("lavfi:nosuchfilter", "invalid filter graph: no filter named 'nosuchfilter'");
    expect_open_error("lavfi:testsrc2=size=64x48,nosuchfilter2=x=1",
                      "no filter named 'nosuchfilter2'");
    expect_open_error("lavfi:testsrc2=size=nonsense", "invalid filter graph");
    expect_open_error(dir, "Is a directory");
    FILE *null = fopen("/dev/null", "w");
    CHECK(video_list_devices(null) >= 0, "list devices works without devices");
    if (access("/dev/video0", F_OK) != 0)
        CHECK(video_list_formats("webcam", null) < 0, "list formats of a missing device fails");
    fclose(null);
    expect_open_error("webcam:x", "bad device name");

    /* A truncated file: either refuses to open or ends in an error. */
    struct read_result r;
    int ret = read_all(test_path("trunc_fs.mp4"), NULL, &r, NULL);
    CHECK(ret < 0, "truncated faststart mp4: %d after %d frames", ret, r.n);
}

static void test_lavfi(void)
{
    struct video_source *s = NULL;
    struct video_source_options o = { .input = "lavfi:testsrc2=size=64x48:rate=50" };
    CHECK(video_open(&s, &o) == 0, "lavfi open");
    if (!s)
        return;
    const struct video_info *vi = video_source_info(s);
    CHECK(vi->live == 1 && vi->width == 64 && vi->height == 48, "lavfi live %d %dx%d", vi->live,
          vi->width, vi->height);
    struct video_pool *pool = NULL;
    video_pool_open(&pool, 1, 64, 48);
    struct video_frame *f = video_pool_get(pool);
    double t0 = video_now();
    int ok = 1;
    for (int i = 0; i < 10 && ok; i++)
        ok = video_read(s, f) == 0 && f->index == i && fabs(f->pts_sec - i * 0.02) < 1e-6;
    double dt = video_now() - t0;
    CHECK(ok, "lavfi frames in order");
    CHECK(dt > 0.15 && dt < 0.6, "lavfi paced to 50 fps: 10 frames in %.3f s", dt);
    /* an interrupt makes the (paced) read return at once */
    video_interrupt(s);
    t0 = video_now();
    CHECK(video_read(s, f) < 0, "read after interrupt fails");
    CHECK(video_now() - t0 < 0.1, "interrupt is prompt");
    video_pool_put(pool, f);
    video_pool_close(&pool);
    video_close(&s);
    video_close(&s); /* twice is fine */

    /* realtime = -1: as fast as it computes */
    o.realtime = -1;
    CHECK(video_open(&s, &o) == 0, "lavfi open unpaced");
    video_pool_open(&pool, 1, 64, 48);
    f = video_pool_get(pool);
    t0 = video_now();
    for (int i = 0; i < 50; i++)
        video_read(s, f);
    CHECK(video_now() - t0 < 0.9, "unpaced lavfi: 50 frames in %.3f s", video_now() - t0);
    video_pool_put(pool, f);
    video_pool_close(&pool);
    video_close(&s);
}

/* A network stream that stops must end within the timeout, not hang. */
static void test_stalled_stream(void)
{
    struct video_source *s = NULL;
    struct video_source_options o = { .input = "tcp://127.0.0.1:1", .timeout = 1 };
    double t0 = video_now();
    CHECK(video_open(&s, &o) < 0, "nothing listening: open fails");
    CHECK(video_now() - t0 < 3, "refused connection reported in %.1f s", video_now() - t0);

    /* A live MPEG-TS over UDP that sends 2 s of video, then stops. */
    int port = 20000 + (int)(getpid() % 20000);
    char url[64];
    snprintf(url, sizeof url, "udp://127.0.0.1:%d", port);
    test_sh("ffmpeg -nostdin -v error -re -f lavfi -i testsrc2=s=64x48:r=25:d=2 -c:v mpeg2video "
       "-g 5 -f mpegts '%s?pkt_size=1316' >/dev/null 2>&1 &", url);
    o.input = url;
    t0 = video_now();
    if (video_open(&s, &o) < 0) {
        CHECK(0, "open %s", url);
        return;
    }
    CHECK(video_source_info(s)->live == 1, "udp stream is live");
    struct video_pool *pool = NULL;
    video_pool_open(&pool, 1, video_source_info(s)->width, video_source_info(s)->height);
    struct video_frame *f = video_pool_get(pool);
    int n = 0, ret;
    while ((ret = video_read(s, f)) == 0)
        n++;
    double dt = video_now() - t0;
    CHECK(n > 10, "udp: %d frames before the stream stopped", n);
    CHECK(ret < 0 && dt < 2 + 1 + 2.5, "udp: ended with %d after %.1f s", ret, dt);
    video_pool_put(pool, f);
    video_pool_close(&pool);
    video_close(&s);
}

/* ---- writer ---- */

/* start_tol: how far the audio start may move (a copy from MP4 keeps the AAC
 * priming packet MP4 marks as discarded: one frame early — into Matroska,
 * and into MP4 too since the writer fragments it for crash safety: FFmpeg's
 * fragmented MP4 writer keeps the video's edit list but not the audio's). */
static void test_writer_roundtrip(const char *in_name, const char *out_name, double start_tol)
{
    const char *in = test_path(in_name), *out = test_path(out_name);
    struct read_result r;
    int ret = read_all(in, out, &r, NULL);
    CHECK(ret == 0 || ret == VIDEO_EOF, "%s → %s: %d", in_name, out_name, ret);
    check_pts_equal(out_name, out, &r);
    CHECK(r.copy.dropped == 0 && r.copy.peak_packets < 100,
          "%s: stream copy dropped %lld, queue peak %d packets", out_name,
          (long long)r.copy.dropped, r.copy.peak_packets);
    double d_in = probe_video_duration(in), d_out = probe_video_duration(out);
    CHECK(fabs(d_in - d_out) < 0.002, "%s: video lasts %.4f s, input %.4f s", out_name, d_out,
          d_in);
    char *ca = probe_str("stream=codec_name", "-select_streams a:0", in);
    char *cb = probe_str("stream=codec_name", "-select_streams a:0", out);
    if (ca && *ca) {
        CHECK(cb && !strcmp(ca, cb), "%s: audio codec %s, input %s", out_name, cb ? cb : "-",
              ca);
        /* audio duration from its packets: last pts + duration - first pts */
        char *pa = test_capture("ffprobe -v error -select_streams a:0 -show_entries "
                           "packet=pts_time -of csv=p=0 '%s' | grep -c '^-*[0-9]'", in);
        char *pb = test_capture("ffprobe -v error -select_streams a:0 -show_entries "
                           "packet=pts_time -of csv=p=0 '%s' | grep -c '^-*[0-9]'", out);
        CHECK(pa && pb && atoi(pa) == atoi(pb), "%s: %s audio packets, input %s", out_name,
              pb ? pb : "-", pa ? pa : "-");
        free(pa);
        free(pb);
        double a_in = probe_span(in, "a:0"), a_out = probe_span(out, "a:0");
        CHECK(fabs(a_in - a_out) < 0.025, "%s: audio lasts %.4f s, input %.4f s", out_name,
              a_out, a_in);
        double s_in = probe_double("stream=start_time", "-select_streams a:0", in);
        double s_out = probe_double("stream=start_time", "-select_streams a:0", out);
        CHECK(fabs(s_in - s_out) <= start_tol + 0.0011, "%s: audio starts at %.4f s, input %.4f s", out_name,
              s_out, s_in);
    }
    free(ca);
    free(cb);
    char *err = test_capture("ffmpeg -v error -i '%s' -f null - 2>&1", out);
    CHECK(err && !*err, "%s plays with errors: %s", out_name, err ? err : "(ffmpeg failed)");
    free(err);
}

static void test_writer_rotation(void)
{
    const char *out = test_path("rot_out.mp4");
    struct read_result r;
    read_all(test_path("rot.mp4"), out, &r, NULL);
    CHECK(r.err == 0 || r.err == VIDEO_EOF, "rot.mp4 → rot_out.mp4: %d", r.err);
    char *s = probe_str("stream=width,height", "-select_streams v:0", out);
    CHECK(s && !strcmp(s, "120,160"), "rotated output stored as %s, want upright 120,160", s);
    free(s);
    s = test_capture("ffprobe -v error -select_streams v:0 -show_entries stream_side_data "
                "-of csv=p=0 '%s'", out);
    CHECK(s && !strstr(s, "Display Matrix"), "upright output has no rotation: %s", s);
    free(s);
    int w, h;
    double d = diff_with_ffmpeg(out, &w, &h);
    CHECK(w == 120 && h == 160 && d < 8, "output displays like the input (diff %.2f)", d);
    int w1, h1, r1;
    uint8_t *a = first_frame(test_path("rot.mp4"), &w, &h, &r1);
    uint8_t *b = first_frame(out, &w1, &h1, &r1);
    double sum = 0;
    for (int i = 0; a && b && w == w1 && h == h1 && i < w * h * 3; i++)
        sum += abs((int)a[i] - (int)b[i]);
    CHECK(a && b && w == w1 && h == h1 && r1 == 0 && sum / (w * h * 3) < 6,
          "written frame matches the decoded one (%.2f per sample, rotation %d)",
          sum / (w * h * 3), r1);
    free(a);
    free(b);
}

static void test_writer_errors(void)
{
    struct video_source *s = NULL;
    struct video_source_options o = { .input = test_path("av.mkv") };
    if (video_open(&s, &o) < 0) {
        CHECK(0, "open av.mkv");
        return;
    }
    struct video_writer *w = NULL;
    const char *bad = test_path("no/such/dir/out.mp4");
    CHECK(video_writer_open(&w, bad, s, NULL) < 0 && !w, "unwritable path fails");
    CHECK(!exists(bad), "no file left");
    test_sh("mkdir -p '%s/ro' && chmod 555 '%s/ro'", dir, dir);
    const char *ro = test_path("ro/out.mp4");
    if (geteuid() != 0) {
        CHECK(video_writer_open(&w, ro, s, NULL) < 0 && !w, "read-only dir fails");
        CHECK(!exists(ro), "no file left in read-only dir");
    }
    const char *unk = test_path("out.xyz");
    CHECK(video_writer_open(&w, unk, s, NULL) < 0 && !exists(unk), "unknown extension fails");
    struct video_writer_options wo = { .codec = "nosuchcodec" };
    const char *nc = test_path("nc.mp4");
    CHECK(video_writer_open(&w, nc, s, &wo) < 0 && !exists(nc), "unknown codec fails");
    CHECK(video_writer_open(&w, test_path("av.mkv"), s, NULL) < 0, "refuses to overwrite input");
    CHECK(exists(test_path("av.mkv")), "input still there");
    /* opened, then closed without frames: no file */
    const char *empty = test_path("empty.mkv");
    CHECK(video_writer_open(&w, empty, s, NULL) == 0, "open empty.mkv");
    CHECK(video_writer_close(&w) < 0 && !exists(empty), "no frames: error, file removed");
    /* a second writer on a source is refused while one is attached */
    struct video_writer *w2 = NULL;
    CHECK(video_writer_open(&w, test_path("one.mkv"), s, NULL) == 0, "open one.mkv");
    CHECK(video_writer_open(&w2, test_path("two.mkv"), s, NULL) < 0 &&
              !exists(test_path("two.mkv")),
          "second writer refused");
    video_writer_abort(&w);
    CHECK(!exists(test_path("one.mkv")), "abort removes the file");
    video_close(&s);
}

/* Stop early (like Ctrl-C): the file must be whole, audio no longer than video. */
static void test_writer_interrupted(void)
{
    struct video_source *s = NULL;
    struct video_source_options o = { .input = test_path("av.mp4") };
    if (video_open(&s, &o) < 0)
        return;
    struct video_pool *pool = NULL;
    video_pool_open(&pool, 4, 160, 120);
    struct video_writer *w = NULL;
    const char *out = test_path("part.mp4");
    CHECK(video_writer_open(&w, out, s, NULL) == 0, "open part.mp4");
    struct video_frame *fr[4];
    for (int i = 0; i < 4; i++)
        fr[i] = video_pool_get(pool);
    /* the decode side runs ahead by 4 frames, like a queue would */
    int got = 0;
    for (int i = 0; i < 4; i++)
        got += video_read(s, fr[i]) == 0;
    for (int n = 0; n < 20; n++) {
        video_writer_write(w, fr[n % 4]);
        video_read(s, fr[n % 4]);
    }
    CHECK(got == 4 && video_writer_close(&w) == 0, "close after 20 frames");
    for (int i = 0; i < 4; i++)
        video_pool_put(pool, fr[i]);
    video_pool_close(&pool);
    video_close(&s);
    double pts[64];
    CHECK(probe_pts(out, pts, 64) == 20, "20 frames in the stopped file");
    double va = probe_double("stream=duration", "-select_streams v:0", out);
    double au = probe_double("stream=duration", "-select_streams a:0", out);
    CHECK(fabs(va - 0.8) < 0.002, "video duration %.3f", va);
    /* + the AAC priming frame fragmented MP4 shows (see test_writer_roundtrip) */
    CHECK(au > 0.7 && au < 0.8 + 0.03 + 1024.0 / 44100, "audio duration %.3f stops with the video",
          au);
    char *err = test_capture("ffmpeg -v error -i '%s' -f null - 2>&1", out);
    CHECK(err && !*err, "stopped file plays: %s", err ? err : "(ffmpeg failed)");
    free(err);
}

/* The stream-copy queue is bounded: a file whose audio runs on a minute past
 * its 1 s of video, read to the end before any frame is written (everything
 * demuxed waits in the queue), keeps VIDEO_COPY_MAX_PACKETS packets, drops
 * and counts the rest, and still writes a file that plays with those. */
static void test_copy_bound(void)
{
    const char *in = test_path("longaudio.mkv"), *out = test_path("longaudio_out.mkv");
    char *np = test_capture("ffprobe -v error -select_streams a:0 -show_entries packet=pts "
                       "-of csv=p=0 '%s' | grep -c .", in);
    int64_t total = np ? atoll(np) : 0;
    free(np);
    CHECK(total > VIDEO_COPY_MAX_PACKETS + 1000, "longaudio.mkv: %lld audio packets",
          (long long)total);
    struct video_source *s = NULL;
    struct video_source_options o = { .input = in };
    if (video_open(&s, &o) < 0) {
        CHECK(0, "open longaudio.mkv");
        return;
    }
    struct video_pool *pool = NULL;
    video_pool_open(&pool, 1, video_source_info(s)->width, video_source_info(s)->height);
    struct video_frame *f = video_pool_get(pool);
    struct video_writer *w = NULL;
    CHECK(video_writer_open(&w, out, s, NULL) == 0, "open longaudio_out.mkv");
    int n = 0, ret;
    while ((ret = video_read(s, f)) == 0)
        n++;
    CHECK(ret == VIDEO_EOF && n == 10, "10 frames, then the end (%d, %d)", n, ret);
    struct video_copy_stats st;
    video_writer_copy_stats(w, &st);
    CHECK(st.queued == VIDEO_COPY_MAX_PACKETS && st.peak_packets == VIDEO_COPY_MAX_PACKETS,
          "queue full at %d: %lld kept, peak %d", VIDEO_COPY_MAX_PACKETS, (long long)st.queued,
          st.peak_packets);
    CHECK(st.dropped == total - VIDEO_COPY_MAX_PACKETS && st.dropped_nomem == 0,
          "the rest counted as dropped: %lld of %lld (%lld for memory)", (long long)st.dropped,
          (long long)total, (long long)st.dropped_nomem);
    CHECK(st.peak_bytes > 0 && st.peak_bytes <= VIDEO_COPY_MAX_BYTES, "peak %lld bytes",
          (long long)st.peak_bytes);
    CHECK(video_writer_write(w, f) == 0 && video_writer_close(&w) == 0, "write a frame, close");
    video_pool_put(pool, f);
    video_pool_close(&pool);
    video_close(&s);
    np = test_capture("ffprobe -v error -select_streams a:0 -show_entries packet=pts "
                 "-of csv=p=0 '%s' | grep -c .", out);
    CHECK(np && atoll(np) == VIDEO_COPY_MAX_PACKETS, "the output has the %d kept packets (%s)",
          VIDEO_COPY_MAX_PACKETS, np ? np : "-");
    free(np);
    char *err = test_capture("ffmpeg -v error -i '%s' -f null - 2>&1", out);
    CHECK(err && !*err, "longaudio_out.mkv plays: %s", err ? err : "(ffmpeg failed)");
    free(err);
}

/* ---- media ---- */

/* Seeking: each seek lands on the first frame whose time is at or after the
 * target (ffprobe's timestamps are the reference), on a clip with a keyframe
 * every 25 frames and B-frames (so most targets sit between keyframes and
 * need decoding forward), forwards, backwards, and on a variable frame rate
 * file; past the end the next read is the end; live sources refuse. */
static void seek_case(const char *name, const double *targets, int nt)
{
    const char *file = test_path(name);
    static double ref[512];
    int n = probe_pts(file, ref, 512);
    double start = probe_double("stream=start_time", "-select_streams v:0", file);
    CHECK(n > 10 && !isnan(start), "%s: ffprobe pts (%d) and start time", name, n);
    if (n <= 10 || isnan(start))
        return;
    /* ffprobe lists frames in decode order for some files: sort */
    for (int i = 1; i < n && i < 512; i++)
        for (int j = i; j > 0 && ref[j - 1] > ref[j]; j--) {
            double t = ref[j];
            ref[j] = ref[j - 1];
            ref[j - 1] = t;
        }
    struct video_source *s = NULL;
    struct video_source_options o = { .input = file };
    CHECK(video_open(&s, &o) == 0, "%s: open", name);
    if (!s)
        return;
    const struct video_info *vi = video_source_info(s);
    struct video_pool *pool = NULL;
    video_pool_open(&pool, 1, vi->width, vi->height);
    struct video_frame *f = video_pool_get(pool);
    int64_t index = 0;
    /* a few frames first, so the first seek starts mid-stream */
    for (int i = 0; i < 3; i++)
        CHECK(video_read(s, f) == 0 && f->index == index++, "%s: read before seeking", name);
    for (int k = 0; k < nt; k++) {
        double t = targets[k];
        int want = 0;
        while (want < n && ref[want] - start < t - 1e-6)
            want++;
        int r = video_seek(s, t);
        CHECK(r == 0, "%s: seek to %.3f s returned %d", name, t, r);
        r = video_read(s, f);
        if (want == n) {
            CHECK(r == VIDEO_EOF, "%s: seek to %.3f s, past the last frame: end (got %d)", name,
                  t, r);
            continue;
        }
        CHECK(r == 0 && fabs(f->pts_sec - (ref[want] - start)) < 1e-4,
              "%s: seek to %.3f s: first frame at %.4f s, want %.4f s (frame %d)", name, t,
              r == 0 ? f->pts_sec : NAN, ref[want] - start, want);
        CHECK(r == 0 && f->index == index++, "%s: frame index keeps counting after a seek",
              name);
        /* and it goes on from there, in order */
        r = video_read(s, f);
        if (want + 1 < n)
            CHECK(r == 0 && fabs(f->pts_sec - (ref[want + 1] - start)) < 1e-4 &&
                      f->index == index++,
                  "%s: after the seek to %.3f s the next frame is %.4f s (got %.4f)", name, t,
                  ref[want + 1] - start, r == 0 ? f->pts_sec : NAN);
        else
            CHECK(r == VIDEO_EOF, "%s: the end after the last frame", name);
    }
    video_pool_put(pool, f);
    video_pool_close(&pool);
    video_close(&s);
}

static void test_seek(void)
{
    static const double gop[] = {2.5, 0.0, 1.37, 1.0, 3.96, 0.52, 1.0001, -3.0, 3.2, 99.0, 0.1};
    seek_case("gop.mp4", gop, (int)(sizeof gop / sizeof gop[0]));
    static const double vfr[] = {1.0, 0.3, 1.25, 0.79, 5.0, 0.0};
    seek_case("vfr.mkv", vfr, (int)(sizeof vfr / sizeof vfr[0]));

    /* a live source cannot seek: one line, and it goes on playing */
    struct video_source *s = NULL;
    struct video_source_options o = { .input = "lavfi:testsrc2=size=64x48:rate=50",
                                      .realtime = -1 };
    CHECK(video_open(&s, &o) == 0, "lavfi open");
    if (!s)
        return;
    const char *log = test_path("seek_stderr.txt");
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    dup2(fd, 2);
    close(fd);
    int r = video_seek(s, 1.0);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char msg[256] = "";
    FILE *fp = fopen(log, "r");
    size_t n = fp ? fread(msg, 1, sizeof msg - 1, fp) : 0;
    msg[n] = 0;
    if (fp)
        fclose(fp);
    CHECK(r == -ESPIPE && strstr(msg, "cannot seek a live source"),
          "live source: seek refused (%d, \"%s\")", r, msg);
    struct video_pool *pool = NULL;
    video_pool_open(&pool, 1, 64, 48);
    struct video_frame *f = video_pool_get(pool);
    CHECK(video_read(s, f) == 0 && f->index == 0, "live source reads on after a refused seek");
    video_pool_put(pool, f);
    video_pool_close(&pool);
    video_close(&s);
}

static int make_media(void)
{
    const char *lv = "ffmpeg -nostdin -v error -y";
    const char *av = "-f lavfi -i testsrc2=s=160x120:r=25:d=2 -f lavfi -i sine=f=440:d=2";
    int rc = 0;
    rc |= test_sh("%s %s -c:v libx264 -preset ultrafast -c:a aac -b:a 64k -shortest '%s'", lv, av,
             test_path("av.mp4"));
    rc |= test_sh("%s %s -c:v libx264 -preset ultrafast -c:a libopus -b:a 32k '%s' 2>/dev/null || "
             "%s %s -c:v libx264 -preset ultrafast -c:a aac '%s'",
             lv, av, test_path("av.mkv"), lv, av, test_path("av.mkv"));
    rc |= test_sh("%s -f lavfi -i testsrc2=s=160x120:r=25:d=2 -vf "
             "\"setpts='if(lt(N,20),N*0.04,0.8+(N-20)*0.1)/TB'\" -fps_mode passthrough "
             "-c:v libx264 -preset ultrafast '%s'",
             lv, test_path("vfr.mkv"));
    rc |= test_sh("%s -f lavfi -i testsrc=s=333x247:r=25:d=0.4 -c:v libx264 -preset ultrafast "
             "-pix_fmt yuv444p '%s'",
             lv, test_path("odd.mkv"));
    rc |= test_sh("%s -f lavfi -i testsrc2=s=160x120:r=25:d=0.4 -c:v libx264 -preset ultrafast "
             "'%s' && %s -i '%s' -c copy -metadata:s:v:0 rotate=90 '%s' && "
             "%s -i '%s' -c copy -metadata:s:v:0 rotate=270 '%s'",
             lv, test_path("base.mp4"), lv, test_path("base.mp4"), test_path("rot.mp4"), lv,
             test_path("base.mp4"), test_path("rot270.mp4"));
    rc |= test_sh("%s -f lavfi -i color=c=red:s=64x48:r=5:d=0.4 -c:v libx264 -preset ultrafast "
             "-pix_fmt yuv420p '%s'",
             lv, test_path("red_tv.mkv"));
    rc |= test_sh("%s -f lavfi -i color=c=red:s=64x48:r=5:d=0.4 -vf scale=out_range=full "
             "-c:v libx264 -preset ultrafast -pix_fmt yuvj420p -color_range pc '%s'",
             lv, test_path("red_pc.mkv"));
    rc |= test_sh("%s -f lavfi -i color=c=red:s=64x48:r=5:d=0.4 -vf "
             "scale=out_color_matrix=bt709 -colorspace bt709 -c:v libx264 -preset ultrafast "
             "-pix_fmt yuv420p '%s'",
             lv, test_path("red_709.mkv"));
    rc |= test_sh("%s -f lavfi -i sine=d=0.5 -c:a aac '%s'", lv, test_path("audio.m4a"));
    /* 4 s at 25 fps, a keyframe every 25 frames, B-frames: for seeking */
    rc |= test_sh("%s -f lavfi -i testsrc2=s=160x120:r=25:d=4 -c:v libx264 -preset ultrafast "
             "-g 25 -keyint_min 25 -sc_threshold 0 -bf 2 '%s'",
             lv, test_path("gop.mp4"));
    /* 1 s of video, 60 s of audio in 7500 small packets (8 kHz PCM, 64 samples) */
    rc |= test_sh("%s -f lavfi -i testsrc2=s=64x48:r=10:d=1 -f lavfi -i "
             "sine=sample_rate=8000:samples_per_frame=64:d=60 -c:v libx264 -preset ultrafast "
             "-c:a pcm_s16le '%s'",
             lv, test_path("longaudio.mkv"));
    rc |= test_sh("head -c 20000 /dev/urandom > '%s'", test_path("garbage.mp4"));
    /* moov at the end, cut off; and moov first (faststart), data cut off */
    rc |= test_sh("head -c 30000 '%s' > '%s'", test_path("av.mp4"), test_path("trunc.mp4"));
    rc |= test_sh("%s -i '%s' -c copy -movflags +faststart '%s' && head -c 40000 '%s' > '%s'", lv,
             test_path("av.mp4"), test_path("fs.mp4"), test_path("fs.mp4"),
             test_path("trunc_fs.mp4"));
    return rc;
}

int main(void)
{
    if (!(dir = test_scratch_open("video"))) return 1;
    video_set_log_level(NULL);
    int rc = make_media();
    CHECK(rc == 0, "generating test media with the ffmpeg CLI");
    if (rc == 0) {
        test_basic();
        test_rotation();
        test_colour();
        test_bad_inputs();
        test_lavfi();
        test_seek();
        test_stalled_stream();
        test_writer_roundtrip("av.mp4", "out.mp4", 1024.0 / 44100);
        test_writer_roundtrip("av.mkv", "out.mkv", 0);
        test_writer_roundtrip("vfr.mkv", "vfr_out.mkv", 0);
        test_writer_roundtrip("av.mp4", "out_from_mp4.mkv", 1024.0 / 44100);
        test_writer_roundtrip("odd.mkv", "odd_out.mp4", 0);
        test_writer_rotation();
        test_writer_errors();
        test_writer_interrupted();
        test_copy_bound();
    }
    test_scratch_close();
    return check_summary("test_video");
}
