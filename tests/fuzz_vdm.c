/*
 * fuzz_vdm.c — libFuzzer target for a whole self-describing model file
 * (.vdm): the safetensors header (model/ckpt/safetensors.c, model/ckpt/sjson.c),
 * the architecture in its __metadata__ (model/spec/metadata.c) and binding the
 * tensors to that architecture (model/net/bind.c and the module builders), as
 * `vdetect info --weights FILE` does before it prints anything.
 *
 * Loading only: running the loaded model on an image is the parameter-limit
 * tests' business. Seeds in tests/corpus/fuzz_vdm/ (tiny models written by
 * tests/fuzz_seeds.py).
 */
#include "../model/model.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[32];
    int fd = fuzz_file(data, size, path);
    if (fd < 0)
        return 0;
    struct model *m = NULL;
    struct model_options opt = { .weights = path, .threads = 1 };
    if (model_load(&m, &opt) == 0) {
        volatile size_t sink = 0;
        for (int i = -1; i <= model_num_classes(m); i++) {
            const char *name = model_class_name(m, i);
            sink += name ? __builtin_strlen(name) : 0;
        }
        sink += __builtin_strlen(model_arch(m)) + (size_t)model_param_count(m);
        (void)sink;
    }
    model_free(&m);
    close(fd);
    return 0;
}
