/*
 * motion.h — the motion library, the one public header of motion/ (issue 16):
 * a motion detector on RGB24 frames (an adaptive background on a small grey
 * copy, after Frigate's), crop regions for the object detector built from
 * motion and from moving tracks, and named zones with entry/exit events and
 * object masks.
 *
 * motion/ knows no model, video, render, SDL, track or app: it takes plain
 * pixels (RGB24 rows) and plain boxes — x1, y1, x2, y2 as floats in full-frame
 * pixels (no "+1") — and counts frames by calls. It uses only the C library
 * and libm (and base/, which does too).
 *
 * Errors follow the project: fallible functions return 0 (or a count) or -1,
 * and write one line (no newline) into the caller's msg buffer, which may be
 * NULL. Nothing here prints or aborts on bad input; a broken invariant of this
 * code aborts with file:line.
 */
#ifndef VDETECT_MOTION_H
#define VDETECT_MOTION_H

#include <stddef.h>
#include <stdint.h>

/* ---- parameters --------------------------------------------------------------- */

/*
 * Every number of motion/, with its default. "Small scale" is the detector's
 * grey copy of the frame, frame_height rows high.
 */
struct motion_params {
    /* the detector */
    int frame_height;        /* 100: rows of the grey copy (the aspect is kept; a
                                frame lower than this is used at its own size) */
    int threshold;           /* 15: a small pixel moves when |grey - background| > this
                                (grey levels 0..255). Frigate uses 30 after stretching
                                the grey copy's contrast; without a stretch, 30 misses
                                low-contrast objects (a red shape on a warm wall, a
                                clear bottle), and the grey copy, an average of some
                                4x4 (360p) to 11x11 (1080p) pixels, has a fraction of
                                the sensor's noise */
    float alpha;             /* 0.01: background running average weight of a still pixel */
    float moving_alpha;      /* 0.0025: the same for a pixel that moves at this frame:
                                slower, so that an object passing by leaves no ghost,
                                yet one that stops is absorbed in a few hundred frames */
    int dilate;              /* 1: 3x3 dilations joining fragments before labelling */
    int min_area;            /* 10: fewest moving small pixels (before dilation) of a
                                motion box */
    float recal_share;       /* 0.8: when more than this share of the unmasked small
                                pixels move at once, the frame reports no motion and the
                                background restarts from it (lights, camera moved) */
    /* regions (motion_regions) */
    int region_margin;       /* 20: full-frame pixels added on each side of a box */
    int region_min_w;        /* 320: a region is enlarged to at least this width ... */
    int region_min_h;        /* 320: ... and height (e.g. the model's input; within the
                                frame; 0: no minimum) */
    float full_frame_share;  /* 0.6: regions covering more than this share of the frame
                                become the full frame */
    float dedup_iou;         /* 0.5: motion_dedup merges same-label boxes of IoU >= this */
    /* zones (motion_zones_update) */
    int zone_frames_in;      /* 1: consecutive updates inside a zone to enter it */
    int zone_frames_out;     /* 1: consecutive updates outside it to leave it */
};

/* The defaults above. */
void motion_params_default(struct motion_params *p);
/* Apply one "NAME=VALUE" override. 0, or -1 with one line in msg naming the
 * parameter, the value and the accepted range, e.g. "motion: threshold: '300'
 * is not an integer in [1, 254]"; an unknown name lists the known ones. p is
 * unchanged on error. */
int motion_param_set(struct motion_params *p, const char *assignment, char *msg, size_t len);
/* Check every parameter's range. 0 or -1 + msg. */
int motion_params_check(const struct motion_params *p, char *msg, size_t len);

/* ---- polygons ------------------------------------------------------------------- */

#define MOTION_MAX_VERTICES 32
#define MOTION_MAX_ZONES 16   /* zones of one motion_zones, masks of one detector */
#define MOTION_NAME_MAX 32

/* A named polygon in full-frame pixels (a zone, a motion mask or an object mask).
 * Plain data: 3 <= n <= MOTION_MAX_VERTICES, every coordinate finite. */
struct motion_polygon {
    char name[MOTION_NAME_MAX + 1];  /* [A-Za-z0-9_-], 1..32 characters ("" for a mask
                                        not made by the parser) */
    int n;                           /* vertices */
    float x[MOTION_MAX_VERTICES], y[MOTION_MAX_VERTICES];
};

/*
 * Parse "NAME=x1,y1,x2,y2,..." (at least 3 points, at most 32; finite numbers;
 * blanks around numbers allowed). 0, or -1 with msg saying what is wrong and
 * where, e.g. "motion: zone 'door': 5 numbers: x,y pairs wanted". *poly is
 * unchanged on error.
 */
int motion_polygon_parse(struct motion_polygon *poly, const char *spec, char *msg, size_t len);

/*
 * 1 when (x, y) is inside poly, else 0: the even-odd rule (a self-crossing
 * polygon's doubly covered parts are outside). The polygon is closed: a point
 * exactly on an edge or a vertex counts as inside, whatever the edge's
 * direction, so two zones sharing an edge both contain the points on it.
 * "Exactly" is exact arithmetic: the test is done in double, exact for
 * coordinates that are multiples of 1/16 below 2^20 in magnitude (any pixel
 * coordinate in practice); beyond that, to double's rounding.
 */
int motion_point_in_polygon(const struct motion_polygon *poly, float x, float y);

/* ---- the motion detector ---------------------------------------------------------- */

/* One region of motion. */
struct motion_box {
    float box[4];   /* x1, y1, x2, y2 in full-frame pixels: the moving small pixels'
                       bounding box scaled up (a multiple of the small pixel's size) */
    int area;       /* its moving small pixels */
};

struct motion;

/* A detector with parameters p (copied; checked). 0, or -1 with msg (bad
 * parameters, out of memory); *m is NULL on error. Free with motion_free. */
int motion_create(struct motion **m, const struct motion_params *p, char *msg, size_t len);
/* Accepts NULL and *m == NULL; sets *m to NULL. */
void motion_free(struct motion **m);

/*
 * Motion masks: pixels whose centre lies inside one of the n polygons (full-frame
 * coordinates; copied) never count as motion nor in recal_share (e.g. a clock
 * overlay). Replaces the earlier masks; n == 0 removes them. 0, or -1 with msg
 * (n above MOTION_MAX_ZONES, a malformed polygon). Allocates nothing.
 */
int motion_set_masks(struct motion *m, const struct motion_polygon *masks, int n,
                     char *msg, size_t len);

/*
 * One frame: rgb is h rows of w RGB24 pixels, stride bytes apart (stride >= 3w).
 * Returns the number of motion boxes and points *boxes at them (raster order of
 * their first pixel); the array is the detector's and stays valid until the next
 * call on m (*boxes is NULL only on error). The first frame only initialises the
 * background and reports none.
 * -1 with msg: w or h below 1 or above 16384, a short stride, out of memory.
 *
 * Buffers are allocated at the first frame; later frames of the same size
 * allocate nothing. A frame of another size starts over: the buffers are made
 * for it and it is treated as a first frame (the stream's resolution changed).
 */
int motion_detect(struct motion *m, const uint8_t *rgb, int w, int h, int stride,
                  const struct motion_box **boxes, char *msg, size_t len);

/* What the detector has done, for the run report. */
struct motion_stats {
    long frames;           /* calls of motion_detect that succeeded */
    long recalibrations;   /* frames that reset the background (recal_share) */
    long restarts;         /* first frames, including size changes */
    int small_w, small_h;  /* size of the grey copy (0 before the first frame) */
};
void motion_get_stats(const struct motion *m, struct motion_stats *s);

/* ---- crop regions ------------------------------------------------------------------ */

/* A crop of the frame, in whole pixels: columns x .. x + w - 1, rows y .. y + h - 1. */
struct motion_region {
    int x, y, w, h;
};

/*
 * Crop regions for the detector from na boxes a (e.g. motion boxes' .box) and nb
 * boxes b (e.g. moving tracks); either may be NULL when its count is 0. Each
 * valid box (finite, x2 > x1, y2 > y1, overlapping the frame) is padded by
 * region_margin, clipped to the frame, enlarged about its centre to
 * region_min_w x region_min_h (shifted to stay inside; at most the frame), and
 * regions that overlap (share a pixel) are replaced by their bounding box until
 * none do. When their total area exceeds full_frame_share of the frame, the
 * result is one region, the full frame, and *full_frame is 1 (else 0).
 * Returns the number of regions written to out (0: no motion, nothing to
 * detect), or -1 with msg when cap is below na + nb (or below 1) or the frame
 * size is below 1. Allocates nothing.
 */
int motion_regions(const struct motion_params *p, int frame_w, int frame_h,
                   const float (*a)[4], int na, const float (*b)[4], int nb,
                   struct motion_region *out, int cap, int *full_frame,
                   char *msg, size_t len);

/* A detection, in the detector's terms. */
struct motion_det {
    float box[4];   /* x1, y1, x2, y2 */
    float score;
    int label;
};

/* Move n boxes detected in the crop r (coordinates relative to the crop's
 * top-left corner, crop pixels) to frame coordinates. */
void motion_map_back(const struct motion_region *r, struct motion_det *d, int n);

/*
 * Detections of overlapping regions, merged: of boxes with the same label and
 * IoU >= dedup_iou, the higher-scoring one is kept (greedy, from the highest
 * score; equal scores: the earlier one). In place; the survivors come in
 * decreasing score order (equal scores in their given order). Returns how many
 * remain. Allocates nothing.
 */
int motion_dedup(const struct motion_params *p, struct motion_det *d, int n);

/* ---- zones and object masks --------------------------------------------------------- */

/*
 * Object masks: drops the detections whose bottom-centre point ((x1 + x2) / 2,
 * y2: where an object stands) is inside one of the masks (edges count as inside).
 * In place, order kept; returns how many remain.
 */
int motion_mask_filter(const struct motion_polygon *masks, int nmasks, struct motion_det *d, int n);

/* A tracked object as the zones see it. */
struct motion_object {
    int id;         /* the tracker's identity (distinct within one update) */
    float box[4];   /* x1, y1, x2, y2 */
};

enum motion_zone_kind {
    MOTION_ZONE_ENTER,
    MOTION_ZONE_EXIT,
};

struct motion_zone_event {
    int zone;                     /* index into the zones given at create */
    int id;                       /* the object's id */
    enum motion_zone_kind kind;
};

struct motion_zones;

/* Zones (copied; n <= MOTION_MAX_ZONES) with the zone_* parameters of p.
 * 0 or -1 with msg (bad polygon or parameters, out of memory). */
int motion_zones_create(struct motion_zones **z, const struct motion_polygon *zones, int n,
                        const struct motion_params *p, char *msg, size_t len);
void motion_zones_free(struct motion_zones **z);

/*
 * One update with the n objects present now (obj may be NULL when n == 0).
 * An object is in a zone by its box's bottom-centre point. Hysteresis: an
 * object outside a zone enters it after zone_frames_in consecutive updates with
 * the point inside, and one inside leaves after zone_frames_out consecutive
 * updates outside; a new object starts outside every zone (with frames_in = 1 it
 * enters at its first update). An object absent from an update is forgotten: it
 * exits every zone it was in at once (the tracker dropped it).
 * Returns the number of events and points *events at them (exits of vanished
 * objects first, then per object in the given order, zones in index order);
 * valid until the next call on z. -1 with msg: a repeated id, out of memory (the
 * zones are unchanged). Allocates only when the number of objects grows past
 * what was seen.
 */
int motion_zones_update(struct motion_zones *z, const struct motion_object *obj, int n,
                        const struct motion_zone_event **events, char *msg, size_t len);

/* Counts of zone i: objects inside now, entries and exits so far. */
void motion_zones_counts(const struct motion_zones *z, int zone, int *inside, long *entries,
                         long *exits);
/* Bit i set when the object id is inside zone i now (0 for an unknown id). */
unsigned motion_zones_of(const struct motion_zones *z, int id);

#endif
