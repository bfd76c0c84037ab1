/*
 * tracking.c — --track for view, annotate and bench: track/'s tracker between
 * the detector and the outputs, on the main thread, in frame order.
 *
 * Each result frame goes through tracking_frame() before it is drawn or
 * written: on a frame the detector ran on, every detection the model returned
 * (--classes applied, not --score-thresh: the tracker's own thresholds decide,
 * ByteTrack's point being that a low-score detection may continue a track)
 * updates the tracker; on a frame that holds earlier detections (--stride) the
 * tracker predicts instead, so boxes keep moving at the source's rate. The
 * frame's detections are then replaced by the confirmed tracks seen on it
 * (pipe_frame.tracked, track_ids), which every output draws or writes with
 * their identity.
 *
 * Alongside: distinct tracks per class (an identity is counted once, when it
 * is first shown), crossings of the count lines per direction, the recent
 * path of each track (view's trails), the tracker's time per frame (bench's
 * "track" stage) and the MOTChallenge file of --mot, written through outfile
 * (partial file, renamed into place at the end; each frame's lines flushed so
 * a killed run's partial file holds the frames so far).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../track/track.h"
#include "pipeline.h"

#define TRAIL_POINTS 32

struct trail {
    int id;                    /* 0: free */
    int label;
    int n, head;               /* points kept, next slot (ring) */
    int64_t last_frame;        /* when the track was last shown */
    float xy[TRAIL_POINTS][2];
};

struct tracking {
    const char *cmd;
    struct tracker *tr;
    struct track_line *line[TRACKING_MAX_LINES];
    float line_xy[TRACKING_MAX_LINES][4];
    const char *line_word[TRACKING_MAX_LINES][2];   /* screen motion of track/'s
                                                        left-to-right, right-to-left */
    int nlines;
    int64_t frame;             /* the last frame tracked */
    int nclasses;
    long *distinct;            /* nclasses: identities shown per class */
    int *order;                /* nclasses: scratch of class_counts */
    long distinct_all;
    int max_id;                /* identities up to this one were counted */
    struct track_det *dets;    /* max_dets: the tracker's input */
    struct track_out *shown;   /* max_dets: the tracks shown on the current frame */
    int nshown;
    struct trail *trails;      /* ntrails */
    int ntrails;
    struct render_trail *rtrails;   /* ntrails: tracking_trails()'s view of them */
    float (*rtxy)[TRAIL_POINTS][2]; /* their points, oldest first */
    int max_dets;
    struct outfile *mot_file;
    FILE *mot;
    const char *mot_path;
    struct lat_hist ms;        /* tracker time per frame */
    struct zoning *zones;      /* --zone, or NULL */
    char hud[400];
};

/* ---- options ------------------------------------------------------------------------- */

static int opt_track_set(void *dest, const char *cmd, const char *opt, const char *value)
{
    struct tracking_options *to = dest;
    char msg[300];
    if (track_param_set(&to->params, value, msg, sizeof msg) < 0)
        return app_usage_error(cmd, "%s %s: %s", opt, value, msg);
    to->on = 1;
    return APP_OK;
}

static int opt_count_line(void *dest, const char *cmd, const char *opt, const char *value)
{
    struct tracking_options *to = dest;
    if (to->nlines == TRACKING_MAX_LINES)
        return app_usage_error(cmd, "%s: at most %d lines", opt, TRACKING_MAX_LINES);
    float *l = to->lines[to->nlines];
    char tail;
    if (sscanf(value, "%f,%f,%f,%f%c", &l[0], &l[1], &l[2], &l[3], &tail) != 4 ||
        !isfinite(l[0]) || !isfinite(l[1]) || !isfinite(l[2]) || !isfinite(l[3]) ||
        fabsf(l[0]) > 1e6f || fabsf(l[1]) > 1e6f || fabsf(l[2]) > 1e6f || fabsf(l[3]) > 1e6f)
        return app_usage_error(cmd, "%s: '%s' is not X1,Y1,X2,Y2 (pixels)", opt, value);
    if (l[0] == l[2] && l[1] == l[3])
        return app_usage_error(cmd, "%s: '%s' is a point, not a line", opt, value);
    to->nlines++;
    to->on = 1;
    return APP_OK;
}

static int opt_zone(void *dest, const char *cmd, const char *opt, const char *value)
{
    struct tracking_options *to = dest;
    char msg[300];
    if (to->nzones == MOTION_MAX_ZONES)
        return app_usage_error(cmd, "%s: at most %d zones", opt, MOTION_MAX_ZONES);
    if (!strchr(value, '='))
        return app_usage_error(cmd, "%s: '%s' is not NAME=x1,y1,x2,y2,x3,y3,... (pixels)", opt,
                               value);
    if (motion_polygon_parse(&to->zones[to->nzones], value, msg, sizeof msg) < 0)
        return app_usage_error(cmd, "%s: %s", opt, msg);
    for (int i = 0; i < to->nzones; i++)
        if (!strcmp(to->zones[i].name, to->zones[to->nzones].name))
            return app_usage_error(cmd, "%s: zone '%s' given twice", opt, to->zones[i].name);
    to->nzones++;
    to->on = 1;
    return APP_OK;
}

void tracking_options_init(struct tracking_options *to, int with_mot)
{
    memset(to, 0, sizeof *to);
    track_params_default(&to->params);
    const struct opt opts[] = {
        { .name = "--track", .kind = OPT_FLAG, .dest = &to->on,
          .help = "follow objects from frame to frame: each box gets an\n"
                  "identity (#ID in its label, its own colour, track_id in\n"
                  "the JSON), counts of distinct objects per class" },
        { .name = "--track-set", .arg = "NAME=VALUE", .kind = OPT_CALL, .dest = to,
          .call = opt_track_set,
          .help = "a tracker parameter (implies --track; repeatable):\n"
                  "track_high_thresh 0.5, track_low_thresh 0.1,\n"
                  "new_track_thresh 0.6, match_thresh 0.8,\n"
                  "second_match_thresh 0.5, tentative_match_thresh 0.7,\n"
                  "track_buffer 30 (frames at 30 fps), class_aware 1" },
        { .name = "--count-line", .arg = "X1,Y1,X2,Y2", .kind = OPT_CALL, .dest = to,
          .call = opt_count_line,
          .help = "count tracks crossing this segment, each way (implies\n"
                  "--track; up to 8); \"left\" is the left of X1,Y1 -> X2,Y2" },
        { .name = "--zone", .arg = "NAME=x1,y1,...", .kind = OPT_CALL, .dest = to,
          .call = opt_zone,
          .help = "a named polygon (pixels, 3 to 32 points): tracks\n"
                  "entering and leaving it by their bottom-centre point,\n"
                  "counted and (annotate --json) reported as zone_events\n"
                  "(implies --track; up to 16)" },
        { .name = with_mot ? "--mot" : NULL, .arg = "FILE", .kind = OPT_STRING,
          .dest = &to->mot_path,
          .help = with_mot ? "write the tracks as MOTChallenge text (frame,id,x,y,w,h,\n"
                             "score,-1,-1,-1; implies --track)" : NULL },
        { .kind = OPT_END },
    };
    memcpy(to->opts, opts, sizeof opts);
    if (!with_mot)
        to->opts[4] = (struct opt){ .kind = OPT_END };
}

int tracking_options_done(struct tracking_options *to, const char *cmd)
{
    if (to->mot_path)
        to->on = 1;
    char msg[300];
    if (to->on && track_params_check(&to->params, msg, sizeof msg) < 0)
        return app_usage_error(cmd, "--track-set: %s", msg);
    return APP_OK;
}

/* The screen direction ("left", "right", "up", "down") closest to (x, y), y down. */
static const char *screen_word(double x, double y)
{
    if (fabs(x) >= fabs(y))
        return x > 0 ? "right" : "left";
    return y > 0 ? "down" : "up";
}

/* ---- the run --------------------------------------------------------------------------- */

int tracking_open(struct tracking **out, const struct tracking_options *to, const char *cmd,
                  double fps, int width, int height, int nclasses, int max_dets, int overwrite)
{
    *out = NULL;
    if (!to->on)
        return APP_OK;
    char msg[300];
    struct tracking *t = calloc(1, sizeof *t);
    if (!t)
        goto oom;
    t->cmd = cmd;
    t->max_dets = max_dets;
    t->nclasses = nclasses > 0 ? nclasses : 1;
    lat_hist_init(&t->ms);
    struct track_params p = to->params;
    if (fps > 0 && isfinite(fps) && fps <= 1000)
        p.frame_rate = (float)fps;   /* the lost-track age is in seconds of the source */
    if (track_create(&t->tr, &p, msg, sizeof msg) < 0) {
        app_error("%s", msg);
        tracking_close(&t);
        return APP_FAIL;
    }
    for (int i = 0; i < to->nlines; i++) {
        const float *l = to->lines[i];
        if (track_line_create(&t->line[i], l[0], l[1], l[2], l[3], 0, msg, sizeof msg) < 0) {
            app_error("--count-line: %s", msg);
            tracking_close(&t);
            return APP_FAIL;
        }
        memcpy(t->line_xy[i], l, sizeof t->line_xy[i]);
        /* track/'s "left" of a segment walked from its first point to its second
         * is the side of (dy, -dx) on a y-down screen; a left-to-right crossing
         * moves the other way: name both motions as the screen shows them */
        double dx = l[2] - l[0], dy = l[3] - l[1];
        t->line_word[i][0] = screen_word(-dy, dx);
        t->line_word[i][1] = screen_word(dy, -dx);
        if (width > 0 && height > 0 &&
            (fmaxf(l[0], l[2]) < 0 || fminf(l[0], l[2]) > (float)width ||
             fmaxf(l[1], l[3]) < 0 || fminf(l[1], l[3]) > (float)height))
            app_note("warning: --count-line %g,%g,%g,%g lies outside the %dx%d frame: nothing "
                     "will cross it", l[0], l[1], l[2], l[3], width, height);
        t->nlines++;
    }
    t->distinct = calloc((size_t)t->nclasses, sizeof *t->distinct);
    t->order = calloc((size_t)t->nclasses, sizeof *t->order);
    t->dets = calloc((size_t)max_dets, sizeof *t->dets);
    t->shown = calloc((size_t)max_dets, sizeof *t->shown);
    t->trails = calloc((size_t)max_dets, sizeof *t->trails);
    t->rtrails = calloc((size_t)max_dets, sizeof *t->rtrails);
    t->rtxy = calloc((size_t)max_dets, sizeof *t->rtxy);
    if (!t->distinct || !t->order || !t->dets || !t->shown || !t->trails || !t->rtrails || !t->rtxy)
        goto oom;
    t->ntrails = max_dets;
    if (zoning_open(&t->zones, to->zones, to->nzones, max_dets) != APP_OK) {
        tracking_close(&t);
        return APP_FAIL;
    }
    if (to->mot_path) {
        t->mot_path = to->mot_path;
        if (outfile_open(&t->mot_file, "mot", to->mot_path, overwrite, 1) < 0) {
            tracking_close(&t);
            return APP_FAIL;
        }
        t->mot = outfile_stream(t->mot_file);
    }
    *out = t;
    return APP_OK;
oom:
    app_error("out of memory");
    tracking_close(&t);
    return APP_FAIL;
}

static struct trail *trail_of(struct tracking *t, int id, int64_t frame)
{
    struct trail *free_slot = NULL, *oldest = NULL;
    for (int i = 0; i < t->ntrails; i++) {
        struct trail *tr = &t->trails[i];
        if (tr->id == id)
            return tr;
        if (!tr->id && !free_slot)
            free_slot = tr;
        if (tr->id && (!oldest || tr->last_frame < oldest->last_frame))
            oldest = tr;
    }
    struct trail *tr = free_slot ? free_slot : oldest;   /* more tracks than slots: reuse */
    memset(tr, 0, sizeof *tr);
    tr->id = id;
    tr->last_frame = frame;
    return tr;
}

static void trails_add(struct tracking *t, int64_t frame)
{
    for (int i = 0; i < t->nshown; i++) {
        const struct track_out *o = &t->shown[i];
        struct trail *tr = trail_of(t, o->id, frame);
        tr->xy[tr->head][0] = 0.5f * (o->box[0] + o->box[2]);
        tr->xy[tr->head][1] = o->box[3];   /* bottom centre: where it stands */
        tr->head = (tr->head + 1) % TRAIL_POINTS;
        if (tr->n < TRAIL_POINTS)
            tr->n++;
        tr->last_frame = frame;
        tr->label = o->label;
    }
    /* forget paths of tracks gone for two seconds' worth of frames */
    for (int i = 0; i < t->ntrails; i++)
        if (t->trails[i].id && frame - t->trails[i].last_frame > 60)
            t->trails[i].id = 0;
}

int tracking_frame(struct tracking *t, const struct cli_model *cm, struct pipe_frame *f)
{
    if (!t || f->dets_kind == PIPE_DETS_NONE)
        return 0;
    char msg[300];
    const struct track_out *out = NULL;
    double t0 = video_now();
    int n;
    /* a still frame's boxes are detections that stand: the tracker takes them */
    int own = f->dets_kind == PIPE_DETS_OWN || f->dets_kind == PIPE_DETS_STILL;
    if (own) {
        int nd = 0;
        for (int i = 0; i < f->ndets && nd < t->max_dets; i++) {
            const struct model_detection *d = &f->dets[i];
            if (!cli_model_keep_class(cm, d->label))
                continue;
            memcpy(t->dets[nd].box, d->box, sizeof d->box);
            t->dets[nd].score = d->score;
            t->dets[nd].label = d->label;
            nd++;
        }
        n = track_update(t->tr, t->dets, nd, &out, msg, sizeof msg);
    } else {
        n = track_predict(t->tr, &out);
    }
    if (n < 0) {
        app_error("track: %s", msg);
        return -1;
    }
    /* shown: confirmed tracks matched on this frame (predicted on a held one) */
    t->nshown = 0;
    for (int i = 0; i < n && t->nshown < t->max_dets; i++) {
        const struct track_out *o = &out[i];
        if (o->state != TRACK_TRACKED || (own && o->since_match != 0))
            continue;
        t->shown[t->nshown++] = *o;
    }
    for (int i = 0; i < t->nlines; i++)
        if (track_line_update(t->line[i], out, n, msg, sizeof msg) < 0) {
            app_error("track: %s", msg);
            return -1;
        }
    lat_hist_add(&t->ms, (video_now() - t0) * 1e3);
    if (zoning_update(t->zones, t->shown, t->nshown) < 0)
        return -1;

    for (int i = 0; i < t->nshown; i++) {
        const struct track_out *o = &t->shown[i];
        struct model_detection *d = &f->dets[i];
        memcpy(d->box, o->box, sizeof d->box);
        d->score = o->score;
        d->label = o->label;
        f->track_ids[i] = o->id;
        if (o->id > t->max_id) {   /* identities rise: a larger one is new */
            t->max_id = o->id;
            t->distinct_all++;
            if (o->label >= 0 && o->label < t->nclasses)
                t->distinct[o->label]++;
        }
    }
    f->ndets = t->nshown;
    f->tracked = 1;
    t->frame = f->vf->index;
    trails_add(t, f->vf->index);

    if (t->mot) {
        int bad = 0;   /* every shown track, predicted ones (held frames) too */
        for (int i = 0; i < t->nshown && !bad; i++)
            bad = track_mot_write_line(t->mot, (int)(f->vf->index + 1), t->shown[i].id,
                                       t->shown[i].box, t->shown[i].score) < 0;
        if (bad || fflush(t->mot) != 0 || ferror(t->mot)) {
            app_error("mot %s: write error: %s", t->mot_path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

int tracking_trails(struct tracking *t, const struct cli_model *cm,
                    const struct render_trail **out)
{
    *out = NULL;
    if (!t)
        return 0;
    int k = 0;
    for (int i = 0; i < t->ntrails; i++) {
        const struct trail *tr = &t->trails[i];
        if (!tr->id || tr->n < 2 || tr->last_frame != t->frame)
            continue;   /* only the paths of tracks shown now */
        for (int j = 0; j < tr->n; j++) {
            int at = (tr->head - tr->n + j + 2 * TRAIL_POINTS) % TRAIL_POINTS;
            t->rtxy[k][j][0] = tr->xy[at][0];
            t->rtxy[k][j][1] = tr->xy[at][1];
        }
        t->rtrails[k] = (struct render_trail){ .xy = (const float (*)[2])t->rtxy[k], .n = tr->n,
                                              .id = tr->id };
        t->rtrails[k].has_color = model_class_color(cm->model, tr->label, t->rtrails[k].color);
        k++;
    }
    *out = t->rtrails;
    return k;
}

/* "3 red circle, 2 blue square" (the classes seen, most first), into buf. */
static void class_counts(struct tracking *t, const struct cli_model *cm, char *buf, size_t size)
{
    int k = 0;
    for (int c = 0; c < t->nclasses; c++) {   /* insertion sort: few classes are seen */
        if (!t->distinct[c])
            continue;
        int j = k++;
        while (j > 0 && t->distinct[t->order[j - 1]] < t->distinct[c]) {
            t->order[j] = t->order[j - 1];
            j--;
        }
        t->order[j] = c;
    }
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < k; i++) {
        int c = t->order[i];
        const char *name = cli_model_class_name(cm, c);
        int w = name ? snprintf(buf + at, size - at, "%s%ld %s", at ? ", " : "", t->distinct[c], name)
                     : snprintf(buf + at, size - at, "%s%ld class %d", at ? ", " : "",
                                t->distinct[c], c);
        if (w < 0 || (size_t)w >= size - at) {
            buf[at] = '\0';
            break;
        }
        at += (size_t)w;
    }
}

/* "line 1 (200,0 to 200,360): 3 moving left, 2 moving right" */
static void line_counts(const struct tracking *t, int i, char *buf, size_t size)
{
    const float *l = t->line_xy[i];
    snprintf(buf, size, "line %d (%g,%g to %g,%g): %ld moving %s, %ld moving %s", i + 1, l[0],
             l[1], l[2], l[3], track_line_count(t->line[i], -1, TRACK_CROSS_LEFT_TO_RIGHT),
             t->line_word[i][0], track_line_count(t->line[i], -1, TRACK_CROSS_RIGHT_TO_LEFT),
             t->line_word[i][1]);
}


const char *tracking_hud(struct tracking *t, const struct cli_model *cm)
{
    if (!t)
        return NULL;
    char counts[160];
    class_counts(t, cm, counts, sizeof counts);
    int at = snprintf(t->hud, sizeof t->hud, "tracks %ld%s%.40s%s", t->distinct_all,
                      counts[0] ? " (" : "", counts, counts[0] ? ")" : "");
    for (int i = 0; i < t->nlines && i < 2 && at > 0 && (size_t)at < sizeof t->hud; i++)
        at += snprintf(t->hud + at, sizeof t->hud - (size_t)at, "\nline %d: %ld %s, %ld %s",
                       i + 1, track_line_count(t->line[i], -1, TRACK_CROSS_LEFT_TO_RIGHT),
                       t->line_word[i][0],
                       track_line_count(t->line[i], -1, TRACK_CROSS_RIGHT_TO_LEFT),
                       t->line_word[i][1]);
    if (at > 0 && (size_t)at < sizeof t->hud)
        zoning_hud(t->zones, t->hud + at, sizeof t->hud - (size_t)at);
    return t->hud;
}

void tracking_summary(FILE *f, struct tracking *t, const struct cli_model *cm)
{
    if (!t)
        return;
    char counts[400];
    class_counts(t, cm, counts, sizeof counts);
    fprintf(f, "%s: %ld distinct tracks%s%s%s; tracker %.3f ms per frame (max %.3f)\n", t->cmd,
            t->distinct_all, counts[0] ? " (" : "", counts, counts[0] ? ")" : "",
            lat_hist_mean(&t->ms), t->ms.n ? t->ms.max : 0.0);
    for (int i = 0; i < t->nlines; i++) {
        char l[160];
        line_counts(t, i, l, sizeof l);
        fprintf(f, "%s: %s\n", t->cmd, l);
    }
    zoning_summary(f, t->cmd, t->zones);
}

void tracking_json(FILE *f, struct tracking *t, const struct cli_model *cm)
{
    fputs("{\"distinct\": ", f);
    fprintf(f, "%ld, \"per_class\": {", t->distinct_all);
    int first = 1;
    for (int c = 0; c < t->nclasses; c++) {
        if (!t->distinct[c])
            continue;
        char key[32];
        const char *name = cli_model_class_name(cm, c);
        snprintf(key, sizeof key, "%d", c);
        fputs(first ? "" : ", ", f);
        first = 0;
        json_put_string(f, name ? name : key);
        fprintf(f, ": %ld", t->distinct[c]);
    }
    fputs("}, \"lines\": [", f);
    for (int i = 0; i < t->nlines; i++) {
        const float *l = t->line_xy[i];
        fprintf(f, "%s{\"segment\": [%g, %g, %g, %g], \"%s\": %ld, \"%s\": %ld}", i ? ", " : "",
                l[0], l[1], l[2], l[3], t->line_word[i][0],
                track_line_count(t->line[i], -1, TRACK_CROSS_LEFT_TO_RIGHT), t->line_word[i][1],
                track_line_count(t->line[i], -1, TRACK_CROSS_RIGHT_TO_LEFT));
    }
    fputs("], \"zones\": ", f);
    zoning_json(f, t->zones);
    fprintf(f, ", \"ms_per_frame\": %.4f}", lat_hist_mean(&t->ms));
}

int tracking_lines(const struct tracking *t, const float (**lines)[4])
{
    *lines = t ? (const float (*)[4])t->line_xy : NULL;
    return t ? t->nlines : 0;
}

const struct lat_hist *tracking_times(const struct tracking *t)
{
    return t ? &t->ms : NULL;
}

struct zoning *tracking_zoning(struct tracking *t)
{
    return t ? t->zones : NULL;
}

int tracking_commit(struct tracking *t)
{
    if (!t || !t->mot_file)
        return 0;
    t->mot = NULL;
    return outfile_commit(&t->mot_file);
}

void tracking_close(struct tracking **tp)
{
    struct tracking *t = tp ? *tp : NULL;
    if (!t)
        return;
    outfile_discard(&t->mot_file);
    zoning_close(&t->zones);
    track_free(&t->tr);
    for (int i = 0; i < t->nlines; i++)
        track_line_free(&t->line[i]);
    free(t->distinct);
    free(t->order);
    free(t->dets);
    free(t->shown);
    free(t->trails);
    free(t->rtrails);
    free(t->rtxy);
    free(t);
    *tp = NULL;
}
