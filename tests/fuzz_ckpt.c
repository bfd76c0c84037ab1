/*
 * fuzz_ckpt.c — libFuzzer target for the checkpoint reader (model/ckpt*.c):
 * any file given to --weights, so .pth zip archives, legacy tar-less pickle
 * streams and safetensors files alike; the format is told from the bytes.
 *
 * An accepted file's tensors are all read back, so a storage that points
 * outside the mapping shows up under ASan. Build and run with `make fuzz`
 * (see fuzz.h); seeds in tests/corpus/fuzz_ckpt/.
 */
#include "../model/ckpt/ckpt.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[32];
    int fd = fuzz_file(data, size, path);
    if (fd < 0)
        return 0;
    struct ckpt *c = NULL;
    if (ckpt_load(path, &c) == 0) {
        volatile float sink = 0;
        for (int i = 0; i < ckpt_count(c); i++) {
            const struct ckpt_tensor *t = ckpt_at(c, i);
            for (int64_t k = 0; k < t->numel; k++)
                sink += t->data[k];
            if (ckpt_find(c, t->name) == NULL)
                __builtin_trap();    /* every listed tensor must be found by name */
        }
        (void)ckpt_metadata(c, "vdetect");
        (void)sink;
    }
    ckpt_free(&c);
    close(fd);
    return 0;
}
