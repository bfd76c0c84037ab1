/*
 * calibrate.c — the int8 input scales: measured on a user's images
 * (model_calibrate), written into a copy of the model file as the metadata entry
 * "vdetect_int8" (model_write_calibrated), read back at load (calib_load).
 *
 * Each layer of precision_layer_list() gets one range: the largest |x| its input
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
    float *now;               /* this image's largest |x| per layer */
    struct int8_table t;      /* the layers' shapes, and the largest |x| over the images */
};

static void run_free(struct calib_run *r)
{
    if (!r) return;
    free(r->q);
    free(r->now);
    int8_table_free(&r->t);
    free(r);
}

void calib_free(struct model *m)
{
    int8_table_free(&m->calib);
    run_free(m->calib_run);
    m->calib_run = NULL;
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
    int n = 0, err = -1;
    struct qlayer *q = precision_layer_list(m, &n);
    if (!q) goto done;
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
    m->calib = t;   /* taken over */
    memset(&t, 0, sizeof t);
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
    for (int i = 0; i < r->t.n; i++)
        if (r->q[i].cv == layer || r->q[i].lin == layer) {
            if (amax > r->now[i]) r->now[i] = amax;
            return;
        }
}

/* The run's layers, with their shapes and no range yet; NULL after printing. */
static struct calib_run *run_start(struct model *m)
{
    struct calib_run *r = calloc(1, sizeof *r);
    int n = 0;
    if (!r || !(r->q = precision_layer_list(m, &n))) {
        free(r);
        return NULL;   /* (printed) */
    }
    size_t k = (size_t)(n ? n : 1);
    r->now = calloc(k, sizeof *r->now);
    r->t.amax = calloc(k, sizeof *r->t.amax);
    r->t.shape = malloc(k * sizeof *r->t.shape);
    if (!r->now || !r->t.amax || !r->t.shape) {
        run_free(r);
        fprintf(stderr, "model: out of memory\n");
        return NULL;
    }
    r->t.n = n;
    for (int i = 0; i < n; i++) qlayer_shape(&r->q[i], &r->t.shape[i][0], &r->t.shape[i][1]);
    return r;
}

int model_calibrate(struct model *m, const struct model_image *img)
{
    struct calib_run *r = m->calib_run;
    if (!r && !(r = m->calib_run = run_start(m))) return -1;
    memset(r->now, 0, sizeof *r->now * (size_t)r->t.n);
    enum precision p = m->precision;
    m->precision = PREC_FP32;   /* the ranges of torchvision's own arithmetic */
    ops_observe(observe, r);
    int n = 0, err = model_detect(m, img, NULL, 0, &n);
    ops_observe(NULL, NULL);
    m->precision = p;
    if (err) return err;
    for (int i = 0; i < r->t.n; i++)
        if (r->now[i] > r->t.amax[i]) r->t.amax[i] = r->now[i];
    r->t.images++;
    return 0;
}

int model_calibrated_images(const struct model *m)
{
    return m->calib_run ? m->calib_run->t.images : m->calib.images;
}

/* ---- writing ----------------------------------------------------------------------- */

int model_write_calibrated(struct model *m, FILE *out)
{
    const struct calib_run *r = m->calib_run;
    if (!r || !r->t.images) {
        fprintf(stderr, "model: nothing calibrated yet\n");
        return -1;
    }
    char *text = int8_table_format(&r->t);
    if (!text) {
        fprintf(stderr, "model: out of memory\n");
        return -1;
    }
    int err = ckpt_write_with_metadata(m->ck, m->path, CALIB_KEY, text, out);
    free(text);
    return err;
}
