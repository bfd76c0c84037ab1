/*
 * common.c — what every file of motion/ shares: the always-on assert's report,
 * error messages into the caller's buffer, geometric growth of the few arrays
 * that grow with the scene (so that steady frames allocate nothing), and the
 * check of a polygon handed in by a caller.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

_Noreturn void motion_assert_fail(const char *file, int line, const char *cond)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, cond);
    abort();
}

int motion_err(char *msg, size_t len, const char *fmt, ...)
{
    if (msg && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int motion_grow(void **p, int *cap, int need, size_t elem)
{
    MOTION_ASSERT(need >= 0 && *cap >= 0 && elem > 0);
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

int motion_polygon_check(const struct motion_polygon *poly, const char *what, char *msg,
                         size_t len)
{
    if (poly->n < 3 || poly->n > MOTION_MAX_VERTICES)
        return motion_err(msg, len, "motion: %s: %d vertices (3 to %d wanted)", what, poly->n,
                          MOTION_MAX_VERTICES);
    for (int i = 0; i < poly->n; i++)
        if (!isfinite(poly->x[i]) || !isfinite(poly->y[i]))
            return motion_err(msg, len, "motion: %s: vertex %d is not finite", what, i + 1);
    return 0;
}
