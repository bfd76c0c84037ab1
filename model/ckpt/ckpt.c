/*
 * ckpt.c — the public side of the checkpoint reader (ckpt.h).
 *
 * Owns: mapping the file, telling zip from legacy from everything else by the
 * first bytes, the error line, picking the state_dict out of the unpickled
 * object (top level, or under "model" / "state_dict"), key normalisation, and
 * turning each float tensor into contiguous float32 — in place in the map
 * when it already is little-endian, aligned, contiguous float32, otherwise
 * converted into one owned blob. Zip and legacy parsing live in
 * zip.c / legacy.c, the pickle VM in pickle.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define MAX_KEY 4096

struct ckpt {
    const char *format;          /* "zip" or "legacy" (static) */
    void *map;                   /* the whole file, read-only; maplen bytes */
    size_t maplen;
    struct ckpt_tensor *t;       /* n tensors, in file order */
    int n;
    int *byname;                 /* indices of t sorted by name, for ckpt_find */
    char *names;                 /* every tensor name, NUL-terminated */
    float *owned;                /* converted tensors */
    char *meta;                  /* safetensors __metadata__: nmeta "key\0value\0" pairs */
    int nmeta;
    int bn_counters;             /* backbone.body *.num_batches_tracked keys dropped */
};

static const float empty_tensor[1];

/* ---- shared helpers ----------------------------------------------------- */

int ck_fail(struct ck_load *L, int code, const char *fmt, ...)
{
    if (!L->reported) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "checkpoint %s: ", L->path);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        L->reported = 1;
    }
    return code;
}

const char *ck_quote(char *buf, size_t cap, const char *p, size_t n)
{
    size_t o = 0, lim = n < 60 ? n : 60;
    if (cap < 8)
        return "";
    buf[o++] = '\'';
    for (size_t i = 0; i < lim && o + 6 < cap; i++)
        buf[o++] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
    if (lim < n && o + 6 < cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '\'';
    buf[o] = 0;
    return buf;
}

static const struct { const char *name; int size; } dtypes[CK_NDTYPES] = {
    [CK_F32] = { "FloatStorage", 4 },  [CK_F16] = { "HalfStorage", 2 },
    [CK_BF16] = { "BFloat16Storage", 2 }, [CK_F64] = { "DoubleStorage", 8 },
    [CK_I64] = { "LongStorage", 8 },  [CK_I32] = { "IntStorage", 4 },
    [CK_I16] = { "ShortStorage", 2 }, [CK_I8] = { "CharStorage", 1 },
    [CK_U8] = { "ByteStorage", 1 },   [CK_BOOL] = { "BoolStorage", 1 },
};

int ck_dtype_size(enum ck_dtype t) { return dtypes[t].size; }
const char *ck_dtype_name(enum ck_dtype t) { return dtypes[t].name; }

/* ---- finding the state_dict --------------------------------------------- */

static int is_state_dict(const struct pv *d)
{
    if (d->kind != PV_DICT || pv_dict_len(d) == 0)
        return 0;
    for (size_t i = 0; i < pv_dict_len(d); i++)
        if (d->u.seq.v[2 * i]->kind != PV_STR || d->u.seq.v[2 * i + 1]->kind != PV_TENSOR)
            return 0;
    return 1;
}

const struct pv *ck_dict_get(const struct pv *d, const char *k)
{
    const struct pv *found = NULL;
    size_t kn = strlen(k);
    for (size_t i = 0; i < pv_dict_len(d); i++) {
        const struct pv *key = d->u.seq.v[2 * i];
        if (key->kind == PV_STR && key->u.s.n == kn && !memcmp(key->u.s.p, k, kn))
            found = d->u.seq.v[2 * i + 1];
    }
    return found;
}

static int find_state_dict(struct ck_load *L, const struct pv *root, const struct pv **sd)
{
    char d[200];
    if (root->kind != PV_DICT)
        return ck_fail(L, -EINVAL, "top-level object is %s, not a state_dict (save model.state_dict())",
                       pv_describe(root, d, sizeof(d)));
    if (is_state_dict(root)) {
        *sd = root;
        return 0;
    }
    static const char *const wrappers[] = { "model", "state_dict" };
    for (int w = 0; w < 2; w++) {
        const struct pv *v = ck_dict_get(root, wrappers[w]);
        if (v && is_state_dict(v)) {
            *sd = v;
            return 0;
        }
    }
    if (pv_dict_len(root) == 0)
        return ck_fail(L, -EINVAL, "no state_dict found: top-level dict is empty");
    char keys[400], q[80];
    size_t o = 0;
    keys[0] = 0;
    for (size_t i = 0; i < pv_dict_len(root) && o + 80 < sizeof(keys); i++) {
        const struct pv *k = root->u.seq.v[2 * i];
        const char *s = k->kind == PV_STR ? ck_quote(q, sizeof(q), k->u.s.p, k->u.s.n)
                                          : pv_describe(k, q, sizeof(q));
        o += (size_t)snprintf(keys + o, sizeof(keys) - o, "%s%s", i ? ", " : "", s);
        if (i + 1 < pv_dict_len(root) && o + 80 >= sizeof(keys))
            snprintf(keys + o, sizeof(keys) - o, ", ...");
    }
    const struct pv *model = ck_dict_get(root, "model");
    if (model) {
        char md[200];
        return ck_fail(L, -EINVAL, "no state_dict found: top-level dict has keys %s ('model' is %s)",
                       keys, pv_describe(model, md, sizeof(md)));
    }
    return ck_fail(L, -EINVAL, "no state_dict found: top-level dict has keys %s", keys);
}

/* ---- key normalisation -------------------------------------------------- */

static int ends_with(const char *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && !memcmp(s + n - k, suf, k);
}

/*
 * Writes the normalised key (NUL-terminated, at most n + 5 bytes) into out;
 * returns 0 when the key is to be dropped.
 */
static int normalise_key(const char *k, size_t n, char *out)
{
    if (n >= 7 && !memcmp(k, "module.", 7)) {
        k += 7;
        n -= 7;
    }
    if (ends_with(k, n, ".num_batches_tracked"))
        return 0;
    static const char *const leaf[] = { "weight", "bias" };
    for (int l = 0; l < 2; l++) {
        char old[40];
        size_t ln = strlen(leaf[l]);
        snprintf(old, sizeof(old), "rpn.head.conv.%s", leaf[l]);
        if (n == strlen(old) && !memcmp(k, old, n)) {
            snprintf(out, n + 6, "rpn.head.conv.0.0.%s", leaf[l]);
            return 1;
        }
        static const char *const blocks[] = { "backbone.fpn.inner_blocks.", "backbone.fpn.layer_blocks." };
        for (int b = 0; b < 2; b++) {
            size_t bn = strlen(blocks[b]);
            if (n < bn + 2 + ln || memcmp(k, blocks[b], bn) || !ends_with(k, n, leaf[l]) ||
                k[n - ln - 1] != '.')
                continue;
            size_t dn = n - bn - ln - 1, d;                /* the block index N */
            for (d = 0; d < dn && k[bn + d] >= '0' && k[bn + d] <= '9'; d++)
                ;
            if (dn == 0 || d != dn)
                continue;
            memcpy(out, k, bn + dn);
            memcpy(out + bn + dn, ".0.", 3);
            memcpy(out + bn + dn + 3, leaf[l], ln + 1);
            return 1;
        }
    }
    memcpy(out, k, n);
    out[n] = 0;
    return 1;
}

/* ---- dtype conversion --------------------------------------------------- */

static int host_little_endian(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

static float f16_to_f32(uint32_t h)
{
    uint32_t sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, u;
    if (e == 0 && m == 0) {
        u = sign;
    } else if (e == 0) {                 /* subnormal: renormalise */
        e = 127 - 15 + 1;
        while (!(m & 0x400)) {
            m <<= 1;
            e--;
        }
        u = sign | e << 23 | (m & 0x3ff) << 13;
    } else if (e == 31) {
        u = sign | 0x7f800000u | m << 13;
    } else {
        u = sign | (e + 127 - 15) << 23 | m << 13;
    }
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

static float f64_to_f32(double d)
{
    /* out-of-range double->float is undefined in C; do what IEEE rounding does */
    if (d > FLT_MAX)
        return d >= (double)FLT_MAX + 0x1p103 ? INFINITY : FLT_MAX;
    if (d < -FLT_MAX)
        return d <= -(double)FLT_MAX - 0x1p103 ? -INFINITY : -FLT_MAX;
    return (float)d;
}

/* Element i of storage st as float; bytes in st's byte order. */
static float elem(const struct ck_storage *st, int big, int64_t i)
{
    int sz = ck_dtype_size(st->dtype);
    const unsigned char *p = st->data + (size_t)i * (size_t)sz;
    uint64_t u = 0;
    for (int k = 0; k < sz; k++)
        u = big ? (u << 8 | p[k]) : (u | (uint64_t)p[k] << (8 * k));
    switch (st->dtype) {
    case CK_F32: {
        uint32_t w = (uint32_t)u;
        float f;
        memcpy(&f, &w, sizeof(f));
        return f;
    }
    case CK_F16:
        return f16_to_f32((uint32_t)u);
    case CK_BF16: {
        uint32_t w = (uint32_t)u << 16;
        float f;
        memcpy(&f, &w, sizeof(f));
        return f;
    }
    case CK_F64: {
        double d;
        memcpy(&d, &u, sizeof(d));
        return f64_to_f32(d);
    }
    default:
        return 0.0f;               /* integer tensors never get here */
    }
}

static int is_contiguous(const struct pk_tensor *t)
{
    int64_t expect = 1;
    if (t->numel == 0)
        return 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->size[d] != 1 && t->stride[d] != expect)
            return 0;
        expect *= t->size[d];
    }
    return 1;
}

/* as_strided(storage, size, stride, offset).contiguous().float() into dst. */
static void copy_tensor(const struct ck_storage *st, int big, const struct pk_tensor *t, float *dst)
{
    if (is_contiguous(t) && st->dtype == CK_F32 && !big && host_little_endian()) {
        memcpy(dst, st->data + (size_t)t->offset * 4, (size_t)t->numel * 4);   /* unaligned source */
        return;
    }
    if (is_contiguous(t)) {
        for (int64_t i = 0; i < t->numel; i++)
            dst[i] = elem(st, big, t->offset + i);
        return;
    }
    int64_t idx[CKPT_MAX_DIMS] = { 0 }, src = t->offset;
    for (int64_t i = 0; i < t->numel; i++) {
        dst[i] = elem(st, big, src);
        for (int d = t->ndim - 1; d >= 0; d--) {      /* odometer over the output index */
            if (++idx[d] < t->size[d]) {
                src += t->stride[d];
                break;
            }
            src -= (t->size[d] - 1) * t->stride[d];
            idx[d] = 0;
        }
    }
}

/* ---- building the result ------------------------------------------------ */

struct named { const char *name; int index; };

static int cmp_named(const void *a, const void *b)
{
    return strcmp(((const struct named *)a)->name, ((const struct named *)b)->name);
}

/* Fills c->byname; fails on a name that appears twice. */
static int index_names(struct ck_load *L, struct ckpt *c)
{
    struct named *v = malloc((size_t)(c->n ? c->n : 1) * sizeof(*v));
    if (!v)
        return ck_fail(L, -ENOMEM, "out of memory");
    for (int i = 0; i < c->n; i++)
        v[i] = (struct named){ c->t[i].name, i };
    qsort(v, (size_t)c->n, sizeof(*v), cmp_named);
    int err = 0;
    for (int i = 0; i < c->n && !err; i++) {
        c->byname[i] = v[i].index;
        if (i + 1 < c->n && !strcmp(v[i].name, v[i + 1].name)) {
            char q[80];
            err = ck_fail(L, -EINVAL, "key %s appears twice (after stripping 'module.' and renaming)",
                          ck_quote(q, sizeof(q), v[i].name, strlen(v[i].name)));
        }
    }
    free(v);
    return err;
}

static int in_place(const struct ck_load *L, const struct ck_storage *st, const struct pk_tensor *t)
{
    return st->dtype == CK_F32 && !L->big_endian && host_little_endian() && is_contiguous(t) &&
           ((uintptr_t)(st->data + (size_t)t->offset * 4) & 3) == 0;
}

static int build(struct ck_load *L, const struct pv *sd, struct ckpt *c)
{
    size_t n = pv_dict_len(sd), name_bytes = 0, floats = 0;
    char q[80];
    for (size_t i = 0; i < n; i++) {
        const struct pv *k = sd->u.seq.v[2 * i];
        const struct pk_tensor *t = sd->u.seq.v[2 * i + 1]->u.t;
        if (k->u.s.n > MAX_KEY || memchr(k->u.s.p, 0, k->u.s.n))
            return ck_fail(L, -EINVAL, "state_dict key %s is too long or holds a NUL byte",
                           ck_quote(q, sizeof(q), k->u.s.p, k->u.s.n));
        name_bytes += k->u.s.n + 6;
        const struct ck_storage *st = &L->st[t->storage];
        if (ck_dtype_is_float(st->dtype) && !in_place(L, st, t)) {
            if ((uint64_t)t->numel > SIZE_MAX / 8 - floats)
                return ck_fail(L, -EINVAL, "tensor %s is too large",
                               ck_quote(q, sizeof(q), k->u.s.p, k->u.s.n));
            floats += (size_t)t->numel;
        }
    }
    /* A view (stride 0, or many views of one storage) can claim far more
     * elements than the file holds; real state_dicts never exceed ~2x. */
    if (floats > c->maplen + (16u << 20))
        return ck_fail(L, -EINVAL, "tensors expand to %zu MiB, far more than the file holds",
                       floats >> 18);
    c->t = calloc(n ? n : 1, sizeof(*c->t));
    c->byname = calloc(n ? n : 1, sizeof(*c->byname));
    c->names = malloc(name_bytes ? name_bytes : 1);
    c->owned = floats ? malloc(floats * sizeof(float)) : NULL;
    if (!c->t || !c->byname || !c->names || (floats && !c->owned))
        return ck_fail(L, -ENOMEM, "out of memory for %zu converted floats", floats);

    char *np = c->names;
    float *fp = c->owned;
    for (size_t i = 0; i < n; i++) {
        const struct pv *k = sd->u.seq.v[2 * i];
        const struct pk_tensor *t = sd->u.seq.v[2 * i + 1]->u.t;
        const struct ck_storage *st = &L->st[t->storage];
        if (!normalise_key(k->u.s.p, k->u.s.n, np) || !ck_dtype_is_float(st->dtype)) {
            /* nn.BatchNorm2d's counters say which BatchNorm the backbone had */
            static const char suffix[] = ".num_batches_tracked";
            size_t kn = k->u.s.n, sn = sizeof suffix - 1;
            if (kn > sn && !memcmp(k->u.s.p + kn - sn, suffix, sn) &&
                memmem(k->u.s.p, kn, "backbone.body.", 14))
                c->bn_counters++;
            continue;
        }
        struct ckpt_tensor *o = &c->t[c->n];
        o->name = np;
        np += strlen(np) + 1;
        o->ndim = t->ndim;
        memcpy(o->shape, t->size, sizeof(o->shape));
        o->numel = t->numel;
        if (t->numel == 0) {
            o->data = empty_tensor;
        } else if (in_place(L, st, t)) {
            o->data = (const float *)(const void *)(st->data + (size_t)t->offset * 4);
        } else {
            copy_tensor(st, L->big_endian, t, fp);
            o->data = fp;
            fp += t->numel;
        }
        c->n++;
    }
    return index_names(L, c);
}

/* __metadata__ of a safetensors root into c->meta. */
static int copy_metadata(struct ck_load *L, const struct pv *root, struct ckpt *c)
{
    const struct pv *md = ck_dict_get(root, "__metadata__");
    if (!md || md->kind != PV_DICT || pv_dict_len(md) == 0)
        return 0;
    size_t bytes = 0;
    for (size_t i = 0; i < md->u.seq.n; i++)
        bytes += md->u.seq.v[i]->u.s.n + 1;
    if (!(c->meta = malloc(bytes)))
        return ck_fail(L, -ENOMEM, "out of memory");
    char *p = c->meta;
    for (size_t i = 0; i < md->u.seq.n; i++) {
        const struct pv *s = md->u.seq.v[i];
        if (s->kind != PV_STR || memchr(s->u.s.p, 0, s->u.s.n))
            return ck_fail(L, -EINVAL, "__metadata__ entry holds a NUL byte");
        memcpy(p, s->u.s.p, s->u.s.n);
        p[s->u.s.n] = 0;
        p += s->u.s.n + 1;
    }
    c->nmeta = (int)pv_dict_len(md);
    return 0;
}

/* safetensors: a little-endian u64 header length (well below 2^40) and '{' */
static int looks_safetensors(const unsigned char *b, size_t len)
{
    return len >= 9 && b[8] == '{' && !b[5] && !b[6] && !b[7];
}

/* ---- API ---------------------------------------------------------------- */

static const unsigned char legacy_magic[14] = {
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19
};

int ckpt_load(const char *path, struct ckpt **out)
{
    struct ck_load L = { .path = path };
    struct ckpt *c = NULL;
    struct pv *root = NULL;
    const struct pv *sd = NULL;
    struct stat sb;
    int err, fd;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ck_fail(&L, -errno, "%s", strerror(errno));
    c = calloc(1, sizeof(*c));
    if (!c) {
        err = ck_fail(&L, -ENOMEM, "out of memory");
        goto fail;
    }
    if (fstat(fd, &sb) < 0) {
        err = ck_fail(&L, -errno, "%s", strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        err = ck_fail(&L, -EINVAL, "not a regular file");
        goto fail;
    }
    if (sb.st_size == 0) {
        err = ck_fail(&L, -EINVAL, "empty file");
        goto fail;
    }
    if ((uint64_t)sb.st_size > SIZE_MAX / 2) {
        err = ck_fail(&L, -EFBIG, "file too large to map");
        goto fail;
    }
    c->maplen = (size_t)sb.st_size;
    c->map = mmap(NULL, c->maplen, PROT_READ, MAP_PRIVATE, fd, 0);
    if (c->map == MAP_FAILED) {
        c->map = NULL;
        err = ck_fail(&L, -errno, "mmap: %s", strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;

    const unsigned char *b = c->map;
    size_t len = c->maplen;
    if (len >= 4 && !memcmp(b, "PK\x03\x04", 4)) {
        c->format = "zip";
        err = ck_zip_read(&L, b, len, &root);
    } else if (len >= sizeof(legacy_magic) && !memcmp(b, legacy_magic, sizeof(legacy_magic))) {
        c->format = "legacy";
        err = ck_legacy_read(&L, b, len, &root);
    } else if (looks_safetensors(b, len)) {
        c->format = "safetensors";
        err = ck_safetensors_read(&L, b, len, &root);
    } else if (len >= 512 && !memcmp(b + 257, "ustar", 5)) {
        err = ck_fail(&L, -EINVAL, "a tar archive: the torch <= 0.3 checkpoint format is not supported");
    } else if (b[0] == 0x80 && len >= 2 && b[1] >= 2 && b[1] <= 5) {   /* PROTO 2..5 */
        err = ck_fail(&L, -EINVAL, "a plain pickle, not a torch.save checkpoint");
    } else {
        err = ck_fail(&L, -EINVAL, "not a PyTorch checkpoint (neither zip nor legacy torch.save format)");
    }
    if (err)
        goto fail;
    if ((err = find_state_dict(&L, root, &sd)))
        goto fail;
    if ((err = build(&L, sd, c)))
        goto fail;
    if (!strcmp(c->format, "safetensors") && (err = copy_metadata(&L, root, c)))
        goto fail;
    ck_load_release(&L);
    *out = c;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    ck_load_release(&L);
    ckpt_free(&c);
    return err;
}

void ckpt_free(struct ckpt **pc)
{
    if (!pc || !*pc)
        return;
    struct ckpt *c = *pc;
    if (c->map)
        munmap(c->map, c->maplen);
    free(c->t);
    free(c->byname);
    free(c->names);
    free(c->owned);
    free(c->meta);
    free(c);
    *pc = NULL;
}

int ckpt_count(const struct ckpt *c) { return c->n; }

const struct ckpt_tensor *ckpt_at(const struct ckpt *c, int i)
{
    return i >= 0 && i < c->n ? &c->t[i] : NULL;
}

const struct ckpt_tensor *ckpt_find(const struct ckpt *c, const char *name)
{
    int lo = 0, hi = c->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int r = strcmp(c->t[c->byname[mid]].name, name);
        if (!r)
            return &c->t[c->byname[mid]];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *ckpt_format(const struct ckpt *c) { return c->format; }

const char *ckpt_metadata(const struct ckpt *c, const char *key)
{
    const char *p = c->meta;
    for (int i = 0; i < c->nmeta; i++) {
        const char *v = p + strlen(p) + 1;
        if (!strcmp(p, key))
            return v;
        p = v + strlen(v) + 1;
    }
    return NULL;
}

int ckpt_batchnorm_counters(const struct ckpt *c) { return c->bn_counters; }

int ckpt_write_with_metadata(const struct ckpt *c, const char *path, const char *key,
                             const char *value, FILE *out)
{
    char msg[200];
    if (strcmp(c->format, "safetensors")) {
        fprintf(stderr, "checkpoint %s: a %s checkpoint cannot carry metadata (export it to a "
                "model file first: model/py/export.py)\n", path, c->format);
        return -1;
    }
    if (ck_safetensors_copy(c->map, c->maplen, key, value, out, msg, sizeof msg)) {
        fprintf(stderr, "checkpoint %s: cannot copy: %s\n", path, msg);
        return -1;
    }
    return 0;
}
