/*
 * video.h — the public header of video/: everything vdetect reads from or
 * writes to media files through FFmpeg.
 *
 * Scope. video/ owns FFmpeg input (still images; files, URLs, V4L2 devices
 * through libavdevice and lavfi graphs), the colour conversion to packed RGB24
 * (one libswscale path that honours the source's colour range and matrix, and
 * the rotation stored with the picture), the fixed frame pool, the
 * encoder/muxer for annotated output (with audio and subtitle stream copy),
 * event clips stream-copied from a ring of recent packets, and JPEG snapshots.
 * It knows nothing of the model, SDL or threads other than its own locks and
 * the recorder's writing thread: the pipeline (app/) calls video_read() from
 * its decode thread.
 *
 * Errors: fallible functions return 0 or a negative code (an AVERROR where
 * FFmpeg gave one) and have already printed one line naming the problem to
 * stderr; callers propagate quietly.
 */
#ifndef VDETECT_VIDEO_H
#define VDETECT_VIDEO_H

#include <stdint.h>
#include <stdio.h>

/* ---------------------------------------------------------------- frames -- */

/*
 * One decoded picture, upright, packed RGB24 (R G B bytes, row-major, stride
 * exactly 3 * width, no padding). Plain data: the pool owns rgb; a frame
 * moves between threads by pointer.
 */
struct video_frame {
    uint8_t *rgb;        /* width * height * 3 bytes, 64-byte aligned, pool-owned */
    int width, height;   /* pixels, fixed by the pool */
    int64_t index;       /* 0-based count of frames video_read() returned */
    int64_t pts;         /* presentation time in the stream's time base
                            (video_info.time_base_*); VIDEO_NOPTS if none;
                            continued across a reconnect (see Reconnection) */
    double pts_sec;      /* (pts - stream start) in seconds; NAN if no pts */
    int64_t duration;    /* in the stream's time base; 0 if unknown */
    double capture_time; /* CLOCK_MONOTONIC seconds when the frame became
                            available: when video_read() returns it — for a paced
                            source after the pacing wait, as a camera would have
                            delivered it (video_now() gives the same clock) */
    double decode_time;  /* seconds video_read() spent demuxing, decoding and
                            converting (the pacing wait excluded; a device's or
                            stream's wait for data included) */
};

#define VIDEO_NOPTS INT64_MIN /* == AV_NOPTS_VALUE */

/* CLOCK_MONOTONIC in seconds: the clock of video_frame.capture_time. */
double video_now(void);

/* ------------------------------------------------------------ frame pool -- */

/*
 * A fixed set of frames allocated once by video_pool_open(); nothing is
 * allocated afterwards. It is the free list of the frames in flight: the
 * pipeline's decode thread waits in video_pool_get_wait() when every frame is
 * out (back-pressure with a fixed memory bound) and whoever lets go of a
 * frame last puts it back. get/put are thread-safe (one mutex); a frame from
 * the pool goes back to the same pool exactly once.
 */
struct video_pool;

/* count >= 1 frames of width x height. 0 or a negative code (printed). */
int video_pool_open(struct video_pool **out, int count, int width, int height);
/* A free frame, or NULL when none is free right now (never blocks). */
struct video_frame *video_pool_get(struct video_pool *p);
/* A free frame, waiting until one is put back; NULL once video_pool_stop() ran. */
struct video_frame *video_pool_get_wait(struct video_pool *p);
/* Return f (from this pool, not already free: asserted). Wakes one waiter. */
void video_pool_put(struct video_pool *p, struct video_frame *f);
/* Wake every video_pool_get_wait() caller, now and later, with NULL. */
void video_pool_stop(struct video_pool *p);
/* Frames currently free (a snapshot, for statistics and tests). */
int video_pool_free_count(struct video_pool *p);
/* f's position in p, 0..count-1, fixed for the pool's life (f must be one of
 * p's frames: asserted): lets a caller keep its own data per frame in an
 * array beside the pool. Thread-safe (reads nothing that changes). */
int video_pool_index(const struct video_pool *p, const struct video_frame *f);
/* Free the pool and every frame; all frames must be back (asserted). NULL-safe. */
void video_pool_close(struct video_pool **p);

/* --------------------------------------------------------------- sources -- */

struct video_source;

struct video_source_options {
    /* A file path, a URL (rtsp://, rtmp://, http(s)://, udp://, srt://, ...;
     * RTSP goes over TCP), "/dev/videoN", "webcam" (= /dev/video0),
     * "webcam:N" (= /dev/videoN), or "lavfi:GRAPH" (libavfilter source graph,
     * e.g. "lavfi:testsrc2=size=640x480:rate=30"). Required. */
    const char *input;
    /* Device options (V4L2), NULL for the device's default: pixel format
     * ("mjpeg", "yuyv422", ...), "WxH", frames per second ("30", "30000/1001"). */
    const char *input_format;
    const char *video_size;
    const char *framerate;
    /* Pacing of video_read() to the source's timestamps, like ffmpeg -re.
     *  0: default — lavfi graphs are paced (they are live sources), files are
     *     not (decoded as fast as the caller reads);
     *  1: pace files too (simulates a live source);
     * -1: never pace (lavfi as fast as it computes, for benchmarks).
     * Devices and network streams arrive at their own pace either way. */
    int realtime;
    /* Network streams: seconds without data before video_read() fails
     * (0: 5 s). Also bounds video_open() for URLs. */
    double timeout;
    /* Live sources (network streams, devices; not files or lavfi): when the source
     * delivers nothing for `timeout` seconds or its read fails, close it and open it
     * again with back-off (reconnect_min doubling up to reconnect_max seconds), for
     * as long as it takes, instead of failing. 0: off (today's behaviour).
     * See "Reconnection" below. */
    int reconnect;
    double reconnect_min, reconnect_max;   /* 0: 1 and 30 s */
    /* Optional: told when the source goes down (0) and is back (1); called on the
     * reading thread; must not block. why (down only; NULL when up) says what broke,
     * e.g. "no data for 5 s"; valid during the call only. */
    void (*on_state)(void *ctx, int up, const char *why);
    void *on_state_ctx;
};

struct video_info {
    int width, height;   /* upright picture, after rotation */
    double fps;          /* average frame rate, 0 if unknown */
    int live;            /* 1: camera, network stream or lavfi graph: the
                            pipeline drops the oldest frame when behind;
                            0: a file: back-pressure, nothing dropped */
    int64_t nb_frames;   /* frame count from the container, 0 if unknown */
    double duration;     /* seconds, 0 if unknown */
    int rotation;        /* degrees clockwise the stored picture was turned to
                            be upright: 0, 90, 180 or 270 (a phone's portrait
                            clip, ffprobe "rotation=-90", gives 90) */
    int mirrored;        /* 1 if a mirror was applied too (rare) */
    const char *codec;   /* decoder name, e.g. "h264" */
    const char *format;  /* demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" */
    int time_base_num, time_base_den; /* unit of video_frame.pts/duration */
    int sar_num, sar_den;             /* pixel aspect of the upright picture,
                                         0/1 if unknown */
};

#define VIDEO_EOF 1
/* What video_read()/video_open() return after video_interrupt(): FFmpeg's
 * AVERROR_EXIT, so callers need no FFmpeg header (source.c checks they agree). */
#define VIDEO_INTERRUPTED (-(int)('E' | ('X' << 8) | ('I' << 16) | ((unsigned)'T' << 24)))

/*
 * Open opt->input, find its best video stream, open the decoder and decode
 * the first frame (so video_info is exact; it is handed out by the first
 * video_read()). Registers libavdevice on first use. Returns 0 with *out set,
 * or a negative code with "video INPUT: reason" printed and *out NULL.
 * Not a file with video: "no video stream"; missing file: "No such file or
 * directory"; a URL that does not answer within opt->timeout: "Connection
 * timed out" (or the protocol's own error).
 */
int video_open(struct video_source **out, const struct video_source_options *opt);

/* Valid until video_close(); constant after video_open() (a reconnect does not
 * change it: it describes the stream as first opened). */
const struct video_info *video_source_info(const struct video_source *s);

/*
 * Reconnection (video_source_options.reconnect). It applies to network
 * streams that video_info calls live and to V4L2 devices; files, "-" and lavfi
 * graphs ignore it, and video_open() itself does not retry (a source that is
 * not there at start is an error, as without it). A break is any of:
 *   - no packet for `timeout` seconds (network streams; a V4L2 read blocks in
 *     the kernel, so a device is reconnected when its read fails, e.g. when it
 *     is unplugged);
 *   - a read or decoding error;
 *   - the end of the stream (a camera's stream does not end: a server that
 *     closes the connection is a break too, not VIDEO_EOF).
 * video_read() then closes the demuxer and decoder, calls on_state(ctx, 0, why),
 * prints "video INPUT: why: reconnecting" and opens the input again as
 * video_open() did: the first attempt at once (unless the source broke again
 * less than reconnect_max seconds after coming back: then after the back-off
 * it had reached, "reconnecting in N s"), then after reconnect_min seconds,
 * doubling up to reconnect_max, for as long as it takes. Each attempt gives up
 * after `timeout` seconds without data (stream probing may take a few seconds
 * more while data flows). Failed attempts are printed ("video INPUT: why:
 * reconnecting (attempt 3, next in 4 s)") at most one per attempt and never
 * more often than every 2 s. When a first picture decodes again,
 * on_state(ctx, 1, NULL) is called, "video INPUT: reconnected after N s" is
 * printed, and video_read() returns that picture. video_interrupt() ends the
 * wait at any moment (an attempt or the sleep between two) within about
 * 0.1 s: video_read() returns VIDEO_INTERRUPTED and the source stays down.
 *
 * Across a reconnect:
 *   - video_frame.index keeps counting;
 *   - time continues: the new stream's timestamps (which usually start again,
 *     or from anywhere) are shifted so that its first frame comes after the
 *     last frame before the break by the wall-clock time between the two (at
 *     least one frame duration); video_frame.pts (in video_info's time base),
 *     duration and pts_sec follow, so pts_sec never goes backwards and a
 *     writer's output shows the outage as a pause of its true length. With
 *     reconnect on, a live stream whose timestamps jump back without a break
 *     (a sender restarted faster than `timeout`) is shifted the same way;
 *   - a picture of another size than video_info's (the camera came back at
 *     another resolution, or changed it mid-stream) is scaled to video_info's
 *     width x height — stretched if the aspect differs — with a one-line note,
 *     so the frame pool needs no change (without reconnect a size change is an
 *     error, AVERROR_INPUT_CHANGED);
 *   - stream copy ends: a writer gets the copied streams' packets up to the
 *     break and none after (the new connection's streams need not match), with
 *     a one-line note; a recorder's open clips end at the break, and its ring
 *     starts again with the new connection (see "Event clips");
 *   - video_frame.decode_time of the first frame after it includes the outage.
 */
struct video_health {
    int64_t reconnects;    /* successful re-opens */
    int64_t attempts;      /* re-open attempts, failed or not */
    int down;              /* 1 while disconnected (a break seen, not open again) */
    double down_seconds;   /* time disconnected in total, from each break's
                              detection (`timeout` after the last data, for
                              a stall) to the re-open; the current outage
                              included */
    char last_error[128];  /* why the source last broke or an attempt last
                              failed; "" if never */
};

/* A snapshot of s's reconnection counters (all zero for a source without
 * reconnect, or s NULL). Thread-safe: callable from any thread while another
 * is in video_read() (not from a signal handler). */
void video_source_health(struct video_source *s, struct video_health *h);

/*
 * Decode the next video frame into f (f->rgb from a pool of the source's
 * width x height; asserted), converted to RGB24 and turned upright; fills
 * every field of f. Returns 0; VIDEO_EOF once the input ended and the decoder
 * is drained; or a negative code with one line printed — a stream that stops
 * sending (timeout), a read error, a resolution change mid-stream (not
 * supported yet: AVERROR_INPUT_CHANGED), a decoder failure; with reconnect on,
 * a live source reconnects instead of any of these (see Reconnection) and
 * ends only on video_interrupt() or a picture it cannot convert. A file that
 * ends with damage (truncated, or packets the decoder refused) returns
 * AVERROR_INVALIDDATA at its end instead of VIDEO_EOF; live sources skip
 * damaged packets with a one-time note. After
 * video_interrupt() it returns VIDEO_INTERRUPTED (no message) promptly. Call from
 * one thread at a time.
 *
 * Non-video packets of the streams a writer copies (video_writer_open) are
 * queued inside the source as a side effect; see video_writer_write(). With a
 * recorder attached (video_recorder_open), every video packet demuxed is also
 * handed to it (a reference, under a mutex; never any file I/O).
 */
int video_read(struct video_source *s, struct video_frame *f);

/*
 * Seek a file so that the next video_read() returns the first frame whose
 * time (video_frame.pts_sec) is at or after t seconds (t < 0 counts as 0):
 * the demuxer goes to the keyframe at or before t, the decoder is flushed and
 * the frames before t are decoded and skipped. Past the last frame the next
 * video_read() returns VIDEO_EOF. Frame indices keep counting (index is the
 * number of frames returned, not a position); the pacing clock restarts at
 * the next frame. Returns 0, or a negative code with one line printed:
 * AVERROR(ESPIPE) for a live source ("cannot seek a live source"),
 * AVERROR(EBUSY) while a writer copies streams, the demuxer's error, or a
 * decoding error. Call from the thread that calls video_read(). A recorder's
 * open clips end at the seek (see "Event clips"). The demuxer's seek is as
 * exact as the container: an MPEG-TS file may land a GOP late.
 */
int video_seek(struct video_source *s, double t);

/* Restart the pacing clock (after a pause): the next frame video_read()
 * returns is due at once and the later ones at their pace from there. Call
 * from the thread that calls video_read(). */
void video_pace_reset(struct video_source *s);

/*
 * Make a blocked or future video_read()/video_open() return VIDEO_INTERRUPTED
 * promptly (pacing sleeps, network reads; a V4L2 read returns with the next
 * camera frame). Async-signal-safe and thread-safe: callable from a signal
 * handler. NULL-safe.
 */
void video_interrupt(struct video_source *s);

/* Close and free; NULL-safe, sets *s to NULL. No writer may still use it, and
 * no recorder may be attached (video_recorder_close() first: asserted). */
void video_close(struct video_source **s);

/*
 * --list-devices: one line per V4L2 capture device, "/dev/video0  NAME
 * (driver, bus)". Returns the number of devices (0 prints "no video devices
 * found" to out), or a negative code.
 */
int video_list_devices(FILE *out);

/*
 * --list-formats: the pixel formats, frame sizes and frame rates of device
 * ("/dev/videoN", "webcam", "webcam:N"). 0 or a negative code with
 * "video DEVICE: reason" printed to stderr.
 */
int video_list_formats(const char *device, FILE *out);

/* ---------------------------------------------------------------- writer -- */

/*
 * The annotated-output encoder/muxer. Every field zero gives the defaults.
 */
struct video_writer_options {
    const char *codec; /* encoder name ("libx264", "libx265", "mpeg4", ...);
                          NULL: libx264, else another H.264 encoder, else mpeg4
                          (with a one-line note on stderr) */
    double crf;        /* x264/x265 constant rate factor; <= 0: 23 */
    int64_t bitrate;   /* bits per second; > 0 replaces crf (and is the only
                          rate control for encoders without crf); 0: for
                          encoders without crf, a rate from the picture size */
    int no_copy;       /* 1: video only; 0: copy the source's audio and
                          subtitle streams (stream copy, no re-encode) */
    const char *file;  /* where the bytes go, when not path itself: the caller's
                          partial file, renamed into place by the caller (the
                          container still comes from path's extension); NULL:
                          path. Only for VIDEO_OUT_FILE. */
    const char *format; /* container (muxer) name, as ffmpeg -f: "mpegts",
                           "matroska", "gif", "image2", ...; NULL: from path
                           (video_writer_kind) */
};

/*
 * Where a writer's bytes go, from its path and format (video_writer_kind):
 *   FILE      one file: a regular file (or a FIFO or device path);
 *   SEQUENCE  an image sequence (the image2 muxer): path is a pattern with one
 *             frame number, %d or %0Nd (FFmpeg's), e.g. out/f_%04d.png; frame
 *             k (0-based) goes to the name with number k + 1, each file
 *             written to NAME.tmp and renamed when complete;
 *   PIPE      standard output ("-" or "pipe:1"); needs a format;
 *   URL       a network protocol (udp://, srt://, rtmp://, tcp://, ...),
 *             written by FFmpeg's protocol directly.
 */
enum video_out_kind {
    VIDEO_OUT_FILE = 0,
    VIDEO_OUT_SEQUENCE,
    VIDEO_OUT_PIPE,
    VIDEO_OUT_URL,
};

/*
 * How video_writer_open() would write path with container format (NULL:
 * guessed from the name; for a URL without -f from the protocol: rtmp(s)://
 * gives flv, udp://, srt://, tcp:// and rist:// give mpegts). Fills *kind and,
 * if muxer is not NULL, *muxer with the muxer's name (static). Returns 0, or
 * a negative code with "video PATH: reason" printed: an unknown format or
 * protocol, standard output without a format, an image format without a
 * frame-number pattern, a format that holds no video.
 */
int video_writer_kind(const char *path, const char *format, enum video_out_kind *kind,
                      const char **muxer);

struct video_writer;

/*
 * Crash safety: MP4/MOV are written fragmented (an empty moov up front, a
 * fragment every 200 ms) and Matroska/WebM in 200 ms clusters, every packet
 * handed to the OS as it is muxed, and libx264 looks ahead 10 frames: a
 * process killed mid-run leaves a file that plays up to about the last
 * 200 ms it muxed, missing only the frames still inside the encoder.
 *
 * Create path (container from opt->format, else its extension: .mp4 .m4v
 * .mov .mkv .webm .avi .ts .gif ..., an image pattern such as f_%04d.png, a
 * URL or "-": see video_writer_kind) for frames of src: same upright
 * width x height and pixel aspect, the source's video time base, its audio and
 * subtitle streams (those the container accepts; a note for each skipped).
 * The default encoder is H.264 where the container holds it, else the
 * container's own (GIF: gif in rgb8; image sequences: by extension, png,
 * mjpeg, bmp, ...). Sequences, pipes and URLs are written straight (no
 * opt->file); a sequence never writes onto the source, and an error removes
 * only the frame files this writer created.
 *
 * Orientation: frames are written upright as video_read() returned them and
 * NO rotation metadata is written — the file displays like the input in every
 * player (also those that ignore rotation tags), and the drawn boxes and the
 * JSON coordinates refer to the same pixels.
 *
 * From this call on, src keeps the packets of the copied streams that
 * video_read() demuxes, in a bounded queue (video_writer_copy_stats below;
 * only one writer per source). Open it before video_read() runs on another
 * thread (it reads the source's streams). Returns 0, or a negative
 * code with "video PATH: reason" printed, no file left behind that the writer
 * created (a file that was there before, e.g. opt->file, is never removed).
 */
int video_writer_open(struct video_writer **out, const char *path,
                      const struct video_source *src, const struct video_writer_options *opt);

/*
 * Write the copied-stream packets due before f (those with dts at or before
 * f's time), then encode f (RGB24, the source's size) with its original pts,
 * so timestamps and durations are the input's (variable frame rate safe).
 * Frames must come in the order video_read() returned them; a frame whose pts
 * does not increase is given the next tick. 0 or a negative code (printed).
 * Call from one thread (not necessarily video_read()'s).
 */
int video_writer_write(struct video_writer *w, const struct video_frame *f);

/*
 * Finish: flush the encoder, write the remaining copied packets (all of them
 * if the source reached its end; otherwise those up to the end of the last
 * frame written, so an interrupted run keeps audio and video the same
 * length), write the trailer and close the file. A writer that never got a
 * frame removes its file (if it created it) and returns an error. Returns 0 or a negative code
 * (printed); NULL-safe; sets *w to NULL. Always leaves a playable file when
 * it returns 0 — call it on Ctrl-C too.
 */
int video_writer_close(struct video_writer **w);

/* Error path: close without finishing; delete the file if the writer created
 * it. NULL-safe. */
void video_writer_abort(struct video_writer **w);

/* Frames encoded so far. */
int64_t video_writer_frames(const struct video_writer *w);

/*
 * Stream copy's queue. The packets of the copied streams that video_read()
 * demuxes wait in the source until video_writer_write() reaches their time.
 * In an ordinary file that is a fraction of a second of audio plus the frames
 * in flight in the pipeline; the queue is bounded for the others (a long
 * audio tail after the video ends, audio far ahead of the video, a writer
 * that stalls): at most VIDEO_COPY_MAX_PACKETS packets (4096: ~85 s of AAC
 * at 48 kHz) and VIDEO_COPY_MAX_BYTES of payload. A packet that finds it
 * full is dropped — the queued ones, which the writer needs first, stay — as
 * is one whose AVPacket cannot be allocated; both are counted, nothing is
 * printed: callers report the count (vdetect's run summary and report).
 */
#define VIDEO_COPY_MAX_PACKETS 4096
#define VIDEO_COPY_MAX_BYTES ((int64_t)64 << 20)

struct video_copy_stats {
    int64_t queued;        /* packets kept for the writer */
    int64_t dropped;       /* packets lost: queue full, or out of memory */
    int64_t dropped_nomem; /* of dropped: no memory for the packet */
    int peak_packets;      /* most packets queued at once */
    int64_t peak_bytes;    /* most payload bytes queued at once */
};

/* The copy queue's counters so far, for w's source (all zero if w is NULL).
 * Thread-safe: callable while another thread is in video_read(). */
void video_writer_copy_stats(const struct video_writer *w, struct video_copy_stats *st);

/* ----------------------------------------------------------- event clips -- */

/*
 * A recorder attached to a source keeps the source's recent compressed video
 * packets in a ring — at least pre + margin seconds back from the newest, from
 * a keyframe — and writes clips of them by stream copy: the camera's own
 * packets, byte for byte, no decoding or encoding. A clip starts at a keyframe
 * up to `pre` seconds before its start time and ends when the packets reach
 * its end time; the file plays even if the process is killed mid-clip.
 *
 * Threads. video_read() (the decode thread) hands every video packet it
 * demuxes to the recorder: a reference copied into the ring under the
 * recorder's mutex, nothing else — the decode thread never waits on a disk.
 * The recorder's own thread (one, started by video_recorder_open) does all
 * the file I/O. video_clip_start/stop and video_recorder_stats may be called
 * from any thread.
 *
 * Time. Clip times are stream seconds, video_frame.pts_sec's clock. Each clip's
 * timestamps are shifted to start at 0 (its first packet's decode time); its
 * first packet is a keyframe.
 *
 * Memory. The ring is trimmed a whole GOP at a time, oldest first, once the
 * next GOP alone still reaches pre + margin seconds back — unless a clip has
 * not written it yet. A clip that falls behind (a slow disk) keeps its
 * packets until the ring holds max_bytes: then the oldest GOP is dropped
 * anyway, the clip goes on at the next keyframe (it stays playable, with a
 * jump), and the packets it lost are counted (packets_dropped).
 *
 * Reconnection (video.h "Reconnection"). A clip never spans a break: the
 * new connection's stream need not match the old one, so at a break every open
 * clip ends with what it has (trailer written, a note printed) — it stays in
 * its slot until video_clip_stop() — and the ring starts again at the new
 * connection's first keyframe once its first frame has given the time line.
 * A clip started while the source is down, or asking for packets from before
 * the break, begins at the new connection's first keyframe. The same happens
 * when packet timestamps go back within a connection (a video_seek() on a
 * file, a sender that restarted): a muxer cannot take them in one file.
 */
struct video_recorder;

struct video_recorder_options {
    double pre;          /* s a clip starts before its start time, at the keyframe
                            at or before that point (0: 5; < 0: none) */
    double margin;       /* s kept beyond pre, for how far the caller's start
                            times lag the decode thread (detection time, queued
                            frames; 0: 5; < 0: none) */
    int max_clips;       /* clips open at once (<= 0: 8): video_clip_start()
                            refuses more */
    size_t max_bytes;    /* ring cap (0: 64 MiB): oldest GOPs dropped first */
    const char *format;  /* container (muxer name, as ffmpeg -f). NULL: "mpegts",
                            which plays when cut off anywhere. "matroska" also
                            plays after a kill (a cluster every 200 ms); "mp4" is
                            written fragmented (200 ms fragments) for the same
                            reason; others are allowed but may need their
                            trailer to play */
};

/* The source's video packets are decoded pictures, not compressed data: a
 * lavfi graph, a raw V4L2 format (yuyv422, ...). Nothing to stream-copy. */
#define VIDEO_ERR_NO_PACKETS (-0x4b504e4e)

/*
 * Attach a recorder to src, opened and not yet read by another thread (call it
 * between video_open() and starting the decode thread; a file's or stream's
 * packets demuxed by video_open() itself, from its first keyframe, are kept
 * too). At most one recorder per source (a writer may be attached as well).
 * Checks that the container holds the source's codec, so clips do not fail
 * one by one later. Returns 0 with *out set, or a negative code with "video
 * INPUT: recorder: reason" printed and *out NULL: VIDEO_ERR_NO_PACKETS (a
 * lavfi graph, a raw V4L2 format: "use a compressed camera format such as
 * mjpeg or h264"), AVERROR(EBUSY) (another recorder), an unknown format or
 * one that cannot hold the codec.
 */
int video_recorder_open(struct video_recorder **out, struct video_source *src,
                        const struct video_recorder_options *opt);

/*
 * Start a clip into path, created here exclusively (an existing path is an
 * error: AVERROR(EEXIST), the file untouched). It begins at the keyframe at or
 * before t_start - pre among the packets kept, or at the oldest keyframe kept
 * when they do not reach that far back (or at the next keyframe if none is kept
 * yet). Packets already in the ring are written at once by the recorder's
 * thread, later ones as they arrive. Returns the clip's id (>= 0, never reused
 * by this recorder), or a negative code with "video clip PATH: reason"
 * printed: the path exists or cannot be created, max_clips clips are open
 * (AVERROR(EBUSY)). Any thread.
 */
int video_clip_start(struct video_recorder *r, const char *path, double t_start);

/*
 * End clip id once the packets reach t_end (stream seconds; the caller adds
 * its post-capture): every packet before the first whose decode time is past
 * t_end is written (so every frame shown up to t_end decodes), then the
 * trailer, and the file is closed. Returns at once; the recorder's thread
 * finishes the file when the packets come (or at once if they are in the ring;
 * at the end of a file, when it has written what there is). Calling it again
 * before the clip has ended moves t_end. Returns 0; the clip's error code if it
 * already failed (printed then); AVERROR(ENOENT) with a message for an id that
 * is not open (unknown, or already stopped and ended). Any thread. The clip's
 * slot is free again once it was stopped and has ended.
 */
int video_clip_stop(struct video_recorder *r, int id, double t_end);

struct video_recorder_stats {
    int64_t clips_started;   /* video_clip_start() calls that returned an id */
    int64_t clips_done;      /* clips complete: trailer written, file closed */
    int64_t clips_failed;    /* clips that ended in an error (printed) */
    int clips_open;          /* started and not yet ended */
    int64_t packets_written; /* into clips, all together */
    int64_t packets_dropped; /* packets clips lost: the ring was full before
                                they wrote them (or no memory for one) */
    size_t ring_bytes;       /* payload held in the ring */
    double ring_seconds;     /* its newest packet's decode time minus its oldest
                                keyframe's time, the current connection's */
};

/* A consistent snapshot; all zero for r NULL. Any thread. */
void video_recorder_stats(struct video_recorder *r, struct video_recorder_stats *st);

/*
 * Detach from the source (no more packets come in; safe while the decode
 * thread runs), finish every open clip with what the ring has for it (up to
 * its t_end if stopped; trailer written; a clip that never got a keyframe is
 * removed and counted failed), stop the thread and free everything. Call before
 * video_close() of its source (asserted there). NULL-safe; sets *r to NULL.
 */
void video_recorder_close(struct video_recorder **r);

/*
 * Write a w x h RGB24 picture (rows stride bytes apart, stride >= 3 * w) as a
 * JPEG file (FFmpeg's mjpeg encoder, 4:2:0, full range) for event snapshots.
 * quality 1..100, higher is better (mapped onto mjpeg's quantiser 31..2; <= 0:
 * 90). The file is written to a temporary name beside path and renamed into
 * place only if path does not exist (RENAME_NOREPLACE, else a hard link): an
 * existing path is an error (AVERROR(EEXIST)) and a reader never sees half a
 * picture. Returns 0, or a negative code with "image PATH: reason" printed and
 * nothing left behind. Thread-safe.
 */
int video_write_jpeg(const char *path, const uint8_t *rgb, int w, int h, int stride, int quality);

/*
 * Decode the still image at path (PNG, JPEG, BMP, PPM/PGM, WebP, TIFF, GIF, ...:
 * anything libavformat opens with one picture) into packed
 * RGB24: row-major, 3 bytes per pixel R G B, stride exactly 3 * *width, no
 * padding. The orientation stored with the image (EXIF Orientation, or a
 * display matrix) is applied, so *width x *height is the upright size.
 *
 * On success returns 0 and *rgb is a malloc()ed buffer the caller frees with
 * free(). On failure prints "image PATH: reason" to stderr, returns a negative
 * code and sets *rgb to NULL, *width and *height to 0. Missing files,
 * directories, non-images and corrupt or truncated data are such failures, and
 * so is a file with more than one frame (a video, an animated GIF or PNG):
 * VIDEO_ERR_NOT_STILL, so that a caller can point to a video command.
 * Thread-safe (no shared state besides FFmpeg's own).
 */
int video_load_image(const char *path, uint8_t **rgb, int *width, int *height);
#define VIDEO_ERR_NOT_STILL (-0x4c495453) /* video_load_image: more than one frame */

/*
 * Set FFmpeg's own log level by ffmpeg's -loglevel names ("quiet", "panic",
 * "fatal", "error", "warning", "info", "verbose", "debug", "trace"); NULL means
 * "quiet". vdetect reports FFmpeg errors itself, one line each, so FFmpeg's
 * chatter is off by default. Returns 0, or -1 for an unknown name (nothing
 * printed). Call once at start-up, before any thread starts.
 */
int video_set_log_level(const char *name);

/* "libavformat 59.27.100, libavcodec 59.37.100, ..." of the libraries linked
 * at run time; a static string. */
const char *video_library_versions(void);

#endif
