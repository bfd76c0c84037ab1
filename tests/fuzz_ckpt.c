/*
 * fuzz_ckpt.c — libFuzzer entry point for the checkpoint reader (model/ckpt*.c).
 * Not built by the Makefile. Build and run with:
 *
 *   clang -std=c11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *       -o /tmp/fuzz_ckpt tests/fuzz_ckpt.c model/ckpt.c model/ckpt_zip.c \
 *       model/ckpt_legacy.c model/ckpt_pickle.c -lm
 *   mkdir -p /tmp/ckpt_corpus
 *   cp tests/fixtures/ckpt/{small,train,wrapped,dp,oldkeys}_{zip,legacy}.pth /tmp/ckpt_corpus/
 *   /tmp/fuzz_ckpt -max_len=16384 -max_total_time=300 -close_fd_mask=2 /tmp/ckpt_corpus
 *
 * (-close_fd_mask=2 silences the reader's one error line per rejected input;
 * libFuzzer still prints its own reports.) Each input is written to a memfd
 * and loaded through its /proc/self/fd path, so the reader maps a real file.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../model/ckpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("ckpt", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct ckpt *c = NULL;
    if (off == size && ckpt_load(path, &c) == 0) {
        volatile float sink = 0;
        for (int i = 0; i < ckpt_count(c); i++) {
            const struct ckpt_tensor *t = ckpt_at(c, i);
            for (int64_t k = 0; k < t->numel; k++)
                sink += t->data[k];
        }
        (void)sink;
    }
    ckpt_free(&c);
    close(fd);
    return 0;
}
