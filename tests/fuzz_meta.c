/*
 * fuzz_meta.c — libFuzzer target for the architecture document of a model
 * file (__metadata__["vdetect"]) on its own: model/spec/metadata.c and the JSON
 * reader under it, without the safetensors framing fuzz_vdm.c has to get
 * through first. The input is the JSON text. Seeds in tests/corpus/fuzz_meta/.
 */
#include <stdlib.h>
#include <string.h>

#include "../model/net/net.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct spec s;
    memset(&s, 0, sizeof s);
    char **names = NULL;
    uint32_t *colors = NULL;
    int n = 0;
    if (spec_from_metadata(&s, text, &names, &n, &colors) == 0) {
        volatile size_t sink = strlen(s.arch);
        for (int i = 0; i < n; i++)
            sink += names[i] ? strlen(names[i]) : 0;
        (void)sink;
    }
    spec_release(&s);   /* a version 2 document's graph, also after a failure */
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(colors);
    free(text);
    return 0;
}
