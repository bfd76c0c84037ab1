/*
 * plot.c — `bench --plot FILE.svg`: the run drawn for people who would rather
 * look than read. Two panels in one self-contained SVG: per-frame latency over
 * the run (one polyline per series), and the per-stage breakdown of the median
 * frame as a stacked bar with a legend. Plain SVG 1.1, no scripts, no fonts
 * beyond the generic sans-serif. The title may have a second line (after a
 * '\n'), drawn smaller; titles are shrunk, then cut in the middle, to fit.
 * Legends flow left to right and wrap, the picture growing to hold them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

/* Twelve distinct colours (Tableau 10, then cyan and charcoal): the pipeline
 * has eleven stages (decode, the detector's eight, draw, encode), and no two
 * may share one. */
static const char *const palette[] = {
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
    "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#17becf", "#3b3b3b",
};
#define NPAL ((int)(sizeof palette / sizeof palette[0]))

enum { W = 900, MARGIN = 20 };

/* Width of s in px at font size px: an estimate, since the SVG's viewer picks
 * the font (sans-serif); 0.6 em a character is DejaVu Sans's average for this
 * mix of lower case, digits and punctuation, a little wide for narrower fonts,
 * so what is laid out by it does not overlap. */
static double text_width(const char *s, int px)
{
    return 0.6 * px * (double)strlen(s);
}

static void text(FILE *f, double x, double y, const char *anchor, int size, const char *fill,
                 const char *s, size_t len)
{
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\" fill=\"%s\">", x,
            y, anchor, size, fill);
    for (size_t i = 0; i < len && s[i]; i++) {
        if (s[i] == '<') fputs("&lt;", f);
        else if (s[i] == '>') fputs("&gt;", f);
        else if (s[i] == '&') fputs("&amp;", f);
        else fputc(s[i], f);
    }
    fputs("</text>\n", f);
}

#define TEXT(f, x, y, anchor, size, s) text(f, x, y, anchor, size, "#222", s, strlen(s))

/* One centred title line of at most `size` px that fits between the margins:
 * smaller down to min px, then cut in the middle with "...", so both ends
 * (what ran, and the thread count or precision) stay readable. */
static void title_line(FILE *f, double y, int size, int min, const char *fill, const char *s,
                       size_t len)
{
    double room = W - 2 * MARGIN;
    while (size > min && 0.6 * size * (double)len > room) size--;
    size_t fit = (size_t)(room / (0.6 * size));
    if (len <= fit) {
        text(f, W / 2.0, y, "middle", size, fill, s, len);
        return;
    }
    char buf[512];
    size_t keep = fit > 3 ? fit - 3 : 0, head = keep / 2, tail = keep - head;
    if (keep > sizeof buf - 4) keep = sizeof buf - 4, head = keep / 2, tail = keep - head;
    memcpy(buf, s, head);
    memcpy(buf + head, "...", 3);
    memcpy(buf + head + 3, s + len - tail, tail);
    text(f, W / 2.0, y, "middle", size, fill, buf, head + 3 + tail);
}

/* A round step of about range / target for the axis ticks: 1, 2 or 5 × 10^k. */
static double nice_step(double range, int target)
{
    if (!(range > 0)) return 1;
    double raw = range / target, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

/* Legend items laid out left to right from x0, wrapping before max_x: the
 * position of each item (x[i], row[i]); returns the number of rows. */
static int flow(const char *const *items, int n, int px, double x0, double max_x, double *x,
                int *row)
{
    double cx = x0;
    int r = 0;
    for (int i = 0; i < n; i++) {
        double wi = 16 + text_width(items[i], px);
        if (cx > x0 && cx + wi > max_x) { r++; cx = x0; }
        x[i] = cx;
        row[i] = r;
        cx += wi + 18;
    }
    return n ? r + 1 : 0;
}

int plot_write_svg(FILE *f, const char *path, const char *title,
                   const struct plot_series *series, int nseries,
                   const struct plot_stage *stages, int nstages)
{
    APP_ASSERT(nstages <= NPAL && nseries <= NPAL && nstages <= 16 && nseries <= 16);
    const double L = 70, R = MARGIN, PH = 250, pw = W - L - R;
    /* the title: first line large, the rest (the model) smaller */
    const char *nl = strchr(title, '\n');
    size_t len1 = nl ? (size_t)(nl - title) : strlen(title);
    double y = 26;
    /* the legends, laid out before anything is written: the height follows them */
    const char *snames[16], *items[16];
    char stage_item[16][96];
    double sx[16], lx[16], total = 0;
    int srow[16], lrow[16];
    for (int i = 0; i < nseries; i++) snames[i] = series[i].name;
    for (int i = 0; i < nstages; i++) total += stages[i].ms > 0 ? stages[i].ms : 0;
    for (int i = 0; i < nstages; i++) {
        snprintf(stage_item[i], sizeof stage_item[i], "%s %.2f ms (%.0f%%)", stages[i].name,
                 stages[i].ms, total > 0 ? 100 * stages[i].ms / total : 0);
        items[i] = stage_item[i];
    }
    int srows = flow(snames, nseries, 11, L, W - R, sx, srow);
    int lrows = flow(items, nstages, 11, L, W - R, lx, lrow);
    double ty = y + (nl ? 20 : 0);                       /* last title line */
    double T = ty + 14 + 16.0 * srows + 8;               /* panel 1's top */
    double y0 = T + PH;                                  /* its x axis */
    double by = y0 + 76, bh = 32;                        /* the stage bar */
    double H = by + bh + 22 + 18.0 * lrows + 6;

    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" "
               "viewBox=\"0 0 %d %.0f\" font-family=\"sans-serif\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H, W, H);
    title_line(f, y, 16, 11, "#222", title, len1);
    if (nl) title_line(f, ty, 12, 9, "#555", nl + 1, strlen(nl + 1));

    /* panel 1: latency per frame */
    int nmax = 0;
    double ymax = 0;
    for (int s = 0; s < nseries; s++) {
        if (series[s].n > nmax) nmax = series[s].n;
        for (int i = 0; i < series[s].n; i++)
            if (isfinite(series[s].ms[i]) && series[s].ms[i] > ymax) ymax = series[s].ms[i];
    }
    double step = nice_step(ymax, 5), top = step * ceil(ymax / step);
    if (top <= 0) top = 1;
    double x0 = L, xlast = nmax > 1 ? nmax - 1 : 1;
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
               "stroke=\"#888\"/>\n", x0, T, pw, PH);
    char lab[32];
    for (int k = 0; k * step <= top * (1 + 1e-9); k++) {
        double v = k * step, yy = y0 - v / top * PH;
        snprintf(lab, sizeof lab, "%g", v);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n",
                x0, yy, x0 + pw, yy);
        TEXT(f, x0 - 6, yy + 4, "end", 11, lab);
    }
    /* frame ticks: whole frames at a round step, about 8 of them */
    double xstep = nice_step(xlast, 8);
    if (xstep < 1) xstep = 1;
    for (int k = 0; k * xstep <= xlast + 1e-9; k++) {
        double v = k * xstep, xx = x0 + (nmax > 1 ? pw * v / xlast : pw / 2);
        snprintf(lab, sizeof lab, "%g", v);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n"
                   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n",
                xx, T, xx, y0, xx, y0, xx, y0 + 4);
        TEXT(f, xx, y0 + 16, "middle", 11, lab);
    }
    TEXT(f, 18, T + PH / 2, "middle", 12, "ms");
    TEXT(f, x0 + pw / 2, y0 + 34, "middle", 12, "frame");
    for (int s = 0; s < nseries; s++) {
        const char *col = palette[s];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.2\" points=\"", col);
        for (int i = 0; i < series[s].n; i++) {
            if (!isfinite(series[s].ms[i])) continue;
            double x = x0 + (nmax > 1 ? pw * i / xlast : pw / 2);
            fprintf(f, "%.1f,%.1f ", x, y0 - series[s].ms[i] / top * PH);
        }
        fputs("\"/>\n", f);
        /* few frames: a dot on each, or a lone point would not show */
        for (int i = 0; series[s].n <= 60 && i < series[s].n; i++)
            if (isfinite(series[s].ms[i]))
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.2\" fill=\"%s\"/>\n",
                        x0 + (nmax > 1 ? pw * i / xlast : pw / 2),
                        y0 - series[s].ms[i] / top * PH, col);
        double ly = ty + 18 + 16.0 * srow[s];
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"3\" fill=\"%s\"/>\n", sx[s],
                ly - 5, col);
        TEXT(f, sx[s] + 16, ly, "start", 11, series[s].name);
    }

    /* panel 2: the median frame, stage by stage */
    TEXT(f, L, by - 10, "start", 13, "median time per stage");
    double x = L;
    for (int i = 0; i < nstages && total > 0; i++) {
        if (!(stages[i].ms > 0)) continue;
        double w = pw * stages[i].ms / total;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", x,
                by, w, bh, palette[i]);
        x += w;
    }
    for (int i = 0; i < nstages; i++) {
        double ly = by + bh + 22 + 18.0 * lrow[i];
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>\n", lx[i],
                ly - 9, palette[i]);
        TEXT(f, lx[i] + 14, ly, "start", 11, items[i]);
    }
    fputs("</svg>\n", f);
    if (fflush(f) != 0 || ferror(f)) {
        app_error("plot %s: write error", path);
        return -1;
    }
    return 0;
}
