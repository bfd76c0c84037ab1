/*
 * png.c — a dependency-free PNG writer for RGB24 images (render.h:
 * render_png_write): one IHDR (8-bit truecolour, no interlace), the zlib
 * stream in IDAT chunks, IEND. The zlib stream uses stored (uncompressed)
 * deflate blocks: screenshots are rare and exactness matters more than size,
 * and it keeps libpng/zlib out of the build. Every scanline uses filter 0.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return crc;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Streams the zlib data into IDAT chunks of up to CHUNK bytes each. */
enum { CHUNK = 1 << 16 };

struct png_out {
    FILE *f;
    int err;
    uint8_t buf[CHUNK];
    size_t len;
};

static void chunk(struct png_out *o, const char type[4], const uint8_t *data, size_t n)
{
    uint8_t hdr[8];
    put32(hdr, (uint32_t)n);
    memcpy(hdr + 4, type, 4);
    uint32_t crc = crc_update(0xFFFFFFFFu, (const uint8_t *)type, 4);
    crc = crc_update(crc, data, n) ^ 0xFFFFFFFFu;
    uint8_t tail[4];
    put32(tail, crc);
    if (fwrite(hdr, 1, 8, o->f) != 8 || (n && fwrite(data, 1, n, o->f) != n) ||
        fwrite(tail, 1, 4, o->f) != 4)
        o->err = 1;
}

static void idat_put(struct png_out *o, const uint8_t *p, size_t n)
{
    while (n) {
        size_t k = CHUNK - o->len < n ? CHUNK - o->len : n;
        memcpy(o->buf + o->len, p, k);
        o->len += k;
        p += k;
        n -= k;
        if (o->len == CHUNK) {
            chunk(o, "IDAT", o->buf, o->len);
            o->len = 0;
        }
    }
}

/* The deflate stream as stored blocks of at most 65535 bytes, fed row by
 * row; tracks Adler-32 of the raw data. */
struct deflate_stored {
    struct png_out *o;
    size_t left;             /* raw bytes still to come */
    size_t block_left;       /* bytes left in the open block */
    uint32_t a, b;           /* Adler-32 halves */
};

static void stored_put(struct deflate_stored *d, const uint8_t *p, size_t n)
{
    while (n) {
        if (d->block_left == 0) {
            size_t len = d->left < 65535 ? d->left : 65535;
            uint8_t h[5] = {len == d->left ? 1 : 0, (uint8_t)len, (uint8_t)(len >> 8),
                            (uint8_t)~len, (uint8_t)(~len >> 8)};
            idat_put(d->o, h, 5);
            d->block_left = len;
        }
        size_t k = d->block_left < n ? d->block_left : n;
        idat_put(d->o, p, k);
        for (size_t i = 0; i < k; i++) {
            d->a = (d->a + p[i]) % 65521;
            d->b = (d->b + d->a) % 65521;
        }
        d->block_left -= k;
        d->left -= k;
        p += k;
        n -= k;
    }
}

int render_png_write(const char *path, const uint8_t *rgb, int w, int h, int stride)
{
    if (!path || !rgb || w <= 0 || h <= 0 || stride < 3 * w || w > (1 << 24) ||
        h > (1 << 24) || (size_t)(3 * (size_t)w + 1) * (size_t)h > ((size_t)1 << 40)) {
        fprintf(stderr, "render: png %s: bad image (%dx%d stride %d)\n", path ? path : "?", w,
                h, stride);
        return RENDER_ERR;
    }
    static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
    pthread_once(&crc_once, crc_init);
    struct png_out *o = malloc(sizeof *o);
    if (!o) {
        fprintf(stderr, "render: png %s: out of memory\n", path);
        return RENDER_ERR;
    }
    o->err = 0;
    o->len = 0;
    o->f = fopen(path, "wb");
    if (!o->f) {
        fprintf(stderr, "render: png %s: %s\n", path, strerror(errno));
        free(o);
        return RENDER_ERR;
    }

    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (fwrite(sig, 1, 8, o->f) != 8)
        o->err = 1;
    uint8_t ihdr[13];
    put32(ihdr, (uint32_t)w);
    put32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8;             /* bit depth */
    ihdr[9] = 2;             /* colour type: truecolour */
    ihdr[10] = ihdr[11] = ihdr[12] = 0; /* deflate, filter method 0, no interlace */
    chunk(o, "IHDR", ihdr, sizeof ihdr);

    static const uint8_t zhdr[2] = {0x78, 0x01}; /* deflate, 32K window, no dict */
    idat_put(o, zhdr, 2);
    struct deflate_stored d = {o, (3 * (size_t)w + 1) * (size_t)h, 0, 1, 0};
    static const uint8_t filter_none = 0;
    for (int y = 0; y < h && !o->err; y++) {
        stored_put(&d, &filter_none, 1);
        stored_put(&d, rgb + (size_t)y * (size_t)stride, 3 * (size_t)w);
    }
    uint8_t adler[4];
    put32(adler, d.b << 16 | d.a);
    idat_put(o, adler, 4);
    if (o->len)
        chunk(o, "IDAT", o->buf, o->len);
    chunk(o, "IEND", NULL, 0);

    int err = o->err | ferror(o->f);
    if (fclose(o->f) != 0)
        err = 1;
    if (err) {
        fprintf(stderr, "render: png %s: write failed: %s\n", path, strerror(errno));
        remove(path);
    }
    free(o);
    return err ? RENDER_ERR : 0;
}
