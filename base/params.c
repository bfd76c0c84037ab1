/*
 * params.c — tables of a library's numbers: each field's default, its range,
 * "NAME=VALUE" overrides checked against the range, and a check of a whole
 * struct. A table names each field and finds it by offset; which struct, and
 * what each number means, is the owning library's business.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

static double get(const void *s, const struct base_param *d)
{
    const char *at = (const char *)s + d->offset;
    return d->kind == BASE_PARAM_INT ? *(const int *)at : *(const float *)at;
}

static void put(void *s, const struct base_param *d, double x)
{
    char *at = (char *)s + d->offset;
    if (d->kind == BASE_PARAM_INT) *(int *)at = (int)x;
    else *(float *)at = (float)x;
}

void base_params_default(const struct base_param *table, int n, void *s, size_t size)
{
    memset(s, 0, size);
    for (int i = 0; i < n; i++) put(s, &table[i], table[i].def);
}

static int out_of_range(const struct base_param *d, double x)
{
    return !isfinite(x) || x < d->min || x > d->max ||
           (d->kind == BASE_PARAM_INT && x != floor(x));
}

static int range_err(const struct base_param *d, const char *value, const char *prefix, char *msg,
                     size_t len)
{
    return base_err(msg, len, "%s: %s: '%.40s' is not %s in [%g, %g]", prefix, d->name, value,
                    d->kind == BASE_PARAM_INT ? "an integer" : "a number", d->min, d->max);
}

int base_param_set(const struct base_param *table, int n, void *s, const char *assignment,
                   const char *prefix, char *msg, size_t len)
{
    const char *eq = assignment ? strchr(assignment, '=') : NULL;
    if (!eq)
        return base_err(msg, len, "%s: '%.60s' is not NAME=VALUE", prefix,
                        assignment ? assignment : "");
    size_t nl = (size_t)(eq - assignment);
    const struct base_param *d = NULL;
    for (int i = 0; i < n; i++)
        if (strlen(table[i].name) == nl && !strncmp(table[i].name, assignment, nl)) d = &table[i];
    if (!d) {
        char known[512] = "";
        for (int i = 0; i < n; i++) {
            strncat(known, i ? ", " : "", sizeof known - strlen(known) - 1);
            strncat(known, table[i].name, sizeof known - strlen(known) - 1);
        }
        return base_err(msg, len, "%s: unknown parameter '%.*s' (known: %s)", prefix,
                        (int)(nl > 40 ? 40 : nl), assignment, known);
    }
    const char *value = eq + 1;
    char *end;
    errno = 0;
    double x = strtod(value, &end);
    while (*end == ' ' || *end == '\t') end++;
    if (end == value || *end || errno == ERANGE || out_of_range(d, x))
        return range_err(d, value, prefix, msg, len);
    put(s, d, x);
    return 0;
}

int base_params_check(const struct base_param *table, int n, const void *s, const char *prefix,
                      char *msg, size_t len)
{
    for (int i = 0; i < n; i++) {
        double x = get(s, &table[i]);
        if (out_of_range(&table[i], x)) {
            char v[32];
            snprintf(v, sizeof v, "%g", x);
            return range_err(&table[i], v, prefix, msg, len);
        }
    }
    return 0;
}
