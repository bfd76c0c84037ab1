/*
 * run.c — running a conv inside a forward pass: the output map comes from the
 * pass's arena, multiply-adds are counted, and a dry run skips the arithmetic
 * (used for cost estimates without touching memory).
 */
#include "net.h"

struct fmap run_conv(struct run *r, const struct conv *cv, const struct fmap *in)
{
    int oh, ow;
    conv_out_size(cv, in->h, in->w, &oh, &ow);
    struct fmap out = arena_fmap(r->arena, cv->cout, oh, ow);
    r->macs += (double)cv->cout * oh * ow * (cv->cin / cv->groups) * cv->k * cv->k;
    if (!r->dry) {
        conv_forward(cv, in, &out, r->arena);
    } else {
        /* the im2col / depthwise scratch conv_forward would take and give back */
        struct arena_mark m = arena_mark(r->arena);
        arena_floats(r->arena, conv_scratch_floats(cv, in->h, in->w));
        arena_rewind(r->arena, m);
    }
    return out;
}
