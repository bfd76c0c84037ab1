/*
 * image_list.c — the still images a command was pointed at:
 *   - a file as given (one that is missing or unreadable is the loader's to
 *     report, with the others still run);
 *   - a directory: its image files (by extension), sorted by name so runs
 *     repeat; with -r also those of its subdirectories, depth first in name
 *     order (hidden entries and symbolic links to directories are skipped: no
 *     loops, no .thumbnails);
 *   - a pattern the shell did not expand (quoted, or from a script): glob(3),
 *     its matches in the C library's order, a directory among them as above.
 * Each path also records where its name relative to what was given starts
 * (image_list.rel), so that outputs can mirror the tree (detect --save).
 */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "app.h"

#define MAX_DEPTH 64   /* -r: deeper trees are surely a mistake (or a loop) */

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

/* Take path (malloc'd; freed on failure) with its relative name at rel. */
static int add(struct image_list *l, char *path, int rel)
{
    if (!path) return -1;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->path, sizeof *v * (size_t)cap);
        if (v) l->path = v;
        int *r = v ? realloc(l->rel, sizeof *r * (size_t)cap) : NULL;
        if (!r) {
            free(path);
            return -1;
        }
        l->rel = r;
        l->cap = cap;
    }
    l->rel[l->n] = rel;
    l->path[l->n++] = path;
    return 0;
}

/* Where a lone file's name starts: after its last '/'. */
static int base_offset(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? (int)(s - path + 1) : 0;
}

int image_list_arg(void *ctx, const char *cmd, const char *arg)
{
    char *p = strdup(arg);
    if (add(ctx, p, p ? base_offset(p) : 0) == 0) return APP_OK;
    fprintf(stderr, "vdetect %s: out of memory\n", cmd);
    return APP_FAIL;
}

struct walk {
    struct image_list *l;
    const char *cmd;
    int recursive;
    int rel;            /* offset of the relative names: the given directory's length + '/' */
};

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* dir's image files (and with -r its subdirectories'), sorted, onto w->l. */
static int walk_dir(struct walk *w, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "vdetect %s: %s: %s\n", w->cmd, dir, strerror(errno));
        return APP_FAIL;
    }
    struct image_list sub = { 0 };   /* subdirectories, walked after the files */
    int first = w->l->n, err = 0;
    size_t len = strlen(dir);
    const char *sep = len && dir[len - 1] == '/' ? "" : "/";
    struct dirent *e;
    while (!err && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;   /* ., .., hidden */
        char *p = NULL;
        int is_dir = 0;
        if (w->recursive) {
            if (e->d_type == DT_DIR) {
                is_dir = 1;
            } else if (e->d_type == DT_UNKNOWN) {   /* some file systems: ask */
                struct stat st;
                if (asprintf(&p, "%s%s%s", dir, sep, e->d_name) < 0) { err = -1; break; }
                is_dir = lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
                free(p);
                p = NULL;
            }
        }
        if (!is_dir && !is_image_name(e->d_name)) continue;
        if (asprintf(&p, "%s%s%s", dir, sep, e->d_name) < 0) p = NULL;
        err = is_dir ? add(&sub, p, 0) : add(w->l, p, w->rel);
    }
    closedir(d);
    if (err) {
        image_list_free(&sub);
        fprintf(stderr, "vdetect %s: out of memory\n", w->cmd);
        return APP_FAIL;
    }
    qsort(w->l->path + first, (size_t)(w->l->n - first), sizeof *w->l->path, by_name);
    qsort(sub.path, (size_t)sub.n, sizeof *sub.path, by_name);
    int status = APP_OK;
    for (int i = 0; i < sub.n && status == APP_OK; i++) {
        if (depth + 1 >= MAX_DEPTH) {
            fprintf(stderr, "vdetect %s: %s: more than %d levels of directories\n", w->cmd,
                    sub.path[i], MAX_DEPTH);
            status = APP_FAIL;
        } else {
            status = walk_dir(w, sub.path[i], depth + 1);
        }
    }
    image_list_free(&sub);
    return status;
}

static int add_dir(struct image_list *l, const char *cmd, const char *dir, int recursive)
{
    size_t len = strlen(dir);
    struct walk w = { l, cmd, recursive, (int)len + (len && dir[len - 1] == '/' ? 0 : 1) };
    int first = l->n;
    int status = walk_dir(&w, dir, 0);
    if (status == APP_OK && l->n == first) {
        fprintf(stderr, "vdetect %s: %s: no image files (.png, .jpg, .bmp, .ppm, ...) in it%s\n",
                cmd, dir, recursive ? " or below it" : " (-r: also in its subdirectories)");
        status = APP_FAIL;
    }
    return status;
}

static int has_glob_chars(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

/* A pattern the shell left alone: its matches. */
static int add_glob(struct image_list *l, const char *cmd, const char *pattern, int recursive)
{
    glob_t g;
    int r = glob(pattern, 0, NULL, &g);   /* a missing directory: no match, said so */
    if (r == GLOB_NOMATCH) {
        fprintf(stderr, "vdetect %s: %s: no file matches\n", cmd, pattern);
        return APP_FAIL;
    }
    if (r != 0) {
        fprintf(stderr, "vdetect %s: %s: %s\n", cmd, pattern,
                r == GLOB_NOSPACE ? "out of memory" : "a directory cannot be read");
        if (r != GLOB_NOSPACE) globfree(&g);
        return APP_FAIL;
    }
    int status = APP_OK;
    for (size_t i = 0; i < g.gl_pathc && status == APP_OK; i++) {
        const char *p = g.gl_pathv[i];
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            status = add_dir(l, cmd, p, recursive);
        } else {
            char *c = strdup(p);
            if (add(l, c, c ? base_offset(c) : 0) < 0) {
                fprintf(stderr, "vdetect %s: out of memory\n", cmd);
                status = APP_FAIL;
            }
        }
    }
    globfree(&g);
    return status;
}

int image_list_expand(struct image_list *l, const char *cmd, int recursive)
{
    struct image_list out = { 0 };
    int status = APP_OK;
    for (int i = 0; i < l->n && status == APP_OK; i++) {
        struct stat st;
        int found = stat(l->path[i], &st) == 0;
        if (found && S_ISDIR(st.st_mode)) {
            status = add_dir(&out, cmd, l->path[i], recursive);
        } else if (!found && has_glob_chars(l->path[i])) {
            status = add_glob(&out, cmd, l->path[i], recursive);
        } else if (add(&out, l->path[i], l->rel[i]) == 0) {
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
    free(l->rel);
    memset(l, 0, sizeof *l);
}
