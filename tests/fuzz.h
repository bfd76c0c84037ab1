/*
 * fuzz.h — what the libFuzzer targets (tests/fuzz_*.c) share: the entry point
 * libFuzzer calls, and a way to hand the readers an input as a real file.
 *
 * Every target is built twice: by `make fuzz` with clang and libFuzzer
 * (build-fuzz/fuzz/), and by `make test` with gcc and ASan/UBSan, linked with
 * tests/fuzz_replay.c, which feeds it every file of its corpus
 * (tests/corpus/<target>/). A target therefore must not depend on libFuzzer:
 * it is a plain function of its input that returns 0.
 *
 * Targets that need a model load the tiny one of the vdm corpus
 * (FUZZ_MODEL, relative to the top of the repository, where make runs them).
 */
#ifndef VDETECT_TESTS_FUZZ_H
#define VDETECT_TESTS_FUZZ_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_MODEL "tests/corpus/fuzz_vdm/tiny.vdm"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * data[0..size) as an anonymous file (memfd): returns its descriptor, which
 * the caller closes, and its name (/proc/self/fd/N) in path; -1 when the
 * kernel refuses. Readers open, stat and map it like any regular file.
 */
static inline int fuzz_file(const void *data, size_t size, char path[static 32])
{
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, (const char *)data + off, size - off);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    snprintf(path, 32, "/proc/self/fd/%d", fd);
    return fd;
}

#endif
