/*
 * fuzz_replay.c — runs a libFuzzer target (tests/fuzz_*.c) over files,
 * without libFuzzer or clang: `make test` links each target with this main()
 * under gcc's ASan/UBSan as build-asan/tests/replay_fuzz_NAME and runs it
 * with no arguments, which replays tests/corpus/fuzz_NAME/ (the seeds and
 * every crash the fuzzers ever found). Arguments, when given, are the files
 * or directories to replay instead.
 *
 * The readers print one line per rejected input; those (and the eval
 * report on stdout) go to /dev/null, while sanitizer reports still reach
 * the real stderr, followed by the name of the input that caused them.
 * An input passes when the target returns; a sanitizer error ends the
 * process with a non-zero status, which the test runner counts as a failure.
 * Prints "replay DIR: N inputs" and the runner's "PROG: N passed, N failed".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

/* sanitizer runtime hooks; weak so that an unsanitized build links too */
void __sanitizer_set_report_fd(void *fd) __attribute__((weak));
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static int real_stderr = 2;
static char current[4096];

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A message on the real stderr (fd 2 may be /dev/null by now). */
static void say(const char *fmt, ...)
{
    char line[4400];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (len > 0 && write(real_stderr, line, (size_t)len < sizeof line ? (size_t)len
                                                                       : sizeof line - 1) < 0)
        return;
}

static void on_death(void)
{
    say("fuzz_replay: the input above was %s\n", current);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs the target on one file: 0, or -1 when it cannot be read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return -1;
    }
    snprintf(current, sizeof current, "%s", path);
    int r = LLVMFuzzerTestOneInput(buf, n);
    fflush(stdout);
    fflush(stderr);
    free(buf);
    return r == 0 || r == -1 ? 0 : -1;
}

/* A file, or every regular file of a directory (sorted, not recursive). */
static int replay_path(const char *path, int *count, int *failed)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        say("fuzz_replay: %s: cannot open\n", path);
        (*failed)++;
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (replay_file(path) == 0)
            (*count)++;
        else
            (*failed)++;
        return 0;
    }
    DIR *d = opendir(path);
    if (!d) {
        (*failed)++;
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        if (asprintf(&names[n], "%s/%s", path, e->d_name) < 0)
            break;
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 0; i < n; i++) {
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            if (replay_file(names[i]) == 0)
                (*count)++;
            else {
                say("fuzz_replay: %s: unreadable, or the target returned neither 0 nor -1\n",
                    names[i]);
                (*failed)++;
            }
        }
        free(names[i]);
    }
    free(names);
    return 0;
}

int main(int argc, char **argv)
{
    char dflt[512];
    const char *prog = strrchr(argv[0], '/');
    prog = prog ? prog + 1 : argv[0];
    const char *base = strncmp(prog, "replay_", 7) ? prog : prog + 7;
    snprintf(dflt, sizeof dflt, "tests/corpus/%s", base);

    real_stderr = dup(2);
    if (real_stderr < 0)
        real_stderr = 2;
    if (__sanitizer_set_report_fd)
        __sanitizer_set_report_fd((void *)(intptr_t)real_stderr);
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(on_death);
    int quiet = getenv("FUZZ_REPLAY_VERBOSE") == NULL;
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (quiet && devnull >= 0) {
        fflush(stdout);
        fflush(stderr);
        dup2(devnull, 1);
        dup2(devnull, 2);
    }

    int count = 0, failed = 0;
    if (argc < 2) {
        replay_path(dflt, &count, &failed);
        say("replay %s: %d inputs\n", dflt, count);
    } else {
        for (int i = 1; i < argc; i++)
            replay_path(argv[i], &count, &failed);
        say("replay %s...: %d inputs\n", argv[1], count);
    }
    if (count == 0 && failed == 0) {
        say("fuzz_replay: %s: no inputs\n", argc < 2 ? dflt : argv[1]);
        failed = 1;
    }
    say("%s: %d passed, %d failed\n", prog, count, failed);
    if (devnull >= 0)
        close(devnull);
    return failed ? 1 : 0;
}
