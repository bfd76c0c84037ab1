/*
 * cli_eval.c — `vdetect eval [model] --images DIR --truth COCO.json [--json
 * FILE|-]`: the detector's accuracy on a labelled set, COCO style.
 *
 * Every image the truth file lists is read from DIR/file_name and run through
 * the model; its detections (all of them, as torchvision returns them: the
 * model's own box_score_thresh applies, --score-thresh only when given) are
 * scored the way pycocotools' COCOeval does for iouType "bbox", area "all",
 * maxDets 100: per image and category the 100 best detections are matched
 * greedily by score to the ground truth at each IoU threshold .50:.05:.95
 * (iscrowd boxes absorb matches without counting, with IoU against a crowd
 * box taken over the detection's area); precision is made monotone and
 * sampled at 101 recall points; AP is its mean over thresholds, AP50 and AP75
 * at .50 and .75, and the overall figures are means over the categories that
 * have ground truth. Model labels are COCO category ids (torchvision's
 * convention).
 *
 * The COCO file is read with model/'s strict JSON reader (json.h) — a private
 * header of model/, used here because app/ has no reader of its own.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../model/json.h"
#include "../video/video.h"
#include "app.h"

#define EVAL_MAX_DETS 100
#define EVAL_NT 10          /* IoU thresholds */
#define EVAL_NR 101         /* recall points */

static const char eval_help[] =
    "Usage: vdetect eval [model options] --images DIR --truth COCO.json [--json FILE|-]\n"
    "       vdetect eval --detections FILE.jsonl --truth COCO.json [--json FILE|-]\n"
    "\n"
    "Measure the detector on a labelled set: COCO-style AP@[.5:.95], AP@.5 and AP@.75\n"
    "(bbox, area all, 100 detections per image, 101-point interpolation, as\n"
    "pycocotools' COCOeval), overall and per category. The images listed in the\n"
    "COCO file are read from DIR/file_name; model labels are taken as the file's\n"
    "category ids. All detections the model returns are scored (its own cut-off\n"
    "is --set box_score_thresh); --score-thresh and --classes filter only when given.\n"
    "\n"
    "Options:\n"
    "  --images DIR        directory holding the images\n"
    "  --truth FILE        COCO instances JSON (images, annotations, categories)\n"
    "  --detections FILE   score these detections instead of running a model: JSON\n"
    "                      Lines as 'vdetect detect' writes them, one object per\n"
    "                      image, \"image\" ending in the truth's file_name\n"
    "  --json FILE|-       also write the results as one JSON object; with -, to\n"
    "                      standard output instead of the table\n"
    "  -q, --quiet         no progress on stderr (only shown on a terminal)\n"
    "  -y                  replace the --json FILE if it exists (it may not be\n"
    "                      an input: the truth, detections, images or model)\n"
    "  -h, --help          show this help\n"
    "\n"
    "%s";

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

struct category {
    int64_t id;
    char *name;
    int ngt;                 /* not ignored */
    int ndet;
    int evaluated;           /* kept by --classes */
    double ap[EVAL_NT];      /* -1: no ground truth */
};

struct image {
    int64_t id;
    char *file;
    int width, height;
};

struct eval {
    struct image *img;
    int nimg;
    struct category *cat;
    int ncat;
    struct gt *gt;
    int ngt;
    struct det *det;
    int ndet, capdet;
};

static void eval_free(struct eval *e)
{
    for (int i = 0; i < e->nimg; i++)
        free(e->img[i].file);
    for (int i = 0; i < e->ncat; i++)
        free(e->cat[i].name);
    free(e->img);
    free(e->cat);
    free(e->gt);
    free(e->det);
    memset(e, 0, sizeof *e);
}

/* ---- reading the truth --------------------------------------------------------------- */

struct idx { int64_t id; int index; };

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

static int truth_fail(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int truth_fail(const char *path, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "truth %s: ", path);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
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

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "truth %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *nb = cap < ((size_t)1 << 30) ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                buf = NULL;
                fprintf(stderr, "truth %s: too large or out of memory\n", path);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                fprintf(stderr, "truth %s: read error\n", path);
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    fclose(f);
    *len = n;
    return buf;
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

static int load_truth(struct eval *e, const char *path)
{
    size_t len = 0;
    char *text = read_file(path, &len);
    if (!text)
        return -1;
    struct json_doc *doc = NULL;
    struct json_limits lim = { .max_bytes = (size_t)1 << 30, .max_depth = 32,
                               .max_values = (size_t)1 << 27 };
    char msg[200];
    struct idx *imgs = NULL, *cats = NULL;
    int err = -1;
    if (json_parse(text, len, &lim, &doc, msg, sizeof msg)) {
        truth_fail(path, "not valid JSON: %s", msg);
        goto done;
    }
    const struct json_value *root = json_root(doc);
    const struct json_value *ji = json_get(root, "images"), *ja = json_get(root, "annotations"),
                            *jc = json_get(root, "categories");
    if (!ji || ji->type != JSON_ARRAY || !ja || ja->type != JSON_ARRAY || !jc ||
        jc->type != JSON_ARRAY) {
        truth_fail(path, "expected a COCO object with \"images\", \"annotations\" and "
                   "\"categories\" arrays");
        goto done;
    }
    e->img = calloc(ji->len + 1, sizeof *e->img);
    e->cat = calloc(jc->len + 1, sizeof *e->cat);
    e->gt = calloc(ja->len + 1, sizeof *e->gt);
    imgs = calloc(ji->len + 1, sizeof *imgs);
    cats = calloc(jc->len + 1, sizeof *cats);
    if (!e->img || !e->cat || !e->gt || !imgs || !cats || ji->len > 10000000 ||
        jc->len > 100000) {
        truth_fail(path, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < ji->len; i++) {
        const struct json_value *v = &ji->items[i], *fn = json_get(v, "file_name");
        int64_t id, w = 0, h = 0;
        if (!json_as_int(json_get(v, "id"), INT64_MIN / 2, INT64_MAX / 2, &id) || !fn ||
            fn->type != JSON_STRING || !fn->len) {
            truth_fail(path, "images[%zu]: needs an integer \"id\" and a \"file_name\"", i);
            goto done;
        }
        if (!name_inside(fn->str, fn->len)) {
            truth_fail(path, "images[%zu]: file_name \"%.200s\" leads out of the images "
                       "directory (absolute, or a \"..\" component): refused", i, fn->str);
            goto done;
        }
        json_as_int(json_get(v, "width"), 1, 1 << 20, &w);
        json_as_int(json_get(v, "height"), 1, 1 << 20, &h);
        if (!(e->img[i].file = strdup(fn->str))) {
            truth_fail(path, "out of memory");
            goto done;
        }
        e->img[i].id = id;
        e->img[i].width = (int)w;
        e->img[i].height = (int)h;
        imgs[i] = (struct idx){ id, (int)i };
        e->nimg++;
    }
    for (size_t i = 0; i < jc->len; i++) {
        const struct json_value *v = &jc->items[i], *nm = json_get(v, "name");
        int64_t id;
        if (!json_as_int(json_get(v, "id"), INT64_MIN / 2, INT64_MAX / 2, &id)) {
            truth_fail(path, "categories[%zu]: needs an integer \"id\"", i);
            goto done;
        }
        e->cat[i].id = id;
        e->cat[i].evaluated = 1;
        if (nm && nm->type == JSON_STRING && !(e->cat[i].name = strdup(nm->str))) {
            truth_fail(path, "out of memory");
            goto done;
        }
        cats[i] = (struct idx){ id, (int)i };
        e->ncat++;
    }
    if (index_ids(path, "image", imgs, e->nimg) || index_ids(path, "category", cats, e->ncat))
        goto done;
    for (size_t i = 0; i < ja->len; i++) {
        const struct json_value *v = &ja->items[i], *bb = json_get(v, "bbox");
        int64_t im, c, flag;
        int ii, ci;
        if (!json_as_int(json_get(v, "image_id"), INT64_MIN / 2, INT64_MAX / 2, &im) ||
            (ii = find_idx(imgs, e->nimg, im)) < 0) {
            truth_fail(path, "annotations[%zu]: \"image_id\" is missing or not a listed image", i);
            goto done;
        }
        if (!json_as_int(json_get(v, "category_id"), INT64_MIN / 2, INT64_MAX / 2, &c) ||
            (ci = find_idx(cats, e->ncat, c)) < 0) {
            truth_fail(path, "annotations[%zu]: \"category_id\" is missing or not a listed "
                       "category", i);
            goto done;
        }
        if (!bb || bb->type != JSON_ARRAY || bb->len != 4) {
            truth_fail(path, "annotations[%zu]: \"bbox\" must be [x, y, w, h]", i);
            goto done;
        }
        struct gt *g = &e->gt[e->ngt];
        for (int k = 0; k < 4; k++) {
            if (bb->items[k].type != JSON_NUMBER || !isfinite(bb->items[k].number) ||
                (k >= 2 && bb->items[k].number < 0)) {
                truth_fail(path, "annotations[%zu]: bad \"bbox\" entry %d", i, k);
                goto done;
            }
            g->box[k] = bb->items[k].number;
        }
        g->img = ii;
        g->cat = ci;
        g->crowd = json_as_int(json_get(v, "iscrowd"), 0, 1, &flag) && flag;
        g->ignore = g->crowd;   /* pycocotools overwrites any "ignore" field with iscrowd */
        g->order = e->ngt++;
        e->cat[ci].ngt += !g->ignore;
    }
    err = 0;
done:
    free(imgs);
    free(cats);
    json_free(&doc);
    free(text);
    return err;
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
    unsigned char tp[EVAL_NT], ig[EVAL_NT];
};

static int cmp_scored(const void *a, const void *b)
{
    const struct scored *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->seq - y->seq;       /* numpy's mergesort is stable */
}

static void thresholds(double t[EVAL_NT])
{
    /* np.linspace(.5, 0.95, 10) */
    double step = (0.95 - 0.5) / (EVAL_NT - 1);
    for (int i = 0; i < EVAL_NT; i++)
        t[i] = i * step + 0.5;
    t[EVAL_NT - 1] = 0.95;
}

/* Match one image's dets d[0..nd) (sorted, at most 100) to its gts g[0..ng) (not
 * ignored first) at every threshold; results into out[0..nd). */
static void match_image(const struct det *d, int nd, const struct gt *g, int ng, int seq0,
                        struct scored *out, double *iou)
{
    double thr[EVAL_NT];
    thresholds(thr);
    for (int i = 0; i < nd; i++)
        for (int j = 0; j < ng; j++)
            iou[(size_t)i * ng + j] = box_iou(d[i].box, g[j].box, g[j].crowd);
    unsigned char gm[EVAL_NT * 1024];
    unsigned char *gmatched = ng <= 1024 ? gm : calloc((size_t)EVAL_NT * ng, 1);
    if (!gmatched) {                /* out of memory: count as unmatched */
        for (int i = 0; i < nd; i++)
            out[i] = (struct scored){ .score = d[i].score, .seq = seq0 + i };
        return;
    }
    memset(gmatched, 0, (size_t)EVAL_NT * (ng <= 1024 ? 1024 : ng));
    for (int i = 0; i < nd; i++) {
        out[i] = (struct scored){ .score = d[i].score, .seq = seq0 + i };
        for (int t = 0; t < EVAL_NT; t++) {
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
static void category_ap(struct scored *s, int n, int npos, double ap[EVAL_NT])
{
    qsort(s, (size_t)n, sizeof *s, cmp_scored);
    double *pr = malloc(sizeof(double) * (size_t)(n ? n : 1));
    double *rc = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int t = 0; t < EVAL_NT; t++) {
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
        for (int r = 0; r < EVAL_NR; r++) {
            double rt = r == EVAL_NR - 1 ? 1.0 : r * (1.0 / (EVAL_NR - 1));
            while (j < k && rc[j] < rt)   /* searchsorted(rc, rt, 'left') */
                j++;
            if (j >= k)
                break;
            sum += pr[j];
        }
        ap[t] = sum / EVAL_NR;
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

static int score_all(struct eval *e)
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
        struct category *cat = &e->cat[c];
        cat->ndet = di - d0;
        for (int t = 0; t < EVAL_NT; t++)
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
            int nd = de - dp < EVAL_MAX_DETS ? de - dp : EVAL_MAX_DETS, ng = ge - gp;
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

/* ---- output --------------------------------------------------------------------------------- */

struct summary { double ap, ap50, ap75; int ncat; };

static struct summary summarise(const struct eval *e)
{
    struct summary r = { 0, 0, 0, 0 };
    for (int c = 0; c < e->ncat; c++) {
        const double *ap = e->cat[c].ap;
        if (ap[0] < 0)
            continue;
        double m = 0;
        for (int t = 0; t < EVAL_NT; t++)
            m += ap[t];
        r.ap += m / EVAL_NT;
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

static double mean_ap(const double *ap)
{
    double m = 0;
    for (int t = 0; t < EVAL_NT; t++)
        m += ap[t];
    return m / EVAL_NT;
}

static void print_table(const struct eval *e, const struct summary *s, int images, double ms)
{
    printf("%-24s %6s %6s %7s %7s %7s\n", "category", "gt", "dets", "AP", "AP50", "AP75");
    for (int c = 0; c < e->ncat; c++) {
        const struct category *k = &e->cat[c];
        if (!k->evaluated)
            continue;
        char name[64];
        snprintf(name, sizeof name, "%lld %s", (long long)k->id, k->name ? k->name : "");
        if (k->ap[0] < 0)
            printf("%-24.24s %6d %6d %7s %7s %7s\n", name, k->ngt, k->ndet, "-", "-", "-");
        else
            printf("%-24.24s %6d %6d %7.4f %7.4f %7.4f\n", name, k->ngt, k->ndet,
                   mean_ap(k->ap), k->ap[0], k->ap[5]);
    }
    printf("%-24s %6s %6s %7.4f %7.4f %7.4f\n", "all", "", "", s->ap, s->ap50, s->ap75);
    printf("%d images, %d categories with ground truth", images, s->ncat);
    if (ms > 0)
        printf(", %.1f ms per image", ms);
    putchar('\n');
}

static void print_json(FILE *f, const struct cli_model *cm, const struct eval *e,
                       const struct summary *s, int images, double ms)
{
    fputs("{\"weights\": ", f);
    json_string(f, cm->weights_path);   /* null when --detections gave them */
    fprintf(f, ", \"images\": %d, \"ap\": ", images);
    json_double(f, s->ap);
    fputs(", \"ap50\": ", f);
    json_double(f, s->ap50);
    fputs(", \"ap75\": ", f);
    json_double(f, s->ap75);
    fputs(", \"ms_per_image\": ", f);
    json_double(f, ms);
    fputs(", \"per_class\": [", f);
    int first = 1;
    for (int c = 0; c < e->ncat; c++) {
        const struct category *k = &e->cat[c];
        if (!k->evaluated)
            continue;
        fprintf(f, "%s{\"id\": %lld, \"name\": ", first ? "" : ", ", (long long)k->id);
        first = 0;
        json_string(f, k->name);
        fprintf(f, ", \"gt\": %d, \"dets\": %d, \"ap\": ", k->ngt, k->ndet);
        if (k->ap[0] < 0) {
            fputs("null, \"ap50\": null, \"ap75\": null}", f);
            continue;
        }
        json_double(f, mean_ap(k->ap));
        fputs(", \"ap50\": ", f);
        json_double(f, k->ap[0]);
        fputs(", \"ap75\": ", f);
        json_double(f, k->ap[5]);
        fputc('}', f);
    }
    fputs("]}\n", f);
}

/* ---- detections from a file ------------------------------------------------------------------ */

/* The truth image whose file_name is path or a trailing component of it. */
static int image_for_path(const struct eval *e, const char *path)
{
    size_t n = strlen(path);
    for (int i = 0; i < e->nimg; i++) {
        size_t k = strlen(e->img[i].file);
        if (k <= n && !strcmp(path + n - k, e->img[i].file) && (k == n || path[n - k - 1] == '/'))
            return i;
    }
    return -1;
}

static int add_det(struct eval *e, int img, int cat, const struct model_detection *d, int order);

/* Reads JSON Lines detections into e (image indices already ranked by rank[]). */
static int read_detections(struct eval *e, const char *path, const struct idx *cat_by_id,
                           const int *rank)
{
    size_t len = 0;
    char *text = read_file(path, &len);
    if (!text)
        return -1;
    int err = 0, line = 0;
    unsigned char *seen = calloc((size_t)e->nimg + 1, 1);
    if (!seen) {
        free(text);
        return truth_fail(path, "out of memory");
    }
    for (size_t at = 0; at < len && !err;) {
        char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        line++;
        struct json_doc *doc = NULL;
        char msg[200];
        size_t k = at;
        while (k < end && (text[k] == ' ' || text[k] == '\t' || text[k] == '\r'))
            k++;
        if (k == end) {
            at = end + 1;
            continue;
        }
        if (json_parse(text + at, end - at, NULL, &doc, msg, sizeof msg)) {
            fprintf(stderr, "detections %s: line %d: %s\n", path, line, msg);
            err = -1;
            break;
        }
        const struct json_value *v = json_root(doc), *im = json_get(v, "image"),
                                *ds = json_get(v, "detections");
        int ii = im && im->type == JSON_STRING ? image_for_path(e, im->str) : -1;
        if (ii < 0 || !ds || ds->type != JSON_ARRAY) {
            fprintf(stderr, "detections %s: line %d: needs \"image\" naming an image of the truth "
                    "and a \"detections\" array\n", path, line);
            err = -1;
        } else if (seen[ii]++) {
            fprintf(stderr, "detections %s: line %d: image %s appears twice\n", path, line,
                    e->img[ii].file);
            err = -1;
        }
        for (size_t j = 0; !err && j < ds->len; j++) {
            const struct json_value *d = &ds->items[j], *bx = json_get(d, "box"),
                                    *sc = json_get(d, "score");
            int64_t label;
            struct model_detection md;
            if (!bx || bx->type != JSON_ARRAY || bx->len != 4 || !sc || sc->type != JSON_NUMBER ||
                !json_as_int(json_get(d, "label"), INT32_MIN, INT32_MAX, &label)) {
                fprintf(stderr, "detections %s: line %d: detection %zu needs \"box\" [x1, y1, x2, "
                        "y2], \"label\" and \"score\"\n", path, line, j);
                err = -1;
                break;
            }
            for (int q = 0; q < 4; q++) {
                if (bx->items[q].type != JSON_NUMBER) {
                    fprintf(stderr, "detections %s: line %d: bad box\n", path, line);
                    err = -1;
                }
                md.box[q] = (float)bx->items[q].number;
            }
            md.score = (float)sc->number;
            md.label = (int)label;
            int c = find_idx(cat_by_id, e->ncat, label);
            if (!err && c >= 0 && add_det(e, rank[ii], c, &md, e->ndet)) {
                fprintf(stderr, "detections %s: out of memory\n", path);
                err = -1;
            }
        }
        json_free(&doc);
        at = end + 1;
    }
    free(seen);
    free(text);
    return err;
}

/* ---- the command -------------------------------------------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int add_det(struct eval *e, int img, int cat, const struct model_detection *d, int order)
{
    if (e->ndet == e->capdet) {
        int cap = e->capdet ? 2 * e->capdet : 1024;
        struct det *nd = realloc(e->det, (size_t)cap * sizeof *nd);
        if (!nd)
            return -1;
        e->det = nd;
        e->capdet = cap;
    }
    struct det *o = &e->det[e->ndet++];
    o->img = img;
    o->cat = cat;
    o->box[0] = d->box[0];
    o->box[1] = d->box[1];
    o->box[2] = (double)d->box[2] - d->box[0];
    o->box[3] = (double)d->box[3] - d->box[1];
    o->score = d->score;
    o->order = order;
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    const char *cmd = "eval";
    struct cli_model cm;
    struct eval e;
    const char *images = NULL, *truth = NULL, *json_path = NULL, *detections = NULL;
    int status = APP_OK, quiet = 0, thresh_given = 0, overwrite = 0;
    FILE *jf = NULL;
    struct outfile *json_file = NULL;
    struct model_detection *dets = NULL;
    struct idx *cat_by_id = NULL;

    memset(&e, 0, sizeof e);
    cli_model_init(&cm, argc);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf(eval_help, cli_model_help);
            goto done;
        }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (!strcmp(a, "-y")) {
            overwrite = 1;
            continue;
        }
        const char **targets[] = { &images, &truth, &json_path, &detections };
        const char *names[] = { "--images", "--truth", "--json", "--detections" };
        int matched = 0;
        for (int k = 0; k < 4 && !matched; k++) {
            if ((r = app_opt_value(cmd, argc, argv, &i, names[k], targets[k])) != 0) {
                if (r < 0) {
                    status = APP_USAGE;
                    goto done;
                }
                if (!**targets[k]) {
                    status = app_usage_error(cmd, "%s: empty value", names[k]);
                    goto done;
                }
                matched = 1;
            }
        }
        if (matched)
            continue;
        if (!strncmp(a, "--score-thresh", 14))
            thresh_given = 1;
        if ((status = cli_model_option(&cm, cmd, argc, argv, &i)) != APP_OK)
            goto done;
    }
    if (!thresh_given)
        cm.score_thresh = 0.0;     /* AP wants every detection the model returns */
    if ((!images && !detections) || !truth) {
        status = app_usage_error(cmd, "%s is required",
                                 !truth ? "--truth FILE" : "--images DIR (or --detections FILE)");
        goto done;
    }
    if (images && detections) {
        status = app_usage_error(cmd, "--images and --detections exclude each other");
        goto done;
    }
    struct stat st;
    if (images && (stat(images, &st) != 0 || !S_ISDIR(st.st_mode))) {
        fprintf(stderr, "images %s: %s\n", images,
                stat(images, &st) != 0 ? strerror(errno) : strerror(ENOTDIR));
        status = APP_FAIL;
        goto done;
    }
    /* README.md's "Files" rules: the report replaces none of the inputs */
    struct out_check oc;
    out_check_init(&oc, cmd, overwrite);
    if ((status = out_check_output(&oc, "--json", json_path)) != APP_OK ||
        (status = out_check_input(&oc, "--truth", truth)) != APP_OK ||
        (status = out_check_input(&oc, "--detections", detections)) != APP_OK ||
        (images && (status = out_check_input_dir(&oc, "an image in --images", images)) != APP_OK) ||
        (!detections && (status = out_check_model(&oc, &cm)) != APP_OK) ||
        (status = out_check_done(&oc)) != APP_OK)
        goto done;
    if (json_path && strcmp(json_path, "-")) {
        if (outfile_open(&json_file, "json", json_path, overwrite, 1) < 0) {
            status = APP_FAIL;
            goto done;
        }
        jf = outfile_stream(json_file);
    }
    if (load_truth(&e, truth)) {
        status = APP_FAIL;
        goto done;
    }
    if (!detections) {
        status = cli_model_load(&cm, cmd);
        if (status != APP_OK)
            goto done;
    }

    int nc = cm.model ? model_num_classes(cm.model) : 0;
    cat_by_id = calloc((size_t)e.ncat + 1, sizeof *cat_by_id);
    int max = cm.model ? model_max_detections(cm.model) : 1;
    dets = malloc((size_t)max * sizeof *dets);
    if (!dets || !cat_by_id) {
        fprintf(stderr, "vdetect %s: out of memory\n", cmd);
        status = APP_FAIL;
        goto done;
    }
    for (int c = 0; c < e.ncat; c++) {
        cat_by_id[c] = (struct idx){ e.cat[c].id, c };
        struct category *k = &e.cat[c];
        if (cm.keep_class && (k->id < 1 || k->id >= nc || !cm.keep_class[k->id]))
            k->evaluated = 0;
        const char *mn = cm.model && k->id >= 0 && k->id < nc ? model_class_name(cm.model, (int)k->id) : NULL;
        if (k->name && mn && strcmp(k->name, mn))
            fprintf(stderr, "vdetect %s: warning: category %lld is '%s' in the truth but '%s' in "
                    "the model\n", cmd, (long long)k->id, k->name, mn);
    }
    qsort(cat_by_id, (size_t)e.ncat, sizeof *cat_by_id, cmp_idx);

    /* images in ascending id order (pycocotools' imgIds), which is also the order
     * dense image indices take after this renumbering */
    struct idx *order = calloc((size_t)e.nimg + 1, sizeof *order);
    int *rank = calloc((size_t)e.nimg + 1, sizeof *rank);
    if (!order || !rank) {
        free(order);
        free(rank);
        fprintf(stderr, "vdetect %s: out of memory\n", cmd);
        status = APP_FAIL;
        goto done;
    }
    for (int i = 0; i < e.nimg; i++)
        order[i] = (struct idx){ e.img[i].id, i };
    qsort(order, (size_t)e.nimg, sizeof *order, cmp_idx);
    for (int r = 0; r < e.nimg; r++)
        rank[order[r].index] = r;
    for (int g = 0; g < e.ngt; g++)
        e.gt[g].img = rank[e.gt[g].img];

    int progress = !quiet && isatty(STDERR_FILENO) && !detections;
    double t_model = 0;
    if (detections && read_detections(&e, detections, cat_by_id, rank))
        status = APP_FAIL;
    for (int r = 0; r < e.nimg && status == APP_OK && !detections; r++) {
        const struct image *im = &e.img[order[r].index];
        char *path = NULL;
        uint8_t *rgb = NULL;
        int w, h, n = 0;
        if (asprintf(&path, "%s/%s", images, im->file) < 0) {
            status = APP_FAIL;
            break;
        }
        if (video_load_image(path, &rgb, &w, &h) < 0) {
            free(path);
            status = APP_FAIL;
            break;
        }
        if ((im->width && im->width != w) || (im->height && im->height != h))
            fprintf(stderr, "vdetect %s: warning: %s is %dx%d, the truth says %dx%d\n", cmd, path,
                    w, h, im->width, im->height);
        char why[320];
        if (model_check_size(cm.model, w, h, why, sizeof why) < 0) {
            fprintf(stderr, "image %s: %s\n", path, why);
            free(rgb);
            free(path);
            status = APP_FAIL;
            break;
        }
        struct model_image mi = { .rgb = rgb, .width = w, .height = h, .stride = 3 * w };
        double t0 = now_ms();
        int rr = model_detect(cm.model, &mi, dets, max, &n);
        t_model += now_ms() - t0;
        free(rgb);
        if (rr < 0) {
            fprintf(stderr, "image %s: detection failed\n", path);
            free(path);
            status = APP_FAIL;
            break;
        }
        free(path);
        for (int k = 0; k < n && k < max; k++) {
            int c = find_idx(cat_by_id, e.ncat, dets[k].label);
            if (c < 0 || !cli_model_keep(&cm, &dets[k]))
                continue;
            if (add_det(&e, r, c, &dets[k], e.ndet)) {
                fprintf(stderr, "vdetect %s: out of memory\n", cmd);
                status = APP_FAIL;
                break;
            }
        }
        if (progress)
            fprintf(stderr, "\r%d/%d images", r + 1, e.nimg);
    }
    if (progress)
        fputc('\n', stderr);
    free(order);
    free(rank);
    if (status != APP_OK)
        goto done;
    if (score_all(&e)) {
        fprintf(stderr, "vdetect %s: out of memory\n", cmd);
        status = APP_FAIL;
        goto done;
    }
    struct summary s = summarise(&e);
    double ms = e.nimg ? t_model / e.nimg : 0;
    if (json_path && !strcmp(json_path, "-")) {
        print_json(stdout, &cm, &e, &s, e.nimg, ms);
    } else {
        print_table(&e, &s, e.nimg, ms);
        if (jf)
            print_json(jf, &cm, &e, &s, e.nimg, ms);
    }

    if (outfile_commit(&json_file) < 0)
        status = APP_FAIL;
done:
    outfile_discard(&json_file);
    free(cat_by_id);
    free(dets);
    eval_free(&e);
    cli_model_free(&cm);
    return status;
}
