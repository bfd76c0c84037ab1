/*
 * clips.c — watch --clips DIR: for every tracked object, a video clip around
 * it, stream-copied from the source (video/'s recorder: no re-encode, from the
 * keyframe at or before --pre-capture seconds before it appeared, until
 * --post-capture seconds after it went; MPEG-TS, so a clip cut off by a kill
 * still plays), and its best snapshot as a JPEG — the frame where its score
 * times its box's area was highest, written when the object ends.
 *
 * Files: DIR/CAMERA-YYYYmmddTHHMMSSZ-LABEL-ID.ts and .jpg (UTC time of the
 * object's first sighting; LABEL with blanks as '-'), never replacing a file.
 * Events call in here (events.c) on the main thread, in frame order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "pipeline.h"

#define CLIPS_MAX_OBJECTS 32   /* objects with a clip at once; more get none (counted) */
/* video_clip_start()'s "too many open": AVERROR(EBUSY), FFmpeg's negated errno */
#define AVERROR_EBUSY_CLIPS (-EBUSY)

struct clip_obj {
    int id;                 /* 0: free */
    int clip;               /* the recorder's id, or -1 (no clip) */
    char base[512];         /* path without the extension */
    float best;             /* score x area of the snapshot kept */
    uint8_t *snap;          /* w * h * 3 */
};

struct clips {
    struct video_recorder *rec;
    const char *dir, *camera;
    const struct cli_model *cm;
    double pre, post;
    int w, h;
    struct clip_obj obj[CLIPS_MAX_OBJECTS];
    long started, skipped, snapshots, failed;
};

int clips_open(struct clips **out, const struct clips_options *o, struct video_source *src,
               const struct cli_model *cm, int width, int height)
{
    *out = NULL;
    if (!o->dir)
        return APP_OK;
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/x", o->dir);   /* the folder and its parents made */
    if (outfile_make_parents(probe) < 0)
        return app_error("--clips %s: %s", o->dir, strerror(errno));
    struct stat st;
    if (stat(o->dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return app_error("--clips %s: not a directory", o->dir);
    struct clips *c = calloc(1, sizeof *c);
    if (!c)
        return app_error("out of memory");
    c->dir = o->dir;
    c->camera = o->camera;
    c->cm = cm;
    c->pre = o->pre;
    c->post = o->post;
    c->w = width;
    c->h = height;
    struct video_recorder_options ro = { .pre = o->pre > 0 ? o->pre : -1,
                                         .max_clips = CLIPS_MAX_OBJECTS };
    if (video_recorder_open(&c->rec, src, &ro) < 0) {
        free(c);
        return APP_FAIL;   /* printed, e.g. a lavfi graph has no packets to copy */
    }
    *out = c;
    return APP_OK;
}

void clips_close(struct clips **cp)
{
    struct clips *c = cp ? *cp : NULL;
    if (!c)
        return;
    video_recorder_close(&c->rec);
    for (int i = 0; i < CLIPS_MAX_OBJECTS; i++)
        free(c->obj[i].snap);
    free(c);
    *cp = NULL;
}

static struct clip_obj *find(struct clips *c, int id)
{
    for (int i = 0; i < CLIPS_MAX_OBJECTS; i++)
        if (c->obj[i].id == id)
            return &c->obj[i];
    return NULL;
}

void clips_object_new(struct clips *c, int id, int label, double t, double wall)
{
    if (!c)
        return;
    struct clip_obj *o = find(c, 0);
    if (!o) {
        c->skipped++;   /* too many at once: this one gets no clip */
        return;
    }
    char name[64] = "object";
    const char *ln = cli_model_class_name(c->cm, label);
    if (ln)
        snprintf(name, sizeof name, "%s", ln);
    else
        snprintf(name, sizeof name, "class%d", label);
    for (char *s = name; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            *s = '-';
    time_t sec = (time_t)wall;
    struct tm tm;
    gmtime_r(&sec, &tm);
    memset(o, 0, sizeof *o);   /* a free slot holds no snapshot */
    o->id = id;
    o->clip = -1;
    snprintf(o->base, sizeof o->base, "%s/%s-%04d%02d%02dT%02d%02d%02dZ-%s-%d", c->dir, c->camera,
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             name, id);
    char path[600];
    snprintf(path, sizeof path, "%s.ts", o->base);
    int r = video_clip_start(c->rec, path, t);
    if (r >= 0) {
        o->clip = r;
        c->started++;
    } else if (r == AVERROR_EBUSY_CLIPS) {
        c->skipped++;   /* printed: every slot holds a clip still being written */
    } else {
        c->failed++;    /* printed: the file exists, cannot be made */
    }
}

void clips_object_seen(struct clips *c, int id, const float box[4], float score,
                       const struct video_frame *vf)
{
    struct clip_obj *o = c && id ? find(c, id) : NULL;
    if (!o || vf->width != c->w || vf->height != c->h)
        return;
    float area = (box[2] - box[0]) * (box[3] - box[1]);
    float v = score * (area > 0 ? area : 0);
    if (o->snap && v <= o->best)
        return;
    if (!o->snap && !(o->snap = malloc((size_t)c->w * c->h * 3)))
        return;   /* no memory for a snapshot: none for this object */
    memcpy(o->snap, vf->rgb, (size_t)c->w * c->h * 3);
    o->best = v;
}

void clips_object_end(struct clips *c, int id, double t)
{
    struct clip_obj *o = c && id ? find(c, id) : NULL;
    if (!o)
        return;
    if (o->clip >= 0)
        video_clip_stop(c->rec, o->clip, t + c->post);
    if (o->snap) {
        char path[600];
        snprintf(path, sizeof path, "%s.jpg", o->base);
        if (video_write_jpeg(path, o->snap, c->w, c->h, 3 * c->w, 90) == 0)
            c->snapshots++;
        else
            c->failed++;
        free(o->snap);
        o->snap = NULL;
    }
    o->id = 0;
}

void clips_summary(FILE *f, const char *cmd, const struct clips *c)
{
    if (!c)
        return;
    struct video_recorder_stats st;
    video_recorder_stats(c->rec, &st);
    fprintf(f, "%s: clips in %s: %ld started, %lld complete, %d finished now; %ld snapshots",
            cmd, c->dir, c->started, (long long)st.clips_done, st.clips_open, c->snapshots);
    if (c->skipped || c->failed || st.clips_failed || st.packets_dropped)
        fprintf(f, "; %ld objects without a clip (%d clips at once at most, each open for "
                   "its object's time plus pre- and post-capture), %ld failed, %lld packets lost",
                c->skipped, CLIPS_MAX_OBJECTS, c->failed + (long)st.clips_failed,
                (long long)st.packets_dropped);
    fputc('\n', f);
}
