/*
 * common.c — what every file of track/ shares: the always-on assert's report,
 * error messages into the caller's buffer, and geometric growth of the
 * preallocated arrays (so that steady frames allocate nothing).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

_Noreturn void track_assert_fail(const char *file, int line, const char *cond)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, cond);
    abort();
}

int track_err(char *msg, size_t len, const char *fmt, ...)
{
    if (msg && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int track_grow(void **p, int *cap, int need, size_t elem)
{
    TRACK_ASSERT(need >= 0 && *cap >= 0 && elem > 0);
    if (need <= *cap) return 0;
    long long n = *cap > 0 ? *cap : 16;
    while (n < need) n *= 2;
    if (n > INT32_MAX || (unsigned long long)n > SIZE_MAX / elem) return -1;
    void *q = realloc(*p, (size_t)n * elem);
    if (!q) return -1;
    *p = q;
    *cap = (int)n;
    return 0;
}
