/*
 * params.c — motion/'s numbers: their defaults, their ranges, and "NAME=VALUE"
 * overrides, checked one by one. One table holds each parameter's name, place,
 * range and default (what each means is in motion.h); base/ does the rest.
 */
#include "internal.h"

static const struct base_param PARAMS[] = {
#define F(n, lo, hi, d) { #n, offsetof(struct motion_params, n), BASE_PARAM_FLOAT, lo, hi, d }
#define I(n, lo, hi, d) { #n, offsetof(struct motion_params, n), BASE_PARAM_INT, lo, hi, d }
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

void motion_params_default(struct motion_params *p)
{
    base_params_default(PARAMS, NPARAMS, p, sizeof *p);
}

int motion_param_set(struct motion_params *p, const char *assignment, char *msg, size_t len)
{
    return base_param_set(PARAMS, NPARAMS, p, assignment, "motion", msg, len);
}

int motion_params_check(const struct motion_params *p, char *msg, size_t len)
{
    return base_params_check(PARAMS, NPARAMS, p, "motion", msg, len);
}
