/*
 * style.c — drawing detections into RGB24 frames (render.h: render_style,
 * render_draw): stable per-class colours, boxes clipped to the frame, filled
 * labels with contrasting text, a corner stamp. Pure software on the caller's
 * buffer, so the window and annotate mode produce the same pixels.
 *
 * A style owns its font path and one font sized for the last frame height
 * drawn; calls serialise on the style's mutex.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct render_style {
    pthread_mutex_t lock;    /* guards font */
    char *font_path;         /* owned */
    struct render_font font; /* sized for the frame height last drawn */
    /* label placement scratch, grown (never shrunk) to the most detections
     * drawn at once: no allocation per frame in a steady run */
    int cap, label_cap;
    int *order;                  /* cap: detections by score */
    struct render_rect *placed;  /* cap: labels placed so far */
    struct render_rect *rects;   /* label_cap: each detection's label */
    uint8_t *short_text;         /* label_cap */
};

static int label_scratch(struct render_style *st, int n)
{
    if (n <= st->label_cap)
        return 0;
    int cap = n < 64 ? 64 : n;
    struct render_rect *rects = realloc(st->rects, (size_t)cap * sizeof *rects);
    if (rects)
        st->rects = rects;
    uint8_t *sh = realloc(st->short_text, (size_t)cap);
    if (sh)
        st->short_text = sh;
    if (!rects || !sh) {
        fprintf(stderr, "render: out of memory\n");
        return RENDER_ERR;
    }
    st->label_cap = cap;
    return 0;
}

/* Text size for a frame height: ~1/36 of it, readable at 240p, not huge at 4K. */
static int font_px_for(int h)
{
    int px = (int)lround(h / 36.0);
    return px < 10 ? 10 : px > 64 ? 64 : px;
}

int render_style_open(struct render_style **out, const char *font_path)
{
    *out = NULL;
    struct render_style *st = calloc(1, sizeof *st);
    if (!st) {
        fprintf(stderr, "render: out of memory\n");
        return RENDER_ERR;
    }
    int rc = RENDER_ERR;
    if (pthread_mutex_init(&st->lock, NULL) != 0) {
        fprintf(stderr, "render: mutex init failed\n");
        free(st);
        return RENDER_ERR;
    }
    if (render_ttf_init() < 0)
        goto fail_lock;
    if (font_path) {
        size_t n = strlen(font_path) + 1;
        st->font_path = malloc(n);
        if (st->font_path)
            memcpy(st->font_path, font_path, n);
    } else {
        st->font_path = render_font_find(0);
        if (!st->font_path) {
            rc = RENDER_NO_FONT;
            goto fail_ttf;
        }
    }
    if (!st->font_path) {
        fprintf(stderr, "render: out of memory\n");
        goto fail_ttf;
    }
    /* Load it now (at the 480p size) so a bad font fails here, not mid-run. */
    rc = render_font_open(&st->font, st->font_path, font_px_for(480));
    if (rc < 0)
        goto fail_ttf;
    *out = st;
    return 0;

fail_ttf:
    free(st->font_path);
    render_ttf_quit();
fail_lock:
    pthread_mutex_destroy(&st->lock);
    free(st);
    return rc;
}

void render_style_close(struct render_style **pst)
{
    if (!pst || !*pst)
        return;
    struct render_style *st = *pst;
    render_font_close(&st->font);
    free(st->font_path);
    free(st->order);
    free(st->placed);
    free(st->rects);
    free(st->short_text);
    pthread_mutex_destroy(&st->lock);
    free(st);
    render_ttf_quit();
    *pst = NULL;
}

/* A detection's colour: its own, or its class's from the palette. */
static void det_color(const struct render_det *d, uint8_t rgb[3])
{
    if (d->has_color)
        memcpy(rgb, d->color, 3);
    else if (d->track_id > 0)
        render_class_color(d->track_id, rgb);
    else
        render_class_color(d->label, rgb);
}

void render_class_color(int label, uint8_t rgb[3])
{
    /* Golden-ratio hue steps keep any run of consecutive labels far apart on
     * the colour wheel; saturation/value alternate a little so that hues
     * that do come close (after many steps) still differ in brightness. */
    unsigned u = label < 0 ? (unsigned)-(label + 1) : (unsigned)label;
    double hue = fmod(0.13 + u * 0.6180339887498949, 1.0) * 6.0;
    double s = (u % 3 == 2) ? 0.65 : 0.90;
    double v = (u % 2 == 1) ? 0.85 : 1.00;
    int i = (int)hue;
    double f = hue - i;
    double p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    double r, g, b;
    switch (i % 6) {
    case 0: r = v; g = t; b = p; break;
    case 1: r = q; g = v; b = p; break;
    case 2: r = p; g = v; b = t; break;
    case 3: r = p; g = q; b = v; break;
    case 4: r = t; g = p; b = v; break;
    default: r = v; g = p; b = q; break;
    }
    rgb[0] = (uint8_t)lround(r * 255);
    rgb[1] = (uint8_t)lround(g * 255);
    rgb[2] = (uint8_t)lround(b * 255);
}

void render_draw_options_init(struct render_draw_options *o)
{
    memset(o, 0, sizeof *o);
    o->show_boxes = 1;
    o->show_labels = 1;
    o->min_score = 0.0f;
}

/* A float coordinate as an int pixel index, saturated well outside the frame
 * (no UB on huge or NaN values; callers skip non-finite boxes anyway). */
static int to_px(double v, int lim)
{
    if (!(v > -2.0 * lim - 2)) return -2 * lim - 2;
    if (v > 2.0 * lim + 2) return 2 * lim + 2;
    return (int)v;
}

struct box_px {
    int x0, y0, x1, y1;      /* inclusive outer edges */
};

static int box_pixels(const struct render_det *d, int w, int h, struct box_px *b)
{
    if (!isfinite(d->x1) || !isfinite(d->y1) || !isfinite(d->x2) || !isfinite(d->y2))
        return 0;
    b->x0 = to_px(floor(d->x1), w);
    b->y0 = to_px(floor(d->y1), h);
    b->x1 = to_px(ceil(d->x2), w) - 1;
    b->y1 = to_px(ceil(d->y2), h) - 1;
    return b->x1 >= b->x0 && b->y1 >= b->y0;
}

static int visible(const struct render_det *d, const struct render_draw_options *o)
{
    return !(d->score < o->min_score) || isnan(o->min_score);
}

static void draw_box(uint8_t *rgb, int w, int h, int stride, const struct box_px *b, int t,
                     const uint8_t c[3])
{
    /* Lines lie inside the box; a box thinner than two lines is filled. */
    render_fill(rgb, w, h, stride, b->x0, b->y0, b->x1 + 1, b->y0 + t, c);
    render_fill(rgb, w, h, stride, b->x0, b->y1 - t + 1, b->x1 + 1, b->y1 + 1, c);
    render_fill(rgb, w, h, stride, b->x0, b->y0, b->x0 + t, b->y1 + 1, c);
    render_fill(rgb, w, h, stride, b->x1 - t + 1, b->y0, b->x1 + 1, b->y1 + 1, c);
}

/* The label text of d: "name 0.87" (full), or just "0.87" when shortened. */
static void label_text(const struct render_det *d, int shortened, char *text, size_t size)
{
    char id[16] = "";
    if (d->track_id > 0)
        snprintf(id, sizeof id, shortened ? "#%d" : "#%d ", d->track_id);
    if (shortened && d->track_id > 0)
        snprintf(text, size, "%s", id);   /* the identity says more than the score */
    else if (shortened)
        snprintf(text, size, "%.2f", d->score);
    else if (d->name && d->name[0])
        snprintf(text, size, "%s%s %.2f", id, d->name, d->score);
    else
        snprintf(text, size, "%sclass %d %.2f", id, d->label, d->score);
}

/* A line from (x0, y0) to (x1, y1), t pixels thick, clipped to the frame:
 * squares of side t stepped along the longer axis. */
static void draw_line(uint8_t *rgb, int w, int h, int stride, float x0, float y0, float x1,
                      float y1, int t, const uint8_t c[3])
{
    if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1))
        return;
    float dx = x1 - x0, dy = y1 - y0;
    float len = fabsf(dx) > fabsf(dy) ? fabsf(dx) : fabsf(dy);
    if (len > 4.0f * (float)(w + h))   /* far outside: not worth the steps */
        return;
    int steps = (int)ceilf(len);
    for (int i = 0; i <= steps; i++) {
        float u = steps ? (float)i / (float)steps : 0;
        int x = (int)lrintf(x0 + u * dx) - t / 2, y = (int)lrintf(y0 + u * dy) - t / 2;
        if (x + t <= 0 || y + t <= 0 || x >= w || y >= h)
            continue;
        render_fill(rgb, w, h, stride, x, y, x + t, y + t, c);
    }
}

static int rects_overlap(const struct render_rect *a, const struct render_rect *b)
{
    return a->x < b->x + b->w && b->x < a->x + a->w && a->y < b->y + b->h && b->y < a->y + a->h;
}

/* Where the label of a box goes: the first of these spots that lies in the
 * frame and overlaps no label placed before it — above the box, inside its
 * top, below it, inside its bottom; each left-aligned with the box, then
 * right-aligned (x kept in the frame). Returns 1 with *r set, or 0. */
static int label_spot(const struct box_px *b, int lw, int lh, int w, int h,
                      const struct render_rect *placed, int nplaced, struct render_rect *r)
{
    int top = b->y0 < 0 ? 0 : b->y0, bottom = b->y1 >= h ? h - 1 : b->y1;
    const int ys[4] = {b->y0 - lh, top, b->y1 + 1, bottom + 1 - lh};
    const int xs[2] = {b->x0, b->x1 + 1 - lw};
    for (int iy = 0; iy < 4; iy++) {
        for (int ix = 0; ix < 2; ix++) {
            int x = xs[ix];
            if (x + lw > w)
                x = w - lw;
            if (x < 0)
                x = 0;
            struct render_rect c = {x, ys[iy], lw, lh};
            if (c.y < 0 || c.y + lh > h || lw > w)
                continue;
            int clash = 0;
            for (int k = 0; k < nplaced && !clash; k++)
                clash = rects_overlap(&c, &placed[k]);
            if (!clash) {
                *r = c;
                return 1;
            }
        }
    }
    return 0;
}

/* Grow the style's placement scratch to n entries (under st->lock). */
static int scratch_reserve(struct render_style *st, int n)
{
    if (n <= st->cap)
        return 0;
    int cap = n < 64 ? 64 : n;
    int *order = realloc(st->order, (size_t)cap * sizeof *order);
    if (order)
        st->order = order;
    struct render_rect *placed = realloc(st->placed, (size_t)cap * sizeof *placed);
    if (placed)
        st->placed = placed;
    if (!order || !placed) {
        fprintf(stderr, "render: out of memory\n");
        return RENDER_ERR;
    }
    st->cap = cap;
    return 0;
}

/* The label layout (render.h: render_label_layout) with st->lock held and
 * st->font sized for h. short_text[i] set when only the score fits. */
static int layout_locked(struct render_style *st, const struct render_det *dets, int n, int w,
                         int h, const struct render_draw_options *o, struct render_rect *rects,
                         uint8_t *short_text)
{
    if (scratch_reserve(st, n) < 0)
        return RENDER_ERR;
    struct render_font *f = &st->font;
    int pad = f->px / 4 + 1, lh = f->height, nplaced = 0;
    /* Best score first, so in a cluster the likeliest object keeps its full
     * label; insertion sort keeps equal scores in array order. */
    int *order = st->order;
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0 && dets[order[j - 1]].score < dets[i].score) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (int k = 0; k < n; k++) {
        int i = order[k];
        rects[i] = (struct render_rect){0, 0, 0, 0};
        short_text[i] = 0;
        struct box_px b;
        if (!visible(&dets[i], o) || !box_pixels(&dets[i], w, h, &b))
            continue;
        if (b.x1 < 0 || b.y1 < 0 || b.x0 >= w || b.y0 >= h)
            continue; /* entirely outside: no label either */
        for (int shortened = 0; shortened < 2; shortened++) {
            char text[160];
            label_text(&dets[i], shortened, text, sizeof text);
            int lw = render_text_width(f, text) + 2 * pad;
            if (label_spot(&b, lw, lh, w, h, st->placed, nplaced, &rects[i])) {
                st->placed[nplaced++] = rects[i];
                short_text[i] = (uint8_t)shortened;
                break;
            }
        }
    }
    return nplaced;
}

static int ensure_font(struct render_style *st, int h)
{
    if (st->font.px == font_px_for(h))
        return 0;
    render_font_close(&st->font);
    return render_font_open(&st->font, st->font_path, font_px_for(h));
}

int render_label_layout(struct render_style *st, const struct render_det *dets, int n, int w,
                        int h, const struct render_draw_options *o, struct render_rect *rects)
{
    struct render_draw_options defaults;
    if (!o) {
        render_draw_options_init(&defaults);
        o = &defaults;
    }
    if (!st || w <= 0 || h <= 0 || n < 0 || (n > 0 && (!dets || !rects)))
        return RENDER_ERR;
    uint8_t *short_text = n ? malloc((size_t)n) : NULL;
    if (n && !short_text) {
        fprintf(stderr, "render: out of memory\n");
        return RENDER_ERR;
    }
    pthread_mutex_lock(&st->lock);
    int r = ensure_font(st, h);
    if (r == 0)
        r = layout_locked(st, dets, n, w, h, o, rects, short_text);
    pthread_mutex_unlock(&st->lock);
    free(short_text);
    return r;
}

int render_draw(struct render_style *st, uint8_t *rgb, int w, int h, int stride,
                const struct render_det *dets, int n, const struct render_draw_options *o)
{
    struct render_draw_options defaults;
    if (!o) {
        render_draw_options_init(&defaults);
        o = &defaults;
    }
    if (!st || !rgb || w <= 0 || h <= 0 || stride < 3 * w || n < 0 || (n > 0 && !dets)) {
        fprintf(stderr, "render: render_draw: bad arguments (%dx%d stride %d, %d boxes)\n", w,
                h, stride, n);
        return RENDER_ERR;
    }
    int need_text = (o->show_boxes && o->show_labels && n > 0) || (o->stamp && o->stamp[0]) ||
                    (o->show_boxes && o->zones && o->nzones > 0);
    pthread_mutex_lock(&st->lock);
    if (need_text && ensure_font(st, h) < 0) {
        pthread_mutex_unlock(&st->lock);
        return RENDER_ERR;
    }
    if (o->show_boxes) {
        int t = h / 240 > 2 ? h / 240 : 2;
        static const uint8_t yellow[3] = {255, 215, 0};
        for (int i = 0; o->lines && i < o->nlines; i++)
            draw_line(rgb, w, h, stride, o->lines[i][0], o->lines[i][1], o->lines[i][2],
                      o->lines[i][3], t + 1, yellow);
        for (int i = 0; o->zones && i < o->nzones; i++) {
            static const uint8_t cyan[3] = {0, 200, 255}, orange[3] = {255, 140, 0},
                                 black[3] = {0, 0, 0};
            const struct render_zone *z = &o->zones[i];
            const uint8_t *c = z->occupied ? orange : cyan;
            if (!z->x || !z->y || z->n < 2)
                continue;
            float lx = z->x[0], ly = z->y[0];
            for (int k = 0; k < z->n; k++) {
                int k1 = (k + 1) % z->n;
                draw_line(rgb, w, h, stride, z->x[k], z->y[k], z->x[k1], z->y[k1], t, c);
                if (z->y[k] < ly || (z->y[k] == ly && z->x[k] < lx)) {
                    lx = z->x[k];
                    ly = z->y[k];
                }
            }
            if (z->name && z->name[0] && isfinite(lx) && isfinite(ly)) {
                int x = (int)fminf(fmaxf(lx + t + 2, 0), (float)w - 1);
                int y = (int)fminf(fmaxf(ly + t + 1, 0), (float)h - 1);
                render_text_draw(&st->font, rgb, w, h, stride, x + 1, y + 1, z->name, black);
                render_text_draw(&st->font, rgb, w, h, stride, x, y, z->name, c);
            }
        }
        for (int i = 0; o->trails && i < o->ntrails; i++) {
            const struct render_trail *tr = &o->trails[i];
            uint8_t c[3];
            if (tr->has_color)
                memcpy(c, tr->color, 3);
            else
                render_class_color(tr->id, c);
            for (int k = 1; tr->xy && k < tr->n; k++)
                draw_line(rgb, w, h, stride, tr->xy[k - 1][0], tr->xy[k - 1][1], tr->xy[k][0],
                          tr->xy[k][1], 2, c);
        }
        for (int i = 0; i < n; i++) {
            struct box_px b;
            if (!visible(&dets[i], o) || !box_pixels(&dets[i], w, h, &b))
                continue;
            uint8_t c[3];
            det_color(&dets[i], c);
            draw_box(rgb, w, h, stride, &b, t, c);
        }
        if (o->show_labels && n > 0) {
            if (scratch_reserve(st, n) < 0 || label_scratch(st, n) < 0) {
                pthread_mutex_unlock(&st->lock);
                return RENDER_ERR;
            }
            if (layout_locked(st, dets, n, w, h, o, st->rects, st->short_text) < 0) {
                pthread_mutex_unlock(&st->lock);
                return RENDER_ERR;
            }
            int pad = st->font.px / 4 + 1;
            for (int i = 0; i < n; i++) {
                const struct render_rect *r = &st->rects[i];
                if (r->w <= 0)
                    continue; /* no room anywhere: skipped */
                char text[160];
                label_text(&dets[i], st->short_text[i], text, sizeof text);
                uint8_t c[3], tc[3];
                det_color(&dets[i], c);
                render_text_color_for(c, tc);
                render_fill(rgb, w, h, stride, r->x, r->y, r->x + r->w, r->y + r->h, c);
                render_text_draw(&st->font, rgb, w, h, stride, r->x + pad, r->y, text, tc);
            }
        }
    }
    if (o->stamp && o->stamp[0]) {
        static const uint8_t black[3] = {0, 0, 0}, white[3] = {255, 255, 255};
        int pad = st->font.px / 4 + 1;
        int lw = render_text_width(&st->font, o->stamp) + 2 * pad, lh = st->font.height;
        render_blend(rgb, w, h, stride, 0, h - lh, lw, h, black, 160);
        render_text_draw(&st->font, rgb, w, h, stride, pad, h - lh, o->stamp, white);
    }
    pthread_mutex_unlock(&st->lock);
    return 0;
}
