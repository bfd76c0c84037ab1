/*
 * json.h — a small, strict JSON reader (RFC 8259) for model files: the
 * safetensors header and the architecture in its __metadata__. Private to
 * model/ and its tests.
 *
 * Strict means: exactly one value with optional surrounding whitespace; no
 * comments, trailing commas, single quotes, NaN/Infinity, leading zeros or
 * '+' signs; control characters must be escaped; the input and every decoded
 * string must be valid UTF-8 (surrogate escapes must pair up, "\u0000" is
 * rejected so that decoded strings are plain C strings); duplicate object
 * keys are an error. Numbers are doubles; one that overflows is an error.
 *
 * Limits (struct json_limits) bound the input size, the nesting depth and
 * the number of values, so a hostile file costs at most a bounded amount of
 * memory and stack: each value is counted before it is stored, and a
 * document holds about 24 bytes per value plus its strings (up to twice that
 * while the largest array or object is being read).
 *
 * Ownership: json_parse() returns a document that owns every value and
 * string; pointers into it stay valid until json_free(). Nothing is printed:
 * errors come back as a message in the caller's buffer, "at byte N: ...".
 */
#ifndef VDETECT_MODEL_JSON_H
#define VDETECT_MODEL_JSON_H

#include <stddef.h>
#include <stdint.h>

enum json_type { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY,
                 JSON_OBJECT };

struct json_member;

/* 24 bytes: a union, because a hostile document is mostly values (the
 * type says which member is meaningful; read no other). */
struct json_value {
    enum json_type type;
    size_t len;                       /* string bytes; array items; object members */
    union {
        double number;                /* JSON_NUMBER */
        const char *str;              /* JSON_STRING: decoded UTF-8, NUL-terminated */
        struct json_value *items;     /* JSON_ARRAY: len values (NULL when empty) */
        struct json_member *members;  /* JSON_OBJECT: len members, in file order */
    };
};

struct json_member {
    const char *key;                  /* decoded UTF-8, NUL-terminated */
    size_t keylen;
    struct json_value value;
};

struct json_limits {
    size_t max_bytes;                 /* input length */
    int max_depth;                    /* nested arrays/objects; 1 = only scalars inside the root */
    size_t max_values;                /* values in the document, containers included */
};

/* 16 MiB, depth 32, a million values. */
extern const struct json_limits json_default_limits;

struct json_doc;

/* Parse text[0..len) (need not be NUL-terminated). lim NULL: the defaults.
 * Returns 0 and *out, or a negative code with *out NULL and a message in
 * err[0..errcap) (which may be NULL). */
int json_parse(const char *text, size_t len, const struct json_limits *lim,
               struct json_doc **out, char *err, size_t errcap);
const struct json_value *json_root(const struct json_doc *d);
void json_free(struct json_doc **d);

/* The member named key of an object; NULL if v is not an object or lacks it. */
const struct json_value *json_get(const struct json_value *v, const char *key);
/* v is a number with an integral value in [lo, hi]: 1 and *out set; else 0. */
int json_as_int(const struct json_value *v, int64_t lo, int64_t hi, int64_t *out);
/* "null", "a number", ..., for messages. */
const char *json_type_name(enum json_type t);

#endif
