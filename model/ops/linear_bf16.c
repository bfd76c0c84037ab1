/*
 * linear_bf16.c — F.linear in bf16 by our own AVX512_BF16 kernel, where
 * conv_bf16.c's kernel runs (conv_bf16_native): y[m, out] = x[m, in] W^T + b.
 *
 * The box head's fc6 (12544 inputs, 1024 outputs, one row per RoI) is the
 * largest product of a MobileNet or ResNet frame; through oneDNN each thread's
 * call packed all RoIs' inputs again and two threads ran it 1.75x faster than
 * one. Here a lane of VDPBF16PS is an output feature and a pair is two
 * successive inputs: the weights are laid out once, at load, in panels of PANEL
 * outputs, each holding for every input pair kp the 2 x PANEL values
 * W[o][2kp], W[o][2kp + 1] interleaved (linear_bf16_weights: rounded as the
 * other layers' bf16 copies are, and the only bf16 copy such a layer keeps); a
 * row's input pair
 * (x[i][2kp], x[i][2kp + 1]) is one 32-bit word of x rounded to bf16, broadcast.
 * A register block is MR rows of x by one panel, its outputs contiguous in y.
 *
 * The weights (25 MB in bf16 for fc6) come from memory once per call: each
 * thread takes a contiguous group of panels and walks the inputs in chunks of
 * CHUNK pairs — for each chunk, every panel of the group, every block of rows —
 * so a chunk of x (all rows) and of the panel stay in the core's L2 while the
 * partial sums wait in y. Each output's sum still runs over the pairs in order,
 * one chunk after the other (f32 partial sums stored and reloaded exactly): the
 * result does not depend on the thread count.
 */
#include "ops.h"

#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86_BF16 1
#endif

#define MR 6              /* rows of x per register block */
#define NV 4              /* vectors of 16 outputs per register block */
#define PANEL (16 * NV)   /* outputs per panel */
#define CHUNK 1024        /* input pairs per chunk */

static int pairs_of(const struct linear *l) { return (l->in + 1) / 2; }
static int panels_of(const struct linear *l) { return (l->out + PANEL - 1) / PANEL; }

size_t linear_bf16_weights_len(const struct linear *l)
{
    return (size_t)panels_of(l) * pairs_of(l) * PANEL * 2;
}

void linear_bf16_weights(const struct linear *l, uint16_t *wp)
{
    enum { BLOCK = 64 };   /* pairs per step: a row's piece rounded at once */
    int pairs = pairs_of(l);
    size_t step = (size_t)PANEL * 2;   /* values per pair of a panel */
    uint16_t piece[2 * BLOCK];
    memset(wp, 0, sizeof(uint16_t) * linear_bf16_weights_len(l));
    for (int panel = 0; panel < panels_of(l); panel++)
        for (int k0 = 0; k0 < pairs; k0 += BLOCK) {
            int k1 = k0 + BLOCK < pairs ? k0 + BLOCK : pairs;
            int i0 = 2 * k0, n = 2 * k1 < l->in ? 2 * k1 - i0 : l->in - i0;
            for (int c = 0; c < PANEL; c++) {
                int o = panel * PANEL + c;
                if (o >= l->out) break;
                bf16_from_f32(l->w + (size_t)o * l->in + i0, (size_t)n, piece);
                uint16_t *dst = wp + (size_t)panel * pairs * step + 2 * c;
                for (int i = 0; i < n; i++) dst[(size_t)(k0 + i / 2) * step + i % 2] = piece[i];
            }
        }
}

size_t linear_bf16_scratch_floats(const struct linear *l, int m)
{
    /* x rounded to bf16, rows of an even length */
    return arena_aligned_floats((size_t)m * pairs_of(l));
}

#ifdef HAVE_X86_BF16
#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* x [m, in] into bf16 rows of 2 * pairs values (an odd in: a zero last). */
struct round_job {
    const float *x;
    int in, pairs;
    uint16_t *x16;
};

static void round_part(void *ctx, int lo, int hi)
{
    const struct round_job *j = ctx;
    for (int i = lo; i < hi; i++) {
        uint16_t *row = j->x16 + (size_t)i * 2 * j->pairs;
        bf16_from_f32(j->x + (size_t)i * j->in, (size_t)j->in, row);
        if (j->in % 2) row[j->in] = 0;
    }
}

/* rows (<= MR) rows of x against one panel over pairs [kp0, kp0 + n): wp at the
 * panel's pair kp0, x at the first row's pair kp0 (rows ldx words apart), y at
 * the first row's first output of the panel (rows ldy apart), cnt outputs real.
 * first: the sums start at 0, else from y; last: add the bias (at the panel's
 * first output) and the ReLU. */
TARGET static inline __attribute__((always_inline)) void
block(const int rows, const uint16_t *wp, const uint16_t *x, size_t ldx, int n, float *y,
      size_t ldy, int cnt, const float *bias, int first, int last, int relu)
{
    __m512 acc[MR][NV];
    __mmask16 m[NV];
    for (int v = 0; v < NV; v++) {
        int left = cnt - 16 * v;
        m[v] = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
    }
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < NV; v++)
            acc[r][v] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m[v], y + r * ldy + 16 * v);
    for (int kp = 0; kp < n; kp++, wp += PANEL * 2) {
        __m512bh w[NV];
        for (int v = 0; v < NV; v++) w[v] = (__m512bh)_mm512_loadu_si512((const void *)(wp + 32 * v));
        for (int r = 0; r < rows; r++) {
            uint32_t pair;   /* (the bf16 pair as one word, read as bytes: no aliasing) */
            memcpy(&pair, x + 2 * (r * ldx + kp), sizeof pair);
            __m512bh xb = (__m512bh)_mm512_set1_epi32((int)pair);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], w[v], xb);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < NV; v++) {
            __m512 s = acc[r][v];
            if (last) {
                if (bias) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(m[v], bias + 16 * v));
                if (relu) s = _mm512_max_ps(_mm512_setzero_ps(), s);   /* NaN kept */
            }
            _mm512_mask_storeu_ps(y + r * ldy + 16 * v, m[v], s);
        }
}

TARGET static void block_full(const uint16_t *wp, const uint16_t *x, size_t ldx, int n, float *y,
                              size_t ldy, int cnt, const float *bias, int first, int last, int relu)
{
    block(MR, wp, x, ldx, n, y, ldy, cnt, bias, first, last, relu);
}

TARGET static void block_one(const uint16_t *wp, const uint16_t *x, size_t ldx, int n, float *y,
                             size_t ldy, int cnt, const float *bias, int first, int last, int relu)
{
    block(1, wp, x, ldx, n, y, ldy, cnt, bias, first, last, relu);
}

struct job {
    const struct linear *l;
    const uint16_t *wp;
    const uint16_t *x;   /* x in bf16, 2 x pairs values per row */
    int m, relu, groups;
    float *y;
};

static void group_part(void *ctx, int g, int worker)
{
    (void)worker;
    const struct job *j = ctx;
    const struct linear *l = j->l;
    int pairs = pairs_of(l), panels = panels_of(l);
    int lo = (int)((int64_t)panels * g / j->groups), hi = (int)((int64_t)panels * (g + 1) / j->groups);
    for (int k0 = 0; k0 < pairs; k0 += CHUNK) {
        int n = pairs - k0 < CHUNK ? pairs - k0 : CHUNK;
        int first = k0 == 0, last = k0 + n == pairs;
        for (int panel = lo; panel < hi; panel++) {
            int o = panel * PANEL, cnt = l->out - o < PANEL ? l->out - o : PANEL;
            const uint16_t *wp = j->wp + ((size_t)panel * pairs + k0) * PANEL * 2;
            const float *bias = l->b ? l->b + o : NULL;
            int i = 0;
            for (; i + MR <= j->m; i += MR)
                block_full(wp, j->x + (size_t)2 * ((size_t)i * pairs + k0), (size_t)pairs, n,
                           j->y + (size_t)i * l->out + o, (size_t)l->out, cnt, bias, first, last,
                           j->relu);
            for (; i < j->m; i++)
                block_one(wp, j->x + (size_t)2 * ((size_t)i * pairs + k0), (size_t)pairs, n,
                          j->y + (size_t)i * l->out + o, (size_t)l->out, cnt, bias, first, last,
                          j->relu);
        }
    }
}

void linear_bf16_forward(const struct linear *l, const uint16_t *wp, const float *x, int m,
                         float *y, int relu, struct arena *scratch)
{
    MODEL_ASSERT(conv_bf16_native() && wp && m >= 0 && l->in > 0);
    if (m == 0) return;
    struct arena_mark mark = arena_mark(scratch);
    uint16_t *x16 = (uint16_t *)arena_floats(scratch, linear_bf16_scratch_floats(l, m));
    struct round_job rj = { x, l->in, pairs_of(l), x16 };
    pool_for(m, (double)m * l->in, round_part, &rj);
    /* one contiguous group of panels per thread (the weights are the memory traffic:
     * each read once), unless there are fewer panels */
    int T = pool_size(ops_pool()), panels = panels_of(l);
    struct job j = { l, wp, x16, m, relu, T < panels ? T : panels, y };
    pool_run(ops_pool(), j.groups, group_part, &j);
    arena_rewind(scratch, mark);
}

#else /* not x86-64 with GCC's intrinsics: never native */

void linear_bf16_forward(const struct linear *l, const uint16_t *wp, const float *x, int m,
                         float *y, int relu, struct arena *scratch)
{
    (void)l, (void)wp, (void)x, (void)m, (void)y, (void)relu, (void)scratch;
    MODEL_ASSERT(0);
}

#endif
