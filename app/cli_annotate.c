/*
 * cli_annotate.c — `vdetect annotate [model] SOURCE -o OUT [--json FILE]
 * [--coco FILE] ...`: every frame of a video through the detector, drawn
 * (render/'s off-screen drawing, the same as the window) and re-encoded with
 * its source timestamps by video/'s writer, which also stream-copies audio.
 *
 * The pipeline runs with back-pressure whatever the source: no frame is
 * dropped, so output frames = input frames and JSON lines = frames. The main
 * thread is the consumer: draw, encode, write the data, report progress.
 *
 * Files (README.md "Files", outfile.c): every output is checked against every input
 * and the other outputs before anything is opened, an existing one needs -y,
 * and each is written to NAME.partial-XXXXXX.EXT and renamed into place when
 * the run ends cleanly. -o may also be what that does not fit, written
 * straight by the writer (video_writer_kind): an image sequence (every name
 * its pattern can produce is checked like a file; on an error only the frame
 * files this run created are removed), standard output (-o - -f FORMAT) or a
 * network URL (udp://, srt://, rtmp://: a stream, nothing to rename or take
 * back).
 *
 * Ctrl-C / SIGTERM: stop reading, let the queued frames through, flush the
 * encoder and write the trailer, close the JSON arrays — a playable file and
 * whole JSON lines, renamed into place — and exit 130. A second signal stops
 * waiting for the queued frames but still finishes and renames the files; a
 * third exits at once, leaving the partial files. Those (and a SIGKILL's)
 * stay usable: the video is fragmented MP4 or clustered Matroska (writer.c),
 * the JSON Lines are flushed per frame, the COCO array lacks only its "]".
 * Errors (unreadable or corrupt input, unwritable outputs, encoder failure):
 * one line on stderr, exit 1, and every partial file of the run removed.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "pipeline.h"

static const char annotate_help[] =
    "Usage: vdetect annotate [model options] SOURCE -o OUT [options]\n"
    "\n"
    "Run the detector on every frame of SOURCE (a file, URL, /dev/videoN or\n"
    "lavfi:GRAPH) and write OUT with the detections drawn: same size, pixel aspect\n"
    "and timestamps as the input (variable frame rate kept), the container from\n"
    "OUT's extension (.mp4 .mkv .mov .ts .gif ...) or -f, audio and subtitle streams\n"
    "copied without re-encoding. No frame is dropped: the pipeline waits for the\n"
    "detector. OUT may also be an image sequence (out/f_%%04d.png: f_0001.png,\n"
    "f_0002.png, ...), - for standard output (with -f, e.g. -f mpegts) or a URL\n"
    "(udp://HOST:PORT and srt://... as mpegts, rtmp://... as flv, or -f).\n"
    "With --stride N the frames between detections show the last boxes and their\n"
    "stamp (bottom left) says \"held from frame K\"; detected frames say \"detected\".\n"
    "\n"
    "Options:\n"
    "%s"
    "\n"
    "Tracking options (with --stride N the tracker moves the boxes on the frames\n"
    "between detections; the JSON lines carry \"track_id\"; --coco keeps the\n"
    "model's own detections):\n"
    "%s"
    "\n"
    "Motion options (the detector only where and when something moves; the\n"
    "summary and --stats-json say how many frames and calls it took):\n"
    "%s"
    "\n"
    "Model options:\n"
    "%s"
    "\n"
    "Outputs are written as NAME.partial-XXXXXX.EXT beside NAME and renamed into\n"
    "place when complete; an output may not be an input. Image sequences, standard\n"
    "output and URLs are written straight (an existing frame file needs -y). At\n"
    "the end a summary: frames, fps, detection time per frame, the outputs written.\n"
    "A run killed outright\n"
    "leaves its partial files: the video plays up to the last ~0.2 s it wrote,\n"
    "the JSON Lines are whole lines, the COCO array lacks only its closing ].\n"
    "Ctrl-C: finish the queued frames and the files; twice: finish the files\n"
    "now; three times: exit at once.\n"
    "\n"
    "Exit status: 0 done, 1 error (partial outputs removed), 2 bad usage (an\n"
    "output that exists without -y, or that is an input), 130 interrupted\n"
    "(outputs finished and playable).\n";

struct annotate {
    struct cli_model cm;
    struct tracking_options to;
    struct tracking *trk;
    struct gate_options go;
    struct gate *gate;
    const char *source, *out_path, *json_path, *coco_path, *stats_path;
    struct video_source_options so;
    struct video_writer_options wo;
    int no_draw, stamp, quiet, queue_len, overwrite;
    long stride;
    long long max_frames;

    struct video_source *src;
    struct video_writer *writer;
    struct render_style *style;
    struct outfile *out_file, *json_file, *coco_file, *stats_file;
    FILE *json, *coco;          /* their streams */
    int coco_first;
    int64_t coco_records;       /* COCO results written */
    enum video_out_kind out_kind; /* how -o is written (video_writer_kind) */
    const char *muxer;          /* -o's container, e.g. "mp4", "image2" */
    struct render_det *rdets;
    int max_dets;
};

/* --bitrate: "4M", "800k", "2500000" → bits per second. */
static int opt_bitrate(void *dest, const char *cmd, const char *opt, const char *s)
{
    int64_t *out = dest;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v <= 0)
        goto bad;
    if (*end == 'k' || *end == 'K')
        v *= 1e3, end++;
    else if (*end == 'M' || *end == 'm')
        v *= 1e6, end++;
    if (*end || v < 1000 || v > 1e10)
        goto bad;
    *out = (int64_t)v;
    return APP_OK;
bad:
    return app_usage_error(cmd, "%s: expected bits per second such as 4M or 800k, got '%s'", opt,
                           s);
}

static void write_dets_json(FILE *o, const struct cli_model *cm,
                            const struct model_detection *d, int n, const int *track_ids)
{
    fputs("[", o);
    int first = 1;
    for (int i = 0; i < n; i++) {
        if (!track_ids && !cli_model_keep(cm, &d[i]))   /* tracks: the tracker decided */
            continue;
        fputs(first ? "{\"box\": [" : ", {\"box\": [", o);
        first = 0;
        for (int k = 0; k < 4; k++) {
            if (k)
                fputs(", ", o);
            json_put_float(o, d[i].box[k]);
        }
        fprintf(o, "], \"label\": %d, \"name\": ", d[i].label);
        json_put_string(o, cli_model_class_name(cm, d[i].label));
        fputs(", \"score\": ", o);
        json_put_float(o, d[i].score);
        if (track_ids)
            fprintf(o, ", \"track_id\": %d", track_ids[i]);
        fputc('}', o);
    }
    fputs("]", o);
}


/* One frame's JSON line, flushed whole so an interrupted run ends on a line. */
static int write_json_line(struct annotate *a, const struct pipe_frame *f)
{
    FILE *o = a->json;
    const struct video_frame *vf = f->vf;
    fprintf(o, "{\"frame\": %lld, \"pts\": ", (long long)vf->index);
    json_put_time(o, vf->pts_sec);
    fprintf(o, ", \"width\": %d, \"height\": %d, \"detections\": ", vf->width, vf->height);
    write_dets_json(o, &a->cm, f->dets, f->ndets, f->tracked ? f->track_ids : NULL);
    if (f->dets_kind == PIPE_DETS_HELD)
        fprintf(o, ", \"held\": true, \"held_from\": %lld", (long long)f->dets_frame);
    else if (f->dets_kind == PIPE_DETS_STILL)
        fprintf(o, ", \"still\": true, \"still_from\": %lld", (long long)f->dets_frame);
    if (tracking_zoning(a->trk)) {
        fputs(", \"zone_events\": ", o);
        zoning_events_json(o, tracking_zoning(a->trk));
    }
    fputs("}\n", o);
    if (fflush(o) != 0 || ferror(o)) {
        app_error("json %s: write error: %s", a->json_path, strerror(errno));
        return -1;
    }
    return 0;
}

/* COCO results keep every detection the model returned (its own
 * box_score_thresh already applied): AP integrates over the whole
 * precision-recall curve, and a cut at the drawing threshold (--score-thresh)
 * would lower it. Only --classes, an explicit choice of classes, applies. */
static int write_coco(struct annotate *a, const struct pipe_frame *f)
{
    if (f->dets_kind != PIPE_DETS_OWN)
        return 0;
    FILE *o = a->coco;
    for (int i = 0; i < f->ndets; i++) {
        const struct model_detection *d = &f->dets[i];
        if (!cli_model_keep_class(&a->cm, d->label))
            continue;
        a->coco_records++;
        fprintf(o, "%s\n{\"image_id\": %lld, \"category_id\": %d, \"bbox\": [",
                a->coco_first ? "" : ",", (long long)f->vf->index, d->label);
        a->coco_first = 0;
        json_put_float(o, d->box[0]);
        fputs(", ", o);
        json_put_float(o, d->box[1]);
        fputs(", ", o);
        json_put_float(o, d->box[2] - d->box[0]);
        fputs(", ", o);
        json_put_float(o, d->box[3] - d->box[1]);
        fputs("], \"score\": ", o);
        json_put_float(o, d->score);
        fputs("}", o);
    }
    /* whole records on disk, so a killed run's partial array only lacks "]" */
    if (fflush(o) != 0 || ferror(o)) {
        app_error("coco %s: write error: %s", a->coco_path, strerror(errno));
        return -1;
    }
    return 0;
}

static void progress(const struct annotate *a, int64_t done, int64_t total, double t0,
                     int final)
{
    double el = video_now() - t0, fps = el > 0 ? done / el : 0;
    fprintf(stderr, "\rannotate: %lld", (long long)done);
    if (total > 0) {
        double pc = 100.0 * (double)done / (double)total;
        fprintf(stderr, "/%lld frames (%.0f%%)", (long long)total, pc > 100 ? 100 : pc);
    } else {
        fputs(" frames", stderr);
    }
    fprintf(stderr, ", %.1f fps", fps);
    if (total > 0 && fps > 0 && !final) {
        double eta = (double)(total - done) / fps;
        if (eta < 0)
            eta = 0;
        fprintf(stderr, ", ETA %d:%02d", (int)eta / 60, (int)eta % 60);
    }
    fputs(final ? "          \n" : "    ", stderr);
    (void)a;
}

/* pipeline_consume()'s callbacks: the data outputs, then the progress line. */
struct annotate_progress {
    struct annotate *a;
    const struct run_report *rep;
    int show;
    int64_t total;
    double t0, next;
};

static int annotate_data(void *ctx, const struct pipe_frame *f)
{
    struct annotate *a = ((struct annotate_progress *)ctx)->a;
    if (a->json && write_json_line(a, f) < 0)
        return -1;
    return 0;
}

/* COCO results are the model's detections (scored as such), also with --track. */
static int annotate_raw_data(void *ctx, const struct pipe_frame *f)
{
    struct annotate *a = ((struct annotate_progress *)ctx)->a;
    if (a->coco && write_coco(a, f) < 0)
        return -1;
    return 0;
}

static void annotate_done(void *ctx, const struct pipe_frame *f, double t_out)
{
    struct annotate_progress *pg = ctx;
    (void)f;
    if (pg->show && t_out >= pg->next) {
        progress(pg->a, pg->rep->displayed, pg->total, pg->t0, 0);
        pg->next = t_out + 0.5;
    }
}

static int opt_source(void *ctx, const char *cmd, const char *arg)
{
    struct annotate *a = ctx;
    if (a->source)
        return app_usage_error(cmd, "more than one SOURCE given ('%s', '%s')", a->source, arg);
    a->source = arg;
    return APP_OK;
}

/* APP_OK, APP_USAGE (message printed) or OPT_HELP_ASKED (help printed). */
static int parse_args(struct annotate *a, int argc, char **argv)
{
    const char *cmd = "annotate";
    double crf = -1;
    struct opt source_opts[CLI_SOURCE_NOPTS];
    cli_source_options(source_opts, &a->so);
    const struct opt opts[] = {
        { .name = "--output", .short_name = 'o', .arg = "OUT", .kind = OPT_STRING,
          .dest = &a->out_path,
          .help = "the annotated video (required): a file, an image\n"
                  "pattern (f_%04d.png), - (standard output, needs -f)\n"
                  "or a URL (udp://, srt://, rtmp://, ...)" },
        { .name = "--format", .short_name = 'f', .arg = "NAME", .kind = OPT_STRING,
          .dest = &a->wo.format,
          .help = "the container, as ffmpeg -f names it (mpegts,\n"
                  "matroska, nut, mp4, flv, gif, image2, ...); default:\n"
                  "from OUT's name" },
        { .name = "--json", .arg = "FILE", .kind = OPT_STRING, .dest = &a->json_path,
          .help = "detections as JSON Lines, one line per frame:\n"
                  "{\"frame\": i, \"pts\": seconds, \"width\": W, \"height\": H,\n"
                  " \"detections\": [{\"box\": [x1, y1, x2, y2], \"label\": 1,\n"
                  " \"name\": \"person\", \"score\": 0.98}, ...]}\n"
                  "with --track each detection adds \"track_id\": ID;\n"
                  "frames that hold the boxes of an earlier frame (--stride,\n"
                  "--detect-fps) add \"held\": true, \"held_from\": FRAME, and\n"
                  "frames --motion found still \"still\": true, \"still_from\":\n"
                  "FRAME; with --zone, \"zone_events\": [...]; pts in seconds,\n"
                  "to the microsecond (e.g. 15.36)" },
        { .name = "--coco", .arg = "FILE", .kind = OPT_STRING, .dest = &a->coco_path,
          .help = "detections as COCO results: [{\"image_id\": FRAME,\n"
                  "\"category_id\": LABEL, \"bbox\": [x, y, w, h], \"score\": S}]\n"
                  "(frames the detector ran on): every detection the\n"
                  "model returns, down to its box_score_thresh, not cut\n"
                  "at --score-thresh (which would lower the AP); --classes\n"
                  "applies" },
        { .name = "--no-draw", .kind = OPT_FLAG, .dest = &a->no_draw,
          .help = "write the frames unchanged (data only)" },
        { .name = "--stride", .arg = "N", .kind = OPT_LONG, .dest = &a->stride, .lo = 1,
          .hi = 1000000,
          .help = "run the detector on every Nth frame and hold its boxes\n"
                  "on the frames in between (default 1); the stamp in the\n"
                  "corner then says \"detected\" or \"held from frame K\"" },
        { .name = "--stamp", .kind = OPT_FLAG, .dest = &a->stamp,
          .help = "draw the frame number and time in the corner" },
        { .name = "--codec", .arg = "NAME", .kind = OPT_STRING, .dest = &a->wo.codec,
          .help = "video encoder (default libx264, else another H.264\n"
                  "encoder, else mpeg4)" },
        { .name = "--crf", .arg = "N", .kind = OPT_DOUBLE, .dest = &crf, .lo = 0, .hi = 63,
          .help = "constant rate factor for x264/x265 (default 23)" },
        { .name = "--bitrate", .arg = "B", .kind = OPT_CALL, .dest = &a->wo.bitrate,
          .call = opt_bitrate, .help = "target bits per second instead (e.g. 4M, 800k)" },
        { .name = "--frames", .arg = "N", .kind = OPT_LLONG, .dest = &a->max_frames, .lo = 1,
          .hi = 2000000000, .help = "stop after N frames (for endless sources)" },
        { .name = "--queue", .arg = "N", .kind = OPT_INT, .dest = &a->queue_len, .lo = 1,
          .hi = 64,
          .help = "frame queue length (default 2; a Ctrl-C\n"
                  "waits for the queued frames)" },
        { .name = "--stats-json", .arg = "FILE", .kind = OPT_STRING, .dest = &a->stats_path,
          .help = "the run's figures in the bench report format" },
        { .short_name = 'y', .kind = OPT_FLAG, .dest = &a->overwrite,
          .help = "replace output files that already exist" },
        { .kind = OPT_TABLE, .sub = source_opts },
        { .name = "--quiet", .short_name = 'q', .kind = OPT_FLAG, .dest = &a->quiet,
          .help = "no progress and no summary on stderr (progress is only\n"
                  "shown on a terminal)" },
        { .name = "--help", .short_name = 'h', .kind = OPT_HELP, .help = "show this help" },
        { .kind = OPT_END },
    };
    const struct opt *const tables[] = { opts, a->to.opts, a->go.opts, a->cm.opts, NULL };
    int r = opt_parse(cmd, argc, argv, tables, opt_source, a);
    if (r == OPT_HELP_ASKED)
        opt_help(stdout, annotate_help, tables);
    if (r != APP_OK)
        return r;
    if ((r = tracking_options_done(&a->to, cmd)) != APP_OK ||
        (r = gate_options_done(&a->go, cmd)) != APP_OK)
        return r;
    if (a->stride > 1 && gate_options_on(&a->go) && (a->go.motion || a->go.detect_fps > 0))
        return app_usage_error(cmd, "--stride and --motion/--detect-fps both choose the frames "
                                    "to detect: use one");
    if (crf >= 0)
        a->wo.crf = crf > 0 ? crf : 1e-3; /* crf 0 (lossless) is asked for, not the default */
    if (!a->source)
        return app_usage_error(cmd, "no SOURCE given");
    if (!a->out_path)
        return app_usage_error(cmd, "no output given (-o OUT)");
    if (a->wo.crf > 0 && a->wo.bitrate > 0)
        return app_usage_error(cmd, "--crf and --bitrate exclude each other");
    if (!strcmp(a->out_path, "-") && !a->wo.format)
        return app_usage_error(cmd, "-o - writes to standard output, which has no name to take "
                                    "the container from: add -f FORMAT (e.g. -f mpegts, "
                                    "-f matroska, -f nut)");
    if (video_writer_kind(a->out_path, a->wo.format, &a->out_kind, &a->muxer) < 0)
        return APP_USAGE; /* unknown format or protocol, a sequence without a pattern */
    return APP_OK;
}

/* README.md's "Files" rules: no output may be an input or another output, none
 * replaces a file without -y. APP_OK or APP_USAGE (one line printed). */
static int check_files(const struct annotate *a)
{
    struct out_check c;
    out_check_init(&c, "annotate", a->overwrite);
    int r = APP_OK;
    /* a URL is no file: nothing to compare or replace */
    if (a->out_kind == VIDEO_OUT_SEQUENCE) {
        /* out/f_%04d.png: out/ is made (as detect --save makes its folder) */
        if (outfile_make_parents(a->out_path) < 0)
            return app_error("-o %s: cannot make its folder: %s", a->out_path, strerror(errno));
        r = out_check_sequence(&c, "-o", a->out_path);
    }
    else if (a->out_kind == VIDEO_OUT_PIPE)
        r = out_check_output(&c, "-o", "-");
    else if (a->out_kind == VIDEO_OUT_FILE)
        r = out_check_output(&c, "-o", a->out_path);
    if (r != APP_OK ||
        (r = out_check_output(&c, "--json", a->json_path)) != APP_OK ||
        (r = out_check_output(&c, "--coco", a->coco_path)) != APP_OK ||
        (r = out_check_output(&c, "--stats-json", a->stats_path)) != APP_OK ||
        (r = out_check_output(&c, "--mot", a->to.mot_path)) != APP_OK ||
        (r = out_check_input(&c, "SOURCE", a->source)) != APP_OK ||
        (r = out_check_model(&c, &a->cm)) != APP_OK ||
        (r = out_check_done(&c)) != APP_OK)
        return r;
    return APP_OK;
}

/* A data output, opened with a stream (NULL path: not asked for). */
static int open_data(const struct annotate *a, const char *kind, const char *path,
                     struct outfile **of, FILE **f)
{
    if (!path)
        return 0;
    if (outfile_open(of, kind, path, a->overwrite, 1) < 0)
        return -1;
    *f = outfile_stream(*of);
    return 0;
}

/* The closing line of a run: what it wrote, where. */
static void print_outputs(FILE *f, const struct annotate *a, int64_t frames, int64_t lines)
{
    fputs("annotate: wrote ", f);
    if (a->out_kind == VIDEO_OUT_SEQUENCE) {
        char first[4096], last[4096];
        if (out_sequence_name(a->out_path, 1, first, sizeof first) == 0 &&
            out_sequence_name(a->out_path, frames, last, sizeof last) == 0)
            fprintf(f, "%s .. %s (%lld frames)", first, last, (long long)frames);
        else
            fprintf(f, "%s (%lld frames)", a->out_path, (long long)frames);
    } else if (a->out_kind == VIDEO_OUT_PIPE) {
        fprintf(f, "standard output (%s, %lld frames)", a->muxer, (long long)frames);
    } else if (a->out_kind == VIDEO_OUT_URL) {
        fprintf(f, "%s (%s stream, %lld frames)", a->out_path, a->muxer, (long long)frames);
    } else {
        fprintf(f, "%s (%lld frames)", a->out_path, (long long)frames);
    }
    if (a->json_path)
        fprintf(f, ", %s (%lld JSON lines)", strcmp(a->json_path, "-") ? a->json_path
                                                                         : "standard output",
                (long long)lines);
    if (a->coco_path)
        fprintf(f, ", %s (%lld COCO results)", strcmp(a->coco_path, "-") ? a->coco_path
                                                                           : "standard output",
                (long long)a->coco_records);
    if (a->stats_path)
        fprintf(f, ", %s (run report)", strcmp(a->stats_path, "-") ? a->stats_path
                                                                     : "standard output");
    if (a->to.mot_path)
        fprintf(f, ", %s (MOTChallenge tracks)", strcmp(a->to.mot_path, "-") ? a->to.mot_path
                                                                               : "standard output");
    fputc('\n', f);
}

/* Rename every finished output into place; APP_FAIL if one cannot be. */
static int commit_all(struct annotate *a)
{
    int status = APP_OK;
    a->json = a->coco = NULL;
    if (outfile_commit(&a->out_file) < 0)
        status = APP_FAIL;
    if (outfile_commit(&a->json_file) < 0)
        status = APP_FAIL;
    if (outfile_commit(&a->coco_file) < 0)
        status = APP_FAIL;
    if (outfile_commit(&a->stats_file) < 0)
        status = APP_FAIL;
    if (tracking_commit(a->trk) < 0)
        status = APP_FAIL;
    return status;
}

int cmd_annotate(int argc, char **argv)
{
    const char *cmd = "annotate";
    struct annotate a;
    memset(&a, 0, sizeof a);
    a.stride = 1;
    a.coco_first = 1;
    cli_model_init(&a.cm, argc);
    tracking_options_init(&a.to, 1);
    gate_options_init(&a.go);
    int status = APP_OK, sig_installed = 0, sigpipe_set = 0;
    void (*old_sigpipe)(int) = SIG_DFL;
    struct pipeline *p = NULL;
    struct pipeline_stats *ps = NULL;
    struct run_report *rep = NULL;

    int r = parse_args(&a, argc, argv);
    if (r != APP_OK) {
        status = r == OPT_HELP_ASKED ? APP_OK : r;
        goto done;
    }
    if ((status = check_files(&a)) != APP_OK)
        goto done;
    if (signals_install() == 0)
        sig_installed = 1;

    a.so.input = a.source;
    a.so.realtime = -1; /* annotate as fast as the detector goes, also lavfi */
    if (video_open(&a.src, &a.so) < 0) {
        status = APP_FAIL;
        goto done;
    }
    signals_set_source(a.src);
    const struct video_info *info = video_source_info(a.src);

    /* the model before any output: frames it cannot take (an 800x2 clip) are
     * refused with nothing written */
    if ((status = cli_model_load(&a.cm, cmd)) != APP_OK ||
        (status = app_check_frame_size(&a.cm, a.source, info)) != APP_OK)
        goto done;
    FILE *stats_stream = NULL;
    /* a regular file goes through a partial file renamed into place; an image
     * sequence, standard output and URLs do not fit that and are written
     * straight by the writer (see the comment at the top) */
    if (a.out_kind == VIDEO_OUT_FILE) {
        if (outfile_open(&a.out_file, "-o", a.out_path, a.overwrite, 0) < 0) {
            status = APP_FAIL;
            goto done;
        }
        a.wo.file = outfile_write_path(a.out_file);
    } else if (a.out_kind != VIDEO_OUT_SEQUENCE) {
        /* a reader that goes away is a write error (EPIPE) that ends the run
         * like any other, as in ffmpeg, not a silent SIGPIPE death that
         * leaves the other outputs as partial files */
        old_sigpipe = signal(SIGPIPE, SIG_IGN);
        sigpipe_set = 1;
    }
    if (video_writer_open(&a.writer, a.out_path, a.src, &a.wo) < 0 ||
        open_data(&a, "json", a.json_path, &a.json_file, &a.json) < 0 ||
        open_data(&a, "coco", a.coco_path, &a.coco_file, &a.coco) < 0 ||
        open_data(&a, "stats-json", a.stats_path, &a.stats_file, &stats_stream) < 0) {
        status = APP_FAIL;
        goto done;
    }
    if (a.coco)
        fputs("[", a.coco);
    if (!a.no_draw && render_style_open(&a.style, NULL) < 0) {
        status = APP_FAIL;
        goto done;
    }
    a.max_dets = app_max_dets(&a.cm);
    if (!(a.rdets = calloc((size_t)a.max_dets, sizeof *a.rdets)) ||
        !(ps = calloc(1, sizeof *ps)) || !(rep = calloc(1, sizeof *rep))) {
        fprintf(stderr, "vdetect annotate: out of memory\n");
        status = APP_FAIL;
        goto done;
    }
    run_report_init(rep);
    if ((status = tracking_open(&a.trk, &a.to, cmd, info->fps, info->width, info->height,
                                model_num_classes(a.cm.model), a.max_dets,
                                a.overwrite)) != APP_OK ||
        (status = gate_open(&a.gate, &a.go, a.cm.model, info->width, info->height,
                            a.max_dets)) != APP_OK)
        goto done;

    struct pipeline_config pc = {
        .gate = a.gate,
        .src = a.src,
        .detect_ctx = a.cm.model,
        .max_dets = a.max_dets,
        .live = 0, /* annotate never drops: back-pressure even on a live source */
        .queue_len = a.queue_len,
        .stride = (int)a.stride,
        .max_frames = a.max_frames,
    };
    if (signals_pending() || pipeline_start(&p, &pc) < 0) {
        status = signals_pending() ? APP_INTERRUPTED : APP_FAIL;
        goto done;
    }

    int show_progress = !a.quiet && isatty(STDERR_FILENO);
    int64_t total = info->nb_frames > 0 ? info->nb_frames
                    : info->duration > 0 && info->fps > 0
                        ? (int64_t)llround(info->duration * info->fps) : 0;
    if (a.max_frames > 0 && (total == 0 || a.max_frames < total))
        total = a.max_frames;
    struct annotate_progress pg = { &a, rep, show_progress, total, video_now(), 0 };
    pg.next = pg.t0 + 0.5;
    struct pipe_consumer pcon = {
        .cm = &a.cm, .style = a.style, .rdets = a.rdets, .max_dets = a.max_dets,
        .stamp = a.stamp, .stride = (int)a.stride, .gated = a.gate != NULL, .writer = a.writer, .data = annotate_data,
        .raw_data = annotate_raw_data, .tracking = a.trk,
        .done = annotate_done,
        .ctx = &pg,
    };
    int failed = pipeline_consume(p, &pcon, rep) < 0;
    if (pipeline_finish(p, ps) < 0)
        failed = 1;
    if (show_progress)
        progress(&a, rep->displayed, total, pg.t0, 1);
    if (failed) {
        status = APP_FAIL;
        goto done;
    }

    /* finish the outputs; a failure here is an error like any other */
    int64_t frames_written = video_writer_frames(a.writer);
    if (video_writer_close(&a.writer) < 0)
        status = APP_FAIL;
    if (a.coco)
        fputs(a.coco_first ? "]\n" : "\n]\n", a.coco);
    rep->mode = "annotate";
    rep->source = a.source;
    rep->info = info;
    rep->ps = ps;
    rep->model = a.cm.model;
    rep->weights = a.cm.weights_path;
    rep->threads = a.cm.threads;
    rep->engine = model_engine(a.cm.model);
    rep->precision = model_precision(a.cm.model);
    rep->output_stage = "encode";
    rep->tracking = a.trk;
    rep->cm = &a.cm;
    struct gate_stats gs;
    gate_get_stats(a.gate, &gs);
    rep->gate = a.gate ? &gs : NULL;
    if (stats_stream)
        run_report_json(stats_stream, rep);
    if (status == APP_OK)
        status = commit_all(&a);
    if (status == APP_OK && !a.quiet) {
        run_report_summary(stderr, rep);
        tracking_summary(stderr, a.trk, &a.cm);
        gate_summary(stderr, cmd, rep->gate);
        print_outputs(stderr, &a, frames_written, rep->displayed);
    }
    if (status == APP_OK && signals_pending())
        status = APP_INTERRUPTED;

done:
    pipeline_free(&p);
    /* still open here only on an error, or when interrupted before any frame
     * flowed: no output then, and only this run's partial files removed */
    video_writer_abort(&a.writer);
    outfile_discard(&a.out_file);
    outfile_discard(&a.json_file);
    outfile_discard(&a.coco_file);
    outfile_discard(&a.stats_file);
    tracking_close(&a.trk);
    gate_close(&a.gate);
    render_style_close(&a.style);
    signals_set_source(NULL);
    video_close(&a.src);
    if (sig_installed)
        signals_restore();
    if (sigpipe_set)
        signal(SIGPIPE, old_sigpipe);
    cli_model_free(&a.cm);
    free(a.rdets);
    free(ps);
    free(rep);
    return status;
}
