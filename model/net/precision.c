/*
 * precision.c — the bf16 copies of the weights that --precision bf16 runs on:
 * every dense conv (the backbone graph's, the FPN's, the RPN head's, the conv box
 * head's) and every linear layer, rounded once, in one block. Depthwise convs
 * stay f32 (they are memory-bound); everything outside convs and linears —
 * normalisation, RoIAlign, decoding, NMS, softmax — is f32 in either precision.
 */
#include "net.h"

#include <string.h>

static size_t conv_weights(const struct conv *cv)
{
    return conv_is_depthwise(cv) ? 0 : (size_t)cv->cout * (cv->cin / cv->groups) * cv->k * cv->k;
}

/* Every conv of m, in one order, for the two passes below. */
static int convs_of(struct model *m, struct conv **out, int cap)
{
    int n = 0;
    const struct graph *g = m->bb.graph;
    for (int i = 0; g && i < g->n; i++)
        if ((g->nodes[i].op == G_CONV || g->nodes[i].op == G_LINEAR) && n < cap)
            out[n++] = &g->nodes[i].cv;
    for (int i = 0; i < m->rpn.depth && n < cap; i++) out[n++] = &m->rpn.conv[i];
    if (n < cap) out[n++] = &m->rpn.pred;
    for (int i = 0; i < m->box.nconv && n < cap; i++) out[n++] = &m->box.convs[i];
    return n;
}

int precision_prepare_bf16(struct model *m)
{
    if (m->w16_block) return 0;
    int cap = (m->bb.graph ? m->bb.graph->n : 0) + 2 * SPEC_MAX_HEAD_CONVS + 1;
    struct conv **cv = malloc(sizeof *cv * (size_t)cap);
    if (!cv) goto oom;
    int n = convs_of(m, cv, cap);
    struct linear *lin[4] = { &m->box.fc6, &m->box.fc7, &m->box.cls, &m->box.reg };
    size_t total = 0;
    for (int i = 0; i < n; i++) total += conv_weights(cv[i]);
    for (int i = 0; i < 4; i++) total += lin[i]->w ? (size_t)lin[i]->in * lin[i]->out : 0;
    uint16_t *block = malloc(sizeof(uint16_t) * (total ? total : 1));
    if (!block) {
        free(cv);
        goto oom;
    }
    uint16_t *p = block;
    for (int i = 0; i < n; i++) {
        size_t k = conv_weights(cv[i]);
        if (!k) continue;
        bf16_from_f32(cv[i]->w, k, p);
        cv[i]->w16 = p;
        p += k;
    }
    for (int i = 0; i < 4; i++) {
        if (!lin[i]->w) continue;
        size_t k = (size_t)lin[i]->in * lin[i]->out;
        bf16_from_f32(lin[i]->w, k, p);
        lin[i]->w16 = p;
        p += k;
    }
    free(cv);
    m->w16_block = block;
    return 0;
oom:
    fprintf(stderr, "model: out of memory for the bf16 copy of the weights\n");
    return -1;
}
