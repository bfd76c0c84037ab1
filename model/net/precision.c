/*
 * precision.c — the low-precision copies of the weights that --precision bf16 and
 * --precision int8 run on: every dense conv (the backbone graph's, the FPN's, the
 * RPN head's, the conv box head's) and every linear layer, converted once, in one
 * block per precision. Depthwise convs stay f32 (they are memory-bound);
 * everything outside convs and linears — normalisation, RoIAlign, decoding, NMS,
 * softmax — is f32 in every precision. In bf16, the 3x3 stride-1 convs also get
 * their weights transformed for Winograd's algorithm (winograd.c), which runs
 * them with 2.25x fewer multiply-adds, unless VDETECT_WINOGRAD=0. Where our own
 * bf16 kernels run (conv_bf16_native), a linear layer's bf16 copy is laid out in
 * linear_bf16.c's panels instead (wp16, no w16).
 *
 * int8 weights are per output channel (quantize_rows_s8); each layer's input
 * scale comes from the model file's calibration (calibrate.c) where it has one.
 * The predictors (is_predictor) stay f32 in int8.
 */
#include "net.h"

#include <string.h>

/* Every such layer of m, in the fixed order, into out (room for cap). */
static int layers_of(struct model *m, struct qlayer *out, int cap)
{
    int n = 0;
    const struct graph *g = m->bb.graph;
    for (int i = 0; g && i < g->n; i++)
        if ((g->nodes[i].op == G_CONV || g->nodes[i].op == G_LINEAR) &&
            !conv_is_depthwise(&g->nodes[i].cv) && n < cap)
            out[n++] = (struct qlayer){ &g->nodes[i].cv, NULL };
    for (int i = 0; i < m->rpn.depth && n < cap; i++) out[n++] = (struct qlayer){ &m->rpn.conv[i], NULL };
    if (n < cap) out[n++] = (struct qlayer){ &m->rpn.pred, NULL };
    for (int i = 0; i < m->box.nconv && n < cap; i++) out[n++] = (struct qlayer){ &m->box.convs[i], NULL };
    struct linear *lin[4] = { &m->box.fc6, &m->box.fc7, &m->box.cls, &m->box.reg };
    for (int i = 0; i < 4 && n < cap; i++)
        if (lin[i]->w) out[n++] = (struct qlayer){ NULL, lin[i] };
    return n;
}

void qlayer_shape(const struct qlayer *q, int *rows, int *cols)
{
    if (q->cv) {
        *rows = q->cv->cout;
        *cols = q->cv->cin / q->cv->groups * q->cv->k * q->cv->k;
    } else {
        *rows = q->lin->out;
        *cols = q->lin->in;
    }
}

static const float *weights_of(const struct qlayer *q) { return q->cv ? q->cv->w : q->lin->w; }

struct qlayer *precision_layer_list(struct model *m, int *n)
{
    int cap = (m->bb.graph ? m->bb.graph->n : 0) + 2 * SPEC_MAX_HEAD_CONVS + 1 + 4;
    struct qlayer *q = malloc(sizeof *q * (size_t)cap);
    if (q) *n = layers_of(m, q, cap);
    else fprintf(stderr, "model: out of memory\n");
    return q;
}

/* bf16 runs 3x3 stride-1 convs by Winograd (winograd.c) unless VDETECT_WINOGRAD=0. */
static int winograd_wanted(void)
{
    const char *e = getenv("VDETECT_WINOGRAD");
    return !(e && !strcmp(e, "0"));
}

int precision_prepare_bf16(struct model *m)
{
    if (m->w16_block) return 0;
    int n = 0;
    struct qlayer *q = precision_layer_list(m, &n);
    if (!q) return -1;
    size_t total = 0;
    int wino = winograd_wanted(), panels = conv_bf16_native();
    for (int i = 0; i < n; i++) {
        int r, c;
        qlayer_shape(&q[i], &r, &c);
        if (panels && q[i].lin) total += linear_bf16_weights_len(q[i].lin) + 32;   /* + alignment */
        else total += (size_t)r * c;
        if (wino && q[i].cv && winograd_eligible(q[i].cv)) total += winograd_weights_len(q[i].cv);
    }
    uint16_t *p = m->w16_block = malloc(sizeof(uint16_t) * (total ? total : 1));
    if (!p) {
        free(q);
        fprintf(stderr, "model: out of memory for the bf16 copy of the weights\n");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        int r, c;
        qlayer_shape(&q[i], &r, &c);
        if (panels && q[i].lin) {   /* linear_bf16.c's panels instead of [out, in] */
            while ((uintptr_t)p % 64) p++;   /* whole cache lines per panel row */
            linear_bf16_weights(q[i].lin, p);
            q[i].lin->wp16 = p;
            p += linear_bf16_weights_len(q[i].lin);
            continue;
        }
        bf16_from_f32(weights_of(&q[i]), (size_t)r * c, p);
        if (q[i].cv) q[i].cv->w16 = p;
        else q[i].lin->w16 = p;
        p += (size_t)r * c;
        if (wino && q[i].cv && winograd_eligible(q[i].cv)) {
            winograd_weights_bf16(q[i].cv, p);
            q[i].cv->wino16 = p;
            p += winograd_weights_len(q[i].cv);
            m->winograd++;
        }
    }
    free(q);
    return 0;
}

/* The layers whose outputs are the scores and box deltas themselves (the RPN's
 * and the box predictor's): int8 leaves them f32, being a small share of the
 * work and the one the boxes' precision rests on. */
static int is_predictor(const struct model *m, const struct qlayer *q)
{
    return q->cv == &m->rpn.pred || q->lin == &m->box.cls || q->lin == &m->box.reg;
}

int precision_prepare_int8(struct model *m)
{
    if (m->w8_block) return 0;
    int n = 0;
    struct qlayer *q = precision_layer_list(m, &n);
    if (!q) return -1;
    size_t weights = 0, rows = 0;
    for (int i = 0; i < n; i++) {
        int r, c;
        qlayer_shape(&q[i], &r, &c);
        if (is_predictor(m, &q[i])) continue;
        weights += (size_t)r * c;
        rows += (size_t)r;
    }
    /* the scales first (aligned), then the int8 weights */
    char *block = malloc(sizeof(float) * rows + weights + 1);
    if (!block) {
        free(q);
        fprintf(stderr, "model: out of memory for the int8 copy of the weights\n");
        return -1;
    }
    float *sc = (float *)block;
    int8_t *w8 = (int8_t *)(block + sizeof(float) * rows);
    for (int i = 0; i < n; i++) {
        int r, c;
        qlayer_shape(&q[i], &r, &c);
        /* the predictors stay f32: measured on the demo set, one detection in 160 more agrees */
        if (is_predictor(m, &q[i])) continue;
        quantize_rows_s8(weights_of(&q[i]), r, c, w8, sc);
        float xs = m->calib.n == n && m->calib.amax[i] > 0.0f ? quant_scale(m->calib.amax[i]) : 0.0f;
        if (q[i].cv) {
            q[i].cv->w8 = w8;
            q[i].cv->w8_scale = sc;
            q[i].cv->x_scale = xs;
        } else {
            q[i].lin->w8 = w8;
            q[i].lin->w8_scale = sc;
            q[i].lin->x_scale = xs;
        }
        w8 += (size_t)r * c;
        sc += r;
    }
    free(q);
    m->w8_block = block;
    return 0;
}
