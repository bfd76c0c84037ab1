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
#include <stdlib.h>

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
int cmd_view(int argc, char **argv);
int cmd_annotate(int argc, char **argv);

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
/* The last case of every command's option loop: argv[*i] must be a model
 * option. APP_OK when it was (consumed, *i advanced); otherwise APP_USAGE after
 * printing why ("unknown option" or "unexpected argument"). */
int cli_model_option(struct cli_model *cm, const char *cmd, int argc, char **argv, int *i);
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

/* ---- SIGINT / SIGTERM (signals.c) ----------------------------------------- */

struct video_source;
/* Install the handlers: the first signal is counted and interrupts the
 * registered source; a second one exits the process with 130 at once.
 * 0 or -1 (errno). Main thread, before any worker starts. */
int signals_install(void);
/* Put back the handlers that were there before. */
void signals_restore(void);
/* The source video_interrupt() is called on (NULL: none). */
void signals_set_source(struct video_source *src);
/* Signals received since signals_install() (0: none); and the last one. */
int signals_pending(void);
int signals_last(void);

/* ---- bounded queue of pointers (queue.c) --------------------------------- */

/*
 * The pipeline's thread hand-off (DESIGN §2): a ring of `capacity` pointers
 * with one mutex and two condition variables. Thread-safe: any number of
 * pushers and poppers. The queue owns none of the items; each item pushed
 * leaves exactly once (popped, evicted back to a pusher, or refused).
 *
 * Policies:
 *   QUEUE_BLOCK        push waits while the queue is full (back-pressure: files)
 *   QUEUE_DROP_OLDEST  push never waits: when full it evicts the oldest item,
 *                      hands it back through *evicted for the caller to
 *                      return to its pool, and counts a drop (live sources)
 *
 * queue_close() makes every later push fail with QUEUE_CLOSED (the item stays
 * the caller's) and wakes all waiters; pops still return what is queued, then
 * QUEUE_CLOSED once empty. Nothing blocks forever after a close.
 */
enum queue_policy { QUEUE_BLOCK, QUEUE_DROP_OLDEST };
enum { QUEUE_CLOSED = -1, QUEUE_TIMEOUT = -2 };

struct queue;

struct queue_counts {
    uint64_t pushed;   /* items accepted */
    uint64_t popped;   /* items handed out by pops */
    uint64_t dropped;  /* items evicted by DROP_OLDEST (pushed = popped + dropped + depth) */
    int depth;         /* items queued now */
    int peak;          /* highest depth seen */
    int capacity;
};

/* 0, or -EINVAL (capacity < 1 / bad policy) / -ENOMEM with a message. */
int queue_create(struct queue **q, int capacity, enum queue_policy policy);
/* Frees the queue (not its items); accepts NULL and *q == NULL; nulls *q.
 * No thread may be using it. */
void queue_free(struct queue **q);
/* 0 (queued; under DROP_OLDEST *evicted is the evicted item or NULL) or
 * QUEUE_CLOSED (item not taken). evicted may be NULL only for QUEUE_BLOCK. */
int queue_push(struct queue *q, void *item, void **evicted);
/* Wait for an item: 0 with *item, or QUEUE_CLOSED when closed and empty. */
int queue_pop(struct queue *q, void **item);
/* As queue_pop, waiting at most timeout_ms (0: don't wait; < 0: forever);
 * QUEUE_TIMEOUT when nothing arrived in time. */
int queue_pop_timed(struct queue *q, void **item, int timeout_ms);
/* Idempotent; accepts NULL. */
void queue_close(struct queue *q);
/* Lock-free reads of the counters (each exact; the set is a snapshot only
 * when the queue is idle). */
void queue_stats(const struct queue *q, struct queue_counts *c);
int queue_depth(const struct queue *q);

#endif
