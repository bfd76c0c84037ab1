/*
 * assign.c — optimal assignment for the tracker's associations and the
 * metrics' matchings: the Hungarian method (Kuhn–Munkres with potentials and
 * shortest augmenting paths, O(k^3)) on rectangular matrices with infeasible
 * entries.
 *
 * Partial assignment as a square problem: a chosen feasible pair (i, j) is
 * worth w = cost - thresh <= 0 and leaving a row or column out is worth 0, so
 * giving every infeasible pair and every padding row or column the weight 0
 * turns it into a complete assignment on a k x k matrix whose optimum has the
 * same value; the zero-weight pairs it picks are dropped afterwards.
 *
 * Speed: rows and columns are first split into the connected components of
 * the feasible pairs (union-find), and each component is solved alone. In
 * tracking nearly every component is one track and one detection, so a frame
 * of 100 objects costs O(n m) for the scan instead of O((n + m)^3).
 */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

static int feasible(double c, double thresh) { return c <= thresh; } /* NaN: no */

static int find(int *parent, int x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

/* On failure the capacities stay (arrays already enlarged are kept, which is
 * harmless). */
int assign_reserve(struct assign *a, int n, int m)
{
    long long nm = (long long)n * m, k = (long long)n + m;
    if (nm > (1LL << 28)) return -1; /* 2 GB of doubles: refuse, don't overflow */
    if (nm > a->cap_nm) {
        long long c = a->cap_nm ? a->cap_nm : 256;
        while (c < nm) c *= 2;
        double *sub = realloc(a->sub, (size_t)c * sizeof *sub);
        if (!sub) return -1;
        a->sub = sub;
        a->cap_nm = (int)c;
    }
    if (k > a->cap_k) {
        long long c = a->cap_k ? a->cap_k : 64;
        while (c < k) c *= 2;
        size_t ni = (size_t)c + 1;
#define GROW(f)                                                              \
        do {                                                                 \
            void *q = realloc(a->f, ni * sizeof *a->f);                      \
            if (!q) return -1;                                               \
            a->f = q;                                                        \
        } while (0)
        GROW(parent); GROW(head); GROW(next); GROW(comp_rows); GROW(comp_cols);
        GROW(u); GROW(v); GROW(minv); GROW(p); GROW(way); GROW(used);
#undef GROW
        a->cap_k = (int)c;
    }
    return 0;
}

void assign_free(struct assign *a)
{
    if (!a) return;
    free(a->parent); free(a->head); free(a->next); free(a->comp_rows); free(a->comp_cols);
    free(a->sub); free(a->u); free(a->v); free(a->minv); free(a->p); free(a->way);
    free(a->used);
    *a = (struct assign){ 0 };
}

/* Minimum-cost complete assignment of the k x k matrix that is sub (r x c,
 * row-major) padded with zeros. Leaves a->p[j] = row (1-based) of column j. */
static void hungarian(struct assign *a, int r, int c)
{
    int k = r > c ? r : c;
    const double *w = a->sub;
    double *u = a->u, *v = a->v, *minv = a->minv;
    int *p = a->p, *way = a->way;
    for (int j = 0; j <= k; j++) u[j] = v[j] = 0, p[j] = 0, way[j] = 0;
    for (int i = 1; i <= k; i++) {
        p[0] = i;
        int j0 = 0;
        for (int j = 0; j <= k; j++) minv[j] = INFINITY, a->used[j] = 0;
        do {
            a->used[j0] = 1;
            int i0 = p[j0], j1 = 0;
            double delta = INFINITY;
            for (int j = 1; j <= k; j++) {
                if (a->used[j]) continue;
                double wij = i0 <= r && j <= c ? w[(size_t)(i0 - 1) * c + (j - 1)] : 0;
                double cur = wij - u[i0] - v[j];
                if (cur < minv[j]) minv[j] = cur, way[j] = j0;
                if (minv[j] < delta) delta = minv[j], j1 = j;
            }
            BASE_ASSERT(j1 > 0);
            for (int j = 0; j <= k; j++) {
                if (a->used[j]) u[p[j]] += delta, v[j] -= delta;
                else minv[j] -= delta;
            }
            j0 = j1;
        } while (p[j0] != 0);
        do {
            int j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
}

int assign_solve(struct assign *a, const double *cost, int n, int m, double thresh,
                 int *row_to_col, int *col_to_row, char *msg, size_t len)
{
    BASE_ASSERT(n >= 0 && m >= 0 && (cost || n == 0 || m == 0) && (row_to_col || n == 0));
    for (int i = 0; i < n; i++) row_to_col[i] = -1;
    if (col_to_row)
        for (int j = 0; j < m; j++) col_to_row[j] = -1;
    if (n == 0 || m == 0) return 0;
    if (assign_reserve(a, n, m) < 0) return base_err(msg, len, "track: out of memory (assignment %dx%d)", n, m);

    int *parent = a->parent;
    for (int x = 0; x < n + m; x++) parent[x] = x, a->head[x] = -1;
    int any = 0;
    for (int i = 0; i < n; i++) {
        const double *ci = cost + (size_t)i * m;
        for (int j = 0; j < m; j++) {
            if (!feasible(ci[j], thresh)) continue;
            int ri = find(parent, i), rj = find(parent, n + j);
            if (ri != rj) parent[ri] = rj;
            any = 1;
        }
    }
    if (!any) return 0;
    /* lists of members per root, in reverse index order; a node alone (no
     * feasible pair) is its own root and is skipped below */
    for (int x = n + m - 1; x >= 0; x--) {
        int root = find(parent, x);
        a->next[x] = a->head[root];
        a->head[root] = x;
    }
    int pairs = 0;
    for (int root = 0; root < n + m; root++) {
        int r = 0, c = 0;
        for (int x = a->head[root]; x >= 0; x = a->next[x]) {
            if (x < n) a->comp_rows[r++] = x;
            else a->comp_cols[c++] = x - n;
        }
        if (r == 0 || c == 0) continue;
        if (r == 1 && c == 1) { /* the common case: one track, one detection */
            int i = a->comp_rows[0], j = a->comp_cols[0];
            row_to_col[i] = j;
            if (col_to_row) col_to_row[j] = i;
            pairs++;
            continue;
        }
        for (int ii = 0; ii < r; ii++) {
            const double *ci = cost + (size_t)a->comp_rows[ii] * m;
            for (int jj = 0; jj < c; jj++) {
                double x = ci[a->comp_cols[jj]];
                a->sub[(size_t)ii * c + jj] = feasible(x, thresh) ? x - thresh : 0;
            }
        }
        hungarian(a, r, c);
        for (int jj = 1; jj <= c; jj++) {
            int ii = a->p[jj];
            if (ii < 1 || ii > r) continue;
            int i = a->comp_rows[ii - 1], j = a->comp_cols[jj - 1];
            if (!feasible(cost[(size_t)i * m + j], thresh)) continue;
            row_to_col[i] = j;
            if (col_to_row) col_to_row[j] = i;
            pairs++;
        }
    }
    return pairs;
}
