/*
 * params.c — the tracker's numbers: their defaults, their ranges, and
 * "NAME=VALUE" overrides (--track-set), checked one by one and together.
 * One table holds each parameter's name, place, range and default (what each
 * means is in track.h); base/ does the rest.
 */
#include <math.h>

#include "internal.h"

static const struct base_param PARAMS[] = {
#define F(n, lo, hi, d) { #n, offsetof(struct track_params, n), BASE_PARAM_FLOAT, lo, hi, d }
#define I(n, lo, hi, d) { #n, offsetof(struct track_params, n), BASE_PARAM_INT, lo, hi, d }
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

void track_params_default(struct track_params *p)
{
    base_params_default(PARAMS, NPARAMS, p, sizeof *p);
}

int track_param_set(struct track_params *p, const char *assignment, char *msg, size_t len)
{
    return base_param_set(PARAMS, NPARAMS, p, assignment, "track", msg, len);
}

int track_params_check(const struct track_params *p, char *msg, size_t len)
{
    if (base_params_check(PARAMS, NPARAMS, p, "track", msg, len) < 0) return -1;
    if (p->track_low_thresh > p->track_high_thresh)
        return base_err(msg, len, "track: track_low_thresh %g is above track_high_thresh %g",
                        p->track_low_thresh, p->track_high_thresh);
    return 0;
}

int track_max_age(const struct track_params *p)
{
    /* ByteTrack: int(frame_rate / 30.0 * track_buffer) */
    double a = floor((double)p->frame_rate / 30.0 * p->track_buffer);
    return a < 1 ? 1 : a > 1e8 ? 100000000 : (int)a;
}
