/*
 * app.h — app/'s private header: the commands of the vdetect CLI and the small
 * pieces they share (the [model] options of README.md's Commands, JSON writing).
 *
 * Exit-status convention (README.md, Commands): every command function returns the
 * process exit status itself — APP_OK, APP_FAIL (runtime failure, message
 * already on stderr) or APP_USAGE (bad usage, message and a "see vdetect
 * COMMAND --help" hint already on stderr). Only main() exits.
 */
#ifndef VDETECT_APP_H
#define VDETECT_APP_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

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
int cmd_eval(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_view(int argc, char **argv);
int cmd_annotate(int argc, char **argv);
int cmd_watch(int argc, char **argv);

enum { APP_INTERRUPTED = 130 };

/* Always-on invariant check (STYLE rule 5): file:line and abort. */
#define APP_ASSERT(cond)                                                          \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__,  \
                    #cond);                                                       \
            abort();                                                              \
        }                                                                         \
    } while (0)

/* Print "vdetect CMD: <message>" and the help hint; returns APP_USAGE. */
int app_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- the error line (options.c) ------------------------------------------ */

/*
 * Every error app/ prints is one line, "vdetect COMMAND: what went wrong"
 * ("vdetect eval: truth t.json: not valid JSON: ..."), so a line in a script's
 * log says which program and command wrote it. main() names the command once
 * (app_set_command); app_error() and app_usage_error(NULL, ...) use it.
 */
void app_set_command(const char *cmd);   /* a string that outlives the run, or NULL */
const char *app_command(void);           /* NULL: none set (the global options) */
/* "vdetect CMD: " + the message + a newline on stderr; returns APP_FAIL. */
int app_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "vdetect CMD: note: ..." (or "warning: ...": say so in fmt); no status. */
void app_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- command-line options (options.c) ------------------------------------ */

/*
 * Every command describes its options in a table of struct opt and hands argv
 * to opt_parse(), which accepts "--name VALUE", "--name=VALUE", "-c VALUE",
 * "-c=VALUE", "--" (every later argument is positional) and "-" (positional:
 * standard input/output). A value-taking option always takes the next
 * argument, even one that starts with '-' ("--json -", "--crf -1" is then
 * out of range). An option given again replaces the earlier value (--set,
 * an OPT_CALL, collects them). Errors are one line and the help hint:
 *   vdetect view: unknown option '--queu' (did you mean '--queue'?)
 *   vdetect view: --queue needs a value
 *   vdetect view: --queue: 'abc' is not an integer in [1, 64]
 * The same table gives the option list of the command's --help (opt_help),
 * so the two cannot disagree.
 *
 * A table is an array ended by an entry of kind OPT_END ({ 0 }).
 */
enum opt_kind {
    OPT_END = 0,  /* ends a table */
    OPT_FLAG,     /* no value: *(int *)dest = 1 */
    OPT_STRING,   /* *(const char **)dest = the value (points into argv); never empty */
    OPT_INT,      /* *(int *)dest = a whole decimal number in [lo, hi] */
    OPT_LONG,     /* *(long *)dest, the same */
    OPT_LLONG,    /* *(long long *)dest, the same */
    OPT_DOUBLE,   /* *(double *)dest = a finite number in [lo, hi] */
    OPT_CALL,     /* call(dest, ...) with the value (NULL when arg is NULL) */
    OPT_HELP,     /* -h / --help: opt_parse() stops and returns OPT_HELP_ASKED */
    OPT_TABLE,    /* the options of sub, parsed and listed at this place */
    OPT_NOTE,     /* a row of --help only (e.g. "--"): never matches */
};

struct opt {
    const char *name;         /* "--queue"; NULL: known by its short name only */
    char short_name;          /* 'o' for -o; 0: none */
    const char *arg;          /* the value's name in --help ("N", "FILE|-"); NULL: takes none */
    enum opt_kind kind;
    void *dest;               /* where the value goes (OPT_CALL: call's first argument) */
    double lo, hi;            /* OPT_INT ... OPT_DOUBLE: the accepted range */
    /* OPT_CALL: APP_OK, or APP_USAGE after app_usage_error(); opt is the option's
     * name as matched ("--set", "-o") */
    int (*call)(void *dest, const char *cmd, const char *opt, const char *value);
    const struct opt *sub;    /* OPT_TABLE */
    const char *help;         /* --help text, '\n' between lines; NULL: not listed */
};

enum { OPT_HELP_ASKED = -1 };

/*
 * Parse argv[1..argc-1] (argv[0] is the command) against tables (a
 * NULL-terminated list, searched in order). Arguments that are not options go
 * to positional(ctx, cmd, arg) — APP_OK or APP_USAGE after a message — or,
 * when it is NULL, are an "unexpected argument". Returns APP_OK, APP_USAGE
 * (message and hint printed) or OPT_HELP_ASKED (-h/--help seen: the arguments
 * after it were not looked at).
 */
int opt_parse(const char *cmd, int argc, char **argv, const struct opt *const *tables,
              int (*positional)(void *ctx, const char *cmd, const char *arg), void *ctx);
/*
 * A command's --help: text is a printf format with one %s per table (at most
 * 4), each replaced by that table's rows: "  -o, --output OUT  help", the help
 * text from column 23, its later lines indented as much.
 */
void opt_help(FILE *f, const char *text, const struct opt *const *tables);

/* "Did you mean": feed the candidates; best is the closest by edit distance
 * (a transposition counts one), if it is close enough to be a likely typo;
 * else NULL. Leading '-' are not counted in a name's length. */
struct app_suggest {
    const char *given;
    const char *best;
    int dist;
};
void app_suggest_init(struct app_suggest *s, const char *given);
void app_suggest_add(struct app_suggest *s, const char *candidate);
/* The same, measured against spelt but suggesting candidate (an alias, e.g. an
 * architecture name without its "fasterrcnn_" prefix). */
void app_suggest_add_as(struct app_suggest *s, const char *spelt, const char *candidate);
/* Optimal string alignment distance; INT_MAX when either is over 64 bytes. */
int app_edit_distance(const char *a, const char *b);

/* --size WxH (1..16384 a side), for OPT_CALL: dest is int[2] {w, h}. */
int app_opt_size(void *dest, const char *cmd, const char *opt, const char *value);

/* The source options of view, annotate and bench (--input-format,
 * --video-size, --framerate) as a table into so (cli_source.c). */
struct video_source_options;
#define CLI_SOURCE_NOPTS 4
void cli_source_options(struct opt t[CLI_SOURCE_NOPTS], struct video_source_options *so);

/* ---- --config FILE (config_file.c) ---------------------------------------- */

/*
 * view, annotate and bench take --config FILE: a file of options, one a line
 * ("queue 4", "input /dev/video0"; the format: config_file.c's header,
 * docs/formats.md §7), put in the place of "--config FILE" before the command
 * parses its arguments. So an option given after it on the command line
 * overrides the file's, as a repeated option does.
 */
struct config_args {
    int argc;
    char **argv;      /* argc strings and a NULL; the array and every string owned */
    int cap;          /* argv's room */
};
/*
 * Expand each "--config FILE" and "--config=FILE" of argv[1..argc-1] up to a
 * "--", -h or --help (from there the arguments are copied as they are);
 * argv[0], the command, is kept. On APP_OK, out holds the new arguments; the
 * command's option values point into them, so config_args_free() comes after
 * the command has returned. Else APP_USAGE (one line naming the file and
 * line, and the help hint) or APP_FAIL (out of memory), printed, and out is
 * empty.
 */
int config_expand(const char *cmd, int argc, char **argv, struct config_args *out);
/* NULL-safe; safe to call twice. */
void config_args_free(struct config_args *ca);
/* The index of the first --config in argv[1..] before a "--", -h or --help,
 * or 0: for the commands that refuse it. */
int config_find(int argc, char **argv);

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
    const char *engine;        /* GEMM engine: "openblas", "onednn", "auto" or NULL */
    const char *precision;     /* "fp32" (NULL) or "bf16" */

    /* after cli_model_load() */
    struct model *model;       /* owned */
    char *weights_path;        /* resolved path (owned) */
    char **names;              /* from --labels: nnames entries, [0] background; owned */
    int nnames;
    unsigned char *keep_class; /* num_classes flags from --classes; NULL: keep all */

    /* the [model] options as an option table, for opt_parse() and opt_help() */
    struct opt opts[10];
};

/* "onednn", or "openblas (kernels SkylakeX)": the engine the model's products
 * run on, with OpenBLAS's kernel set when it is the one (cli_model.c). */
const char *app_engine_desc(const struct model *m, char *buf, size_t len);

/* Agreement of detections a with b (agreement.c): of those with score >= score,
 * how many of a match one of b of the same class at IoU >= min_iou (one to one,
 * best score first) — *matched — out of the larger of the two counts — *total. */
void app_agreement(const struct model_detection *a, int na, const struct model_detection *b,
                   int nb, double score, double min_iou, int *matched, int *total);

/* Defaults: score 0.5, threads = online CPUs; cm->opts set up. */
void cli_model_init(struct cli_model *cm, int argc);
/* Load the model, then the labels, then resolve --classes. Returns APP_OK,
 * APP_FAIL or APP_USAGE (unknown --classes entry), messages printed. */
int cli_model_load(struct cli_model *cm, const char *cmd);
void cli_model_free(struct cli_model *cm);

/* The weights used when --weights is not given (the shipped demo model), as
 * cli_model_load() finds it; malloc'd, or NULL when it is not present. */
char *cli_model_default_weights(void);

/* Class name for a label: --labels first, then the model's; NULL if none. */
const char *cli_model_class_name(const struct cli_model *cm, int label);
/* The output filter: --score-thresh and --classes. */
int cli_model_keep(const struct cli_model *cm, const struct model_detection *d);
/* --classes alone: 1 when label is one of them (or none were given). */
int cli_model_keep_class(const struct cli_model *cm, int label);

/* ---- output files (outfile.c) -------------------------------------------- */

/*
 * README.md's "Files" rules, shared by every command. Before opening anything for
 * writing, a command passes each output to out_check_output() and then each
 * input to out_check_input*(): a clash is a usage error (APP_USAGE, one line
 * on stderr naming both files), never a replaced input.
 *
 * out_check_done() last refuses existing files without -y.
 *
 * Outputs are then written through struct outfile: a regular file (or a name
 * not there yet) goes to NAME.partial-XXXXXX.EXT beside it, created by this
 * run, and is renamed over NAME by outfile_commit() once complete (without -y
 * never over a file that appeared meanwhile); outfile_discard() removes only
 * that partial file. "-", names under /dev and /proc, FIFOs and devices are
 * written straight and never renamed or removed. A run killed before
 * committing leaves its partial files: the data written so far.
 */
#define OUT_CHECK_MAX 8
enum out_kind {
    OUT_NEW,          /* not there yet: dev/ino are its directory's */
    OUT_UNREACHABLE,  /* its directory is missing: opening it will fail */
    OUT_EXISTING,     /* a regular file (-y given) */
    OUT_SPECIAL,      /* FIFO, device, /dev/... : written straight */
    OUT_STDOUT,       /* "-" */
    OUT_SEQUENCE,     /* an image sequence's pattern: dev/ino are its directory's */
};
struct out_check {
    const char *cmd;
    int overwrite;                /* -y */
    int n;
    struct out_entry {
        const char *opt, *path;   /* "--json", as given (pointers into argv) */
        enum out_kind kind;
        dev_t dev;
        ino_t ino;
    } o[OUT_CHECK_MAX];
};

void out_check_init(struct out_check *c, const char *cmd, int overwrite);
/* One output (NULL: none given). APP_USAGE with one line for a directory, a
 * dangling link, or the same file as an earlier output; else APP_OK. */
int out_check_output(struct out_check *c, const char *opt, const char *path);
/* An image sequence (annotate -o out/f_%04d.png): pattern has one frame
 * number, %d or %0Nd (FFmpeg's), in its last component. Every name it can
 * produce counts as this output: the same as an earlier output, an input
 * (out_check_input) or, without -y, an existing file (out_check_done) is an
 * error. APP_USAGE with one line, or APP_OK. */
int out_check_sequence(struct out_check *c, const char *opt, const char *pattern);
/* The name of frame number n of such a pattern, in buf. 0, or -1 if it does
 * not fit or pattern is no sequence pattern. */
int out_sequence_name(const char *pattern, long long n, char *buf, size_t size);
/* An input (NULL, "-", URLs and missing files pass: they fail on their own).
 * APP_USAGE with one line naming both when it is one of the outputs. */
int out_check_input(const struct out_check *c, const char *what, const char *path);
/* Every entry of a directory, as inputs. */
int out_check_input_dir(const struct out_check *c, const char *what, const char *dir);
/* The model's files: --weights (or the demo model) and --labels. */
int out_check_model(const struct out_check *c, const struct cli_model *cm);
/* Last, after the inputs (a clash with an input says more than "exists"):
 * APP_USAGE with ffmpeg's one line for an existing regular file without -y. */
int out_check_done(const struct out_check *c);

struct outfile;
/* Open an output checked above. kind names it in messages ("json"). stream:
 * also give a stdio stream (outfile_stream); otherwise the caller writes
 * outfile_write_path() itself (the video writer, PNG screenshots). 0, or -1
 * with "KIND PATH: reason" printed. */
int outfile_open(struct outfile **of, const char *kind, const char *path, int overwrite,
                 int stream);
FILE *outfile_stream(const struct outfile *of);
/* Where the bytes go: the partial file, or the path itself when straight. */
const char *outfile_write_path(const struct outfile *of);
/* The partial file's name while one exists (NULL: written straight). */
const char *outfile_partial(const struct outfile *of);
/* Complete: flush, sync, rename into place. 0, or -1 with a message (the
 * partial file is removed, unless it holds complete data that could not be
 * renamed: the message names it). NULL-safe; nulls *of. */
int outfile_commit(struct outfile **of);
/* Error path: close, and remove the partial file (only it). NULL-safe. */
void outfile_discard(struct outfile **of);
/* mkdir -p of path's directory part (an output's folders: detect --save, an
 * image sequence's). 0, or -1 with errno. */
int outfile_make_parents(const char *path);

/* ---- SVG plots (plot.c) -------------------------------------------------- */

struct plot_series { const char *name; const double *ms; int n; };  /* per frame, ms */
struct plot_stage { const char *name; double ms; };

/* Latency per frame and the per-stage breakdown, as one SVG file written to f
 * (through struct outfile; path names it in messages). 0 or -1 with a
 * message. */
int plot_write_svg(FILE *f, const char *path, const char *title,
                   const struct plot_series *series, int nseries,
                   const struct plot_stage *stages, int nstages);

/* ---- JSON writing (json.c) ----------------------------------------------- */

/* s as a JSON string with quotes; invalid UTF-8 bytes become U+FFFD. NULL → null. */
void json_put_string(FILE *f, const char *s);
/* The shortest decimal that reads back as the same float32; null if not finite. */
void json_put_float(FILE *f, float v);
/* A time in seconds: microseconds at most, trailing zeros dropped (15.36, not
 * 15.360000000000001); null when not finite. Every time the JSON outputs carry. */
void json_put_time(FILE *f, double sec);
/* Same for a double (up to 17 significant digits). */
void json_put_double(FILE *f, double v);

/* ---- image files named on a command line (image_list.c) -------------------- */

struct image_list {
    char **path;                  /* n paths, malloc'd */
    int *rel;                     /* path[i] + rel[i]: its name relative to the directory
                                     given (a lone file: its base name) */
    int n, cap;
};
/* opt_parse's positional callback (ctx: the list): keeps arg as given. */
int image_list_arg(void *ctx, const char *cmd, const char *arg);
/* Each directory in l replaced by its image files (by extension, sorted; with
 * recursive also its subdirectories', hidden ones and linked directories
 * skipped; none at all is an error), a pattern that names no file by its
 * glob(3) matches (none is an error); a file stays as it is (missing or not,
 * for the loader to report). APP_OK, or APP_FAIL after one line on stderr. */
int image_list_expand(struct image_list *l, const char *cmd, int recursive);
void image_list_free(struct image_list *l);

/* ---- eval --track (eval_track.c) ----------------------------------------------- */

/* Score the MOTChallenge tracks in mot against the ground truth in truth;
 * the table on stdout, --json as one object (to stdout instead with "-"). An
 * APP_ status (errors printed). */
int eval_track(const char *cmd, const char *truth, const char *mot, const char *json_path,
               int overwrite);

/* ---- detect --save DIR (save_dir.c) ---------------------------------------- */

struct save_dir;
/* Name an annotated PNG under dir for each image of in (its name relative to
 * what was given, .png) and check them all against README.md's Files rules:
 * dir holds no input, no output is an input, none exists without overwrite.
 * APP_OK, or APP_USAGE / APP_FAIL after one line on stderr. */
int save_dir_open(struct save_dir **sd, const char *cmd, const char *dir,
                  const struct image_list *in, int overwrite);
/* Image i's output path (NULL for a bad i or sd). */
const char *save_dir_path(const struct save_dir *sd, int i);
/* Write image i's annotated RGB24 (stride 3 * w): directories made as needed,
 * partial file renamed into place. APP_OK or APP_FAIL (printed). */
int save_dir_write(struct save_dir *sd, int i, const uint8_t *rgb, int w, int h);
void save_dir_close(struct save_dir **sd);

/* ---- SIGINT / SIGTERM (signals.c) ----------------------------------------- */

struct video_source;
/* Install the handlers: every signal is counted and interrupts the
 * registered source (the first: stop cleanly; the second: stop waiting for
 * queued frames, still finish the files); a third exits with 130 at once.
 * 0 or -1 (errno). Main thread, before any worker starts. */
int signals_install(void);
/* Put back the handlers that were there before. */
void signals_restore(void);
/* The source video_interrupt() is called on (NULL: none). */
void signals_set_source(struct video_source *src);
/* Signals received since signals_install() (0: none); and the last one. */
int signals_pending(void);
int signals_last(void);

/* ---- systemd (service.c) -------------------------------------------------- */

/*
 * A long-running command under systemd (a Type=notify unit such as
 * scripts/vdetect@.service) tells the service manager how it is doing with
 * these. Under systemd ($NOTIFY_SOCKET set when first called) each sends one
 * datagram through libsystemd's sd_notify(); otherwise each is a no-op. They
 * read the environment once, at the first call of any of them, and never
 * change it. Safe to call from any thread. They cannot fail: the first failed
 * send prints one warning line, and the service manager acts on what it did
 * not receive (a start timeout, the watchdog).
 */
/* READY=1 with a STATUS= line (status_fmt NULL: READY=1 alone): start-up is
 * over — the model loaded, the source opened — and the command is at work.
 * Until then systemd reports the unit as "activating". */
void service_ready(const char *status_fmt, ...) __attribute__((format(printf, 1, 2)));
/* STATUS= only ("watching rtsp://…: 5.0 fps, 2 objects"), one line (newlines
 * become spaces; cut to 255 bytes, between UTF-8 characters; the same for
 * service_ready()'s), at most one a second: a line given
 * sooner is held, the newest replacing the one before, and sent by a later
 * service_status() or service_watchdog() once the second is up, or with
 * service_stopping(). */
void service_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Call often (per frame, or at least once a second) from the loop whose
 * progress proves the program alive — including while it waits to reconnect a
 * source: sends WATCHDOG=1 every half of the unit's WatchdogSec= (the first
 * call sends at once), nothing when the unit has no watchdog ($WATCHDOG_USEC
 * unset, or $WATCHDOG_PID another process's); also sends a held status when
 * its second is up. Costs a clock read and an atomic load when there is
 * nothing to send. */
void service_watchdog(void);
/* STOPPING=1 (with the held status, if one waits): the command begins its
 * clean shutdown. Call it once, when a stop was asked for or the source ended. */
void service_stopping(void);

#endif
