/*
 * publish.c — the publisher (publish.h): a bounded queue of messages under one
 * mutex, filled by publish_send from any thread, and one network thread that
 * owns a libmosquitto client and drains the queue into it.
 *
 * The network thread runs its own poll() loop over the broker's socket and a
 * self-pipe (libmosquitto's "external loop": mosquitto_loop_read, _write and
 * _misc), so that publish_send and publish_close wake it at once, an idle
 * publisher sleeps a second at a time, and a connection attempt to a dead host
 * (connect_async: a non-blocking connect) never holds up publish_close.
 * libmosquitto is called from that thread only, and its callbacks run there,
 * inside those calls: they only note what happened, the loop acts on it after.
 *
 * The queue, its drop-oldest policy and the counters are ours; libmosquitto's
 * own queue is unbounded, so it is given messages only while the broker has
 * accepted the connection, at most MAX_INFLIGHT at a time (QoS 1: until each
 * PUBACK; QoS 0: while its socket has nothing left to write). Each connection
 * attempt starts from a reset client (mosquitto_reinitialise), so nothing of a
 * lost connection stays inside libmosquitto: what was in flight went back to
 * the front of our queue, in order, and is published again (at least once).
 *
 * Messages are allocated one by one (one block: header, topic, payload): their
 * sizes vary, and the queue is empty most of the time.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <mosquitto.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* QoS 1 messages handed to libmosquitto and not yet acknowledged: below its own
 * limit of messages in flight (20), with room for "online" and "offline", so
 * that it never holds one back in its queue. */
#define MAX_INFLIGHT 16
#define QUEUE_LIMIT 10000000
/* The longest poll: libmosquitto's keepalive clock (loop_misc) counts seconds. */
#define IDLE_POLL_S 1.0
/* MQTT's largest "remaining length"; a PUBLISH also holds the topic, its length
 * and a message id. */
#define MQTT_MAX_REMAINING 268435455u

struct msg {
    struct msg *next;
    int mid;               /* libmosquitto's message id while in flight */
    int retain;
    size_t len;            /* payload bytes */
    char *payload;         /* in this block, after the topic */
    char topic[];          /* PREFIX/suffix, NUL-terminated */
};

enum offline_state { OFFLINE_NONE, OFFLINE_SENT, OFFLINE_DONE };

struct publisher {
    /* fixed by publish_open */
    struct publish_url url;
    char *client_id;             /* owned */
    char *avail_topic;           /* PREFIX/availability; owned */
    int queue_max, keepalive, qos;
    double retry_min, retry_max; /* s */
    int wake_r, wake_w;          /* the self-pipe, non-blocking: a byte wakes the thread */
    int lock_ready;              /* the mutex was initialised (for a failed open) */
    pthread_t thread;

    pthread_mutex_t lock;        /* guards the fields down to the network thread's */
    struct msg *head, *tail;     /* the queue, oldest first; owned */
    int count;                   /* messages in it */
    int closing;                 /* set once by publish_close */
    double deadline;             /* monotonic s when closing gives up */
    int connected;               /* a session is up: publish_send wakes the thread */
    int wake_pending;            /* a byte is in the pipe since the thread last looked */
    struct publish_stats st;

    /* the network thread's alone (publish_open and publish_close touch them
     * before the thread starts and after it ends) */
    struct mosquitto *mosq;      /* owned; reset for each connection attempt */
    int attempt;                 /* a socket is open: an attempt or a session */
    int session;                 /* the broker accepted the connection (CONNACK 0) */
    double attempt_t;            /* monotonic s when the attempt began */
    double next_try;             /* monotonic s of the next attempt */
    double backoff;              /* s to wait after the next failure */
    struct msg *fl_head, *fl_tail; /* in flight, in publish order; owned */
    int fl_count;
    int need_online;             /* "online" is owed to this session */
    int online_mid;              /* "online" in flight; -1: none */
    int offline_mid;             /* "offline" in flight; -1: none */
    enum offline_state offline;  /* publish_close's "offline" on this session */
    int disconnecting;           /* DISCONNECT sent: the socket's end is the clean end */
    int done;                    /* leave the loop */
    /* what libmosquitto's callbacks saw, acted on after the call returns */
    int cb_connack;              /* CONNACK's code; -1: none */
    int cb_lost, cb_lost_rc, cb_errno;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_rc;

static void lib_init(void)
{
    /* never undone (mosquitto_lib_cleanup): other publishers may come later */
    lib_rc = mosquitto_lib_init();
}

static double mono_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static double wall_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* Under the lock. */
static void set_error(struct publisher *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(struct publisher *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->st.last_error, sizeof p->st.last_error, fmt, ap);
    va_end(ap);
    p->st.last_error_time = wall_now();
}

/* Under the lock: a byte into the self-pipe unless one is already there. */
static void wake_locked(struct publisher *p)
{
    if (p->wake_pending)
        return;
    p->wake_pending = 1;
    /* the pipe is non-blocking and holds at most this one byte: a failed write
     * can only mean it is full, and then the thread is woken anyway */
    if (write(p->wake_w, "", 1) < 0) {
    }
}

static void free_list(struct msg *m)
{
    while (m) {
        struct msg *next = m->next;
        free(m);
        m = next;
    }
}

/* Under the lock: the queue's length changed. */
static void note_len(struct publisher *p)
{
    p->st.queue_len = p->count;
    if (p->count > p->st.queue_peak)
        p->st.queue_peak = p->count;
}

/* ---- the caller's side ---------------------------------------------------------- */

int publish_send(struct publisher *p, const char *suffix, const void *payload, size_t len,
                 int retain)
{
    if (!p)
        return -1;
    size_t plen = strlen(p->url.prefix);
    const char *why = suffix ? publish_topic_problem(suffix) : "is missing";
    size_t tlen = plen + 1 + (suffix ? strlen(suffix) : 0);
    if (!why && tlen > 65535)
        why = "makes a topic longer than 65535 bytes";
    int too_big = !why && len > MQTT_MAX_REMAINING - 4 - tlen;
    int no_payload = !why && !too_big && len && !payload;

    struct msg *m = NULL;
    if (!why && !too_big && !no_payload && len <= SIZE_MAX - sizeof *m - tlen - 1) {
        m = malloc(sizeof *m + tlen + 1 + len);
        if (m) {
            m->next = NULL;
            m->mid = -1;
            m->retain = retain != 0;
            m->len = len;
            memcpy(m->topic, p->url.prefix, plen);
            m->topic[plen] = '/';
            memcpy(m->topic + plen + 1, suffix, tlen - plen - 1);
            m->topic[tlen] = '\0';
            m->payload = m->topic + tlen + 1;
            if (len)
                memcpy(m->payload, payload, len);
        }
    }

    struct msg *evicted = NULL;
    int rc = 0;
    pthread_mutex_lock(&p->lock);
    p->st.queued++;
    if (!m || p->closing) {
        p->st.dropped++;
        if (why)
            set_error(p, "topic suffix '%.64s' %s", suffix ? suffix : "", why);
        else if (too_big)
            set_error(p, "a payload of %zu bytes is too large for MQTT", len);
        else if (no_payload)
            set_error(p, "no payload for %zu bytes", len);
        else if (!m)
            set_error(p, "out of memory for a message of %zu bytes", len);
        rc = -1;
    } else {
        if (p->tail)
            p->tail->next = m;
        else
            p->head = m;
        p->tail = m;
        if (++p->count > p->queue_max) {
            evicted = p->head;
            p->head = evicted->next;
            evicted->next = NULL;
            p->count--;
            p->st.dropped++;
        }
        note_len(p);
        if (p->connected)
            wake_locked(p);
    }
    pthread_mutex_unlock(&p->lock);
    free(evicted);
    if (rc)
        free(m);
    return rc;
}

void publish_get_stats(struct publisher *p, struct publish_stats *s)
{
    pthread_mutex_lock(&p->lock);
    *s = p->st;
    pthread_mutex_unlock(&p->lock);
}

/* ---- libmosquitto's callbacks (the network thread, inside its loop calls) ---------- */

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    (void)m;
    ((struct publisher *)obj)->cb_connack = rc;
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
    struct publisher *p = obj;
    (void)m;
    p->cb_errno = errno;
    p->cb_lost = 1;
    p->cb_lost_rc = rc;
}

/* QoS 1: the broker's PUBACK for mid; QoS 0: mid written to the socket. */
static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    struct publisher *p = obj;
    (void)m;
    if (mid == p->online_mid) {
        p->online_mid = -1;
        return;
    }
    if (mid == p->offline_mid) {
        p->offline_mid = -1;
        p->offline = OFFLINE_DONE;
        return;
    }
    if (p->qos == 0)
        return;   /* counted as sent when handed over */
    struct msg *prev = NULL, *x = p->fl_head;
    while (x && x->mid != mid) {
        prev = x;
        x = x->next;
    }
    if (!x)
        return;   /* a message of a lost connection, requeued since */
    if (prev)
        prev->next = x->next;
    else
        p->fl_head = x->next;
    if (p->fl_tail == x)
        p->fl_tail = prev;
    p->fl_count--;
    pthread_mutex_lock(&p->lock);
    p->st.sent++;
    p->st.in_flight--;
    pthread_mutex_unlock(&p->lock);
    free(x);
}

/* ---- the network thread ------------------------------------------------------------ */

static const char *rc_text(int rc, int e)
{
    return rc == MOSQ_ERR_ERRNO ? strerror(e) : mosquitto_strerror(rc);
}

/*
 * The connection is gone, or must go: close the socket (without DISCONNECT, so
 * that the broker publishes the will), note why, put what was in flight back at
 * the front of the queue (dropping the oldest beyond queue_max) and schedule
 * the next attempt. After publish_close's DISCONNECT, this is the end.
 */
static void lost(struct publisher *p, const char *why)
{
    /* reinitialise closes the socket; it can fail only to copy the client id,
     * which the next attempt's reinitialise retries */
    mosquitto_reinitialise(p->mosq, p->client_id, true, p);
    p->attempt = 0;
    p->cb_connack = -1;
    p->cb_lost = 0;
    p->online_mid = p->offline_mid = -1;
    p->offline = OFFLINE_NONE;
    p->need_online = 0;
    if (p->disconnecting) {
        p->done = 1;
        return;
    }

    struct msg *evicted = NULL, **ev_tail = &evicted;
    pthread_mutex_lock(&p->lock);
    if (p->session) {
        p->st.disconnects++;
        p->st.connected = 0;
        p->connected = 0;
    }
    if (p->fl_head) {
        p->fl_tail->next = p->head;
        p->head = p->fl_head;
        if (!p->tail)
            p->tail = p->fl_tail;
        p->count += p->fl_count;
        p->st.in_flight = 0;
        while (p->count > p->queue_max) {
            struct msg *x = p->head;
            p->head = x->next;
            x->next = NULL;
            *ev_tail = x;
            ev_tail = &x->next;
            p->count--;
            p->st.dropped++;
        }
        if (!p->head)
            p->tail = NULL;
        note_len(p);
    }
    set_error(p, "%s", why);
    pthread_mutex_unlock(&p->lock);
    free_list(evicted);
    p->fl_head = p->fl_tail = NULL;
    p->fl_count = 0;

    p->session = 0;
    p->next_try = mono_now() + p->backoff;
    p->backoff = fmin(p->backoff * 2, p->retry_max);
}

/* After a libmosquitto call on the connection: act on what its callbacks saw
 * and on its return code (e: errno right after it). */
static void after_call(struct publisher *p, int rc, int e)
{
    int refused = -1;
    if (p->cb_connack >= 0) {
        if (p->cb_connack == 0) {
            p->session = 1;
            p->need_online = 1;
            p->backoff = p->retry_min;
            pthread_mutex_lock(&p->lock);
            p->st.connects++;
            p->st.connected = 1;
            p->connected = 1;
            pthread_mutex_unlock(&p->lock);
        } else {
            refused = p->cb_connack;
        }
        p->cb_connack = -1;
    }
    if (!p->cb_lost && rc == MOSQ_ERR_SUCCESS && refused < 0 && mosquitto_socket(p->mosq) >= 0)
        return;
    if (p->cb_lost) {
        rc = p->cb_lost_rc;
        e = p->cb_errno;
    }
    if (rc == MOSQ_ERR_SUCCESS && !p->disconnecting)
        rc = MOSQ_ERR_CONN_LOST;   /* a socket closed without a word */
    char why[512];
    if (refused >= 0)
        snprintf(why, sizeof why, "%s:%d refused the connection: %s", p->url.host, p->url.port,
                 mosquitto_connack_string(refused));
    else if (p->session)
        snprintf(why, sizeof why, "connection to %s:%d lost: %s", p->url.host, p->url.port,
                 rc_text(rc, e));
    else if (rc == MOSQ_ERR_KEEPALIVE)   /* libmosquitto's own connect timeout */
        snprintf(why, sizeof why, "connect to %s:%d: no answer in %d s", p->url.host,
                 p->url.port, p->keepalive);
    else
        snprintf(why, sizeof why, "connect to %s:%d: %s", p->url.host, p->url.port,
                 rc_text(rc, e));
    lost(p, why);
}

static void start_attempt(struct publisher *p, double now)
{
    struct mosquitto *m = p->mosq;
    int rc = mosquitto_reinitialise(m, p->client_id, true, p);
    if (rc == MOSQ_ERR_SUCCESS) {
        mosquitto_connect_callback_set(m, on_connect);
        mosquitto_disconnect_callback_set(m, on_disconnect);
        mosquitto_publish_callback_set(m, on_publish);
        /* events are small and late ones are worth less: no Nagle delay */
        mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
        rc = mosquitto_will_set(m, p->avail_topic, 7, "offline", p->qos, true);
    }
    if (rc == MOSQ_ERR_SUCCESS && p->url.user[0])
        rc = mosquitto_username_pw_set(m, p->url.user, p->url.pass[0] ? p->url.pass : NULL);
    errno = 0;
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_connect_async(m, p->url.host, p->url.port, p->keepalive);
    int e = errno;
    p->attempt = 1;
    p->attempt_t = now;
    p->cb_connack = -1;
    p->cb_lost = 0;
    after_call(p, rc, e);
}

/* Publish one message of ours on the session: 0; 1 when libmosquitto refuses
 * this message (*rc says why; publish_send's checks should make that
 * impossible, but sending it again would refuse it again, forever); or -1 when
 * the connection went (after_call has dealt with it). */
static int put(struct publisher *p, int *mid, const char *topic, size_t len, const void *payload,
               int retain, int *rc)
{
    errno = 0;
    *rc = mosquitto_publish(p->mosq, mid, topic, (int)len, payload, p->qos, retain);
    int e = errno;
    if (*rc == MOSQ_ERR_INVAL || *rc == MOSQ_ERR_PAYLOAD_SIZE || *rc == MOSQ_ERR_MALFORMED_UTF8 ||
        *rc == MOSQ_ERR_OVERSIZE_PACKET)
        return 1;
    after_call(p, *rc, e);
    return p->attempt ? 0 : -1;
}

/* The session is up: "online" first, then the queue while there is room in
 * flight; when closing and all is out, "offline" and then DISCONNECT. */
static void feed(struct publisher *p, int closing)
{
    struct mosquitto *m = p->mosq;
    int rc;
    if (p->need_online) {
        p->need_online = 0;
        if (put(p, &p->online_mid, p->avail_topic, 6, "online", 1, &rc) < 0)
            return;
    }
    while (p->fl_count < MAX_INFLIGHT && p->offline == OFFLINE_NONE && !p->disconnecting) {
        if (p->qos == 0 && mosquitto_want_write(m))
            break;   /* QoS 0: one message at a time in libmosquitto's hands */
        pthread_mutex_lock(&p->lock);
        struct msg *x = p->head;
        if (x) {
            p->head = x->next;
            if (!p->head)
                p->tail = NULL;
            p->count--;
            note_len(p);
            p->st.in_flight++;
        }
        pthread_mutex_unlock(&p->lock);
        if (!x)
            break;
        x->next = NULL;
        if (p->fl_tail)
            p->fl_tail->next = x;
        else
            p->fl_head = x;
        p->fl_tail = x;
        p->fl_count++;
        /* x goes back to the queue's front with the rest if the connection goes */
        int put_rc = put(p, &x->mid, x->topic, x->len, x->payload, x->retain, &rc);
        if (put_rc < 0)
            return;
        if (put_rc > 0) {
            /* x is the last in flight: drop it */
            struct msg *prev = NULL;
            for (struct msg *y = p->fl_head; y != x; y = y->next)
                prev = y;
            if (prev)
                prev->next = NULL;
            else
                p->fl_head = NULL;
            p->fl_tail = prev;
            p->fl_count--;
            pthread_mutex_lock(&p->lock);
            p->st.in_flight--;
            p->st.dropped++;
            set_error(p, "message to '%.64s' dropped: %s", x->topic, mosquitto_strerror(rc));
            pthread_mutex_unlock(&p->lock);
            free(x);
            continue;
        }
        if (p->qos == 0) {
            /* handed over: sent. x is the only one in flight (QoS 0 keeps one) */
            p->fl_head = p->fl_tail = NULL;
            p->fl_count = 0;
            pthread_mutex_lock(&p->lock);
            p->st.in_flight--;
            p->st.sent++;
            pthread_mutex_unlock(&p->lock);
            free(x);
        }
    }
    if (!closing || p->fl_count || p->disconnecting)
        return;
    pthread_mutex_lock(&p->lock);
    int empty = p->count == 0;
    pthread_mutex_unlock(&p->lock);
    if (!empty)
        return;
    if (p->offline == OFFLINE_NONE) {
        p->offline = OFFLINE_SENT;   /* QoS 0: DONE already when put returns */
        int put_rc = put(p, &p->offline_mid, p->avail_topic, 7, "offline", 1, &rc);
        if (put_rc < 0)
            return;
        if (put_rc > 0)
            p->offline = OFFLINE_DONE;   /* cannot be: then the will says it */
    }
    if (p->offline == OFFLINE_DONE) {
        p->disconnecting = 1;
        errno = 0;
        rc = mosquitto_disconnect(m);
        after_call(p, rc, errno);
    }
}

static void *run(void *arg)
{
    struct publisher *p = arg;
    p->next_try = mono_now();
    p->backoff = p->retry_min;
    while (!p->done) {
        double now = mono_now();
        pthread_mutex_lock(&p->lock);
        int closing = p->closing, waiting = p->count;
        double deadline = p->deadline;
        p->wake_pending = 0;
        pthread_mutex_unlock(&p->lock);

        /* closing: stop when out of time, or when there is no session and
         * nothing to flush (an attempt in progress would only say "online"
         * and "offline") or no attempt due in time */
        if (closing && (now >= deadline ||
                        (!p->session && (waiting == 0 || (!p->attempt && p->next_try > deadline)))))
            break;
        if (!p->attempt && now >= p->next_try)
            start_attempt(p, now);
        /* libmosquitto gives up on a silent broker after keepalive whole
         * seconds of its clock; this is in case it does not */
        if (p->attempt && !p->session && now - p->attempt_t >= p->keepalive + 1) {
            char why[512];
            snprintf(why, sizeof why, "connect to %s:%d: no answer in %d s", p->url.host,
                     p->url.port, p->keepalive);
            lost(p, why);
        }
        if (p->session)
            feed(p, closing);
        if (p->done)
            break;

        double wait = IDLE_POLL_S;
        if (!p->attempt)
            wait = fmin(wait, p->next_try - now);
        else if (!p->session)
            wait = fmin(wait, p->attempt_t + p->keepalive + 1 - now);
        if (closing)
            wait = fmin(wait, deadline - now);
        struct pollfd fds[2] = { { .fd = p->wake_r, .events = POLLIN }, { .fd = -1 } };
        int sock = p->attempt ? mosquitto_socket(p->mosq) : -1;
        if (sock >= 0) {
            fds[1].fd = sock;
            fds[1].events = POLLIN | (mosquitto_want_write(p->mosq) ? POLLOUT : 0);
        }
        poll(fds, sock >= 0 ? 2 : 1, wait > 0 ? (int)ceil(wait * 1000) : 0);

        if (fds[0].revents) {
            char buf[64];
            while (read(p->wake_r, buf, sizeof buf) > 0) {
            }
        }
        short ev = sock >= 0 ? fds[1].revents : 0;
        if (ev & (POLLIN | POLLERR | POLLHUP)) {
            errno = 0;
            int rc = mosquitto_loop_read(p->mosq, 1);
            after_call(p, rc, errno);
        }
        if (p->attempt && (ev & POLLOUT)) {
            errno = 0;
            int rc = mosquitto_loop_write(p->mosq, 1);
            after_call(p, rc, errno);
        }
        if (p->attempt && (ev & (POLLERR | POLLHUP | POLLNVAL)) && mosquitto_socket(p->mosq) == sock) {
            char why[512];
            snprintf(why, sizeof why, "connection to %s:%d: socket error", p->url.host, p->url.port);
            lost(p, why);   /* never spin on a socket libmosquitto does not give up */
        }
        if (p->attempt) {
            errno = 0;
            int rc = mosquitto_loop_misc(p->mosq);   /* keepalive: PINGREQ, or give up */
            after_call(p, rc, errno);
        }
    }

    /* the end: a socket still open closes without DISCONNECT (the broker sends
     * the will, "offline"); what was not sent is dropped */
    if (p->attempt) {
        mosquitto_reinitialise(p->mosq, p->client_id, true, p);
        p->attempt = 0;
    }
    pthread_mutex_lock(&p->lock);
    struct msg *rest = p->head;
    p->st.dropped += p->count + p->fl_count;
    p->st.in_flight = 0;
    p->head = p->tail = NULL;
    p->count = 0;
    note_len(p);
    p->st.connected = 0;
    p->connected = 0;
    pthread_mutex_unlock(&p->lock);
    free_list(rest);
    free_list(p->fl_head);
    p->fl_head = p->fl_tail = NULL;
    p->fl_count = 0;
    return NULL;
}

/* ---- open and close ---------------------------------------------------------------- */

/* Frees what publish_open made of p, whatever it got to; the thread is not running. */
static void destroy(struct publisher *p)
{
    if (p->mosq)
        mosquitto_destroy(p->mosq);
    if (p->wake_r >= 0)
        close(p->wake_r);
    if (p->wake_w >= 0)
        close(p->wake_w);
    if (p->lock_ready)
        pthread_mutex_destroy(&p->lock);
    free_list(p->head);
    free_list(p->fl_head);
    free(p->client_id);
    free(p->avail_topic);
    free(p);
}

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dup_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return s;
}

int publish_open(struct publisher **out, const struct publish_options *o, char *msg, size_t len)
{
    *out = NULL;
    if (!o)
        return base_err(msg, len, "publish: no options");
    struct publish_url u;
    if (publish_parse_url(o->url, &u, msg, len) < 0)
        return -1;
    int queue_max = o->queue_max ? o->queue_max : 1000;
    if (queue_max < 1 || queue_max > QUEUE_LIMIT)
        return base_err(msg, len, "publish: queue_max %d is not in [1, %d] (0: 1000)",
                           o->queue_max, QUEUE_LIMIT);
    int keepalive = o->keepalive ? o->keepalive : 30;
    if (keepalive < 5 || keepalive > 65535)
        return base_err(msg, len, "publish: keepalive %d s is not in [5, 65535] (0: 30)",
                           o->keepalive);
    double rmin = o->retry_min == 0 ? 1 : o->retry_min;
    double rmax = o->retry_max == 0 ? 30 : o->retry_max;
    if (!(rmin >= 0.01 && rmin <= 3600))
        return base_err(msg, len, "publish: retry_min %g s is not in [0.01, 3600] (0: 1)",
                           o->retry_min);
    if (!(rmax >= 0.01 && rmax <= 3600))
        return base_err(msg, len, "publish: retry_max %g s is not in [0.01, 3600] (0: 30)",
                           o->retry_max);
    if (rmax < rmin)
        return base_err(msg, len, "publish: retry_max %g s is below retry_min %g s", rmax, rmin);
    if (o->qos0 != 0 && o->qos0 != 1)
        return base_err(msg, len, "publish: qos0 %d is not 0 or 1", o->qos0);
    const char *avail = o->availability ? o->availability : "available";
    const char *why = publish_topic_problem(avail);
    if (!why && strlen(avail) > 1024)
        why = "is longer than 1024 bytes";
    if (why)
        return base_err(msg, len, "publish: availability suffix '%.64s' %s", avail, why);
    if (o->client_id) {
        size_t n = strlen(o->client_id);
        if (n == 0 || n > 1024 || mosquitto_validate_utf8(o->client_id, (int)n) != MOSQ_ERR_SUCCESS)
            return base_err(msg, len, "publish: client_id must be 1 to 1024 bytes of UTF-8 "
                               "without control characters");
    }

    pthread_once(&lib_once, lib_init);
    if (lib_rc != MOSQ_ERR_SUCCESS)
        return base_err(msg, len, "publish: libmosquitto: %s", mosquitto_strerror(lib_rc));

    struct publisher *p = calloc(1, sizeof *p);
    if (!p)
        return base_err(msg, len, "publish: out of memory");
    p->wake_r = p->wake_w = -1;
    p->url = u;
    p->queue_max = queue_max;
    p->keepalive = keepalive;
    p->retry_min = rmin;
    p->retry_max = rmax;
    p->qos = o->qos0 ? 0 : 1;
    p->cb_connack = -1;
    p->online_mid = p->offline_mid = -1;
    if (o->client_id) {
        p->client_id = dup_printf("%s", o->client_id);
    } else {
        char host[256] = "";
        if (gethostname(host, sizeof host - 1) < 0 || !host[0])
            snprintf(host, sizeof host, "unknown");
        p->client_id = dup_printf("vdetect-%s-%ld", host, (long)getpid());
    }
    p->avail_topic = dup_printf("%s/%s", u.prefix, avail);
    if (!p->client_id || !p->avail_topic) {
        base_err(msg, len, "publish: out of memory");
        goto fail;
    }

    int fds[2];
    if (pipe(fds) < 0) {
        base_err(msg, len, "publish: pipe: %s", strerror(errno));
        goto fail;
    }
    p->wake_r = fds[0];
    p->wake_w = fds[1];
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
    int e = pthread_mutex_init(&p->lock, NULL);
    if (e) {
        base_err(msg, len, "publish: mutex: %s", strerror(e));
        goto fail;
    }
    p->lock_ready = 1;

    /* mosquitto_new sets SIGPIPE to SIG_IGN for the whole process; the network
     * thread blocks SIGPIPE instead (a write to a dead socket then fails with
     * EPIPE), and the process keeps the disposition it chose */
    struct sigaction old_pipe;
    sigaction(SIGPIPE, NULL, &old_pipe);
    errno = 0;
    p->mosq = mosquitto_new(p->client_id, true, p);
    e = errno;
    sigaction(SIGPIPE, &old_pipe, NULL);
    if (!p->mosq) {
        base_err(msg, len, "publish: libmosquitto: cannot create a client: %s",
                    strerror(e ? e : ENOMEM));
        goto fail;
    }

    sigset_t block, old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old_mask);
    e = pthread_create(&p->thread, NULL, run, p);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    if (e) {
        base_err(msg, len, "publish: cannot start the network thread: %s", strerror(e));
        goto fail;
    }
    *out = p;
    return 0;
fail:
    destroy(p);
    return -1;
}

void publish_close(struct publisher **pp, double flush_s)
{
    if (!pp || !*pp)
        return;
    struct publisher *p = *pp;
    *pp = NULL;
    if (!(flush_s > 0))
        flush_s = 0;   /* also NaN */
    if (flush_s > 86400)
        flush_s = 86400;
    pthread_mutex_lock(&p->lock);
    p->closing = 1;
    p->deadline = mono_now() + flush_s;
    p->wake_pending = 0;
    wake_locked(p);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    destroy(p);
}
