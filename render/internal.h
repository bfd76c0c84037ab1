/*
 * internal.h — render/'s private header: fonts with a glyph cache, and the
 * pixel primitives (clipped fills, alpha blends, text) that style.c and
 * window.c share. Everything here draws into packed RGB24 buffers.
 */
#ifndef VDETECT_RENDER_INTERNAL_H
#define VDETECT_RENDER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <SDL_ttf.h>

#include "render.h"

/* Printable ASCII is rasterised once per font and kept as alpha coverage
 * maps; other code points are rasterised on the fly (rare: UTF-8 names). */
#define RENDER_GLYPH_FIRST 32
#define RENDER_GLYPH_LAST 126

struct render_glyph {
    uint8_t *alpha;          /* w x h coverage, row-major; NULL when w or h is 0 */
    int w, h;
    int dx, dy;              /* top-left of the map relative to (pen x, line top) */
    int advance;             /* pen advance, px */
};

struct render_font {
    TTF_Font *ttf;           /* NULL: closed */
    int px;                  /* size it was opened at */
    int height;              /* line height, px */
    int ascent;              /* baseline below line top, px */
    struct render_glyph ascii[RENDER_GLYPH_LAST - RENDER_GLYPH_FIRST + 1];
};

/* Reference-counted TTF_Init/TTF_Quit, serialised on render/'s TTF lock
 * (FreeType's library object is not thread-safe, and render_draw may run on a
 * worker while the window opens its HUD font). 0 or RENDER_ERR (printed). */
int render_ttf_init(void);
void render_ttf_quit(void);

/* Font file lookup (render.h: render_style_open). mono prefers monospace
 * faces (the HUD). Returns a malloc'd path, or NULL with a message printed. */
char *render_font_find(int mono);

/* Open path at px pixels and rasterise the ASCII cache. 0 or RENDER_NO_FONT
 * (printed). f is zeroed first; on failure it is left closed. */
int render_font_open(struct render_font *f, const char *path, int px);
/* Accepts a closed (zeroed) font; leaves it zeroed. */
void render_font_close(struct render_font *f);

/* Width in px of UTF-8 s as render_text_draw lays it out. */
int render_text_width(struct render_font *f, const char *s);
/* Blend UTF-8 s in colour c with its line box's top-left at (x, y); clipped. */
void render_text_draw(struct render_font *f, uint8_t *rgb, int w, int h, int stride, int x,
                      int y, const char *s, const uint8_t c[3]);

/* Fill the half-open rectangle [x0, x1) x [y0, y1), clipped to the frame. */
void render_fill(uint8_t *rgb, int w, int h, int stride, int x0, int y0, int x1, int y1,
                 const uint8_t c[3]);
/* As render_fill, blending: dst += (c - dst) * alpha / 255. */
void render_blend(uint8_t *rgb, int w, int h, int stride, int x0, int y0, int x1, int y1,
                  const uint8_t c[3], int alpha);

/* Black or white, whichever contrasts more with bg (WCAG luminance). */
void render_text_color_for(const uint8_t bg[3], uint8_t out[3]);

#endif
