/*
 * drive_reconnect.c — the reader tests/test_reconnect.sh drives: opens a source
 * with video_open() (reconnect on or off, a timeout), reads frames until
 * video_read() stops — an error, or SIGUSR1, whose handler calls
 * video_interrupt() as vdetect's does on Ctrl-C — and prints what happened,
 * one event a line on stdout, for the shell test to check:
 *   open W H
 *   frame INDEX PTS_SEC T         T: seconds since the open
 *   state UP T WHY                on_state (WHY "-" when up)
 *   end RET T LATENCY             video_read()'s code; LATENCY: seconds from
 *                                 SIGUSR1 to its return, -1 without SIGUSR1
 *   health RECONNECTS ATTEMPTS DOWN DOWN_SECONDS SEEN_DOWN GAVE_UP LAST_ERROR
 * SEEN_DOWN: another thread, polling video_source_health() every 20 ms, saw
 * down = 1; GAVE_UP: MAX_SECONDS passed and that thread interrupted the read.
 *
 * Usage: drive_reconnect URL TIMEOUT RECONNECT MAX_SECONDS
 * Not a test by itself: tests/run.sh runs only test_* programs.
 */
#include "../video/video.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct video_source *src;
static atomic_llong signalled_ns; /* CLOCK_MONOTONIC of SIGUSR1, 0 if none */
static atomic_int reading_done, seen_down, gave_up;
static double t0, max_seconds;

static void on_usr1(int sig)
{
    (void)sig;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    atomic_store(&signalled_ns, (long long)ts.tv_sec * 1000000000 + ts.tv_nsec);
    video_interrupt(src);
}

static void on_state(void *ctx, int up, const char *why)
{
    (void)ctx;
    printf("state %d %.3f %s\n", up, video_now() - t0, why ? why : "-");
    fflush(stdout);
}

/* Health from a thread other than the reader's, and the MAX_SECONDS guard. */
static void *watch(void *arg)
{
    (void)arg;
    struct timespec tick = { 0, 20 * 1000 * 1000 };
    while (!atomic_load(&reading_done)) {
        struct video_health h;
        video_source_health(src, &h);
        if (h.down)
            atomic_store(&seen_down, 1);
        if (video_now() - t0 > max_seconds && !atomic_load(&gave_up)) {
            atomic_store(&gave_up, 1);
            video_interrupt(src);
        }
        nanosleep(&tick, NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: drive_reconnect URL TIMEOUT RECONNECT MAX_SECONDS\n");
        return 2;
    }
    max_seconds = atof(argv[4]);
    video_set_log_level(NULL); /* FFmpeg's own chatter off, as in vdetect */
    struct video_source_options o = {
        .input = argv[1],
        .timeout = atof(argv[2]),
        .reconnect = atoi(argv[3]),
        .on_state = on_state,
    };
    t0 = video_now();
    if (video_open(&src, &o) < 0) {
        printf("end open-failed %.3f -1\n", video_now() - t0);
        return 1;
    }
    const struct video_info *vi = video_source_info(src);
    printf("open %d %d\n", vi->width, vi->height);
    fflush(stdout);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t watcher;
    if (pthread_create(&watcher, NULL, watch, NULL) != 0) {
        fprintf(stderr, "drive_reconnect: cannot start a thread\n");
        video_close(&src);
        return 1;
    }

    struct video_pool *pool = NULL;
    struct video_frame *f = NULL;
    int ret = video_pool_open(&pool, 1, vi->width, vi->height);
    if (ret == 0) {
        f = video_pool_get(pool);
        while ((ret = video_read(src, f)) == 0) {
            printf("frame %lld %.6f %.3f\n", (long long)f->index, f->pts_sec, video_now() - t0);
            fflush(stdout);
        }
    }
    double t_end = video_now();
    long long ns = atomic_load(&signalled_ns);
    printf("end %d %.3f %.3f\n", ret, t_end - t0, ns ? t_end - ns * 1e-9 : -1.0);
    atomic_store(&reading_done, 1);
    pthread_join(watcher, NULL);

    struct video_health h;
    video_source_health(src, &h);
    printf("health %lld %lld %d %.3f %d %d %s\n", (long long)h.reconnects, (long long)h.attempts,
           h.down, h.down_seconds, atomic_load(&seen_down), atomic_load(&gave_up),
           h.last_error[0] ? h.last_error : "-");
    if (f)
        video_pool_put(pool, f);
    video_pool_close(&pool);
    video_close(&src);
    return 0;
}
