/*
 * internal.h — shared vocabulary of the checkpoint reader (the .c files beside it),
 * private to those files.
 *
 * One load = one struct ck_load: the file path (for messages), a bump heap for
 * every pickle value, and the table of storages the pickle referenced. The
 * format readers (zip.c, legacy.c) run the pickle VM
 * (pickle.c) and then point each storage at its bytes in the mapped
 * file; ckpt.c picks the state_dict out of the resulting values and turns it
 * into float32 tensors.
 *
 * Errors: ck_fail() prints the one "checkpoint PATH: PROBLEM" line (only the
 * first failure of a load is printed) and returns a negative errno code, which
 * every caller passes up unchanged.
 */
#ifndef VDETECT_MODEL_CKPT_INTERNAL_H
#define VDETECT_MODEL_CKPT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ckpt.h"

/* Limits on what a pickle may ask for; far above any real state_dict. */
#define CK_MAX_STACK      (1 << 20)  /* values on the VM stack */
#define CK_MAX_MARKS      (1 << 16)  /* nested MARKs */
#define CK_MAX_MEMO       (1 << 20)  /* memo slots */
#define CK_MAX_STR        (1 << 24)  /* bytes in one string */
#define CK_MAX_HEAP       ((size_t)1 << 30)  /* bytes of pickle values per load */
#define CK_MAX_STORAGES   (1 << 20)

/* Element types of torch.XStorage, in allow-list order. */
enum ck_dtype {
    CK_F32, CK_F16, CK_BF16, CK_F64,
    CK_I64, CK_I32, CK_I16, CK_I8, CK_U8, CK_BOOL,
    CK_NDTYPES
};
int ck_dtype_size(enum ck_dtype t);
const char *ck_dtype_name(enum ck_dtype t);   /* "FloatStorage", ... */
static inline int ck_dtype_is_float(enum ck_dtype t) { return t <= CK_F64; }

/* Allow-listed globals; anything else is PK_G_INERT (a placeholder). */
enum pk_global {
    PK_G_INERT,
    PK_G_ORDEREDDICT,
    PK_G_REBUILD_TENSOR_V2,
    PK_G_REBUILD_PARAMETER,
    PK_G_STORAGE,               /* with a dtype */
};

enum pv_kind {
    PV_NONE, PV_BOOL, PV_INT, PV_BIGINT, PV_FLOAT, PV_STR, PV_BYTES,
    PV_TUPLE, PV_LIST, PV_DICT,
    PV_GLOBAL,      /* a GLOBAL / STACK_GLOBAL result */
    PV_INERT,       /* what calling or building a non-allowed global gave */
    PV_STORAGE,     /* a persistent-id storage */
    PV_TENSOR,
};

struct pk_tensor {
    int storage;                      /* index into ck_load.st */
    int ndim;
    int64_t offset;                   /* storage_offset, elements */
    int64_t size[CKPT_MAX_DIMS];
    int64_t stride[CKPT_MAX_DIMS];    /* elements */
    int64_t numel;
};

/* A pickle value. Strings are views into the pickle bytes (the mapped file);
 * everything else lives on the load's heap. Containers are shared by
 * reference (the memo hands out the same pointer), as in Python. */
struct pv {
    enum pv_kind kind;
    union {
        int64_t i;                                          /* BOOL, INT */
        double f;                                           /* FLOAT */
        struct { const char *p; size_t n; } s;              /* STR, BYTES, BIGINT (LE bytes) */
        struct { struct pv **v; size_t n, cap; } seq;       /* TUPLE, LIST; DICT as k0,v0,k1,v1... */
        struct {                                            /* GLOBAL, INERT (where it came from) */
            enum pk_global id;
            enum ck_dtype dtype;                            /* PK_G_STORAGE only */
            const char *mod, *name;                         /* NUL-terminated, on the heap */
        } g;
        int storage;                                        /* STORAGE */
        struct pk_tensor *t;                                /* TENSOR */
    } u;
};

static inline size_t pv_dict_len(const struct pv *d) { return d->u.seq.n / 2; }
/* The last value under string key k in dict d, or NULL (ckpt.c). */
const struct pv *ck_dict_get(const struct pv *d, const char *k);

/* One storage named by a persistent id. */
struct ck_storage {
    const char *key;        /* view into the pickle, keylen bytes */
    size_t keylen;
    enum ck_dtype dtype;
    int64_t numel;          /* elements, from the persistent id */
    const unsigned char *data;  /* numel * itemsize bytes in the map; set by the format reader */
    int listed;             /* legacy: seen in the key list */
};

struct ck_heap_block;

struct ck_load {
    const char *path;
    int reported;                     /* an error line was printed */
    int legacy;                       /* persistent ids are 6-tuples */
    int big_endian;                   /* storage bytes are big-endian (zip byteorder) */
    struct ck_heap_block *heap;
    size_t heap_used;                 /* bytes handed out, all blocks */
    struct ck_storage *st;            /* nst entries */
    int nst, capst;
    int *st_hash;                     /* open addressing, st_hcap slots, -1 empty */
    int st_hcap;
};

/* ---- ckpt.c ------------------------------------------------------------- */

int ck_fail(struct ck_load *L, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Quote a pickle string for a message: at most 60 printable bytes. */
const char *ck_quote(char *buf, size_t cap, const char *p, size_t n);

/* ---- pickle.c ----------------------------------------------------------- */

void *ck_alloc(struct ck_load *L, size_t bytes);     /* zeroed; NULL = out of heap */
void ck_load_release(struct ck_load *L);             /* frees heap and storage table */
int ck_storage_find(const struct ck_load *L, const char *key, size_t keylen);  /* -1 if absent */

/*
 * Run one pickle from buf[0..len): stops at STOP and stores the number of
 * bytes consumed in *used and the value in *out. allow_pid: whether
 * BINPERSID (storages) may appear. what names the pickle in messages.
 */
int pk_run(struct ck_load *L, const unsigned char *buf, size_t len, int allow_pid,
           const char *what, size_t *used, struct pv **out);

/* "a dict", "a pickled torch.nn.modules.linear.Linear object", ...: for messages. */
const char *pv_describe(const struct pv *v, char *buf, size_t cap);

/* ---- format readers: run the pickle(s), set every storage's data -------- */

int ck_zip_read(struct ck_load *L, const unsigned char *buf, size_t len, struct pv **root);
int ck_legacy_read(struct ck_load *L, const unsigned char *buf, size_t len, struct pv **root);
/* safetensors (.vdm): a {"state_dict", "__metadata__"} dict built from the header */
int ck_safetensors_read(struct ck_load *L, const unsigned char *buf, size_t len,
                        struct pv **root);
/* Write the safetensors file buf[len] to out with __metadata__[key] = value (set
 * or added): the header re-serialised, padded to 8 bytes, the tensor bytes as
 * they were. 0, or -1 with the problem in msg. */
int ck_safetensors_copy(const unsigned char *buf, size_t len, const char *key, const char *value,
                        FILE *out, char *msg, size_t msglen);

#endif
