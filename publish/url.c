/*
 * url.c — the broker URL, "mqtt://[user[:pass]@]host[:port][/prefix]", and the
 * topic rules that the prefix and every suffix follow.
 *
 * Choices, with their reasons:
 * - The user information ends at the last '@' before the first '/', so that a
 *   password may hold '@' and ':' as they are; '/' and '%' in a user name or
 *   password are written %2F and %25 (%XX escapes are decoded there only).
 * - Error lines name the part that is wrong but never echo the URL: it may
 *   carry a password, and the lines end up in logs.
 * - mqtts:// gets its own line: it is what a user with a TLS broker would
 *   write, and "not mqtt" would not tell them TLS is what is missing.
 * - Topics are stricter than MQTT needs (no empty level, no leading or trailing
 *   '/'): "vdetect//person" or "/vdetect" are almost always typing mistakes,
 *   and subscribers' wildcards do not match them the way one expects.
 */
#include <ctype.h>
#include <mosquitto.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define URL_FORM "mqtt://[user[:pass]@]host[:port][/prefix]"

const char *publish_topic_problem(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return "is empty";
    if (strpbrk(s, "+#"))
        return "has an MQTT wildcard (+ or #)";
    if (s[0] == '/' || s[n - 1] == '/' || strstr(s, "//"))
        return "starts or ends with '/' or has an empty level";
    if (mosquitto_validate_utf8(s, (int)(n > 65535 ? 65535 : n)) != MOSQ_ERR_SUCCESS)
        return "is not UTF-8 or has a control character";
    return NULL;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode the %XX escapes of [s, e) into out (cap bytes with the NUL): 0, -1 for
 * a bad escape (or one that decodes to NUL), -2 when it does not fit. */
static int decode(const char *s, const char *e, char *out, size_t cap)
{
    size_t n = 0;
    while (s < e) {
        int c = (unsigned char)*s++;
        if (c == '%') {
            int hi = e - s >= 2 ? hexval(s[0]) : -1, lo = e - s >= 2 ? hexval(s[1]) : -1;
            if (hi < 0 || lo < 0 || (hi | lo) == 0)
                return -1;
            c = hi * 16 + lo;
            s += 2;
        }
        if (n + 1 >= cap)
            return -2;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return 0;
}

static int decode_part(const char *s, const char *e, char *out, size_t cap, const char *what,
                       char *msg, size_t len)
{
    int rc = decode(s, e, out, cap);
    if (rc == -1)
        return base_err(msg, len, "publish: the broker URL's %s has a bad %%-escape", what);
    if (rc == -2)
        return base_err(msg, len, "publish: the broker URL's %s is longer than %zu bytes",
                           what, cap - 1);
    return 0;
}

/* Letters, digits and what host names and IP addresses hold ('.', '-', '_';
 * in brackets ':' and '%' of an IPv6 address and its zone too). */
static int host_char_ok(int c, int bracketed)
{
    return isalnum(c) || c == '.' || c == '-' || c == '_' || (bracketed && (c == ':' || c == '%'));
}

int publish_parse_url(const char *url, struct publish_url *out, char *msg, size_t len)
{
    struct publish_url u;
    memset(&u, 0, sizeof u);
    u.port = 1883;
    snprintf(u.prefix, sizeof u.prefix, "vdetect");

    if (!url || !*url)
        return base_err(msg, len, "publish: no broker URL (" URL_FORM ")");
    /* a scheme is letters, digits, '+', '-' and '.' (RFC 3986), so nothing
     * before "://" that is not one can be a password echoed below */
    size_t slen = 0;
    while (isalnum((unsigned char)url[slen]) || url[slen] == '+' || url[slen] == '-' ||
           url[slen] == '.')
        slen++;
    if (slen == 0 || strncmp(url + slen, "://", 3) != 0)
        return base_err(msg, len, "publish: the broker URL must look like " URL_FORM);
    const char *sep = url + slen;
    if (slen == 5 && strncasecmp(url, "mqtts", 5) == 0)
        return base_err(msg, len, "publish: mqtts:// (MQTT over TLS) is not supported; use mqtt://");
    if (slen != 4 || strncasecmp(url, "mqtt", 4) != 0)
        return base_err(msg, len, "publish: broker URL scheme '%.*s' is not mqtt",
                           (int)(slen > 16 ? 16 : slen), url);

    const char *auth = sep + 3;
    const char *slash = strchr(auth, '/');
    const char *end = slash ? slash : auth + strlen(auth);

    const char *at = NULL;
    for (const char *q = auth; q < end; q++)
        if (*q == '@')
            at = q;
    const char *hp = auth;
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        const char *user_end = colon ? colon : at;
        if (user_end == auth)
            return base_err(msg, len, "publish: the broker URL has an empty user name");
        if (decode_part(auth, user_end, u.user, sizeof u.user, "user name", msg, len) < 0)
            return -1;
        if (colon && decode_part(colon + 1, at, u.pass, sizeof u.pass, "password", msg, len) < 0)
            return -1;
        hp = at + 1;
    }

    const char *h0 = hp, *h1, *port = NULL;
    int bracketed = *hp == '[';
    if (bracketed) {
        const char *close = memchr(hp, ']', (size_t)(end - hp));
        if (!close)
            return base_err(msg, len, "publish: broker host '%.*s' lacks its closing ']'",
                               (int)(end - hp > 64 ? 64 : end - hp), hp);
        h0 = hp + 1;
        h1 = close;
        if (close + 1 < end) {
            if (close[1] != ':')
                return base_err(msg, len, "publish: broker host '%.*s' has something after ']' "
                                   "that is not :port", (int)(end - hp > 64 ? 64 : end - hp), hp);
            port = close + 2;
        }
    } else {
        const char *colon = memchr(hp, ':', (size_t)(end - hp));
        h1 = colon ? colon : end;
        if (colon)
            port = colon + 1;
    }
    if (h1 == h0)
        return base_err(msg, len, "publish: the broker URL has no host");
    if ((size_t)(h1 - h0) >= sizeof u.host)
        return base_err(msg, len, "publish: broker host is longer than %zu bytes",
                           sizeof u.host - 1);
    for (const char *q = h0; q < h1; q++)
        if (!host_char_ok((unsigned char)*q, bracketed))
            return base_err(msg, len, "publish: broker host '%.*s' has a character that is "
                               "not a letter, digit, '.', '-' or '_'%s", (int)(h1 - h0), h0,
                               bracketed ? " (or ':' and '%' in brackets)" : "");
    memcpy(u.host, h0, (size_t)(h1 - h0));
    u.host[h1 - h0] = '\0';

    if (port) {
        long v = 0;
        const char *q = port;
        for (; q < end && isdigit((unsigned char)*q) && v <= 65535; q++)
            v = v * 10 + (*q - '0');
        if (q == port || q < end || v < 1 || v > 65535)
            return base_err(msg, len, "publish: broker port '%.*s' is not a number in [1, 65535]",
                               (int)(end - port > 16 ? 16 : end - port), port);
        u.port = (int)v;
    }

    if (slash && slash[1]) {
        const char *pfx = slash + 1;
        if (strlen(pfx) >= sizeof u.prefix)
            return base_err(msg, len, "publish: topic prefix is longer than %zu bytes",
                               sizeof u.prefix - 1);
        const char *why = publish_topic_problem(pfx);
        if (why)
            return base_err(msg, len, "publish: topic prefix '%s' %s", pfx, why);
        snprintf(u.prefix, sizeof u.prefix, "%s", pfx);
    }
    *out = u;
    return 0;
}
