/*
 * consume.c — the consumer loop of annotate and bench on the main thread:
 * take each detected frame from the pipeline, draw its detections, encode it
 * (or drop it: bench's null sink), hand it to the caller's data outputs and
 * count it in the run report; the first signal drains the pipeline, the
 * second aborts it. Under --stride, --motion and --detect-fps the stamp marks
 * the frames whose boxes come from an earlier one. view has its own loop (a window to serve, display_all).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pipeline.h"

/* "frame N  h:mm:ss.mmm" of vf's presentation time (0 without one). */
static void stamp_text(const struct video_frame *vf, char *buf, size_t size)
{
    double t = isfinite(vf->pts_sec) ? vf->pts_sec : 0;
    int ms = (int)llround(t * 1000);
    snprintf(buf, size, "frame %lld  %d:%02d:%02d.%03d", (long long)vf->index, ms / 3600000,
             ms / 60000 % 60, ms / 1000 % 60, ms % 1000);
}

/*
 * The stamp of a frame under --stride: whether its boxes are its own. A held
 * frame's boxes are where things were K frames ago, and a viewer must be able
 * to tell them from real detections; render/ draws every box alike, so the
 * stamp says it, in words, on every frame (a band that appears and vanishes
 * every few frames would flicker): "detected" or "held from frame K".
 */
static void stride_text(const struct pipe_consumer *c, const struct pipe_frame *f, char *buf,
                        size_t size)
{
    size_t n = 0;
    if (c->stamp) {
        stamp_text(f->vf, buf, size);
        n = strlen(buf);
        snprintf(buf + n, size - n, "  ");
        n += 2;
    }
    if (f->dets_kind == PIPE_DETS_HELD)   /* --track moves them: predicted, not held */
        snprintf(buf + n, size - n, "%s from frame %lld", f->tracked ? "predicted" : "held",
                 (long long)f->dets_frame);
    else if (f->dets_kind == PIPE_DETS_STILL)   /* --motion: nothing moved */
        snprintf(buf + n, size - n, "still since frame %lld", (long long)f->dets_frame);
    else
        snprintf(buf + n, size - n, "detected");
}

/* Draw, encode and hand out one frame. 0, or -1 (printed). */
static int consume_one(const struct pipe_consumer *c, struct pipe_frame *f,
                       struct run_report *rep)
{
    struct video_frame *vf = f->vf;
    char stamp[96];
    /* the detections as the model gave them, then (--track) the tracks */
    if (c->raw_data && c->raw_data(c->ctx, f) < 0)
        return -1;
    if (tracking_frame(c->tracking, c->cm, f) < 0 || events_frame(c->events, f) < 0)
        return -1;
    double td = video_now();
    if (c->style) {
        int n = app_render_dets(c->cm, f->dets, f->ndets,
                                f->tracked ? f->track_ids : NULL, c->rdets, c->max_dets);
        struct render_draw_options o;
        render_draw_options_init(&o);
        o.ntrails = tracking_trails(c->tracking, c->cm, &o.trails);
        o.nlines = tracking_lines(c->tracking, &o.lines);
        o.nzones = zoning_render(tracking_zoning(c->tracking), &o.zones);
        if (c->stride > 1 || c->gated) {
            stride_text(c, f, stamp, sizeof stamp);
            o.stamp = stamp;
        } else if (c->stamp) {
            stamp_text(vf, stamp, sizeof stamp);
            o.stamp = stamp;
        }
        if (render_draw(c->style, vf->rgb, vf->width, vf->height, 3 * vf->width, c->rdets, n,
                        &o) < 0)
            return -1;
    }
    double te = video_now();
    if (c->writer && video_writer_write(c->writer, vf) < 0)
        return -1;
    double tw = video_now();
    if (c->data && c->data(c->ctx, f) < 0)
        return -1;
    if (c->style)
        lat_hist_add(&rep->draw_ms, (te - td) * 1e3);
    lat_hist_add(&rep->output_ms, (tw - te) * 1e3);
    lat_hist_add(&rep->capture_to_display, (tw - vf->capture_time) * 1e3);
    if (rep->displayed++ == 0)
        rep->t_first_display = tw;
    rep->t_last_display = tw;
    if (c->done)
        c->done(c->ctx, f, tw);
    return 0;
}

int pipeline_consume(struct pipeline *p, const struct pipe_consumer *c, struct run_report *rep)
{
    int stopping = 0;
    for (;;) {
        /* first signal: finish the queued frames; second: not even those */
        int sig = signals_pending();
        if (sig > stopping) {
            stopping = sig >= 2 ? 2 : 1;
            pipeline_stop(p, stopping == 2 ? PIPE_STOP_ABORT : PIPE_STOP_DRAIN);
        }
        struct pipe_frame *f;
        enum pipe_item it = pipeline_next(p, 200, &f);
        if (it == PIPE_END) {
            if (c->writer) {
                rep->stream_copy = 1;
                video_writer_copy_stats(c->writer, &rep->copy);
            }
            return 0;
        }
        if (it != PIPE_RESULT) {
            if (c->idle)
                c->idle(c->ctx);
            continue;
        }
        int r = consume_one(c, f, rep);
        pipeline_release(p, f);
        if (r < 0) {
            pipeline_stop(p, PIPE_STOP_ABORT);
            return -1;
        }
    }
}
