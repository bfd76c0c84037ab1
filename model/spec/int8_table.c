/*
 * int8_table.c — the int8 ranges a model file carries in
 * __metadata__["vdetect_int8"] (model/FORMAT.md), as text and back: the JSON side
 * of calibration. Which layer each entry belongs to is net/calibrate.c's business.
 *
 * The text is untrusted (it comes with the model file): it is held to 4 MB, a
 * depth of 4 and 65536 layers before jansson builds anything, and every field is
 * checked; a problem is one line in err.
 */
#include "spec.h"
#include "../ckpt/sjson.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_MAX_LAYERS 65536

void int8_table_free(struct int8_table *t)
{
    free(t->shape);
    free(t->amax);
    memset(t, 0, sizeof *t);
}

int int8_table_parse(const char *text, struct int8_table *t, char *err, size_t len)
{
    memset(t, 0, sizeof *t);
    struct sjson_limits lim = { 4 << 20, 4, 8 * (size_t)TABLE_MAX_LAYERS };
    char msg[160];
    json_t *root = sjson_load(text, strlen(text), &lim, msg, sizeof msg);
    if (!root) {
        snprintf(err, len, "JSON %s", msg);
        return -1;
    }
    int bad = -1;
    json_t *layers = json_object_get(root, "layers");
    int64_t version = 0, images = 0;
    const char *fmt = json_string_value(json_object_get(root, "format"));
    if (!fmt || strcmp(fmt, "vdetect-int8") || json_object_size(root) != 4 ||
        !sjson_int(json_object_get(root, "version"), 1, 1000, &version) ||
        !sjson_int(json_object_get(root, "images"), 1, INT32_MAX, &images) ||
        !json_is_array(layers) || json_array_size(layers) > TABLE_MAX_LAYERS) {
        snprintf(err, len, "not a version 1 table {format, version, images, layers}");
        goto done;
    }
    if (version > 1) {
        snprintf(err, len, "version %lld, written by a newer vdetect", (long long)version);
        goto done;
    }
    size_t n = json_array_size(layers);
    t->shape = malloc(sizeof *t->shape * (n ? n : 1));
    t->amax = malloc(sizeof *t->amax * (n ? n : 1));
    if (!t->shape || !t->amax) {
        snprintf(err, len, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(layers, i), *shape = json_object_get(e, "shape");
        json_t *amax = json_object_get(e, "amax");
        int64_t r = 0, c = 0;
        if (json_object_size(e) != 2 || json_array_size(shape) != 2 || !json_is_number(amax) ||
            !sjson_int(json_array_get(shape, 0), 0, INT32_MAX, &r) ||
            !sjson_int(json_array_get(shape, 1), 0, INT32_MAX, &c)) {
            snprintf(err, len, "layers[%zu] is not {\"shape\": [rows, cols], \"amax\": number}", i);
            goto done;
        }
        double a = json_number_value(amax);
        if (!(a >= 0.0 && a < 1e30)) {
            snprintf(err, len, "layers[%zu]: amax %g is not a range", i, a);
            goto done;
        }
        t->shape[i][0] = (int)r;
        t->shape[i][1] = (int)c;
        t->amax[i] = (float)a;
    }
    t->n = (int)n;
    t->images = (int)images;
    bad = 0;
done:
    if (bad) int8_table_free(t);
    json_decref(root);
    return bad;
}

char *int8_table_format(const struct int8_table *t)
{
    json_t *layers = json_array();
    json_t *root = layers ? json_pack("{s:s, s:i, s:i, s:o}", "format", "vdetect-int8",
                                      "version", 1, "images", t->images, "layers", layers)
                          : NULL;
    char *text = NULL;
    for (int i = 0; root && i < t->n; i++)
        if (json_array_append_new(layers, json_pack("{s:[i,i], s:f}", "shape", t->shape[i][0],
                                                    t->shape[i][1], "amax",
                                                    isfinite(t->amax[i]) ? t->amax[i] : 0.0)))
            goto done;
    if (root) text = json_dumps(root, JSON_COMPACT);
done:
    json_decref(root);
    return text;
}
