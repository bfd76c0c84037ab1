/*
 * graph_bind.c — a backbone graph (spec.h, model/FORMAT.md) bound to the
 * checkpoint at load: graph_bind() resolves every tensor key, checking its shape
 * against the channels that flow in, then fuses: a BatchNorm whose input is a
 * conv read by nothing else is folded into that conv (in double, as bind.c folds
 * the presets'), and an activation is applied by the op before it when that op
 * is read by nothing else. Nodes nobody reads are dropped.
 */
#include "net.h"

#include <stdarg.h>
#include <string.h>

/* ---- binding ---------------------------------------------------------------------- */

static const char *const op_names[] = {
    [G_NONE] = "none", [G_INPUT] = "input", [G_CONV] = "conv", [G_LINEAR] = "linear",
    [G_BATCHNORM] = "batchnorm", [G_LAYERNORM] = "layernorm", [G_ACT] = "act", [G_ADD] = "add",
    [G_MUL] = "mul", [G_SCALE] = "scale", [G_CAT] = "cat", [G_MAXPOOL] = "maxpool",
    [G_AVGPOOL] = "avgpool", [G_ADAPTIVE_AVG] = "adaptive_avgpool",
    [G_ADAPTIVE_MAX] = "adaptive_maxpool", [G_UPSAMPLE] = "upsample",
};

static int node_err(const struct binder *b, int i, const struct gnode *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int node_err(const struct binder *b, int i, const struct gnode *n, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "checkpoint %s: graph node %d (%s): ", b->path, i, op_names[n->op]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

/* The tensor under key with any shape (the caller checks it); marks it used. */
static const struct ckpt_tensor *bind_key(struct binder *b, const char *key)
{
    const struct ckpt_tensor *t = ckpt_find(b->ck, key);
    if (!t) {
        fprintf(stderr, "checkpoint %s: missing key %s (needed by %s)\n", b->path, key, b->arch);
        b->failed = 1;
        return NULL;
    }
    return bind_tensor(b, key, t->ndim, t->shape) ? t : NULL;
}

/* A [C] tensor under key. */
static const float *bind_vec(struct binder *b, int i, const struct gnode *n, const char *key, int C)
{
    const struct ckpt_tensor *t = bind_key(b, key);
    if (!t) return NULL;
    if (t->numel != C || (t->ndim != 1 && t->ndim != 3)) {
        node_err(b, i, n, "%s has %lld values, expected %d (one per channel)", key,
                 (long long)t->numel, C);
        b->failed = 1;
        return NULL;
    }
    return t->data;
}

static int bind_conv_node(struct graph *g, struct binder *b, int i, struct gnode *n, int cin)
{
    const struct ckpt_tensor *w = bind_key(b, n->key[0]);
    if (!w) return -1;
    int linear = n->op == G_LINEAR;
    int64_t cout = w->shape[0];
    if (linear ? w->ndim != 2 : w->ndim != 4)
        return node_err(b, i, n, "%s has %d dimensions, expected %d", n->key[0], w->ndim,
                        linear ? 2 : 4);
    int groups = linear ? 1 : n->groups;
    if ((n->want_cout && cout != n->want_cout) ||
        (n->want_k && !linear && (w->shape[2] != n->want_k || w->shape[3] != n->want_k))) {
        fprintf(stderr, "checkpoint %s: key %s: expected shape [%d, %d, %d, %d], found [%lld, %lld, "
                "%lld, %lld] (wrong --arch?)\n", b->path, n->key[0], n->want_cout ? n->want_cout : (int)cout,
                cin / groups, n->want_k, n->want_k, (long long)w->shape[0], (long long)w->shape[1],
                (long long)w->shape[2], (long long)w->shape[3]);
        return -1;
    }
    if (!linear && w->shape[2] != w->shape[3])
        return node_err(b, i, n, "%s: a %lldx%lld kernel; this vdetect runs square kernels",
                        n->key[0], (long long)w->shape[2], (long long)w->shape[3]);
    if (w->shape[1] * groups != cin || cout < 1 || cout > (1 << 20) || cout % groups)
        return node_err(b, i, n, "%s has shape [%lld, %lld, ...] with groups %d, but %d channels "
                        "come in", n->key[0], (long long)cout, (long long)w->shape[1], groups, cin);
    n->cv = (struct conv){ .cin = cin, .cout = (int)cout, .k = linear ? 1 : (int)w->shape[2],
                           .stride = linear ? 1 : n->stride, .pad = linear ? 0 : n->pad,
                           .groups = groups, .w = w->data, .dil = linear ? 1 : n->dil };
    if (n->key[1] && !(n->cv.b = bind_vec(b, i, n, n->key[1], (int)cout))) return -1;
    n->c = (int)cout;
    (void)g;
    return 0;
}

/* BatchNorm (eval): scale = w / sqrt(var + eps), shift = b - mean * scale, in double. */
static int fold_bn(struct binder *b, const float *const raw[4], float eps, int C, float **scale,
                   float **shift)
{
    *scale = arena_floats(b->store, (size_t)C);
    *shift = arena_floats(b->store, (size_t)C);
    for (int c = 0; c < C; c++) {
        double s, t;
        bn_coeffs(raw, eps, c, &s, &t);
        (*scale)[c] = (float)s;
        (*shift)[c] = (float)t;
    }
    b->params -= 2 * (int64_t)C;   /* running statistics are buffers, not parameters */
    return 0;
}

static int bind_node(struct graph *g, struct binder *b, int i, const float *raw_bn[][4])
{
    struct gnode *n = &g->nodes[i];
    if (n->op == G_INPUT) {
        n->c = 3;
        return 0;
    }
    int c0 = g->nodes[graph_in(g, n, 0)].c;
    switch (n->op) {
    case G_CONV: case G_LINEAR:
        return bind_conv_node(g, b, i, n, c0);
    case G_BATCHNORM: {
        for (int k = 0; k < 4; k++)
            if (!(raw_bn[i][k] = bind_vec(b, i, n, n->key[k], c0))) return -1;
        float *sc, *sh;
        fold_bn(b, raw_bn[i], n->eps, c0, &sc, &sh);
        n->scale = sc;
        n->shift = sh;
        n->c = c0;
        return 0;
    }
    case G_LAYERNORM:
        if (!(n->scale = bind_vec(b, i, n, n->key[0], c0)) ||
            !(n->shift = bind_vec(b, i, n, n->key[1], c0)))
            return -1;
        n->c = c0;
        return 0;
    case G_SCALE:
        if (!(n->scale = bind_vec(b, i, n, n->key[0], c0))) return -1;
        n->c = c0;
        return 0;
    case G_ADD: case G_MUL: {
        int c1 = g->nodes[graph_in(g, n, 1)].c;
        if (c1 != c0)
            return node_err(b, i, n, "inputs with %d and %d channels", c0, c1);
        n->c = c0;
        return 0;
    }
    case G_CAT: {
        int64_t c = 0;
        for (int k = 0; k < n->n_in; k++) c += g->nodes[graph_in(g, n, k)].c;
        if (c > (1 << 20)) return node_err(b, i, n, "%lld channels", (long long)c);
        n->c = (int)c;
        return 0;
    }
    default:
        n->c = c0;
        return 0;
    }
}

/* How many nodes (and outputs) read each node's value. */
static void count_readers(const struct graph *g, int *readers)
{
    memset(readers, 0, sizeof(int) * (size_t)g->n);
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op != G_NONE)
            for (int k = 0; k < g->nodes[i].n_in; k++) readers[graph_in(g, &g->nodes[i], k)]++;
    for (int k = 0; k < g->n_out; k++) readers[g->out_node[k]] += 1 << 20;   /* never fused */
    for (int k = 0; k < g->n_tap; k++) readers[g->tap_node[k]] += 1 << 20;
}

/* Ops that apply an activation at their end. */
static int takes_act(enum gop op)
{
    return op == G_CONV || op == G_LINEAR || op == G_BATCHNORM || op == G_LAYERNORM ||
           op == G_ADD || op == G_MUL || op == G_SCALE;
}

/* Node p (read only by i) moves into i's slot: i computes what p did, then
 * applies i's activation (or keeps p's). The keys were freed after binding. */
static void absorb(struct graph *g, int i, int p)
{
    struct gnode *n = &g->nodes[i], *pn = &g->nodes[p];
    enum act act = n->op == G_ACT ? n->act : pn->act;
    int c = n->c;
    *n = *pn;
    n->c = c;
    n->act = act;
    n->cv.act = act;
    pn->op = G_NONE;
    pn->n_in = 0;
}

static void fuse(struct graph *g, struct binder *b, const float *raw_bn[][4])
{
    /* counted once: absorbing p into its only reader i leaves every count that can
     * still matter as it was (i now reads what p read; nothing else read p) */
    int readers[g->n];
    count_readers(g, readers);
    for (int i = 1; i < g->n; i++) {
        struct gnode *n = &g->nodes[i];
        if (n->op == G_NONE || n->n_in < 1) continue;
        int p = graph_in(g, n, 0);
        struct gnode *pn = &g->nodes[p];
        if (readers[p] != 1) continue;
        if (n->op == G_BATCHNORM && pn->op == G_CONV && pn->act == ACT_NONE) {
            float eps = n->eps;
            absorb(g, i, p);
            bind_fold_bn(b, &n->cv, raw_bn[i], eps);
        } else if (n->op == G_ACT && takes_act(pn->op) && pn->act == ACT_NONE) {
            absorb(g, i, p);
        }
    }
    /* drop what no output needs */
    char need[g->n];
    memset(need, 0, sizeof need);
    for (int k = 0; k < g->n_out; k++) need[g->out_node[k]] = 1;
    for (int k = 0; k < g->n_tap; k++) need[g->tap_node[k]] = 1;
    for (int i = g->n - 1; i > 0; i--) {
        struct gnode *n = &g->nodes[i];
        if (!need[i]) n->op = n->op == G_INPUT ? G_INPUT : G_NONE;
        if (n->op == G_NONE) continue;
        for (int k = 0; k < n->n_in; k++) need[graph_in(g, n, k)] = 1;
    }
    for (int i = 0; i < g->n; i++) g->nodes[i].last = i;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op != G_NONE)
            for (int k = 0; k < g->nodes[i].n_in; k++) g->nodes[graph_in(g, &g->nodes[i], k)].last = i;
    for (int k = 0; k < g->n_out; k++) g->nodes[g->out_node[k]].last = g->n;
}

int graph_bind(struct graph *g, struct binder *b, int out_channels)
{
    const float *(*raw_bn)[4] = calloc((size_t)g->n, sizeof *raw_bn);
    if (!raw_bn) return -1;
    int err = 0;
    for (int i = 0; i < g->n && !err; i++) err = bind_node(g, b, i, raw_bn);
    for (int k = 0; k < g->n_out && !err; k++) {
        int c = g->nodes[g->out_node[k]].c;
        if (c != out_channels) {
            fprintf(stderr, "checkpoint %s: graph output \"%s\" has %d channels, but the model's "
                    "out_channels is %d\n", b->path, g->out_name[k], c, out_channels);
            err = -1;
        }
    }
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < 4; k++) {
            free(g->nodes[i].key[k]);
            g->nodes[i].key[k] = NULL;
        }
    if (!err) fuse(g, b, raw_bn);
    int last_body = -1;
    for (int k = 0; k < g->n_tap; k++)
        if (!strncmp(g->tap_name[k], "body_", 5) && g->tap_node[k] > last_body)
            last_body = g->tap_node[k];
    g->split = last_body >= 0 ? last_body + 1 : g->n;
    free(raw_bn);
    return err || b->failed ? -1 : 0;
}
