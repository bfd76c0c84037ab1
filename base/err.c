/*
 * err.c — how base/'s users report what went wrong: a broken invariant (the
 * always-on assert's report, then abort) and a failure of the world (one line
 * into the caller's buffer, and -1 to return).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "base.h"

_Noreturn void base_assert_fail(const char *file, int line, const char *cond)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, cond);
    abort();
}

int base_err(char *msg, size_t len, const char *fmt, ...)
{
    if (msg && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, len, fmt, ap);
        va_end(ap);
    }
    return -1;
}
