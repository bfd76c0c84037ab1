/*
 * sjson.h — strict, bounded JSON reading for model files (the safetensors
 * header and the architecture in its __metadata__), on top of jansson.
 * Private to model/ and its tests.
 *
 * sjson_load() is json_loadb() (length-bounded input, need not be
 * NUL-terminated) with JSON_REJECT_DUPLICATES and JSON_DECODE_ANY, and without
 * JSON_ALLOW_NUL: strict RFC 8259 (one value of any type, no comments,
 * trailing commas, NaN or leading zeros, valid UTF-8 only, "\u0000" refused so
 * that strings are plain C strings, a duplicate key is an error).
 *
 * Limits (struct sjson_limits) are checked by a scan of the bytes before
 * jansson allocates anything: the input size, the nesting depth (jansson's own
 * is 2048 levels of recursion; ours stays at most SJSON_MAX_DEPTH, so the
 * stack a hostile file costs is small on any thread) and the number of values
 * (jansson has no such limit; a value costs it 20 to 220 bytes, an empty
 * object the most), so a hostile file is refused before it costs memory.
 *
 * Numbers: jansson keeps integers (64-bit; a larger one is a parse error) and
 * reals apart; sjson_int() accepts both when the value is integral, as the
 * model files' readers always did (1e3 is the integer 1000).
 *
 * Nothing is printed: errors come back in the caller's buffer as
 * "at line L, column C: problem".
 */
#ifndef VDETECT_MODEL_SJSON_H
#define VDETECT_MODEL_SJSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define SJSON_MAX_DEPTH 64

struct sjson_limits {
    size_t max_bytes;                 /* input length */
    int max_depth;                    /* nested arrays/objects (1..SJSON_MAX_DEPTH);
                                         1 = only scalars inside the root */
    size_t max_values;                /* values in the document, containers included */
};

/* 16 MiB, depth 32, a million values. */
extern const struct sjson_limits sjson_default_limits;

/* Parse text[0..len). lim NULL: the defaults. Returns a new reference (free
 * with json_decref), or NULL with a message in err[0..errcap) (err may be NULL). */
json_t *sjson_load(const char *text, size_t len, const struct sjson_limits *lim, char *err,
                   size_t errcap);

/* v is a number with an integral value in [lo, hi] (an integer, or a real
 * within +-2^53): 1 and *out set; else 0 (also for v NULL). */
int sjson_int(const json_t *v, int64_t lo, int64_t hi, int64_t *out);

/* "null", "a boolean", "a number", "a string", "an array", "an object", for
 * messages ("nothing" for NULL). */
const char *sjson_type_name(const json_t *v);

#endif
