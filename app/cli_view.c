/*
 * cli_view.c — `vdetect view [model] [source opts] SOURCE`: the live window.
 *
 * The main thread is the render thread (SDL stays on it): it waits for window
 * events, and the pipeline's workers wake it (render_window_wake) whenever
 * they queue something for it. With --display all (the default) the decode
 * thread hands every frame to the screen as well as to the detector, and the
 * screen overlays the newest detections it has, showing their age; with
 * --display detected only frames with their own detections are shown.
 *
 * Files are paced to their timestamps and use back-pressure (every frame is
 * detected); live sources drop the oldest queued frame when the detector is
 * behind, and the drops are counted and shown.
 *
 * Ends on q/Esc/window close (exit 0), end of input or --frames N (0), SIGINT
 * or SIGTERM (130), or an error (1). With no display it says so and exits 2
 * before opening anything slow.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "app.h"
#include "pipeline.h"

static const char view_help[] =
    "Usage: vdetect view [model options] [source options] [options] SOURCE\n"
    "\n"
    "Show SOURCE in a window with the detections drawn: a webcam (/dev/videoN,\n"
    "webcam, webcam:N), a file, a URL (rtsp://, http://, udp://, ...) or a\n"
    "lavfi:GRAPH. Live sources never lag: when the detector is slower than the\n"
    "camera the oldest queued frame is dropped (and counted). Files play at their\n"
    "own pace and every frame is detected.\n"
    "\n"
    "Options:\n"
    "%s"
    "\n"
    "Keys: q/Esc quit, space pause, . next frame (paused), Left/Right seek\n"
    "-/+5 s (Shift, Down/Up: 60 s; files), +/- score threshold, l labels,\n"
    "b boxes, h HUD, s screenshot (vdetect-DATE-TIME.png here), f fullscreen, ? help.\n"
    "\n"
    "The HUD (in a corner the boxes leave free, or in the letterbox band):\n"
    "  source/detect/display  frames per second read from the source, run\n"
    "                         through the detector, put on the screen\n"
    "  dropped   frames the detector never saw because it was behind (live\n"
    "            sources; files wait for it instead)\n"
    "  box age   how much older the frame the boxes were found on is than the\n"
    "            frame shown (--display all shows every frame with the newest\n"
    "            boxes; 0 with --display detected)\n"
    "  lag       from the shown frame's capture (decode, for files) to the\n"
    "            screen: the delay you see (capture->display in the summary)\n"
    "  score >=  the display threshold (+/-; tracked boxes follow the tracker's\n"
    "            thresholds instead)\n"
    "  tracks    --track: distinct objects so far, per class; line N: crossings\n"
    "            of --count-line N each way (> left-to-right, < right-to-left)\n"
    "  gating    --motion / --detect-fps: frames run through the detector, still\n"
    "            (nothing moved) and held (rate cap) so far\n"
    "\n"
    "Tracking options:\n"
    "%s"
    "\n"
    "Motion options:\n"
    "%s"
    "\n"
    "Model options:\n"
    "%s"
    "\n"
    "Exit status: 0 done, 1 error, 2 bad usage or no display, 130 interrupted.\n";

enum end_reason { END_NONE, END_QUIT, END_INPUT, END_SIGNAL, END_ERROR };

/* The newest detection results, so a frame is drawn with the newest
 * detections of a frame at or before it (never boxes from its future, which
 * a paused or stepped file would otherwise show). */
#define VIEW_RESULTS 8
struct view_result {
    int64_t frame;                    /* index of the frame they were found on; -1: empty */
    double capture, pts_sec;          /* that frame's capture time and stream time (s) */
    int n;
    struct model_detection *dets;     /* max_dets entries */
    int *ids;                         /* max_dets entries: track identities, when tracked */
    int tracked;
};

struct view {
    struct cli_model cm;
    struct tracking_options to;
    struct tracking *trk;             /* --track: NULL when off */
    struct gate_options go;
    struct gate *gate;                /* --motion etc.: NULL when off */
    char hud_extra[320];
    struct video_source_options so;
    const char *source, *stats_path, *log_path;
    struct outfile *stats_file;       /* opened at start, written on exit */
    struct outfile *log_file;         /* --stats-log, a line per interval */
    long stats_every;                 /* s */
    struct stats_log log;
    int display_all, queue_len, quiet, overwrite, loop;
    int list;                         /* 1 --list-devices, 2 --list-formats */
    long long max_frames;

    struct video_source *src;
    const struct video_info *info;
    struct render_window *win;
    struct render_style *style;
    struct pipeline *p;

    /* main thread state */
    struct view_result results[VIEW_RESULTS];  /* ring, newest at result_next - 1 */
    int result_next;
    struct model_detection *result_mem;
    int *result_ids;
    struct render_det *rdets;
    int nrdets;                       /* drawn on the shown frame (for the HUD's placement) */
    int max_dets;
    uint8_t *shown;                   /* the shown frame's pixels as decoded (redraws) */
    uint8_t *canvas;                  /* shown + boxes: what is presented */
    int have_shown;
    int64_t shown_index;
    double shown_capture, shown_pts;
    int paused, show_labels, show_boxes, show_hud, show_help;
    int steps;                        /* paused file: frames still to show ('.', a seek) */
    unsigned seek_gen;                /* frames of an older seek_gen are stale */
    char status[128];
    double status_until;
    char title[512], model_name[64];
    /* what became of the frames offered for display (the summary's clause) */
    int64_t offered, superseded, paused_skipped, stale, seeks;
    /* HUD rates, recomputed every half second */
    double rate_t;
    int64_t rate_decoded, rate_detected, rate_displayed;
    double src_fps, det_fps, disp_fps;
    double last_age_ms, last_latency_ms;
    struct run_report rep;
};

/* Is there any display SDL could open? Checked before anything slow, so a
 * headless run fails in milliseconds; render_window_open() has the last word. */
static int display_maybe_available(void)
{
    const char *drv = getenv("SDL_VIDEODRIVER");
    const char *x = getenv("DISPLAY"), *wl = getenv("WAYLAND_DISPLAY");
    int has_x = x && *x, has_wl = wl && *wl;
    if (!drv || !*drv)
        return has_x || has_wl;
    if (!strcmp(drv, "x11"))
        return has_x;
    if (!strcmp(drv, "wayland"))
        return has_wl;
    if (!strcmp(drv, "dummy") || !strcmp(drv, "offscreen")) {
        const char *allow = getenv("VDETECT_ALLOW_OFFSCREEN");
        return allow && !strcmp(allow, "1");
    }
    return 1; /* kmsdrm and others: let SDL try */
}

static int no_display(void)
{
    fprintf(stderr, "vdetect view: no display available (DISPLAY/WAYLAND_DISPLAY not set or "
                    "not usable); use 'vdetect annotate SOURCE -o OUT' to draw the detections "
                    "into a file, or 'vdetect bench'\n");
    return APP_USAGE;
}

static void wake_window(void *ctx)
{
    render_window_wake(ctx);
}

static void set_status(struct view *v, double secs, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_status(struct view *v, double secs, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->status, sizeof v->status, fmt, ap);
    va_end(ap);
    v->status_until = video_now() + secs;
}

static void screenshot(struct view *v)
{
    char name[64];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    size_t n = strftime(name, sizeof name, "vdetect-%Y%m%d-%H%M%S", &tm);
    /* several in one second: -2, -3, ...; never over an existing file (the
     * final rename refuses one that appears meanwhile, too) */
    char path[80];
    struct stat st;
    snprintf(path, sizeof path, "%s.png", name);
    for (int k = 2; k < 100 && lstat(path, &st) == 0; k++)
        snprintf(path, sizeof path, "%.*s-%d.png", (int)n, name, k);
    struct outfile *of = NULL;
    int r = outfile_open(&of, "screenshot", path, 0, 0);
    if (r == 0 && render_window_screenshot(v->win, outfile_write_path(of)) < 0)
        r = -1;
    if (r == 0)
        r = outfile_commit(&of);
    outfile_discard(&of);
    if (r == 0) {
        fprintf(stderr, "view: screenshot saved to %s\n", path);
        set_status(v, 3, "screenshot: %s", path);
    } else {
        set_status(v, 3, "screenshot failed");
    }
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

/* "vdetect — resnet50_fpn — clip.mp4 [paused]" */
static void update_title(struct view *v)
{
    if (!v->win)
        return;
    snprintf(v->title, sizeof v->title, "vdetect \xe2\x80\x94 %s \xe2\x80\x94 %s%s",
             v->model_name, base_name(v->source), v->paused ? " [paused]" : "");
    render_window_set_title(v->win, v->title);
}

/* h:mm:ss.s, or m:ss.s */
static const char *fmt_time(char *buf, size_t n, double t)
{
    if (!(t >= 0))
        t = 0;
    int h = (int)(t / 3600), m = (int)(fmod(t, 3600) / 60);
    double sec = fmod(t, 60);
    if (h)
        snprintf(buf, n, "%d:%02d:%04.1f", h, m, sec);
    else
        snprintf(buf, n, "%d:%04.1f", m, sec);
    return buf;
}

static void results_clear(struct view *v)
{
    for (int i = 0; i < VIEW_RESULTS; i++)
        v->results[i].frame = -1;
}

static void result_add(struct view *v, const struct pipe_frame *f)
{
    struct view_result *r = &v->results[v->result_next];
    v->result_next = (v->result_next + 1) % VIEW_RESULTS;
    r->frame = f->dets_frame;
    r->capture = f->dets_capture_time;
    r->pts_sec = f->dets_kind == PIPE_DETS_OWN || f->tracked ? f->vf->pts_sec : NAN;
    r->n = f->ndets;
    memcpy(r->dets, f->dets, (size_t)f->ndets * sizeof *f->dets);
    r->tracked = f->tracked;
    if (f->tracked)
        memcpy(r->ids, f->track_ids, (size_t)f->ndets * sizeof *f->track_ids);
}

/* The newest result for a frame at or before frame; NULL if none. */
static const struct view_result *result_for(const struct view *v, int64_t frame)
{
    const struct view_result *best = NULL;
    for (int i = 0; i < VIEW_RESULTS; i++) {
        const struct view_result *r = &v->results[i];
        if (r->frame >= 0 && r->frame <= frame && (!best || r->frame > best->frame))
            best = r;
    }
    return best;
}

static void fill_hud(struct view *v, struct render_hud *h)
{
    double now = video_now();
    if (now - v->rate_t >= 0.5) {
        int64_t dec = pipeline_decoded(v->p), det = pipeline_detected(v->p);
        double dt = now - v->rate_t;
        if (v->rate_t > 0) {
            v->src_fps = (double)(dec - v->rate_decoded) / dt;
            v->det_fps = (double)(det - v->rate_detected) / dt;
            v->disp_fps = (double)(v->rep.displayed - v->rate_displayed) / dt;
        } else {
            v->src_fps = v->det_fps = v->disp_fps = -1;
        }
        v->rate_t = now;
        v->rate_decoded = dec;
        v->rate_detected = det;
        v->rate_displayed = v->rep.displayed;
    }
    memset(h, 0, sizeof *h);
    h->source_fps = v->src_fps;
    h->detect_fps = v->det_fps;
    h->display_fps = v->disp_fps;
    h->dropped = pipeline_dropped(v->p);
    h->result_age_ms = v->last_age_ms;
    h->latency_ms = v->last_latency_ms;
    h->score_thresh = (float)v->cm.score_thresh;
    h->paused = v->paused;
    h->show_hud = v->show_hud;
    h->show_help = v->show_help;
    h->status = now < v->status_until ? v->status : NULL;
    h->mode = v->display_all ? "display all" : "display detected";
    h->extra = tracking_hud(v->trk, &v->cm);
    if (v->gate) {
        /* the gate's counters live on the detect thread: the pipeline's atomics */
        int64_t det = pipeline_detected(v->p), still = pipeline_still(v->p);
        snprintf(v->hud_extra, sizeof v->hud_extra, "%s%sgating: %lld detected, %lld still",
                 h->extra ? h->extra : "", h->extra ? "\n" : "", (long long)det,
                 (long long)still);
        h->extra = v->hud_extra;
    }
    h->dets = v->show_boxes ? v->rdets : NULL;
    h->ndets = v->show_boxes ? v->nrdets : 0;
}

/* Draw the shown frame with the detections that go with it and present it.
 * fresh: a newly shown frame (counted), else a redraw of the same one (a
 * toggle, the threshold, its own detections arriving while paused). */
static int present_shown(struct view *v, int fresh)
{
    const struct video_info *info = v->info;
    size_t bytes = (size_t)info->width * info->height * 3;
    memcpy(v->canvas, v->shown, bytes);
    const struct view_result *r = result_for(v, v->shown_index);
    if (!r)
        v->last_age_ms = -1;
    else if (!isnan(r->pts_sec) && !isnan(v->shown_pts) && !info->live)
        v->last_age_ms = (v->shown_pts - r->pts_sec) * 1e3; /* pauses don't count */
    else
        v->last_age_ms = (v->shown_capture - r->capture) * 1e3;
    double t0 = video_now();
    v->nrdets = r ? app_render_dets(&v->cm, r->dets, r->n, r->tracked ? r->ids : NULL, v->rdets,
                                    v->max_dets)
                  : 0;
    struct render_draw_options o;
    render_draw_options_init(&o);
    o.ntrails = tracking_trails(v->trk, &v->cm, &o.trails);
    o.nlines = tracking_lines(v->trk, &o.lines);
    o.nzones = zoning_render(tracking_zoning(v->trk), &o.zones);
    o.show_boxes = v->show_boxes;
    o.show_labels = v->show_labels;
    if (render_draw(v->style, v->canvas, info->width, info->height, 3 * info->width, v->rdets,
                    v->nrdets, &o) < 0)
        return -1;
    double t1 = video_now();
    struct render_hud hud;
    if (fresh)
        v->last_latency_ms = (t1 - v->shown_capture) * 1e3;
    fill_hud(v, &hud);
    if (render_window_present(v->win, v->canvas, info->width, info->height, 3 * info->width,
                              &hud) < 0)
        return -1;
    if (!fresh)
        return 0;
    double t2 = video_now();
    v->last_latency_ms = (t2 - v->shown_capture) * 1e3;
    lat_hist_add(&v->rep.draw_ms, (t1 - t0) * 1e3);
    lat_hist_add(&v->rep.output_ms, (t2 - t1) * 1e3);
    lat_hist_add(&v->rep.capture_to_display, v->last_latency_ms);
    lat_hist_add(&v->log.display, v->last_latency_ms);
    if (v->rep.displayed++ == 0)
        v->rep.t_first_display = t2;
    v->rep.t_last_display = t2;
    return 0;
}

/* Make f the shown frame and present it. */
static int show_frame(struct view *v, struct pipe_frame *f)
{
    struct video_frame *vf = f->vf;
    memcpy(v->shown, vf->rgb, (size_t)vf->width * vf->height * 3);
    v->have_shown = 1;
    v->shown_index = vf->index;
    v->shown_capture = vf->capture_time;
    v->shown_pts = vf->pts_sec;
    return present_shown(v, 1);
}

/* Seek a file by delta seconds from the shown frame. */
static void seek(struct view *v, double delta)
{
    if (v->info->live) {
        set_status(v, 2, "cannot seek a live source");
        return;
    }
    double from = v->have_shown && !isnan(v->shown_pts) ? v->shown_pts : 0;
    double t = from + delta, end = v->info->duration;
    if (end > 1 && t > end - 0.5)
        t = end - 0.5; /* keep the last half second to look at, not the end */
    if (t < 0)
        t = 0;
    v->seek_gen = pipeline_seek(v->p, t);
    v->seeks++;
    results_clear(v); /* boxes from before the seek belong to other frames */
    if (v->paused)
        v->steps = 1; /* show where it landed */
    char a[32];
    set_status(v, 2, "seek %+.0f s: %s", delta, fmt_time(a, sizeof a, t));
}

/* One event. Returns END_QUIT to stop, else END_NONE; *redraw set when the
 * frame should be drawn again (a display setting changed). */
static enum end_reason handle_event(struct view *v, const struct render_event *ev, int *redraw)
{
    *redraw = 0;
    switch (ev->type) {
    case RENDER_EV_QUIT:
        return END_QUIT;
    case RENDER_EV_PAUSE:
        v->paused = !v->paused;
        v->steps = 0;
        if (!v->info->live)
            pipeline_pause(v->p, v->paused);
        update_title(v);
        break;
    case RENDER_EV_STEP:
        if (v->info->live) {
            set_status(v, 2, "frame step: files only (a live source cannot wait)");
        } else if (!v->paused) {
            set_status(v, 2, "frame step: pause first (space)");
        } else {
            v->steps++;
            pipeline_step(v->p);
        }
        break;
    case RENDER_EV_SEEK:
        seek(v, ev->seek);
        break;
    case RENDER_EV_THRESH_UP:
    case RENDER_EV_THRESH_DOWN: {
        double t = v->cm.score_thresh + (ev->type == RENDER_EV_THRESH_UP ? 0.05 : -0.05);
        t = round(t * 100) / 100;
        v->cm.score_thresh = t < 0 ? 0 : t > 1 ? 1 : t;
        if (!v->show_hud) /* else the HUD's "score >=" line says it */
            set_status(v, 2, "score >= %.2f", v->cm.score_thresh);
        *redraw = 1;
        break;
    }
    case RENDER_EV_TOGGLE_LABELS:
        v->show_labels = !v->show_labels;
        set_status(v, 2, v->show_labels ? "labels on" : "labels off");
        *redraw = 1;
        break;
    case RENDER_EV_TOGGLE_BOXES:
        v->show_boxes = !v->show_boxes;
        set_status(v, 2, v->show_boxes ? "boxes on" : "boxes off");
        *redraw = 1;
        break;
    case RENDER_EV_TOGGLE_HUD:
        v->show_hud = !v->show_hud;
        set_status(v, 2, v->show_hud ? "HUD on" : "HUD off (h shows it)");
        break;
    case RENDER_EV_HELP:
        v->show_help = !v->show_help;
        break;
    case RENDER_EV_SCREENSHOT:
        screenshot(v);
        break;
    case RENDER_EV_FULLSCREEN:
    case RENDER_EV_REDRAW:
    case RENDER_EV_WAKE:
    case RENDER_EV_NONE:
        break;
    }
    return END_NONE;
}

/* A result item: track it (--track) and keep its detections (display_all:
 * nothing else to do with it). Returns 1 when they belong to the shown frame
 * (worth a redraw), 0, or -1 when tracking failed (printed). */
static int take_result(struct view *v, struct pipe_frame *f)
{
    if (f->seek_gen < v->seek_gen || f->dets_kind == PIPE_DETS_NONE)
        return 0;
    if (f->dets_kind != PIPE_DETS_OWN) {
        /* --motion / --detect-fps: an earlier frame's boxes, which the result of
         * that frame already shows; with --track the tracker moves them and
         * they become this frame's own */
        if (!v->trk)
            return 0;
        if (tracking_frame(v->trk, &v->cm, f) < 0)
            return -1;
        f->dets_frame = f->vf->index;
        result_add(v, f);
        return v->have_shown && f->dets_frame == v->shown_index;
    }
    lat_hist_add(&v->log.result, (f->t_result - f->dets_capture_time) * 1e3);
    if (tracking_frame(v->trk, &v->cm, f) < 0)
        return -1;
    result_add(v, f);
    return v->have_shown && f->dets_frame == v->shown_index;
}

/* The render loop. */
static enum end_reason run(struct view *v)
{
    double next_hud = 0;
    int file = !v->info->live;
    for (;;) {
        if (signals_pending())
            return END_SIGNAL;
        struct render_event ev;
        int redraw = 0, overlay = 0;
        /* wake at least every 100 ms: the HUD ticks and signals are seen */
        if (render_window_wait(v->win, &ev, 100) > 0) {
            do {
                int r = 0;
                if (handle_event(v, &ev, &r) == END_QUIT)
                    return END_QUIT;
                redraw |= r;
                overlay |= ev.type != RENDER_EV_WAKE && ev.type != RENDER_EV_NONE;
            } while (render_window_poll(v->win, &ev) > 0);
        }
        struct pipe_frame *show = NULL, *f;
        enum pipe_item it;
        int ended = 0;
        /* A paused file takes only results (the display waits where it is)
         * and the frames asked for with '.' or a seek, one at a time, in order. */
        int hold = file && v->paused && v->steps == 0;
        for (;;) {
            if (hold && v->display_all)
                it = pipeline_next_result(v->p, &f);
            else if (hold)
                break; /* the results are the frames: leave them queued */
            else
                it = pipeline_next(v->p, 0, &f);
            if (it == PIPE_NONE)
                break;
            if (it == PIPE_END) {
                ended = 1;
                break;
            }
            int taken = it == PIPE_RESULT ? take_result(v, f) : 0;
            if (taken < 0) {   /* tracking failed (printed) */
                pipeline_release(v->p, f);
                return END_ERROR;
            }
            if (taken)
                redraw = 1;
            if (it == PIPE_RESULT && v->display_all) {
                pipeline_release(v->p, f);
                continue;
            }
            /* a frame offered for display */
            v->offered++;
            if (f->seek_gen < v->seek_gen) {
                v->stale++; /* decoded before the last seek */
                pipeline_release(v->p, f);
                continue;
            }
            if (v->paused && !file) {
                v->paused_skipped++; /* a camera does not wait */
                pipeline_release(v->p, f);
                continue;
            }
            /* only the newest one is worth presenting */
            if (show)
                v->superseded++;
            pipeline_release(v->p, show);
            show = f;
            if (file && v->paused) {
                v->steps--; /* one frame per step */
                break;
            }
        }
        if (show) {
            int r = show_frame(v, show);
            pipeline_release(v->p, show);
            if (r < 0)
                return END_ERROR;
            next_hud = video_now() + 0.1;
        } else if (redraw && v->have_shown) {
            if (present_shown(v, 0) < 0)
                return END_ERROR;
            next_hud = video_now() + 0.1;
        } else {
            double now = video_now();
            if ((overlay || now >= next_hud) && v->rep.displayed > 0) {
                struct render_hud hud;
                fill_hud(v, &hud);
                if (render_window_present(v->win, NULL, 0, 0, 0, &hud) < 0)
                    return END_ERROR;
                next_hud = now + 0.1;
            }
        }
        if (v->log.f && stats_log_tick(&v->log, video_now(), pipeline_decoded(v->p),
                                       pipeline_detected(v->p), v->rep.displayed,
                                       pipeline_dropped(v->p), 0) < 0) {
            fprintf(stderr, "vdetect view: --stats-log %s: write error\n", v->log_path);
            return END_ERROR;
        }
        if (ended)
            return END_INPUT;
    }
}

/* The summary's second line, when not every frame that came through was
 * shown: where the others went, adding up to the first line's figure —
 * decoded (--display all: every decoded frame is offered to the screen) or
 * detected (--display detected). */
static void summary_rest(const struct view *v, const struct pipeline_stats *ps)
{
    int64_t base = v->display_all ? ps->decoded : ps->detected + ps->held + ps->still;
    int64_t queued = v->display_all ? ps->unconsumed_display : ps->unconsumed_results;
    int64_t evicted = v->display_all ? ps->display_dropped : 0;
    int64_t parts[] = {v->superseded, v->stale, v->paused_skipped, evicted, queued};
    static const char *const what[] = {
        "replaced by a newer frame before the screen refreshed",
        "decoded before a seek",
        "arrived while paused",
        "dropped by the display queue (the screen was behind)",
        "still queued at the end",
    };
    int64_t sum = v->rep.displayed;
    for (int i = 0; i < 5; i++)
        sum += parts[i];
    char line[512];
    int n = snprintf(line, sizeof line, "view: %lld %s = %lld shown", (long long)base,
                     v->display_all ? "decoded" : "detected", (long long)v->rep.displayed);
    for (int i = 0; i < 5; i++)
        if (parts[i] && n < (int)sizeof line)
            n += snprintf(line + n, sizeof line - n, " + %lld %s", (long long)parts[i], what[i]);
    if (sum != base && n < (int)sizeof line) /* a counting bug: say so rather than hide it */
        n += snprintf(line + n, sizeof line - n, " (%lld unaccounted)",
                      (long long)(base - sum));
    if (ps->seek_skipped && n < (int)sizeof line)
        n += snprintf(line + n, sizeof line - n,
                      "; the detector skipped %lld frame%s decoded before a seek",
                      (long long)ps->seek_skipped, ps->seek_skipped == 1 ? "" : "s");
    if (ps->loops && n < (int)sizeof line)
        n += snprintf(line + n, sizeof line - n, "; looped %lld time%s", (long long)ps->loops,
                      ps->loops == 1 ? "" : "s");
    if (v->rep.displayed != base || ps->seek_skipped || ps->loops)
        fprintf(stderr, "%s\n", line);
}

/* --display all|detected */
static int opt_display(void *dest, const char *cmd, const char *opt, const char *val)
{
    int *display_all = dest;
    if (!strcmp(val, "all"))
        *display_all = 1;
    else if (!strcmp(val, "detected"))
        *display_all = 0;
    else
        return app_usage_error(cmd, "%s: expected all or detected, got '%s'", opt, val);
    return APP_OK;
}

/* --list-devices; --list-formats DEV: the device is the SOURCE (the last one wins) */
static int opt_list(void *dest, const char *cmd, const char *opt, const char *val)
{
    (void)cmd;
    (void)opt;
    struct view *v = dest;
    v->list = val ? 2 : 1;
    if (val)
        v->source = val;
    return APP_OK;
}

static int opt_source(void *ctx, const char *cmd, const char *arg)
{
    struct view *v = ctx;
    if (v->source)
        return app_usage_error(cmd, "more than one SOURCE given ('%s', '%s')", v->source, arg);
    v->source = arg;
    return APP_OK;
}

/* APP_OK, APP_USAGE (message printed) or OPT_HELP_ASKED (help printed). */
static int parse_args(struct view *v, int argc, char **argv)
{
    const char *cmd = "view";
    struct opt source_opts[CLI_SOURCE_NOPTS];
    cli_source_options(source_opts, &v->so);
    const struct opt opts[] = {
        { .name = "--display", .arg = "all|detected", .kind = OPT_CALL, .dest = &v->display_all,
          .call = opt_display,
          .help = "all: every decoded frame at the source's rate with the\n"
                  "newest detections and their age (default); detected:\n"
                  "only frames with their own detections" },
        { .name = "--queue", .arg = "N", .kind = OPT_INT, .dest = &v->queue_len, .lo = 1,
          .hi = 64, .help = "frame queue length (default 1 live, 2 files)" },
        { .name = "--frames", .arg = "N", .kind = OPT_LLONG, .dest = &v->max_frames, .lo = 1,
          .hi = 2000000000, .help = "stop after N frames from the source" },
        { .name = "--loop", .kind = OPT_FLAG, .dest = &v->loop,
          .help = "files: start again at the end (q or --frames N ends)" },
        { .name = "--stats-json", .arg = "FILE", .kind = OPT_STRING, .dest = &v->stats_path,
          .help = "on exit, the run's figures in the bench report format" },
        { .name = "--stats-log", .arg = "FILE|-", .kind = OPT_STRING, .dest = &v->log_path,
          .help = "while running, one JSON line per interval: frames,\n"
                  "drops, latency percentiles, resident memory" },
        { .name = "--stats-every", .arg = "S", .kind = OPT_LONG, .dest = &v->stats_every,
          .lo = 1, .hi = 86400, .help = "the --stats-log interval in seconds (default 60)" },
        { .short_name = 'y', .kind = OPT_FLAG, .dest = &v->overwrite,
          .help = "replace the --stats-json/--stats-log FILE if it exists" },
        { .kind = OPT_TABLE, .sub = source_opts },
        { .name = "--list-devices", .kind = OPT_CALL, .dest = v, .call = opt_list,
          .help = "list the video capture devices and exit" },
        { .name = "--list-formats", .arg = "DEV", .kind = OPT_CALL, .dest = v, .call = opt_list,
          .help = "list a device's formats, sizes and rates and exit" },
        { .name = "--quiet", .short_name = 'q', .kind = OPT_FLAG, .dest = &v->quiet,
          .help = "no summary line on exit" },
        { .name = "--help", .short_name = 'h', .kind = OPT_HELP, .help = "show this help" },
        { .kind = OPT_END },
    };
    const struct opt *const tables[] = { opts, v->to.opts, v->go.opts, v->cm.opts, NULL };
    int r = opt_parse(cmd, argc, argv, tables, opt_source, v);
    if (r == OPT_HELP_ASKED)
        opt_help(stdout, view_help, tables);
    if (r != APP_OK)
        return r;
    if ((r = tracking_options_done(&v->to, cmd)) != APP_OK ||
        (r = gate_options_done(&v->go, cmd)) != APP_OK)
        return r;
    if (!v->list && !v->source)
        return app_usage_error(cmd, "no SOURCE given");
    if (v->stats_every && !v->log_path)
        return app_usage_error(cmd, "--stats-every needs --stats-log");
    if (!v->stats_every)
        v->stats_every = 60;
    return APP_OK;
}

int cmd_view(int argc, char **argv)
{
    const char *cmd = "view";
    struct view *v = calloc(1, sizeof *v);
    struct pipeline_stats *ps = calloc(1, sizeof *ps);
    int status = APP_OK, sig_installed = 0;
    if (!v || !ps) {
        fprintf(stderr, "vdetect view: out of memory\n");
        free(v);
        free(ps);
        return APP_FAIL;
    }
    cli_model_init(&v->cm, argc);
    tracking_options_init(&v->to, 0);
    gate_options_init(&v->go);
    v->display_all = 1;
    v->show_labels = v->show_boxes = v->show_hud = 1;
    run_report_init(&v->rep);

    int r = parse_args(v, argc, argv);
    if (r != APP_OK) {
        status = r == OPT_HELP_ASKED ? APP_OK : r;
        goto done;
    }
    if (v->list == 1) {
        status = video_list_devices(stdout) < 0 ? APP_FAIL : APP_OK;
        goto done;
    }
    if (v->list == 2) {
        status = video_list_formats(v->source, stdout) < 0 ? APP_FAIL : APP_OK;
        goto done;
    }
    struct out_check oc;
    out_check_init(&oc, cmd, v->overwrite);
    if ((status = out_check_output(&oc, "--stats-json", v->stats_path)) != APP_OK ||
        (status = out_check_output(&oc, "--stats-log", v->log_path)) != APP_OK ||
        (status = out_check_input(&oc, "SOURCE", v->source)) != APP_OK ||
        (status = out_check_model(&oc, &v->cm)) != APP_OK ||
        (status = out_check_done(&oc)) != APP_OK)
        goto done;
    if (!display_maybe_available()) {
        status = no_display();
        goto done;
    }
    if (v->stats_path && outfile_open(&v->stats_file, "stats-json", v->stats_path, v->overwrite,
                                      1) < 0) {
        status = APP_FAIL;
        goto done;
    }
    if (v->log_path && outfile_open(&v->log_file, "stats-log", v->log_path, v->overwrite, 1) < 0) {
        status = APP_FAIL;
        goto done;
    }
    if (signals_install() == 0)
        sig_installed = 1;

    v->so.input = v->source;
    v->so.realtime = 1; /* files play at their own pace */
    if (video_open(&v->src, &v->so) < 0) {
        status = signals_pending() ? APP_INTERRUPTED : APP_FAIL;
        goto done;
    }
    signals_set_source(v->src);
    const struct video_info *info = video_source_info(v->src);
    v->info = info;

    char title[300];
    snprintf(title, sizeof title, "vdetect \xe2\x80\x94 %s", base_name(v->source));
    r = render_window_open(&v->win, title, info->width, info->height);
    if (r == RENDER_NO_DISPLAY) {
        status = no_display();
        goto done;
    }
    if (r < 0 || render_style_open(&v->style, NULL) < 0) {
        status = APP_FAIL;
        goto done;
    }
    if ((status = cli_model_load(&v->cm, cmd)) != APP_OK ||
        (status = app_check_frame_size(&v->cm, v->source, info)) != APP_OK)
        goto done;
    if (signals_pending()) {
        status = APP_INTERRUPTED;
        goto done;
    }
    v->max_dets = app_max_dets(&v->cm);
    size_t frame_bytes = (size_t)info->width * info->height * 3;
    v->result_mem = calloc((size_t)VIEW_RESULTS * v->max_dets, sizeof *v->result_mem);
    v->result_ids = calloc((size_t)VIEW_RESULTS * v->max_dets, sizeof *v->result_ids);
    v->rdets = calloc((size_t)v->max_dets, sizeof *v->rdets);
    v->shown = malloc(frame_bytes);
    v->canvas = malloc(frame_bytes);
    if (!v->result_mem || !v->result_ids || !v->rdets || !v->shown || !v->canvas) {
        fprintf(stderr, "vdetect view: out of memory\n");
        status = APP_FAIL;
        goto done;
    }
    for (int i = 0; i < VIEW_RESULTS; i++)
    {
        v->results[i].dets = v->result_mem + (size_t)i * v->max_dets;
        v->results[i].ids = v->result_ids + (size_t)i * v->max_dets;
    }
    results_clear(v);
    /* the preset's name without "fasterrcnn_"; a custom backbone's spelled-out
     * layers are no title: its file's name instead */
    const char *arch = model_arch(v->cm.model);
    if (!strncmp(arch, "fasterrcnn_", 11) && arch[11])
        arch += 11;
    if (strchr(arch, '[') || strlen(arch) > 40)
        arch = base_name(v->cm.weights_path);
    snprintf(v->model_name, sizeof v->model_name, "%s", arch);
    update_title(v);
    if (v->loop && info->live) {
        fprintf(stderr, "vdetect view: --loop ignored: %s is a live source\n", v->source);
        v->loop = 0;
    }

    if ((status = tracking_open(&v->trk, &v->to, cmd, info->fps, info->width, info->height,
                                model_num_classes(v->cm.model), v->max_dets,
                                v->overwrite)) != APP_OK ||
        (status = gate_open(&v->gate, &v->go, v->cm.model, info->width, info->height,
                            v->max_dets)) != APP_OK)
        goto done;
    struct pipeline_config pc = {
        .gate = v->gate,
        .src = v->src,
        .detect_ctx = v->cm.model,
        .max_dets = v->max_dets,
        .live = info->live,
        .queue_len = v->queue_len,
        .display_all = v->display_all,
        .max_frames = v->max_frames,
        .loop = v->loop,
        .notify = wake_window,
        .notify_ctx = v->win,
    };
    if (pipeline_start(&v->p, &pc) < 0) {
        status = APP_FAIL;
        goto done;
    }
    if (v->log_file)
        stats_log_init(&v->log, outfile_stream(v->log_file), (double)v->stats_every, video_now());
    enum end_reason why = run(v);
    if (why != END_INPUT)
        pipeline_stop(v->p, PIPE_STOP_ABORT);
    int perr = pipeline_finish(v->p, ps);
    if (why == END_SIGNAL)
        status = APP_INTERRUPTED;
    else if (why == END_ERROR || perr < 0)
        status = APP_FAIL;

    v->rep.mode = "view";
    v->rep.source = v->source;
    v->rep.info = info;
    v->rep.ps = ps;
    v->rep.model = v->cm.model;
    v->rep.weights = v->cm.weights_path;
    v->rep.threads = v->cm.threads;
    v->rep.engine = model_engine(v->cm.model);
    v->rep.precision = model_precision(v->cm.model);
    v->rep.display = v->display_all ? "all" : "detected";
    v->rep.output_stage = "display";
    v->rep.tracking = v->trk;
    v->rep.cm = &v->cm;
    struct gate_stats gs;
    gate_get_stats(v->gate, &gs);
    v->rep.gate = v->gate ? &gs : NULL;
    if (!v->quiet) {
        run_report_summary(stderr, &v->rep);
        summary_rest(v, ps);
        tracking_summary(stderr, v->trk, &v->cm);
        gate_summary(stderr, cmd, v->rep.gate);
    }
    if (v->log_file) {
        stats_log_tick(&v->log, video_now(), ps->decoded, ps->detected, v->rep.displayed,
                       ps->dropped, 1);
        if (outfile_commit(&v->log_file) < 0 && status == APP_OK)
            status = APP_FAIL;
    }
    if (v->stats_file) {
        /* the figures of a run that ended in an error are worth keeping too */
        run_report_json(outfile_stream(v->stats_file), &v->rep);
        if (outfile_commit(&v->stats_file) < 0 && status == APP_OK)
            status = APP_FAIL;
    }

done:
    outfile_discard(&v->stats_file);
    outfile_discard(&v->log_file);
    pipeline_free(&v->p);
    tracking_close(&v->trk);
    gate_close(&v->gate);
    render_style_close(&v->style);
    render_window_close(&v->win);
    signals_set_source(NULL);
    video_close(&v->src);
    if (sig_installed)
        signals_restore();
    cli_model_free(&v->cm);
    free(v->result_mem);
    free(v->result_ids);
    free(v->rdets);
    free(v->shown);
    free(v->canvas);
    free(v);
    free(ps);
    return status;
}
