/*
 * internal.h — private to motion/ (and its tests): connected-component
 * labelling (label.c) and the polygon check (polygon.c) shared by the
 * detector's masks and the zones, and base/'s assert, messages and array
 * growth for every file of motion/. Nothing outside motion/ includes this.
 */
#ifndef VDETECT_MOTION_INTERNAL_H
#define VDETECT_MOTION_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"
#include "motion.h"

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
