/*
 * count_line.c — count lines: how many tracks crossed a segment, per
 * direction and class (the rules are in track.h, above enum track_cross).
 *
 * Per track we keep only its firm side (-1 left, +1 right, 0 not known yet)
 * and the last point it was observed at firmly on that side (the anchor). A
 * side change is a crossing of the segment when the straight path from the
 * anchor to the new point cuts the segment between its ends. The band of
 * `band` pixels around the line is the hysteresis: points inside it change
 * nothing, so a box whose foot wobbles on the line cannot count again and
 * again, and a foot that dips into the band and goes back counts nothing.
 *
 * Tracks are kept sorted by id (ids only grow, so a new one is appended) and
 * forgotten when an update no longer lists them; counts per label live in an
 * array indexed by label, grown when a larger label first crosses.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct line_trk {
    int id;
    int side;          /* -1, 0, +1 */
    double ax, ay;     /* anchor: last point firmly on `side` */
    long stamp;        /* last update that listed the track */
};

struct track_line {
    double x1, y1, dx, dy, len;  /* start point, direction, length */
    double band;
    long stamp;
    struct line_trk *e;          /* ne tracks, sorted by id */
    int ne, cap_e;
    long *counts;                /* [label * 2 + dir], for labels below cap_counts / 2 */
    int cap_counts;
    long total[2];               /* every label, negative ones included */
};

int track_line_create(struct track_line **lp, float x1, float y1, float x2, float y2,
                      float band, char *msg, size_t len)
{
    BASE_ASSERT(lp);
    *lp = NULL;
    if (!isfinite(x1) || !isfinite(y1) || !isfinite(x2) || !isfinite(y2))
        return base_err(msg, len, "track: count line: coordinates must be finite numbers");
    double dx = (double)x2 - x1, dy = (double)y2 - y1, l = hypot(dx, dy);
    if (!(l >= 1))
        return base_err(msg, len, "track: count line (%g,%g)-(%g,%g) is shorter than 1 pixel",
                        x1, y1, x2, y2);
    if (!(band >= 0 && band <= 1000))
        return base_err(msg, len, "track: count line band %g is not in [0, 1000] pixels", band);
    struct track_line *c = calloc(1, sizeof *c);
    if (!c) return base_err(msg, len, "track: out of memory");
    c->x1 = x1, c->y1 = y1, c->dx = dx, c->dy = dy, c->len = l, c->band = band;
    *lp = c;
    return 0;
}

void track_line_free(struct track_line **lp)
{
    if (!lp || !*lp) return;
    free((*lp)->e);
    free((*lp)->counts);
    free(*lp);
    *lp = NULL;
}

/* Signed distance of (x, y) to the line, positive on the right (screen, y down). */
static double side_dist(const struct track_line *c, double x, double y)
{
    return (c->dx * (y - c->y1) - c->dy * (x - c->x1)) / c->len;
}

static int firm_side(const struct track_line *c, double d)
{
    if (d > 0 && d >= c->band) return 1;
    if (d < 0 && -d >= c->band) return -1;
    return 0;
}

/* The path (ax, ay) -> (bx, by), whose ends lie strictly on opposite sides of
 * the line (signed distances da, db), meets the line within the segment. */
static int cuts_segment(const struct track_line *c, double ax, double ay, double da,
                        double bx, double by, double db)
{
    double t = da / (da - db);
    double x = ax + t * (bx - ax), y = ay + t * (by - ay);
    double u = ((x - c->x1) * c->dx + (y - c->y1) * c->dy) / (c->len * c->len);
    return u >= 0 && u <= 1;
}

/* The entry of id, inserted (side unknown) when new; NULL when out of memory. */
static struct line_trk *lookup(struct track_line *c, int id)
{
    int lo = 0, hi = c->ne;
    if (c->ne && c->e[c->ne - 1].id < id) lo = c->ne;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (c->e[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    if (lo < c->ne && c->e[lo].id == id) return &c->e[lo];
    if (base_grow((void **)&c->e, &c->cap_e, c->ne + 1, sizeof *c->e) < 0) return NULL;
    memmove(&c->e[lo + 1], &c->e[lo], (size_t)(c->ne - lo) * sizeof *c->e);
    c->ne++;
    c->e[lo] = (struct line_trk){ .id = id };
    return &c->e[lo];
}

static int count(struct track_line *c, int label, int dir)
{
    if (label >= 0 && 2 * (long)label + 1 >= c->cap_counts) {
        int old = c->cap_counts;
        if (label > (1 << 24) ||
            base_grow((void **)&c->counts, &c->cap_counts, 2 * (label + 1), sizeof *c->counts) < 0)
            return -1;
        memset(c->counts + old, 0, (size_t)(c->cap_counts - old) * sizeof *c->counts);
    }
    c->total[dir]++;
    if (label >= 0) c->counts[(size_t)label * 2 + dir]++;
    return 0;
}

int track_line_update(struct track_line *c, const struct track_out *tracks, int n,
                      char *msg, size_t len)
{
    BASE_ASSERT(c && n >= 0 && (tracks || n == 0));
    c->stamp++;
    int crossings = 0;
    for (int i = 0; i < n; i++) {
        const struct track_out *t = &tracks[i];
        if (t->id < 1) continue;
        struct line_trk *e = lookup(c, t->id);
        if (!e) return base_err(msg, len, "track: out of memory (count line)");
        e->stamp = c->stamp;
        if (t->since_match != 0) continue;
        double x = ((double)t->box[0] + t->box[2]) / 2, y = t->box[3];
        if (!isfinite(x) || !isfinite(y)) continue;
        double d = side_dist(c, x, y);
        int s = firm_side(c, d);
        if (s == 0) continue;
        if (e->side == -s) {
            double da = side_dist(c, e->ax, e->ay);
            if (cuts_segment(c, e->ax, e->ay, da, x, y, d)) {
                int dir = e->side < 0 ? TRACK_CROSS_LEFT_TO_RIGHT : TRACK_CROSS_RIGHT_TO_LEFT;
                if (count(c, t->label, dir) < 0)
                    return base_err(msg, len, "track: out of memory (count line)");
                crossings++;
            }
        }
        e->side = s;
        e->ax = x, e->ay = y;
    }
    int keep = 0;
    for (int i = 0; i < c->ne; i++)
        if (c->e[i].stamp == c->stamp) c->e[keep++] = c->e[i];
    c->ne = keep;
    return crossings;
}

long track_line_count(const struct track_line *c, int label, enum track_cross dir)
{
    BASE_ASSERT(dir == TRACK_CROSS_LEFT_TO_RIGHT || dir == TRACK_CROSS_RIGHT_TO_LEFT);
    if (label < 0) return c->total[dir];
    return 2 * (long)label + 1 < c->cap_counts ? c->counts[(size_t)label * 2 + dir] : 0;
}
