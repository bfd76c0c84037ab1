/*
 * base.h — the one public header of base/: the plain-C ground that track/ and
 * motion/ both stand on. The always-on assert, error messages into a caller's
 * buffer, geometric growth of arrays, and tables of "NAME=VALUE" parameters
 * (defaults, ranges, overrides, checks) over a struct's fields.
 *
 * base/ knows nothing of the libraries that use it: no track, motion, model,
 * video, render or app. It uses only the C library and libm.
 *
 * Errors follow the project: fallible functions return 0 or -1 and write one
 * line (no newline) into the caller's msg buffer, which may be NULL. Nothing
 * here prints or aborts on bad input; a broken invariant aborts with file:line.
 */
#ifndef VDETECT_BASE_H
#define VDETECT_BASE_H

#include <stddef.h>

/* ---- the always-on assert (err.c) ---------------------------------------------- */

/* Always-on invariant check (bugs assert, the world returns errors). */
#define BASE_ASSERT(c)                                                                    \
    do {                                                                                  \
        if (!(c))                                                                         \
            base_assert_fail(__FILE__, __LINE__, #c);                                     \
    } while (0)
/* Print "FILE:LINE: assertion failed: COND" to stderr and abort. */
_Noreturn void base_assert_fail(const char *file, int line, const char *cond);

/* ---- messages (err.c) ---------------------------------------------------------- */

/* printf into msg (when msg is not NULL and len > 0) and return -1. */
int base_err(char *msg, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- arrays (grow.c) ----------------------------------------------------------- */

/* Grow *p (an array of elem-byte items, *cap of them) to hold at least need,
 * doubling from 16; 0, or -1 when out of memory or the array would pass
 * INT32_MAX items or SIZE_MAX bytes (*p and *cap unchanged). Allocates nothing
 * when need <= *cap, so arrays grown on the first frames cost nothing on
 * steady ones. */
int base_grow(void **p, int *cap, int need, size_t elem);

/* ---- parameter tables (params.c) ----------------------------------------------- */

/* What a parameter's field holds. */
enum base_param_kind {
    BASE_PARAM_FLOAT, /* float; any finite number in range */
    BASE_PARAM_INT,   /* int; a whole number in range */
};

/*
 * One parameter: a float or int field of some struct, found by offset. A
 * table of these (static, in the library that owns the struct) is all the
 * functions below know of the struct.
 */
struct base_param {
    const char *name;     /* the field's name, as users write it in NAME=VALUE */
    size_t offset;        /* offsetof the field in its struct */
    enum base_param_kind kind;
    double min, max;      /* the accepted range, both ends included */
    double def;           /* the default (within the range) */
};

/* Zero the struct s (size bytes) and set each of the n fields of table to its
 * default. */
void base_params_default(const struct base_param *table, int n, void *s, size_t size);

/*
 * Apply one "NAME=VALUE" assignment to the struct s. 0, or -1 with one line in
 * msg that starts with "PREFIX: " (e.g. "track"):
 *   "PREFIX: 'x' is not NAME=VALUE"
 *   "PREFIX: unknown parameter 'x' (known: a, b, ...)"  (the table's order)
 *   "PREFIX: NAME: 'v' is not an integer in [min, max]" (or "a number")
 * s is unchanged on error. assignment may be NULL (an error).
 */
int base_param_set(const struct base_param *table, int n, void *s, const char *assignment,
                   const char *prefix, char *msg, size_t len);

/* Check that each of the n fields of table holds a value in its range (a whole
 * number for BASE_PARAM_INT). 0, or -1 with msg as base_param_set's, naming the
 * first field out of range and its value. */
int base_params_check(const struct base_param *table, int n, const void *s, const char *prefix,
                      char *msg, size_t len);

#endif
