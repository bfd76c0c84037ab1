/*
 * test_metrics_http.c — app/metrics_http.c: the text builder's exact output
 * (HELP, TYPE, samples, escaping, values, truncation without overflow), the
 * address forms and their error lines, and the server as a plain socket
 * client sees it: /metrics, /, HEAD, 404, 405, 400, 431, 505, garbage,
 * half-closed and vanishing clients, a silent and a trickling client (the
 * next client is still answered within 3 s), 200 requests in a row, a body
 * larger than the first buffer (the retry path) and one over the 4 MiB
 * limit, a port in use, and close with a client connected. Run it under
 * ASan and TSan too (Makefile's ASAN_TESTS, TSAN_TESTS).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../app/pipeline.h"
#include "check.h"

#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&t, NULL);
}

/* ---- render() callbacks ------------------------------------------------------------ */

static const char *const cam0[] = { "stream", "cam0", NULL };

/* The body render_demo() writes, byte for byte. */
static const char demo_body[] =
    "# HELP vdetect_up 1 while vdetect runs.\n"
    "# TYPE vdetect_up gauge\n"
    "vdetect_up 1\n"
    "# HELP vdetect_frames_total Frames decoded.\n"
    "# TYPE vdetect_frames_total counter\n"
    "vdetect_frames_total{stream=\"cam0\"} 42\n";

static atomic_int demo_calls;

static size_t render_demo(void *ctx, char *buf, size_t cap)
{
    (void)ctx;
    atomic_fetch_add(&demo_calls, 1);
    struct metrics_text t;
    metrics_text_init(&t, buf, cap);
    metrics_gauge(&t, "vdetect_up", "1 while vdetect runs.", NULL, 1);
    metrics_counter(&t, "vdetect_frames_total", "Frames decoded.", cam0, 42);
    return t.len;
}

/* A body of size bytes of a known pattern; the test changes size between
 * requests (atomics: render() runs on the server thread). */
struct pattern {
    atomic_size_t size;
    atomic_int greedy;        /* 1: always ask for more than cap */
    atomic_int calls;
    atomic_size_t first_cap;  /* cap of the first call; 0 until then */
};

static char pattern_byte(size_t i)
{
    return i % 64 == 63 ? '\n' : (char)('a' + i % 26);
}

static size_t render_pattern(void *ctx, char *buf, size_t cap)
{
    struct pattern *p = ctx;
    size_t zero = 0;
    atomic_compare_exchange_strong(&p->first_cap, &zero, cap);
    atomic_fetch_add(&p->calls, 1);
    if (atomic_load(&p->greedy))
        return cap + 1;
    size_t n = atomic_load(&p->size);
    if (n > cap)
        return n;
    for (size_t i = 0; i < n; i++)
        buf[i] = pattern_byte(i);
    return n;
}

static int is_pattern(const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != pattern_byte(i))
            return 0;
    return 1;
}

/* ---- a plain socket client --------------------------------------------------------- */

struct reply {
    int status;             /* from the status line; -1: none */
    char head[2048];        /* status line and headers, NUL-terminated */
    char *body;             /* after the empty line; malloc'd, NUL-terminated */
    size_t body_len;
    size_t total;           /* bytes received */
};

static int connect_to(int family, int port)
{
    int fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = { .tv_sec = 5 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int r;
    if (family == AF_INET6) {
        struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
                                  .sin6_addr = IN6ADDR_LOOPBACK_INIT };
        r = connect(fd, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        r = connect(fd, (struct sockaddr *)&a, sizeof a);
    }
    if (r) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_bytes(int fd, const char *b, size_t n)
{
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read until the server closes (or 5 s pass) and split the answer. */
static void read_reply(int fd, struct reply *r)
{
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap + 1);
        }
        ssize_t got = recv(fd, b + n, cap - n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    b[n] = '\0';
    memset(r, 0, sizeof *r);
    r->status = -1;
    r->total = n;
    const char *end = strstr(b, "\r\n\r\n");
    size_t hl = end ? (size_t)(end - b) + 2 : 0;   /* keep the last header's CRLF */
    if (end && hl < sizeof r->head) {
        memcpy(r->head, b, hl);
        r->head[hl] = '\0';
        if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1)
            r->status = -1;
        r->body_len = n - hl - 2;
        memmove(b, b + hl + 2, r->body_len + 1);
    }
    r->body = b;
}

/* One request, its answer. */
static void exchange_family(int family, int port, const char *req, size_t len, struct reply *r)
{
    int fd = connect_to(family, port);
    if (fd < 0) {
        memset(r, 0, sizeof *r);
        r->status = -1;
        r->body = calloc(1, 1);
        CHECK(0, "connect to port %d: %s", port, strerror(errno));
        return;
    }
    CHECK(send_bytes(fd, req, len) == 0, "send the request");
    read_reply(fd, r);
    close(fd);
}

static void exchange(int port, const char *req, struct reply *r)
{
    exchange_family(AF_INET, port, req, strlen(req), r);
}

static void reply_free(struct reply *r)
{
    free(r->body);
    r->body = NULL;
}

/* A header's value ("" when absent) in a static buffer. */
static const char *header(const struct reply *r, const char *name)
{
    static char v[256];
    size_t nl = strlen(name);
    v[0] = '\0';
    for (const char *p = strstr(r->head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (!strncasecmp(p + 2, name, nl) && p[2 + nl] == ':') {
            const char *s = p + 3 + nl;
            while (*s == ' ')
                s++;
            size_t l = strcspn(s, "\r");
            if (l >= sizeof v)
                l = sizeof v - 1;
            memcpy(v, s, l);
            v[l] = '\0';
            break;
        }
    }
    return v;
}

/* ---- stderr captured (the error lines of metrics_open) ------------------------------- */

static char err[2048];

static int open_captured(struct metrics_server **m, const char *addr,
                         size_t (*render)(void *, char *, size_t), void *ctx)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    if (!tmp || saved < 0) {
        CHECK(0, "cannot capture stderr");
        return -100;
    }
    dup2(fileno(tmp), STDERR_FILENO);
    int r = metrics_open(m, addr, render, ctx);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(err, 1, sizeof err - 1, tmp);
    err[n] = '\0';
    fclose(tmp);
    return r;
}

static void expect_open_error(const char *addr, const char *want)
{
    struct metrics_server *m = NULL;
    int r = open_captured(&m, addr, render_demo, NULL);
    char line[1200];
    snprintf(line, sizeof line, "vdetect: %s\n", want);
    CHECK(r == APP_FAIL && m == NULL, "'%s': status %d, want APP_FAIL", addr ? addr : "(null)",
          r);
    CHECK(!strcmp(err, line), "'%s': message\n  got:  %s  want: %s", addr ? addr : "(null)",
          err, line);
    metrics_close(&m);
}

/* ---- the builder ----------------------------------------------------------------------- */

static void test_builder(void)
{
    char buf[4096];
    struct metrics_text t;

    metrics_text_init(&t, buf, sizeof buf);
    CHECK(t.len == 0 && buf[0] == '\0', "empty");
    metrics_family(&t, "vdetect_detections", METRICS_GAUGE,
                   "Detections on the last frame.\nPer class, with a \\ and \"quotes\".");
    metrics_sample(&t, "vdetect_detections",
                   (const char *const[]){ "stream", "cam0", "class", "person", NULL }, 3);
    metrics_sample(&t, "vdetect_detections",
                   (const char *const[]){ "stream", "cam0", "class", "say \"hi\"\\\n", NULL },
                   0.1);
    metrics_sample(&t, "vdetect_detections",
                   (const char *const[]){ "stream", "caf\xc3\xa9 \xff\xc0\xaf!", NULL }, -0.25);
    metrics_family(&t, "vdetect:odd_values", METRICS_UNTYPED, NULL);
    metrics_sample(&t, "vdetect:odd_values", NULL, NAN);
    metrics_sample(&t, "vdetect:odd_values", NULL, INFINITY);
    metrics_sample(&t, "vdetect:odd_values", NULL, -INFINITY);
    metrics_sample(&t, "vdetect:odd_values", NULL, 1e21);
    metrics_sample(&t, "vdetect:odd_values", NULL, 9007199254740993.0);  /* 2^53 + 1 rounds */
    metrics_sample(&t, "vdetect:odd_values", NULL, 123456789012.0);
    metrics_sample(&t, "vdetect:odd_values", NULL, 1.0 / 3);
    metrics_sample(&t, "vdetect:odd_values", NULL, 5e-324);
    metrics_sample(&t, "vdetect:odd_values", NULL, -0.0);
    metrics_gauge(&t, "g", "", NULL, 2.5);
    metrics_counter(&t, "c_total", "Counted.", (const char *const[]){ "a", "", NULL }, 7);
    const char *want =
        "# HELP vdetect_detections Detections on the last frame.\\nPer class, with a \\\\ and "
        "\"quotes\".\n"
        "# TYPE vdetect_detections gauge\n"
        "vdetect_detections{stream=\"cam0\",class=\"person\"} 3\n"
        "vdetect_detections{stream=\"cam0\",class=\"say \\\"hi\\\"\\\\\\n\"} 0.1\n"
        "vdetect_detections{stream=\"caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!\"} "
        "-0.25\n"
        "# TYPE vdetect:odd_values untyped\n"
        "vdetect:odd_values NaN\n"
        "vdetect:odd_values +Inf\n"
        "vdetect:odd_values -Inf\n"
        "vdetect:odd_values 1e+21\n"
        "vdetect:odd_values 9007199254740992\n"
        "vdetect:odd_values 123456789012\n"
        "vdetect:odd_values 0.3333333333333333\n"
        "vdetect:odd_values 4.94065645841247e-324\n"
        "vdetect:odd_values -0\n"
        "# HELP g \n"
        "# TYPE g gauge\n"
        "g 2.5\n"
        "# HELP c_total Counted.\n"
        "# TYPE c_total counter\n"
        "c_total{a=\"\"} 7\n";
    CHECK(t.len == strlen(want) && !strcmp(buf, want), "builder output\n--- got:\n%s--- want:\n%s",
          buf, want);

    /* a summary from a latency histogram: ms in, seconds out */
    struct lat_hist h;
    lat_hist_init(&h);
    metrics_text_init(&t, buf, sizeof buf);
    metrics_family(&t, "vdetect_latency_seconds", METRICS_SUMMARY, "Capture to result.");
    metrics_summary_ms(&t, "vdetect_latency_seconds", cam0, &h);
    lat_hist_add(&h, 250);
    metrics_summary_ms(&t, "vdetect_latency_seconds",
                       (const char *const[]){ "stream", "cam1", NULL }, &h);
    want = "# HELP vdetect_latency_seconds Capture to result.\n"
           "# TYPE vdetect_latency_seconds summary\n"
           "vdetect_latency_seconds{stream=\"cam0\",quantile=\"0.5\"} NaN\n"
           "vdetect_latency_seconds{stream=\"cam0\",quantile=\"0.9\"} NaN\n"
           "vdetect_latency_seconds{stream=\"cam0\",quantile=\"0.99\"} NaN\n"
           "vdetect_latency_seconds_sum{stream=\"cam0\"} 0\n"
           "vdetect_latency_seconds_count{stream=\"cam0\"} 0\n"
           "vdetect_latency_seconds{stream=\"cam1\",quantile=\"0.5\"} 0.25\n"
           "vdetect_latency_seconds{stream=\"cam1\",quantile=\"0.9\"} 0.25\n"
           "vdetect_latency_seconds{stream=\"cam1\",quantile=\"0.99\"} 0.25\n"
           "vdetect_latency_seconds_sum{stream=\"cam1\"} 0.25\n"
           "vdetect_latency_seconds_count{stream=\"cam1\"} 1\n";
    CHECK(t.len == strlen(want) && !strcmp(buf, want), "summary\n--- got:\n%s--- want:\n%s",
          buf, want);

    /* every capacity: the prefix that fits, the full length counted, not a
     * byte written past cap */
    char full[512];
    metrics_text_init(&t, full, sizeof full);
    metrics_counter(&t, "x_total", "A \"help\".", cam0, 12345);
    size_t flen = t.len;
    CHECK(flen < sizeof full && flen == strlen(full), "full length %zu", flen);
    int ok = 1;
    for (size_t cap = 0; cap <= flen + 1; cap++) {
        char small[600];
        memset(small, '#', sizeof small);
        metrics_text_init(&t, cap ? small : NULL, cap);
        metrics_counter(&t, "x_total", "A \"help\".", cam0, 12345);
        ok &= t.len == flen && t.cap == cap;
        ok &= memcmp(small, full, cap < flen ? cap : flen) == 0;
        if (cap > flen)
            ok &= small[flen] == '\0';
        for (size_t i = cap; i < sizeof small; i++)
            ok &= small[i] == '#';
    }
    CHECK(ok, "truncation at every capacity: prefix kept, length counted, nothing past cap");
}

/* ---- addresses --------------------------------------------------------------------------- */

static void test_addresses(void)
{
    const char *forms = "expected ADDR:PORT, [IPV6]:PORT or :PORT";
    char want[512], addr[64];

    snprintf(want, sizeof want, "metrics: no address given: %s", forms);
    expect_open_error("", want);
    expect_open_error(NULL, want);
    snprintf(want, sizeof want, "metrics localhost: no port: %s", forms);
    expect_open_error("localhost", want);
    expect_open_error("127.0.0.1:", "metrics 127.0.0.1:: no port after ':'");
    expect_open_error("127.0.0.1:65536",
                      "metrics 127.0.0.1:65536: port '65536' is not a number from 0 to 65535");
    expect_open_error("127.0.0.1:090000",
                      "metrics 127.0.0.1:090000: port '090000' is not a number from 0 to 65535");
    expect_open_error("127.0.0.1:-1",
                      "metrics 127.0.0.1:-1: port '-1' is not a number from 0 to 65535");
    expect_open_error(":http", "metrics :http: port 'http' is not a number from 0 to 65535");
    expect_open_error("::1:9100",
                      "metrics ::1:9100: an IPv6 address goes in brackets: [::1]:9100");
    expect_open_error("[::1:9100", "metrics [::1:9100: no ']' after the IPv6 address");
    expect_open_error("[]:9100", "metrics []:9100: no address between '[' and ']'");
    expect_open_error("[::1]9100", "metrics [::1]9100: expected ':PORT' after ']'");
    expect_open_error("[::1]", "metrics [::1]: expected ':PORT' after ']'");
    expect_open_error("[127.0.0.1]:0", "metrics [127.0.0.1]:0: '127.0.0.1' is not an IPv6 address");
    expect_open_error("192.0.2.1:0",
                      "metrics 192.0.2.1:0: 192.0.2.1 is not an address of this machine");
    char longaddr[301];
    memset(longaddr, 'a', 300);
    longaddr[300] = '\0';
    expect_open_error(longaddr, "metrics: an address of 300 bytes is too long (at most 255)");

    /* a port in use: the same address, and every interface */
    struct metrics_server *a = NULL, *b = NULL;
    CHECK(metrics_open(&a, "127.0.0.1:0", render_demo, NULL) == APP_OK && a,
          "open 127.0.0.1:0");
    int port = metrics_port(a);
    CHECK(port > 0 && port < 65536, "a port was chosen: %d", port);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    snprintf(want, sizeof want, "metrics %s: port %d is already in use", addr, port);
    expect_open_error(addr, want);
    snprintf(addr, sizeof addr, ":%d", port);
    snprintf(want, sizeof want, "metrics %s: port %d is already in use", addr, port);
    expect_open_error(addr, want);
    metrics_close(&a);
    CHECK(a == NULL, "close nulls the pointer");
    metrics_close(&a);
    metrics_close(NULL);
    CHECK(metrics_port(NULL) == 0, "port of NULL");

    /* permission: a port below 1024, unless this runs as root (or the
     * system lets everyone bind them) */
    int r = open_captured(&b, "127.0.0.1:1", render_demo, NULL);
    if (r == APP_OK) {
        printf("test_metrics_http: note: port 1 could be bound (root?): permission not tested\n");
        metrics_close(&b);
    } else {
        CHECK(!strcmp(err, "vdetect: metrics 127.0.0.1:1: permission denied (ports below 1024 "
                           "need root or CAP_NET_BIND_SERVICE)\n"), "permission: got %s", err);
    }

    /* every interface, as "PORT" and ":PORT": reachable on 127.0.0.1 (and on
     * ::1 when the machine has IPv6) */
    struct reply rep;
    for (int form = 0; form < 2; form++) {
        CHECK(metrics_open(&b, form ? ":0" : "0", render_demo, NULL) == APP_OK,
              "open every interface (%s)", form ? ":0" : "0");
        port = metrics_port(b);
        exchange(port, "GET /metrics HTTP/1.0\r\n\r\n", &rep);
        CHECK(rep.status == 200 && !strcmp(rep.body, demo_body), "every interface, via IPv4");
        reply_free(&rep);
        int fd6 = connect_to(AF_INET6, port);
        if (fd6 >= 0) {
            close(fd6);
            exchange_family(AF_INET6, port, "GET /metrics HTTP/1.0\r\n\r\n", 25, &rep);
            CHECK(rep.status == 200 && !strcmp(rep.body, demo_body), "every interface, via IPv6");
            reply_free(&rep);
        }
        metrics_close(&b);
    }

    r = open_captured(&b, "[::1]:0", render_demo, NULL);
    if (r != APP_OK) {
        printf("test_metrics_http: note: no IPv6 loopback (%s): [::1] not tested\n",
               strtok(err, "\n"));
    } else {
        exchange_family(AF_INET6, metrics_port(b), "GET /metrics HTTP/1.1\r\n\r\n", 25, &rep);
        CHECK(rep.status == 200 && !strcmp(rep.body, demo_body), "[::1]");
        reply_free(&rep);
        metrics_close(&b);
    }
}

/* ---- requests and answers ------------------------------------------------------------------ */

/* A request with its expected status; the framing checked too. */
static void expect_status(int port, const char *req, int status, const char *what)
{
    struct reply r;
    exchange(port, req, &r);
    CHECK(r.status == status, "%s: status %d, want %d", what, r.status, status);
    CHECK(!strcmp(header(&r, "Connection"), "close"), "%s: Connection: close", what);
    CHECK((size_t)atol(header(&r, "Content-Length")) == r.body_len,
          "%s: Content-Length %s, body %zu bytes", what, header(&r, "Content-Length"),
          r.body_len);
    reply_free(&r);
}

static void test_requests(void)
{
    struct metrics_server *m = NULL;
    CHECK(metrics_open(&m, "127.0.0.1:0", render_demo, NULL) == APP_OK, "open");
    int port = metrics_port(m);
    struct reply r;
    char req[256];

    exchange(port, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n", &r);
    CHECK(r.status == 200, "GET /metrics: status %d", r.status);
    CHECK(!strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17), "status line: %.40s", r.head);
    CHECK(!strcmp(header(&r, "Content-Type"), PROM_TYPE), "content type '%s'",
          header(&r, "Content-Type"));
    CHECK(atol(header(&r, "Content-Length")) == (long)strlen(demo_body), "content length %s",
          header(&r, "Content-Length"));
    CHECK(!strcmp(header(&r, "Connection"), "close"), "Connection: close");
    CHECK(r.body_len == strlen(demo_body) && !strcmp(r.body, demo_body),
          "the body is render()'s\n--- got:\n%s", r.body);
    reply_free(&r);

    /* HTTP/1.0, bare LF line ends, a query, the absolute form */
    const char *same[] = {
        "GET /metrics HTTP/1.0\r\n\r\n",
        "GET /metrics HTTP/1.1\nHost: x\n\n",
        "GET /metrics?debug=1&x[]=2 HTTP/1.1\r\n\r\n",
        "\r\nGET /metrics HTTP/1.1\r\nUser-Agent: Prometheus/2.45.0\r\nX-Empty:\r\n\r\n",
        NULL,
    };
    for (int i = 0; same[i]; i++) {
        exchange(port, same[i], &r);
        CHECK(r.status == 200 && !strcmp(r.body, demo_body), "request %d: status %d", i,
              r.status);
        reply_free(&r);
    }
    snprintf(req, sizeof req, "GET http://127.0.0.1:%d/metrics HTTP/1.1\r\n\r\n", port);
    exchange(port, req, &r);
    CHECK(r.status == 200 && !strcmp(r.body, demo_body), "absolute form: %d", r.status);
    reply_free(&r);

    exchange(port, "GET / HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 200 && strstr(r.body, "href=\"/metrics\"") &&
          !strncmp(header(&r, "Content-Type"), "text/html", 9) &&
          (size_t)atol(header(&r, "Content-Length")) == r.body_len,
          "GET /: %d %s", r.status, r.body);
    reply_free(&r);

    int calls = atomic_load(&demo_calls);
    exchange(port, "HEAD /metrics HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 200 && r.body_len == 0 &&
          atol(header(&r, "Content-Length")) == (long)strlen(demo_body) &&
          !strcmp(header(&r, "Content-Type"), PROM_TYPE),
          "HEAD /metrics: %d, body %zu, length %s", r.status, r.body_len,
          header(&r, "Content-Length"));
    CHECK(atomic_load(&demo_calls) == calls + 1, "HEAD renders (for the length)");
    reply_free(&r);
    exchange(port, "HEAD /nothing HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 404 && r.body_len == 0 && atol(header(&r, "Content-Length")) > 0,
          "HEAD of a 404: no body");
    reply_free(&r);

    expect_status(port, "GET /nothing HTTP/1.1\r\n\r\n", 404, "GET /nothing");
    expect_status(port, "GET /metrics/ HTTP/1.1\r\n\r\n", 404, "GET /metrics/");
    expect_status(port, "GET /metricsx HTTP/1.1\r\n\r\n", 404, "GET /metricsx");
    expect_status(port, "GET /index.html HTTP/1.1\r\n\r\n", 404, "GET /index.html");
    expect_status(port, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nx=1", 405, "POST");
    expect_status(port, "DELETE / HTTP/1.1\r\n\r\n", 405, "DELETE /");
    expect_status(port, "get /metrics HTTP/1.1\r\n\r\n", 405, "lower-case get");
    exchange(port, "PUT /metrics HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 405 && !strcmp(header(&r, "Allow"), "GET, HEAD"), "405 says Allow");
    reply_free(&r);

    /* malformed */
    expect_status(port, "GET\r\n\r\n", 400, "no target");
    expect_status(port, "GET /metrics\r\n\r\n", 400, "HTTP/0.9");
    expect_status(port, "GET  /metrics HTTP/1.1\r\n\r\n", 400, "two spaces");
    expect_status(port, "GET /metrics FTP/1.0\r\n\r\n", 400, "not HTTP");
    expect_status(port, "GET /metrics HTTP/1.1 \r\n\r\n", 400, "space after the version");
    expect_status(port, "GET metrics HTTP/1.1\r\n\r\n", 400, "no leading slash");
    expect_status(port, "GET /metrics HTTP/1.1\r\nNo colon\r\n\r\n", 400, "header without ':'");
    expect_status(port, "GET /metrics HTTP/1.1\r\n Folded: x\r\n\r\n", 400, "folded header");
    expect_status(port, "GET /metrics HTTP/1.1\r\nX: a\rb\r\n\r\n", 400, "bare CR");
    expect_status(port, "GET /metrics HTTP/2.0\r\n\r\n", 505, "HTTP/2.0");
    expect_status(port, "\x01\x02\x03garbage\xff\n\n", 400, "binary garbage");
    static const char nul[] = "GET /metrics HTTP/1.1\r\nX: \0\r\n\r\n";
    exchange_family(AF_INET, port, nul, sizeof nul - 1, &r);
    CHECK(r.status == 400, "a NUL in a header: %d", r.status);
    reply_free(&r);

    /* random bytes ending in an empty line: some answer, never a crash */
    unsigned seed = 17;
    int answered = 0;
    for (int i = 0; i < 40; i++) {
        char junk[300];
        size_t n = (size_t)(rand_r(&seed) % 200);
        for (size_t k = 0; k < n; k++)
            junk[k] = (char)(rand_r(&seed) % 256);
        if (i % 2)   /* half of them start like a request */
            memcpy(junk, "GET / HTTP/1.1\r\n", n < 16 ? n : 16);
        memcpy(junk + n, "\r\n\r\n", 4);
        exchange_family(AF_INET, port, junk, n + 4, &r);
        answered += r.status == 400 || r.status == 404 || r.status == 405 || r.status == 505 ||
                    r.status == 200;
        reply_free(&r);
    }
    CHECK(answered == 40, "random requests answered: %d of 40", answered);

    /* cut short: the client shuts its side in the middle of a request */
    int fd = connect_to(AF_INET, port);
    send_bytes(fd, "GET /metr", 9);
    shutdown(fd, SHUT_WR);
    read_reply(fd, &r);
    close(fd);
    CHECK(r.status == 400, "request cut by a half-close: %d", r.status);
    reply_free(&r);

    /* half-closed after a whole request: still answered */
    fd = connect_to(AF_INET, port);
    send_bytes(fd, "GET /metrics HTTP/1.1\r\n\r\n", 25);
    shutdown(fd, SHUT_WR);
    read_reply(fd, &r);
    close(fd);
    CHECK(r.status == 200 && !strcmp(r.body, demo_body), "half-closed client: %d", r.status);
    reply_free(&r);

    /* oversized: headers and request line over 8 KiB, and 100 KiB of it */
    size_t big = 100 * 1024;
    char *huge = malloc(big + 64);
    for (int k = 0; k < 3; k++) {
        size_t pad = k == 2 ? big : 10000;
        size_t n;
        if (k == 1) {   /* the request line alone */
            n = (size_t)sprintf(huge, "GET /");
            memset(huge + n, 'a', pad);
            n += pad;
            n += (size_t)sprintf(huge + n, " HTTP/1.1\r\n\r\n");
        } else {
            n = (size_t)sprintf(huge, "GET /metrics HTTP/1.1\r\nX-Pad: ");
            memset(huge + n, 'a', pad);
            n += pad;
            n += (size_t)sprintf(huge + n, "\r\n\r\n");
        }
        exchange_family(AF_INET, port, huge, n, &r);
        CHECK(r.status == 431, "oversized request %d: status %d", k, r.status);
        reply_free(&r);
    }
    free(huge);

    /* clients that vanish: connect and close, reset, close before reading */
    for (int k = 0; k < 3; k++) {
        fd = connect_to(AF_INET, port);
        if (k >= 1)
            send_bytes(fd, "GET /metrics HTTP/1.1\r\n\r\n", 25);
        if (k == 2) {
            struct linger l = { .l_onoff = 1, .l_linger = 0 };   /* close with a reset */
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        }
        close(fd);
    }
    exchange(port, "GET /metrics HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 200 && !strcmp(r.body, demo_body), "after vanishing clients: %d", r.status);
    reply_free(&r);

    /* 200 in a row */
    calls = atomic_load(&demo_calls);
    int ok = 0;
    int64_t t0 = now_ms();
    for (int i = 0; i < 200; i++) {
        exchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r);
        ok += r.status == 200 && !strcmp(r.body, demo_body);
        reply_free(&r);
    }
    CHECK(ok == 200, "200 requests in a row: %d right", ok);
    CHECK(atomic_load(&demo_calls) == calls + 200, "one render per request");
    printf("test_metrics_http: 200 requests in %lld ms\n", (long long)(now_ms() - t0));

    metrics_close(&m);
}

/* ---- slow clients and closing ------------------------------------------------------------ */

static void test_slow_clients(void)
{
    struct metrics_server *m = NULL;
    CHECK(metrics_open(&m, "127.0.0.1:0", render_demo, NULL) == APP_OK, "open");
    int port = metrics_port(m);
    struct reply r;

    /* a silent client: the next one waits for its 2 s, no longer */
    int silent = connect_to(AF_INET, port);
    sleep_ms(50);
    int64_t t0 = now_ms();
    exchange(port, "GET /metrics HTTP/1.1\r\n\r\n", &r);
    int64_t dt = now_ms() - t0;
    CHECK(r.status == 200 && !strcmp(r.body, demo_body), "answered after a silent client: %d",
          r.status);
    CHECK(dt < 3000, "answered within 3 s of a silent client: %lld ms", (long long)dt);
    reply_free(&r);
    char c;
    ssize_t got = recv(silent, &c, 1, 0);
    CHECK(got == 0, "the silent client was closed, no answer: recv %zd", got);
    close(silent);

    /* a trickling client: closed ~2 s after it connected, however it trickles */
    int fd = connect_to(AF_INET, port);
    const char *req = "GET /metrics HTTP/1.1\r\nHost: trickle\r\n\r\n";
    t0 = now_ms();
    int64_t closed_at = -1;
    int data = 0;
    for (size_t i = 0; req[i] && now_ms() - t0 < 6000; i++) {
        send(fd, req + i, 1, MSG_NOSIGNAL);
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 200) > 0) {
            got = recv(fd, &c, 1, 0);
            data = got > 0;
            closed_at = now_ms() - t0;
            break;
        }
    }
    CHECK(closed_at >= 1500 && closed_at <= 3000 && !data,
          "a trickling client is dropped after ~2 s: at %lld ms, %s", (long long)closed_at,
          data ? "with an answer" : "no answer");
    close(fd);
    exchange(port, "GET /metrics HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 200, "answered after the trickling client: %d", r.status);
    reply_free(&r);

    /* close with a client connected: at once; the client sees the end */
    fd = connect_to(AF_INET, port);
    send_bytes(fd, "GET /metr", 9);
    sleep_ms(100);
    t0 = now_ms();
    metrics_close(&m);
    dt = now_ms() - t0;
    CHECK(dt < 200 && m == NULL, "close with a client connected: %lld ms", (long long)dt);
    got = recv(fd, &c, 1, 0);
    CHECK(got <= 0, "the client's connection ended: recv %zd", got);
    close(fd);
    CHECK(connect_to(AF_INET, port) < 0, "nothing listens after close");

    /* idle close */
    CHECK(metrics_open(&m, "127.0.0.1:0", render_demo, NULL) == APP_OK, "open again");
    sleep_ms(50);
    t0 = now_ms();
    metrics_close(&m);
    CHECK(now_ms() - t0 < 200, "idle close: %lld ms", (long long)(now_ms() - t0));
}

/* ---- bodies larger than the buffer --------------------------------------------------------- */

static void test_big_bodies(void)
{
    struct pattern p;
    atomic_init(&p.size, (size_t)1 << 20);
    atomic_init(&p.greedy, 0);
    atomic_init(&p.calls, 0);
    atomic_init(&p.first_cap, 0);
    struct metrics_server *m = NULL;
    CHECK(metrics_open(&m, "127.0.0.1:0", render_pattern, &p) == APP_OK, "open");
    int port = metrics_port(m);
    struct reply r;

    exchange(port, "GET /metrics HTTP/1.1\r\n\r\n", &r);
    size_t first = atomic_load(&p.first_cap);
    CHECK(first > 0 && first < ((size_t)1 << 20), "the first buffer is smaller: %zu", first);
    CHECK(atomic_load(&p.calls) == 2, "render called again with room: %d calls",
          atomic_load(&p.calls));
    CHECK(r.status == 200 && r.body_len == (size_t)1 << 20 && is_pattern(r.body, r.body_len),
          "1 MiB body: %d, %zu bytes", r.status, r.body_len);
    reply_free(&r);
    exchange(port, "GET /metrics HTTP/1.1\r\n\r\n", &r);
    CHECK(atomic_load(&p.calls) == 3, "the grown buffer is kept: %d calls",
          atomic_load(&p.calls));
    CHECK(r.status == 200 && r.body_len == (size_t)1 << 20 && is_pattern(r.body, r.body_len),
          "1 MiB again");
    reply_free(&r);

    /* a render that always wants more: given up after a few tries */
    atomic_store(&p.greedy, 1);
    int calls = atomic_load(&p.calls);
    exchange(port, "GET /metrics HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 500 && atomic_load(&p.calls) - calls == 4,
          "greedy render: %d after %d calls", r.status, atomic_load(&p.calls) - calls);
    reply_free(&r);
    atomic_store(&p.greedy, 0);

    /* exactly 4 MiB: served; a byte more: 500 and one note */
    atomic_store(&p.size, (size_t)4 << 20);
    exchange(port, "GET /metrics HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 200 && r.body_len == (size_t)4 << 20 && is_pattern(r.body, r.body_len),
          "4 MiB body: %d, %zu bytes", r.status, r.body_len);
    reply_free(&r);

    /* a client that leaves in the middle of a 4 MiB answer */
    int fd = connect_to(AF_INET, port);
    int rcv = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    send_bytes(fd, "GET /metrics HTTP/1.1\r\n\r\n", 25);
    char some[1000];
    CHECK(recv(fd, some, sizeof some, 0) > 0, "the answer starts");
    struct linger l = { .l_onoff = 1, .l_linger = 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);

    atomic_store(&p.size, ((size_t)4 << 20) + 1);
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    exchange(port, "GET /metrics HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 500, "over 4 MiB: status %d", r.status);
    reply_free(&r);
    exchange(port, "GET /metrics HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 500, "over 4 MiB again: status %d", r.status);
    reply_free(&r);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(err, 1, sizeof err - 1, tmp);
    err[n] = '\0';
    fclose(tmp);
    char want[256];
    snprintf(want, sizeof want,
             "vdetect: warning: metrics 127.0.0.1:0: the metrics need %zu bytes, over the "
             "limit of %zu: answering 500\n", ((size_t)4 << 20) + 1, (size_t)4 << 20);
    CHECK(!strcmp(err, want), "one note for the oversized body\n  got:  %s  want: %s", err, want);

    atomic_store(&p.size, 100);
    exchange(port, "HEAD /metrics HTTP/1.1\r\n\r\n", &r);
    CHECK(r.status == 200 && atol(header(&r, "Content-Length")) == 100 && r.body_len == 0,
          "and back to normal");
    reply_free(&r);
    metrics_close(&m);
}

int main(void)
{
    atomic_init(&demo_calls, 0);
    test_builder();
    test_addresses();
    test_requests();
    test_big_bodies();
    test_slow_clients();
    return check_summary("test_metrics_http");
}
