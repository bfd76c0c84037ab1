/*
 * check.h — the tiny test harness every tests/test_*.c uses.
 *
 * CHECK(cond, fmt, ...) records one check; a failing check prints file:line and
 * the message. check_summary() prints "NAME: N passed, N failed" and returns
 * the exit status (0 when nothing failed). tests/run.sh adds the lines up.
 */
#ifndef VDETECT_TESTS_CHECK_H
#define VDETECT_TESTS_CHECK_H

#include <stdio.h>

/* One pair of counters for the whole test program (tests/check.c), so that the
 * checks of shared helpers (parity.c) count in the summary as the test's own do. */
extern int check_passed, check_failed;

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (cond) {                                                       \
            check_passed++;                                               \
        } else {                                                          \
            check_failed++;                                               \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);          \
            fprintf(stderr, __VA_ARGS__);                                 \
            fputc('\n', stderr);                                          \
        }                                                                 \
    } while (0)

static inline int check_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
