/*
 * cli_eval.c — `vdetect eval [model] --images DIR --truth COCO.json [--json
 * FILE|-]`: the detector's accuracy on a labelled set, COCO style.
 *
 * Every image the truth file lists is read from DIR/file_name and run through
 * the model; its detections (all of them, as torchvision returns them: the
 * model's own box_score_thresh applies, --score-thresh only when given) are
 * scored by coco.h the way pycocotools' COCOeval does for iouType "bbox", area
 * "all", maxDets 100. With --detections or --coco, the detections vdetect
 * wrote earlier are scored instead: detect's or annotate's JSON Lines, or
 * annotate's COCO results (coco.h says how frames map to the truth's images).
 * Model labels are COCO category ids (torchvision's convention).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../video/video.h"
#include "app.h"
#include "coco.h"

static const char eval_help[] =
    "Usage: vdetect eval [model options] --images DIR --truth COCO.json [--json FILE|-]\n"
    "       vdetect eval --detections FILE.jsonl --truth COCO.json [--json FILE|-]\n"
    "       vdetect eval --coco RESULTS.json --truth COCO.json [--json FILE|-]\n"
    "       vdetect eval --track --mot TRACKS.txt --truth GT.txt [--json FILE|-]\n"
    "\n"
    "Measure the detector on a labelled set: COCO-style AP@[.5:.95], AP@.5 and AP@.75\n"
    "(bbox, area all, 100 detections per image, 101-point interpolation, as\n"
    "pycocotools' COCOeval), overall and per category. The images listed in the\n"
    "COCO file are read from DIR/file_name; model labels are taken as the file's\n"
    "category ids. All detections the model returns are scored (its own cut-off\n"
    "is --set box_score_thresh); --score-thresh and --classes filter only when given.\n"
    "\n"
    "Or score what detect or annotate wrote, without running a model: detect's\n"
    "JSON Lines (\"image\" ends in a truth file_name) or annotate's (\"frame\") with\n"
    "--detections, annotate's --coco results with --coco. Frame N is the truth\n"
    "image whose \"frame\" field is N, or, when no image has one, whose file_name\n"
    "ends in the number N (frame_0042.png is frame 42, as ffmpeg -start_number 0\n"
    "names extracted frames). Truth images without detections count as missed.\n"
    "\n"
    "With --track, score tracks instead: MOTChallenge text files, the tracker's\n"
    "(annotate --mot) against ground truth (frame,id,x,y,w,h,conf,class,visibility;\n"
    "conf 0 rows are ignore regions): MOTA, IDF1, MOTP, IDP/IDR, FP, FN, ID\n"
    "switches, fragmentations, mostly tracked/lost, as py-motmetrics and the\n"
    "MOTChallenge evaluation define them (IoU >= 0.5).\n"
    "\n"
    "Examples (the shipped clip and its ground truth):\n"
    "  vdetect annotate assets/sample.mp4 -o out.mp4 --json out.jsonl --score-thresh 0\n"
    "  vdetect eval --detections out.jsonl --truth assets/sample-truth.json\n"
    "  vdetect annotate assets/sample.mp4 -o out.mp4 --track --mot out.mot.txt\n"
    "  vdetect eval --track --mot out.mot.txt --truth assets/sample-truth.mot.txt\n"
    "\n"
    "Options:\n"
    "%s"
    "\n"
    "Model options (with --images):\n"
    "%s";

/* ---- output --------------------------------------------------------------------------------- */

static void print_table(const struct coco *e, const struct coco_summary *s, int images, double ms)
{
    printf("%-24s %6s %6s %7s %7s %7s\n", "category", "gt", "dets", "AP", "AP50", "AP75");
    for (int c = 0; c < coco_num_categories(e); c++) {
        const struct coco_category *k = coco_category(e, c);
        if (!k->evaluated)
            continue;
        char name[64];
        snprintf(name, sizeof name, "%lld %s", (long long)k->id, k->name ? k->name : "");
        if (k->ap[0] < 0)
            printf("%-24.24s %6d %6d %7s %7s %7s\n", name, k->ngt, k->ndet, "-", "-", "-");
        else
            printf("%-24.24s %6d %6d %7.4f %7.4f %7.4f\n", name, k->ngt, k->ndet,
                   coco_mean_ap(k->ap), k->ap[0], k->ap[5]);
    }
    printf("%-24s %6s %6s %7.4f %7.4f %7.4f\n", "all", "", "", s->ap, s->ap50, s->ap75);
    printf("%d images, %d categories with ground truth", images, s->ncat);
    if (ms > 0)
        printf(", %.1f ms per image", ms);
    putchar('\n');
}

static void print_json(FILE *f, const struct cli_model *cm, const struct coco *e,
                       const struct coco_summary *s, int images, double ms)
{
    fputs("{\"weights\": ", f);
    json_put_string(f, cm->weights_path);   /* null when --detections gave them */
    fprintf(f, ", \"images\": %d, \"ap\": ", images);
    json_put_double(f, s->ap);
    fputs(", \"ap50\": ", f);
    json_put_double(f, s->ap50);
    fputs(", \"ap75\": ", f);
    json_put_double(f, s->ap75);
    fputs(", \"ms_per_image\": ", f);
    json_put_double(f, ms);
    fputs(", \"per_class\": [", f);
    int first = 1;
    for (int c = 0; c < coco_num_categories(e); c++) {
        const struct coco_category *k = coco_category(e, c);
        if (!k->evaluated)
            continue;
        fprintf(f, "%s{\"id\": %lld, \"name\": ", first ? "" : ", ", (long long)k->id);
        first = 0;
        json_put_string(f, k->name);
        fprintf(f, ", \"gt\": %d, \"dets\": %d, \"ap\": ", k->ngt, k->ndet);
        if (k->ap[0] < 0) {
            fputs("null, \"ap50\": null, \"ap75\": null}", f);
            continue;
        }
        json_put_double(f, coco_mean_ap(k->ap));
        fputs(", \"ap50\": ", f);
        json_put_double(f, k->ap[0]);
        fputs(", \"ap75\": ", f);
        json_put_double(f, k->ap[5]);
        fputc('}', f);
    }
    fputs("]}\n", f);
}

/* `eval --json annotate.jsonl --truth t.json`: --json is eval's report, an
 * output; a user who meant it as the detections to score gets told so rather
 * than "--images is required" (or, with -y, the file replaced by a report).
 * APP_USAGE when path is an existing file of detections, else APP_OK. */
static int json_given_as_input(const char *cmd, const char *path)
{
    struct stat st;
    if (!path || !strcmp(path, "-") || stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size > ((off_t)64 << 20))
        return APP_OK;
    FILE *f = fopen(path, "rb");
    if (!f)
        return APP_OK;
    char *text = malloc((size_t)st.st_size + 1);
    size_t n = text ? fread(text, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    enum coco_kind k = text ? coco_sniff(text, n) : COCO_KIND_UNKNOWN;
    free(text);
    if (k != COCO_KIND_DETECT_LINES && k != COCO_KIND_ANNOTATE_LINES && k != COCO_KIND_RESULTS)
        return APP_OK;
    return app_usage_error(cmd, "--json %s: --json is where eval writes its report; %s", path,
                           coco_kind_hint(k));
}

/* ---- the command -------------------------------------------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int cmd_eval(int argc, char **argv)
{
    const char *cmd = "eval";
    struct cli_model cm;
    struct coco *e = NULL;
    const char *images = NULL, *truth = NULL, *json_path = NULL, *detections = NULL,
               *results = NULL;
    int status = APP_OK, quiet = 0, overwrite = 0, track = 0;
    const char *mot = NULL;
    FILE *jf = NULL;
    struct outfile *json_file = NULL;
    struct model_detection *dets = NULL;

    cli_model_init(&cm, argc);
    cm.score_thresh = -1;          /* not given: AP wants every detection the model returns */
    const struct opt opts[] = {
        { .name = "--images", .arg = "DIR", .kind = OPT_STRING, .dest = &images,
          .help = "directory holding the images" },
        { .name = "--truth", .arg = "FILE", .kind = OPT_STRING, .dest = &truth,
          .help = "COCO instances JSON (images, annotations, categories)" },
        { .name = "--detections", .arg = "FILE", .kind = OPT_STRING, .dest = &detections,
          .help = "score these detections instead of running a model: JSON\n"
                  "Lines as 'vdetect detect' writes them (\"image\" ending in\n"
                  "a truth file_name) or 'vdetect annotate --json' (\"frame\")" },
        { .name = "--coco", .arg = "FILE", .kind = OPT_STRING, .dest = &results,
          .help = "score a COCO results array as 'vdetect annotate --coco'\n"
                  "writes it (image_id: the frame index)" },
        { .name = "--track", .kind = OPT_FLAG, .dest = &track,
          .help = "score tracks: --mot against a MOTChallenge --truth" },
        { .name = "--mot", .arg = "FILE", .kind = OPT_STRING, .dest = &mot,
          .help = "with --track: the tracks (annotate --mot's file)" },
        { .name = "--json", .arg = "FILE|-", .kind = OPT_STRING, .dest = &json_path,
          .help = "also write eval's report as one JSON object (an output:\n"
                  "detections to score go to --detections); with -, to\n"
                  "standard output instead of the table" },
        { .name = "--quiet", .short_name = 'q', .kind = OPT_FLAG, .dest = &quiet,
          .help = "no progress on stderr (only shown on a terminal)" },
        { .short_name = 'y', .kind = OPT_FLAG, .dest = &overwrite,
          .help = "replace the --json FILE if it exists (it may not be\n"
                  "an input: the truth, detections, images or model)" },
        { .name = "--help", .short_name = 'h', .kind = OPT_HELP, .help = "show this help" },
        { .kind = OPT_END },
    };
    const struct opt *const tables[] = { opts, cm.opts, NULL };
    int r = opt_parse(cmd, argc, argv, tables, NULL, NULL);
    if (r == OPT_HELP_ASKED) {
        opt_help(stdout, eval_help, tables);
        goto done;
    }
    if ((status = r) != APP_OK)
        goto done;
    if (track || mot) {
        if (!track || !mot || !truth)
            status = app_usage_error(cmd, "scoring tracks takes --track, --mot FILE and --truth "
                                          "FILE (MOTChallenge text)");
        else if (images || detections || results)
            status = app_usage_error(cmd, "--track scores --mot's tracks, not %s",
                                     images ? "--images" : detections ? "--detections"
                                                                      : "--coco");
        else if (cm.weights || cm.arch || cm.labels || cm.nsets || cm.classes || cm.engine ||
                 cm.precision || cm.score_thresh >= 0)
            status = app_usage_error(cmd, "the model options apply to --images (a model run); "
                                          "--mot is scored as it is");
        else
            status = eval_track(cmd, truth, mot, json_path, overwrite);
        goto done;
    }
    if (!images && !detections && !results && (status = json_given_as_input(cmd, json_path)))
        goto done;
    if ((!images && !detections && !results) || !truth) {
        status = app_usage_error(cmd, "%s is required", !truth ? "--truth FILE"
                                 : "--images DIR, --detections FILE or --coco FILE");
        goto done;
    }
    if (!!images + !!detections + !!results > 1) {
        status = app_usage_error(cmd, "%s and %s exclude each other (one source of detections)",
                                 images ? "--images" : "--detections",
                                 results ? "--coco" : "--detections");
        goto done;
    }
    const char *given = detections ? detections : results;   /* scored, not run */
    if (given && (cm.weights || cm.arch || cm.labels || cm.nsets || cm.classes || cm.engine ||
                  cm.precision || cm.score_thresh >= 0)) {
        status = app_usage_error(cmd, "the model options apply to --images (a model run); %s "
                                 "is scored as it is", detections ? "--detections" : "--coco");
        goto done;
    }
    if (cm.score_thresh < 0)
        cm.score_thresh = 0.0;
    struct stat st;
    if (images && (stat(images, &st) != 0 || !S_ISDIR(st.st_mode))) {
        status = app_error("images %s: %s", images,
                           stat(images, &st) != 0 ? strerror(errno) : strerror(ENOTDIR));
        goto done;
    }
    /* README.md's "Files" rules: the report replaces none of the inputs */
    struct out_check oc;
    out_check_init(&oc, cmd, overwrite);
    if ((status = out_check_output(&oc, "--json", json_path)) != APP_OK ||
        (status = out_check_input(&oc, "--truth", truth)) != APP_OK ||
        (status = out_check_input(&oc, "--detections", detections)) != APP_OK ||
        (status = out_check_input(&oc, "--coco", results)) != APP_OK ||
        (images && (status = out_check_input_dir(&oc, "an image in --images", images)) != APP_OK) ||
        (!given && (status = out_check_model(&oc, &cm)) != APP_OK) ||
        (status = out_check_done(&oc)) != APP_OK)
        goto done;
    if (json_path && strcmp(json_path, "-")) {
        if (outfile_open(&json_file, "json", json_path, overwrite, 1) < 0) {
            status = APP_FAIL;
            goto done;
        }
        jf = outfile_stream(json_file);
    }
    if (!(e = coco_load_truth(truth))) {
        status = APP_FAIL;
        goto done;
    }
    if (!given) {
        status = cli_model_load(&cm, cmd);
        if (status != APP_OK)
            goto done;
    }

    int nc = cm.model ? model_num_classes(cm.model) : 0;
    int max = cm.model ? model_max_detections(cm.model) : 1;
    dets = malloc((size_t)max * sizeof *dets);
    if (!dets) {
        status = app_error("out of memory");
        goto done;
    }
    for (int c = 0; c < coco_num_categories(e); c++) {
        const struct coco_category *k = coco_category(e, c);
        if (cm.keep_class && (k->id < 1 || k->id >= nc || !cm.keep_class[k->id]))
            coco_set_evaluated(e, c, 0);
        const char *mn = cm.model && k->id >= 0 && k->id < nc ? model_class_name(cm.model, (int)k->id) : NULL;
        if (k->name && mn && strcmp(k->name, mn))
            app_note("warning: category %lld is '%s' in the truth but '%s' in the model",
                     (long long)k->id, k->name, mn);
    }

    int progress = !quiet && isatty(STDERR_FILENO) && !given;
    double t_model = 0;
    int nimg = coco_num_images(e);
    if (detections && coco_read_detections(e, detections))
        status = APP_FAIL;
    if (results && coco_read_results(e, results))
        status = APP_FAIL;
    for (int r = 0; r < nimg && status == APP_OK && !given; r++) {
        const struct coco_image *im = coco_image(e, r);
        char *path = NULL;
        uint8_t *rgb = NULL;
        int w, h, n = 0;
        if (asprintf(&path, "%s/%s", images, im->file) < 0) {
            status = APP_FAIL;
            break;
        }
        if (video_load_image(path, &rgb, &w, &h) < 0) {
            free(path);
            status = APP_FAIL;
            break;
        }
        if ((im->width && im->width != w) || (im->height && im->height != h))
            app_note("warning: %s is %dx%d, the truth says %dx%d", path, w, h, im->width,
                     im->height);
        char why[320];
        if (model_check_size(cm.model, w, h, why, sizeof why) < 0) {
            app_error("image %s: %s", path, why);
            free(rgb);
            free(path);
            status = APP_FAIL;
            break;
        }
        struct model_image mi = { .rgb = rgb, .width = w, .height = h, .stride = 3 * w };
        double t0 = now_ms();
        int rr = model_detect(cm.model, &mi, dets, max, &n);
        t_model += now_ms() - t0;
        free(rgb);
        if (rr < 0) {
            app_error("image %s: detection failed", path);
            free(path);
            status = APP_FAIL;
            break;
        }
        free(path);
        for (int k = 0; k < n && k < max; k++) {
            if (!cli_model_keep(&cm, &dets[k]))
                continue;
            if (coco_add_detection(e, r, &dets[k]) < 0) {
                status = app_error("out of memory");
                break;
            }
        }
        if (progress)
            fprintf(stderr, "\r%d/%d images", r + 1, nimg);
    }
    if (progress)
        fputc('\n', stderr);
    if (status != APP_OK)
        goto done;
    if (coco_evaluate(e)) {
        status = app_error("out of memory");
        goto done;
    }
    struct coco_summary s = coco_summary(e);
    double ms = nimg ? t_model / nimg : 0;
    if (json_path && !strcmp(json_path, "-")) {
        print_json(stdout, &cm, e, &s, nimg, ms);
    } else {
        print_table(e, &s, nimg, ms);
        if (jf)
            print_json(jf, &cm, e, &s, nimg, ms);
    }

    if (outfile_commit(&json_file) < 0)
        status = APP_FAIL;
done:
    outfile_discard(&json_file);
    free(dets);
    coco_free(e);
    cli_model_free(&cm);
    return status;
}
