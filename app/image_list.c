/*
 * image_list.c — the still images a command was pointed at: files as given (one
 * that is missing or unreadable is the loader's to report, with the others still
 * run), and for a directory its image files (by extension), sorted by name so
 * that runs are repeatable. Not recursive.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "app.h"

static int is_image_name(const char *name)
{
    static const char *const ext[] = { ".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".pnm",
                                       ".webp", ".tif", ".tiff", ".gif" };
    const char *dot = strrchr(name, '.');
    if (!dot || name[0] == '.') return 0;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (!strcasecmp(dot, ext[i])) return 1;
    return 0;
}

static int add(struct image_list *l, char *path)
{
    if (!path) return -1;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->path, sizeof *v * (size_t)cap);
        if (!v) {
            free(path);
            return -1;
        }
        l->path = v;
        l->cap = cap;
    }
    l->path[l->n++] = path;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int image_list_arg(void *ctx, const char *cmd, const char *arg)
{
    if (add(ctx, strdup(arg)) == 0) return APP_OK;
    fprintf(stderr, "vdetect %s: out of memory\n", cmd);
    return APP_FAIL;
}

/* dir's image files, sorted, onto l. APP_OK or APP_FAIL (printed). */
static int add_dir(struct image_list *l, const char *cmd, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "vdetect %s: %s: %s\n", cmd, dir, strerror(errno));
        return APP_FAIL;
    }
    int first = l->n, err = 0;
    size_t len = strlen(dir);
    const char *sep = len && dir[len - 1] == '/' ? "" : "/";
    struct dirent *e;
    while (!err && (e = readdir(d))) {
        if (!is_image_name(e->d_name)) continue;
        char *p = NULL;
        if (asprintf(&p, "%s%s%s", dir, sep, e->d_name) < 0) p = NULL;
        err = add(l, p);
    }
    closedir(d);
    if (err) {
        fprintf(stderr, "vdetect %s: out of memory\n", cmd);
        return APP_FAIL;
    }
    if (l->n == first) {
        fprintf(stderr, "vdetect %s: %s: no image files (.png, .jpg, .bmp, .ppm, ...) in it\n",
                cmd, dir);
        return APP_FAIL;
    }
    qsort(l->path + first, (size_t)(l->n - first), sizeof *l->path, by_name);
    return APP_OK;
}

int image_list_expand(struct image_list *l, const char *cmd)
{
    struct image_list out = { 0 };
    int status = APP_OK;
    for (int i = 0; i < l->n && status == APP_OK; i++) {
        struct stat st;
        if (stat(l->path[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            status = add_dir(&out, cmd, l->path[i]);
        } else if (add(&out, l->path[i]) == 0) {
            l->path[i] = NULL;   /* moved */
        } else {
            fprintf(stderr, "vdetect %s: out of memory\n", cmd);
            status = APP_FAIL;
        }
    }
    image_list_free(l);
    *l = out;
    return status;
}

void image_list_free(struct image_list *l)
{
    for (int i = 0; i < l->n; i++) free(l->path[i]);
    free(l->path);
    memset(l, 0, sizeof *l);
}
