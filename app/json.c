/*
 * json.c — the few JSON writers vdetect's outputs need: strings escaped per
 * RFC 8259 (and always valid UTF-8), and numbers printed as the shortest
 * decimal that reads back to the same binary value, so boxes round-trip
 * exactly through float32 and files stay readable ("12.5", not "12.5000000").
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    int n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        n = 2;
        min = 0x80;
        c &= 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        min = 0x800;
        c &= 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        min = 0x10000;
        c &= 0x07;
    } else {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    return n;
}

void json_put_string(FILE *f, const char *str)
{
    if (!str) {
        fputs("null", f);
        return;
    }
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', f);
    while (*s) {
        unsigned c = *s;
        switch (c) {
        case '"': fputs("\\\"", f); s++; continue;
        case '\\': fputs("\\\\", f); s++; continue;
        case '\b': fputs("\\b", f); s++; continue;
        case '\f': fputs("\\f", f); s++; continue;
        case '\n': fputs("\\n", f); s++; continue;
        case '\r': fputs("\\r", f); s++; continue;
        case '\t': fputs("\\t", f); s++; continue;
        default: break;
        }
        if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
            s++;
            continue;
        }
        int n = utf8_len(s);
        if (n == 0) {
            fputs("\\ufffd", f);
            s++;
        } else {
            fwrite(s, 1, (size_t)n, f);
            s += n;
        }
    }
    fputc('"', f);
}

/*
 * Shortest "%g"-style text of v with at most maxprec significant digits that
 * reads back (as float when is_float) to v. Plain notation is used whenever
 * the exponent is modest, so 240 prints as "240", not "2.4e+02".
 */
static void shortest(char *buf, size_t size, double v, int maxprec, int is_float)
{
    for (int prec = 1; prec <= maxprec; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        int ok = is_float ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v;
        if (!ok && prec < maxprec)
            continue;
        char *e = strchr(buf, 'e');
        if (e) {
            int exp = atoi(e + 1);
            if (exp > -5 && exp < 17)
                snprintf(buf, size, "%.*f", prec - 1 - exp > 0 ? prec - 1 - exp : 0, v);
        }
        return;
    }
}

void json_put_float(FILE *f, float v)
{
    char buf[48];
    if (!isfinite(v)) {
        fputs("null", f);
        return;
    }
    shortest(buf, sizeof buf, v, 9, 1);
    fputs(buf, f);
}

void json_put_double(FILE *f, double v)
{
    char buf[48];
    if (!isfinite(v)) {
        fputs("null", f);
        return;
    }
    shortest(buf, sizeof buf, v, 17, 0);
    fputs(buf, f);
}

/* A time in seconds for JSON: microseconds at most, trailing zeros dropped
 * (15.36, not the 15.360000000000001 of the time base's binary product);
 * null when unknown. */
void json_put_time(FILE *o, double sec)
{
    char buf[64];
    if (!isfinite(sec)) {
        fputs("null", o);
        return;
    }
    snprintf(buf, sizeof buf, "%.6f", sec);
    char *end = buf + strlen(buf);
    while (end[-1] == '0')
        *--end = '\0';
    if (end[-1] == '.')
        *--end = '\0';
    fputs(strcmp(buf, "-0") ? buf : "0", o);
}
