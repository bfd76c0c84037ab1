/*
 * calibrate.c — the int8 input scales: measured on a user's images
 * (model_calibrate), written into a copy of the model file as the metadata entry
 * "vdetect_int8" (model_write_calibrated), read back at load (calib_load).
 *
 * Each layer of precision_layers() gets one range: the largest |x| its input
 * reached on any of the images (the RPN head's convs see every FPN level). A
 * detector's largest activations are its objects, not noise to clip: on the demo
 * model's set (16 calibration images, 40 held out) the mean over the images of
 * each image's largest |x| agreed with fp32 on 97.5% of the detections, the
 * largest over all of them on 99.4%.
 * The entry (model/FORMAT.md):
 *
 *   {"format": "vdetect-int8", "version": 1, "images": 32,
 *    "layers": [{"shape": [64, 147], "amax": 2.64}, ...]}
 *
 * shape is the layer's weights as a matrix (outputs, inputs per output), so a
 * table that does not belong to the model is refused rather than misapplied.
 */
#include "net.h"
#include "../ckpt/sjson.h"

#include <math.h>
#include <string.h>

#define CALIB_KEY "vdetect_int8"
#define CALIB_MAX_LAYERS 65536

struct calib_run {
    struct qlayer *q;
    int n;
    float *now;        /* this image's largest |x| per layer */
    float *max;        /* the largest over the images */
    int images;
};

void calib_free(struct model *m)
{
    free(m->calib.amax);
    memset(&m->calib, 0, sizeof m->calib);
    if (m->calib_run) {
        free(m->calib_run->q);
        free(m->calib_run->now);
        free(m->calib_run->max);
        free(m->calib_run);
        m->calib_run = NULL;
    }
}

/* ---- reading --------------------------------------------------------------------- */

static int calib_fail(const struct model *m, const char *what)
{
    fprintf(stderr, "model %s: int8 calibration (\"" CALIB_KEY "\"): %s; calibrate again "
            "(vdetect calibrate)\n", m->path, what);
    return -1;
}

int calib_load(struct model *m)
{
    const char *text = ckpt_metadata(m->ck, CALIB_KEY);
    if (!text) return 0;
    struct sjson_limits lim = { 4 << 20, 4, 8 * (size_t)CALIB_MAX_LAYERS };
    char msg[160], what[256];
    json_t *root = sjson_load(text, strlen(text), &lim, msg, sizeof msg);
    if (!root) {
        snprintf(what, sizeof what, "JSON %s", msg);
        return calib_fail(m, what);
    }
    int err = -1;
    struct qlayer *q = NULL;
    json_t *layers = json_object_get(root, "layers");
    int64_t version = 0, images = 0;
    const char *fmt = json_string_value(json_object_get(root, "format"));
    if (!fmt || strcmp(fmt, "vdetect-int8") || json_object_size(root) != 4 ||
        !sjson_int(json_object_get(root, "version"), 1, 1000, &version) ||
        !sjson_int(json_object_get(root, "images"), 1, INT32_MAX, &images) ||
        !json_is_array(layers)) {
        calib_fail(m, "not a version 1 table {format, version, images, layers}");
        goto done;
    }
    if (version > 1) {
        snprintf(what, sizeof what, "version %lld, written by a newer vdetect", (long long)version);
        calib_fail(m, what);
        goto done;
    }
    int cap = precision_layer_cap(m);
    if (!(q = malloc(sizeof *q * (size_t)cap))) goto done;
    int n = precision_layers(m, q, cap);
    if ((int)json_array_size(layers) != n) {
        snprintf(what, sizeof what, "%zu layers, the model has %d", json_array_size(layers), n);
        calib_fail(m, what);
        goto done;
    }
    if (!(m->calib.amax = malloc(sizeof(float) * (size_t)(n ? n : 1)))) goto done;
    for (int i = 0; i < n; i++) {
        json_t *e = json_array_get(layers, (size_t)i), *shape = json_object_get(e, "shape");
        json_t *amax = json_object_get(e, "amax");
        int64_t r = 0, c = 0;
        int rows, cols;
        qlayer_shape(&q[i], &rows, &cols);
        if (json_object_size(e) != 2 || json_array_size(shape) != 2 || !json_is_number(amax) ||
            !sjson_int(json_array_get(shape, 0), 0, INT32_MAX, &r) ||
            !sjson_int(json_array_get(shape, 1), 0, INT32_MAX, &c)) {
            snprintf(what, sizeof what, "layers[%d] is not {\"shape\": [rows, cols], \"amax\": "
                     "number}", i);
            calib_fail(m, what);
            goto done;
        }
        double a = json_number_value(amax);
        if (r != rows || c != cols || !(a >= 0.0 && a < 1e30)) {
            snprintf(what, sizeof what, "layers[%d]: shape [%lld, %lld] amax %g, the model's "
                     "layer is [%d, %d]", i, (long long)r, (long long)c, a, rows, cols);
            calib_fail(m, what);
            goto done;
        }
        m->calib.amax[i] = (float)a;
    }
    m->calib.n = n;
    m->calib.images = (int)images;
    err = 0;
done:
    if (err && !m->calib.n) {
        free(m->calib.amax);
        m->calib.amax = NULL;
    }
    free(q);
    json_decref(root);
    return err;
}

/* ---- measuring --------------------------------------------------------------------- */

static void observe(void *ctx, const void *layer, float amax)
{
    struct calib_run *r = ctx;
    for (int i = 0; i < r->n; i++)
        if (r->q[i].cv == layer || r->q[i].lin == layer) {
            if (amax > r->now[i]) r->now[i] = amax;
            return;
        }
}

int model_calibrate(struct model *m, const struct model_image *img)
{
    struct calib_run *r = m->calib_run;
    if (!r) {
        int cap = precision_layer_cap(m);
        r = calloc(1, sizeof *r);
        if (r) {
            r->q = malloc(sizeof *r->q * (size_t)cap);
            r->now = calloc((size_t)cap, sizeof *r->now);
            r->max = calloc((size_t)cap, sizeof *r->max);
        }
        if (!r || !r->q || !r->now || !r->max) {
            if (r) {
                free(r->q);
                free(r->now);
                free(r->max);
                free(r);
            }
            fprintf(stderr, "model: out of memory\n");
            return -1;
        }
        r->n = precision_layers(m, r->q, cap);
        m->calib_run = r;
    }
    memset(r->now, 0, sizeof *r->now * (size_t)r->n);
    enum precision p = m->precision;
    m->precision = PREC_FP32;   /* the ranges of torchvision's own arithmetic */
    ops_observe(observe, r);
    int n = 0, err = model_detect(m, img, NULL, 0, &n);
    ops_observe(NULL, NULL);
    m->precision = p;
    if (err) return err;
    for (int i = 0; i < r->n; i++)
        if (r->now[i] > r->max[i]) r->max[i] = r->now[i];
    r->images++;
    return 0;
}

int model_calibrated_images(const struct model *m)
{
    return m->calib_run ? m->calib_run->images : m->calib.images;
}

/* ---- writing ----------------------------------------------------------------------- */

int model_write_calibrated(struct model *m, FILE *out)
{
    const struct calib_run *r = m->calib_run;
    if (!r || !r->images) {
        fprintf(stderr, "model: nothing calibrated yet\n");
        return -1;
    }
    json_t *layers = json_array();
    json_t *root = json_pack("{s:s, s:i, s:i, s:o}", "format", "vdetect-int8", "version", 1,
                             "images", r->images, "layers", layers);
    int err = -1;
    char *text = NULL;
    for (int i = 0; root && i < r->n; i++) {
        int rows, cols;
        qlayer_shape(&r->q[i], &rows, &cols);
        double amax = r->max[i];
        if (json_array_append_new(layers, json_pack("{s:[i,i], s:f}", "shape", rows, cols, "amax",
                                                    isfinite(amax) ? amax : 0.0)))
            goto done;
    }
    if (root && (text = json_dumps(root, JSON_COMPACT)))
        err = ckpt_write_with_metadata(m->ck, m->path, CALIB_KEY, text, out);
done:
    if (err && !text) fprintf(stderr, "model: out of memory\n");
    free(text);
    json_decref(root);
    return err;
}
