/*
 * events.c — what a camera operator's systems want from a run: one event per
 * tracked object as it appears, changes and goes, and the counts per class
 * and zone. Events go to --events FILE|- as JSON Lines and, through a
 * publisher (publish/), to MQTT topics (docs/formats.md §8 has the schema):
 *
 *   PREFIX/events           {"type": "new"|"update"|"end", "camera": ...,
 *                            "before": STATE|null, "after": STATE}
 *   PREFIX/CAMERA/counts    {"objects": {"red circle": 2, ...},
 *                            "zones": {"door": {"red circle": 1}, ...}}  (retained)
 *
 * An object's STATE: its track id, label, score and best score, box, the
 * zones it is in and those it entered so far, when it was first and last
 * seen (stream seconds and wall-clock time). "new" when a track is first
 * shown; "update" when its label or zones change (at once) or, at most every
 * update_every seconds, when its box or best score moved on; "end" when it
 * has not been shown for end_after seconds, or at the end of the run. Times
 * are the stream's (pts), so a file gives the same events however fast it is
 * read. On the main thread, in frame order.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline.h"

struct obj_state {
    int id;                 /* 0: free slot */
    int label;
    float score, top_score;
    float box[4];
    unsigned zones, entered;   /* bit i: zone i */
    double first_t, last_t;    /* stream s */
    double first_wall, last_wall;
    int64_t last_frame;
};

struct object {
    struct obj_state now;      /* as last seen */
    struct obj_state sent;     /* as last published */
    double sent_t;             /* stream s of the last event */
};

struct events {
    const char *camera;
    const struct cli_model *cm;
    struct zoning *zones;      /* borrowed, may be NULL */
    FILE *file;                /* --events stream or NULL (borrowed) */
    const char *file_name;
    struct publisher *pub;     /* borrowed, may be NULL */
    struct clips *clips;       /* borrowed, may be NULL */
    double update_every, end_after;
    struct object *obj;
    int nobj, cap;
    long sent[3];              /* new, update, end */
    int nclasses;
    int *count, *last_count;   /* (1 + nzones) x nclasses: objects now; as published */
    int counts_published;
};

int events_open(struct events **out, const struct events_options *o, const struct cli_model *cm,
                struct zoning *zones, struct publisher *pub, FILE *file, const char *file_name)
{
    *out = NULL;
    struct events *e = calloc(1, sizeof *e);
    if (!e)
        goto oom;
    e->camera = o->camera;
    e->cm = cm;
    e->zones = zones;
    e->pub = pub;
    e->file = file;
    e->file_name = file_name;
    e->update_every = o->update_every > 0 ? o->update_every : 5;
    e->end_after = o->end_after > 0 ? o->end_after : 1;
    e->nclasses = model_num_classes(cm->model);
    if (e->nclasses < 1)
        e->nclasses = 1;
    size_t nc = (size_t)(1 + zoning_count(zones)) * (size_t)e->nclasses;
    e->count = calloc(nc, sizeof *e->count);
    e->last_count = calloc(nc, sizeof *e->last_count);
    if (!e->count || !e->last_count)
        goto oom;
    *out = e;
    return APP_OK;
oom:
    app_error("out of memory");
    events_close(&e);
    return APP_FAIL;
}

void events_set_clips(struct events *e, struct clips *c)
{
    if (e)
        e->clips = c;
}

void events_close(struct events **ep)
{
    struct events *e = ep ? *ep : NULL;
    if (!e)
        return;
    free(e->obj);
    free(e->count);
    free(e->last_count);
    free(e);
    *ep = NULL;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void put_zone_list(FILE *f, const struct events *e, unsigned bits)
{
    fputc('[', f);
    int first = 1;
    for (int i = 0; i < zoning_count(e->zones); i++)
        if (bits & (1u << i)) {
            fputs(first ? "" : ", ", f);
            json_put_string(f, zoning_name(e->zones, i));
            first = 0;
        }
    fputc(']', f);
}

static void put_label(FILE *f, const struct events *e, int label)
{
    const char *name = cli_model_class_name(e->cm, label);
    if (name)
        json_put_string(f, name);
    else
        fprintf(f, "\"class %d\"", label);
}

static void put_state(FILE *f, const struct events *e, const struct obj_state *s, int ended)
{
    fprintf(f, "{\"id\": %d, \"label\": ", s->id);
    put_label(f, e, s->label);
    fprintf(f, ", \"label_id\": %d, \"score\": ", s->label);
    json_put_float(f, s->score);
    fputs(", \"top_score\": ", f);
    json_put_float(f, s->top_score);
    fputs(", \"box\": [", f);
    for (int k = 0; k < 4; k++) {
        fputs(k ? ", " : "", f);
        json_put_float(f, s->box[k]);
    }
    fputs("], \"zones\": ", f);
    put_zone_list(f, e, ended ? 0 : s->zones);
    fputs(", \"entered_zones\": ", f);
    put_zone_list(f, e, s->entered);
    fputs(", \"start_time\": ", f);
    json_put_time(f, s->first_t);
    fputs(", \"last_time\": ", f);
    json_put_time(f, s->last_t);
    fprintf(f, ", \"start_wall\": %.3f, \"last_wall\": %.3f, \"frame\": %lld, \"active\": %s}",
            s->first_wall, s->last_wall, (long long)s->last_frame, ended ? "false" : "true");
}

/* Write one message to the file and the broker. 0, or -1 on a file write error. */
static int emit(struct events *e, const char *suffix, const char *buf, size_t len, int retain,
                int to_file)
{
    if (e->pub)
        publish_send(e->pub, suffix, buf, len, retain);   /* drops are counted there */
    if (to_file && e->file) {
        if (fwrite(buf, 1, len, e->file) != len || fputc('\n', e->file) == EOF ||
            fflush(e->file) != 0) {
            app_error("events %s: write error: %s", e->file_name, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static const char *const TYPE_NAME[3] = { "new", "update", "end" };

static int send_event(struct events *e, int type, struct object *o)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        app_error("out of memory");
        return -1;
    }
    fprintf(f, "{\"type\": \"%s\", \"camera\": ", TYPE_NAME[type]);
    json_put_string(f, e->camera);
    fputs(", \"before\": ", f);
    if (type == 0)
        fputs("null", f);
    else
        put_state(f, e, &o->sent, 0);
    fputs(", \"after\": ", f);
    put_state(f, e, &o->now, type == 2);
    fputc('}', f);
    if (fclose(f) != 0 || !buf) {
        free(buf);
        app_error("out of memory");
        return -1;
    }
    int r = emit(e, "events", buf, len, 0, 1);
    free(buf);
    e->sent[type]++;
    o->sent = o->now;
    o->sent_t = o->now.last_t;
    return r;
}

static struct object *find(struct events *e, int id)
{
    for (int i = 0; i < e->nobj; i++)
        if (e->obj[i].now.id == id)
            return &e->obj[i];
    return NULL;
}

static struct object *add(struct events *e)
{
    for (int i = 0; i < e->nobj; i++)
        if (!e->obj[i].now.id)
            return &e->obj[i];
    if (e->nobj == e->cap) {
        int cap = e->cap ? 2 * e->cap : 32;
        struct object *o = realloc(e->obj, (size_t)cap * sizeof *o);
        if (!o)
            return NULL;
        e->obj = o;
        e->cap = cap;
    }
    struct object *o = &e->obj[e->nobj++];
    memset(o, 0, sizeof *o);
    return o;
}

static float box_shift(const float *a, const float *b)
{
    float s = 0;
    for (int k = 0; k < 4; k++)
        s = fmaxf(s, fabsf(a[k] - b[k]));
    return s;
}

/* Counts of the objects present now; published (retained) when they change. */
static int publish_counts(struct events *e, int force)
{
    int nz = zoning_count(e->zones), nc = e->nclasses;
    size_t n = (size_t)(1 + nz) * (size_t)nc;
    memset(e->count, 0, n * sizeof *e->count);
    for (int i = 0; i < e->nobj; i++) {
        const struct obj_state *s = &e->obj[i].now;
        if (!s->id || s->label < 0 || s->label >= nc)
            continue;
        e->count[s->label]++;
        for (int z = 0; z < nz; z++)
            if (s->zones & (1u << z))
                e->count[(size_t)(1 + z) * nc + s->label]++;
    }
    if (!e->pub || (!force && e->counts_published && !memcmp(e->count, e->last_count,
                                                            n * sizeof *e->count)))
        return 0;
    memcpy(e->last_count, e->count, n * sizeof *e->count);
    e->counts_published = 1;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -1;
    for (int z = -1; z < nz; z++) {
        if (z == -1)
            fputs("{\"objects\": {", f);
        else {
            fputs(z == 0 ? "}, \"zones\": {" : "}, ", f);
            json_put_string(f, zoning_name(e->zones, z));
            fputs(": {", f);
        }
        int first = 1;
        for (int c = 0; c < nc; c++) {
            int k = e->count[(size_t)(1 + z) * nc + c];
            if (!k)
                continue;
            fputs(first ? "" : ", ", f);
            put_label(f, e, c);
            fprintf(f, ": %d", k);
            first = 0;
        }
    }
    fputs(nz ? "}}}" : "}, \"zones\": {}}", f);
    if (fclose(f) != 0 || !buf) {
        free(buf);
        return -1;
    }
    char suffix[200];
    snprintf(suffix, sizeof suffix, "%s/counts", e->camera);
    emit(e, suffix, buf, len, 1, 0);
    free(buf);
    return 0;
}

int events_frame(struct events *e, const struct pipe_frame *f)
{
    if (!e || !f->tracked)
        return 0;
    const struct video_frame *vf = f->vf;
    double t = isfinite(vf->pts_sec) ? vf->pts_sec : vf->capture_time;
    double wall = wall_now();
    for (int i = 0; i < f->ndets; i++) {
        const struct model_detection *d = &f->dets[i];
        int id = f->track_ids[i];
        struct object *o = find(e, id);
        int is_new = !o;
        if (is_new && !(o = add(e))) {
            app_error("out of memory");
            return -1;
        }
        struct obj_state *s = &o->now;
        unsigned zones = zoning_of(e->zones, id);
        int label_changed = !is_new && s->label != d->label;
        int zones_changed = !is_new && s->zones != zones;
        if (is_new) {
            memset(s, 0, sizeof *s);
            s->id = id;
            s->first_t = t;
            s->first_wall = wall;
        }
        s->label = d->label;
        s->score = d->score;
        s->top_score = fmaxf(s->top_score, d->score);
        memcpy(s->box, d->box, sizeof s->box);
        s->zones = zones;
        s->entered |= zones;
        s->last_t = t;
        s->last_wall = wall;
        s->last_frame = vf->index;
        int r = 0;
        if (is_new)
            clips_object_new(e->clips, id, d->label, t, wall);
        clips_object_seen(e->clips, id, d->box, d->score, vf);
        if (is_new) {
            r = send_event(e, 0, o);
        } else if (label_changed || zones_changed) {
            r = send_event(e, 1, o);
        } else if (t - o->sent_t >= e->update_every &&
                   (box_shift(s->box, o->sent.box) >= 1.0f || s->top_score > o->sent.top_score)) {
            r = send_event(e, 1, o);
        }
        if (r < 0)
            return -1;
    }
    /* objects not shown for end_after seconds have gone */
    for (int i = 0; i < e->nobj; i++) {
        struct object *o = &e->obj[i];
        if (o->now.id && t - o->now.last_t >= e->end_after) {
            clips_object_end(e->clips, o->now.id, o->now.last_t);
            if (send_event(e, 2, o) < 0)
                return -1;
            o->now.id = 0;
        }
    }
    return publish_counts(e, 0);
}

int events_finish(struct events *e)
{
    if (!e)
        return 0;
    int r = 0;
    for (int i = 0; i < e->nobj; i++) {
        struct object *o = &e->obj[i];
        if (o->now.id) {
            clips_object_end(e->clips, o->now.id, o->now.last_t);
            if (send_event(e, 2, o) < 0)
                r = -1;
            o->now.id = 0;
        }
    }
    if (publish_counts(e, 0) < 0)
        r = -1;
    return r;
}

void events_counts(const struct events *e, long sent[3])
{
    for (int k = 0; k < 3; k++)
        sent[k] = e ? e->sent[k] : 0;
}
