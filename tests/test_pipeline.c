/*
 * test_pipeline.c — app/pipeline.c with a lavfi source and a stand-in
 * detector that takes a fixed time (so it runs the same under TSan and
 * needs no checkpoint), consumed by a null sink on the main thread:
 *
 *   - a live source faster than the detector: latency stays bounded
 *     (capture->result p99 < detect time + 3 frame intervals) and the drops
 *     are counted exactly (decoded = detected + dropped);
 *   - back-pressure (a file-like source): nothing dropped, every frame in
 *     order, decoded = detected = consumed;
 *   - display_all: every decoded frame reaches the display side;
 *   - --stride: detected + held = decoded, held frames carry the last boxes;
 *   - shutdown by end of input, max_frames, DRAIN, ABORT, SIGINT and a
 *     detector error: each joins within a second with every frame returned
 *     (to the pool, which pipeline_free() asserts); the detector's error
 *     is on stderr once (the pipeline does not repeat it).
 *
 * VDETECT_LONG_TESTS=1 runs the live case for 20 s instead of 3 s.
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../app/app.h"
#include "../app/pipeline.h"
#include "check.h"

#define DETECT_MS 60.0
#define FPS 30

struct fake {
    double ms;             /* time one detection takes */
    int fail_at;           /* call number that fails (-1: none) */
    int calls;             /* detect thread only */
};

static void sleep_s(double s)
{
    struct timespec t = { (time_t)s, (long)((s - (time_t)s) * 1e9) };
    while (nanosleep(&t, &t) != 0)
        ;
}

static int fake_detect(void *ctx, const struct model_image *img, struct model_detection *dets,
                       int max, int *n, struct model_timing *t)
{
    struct fake *fk = ctx;
    if (fk->calls++ == fk->fail_at) {
        /* pipe_detect_fn's contract: the detector says why, once */
        fprintf(stderr, "fake detector: call %d refused\n", fk->fail_at);
        return -1;
    }
    double t0 = video_now();
    sleep_s(fk->ms / 1e3);
    /* one box whose x1 encodes the first pixel, so tests see the right frame */
    if (max >= 1) {
        dets[0] = (struct model_detection){ { img->rgb[0], 1, 10, 10 }, 0.9f, 1 };
        *n = 1;
    }
    t->total = (video_now() - t0) * 1e3;
    return 0;
}

/* The main loop's wake-up: a counter under a lock (what the window's event
 * queue does for view). */
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static int wake_count;

static void wake(void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&wake_lock);
    wake_count++;
    pthread_cond_signal(&wake_cond);
    pthread_mutex_unlock(&wake_lock);
}

static void wait_wake(int ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_nsec += (long)ms * 1000000L;
    dl.tv_sec += dl.tv_nsec / 1000000000L;
    dl.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&wake_lock);
    while (wake_count == 0)
        if (pthread_cond_timedwait(&wake_cond, &wake_lock, &dl) != 0)
            break;
    wake_count = 0;
    pthread_mutex_unlock(&wake_lock);
}

struct run {
    /* in */
    const char *input;
    int realtime;          /* video_source_options.realtime */
    int live, display_all, stride, queue_len;
    int64_t max_frames;
    double detect_ms;
    int fail_at;           /* > 0: the detector fails on that call */
    double stop_after_s;   /* > 0: stop after this long */
    enum pipe_stop stop_how;
    int raise_sigint_after_results; /* > 0: raise(SIGINT) after that many results */
    /* out */
    struct pipeline_stats st;
    int ret;
    int64_t results, displays, in_order, held_ok;
    double finish_s;       /* stop request (or END) -> finish returned */
    const struct video_info *info;
};

static int do_run(struct run *r)
{
    struct video_source *src = NULL;
    struct video_source_options so = { .input = r->input, .realtime = r->realtime };
    if (video_open(&src, &so) < 0)
        return -1;
    struct fake fk = { r->detect_ms, r->fail_at > 0 ? r->fail_at : -1, 0 };
    struct pipeline_config c = {
        .src = src,
        .detect = fake_detect,
        .detect_ctx = &fk,
        .max_dets = 4,
        .live = r->live,
        .queue_len = r->queue_len,
        .display_all = r->display_all,
        .stride = r->stride,
        .max_frames = r->max_frames,
        .notify = wake,
    };
    struct pipeline *p = NULL;
    if (pipeline_start(&p, &c) < 0) {
        video_close(&src);
        return -1;
    }
    if (r->raise_sigint_after_results)
        signals_set_source(src);
    double t_start = video_now(), t_stop = 0;
    int64_t next_index = 0;
    r->in_order = 1;
    r->held_ok = 1;
    for (;;) {
        if (!t_stop && r->stop_after_s > 0 && video_now() - t_start >= r->stop_after_s) {
            t_stop = video_now();
            pipeline_stop(p, r->stop_how);
            if (r->stop_how == PIPE_STOP_ABORT)
                break;
        }
        if (!t_stop && r->raise_sigint_after_results &&
            r->results >= r->raise_sigint_after_results) {
            t_stop = video_now();
            raise(SIGINT);
        }
        struct pipe_frame *f;
        enum pipe_item it = pipeline_next(p, r->display_all ? 0 : 50, &f);
        if (it == PIPE_END)
            break;
        if (it == PIPE_NONE) {
            if (r->display_all)
                wait_wake(50);
            continue;
        }
        if (it == PIPE_DISPLAY) {
            r->displays++;
        } else {
            if (!r->live) {
                r->in_order &= f->vf->index == next_index;
                next_index = f->vf->index + 1;
            }
            if (f->dets_kind == PIPE_DETS_HELD)
                r->held_ok &= f->dets_frame < f->vf->index && f->ndets == 1;
            else if (f->dets_kind == PIPE_DETS_OWN)
                r->held_ok &= f->dets_frame == f->vf->index && f->ndets == 1 &&
                              f->dets[0].box[0] == f->vf->rgb[0];
            r->results++;
        }
        pipeline_release(p, f);
    }
    double t_end = video_now();
    if (!t_stop)
        t_stop = t_end;
    r->ret = pipeline_finish(p, &r->st);
    r->finish_s = video_now() - t_stop;
    signals_set_source(NULL);
    pipeline_free(&p); /* asserts every frame is back in the pool */
    video_close(&src);
    return 0;
}

static int accounted(const struct pipeline_stats *s)
{
    return s->decoded == s->detected + s->held + s->dropped;
}

static void test_live_bounded(void)
{
    const char *lng = getenv("VDETECT_LONG_TESTS");
    double secs = lng && !strcmp(lng, "1") ? 20 : 3;
    struct run r = {
        .input = "lavfi:testsrc2=size=160x120:rate=30",
        .live = 1, .detect_ms = DETECT_MS,
        .max_frames = (int64_t)(secs * FPS),
    };
    CHECK(do_run(&r) == 0, "live: run");
    const struct pipeline_stats *s = &r.st;
    CHECK(r.ret == 0 && s->error == 0, "live: no error");
    CHECK(s->decoded == r.max_frames, "live: decoded %lld of %lld", (long long)s->decoded,
          (long long)r.max_frames);
    CHECK(accounted(s), "live: decoded %lld = detected %lld + dropped %lld",
          (long long)s->decoded, (long long)s->detected, (long long)s->dropped);
    CHECK(s->dropped > 0 && s->detected > 0, "live: a slow detector drops (%lld dropped)",
          (long long)s->dropped);
    CHECK(s->detected == r.results, "live: every detected frame reached the consumer");
    double det99 = lat_hist_pct(&s->stage_ms[8], 99);
    double bound = det99 + 3 * 1000.0 / FPS;
    double c2r99 = lat_hist_pct(&s->capture_to_result, 99);
    CHECK(c2r99 < bound, "live: capture->result p99 %.1f ms < detect p99 %.1f + 3 intervals",
          c2r99, det99);
    printf("live %gs: decoded %lld detected %lld dropped %lld, detect p99 %.1f ms, "
           "capture->result p50 %.1f p99 %.1f max %.1f ms (bound %.1f)\n",
           secs, (long long)s->decoded, (long long)s->detected, (long long)s->dropped, det99,
           lat_hist_pct(&s->capture_to_result, 50), c2r99, s->capture_to_result.max, bound);
    CHECK(s->frame_queue_peak <= s->queue_len, "live: queue bounded");
    double src_fps = run_rate(s->decoded, s->t_first_capture, s->t_last_capture);
    CHECK(fabs(src_fps - FPS) < 3, "live: source rate %.1f fps (paced lavfi)", src_fps);
    CHECK(r.finish_s < 1.0, "live: finished in %.3f s", r.finish_s);
}

static void test_backpressure(void)
{
    /* lavfi unpaced, treated as a file: back-pressure, nothing lost */
    struct run r = {
        .input = "lavfi:testsrc2=size=160x120:rate=30",
        .realtime = -1, .live = 0, .detect_ms = 5, .max_frames = 60, .queue_len = 2,
    };
    CHECK(do_run(&r) == 0, "block: run");
    const struct pipeline_stats *s = &r.st;
    CHECK(s->decoded == 60 && s->detected == 60 && s->dropped == 0 && r.results == 60,
          "block: 60 decoded = detected (%lld) = consumed (%lld), dropped %lld",
          (long long)s->detected, (long long)r.results, (long long)s->dropped);
    CHECK(r.in_order, "block: frames in order");
    CHECK(r.held_ok, "block: each frame's detections are its own");
    CHECK(s->frame_queue_peak <= 2, "block: peak %d <= 2", s->frame_queue_peak);
}

static void test_display_all(void)
{
    struct run r = {
        .input = "lavfi:testsrc2=size=160x120:rate=30",
        .live = 1, .display_all = 1, .detect_ms = DETECT_MS, .max_frames = 45,
    };
    CHECK(do_run(&r) == 0, "all: run");
    const struct pipeline_stats *s = &r.st;
    CHECK(accounted(s), "all: accounting");
    CHECK(r.displays + s->display_dropped == s->decoded,
          "all: displayed %lld + display-dropped %lld = decoded %lld", (long long)r.displays,
          (long long)s->display_dropped, (long long)s->decoded);
    CHECK(r.displays >= s->decoded - 2, "all: the display keeps up (%lld of %lld)",
          (long long)r.displays, (long long)s->decoded);
    CHECK(r.results == s->detected && s->detected < s->decoded, "all: results %lld",
          (long long)r.results);
}

static void test_stride(void)
{
    struct run r = {
        .input = "lavfi:testsrc2=size=160x120:rate=30",
        .realtime = -1, .live = 0, .stride = 3, .detect_ms = 2, .max_frames = 31,
    };
    CHECK(do_run(&r) == 0, "stride: run");
    const struct pipeline_stats *s = &r.st;
    CHECK(s->detected == 11 && s->held == 20 && s->dropped == 0,
          "stride 3 of 31: detected %lld (11), held %lld (20)", (long long)s->detected,
          (long long)s->held);
    CHECK(r.held_ok && r.in_order, "stride: held frames carry the last boxes, in order");
}

static void test_shutdown(void)
{
    /* ABORT mid-run on a live source: quick, exact, every frame returned */
    struct run a = {
        .input = "lavfi:testsrc2=size=160x120:rate=30",
        .live = 1, .detect_ms = DETECT_MS, .stop_after_s = 1.0,
        .stop_how = PIPE_STOP_ABORT,
    };
    CHECK(do_run(&a) == 0, "abort: run");
    CHECK(a.ret == 0 && accounted(&a.st) && a.st.interrupted, "abort: accounted, interrupted");
    CHECK(a.finish_s < 1.0, "abort: finished in %.3f s", a.finish_s);

    /* ABORT with back-pressure and a slow detector: queued frames discarded */
    struct run b = {
        .input = "lavfi:testsrc2=size=160x120:rate=30",
        .realtime = -1, .live = 0, .detect_ms = 200, .stop_after_s = 0.5, .queue_len = 4,
        .stop_how = PIPE_STOP_ABORT,
    };
    CHECK(do_run(&b) == 0, "abort/block: run");
    CHECK(accounted(&b.st) && b.st.discarded > 0, "abort/block: %lld discarded, accounted",
          (long long)b.st.discarded);
    CHECK(b.finish_s < 1.0, "abort/block: finished in %.3f s", b.finish_s);

    /* DRAIN: stop reading, everything read is still detected and consumed */
    struct run d = {
        .input = "lavfi:testsrc2=size=160x120:rate=30",
        .realtime = -1, .live = 0, .detect_ms = 20, .stop_after_s = 0.5, .queue_len = 4,
        .stop_how = PIPE_STOP_DRAIN,
    };
    CHECK(do_run(&d) == 0, "drain: run");
    CHECK(d.st.decoded > 0 && d.st.detected == d.st.decoded && d.st.dropped == 0 &&
          d.results == d.st.decoded && d.in_order,
          "drain: decoded %lld = detected %lld = consumed %lld", (long long)d.st.decoded,
          (long long)d.st.detected, (long long)d.results);
    CHECK(d.finish_s < 1.0, "drain: finished in %.3f s", d.finish_s);

    /* end of input: a finite lavfi graph */
    struct run e = {
        .input = "lavfi:testsrc2=size=160x120:rate=30:duration=1",
        .realtime = -1, .live = 0, .detect_ms = 1,
    };
    CHECK(do_run(&e) == 0, "eof: run");
    CHECK(e.ret == 0 && e.st.decoded == 30 && e.results == 30 && !e.st.interrupted,
          "eof: 30 frames, not interrupted (got %lld)", (long long)e.st.decoded);

    /* SIGINT: the handler interrupts the source; the pipeline drains */
    CHECK(signals_install() == 0, "signals installed");
    struct run s = {
        .input = "lavfi:testsrc2=size=160x120:rate=30",
        .live = 1, .detect_ms = 20, .raise_sigint_after_results = 5,
    };
    CHECK(do_run(&s) == 0, "sigint: run");
    CHECK(signals_pending() == 1 && signals_last() == SIGINT, "sigint: seen once");
    CHECK(s.st.interrupted && accounted(&s.st), "sigint: source interrupted, accounted");
    CHECK(s.finish_s < 1.0, "sigint: ended in %.3f s", s.finish_s);
    signals_restore();

    /* a detector error ends the run with an error, printed once (by the
     * detector): stderr goes to a file for the run */
    struct run x = {
        .input = "lavfi:testsrc2=size=160x120:rate=30",
        .realtime = -1, .live = 0, .detect_ms = 1, .fail_at = 3, .max_frames = 100,
    };
    FILE *err = tmpfile();
    int saved = dup(STDERR_FILENO);
    fflush(stderr);
    if (err && saved >= 0)
        dup2(fileno(err), STDERR_FILENO);
    int xr = do_run(&x);
    fflush(stderr);
    if (err && saved >= 0)
        dup2(saved, STDERR_FILENO);
    if (saved >= 0)
        close(saved);
    int lines = 0, ours = 0;
    char line[256];
    if (err) {
        rewind(err);
        while (fgets(line, sizeof line, err)) {
            lines++;
            ours += strstr(line, "fake detector: call 3 refused") != NULL;
            fputs(line, stderr);
        }
        fclose(err);
    }
    CHECK(err && lines == 1 && ours == 1, "error: printed once (%d lines on stderr)", lines);
    CHECK(xr == 0, "error: run");
    CHECK(x.ret < 0 && x.st.error < 0 && x.st.detected == 3 && accounted(&x.st),
          "error: reported, detected %lld, accounted", (long long)x.st.detected);
    CHECK(x.finish_s < 1.0, "error: ended in %.3f s", x.finish_s);
}

static void test_hist(void)
{
    struct lat_hist h;
    lat_hist_init(&h);
    CHECK(isnan(lat_hist_pct(&h, 50)), "empty histogram");
    for (int i = 1; i <= 1000; i++)
        lat_hist_add(&h, i * 0.1); /* 0.1 .. 100 ms */
    double p50 = lat_hist_pct(&h, 50), p99 = lat_hist_pct(&h, 99);
    CHECK(fabs(p50 - 50) / 50 < 0.011, "p50 %.3f ~ 50", p50);
    CHECK(fabs(p99 - 99) / 99 < 0.011, "p99 %.3f ~ 99", p99);
    CHECK(lat_hist_pct(&h, 100) == 100 && h.max == 100 && h.min == 0.1, "max exact");
    CHECK(fabs(lat_hist_mean(&h) - 50.05) < 1e-9, "mean");
}

int main(void)
{
    test_hist();
    test_live_bounded();
    test_backpressure();
    test_display_all();
    test_stride();
    test_shutdown();
    return check_summary("test_pipeline");
}
