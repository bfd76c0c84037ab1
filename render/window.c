/*
 * window.c — the live window (render.h: render_window_*): SDL2 video on the
 * main thread, a streaming RGB24 texture for the drawn frame shown
 * letterboxed at any window size, the HUD and help panels drawn at window
 * resolution on top, keys mapped to render events, and screenshots of the
 * last presented frame.
 *
 * The frame arrives already drawn (render_draw), so the window adds only what
 * belongs to the window, drawn last so nothing is under the boxes: the HUD
 * panel (in a letterbox band, or the frame corner that covers the fewest
 * detections), a PAUSED badge, a status message and the help. Panels are composed in small RGB24
 * buffers with the same text code and uploaded as translucent textures.
 * Allocation happens only when the frame, window or panel size changes.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <SDL.h>

#include "internal.h"

/* A translucent text panel: composed in buf (RGB24), shown through tex. */
struct panel {
    SDL_Texture *tex;        /* streaming RGB24, tw x th (may exceed what is used) */
    int tw, th;
    uint8_t *buf;            /* 3 * tw * th bytes */
};

struct render_window {
    SDL_Window *win;
    SDL_Renderer *ren;
    SDL_Texture *tex;        /* the frame: streaming RGB24, tex_w x tex_h */
    int tex_w, tex_h;
    uint8_t *last;           /* copy of the last frame presented, packed (stride 3*w) */
    int last_w, last_h;
    char *font_path;         /* owned; monospace if one was found */
    struct render_font font; /* HUD/help text, sized for the window height */
    struct panel hud, help, status, badge;
    int hud_corner;          /* where the HUD was last drawn: 0-3 corners TL TR BL BR,
                                4-7 edge middles top bottom left right */
    Uint32 wake_type;        /* SDL user event type for render_window_wake */
    atomic_int wake_pending; /* a wake event is queued and not yet polled */
    int fullscreen;
};

static atomic_int window_open_count;

static int driver_is_headless(const char *d)
{
    return d && (strcasecmp(d, "dummy") == 0 || strcasecmp(d, "offscreen") == 0);
}

static int allow_offscreen(void)
{
    const char *e = getenv("VDETECT_ALLOW_OFFSCREEN");
    return e && strcmp(e, "1") == 0;
}

static void sdl_video_quit(void)
{
    SDL_QuitSubSystem(SDL_INIT_VIDEO);
    if (SDL_WasInit(SDL_INIT_EVERYTHING) == 0)
        SDL_Quit();
}

static void panel_free(struct panel *p)
{
    if (p->tex)
        SDL_DestroyTexture(p->tex);
    free(p->buf);
    memset(p, 0, sizeof *p);
}

void render_window_close(struct render_window **pwin)
{
    if (!pwin || !*pwin)
        return;
    struct render_window *win = *pwin;
    panel_free(&win->hud);
    panel_free(&win->help);
    panel_free(&win->status);
    panel_free(&win->badge);
    if (win->tex)
        SDL_DestroyTexture(win->tex);
    if (win->ren)
        SDL_DestroyRenderer(win->ren);
    if (win->win)
        SDL_DestroyWindow(win->win);
    render_font_close(&win->font);
    free(win->font_path);
    free(win->last);
    free(win);
    *pwin = NULL;
    render_ttf_quit();
    sdl_video_quit();
    atomic_fetch_sub(&window_open_count, 1);
}

static int hud_px_for(int out_h)
{
    int px = (int)lround(out_h / 42.0);
    return px < 12 ? 12 : px > 28 ? 28 : px;
}

int render_window_open(struct render_window **out, const char *title, int w, int h)
{
    *out = NULL;
    if (w <= 0 || h <= 0) {
        fprintf(stderr, "render: window size %dx%d\n", w, h);
        return RENDER_ERR;
    }
    /* Headless drivers "work" but show nothing: that is no display, unless
     * asked for (tests, CI). Checked before SDL_Init so it is instant. */
    const char *drv = getenv("SDL_VIDEODRIVER");
    if (driver_is_headless(drv) && !allow_offscreen())
        return RENDER_NO_DISPLAY;
#if defined(__unix__) && !defined(__APPLE__) && !defined(__ANDROID__)
    /* Neither X11 nor Wayland: don't let SDL probe (libwayland prints
     * XDG_RUNTIME_DIR complaints). A Linux console (KMS/DRM) still works
     * when asked for explicitly with SDL_VIDEODRIVER=kmsdrm. */
    const char *x = getenv("DISPLAY"), *wl = getenv("WAYLAND_DISPLAY");
    int has_x = x && *x, has_wl = wl && *wl;
    if ((!drv || !*drv) && !has_x && !has_wl)
        return RENDER_NO_DISPLAY;
    /* Only the one that is configured: a dead X server then fails without
     * SDL going on to probe Wayland (and printing about it). */
    if ((!drv || !*drv) && has_x != has_wl)
        SDL_SetHintWithPriority(SDL_HINT_VIDEODRIVER, has_x ? "x11" : "wayland",
                                SDL_HINT_DEFAULT);
#endif
    int expected = 0;
    if (!atomic_compare_exchange_strong(&window_open_count, &expected, 1)) {
        fprintf(stderr, "render: only one window at a time\n");
        return RENDER_ERR;
    }
    if (SDL_InitSubSystem(SDL_INIT_VIDEO) < 0) {
        sdl_video_quit(); /* clears our hint when SDL is otherwise unused */
        atomic_fetch_sub(&window_open_count, 1);
        return RENDER_NO_DISPLAY;
    }
    int offscreen = driver_is_headless(SDL_GetCurrentVideoDriver());
    if (offscreen && !allow_offscreen()) {
        sdl_video_quit();
        atomic_fetch_sub(&window_open_count, 1);
        return RENDER_NO_DISPLAY;
    }
    if (offscreen) /* the window surface in memory, not a GL texture (env overrides) */
        SDL_SetHintWithPriority(SDL_HINT_FRAMEBUFFER_ACCELERATION, "0", SDL_HINT_DEFAULT);
    if (render_ttf_init() < 0) {
        sdl_video_quit();
        atomic_fetch_sub(&window_open_count, 1);
        return RENDER_ERR;
    }

    /* From here on render_window_close undoes everything. */
    struct render_window *win = calloc(1, sizeof *win);
    if (!win) {
        fprintf(stderr, "render: out of memory\n");
        render_ttf_quit();
        sdl_video_quit();
        atomic_fetch_sub(&window_open_count, 1);
        return RENDER_ERR;
    }
    int rc = RENDER_ERR;
    win->font_path = render_font_find(1);
    if (!win->font_path) {
        rc = RENDER_NO_FONT;
        goto fail;
    }
    if ((rc = render_font_open(&win->font, win->font_path, hud_px_for(h))) < 0)
        goto fail;
    rc = RENDER_ERR;

    /* Fit a large frame on the screen, keeping its aspect. */
    SDL_Rect usable;
    if (SDL_GetDisplayUsableBounds(0, &usable) == 0 && usable.w > 0 && usable.h > 0) {
        double s = fmin(0.95 * usable.w / w, 0.90 * usable.h / h);
        if (s < 1.0) {
            w = (int)(w * s) > 1 ? (int)(w * s) : 1;
            h = (int)(h * s) > 1 ? (int)(h * s) : 1;
        }
    }
    win->win = SDL_CreateWindow(title ? title : "vdetect", SDL_WINDOWPOS_CENTERED,
                                SDL_WINDOWPOS_CENTERED, w, h,
                                SDL_WINDOW_RESIZABLE | SDL_WINDOW_ALLOW_HIGHDPI);
    if (!win->win) {
        fprintf(stderr, "render: create window: %s\n", SDL_GetError());
        goto fail;
    }
    SDL_SetWindowMinimumSize(win->win, 64, 48);
    if (offscreen) {
        /* Nothing to accelerate for: plain memory, deterministic read-back,
         * and no Mesa threads under the sanitizers. */
        win->ren = SDL_CreateRenderer(win->win, -1, SDL_RENDERER_SOFTWARE);
    } else {
        win->ren = SDL_CreateRenderer(win->win, -1,
                                      SDL_RENDERER_ACCELERATED | SDL_RENDERER_PRESENTVSYNC);
    }
    if (!win->ren)
        win->ren = SDL_CreateRenderer(win->win, -1, 0);
    if (!win->ren) {
        fprintf(stderr, "render: create renderer: %s\n", SDL_GetError());
        goto fail;
    }
    win->wake_type = SDL_RegisterEvents(1);
    if (win->wake_type == (Uint32)-1) {
        fprintf(stderr, "render: no SDL user event left\n");
        goto fail;
    }
    SDL_SetRenderDrawColor(win->ren, 0, 0, 0, 255);
    SDL_RenderClear(win->ren);
    SDL_RenderPresent(win->ren);
    *out = win;
    return 0;

fail:
    render_window_close(&win);
    return rc;
}

/* ---- presenting ---------------------------------------------------------- */

static int ensure_texture(SDL_Renderer *ren, SDL_Texture **tex, int *tw, int *th, int w, int h)
{
    if (*tex && *tw == w && *th == h)
        return 0;
    if (*tex)
        SDL_DestroyTexture(*tex);
    *tex = SDL_CreateTexture(ren, SDL_PIXELFORMAT_RGB24, SDL_TEXTUREACCESS_STREAMING, w, h);
    if (!*tex) {
        *tw = *th = 0;
        fprintf(stderr, "render: texture %dx%d: %s\n", w, h, SDL_GetError());
        return RENDER_ERR;
    }
    *tw = w;
    *th = h;
    return 0;
}

/* Compose lines into p's buffer and texture; *pw x *ph is the panel's size. */
static int compose_panel(struct render_window *win, struct panel *p, const char *const *lines,
                         int n, int *pw_out, int *ph_out)
{
    struct render_font *f = &win->font;
    int pad = f->px / 2 + 2;
    int pw = 0;
    for (int i = 0; i < n; i++) {
        int lw = render_text_width(f, lines[i]);
        pw = lw > pw ? lw : pw;
    }
    pw += 2 * pad;
    int ph = n * f->height + 2 * pad;
    if (pw > p->tw || ph > p->th) {
        int tw = pw > p->tw ? pw : p->tw, th = ph > p->th ? ph : p->th;
        uint8_t *buf = realloc(p->buf, 3 * (size_t)tw * (size_t)th);
        if (!buf) {
            fprintf(stderr, "render: out of memory\n");
            return RENDER_ERR;
        }
        p->buf = buf;
        int ow = p->tw, oh = p->th;
        if (ensure_texture(win->ren, &p->tex, &ow, &oh, tw, th) < 0) {
            p->tw = p->th = 0;
            return RENDER_ERR;
        }
        p->tw = tw;
        p->th = th;
        SDL_SetTextureBlendMode(p->tex, SDL_BLENDMODE_BLEND);
    }
    static const uint8_t bg[3] = {16, 16, 20}, fg[3] = {240, 240, 240};
    render_fill(p->buf, pw, ph, 3 * pw, 0, 0, pw, ph, bg);
    for (int i = 0; i < n; i++)
        render_text_draw(f, p->buf, pw, ph, 3 * pw, pad, pad + i * f->height, lines[i], fg);
    SDL_Rect src = {0, 0, pw, ph};
    if (SDL_UpdateTexture(p->tex, &src, p->buf, 3 * pw) < 0) {
        fprintf(stderr, "render: upload panel: %s\n", SDL_GetError());
        return RENDER_ERR;
    }
    *pw_out = pw;
    *ph_out = ph;
    return 0;
}

/* Draw a composed panel with its top-left at (x, y), in output pixels. */
static void show_panel(struct render_window *win, struct panel *p, int pw, int ph, int x, int y,
                       int alpha)
{
    SDL_Rect src = {0, 0, pw, ph}, dst = {x, y, pw, ph};
    SDL_SetTextureAlphaMod(p->tex, (Uint8)alpha);
    SDL_RenderCopy(win->ren, p->tex, &src, &dst);
}

static const char *fmt_val(char *buf, size_t n, double v, const char *fmt)
{
    if (v < 0 || !isfinite(v))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, fmt, v);
    return buf;
}

/* Where the frame is shown in the output: the letterbox rectangle. */
struct view_rect {
    int x, y, w, h;
    double scale;            /* output px per frame px */
};

static long overlap(int ax, int ay, int aw, int ah, int bx, int by, int bw, int bh)
{
    int x0 = ax > bx ? ax : bx, y0 = ay > by ? ay : by;
    int x1 = ax + aw < bx + bw ? ax + aw : bx + bw, y1 = ay + ah < by + bh ? ay + ah : by + bh;
    return x1 > x0 && y1 > y0 ? (long)(x1 - x0) * (y1 - y0) : 0;
}

/* Output-pixel area of the detections (each box widened to where its label
 * may sit) under a panel at (x, y). */
static long covered(const struct render_hud *hud, const struct view_rect *v, int x, int y,
                    int pw, int ph)
{
    long a = 0;
    for (int i = 0; hud->dets && i < hud->ndets; i++) {
        const struct render_det *d = &hud->dets[i];
        if (!isfinite(d->x1) || !isfinite(d->y1) || !isfinite(d->x2) || !isfinite(d->y2))
            continue;
        /* where render/style.c may put its label: a line of about 1.2 x h/36
         * frame px above or below the box, as wide as "name 0.87" at about
         * 0.6 x the font size per character, left- or right-aligned */
        double px = fmax(10.0, (v->h / v->scale) / 36.0), lh = 1.2 * px;
        double lw = 0.6 * px * (double)((d->name ? strlen(d->name) : 8) + 6);
        double x1 = fmin(d->x1, d->x2 - lw), x2 = fmax(d->x2, d->x1 + lw);
        double bx0 = v->x + x1 * v->scale, bx1 = v->x + x2 * v->scale;
        double by0 = v->y + (d->y1 - lh) * v->scale, by1 = v->y + (d->y2 + lh) * v->scale;
        bx0 = fmax(bx0, v->x);
        by0 = fmax(by0, v->y);
        bx1 = fmin(bx1, v->x + v->w);
        by1 = fmin(by1, v->y + v->h);
        if (bx1 <= bx0 || by1 <= by0)
            continue;
        a += overlap(x, y, pw, ph, (int)floor(bx0), (int)floor(by0),
                     (int)ceil(bx1) - (int)floor(bx0), (int)ceil(by1) - (int)floor(by0));
    }
    return a;
}

static int draw_hud(struct render_window *win, const struct render_hud *hud,
                    const struct view_rect *v, int out_w, int out_h)
{
    char l[13][64], val[6][24];
    const char *lines[13];
    int n = 0;
    snprintf(l[n++], 64, "source  %s fps", fmt_val(val[0], 24, hud->source_fps, "%5.1f"));
    snprintf(l[n++], 64, "detect  %s fps", fmt_val(val[1], 24, hud->detect_fps, "%5.1f"));
    snprintf(l[n++], 64, "display %s fps", fmt_val(val[2], 24, hud->display_fps, "%5.1f"));
    snprintf(l[n++], 64, "dropped %5lld", (long long)(hud->dropped < 0 ? 0 : hud->dropped));
    snprintf(l[n++], 64, "box age %s ms", fmt_val(val[3], 24, hud->result_age_ms, "%5.0f"));
    snprintf(l[n++], 64, "lag     %s ms", fmt_val(val[4], 24, hud->latency_ms, "%5.0f"));
    snprintf(l[n++], 64, "score >= %s", fmt_val(val[5], 24, hud->score_thresh, "%.2f"));
    if (hud->mode && hud->mode[0])
        snprintf(l[n++], 64, "%s", hud->mode);
    for (const char *e = hud->extra; e && *e && n < 11;) {
        size_t len = strcspn(e, "\n");
        snprintf(l[n++], 64, "%.*s", (int)(len < 63 ? len : 63), e);
        e += len + (e[len] == '\n');
    }
    snprintf(l[n++], 64, "? keys");
    for (int i = 0; i < n; i++)
        lines[i] = l[i];
    int pw, ph;
    if (compose_panel(win, &win->hud, lines, n, &pw, &ph) < 0)
        return RENDER_ERR;
    int m = win->font.px / 2;
    /* A letterbox band the panel fits in covers nothing. */
    if (v->y >= ph + 2 * m || out_h - (v->y + v->h) >= ph + 2 * m) {
        int y = v->y >= ph + 2 * m ? m : out_h - ph - m;
        show_panel(win, &win->hud, pw, ph, m, y, 220);
        return 0;
    }
    if (v->x >= pw + 2 * m || out_w - (v->x + v->w) >= pw + 2 * m) {
        int x = v->x >= pw + 2 * m ? m : out_w - pw - m;
        show_panel(win, &win->hud, pw, ph, x, m, 220);
        return 0;
    }
    /* Else the frame corner (then edge middle) with the least detection area
     * under the panel; corners first, so a free corner wins a tie. */
    int cx = v->x + (v->w - pw) / 2, cy = v->y + (v->h - ph) / 2;
    int xr = v->x + v->w - pw - m, yb = v->y + v->h - ph - m;
    int xs[8] = {v->x + m, xr, v->x + m, xr, cx, cx, v->x + m, xr};
    int ys[8] = {v->y + m, v->y + m, yb, yb, v->y + m, yb, cy, cy};
    long cost[8];
    int best = 0;
    for (int c = 0; c < 8; c++) {
        cost[c] = covered(hud, v, xs[c], ys[c], pw, ph);
        if (cost[c] < cost[best])
            best = c;
    }
    if (cost[win->hud_corner] > cost[best])
        win->hud_corner = best;
    int c = win->hud_corner;
    /* Every place covers something: more see-through, so what is under it shows. */
    show_panel(win, &win->hud, pw, ph, xs[c], ys[c], cost[c] ? 140 : 200);
    return 0;
}

static int draw_help(struct render_window *win, int out_w, int out_h)
{
    static const char *const lines[] = {
        "vdetect keys",
        "",
        "q, Esc       quit",
        "space        pause / resume",
        ".            next frame (paused, files)",
        "Left, Right  seek -5 s, +5 s (files)",
        "Shift+arrow  seek -60 s, +60 s (also Down, Up)",
        "+ / -        score threshold up / down",
        "l            labels on / off",
        "b            boxes on / off",
        "h            HUD on / off",
        "s            screenshot (PNG)",
        "f            fullscreen",
        "?            this help",
        "",
        "HUD: source/detect/display fps; dropped: frames",
        "the detector never saw; box age: how much older",
        "the boxes' frame is than the one shown; lag:",
        "capture of the shown frame -> on screen",
    };
    int pw, ph;
    if (compose_panel(win, &win->help, lines, (int)(sizeof lines / sizeof lines[0]), &pw, &ph) <
        0)
        return RENDER_ERR;
    /* Dim everything under it, so the help reads over busy boxes. */
    SDL_SetRenderDrawBlendMode(win->ren, SDL_BLENDMODE_BLEND);
    SDL_SetRenderDrawColor(win->ren, 0, 0, 0, 150);
    SDL_RenderFillRect(win->ren, NULL);
    SDL_SetRenderDrawBlendMode(win->ren, SDL_BLENDMODE_NONE);
    show_panel(win, &win->help, pw, ph, (out_w - pw) / 2, (out_h - ph) / 2, 245);
    return 0;
}

/* One line centred horizontally in the shown frame, at its top (top != 0) or bottom. */
static int draw_line(struct render_window *win, struct panel *p, const char *text,
                     const struct view_rect *v, int top)
{
    int pw, ph;
    const char *lines[1] = {text};
    if (compose_panel(win, p, lines, 1, &pw, &ph) < 0)
        return RENDER_ERR;
    int m = win->font.px / 2;
    int y = top ? v->y + m : v->y + v->h - ph - m;
    show_panel(win, p, pw, ph, v->x + (v->w - pw) / 2, y, 220);
    return 0;
}

int render_window_present(struct render_window *win, const uint8_t *rgb, int w, int h,
                          int stride, const struct render_hud *hud)
{
    if (rgb) {
        if (w <= 0 || h <= 0 || stride < 3 * w) {
            fprintf(stderr, "render: present: bad frame %dx%d stride %d\n", w, h, stride);
            return RENDER_ERR;
        }
        if (ensure_texture(win->ren, &win->tex, &win->tex_w, &win->tex_h, w, h) < 0)
            return RENDER_ERR;
        if (w != win->last_w || h != win->last_h) {
            uint8_t *p = realloc(win->last, 3 * (size_t)w * (size_t)h);
            if (!p) {
                fprintf(stderr, "render: out of memory\n");
                return RENDER_ERR;
            }
            win->last = p;
            win->last_w = w;
            win->last_h = h;
        }
        for (int y = 0; y < h; y++)
            memcpy(win->last + 3 * (size_t)w * (size_t)y, rgb + (size_t)stride * (size_t)y,
                   3 * (size_t)w);
        if (SDL_UpdateTexture(win->tex, NULL, win->last, 3 * w) < 0) {
            fprintf(stderr, "render: upload frame: %s\n", SDL_GetError());
            return RENDER_ERR;
        }
    }

    int ow = 0, oh = 0;
    if (SDL_GetRendererOutputSize(win->ren, &ow, &oh) < 0 || ow <= 0 || oh <= 0)
        SDL_GetWindowSize(win->win, &ow, &oh);
    SDL_SetRenderDrawColor(win->ren, 0, 0, 0, 255);
    SDL_RenderClear(win->ren);
    struct view_rect v = {0, 0, ow, oh, 1.0};
    if (win->tex && win->last) {
        /* Letterbox: the largest rectangle of the frame's aspect that fits. */
        double s = fmin((double)ow / win->tex_w, (double)oh / win->tex_h);
        int dw = (int)lround(win->tex_w * s), dh = (int)lround(win->tex_h * s);
        SDL_Rect dst = {(ow - dw) / 2, (oh - dh) / 2, dw, dh};
        SDL_RenderCopy(win->ren, win->tex, NULL, &dst);
        v = (struct view_rect){dst.x, dst.y, dw, dh, s};
    }
    /* The overlays come last, over the frame and its boxes. */
    int status = hud && hud->status && hud->status[0];
    if (hud && (hud->show_hud || hud->show_help || hud->paused || status)) {
        int px = hud_px_for(oh);
        if (px != win->font.px) {
            render_font_close(&win->font);
            if (render_font_open(&win->font, win->font_path, px) < 0)
                return RENDER_ERR;
        }
        if (hud->show_hud && draw_hud(win, hud, &v, ow, oh) < 0)
            return RENDER_ERR;
        if (hud->paused && draw_line(win, &win->badge, "PAUSED", &v, 1) < 0)
            return RENDER_ERR;
        if (status && draw_line(win, &win->status, hud->status, &v, 0) < 0)
            return RENDER_ERR;
        if (hud->show_help && draw_help(win, ow, oh) < 0)
            return RENDER_ERR;
    }
    SDL_RenderPresent(win->ren);
    return 0;
}

/* ---- events -------------------------------------------------------------- */

static enum render_event_type map_key(struct render_window *win, const SDL_KeyboardEvent *k,
                                      double *seek)
{
    SDL_Keycode sym = k->keysym.sym;
    Uint16 mod = k->keysym.mod;
    if (mod & (KMOD_CTRL | KMOD_ALT | KMOD_GUI))
        return RENDER_EV_NONE; /* leave shortcuts of the desktop alone */
    /* Threshold and seek keys repeat when held; toggles act once per press. */
    int shift = (mod & KMOD_SHIFT) != 0;
    switch (sym) {
    case SDLK_LEFT:
    case SDLK_RIGHT:
        *seek = (shift ? RENDER_SEEK_LONG : RENDER_SEEK_SHORT) * (sym == SDLK_LEFT ? -1 : 1);
        return RENDER_EV_SEEK;
    case SDLK_UP:
    case SDLK_DOWN:
        *seek = RENDER_SEEK_LONG * (sym == SDLK_DOWN ? -1 : 1);
        return RENDER_EV_SEEK;
    case SDLK_PLUS:
    case SDLK_EQUALS:
    case SDLK_KP_PLUS:
        return RENDER_EV_THRESH_UP;
    case SDLK_MINUS:
    case SDLK_KP_MINUS:
        return RENDER_EV_THRESH_DOWN;
    default:
        break;
    }
    if (k->repeat)
        return RENDER_EV_NONE;
    switch (sym) {
    case SDLK_PERIOD:
        return RENDER_EV_STEP;
    case SDLK_q:
    case SDLK_ESCAPE:
        return RENDER_EV_QUIT;
    case SDLK_SPACE:
        return RENDER_EV_PAUSE;
    case SDLK_l:
        return RENDER_EV_TOGGLE_LABELS;
    case SDLK_b:
        return RENDER_EV_TOGGLE_BOXES;
    case SDLK_h:
        return RENDER_EV_TOGGLE_HUD;
    case SDLK_s:
        return RENDER_EV_SCREENSHOT;
    case SDLK_f:
        render_window_toggle_fullscreen(win);
        return RENDER_EV_FULLSCREEN;
    case SDLK_QUESTION:
    case SDLK_F1:
        return RENDER_EV_HELP;
    case SDLK_SLASH:
        return (mod & KMOD_SHIFT) ? RENDER_EV_HELP : RENDER_EV_NONE;
    default:
        return RENDER_EV_NONE;
    }
}

static enum render_event_type map_event(struct render_window *win, const SDL_Event *e,
                                        double *seek)
{
    switch (e->type) {
    case SDL_QUIT:
        return RENDER_EV_QUIT;
    case SDL_WINDOWEVENT:
        switch (e->window.event) {
        case SDL_WINDOWEVENT_CLOSE:
            return RENDER_EV_QUIT;
        case SDL_WINDOWEVENT_EXPOSED:
        case SDL_WINDOWEVENT_SIZE_CHANGED:
        case SDL_WINDOWEVENT_RESTORED:
            return RENDER_EV_REDRAW;
        default:
            return RENDER_EV_NONE;
        }
    case SDL_KEYDOWN:
        return map_key(win, &e->key, seek);
    default:
        if (e->type == win->wake_type) {
            atomic_store(&win->wake_pending, 0);
            return RENDER_EV_WAKE;
        }
        return RENDER_EV_NONE;
    }
}

int render_window_poll(struct render_window *win, struct render_event *ev)
{
    SDL_Event e;
    while (SDL_PollEvent(&e)) {
        double seek = 0;
        enum render_event_type t = map_event(win, &e, &seek);
        if (t != RENDER_EV_NONE) {
            ev->type = t;
            ev->seek = seek;
            return 1;
        }
    }
    ev->type = RENDER_EV_NONE;
    ev->seek = 0;
    return 0;
}

int render_window_wait(struct render_window *win, struct render_event *ev, int timeout_ms)
{
    Uint64 start = SDL_GetTicks64();
    for (;;) {
        if (render_window_poll(win, ev))
            return 1;
        int left = -1;
        if (timeout_ms >= 0) {
            Uint64 spent = SDL_GetTicks64() - start;
            if (spent >= (Uint64)timeout_ms)
                return 0;
            left = (int)((Uint64)timeout_ms - spent);
        }
        /* NULL: wait without taking the event; the poll above maps it (and
         * swallows unmapped ones, so loop until a mapped one or time out). */
        int got = left < 0 ? SDL_WaitEvent(NULL) : SDL_WaitEventTimeout(NULL, left);
        if (!got && left < 0)
            return 0; /* SDL error while waiting forever: don't spin */
    }
}

void render_window_wake(struct render_window *win)
{
    if (atomic_exchange(&win->wake_pending, 1))
        return; /* one queued wake is enough */
    SDL_Event e;
    memset(&e, 0, sizeof e);
    e.type = win->wake_type;
    if (SDL_PushEvent(&e) != 1)
        atomic_store(&win->wake_pending, 0);
}

void render_window_set_title(struct render_window *win, const char *title)
{
    SDL_SetWindowTitle(win->win, title ? title : "vdetect");
}

int render_window_toggle_fullscreen(struct render_window *win)
{
    int on = !win->fullscreen;
    if (SDL_SetWindowFullscreen(win->win, on ? SDL_WINDOW_FULLSCREEN_DESKTOP : 0) < 0) {
        fprintf(stderr, "render: fullscreen: %s\n", SDL_GetError());
        return RENDER_ERR;
    }
    win->fullscreen = on;
    SDL_ShowCursor(on ? SDL_DISABLE : SDL_ENABLE);
    return 0;
}

int render_window_is_fullscreen(const struct render_window *win)
{
    return win->fullscreen;
}

int render_window_screenshot(struct render_window *win, const char *png_path)
{
    if (!win->last) {
        fprintf(stderr, "render: screenshot %s: nothing shown yet\n", png_path);
        return RENDER_ERR;
    }
    return render_png_write(png_path, win->last, win->last_w, win->last_h, 3 * win->last_w);
}
