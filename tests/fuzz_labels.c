/*
 * fuzz_labels.c — libFuzzer target for --labels FILE (app/cli_model.c): the
 * input is the label file, read against the tiny 3-class model of fuzz.h the
 * way every command does (cli_model_load), then a --classes list resolved
 * against the names it gave. Seeds in tests/corpus/fuzz_labels/.
 */
#include "../app/app.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[32];
    int fd = fuzz_file(data, size, path);
    if (fd < 0)
        return 0;
    struct cli_model cm;
    cli_model_init(&cm, 1);
    cm.weights = FUZZ_MODEL;
    cm.labels = path;
    cm.classes = "1,Cat,dog";
    cm.threads = 1;
    if (cli_model_load(&cm, "fuzz") == APP_OK) {
        volatile size_t sink = 0;
        for (int l = -1; l <= model_num_classes(cm.model); l++) {
            const char *name = cli_model_class_name(&cm, l);
            sink += name ? __builtin_strlen(name) : 0;
        }
        (void)sink;
    }
    cli_model_free(&cm);
    close(fd);
    return 0;
}
