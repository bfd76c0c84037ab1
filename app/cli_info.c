/*
 * cli_info.c — `vdetect info [model] [--size WxH] [--json FILE|-]`: what a
 * model is (architecture, parameter count, classes), the torchvision
 * inference parameters it resolved to (after --set), and what one image of a
 * given size costs (the size the transform resizes it to, and GFLOPs).
 *
 * The text goes to stdout; --json writes the same facts as one JSON object
 * (to stdout instead of the text with "-").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

static const char info_help[] =
    "Usage: vdetect info [model options] [--size WxH] [--json FILE|-]\n"
    "\n"
    "Show a model's architecture, parameter count, classes, its resolved torchvision\n"
    "inference parameters (min_size, max_size, image_mean, image_std,\n"
    "rpn_pre_nms_top_n_test, rpn_post_nms_top_n_test, rpn_nms_thresh,\n"
    "rpn_score_thresh, box_score_thresh, box_nms_thresh, box_detections_per_img,\n"
    "bn_eps) and the cost of one image: the size it is resized to and GFLOPs.\n"
    "\n"
    "Options:\n"
    "%s"
    "\n"
    "Model options:\n"
    "%s"
    "\n"
    "info runs no image, so the options that filter or run detections (--score-thresh,\n"
    "--classes, --threads) change nothing here: they are accepted, so that a command\n"
    "line can be shared with detect, and echoed in the report.\n";

#define INFO_NAMES_SHOWN 8

/* A number in its shortest round-trip form, float or double as the field is
 * declared in model.h (some thresholds are double, as in torchvision). */
#define put_float(f, v) _Generic((v), float: json_put_float, default: json_put_double)(f, v)

static void put_floats3(FILE *f, const float v[3], const char *sep)
{
    for (int i = 0; i < 3; i++) {
        if (i)
            fputs(sep, f);
        put_float(f, v[i]);
    }
}

static void print_text(const struct cli_model *cm, int w, int h, int rw, int rh, double gflops)
{
    struct model *m = cm->model;
    const struct model_params *p = model_get_params(m);
    int nc = model_num_classes(m);
    int64_t np = model_param_count(m);

    printf("weights        %s\n", cm->weights_path);
    printf("architecture   %s\n", model_arch(m) ? model_arch(m) : "(unknown)");
    if (model_note(m))
        printf("assumed        %s\n", model_note(m));
    char bb[256];
    model_backbone_summary(m, bb, sizeof bb);
    printf("backbone       %s\n", bb);
    printf("parameters     %lld (%.2f M)\n", (long long)np, np / 1e6);
    printf("classes        %d including background", nc);
    int shown = 0, named = 0;
    for (int l = 1; l < nc; l++)
        named += cli_model_class_name(cm, l) != NULL;
    if (named) {
        fputs(":", stdout);
        for (int l = 1; l < nc && shown < INFO_NAMES_SHOWN; l++, shown++) {
            const char *name = cli_model_class_name(cm, l);
            printf("%s %d=%s", shown ? "," : "", l, name ? name : "(none)");
        }
        if (nc - 1 > shown)
            printf(", ... (%d more)", nc - 1 - shown);
    } else {
        fputs(" (no names; give --labels FILE)", stdout);
    }
    fputc('\n', stdout);

    if (p) {
        printf("inference parameters (torchvision names; change with --set NAME=VALUE):\n");
        printf("  %-24s ", "min_size"); put_float(stdout, p->min_size); fputc('\n', stdout);
        printf("  %-24s ", "max_size"); put_float(stdout, p->max_size); fputc('\n', stdout);
        printf("  %-24s ", "image_mean"); put_floats3(stdout, p->image_mean, ","); fputc('\n', stdout);
        printf("  %-24s ", "image_std"); put_floats3(stdout, p->image_std, ","); fputc('\n', stdout);
        printf("  %-24s %d\n", "rpn_pre_nms_top_n_test", p->rpn_pre_nms_top_n_test);
        printf("  %-24s %d\n", "rpn_post_nms_top_n_test", p->rpn_post_nms_top_n_test);
        printf("  %-24s ", "rpn_nms_thresh"); put_float(stdout, p->rpn_nms_thresh); fputc('\n', stdout);
        printf("  %-24s ", "rpn_score_thresh"); put_float(stdout, p->rpn_score_thresh); fputc('\n', stdout);
        printf("  %-24s ", "box_score_thresh"); put_float(stdout, p->box_score_thresh); fputc('\n', stdout);
        printf("  %-24s ", "box_nms_thresh"); put_float(stdout, p->box_nms_thresh); fputc('\n', stdout);
        printf("  %-24s %d\n", "box_detections_per_img", p->box_detections_per_img);
        printf("  %-24s ", "bn_eps"); put_float(stdout, p->bn_eps); fputc('\n', stdout);
    }

    printf("output filter  score >= %g", cm->score_thresh);
    if (cm->keep_class) {
        fputs(", classes", stdout);
        int first = 1;
        for (int l = 1; l < nc; l++) {
            if (!cm->keep_class[l])
                continue;
            const char *name = cli_model_class_name(cm, l);
            printf("%s %d", first ? "" : ",", l);
            if (name)
                printf("=%s", name);
            first = 0;
        }
    } else {
        fputs(", all classes", stdout);
    }
    fputc('\n', stdout);
    printf("threads        %d\n", cm->threads);
    char eng[96];
    printf("engine         %s, precision %s\n", app_engine_desc(cm->model, eng, sizeof eng),
           model_precision(cm->model));
    char kern[256];
    printf("kernels        %s\n", model_kernels(cm->model, kern, sizeof kern));
    int cal = model_calibrated_images(cm->model);
    if (cal)
        printf("int8 ranges    calibrated on %d image%s (vdetect calibrate)\n", cal,
               cal == 1 ? "" : "s");
    else
        printf("int8 ranges    none: --precision int8 measures each input (vdetect calibrate)\n");
    printf("cost           %dx%d input -> resized to %dx%d, %.2f GFLOPs per image\n", w, h, rw,
           rh, gflops);
}

static void print_json(FILE *f, const struct cli_model *cm, int w, int h, int rw, int rh,
                       double gflops)
{
    struct model *m = cm->model;
    const struct model_params *p = model_get_params(m);
    int nc = model_num_classes(m);

    fputs("{\"weights\": ", f);
    json_put_string(f, cm->weights_path);
    fputs(", \"arch\": ", f);
    json_put_string(f, model_arch(m));
    fputs(", \"assumed\": ", f);
    json_put_string(f, model_note(m));
    char bb[256];
    model_backbone_summary(m, bb, sizeof bb);
    fputs(", \"backbone\": ", f);
    json_put_string(f, bb);
    fprintf(f, ", \"parameters\": %lld, \"num_classes\": %d, \"class_names\": [",
            (long long)model_param_count(m), nc);
    for (int l = 0; l < nc; l++) {
        if (l)
            fputs(", ", f);
        json_put_string(f, cli_model_class_name(cm, l));
    }
    fputs("], \"params\": ", f);
    if (p) {
        fputs("{\"min_size\": ", f); put_float(f, p->min_size);
        fputs(", \"max_size\": ", f); put_float(f, p->max_size);
        fputs(", \"image_mean\": [", f); put_floats3(f, p->image_mean, ", ");
        fputs("], \"image_std\": [", f); put_floats3(f, p->image_std, ", ");
        fprintf(f, "], \"rpn_pre_nms_top_n_test\": %d", p->rpn_pre_nms_top_n_test);
        fprintf(f, ", \"rpn_post_nms_top_n_test\": %d", p->rpn_post_nms_top_n_test);
        fputs(", \"rpn_nms_thresh\": ", f); put_float(f, p->rpn_nms_thresh);
        fputs(", \"rpn_score_thresh\": ", f); put_float(f, p->rpn_score_thresh);
        fputs(", \"box_score_thresh\": ", f); put_float(f, p->box_score_thresh);
        fputs(", \"box_nms_thresh\": ", f); put_float(f, p->box_nms_thresh);
        fprintf(f, ", \"box_detections_per_img\": %d", p->box_detections_per_img);
        fputs(", \"bn_eps\": ", f); put_float(f, p->bn_eps);
        fputs("}", f);
    } else {
        fputs("null", f);
    }
    fputs(", \"score_thresh\": ", f);
    json_put_double(f, cm->score_thresh);
    fputs(", \"classes\": ", f);
    if (cm->keep_class) {
        fputc('[', f);
        int first = 1;
        for (int l = 1; l < nc; l++) {
            if (cm->keep_class[l]) {
                fprintf(f, "%s%d", first ? "" : ", ", l);
                first = 0;
            }
        }
        fputc(']', f);
    } else {
        fputs("null", f);
    }
    fprintf(f, ", \"threads\": %d, \"engine\": \"%s\", \"precision\": \"%s\", "
               "\"int8_calibration_images\": %d, "
               "\"input_size\": [%d, %d], \"resized_size\": [%d, %d], \"gflops\": ",
            cm->threads, model_engine(cm->model), model_precision(cm->model),
            model_calibrated_images(cm->model), w, h, rw, rh);
    json_put_double(f, gflops);
    fputs("}\n", f);
}

int cmd_info(int argc, char **argv)
{
    const char *cmd = "info";
    struct cli_model cm;
    const char *json_path = NULL;
    int status = APP_OK, w = 640, h = 480, overwrite = 0;
    FILE *jf = NULL;
    struct outfile *json_file = NULL;

    cli_model_init(&cm, argc);
    int size[2] = { 640, 480 };
    const struct opt opts[] = {
        { .name = "--size", .arg = "WxH", .kind = OPT_CALL, .dest = size, .call = app_opt_size,
          .help = "input image size for the cost (default 640x480)" },
        { .name = "--json", .arg = "FILE|-", .kind = OPT_STRING, .dest = &json_path,
          .help = "also write the facts as one JSON object to FILE; with -,\n"
                  "to standard output instead of the text" },
        { .short_name = 'y', .kind = OPT_FLAG, .dest = &overwrite,
          .help = "replace the --json FILE if it exists" },
        { .name = "--help", .short_name = 'h', .kind = OPT_HELP, .help = "show this help" },
        { .kind = OPT_END },
    };
    /* the model options, listed in --help only where they change what info
     * reports: the others are still parsed (help NULL: not listed) */
    struct opt model_opts[sizeof cm.opts / sizeof cm.opts[0]];
    memcpy(model_opts, cm.opts, sizeof model_opts);
    for (struct opt *o = model_opts; o->kind != OPT_END; o++)
        if (o->name && (!strcmp(o->name, "--score-thresh") || !strcmp(o->name, "--classes") ||
                        !strcmp(o->name, "--threads")))
            o->help = NULL;
    const struct opt *const tables[] = { opts, model_opts, NULL };
    int r = opt_parse(cmd, argc, argv, tables, NULL, NULL);
    if (r == OPT_HELP_ASKED) {
        opt_help(stdout, info_help, tables);
        goto done;
    }
    if ((status = r) != APP_OK)
        goto done;
    w = size[0];
    h = size[1];

    struct out_check oc;
    out_check_init(&oc, cmd, overwrite);
    if ((status = out_check_output(&oc, "--json", json_path)) != APP_OK ||
        (status = out_check_model(&oc, &cm)) != APP_OK ||
        (status = out_check_done(&oc)) != APP_OK)
        goto done;
    if (json_path && strcmp(json_path, "-")) {
        if (outfile_open(&json_file, "json", json_path, overwrite, 1) < 0) {
            status = APP_FAIL;
            goto done;
        }
        jf = outfile_stream(json_file);
    }
    status = cli_model_load(&cm, cmd);
    if (status != APP_OK)
        goto done;

    int rw = 0, rh = 0;
    double gflops = 0;
    char why[320];
    if (model_gflops(cm.model, w, h, &gflops, &rw, &rh, why, sizeof why) < 0) {
        status = app_usage_error(cmd, "--size %dx%d: %s", w, h, why);
        goto done;
    }
    if (json_path && !strcmp(json_path, "-")) {
        print_json(stdout, &cm, w, h, rw, rh, gflops);
    } else {
        print_text(&cm, w, h, rw, rh, gflops);
        if (jf)
            print_json(jf, &cm, w, h, rw, rh, gflops);
    }

    if (outfile_commit(&json_file) < 0)
        status = APP_FAIL;
done:
    outfile_discard(&json_file);
    cli_model_free(&cm);
    return status;
}
