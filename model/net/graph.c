/*
 * graph.c — binding, planning and running a backbone graph (spec.h, model/FORMAT.md).
 *
 * Load: graph_bind() resolves every tensor key against the checkpoint, checking
 * its shape against the channels that flow in, then fuses: a BatchNorm whose
 * input is a conv read by nothing else is folded into that conv (in double, as
 * bind.c folds the presets'), and an activation is applied by the op before it
 * when that op is read by nothing else. Nodes nobody reads are dropped.
 *
 * Each pass: every value's shape follows from the input size; values other than
 * the outputs share one buffer, placed greedily (largest first, at the lowest
 * offset free for its whole lifetime, from the node that writes it to the last
 * node that reads it), so memory is what the widest point of the network needs,
 * not the sum of all its maps.
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

static int in_of(const struct graph *g, const struct gnode *n, int k) { return g->ins[n->in0 + k]; }

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
    int c0 = g->nodes[in_of(g, n, 0)].c;
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
        int c1 = g->nodes[in_of(g, n, 1)].c;
        if (c1 != c0)
            return node_err(b, i, n, "inputs with %d and %d channels", c0, c1);
        n->c = c0;
        return 0;
    }
    case G_CAT: {
        int64_t c = 0;
        for (int k = 0; k < n->n_in; k++) c += g->nodes[in_of(g, n, k)].c;
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
            for (int k = 0; k < g->nodes[i].n_in; k++) readers[in_of(g, &g->nodes[i], k)]++;
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
        int p = in_of(g, n, 0);
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
        for (int k = 0; k < n->n_in; k++) need[in_of(g, n, k)] = 1;
    }
    for (int i = 0; i < g->n; i++) g->nodes[i].last = i;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op != G_NONE)
            for (int k = 0; k < g->nodes[i].n_in; k++) g->nodes[in_of(g, &g->nodes[i], k)].last = i;
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

/* ---- planning a pass ---------------------------------------------------------------- */

struct vshape { int c, h, w; };

/* A side no map may exceed (an upsampling chain in a hostile file). */
#define GRAPH_MAX_SIDE 65536

/* Every value's shape for an ih x iw input: NULL, or why the graph cannot take
 * it (torch refuses the first two as well). */
static const char *shapes_for(const struct graph *g, int ih, int iw, struct vshape *s,
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
        struct vshape a = s[in_of(g, n, 0)], o = { n->c, a.h, a.w };
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
                o.h = s[in_of(g, n, 1)].h;
                o.w = s[in_of(g, n, 1)].w;
            } else {
                o.h = a.h * n->out_h;
                o.w = a.w * n->out_w;
            }
            break;
        case G_ADD: case G_MUL: {
            struct vshape b = s[in_of(g, n, 1)];
            if (a.h == 1 && a.w == 1) o = (struct vshape){ n->c, b.h, b.w };
            else if (!(b.h == 1 && b.w == 1) && (b.h != a.h || b.w != a.w))
                return "two maps it adds or multiplies differ in size";
            break;
        }
        case G_CAT:
            for (int k = 1; k < n->n_in; k++)
                if (s[in_of(g, n, k)].h != a.h || s[in_of(g, n, k)].w != a.w)
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
static size_t place(const struct graph *g, const struct vshape *s, const char *skip, size_t *off)
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

/* ---- running ------------------------------------------------------------------------- */

static void run_node(const struct graph *g, int i, struct fmap *val, struct run *r)
{
    const struct gnode *n = &g->nodes[i];
    struct fmap *o = &val[i];
    const struct fmap *a = &val[in_of(g, n, 0)];
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
        eltwise_binary(a, &val[in_of(g, n, 1)], o, n->op == G_MUL, n->act);
        break;
    case G_CAT: {
        const struct fmap *parts[n->n_in];
        for (int k = 0; k < n->n_in; k++) parts[k] = &val[in_of(g, n, k)];
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

/* Which values a run needs: what the outputs (and the asked-for taps) need, up
 * to the seeds, which are given rather than computed. */
static void mark_needed(const struct graph *g, const struct graph_io *io, char *seeded,
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
        for (int k = 0; k < g->nodes[i].n_in; k++) need[in_of(g, &g->nodes[i], k)] = 1;
    }
}

int graph_plan(const struct graph *g, int h, int w, struct graph_plan *p, const char **why)
{
    struct vshape s[g->n];
    size_t off[g->n];
    char seeded[g->n], need[g->n], skip[g->n];
    memset(p, 0, sizeof *p);
    mark_needed(g, NULL, seeded, need);
    *why = shapes_for(g, h, w, s, need, seeded, NULL);
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
    p->shared_bytes = place(g, s, skip, off);
    for (int i = 1; i < g->n; i++) {
        const struct gnode *n = &g->nodes[i];
        if (!need[i] || (n->op != G_CONV && n->op != G_LINEAR)) continue;
        const struct vshape *in = &s[in_of(g, n, 0)];
        size_t f = conv_scratch_floats(&n->cv, in->h, in->w);
        if (f > p->scratch_floats) p->scratch_floats = f;
        p->macs += conv_macs(&n->cv, s[i].h, s[i].w);
    }
    return 0;
}

void graph_run_io(const struct graph *g, struct run *r, const struct fmap *img, struct fmap *out,
                  const struct graph_io *io)
{
    struct vshape s[g->n];
    struct fmap val[g->n];
    size_t off[g->n];
    char seeded[g->n], need[g->n], skip[g->n];
    mark_needed(g, io, seeded, need);
    for (int k = 0; io && io->seeds && k < g->n_tap; k++)
        if (io->seeds[k].d) val[g->tap_node[k]] = io->seeds[k];
    if (need[0]) MODEL_ASSERT(img);
    /* the caller ran graph_plan on this size first (model_check_size refuses others) */
    const char *why = shapes_for(g, img ? img->h : 1, img ? img->w : 1, s, need, seeded, val);
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
    size_t total = place(g, s, skip, off);
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
