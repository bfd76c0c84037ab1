/*
 * test_track.c — track/: the Hungarian assignment against brute force, the
 * decoupled Kalman filter against a plain 8x8 one, the tracker's behaviour on
 * scripted scenes (identities kept through motion, crossings and occlusion,
 * new ones after max_age and never reused, low scores only continuing,
 * tentative tracks, prediction between detections, classes), parameters,
 * count lines, the MOT metrics on hand-computed cases, MOTChallenge files,
 * and a benchmark of one tracker frame at 100 objects (printed, not asserted).
 * Run it under ASan and UBSan with `make asan && build-asan/tests/test_track`.
 */
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../track/internal.h"
#include "../track/track.h"
#include "check.h"

/* ---- helpers ---------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static double urand(void) /* [0, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static double gauss(void)
{
    double u = urand() + 1e-12, v = urand();
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static struct track_det det(float cx, float cy, float w, float h, float score, int label)
{
    return (struct track_det){ { cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2 }, score, label };
}

static struct tracker *new_tracker(const char *const *sets)
{
    struct track_params p;
    track_params_default(&p);
    char msg[256];
    for (; sets && *sets; sets++)
        if (track_param_set(&p, *sets, msg, sizeof msg) < 0) fprintf(stderr, "%s\n", msg);
    struct tracker *t = NULL;
    if (track_create(&t, &p, msg, sizeof msg) < 0) fprintf(stderr, "%s\n", msg);
    return t;
}

/* The output track with id, or NULL. */
static const struct track_out *by_id(const struct track_out *o, int n, int id)
{
    for (int i = 0; i < n; i++)
        if (o[i].id == id) return &o[i];
    return NULL;
}

/* The confirmed track matched at this frame whose box centre is nearest (x, y). */
static const struct track_out *nearest(const struct track_out *o, int n, float x, float y)
{
    const struct track_out *best = NULL;
    double bd = INFINITY;
    for (int i = 0; i < n; i++) {
        if (o[i].id < 1 || o[i].since_match) continue;
        double dx = (o[i].box[0] + o[i].box[2]) / 2 - x, dy = (o[i].box[1] + o[i].box[3]) / 2 - y;
        if (dx * dx + dy * dy < bd) bd = dx * dx + dy * dy, best = &o[i];
    }
    return best;
}

/* ---- assignment --------------------------------------------------------------- */

static double best_value;

static void brute(const double *c, int n, int m, double thresh, int i, unsigned used, double acc)
{
    if (i == n) {
        if (acc < best_value) best_value = acc;
        return;
    }
    brute(c, n, m, thresh, i + 1, used, acc); /* row i left out */
    for (int j = 0; j < m; j++)
        if (!(used & 1u << j) && c[i * m + j] <= thresh)
            brute(c, n, m, thresh, i + 1, used | 1u << j, acc + c[i * m + j] - thresh);
}

static void test_assign(void)
{
    struct assign a = { 0 };
    int bad_value = 0, bad_valid = 0, trials = 3000;
    for (int trial = 0; trial < trials; trial++) {
        int n = (int)(urand() * 7), m = (int)(urand() * 7);
        double c[49], thresh = 0.2 + urand() * 0.9;
        for (int k = 0; k < n * m; k++) {
            double r = urand();
            /* some infeasible entries of every kind; some ties */
            c[k] = r < 0.1 ? INFINITY : r < 0.15 ? NAN : r < 0.25 ? 0.5 : urand();
            if (trial % 3 == 0) c[k] = floor(c[k] * 4) / 4;
        }
        int r2c[7], c2r[7];
        int pairs = assign_solve(&a, c, n, m, thresh, r2c, c2r, NULL, 0);
        best_value = 0;
        brute(c, n, m, thresh, 0, 0, 0);
        double v = 0;
        int count = 0, ok = pairs >= 0;
        unsigned used = 0;
        for (int i = 0; i < n && ok; i++) {
            int j = r2c[i];
            if (j < 0) continue;
            ok &= j < m && !(used & 1u << j) && c[i * m + j] <= thresh && c2r[j] == i;
            used |= 1u << j;
            v += c[i * m + j] - thresh;
            count++;
        }
        for (int j = 0; j < m && ok; j++) ok &= c2r[j] < 0 ? !(used & 1u << j) : r2c[c2r[j]] == j;
        ok &= count == pairs;
        bad_valid += !ok;
        bad_value += ok && fabs(v - best_value) > 1e-9;
    }
    CHECK(!bad_valid, "assignment: %d of %d results are not valid partial matchings", bad_valid, trials);
    CHECK(!bad_value, "assignment: %d of %d results are not optimal (brute force)", bad_value, trials);

    /* with a threshold far above the costs, the most pairs win over cheaper ones:
     * (0,0) alone costs 0, but (0,1) + (1,0) are two pairs */
    double c2[4] = { 0.0, 0.4, 0.4, INFINITY };
    int r2c[2];
    CHECK(assign_solve(&a, c2, 2, 2, 0.5 + 3, r2c, NULL, NULL, 0) == 2 && r2c[0] == 1 && r2c[1] == 0,
          "cardinality first: got %d %d", r2c[0], r2c[1]);
    CHECK(assign_solve(&a, c2, 2, 2, 0.5, r2c, NULL, NULL, 0) == 1 && r2c[0] == 0 && r2c[1] == -1,
          "ByteTrack's objective: one cheap pair beats two dear ones");

    /* a bigger sparse problem (one component per object) stays exact: the
     * identity, shuffled */
    enum { N = 300 };
    static double big[N * N];
    int perm[N], rc[N];
    for (int i = 0; i < N; i++) perm[i] = i;
    for (int i = N - 1; i > 0; i--) {
        int j = (int)(urand() * (i + 1)), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    for (int i = 0; i < N * N; i++) big[i] = INFINITY;
    for (int i = 0; i < N; i++) big[i * N + perm[i]] = 0.1, big[i * N + perm[(i + 1) % N]] = 0.3;
    int ok = assign_solve(&a, big, N, N, 0.5, rc, NULL, NULL, 0) == N;
    for (int i = 0; i < N; i++) ok &= rc[i] == perm[i];
    CHECK(ok, "300x300 ring of two choices per row: the cheap one everywhere");
    assign_free(&a);
    assign_free(&a);
}

/* ---- Kalman: decoupled vs a plain 8x8 filter ------------------------------------- */

struct kf8 {
    double x[8], P[8][8];
};

static void kf8_init(struct kf8 *k, const double z[4], double wp, double wv)
{
    double h = z[3];
    double sd[8] = { 2 * wp * h, 2 * wp * h, 1e-2, 2 * wp * h, 10 * wv * h, 10 * wv * h, 1e-5, 10 * wv * h };
    memset(k, 0, sizeof *k);
    for (int i = 0; i < 4; i++) k->x[i] = z[i];
    for (int i = 0; i < 8; i++) k->P[i][i] = sd[i] * sd[i];
}

static void kf8_predict(struct kf8 *k, double wp, double wv)
{
    double h = k->x[3], F[8][8] = { { 0 } }, FP[8][8] = { { 0 } }, P[8][8] = { { 0 } }, x[8] = { 0 };
    double sd[8] = { wp * h, wp * h, 1e-2, wp * h, wv * h, wv * h, 1e-5, wv * h };
    for (int i = 0; i < 8; i++) F[i][i] = 1;
    for (int i = 0; i < 4; i++) F[i][i + 4] = 1;
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) x[i] += F[i][j] * k->x[j];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++)
            for (int l = 0; l < 8; l++) FP[i][j] += F[i][l] * k->P[l][j];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++)
            for (int l = 0; l < 8; l++) P[i][j] += FP[i][l] * F[j][l];
    for (int i = 0; i < 8; i++) P[i][i] += sd[i] * sd[i];
    memcpy(k->x, x, sizeof x);
    memcpy(k->P, P, sizeof P);
}

/* Invert a 4x4 matrix by Gauss-Jordan with partial pivoting. */
static void inv4(double A[4][4], double I[4][4])
{
    double M[4][8];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++) M[i][j] = j < 4 ? A[i][j] : (j - 4 == i);
    for (int c = 0; c < 4; c++) {
        int p = c;
        for (int r = c + 1; r < 4; r++)
            if (fabs(M[r][c]) > fabs(M[p][c])) p = r;
        for (int j = 0; j < 8; j++) {
            double t = M[c][j];
            M[c][j] = M[p][j], M[p][j] = t;
        }
        double d = M[c][c];
        for (int j = 0; j < 8; j++) M[c][j] /= d;
        for (int r = 0; r < 4; r++) {
            if (r == c) continue;
            double f = M[r][c];
            for (int j = 0; j < 8; j++) M[r][j] -= f * M[c][j];
        }
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) I[i][j] = M[i][j + 4];
}

static void kf8_update(struct kf8 *k, const double z[4], double wp)
{
    double h = k->x[3], sd[4] = { wp * h, wp * h, 1e-1, wp * h };
    double S[4][4], Si[4][4], K[8][4] = { { 0 } }, y[4];
    /* H = [I 0]: H P H' is P's top-left block, P H' its left columns */
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) S[i][j] = k->P[i][j] + (i == j ? sd[i] * sd[i] : 0);
    inv4(S, Si);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 4; l++) K[i][j] += k->P[i][l] * Si[l][j];
    for (int i = 0; i < 4; i++) y[i] = z[i] - k->x[i];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++) k->x[i] += K[i][j] * y[j];
    /* P - K S K' = P - K H P */
    double KHP[8][8] = { { 0 } };
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++)
            for (int l = 0; l < 4; l++) KHP[i][j] += K[i][l] * k->P[l][j];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) k->P[i][j] -= KHP[i][j];
}

static double kf_diff(const struct kalman *a, const struct kf8 *b)
{
    double worst = 0;
    for (int i = 0; i < 4; i++) {
        const struct kalman_1d *d = &a->d[i];
        double got[5] = { d->x, d->v, d->pxx, d->pxv, d->pvv };
        double want[5] = { b->x[i], b->x[i + 4], b->P[i][i], b->P[i][i + 4], b->P[i + 4][i + 4] };
        for (int k = 0; k < 5; k++) {
            double e = fabs(got[k] - want[k]) / (fabs(want[k]) + 1e-6);
            if (e > worst) worst = e;
        }
        /* the cross-coordinate terms the decoupling drops must be zero */
        for (int j = 0; j < 8; j++)
            if (j != i && j != i + 4 && fabs(b->P[i][j]) > 1e-12 * (fabs(b->P[i][i]) + 1)) worst = INFINITY;
    }
    return worst;
}

static void test_kalman(void)
{
    double wp = 1.0 / 20, wv = 1.0 / 160, worst = 0;
    for (int run = 0; run < 20; run++) {
        double cx = 100 + urand() * 500, cy = 100 + urand() * 300, w = 20 + urand() * 80, h = 40 + urand() * 150;
        double vx = gauss() * 5, vy = gauss() * 3, vh = gauss() * 0.5;
        double z[4] = { cx, cy, w / h, h };
        struct kalman a;
        struct kf8 b;
        kalman_init(&a, z, wp, wv);
        kf8_init(&b, z, wp, wv);
        worst = fmax(worst, kf_diff(&a, &b));
        for (int t = 1; t < 60; t++) {
            kalman_predict(&a, wp, wv);
            kf8_predict(&b, wp, wv);
            worst = fmax(worst, kf_diff(&a, &b));
            if (t % 7 == 3) continue; /* a frame without a measurement */
            double zz[4] = { cx + vx * t + gauss() * 2, cy + vy * t + gauss() * 2,
                             w / h + gauss() * 0.02, h + vh * t + gauss() * 2 };
            kalman_update(&a, zz, wp);
            kf8_update(&b, zz, wp);
            worst = fmax(worst, kf_diff(&a, &b));
        }
    }
    CHECK(worst < 1e-9, "decoupled Kalman vs 8x8: largest relative difference %.3g", worst);

    /* the model: a box moving at constant speed is followed with that speed */
    struct kalman k;
    float box[4] = { 100, 100, 140, 200 };
    double z[4];
    kalman_measure(box, z);
    kalman_init(&k, z, wp, wv);
    for (int t = 1; t <= 30; t++) {
        kalman_predict(&k, wp, wv);
        float b2[4] = { 100 + 3.0f * t, 100 - 1.0f * t, 140 + 3.0f * t, 200 - 1.0f * t };
        kalman_measure(b2, z);
        kalman_update(&k, z, wp);
    }
    CHECK(fabs(k.d[0].v - 3) < 0.05 && fabs(k.d[1].v + 1) < 0.05, "velocity learned: %g %g",
          k.d[0].v, k.d[1].v);
    kalman_box(&k, box);
    CHECK(fabs(box[0] - 190) < 0.5 && fabs(box[3] - 170) < 0.5, "box from state: %g %g", box[0], box[3]);
}

/* ---- tracker --------------------------------------------------------------------- */

static void test_linear(void)
{
    struct tracker *t = new_tracker(NULL);
    const struct track_out *o;
    int ok = 1, ids = 1;
    for (int f = 0; f < 100; f++) {
        struct track_det d = det(50 + 4.0f * f + (float)gauss(), 200 + 1.0f * f, 40, 90, 0.9f, 1);
        int n = track_update(t, &d, 1, &o, NULL, 0);
        ok &= n == 1 && o[0].id == 1 && o[0].state == TRACK_TRACKED && o[0].since_match == 0 &&
              o[0].age == f && o[0].label == 1 && fabsf(o[0].box[0] - d.box[0]) < 1e-4f;
        ids &= n == 1 && o[0].id == 1;
    }
    CHECK(ok && ids, "a linearly moving object keeps id 1 for 100 frames");
    CHECK(fabsf(o[0].vx - 4) < 0.3f && fabsf(o[0].vy - 1) < 0.3f, "its velocity %g %g", o[0].vx, o[0].vy);
    CHECK(track_frames(t) == 100, "100 frames");
    track_free(&t);
    CHECK(!t, "free nulls");
    track_free(&t);
    track_free(NULL);
}

static void test_crossing(void)
{
    /* A goes right, B goes left, 10 px apart vertically, 12 px a frame: around
     * the crossing their boxes overlap almost wholly (IoU up to 0.85), and
     * only the motion model tells which is which */
    struct tracker *t = new_tracker(NULL);
    const struct track_out *o;
    int ok = 1, ida = 0, idb = 0;
    for (int f = 0; f < 50; f++) {
        float xa = 100 + 12.0f * f, xb = 700 - 12.0f * f;
        struct track_det d[2] = { det(xa, 200, 60, 120, 0.9f, 0), det(xb, 210, 60, 120, 0.85f, 0) };
        int n = track_update(t, d, 2, &o, NULL, 0);
        const struct track_out *a = nearest(o, n, xa, 200), *b = nearest(o, n, xb, 210);
        if (f == 0) ida = a ? a->id : -1, idb = b ? b->id : -1;
        ok &= n == 2 && a && b && a->id == ida && b->id == idb && a != b;
    }
    CHECK(ok && ida == 1 && idb == 2, "two objects crossing keep their ids (%d, %d)", ida, idb);
    track_free(&t);
}

static void test_occlusion(void)
{
    struct tracker *t = new_tracker(NULL);
    const struct track_out *o;
    int f = 0, ok = 1, n = 0;
    /* seen 20 frames, hidden 10, seen again where it would be */
    for (; f < 20; f++) {
        struct track_det d = det(100 + 3.0f * f, 300, 50, 100, 0.9f, 2);
        n = track_update(t, &d, 1, &o, NULL, 0);
    }
    for (; f < 30; f++) {
        n = track_update(t, NULL, 0, &o, NULL, 0);
        ok &= n == 1 && o[0].id == 1 && o[0].state == TRACK_LOST && o[0].since_match == f - 19;
    }
    CHECK(ok, "hidden: lost, id kept, frames since match counted");
    CHECK(n == 1 && fabsf((o[0].box[0] + o[0].box[2]) / 2 - (100 + 3.0f * 29)) < 3,
          "a lost track's box keeps moving (%g)", (o[0].box[0] + o[0].box[2]) / 2);
    for (; f < 40; f++) {
        struct track_det d = det(100 + 3.0f * f, 300, 50, 100, 0.9f, 2);
        n = track_update(t, &d, 1, &o, NULL, 0);
        ok &= n == 1 && o[0].id == 1 && o[0].state == TRACK_TRACKED;
    }
    CHECK(ok, "an object occluded for 10 frames keeps its id");

    /* gone for longer than max_age (30 frames at 30 fps): a new id */
    for (int g = 0; g < 31; g++, f++) n = track_update(t, NULL, 0, &o, NULL, 0);
    CHECK(n == 0, "removed after max_age frames unmatched (%d live)", n);
    int seen[8] = { 0 };
    for (int g = 0; g < 5; g++, f++) {
        struct track_det d = det(100 + 3.0f * f, 300, 50, 100, 0.9f, 2);
        n = track_update(t, &d, 1, &o, NULL, 0);
        for (int i = 0; i < n; i++)
            if (o[i].id >= 0 && o[i].id < 8) seen[o[i].id]++;
    }
    CHECK(!seen[1] && seen[0] == 1 && seen[2] == 4, "back after max_age: tentative once, then id 2 "
          "(id 1 never again): %d %d %d", seen[0], seen[1], seen[2]);

    /* max_age scales with the frame rate: 60 fps keeps a lost track 60 frames */
    struct track_params p;
    track_params_default(&p);
    p.frame_rate = 60;
    CHECK(track_max_age(&p) == 60, "max_age at 60 fps: %d", track_max_age(&p));
    p.frame_rate = 10;
    CHECK(track_max_age(&p) == 10, "max_age at 10 fps: %d", track_max_age(&p));
    track_free(&t);

    const char *const sets[] = { "frame_rate=15", NULL };
    t = new_tracker(sets); /* max_age 15 */
    struct track_det d = det(100, 100, 50, 100, 0.9f, 0);
    track_update(t, &d, 1, &o, NULL, 0);
    for (int g = 0; g < 15; g++) n = track_update(t, NULL, 0, &o, NULL, 0);
    CHECK(n == 1, "15 fps: kept 15 frames");
    n = track_update(t, NULL, 0, &o, NULL, 0);
    CHECK(n == 0, "15 fps: gone at 16");
    track_free(&t);
}

static void test_ids_never_reused(void)
{
    /* objects come and go at random; every id ever confirmed is larger than
     * every id confirmed before it, and once gone never seen again */
    struct tracker *t = new_tracker(NULL);
    const struct track_out *o;
    enum { OBJ = 6 };
    int alive[OBJ] = { 0 }, last_max = 0, ok = 1;
    static unsigned char gone[100000];
    static unsigned char present[100000];
    float x[OBJ];
    for (int i = 0; i < OBJ; i++) x[i] = 60 + 150.0f * i;
    for (int f = 0; f < 600; f++) {
        struct track_det d[OBJ];
        int nd = 0;
        for (int i = 0; i < OBJ; i++) {
            if (urand() < 0.02) alive[i] = !alive[i];
            if (alive[i] && urand() < 0.9) d[nd++] = det(x[i], 200 + (float)gauss(), 50, 100, 0.9f, 0);
        }
        int n = track_update(t, d, nd, &o, NULL, 0);
        memset(present, 0, sizeof present);
        for (int i = 0; i < n; i++) {
            int id = o[i].id;
            if (id <= 0) continue;
            if (id >= 100000) { ok = 0; continue; }
            ok &= !gone[id];
            present[id] = 1;
            if (id > last_max) {
                ok &= id == last_max + 1; /* consecutive: tentative tracks spend no id */
                last_max = id;
            }
        }
        for (int id = 1; id <= last_max; id++)
            if (!present[id]) gone[id] = 1;
    }
    CHECK(ok && last_max > 6, "ids increase by one, and a removed id never comes back (%d ids)", last_max);
    track_free(&t);
}

static void test_low_scores(void)
{
    struct tracker *t = new_tracker(NULL);
    const struct track_out *o;
    int n = 0, ok = 1;
    for (int f = 0; f < 10; f++) {
        struct track_det d = det(100 + 2.0f * f, 100, 40, 80, 0.9f, 0);
        n = track_update(t, &d, 1, &o, NULL, 0);
    }
    for (int f = 10; f < 25; f++) { /* the detector grows unsure: 0.3 */
        struct track_det d[2] = { det(100 + 2.0f * f, 100, 40, 80, 0.3f, 0),
                                  det(600, 400, 40, 80, 0.3f, 0) /* a low-score stranger */ };
        n = track_update(t, d, 2, &o, NULL, 0);
        ok &= n == 1 && o[0].id == 1 && o[0].since_match == 0 && o[0].state == TRACK_TRACKED &&
              fabsf(o[0].score - 0.3f) < 1e-6f;
    }
    CHECK(ok, "low-score detections continue a tracked track and start none");
    /* below track_low_thresh nothing is used */
    struct track_det d = det(100 + 2.0f * 25, 100, 40, 80, 0.05f, 0);
    n = track_update(t, &d, 1, &o, NULL, 0);
    CHECK(n == 1 && o[0].since_match == 1 && o[0].state == TRACK_LOST, "0.05 is ignored");
    /* a lost track is not continued by a low detection (second association is
     * for tracked tracks only) */
    d = det(100 + 2.0f * 26, 100, 40, 80, 0.3f, 0);
    n = track_update(t, &d, 1, &o, NULL, 0);
    CHECK(n == 1 && o[0].state == TRACK_LOST && o[0].since_match == 2, "low detection does not revive a lost track");
    track_free(&t);

    /* a tracker whose first frames hold only low scores has no tracks */
    t = new_tracker(NULL);
    for (int f = 0; f < 5; f++) {
        struct track_det dl = det(100, 100, 40, 80, 0.45f, 0);
        n = track_update(t, &dl, 1, &o, NULL, 0);
    }
    CHECK(n == 0, "low scores alone start nothing (%d)", n);
    /* between high_thresh and new_track_thresh: may continue, never starts */
    for (int f = 0; f < 5; f++) {
        struct track_det dl = det(100, 100, 40, 80, 0.55f, 0);
        n = track_update(t, &dl, 1, &o, NULL, 0);
    }
    CHECK(n == 0, "0.55 < new_track_thresh starts nothing (%d)", n);
    track_free(&t);
}

static void test_tentative(void)
{
    struct tracker *t = new_tracker(NULL);
    const struct track_out *o;
    struct track_det a = det(100, 100, 40, 80, 0.9f, 0);
    int n = track_update(t, &a, 1, &o, NULL, 0);
    CHECK(n == 1 && o[0].id == 1 && o[0].state == TRACK_TRACKED, "first frame: confirmed at once");
    struct track_det ab[2] = { det(102, 100, 40, 80, 0.9f, 0), det(400, 300, 40, 80, 0.9f, 0) };
    n = track_update(t, ab, 2, &o, NULL, 0);
    const struct track_out *b = n == 2 ? &o[1] : NULL;
    CHECK(b && b->id == 0 && b->state == TRACK_TENTATIVE && b->age == 0, "a new object is tentative, id 0");
    struct track_det a3 = det(104, 100, 40, 80, 0.9f, 0);
    n = track_update(t, &a3, 1, &o, NULL, 0);
    CHECK(n == 1 && o[0].id == 1, "seen once, then gone: removed, never confirmed (%d live)", n);
    /* seen twice: confirmed with the next id */
    for (int f = 0; f < 2; f++) {
        struct track_det d2[2] = { det(106 + 2.0f * f, 100, 40, 80, 0.9f, 0), det(400, 300 + f, 40, 80, 0.9f, 0) };
        n = track_update(t, d2, 2, &o, NULL, 0);
    }
    CHECK(n == 2 && by_id(o, n, 2) && by_id(o, n, 2)->state == TRACK_TRACKED, "seen twice: id 2");
    track_free(&t);
}

static void test_stride(void)
{
    struct tracker *t = new_tracker(NULL);
    const struct track_out *o;
    int n = 0;
    float vx = 4, vy = -2;
    for (int f = 0; f < 20; f++) {
        struct track_det d = det(100 + vx * f, 300 + vy * f, 40, 80, 0.9f, 0);
        n = track_update(t, &d, 1, &o, NULL, 0);
    }
    float x0 = (o[0].box[0] + o[0].box[2]) / 2, y0 = (o[0].box[1] + o[0].box[3]) / 2;
    int ok = 1;
    for (int k = 1; k <= 3; k++) { /* the detector skips 3 frames */
        n = track_predict(t, &o);
        float x = (o[0].box[0] + o[0].box[2]) / 2, y = (o[0].box[1] + o[0].box[3]) / 2;
        ok &= n == 1 && o[0].id == 1 && o[0].state == TRACK_TRACKED && o[0].since_match == k &&
              fabsf(x - (x0 + vx * k)) < 0.5f && fabsf(y - (y0 + vy * k)) < 0.5f &&
              fabsf((o[0].box[2] - o[0].box[0]) - 40) < 0.5f;
    }
    CHECK(ok, "prediction between detections moves the box along its velocity");
    struct track_det d = det(100 + vx * 23, 300 + vy * 23, 40, 80, 0.9f, 0);
    n = track_update(t, &d, 1, &o, NULL, 0);
    CHECK(n == 1 && o[0].id == 1 && o[0].since_match == 0, "the next detection continues it");
    CHECK(track_frames(t) == 24, "frames count predictions too (%ld)", track_frames(t));
    /* tentative tracks are not reported by track_predict */
    struct track_det d2[2] = { det(100 + vx * 24, 300 + vy * 24, 40, 80, 0.9f, 0), det(500, 100, 40, 80, 0.9f, 0) };
    n = track_update(t, d2, 2, &o, NULL, 0);
    CHECK(n == 2, "two live tracks");
    n = track_predict(t, &o);
    CHECK(n == 1 && o[0].id == 1, "predict reports confirmed tracks only");
    track_free(&t);

    t = new_tracker(NULL);
    CHECK(track_predict(t, &o) == 0, "predict on an empty tracker");
    track_free(&t);
}

static void test_classes(void)
{
    /* a "person" (0) track is not continued by a "car" (2) box at the same place */
    struct tracker *t = new_tracker(NULL);
    const struct track_out *o;
    struct track_det p0 = det(100, 100, 40, 80, 0.9f, 0);
    track_update(t, &p0, 1, &o, NULL, 0);
    struct track_det c2 = det(101, 100, 40, 80, 0.9f, 2);
    int n = track_update(t, &c2, 1, &o, NULL, 0);
    CHECK(n == 2 && o[0].id == 1 && o[0].state == TRACK_LOST && o[1].id == 0 && o[1].label == 2,
          "class-aware: another label starts its own track");
    track_free(&t);
    const char *const sets[] = { "class_aware=0", NULL };
    t = new_tracker(sets);
    track_update(t, &p0, 1, &o, NULL, 0);
    n = track_update(t, &c2, 1, &o, NULL, 0);
    CHECK(n == 1 && o[0].id == 1 && o[0].label == 2, "class_aware=0: matched, takes the new label");
    track_free(&t);

    /* bad boxes are ignored, not fatal */
    t = new_tracker(NULL);
    struct track_det bad[4] = { det(100, 100, 40, 80, NAN, 0), det(NAN, 100, 40, 80, 0.9f, 0),
                                { { 10, 10, 5, 20 }, 0.9f, 0 }, { { 10, 10, 20, 10 }, 0.9f, 0 } };
    n = track_update(t, bad, 4, &o, NULL, 0);
    CHECK(n == 0, "NaN score, NaN box, inverted and empty boxes are ignored");
    track_free(&t);

    /* garbage of every kind for 3000 frames: no crash, every box reported finite */
    t = new_tracker(NULL);
    static const float extreme[] = { 0, 1, -1, 1e-30f, 1e7f, -1e7f, 2e7f, 1e30f, -1e38f, INFINITY, NAN };
    int finite = 1, calls = 0;
    for (int f = 0; f < 3000; f++) {
        struct track_det g[12];
        int nd = (int)(urand() * 12);
        for (int i = 0; i < nd; i++) {
            for (int c = 0; c < 4; c++)
                g[i].box[c] = urand() < 0.2 ? extreme[(int)(urand() * 11)] : (float)(urand() * 200);
            if (urand() < 0.5) g[i].box[2] = g[i].box[0] + (float)urand() * 30, g[i].box[3] = g[i].box[1] + (float)urand() * 30;
            g[i].score = urand() < 0.05 ? NAN : (float)urand();
            g[i].label = (int)(urand() * 3) - 1;
        }
        n = urand() < 0.2 ? track_predict(t, &o) : track_update(t, g, nd, &o, NULL, 0);
        calls += n >= 0;
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 4; c++) finite &= isfinite(o[i].box[c]);
    }
    CHECK(calls == 3000 && finite, "random and extreme boxes: %d calls, boxes finite: %d", calls, finite);
    track_free(&t);
}

static void test_params(void)
{
    struct track_params p, q;
    track_params_default(&p);
    CHECK(p.track_high_thresh == 0.5f && p.track_low_thresh == 0.1f && p.new_track_thresh == 0.6f &&
          p.match_thresh == 0.8f && p.track_buffer == 30 && p.frame_rate == 30 && p.class_aware == 1 &&
          fabsf(p.std_weight_position - 0.05f) < 1e-9f && fabsf(p.std_weight_velocity - 0.00625f) < 1e-9f,
          "defaults");
    char msg[512] = "";
    q = p;
    CHECK(track_param_set(&p, "match_thresh=0.7", msg, sizeof msg) == 0 && p.match_thresh == 0.7f, "set match_thresh");
    CHECK(track_param_set(&p, "track_buffer=60", msg, sizeof msg) == 0 && p.track_buffer == 60, "set track_buffer");
    q = p;
    CHECK(track_param_set(&p, "match_thresh=1.5", msg, sizeof msg) < 0 && strstr(msg, "match_thresh") &&
          strstr(msg, "1.5") && strstr(msg, "[0, 1]") && !memcmp(&p, &q, sizeof p), "out of range: %s", msg);
    CHECK(track_param_set(&p, "track_buffer=2.5", msg, sizeof msg) < 0 && strstr(msg, "integer"), "int: %s", msg);
    CHECK(track_param_set(&p, "track_buffer=abc", msg, sizeof msg) < 0, "not a number: %s", msg);
    CHECK(track_param_set(&p, "frame_rate=nan", msg, sizeof msg) < 0, "nan: %s", msg);
    CHECK(track_param_set(&p, "frame_rate=", msg, sizeof msg) < 0, "empty: %s", msg);
    CHECK(track_param_set(&p, "bogus=1", msg, sizeof msg) < 0 && strstr(msg, "unknown") && strstr(msg, "bogus") &&
          strstr(msg, "new_track_thresh"), "unknown name lists the known: %s", msg);
    CHECK(track_param_set(&p, "match_thresh", msg, sizeof msg) < 0 && strstr(msg, "NAME=VALUE"), "no '=': %s", msg);
    CHECK(track_param_set(&p, NULL, NULL, 0) < 0, "NULL assignment, NULL msg");
    CHECK(!memcmp(&p, &q, sizeof p), "failed sets change nothing");
    p.track_low_thresh = 0.7f;
    struct tracker *t = NULL;
    CHECK(track_create(&t, &p, msg, sizeof msg) < 0 && !t && strstr(msg, "track_low_thresh"), "low > high refused: %s", msg);
    p = q;
    p.track_buffer = 0;
    CHECK(track_create(&t, &p, msg, sizeof msg) < 0 && !t && strstr(msg, "track_buffer"), "bad struct refused: %s", msg);
}

/* ---- count lines ------------------------------------------------------------------ */

/* One track at foot point (x, y), observed (since_match 0) unless `predicted`. */
static struct track_out foot(int id, int label, float x, float y, int predicted)
{
    return (struct track_out){ .id = id, .label = label, .box = { x - 10, y - 40, x + 10, y },
                               .state = TRACK_TRACKED, .since_match = predicted ? 1 : 0 };
}

static void test_count_line(void)
{
    char msg[256];
    struct track_line *l = NULL;
    CHECK(track_line_create(&l, 0, 100, 0.5f, 100, 5, msg, sizeof msg) < 0 && !l, "too short: %s", msg);
    CHECK(track_line_create(&l, 0, 100, NAN, 100, 5, msg, sizeof msg) < 0, "NaN: %s", msg);
    CHECK(track_line_create(&l, 0, 100, 200, 100, -1, msg, sizeof msg) < 0, "negative band: %s", msg);
    /* horizontal, drawn left to right: left of it is above, right below */
    CHECK(track_line_create(&l, 0, 100, 200, 100, 5, msg, sizeof msg) == 0, "create");
    /* id 1 (label 0), foot path in y at x = 50 — expected counts in comments */
    static const float path[] = {
        50, 80, 96,          /* above, approaching: nothing */
        99, 101, 98, 103, 100, 97, 102, /* jitter within the band: nothing */
        106,                 /* firmly below: 1 crossing down (L->R) */
        104, 101, 99, 96,    /* back into the band, even past the line: nothing */
        107, 110,            /* still below: nothing */
        94,                  /* firmly above: 1 crossing up (R->L) */
        92, 106, 94, 106,    /* wide jitter, 6 px past each time: 4 crossings (2 down, 2 up) */
        150,                 /* nothing new */
    };
    int total = 0;
    for (size_t i = 0; i < sizeof path / sizeof path[0]; i++) {
        struct track_out t = foot(1, 0, 50, path[i], 0);
        int c = track_line_update(l, &t, 1, msg, sizeof msg);
        CHECK(c >= 0, "update");
        total += c;
    }
    CHECK(track_line_count(l, 0, TRACK_CROSS_LEFT_TO_RIGHT) == 3 &&
          track_line_count(l, 0, TRACK_CROSS_RIGHT_TO_LEFT) == 2 && total == 5,
          "scripted path: 3 down, 2 up (got %ld, %ld, total %d)", track_line_count(l, 0, TRACK_CROSS_LEFT_TO_RIGHT),
          track_line_count(l, 0, TRACK_CROSS_RIGHT_TO_LEFT), total);
    /* beside the segment's end (x = 300 > 200): crosses the line, not the segment */
    struct track_out t2[2] = { foot(2, 3, 300, 50, 0), foot(1, 0, 50, 150, 0) };
    track_line_update(l, t2, 2, msg, sizeof msg);
    t2[0] = foot(2, 3, 300, 150, 0);
    CHECK(track_line_update(l, t2, 2, msg, sizeof msg) == 0, "beside the end: no count");
    /* a diagonal path that cuts the segment near its end counts */
    t2[0] = foot(2, 3, 190, 50, 0); /* goes up again beside... */
    track_line_update(l, t2, 2, msg, sizeof msg); /* from (300,150) to (190,50): cuts y=100 at x=245, outside */
    CHECK(track_line_count(l, 3, TRACK_CROSS_RIGHT_TO_LEFT) == 0, "still beside");
    t2[0] = foot(2, 3, 210, 150, 0); /* (190,50) -> (210,150) cuts y=100 at x=200: on the end */
    CHECK(track_line_update(l, t2, 2, msg, sizeof msg) == 1 && track_line_count(l, 3, TRACK_CROSS_LEFT_TO_RIGHT) == 1,
          "a path through the segment's end point counts, for its class");
    /* predicted boxes move nothing; a track forgotten and back starts afresh */
    t2[0] = foot(2, 3, 100, 50, 1);
    CHECK(track_line_update(l, t2, 2, msg, sizeof msg) == 0, "predicted: nothing");
    t2[0] = foot(2, 3, 100, 150, 0);
    CHECK(track_line_update(l, t2, 2, msg, sizeof msg) == 0, "no observed side change: nothing");
    track_line_update(l, &t2[1], 1, msg, sizeof msg); /* id 2 absent: forgotten */
    t2[0] = foot(2, 3, 100, 50, 0);
    CHECK(track_line_update(l, t2, 2, msg, sizeof msg) == 0, "forgotten track: its first point sets its side");
    CHECK(track_line_count(l, -1, TRACK_CROSS_LEFT_TO_RIGHT) == 4 && track_line_count(l, -1, TRACK_CROSS_RIGHT_TO_LEFT) == 2,
          "all classes: 4 and 2");
    CHECK(track_line_count(l, 7, TRACK_CROSS_LEFT_TO_RIGHT) == 0 && track_line_count(l, 1000000, 0) == 0, "unseen labels: 0");
    /* tentative (id 0) tracks are not counted */
    struct track_out t0 = foot(0, 0, 50, 50, 0);
    track_line_update(l, &t0, 1, msg, sizeof msg);
    t0 = foot(0, 0, 50, 150, 0);
    CHECK(track_line_update(l, &t0, 1, msg, sizeof msg) == 0, "tentative tracks do not count");
    track_line_free(&l);
    CHECK(!l, "free nulls");
    track_line_free(&l);

    /* a vertical line drawn downwards: its right is the screen's left (x < 100) */
    CHECK(track_line_create(&l, 100, 0, 100, 200, 0, msg, sizeof msg) == 0, "create vertical");
    struct track_out v = foot(5, 1, 50, 100, 0);
    track_line_update(l, &v, 1, msg, sizeof msg);
    v = foot(5, 1, 150, 100, 0);
    track_line_update(l, &v, 1, msg, sizeof msg);
    CHECK(track_line_count(l, 1, TRACK_CROSS_RIGHT_TO_LEFT) == 1 && track_line_count(l, 1, TRACK_CROSS_LEFT_TO_RIGHT) == 0,
          "moving +x across a downward line is right-to-left of it");
    /* band 0: exactly on the line is on neither side */
    v = foot(5, 1, 100, 100, 0);
    CHECK(track_line_update(l, &v, 1, msg, sizeof msg) == 0, "on the line: nothing");
    v = foot(5, 1, 50, 100, 0);
    CHECK(track_line_update(l, &v, 1, msg, sizeof msg) == 1, "through it: one");
    track_line_free(&l);

    /* many tracks, many labels: counts add up */
    CHECK(track_line_create(&l, 0, 100, 1000, 100, 2, msg, sizeof msg) == 0, "create wide");
    struct track_out many[50];
    for (int step = 0; step < 2; step++) {
        for (int i = 0; i < 50; i++) many[i] = foot(i + 1, i % 5, 10 + 19.0f * i, step ? 150 : 50, 0);
        track_line_update(l, many, 50, msg, sizeof msg);
    }
    CHECK(track_line_count(l, -1, TRACK_CROSS_LEFT_TO_RIGHT) == 50 && track_line_count(l, 4, TRACK_CROSS_LEFT_TO_RIGHT) == 10,
          "50 tracks of 5 labels");
    track_line_free(&l);
}

/* ---- MOT metrics ------------------------------------------------------------------- */

static struct track_mot_obj mo(int id, float x, float y)
{
    return (struct track_mot_obj){ .id = id, .box = { x, y, x + 10, y + 10 }, .score = 1, .label = -1,
                                   .visibility = -1 };
}

static int near(double a, double b) { return fabs(a - b) < 1e-9; }

static void test_mot_metrics(void)
{
    char msg[256];
    struct track_mot *m = NULL;
    struct track_mot_result r;

    /* perfect: 2 objects, 5 frames. GT = 10, FN = FP = IDSW = 0 → MOTA 1;
     * IDTP = 10 → IDF1 1; MOTP 0 (every IoU 1). */
    CHECK(track_mot_create(&m, msg, sizeof msg) == 0, "create");
    for (int f = 0; f < 5; f++) {
        struct track_mot_obj g[2] = { mo(1, 10.0f * f, 0), mo(2, 100, 10.0f * f) };
        struct track_mot_obj h[2] = { mo(20, 100, 10.0f * f), mo(10, 10.0f * f, 0) };
        CHECK(track_mot_frame(m, g, 2, h, 2, msg, sizeof msg) == 0, "frame");
    }
    CHECK(track_mot_result(m, &r, msg, sizeof msg) == 0, "result");
    CHECK(r.frames == 5 && r.num_objects == 10 && r.num_predictions == 10 && r.num_matches == 10 &&
          r.num_switches == 0 && r.num_misses == 0 && r.num_false_positives == 0 && r.num_fragmentations == 0 &&
          near(r.mota, 1) && near(r.motp, 0) && r.idtp == 10 && near(r.idf1, 1) && r.num_unique_objects == 2 &&
          r.mostly_tracked == 2, "perfect: MOTA %g IDF1 %g", r.mota, r.idf1);
    track_mot_free(&m);
    CHECK(!m, "free nulls");
    track_mot_free(&m);

    /* swapped ids: GT 1 at x=0, GT 2 at x=100 for 6 frames; hypothesis a (7)
     * follows GT 1 in frames 1-3 then GT 2 in 4-6, b (8) the reverse.
     * Frame 4: GT 1's last hypothesis a now lies on GT 2 (IoU 0) — not kept;
     * the assignment gives 1-b and 2-a, both switches: IDSW 2.
     * MOTA = 1 - (0 + 0 + 2) / 12 = 5/6. Identity: any one-to-one map shares
     * 3 frames per pair: IDTP 6, IDFN = 12 - 6 = 6, IDFP = 12 - 6 = 6,
     * IDF1 = 12 / (12 + 6 + 6) = 0.5. No fragmentation (never missed). */
    track_mot_create(&m, NULL, 0);
    for (int f = 0; f < 6; f++) {
        struct track_mot_obj g[2] = { mo(1, 0, 0), mo(2, 100, 0) };
        struct track_mot_obj h[2] = { mo(7, f < 3 ? 0 : 100, 0), mo(8, f < 3 ? 100 : 0, 0) };
        track_mot_frame(m, g, 2, h, 2, NULL, 0);
    }
    track_mot_result(m, &r, NULL, 0);
    CHECK(r.num_switches == 2 && r.num_matches == 10 && r.num_misses == 0 && r.num_false_positives == 0 &&
          near(r.mota, 5.0 / 6) && r.idtp == 6 && r.idfp == 6 && r.idfn == 6 && near(r.idf1, 0.5) &&
          r.num_fragmentations == 0, "swap: IDSW %ld MOTA %g IDF1 %g", r.num_switches, r.mota, r.idf1);
    track_mot_free(&m);

    /* a gap: GT 1 for 8 frames; hypothesis 5 on it in frames 1-3 and 6-8, nothing
     * in 4-5. FN 2, FP 0, IDSW 0 (the same hypothesis comes back), one
     * fragmentation; MOTA = 1 - 2/8 = 0.75; IDTP 6, IDFN 2, IDFP 0:
     * IDF1 = 12 / (12 + 0 + 2) = 6/7. Matched 6 of 8 frames: partially tracked. */
    track_mot_create(&m, NULL, 0);
    for (int f = 0; f < 8; f++) {
        struct track_mot_obj g = mo(1, 50, 50), h = mo(5, 51, 50);
        track_mot_frame(m, &g, 1, &h, f == 3 || f == 4 ? 0 : 1, NULL, 0);
    }
    track_mot_result(m, &r, NULL, 0);
    CHECK(r.num_misses == 2 && r.num_false_positives == 0 && r.num_switches == 0 && r.num_fragmentations == 1 &&
          near(r.mota, 0.75) && r.idtp == 6 && near(r.idf1, 6.0 / 7) && r.partially_tracked == 1,
          "gap: FN %ld frag %ld MOTA %g IDF1 %g", r.num_misses, r.num_fragmentations, r.mota, r.idf1);
    /* MOTP: IoU of [50,60]x[50,60] and [51,61]x[50,60] = 90/110, distance 2/11 */
    CHECK(near(r.motp, 2.0 / 11), "MOTP %g", r.motp);
    track_mot_free(&m);

    /* the same gap, but another hypothesis (6) takes over after it, then a
     * frame without GT 1 (no miss) and one more frame matched by 6 (kept).
     * GT 3 + 2 + 3 + 1 = 9 boxes; FN 2; at frame 6 GT 1's last hypothesis 5 is
     * absent and 6 takes it: IDSW 1, and one fragmentation (the run of misses
     * between matches). MOTA = 1 - (2 + 0 + 1) / 9 = 2/3. Identities: 5 shares
     * 3 frames with GT 1, 6 shares 4: IDTP 4, IDFN 9 - 4 = 5, IDFP 7 - 4 = 3,
     * IDF1 = 8 / (8 + 3 + 5) = 0.5. */
    track_mot_create(&m, NULL, 0);
    for (int f = 0; f < 10; f++) {
        struct track_mot_obj g = mo(1, 50, 50), h = mo(f < 5 ? 5 : 6, 50, 50);
        if (f == 8) track_mot_frame(m, NULL, 0, NULL, 0, NULL, 0);
        else if (f == 9) track_mot_frame(m, &g, 1, &h, 1, NULL, 0);
        else track_mot_frame(m, &g, 1, &h, f == 3 || f == 4 ? 0 : 1, NULL, 0);
    }
    track_mot_result(m, &r, NULL, 0);
    CHECK(r.frames == 10 && r.num_objects == 9 && r.num_misses == 2 && r.num_switches == 1 &&
          r.num_fragmentations == 1 && near(r.mota, 1 - 3.0 / 9) && r.idtp == 4 && near(r.idf1, 8.0 / (8 + 3 + 5)),
          "gap + switch: FN %ld IDSW %ld frag %ld MOTA %g IDTP %ld IDF1 %g", r.num_misses, r.num_switches,
          r.num_fragmentations, r.mota, r.idtp, r.idf1);
    track_mot_free(&m);

    /* an existing correspondence is kept over a better new one: frame 1 GT 1
     * and hypothesis a exact; frame 2 a shifted by 2.5 (IoU 75/125 = 0.6,
     * distance 0.4) and b exact. a is kept, b is a false positive.
     * GT 2, FP 1 → MOTA 0.5; MOTP = (0 + 0.4) / 2 = 0.2. */
    track_mot_create(&m, NULL, 0);
    struct track_mot_obj g1 = mo(1, 0, 0), ha = mo(1, 0, 0);
    track_mot_frame(m, &g1, 1, &ha, 1, NULL, 0);
    struct track_mot_obj h2[2] = { mo(2, 0, 0), mo(1, 2.5f, 0) };
    track_mot_frame(m, &g1, 1, h2, 2, NULL, 0);
    track_mot_result(m, &r, NULL, 0);
    CHECK(r.num_switches == 0 && r.num_false_positives == 1 && near(r.mota, 0.5) && near(r.motp, 0.2),
          "kept correspondence: IDSW %ld FP %ld MOTP %g", r.num_switches, r.num_false_positives, r.motp);
    /* IoU just below 0.5 (shift 3.4: 66/134 = 0.4925): a miss and a false positive */
    struct track_mot_obj h3 = mo(1, 3.4f, 0);
    track_mot_frame(m, &g1, 1, &h3, 1, NULL, 0);
    track_mot_result(m, &r, NULL, 0);
    CHECK(r.num_misses == 1 && r.num_false_positives == 2, "IoU < 0.5 does not match");
    /* bad frames are refused and not counted */
    struct track_mot_obj dup[2] = { mo(3, 0, 0), mo(3, 50, 0) };
    CHECK(track_mot_frame(m, dup, 2, NULL, 0, msg, sizeof msg) < 0 && strstr(msg, "twice"), "duplicate GT id: %s", msg);
    CHECK(track_mot_frame(m, &g1, 1, dup, 2, msg, sizeof msg) < 0 && strstr(msg, "hypothesis"), "duplicate hyp id: %s", msg);
    struct track_mot_obj nb = mo(4, NAN, 0);
    CHECK(track_mot_frame(m, &nb, 1, NULL, 0, msg, sizeof msg) < 0 && strstr(msg, "finite"), "NaN box: %s", msg);
    track_mot_result(m, &r, NULL, 0);
    CHECK(r.frames == 3 && r.num_objects == 3 && r.num_unique_objects == 1, "refused frames not counted");
    track_mot_free(&m);

    /* nothing at all */
    track_mot_create(&m, NULL, 0);
    track_mot_result(m, &r, NULL, 0);
    CHECK(r.frames == 0 && isnan(r.mota) && isnan(r.motp) && isnan(r.idf1), "empty: NaN scores");
    track_mot_free(&m);
}

/* ---- MOTChallenge files --------------------------------------------------------------- */

static int write_file(const char *path, const char *text, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fwrite(text, 1, n, f);
    return fclose(f);
}

static void test_mot_io(void)
{
    char dir[] = "/tmp/vdetect-track.XXXXXX", path[256], msg[512];
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    snprintf(path, sizeof path, "%s/res.txt", dir);

    /* round trip: the tracker's output over 3 frames (frame 2 before 1 in the
     * file, to test grouping) */
    FILE *f = fopen(path, "w");
    struct track_out t[3] = {
        { .id = 1, .box = { 10.25f, 20.5f, 50.75f, 120 }, .score = 0.875f, .state = TRACK_TRACKED },
        { .id = 0, .box = { 1, 2, 3, 4 }, .score = 0.9f, .state = TRACK_TENTATIVE },
        { .id = 2, .box = { 100, 100, 140, 180 }, .score = 0.5f, .state = TRACK_LOST, .since_match = 3 },
    };
    CHECK(f && track_mot_write(f, 2, t, 3) == 0 && track_mot_write(f, 1, t, 1) == 0 &&
          track_mot_write_line(f, 2, 7, (float[4]){ 0, 0, 10, 10 }, 0.25f) == 0, "write");
    fclose(f);
    struct track_mot_seq s;
    int rc = track_mot_read(path, TRACK_MOT_RESULTS, &s, msg, sizeof msg);
    CHECK(rc == 0, "read back: %s", rc ? msg : "");
    if (rc == 0) {
        CHECK(s.nframes == 2 && s.count == 3 && s.first[1] == 0 && s.first[2] == 1 && s.first[3] == 3,
              "grouped by frame: %d frames %d rows", s.nframes, s.count);
        const struct track_mot_obj *o = &s.objs[s.first[2]];
        CHECK(o[0].id == 1 && fabsf(o[0].box[0] - 10.25f) < 0.01f && fabsf(o[0].box[1] - 20.5f) < 0.01f &&
              fabsf(o[0].box[2] - 50.75f) < 0.01f && fabsf(o[0].box[3] - 120) < 0.01f && fabsf(o[0].score - 0.875f) < 1e-4f &&
              o[1].id == 7 && fabsf(o[1].box[2] - 10) < 0.01f, "boxes and scores survive");
        CHECK(s.objs[0].id == 1, "frame 1");
    }
    track_mot_seq_free(&s);
    track_mot_seq_free(&s);
    FILE *chk = fopen(path, "r");
    char line[128] = "";
    CHECK(chk && fgets(line, sizeof line, chk) && !strcmp(line, "2,1,10.25,20.50,40.50,99.50,0.875,-1,-1,-1\n"),
          "line format: %s", line);
    if (chk) fclose(chk);

    /* ground truth: conf 0 rows skipped; class and visibility kept */
    const char *gt = "1,1,10,10,20,40,1,1,0.8\n1,2,50,50,10,10,0,2,1\n\n  2 , 1 , 12 , 10 , 20 , 40 , 1 , 1 , 0.5\r\n";
    write_file(path, gt, strlen(gt));
    rc = track_mot_read(path, TRACK_MOT_GT, &s, msg, sizeof msg);
    CHECK(rc == 0 && s.count == 2 && s.skipped == 1 && s.objs[0].label == 1 && fabsf(s.objs[0].visibility - 0.8f) < 1e-6f &&
          s.objs[1].box[0] == 12, "GT read: %s", rc ? msg : "");
    track_mot_seq_free(&s);
    rc = track_mot_read(path, TRACK_MOT_RESULTS, &s, msg, sizeof msg);
    CHECK(rc == 0 && s.count == 3 && s.skipped == 0, "the same as results keeps conf 0");
    track_mot_seq_free(&s);
    rc = track_mot_read(path, TRACK_MOT_GT_ALL, &s, msg, sizeof msg);
    CHECK(rc == 0 && s.count == 3 && s.skipped == 0 && s.objs[1].score == 0 && s.objs[0].score == 1,
          "GT_ALL keeps the ignore region with score 0");
    track_mot_seq_free(&s);

    /* malformed lines: each refused with file:line and the reason */
    static const struct { const char *text; const char *want; } bad[] = {
        { "1,1,10,10,20,40,1\n1,2,3\n", ":2: too few fields" },
        { "1,1,10,10,20,40,1,1,1,1,1\n", ":1: too many fields" },
        { "1,1,10,abc,20,40,1\n", ":1: field 4 (y): 'abc' is not a number" },
        { "0,1,10,10,20,40,1\n", ":1: field 1 (frame)" },
        { "1.5,1,10,10,20,40,1\n", ":1: field 1 (frame)" },
        { "99999999,1,10,10,20,40,1\n", ":1: field 1 (frame)" },
        { "1,1e12,10,10,20,40,1\n", ":1: field 2 (id)" },
        { "1,1,10,10,-20,40,1\n", ":1: negative width" },
        { "1,1,10,10,20,inf,1\n", ":1: field 6 (h)" },
        { "1,1,10,10,20,nan,1\n", ":1: field 6 (h)" },
        { "1,1,10,10,20,40,\n", ":1: field 7 (conf): '' is not a number" },
        { "1,1,10,10,20,40,1\n\n1;1;10;10;20;40\n", ":3: too few fields" },
        { "1,1,1e38,10,1e38,40,1\n", ":1: field 3 (x): '1e38' is out of range" },
        { "1,1,10,10,20,40,1e300\n", ":1: field 7 (conf)" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i].text, strlen(bad[i].text));
        msg[0] = 0;
        rc = track_mot_read(path, TRACK_MOT_RESULTS, &s, msg, sizeof msg);
        CHECK(rc < 0 && strstr(msg, path) && strstr(msg, bad[i].want) && s.count == 0 && !s.objs && !s.first,
              "malformed %zu: want '%s', got '%s'", i, bad[i].want, msg);
    }
    static const char nul[] = "1,1,10,10,20,40,1\n1,1,10\0,10,20,40,1\n";
    write_file(path, nul, sizeof nul - 1);
    CHECK(track_mot_read(path, TRACK_MOT_RESULTS, &s, msg, sizeof msg) < 0 && strstr(msg, ":2: NUL"), "NUL: %s", msg);
    char *longl = malloc(5000);
    memset(longl, '1', 4999);
    longl[4999] = 0;
    write_file(path, longl, 4999);
    free(longl);
    CHECK(track_mot_read(path, TRACK_MOT_RESULTS, &s, msg, sizeof msg) < 0 && strstr(msg, ":1: line longer"), "long: %s", msg);
    write_file(path, "", 0);
    CHECK(track_mot_read(path, TRACK_MOT_RESULTS, &s, msg, sizeof msg) == 0 && s.nframes == 0 && s.count == 0,
          "empty file: no frames");
    track_mot_seq_free(&s);
    /* random bytes never crash */
    int survived = 1;
    for (int k = 0; k < 200; k++) {
        char junk[300];
        int n = (int)(urand() * sizeof junk);
        const char alphabet[] = "0123456789,.-e \n\r\tabinf";
        for (int i = 0; i < n; i++) junk[i] = urand() < 0.05 ? (char)(unsigned char)(urand() * 256) : alphabet[(int)(urand() * (sizeof alphabet - 1))];
        write_file(path, junk, (size_t)n);
        rc = track_mot_read(path, urand() < 0.5 ? TRACK_MOT_GT : TRACK_MOT_RESULTS, &s, msg, sizeof msg);
        survived &= rc == 0 || (rc < 0 && s.count == 0);
        if (rc == 0) {
            for (int fr = 1; fr <= s.nframes; fr++) survived &= s.first[fr] <= s.first[fr + 1];
            survived &= s.first[s.nframes + 1] == s.count;
        }
        track_mot_seq_free(&s);
    }
    CHECK(survived, "random files: read or refused, never inconsistent");
    remove(path);
    snprintf(path, sizeof path, "%s/missing.txt", dir);
    CHECK(track_mot_read(path, TRACK_MOT_GT, &s, msg, sizeof msg) < 0 && strstr(msg, "missing.txt") &&
          strstr(msg, "No such file"), "missing file: %s", msg);
    rmdir(dir);
}

/* ---- a scene end to end, and the benchmark ------------------------------------------- */

struct obj {
    float x, y, vx, vy, w, h;
    int label;
};

/* A 10 x 10 grid of objects: spread over a 1920 x 1080 frame, so boxes rarely
 * overlap, or (crowd) 40 x 30 px apart, so each overlaps its neighbours. */
static void scene_init(struct obj *o, int n, int crowd)
{
    float sx = crowd ? 40 : 170, sy = crowd ? 30 : 100, v = crowd ? 0.25f : 1; /* a crowd stays one */
    for (int i = 0; i < n; i++) {
        o[i] = (struct obj){ 100 + sx * (i % 10), 60 + sy * (i / 10), (float)gauss() * 2 * v,
                             (float)gauss() * 0.5f * v, 30 + (float)urand() * 20, 50 + (float)urand() * 30, i % 3 };
    }
}

/* Move the objects one frame, detect them (some missed, some low, jitter). */
static int scene_step(struct obj *o, int n, struct track_det *d, struct track_mot_obj *g, int f)
{
    int nd = 0;
    for (int i = 0; i < n; i++) {
        o[i].x += o[i].vx;
        o[i].y += o[i].vy;
        if (o[i].x < 20 || o[i].x > 1900) o[i].vx = -o[i].vx;
        if (o[i].y < 20 || o[i].y > 1060) o[i].vy = -o[i].vy;
        g[i] = (struct track_mot_obj){ .id = i + 1, .box = { o[i].x - o[i].w / 2, o[i].y - o[i].h / 2,
                                                             o[i].x + o[i].w / 2, o[i].y + o[i].h / 2 } };
        double r = urand();
        if (f > 0 && r < 0.05) continue; /* missed */
        float score = r < 0.15 ? 0.3f : 0.7f + 0.3f * (float)urand();
        d[nd++] = det(o[i].x + (float)gauss(), o[i].y + (float)gauss(), o[i].w + (float)gauss(),
                      o[i].h + (float)gauss(), score, o[i].label);
    }
    for (int k = nd - 1; k > 0; k--) { /* the detector's order means nothing */
        int j = (int)(urand() * (k + 1));
        struct track_det t = d[k];
        d[k] = d[j], d[j] = t;
    }
    return nd;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_scene_and_bench(void)
{
    enum { N = 100, FRAMES = 2000 };
    static struct obj o[N];
    static struct track_det d[N];
    static struct track_mot_obj g[N], h[N];
    rng = 0x243f6a8885a308d3ULL; /* the same scene whatever ran before */
    scene_init(o, N, 0);
    struct tracker *t = new_tracker(NULL);
    struct track_mot *m = NULL;
    track_mot_create(&m, NULL, 0);
    const struct track_out *out;
    static double times[FRAMES];
    double total = 0;
    int ok = 1;
    long grown = 0; /* heap bytes taken by track_update after warm-up (glibc's count) */
    for (int f = 0; f < FRAMES; f++) {
        int nd = scene_step(o, N, d, g, f);
        size_t heap = mallinfo2().uordblks;
        double t0 = now_us();
        int n = track_update(t, d, nd, &out, NULL, 0);
        double dt = now_us() - t0;
        if (f >= 1000) grown += (long)(mallinfo2().uordblks - heap);
        times[f] = dt;
        if (f >= 100) total += dt;
        ok &= n >= 0;
        int nh = 0;
        for (int i = 0; i < n; i++)
            if (out[i].id > 0 && out[i].since_match == 0)
                h[nh++] = (struct track_mot_obj){ .id = out[i].id, .box = { out[i].box[0], out[i].box[1], out[i].box[2], out[i].box[3] } };
        if (f < 300) ok &= track_mot_frame(m, g, N, h, nh, NULL, 0) == 0;
    }
    struct track_mot_result r;
    track_mot_result(m, &r, NULL, 0);
    CHECK(ok, "2000 frames of 100 objects");
    CHECK(grown == 0, "no allocation in the last 1000 frames (%ld bytes)", grown);
    printf("scene, 300 frames x 100 objects (5%% missed, 10%% low scores): MOTA %.3f IDF1 %.3f IDSW %ld "
           "FN %ld FP %ld frag %ld\n", r.mota, r.idf1, r.num_switches, r.num_misses, r.num_false_positives,
           r.num_fragmentations);
    CHECK(r.mota > 0.9 && r.idf1 > 0.9 && r.num_switches <= 5, "the scene is tracked well (MOTA %.3f IDF1 %.3f)",
          r.mota, r.idf1);
    qsort(times + 100, FRAMES - 100, sizeof *times, cmp_double);
    printf("track_update at 100 objects (frames 100-%d): mean %.1f us, median %.1f us, 99th percentile "
           "%.1f us, worst %.1f us per frame\n", FRAMES, total / (FRAMES - 100),
           times[100 + (FRAMES - 100) / 2], times[100 + (FRAMES - 100) * 99 / 100], times[FRAMES - 1]);

    /* prediction only */
    double t0 = now_us();
    for (int k = 0; k < 1000; k++) track_predict(t, &out);
    printf("track_predict at 100 objects: %.2f us per frame\n", (now_us() - t0) / 1000);
    track_free(&t);
    track_mot_free(&m);

    /* a crowd: every box overlaps its neighbours, so the assignments are real
     * Hungarian problems rather than one pair per component */
    scene_init(o, N, 1);
    t = new_tracker(NULL);
    total = 0;
    for (int f = 0; f < 1000; f++) {
        int nd = scene_step(o, N, d, g, f);
        double t1 = now_us();
        ok &= track_update(t, d, nd, &out, NULL, 0) >= 0;
        times[f] = now_us() - t1;
        if (f >= 100) total += times[f];
    }
    qsort(times + 100, 900, sizeof *times, cmp_double);
    printf("track_update at 100 overlapping objects (frames 100-1000): mean %.1f us, 99th percentile "
           "%.1f us, worst %.1f us per frame\n", total / 900, times[100 + 891], times[999]);
    CHECK(ok, "crowd");
    track_free(&t);
}

/* Ignore regions: a hypothesis on one is dropped, one on a real object kept, and the
 * assignment is over all ground truth: a hypothesis overlapping both a real object
 * (IoU 0.9) and an ignore region (IoU 0.6) stays, as it matches the object. */
static void test_drop_ignored(void)
{
    char msg[200];
    struct track_mot_obj gt[3] = {
        { .id = 1, .box = { 0, 0, 10, 10 }, .score = 1 },
        { .id = 2, .box = { 100, 100, 110, 110 }, .score = 0 },   /* ignore */
        { .id = 3, .box = { 1, 0, 11, 10 }, .score = 0 },         /* ignore, beside 1 */
    };
    struct track_mot_obj hyp[4] = {
        { .id = 7, .box = { 0, 0, 10, 10 } },        /* on 1 (IoU 1) and on 3 (IoU 0.82) */
        { .id = 8, .box = { 100, 101, 110, 111 } },  /* on ignore 2 */
        { .id = 9, .box = { 200, 200, 210, 210 } },  /* on nothing: a false positive */
        { .id = 10, .box = { 2, 0, 12, 10 } },       /* on 3 best */
    };
    int n = track_mot_drop_ignored(gt, 3, hyp, 4, msg, sizeof msg);
    CHECK(n == 2 && hyp[0].id == 7 && hyp[1].id == 9,
          "drop_ignored keeps 7 (the object) and 9 (nothing), drops 8 and 10: n %d", n);
    struct track_mot_obj only_real[1] = { { .id = 1, .box = { 0, 0, 10, 10 }, .score = 1 } };
    struct track_mot_obj h2[1] = { { .id = 5, .box = { 50, 50, 60, 60 } } };
    CHECK(track_mot_drop_ignored(only_real, 1, h2, 1, msg, sizeof msg) == 1,
          "no ignore region: nothing dropped");
}

/* One object reported as two classes (a box mostly inside a higher-scoring one of
 * another class) makes one track; dedup_overlap=0 makes two; two of one class
 * overlapping as much are two objects. */
static void test_dedup(void)
{
    const struct track_out *o;
    struct track_det d[2] = { det(100, 100, 60, 60, 0.9f, 1), det(102, 101, 44, 50, 0.7f, 2) };
    struct tracker *t = new_tracker(NULL);
    int n = track_update(t, d, 2, &o, NULL, 0);
    CHECK(n == 1 && o[0].label == 1, "one object reported as two classes: one track (%d)", n);
    track_free(&t);
    const char *const off[] = { "dedup_overlap=0", NULL };
    t = new_tracker(off);
    n = track_update(t, d, 2, &o, NULL, 0);
    CHECK(n == 2, "dedup_overlap=0: two tracks (%d)", n);
    track_free(&t);
    t = new_tracker(NULL);
    d[1].label = 1;
    n = track_update(t, d, 2, &o, NULL, 0);
    CHECK(n == 2, "same class, as much overlap: two tracks, the detector's NMS decided (%d)", n);
    track_free(&t);
    /* same class, the inner one weak (a part of the object): not a second track
     * (kept alive as a low detection it would hold an old identity) */
    t = new_tracker(NULL);
    d[1].score = 0.3f;
    n = track_update(t, d, 2, &o, NULL, 0);
    track_free(&t);
    t = new_tracker(NULL);
    /* two confident boxes of one class, one inside the other: two tracks; then
     * the inner one turns weak: it would keep track 2 alive (second round) */
    struct track_det both[2] = { det(100, 100, 60, 60, 0.9f, 1), det(103, 101, 30, 30, 0.9f, 1) };
    n = track_update(t, both, 2, &o, NULL, 0);
    CHECK(n == 2, "two confident same-class boxes: two tracks (%d)", n);
    struct track_det pair[2] = { det(101, 100, 60, 60, 0.9f, 1), det(104, 101, 30, 30, 0.3f, 1) };
    n = track_update(t, pair, 2, &o, NULL, 0);
    int confirmed = 0;
    for (int i = 0; i < n; i++) confirmed += o[i].state == TRACK_TRACKED;
    CHECK(confirmed == 1, "a weak same-class box inside a strong one adds no track (%d)", confirmed);
    track_free(&t);
}

/* Between detections the reported box keeps the last detection's shape (moved
 * by the filter), while the object's box changes shape from one detection to
 * the next (an object entering through the top edge grows in height only). */
static void test_predicted_shape(void)
{
    struct tracker *t = new_tracker(NULL);
    const struct track_out *o = NULL;
    int n = 0;
    struct track_det last = { { 0 }, 0, 0 };
    for (int f = 0; f < 12; f++) {
        float h = 10 + 4.0f * f;   /* top edge at 0, bottom moving down, width 40 */
        last = (struct track_det){ { 300, 0, 340, h }, 0.9f, 1 };
        if (f % 3 == 0) n = track_update(t, &last, 1, &o, NULL, 0);
        else n = track_predict(t, &o);
    }
    n = track_predict(t, &o);   /* frame 12: predicted from the detection of frame 9 */
    float w = n == 1 ? o[0].box[2] - o[0].box[0] : -1;
    /* the filter's own box was 189 px wide here: its aspect follows slowly */
    {
        /* a track confirmed on the very first frame, predicted before its second
         * detection, keeps its size (it was drawn as a point once) */
        struct tracker *t0 = new_tracker(NULL);
        struct track_det d0 = det(100, 100, 40, 60, 0.9f, 1);
        track_update(t0, &d0, 1, &o, NULL, 0);
        int n0 = track_predict(t0, &o);
        CHECK(n0 == 1 && fabsf(o[0].box[2] - o[0].box[0] - 40) < 1 &&
                  fabsf(o[0].box[3] - o[0].box[1] - 60) < 1,
              "a first-frame track predicted at its size (%g x %g)",
              n0 ? o[0].box[2] - o[0].box[0] : -1, n0 ? o[0].box[3] - o[0].box[1] : -1);
        track_free(&t0);
    }
    CHECK(n == 1 && fabsf(w - 40.0f) < 12.0f, "predicted width %g stays near the detections' 40", w);
    track_free(&t);
}

int main(void)
{
    test_assign();
    test_kalman();
    test_linear();
    test_crossing();
    test_occlusion();
    test_ids_never_reused();
    test_low_scores();
    test_tentative();
    test_stride();
    test_classes();
    test_params();
    test_count_line();
    test_mot_metrics();
    test_mot_io();
    test_drop_ignored();
    test_dedup();
    test_predicted_shape();
    test_scene_and_bench();
    return check_summary("test_track");
}
