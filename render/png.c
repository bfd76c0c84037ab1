/*
 * png.c — render_png_write (render.h): an RGB24 frame to a PNG file through
 * SDL2_image (IMG_SavePNG_RW, libpng's deflate: a 1080p screenshot is a few
 * hundred kilobytes where the raw pixels are 6 MB). Lossless: the file
 * decodes to the same bytes.
 *
 * What SDL2_image leaves to us:
 *   - it writes 8-bit RGBA for any surface that has no palette, converting
 *     other formats internally; the frame is copied into an RGBA32 surface
 *     (alpha 255) here, so that step can fail with a message, not silently;
 *   - its libpng write callback does not look at the result of each write (a
 *     full disk), so it writes into a stdio stream of ours, and ferror() and
 *     fclose() tell whether the file is whole;
 *   - the file itself: path is created or truncated here, and removed again
 *     on failure only when it is still the regular file we wrote (a device
 *     such as /dev/full is never unlinked). Callers pass a name of their own:
 *     the view's screenshot passes app/outfile.c's partial file, which is
 *     renamed into place only once complete.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <SDL.h>
#include <SDL_image.h>

#include "internal.h"

/* The frame as an RGBA32 surface (R, G, B, A bytes in memory), opaque. */
static SDL_Surface *rgba_copy(const uint8_t *rgb, int w, int h, int stride)
{
    SDL_Surface *s = SDL_CreateRGBSurfaceWithFormat(0, w, h, 32, SDL_PIXELFORMAT_RGBA32);
    if (!s)
        return NULL;
    for (int y = 0; y < h; y++) {
        const uint8_t *src = rgb + (size_t)y * (size_t)stride;
        uint8_t *dst = (uint8_t *)s->pixels + (size_t)y * (size_t)s->pitch;
        for (int x = 0; x < w; x++, src += 3, dst += 4) {
            dst[0] = src[0];
            dst[1] = src[1];
            dst[2] = src[2];
            dst[3] = 255;
        }
    }
    return s;
}

/* Remove path after a failed write if it is still the regular file that
 * was open as f's descriptor (st: its fstat before closing). */
static void remove_ours(const char *path, const struct stat *st)
{
    struct stat now;
    if (S_ISREG(st->st_mode) && lstat(path, &now) == 0 && now.st_dev == st->st_dev &&
        now.st_ino == st->st_ino)
        remove(path);
}

int render_png_write(const char *path, const uint8_t *rgb, int w, int h, int stride)
{
    if (!path || !rgb || w <= 0 || h <= 0 || w > (1 << 24) || h > (1 << 24) ||
        stride < 3 * w) {
        fprintf(stderr, "render: png %s: bad image (%dx%d stride %d)\n", path ? path : "?", w,
                h, stride);
        return RENDER_ERR;
    }
    SDL_Surface *s = rgba_copy(rgb, w, h, stride);
    if (!s) {
        fprintf(stderr, "render: png %s: %dx%d surface: %s\n", path, w, h, SDL_GetError());
        return RENDER_ERR;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "render: png %s: %s\n", path, strerror(errno));
        SDL_FreeSurface(s);
        return RENDER_ERR;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0)
        memset(&st, 0, sizeof st); /* not known as a regular file: never removed */

    char why[256] = "";
    SDL_RWops *rw = SDL_RWFromFP(f, SDL_FALSE);
    if (!rw) {
        snprintf(why, sizeof why, "%s", SDL_GetError());
    } else {
        if (IMG_SavePNG_RW(s, rw, 0) < 0)
            snprintf(why, sizeof why, "%s", IMG_GetError());
        SDL_RWclose(rw); /* frees rw only: f stays open */
    }
    SDL_FreeSurface(s);

    if (!why[0] && (fflush(f) != 0 || ferror(f)))
        snprintf(why, sizeof why, "write failed: %s", strerror(errno ? errno : EIO));
    if (!why[0] && ftell(f) <= 0)
        snprintf(why, sizeof why, "nothing was written");
    if (fclose(f) != 0 && !why[0])
        snprintf(why, sizeof why, "write failed: %s", strerror(errno));
    if (why[0]) {
        fprintf(stderr, "render: png %s: %s\n", path, why);
        remove_ours(path, &st);
        return RENDER_ERR;
    }
    return 0;
}
