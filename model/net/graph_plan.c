/*
 * graph_plan.c — a backbone graph's pass for one input size, from shapes alone:
 * every value's shape follows from the input size; values other than the outputs
 * share one buffer, placed greedily (largest first, at the lowest offset free
 * for its whole lifetime, from the node that writes it to the last node that
 * reads it), so memory is what the widest point of the network needs, not the
 * sum of all its maps. graph_plan() adds the scratch and multiply-adds for
 * net/plan.c; graph_run.c lays a pass out with the same functions.
 */
#include "net.h"

#include <string.h>



/* A side no map may exceed (an upsampling chain in a hostile file). */
#define GRAPH_MAX_SIDE 65536

/* Every value's shape for an ih x iw input: NULL, or why the graph cannot take
 * it (torch refuses the first two as well). */
const char *graph_shapes(const struct graph *g, int ih, int iw, struct vshape *s,
                         const char *need, const char *seeded, const struct fmap *val)
{
    for (int i = 0; i < g->n; i++) {
        const struct gnode *n = &g->nodes[i];
        if (n->op == G_NONE || !need[i]) continue;
        if (seeded[i]) {
            s[i] = (struct vshape){ val[i].c, val[i].h, val[i].w };
            continue;
        }
        if (n->op == G_INPUT) {
            s[i] = (struct vshape){ 3, ih, iw };
            continue;
        }
        struct vshape a = s[graph_in(g, n, 0)], o = { n->c, a.h, a.w };
        switch (n->op) {
        case G_CONV:
            conv_out_size(&n->cv, a.h, a.w, &o.h, &o.w);
            break;
        case G_MAXPOOL: case G_AVGPOOL:
            o.h = pool_out_len(a.h, n->pg.k, n->pg.stride, n->pg.pad, n->pg.dil, n->pg.ceil_mode);
            o.w = pool_out_len(a.w, n->pg.k, n->pg.stride, n->pg.pad, n->pg.dil, n->pg.ceil_mode);
            break;
        case G_ADAPTIVE_AVG: case G_ADAPTIVE_MAX:
            o.h = n->out_h;
            o.w = n->out_w;
            break;
        case G_UPSAMPLE:
            if (n->n_in == 2) {
                o.h = s[graph_in(g, n, 1)].h;
                o.w = s[graph_in(g, n, 1)].w;
            } else {
                o.h = a.h * n->out_h;
                o.w = a.w * n->out_w;
            }
            break;
        case G_ADD: case G_MUL: {
            struct vshape b = s[graph_in(g, n, 1)];
            if (a.h == 1 && a.w == 1) o = (struct vshape){ n->c, b.h, b.w };
            else if (!(b.h == 1 && b.w == 1) && (b.h != a.h || b.w != a.w))
                return "two maps it adds or multiplies differ in size";
            break;
        }
        case G_CAT:
            for (int k = 1; k < n->n_in; k++)
                if (s[graph_in(g, n, k)].h != a.h || s[graph_in(g, n, k)].w != a.w)
                    return "two maps it concatenates differ in size";
            break;
        default:
            break;
        }
        if (o.h < 1 || o.w < 1) return "a feature map shrinks to nothing";
        if (o.h > GRAPH_MAX_SIDE || o.w > GRAPH_MAX_SIDE)
            return "a feature map grows beyond 65536 pixels a side";
        if ((double)o.c * o.h * o.w > 1e13)   /* 40 TB: keeps every sum of sizes exact */
            return "a feature map grows beyond 10^13 values";
        s[i] = o;
    }
    return NULL;
}

static size_t value_bytes(const struct vshape *s)
{
    size_t b = (size_t)s->c * s->h * s->w * sizeof(float);
    return (b + 63) & ~(size_t)63;
}

/* Offsets of the shared buffer's values, largest first, each at the lowest
 * offset clear of every value already placed whose lifetime overlaps its own;
 * returns the buffer's size. */
size_t graph_place(const struct graph *g, const struct vshape *s, const char *skip, size_t *off)
{
    int order[g->n], placed[g->n], live[g->n], np = 0, nv = 0;
    size_t size[g->n];
    for (int i = 1; i < g->n; i++) {
        if (skip[i]) continue;
        size[i] = value_bytes(&s[i]);
        order[nv++] = i;
    }
    for (int a = 1; a < nv; a++) {     /* insertion sort: largest first, then earliest */
        int v = order[a], k = a;
        while (k > 0 && size[order[k - 1]] < size[v]) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = v;
    }
    size_t total = 0;
    for (int a = 0; a < nv; a++) {
        int v = order[a], nl = 0;
        for (int q = 0; q < np; q++) {          /* placed values alive while v is */
            int u = placed[q];
            if (!(g->nodes[u].last < v || g->nodes[v].last < u)) live[nl++] = u;
        }
        size_t best = SIZE_MAX;
        for (int c = -1; c < nl; c++) {         /* candidates: 0 and the end of each */
            size_t at = c < 0 ? 0 : off[live[c]] + size[live[c]];
            if (at >= best) continue;
            int clash = 0;
            for (int q = 0; q < nl && !clash; q++)
                clash = at < off[live[q]] + size[live[q]] && off[live[q]] < at + size[v];
            if (!clash) best = at;
        }
        off[v] = best;
        placed[np++] = v;
        if (best + size[v] > total) total = best + size[v];
    }
    return total;
}

/* Which values a run needs: what the outputs (and the asked-for taps) need, up
 * to the seeds, which are given rather than computed. */
void graph_needed(const struct graph *g, const struct graph_io *io, char *seeded,
                  char *need)
{
    memset(seeded, 0, (size_t)g->n);
    memset(need, 0, (size_t)g->n);
    for (int k = 0; io && io->seeds && k < g->n_tap; k++)
        if (io->seeds[k].d) seeded[g->tap_node[k]] = 1;
    for (int k = 0; k < g->n_out; k++) need[g->out_node[k]] = 1;
    for (int k = 0; io && io->taps && k < g->n_tap; k++) need[g->tap_node[k]] = 1;
    for (int i = g->n - 1; i > 0; i--) {
        if (!need[i] || seeded[i] || g->nodes[i].op == G_NONE) continue;   /* (node 0: the image) */
        for (int k = 0; k < g->nodes[i].n_in; k++) need[graph_in(g, &g->nodes[i], k)] = 1;
    }
}

int graph_plan(const struct graph *g, int h, int w, struct graph_plan *p, const char **why)
{
    struct vshape s[g->n];
    size_t off[g->n];
    char seeded[g->n], need[g->n], skip[g->n];
    memset(p, 0, sizeof *p);
    graph_needed(g, NULL, seeded, need);
    *why = graph_shapes(g, h, w, s, need, seeded, NULL);
    if (*why) return -1;
    for (int i = 0; i < g->n; i++) skip[i] = i == 0 || !need[i];
    p->n_out = g->n_out;
    for (int k = 0; k < g->n_out; k++) {
        int i = g->out_node[k];
        skip[i] = 1;
        p->out_c[k] = s[i].c;
        p->out_h[k] = s[i].h;
        p->out_w[k] = s[i].w;
    }
    p->shared_bytes = graph_place(g, s, skip, off);
    for (int i = 1; i < g->n; i++) {
        const struct gnode *n = &g->nodes[i];
        if (!need[i] || (n->op != G_CONV && n->op != G_LINEAR)) continue;
        const struct vshape *in = &s[graph_in(g, n, 0)];
        size_t f = conv_scratch_floats(&n->cv, in->h, in->w);
        if (f > p->scratch_floats) p->scratch_floats = f;
        p->macs += conv_macs(&n->cv, s[i].h, s[i].w);
    }
    return 0;
}
