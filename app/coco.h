/*
 * coco.h — COCO-style detection accuracy, as pycocotools' COCOeval computes it
 * for iouType "bbox", area "all", maxDets 100 (what `vdetect eval` reports).
 *
 * Use:
 *   struct coco *c = coco_load_truth("instances.json");     (NULL: reported on stderr)
 *   for each image r in 0..coco_num_images(c)-1 (ascending image id):
 *       coco_add_detection(c, r, &det)                     (or coco_read_detections)
 *   coco_evaluate(c);                                      (AP per category)
 *   struct coco_summary s = coco_summary(c);               (means over categories)
 *   coco_free(c);
 *
 * Matching: per image and category the 100 best detections (by score; ties in
 * the order they were added) are matched greedily to the ground truth at each
 * IoU threshold .50:.05:.95; iscrowd boxes are ignored (never a miss) and absorb
 * matches without counting, with IoU against a crowd box taken over the
 * detection's area. Precision is made monotone and sampled at 101 recall points
 * 0, .01, ..., 1 (0 past the highest recall reached); a category's AP at a
 * threshold is the mean of those samples. Categories without (non-crowd)
 * ground truth get no AP and are left out of the means. There are no area
 * ranges (area "all" only).
 *
 * Detections come from any of the files vdetect writes (docs/formats.md):
 * detect's JSON Lines (one object per image, "image" ending in a file_name of
 * the truth), annotate's JSON Lines (one object per frame, "frame" = the
 * frame index) and annotate's COCO results array ("image_id" = the frame
 * index). A frame index N stands for the truth image whose "frame" field is N
 * or, when no image of the truth has a "frame" field, whose file_name ends in
 * the number N ("frame_0042.png", "42.jpg": the last run of digits of the
 * name, as `ffmpeg -i clip.mp4 -start_number 0 frame_%04d.png` numbers them).
 *
 * Errors are printed on stderr, one line each, "vdetect eval: truth FILE: ",
 * "vdetect eval: detections FILE: " or "vdetect eval: coco FILE: " first (the
 * command's name from app_error()). A file of the wrong kind says what it
 * looks like and which option takes it.
 */
#ifndef VDETECT_APP_COCO_H
#define VDETECT_APP_COCO_H

#include <stddef.h>
#include <stdint.h>

#include "../model/model.h"

#define COCO_MAX_DETS 100   /* detections per image and category that count */
#define COCO_NT 10          /* IoU thresholds .50, .55, ..., .95: ap[0] is AP50, ap[5] AP75 */
#define COCO_NR 101         /* recall points of the interpolation */

struct coco;

struct coco_image {
    int64_t id;
    char *file;              /* file_name: relative, with no ".." component */
    int width, height;       /* 0 when the truth gives none (or a bad one) */
    int64_t frame;           /* the video frame it stands for (see the top): its "frame"
                                field, else the number in file_name; -1: none */
};

struct coco_category {
    int64_t id;
    char *name;              /* NULL when the truth gives none */
    int ngt;                 /* ground truth boxes that count (not iscrowd) */
    int ndet;                /* detections added (set by coco_evaluate) */
    int evaluated;           /* 1 unless coco_set_evaluated turned it off */
    double ap[COCO_NT];      /* by coco_evaluate; -1 when not evaluated or no ground truth */
};

struct coco_summary {
    double ap, ap50, ap75;   /* means over the categories with an AP; -1 when there are none */
    int ncat;                /* how many categories those are */
};

/* Reads a COCO instances file ("images" with integer "id" and "file_name",
 * "categories" with integer "id" and optional "name", "annotations" with
 * "image_id", "category_id", "bbox" [x, y, w, h] (finite, w and h >= 0) and
 * optional "iscrowd"). Refuses duplicate image or category ids, annotations of
 * unlisted images or categories, and a file_name that is absolute or has a
 * ".." component (it must stay inside the images directory). NULL on error. */
struct coco *coco_load_truth(const char *path);

/* The same from text[0..len); name is the file name used in messages. */
struct coco *coco_parse_truth(const char *text, size_t len, const char *name);

void coco_free(struct coco *c);

/* Images, indexed 0..n-1 in ascending id order (pycocotools' imgIds): the index
 * coco_add_detection takes. */
int coco_num_images(const struct coco *c);
const struct coco_image *coco_image(const struct coco *c, int index);

/* The image whose file_name is path or its trailing path components (the first
 * such in the file), as an index of coco_image; -1 when none. */
int coco_find_image(const struct coco *c, const char *path);

/* Categories, in the truth file's order. */
int coco_num_categories(const struct coco *c);
const struct coco_category *coco_category(const struct coco *c, int index);

/* Leaves a category out of the evaluation (and of coco_summary) when on is 0. */
void coco_set_evaluated(struct coco *c, int index, int on);

/* Adds a detection of image index (box x1, y1, x2, y2 in pixels; label is a
 * category id). Detections of one image and equal score rank in the order
 * added. 0 added, 1 not added (the label is no category of the truth), -1 out
 * of memory. */
int coco_add_detection(struct coco *c, int image, const struct model_detection *d);

/* Adds the detections of a JSON Lines file as `vdetect detect` or `vdetect
 * annotate --json` writes it: one object per line (blank lines skipped), all
 * with "image" (detect: a path ending in a file_name of the truth) or all with
 * "frame" (annotate: a frame index, mapped as described at the top; lines of
 * frames the truth has no image for are skipped, with a note), each image at
 * most once, and "detections" (an array of {"box": [x1, y1, x2, y2], "label":
 * L, "score": S}). annotate's "held" frames (--stride) are scored with the
 * detections they carry, as drawn. Labels that are no category are skipped.
 * A note says how many truth images had no line (their objects count as
 * missed). 0, or -1 with the line reported. */
int coco_read_detections(struct coco *c, const char *path);

/* The same from text[0..len); name is the file name used in messages. */
int coco_parse_detections(struct coco *c, const char *text, size_t len, const char *name);

/* Adds the detections of a COCO results file as `vdetect annotate --coco`
 * writes it: one JSON array of {"image_id": FRAME, "category_id": L, "bbox":
 * [x, y, w, h], "score": S}, image_id a frame index mapped to a truth image as
 * described at the top. Records of frames the truth has no image for, and of
 * categories it does not list, are skipped (a note says how many frames).
 * An array that lacks only its closing "]" (a killed annotate run) is refused
 * with that said. 0, or -1 with the problem reported. */
int coco_read_results(struct coco *c, const char *path);
int coco_parse_results(struct coco *c, const char *text, size_t len, const char *name);

/* The frame index's image (an index of coco_image), -1 when the truth has no
 * image for that frame, -2 when the truth cannot map frames at all (no image
 * has a frame number, or two have the same one: reported once, on stderr). */
int coco_find_frame(struct coco *c, int64_t frame);

/* What a file is, told from its text: for the "this looks like ..." hints. */
enum coco_kind {
    COCO_KIND_UNKNOWN,
    COCO_KIND_TRUTH,           /* an object with "images" / "annotations" */
    COCO_KIND_RESULTS,         /* a JSON array of {"image_id", ...} (annotate --coco) */
    COCO_KIND_DETECT_LINES,    /* JSON Lines with "image" (detect) */
    COCO_KIND_ANNOTATE_LINES,  /* JSON Lines with "frame" (annotate --json) */
    COCO_KIND_REPORT,          /* eval's own --json report */
};
enum coco_kind coco_sniff(const char *text, size_t len);
/* "this looks like annotate's JSON Lines (one object per frame): pass it with
 * --detections", or NULL for COCO_KIND_UNKNOWN. */
const char *coco_kind_hint(enum coco_kind k);

/* Matches and scores every category: fills each category's ndet and ap[].
 * Call once, after the last detection. 0, or -1 out of memory. */
int coco_evaluate(struct coco *c);

/* The means over the categories with an AP (coco_evaluate first). */
struct coco_summary coco_summary(const struct coco *c);

/* The mean of ap[0..COCO_NT): AP@[.5:.95] of one category. */
double coco_mean_ap(const double ap[COCO_NT]);

#endif
