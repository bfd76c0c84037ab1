/*
 * signals.c — SIGINT and SIGTERM for the long-running commands (view,
 * annotate, bench): the first one asks for a clean stop, a second one for a
 * quick one (stop waiting for queued frames, but still finish the files), a
 * third one exits at once.
 *
 * The handler only does what is async-signal-safe: it bumps an atomic counter,
 * remembers the signal, and calls video_interrupt() on the registered source
 * (documented async-signal-safe) so a blocked read returns promptly. The main
 * loop polls signals_pending() and runs the orderly shutdown itself (drain,
 * flush the encoder, write the trailer, rename the outputs into place). A
 * second signal tells it to skip the queued frames; a file without its
 * trailer would be the price of exiting there and then, so only a third
 * signal does: write(2) a note and _exit(130), leaving the partial files
 * (which outfile.c and the writer keep usable for exactly this case).
 */
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "../video/video.h"

_Static_assert(ATOMIC_INT_LOCK_FREE == 2 && ATOMIC_POINTER_LOCK_FREE == 2,
               "signal handlers need lock-free atomics");

static atomic_int sig_count;
static atomic_int sig_last;
static _Atomic(struct video_source *) sig_source;
static struct sigaction old_int, old_term;
static int installed;

static void on_signal(int sig)
{
    int n = atomic_fetch_add(&sig_count, 1);
    atomic_store(&sig_last, sig);
    if (n == 1) {
        static const char msg[] = "\nvdetect: interrupted again: finishing the files now "
                                  "(once more to exit at once)\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
    } else if (n >= 2) {
        static const char msg[] = "\nvdetect: interrupted three times: exiting now; unfinished "
                                  "outputs stay as NAME.partial-*\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        _exit(APP_INTERRUPTED);
    }
    video_interrupt(atomic_load(&sig_source));
}

int signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    atomic_store(&sig_count, 0);
    atomic_store(&sig_last, 0);
    if (sigaction(SIGINT, &sa, &old_int) != 0 || sigaction(SIGTERM, &sa, &old_term) != 0)
        return -1;
    installed = 1;
    return 0;
}

void signals_restore(void)
{
    if (!installed)
        return;
    atomic_store(&sig_source, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    installed = 0;
}

void signals_set_source(struct video_source *src)
{
    atomic_store(&sig_source, src);
    /* a signal that came before the source existed still stops it */
    if (src && atomic_load(&sig_count) > 0)
        video_interrupt(src);
}

int signals_pending(void)
{
    return atomic_load(&sig_count);
}

int signals_last(void)
{
    return atomic_load(&sig_last);
}
