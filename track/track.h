/*
 * track.h — the tracking library, the one public header of track/: a
 * ByteTrack-style multi-object tracker (boxes in, identities out), count lines
 * that tally tracks crossing a segment, the CLEAR MOT and IDF1 metrics, and
 * MOTChallenge text files.
 *
 * track/ knows no model, video, render, SDL or app: it takes plain boxes per
 * frame — x1, y1, x2, y2 as floats in pixels (no "+1"), a score and an integer
 * class label — and counts frames by calls. It uses only the C library and libm (and base/, which does too).
 *
 * Errors follow the project: fallible functions return 0 (or a count) or -1,
 * and write one line (no newline) into the caller's msg buffer, which may be
 * NULL. Nothing here prints or aborts on bad input; a broken invariant of this
 * code aborts with file:line.
 */
#ifndef VDETECT_TRACK_H
#define VDETECT_TRACK_H

#include <stddef.h>
#include <stdio.h>

/* ---- tracker parameters ----------------------------------------------------- */

/*
 * Every number of the tracker, with its default. The names are those of
 * ByteTrack's and Ultralytics' configurations where they exist. The *_match_thresh
 * are IoU distances: a track and a detection may match when
 * 1 - IoU <= thresh, i.e. IoU >= 1 - thresh.
 */
struct track_params {
    float track_high_thresh;      /* 0.5: detections scoring >= this take part in the
                                     first association (and may start tracks) */
    float track_low_thresh;       /* 0.1: detections in [low, high) only continue tracked
                                     tracks (second association); below low: ignored */
    float new_track_thresh;       /* 0.6: an unmatched high detection scoring >= this
                                     starts a tentative track */
    float match_thresh;           /* 0.8: first association (confirmed tracks, tracked
                                     and lost, with high detections): IoU >= 0.2 */
    float second_match_thresh;    /* 0.5: second association (tracked tracks left over,
                                     with low detections): IoU >= 0.5 */
    float tentative_match_thresh; /* 0.7: tentative tracks with the high detections left
                                     over: IoU >= 0.3 */
    int track_buffer;             /* 30: frames a lost track is kept at 30 fps; the limit
                                     is max_age = track_buffer * frame_rate / 30 frames */
    float frame_rate;             /* 30: frames per second of the source (calls per second) */
    int class_aware;              /* 1: a track matches only detections of its own label;
                                     0: labels are ignored in matching and a track takes
                                     the label of its last match */
    float dedup_overlap;          /* 0.8: a detection of one class lying mostly inside a
                                     higher-scoring one of another class (intersection >=
                                     this share of the smaller box) is dropped before
                                     association: a detector's NMS runs per class and can
                                     report one object as two classes; 0: off */
    float std_weight_position;    /* 1/20: Kalman position noise, times the box height */
    float std_weight_velocity;    /* 1/160: Kalman velocity noise, times the box height */
};

/* The defaults above. */
void track_params_default(struct track_params *p);
/* Apply one "NAME=VALUE" override (for --track-set). 0, or -1 with one line in
 * msg naming the parameter, the value and the accepted range, e.g.
 * "track: match_thresh: '1.5' is not a number in [0, 1]"; an unknown name
 * lists the known ones. p is unchanged on error. */
int track_param_set(struct track_params *p, const char *assignment, char *msg, size_t len);
/* Check the parameters together (each in range, low <= high). 0 or -1 + msg. */
int track_params_check(const struct track_params *p, char *msg, size_t len);
/* The frames a lost track is kept: track_buffer * frame_rate / 30, at least 1. */
int track_max_age(const struct track_params *p);

/* ---- the tracker -------------------------------------------------------------- */

/* One detection of one frame. */
struct track_det {
    float box[4];   /* x1, y1, x2, y2 in pixels; x2 > x1, y2 > y1 and every coordinate
                       within +-1e7, else the detection is ignored */
    float score;    /* in [0, 1]; non-finite: ignored */
    int label;      /* class label (any integer) */
};

enum track_state {
    TRACK_TENTATIVE,  /* started by one detection, not confirmed yet (id 0) */
    TRACK_TRACKED,    /* confirmed, matched at the last detection frame */
    TRACK_LOST,       /* confirmed, unmatched at the last detection frame; removed
                         after max_age frames without a match */
};

/* One live track as the tracker reports it. */
struct track_out {
    int id;               /* >= 1 once confirmed, never reused; 0 while tentative */
    int label;            /* class label of the track (of its last match) */
    float box[4];         /* x1, y1, x2, y2: the matched detection's box when matched
                             at this call (since_match == 0), else the Kalman prediction */
    float vx, vy;         /* the filter's velocity of the box centre, pixels per frame */
    float score;          /* score of the last matched detection */
    enum track_state state;
    int age;              /* frames since the track started (0 on its first frame) */
    int since_match;      /* frames since its last match (0: matched at this call) */
};

struct tracker;

/* A tracker with parameters p (copied; checked with track_params_check).
 * 0, or -1 with msg (bad parameters, out of memory); *t is NULL on error.
 * Free with track_free. */
int track_create(struct tracker **t, const struct track_params *p, char *msg, size_t len);
/* Accepts NULL and *t == NULL; sets *t to NULL. */
void track_free(struct tracker **t);

/*
 * One frame with detections: every track advances one frame, then ByteTrack's
 * associations (the comment at the top of track/bytetrack.c). dets may be NULL
 * when n == 0 (a frame where nothing was detected). On success returns the
 * number of live tracks and points *out at them (tentative, tracked and lost,
 * in the order they started); the array is the tracker's and stays valid until
 * the next call on t. -1 only when out of memory (msg says so; the tracker is
 * unchanged: the frame did not happen). The first frame's tracks start confirmed.
 * After warm-up this allocates nothing unless the number of tracks or
 * detections grows past what was seen.
 */
int track_update(struct tracker *t, const struct track_det *dets, int n,
                 const struct track_out **out, char *msg, size_t len);

/*
 * One frame without detections (a frame the detector skipped, --stride N):
 * every track advances one frame along its velocity; states and identities do
 * not change, nothing is removed (that is decided at the next track_update).
 * Returns the number of confirmed tracks (tracked or lost) and points *out at
 * them, boxes predicted; valid until the next call on t. Never fails.
 */
int track_predict(struct tracker *t, const struct track_out **out);

/* Frames seen so far (calls of track_update and track_predict). */
long track_frames(const struct tracker *t);

/* ---- count lines -------------------------------------------------------------- */

/*
 * A count line is the segment from (x1, y1) to (x2, y2). A track crosses it
 * when the bottom-centre point of its box ((x1 + x2) / 2, y2: where an object
 * stands) moves from one side to the other through the segment itself (not
 * beside its ends). The sides are named after the segment's direction as drawn
 * on the screen (y down), walking from (x1, y1) to (x2, y2): for a horizontal
 * line drawn left to right, left is above and right is below, so
 * TRACK_CROSS_LEFT_TO_RIGHT counts objects moving down.
 *
 * Hysteresis: a point within `band` pixels of the segment's line is on neither
 * side. A track changes side only when observed at least band pixels on the
 * other side; the crossing counts if the straight path from its last point
 * firmly on the old side to that point cuts the segment. A track jittering on
 * the line counts nothing, one that crosses counts once per crossing.
 * Only observations count: confirmed tracks matched at this frame
 * (id >= 1, since_match == 0); predicted boxes move nothing.
 */
enum track_cross {
    TRACK_CROSS_LEFT_TO_RIGHT = 0,
    TRACK_CROSS_RIGHT_TO_LEFT = 1,
};

struct track_line;

/* 0, or -1 with msg: a segment shorter than 1 pixel, a non-finite coordinate, a
 * band outside [0, 1000] pixels, out of memory. Free with track_line_free. */
int track_line_create(struct track_line **l, float x1, float y1, float x2, float y2,
                      float band, char *msg, size_t len);
void track_line_free(struct track_line **l);
/*
 * Feed one frame's tracks (what track_update returned; tracks absent from the
 * list are forgotten). Returns the crossings counted at this frame (>= 0), or
 * -1 with msg when out of memory. Allocates only when a new track or a new
 * label needs more room than ever before.
 */
int track_line_update(struct track_line *l, const struct track_out *tracks, int n,
                      char *msg, size_t len);
/* Crossings so far in direction dir by tracks of class label; label < 0: all. */
long track_line_count(const struct track_line *l, int label, enum track_cross dir);

/* ---- MOT metrics -------------------------------------------------------------- */

/* One object of one frame for the metrics and the MOTChallenge files. */
struct track_mot_obj {
    int id;          /* identity (ground truth or hypothesis), unique in its frame */
    float box[4];    /* x1, y1, x2, y2 */
    float score;     /* the file's conf/score column (1 when absent) */
    int label;       /* the file's class column (-1 when absent) */
    float visibility;/* the file's visibility column (-1 when absent) */
};

/*
 * CLEAR MOT and the identity scores as py-motmetrics computes them with an IoU
 * distance (1 - IoU) and max_iou = 0.5: a ground-truth object and a hypothesis
 * may correspond when IoU >= 0.5.
 */
struct track_mot_result {
    long frames;          /* frames fed */
    long num_objects;     /* ground-truth boxes, all frames (GT) */
    long num_predictions; /* hypothesis boxes, all frames */
    long num_matches;     /* correspondences that kept or began an identity */
    long num_switches;    /* IDSW: a ground truth matched to another hypothesis than
                             the one it was last matched to */
    long num_misses;      /* FN */
    long num_false_positives;  /* FP */
    long num_fragmentations;   /* times a ground truth's matched run was interrupted
                                  by misses and resumed */
    long num_unique_objects;   /* ground-truth identities */
    long mostly_tracked;  /* identities matched in >= 80% of their frames */
    long partially_tracked;
    long mostly_lost;     /* matched in < 20% of their frames */
    double mota;          /* 1 - (FN + FP + IDSW) / GT; NaN when GT == 0 */
    double motp;          /* py-motmetrics' MOTP: mean distance 1 - IoU of the
                             matches and switches (0 is perfect); NaN without any */
    long idtp, idfp, idfn;/* identity true positives, false positives, false negatives
                             under the best one-to-one map of GT and hypothesis ids */
    double idp, idr, idf1;/* IDTP/(IDTP+IDFP), IDTP/(IDTP+IDFN), 2 IDTP/(2 IDTP+IDFP+IDFN) */
};

struct track_mot;

/* 0, or -1 with msg (out of memory). Free with track_mot_free. */
int track_mot_create(struct track_mot **m, char *msg, size_t len);
void track_mot_free(struct track_mot **m);
/* Feed one frame: ground truth gt[ngt] and hypotheses hyp[nhyp] (either may be
 * NULL when its count is 0). 0, or -1 with msg: an id repeated within the
 * frame, a non-finite box, out of memory (the frame is then not counted). */
int track_mot_frame(struct track_mot *m, const struct track_mot_obj *gt, int ngt,
                    const struct track_mot_obj *hyp, int nhyp, char *msg, size_t len);
/* The metrics over the frames fed so far (IDF1 solves the global assignment
 * here). 0, or -1 with msg when out of memory. */
int track_mot_result(struct track_mot *m, struct track_mot_result *r, char *msg, size_t len);
/*
 * MOTChallenge's preprocessing of one frame: gt holds every ground-truth row,
 * those with score 0 being ignore regions (objects too hidden to demand, or
 * not to be tracked). A hypothesis that covers one is neither a hit nor a
 * false positive: the hypotheses matched to an ignore region by the optimal
 * assignment over all of gt (IoU >= 0.5) are removed from hyp, which is
 * compacted in place (order kept). Returns the new count, or -1 with msg
 * when out of memory. The caller then scores the frame with the rows of
 * score != 0 only.
 */
int track_mot_drop_ignored(const struct track_mot_obj *gt, int ngt, struct track_mot_obj *hyp,
                           int nhyp, char *msg, size_t len);

/* ---- MOTChallenge files -------------------------------------------------------- */

/*
 * A MOTChallenge text file read whole: rows grouped by frame. Frame f
 * (1-based) holds objs[first[f] .. first[f + 1]); first has nframes + 2 entries.
 * Owned by the caller; free with track_mot_seq_free.
 */
struct track_mot_seq {
    int nframes;                 /* largest frame number in the file (0 when empty) */
    int *first;
    struct track_mot_obj *objs;  /* boxes as x1, y1, x2, y2 */
    int count;                   /* rows kept */
    int skipped;                 /* ground-truth rows with conf 0 left out */
};

enum track_mot_kind {
    TRACK_MOT_RESULTS,  /* frame,id,x,y,w,h,score[,x,y,z]: a tracker's output */
    TRACK_MOT_GT,       /* frame,id,x,y,w,h,conf,class,visibility: rows with
                           conf 0 are ignored, as MOTChallenge's evaluation does */
    TRACK_MOT_GT_ALL,   /* the same, keeping conf-0 rows (score 0): the ignore
                           regions, for track_mot_drop_ignored */
};

/*
 * Read path. Rows may come in any order; blank lines are skipped. Each row
 * needs at least frame,id,x,y,w,h and at most 10 fields, all finite numbers
 * (frame an integer in [1, 1e7], id an integer, the others within +-1e9, w and
 * h >= 0), in at most 1024 characters. 0, or -1 with msg naming the
 * file and line ("gt.txt:12: field 5 (w): 'abc' is not a number"); seq is then
 * empty. Never crashes on any content.
 */
int track_mot_read(const char *path, enum track_mot_kind kind, struct track_mot_seq *seq,
                   char *msg, size_t len);
/* Accepts an empty (zeroed or freed) seq; leaves it zeroed. */
void track_mot_seq_free(struct track_mot_seq *seq);

/* One line "frame,id,x,y,w,h,score,-1,-1,-1" (frame 1-based, box as left, top,
 * width, height). 0, or -1 when the stream reports an error (errno set). */
int track_mot_write_line(FILE *f, int frame, int id, const float box[4], float score);
/* The tracks a MOTChallenge result lists for a frame (ByteTrack's output): the
 * confirmed ones matched at this frame (id >= 1, since_match == 0). 0 or -1 as
 * track_mot_write_line. */
int track_mot_write(FILE *f, int frame, const struct track_out *tracks, int n);

#endif
