/*
 * test_json.c — what the model files' readers rely on from jansson and from
 * model/ckpt/sjson.c around it: values, member order and numbers (integers
 * and reals apart, sjson_int taking integral reals), strict RFC 8259 (every
 * class of malformed input fails with a message naming the line and column),
 * bad UTF-8 and "\u0000" refused, duplicate keys refused, the depth, size and
 * value-count limits checked before jansson builds anything (brackets and
 * commas inside strings not counted), and input that is not NUL-terminated.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../model/ckpt/sjson.h"
#include "check.h"

static json_t *parse_ok(const char *text)
{
    char err[200];
    json_t *v = sjson_load(text, strlen(text), NULL, err, sizeof err);
    CHECK(v != NULL, "'%s' should parse: %s", text, err);
    return v;
}

static void parse_bad(const char *text, size_t len, const char *expect)
{
    char err[200] = "";
    json_t *v = sjson_load(text, len, NULL, err, sizeof err);
    CHECK(v == NULL, "'%.*s' should fail", (int)len, text);
    CHECK(!strncmp(err, "at line ", 8) && strstr(err, ", column "),
          "message '%s' should start with the line and column", err);
    if (expect)
        CHECK(strstr(err, expect) != NULL, "'%.*s': message '%s' should mention '%s'", (int)len,
              text, err, expect);
    json_decref(v);
}

#define BAD(s, e) parse_bad(s, strlen(s), e)

static void test_values(void)
{
    json_t *r = parse_ok(" {\"a\": [1, -2.5e3, 0, -0.0, 1E+2, 0.125], \"b\": true,"
                         " \"c\": false, \"d\": null, \"e\": {}, \"f\": [], \"g\": \"x\"} ");
    if (!r)
        return;
    CHECK(json_is_object(r) && json_object_size(r) == 7, "root object of 7");
    const json_t *a = json_object_get(r, "a");
    CHECK(json_is_array(a) && json_array_size(a) == 6, "array of 6");
    if (json_array_size(a) == 6) {
        CHECK(json_is_integer(json_array_get(a, 0)) && json_is_real(json_array_get(a, 1)) &&
              json_is_real(json_array_get(a, 4)), "integers and reals apart");
        CHECK(json_number_value(json_array_get(a, 0)) == 1 &&
              json_number_value(json_array_get(a, 1)) == -2500 &&
              json_number_value(json_array_get(a, 2)) == 0 &&
              json_number_value(json_array_get(a, 4)) == 100 &&
              json_number_value(json_array_get(a, 5)) == 0.125, "numbers");
        CHECK(signbit(json_number_value(json_array_get(a, 3))), "-0.0 keeps its sign");
    }
    CHECK(json_is_true(json_object_get(r, "b")) && json_is_false(json_object_get(r, "c")) &&
          json_is_null(json_object_get(r, "d")), "literals");
    CHECK(json_object_size(json_object_get(r, "e")) == 0 &&
          json_is_object(json_object_get(r, "e")), "empty object");
    CHECK(json_array_size(json_object_get(r, "f")) == 0 &&
          json_is_array(json_object_get(r, "f")), "empty array");
    CHECK(!strcmp(json_string_value(json_object_get(r, "g")), "x"), "string");
    CHECK(!json_object_get(r, "zz") && !json_object_get(a, "a"), "absent key, not an object");
    /* the readers name the first unknown field in the file's order */
    const char *order = "abcdefg", *key;
    json_t *v;
    int k = 0, in_order = 1;
    json_object_foreach(r, key, v)
        in_order &= key[0] == order[k++] && !key[1];
    CHECK(in_order && k == 7, "members iterate in the file's order");

    int64_t i;
    CHECK(sjson_int(json_array_get(a, 1), -3000, 0, &i) && i == -2500,
          "an integral real is an int");
    CHECK(sjson_int(json_array_get(a, 4), 0, 100, &i) && i == 100, "1E+2 is the integer 100");
    CHECK(!sjson_int(json_array_get(a, 5), 0, 10, &i), "0.125 is not an integer");
    CHECK(!sjson_int(json_array_get(a, 0), 2, 10, &i), "range");
    CHECK(!sjson_int(json_object_get(r, "g"), 0, 10, &i), "a string is not an integer");
    CHECK(!sjson_int(NULL, 0, 10, &i), "nothing is not an integer");
    CHECK(!strcmp(sjson_type_name(json_object_get(r, "e")), "an object") &&
          !strcmp(sjson_type_name(json_array_get(a, 0)), "a number") &&
          !strcmp(sjson_type_name(json_array_get(a, 1)), "a number") &&
          !strcmp(sjson_type_name(NULL), "nothing"), "type names");
    json_decref(r);

    /* scalars at top level (RFC 8259; JSON_DECODE_ANY) */
    const char *scalars[] = { "1", "\"s\"", "true", "null", " \t\r\n0\n" };
    for (k = 0; k < 5; k++)
        json_decref(parse_ok(scalars[k]));
    /* not NUL-terminated: only len bytes are read */
    char buf[8] = { '[', '1', ']', 'x', 'y', 'z', '{', '[' };
    r = sjson_load(buf, 3, NULL, NULL, 0);
    CHECK(json_array_size(r) == 1, "length-bounded input");
    json_decref(r);
    parse_bad(buf, 2, "end of file");
}

static void test_numbers(void)
{
    json_t *r = parse_ok("[9223372036854775807, -9223372036854775808, 9007199254740993, "
                         "1e-400, 12345678901234567e3]");
    if (r) {
        int64_t i;
        CHECK(sjson_int(json_array_get(r, 0), 0, INT64_MAX, &i) && i == INT64_MAX,
              "64-bit integers are exact");
        CHECK(sjson_int(json_array_get(r, 1), INT64_MIN, 0, &i) && i == INT64_MIN, "INT64_MIN");
        CHECK(sjson_int(json_array_get(r, 2), 0, INT64_MAX, &i) && i == 9007199254740993,
              "an integer above 2^53 stays exact");
        CHECK(json_number_value(json_array_get(r, 3)) == 0, "underflow to 0 is fine");
        CHECK(!sjson_int(json_array_get(r, 4), 0, INT64_MAX, &i),
              "a real above 2^53 is not taken as an integer");
    }
    json_decref(r);
    BAD("01", NULL);
    BAD("-", NULL);
    BAD("+1", NULL);
    BAD("1.", NULL);
    BAD(".5", NULL);
    BAD("1e", NULL);
    BAD("1e+", NULL);
    BAD("1e999", "overflow");
    BAD("-1e999", "overflow");
    BAD("99999999999999999999", "too big");
    BAD("NaN", NULL);
    BAD("Infinity", NULL);
    BAD("0x10", NULL);
}

static void test_strings(void)
{
    json_t *r = parse_ok("[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\", "
                         "\"\\ud83d\\ude00\", \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]");
    if (!r)
        return;
    CHECK(!strcmp(json_string_value(json_array_get(r, 0)), "a\"b\\c/d\b\f\n\r\t") &&
          json_string_length(json_array_get(r, 0)) == 12, "escapes");
    CHECK(!strcmp(json_string_value(json_array_get(r, 1)), "\xc3\xa9\xe2\x82\xac"),
          "\\u escapes to UTF-8");
    CHECK(!strcmp(json_string_value(json_array_get(r, 2)), "\xf0\x9f\x98\x80") &&
          json_string_length(json_array_get(r, 2)) == 4, "surrogate pair");
    CHECK(!strcmp(json_string_value(json_array_get(r, 3)),
                  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "raw UTF-8");
    json_decref(r);

    BAD("\"abc", "premature end");
    BAD("\"a\\", "escape");
    BAD("\"a\\x\"", "escape");
    BAD("\"\\u12\"", "escape");
    BAD("\"\\u12G4\"", "escape");
    BAD("\"\\ud800\"", "Unicode");
    BAD("\"\\ud800\\u0041\"", "Unicode");
    BAD("\"\\udc00\"", "Unicode");
    BAD("\"\\u0000\"", "\\u0000 in a string is not allowed");
    BAD("[\"ok\", \"a\\u0000b\"]", "\\u0000 in a string is not allowed");
    BAD("{\"a\\u0000b\": 1}", "NUL byte in object key");
    BAD("\"a\tb\"", "control character");
    BAD("\"a\nb\"", "newline");
    parse_bad("\"a\0b\"", 5, "control character");
    /* bad UTF-8: truncated, overlong, an encoded surrogate, above U+10FFFF, never valid */
    BAD("\"\xc3\"", "UTF-8");
    BAD("\"\xc0\xaf\"", "UTF-8");
    BAD("\"\xed\xa0\x80\"", "UTF-8");
    BAD("\"\xf4\x90\x80\x80\"", "UTF-8");
    BAD("\"\xff\"", "UTF-8");
    BAD("{\"\xff\": 1}", "UTF-8");
    BAD("'a'", NULL);
}

static void test_structure(void)
{
    BAD("", NULL);
    BAD("   ", NULL);
    BAD("[1,]", NULL);
    BAD("{\"a\":1,}", NULL);
    BAD("[1 2]", NULL);
    BAD("{\"a\" 1}", NULL);
    BAD("{\"a\":1 \"b\":2}", NULL);
    BAD("{a:1}", NULL);
    BAD("{1:1}", NULL);
    BAD("[", NULL);
    BAD("{", NULL);
    BAD("[1]]", "end of file expected");
    BAD("[1] [2]", "end of file expected");
    BAD("tru", NULL);
    BAD("nul", NULL);
    BAD("falsey", NULL);
    BAD("[1,,2]", NULL);
    BAD("// c\n1", NULL);
    BAD("/* c */ 1", NULL);
    BAD("\xef\xbb\xbf{}", NULL);   /* a byte-order mark is not JSON */
    BAD("{\"a\":1,\"a\":2}", "duplicate object key");
    BAD("{\"b\":1,\"a\":2,\"c\":3,\"a\":4}", "duplicate object key");
    BAD("[{\"x\": {\"k\": 1, \"k\": 1}}]", "duplicate object key");
    /* keys differing only after a common prefix are distinct */
    json_t *r = parse_ok("{\"a\":1,\"ab\":2,\"\":3}");
    CHECK(json_integer_value(json_object_get(r, "")) == 3, "empty key");
    json_decref(r);

    /* the message names the line and column */
    char err[200];
    CHECK(!sjson_load("[1,\n 2, x]", 10, NULL, err, sizeof err) &&
          !strncmp(err, "at line 2, column ", 18), "line in '%s'", err);
    CHECK(!sjson_load("[1, 2, x]", 9, NULL, err, sizeof err) &&
          !strncmp(err, "at line 1, column 8:", 20), "column in '%s'", err);
    /* a NULL or tiny error buffer is fine */
    CHECK(!sjson_load("[", 1, NULL, NULL, 0), "no buffer");
    char tiny[4];
    CHECK(!sjson_load("[", 1, NULL, tiny, sizeof tiny) && strlen(tiny) == 3, "tiny buffer");
}

static void test_limits(void)
{
    struct sjson_limits lim = { .max_bytes = 100, .max_depth = 3, .max_values = 10 };
    char err[200];
    json_t *r;
    CHECK((r = sjson_load("[[[1]]]", 7, &lim, err, sizeof err)) != NULL, "depth 3 allowed: %s",
          err);
    json_decref(r);
    CHECK(!sjson_load("[[[[1]]]]", 9, &lim, err, sizeof err) && strstr(err, "deeper than 3"),
          "depth 4 rejected: %s", err);
    CHECK(!sjson_load("[{\"a\":[{}]}]", 12, &lim, err, sizeof err) && strstr(err, "deeper"),
          "objects count as depth: %s", err);
    CHECK((r = sjson_load("[1,2,3,4,5,6,7,8,9]", 19, &lim, err, sizeof err)) != NULL, "10 values");
    json_decref(r);
    CHECK(!sjson_load("[1,2,3,4,5,6,7,8,9,10]", 22, &lim, err, sizeof err) &&
          strstr(err, "more than 10 values"), "11 values: %s", err);
    const char *ten = "{\"a\":[],\"b\":{},\"c\":[1,[2,3]],\"d\":[ ],\"e\":5}";
    const char *eleven = "{\"a\":[],\"b\":{},\"c\":[1,[2,3,4]],\"d\":[ ],\"e\":5}";
    CHECK((r = sjson_load(ten, strlen(ten), &lim, err, sizeof err)) != NULL,
          "10 values with empty containers: %s", err);
    json_decref(r);
    CHECK(!sjson_load(eleven, strlen(eleven), &lim, err, sizeof err) &&
          strstr(err, "more than 10 values"), "11 values with empty containers: %s", err);
    /* brackets, commas and escaped quotes inside strings are not structure */
    struct sjson_limits one = { .max_bytes = 100, .max_depth = 1, .max_values = 3 };
    CHECK((r = sjson_load("[\"[[[,,,{{\", \"\\\"[[,\"]", 21, &one, err, sizeof err)) != NULL,
          "strings are not counted: %s", err);
    json_decref(r);
    char big[101];
    memset(big, ' ', sizeof big);
    big[0] = '1';
    CHECK(!sjson_load(big, 101, &lim, err, sizeof err) && strstr(err, "larger than"),
          "size limit: %s", err);
    lim.max_depth = SJSON_MAX_DEPTH + 1;
    CHECK(!sjson_load("1", 1, &lim, err, sizeof err), "a depth limit above SJSON_MAX_DEPTH");

    /* deep nesting with the default limits fails cleanly, before jansson recurses */
    size_t n = 100000;
    char *deep = malloc(2 * n);
    if (deep) {
        memset(deep, '[', n);
        memset(deep + n, ']', n);
        CHECK(!sjson_load(deep, 2 * n, NULL, err, sizeof err) && strstr(err, "deeper than 32"),
              "deep input: %s", err);
        free(deep);
    }
    /* a large flat array is fine: the root and 999999 numbers; one more is not */
    size_t cnt = 999999;
    char *flat = malloc(cnt * 2 + 4);
    if (flat) {
        size_t o = 0;
        flat[o++] = '[';
        for (size_t i = 0; i < cnt; i++) {
            flat[o++] = '7';
            flat[o++] = i + 1 < cnt ? ',' : ']';
        }
        CHECK((r = sjson_load(flat, o, NULL, err, sizeof err)) != NULL &&
              json_array_size(r) == cnt, "a million values: %s", err);
        json_decref(r);
        flat[o - 1] = ',';
        flat[o++] = '7';
        flat[o++] = ']';
        CHECK(!sjson_load(flat, o, NULL, err, sizeof err) && strstr(err, "more than 1000000"),
              "1000001 values: %s", err);
        free(flat);
    }
}

/* Every prefix of a valid document fails, and no prefix crashes. */
static void test_truncations(void)
{
    const char *doc = "{\"format\": \"vdetect-model\", \"cfg\": [8, \"M\", 16], \"x\": "
                      "{\"y\": [true, false, null, -1.5e-3, \"\\u00e9\\ud83d\\ude00\"]}}";
    size_t n = strlen(doc);
    int bad = 0;
    for (size_t k = 0; k < n; k++) {
        char *copy = malloc(k ? k : 1);   /* exact-size buffer: reads past it would be caught by ASan */
        memcpy(copy, doc, k);
        json_t *r = sjson_load(copy, k, NULL, NULL, 0);
        bad += r != NULL;
        json_decref(r);
        free(copy);
    }
    CHECK(bad == 0, "%d prefixes parsed", bad);
    json_decref(parse_ok(doc));
}

int main(void)
{
    test_values();
    test_numbers();
    test_strings();
    test_structure();
    test_limits();
    test_truncations();
    return check_summary("test_json");
}
