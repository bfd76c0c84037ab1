/*
 * cli_calibrate.c — `vdetect calibrate [model] IMAGE|DIR... -o OUT.vdm`: measure
 * the int8 input ranges of the model's layers on representative images (in fp32)
 * and write a copy of the model file carrying them, for --precision int8.
 *
 * The model file must be a .vdm (a .pth has no place for them: export it first);
 * the copy is the original byte for byte but for one metadata entry, written to
 * a partial file and renamed into place only once complete.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../video/video.h"
#include "app.h"

static const char calibrate_help[] =
    "Usage: vdetect calibrate [model options] IMAGE|DIR... -o OUT.vdm [-y]\n"
    "\n"
    "Prepare a model for --precision int8. Runs the model in fp32 on representative\n"
    "images (files, a quoted pattern like 'shots/*.jpg', or a directory's image\n"
    "files by name, -r with its subdirectories'; 100 at most, spread evenly over\n"
    "those given, --max-images to change) and measures the range of the\n"
    "input of every convolution and linear layer that int8 runs; writes a copy of the\n"
    "model file with those ranges in its metadata (nothing else changes). The images\n"
    "should look like what the model will see (the same cameras and scenes): the\n"
    "ranges are the largest values they produce. Without a calibration, --precision\n"
    "int8 measures each input as it comes, which is slower.\n"
    "\n"
    "The model must be a model file (.vdm): export a .pth with model/py/export.py.\n"
    "\n"
    "Options:\n"
    "%s"
    "\n"
    "Model options:\n"
    "%s";

/* One image through the model's calibration. APP_OK or APP_FAIL (printed). */
static int calibrate_one(struct model *m, const char *path)
{
    uint8_t *rgb = NULL;
    int w, h;
    char why[320];
    if (video_load_image(path, &rgb, &w, &h) < 0) return APP_FAIL;
    int status = APP_OK;
    if (model_check_size(m, w, h, why, sizeof why) < 0) {
        app_error("image %s: %s", path, why);
        status = APP_FAIL;
    } else {
        struct model_image mi = { .rgb = rgb, .width = w, .height = h, .stride = 3 * w };
        if (model_calibrate(m, &mi) < 0) {
            app_error("image %s: the model failed on it", path);
            status = APP_FAIL;
        }
    }
    free(rgb);
    return status;
}

int cmd_calibrate(int argc, char **argv)
{
    const char *cmd = "calibrate";
    struct cli_model cm;
    struct image_list list = { 0 };   /* the IMAGEs and DIRs, then the images */
    struct outfile *out = NULL;
    const char *out_path = NULL;
    int quiet = 0, overwrite = 0, recursive = 0, max_images = 100, status = APP_OK;

    cli_model_init(&cm, argc);
    const struct opt opts[] = {
        { .name = "--output", .short_name = 'o', .arg = "FILE", .kind = OPT_STRING,
          .dest = &out_path, .help = "the calibrated model file to write (required)" },
        { .name = "--max-images", .arg = "N", .kind = OPT_INT, .dest = &max_images, .lo = 1,
          .hi = 100000, .help = "use at most N images, spread evenly (default 100)" },
        { .name = "--recursive", .short_name = 'r', .kind = OPT_FLAG, .dest = &recursive,
          .help = "a DIR also stands for the images in its subdirectories" },
        { .name = "--quiet", .short_name = 'q', .kind = OPT_FLAG, .dest = &quiet,
          .help = "no progress on stderr (only shown on a terminal)" },
        { .short_name = 'y', .kind = OPT_FLAG, .dest = &overwrite,
          .help = "replace OUT if it exists (never an input: the model or\n"
                  "an image)" },
        { .name = "--help", .short_name = 'h', .kind = OPT_HELP, .help = "show this help" },
        { .name = "--", .kind = OPT_NOTE, .help = "everything after is an IMAGE or DIR" },
        { .kind = OPT_END },
    };
    const struct opt *const tables[] = { opts, cm.opts, NULL };
    int r = opt_parse(cmd, argc, argv, tables, image_list_arg, &list);
    if (r == OPT_HELP_ASKED) {
        opt_help(stdout, calibrate_help, tables);
        goto done;
    }
    if ((status = r) != APP_OK) goto done;
    if (!out_path) {
        status = app_usage_error(cmd, "-o OUT.vdm is required (the calibrated copy of the model)");
        goto done;
    }
    if (!list.n) {
        status = app_usage_error(cmd, "no IMAGE or DIR given (images like those the model will "
                                      "see)");
        goto done;
    }
    if (!strcmp(out_path, "-")) {
        status = app_usage_error(cmd, "-o: the model file is written to a file, not to standard "
                                      "output");
        goto done;
    }
    if ((status = image_list_expand(&list, cmd, recursive)) != APP_OK) goto done;

    /* README.md's "Files" rules: OUT is none of the inputs */
    struct out_check oc;
    out_check_init(&oc, cmd, overwrite);
    if ((status = out_check_output(&oc, "-o", out_path)) != APP_OK ||
        (status = out_check_model(&oc, &cm)) != APP_OK)
        goto done;
    for (int i = 0; i < list.n; i++)
        if ((status = out_check_input(&oc, "IMAGE", list.path[i])) != APP_OK) goto done;
    if ((status = out_check_done(&oc)) != APP_OK) goto done;

    cm.precision = "fp32";   /* the ranges are fp32's, whatever --precision said */
    if ((status = cli_model_load(&cm, cmd)) != APP_OK) goto done;
    if (strcmp(model_file_format(cm.model), "safetensors")) {
        fprintf(stderr, "vdetect %s: %s is a .pth checkpoint, which cannot carry the ranges: "
                "export it to a model file first (python3 model/py/export.py, README: Bring "
                "your own model)\n", cmd, cm.weights_path);
        status = APP_FAIL;
        goto done;
    }
    if (signals_install() != 0) {
        perror("vdetect calibrate: signals");
        status = APP_FAIL;
        goto done;
    }
    int use = list.n < max_images ? list.n : max_images;
    int progress = !quiet && isatty(STDERR_FILENO);
    for (int k = 0; k < use && status == APP_OK; k++) {
        if (signals_pending()) {
            status = APP_INTERRUPTED;
            break;
        }
        /* spread evenly: image k of use picks from the whole list */
        const char *path = list.path[(int)((long long)k * list.n / use)];
        status = calibrate_one(cm.model, path);
        if (progress) fprintf(stderr, "\rcalibrating: %d/%d images", k + 1, use);
    }
    if (progress) fputc('\n', stderr);
    if (status == APP_OK && signals_pending()) status = APP_INTERRUPTED;
    if (status != APP_OK) {
        if (status == APP_INTERRUPTED)
            fprintf(stderr, "vdetect %s: interrupted; nothing written\n", cmd);
        goto done;
    }
    if (outfile_open(&out, "model", out_path, overwrite, 1) < 0 ||
        model_write_calibrated(cm.model, outfile_stream(out)) < 0 || outfile_commit(&out) < 0) {
        status = APP_FAIL;
        goto done;
    }
    if (!quiet)
        fprintf(stderr, "vdetect %s: wrote %s: %s with int8 ranges measured on %d image%s "
                "(use it with --precision int8)\n", cmd, out_path, cm.weights_path, use,
                use == 1 ? "" : "s");
done:
    signals_restore();
    outfile_discard(&out);
    image_list_free(&list);
    cli_model_free(&cm);
    return status;
}
