/*
 * test_service.c — app/service.c against a service manager of our own: a Unix
 * datagram socket named by $NOTIFY_SOCKET, as systemd makes one. Each case
 * runs the service side in a child process (service.c reads the environment
 * once per process, as it would under systemd) while this process reads the
 * socket, so a child that floods it is counted rather than left blocked:
 *   - READY=1 with its STATUS= line, on a path socket and on an abstract one
 *     ("@name"); a long status cut to 255 bytes between UTF-8 characters;
 *   - STOPPING=1, carrying a status the once-a-second limit held back;
 *   - the status limit: a line a millisecond for 1.5 s gives two or three
 *     datagrams, the newest line last, and a held line is sent by
 *     service_watchdog() once its second is up;
 *   - the watchdog: WATCHDOG_USEC=200000 and our WATCHDOG_PID, called in a loop
 *     for 0.5 s, sends WATCHDOG=1 about every 100 ms, also when four threads
 *     call it (and service_status) at once; another process's WATCHDOG_PID,
 *     or no WATCHDOG_USEC, sends none;
 *   - without NOTIFY_SOCKET nothing is sent and every call returns at once;
 *   - a NOTIFY_SOCKET nobody listens on costs one warning line, not one a call.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../app/app.h"
#include "check.h"

#define MAX_MSGS 64

/* What the "service manager" received during one case. */
struct received {
    int n;                   /* datagrams, all of them */
    char msg[MAX_MSGS][512]; /* the first MAX_MSGS, NUL-terminated */
    int child_status;        /* the child's exit status (its own failed checks) */
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&t, NULL);
}

/* A datagram socket bound to name: a path, or "@x" for the abstract name x. */
static int listen_at(const char *name)
{
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    size_t len = strlen(name);
    if (len >= sizeof a.sun_path)
        return -1;
    memcpy(a.sun_path, name, len);
    if (name[0] == '@')
        a.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
                                 (name[0] == '@' ? 0 : 1));
    if (bind(fd, (struct sockaddr *)&a, alen) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void take(int fd, struct received *r)
{
    char buf[4096];
    ssize_t k = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    if (k < 0)
        return;
    if (r->n < MAX_MSGS) {
        size_t m = (size_t)k < sizeof r->msg[0] - 1 ? (size_t)k : sizeof r->msg[0] - 1;
        memcpy(r->msg[r->n], buf, m);
        r->msg[r->n][m] = '\0';
    }
    r->n++;
}

/*
 * Run service(arg) in a child with NOTIFY_SOCKET=sock (NULL: unset) and the
 * watchdog variables as given ("self" for WATCHDOG_PID: the child's pid;
 * NULL: unset), reading fd meanwhile. The child's exit status is its count of
 * failed checks.
 */
static void run_case(int fd, const char *sock, const char *wd_usec, const char *wd_pid,
                     void (*service)(void), struct received *r)
{
    memset(r, 0, sizeof *r);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        CHECK(0, "fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        if (sock)
            setenv("NOTIFY_SOCKET", sock, 1);
        else
            unsetenv("NOTIFY_SOCKET");
        if (wd_usec)
            setenv("WATCHDOG_USEC", wd_usec, 1);
        else
            unsetenv("WATCHDOG_USEC");
        if (wd_pid && !strcmp(wd_pid, "self")) {
            char p[32];
            snprintf(p, sizeof p, "%ld", (long)getpid());
            setenv("WATCHDOG_PID", p, 1);
        } else if (wd_pid) {
            setenv("WATCHDOG_PID", wd_pid, 1);
        } else {
            unsetenv("WATCHDOG_PID");
        }
        check_passed = check_failed = 0;
        service();
        fflush(NULL);
        _exit(check_failed > 100 ? 100 : check_failed);
    }
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 20) > 0) {
            take(fd, r);
            continue;
        }
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            r->child_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
    }
    /* what the child sent just before it ended */
    struct pollfd p = { .fd = fd, .events = POLLIN };
    while (poll(&p, 1, 0) > 0)
        take(fd, r);
    CHECK(r->child_status == 0, "the service side failed (status %d)", r->child_status);
}

/* 1 when the datagram holds the line want (assignments are one a line). */
static int has_line(const char *msg, const char *want)
{
    size_t n = strlen(want);
    for (const char *p = msg; p; p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        if (!strncmp(p, want, n) && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    }
    return 0;
}

/* How many datagrams hold the line want. */
static int count_line(const struct received *r, const char *want)
{
    int c = 0;
    for (int i = 0; i < r->n && i < MAX_MSGS; i++)
        c += has_line(r->msg[i], want);
    return c;
}

/* ---- the service side of each case (in the child) ------------------------------ */

static void ready_then_stop(void)
{
    service_ready("watching %s", "cam1");
    service_stopping();
}

static void ready_only(void)
{
    service_ready("watching %s", "cam1");
}

/* 200 two-byte characters: cut at 255 bytes, which would split the 128th */
static void ready_long(void)
{
    char s[401];
    for (int i = 0; i < 200; i++)
        memcpy(s + 2 * i, "\xc3\xa9", 2);   /* é */
    s[400] = '\0';
    service_ready("%s", s);
}

static void ready_without_status(void)
{
    service_ready(NULL);
}

/* Statuses a millisecond apart for 1.5 s, then a last one and STOPPING=1. */
static void status_flood(void)
{
    double t0 = now_s();
    for (int i = 0; now_s() - t0 < 1.5; i++) {
        service_status("frame %d", i);
        sleep_ms(1);
    }
    service_status("stopping: %s", "source ended\nfor good");
    service_stopping();
}

/* A status held by the limit goes out with a later service_watchdog(). */
static void status_then_watchdog(void)
{
    service_ready("starting");
    service_status("watching cam1");   /* within the second: held */
    double t0 = now_s();
    while (now_s() - t0 < 1.3) {
        service_watchdog();
        sleep_ms(5);
    }
}

static void watchdog_loop(void)
{
    double t0 = now_s();
    long n = 0;
    while (now_s() - t0 < 0.5) {
        service_watchdog();
        n++;
    }
    /* a clock read a call: far more than a thousand calls in half a second */
    CHECK(n > 1000, "service_watchdog() is cheap: %ld calls in 0.5 s", n);
}

static void *watchdog_thread(void *arg)
{
    double t0 = now_s();
    for (long i = 0; now_s() - t0 < 0.5; i++) {
        service_watchdog();
        if (i % 1000 == 0)
            service_status("thread %d", *(int *)arg);
    }
    return NULL;
}

/* Four threads at once: still one WATCHDOG=1 per half-interval. (make test
 * runs this under ThreadSanitizer too: build-tsan/tests/test_service.) */
static void watchdog_threads(void)
{
    pthread_t t[4];
    int id[4];
    int started = 0;
    for (int i = 0; i < 4; i++) {
        id[i] = i;
        if (pthread_create(&t[i], NULL, watchdog_thread, &id[i]) == 0)
            started++;
        else
            break;
    }
    CHECK(started == 4, "started %d of 4 threads", started);
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
}

static char stderr_path[128];   /* where nobody_listens() writes its stderr */

static void nobody_listens(void)
{
    int fd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) {
        CHECK(0, "stderr to %s: %s", stderr_path, strerror(errno));
        return;
    }
    close(fd);
    service_ready("watching %s", "cam1");
    for (int i = 0; i < 100; i++) {
        service_status("frame %d", i);
        service_watchdog();
    }
    service_stopping();
}

static void everything(void)
{
    double t0 = now_s();
    service_ready("watching %s", "cam1");
    for (int i = 0; i < 100000; i++) {
        service_status("frame %d", i);
        service_watchdog();
    }
    service_stopping();
    double dt = now_s() - t0;
    CHECK(dt < 1.0, "without NOTIFY_SOCKET 100000 rounds took %.3f s", dt);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/vdetect-service.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/notify", dir);
    int fd = listen_at(path);
    CHECK(fd >= 0, "bind %s: %s", path, strerror(errno));
    if (fd < 0)
        return check_summary("test_service");
    struct received r;

    /* READY=1 and STATUS= in one datagram, then STOPPING=1 */
    run_case(fd, path, NULL, NULL, ready_then_stop, &r);
    CHECK(r.n == 2, "ready + stopping: 2 datagrams, got %d", r.n);
    CHECK(r.n >= 1 && has_line(r.msg[0], "READY=1") &&
              has_line(r.msg[0], "STATUS=watching cam1"),
          "first datagram: READY=1 and STATUS=watching cam1, got '%s'", r.n ? r.msg[0] : "");
    CHECK(r.n >= 2 && has_line(r.msg[1], "STOPPING=1"), "second datagram: STOPPING=1, got '%s'",
          r.n >= 2 ? r.msg[1] : "");
    CHECK(r.n >= 2 && !strstr(r.msg[1], "STATUS="), "nothing held: STOPPING=1 alone");

    run_case(fd, path, NULL, NULL, ready_without_status, &r);
    CHECK(r.n == 1 && !strcmp(r.msg[0], "READY=1"), "service_ready(NULL): READY=1 alone, got '%s'",
          r.n ? r.msg[0] : "");

    run_case(fd, path, NULL, NULL, ready_long, &r);
    const char *st = r.n == 1 ? strstr(r.msg[0], "STATUS=") : NULL;
    size_t stlen = st ? strlen(st + 7) : 0;
    CHECK(st && stlen == 254 && !strcmp(st + 7 + 252, "\xc3\xa9"),
          "a 400-byte status: 254 bytes, 127 whole characters, got %zu", stlen);

    /* the abstract namespace: NOTIFY_SOCKET=@name */
    char abstract[64];
    snprintf(abstract, sizeof abstract, "@vdetect-test-service-%ld", (long)getpid());
    int afd = listen_at(abstract);
    CHECK(afd >= 0, "bind abstract %s: %s", abstract, strerror(errno));
    if (afd >= 0) {
        run_case(afd, abstract, NULL, NULL, ready_only, &r);
        CHECK(r.n == 1 && has_line(r.msg[0], "READY=1") &&
                  has_line(r.msg[0], "STATUS=watching cam1"),
              "abstract socket: READY=1 and the status, got %d datagrams", r.n);
        close(afd);
    }

    /* the status limit: one a second, the newest kept, flushed by STOPPING=1 */
    run_case(fd, path, NULL, NULL, status_flood, &r);
    int stops = count_line(&r, "STOPPING=1");
    CHECK(stops == 1, "one STOPPING=1, got %d", stops);
    CHECK(r.n >= 2 && r.n <= 3, "1500 statuses in 1.5 s: 2 or 3 datagrams, got %d", r.n);
    CHECK(r.n >= 1 && has_line(r.msg[0], "STATUS=frame 0"), "the first status goes out at once: '%s'",
          r.n ? r.msg[0] : "");
    CHECK(r.n >= 1 && r.n <= MAX_MSGS &&
              has_line(r.msg[r.n - 1], "STATUS=stopping: source ended for good") &&
              has_line(r.msg[r.n - 1], "STOPPING=1"),
          "the held last status, one line, goes with STOPPING=1: '%s'",
          r.n >= 1 && r.n <= MAX_MSGS ? r.msg[r.n - 1] : "");

    /* a held status sent by service_watchdog() once its second is up */
    run_case(fd, path, NULL, NULL, status_then_watchdog, &r);
    CHECK(r.n == 2, "ready, then the held status: 2 datagrams, got %d", r.n);
    CHECK(r.n >= 2 && !strcmp(r.msg[1], "STATUS=watching cam1"),
          "service_watchdog() sent the held status: '%s'", r.n >= 2 ? r.msg[1] : "");
    CHECK(count_line(&r, "WATCHDOG=1") == 0, "no watchdog configured: no WATCHDOG=1");

    /* the watchdog: every half of WATCHDOG_USEC, so 5 or so in 0.5 s at 200 ms */
    run_case(fd, path, "200000", "self", watchdog_loop, &r);
    int pings = count_line(&r, "WATCHDOG=1");
    CHECK(pings >= 2 && pings <= 6, "WATCHDOG=1 about every 100 ms for 0.5 s: 2-6, got %d", pings);
    CHECK(pings == r.n, "only WATCHDOG=1 sent: %d of %d datagrams", pings, r.n);

    run_case(fd, path, "200000", "self", watchdog_threads, &r);
    pings = count_line(&r, "WATCHDOG=1");
    int shown = count_line(&r, "STATUS=thread 0") + count_line(&r, "STATUS=thread 1") +
                count_line(&r, "STATUS=thread 2") + count_line(&r, "STATUS=thread 3");
    CHECK(pings >= 2 && pings <= 6, "four threads for 0.5 s: 2-6 WATCHDOG=1, got %d", pings);
    CHECK(shown == 1, "four threads' statuses in 0.5 s: one sent, got %d", shown);

    /* another process's watchdog (WATCHDOG_PID not ours), and none at all */
    char other[32];
    snprintf(other, sizeof other, "%ld", (long)getpid());   /* the parent's, not the child's */
    run_case(fd, path, "200000", other, watchdog_loop, &r);
    CHECK(r.n == 0, "WATCHDOG_PID of another process: nothing sent, got %d", r.n);
    run_case(fd, path, NULL, NULL, watchdog_loop, &r);
    CHECK(r.n == 0, "no WATCHDOG_USEC: nothing sent, got %d", r.n);
    run_case(fd, path, "200000", NULL, watchdog_loop, &r);
    pings = count_line(&r, "WATCHDOG=1");
    CHECK(pings >= 2 && pings <= 6, "WATCHDOG_PID unset counts as ours: 2-6, got %d", pings);

    /* no NOTIFY_SOCKET: a no-op, quickly, even with the watchdog variables set */
    run_case(fd, NULL, "200000", "self", everything, &r);
    CHECK(r.n == 0, "without NOTIFY_SOCKET nothing is sent, got %d", r.n);
    run_case(fd, "", "200000", "self", everything, &r);
    CHECK(r.n == 0, "with NOTIFY_SOCKET empty nothing is sent, got %d", r.n);

    /* a socket nobody listens on: one warning, naming it */
    char gone[sizeof dir + 16];
    snprintf(gone, sizeof gone, "%s/gone", dir);
    snprintf(stderr_path, sizeof stderr_path, "%s/stderr", dir);
    run_case(fd, gone, "200000", "self", nobody_listens, &r);
    char text[1024] = "";
    FILE *f = fopen(stderr_path, "r");
    size_t len = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[len] = '\0';
    if (f)
        fclose(f);
    int lines = 0;
    for (char *p = text; *p; p++)
        lines += *p == '\n';
    CHECK(lines == 1 && strstr(text, "warning: systemd notification to ") && strstr(text, gone),
          "unreachable NOTIFY_SOCKET: one warning line naming it, got '%s'", text);
    unlink(stderr_path);

    close(fd);
    unlink(path);
    rmdir(dir);
    return check_summary("test_service");
}
