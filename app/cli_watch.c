/*
 * cli_watch.c — `vdetect watch`: a camera without a window, the way operators
 * run one per camera: decode, detect (gated with --motion / --detect-fps),
 * track, zones, and per-object events to --events FILE and an MQTT broker
 * (--mqtt), Prometheus metrics (--metrics), timestamped log lines, systemd's
 * readiness and watchdog (service.c). A live source that stalls or breaks is
 * reconnected with back-off; the run ends on SIGINT/SIGTERM or at the end of
 * a file (read at its own frame rate, as a camera would deliver it, unless
 * --fast).
 *
 * Threads: the pipeline's decode and detect threads, the publisher's network
 * thread, the metrics server's thread, and this main thread, which consumes
 * results in frame order (tracking, zones, events) and keeps the figures the
 * metrics thread reads (under a mutex: struct watch_figures).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "pipeline.h"

static const char watch_help[] =
    "Usage: vdetect watch [model options] SOURCE [options]\n"
    "\n"
    "Watch a camera (/dev/videoN, webcam[:N], rtsp://..., udp://..., any URL FFmpeg\n"
    "reads; or a file, read at its own frame rate as a camera would deliver it)\n"
    "without a window: detect, track and count, and report per-object events\n"
    "(new, update, end, with zones) as JSON Lines (--events) and to an MQTT broker\n"
    "(--mqtt), with Prometheus metrics (--metrics) and a log line per --stats-every\n"
    "seconds on stderr. Tracking is always on. A live source that stops sending or\n"
    "breaks is reopened with back-off (1 s doubling to 30 s) and the broker hears\n"
    "the camera go offline and online. Runs until Ctrl-C / SIGTERM (or the end of\n"
    "a file); under systemd it tells readiness and pings the watchdog\n"
    "(scripts/vdetect@.service). Topics and schemas: docs/formats.md §8.\n"
    "\n"
    "Options:\n"
    "%s"
    "\n"
    "Tracking options:\n"
    "%s"
    "\n"
    "Motion options:\n"
    "%s"
    "\n"
    "Model options:\n"
    "%s"
    "\n"
    "Exit status: 0 done (end of a file), 1 error, 2 bad usage, 130 stopped by a\n"
    "signal (the normal end of a camera's run).\n";

/* What the metrics thread reads; the main thread writes it, both under lock. */
struct watch_figures {
    int64_t decoded, detected, still, held, dropped, calls;
    double source_fps, detect_fps, skip_fps;   /* over the last second or so */
    struct lat_hist inference;           /* detector ms per detected frame, last interval */
    int queue_depth;                     /* frames waiting for the detector */
    double latency_p50, latency_p99;     /* capture -> output, ms, last window */
    long events[3];
    long reconnects;
    int source_up;
    struct publish_stats pub;
    int have_pub;
    int nclasses;
    int objects[256];                    /* tracks shown on the last frame, per class */
};

struct watch {
    struct cli_model cm;
    struct tracking_options to;
    struct gate_options go;
    struct video_source_options so;
    const char *source, *camera, *events_path, *mqtt_url, *metrics_addr;
    double stats_every, update_every;
    const char *clips_dir;
    double pre_capture, post_capture;
    int mqtt_queue;
    long long max_frames;
    int fast, quiet, overwrite, no_reconnect, append;
    char camera_buf[64];

    struct video_source *src;
    const struct video_info *info;
    struct tracking *trk;
    struct gate *gate;
    struct events *events;
    struct clips *clips;
    struct publisher *pub;
    struct metrics_server *metrics;
    FILE *events_file;
    int events_is_stdout;
    struct pipeline *p;

    pthread_mutex_t lock;
    struct watch_figures fig;
    double t_start, t_next_stats, t_rate;
    int64_t rate_decoded, rate_detected;
    struct lat_hist window;              /* capture -> output since the last stats */
    struct lat_hist infer_window;        /* detector ms since the last stats */
    int64_t rate_skipped;
    atomic_int source_up;
    atomic_long reconnects;
    int broker_up;                       /* -1 unknown, 0 down, 1 up (as last logged) */
    int64_t stats_dropped;               /* dropped frames at the last stats */
};

/* ---- the log: one line per event worth a human's attention, with the time ---- */

static void wlog(const struct watch *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wlog(const struct watch *w, const char *fmt, ...)
{
    if (w->quiet)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[768];
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ vdetect watch %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, w->camera);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}

/* ---- options -------------------------------------------------------------------------- */

static int opt_source(void *ctx, const char *cmd, const char *arg)
{
    struct watch *w = ctx;
    if (w->source)
        return app_usage_error(cmd, "more than one SOURCE given ('%s', '%s')", w->source, arg);
    w->source = arg;
    return APP_OK;
}

/* A name for topics and logs from the source: "front-door" from rtsp://.../front-door,
 * "video0" from /dev/video0, "clip" from clip.mp4. [A-Za-z0-9_-] only. */
static void camera_from_source(const char *src, char *buf, size_t size)
{
    const char *base = src;
    for (const char *s = src; *s; s++)
        if ((*s == '/' || *s == ':') && s[1])
            base = s + 1;
    size_t n = 0;
    for (const char *s = base; *s && *s != '.' && *s != '?' && n + 1 < size; s++)
        buf[n++] = (char)((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                          (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ? *s : '_');
    buf[n] = '\0';
    if (!n)
        snprintf(buf, size, "camera");
}

static int check_camera(const char *cmd, const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > 63)
        return app_usage_error(cmd, "--camera: '%s': 1 to 63 characters wanted", name);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return app_usage_error(cmd, "--camera: '%s': letters, digits, '-' and '_' only "
                                        "(it becomes an MQTT topic level)", name);
    }
    return APP_OK;
}

static int parse_args(struct watch *w, int argc, char **argv)
{
    const char *cmd = "watch";
    struct opt source_opts[CLI_SOURCE_NOPTS];
    cli_source_options(source_opts, &w->so);
    const struct opt opts[] = {
        { .name = "--camera", .arg = "NAME", .kind = OPT_STRING, .dest = &w->camera,
          .help = "the camera's name in events, topics and the log\n"
                  "(default: from SOURCE, e.g. front-door from\n"
                  "rtsp://host/front-door)" },
        { .name = "--events", .arg = "FILE|-", .kind = OPT_STRING, .dest = &w->events_path,
          .help = "per-object events as JSON Lines, flushed one by one" },
        { .name = "--append", .kind = OPT_FLAG, .dest = &w->append,
          .help = "add to an existing --events file instead of refusing\n"
                  "it (a camera's log across restarts)" },
        { .name = "--mqtt", .arg = "URL", .kind = OPT_STRING, .dest = &w->mqtt_url,
          .help = "mqtt://[USER[:PASS]@]HOST[:PORT][/PREFIX]: publish\n"
                  "PREFIX/events, PREFIX/CAMERA/counts, .../stats and\n"
                  ".../available (online/offline, with a will) to an\n"
                  "MQTT broker (default prefix vdetect); a broker that\n"
                  "is down is retried, messages meanwhile queued\n"
                  "(1000; the oldest dropped and counted)" },
        { .name = "--mqtt-queue", .arg = "N", .kind = OPT_INT, .dest = &w->mqtt_queue, .lo = 1,
          .hi = 1000000,
          .help = "messages held for a broker that is away (default\n"
                  "1000); beyond, the oldest are dropped and counted" },
        { .name = "--metrics", .arg = "ADDR:PORT", .kind = OPT_STRING, .dest = &w->metrics_addr,
          .help = "serve Prometheus metrics at http://ADDR:PORT/metrics\n"
                  "(e.g. 127.0.0.1:9101, or :9101 for every address)" },
        { .name = "--clips", .arg = "DIR", .kind = OPT_STRING, .dest = &w->clips_dir,
          .help = "a video clip per object, stream-copied from the\n"
                  "source (no re-encode; MPEG-TS, plays even if cut\n"
                  "off), and its best snapshot as JPEG:\n"
                  "DIR/CAMERA-TIME-LABEL-ID.ts/.jpg (DIR is made)" },
        { .name = "--pre-capture", .arg = "S", .kind = OPT_DOUBLE, .dest = &w->pre_capture,
          .lo = 0, .hi = 60,
          .help = "seconds of video before the object appeared (from\n"
                  "the keyframe before; default 5)" },
        { .name = "--post-capture", .arg = "S", .kind = OPT_DOUBLE, .dest = &w->post_capture,
          .lo = 0, .hi = 600, .help = "seconds after it went (default 5)" },
        { .name = "--stats-every", .arg = "S", .kind = OPT_DOUBLE, .dest = &w->stats_every,
          .lo = 1, .hi = 86400,
          .help = "seconds between stats (log line, stats topic;\n"
                  "default 60)" },
        { .name = "--update-every", .arg = "S", .kind = OPT_DOUBLE, .dest = &w->update_every,
          .lo = 0.1, .hi = 86400,
          .help = "at most one update event per object per S seconds\n"
                  "when only its box or score changed (default 5; label\n"
                  "and zone changes are sent at once)" },
        { .name = "--timeout", .arg = "S", .kind = OPT_DOUBLE, .dest = &w->so.timeout,
          .lo = 0.2, .hi = 3600,
          .help = "seconds without data before a live source counts as\n"
                  "down and is reopened (default 5)" },
        { .name = "--no-reconnect", .kind = OPT_FLAG, .dest = &w->no_reconnect,
          .help = "end when a live source breaks instead of reopening it" },
        { .name = "--fast", .kind = OPT_FLAG, .dest = &w->fast,
          .help = "read a file as fast as the detector goes instead of\n"
                  "at its frame rate" },
        { .name = "--frames", .arg = "N", .kind = OPT_LLONG, .dest = &w->max_frames, .lo = 1,
          .hi = 2000000000, .help = "stop after N frames" },
        { .kind = OPT_TABLE, .sub = source_opts },
        { .short_name = 'y', .kind = OPT_FLAG, .dest = &w->overwrite,
          .help = "replace an --events file that exists" },
        { .name = "--quiet", .short_name = 'q', .kind = OPT_FLAG, .dest = &w->quiet,
          .help = "no log lines (errors still go to stderr)" },
        { .name = "--help", .short_name = 'h', .kind = OPT_HELP, .help = "show this help" },
        { .kind = OPT_END },
    };
    const struct opt *const tables[] = { opts, w->to.opts, w->go.opts, w->cm.opts, NULL };
    int r = opt_parse(cmd, argc, argv, tables, opt_source, w);
    if (r == OPT_HELP_ASKED)
        opt_help(stdout, watch_help, tables);
    if (r != APP_OK)
        return r;
    w->to.on = 1;
    if ((r = tracking_options_done(&w->to, cmd)) != APP_OK ||
        (r = gate_options_done(&w->go, cmd)) != APP_OK)
        return r;
    if (!w->source)
        return app_usage_error(cmd, "no SOURCE given");
    if (!w->camera) {
        camera_from_source(w->source, w->camera_buf, sizeof w->camera_buf);
        w->camera = w->camera_buf;
    } else if ((r = check_camera(cmd, w->camera)) != APP_OK) {
        return r;
    }
    if (w->mqtt_url) {
        struct publish_url u;
        char msg[300];
        if (publish_parse_url(w->mqtt_url, &u, msg, sizeof msg) < 0)
            return app_usage_error(cmd, "--mqtt: %s", msg);
    }
    if (w->append && w->overwrite)
        return app_usage_error(cmd, "--append and -y: add to the --events file, or replace it?");
    struct out_check c;
    out_check_init(&c, cmd, w->overwrite || w->append);
    if (w->events_path && strcmp(w->events_path, "-") &&
        (r = out_check_output(&c, "--events", w->events_path)) != APP_OK)
        return r;
    if ((r = out_check_input(&c, "SOURCE", w->source)) != APP_OK ||
        (r = out_check_model(&c, &w->cm)) != APP_OK || (r = out_check_done(&c)) != APP_OK)
        return r;
    return APP_OK;
}

/* ---- figures, stats and metrics ----------------------------------------------------- */

static void on_source_state(void *ctx, int up, const char *why)
{
    struct watch *w = ctx;   /* the decode thread: nothing here may block */
    atomic_store(&w->source_up, up);
    if (up)
        atomic_fetch_add(&w->reconnects, 1);
    if (w->pub) {
        char topic[128];
        snprintf(topic, sizeof topic, "%s/available", w->camera);
        publish_send(w->pub, topic, up ? "online" : "offline", up ? 6 : 7, 1);
    }
    wlog(w, up ? "source back: %s" : "source down (%s): reconnecting", up ? w->source : why ? why : "no data");
}

static void stats_json(struct watch *w, char *buf, size_t size)
{
    const struct watch_figures *g = &w->fig;
    snprintf(buf, size,
             "{\"camera\": \"%s\", \"uptime_s\": %.1f, \"source_fps\": %.2f, \"detect_fps\": "
             "%.2f, \"frames\": {\"decoded\": %lld, \"detected\": %lld, \"still\": %lld, "
             "\"held\": %lld, \"dropped\": %lld}, \"detector_calls\": %lld, "
             "\"latency_ms\": {\"p50\": %.1f, \"p99\": %.1f}, \"events\": {\"new\": %ld, "
             "\"update\": %ld, \"end\": %ld}, \"source_up\": %s, \"reconnects\": %ld, "
             "\"mqtt\": {\"connected\": %s, \"sent\": %ld, \"dropped\": %ld, \"queued\": %d}}",
             w->camera, video_now() - w->t_start, g->source_fps, g->detect_fps,
             (long long)g->decoded, (long long)g->detected, (long long)g->still,
             (long long)g->held, (long long)g->dropped, (long long)g->calls,
             isfinite(g->latency_p50) ? g->latency_p50 : 0.0,
             isfinite(g->latency_p99) ? g->latency_p99 : 0.0, g->events[0], g->events[1],
             g->events[2], g->source_up ? "true" : "false", g->reconnects,
             g->have_pub && g->pub.connected ? "true" : "false", g->have_pub ? g->pub.sent : 0,
             g->have_pub ? g->pub.dropped : 0, g->have_pub ? g->pub.queue_len : 0);
}

/* Main thread, after each frame: the figures (every ~second) and the stats. */
static void update_figures(struct watch *w, const struct pipe_frame *f, double t_out)
{
    lat_hist_add(&w->window, (t_out - f->vf->capture_time) * 1e3);
    if (f->dets_kind == PIPE_DETS_OWN)
        lat_hist_add(&w->infer_window, f->detect_ms);
    double now = video_now();
    if (now - w->t_rate < 1.0 && now < w->t_next_stats)
        return;
    int64_t dec = pipeline_decoded(w->p), det = pipeline_detected(w->p);
    int64_t skipped = pipeline_still(w->p) + pipeline_held(w->p);
    pthread_mutex_lock(&w->lock);
    struct watch_figures *g = &w->fig;
    double dt = now - w->t_rate;
    if (dt > 0) {
        g->source_fps = (double)(dec - w->rate_decoded) / dt;
        g->detect_fps = (double)(det - w->rate_detected) / dt;
        g->skip_fps = (double)(skipped - w->rate_skipped) / dt;
    }
    g->queue_depth = pipeline_frame_queue_depth(w->p);
    g->decoded = dec;
    g->detected = det;
    g->still = pipeline_still(w->p);
    g->held = pipeline_held(w->p);
    g->dropped = pipeline_dropped(w->p);
    g->calls = pipeline_calls(w->p);
    events_counts(w->events, g->events);
    g->source_up = atomic_load(&w->source_up);
    g->reconnects = atomic_load(&w->reconnects);
    if (w->pub) {
        publish_get_stats(w->pub, &g->pub);
        g->have_pub = 1;
    }
    memset(g->objects, 0, sizeof g->objects);
    for (int i = 0; f->tracked && i < f->ndets; i++)
        if (f->dets[i].label >= 0 && f->dets[i].label < 256)
            g->objects[f->dets[i].label]++;
    int stats_due = now >= w->t_next_stats;
    int broker_up = g->have_pub ? g->pub.connected : -1;
    char broker_why[160];
    snprintf(broker_why, sizeof broker_why, "%s", g->have_pub ? g->pub.last_error : "");
    if (stats_due) {
        g->latency_p50 = lat_hist_pct(&w->window, 50);
        g->latency_p99 = lat_hist_pct(&w->window, 99);
        g->inference = w->infer_window;
    }
    char buf[1024];
    if (stats_due)
        stats_json(w, buf, sizeof buf);
    pthread_mutex_unlock(&w->lock);
    w->t_rate = now;
    w->rate_decoded = dec;
    w->rate_detected = det;
    w->rate_skipped = skipped;
    /* the broker's state when it changes (at start, after a moment to connect) */
    if (broker_up >= 0 && broker_up != w->broker_up &&
        (broker_up || w->broker_up == 1 || now - w->t_start > 3)) {
        if (broker_up)
            wlog(w, "broker %s: connected", w->mqtt_url);
        else
            wlog(w, "broker %s: not connected (%s): retrying; events wait in the queue",
                 w->mqtt_url, broker_why[0] ? broker_why : "no answer yet");
        w->broker_up = broker_up;
    }
    if (stats_due) {
        int64_t dropped = pipeline_dropped(w->p);
        if (dropped > w->stats_dropped)
            wlog(w, "warning: falling behind: %lld frames dropped in the last %.0f s (the "
                 "detector is slower than the source; try --detect-fps or --motion)",
                 (long long)(dropped - w->stats_dropped), w->stats_every);
        w->stats_dropped = dropped;
        lat_hist_init(&w->window);
        lat_hist_init(&w->infer_window);
        w->t_next_stats = now + w->stats_every;
        wlog(w, "stats %s", buf);
        if (w->pub) {
            char topic[128];
            snprintf(topic, sizeof topic, "%s/stats", w->camera);
            publish_send(w->pub, topic, buf, strlen(buf), 0);
        }
        service_status("%s: %.1f fps, %lld detected, %ld events", w->camera, g->source_fps,
                       (long long)det, g->events[0]);
    }
}

static size_t render_metrics(void *ctx, char *buf, size_t cap)
{
    struct watch *w = ctx;   /* the metrics thread */
    struct watch_figures g;
    pthread_mutex_lock(&w->lock);
    g = w->fig;
    pthread_mutex_unlock(&w->lock);
    struct metrics_text t;
    metrics_text_init(&t, buf, cap);
    const char *cam = w->camera;
    const char *const by_cam[] = { "camera", cam, NULL };
    static const char *const kinds[] = { "decoded", "detected", "still", "held", "dropped" };
    const int64_t counts[] = { g.decoded, g.detected, g.still, g.held, g.dropped };
    metrics_family(&t, "vdetect_frames_total", METRICS_COUNTER,
                   "Frames by what happened to them (decoded = detected + still + held + "
                   "dropped).");
    for (int i = 0; i < 5; i++)
        metrics_sample(&t, "vdetect_frames_total",
                       (const char *const[]){ "camera", cam, "kind", kinds[i], NULL },
                       (double)counts[i]);
    metrics_counter(&t, "vdetect_detector_calls_total",
                    "Detector calls (a frame detected on crops makes one per crop).", by_cam,
                    (double)g.calls);
    metrics_family(&t, "vdetect_fps", METRICS_GAUGE, "Frames per second over the last second.");
    metrics_sample(&t, "vdetect_fps", (const char *const[]){ "camera", cam, "stage", "source", NULL },
                   g.source_fps);
    metrics_sample(&t, "vdetect_fps", (const char *const[]){ "camera", cam, "stage", "detect", NULL },
                   g.detect_fps);
    metrics_sample(&t, "vdetect_fps", (const char *const[]){ "camera", cam, "stage", "skip", NULL },
                   g.skip_fps);
    metrics_family(&t, "vdetect_inference_seconds", METRICS_SUMMARY,
                   "The detector's time per detected frame, over the last stats interval.");
    metrics_summary_ms(&t, "vdetect_inference_seconds", by_cam, &g.inference);
    metrics_gauge(&t, "vdetect_frame_queue", "Frames waiting for the detector.", by_cam,
                  g.queue_depth);
    metrics_family(&t, "vdetect_latency_ms", METRICS_GAUGE,
                   "Capture to output latency over the last stats interval.");
    metrics_sample(&t, "vdetect_latency_ms",
                   (const char *const[]){ "camera", cam, "quantile", "0.5", NULL }, g.latency_p50);
    metrics_sample(&t, "vdetect_latency_ms",
                   (const char *const[]){ "camera", cam, "quantile", "0.99", NULL }, g.latency_p99);
    metrics_gauge(&t, "vdetect_source_up", "1 while the source delivers.", by_cam, g.source_up);
    metrics_counter(&t, "vdetect_source_reconnects_total",
                    "Times the source was reopened after a break.", by_cam, (double)g.reconnects);
    static const char *const types[] = { "new", "update", "end" };
    metrics_family(&t, "vdetect_events_total", METRICS_COUNTER, "Per-object events sent.");
    for (int i = 0; i < 3; i++)
        metrics_sample(&t, "vdetect_events_total",
                       (const char *const[]){ "camera", cam, "type", types[i], NULL },
                       (double)g.events[i]);
    metrics_family(&t, "vdetect_objects", METRICS_GAUGE,
                   "Tracked objects on the last frame, per class.");
    for (int c = 0; c < 256 && c < g.nclasses; c++) {
        if (!g.objects[c])
            continue;
        const char *name = cli_model_class_name(&w->cm, c);
        char id[24];
        snprintf(id, sizeof id, "class %d", c);
        metrics_sample(&t, "vdetect_objects",
                       (const char *const[]){ "camera", cam, "label", name ? name : id, NULL },
                       g.objects[c]);
    }
    if (g.have_pub) {
        metrics_gauge(&t, "vdetect_mqtt_connected", "1 while connected to the broker.", by_cam,
                      g.pub.connected);
        metrics_counter(&t, "vdetect_mqtt_sent_total", "Messages the broker took.", by_cam,
                        (double)g.pub.sent);
        metrics_counter(&t, "vdetect_mqtt_dropped_total",
                        "Messages dropped (queue full while the broker was away).", by_cam,
                        (double)g.pub.dropped);
        metrics_gauge(&t, "vdetect_mqtt_queue", "Messages waiting for the broker.", by_cam,
                      g.pub.queue_len);
    }
    return t.len;
}

/* ---- the run ------------------------------------------------------------------------- */

static void watch_frame_done(void *ctx, const struct pipe_frame *f, double t_out)
{
    struct watch *w = ctx;
    update_figures(w, f, t_out);
    service_watchdog();
}

static void watch_idle(void *ctx)
{
    struct watch *w = ctx;
    pthread_mutex_lock(&w->lock);
    w->fig.source_up = atomic_load(&w->source_up);
    w->fig.reconnects = atomic_load(&w->reconnects);
    pthread_mutex_unlock(&w->lock);
    service_watchdog();   /* a source reconnecting for long is no hang */
}

/* A camera that is not there yet (booting, a network not up) is waited for, with
 * back-off, as one that breaks later is: not a file, not lavfi, reconnect on. */
static int open_source(struct watch *w)
{
    struct stat st;
    int camera = !w->no_reconnect && strncmp(w->source, "lavfi:", 6) &&
                 (stat(w->source, &st) < 0 || S_ISCHR(st.st_mode));
    double wait = 1;
    for (int attempt = 1;; attempt++) {
        if (video_open(&w->src, &w->so) == 0)
            return 0;
        if (!camera || signals_pending())
            return -1;
        atomic_store(&w->source_up, 0);
        wlog(w, "source not available (attempt %d): retrying in %.0f s", attempt, wait);
        service_status("%s: waiting for %s", w->camera, w->source);
        for (double t = 0; t < wait; t += 0.1) {
            if (signals_pending())
                return -1;
            service_watchdog();
            struct timespec ts = { 0, 100000000 };
            nanosleep(&ts, NULL);
        }
        wait = wait * 2 > 30 ? 30 : wait * 2;
    }
}

static int open_outputs(struct watch *w)
{
    char msg[300];
    if (w->events_path) {
        if (!strcmp(w->events_path, "-")) {
            w->events_file = stdout;
            w->events_is_stdout = 1;
        } else if (!(w->events_file = fopen(w->events_path, w->append ? "a" : w->overwrite ? "w"
                                                                                  : "wx"))) {
            return app_error("--events %s: %s", w->events_path, strerror(errno));
        }
    }
    if (w->mqtt_url) {
        char avail[128];
        snprintf(avail, sizeof avail, "%s/available", w->camera);
        struct publish_options po = { .url = w->mqtt_url, .availability = avail,
                                      .queue_max = w->mqtt_queue };
        if (publish_open(&w->pub, &po, msg, sizeof msg) < 0)
            return app_error("--mqtt %s: %s", w->mqtt_url, msg);
    }
    if (w->metrics_addr && metrics_open(&w->metrics, w->metrics_addr, render_metrics, w) != APP_OK)
        return APP_FAIL;
    return APP_OK;
}

int cmd_watch(int argc, char **argv)
{
    const char *cmd = "watch";
    struct watch *w = calloc(1, sizeof *w);
    struct pipeline_stats *ps = calloc(1, sizeof *ps);
    struct run_report *rep = calloc(1, sizeof *rep);
    int status = APP_OK, sig_installed = 0, lock_init = 0;
    if (!w || !ps || !rep) {
        free(w);
        free(ps);
        free(rep);
        return app_error("out of memory");
    }
    w->stats_every = 60;
    w->update_every = 5;
    w->pre_capture = 5;
    w->post_capture = 5;
    cli_model_init(&w->cm, argc);
    tracking_options_init(&w->to, 0);
    gate_options_init(&w->go);
    atomic_init(&w->source_up, 1);
    atomic_init(&w->reconnects, 0);
    lat_hist_init(&w->window);
    lat_hist_init(&w->infer_window);
    lat_hist_init(&w->fig.inference);
    w->broker_up = -1;
    if (pthread_mutex_init(&w->lock, NULL) != 0) {
        status = app_error("cannot create a lock");
        goto done;
    }
    lock_init = 1;

    int r = parse_args(w, argc, argv);
    if (r != APP_OK) {
        status = r == OPT_HELP_ASKED ? APP_OK : r;
        goto done;
    }
    if (signals_install() == 0)
        sig_installed = 1;
    w->so.input = w->source;
    w->so.realtime = w->fast ? -1 : 1;   /* a file as a camera delivers it */
    w->so.reconnect = !w->no_reconnect;
    w->so.on_state = on_source_state;
    w->so.on_state_ctx = w;
    if ((status = open_outputs(w)) != APP_OK)
        goto done;
    wlog(w, "starting: %s", w->source);
    if (open_source(w) < 0) {
        status = signals_pending() ? APP_INTERRUPTED : APP_FAIL;
        goto done;
    }
    signals_set_source(w->src);
    w->info = video_source_info(w->src);
    if ((status = cli_model_load(&w->cm, cmd)) != APP_OK ||
        (status = app_check_frame_size(&w->cm, w->source, w->info)) != APP_OK)
        goto done;
    struct clips_options co = { .dir = w->clips_dir, .camera = w->camera,
                                .pre = w->pre_capture, .post = w->post_capture };
    if ((status = clips_open(&w->clips, &co, w->src, &w->cm, w->info->width,
                             w->info->height)) != APP_OK)
        goto done;
    int max_dets = app_max_dets(&w->cm);
    w->fig.nclasses = model_num_classes(w->cm.model);
    if ((status = tracking_open(&w->trk, &w->to, cmd, w->info->fps, w->info->width,
                                w->info->height, model_num_classes(w->cm.model), max_dets,
                                w->overwrite)) != APP_OK ||
        (status = gate_open(&w->gate, &w->go, w->cm.model, w->info->width, w->info->height,
                            max_dets)) != APP_OK)
        goto done;
    struct events_options eo = { .camera = w->camera, .update_every = w->update_every };
    /* events always: the metrics and the summary count them even with no output */
    if ((status = events_open(&w->events, &eo, &w->cm, tracking_zoning(w->trk), w->pub,
                              w->events_file, w->events_path)) != APP_OK)
        goto done;
    events_set_clips(w->events, w->clips);
    struct pipeline_config pc = {
        .src = w->src,
        .gate = w->gate,
        .detect_ctx = w->cm.model,
        .max_dets = max_dets,
        /* a camera, or a file read like one: the newest frame matters, drops are
         * counted; a file read --fast: back-pressure, nothing dropped */
        .live = w->info->live || !w->fast,
        /* room for the frames that arrive while the detector runs: with a rate cap
         * or motion gating most frames pass through in a millisecond, so the
         * queue drains between detections instead of dropping (latency stays
         * bounded by it: 8 frames) */
        .queue_len = 8,
        .max_frames = w->max_frames,
    };
    if (signals_pending() || pipeline_start(&w->p, &pc) < 0) {
        status = signals_pending() ? APP_INTERRUPTED : APP_FAIL;
        goto done;
    }
    w->t_start = w->t_rate = video_now();
    w->t_next_stats = w->t_start + w->stats_every;
    run_report_init(rep);
    wlog(w, "watching %s: %dx%d at %.2f fps, model %s, %d thread%s%s%s", w->source,
         w->info->width, w->info->height, w->info->fps, model_arch(w->cm.model), w->cm.threads,
         w->cm.threads == 1 ? "" : "s", w->gate ? ", gated" : "",
         w->pub ? ", publishing" : "");
    service_ready("%s: watching %s", w->camera, w->source);
    struct pipe_consumer pcon = {
        .cm = &w->cm, .max_dets = max_dets, .tracking = w->trk, .events = w->events,
        .gated = w->gate != NULL, .done = watch_frame_done, .idle = watch_idle, .ctx = w,
    };
    int failed = pipeline_consume(w->p, &pcon, rep) < 0;
    service_stopping();
    if (pipeline_finish(w->p, ps) < 0)
        failed = 1;
    if (events_finish(w->events) < 0)
        failed = 1;
    long ev[3];
    events_counts(w->events, ev);
    struct gate_stats gs;
    gate_get_stats(w->gate, &gs);
    rep->mode = "watch";
    rep->source = w->source;
    rep->info = w->info;
    rep->ps = ps;
    rep->output_stage = "events";
    rep->gate = w->gate ? &gs : NULL;
    if (!w->quiet) {
        run_report_summary(stderr, rep);
        tracking_summary(stderr, w->trk, &w->cm);
        gate_summary(stderr, cmd, rep->gate);
        fprintf(stderr, "watch: %ld events (%ld new, %ld update, %ld end)", ev[0] + ev[1] + ev[2],
                ev[0], ev[1], ev[2]);
        if (w->pub) {
            struct publish_stats st;
            publish_get_stats(w->pub, &st);
            fprintf(stderr, "; mqtt: %ld sent, %ld dropped, %ld connects", st.sent, st.dropped,
                    st.connects);
            if (st.queue_len + st.in_flight)
                fprintf(stderr, ", %d not yet delivered (given 2 s more now; what is left "
                        "then is lost)", st.queue_len + st.in_flight);
        }
        fputc('\n', stderr);
    }
    if (!w->quiet)
        clips_summary(stderr, cmd, w->clips);
    clips_close(&w->clips);   /* every clip finished with what there is */
    status = failed ? APP_FAIL : signals_pending() ? APP_INTERRUPTED : APP_OK;
    wlog(w, "stopped (%s)", status == APP_INTERRUPTED ? "signal" : status == APP_OK ? "end of "
         "input" : "error");

done:
    pipeline_free(&w->p);
    metrics_close(&w->metrics);
    events_close(&w->events);
    clips_close(&w->clips);
    publish_close(&w->pub, 2.0);
    if (w->events_file && !w->events_is_stdout && fclose(w->events_file) != 0 &&
        status == APP_OK)
        status = app_error("--events %s: %s", w->events_path, strerror(errno));
    tracking_close(&w->trk);
    gate_close(&w->gate);
    signals_set_source(NULL);
    video_close(&w->src);
    if (sig_installed)
        signals_restore();
    cli_model_free(&w->cm);
    if (lock_init)
        pthread_mutex_destroy(&w->lock);
    free(w);
    free(ps);
    free(rep);
    return status;
}
