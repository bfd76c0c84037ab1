/*
 * outfile.c — README.md's "Files" rules for every command: which outputs may be
 * written at all, and how they are written so that no run ever destroys a
 * file it did not create.
 *
 * Before anything is opened for writing, a command names its outputs and
 * its inputs to one struct out_check: an output that is the same file as an
 * input (compared by st_dev/st_ino, so through hard and symbolic links) or as
 * another output is a usage error, and so is an existing regular file without
 * -y. Only then are outputs opened, through struct outfile:
 *
 *   regular files (or names not there yet) are written to a partial file
 *   beside the target, NAME.partial-XXXXXX.EXT, created with O_EXCL (so it is
 *   ours), and renamed over the target only when complete; without -y the
 *   rename refuses to replace a file that appeared meanwhile. A failed run
 *   removes only that partial file. A run killed outright (SIGKILL, power cut,
 *   a third Ctrl-C) leaves it where it is: it holds what was written so far,
 *   the target is untouched, and the name says what it is;
 *
 *   everything else ("-", /dev/stdout, FIFOs, character devices) is written
 *   straight and never renamed, truncated away or unlinked.
 *
 * An image sequence (annotate -o out/f_%04d.png) does not fit the partial
 * file: it is many files named by FFmpeg's image2 muxer as it goes. Its
 * pattern stands for every name it can produce: each is checked against the
 * inputs and the other outputs, and without -y an existing one refuses the
 * run (the directory is scanned, so every number counts, not only the first
 * few). The writer (video/writer.c) writes each frame as NAME.tmp renamed
 * whole, and on an error removes only the frame files it created. Network
 * URLs are not files at all and are not checked here.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app.h"

/* ---- checks before opening --------------------------------------------- */

void out_check_init(struct out_check *c, const char *cmd, int overwrite)
{
    memset(c, 0, sizeof *c);
    c->cmd = cmd;
    c->overwrite = overwrite;
}

/* The directory part of path ("." when none), in buf. */
static void dir_of(const char *path, char *buf, size_t n)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, n, ".");
    else if (slash == path)
        snprintf(buf, n, "/");
    else
        snprintf(buf, n, "%.*s", (int)(slash - path), path);
}

/* Names under /dev and /proc (/dev/stdout, /dev/fd/N, /proc/self/fd/N) are
 * written straight even when they lead to a regular file: that file is what a
 * shell redirection opened, and renaming over it would cut it off. */
static int is_dev_path(const char *path)
{
    return !strncmp(path, "/dev/", 5) || !strncmp(path, "/proc/", 6);
}

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* ---- image sequence patterns ----------------------------------------------- */

/* FFmpeg's frame-number pattern in a file name (av_get_frame_filename2):
 * "%d" or "%Nd" / "%0Nd" (N digits, always zero-padded) exactly once, "%%"
 * a percent sign. pre and post are the literal text around the number. */
struct seq_pattern {
    char pre[NAME_MAX + 1], post[NAME_MAX + 1];
    int width;
};

/* 0, or -1 when base is not such a pattern. */
static int seq_parse(const char *base, struct seq_pattern *sp)
{
    char *out = sp->pre;
    size_t n = 0;
    int found = 0;
    sp->width = 0;
    for (const char *p = base; *p; p++) {
        char ch = *p;
        if (ch == '%') {
            int width = 0;
            p++;
            while (*p >= '0' && *p <= '9' && width < 100)
                width = width * 10 + (*p++ - '0');
            if (*p == 'd' && !found) {
                out[n] = '\0';
                out = sp->post;
                n = 0;
                sp->width = width;
                found = 1;
                continue;
            }
            if (*p != '%' || width)
                return -1;
        }
        if (n >= NAME_MAX)
            return -1;
        out[n++] = ch;
    }
    out[n] = '\0';
    return found ? 0 : -1;
}

/* Is name (a file name, no directory) one the pattern produces? */
static int seq_match(const struct seq_pattern *sp, const char *name)
{
    size_t lp = strlen(sp->pre), ls = strlen(sp->post), ln = strlen(name);
    if (ln <= lp + ls || strncmp(name, sp->pre, lp) || strcmp(name + ln - ls, sp->post))
        return 0;
    size_t nd = ln - lp - ls;
    if (nd > 18)
        return 0;
    char digits[20], back[40];
    memcpy(digits, name + lp, nd);
    digits[nd] = '\0';
    for (size_t i = 0; i < nd; i++)
        if (digits[i] < '0' || digits[i] > '9')
            return 0;
    snprintf(back, sizeof back, "%0*lld", sp->width, strtoll(digits, NULL, 10));
    return !strcmp(back, digits);
}

int out_sequence_name(const char *pattern, long long n, char *buf, size_t size)
{
    struct seq_pattern sp;
    const char *base = base_of(pattern);
    if (seq_parse(base, &sp) < 0)
        return -1;
    int r = snprintf(buf, size, "%.*s%s%0*lld%s", (int)(base - pattern), pattern, sp.pre,
                     sp.width, n, sp.post);
    return r < 0 || (size_t)r >= size ? -1 : 0;
}

/* Does the sequence entry sq (directory identity in dev/ino) produce path?
 * Looked at as given and with links resolved. */
static int seq_holds(const struct out_entry *sq, const char *path)
{
    struct seq_pattern sp;
    if (seq_parse(base_of(sq->path), &sp) < 0)
        return 0;
    char *real = realpath(path, NULL);
    const char *names[2] = { path, real };
    int hit = 0;
    for (int i = 0; i < 2 && !hit; i++) {
        char dir[PATH_MAX];
        struct stat st;
        if (!names[i])
            continue;
        dir_of(names[i], dir, sizeof dir);
        hit = stat(dir, &st) == 0 && st.st_dev == sq->dev && st.st_ino == sq->ino &&
              seq_match(&sp, base_of(names[i]));
    }
    free(real);
    return hit;
}

/* Is the new entry e the same output as an earlier one? (One line printed.) */
static int out_clash(const struct out_check *c, const struct out_entry *e)
{
    for (int k = 0; k < c->n; k++) {
        const struct out_entry *o = &c->o[k];
        int same;
        if (e->kind == OUT_SEQUENCE || o->kind == OUT_SEQUENCE) {
            const struct out_entry *sq = e->kind == OUT_SEQUENCE ? e : o;
            const struct out_entry *other = sq == e ? o : e;
            if (other->kind == OUT_SEQUENCE)
                same = sq->dev == other->dev && sq->ino == other->ino &&
                       !strcmp(base_of(sq->path), base_of(other->path));
            else
                same = other->kind != OUT_STDOUT && seq_holds(sq, other->path);
        } else if (e->kind == OUT_STDOUT || o->kind == OUT_STDOUT)
            same = e->kind == o->kind;
        else if (e->kind == OUT_NEW || o->kind == OUT_NEW)
            same = e->kind == o->kind && e->dev == o->dev && e->ino == o->ino &&
                   !strcmp(base_of(e->path), base_of(o->path));
        else if (e->kind == OUT_UNREACHABLE || o->kind == OUT_UNREACHABLE)
            same = e->kind == o->kind && !strcmp(e->path, o->path);
        else /* /dev/null may take several outputs; a FIFO or a file may not */
            same = e->dev == o->dev && e->ino == o->ino &&
                   !(e->kind == OUT_SPECIAL && !strcmp(e->path, "/dev/null"));
        if (same) {
            fprintf(stderr, "vdetect %s: %s '%s' and %s '%s' are the same file; give each output "
                            "its own name\n", c->cmd, o->opt, o->path, e->opt, e->path);
            return 1;
        }
    }
    return 0;
}

int out_check_sequence(struct out_check *c, const char *opt, const char *pattern)
{
    APP_ASSERT(c->n < OUT_CHECK_MAX);
    struct out_entry *e = &c->o[c->n];
    struct seq_pattern sp;
    memset(e, 0, sizeof *e);
    e->opt = opt;
    e->path = pattern;
    e->kind = OUT_SEQUENCE;
    if (seq_parse(base_of(pattern), &sp) < 0) {
        fprintf(stderr, "vdetect %s: %s '%s': an image sequence needs one frame number (%%d or "
                        "%%0Nd) in the file name\n", c->cmd, opt, pattern);
        return APP_USAGE;
    }
    char dir[PATH_MAX];
    struct stat st;
    dir_of(pattern, dir, sizeof dir);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "vdetect %s: %s '%s': cannot write into '%s': %s\n", c->cmd, opt,
                pattern, dir, stat(dir, &st) != 0 ? strerror(errno) : "Not a directory");
        return APP_FAIL;
    }
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    if (out_clash(c, e))
        return APP_USAGE;
    c->n++;
    return APP_OK;
}

int out_check_output(struct out_check *c, const char *opt, const char *path)
{
    if (!path)
        return APP_OK;
    APP_ASSERT(c->n < OUT_CHECK_MAX);
    struct out_entry *e = &c->o[c->n];
    memset(e, 0, sizeof *e);
    e->opt = opt;
    e->path = path;
    if (!strcmp(path, "-")) {
        e->kind = OUT_STDOUT;
    } else {
        struct stat st, lst;
        if (stat(path, &st) == 0) {
            e->dev = st.st_dev;
            e->ino = st.st_ino;
            if (S_ISDIR(st.st_mode)) {
                fprintf(stderr, "vdetect %s: %s '%s' is a directory\n", c->cmd, opt, path);
                return APP_USAGE;
            }
            e->kind = S_ISREG(st.st_mode) && !is_dev_path(path) ? OUT_EXISTING : OUT_SPECIAL;
        } else if (lstat(path, &lst) == 0) {
            /* a link to nowhere: writing through it would create a file
             * somewhere else than the name says */
            fprintf(stderr, "vdetect %s: %s '%s' is a dangling symbolic link\n", c->cmd, opt,
                    path);
            return APP_USAGE;
        } else {
            /* not there yet: the same name twice is the same directory
             * entry, whatever the spelling of its directory */
            char dir[PATH_MAX];
            dir_of(path, dir, sizeof dir);
            e->kind = OUT_NEW;
            if (stat(dir, &st) == 0) {
                e->dev = st.st_dev;
                e->ino = st.st_ino;
            } else {
                e->kind = OUT_UNREACHABLE; /* opening it fails later, with the reason */
            }
        }
    }
    if (out_clash(c, e))
        return APP_USAGE;
    c->n++;
    return APP_OK;
}

int out_check_input(const struct out_check *c, const char *what, const char *path)
{
    struct stat st;
    if (!path || !strcmp(path, "-") || stat(path, &st) != 0)
        return APP_OK; /* standard input, a URL, a device name, or missing: its own error */
    for (int k = 0; k < c->n; k++) {
        const struct out_entry *o = &c->o[k];
        if (((o->kind == OUT_EXISTING || o->kind == OUT_SPECIAL) && o->dev == st.st_dev &&
             o->ino == st.st_ino) || (o->kind == OUT_SEQUENCE && seq_holds(o, path))) {
            fprintf(stderr, "vdetect %s: %s '%s' is the same file as %s '%s'; an output may not "
                            "replace an input\n", c->cmd, o->opt, o->path, what, path);
            return APP_USAGE;
        }
    }
    return APP_OK;
}

/* A sequence's existing file with the lowest number, in buf; 0 if none.
 * The whole directory is read: any number the run could reach counts. */
static int seq_existing(const struct out_entry *sq, char *buf, size_t n)
{
    struct seq_pattern sp;
    char dir[PATH_MAX];
    dir_of(sq->path, dir, sizeof dir);
    DIR *d = seq_parse(base_of(sq->path), &sp) == 0 ? opendir(dir) : NULL;
    if (!d)
        return 0;
    struct dirent *de;
    long long best = -1;
    while ((de = readdir(d))) {
        if (!seq_match(&sp, de->d_name))
            continue;
        long long k = strtoll(de->d_name + strlen(sp.pre), NULL, 10);
        if (best < 0 || k < best)
            best = k;
    }
    closedir(d);
    return best >= 0 && out_sequence_name(sq->path, best, buf, n) == 0;
}

int out_check_done(const struct out_check *c)
{
    for (int k = 0; k < c->n; k++) {
        char name[PATH_MAX + NAME_MAX + 2];
        if (c->o[k].kind == OUT_SEQUENCE && !c->overwrite &&
            seq_existing(&c->o[k], name, sizeof name)) {
            fprintf(stderr, "vdetect %s: File '%s' already exists (%s '%s'). Use -y to "
                            "overwrite.\n", c->cmd, name, c->o[k].opt, c->o[k].path);
            return APP_USAGE;
        }
        if (c->o[k].kind == OUT_EXISTING && !c->overwrite) {
            fprintf(stderr, "vdetect %s: File '%s' already exists (%s). Use -y to overwrite.\n",
                    c->cmd, c->o[k].path, c->o[k].opt);
            return APP_USAGE;
        }
    }
    return APP_OK;
}

int out_check_input_dir(const struct out_check *c, const char *what, const char *dir)
{
    int status = APP_OK, any = 0;
    for (int k = 0; k < c->n; k++)
        any |= c->o[k].kind == OUT_EXISTING || c->o[k].kind == OUT_SPECIAL ||
               c->o[k].kind == OUT_SEQUENCE;
    DIR *d = any ? opendir(dir) : NULL;
    if (!d)
        return APP_OK; /* nothing to replace, or not a directory: its own error */
    struct dirent *de;
    char *path = NULL;
    while (status == APP_OK && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        free(path);
        if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
            path = NULL;
            break;
        }
        status = out_check_input(c, what, path);
    }
    free(path);
    closedir(d);
    return status;
}

int out_check_model(const struct out_check *c, const struct cli_model *cm)
{
    int status = APP_OK;
    if (cm->weights) {
        status = out_check_input(c, "--weights", cm->weights);
    } else {
        char *demo = cli_model_default_weights();
        status = out_check_input(c, "the demo model", demo);
        free(demo);
    }
    if (status == APP_OK)
        status = out_check_input(c, "--labels", cm->labels);
    return status;
}

/* ---- writing -------------------------------------------------------------- */

struct outfile {
    char *kind;    /* "json", "video", ... for messages */
    char *path;    /* as given */
    char *target;  /* what the partial file replaces (links resolved) */
    char *partial; /* NAME.partial-XXXXXX.EXT beside target; NULL: written straight */
    int fd;        /* the partial file's descriptor, -1 when none */
    FILE *f;       /* the stdio stream (outfile_stream), or NULL */
    int overwrite;
    dev_t dev;     /* the partial file's identity, so only it is ever unlinked */
    ino_t ino;
};

/* Six letters for a partial file's name. O_EXCL makes the name safe whatever
 * they are; they only need to differ between runs and calls (main thread). */
static void random_tag(char *tag, int n)
{
    static const char set[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static unsigned long long state;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    state ^= (unsigned long long)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (unsigned long long)getpid()
             ^ (unsigned long long)ts.tv_sec << 20;
    for (int i = 0; i < n; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        tag[i] = set[(state >> 33) % (sizeof set - 1)];
    }
    tag[n] = '\0';
}

/* Create target's partial file with O_EXCL: a name nobody else holds. */
static int create_partial(struct outfile *of, const struct stat *old)
{
    const char *base = base_of(of->target);
    const char *dot = strrchr(base, '.');
    if (dot == base)
        dot = NULL; /* ".name" has no extension */
    size_t stem = dot ? (size_t)(dot - of->target) : strlen(of->target);
    for (int attempt = 0; attempt < 100; attempt++) {
        char tag[7];
        random_tag(tag, 6);
        free(of->partial);
        if (asprintf(&of->partial, "%.*s.partial-%s%s", (int)stem, of->target, tag,
                     dot ? dot : "") < 0) {
            of->partial = NULL;
            errno = ENOMEM;
            return -1;
        }
        int fd = open(of->partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0)
            return -1;
        struct stat st;
        if (fstat(fd, &st) != 0) {
            int e = errno;
            close(fd);
            unlink(of->partial);
            errno = e;
            return -1;
        }
        of->fd = fd;
        of->dev = st.st_dev;
        of->ino = st.st_ino;
        if (old) /* the replacement keeps the old file's permissions */
            (void)fchmod(fd, old->st_mode & 0777);
        return 0;
    }
    errno = EEXIST;
    return -1;
}

int outfile_open(struct outfile **out, const char *kind, const char *path, int overwrite,
                 int stream)
{
    *out = NULL;
    struct outfile *of = calloc(1, sizeof *of);
    if (!of || !(of->kind = strdup(kind)) || !(of->path = strdup(path))) {
        app_error("%s %s: out of memory", kind, path);
        outfile_discard(&of);
        return -1;
    }
    of->fd = -1;
    of->overwrite = overwrite;
    struct stat st;
    int exists = strcmp(path, "-") && stat(path, &st) == 0;
    if (!strcmp(path, "-") || is_dev_path(path) || (exists && !S_ISREG(st.st_mode))) {
        /* standard output, a FIFO, a device: straight, and never removed */
        /* "a", not "w": /dev/stdout may be a file the shell opened with >>,
         * and O_TRUNC would empty it; FIFOs and devices ignore both */
        if (!strcmp(path, "-"))
            of->f = stdout;
        else if (stream && !(of->f = fopen(path, "a"))) {
            app_error("%s %s: %s", kind, path, strerror(errno));
            outfile_discard(&of);
            return -1;
        }
        *out = of;
        return 0;
    }
    /* a link to a file: the file is what gets replaced, the link stays */
    of->target = exists ? realpath(path, NULL) : strdup(path);
    if (!of->target) {
        app_error("%s %s: %s", kind, path, strerror(errno));
        outfile_discard(&of);
        return -1;
    }
    if (create_partial(of, exists ? &st : NULL) < 0) {
        app_error("%s %s: %s", kind, path, strerror(errno));
        outfile_discard(&of);
        return -1;
    }
    if (stream && !(of->f = fdopen(of->fd, "w"))) {
        app_error("%s %s: %s", kind, path, strerror(errno));
        outfile_discard(&of);
        return -1;
    }
    if (of->f)
        of->fd = -1; /* the stream owns it now */
    *out = of;
    return 0;
}

FILE *outfile_stream(const struct outfile *of)
{
    return of->f;
}

const char *outfile_write_path(const struct outfile *of)
{
    return of->partial ? of->partial : of->path;
}

const char *outfile_partial(const struct outfile *of)
{
    return of ? of->partial : NULL;
}

/* Is path still our partial file (not replaced behind our back)? */
static int still_ours(const struct outfile *of)
{
    struct stat st;
    return of->partial && lstat(of->partial, &st) == 0 && st.st_dev == of->dev &&
           st.st_ino == of->ino;
}

/* Rename without replacing: RENAME_NOREPLACE where the file system has it,
 * else a hard link (which refuses an existing name too) and an unlink. */
static int rename_noreplace(const char *from, const char *to)
{
#ifdef RENAME_NOREPLACE
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return -1;
#endif
    if (link(from, to) == 0) {
        unlink(from);
        return 0;
    }
    if (errno == EEXIST)
        return -1;
    /* no hard links here (vfat, some FUSE): check, then rename */
    struct stat st;
    if (lstat(to, &st) == 0) {
        errno = EEXIST;
        return -1;
    }
    return rename(from, to);
}

int outfile_commit(struct outfile **ofp)
{
    struct outfile *of = ofp ? *ofp : NULL;
    if (!of)
        return 0;
    int err = 0;
    if (of->f) {
        if (fflush(of->f) != 0 || ferror(of->f))
            err = errno ? errno : EIO;
        if (!err && of->partial && fdatasync(fileno(of->f)) != 0)
            err = errno;
        if (of->f != stdout && fclose(of->f) != 0 && !err)
            err = errno ? errno : EIO;
        of->f = NULL;
    } else if (of->fd >= 0) {
        /* written by someone else through the path (the video writer) */
        if (fdatasync(of->fd) != 0)
            err = errno;
        close(of->fd);
        of->fd = -1;
    }
    if (err) {
        app_error("%s %s: write error: %s", of->kind, of->path, strerror(err));
        outfile_discard(ofp);
        return -1;
    }
    if (of->partial) {
        if (!still_ours(of)) {
            app_error("%s %s: the partial file %s was replaced or removed while vdetect "
                            "ran; not renaming it", of->kind, of->path, of->partial);
            free(of->partial);
            of->partial = NULL;
            outfile_discard(ofp);
            return -1;
        }
        int r = of->overwrite ? rename(of->partial, of->target)
                              : rename_noreplace(of->partial, of->target);
        if (r != 0) {
            if (errno == EEXIST)
                app_error("%s %s: the file appeared while vdetect ran; not replacing it "
                                "(use -y); the output is in %s", of->kind, of->path,
                        of->partial);
            else
                app_error("%s %s: cannot rename %s into place: %s; the output is there",
                        of->kind, of->path, of->partial, strerror(errno));
            free(of->partial);
            of->partial = NULL; /* complete data: left for the user, not removed */
            outfile_discard(ofp);
            return -1;
        }
        free(of->partial);
        of->partial = NULL;
    }
    outfile_discard(ofp);
    return 0;
}

void outfile_discard(struct outfile **ofp)
{
    struct outfile *of = ofp ? *ofp : NULL;
    if (!of)
        return;
    if (of->f && of->f != stdout)
        fclose(of->f);
    else if (of->f)
        fflush(of->f);
    if (of->fd >= 0)
        close(of->fd);
    if (still_ours(of))
        unlink(of->partial);
    free(of->kind);
    free(of->path);
    free(of->target);
    free(of->partial);
    free(of);
    *ofp = NULL;
}

/* mkdir -p of path's directory part. 0 or -1 (errno). */
int outfile_make_parents(const char *path)
{
    char *p = strdup(path);
    if (!p) return -1;
    char *slash = strrchr(p, '/');
    int r = 0;
    if (slash && slash != p) {
        *slash = '\0';
        for (char *s = p + 1; r == 0; s++) {
            int end = *s == '\0';
            if (*s != '/' && !end) continue;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) r = -1;
            if (end) break;
            *s = '/';
        }
    }
    free(p);
    return r;
}
