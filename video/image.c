/*
 * image.c — still images: open with libavformat, decode the first picture with
 * libavcodec, convert to packed RGB24 with libswscale and turn it upright.
 *
 * Colour: the source's range (full-range JPEG "YUVJ" formats, or any frame
 * flagged AVCOL_RANGE_JPEG) and matrix (frame->colorspace; BT.601 when
 * unspecified, as JPEG and swscale assume) are passed to swscale explicitly,
 * because sws_setColorspaceDetails() would otherwise override what swscale
 * infers from a YUVJ format.
 *
 * Orientation: a display matrix (frame side data, else stream side data) or,
 * failing that, the EXIF Orientation tag the JPEG/WebP decoders put in the
 * frame's metadata. All eight EXIF orientations (rotations by multiples of 90
 * degrees, with or without a mirror) are applied; other angles are ignored.
 *
 * Also owns FFmpeg's log level and the library-version string of video.h.
 */
#include "video.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

/* Largest picture accepted, in pixels (a 16k x 16k image is 768 MiB of RGB). */
#define IMAGE_MAX_PIXELS ((int64_t)16384 * 16384)

/*
 * One of the eight axis-aligned orientations. A source pixel (x, y) lands at
 * display position (a*x + c*y, b*x + d*y), shifted into the picture — the
 * row-vector convention of FFmpeg's display matrix, with y pointing down.
 * Exactly one of a, c is non-zero and exactly one of b, d.
 */
struct orient {
    int a, b, c, d;
};

static const struct orient ORIENT_IDENTITY = { 1, 0, 0, 1 };

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

static int image_fail(const char *path, const char *what, int err)
{
    if (err)
        fprintf(stderr, "image %s: %s%s%s\n", path, what ? what : "", what ? ": " : "",
                av_err2str(err));
    else
        fprintf(stderr, "image %s: %s\n", path, what ? what : "unreadable");
    return err ? err : AVERROR_INVALIDDATA;
}

/* Round a 16.16 (or 2.30 for the last column, unused here) matrix entry to -1, 0, 1;
 * 2 when it is none of them (a non-right angle or a scale). */
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

/* Display matrix → orientation; 0 on success, -1 if it is not a signed
 * permutation (arbitrary angle, scaling): then the picture stays as stored. */
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

static const int32_t *stream_display_matrix(const AVStream *st)
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

/* How the decoded frame must be turned to be upright. */
static struct orient frame_orientation(const AVFrame *f, const AVStream *st)
{
    struct orient o = ORIENT_IDENTITY;
    const AVFrameSideData *sd = av_frame_get_side_data(f, AV_FRAME_DATA_DISPLAYMATRIX);
    const int32_t *m = sd && sd->size >= 9 * sizeof(int32_t) ? (const int32_t *)sd->data : NULL;
    if (!m)
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

static int is_yuvj(enum AVPixelFormat f)
{
    return f == AV_PIX_FMT_YUVJ420P || f == AV_PIX_FMT_YUVJ422P || f == AV_PIX_FMT_YUVJ444P ||
           f == AV_PIX_FMT_YUVJ440P || f == AV_PIX_FMT_YUVJ411P;
}

/*
 * Convert f to packed RGB24 in a temporary frame, then copy it turned by o into
 * a malloc()ed buffer of (*w) x (*h) pixels. Returns 0 or a negative code with
 * the message printed.
 */
static int frame_to_rgb(const char *path, const AVFrame *f, struct orient o, uint8_t **out,
                        int *ow, int *oh)
{
    enum AVPixelFormat fmt = f->format;
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(fmt);
    int w = f->width, h = f->height, ret;
    if (!desc || w <= 0 || h <= 0)
        return image_fail(path, "decoder returned no picture", 0);
    if ((int64_t)w * h > IMAGE_MAX_PIXELS) {
        fprintf(stderr, "image %s: %dx%d is too large (at most %lld pixels)\n", path, w, h,
                (long long)IMAGE_MAX_PIXELS);
        return AVERROR(ERANGE);
    }

    AVFrame *rgb = av_frame_alloc();
    struct SwsContext *sws = NULL;
    uint8_t *buf = NULL;
    if (!rgb) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    rgb->format = AV_PIX_FMT_RGB24;
    rgb->width = w;
    rgb->height = h;
    if ((ret = av_frame_get_buffer(rgb, 0)) < 0)
        goto fail;

    sws = sws_getContext(w, h, fmt, w, h, AV_PIX_FMT_RGB24,
                         SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
    if (!sws) {
        fprintf(stderr, "image %s: cannot convert pixel format %s to RGB\n", path, desc->name);
        ret = AVERROR(ENOSYS);
        goto fail;
    }
    if (!(desc->flags & AV_PIX_FMT_FLAG_RGB) && !(desc->flags & AV_PIX_FMT_FLAG_PAL)) {
        /* YUV or gray: say explicitly which range and matrix the samples use.
         * Gray is full range unless flagged otherwise (swscale's own default). */
        int gray = desc->nb_components <= 2;
        int full = is_yuvj(fmt) || f->color_range == AVCOL_RANGE_JPEG ||
                   (gray && f->color_range != AVCOL_RANGE_MPEG);
        const int *coef = sws_getCoefficients(f->colorspace); /* unknown → BT.601 */
        int *inv, *tbl, src_range, dst_range, bri, con, sat;
        if (sws_getColorspaceDetails(sws, &inv, &src_range, &tbl, &dst_range, &bri, &con,
                                     &sat) >= 0)
            sws_setColorspaceDetails(sws, coef, full, tbl, 1, bri, con, sat);
    }
    ret = sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, h, rgb->data,
                    rgb->linesize);
    if (ret != h) {
        ret = ret < 0 ? ret : AVERROR(EINVAL);
        goto fail;
    }

    int dw = o.a ? w : h, dh = o.a ? h : w;
    buf = malloc((size_t)dw * dh * 3);
    if (!buf) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    /* Destination of source (x, y): (a x + c y + sx, b x + d y + sy); the shifts
     * bring the negative coordinates of a mirrored axis back into the picture. */
    int sx = (o.a < 0 ? w - 1 : 0) + (o.c < 0 ? h - 1 : 0);
    int sy = (o.b < 0 ? w - 1 : 0) + (o.d < 0 ? h - 1 : 0);
    for (int y = 0; y < h; y++) {
        const uint8_t *src = rgb->data[0] + (size_t)y * rgb->linesize[0];
        if (o.a == 1 && o.d == 1) {
            memcpy(buf + (size_t)y * dw * 3, src, (size_t)w * 3);
            continue;
        }
        for (int x = 0; x < w; x++) {
            int X = o.a * x + o.c * y + sx, Y = o.b * x + o.d * y + sy;
            uint8_t *d = buf + ((size_t)Y * dw + X) * 3;
            d[0] = src[3 * x];
            d[1] = src[3 * x + 1];
            d[2] = src[3 * x + 2];
        }
    }
    *out = buf;
    *ow = dw;
    *oh = dh;
    sws_freeContext(sws);
    av_frame_free(&rgb);
    return 0;

fail:
    if (ret < 0 && ret != AVERROR(ENOSYS))
        image_fail(path, "conversion to RGB failed", ret);
    free(buf);
    sws_freeContext(sws);
    av_frame_free(&rgb);
    return ret;
}

int video_load_image(const char *path, uint8_t **rgb, int *width, int *height)
{
    AVFormatContext *fmt = NULL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = NULL;
    AVFrame *frame = NULL;
    AVDictionary *opts = NULL;
    char *url = NULL;
    int ret, got = 0, idx;
    struct stat stbuf;

    *rgb = NULL;
    *width = *height = 0;

    /* Local files get the "file:" protocol prefix so that a ':' in the name is
     * not read as a protocol; anything that isn't a file but looks like a URL
     * goes to FFmpeg as is. */
    if (stat(path, &stbuf) == 0) {
        if (S_ISDIR(stbuf.st_mode))
            return image_fail(path, NULL, AVERROR(EISDIR));
        if (S_ISREG(stbuf.st_mode) && stbuf.st_size == 0)
            return image_fail(path, "empty file", 0);
        url = av_asprintf("file:%s", path);
    } else {
        int err = errno;
        if (!strstr(path, "://"))
            return image_fail(path, NULL, AVERROR(err));
        url = av_strdup(path);
    }
    if (!url)
        return image_fail(path, NULL, AVERROR(ENOMEM));

    /* A '%' in a file name is a name, not an image2 sequence pattern. */
    av_dict_set(&opts, "pattern_type", "none", 0);
    ret = avformat_open_input(&fmt, url, NULL, &opts);
    av_dict_free(&opts);
    if (ret < 0) {
        image_fail(path, ret == AVERROR_INVALIDDATA ? "not an image FFmpeg can read" : NULL,
                   ret);
        goto done;
    }
    if ((ret = avformat_find_stream_info(fmt, NULL)) < 0) {
        image_fail(path, "cannot read stream info", ret);
        goto done;
    }

    const AVCodec *codec = NULL;
    idx = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (idx < 0) {
        ret = idx;
        image_fail(path, idx == AVERROR_DECODER_NOT_FOUND ? "no decoder for this image format"
                                                          : "no picture in this file",
                   0);
        goto done;
    }
    AVStream *st = fmt->streams[idx];
    dec = avcodec_alloc_context3(codec);
    if (!dec) {
        ret = image_fail(path, NULL, AVERROR(ENOMEM));
        goto done;
    }
    if ((ret = avcodec_parameters_to_context(dec, st->codecpar)) < 0) {
        image_fail(path, NULL, ret);
        goto done;
    }
    /* Fail on damaged data instead of concealing it: a half-grey picture
     * would give detections that look valid. */
    if (codec->id == AV_CODEC_ID_MJPEG)
        dec->err_recognition |= AV_EF_EXPLODE;
    dec->thread_count = 1;
    if ((ret = avcodec_open2(dec, codec, NULL)) < 0) {
        image_fail(path, "cannot open decoder", ret);
        goto done;
    }

    pkt = av_packet_alloc();
    frame = av_frame_alloc();
    if (!pkt || !frame) {
        ret = image_fail(path, NULL, AVERROR(ENOMEM));
        goto done;
    }

    /* The send/receive loop, stopping at the first picture. */
    int eof = 0;
    while (!got) {
        if (!eof) {
            ret = av_read_frame(fmt, pkt);
            if (ret == AVERROR_EOF) {
                eof = 1;
                ret = avcodec_send_packet(dec, NULL);
            } else if (ret < 0) {
                image_fail(path, "read error", ret);
                goto done;
            } else if (pkt->stream_index != idx) {
                av_packet_unref(pkt);
                continue;
            } else {
                ret = avcodec_send_packet(dec, pkt);
                av_packet_unref(pkt);
            }
            if (ret < 0 && ret != AVERROR(EAGAIN) && ret != AVERROR_EOF) {
                image_fail(path, "corrupt or truncated image data", ret);
                goto done;
            }
        }
        ret = avcodec_receive_frame(dec, frame);
        if (ret == 0) {
            got = 1;
        } else if (ret == AVERROR_EOF) {
            ret = image_fail(path, "no picture could be decoded (truncated file?)", 0);
            goto done;
        } else if (ret != AVERROR(EAGAIN)) {
            image_fail(path, "corrupt or truncated image data", ret);
            goto done;
        } else if (eof) {
            ret = image_fail(path, "no picture could be decoded (truncated file?)", 0);
            goto done;
        }
    }
    if ((frame->flags & AV_FRAME_FLAG_CORRUPT) || frame->decode_error_flags) {
        ret = image_fail(path, "corrupt or truncated image data", 0);
        goto done;
    }

    ret = frame_to_rgb(path, frame, frame_orientation(frame, st), rgb, width, height);

done:
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    av_free(url);
    return ret < 0 ? ret : 0;
}

int video_set_log_level(const char *name)
{
    static const struct {
        const char *name;
        int level;
    } levels[] = {
        { "quiet", AV_LOG_QUIET },     { "panic", AV_LOG_PANIC },   { "fatal", AV_LOG_FATAL },
        { "error", AV_LOG_ERROR },     { "warning", AV_LOG_WARNING }, { "info", AV_LOG_INFO },
        { "verbose", AV_LOG_VERBOSE }, { "debug", AV_LOG_DEBUG },   { "trace", AV_LOG_TRACE },
    };
    if (!name)
        name = "quiet";
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        if (!strcmp(name, levels[i].name)) {
            av_log_set_level(levels[i].level);
            return 0;
        }
    }
    return -1;
}

static void append_version(char *buf, size_t size, const char *lib, unsigned v)
{
    size_t n = strlen(buf);
    snprintf(buf + n, size - n, "%s%s %u.%u.%u", n ? ", " : "", lib, AV_VERSION_MAJOR(v),
             AV_VERSION_MINOR(v), AV_VERSION_MICRO(v));
}

const char *video_library_versions(void)
{
    static char buf[160];
    if (!buf[0]) {
        append_version(buf, sizeof buf, "libavformat", avformat_version());
        append_version(buf, sizeof buf, "libavcodec", avcodec_version());
        append_version(buf, sizeof buf, "libswscale", swscale_version());
        append_version(buf, sizeof buf, "libavutil", avutil_version());
    }
    return buf;
}
