/*
 * test_app_json.c — app/json.c, the JSON writer of detect's and annotate's
 * JSON Lines, the COCO results and the reports:
 *   - strings: quotes, backslash and every control character escaped (as the
 *     short escapes where JSON has them, else \u00XX; DEL too), '/' and
 *     non-ASCII left alone, valid UTF-8 of 2, 3 and 4 bytes passed through,
 *     each byte of an invalid sequence (stray continuation, truncated,
 *     overlong, surrogate, beyond U+10FFFF, 0xF8..0xFF) one U+FFFD, NULL null;
 *     and, over many random byte strings, the output is always a valid JSON
 *     string that decodes back to the input with only the invalid bytes
 *     replaced;
 *   - numbers: the shortest text that reads back to the same float32/double
 *     bit for bit (checked on edge values and random bit patterns), valid
 *     JSON number syntax always (no "1.", ".5", "+1", "nan"), plain notation
 *     for modest exponents, -0 kept, NaN and ±inf written as null;
 *   - nesting: a detection line built from these pieces as the commands build
 *     it, byte for byte.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../app/app.h"
#include "check.h"

static char out[8192];

/* What a writer call printed, NUL-terminated in out. */
#define CAPTURE(...)                                                      \
    do {                                                                  \
        FILE *f_ = fmemopen(out, sizeof out, "w");                        \
        if (!f_) {                                                        \
            CHECK(0, "fmemopen failed");                                  \
            out[0] = '\0';                                                \
            break;                                                        \
        }                                                                 \
        FILE *f = f_;                                                     \
        __VA_ARGS__;                                                      \
        fclose(f_);                                                       \
    } while (0)

static void string_is(const char *in, const char *want)
{
    CAPTURE(json_put_string(f, in));
    CHECK(!strcmp(out, want), "json_put_string(%s): got %s, want %s", in ? in : "NULL", out, want);
}

static void test_string_fixed(void)
{
    string_is(NULL, "null");
    string_is("", "\"\"");
    string_is("person", "\"person\"");
    string_is("say \"hi\"", "\"say \\\"hi\\\"\"");
    string_is("C:\\dir\\", "\"C:\\\\dir\\\\\"");
    string_is("a/b", "\"a/b\"");
    string_is("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
    string_is("\x01\x1f", "\"\\u0001\\u001f\"");
    string_is("\x7f", "\"\\u007f\"");
    string_is(" ~", "\" ~\"");
    /* UTF-8 of every length passes through */
    string_is("caf\xc3\xa9", "\"caf\xc3\xa9\"");                   /* é */
    string_is("\xe2\x82\xac", "\"\xe2\x82\xac\"");                 /* € */
    string_is("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");         /* U+1F600 */
    string_is("\xc2\x80", "\"\xc2\x80\"");                         /* U+0080, the first of 2 */
    string_is("\xef\xbf\xbf", "\"\xef\xbf\xbf\"");                 /* U+FFFF */
    string_is("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");         /* U+10FFFF, the last */
    /* invalid: each byte that starts no valid sequence is one U+FFFD */
    string_is("\x80", "\"\\ufffd\"");                              /* stray continuation */
    string_is("a\xc3", "\"a\\ufffd\"");                            /* truncated at the end */
    string_is("\xc3(", "\"\\ufffd(\"");                            /* bad continuation */
    string_is("\xe2\x82", "\"\\ufffd\\ufffd\"");                   /* truncated 3-byte */
    string_is("\xc0\xaf", "\"\\ufffd\\ufffd\"");                   /* overlong '/' */
    string_is("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");        /* overlong, 3 bytes */
    string_is("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");        /* surrogate U+D800 */
    string_is("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* U+110000 */
    string_is("\xf8\x88\x80\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"");
    string_is("\xff\xfe", "\"\\ufffd\\ufffd\"");
    string_is("ok\xff" "ok", "\"ok\\ufffdok\"");
}

/* ---- a strict reader of one JSON string, to check the writer against ------ */

/* Length of a valid UTF-8 sequence at s (1..4), 0 if invalid (the RFC 3629 rules). */
static int utf8_valid(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    int n;
    if (c < 0x80) return 1;
    else if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c >= 0xe0 && c <= 0xef) n = 3;
    else if (c >= 0xf0 && c <= 0xf4) n = 4;
    else return 0;
    if ((size_t)n > avail) return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (c == 0xe0 && s[1] < 0xa0) return 0;  /* overlong */
    if (c == 0xed && s[1] > 0x9f) return 0;  /* surrogates */
    if (c == 0xf0 && s[1] < 0x90) return 0;  /* overlong */
    if (c == 0xf4 && s[1] > 0x8f) return 0;  /* > U+10FFFF */
    return n;
}

static void put_utf8(unsigned cp, unsigned char *o, size_t *k)
{
    if (cp < 0x80) {
        o[(*k)++] = (unsigned char)cp;
    } else if (cp < 0x800) {
        o[(*k)++] = (unsigned char)(0xc0 | cp >> 6);
        o[(*k)++] = (unsigned char)(0x80 | (cp & 0x3f));
    } else {
        o[(*k)++] = (unsigned char)(0xe0 | cp >> 12);
        o[(*k)++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        o[(*k)++] = (unsigned char)(0x80 | (cp & 0x3f));
    }
}

/* Decode the JSON string text into dec (NUL-terminated); -1 if text is not
 * exactly one valid JSON string in valid UTF-8. */
static int decode(const char *text, unsigned char *dec, size_t cap)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t len = strlen(text), i = 1, k = 0;
    if (len < 2 || s[0] != '"' || s[len - 1] != '"')
        return -1;
    while (i < len - 1) {
        if (k + 8 > cap) return -1;
        unsigned c = s[i];
        if (c < 0x20 || c == '"') return -1;
        if (c == '\\') {
            char e = (char)s[i + 1];
            const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
            const char *p = e ? strchr(from, e) : NULL;
            if (p) {
                dec[k++] = (unsigned char)to[p - from];
                i += 2;
            } else if (e == 'u') {
                unsigned cp = 0;
                for (int d = 2; d < 6; d++) {
                    unsigned char h = s[i + d];
                    if (!h || !strchr("0123456789abcdefABCDEF", h)) return -1;
                    cp = cp * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
                }
                if (cp >= 0xd800 && cp <= 0xdfff) return -1; /* the writer never splits pairs */
                put_utf8(cp, dec, &k);
                i += 6;
            } else {
                return -1;
            }
            continue;
        }
        int n = utf8_valid(s + i, len - 1 - i);
        if (!n) return -1;
        memcpy(dec + k, s + i, (size_t)n);
        k += (size_t)n;
        i += (size_t)n;
    }
    dec[k] = '\0';
    return 0;
}

static uint32_t rng = 12345;
static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void test_string_random(void)
{
    int bad_json = 0, bad_round = 0;
    for (int t = 0; t < 20000; t++) {
        unsigned char in[40], want[40 * 3 + 1];
        int n = (int)(next() % 32);
        for (int i = 0; i < n; i++) {
            uint32_t r = next();
            /* plenty of ASCII, control bytes, UTF-8 lead and continuation bytes */
            in[i] = (unsigned char)(r % 4 == 0 ? 0x20 + (r >> 8) % 0x60
                                    : r % 4 == 1 ? 1 + (r >> 8) % 0x20
                                    : 0x80 + (r >> 8) % 0x80);
        }
        in[n] = '\0';
        /* the expected decoding: valid sequences kept, every other byte U+FFFD */
        size_t k = 0;
        for (int i = 0; i < n;) {
            int m = utf8_valid(in + i, (size_t)(n - i));
            if (m) {
                memcpy(want + k, in + i, (size_t)m);
                k += (size_t)m;
                i += m;
            } else {
                put_utf8(0xfffd, want, &k);
                i++;
            }
        }
        want[k] = '\0';
        CAPTURE(json_put_string(f, (const char *)in));
        unsigned char dec[sizeof out];
        if (decode(out, dec, sizeof dec) < 0)
            bad_json++;
        else if (strcmp((const char *)dec, (const char *)want))
            bad_round++;
    }
    CHECK(bad_json == 0, "%d random strings written as invalid JSON", bad_json);
    CHECK(bad_round == 0, "%d random strings did not decode to their valid UTF-8", bad_round);
}

/* ---- numbers ------------------------------------------------------------ */

/* JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int json_number_syntax(const char *s)
{
    if (*s == '-') s++;
    if (*s == '0') s++;
    else if (*s >= '1' && *s <= '9') while (*s >= '0' && *s <= '9') s++;
    else return 0;
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9')) return 0;
        while (*s >= '0' && *s <= '9') s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') s++;
        if (!(*s >= '0' && *s <= '9')) return 0;
        while (*s >= '0' && *s <= '9') s++;
    }
    return *s == '\0';
}

static void float_is(float v, const char *want)
{
    CAPTURE(json_put_float(f, v));
    CHECK(!strcmp(out, want), "json_put_float(%.9g): got %s, want %s", v, out, want);
}

static void double_is(double v, const char *want)
{
    CAPTURE(json_put_double(f, v));
    CHECK(!strcmp(out, want), "json_put_double(%.17g): got %s, want %s", v, out, want);
}

/* v written, valid syntax, read back bit for bit. */
static int float_round_trips(float v)
{
    CAPTURE(json_put_float(f, v));
    float back = strtof(out, NULL);
    return json_number_syntax(out) && memcmp(&back, &v, sizeof v) == 0;
}

static int double_round_trips(double v)
{
    CAPTURE(json_put_double(f, v));
    double back = strtod(out, NULL);
    return json_number_syntax(out) && memcmp(&back, &v, sizeof v) == 0;
}

static void test_numbers_fixed(void)
{
    float_is(0.0f, "0");
    float_is(-0.0f, "-0");
    float_is(1.0f, "1");
    float_is(-2.5f, "-2.5");
    float_is(0.1f, "0.1");
    float_is(240.0f, "240");
    float_is(12.5f, "12.5");
    float_is(0.98f, "0.98");
    float_is(1e-4f, "0.0001");
    float_is(3e-7f, "3e-07");
    float_is(123456789.0f, "123456792");
    float_is(1e20f, "1e+20");
    float_is(NAN, "null");
    float_is(INFINITY, "null");
    float_is(-INFINITY, "null");
    double_is(0.0, "0");
    double_is(0.1, "0.1");
    double_is(1.0 / 3, "0.3333333333333333");
    double_is(1e16, "10000000000000000");
    double_is(1e17, "1e+17");
    double_is(2.5e-5, "2.5e-05");
    double_is(-NAN, "null");
    double_is(-INFINITY, "null");

    const float fe[] = { FLT_MAX, -FLT_MAX, FLT_MIN, FLT_TRUE_MIN, FLT_EPSILON, 1 + FLT_EPSILON,
                         0.3f, 16777217.0f, 1e-38f, 3.4028234e38f };
    for (size_t i = 0; i < sizeof fe / sizeof fe[0]; i++)
        CHECK(float_round_trips(fe[i]), "float %.9g: %s", fe[i], out);
    const double de[] = { DBL_MAX, -DBL_MAX, DBL_MIN, DBL_TRUE_MIN, DBL_EPSILON, 0.1 + 0.2,
                          9007199254740993.0, 5e-324, 1.7976931348623157e308 };
    for (size_t i = 0; i < sizeof de / sizeof de[0]; i++)
        CHECK(double_round_trips(de[i]), "double %.17g: %s", de[i], out);
}

static void test_numbers_random(void)
{
    int bad_f = 0, bad_d = 0, not_null = 0;
    for (int t = 0; t < 100000; t++) {
        uint32_t bits = next();
        float v;
        memcpy(&v, &bits, sizeof v);
        if (!isfinite(v)) {
            CAPTURE(json_put_float(f, v));
            not_null += strcmp(out, "null") != 0;
            continue;
        }
        if (!float_round_trips(v) && bad_f++ < 3)
            fprintf(stderr, "float bits %08x: %s\n", bits, out);
    }
    for (int t = 0; t < 50000; t++) {
        uint64_t bits = (uint64_t)next() << 32 | next();
        double v;
        memcpy(&v, &bits, sizeof v);
        if (!isfinite(v))
            continue;
        if (!double_round_trips(v) && bad_d++ < 3)
            fprintf(stderr, "double bits %016llx: %s\n", (unsigned long long)bits, out);
    }
    /* box coordinates as the model gives them: the shortest form is short */
    int too_long = 0;
    for (int t = 0; t < 10000; t++) {
        float v = (float)(next() % 409600) / 64.0f;  /* multiples of 1/64 up to 6400 */
        CAPTURE(json_put_float(f, v));
        too_long += strlen(out) > 11;
    }
    CHECK(bad_f == 0, "%d random floats did not round-trip", bad_f);
    CHECK(bad_d == 0, "%d random doubles did not round-trip", bad_d);
    CHECK(not_null == 0, "%d NaN/inf bit patterns not written as null", not_null);
    CHECK(too_long == 0, "%d multiples of 1/64 written longer than needed", too_long);
}

/* A detection line as detect writes it (docs/formats.md §1), built from the
 * pieces: objects in an array in an object. */
static void test_nesting(void)
{
    CAPTURE({
        fputs("{\"image\": ", f);
        json_put_string(f, "dir/\"a\".png");
        fputs(", \"detections\": [", f);
        for (int i = 0; i < 2; i++) {
            fputs(i ? ", {\"box\": [" : "{\"box\": [", f);
            const float box[4] = { 1.5f, 2.0f, 300.25f, 0.1f * (float)(i + 1) };
            for (int k = 0; k < 4; k++) {
                if (k)
                    fputs(", ", f);
                json_put_float(f, box[k]);
            }
            fputs("], \"name\": ", f);
            json_put_string(f, i ? NULL : "caf\xc3\xa9\t");
            fputs(", \"score\": ", f);
            json_put_float(f, i ? NAN : 0.98f);
            fputc('}', f);
        }
        fputs("], \"pts\": ", f);
        json_put_double(f, 1.0 / 30);
        fputs("}", f);
    });
    const char *want = "{\"image\": \"dir/\\\"a\\\".png\", \"detections\": ["
                       "{\"box\": [1.5, 2, 300.25, 0.1], \"name\": \"caf\xc3\xa9\\t\", "
                       "\"score\": 0.98}, "
                       "{\"box\": [1.5, 2, 300.25, 0.2], \"name\": null, \"score\": null}], "
                       "\"pts\": 0.03333333333333333}";
    CHECK(!strcmp(out, want), "nested document\n  got:  %s\n  want: %s", out, want);
}

int main(void)
{
    test_string_fixed();
    test_string_random();
    test_numbers_fixed();
    test_numbers_random();
    test_nesting();
    return check_summary("test_app_json");
}
