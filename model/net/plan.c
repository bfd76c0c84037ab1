/*
 * plan.c — what one model_detect on a W x H input takes, found from shapes alone
 * before anything runs: whether torchvision could run the size at all, the
 * activation arena's high-water mark (reserved once per input size, so a pass
 * never runs out of memory halfway), and the multiply-adds (`bench`, `info`).
 *
 * The memory is found by replaying each stage's allocations, in the order the
 * stage makes them, on a counting arena (ops/arena.c), with the data-dependent
 * stages at their upper bounds: every top-k candidate survives,
 * rpn_post_nms_top_n_test or fewer proposals, every class of every proposal a
 * candidate. A stage that changes what it allocates changes its replay here;
 * test_plan checks the two agree: a real pass never goes above the replay.
 */
#include "net.h"

#include <string.h>
#include <unistd.h>

/* The most working memory a pass may ask for: what the kernel says is
 * available now (MemAvailable), else physical memory. Beyond it the system
 * would swap, or overcommit its way into the OOM killer. */
static size_t available_bytes(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    unsigned long long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) break;
    if (f) fclose(f);
    if (kib > 0 && kib < SIZE_MAX / 1024) return (size_t)kib * 1024;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0 || (size_t)pages > SIZE_MAX / (size_t)page) return SIZE_MAX;
    return (size_t)pages * (size_t)page;
}

static size_t min_z(size_t a, size_t b) { return a < b ? a : b; }

/* Overflow-safe a * b, saturating at SIZE_MAX (a saturated size is refused). */
static size_t mul_z(size_t a, size_t b)
{
    return a && b > SIZE_MAX / a ? SIZE_MAX : a * b;
}

/* A scratch allocation given back at once (what a stage takes and rewinds). */
static void scratch_floats(struct arena *a, size_t n)
{
    struct arena_mark mk = arena_mark(a);
    arena_floats(a, n);
    arena_rewind(a, mk);
}

/* Scratch of batched_nms / nms on n boxes (nms.c): order and tmp, the packed
 * boxes and areas, suppression flags, kept flags, the re-sort's scores. */
static void count_nms(struct arena *a, size_t n)
{
    struct arena_mark mk = arena_mark(a);
    arena_ints(a, mul_z(2, n));
    arena_floats(a, mul_z(5, n));
    arena_ints(a, n);
    arena_alloc(a, n);
    arena_floats(a, n);
    arena_rewind(a, mk);
}

/* The message for an input the transform resizes to nothing: the smallest
 * short side that keeps both resized sides >= 1, if any. */
static void empty_resize_msg(const struct spec *s, const struct image_sizes *z, char *msg,
                             size_t len)
{
    int W = z->w, H = z->h;
    int wide = W >= H, lng = wide ? W : H, need = 0;
    for (int t = 1; t <= lng && !need; t++) {
        int th, tw;
        transform_resized_size(wide ? t : lng, wide ? lng : t, s->p.min_size, s->p.max_size,
                               &th, &tw);
        if (th >= 1 && tw >= 1) need = t;
    }
    char hint[128];
    if (need)
        snprintf(hint, sizeof hint, "with a %s of %d the %s must be at least %d pixels",
                 wide ? "width" : "height", lng, wide ? "height" : "width", need);
    else
        snprintf(hint, sizeof hint, "no %s works with a %s of %d at this max_size",
                 wide ? "height" : "width", wide ? "width" : "height", lng);
    snprintf(msg, len, "a %dx%d input resizes to %dx%d with min_size %g and max_size %g, "
             "an empty image (torchvision refuses it too); %s", W, H, z->rw, z->rh,
             s->p.min_size, s->p.max_size, hint);
}

/* transform_forward: the padded image. */
static void plan_transform(struct arena *a, const struct image_sizes *z)
{
    arena_fmap(a, 3, z->hp, z->wp);
}

/* backbone_run (graph_run): the outputs, kept; the shared buffer and the largest
 * conv scratch, given back. */
static void plan_backbone(struct arena *a, const struct graph_plan *gp, struct fmap *feats)
{
    for (int k = 0; k < gp->n_out; k++)
        feats[k] = arena_fmap(a, gp->out_c[k], gp->out_h[k], gp->out_w[k]);
    struct arena_mark mk = arena_mark(a);
    arena_alloc(a, gp->shared_bytes ? gp->shared_bytes : 64);
    arena_floats(a, gp->scratch_floats);
    arena_rewind(a, mk);
}

/* One conv into a new map, as rpn_head_forward makes it; its multiply-adds. */
static struct fmap plan_conv(struct arena *a, const struct conv *cv, const struct fmap *in,
                             double *macs)
{
    int oh, ow;
    conv_out_size(cv, in->h, in->w, &oh, &ow);
    struct fmap out = arena_fmap(a, cv->cout, oh, ow);
    scratch_floats(a, conv_scratch_floats(cv, in->h, in->w));
    *macs += conv_macs(cv, oh, ow);
    return out;
}

/* rpn_forward at its upper bounds; P proposals at most. */
static size_t plan_rpn(const struct model *m, struct arena *a, const struct fmap *feats,
                       int nfeat, double *macs)
{
    const struct spec *s = &m->spec;
    size_t N = 0, k_total = 0, n_max = 0;
    for (int l = 0; l < nfeat; l++) {
        size_t n = (size_t)feats[l].h * feats[l].w * s->n_sizes[l] * s->n_ratios[l];
        N += n;
        k_total += min_z(n, (size_t)s->p.rpn_pre_nms_top_n_test);
        if (n > n_max) n_max = n;
    }
    arena_floats(a, N);                        /* objectness */
    arena_floats(a, mul_z(4, N));              /* deltas */
    for (int l = 0; l < nfeat; l++) {          /* the head, level by level */
        struct arena_mark mk = arena_mark(a);
        struct fmap t = feats[l];
        for (int i = 0; i < m->rpn.depth; i++) t = plan_conv(a, &m->rpn.conv[i], &t, macs);
        plan_conv(a, &m->rpn.pred, &t, macs);
        arena_rewind(a, mk);
    }
    arena_floats(a, mul_z(4, N));              /* decoded */
    size_t P = min_z((size_t)s->p.rpn_post_nms_top_n_test, k_total);
    arena_floats(a, 4 * P + 4);
    arena_floats(a, P + 1);
    struct arena_mark mk = arena_mark(a);      /* rpn_filter_proposals */
    arena_ints(a, k_total);                    /* idx, lvl, keep */
    arena_ints(a, k_total);
    arena_ints(a, k_total);
    arena_floats(a, mul_z(4, k_total));        /* boxes */
    arena_floats(a, k_total);                  /* scores */
    struct arena_mark mk2 = arena_mark(a);     /* torch_topk's work array */
    arena_ints(a, n_max);
    arena_rewind(a, mk2);
    count_nms(a, k_total);
    arena_rewind(a, mk);
    return P;
}

/* roi_heads_forward for P proposals at its upper bounds. */
static void plan_roi_heads(const struct model *m, struct arena *a, const struct fmap *feats,
                           size_t P, double *macs)
{
    const struct spec *s = &m->spec;
    const struct box_head *h = &m->box;
    size_t Pn = P > 0 ? P : 1, C = (size_t)s->fpn_out, ro2 = (size_t)s->roi_out * s->roi_out;
    size_t K = (size_t)s->num_classes, rep = (size_t)h->rep;
    arena_floats(a, mul_z(Pn, C * ro2));       /* pooled */
    struct arena_mark mk = arena_mark(a);      /* multiscale_roi_align */
    size_t map_max = 0;
    for (int l = 0; l < s->roi_maps; l++) {
        size_t e = fmap_numel(&feats[s->roi_index[l]]);
        map_max = map_max > e ? map_max : e;
    }
    arena_ints(a, P + 1);
    arena_ints(a, (size_t)s->roi_maps);
    arena_floats(a, map_max);
    arena_floats(a, C * ro2 * (size_t)pool_size(ops_pool()));   /* a stage per thread */
    arena_rewind(a, mk);
    arena_floats(a, mul_z(Pn, rep));           /* features */
    arena_floats(a, mul_z(Pn, K));             /* logits */
    arena_floats(a, mul_z(Pn, 4 * K));         /* regression */
    mk = arena_mark(a);                        /* box_head_forward */
    if (h->nconv) {
        size_t Cb = (size_t)h->convs[0].cin, S2 = (size_t)h->in / Cb;
        int S = 1;
        while ((size_t)S * S < S2) S++;
        arena_floats(a, mul_z(P, Cb * S2));
        arena_floats(a, mul_z(P, Cb * S2));
        size_t most = linear_scratch_floats(&h->fc6, (int)P);
        for (int i = 0; i < h->nconv; i++) {
            size_t f = conv_scratch_floats_images(&h->convs[i], (int)P, S, S);
            most = f > most ? f : most;
            *macs += (double)P * conv_macs(&h->convs[i], S, S);
        }
        arena_floats(a, most);
    } else {
        arena_floats(a, mul_z(P, rep));
        size_t f6 = linear_scratch_floats(&h->fc6, (int)P), f7 = linear_scratch_floats(&h->fc7, (int)P);
        arena_floats(a, f6 > f7 ? f6 : f7);
    }
    arena_rewind(a, mk);
    size_t fc = linear_scratch_floats(&h->cls, (int)P), fr = linear_scratch_floats(&h->reg, (int)P);
    scratch_floats(a, fc > fr ? fc : fr);      /* the predictor's */
    *macs += (double)P * ((double)h->in * h->rep + (h->nconv ? 0.0 : (double)h->rep * h->rep) +
                          5.0 * K * h->rep);
    size_t cap = mul_z(P, K - 1);
    size_t D = min_z((size_t)s->p.box_detections_per_img, cap);
    arena_floats(a, 4 * D + 4);
    arena_floats(a, D + 1);
    arena_ints(a, D + 1);
    mk = arena_mark(a);                        /* box_postprocess */
    arena_floats(a, mul_z(cap, 4));
    arena_floats(a, cap);
    arena_ints(a, cap);
    arena_floats(a, K);
    arena_ints(a, cap + 1);
    count_nms(a, cap);
    arena_rewind(a, mk);
}

/*
 * One pass on a W x H input: *arena_bytes, the activation arena's high-water
 * mark; *anchor_bytes, the anchors (malloc'd apart); *macs, the multiply-adds.
 * -1 with a one-line reason in msg when torchvision could not run this size
 * either (a side resized to 0 pixels, an empty feature map).
 */
static int plan_pass(const struct model *m, int W, int H, size_t *arena_bytes,
                     size_t *anchor_bytes, double *macs, struct image_sizes *z, char *msg,
                     size_t len)
{
    const struct spec *s = &m->spec;
    transform_sizes(s, H, W, z);
    if (z->rh < 1 || z->rw < 1) {
        empty_resize_msg(s, z, msg, len);
        return -1;
    }
    struct graph_plan gp;
    const char *why;
    if (graph_plan(m->bb.graph, z->hp, z->wp, &gp, &why)) {
        snprintf(msg, len, "a %dx%d input (resized to %dx%d, padded to %dx%d) cannot run through "
                 "this backbone: %s%s", W, H, z->rw, z->rh, z->wp, z->hp, why,
                 strstr(why, "grows") ? "" : " (torchvision refuses it too)");
        return -1;
    }
    struct arena a;
    arena_init_counting(&a);
    struct fmap feats[SPEC_MAX_LEVELS];
    *macs = gp.macs;
    plan_transform(&a, z);
    plan_backbone(&a, &gp, feats);
    size_t N = 0;
    for (int l = 0; l < gp.n_out; l++)
        N += (size_t)feats[l].h * feats[l].w * s->n_sizes[l] * s->n_ratios[l];
    size_t P = plan_rpn(m, &a, feats, gp.n_out, macs);
    plan_roi_heads(m, &a, feats, P, macs);
    *arena_bytes = a.high;
    *anchor_bytes = mul_z(N, 4 * sizeof(float));
    return 0;
}

/* plan_pass, then the memory it needs against the machine's. */
static int check_size(const struct model *m, int W, int H, size_t *arena_bytes, char *msg,
                      size_t len)
{
    if (W < 1 || H < 1 || W > NET_MAX_INPUT_SIDE || H > NET_MAX_INPUT_SIDE) {
        snprintf(msg, len, "a %dx%d input is outside the sizes vdetect takes (1 to %d pixels a "
                 "side)", W, H, NET_MAX_INPUT_SIDE);
        return -1;
    }
    size_t bytes, anchors;
    double macs;
    struct image_sizes z;
    net_ops_begin(m);   /* the scratch depends on the thread count and the precision */
    int err = plan_pass(m, W, H, &bytes, &anchors, &macs, &z, msg, len);
    net_ops_end();
    if (err) return -1;
    /* 1 MiB of headroom: the replay is exact, but cheap insurance */
    bytes = bytes > SIZE_MAX - ((size_t)1 << 20) ? SIZE_MAX : bytes + ((size_t)1 << 20);
    size_t total = bytes > SIZE_MAX - anchors ? SIZE_MAX : bytes + anchors;
    if (total > ((size_t)1 << 30)) {   /* below 1 GiB: not worth reading /proc */
        size_t avail = available_bytes();
        if (total > avail) {
            snprintf(msg, len, "a %dx%d input (resized to %dx%d) needs %.1f GiB of working "
                     "memory with this model, more than the %.1f GiB available", W, H, z.rw,
                     z.rh, (double)total / (1 << 30), (double)avail / (1 << 30));
            return -1;
        }
    }
    if (arena_bytes) *arena_bytes = bytes;
    return 0;
}

int plan_reserve(struct model *m, int width, int height)
{
    char msg[320];
    size_t bytes;
    if (check_size(m, width, height, &bytes, msg, sizeof msg)) {
        fprintf(stderr, "model: %s\n", msg);
        return -1;
    }
    if (arena_reserve(&m->arena, bytes)) {
        fprintf(stderr, "model: a %dx%d input needs %.1f MiB of working memory with this "
                "model, which the system refused\n", width, height, (double)bytes / (1 << 20));
        return -1;
    }
    m->plan_w = width;
    m->plan_h = height;
    return 0;
}

int plan_arena_bytes(const struct model *m, int width, int height, size_t *bytes)
{
    size_t anchors;
    double macs;
    struct image_sizes z;
    char msg[320];
    net_ops_begin(m);
    int err = plan_pass(m, width, height, bytes, &anchors, &macs, &z, msg, sizeof msg);
    net_ops_end();
    return err;
}

int model_check_size(const struct model *m, int width, int height, char *msg, size_t len)
{
    return check_size(m, width, height, NULL, msg, len);
}

int model_max_detections(const struct model *m)
{
    const struct model_params *p = &m->spec.p;
    int64_t props = (int64_t)p->rpn_pre_nms_top_n_test * m->spec.n_levels;
    if (props > p->rpn_post_nms_top_n_test) props = p->rpn_post_nms_top_n_test;
    int64_t n = props * (m->spec.num_classes - 1);
    if (n > p->box_detections_per_img) n = p->box_detections_per_img;
    return n > 0 ? (int)n : 1;
}

int model_gflops(const struct model *m, int width, int height, double *gflops,
                 int *resized_w, int *resized_h, char *msg, size_t len)
{
    size_t bytes, anchors;
    double macs = 0;
    struct image_sizes z;
    int err = plan_pass(m, width, height, &bytes, &anchors, &macs, &z, msg, len);
    if (resized_w) *resized_w = z.rw;
    if (resized_h) *resized_h = z.rh;
    if (err) return -1;
    *gflops = 2.0 * macs / 1e9;
    return 0;
}
