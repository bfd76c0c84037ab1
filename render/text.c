/*
 * text.c — fonts and pixel primitives for render/: finding a font file without
 * fontconfig, SDL2_ttf behind one process-wide lock, a per-font cache of ASCII
 * glyph coverage maps, and the clipped fill / blend / text routines that
 * draw into packed RGB24 buffers.
 *
 * Glyphs are rasterised by SDL2_ttf (TTF_RenderGlyph32_Blended) once per font
 * size; drawing then is a plain alpha blend in our own loop, so a frame's text
 * costs no allocation and no SDL blit-path surprises (format conversions,
 * colour-key or blend-mode state on shared surfaces).
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <SDL.h>

#include "internal.h"

static pthread_mutex_t ttf_lock = PTHREAD_MUTEX_INITIALIZER;
static int ttf_users;

int render_ttf_init(void)
{
    int rc = 0;
    pthread_mutex_lock(&ttf_lock);
    if (ttf_users == 0 && TTF_Init() < 0) {
        fprintf(stderr, "render: TTF_Init: %s\n", TTF_GetError());
        rc = RENDER_ERR;
    } else {
        ttf_users++;
    }
    pthread_mutex_unlock(&ttf_lock);
    return rc;
}

void render_ttf_quit(void)
{
    pthread_mutex_lock(&ttf_lock);
    if (ttf_users > 0 && --ttf_users == 0)
        TTF_Quit();
    pthread_mutex_unlock(&ttf_lock);
}

/* ---- font lookup ------------------------------------------------------- */

/* Known locations of common free fonts across distributions and systems;
 * DejaVu first (Debian's fonts-dejavu-core, which `make deps` installs). */
static const char *const sans_paths[] = {
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",          /* Debian, Ubuntu */
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",        /* Fedora */
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",                   /* older Fedora, CentOS */
    "/usr/share/fonts/TTF/DejaVuSans.ttf",                      /* Arch */
    "/usr/share/fonts/truetype/DejaVuSans.ttf",                 /* openSUSE */
    "/usr/local/share/fonts/dejavu/DejaVuSans.ttf",             /* FreeBSD */
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/usr/share/fonts/gnu-free/FreeSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",             /* macOS */
    "/Library/Fonts/Arial.ttf",
    "C:/Windows/Fonts/arial.ttf",
    NULL,
};

static const char *const mono_paths[] = {
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/dejavu-sans-mono-fonts/DejaVuSansMono.ttf",
    "/usr/share/fonts/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/TTF/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/DejaVuSansMono.ttf",
    "/usr/local/share/fonts/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationMono-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansMono-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeMono.ttf",
    NULL,
};

static int readable(const char *p)
{
    return p && *p && access(p, R_OK) == 0;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* assets/fonts/NAME next to the executable (and one level up, for build
 * trees), then relative to the working directory. */
static char *find_in_assets(const char *name)
{
    char buf[PATH_MAX];
    char *base = SDL_GetBasePath();
    if (base) {
        const char *fmt[] = {"%sassets/fonts/%s", "%s../assets/fonts/%s",
                             "%s../share/vdetect/fonts/%s"};
        for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++) {
            int n = snprintf(buf, sizeof buf, fmt[i], base, name);
            if (n > 0 && (size_t)n < sizeof buf && readable(buf)) {
                SDL_free(base);
                return dup_str(buf);
            }
        }
        SDL_free(base);
    }
    snprintf(buf, sizeof buf, "assets/fonts/%s", name);
    return readable(buf) ? dup_str(buf) : NULL;
}

char *render_font_find(int mono)
{
    const char *env = getenv("VDETECT_FONT");
    if (env && *env) {
        if (readable(env))
            return dup_str(env);
        fprintf(stderr, "render: VDETECT_FONT=%s: not a readable file\n", env);
        return NULL;
    }
    if (mono) {
        for (int i = 0; mono_paths[i]; i++)
            if (readable(mono_paths[i]))
                return dup_str(mono_paths[i]);
        char *p = find_in_assets("DejaVuSansMono.ttf");
        if (p)
            return p;
    }
    for (int i = 0; sans_paths[i]; i++)
        if (readable(sans_paths[i]))
            return dup_str(sans_paths[i]);
    char *p = find_in_assets("DejaVuSans.ttf");
    if (p)
        return p;
    fprintf(stderr, "render: no font found (install fonts-dejavu-core, put DejaVuSans.ttf in "
                    "assets/fonts/, or set VDETECT_FONT)\n");
    return NULL;
}

/* ---- fonts and the glyph cache ------------------------------------------ */

/* Rasterise one code point into g (caller holds ttf_lock). A glyph the font
 * cannot render becomes an empty one with the advance it reports. */
static int glyph_make(TTF_Font *ttf, int ascent, Uint32 cp, struct render_glyph *g)
{
    memset(g, 0, sizeof *g);
    if (cp > RENDER_GLYPH_LAST && !TTF_GlyphIsProvided32(ttf, cp))
        cp = TTF_GlyphIsProvided32(ttf, 0xFFFD) ? 0xFFFD : '?';
    int minx = 0, maxx = 0, miny = 0, maxy = 0, adv = 0;
    if (TTF_GlyphMetrics32(ttf, cp, &minx, &maxx, &miny, &maxy, &adv) < 0)
        return 0;
    g->advance = adv;
    SDL_Color white = {255, 255, 255, 255};
    SDL_Surface *s = TTF_RenderGlyph32_Blended(ttf, cp, white);
    if (!s)
        return 0; /* e.g. a zero-width glyph */
    /* SDL_ttf lays a glyph out as a one-character string: the surface's
     * origin is shifted left / up only when ink extends before the pen or
     * above the ascent. */
    g->dx = minx < 0 ? minx : 0;
    g->dy = maxy > ascent ? ascent - maxy : 0;
    if (s->w > 0 && s->h > 0) {
        g->alpha = malloc((size_t)s->w * (size_t)s->h);
        if (!g->alpha) {
            SDL_FreeSurface(s);
            return RENDER_ERR;
        }
        g->w = s->w;
        g->h = s->h;
        SDL_LockSurface(s);
        for (int y = 0; y < s->h; y++) {
            const uint8_t *row = (const uint8_t *)s->pixels + (size_t)y * (size_t)s->pitch;
            for (int x = 0; x < s->w; x++) {
                Uint32 px;
                memcpy(&px, row + 4 * (size_t)x, 4);
                Uint8 r, gg, b, a;
                SDL_GetRGBA(px, s->format, &r, &gg, &b, &a);
                g->alpha[(size_t)y * (size_t)s->w + (size_t)x] = a;
            }
        }
        SDL_UnlockSurface(s);
    }
    SDL_FreeSurface(s);
    return 0;
}

static void glyph_free(struct render_glyph *g)
{
    free(g->alpha);
    memset(g, 0, sizeof *g);
}

void render_font_close(struct render_font *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < sizeof f->ascii / sizeof f->ascii[0]; i++)
        glyph_free(&f->ascii[i]);
    if (f->ttf) {
        pthread_mutex_lock(&ttf_lock);
        TTF_CloseFont(f->ttf);
        pthread_mutex_unlock(&ttf_lock);
    }
    memset(f, 0, sizeof *f);
}

int render_font_open(struct render_font *f, const char *path, int px)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_lock(&ttf_lock);
    TTF_Font *ttf = TTF_OpenFont(path, px);
    if (!ttf) {
        fprintf(stderr, "render: open font %s: %s\n", path, TTF_GetError());
        pthread_mutex_unlock(&ttf_lock);
        return RENDER_NO_FONT;
    }
    TTF_SetFontHinting(ttf, TTF_HINTING_LIGHT);
    f->ttf = ttf;
    f->px = px;
    f->height = TTF_FontHeight(ttf);
    f->ascent = TTF_FontAscent(ttf);
    int rc = 0;
    for (int c = RENDER_GLYPH_FIRST; c <= RENDER_GLYPH_LAST && rc == 0; c++)
        rc = glyph_make(ttf, f->ascent, (Uint32)c, &f->ascii[c - RENDER_GLYPH_FIRST]);
    pthread_mutex_unlock(&ttf_lock);
    if (rc < 0) {
        fprintf(stderr, "render: font %s: out of memory\n", path);
        render_font_close(f);
        return RENDER_ERR;
    }
    return 0;
}

/* Next code point of UTF-8 *s (advancing it); invalid bytes give U+FFFD. */
static Uint32 utf8_next(const unsigned char **s)
{
    const unsigned char *p = *s;
    Uint32 c = p[0];
    int n = -1; /* continuation bytes, -1: not a lead byte */
    if (c < 0x80)
        n = 0;
    else if (c >= 0xC2 && c < 0xE0)
        n = 1;
    else if (c >= 0xE0 && c < 0xF0)
        n = 2;
    else if (c >= 0xF0 && c < 0xF5)
        n = 3;
    if (n < 0) {
        *s = p + 1;
        return 0xFFFD;
    }
    if (n == 0) {
        *s = p + 1;
        return c;
    }
    c &= 0x3F >> n;
    for (int i = 1; i <= n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *s = p + i;
            return 0xFFFD;
        }
        c = c << 6 | (p[i] & 0x3F);
    }
    *s = p + n + 1;
    if ((n == 2 && c < 0x800) || (n == 3 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c < 0xE000))
        return 0xFFFD;
    return c;
}

/* The glyph of cp: from the cache, or rasterised into *tmp (caller frees). */
static const struct render_glyph *glyph_get(struct render_font *f, Uint32 cp,
                                            struct render_glyph *tmp)
{
    if (cp >= RENDER_GLYPH_FIRST && cp <= RENDER_GLYPH_LAST)
        return &f->ascii[cp - RENDER_GLYPH_FIRST];
    if (cp < RENDER_GLYPH_FIRST)
        cp = '?';
    pthread_mutex_lock(&ttf_lock);
    int rc = glyph_make(f->ttf, f->ascent, cp, tmp);
    pthread_mutex_unlock(&ttf_lock);
    if (rc < 0)
        memset(tmp, 0, sizeof *tmp);
    return tmp;
}

int render_text_width(struct render_font *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    int w = 0;
    while (*p) {
        struct render_glyph tmp = {0};
        const struct render_glyph *g = glyph_get(f, utf8_next(&p), &tmp);
        w += g->advance;
        glyph_free(&tmp);
    }
    return w;
}

static void blend_px(uint8_t *d, const uint8_t c[3], int a)
{
    for (int k = 0; k < 3; k++)
        d[k] = (uint8_t)((d[k] * (255 - a) + c[k] * a + 127) / 255);
}

void render_text_draw(struct render_font *f, uint8_t *rgb, int w, int h, int stride, int x,
                      int y, const char *s, const uint8_t c[3])
{
    const unsigned char *p = (const unsigned char *)s;
    int pen = x;
    while (*p) {
        struct render_glyph tmp = {0};
        const struct render_glyph *g = glyph_get(f, utf8_next(&p), &tmp);
        int gx = pen + g->dx, gy = y + g->dy;
        int x0 = gx < 0 ? 0 : gx, x1 = gx + g->w > w ? w : gx + g->w;
        int y0 = gy < 0 ? 0 : gy, y1 = gy + g->h > h ? h : gy + g->h;
        for (int yy = y0; yy < y1; yy++) {
            const uint8_t *a = g->alpha + (size_t)(yy - gy) * (size_t)g->w;
            uint8_t *row = rgb + (size_t)yy * (size_t)stride;
            for (int xx = x0; xx < x1; xx++) {
                int av = a[xx - gx];
                if (av)
                    blend_px(row + 3 * (size_t)xx, c, av);
            }
        }
        pen += g->advance;
        glyph_free(&tmp);
    }
}

/* ---- rectangles -------------------------------------------------------- */

static int clip(int *x0, int *y0, int *x1, int *y1, int w, int h)
{
    if (*x0 < 0) *x0 = 0;
    if (*y0 < 0) *y0 = 0;
    if (*x1 > w) *x1 = w;
    if (*y1 > h) *y1 = h;
    return *x0 < *x1 && *y0 < *y1;
}

void render_fill(uint8_t *rgb, int w, int h, int stride, int x0, int y0, int x1, int y1,
                 const uint8_t c[3])
{
    if (!clip(&x0, &y0, &x1, &y1, w, h))
        return;
    for (int y = y0; y < y1; y++) {
        uint8_t *d = rgb + (size_t)y * (size_t)stride + 3 * (size_t)x0;
        for (int x = x0; x < x1; x++, d += 3) {
            d[0] = c[0];
            d[1] = c[1];
            d[2] = c[2];
        }
    }
}

void render_blend(uint8_t *rgb, int w, int h, int stride, int x0, int y0, int x1, int y1,
                  const uint8_t c[3], int alpha)
{
    if (!clip(&x0, &y0, &x1, &y1, w, h))
        return;
    for (int y = y0; y < y1; y++) {
        uint8_t *d = rgb + (size_t)y * (size_t)stride + 3 * (size_t)x0;
        for (int x = x0; x < x1; x++, d += 3)
            blend_px(d, c, alpha);
    }
}

static double lin(uint8_t v)
{
    double s = v / 255.0;
    return s <= 0.04045 ? s / 12.92 : SDL_pow((s + 0.055) / 1.055, 2.4);
}

void render_text_color_for(const uint8_t bg[3], uint8_t out[3])
{
    double L = 0.2126 * lin(bg[0]) + 0.7152 * lin(bg[1]) + 0.0722 * lin(bg[2]);
    /* contrast with black (L+0.05)/0.05 vs with white 1.05/(L+0.05) */
    uint8_t v = (L + 0.05) * (L + 0.05) > 0.05 * 1.05 ? 0 : 255;
    out[0] = out[1] = out[2] = v;
}
