/*
 * fuzz_options.c — libFuzzer target for the [model] options every command
 * parses (app/cli_model.c: --set, --score-thresh, --classes, --threads,
 * --arch, ...) and what loading a model does with them (model/spec/spec.c's
 * --set values, --classes resolved against the class names).
 *
 * Input: the command line, one argument per line. The options are parsed
 * exactly as a command's option loop does; if they all parse, the model is
 * loaded with them, except that the tiny model of fuzz.h replaces --weights,
 * --labels is dropped and one thread is used: the file arguments are other
 * targets' business, and reading whatever path the fuzzer spells (a FIFO,
 * /dev/zero) would hang. Seeds in tests/corpus/fuzz_options/.
 */
#include <stdlib.h>
#include <string.h>

#include "../app/app.h"
#include "fuzz.h"

#define MAX_ARGS 64

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
    int status = APP_OK;
    for (int i = 1; i < argc && status == APP_OK; i++)
        status = cli_model_option(&cm, "fuzz", argc, argv, &i);
    if (status == APP_OK) {
        cm.weights = FUZZ_MODEL;
        cm.labels = NULL;
        cm.threads = 1;
        if (cli_model_load(&cm, "fuzz") == APP_OK) {
            struct model_detection d = { { 1, 2, 3, 4 }, 0.5f, 1 };
            volatile int sink = 0;
            for (int l = -1; l <= model_num_classes(cm.model); l++) {
                d.label = l;
                sink += cli_model_keep(&cm, &d);
            }
            (void)sink;
        }
    }
    cli_model_free(&cm);
    free(text);
    return 0;
}
