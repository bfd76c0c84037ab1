/*
 * kalman.c — the tracker's motion model: ByteTrack's (and DeepSORT's)
 * constant-velocity Kalman filter on z = (cx, cy, a, h), the box centre, its
 * aspect ratio w / h and its height, with noise proportional to the height.
 * One step is one frame.
 *
 * Why four 2-state filters are the 8-state filter, exactly. Order the state as
 * (cx, vcx, cy, vcy, a, va, h, vh) — a permutation of ByteTrack's
 * (cx, cy, a, h, vcx, vcy, va, vh). Then
 *   F = blockdiag(B, B, B, B) with B = [1 1; 0 1],
 *   H = blockdiag(e, e, e, e) with e = [1 0],
 *   Q = diag(...) and R = diag(...) and the initial P = diag(...),
 * all block diagonal with 2x2 blocks (1x2 for H, 1x1 for R). If P is block
 * diagonal, so are F P F' + Q, S = H P H' + R (diagonal: s_k = P_k[0][0] + r_k),
 * K = P H' S^-1 (block k is P_k e' / s_k) and P - K S K'; the mean update
 * x + K (z - H x) uses block k of K and coordinate k of z only. By induction
 * P stays block diagonal for ever, and every operation is the 2-state one on
 * each block. The only link between coordinates is that the noise levels are
 * computed from the mean height h — a number, not a covariance term — which
 * we read at the same moments ByteTrack does: before the prediction for Q,
 * after it (the predicted h) for R, the measured h at initiation.
 * tests/test_track.c checks this against a plain 8x8 filter.
 */
#include <math.h>

#include "internal.h"

/* ByteTrack's fixed noise of the aspect ratio (not scaled by the height). */
#define ASPECT_STD_INIT 1e-2
#define ASPECT_VEL_STD_INIT 1e-5
#define ASPECT_STD_PROCESS 1e-2
#define ASPECT_VEL_STD_PROCESS 1e-5
#define ASPECT_STD_MEASURE 1e-1

void kalman_measure(const float box[4], double z[4])
{
    double w = (double)box[2] - box[0], h = (double)box[3] - box[1];
    z[0] = ((double)box[0] + box[2]) / 2;
    z[1] = ((double)box[1] + box[3]) / 2;
    z[2] = h > 0 ? w / h : 0;
    z[3] = h;
}

void kalman_box(const struct kalman *k, float box[4])
{
    /* a long prediction can shrink a box through zero: report it empty, not inverted */
    double h = fmax(k->d[3].x, 0), w = fmax(k->d[2].x * h, 0);
    box[0] = (float)(k->d[0].x - w / 2);
    box[1] = (float)(k->d[1].x - h / 2);
    box[2] = (float)(k->d[0].x + w / 2);
    box[3] = (float)(k->d[1].x + h / 2);
}

void kalman_init(struct kalman *k, const double z[4], double wpos, double wvel)
{
    double h = z[3];
    double sp[4] = { 2 * wpos * h, 2 * wpos * h, ASPECT_STD_INIT, 2 * wpos * h };
    double sv[4] = { 10 * wvel * h, 10 * wvel * h, ASPECT_VEL_STD_INIT, 10 * wvel * h };
    for (int i = 0; i < 4; i++) {
        k->d[i] = (struct kalman_1d){ .x = z[i], .v = 0, .pxx = sp[i] * sp[i], .pxv = 0,
                                      .pvv = sv[i] * sv[i] };
    }
}

void kalman_predict(struct kalman *k, double wpos, double wvel)
{
    double h = k->d[3].x;
    double sp[4] = { wpos * h, wpos * h, ASPECT_STD_PROCESS, wpos * h };
    double sv[4] = { wvel * h, wvel * h, ASPECT_VEL_STD_PROCESS, wvel * h };
    for (int i = 0; i < 4; i++) {
        struct kalman_1d *d = &k->d[i];
        /* [1 1; 0 1] P [1 0; 1 1] + diag(qx, qv) */
        d->x += d->v;
        d->pxx += 2 * d->pxv + d->pvv + sp[i] * sp[i];
        d->pxv += d->pvv;
        d->pvv += sv[i] * sv[i];
    }
}

void kalman_update(struct kalman *k, const double z[4], double wpos)
{
    double h = k->d[3].x; /* the predicted height, read before any coordinate changes */
    double sr[4] = { wpos * h, wpos * h, ASPECT_STD_MEASURE, wpos * h };
    for (int i = 0; i < 4; i++) {
        struct kalman_1d *d = &k->d[i];
        double s = d->pxx + sr[i] * sr[i];
        if (!(s > 0)) continue; /* a degenerate box (height 0): nothing to learn */
        double kx = d->pxx / s, kv = d->pxv / s, y = z[i] - d->x;
        d->x += kx * y;
        d->v += kv * y;
        /* P - K s K' */
        double pxx = d->pxx, pxv = d->pxv;
        d->pxx = pxx - kx * pxx;
        d->pxv = pxv - kx * pxv;
        d->pvv -= kv * pxv;
    }
}
