/*
 * source.c — video sources: files, URLs, V4L2 devices and lavfi graphs opened
 * with libavformat/libavdevice, decoded with libavcodec, converted to upright
 * RGB24 by convert.c into frames the caller owns (from the pool).
 *
 * Owns: the demuxer and decoder, the pacing clock (-re style), the interrupt
 * flag and its wake-up pipe, and the queue of copied-stream packets a writer
 * takes (stream copy: video_read() demuxes every packet; those of streams a
 * writer copies are kept here, under a mutex, until video_writer_write()
 * takes them — so audio reaches the output in demux order and in sync).
 *
 * The copy queue is a ring of VIDEO_COPY_MAX_PACKETS AVPackets, holding at
 * most VIDEO_COPY_MAX_BYTES of payload: packet data moves in and out by
 * reference (av_packet_move_ref), and each ring entry's AVPacket is allocated
 * the first time it is used and then reused, so a steady run allocates
 * nothing per packet. A packet that finds the ring full, or whose AVPacket
 * cannot be allocated, is dropped and counted (video_writer_copy_stats).
 *
 * Event clips: an attached recorder (recorder.c) is handed a reference to
 * every video packet decode_next() demuxes, under the same lock; before the
 * first video_read() the video packets video_open() demuxed are kept (from
 * the first keyframe, bounded) so that a recorder attached next gets them.
 *
 * Never hangs on a network: every blocking libavformat call runs under an
 * interrupt callback with a deadline (opt->timeout without data), and
 * video_interrupt() trips the same callback.
 *
 * Reconnection (opt->reconnect, live network streams and devices): the
 * demuxer and decoder are what one connection owns (source_connect() makes
 * them, source_disconnect() drops them); everything else — the frame count,
 * the time line, the converter, the copy queue — belongs to the source and
 * outlives connections. video_read() turns a break into source_reconnect(),
 * which loops with back-off until a first picture decodes again or
 * video_interrupt(). The counters other threads read (video_source_health)
 * are under the same lock as the copy queue.
 */
#include "video.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libavdevice/avdevice.h>
#include <libavfilter/avfilter.h>
#include <libavutil/avstring.h>
#include <libavutil/pixdesc.h>

#define SOURCE_DEFAULT_TIMEOUT 5.0 /* s without data before a stream counts as gone */
#define RECONNECT_MIN 1.0          /* s: default first back-off */
#define RECONNECT_MAX 30.0         /* s: default longest back-off */
#define RECONNECT_LOG_EVERY 2.0    /* s: least time between two "reconnecting" lines */
#define EARLY_VIDEO_MAX 256        /* video packets kept from video_open() for a recorder */
#define EARLY_VIDEO_BYTES ((int64_t)16 << 20)

/* Copied-stream packets waiting for the writer: a bounded ring (see above). */
struct copy_queue {
    AVPacket **ring;     /* VIDEO_COPY_MAX_PACKETS entries once anything was
                            kept; each NULL until first used, then kept */
    int head, count;     /* oldest entry; entries in use */
    int64_t bytes;       /* payload of the queued packets */
    struct video_copy_stats st;
};

struct video_source {
    char *input;   /* as the user gave it, for messages */
    char *url;     /* what avformat_open_input() opens, at start and on reconnects */
    const AVInputFormat *ifmt;  /* forced demuxer (v4l2, lavfi), or NULL */
    AVDictionary *opts;         /* its options; a copy is consumed per opening */
    int device;    /* a V4L2 device: url is its path */
    AVFormatContext *fmt;       /* NULL while a reconnecting source is down */
    AVCodecContext *dec;
    AVStream *st;  /* the video stream */
    int idx;       /* its index */
    AVPacket *pkt;
    AVFrame *frame;
    int pending;   /* frame holds the first picture, decoded by video_open() */
    int demux_eof; /* flush packet sent to the decoder */
    int decode_errors;   /* packets the decoder refused */
    int short_packets;   /* packets cut short by the end of the data (truncation) */
    struct orient orient;
    struct rgb_converter conv;
    struct video_info info;
    char codec_name[32];
    int64_t index;     /* frames returned */
    int64_t start_pts; /* pts_sec origin, in tb */

    /* The time line, in tb (video_info's time base, the first connection's):
     * a frame's pts is seg_out + (pts - seg_in) rescaled from the current
     * stream's time base. Segment 0 (seg_in = seg_out = 0, same time base) is
     * the stream's own pts; a reconnect, or a jump back in time with reconnect
     * on, starts a segment after the last frame (see video.h). */
    AVRational tb;
    int64_t seg_in, seg_out;
    int rebase;          /* the next frame with a pts starts a segment */
    int64_t last_out;    /* the last frame's pts in tb, AV_NOPTS_VALUE if none */
    int64_t last_dur;    /* its duration in tb, 0 if unknown */
    double last_decoded; /* monotonic s it left the decoder */

    /* Reconnection: on only for live network streams and devices. */
    int reconnect;
    double reconnect_min, reconnect_max; /* s */
    void (*on_state)(void *ctx, int up, const char *why);
    void *on_state_ctx;
    double backoff;      /* s: the wait after the next failed attempt */
    double up_since;     /* monotonic s of the last (re)opening */
    double last_log;     /* monotonic s of the last "reconnecting" line */
    int scaled_w, scaled_h; /* the other picture size last noted as scaled */
    int quiet;           /* errors go to why instead of stderr: with reconnect
                            on, a failed read is a break, reported by the loop */
    char why[128];       /* the last quiet error */

    /* Pacing: frame at pts p is due at pace_t0 + (p - pace_pts0) seconds. */
    int pace;
    double pace_t0, pace_pts0;

    /* Interrupts. The deadline is the reading thread's own (set before each
     * blocking call, read by the callback on the same thread); interrupted
     * and the pipe are what other threads and signal handlers touch. */
    atomic_int interrupted;
    int wake[2];         /* pipe: video_interrupt() writes, pacing polls */
    int network;
    double timeout;      /* s */
    double deadline;     /* monotonic s, 0 = none */

    /* Stream copy (under lock). */
    pthread_mutex_t lock;
    uint8_t *copy;       /* copy_n flags, NULL when no writer */
    int copy_n;          /* fmt->nb_streams when the writer came (a stream
                            the demuxer finds later is not copied) */
    int early;           /* before the first video_read(): keep every non-video
                            packet (video_open() demuxes some while decoding the
                            first picture), so a writer opened next loses none */
    struct copy_queue q;
    AVRational *copy_tb; /* fmt->nb_streams time bases, with copy: the queued
                            packets' own, whatever connection is current */
    int copy_over;       /* a reconnect ended stream copy */
    int eof;             /* video_read() saw the end of input */
    struct video_health health;
    double down_since;   /* monotonic s the current outage began */

    /* Event clips (under lock): the attached recorder; before the first
     * video_read(), the video packets video_open() demuxed, from the first
     * keyframe, for a recorder attached next (none once over the bound). */
    struct video_recorder *rec;
    AVPacket *early_video[EARLY_VIDEO_MAX];
    int early_video_n;
    int64_t early_video_bytes;
    int early_video_full;
};

double video_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int source_fail(const char *input, const char *what, int err)
{
    if (err && what)
        fprintf(stderr, "video %s: %s: %s\n", input, what, av_err2str(err));
    else if (err)
        fprintf(stderr, "video %s: %s\n", input, av_err2str(err));
    else
        fprintf(stderr, "video %s: %s\n", input, what);
    return err ? err : AVERROR_INVALIDDATA;
}

/* source_fail for the current connection: printed, or kept in s->why while
 * s->quiet (a reconnecting source reports its breaks itself). */
static int source_say(struct video_source *s, const char *name, const char *what, int err)
{
    if (!s->quiet)
        return source_fail(name, what, err);
    if (err && what)
        snprintf(s->why, sizeof s->why, "%s: %s", what, av_err2str(err));
    else if (err)
        snprintf(s->why, sizeof s->why, "%s", av_err2str(err));
    else
        snprintf(s->why, sizeof s->why, "%s", what);
    return err ? err : AVERROR_INVALIDDATA;
}

static int interrupt_cb(void *opaque)
{
    struct video_source *s = opaque;
    if (atomic_load(&s->interrupted))
        return 1;
    return s->deadline > 0 && video_now() > s->deadline;
}

static void arm(struct video_source *s, double seconds)
{
    s->deadline = s->network ? video_now() + seconds : 0;
}

_Static_assert(VIDEO_INTERRUPTED == AVERROR_EXIT, "video.h's VIDEO_INTERRUPTED is FFmpeg's AVERROR_EXIT");

/* After a call that failed with AVERROR_EXIT: why, printed unless it was
 * video_interrupt() (the caller asked for it). */
static int interrupted_error(struct video_source *s, int err, const char *what)
{
    if (atomic_load(&s->interrupted))
        return AVERROR_EXIT;
    if (err == AVERROR_EXIT || err == AVERROR(ETIMEDOUT) ||
        (s->deadline > 0 && video_now() > s->deadline)) {
        char msg[96];
        if (s->quiet)
            snprintf(msg, sizeof msg, "no data for %g s", s->timeout);
        else
            snprintf(msg, sizeof msg, "%s: no data for %.0f s (stream stopped?)", what,
                     s->timeout);
        source_say(s, s->input, msg, 0);
        return AVERROR(ETIMEDOUT);
    }
    return source_say(s, s->input, what, err);
}

static int is_device_name(const char *in, char *dev, size_t size)
{
    if (!strcmp(in, "webcam")) {
        snprintf(dev, size, "/dev/video0");
        return 1;
    }
    if (!strncmp(in, "webcam:", 7)) {
        char *end;
        long n = strtol(in + 7, &end, 10);
        if (end == in + 7 || *end || n < 0 || n > 255)
            return -1;
        snprintf(dev, size, "/dev/video%ld", n);
        return 1;
    }
    if (!strncmp(in, "/dev/video", 10)) {
        snprintf(dev, size, "%s", in);
        return 1;
    }
    return 0;
}

/* The first filter name in a lavfi graph that libavfilter does not know, into
 * name; 0 if every one is known. Filters are separated by ',' and ';' outside
 * quotes and [link labels]; a name ends at '=', '@' or a label. */
static int lavfi_unknown_filter(const char *graph, char *name, size_t size)
{
    const char *p = graph;
    while (*p) {
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '[') {
            if (*p == '[')
                while (*p && *p++ != ']')
                    ;
            else
                p++;
        }
        size_t n = strcspn(p, "=@[,; \t\n");
        if (n > 0 && n < size) {
            memcpy(name, p, n);
            name[n] = 0;
            if (!avfilter_get_by_name(name))
                return 1;
        }
        /* skip the arguments to the next top-level separator */
        char quote = 0;
        int depth = 0;
        for (p += n; *p; p++) {
            if (quote) {
                if (*p == quote)
                    quote = 0;
            } else if (*p == '\'' || *p == '"') {
                quote = *p;
            } else if (*p == '\\' && p[1]) {
                p++;
            } else if (*p == '[') {
                depth++;
            } else if (*p == ']') {
                depth--;
            } else if ((*p == ',' || *p == ';') && depth <= 0) {
                p++;
                break;
            }
        }
    }
    return 0;
}

/* A lavfi graph that did not open: say it is the filter graph, naming the
 * filter when it is one FFmpeg does not have. */
static void lavfi_fail(const char *in, int err)
{
    char name[64];
    if (lavfi_unknown_filter(in + 6, name, sizeof name))
        fprintf(stderr, "video %s: invalid filter graph: no filter named '%s' in this FFmpeg "
                        "('ffmpeg -filters' lists them)\n", in, name);
    else
        fprintf(stderr, "video %s: invalid filter graph (%s: check the filters' options, "
                        "e.g. 'ffmpeg -h filter=NAME')\n", in, av_err2str(err));
}

/* Protocols whose data arrives at the sender's pace. */
static int is_live_protocol(const char *url)
{
    static const char *const live[] = { "rtsp", "rtsps", "rtmp", "rtmps", "rtmpt", "rtp",
                                        "udp",  "srt",   "tcp",  "mmsh",  "mmst",  NULL };
    for (int i = 0; live[i]; i++) {
        size_t n = strlen(live[i]);
        if (!strncmp(url, live[i], n) && !strncmp(url + n, "://", 3))
            return 1;
    }
    return 0;
}

void video_interrupt(struct video_source *s)
{
    if (!s)
        return;
    atomic_store(&s->interrupted, 1);
    if (s->wake[1] >= 0) {
        char c = 1;
        ssize_t r = write(s->wake[1], &c, 1); /* async-signal-safe; full pipe is fine */
        (void)r;
    }
}

/* Sleep until monotonic time t or an interrupt. */
static int sleep_until(struct video_source *s, double t)
{
    for (;;) {
        if (atomic_load(&s->interrupted))
            return AVERROR_EXIT;
        double left = t - video_now();
        if (left <= 0)
            return 0;
        struct pollfd p = { .fd = s->wake[0], .events = POLLIN };
        int ms = (int)ceil(left * 1000);
        if (poll(&p, 1, ms > 1000 ? 1000 : ms) < 0 && errno != EINTR)
            return 0;
    }
}

/* ---- the copy queue (all under the source's lock) ---- */

/* The i-th oldest entry. */
static AVPacket **copy_at(struct copy_queue *q, int i)
{
    return &q->ring[(q->head + i) % VIDEO_COPY_MAX_PACKETS];
}

/* Keep pkt's data (moved out, pkt left blank), or count it dropped. */
static void copy_push(struct copy_queue *q, AVPacket *pkt)
{
    if (q->count == VIDEO_COPY_MAX_PACKETS || q->bytes + pkt->size > VIDEO_COPY_MAX_BYTES) {
        q->st.dropped++;
        return;
    }
    if (!q->ring && !(q->ring = calloc(VIDEO_COPY_MAX_PACKETS, sizeof *q->ring))) {
        q->st.dropped++;
        q->st.dropped_nomem++;
        return;
    }
    AVPacket **slot = copy_at(q, q->count);
    if (!*slot && !(*slot = av_packet_alloc())) {
        q->st.dropped++;
        q->st.dropped_nomem++;
        return;
    }
    av_packet_move_ref(*slot, pkt);
    q->count++;
    q->bytes += (*slot)->size;
    q->st.queued++;
    if (q->count > q->st.peak_packets)
        q->st.peak_packets = q->count;
    if (q->bytes > q->st.peak_bytes)
        q->st.peak_bytes = q->bytes;
}

/* Move the oldest packet into out (blank); its AVPacket stays for reuse. */
static void copy_take(struct copy_queue *q, AVPacket *out)
{
    AVPacket *p = *copy_at(q, 0);
    q->bytes -= p->size;
    av_packet_move_ref(out, p);
    q->head = (q->head + 1) % VIDEO_COPY_MAX_PACKETS;
    q->count--;
}

/* Drop every queued packet whose stream keep[] does not flag (keep NULL:
 * all), keeping the others in order. Not counted: nobody asked for them. */
static void copy_filter(struct copy_queue *q, const uint8_t *keep)
{
    int n = 0;
    for (int i = 0; i < q->count; i++) {
        AVPacket **p = copy_at(q, i);
        if (keep && keep[(*p)->stream_index]) {
            AVPacket **dst = copy_at(q, n++), *t = *dst; /* swap: both AVPackets stay */
            *dst = *p;
            *p = t;
        } else {
            q->bytes -= (*p)->size;
            av_packet_unref(*p);
        }
    }
    q->count = n;
    if (!n)
        q->head = 0;
}

static void copy_free(struct copy_queue *q)
{
    copy_filter(q, NULL);
    for (int i = 0; q->ring && i < VIDEO_COPY_MAX_PACKETS; i++)
        av_packet_free(&q->ring[i]);
    free(q->ring);
    q->ring = NULL;
}

/* ---- video packets for a recorder (all under the source's lock) ---- */

static void early_video_free(struct video_source *s)
{
    for (int i = 0; i < s->early_video_n; i++)
        av_packet_free(&s->early_video[i]);
    s->early_video_n = 0;
    s->early_video_bytes = 0;
}

/* Before the first video_read(): keep a reference to pkt, from the first
 * keyframe on, for a recorder attached next. Past the bound none is kept (a
 * recorder then starts at the next keyframe: a gap would break decoding). */
static void early_video_keep(struct video_source *s, const AVPacket *pkt)
{
    if (s->early_video_full || (!s->early_video_n && !(pkt->flags & AV_PKT_FLAG_KEY)))
        return;
    AVPacket *p = NULL;
    if (s->early_video_n == EARLY_VIDEO_MAX ||
        s->early_video_bytes + pkt->size > EARLY_VIDEO_BYTES || !(p = av_packet_clone(pkt))) {
        early_video_free(s);
        s->early_video_full = 1;
        return;
    }
    s->early_video[s->early_video_n++] = p;
    s->early_video_bytes += p->size;
}

/* Hand pkt to the recorder with its time line — unknown while a segment is
 * about to start (a new connection: until its first frame sets it). */
static void feed_recorder(struct video_source *s, const AVPacket *pkt)
{
    struct rec_timeline tl = { s->st->time_base, s->seg_in, s->seg_out, s->start_pts };
    recorder_feed(s->rec, pkt, s->st, s->rebase ? NULL : &tl);
}

/*
 * One step of the decode loop: the next decoded picture into s->frame.
 * 0, VIDEO_EOF, or a negative code (printed).
 */
static int decode_next(struct video_source *s)
{
    for (;;) {
        int ret = avcodec_receive_frame(s->dec, s->frame);
        if (ret == 0)
            return 0;
        if (ret == AVERROR_EOF)
            return VIDEO_EOF;
        if (ret != AVERROR(EAGAIN))
            return source_say(s, s->input, "decoding failed", ret);
        if (s->demux_eof)
            return VIDEO_EOF;

        arm(s, s->timeout);
        ret = av_read_frame(s->fmt, s->pkt);
        if (ret == AVERROR_EOF || (ret == AVERROR(EIO) && !s->network && s->fmt->pb &&
                                   avio_feof(s->fmt->pb))) {
            s->demux_eof = 1;
            pthread_mutex_lock(&s->lock);
            s->eof = 1;
            if (s->rec)
                recorder_eof(s->rec);
            pthread_mutex_unlock(&s->lock);
            avcodec_send_packet(s->dec, NULL);
            continue;
        }
        if (ret < 0) {
            if (ret == AVERROR(EAGAIN)) /* some devices, non-blocking */
                continue;
            return interrupted_error(s, ret, "read error");
        }
        if (s->pkt->flags & AV_PKT_FLAG_CORRUPT)
            s->short_packets++;
        if (s->pkt->stream_index != s->idx) {
            pthread_mutex_lock(&s->lock);
            int keep = s->copy_over ? 0
                       : s->copy    ? s->pkt->stream_index < s->copy_n &&
                                       s->copy[s->pkt->stream_index]
                                    : s->early;
            if (keep)
                copy_push(&s->q, s->pkt);
            pthread_mutex_unlock(&s->lock);
            av_packet_unref(s->pkt);
            continue;
        }
        pthread_mutex_lock(&s->lock);
        if (s->rec)
            feed_recorder(s, s->pkt);
        else if (s->early)
            early_video_keep(s, s->pkt);
        pthread_mutex_unlock(&s->lock);
        ret = avcodec_send_packet(s->dec, s->pkt);
        av_packet_unref(s->pkt);
        if (ret < 0 && ret != AVERROR(EAGAIN)) {
            /* A damaged packet: conceal and go on, as players do; say so once. */
            if (ret == AVERROR(ENOMEM))
                return source_say(s, s->input, "decoding failed", ret);
            /* files report it once at the end (video_read) */
            if (!s->decode_errors++ && s->info.live)
                source_fail(s->input, "damaged video data (skipped)", ret);
        }
    }
}

static int open_decoder(struct video_source *s)
{
    const AVCodec *codec = NULL;
    int idx = av_find_best_stream(s->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (idx == AVERROR_DECODER_NOT_FOUND)
        return source_say(s, s->input, "no decoder for its video codec", idx);
    if (idx < 0)
        return source_say(s, s->input, "no video stream", 0);
    s->idx = idx;
    s->st = s->fmt->streams[idx];
    if (!(s->dec = avcodec_alloc_context3(codec)))
        return source_say(s, s->input, NULL, AVERROR(ENOMEM));
    int ret = avcodec_parameters_to_context(s->dec, s->st->codecpar);
    if (ret < 0)
        return source_say(s, s->input, NULL, ret);
    s->dec->pkt_timebase = s->st->time_base;
    /* One decoding thread: frame threads would delay every picture by as many
     * frames (latency a live view cannot afford), the detector wants the
     * cores, and single-threaded H.264 decodes 720p far faster than any CPU
     * Faster R-CNN runs. */
    s->dec->thread_count = 1;
    if ((ret = avcodec_open2(s->dec, codec, NULL)) < 0)
        return source_say(s, s->input, "cannot open the video decoder", ret);
    if (!s->codec_name[0]) /* video_info is the first connection's */
        snprintf(s->codec_name, sizeof s->codec_name, "%s", codec->name);
    return 0;
}

/* Drop the current connection: demuxer, decoder and any decoded picture. The
 * source keeps everything else. Safe on a half-made connection. */
static void source_disconnect(struct video_source *s)
{
    avcodec_free_context(&s->dec);
    if (s->frame)
        av_frame_unref(s->frame);
    if (s->pkt)
        av_packet_unref(s->pkt);
    avformat_close_input(&s->fmt);
    s->st = NULL;
    s->idx = -1;
    s->pending = 0;
    s->demux_eof = 0;
}

/*
 * Open s->url: demuxer, stream info, decoder, and the first picture decoded
 * into s->frame (a connection counts once it gives a picture). Returns 0, or
 * a negative code with the reason printed (kept in s->why while s->quiet) and
 * nothing of the connection left.
 */
static int source_connect(struct video_source *s)
{
    const char *in = s->input;
    AVDictionary *dict = NULL;
    int ret;
    if (av_dict_copy(&dict, s->opts, 0) < 0 || !(s->fmt = avformat_alloc_context())) {
        av_dict_free(&dict);
        return source_say(s, in, NULL, AVERROR(ENOMEM));
    }
    s->fmt->interrupt_callback.callback = interrupt_cb;
    s->fmt->interrupt_callback.opaque = s;
    arm(s, s->timeout);
    ret = avformat_open_input(&s->fmt, s->url, s->ifmt, &dict);
    av_dict_free(&dict);
    if (ret < 0) {
        s->fmt = NULL; /* freed by avformat_open_input */
        if (ret == AVERROR_EXIT || ret == AVERROR(ETIMEDOUT))
            ret = interrupted_error(s, ret, "cannot open");
        else if (s->quiet)
            source_say(s, in, NULL, ret);
        else if (s->device)
            video_device_fail(in, s->url, ret);
        else if (s->ifmt && !strncmp(in, "lavfi:", 6))
            lavfi_fail(in, ret);
        else if (ret == AVERROR_INVALIDDATA)
            source_fail(in, "not a video FFmpeg can read", 0);
        else
            source_fail(in, NULL, ret);
        goto fail;
    }
    arm(s, s->timeout + 5); /* probing may read a few seconds of stream */
    if ((ret = avformat_find_stream_info(s->fmt, NULL)) < 0) {
        ret = ret == AVERROR_EXIT ? interrupted_error(s, ret, "cannot read stream info")
                                  : source_say(s, in, "cannot read stream info", ret);
        goto fail;
    }
    if (s->network && !s->info.live)
        s->info.live = !s->fmt->pb || !(s->fmt->pb->seekable & AVIO_SEEKABLE_NORMAL) ||
                       s->fmt->duration <= 0;
    if ((ret = open_decoder(s)) < 0)
        goto fail;
    if ((!s->pkt && !(s->pkt = av_packet_alloc())) ||
        (!s->frame && !(s->frame = av_frame_alloc()))) {
        ret = source_say(s, in, NULL, AVERROR(ENOMEM));
        goto fail;
    }
    ret = decode_next(s);
    if (ret == VIDEO_EOF)
        ret = source_say(s, in, s->decode_errors ? "no decodable video (corrupt file?)"
                                                 : "no video frames",
                         0);
    if (ret < 0)
        goto fail;
    s->deadline = 0;
    return 0;

fail:
    s->deadline = 0;
    source_disconnect(s);
    return ret < 0 ? ret : AVERROR_INVALIDDATA;
}

int video_open(struct video_source **out, const struct video_source_options *opt)
{
    struct video_source *s = NULL;
    char dev[64];
    int ret, device;
    struct stat sb;

    *out = NULL;
    if (!opt || !opt->input || !*opt->input) {
        fprintf(stderr, "video: no input given\n");
        return AVERROR(EINVAL);
    }
    const char *in = opt->input;
    if (!(s = calloc(1, sizeof *s)) || !(s->input = av_strdup(in))) {
        free(s);
        fprintf(stderr, "video %s: %s\n", in, av_err2str(AVERROR(ENOMEM)));
        return AVERROR(ENOMEM);
    }
    s->wake[0] = s->wake[1] = -1;
    s->idx = -1;
    s->start_pts = AV_NOPTS_VALUE;
    s->last_out = AV_NOPTS_VALUE;
    atomic_init(&s->interrupted, 0);
    pthread_mutex_init(&s->lock, NULL);
    s->timeout = opt->timeout > 0 ? opt->timeout : SOURCE_DEFAULT_TIMEOUT;
    if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        ret = source_fail(in, "pipe", AVERROR(errno));
        goto fail;
    }

    device = is_device_name(in, dev, sizeof dev);
    if (device < 0) {
        ret = source_fail(in, "bad device name (use webcam:N or /dev/videoN)", AVERROR(EINVAL));
        goto fail;
    }
    if (device) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, avdevice_register_all);
        if (stat(dev, &sb) < 0) {
            ret = AVERROR(errno);
            video_device_fail(in, dev, ret);
            goto fail;
        }
        if (!(s->ifmt = av_find_input_format("v4l2"))) {
            ret = source_fail(dev, "FFmpeg was built without V4L2 support", AVERROR(ENOSYS));
            goto fail;
        }
        s->url = av_strdup(dev);
        s->device = 1;
        if (opt->input_format)
            av_dict_set(&s->opts, "input_format", opt->input_format, 0);
        if (opt->video_size)
            av_dict_set(&s->opts, "video_size", opt->video_size, 0);
        if (opt->framerate)
            av_dict_set(&s->opts, "framerate", opt->framerate, 0);
        s->info.live = 1;
    } else if (!strncmp(in, "lavfi:", 6)) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, avdevice_register_all);
        if (!(s->ifmt = av_find_input_format("lavfi"))) {
            ret = source_fail(in, "FFmpeg was built without the lavfi device", AVERROR(ENOSYS));
            goto fail;
        }
        s->url = av_strdup(in + 6);
        s->info.live = 1;
        s->pace = opt->realtime >= 0;
    } else if (!strcmp(in, "-")) {
        s->url = av_strdup("pipe:0");
    } else if (stat(in, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            ret = source_fail(in, NULL, AVERROR(EISDIR));
            goto fail;
        }
        if (S_ISREG(sb.st_mode) && sb.st_size == 0) {
            ret = source_fail(in, "empty file", 0);
            goto fail;
        }
        /* "file:" so that a ':' in the name is not read as a protocol */
        s->url = av_asprintf("file:%s", in);
        s->pace = opt->realtime > 0;
        /* image2: '%' is a name */
        av_dict_set(&s->opts, "pattern_type", "none", 0);
    } else if (strstr(in, "://")) {
        s->url = av_strdup(in);
        s->network = 1;
        s->info.live = is_live_protocol(in);
        char us[32];
        snprintf(us, sizeof us, "%lld", (long long)(s->timeout * 1e6));
        if (!strncmp(in, "rtsp", 4))
            av_dict_set(&s->opts, "rtsp_transport", "tcp", 0);
        av_dict_set(&s->opts, "timeout", us, 0);     /* rtsp/tcp/udp/http socket timeout */
        av_dict_set(&s->opts, "rw_timeout", us, 0);  /* any protocol's reads */
        s->pace = 0;
    } else {
        ret = source_fail(in, NULL, AVERROR(errno ? errno : ENOENT));
        goto fail;
    }
    if (!s->url) {
        ret = source_fail(in, NULL, AVERROR(ENOMEM));
        goto fail;
    }

    /* The first picture now, so the size, format and orientation are exact. */
    s->early = 1;
    if ((ret = source_connect(s)) < 0)
        goto fail;
    s->pending = 1;

    AVFrame *f = s->frame;
    s->orient = orient_of_frame(f, s->st);
    struct video_info *vi = &s->info;
    vi->rotation = orient_degrees(s->orient, &vi->mirrored);
    vi->width = orient_swaps(s->orient) ? f->height : f->width;
    vi->height = orient_swaps(s->orient) ? f->width : f->height;
    AVRational fr = s->st->avg_frame_rate;
    if (fr.num <= 0 || fr.den <= 0)
        fr = s->st->r_frame_rate;
    vi->fps = fr.num > 0 && fr.den > 0 ? av_q2d(fr) : 0;
    vi->nb_frames = s->st->nb_frames > 0 ? s->st->nb_frames : 0;
    if (s->st->duration > 0 && s->st->duration != AV_NOPTS_VALUE)
        vi->duration = s->st->duration * av_q2d(s->st->time_base);
    else if (s->fmt->duration > 0)
        vi->duration = s->fmt->duration / (double)AV_TIME_BASE;
    vi->codec = s->codec_name;
    vi->format = s->fmt->iformat->name;
    vi->time_base_num = s->st->time_base.num;
    vi->time_base_den = s->st->time_base.den;
    AVRational sar = av_guess_sample_aspect_ratio(s->fmt, s->st, f);
    if (sar.num > 0 && sar.den > 0 && orient_swaps(s->orient))
        sar = (AVRational){ sar.den, sar.num };
    vi->sar_num = sar.num > 0 && sar.den > 0 ? sar.num : 0;
    vi->sar_den = sar.num > 0 && sar.den > 0 ? sar.den : 1;
    s->tb = s->st->time_base;
    s->start_pts = s->st->start_time;

    s->reconnect = opt->reconnect && s->info.live && (s->network || s->device);
    if (s->reconnect) {
        s->reconnect_min = opt->reconnect_min > 0 ? opt->reconnect_min : RECONNECT_MIN;
        s->reconnect_max = opt->reconnect_max > 0 ? opt->reconnect_max : RECONNECT_MAX;
        if (s->reconnect_max < s->reconnect_min)
            s->reconnect_max = s->reconnect_min;
        s->backoff = s->reconnect_min;
        s->on_state = opt->on_state;
        s->on_state_ctx = opt->on_state_ctx;
        s->quiet = 1;
        s->up_since = video_now();
    }
    *out = s;
    return 0;

fail:
    video_close(&s);
    return ret < 0 ? ret : AVERROR_INVALIDDATA;
}

const struct video_info *video_source_info(const struct video_source *s)
{
    return &s->info;
}

void video_source_health(struct video_source *s, struct video_health *h)
{
    memset(h, 0, sizeof *h);
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    *h = s->health;
    if (h->down)
        h->down_seconds += video_now() - s->down_since;
    pthread_mutex_unlock(&s->lock);
}

/*
 * A break of a reconnecting source (why: what broke): drop the connection and
 * open it again, with back-off, until a first picture decodes — 0, the
 * picture in s->frame — or video_interrupt(): AVERROR_EXIT, the source left
 * down. See "Reconnection" in video.h.
 */
static int source_reconnect(struct video_source *s, const char *reason)
{
    char why[sizeof s->why];
    snprintf(why, sizeof why, "%s", reason);
    double now = video_now();
    /* A source that breaks again soon after it came back waits its back-off
     * first: one that comes back only to fail is not hammered. */
    double wait = 0;
    if (s->health.reconnects > 0 && now - s->up_since < s->reconnect_max)
        wait = s->backoff;
    else
        s->backoff = s->reconnect_min;

    source_disconnect(s);
    s->rebase = 1; /* already while connecting: the recorder hears the time line is unknown */
    pthread_mutex_lock(&s->lock);
    s->health.down = 1;
    s->down_since = now;
    snprintf(s->health.last_error, sizeof s->health.last_error, "%s", why);
    int copying = s->copy && !s->copy_over;
    s->copy_over = 1; /* the next connection's streams need not match the writer's */
    if (s->rec)
        recorder_break(s->rec); /* nor a clip's */
    pthread_mutex_unlock(&s->lock);
    if (s->on_state)
        s->on_state(s->on_state_ctx, 0, why);
    if (wait > 0)
        fprintf(stderr, "video %s: %s: reconnecting in %g s\n", s->input, why, wait);
    else
        fprintf(stderr, "video %s: %s: reconnecting\n", s->input, why);
    if (copying)
        fprintf(stderr, "video %s: note: stream copy ends here (a new connection's streams "
                        "are not copied)\n", s->input);
    s->last_log = now;

    int attempt;
    for (attempt = 1;; attempt++) {
        if (wait > 0 && sleep_until(s, video_now() + wait) < 0)
            return AVERROR_EXIT;
        if (atomic_load(&s->interrupted))
            return AVERROR_EXIT;
        pthread_mutex_lock(&s->lock);
        s->health.attempts++;
        pthread_mutex_unlock(&s->lock);
        if (source_connect(s) == 0)
            break;
        if (atomic_load(&s->interrupted))
            return AVERROR_EXIT;
        wait = s->backoff;
        s->backoff = s->backoff * 2 < s->reconnect_max ? s->backoff * 2 : s->reconnect_max;
        pthread_mutex_lock(&s->lock);
        snprintf(s->health.last_error, sizeof s->health.last_error, "%s", s->why);
        pthread_mutex_unlock(&s->lock);
        now = video_now();
        if (now - s->last_log >= RECONNECT_LOG_EVERY) {
            fprintf(stderr, "video %s: %s: reconnecting (attempt %d, next in %g s)\n", s->input,
                    s->why, attempt, wait);
            s->last_log = now;
        }
    }

    now = video_now();
    pthread_mutex_lock(&s->lock);
    s->health.reconnects++;
    s->health.down = 0;
    s->health.down_seconds += now - s->down_since;
    s->eof = 0; /* a stream's end was a break, not the end */
    double down = now - s->down_since;
    pthread_mutex_unlock(&s->lock);
    s->up_since = now;
    s->orient = orient_of_frame(s->frame, s->st);
    s->pace_t0 = 0;
    fprintf(stderr, "video %s: reconnected after %.1f s (attempt %d)\n", s->input, down, attempt);
    if (s->on_state)
        s->on_state(s->on_state_ctx, 1, NULL);
    return 0;
}

/* Start a segment of the time line at pts (the current stream's time base) of
 * a frame that left the decoder at monotonic time t: it comes after the last
 * frame by the wall-clock time between the two, and at least that frame's
 * duration (one tick if unknown), so time never goes back. */
static void start_segment(struct video_source *s, int64_t pts, double t)
{
    s->rebase = 0;
    s->seg_in = pts;
    if (s->last_out == AV_NOPTS_VALUE) { /* nothing to follow: the stream's own time */
        s->seg_out = av_rescale_q(pts, s->st->time_base, s->tb);
        return;
    }
    int64_t gap = llround((t - s->last_decoded) / av_q2d(s->tb));
    int64_t least = s->last_dur > 0 ? s->last_dur : 1;
    s->seg_out = s->last_out + (gap > least ? gap : least);
}

int video_read(struct video_source *s, struct video_frame *f)
{
    VIDEO_ASSERT(f && f->rgb && f->width == s->info.width && f->height == s->info.height);
    if (atomic_load(&s->interrupted))
        return AVERROR_EXIT;
    double t_start = video_now();
    int ret = 0;
    if (s->pending) {
        s->pending = 0;
        pthread_mutex_lock(&s->lock);
        int attached = s->copy != NULL;
        s->early = 0;
        early_video_free(s); /* a recorder attached before took them */
        pthread_mutex_unlock(&s->lock);
        if (!attached)
            source_copy_end(s); /* no writer: nobody will take them */
    } else
        ret = decode_next(s);
    if (ret && s->reconnect && !atomic_load(&s->interrupted))
        ret = source_reconnect(s, ret == VIDEO_EOF ? "end of stream" : s->why);
    s->deadline = 0;
    if (ret == VIDEO_EOF && !s->info.live && (s->short_packets || s->decode_errors)) {
        /* A file that ends in damage is an error, not a normal end: annotating
         * it would silently lose its tail. Concealed damage counts too. */
        char msg[128];
        snprintf(msg, sizeof msg, "truncated or damaged file (%d short, %d undecodable packets; "
                 "%lld frames read)", s->short_packets, s->decode_errors, (long long)s->index);
        source_fail(s->input, msg, 0);
        return AVERROR_INVALIDDATA;
    }
    if (ret)
        return ret == AVERROR_EXIT ? interrupted_error(s, ret, "read error") : ret;
    double t_decoded = video_now();

    AVFrame *fr = s->frame;
    int w = orient_swaps(s->orient) ? fr->height : fr->width;
    int h = orient_swaps(s->orient) ? fr->width : fr->height;
    if (w != s->info.width || h != s->info.height) {
        char msg[128];
        if (!s->reconnect) {
            snprintf(msg, sizeof msg,
                     "picture size changed from %dx%d to %dx%d mid-stream (not supported)",
                     s->info.width, s->info.height, w, h);
            av_frame_unref(fr);
            source_fail(s->input, msg, 0);
            return AVERROR_INPUT_CHANGED;
        }
        if (w != s->scaled_w || h != s->scaled_h)
            fprintf(stderr, "video %s: note: the picture is now %dx%d: scaled to %dx%d\n",
                    s->input, w, h, s->info.width, s->info.height);
        s->scaled_w = w;
        s->scaled_h = h;
    } else {
        s->scaled_w = s->scaled_h = 0;
    }
    ret = rgb_convert_scaled(&s->conv, fr, s->orient, f->rgb, s->info.width, s->info.height);
    if (ret < 0) {
        const char *name = av_get_pix_fmt_name(fr->format);
        char msg[96];
        snprintf(msg, sizeof msg, "cannot convert pixel format %s to RGB", name ? name : "?");
        av_frame_unref(fr);
        source_fail(s->input, msg, ret == AVERROR(ENOSYS) ? 0 : ret);
        return ret;
    }

    /* On the time line (s->tb): the stream's own pts until a reconnect. */
    int64_t pts = fr->best_effort_timestamp, out = AV_NOPTS_VALUE;
#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 30, 100)
    int64_t dur = fr->duration > 0 ? fr->duration : 0;
#else
    int64_t dur = fr->pkt_duration > 0 ? fr->pkt_duration : 0;
#endif
    dur = av_rescale_q(dur, s->st->time_base, s->tb);
    if (pts != AV_NOPTS_VALUE) {
        if (s->rebase)
            start_segment(s, pts, t_decoded);
        out = s->seg_out + av_rescale_q(pts - s->seg_in, s->st->time_base, s->tb);
        if (s->reconnect && s->last_out != AV_NOPTS_VALUE && out < s->last_out) {
            start_segment(s, pts, t_decoded); /* a jump back without a break */
            out = s->seg_out;
        }
        s->last_out = out;
        s->last_dur = dur;
        s->last_decoded = t_decoded;
    }
    f->index = s->index++;
    f->pts = out == AV_NOPTS_VALUE ? VIDEO_NOPTS : out;
    f->duration = dur;
    if (out != AV_NOPTS_VALUE && s->start_pts == AV_NOPTS_VALUE)
        s->start_pts = out;
    f->pts_sec = out == AV_NOPTS_VALUE ? NAN : (out - s->start_pts) * av_q2d(s->tb);
    av_frame_unref(fr);
    f->decode_time = video_now() - t_start;

    if (s->pace && !isnan(f->pts_sec)) {
        if (f->index == 0 || s->pace_t0 == 0) {
            s->pace_t0 = video_now();
            s->pace_pts0 = f->pts_sec;
        } else if ((ret = sleep_until(s, s->pace_t0 + (f->pts_sec - s->pace_pts0))) < 0) {
            return ret;
        }
    }
    f->capture_time = video_now();
    return 0;
}

int video_seek(struct video_source *s, double t)
{
    if (s->info.live) {
        fprintf(stderr, "video %s: cannot seek a live source\n", s->input);
        return AVERROR(ESPIPE);
    }
    pthread_mutex_lock(&s->lock);
    int copying = s->copy != NULL;
    pthread_mutex_unlock(&s->lock);
    if (copying) {
        fprintf(stderr, "video %s: cannot seek while streams are copied to a writer\n",
                s->input);
        return AVERROR(EBUSY);
    }
    if (!(t >= 0))
        t = 0;
    if (t > 1e9)
        t = 1e9;
    int64_t origin = s->start_pts != AV_NOPTS_VALUE ? s->start_pts : 0;
    int64_t target = origin + av_rescale_q(llround(t * AV_TIME_BASE), AV_TIME_BASE_Q,
                                           s->st->time_base);
    /* The keyframe at or before the target, then decode forward to it:
     * what a player's accurate seek does. */
    arm(s, s->timeout);
    int ret = avformat_seek_file(s->fmt, s->idx, INT64_MIN, target, target, 0);
    if (ret < 0)
        ret = av_seek_frame(s->fmt, s->idx, target, AVSEEK_FLAG_BACKWARD);
    if (ret < 0) {
        s->deadline = 0;
        return ret == AVERROR_EXIT ? interrupted_error(s, ret, "seek")
                                   : source_fail(s->input, "seek failed", ret);
    }
    avcodec_flush_buffers(s->dec);
    av_frame_unref(s->frame);
    s->pending = 0;
    s->demux_eof = 0;
    pthread_mutex_lock(&s->lock);
    s->eof = 0;
    early_video_free(s); /* not the packets that follow any more */
    s->early_video_full = 1;
    pthread_mutex_unlock(&s->lock);
    s->pace_t0 = 0; /* the next frame is due at once, the rest at their pace */
    for (;;) {
        if (atomic_load(&s->interrupted)) {
            ret = AVERROR_EXIT;
            break;
        }
        ret = decode_next(s);
        if (ret == VIDEO_EOF) { /* nothing that late: the next read ends the input */
            ret = 0;
            break;
        }
        if (ret < 0)
            break;
        int64_t pts = s->frame->best_effort_timestamp;
        if (pts == AV_NOPTS_VALUE || pts >= target) {
            s->pending = 1; /* video_read() hands this one out next */
            break;
        }
        av_frame_unref(s->frame);
    }
    s->deadline = 0;
    return ret == AVERROR_EXIT ? interrupted_error(s, ret, "seek") : ret;
}

void video_pace_reset(struct video_source *s)
{
    s->pace_t0 = 0;
}

void video_close(struct video_source **sp)
{
    struct video_source *s = sp ? *sp : NULL;
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    VIDEO_ASSERT(!s->rec); /* video_recorder_close() first */
    early_video_free(s);
    pthread_mutex_unlock(&s->lock);
    source_copy_end(s);
    copy_free(&s->q);
    rgb_converter_free(&s->conv);
    av_frame_free(&s->frame);
    av_packet_free(&s->pkt);
    avcodec_free_context(&s->dec);
    avformat_close_input(&s->fmt);
    if (s->wake[0] >= 0)
        close(s->wake[0]);
    if (s->wake[1] >= 0)
        close(s->wake[1]);
    pthread_mutex_destroy(&s->lock);
    av_dict_free(&s->opts);
    av_free(s->url);
    av_free(s->input);
    free(s);
    *sp = NULL;
}

/* ---- stream copy ---- */

const AVFormatContext *source_format(const struct video_source *s) { return s->fmt; }
int source_video_index(const struct video_source *s) { return s->idx; }
const char *source_input(const struct video_source *s) { return s->input; }

int source_copy_begin(struct video_source *s, const uint8_t *copy)
{
    int ret = 0;
    pthread_mutex_lock(&s->lock);
    if (s->copy) {
        ret = AVERROR(EBUSY);
    } else if (!(s->copy = calloc(s->fmt->nb_streams ? s->fmt->nb_streams : 1, 1)) ||
               !(s->copy_tb = calloc(s->fmt->nb_streams ? s->fmt->nb_streams : 1,
                                     sizeof *s->copy_tb))) {
        free(s->copy);
        s->copy = NULL;
        ret = AVERROR(ENOMEM);
    } else {
        memcpy(s->copy, copy, s->fmt->nb_streams);
        s->copy_n = s->fmt->nb_streams;
        for (unsigned i = 0; i < s->fmt->nb_streams; i++)
            s->copy_tb[i] = s->fmt->streams[i]->time_base;
        /* drop what was kept early for streams this writer does not copy */
        copy_filter(&s->q, copy);
    }
    pthread_mutex_unlock(&s->lock);
    return ret;
}

int source_copy_pop(struct video_source *s, int all, int64_t limit, AVRational tb, AVPacket *out,
                    AVRational *out_tb)
{
    int popped = 0;
    pthread_mutex_lock(&s->lock);
    if (s->q.count && s->copy_tb) { /* only the copied streams are queued by now */
        const AVPacket *p = *copy_at(&s->q, 0);
        int64_t t = p->dts != AV_NOPTS_VALUE ? p->dts : p->pts;
        AVRational ptb = s->copy_tb[p->stream_index];
        if (all || t == AV_NOPTS_VALUE || av_compare_ts(t, ptb, limit, tb) <= 0) {
            copy_take(&s->q, out);
            *out_tb = ptb;
            popped = 1;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return popped;
}

int source_copy_eof(struct video_source *s)
{
    pthread_mutex_lock(&s->lock);
    int eof = s->eof;
    pthread_mutex_unlock(&s->lock);
    return eof;
}

void source_copy_end(struct video_source *s)
{
    pthread_mutex_lock(&s->lock);
    free(s->copy);
    s->copy = NULL;
    free(s->copy_tb);
    s->copy_tb = NULL;
    copy_filter(&s->q, NULL);
    pthread_mutex_unlock(&s->lock);
}

void source_copy_stats(struct video_source *s, struct video_copy_stats *st)
{
    pthread_mutex_lock(&s->lock);
    *st = s->q.st;
    pthread_mutex_unlock(&s->lock);
}

/* ---- event clips ---- */

int source_recorder_attach(struct video_source *s, struct video_recorder *r)
{
    pthread_mutex_lock(&s->lock);
    if (s->rec) {
        pthread_mutex_unlock(&s->lock);
        return AVERROR(EBUSY);
    }
    s->rec = r;
    for (int i = 0; i < s->early_video_n; i++)
        feed_recorder(s, s->early_video[i]);
    early_video_free(s);
    s->early_video_full = 1;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

void source_recorder_detach(struct video_source *s)
{
    pthread_mutex_lock(&s->lock);
    s->rec = NULL;
    pthread_mutex_unlock(&s->lock);
}

int source_rebases(const struct video_source *s)
{
    return s->reconnect;
}
