/*
 * params.c — the tracker's numbers: their defaults, their ranges, and
 * "NAME=VALUE" overrides (--track-set), checked one by one and together.
 * One table holds each parameter's name, place, range and meaning.
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
#define F(n, lo, hi, d) { #n, offsetof(struct track_params, n), KIND_FLOAT, lo, hi, d }
#define I(n, lo, hi, d) { #n, offsetof(struct track_params, n), KIND_INT, lo, hi, d }
    F(track_high_thresh, 0, 1, 0.5),
    F(track_low_thresh, 0, 1, 0.1),
    F(new_track_thresh, 0, 1, 0.6),
    F(match_thresh, 0, 1, 0.8),
    F(second_match_thresh, 0, 1, 0.5),
    F(tentative_match_thresh, 0, 1, 0.7),
    I(track_buffer, 1, 100000, 30),
    F(frame_rate, 0.001, 1000, 30),
    I(class_aware, 0, 1, 1),
    F(dedup_overlap, 0, 1, 0.8),
    F(std_weight_position, 1e-6, 10, 1.0 / 20),
    F(std_weight_velocity, 1e-6, 10, 1.0 / 160),
#undef F
#undef I
};
#define NPARAMS ((int)(sizeof PARAMS / sizeof PARAMS[0]))

static double get(const struct track_params *p, const struct param *d)
{
    const char *at = (const char *)p + d->offset;
    return d->kind == KIND_INT ? *(const int *)at : *(const float *)at;
}

static void put(struct track_params *p, const struct param *d, double x)
{
    char *at = (char *)p + d->offset;
    if (d->kind == KIND_INT) *(int *)at = (int)x;
    else *(float *)at = (float)x;
}

void track_params_default(struct track_params *p)
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
    return track_err(msg, len, "track: %s: '%.40s' is not %s in [%g, %g]", d->name, value,
                     d->kind == KIND_INT ? "an integer" : "a number", d->min, d->max);
}

int track_param_set(struct track_params *p, const char *assignment, char *msg, size_t len)
{
    const char *eq = assignment ? strchr(assignment, '=') : NULL;
    if (!eq) return track_err(msg, len, "track: '%.60s' is not NAME=VALUE", assignment ? assignment : "");
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
        return track_err(msg, len, "track: unknown parameter '%.*s' (known: %s)",
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

int track_params_check(const struct track_params *p, char *msg, size_t len)
{
    for (int i = 0; i < NPARAMS; i++) {
        double x = get(p, &PARAMS[i]);
        if (out_of_range(&PARAMS[i], x)) {
            char v[32];
            snprintf(v, sizeof v, "%g", x);
            return range_err(&PARAMS[i], v, msg, len);
        }
    }
    if (p->track_low_thresh > p->track_high_thresh)
        return track_err(msg, len, "track: track_low_thresh %g is above track_high_thresh %g",
                         p->track_low_thresh, p->track_high_thresh);
    return 0;
}

int track_max_age(const struct track_params *p)
{
    /* ByteTrack: int(frame_rate / 30.0 * track_buffer) */
    double a = floor((double)p->frame_rate / 30.0 * p->track_buffer);
    return a < 1 ? 1 : a > 1e8 ? 100000000 : (int)a;
}
