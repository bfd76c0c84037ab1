/*
 * plot.c — `bench --plot FILE.svg`: the run drawn for people who would rather
 * look than read. Two panels in one self-contained SVG: per-frame latency over
 * the run (one polyline per series), and the per-stage breakdown of the median
 * frame as a stacked bar with a legend. Plain SVG 1.1, no scripts, no fonts
 * beyond the generic sans-serif.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app.h"

static const char *const palette[] = {
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
};
#define NPAL (sizeof palette / sizeof palette[0])

static void text(FILE *f, double x, double y, const char *anchor, int size, const char *s)
{
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\">", x, y, anchor,
            size);
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
    fputs("</text>\n", f);
}

/* A round step of about range / 5 for the axis ticks. */
static double nice_step(double range)
{
    if (!(range > 0)) return 1;
    double raw = range / 5, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

int plot_write_svg(FILE *f, const char *path, const char *title,
                   const struct plot_series *series, int nseries,
                   const struct plot_stage *stages, int nstages)
{
    const double W = 900, H = 560, L = 70, R = 20, T = 50, PH = 270;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H, W, H);
    text(f, W / 2, 24, "middle", 16, title);

    /* panel 1: latency per frame */
    int nmax = 0;
    double ymax = 0;
    for (int s = 0; s < nseries; s++) {
        if (series[s].n > nmax) nmax = series[s].n;
        for (int i = 0; i < series[s].n; i++)
            if (isfinite(series[s].ms[i]) && series[s].ms[i] > ymax) ymax = series[s].ms[i];
    }
    double step = nice_step(ymax), top = step * ceil(ymax / step);
    if (top <= 0) top = 1;
    double pw = W - L - R, x0 = L, y0 = T + PH;
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
               "stroke=\"#888\"/>\n", x0, (double)T, pw, PH);
    for (double v = 0; v <= top + 1e-9; v += step) {
        double y = y0 - v / top * PH;
        char lab[32];
        snprintf(lab, sizeof lab, "%g", v);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n",
                x0, y, x0 + pw, y);
        text(f, x0 - 6, y + 4, "end", 11, lab);
    }
    text(f, 18, T + PH / 2, "middle", 12, "ms");
    text(f, x0 + pw / 2, y0 + 30, "middle", 12, "frame");
    char lab[32];
    snprintf(lab, sizeof lab, "%d", nmax > 0 ? nmax - 1 : 0);
    text(f, x0, y0 + 15, "start", 11, "0");
    text(f, x0 + pw, y0 + 15, "end", 11, lab);
    for (int s = 0; s < nseries; s++) {
        const char *col = palette[s % NPAL];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.2\" points=\"", col);
        for (int i = 0; i < series[s].n; i++) {
            if (!isfinite(series[s].ms[i])) continue;
            double x = x0 + (nmax > 1 ? pw * i / (nmax - 1) : pw / 2);
            fprintf(f, "%.1f,%.1f ", x, y0 - series[s].ms[i] / top * PH);
        }
        fputs("\"/>\n", f);
        double lx = x0 + 10 + 200 * s;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"3\" fill=\"%s\"/>\n", lx,
                T + 8.0, col);
        text(f, lx + 16, T + 13, "start", 11, series[s].name);
    }

    /* panel 2: the median frame, stage by stage */
    double by = y0 + 70, bh = 36, total = 0;
    for (int i = 0; i < nstages; i++) total += stages[i].ms > 0 ? stages[i].ms : 0;
    text(f, L, by - 10, "start", 13, "median time per stage");
    double x = L;
    for (int i = 0; i < nstages && total > 0; i++) {
        if (!(stages[i].ms > 0)) continue;
        double w = pw * stages[i].ms / total;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", x,
                by, w, bh, palette[i % NPAL]);
        x += w;
    }
    for (int i = 0; i < nstages; i++) {
        double lx = L + (i % 4) * (pw / 4), ly = by + bh + 22 + (i / 4) * 18;
        char item[96];
        snprintf(item, sizeof item, "%s %.2f ms (%.0f%%)", stages[i].name, stages[i].ms,
                 total > 0 ? 100 * stages[i].ms / total : 0);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>\n", lx,
                ly - 9, palette[i % NPAL]);
        text(f, lx + 14, ly, "start", 11, item);
    }
    fputs("</svg>\n", f);
    if (fflush(f) != 0 || ferror(f)) {
        fprintf(stderr, "plot %s: write error\n", path);
        return -1;
    }
    return 0;
}
