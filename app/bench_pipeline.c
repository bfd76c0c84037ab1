/*
 * bench_pipeline.c — `vdetect bench [model] SOURCE`: the whole pipeline
 * measured, decode → detect → draw → encode-or-null, on a file or a live
 * source, with every figure separately: source, decode, detect and output
 * rates, frames dropped, capture→result and capture→display latency
 * percentiles, per-stage times, CPU time per frame and peak RSS.
 *
 * The pipeline is the same one view and annotate run (pipeline.c), consumed
 * by the same loop as annotate's (consume.c: draw, then encode to -o or drop
 * the frame); this file adds the plot's series and the report. Before the
 * timed run, --warmup detections on a picture of the source's size size the
 * detector's arena, so the first frame is not an outlier of allocation.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "pipeline.h"

static double cpu_seconds(void)
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

static void print_hist(FILE *txt, const char *name, const struct lat_hist *h)
{
    if (!h->n) return;
    fprintf(txt, "%-22s %9.2f %9.2f %9.2f %9.2f\n", name, lat_hist_pct(h, 50), lat_hist_pct(h, 90),
           lat_hist_pct(h, 99), h->max);
}

int bench_pipeline(struct cli_model *cm, const struct bench_pipeline_opts *o)
{
    int status = APP_OK, sig = 0;
    struct video_source *src = NULL;
    struct video_writer *writer = NULL;
    struct render_style *style = NULL;
    struct render_det *rdets = NULL;
    struct pipeline *p = NULL;
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

    struct pipeline_config pc = {
        .src = src,
        .detect_ctx = cm->model,
        .max_dets = max_dets,
        .live = o->live >= 0 ? o->live : info->live,
        .queue_len = o->queue_len,
        .max_frames = o->frames,
    };
    double cpu0 = cpu_seconds();
    if (signals_pending() || pipeline_start(&p, &pc) < 0) {
        status = signals_pending() ? APP_INTERRUPTED : APP_FAIL;
        goto done;
    }
    struct bench_sink sink = { &s_result, &s_display };
    struct pipe_consumer pcon = {
        .cm = cm, .style = style, .rdets = rdets, .max_dets = max_dets, .writer = writer,
        .done = bench_frame_done, .ctx = &sink,
    };
    int failed = pipeline_consume(p, &pcon, rep) < 0;
    if (pipeline_finish(p, ps) < 0 || failed) {
        status = APP_FAIL;
        goto done;
    }
    if (writer && video_writer_close(&writer) < 0) { status = APP_FAIL; goto done; }
    double cpu_ms = ps->decoded > 0 ? (cpu_seconds() - cpu0) * 1e3 / (double)ps->decoded : NAN;

    rep->mode = "bench-pipeline";
    rep->source = o->so.input;
    rep->info = info;
    rep->ps = ps;
    rep->model = cm->model;
    rep->weights = cm->weights_path;
    rep->threads = cm->threads;
    rep->engine = model_engine(cm->model);
    rep->precision = model_precision(cm->model);
    rep->output_stage = writer || o->out ? "encode" : "null";
    rep->cpu_ms_per_frame = cpu_ms;

    double src_fps = run_rate(ps->decoded, ps->t_first_capture, ps->t_last_capture);
    double det_fps = run_rate(ps->detected, ps->t_first_result, ps->t_last_result);
    double out_fps = run_rate(rep->displayed, rep->t_first_display, rep->t_last_display);
    double dec_mean = lat_hist_mean(&ps->decode_ms);
    /* with the JSON on stdout, the text report goes to stderr: stdout stays parseable */
    FILE *txt = o->json && !strcmp(o->json, "-") ? stderr : stdout;
    fprintf(txt, "source       %s: %dx%d %s, nominal %.2f fps, %s (queue %d, %s)\n", o->so.input,
           info->width, info->height, info->codec ? info->codec : "?", info->fps,
           ps->live ? "live" : "file", ps->queue_len, ps->live ? "drop oldest" : "back-pressure");
    char eng[96];
    fprintf(txt, "model        %s (%s), %d thread%s, engine %s, precision %s\n",
           model_arch(cm->model), cm->weights_path, cm->threads, cm->threads == 1 ? "" : "s",
           app_engine_desc(cm->model, eng, sizeof eng), model_precision(cm->model));
    fprintf(txt, "frames       %lld decoded = %lld detected + %lld dropped; %lld %s\n",
           (long long)ps->decoded, (long long)ps->detected, (long long)ps->dropped,
           (long long)rep->displayed, writer || o->out ? "encoded" : "drawn");
    fprintf(txt, "throughput   source %.2f fps, decode %.1f fps (alone), detect %.2f fps, output %.2f fps\n",
           src_fps, dec_mean > 0 ? 1000.0 / dec_mean : 0.0, det_fps, out_fps);
    fprintf(txt, "%-22s %9s %9s %9s %9s\n", "(ms)", "p50", "p90", "p99", "max");
    print_hist(txt, "capture -> result", &ps->capture_to_result);
    print_hist(txt, "capture -> display", &rep->capture_to_display);
    print_hist(txt, "decode", &ps->decode_ms);
    for (int s = 0; s < MODEL_STAGES; s++) print_hist(txt, model_stage_name(s), &ps->stage_ms[s]);
    print_hist(txt, "draw", &rep->draw_ms);
    print_hist(txt, rep->output_stage, &rep->output_ms);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(txt, "cpu          %.1f ms CPU per decoded frame; peak RSS %.0f MB\n", cpu_ms,
           ru.ru_maxrss / 1024.0);

    if (json_file)
        run_report_json(outfile_stream(json_file), rep);
    if (o->plot) {
        struct plot_series ser[2] = { { "capture -> result (detected frames)", s_result.v,
                                        s_result.n },
                                      { "capture -> display", s_display.v, s_display.n } };
        struct plot_stage st[12];
        int nst = 0;
        st[nst++] = (struct plot_stage){ "decode", lat_hist_pct(&ps->decode_ms, 50) };
        for (int s = 0; s < 8; s++)
            st[nst++] = (struct plot_stage){ model_stage_name(s), lat_hist_pct(&ps->stage_ms[s], 50) };
        if (style) st[nst++] = (struct plot_stage){ "draw", lat_hist_pct(&rep->draw_ms, 50) };
        st[nst++] = (struct plot_stage){ rep->output_stage, lat_hist_pct(&rep->output_ms, 50) };
        char title[256];
        snprintf(title, sizeof title, "vdetect bench: %s on %s, %d thread%s",
                 model_arch(cm->model), o->so.input, cm->threads, cm->threads == 1 ? "" : "s");
        if (plot_write_svg(outfile_stream(plot_file), o->plot, title, ser, 2, st, nst))
            status = APP_FAIL;
    }
    if (status == APP_OK && ((outfile_commit(&out_file) < 0) | (outfile_commit(&json_file) < 0) |
                             (outfile_commit(&plot_file) < 0)))
        status = APP_FAIL;
    if (status == APP_OK && signals_pending()) status = APP_INTERRUPTED;
done:
    if (p) pipeline_free(&p);
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
