/*
 * check.c — the counters of check.h, one pair per test program: a check made
 * in a shared helper (tests/parity.c) counts in the program's summary.
 */
#include "check.h"

int check_passed, check_failed;
