/*
 * bench_pipeline.c — `vdetect bench [model] SOURCE`: the whole pipeline
 * measured, decode → detect → draw → encode-or-nothing, on a file or a live
 * source, with every figure separately: source, decode, detect and output
 * rates, frames dropped, capture→result and capture→display latency
 * percentiles, per-stage times, CPU time per frame and peak RSS; then the
 * verdict (does the detector keep up with the source's rate?) and a warning
 * when the machine was busy with something else (bench.h).
 *
 * The pipeline is the same one view and annotate run (pipeline.c), consumed
 * by the same loop as annotate's (consume.c: draw, then encode to -o or drop
 * the frame); this file adds the plot's series and the report. Before the
 * timed run, --warmup detections on a picture of the source's size size the
 * detector's arena, so the first frame is not an outlier of allocation, and one
 * more on the pipeline's detect thread makes that thread's own state (oneDNN's
 * primitives are per thread).
 *
 * Also home of bench.h's helpers, which cli_bench.c (the model-only run)
 * shares.
 */
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "pipeline.h"

/* ---- bench.h -------------------------------------------------------------- */

int bench_json_is_stdout(const char *path)
{
    if (!path) return 0;
    if (!strcmp(path, "-")) return 1;
    struct stat a, b;
    return fstat(STDOUT_FILENO, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}


void bench_verdict_text(char *buf, size_t n, const struct bench_verdict *v)
{
    if (v->keeps_up < 0 && isnan(v->need_fps) && !v->why)   /* model only */
        snprintf(buf, n, "sustains %.1f fps (1000 / mean %.2f ms): keeps up with a source of up "
                 "to %.1f fps, before decode and draw", v->detector_fps, 1000.0 / v->detector_fps,
                 v->detector_fps);
    else if (v->keeps_up < 0)
        snprintf(buf, n, "no verdict: %s", v->why ? v->why : "?");
    else if (v->keeps_up && v->live)
        snprintf(buf, n, "keeps up with %.4g fps (detector alone %.1f fps, %.1fx headroom; "
                 "nothing dropped)", v->need_fps, v->detector_fps, v->headroom);
    else if (v->keeps_up)
        snprintf(buf, n, "keeps up with %.4g fps (%.1f fps flat out, %.1fx headroom)",
                 v->need_fps, v->achieved_fps, v->headroom);
    else if (v->live)
        snprintf(buf, n, "cannot keep up: needs %.4g fps, achieves %.1f (drops %.0f%%)",
                 v->need_fps, v->achieved_fps, v->drop_pct);
    else
        snprintf(buf, n, "cannot keep up: needs %.4g fps, achieves %.1f flat out (a live "
                 "source would drop %.0f%%)", v->need_fps, v->achieved_fps, v->drop_pct);
}

/* a number with d decimals, or null */
static void put_num(FILE *f, double v, int d)
{
    if (isfinite(v)) fprintf(f, "%.*f", d, v);
    else fputs("null", f);
}

void bench_verdict_json(FILE *f, const struct bench_verdict *v)
{
    char text[256];
    bench_verdict_text(text, sizeof text, v);
    fprintf(f, ", \"verdict\": {\"keeps_up\": %s, \"need_fps\": ",
            v->keeps_up < 0 ? "null" : v->keeps_up ? "true" : "false");
    put_num(f, v->need_fps, 3);
    fputs(", \"detector_fps\": ", f);
    put_num(f, v->detector_fps, 3);
    fputs(", \"achieved_fps\": ", f);
    put_num(f, v->achieved_fps, 3);
    fputs(", \"headroom\": ", f);
    put_num(f, v->headroom, 3);
    fputs(", \"drop_pct\": ", f);
    put_num(f, v->drop_pct, 2);
    fprintf(f, ", \"drops\": %s, \"text\": ",
            isnan(v->drop_pct) ? "null" : v->live ? "\"counted\"" : "\"predicted\"");
    json_put_string(f, text);
    fputc('}', f);
}

void bench_contention_check(struct bench_contention *c, double wall_ms, double cpu_ms,
                            int threads)
{
    /* the CPUs this process may run on (taskset, cgroup cpusets), else online */
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        online = CPU_COUNT(&set);
    c->wall_ms = wall_ms;
    c->cpu_ms = cpu_ms;
    c->threads = threads < 1 ? 1 : threads;
    if (online > 0 && c->threads > online) c->threads = (int)online;
    c->ratio = cpu_ms > 0 && wall_ms > 0 ? wall_ms / (cpu_ms / c->threads) : NAN;
    c->suspected = c->ratio >= 2;   /* NAN compares false: no figures, no claim */
}

void bench_contention_print(FILE *txt, const struct bench_contention *c)
{
    if (!c->suspected) return;
    fprintf(txt, "WARNING      machine busy: %.1f ms wall but %.1f ms CPU per frame for %d "
            "thread%s (they ran %.0f%% of the time): other processes had the CPU, these times "
            "are pessimistic\n", c->wall_ms, c->cpu_ms, c->threads, c->threads == 1 ? "" : "s",
            100.0 / c->ratio);
}

void bench_contention_json(FILE *f, const struct bench_contention *c)
{
    fprintf(f, ", \"contention\": {\"suspected\": %s, \"wall_ms_per_frame\": ",
            c->suspected ? "true" : "false");
    put_num(f, c->wall_ms, 3);
    fputs(", \"cpu_ms_per_frame\": ", f);
    put_num(f, c->cpu_ms, 3);
    fprintf(f, ", \"threads\": %d, \"ratio\": ", c->threads);
    put_num(f, c->ratio, 3);
    fputc('}', f);
}

/* ---- the pipeline run ------------------------------------------------------ */

double bench_cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return NAN;
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* Per-frame series for --plot, grown by doubling (a benchmark's own memory,
 * not the pipeline's). */
struct series {
    double *v;
    int n, cap;
};

static void series_add(struct series *s, double v)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 1024;
        double *nv = realloc(s->v, sizeof(double) * (size_t)cap);
        if (!nv) return;   /* the plot loses points; the figures do not */
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = v;
}

/* The plot's per-frame series, fed by pipeline_consume(). */
struct bench_sink {
    struct series *result, *display;
};

static void bench_frame_done(void *ctx, const struct pipe_frame *f, double t_out)
{
    struct bench_sink *b = ctx;
    if (f->dets_kind == PIPE_DETS_OWN)
        series_add(b->result, (f->t_result - f->vf->capture_time) * 1e3);
    series_add(b->display, (t_out - f->vf->capture_time) * 1e3);
}

/* Fewer samples than this and a p99 is just the maximum: printed as "-". */
enum { P99_MIN_SAMPLES = 100 };

/* One row; adds 1 to *no_p99 when its p99 is left out. */
static void print_hist(FILE *txt, const char *name, const struct lat_hist *h, int *no_p99)
{
    if (!h->n) return;
    char p99[32] = "-";
    if (h->n >= P99_MIN_SAMPLES) snprintf(p99, sizeof p99, "%.2f", lat_hist_pct(h, 99));
    else ++*no_p99;
    fprintf(txt, "%-22s %9.2f %9.2f %9s %9.2f %7llu\n", name, lat_hist_pct(h, 50),
            lat_hist_pct(h, 90), p99, h->max, (unsigned long long)h->n);
}

/* The run report of pipeline_stats.c with bench's own fields appended before
 * its closing brace. 0, or -1 (out of memory: printed). */
static int write_json(FILE *f, const struct run_report *rep, const struct bench_verdict *v,
                      const struct bench_contention *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) { perror("bench: json"); return -1; }
    run_report_json(m, rep);
    if (fclose(m) != 0 || !buf) { free(buf); perror("bench: json"); return -1; }
    /* one object and a newline: drop "}\n", add ours, close it again */
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' ')) len--;
    APP_ASSERT(len && buf[len - 1] == '}');
    fwrite(buf, 1, len - 1, f);
    bench_verdict_json(f, v);
    bench_contention_json(f, c);
    fputs("}\n", f);
    free(buf);
    return 0;
}

int bench_pipeline(struct cli_model *cm, const struct bench_pipeline_opts *o)
{
    int status = APP_OK, sig = 0;
    struct video_source *src = NULL;
    struct video_writer *writer = NULL;
    struct render_style *style = NULL;
    struct render_det *rdets = NULL;
    struct pipeline *p = NULL;
    struct tracking *trk = NULL;
    struct gate *gate = NULL;
    struct gate_stats gs;
    struct pipeline_stats *ps = calloc(1, sizeof *ps);
    struct run_report *rep = calloc(1, sizeof *rep);
    struct series s_result = { 0 }, s_display = { 0 };
    uint8_t *warm = NULL;
    struct outfile *out_file = NULL, *json_file = NULL, *plot_file = NULL;

    if (!ps || !rep) { status = APP_FAIL; goto done; }
    run_report_init(rep);
    if (signals_install() == 0) sig = 1;
    struct video_source_options so = o->so;
    if (video_open(&src, &so) < 0) { status = APP_FAIL; goto done; }
    signals_set_source(src);
    const struct video_info *info = video_source_info(src);
    /* the model before any output: frames it cannot take are refused first */
    if ((status = cli_model_load(cm, "bench")) != APP_OK ||
        (status = app_check_frame_size(cm, so.input, info)) != APP_OK)
        goto done;
    /* then the outputs (checked against the inputs by cmd_bench already) */
    struct video_writer_options wo = o->wo;
    if (o->out) {
        if (outfile_open(&out_file, "video", o->out, o->overwrite, 0) < 0) {
            status = APP_FAIL;
            goto done;
        }
        wo.file = outfile_write_path(out_file);
    }
    if ((o->out && video_writer_open(&writer, o->out, src, &wo) < 0) ||
        (o->json && outfile_open(&json_file, "json", o->json, o->overwrite, 1) < 0) ||
        (o->plot && outfile_open(&plot_file, "plot", o->plot, o->overwrite, 1) < 0)) {
        status = APP_FAIL;
        goto done;
    }
    if (!o->no_draw && render_style_open(&style, NULL) < 0) { status = APP_FAIL; goto done; }
    int max_dets = app_max_dets(cm);
    if (!(rdets = calloc((size_t)max_dets, sizeof *rdets))) { status = APP_FAIL; goto done; }

    if (o->warmup > 0) {
        size_t n = (size_t)info->width * info->height * 3;
        if (!(warm = malloc(n))) { status = APP_FAIL; goto done; }
        for (size_t i = 0; i < n; i++) warm[i] = (uint8_t)((i * 2654435761u) >> 24);
        struct model_image img = { warm, info->width, info->height, 3 * info->width };
        struct model_detection *d = calloc((size_t)max_dets, sizeof *d);
        int nd;
        for (long i = 0; d && i < o->warmup && !signals_pending(); i++)
            model_detect(cm->model, &img, d, max_dets, &nd);
        free(d);
    }

    if (o->to && (status = tracking_open(&trk, o->to, "bench", info->fps, info->width,
                                         info->height, model_num_classes(cm->model), max_dets,
                                         o->overwrite)) != APP_OK)
        goto done;
    if (o->go && (status = gate_open(&gate, o->go, cm->model, info->width, info->height,
                                     max_dets)) != APP_OK)
        goto done;
    struct pipeline_config pc = {
        .gate = gate,
        .src = src,
        .detect_ctx = cm->model,
        .max_dets = max_dets,
        .live = o->live >= 0 ? o->live : info->live,
        .queue_len = o->queue_len,
        .max_frames = o->frames,
        .warmup = 1,   /* the detect thread's own kernels' state, after the main thread's */
    };
    double cpu0 = bench_cpu_seconds();
    if (signals_pending() || pipeline_start(&p, &pc) < 0) {
        status = signals_pending() ? APP_INTERRUPTED : APP_FAIL;
        goto done;
    }
    struct bench_sink sink = { &s_result, &s_display };
    struct pipe_consumer pcon = {
        .cm = cm, .style = style, .rdets = rdets, .max_dets = max_dets, .writer = writer,
        .done = bench_frame_done, .ctx = &sink, .tracking = trk, .gated = gate != NULL,
    };
    int failed = pipeline_consume(p, &pcon, rep) < 0;
    if (pipeline_finish(p, ps) < 0 || failed) {
        status = APP_FAIL;
        goto done;
    }
    if (writer && video_writer_close(&writer) < 0) { status = APP_FAIL; goto done; }
    double cpu_s = bench_cpu_seconds() - cpu0;
    double cpu_ms = ps->decoded > 0 ? cpu_s * 1e3 / (double)ps->decoded : NAN;
    int encoding = writer || o->out;
    if (!encoding)   /* the null sink's "output" is a no-op: not a stage */
        lat_hist_init(&rep->output_ms);

    rep->mode = "bench-pipeline";
    rep->source = o->so.input;
    rep->info = info;
    rep->ps = ps;
    rep->model = cm->model;
    rep->weights = cm->weights_path;
    rep->threads = cm->threads;
    rep->engine = model_engine(cm->model);
    rep->precision = model_precision(cm->model);
    rep->output_stage = encoding ? "encode" : NULL;
    rep->cpu_ms_per_frame = cpu_ms;
    rep->tracking = trk;
    rep->cm = cm;
    gate_get_stats(gate, &gs);
    rep->gate = gate ? &gs : NULL;

    double src_fps = run_rate(ps->decoded, ps->t_first_capture, ps->t_last_capture);
    double det_fps = run_rate(ps->detected, ps->t_first_result, ps->t_last_result);
    double out_fps = run_rate(rep->displayed, rep->t_first_display, rep->t_last_display);
    double dec_mean = lat_hist_mean(&ps->decode_ms);
    const struct lat_hist *total = &ps->stage_ms[MODEL_STAGE_TOTAL];
    double det_mean = total->n ? lat_hist_mean(total) : NAN;
    int paced_file = !info->live && o->so.realtime > 0;

    struct bench_verdict v = { .need_fps = info->fps > 0 && isfinite(info->fps) ? info->fps : NAN,
                               .detector_fps = det_mean > 0 ? 1000.0 / det_mean : NAN,
                               .achieved_fps = ps->detected >= 2 ? det_fps : NAN,
                               .headroom = NAN, .drop_pct = NAN, .live = ps->live,
                               .keeps_up = -1 };
    if (isnan(v.need_fps) && ps->live && src_fps > 0)
        v.need_fps = src_fps;   /* a camera that does not say: as it arrived */
    if (gate) {
        /* gated: frames the gate held or found still went through without the
         * detector, so the pipeline's rate is that of every frame (its output),
         * and the detector alone need only make the calls the gate asked for */
        v.achieved_fps = rep->displayed >= 2 ? out_fps : NAN;
        double vs = isfinite(v.need_fps) && v.need_fps > 0 ? (double)ps->decoded / v.need_fps
                                                            : NAN;
        double calls_per_s = vs > 0 ? (double)ps->calls / vs : NAN;
        if (calls_per_s > 0 && isfinite(v.detector_fps))
            v.detector_fps = v.detector_fps / calls_per_s * v.need_fps;   /* as a frame rate */
    }
    if (isnan(v.need_fps)) {
        v.why = "the source has no frame rate";
    } else if (ps->live) {
        /* paced by the source: what it drops is counted, its own speed is the detector's */
        if (ps->decoded < 2 || isnan(v.detector_fps)) {
            v.why = "fewer than 2 frames decoded";
        } else {
            v.drop_pct = 100.0 * (double)ps->dropped / (double)ps->decoded;
            v.headroom = v.detector_fps / v.need_fps;
            v.keeps_up = ps->dropped == 0 && v.headroom >= 1;
            if (isnan(v.achieved_fps)) v.achieved_fps = 0;
        }
    } else {
        /* a file read flat out: its rate is what the pipeline sustains */
        if (isnan(v.achieved_fps)) {
            v.why = "fewer than 2 frames detected";
        } else {
            v.headroom = v.achieved_fps / v.need_fps;
            v.drop_pct = v.headroom >= 1 ? 0 : 100.0 * (1 - v.headroom);
            v.keeps_up = v.headroom >= 1;
        }
    }
    struct bench_contention con;
    bench_contention_check(&con, det_mean, ps->detected > 0 ? cpu_s * 1e3 / (double)ps->detected
                                                            : NAN, cm->threads);

    int rw = 0, rh = 0;
    double gflops = 0;
    char why[320], cpu[256], eng[96], verdict[256];
    model_resized_size(cm->model, info->width, info->height, &rw, &rh);
    model_gflops(cm->model, info->width, info->height, &gflops, NULL, NULL, why, sizeof why);
    run_cpu_name(cpu, sizeof cpu);
    bench_verdict_text(verdict, sizeof verdict, &v);

    /* with the JSON on stdout, the text report goes to stderr: stdout stays parseable */
    FILE *txt = bench_json_is_stdout(o->json) ? stderr : stdout;
    fprintf(txt, "source       %s: %dx%d %s, nominal %.2f fps\n", o->so.input, info->width,
            info->height, info->codec ? info->codec : "?", info->fps);
    if (paced_file)
        fprintf(txt, "mode         paced like a live source (--realtime): the file is read at "
                "its own frame rate, and the oldest queued frame is dropped when the detector "
                "is slower (queue %d)\n", ps->queue_len);
    else if (ps->live)
        fprintf(txt, "mode         live: frames arrive at the source's rate, and the oldest queued "
                "frame is dropped when the detector is slower (queue %d)\n", ps->queue_len);
    else
        fprintf(txt, "mode         file, read as fast as the pipeline goes: back-pressure, "
                "nothing dropped (queue %d)\n", ps->queue_len);
    fprintf(txt, "model        %s (%s), precision %s\n", model_arch(cm->model), cm->weights_path,
            model_precision(cm->model));
    fprintf(txt, "input        %dx%d -> resized %dx%d, %.2f GFLOPs per frame\n", info->width,
            info->height, rw, rh, gflops);
    fprintf(txt, "machine      %s, engine %s, %d thread%s; vdetect %s\n", cpu,
            app_engine_desc(cm->model, eng, sizeof eng), cm->threads, cm->threads == 1 ? "" : "s",
            VDETECT_VERSION);
    char kern[256];
    fprintf(txt, "kernels      %s\n", model_kernels(cm->model, kern, sizeof kern));
    if (gate)
        fprintf(txt, "frames       %lld decoded = %lld detected + %lld still + %lld held + %lld "
                "dropped; %lld %s\n", (long long)ps->decoded, (long long)ps->detected,
                (long long)ps->still, (long long)ps->held, (long long)ps->dropped,
                (long long)rep->displayed, encoding ? "encoded" : "drawn");
    else
        fprintf(txt, "frames       %lld decoded = %lld detected + %lld dropped; %lld %s\n",
               (long long)ps->decoded, (long long)ps->detected, (long long)ps->dropped,
               (long long)rep->displayed, encoding ? "encoded" : "drawn");
    if (gate) {
        double vs = info->fps > 0 && isfinite(info->fps) ? (double)ps->decoded / info->fps : NAN;
        fprintf(txt, "gating       %.1f%% of frames not run through the detector; %lld detector "
                "calls (%ld on crops), %.2f calls and %.2f GFLOPs per second of video (every "
                "frame: %.2f)", 100.0 * (1 - (ps->decoded ?
                (double)ps->detected / (double)ps->decoded : 1)), (long long)ps->calls,
                gs.region_calls, vs > 0 ? (double)ps->calls / vs : NAN,
                vs > 0 ? gs.gflops / vs : NAN, info->fps > 0 ? gflops * info->fps : NAN);
        if (gs.motion_ms.n)
            fprintf(txt, "; motion %.2f ms per frame, %ld recalibration%s",
                    lat_hist_mean(&gs.motion_ms), gs.recalibrations,
                    gs.recalibrations == 1 ? "" : "s");
        fputc('\n', txt);
    }
    fprintf(txt, "throughput   source %.2f fps, decode %.1f fps (alone), detect %.2f fps, output %.2f fps\n",
           src_fps, dec_mean > 0 ? 1000.0 / dec_mean : 0.0, det_fps, out_fps);
    fprintf(txt, "verdict      %s\n", verdict);
    bench_contention_print(txt, &con);
    fprintf(txt, "%-22s %9s %9s %9s %9s %7s\n", "(ms)", "p50", "p90", "p99", "max", "n");
    int no_p99 = 0;
    print_hist(txt, "capture -> result", &ps->capture_to_result, &no_p99);
    print_hist(txt, encoding ? "capture -> encoded" : "capture -> drawn", &rep->capture_to_display,
               &no_p99);
    print_hist(txt, "decode", &ps->decode_ms, &no_p99);
    if (gate && gs.motion_ms.n)
        print_hist(txt, "motion", &gs.motion_ms, &no_p99);
    for (int s = 0; s < MODEL_STAGES; s++)
        print_hist(txt, model_stage_name(s), &ps->stage_ms[s], &no_p99);
    if (trk)
        print_hist(txt, "track", tracking_times(trk), &no_p99);
    print_hist(txt, "draw", &rep->draw_ms, &no_p99);
    if (encoding) print_hist(txt, "encode", &rep->output_ms, &no_p99);
    if (no_p99)
        fprintf(txt, "             p99 \"-\": fewer than %d samples (n), where it would be the "
                "max\n", P99_MIN_SAMPLES);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(txt, "cpu          %.1f ms CPU per decoded frame", cpu_ms);
    if (info->fps > 0 && isfinite(info->fps))
        fprintf(txt, " = %.3f s CPU per second of video", cpu_ms * info->fps / 1e3);
    fprintf(txt, "; peak RSS %.0f MB\n", ru.ru_maxrss / 1024.0);

    if (json_file && write_json(outfile_stream(json_file), rep, &v, &con) < 0)
        status = APP_FAIL;
    if (o->plot) {
        struct plot_series ser[2] = {
            { "capture -> result (detected frames)", s_result.v, s_result.n },
            { encoding ? "capture -> encoded" : "capture -> drawn", s_display.v, s_display.n } };
        struct plot_stage st[MODEL_STAGES + 3];
        int nst = 0;
        st[nst++] = (struct plot_stage){ "decode", lat_hist_pct(&ps->decode_ms, 50) };
        for (int s = 0; s < MODEL_STAGE_TOTAL; s++)
            st[nst++] = (struct plot_stage){ model_stage_name(s), lat_hist_pct(&ps->stage_ms[s], 50) };
        if (style) st[nst++] = (struct plot_stage){ "draw", lat_hist_pct(&rep->draw_ms, 50) };
        if (encoding) st[nst++] = (struct plot_stage){ "encode", lat_hist_pct(&rep->output_ms, 50) };
        const char *in = strrchr(o->so.input, '/');
        in = in && in[1] ? in + 1 : o->so.input;
        char title[512];   /* line 2: the model, whose name can be long */
        snprintf(title, sizeof title, "vdetect bench: %s, %dx%d, %d thread%s\n%s, %s", in,
                 info->width, info->height, cm->threads, cm->threads == 1 ? "" : "s",
                 model_arch(cm->model), model_precision(cm->model));
        if (plot_write_svg(outfile_stream(plot_file), o->plot, title, ser, 2, st, nst))
            status = APP_FAIL;
    }
    if (status == APP_OK && ((outfile_commit(&out_file) < 0) | (outfile_commit(&json_file) < 0) |
                             (outfile_commit(&plot_file) < 0)))
        status = APP_FAIL;
    if (status == APP_OK && signals_pending()) status = APP_INTERRUPTED;
    if (trk)
        tracking_summary(txt, trk, cm);
done:
    if (p) pipeline_free(&p);
    tracking_close(&trk);
    gate_close(&gate);
    if (writer) video_writer_abort(&writer);
    outfile_discard(&out_file);
    outfile_discard(&json_file);
    outfile_discard(&plot_file);
    signals_set_source(NULL);
    video_close(&src);
    render_style_close(&style);
    if (sig) signals_restore();
    free(rdets);
    free(warm);
    free(s_result.v);
    free(s_display.v);
    free(ps);
    free(rep);
    return status;
}
