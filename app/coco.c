/*
 * coco.c — COCO truth, detections and pycocotools' COCOeval arithmetic (bbox,
 * area "all", maxDets 100) for `vdetect eval`; see coco.h.
 *
 * The files are read with jansson, strictly (duplicate keys and "\u0000"
 * refused, JSON_DECODE_ANY so that any JSON value parses and a non-object is
 * refused as "not COCO"), from length-bounded text. The size is checked
 * before parsing: 1 GiB for the truth, 16 MiB for a line of detections.
 *
 * Memory: jansson has no limit on the number of values, and a value costs it
 * 20 to 220 bytes (a hostile file of `[{},{},...]` 72 times its size), so
 * each parse runs on a budget of COCO_BUDGET(bytes). jansson's allocator is
 * process-global (json_set_alloc_funcs), so it is set once, by the first
 * parse here (vdetect eval reads the truth before it starts any thread), to
 * counting functions that charge the calling thread's budget (_Thread_local)
 * while one is set — only inside coco_json_load() — and are plain malloc and
 * free otherwise: other jansson users (model/'s readers) are unaffected, and
 * two threads parsing at once each spend their own budget. Every allocation
 * is charged and no free credited back (jansson frees its growing buffers as
 * it goes), so the budget bounds the peak from above.
 *
 * Depth: jansson's parser recurses, up to JSON_PARSER_MAX_DEPTH (2048)
 * levels; a few hundred KB of stack at most, which the main thread (where
 * vdetect eval reads these files) has.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "app.h"
#include "coco.h"

#define TRUTH_MAX_BYTES ((size_t)1 << 30)
#define DETS_LINE_MAX_BYTES ((size_t)16 << 20)
/* what jansson may allocate to read n bytes: a real COCO file (numbers, short
 * arrays, small objects) takes 6 to 9 times its size, `[{},{},...]` 72 */
#define COCO_BUDGET(n) ((size_t)(n) * 16 + ((size_t)16 << 20))

struct gt {
    int img, cat;            /* dense indices */
    double box[4];           /* x, y, w, h */
    int ignore, crowd;
    int order;               /* position in the file, for stable sorting */
};

struct det {
    int img, cat;
    double box[4];
    double score;
    int order;
};

struct idx { int64_t id; int index; };

struct coco {
    struct coco_image *img;  /* in the file's order */
    int nimg;
    struct coco_category *cat;
    int ncat;
    struct gt *gt;           /* img: rank (ascending id order) */
    int ngt;
    struct det *det;
    int ndet, capdet;
    struct idx *cat_by_id;   /* sorted by id */
    struct idx *order;       /* order[rank].index: the image in the file's order */
    int *rank;               /* rank[file index] */
    char *path;              /* the truth file's name, for messages */
    struct idx *by_frame;    /* images by frame number (built on the first frame lookup) */
    int nframes;             /* entries of by_frame; -1: frames cannot be mapped */
};

/* ---- reading the truth --------------------------------------------------------------- */

static int cmp_idx(const void *a, const void *b)
{
    const struct idx *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static int find_idx(const struct idx *v, int n, int64_t id)
{
    struct idx key = { id, 0 };
    const struct idx *r = bsearch(&key, v, (size_t)n, sizeof *v, cmp_idx);
    return r ? r->index : -1;
}

/* "vdetect eval: KIND PATH: message" (app_error's line); returns -1. */
static int file_fail(const char *kind, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int file_fail(const char *kind, const char *path, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    app_error("%s %s: %s", kind, path, msg);
    return -1;
}

#define truth_fail(path, ...) file_fail("truth", path, __VA_ARGS__)

/* ---- jansson on a budget (see the top of the file) ------------------------------------ */

struct budget {
    size_t left;
    int exceeded;
};

static _Thread_local struct budget *thread_budget;   /* set only inside coco_json_load() */
static pthread_once_t alloc_once = PTHREAD_ONCE_INIT;

static void *budget_malloc(size_t n)
{
    struct budget *b = thread_budget;
    if (b) {
        if (n > b->left) {
            b->exceeded = 1;
            return NULL;
        }
        b->left -= n;
    }
    return malloc(n);
}

static void install_alloc(void)
{
    json_set_alloc_funcs(budget_malloc, free);
}

/* text[0..len) (not NUL-terminated) as one JSON value within COCO_BUDGET(len),
 * or NULL with the problem in err and where it is in *line, *column (0 when
 * it is the budget). */
static json_t *coco_json_load(const char *text, size_t len, char *err, size_t errcap, int *line,
                              int *column)
{
    pthread_once(&alloc_once, install_alloc);
    struct budget b = { COCO_BUDGET(len), 0 };
    json_error_t je;
    thread_budget = &b;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    thread_budget = NULL;
    *line = *column = 0;
    if (v)
        return v;
    if (b.exceeded) {
        snprintf(err, errcap, "reading it would take more than %zu MB of memory: refused",
                 COCO_BUDGET(len) >> 20);
    } else {
        enum json_error_code code = json_error_code(&je);
        snprintf(err, errcap, "%s%s", code == json_error_invalid_utf8 ? "invalid UTF-8: " : "",
                 code == json_error_null_character ? "\\u0000 in a string is not allowed"
                                                   : je.text);
        *line = je.line;
        *column = je.column;
    }
    return NULL;
}

/* v is a number with an integral value in [lo, hi] (an integer, or a real
 * within +-2^53, as 1e3): 1 and *out set; else 0 (also for v NULL). */
static int as_int(const json_t *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < lo || i > hi) return 0;
        *out = (int64_t)i;
        return 1;
    }
    /* a real: whole, and exactly an integer a double can hold */
    double d = json_is_real(v) ? json_real_value(v) : 0.5;
    if (d != floor(d) || fabs(d) > 9007199254740992.0 || d < (double)lo || d > (double)hi)
        return 0;
    *out = (int64_t)d;
    return 1;
}

/* Does file_name (len bytes) stay inside the --images directory? Relative,
 * no NUL inside, no ".." component; "." and empty components are harmless. */
static int name_inside(const char *name, size_t len)
{
    if (strlen(name) != len || name[0] == '/')
        return 0;
    for (const char *p = name; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 0;
        p += n;
        while (*p == '/')
            p++;
    }
    return 1;
}

/* The whole file (NUL-terminated, *len bytes before the NUL); NULL with
 * "KIND PATH: reason" reported. */
static char *read_file(const char *kind, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        file_fail(kind, path, "%s", strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = cap < ((size_t)1 << 30) ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                buf = NULL;
                file_fail(kind, path, "too large or out of memory");
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - 1 - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                file_fail(kind, path, "read error");
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    if (buf)
        buf[n] = '\0';
    fclose(f);
    *len = n;
    return buf;
}

/* The last run of digits in the last component of name ("clip/frame_0042.png":
 * 42), or -1 when there is none (or it is longer than 18 digits). */
static int64_t number_in_name(const char *name)
{
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    const char *end = NULL;
    for (const char *p = base; *p; p++)
        if (*p >= '0' && *p <= '9')
            end = p + 1;
    if (!end)
        return -1;
    const char *start = end;
    while (start > base && start[-1] >= '0' && start[-1] <= '9')
        start--;
    if (end - start > 18)
        return -1;
    int64_t n = 0;
    for (const char *p = start; p < end; p++)
        n = n * 10 + (*p - '0');
    return n;
}

/* ---- what a file is ------------------------------------------------------------------------ */

static enum coco_kind sniff_value(const json_t *v)
{
    if (json_is_object(v)) {
        if (json_object_get(v, "images") || json_object_get(v, "annotations"))
            return COCO_KIND_TRUTH;
        if (json_object_get(v, "per_class") && json_object_get(v, "ap"))
            return COCO_KIND_REPORT;
        if (json_is_array(json_object_get(v, "detections"))) {
            if (json_is_string(json_object_get(v, "image")))
                return COCO_KIND_DETECT_LINES;
            if (json_is_integer(json_object_get(v, "frame")))
                return COCO_KIND_ANNOTATE_LINES;
        }
        return COCO_KIND_UNKNOWN;
    }
    if (json_is_array(v)) {
        const json_t *first = json_array_get(v, 0);
        if (!first)
            return COCO_KIND_RESULTS;   /* what annotate --coco writes for no detections */
        if (json_object_get(first, "image_id") && json_object_get(first, "bbox"))
            return COCO_KIND_RESULTS;
    }
    return COCO_KIND_UNKNOWN;
}

enum coco_kind coco_sniff(const char *text, size_t len)
{
    char msg[200];
    int line, col;
    if (len > TRUTH_MAX_BYTES)
        return COCO_KIND_UNKNOWN;
    json_t *v = coco_json_load(text, len, msg, sizeof msg, &line, &col);
    enum coco_kind k = COCO_KIND_UNKNOWN;
    if (v) {
        k = sniff_value(v);
        json_decref(v);
        return k;
    }
    /* not one JSON text: JSON Lines, judged by the first line that is not blank */
    size_t at = 0;
    while (at < len && (text[at] == ' ' || text[at] == '\t' || text[at] == '\r' ||
                        text[at] == '\n'))
        at++;
    const char *nl = memchr(text + at, '\n', len - at);
    size_t end = nl ? (size_t)(nl - text) : len;
    if (at < end && end - at <= DETS_LINE_MAX_BYTES &&
        (v = coco_json_load(text + at, end - at, msg, sizeof msg, &line, &col))) {
        k = sniff_value(v);
        json_decref(v);
        if (k != COCO_KIND_DETECT_LINES && k != COCO_KIND_ANNOTATE_LINES)
            k = COCO_KIND_UNKNOWN;
        return k;
    }
    /* a COCO results array a killed annotate left without its "]" */
    if (at < len && text[at] == '[' && nl) {
        const char *second = nl + 1;
        const char *nl2 = memchr(second, '\n', (size_t)(text + len - second));
        size_t n2 = nl2 ? (size_t)(nl2 - second) : (size_t)(text + len - second);
        if (n2 > 0 && second[n2 - 1] == ',')
            n2--;
        if (n2 > 0 && n2 <= DETS_LINE_MAX_BYTES &&
            (v = coco_json_load(second, n2, msg, sizeof msg, &line, &col))) {
            if (json_object_get(v, "image_id") && json_object_get(v, "bbox"))
                k = COCO_KIND_RESULTS;
            json_decref(v);
        }
    }
    return k;
}

const char *coco_kind_hint(enum coco_kind k)
{
    switch (k) {
    case COCO_KIND_TRUTH:
        return "this looks like COCO ground truth (\"images\", \"annotations\"): pass it with "
               "--truth";
    case COCO_KIND_RESULTS:
        return "this looks like a COCO results array (what annotate --coco writes): pass it "
               "with --coco";
    case COCO_KIND_DETECT_LINES:
        return "this looks like detect's JSON Lines (one object per image): pass it with "
               "--detections";
    case COCO_KIND_ANNOTATE_LINES:
        return "this looks like annotate's JSON Lines (one object per frame): pass it with "
               "--detections";
    case COCO_KIND_REPORT:
        return "this looks like eval's own report (eval --json writes it), not an input";
    case COCO_KIND_UNKNOWN:
        break;
    }
    return NULL;
}

/* Sorts sorted[0..n) and rejects duplicate ids. */
static int index_ids(const char *path, const char *what, struct idx *sorted, int n)
{
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_idx);
    for (int i = 0; i + 1 < n; i++)
        if (sorted[i].id == sorted[i + 1].id)
            return truth_fail(path, "%s id %lld appears twice", what, (long long)sorted[i].id);
    return 0;
}

/* Fills e from the COCO text; on success the images are also ranked by id
 * (e->order, e->rank) and the ground truth refers to them by rank. */
static int parse_truth(struct coco *e, const char *text, size_t len, const char *path)
{
    json_t *root = NULL;
    char msg[200];
    struct idx *imgs = NULL, *cats = NULL;
    int err = -1;
    if (len > TRUTH_MAX_BYTES) {
        truth_fail(path, "%zu bytes is larger than a COCO file's limit of %zu MB", len,
                   TRUTH_MAX_BYTES >> 20);
        goto done;
    }
    int line, col;
    if (!(root = coco_json_load(text, len, msg, sizeof msg, &line, &col))) {
        enum coco_kind k = coco_sniff(text, len);
        if (k != COCO_KIND_UNKNOWN && k != COCO_KIND_TRUTH)
            truth_fail(path, "not COCO ground truth: %s", coco_kind_hint(k));
        else if (line)
            truth_fail(path, "not valid JSON: at line %d, column %d: %s", line, col, msg);
        else
            truth_fail(path, "%s", msg);
        goto done;
    }
    const json_t *ji = json_object_get(root, "images"), *ja = json_object_get(root, "annotations"),
                 *jc = json_object_get(root, "categories");
    if (!json_is_array(ji) || !json_is_array(ja) || !json_is_array(jc)) {
        enum coco_kind k = sniff_value(root);
        if (k != COCO_KIND_UNKNOWN && k != COCO_KIND_TRUTH)
            truth_fail(path, "not COCO ground truth: %s", coco_kind_hint(k));
        else
            truth_fail(path, "expected a COCO object with \"images\", \"annotations\" and "
                       "\"categories\" arrays");
        goto done;
    }
    size_t nimg = json_array_size(ji), nann = json_array_size(ja), ncat = json_array_size(jc);
    size_t frame_fields = 0;   /* images with a "frame" field */
    e->img = calloc(nimg + 1, sizeof *e->img);
    e->cat = calloc(ncat + 1, sizeof *e->cat);
    e->gt = calloc(nann + 1, sizeof *e->gt);
    imgs = calloc(nimg + 1, sizeof *imgs);
    cats = calloc(ncat + 1, sizeof *cats);
    if (!e->img || !e->cat || !e->gt || !imgs || !cats || nimg > 10000000 || ncat > 100000) {
        truth_fail(path, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nimg; i++) {
        const json_t *v = json_array_get(ji, i), *fn = json_object_get(v, "file_name");
        int64_t id, w = 0, h = 0, frame = -1;
        if (!as_int(json_object_get(v, "id"), INT64_MIN / 2, INT64_MAX / 2, &id) || !fn ||
            !json_is_string(fn) || !json_string_length(fn)) {
            truth_fail(path, "images[%zu]: needs an integer \"id\" and a \"file_name\"", i);
            goto done;
        }
        if (!name_inside(json_string_value(fn), json_string_length(fn))) {
            truth_fail(path, "images[%zu]: file_name \"%.200s\" leads out of the images "
                       "directory (absolute, or a \"..\" component): refused", i,
                       json_string_value(fn));
            goto done;
        }
        as_int(json_object_get(v, "width"), 1, 1 << 20, &w);
        as_int(json_object_get(v, "height"), 1, 1 << 20, &h);
        if (as_int(json_object_get(v, "frame"), 0, INT64_MAX / 2, &frame))
            frame_fields++;
        if (!(e->img[i].file = strdup(json_string_value(fn)))) {
            truth_fail(path, "out of memory");
            goto done;
        }
        e->img[i].id = id;
        e->img[i].width = (int)w;
        e->img[i].height = (int)h;
        e->img[i].frame = frame;
        imgs[i] = (struct idx){ id, (int)i };
        e->nimg++;
    }
    for (size_t i = 0; i < ncat; i++) {
        const json_t *v = json_array_get(jc, i), *nm = json_object_get(v, "name");
        int64_t id;
        if (!as_int(json_object_get(v, "id"), INT64_MIN / 2, INT64_MAX / 2, &id)) {
            truth_fail(path, "categories[%zu]: needs an integer \"id\"", i);
            goto done;
        }
        e->cat[i].id = id;
        e->cat[i].evaluated = 1;
        if (json_is_string(nm) && !(e->cat[i].name = strdup(json_string_value(nm)))) {
            truth_fail(path, "out of memory");
            goto done;
        }
        cats[i] = (struct idx){ id, (int)i };
        e->ncat++;
    }
    /* without any "frame" field, the number in each file_name is its frame */
    for (int i = 0; i < e->nimg && !frame_fields; i++)
        e->img[i].frame = number_in_name(e->img[i].file);
    if (index_ids(path, "image", imgs, e->nimg) || index_ids(path, "category", cats, e->ncat))
        goto done;
    for (size_t i = 0; i < nann; i++) {
        const json_t *v = json_array_get(ja, i), *bb = json_object_get(v, "bbox");
        int64_t im, c, flag;
        int ii, ci;
        if (!as_int(json_object_get(v, "image_id"), INT64_MIN / 2, INT64_MAX / 2, &im) ||
            (ii = find_idx(imgs, e->nimg, im)) < 0) {
            truth_fail(path, "annotations[%zu]: \"image_id\" is missing or not a listed image", i);
            goto done;
        }
        if (!as_int(json_object_get(v, "category_id"), INT64_MIN / 2, INT64_MAX / 2, &c) ||
            (ci = find_idx(cats, e->ncat, c)) < 0) {
            truth_fail(path, "annotations[%zu]: \"category_id\" is missing or not a listed "
                       "category", i);
            goto done;
        }
        if (!json_is_array(bb) || json_array_size(bb) != 4) {
            truth_fail(path, "annotations[%zu]: \"bbox\" must be [x, y, w, h]", i);
            goto done;
        }
        struct gt *g = &e->gt[e->ngt];
        for (int k = 0; k < 4; k++) {
            const json_t *x = json_array_get(bb, (size_t)k);
            if (!json_is_number(x) || !isfinite(json_number_value(x)) ||
                (k >= 2 && json_number_value(x) < 0)) {
                truth_fail(path, "annotations[%zu]: bad \"bbox\" entry %d", i, k);
                goto done;
            }
            g->box[k] = json_number_value(x);
        }
        g->img = ii;
        g->cat = ci;
        g->crowd = as_int(json_object_get(v, "iscrowd"), 0, 1, &flag) && flag;
        g->ignore = g->crowd;   /* pycocotools overwrites any "ignore" field with iscrowd */
        g->order = e->ngt++;
        e->cat[ci].ngt += !g->ignore;
    }
    /* images in ascending id order (pycocotools' imgIds): imgs is that order, cats
     * the categories by id */
    if (!(e->rank = calloc((size_t)e->nimg + 1, sizeof *e->rank))) {
        truth_fail(path, "out of memory");
        goto done;
    }
    for (int r = 0; r < e->nimg; r++)
        e->rank[imgs[r].index] = r;
    for (int g = 0; g < e->ngt; g++)
        e->gt[g].img = e->rank[e->gt[g].img];
    e->order = imgs;
    e->cat_by_id = cats;
    imgs = cats = NULL;
    err = 0;
done:
    free(imgs);
    free(cats);
    json_decref(root);
    return err;
}

struct coco *coco_parse_truth(const char *text, size_t len, const char *name)
{
    struct coco *e = calloc(1, sizeof *e);
    if (!e || !(e->path = strdup(name))) {
        truth_fail(name, "out of memory");
        free(e);
        return NULL;
    }
    if (parse_truth(e, text, len, name)) {
        coco_free(e);
        return NULL;
    }
    return e;
}

struct coco *coco_load_truth(const char *path)
{
    size_t len = 0;
    char *text = read_file("truth", path, &len);
    if (!text)
        return NULL;
    struct coco *e = coco_parse_truth(text, len, path);
    free(text);
    return e;
}

void coco_free(struct coco *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->nimg; i++)
        free(e->img[i].file);
    for (int i = 0; i < e->ncat; i++)
        free(e->cat[i].name);
    free(e->img);
    free(e->cat);
    free(e->gt);
    free(e->det);
    free(e->cat_by_id);
    free(e->order);
    free(e->rank);
    free(e->path);
    free(e->by_frame);
    free(e);
}

int coco_num_images(const struct coco *e)
{
    return e->nimg;
}

const struct coco_image *coco_image(const struct coco *e, int index)
{
    return index >= 0 && index < e->nimg ? &e->img[e->order[index].index] : NULL;
}

int coco_num_categories(const struct coco *e)
{
    return e->ncat;
}

const struct coco_category *coco_category(const struct coco *e, int index)
{
    return index >= 0 && index < e->ncat ? &e->cat[index] : NULL;
}

void coco_set_evaluated(struct coco *e, int index, int on)
{
    if (index >= 0 && index < e->ncat)
        e->cat[index].evaluated = !!on;
}

/* ---- scoring ------------------------------------------------------------------------------ */

static int cmp_gt(const void *a, const void *b)
{
    const struct gt *x = a, *y = b;
    if (x->cat != y->cat) return x->cat - y->cat;
    if (x->img != y->img) return x->img - y->img;
    if (x->ignore != y->ignore) return x->ignore - y->ignore;
    return x->order - y->order;
}

static int cmp_det(const void *a, const void *b)
{
    const struct det *x = a, *y = b;
    if (x->cat != y->cat) return x->cat - y->cat;
    if (x->img != y->img) return x->img - y->img;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->order - y->order;
}

/* pycocotools maskUtils.iou for boxes: over the det's own area for a crowd */
static double box_iou(const double *d, const double *g, int crowd)
{
    double w = fmin(d[0] + d[2], g[0] + g[2]) - fmax(d[0], g[0]);
    double h = fmin(d[1] + d[3], g[1] + g[3]) - fmax(d[1], g[1]);
    if (w <= 0 || h <= 0)
        return 0;
    double inter = w * h, da = d[2] * d[3];
    double u = crowd ? da : da + g[2] * g[3] - inter;
    return inter / u;
}

/* One scored detection of a category (over all images). */
struct scored {
    double score;
    int seq;                        /* concatenation order (image order, then rank) */
    unsigned char tp[COCO_NT], ig[COCO_NT];
};

static int cmp_scored(const void *a, const void *b)
{
    const struct scored *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->seq - y->seq;       /* numpy's mergesort is stable */
}

static void thresholds(double t[COCO_NT])
{
    /* np.linspace(.5, 0.95, 10) */
    double step = (0.95 - 0.5) / (COCO_NT - 1);
    for (int i = 0; i < COCO_NT; i++)
        t[i] = i * step + 0.5;
    t[COCO_NT - 1] = 0.95;
}

/* Match one image's dets d[0..nd) (sorted, at most 100) to its gts g[0..ng) (not
 * ignored first) at every threshold; results into out[0..nd). */
static void match_image(const struct det *d, int nd, const struct gt *g, int ng, int seq0,
                        struct scored *out, double *iou)
{
    double thr[COCO_NT];
    thresholds(thr);
    for (int i = 0; i < nd; i++)
        for (int j = 0; j < ng; j++)
            iou[(size_t)i * ng + j] = box_iou(d[i].box, g[j].box, g[j].crowd);
    unsigned char gm[COCO_NT * 1024];
    unsigned char *gmatched = ng <= 1024 ? gm : calloc((size_t)COCO_NT * ng, 1);
    if (!gmatched) {                /* out of memory: count as unmatched */
        for (int i = 0; i < nd; i++)
            out[i] = (struct scored){ .score = d[i].score, .seq = seq0 + i };
        return;
    }
    memset(gmatched, 0, (size_t)COCO_NT * (ng <= 1024 ? 1024 : ng));
    for (int i = 0; i < nd; i++) {
        out[i] = (struct scored){ .score = d[i].score, .seq = seq0 + i };
        for (int t = 0; t < COCO_NT; t++) {
            double best = fmin(thr[t], 1 - 1e-10);
            int m = -1;
            for (int j = 0; j < ng; j++) {
                if (gmatched[t * (size_t)ng + j] && !g[j].crowd)
                    continue;
                if (m > -1 && !g[m].ignore && g[j].ignore)
                    break;
                if (iou[(size_t)i * ng + j] < best)
                    continue;
                best = iou[(size_t)i * ng + j];
                m = j;
            }
            if (m == -1)
                continue;
            out[i].ig[t] = (unsigned char)g[m].ignore;
            out[i].tp[t] = 1;
            gmatched[t * (size_t)ng + m] = 1;
        }
    }
    if (gmatched != gm)
        free(gmatched);
}

/* AP per threshold for one category from its scored dets. */
static void category_ap(struct scored *s, int n, int npos, double ap[COCO_NT])
{
    qsort(s, (size_t)n, sizeof *s, cmp_scored);
    double *pr = malloc(sizeof(double) * (size_t)(n ? n : 1));
    double *rc = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int t = 0; t < COCO_NT; t++) {
        ap[t] = 0;
        if (!pr || !rc)
            continue;
        double tp = 0, fp = 0;
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (s[i].ig[t])
                continue;    /* matched to an ignored gt: neither TP nor FP */
            if (s[i].tp[t]) tp++;
            else fp++;
            rc[k] = tp / npos;
            pr[k] = tp / (fp + tp + 2.220446049250313e-16);
            k++;
        }
        for (int i = k - 1; i > 0; i--)
            if (pr[i] > pr[i - 1])
                pr[i - 1] = pr[i];
        double sum = 0;
        int j = 0;
        for (int r = 0; r < COCO_NR; r++) {
            double rt = r == COCO_NR - 1 ? 1.0 : r * (1.0 / (COCO_NR - 1));
            while (j < k && rc[j] < rt)   /* searchsorted(rc, rt, 'left') */
                j++;
            if (j >= k)
                break;
            sum += pr[j];
        }
        ap[t] = sum / COCO_NR;
    }
    free(pr);
    free(rc);
}

/*
 * pycocotools keeps ignored detections in the cumulative sums as neither TP
 * nor FP but still as entries of rc/pr; with tps = dtm & ~dtIg and fps =
 * ~dtm & ~dtIg an ignored det repeats the previous rc/pr values, which does
 * not change the interpolated precision, so skipping them is equivalent.
 */

int coco_evaluate(struct coco *e)
{
    qsort(e->gt, (size_t)e->ngt, sizeof *e->gt, cmp_gt);
    /* e->det is NULL until the first detection; qsort and &e->det[i] want an array */
    if (!e->det && !(e->det = malloc(sizeof *e->det)))
        return -1;
    qsort(e->det, (size_t)e->ndet, sizeof *e->det, cmp_det);
    struct scored *s = malloc(sizeof *s * (size_t)(e->ndet ? e->ndet : 1));
    if (!s)
        return -1;
    int gi = 0, di = 0;
    for (int c = 0; c < e->ncat; c++) {
        int ns = 0;
        /* gts and dets of this category, image by image (images are numbered in
         * ascending id order, as pycocotools sorts imgIds) */
        int g0 = gi, d0 = di;
        while (gi < e->ngt && e->gt[gi].cat == c) gi++;
        while (di < e->ndet && e->det[di].cat == c) di++;
        struct coco_category *cat = &e->cat[c];
        cat->ndet = di - d0;
        for (int t = 0; t < COCO_NT; t++)
            cat->ap[t] = -1;
        if (!cat->evaluated || cat->ngt == 0)
            continue;
        /* segments per image: both ranges are sorted by image index */
        int gp = g0, dp = d0;
        while (gp < gi || dp < di) {
            int img = gp < gi ? e->gt[gp].img : e->nimg;
            if (dp < di && e->det[dp].img < img)
                img = e->det[dp].img;
            int ge = gp, de = dp;
            while (ge < gi && e->gt[ge].img == img) ge++;
            while (de < di && e->det[de].img == img) de++;
            int nd = de - dp < COCO_MAX_DETS ? de - dp : COCO_MAX_DETS, ng = ge - gp;
            double *iou = malloc(sizeof(double) * (size_t)(nd ? nd : 1) * (size_t)(ng ? ng : 1));
            if (!iou) {
                free(s);
                return -1;
            }
            match_image(&e->det[dp], nd, &e->gt[gp], ng, ns, &s[ns], iou);
            free(iou);
            ns += nd;
            gp = ge;
            dp = de;
        }
        category_ap(s, ns, cat->ngt, cat->ap);
    }
    free(s);
    return 0;
}

struct coco_summary coco_summary(const struct coco *e)
{
    struct coco_summary r = { 0, 0, 0, 0 };
    for (int c = 0; c < e->ncat; c++) {
        const double *ap = e->cat[c].ap;
        if (ap[0] < 0)
            continue;
        double m = 0;
        for (int t = 0; t < COCO_NT; t++)
            m += ap[t];
        r.ap += m / COCO_NT;
        r.ap50 += ap[0];
        r.ap75 += ap[5];
        r.ncat++;
    }
    if (r.ncat) {
        r.ap /= r.ncat;
        r.ap50 /= r.ncat;
        r.ap75 /= r.ncat;
    } else {
        r.ap = r.ap50 = r.ap75 = -1;
    }
    return r;
}

double coco_mean_ap(const double ap[COCO_NT])
{
    double m = 0;
    for (int t = 0; t < COCO_NT; t++)
        m += ap[t];
    return m / COCO_NT;
}

/* ---- detections ------------------------------------------------------------------------------ */

/* A detection of image rank img, category index cat, box x, y, w, h. */
static int push_det(struct coco *e, int img, int cat, const double box[4], float score)
{
    if (e->ndet == e->capdet) {
        int cap = e->capdet ? 2 * e->capdet : 1024;
        struct det *nd = realloc(e->det, (size_t)cap * sizeof *nd);
        if (!nd)
            return -1;
        e->det = nd;
        e->capdet = cap;
    }
    struct det *o = &e->det[e->ndet];
    o->img = img;
    o->cat = cat;
    memcpy(o->box, box, sizeof o->box);
    o->score = score;
    o->order = e->ndet++;
    return 0;
}

static int add_det(struct coco *e, int img, int cat, const struct model_detection *d)
{
    double box[4] = { d->box[0], d->box[1], (double)d->box[2] - d->box[0],
                      (double)d->box[3] - d->box[1] };
    return push_det(e, img, cat, box, d->score);
}

int coco_add_detection(struct coco *e, int image, const struct model_detection *d)
{
    int c = find_idx(e->cat_by_id, e->ncat, d->label);
    if (c < 0)
        return 1;
    return add_det(e, image, c, d) ? -1 : 0;
}

/* The truth image whose file_name is path or a trailing component of it. */
static int image_for_path(const struct coco *e, const char *path)
{
    size_t n = strlen(path);
    for (int i = 0; i < e->nimg; i++) {
        size_t k = strlen(e->img[i].file);
        if (k <= n && !strcmp(path + n - k, e->img[i].file) && (k == n || path[n - k - 1] == '/'))
            return i;
    }
    return -1;
}

int coco_find_image(const struct coco *e, const char *path)
{
    int i = image_for_path(e, path);
    return i < 0 ? -1 : e->rank[i];
}

/* ---- frames ------------------------------------------------------------------------------ */

/* e->by_frame: the images with a frame number, sorted by it; e->nframes = -1
 * (reported) when there are none or two share one. */
static void build_frames(struct coco *e)
{
    int n = 0;
    e->nframes = -1;
    if (!(e->by_frame = malloc(sizeof *e->by_frame * ((size_t)e->nimg + 1)))) {
        truth_fail(e->path, "out of memory");
        return;
    }
    for (int i = 0; i < e->nimg; i++)
        if (e->img[i].frame >= 0)
            e->by_frame[n++] = (struct idx){ e->img[i].frame, i };
    if (n == 0) {
        truth_fail(e->path, "no image says which video frame it is (a \"frame\" field, or a "
                   "number in its file_name such as frame_0042.png): annotate's frames cannot "
                   "be matched to images");
        return;
    }
    qsort(e->by_frame, (size_t)n, sizeof *e->by_frame, cmp_idx);
    for (int i = 0; i + 1 < n; i++) {
        if (e->by_frame[i].id == e->by_frame[i + 1].id) {
            truth_fail(e->path, "images \"%.100s\" and \"%.100s\" are both frame %lld: "
                       "annotate's frames cannot be matched to images",
                       e->img[e->by_frame[i].index].file, e->img[e->by_frame[i + 1].index].file,
                       (long long)e->by_frame[i].id);
            return;
        }
    }
    e->nframes = n;
}

int coco_find_frame(struct coco *e, int64_t frame)
{
    if (!e->by_frame)
        build_frames(e);
    if (e->nframes < 0)
        return -2;
    int i = find_idx(e->by_frame, e->nframes, frame);
    return i < 0 ? -1 : e->rank[i];
}

/* Frames of a detections file that are no image of the truth: counted, and
 * summed up in one note (or an error when none of them is). */
struct frame_tally {
    int64_t lo, hi;   /* the frames seen */
    int n, skipped;   /* frames (lines or records) seen, and of those not in the truth */
};

static void tally(struct frame_tally *t, int64_t frame, int skipped)
{
    if (!t->n || frame < t->lo) t->lo = frame;
    if (!t->n || frame > t->hi) t->hi = frame;
    t->n++;
    t->skipped += skipped;
}

/* 0, or -1 when frames were given and none of them is an image of the truth. */
static int tally_report(struct coco *e, const struct frame_tally *t, const char *kind,
                        const char *path, const char *what)
{
    if (!t->skipped)
        return 0;
    if (t->skipped == t->n) {
        int64_t lo = e->by_frame[0].id, hi = e->by_frame[e->nframes - 1].id;
        return file_fail(kind, path, "none of its %ss (frames %lld..%lld) is a frame the truth "
                         "%s has an image for (frames %lld..%lld)", what, (long long)t->lo,
                         (long long)t->hi, e->path, (long long)lo, (long long)hi);
    }
    app_note("note: %s %s: %d %s%s of frames the truth has no image for: not scored", kind, path,
             t->skipped, what, t->skipped == 1 ? "" : "s");
    return 0;
}

/* ---- detections: JSON Lines ---------------------------------------------------------------- */

int coco_read_detections(struct coco *e, const char *path)
{
    size_t len = 0;
    char *text = read_file("detections", path, &len);
    if (!text)
        return -1;
    int err = coco_parse_detections(e, text, len, path);
    free(text);
    return err;
}

/* Why the first line is not a detections line: what the file looks like
 * instead, when that can be told. -1 reported, 0 not told. */
static int wrong_kind(const char *kind, const char *path, const char *text, size_t len,
                      enum coco_kind want1, enum coco_kind want2)
{
    enum coco_kind k = coco_sniff(text, len);
    if (k == COCO_KIND_UNKNOWN || k == want1 || k == want2)
        return 0;
    return file_fail(kind, path, "%s", coco_kind_hint(k));
}

int coco_parse_detections(struct coco *e, const char *text, size_t len, const char *path)
{
    const char *K = "detections";
    int err = 0, line = 0, lines = 0, kind = 0;   /* kind: 1 "image" lines, 2 "frame" lines */
    struct frame_tally ft = { 0, 0, 0, 0 };
    unsigned char *seen = calloc((size_t)e->nimg + 1, 1);
    if (!seen)
        return file_fail(K, path, "out of memory");
    for (size_t at = 0; at < len && !err;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        line++;
        char msg[200];
        size_t k = at;
        while (k < end && (text[k] == ' ' || text[k] == '\t' || text[k] == '\r'))
            k++;
        if (k == end) {
            at = end + 1;
            continue;
        }
        json_t *v = NULL;
        if (end - at > DETS_LINE_MAX_BYTES) {
            if (lines || !wrong_kind(K, path, text, len, COCO_KIND_DETECT_LINES,
                                     COCO_KIND_ANNOTATE_LINES))
                file_fail(K, path, "line %d: longer than %zu MB", line,
                          DETS_LINE_MAX_BYTES >> 20);
            err = -1;
            break;
        }
        int jl, col;
        if (!(v = coco_json_load(text + at, end - at, msg, sizeof msg, &jl, &col))) {
            if (lines || !wrong_kind(K, path, text, len, COCO_KIND_DETECT_LINES,
                                     COCO_KIND_ANNOTATE_LINES)) {
                if (jl)
                    file_fail(K, path, "line %d, column %d: not valid JSON: %s", line, col, msg);
                else
                    file_fail(K, path, "line %d: %s", line, msg);
            }
            err = -1;
            break;
        }
        const json_t *im = json_object_get(v, "image"), *ds = json_object_get(v, "detections");
        int64_t frame = -1;
        int this_kind = json_is_string(im) ? 1
                      : as_int(json_object_get(v, "frame"), 0, INT64_MAX / 2, &frame) ? 2 : 0;
        int r = -1;   /* the image's rank */
        if (!this_kind || !json_is_array(ds)) {
            if (lines || !wrong_kind(K, path, text, len, COCO_KIND_DETECT_LINES,
                                     COCO_KIND_ANNOTATE_LINES))
                file_fail(K, path, "line %d: needs \"image\" (detect's lines) or \"frame\" "
                          "(annotate's) and a \"detections\" array", line);
            err = -1;
        } else if (kind && this_kind != kind) {
            file_fail(K, path, "line %d: a line with \"%s\" among lines with \"%s\": give "
                      "one run's output (detect's or annotate's)", line,
                      this_kind == 1 ? "image" : "frame", kind == 1 ? "image" : "frame");
            err = -1;
        } else if (this_kind == 1) {
            int ii = image_for_path(e, json_string_value(im));
            if (ii < 0)
                file_fail(K, path, "line %d: \"image\" \"%.200s\" is no file_name of the "
                          "truth %s", line, json_string_value(im), e->path);
            else if (seen[(r = e->rank[ii])]++)
                file_fail(K, path, "line %d: image %s appears twice", line, e->img[ii].file);
            err = ii < 0 || seen[r] > 1 ? -1 : 0;
        } else {
            r = coco_find_frame(e, frame);
            if (r == -2) {
                err = -1;
            } else if (r >= 0 && seen[r]++) {
                file_fail(K, path, "line %d: frame %lld appears twice", line, (long long)frame);
                err = -1;
            }
            if (!err)
                tally(&ft, frame, r < 0);
        }
        kind = this_kind;
        lines++;
        for (size_t j = 0; !err && r >= 0 && j < json_array_size(ds); j++) {
            const json_t *d = json_array_get(ds, j), *bx = json_object_get(d, "box"),
                         *sc = json_object_get(d, "score");
            int64_t label;
            struct model_detection md;
            if (!json_is_array(bx) || json_array_size(bx) != 4 || !json_is_number(sc) ||
                !as_int(json_object_get(d, "label"), INT32_MIN, INT32_MAX, &label)) {
                file_fail(K, path, "line %d: detection %zu needs \"box\" [x1, y1, x2, y2], "
                          "\"label\" and \"score\"", line, j);
                err = -1;
                break;
            }
            for (int q = 0; q < 4; q++) {
                const json_t *x = json_array_get(bx, (size_t)q);
                if (!json_is_number(x) && !err)
                    err = file_fail(K, path, "line %d: detection %zu: bad box", line, j);
                md.box[q] = (float)json_number_value(x);
            }
            md.score = (float)json_number_value(sc);
            md.label = (int)label;
            int c = find_idx(e->cat_by_id, e->ncat, label);
            if (!err && c >= 0 && add_det(e, r, c, &md))
                err = file_fail(K, path, "out of memory");
        }
        json_decref(v);
        at = end + 1;
    }
    if (!err && kind == 2)
        err = tally_report(e, &ft, K, path, "line");
    if (!err && lines) {
        int missing = 0;
        for (int i = 0; i < e->nimg; i++)
            missing += !seen[i];
        if (missing)
            app_note("note: detections %s: %d of the truth's %d images have no line: their "
                     "objects count as missed", path, missing, e->nimg);
    }
    free(seen);
    return err;
}

/* ---- detections: a COCO results array ------------------------------------------------------- */

int coco_read_results(struct coco *e, const char *path)
{
    size_t len = 0;
    char *text = read_file("coco", path, &len);
    if (!text)
        return -1;
    int err = coco_parse_results(e, text, len, path);
    free(text);
    return err;
}

int coco_parse_results(struct coco *e, const char *text, size_t len, const char *path)
{
    const char *K = "coco";
    char msg[200];
    int line, col, err = -1;
    struct frame_tally ft = { 0, 0, 0, 0 };
    if (len > TRUTH_MAX_BYTES)
        return file_fail(K, path, "%zu bytes is larger than the limit of %zu MB", len,
                         TRUTH_MAX_BYTES >> 20);
    json_t *v = coco_json_load(text, len, msg, sizeof msg, &line, &col);
    if (!v) {
        enum coco_kind k = coco_sniff(text, len);
        if (k == COCO_KIND_RESULTS)
            return file_fail(K, path, "the array has no closing \"]\" (a killed annotate run "
                             "leaves it so): append \"]\" to read it");
        if (k != COCO_KIND_UNKNOWN)
            return file_fail(K, path, "%s", coco_kind_hint(k));
        if (line)
            return file_fail(K, path, "not valid JSON: at line %d, column %d: %s", line, col, msg);
        return file_fail(K, path, "%s", msg);
    }
    if (!json_is_array(v)) {
        enum coco_kind k = sniff_value(v);
        if (k != COCO_KIND_UNKNOWN)
            file_fail(K, path, "%s", coco_kind_hint(k));
        else
            file_fail(K, path, "expected a JSON array of {\"image_id\", \"category_id\", "
                      "\"bbox\", \"score\"} records");
        goto done;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *o = json_array_get(v, i), *bb = json_object_get(o, "bbox"),
                     *sc = json_object_get(o, "score");
        int64_t frame, label;
        double box[4];
        int ok = json_is_array(bb) && json_array_size(bb) == 4 && json_is_number(sc) &&
                 isfinite(json_number_value(sc)) &&
                 as_int(json_object_get(o, "image_id"), 0, INT64_MAX / 2, &frame) &&
                 as_int(json_object_get(o, "category_id"), INT32_MIN, INT32_MAX, &label);
        for (int q = 0; ok && q < 4; q++) {
            const json_t *x = json_array_get(bb, (size_t)q);
            ok = json_is_number(x) && isfinite(json_number_value(x)) &&
                 (q < 2 || json_number_value(x) >= 0);
            box[q] = json_number_value(x);
        }
        if (!ok) {
            if (i == 0 && json_is_object(o) && json_is_array(json_object_get(o, "detections")))
                file_fail(K, path, "[0]: an object with \"detections\": pass JSON Lines "
                          "with --detections");
            else
                file_fail(K, path, "[%zu]: needs \"image_id\" (a frame index), "
                          "\"category_id\", \"bbox\" [x, y, w, h] (w, h >= 0) and "
                          "\"score\"", i);
            goto done;
        }
        int r = coco_find_frame(e, frame);
        if (r == -2)
            goto done;
        tally(&ft, frame, r < 0);
        int c = find_idx(e->cat_by_id, e->ncat, label);
        if (r >= 0 && c >= 0 && push_det(e, r, c, box, (float)json_number_value(sc))) {
            file_fail(K, path, "out of memory");
            goto done;
        }
    }
    err = tally_report(e, &ft, K, path, "record");
done:
    json_decref(v);
    return err;
}
