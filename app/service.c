/*
 * service.c — vdetect under systemd (app.h, "systemd"): the readiness, status,
 * watchdog and stopping notifications of a Type=notify unit
 * (scripts/vdetect@.service), sent with libsystemd's sd_notify(). It owns the
 * little state that needs: whether there is a service manager to talk to and
 * the watchdog's half-interval (both read from the environment once, at the
 * first call), when the watchdog and the status were last sent, and a status
 * line held back by the once-a-second limit.
 *
 * Without $NOTIFY_SOCKET (a shell, a container without systemd) every function
 * returns at once and sends nothing.
 *
 * The environment is read and never changed: sd_notify() and
 * sd_watchdog_enabled() are called with unset_environment = 0. Unsetting would
 * race with getenv() in other threads (FFmpeg's, the detector's) and buys
 * nothing here: vdetect starts no child processes, and $WATCHDOG_PID already
 * keeps a stray child from feeding the watchdog. (vdetect's re-exec of itself
 * for OPENBLAS_CORETYPE keeps its pid, so it stays the unit's main process.)
 *
 * Every function is safe to call from any thread: the settings are read under
 * pthread_once, the watchdog's time is claimed with a compare-and-swap so one
 * thread sends per half-interval, and the held status is under a mutex.
 * libsystemd's sd_notify() opens a socket of its own per call and shares no
 * state. The kernel stamps each datagram with the process's pid, whichever
 * thread sends it, which NotifyAccess=main accepts.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "app.h"

#define NS_PER_SEC 1000000000LL
#define STATUS_EVERY_NS NS_PER_SEC   /* service_status(): at most one a second */
#define STATUS_MAX 256               /* bytes of a STATUS= line, with its NUL */

static pthread_once_t settings_once = PTHREAD_ONCE_INIT;
static int notify_on;                /* $NOTIFY_SOCKET was set (and not empty) */
static int64_t watchdog_half_ns;     /* half of $WATCHDOG_USEC; 0: no watchdog */
static _Atomic int64_t watchdog_last_ns;  /* CLOCK_MONOTONIC of the last WATCHDOG=1 */
static atomic_int send_failed;       /* a failed send was reported (once) */

/* The status line: the last one sent at status_last_ns, or one held back. */
static pthread_mutex_t status_lock = PTHREAD_MUTEX_INITIALIZER;
static char status_held[STATUS_MAX]; /* under status_lock */
static int64_t status_last_ns;       /* under status_lock; 0: none sent yet */
static atomic_int status_pending;    /* status_held waits to be sent */

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * NS_PER_SEC + t.tv_nsec;
}

static void settings_read(void)
{
    const char *sock = getenv("NOTIFY_SOCKET");
    notify_on = sock && *sock;
    if (!notify_on)
        return;
    /* > 0 only when $WATCHDOG_USEC is set and $WATCHDOG_PID is unset or ours */
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        watchdog_half_ns = (int64_t)(usec / 2) * 1000;
        if (watchdog_half_ns <= 0)
            watchdog_half_ns = 1;
        /* as if sent one half-interval ago: the first call sends */
        atomic_store(&watchdog_last_ns, now_ns() - watchdog_half_ns);
    }
}

static int service_on(void)
{
    pthread_once(&settings_once, settings_read);
    return notify_on;
}

/* One datagram; a failure is worth one line (the unit will time out or be
 * killed by its watchdog, and this says why), not one per frame. */
static void notify(const char *state)
{
    int r = sd_notify(0, state);
    if (r < 0 && !atomic_exchange(&send_failed, 1)) {
        const char *sock = getenv("NOTIFY_SOCKET");
        app_note("warning: systemd notification to %s failed: %s", sock ? sock : "(unset)",
                 strerror(-r));
    }
}

/* The status as one line: STATUS= ends at a newline (the next would be read
 * as another assignment). Cut to STATUS_MAX - 1 bytes, a UTF-8 character the
 * cut splits is dropped whole: systemd ignores a status that is not UTF-8. */
static void status_format(char *buf, const char *fmt, va_list ap)
{
    if (vsnprintf(buf, STATUS_MAX, fmt, ap) >= STATUS_MAX) {
        size_t len = STATUS_MAX - 1, lead = len;
        while (lead > 0 && ((unsigned char)buf[lead - 1] & 0xc0) == 0x80)
            lead--;   /* back over continuation bytes to the character's first */
        if (lead > 0 && (unsigned char)buf[lead - 1] >= 0xc0) {
            unsigned char c = (unsigned char)buf[lead - 1];
            size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            if (len - (lead - 1) < need)
                buf[lead - 1] = '\0';
        }
    }
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

/* Send the held status with the assignments of first before it ("READY=1\n",
 * "STOPPING=1\n", "WATCHDOG=1\n" or ""). status_lock held. */
static void status_send_locked(const char *first, int64_t now)
{
    char msg[STATUS_MAX + 32];
    snprintf(msg, sizeof msg, "%sSTATUS=%s", first, status_held);
    notify(msg);
    status_last_ns = now;
    atomic_store(&status_pending, 0);
}

void service_ready(const char *status_fmt, ...)
{
    if (!service_on())
        return;
    int64_t now = now_ns();
    pthread_mutex_lock(&status_lock);
    if (status_fmt) {
        va_list ap;
        va_start(ap, status_fmt);
        status_format(status_held, status_fmt, ap);
        va_end(ap);
        status_send_locked("READY=1\n", now);
    } else {
        notify("READY=1");
    }
    pthread_mutex_unlock(&status_lock);
}

void service_status(const char *fmt, ...)
{
    if (!service_on())
        return;
    int64_t now = now_ns();
    pthread_mutex_lock(&status_lock);
    va_list ap;
    va_start(ap, fmt);
    status_format(status_held, fmt, ap);
    va_end(ap);
    if (status_last_ns == 0 || now - status_last_ns >= STATUS_EVERY_NS)
        status_send_locked("", now);
    else
        atomic_store(&status_pending, 1);
    pthread_mutex_unlock(&status_lock);
}

void service_watchdog(void)
{
    if (!service_on())
        return;
    int64_t now = now_ns();
    int ping = 0;
    if (watchdog_half_ns) {
        int64_t last = atomic_load(&watchdog_last_ns);
        /* the thread whose swap succeeds sends; the others saw it done */
        ping = now - last >= watchdog_half_ns &&
               atomic_compare_exchange_strong(&watchdog_last_ns, &last, now);
    }
    if (atomic_load(&status_pending)) {
        pthread_mutex_lock(&status_lock);
        if (atomic_load(&status_pending) && now - status_last_ns >= STATUS_EVERY_NS) {
            status_send_locked(ping ? "WATCHDOG=1\n" : "", now);
            ping = 0;
        }
        pthread_mutex_unlock(&status_lock);
    }
    if (ping)
        notify("WATCHDOG=1");
}

void service_stopping(void)
{
    if (!service_on())
        return;
    pthread_mutex_lock(&status_lock);
    if (atomic_load(&status_pending))
        status_send_locked("STOPPING=1\n", now_ns());
    else
        notify("STOPPING=1");
    pthread_mutex_unlock(&status_lock);
}
