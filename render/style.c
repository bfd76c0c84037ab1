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
};

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

static void draw_label(struct render_font *f, uint8_t *rgb, int w, int h, int stride,
                       const struct render_det *d, const struct box_px *b, const uint8_t c[3])
{
    char text[160];
    if (d->name && d->name[0])
        snprintf(text, sizeof text, "%s %.2f", d->name, d->score);
    else
        snprintf(text, sizeof text, "class %d %.2f", d->label, d->score);
    int pad = f->px / 4 + 1;
    int lw = render_text_width(f, text) + 2 * pad, lh = f->height;
    /* Above the box; inside its top when there is no room above. Kept in
     * the frame horizontally when it fits. */
    int lx = b->x0, ly = b->y0 - lh;
    if (ly < 0)
        ly = b->y0 < 0 ? 0 : b->y0;
    if (ly + lh > h)
        ly = h - lh;
    if (lx + lw > w)
        lx = w - lw;
    if (lx < 0)
        lx = 0;
    uint8_t tc[3];
    render_text_color_for(c, tc);
    render_fill(rgb, w, h, stride, lx, ly, lx + lw, ly + lh, c);
    render_text_draw(f, rgb, w, h, stride, lx + pad, ly, text, tc);
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
    int need_text = (o->show_boxes && o->show_labels && n > 0) || (o->stamp && o->stamp[0]);
    pthread_mutex_lock(&st->lock);
    if (need_text && st->font.px != font_px_for(h)) {
        render_font_close(&st->font);
        if (render_font_open(&st->font, st->font_path, font_px_for(h)) < 0) {
            pthread_mutex_unlock(&st->lock);
            return RENDER_ERR;
        }
    }
    if (o->show_boxes) {
        int t = h / 240 > 2 ? h / 240 : 2;
        for (int i = 0; i < n; i++) {
            struct box_px b;
            if (!visible(&dets[i], o) || !box_pixels(&dets[i], w, h, &b))
                continue;
            uint8_t c[3];
            det_color(&dets[i], c);
            draw_box(rgb, w, h, stride, &b, t, c);
        }
        for (int i = 0; o->show_labels && i < n; i++) {
            struct box_px b;
            if (!visible(&dets[i], o) || !box_pixels(&dets[i], w, h, &b))
                continue;
            if (b.x1 < 0 || b.y1 < 0 || b.x0 >= w || b.y0 >= h)
                continue; /* entirely outside: no label either */
            uint8_t c[3];
            det_color(&dets[i], c);
            draw_label(&st->font, rgb, w, h, stride, &dets[i], &b, c);
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
