/*
 * metrics_http.c — --metrics ADDR:PORT (pipeline.h): the listening socket, the
 * thread that answers Prometheus's scrapes on it, and the text builder that
 * render() callbacks write the exposition format (0.0.4) with.
 *
 * One thread, one client at a time: a scrape is a few kilobytes every few
 * seconds, so serving clients in parallel would buy nothing but locks. What
 * keeps one client from holding up the others is its deadline, CLIENT_MS
 * after accept(): every wait on a client is a poll() bounded by it and the
 * sockets are non-blocking, so a client that sends nothing, trickles, or
 * does not read loses its connection then. Every poll() also watches a
 * self-pipe that metrics_close() writes, so the thread stops at once
 * wherever it waits; between clients it sleeps in poll() without a timeout
 * (no wake-ups while idle).
 *
 * Closing a client: after the answer the server shuts its side (SHUT_WR) and
 * reads until the client closes (LINGER_MS at most, within the deadline).
 * Closing a socket with request bytes still unread in it resets the
 * connection, and the reset can overtake the answer: a 431 to an oversized
 * request would never be read.
 *
 * A failing client socket (reset, EPIPE: sends use MSG_NOSIGNAL) only ends
 * that client. The thread prints nothing about clients; it notes, once each,
 * a body over the 4 MiB limit and running out of file descriptors.
 *
 * The process runs in the C locale (vdetect never calls setlocale), which
 * the "%g" of the values relies on for its decimal point.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "pipeline.h"

#define REQ_MAX (8 * 1024)            /* request line and headers, bytes */
#define CLIENT_MS 2000                /* a client's whole time, from accept() */
#define LINGER_MS 500                 /* waiting for the client to close, at most */
#define LINGER_BYTES (256 * 1024)     /* request bytes discarded meanwhile, at most */
#define BODY_START ((size_t)64 * 1024)
#define BODY_MAX ((size_t)4 << 20)
#define ADDR_MAX 255                  /* bytes of "ADDR:PORT" */
#define BACKLOG 16

#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define INDEX_BODY                                                                         \
    "<html><head><title>vdetect</title></head><body><a href=\"/metrics\">/metrics</a>"   \
    "</body></html>\n"

struct metrics_server {
    int listen_fd;                /* -1: not open */
    int wake[2];                  /* self-pipe: metrics_close() writes [1], the thread polls [0] */
    pthread_t thread;
    int running;                  /* the thread was started */
    int port;                     /* bound */
    size_t (*render)(void *ctx, char *buf, size_t cap);
    void *ctx;
    char addr[ADDR_MAX + 1];      /* as given, for notes */
    /* The server thread's alone from pthread_create() to pthread_join(): */
    char *body;                   /* render()'s buffer, body_cap bytes; grows up to BODY_MAX */
    size_t body_cap;
    int noted_big, noted_accept;  /* 1: that note was printed */
    char req[REQ_MAX];            /* the request being read; later, drained bytes */
};

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- waiting: on a client, bounded by its deadline, and on the stop pipe ---- */

enum { WAIT_STOP = -1, WAIT_TIMEOUT = 0, WAIT_READY = 1 };

/* Wait for events on fd (-1: none, just the stop pipe) until deadline (ms,
 * now_ms's clock). WAIT_READY also for an error or hang-up on fd: the next
 * recv or send reports it. */
static int wait_fd(const struct metrics_server *m, int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left < 0)
            left = 0;
        struct pollfd p[2] = {
            { .fd = m->wake[0], .events = POLLIN },
            { .fd = fd, .events = events },
        };
        int r = poll(p, 2, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return WAIT_TIMEOUT;  /* ENOMEM: give up on this client */
        if (p[0].revents)
            return WAIT_STOP;
        if (p[1].revents)
            return WAIT_READY;
        if (r == 0)
            return WAIT_TIMEOUT;
    }
}

/* ---- reading and parsing the request ------------------------------------------ */

enum req_state {
    REQ_OK,        /* request line and headers read, up to the empty line */
    REQ_TOO_BIG,   /* REQ_MAX bytes and no empty line yet */
    REQ_CUT,       /* the client shut its side in the middle of a request */
    REQ_GONE,      /* nothing to answer: closed, reset or timed out */
    REQ_STOP,      /* metrics_close() */
};

/* The offset just past the empty line that ends the headers ("\n\n" or
 * "\n\r\n"), looking at lines that end at or after from; 0 if not there yet. */
static size_t headers_end(const char *b, size_t from, size_t n)
{
    for (size_t i = from; i < n; i++) {
        if (b[i] != '\n')
            continue;
        if (i + 1 < n && b[i + 1] == '\n')
            return i + 2;
        if (i + 2 < n && b[i + 1] == '\r' && b[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static enum req_state read_request(struct metrics_server *m, int fd, int64_t deadline,
                                   size_t *end)
{
    size_t n = 0;
    for (;;) {
        int w = wait_fd(m, fd, POLLIN, deadline);
        if (w == WAIT_STOP)
            return REQ_STOP;
        if (w == WAIT_TIMEOUT)
            return REQ_GONE;
        ssize_t r = recv(fd, m->req + n, REQ_MAX - n, 0);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            continue;
        if (r < 0)
            return REQ_GONE;
        if (r == 0)
            return n ? REQ_CUT : REQ_GONE;
        size_t from = n >= 2 ? n - 2 : 0;   /* a "\n\r" may wait for its "\n" */
        n += (size_t)r;
        if ((*end = headers_end(m->req, from, n)) != 0)
            return REQ_OK;
        if (n == REQ_MAX)
            return REQ_TOO_BIG;
    }
}

/* RFC 9110's tchar: the characters of a method or a header name. */
static int is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

enum route { ROUTE_OTHER, ROUTE_INDEX, ROUTE_METRICS };

/* The request in b[0..n), which ends with its empty line: the status to answer
 * with (200, 400, 404, 405 or 505), whether it is a HEAD, and what it asks for.
 * Lenient where it costs nothing (bare LF line ends, one leading empty line,
 * any header), strict where a wrong guess would serve garbage. */
static int parse_request(const char *b, size_t n, int *head, enum route *route)
{
    size_t i = 0;
    *head = 0;
    *route = ROUTE_OTHER;
    if (i < n && b[i] == '\r')
        i++;
    if (i < n && b[i] == '\n')
        i++;

    size_t m0 = i;                                  /* method SP target SP version */
    while (i < n && is_tchar(b[i]))
        i++;
    size_t mlen = i - m0;
    if (!mlen || i >= n || b[i] != ' ')
        return 400;
    *head = mlen == 4 && !memcmp(b + m0, "HEAD", 4);   /* no body, whatever the answer */
    size_t t0 = ++i;
    while (i < n && b[i] > ' ' && b[i] < 0x7f)
        i++;
    size_t tlen = i - t0;
    if (!tlen || i >= n || b[i] != ' ')
        return 400;
    i++;
    if (n - i < 8 || memcmp(b + i, "HTTP/", 5) || b[i + 5] < '0' || b[i + 5] > '9' ||
        b[i + 6] != '.' || b[i + 7] < '0' || b[i + 7] > '9')
        return 400;
    int major = b[i + 5] - '0';
    i += 8;
    if (i < n && b[i] == '\r')
        i++;
    if (i >= n || b[i] != '\n')
        return 400;
    i++;

    for (;;) {                                      /* "name: value" lines, then "" */
        if (i >= n)
            return 400;
        if (b[i] == '\n' || (b[i] == '\r' && i + 1 < n && b[i + 1] == '\n'))
            break;
        size_t h0 = i;
        while (i < n && is_tchar(b[i]))
            i++;
        if (i == h0 || i >= n || b[i] != ':')
            return 400;
        for (i++; i < n && b[i] != '\n'; i++) {
            unsigned char c = (unsigned char)b[i];
            if ((c < 0x20 && c != '\t' && !(c == '\r' && i + 1 < n && b[i + 1] == '\n')) ||
                c == 0x7f)
                return 400;
        }
        if (i >= n)
            return 400;
        i++;
    }
    if (major != 1)
        return 505;

    /* origin form "/path?query", or the absolute form a proxy sends */
    const char *t = b + t0, *tend = b + t0 + tlen;
    if (tlen > 7 && !strncasecmp(t, "http://", 7))
        t += 7;
    else if (tlen > 8 && !strncasecmp(t, "https://", 8))
        t += 8;
    else if (t[0] != '/')
        return 400;
    if (t != b + t0) {                              /* skip the authority */
        while (t < tend && *t != '/' && *t != '?' && *t != '#')
            t++;
    }
    size_t plen = 0;
    while (t + plen < tend && t[plen] != '?' && t[plen] != '#')
        plen++;
    if (plen == 8 && !memcmp(t, "/metrics", 8))
        *route = ROUTE_METRICS;
    else if (plen <= 1)                             /* "/", or "http://host" */
        *route = ROUTE_INDEX;
    else
        return 404;

    if (!*head && !(mlen == 3 && !memcmp(b + m0, "GET", 3)))
        return 405;
    return 200;
}

/* ---- answering --------------------------------------------------------------------- */

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 505: return "HTTP Version Not Supported";
    }
    APP_ASSERT(!"a status with a reason");
    return "";
}

/* Send the iovecs whole. 0, 1 (the client failed or timed out) or WAIT_STOP. */
static int send_all(const struct metrics_server *m, int fd, int64_t deadline, struct iovec *iov,
                    int n)
{
    while (n > 0) {
        struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)n };
        ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int r = wait_fd(m, fd, POLLOUT, deadline);
            if (r != WAIT_READY)
                return r == WAIT_STOP ? WAIT_STOP : 1;
            continue;
        }
        if (w < 0)
            return 1;   /* EPIPE, ECONNRESET: the client is gone */
        size_t done = (size_t)w;
        while (n > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

static int respond(const struct metrics_server *m, int fd, int64_t deadline, int status,
                   const char *type, const char *body, size_t len, int head)
{
    char hdr[256];
    int hl = snprintf(hdr, sizeof hdr,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "%sConnection: close\r\n\r\n",
                      status, reason(status), type, len,
                      status == 405 ? "Allow: GET, HEAD\r\n" : "");
    APP_ASSERT(hl > 0 && (size_t)hl < sizeof hdr);
    struct iovec iov[2] = {
        { .iov_base = hdr, .iov_len = (size_t)hl },
        { .iov_base = (void *)body, .iov_len = head ? 0 : len },
    };
    return send_all(m, fd, deadline, iov, 2);
}

/* render() into m->body, growing it as asked. 0 with *len, or -1 (answer 500). */
static int render_body(struct metrics_server *m, size_t *len)
{
    for (int tries = 0; tries < 4; tries++) {   /* the body may grow between calls */
        size_t need = m->render(m->ctx, m->body, m->body_cap);
        if (need <= m->body_cap) {
            *len = need;
            return 0;
        }
        if (need > BODY_MAX) {
            if (!m->noted_big) {
                m->noted_big = 1;
                app_note("warning: metrics %s: the metrics need %zu bytes, over the limit of "
                         "%zu: answering 500", m->addr, need, BODY_MAX);
            }
            return -1;
        }
        size_t cap = need + need / 8 + 4096;    /* room for the next scrape's growth */
        if (cap > BODY_MAX)
            cap = BODY_MAX;
        char *b = malloc(cap);
        if (!b)
            return -1;
        free(m->body);
        m->body = b;
        m->body_cap = cap;
    }
    return -1;
}

/* After the answer: let the client close first (see the top of the file).
 * 1 if metrics_close() was called meanwhile, else 0. */
static int linger(struct metrics_server *m, int fd, int64_t deadline)
{
    shutdown(fd, SHUT_WR);
    int64_t end = now_ms() + LINGER_MS;
    if (end > deadline)
        end = deadline;
    size_t drained = 0;
    while (drained < LINGER_BYTES) {
        int w = wait_fd(m, fd, POLLIN, end);
        if (w != WAIT_READY)
            return w == WAIT_STOP;
        ssize_t r = recv(fd, m->req, sizeof m->req, 0);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            continue;
        if (r <= 0)
            return 0;
        drained += (size_t)r;
    }
    return 0;
}

/* One connection, from accept() to just before close(). 1 if metrics_close()
 * was called meanwhile. */
static int serve_client(struct metrics_server *m, int fd)
{
    int64_t deadline = now_ms() + CLIENT_MS;
    size_t end = 0;
    int head = 0, status;
    enum route route = ROUTE_OTHER;
    switch (read_request(m, fd, deadline, &end)) {
    case REQ_STOP:
        return 1;
    case REQ_GONE:
        return 0;
    case REQ_TOO_BIG:
        status = 431;
        break;
    case REQ_CUT:
        status = 400;
        break;
    default:
        status = parse_request(m->req, end, &head, &route);
    }

    int r;
    size_t len;
    if (status == 200 && route == ROUTE_METRICS && render_body(m, &len) == 0) {
        r = respond(m, fd, deadline, 200, PROM_TYPE, m->body, len, head);
    } else if (status == 200 && route == ROUTE_INDEX) {
        r = respond(m, fd, deadline, 200, "text/html; charset=utf-8", INDEX_BODY,
                    sizeof INDEX_BODY - 1, head);
    } else {
        if (status == 200)
            status = 500;  /* render_body() failed */
        char msg[64];
        int n = snprintf(msg, sizeof msg, "%d %s\n", status, reason(status));
        r = respond(m, fd, deadline, status, "text/plain; charset=utf-8", msg, (size_t)n, head);
    }
    if (r == WAIT_STOP)
        return 1;
    if (r != 0)
        return 0;
    return linger(m, fd, deadline);
}

static void *serve(void *arg)
{
    struct metrics_server *m = arg;
    for (;;) {
        struct pollfd p[2] = {
            { .fd = m->wake[0], .events = POLLIN },
            { .fd = m->listen_fd, .events = POLLIN },
        };
        if (poll(p, 2, -1) < 0) {
            if (errno != EINTR)  /* ENOMEM: do not spin on it */
                wait_fd(m, -1, 0, now_ms() + 100);
            continue;
        }
        if (p[0].revents)
            break;
        if (!p[1].revents)
            continue;
        int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* the connection stays queued and poll() would return at once:
                 * wait a little instead of spinning */
                if (!m->noted_accept) {
                    m->noted_accept = 1;
                    app_note("warning: metrics %s: accept: %s (retrying every 0.1 s)", m->addr,
                             strerror(errno));
                }
                if (wait_fd(m, -1, 0, now_ms() + 100) == WAIT_STOP)
                    break;
            }
            continue;  /* EAGAIN, ECONNABORTED, EINTR...: the next one */
        }
        int stop = serve_client(m, fd);
        close(fd);
        if (stop)
            break;
    }
    return NULL;
}

/* ---- opening ------------------------------------------------------------------------ */

#define ADDR_FORMS "expected ADDR:PORT, [IPV6]:PORT or :PORT"

/* Split s into host (empty: every interface) and port. APP_OK or APP_FAIL
 * (printed). */
static int parse_addr(const char *s, char host[ADDR_MAX + 1], int *bracketed, int *port)
{
    if (!s || !*s)
        return app_error("metrics: no address given: " ADDR_FORMS);
    size_t n = strlen(s);
    if (n > ADDR_MAX)
        return app_error("metrics: an address of %zu bytes is too long (at most %d)", n,
                         ADDR_MAX);
    const char *h = s, *p;
    size_t hl;
    *bracketed = s[0] == '[';
    if (*bracketed) {
        const char *close = strchr(s, ']');
        if (!close)
            return app_error("metrics %s: no ']' after the IPv6 address", s);
        h = s + 1;
        hl = (size_t)(close - h);
        if (!hl)
            return app_error("metrics %s: no address between '[' and ']'", s);
        if (close[1] != ':')
            return app_error("metrics %s: expected ':PORT' after ']'", s);
        p = close + 2;
    } else {
        const char *colon = strrchr(s, ':');
        hl = colon ? (size_t)(colon - s) : 0;
        p = colon ? colon + 1 : s;
        if (memchr(s, ':', hl))
            return app_error("metrics %s: an IPv6 address goes in brackets: [%.*s]:%s", s,
                             (int)hl, s, p);
    }
    if (!*p)
        return app_error("metrics %s: no port after ':'", s);
    size_t pl = strspn(p, "0123456789");
    if (p == s && pl != strlen(p))   /* no ':' and not a number: "localhost" */
        return app_error("metrics %s: no port: " ADDR_FORMS, s);
    if (pl != strlen(p) || pl > 5 || atoi(p) > 65535)
        return app_error("metrics %s: port '%s' is not a number from 0 to 65535", s, p);
    *port = atoi(p);
    memcpy(host, h, hl);
    host[hl] = '\0';
    return APP_OK;
}

/* A listening socket on sa: its descriptor, or -errno with *step naming the
 * call that failed. */
static int listen_one(const struct sockaddr *sa, socklen_t len, const char **step)
{
    int one = 1, zero = 0;
    *step = "socket";
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    *step = "setsockopt";
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one))
        goto fail;
    /* "::" is every interface: IPv4 ones too, whatever net.ipv6.bindv6only says */
    if (sa->sa_family == AF_INET6 &&
        IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr) &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero))
        goto fail;
    *step = "bind";
    if (bind(fd, sa, len))
        goto fail;
    *step = "listen";
    if (listen(fd, BACKLOG))
        goto fail;
    return fd;
fail:;
    int e = errno;
    close(fd);
    return -e;
}

static int listen_error(const char *addr, const char *host, int port, const char *step, int e)
{
    if (e == EADDRINUSE && port)
        return app_error("metrics %s: port %d is already in use", addr, port);
    if (e == EACCES)
        return app_error("metrics %s: permission denied%s", addr,
                         port < 1024 ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
                                     : "");
    if (e == EADDRNOTAVAIL && *host)
        return app_error("metrics %s: %s is not an address of this machine", addr, host);
    return app_error("metrics %s: %s: %s", addr, step, strerror(e));
}

/* Bind and listen: m->listen_fd and m->port. APP_OK or APP_FAIL (printed). */
static int listen_on(struct metrics_server *m, const char *addr, const char *host,
                     int bracketed, int port)
{
    const char *step = "socket";
    int fd, err = 0;
    if (!*host) {
        /* every interface: IPv6 and IPv4 on one socket; IPv4 alone when the
         * machine has no IPv6 */
        struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT,
                                   .sin6_port = htons((uint16_t)port) };
        fd = listen_one((const struct sockaddr *)&a6, sizeof a6, &step);
        if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL) {
            struct sockaddr_in a4 = { .sin_family = AF_INET,
                                      .sin_addr.s_addr = htonl(INADDR_ANY),
                                      .sin_port = htons((uint16_t)port) };
            fd = listen_one((const struct sockaddr *)&a4, sizeof a4, &step);
        }
        err = fd < 0 ? -fd : 0;
    } else {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
        if (bracketed) {
            hints.ai_family = AF_INET6;
            hints.ai_flags |= AI_NUMERICHOST;
        }
        char ps[8];
        snprintf(ps, sizeof ps, "%d", port);
        struct addrinfo *res = NULL;
        int g = getaddrinfo(host, ps, &hints, &res);
        if (g == EAI_SYSTEM)
            return app_error("metrics %s: cannot resolve '%s': %s", addr, host,
                             strerror(errno));
        if (g && bracketed)
            return app_error("metrics %s: '%s' is not an IPv6 address", addr, host);
        if (g)
            return app_error("metrics %s: cannot resolve '%s': %s", addr, host,
                             gai_strerror(g));
        /* a name's first address that binds; the error worth showing is the
         * first that is not just "no such address family here" */
        fd = -1;
        const char *err_step = NULL;
        for (const struct addrinfo *a = res; a; a = a->ai_next) {
            fd = listen_one(a->ai_addr, a->ai_addrlen, &step);
            if (fd >= 0)
                break;
            if (!err || ((err == EAFNOSUPPORT || err == EADDRNOTAVAIL) &&
                         -fd != EAFNOSUPPORT && -fd != EADDRNOTAVAIL)) {
                err = -fd;
                err_step = step;
            }
        }
        freeaddrinfo(res);
        if (fd >= 0)
            err = 0;
        else if (err_step)
            step = err_step;
    }
    if (fd < 0)
        return listen_error(addr, host, port, step, err);

    m->listen_fd = fd;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl))
        return app_error("metrics %s: getsockname: %s", addr, strerror(errno));
    m->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    return APP_OK;
}

int metrics_open(struct metrics_server **out, const char *addr_port,
                 size_t (*render)(void *ctx, char *buf, size_t cap), void *ctx)
{
    APP_ASSERT(out && render);
    *out = NULL;
    char host[ADDR_MAX + 1];
    int bracketed = 0, port = 0;   /* set by parse_addr() on APP_OK */
    if (parse_addr(addr_port, host, &bracketed, &port) != APP_OK)
        return APP_FAIL;

    struct metrics_server *m = calloc(1, sizeof *m);
    if (!m)
        return app_error("metrics %s: out of memory", addr_port);
    m->listen_fd = m->wake[0] = m->wake[1] = -1;
    m->render = render;
    m->ctx = ctx;
    snprintf(m->addr, sizeof m->addr, "%s", addr_port);
    if (!(m->body = malloc(BODY_START))) {
        app_error("metrics %s: out of memory", addr_port);
        goto fail;
    }
    m->body_cap = BODY_START;
    if (listen_on(m, addr_port, host, bracketed, port) != APP_OK)
        goto fail;
    if (pipe2(m->wake, O_CLOEXEC | O_NONBLOCK)) {
        app_error("metrics %s: pipe: %s", addr_port, strerror(errno));
        goto fail;
    }
    /* signals go to the other threads: the thread starts with all blocked */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&m->thread, NULL, serve, m);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        app_error("metrics %s: cannot start its thread: %s", addr_port, strerror(e));
        goto fail;
    }
    m->running = 1;
    *out = m;
    return APP_OK;
fail:
    metrics_close(&m);
    return APP_FAIL;
}

int metrics_port(const struct metrics_server *m)
{
    return m ? m->port : 0;
}

void metrics_close(struct metrics_server **pm)
{
    if (!pm || !*pm)
        return;
    struct metrics_server *m = *pm;
    *pm = NULL;
    if (m->running) {
        ssize_t w;
        do
            w = write(m->wake[1], "x", 1);
        while (w < 0 && errno == EINTR);
        pthread_join(m->thread, NULL);
    }
    if (m->listen_fd >= 0)
        close(m->listen_fd);
    for (int i = 0; i < 2; i++)
        if (m->wake[i] >= 0)
            close(m->wake[i]);
    free(m->body);
    free(m);
}

/* ---- the text builder ------------------------------------------------------------------ */

void metrics_text_init(struct metrics_text *t, char *buf, size_t cap)
{
    APP_ASSERT(buf || !cap);
    t->buf = buf;
    t->cap = cap;
    t->len = 0;
    if (cap)
        buf[0] = '\0';
}

static void put(struct metrics_text *t, const char *s, size_t n)
{
    if (t->len < t->cap) {
        size_t room = t->cap - t->len;
        memcpy(t->buf + t->len, s, n < room ? n : room);
    }
    t->len += n;
}

static void put_str(struct metrics_text *t, const char *s)
{
    put(t, s, strlen(s));
}

static void terminate(struct metrics_text *t)
{
    if (t->len < t->cap)
        t->buf[t->len] = '\0';
}

/* Bytes of the well-formed UTF-8 character at s (1 to 4), or 0. */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0], cp, min;
    int n;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, min = 0x10000;
    else
        return 0;
    cp = c & (0x3fu >> (n - 1));
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)   /* also stops at the NUL */
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* s escaped for a HELP line (quotes 0) or a label value (quotes 1); bytes
 * that are not UTF-8 become U+FFFD, which Prometheus requires. */
static void put_escaped(struct metrics_text *t, const char *s, int quotes)
{
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        const char *esc = *u == '\\' ? "\\\\" : *u == '\n' ? "\\n"
                        : (*u == '"' && quotes) ? "\\\"" : NULL;
        if (esc) {
            put(t, esc, 2);
            u++;
            continue;
        }
        int n = utf8_len(u);
        if (n)
            put(t, (const char *)u, (size_t)n);
        else
            put(t, "\xef\xbf\xbd", 3);
        u += n ? n : 1;
    }
}

/* [a-zA-Z_:][a-zA-Z0-9_:]*, without ':' for a label name */
static int valid_name(const char *s, int colon)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || (colon && c == ':')))
            return 0;
    }
    return 1;
}

static void put_label(struct metrics_text *t, int first, const char *name, const char *value)
{
    APP_ASSERT(valid_name(name, 0));
    APP_ASSERT(value);
    put(t, first ? "{" : ",", 1);
    put_str(t, name);
    put(t, "=\"", 2);
    put_escaped(t, value, 1);
    put(t, "\"", 1);
}

/* The shortest of %.15g, %.16g, %.17g that reads back as v. */
static void put_value(struct metrics_text *t, double v)
{
    char b[40];
    if (isnan(v))
        snprintf(b, sizeof b, "NaN");
    else if (isinf(v))
        snprintf(b, sizeof b, "%s", v > 0 ? "+Inf" : "-Inf");
    else
        for (int p = 15; p <= 17; p++) {
            snprintf(b, sizeof b, "%.*g", p, v);
            if (strtod(b, NULL) == v)
                break;
        }
    put_str(t, b);
}

/* name+suffix{labels[,xname="xvalue"]} value\n */
static void put_sample(struct metrics_text *t, const char *name, const char *suffix,
                       const char *const *labels, const char *xname, const char *xvalue,
                       double value)
{
    APP_ASSERT(valid_name(name, 1));
    put_str(t, name);
    put_str(t, suffix);
    int n = 0;
    for (const char *const *l = labels; l && l[0]; l += 2)
        put_label(t, n++ == 0, l[0], l[1]);
    if (xname)
        put_label(t, n++ == 0, xname, xvalue);
    if (n)
        put(t, "}", 1);
    put(t, " ", 1);
    put_value(t, value);
    put(t, "\n", 1);
    terminate(t);
}

void metrics_family(struct metrics_text *t, const char *name, enum metrics_type type,
                    const char *help)
{
    static const char *const types[] = {
        [METRICS_GAUGE] = "gauge", [METRICS_COUNTER] = "counter",
        [METRICS_SUMMARY] = "summary", [METRICS_UNTYPED] = "untyped",
    };
    APP_ASSERT(valid_name(name, 1));
    APP_ASSERT((unsigned)type < sizeof types / sizeof types[0]);
    if (help) {
        put_str(t, "# HELP ");
        put_str(t, name);
        put(t, " ", 1);
        put_escaped(t, help, 0);
        put(t, "\n", 1);
    }
    put_str(t, "# TYPE ");
    put_str(t, name);
    put(t, " ", 1);
    put_str(t, types[type]);
    put(t, "\n", 1);
    terminate(t);
}

void metrics_sample(struct metrics_text *t, const char *name, const char *const *labels,
                    double value)
{
    put_sample(t, name, "", labels, NULL, NULL, value);
}

void metrics_gauge(struct metrics_text *t, const char *name, const char *help,
                   const char *const *labels, double value)
{
    metrics_family(t, name, METRICS_GAUGE, help);
    metrics_sample(t, name, labels, value);
}

void metrics_counter(struct metrics_text *t, const char *name, const char *help,
                     const char *const *labels, double value)
{
    metrics_family(t, name, METRICS_COUNTER, help);
    metrics_sample(t, name, labels, value);
}

void metrics_summary_ms(struct metrics_text *t, const char *name, const char *const *labels,
                        const struct lat_hist *h)
{
    static const struct { const char *label; double pct; } q[] = {
        { "0.5", 50 }, { "0.9", 90 }, { "0.99", 99 },
    };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        put_sample(t, name, "", labels, "quantile", q[i].label, lat_hist_pct(h, q[i].pct) / 1e3);
    put_sample(t, name, "_sum", labels, NULL, NULL, h->sum / 1e3);
    put_sample(t, name, "_count", labels, NULL, NULL, (double)h->n);
}
