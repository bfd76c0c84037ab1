/*
 * internal.h — private to video/: the RGB conversion and orientation helpers
 * shared by still images (image.c), sources (source.c) and the writer
 * (writer.c), the source's side of stream copy used by the writer, and the
 * hooks between a source and its recorder (recorder.c).
 * Nothing outside video/ includes this.
 */
#ifndef VDETECT_VIDEO_INTERNAL_H
#define VDETECT_VIDEO_INTERNAL_H

#include <stdint.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>

/* Always-on invariant check (bugs assert, the world returns errors). */
#define VIDEO_ASSERT(c)                                                                   \
    do {                                                                                  \
        if (!(c))                                                                         \
            video_assert_fail(__FILE__, __LINE__, #c);                                    \
    } while (0)
_Noreturn void video_assert_fail(const char *file, int line, const char *cond);

/*
 * One of the eight axis-aligned orientations. A source pixel (x, y) lands at
 * display position (a*x + c*y, b*x + d*y), shifted into the picture — the
 * row-vector convention of FFmpeg's display matrix, with y pointing down.
 * Exactly one of a, c is non-zero and exactly one of b, d.
 */
struct orient {
    int a, b, c, d;
};

extern const struct orient ORIENT_IDENTITY;

/* How a decoded frame of st must be turned to be upright: the frame's display
 * matrix, else the stream's, else the EXIF Orientation in the frame metadata. */
struct orient orient_of_frame(const AVFrame *f, const AVStream *st);
/* Degrees clockwise (0/90/180/270) the orientation turns; *mirrored set when
 * it also flips. */
int orient_degrees(struct orient o, int *mirrored);
static inline int orient_swaps(struct orient o) { return o.a == 0; }

/*
 * Decoded frame → packed RGB24, upright. Keeps its swscale context and a
 * scratch picture between calls (rebuilt when the input format, size, range
 * or matrix changes), so a video converts with no allocation per frame.
 * Zero-initialise; free with rgb_converter_free().
 */
struct rgb_converter {
    struct SwsContext *sws;
    int w, h, fmt, range, space; /* what sws was built for */
    int ow, oh;                  /* its output size (before turning) */
    uint8_t *tmp;                /* w*h*3 before turning, when not upright */
    size_t tmp_size;
};

/* Convert f turned by o into dst (dw x dh x 3 bytes, dw/dh the turned size).
 * Returns 0, AVERROR(ENOSYS) for a pixel format swscale cannot read, or
 * another negative code; prints nothing. */
int rgb_convert(struct rgb_converter *c, const AVFrame *f, struct orient o, uint8_t *dst);
/* The same, scaled to dw x dh (the turned size wanted; any aspect: a picture
 * of another shape is stretched). */
int rgb_convert_scaled(struct rgb_converter *c, const AVFrame *f, struct orient o, uint8_t *dst,
                       int dw, int dh);
void rgb_converter_free(struct rgb_converter *c);

/* Tell sws which YUV range and matrix the YUV side of a conversion uses.
 * yuv_is_src: YUV → RGB (else RGB → YUV). space: AVColorSpace (unknown →
 * BT.601); full: 1 for JPEG range. RGB side is always full range. */
void sws_set_yuv(struct SwsContext *sws, int yuv_is_src, int space, int full);

/* Whether frames in fmt with this range flag use full (JPEG) range. */
int pix_fmt_full_range(enum AVPixelFormat fmt, enum AVColorRange range);

/* The display matrix stored with a stream, or NULL. */
const int32_t *stream_display_matrix(const AVStream *st);

/* The V4L2 capture devices present, "/dev/video0, /dev/video2" into buf
 * (cut short to fit); returns how many (devices.c). */
int video_device_names(char *buf, size_t size);
/* Print why camera dev (as the user named it: in) did not open — err, and a
 * hint: the cameras present or none, the 'video' group, busy — with a pointer
 * to --list-devices. */
void video_device_fail(const char *in, const char *dev, int err);

/* ---- stream copy: the source's side (source.c), used by writer.c ---- */
struct video_source;
struct video_copy_stats;

const AVFormatContext *source_format(const struct video_source *s);
int source_video_index(const struct video_source *s);
const char *source_input(const struct video_source *s);
/* From now on, queue the packets of stream i for which copy[i] is non-zero
 * (copy has fmt->nb_streams entries). One writer at a time: returns
 * AVERROR(EBUSY) if another is attached. */
int source_copy_begin(struct video_source *s, const uint8_t *copy);
/* Pop the oldest queued packet into out (a blank packet) if all is set or its
 * time (dts, else pts) is at or before limit in tb (or has no time), with
 * its time base in *out_tb (its stream's when it was demuxed: the source's
 * streams change on a reconnect). Returns 1 popped, 0 nothing due. */
int source_copy_pop(struct video_source *s, int all, int64_t limit, AVRational tb, AVPacket *out,
                    AVRational *out_tb);
/* 1 once video_read() reached the end of the input. */
int source_copy_eof(struct video_source *s);
/* Stop queueing and drop what is queued (not counted as dropped). */
void source_copy_end(struct video_source *s);
/* The copy queue's counters so far (a consistent snapshot). */
void source_copy_stats(struct video_source *s, struct video_copy_stats *st);

/* ---- event clips: between a source (source.c) and its recorder (recorder.c) ---- */
struct video_recorder;

/* How a connection's packet timestamps land on the source's time line (in
 * video_info's time base tb, the one video_frame.pts uses):
 * out = seg_out + (ts - seg_in) rescaled from st_tb to tb. origin is the
 * time line's 0 (video_frame.pts_sec = (out - origin) * tb), AV_NOPTS_VALUE
 * while not known (before the first frame of a stream without a start time). */
struct rec_timeline {
    AVRational st_tb;
    int64_t seg_in, seg_out;
    int64_t origin;
};

/* The source's side (source.c). Attach r (AVERROR(EBUSY) if a recorder is
 * attached): from now on decode_next() feeds it every video packet; the
 * packets video_open() demuxed (kept from the first keyframe) are fed at
 * once. The caller's thread must be the only one using s (before reading). */
int source_recorder_attach(struct video_source *s, struct video_recorder *r);
/* No more packets to r after this returns; any thread. */
void source_recorder_detach(struct video_source *s);
/* 1 when the source rebases its time line (reconnect on): a connection's
 * timestamps that go back get a new segment at the next frame. */
int source_rebases(const struct video_source *s);

/* The recorder's side (recorder.c), called by source.c on the reading thread
 * with the source's lock held (lock order: source, then recorder); none
 * blocks on anything but the recorder's mutex. */
/* A demuxed video packet of stream st (referenced, not taken); tl its time
 * line, NULL while the source does not know it yet (after a reconnect, until
 * the new connection's first frame). */
void recorder_feed(struct video_recorder *r, const AVPacket *pkt, const AVStream *st,
                   const struct rec_timeline *tl);
/* The connection broke (reconnect): open clips end; the next packets are a new
 * connection's. */
void recorder_break(struct video_recorder *r);
/* The input ended (a file): stopped clips end once they have what there is. */
void recorder_eof(struct video_recorder *r);

#endif
