/* embed.c — the vdetect detector in a program of your own: load a model, read a
 * binary PPM (P6, maxval 255, no comments) and print what model_detect returns.
 *   cc embed.c $(pkg-config --cflags --libs vdetect) -o embed
 *   ./embed /usr/local/share/vdetect/demo.vdm photo.ppm */
#include <stdio.h>
#include <stdlib.h>
#include <vdetect/model.h>

int main(int argc, char **argv)
{
    model_prepare_blas(argv); /* picks OpenBLAS's kernels for this CPU (may re-exec) */
    if (argc != 3)
        return fprintf(stderr, "usage: %s MODEL IMAGE.ppm\n", argv[0]), 2;
    struct model *m;
    struct model_options opt = {.weights = argv[1], .threads = 1};
    if (model_load(&m, &opt) < 0)
        return 1; /* the reason is already on stderr */

    FILE *f = fopen(argv[2], "rb");
    int w = 0, h = 0, maxval = 0;
    if (!f || fscanf(f, "P6 %d %d %d", &w, &h, &maxval) != 3 || maxval != 255 ||
        w < 1 || h < 1 || w > 16384 || h > 16384 || fgetc(f) == EOF)
        return fprintf(stderr, "%s: not a binary PPM (P6, maxval 255)\n", argv[2]), 1;
    unsigned char *rgb = malloc((size_t)w * h * 3);
    if (!rgb || fread(rgb, 3, (size_t)w * h, f) != (size_t)w * h)
        return fprintf(stderr, "%s: truncated\n", argv[2]), 1;
    fclose(f);

    struct model_image img = {.rgb = rgb, .width = w, .height = h, .stride = 3 * w};
    int max = model_max_detections(m), n = 0;
    struct model_detection *d = malloc(sizeof *d * (size_t)max);
    if (!d || model_detect(m, &img, d, max, &n) < 0)
        return 1;
    for (int i = 0; i < n; i++) { /* sorted by descending score */
        const char *name = model_class_name(m, d[i].label);
        printf("%-16s %.3f  %7.1f %7.1f %7.1f %7.1f\n", name ? name : "?", d[i].score,
               d[i].box[0], d[i].box[1], d[i].box[2], d[i].box[3]);
    }
    free(d);
    free(rgb);
    model_free(&m);
    return 0;
}
