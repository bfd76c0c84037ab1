/*
 * internal.h — private to track/ (and its tests): box geometry, the Kalman
 * filter (kalman.c) and the optimal assignment (assign.c) the tracker and the
 * metrics share, and base/'s assert, messages and array growth for every file
 * of track/. Nothing outside track/ includes this.
 */
#ifndef VDETECT_TRACK_INTERNAL_H
#define VDETECT_TRACK_INTERNAL_H

#include <stddef.h>

#include "../base/base.h"
#include "track.h"

/* Intersection over union of two x1, y1, x2, y2 boxes; 0 when either is empty. */
static inline double track_iou(const float *a, const float *b)
{
    /* disjoint boxes (most pairs) leave after float comparisons, which are
     * exact; the arithmetic is in double, where huge boxes cannot overflow */
    float l = a[0] > b[0] ? a[0] : b[0], r = a[2] < b[2] ? a[2] : b[2];
    if (!(r > l)) return 0;
    float t = a[1] > b[1] ? a[1] : b[1], btm = a[3] < b[3] ? a[3] : b[3];
    if (!(btm > t)) return 0;
    double inter = ((double)r - l) * ((double)btm - t);
    double ua = ((double)a[2] - a[0]) * ((double)a[3] - a[1]) +
                ((double)b[2] - b[0]) * ((double)b[3] - b[1]) - inter;
    return ua > 0 ? inter / ua : 0;
}

/* ---- kalman.c ------------------------------------------------------------------ */

/*
 * ByteTrack's constant-velocity filter on z = (cx, cy, a, h) — box centre,
 * aspect w/h, height — with their velocities. Because its motion matrix,
 * process noise, measurement noise and initial covariance all act on each
 * coordinate and its own velocity only, the 8-state filter is exactly four
 * 2-state filters (the proof is at the top of kalman.c); d[k] is coordinate k.
 */
struct kalman_1d {
    double x, v;           /* position and velocity (per frame) */
    double pxx, pxv, pvv;  /* covariance of (x, v) */
};
struct kalman {
    struct kalman_1d d[4]; /* cx, cy, a, h */
};

/* Start at measurement z (cx, cy, a, h) with zero velocity. */
void kalman_init(struct kalman *k, const double z[4], double std_pos, double std_vel);
/* Advance one frame. */
void kalman_predict(struct kalman *k, double std_pos, double std_vel);
/* Correct with measurement z. */
void kalman_update(struct kalman *k, const double z[4], double std_pos);
/* Box x1, y1, x2, y2 <-> z = (cx, cy, a, h). */
void kalman_box(const struct kalman *k, float box[4]);
void kalman_measure(const float box[4], double z[4]);

/* ---- assign.c ------------------------------------------------------------------ */

/*
 * Optimal partial assignment of the rows of an n x m cost matrix to its
 * columns: pairs with cost <= thresh are feasible (larger, infinite or NaN
 * costs are not), and the chosen pairs minimise the sum of (cost - thresh) —
 * what lapjv with extend_cost and cost_limit = thresh (ByteTrack's
 * linear_assignment) optimises. With thresh far above every feasible cost this
 * maximises the number of pairs first and then minimises their cost (scipy's
 * linear_sum_assignment on a matrix with infeasible entries, py-motmetrics).
 *
 * The workspace grows to the largest problem seen and is reused; zero it
 * before first use, free with assign_free.
 */
struct assign {
    int cap_nm, cap_k;        /* capacities of the n*m and n+m sized arrays */
    int *parent;              /* n + m: union-find over rows (0..n-1) and columns */
    int *head, *next;         /* n + m: each component's nodes as a linked list */
    int *comp_rows, *comp_cols; /* n, m: one component's rows and columns */
    double *sub;              /* the component's cost matrix, rows x cols */
    double *u, *v, *minv;     /* Hungarian potentials and slack, k + 1 */
    int *p, *way;             /* column -> row, augmenting path, k + 1 */
    unsigned char *used;      /* k + 1 */
};

/*
 * cost is row-major n x m (n, m >= 0). Fills row_to_col[n] (-1 unmatched) and,
 * when not NULL, col_to_row[m]. Returns the number of pairs, or -1 when out of
 * memory (msg).
 */
int assign_solve(struct assign *a, const double *cost, int n, int m, double thresh,
                 int *row_to_col, int *col_to_row, char *msg, size_t len);
/* Grow the workspace for an n x m problem now, so that assign_solve on any
 * problem up to that size cannot fail. 0 or -1 (out of memory). */
int assign_reserve(struct assign *a, int n, int m);
void assign_free(struct assign *a);

#endif
