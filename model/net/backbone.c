/*
 * backbone.c — the backbone as a graph (spec.h, net.h): a model file's own, or the
 * one graph_presets.c writes for a preset (body + FeaturePyramidNetwork), bound
 * to the checkpoint and run. Every model runs through this one path.
 */
#include "net.h"

#include <string.h>

int backbone_build(struct backbone *bb, struct spec *s, struct binder *b)
{
    memset(bb, 0, sizeof *bb);
    if (!s->graph) {
        struct graph *g = calloc(1, sizeof *g);
        if (!g || graph_from_spec(g, s)) {
            free(g);
            return -1;
        }
        s->graph = g;
    }
    if (graph_bind(s->graph, b, s->fpn_out)) return -1;
    bb->graph = s->graph;
    bb->n_out = s->graph->n_out;
    return 0;
}

void model_backbone_summary(const struct model *m, char *buf, size_t len)
{
    const struct graph *g = m->bb.graph;
    int run = 0;
    for (int i = 1; i < g->n; i++) run += g->nodes[i].op != G_NONE;
    size_t o = (size_t)snprintf(buf, len, "graph of %d operations (%d run after fusion); maps",
                                g->n - 1, run);
    for (int k = 0; k < g->n_out && o < len; k++)
        o += (size_t)snprintf(buf + o, len - o, " %s", g->out_name[k]);
    if (o < len) snprintf(buf + o, len - o, ", %d channels", m->spec.fpn_out);
}

int backbone_run(const struct backbone *bb, struct run *r, const struct fmap *img,
                 struct fmap *out)
{
    graph_run(bb->graph, r, img, out);
    return bb->n_out;
}
