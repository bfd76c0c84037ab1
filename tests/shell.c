/*
 * shell.c — running commands from C tests (shell.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "shell.h"

int test_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

char *test_capture(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (cap - n < 2) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    if (pclose(p) != 0 || !buf) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static char scratch[64];

const char *test_scratch_open(const char *name)
{
    snprintf(scratch, sizeof scratch, "/tmp/vdetect_%s_XXXXXX", name);
    if (!mkdtemp(scratch)) {
        perror("mkdtemp");
        return NULL;
    }
    return scratch;
}

const char *test_path(const char *file)
{
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", scratch, file);
    return buf[k];
}

void test_scratch_close(void)
{
    if (!scratch[0]) return;
    if (!getenv("VDETECT_KEEP_MEDIA"))
        test_sh("chmod -R u+w '%s'; rm -rf '%s'", scratch, scratch);
    else
        fprintf(stderr, "media kept in %s\n", scratch);
}
