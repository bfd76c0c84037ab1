/*
 * graph_run.c — running a bound backbone graph on one image: each node's op
 * (ops/) on the values the plan placed in one buffer (graph_plan.c); the outputs
 * (and any tapped values) get memory of their own and stay.
 */
#include "net.h"

#include <string.h>

static void run_node(const struct graph *g, int i, struct fmap *val, struct run *r)
{
    const struct gnode *n = &g->nodes[i];
    struct fmap *o = &val[i];
    const struct fmap *a = &val[graph_in(g, n, 0)];
    switch (n->op) {
    case G_CONV: case G_LINEAR:
        conv_forward(&n->cv, a, o, r->arena);
        break;
    case G_BATCHNORM:
        channel_affine(a, n->scale, n->shift, o, n->act);
        break;
    case G_SCALE:
        channel_affine(a, n->scale, NULL, o, n->act);
        break;
    case G_LAYERNORM:
        layernorm_channels(a, n->scale, n->shift, n->eps, o, n->act);
        break;
    case G_ACT:
        memcpy(o->d, a->d, sizeof(float) * fmap_numel(a));
        act_inplace(o->d, fmap_numel(o), n->act);
        break;
    case G_ADD: case G_MUL:
        eltwise_binary(a, &val[graph_in(g, n, 1)], o, n->op == G_MUL, n->act);
        break;
    case G_CAT: {
        const struct fmap *parts[n->n_in];
        for (int k = 0; k < n->n_in; k++) parts[k] = &val[graph_in(g, n, k)];
        concat_channels(parts, n->n_in, o);
        break;
    }
    case G_MAXPOOL:
        pool_max(a, o, &n->pg);
        break;
    case G_AVGPOOL:
        pool_avg(a, o, &n->pg);
        break;
    case G_ADAPTIVE_AVG: case G_ADAPTIVE_MAX:
        pool_adaptive(a, o, n->op == G_ADAPTIVE_MAX);
        break;
    case G_UPSAMPLE:
        upsample_nearest(a, o);
        break;
    case G_NONE: case G_INPUT:
        break;
    }
}

void graph_run_io(const struct graph *g, struct run *r, const struct fmap *img, struct fmap *out,
                  const struct graph_io *io)
{
    struct vshape s[g->n];
    struct fmap val[g->n];
    size_t off[g->n];
    char seeded[g->n], need[g->n], skip[g->n];
    graph_needed(g, io, seeded, need);
    for (int k = 0; io && io->seeds && k < g->n_tap; k++)
        if (io->seeds[k].d) val[g->tap_node[k]] = io->seeds[k];
    if (need[0]) MODEL_ASSERT(img);
    /* the caller ran graph_plan on this size first (model_check_size refuses others) */
    const char *why = graph_shapes(g, img ? img->h : 1, img ? img->w : 1, s, need, seeded, val);
    MODEL_ASSERT(!why);
    /* outputs and taps: their own memory, kept; the rest shares one buffer */
    for (int i = 0; i < g->n; i++) skip[i] = i == 0 || !need[i] || seeded[i];
    for (int k = 0; k < g->n_out; k++) {
        int i = g->out_node[k];
        if (!skip[i]) val[i] = arena_fmap(r->arena, s[i].c, s[i].h, s[i].w);
        skip[i] = 1;
        out[k] = val[i];
    }
    for (int k = 0; io && io->taps && k < g->n_tap; k++) {
        int i = g->tap_node[k];
        if (!skip[i]) val[i] = arena_fmap(r->arena, s[i].c, s[i].h, s[i].w);
        skip[i] = 1;
        io->taps[k] = val[i];
    }
    struct arena_mark mk = arena_mark(r->arena);
    size_t total = graph_place(g, s, skip, off);
    char *base = arena_alloc(r->arena, total ? total : 64);
    if (img) val[0] = *img;
    double t_split = -1.0;
    for (int i = 1; i < g->n; i++) {
        const struct gnode *n = &g->nodes[i];
        if (i == g->split) t_split = ops_now_ms();
        if (!need[i] || seeded[i] || n->op == G_NONE) continue;
        if (!skip[i])   /* outputs and taps have their own memory already */
            val[i] = (struct fmap){ (float *)(base + off[i]), s[i].c, s[i].h, s[i].w };
        run_node(g, i, val, r);
    }
    if (t_split >= 0.0) r->fpn_ms += ops_now_ms() - t_split;
    arena_rewind(r->arena, mk);
}

void graph_run(const struct graph *g, struct run *r, const struct fmap *img, struct fmap *out)
{
    graph_run_io(g, r, img, out, NULL);
}
