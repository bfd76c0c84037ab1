/*
 * polygon.c — polygons in full-frame pixels: the "NAME=x1,y1,..." parser of
 * zones and masks, the point-in-polygon test (even-odd, closed: the boundary
 * is inside), the check of a polygon handed in by a caller, and object masks
 * (a detection whose standing point is inside a mask is dropped).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

int motion_polygon_parse(struct motion_polygon *poly, const char *spec, char *msg, size_t len)
{
    const char *eq = spec ? strchr(spec, '=') : NULL;
    if (!eq)
        return base_err(msg, len, "motion: '%.60s' is not NAME=x1,y1,x2,y2,...", spec ? spec : "");
    size_t nl = (size_t)(eq - spec);
    int ok = nl >= 1 && nl <= MOTION_NAME_MAX;
    for (size_t i = 0; ok && i < nl; i++) ok = name_char(spec[i]);
    if (!ok)
        return base_err(msg, len,
                        "motion: zone name '%.*s': 1 to %d letters, digits, '_' or '-' wanted",
                        (int)(nl > 40 ? 40 : nl), spec, MOTION_NAME_MAX);
    struct motion_polygon p;
    memset(&p, 0, sizeof p);
    memcpy(p.name, spec, nl);
    int count = 0;  /* numbers read */
    const char *s = eq + 1;
    for (;;) {
        const char *item = s;
        const char *comma = strchr(s, ',');
        size_t il = comma ? (size_t)(comma - s) : strlen(s);
        char *end;
        errno = 0;
        double v = strtod(item, &end);
        const char *rest = end;
        while (rest < item + il && (*rest == ' ' || *rest == '\t')) rest++;
        if (end == item || rest != item + il || errno == ERANGE || !isfinite(v) ||
            fabs(v) > 1e7)
            return base_err(msg, len,
                            "motion: zone '%s': number %d ('%.*s') is not a finite number "
                            "within +-1e7",
                            p.name, count + 1, (int)(il > 30 ? 30 : il), item);
        if (count >= 2 * MOTION_MAX_VERTICES)
            return base_err(msg, len, "motion: zone '%s': more than %d points", p.name,
                            MOTION_MAX_VERTICES);
        if (count % 2 == 0) p.x[count / 2] = (float)v;
        else p.y[count / 2] = (float)v;
        count++;
        if (!comma) break;
        s = comma + 1;
    }
    if (count % 2)
        return base_err(msg, len, "motion: zone '%s': %d numbers: x,y pairs wanted", p.name,
                        count);
    if (count / 2 < 3)
        return base_err(msg, len, "motion: zone '%s': %d points (at least 3)", p.name,
                        count / 2);
    p.n = count / 2;
    *poly = p;
    return 0;
}

int motion_polygon_check(const struct motion_polygon *poly, const char *what, char *msg,
                         size_t len)
{
    if (poly->n < 3 || poly->n > MOTION_MAX_VERTICES)
        return base_err(msg, len, "motion: %s: %d vertices (3 to %d wanted)", what, poly->n,
                        MOTION_MAX_VERTICES);
    for (int i = 0; i < poly->n; i++)
        if (!isfinite(poly->x[i]) || !isfinite(poly->y[i]))
            return base_err(msg, len, "motion: %s: vertex %d is not finite", what, i + 1);
    return 0;
}

int motion_point_in_polygon(const struct motion_polygon *poly, float x, float y)
{
    BASE_ASSERT(poly->n >= 3 && poly->n <= MOTION_MAX_VERTICES);
    const double px = x, py = y;
    int inside = 0;
    for (int i = 0, j = poly->n - 1; i < poly->n; j = i++) {
        const double xi = poly->x[i], yi = poly->y[i], xj = poly->x[j], yj = poly->y[j];
        /* on the edge: collinear (the cross product is exactly 0) and within its box */
        double cross = (xj - xi) * (py - yi) - (yj - yi) * (px - xi);
        if (cross == 0 && px >= fmin(xi, xj) && px <= fmax(xi, xj) && py >= fmin(yi, yj) &&
            py <= fmax(yi, yj))
            return 1;
        /* even-odd: a ray to +x crosses the edge; the half-open rule (yi > py) !=
         * (yj > py) counts a vertex on the ray once, and a horizontal edge never */
        if ((yi > py) != (yj > py)) {
            /* the crossing's x is right of px exactly when cross has the sign of
             * (yj - yi): no division, so no rounding in the comparison */
            if (yj > yi ? cross > 0 : cross < 0) inside = !inside;
        }
    }
    return inside;
}

int motion_mask_filter(const struct motion_polygon *masks, int nmasks, struct motion_det *d,
                       int n)
{
    BASE_ASSERT(nmasks >= 0 && n >= 0);
    int k = 0;
    for (int i = 0; i < n; i++) {
        float bx = 0.5f * (d[i].box[0] + d[i].box[2]), by = d[i].box[3];
        int drop = 0;
        for (int m = 0; m < nmasks && !drop; m++) drop = motion_point_in_polygon(&masks[m], bx, by);
        if (!drop) d[k++] = d[i];
    }
    return k;
}
