/*
 * test_clips.c — event clips (video_recorder_*, video_clip_*) and JPEG
 * snapshots (video_write_jpeg), on media made at test time with the ffmpeg
 * CLI in a temporary directory; every clip is checked with ffprobe/ffmpeg:
 *   - a 10 s H.264 file (a keyframe every second, B-frames), read flat out:
 *     a clip started at 5 s with pre = 2 and stopped at 7 s begins at the
 *     source's keyframe at 3 s, lasts 4-5 s, and its packets are the source's
 *     own bytes (MD5 per packet); a second, overlapping clip; the ring's
 *     length; from MP4 (length-prefixed H.264 into MPEG-TS and Matroska), the
 *     decoded frames are the source's, and Matroska clips start at 0;
 *   - a clip asking for more than the ring keeps starts at its oldest
 *     keyframe; a seek ends the open clip and a new one starts after it; an
 *     existing path is refused and left alone; max_clips; unknown ids;
 *   - a child that starts a clip and SIGKILLs itself mid-clip leaves a file
 *     that plays (MPEG-TS, Matroska, fragmented MP4);
 *   - a lavfi source is refused with VIDEO_ERR_NO_PACKETS and one clear line;
 *   - a live UDP stream that stops and comes back (reconnect on): the open
 *     clip ends at the break, complete; a clip started after it holds the new
 *     connection's packets only (its picture size, not the old one's);
 *   - clips started, stopped and counted from another thread than the one
 *     reading (run under ThreadSanitizer by make test);
 *   - JPEG: size, colours, exclusive creation, no temporary file left.
 */
#include "check.h"
#include "shell.h"
#include "../video/video.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *dir;   /* the scratch directory (tests/shell.c) */


static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static double now(void)
{
    return video_now();
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ---- what ffprobe sees ---- */

struct pk {
    double pts, dts; /* s, as ffprobe prints them */
    int size, key;
    char md5[40];
};

/* The video packets of file, in file order. Returns the count, -1 on error. */
static int probe_packets(const char *file, struct pk *out, int max)
{
    char *s = test_capture("ffprobe -v error -select_streams v:0 -show_data_hash MD5 -show_entries "
                      "packet=pts_time,dts_time,size,flags,data_hash -of default=nw=1 '%s'",
                      file);
    if (!s)
        return -1;
    int n = -1;
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "pts_time=", 9)) {
            if (++n < max) {
                memset(&out[n], 0, sizeof out[n]);
                out[n].pts = strtod(line + 9, NULL);
            }
        } else if (n >= 0 && n < max) {
            if (!strncmp(line, "dts_time=", 9))
                out[n].dts = strtod(line + 9, NULL);
            else if (!strncmp(line, "size=", 5))
                out[n].size = atoi(line + 5);
            else if (!strncmp(line, "flags=", 6))
                out[n].key = line[6] == 'K';
            else if (!strncmp(line, "data_hash=MD5:", 14))
                snprintf(out[n].md5, sizeof out[n].md5, "%s", line + 14);
        }
    }
    free(s);
    return n + 1;
}

static double probe_double(const char *entries, const char *file)
{
    char *s = test_capture("ffprobe -v error -select_streams v:0 -show_entries %s -of csv=p=0 '%s'",
                      entries, file);
    char *end = s;
    double v = s ? strtod(s, &end) : NAN;
    if (!s || end == s)
        v = NAN;
    free(s);
    return v;
}

/* "ffmpeg -v error -i file -f null -" says nothing: the file plays. */
static int plays(const char *file)
{
    char *err = test_capture("ffmpeg -nostdin -v error -i '%s' -f null - 2>&1", file);
    int ok = err && !*err;
    if (err && *err)
        fprintf(stderr, "%s: %s", file, err);
    free(err);
    return ok;
}

/* The MD5 of each decoded frame (ffmpeg's framemd5), in order. */
static int frame_hashes(const char *file, char (*out)[40], int max)
{
    char *s = test_capture("ffmpeg -nostdin -v error -i '%s' -map 0:v:0 -f framemd5 -", file);
    if (!s)
        return -1;
    int n = 0;
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        char *h = strrchr(line, ',');
        if (!h)
            continue;
        if (n < max)
            snprintf(out[n], sizeof out[n], "%s", h + 2);
        n++;
    }
    free(s);
    return n;
}

/* ---- the source packets a clip holds ---- */

static struct pk src_pk[1024];
static int src_n;
static double src_start; /* the source's start time: pts_sec 0 */

static void load_source(const char *file)
{
    src_n = probe_packets(file, src_pk, 1024);
    src_start = probe_double("stream=start_time", file);
    CHECK(src_n == 250 && !isnan(src_start), "%s: %d packets, start %.3f", file, src_n,
          src_start);
}

struct found {
    int n;          /* packets in the clip */
    int first;      /* the source index of its first packet, -1 if not found */
    int same;       /* how many in a row are the source's, bytes and order */
    int key;        /* the first is a keyframe in the source */
    double t0, t1;  /* stream seconds (pts_sec) of its first and last packet */
    double span;    /* seconds its frames cover: max pts - min pts + 1 frame */
};

/* Find clip's packets in the source by their MD5. */
static void find_clip(const char *clip, struct found *f)
{
    static struct pk c[1024];
    memset(f, 0, sizeof *f);
    f->first = -1;
    f->n = probe_packets(clip, c, 1024);
    if (f->n <= 0)
        return;
    for (int i = 0; i < src_n && f->first < 0; i++)
        if (!strcmp(src_pk[i].md5, c[0].md5))
            f->first = i;
    if (f->first < 0)
        return;
    while (f->same < f->n && f->first + f->same < src_n &&
           !strcmp(src_pk[f->first + f->same].md5, c[f->same].md5))
        f->same++;
    f->key = src_pk[f->first].key;
    f->t0 = src_pk[f->first].pts - src_start;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < f->same; i++) {
        double t = src_pk[f->first + i].pts - src_start;
        lo = t < lo ? t : lo;
        hi = t > hi ? t : hi;
    }
    f->t1 = src_pk[f->first + f->same - 1].pts - src_start;
    f->span = hi - lo + 0.04;
}

/* Wait up to `seconds` for the recorder to have ended `done` clips. */
static void wait_done(struct video_recorder *r, int64_t done, double seconds,
                      struct video_recorder_stats *st)
{
    double t0 = now();
    do {
        video_recorder_stats(r, st);
        if (st->clips_done + st->clips_failed >= done)
            return;
        sleep_ms(10);
    } while (now() - t0 < seconds);
}

/* Run f with stderr into a file; its text (static) in *msg. */
static int stderr_of(int (*f)(void *), void *arg, const char **msg)
{
    static char text[1024];
    const char *log = test_path("stderr.txt");
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    dup2(fd, 2);
    close(fd);
    int ret = f(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *fp = fopen(log, "r");
    size_t n = fp ? fread(text, 1, sizeof text - 1, fp) : 0;
    text[n] = 0;
    if (fp)
        fclose(fp);
    *msg = text;
    return ret;
}

static int lines_in(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ---- clips from a file read flat out ---- */

struct reader {
    struct video_source *src;
    struct video_pool *pool;
    struct video_frame *f;
};

static int reader_open(struct reader *rd, const char *file)
{
    memset(rd, 0, sizeof *rd);
    struct video_source_options o = { .input = file };
    if (video_open(&rd->src, &o) < 0)
        return -1;
    const struct video_info *vi = video_source_info(rd->src);
    if (video_pool_open(&rd->pool, 1, vi->width, vi->height) < 0)
        return -1;
    rd->f = video_pool_get(rd->pool);
    return 0;
}

static void reader_close(struct reader *rd)
{
    if (rd->f)
        video_pool_put(rd->pool, rd->f);
    video_pool_close(&rd->pool);
    video_close(&rd->src);
}

/* The clip at 5 s (pre 2, stop 7) and an overlapping one at 6 s (stop 9). */
static void test_file_clips(void)
{
    const char *in = test_path("src.ts");
    load_source(in);
    struct reader rd;
    if (reader_open(&rd, in) < 0) {
        CHECK(0, "open src.ts");
        return;
    }
    struct video_recorder *r = NULL;
    struct video_recorder_options o = { .pre = 2 };
    CHECK(video_recorder_open(&r, rd.src, &o) == 0, "recorder on src.ts");
    if (!r) {
        reader_close(&rd);
        return;
    }
    struct video_recorder *r2 = NULL;
    CHECK(video_recorder_open(&r2, rd.src, &o) < 0 && !r2, "a second recorder is refused");
    int a = -1, b = -1, stopped_a = 0, stopped_b = 0, n = 0, ret;
    struct video_recorder_stats st = { 0 };
    double ring_at_9 = -1;
    while ((ret = video_read(rd.src, rd.f)) == 0) {
        double t = rd.f->pts_sec;
        n++;
        if (a < 0 && t >= 5.0) {
            a = video_clip_start(r, test_path("a.ts"), 5.0);
            CHECK(a >= 0, "clip a started: %d", a);
        }
        if (b < 0 && t >= 6.0) {
            b = video_clip_start(r, test_path("b.ts"), 6.0);
            CHECK(b >= 0 && b != a, "clip b started: %d", b);
        }
        if (!stopped_a && t >= 7.0)
            stopped_a = video_clip_stop(r, a, 7.0) == 0;
        if (!stopped_b && t >= 9.0) {
            stopped_b = video_clip_stop(r, b, 9.0) == 0;
            video_recorder_stats(r, &st);
            ring_at_9 = st.ring_seconds;
        }
    }
    CHECK(ret == VIDEO_EOF && n == 250, "read src.ts: %d frames, end %d", n, ret);
    CHECK(stopped_a && stopped_b, "both clips stopped");
    /* kept: the keyframe at or before 9 - (pre 2 + margin 5) = 2 s, so 7-8 s */
    CHECK(ring_at_9 >= 6.9 && ring_at_9 <= 8.1, "ring at 9 s holds %.2f s", ring_at_9);
    wait_done(r, 2, 10, &st);
    CHECK(st.clips_started == 2 && st.clips_done == 2 && st.clips_failed == 0 &&
              st.clips_open == 0,
          "stats: %lld started, %lld done, %lld failed, %d open", (long long)st.clips_started,
          (long long)st.clips_done, (long long)st.clips_failed, st.clips_open);
    CHECK(st.packets_dropped == 0 && st.packets_written > 200, "%lld written, %lld dropped",
          (long long)st.packets_written, (long long)st.packets_dropped);
    CHECK(st.ring_bytes > 0, "ring holds %zu bytes", st.ring_bytes);
    /* both were stopped and have ended: their slots are free, their ids gone */
    CHECK(video_clip_stop(r, a, 7.0) == -ENOENT, "a stopped, ended clip is no longer open");
    CHECK(video_clip_stop(r, 77, 7.0) == -ENOENT, "an unknown id");
    video_recorder_close(&r);
    video_recorder_close(&r); /* twice is fine */
    CHECK(r == NULL, "closed");
    reader_close(&rd);

    struct found f;
    find_clip(test_path("a.ts"), &f);
    CHECK(f.n > 0 && f.first >= 0 && f.same == f.n,
          "a.ts: %d packets, %d of them the source's bytes in order (from %d)", f.n, f.same,
          f.first);
    CHECK(f.key && f.t0 >= 2.0 - 1e-3 && f.t0 <= 3.0 + 1e-3,
          "a.ts starts at the source's %.3f s (key %d): the keyframe in [2, 3] s", f.t0, f.key);
    CHECK(f.span >= 4.0 - 1e-3 && f.span <= 5.0 + 1e-3, "a.ts covers %.3f s (want 4-5)", f.span);
    double d = probe_double("format=duration", test_path("a.ts"));
    CHECK(d >= 3.9 && d <= 5.1, "a.ts lasts %.3f s by ffprobe", d);
    CHECK(plays(test_path("a.ts")), "a.ts plays");
    find_clip(test_path("b.ts"), &f);
    CHECK(f.n > 0 && f.same == f.n && f.key && fabs(f.t0 - 4.0) < 1e-3,
          "b.ts: the source's packets (%d of %d) from its keyframe at %.3f s (want 4)", f.same,
          f.n, f.t0);
    CHECK(f.span >= 5.0 - 1e-3 && f.span <= 5.2, "b.ts covers %.3f s (want ~5)", f.span);
    CHECK(plays(test_path("b.ts")), "b.ts plays");
}

/* Read file to its end with a recorder in format, one clip from t_start
 * (pre) to t_end; 0 when the clip ended complete. */
static int one_clip(const char *file, const char *format, const char *clip, double pre,
                    double t_start, double t_end)
{
    struct reader rd;
    if (reader_open(&rd, file) < 0)
        return -1;
    struct video_recorder *r = NULL;
    struct video_recorder_options o = { .pre = pre, .format = format };
    int id = -1, stopped = 0, ret;
    if (video_recorder_open(&r, rd.src, &o) < 0) {
        reader_close(&rd);
        return -1;
    }
    while ((ret = video_read(rd.src, rd.f)) == 0) {
        if (id < 0 && rd.f->pts_sec >= t_start)
            id = video_clip_start(r, clip, t_start);
        if (id >= 0 && !stopped && rd.f->pts_sec >= t_end)
            stopped = video_clip_stop(r, id, t_end) == 0;
    }
    struct video_recorder_stats st;
    wait_done(r, 1, 10, &st);
    video_recorder_close(&r);
    reader_close(&rd);
    return ret == VIDEO_EOF && id >= 0 && stopped && st.clips_done == 1 ? 0 : -1;
}

/* From MP4 (length-prefixed H.264: the TS muxer converts it to start codes
 * on the way, so the bytes differ): the decoded frames must be the source's,
 * from its keyframe at 3 s; Matroska and MP4 clips start at 0. */
static void test_mp4_source(void)
{
    static char src[300][40], clip[300][40];
    const char *in = test_path("src.mp4");
    int ns = frame_hashes(in, src, 300);
    CHECK(ns == 250, "src.mp4: %d frames", ns);
    static const struct {
        const char *format, *name;
    } outs[] = { { NULL, "m.ts" }, { "matroska", "m.mkv" }, { "mp4", "m.mp4" } };
    for (size_t k = 0; k < sizeof outs / sizeof outs[0]; k++) {
        const char *out = test_path(outs[k].name);
        CHECK(one_clip(in, outs[k].format, out, 2, 5.0, 6.0) == 0, "%s: clip ended complete",
              outs[k].name);
        /* from frame 75 on, every frame the source's up to 6 s (frame 150) at
         * least; after that B-frames whose decode time is past 6 s are not
         * there, the references before them are: frames of the source still */
        int nc = frame_hashes(out, clip, 300);
        int same = 0, found = 0;
        while (same < nc && 75 + same < ns && !strcmp(src[75 + same], clip[same]))
            same++;
        for (int i = 0, j = 75; i < nc && j < ns; j++)
            if (!strcmp(src[j], clip[i]))
                found = ++i;
        CHECK(nc >= 76 && nc <= 80 && same >= 76 && found == nc,
              "%s: %d frames, the source's from frame 75 (3 s) to %d, %d found in order",
              outs[k].name, nc, 75 + same - 1, found);
        CHECK(plays(out), "%s plays", outs[k].name);
        if (outs[k].format) {
            double s0 = probe_double("stream=start_time", out);
            CHECK(s0 >= 0 && s0 < 0.2, "%s starts at %.3f s", outs[k].name, s0);
        }
    }
}

static char *md5_of(const char *file)
{
    char *s = test_capture("md5sum < '%s'", file);
    if (s)
        s[strcspn(s, " \n")] = 0;
    return s;
}

/* A short ring (pre 1 + margin 0.5), one clip at a time: a clip asking for
 * more than the ring holds starts at its oldest keyframe; an existing path
 * and a second clip are refused; a seek ends the open clip there, and a clip
 * started after it comes from after the seek. */
static void test_ring_and_refusals(void)
{
    struct reader rd;
    if (reader_open(&rd, test_path("src.ts")) < 0) {
        CHECK(0, "open src.ts");
        return;
    }
    struct video_recorder *r = NULL;
    struct video_recorder_options o = { .pre = 1, .margin = 0.5, .max_clips = 1 };
    CHECK(video_recorder_open(&r, rd.src, &o) == 0, "recorder with a short ring");
    if (!r) {
        reader_close(&rd);
        return;
    }
    char *md5_before = md5_of(test_path("a.ts"));
    int phase = 0, c = -1, d = -1, ret;
    double t_seek = NAN; /* the first frame after the seek: MPEG-TS seeks are not exact */
    struct video_recorder_stats st;
    while ((ret = video_read(rd.src, rd.f)) == 0) {
        double t = rd.f->pts_sec;
        if (phase == 0 && t >= 8.5) {
            CHECK(video_clip_start(r, test_path("a.ts"), 8.5) == -EEXIST,
                  "an existing path is refused");
            phase = 1;
        } else if (phase == 1 && t >= 9.0) {
            video_recorder_stats(r, &st);
            CHECK(st.ring_seconds >= 1.5 && st.ring_seconds <= 2.7,
                  "the ring holds %.2f s (pre 1 + margin 0.5, whole GOPs)", st.ring_seconds);
            c = video_clip_start(r, test_path("old.ts"), 2.0);
            CHECK(c >= 0, "a clip from before the ring starts (%d)", c);
            CHECK(video_clip_start(r, test_path("second.ts"), 9.0) == -EBUSY &&
                      !exists(test_path("second.ts")),
                  "max_clips 1: a second clip is refused, no file");
            phase = 2;
        } else if (phase == 2 && t >= 9.5) {
            CHECK(video_seek(rd.src, 1.0) == 0, "seek back to 1 s");
            phase = 3;
        } else if (phase == 3) {
            /* the seek sent timestamps back: the open clip ended there */
            wait_done(r, 1, 5, &st);
            CHECK(st.clips_done == 1 && st.clips_open == 0,
                  "the seek ended the open clip (%lld done, %d open)", (long long)st.clips_done,
                  st.clips_open);
            CHECK(video_clip_stop(r, c, 99.0) == 0, "stopping an ended clip: 0, slot freed");
            t_seek = t;
            CHECK(t >= 1.0 - 1e-3 && t <= 2.0 + 1e-3, "the seek to 1 s lands at %.3f s", t);
            d = video_clip_start(r, test_path("after_seek.ts"), t_seek + 1.0);
            CHECK(d >= 0, "a clip after the seek (%d)", d);
            phase = 4;
        } else if (phase == 4 && t >= t_seek + 2.0) {
            CHECK(video_clip_stop(r, d, t_seek + 2.0) == 0, "stop after_seek.ts");
            phase = 5;
        }
    }
    CHECK(ret == VIDEO_EOF && phase == 5, "read to the end (%d, phase %d)", ret, phase);
    wait_done(r, 2, 10, &st);
    CHECK(st.clips_started == 2 && st.clips_done == 2 && st.clips_failed == 0,
          "%lld started, %lld done, %lld failed", (long long)st.clips_started,
          (long long)st.clips_done, (long long)st.clips_failed);
    video_recorder_close(&r);
    reader_close(&rd);

    char *md5_after = md5_of(test_path("a.ts"));
    CHECK(md5_before && md5_after && !strcmp(md5_before, md5_after), "a.ts left alone");
    free(md5_before);
    free(md5_after);
    struct found f;
    find_clip(test_path("old.ts"), &f);
    CHECK(f.n > 0 && f.same == f.n && f.key && f.t0 >= 6.0 - 1e-3 && f.t0 <= 7.0 + 1e-3,
          "old.ts starts at the oldest keyframe kept, %.3f s (want 6-7; %d of %d packets the "
          "source's)", f.t0, f.same, f.n);
    CHECK(f.t1 >= 9.4 && f.t1 <= 10.0, "old.ts ends at the seek (last packet %.3f s)", f.t1);
    CHECK(plays(test_path("old.ts")), "old.ts plays");
    find_clip(test_path("after_seek.ts"), &f);
    CHECK(f.n > 0 && f.same == f.n && f.key && f.t0 >= t_seek - 1 - 1e-3 && f.t0 <= t_seek + 1e-3,
          "after_seek.ts starts at the keyframe at %.3f s, at or before the first frame after "
          "the seek (%.3f s)", f.t0, t_seek);
    CHECK(f.t1 >= t_seek + 1.9 && f.t1 <= t_seek + 2.2, "after_seek.ts ends at %.3f s (want %.3f)",
          f.t1, t_seek + 2);
    CHECK(plays(test_path("after_seek.ts")), "after_seek.ts plays");
}

/* A child starts a clip, lets the recorder write part of it and SIGKILLs
 * itself: no trailer, yet the file plays. */
static void kill_case(const char *format, const char *name)
{
    const char *out = test_path(name);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        struct reader rd;
        struct video_recorder *r = NULL;
        struct video_recorder_options o = { .pre = 2, .format = format };
        if (reader_open(&rd, test_path("src.ts")) < 0 || video_recorder_open(&r, rd.src, &o) < 0)
            _exit(2);
        int id = -1;
        while (video_read(rd.src, rd.f) == 0 && rd.f->pts_sec < 8.0)
            if (id < 0 && rd.f->pts_sec >= 5.0 && (id = video_clip_start(r, out, 5.0)) < 0)
                _exit(3);
        struct video_recorder_stats st;
        double t0 = video_now();
        do {
            sleep_ms(2);
            video_recorder_stats(r, &st);
        } while (st.packets_written < 100 && video_now() - t0 < 20);
        raise(SIGKILL);
        _exit(4);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
          "%s: the child was killed mid-clip (status %#x)", name, status);
    char *s = test_capture("ffprobe -v error -count_frames -select_streams v:0 -show_entries "
                      "stream=nb_read_frames -of csv=p=0 '%s'", out);
    int nf = s ? atoi(s) : -1;
    free(s);
    /* 3 s to 8 s was there to write: at least the 100 packets waited for, less
     * a fragment (MP4) or a cluster (Matroska) of 200 ms */
    CHECK(nf >= 90 && nf <= 135, "%s: %d frames decode from the killed clip", name, nf);
    char *err = test_capture("ffmpeg -nostdin -v error -i '%s' -f null - 2>&1", out);
    CHECK(err != NULL, "%s: ffmpeg reads it (%s)", name, err ? err : "failed");
    free(err);
}

static void test_killed(void)
{
    kill_case(NULL, "kill.ts");
    kill_case("matroska", "kill.mkv");
    kill_case("mp4", "kill.mp4");
}

static int open_recorder_on(void *arg)
{
    const char **a = arg; /* input, format */
    struct video_source *s = NULL;
    struct video_source_options o = { .input = a[0], .realtime = -1 };
    if (video_open(&s, &o) < 0)
        return -1000;
    struct video_recorder *r = NULL;
    struct video_recorder_options ro = { .format = a[1] };
    int ret = video_recorder_open(&r, s, &ro);
    if (ret == 0 && r == NULL)
        ret = -1001;
    video_recorder_close(&r);
    video_close(&s);
    return ret;
}

/* Sources and formats that cannot make clips say so once, clearly. */
static void test_refused_sources(void)
{
    const char *msg;
    const char *lavfi[2] = { "lavfi:testsrc2=size=64x48:rate=25", NULL };
    int ret = stderr_of(open_recorder_on, lavfi, &msg);
    CHECK(ret == VIDEO_ERR_NO_PACKETS, "lavfi: VIDEO_ERR_NO_PACKETS (got %d)", ret);
    CHECK(lines_in(msg) == 1 && strstr(msg, "decoded pictures") &&
              strstr(msg, "nothing to stream-copy") && strstr(msg, "lavfi:testsrc2"),
          "lavfi: one clear line: %s", msg);
    const char *mj_ts[2] = { test_path("mj.mkv"), NULL };
    ret = stderr_of(open_recorder_on, mj_ts, &msg);
    CHECK(ret < 0 && lines_in(msg) == 1 && strstr(msg, "matroska"),
          "MJPEG into MPEG-TS: refused, pointing to matroska (%d: %s)", ret, msg);
    const char *mj_mkv[2] = { test_path("mj.mkv"), "matroska" };
    CHECK(open_recorder_on(mj_mkv) == 0, "MJPEG into Matroska is fine");
    const char *bad[2] = { test_path("src.ts"), "nosuchformat" };
    ret = stderr_of(open_recorder_on, bad, &msg);
    CHECK(ret < 0 && lines_in(msg) == 1 && strstr(msg, "unknown container"),
          "unknown format: %s", msg);
    const char *webm[2] = { test_path("src.ts"), "webm" };
    ret = stderr_of(open_recorder_on, webm, &msg);
    CHECK(ret < 0 && lines_in(msg) == 1 && strstr(msg, "cannot hold h264"),
          "H.264 into WebM: refused at open: %s", msg);
}

/* ---- another thread ---- */

struct caller {
    struct video_recorder *r;
    _Atomic double t;   /* the reader's latest pts_sec */
    atomic_int done;    /* the reader reached the end */
    int ids[2], stops;  /* the caller thread's */
    int64_t polls;
};

/* The app's main thread: clips on events, from what the reader last saw. */
static void *caller_main(void *arg)
{
    struct caller *c = arg;
    static const double at[4] = { 2.0, 4.0, 5.0, 6.0 }; /* start x, stop x, start y, stop y */
    int step = 0;
    c->ids[0] = c->ids[1] = -1;
    while (step < 4) {
        double t = atomic_load(&c->t);
        struct video_recorder_stats st;
        video_recorder_stats(c->r, &st);
        c->polls++;
        if (t >= at[step] || atomic_load(&c->done)) {
            if (step % 2 == 0)
                c->ids[step / 2] = video_clip_start(c->r, test_path(step ? "y.ts" : "x.ts"), t);
            else
                c->stops += video_clip_stop(c->r, c->ids[step / 2], t) == 0;
            step++;
        }
        sleep_ms(1);
    }
    return NULL;
}

static void test_threads(void)
{
    struct reader rd;
    if (reader_open(&rd, test_path("src.ts")) < 0) {
        CHECK(0, "open src.ts");
        return;
    }
    struct caller c = { .t = 0 };
    struct video_recorder_options o = { .pre = 1 };
    pthread_t th;
    if (video_recorder_open(&c.r, rd.src, &o) < 0 || pthread_create(&th, NULL, caller_main, &c)) {
        CHECK(0, "recorder and caller thread");
        video_recorder_close(&c.r);
        reader_close(&rd);
        return;
    }
    int n = 0;
    while (video_read(rd.src, rd.f) == 0) {
        atomic_store(&c.t, rd.f->pts_sec);
        n++;
        sleep_ms(2); /* a little slower than flat out: the caller sees the times go by */
    }
    atomic_store(&c.done, 1);
    pthread_join(th, NULL);
    struct video_recorder_stats st;
    wait_done(c.r, 2, 10, &st);
    CHECK(n == 250 && c.ids[0] >= 0 && c.ids[1] >= 0 && c.stops == 2 && st.clips_done == 2,
          "two clips from another thread: %d frames, ids %d %d, %d stops, %lld done, %lld polls",
          n, c.ids[0], c.ids[1], c.stops, (long long)st.clips_done, (long long)c.polls);
    video_recorder_close(&c.r);
    reader_close(&rd);
    struct found f;
    find_clip(test_path("x.ts"), &f);
    CHECK(f.n > 25 && f.same == f.n && f.key && plays(test_path("x.ts")),
          "x.ts: %d packets, the source's from %.3f s, plays", f.n, f.t0);
    find_clip(test_path("y.ts"), &f);
    CHECK(f.n > 25 && f.same == f.n && f.key && plays(test_path("y.ts")),
          "y.ts: %d packets, the source's from %.3f s, plays", f.n, f.t0);
}

/* ---- JPEG snapshots ---- */

static int count_tmp_files(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".tmp") != NULL;
    if (d)
        closedir(d);
    return n;
}

static void test_jpeg(void)
{
    /* an odd size, rows padded: a smooth gradient and a red square */
    enum { W = 161, H = 121, STRIDE = 3 * W + 7 };
    static uint8_t rgb[H * STRIDE];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = rgb + y * STRIDE + 3 * x;
            int red = x >= 40 && x < 100 && y >= 30 && y < 90;
            p[0] = red ? 230 : (uint8_t)(x * 255 / (W - 1));
            p[1] = red ? 20 : (uint8_t)(y * 255 / (H - 1));
            p[2] = red ? 20 : 128;
        }
    const char *snap = test_path("snap.jpg");
    CHECK(video_write_jpeg(snap, rgb, W, H, STRIDE, 90) == 0, "write snap.jpg");
    char *s = test_capture("ffprobe -v error -show_entries stream=codec_name,width,height -of csv=p=0 "
                      "'%s'", snap);
    if (s)
        s[strcspn(s, "\n")] = 0;
    CHECK(s && !strcmp(s, "mjpeg,161,121"), "snap.jpg is a 161x121 JPEG (%s)", s ? s : "-");
    free(s);
    uint8_t *back = NULL;
    int w = 0, h = 0;
    CHECK(video_load_image(snap, &back, &w, &h) == 0 && w == W && h == H, "read back %dx%d", w,
          h);
    if (back && w == W && h == H) {
        double sum = 0;
        for (int y = 0; y < H; y++)
            for (int i = 0; i < 3 * W; i++)
                sum += abs((int)back[y * 3 * W + i] - (int)rgb[y * STRIDE + i]);
        double mean = sum / (3.0 * W * H);
        CHECK(mean < 4, "the picture survives JPEG: %.2f per sample", mean);
        const uint8_t *c = back + (60 * W + 70) * 3;
        CHECK(abs(c[0] - 230) < 12 && c[1] < 40 && c[2] < 40, "the red square is red (%d %d %d)",
              c[0], c[1], c[2]);
    }
    free(back);
    char *md5 = md5_of(snap);
    static uint8_t black[H * STRIDE];
    CHECK(video_write_jpeg(snap, black, W, H, STRIDE, 90) == -EEXIST, "an existing file is "
          "refused");
    char *md5b = md5_of(snap);
    CHECK(md5 && md5b && !strcmp(md5, md5b), "and left alone");
    free(md5);
    free(md5b);
    const char *lo = test_path("lo.jpg"), *hi = test_path("hi.jpg");
    CHECK(video_write_jpeg(lo, rgb, W, H, STRIDE, 1) == 0 &&
              video_write_jpeg(hi, rgb, W, H, STRIDE, 100) == 0,
          "qualities 1 and 100");
    struct stat a, b;
    CHECK(stat(lo, &a) == 0 && stat(hi, &b) == 0 && a.st_size * 2 < b.st_size,
          "quality 1 is much smaller than 100 (%lld vs %lld bytes)", (long long)a.st_size,
          (long long)b.st_size);
    CHECK(video_write_jpeg(test_path("no/such/dir/x.jpg"), rgb, W, H, STRIDE, 90) < 0,
          "a missing directory fails");
    CHECK(count_tmp_files() == 0, "no temporary file left behind");
}

/* ---- across a reconnect ---- */

static int udp_port;
static int downs;

/* An MPEG-TS camera of size for seconds, paced, to our UDP port. */
static void start_sender(const char *size, double seconds)
{
    test_sh("timeout 30 ffmpeg -nostdin -v error -re -f lavfi -i testsrc2=s=%s:r=25:d=%g "
       "-c:v mpeg2video -g 5 -f mpegts 'udp://127.0.0.1:%d?pkt_size=1316' >/dev/null 2>&1 &",
       size, seconds, udp_port);
}

/* The first outage brings a camera back at another size; a second one (the
 * test ran out of stream) interrupts the read instead of waiting forever. */
static void on_state(void *ctx, int up, const char *why)
{
    (void)why;
    if (up)
        return;
    if (downs++ == 0)
        start_sender("240x176", 2.5);
    else
        video_interrupt(*(struct video_source **)ctx);
}

/* The video stream's width * 10000 + height, -1 if ffprobe cannot tell. */
static int probe_size(const char *file)
{
    char *s = test_capture("ffprobe -v error -select_streams v:0 -show_entries stream=width,height "
                      "-of csv=p=0 '%s'", file);
    int w, h, ok = s && sscanf(s, "%d,%d", &w, &h) == 2;
    free(s);
    return ok ? w * 10000 + h : -1;
}

/* A UDP port nobody uses now (the kernel's pick), so that tests running side
 * by side do not share one. */
static int free_udp_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_DGRAM, 0), port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port > 0 ? port : 40000 + (int)(getpid() % 20000);
}

static void test_reconnect(void)
{
    udp_port = free_udp_port();
    char url[64];
    snprintf(url, sizeof url, "udp://127.0.0.1:%d", udp_port);
    static struct video_source *s;
    struct video_source_options so = { .input = url, .timeout = 1, .reconnect = 1,
                                       .reconnect_min = 0.2, .reconnect_max = 1,
                                       .on_state = on_state, .on_state_ctx = &s };
    start_sender("160x120", 3);
    if (video_open(&s, &so) < 0) {
        CHECK(0, "open %s", url);
        return;
    }
    const struct video_info *vi = video_source_info(s);
    struct video_pool *pool = NULL;
    video_pool_open(&pool, 1, vi->width, vi->height);
    struct video_frame *f = video_pool_get(pool);
    struct video_recorder *r = NULL;
    struct video_recorder_options o = { .pre = 1 };
    CHECK(video_recorder_open(&r, s, &o) == 0, "recorder on a UDP stream");
    const char *A = test_path("before_break.ts"), *B = test_path("after_break.ts");
    int a = -1, b = -1, after = 0, ret;
    struct video_recorder_stats st;
    while (r && (ret = video_read(s, f)) == 0) {
        struct video_health h;
        video_source_health(s, &h);
        if (!h.reconnects) {
            if (a < 0 && f->pts_sec >= 1.0)
                CHECK((a = video_clip_start(r, A, f->pts_sec)) >= 0, "clip before the break");
            continue;
        }
        if (++after == 1) {
            wait_done(r, 1, 3, &st);
            CHECK(st.clips_done == 1 && st.clips_open == 0,
                  "the break ended the open clip (%lld done, %d open)", (long long)st.clips_done,
                  st.clips_open);
            CHECK(video_clip_stop(r, a, 1e9) == 0, "stopping it then: 0");
            /* asking for packets from before the break: the new connection's first */
            CHECK((b = video_clip_start(r, B, f->pts_sec - 5)) >= 0, "clip after the break");
        } else if (after == 30) {
            CHECK(video_clip_stop(r, b, f->pts_sec) == 0, "stop the clip after the break");
        } else if (after == 45) {
            break;
        }
    }
    CHECK(after == 45, "45 frames after the reconnect (%d; %d outages)", after, downs);
    wait_done(r, 2, 5, &st);
    CHECK(st.clips_done == 2 && st.clips_failed == 0, "%lld done, %lld failed",
          (long long)st.clips_done, (long long)st.clips_failed);
    video_recorder_close(&r);
    video_pool_put(pool, f);
    video_pool_close(&pool);
    video_close(&s);

    int size = probe_size(A);
    CHECK(size == 1600120 && plays(A), "before_break.ts: 160x120 (%d), plays", size);
    struct pk p[256];
    int n = probe_packets(A, p, 256);
    CHECK(n >= 25, "before_break.ts: %d packets", n);
    size = probe_size(B);
    CHECK(size == 2400176 && plays(B),
          "after_break.ts holds the new connection's stream only: 240x176 (%d), plays", size);
    n = probe_packets(B, p, 256);
    CHECK(n >= 25 && n <= 40 && p[0].key, "after_break.ts: %d packets from a keyframe", n);
}

/* ---- media ---- */

static int make_media(void)
{
    const char *lv = "ffmpeg -nostdin -v error -y";
    /* 10 s at 25 fps, a keyframe every second, two B-frames */
    const char *h264 = "-f lavfi -i testsrc2=s=320x240:r=25:d=10 -c:v libx264 -preset ultrafast "
                       "-bf 2 -g 25 -keyint_min 25 -sc_threshold 0";
    int rc = 0;
    rc |= test_sh("%s %s '%s'", lv, h264, test_path("src.ts"));
    rc |= test_sh("%s %s '%s'", lv, h264, test_path("src.mp4"));
    rc |= test_sh("%s -f lavfi -i testsrc2=s=64x48:r=10:d=1 -c:v mjpeg '%s'", lv,
                  test_path("mj.mkv"));
    return rc;
}

int main(void)
{
    if (!(dir = test_scratch_open("clips"))) return 1;
    video_set_log_level(NULL);
    int rc = make_media();
    CHECK(rc == 0, "generating test media with the ffmpeg CLI");
    if (rc == 0) {
        test_file_clips();
        test_mp4_source();
        test_ring_and_refusals();
        test_killed();
        test_refused_sources();
        test_threads();
        test_jpeg();
        test_reconnect();
    }
    test_scratch_close();
    return check_summary("test_clips");
}
