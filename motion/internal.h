/*
 * internal.h — private to motion/ (and its tests): the always-on assert, the
 * message helper, array growth, connected-component labelling (label.c) and
 * polygon checks shared by the detector's masks and the zones. Nothing outside
 * motion/ includes this.
 */
#ifndef VDETECT_MOTION_INTERNAL_H
#define VDETECT_MOTION_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "motion.h"

/* Always-on invariant check (bugs assert, the world returns errors). */
#define MOTION_ASSERT(c)                                                                  \
    do {                                                                                  \
        if (!(c))                                                                         \
            motion_assert_fail(__FILE__, __LINE__, #c);                                   \
    } while (0)
_Noreturn void motion_assert_fail(const char *file, int line, const char *cond);

/* printf into msg (when msg is not NULL) and return -1. */
int motion_err(char *msg, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Grow *p (an array of elem-byte items, *cap of them) to hold at least need,
 * doubling; 0, or -1 when out of memory (*p and *cap unchanged). */
int motion_grow(void **p, int *cap, int need, size_t elem);

/* 0 when poly is well formed (3..MOTION_MAX_VERTICES finite vertices), else -1 +
 * msg naming what (the "what" string, e.g. "mask 2"). */
int motion_polygon_check(const struct motion_polygon *poly, const char *what, char *msg,
                         size_t len);

/* ---- label.c ------------------------------------------------------------------- */

/* One 8-connected component: the bounding box and count of its "core" pixels. */
struct motion_comp {
    int x1, y1, x2, y2;   /* inclusive, small pixels */
    int area;             /* core pixels */
};

/*
 * Label the 8-connected components of the nonzero pixels of fg (w x h, row-major)
 * and measure each by the pixels of core (w x h; each core pixel must be in fg)
 * it holds. Workspace: labels[w * h], and parent and comps of
 * motion_label_cap(w, h) items (one per provisional label at most). Fills comps[0 .. k-1] in raster order of each component's
 * first pixel and returns k. Components without core pixels are not reported.
 * Allocates nothing.
 */
int motion_label(const uint8_t *fg, const uint8_t *core, int w, int h, int *labels,
                 int *parent, struct motion_comp *comps);
/* The workspace size motion_label needs for parent and comps. */
static inline size_t motion_label_cap(int w, int h)
{
    return (size_t)w * (size_t)h + 1;
}

#endif
