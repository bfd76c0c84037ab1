/*
 * eval_track.c — `vdetect eval --track --truth GT.txt --mot OUT.txt`: how well a
 * tracker's output (annotate --mot) follows the ground truth, both as
 * MOTChallenge text files.
 *
 * Per frame, as MOTChallenge's evaluation does: hypotheses on an ignore region
 * (a ground-truth row with conf 0, e.g. an object mostly hidden) are removed
 * first (track_mot_drop_ignored), then the frame is scored against the other
 * ground-truth rows (track_mot_frame: CLEAR MOT at IoU >= 0.5 and the identity
 * measures). Frames run from 1 to the last frame of either file; a frame
 * missing from one file is empty there.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../track/track.h"
#include "app.h"

static void print_result(FILE *f, const struct track_mot_result *r, const char *truth,
                         const char *mot)
{
    fprintf(f, "%s against %s: %ld frames, %ld ground-truth boxes of %ld objects, %ld "
               "hypotheses\n", mot, truth, r->frames, r->num_objects, r->num_unique_objects,
            r->num_predictions);
    fprintf(f, "MOTA   %7.4f   1 - (FN + FP + IDSW) / GT\n", r->mota);
    fprintf(f, "IDF1   %7.4f   identities right: 2 IDTP / (2 IDTP + IDFP + IDFN)\n", r->idf1);
    fprintf(f, "MOTP   %7.4f   mean 1 - IoU of the matches (0 is perfect)\n", r->motp);
    fprintf(f, "IDP    %7.4f   IDR %7.4f\n", r->idp, r->idr);
    fprintf(f, "FP     %7ld   FN %ld   IDSW %ld   fragmentations %ld\n", r->num_false_positives,
            r->num_misses, r->num_switches, r->num_fragmentations);
    fprintf(f, "objects: %ld mostly tracked (>= 80%% of their frames), %ld partly, %ld mostly "
               "lost (< 20%%)\n", r->mostly_tracked, r->partially_tracked, r->mostly_lost);
}

static void put_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.6f", v);
    else
        fputs("null", f);
}

static void print_json(FILE *f, const struct track_mot_result *r)
{
    fprintf(f, "{\"frames\": %ld, \"gt\": %ld, \"objects\": %ld, \"hypotheses\": %ld, "
               "\"mota\": ", r->frames, r->num_objects, r->num_unique_objects,
            r->num_predictions);
    put_num(f, r->mota);
    fputs(", \"idf1\": ", f);
    put_num(f, r->idf1);
    fputs(", \"motp\": ", f);
    put_num(f, r->motp);
    fputs(", \"idp\": ", f);
    put_num(f, r->idp);
    fputs(", \"idr\": ", f);
    put_num(f, r->idr);
    fprintf(f, ", \"fp\": %ld, \"fn\": %ld, \"idsw\": %ld, \"fragmentations\": %ld, "
               "\"matches\": %ld, \"mostly_tracked\": %ld, \"partially_tracked\": %ld, "
               "\"mostly_lost\": %ld}\n", r->num_false_positives, r->num_misses,
            r->num_switches, r->num_fragmentations, r->num_matches, r->mostly_tracked,
            r->partially_tracked, r->mostly_lost);
}

int eval_track(const char *cmd, const char *truth, const char *mot, const char *json_path,
               int overwrite)
{
    char msg[400];
    struct track_mot_seq gt = { 0 }, hy = { 0 };
    struct track_mot *m = NULL;
    struct track_mot_obj *valid = NULL, *hyp = NULL;
    struct outfile *jf = NULL;
    int status = APP_FAIL;

    struct out_check oc;
    out_check_init(&oc, cmd, overwrite);
    if ((status = out_check_output(&oc, "--json", json_path)) != APP_OK ||
        (status = out_check_input(&oc, "--truth", truth)) != APP_OK ||
        (status = out_check_input(&oc, "--mot", mot)) != APP_OK ||
        (status = out_check_done(&oc)) != APP_OK)
        return status;
    status = APP_FAIL;
    if (track_mot_read(truth, TRACK_MOT_GT_ALL, &gt, msg, sizeof msg) < 0 ||
        track_mot_read(mot, TRACK_MOT_RESULTS, &hy, msg, sizeof msg) < 0 ||
        track_mot_create(&m, msg, sizeof msg) < 0) {
        app_error("%s", msg);
        goto done;
    }
    if (!gt.count) {
        app_error("--truth %s: no ground-truth rows", truth);
        goto done;
    }
    valid = malloc(sizeof *valid * (size_t)gt.count);
    hyp = malloc(sizeof *hyp * (size_t)(hy.count ? hy.count : 1));
    if (!valid || !hyp) {
        app_error("out of memory");
        goto done;
    }
    int nframes = gt.nframes > hy.nframes ? gt.nframes : hy.nframes;
    for (int f = 1; f <= nframes; f++) {
        const struct track_mot_obj *g = NULL;
        int ng = 0, nh = 0, nv = 0;
        if (f <= gt.nframes) {
            g = gt.objs + gt.first[f];
            ng = gt.first[f + 1] - gt.first[f];
        }
        if (f <= hy.nframes) {
            nh = hy.first[f + 1] - hy.first[f];
            memcpy(hyp, hy.objs + hy.first[f], sizeof *hyp * (size_t)nh);
        }
        if ((nh = track_mot_drop_ignored(g, ng, hyp, nh, msg, sizeof msg)) < 0) {
            app_error("%s", msg);
            goto done;
        }
        for (int i = 0; i < ng; i++)
            if (g[i].score != 0)
                valid[nv++] = g[i];
        if (track_mot_frame(m, valid, nv, hyp, nh, msg, sizeof msg) < 0) {
            app_error("frame %d: %s", f, msg);
            goto done;
        }
    }
    struct track_mot_result r;
    if (track_mot_result(m, &r, msg, sizeof msg) < 0) {
        app_error("%s", msg);
        goto done;
    }
    int to_stdout = json_path && !strcmp(json_path, "-");
    if (!to_stdout)
        print_result(stdout, &r, truth, mot);
    if (json_path) {
        if (outfile_open(&jf, "json", json_path, overwrite, 1) < 0)
            goto done;
        print_json(outfile_stream(jf), &r);
        if (outfile_commit(&jf) < 0)
            goto done;
    }
    status = APP_OK;
done:
    outfile_discard(&jf);
    track_mot_free(&m);
    track_mot_seq_free(&gt);
    track_mot_seq_free(&hy);
    free(valid);
    free(hyp);
    return status;
}
