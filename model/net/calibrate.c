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

#include <string.h>

#define CALIB_KEY "vdetect_int8"

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
    char what[256];
    struct int8_table t;
    if (int8_table_parse(text, &t, what, sizeof what)) return calib_fail(m, what);
    int err = -1;
    int cap = precision_layer_cap(m);
    struct qlayer *q = malloc(sizeof *q * (size_t)cap);
    if (!q) {
        calib_fail(m, "out of memory");
        goto done;
    }
    int n = precision_layers(m, q, cap);
    if (t.n != n) {
        snprintf(what, sizeof what, "%d layers, the model has %d", t.n, n);
        calib_fail(m, what);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        int rows, cols;
        qlayer_shape(&q[i], &rows, &cols);
        if (t.shape[i][0] != rows || t.shape[i][1] != cols) {
            snprintf(what, sizeof what, "layers[%d] is [%d, %d], the model's layer [%d, %d]", i,
                     t.shape[i][0], t.shape[i][1], rows, cols);
            calib_fail(m, what);
            goto done;
        }
    }
    m->calib.n = n;
    m->calib.images = t.images;
    m->calib.amax = t.amax;   /* taken over */
    t.amax = NULL;
    err = 0;
done:
    free(q);
    int8_table_free(&t);
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
    struct calib_run *r = m->calib_run;
    if (!r || !r->images) {
        fprintf(stderr, "model: nothing calibrated yet\n");
        return -1;
    }
    struct int8_table t = { r->n, r->images, malloc(sizeof *t.shape * (size_t)(r->n ? r->n : 1)),
                            r->max };
    char *text = NULL;
    if (t.shape) {
        for (int i = 0; i < r->n; i++) qlayer_shape(&r->q[i], &t.shape[i][0], &t.shape[i][1]);
        text = int8_table_format(&t);
    }
    free(t.shape);
    if (!text) {
        fprintf(stderr, "model: out of memory\n");
        return -1;
    }
    int err = ckpt_write_with_metadata(m->ck, m->path, CALIB_KEY, text, out);
    free(text);
    return err;
}
