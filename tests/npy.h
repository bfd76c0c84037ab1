/*
 * npy.h — the tests' reader for NumPy .npy files and the fixtures' meta.txt.
 *
 * npy_load() reads a whole .npy file (format version 1.0, 2.0 or 3.0) holding a
 * C-order array of one of the dtypes '<f4', '<f8', '<i8' or '|u1' (also written
 * '<u1'). Anything else — Fortran order, big-endian, other dtypes, truncated or
 * malformed headers — is an error: npy_load() prints one line naming the file
 * and the problem to stderr and returns -1, leaving *out empty. It never aborts
 * on a bad file.
 *
 * Ownership: a loaded struct npy owns data (malloc'd, 64-byte aligned); free it
 * with npy_free(), which accepts an empty or already freed struct.
 *
 * meta.txt holds one "key value [value...]" per line (see tests/gen_parity.py).
 * meta_load() copies the file; meta_get() returns the text after the key (never
 * NULL for a present key, possibly ""), valid until meta_free().
 */
#ifndef VDETECT_TESTS_NPY_H
#define VDETECT_TESTS_NPY_H

#include <stdint.h>

#define NPY_MAX_DIMS 8

struct npy {
    char dtype[4];                  /* "f4", "f8", "i8" or "u1" (NUL-terminated) */
    int ndim;                       /* 0 .. NPY_MAX_DIMS; 0 is a scalar */
    int64_t shape[NPY_MAX_DIMS];    /* unused dims are 1 */
    int64_t numel;                  /* product of shape (1 for a scalar) */
    int itemsize;                   /* bytes per element */
    void *data;                     /* numel * itemsize bytes, C order; owned */
};

/* Load path into *out. Returns 0, or -1 after printing why. */
int npy_load(const char *path, struct npy *out);
void npy_free(struct npy *a);

/* Typed views. npy_f32 converts an 'f8' array to float32 in place (once) and
 * returns its data; it returns NULL (with a message) for integer dtypes.
 * npy_i64 returns NULL (with a message) unless the dtype is 'i8'. */
float *npy_f32(struct npy *a);
int64_t *npy_i64(struct npy *a);

/* Shape check: the array has exactly ndim dims equal to dims[] (a dim < 0
 * matches anything). Returns 1 if so; otherwise prints the mismatch and
 * returns 0. name labels the message. */
int npy_shape_is(const struct npy *a, const char *name, int ndim, const int64_t *dims);

/* Load path and require a float array (f4, or f8 converted). Convenience for tests. */
int npy_load_f32(const char *path, struct npy *out);

#define META_MAX_LINES 128

struct meta {
    char *text;                     /* the file, lines split in place; owned */
    int n;
    const char *key[META_MAX_LINES];
    const char *val[META_MAX_LINES];
};

/* Read a meta.txt. Returns 0, or -1 after printing why (missing file, a line
 * without a key, too many lines). */
int meta_load(const char *path, struct meta *m);
void meta_free(struct meta *m);
/* The rest of the line after "key ", or NULL if the key is absent. */
const char *meta_get(const struct meta *m, const char *key);
/* The first number of the key's value; NAN if absent or not a number. */
double meta_num(const struct meta *m, const char *key);
/* Up to max numbers of the key's value into out; returns the count parsed
 * (0 if absent), stopping at the first non-number. */
int meta_nums(const struct meta *m, const char *key, double *out, int max);

#endif
