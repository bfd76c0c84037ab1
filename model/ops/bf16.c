/*
 * bf16.c — matrix products with bfloat16 inputs and float32 results, for
 * --precision bf16: the weights are rounded to bf16 once at load, each product's
 * other input when it is made (im2col writes bf16 directly), and every sum is
 * accumulated in f32 by oneDNN's matmul (AVX512_BF16 or AMX where the CPU has
 * them; emulated, and slower than f32, where it has neither).
 *
 * oneDNN primitives are made for one shape; each thread keeps its own small
 * cache of them (the pool splits a product into the same parts frame after
 * frame, so the cache hits after the first frame), with its own scratchpad, so
 * no two threads ever share a primitive's memory.
 */
#include "ops.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <string.h>

/* Branch-free, so that the loop below vectorises: round to nearest, ties to
 * even; a NaN keeps its sign and becomes a quiet NaN. */
static inline uint16_t round_bits(uint32_t u)
{
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1)) >> 16;
    uint32_t nan = (u >> 16) | 0x40;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : r);
}

uint16_t bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return round_bits(u);
}

float bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

void bf16_from_f32(const float *restrict x, size_t n, uint16_t *restrict y)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);   /* (compiles to a vector load) */
        y[i] = round_bits(u);
    }
}

/* ---- per-thread primitive cache ------------------------------------------------ */

#define CACHE_SIZE 128

struct entry {
    struct gemm_shape s;
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

static void make_key(void) { pthread_key_create(&cache_key, cache_free); }

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

static int entry_make(struct cache *c, struct entry *e, const struct gemm_shape *s)
{
    memset(e, 0, sizeof *e);
    e->s = *s;
    dnnl_memory_desc_t a, b, d;
    if (desc(&a, s->m, s->k, s->lda, 0, dnnl_bf16) ||
        desc(&b, s->k, s->n, s->ldb, s->trans_b, dnnl_bf16) ||
        desc(&d, s->m, s->n, s->ldc, 0, dnnl_f32))
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

static struct entry *lookup(struct cache *c, const struct gemm_shape *s)
{
    c->clock++;
    int lru = 0;
    for (int i = 0; i < c->n; i++) {
        if (!memcmp(&c->e[i].s, s, sizeof *s)) {
            c->e[i].used = c->clock;
            return &c->e[i];
        }
        if (c->e[i].used < c->e[lru].used) lru = i;
    }
    struct entry *e;
    if (c->n < CACHE_SIZE) {
        e = &c->e[c->n];
        if (entry_make(c, e, s)) return NULL;
        c->n++;
    } else {
        e = &c->e[lru];
        entry_free(e);
        if (entry_make(c, e, s)) {   /* keep the table dense */
            c->e[lru] = c->e[--c->n];
            memset(&c->e[c->n], 0, sizeof c->e[c->n]);
            return NULL;
        }
    }
    e->used = c->clock;
    return e;
}

/* One part of a product on this thread; -1 when oneDNN cannot run it. */
static int matmul_part(const struct gemm_shape *s, const uint16_t *A, const uint16_t *B, float *C)
{
    onednn_single_thread();
    struct cache *c = thread_cache();
    struct entry *e = c ? lookup(c, s) : NULL;
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

/* The same part in plain C (f32 sums of the bf16 values): only when oneDNN
 * fails, which it does not for valid shapes short of running out of memory. */
static void matmul_fallback(const struct gemm_shape *s, const uint16_t *A, const uint16_t *B,
                            float *C)
{
    for (int i = 0; i < s->m; i++)
        for (int j = 0; j < s->n; j++) {
            float acc = 0.0f;
            for (int p = 0; p < s->k; p++) {
                float b = bf16_to_f32(s->trans_b ? B[(size_t)j * s->ldb + p]
                                                 : B[(size_t)p * s->ldb + j]);
                acc += bf16_to_f32(A[(size_t)i * s->lda + p]) * b;
            }
            C[(size_t)i * s->ldc + j] = acc;
        }
}

/* ---- splitting a product across the pool ----------------------------------------- */

struct job {
    struct gemm_split sp;
    const uint16_t *A, *B;
    float *C;
};

static void part(void *ctx, int p, int worker)
{
    (void)worker;
    const struct job *j = ctx;
    struct gemm_shape s;
    size_t ao, bo, co;
    if (!gemm_piece(&j->sp, p, &s, &ao, &bo, &co)) return;
    if (matmul_part(&s, j->A + ao, j->B + bo, j->C + co))
        matmul_fallback(&s, j->A + ao, j->B + bo, j->C + co);
}

void gemm_bf16(int m, int n, int k, const uint16_t *A, int lda, const uint16_t *B, int ldb,
               float *C, int ldc, int trans_b)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {   /* an empty sum */
        for (int i = 0; i < m; i++) memset(C + (size_t)i * ldc, 0, sizeof(float) * n);
        return;
    }
    struct gemm_shape s = { m, n, k, lda, ldb, ldc, trans_b };
    struct job j = { gemm_split(&s), A, B, C };
    if (j.sp.parts == 1) part(&j, 0, 0);
    else pool_run(ops_pool(), j.sp.parts, part, &j);
}
