/*
 * cli_detect.c — `vdetect detect [model] IMAGE... [--json FILE|-]`: still
 * images in, one JSON Lines object per image out (docs/formats.md §1).
 *
 * stdout carries nothing but the JSON Lines (when they go there), so it can
 * be piped into jq or a script. Errors go to stderr, one line each; a failing
 * image is skipped, the others are still processed, and the exit status is 1.
 * When stderr is a terminal, a short human summary per image goes there too
 * (-q turns it off).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../render/render.h"
#include "../video/video.h"
#include "app.h"
#include "pipeline.h"

static const char detect_help[] =
    "Usage: vdetect detect [model options] IMAGE|DIR|PATTERN... [--json FILE|-]\n"
    "                      [--save DIR] [-r]\n"
    "\n"
    "Detect objects in still images (PNG, JPEG, BMP, PPM, WebP, TIFF, ...; EXIF\n"
    "orientation is applied) and write one JSON object per image (JSON Lines):\n"
    "  {\"image\": \"a.png\", \"width\": W, \"height\": H, \"detections\": [{\"box\": [x1, y1,\n"
    "   x2, y2], \"label\": 1, \"name\": \"person\", \"score\": 0.98}, ...]}\n"
    "Boxes are in pixels of the upright image, exactly as torchvision returns them;\n"
    "detections are sorted by descending score; \"name\" is null for unnamed classes.\n"
    "A directory stands for its image files, by name (-r: and its subdirectories',\n"
    "hidden ones skipped); a quoted pattern ('shots/*.jpg') for its matches. Videos\n"
    "and animations are refused: `vdetect annotate` reads every frame.\n"
    "--save DIR also writes each image with its boxes drawn, as DIR/NAME.png (NAME:\n"
    "the image's name, or its path below the directory given), and adds its path to\n"
    "the JSON line as \"annotated\".\n"
    "\n"
    "Options:\n"
    "%s"
    "\n"
    "Model options:\n"
    "%s"
    "\n"
    "An image that cannot be read is reported on stderr and skipped; the exit\n"
    "status is then 1. The --json FILE is written beside its name and renamed into\n"
    "place at the end; it may not be one of the inputs (exit 2). --save DIR may not\n"
    "hold the images; its files are checked before the model loads (existing ones\n"
    "need -y) and each is renamed into place once written.\n";

/* One image's JSON line. */
static void write_json(FILE *out, const struct cli_model *cm, const char *image, int w, int h,
                       const struct model_detection *dets, int n, const char *annotated)
{
    fputs("{\"image\": ", out);
    json_put_string(out, image);
    fprintf(out, ", \"width\": %d, \"height\": %d, \"detections\": [", w, h);
    int first = 1;
    for (int i = 0; i < n; i++) {
        const struct model_detection *d = &dets[i];
        if (!cli_model_keep(cm, d))
            continue;
        fputs(first ? "{\"box\": [" : ", {\"box\": [", out);
        first = 0;
        for (int k = 0; k < 4; k++) {
            if (k)
                fputs(", ", out);
            json_put_float(out, d->box[k]);
        }
        fprintf(out, "], \"label\": %d, \"name\": ", d->label);
        json_put_string(out, cli_model_class_name(cm, d->label));
        fputs(", \"score\": ", out);
        json_put_float(out, d->score);
        fputc('}', out);
    }
    fputc(']', out);
    if (annotated) {
        fputs(", \"annotated\": ", out);
        json_put_string(out, annotated);
    }
    fputs("}\n", out);
}

/* "a.png: 640x480, 2 detections (person 0.98, dog 0.61) in 84 ms" */
static void print_summary(const struct cli_model *cm, const char *image, int w, int h,
                          const struct model_detection *dets, int n)
{
    int kept = 0;
    for (int i = 0; i < n; i++)
        kept += cli_model_keep(cm, &dets[i]);
    fprintf(stderr, "%s: %dx%d, %d detection%s", image, w, h, kept, kept == 1 ? "" : "s");
    int shown = 0;
    for (int i = 0; i < n && shown < 5; i++) {
        if (!cli_model_keep(cm, &dets[i]))
            continue;
        const char *name = cli_model_class_name(cm, dets[i].label);
        fprintf(stderr, "%s", shown ? ", " : " (");
        if (name)
            fprintf(stderr, "%s", name);
        else
            fprintf(stderr, "#%d", dets[i].label);
        fprintf(stderr, " %.2f", dets[i].score);
        shown++;
    }
    if (shown)
        fprintf(stderr, "%s)", kept > shown ? ", ..." : "");
    const struct model_timing *t = model_last_timing(cm->model);
    if (t)
        fprintf(stderr, " in %.0f ms", t->total);
    fputc('\n', stderr);
}

/* Is path inside dir (both real paths, dir without a trailing '/')? */
static int is_below(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return !strncmp(path, dir, n) && path[n] == '/';
}

/* Drop the inputs found inside the --save folder when that folder lies below
 * the directory they were found in (annotated copies of an earlier run, found
 * again by -r), with one note. A --save folder that IS an input directory is
 * refused later (save_dir_open); files named one by one are always kept. */
static void skip_saved(struct image_list *l, const char *save)
{
    char *root = realpath(save, NULL);
    if (!root)
        return;   /* not there yet: nothing inside it */
    int kept = 0, skipped = 0;
    for (int i = 0; i < l->n; i++) {
        int inside = 0;
        char *real = realpath(l->path[i], NULL);
        if (real && is_below(real, root) && l->rel[i] > 0) {
            char *given = strndup(l->path[i], (size_t)l->rel[i]);   /* "DIR/" as walked */
            char *groot = given ? realpath(given, NULL) : NULL;
            inside = groot && is_below(root, groot);   /* the --save folder is below DIR */
            free(groot);
            free(given);
        }
        free(real);
        if (inside) {
            free(l->path[i]);
            skipped++;
            continue;
        }
        l->path[kept] = l->path[i];
        l->rel[kept++] = l->rel[i];
    }
    l->n = kept;
    if (skipped)
        app_note("%d image%s inside --save %s left out (annotated copies)", skipped,
                 skipped == 1 ? "" : "s", save);
    free(root);
}

int cmd_detect(int argc, char **argv)
{
    const char *cmd = "detect";
    struct cli_model cm;
    const char *json_path = "-", *save_path = NULL;
    int quiet = 0, nimages = 0, status = APP_OK, overwrite = 0, loaded = 0, recursive = 0;
    int saved = 0, videos = 0;
    struct outfile *json_file = NULL;
    struct save_dir *save = NULL;
    struct render_style *style = NULL;
    struct render_det *rdets = NULL;
    struct image_list files = { 0 };   /* the IMAGEs (then with directories expanded) */
    FILE *out = NULL;
    struct model_detection *dets = NULL;

    cli_model_init(&cm, argc);
    const struct opt opts[] = {
        { .name = "--json", .arg = "FILE|-", .kind = OPT_STRING, .dest = &json_path,
          .help = "write the JSON Lines to FILE (default -: standard output)" },
        { .name = "--save", .arg = "DIR", .kind = OPT_STRING, .dest = &save_path,
          .help = "also write each image with its boxes drawn to DIR (made if\n"
                  "missing), as NAME.png" },
        { .name = "--recursive", .short_name = 'r', .kind = OPT_FLAG, .dest = &recursive,
          .help = "a DIR also stands for the images in its subdirectories" },
        { .name = "--quiet", .short_name = 'q', .kind = OPT_FLAG, .dest = &quiet,
          .help = "no per-image summary on stderr (only shown on a terminal)" },
        { .short_name = 'y', .kind = OPT_FLAG, .dest = &overwrite,
          .help = "replace the --json FILE and --save images if they exist" },
        { .name = "--help", .short_name = 'h', .kind = OPT_HELP, .help = "show this help" },
        { .name = "--", .kind = OPT_NOTE, .help = "everything after is an IMAGE" },
        { .kind = OPT_END },
    };
    const struct opt *const tables[] = { opts, cm.opts, NULL };
    int r = opt_parse(cmd, argc, argv, tables, image_list_arg, &files);
    if (r == OPT_HELP_ASKED) {
        opt_help(stdout, detect_help, tables);
        goto done;
    }
    if ((status = r) != APP_OK)
        goto done;
    if (files.n == 0) {
        status = app_usage_error(cmd, "no IMAGE given");
        goto done;
    }
    if ((status = image_list_expand(&files, cmd, recursive)) != APP_OK)   /* DIR, PATTERN */
        goto done;
    if (save_path)
        skip_saved(&files, save_path);
    if (files.n == 0) {
        status = app_error("every image given is inside --save %s", save_path);
        goto done;
    }
    nimages = files.n;

    /* README.md's "Files" rules: the output is none of the images or model files */
    struct out_check oc;
    out_check_init(&oc, cmd, overwrite);
    if ((status = out_check_output(&oc, "--json", json_path)) != APP_OK ||
        (status = out_check_model(&oc, &cm)) != APP_OK)
        goto done;
    for (int k = 0; k < nimages; k++)
        if ((status = out_check_input(&oc, "IMAGE", files.path[k])) != APP_OK)
            goto done;
    if ((status = out_check_done(&oc)) != APP_OK)
        goto done;
    if (save_path && (status = save_dir_open(&save, cmd, save_path, &files, overwrite)) != APP_OK)
        goto done;

    /* Open the output first: a bad path fails before a slow model load. */
    if (outfile_open(&json_file, "json", json_path, overwrite, 1) < 0) {
        status = APP_FAIL;
        goto done;
    }
    out = outfile_stream(json_file);

    status = cli_model_load(&cm, cmd);
    if (status != APP_OK)
        goto done;
    {   /* nothing to read at all: no output (the partial file goes) */
        int found = 0;
        struct stat st;
        for (int k = 0; k < nimages && !found; k++)
            found = stat(files.path[k], &st) == 0 || strstr(files.path[k], "://");
        if (!found) {
            status = app_error("%s: %s%s", files.path[0], strerror(ENOENT),
                               nimages > 1 ? " (and none of the other inputs exists)" : "");
            goto done;
        }
    }
    loaded = 1;

    int max = model_max_detections(cm.model);
    dets = malloc((size_t)max * sizeof *dets);
    if (save && (!(rdets = malloc((size_t)max * sizeof *rdets)) ||
                 render_style_open(&style, NULL) < 0)) {
        status = APP_FAIL;
        goto done;
    }
    if (!dets) {
        fprintf(stderr, "vdetect %s: out of memory\n", cmd);
        status = APP_FAIL;
        goto done;
    }
    int summary = !quiet && isatty(STDERR_FILENO);

    for (int k = 0; k < nimages; k++) {
        uint8_t *rgb = NULL;
        int w, h, n = 0;
        int lr = video_load_image(files.path[k], &rgb, &w, &h);
        if (lr < 0) {
            videos += lr == VIDEO_ERR_NOT_STILL;
            status = APP_FAIL;
            continue;
        }
        char why[320];
        if (model_check_size(cm.model, w, h, why, sizeof why) < 0) {
            app_error("image %s: %s", files.path[k], why);
            free(rgb);
            status = APP_FAIL;
            continue;
        }
        struct model_image img = { .rgb = rgb, .width = w, .height = h, .stride = 3 * w };
        int r = model_detect(cm.model, &img, dets, max, &n);
        if (r < 0) {
            app_error("image %s: detection failed", files.path[k]);
            free(rgb);
            status = APP_FAIL;
            continue;
        }
        if (n > max)
            n = max;
        const char *annotated = NULL;
        if (save) {
            struct render_draw_options o;
            render_draw_options_init(&o);
            int nr = app_render_dets(&cm, dets, n, NULL, rdets, max);
            if (render_draw(style, rgb, w, h, 3 * w, rdets, nr, &o) < 0 ||
                save_dir_write(save, k, rgb, w, h) != APP_OK) {
                status = APP_FAIL;
            } else {
                annotated = save_dir_path(save, k);
                saved++;
            }
        }
        free(rgb);
        write_json(out, &cm, files.path[k], w, h, dets, n, annotated);
        if (fflush(out) != 0 || ferror(out)) {
            app_error("json %s: write error", json_path);
            status = APP_FAIL;
            loaded = 0; /* the file is not whole: nothing to keep */
            break;
        }
        if (summary)
            print_summary(&cm, files.path[k], w, h, dets, n);
    }

    /* kept when every image that could be read is in it, even if some
     * could not (they were reported and make the exit status 1) */
    if (loaded && outfile_commit(&json_file) < 0)
        status = APP_FAIL;
    if (videos)
        fprintf(stderr, "vdetect %s: %d input%s %s a video or an animation: `vdetect annotate "
                        "FILE -o OUT.mp4 --json OUT.jsonl` detects in every frame\n",
                cmd, videos, videos == 1 ? "" : "s", videos == 1 ? "is" : "are");
    if (save && !quiet && saved)
        fprintf(stderr, "vdetect %s: %d annotated image%s in %s\n", cmd, saved,
                saved == 1 ? "" : "s", save_path);
done:
    outfile_discard(&json_file);
    save_dir_close(&save);
    render_style_close(&style);
    free(rdets);
    free(dets);
    image_list_free(&files);
    cli_model_free(&cm);
    return status;
}
