/*
 * image.c — still images: open with libavformat, decode the first picture with
 * libavcodec, convert to packed RGB24 with libswscale and turn it upright.
 *
 * Colour and orientation are convert.c's (the one RGB path of video/): range
 * and matrix honoured, display matrix or EXIF Orientation applied.
 *
 * Writes JPEG snapshots too (video_write_jpeg: RGB24 → 4:2:0 full range →
 * FFmpeg's mjpeg encoder → a temporary file renamed into place exclusively).
 *
 * Also owns FFmpeg's log level and the library-version string of video.h.
 */
#include "video.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

static int image_fail(const char *path, const char *what, int err)
{
    if (err)
        fprintf(stderr, "image %s: %s%s%s\n", path, what ? what : "", what ? ": " : "",
                av_err2str(err));
    else
        fprintf(stderr, "image %s: %s\n", path, what ? what : "unreadable");
    return err ? err : AVERROR_INVALIDDATA;
}

/* Convert f turned by o into a malloc()ed buffer of (*ow) x (*oh) pixels.
 * Returns 0 or a negative code with the message printed. */
static int frame_to_rgb(const char *path, const AVFrame *f, struct orient o, uint8_t **out,
                        int *ow, int *oh)
{
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(f->format);
    int w = f->width, h = f->height;
    if (!desc || w <= 0 || h <= 0)
        return image_fail(path, "decoder returned no picture", 0);
    int dw = orient_swaps(o) ? h : w, dh = orient_swaps(o) ? w : h;
    uint8_t *buf = malloc((size_t)dw * dh * 3);
    if (!buf)
        return image_fail(path, NULL, AVERROR(ENOMEM));
    struct rgb_converter conv = { 0 };
    int ret = rgb_convert(&conv, f, o, buf);
    rgb_converter_free(&conv);
    if (ret < 0) {
        free(buf);
        if (ret == AVERROR(ENOSYS))
            fprintf(stderr, "image %s: cannot convert pixel format %s to RGB\n", path,
                    desc->name);
        else if (ret == AVERROR(ERANGE))
            fprintf(stderr, "image %s: %dx%d is too large\n", path, w, h);
        else
            image_fail(path, "conversion to RGB failed", ret);
        return ret;
    }
    *out = buf;
    *ow = dw;
    *oh = dh;
    return 0;
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && !strcmp(s + n - m, tail);
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

    /* A video (or an animation) is not a still image: taking its first frame
     * silently would hide that the rest was ignored. The image demuxers
     * (image2, *_pipe) are not asked: their parsers may split one file into
     * several packets (a JPEG's embedded thumbnail), and they hold one picture
     * per file anyway. */
    if (!eof && strcmp(fmt->iformat->name, "image2") != 0 &&
        !ends_with(fmt->iformat->name, "_pipe")) {
        while ((ret = av_read_frame(fmt, pkt)) >= 0) {
            int same = pkt->stream_index == idx;
            av_packet_unref(pkt);
            if (same) {
                image_fail(path, "holds more than one frame (a video or an animation), "
                                 "not a still image", 0);
                ret = VIDEO_ERR_NOT_STILL;
                goto done;
            }
        }
    }

    ret = frame_to_rgb(path, frame, orient_of_frame(frame, st), rgb, width, height);

done:
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    av_free(url);
    return ret < 0 ? ret : 0;
}

/* ---- JPEG snapshots ---- */

/* The JPEG bytes of an RGB24 picture, in pkt. 0 or a negative code (printed). */
static int jpeg_encode(const char *path, const uint8_t *rgb, int w, int h, int stride,
                       int quality, AVPacket *pkt)
{
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    if (!codec)
        return image_fail(path, "this FFmpeg has no JPEG encoder", AVERROR_ENCODER_NOT_FOUND);
    AVCodecContext *enc = avcodec_alloc_context3(codec);
    AVFrame *frame = av_frame_alloc();
    struct SwsContext *sws = NULL;
    int ret;
    if (!enc || !frame) {
        ret = image_fail(path, NULL, AVERROR(ENOMEM));
        goto done;
    }
    /* 4:2:0 in full range, BT.601: what JPEG files are; mjpeg takes plain
     * yuv420p when told the range is full */
    enc->width = w;
    enc->height = h;
    enc->pix_fmt = AV_PIX_FMT_YUV420P;
    enc->color_range = AVCOL_RANGE_JPEG;
    enc->colorspace = AVCOL_SPC_BT470BG;
    enc->time_base = (AVRational){ 1, 1 };
    enc->thread_count = 1;
    /* quality 1..100 onto the quantiser 31..2 (ffmpeg's -q:v for JPEG) */
    enc->flags |= AV_CODEC_FLAG_QSCALE;
    enc->global_quality = FF_QP2LAMBDA * (31 - (quality - 1) * 29 / 99);
    if ((ret = avcodec_open2(enc, codec, NULL)) < 0) {
        image_fail(path, "cannot open the JPEG encoder", ret);
        goto done;
    }
    frame->format = enc->pix_fmt;
    frame->width = w;
    frame->height = h;
    frame->color_range = enc->color_range;
    frame->colorspace = enc->colorspace;
    if ((ret = av_frame_get_buffer(frame, 0)) < 0) {
        image_fail(path, NULL, ret);
        goto done;
    }
    sws = sws_getContext(w, h, AV_PIX_FMT_RGB24, w, h, enc->pix_fmt,
                         SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
    if (!sws) {
        ret = image_fail(path, "cannot convert RGB to YUV", AVERROR(ENOMEM));
        goto done;
    }
    sws_set_yuv(sws, 0, AVCOL_SPC_BT470BG, 1);
    const uint8_t *planes[4] = { rgb, NULL, NULL, NULL };
    int strides[4] = { stride, 0, 0, 0 };
    sws_scale(sws, planes, strides, 0, h, frame->data, frame->linesize);
    frame->pts = 0;
    frame->quality = enc->global_quality;
    if ((ret = avcodec_send_frame(enc, frame)) < 0 || (ret = avcodec_receive_packet(enc, pkt)) < 0)
        image_fail(path, "JPEG encoding failed", ret);

done:
    sws_freeContext(sws);
    av_frame_free(&frame);
    avcodec_free_context(&enc);
    return ret < 0 ? ret : 0;
}

int video_write_jpeg(const char *path, const uint8_t *rgb, int w, int h, int stride, int quality)
{
    VIDEO_ASSERT(path && rgb && w > 0 && h > 0 && stride >= 3 * w);
    static atomic_uint serial; /* temporary names of this process's concurrent writers */
    if (quality <= 0)
        quality = 90;
    if (quality > 100)
        quality = 100;
    struct stat st;
    if (lstat(path, &st) == 0) /* before the work; the rename below is the real guard */
        return image_fail(path, "cannot write", AVERROR(EEXIST));
    AVPacket *pkt = av_packet_alloc();
    char *tmp = NULL;
    int fd = -1, ret;
    if (!pkt) {
        ret = image_fail(path, NULL, AVERROR(ENOMEM));
        goto done;
    }
    if ((ret = jpeg_encode(path, rgb, w, h, stride, quality, pkt)) < 0)
        goto done;
    tmp = av_asprintf("%s.%d.%u.tmp", path, (int)getpid(), atomic_fetch_add(&serial, 1));
    if (!tmp) {
        ret = image_fail(path, NULL, AVERROR(ENOMEM));
        goto done;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        ret = image_fail(path, "cannot create", AVERROR(errno));
        av_freep(&tmp); /* not ours */
        goto done;
    }
    for (int off = 0; off < pkt->size;) {
        ssize_t n = write(fd, pkt->data + off, (size_t)(pkt->size - off));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ret = image_fail(path, "write error", AVERROR(errno));
            goto done;
        }
        off += (int)n;
    }
    ret = close(fd);
    fd = -1;
    if (ret < 0) {
        ret = image_fail(path, "write error", AVERROR(errno));
        goto done;
    }
    /* into place only if path is still free: RENAME_NOREPLACE, or a hard link
     * where the file system cannot do that (both fail with EEXIST) */
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0) {
        av_freep(&tmp); /* renamed: nothing to remove */
    } else if ((errno != EINVAL && errno != ENOSYS) || link(tmp, path) < 0) {
        ret = image_fail(path, "cannot write", AVERROR(errno));
        goto done;
    }
    ret = 0;

done:
    if (fd >= 0)
        close(fd);
    if (tmp)
        unlink(tmp);
    av_free(tmp);
    av_packet_free(&pkt);
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
