/*
 * test_publish.c — publish/: the broker URL (good ones, and bad ones with their
 * exact error lines, none repeating a password), the options' checks, and
 * publish_send with no broker (10000 sends never wait, the overflow is dropped
 * and counted, publish_close keeps its time). Then against a real mosquitto
 * started here on a free port of 127.0.0.1, watched by mosquitto_sub:
 *
 *   - "online" is retained on connect; 200 messages arrive in order;
 *     publish_close leaves "offline" retained;
 *   - the broker stopped (SIGTERM) and started again mid-stream: the publisher
 *     reconnects (connects == 2), the queue_max newest messages of the outage
 *     arrive in order after it, the older ones are dropped and counted exactly;
 *   - the broker frozen (SIGSTOP) with messages in flight, then killed: what was
 *     in flight goes back to the queue and arrives, in order, after a restart;
 *   - a publishing process killed with SIGKILL: the broker publishes its will,
 *     "offline", retained.
 *
 * The broker keeps its state in a file (persistence) so that the subscriber's
 * session survives the restarts: messages published before mosquitto_sub is
 * back are queued for it, not lost to the test. Without mosquitto and
 * mosquitto_sub the broker part is skipped with a SKIP line.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../publish/publish.h"
#include "check.h"

extern char **environ;

/* ---- helpers ---------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
    struct timespec t = { (time_t)s, (long)((s - floor(s)) * 1e9) };
    while (nanosleep(&t, &t) < 0 && errno == EINTR) {
    }
}

/* The path of program name in $PATH or the sbin directories (mosquitto is in
 * /usr/sbin, often not in a user's PATH); 0 or -1. */
static int find_program(const char *name, char *out, size_t cap)
{
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/usr/local/sbin:/sbin",
             getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/%s", d, name);
        if (access(out, X_OK) == 0)
            return 0;
    }
    return -1;
}

/* The process's open file descriptors (sockets and pipes leak there first). */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* A socket bound to a free port of 127.0.0.1 (listening when backlog > 0): the
 * socket, with the port in *port, or -1. */
static int bound_socket(int *port, int backlog)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t n = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(s, (struct sockaddr *)&a, &n) < 0 || (backlog > 0 && listen(s, backlog) < 0)) {
        if (s >= 0)
            close(s);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return s;
}

/* Two different TCP ports of 127.0.0.1 that nothing listens on (just now). */
static void free_ports(int *a, int *b)
{
    int sa = bound_socket(a, 0), sb = bound_socket(b, 0);
    if (sa >= 0)
        close(sa);
    if (sb >= 0)
        close(sb);
}

static int port_open(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0)
        close(s);
    return ok;
}

/* Start argv with stdout on out_fd and stderr on err_fd (-1: inherited). */
static pid_t spawn(char *const argv[], int out_fd, int err_fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    if (err_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    pid_t pid;
    int e = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return e ? -1 : pid;
}

/* Send sig to pid and reap it; SIGKILL when it has not ended within 5 s.
 * (mosquitto_sub's SIGTERM handler calls into libmosquitto and can deadlock,
 * so the subscribers are stopped with SIGKILL.) */
static void stop(pid_t pid, int sig)
{
    if (pid <= 0)
        return;
    kill(pid, sig);
    for (double end = now_s() + 5; now_s() < end; sleep_s(0.01))
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* A child's stdout, read line by line. */
struct lines {
    pid_t pid;
    int fd;
    char buf[16384];
    size_t n;
};

static int lines_start(struct lines *l, char *const argv[], int err_fd)
{
    int fds[2];
    l->n = 0;
    l->fd = -1;
    l->pid = -1;
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    l->pid = spawn(argv, fds[1], err_fd);
    close(fds[1]);
    l->fd = fds[0];
    return l->pid > 0 ? 0 : -1;
}

/* The next line (without its newline) into line: 1, or 0 when none came within
 * timeout_s or the child's output ended. */
static int lines_next(struct lines *l, char *line, size_t cap, double timeout_s)
{
    double end = now_s() + timeout_s;
    for (;;) {
        char *nl = memchr(l->buf, '\n', l->n);
        if (nl) {
            size_t k = (size_t)(nl - l->buf);
            snprintf(line, cap, "%.*s", (int)k, l->buf);
            memmove(l->buf, nl + 1, l->n - k - 1);
            l->n -= k + 1;
            return 1;
        }
        double left = end - now_s();
        if (left <= 0 || l->n == sizeof l->buf)
            return 0;
        struct pollfd pfd = { .fd = l->fd, .events = POLLIN };
        if (poll(&pfd, 1, (int)ceil(left * 1000)) <= 0)
            continue;
        ssize_t r = read(l->fd, l->buf + l->n, sizeof l->buf - l->n);
        if (r <= 0)
            return 0;
        l->n += (size_t)r;
    }
}

static void lines_stop(struct lines *l, int sig)
{
    stop(l->pid, sig);
    if (l->fd >= 0)
        close(l->fd);
    l->pid = -1;
    l->fd = -1;
}

/* Poll p's stats until ok(s, arg) or timeout_s; the last stats in *s. */
static int wait_stats(struct publisher *p, struct publish_stats *s,
                      int (*ok)(const struct publish_stats *, long), long arg, double timeout_s)
{
    double end = now_s() + timeout_s;
    for (;;) {
        publish_get_stats(p, s);
        if (ok(s, arg))
            return 1;
        if (now_s() > end)
            return 0;
        sleep_s(0.01);
    }
}

static int is_connected(const struct publish_stats *s, long connects)
{
    return s->connected && s->connects == connects;
}

static int is_down(const struct publish_stats *s, long disconnects)
{
    return !s->connected && s->disconnects == disconnects;
}

static int all_sent(const struct publish_stats *s, long sent)
{
    return s->sent == sent && s->queue_len == 0 && s->in_flight == 0;
}

static int has_error(const struct publish_stats *s, long unused)
{
    (void)unused;
    return s->last_error[0] != '\0';
}

/* ---- the broker URL ------------------------------------------------------------ */

static void url_ok(const char *url, const char *host, int port, const char *prefix,
                   const char *user, const char *pass)
{
    struct publish_url u;
    char msg[256] = "";
    int rc = publish_parse_url(url, &u, msg, sizeof msg);
    CHECK(rc == 0, "%s: refused (%s)", url, msg);
    if (rc == 0)
        CHECK(strcmp(u.host, host) == 0 && u.port == port && strcmp(u.prefix, prefix) == 0 &&
                  strcmp(u.user, user) == 0 && strcmp(u.pass, pass) == 0,
              "%s: host '%s' port %d prefix '%s' user '%s' pass '%s'", url, u.host, u.port,
              u.prefix, u.user, u.pass);
}

static void url_bad(const char *url, const char *want)
{
    struct publish_url u;
    memset(&u, 0x5a, sizeof u);
    char msg[256] = "";
    int rc = publish_parse_url(url, &u, msg, sizeof msg);
    CHECK(rc == -1 && strcmp(msg, want) == 0, "%.80s: rc %d, message\n  '%s', want\n  '%s'",
          url ? url : "(null)", rc, msg, want);
    int untouched = 1;
    for (size_t i = 0; i < sizeof u; i++)
        untouched &= ((unsigned char *)&u)[i] == 0x5a;
    CHECK(untouched, "%.80s: *u changed on error", url ? url : "(null)");
    CHECK(!strstr(msg, "secret"), "%.80s: the message shows the password: %s", url ? url : "", msg);
}

static void test_url(void)
{
    url_ok("mqtt://localhost", "localhost", 1883, "vdetect", "", "");
    url_ok("mqtt://broker.lan:1884/frigate", "broker.lan", 1884, "frigate", "", "");
    url_ok("MQTT://u:p@10.0.0.2:1/a/b", "10.0.0.2", 1, "a/b", "u", "p");
    url_ok("mqtt://user@host", "host", 1883, "vdetect", "user", "");
    url_ok("mqtt://user:@host", "host", 1883, "vdetect", "user", "");
    url_ok("mqtt://us%40er:p%3Aa@ss:w@my-host_1:65535/x", "my-host_1", 65535, "x", "us@er",
           "p:a@ss:w");
    url_ok("mqtt://u:p%2Fw%25@host", "host", 1883, "vdetect", "u", "p/w%");
    url_ok("mqtt://[::1]:1885/v", "::1", 1885, "v", "", "");
    url_ok("mqtt://[fe80::1%eth0]", "fe80::1%eth0", 1883, "vdetect", "", "");
    url_ok("mqtt://host/", "host", 1883, "vdetect", "", "");
    url_ok("mqtt://host/caf\xc3\xa9 cam/2", "host", 1883, "caf\xc3\xa9 cam/2", "", "");

    const char *form = "mqtt://[user[:pass]@]host[:port][/prefix]";
    char want[512];
    snprintf(want, sizeof want, "publish: no broker URL (%s)", form);
    url_bad(NULL, want);
    url_bad("", want);
    snprintf(want, sizeof want, "publish: the broker URL must look like %s", form);
    url_bad("localhost:1883", want);
    url_bad("user:secret@host/a://b", want);
    url_bad("://host", want);
    url_bad("mqtts://host", "publish: mqtts:// (MQTT over TLS) is not supported; use mqtt://");
    url_bad("http://host", "publish: broker URL scheme 'http' is not mqtt");
    url_bad("mqtt://", "publish: the broker URL has no host");
    url_bad("mqtt://:1883", "publish: the broker URL has no host");
    url_bad("mqtt://u:secret@", "publish: the broker URL has no host");
    url_bad("mqtt://u:secret@/pfx", "publish: the broker URL has no host");
    url_bad("mqtt://@host", "publish: the broker URL has an empty user name");
    url_bad("mqtt://:secret@host", "publish: the broker URL has an empty user name");
    url_bad("mqtt://u:secret%zz@host", "publish: the broker URL's password has a bad %-escape");
    url_bad("mqtt://u:secret%4@host", "publish: the broker URL's password has a bad %-escape");
    url_bad("mqtt://u%00:secret@host", "publish: the broker URL's user name has a bad %-escape");
    char url[1024];
    snprintf(url, sizeof url, "mqtt://%0128d:secret@host", 7);
    url_bad(url, "publish: the broker URL's user name is longer than 127 bytes");
    snprintf(url, sizeof url, "mqtt://u:secret%0122d@host", 7);
    url_bad(url, "publish: the broker URL's password is longer than 127 bytes");
    url_bad("mqtt://host:0", "publish: broker port '0' is not a number in [1, 65535]");
    url_bad("mqtt://host:65536", "publish: broker port '65536' is not a number in [1, 65535]");
    url_bad("mqtt://host:", "publish: broker port '' is not a number in [1, 65535]");
    url_bad("mqtt://host:12x/a", "publish: broker port '12x' is not a number in [1, 65535]");
    url_bad("mqtt://host:-1", "publish: broker port '-1' is not a number in [1, 65535]");
    url_bad("mqtt://host:99999999999999999999",
            "publish: broker port '9999999999999999' is not a number in [1, 65535]");
    url_bad("mqtt://ho st", "publish: broker host 'ho st' has a character that is not a letter, "
                            "digit, '.', '-' or '_'");
    url_bad("mqtt://u:secret@ho%st", "publish: broker host 'ho%st' has a character that is not "
                                     "a letter, digit, '.', '-' or '_'");
    url_bad("mqtt://[::1", "publish: broker host '[::1' lacks its closing ']'");
    url_bad("mqtt://[::1]x", "publish: broker host '[::1]x' has something after ']' that is not :port");
    url_bad("mqtt://[::1]:", "publish: broker port '' is not a number in [1, 65535]");
    url_bad("mqtt://[]", "publish: the broker URL has no host");
    snprintf(url, sizeof url, "mqtt://%0256d", 7);
    url_bad(url, "publish: broker host is longer than 255 bytes");
    snprintf(url, sizeof url, "mqtt://%0255d", 7);
    struct publish_url u;
    CHECK(publish_parse_url(url, &u, NULL, 0) == 0 && strlen(u.host) == 255,
          "a 255-byte host is accepted");
    url_bad("mqtt://host/a/#", "publish: topic prefix 'a/#' has an MQTT wildcard (+ or #)");
    url_bad("mqtt://host/a+b", "publish: topic prefix 'a+b' has an MQTT wildcard (+ or #)");
    url_bad("mqtt://host/a/", "publish: topic prefix 'a/' starts or ends with '/' or has an empty level");
    url_bad("mqtt://host//a", "publish: topic prefix '/a' starts or ends with '/' or has an empty level");
    url_bad("mqtt://host/a//b", "publish: topic prefix 'a//b' starts or ends with '/' or has an empty level");
    url_bad("mqtt://host/a\x01", "publish: topic prefix 'a\x01' is not UTF-8 or has a control character");
    url_bad("mqtt://host/a\xff", "publish: topic prefix 'a\xff' is not UTF-8 or has a control character");
    snprintf(url, sizeof url, "mqtt://host/%0256d", 7);
    url_bad(url, "publish: topic prefix is longer than 255 bytes");
    CHECK(publish_parse_url("nope", &u, NULL, 0) == -1, "a NULL message buffer is accepted");
}

/* ---- the options ----------------------------------------------------------------- */

static void open_bad(const struct publish_options *o, const char *want)
{
    struct publisher *p = (struct publisher *)&p;   /* not NULL, to see it nulled */
    char msg[256] = "";
    int rc = publish_open(&p, o, msg, sizeof msg);
    CHECK(rc == -1 && p == NULL && strncmp(msg, want, strlen(want)) == 0,
          "open: rc %d, message\n  '%s', want\n  '%s'", rc, msg, want);
    if (rc == 0)
        publish_close(&p, 0);
}

static void test_options(int port)
{
    char url[64];
    snprintf(url, sizeof url, "mqtt://127.0.0.1:%d/pfx", port);
    open_bad(NULL, "publish: no options");
    open_bad(&(struct publish_options){ 0 },
             "publish: no broker URL (mqtt://[user[:pass]@]host[:port][/prefix])");
    open_bad(&(struct publish_options){ .url = "mqtts://h" },
             "publish: mqtts:// (MQTT over TLS) is not supported; use mqtt://");
    open_bad(&(struct publish_options){ .url = url, .queue_max = -1 },
             "publish: queue_max -1 is not in [1, 10000000] (0: 1000)");
    open_bad(&(struct publish_options){ .url = url, .queue_max = 10000001 },
             "publish: queue_max 10000001 is not in [1, 10000000] (0: 1000)");
    open_bad(&(struct publish_options){ .url = url, .keepalive = 4 },
             "publish: keepalive 4 s is not in [5, 65535] (0: 30)");
    open_bad(&(struct publish_options){ .url = url, .keepalive = -30 },
             "publish: keepalive -30 s is not in [5, 65535] (0: 30)");
    open_bad(&(struct publish_options){ .url = url, .keepalive = 65536 },
             "publish: keepalive 65536 s is not in [5, 65535] (0: 30)");
    open_bad(&(struct publish_options){ .url = url, .retry_min = -1 },
             "publish: retry_min -1 s is not in [0.01, 3600] (0: 1)");
    open_bad(&(struct publish_options){ .url = url, .retry_min = 0.001 },
             "publish: retry_min 0.001 s is not in [0.01, 3600] (0: 1)");
    open_bad(&(struct publish_options){ .url = url, .retry_min = NAN }, "publish: retry_min ");
    open_bad(&(struct publish_options){ .url = url, .retry_max = 4000 },
             "publish: retry_max 4000 s is not in [0.01, 3600] (0: 30)");
    open_bad(&(struct publish_options){ .url = url, .retry_max = INFINITY }, "publish: retry_max ");
    open_bad(&(struct publish_options){ .url = url, .retry_min = 60 },
             "publish: retry_max 30 s is below retry_min 60 s");
    open_bad(&(struct publish_options){ .url = url, .retry_min = 2, .retry_max = 1 },
             "publish: retry_max 1 s is below retry_min 2 s");
    open_bad(&(struct publish_options){ .url = url, .qos0 = 2 }, "publish: qos0 2 is not 0 or 1");
    open_bad(&(struct publish_options){ .url = url, .availability = "" },
             "publish: availability suffix '' is empty");
    open_bad(&(struct publish_options){ .url = url, .availability = "a/#" },
             "publish: availability suffix 'a/#' has an MQTT wildcard (+ or #)");
    open_bad(&(struct publish_options){ .url = url, .availability = "/a" },
             "publish: availability suffix '/a' starts or ends with '/' or has an empty level");
    const char *cid = "publish: client_id must be 1 to 1024 bytes of UTF-8 without control characters";
    open_bad(&(struct publish_options){ .url = url, .client_id = "" }, cid);
    open_bad(&(struct publish_options){ .url = url, .client_id = "a\nb" }, cid);

    /* good options open at once, with or without a broker, and close at once
     * when there is nothing to flush */
    struct publisher *p = NULL;
    char msg[256] = "";
    double t0 = now_s();
    int rc = publish_open(&p, &(struct publish_options){ .url = url }, msg, sizeof msg);
    CHECK(rc == 0 && p, "default options refused: %s", msg);
    struct publish_stats s;
    if (p) {
        publish_get_stats(p, &s);
        CHECK(s.queued == 0 && s.sent == 0 && s.dropped == 0 && s.connects == 0 && !s.connected,
              "fresh stats");
    }
    publish_close(&p, 5.0);
    CHECK(p == NULL, "publish_close nulls the pointer");
    CHECK(now_s() - t0 < 1.0, "open and close with an empty queue took %.2f s", now_s() - t0);
    publish_close(&p, 1.0);    /* twice: a no-op */
    publish_close(NULL, 1.0);

    /* libmosquitto ignores SIGPIPE process-wide when it makes a client; we do not */
    struct sigaction sa;
    sigaction(SIGPIPE, NULL, &sa);
    CHECK(sa.sa_handler == SIG_DFL, "SIGPIPE's disposition is left alone by publish_open");
}

/* ---- no broker: sends never wait ----------------------------------------------------- */

static void test_no_broker(int port)
{
    char url[64];
    snprintf(url, sizeof url, "mqtt://127.0.0.1:%d/pfx", port);
    struct publisher *p = NULL;
    char msg[256] = "";
    int fds = open_fds();
    int rc = publish_open(&p, &(struct publish_options){ .url = url, .retry_min = 0.05,
                                                          .retry_max = 0.2 },
                          msg, sizeof msg);
    CHECK(rc == 0, "open: %s", msg);
    if (rc)
        return;
    char payload[100];
    memset(payload, 'x', sizeof payload);
    double worst = 0, t0 = now_s();
    int fails = 0;
    for (int i = 0; i < 10000; i++) {
        double t = now_s();
        fails += publish_send(p, "event", payload, sizeof payload, 0) != 0;
        if (now_s() - t > worst)
            worst = now_s() - t;
    }
    double total = now_s() - t0;
    printf("10000 sends with no broker: %.1f ms in all, the slowest %.3f ms\n", total * 1e3,
           worst * 1e3);
    CHECK(fails == 0, "%d sends refused", fails);
    CHECK(worst < 0.1 && total < 2.0, "sends waited: the slowest %.3f s, %.3f s in all", worst,
          total);
    struct publish_stats s;
    publish_get_stats(p, &s);
    CHECK(s.queued == 10000 && s.dropped == 9000 && s.queue_len == 1000 && s.queue_peak == 1000 &&
              s.sent == 0 && s.in_flight == 0 && !s.connected && s.connects == 0,
          "queued %ld dropped %ld queue_len %d peak %d sent %ld connected %d", s.queued,
          s.dropped, s.queue_len, s.queue_peak, s.sent, s.connected);

    char want[128];
    snprintf(want, sizeof want, "connect to 127.0.0.1:%d: Connection refused", port);
    wait_stats(p, &s, has_error, 0, 3.0);
    CHECK(strcmp(s.last_error, want) == 0 && s.last_error_time > 1.6e9,
          "last_error '%s' at %.0f, want '%s'", s.last_error, s.last_error_time, want);

    /* refused messages: counted, the reason in last_error */
    CHECK(publish_send(p, "a/#", "x", 1, 0) == -1, "a wildcard suffix is refused");
    publish_get_stats(p, &s);
    CHECK(strcmp(s.last_error, "topic suffix 'a/#' has an MQTT wildcard (+ or #)") == 0,
          "last_error '%s'", s.last_error);
    CHECK(publish_send(p, "", "x", 1, 0) == -1, "an empty suffix is refused");
    CHECK(publish_send(p, NULL, "x", 1, 0) == -1, "a NULL suffix is refused");
    CHECK(publish_send(p, "a//b", "x", 1, 0) == -1, "an empty level is refused");
    CHECK(publish_send(p, "ok", NULL, 5, 0) == -1, "no payload for 5 bytes is refused");
    CHECK(publish_send(p, "ok", NULL, (size_t)300 << 20, 0) == -1, "300 MB is refused");
    publish_get_stats(p, &s);
    CHECK(strcmp(s.last_error, "a payload of 314572800 bytes is too large for MQTT") == 0,
          "last_error '%s'", s.last_error);
    CHECK(publish_send(p, "ok", NULL, 0, 1) == 0, "an empty payload is queued");
    publish_get_stats(p, &s);
    CHECK(s.queued == 10007 && s.dropped == 9007 && s.queue_len == 1000,
          "queued %ld dropped %ld queue_len %d", s.queued, s.dropped, s.queue_len);
    CHECK(s.queued == s.sent + s.dropped + s.queue_len + s.in_flight, "the counts add up");

    /* retries keep going (every 0.2 s at most): close waits out flush_s, no more */
    t0 = now_s();
    publish_close(&p, 0.6);
    double took = now_s() - t0;
    CHECK(took >= 0.3 && took < 1.6, "publish_close(0.6) with no broker took %.2f s", took);

    /* with the next retry due after the deadline, close does not wait for it */
    rc = publish_open(&p, &(struct publish_options){ .url = url, .retry_min = 30 }, msg,
                      sizeof msg);
    CHECK(rc == 0, "open: %s", msg);
    publish_send(p, "event", "x", 1, 0);
    wait_stats(p, &s, has_error, 0, 3.0);
    t0 = now_s();
    publish_close(&p, 10);
    took = now_s() - t0;
    CHECK(took < 1.0, "publish_close(10) with no retry due took %.2f s", took);
    CHECK(open_fds() == fds, "%d file descriptors open after the reconnects, %d before",
          open_fds(), fds);
}

/* ---- a broker that accepts the connection and never answers --------------------------- */

static void test_silent_broker(void)
{
    int port;
    int ls = bound_socket(&port, 8);   /* the kernel accepts; nobody reads */
    CHECK(ls >= 0, "no listening socket");
    if (ls < 0)
        return;
    char url[64], msg[256], want[128];
    snprintf(url, sizeof url, "mqtt://127.0.0.1:%d/pfx", port);
    struct publish_stats s;

    /* an attempt in progress and nothing queued: close does not wait for it */
    struct publisher *p = NULL;
    int rc = publish_open(&p, &(struct publish_options){ .url = url }, msg, sizeof msg);
    CHECK(rc == 0, "open: %s", msg);
    sleep_s(0.2);
    double t0 = now_s();
    publish_close(&p, 5);
    CHECK(now_s() - t0 < 0.5, "close with an empty queue during an attempt took %.2f s",
          now_s() - t0);

    /* something queued: close waits for the attempt, flush_s at most */
    rc = publish_open(&p, &(struct publish_options){ .url = url }, msg, sizeof msg);
    CHECK(rc == 0, "open: %s", msg);
    publish_send(p, "event", "1", 1, 0);
    sleep_s(0.2);
    t0 = now_s();
    publish_close(&p, 0.5);
    double took = now_s() - t0;
    CHECK(took >= 0.4 && took < 1.5, "close(0.5) during an attempt took %.2f s", took);

    /* the attempt gives up after keepalive seconds */
    rc = publish_open(&p, &(struct publish_options){ .url = url, .keepalive = 5, .retry_min = 60,
                                                      .retry_max = 60 },
                      msg, sizeof msg);
    CHECK(rc == 0, "open: %s", msg);
    publish_send(p, "event", "1", 1, 0);
    sleep_s(0.5);
    publish_get_stats(p, &s);
    CHECK(!s.connected && s.connects == 0 && s.last_error[0] == '\0',
          "during the attempt: connected %d, last_error '%s'", s.connected, s.last_error);
    wait_stats(p, &s, has_error, 0, 8.0);
    snprintf(want, sizeof want, "connect to 127.0.0.1:%d: no answer in 5 s", port);
    CHECK(strcmp(s.last_error, want) == 0, "last_error '%s', want '%s'", s.last_error, want);
    CHECK(s.queue_len == 1 && s.connects == 0, "queue_len %d connects %ld", s.queue_len,
          s.connects);
    t0 = now_s();
    publish_close(&p, 5);
    CHECK(now_s() - t0 < 0.5, "close with the next retry a minute away took %.2f s",
          now_s() - t0);
    close(ls);
}

/* ---- against a broker ----------------------------------------------------------------- */

struct broker {
    char exe[512], sub_exe[512], passwd_exe[512];
    char dir[256], conf[300], log[300], passwd[300];
    int port;
    int auth_port;     /* a second listener: users of the password file only */
    pid_t pid;
    int log_fd;
};

static int broker_start(struct broker *b)
{
    char *argv[] = { b->exe, "-c", b->conf, NULL };
    b->pid = spawn(argv, b->log_fd, b->log_fd);
    for (double end = now_s() + 5; b->pid > 0 && now_s() < end; sleep_s(0.02))
        if (port_open(b->port))
            return 0;
    return -1;
}

/* The retained message of topic as "RETAIN|PAYLOAD" ("" when there is none). */
static void retained(struct broker *b, const char *topic, char *out, size_t cap)
{
    char port[16];
    snprintf(port, sizeof port, "%d", b->port);
    char *argv[] = { b->sub_exe, "-h", "127.0.0.1", "-p", port, "-t", (char *)topic, "-C", "1",
                     "-F", "%r|%p", NULL };
    struct lines l;
    out[0] = '\0';
    if (lines_start(&l, argv, b->log_fd) == 0 && !lines_next(&l, out, cap, 3.0))
        out[0] = '\0';
    lines_stop(&l, SIGKILL);
}

/* Read sub's lines until one equals want: 1, or 0 after timeout_s. */
static int expect_line(struct lines *sub, const char *want, double timeout_s)
{
    char line[512];
    double end = now_s() + timeout_s;
    while (now_s() < end)
        if (lines_next(sub, line, sizeof line, end - now_s()) && strcmp(line, want) == 0)
            return 1;
    return 0;
}

/* Read sub's lines of topic pfx/NAME (payload: an index) until the index last
 * arrives; checks they come in order, each once, and are first..last. */
static void expect_run(struct lines *sub, const char *name, int first, int last, double timeout_s)
{
    char prefix[64], line[512];
    snprintf(prefix, sizeof prefix, "0|pfx/%s|", name);
    size_t pl = strlen(prefix);
    int next = first, bad = 0, got = 0;
    double end = now_s() + timeout_s;
    while (next <= last && now_s() < end) {
        if (!lines_next(sub, line, sizeof line, end - now_s()))
            break;
        if (strncmp(line, prefix, pl) != 0)
            continue;   /* availability and the like */
        int i = atoi(line + pl);
        got++;
        if (i != next && bad++ < 3)
            fprintf(stderr, "%s: got %d, want %d\n", name, i, next);
        next = i + 1;
    }
    CHECK(bad == 0 && next == last + 1 && got == last - first + 1,
          "%s: %d messages, %d out of order, last %d (want %d..%d in order)", name, got, bad,
          next - 1, first, last);
}

static void send_run(struct publisher *p, const char *name, int first, int last)
{
    int fails = 0;
    for (int i = first; i <= last; i++) {
        char payload[16];
        int n = snprintf(payload, sizeof payload, "%d", i);
        fails += publish_send(p, name, payload, (size_t)n, 0) != 0;
    }
    CHECK(fails == 0, "%s: %d sends refused", name, fails);
}

/* The child of test_will: a publisher that says it is ready, then waits to be killed. */
static int will_child(const char *port)
{
    char url[64], msg[256];
    snprintf(url, sizeof url, "mqtt://127.0.0.1:%s/pfx", port);
    struct publisher *p;
    if (publish_open(&p, &(struct publish_options){ .url = url, .availability = "child/available",
                                                   .client_id = "vdetect-test-child",
                                                   .retry_min = 0.05 },
                     msg, sizeof msg) < 0) {
        fprintf(stderr, "%s\n", msg);
        return 1;
    }
    struct publish_stats s;
    publish_send(p, "child/probe", "1", 1, 0);
    if (!wait_stats(p, &s, all_sent, 1, 10.0))
        return 1;
    printf("ready\n");
    fflush(stdout);
    sleep_s(30);   /* killed long before */
    publish_close(&p, 0);
    return 0;
}

static void test_broker(const char *self)
{
    struct broker b = { .log_fd = -1 };
    if (find_program("mosquitto", b.exe, sizeof b.exe) < 0 ||
        find_program("mosquitto_sub", b.sub_exe, sizeof b.sub_exe) < 0) {
        printf("SKIP: the broker tests (mosquitto or mosquitto_sub not installed)\n");
        return;
    }
    snprintf(b.dir, sizeof b.dir, "%s/vdetect-publish-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(b.dir)) {
        CHECK(0, "mkdtemp %s: %s", b.dir, strerror(errno));
        return;
    }
    snprintf(b.conf, sizeof b.conf, "%s/mosquitto.conf", b.dir);
    snprintf(b.log, sizeof b.log, "%s/broker.log", b.dir);
    snprintf(b.passwd, sizeof b.passwd, "%s/passwd", b.dir);
    free_ports(&b.port, &b.auth_port);
    b.log_fd = open(b.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int have_passwd = find_program("mosquitto_passwd", b.passwd_exe, sizeof b.passwd_exe) == 0;
    if (have_passwd) {
        char *argv[] = { b.passwd_exe, "-c", "-b", b.passwd, "vd", "s3cret:@x", NULL };
        pid_t pid = spawn(argv, b.log_fd, b.log_fd);
        int status = -1;
        have_passwd = pid > 0 && waitpid(pid, &status, 0) == pid && status == 0;
    }
    /* run as root, mosquitto switches to the user named here ("mosquitto" if
     * none), who could not write the persistence file in our directory */
    struct passwd *pw = getpwuid(geteuid());
    FILE *f = fopen(b.conf, "w");
    if (f) {
        fprintf(f, "per_listener_settings true\npersistence true\npersistence_location %s/\n"
                   "user %s\nlistener %d 127.0.0.1\nallow_anonymous true\n"
                   "listener %d 127.0.0.1\nallow_anonymous false\n",
                b.dir, pw ? pw->pw_name : "root", b.port, b.auth_port);
        if (have_passwd)
            fprintf(f, "password_file %s\n", b.passwd);
        fclose(f);
    }
    int started = f && b.log_fd >= 0 && broker_start(&b) == 0;
    CHECK(started, "mosquitto did not start on port %d (%s)", b.port, b.log);

    char url[64], msg[256], line[512], port[16];
    snprintf(url, sizeof url, "mqtt://127.0.0.1:%d/pfx", b.port);
    snprintf(port, sizeof port, "%d", b.port);
    struct publish_stats s;
    struct publisher *p = NULL;
    struct lines sub = { .pid = -1, .fd = -1 };
    if (!started)
        goto out;

    /* "online" retained on connect, 200 in order, "offline" retained on close */
    int rc = publish_open(&p, &(struct publish_options){ .url = url, .retry_min = 0.05,
                                                          .retry_max = 0.5 },
                          msg, sizeof msg);
    CHECK(rc == 0, "open: %s", msg);
    if (rc)
        goto out;
    CHECK(wait_stats(p, &s, is_connected, 1, 5.0), "no connection: %s", s.last_error);
    publish_send(p, "probe", "0", 1, 0);
    CHECK(wait_stats(p, &s, all_sent, 1, 5.0), "the probe was not acknowledged");
    retained(&b, "pfx/available", line, sizeof line);
    CHECK(strcmp(line, "1|online") == 0, "retained availability '%s' after connect", line);

    char *sub_argv[] = { b.sub_exe, "-h", "127.0.0.1", "-p", port, "-t", "pfx/#", "-q", "1",
                         "-c", "-i", "vdetect-test-sub", "-F", "%r|%t|%p", NULL };
    CHECK(lines_start(&sub, sub_argv, b.log_fd) == 0, "mosquitto_sub did not start");
    CHECK(expect_line(&sub, "1|pfx/available|online", 5.0), "the subscriber got no retained online");
    send_run(p, "seq", 0, 199);
    expect_run(&sub, "seq", 0, 199, 10.0);
    CHECK(wait_stats(p, &s, all_sent, 201, 5.0) && s.dropped == 0 && s.queued == 201,
          "sent %ld dropped %ld queued %ld", s.sent, s.dropped, s.queued);
    double t0 = now_s();
    publish_close(&p, 3.0);
    CHECK(now_s() - t0 < 1.0, "a clean close took %.2f s", now_s() - t0);
    CHECK(expect_line(&sub, "0|pfx/available|offline", 5.0), "no offline after publish_close");
    retained(&b, "pfx/available", line, sizeof line);
    CHECK(strcmp(line, "1|offline") == 0, "retained availability '%s' after close", line);

    /* a user name and password (with escapes), and a refused connection */
    char auth_url[128], want[160];
    if (have_passwd) {
        snprintf(auth_url, sizeof auth_url, "mqtt://vd:s3cret%%3A%%40x@127.0.0.1:%d/pfx",
                 b.auth_port);
        rc = publish_open(&p, &(struct publish_options){ .url = auth_url,
                                                          .availability = "auth/available" },
                          msg, sizeof msg);
        CHECK(rc == 0, "open: %s", msg);
        CHECK(rc == 0 && wait_stats(p, &s, is_connected, 1, 5.0),
              "no connection with the password: %s", s.last_error);
        publish_close(&p, 2.0);
    } else {
        printf("SKIP: the password test (no mosquitto_passwd)\n");
    }
    snprintf(auth_url, sizeof auth_url, "mqtt://vd:wrong@127.0.0.1:%d/pfx", b.auth_port);
    rc = publish_open(&p, &(struct publish_options){ .url = auth_url,
                                                      .availability = "auth/available" },
                      msg, sizeof msg);
    CHECK(rc == 0, "open: %s", msg);
    snprintf(want, sizeof want, "127.0.0.1:%d refused the connection: Connection Refused: "
             "not authorised.", b.auth_port);
    CHECK(rc == 0 && wait_stats(p, &s, has_error, 0, 5.0) && strcmp(s.last_error, want) == 0 &&
              s.connects == 0,
          "a wrong password: connects %ld, last_error '%s', want '%s'", s.connects,
          s.last_error, want);
    publish_close(&p, 0);

    /* QoS 0: sent when handed over, in order all the same */
    rc = publish_open(&p, &(struct publish_options){ .url = url, .qos0 = 1 }, msg, sizeof msg);
    CHECK(rc == 0, "open: %s", msg);
    if (rc)
        goto out;
    CHECK(expect_line(&sub, "0|pfx/available|online", 5.0), "no online at QoS 0");
    send_run(p, "q0", 0, 99);
    expect_run(&sub, "q0", 0, 99, 10.0);
    publish_get_stats(p, &s);
    CHECK(s.sent == 100 && s.dropped == 0 && s.connects == 1, "QoS 0: sent %ld dropped %ld",
          s.sent, s.dropped);
    t0 = now_s();
    publish_close(&p, 3.0);
    CHECK(now_s() - t0 < 1.0, "a clean close at QoS 0 took %.2f s", now_s() - t0);
    CHECK(expect_line(&sub, "0|pfx/available|offline", 5.0), "no offline at QoS 0");

    /* the broker stopped and started again mid-stream, queue_max 50 */
    rc = publish_open(&p, &(struct publish_options){ .url = url, .queue_max = 50,
                                                      .retry_min = 0.1, .retry_max = 0.4,
                                                      .client_id = "vdetect-test-pub" },
                      msg, sizeof msg);
    CHECK(rc == 0, "open: %s", msg);
    if (rc)
        goto out;
    CHECK(wait_stats(p, &s, is_connected, 1, 5.0), "no connection: %s", s.last_error);
    CHECK(expect_line(&sub, "0|pfx/available|online", 5.0), "no online after the second open");
    send_run(p, "pre", 0, 9);
    expect_run(&sub, "pre", 0, 9, 5.0);
    CHECK(wait_stats(p, &s, all_sent, 10, 5.0), "pre: sent %ld", s.sent);

    stop(b.pid, SIGTERM);
    CHECK(wait_stats(p, &s, is_down, 1, 5.0), "the broker's end unnoticed: connected %d, "
          "disconnects %ld", s.connected, s.disconnects);
    send_run(p, "out", 0, 119);
    publish_get_stats(p, &s);
    CHECK(s.queued == 130 && s.sent == 10 && s.dropped == 70 && s.queue_len == 50 &&
              s.queue_peak == 50,
          "during the outage: queued %ld sent %ld dropped %ld queue_len %d peak %d", s.queued,
          s.sent, s.dropped, s.queue_len, s.queue_peak);
    snprintf(msg, sizeof msg, "connection to 127.0.0.1:%d lost: ", b.port);
    CHECK(strncmp(s.last_error, msg, strlen(msg)) == 0, "last_error '%s'", s.last_error);
    CHECK(broker_start(&b) == 0, "mosquitto did not restart on port %d", b.port);
    CHECK(wait_stats(p, &s, all_sent, 60, 10.0) && s.connects == 2 && s.disconnects == 1 &&
              s.dropped == 70,
          "after the restart: connects %ld disconnects %ld sent %ld dropped %ld queue_len %d",
          s.connects, s.disconnects, s.sent, s.dropped, s.queue_len);
    expect_run(&sub, "out", 70, 119, 10.0);

    /* the broker frozen with messages in flight, then killed: they come back */
    kill(b.pid, SIGSTOP);
    send_run(p, "held", 0, 19);
    CHECK(wait_stats(p, &s, all_sent, 80, 0.5) == 0, "a frozen broker acknowledged messages");
    CHECK(s.in_flight == 16 && s.queue_len == 4, "frozen broker: in flight %d, queued %d",
          s.in_flight, s.queue_len);
    stop(b.pid, SIGKILL);
    CHECK(wait_stats(p, &s, is_down, 2, 5.0) && s.queue_len == 20 && s.in_flight == 0,
          "after the kill: disconnects %ld queue_len %d in flight %d", s.disconnects,
          s.queue_len, s.in_flight);
    CHECK(broker_start(&b) == 0, "mosquitto did not restart on port %d", b.port);
    CHECK(wait_stats(p, &s, all_sent, 80, 10.0) && s.connects == 3 && s.dropped == 70,
          "after the second restart: connects %ld sent %ld dropped %ld", s.connects, s.sent,
          s.dropped);
    expect_run(&sub, "held", 0, 19, 10.0);
    CHECK(s.queued == s.sent + s.dropped + s.queue_len + s.in_flight, "the counts add up");
    publish_close(&p, 3.0);
    CHECK(expect_line(&sub, "0|pfx/available|offline", 5.0), "no offline after publish_close");

    /* the will: a publishing process killed outright */
    char *child_argv[] = { (char *)self, "--will-child", port, NULL };
    struct lines child;
    CHECK(lines_start(&child, child_argv, -1) == 0, "the will child did not start");
    CHECK(lines_next(&child, line, sizeof line, 10.0) && strcmp(line, "ready") == 0,
          "the will child is not ready");
    retained(&b, "pfx/child/available", line, sizeof line);
    CHECK(strcmp(line, "1|online") == 0, "the child's retained availability '%s'", line);
    lines_stop(&child, SIGKILL);
    CHECK(expect_line(&sub, "0|pfx/child/available|offline", 5.0), "no will after SIGKILL");
    retained(&b, "pfx/child/available", line, sizeof line);
    CHECK(strcmp(line, "1|offline") == 0, "the child's retained availability '%s' after its death",
          line);

out:
    publish_close(&p, 0);
    lines_stop(&sub, SIGKILL);
    stop(b.pid, SIGTERM);
    if (b.log_fd >= 0)
        close(b.log_fd);
    if (check_failed) {
        fprintf(stderr, "broker log: %s (kept)\n", b.log);
        return;
    }
    const char *files[] = { "mosquitto.conf", "broker.log", "mosquitto.db", "mosquitto.db.new",
                            "passwd" };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[400];
        snprintf(path, sizeof path, "%s/%s", b.dir, files[i]);
        unlink(path);
    }
    rmdir(b.dir);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--will-child") == 0)
        return will_child(argv[2]);
    int port, unused, fds = open_fds();
    free_ports(&port, &unused);
    test_url();
    test_options(port);
    test_no_broker(port);
    test_silent_broker();
    test_broker(argv[0]);
    CHECK(open_fds() == fds, "%d file descriptors open at the end, %d at the start", open_fds(), fds);
    return check_summary("test_publish");
}
