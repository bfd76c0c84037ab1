/*
 * stats_log.c — the periodic stats of a long run (`view --stats-log`): one JSON
 * line per interval with the frames decoded, detected, shown and dropped in it,
 * capture->display and capture->result latency percentiles over it, and the
 * process's resident memory at its end. What an operator watching a camera
 * for days (or `make soak`) needs to see that nothing creeps up.
 *
 * The owner (the main thread) feeds latencies as frames go by and calls
 * stats_log_tick() often; a line is written and flushed when an interval is
 * over, so a killed run keeps every finished interval.
 */
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "pipeline.h"

/* Resident set size now, MB (/proc/self/statm), or NAN. */
static double rss_mb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return NAN;
    unsigned long size, resident;
    int ok = fscanf(f, "%lu %lu", &size, &resident) == 2;
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return ok && page > 0 ? (double)resident * (double)page / (1024.0 * 1024.0) : NAN;
}

void stats_log_init(struct stats_log *l, FILE *f, double every, double now)
{
    l->f = f;
    l->every = every;
    l->t0 = l->start = now;
    l->decoded = l->detected = l->displayed = l->dropped = 0;
    lat_hist_init(&l->display);
    lat_hist_init(&l->result);
}

/* ms to the microsecond (the histogram is 1% wide anyway); NAN stays NAN */
static void ms(FILE *f, double v)
{
    json_put_double(f, round(v * 1e3) / 1e3);
}

static void pcts(FILE *f, const char *key, const struct lat_hist *h)
{
    fprintf(f, ", \"%s\": {\"p50\": ", key);
    ms(f, lat_hist_pct(h, 50));
    fputs(", \"p90\": ", f);
    ms(f, lat_hist_pct(h, 90));
    fputs(", \"p99\": ", f);
    ms(f, lat_hist_pct(h, 99));
    fputs(", \"max\": ", f);
    ms(f, h->n ? h->max : NAN);
    fprintf(f, ", \"samples\": %llu}", (unsigned long long)h->n);
}

int stats_log_tick(struct stats_log *l, double now, int64_t decoded, int64_t detected,
                   int64_t displayed, int64_t dropped, int force)
{
    if (!l->f || (!force && now - l->t0 < l->every)) return 0;
    if (force && decoded == l->decoded && displayed == l->displayed) return 0;
    FILE *f = l->f;
    fputs("{\"t\": ", f);
    json_put_double(f, round((now - l->start) * 1e3) / 1e3);
    fputs(", \"interval_s\": ", f);
    json_put_double(f, round((now - l->t0) * 1e3) / 1e3);
    fprintf(f, ", \"decoded\": %lld, \"detected\": %lld, \"displayed\": %lld, \"dropped\": %lld",
            (long long)(decoded - l->decoded), (long long)(detected - l->detected),
            (long long)(displayed - l->displayed), (long long)(dropped - l->dropped));
    pcts(f, "capture_to_display_ms", &l->display);
    pcts(f, "capture_to_result_ms", &l->result);
    fputs(", \"rss_mb\": ", f);
    json_put_double(f, round(rss_mb() * 10) / 10);
    fputs("}\n", f);
    int bad = fflush(f) != 0 || ferror(f);
    l->t0 = now;
    l->decoded = decoded;
    l->detected = detected;
    l->displayed = displayed;
    l->dropped = dropped;
    lat_hist_init(&l->display);
    lat_hist_init(&l->result);
    return bad ? -1 : 0;
}
