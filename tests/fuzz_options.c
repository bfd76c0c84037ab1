/*
 * fuzz_options.c — libFuzzer target for command-line options: app/options.c's
 * parser (every kind of table entry: flags, strings, the integer and float
 * ranges, handlers, a nested table, short names, "--", positionals, --help
 * and its option list) with the [model] options every command shares
 * (app/cli_model.c: --set, --score-thresh, --classes, --threads, --arch, ...),
 * and what loading a model does with them (model/spec/spec.c's --set values,
 * --classes resolved against the class names).
 *
 * Input: the command line, one argument per line. It is parsed as a command
 * parses its own, against a table of every kind and the model options; if it
 * parses, the model is loaded with them, except that the tiny model of fuzz.h
 * replaces --weights, --labels is dropped and one thread is used: the file
 * arguments are other targets' business, and reading whatever path the
 * fuzzer spells (a FIFO, /dev/zero) would hang. Seeds in
 * tests/corpus/fuzz_options/.
 */
#include <stdlib.h>
#include <string.h>

#include "../app/app.h"
#include "fuzz.h"

#define MAX_ARGS 64

struct sink {
    int positionals;
    int calls;
};

static int on_positional(void *ctx, const char *cmd, const char *arg)
{
    struct sink *s = ctx;
    /* a third positional is a usage error, as a command with two would say */
    if (++s->positionals > 2)
        return app_usage_error(cmd, "unexpected argument '%s'", arg);
    return APP_OK;
}

static int on_call(void *dest, const char *cmd, const char *opt, const char *value)
{
    struct sink *s = dest;
    s->calls++;
    if (value && !strcmp(value, "bad"))
        return app_usage_error(cmd, "%s: bad", opt);
    return APP_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    argv[argc++] = "fuzz";
    for (char *p = text; argc < MAX_ARGS && p < text + size;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        argv[argc++] = p;
        if (!nl)
            break;
        p = nl + 1;
    }
    argv[argc] = NULL;

    struct cli_model cm;
    cli_model_init(&cm, argc);
    struct sink sink = { 0, 0 };
    int flag = 0, count = 0, wh[2] = { 0, 0 };
    long big = 0;
    long long huge = 0;
    double ratio = 0;
    const char *out = NULL, *name = NULL;
    const struct opt nested[] = {
        { .name = "--nested", .arg = "S", .kind = OPT_STRING, .dest = &name, .help = "nested" },
        { .kind = OPT_END },
    };
    const struct opt opts[] = {
        { .name = "--flag", .short_name = 'f', .kind = OPT_FLAG, .dest = &flag,
          .help = "a flag" },
        { .name = "--output", .short_name = 'o', .arg = "OUT", .kind = OPT_STRING, .dest = &out,
          .help = "a string" },
        { .name = "--count", .arg = "N", .kind = OPT_INT, .dest = &count, .lo = -5, .hi = 64,
          .help = "an int" },
        { .name = "--big", .arg = "N", .kind = OPT_LONG, .dest = &big, .lo = 0, .hi = 2e9,
          .help = "a long" },
        { .name = "--huge", .arg = "N", .kind = OPT_LLONG, .dest = &huge, .lo = -1e15, .hi = 1e15,
          .help = "a long long" },
        { .name = "--ratio", .arg = "X", .kind = OPT_DOUBLE, .dest = &ratio, .lo = -1, .hi = 1,
          .help = "a double\non two lines" },
        { .name = "--call", .arg = "V", .kind = OPT_CALL, .dest = &sink, .call = on_call,
          .help = "a handler with a value" },
        { .name = "--poke", .kind = OPT_CALL, .dest = &sink, .call = on_call,
          .help = "a handler without one" },
        { .name = "--size", .arg = "WxH", .kind = OPT_CALL, .dest = wh, .call = app_opt_size,
          .help = "a size" },
        { .kind = OPT_TABLE, .sub = nested },
        { .short_name = 'y', .kind = OPT_FLAG, .dest = &flag, .help = "short only" },
        { .name = "--help", .short_name = 'h', .kind = OPT_HELP, .help = "help" },
        { .name = "--", .kind = OPT_NOTE, .help = "a note" },
        { .kind = OPT_END },
    };
    const struct opt *const tables[] = { opts, cm.opts, NULL };
    int status = opt_parse("fuzz", argc, argv, tables, on_positional, &sink);
    if (status == OPT_HELP_ASKED) {
        FILE *null = fopen("/dev/null", "w");
        if (null) {
            opt_help(null, "%s\n%s", tables);
            fclose(null);
        }
    }
    if (status == APP_OK) {
        cm.weights = FUZZ_MODEL;
        cm.labels = NULL;
        cm.threads = 1;
        if (cli_model_load(&cm, "fuzz") == APP_OK) {
            struct model_detection d = { { 1, 2, 3, 4 }, 0.5f, 1 };
            volatile int sink2 = 0;
            for (int l = -1; l <= model_num_classes(cm.model); l++) {
                d.label = l;
                sink2 += cli_model_keep(&cm, &d);
            }
            (void)sink2;
        }
    }
    cli_model_free(&cm);
    free(text);
    return 0;
}
