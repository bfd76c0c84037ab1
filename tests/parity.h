/*
 * parity.h — comparing the C detector with torchvision's dumps (parity.c).
 */
#ifndef VDETECT_TESTS_PARITY_H
#define VDETECT_TESTS_PARITY_H

#include "../model/net/net.h"
#include "npy.h"

/* dir/name.npy into *a; 0 or -1 */
int parity_load(const char *dir, const char *name, struct npy *a);
/* max|a - b| / max|b| over n floats (max|b| into *maxref if not NULL) */
double parity_rel_diff(const float *a, const float *b, size_t n, double *maxref);
/* f against ref within relative tolerance tol (max|diff| / max|ref|); ref is the
 * whole [C, H, W] map, or (stride > 1) every stride-th value of it. Prints the
 * difference on a line of its own. */
void parity_check_map_sampled(const char *cs, const char *what, const struct fmap *f,
                              struct npy *ref, double tol, int64_t stride);
void parity_check_map(const char *cs, const char *what, const struct fmap *f, struct npy *ref,
                      double tol);
/* a [C, H, W] npy as a map (borrowed) */
struct fmap parity_fmap_of(struct npy *a);
/* C's detections against the case's det_* and cand_* dumps, under ties.h's rule */
void parity_check_detections(const char *cs, const struct model_detection *d, int nd,
                             const char *dir, const struct meta *meta);
/* model_detect on input_u8.npy: proposals against torchvision's (near-ties
 * allowed), then detections (or, when the proposals differ by tie-breaks, C's
 * heads on torchvision's proposals). also (may be NULL) gets C's detections. */
void parity_end_to_end(const char *cs, const char *dir, struct model *m, const struct meta *meta,
                       void (*also)(const char *cs, const struct model_detection *d, int nd,
                                    void *ctx),
                       void *ctx);

/* A meta value of space-separated words ("min_size=320 max_size=512") split into
 * out[0 .. max-1] (NULL-terminated; the words live in buf); "-" or NULL gives none.
 * Returns the count. */
int parity_words(const char *value, char *buf, size_t len, const char **out, int max);

/* run(root, name, dir, meta) for every case directory under
 * $VDETECT_FIXTURES/subdir (or the names given on the command line), in name
 * order, each announced as "case NAME", with its meta.txt loaded (a case
 * without one is a failure and is not run). */
void parity_run_cases(const char *subdir, int argc, char **argv,
                      void (*run)(const char *root, const char *name, const char *dir,
                                  const struct meta *meta));

#endif
