/*
 * fuzz_eval.c — libFuzzer target for what `vdetect eval` reads
 * (app/cli_eval.c and app/coco.c): a COCO truth file and detections as
 * JSON Lines, scored with the command's own code path
 * (`eval --truth T --detections D`, which needs no model or images).
 *
 * Input: the truth file, a 0xff byte (which no JSON text contains), then the
 * detections; without the 0xff the detections file is empty. An odd last byte
 * adds `--json -` so the JSON report is written too. Detections that start
 * with a 0xfe byte (dropped; no JSON text has one either) are passed as
 * `--coco` (annotate's COCO results) instead of `--detections` (detect's or
 * annotate's JSON Lines). Output goes to stdout,
 * which `make fuzz` and the replay discard. Seeds in tests/corpus/fuzz_eval/.
 */
#include <string.h>

#include "../app/app.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *sep = memchr(data, 0xff, size);
    size_t ntruth = sep ? (size_t)(sep - data) : size;
    char truth[32], dets[32];
    int fd1 = fuzz_file(data, ntruth, truth);
    const uint8_t *d = sep ? sep + 1 : data;
    size_t nd = sep ? size - ntruth - 1 : 0;
    int coco = nd && d[0] == 0xfe;
    int fd2 = fuzz_file(d + coco, nd - (size_t)coco, dets);
    if (fd1 >= 0 && fd2 >= 0) {
        char *argv[] = { "eval", "-q", "--truth", truth, "--detections", dets, "--json", "-",
                         NULL };
        if (coco)
            argv[4] = "--coco";
        int argc = size && (data[size - 1] & 1) ? 8 : 6;
        argv[argc] = NULL;
        cmd_eval(argc, argv);
        fflush(stdout);
    }
    if (fd1 >= 0)
        close(fd1);
    if (fd2 >= 0)
        close(fd2);
    return 0;
}
