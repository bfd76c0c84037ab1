/*
 * test_json.c — model/ckpt/json.c, the strict JSON reader of model files: values
 * and their types, string escapes and UTF-8, numbers, every class of malformed
 * input (each must fail with a message naming the byte), the depth, size and
 * value-count limits, duplicate keys, and inputs that are not NUL-terminated.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../model/ckpt/json.h"
#include "check.h"

static struct json_doc *parse_ok(const char *text)
{
    struct json_doc *d = NULL;
    char err[200];
    int r = json_parse(text, strlen(text), NULL, &d, err, sizeof err);
    CHECK(r == 0 && d, "'%s' should parse: %s", text, err);
    return d;
}

static void parse_bad(const char *text, size_t len, const char *expect)
{
    struct json_doc *d = NULL;
    char err[200] = "";
    int r = json_parse(text, len, NULL, &d, err, sizeof err);
    CHECK(r < 0 && !d, "'%.*s' should fail", (int)len, text);
    CHECK(!strncmp(err, "at byte ", 8), "message '%s' should start with the byte", err);
    if (expect)
        CHECK(strstr(err, expect) != NULL, "'%.*s': message '%s' should mention '%s'", (int)len,
              text, err, expect);
    json_free(&d);
}

#define BAD(s, e) parse_bad(s, strlen(s), e)

static void test_values(void)
{
    struct json_doc *d = parse_ok(" {\"a\": [1, -2.5e3, 0, -0, 1E+2, 0.125], \"b\": true,"
                                  " \"c\": false, \"d\": null, \"e\": {}, \"f\": [], \"g\": \"x\"} ");
    if (!d)
        return;
    const struct json_value *r = json_root(d);
    CHECK(r->type == JSON_OBJECT && r->len == 7, "root object of 7");
    const struct json_value *a = json_get(r, "a");
    CHECK(a && a->type == JSON_ARRAY && a->len == 6, "array of 6");
    if (a && a->len == 6) {
        CHECK(a->items[0].number == 1 && a->items[1].number == -2500 && a->items[2].number == 0 &&
              a->items[4].number == 100 && a->items[5].number == 0.125, "numbers");
        CHECK(signbit(a->items[3].number), "-0 keeps its sign");
    }
    CHECK(json_get(r, "b")->type == JSON_TRUE && json_get(r, "c")->type == JSON_FALSE &&
          json_get(r, "d")->type == JSON_NULL, "literals");
    CHECK(json_get(r, "e")->type == JSON_OBJECT && json_get(r, "e")->len == 0, "empty object");
    CHECK(json_get(r, "f")->type == JSON_ARRAY && json_get(r, "f")->len == 0, "empty array");
    CHECK(!strcmp(json_get(r, "g")->str, "x"), "string");
    CHECK(json_get(r, "zz") == NULL && json_get(a, "a") == NULL, "absent key, not an object");
    CHECK(!strcmp(r->members[0].key, "a") && !strcmp(r->members[6].key, "g"), "member order");
    int64_t i;
    CHECK(json_as_int(&a->items[1], -3000, 0, &i) && i == -2500, "json_as_int");
    CHECK(!json_as_int(&a->items[5], 0, 10, &i), "0.125 is not an integer");
    CHECK(!json_as_int(&a->items[0], 2, 10, &i), "range");
    CHECK(!json_as_int(json_get(r, "g"), 0, 10, &i), "a string is not an integer");
    json_free(&d);
    json_free(&d);   /* safe twice */

    /* scalars at top level */
    const char *scalars[] = { "1", "\"s\"", "true", "null", " \t\r\n0\n" };
    for (int k = 0; k < 5; k++) {
        d = parse_ok(scalars[k]);
        json_free(&d);
    }
    /* not NUL-terminated: only len bytes are read */
    char buf[8] = { '[', '1', ']', 'x', 'y', 'z', '{', '[' };
    d = NULL;
    CHECK(json_parse(buf, 3, NULL, &d, NULL, 0) == 0 && d && json_root(d)->len == 1,
          "length-bounded input");
    json_free(&d);
    parse_bad(buf, 2, "end of input");
}

static void test_strings(void)
{
    struct json_doc *d = parse_ok("[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\", "
                                  "\"\\ud83d\\ude00\", \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]");
    if (!d)
        return;
    const struct json_value *r = json_root(d);
    CHECK(!strcmp(r->items[0].str, "a\"b\\c/d\b\f\n\r\t") && r->items[0].len == 12, "escapes");
    CHECK(!strcmp(r->items[1].str, "\xc3\xa9\xe2\x82\xac"), "\\u escapes to UTF-8");
    CHECK(!strcmp(r->items[2].str, "\xf0\x9f\x98\x80") && r->items[2].len == 4, "surrogate pair");
    CHECK(!strcmp(r->items[3].str, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "raw UTF-8");
    json_free(&d);

    BAD("\"abc", "unterminated");
    BAD("\"a\\", "unterminated");
    BAD("\"a\\x\"", "bad escape");
    BAD("\"\\u12\"", "\\u escape");
    BAD("\"\\u12G4\"", "\\u escape");
    BAD("\"\\ud800\"", "unpaired high surrogate");
    BAD("\"\\ud800\\u0041\"", "unpaired high surrogate");
    BAD("\"\\udc00\"", "unpaired low surrogate");
    BAD("\"\\u0000\"", "\\u0000");
    BAD("\"a\tb\"", "control character");
    BAD("\"a\nb\"", "control character");
    BAD("\"\xc3\"", "UTF-8");             /* truncated sequence */
    BAD("\"\xc0\xaf\"", "UTF-8");         /* overlong */
    BAD("\"\xed\xa0\x80\"", "UTF-8");     /* encoded surrogate */
    BAD("\"\xf4\x90\x80\x80\"", "UTF-8"); /* above U+10FFFF */
    BAD("\"\xff\"", "UTF-8");
    BAD("'a'", "unexpected");
    parse_bad("\"a\0b\"", 5, "control character");
}

static void test_numbers(void)
{
    BAD("01", "leading zero");
    BAD("-", "bad number");
    BAD("+1", "unexpected");
    BAD("1.", "digits must follow");
    BAD(".5", "unexpected");
    BAD("1e", "exponent");
    BAD("1e+", "exponent");
    BAD("1e999", "out of range");
    BAD("-1e999", "out of range");
    BAD("NaN", "unexpected");
    BAD("Infinity", "unexpected");
    BAD("0x10", "after the value");
    struct json_doc *d = parse_ok("1e-400");   /* underflow to 0 is fine */
    if (d)
        CHECK(json_root(d)->number == 0, "underflow");
    json_free(&d);
    char big[700];
    memset(big, '1', sizeof big - 1);
    big[sizeof big - 1] = 0;
    BAD(big, "longer than");
}

static void test_structure(void)
{
    BAD("", "end of input");
    BAD("   ", "end of input");
    BAD("[1,]", "trailing comma");
    BAD("{\"a\":1,}", "trailing comma");
    BAD("[1 2]", "expected ',' or ']'");
    BAD("{\"a\" 1}", "expected ':'");
    BAD("{\"a\":1 \"b\":2}", "expected ',' or '}'");
    BAD("{a:1}", "string key");
    BAD("{1:1}", "string key");
    BAD("[", "end of input");
    BAD("{", "string key");
    BAD("[1]]", "after the value");
    BAD("[1] [2]", "after the value");
    BAD("tru", "bad literal");
    BAD("nul", "bad literal");
    BAD("falsey", "after the value");
    BAD("falsy", "bad literal");
    BAD("[1,,2]", "unexpected");
    BAD("// c\n1", "unexpected");
    BAD("/* c */ 1", "unexpected");
    BAD("{\"a\":1,\"a\":2}", "duplicate key \"a\"");
    BAD("{\"b\":1,\"a\":2,\"c\":3,\"a\":4}", "duplicate key");
    BAD("\xef\xbb\xbf{}", "unexpected");   /* a byte-order mark is not JSON */
    /* keys differing only after a NUL-free prefix are distinct */
    struct json_doc *d = parse_ok("{\"a\":1,\"ab\":2,\"\":3}");
    if (d)
        CHECK(json_get(json_root(d), "")->number == 3, "empty key");
    json_free(&d);
    /* the message names the byte */
    char err[200];
    d = NULL;
    json_parse("[1, 2, x]", 9, NULL, &d, err, sizeof err);
    CHECK(!strncmp(err, "at byte 7:", 10), "byte offset in '%s'", err);
    /* a NULL or tiny error buffer is fine */
    CHECK(json_parse("[", 1, NULL, &d, NULL, 0) < 0, "no buffer");
    char tiny[4];
    CHECK(json_parse("[", 1, NULL, &d, tiny, sizeof tiny) < 0 && strlen(tiny) == 3, "tiny buffer");
}

static void test_limits(void)
{
    struct json_limits lim = { .max_bytes = 100, .max_depth = 3, .max_values = 10 };
    struct json_doc *d = NULL;
    char err[200];
    CHECK(json_parse("[[[1]]]", 7, &lim, &d, err, sizeof err) == 0, "depth 3 allowed: %s", err);
    json_free(&d);
    CHECK(json_parse("[[[[1]]]]", 9, &lim, &d, err, sizeof err) < 0 && strstr(err, "deeper"),
          "depth 4 rejected: %s", err);
    CHECK(json_parse("[{\"a\":[{}]}]", 12, &lim, &d, err, sizeof err) < 0 && strstr(err, "deeper"),
          "objects count as depth: %s", err);
    CHECK(json_parse("[1,2,3,4,5,6,7,8,9]", 19, &lim, &d, err, sizeof err) == 0, "10 values");
    json_free(&d);
    CHECK(json_parse("[1,2,3,4,5,6,7,8,9,10]", 22, &lim, &d, err, sizeof err) < 0 &&
          strstr(err, "more than 10 values"), "11 values: %s", err);
    char big[101];
    memset(big, ' ', sizeof big);
    big[0] = '1';
    CHECK(json_parse(big, 101, &lim, &d, err, sizeof err) < 0 && strstr(err, "larger than"),
          "size limit: %s", err);

    /* deep nesting with the default limits fails cleanly, without deep recursion */
    size_t n = 100000;
    char *deep = malloc(2 * n);
    if (deep) {
        memset(deep, '[', n);
        memset(deep + n, ']', n);
        CHECK(json_parse(deep, 2 * n, NULL, &d, err, sizeof err) < 0 && strstr(err, "deeper"),
              "deep input: %s", err);
        free(deep);
    }
    /* a large flat array is fine */
    size_t cnt = 200000;
    char *flat = malloc(cnt * 2 + 2);
    if (flat) {
        size_t o = 0;
        flat[o++] = '[';
        for (size_t i = 0; i < cnt; i++) {
            flat[o++] = '7';
            flat[o++] = i + 1 < cnt ? ',' : ']';
        }
        CHECK(json_parse(flat, o, NULL, &d, err, sizeof err) == 0 && json_root(d)->len == cnt,
              "200000 values: %s", err);
        json_free(&d);
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
        struct json_doc *d = NULL;
        char *copy = malloc(k ? k : 1);   /* exact-size buffer: reads past it would be caught by ASan */
        memcpy(copy, doc, k);
        if (json_parse(copy, k, NULL, &d, NULL, 0) == 0)
            bad++;
        json_free(&d);
        free(copy);
    }
    CHECK(bad == 0, "%d prefixes parsed", bad);
    struct json_doc *d = parse_ok(doc);
    json_free(&d);
}

int main(void)
{
    test_values();
    test_strings();
    test_numbers();
    test_structure();
    test_limits();
    test_truncations();
    return check_summary("test_json");
}
