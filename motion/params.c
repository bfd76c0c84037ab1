/*
 * params.c — motion/'s numbers: their defaults, their ranges, and "NAME=VALUE"
 * overrides, checked one by one. One table holds each parameter's name, place,
 * range and default (what each means is in motion.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum kind { KIND_FLOAT, KIND_INT };

static const struct param {
    const char *name;
    size_t offset;
    enum kind kind;
    double min, max;
    double def;
} PARAMS[] = {
#define F(n, lo, hi, d) { #n, offsetof(struct motion_params, n), KIND_FLOAT, lo, hi, d }
#define I(n, lo, hi, d) { #n, offsetof(struct motion_params, n), KIND_INT, lo, hi, d }
    I(frame_height, 8, 2160, 100),
    I(threshold, 1, 254, 15),
    F(alpha, 1e-6, 1, 0.01),
    F(moving_alpha, 0, 1, 0.0025),
    I(dilate, 0, 8, 1),
    I(min_area, 1, 10000000, 10),
    F(recal_share, 0.01, 1, 0.8),
    I(region_margin, 0, 16384, 20),
    I(region_min_w, 0, 16384, 320),
    I(region_min_h, 0, 16384, 320),
    F(full_frame_share, 0, 1, 0.6),
    F(dedup_iou, 0.01, 1, 0.5),
    I(zone_frames_in, 1, 255, 1),
    I(zone_frames_out, 1, 255, 1),
#undef F
#undef I
};
#define NPARAMS ((int)(sizeof PARAMS / sizeof PARAMS[0]))

static double get(const struct motion_params *p, const struct param *d)
{
    const char *at = (const char *)p + d->offset;
    return d->kind == KIND_INT ? *(const int *)at : *(const float *)at;
}

static void put(struct motion_params *p, const struct param *d, double x)
{
    char *at = (char *)p + d->offset;
    if (d->kind == KIND_INT) *(int *)at = (int)x;
    else *(float *)at = (float)x;
}

void motion_params_default(struct motion_params *p)
{
    memset(p, 0, sizeof *p);
    for (int i = 0; i < NPARAMS; i++) put(p, &PARAMS[i], PARAMS[i].def);
}

static int out_of_range(const struct param *d, double x)
{
    return !isfinite(x) || x < d->min || x > d->max || (d->kind == KIND_INT && x != floor(x));
}

static int range_err(const struct param *d, const char *value, char *msg, size_t len)
{
    return motion_err(msg, len, "motion: %s: '%.40s' is not %s in [%g, %g]", d->name, value,
                      d->kind == KIND_INT ? "an integer" : "a number", d->min, d->max);
}

int motion_param_set(struct motion_params *p, const char *assignment, char *msg, size_t len)
{
    const char *eq = assignment ? strchr(assignment, '=') : NULL;
    if (!eq)
        return motion_err(msg, len, "motion: '%.60s' is not NAME=VALUE", assignment ? assignment : "");
    size_t nl = (size_t)(eq - assignment);
    const struct param *d = NULL;
    for (int i = 0; i < NPARAMS; i++)
        if (strlen(PARAMS[i].name) == nl && !strncmp(PARAMS[i].name, assignment, nl)) d = &PARAMS[i];
    if (!d) {
        char known[512] = "";
        for (int i = 0; i < NPARAMS; i++) {
            strncat(known, i ? ", " : "", sizeof known - strlen(known) - 1);
            strncat(known, PARAMS[i].name, sizeof known - strlen(known) - 1);
        }
        return motion_err(msg, len, "motion: unknown parameter '%.*s' (known: %s)",
                          (int)(nl > 40 ? 40 : nl), assignment, known);
    }
    const char *value = eq + 1;
    char *end;
    errno = 0;
    double x = strtod(value, &end);
    while (*end == ' ' || *end == '\t') end++;
    if (end == value || *end || errno == ERANGE || out_of_range(d, x))
        return range_err(d, value, msg, len);
    put(p, d, x);
    return 0;
}

int motion_params_check(const struct motion_params *p, char *msg, size_t len)
{
    for (int i = 0; i < NPARAMS; i++) {
        double x = get(p, &PARAMS[i]);
        if (out_of_range(&PARAMS[i], x)) {
            char v[32];
            snprintf(v, sizeof v, "%g", x);
            return range_err(&PARAMS[i], v, msg, len);
        }
    }
    return 0;
}
