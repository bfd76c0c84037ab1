/*
 * numeric.h — what the tests of the low-precision kernels share (numeric.c):
 * a seeded generator of values in [-1, 1), and the relative L2 distance of
 * two arrays.
 */
#ifndef VDETECT_TESTS_NUMERIC_H
#define VDETECT_TESTS_NUMERIC_H

#include <stddef.h>

/* The next value in [-1, 1) of the linear congruential sequence in *state. */
float test_frand(unsigned *state);
/* n such values into x. */
void test_fill(unsigned *state, float *x, size_t n);
/* ||x - ref|| / ||ref|| (0 for two zero arrays). */
double test_rel_l2(const float *x, const float *ref, size_t n);

#endif
