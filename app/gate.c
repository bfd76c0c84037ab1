/*
 * gate.c — which frames the detector runs on, and on which part of them:
 * --motion (motion gating and crop regions), --detect-fps (a rate cap),
 * --motion-mask and --object-mask. The pipeline's detect thread asks
 * gate_frame() for each frame it would otherwise detect.
 *
 * A frame goes one of three ways:
 *   - detected: the detector runs on the whole frame, or on crops ("regions")
 *     around what moved since the last run — the motion boxes of motion/ and
 *     the last run's detections that overlap them — when the model's own
 *     operation count says the crops cost less than the whole frame
 *     (model_gflops). Detections outside every crop are carried over from the
 *     last run (their objects did not move); those inside come from the
 *     crops, mapped back to the frame, with duplicates of overlapping crops
 *     merged (motion_dedup);
 *   - still (--motion): nothing moved since the last run, so the last
 *     detections stand unchanged and the detector is not called;
 *   - held (--detect-fps): something may have moved but the rate cap says
 *     not yet; the last detections are handed on as held ones (the tracker
 *     predicts where they went, as under --stride). The motion seen meanwhile
 *     is kept for the next run.
 * The whole frame is detected at the first frame, after the motion detector
 * restarted or recalibrated (the light changed, the camera moved: the last
 * detections may no longer be where they were), when more motion boxes piled
 * up than can be kept, and without --motion. Objects that stand still are
 * re-detected every --motion-set recheck=S seconds (a crop around them), so
 * one that left without being seen to move, or a false detection that stuck,
 * does not stay forever.
 *
 * Object masks drop every detection whose bottom-centre point lies in one of
 * them, on every run. The gate is used by the detect thread alone; its
 * figures are read after the pipeline joined it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

#define GATE_MAX_PENDING 64   /* motion boxes kept between runs; more: whole frame */
#define GATE_MAX_REGIONS 32
#define GATE_RECHECK_DEFAULT 10.0

struct gate {
    int motion;
    double detect_fps;
    double recheck;                  /* s between re-detections of still objects */
    struct motion_params mp;
    struct motion_polygon omask[MOTION_MAX_ZONES];
    int nomask;
    const struct model *model;       /* for the cost of a crop (model_gflops) */
    int w, h, max;
    double full_gflops;
    struct motion *mo;

    struct model_detection *last;    /* max: the last run's detections, frame pixels */
    int nlast, have_last;
    int64_t last_frame;
    double last_capture;
    float (*pend)[4];                /* GATE_MAX_PENDING: motion since the last run */
    int npend, pend_overflow, want_full;
    int started;                     /* a stream time was seen */
    double next_run;                 /* --detect-fps: stream time of the next run */
    double last_still_check;         /* stream time still objects were last detected */
    long seen_recal, seen_restart;   /* motion_stats at the last frame */

    float (*b)[4];                   /* max: last detections inside crops */
    unsigned char *inb;              /* max: 1 when last[i] is in b */
    struct motion_region reg[GATE_MAX_REGIONS];
    double reg_cost[GATE_MAX_REGIONS];   /* GFLOPs of each, from plan_regions */
    struct model_detection *rd;      /* max: one crop's detections */
    struct motion_det *md;           /* (GATE_MAX_REGIONS + 1) * max: a run's merge */

    struct gate_stats st;
};

/* ---- options -------------------------------------------------------------------------- */

static int opt_motion_set(void *dest, const char *cmd, const char *opt, const char *value)
{
    struct gate_options *go = dest;
    char msg[300];
    if (!strncmp(value, "recheck=", 8)) {
        char *end;
        double v = strtod(value + 8, &end);
        if (end == value + 8 || *end || !isfinite(v) || v < 0.1 || v > 86400)
            return app_usage_error(cmd, "%s %s: '%s' is not a number of seconds in [0.1, 86400]",
                                   opt, value, value + 8);
        go->recheck = v;
    } else if (motion_param_set(&go->params, value, msg, sizeof msg) < 0) {
        /* motion/'s list of names lacks ours */
        return app_usage_error(cmd, "%s %s: %s%s", opt, value, msg,
                               strstr(msg, "unknown") ? ", recheck" : "");
    }
    if (!strncmp(value, "region_min", 10))
        go->region_min_set = 1;
    go->motion = 1;
    return APP_OK;
}

/* "NAME=x1,y1,..." or just "x1,y1,..." (a mask needs no name). */
static int parse_polygon(const char *cmd, const char *opt, const char *value,
                         struct motion_polygon *poly, int need_name)
{
    char msg[300], buf[2100];
    if (!strchr(value, '=')) {
        if (need_name)
            return app_usage_error(cmd, "%s: '%s': NAME=x1,y1,x2,y2,... wanted", opt, value);
        if (snprintf(buf, sizeof buf, "mask=%s", value) >= (int)sizeof buf)
            return app_usage_error(cmd, "%s: too long", opt);
        value = buf;
    }
    if (motion_polygon_parse(poly, value, msg, sizeof msg) < 0)
        return app_usage_error(cmd, "%s: %s", opt, msg);
    return APP_OK;
}

/* Append the polygon of value to list (*n of MOTION_MAX_ZONES). */
static int add_mask(const char *cmd, const char *opt, const char *value,
                    struct motion_polygon *list, int *n)
{
    if (*n == MOTION_MAX_ZONES)
        return app_usage_error(cmd, "%s: at most %d", opt, MOTION_MAX_ZONES);
    int r = parse_polygon(cmd, opt, value, &list[*n], 0);
    if (r == APP_OK)
        (*n)++;
    return r;
}

static int opt_motion_mask(void *dest, const char *cmd, const char *opt, const char *value)
{
    struct gate_options *go = dest;
    go->motion = 1;
    return add_mask(cmd, opt, value, go->motion_masks, &go->nmotion_masks);
}

static int opt_object_mask(void *dest, const char *cmd, const char *opt, const char *value)
{
    struct gate_options *go = dest;
    return add_mask(cmd, opt, value, go->object_masks, &go->nobject_masks);
}

void gate_options_init(struct gate_options *go)
{
    memset(go, 0, sizeof *go);
    motion_params_default(&go->params);
    go->recheck = GATE_RECHECK_DEFAULT;
    const struct opt opts[] = {
        { .name = "--motion", .kind = OPT_FLAG, .dest = &go->motion,
          .help = "run the detector only when something moves, on crops\n"
                  "around the motion when they cost less than the whole\n"
                  "frame; still frames keep the last detections" },
        { .name = "--motion-set", .arg = "NAME=VALUE", .kind = OPT_CALL, .dest = go,
          .call = opt_motion_set,
          .help = "a motion parameter (implies --motion; repeatable):\n"
                  "threshold 15 (grey levels), min_area 10 (pixels of\n"
                  "the 100-row copy), frame_height 100, alpha 0.01,\n"
                  "recal_share 0.8, region_margin 20, region_min_w and\n"
                  "region_min_h (the model's min_size), full_frame_share\n"
                  "0.6, recheck 10 (s between re-detections of objects\n"
                  "that stand still)" },
        { .name = "--detect-fps", .arg = "N", .kind = OPT_DOUBLE, .dest = &go->detect_fps,
          .lo = 0.01, .hi = 1000,
          .help = "run the detector at most N times per second of video;\n"
                  "the frames between show the last boxes (moved by the\n"
                  "tracker with --track)" },
        { .name = "--motion-mask", .arg = "x1,y1,...", .kind = OPT_CALL, .dest = go,
          .call = opt_motion_mask,
          .help = "a polygon (pixels) where change is not motion, e.g. a\n"
                  "clock overlay or a tree (implies --motion; up to 16)" },
        { .name = "--object-mask", .arg = "x1,y1,...", .kind = OPT_CALL, .dest = go,
          .call = opt_object_mask,
          .help = "a polygon where detections are dropped (by their\n"
                  "bottom-centre point; up to 16)" },
        { .name = "--config", .arg = "FILE", .kind = OPT_NOTE,
          .help = "read options from FILE, one a line (\"queue 4\",\n"
                  "\"input SOURCE\"), as if written in its place: later\n"
                  "options override the file's (docs/formats.md §7)" },
        { .kind = OPT_END },
    };
    memcpy(go->opts, opts, sizeof opts);
}

int gate_options_done(struct gate_options *go, const char *cmd)
{
    char msg[300];
    if (motion_params_check(&go->params, msg, sizeof msg) < 0)
        return app_usage_error(cmd, "--motion-set: %s", msg);
    return APP_OK;
}

int gate_options_on(const struct gate_options *go)
{
    return go->motion || go->detect_fps > 0 || go->nobject_masks > 0;
}

/* ---- the gate ------------------------------------------------------------------------- */

int gate_open(struct gate **out, const struct gate_options *go, const struct model *m, int width,
              int height, int max_dets)
{
    *out = NULL;
    if (!gate_options_on(go))
        return APP_OK;
    char msg[300];
    struct gate *g = calloc(1, sizeof *g);
    if (!g)
        goto oom;
    g->motion = go->motion;
    g->detect_fps = go->detect_fps;
    g->recheck = go->recheck;
    g->mp = go->params;
    memcpy(g->omask, go->object_masks, sizeof g->omask);
    g->nomask = go->nobject_masks;
    g->model = m;
    g->w = width;
    g->h = height;
    g->max = max_dets;
    lat_hist_init(&g->st.motion_ms);
    if (!go->region_min_set) {
        /* a crop at least the model's input: small objects gain resolution */
        const struct model_params *mp = model_get_params(m);
        int side = mp && mp->min_size >= 1 && mp->min_size <= 8192 ? (int)mp->min_size : 320;
        g->mp.region_min_w = g->mp.region_min_h = side;
    }
    int rw, rh;
    if (model_gflops(m, width, height, &g->full_gflops, &rw, &rh, msg, sizeof msg) < 0)
        g->full_gflops = INFINITY;   /* app_check_frame_size refused such frames already */
    if (g->motion) {
        if (motion_create(&g->mo, &g->mp, msg, sizeof msg) < 0 ||
            motion_set_masks(g->mo, go->motion_masks, go->nmotion_masks, msg, sizeof msg) < 0) {
            app_error("--motion: %s", msg);
            gate_close(&g);
            return APP_FAIL;
        }
    }
    g->last = calloc((size_t)max_dets, sizeof *g->last);
    g->pend = calloc(GATE_MAX_PENDING, sizeof *g->pend);
    g->b = calloc((size_t)max_dets, sizeof *g->b);
    g->inb = calloc((size_t)max_dets, 1);
    g->rd = calloc((size_t)max_dets, sizeof *g->rd);
    g->md = calloc((size_t)(GATE_MAX_REGIONS + 1) * max_dets, sizeof *g->md);
    if (!g->last || !g->pend || !g->b || !g->inb || !g->rd || !g->md)
        goto oom;
    *out = g;
    return APP_OK;
oom:
    app_error("out of memory");
    gate_close(&g);
    return APP_FAIL;
}

void gate_close(struct gate **gp)
{
    struct gate *g = gp ? *gp : NULL;
    if (!g)
        return;
    motion_free(&g->mo);
    free(g->last);
    free(g->pend);
    free(g->b);
    free(g->inb);
    free(g->rd);
    free(g->md);
    free(g);
    *gp = NULL;
}

long gate_calls(const struct gate *g)
{
    return g ? g->st.calls : 0;
}

void gate_get_stats(const struct gate *g, struct gate_stats *s)
{
    if (!g) {
        memset(s, 0, sizeof *s);
        lat_hist_init(&s->motion_ms);
        return;
    }
    *s = g->st;
    if (g->mo) {
        struct motion_stats ms;
        motion_get_stats(g->mo, &ms);
        s->recalibrations = ms.recalibrations;
    }
}

static int boxes_overlap(const float *a, const float *b)
{
    return a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
}

static int box_meets_region(const float *a, const struct motion_region *r)
{
    float rb[4] = { (float)r->x, (float)r->y, (float)(r->x + r->w), (float)(r->y + r->h) };
    return boxes_overlap(a, rb);
}

static void add_timing(struct model_timing *sum, const struct model_timing *t)
{
    sum->preprocess += t->preprocess;
    sum->backbone += t->backbone;
    sum->fpn += t->fpn;
    sum->rpn_head += t->rpn_head;
    sum->rpn_proposals += t->rpn_proposals;
    sum->roi_align += t->roi_align;
    sum->box_head += t->box_head;
    sum->postprocess += t->postprocess;
    sum->total += t->total;
}

/* Drop the detections an object mask covers (bottom-centre point); returns how many stay. */
static int mask_model_dets(const struct gate *g, struct model_detection *d, int n)
{
    if (!g->nomask)
        return n;
    int k = 0;
    for (int i = 0; i < n; i++) {
        float cx = 0.5f * (d[i].box[0] + d[i].box[2]), cy = d[i].box[3];
        int hit = 0;
        for (int j = 0; j < g->nomask && !hit; j++)
            hit = motion_point_in_polygon(&g->omask[j], cx, cy);
        if (!hit)
            d[k++] = d[i];
    }
    return k;
}

static void remember(struct gate *g, const struct model_detection *d, int n,
                     const struct video_frame *vf)
{
    memcpy(g->last, d, (size_t)n * sizeof *d);
    g->nlast = n;
    g->have_last = 1;
    g->last_frame = vf->index;
    g->last_capture = vf->capture_time;
}

/* The whole frame through the detector. 0 or the detector's negative code. */
static int run_full(struct gate *g, const struct video_frame *vf, pipe_detect_fn detect,
                    void *ctx, struct model_detection *dets, int *n, struct model_timing *t)
{
    struct model_image img = { vf->rgb, vf->width, vf->height, 3 * vf->width };
    int k = 0;
    int r = detect(ctx, &img, dets, g->max, &k, t);
    if (r < 0)
        return r;
    k = k < 0 ? 0 : k > g->max ? g->max : k;
    *n = mask_model_dets(g, dets, k);
    g->st.calls++;
    g->st.full_calls++;
    if (isfinite(g->full_gflops))
        g->st.gflops += g->full_gflops;
    return 0;
}

/* GFLOPs of one detector call on a w x h crop; INFINITY when the model cannot take it. */
static double crop_cost(const struct gate *g, int w, int h)
{
    char msg[200];
    double gf;
    int rw, rh;
    if (w < 1 || h < 1 || model_check_size(g->model, w, h, msg, sizeof msg) < 0 ||
        model_gflops(g->model, w, h, &gf, &rw, &rh, msg, sizeof msg) < 0)
        return INFINITY;
    return gf;
}

/*
 * Crops around the pending motion and the last detections it touches (and,
 * with all_last, every last detection); every last detection a crop reaches
 * goes inside it too, so no object is cut by a crop's edge and seen twice.
 * Returns the number of regions (0: none), or -1 when the whole frame is the
 * better choice (regions over full_frame_share, or costing more).
 */
static int plan_regions(struct gate *g, int all_last)
{
    char msg[200];
    int nb = 0;
    memset(g->inb, 0, (size_t)g->nlast);
    for (int i = 0; i < g->nlast; i++) {
        int take = all_last;
        for (int j = 0; j < g->npend && !take; j++)
            take = boxes_overlap(g->last[i].box, g->pend[j]);
        if (take) {
            memcpy(g->b[nb++], g->last[i].box, sizeof g->b[0]);
            g->inb[i] = 1;
        }
    }
    int nr = 0;
    for (int round = 0; round < 8; round++) {
        int full = 0;
        nr = motion_regions(&g->mp, g->w, g->h, (const float (*)[4])g->pend, g->npend,
                            (const float (*)[4])g->b, nb, g->reg, GATE_MAX_REGIONS, &full, msg,
                            sizeof msg);
        if (nr < 0 || full)
            return -1;   /* over full_frame_share, or too many boxes: the whole frame */
        int added = 0;
        for (int i = 0; i < g->nlast; i++) {
            if (g->inb[i])
                continue;
            for (int j = 0; j < nr; j++)
                if (box_meets_region(g->last[i].box, &g->reg[j])) {
                    memcpy(g->b[nb++], g->last[i].box, sizeof g->b[0]);
                    g->inb[i] = 1;
                    added = 1;
                    break;
                }
        }
        if (!added)
            break;
    }
    if (nr == 0)
        return 0;
    /* the cheapest of: these crops, the one crop around them all, the whole
     * frame (a wide crop may cost less than two square ones: the model
     * shrinks its long side to max_size) */
    double cost = 0;
    int x0 = g->w, y0 = g->h, x1 = 0, y1 = 0;
    for (int j = 0; j < nr; j++) {
        const struct motion_region *r = &g->reg[j];
        double gf = g->reg_cost[j] = crop_cost(g, r->w, r->h);
        if (isinf(gf))
            return -1;   /* a crop the model cannot take: the whole frame */
        cost += gf;
        x0 = r->x < x0 ? r->x : x0;
        y0 = r->y < y0 ? r->y : y0;
        x1 = r->x + r->w > x1 ? r->x + r->w : x1;
        y1 = r->y + r->h > y1 ? r->y + r->h : y1;
    }
    if (nr > 1) {
        double one = crop_cost(g, x1 - x0, y1 - y0);
        if (one < cost && one < g->full_gflops) {
            g->reg[0] = (struct motion_region){ x0, y0, x1 - x0, y1 - y0 };
            g->reg_cost[0] = one;
            nr = 1;
            cost = one;
            /* every last detection the wider crop reaches is inside it */
            for (int i = 0; i < g->nlast; i++)
                if (!g->inb[i] && box_meets_region(g->last[i].box, &g->reg[0])) {
                    float b[4] = { (float)x0, (float)y0, (float)x1, (float)y1 };
                    const float *d = g->last[i].box;
                    if (d[0] < b[0] || d[1] < b[1] || d[2] > b[2] || d[3] > b[3])
                        return -1;   /* it would be cut by the crop's edge */
                    g->inb[i] = 1;
                }
        }
    }
    return cost < g->full_gflops ? nr : -1;
}

/* The detector on nr crops; the last detections outside them carried over. */
static int run_regions(struct gate *g, int nr, const struct video_frame *vf,
                       pipe_detect_fn detect, void *ctx, struct model_detection *dets, int *n,
                       struct model_timing *t)
{
    int nm = 0;
    for (int j = 0; j < nr; j++) {
        const struct motion_region *r = &g->reg[j];
        struct model_image img = { vf->rgb + (size_t)r->y * 3 * vf->width + (size_t)r->x * 3,
                                   r->w, r->h, 3 * vf->width };
        struct model_timing tj;
        memset(&tj, 0, sizeof tj);
        int k = 0;
        int rc = detect(ctx, &img, g->rd, g->max, &k, &tj);
        if (rc < 0)
            return rc;
        add_timing(t, &tj);
        g->st.calls++;
        g->st.region_calls++;
        g->st.gflops += g->reg_cost[j];   /* finite: plan_regions priced it */
        k = k < 0 ? 0 : k > g->max ? g->max : k;
        struct motion_det *out = g->md + nm;
        for (int i = 0; i < k; i++) {
            memcpy(out[i].box, g->rd[i].box, sizeof out[i].box);
            out[i].score = g->rd[i].score;
            out[i].label = g->rd[i].label;
        }
        motion_map_back(r, out, k);
        nm += k;
    }
    for (int i = 0; i < g->nlast; i++) {
        if (g->inb[i])
            continue;   /* inside a crop: detected again there (or gone) */
        struct motion_det *o = &g->md[nm++];
        memcpy(o->box, g->last[i].box, sizeof o->box);
        o->score = g->last[i].score;
        o->label = g->last[i].label;
    }
    nm = motion_mask_filter(g->omask, g->nomask, g->md, nm);
    nm = motion_dedup(&g->mp, g->md, nm);
    if (nm > g->max)
        nm = g->max;
    for (int i = 0; i < nm; i++) {
        memcpy(dets[i].box, g->md[i].box, sizeof dets[i].box);
        dets[i].score = g->md[i].score;
        dets[i].label = g->md[i].label;
    }
    *n = nm;
    return 0;
}

int gate_frame(struct gate *g, const struct video_frame *vf, pipe_detect_fn detect, void *ctx,
               struct model_detection *dets, int *n, struct model_timing *t,
               int64_t *from_frame, double *from_capture)
{
    char msg[300];
    memset(t, 0, sizeof *t);
    *n = 0;
    g->st.frames++;
    /* the stream's clock (files may run faster or slower than real time) */
    double now = isfinite(vf->pts_sec) ? vf->pts_sec : vf->capture_time;
    if (!g->started) {
        g->started = 1;
        g->next_run = now;
        g->last_still_check = now;
    }
    if (g->mo) {
        const struct motion_box *mb;
        double t0 = video_now();
        int nm = motion_detect(g->mo, vf->rgb, vf->width, vf->height, 3 * vf->width, &mb, msg,
                               sizeof msg);
        lat_hist_add(&g->st.motion_ms, (video_now() - t0) * 1e3);
        if (nm < 0) {
            app_error("--motion: %s", msg);
            return GATE_ERROR;
        }
        struct motion_stats ms;
        motion_get_stats(g->mo, &ms);
        if (ms.recalibrations != g->seen_recal || ms.restarts != g->seen_restart)
            g->want_full = 1;   /* a new background: the scene may be another one */
        g->seen_recal = ms.recalibrations;
        g->seen_restart = ms.restarts;
        if (nm > 0)
            g->st.motion_frames++;
        for (int i = 0; i < nm; i++) {
            if (g->npend == GATE_MAX_PENDING) {
                g->pend_overflow = 1;
                break;
            }
            memcpy(g->pend[g->npend++], mb[i].box, sizeof g->pend[0]);
        }
    }
    int recheck = g->motion && g->nlast > 0 && now - g->last_still_check >= g->recheck;
    int want = !g->motion || !g->have_last || g->want_full || g->npend > 0 ||
               g->pend_overflow || recheck;
    if (!want) {
        memcpy(dets, g->last, (size_t)g->nlast * sizeof *dets);
        *n = g->nlast;
        *from_frame = g->last_frame;
        *from_capture = g->last_capture;
        g->st.still++;
        return GATE_STILL;
    }
    if (g->detect_fps > 0 && g->have_last && now < g->next_run - 1e-3) {
        memcpy(dets, g->last, (size_t)g->nlast * sizeof *dets);
        *n = g->nlast;
        *from_frame = g->last_frame;
        *from_capture = g->last_capture;
        g->st.held++;
        return GATE_HELD;
    }
    int full = !g->motion || !g->have_last || g->want_full || g->pend_overflow;
    int nr = full ? -1 : plan_regions(g, recheck);
    if (nr == 0) {
        /* motion only where no crop can be made (outside the frame): still */
        g->npend = 0;
        memcpy(dets, g->last, (size_t)g->nlast * sizeof *dets);
        *n = g->nlast;
        *from_frame = g->last_frame;
        *from_capture = g->last_capture;
        g->st.still++;
        return GATE_STILL;
    }
    int r;
    if (nr < 0) {
        r = run_full(g, vf, detect, ctx, dets, n, t);
        g->last_still_check = now;
    } else {
        r = run_regions(g, nr, vf, detect, ctx, dets, n, t);
        if (recheck)
            g->last_still_check = now;
    }
    if (r < 0)
        return r;
    if (g->detect_fps > 0) {
        double period = 1.0 / g->detect_fps;
        g->next_run = now >= g->next_run + period ? now + period : g->next_run + period;
    }
    g->npend = 0;
    g->pend_overflow = 0;
    g->want_full = 0;
    g->st.detected++;
    remember(g, dets, *n, vf);
    *from_frame = vf->index;
    *from_capture = vf->capture_time;
    return GATE_DETECTED;
}

/* ---- reports ---------------------------------------------------------------------------- */

static double share(long part, long whole)
{
    return whole > 0 ? (double)part / (double)whole : 0;
}

void gate_summary(FILE *f, const char *cmd, const struct gate_stats *s)
{
    if (!s)
        return;
    fprintf(f, "%s: gating: %ld of %ld frames run through the detector (%.0f%%), %ld still "
               "(no motion), %ld held (--detect-fps); %ld detector calls (%ld on crops, %ld on "
               "whole frames)",
            cmd, s->detected, s->frames, 100 * share(s->detected, s->frames), s->still, s->held,
            s->calls, s->region_calls, s->full_calls);
    if (s->motion_ms.n)
        fprintf(f, "; motion %.2f ms per frame, %ld recalibration%s", lat_hist_mean(&s->motion_ms),
                s->recalibrations, s->recalibrations == 1 ? "" : "s");
    fputc('\n', f);
}

void gate_json(FILE *f, const struct gate_stats *s, double fps, double cpu_ms_per_frame)
{
    double video_s = fps > 0 && isfinite(fps) ? (double)s->frames / fps : NAN;
    fprintf(f, "{\"frames\": %ld, \"detected\": %ld, \"still\": %ld, \"held\": %ld, "
               "\"share_not_detected\": %.4f, \"detector_calls\": %ld, \"region_calls\": %ld, "
               "\"full_calls\": %ld, \"motion_frames\": %ld, \"recalibrations\": %ld, "
               "\"motion_ms_mean\": ",
            s->frames, s->detected, s->still, s->held, 1 - share(s->detected, s->frames), s->calls,
            s->region_calls, s->full_calls, s->motion_frames, s->recalibrations);
    if (s->motion_ms.n)
        fprintf(f, "%.4f", lat_hist_mean(&s->motion_ms));
    else
        fputs("null", f);
    fputs(", \"calls_per_video_second\": ", f);
    if (isfinite(video_s) && video_s > 0)
        fprintf(f, "%.4f", (double)s->calls / video_s);
    else
        fputs("null", f);
    fputs(", \"gflops_per_video_second\": ", f);
    if (isfinite(video_s) && video_s > 0)
        fprintf(f, "%.4f", s->gflops / video_s);
    else
        fputs("null", f);
    fputs(", \"cpu_per_video_second\": ", f);
    if (fps > 0 && isfinite(fps) && isfinite(cpu_ms_per_frame))
        fprintf(f, "%.4f", cpu_ms_per_frame * fps / 1e3);
    else
        fputs("null", f);
    fputs("}", f);
}
