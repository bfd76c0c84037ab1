/*
 * graph_json.c — a description's "graph" object (model/FORMAT.md) into a
 * struct graph: each node's operation, inputs, tensor keys and parameters,
 * checked field by field. Nothing is bound here (graph.c does that). Every
 * error names the node and the field: "model metadata: graph.nodes[12].stride:
 * ...".
 */
#include "spec.h"
#include "../ckpt/sjson.h"

#include <string.h>

#define bad spec_meta_error

struct opinfo {
    const char *name;
    enum gop op;
    int min_in, max_in;
    const char *fields[8];     /* besides "op" and "in" */
};

static const struct opinfo ops[] = {
    { "input", G_INPUT, 0, 0, { NULL } },
    { "conv", G_CONV, 1, 1, { "weight", "bias", "stride", "padding", "dilation", "groups", NULL } },
    { "linear", G_LINEAR, 1, 1, { "weight", "bias", NULL } },
    { "batchnorm", G_BATCHNORM, 1, 1,
      { "weight", "bias", "running_mean", "running_var", "eps", NULL } },
    { "layernorm", G_LAYERNORM, 1, 1, { "weight", "bias", "eps", NULL } },
    { "act", G_ACT, 1, 1, { "fn", NULL } },
    { "add", G_ADD, 2, 2, { NULL } },
    { "mul", G_MUL, 2, 2, { NULL } },
    { "scale", G_SCALE, 1, 1, { "weight", NULL } },
    { "cat", G_CAT, 1, 1024, { NULL } },
    { "maxpool", G_MAXPOOL, 1, 1, { "kernel", "stride", "padding", "dilation", "ceil_mode", NULL } },
    { "avgpool", G_AVGPOOL, 1, 1,
      { "kernel", "stride", "padding", "ceil_mode", "count_include_pad", NULL } },
    { "adaptive_avgpool", G_ADAPTIVE_AVG, 1, 1, { "output", NULL } },
    { "adaptive_maxpool", G_ADAPTIVE_MAX, 1, 1, { "output", NULL } },
    { "upsample", G_UPSAMPLE, 1, 2, { "scale", NULL } },
};

static const struct { const char *name; enum act act; } acts[] = {
    { "relu", ACT_RELU }, { "relu6", ACT_RELU6 }, { "hardswish", ACT_HARDSWISH },
    { "hardsigmoid", ACT_HARDSIGMOID }, { "silu", ACT_SILU }, { "gelu", ACT_GELU },
    { "sigmoid", ACT_SIGMOID }, { "tanh", ACT_TANH },
};

/* A field name for messages: graph.nodes[i].key */
static const char *fname(char *buf, size_t len, int i, const char *key)
{
    snprintf(buf, len, "graph.nodes[%d]%s%s", i, key ? "." : "", key ? key : "");
    return buf;
}

/* A [v, v] pair of integers in [lo, hi]: torch's (height, width), which this
 * runtime takes only when both are equal. */
static int get_pair(const json_t *node, int i, const char *key, int lo, int hi, int *out)
{
    char f[96];
    const json_t *v = json_object_get(node, key);
    int64_t a, b;
    if (!v) return bad(fname(f, sizeof f, i, key), "missing");
    if (json_array_size(v) != 2 || !sjson_int(json_array_get(v, 0), lo, hi, &a) ||
        !sjson_int(json_array_get(v, 1), lo, hi, &b))
        return bad(fname(f, sizeof f, i, key), "expected [height, width], integers in [%d, %d]",
                   lo, hi);
    if (a != b)
        return bad(fname(f, sizeof f, i, key), "[%lld, %lld]: this vdetect runs only equal "
                   "height and width values", (long long)a, (long long)b);
    *out = (int)a;
    return 0;
}

static int get_bool(const json_t *node, int i, const char *key, int *out)
{
    char f[96];
    const json_t *v = json_object_get(node, key);
    if (!v) return bad(fname(f, sizeof f, i, key), "missing");
    if (!json_is_true(v) && !json_is_false(v))
        return bad(fname(f, sizeof f, i, key), "expected true or false");
    *out = json_is_true(v);
    return 0;
}

static int get_eps(const json_t *node, int i, float *out)
{
    char f[96];
    const json_t *v = json_object_get(node, "eps");
    if (!v) return bad(fname(f, sizeof f, i, "eps"), "missing");
    if (!json_is_number(v) || !(json_number_value(v) >= 0.0) || json_number_value(v) > 1.0)
        return bad(fname(f, sizeof f, i, "eps"), "expected a number in [0, 1]");
    *out = (float)json_number_value(v);
    return 0;
}

/* Tensor key k of the node into slot; null allowed only when optional. */
static int get_key(struct gnode *n, int i, const json_t *node, const char *key,
                   int slot, int optional)
{
    char f[96];
    const json_t *v = json_object_get(node, key);
    if (!v) return bad(fname(f, sizeof f, i, key), "missing");
    if (json_is_null(v) && optional) return 0;
    if (!json_is_string(v) || json_string_length(v) < 1 || json_string_length(v) > 255 ||
        strlen(json_string_value(v)) != json_string_length(v))
        return bad(fname(f, sizeof f, i, key), "expected a tensor name%s", optional ? " or null" : "");
    if (!(n->key[slot] = strdup(json_string_value(v))))
        return bad(fname(f, sizeof f, i, key), "out of memory");
    return 0;
}

static int parse_node(struct graph *g, int i, const json_t *node)
{
    char f[96];
    struct gnode *n = &g->nodes[i];
    if (!json_is_object(node)) return bad(fname(f, sizeof f, i, NULL), "expected an object");
    const json_t *opv = json_object_get(node, "op");
    if (!opv || !json_is_string(opv)) return bad(fname(f, sizeof f, i, "op"), "missing");
    const struct opinfo *oi = NULL;
    for (size_t k = 0; k < sizeof ops / sizeof ops[0] && !oi; k++)
        if (!strcmp(json_string_value(opv), ops[k].name)) oi = &ops[k];
    if (!oi)
        return bad(fname(f, sizeof f, i, "op"), "\"%.40s\" is not an operation this vdetect "
                   "runs (model/FORMAT.md lists them)", json_string_value(opv));
    n->op = oi->op;
    if ((i == 0) != (oi->op == G_INPUT))
        return bad(fname(f, sizeof f, i, "op"), i ? "only node 0 is the input"
                                                  : "node 0 must be {\"op\": \"input\"}");
    /* only known fields */
    const char *k;
    const json_t *fv;
    json_object_foreach((json_t *)node, k, fv) {
        int ok = !strcmp(k, "op") || (!strcmp(k, "in") && oi->op != G_INPUT);
        for (int j = 0; oi->fields[j] && !ok; j++) ok = !strcmp(k, oi->fields[j]);
        if (!ok) return bad(fname(f, sizeof f, i, k), "unknown field for \"%s\"", oi->name);
    }
    /* inputs: earlier nodes */
    if (oi->op != G_INPUT) {
        const json_t *in = json_object_get(node, "in");
        if (!in || !json_is_array(in) || json_array_size(in) < (size_t)oi->min_in ||
            json_array_size(in) > (size_t)oi->max_in)
            return bad(fname(f, sizeof f, i, "in"), "expected %d%s%d earlier node indices",
                       oi->min_in, oi->min_in == oi->max_in ? "" : " to ",
                       oi->min_in == oi->max_in ? oi->min_in : oi->max_in);
        n->in0 = g->n_ins;
        n->n_in = (int)json_array_size(in);
        for (size_t k = 0; k < json_array_size(in); k++) {
            int64_t x;
            if (!sjson_int(json_array_get(in, k), 0, i - 1, &x))
                return bad(fname(f, sizeof f, i, "in"), "entry %zu is not an earlier node "
                           "(0 to %d)", k, i - 1);
            g->ins[g->n_ins++] = (int)x;
        }
    }
    int ceil_mode = 0, cip = 0;
    switch (oi->op) {
    case G_INPUT:
        return 0;
    case G_CONV: {
        int64_t groups;
        const json_t *gv = json_object_get(node, "groups");
        if (get_key(n, i, node, "weight", 0, 0) || get_key(n, i, node, "bias", 1, 1) ||
            get_pair(node, i, "stride", 1, 1024, &n->stride) ||
            get_pair(node, i, "padding", 0, 1024, &n->pad) ||
            get_pair(node, i, "dilation", 1, 1024, &n->dil))
            return -1;
        if (!gv || !sjson_int(gv, 1, 1 << 20, &groups))
            return bad(fname(f, sizeof f, i, "groups"), "expected an integer >= 1");
        n->groups = (int)groups;
        return 0;
    }
    case G_LINEAR:
        return get_key(n, i, node, "weight", 0, 0) || get_key(n, i, node, "bias", 1, 1) ? -1 : 0;
    case G_BATCHNORM:
        return get_key(n, i, node, "weight", 0, 0) || get_key(n, i, node, "bias", 1, 0) ||
               get_key(n, i, node, "running_mean", 2, 0) ||
               get_key(n, i, node, "running_var", 3, 0) || get_eps(node, i, &n->eps) ? -1 : 0;
    case G_LAYERNORM:
        return get_key(n, i, node, "weight", 0, 0) || get_key(n, i, node, "bias", 1, 0) ||
               get_eps(node, i, &n->eps) ? -1 : 0;
    case G_SCALE:
        return get_key(n, i, node, "weight", 0, 0);
    case G_ACT: {
        const json_t *fn = json_object_get(node, "fn");
        for (size_t k = 0; fn && json_is_string(fn) && k < sizeof acts / sizeof acts[0]; k++) {
            if (!strcmp(json_string_value(fn), acts[k].name)) {
                n->act = acts[k].act;
                return 0;
            }
        }
        return bad(fname(f, sizeof f, i, "fn"), "expected relu, relu6, hardswish, hardsigmoid, "
                   "silu, gelu, sigmoid or tanh");
    }
    case G_ADD: case G_MUL: case G_CAT:
        return 0;
    case G_MAXPOOL: case G_AVGPOOL:
        if (get_pair(node, i, "kernel", 1, 1024, &n->pg.k) ||
            get_pair(node, i, "stride", 1, 1024, &n->pg.stride) ||
            get_pair(node, i, "padding", 0, 1024, &n->pg.pad) ||
            get_bool(node, i, "ceil_mode", &ceil_mode))
            return -1;
        n->pg.ceil_mode = ceil_mode;
        n->pg.dil = 1;
        if (oi->op == G_MAXPOOL && get_pair(node, i, "dilation", 1, 1024, &n->pg.dil)) return -1;
        if (oi->op == G_AVGPOOL) {
            if (get_bool(node, i, "count_include_pad", &cip)) return -1;
            n->pg.count_include_pad = cip;
        }
        if (2 * n->pg.pad > n->pg.k)   /* torch: "pad should be at most half of kernel size" */
            return bad(fname(f, sizeof f, i, "padding"), "at most half the kernel size");
        return 0;
    case G_ADAPTIVE_AVG: case G_ADAPTIVE_MAX: {
        const json_t *o = json_object_get(node, "output");
        int64_t a, b;
        if (json_array_size(o) != 2 || !sjson_int(json_array_get(o, 0), 1, 4096, &a) ||
            !sjson_int(json_array_get(o, 1), 1, 4096, &b))
            return bad(fname(f, sizeof f, i, "output"), "expected [height, width], integers in "
                       "[1, 4096]");
        n->out_h = (int)a;
        n->out_w = (int)b;
        return 0;
    }
    case G_UPSAMPLE: {
        const json_t *sc = json_object_get(node, "scale");
        if (n->n_in == 2) {
            if (sc) return bad(fname(f, sizeof f, i, "scale"), "not with a second input");
            return 0;
        }
        if (!sc) return bad(fname(f, sizeof f, i, "scale"), "missing (or give a second input "
                            "whose size to take)");
        int s;
        if (get_pair(node, i, "scale", 1, 64, &s)) return -1;
        n->out_h = n->out_w = s;
        return 0;
    }
    case G_NONE:
        break;
    }
    return bad(fname(f, sizeof f, i, "op"), "internal: unhandled operation");
}

int graph_parse(struct graph *g, const json_t *v)
{
    memset(g, 0, sizeof *g);
    if (!v || !json_is_object(v)) return bad("graph", v ? "expected an object" : "missing");
    const char *key;
    const json_t *x;
    json_object_foreach((json_t *)v, key, x)
        if (strcmp(key, "nodes") && strcmp(key, "outputs"))
            return bad("graph", "unknown field \"%.40s\"", key);
    const json_t *nodes = json_object_get(v, "nodes"), *outs = json_object_get(v, "outputs");
    if (json_array_size(nodes) < 2 || json_array_size(nodes) > GRAPH_MAX_NODES)
        return bad("graph.nodes", "expected an array of 2 to %d nodes", GRAPH_MAX_NODES);
    size_t n_ins = 0;
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        const json_t *in = json_object_get(json_array_get(nodes, i), "in");
        if (in && json_is_array(in)) n_ins += json_array_size(in);
    }
    g->nodes = calloc(json_array_size(nodes), sizeof *g->nodes);
    g->ins = calloc(n_ins + 1, sizeof *g->ins);
    if (!g->nodes || !g->ins) {
        graph_free(g);
        return bad("graph", "out of memory");
    }
    g->n = (int)json_array_size(nodes);
    for (int i = 0; i < g->n; i++) {
        if (parse_node(g, i, json_array_get(nodes, i))) {
            graph_free(g);
            return -1;
        }
    }
    if (json_array_size(outs) < 1 || json_array_size(outs) > GRAPH_MAX_OUTPUTS) {
        graph_free(g);
        return bad("graph.outputs", "expected an array of 1 to %d outputs", GRAPH_MAX_OUTPUTS);
    }
    for (size_t k = 0; k < json_array_size(outs); k++) {
        const json_t *o = json_array_get(outs, k), *nm = json_object_get(o, "name"),
                                *nd = json_object_get(o, "node");
        char f[64];
        int64_t idx;
        snprintf(f, sizeof f, "graph.outputs[%zu]", k);
        if (json_object_size(o) != 2 || !json_is_string(nm) || json_string_length(nm) < 1 ||
            json_string_length(nm) >= GRAPH_NAME_LEN || !sjson_int(nd, 1, g->n - 1, &idx)) {
            graph_free(g);
            return bad(f, "expected {\"name\": 1 to %d characters, \"node\": 1 to %d}",
                       GRAPH_NAME_LEN - 1, g->n - 1);
        }
        for (size_t j = 0; j < k; j++) {
            if (!strcmp(g->out_name[j], json_string_value(nm))) {
                graph_free(g);
                return bad(f, "the name \"%s\" is used twice", json_string_value(nm));
            }
        }
        snprintf(g->out_name[k], GRAPH_NAME_LEN, "%s", json_string_value(nm));
        g->out_node[k] = (int)idx;
    }
    g->n_out = (int)json_array_size(outs);
    return 0;
}

void graph_free(struct graph *g)
{
    if (!g) return;
    for (int i = 0; g->nodes && i < g->n; i++)
        for (int k = 0; k < 4; k++) free(g->nodes[i].key[k]);
    free(g->nodes);
    free(g->ins);
    memset(g, 0, sizeof *g);
}
