/*
 * config_file.c — `--config FILE` of view, annotate and bench (app.h, "--config
 * FILE"): a camera's many options kept in a file, spliced into the command line
 * where "--config FILE" stood, before the command parses it. It owns the
 * expanded argument vector and every string in it. It knows the file's syntax
 * and nothing of option names: those are the command's opt_parse() to judge,
 * so a file can say only what a command line can, and an unknown name is
 * reported the usual way ("unknown option '--foo'").
 *
 * The format (also docs/formats.md §7 and vdetect(1)):
 *   - UTF-8 text (a leading byte order mark is skipped), one option per line,
 *     LF or CRLF line ends; blank lines are ignored, and so is a line whose
 *     first non-blank character is '#' (only there: elsewhere '#' is text).
 *   - NAME, NAME VALUE or NAME=VALUE. NAME is a long option with or without
 *     its "--" ("queue 4", "--queue 4", "queue=4"), or a short one with its
 *     dash ("-o out.mp4", "-y"). NAME ends at the first blank or '='; the
 *     VALUE is the rest of the line after that run of blanks (or after that
 *     '='), trailing blanks removed: it may hold blanks (a file name), and
 *     there is no quoting. Blanks are spaces and tabs.
 *   - "input VALUE" (or "--input VALUE") is the SOURCE, the positional
 *     argument, at most once per file. It is taken as on the command line:
 *     a relative path is relative to the current directory, not to the
 *     file; "-" is standard input; a name starting with '-' is passed as
 *     "./-name".
 *   - "config" is refused (no nesting), and so are "--" and "-" alone.
 *   - Refused too: a NUL byte, bytes that are not UTF-8, a line over 4096
 *     bytes (without its line end), a file over 1 MiB, over 1000 options;
 *     and "--config -" (standard input may be the SOURCE).
 *
 * Each option becomes one argument, "--NAME" or "--NAME=VALUE" ("-o=VALUE"),
 * so a value is never mistaken for a positional one and a flag given a value
 * is refused by opt_parse ("--loop takes no value (got '--loop=yes')"). A
 * line "NAME" of an option that takes a value, though, takes the next
 * argument as its value, as "--NAME" does on the command line.
 *
 * On the command line, "--config FILE" and "--config=FILE" are expanded, any
 * number of times, until a "--" or a -h/--help: after those opt_parse() reads
 * arguments as they are, or not at all. An argument spelt "--config" that is
 * meant as another option's value ("--json --config") is still taken for
 * --config: expansion runs before the options are known.
 *
 * Every error is a usage error (APP_USAGE) on one line naming the file and,
 * where there is one, the line ("vdetect view: --config cam.conf:7: 'config'
 * cannot be nested"); only running out of memory is APP_FAIL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

#define CONFIG_MAX_BYTES (1 << 20)   /* 1 MiB: a file of options, not of data */
#define CONFIG_MAX_LINE 4096         /* bytes, without the line end */
#define CONFIG_MAX_OPTIONS 1000      /* per file */

/* ---- the argument vector -------------------------------------------------- */

void config_args_free(struct config_args *ca)
{
    if (!ca)
        return;
    for (int i = 0; i < ca->argc; i++)
        free(ca->argv[i]);
    free(ca->argv);
    ca->argv = NULL;
    ca->argc = ca->cap = 0;
}

/* Append s, which ca then owns (freed here on failure; NULL is a failed
 * allocation). Keeps room for the closing NULL. 0 or -1. */
static int push(struct config_args *ca, char *s)
{
    if (!s)
        return -1;
    if (ca->argc + 1 >= ca->cap) {
        if (ca->cap > (1 << 28)) {
            free(s);
            return -1;
        }
        int cap = ca->cap ? 2 * ca->cap : 16;
        char **v = realloc(ca->argv, sizeof *v * (size_t)cap);
        if (!v) {
            free(s);
            return -1;
        }
        ca->argv = v;
        ca->cap = cap;
    }
    ca->argv[ca->argc++] = s;
    ca->argv[ca->argc] = NULL;
    return 0;
}

/* prefix + text[0..n), and "=" + value[0..value_n) when value is not NULL;
 * malloc'd, NULL when out of memory. */
static char *join(const char *prefix, const char *text, size_t n, const char *value,
                  size_t value_n)
{
    size_t p = strlen(prefix), size = p + n + (value ? 1 + value_n : 0) + 1;
    char *s = malloc(size);
    if (!s)
        return NULL;
    memcpy(s, prefix, p);
    memcpy(s + p, text, n);
    if (value) {
        s[p + n] = '=';
        memcpy(s + p + n + 1, value, value_n);
    }
    s[size - 1] = '\0';
    return s;
}

/* ---- the file ------------------------------------------------------------- */

/* 1 when s[0..n) is well-formed UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned min, cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, min = 0x80, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, min = 0x800, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, min = 0x10000, cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

/* The whole file in *buf (malloc'd, *len bytes and a NUL). APP_OK, APP_USAGE
 * (message printed: it cannot be read, or is over the limit) or APP_FAIL. */
static int read_file(const char *cmd, const char *path, char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return app_usage_error(cmd, "--config %s: %s", path, strerror(errno));
    /* one byte more than allowed tells a file at the limit from a larger one */
    char *b = malloc(CONFIG_MAX_BYTES + 2);
    if (!b) {
        fclose(f);
        return app_error("out of memory");
    }
    size_t n = fread(b, 1, CONFIG_MAX_BYTES + 1, f);
    int err = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (err || n > CONFIG_MAX_BYTES) {
        free(b);
        if (err)
            return app_usage_error(cmd, "--config %s: %s", path, strerror(err));
        return app_usage_error(cmd, "--config %s: larger than 1 MiB (a file of options, one a "
                               "line)", path);
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return APP_OK;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* What the lines of one file have given so far. */
struct file_state {
    const char *cmd, *path;
    int options;      /* lines that were options */
    int input_line;   /* the line of "input", 0: none yet */
};

/* One line, line[0..n) without its line end (checked: no NUL, UTF-8, not over
 * the limit), numbered lineno: nothing for a blank line or a comment, else
 * one argument pushed. APP_OK, APP_USAGE or APP_FAIL, messages printed. */
static int parse_line(struct file_state *st, struct config_args *out, const char *line,
                      size_t n, int lineno)
{
    const char *p = line, *end = line + n;
    while (p < end && is_blank(*p))
        p++;
    if (p == end || *p == '#')
        return APP_OK;
    while (end > p && is_blank(end[-1]))
        end--;
    if (++st->options > CONFIG_MAX_OPTIONS)
        return app_usage_error(st->cmd, "--config %s:%d: more than %d options", st->path, lineno,
                               CONFIG_MAX_OPTIONS);

    /* NAME up to a blank or '='; VALUE after the blanks or the '=' */
    const char *name = p;
    while (p < end && !is_blank(*p) && *p != '=')
        p++;
    size_t name_len = (size_t)(p - name);
    const char *value = NULL;
    if (p < end) {
        if (*p == '=') {
            value = p + 1;
        } else {
            while (is_blank(*p))
                p++;   /* stops before end: trailing blanks are gone */
            value = p;
        }
    }
    size_t value_len = value ? (size_t)(end - value) : 0;

    /* "--name" and "name" are the same; "-c" is a short option */
    const char *body = name;
    size_t body_len = name_len;
    int is_short = 0;
    if (name_len >= 2 && name[0] == '-' && name[1] == '-') {
        body += 2;
        body_len -= 2;
    } else if (name_len >= 1 && name[0] == '-') {
        if (name_len == 1)
            return app_usage_error(st->cmd, "--config %s:%d: no option name ('-' alone is not "
                                   "an option)", st->path, lineno);
        if (name_len != 2)
            return app_usage_error(st->cmd, "--config %s:%d: '%.*s': a one-dash name is one "
                                   "letter (-o); long names take '--' or none", st->path,
                                   lineno, (int)name_len, name);
        is_short = 1;
    }
    if (body_len == 0)
        return app_usage_error(st->cmd, "--config %s:%d: no option name%s", st->path, lineno,
                               name_len == 2 ? " ('--' alone is not an option)" : "");
    if (!is_short && body_len == 6 && !memcmp(body, "config", 6))
        return app_usage_error(st->cmd, "--config %s:%d: 'config' cannot be nested", st->path,
                               lineno);

    char *arg;
    if (!is_short && body_len == 5 && !memcmp(body, "input", 5)) {
        if (st->input_line)
            return app_usage_error(st->cmd, "--config %s:%d: a second 'input' (the first is on "
                                   "line %d)", st->path, lineno, st->input_line);
        if (!value_len)
            return app_usage_error(st->cmd, "--config %s:%d: 'input' needs a value (the SOURCE)",
                                   st->path, lineno);
        st->input_line = lineno;
        /* "-name" would read as an option; "./-name" is the same file */
        int dashed = value[0] == '-' && value_len > 1;
        arg = join(dashed ? "./" : "", value, value_len, NULL, 0);
    } else {
        /* "--NAME" or "--NAME=VALUE", "-c" or "-c=VALUE", as one argument */
        arg = join(is_short ? "" : "--", body, body_len, value, value_len);
    }
    if (push(out, arg) < 0)
        return app_error("out of memory");
    return APP_OK;
}

/* Every option of the file at path, appended to out. */
static int expand_file(const char *cmd, const char *path, struct config_args *out)
{
    if (!strcmp(path, "-"))
        return app_usage_error(cmd, "--config -: options are read from a file, not from "
                               "standard input");
    char *buf;
    size_t len;
    int r = read_file(cmd, path, &buf, &len);
    if (r != APP_OK)
        return r;
    struct file_state st = { .cmd = cmd, .path = path };
    const char *p = buf, *end = buf + len;
    if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
        p += 3;
    for (int lineno = 1; p < end && r == APP_OK; lineno++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        size_t n = (size_t)(eol - p);
        if (n && p[n - 1] == '\r')
            n--;   /* CRLF */
        if (memchr(p, '\0', n))
            r = app_usage_error(cmd, "--config %s:%d: a NUL byte (not a text file?)", path,
                                lineno);
        else if (n > CONFIG_MAX_LINE)
            r = app_usage_error(cmd, "--config %s:%d: line longer than %d bytes", path, lineno,
                                CONFIG_MAX_LINE);
        else if (!utf8_valid((const unsigned char *)p, n))
            r = app_usage_error(cmd, "--config %s:%d: not UTF-8 text", path, lineno);
        else
            r = parse_line(&st, out, p, n, lineno);
        p = nl ? nl + 1 : end;
    }
    free(buf);
    return r;
}

/* ---- the command line ----------------------------------------------------- */

/* The file named by argv[*i] ("--config=FILE") or the argument after it
 * ("--config FILE", *i advanced); NULL when argv[*i] is not --config.
 * *missing: "--config" was the last argument. */
static const char *config_arg(int argc, char **argv, int *i, int *missing)
{
    const char *a = argv[*i];
    *missing = 0;
    if (!strncmp(a, "--config=", 9))
        return a + 9;
    if (strcmp(a, "--config"))
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

/* After "--", -h or --help opt_parse() takes the arguments as they are (or
 * stops): expansion stops there too. */
static int ends_options(const char *a)
{
    return !strcmp(a, "--") || !strcmp(a, "-h") || !strcmp(a, "--help");
}

int config_find(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (ends_options(argv[i]))
            break;
        if (!strcmp(argv[i], "--config") || !strncmp(argv[i], "--config=", 9))
            return i;
    }
    return 0;
}

int config_expand(const char *cmd, int argc, char **argv, struct config_args *out)
{
    memset(out, 0, sizeof *out);
    APP_ASSERT(argc >= 1);
    int r = APP_OK, as_is = 0;
    if (push(out, strdup(argv[0])) < 0)
        r = app_error("out of memory");
    for (int i = 1; i < argc && r == APP_OK; i++) {
        int missing = 0;
        const char *path = as_is ? NULL : config_arg(argc, argv, &i, &missing);
        if (missing) {
            r = app_usage_error(cmd, "--config needs a value");
        } else if (path && !*path) {
            r = app_usage_error(cmd, "--config: empty value (expected FILE)");
        } else if (path) {
            r = expand_file(cmd, path, out);
        } else {
            as_is = as_is || ends_options(argv[i]);
            if (push(out, strdup(argv[i])) < 0)
                r = app_error("out of memory");
        }
    }
    if (r != APP_OK)
        config_args_free(out);
    return r;
}
