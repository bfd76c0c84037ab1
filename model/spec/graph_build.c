/*
 * graph_build.c — writing a backbone graph from C: the builder the built-in
 * architectures (graph_presets.c) use to describe themselves in the same nodes
 * a model file holds, so presets and exported models run through one path.
 *
 * Each call appends one node and returns its index; after the first failure
 * (out of memory) every call returns -1 and graph_build_done() reports it.
 */
#include "spec.h"

#include <string.h>

static int grow(struct graph *g, int nodes, int ins)
{
    if (g->n + nodes > g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 64;
        while (cap < g->n + nodes) cap *= 2;
        struct gnode *p = realloc(g->nodes, sizeof *p * (size_t)cap);
        if (!p) return -1;
        memset(p + g->cap_nodes, 0, sizeof *p * (size_t)(cap - g->cap_nodes));
        g->nodes = p;
        g->cap_nodes = cap;
    }
    if (g->n_ins + ins > g->cap_ins) {
        int cap = g->cap_ins ? 2 * g->cap_ins : 128;
        while (cap < g->n_ins + ins) cap *= 2;
        int *p = realloc(g->ins, sizeof *p * (size_t)cap);
        if (!p) return -1;
        g->ins = p;
        g->cap_ins = cap;
    }
    return 0;
}

/* A node of op reading in[0..n_in); -1 once anything failed. */
static struct gnode *add(struct graph *g, enum gop op, const int *in, int n_in)
{
    if (g->build_failed || g->n >= GRAPH_MAX_NODES || grow(g, 1, n_in)) {
        g->build_failed = 1;
        return NULL;
    }
    for (int k = 0; k < n_in; k++) {
        if (in[k] < 0 || in[k] >= g->n) {
            g->build_failed = 1;
            return NULL;
        }
    }
    struct gnode *n = &g->nodes[g->n++];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->in0 = g->n_ins;
    n->n_in = n_in;
    if (n_in) memcpy(g->ins + g->n_ins, in, sizeof(int) * (size_t)n_in);
    g->n_ins += n_in;
    return n;
}

static int index_of(const struct graph *g, const struct gnode *n)
{
    return n ? (int)(n - g->nodes) : -1;
}

static char *key_of(struct graph *g, const char *prefix, const char *leaf)
{
    size_t len = strlen(prefix) + strlen(leaf) + 2;
    char *k = malloc(len);
    if (!k) {
        g->build_failed = 1;
        return NULL;
    }
    snprintf(k, len, "%s.%s", prefix, leaf);
    return k;
}

void graph_build_start(struct graph *g)
{
    memset(g, 0, sizeof *g);
    add(g, G_INPUT, NULL, 0);
}

int gb_conv(struct graph *g, int x, const char *prefix, int stride, int pad, int groups,
            int bias)
{
    struct gnode *n = add(g, G_CONV, &x, 1);
    if (!n) return -1;
    n->stride = stride;
    n->pad = pad;
    n->dil = 1;
    n->groups = groups;
    n->key[0] = key_of(g, prefix, "weight");
    if (bias) n->key[1] = key_of(g, prefix, "bias");
    return index_of(g, n);
}

void gb_expect(struct graph *g, int conv, int cout, int k)
{
    if (conv < 0 || conv >= g->n) return;
    g->nodes[conv].want_cout = cout;
    g->nodes[conv].want_k = k;
}

int gb_batchnorm(struct graph *g, int x, const char *prefix, float eps)
{
    static const char *const leaf[4] = { "weight", "bias", "running_mean", "running_var" };
    struct gnode *n = add(g, G_BATCHNORM, &x, 1);
    if (!n) return -1;
    n->eps = eps;
    for (int k = 0; k < 4; k++) n->key[k] = key_of(g, prefix, leaf[k]);
    return index_of(g, n);
}

int gb_act(struct graph *g, int x, enum act act)
{
    struct gnode *n = add(g, G_ACT, &x, 1);
    if (!n) return -1;
    n->act = act;
    return index_of(g, n);
}

int gb_binary(struct graph *g, int a, int b, int mul)
{
    int in[2] = { a, b };
    return index_of(g, add(g, mul ? G_MUL : G_ADD, in, 2));
}

int gb_maxpool(struct graph *g, int x, int k, int stride, int pad)
{
    struct gnode *n = add(g, G_MAXPOOL, &x, 1);
    if (!n) return -1;
    n->pg = (struct pool_geom){ .k = k, .stride = stride, .pad = pad, .dil = 1 };
    return index_of(g, n);
}

int gb_adaptive_avg(struct graph *g, int x, int oh, int ow)
{
    struct gnode *n = add(g, G_ADAPTIVE_AVG, &x, 1);
    if (!n) return -1;
    n->out_h = oh;
    n->out_w = ow;
    return index_of(g, n);
}

int gb_upsample_to(struct graph *g, int x, int ref)
{
    int in[2] = { x, ref };
    return index_of(g, add(g, G_UPSAMPLE, in, 2));
}

static int name_to(char (*dst)[GRAPH_NAME_LEN], int *count, int max, int *nodes, int node,
                   const char *name)
{
    if (node < 0 || *count >= max) return -1;
    snprintf(dst[*count], GRAPH_NAME_LEN, "%s", name);
    nodes[(*count)++] = node;
    return 0;
}

int gb_output(struct graph *g, int node, const char *name)
{
    if (name_to(g->out_name, &g->n_out, GRAPH_MAX_OUTPUTS, g->out_node, node, name))
        g->build_failed = 1;
    return g->build_failed ? -1 : 0;
}

int gb_tap(struct graph *g, int node, const char *name)
{
    if (name_to(g->tap_name, &g->n_tap, GRAPH_MAX_TAPS, g->tap_node, node, name))
        g->build_failed = 1;
    return g->build_failed ? -1 : 0;
}

int graph_build_done(struct graph *g, const char *what)
{
    if (!g->build_failed) return 0;
    fprintf(stderr, "model: cannot describe %s as a graph (out of memory)\n", what);
    return -1;
}
