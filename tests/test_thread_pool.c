/*
 * test_thread_pool.c — the detector's worker pool and the ops it splits: every task
 * runs exactly once on a valid worker id, jobs run back to back, a pool of one
 * runs inline; a depthwise conv gives the same bits with a pool of 2 as
 * without, and GEMM-based ops agree to rounding (OpenBLAS's kernels sum a
 * split matrix's edge tiles in another order, as its own threads do); OpenBLAS
 * is kept to its calling thread. make test also runs this under TSan.
 */
#include "../model/ops/ops.h"
#include "check.h"

#include <cblas.h>
#include <stdatomic.h>
#include <string.h>

struct count_job {
    atomic_int *hits;
    int size;
    atomic_int bad_worker;
};

static void count_task(void *ctx, int task, int worker)
{
    struct count_job *j = ctx;
    if (worker < 0 || worker >= j->size) atomic_fetch_add(&j->bad_worker, 1);
    atomic_fetch_add(&j->hits[task], 1);
}

static void fill(float *x, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((int)(seed >> 9) % 2001 - 1000) / 997.0f;
    }
}

/* max |a - b| / max |b| */
static double rel(const float *a, const float *b, size_t n)
{
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
        double v = b[i] < 0 ? -b[i] : b[i];
        if (d > md || d != d) md = d != d ? 1e30 : d;
        if (v > mb) mb = v;
    }
    return mb > 0 ? md / mb : md;
}

/* conv with and without the pool: identical (depthwise) or within rounding */
static void same_conv(struct pool *p, int cin, int cout, int k, int stride, int groups, int h,
                      int w, const char *what)
{
    struct conv cv = { .cin = cin, .cout = cout, .k = k, .stride = stride, .pad = k / 2,
                       .groups = groups, .act = ACT_HARDSWISH, .dil = 1 };
    size_t nw = (size_t)cout * (cin / groups) * k * k;
    float *wt = malloc(sizeof(float) * nw), *b = malloc(sizeof(float) * cout);
    fill(wt, nw, 7);
    fill(b, cout, 11);
    cv.w = wt;
    cv.b = b;
    struct arena a;
    arena_init(&a);
    struct fmap in = arena_fmap(&a, cin, h, w);
    fill(in.d, fmap_numel(&in), 3);
    int oh, ow;
    conv_out_size(&cv, h, w, &oh, &ow);
    struct fmap o1 = arena_fmap(&a, cout, oh, ow), o2 = arena_fmap(&a, cout, oh, ow);
    ops_use_pool(NULL);
    conv_forward(&cv, &in, &o1, &a);
    ops_use_pool(p);
    conv_forward(&cv, &in, &o2, &a);
    ops_use_pool(NULL);
    if (groups == cin && groups > 1)
        CHECK(!memcmp(o1.d, o2.d, sizeof(float) * fmap_numel(&o1)), "%s: pool changes the result",
              what);
    else
        CHECK(rel(o2.d, o1.d, fmap_numel(&o1)) <= 1e-6, "%s: pool changes the result by %.2e",
              what, rel(o2.d, o1.d, fmap_numel(&o1)));
    arena_release(&a);
    free(wt);
    free(b);
}

/* The ops pool_for splits by channel (and RoIAlign by RoI): the same bits with
 * a pool of 2 as without. */
static void same_small_ops(struct pool *p)
{
    struct arena a;
    arena_init(&a);
    struct fmap x = arena_fmap(&a, 64, 61, 47), y = arena_fmap(&a, 64, 61, 47);
    struct fmap s = arena_fmap(&a, 64, 1, 1);
    fill(x.d, fmap_numel(&x), 5);
    fill(y.d, fmap_numel(&y), 6);
    fill(s.d, 64, 7);
    struct pool_geom g = { 3, 2, 1, 1, 0, 1 };
    int oh = pool_out_len(61, 3, 2, 1, 1, 0), ow = pool_out_len(47, 3, 2, 1, 1, 0);
    struct fmap o[2][5];
    for (int run = 0; run < 2; run++) {
        ops_use_pool(run ? p : NULL);
        for (int i = 0; i < 3; i++) o[run][i] = arena_fmap(&a, 64, i == 2 ? 1 : oh, i == 2 ? 1 : ow);
        o[run][3] = arena_fmap(&a, 64, 61, 47);
        o[run][4] = arena_fmap(&a, 64, 61, 47);
        pool_max(&x, &o[run][0], &g);
        pool_avg(&x, &o[run][1], &g);
        pool_adaptive(&x, &o[run][2], 0);
        eltwise_binary(&x, &y, &o[run][3], 0, ACT_RELU);
        eltwise_binary(&s, &x, &o[run][4], 1, ACT_HARDSWISH);
    }
    ops_use_pool(NULL);
    const char *name[5] = { "max pool", "avg pool", "adaptive pool", "add + relu", "broadcast mul" };
    for (int i = 0; i < 5; i++)
        CHECK(!memcmp(o[0][i].d, o[1][i].d, sizeof(float) * fmap_numel(&o[0][i])),
              "%s: the pool changes the result", name[i]);

    /* RoIAlign over two levels, 40 RoIs (HWC path) */
    struct fmap maps[2] = { arena_fmap(&a, 32, 40, 48), arena_fmap(&a, 32, 20, 24) };
    fill(maps[0].d, fmap_numel(&maps[0]), 8);
    fill(maps[1].d, fmap_numel(&maps[1]), 9);
    float scales[2] = { 0.25f, 0.125f }, boxes[40 * 4];
    for (int i = 0; i < 40; i++) {
        float x0 = (float)(i * 7 % 150), y0 = (float)(i * 11 % 120), sz = 8.0f + (float)(i * 13 % 90);
        boxes[4 * i] = x0, boxes[4 * i + 1] = y0, boxes[4 * i + 2] = x0 + sz, boxes[4 * i + 3] = y0 + sz;
    }
    size_t per = (size_t)32 * 7 * 7 * 40;
    float *r1 = arena_floats(&a, per), *r2 = arena_floats(&a, per);
    multiscale_roi_align(maps, scales, 2, 2, 3, boxes, 40, 7, 2, r1, &a);
    ops_use_pool(p);
    multiscale_roi_align(maps, scales, 2, 2, 3, boxes, 40, 7, 2, r2, &a);
    ops_use_pool(NULL);
    CHECK(!memcmp(r1, r2, sizeof(float) * per), "RoIAlign: the pool changes the result");
    arena_release(&a);
}

int main(void)
{
    struct pool *p = NULL;
    CHECK(pool_open(&p, 3) == 0 && pool_size(p) == 3, "pool of 3");
    enum { N = 1000 };
    atomic_int hits[N];
    for (int round = 0; round < 200; round++) {
        int n = 1 + (round * 37) % N;
        for (int i = 0; i < n; i++) atomic_init(&hits[i], 0);
        struct count_job j = { hits, 3, 0 };
        pool_run(p, n, count_task, &j);
        int once = 1;
        for (int i = 0; i < n; i++) once &= atomic_load(&hits[i]) == 1;
        CHECK(once && atomic_load(&j.bad_worker) == 0, "round %d: every task once", round);
    }
    pool_close(&p);
    CHECK(p == NULL, "close nulls");
    pool_close(&p);   /* twice is fine */

    struct pool *one = NULL;
    CHECK(pool_open(&one, 1) == 0 && pool_size(one) == 1, "pool of 1");
    for (int i = 0; i < 10; i++) atomic_init(&hits[i], 0);
    struct count_job j1 = { hits, 1, 0 };
    pool_run(one, 10, count_task, &j1);
    CHECK(atomic_load(&hits[9]) == 1 && atomic_load(&j1.bad_worker) == 0, "pool of 1 runs inline");
    pool_close(&one);

    struct pool *two = NULL;
    CHECK(pool_open(&two, 2) == 0, "pool of 2");
    /* GEMM split along N and along M: same bits */
    int m = 150, n = 700, k = 300;
    float *A = malloc(sizeof(float) * m * k), *B = malloc(sizeof(float) * k * n);
    float *C1 = malloc(sizeof(float) * m * n), *C2 = malloc(sizeof(float) * m * n);
    fill(A, (size_t)m * k, 1);
    fill(B, (size_t)k * n, 2);
    ops_use_pool(NULL);
    gemm(m, n, k, A, B, C1, 0);
    ops_use_pool(two);
    gemm(m, n, k, A, B, C2, 0);
    CHECK(rel(C2, C1, (size_t)m * n) <= 1e-6, "gemm split along N: %.2e", rel(C2, C1, (size_t)m * n));
    /* OpenBLAS runs on its calling thread once any GEMM has run: no thread of
     * its own does our work (under TSan its synchronisation is invisible) */
    CHECK(openblas_get_num_threads() == 1, "OpenBLAS on %d threads after a GEMM",
          openblas_get_num_threads());
    ops_use_pool(NULL);
    gemm_nt(m, 40, k, A, B, C1);      /* narrow N: split along M */
    ops_use_pool(two);
    gemm_nt(m, 40, k, A, B, C2);
    CHECK(rel(C2, C1, (size_t)m * 40) <= 1e-6, "gemm split along M: %.2e", rel(C2, C1, (size_t)m * 40));
    ops_use_pool(NULL);
    free(A); free(B); free(C1); free(C2);

    same_conv(two, 72, 72, 5, 2, 72, 41, 57, "depthwise 5x5 stride 2");
    same_conv(two, 96, 96, 3, 1, 96, 20, 33, "depthwise 3x3");
    same_conv(two, 24, 40, 3, 1, 1, 37, 29, "3x3 via im2col");
    same_conv(two, 16, 32, 3, 2, 1, 31, 45, "3x3 stride 2 via im2col");
    same_conv(two, 64, 48, 1, 1, 1, 19, 23, "1x1");
    same_small_ops(two);
    pool_close(&two);
    return check_summary("test_thread_pool");
}
