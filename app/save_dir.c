/*
 * save_dir.c — detect --save DIR: where each image's annotated copy goes, checked
 * before the model loads, and writing it.
 *
 * Names: the image's name relative to what was given (a lone file: its base
 * name; an image found in a directory: its path below that directory, so -r
 * mirrors the tree) with the extension replaced by .png — PNG keeps the drawn
 * boxes sharp and needs no encoder choice. Two images that would get the same
 * name (a/x.jpg and b/x.jpg given as files) are told apart by "-2", "-3", ...
 * in the order given.
 *
 * The Files rules of README.md: DIR may not be a directory that holds inputs
 * (annotated copies would mix with them and be taken as inputs next time); an
 * output that exists is refused without -y, and one that is an input always;
 * each PNG is written to a partial file and renamed into place (outfile.c),
 * so an interrupted run leaves whole images. DIR and its subdirectories are
 * created when the first image is written (none when nothing is).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../render/render.h"
#include "app.h"

struct save_dir {
    const char *cmd;
    char *dir;
    int overwrite;
    int n;
    char **out;        /* n output paths, malloc'd */
};

struct file_id { dev_t dev; ino_t ino; };

static int by_id(const void *a, const void *b)
{
    const struct file_id *x = a, *y = b;
    if (x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

struct named { const char *name; int i; };

static int by_named(const void *a, const void *b)
{
    const struct named *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : x->i - y->i;
}

/* DIR + rel with its extension replaced by .png, suffix ("-2") before it. */
static char *out_name(const char *dir, const char *rel, const char *suffix)
{
    const char *slash = strrchr(rel, '/');
    const char *dot = strrchr(slash ? slash + 1 : rel, '.');
    int stem = dot && dot != (slash ? slash + 1 : rel) ? (int)(dot - rel) : (int)strlen(rel);
    size_t dl = strlen(dir);
    char *p = NULL;
    if (asprintf(&p, "%s%s%.*s%s.png", dir, dl && dir[dl - 1] == '/' ? "" : "/", stem, rel,
                 suffix) < 0)
        return NULL;
    return p;
}

/* Tell equal names apart: the second x.png of the inputs' order becomes
 * x-2.png, and so on. 0, or -1 when names still clash after a few rounds
 * (x.png, x-2.png and a second x.png given: rare, and then refused) or on
 * running out of memory. */
static int make_unique(struct save_dir *sd, const struct image_list *in)
{
    struct named *v = malloc(sizeof *v * (size_t)sd->n);
    char **renamed = calloc((size_t)sd->n, sizeof *renamed);
    int status = -1;
    for (int round = 0; v && renamed && round < 4; round++) {
        for (int i = 0; i < sd->n; i++) v[i] = (struct named){ sd->out[i], i };
        qsort(v, (size_t)sd->n, sizeof *v, by_named);
        int clash = 0;
        for (int i = 1, group = 0; i < sd->n; i++) {
            if (strcmp(v[i].name, v[group].name)) {
                group = i;
                continue;
            }
            char suffix[16];
            snprintf(suffix, sizeof suffix, "-%d", i - group + 1);
            int j = v[i].i;
            if (!(renamed[j] = out_name(sd->dir, in->path[j] + in->rel[j], suffix))) goto done;
            clash = 1;
        }
        if (!clash) {
            status = 0;
            break;
        }
        for (int j = 0; j < sd->n; j++)
            if (renamed[j]) {
                free(sd->out[j]);
                sd->out[j] = renamed[j];
                renamed[j] = NULL;
            }
    }
done:
    if (renamed)
        for (int j = 0; j < sd->n; j++) free(renamed[j]);
    free(renamed);
    free(v);
    return status;
}

int save_dir_open(struct save_dir **out, const char *cmd, const char *dir,
                  const struct image_list *in, int overwrite)
{
    *out = NULL;
    struct save_dir *sd = calloc(1, sizeof *sd);
    struct file_id *ids = NULL;
    int status = APP_FAIL;
    if (!sd || !(sd->dir = strdup(dir)) || !(sd->out = calloc((size_t)in->n + 1, sizeof *sd->out)))
        goto oom;
    sd->cmd = cmd;
    sd->overwrite = overwrite;
    sd->n = in->n;

    struct stat dst;
    int dir_exists = stat(dir, &dst) == 0;
    if (dir_exists && !S_ISDIR(dst.st_mode)) {
        status = app_usage_error(cmd, "--save %s: not a directory", dir);
        goto fail;
    }
    /* the inputs' identities (for "is an input"), and DIR against their directories */
    if (!(ids = malloc(sizeof *ids * (size_t)(in->n + 1)))) goto oom;
    int nid = 0;
    for (int i = 0; i < in->n; i++) {
        struct stat st;
        if (stat(in->path[i], &st) != 0) continue;   /* the loader reports it */
        ids[nid++] = (struct file_id){ st.st_dev, st.st_ino };
        if (!dir_exists) continue;
        const char *p = in->path[i], *slash = strrchr(p, '/');
        char *parent = slash ? strndup(p, (size_t)(slash - p) + 1) : strdup(".");
        if (!parent) goto oom;
        struct stat pst;
        int same = stat(parent, &pst) == 0 && pst.st_dev == dst.st_dev && pst.st_ino == dst.st_ino;
        free(parent);
        if (same) {
            status = app_usage_error(cmd, "--save %s holds the input %s: the annotated copies "
                                          "would mix with the images; choose another directory",
                                     dir, p);
            goto fail;
        }
    }
    qsort(ids, (size_t)nid, sizeof *ids, by_id);

    for (int i = 0; i < in->n; i++)
        if (!(sd->out[i] = out_name(dir, in->path[i] + in->rel[i], ""))) goto oom;
    if (make_unique(sd, in) < 0) {
        fprintf(stderr, "vdetect %s: --save %s: cannot give every image its own name\n", cmd,
                dir);
        goto fail;
    }

    int existing = 0;
    const char *first = NULL;
    for (int i = 0; i < sd->n; i++) {
        struct stat st;
        if (lstat(sd->out[i], &st) != 0) continue;
        struct file_id id = { st.st_dev, st.st_ino };
        if (bsearch(&id, ids, (size_t)nid, sizeof *ids, by_id)) {
            status = app_usage_error(cmd, "--save: %s would replace the input of that name",
                                     sd->out[i]);
            goto fail;
        }
        if (!S_ISREG(st.st_mode)) {
            status = app_usage_error(cmd, "--save: %s exists and is not a regular file",
                                     sd->out[i]);
            goto fail;
        }
        if (!first) first = sd->out[i];
        existing++;
    }
    if (existing && !overwrite) {
        if (existing == 1)
            status = app_usage_error(cmd, "--save: %s already exists (-y replaces it)", first);
        else
            status = app_usage_error(cmd, "--save: %s and %d more already exist (-y replaces "
                                          "them)", first, existing - 1);
        goto fail;
    }
    free(ids);
    *out = sd;
    return APP_OK;
oom:
    fprintf(stderr, "vdetect %s: out of memory\n", cmd);
fail:
    free(ids);
    save_dir_close(&sd);
    return status;
}

const char *save_dir_path(const struct save_dir *sd, int i)
{
    return sd && i >= 0 && i < sd->n ? sd->out[i] : NULL;
}


int save_dir_write(struct save_dir *sd, int i, const uint8_t *rgb, int w, int h)
{
    const char *path = save_dir_path(sd, i);
    if (!path) return APP_FAIL;
    if (outfile_make_parents(path) < 0) {
        fprintf(stderr, "vdetect %s: --save %s: %s\n", sd->cmd, path, strerror(errno));
        return APP_FAIL;
    }
    struct outfile *of = NULL;
    if (outfile_open(&of, "image", path, sd->overwrite, 0) < 0) return APP_FAIL;
    if (render_png_write(outfile_write_path(of), rgb, w, h, 3 * w) < 0) {
        outfile_discard(&of);
        return APP_FAIL;
    }
    return outfile_commit(&of) < 0 ? APP_FAIL : APP_OK;
}

void save_dir_close(struct save_dir **sdp)
{
    struct save_dir *sd = sdp ? *sdp : NULL;
    if (!sd) return;
    if (sd->out)
        for (int i = 0; i < sd->n; i++) free(sd->out[i]);
    free(sd->out);
    free(sd->dir);
    free(sd);
    *sdp = NULL;
}
