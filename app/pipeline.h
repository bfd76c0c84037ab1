/*
 * pipeline.h — app/'s private header for the video pipeline (drawn below):
 * the decode and detect threads, the queues between them and the consumer on
 * the main thread (window, encoder or null sink), the per-frame latency
 * figures, and the run report in the bench schema of docs/formats.md §4.
 *
 *   source ─► [decode] ─► frame queue ─► [detect] ─► result queue ─► main thread
 *                 │         (live: DROP_OLDEST,                       (view: window,
 *                 │          files: BLOCK)                             annotate: writer,
 *                 └───────► display queue ───────────────────────────► bench: null)
 *                           (only with display_all)
 *
 * Frames: a fixed set of pipe_frame slots, slot i wrapping frame i of a
 * video_pool allocated at start. The pool is the one free list: free frames
 * wait in it and the decode thread blocks on it (video_pool_get_wait) when
 * every frame is in flight; an abort stops it (video_pool_stop). A slot is in
 * exactly one place at a time, except with display_all where the decode thread hands the
 * same slot to the detect thread and to the display side and an atomic
 * reference count returns it when both are done. Threads share nothing
 * mutable except through these queues and the atomic counters.
 *
 * Frame accounting: decoded = detected + held + still + dropped + seek_skipped,
 * exactly (still: frames --motion found nothing new on), where dropped counts frames evicted by the live queue plus frames
 * still queued when the run was aborted (pipeline_stop(p, PIPE_STOP_ABORT)),
 * and seek_skipped the frames decoded before a seek that the detect thread
 * then had no reason to run on (pipeline_seek; 0 without seeks).
 *
 * Files can also be paused, stepped a frame at a time, sought and looped
 * (view's keys): the decode thread takes these requests between frames.
 */
#ifndef VDETECT_APP_PIPELINE_H
#define VDETECT_APP_PIPELINE_H

#include <stdint.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdio.h>

#include "../model/model.h"
#include "../motion/motion.h"
#include "../publish/publish.h"
#include "../track/track.h"
#include "../render/render.h"
#include "../video/video.h"
#include "app.h"
#include "queue.h"

/* ---- latency histogram (pipeline_stats.c) -------------------------------- */

/* Log-spaced bins 1% wide from 1 µs to ~3 hours: percentiles within 1%, fixed
 * size, no allocation per sample. Owned by one thread at a time. */
#define LAT_BINS 2400
struct lat_hist {
    uint64_t n;
    double sum, min, max;     /* ms */
    uint32_t bins[LAT_BINS];
};

void lat_hist_init(struct lat_hist *h);
void lat_hist_add(struct lat_hist *h, double ms);
/* p in [0, 100]: the nearest-rank percentile (its bin's upper edge, clamped to
 * [min, max]); NAN when empty. */
double lat_hist_pct(const struct lat_hist *h, double p);
double lat_hist_mean(const struct lat_hist *h);

/* ---- the periodic stats log (stats_log.c) ---------------------------------- */

/* One JSON line per interval of a long run (view --stats-log): frames decoded,
 * detected, displayed and dropped in it, latency percentiles over it, RSS at
 * its end. Owned by one thread; the stream is borrowed. */
struct stats_log {
    FILE *f;                  /* NULL: disabled */
    double every;             /* interval, s */
    double start, t0;         /* monotonic s: the run's start, this interval's */
    int64_t decoded, detected, displayed, dropped;   /* run totals at t0 */
    struct lat_hist display;  /* capture->display ms in this interval (caller adds) */
    struct lat_hist result;   /* capture->result ms in this interval (caller adds) */
};

void stats_log_init(struct stats_log *l, FILE *f, double every, double now);
/* With the run's totals so far: writes and flushes a line once every seconds
 * have passed since the last (or, with force, if anything happened since),
 * then starts the next interval. 0, or -1 on a write error. */
int stats_log_tick(struct stats_log *l, double now, int64_t decoded, int64_t detected,
                   int64_t displayed, int64_t dropped, int force);

/* ---- frames ---------------------------------------------------------------- */

enum pipe_dets {
    PIPE_DETS_NONE = 0,   /* no detections attached */
    PIPE_DETS_OWN,        /* the detector ran on this frame */
    PIPE_DETS_HELD,       /* --stride, --detect-fps: the last detected frame's boxes,
                             held (the tracker predicts where they went) */
    PIPE_DETS_STILL,      /* --motion: nothing moved since the last detected frame,
                             whose boxes stand unchanged (the tracker takes them as
                             detections) */
};

struct pipe_frame {
    struct video_frame *vf;        /* pixels and timestamps; from the pipeline's pool */
    struct model_detection *dets;  /* max_dets entries, owned; valid for result items */
    int ndets;                     /* as the model returned them (unfiltered) */
    int *track_ids;                /* max_dets entries, owned; read when tracked */
    int tracked;                   /* 1: --track replaced dets[0..ndets) by the tracks
                                      shown on this frame (main thread, tracking_frame),
                                      track_ids[i] being dets[i]'s identity */
    enum pipe_dets dets_kind;
    int64_t dets_frame;            /* index of the frame the detections belong to */
    double dets_capture_time;      /* its capture time (s, monotonic) */
    double t_result;               /* when the detections were ready (s, monotonic) */
    double detect_ms;              /* the detector's time on this frame (all its calls;
                                      0 when it did not run) */
    unsigned seek_gen;             /* pipeline_seek() requests the decode thread had
                                      applied when it decoded this frame */
    atomic_int refs;               /* pipeline-internal: holders of this slot */
};

/* ---- the pipeline ------------------------------------------------------------ */

/* The detector as the detect thread calls it: model_detect() by default
 * (ctx = the struct model), replaceable by tests. Fills *t with stage times.
 * Like model_detect() it returns 0, or a negative code after printing the one
 * line that says why: the pipeline counts the failure (detect_errors), ends
 * the run with it (pipeline_stats.error) and prints nothing more. */
typedef int (*pipe_detect_fn)(void *ctx, const struct model_image *img,
                              struct model_detection *dets, int max, int *n,
                              struct model_timing *t);

struct pipeline_config {
    struct video_source *src;  /* opened; only the decode thread reads it */
    pipe_detect_fn detect;     /* NULL: model_detect on detect_ctx (a struct model *) */
    void *detect_ctx;
    int max_dets;              /* detections kept per frame, >= 1 */
    int live;                  /* 1: frame queue drops the oldest; 0: back-pressure */
    int queue_len;             /* frame queue capacity; 0: 1 live, 2 file */
    int display_all;           /* also hand every decoded frame to the display side */
    int stride;                /* run the detector on every stride-th frame; 0 or 1: all */
    int64_t max_frames;        /* stop after decoding this many; 0: until the end */
    int warmup;                /* detections on a picture of the source's size that the
                                  detect thread runs before the decode thread starts (its
                                  own per-thread kernels' state made before frame 1);
                                  default detector only */
    int loop;                  /* files: at the end, seek to the start and go on
                                  (max_frames still ends the run) */
    struct gate *gate;         /* --motion, --detect-fps, --object-mask (gate.c), or
                                  NULL: the detector on every frame (stride aside);
                                  used by the detect thread only while it runs */
    /* Called by the worker threads after each item they queue for the main
     * thread and when they close its queues — so a main loop waiting on
     * something else (the window's events) wakes up. Must be thread-safe. */
    void (*notify)(void *ctx);
    void *notify_ctx;
};

/* Counters and distributions of a finished run (pipeline_finish()). */
struct pipeline_stats {
    int64_t decoded;           /* frames video_read() returned */
    int64_t detected;          /* frames the detector ran on */
    int64_t held;              /* --stride / --detect-fps frames given the last detections */
    int64_t still;             /* --motion: frames with nothing new, not detected */
    int64_t calls;             /* detector calls (a frame detected on crops makes one
                                  per crop); == detected without --motion */
    int64_t dropped;           /* evicted by the live queue + discarded at abort */
    int64_t discarded;         /* of dropped: still queued when aborted */
    int64_t display_dropped;   /* display_all: frames the display queue evicted */
    int64_t detect_errors;
    int64_t seek_skipped;      /* decoded before a seek, not detected (see above) */
    int64_t loops;             /* --loop: times the file restarted */
    /* Frames handed towards the consumer that it never took (still queued
     * when the run ended, or the queue was closed): display_all's display
     * queue, and the result queue. */
    int64_t unconsumed_display, unconsumed_results;
    double t_first_capture;    /* capture time of frame 0 (s, monotonic); 0 if none */
    double t_last_capture;     /* of the last decoded frame */
    double t_first_result, t_last_result;
    int queue_len;             /* effective frame queue capacity */
    int frame_queue_peak;
    int live, display_all;
    int interrupted;           /* the source was stopped early (signal, quit, --frames) */
    int error;                 /* 0, or the first worker error (negative) */
    struct lat_hist decode_ms;          /* video_read() wall time per frame */
    struct lat_hist stage_ms[MODEL_STAGES]; /* model_timing fields in order, total last */
    struct lat_hist capture_to_result;  /* ms, per detected frame */
};


struct pipeline;

/* Allocate the pool and queues and start the two threads. 0, or a negative
 * code with a message printed (nothing left running). */
int pipeline_start(struct pipeline **out, const struct pipeline_config *c);

enum pipe_item {
    PIPE_NONE = 0,   /* nothing within the timeout */
    PIPE_RESULT,     /* a frame with its detections (or held ones) */
    PIPE_DISPLAY,    /* display_all: a just-decoded frame for the screen; its
                        dets are not to be read (the detector may be writing them) */
    PIPE_END,        /* the run is over: every queue closed and empty */
};

/* Main thread: the next item for the consumer, waiting up to timeout_ms (<0:
 * forever). With display_all, results come first and timeout_ms must be 0
 * (wait for notify instead). The caller owns *f until pipeline_release(). In
 * PIPE_RESULT items without display_all the caller may draw into f->vf->rgb;
 * with display_all the pixels are shared with the detector: read only. */
enum pipe_item pipeline_next(struct pipeline *p, int timeout_ms, struct pipe_frame **f);
void pipeline_release(struct pipeline *p, struct pipe_frame *f);

enum pipe_stop {
    PIPE_STOP_DRAIN,  /* stop reading; detect what is queued (annotate's Ctrl-C) */
    PIPE_STOP_ABORT,  /* stop reading and discard what is queued (view's quit) */
};
/* Thread-safe and idempotent (ABORT may follow DRAIN). Interrupts the source. */
void pipeline_stop(struct pipeline *p, enum pipe_stop how);

/* ---- files: pause, step, seek (main thread; no-ops' effects on live sources
 * are the caller's to avoid: these are for files) ---- */

/* Pause (1) or resume (0) the decode thread: it stops before reading its
 * next frame (the frames already decoded still go through the detector and
 * reach the consumer) and, on resume, restarts the source's pacing clock
 * (video_pace_reset) so playback goes on from where it stopped instead of
 * catching up. While paused at the end of the input it waits for a seek
 * instead of ending the run; resuming there ends it. */
void pipeline_pause(struct pipeline *p, int paused);
/* While paused: let the decode thread read one more frame. */
void pipeline_step(struct pipeline *p);
/* Ask the decode thread to seek to t seconds (video_seek: the next frame is
 * the first at or after t) before its next frame. Returns the request's
 * number: frames whose seek_gen is lower were decoded before it, and the
 * consumer should release them unseen (the detect thread skips them, counted
 * in seek_skipped). A seek that fails is printed and playback goes on. */
unsigned pipeline_seek(struct pipeline *p, double t);
/* Main thread, display_all: the next detection result only (the display
 * queue left alone, e.g. while paused). PIPE_RESULT or PIPE_NONE. */
enum pipe_item pipeline_next_result(struct pipeline *p, struct pipe_frame **f);

/* Live counters for the HUD, from any thread. */
int64_t pipeline_decoded(struct pipeline *p);
int64_t pipeline_detected(struct pipeline *p);
int64_t pipeline_dropped(struct pipeline *p);
int64_t pipeline_still(struct pipeline *p);
int64_t pipeline_held(struct pipeline *p);
int64_t pipeline_calls(struct pipeline *p);   /* detector calls */
int pipeline_frame_queue_depth(struct pipeline *p);   /* frames waiting for the detector */

/* Stop if still running (ABORT), release what the consumer side still holds
 * in the queues, join both threads and fill *st. Returns st->error. Call once,
 * from the main thread, after the consumer has released every frame it held. */
int pipeline_finish(struct pipeline *p, struct pipeline_stats *st);

/* Frees everything; NULL-safe; nulls *p. Finishes first if needed. */
void pipeline_free(struct pipeline **p);

/* ---- the run report (pipeline_stats.c) ----------------------------------------- */

/* What the consumer adds to the pipeline's figures for the report. */
struct run_report {
    const char *mode;            /* "view", "annotate", "bench-pipeline" */
    const char *source;
    const struct video_info *info;
    const struct pipeline_stats *ps;
    const struct model *model;   /* may be NULL */
    const char *weights;
    int threads;
    const char *engine;        /* the model's GEMM engine (model_engine) */
    const char *precision;     /* and its precision (model_precision) */
    const char *display;         /* "all", "detected", or NULL */
    int64_t displayed;           /* frames presented / written */
    double t_first_display, t_last_display;
    struct lat_hist capture_to_display;
    struct lat_hist draw_ms;     /* render_draw per frame */
    struct lat_hist output_ms;   /* present (view) or encode+write (annotate) */
    const char *output_stage;    /* "display" or "encode" */
    int stream_copy;             /* 1: copy holds the writer's stream-copy counters */
    struct video_copy_stats copy;
    double cpu_ms_per_frame;     /* process CPU time / decoded frames; NAN if not measured */
    struct tracking *tracking;   /* --track: its counts go in the report; NULL: none */
    const struct cli_model *cm;  /* with tracking: the class names */
    const struct gate_stats *gate;   /* --motion / --detect-fps / --object-mask, or NULL */
};

void run_report_init(struct run_report *r);
/* "model name" of /proc/cpuinfo's first processor, else "unknown" (the
 * report's and bench's "machine"). */
void run_cpu_name(char *buf, size_t n);
/* Frames per second over a span of count events; 0 if not measurable. */
double run_rate(int64_t count, double t0, double t1);
/* The report in the bench schema (docs/formats.md §4), one JSON object and a newline. */
void run_report_json(FILE *f, const struct run_report *r);
/* One line: frames, fps, drops, latency p99 (and copied packets dropped, if any). */
void run_report_summary(FILE *f, const struct run_report *r);

/* ---- the consumer loop of annotate and bench (consume.c) ------------------- */

/* What pipeline_consume() does with each detected frame, in this order: hand
 * the model's detections to raw_data(), track (tracking), draw the detections
 * (or tracks) that pass the output filter (style), encode the frame (writer),
 * hand it to data(), count it in the report, then done(). */
struct pipe_consumer {
    const struct cli_model *cm;   /* --score-thresh / --classes, class names */
    struct render_style *style;   /* NULL: frames go out as decoded (--no-draw) */
    struct render_det *rdets;     /* max_dets entries of scratch for drawing */
    int max_dets;
    int stamp;                    /* also draw "frame N  h:mm:ss.mmm" in the corner */
    int stride;                   /* > 1 (--stride): every drawn frame's stamp says
                                     "detected" or "held from frame K" */
    struct video_writer *writer;  /* NULL: the null sink */
    /* The frame's data outputs, once it is encoded; negative fails the run
     * after printing why. NULL: none. */
    int (*data)(void *ctx, const struct pipe_frame *f);
    /* Before tracking replaces the detections by tracks: the outputs that
     * want the model's own (COCO results). NULL: none. */
    int (*raw_data)(void *ctx, const struct pipe_frame *f);
    struct tracking *tracking;    /* --track, or NULL */
    int gated;                    /* a gate chooses the frames: stamp them as --stride */
    struct events *events;        /* per-object events after tracking, or NULL */
    /* After the frame was counted (rep->displayed includes it); t_out is when
     * it was written. For per-frame series and progress. NULL: none. */
    void (*done)(void *ctx, const struct pipe_frame *f, double t_out);
    /* Called when no frame came for a while (at most every 200 ms), e.g. while
     * a source reconnects. NULL: none. */
    void (*idle)(void *ctx);
    void *ctx;
};

/* Main thread: every result until PIPE_END, each through c and released.
 * Signals: the first stops the pipeline with PIPE_STOP_DRAIN (the queued
 * frames still come through), the second with PIPE_STOP_ABORT. Adds to rep's
 * draw_ms, output_ms, capture_to_display, displayed and display times.
 * With a writer, rep->copy gets its stream-copy counters at the end (when
 * the decode thread has stopped reading at PIPE_END). Returns 0 at PIPE_END,
 * or -1 after a draw, encode or data failure (printed) with the pipeline
 * aborted. pipeline_finish() comes next either way. */
int pipeline_consume(struct pipeline *p, const struct pipe_consumer *c, struct run_report *rep);

/* ---- the pipeline benchmark (bench_pipeline.c) ------------------------------ */

struct bench_pipeline_opts {
    struct video_source_options so;   /* input and device options; realtime */
    struct video_writer_options wo;
    const char *out;                  /* -o: encode to this file; NULL: null sink */
    const char *json, *plot;          /* report files or NULL ("-": stdout for json) */
    int64_t frames;                   /* stop after this many decoded; 0: whole source */
    long warmup;                      /* untimed detections before the run */
    int live;                         /* queue policy: 1 drop oldest, 0 block, -1 source's */
    int queue_len;                    /* 0: the pipeline's default */
    int no_draw;
    int overwrite;                    /* -y (the files were checked by the caller) */
    const struct tracking_options *to;   /* --track and its options, or NULL */
    const struct gate_options *go;       /* --motion etc., or NULL */
};

/* Run and report; the model is loaded here (after the source opened). Returns
 * an APP_ status. */
int bench_pipeline(struct cli_model *cm, const struct bench_pipeline_opts *o);

/* ---- --track (tracking.c) ----------------------------------------------------- */

#define TRACKING_MAX_LINES 8
struct tracking_options {
    int on;                          /* --track (or implied by the others) */
    struct track_params params;      /* defaults + --track-set */
    float lines[TRACKING_MAX_LINES][4];   /* --count-line X1,Y1,X2,Y2 */
    int nlines;
    const char *mot_path;            /* --mot FILE (annotate) or NULL */
    struct motion_polygon zones[MOTION_MAX_ZONES];   /* --zone NAME=x1,y1,... */
    int nzones;
    struct opt opts[6];              /* the options as a table, for opt_parse/opt_help */
};
/* Defaults and the option table (with_mot: list --mot too). */
void tracking_options_init(struct tracking_options *to, int with_mot);
/* After parsing: --mot implies --track; the parameters checked together.
 * APP_OK or APP_USAGE (printed). */
int tracking_options_done(struct tracking_options *to, const char *cmd);

struct tracking;
/* *t = NULL when tracking is off. fps: the source's rate (the lost-track age
 * is in its seconds); nclasses: the model's; max_dets: entries of a frame's
 * dets. Opens --mot (checked by the caller against the Files rules).
 * APP_OK or APP_FAIL (printed). */
int tracking_open(struct tracking **t, const struct tracking_options *to, const char *cmd,
                  double fps, int width, int height, int nclasses, int max_dets,
                  int overwrite);
/* The count lines (x1, y1, x2, y2), to draw. Returns how many. NULL-safe. */
int tracking_lines(const struct tracking *t, const float (**lines)[4]);
/* Main thread, each result frame in order, before it is drawn or written: its
 * detections become the tracks shown on it (f->tracked, f->track_ids); counts,
 * lines, trails and --mot follow. NULL t: nothing. 0, or -1 (printed). */
int tracking_frame(struct tracking *t, const struct cli_model *cm, struct pipe_frame *f);
/* The recent paths of the tracks shown on the last frame tracked (valid until
 * the next call). Returns how many. */
int tracking_trails(struct tracking *t, const struct cli_model *cm,
                    const struct render_trail **out);
/* HUD lines: "tracks N (3 red circle, ...)" and one per count line (at most
 * 2), its crossings named by their motion on the screen ("3 right, 2 left"). */
const char *tracking_hud(struct tracking *t, const struct cli_model *cm);
/* The end summary's tracking lines ("CMD: N distinct tracks (...); tracker X ms
 * per frame", one per count line). */
void tracking_summary(FILE *f, struct tracking *t, const struct cli_model *cm);
/* {"distinct": N, "per_class": {...}, "lines": [...], "ms_per_frame": X} */
void tracking_json(FILE *f, struct tracking *t, const struct cli_model *cm);
/* The tracker's time per frame (ms). */
const struct lat_hist *tracking_times(const struct tracking *t);
/* --zone's state (zones.c), or NULL without zones (or tracking). */
struct zoning *tracking_zoning(struct tracking *t);
/* Rename --mot's file into place. 0 or -1 (printed). NULL-safe. */
int tracking_commit(struct tracking *t);
void tracking_close(struct tracking **t);

/* ---- --zone (zones.c): owned by the tracking above ------------------------------- */

struct zoning;
/* *z = NULL when n == 0. max_objects: tracks per frame at most. APP_OK or APP_FAIL. */
int zoning_open(struct zoning **z, const struct motion_polygon *zones, int n, int max_objects);
void zoning_close(struct zoning **z);
/* The tracks shown on a frame, in frame order. 0, or -1 (printed). NULL z: 0. */
int zoning_update(struct zoning *z, const struct track_out *shown, int n);
/* The last update's events: [{"zone": NAME, "track_id": ID, "event": "enter"|"exit"}]. */
void zoning_events_json(FILE *f, const struct zoning *z);
int zoning_nevents(const struct zoning *z);
/* The zones to outline (occupied ones marked). Returns how many. */
int zoning_render(const struct zoning *z, const struct render_zone **out);
/* "\nzone NAME: I inside, N in, M out" per zone (at most 3) into buf; its length. */
int zoning_hud(const struct zoning *z, char *buf, size_t size);
/* "CMD: zone NAME: I inside, N in, M out", one line per zone. */
void zoning_summary(FILE *f, const char *cmd, const struct zoning *z);
/* [{"name": NAME, "entries": N, "exits": M, "inside": I}, ...] */
void zoning_json(FILE *f, const struct zoning *z);
/* How many zones (0 for NULL), zone i's name, the zones track id is in now (bit i). */
int zoning_count(const struct zoning *z);
const char *zoning_name(const struct zoning *z, int i);
unsigned zoning_of(const struct zoning *z, int id);

/* ---- per-object clips and snapshots (clips.c) ------------------------------------ */

struct clips_options {
    const char *dir;           /* --clips DIR, or NULL: none */
    const char *camera;
    double pre, post;          /* --pre-capture, --post-capture (s) */
};
struct clips;
/* *c = NULL without a dir. Attaches video/'s recorder to src: call between
 * video_open() and pipeline_start(). APP_OK or APP_FAIL (printed). */
int clips_open(struct clips **c, const struct clips_options *o, struct video_source *src,
               const struct cli_model *cm, int width, int height);
/* Main thread, from events.c: an object appeared (t: stream s, wall: Unix s),
 * was seen on vf (keeps the best snapshot), went (its clip ends post s after t). */
void clips_object_new(struct clips *c, int id, int label, double t, double wall);
void clips_object_seen(struct clips *c, int id, const float box[4], float score,
                       const struct video_frame *vf);
void clips_object_end(struct clips *c, int id, double t);
/* "CMD: clips in DIR: N started, N complete, N snapshots" (NULL c: nothing). */
void clips_summary(FILE *f, const char *cmd, const struct clips *c);
/* Finish every clip with what there is, detach the recorder, free. Before
 * video_close() of the source. NULL-safe. */
void clips_close(struct clips **c);

/* ---- per-object events and counts (events.c) ------------------------------------ */

struct events_options {
    const char *camera;        /* the camera's name in events and topics */
    double update_every;       /* s between updates of an unchanged-but-moving object; 0: 5 */
    double end_after;          /* s unseen before an object's "end"; 0: 1 */
};
struct events;
/* zones: the tracking's (may be NULL); pub: where to publish (may be NULL); file:
 * --events stream (may be NULL; borrowed, named file_name in errors). */
int events_open(struct events **e, const struct events_options *o, const struct cli_model *cm,
                struct zoning *zones, struct publisher *pub, FILE *file,
                const char *file_name);
/* Objects' clips and snapshots follow their events (NULL: none). */
void events_set_clips(struct events *e, struct clips *c);
void events_close(struct events **e);
/* Main thread, each tracked frame in order (after tracking_frame). 0, or -1 (printed). */
int events_frame(struct events *e, const struct pipe_frame *f);
/* The run ends: "end" for every object still present. 0 or -1 (printed). */
int events_finish(struct events *e);
/* Events sent so far: new, update, end. */
void events_counts(const struct events *e, long sent[3]);

/* ---- which frames the detector runs on (gate.c) ----------------------------------- */

struct gate_options {
    int motion;                      /* --motion (or implied by --motion-set/-mask) */
    double detect_fps;               /* --detect-fps N; 0: no cap */
    double recheck;                  /* s between re-detections of still objects */
    struct motion_params params;     /* defaults + --motion-set */
    int region_min_set;              /* region_min_* given: else the model's min_size */
    struct motion_polygon motion_masks[MOTION_MAX_ZONES];
    int nmotion_masks;
    struct motion_polygon object_masks[MOTION_MAX_ZONES];
    int nobject_masks;
    struct opt opts[7];              /* the options as a table (--config listed too) */
};
void gate_options_init(struct gate_options *go);
/* After parsing: the motion parameters checked together. APP_OK or APP_USAGE. */
int gate_options_done(struct gate_options *go, const char *cmd);
/* 1 when any of them asks for a gate. */
int gate_options_on(const struct gate_options *go);

/* What the gate did, for reports (read after the pipeline finished). */
struct gate_stats {
    long frames;            /* frames the gate was asked about */
    long detected;          /* of them, run through the detector (whole or crops) */
    long still, held;       /* nothing new (--motion); capped (--detect-fps) */
    long calls;             /* detector calls: full_calls + region_calls */
    long full_calls, region_calls;
    double gflops;          /* the detector's work over its calls (model_gflops of each
                               input: deterministic, unlike CPU time) */
    long motion_frames;     /* frames with motion boxes */
    long recalibrations;    /* motion/'s background restarts on a global change */
    struct lat_hist motion_ms;   /* motion_detect per frame */
};

struct gate;
/* *g = NULL when no option asks for one. The model gives the crops' minimum
 * size (its min_size) and their cost; width x height is the stream's frame.
 * APP_OK or APP_FAIL (printed). */
int gate_open(struct gate **g, const struct gate_options *go, const struct model *m, int width,
              int height, int max_dets);
void gate_close(struct gate **g);
enum { GATE_DETECTED = 0, GATE_STILL = 1, GATE_HELD = 2, GATE_ERROR = -1000 };
/*
 * Detect thread, each frame it would detect: runs detect on the frame or on
 * crops of it, or not at all. Writes the frame's detections (at most max_dets)
 * to dets (*n of them), the summed stage times to *t, and the frame the detections come
 * from (with its capture time). Returns GATE_DETECTED, GATE_STILL, GATE_HELD,
 * GATE_ERROR (printed) or the detector's negative code (it printed).
 */
int gate_frame(struct gate *g, const struct video_frame *vf, pipe_detect_fn detect, void *ctx,
               struct model_detection *dets, int *n, struct model_timing *t,
               int64_t *from_frame, double *from_capture);
/* Detector calls so far (the detect thread's, or after it joined). */
long gate_calls(const struct gate *g);
/* Its figures; all zero for NULL. */
void gate_get_stats(const struct gate *g, struct gate_stats *s);
/* "CMD: gating: N of M frames run through the detector ..." (NULL s: nothing). */
void gate_summary(FILE *f, const char *cmd, const struct gate_stats *s);
/* {"frames": .., "detected": .., "still": .., "held": .., "share_not_detected": ..,
 *  "detector_calls": .., "region_calls": .., "full_calls": .., "motion_frames": ..,
 *  "recalibrations": .., "motion_ms_mean": .., "calls_per_video_second": ..,
 *  "gflops_per_video_second": .., "cpu_per_video_second": ..} — per second of
 *  video at the source's fps. */
void gate_json(FILE *f, const struct gate_stats *s, double fps, double cpu_ms_per_frame);

/* ---- shared by view and annotate (pipeline_draw.c) ---------------------------- */

/* The detections that pass --score-thresh / --classes, as render/ wants them
 * (names point into cm; valid while it lives), in the model file's class
 * colours when it has them. With track_ids (a tracked frame's) every entry is
 * a track: all are kept, each with its identity (and, without class colours,
 * its identity's colour). Returns how many (<= max). */
int app_render_dets(const struct cli_model *cm, const struct model_detection *d, int n,
                    const int *track_ids, struct render_det *out, int max);
/* Detections per frame the loaded model can return. */
int app_max_dets(const struct cli_model *cm);
/* Can the loaded model take this source's frames? Checked once when the
 * stream opens, before any output is opened. APP_OK, or APP_FAIL after one
 * line "video SOURCE: <why, with the accepted range>". */
int app_check_frame_size(const struct cli_model *cm, const char *source,
                         const struct video_info *info);

/* ---- --metrics ADDR:PORT (metrics_http.c) ---------------------------------------- */

/*
 * A small HTTP/1.x server on its own thread for Prometheus to scrape: GET (or
 * HEAD) /metrics answers with what render() writes, in the text exposition
 * format 0.0.4; / points there; anything else is 404, 405 or 400. One client
 * at a time, each closed after its answer (Connection: close) and given at
 * most 2 s in all, so a silent or trickling client delays the others by 2 s at
 * worst. The server thread blocks every signal.
 */
struct metrics_server;
/*
 * Parse addr_port — "ADDR:PORT" (an IPv4 address or a host name: its first
 * address that binds), "[IPV6]:PORT", or ":PORT" / "PORT" for every interface
 * (IPv6 and IPv4 when the machine has IPv6) — bind it (SO_REUSEADDR), listen,
 * and start the thread. Port 0 takes a free one (metrics_port). render(ctx,
 * buf, cap) writes the body into buf and returns its length; it is called on
 * the server thread for each request (HEAD included), so it must be
 * thread-safe against the rest of the program. When the body needs more than
 * cap bytes it returns the size it needs (what it wrote is ignored) and is
 * called again with a buffer that large, up to 4 MiB (more: 500). APP_OK with
 * *m set, or APP_FAIL after one line "metrics ADDR: why" (bad syntax, cannot
 * resolve, port in use, permission denied, not an address of this machine)
 * with *m = NULL.
 */
int metrics_open(struct metrics_server **m, const char *addr_port,
                 size_t (*render)(void *ctx, char *buf, size_t cap), void *ctx);
/* The port actually bound (with port 0: the one the system chose). */
int metrics_port(const struct metrics_server *m);
/* Stop the thread (at once, or after the render() under way), close the
 * sockets, free. A connected client sees its connection closed. NULL-safe;
 * nulls *m. */
void metrics_close(struct metrics_server **m);

/*
 * Writing the body in render(): a text builder over render()'s buffer that
 * never writes past cap but counts every byte the text needs in len, so
 * render() returns t.len whether or not it fitted. buf holds the first
 * min(len, cap) bytes, with a NUL after them when there is room.
 *
 * Names must match [a-zA-Z_:][a-zA-Z0-9_:]* (label names no ':'): they are
 * the program's constants, so a bad one is a bug (APP_ASSERT). Label values
 * and help texts may be anything: they are escaped as the format wants (a
 * backslash as \\, a newline as \n, and in label values a double quote as
 * \"). Values print as the shortest decimal that reads back the same, NaN,
 * +Inf or -Inf. Labels are NULL or a NULL-terminated list of name, value
 * pairs: (const char *const[]){ "stream", "cam0", "class", "person", NULL }.
 */
struct metrics_text {
    char *buf;      /* cap bytes, borrowed */
    size_t cap;
    size_t len;     /* bytes written so far, counting those that did not fit */
};
enum metrics_type { METRICS_GAUGE, METRICS_COUNTER, METRICS_SUMMARY, METRICS_UNTYPED };

void metrics_text_init(struct metrics_text *t, char *buf, size_t cap);
/* "# HELP name help
" (not with help NULL) and "# TYPE name type
": once
 * per metric, before its samples. */
void metrics_family(struct metrics_text *t, const char *name, enum metrics_type type,
                    const char *help);
/* One sample: "name{l1=\"v1\",l2=\"v2\"} value\n" ("name value\n" without
 * labels). Several after one metrics_family(): one per label set. */
void metrics_sample(struct metrics_text *t, const char *name, const char *const *labels,
                    double value);
/* A metric with one sample: metrics_family() and metrics_sample(). Counter
 * names end in _total by Prometheus's convention (the caller's to follow). */
void metrics_gauge(struct metrics_text *t, const char *name, const char *help,
                   const char *const *labels, double value);
void metrics_counter(struct metrics_text *t, const char *name, const char *help,
                     const char *const *labels, double value);
/* The samples of a summary from a latency histogram in ms, in seconds:
 * name{labels,quantile="0.5"|"0.9"|"0.99"} (NaN when empty), name_sum and
 * name_count. After metrics_family(t, name, METRICS_SUMMARY, help); h is read
 * only (a copy, when another thread owns it). */
void metrics_summary_ms(struct metrics_text *t, const char *name, const char *const *labels,
                        const struct lat_hist *h);

#endif
