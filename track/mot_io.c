/*
 * mot_io.c — MOTChallenge text files: writing a tracker's result
 * (frame,id,left,top,width,height,score,-1,-1,-1 per line) and reading results
 * or ground truth (frame,id,left,top,width,height,conf,class,visibility) into
 * per-frame lists of x1, y1, x2, y2 boxes.
 *
 * Files are untrusted: every field is parsed with a full-consumption check,
 * numbers must be finite and within +-1e9 (so no conversion to float can
 * overflow), frames are bounded (so the per-frame index cannot
 * be made huge), lines are bounded, and any fault is one message naming the
 * file, the line and the field.
 */
#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_FRAME 10000000
#define MAX_LINE 1024
#define MAX_FIELDS 10
#define MAX_VALUE 1e9 /* pixels, scores: far beyond any frame, well inside a float */

static const char *const FIELD_NAMES[MAX_FIELDS] = {
    "frame", "id", "x", "y", "w", "h", "conf", "class", "visibility", "z",
};

int track_mot_write_line(FILE *f, int frame, int id, const float box[4], float score)
{
    int r = fprintf(f, "%d,%d,%.2f,%.2f,%.2f,%.2f,%.4g,-1,-1,-1\n", frame, id, box[0], box[1],
                    box[2] - box[0], box[3] - box[1], score);
    return r < 0 || ferror(f) ? -1 : 0;
}

int track_mot_write(FILE *f, int frame, const struct track_out *tracks, int n)
{
    BASE_ASSERT(f && n >= 0 && (tracks || n == 0));
    for (int i = 0; i < n; i++) {
        const struct track_out *t = &tracks[i];
        if (t->id < 1 || t->since_match != 0) continue;
        if (track_mot_write_line(f, frame, t->id, t->box, t->score) < 0) return -1;
    }
    return 0;
}

void track_mot_seq_free(struct track_mot_seq *s)
{
    if (!s) return;
    free(s->first);
    free(s->objs);
    memset(s, 0, sizeof *s);
}

struct row {
    int frame;
    struct track_mot_obj o;
};

/* Split line at commas into at most MAX_FIELDS fields, trimmed in place.
 * Returns the count, or MAX_FIELDS + 1 when there are more. */
static int split(char *line, char **field)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == MAX_FIELDS) return MAX_FIELDS + 1;
        while (*p == ' ' || *p == '\t') p++;
        field[n++] = p;
        char *c = strchr(p, ',');
        char *end = c ? c : p + strlen(p);
        while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) end--;
        if (!c) {
            *end = 0;
            return n;
        }
        *end = 0;
        p = c + 1;
    }
}

static int number(const char *s, double *x)
{
    char *end;
    errno = 0;
    *x = strtod(s, &end);
    return end != s && !*end && errno != ERANGE && isfinite(*x);
}

int track_mot_read(const char *path, enum track_mot_kind kind, struct track_mot_seq *seq,
                   char *msg, size_t len)
{
    BASE_ASSERT(path && seq);
    memset(seq, 0, sizeof *seq);
    FILE *f = fopen(path, "r");
    if (!f) return base_err(msg, len, "%s: %s", path, strerror(errno));
    struct row *rows = NULL;
    int nrows = 0, cap = 0, skipped = 0, maxf = 0, lineno = 0, rc = -1;
    char *line = NULL;
    size_t linecap = 0;
    ssize_t got;
    while ((got = getline(&line, &linecap, f)) >= 0) {
        lineno++;
        size_t l = (size_t)got;
        if (l && line[l - 1] == '\n') line[--l] = 0;
        const char *c0 = line + strspn(line, " \t\r");
        if (nrows == 0 && (*c0 == '{' || *c0 == '[')) {
            base_err(msg, len, "%s:%d: this is JSON (a COCO file?), not MOTChallenge text "
                     "(frame,id,x,y,w,h,... per line)", path, lineno);
            goto out;
        }
        if (l > MAX_LINE) {
            base_err(msg, len, "%s:%d: line longer than %d characters", path, lineno, MAX_LINE);
            goto out;
        }
        if (memchr(line, 0, l)) {
            base_err(msg, len, "%s:%d: NUL byte in line", path, lineno);
            goto out;
        }
        const char *q = line;
        while (*q == ' ' || *q == '\t' || *q == '\r') q++;
        if (!*q) continue; /* blank line */
        char *field[MAX_FIELDS];
        int nf = split(line, field);
        if (nf > MAX_FIELDS || nf < 6) {
            base_err(msg, len, "%s:%d: %s fields (want 6 to %d: frame,id,x,y,w,h,...)", path,
                     lineno, nf > MAX_FIELDS ? "too many" : "too few", MAX_FIELDS);
            goto out;
        }
        double v[MAX_FIELDS];
        for (int k = 0; k < nf; k++) {
            if (!number(field[k], &v[k])) {
                base_err(msg, len, "%s:%d: field %d (%s): '%.30s' is not a number", path, lineno,
                         k + 1, FIELD_NAMES[k], field[k]);
                goto out;
            }
        }
        for (int k = 2; k < nf; k++) {
            if (fabs(v[k]) > MAX_VALUE) {
                base_err(msg, len, "%s:%d: field %d (%s): '%.30s' is out of range [-%g, %g]", path,
                         lineno, k + 1, FIELD_NAMES[k], field[k], MAX_VALUE, MAX_VALUE);
                goto out;
            }
        }
        if (v[0] != floor(v[0]) || v[0] < 1 || v[0] > MAX_FRAME) {
            base_err(msg, len, "%s:%d: field 1 (frame): '%.30s' is not an integer in [1, %d]",
                     path, lineno, field[0], MAX_FRAME);
            goto out;
        }
        if (v[1] != floor(v[1]) || v[1] < -2147483647.0 || v[1] > 2147483647.0) {
            base_err(msg, len, "%s:%d: field 2 (id): '%.30s' is not an integer", path, lineno,
                     field[1]);
            goto out;
        }
        if (v[4] < 0 || v[5] < 0) {
            base_err(msg, len, "%s:%d: negative %s", path, lineno, v[4] < 0 ? "width" : "height");
            goto out;
        }
        float score = nf > 6 ? (float)v[6] : 1;
        if (kind == TRACK_MOT_GT_ALL && nf > 6 && v[6] == 0)
            score = 0;   /* kept: an ignore region */
        else if (kind != TRACK_MOT_RESULTS && nf > 6 && v[6] == 0) {
            skipped++;
            continue;
        }
        if (base_grow((void **)&rows, &cap, nrows + 1, sizeof *rows) < 0) {
            base_err(msg, len, "%s:%d: out of memory", path, lineno);
            goto out;
        }
        struct row *r = &rows[nrows++];
        r->frame = (int)v[0];
        r->o = (struct track_mot_obj){
            .id = (int)v[1],
            .box = { (float)v[2], (float)v[3], (float)(v[2] + v[4]), (float)(v[3] + v[5]) },
            .score = score,
            .label = nf > 7 ? (int)fmax(fmin(v[7], 1e9), -1e9) : -1,
            .visibility = nf > 8 ? (float)v[8] : -1,
        };
        if (r->frame > maxf) maxf = r->frame;
    }
    if (ferror(f)) {
        base_err(msg, len, "%s: read error after line %d", path, lineno);
        goto out;
    }
    /* group by frame, keeping the file's order within a frame (counting sort) */
    seq->first = calloc((size_t)maxf + 2, sizeof *seq->first);
    seq->objs = malloc((size_t)(nrows ? nrows : 1) * sizeof *seq->objs);
    if (!seq->first || !seq->objs) {
        base_err(msg, len, "%s: out of memory (%d rows, %d frames)", path, nrows, maxf);
        goto out;
    }
    for (int i = 0; i < nrows; i++) seq->first[rows[i].frame + 1]++;
    for (int fr = 1; fr <= maxf; fr++) seq->first[fr + 1] += seq->first[fr];
    for (int i = 0; i < nrows; i++) seq->objs[seq->first[rows[i].frame]++] = rows[i].o;
    for (int fr = maxf; fr >= 1; fr--) seq->first[fr] = seq->first[fr - 1];
    seq->first[0] = 0;
    seq->first[1] = 0;
    seq->nframes = maxf;
    seq->count = nrows;
    seq->skipped = skipped;
    rc = 0;
out:
    if (rc < 0) track_mot_seq_free(seq);
    free(rows);
    free(line);
    fclose(f);
    return rc;
}
