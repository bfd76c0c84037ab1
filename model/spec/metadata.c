/*
 * metadata.c — the architecture of a self-describing model file: the JSON
 * that vdetect's exporters store under __metadata__["vdetect"], turned into a
 * struct spec and class names.
 *
 * Version 2 (model/py/export.py, any torchvision FasterRCNN) is described in
 * model/FORMAT.md: the backbone as a graph (parsed by graph_json.c) and the
 * heads, transform and parameters field by field, every field required.
 *
 * Version 1 (model/py/export_demo.py, the demo model) stays readable:
 *   {"format": "vdetect-model", "version": 1,
 *    "backbone": {"type": "vgg", "cfg": [64, 64, "M", ...], "batch_norm": true,
 *                 "return_layers": [module indices of the features Sequential]},
 *    "fpn": {"out_channels": 256, "extra": "maxpool" | "none"},
 *    "anchors": {"sizes": [[32], ...], "aspect_ratios": [[0.5, 1.0, 2.0], ...]},
 *    "roi": {"output_size": 7, "sampling_ratio": 2, "featmap_count": 4},
 *    "box_head": {"representation_size": 1024},
 *    "params": {torchvision inference kwargs, as --set names},
 *    "classes": ["__background__", ...],
 *    "colors": [null, "#e02020", ...]}        optional, as in version 2
 * or, for a torchvision builder's layout, {"format": ..., "version": 1,
 * "backbone": {"type": "preset", "name": "fasterrcnn_resnet50_fpn"}} with
 * optional "params" and "classes". Sections other than backbone take the
 * preset's (torchvision's) defaults when left out; unknown fields are errors,
 * so a misspelt name never passes silently. Every error names the field.
 */
#include "spec.h"
#include "../ckpt/sjson.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_MAX_CLASSES 100000

_Thread_local const char *spec_meta_source;

int spec_meta_error(const char *field, const char *fmt, ...)
{
    va_list ap;
    if (spec_meta_source) fprintf(stderr, "checkpoint %s: ", spec_meta_source);
    fprintf(stderr, "model metadata: %s: ", field);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

#define bad spec_meta_error

/* Only the listed member names may appear in object v (named field). */
static int only_fields(const json_t *v, const char *field, const char *const *names)
{
    if (!json_is_object(v))
        return bad(field, "expected an object, found %s", sjson_type_name(v));
    const char *key;
    const json_t *x;
    json_object_foreach((json_t *)v, key, x) {   /* the file's order: the first one is named */
        int ok = 0;
        for (int k = 0; names[k] && !ok; k++)
            ok = !strcmp(key, names[k]);
        if (!ok) {
            char f[160];
            snprintf(f, sizeof f, "%s%s%.60s", field, *field ? "." : "", key);
            return bad(f, "unknown field");
        }
    }
    return 0;
}

static int get_int(const json_t *o, const char *section, const char *key, int lo,
                   int hi, int required, int *out)
{
    const json_t *v = json_object_get(o, key);
    char f[128];
    snprintf(f, sizeof f, "%s%s%s", section, *section ? "." : "", key);
    if (!v)
        return required ? bad(f, "missing") : 0;
    int64_t i;
    if (!sjson_int(v, lo, hi, &i))
        return bad(f, "expected an integer in [%d, %d]", lo, hi);
    *out = (int)i;
    return 0;
}

/* An array of 1..max positive finite numbers. */
static int get_floats(const json_t *v, const char *field, int max, float *out, int *n)
{
    if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > (size_t)max)
        return bad(field, "expected an array of 1 to %d numbers", max);
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *x = json_array_get(v, i);
        if (!json_is_number(x) || !(json_number_value(x) > 0) || json_number_value(x) > 1e6)
            return bad(field, "entry %zu is not a positive number", i);
        out[i] = (float)json_number_value(x);
    }
    *n = (int)json_array_size(v);
    return 0;
}

/* ---- sections ---------------------------------------------------------------------- */

static int read_vgg(struct spec *s, const json_t *bb)
{
    static const char *const names[] = { "type", "cfg", "batch_norm", "return_layers", NULL };
    if (only_fields(bb, "backbone", names))
        return -1;
    const json_t *cfg = json_object_get(bb, "cfg"), *bn = json_object_get(bb, "batch_norm"),
                            *ret = json_object_get(bb, "return_layers");
    if (!cfg)
        return bad("backbone.cfg", "missing");
    if (json_array_size(cfg) < 1 || json_array_size(cfg) > SPEC_MAX_VGG)
        return bad("backbone.cfg", "expected an array of 1 to %d entries", SPEC_MAX_VGG);
    int modules = 0, convs = 0;
    if (bn && !json_is_true(bn) && !json_is_false(bn))
        return bad("backbone.batch_norm", "expected true or false, found %s",
                   sjson_type_name(bn));
    s->vgg_bn = bn && json_is_true(bn);
    for (size_t i = 0; i < json_array_size(cfg); i++) {
        const json_t *e = json_array_get(cfg, i);
        int64_t c;
        if (json_is_string(e) && !strcmp(json_string_value(e), "M")) {
            s->vgg_cfg[i] = 0;
            modules += 1;
        } else if (sjson_int(e, 1, 65536, &c)) {
            s->vgg_cfg[i] = (int)c;
            modules += s->vgg_bn ? 3 : 2;
            convs++;
        } else {
            char f[64];
            snprintf(f, sizeof f, "backbone.cfg[%zu]", i);
            return bad(f, "expected a channel count (1..65536) or \"M\"");
        }
    }
    if (!convs)
        return bad("backbone.cfg", "has no convolution");
    s->vgg_cfg_len = (int)json_array_size(cfg);
    if (!ret)
        return bad("backbone.return_layers", "missing");
    size_t nret = json_array_size(ret);   /* 0 when not an array */
    if (nret < 1 || nret > SPEC_MAX_LEVELS - 1)
        return bad("backbone.return_layers", "expected an array of 1 to %d module indices",
                   SPEC_MAX_LEVELS - 1);
    for (size_t i = 0; i < json_array_size(ret); i++) {
        int64_t r;
        char f[64];
        snprintf(f, sizeof f, "backbone.return_layers[%zu]", i);
        if (!sjson_int(json_array_get(ret, i), 0, modules - 1, &r))
            return bad(f, "expected a module index in [0, %d] (the features have %d modules)",
                       modules - 1, modules);
        if (i && r <= s->vgg_return[i - 1])
            return bad(f, "indices must increase");
        s->vgg_return[i] = (int)r;
    }
    s->n_vgg_return = (int)json_array_size(ret);
    s->backbone = BACKBONE_VGG;
    return 0;
}

/* "vgg_bn[8,M,24,...]/17,24,31+fpn64", or a shorter form when that does not fit. */
static void vgg_arch_name(struct spec *s)
{
    char cfg[256], ret[64];
    size_t o = 0;
    int convs = 0;
    for (int i = 0; i < s->vgg_cfg_len && o < sizeof cfg; i++) {
        convs += s->vgg_cfg[i] > 0;
        if (s->vgg_cfg[i])
            o += (size_t)snprintf(cfg + o, sizeof cfg - o, "%s%d", i ? "," : "", s->vgg_cfg[i]);
        else
            o += (size_t)snprintf(cfg + o, sizeof cfg - o, "%sM", i ? "," : "");
    }
    o = 0;
    for (int i = 0; i < s->n_vgg_return && o < sizeof ret; i++)
        o += (size_t)snprintf(ret + o, sizeof ret - o, "%s%d", i ? "," : "", s->vgg_return[i]);
    const char *bn = s->vgg_bn ? "_bn" : "";
    char full[400];
    int n = snprintf(full, sizeof full, "vgg%s[%s]/%s+fpn%d", bn, cfg, ret, s->fpn_out);
    if (n < 0 || (size_t)n >= sizeof s->arch)
        snprintf(full, sizeof full, "vgg%s(%d conv)/%.24s+fpn%d", bn, convs, ret, s->fpn_out);
    size_t len = strlen(full) < sizeof s->arch ? strlen(full) : sizeof s->arch - 1;
    memcpy(s->arch, full, len);
    s->arch[len] = 0;
}

static int read_fpn(struct spec *s, const json_t *f)
{
    static const char *const names[] = { "out_channels", "extra", NULL };
    if (!f)
        return 0;
    if (only_fields(f, "fpn", names) ||
        get_int(f, "fpn", "out_channels", 1, 65536, 0, &s->fpn_out))
        return -1;
    const json_t *e = json_object_get(f, "extra");
    if (e) {
        if (json_is_string(e) && !strcmp(json_string_value(e), "maxpool"))
            s->pool_level = 1;
        else if (json_is_string(e) && !strcmp(json_string_value(e), "none"))
            s->pool_level = 0;
        else
            return bad("fpn.extra", "expected \"maxpool\" or \"none\"");
    }
    return 0;
}

/* Anchor sizes and aspect ratios, one list each per feature map (fields named
 * fs and fr for messages; either may be NULL when missing). */
static int anchor_lists(struct spec *s, const json_t *sz, const json_t *ar,
                        const char *fs, const char *fr, int levels)
{
    if (!sz || !ar)
        return bad(!sz ? fs : fr, "missing");
    if (!json_is_array(sz) || !json_is_array(ar))
        return bad(!json_is_array(sz) ? fs : fr,
                   "expected an array with one entry per feature map");
    size_t nsz = json_array_size(sz), nar = json_array_size(ar);
    if (nsz != (size_t)levels || nar != (size_t)levels)
        return bad(nsz != (size_t)levels ? fs : fr,
                   "%zu levels, but the backbone gives %d feature maps",
                   nsz != (size_t)levels ? nsz : nar, levels);
    for (int l = 0; l < levels; l++) {
        char f1[64], f2[64];
        snprintf(f1, sizeof f1, "%s[%d]", fs, l);
        snprintf(f2, sizeof f2, "%s[%d]", fr, l);
        if (get_floats(json_array_get(sz, l), f1, 8, s->anchor_sizes[l], &s->n_sizes[l]) ||
            get_floats(json_array_get(ar, l), f2, 8, s->aspect_ratios[l], &s->n_ratios[l]))
            return -1;
        int A = s->n_sizes[l] * s->n_ratios[l], A0 = s->n_sizes[0] * s->n_ratios[0];
        if (A != A0)
            return bad(f1, "%d anchors per location, but level 0 has %d (torchvision's RPNHead "
                       "needs the same count on every level)", A, A0);
    }
    s->n_levels = levels;
    return 0;
}

static int read_anchors(struct spec *s, const json_t *a, int levels)
{
    static const char *const names[] = { "sizes", "aspect_ratios", NULL };
    if (!a)
        return 0;
    if (only_fields(a, "anchors", names))
        return -1;
    return anchor_lists(s, json_object_get(a, "sizes"), json_object_get(a, "aspect_ratios"),
                        "anchors.sizes", "anchors.aspect_ratios", levels);
}

static int read_roi(struct spec *s, const json_t *r, int maps)
{
    static const char *const names[] = { "output_size", "sampling_ratio", "featmap_count", NULL };
    if (!r)
        return 0;
    if (only_fields(r, "roi", names) ||
        get_int(r, "roi", "output_size", 1, 64, 0, &s->roi_out) ||
        get_int(r, "roi", "sampling_ratio", -1, 64, 0, &s->roi_sampling) ||
        get_int(r, "roi", "featmap_count", 1, maps, 0, &s->roi_maps))
        return -1;
    return 0;
}

static int read_box_head(struct spec *s, const json_t *b)
{
    static const char *const names[] = { "representation_size", NULL };
    if (!b)
        return 0;
    return only_fields(b, "box_head", names) ||
           get_int(b, "box_head", "representation_size", 1, 65536, 0, &s->representation) ? -1 : 0;
}

/* "params": torchvision's inference kwargs, each within the range --set accepts
 * (spec.c's table). */
static int read_params(struct model_params *p, const json_t *v)
{
    if (!v)
        return 0;
    if (!json_is_object(v))
        return bad("params", "expected an object, found %s", sjson_type_name(v));
    const char *key;
    const json_t *x;
    json_object_foreach((json_t *)v, key, x) {
        char f[96], range[96];
        snprintf(f, sizeof f, "params.%.60s", key);
        const struct spec_param *sp = spec_param_find(key);
        if (!sp)
            return bad(f, "unknown parameter (known: %s)", spec_param_names());
        spec_param_range(sp, range, sizeof range);
        double nums[3];
        int n = 0;
        if (json_is_array(x)) {
            for (size_t k = 0; k < json_array_size(x) && n < 3; k++) {
                if (!json_is_number(json_array_get(x, k)))
                    return bad(f, "expected %s", range);
                nums[n++] = json_number_value(json_array_get(x, k));
            }
            if (json_array_size(x) > 3)
                n = 4;   /* too many: refused below */
        } else if (json_is_number(x)) {
            nums[n++] = json_number_value(x);
        }
        if (n < 1 || n > 3 || spec_param_store(sp, nums, n, p))
            return bad(f, "expected %s", range);
    }
    return 0;
}

static int read_classes(const json_t *v, char ***names, int *n)
{
    if (!v)
        return 0;
    if (!json_is_array(v) || json_array_size(v) < 2 || json_array_size(v) > META_MAX_CLASSES)
        return bad("classes", "expected an array of 2 to %d names, background first",
                   META_MAX_CLASSES);
    char **out = calloc(json_array_size(v), sizeof *out);
    if (!out)
        return bad("classes", "out of memory");
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *e = json_array_get(v, i);
        if (json_is_null(e))
            continue;       /* an unnamed class */
        if (!json_is_string(e) || !(out[i] = strdup(json_string_value(e)))) {
            for (size_t j = 0; j < i; j++)
                free(out[j]);
            free(out);
            return !json_is_string(e)
                       ? bad("classes", "entry %zu is %s, not a string or null", i,
                             sjson_type_name(e))
                       : bad("classes", "out of memory");
        }
    }
    *names = out;
    *n = (int)json_array_size(v);
    return 0;
}

/* "colors": one "#rrggbb" or null per class, as many as "classes" (which it
 * needs). *colors: n entries, SPEC_COLOR_SET | 0xrrggbb or 0 for none. */
static int read_colors(const json_t *v, int n, uint32_t **colors)
{
    if (!v)
        return 0;
    if (!n)
        return bad("colors", "needs \"classes\" (one colour per class, background first)");
    if (!json_is_array(v) || (int)json_array_size(v) != n)
        return bad("colors", "expected an array of %d entries (one per class, background "
                   "first): \"#rrggbb\" or null", n);
    uint32_t *out = calloc((size_t)n, sizeof *out);
    if (!out)
        return bad("colors", "out of memory");
    for (int i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, (size_t)i);
        if (json_is_null(e))
            continue;
        const char *t = json_is_string(e) ? json_string_value(e) : NULL;
        unsigned rgb = 0;
        int ok = t && strlen(t) == 7 && t[0] == '#' && strspn(t + 1, "0123456789abcdefABCDEF") == 6;
        if (!ok) {
            free(out);
            return bad("colors", "entry %d: expected \"#rrggbb\" or null", i);
        }
        sscanf(t + 1, "%6x", &rgb);
        out[i] = SPEC_COLOR_SET | rgb;
    }
    *colors = out;
    return 0;
}

/* ---- version 2: a graph and described heads (model/FORMAT.md) ------------------------- */

/* An array of exactly 4 positive numbers (BoxCoder weights). */
static int get_coder(const json_t *o, const char *field, float *out)
{
    int n = 0;
    const json_t *v = json_object_get(o, "box_coder_weights");
    if (!v) return bad(field, "missing");
    if (get_floats(v, field, 4, out, &n)) return -1;
    return n == 4 ? 0 : bad(field, "expected 4 numbers (wx, wy, ww, wh)");
}

static int read_v2_rpn(struct spec *s, const json_t *r, int levels)
{
    static const char *const names[] = { "conv_depth", "anchor_sizes", "aspect_ratios",
                                         "box_coder_weights", NULL };
    if (!r) return bad("rpn", "missing");
    if (only_fields(r, "rpn", names) ||
        get_int(r, "rpn", "conv_depth", 1, SPEC_MAX_HEAD_CONVS, 1, &s->rpn_conv_depth) ||
        get_coder(r, "rpn.box_coder_weights", s->rpn_coder))
        return -1;
    return anchor_lists(s, json_object_get(r, "anchor_sizes"), json_object_get(r, "aspect_ratios"),
                        "rpn.anchor_sizes", "rpn.aspect_ratios", levels);
}

static int read_v2_roi(struct spec *s, const json_t *r, const struct graph *g)
{
    static const char *const names[] = { "featmap_names", "output_size", "sampling_ratio",
                                         "box_coder_weights", NULL };
    if (!r) return bad("roi", "missing");
    if (only_fields(r, "roi", names) ||
        get_int(r, "roi", "output_size", 1, 64, 1, &s->roi_out) ||
        get_int(r, "roi", "sampling_ratio", -1, 64, 1, &s->roi_sampling) ||
        get_coder(r, "roi.box_coder_weights", s->box_coder))
        return -1;
    const json_t *fn = json_object_get(r, "featmap_names");
    if (json_array_size(fn) < 1 || json_array_size(fn) > (size_t)g->n_out)
        return bad("roi.featmap_names", "expected 1 to %d names of graph outputs", g->n_out);
    /* MultiScaleRoIAlign pools the named maps in the backbone's order */
    int n = 0;
    for (int o = 0; o < g->n_out; o++) {
        for (size_t k = 0; k < json_array_size(fn); k++) {
            const json_t *e = json_array_get(fn, k);
            if (json_is_string(e) && !strcmp(json_string_value(e), g->out_name[o])) {
                s->roi_index[n++] = o;
                break;
            }
        }
    }
    for (size_t k = 0; k < json_array_size(fn); k++) {
        const json_t *e = json_array_get(fn, k);
        int found = 0;
        for (int o = 0; o < g->n_out && json_is_string(e); o++)
            found |= !strcmp(json_string_value(e), g->out_name[o]);
        for (size_t j = 0; j < k && found; j++)
            found = !(json_is_string(e) && json_is_string(json_array_get(fn, j)) &&
                      !strcmp(json_string_value(e), json_string_value(json_array_get(fn, j))));
        if (!found) {
            char f[64];
            snprintf(f, sizeof f, "roi.featmap_names[%zu]", k);
            return bad(f, "not a graph output's name, or named twice");
        }
    }
    s->roi_maps = n;
    return 0;
}

static int read_v2_box_head(struct spec *s, const json_t *b)
{
    static const char *const names[] = { "type", "representation_size", "conv_channels", NULL };
    if (!b) return bad("box_head", "missing");
    if (only_fields(b, "box_head", names) ||
        get_int(b, "box_head", "representation_size", 1, 65536, 1, &s->representation))
        return -1;
    const json_t *t = json_object_get(b, "type"), *cc = json_object_get(b, "conv_channels");
    if (t && json_is_string(t) && !strcmp(json_string_value(t), "two_mlp")) {
        if (cc) return bad("box_head.conv_channels", "only with \"conv_fc\"");
        s->box_head_convs = 0;
        return 0;
    }
    if (!t || !json_is_string(t) || strcmp(json_string_value(t), "conv_fc"))
        return bad("box_head.type", "expected \"two_mlp\" (TwoMLPHead) or \"conv_fc\" "
                   "(FastRCNNConvFCHead)");
    if (json_array_size(cc) < 1 || json_array_size(cc) > SPEC_MAX_HEAD_CONVS)
        return bad("box_head.conv_channels", "expected 1 to %d channel counts", SPEC_MAX_HEAD_CONVS);
    for (size_t k = 0; k < json_array_size(cc); k++) {
        int64_t c;
        if (!sjson_int(json_array_get(cc, k), 1, 65536, &c) || c != s->fpn_out)
            return bad("box_head.conv_channels", "this vdetect runs FastRCNNConvFCHead convs "
                       "with out_channels (%d) channels each", s->fpn_out);
    }
    s->box_head_convs = (int)json_array_size(cc);
    return 0;
}

static int read_v2(struct spec *s, const json_t *root)
{
    static const char *const top[] = { "format", "version", "name", "description", "graph",
                                       "out_channels", "rpn", "roi", "box_head", "transform",
                                       "params", "classes", "colors", NULL };
    if (only_fields(root, "", top)) return -1;
    const json_t *name = json_object_get(root, "name");
    if (!json_is_string(name) || !json_string_length(name) ||
        json_string_length(name) >= sizeof s->arch)
        return bad("name", "expected a string of 1 to %zu bytes", sizeof s->arch - 1);
    /* torchvision's FasterRCNN defaults, then the file's every field */
    if (spec_preset(s, "fasterrcnn_resnet50_fpn")) return -1;
    snprintf(s->arch, sizeof s->arch, "%s", json_string_value(name));
    s->p.bn_eps = 1e-5f;   /* unused: every BatchNorm node carries its eps */
    s->backbone = BACKBONE_GRAPH;
    s->pool_level = 0;
    s->graph = calloc(1, sizeof *s->graph);
    if (!s->graph) return bad("graph", "out of memory");
    if (graph_parse(s->graph, json_object_get(root, "graph"))) return -1;
    const json_t *tr = json_object_get(root, "transform");
    static const char *const tr_names[] = { "size_divisible", NULL };
    if (get_int(root, "", "out_channels", 1, 65536, 1, &s->fpn_out) ||
        read_v2_rpn(s, json_object_get(root, "rpn"), s->graph->n_out) ||
        read_v2_roi(s, json_object_get(root, "roi"), s->graph) ||
        read_v2_box_head(s, json_object_get(root, "box_head")))
        return -1;
    if (!tr) return bad("transform", "missing");
    if (only_fields(tr, "transform", tr_names) ||
        get_int(tr, "transform", "size_divisible", 1, 1024, 1, &s->size_divisible))
        return -1;
    if (!json_object_get(root, "params")) return bad("params", "missing");
    return 0;
}

/* ---- entry point ----------------------------------------------------------------------- */

int spec_from_metadata(struct spec *s, const char *json, char ***class_names, int *n_names,
                       uint32_t **colors)
{
    static const char *const top_names[] = { "format", "version", "name", "description",
                                             "backbone", "fpn", "anchors", "roi", "box_head",
                                             "params", "classes", "colors", "graph", "out_channels", "rpn",
                                             "transform", NULL };
    char msg[200];
    int err = -1;
    *class_names = NULL;
    *n_names = 0;
    *colors = NULL;
    struct sjson_limits lim = sjson_default_limits;
    /* the largest torchvision backbone's graph (EfficientNet-B7, ~800 nodes) is ~250 KB
     * and ~20 000 values: ten times that, and a bounded parse of a hostile document */
    lim.max_bytes = (size_t)4 << 20;
    lim.max_values = 200000;
    json_t *root = sjson_load(json, strlen(json), &lim, msg, sizeof msg);
    if (!root) {
        spec_meta_error("(document)", "not valid JSON: %s", msg);
        return -1;
    }
    if (only_fields(root, "", top_names))
        goto done;
    const json_t *ver = json_object_get(root, "version");
    int64_t v_early = 0;
    if (ver && sjson_int(ver, 1, 1000000, &v_early) && v_early == 1) {
        static const char *const v2_only[] = { "graph", "out_channels", "rpn", "transform", NULL };
        for (int i = 0; v2_only[i]; i++)
            if (json_object_get(root, v2_only[i])) {
                bad(v2_only[i], "unknown field in a version 1 file");
                goto done;
            }
    }
    const json_t *fmt = json_object_get(root, "format"), *bb = json_object_get(root, "backbone");
    if (!fmt || !json_is_string(fmt) || strcmp(json_string_value(fmt), "vdetect-model")) {
        bad("format", "expected \"vdetect-model\"");
        goto done;
    }
    int version = 0;
    if (get_int(root, "", "version", 1, 1000000, 1, &version))
        goto done;
    if (version > 2) {
        bad("version", "%d: the file was written by a newer vdetect (this one reads versions 1 "
            "and 2); update vdetect", version);
        goto done;
    }
    if (version == 2) {
        if (read_v2(s, root) || read_params(&s->p, json_object_get(root, "params")) ||
            read_classes(json_object_get(root, "classes"), class_names, n_names) ||
            read_colors(json_object_get(root, "colors"), *n_names, colors))
            goto done;
        err = 0;
        goto done;
    }
    if (!bb || !json_is_object(bb)) {
        bad("backbone", bb ? "expected an object" : "missing");
        goto done;
    }
    const json_t *type = json_object_get(bb, "type");
    if (!type || !json_is_string(type)) {
        bad("backbone.type", "missing (\"vgg\" or \"preset\")");
        goto done;
    }
    const json_t *name = json_object_get(root, "name");
    if (name && (!json_is_string(name) || !json_string_length(name) ||
                 json_string_length(name) >= sizeof s->arch)) {
        bad("name", "expected a string of 1 to %zu bytes", sizeof s->arch - 1);
        goto done;
    }
    const json_t *desc = json_object_get(root, "description");
    if (desc && !json_is_string(desc)) {
        bad("description", "expected a string");
        goto done;
    }

    if (!strcmp(json_string_value(type), "preset")) {
        static const char *const names[] = { "type", "name", NULL };
        static const char *const not_with_preset[] = { "fpn", "anchors", "roi", "box_head" };
        const json_t *pn = json_object_get(bb, "name");
        if (only_fields(bb, "backbone", names))
            goto done;
        if (!pn || !json_is_string(pn)) {
            bad("backbone.name", "missing (a torchvision builder name)");
            goto done;
        }
        for (int i = 0; i < 4; i++) {
            if (json_object_get(root, not_with_preset[i])) {
                bad(not_with_preset[i], "not allowed with a preset backbone (the preset fixes it)");
                goto done;
            }
        }
        if (spec_preset(s, json_string_value(pn)))
            goto done;
    } else if (!strcmp(json_string_value(type), "vgg")) {
        /* start from torchvision's defaults (those of the vgg16 preset), then the file */
        if (spec_preset(s, "fasterrcnn_vgg16_fpn"))
            goto done;
        if (read_vgg(s, bb) || read_fpn(s, json_object_get(root, "fpn")))
            goto done;
        int levels = s->n_vgg_return + (s->pool_level ? 1 : 0);
        if (levels > SPEC_MAX_LEVELS) {
            bad("backbone.return_layers", "too many feature maps (at most %d)", SPEC_MAX_LEVELS);
            goto done;
        }
        s->n_levels = levels;
        s->roi_maps = s->n_vgg_return < 4 ? s->n_vgg_return : 4;
        if (!json_object_get(root, "anchors")) {
            bad("anchors", "missing (a custom backbone has no default anchors)");
            goto done;
        }
        if (read_anchors(s, json_object_get(root, "anchors"), levels) ||
            read_roi(s, json_object_get(root, "roi"), s->n_vgg_return) ||
            read_box_head(s, json_object_get(root, "box_head")))
            goto done;
        vgg_arch_name(s);
    } else {
        bad("backbone.type", "\"%.40s\" is not supported (\"vgg\" or \"preset\")",
            json_string_value(type));
        goto done;
    }
    if (name)
        snprintf(s->arch, sizeof s->arch, "%s", json_string_value(name));
    if (read_params(&s->p, json_object_get(root, "params")) ||
        read_classes(json_object_get(root, "classes"), class_names, n_names) ||
            read_colors(json_object_get(root, "colors"), *n_names, colors))
        goto done;
    err = 0;
done:
    json_decref(root);
    if (err) {   /* nothing half-read goes back */
        for (int i = 0; i < *n_names; i++)
            free((*class_names)[i]);
        free(*class_names);
        free(*colors);
        *class_names = NULL;
        *n_names = 0;
        *colors = NULL;
    }
    return err;
}
