/*
 * label.c — connected components of a binary image, 8-connected: the classic
 * two passes. The first assigns provisional labels in raster order, looking at
 * the four neighbours already visited (W, NW, N, NE) and recording
 * equivalences in a union-find forest (union by smaller label, so a root is
 * always its component's first label in raster order); the second resolves each
 * pixel to its root and measures the components. No allocation: the caller
 * owns the workspace.
 */
#include <limits.h>

#include "internal.h"

static int find(int *parent, int a)
{
    while (parent[a] != a) {
        parent[a] = parent[parent[a]];  /* path halving */
        a = parent[a];
    }
    return a;
}

static int unite(int *parent, int a, int b)
{
    a = find(parent, a);
    b = find(parent, b);
    if (a == b) return a;
    if (a < b) {
        parent[b] = a;
        return a;
    }
    parent[a] = b;
    return b;
}

int motion_label(const uint8_t *fg, const uint8_t *core, int w, int h, int *labels,
                 int *parent, struct motion_comp *comps)
{
    BASE_ASSERT(w >= 1 && h >= 1);
    int next = 1;  /* label 0: background */
    for (int y = 0; y < h; y++) {
        const uint8_t *f = fg + (size_t)y * w;
        int *l = labels + (size_t)y * w;
        const int *up = y ? l - w : NULL;
        for (int x = 0; x < w; x++) {
            if (!f[x]) {
                l[x] = 0;
                continue;
            }
            int lab = 0;
            int nb[4] = { x ? l[x - 1] : 0, up && x ? up[x - 1] : 0, up ? up[x] : 0,
                          up && x + 1 < w ? up[x + 1] : 0 };
            for (int k = 0; k < 4; k++) {
                if (!nb[k]) continue;
                lab = lab ? unite(parent, lab, nb[k]) : nb[k];
            }
            if (!lab) {
                BASE_ASSERT((size_t)next < motion_label_cap(w, h));
                lab = next++;
                parent[lab] = lab;
            }
            l[x] = lab;
        }
    }
    for (int i = 1; i < next; i++)
        comps[i] = (struct motion_comp){ INT_MAX, INT_MAX, -1, -1, 0 };
    for (int y = 0; y < h; y++) {
        const int *l = labels + (size_t)y * w;
        const uint8_t *c = core + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            if (!l[x] || !c[x]) continue;
            BASE_ASSERT(fg[(size_t)y * w + x]);
            struct motion_comp *k = &comps[find(parent, l[x])];
            if (x < k->x1) k->x1 = x;
            if (x > k->x2) k->x2 = x;
            if (y < k->y1) k->y1 = y;
            if (y > k->y2) k->y2 = y;
            k->area++;
        }
    }
    /* roots in increasing label order are components in raster order of their
     * first pixel; compact them to the front (k <= i, so nothing unread is lost) */
    int k = 0;
    for (int i = 1; i < next; i++)
        if (parent[i] == i && comps[i].area > 0) comps[k++] = comps[i];
    return k;
}
