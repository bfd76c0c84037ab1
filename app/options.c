/*
 * options.c — the command-line option parser every command uses (app.h,
 * "command-line options"): a table per command in, values stored or handlers
 * called, one uniform line per mistake, and the option list of --help
 * printed from the same table.
 *
 * Why not getopt_long(): it accepts any unambiguous prefix of a long option
 * ("--thr 2" for --threads), which would make a later option a breaking
 * change; it keeps its state in globals (optind), which a fuzz target that
 * parses many command lines in one process must reset in a glibc-specific
 * way; it permutes argv; and it neither checks values nor suggests a name.
 * What remained for it to do — split "--name=value" — is a few lines here.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

/* ---- the error line ------------------------------------------------------ */

static const char *current_command;   /* set by main() before a command runs */

void app_set_command(const char *cmd)
{
    current_command = cmd;
}

const char *app_command(void)
{
    return current_command;
}

static void error_prefix(const char *cmd)
{
    fprintf(stderr, "vdetect%s%s: ", cmd ? " " : "", cmd ? cmd : "");
}

int app_error(const char *fmt, ...)
{
    va_list ap;
    error_prefix(current_command);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return APP_FAIL;
}

void app_note(const char *fmt, ...)
{
    va_list ap;
    error_prefix(current_command);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int app_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    if (!cmd)
        cmd = current_command;
    error_prefix(cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nsee vdetect%s%s --help\n", cmd ? " " : "", cmd ? cmd : "");
    return APP_USAGE;
}

/* ---- "did you mean" ------------------------------------------------------ */

#define SUGGEST_MAX_LEN 64

int app_edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > SUGGEST_MAX_LEN || m > SUGGEST_MAX_LEN)
        return INT_MAX;
    /* three rows of the dynamic programme: i-2, i-1, i */
    int rows[3][SUGGEST_MAX_LEN + 1];
    for (size_t j = 0; j <= m; j++)
        rows[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        int *cur = rows[i % 3], *prev = rows[(i - 1) % 3], *prev2 = rows[(i + 1) % 3];
        cur[0] = (int)i;
        for (size_t j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int d = prev[j] + 1;                       /* deletion */
            if (cur[j - 1] + 1 < d) d = cur[j - 1] + 1; /* insertion */
            if (prev[j - 1] + cost < d) d = prev[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < d)
                d = prev2[j - 2] + 1;                  /* transposition */
            cur[j] = d;
        }
    }
    return rows[n % 3][m];
}

static const char *body(const char *s)
{
    while (*s == '-')
        s++;
    return s;
}

void app_suggest_init(struct app_suggest *s, const char *given)
{
    s->given = given;
    s->best = NULL;
    s->dist = INT_MAX;
}

void app_suggest_add(struct app_suggest *s, const char *candidate)
{
    app_suggest_add_as(s, candidate, candidate);
}

void app_suggest_add_as(struct app_suggest *s, const char *spelt, const char *candidate)
{
    size_t len = strlen(body(s->given));
    /* a typo changes a letter or two; a name of two letters or less has no
     * typo that is not another name */
    int limit = len <= 2 ? 0 : len <= 5 ? 2 : 3;
    int d = app_edit_distance(s->given, spelt);
    /* an abbreviation ("--thr") is close too */
    if (len >= 3 && d > 1 && !strncmp(body(spelt), body(s->given), len))
        d = 1;
    if (d <= limit && (size_t)d < len && d < s->dist) {
        s->best = candidate;
        s->dist = d;
    }
}

/* ---- the table ----------------------------------------------------------- */

/* Table mistakes are the program's, not the user's: caught on every run. */
static void check_table(const struct opt *t)
{
    for (; t->kind != OPT_END; t++) {
        switch (t->kind) {
        case OPT_FLAG:
        case OPT_HELP:
            APP_ASSERT(!t->arg);
            break;
        case OPT_STRING:
        case OPT_INT:
        case OPT_LONG:
        case OPT_LLONG:
        case OPT_DOUBLE:
            APP_ASSERT(t->arg && t->lo <= t->hi);
            break;
        case OPT_CALL:
            APP_ASSERT(t->call);
            break;
        case OPT_TABLE:
            APP_ASSERT(t->sub);
            check_table(t->sub);
            continue;
        case OPT_NOTE:
            continue;
        case OPT_END:
            break;
        }
        APP_ASSERT(t->name || t->short_name);
        APP_ASSERT(!t->name || (t->name[0] == '-' && t->name[1] == '-' && t->name[2]));
        APP_ASSERT(t->kind == OPT_HELP || t->kind == OPT_CALL || t->dest);
    }
}

/* The entry named name[0..n) ("--queue") or, when n is 0, -short_name. */
static const struct opt *find(const struct opt *t, const char *name, size_t n, char short_name)
{
    for (; t->kind != OPT_END; t++) {
        if (t->kind == OPT_TABLE) {
            const struct opt *o = find(t->sub, name, n, short_name);
            if (o)
                return o;
        } else if (t->kind == OPT_NOTE) {
            continue;
        } else if (n ? t->name && strlen(t->name) == n && !strncmp(t->name, name, n)
                     : t->short_name && t->short_name == short_name) {
            return t;
        }
    }
    return NULL;
}

static void suggest_from(struct app_suggest *s, const struct opt *t)
{
    for (; t->kind != OPT_END; t++) {
        if (t->kind == OPT_TABLE) {
            suggest_from(s, t->sub);
        } else if (t->kind != OPT_NOTE) {
            if (t->name)
                app_suggest_add(s, t->name);
        }
    }
}

/* ---- values -------------------------------------------------------------- */

static int store_integer(const char *cmd, const struct opt *o, const char *opt, const char *v)
{
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (end == v || *end != '\0' || errno == ERANGE)
        return app_usage_error(cmd, "%s: '%s' is not an integer in [%.0f, %.0f]", opt, v, o->lo,
                               o->hi);
    if ((double)n < o->lo || (double)n > o->hi)
        return app_usage_error(cmd, "%s: %s is out of range [%.0f, %.0f]", opt, v, o->lo, o->hi);
    if (o->kind == OPT_INT) {
        APP_ASSERT(o->lo >= (double)INT_MIN && o->hi < -(double)INT_MIN);
        *(int *)o->dest = (int)n;
    } else if (o->kind == OPT_LONG) {
        APP_ASSERT(o->lo >= (double)LONG_MIN && o->hi < -(double)LONG_MIN);
        *(long *)o->dest = (long)n;
    } else {
        *(long long *)o->dest = n;
    }
    return APP_OK;
}

static int store(const char *cmd, const struct opt *o, const char *opt, const char *v)
{
    switch (o->kind) {
    case OPT_FLAG:
        *(int *)o->dest = 1;
        return APP_OK;
    case OPT_STRING:
        if (!*v)
            return app_usage_error(cmd, "%s: empty value (expected %s)", opt, o->arg);
        *(const char **)o->dest = v;
        return APP_OK;
    case OPT_INT:
    case OPT_LONG:
    case OPT_LLONG:
        return store_integer(cmd, o, opt, v);
    case OPT_DOUBLE: {
        char *end = NULL;
        errno = 0;
        double d = strtod(v, &end);
        if (end == v || *end != '\0' || errno == ERANGE || !isfinite(d))
            return app_usage_error(cmd, "%s: '%s' is not a number in [%g, %g]", opt, v, o->lo,
                                   o->hi);
        if (d < o->lo || d > o->hi)
            return app_usage_error(cmd, "%s: %s is out of range [%g, %g]", opt, v, o->lo, o->hi);
        *(double *)o->dest = d;
        return APP_OK;
    }
    case OPT_CALL:
        return o->call(o->dest, cmd, opt, v);
    case OPT_HELP:
        return OPT_HELP_ASKED;
    case OPT_END:
    case OPT_TABLE:
    case OPT_NOTE:
        break;
    }
    APP_ASSERT(!"an option kind that is never matched");
    return APP_USAGE;
}

/* ---- the parser ---------------------------------------------------------- */

static int unknown(const char *cmd, const struct opt *const *tables, const char *name, size_t n)
{
    char given[SUGGEST_MAX_LEN + 1];
    struct app_suggest s;
    app_suggest_init(&s, "");
    if (n <= SUGGEST_MAX_LEN) {
        memcpy(given, name, n);
        given[n] = '\0';
        app_suggest_init(&s, given);
        for (int k = 0; tables[k]; k++)
            suggest_from(&s, tables[k]);
    }
    if (s.best)
        return app_usage_error(cmd, "unknown option '%.*s' (did you mean '%s'?)", (int)n, name,
                               s.best);
    return app_usage_error(cmd, "unknown option '%.*s'", (int)n, name);
}

int opt_parse(const char *cmd, int argc, char **argv, const struct opt *const *tables,
              int (*positional)(void *ctx, const char *cmd, const char *arg), void *ctx)
{
    for (int k = 0; tables[k]; k++)
        check_table(tables[k]);
    int only_positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r;
        if (only_positional || a[0] != '-' || a[1] == '\0') {
            r = positional ? positional(ctx, cmd, a)
                           : app_usage_error(cmd, "unexpected argument '%s'", a);
            if (r != APP_OK)
                return r;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_positional = 1;
            continue;
        }
        /* the name, up to an '=' ("--queue=2", "-o=x.mp4") */
        const char *eq = strchr(a, '=');
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
        const struct opt *o = NULL;
        char short_spelt[3] = { '-', 0, 0 };
        const char *spelt;
        for (int k = 0; tables[k] && !o; k++) {
            if (a[1] == '-')
                o = find(tables[k], a, n, 0);
            else if (n == 2)
                o = find(tables[k], NULL, 0, a[1]);
        }
        if (!o) {
            if (n < 2 || (a[1] == '-' && n == 2))
                n = strlen(a); /* "-=x", "--=x": no name before the '=' */
            return unknown(cmd, tables, a, n);
        }
        if (a[1] == '-') {
            spelt = o->name;
        } else {
            short_spelt[1] = a[1];
            spelt = short_spelt;
        }
        const char *value = NULL;
        if (o->arg) {
            if (eq) {
                value = eq + 1;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                return app_usage_error(cmd, "%s needs a value", spelt);
            }
        } else if (eq) {
            return app_usage_error(cmd, "%s takes no value (got '%s')", spelt, a);
        }
        if ((r = store(cmd, o, spelt, value)) != APP_OK)
            return r;
    }
    return APP_OK;
}

/* ---- --help -------------------------------------------------------------- */

#define HELP_COLUMN 22

static void help_rows(FILE *f, const struct opt *t)
{
    for (; t->kind != OPT_END; t++) {
        if (t->kind == OPT_TABLE) {
            help_rows(f, t->sub);
            continue;
        }
        if (!t->help)
            continue;
        char spec[128];
        int n;
        if (t->short_name && t->name)
            n = snprintf(spec, sizeof spec, "  -%c, %s", t->short_name, t->name);
        else if (t->short_name)
            n = snprintf(spec, sizeof spec, "  -%c", t->short_name);
        else
            n = snprintf(spec, sizeof spec, "  %s", t->name);
        if (t->arg && n >= 0 && (size_t)n < sizeof spec)
            n += snprintf(spec + n, sizeof spec - (size_t)n, " %s", t->arg);
        /* the text from its column, or two spaces after a long spec */
        fprintf(f, "%-*s", n <= HELP_COLUMN - 2 ? HELP_COLUMN : n + 2, spec);
        for (const char *h = t->help;;) {
            const char *nl = strchr(h, '\n');
            fprintf(f, "%.*s\n", nl ? (int)(nl - h) : (int)strlen(h), h);
            if (!nl)
                break;
            h = nl + 1;
            fprintf(f, "%*s", HELP_COLUMN, "");
        }
    }
}

void opt_help(FILE *f, const char *text, const struct opt *const *tables)
{
    char *rows[4] = { NULL, NULL, NULL, NULL };
    int k;
    for (k = 0; tables[k]; k++) {
        APP_ASSERT(k < 4);
        check_table(tables[k]);
        size_t len = 0;
        FILE *m = open_memstream(&rows[k], &len);
        if (!m)
            continue;
        help_rows(m, tables[k]);
        if (fclose(m) != 0) {
            free(rows[k]);
            rows[k] = NULL;
        }
    }
    fprintf(f, text, rows[0] ? rows[0] : "", rows[1] ? rows[1] : "", rows[2] ? rows[2] : "",
            rows[3] ? rows[3] : "");
    for (k = 0; k < 4; k++)
        free(rows[k]);
}

/* ---- shared value parsers and the old scanner ----------------------------- */

int app_opt_size(void *dest, const char *cmd, const char *opt, const char *s)
{
    int *wh = dest;
    char *end = NULL;
    errno = 0;
    long a = strtol(s, &end, 10), b;
    if (end == s || (*end != 'x' && *end != 'X'))
        goto bad;
    const char *t = end + 1;
    b = strtol(t, &end, 10);
    if (end == t || *end != '\0')
        goto bad;
    if (a < 1 || b < 1 || a > 16384 || b > 16384)
        return app_usage_error(cmd, "%s: %s is out of range (1..16384 each side)", opt, s);
    wh[0] = (int)a;
    wh[1] = (int)b;
    return APP_OK;
bad:
    return app_usage_error(cmd, "%s: expected WxH such as 640x480, got '%s'", opt, s);
}

