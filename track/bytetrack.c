/*
 * bytetrack.c — the multi-object tracker: ByteTrack (Zhang et al., "ByteTrack:
 * Multi-Object Tracking by Associating Every Detection Box", ECCV 2022) over
 * plain boxes, with the tracker's state, its preallocated scratch and its
 * output array.
 *
 * One frame (track_update):
 *   0. every track advances one frame on its Kalman filter (kalman.c); a lost
 *      track's height velocity is zeroed first, as ByteTrack does, so a box
 *      that is not seen does not keep growing or shrinking;
 *   1. detections split by score: high (>= track_high_thresh) and low
 *      ([track_low_thresh, track_high_thresh)); the rest are dropped;
 *   2. confirmed tracks, tracked and lost, against the high detections: cost
 *      1 - IoU(predicted box, detection), feasible when <= match_thresh, optimal
 *      assignment (assign.c); a matched lost track is found again;
 *   3. the tracked tracks left over against the low detections
 *      (second_match_thresh) — low scores continue tracks, never start them;
 *      tracked tracks still unmatched become lost;
 *   4. tentative tracks against the high detections left over
 *      (tentative_match_thresh): matched ones are confirmed and get their id,
 *      the others are removed (a track seen once is noise until seen twice);
 *   5. high detections still unmatched scoring >= new_track_thresh start
 *      tentative tracks — confirmed at once on the tracker's first frame;
 *   6. lost tracks unmatched for more than max_age frames are removed.
 * Class-aware: with class_aware (the default) a pair of different labels is
 * infeasible in every association, so a "car" track never continues with a
 * "person" box even where they overlap; ByteTrack itself ignores classes.
 * Ids count up from 1 at confirmation and are never reused, so a tentative
 * track that dies costs no id.
 *
 * Differences from ByteTrack's reference code, on purpose: tentative tracks
 * are predicted with the others (their velocity is zero, so only their
 * covariance grows); the reported box of a matched track is its detection's
 * (not the filter's corrected mean); no score fusion into the cost; no removal
 * of duplicate tracked/lost pairs.
 *
 * Memory: tracks, detections' indices, the cost matrix, the assignment's
 * workspace and the output grow geometrically and are reused, so frames
 * allocate nothing once the largest scene has been seen. All growing happens
 * before the frame changes anything, so running out of memory leaves the
 * tracker as it was.
 */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

struct trk {
    struct kalman kf;
    int id;                 /* 0 while tentative */
    int label;
    float score;
    float box[4];           /* detection box when matched this frame, else predicted */
    float meas[4];          /* the last detection box taken */
    double anchor[3];       /* the filter's cx, cy, h right after taking it */
    enum track_state state;
    int age, since_match;
    int matched;            /* matched at this update */
    int dead;               /* to be removed at the end of this update */
};

struct tracker {
    struct track_params p;
    int max_age;
    long frames;            /* calls so far */
    long updates;           /* track_update calls so far */
    int last_id;            /* ids given: 1..last_id */
    struct trk *trk;        /* ntrk live tracks, in the order they started */
    int ntrk, cap_trk;
    struct track_out *out;
    int cap_out;
    int *high, *low, cap_det; /* indices into dets */
    unsigned char *det_used;  /* per index into dets; cap_det */
    int *rows, cap_rows;      /* tracks of one association */
    int *r2c, cap_r2c;
    double *cost;             /* rows x columns of one association */
    int cap_cost;
    struct assign as;
};

int track_create(struct tracker **tp, const struct track_params *p, char *msg, size_t len)
{
    BASE_ASSERT(tp && p);
    *tp = NULL;
    if (track_params_check(p, msg, len) < 0) return -1;
    struct tracker *t = calloc(1, sizeof *t);
    if (!t) return base_err(msg, len, "track: out of memory");
    t->p = *p;
    t->max_age = track_max_age(p);
    *tp = t;
    return 0;
}

void track_free(struct tracker **tp)
{
    if (!tp || !*tp) return;
    struct tracker *t = *tp;
    free(t->trk); free(t->out); free(t->high); free(t->low); free(t->det_used);
    free(t->rows); free(t->r2c); free(t->cost);
    assign_free(&t->as);
    free(t);
    *tp = NULL;
}

long track_frames(const struct tracker *t) { return t->frames; }

/* Beyond this many pixels from the origin a box is garbage, not an object;
 * the bound keeps every later float conversion far from overflow. */
#define MAX_COORD 1e7f

static int valid_det(const struct track_det *d)
{
    for (int c = 0; c < 4; c++)
        if (!(fabsf(d->box[c]) <= MAX_COORD)) return 0; /* NaN too */
    return isfinite(d->score) && d->box[2] > d->box[0] && d->box[3] > d->box[1];
}

/* Step 0: one frame forward for every track. */
static void advance(struct tracker *t)
{
    t->frames++;
    for (int i = 0; i < t->ntrk; i++) {
        struct trk *k = &t->trk[i];
        if (k->state == TRACK_LOST) k->kf.d[3].v = 0;
        kalman_predict(&k->kf, t->p.std_weight_position, t->p.std_weight_velocity);
        kalman_box(&k->kf, k->box);
        k->age++;
        k->since_match++;
        k->matched = 0;
    }
}

/* Match tracks rows[nr] with detections cols[nc] (indices into dets) at IoU
 * distance <= thresh; r2c[i] gets the position in cols or -1. Cannot fail:
 * reserve() made room for the largest association of the frame. */
static void associate(struct tracker *t, int nr, const int *cols, int nc,
                     const struct track_det *dets, double thresh)
{
    for (int i = 0; i < nr; i++) {
        const struct trk *k = &t->trk[t->rows[i]];
        double *ci = t->cost + (size_t)i * nc;
        for (int j = 0; j < nc; j++) {
            const struct track_det *d = &dets[cols[j]];
            ci[j] = t->p.class_aware && d->label != k->label ? INFINITY
                                                             : 1 - track_iou(k->box, d->box);
        }
    }
    int pairs = assign_solve(&t->as, t->cost, nr, nc, thresh, t->r2c, NULL, NULL, 0);
    BASE_ASSERT(pairs >= 0);
}

static void take(struct tracker *t, struct trk *k, const struct track_det *d)
{
    double z[4];
    kalman_measure(d->box, z);
    kalman_update(&k->kf, z, t->p.std_weight_position);
    for (int c = 0; c < 4; c++) k->box[c] = k->meas[c] = d->box[c];
    k->anchor[0] = k->kf.d[0].x;
    k->anchor[1] = k->kf.d[1].x;
    k->anchor[2] = k->kf.d[3].x;
    k->score = d->score;
    k->label = d->label;
    k->since_match = 0;
    k->matched = 1;
    if (k->state == TRACK_TENTATIVE) k->id = ++t->last_id;
    k->state = TRACK_TRACKED;
}

/* Room for everything this frame can need, before anything changes. */
static int reserve(struct tracker *t, int n, char *msg, size_t len)
{
    int most = t->ntrk + n; /* tracks after this frame, at most */
    long long cells = (long long)t->ntrk * n;
    if (most < t->ntrk || cells > (1LL << 28) ||
        base_grow((void **)&t->trk, &t->cap_trk, most, sizeof *t->trk) < 0 ||
        base_grow((void **)&t->out, &t->cap_out, most, sizeof *t->out) < 0 ||
        base_grow((void **)&t->rows, &t->cap_rows, t->ntrk, sizeof *t->rows) < 0 ||
        base_grow((void **)&t->r2c, &t->cap_r2c, t->ntrk, sizeof *t->r2c) < 0 ||
        base_grow((void **)&t->cost, &t->cap_cost, (int)cells, sizeof *t->cost) < 0 ||
        assign_reserve(&t->as, t->ntrk, n) < 0)
        return base_err(msg, len, "track: out of memory (%d tracks, %d detections)", t->ntrk, n);
    if (n > t->cap_det) {
        int cap = t->cap_det, c2 = cap, c3 = cap;
        if (base_grow((void **)&t->high, &cap, n, sizeof *t->high) < 0 ||
            base_grow((void **)&t->low, &c2, n, sizeof *t->low) < 0 ||
            base_grow((void **)&t->det_used, &c3, n, sizeof *t->det_used) < 0)
            return base_err(msg, len, "track: out of memory (%d detections)", n);
        t->cap_det = cap;
    }
    return 0;
}

/*
 * The box reported for a track not matched this frame: the last detection box
 * moved as the filter's centre moved since, and scaled as its height did. The
 * filter's own box (what association uses, as ByteTrack's) keeps an aspect
 * ratio that follows measurements slowly by design (its noise is tiny), so an
 * object whose box changes shape — one entering through an edge, a turning
 * one — would be drawn with the wrong width for the frames between detections
 * (--stride); the detection's own shape is the better guess.
 */
static void predicted_box(const struct trk *k, float box[4])
{
    double s = k->anchor[2] > 0 && k->kf.d[3].x > 0 ? k->kf.d[3].x / k->anchor[2] : 1;
    if (!(s > 0.25 && s < 4)) s = 1;   /* a wild filter: keep the size */
    double cx = 0.5 * ((double)k->meas[0] + k->meas[2]) + (k->kf.d[0].x - k->anchor[0]);
    double cy = 0.5 * ((double)k->meas[1] + k->meas[3]) + (k->kf.d[1].x - k->anchor[1]);
    double hw = 0.5 * ((double)k->meas[2] - k->meas[0]) * s;
    double hh = 0.5 * ((double)k->meas[3] - k->meas[1]) * s;
    box[0] = (float)(cx - hw);
    box[1] = (float)(cy - hh);
    box[2] = (float)(cx + hw);
    box[3] = (float)(cy + hh);
}

static void fill_out(const struct trk *k, struct track_out *o)
{
    o->id = k->id;
    o->label = k->label;
    if (k->since_match > 0 && k->id > 0)
        predicted_box(k, o->box);
    else
        for (int c = 0; c < 4; c++) o->box[c] = k->box[c];
    o->vx = (float)k->kf.d[0].v;
    o->vy = (float)k->kf.d[1].v;
    o->score = k->score;
    o->state = k->state;
    o->age = k->age;
    o->since_match = k->since_match;
}

/* Intersection over the smaller box's area; 0 when either is empty. */
static double overlap_of_smaller(const float *a, const float *b)
{
    double l = fmax(a[0], b[0]), r = fmin(a[2], b[2]), t = fmax(a[1], b[1]), bt = fmin(a[3], b[3]);
    if (!(r > l) || !(bt > t)) return 0;
    double sa = ((double)a[2] - a[0]) * ((double)a[3] - a[1]);
    double sb = ((double)b[2] - b[0]) * ((double)b[3] - b[1]);
    double s = sa < sb ? sa : sb;
    return s > 0 ? (r - l) * (bt - t) / s : 0;
}

/* Is dets[j] one object's second report: mostly inside (overlap >= share of
 * the smaller box) a valid detection that scores higher (or the same and comes
 * first) — of another class, or of its own class when dets[j] is weak (score
 * below high)? O(n) per detection, n being a frame's detections. Two confident
 * detections of one class are the detector's NMS's business (two objects of
 * one class crossing must both stay). */
static int duplicate(const struct track_det *dets, int n, int j, float share, float high)
{
    for (int k = 0; k < n; k++) {
        /* same class: only a weak one (below the first association) inside a
         * stronger one — a part of the object, or its shadow — goes */
        if (k == j || !valid_det(&dets[k]) ||
            (dets[k].label == dets[j].label && dets[j].score >= high))
            continue;
        if (dets[k].score > dets[j].score || (dets[k].score == dets[j].score && k < j))
            if (overlap_of_smaller(dets[k].box, dets[j].box) >= share) return 1;
    }
    return 0;
}

int track_update(struct tracker *t, const struct track_det *dets, int n,
                 const struct track_out **out, char *msg, size_t len)
{
    BASE_ASSERT(t && n >= 0 && (dets || n == 0) && out);
    *out = t->out;
    if (reserve(t, n, msg, len) < 0) return -1;
    advance(t);
    int first = t->updates++ == 0;
    const struct track_params *p = &t->p;

    int nh = 0, nl = 0;
    for (int j = 0; j < n; j++) {
        t->det_used[j] = 0;
        if (!valid_det(&dets[j])) continue;
        if (p->dedup_overlap > 0 &&
            duplicate(dets, n, j, p->dedup_overlap, p->track_high_thresh))
            continue;
        if (dets[j].score >= p->track_high_thresh) t->high[nh++] = j;
        else if (dets[j].score >= p->track_low_thresh) t->low[nl++] = j;
    }

    /* 2. confirmed tracks (tracked and lost) with high detections */
    int nr = 0;
    for (int i = 0; i < t->ntrk; i++)
        if (t->trk[i].state != TRACK_TENTATIVE) t->rows[nr++] = i;
    associate(t, nr, t->high, nh, dets, p->match_thresh);
    for (int i = 0; i < nr; i++) {
        if (t->r2c[i] < 0) continue;
        int d = t->high[t->r2c[i]];
        take(t, &t->trk[t->rows[i]], &dets[d]);
        t->det_used[d] = 1;
    }

    /* 3. tracked tracks left over with low detections; the rest are lost */
    nr = 0;
    for (int i = 0; i < t->ntrk; i++)
        if (t->trk[i].state == TRACK_TRACKED && !t->trk[i].matched) t->rows[nr++] = i;
    associate(t, nr, t->low, nl, dets, p->second_match_thresh);
    for (int i = 0; i < nr; i++) {
        struct trk *k = &t->trk[t->rows[i]];
        if (t->r2c[i] >= 0) take(t, k, &dets[t->low[t->r2c[i]]]);
        else k->state = TRACK_LOST;
    }

    /* 4. tentative tracks with the high detections left over */
    int nfree = 0;
    for (int j = 0; j < nh; j++)
        if (!t->det_used[t->high[j]]) t->high[nfree++] = t->high[j];
    nh = nfree;
    nr = 0;
    for (int i = 0; i < t->ntrk; i++)
        if (t->trk[i].state == TRACK_TENTATIVE) t->rows[nr++] = i;
    associate(t, nr, t->high, nh, dets, p->tentative_match_thresh);
    for (int i = 0; i < nr; i++) {
        struct trk *k = &t->trk[t->rows[i]];
        if (t->r2c[i] < 0) {
            k->dead = 1;
            continue;
        }
        int d = t->high[t->r2c[i]];
        take(t, k, &dets[d]);
        t->det_used[d] = 1;
    }

    /* 6 (before 5, so new tracks need not be skipped). */
    int live = 0;
    for (int i = 0; i < t->ntrk; i++) {
        struct trk *k = &t->trk[i];
        if (k->dead || (k->state == TRACK_LOST && k->since_match > t->max_age)) continue;
        t->trk[live++] = *k;
    }
    t->ntrk = live;

    /* 5. new tracks */
    for (int j = 0; j < nh; j++) {
        const struct track_det *d = &dets[t->high[j]];
        if (t->det_used[t->high[j]] || d->score < p->new_track_thresh) continue;
        BASE_ASSERT(t->ntrk < t->cap_trk);
        struct trk *k = &t->trk[t->ntrk++];
        double z[4];
        kalman_measure(d->box, z);
        *k = (struct trk){ .label = d->label, .score = d->score, .state = TRACK_TENTATIVE,
                           .matched = 1 };
        kalman_init(&k->kf, z, p->std_weight_position, p->std_weight_velocity);
        for (int c = 0; c < 4; c++) k->box[c] = k->meas[c] = d->box[c];
        k->anchor[0] = k->kf.d[0].x;   /* as take() does: predicted_box starts from here */
        k->anchor[1] = k->kf.d[1].x;
        k->anchor[2] = k->kf.d[3].x;
        if (first) {
            k->id = ++t->last_id;
            k->state = TRACK_TRACKED;
        }
    }

    for (int i = 0; i < t->ntrk; i++) fill_out(&t->trk[i], &t->out[i]);
    *out = t->out;
    return t->ntrk;
}

int track_predict(struct tracker *t, const struct track_out **out)
{
    BASE_ASSERT(t && out);
    advance(t);
    int n = 0;
    for (int i = 0; i < t->ntrk; i++)
        if (t->trk[i].state != TRACK_TENTATIVE) fill_out(&t->trk[i], &t->out[n++]);
    *out = t->out;
    return n;
}
