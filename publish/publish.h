/*
 * publish.h — the MQTT publisher, the one public header of publish/ (issue 17):
 * events go to an existing broker (Frigate-style) as PREFIX/SUFFIX = payload,
 * with a retained availability topic (PREFIX/available by default: "online" or
 * "offline", "offline" also as the connection's will).
 *
 * publish/ is the transport only: it knows topics and payload bytes, nothing
 * of models, video or the app. It uses the C library, POSIX, pthreads and
 * libmosquitto.
 *
 * Threads: publish_open starts one network thread per publisher, which owns
 * the connection; it connects, reconnects with back-off and hands queued
 * messages to the broker. publish_send and publish_get_stats may be called from
 * any thread and never wait for the network. No callback ever runs in the
 * caller's threads. Nothing is printed: the last error is in the stats.
 *
 * Delivery: at least once while the messages fit the queue. A message is held
 * in a bounded queue (queue_max) while the broker is away or slow; when the
 * queue is full the oldest message is dropped and counted. At QoS 1 (the
 * default) a message counts as sent when the broker acknowledges it; messages
 * in flight when the connection is lost go back to the front of the queue and
 * are sent again after the reconnect (a subscriber may see such a message
 * twice). Order is kept, duplicates aside.
 *
 * Errors follow the project: fallible functions return 0 or -1 and write one
 * line (no newline) into the caller's msg buffer, which may be NULL.
 */
#ifndef VDETECT_PUBLISH_H
#define VDETECT_PUBLISH_H

#include <stddef.h>

/* ---- the broker URL ----------------------------------------------------------- */

/* A parsed "mqtt://[user[:pass]@]host[:port][/prefix]". */
struct publish_url {
    char host[256];    /* a name, an IPv4 address, or an IPv6 one (written [::1] in the URL) */
    int port;          /* 1883 when the URL has none */
    char prefix[256];  /* topic prefix, "vdetect" when the URL has none: no leading or
                          trailing '/', no empty level, no '+' or '#' */
    char user[128];    /* "" for none; %XX escapes decoded */
    char pass[128];    /* "" for none; %XX escapes decoded */
};

/* Parse url into *u. 0, or -1 with one line in msg naming what is wrong (the
 * line never repeats the password); *u is unchanged on error. */
int publish_parse_url(const char *url, struct publish_url *u, char *msg, size_t len);

/* ---- the publisher ------------------------------------------------------------ */

/* What publish_open needs. A zeroed struct with a url is a valid configuration:
 * every 0 / NULL below means the default named. */
struct publish_options {
    const char *url;             /* the broker, as above; required */
    const char *client_id;       /* NULL: "vdetect-HOSTNAME-PID" */
    int queue_max;               /* messages held while disconnected or behind, 1 ..
                                    10000000; 0: 1000 */
    int keepalive;               /* seconds, 5 .. 65535; 0: 30. Also the time a
                                    connection attempt may take */
    double retry_min, retry_max; /* reconnect back-off bounds, seconds, 0.01 .. 3600:
                                    the first retry after retry_min, each next one
                                    twice as late, at most retry_max; back to retry_min
                                    after a successful connect. 0: 1 and 30 */
    const char *availability;    /* topic suffix of the availability topic;
                                    NULL: "available" */
    int qos0;                    /* 0 (the default): QoS 1, sent = acknowledged by the
                                    broker; 1: QoS 0, sent = handed to the socket (lost
                                    with the connection, never sent twice) */
};

struct publisher;

/*
 * Check the options, start the network thread and return at once: it never
 * waits for the broker, which may be down (the thread connects, and reconnects
 * with back-off, in the background). The connection's will is
 * PREFIX/availability = "offline" (retained); on every connect the thread first
 * publishes PREFIX/availability = "online" (retained), then the queue.
 *
 * 0 with *p, or -1 with *p NULL and msg (bad URL or options, out of memory,
 * no thread). Free with publish_close.
 *
 * libmosquitto sets SIGPIPE to SIG_IGN when it creates a client; publish_open
 * puts the process's SIGPIPE disposition back as it was (the network thread
 * blocks SIGPIPE instead), so it is not safe to change SIGPIPE's disposition
 * from another thread while publish_open runs.
 */
int publish_open(struct publisher **p, const struct publish_options *o, char *msg, size_t len);

/*
 * Queue PREFIX/suffix = payload (len bytes, copied; payload may be NULL when
 * len is 0), retained on the broker when retain is set. Never blocks on the
 * network; thread-safe. When the queue is full, the oldest queued message is
 * dropped (and counted) to make room.
 *
 * suffix is one or more topic levels: not empty, no leading or trailing '/', no
 * empty level, no '+' or '#', valid UTF-8 without control characters.
 *
 * 0 when queued; -1 when the message is refused: a bad suffix or payload too
 * large for MQTT (both also in last_error), the publisher closing, or out of
 * memory. Every call counts in queued, and a refused message in dropped.
 */
int publish_send(struct publisher *p, const char *suffix, const void *payload, size_t len,
                 int retain);

/* A snapshot of a publisher's counters, consistent at one instant: every
 * message given to publish_send is queued = sent + dropped + queue_len +
 * in_flight. The availability messages count nowhere. */
struct publish_stats {
    long queued;             /* publish_send calls */
    long sent;               /* acknowledged by the broker (QoS 0: handed over) */
    long dropped;            /* evicted from a full queue or refused by publish_send */
    long connects;           /* connections the broker accepted */
    long disconnects;        /* accepted connections lost since */
    int connected;           /* 1 while a connection is up */
    int queue_len;           /* messages waiting, not yet handed to the broker */
    int queue_peak;          /* highest queue_len seen */
    int in_flight;           /* handed to the broker, not yet acknowledged */
    double last_error_time;  /* when last_error happened, seconds since the Epoch;
                                0: no error yet */
    char last_error[160];    /* e.g. "connect to 127.0.0.1:1883: Connection refused";
                                "" when none */
};

/* Thread-safe; p must be open. */
void publish_get_stats(struct publisher *p, struct publish_stats *s);

/*
 * Shut the publisher down and free it: publish_send refuses new messages, the
 * thread hands the queue to the broker and then publishes PREFIX/availability =
 * "offline" (retained), so that "offline" comes after the last event, and
 * disconnects cleanly. It stops sooner when flush_s seconds pass, or when there
 * is no connection and either nothing to flush or no retry due before then:
 * what is left is dropped, and a connection (or attempt) still open is closed
 * without a DISCONNECT, so that the broker publishes the will ("offline")
 * itself.
 *
 * Returns within about flush_s seconds (plus up to a second) whatever the
 * broker does, except that a broker named by a host name is looked up with
 * getaddrinfo, which can block the network thread for as long as DNS takes.
 * Accepts NULL and *p == NULL; nulls *p. publish_send calls made while
 * publish_close runs are refused (-1), but none may still be running, or start,
 * once it returns: stop the threads that send first.
 */
void publish_close(struct publisher **p, double flush_s);

#endif
