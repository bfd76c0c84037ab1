/*
 * pipeline_stats.c — the figures of a pipeline run: a fixed-size latency
 * histogram (percentiles without keeping every sample, so a run of hours
 * allocates nothing), and the run report — one JSON object in the bench
 * schema of docs/formats.md §4 (--stats-json) and the one-line summary on exit.
 *
 * Rates are measured over the span between the first and the last event of
 * their kind (captures, results, presents), so start-up (model load, window
 * creation) does not dilute them.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "app.h"
#include "pipeline.h"

#define LAT_MIN_MS 0.001   /* lower edge of bin 0 */
#define LAT_STEP 1.01      /* ratio of successive bin edges */

void lat_hist_init(struct lat_hist *h)
{
    memset(h, 0, sizeof *h);
}

void lat_hist_add(struct lat_hist *h, double ms)
{
    if (!(ms >= 0))  /* NaN or negative (clock skew between sources): clamp */
        ms = 0;
    int i = ms <= LAT_MIN_MS ? 0 : (int)(log(ms / LAT_MIN_MS) / log(LAT_STEP));
    if (i >= LAT_BINS)
        i = LAT_BINS - 1;
    h->bins[i]++;
    if (h->n == 0 || ms < h->min)
        h->min = ms;
    if (h->n == 0 || ms > h->max)
        h->max = ms;
    h->n++;
    h->sum += ms;
}

double lat_hist_pct(const struct lat_hist *h, double p)
{
    if (h->n == 0)
        return NAN;
    uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->n);
    if (rank < 1)
        rank = 1;
    if (rank > h->n)
        rank = h->n;
    uint64_t cum = 0;
    for (int i = 0; i < LAT_BINS; i++) {
        cum += h->bins[i];
        if (cum >= rank) {
            double v = LAT_MIN_MS * pow(LAT_STEP, i + 1);
            return v > h->max ? h->max : v < h->min ? h->min : v;
        }
    }
    return h->max;
}

double lat_hist_mean(const struct lat_hist *h)
{
    return h->n ? h->sum / (double)h->n : NAN;
}

void run_cpu_name(char *buf, size_t n)
{
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *c = strchr(line, ':');
        if (!strncmp(line, "model name", 10) && c) {
            c += 1 + (c[1] == ' ');
            c[strcspn(c, "\n")] = 0;
            snprintf(buf, n, "%s", c);
            break;
        }
    }
    fclose(f);
}

void run_report_init(struct run_report *r)
{
    memset(r, 0, sizeof *r);
    lat_hist_init(&r->capture_to_display);
    lat_hist_init(&r->draw_ms);
    lat_hist_init(&r->output_ms);
    r->cpu_ms_per_frame = NAN;
}

double run_rate(int64_t count, double t0, double t1)
{
    if (count < 2 || !(t1 > t0))
        return 0;
    return (double)(count - 1) / (t1 - t0);
}


static void put_num(FILE *f, double v, int decimals)
{
    if (isfinite(v))
        fprintf(f, "%.*f", decimals, v);
    else
        fputs("null", f);
}

static void put_stage(FILE *f, const char *name, const struct lat_hist *h, int *first)
{
    if (h->n == 0)
        return;
    fprintf(f, "%s\"%s\": {\"mean\": ", *first ? "" : ", ", name);
    put_num(f, lat_hist_mean(h), 3);
    fputs(", \"median\": ", f);
    put_num(f, lat_hist_pct(h, 50), 3);
    fputs(", \"p90\": ", f);
    put_num(f, lat_hist_pct(h, 90), 3);
    fputs(", \"p99\": ", f);
    put_num(f, lat_hist_pct(h, 99), 3);
    fputs("}", f);
    *first = 0;
}

static void put_latency(FILE *f, const struct lat_hist *h)
{
    static const double ps[3] = { 50, 90, 99 };
    static const char *const pn[3] = { "p50", "p90", "p99" };
    fputc('{', f);
    for (int i = 0; i < 3; i++) {
        fprintf(f, "\"%s\": ", pn[i]);
        put_num(f, lat_hist_pct(h, ps[i]), 3);
        fputs(", ", f);
    }
    fputs("\"max\": ", f);
    put_num(f, h->n ? h->max : NAN, 3);
    fprintf(f, ", \"samples\": %llu}", (unsigned long long)h->n);
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return NAN;
    return ru.ru_maxrss / 1024.0;
}

void run_report_json(FILE *f, const struct run_report *r)
{
    const struct pipeline_stats *ps = r->ps;
    const struct video_info *vi = r->info;
    char cpu[256];
    run_cpu_name(cpu, sizeof cpu);

    fprintf(f, "{\"mode\": ");
    json_put_string(f, r->mode);
    fprintf(f, ", \"config\": {\"model\": ");
    json_put_string(f, r->model ? model_arch(r->model) : NULL);
    fprintf(f, ", \"weights\": ");
    json_put_string(f, r->weights);
    fprintf(f, ", \"source\": ");
    json_put_string(f, r->source);
    if (vi) {
        fprintf(f, ", \"input\": [%d, %d]", vi->width, vi->height);
        if (r->model) {
            int rw = 0, rh = 0;
            double gflops = 0;
            char why[320];
            model_resized_size(r->model, vi->width, vi->height, &rw, &rh);
            model_gflops(r->model, vi->width, vi->height, &gflops, NULL, NULL, why, sizeof why);
            fprintf(f, ", \"resized\": [%d, %d], \"gflops\": %.3f", rw, rh, gflops);
        }
        fprintf(f, ", \"source_nominal_fps\": ");
        put_num(f, vi->fps, 3);
        fprintf(f, ", \"codec\": ");
        json_put_string(f, vi->codec);
    }
    fprintf(f, ", \"live\": %s, \"queue\": %d, \"queue_policy\": \"%s\"",
            ps->live ? "true" : "false", ps->queue_len, ps->live ? "drop_oldest" : "block");
    if (r->display) {
        fprintf(f, ", \"display\": ");
        json_put_string(f, r->display);
    }
    fprintf(f, ", \"threads\": %d, \"cpu\": ", r->threads);
    json_put_string(f, cpu);
    fprintf(f, ", \"engine\": ");
    json_put_string(f, r->engine ? r->engine : "");
    fprintf(f, ", \"precision\": ");
    json_put_string(f, r->precision ? r->precision : "");
    fprintf(f, ", \"blas_core\": ");
    json_put_string(f, model_blas_core());
    fprintf(f, ", \"vdetect_version\": \"%s\"}", VDETECT_VERSION);

    fputs(", \"stages_ms\": {", f);
    int first = 1;
    put_stage(f, "decode", &ps->decode_ms, &first);
    for (int s = 0; s < MODEL_STAGES; s++)
        put_stage(f, model_stage_name(s), &ps->stage_ms[s], &first);
    put_stage(f, "draw", &r->draw_ms, &first);
    put_stage(f, r->output_stage ? r->output_stage : "output", &r->output_ms, &first);
    fputs("}", f);

    double src_fps = run_rate(ps->decoded, ps->t_first_capture, ps->t_last_capture);
    double det_fps = run_rate(ps->detected, ps->t_first_result, ps->t_last_result);
    double disp_fps = run_rate(r->displayed, r->t_first_display, r->t_last_display);
    fputs(", \"throughput\": {\"source_fps\": ", f);
    put_num(f, src_fps, 3);
    fputs(", \"detect_fps\": ", f);
    put_num(f, det_fps, 3);
    fputs(", \"display_fps\": ", f);
    put_num(f, disp_fps, 3);
    /* the spans the rates are measured over: rate = (count - 1) / span */
    fputs("}, \"spans_s\": {\"source\": ", f);
    put_num(f, ps->t_last_capture - ps->t_first_capture, 6);
    fputs(", \"detect\": ", f);
    put_num(f, ps->t_last_result - ps->t_first_result, 6);
    fputs(", \"display\": ", f);
    put_num(f, r->t_last_display - r->t_first_display, 6);
    fputs("}, \"latency_ms\": {\"capture_to_result\": ", f);
    put_latency(f, &ps->capture_to_result);
    fputs(", \"capture_to_display\": ", f);
    put_latency(f, &r->capture_to_display);
    fprintf(f, "}, \"frames\": {\"decoded\": %lld, \"detected\": %lld, \"held\": %lld, "
               "\"still\": %lld, \"detector_calls\": %lld, "
               "\"displayed\": %lld, \"dropped\": %lld, \"dropped_at_exit\": %lld, "
               "\"display_dropped\": %lld, \"frame_queue_peak\": %d}",
            (long long)ps->decoded, (long long)ps->detected, (long long)ps->held,
            (long long)ps->still, (long long)ps->calls,
            (long long)r->displayed, (long long)ps->dropped, (long long)ps->discarded,
            (long long)ps->display_dropped, ps->frame_queue_peak);
    if (r->stream_copy)
        fprintf(f, ", \"stream_copy\": {\"packets\": %lld, \"dropped\": %lld, "
                   "\"dropped_nomem\": %lld, \"queue_peak\": %d}",
                (long long)r->copy.queued, (long long)r->copy.dropped,
                (long long)r->copy.dropped_nomem, r->copy.peak_packets);
    fputs(", \"cpu_ms_per_frame\": ", f);
    put_num(f, r->cpu_ms_per_frame, 3);
    fputs(", \"peak_rss_mb\": ", f);
    put_num(f, peak_rss_mb(), 1);
    if (r->gate) {
        fputs(", \"gating\": ", f);
        gate_json(f, r->gate, r->info ? r->info->fps : NAN, r->cpu_ms_per_frame);
    }
    if (r->tracking) {
        fputs(", \"tracking\": ", f);
        tracking_json(f, r->tracking, r->cm);
    }
    fputs("}\n", f);
}

/* " p99 12 ms", or " max 12 ms" when there are too few samples for a p99
 * to mean more than the largest; " -" when there are none. */
static void put_tail(FILE *f, const struct lat_hist *h)
{
    if (!h->n)
        fputs(" -", f);
    else if (h->n < 100)
        fprintf(f, " max %.0f ms", h->max);
    else
        fprintf(f, " p99 %.0f ms", lat_hist_pct(h, 99));
}

/*
 * One line. A window (view) reports capture->result and capture->display
 * latency: how old what is on screen is. For a file (annotate, output stage
 * "encode") the capture time is when the decoder got to the frame, which runs
 * ahead of the detector by the queue; that latency measures the queue, not
 * anything a user waits for, so the line gives the detection time per frame
 * instead.
 */
void run_report_summary(FILE *f, const struct run_report *r)
{
    const struct pipeline_stats *ps = r->ps;
    int file = r->output_stage && !strcmp(r->output_stage, "encode");
    int events = r->output_stage && !strcmp(r->output_stage, "events");
    double src_fps = run_rate(ps->decoded, ps->t_first_capture, ps->t_last_capture);
    double det_fps = run_rate(ps->detected, ps->t_first_result, ps->t_last_result);
    double disp_fps = run_rate(r->displayed, r->t_first_display, r->t_last_display);
    char still[48] = "";
    if (ps->still)
        snprintf(still, sizeof still, ", %lld still", (long long)ps->still);
    fprintf(f, "%s: %lld frames: %lld detected%s, %lld %s, %lld dropped; "
               "fps: source %.1f, detect %.1f, %s %.1f; ",
            r->mode, (long long)ps->decoded, (long long)ps->detected, still, (long long)r->displayed,
            file ? "written" : events ? "processed" : "displayed", (long long)ps->dropped, src_fps,
            det_fps, file ? "write" : events ? "output" : "display", disp_fps);
    if (file) {
        const struct lat_hist *h = &ps->stage_ms[MODEL_STAGE_TOTAL];
        fputs("detect per frame:", f);
        if (h->n)
            fprintf(f, " mean %.0f ms, p50 %.0f ms,", lat_hist_mean(h), lat_hist_pct(h, 50));
        put_tail(f, h);
    } else {
        fputs("latency: capture->result", f);
        put_tail(f, &ps->capture_to_result);
        fputs(", capture->display", f);
        put_tail(f, &r->capture_to_display);
    }
    if (r->stream_copy && r->copy.dropped)
        fprintf(f, "; %lld copied audio/subtitle packets dropped (copy queue full%s)",
                (long long)r->copy.dropped, r->copy.dropped_nomem ? " or out of memory" : "");
    fputc('\n', f);
}
