/*
 * cli_bench.c — `vdetect bench [model] [IMAGE] --model-only`: how fast the
 * detector itself is on this machine, stage by stage.
 *
 * One image (a file, or a generated picture of --size WxH) runs --warmup times
 * untimed and then --frames times; every stage's wall time is kept per run and
 * reported as median / p90 / p99, with the configuration that produced it
 * (model, sizes, threads, CPU, BLAS kernels) — on stdout as a table and, with
 * --json, in the bench report format of docs/formats.md §4. The pipeline mode (decode →
 * detect → draw → encode on a video source) arrives with the pipeline.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "../video/video.h"
#include "app.h"
#include "bench.h"
#include "pipeline.h"

static const char bench_help[] =
    "Usage: vdetect bench [model options] [SOURCE] [options]      the pipeline\n"
    "       vdetect bench [model options] [IMAGE] --model-only [options]\n"
    "\n"
    "Two modes:\n"
    "  pipeline    (a video SOURCE: file, URL, /dev/videoN, webcam[:N], lavfi:GRAPH)\n"
    "              runs decode -> detect -> draw -> encode (-o OUT) or nothing, the\n"
    "              pipeline view and annotate run, and answers: does this model keep\n"
    "              up with this source on this machine? A file is read as fast as\n"
    "              the pipeline goes (back-pressure, nothing dropped); with\n"
    "              --realtime it is paced at its own frame rate like a live source;\n"
    "              live sources (cameras, streams, lavfi) drop the oldest queued\n"
    "              frame when the detector is slower, and count it.\n"
    "  model only  (--model-only, a still IMAGE, or no SOURCE) times the detector\n"
    "              alone: one image (or a generated picture of --size) run --frames\n"
    "              times after --warmup untimed runs, stage by stage; with\n"
    "              --precision bf16 or int8 also its agreement with fp32's\n"
    "              detections on the image (IoU >= 0.9, same class, score >=\n"
    "              --score-thresh).\n"
    "\n"
    "What the report says (times in ms; fps = frames per second):\n"
    "  source      the SOURCE, its size, codec and nominal (declared) frame rate\n"
    "  mode        file read flat out (back-pressure, nothing dropped), file\n"
    "              paced like a live source (--realtime), or live; queue length\n"
    "  model       architecture, weights file, precision\n"
    "  input       source or image size -> resized: the detector's input after\n"
    "              its own resize (min_size/max_size); GFLOPs per frame\n"
    "  machine     CPU model, GEMM engine, detector threads, vdetect version\n"
    "  kernels     what runs each kind of layer here (chosen from the CPU's flags)\n"
    "  runs        (model only) timed and warm-up runs; detections on the image\n"
    "  precision   (model only) fp32, or bf16/int8 and its agreement with fp32\n"
    "  frames      decoded = detected + dropped; frames drawn or encoded (-o)\n"
    "  throughput  source: frames decoded per second; decode (alone): 1000 /\n"
    "              mean decode time; detect: results per second; output: frames\n"
    "              drawn or encoded per second; each (count - 1) / the span from\n"
    "              the first to the last. Model only: images/s = 1000 / mean\n"
    "              total; GFLOP/s = GFLOPs per frame x images/s; peak RSS\n"
    "  verdict     \"keeps up with R fps\" (R: the source's frame rate) or\n"
    "              \"cannot keep up\". A file read flat out keeps up if its detect\n"
    "              rate (achieved) >= R: headroom = achieved / R, and a live source\n"
    "              would drop 1 - achieved / R. A paced source keeps up if nothing\n"
    "              was dropped and the detector alone (1000 / mean total) >= R:\n"
    "              headroom = detector alone / R; drops: %% of decoded frames.\n"
    "              Model only: the fps the detector sustains back to back\n"
    "  WARNING     machine busy: detector wall time per frame >= 2 x (process\n"
    "              CPU time per frame / threads): its threads ran half the time\n"
    "              or less, as other processes had the CPU; times are pessimistic\n"
    "  (the table) per stage (decode; the detector's preprocess, backbone, fpn,\n"
    "              rpn_head, rpn_proposals, roi_align, box_head, postprocess and\n"
    "              total; draw; encode with -o) and per frame capture -> result\n"
    "              (captured or decoded until its detections are ready) and\n"
    "              capture -> drawn/encoded: median (p50), p90, p99, max, and n\n"
    "              samples. p99 needs 100 samples: with fewer it would be the\n"
    "              max, and \"-\" is printed\n"
    "  cpu         process CPU time (all threads) per decoded frame; peak RSS:\n"
    "              the most memory the process held, MB\n"
    "\n"
    "Options:\n"
    "%s"
    "\n"
    "Outputs are written beside their name and renamed into place when complete;\n"
    "an output may not be an input (exit 2). With --json - (or a name of stdout)\n"
    "stdout carries only the JSON and the text report goes to stderr.\n"
    "\n"
    "Tracking options (pipeline mode; the tracker's time is the \"track\" stage):\n"
    "%s"
    "\n"
    "Motion options (pipeline mode; the report adds a \"gating\" line: frames run\n"
    "through the detector, still and held, detector calls and CPU time per second\n"
    "of video, the saving measured):\n"
    "%s"
    "\n"
    "Model options:\n"
    "%s";

enum { ST_TOTAL = MODEL_STAGE_TOTAL, ST_COUNT = MODEL_STAGES };

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* nearest-rank percentile of a sorted array */
static double pct(const double *v, int n, double p)
{
    int i = (int)ceil(p / 100.0 * n) - 1;
    if (i < 0) i = 0;
    if (i >= n) i = n - 1;
    return v[i];
}

/* A deterministic picture with edges and texture (flat input makes every
 * anchor tie, which is not what a camera sees). */
static uint8_t *make_picture(int w, int h)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    if (!p) return NULL;
    uint32_t s = 12345;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            s = s * 1664525u + 1013904223u;
            int noise = (int)(s >> 27) - 16;
            int block = ((x / 48) ^ (y / 40)) & 1;
            uint8_t *px = p + ((size_t)y * w + x) * 3;
            int r = x * 255 / w, g = y * 255 / h, b = block ? 200 : 40;
            px[0] = (uint8_t)(r + noise < 0 ? 0 : r + noise > 255 ? 255 : r + noise);
            px[1] = (uint8_t)(g + noise < 0 ? 0 : g + noise > 255 ? 255 : g + noise);
            px[2] = (uint8_t)b;
        }
    return p;
}

/* The IMAGE or SOURCE: one at most. */
static int opt_image(void *ctx, const char *cmd, const char *arg)
{
    const char **image = ctx;
    if (*image)
        return app_usage_error(cmd, "more than one IMAGE/SOURCE given");
    *image = arg;
    return APP_OK;
}

int cmd_bench(int argc, char **argv)
{
    const char *cmd = "bench";
    struct cli_model cm;
    const char *json_path = NULL, *plot_path = NULL, *image = NULL;
    long frames = 0, warmup = 2;    /* frames 0: not given */
    int w = 640, h = 480, status = APP_OK, model_only = 0, frames_given = 0;
    struct bench_pipeline_opts po;
    memset(&po, 0, sizeof po);
    po.live = -1;
    uint8_t *rgb = NULL;
    double *times[ST_COUNT] = { 0 };
    FILE *jf = NULL, *pf = NULL;
    struct outfile *json_file = NULL, *plot_file = NULL;

    cli_model_init(&cm, argc);
    struct tracking_options to;
    tracking_options_init(&to, 0);
    struct gate_options go;
    gate_options_init(&go);
    int size[2] = { 640, 480 }, crf = -1;
    struct opt source_opts[CLI_SOURCE_NOPTS];
    cli_source_options(source_opts, &po.so);
    const struct opt opts[] = {
        { .name = "--model-only", .kind = OPT_FLAG, .dest = &model_only,
          .help = "time the detector alone (on IMAGE or a generated\n"
                  "picture) instead of the pipeline" },
        { .name = "--size", .arg = "WxH", .kind = OPT_CALL, .dest = size, .call = app_opt_size,
          .help = "model only: generated input size (default 640x480)" },
        { .name = "--frames", .arg = "N", .kind = OPT_LONG, .dest = &frames, .lo = 1,
          .hi = 100000000,
          .help = "model only: timed runs (default 10); pipeline: stop\n"
                  "after N decoded frames (default: the whole source)" },
        { .name = "--warmup", .arg = "N", .kind = OPT_LONG, .dest = &warmup, .lo = 0,
          .hi = 100000, .help = "untimed detections first (default 2)" },
        { .name = "--json", .arg = "FILE|-", .kind = OPT_STRING, .dest = &json_path,
          .help = "also write the report as JSON (docs/formats.md §4)" },
        { .name = "--plot", .arg = "FILE.svg", .kind = OPT_STRING, .dest = &plot_path,
          .help = "draw latency per frame and the median frame's stages\n"
                  "as an SVG picture" },
        { .short_name = 'o', .arg = "OUT", .kind = OPT_STRING, .dest = &po.out,
          .help = "pipeline: encode the drawn frames to OUT (measures encode)" },
        { .name = "--codec", .arg = "NAME", .kind = OPT_STRING, .dest = &po.wo.codec,
          .help = "encoder for -o" },
        { .name = "--crf", .arg = "N", .kind = OPT_INT, .dest = &crf, .lo = 0, .hi = 63,
          .help = "constant rate factor for -o" },
        { .name = "--no-draw", .kind = OPT_FLAG, .dest = &po.no_draw,
          .help = "pipeline: skip drawing" },
        { .name = "--realtime", .kind = OPT_FLAG, .dest = &po.so.realtime,
          .help = "pipeline: read a file at its own frame rate and drop\n"
                  "frames the detector cannot take, as a live source" },
        { .name = "--queue", .arg = "N", .kind = OPT_INT, .dest = &po.queue_len, .lo = 1,
          .hi = 1000, .help = "pipeline: frame queue length" },
        { .kind = OPT_TABLE, .sub = source_opts },
        { .short_name = 'y', .kind = OPT_FLAG, .dest = &po.overwrite,
          .help = "replace output files that already exist" },
        { .name = "--help", .short_name = 'h', .kind = OPT_HELP, .help = "show this help" },
        { .kind = OPT_END },
    };
    const struct opt *const tables[] = { opts, to.opts, go.opts, cm.opts, NULL };
    int r = opt_parse(cmd, argc, argv, tables, opt_image, &image);
    if (r == OPT_HELP_ASKED) {
        opt_help(stdout, bench_help, tables);
        goto done;
    }
    if ((status = r) != APP_OK || (status = tracking_options_done(&to, cmd)) != APP_OK ||
        (status = gate_options_done(&go, cmd)) != APP_OK)
        goto done;
    if (gate_options_on(&go) && model_only) {
        status = app_usage_error(cmd, "--motion, --detect-fps and --object-mask choose frames of "
                                      "a video: not with --model-only");
        goto done;
    }
    po.go = gate_options_on(&go) ? &go : NULL;
    if (to.on && model_only) {
        status = app_usage_error(cmd, "--track follows objects through a video: not with "
                                      "--model-only");
        goto done;
    }
    po.to = to.on ? &to : NULL;
    w = size[0];
    h = size[1];
    if (crf >= 0)
        po.wo.crf = crf > 0 ? crf : 1e-3; /* crf 0 (lossless) is asked for, not the default */
    if (po.so.realtime)
        po.live = 1;   /* paced like a live source, and dropping like one */
    if (po.out && !model_only) {
        const char *dot = strrchr(po.out, '.');
        if (dot && (!strcasecmp(dot, ".svg") || !strcasecmp(dot, ".png"))) {
            status = app_usage_error(cmd, "-o %s: -o is the pipeline's encoded video (.mp4, "
                                     ".mkv, ...); the plot is --plot FILE.svg", po.out);
            goto done;
        }
    }
    frames_given = frames > 0;
    if (!frames_given)
        frames = 10;
    /* README.md's "Files" rules, before anything is opened */
    struct out_check oc;
    out_check_init(&oc, cmd, po.overwrite);
    if ((status = out_check_output(&oc, "-o", po.out)) != APP_OK ||
        (status = out_check_output(&oc, "--json", json_path)) != APP_OK ||
        (status = out_check_output(&oc, "--plot", plot_path)) != APP_OK ||
        (status = out_check_input(&oc, model_only ? "IMAGE" : "SOURCE", image)) != APP_OK ||
        (status = out_check_model(&oc, &cm)) != APP_OK ||
        (status = out_check_done(&oc)) != APP_OK)
        goto done;
    if (!model_only && image) {
        /* a still image means the model alone; anything else is a video SOURCE */
        const char *dot = strrchr(image, '.');
        int still = dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") ||
                            !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".bmp") ||
                            !strcasecmp(dot, ".ppm") || !strcasecmp(dot, ".webp") ||
                            !strcasecmp(dot, ".tif") || !strcasecmp(dot, ".tiff"));
        if (!still) {
            po.so.input = image;
            po.json = json_path;
            po.plot = plot_path;
            po.frames = frames_given ? frames : 0;
            po.warmup = warmup;
            status = bench_pipeline(&cm, &po);
            goto done;
        }
    }
    if ((json_path && outfile_open(&json_file, "json", json_path, po.overwrite, 1) < 0) ||
        (plot_path && outfile_open(&plot_file, "plot", plot_path, po.overwrite, 1) < 0)) {
        status = APP_FAIL;
        goto done;
    }
    jf = json_file ? outfile_stream(json_file) : NULL;
    pf = plot_file ? outfile_stream(plot_file) : NULL;
    if (image) {
        if (video_load_image(image, &rgb, &w, &h) < 0) { status = APP_FAIL; goto done; }
    } else if (!(rgb = make_picture(w, h))) {
        status = APP_FAIL;
        goto done;
    }
    if ((status = cli_model_load(&cm, cmd)) != APP_OK) goto done;
    char why[320];
    if (model_check_size(cm.model, w, h, why, sizeof why) < 0) {
        if (image) app_error("image %s: %s", image, why);
        status = image ? APP_FAIL : app_usage_error(cmd, "--size %dx%d: %s", w, h, why);
        goto done;
    }

    for (int s = 0; s < ST_COUNT; s++)
        if (!(times[s] = calloc((size_t)frames, sizeof(double)))) { status = APP_FAIL; goto done; }
    struct model_image img = { rgb, w, h, 3 * w };
    struct model_detection dets[1000], ref[1000];
    int nd = 0, nref = 0, agree_m = 0, agree_n = 0;
    const char *precision = model_precision(cm.model);
    int reduced = strcmp(precision, "fp32") != 0;
    if (reduced) {   /* fp32's detections, to say what the lower precision changes */
        if (model_set_precision(cm.model, "fp32") < 0 ||
            model_detect(cm.model, &img, ref, 1000, &nref) < 0 ||
            model_set_precision(cm.model, precision) < 0) {
            status = APP_FAIL;
            goto done;
        }
    }
    double cpu0 = 0;
    for (long i = 0; i < warmup + frames; i++) {
        if (i == warmup) cpu0 = bench_cpu_seconds();
        if (model_detect(cm.model, &img, dets, 1000, &nd) < 0) { status = APP_FAIL; goto done; }
        if (i < warmup) continue;
        const struct model_timing *t = model_last_timing(cm.model);
        for (int s = 0; s < ST_COUNT; s++) times[s][i - warmup] = model_stage_ms(t, s);
    }
    double cpu_ms = (bench_cpu_seconds() - cpu0) * 1e3 / (double)frames;
    if (plot_path) {
        /* before the sort below: the series in run order */
        struct plot_series ser = { "detector wall time per run", times[ST_TOTAL], (int)frames };
        struct plot_stage st[ST_TOTAL];
        for (int s = 0; s < ST_TOTAL; s++) {
            double *tmp = malloc(sizeof(double) * (size_t)frames);
            if (!tmp) { status = APP_FAIL; goto done; }
            memcpy(tmp, times[s], sizeof(double) * (size_t)frames);
            qsort(tmp, (size_t)frames, sizeof(double), cmp_double);
            st[s].name = model_stage_name(s);
            st[s].ms = pct(tmp, (int)frames, 50);
            free(tmp);
        }
        char title[512];   /* line 2: the model, whose name can be long */
        snprintf(title, sizeof title, "vdetect bench --model-only: %dx%d, %d thread%s\n%s, %s",
                 w, h, cm.threads, cm.threads == 1 ? "" : "s", model_arch(cm.model),
                 model_precision(cm.model));
        if (plot_write_svg(pf, plot_path, title, &ser, 1, st, ST_TOTAL)) status = APP_FAIL;
    }
    double stat[ST_COUNT][5], mean_total = 0;   /* median, p90, p99, mean, max */
    for (int s = 0; s < ST_COUNT; s++) {
        stat[s][3] = 0;
        for (long i = 0; i < frames; i++) stat[s][3] += times[s][i];
        stat[s][3] /= (double)frames;
    }
    mean_total = stat[ST_TOTAL][3];
    for (int s = 0; s < ST_COUNT; s++) {
        qsort(times[s], (size_t)frames, sizeof(double), cmp_double);
        stat[s][0] = pct(times[s], (int)frames, 50);
        stat[s][1] = pct(times[s], (int)frames, 90);
        stat[s][2] = pct(times[s], (int)frames, 99);
        stat[s][4] = times[s][frames - 1];
    }
    if (reduced)
        app_agreement(ref, nref, dets, nd, cm.score_thresh, 0.9, &agree_m, &agree_n);
    int rw, rh;
    model_resized_size(cm.model, w, h, &rw, &rh);
    double gflops = 0;
    model_gflops(cm.model, w, h, &gflops, NULL, NULL, why, sizeof why); /* ran: it can */
    char cpu[256];
    run_cpu_name(cpu, sizeof cpu);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = ru.ru_maxrss / 1024.0;
    /* no source here: the verdict is the rate the detector sustains */
    struct bench_verdict v = { .need_fps = NAN, .detector_fps = 1000.0 / mean_total,
                               .achieved_fps = 1000.0 / mean_total, .headroom = NAN,
                               .drop_pct = NAN, .keeps_up = -1 };
    char verdict[256];
    bench_verdict_text(verdict, sizeof verdict, &v);
    struct bench_contention con;
    bench_contention_check(&con, mean_total, cpu_ms, cm.threads);

    /* with the JSON on stdout, the text report goes to stderr: stdout stays parseable */
    FILE *txt = bench_json_is_stdout(json_path) ? stderr : stdout;
    fprintf(txt, "model        %s (%s)\n", model_arch(cm.model), cm.weights_path);
    fprintf(txt, "input        %dx%d%s -> resized %dx%d, %.2f GFLOPs per frame\n", w, h,
            image ? "" : " generated", rw, rh, gflops);
    char eng[96];
    fprintf(txt, "machine      %s, engine %s, %d thread%s; vdetect %s\n", cpu,
            app_engine_desc(cm.model, eng, sizeof eng), cm.threads, cm.threads == 1 ? "" : "s",
            VDETECT_VERSION);
    char kern[256];
    fprintf(txt, "kernels      %s\n", model_kernels(cm.model, kern, sizeof kern));
    int shown = 0;
    for (int i = 0; i < nd; i++) shown += dets[i].score >= cm.score_thresh;
    fprintf(txt, "runs         %ld timed after %ld warm-up; %d detections (%d with score >= %g)\n",
            frames, warmup, nd, shown, cm.score_thresh);
    if (reduced && agree_n)
        fprintf(txt, "precision    %s: agreement with fp32 %.1f%% (%d of %d detections with score >= "
               "%g matched at IoU >= 0.9, same class)\n", precision, 100.0 * agree_m / agree_n,
               agree_m, agree_n, cm.score_thresh);
    else if (reduced)
        fprintf(txt, "precision    %s: agreement with fp32 n/a (no detection with score >= %g in "
                "either)\n", precision, cm.score_thresh);
    else
        fprintf(txt, "precision    fp32 (torchvision's arithmetic)\n");
    fprintf(txt, "%-14s %10s %10s %10s %10s %7s\n", "stage (ms)", "median", "p90", "p99", "max",
            "n");
    for (int s = 0; s < ST_COUNT; s++) {
        char p99[32] = "-";   /* under 100 runs the nearest-rank p99 is the max */
        if (frames >= 100) snprintf(p99, sizeof p99, "%.2f", stat[s][2]);
        fprintf(txt, "%-14s %10.2f %10.2f %10s %10.2f %7ld\n", model_stage_name(s), stat[s][0],
                stat[s][1], p99, stat[s][4], frames);
    }
    if (frames < 100)
        fprintf(txt, "             p99 \"-\": fewer than 100 runs (n), where it would be the max\n");
    fprintf(txt, "throughput   %.2f images/s (mean %.2f ms), %.1f GFLOP/s; peak RSS %.0f MB\n",
           1000.0 / mean_total, mean_total, gflops / (mean_total / 1000.0), rss_mb);
    fprintf(txt, "verdict      %s\n", verdict);
    bench_contention_print(txt, &con);

    if (json_path) {
        FILE *o = jf;
        fprintf(o, "{\"mode\": \"model-only\", \"config\": {\"model\": ");
        json_put_string(o, model_arch(cm.model));
        fprintf(o, ", \"weights\": ");
        json_put_string(o, cm.weights_path);
        fprintf(o, ", \"input\": [%d, %d], \"resized\": [%d, %d], \"generated_input\": %s, "
                "\"gflops\": %.3f, \"threads\": %d, \"cpu\": ", w, h, rw, rh,
                image ? "false" : "true", gflops, cm.threads);
        json_put_string(o, cpu);
        fprintf(o, ", \"engine\": ");
        json_put_string(o, model_engine(cm.model));
        fprintf(o, ", \"precision\": ");
        json_put_string(o, precision);
        fprintf(o, ", \"kernels\": ");
        json_put_string(o, model_kernels(cm.model, kern, sizeof kern));
        if (reduced)
            fprintf(o, ", \"agreement_fp32\": {\"matched\": %d, \"of\": %d, \"iou\": 0.9, "
                    "\"score\": %g}", agree_m, agree_n, cm.score_thresh);
        fprintf(o, ", \"blas_core\": ");
        json_put_string(o, model_blas_core());
        fprintf(o, ", \"vdetect_version\": \"%s\", \"frames\": %ld, \"warmup\": %ld}, "
                "\"stages_ms\": {", VDETECT_VERSION, frames, warmup);
        for (int s = 0; s < ST_COUNT; s++)
            fprintf(o, "%s\"%s\": {\"mean\": %.4f, \"median\": %.4f, \"p90\": %.4f, "
                    "\"p99\": %.4f, \"max\": %.4f}", s ? ", " : "", model_stage_name(s),
                    stat[s][3], stat[s][0], stat[s][1], stat[s][2], stat[s][4]);
        fprintf(o, "}, \"throughput\": {\"detect_fps\": %.4f, \"mean_ms\": %.4f}, "
                "\"detections\": %d, \"cpu_ms_per_frame\": %.3f, \"peak_rss_mb\": %.1f",
                1000.0 / mean_total, mean_total, nd, cpu_ms, rss_mb);
        bench_verdict_json(o, &v);
        bench_contention_json(o, &con);
        fputs("}\n", o);
        if (fflush(o) || ferror(o)) {
            app_error("json %s: write error", json_path);
            status = APP_FAIL;
        }
    }
    if (status == APP_OK &&
        ((outfile_commit(&json_file) < 0) | (outfile_commit(&plot_file) < 0)))
        status = APP_FAIL;
done:
    outfile_discard(&json_file);
    outfile_discard(&plot_file);
    for (int s = 0; s < ST_COUNT; s++) free(times[s]);
    free(rgb);
    cli_model_free(&cm);
    return status;
}
