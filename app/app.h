/*
 * app.h — app/'s private header: the commands of the vdetect CLI and the small
 * pieces they share (the [model] options of DESIGN §5, JSON writing).
 *
 * Exit-status convention (DESIGN §5): every command function returns the
 * process exit status itself — APP_OK, APP_FAIL (runtime failure, message
 * already on stderr) or APP_USAGE (bad usage, message and a "see vdetect
 * COMMAND --help" hint already on stderr). Only main() exits.
 */
#ifndef VDETECT_APP_H
#define VDETECT_APP_H

#include <stdint.h>
#include <stdio.h>

#include "../model/model.h"

#define VDETECT_VERSION "0.1.0"

enum {
    APP_OK = 0,
    APP_FAIL = 1,
    APP_USAGE = 2,
};

/* Commands: argv[0] is the command name; argv[1..argc-1] its arguments. */
int cmd_detect(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Print "vdetect CMD: <message>" and the help hint; returns APP_USAGE. */
int app_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Option scanning shared by the commands. Accepts "--name VALUE" and
 * "--name=VALUE". app_opt_value() checks whether argv[*i] is the option name;
 * if so it sets *value (taking the next argument when needed and advancing *i)
 * and returns 1; 0 if argv[*i] is another option; -1 with a usage message
 * printed when the value is missing.
 */
int app_opt_value(const char *cmd, int argc, char **argv, int *i, const char *name,
                  const char **value);
/* Strict numbers: the whole string, finite, within [lo, hi]. 0 or -1 (usage
 * message printed, naming the option). */
int app_parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi,
                    double *out);
int app_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);

/* ---- the [model] options (cli_model.c) --------------------------------- */

struct cli_model {
    /* as given on the command line (pointers into argv) */
    const char *weights;       /* NULL: the shipped demo model */
    const char *arch;          /* NULL: from the file */
    const char *labels;        /* NULL: names from the model file, else COCO or none */
    const char **sets;         /* "NAME=VALUE" x nsets, NULL-terminated; owned */
    int nsets;
    double score_thresh;       /* keep detections with score >= this */
    const char *classes;       /* "a,b,3" or NULL for all */
    int threads;               /* BLAS threads, >= 1 */

    /* after cli_model_load() */
    struct model *model;       /* owned */
    char *weights_path;        /* resolved path (owned) */
    char **names;              /* from --labels: nnames entries, [0] background; owned */
    int nnames;
    unsigned char *keep_class; /* num_classes flags from --classes; NULL: keep all */
};

/* Defaults: score 0.5, threads = online CPUs. */
void cli_model_init(struct cli_model *cm, int argc);
/* One argument at argv[*i]: 1 consumed (with its value, *i advanced), 0 not a
 * model option, -1 usage error (message printed). */
int cli_model_parse(struct cli_model *cm, const char *cmd, int argc, char **argv, int *i);
/* Load the model, then the labels, then resolve --classes. Returns APP_OK,
 * APP_FAIL or APP_USAGE (unknown --classes entry), messages printed. */
int cli_model_load(struct cli_model *cm, const char *cmd);
void cli_model_free(struct cli_model *cm);

/* Class name for a label: --labels first, then the model's; NULL if none. */
const char *cli_model_class_name(const struct cli_model *cm, int label);
/* The output filter: --score-thresh and --classes. */
int cli_model_keep(const struct cli_model *cm, const struct model_detection *d);

/* The help text of the [model] options, for each command's --help. */
extern const char cli_model_help[];

/* ---- SVG plots (plot.c) -------------------------------------------------- */

struct plot_series { const char *name; const double *ms; int n; };  /* per frame, ms */
struct plot_stage { const char *name; double ms; };

/* Latency per frame and the per-stage breakdown, as one SVG file. 0 or -1
 * with a message. */
int plot_write_svg(const char *path, const char *title, const struct plot_series *series,
                   int nseries, const struct plot_stage *stages, int nstages);

/* ---- JSON writing (json.c) ----------------------------------------------- */

/* s as a JSON string with quotes; invalid UTF-8 bytes become U+FFFD. NULL → null. */
void json_string(FILE *f, const char *s);
/* The shortest decimal that reads back as the same float32; null if not finite. */
void json_float(FILE *f, float v);
/* Same for a double (up to 17 significant digits). */
void json_double(FILE *f, double v);

#endif
