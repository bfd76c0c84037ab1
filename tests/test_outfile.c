/*
 * test_outfile.c — app/outfile.c, the Files contract of README.md's Commands, at the
 * level the shell tests cannot reach: the races and the corner cases.
 *
 *   - out_check: an output is refused when it is an input (by inode: hard and
 *     symbolic links), another output (also when neither exists yet, spelt
 *     differently), a directory or a dangling link; an existing file only
 *     without -y, and only in out_check_done(); "-" and /dev/null may repeat
 *     as they should;
 *   - outfile: data goes to NAME.partial-XXXXXX.EXT (extension kept), NAME
 *     appears only at commit; a file that appears at NAME meanwhile is not
 *     replaced without -y (the partial file is kept and named); discard
 *     removes the partial file only while it is still the one it created; a
 *     symlinked target is replaced behind the link, which stays; a FIFO is
 *     written straight and never removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../app/app.h"
#include "check.h"

static char dir[256];

static const char *at(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int holds(const char *path, const char *text)
{
    char buf[256] = { 0 };
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    return n == strlen(text) && !memcmp(buf, text, n);
}

/* How many names in dir start with prefix. */
static int count(const char *prefix)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += !strncmp(e->d_name, prefix, strlen(prefix));
    if (d)
        closedir(d);
    return n;
}

static void test_check(void)
{
    struct out_check c;
    put(at("in.mp4"), "video");
    link(at("in.mp4"), at("hard.mp4"));
    symlink("in.mp4", at("sym.mp4"));
    symlink("nowhere", at("dangling"));
    mkdir(at("sub"), 0777);

    out_check_init(&c, "test", 1);
    CHECK(out_check_output(&c, "--json", at("hard.mp4")) == APP_OK, "existing output with -y");
    CHECK(out_check_input(&c, "SOURCE", at("in.mp4")) == APP_USAGE, "hard link to the input");
    out_check_init(&c, "test", 1);
    CHECK(out_check_output(&c, "-o", at("sym.mp4")) == APP_OK &&
              out_check_input(&c, "SOURCE", at("in.mp4")) == APP_USAGE,
          "symlink to the input");
    out_check_init(&c, "test", 1);
    CHECK(out_check_output(&c, "-o", at("out.mp4")) == APP_OK &&
              out_check_input(&c, "SOURCE", at("in.mp4")) == APP_OK &&
              out_check_input(&c, "URL", "rtsp://cam/x") == APP_OK &&
              out_check_input(&c, "stdin", "-") == APP_OK && out_check_done(&c) == APP_OK,
          "distinct files pass");
    CHECK(out_check_output(&c, "--json", at("sub/../out.mp4")) == APP_USAGE,
          "two new outputs, one name spelt two ways");
    CHECK(out_check_output(&c, "--coco", at("sub")) == APP_USAGE, "a directory");
    CHECK(out_check_output(&c, "--coco", at("dangling")) == APP_USAGE, "a dangling link");
    CHECK(out_check_output(&c, "--json", "-") == APP_OK &&
              out_check_output(&c, "--coco", "-") == APP_USAGE,
          "standard output once");
    out_check_init(&c, "test", 0);
    CHECK(out_check_output(&c, "-o", "/dev/null") == APP_OK &&
              out_check_output(&c, "--json", "/dev/null") == APP_OK && out_check_done(&c) == APP_OK,
          "/dev/null several times, no -y needed");
    out_check_init(&c, "test", 0);
    CHECK(out_check_output(&c, "-o", at("in.mp4")) == APP_OK, "existing: not refused yet");
    CHECK(out_check_input(&c, "SOURCE", at("in.mp4")) == APP_USAGE, "...but as an input");
    CHECK(out_check_done(&c) == APP_USAGE, "existing without -y: refused at the end");
    CHECK(holds(at("in.mp4"), "video"), "input intact");
}

static void test_write(void)
{
    struct outfile *of = NULL;
    /* new file: partial name beside it, NAME only at commit */
    CHECK(outfile_open(&of, "json", at("new.jsonl"), 0, 1) == 0 && of, "open new");
    const char *p = of ? outfile_partial(of) : NULL;
    CHECK(p && strstr(p, "/new.partial-") && !strcmp(p + strlen(p) - 6, ".jsonl"),
          "partial name keeps the extension: %s", p ? p : "-");
    if (of)
        fputs("line\n", outfile_stream(of));
    CHECK(access(at("new.jsonl"), F_OK) != 0, "target absent before commit");
    CHECK(outfile_commit(&of) == 0 && !of, "commit");
    CHECK(holds(at("new.jsonl"), "line\n") && count("new.partial-") == 0,
          "renamed into place, no partial left");

    /* a file appears at NAME meanwhile: not replaced without -y */
    CHECK(outfile_open(&of, "json", at("race.json"), 0, 1) == 0, "open race");
    put(at("race.json"), "theirs");
    if (of)
        fputs("ours", outfile_stream(of));
    CHECK(outfile_commit(&of) < 0, "commit refuses to replace a file that appeared");
    CHECK(holds(at("race.json"), "theirs"), "their file intact");
    CHECK(count("race.partial-") == 1, "our complete data kept in the partial file");

    /* with -y it replaces, keeping the old mode */
    put(at("old.json"), "old");
    chmod(at("old.json"), 0640);
    CHECK(outfile_open(&of, "json", at("old.json"), 1, 1) == 0, "open old -y");
    if (of)
        fputs("new", outfile_stream(of));
    struct stat st;
    CHECK(outfile_commit(&of) == 0 && holds(at("old.json"), "new") &&
              stat(at("old.json"), &st) == 0 && (st.st_mode & 0777) == 0640,
          "-y replaces, mode kept");

    /* discard: only the partial file, never the target */
    CHECK(outfile_open(&of, "json", at("old.json"), 1, 1) == 0, "open to discard");
    outfile_discard(&of);
    CHECK(!of && holds(at("old.json"), "new") && count("old.partial-") == 0,
          "discard removes the partial file only");

    /* the partial file replaced behind our back: discard leaves it alone */
    CHECK(outfile_open(&of, "json", at("swap.json"), 0, 1) == 0, "open swap");
    if (of) {
        char name[512];
        snprintf(name, sizeof name, "%s", outfile_partial(of));
        unlink(name);
        put(name, "someone else's");
        outfile_discard(&of);
        CHECK(holds(name, "someone else's"), "a file that is no longer ours is not unlinked");
        unlink(name);
    }

    /* a symlink to a file: the file is replaced, the link stays */
    put(at("real.json"), "old");
    symlink("real.json", at("link.json"));
    CHECK(outfile_open(&of, "json", at("link.json"), 1, 1) == 0, "open through a link");
    if (of)
        fputs("via link", outfile_stream(of));
    struct stat lst;
    CHECK(outfile_commit(&of) == 0 && lstat(at("link.json"), &lst) == 0 && S_ISLNK(lst.st_mode) &&
              holds(at("real.json"), "via link"),
          "link kept, its file replaced");

    /* a FIFO: straight, never removed, even on discard */
    mkfifo(at("fifo"), 0666);
    int rd = open(at("fifo"), O_RDONLY | O_NONBLOCK);
    CHECK(outfile_open(&of, "json", at("fifo"), 0, 1) == 0 && of &&
              !strcmp(outfile_write_path(of), at("fifo")) && !outfile_partial(of),
          "FIFO written straight");
    if (of)
        fputs("x", outfile_stream(of));
    outfile_discard(&of);
    CHECK(lstat(at("fifo"), &st) == 0 && S_ISFIFO(st.st_mode), "FIFO still there");
    if (rd >= 0)
        close(rd);

    /* path mode (the video writer): the caller writes the partial path */
    CHECK(outfile_open(&of, "video", at("v.mkv"), 0, 0) == 0 && of && !outfile_stream(of),
          "path mode");
    if (of)
        put(outfile_write_path(of), "frames");
    CHECK(outfile_commit(&of) == 0 && holds(at("v.mkv"), "frames"), "path mode committed");
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/vdetect-outfile.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_check();
    test_write();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary("test_outfile");
}
