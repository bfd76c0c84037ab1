/*
 * writer.c — the annotated-output encoder/muxer: RGB24 frames → swscale →
 * video encoder → libavformat, with the source's audio and subtitle streams
 * stream-copied from the packets the source queued (source.c).
 *
 * Timestamps: the encoder runs in the source video stream's time base and
 * each frame keeps its original pts, so variable frame rates, start offsets
 * and the duration survive; packet durations are looked up by pts from the
 * frames sent (libavcodec 5.x does not carry them through the encoder).
 *
 * Orientation: frames arrive upright (video_read() applied the display
 * matrix), so no rotation metadata is written: the output displays like the
 * input everywhere and its pixels are the ones the detections refer to.
 *
 * Files: written to opt->file (the caller's partial file) or to path; an
 * error (or video_writer_abort()) deletes the file only if this writer
 * created it, so a device, a FIFO or a caller's file is never unlinked.
 * The other kinds of output (video_writer_kind) do not fit a partial file
 * renamed into place, and are written straight: an image sequence is many
 * files that the image2 muxer names itself (each written as NAME.tmp and
 * renamed by it, so a kill leaves whole frames; an error removes only the
 * frame files this writer created, recorded one by one); standard output
 * and network URLs are streams that cannot be renamed or taken back.
 *
 * Crash safety: a process killed mid-run must leave a playable file. MP4 and
 * MOV are fragmented (empty_moov: the header is complete before the first
 * frame; a fragment every FRAG_MS), Matroska/WebM closes a cluster every
 * FRAG_MS, and every muxed packet is flushed to the OS (flush_packets), so a
 * kill loses at most FRAG_MS of muxed frames plus what is inside the encoder
 * — for libx264 its lookahead, cut from 40 to X264_LOOKAHEAD frames (CRF
 * output within ~2% in size). Measured on 320x240 at 25 fps, killed after
 * 4 s: a plain MP4 is unreadable (no moov), fragments per keyframe (250
 * frames) keep nothing, 1 s fragments lose 1 s, per-frame fragments cost 18%
 * in size on the sample clip, 200 ms fragments 1.5%.
 */
#include "video.h"
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavutil/avstring.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

#define DUR_RING 512 /* frames in flight inside the encoder, at most */
#define FRAG_MS 200  /* MP4 fragment / Matroska cluster length */
#define X264_LOOKAHEAD 10

struct video_writer {
    char *path;          /* the name (messages) */
    char *file;          /* where the bytes go (a sequence: the pattern) */
    enum video_out_kind kind;
    int created;         /* file did not exist before: ours to remove on error */
    int64_t seq_frames;  /* SEQUENCE: frame files written (numbers 1..seq_frames) */
    uint8_t *seq_ours;   /* SEQUENCE: bit k set: frame k + 1 did not exist before */
    size_t seq_cap;      /* bytes in seq_ours */
    struct video_source *src;
    AVFormatContext *oc;
    AVCodecContext *enc;
    AVStream *ost;
    int *map;            /* source stream → output stream, -1 = not copied */
    int64_t *ts_add;     /* per source stream, added to copied timestamps */
    int nmap;
    AVRational src_tb;   /* source video stream time base */
    AVFrame *frame;      /* encoder input */
    AVPacket *pkt;
    struct SwsContext *sws;
    int width, height;
    int header_written;
    int64_t frames;      /* frames sent to the encoder */
    int64_t last_pts;    /* encoder tb; INT64_MIN before the first frame */
    int64_t last_end;    /* source tb: end of the last frame (pts + duration) */
    struct { int64_t pts, dur; } ring[DUR_RING];
    int ring_pos;
};

static int writer_fail(const char *path, const char *what, int err)
{
    if (err && what)
        fprintf(stderr, "video %s: %s: %s\n", path, what, av_err2str(err));
    else if (err)
        fprintf(stderr, "video %s: %s\n", path, av_err2str(err));
    else
        fprintf(stderr, "video %s: %s\n", path, what);
    return err ? err : AVERROR(EINVAL);
}

/* Encoders to try, in order, for the container (NULL-terminated names). */
static int open_encoder(struct video_writer *w, const struct video_writer_options *opt,
                        const struct video_info *vi)
{
    static const char *const h264[] = { "libx264", "libopenh264", "mpeg4", NULL };
    const char *one[2] = { opt && opt->codec ? opt->codec : NULL, NULL };
    const char *const *names = one[0] ? one : h264;
    const AVOutputFormat *of = w->oc->oformat;
    int ret = AVERROR_ENCODER_NOT_FOUND;

    /* A container that cannot hold H.264 (webm, ...) gets its own default, and
     * so does one that does not say (no codec table) whose own codec is an
     * image or lossless one: GIF, image sequences (png, mjpeg, ... by the
     * pattern's extension), raw video. */
    const char *native[2] = { NULL, NULL };
    int holds264 = avformat_query_codec(of, AV_CODEC_ID_H264, FF_COMPLIANCE_NORMAL);
    enum AVCodecID own = av_guess_codec(of, NULL, w->path, NULL, AVMEDIA_TYPE_VIDEO);
    const AVCodecDescriptor *od = avcodec_descriptor_get(own);
    if (!one[0] && (holds264 == 0 || (holds264 < 0 && od &&
                                  (od->props & (AV_CODEC_PROP_INTRA_ONLY |
                                                AV_CODEC_PROP_LOSSLESS))))) {
        const AVCodec *c = avcodec_find_encoder(own);
        native[0] = c ? c->name : NULL;
        names = native;
    }
    for (int k = 0; names[k]; k++) {
        const AVCodec *codec = avcodec_find_encoder_by_name(names[k]);
        if (!codec || codec->type != AVMEDIA_TYPE_VIDEO) {
            if (one[0]) {
                fprintf(stderr, "video %s: no video encoder named '%s' in this FFmpeg "
                                "(ffmpeg -encoders lists them)\n", w->path, names[k]);
                return AVERROR_ENCODER_NOT_FOUND;
            }
            continue;
        }
        if (avformat_query_codec(of, codec->id, FF_COMPLIANCE_NORMAL) == 0) {
            fprintf(stderr, "video %s: the %s container cannot hold %s video\n", w->path,
                    of->name, codec->name);
            if (one[0])
                return AVERROR(EINVAL);
            continue;
        }
        AVCodecContext *enc = avcodec_alloc_context3(codec);
        if (!enc)
            return AVERROR(ENOMEM);
        enc->width = w->width;
        enc->height = w->height;

        /* 4:2:0 where the size allows (what every player decodes); odd sizes
         * need an unsubsampled format to keep the exact resolution. */
        const enum AVPixelFormat *fmts = codec->pix_fmts;
        enum AVPixelFormat pf = fmts ? fmts[0] : AV_PIX_FMT_YUV420P;
        int odd = (w->width | w->height) & 1;
        for (int i = 0; fmts && fmts[i] != AV_PIX_FMT_NONE; i++) {
            const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(fmts[i]);
            if (d->comp[0].depth != 8 || (d->flags & AV_PIX_FMT_FLAG_RGB))
                continue;
            if (!odd && fmts[i] == AV_PIX_FMT_YUV420P) {
                pf = fmts[i];
                break;
            }
            if (odd && !d->log2_chroma_w && !d->log2_chroma_h && !(d->flags & AV_PIX_FMT_FLAG_ALPHA) &&
                d->nb_components == 3) {
                pf = fmts[i];
                break;
            }
        }
        enc->pix_fmt = pf;

        /* Source time base, unless the codec cannot take it (MPEG-4 part 2
         * allows at most 16 bits): then ms ticks, still variable-rate safe. */
        enc->time_base = w->src_tb;
        if (codec->id == AV_CODEC_ID_MPEG4 && enc->time_base.den > 65535)
            enc->time_base = (AVRational){ 1, 1000 };
        if (vi->fps > 0)
            enc->framerate = av_d2q(vi->fps, 100000);
        enc->sample_aspect_ratio = (AVRational){ vi->sar_num, vi->sar_den };
        /* Colour: RGB becomes BT.601 (SD) or BT.709 (HD) limited range, tagged;
         * JPEG is full range by definition; RGB and palette formats (PNG, GIF,
         * BMP) keep the pixels as they are, tagged sRGB. */
        const AVPixFmtDescriptor *pd = av_pix_fmt_desc_get(pf);
        if (pd && (pd->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL) ||
                   pd->nb_components < 3)) {
            enc->colorspace = (pd->flags & AV_PIX_FMT_FLAG_RGB) ? AVCOL_SPC_RGB
                                                                 : AVCOL_SPC_UNSPECIFIED;
            enc->color_range = AVCOL_RANGE_JPEG;
            enc->color_primaries = AVCOL_PRI_BT709;
            enc->color_trc = AVCOL_TRC_IEC61966_2_1;
        } else {
            enc->colorspace = w->height >= 720 ? AVCOL_SPC_BT709 : AVCOL_SPC_SMPTE170M;
            enc->color_range = codec->id == AV_CODEC_ID_MJPEG ? AVCOL_RANGE_JPEG
                                                              : AVCOL_RANGE_MPEG;
            enc->color_primaries = w->height >= 720 ? AVCOL_PRI_BT709 : AVCOL_PRI_SMPTE170M;
            enc->color_trc = w->height >= 720 ? AVCOL_TRC_BT709 : AVCOL_TRC_SMPTE170M;
        }
        if (of->flags & AVFMT_GLOBALHEADER)
            enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;

        /* Rate: crf where the encoder has it, else a bitrate, else a fixed
         * quantiser (MPEG-4 at q 4 looks like a decent H.264 at 2-3x size). */
        double crf = opt && opt->crf > 0 ? opt->crf : 23;
        int64_t br = opt ? opt->bitrate : 0;
        if (br > 0) {
            enc->bit_rate = br;
        } else if (av_opt_find(enc->priv_data, "crf", NULL, 0, 0)) {
            av_opt_set_double(enc->priv_data, "crf", crf, 0);
        } else {
            enc->flags |= AV_CODEC_FLAG_QSCALE;
            enc->global_quality = FF_QP2LAMBDA * 4;
        }
        /* a shorter lookahead: fewer frames inside the encoder when killed */
        if (!strcmp(codec->name, "libx264"))
            av_opt_set_int(enc->priv_data, "rc-lookahead", X264_LOOKAHEAD, 0);
        ret = avcodec_open2(enc, codec, NULL);
        if (ret < 0) {
            avcodec_free_context(&enc);
            if (one[0])
                return writer_fail(w->path, "cannot open the encoder", ret);
            continue;
        }
        if (!one[0] && k > 0)
            fprintf(stderr, "video %s: note: libx264 is not available; encoding with %s\n",
                    w->path, codec->name);
        w->enc = enc;
        return 0;
    }
    fprintf(stderr, "video %s: no usable video encoder for %s (tried %s)\n", w->path, of->name,
            names[0] ? names[0] : "none");
    return ret;
}

static int add_copied_streams(struct video_writer *w, const struct video_writer_options *opt)
{
    const AVFormatContext *ic = source_format(w->src);
    w->nmap = ic->nb_streams;
    if (!(w->map = malloc(sizeof *w->map * (w->nmap ? w->nmap : 1))) ||
        !(w->ts_add = calloc(w->nmap ? w->nmap : 1, sizeof *w->ts_add)))
        return AVERROR(ENOMEM);
    for (int i = 0; i < w->nmap; i++)
        w->map[i] = -1;
    if (opt && opt->no_copy)
        return 0;
    for (int i = 0; i < w->nmap; i++) {
        const AVStream *ist = ic->streams[i];
        enum AVMediaType type = ist->codecpar->codec_type;
        if (i == source_video_index(w->src) || (ist->disposition & AV_DISPOSITION_ATTACHED_PIC))
            continue;
        if (type != AVMEDIA_TYPE_AUDIO && type != AVMEDIA_TYPE_SUBTITLE)
            continue;
        const char *cname = avcodec_get_name(ist->codecpar->codec_id);
        const AVOutputFormat *of = w->oc->oformat;
        int q = avformat_query_codec(of, ist->codecpar->codec_id, FF_COMPLIANCE_NORMAL);
        /* no codec table: a format with no audio (subtitle) codec of its own
         * holds none (GIF, image sequences) */
        if (q < 0 && (type == AVMEDIA_TYPE_AUDIO ? of->audio_codec : of->subtitle_codec) ==
                         AV_CODEC_ID_NONE)
            q = 0;
        if (q == 0) {
            fprintf(stderr, "video %s: note: not copying stream %d (%s %s): the %s container "
                            "cannot hold it\n",
                    w->path, i, av_get_media_type_string(type), cname, w->oc->oformat->name);
            continue;
        }
        AVStream *os = avformat_new_stream(w->oc, NULL);
        if (!os)
            return AVERROR(ENOMEM);
        int ret = avcodec_parameters_copy(os->codecpar, ist->codecpar);
        if (ret < 0)
            return ret;
        os->codecpar->codec_tag = 0; /* the muxer picks its own tag */
        os->time_base = ist->time_base;
        os->disposition = ist->disposition;
        av_dict_copy(&os->metadata, ist->metadata, 0);
        w->map[i] = os->index;
#if LIBAVFORMAT_VERSION_MAJOR == 59
        /* FFmpeg 5.x's Matroska muxer writes Opus's CodecDelay header but not
         * the matching shift of the block times, while every demuxer hands out
         * times already reduced by it: add it back, or each copy through
         * Matroska starts the audio one pre-skip (6.5 ms) earlier. */
        if (ist->codecpar->codec_id == AV_CODEC_ID_OPUS && ist->codecpar->initial_padding > 0 &&
            (!strcmp(w->oc->oformat->name, "matroska") || !strcmp(w->oc->oformat->name, "webm")))
            w->ts_add[i] = av_rescale_q(ist->codecpar->initial_padding, (AVRational){ 1, 48000 },
                                        ist->time_base);
#endif
    }
    return 0;
}

/* "scheme://...": a URL for one of FFmpeg's protocols (not a file name). */
static int is_url(const char *path)
{
    const char *p = path;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
        return 0;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '+' || *p == '-' || *p == '.')
        p++;
    return !strncmp(p, "://", 3);
}

/* The container a URL gets without -f: what ffmpeg users pass for it. */
static const char *url_default_format(const char *proto)
{
    if (!strncmp(proto, "rtmp", 4))
        return "flv";
    if (!strcmp(proto, "udp") || !strcmp(proto, "srt") || !strcmp(proto, "tcp") ||
        !strcmp(proto, "rist") || !strcmp(proto, "udplite"))
        return "mpegts";
    if (!strcmp(proto, "rtsp"))
        return "rtsp";
    return NULL;
}

static int resolve_output(const char *path, const char *format, enum video_out_kind *kind,
                          const AVOutputFormat **ofp)
{
    const AVOutputFormat *of = NULL;
    const char *proto = NULL;
    *kind = VIDEO_OUT_FILE;
    *ofp = NULL;
    if (!strcmp(path, "-") || !strcmp(path, "pipe:") || !strcmp(path, "pipe:1")) {
        *kind = VIDEO_OUT_PIPE;
    } else if (is_url(path)) {
        proto = avio_find_protocol_name(path);
        if (!proto)
            return writer_fail(path, "this FFmpeg has no protocol for this URL (ffmpeg "
                                     "-protocols lists them)", 0);
        if (!strcmp(proto, "file"))
            return writer_fail(path, "give the file's name, not a file:// URL", 0);
        *kind = VIDEO_OUT_URL;
    }
    if (format) {
        if (!(of = av_guess_format(format, NULL, NULL)))
            return writer_fail(path, "unknown container format given with -f (ffmpeg -muxers "
                                     "lists them)", 0);
    } else if (*kind == VIDEO_OUT_PIPE) {
        return writer_fail(path, "standard output has no name to take the container from: "
                                 "give it with -f FORMAT (e.g. -f mpegts, -f matroska, -f nut)",
                           0);
    } else if (*kind == VIDEO_OUT_URL) {
        const char *def = url_default_format(proto);
        of = def ? av_guess_format(def, NULL, NULL) : av_guess_format(NULL, path, NULL);
        if (!of)
            return writer_fail(path, "no container for this URL: give it with -f FORMAT "
                                     "(mpegts for udp:// and srt://, flv for rtmp://)", 0);
    } else if (!(of = av_guess_format(NULL, path, NULL))) {
        return writer_fail(path, "unknown or unsuitable output format (use .mp4, .mkv, .mov, "
                                 ".avi, .webm, .ts, .gif, an image pattern such as "
                                 "f_%04d.png, or -f FORMAT)", 0);
    }
    if (of->video_codec == AV_CODEC_ID_NONE) {
        fprintf(stderr, "video %s: the %s format holds no video\n", path, of->name);
        return AVERROR(EINVAL);
    }
    if (!strcmp(of->name, "image2")) {
        /* FFmpeg's numbered files; one picture per file, so a pattern */
        if (*kind != VIDEO_OUT_FILE)
            return writer_fail(path, "an image sequence is written to files: give a pattern "
                                     "such as out/f_%04d.png (-f image2pipe streams images)", 0);
        const char *slash = strrchr(path, '/');
        if (!av_filename_number_test(path) || (slash && !av_filename_number_test(slash + 1)))
            return writer_fail(path, "an image sequence needs the frame number in the file "
                                     "name: a pattern such as f_%04d.png (%d, %0Nd)", 0);
        *kind = VIDEO_OUT_SEQUENCE;
    } else if ((of->flags & AVFMT_NOFILE) && *kind != VIDEO_OUT_URL) {
        fprintf(stderr, "video %s: the %s format writes to a URL, not a file\n", path,
                of->name);
        return AVERROR(EINVAL);
    }
    *ofp = of;
    return 0;
}

int video_writer_kind(const char *path, const char *format, enum video_out_kind *kind,
                      const char **muxer)
{
    const AVOutputFormat *of;
    int ret = resolve_output(path, format, kind, &of);
    if (muxer)
        *muxer = ret < 0 ? NULL : of->name;
    return ret;
}

/* The output sits where the input is: refuse before truncating it (app/
 * checks every output against every input first; this is the library's own
 * guard). */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int video_writer_open(struct video_writer **out, const char *path,
                      const struct video_source *csrc, const struct video_writer_options *opt)
{
    struct video_source *src = (struct video_source *)csrc; /* its copy queue is ours now */
    const struct video_info *vi = video_source_info(src);
    int ret;
    *out = NULL;

    struct video_writer *w = calloc(1, sizeof *w);
    const char *file = opt && opt->file ? opt->file : path;
    if (!w || !(w->path = av_strdup(path)) || !(w->file = av_strdup(file))) {
        if (w)
            av_free(w->path);
        free(w);
        return writer_fail(path, NULL, AVERROR(ENOMEM));
    }
    w->src = src;
    w->width = vi->width;
    w->height = vi->height;
    w->src_tb = (AVRational){ vi->time_base_num, vi->time_base_den };
    w->last_pts = INT64_MIN;
    w->last_end = AV_NOPTS_VALUE;

    const AVOutputFormat *of;
    if ((ret = resolve_output(path, opt ? opt->format : NULL, &w->kind, &of)) < 0)
        goto fail;
    if (w->kind != VIDEO_OUT_FILE && file != path) {
        ret = writer_fail(path, "a sequence, a pipe or a URL is written straight, not through "
                                "another file", 0);
        goto fail;
    }
    if (w->kind == VIDEO_OUT_FILE && same_file(file, source_input(src))) {
        ret = writer_fail(path, "is the input file; refusing to overwrite it", 0);
        goto fail;
    }
    /* the image2 muxer opens the frame files itself, from the pattern:
     * "file:" so that a name with a colon is never taken for a protocol */
    char *ourl = w->kind == VIDEO_OUT_SEQUENCE ? av_asprintf("file:%s", path) : NULL;
    if (w->kind == VIDEO_OUT_SEQUENCE && !ourl) {
        ret = writer_fail(path, NULL, AVERROR(ENOMEM));
        goto fail;
    }
    ret = avformat_alloc_output_context2(&w->oc, of, NULL, ourl ? ourl : path);
    av_free(ourl);
    if (ret < 0) {
        writer_fail(path, NULL, ret);
        goto fail;
    }
    if ((ret = open_encoder(w, opt, vi)) < 0)
        goto fail;
    if (!(w->ost = avformat_new_stream(w->oc, NULL))) {
        ret = writer_fail(path, NULL, AVERROR(ENOMEM));
        goto fail;
    }
    if ((ret = avcodec_parameters_from_context(w->ost->codecpar, w->enc)) < 0) {
        writer_fail(path, NULL, ret);
        goto fail;
    }
    w->ost->time_base = w->enc->time_base;
    w->ost->sample_aspect_ratio = w->enc->sample_aspect_ratio;
    if (w->enc->framerate.num > 0)
        w->ost->avg_frame_rate = w->enc->framerate;
    const AVFormatContext *ic = source_format(src);
    const AVStream *ivs = ic->streams[source_video_index(src)];
    const AVDictionaryEntry *lang = av_dict_get(ivs->metadata, "language", NULL, 0);
    if (lang)
        av_dict_set(&w->ost->metadata, "language", lang->value, 0);
    if ((ret = add_copied_streams(w, opt)) < 0) {
        writer_fail(path, NULL, ret);
        goto fail;
    }
    const AVDictionaryEntry *t = av_dict_get(ic->metadata, "title", NULL, 0);
    if (t)
        av_dict_set(&w->oc->metadata, "title", t->value, 0);

    /* Matroska would otherwise shift every timestamp when a copied audio
     * stream starts below zero (AAC priming, Opus pre-skip); it stores such
     * packets fine as they are, and the input's timestamps are kept. MP4 and
     * MOV take negative times natively (edit lists). */
    if (!strcmp(of->name, "matroska") || !strcmp(of->name, "webm"))
        w->oc->avoid_negative_ts = AVFMT_AVOID_NEG_TS_DISABLED;

    /* A file: "file:" so that a name with a colon is never taken for a
     * protocol. A pipe: FFmpeg's pipe protocol on descriptor 1. A URL: as
     * given. A sequence (and a NOFILE muxer such as rtsp) opens its own. */
    if (!(of->flags & AVFMT_NOFILE)) {
        struct stat st;
        w->created = w->kind == VIDEO_OUT_FILE && lstat(file, &st) != 0;
        char *url = w->kind == VIDEO_OUT_FILE ? av_asprintf("file:%s", file)
                    : w->kind == VIDEO_OUT_PIPE ? av_strdup("pipe:1") : av_strdup(file);
        if (!url) {
            w->created = 0;
            ret = writer_fail(path, NULL, AVERROR(ENOMEM));
            goto fail;
        }
        /* SRT in live mode drops what is still in its send buffer when the
         * socket closes (linger 0): the last ~0.5 s of a run never arrived
         * (6 of 25 frames on loopback). Wait up to 5 s for it to be
         * acknowledged; ?linger=N in the URL still decides. */
        AVDictionary *popt = NULL;
        const char *proto = w->kind == VIDEO_OUT_URL ? avio_find_protocol_name(url) : NULL;
        if (proto && !strcmp(proto, "srt"))
            av_dict_set(&popt, "linger", "5", 0);
        ret = avio_open2(&w->oc->pb, url, AVIO_FLAG_WRITE, NULL, &popt);
        av_dict_free(&popt);
        av_free(url);
        if (ret < 0) {
            w->created = 0;
            writer_fail(path, w->kind == VIDEO_OUT_FILE ? "cannot create" : "cannot open", ret);
            goto fail;
        }
    }
    AVDictionary *mux = NULL;
    av_dict_set(&mux, "flush_packets", "1", 0);
    if (w->kind == VIDEO_OUT_SEQUENCE) {
        /* numbered from 1 like ffmpeg's; each file renamed into place whole */
        av_dict_set(&mux, "start_number", "1", 0);
        av_dict_set(&mux, "atomic_writing", "1", 0);
    }
    if (!strcmp(of->name, "mp4") || !strcmp(of->name, "mov") || !strcmp(of->name, "ipod")) {
        av_dict_set(&mux, "movflags", "+empty_moov+delay_moov+default_base_moof", 0);
        av_dict_set_int(&mux, "frag_duration", FRAG_MS * 1000, 0);
    } else if (!strcmp(of->name, "matroska") || !strcmp(of->name, "webm")) {
        av_dict_set_int(&mux, "cluster_time_limit", FRAG_MS, 0);
    }
    ret = avformat_write_header(w->oc, &mux);
    av_dict_free(&mux);
    if (ret < 0) {
        writer_fail(path, "cannot write the header", ret);
        goto fail;
    }
    w->header_written = 1;

    w->frame = av_frame_alloc();
    w->pkt = av_packet_alloc();
    if (!w->frame || !w->pkt) {
        ret = writer_fail(path, NULL, AVERROR(ENOMEM));
        goto fail;
    }
    w->frame->format = w->enc->pix_fmt;
    w->frame->width = w->width;
    w->frame->height = w->height;
    w->frame->sample_aspect_ratio = w->enc->sample_aspect_ratio;
    w->frame->colorspace = w->enc->colorspace;
    w->frame->color_range = w->enc->color_range;
    w->frame->color_primaries = w->enc->color_primaries;
    w->frame->color_trc = w->enc->color_trc;
    if ((ret = av_frame_get_buffer(w->frame, 0)) < 0) {
        writer_fail(path, NULL, ret);
        goto fail;
    }
    w->sws = sws_getContext(w->width, w->height, AV_PIX_FMT_RGB24, w->width, w->height,
                            w->enc->pix_fmt, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
                            NULL, NULL, NULL);
    if (!w->sws) {
        ret = writer_fail(path, "cannot convert RGB to the encoder's pixel format", 0);
        goto fail;
    }
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(w->enc->pix_fmt);
    if (!(d->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL)))
        sws_set_yuv(w->sws, 0, w->enc->colorspace, w->enc->color_range == AVCOL_RANGE_JPEG);

    uint8_t *copy = calloc(w->nmap ? w->nmap : 1, 1);
    if (!copy) {
        ret = writer_fail(path, NULL, AVERROR(ENOMEM));
        goto fail;
    }
    for (int i = 0; i < w->nmap; i++)
        copy[i] = w->map[i] >= 0;
    ret = source_copy_begin(src, copy);
    free(copy);
    if (ret < 0) {
        writer_fail(path, "the source already has a writer", ret);
        goto fail;
    }
    *out = w;
    return 0;

fail:
    w->src = NULL; /* not attached */
    video_writer_abort(&w);
    return ret < 0 ? ret : AVERROR(EINVAL);
}

/* SEQUENCE: before the muxer writes frame file number w->seq_frames + 1,
 * refuse it if it is the source, and note whether it is ours (did not exist),
 * so an error removes only what this writer created. */
static int seq_before_write(struct video_writer *w)
{
    char name[PATH_MAX];
    int64_t k = w->seq_frames;
    if (k >= INT_MAX || av_get_frame_filename2(name, sizeof name, w->file, (int)(k + 1), 0) < 0)
        return writer_fail(w->path, "the frame number does not fit the pattern", 0);
    if ((size_t)(k / 8) >= w->seq_cap) {
        size_t cap = w->seq_cap ? 2 * w->seq_cap : 1024;
        uint8_t *b = realloc(w->seq_ours, cap);
        if (!b)
            return writer_fail(w->path, NULL, AVERROR(ENOMEM));
        memset(b + w->seq_cap, 0, cap - w->seq_cap);
        w->seq_ours = b;
        w->seq_cap = cap;
    }
    struct stat st;
    if (lstat(name, &st) == 0) {
        if (same_file(name, source_input(w->src)))
            return writer_fail(w->path, "the next frame's file is the input; refusing to "
                                        "overwrite it", 0);
        w->seq_ours[k / 8] &= (uint8_t)~(1u << (k % 8));
    } else {
        w->seq_ours[k / 8] |= (uint8_t)(1u << (k % 8));
    }
    return 0;
}

/* Encoder output → muxer. flush: drain to the end. */
static int drain_encoder(struct video_writer *w)
{
    for (;;) {
        int ret = avcodec_receive_packet(w->enc, w->pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return 0;
        if (ret < 0)
            return writer_fail(w->path, "encoding failed", ret);
        if (w->pkt->duration <= 0) {
            for (int i = 0; i < DUR_RING; i++)
                if (w->ring[i].pts == w->pkt->pts && w->ring[i].dur > 0) {
                    w->pkt->duration = w->ring[i].dur;
                    break;
                }
        }
        w->pkt->stream_index = w->ost->index;
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->ost->time_base);
        /* image2 writes a packet's file at once (one stream, nothing to
         * interleave), so the file count follows the packets */
        if (w->kind == VIDEO_OUT_SEQUENCE && (ret = seq_before_write(w)) < 0) {
            av_packet_unref(w->pkt);
            return ret;
        }
        ret = av_interleaved_write_frame(w->oc, w->pkt);
        if (w->kind == VIDEO_OUT_SEQUENCE)
            w->seq_frames++; /* counted even on failure: a half-written file is removed */
        if (ret < 0)
            return writer_fail(w->path, "write error", ret);
    }
}

/* Copied packets up to limit (source video tb), or all of them. */
static int write_copied(struct video_writer *w, int all, int64_t limit)
{
    AVPacket *p = w->pkt;
    AVRational ptb;
    while (source_copy_pop(w->src, all, limit, w->src_tb, p, &ptb)) {
        int i = p->stream_index;
        if (i < 0 || i >= w->nmap || w->map[i] < 0) {
            av_packet_unref(p);
            continue;
        }
        if (w->ts_add[i]) {
            if (p->pts != AV_NOPTS_VALUE)
                p->pts += w->ts_add[i];
            if (p->dts != AV_NOPTS_VALUE)
                p->dts += w->ts_add[i];
        }
        av_packet_rescale_ts(p, ptb, w->oc->streams[w->map[i]]->time_base);
        p->stream_index = w->map[i];
        p->pos = -1;
        int ret = av_interleaved_write_frame(w->oc, p);
        if (ret < 0)
            return writer_fail(w->path, "write error (copied stream)", ret);
    }
    return 0;
}

int video_writer_write(struct video_writer *w, const struct video_frame *f)
{
    VIDEO_ASSERT(f && f->rgb && f->width == w->width && f->height == w->height);
    int64_t dur = f->duration;
    int64_t src_pts = f->pts;
    if (src_pts == VIDEO_NOPTS) /* no timestamps: continue from the last frame */
        src_pts = w->last_end != AV_NOPTS_VALUE ? w->last_end : 0;
    int64_t pts = av_rescale_q(src_pts, w->src_tb, w->enc->time_base);
    int64_t edur = dur > 0 ? av_rescale_q(dur, w->src_tb, w->enc->time_base) : 0;
    if (w->last_pts != INT64_MIN && pts <= w->last_pts)
        pts = w->last_pts + 1;

    int ret = write_copied(w, 0, src_pts);
    if (ret < 0)
        return ret;

    if ((ret = av_frame_make_writable(w->frame)) < 0)
        return writer_fail(w->path, NULL, ret);
    const uint8_t *planes[4] = { f->rgb, NULL, NULL, NULL };
    int strides[4] = { 3 * f->width, 0, 0, 0 };
    sws_scale(w->sws, planes, strides, 0, f->height, w->frame->data, w->frame->linesize);
    w->frame->pts = pts;
    w->ring[w->ring_pos].pts = pts;
    w->ring[w->ring_pos].dur = edur;
    w->ring_pos = (w->ring_pos + 1) % DUR_RING;
#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 30, 100)
    w->frame->duration = edur;
#else
    w->frame->pkt_duration = edur;
#endif
    ret = avcodec_send_frame(w->enc, w->frame);
    if (ret < 0)
        return writer_fail(w->path, "encoding failed", ret);
    w->last_pts = pts;
    w->last_end = src_pts + (dur > 0 ? dur : 0);
    w->frames++;
    return drain_encoder(w);
}

int64_t video_writer_frames(const struct video_writer *w)
{
    return w ? w->frames : 0;
}

void video_writer_copy_stats(const struct video_writer *w, struct video_copy_stats *st)
{
    memset(st, 0, sizeof *st);
    if (w && w->src)
        source_copy_stats(w->src, st);
}

int video_writer_close(struct video_writer **wp)
{
    struct video_writer *w = wp ? *wp : NULL;
    if (!w)
        return 0;
    if (!w->frames) {
        fprintf(stderr, "video %s: no frames were written%s\n", w->path,
                w->created ? "; file removed" : "");
        video_writer_abort(wp);
        return AVERROR(ENODATA);
    }
    int ret = avcodec_send_frame(w->enc, NULL);
    if (ret < 0)
        writer_fail(w->path, "encoding failed", ret);
    else
        ret = drain_encoder(w);
    if (ret >= 0)
        ret = write_copied(w, source_copy_eof(w->src), w->last_end);
    int tr = av_write_trailer(w->oc);
    if (tr < 0 && ret >= 0)
        ret = writer_fail(w->path, "cannot finish the file", tr);
    w->header_written = 0;
    int cl = avio_closep(&w->oc->pb);
    if (cl < 0 && ret >= 0)
        ret = writer_fail(w->path, "cannot close the file", cl);
    /* Finished: nothing for abort to delete. */
    w->created = 0;
    w->seq_frames = 0;
    video_writer_abort(wp);
    return ret < 0 ? ret : 0;
}

void video_writer_abort(struct video_writer **wp)
{
    struct video_writer *w = wp ? *wp : NULL;
    if (!w)
        return;
    if (w->src)
        source_copy_end(w->src);
    if (w->oc) {
        if (w->oc->pb) {
            avio_closep(&w->oc->pb);
            if (w->created)
                unlink(w->file);
        }
        avformat_free_context(w->oc);
    }
    /* the frame files this writer created, and the one it was writing */
    for (int64_t k = 0; k < w->seq_frames; k++) {
        char name[PATH_MAX];
        if (!(w->seq_ours[k / 8] & (1u << (k % 8))) ||
            av_get_frame_filename2(name, sizeof name, w->file, (int)(k + 1), 0) < 0)
            continue;
        unlink(name);
        if (strlen(name) + 4 < sizeof name) {
            strcat(name, ".tmp");
            unlink(name);
        }
    }
    free(w->seq_ours);
    avcodec_free_context(&w->enc);
    av_frame_free(&w->frame);
    av_packet_free(&w->pkt);
    sws_freeContext(w->sws);
    free(w->map);
    free(w->ts_add);
    av_free(w->path);
    av_free(w->file);
    free(w);
    *wp = NULL;
}
