/*
 * main.c — the vdetect command line: global options, dispatch to a command,
 * and the only place the process exits.
 *
 * Exit status (README.md, Commands): 0 success, 1 runtime failure, 2 bad usage, 130
 * interrupted. Commands return it; main() only adds the checks that stdout
 * was written completely.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../video/video.h"
#include "app.h"
#include "../model/model.h"

static const char usage_text[] =
    "vdetect - torchvision Faster R-CNN object detection on images and video, in C\n"
    "\n"
    "Usage: vdetect COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  detect     still images (files, directories, -r) -> JSON Lines; --save DIR\n"
    "  info       a model's architecture, parameters, classes and cost\n"
    "  view       live window on a webcam, file, URL or lavfi graph\n"
    "  annotate   draw detections into a video, image sequence, GIF, pipe or\n"
    "             stream, with --json / --coco\n"
    "  watch      a camera without a window: events (new/update/end, zones) as\n"
    "             JSON Lines and to MQTT, Prometheus metrics, reconnects; one\n"
    "             process per camera (scripts/vdetect@.service)\n"
    "  bench      does the model keep up with a source on this machine? every stage\n"
    "             of the pipeline timed, a verdict; --model-only: the detector alone\n"
    "  eval       COCO-style AP on a labelled set or of detect/annotate's output;\n"
    "             --track: MOTA/IDF1 of annotate --mot's tracks\n"
    "  calibrate  measure int8 ranges on images; write a model for --precision int8\n"
    "\n"
    "view, annotate, bench and watch take --track: identities across frames, trails,\n"
    "counts per class, --count-line crossings and --zone entries and exits;\n"
    "--motion and --detect-fps: the detector only where and when something\n"
    "moves; --config FILE: options from a file.\n"
    "\n"
    "Options:\n"
    "  -h, --help      show this help; 'vdetect COMMAND --help' shows a command's options\n"
    "  --version       show the version and the FFmpeg libraries in use\n"
    "\n"
    "Environment:\n"
    "  VDETECT_FFMPEG_LOG=LEVEL   FFmpeg's own messages: quiet (default), error, warning,\n"
    "                             info, verbose, debug\n"
    "  VDETECT_ENGINE=NAME        the fp32 GEMM engine when --engine is not given:\n"
    "                             onednn, openblas or auto (the default)\n"
    "  VDETECT_WINOGRAD=0         --precision bf16 runs 3x3 stride-1 convolutions\n"
    "                             through im2col instead of Winograd F(2x2,3x3)\n"
    "\n"
    "Files: an output may not be an input (exit 2); an existing output is replaced\n"
    "only with -y; outputs are written as NAME.partial-XXXXXX.EXT and renamed into\n"
    "place when complete (a killed run leaves the partial files, usable as they are).\n"
    "\n"
    "Exit status: 0 success, 1 runtime failure, 2 bad usage, 130 interrupted.\n";

struct command {
    const char *name;
    int (*run)(int argc, char **argv); /* NULL: not in this build yet */
    int config;                        /* takes --config FILE (config_file.c) */
};

static const struct command commands[] = {
    { "detect", cmd_detect, 0 },
    { "info", cmd_info, 0 },
    { "view", cmd_view, 1 },
    { "annotate", cmd_annotate, 1 },
    { "bench", cmd_bench, 1 },
    { "watch", cmd_watch, 1 },
    { "eval", cmd_eval, 0 },
    { "calibrate", cmd_calibrate, 0 },
};

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

/* "unknown command 'detcet' (did you mean 'detect'?)"; APP_USAGE. */
static int unknown_command(const char *name)
{
    struct app_suggest s;
    app_suggest_init(&s, name);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        app_suggest_add(&s, commands[i].name);
    app_suggest_add(&s, "help");
    if (s.best)
        return app_usage_error(NULL, "unknown command '%s' (did you mean '%s'?)", name, s.best);
    return app_usage_error(NULL, "unknown command '%s'", name);
}

/* Run a command, or say it is not there yet. Its --config files are read
 * first, their options put in their place (config_file.c). */
static int run_command(const struct command *c, int argc, char **argv)
{
    app_set_command(c->name);   /* every error line from here on names it */
    if (!c->run) {
        app_error("not implemented yet in this build");
        return APP_USAGE;
    }
    if (!c->config) {
        if (config_find(argc, argv))
            return app_usage_error(c->name, "--config is for view, annotate, bench and watch");
        return c->run(argc, argv);
    }
    struct config_args ca;
    int status = config_expand(c->name, argc, argv, &ca);
    if (status == APP_OK)
        status = c->run(ca.argc, ca.argv);   /* its option values point into ca */
    config_args_free(&ca);
    return status;
}

static int finish_stdout(int status)
{
    /* A full disk or closed pipe must not look like success. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        app_error("error writing to standard output");
        return status ? status : APP_FAIL;
    }
    return status;
}

int main(int argc, char **argv)
{
    model_prepare_blas(argv);   /* may re-exec once with OPENBLAS_CORETYPE set */
    const char *level = getenv("VDETECT_FFMPEG_LOG");
    if (video_set_log_level(level && *level ? level : NULL) < 0) {
        app_note("warning: VDETECT_FFMPEG_LOG: unknown level '%s', using quiet", level);
        video_set_log_level(NULL);
    }

    if (argc < 2) {
        fputs(usage_text, stderr);
        return APP_USAGE;
    }
    const char *a = argv[1];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
        fputs(usage_text, stdout);
        return finish_stdout(APP_OK);
    }
    if (!strcmp(a, "--version")) {
        printf("vdetect %s (%s)\n", VDETECT_VERSION, video_library_versions());
        return finish_stdout(APP_OK);
    }
    if (!strcmp(a, "help")) {
        /* "vdetect help CMD" is "vdetect CMD --help" */
        if (argc < 3) {
            fputs(usage_text, stdout);
            return finish_stdout(APP_OK);
        }
        const struct command *c = find_command(argv[2]);
        if (!c)
            return unknown_command(argv[2]);
        char help[] = "--help";
        char *hargv[] = { argv[2], help, NULL };
        return finish_stdout(run_command(c, 2, hargv));
    }
    if (a[0] == '-') {
        struct app_suggest s;
        app_suggest_init(&s, a);
        app_suggest_add(&s, "--help");
        app_suggest_add(&s, "--version");
        if (s.best)
            return app_usage_error(NULL, "unknown option '%s' (did you mean '%s'?)", a, s.best);
        return app_usage_error(NULL, "unknown option '%s' (options follow the command)", a);
    }

    const struct command *c = find_command(a);
    if (!c)
        return unknown_command(a);
    return finish_stdout(run_command(c, argc - 1, argv + 1));
}
