/*
 * cli_model.c — the [model] options every command shares (README.md, Commands) as an
 * option table (options.c parses it and lists it in --help), loading the model
 * they describe, and the output filter they set.
 *
 * --labels FILE: one class name per line, UTF-8, as torchvision lists them:
 * line 1 is the background class ("__background__"), line k+1 names label k.
 * A file with one line fewer than the model's num_classes is taken to hold
 * only the non-background names (label 1 first), as most label files do.
 * Trailing blank lines are ignored; a blank line inside gives that label no
 * name (JSON null). Any other count is an error naming both numbers.
 *
 * --classes a,b,3: keep only these labels, by name (exact, else
 * case-insensitive; every label with that name) or by numeric id.
 *
 * --score-thresh X: keep detections with score >= X. It filters what the model
 * returned; the model's own cut-off is --set box_score_thresh=...
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"

#define DEMO_MODEL "assets/demo.vdm"
#define MAX_LABELS 100000

/* --set NAME=VALUE: name and value checked here, before a slow model load (a
 * misspelt name or a value out of range is a usage error); collected in order. */
static int opt_set(void *dest, const char *cmd, const char *opt, const char *v)
{
    struct cli_model *cm = dest;
    const char *eq = strchr(v, '=');
    if (!eq || eq == v)
        return app_usage_error(cmd, "%s: expected NAME=VALUE, got '%s'", opt, v);
    char why[400];
    if (model_check_set(v, why, sizeof why) < 0)
        return app_usage_error(cmd, "%s", why);
    if (!cm->sets)
        return app_usage_error(cmd, "out of memory");
    cm->sets[cm->nsets++] = v;
    cm->sets[cm->nsets] = NULL;
    return APP_OK;
}

/* Does the --classes list have an empty (or blank) entry: "", ",", "a,,b", "a,"? */
static int classes_empty_entry(const char *list)
{
    const char *p = list;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        size_t k = 0;
        while (k < n && (p[k] == ' ' || p[k] == '\t'))
            k++;
        if (k == n)
            return 1;
        if (!e)
            return 0;
        p = e + 1;
    }
}

/* --classes A,B,...: resolved against the class names once the model is loaded. */
static int opt_classes(void *dest, const char *cmd, const char *opt, const char *v)
{
    struct cli_model *cm = dest;
    if (classes_empty_entry(v))
        return app_usage_error(cmd, "%s: '%s' has an empty entry (expected names or ids "
                                    "separated by commas, e.g. person,3)", opt, v);
    cm->classes = v;
    return APP_OK;
}

const char *app_engine_desc(const struct model *m, char *buf, size_t len)
{
    const char *e = model_engine(m);
    if (!strcmp(e, "openblas")) snprintf(buf, len, "openblas (kernels %s)", model_blas_core());
    else snprintf(buf, len, "%s", e);
    return buf;
}

/* --arch NAME: one of model_arch_names(), checked before a slow model load; a
 * typo gets the closest name, also when it was spelt without the
 * "fasterrcnn_" prefix ("resnet50fpn" -> fasterrcnn_resnet50_fpn). */
static int opt_arch(void *dest, const char *cmd, const char *opt, const char *value)
{
    static const char prefix[] = "fasterrcnn_";
    const char *const *names = model_arch_names();
    struct app_suggest s;
    app_suggest_init(&s, value);
    for (const char *const *p = names; *p; p++) {
        if (!strcmp(*p, value)) {
            *(const char **)dest = value;
            return APP_OK;
        }
        app_suggest_add(&s, *p);
        if (!strncmp(*p, prefix, sizeof prefix - 1))
            app_suggest_add_as(&s, *p + sizeof prefix - 1, *p);
    }
    char known[400];
    size_t o = 0;
    for (const char *const *p = names; *p && o < sizeof known; p++)
        o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", p == names ? "" : ", ", *p);
    if (s.best)
        return app_usage_error(cmd, "%s: unknown architecture '%s' (did you mean '%s'?); known: "
                               "%s", opt, value, s.best, known);
    return app_usage_error(cmd, "%s: unknown architecture '%s'; known: %s", opt, value, known);
}

static int opt_precision(void *dest, const char *cmd, const char *opt, const char *value)
{
    if (strcmp(value, "fp32") && strcmp(value, "bf16") && strcmp(value, "int8"))
        return app_usage_error(cmd, "%s: '%s' is not a precision (fp32, bf16 or int8)", opt,
                               value);
    *(const char **)dest = value;
    return APP_OK;
}

static int opt_engine(void *dest, const char *cmd, const char *opt, const char *value)
{
    if (strcmp(value, "onednn") && strcmp(value, "openblas") && strcmp(value, "auto"))
        return app_usage_error(cmd, "%s: '%s' is not an engine (onednn, openblas or auto)", opt,
                               value);
    *(const char **)dest = value;
    return APP_OK;
}

void cli_model_init(struct cli_model *cm, int argc)
{
    memset(cm, 0, sizeof *cm);
    cm->score_thresh = 0.5;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cm->threads = n > 0 ? (int)n : 1;
    /* at most one --set per argument, plus the terminating NULL */
    cm->sets = calloc((size_t)(argc > 0 ? argc : 0) + 1, sizeof *cm->sets);

    const struct opt opts[] = {
        { .name = "--weights", .arg = "FILE", .kind = OPT_STRING, .dest = &cm->weights,
          .help = "a vdetect model file (.vdm: model/py/export.py writes one\n"
                  "from any torchvision FasterRCNN) or a torchvision .pth\n"
                  "(zip or legacy) state_dict (default: the shipped demo model\n"
                  DEMO_MODEL ")" },
        { .name = "--arch", .arg = "NAME", .kind = OPT_CALL, .dest = &cm->arch, .call = opt_arch,
          .help = "torchvision builder: fasterrcnn_resnet50_fpn,\n"
                  "fasterrcnn_resnet50_fpn_v2, fasterrcnn_mobilenet_v3_large_fpn,\n"
                  "fasterrcnn_mobilenet_v3_large_320_fpn, fasterrcnn_vgg16_fpn\n"
                  "(default: from the model file, or inferred from a .pth's keys:\n"
                  "resnet_fpn_backbone / mobilenet_backbone models, with what was\n"
                  "assumed said on stderr and by `info`)" },
        { .name = "--labels", .arg = "FILE", .kind = OPT_STRING, .dest = &cm->labels,
          .help = "class names, one per line; __background__ first, or\n"
                  "num_classes-1 lines without it" },
        { .name = "--set", .arg = "NAME=VALUE", .kind = OPT_CALL, .dest = cm, .call = opt_set,
          .help = "torchvision inference parameter, repeatable: min_size,\n"
                  "max_size (1..8192), image_mean, image_std,\n"
                  "rpn_pre_nms_top_n_test, rpn_post_nms_top_n_test (1..1000000),\n"
                  "rpn_nms_thresh, rpn_score_thresh, box_score_thresh,\n"
                  "box_nms_thresh, box_detections_per_img (0..1000000),\n"
                  "bn_eps (0..1)" },
        { .name = "--score-thresh", .arg = "X", .kind = OPT_DOUBLE, .dest = &cm->score_thresh,
          .lo = 0, .hi = 1,
          .help = "output only detections with score >= X (default 0.5; the\n"
                  "model's own cut-off is --set box_score_thresh)" },
        { .name = "--classes", .arg = "A,B,...", .kind = OPT_CALL, .dest = cm,
          .call = opt_classes, .help = "output only these classes (names or ids)" },
        { .name = "--threads", .arg = "N", .kind = OPT_INT, .dest = &cm->threads, .lo = 1,
          .hi = 1024, .help = "threads the detector runs on (default: the number of online\n"
                              "CPUs)" },
        { .name = "--engine", .arg = "NAME", .kind = OPT_CALL, .dest = &cm->engine,
          .call = opt_engine,
          .help = "what runs the fp32 matrix products: onednn, openblas or auto\n"
                  "(oneDNN on CPUs with AVX-512, OpenBLAS elsewhere); default:\n"
                  "$VDETECT_ENGINE, else auto. bf16 always runs on oneDNN" },
        { .name = "--precision", .arg = "P", .kind = OPT_CALL, .dest = &cm->precision,
          .call = opt_precision,
          .help = "fp32 (default: torchvision's arithmetic), bf16: convs and\n"
                  "linear layers on bf16 inputs with fp32 sums (fast with\n"
                  "AVX512_BF16 or AMX, slower than fp32 without), or int8: on int8\n"
                  "inputs, ranges from 'vdetect calibrate' (fast with VNNI or AMX);\n"
                  "see man vdetect: --precision" },
        { .kind = OPT_END },
    };
    _Static_assert(sizeof opts == sizeof cm->opts, "cli_model.opts holds the model options");
    memcpy(cm->opts, opts, sizeof opts);
}

/* dir/rel if it is a regular file (malloc()ed), else NULL. */
static char *file_in(const char *dir, const char *rel)
{
    char *p = NULL;
    struct stat st;
    if (asprintf(&p, "%s/%s", dir, rel) < 0)
        return NULL;
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
        return p;
    free(p);
    return NULL;
}

/* dir-of-the-executable/rel if it is a regular file (malloc()ed), else NULL. */
static char *find_asset_exe(const char *rel)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            return file_in(slash == exe ? "/" : exe, rel);
        }
    }
    return NULL;
}

/* rel next to the executable, else in the current directory. */
static char *find_asset_here(const char *rel)
{
    char *p = find_asset_exe(rel);
    return p ? p : file_in(".", rel);
}

/* An asset shipped with vdetect: next to the executable (the build tree), else
 * in the current directory. The installed binary (`make install` compiles it
 * with -DVDETECT_DATADIR="PREFIX/share/vdetect") then tries ../share/vdetect/
 * beside its own directory (a prefix staged with DESTDIR or moved elsewhere)
 * and last VDETECT_DATADIR, both holding the file without its "assets/". */
static char *find_asset(const char *rel)
{
    char *p = find_asset_here(rel);
#ifdef VDETECT_DATADIR
    const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    char share[PATH_MAX];
    if (!p && (size_t)snprintf(share, sizeof share, "../share/vdetect/%s", base) < sizeof share)
        p = find_asset_exe(share);
    if (!p)
        p = file_in(VDETECT_DATADIR, base);
#endif
    return p;
}

char *cli_model_default_weights(void)
{
    return find_asset(DEMO_MODEL);
}

/* What a non-regular file is, for messages. */
static const char *file_kind(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a file";
}

static void strip_line(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' ||
                     s[n - 1] == '\t'))
        s[--n] = '\0';
}

/* Read --labels into cm->names, matched to the model's class count. */
static int load_labels(struct cli_model *cm)
{
    const char *path = cm->labels;
    int nc = model_num_classes(cm->model);
    struct stat st;
    if (stat(path, &st) != 0) {
        return app_error("labels %s: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return app_error("labels %s: not a regular file (%s)", path, file_kind(st.st_mode));
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        return app_error("labels %s: %s", path, strerror(errno));
    }
    char **lines = NULL, *line = NULL;
    size_t cap = 0, nlines = 0, lcap = 0;
    ssize_t len;
    int ret = APP_FAIL;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        if (memchr(line, '\0', (size_t)len)) {
            app_error("labels %s: line %zu contains a NUL byte (not a text file?)", path,
                      nlines + 1);
            goto done;
        }
        strip_line(line);
        char *s = line;
        if (nlines == 0 && !strncmp(s, "\xef\xbb\xbf", 3))
            s += 3; /* UTF-8 byte-order mark */
        if (nlines >= MAX_LABELS) {
            app_error("labels %s: more than %d lines", path, MAX_LABELS);
            goto done;
        }
        if (nlines == cap) {
            size_t ncap = cap ? 2 * cap : 128;
            char **nl = realloc(lines, ncap * sizeof *nl);
            if (!nl)
                goto oom;
            lines = nl;
            cap = ncap;
        }
        if (!(lines[nlines] = strdup(s)))
            goto oom;
        nlines++;
    }
    if (ferror(f)) {
        app_error("labels %s: %s", path, strerror(errno));
        goto done;
    }
    while (nlines > 0 && lines[nlines - 1][0] == '\0')
        free(lines[--nlines]);

    if (nlines == (size_t)nc - 1) {
        /* only the foreground names: put the background in front */
        if (nlines == cap) {
            char **nl = realloc(lines, (cap + 1) * sizeof *nl);
            if (!nl)
                goto oom;
            lines = nl;
            cap++;
        }
        memmove(lines + 1, lines, nlines * sizeof *lines);
        if (!(lines[0] = strdup("__background__")))
            goto oom;
        nlines++;
    } else if (nlines != (size_t)nc) {
        app_error("labels %s: %zu names, but the model has %d classes (expected %d lines with "
                  "__background__ first, or %d without)", path, nlines, nc, nc, nc - 1);
        goto done;
    }
    if (model_set_class_names(cm->model, (const char *const *)lines, (int)nlines) < 0)
        goto done;
    cm->names = lines;
    cm->nnames = (int)nlines;
    lines = NULL;
    nlines = 0;
    ret = APP_OK;
    goto done;
oom:
    app_error("labels %s: out of memory", path);
done:
    for (size_t i = 0; i < nlines; i++)
        free(lines[i]);
    free(lines);
    free(line);
    fclose(f);
    return ret;
}

/* Resolve --classes into cm->keep_class. */
static int resolve_classes(struct cli_model *cm, const char *cmd)
{
    int nc = model_num_classes(cm->model);
    char *list = strdup(cm->classes), *save = NULL;
    cm->keep_class = calloc((size_t)(nc > 0 ? nc : 1), 1);
    if (!list || !cm->keep_class) {
        free(list);
        return app_error("out of memory");
    }
    int ret = APP_OK;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        strip_line(tok);
        if (!*tok) {
            ret = app_usage_error(cmd, "--classes: empty entry in '%s'", cm->classes);
            break;
        }
        char *end = NULL;
        long id = strtol(tok, &end, 10);
        if (*end == '\0' && end != tok) {
            if (id < 1 || id >= nc) {
                ret = app_usage_error(cmd, "--classes: id %s is out of range 1..%d", tok,
                                      nc - 1);
                break;
            }
            cm->keep_class[id] = 1;
            continue;
        }
        int found = 0;
        for (int pass = 0; pass < 2 && !found; pass++) {
            for (int l = 1; l < nc; l++) {
                const char *name = cli_model_class_name(cm, l);
                if (name && (pass ? !strcasecmp(name, tok) : !strcmp(name, tok))) {
                    cm->keep_class[l] = 1;
                    found = 1;
                }
            }
        }
        if (!found) {
            char known[512];
            size_t o = 0;
            int shown = 0;
            for (int l = 1; l < nc && o < sizeof known; l++) {
                const char *name = cli_model_class_name(cm, l);
                if (!name || !strcmp(name, "N/A"))
                    continue;
                if (shown == 12) {
                    o += (size_t)snprintf(known + o, sizeof known - o, ", ...");
                    break;
                }
                o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", shown ? ", " : "",
                                      name);
                shown++;
            }
            if (shown)
                ret = app_usage_error(cmd, "--classes: no class named '%s' (this model's: %s; "
                                      "or ids 1..%d; vdetect info lists them)", tok, known,
                                      nc - 1);
            else
                ret = app_usage_error(cmd, "--classes: no class named '%s' (this model has no "
                                      "class names: use ids 1..%d, or --labels)", tok, nc - 1);
            break;
        }
    }
    free(list);
    return ret;
}

int cli_model_load(struct cli_model *cm, const char *cmd)
{
    struct stat st;
    if (!cm->sets)
        return app_error("out of memory");
    if (cm->weights) {
        if (stat(cm->weights, &st) != 0)
            return app_error("weights %s: %s", cm->weights, strerror(errno));
        if (!S_ISREG(st.st_mode)) {
            /* a FIFO or a device would block or never end: only files are read */
            return app_error("weights %s: not a regular file (%s)", cm->weights,
                             file_kind(st.st_mode));
        }
        cm->weights_path = strdup(cm->weights);
    } else {
        cm->weights_path = find_asset(DEMO_MODEL);
        if (!cm->weights_path) {
#ifdef VDETECT_DATADIR
            app_error("no --weights given and the demo model is not present (neither "
                      DEMO_MODEL " nor " VDETECT_DATADIR "/demo.vdm)");
#else
            app_error("no --weights given and the demo model " DEMO_MODEL " is not present");
#endif
            return APP_FAIL;
        }
    }
    if (!cm->weights_path)
        return app_error("out of memory");

    struct model_options opt = {
        .weights = cm->weights_path,
        .arch = cm->arch,
        .sets = cm->nsets ? cm->sets : NULL,
        .threads = cm->threads,
        .engine = cm->engine,
        .precision = cm->precision,
    };
    if (model_load(&cm->model, &opt) < 0)
        return APP_FAIL;
    if (model_num_classes(cm->model) < 2) {
        return app_error("weights %s: the model has no object classes", cm->weights_path);
    }
    if (cm->labels) {
        int r = load_labels(cm);
        if (r != APP_OK)
            return r;
    }
    if (cm->classes)
        return resolve_classes(cm, cmd);
    return APP_OK;
}

void cli_model_free(struct cli_model *cm)
{
    model_free(&cm->model);
    for (int i = 0; i < cm->nnames; i++)
        free(cm->names[i]);
    free(cm->names);
    free(cm->keep_class);
    free(cm->weights_path);
    free(cm->sets);
    memset(cm, 0, sizeof *cm);
}

const char *cli_model_class_name(const struct cli_model *cm, int label)
{
    const char *name = NULL;
    if (cm->names) {
        if (label >= 0 && label < cm->nnames)
            name = cm->names[label];
    } else if (cm->model) {
        name = model_class_name(cm->model, label);
    }
    return name && *name ? name : NULL;
}

int cli_model_keep_class(const struct cli_model *cm, int label)
{
    if (!cm->keep_class)
        return 1;
    return label >= 0 && label < model_num_classes(cm->model) && cm->keep_class[label];
}

int cli_model_keep(const struct cli_model *cm, const struct model_detection *d)
{
    return d->score >= (float)cm->score_thresh && cli_model_keep_class(cm, d->label);
}
