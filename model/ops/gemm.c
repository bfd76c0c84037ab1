/*
 * gemm.c — every matrix product of the forward pass goes through gemm_ld(), so
 * the engine (OpenBLAS or oneDNN, engine.c) is called from one place: on the
 * calling thread alone, or split across the ops' worker pool by columns (or
 * rows when the product is narrow), which leaves each element's sum exactly as
 * one call would compute it. Also F.linear, a GEMM against the transposed weight.
 */
#include "ops.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

/* With a pool, split into one part per thread, along the larger of M and N
 * (the engines pack each call's operands: a part packs only its share of the
 * larger one — the int8 box head's fc6, 1024 weight rows against 150 RoIs, did
 * not get faster on 2 threads while each packed all 12.8 MB of weights), or
 * along whichever is wide enough. Each element's sum is computed exactly as
 * without the split. */
struct gemm_split gemm_split(const struct gemm_shape *s)
{
    int T = pool_size(ops_pool());
    struct gemm_split sp = { *s, 0, 1 };
    /* below ~1e6 multiply-adds (~10 us of one core) waking a worker costs more than it saves */
    if (T > 1 && (double)s->m * s->n * s->k >= 1e6) {
        int rows_ok = s->m >= 8 * T, cols_ok = s->n >= 32 * T;
        if (rows_ok && (s->m > s->n || !cols_ok)) sp.parts = T, sp.by_rows = 1;
        else if (cols_ok) sp.parts = T;
    }
    return sp;
}

int gemm_piece(const struct gemm_split *sp, int part, struct gemm_shape *s, size_t *a, size_t *b,
               size_t *c)
{
    const struct gemm_shape *w = &sp->whole;
    int total = sp->by_rows ? w->m : w->n;
    int lo = (int)((int64_t)total * part / sp->parts);
    int hi = (int)((int64_t)total * (part + 1) / sp->parts);
    if (hi <= lo) return 0;
    *s = *w;
    if (sp->by_rows) {
        *a = (size_t)lo * w->lda;
        *b = 0;
        *c = (size_t)lo * w->ldc;
        s->m = hi - lo;
    } else {
        *a = 0;
        *b = w->trans_b ? (size_t)lo * w->ldb : (size_t)lo;
        *c = (size_t)lo;
        s->n = hi - lo;
    }
    return 1;
}

struct gemm_job {
    struct gemm_split sp;
    int accumulate;
    enum gemm_engine engine;  /* the caller's: the workers have their own thread-locals */
    const float *A, *B;
    float *C;
};

static void gemm_part(void *ctx, int part, int worker)
{
    (void)worker;
    const struct gemm_job *g = ctx;
    struct gemm_shape s;
    size_t ao, bo, co;
    if (!gemm_piece(&g->sp, part, &s, &ao, &bo, &co)) return;
    const float *A = g->A + ao, *B = g->B + bo;
    float *C = g->C + co;
    float beta = g->accumulate ? 1.0f : 0.0f;
    if (g->engine == GEMM_ONEDNN) {
        onednn_single_thread();
        if (dnnl_sgemm('N', s.trans_b ? 'T' : 'N', s.m, s.n, s.k, 1.0f, A, s.lda, B, s.ldb, beta,
                       C, s.ldc) == dnnl_success)
            return;
        /* (out of memory for its packing buffers: OpenBLAS computes the same product) */
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, s.trans_b ? CblasTrans : CblasNoTrans, s.m, s.n, s.k,
                1.0f, A, s.lda, B, s.ldb, beta, C, s.ldc);
}

void gemm_ld(int m, int n, int k, const float *A, int lda, const float *B, int ldb,
                    float *C, int ldc, int accumulate, int trans_b)
{
    blas_single_thread();
    struct gemm_shape s = { m, n, k, lda, ldb, ldc, trans_b };
    struct gemm_job g = { gemm_split(&s), accumulate, ops_engine(), A, B, C };
    if (g.sp.parts == 1) gemm_part(&g, 0, 0);
    else pool_run(ops_pool(), g.sp.parts, gemm_part, &g);
}

void gemm(int m, int n, int k, const float *A, const float *B, float *C, int accumulate)
{
    gemm_ld(m, n, k, A, k, B, n, C, n, accumulate, 0);
}

void gemm_strided(int m, int n, int k, const float *A, const float *B, float *C, int ldc)
{
    gemm_ld(m, n, k, A, k, B, n, C, ldc, 0, 0);
}

void gemm_nt(int m, int n, int k, const float *A, const float *B, float *C)
{
    gemm_ld(m, n, k, A, k, B, k, C, n, 0, 1);
}

/* ---- fully connected -------------------------------------------------------- */

/* Does this linear run on linear_bf16.c's kernel in the thread's precision? */
static int own_bf16(const struct linear *l)
{
    return ops_precision() == PREC_BF16 && l->wp16 && conv_bf16_native();
}

size_t linear_scratch_floats(const struct linear *l, int m)
{
    size_t n = (size_t)m * l->in;
    if (own_bf16(l))
        return linear_bf16_scratch_floats(l, m);
    if (ops_precision() == PREC_BF16 && l->w16) return (n + 1) / 2;   /* x in bf16 */
    if (ops_precision() == PREC_INT8 && l->w8)   /* x in int8, the int32 sums transposed */
        return arena_aligned_floats((n + 3) / 4) + (size_t)m * l->out;
    return 0;
}

void linear_forward(const struct linear *l, const float *x, int m, float *y, int relu,
                    struct arena *scratch)
{
    enum precision p = ops_precision();
    ops_observed(l, x, (size_t)m * l->in);
    if (own_bf16(l)) {
        linear_bf16_forward(l, l->wp16, x, m, y, relu, scratch);
        return;
    }
    struct arena_mark mk = arena_mark(scratch);
    if (p == PREC_BF16 && l->w16) {
        uint16_t *x16 = (uint16_t *)arena_floats(scratch, linear_scratch_floats(l, m));
        bf16_from_f32(x, (size_t)m * l->in, x16);
        gemm_bf16(m, l->out, l->in, x16, l->in, l->w16, l->in, y, l->out, 1);
    } else if (p == PREC_INT8 && l->w8) {
        /* W x^T, the weights on the left as in a conv (the side oneDNN widens to
           unsigned 8 bits: the input keeps to quant_levels() on the other), then
           transposed back while turned into floats */
        size_t n = (size_t)m * l->in;
        float xs = l->x_scale > 0.0f ? l->x_scale : quant_scale(absmax(x, n));
        int8_t *x8 = (int8_t *)arena_floats(scratch, (n + 3) / 4);
        int32_t *sum = (int32_t *)arena_floats(scratch, (size_t)m * l->out);
        quantize_s8(x, n, xs, x8);
        gemm_s8(l->out, m, l->in, l->w8, l->in, x8, l->in, sum, m, 1);
        for (int o0 = 0; o0 < l->out; o0 += 16)   /* in 16 x 16 tiles: no stride-out walks */
            for (int i0 = 0; i0 < m; i0 += 16)
                for (int o = o0; o < o0 + 16 && o < l->out; o++) {
                    float k = l->w8_scale[o] * xs;
                    const int32_t *row = sum + (size_t)o * m;
                    for (int i = i0; i < i0 + 16 && i < m; i++)
                        y[(size_t)i * l->out + o] = (float)row[i] * k;
                }
    } else {
        gemm_nt(m, l->out, l->in, x, l->w, y);
    }
    arena_rewind(scratch, mk);
    for (int i = 0; i < m; i++) {
        float *row = y + (size_t)i * l->out;
        if (l->b)
            for (int o = 0; o < l->out; o++) row[o] += l->b[o];
        if (relu)
            for (int o = 0; o < l->out; o++) row[o] = row[o] < 0.0f ? 0.0f : row[o];   /* NaN kept */
    }
}
