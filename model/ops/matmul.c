/*
 * matmul.c — matrix products in low precision on oneDNN's matmul: bf16 inputs
 * with f32 sums (--precision bf16; AVX512_BF16 or AMX where the CPU has them,
 * emulated and slower than f32 where it has neither) and int8 inputs with int32
 * sums (--precision int8; VNNI or AMX where the CPU has them).
 *
 * oneDNN primitives are made for one shape and type; each thread keeps its own
 * small cache of them (the pool splits a product into the same parts frame after
 * frame, so the cache hits after the first frame), with its own scratchpad, so
 * no two threads ever share a primitive's memory (oneDNN's process-wide cache is
 * turned off: see make_key).
 */
#include "ops.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <string.h>

/* ---- per-thread primitive cache ------------------------------------------------ */

#define CACHE_SIZE 128

/* The two kinds of product: bf16 x bf16 -> f32, s8 x s8 -> s32. */
enum kind { KIND_BF16, KIND_S8 };

struct key {
    struct gemm_shape s;
    enum kind kind;
};

struct entry {
    struct key k;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c, pad;   /* memory objects; data handles set per call */
    void *scratch;
    unsigned long used;           /* LRU clock */
};

struct cache {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    struct entry e[CACHE_SIZE];
    int n;
    unsigned long clock;
};

static pthread_key_t cache_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void entry_free(struct entry *e)
{
    if (e->prim) dnnl_primitive_destroy(e->prim);
    if (e->a) dnnl_memory_destroy(e->a);
    if (e->b) dnnl_memory_destroy(e->b);
    if (e->c) dnnl_memory_destroy(e->c);
    if (e->pad) dnnl_memory_destroy(e->pad);
    free(e->scratch);
    memset(e, 0, sizeof *e);
}

static void cache_free(void *p)
{
    struct cache *c = p;
    for (int i = 0; i < c->n; i++) entry_free(&c->e[i]);
    if (c->stream) dnnl_stream_destroy(c->stream);
    if (c->engine) dnnl_engine_destroy(c->engine);
    free(c);
}

/* Once per process: the per-thread key, and oneDNN's own primitive cache off.
 * That cache is shared by every thread (a lookup reads entries other threads
 * made, under locks and atomics ThreadSanitizer cannot see into: it reported
 * races there); ours is per thread, so oneDNN's adds nothing but sharing. */
static void make_key(void)
{
    pthread_key_create(&cache_key, cache_free);
    dnnl_set_primitive_cache_capacity(0);
}

static struct cache *thread_cache(void)
{
    pthread_once(&key_once, make_key);
    struct cache *c = pthread_getspecific(cache_key);
    if (c) return c;
    c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (dnnl_engine_create(&c->engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags) != dnnl_success ||
        pthread_setspecific(cache_key, c)) {
        cache_free(c);
        return NULL;
    }
    return c;
}

/* A row-major [rows, cols] matrix with a leading dimension (transposed: stored
 * [cols, rows]). */
static int desc(dnnl_memory_desc_t *d, int rows, int cols, int ld, int transposed,
                dnnl_data_type_t t)
{
    dnnl_dims_t dims = { rows, cols };
    dnnl_dims_t strides = { transposed ? 1 : ld, transposed ? ld : 1 };
    return dnnl_memory_desc_init_by_strides(d, 2, dims, t, strides) == dnnl_success ? 0 : -1;
}

static int entry_make(struct cache *c, struct entry *e, const struct key *k)
{
    memset(e, 0, sizeof *e);
    e->k = *k;
    const struct gemm_shape *s = &k->s;
    dnnl_data_type_t in = k->kind == KIND_S8 ? dnnl_s8 : dnnl_bf16;
    dnnl_data_type_t out = k->kind == KIND_S8 ? dnnl_s32 : dnnl_f32;
    dnnl_memory_desc_t a, b, d;
    if (desc(&a, s->m, s->k, s->lda, 0, in) || desc(&b, s->k, s->n, s->ldb, s->trans_b, in) ||
        desc(&d, s->m, s->n, s->ldc, 0, out))
        return -1;
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int ok = dnnl_matmul_desc_init(&md, &a, &b, NULL, &d) == dnnl_success &&
             dnnl_primitive_attr_create(&attr) == dnnl_success &&
             dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) ==
                 dnnl_success &&
             dnnl_primitive_desc_create(&pd, &md, attr, c->engine, NULL) == dnnl_success &&
             dnnl_primitive_create(&e->prim, pd) == dnnl_success;
    if (ok) {
        const dnnl_memory_desc_t *sp =
            dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        size_t bytes = sp ? dnnl_memory_desc_get_size(sp) : 0;
        e->scratch = bytes ? malloc(bytes) : NULL;
        ok = (!bytes || e->scratch) &&
             dnnl_memory_create(&e->a, &a, c->engine, DNNL_MEMORY_NONE) == dnnl_success &&
             dnnl_memory_create(&e->b, &b, c->engine, DNNL_MEMORY_NONE) == dnnl_success &&
             dnnl_memory_create(&e->c, &d, c->engine, DNNL_MEMORY_NONE) == dnnl_success &&
             (!sp || dnnl_memory_create(&e->pad, sp, c->engine, e->scratch) == dnnl_success);
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!ok) entry_free(e);
    return ok ? 0 : -1;
}

static struct entry *lookup(struct cache *c, const struct key *k)
{
    c->clock++;
    int lru = 0;
    for (int i = 0; i < c->n; i++) {
        if (!memcmp(&c->e[i].k, k, sizeof *k)) {
            c->e[i].used = c->clock;
            return &c->e[i];
        }
        if (c->e[i].used < c->e[lru].used) lru = i;
    }
    struct entry *e;
    if (c->n < CACHE_SIZE) {
        e = &c->e[c->n];
        if (entry_make(c, e, k)) return NULL;
        c->n++;
    } else {
        e = &c->e[lru];
        entry_free(e);
        if (entry_make(c, e, k)) {   /* keep the table dense */
            c->e[lru] = c->e[--c->n];
            memset(&c->e[c->n], 0, sizeof c->e[c->n]);
            return NULL;
        }
    }
    e->used = c->clock;
    return e;
}

/* One part of a product on this thread; -1 when oneDNN cannot run it. */
static int matmul_part(const struct key *k, const void *A, const void *B, void *C)
{
    onednn_single_thread();
    struct cache *c = thread_cache();
    struct entry *e = c ? lookup(c, k) : NULL;
    if (!e) return -1;
    dnnl_memory_set_data_handle(e->a, (void *)A);
    dnnl_memory_set_data_handle(e->b, (void *)B);
    dnnl_memory_set_data_handle(e->c, C);
    dnnl_exec_arg_t args[4] = { { DNNL_ARG_SRC, e->a }, { DNNL_ARG_WEIGHTS, e->b },
                                { DNNL_ARG_DST, e->c }, { DNNL_ARG_SCRATCHPAD, e->pad } };
    if (dnnl_primitive_execute(e->prim, c->stream, e->pad ? 4 : 3, args) != dnnl_success ||
        dnnl_stream_wait(c->stream) != dnnl_success)
        return -1;
    return 0;
}

/* The same part in plain C (the same sums, in order): only when oneDNN fails,
 * which it does not for valid shapes short of running out of memory. */
static void matmul_fallback(const struct key *k, const void *A, const void *B, void *C)
{
    const struct gemm_shape *s = &k->s;
    for (int i = 0; i < s->m; i++)
        for (int j = 0; j < s->n; j++) {
            size_t bj = s->trans_b ? (size_t)j * s->ldb : (size_t)j;
            size_t bstep = s->trans_b ? 1 : (size_t)s->ldb;
            size_t ai = (size_t)i * s->lda, ci = (size_t)i * s->ldc + j;
            if (k->kind == KIND_S8) {
                const int8_t *a = (const int8_t *)A + ai, *b = (const int8_t *)B + bj;
                int32_t acc = 0;
                for (int p = 0; p < s->k; p++) acc += (int32_t)a[p] * b[p * bstep];
                ((int32_t *)C)[ci] = acc;
            } else {
                const uint16_t *a = (const uint16_t *)A + ai, *b = (const uint16_t *)B + bj;
                float acc = 0.0f;
                for (int p = 0; p < s->k; p++) acc += bf16_to_f32(a[p]) * bf16_to_f32(b[p * bstep]);
                ((float *)C)[ci] = acc;
            }
        }
}

/* ---- splitting a product across the pool ----------------------------------------- */

struct job {
    struct gemm_split sp;
    enum kind kind;
    const void *A, *B;
    void *C;
};

static void part(void *ctx, int p, int worker)
{
    (void)worker;
    const struct job *j = ctx;
    struct key k = { .kind = j->kind };
    size_t ao, bo, co;
    if (!gemm_piece(&j->sp, p, &k.s, &ao, &bo, &co)) return;
    size_t in = j->kind == KIND_S8 ? 1 : 2;   /* bytes per input and per output element */
    const void *A = (const char *)j->A + ao * in, *B = (const char *)j->B + bo * in;
    void *C = (char *)j->C + co * 4;
    if (matmul_part(&k, A, B, C)) matmul_fallback(&k, A, B, C);
}

static void matmul(enum kind kind, int m, int n, int k, const void *A, int lda, const void *B,
                   int ldb, void *C, int ldc, int trans_b, int alone)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {   /* an empty sum (0 and 0.0f have the same bits) */
        for (int i = 0; i < m; i++) memset((char *)C + (size_t)i * ldc * 4, 0, (size_t)n * 4);
        return;
    }
    struct gemm_shape s = { m, n, k, lda, ldb, ldc, trans_b };
    struct job j = { gemm_split(&s), kind, A, B, C };
    if (alone) j.sp = (struct gemm_split){ s, 0, 1 };
    if (j.sp.parts == 1) part(&j, 0, 0);
    else pool_run(ops_pool(), j.sp.parts, part, &j);
}

void gemm_bf16(int m, int n, int k, const uint16_t *A, int lda, const uint16_t *B, int ldb,
               float *C, int ldc, int trans_b)
{
    matmul(KIND_BF16, m, n, k, A, lda, B, ldb, C, ldc, trans_b, 0);
}

void gemm_bf16_alone(int m, int n, int k, const uint16_t *A, int lda, const uint16_t *B, int ldb,
                     float *C, int ldc, int trans_b)
{
    matmul(KIND_BF16, m, n, k, A, lda, B, ldb, C, ldc, trans_b, 1);
}

void gemm_s8(int m, int n, int k, const int8_t *A, int lda, const int8_t *B, int ldb, int32_t *C,
             int ldc, int trans_b)
{
    matmul(KIND_S8, m, n, k, A, lda, B, ldb, C, ldc, trans_b, 0);
}
