/*
 * convert.c — the one YUV/RGB path of video/: decoded frames to packed RGB24
 * with libswscale, honouring the source's colour range and matrix, and turned
 * upright by the orientation stored with the picture.
 *
 * Colour: the source's range (full-range "YUVJ" formats, or any frame flagged
 * AVCOL_RANGE_JPEG) and matrix (frame->colorspace; BT.601 when unspecified, as
 * JPEG and swscale assume) are passed to swscale explicitly, because
 * sws_setColorspaceDetails() would otherwise override what swscale infers from
 * a YUVJ format. The writer uses the same helper for the way back.
 *
 * Orientation: a display matrix (frame side data, else stream side data) or,
 * failing that, the EXIF Orientation tag the JPEG/WebP decoders put in the
 * frame's metadata. All eight axis-aligned orientations are applied; other
 * angles are ignored.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/display.h>
#include <libavutil/pixdesc.h>

/* Largest picture converted, in pixels (16k x 16k is 768 MiB of RGB). */
#define CONVERT_MAX_PIXELS ((int64_t)16384 * 16384)

_Noreturn void video_assert_fail(const char *file, int line, const char *cond)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, cond);
    abort();
}

const struct orient ORIENT_IDENTITY = { 1, 0, 0, 1 };

/* EXIF Orientation 1..8 (TIFF tag 0x0112) → how to turn the stored picture. */
static const struct orient ORIENT_EXIF[9] = {
    [1] = { 1, 0, 0, 1 },   /* as stored */
    [2] = { -1, 0, 0, 1 },  /* mirrored left-right */
    [3] = { -1, 0, 0, -1 }, /* rotated 180 */
    [4] = { 1, 0, 0, -1 },  /* mirrored top-bottom */
    [5] = { 0, 1, 1, 0 },   /* transposed */
    [6] = { 0, 1, -1, 0 },  /* needs 90 degrees clockwise */
    [7] = { 0, -1, -1, 0 }, /* transversed */
    [8] = { 0, -1, 1, 0 },  /* needs 90 degrees counter-clockwise */
};

/* Round a 16.16 matrix entry to -1, 0, 1; 2 when it is none of them. */
static int unit_of(int32_t v)
{
    double x = v / 65536.0;
    if (x > -0.01 && x < 0.01)
        return 0;
    if (x > 0.99 && x < 1.01)
        return 1;
    if (x < -0.99 && x > -1.01)
        return -1;
    return 2;
}

/* Display matrix → orientation; -1 if it is not a signed permutation
 * (arbitrary angle, scaling): then the picture stays as stored. */
static int orient_from_matrix(const int32_t m[9], struct orient *o)
{
    struct orient r = { unit_of(m[0]), unit_of(m[1]), unit_of(m[3]), unit_of(m[4]) };
    int straight = r.a && r.d && !r.b && !r.c && r.a != 2 && r.d != 2;
    int turned = r.b && r.c && !r.a && !r.d && r.b != 2 && r.c != 2;
    if (!straight && !turned)
        return -1;
    *o = r;
    return 0;
}

const int32_t *stream_display_matrix(const AVStream *st)
{
#if LIBAVCODEC_VERSION_INT >= AV_VERSION_INT(60, 30, 100)
    const AVPacketSideData *sd = av_packet_side_data_get(st->codecpar->coded_side_data,
                                                         st->codecpar->nb_coded_side_data,
                                                         AV_PKT_DATA_DISPLAYMATRIX);
    return sd && sd->size >= 9 * sizeof(int32_t) ? (const int32_t *)sd->data : NULL;
#else
    size_t size = 0;
    const uint8_t *sd = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
    return sd && size >= 9 * sizeof(int32_t) ? (const int32_t *)sd : NULL;
#endif
}

struct orient orient_of_frame(const AVFrame *f, const AVStream *st)
{
    struct orient o = ORIENT_IDENTITY;
    const AVFrameSideData *sd = av_frame_get_side_data(f, AV_FRAME_DATA_DISPLAYMATRIX);
    const int32_t *m = sd && sd->size >= 9 * sizeof(int32_t) ? (const int32_t *)sd->data : NULL;
    if (!m && st)
        m = stream_display_matrix(st);
    if (m) {
        if (orient_from_matrix(m, &o) < 0)
            o = ORIENT_IDENTITY;
        return o;
    }
    const AVDictionaryEntry *e = av_dict_get(f->metadata, "Orientation", NULL, 0);
    if (e) {
        char *end = NULL;
        long v = strtol(e->value, &end, 10);
        if (end != e->value && v >= 1 && v <= 8)
            o = ORIENT_EXIF[v];
    }
    return o;
}

int orient_degrees(struct orient o, int *mirrored)
{
    /* Image (x right, y down) of the unit vectors: the determinant tells a
     * mirror; the image of the x axis tells the angle of the rotation part
     * (the mirror, when there is one, is taken about the vertical axis first). */
    int det = o.a * o.d - o.b * o.c;
    *mirrored = det < 0;
    int a = det < 0 ? -o.a : o.a, b = det < 0 ? -o.b : o.b;
    if (a == 1)
        return 0;
    if (b == 1)
        return 90;
    if (a == -1)
        return 180;
    return 270;
}

int pix_fmt_full_range(enum AVPixelFormat fmt, enum AVColorRange range)
{
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(fmt);
    int gray = desc && desc->nb_components <= 2;
    int yuvj = fmt == AV_PIX_FMT_YUVJ420P || fmt == AV_PIX_FMT_YUVJ422P ||
               fmt == AV_PIX_FMT_YUVJ444P || fmt == AV_PIX_FMT_YUVJ440P ||
               fmt == AV_PIX_FMT_YUVJ411P;
    /* Gray is full range unless flagged otherwise (swscale's own default). */
    return yuvj || range == AVCOL_RANGE_JPEG || (gray && range != AVCOL_RANGE_MPEG);
}

void sws_set_yuv(struct SwsContext *sws, int yuv_is_src, int space, int full)
{
    const int *coef = sws_getCoefficients(space); /* unknown → BT.601 */
    int *inv, *tbl, src_range, dst_range, bri, con, sat;
    if (sws_getColorspaceDetails(sws, &inv, &src_range, &tbl, &dst_range, &bri, &con, &sat) <
        0)
        return;
    if (yuv_is_src)
        sws_setColorspaceDetails(sws, coef, full, tbl, 1, bri, con, sat);
    else
        sws_setColorspaceDetails(sws, inv, 1, coef, full, bri, con, sat);
}

/* sws for f's format, size, range and matrix to RGB24 of ow x oh. */
static int build_sws(struct rgb_converter *c, const AVFrame *f, int ow, int oh)
{
    enum AVPixelFormat fmt = f->format;
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(fmt);
    int full = pix_fmt_full_range(fmt, f->color_range);
    if (c->sws && c->w == f->width && c->h == f->height && c->ow == ow && c->oh == oh &&
        c->fmt == (int)fmt && c->range == full && c->space == (int)f->colorspace)
        return 0;
    sws_freeContext(c->sws);
    c->sws = sws_getContext(f->width, f->height, fmt, ow, oh, AV_PIX_FMT_RGB24,
                            SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL,
                            NULL);
    if (!c->sws)
        return AVERROR(ENOSYS);
    if (!(desc->flags & AV_PIX_FMT_FLAG_RGB) && !(desc->flags & AV_PIX_FMT_FLAG_PAL))
        sws_set_yuv(c->sws, 1, f->colorspace, full);
    c->w = f->width;
    c->h = f->height;
    c->ow = ow;
    c->oh = oh;
    c->fmt = fmt;
    c->range = full;
    c->space = f->colorspace;
    return 0;
}

int rgb_convert(struct rgb_converter *c, const AVFrame *f, struct orient o, uint8_t *dst)
{
    int swaps = orient_swaps(o);
    return rgb_convert_scaled(c, f, o, dst, swaps ? f->height : f->width,
                              swaps ? f->width : f->height);
}

int rgb_convert_scaled(struct rgb_converter *c, const AVFrame *f, struct orient o, uint8_t *dst,
                       int dw, int dh)
{
    int ret;
    if (!av_pix_fmt_desc_get(f->format) || f->width <= 0 || f->height <= 0 || dw <= 0 ||
        dh <= 0)
        return AVERROR_INVALIDDATA;
    if ((int64_t)f->width * f->height > CONVERT_MAX_PIXELS ||
        (int64_t)dw * dh > CONVERT_MAX_PIXELS)
        return AVERROR(ERANGE);
    /* scaled as stored, then turned: w x h is the picture before turning */
    int w = orient_swaps(o) ? dh : dw, h = orient_swaps(o) ? dw : dh;
    if ((ret = build_sws(c, f, w, h)) < 0)
        return ret;

    int upright = o.a == 1 && o.d == 1;
    uint8_t *rgb = dst;
    if (!upright) {
        size_t need = (size_t)w * h * 3;
        if (c->tmp_size < need) {
            av_freep(&c->tmp);
            c->tmp_size = 0;
            if (!(c->tmp = av_malloc(need)))
                return AVERROR(ENOMEM);
            c->tmp_size = need;
        }
        rgb = c->tmp;
    }
    uint8_t *planes[4] = { rgb, NULL, NULL, NULL };
    int strides[4] = { 3 * w, 0, 0, 0 };
    ret = sws_scale(c->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, planes,
                    strides);
    if (ret != h)
        return ret < 0 ? ret : AVERROR(EINVAL);
    if (upright)
        return 0;

    /* Destination of source (x, y): (a x + c y + sx, b x + d y + sy); the shifts
     * bring the negative coordinates of a mirrored axis back into the picture
     * (dw is o.a ? w : h). */
    int sx = (o.a < 0 ? w - 1 : 0) + (o.c < 0 ? h - 1 : 0);
    int sy = (o.b < 0 ? w - 1 : 0) + (o.d < 0 ? h - 1 : 0);
    for (int y = 0; y < h; y++) {
        const uint8_t *src = rgb + (size_t)y * w * 3;
        for (int x = 0; x < w; x++) {
            int X = o.a * x + o.c * y + sx, Y = o.b * x + o.d * y + sy;
            uint8_t *d = dst + ((size_t)Y * dw + X) * 3;
            d[0] = src[3 * x];
            d[1] = src[3 * x + 1];
            d[2] = src[3 * x + 2];
        }
    }
    return 0;
}

void rgb_converter_free(struct rgb_converter *c)
{
    sws_freeContext(c->sws);
    av_freep(&c->tmp);
    memset(c, 0, sizeof *c);
}
