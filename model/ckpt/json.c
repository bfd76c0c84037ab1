/*
 * json.c — the strict JSON reader of json.h: a recursive-descent parser with
 * a depth limit, values and strings in one bump-allocated document.
 *
 * Containers are first collected in a growable scratch vector per nesting
 * level (malloc'd, freed on the way out) and then copied into the document,
 * so the document holds exactly-sized arrays. Every read is checked against
 * the end of the input.
 */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct json_limits json_default_limits = {
    .max_bytes = (size_t)16 << 20,
    .max_depth = 32,
    .max_values = 1000000,
};

#define MAX_NUMBER_CHARS 512

struct block {
    struct block *next;
    size_t cap, used;
    max_align_t data[];
};

struct json_doc {
    struct block *blocks;
    struct json_value root;
};

struct parser {
    const unsigned char *p, *end, *begin;
    struct json_limits lim;
    struct json_doc *doc;
    size_t values;
    char *err;
    size_t errcap;
    int failed;
};

static int fail(struct parser *ps, const unsigned char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct parser *ps, const unsigned char *at, const char *fmt, ...)
{
    if (!ps->failed && ps->err && ps->errcap) {
        int n = snprintf(ps->err, ps->errcap, "at byte %zu: ", (size_t)(at - ps->begin));
        if (n >= 0 && (size_t)n < ps->errcap) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(ps->err + n, ps->errcap - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    ps->failed = 1;
    return -EINVAL;
}

static void *doc_alloc(struct json_doc *d, size_t bytes)
{
    bytes = (bytes + 15) & ~(size_t)15;
    if (bytes == 0)
        bytes = 16;
    struct block *b = d->blocks;
    if (!b || b->cap - b->used < bytes) {
        size_t cap = bytes > 65536 ? bytes : 65536;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = d->blocks;
        b->cap = cap;
        b->used = 0;
        d->blocks = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += bytes;
    return p;
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static const char *describe_char(const unsigned char *p, const unsigned char *end, char *buf,
                                 size_t cap)
{
    if (p >= end)
        return "end of input";
    if (*p >= 0x21 && *p < 0x7f)
        snprintf(buf, cap, "character '%c'", *p);
    else
        snprintf(buf, cap, "byte 0x%02x", *p);
    return buf;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0. */
static int utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    int n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07; }
    else return 0;
    if (end - p < n)
        return 0;
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static int hex4(const unsigned char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return -1;
    }
    *out = v;
    return 0;
}

static char *put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xc0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xe0 | cp >> 12);
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (char)(0xf0 | cp >> 18);
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    return o;
}

/* A string at ps->p (the opening quote); decoded into the document. */
static int parse_string(struct parser *ps, const char **out, size_t *outlen)
{
    const unsigned char *start = ps->p++;
    /* first pass: find the closing quote, validating as we go */
    const unsigned char *q = ps->p;
    while (1) {
        if (q >= ps->end)
            return fail(ps, start, "unterminated string");
        unsigned c = *q;
        if (c == '"')
            break;
        if (c < 0x20)
            return fail(ps, q, "control character 0x%02x in a string (must be escaped)", c);
        if (c == '\\') {
            if (q + 1 >= ps->end)
                return fail(ps, start, "unterminated string");
            q += 2;
            continue;
        }
        int n = utf8_seq(q, ps->end);
        if (!n)
            return fail(ps, q, "invalid UTF-8 in a string");
        q += n;
    }
    size_t raw = (size_t)(q - ps->p);
    char *buf = doc_alloc(ps->doc, raw + 1), *o = buf;
    if (!buf)
        return fail(ps, start, "out of memory");
    const unsigned char *p = ps->p;
    while (p < q) {
        if (*p != '\\') {
            *o++ = (char)*p++;
            continue;
        }
        const unsigned char *esc = p;
        p++;
        switch (*p++) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (q - p < 4 || hex4(p, &cp))
                return fail(ps, esc, "bad \\u escape (four hex digits expected)");
            p += 4;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return fail(ps, esc, "unpaired low surrogate \\u%04X", (unsigned)cp);
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (q - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) ||
                    lo < 0xdc00 || lo > 0xdfff)
                    return fail(ps, esc, "unpaired high surrogate \\u%04X", (unsigned)cp);
                p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp == 0)
                return fail(ps, esc, "\\u0000 in a string is not allowed");
            o = put_utf8(o, cp);
            break;
        }
        default:
            return fail(ps, esc, "bad escape '\\%c'", p[-1] >= 0x20 && p[-1] < 0x7f ? p[-1] : '?');
        }
    }
    *o = 0;
    *out = buf;
    *outlen = (size_t)(o - buf);
    ps->p = q + 1;
    return 0;
}

static int parse_number(struct parser *ps, double *out)
{
    const unsigned char *s = ps->p, *p = s;
    if (p < ps->end && *p == '-')
        p++;
    if (p >= ps->end || *p < '0' || *p > '9')
        return fail(ps, s, "bad number");
    if (*p == '0') {
        p++;
        if (p < ps->end && *p >= '0' && *p <= '9')
            return fail(ps, s, "number with a leading zero");
    } else {
        while (p < ps->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < ps->end && *p == '.') {
        p++;
        if (p >= ps->end || *p < '0' || *p > '9')
            return fail(ps, s, "bad number: digits must follow '.'");
        while (p < ps->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < ps->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < ps->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= ps->end || *p < '0' || *p > '9')
            return fail(ps, s, "bad number: digits must follow the exponent");
        while (p < ps->end && *p >= '0' && *p <= '9')
            p++;
    }
    size_t n = (size_t)(p - s);
    if (n > MAX_NUMBER_CHARS)
        return fail(ps, s, "number longer than %d characters", MAX_NUMBER_CHARS);
    char buf[MAX_NUMBER_CHARS + 1];
    memcpy(buf, s, n);
    buf[n] = 0;
    errno = 0;
    double v = strtod(buf, NULL);   /* the grammar above is a subset of strtod's, in the C locale */
    if (isinf(v))
        return fail(ps, s, "number %s is out of range", buf);
    *out = v;
    ps->p = p;
    return 0;
}

static int literal(struct parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n))
        return -1;
    ps->p += n;
    return 0;
}

struct scratch {
    void *v;
    size_t n, cap, size;
};

static int scratch_push(struct scratch *s, const void *item)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        void *v = realloc(s->v, cap * s->size);
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    memcpy((char *)s->v + s->n * s->size, item, s->size);
    s->n++;
    return 0;
}

static int cmp_member_key(const void *a, const void *b)
{
    const struct json_member *x = *(const struct json_member *const *)a;
    const struct json_member *y = *(const struct json_member *const *)b;
    size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

static int parse_value(struct parser *ps, struct json_value *v, int depth);

/* After an array or object is complete: copy its scratch into the document. */
static int finish_container(struct parser *ps, const unsigned char *at, struct scratch *s,
                            void **dst)
{
    *dst = NULL;
    if (!s->n)
        return 0;
    if (s->n > SIZE_MAX / s->size || !(*dst = doc_alloc(ps->doc, s->n * s->size)))
        return fail(ps, at, "out of memory");
    memcpy(*dst, s->v, s->n * s->size);
    return 0;
}

static int parse_array(struct parser *ps, struct json_value *v, int depth)
{
    const unsigned char *start = ps->p++;
    struct scratch s = { .size = sizeof(struct json_value) };
    int err = 0;
    v->type = JSON_ARRAY;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        goto done;
    }
    while (1) {
        struct json_value item;
        if ((err = parse_value(ps, &item, depth + 1)))
            goto done;
        if (scratch_push(&s, &item)) {
            err = fail(ps, ps->p, "out of memory");
            goto done;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ']') {
                err = fail(ps, ps->p, "trailing comma in an array");
                goto done;
            }
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            break;
        }
        char b[32];
        err = fail(ps, ps->p, "expected ',' or ']' in the array begun at byte %zu, found %s",
                   (size_t)(start - ps->begin), describe_char(ps->p, ps->end, b, sizeof b));
        goto done;
    }
done:
    if (!err) {
        void *items;
        err = finish_container(ps, start, &s, &items);
        v->items = items;
        v->len = s.n;
    }
    free(s.v);
    return err;
}

static int parse_object(struct parser *ps, struct json_value *v, int depth)
{
    const unsigned char *start = ps->p++;
    struct scratch s = { .size = sizeof(struct json_member) };
    struct json_member **sorted = NULL;
    int err = 0;
    v->type = JSON_OBJECT;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        goto done;
    }
    while (1) {
        struct json_member m;
        char b[32];
        if (ps->p >= ps->end || *ps->p != '"') {
            err = fail(ps, ps->p, "expected a string key in the object begun at byte %zu, found %s",
                       (size_t)(start - ps->begin), describe_char(ps->p, ps->end, b, sizeof b));
            goto done;
        }
        if ((err = parse_string(ps, &m.key, &m.keylen)))
            goto done;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') {
            err = fail(ps, ps->p, "expected ':' after the key \"%.60s\", found %s", m.key,
                       describe_char(ps->p, ps->end, b, sizeof b));
            goto done;
        }
        ps->p++;
        if ((err = parse_value(ps, &m.value, depth + 1)))
            goto done;
        if (scratch_push(&s, &m)) {
            err = fail(ps, ps->p, "out of memory");
            goto done;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == '}') {
                err = fail(ps, ps->p, "trailing comma in an object");
                goto done;
            }
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            break;
        }
        err = fail(ps, ps->p, "expected ',' or '}' in the object begun at byte %zu, found %s",
                   (size_t)(start - ps->begin), describe_char(ps->p, ps->end, b, sizeof b));
        goto done;
    }
    /* duplicate keys: sort pointers, compare neighbours */
    if (s.n > 1) {
        sorted = malloc(s.n * sizeof *sorted);
        if (!sorted) {
            err = fail(ps, start, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < s.n; i++)
            sorted[i] = (struct json_member *)s.v + i;
        qsort(sorted, s.n, sizeof *sorted, cmp_member_key);
        for (size_t i = 0; i + 1 < s.n; i++) {
            if (!cmp_member_key(&sorted[i], &sorted[i + 1])) {
                err = fail(ps, start, "duplicate key \"%.60s\" in an object", sorted[i]->key);
                goto done;
            }
        }
    }
done:
    if (!err) {
        void *members;
        err = finish_container(ps, start, &s, &members);
        v->members = members;
        v->len = s.n;
    }
    free(sorted);
    free(s.v);
    return err;
}

static int parse_value(struct parser *ps, struct json_value *v, int depth)
{
    memset(v, 0, sizeof *v);
    skip_ws(ps);
    if (++ps->values > ps->lim.max_values)
        return fail(ps, ps->p, "more than %zu values", ps->lim.max_values);
    if (ps->p >= ps->end)
        return fail(ps, ps->p, "unexpected end of input (a value was expected)");
    switch (*ps->p) {
    case '{':
    case '[':
        if (depth >= ps->lim.max_depth)
            return fail(ps, ps->p, "nested deeper than %d levels", ps->lim.max_depth);
        return *ps->p == '{' ? parse_object(ps, v, depth) : parse_array(ps, v, depth);
    case '"':
        v->type = JSON_STRING;
        return parse_string(ps, &v->str, &v->len);
    case 't':
        v->type = JSON_TRUE;
        break;
    case 'f':
        v->type = JSON_FALSE;
        break;
    case 'n':
        v->type = JSON_NULL;
        break;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
            v->type = JSON_NUMBER;
            return parse_number(ps, &v->number);
        }
        {
            char b[32];
            return fail(ps, ps->p, "unexpected %s (a value was expected)",
                        describe_char(ps->p, ps->end, b, sizeof b));
        }
    }
    static const char *const words[] = { [JSON_NULL] = "null", [JSON_FALSE] = "false",
                                         [JSON_TRUE] = "true" };
    if (literal(ps, words[v->type]))
        return fail(ps, ps->p, "bad literal (expected %s)", words[v->type]);
    return 0;
}

int json_parse(const char *text, size_t len, const struct json_limits *lim,
               struct json_doc **out, char *err, size_t errcap)
{
    *out = NULL;
    if (err && errcap)
        err[0] = 0;
    struct parser ps = {
        .p = (const unsigned char *)text, .end = (const unsigned char *)text + len,
        .begin = (const unsigned char *)text, .lim = lim ? *lim : json_default_limits,
        .err = err, .errcap = errcap,
    };
    if (!text && len)
        return fail(&ps, ps.p, "no input");
    if (len > ps.lim.max_bytes)
        return fail(&ps, ps.p, "input of %zu bytes is larger than the limit of %zu", len,
                    ps.lim.max_bytes);
    struct json_doc *d = calloc(1, sizeof *d);
    if (!d)
        return fail(&ps, ps.p, "out of memory");
    ps.doc = d;
    int r = parse_value(&ps, &d->root, 0);
    if (!r) {
        skip_ws(&ps);
        if (ps.p != ps.end) {
            char b[32];
            r = fail(&ps, ps.p, "unexpected %s after the value",
                     describe_char(ps.p, ps.end, b, sizeof b));
        }
    }
    if (r) {
        json_free(&d);
        return r;
    }
    *out = d;
    return 0;
}

const struct json_value *json_root(const struct json_doc *d) { return &d->root; }

void json_free(struct json_doc **pd)
{
    if (!pd || !*pd)
        return;
    struct block *b = (*pd)->blocks;
    while (b) {
        struct block *next = b->next;
        free(b);
        b = next;
    }
    free(*pd);
    *pd = NULL;
}

const struct json_value *json_get(const struct json_value *v, const char *key)
{
    if (!v || v->type != JSON_OBJECT)
        return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < v->len; i++)
        if (v->members[i].keylen == n && !memcmp(v->members[i].key, key, n))
            return &v->members[i].value;
    return NULL;
}

int json_as_int(const struct json_value *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (!v || v->type != JSON_NUMBER || v->number != floor(v->number) ||
        v->number < -9007199254740992.0 || v->number > 9007199254740992.0)
        return 0;
    int64_t i = (int64_t)v->number;
    if (i < lo || i > hi)
        return 0;
    *out = i;
    return 1;
}

const char *json_type_name(enum json_type t)
{
    switch (t) {
    case JSON_NULL: return "null";
    case JSON_FALSE:
    case JSON_TRUE: return "a boolean";
    case JSON_NUMBER: return "a number";
    case JSON_STRING: return "a string";
    case JSON_ARRAY: return "an array";
    case JSON_OBJECT: return "an object";
    }
    return "?";
}
