/*
 * sjson.c — sjson.h: the limits checked on the bytes, then jansson.
 *
 * The scan follows strings (so that brackets and commas inside them do not
 * count) and counts values the way a parser would for a valid document: the
 * root, then in each array or object one value for its first item and one per
 * comma. For an invalid document the count may be off, but jansson refuses
 * that document anyway; for a valid one it is exact, so every document jansson
 * would build is within the limits before it is built.
 */
#include "sjson.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

const struct sjson_limits sjson_default_limits = {
    .max_bytes = (size_t)16 << 20,
    .max_depth = 32,
    .max_values = 1000000,
};

static void msg(char *err, size_t errcap, size_t line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void msg(char *err, size_t errcap, size_t line, size_t col, const char *fmt, ...)
{
    if (!err || !errcap)
        return;
    int n = snprintf(err, errcap, "at line %zu, column %zu: ", line, col);
    if (n >= 0 && (size_t)n < errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errcap - (size_t)n, fmt, ap);
        va_end(ap);
    }
}

/* 0 when text[0..len) is within lim's depth and value count, else -1 and err. */
static int scan_limits(const unsigned char *p, size_t len, const struct sjson_limits *lim,
                       char *err, size_t errcap)
{
    unsigned char empty[SJSON_MAX_DEPTH + 1];   /* empty[d]: the container at depth d has no
                                                   item yet */
    int depth = 0, in_string = 0, root = 0;
    size_t values = 0, line = 1, col = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned c = p[i];
        if (c == '\n') {
            line++;
            col = 0;
        } else if ((c & 0xc0) != 0x80) {
            col++;                              /* columns count characters, as jansson's */
        }
        if (in_string) {
            if (c == '\\')
                i++;                            /* the escaped byte (ASCII when valid) */
            else if (c == '"')
                in_string = 0;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        if (c == ']' || c == '}') {
            depth -= depth > 0;
            continue;
        }
        if (c == ',') {
            values += depth > 0;
        } else if (depth ? empty[depth] : !root) {
            values++;                           /* the first byte of a value */
            if (depth)
                empty[depth] = 0;
            root = 1;
        }
        if (values > lim->max_values) {
            msg(err, errcap, line, col, "more than %zu values", lim->max_values);
            return -1;
        }
        if (c == '[' || c == '{') {
            if (depth >= lim->max_depth) {
                msg(err, errcap, line, col, "nested deeper than %d levels", lim->max_depth);
                return -1;
            }
            empty[++depth] = 1;
        } else if (c == '"') {
            in_string = 1;
        }
    }
    return 0;
}

json_t *sjson_load(const char *text, size_t len, const struct sjson_limits *lim, char *err,
                   size_t errcap)
{
    if (err && errcap)
        err[0] = 0;
    struct sjson_limits l = lim ? *lim : sjson_default_limits;
    if (l.max_depth < 1 || l.max_depth > SJSON_MAX_DEPTH) {
        msg(err, errcap, 1, 0, "internal: a depth limit of %d (1 to %d)", l.max_depth,
            SJSON_MAX_DEPTH);
        return NULL;
    }
    if (len > l.max_bytes) {
        msg(err, errcap, 1, 0, "input of %zu bytes is larger than the limit of %zu", len,
            l.max_bytes);
        return NULL;
    }
    if (!text)
        text = "";
    if (scan_limits((const unsigned char *)text, len, &l, err, errcap))
        return NULL;
    json_error_t je;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!v) {
        enum json_error_code code = json_error_code(&je);
        size_t line = je.line > 0 ? (size_t)je.line : 1;
        size_t col = je.column > 0 ? (size_t)je.column : 0;
        if (code == json_error_null_character)   /* jansson's names the flag that would allow it */
            msg(err, errcap, line, col, "\\u0000 in a string is not allowed");
        else
            msg(err, errcap, line, col, "%s%s",
                code == json_error_invalid_utf8 ? "invalid UTF-8: " : "", je.text);
    }
    return v;
}

int sjson_int(const json_t *v, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t i;
    if (json_is_integer(v)) {
        i = (int64_t)json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || d < -9007199254740992.0 || d > 9007199254740992.0)
            return 0;
        i = (int64_t)d;
    } else {
        return 0;
    }
    if (i < lo || i > hi)
        return 0;
    *out = i;
    return 1;
}

const char *sjson_type_name(const json_t *v)
{
    if (!v)
        return "nothing";
    switch (json_typeof(v)) {
    case JSON_NULL: return "null";
    case JSON_FALSE:
    case JSON_TRUE: return "a boolean";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_STRING: return "a string";
    case JSON_ARRAY: return "an array";
    case JSON_OBJECT: return "an object";
    }
    return "?";
}
