/*
 * safetensors.c — the safetensors layout (vdetect's .vdm model files and
 * Hugging Face .safetensors): an 8-byte little-endian header length N, N bytes
 * of JSON, then the tensor bytes.
 *
 * The header maps each tensor name to {"dtype", "shape", "data_offsets":
 * [begin, end]} (offsets relative to the end of the header), plus an optional
 * "__metadata__" object of string values. Checked strictly, as the reference
 * implementation does: the header is valid JSON (read by jansson through
 * sjson.h: strict, duplicate keys refused) starting with '{';
 * every tensor entry has exactly those three fields; byte counts match the
 * shape and dtype; the tensors tile the data area without gaps or overlaps
 * and end exactly at the end of the file.
 *
 * The file is untrusted, and a parsed JSON value costs jansson 20 to 220 bytes
 * against the 2 it can take in the text, so the header is held to what a model
 * file can have before anything is allocated: at most 16 MB (the format allows
 * 100), 16384 tensors, 1024 metadata entries, the nesting of {name: {"shape":
 * [..]}} and the values those make up (sjson_load() counts them on the bytes,
 * before jansson builds anything). A hostile header thus costs at most ~50 MB
 * (230 000 empty objects, jansson's costliest value), not 1.65 GB.
 *
 * The result is expressed in the pickle reader's vocabulary (internal.h)
 * so that ckpt.c treats it like any .pth: one storage per tensor pointing into
 * the mapped file, and a root dict {"state_dict": {name: tensor}, "__metadata__":
 * {key: value}} on the load's heap.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sjson.h"

/* Far above any detection model (torchvision's largest has ~400 tensors; a .vdm
 * architecture document is at most 1 MB), far below what would hurt. */
#define ST_MAX_HEADER ((uint64_t)16 << 20)
#define ST_MAX_TENSORS 16384
#define ST_MAX_META 1024
/* JSON values: the root, __metadata__ and its strings, and per tensor its
 * object, dtype, shape array and sizes, data_offsets array and its 2 numbers */
#define ST_MAX_VALUES (2 + ST_MAX_META + (size_t)ST_MAX_TENSORS * (5 + CKPT_MAX_DIMS + 1))
/* containers: root object > tensor entry > shape / data_offsets array */
#define ST_MAX_DEPTH 3

static const struct { const char *name; enum ck_dtype t; } st_dtypes[] = {
    { "F32", CK_F32 }, { "F16", CK_F16 }, { "BF16", CK_BF16 }, { "F64", CK_F64 },
    { "I64", CK_I64 }, { "I32", CK_I32 }, { "I16", CK_I16 }, { "I8", CK_I8 },
    { "U8", CK_U8 }, { "BOOL", CK_BOOL },
};

static struct pv *pv_new(struct ck_load *L, enum pv_kind kind)
{
    struct pv *v = ck_alloc(L, sizeof *v);
    if (v)
        v->kind = kind;
    return v;
}

/* A PV_STR copy of s[0..n) on the heap. */
static struct pv *pv_str(struct ck_load *L, const char *s, size_t n)
{
    struct pv *v = pv_new(L, PV_STR);
    char *p = ck_alloc(L, n + 1);
    if (!v || !p)
        return NULL;
    memcpy(p, s, n);
    v->u.s.p = p;
    v->u.s.n = n;
    return v;
}

/* An empty PV_DICT with room for n pairs. */
static struct pv *pv_dict(struct ck_load *L, size_t n)
{
    struct pv *d = pv_new(L, PV_DICT);
    if (!d)
        return NULL;
    d->u.seq.cap = 2 * (n ? n : 1);
    d->u.seq.v = ck_alloc(L, d->u.seq.cap * sizeof(struct pv *));
    return d->u.seq.v ? d : NULL;
}

static void dict_put(struct pv *d, struct pv *k, struct pv *v)
{
    d->u.seq.v[d->u.seq.n++] = k;
    d->u.seq.v[d->u.seq.n++] = v;
}

static int add_storage(struct ck_load *L, enum ck_dtype t, int64_t numel,
                       const unsigned char *data, const char *key, size_t keylen)
{
    if (L->nst >= CK_MAX_STORAGES)
        return ck_fail(L, -EINVAL, "more than %d tensors", CK_MAX_STORAGES);
    if (L->nst == L->capst) {
        int cap = L->capst ? 2 * L->capst : 64;
        struct ck_storage *st = realloc(L->st, (size_t)cap * sizeof *st);
        if (!st)
            return ck_fail(L, -ENOMEM, "out of memory");
        L->st = st;
        L->capst = cap;
    }
    L->st[L->nst] = (struct ck_storage){ .key = key, .keylen = keylen, .dtype = t,
                                         .numel = numel, .data = data, .listed = 1 };
    return L->nst++;
}

struct span { uint64_t begin, end; const char *name; };

static int cmp_span(const void *a, const void *b)
{
    const struct span *x = a, *y = b;   /* empty tensors first among equal begins */
    if (x->begin != y->begin)
        return x->begin > y->begin ? 1 : -1;
    return (x->end > y->end) - (x->end < y->end);
}

/* One header entry → a storage and a PV_TENSOR. */
static int read_entry(struct ck_load *L, const char *tname, const json_t *e,
                      const unsigned char *data, uint64_t datalen, struct span *sp,
                      struct pv **out)
{
    char q[80];
    size_t tlen = strlen(tname);   /* keys hold no NUL: sjson_load() refuses "\u0000" */
    const char *name = ck_quote(q, sizeof q, tname, tlen);
    if (!json_is_object(e))
        return ck_fail(L, -EINVAL, "safetensors: tensor %s: entry is %s, not an object", name,
                       sjson_type_name(e));
    const char *k;
    const json_t *fv;
    json_object_foreach((json_t *)e, k, fv) {
        if (strcmp(k, "dtype") && strcmp(k, "shape") && strcmp(k, "data_offsets"))
            return ck_fail(L, -EINVAL, "safetensors: tensor %s: unknown field \"%.40s\"", name, k);
    }
    const json_t *dt = json_object_get(e, "dtype"), *sh = json_object_get(e, "shape"),
                 *off = json_object_get(e, "data_offsets");
    if (!dt || !sh || !off)
        return ck_fail(L, -EINVAL, "safetensors: tensor %s: missing \"%s\"", name,
                       !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    if (!json_is_string(dt))
        return ck_fail(L, -EINVAL, "safetensors: tensor %s: dtype is %s, not a string", name,
                       sjson_type_name(dt));
    int ti = -1;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (!strcmp(json_string_value(dt), st_dtypes[i].name))
            ti = (int)i;
    if (ti < 0)
        return ck_fail(L, -EINVAL, "safetensors: tensor %s: unsupported dtype \"%.20s\"", name,
                       json_string_value(dt));
    enum ck_dtype t = st_dtypes[ti].t;

    if (!json_is_array(sh) || json_array_size(sh) > CKPT_MAX_DIMS)
        return ck_fail(L, -EINVAL, "safetensors: tensor %s: shape must be an array of at most %d "
                       "dimensions", name, CKPT_MAX_DIMS);
    struct pk_tensor *pt = ck_alloc(L, sizeof *pt);
    if (!pt)
        return ck_fail(L, -ENOMEM, "out of memory");
    pt->ndim = (int)json_array_size(sh);
    pt->numel = 1;
    for (int d = 0; d < pt->ndim; d++) {
        int64_t s;
        if (!sjson_int(json_array_get(sh, (size_t)d), 0, (int64_t)1 << 40, &s))
            return ck_fail(L, -EINVAL, "safetensors: tensor %s: shape[%d] is not a size", name, d);
        pt->size[d] = s;
        if (s && pt->numel > ((int64_t)1 << 40) / s)
            return ck_fail(L, -EINVAL, "safetensors: tensor %s: too many elements", name);
        pt->numel *= s;
    }
    int64_t stride = 1;
    for (int d = pt->ndim - 1; d >= 0; d--) {
        pt->stride[d] = stride;
        if (pt->size[d])
            stride *= pt->size[d];
    }

    int64_t b, en;
    if (!json_is_array(off) || json_array_size(off) != 2 ||
        !sjson_int(json_array_get(off, 0), 0, (int64_t)datalen, &b) ||
        !sjson_int(json_array_get(off, 1), 0, (int64_t)datalen, &en) || en < b)
        return ck_fail(L, -EINVAL, "safetensors: tensor %s: data_offsets must be [begin, end] "
                       "within the %llu data bytes (truncated file?)", name, (unsigned long long)datalen);
    uint64_t want = (uint64_t)pt->numel * (uint64_t)ck_dtype_size(t);
    if ((uint64_t)(en - b) != want)
        return ck_fail(L, -EINVAL, "safetensors: tensor %s: %lld bytes for %lld %s elements "
                       "(expected %llu)", name, (long long)(en - b), (long long)pt->numel,
                       st_dtypes[ti].name, (unsigned long long)want);
    *sp = (struct span){ (uint64_t)b, (uint64_t)en, tname };

    struct pv *key = pv_str(L, tname, tlen);
    if (!key)
        return ck_fail(L, -ENOMEM, "out of memory");
    int si = add_storage(L, t, pt->numel, data + b, key->u.s.p, key->u.s.n);
    if (si < 0)
        return si;
    pt->storage = si;
    struct pv *tv = pv_new(L, PV_TENSOR);
    if (!tv)
        return ck_fail(L, -ENOMEM, "out of memory");
    tv->u.t = pt;
    out[0] = key;
    out[1] = tv;
    return 0;
}

int ck_safetensors_read(struct ck_load *L, const unsigned char *buf, size_t len,
                        struct pv **root)
{
    json_t *h = NULL;
    struct span *spans = NULL;
    int err = 0;
    char msg[200];

    if (len < 8)
        return ck_fail(L, -EINVAL, "safetensors: file too short for the header length");
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | buf[i];
    if (n > ST_MAX_HEADER)
        return ck_fail(L, -EINVAL, "safetensors: header length %llu is larger than a model "
                       "file's can be (16 MB)", (unsigned long long)n);
    if (n > len - 8)
        return ck_fail(L, -EINVAL, "safetensors: header of %llu bytes runs past the end of the "
                       "file (%zu bytes; truncated?)", (unsigned long long)n, len);
    if (n < 2 || buf[8] != '{')
        return ck_fail(L, -EINVAL, "safetensors: header does not start with '{'");
    struct sjson_limits lim = { .max_bytes = (size_t)n, .max_depth = ST_MAX_DEPTH,
                                .max_values = ST_MAX_VALUES };
    if (!(h = sjson_load((const char *)buf + 8, (size_t)n, &lim, msg, sizeof msg)))
        return ck_fail(L, -EINVAL, "safetensors: header JSON %s", msg);
    const unsigned char *data = buf + 8 + n;
    uint64_t datalen = len - 8 - n;

    const json_t *meta = json_object_get(h, "__metadata__");
    size_t ntensors = json_object_size(h) - (meta ? 1 : 0);
    size_t nmeta = json_object_size(meta);   /* 0 when not an object */
    if (ntensors > ST_MAX_TENSORS || nmeta > ST_MAX_META) {
        err = ck_fail(L, -EINVAL, "safetensors: more than %d %s", ntensors > ST_MAX_TENSORS ?
                      ST_MAX_TENSORS : ST_MAX_META, ntensors > ST_MAX_TENSORS ? "tensors" :
                      "__metadata__ entries");
        goto done;
    }
    struct pv *sd = pv_dict(L, ntensors), *md = pv_dict(L, nmeta),
              *top = pv_dict(L, 2);
    spans = malloc((ntensors ? ntensors : 1) * sizeof *spans);
    if (!sd || !md || !top || !spans) {
        err = ck_fail(L, -ENOMEM, "out of memory");
        goto done;
    }
    if (meta) {
        if (!json_is_object(meta)) {
            err = ck_fail(L, -EINVAL, "safetensors: __metadata__ is %s, not an object",
                          sjson_type_name(meta));
            goto done;
        }
        const char *mk;
        const json_t *mv;
        json_object_foreach((json_t *)meta, mk, mv) {
            if (!json_is_string(mv)) {
                char q[80];
                err = ck_fail(L, -EINVAL, "safetensors: __metadata__ value %s is %s, not a string",
                              ck_quote(q, sizeof q, mk, strlen(mk)), sjson_type_name(mv));
                goto done;
            }
            struct pv *k = pv_str(L, mk, strlen(mk)),
                      *v = pv_str(L, json_string_value(mv), json_string_length(mv));
            if (!k || !v) {
                err = ck_fail(L, -ENOMEM, "out of memory");
                goto done;
            }
            dict_put(md, k, v);
        }
    }
    if (ntensors == 0) {
        err = ck_fail(L, -EINVAL, "safetensors: the file holds no tensors");
        goto done;
    }
    size_t ns = 0;
    const char *tk;
    const json_t *tv;
    json_object_foreach(h, tk, tv) {   /* in the file's order */
        if (!strcmp(tk, "__metadata__"))
            continue;
        struct pv *kv[2] = { NULL, NULL };
        if ((err = read_entry(L, tk, tv, data, datalen, &spans[ns], kv)))
            goto done;
        dict_put(sd, kv[0], kv[1]);
        ns++;
    }
    /* the tensors must tile the data area exactly */
    qsort(spans, ns, sizeof *spans, cmp_span);
    uint64_t at = 0;
    for (size_t i = 0; i < ns; i++) {
        char q[80];
        if (spans[i].begin != at) {
            err = ck_fail(L, -EINVAL, "safetensors: tensor %s: data at byte %llu %s",
                          ck_quote(q, sizeof q, spans[i].name, strlen(spans[i].name)),
                          (unsigned long long)spans[i].begin,
                          spans[i].begin < at ? "overlaps the previous tensor"
                                              : "leaves a gap after the previous tensor");
            goto done;
        }
        at = spans[i].end;
    }
    if (at != datalen) {
        err = ck_fail(L, -EINVAL, "safetensors: tensors cover %llu data bytes but the file has %llu "
                      "(%s)", (unsigned long long)at, (unsigned long long)datalen,
                      at < datalen ? "trailing bytes" : "truncated");
        goto done;
    }
    struct pv *k1 = pv_str(L, "state_dict", 10), *k2 = pv_str(L, "__metadata__", 12);
    if (!k1 || !k2) {
        err = ck_fail(L, -ENOMEM, "out of memory");
        goto done;
    }
    dict_put(top, k1, sd);
    dict_put(top, k2, md);
    *root = top;
done:
    free(spans);
    json_decref(h);
    return err;
}

/* ---- writing: a copy with one metadata entry set ------------------------------------ */

static int put_all(FILE *out, const void *p, size_t n)
{
    return fwrite(p, 1, n, out) == n ? 0 : -1;
}

int ck_safetensors_copy(const unsigned char *buf, size_t len, const char *key, const char *value,
                        FILE *out, char *msg, size_t msglen)
{
    uint64_t n = 0;
    for (int i = 7; len >= 8 && i >= 0; i--)
        n = n << 8 | buf[i];
    if (len < 8 || n > ST_MAX_HEADER || n > len - 8) {   /* (it was read once: cannot happen) */
        snprintf(msg, msglen, "not a safetensors file");
        return -1;
    }
    struct sjson_limits lim = { .max_bytes = (size_t)n, .max_depth = ST_MAX_DEPTH,
                                .max_values = ST_MAX_VALUES };
    char jerr[160];
    json_t *h = sjson_load((const char *)buf + 8, (size_t)n, &lim, jerr, sizeof jerr);
    if (!h) {
        snprintf(msg, msglen, "header JSON %s", jerr);
        return -1;
    }
    int err = -1;
    char *text = NULL;
    json_t *meta = json_object_get(h, "__metadata__");
    if (!meta) {
        meta = json_object();
        if (!meta || json_object_set_new(h, "__metadata__", meta)) goto oom;
    }
    if (!json_is_object(meta) || json_object_set_new(meta, key, json_string(value))) goto oom;
    /* the entries keep their order (jansson keeps insertion order), so the copy
       differs from the original only in this one entry */
    text = json_dumps(h, JSON_COMPACT);
    if (!text) goto oom;
    size_t hn = strlen(text), padded = (hn + 7) / 8 * 8;   /* spaces keep the data aligned */
    unsigned char head[8];
    for (int i = 0; i < 8; i++) head[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    static const char spaces[8] = "       ";
    if (put_all(out, head, 8) || put_all(out, text, hn) || put_all(out, spaces, padded - hn) ||
        put_all(out, buf + 8 + n, len - 8 - n)) {
        snprintf(msg, msglen, "write error");
        goto done;
    }
    err = 0;
    goto done;
oom:
    snprintf(msg, msglen, "out of memory");
done:
    free(text);
    json_decref(h);
    return err;
}
