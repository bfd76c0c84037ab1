/*
 * zip.c — the zip container of torch.save (torch >= 1.6).
 *
 * Owns the zip parsing: the end-of-central-directory record (and its zip64
 * variant), the central directory, and each entry's local header, all checked
 * against each other and against the file size (STORED only, no encryption,
 * no "..", no duplicate names, no overlapping entries). It then finds
 * "<prefix>/data.pkl", rejects TorchScript archives, honours an optional
 * "<prefix>/byteorder" record, runs the pickle VM on data.pkl and points each
 * storage at the bytes of "<prefix>/data/<key>". Unknown records are ignored.
 * CRCs are not verified (the data is used in place; sizes are).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SIG_LOCAL   0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD    0x06054b50u
#define SIG_EOCD64  0x06064b50u
#define SIG_LOC64   0x07064b50u
#define SIG_DESC    0x08074b50u

struct zent {
    const char *name;
    size_t namelen;
    uint32_t crc;
    uint64_t size;          /* bytes (STORED: compressed == uncompressed) */
    uint64_t lho;           /* local header offset */
    uint64_t data;          /* offset of the first data byte */
    uint64_t end;           /* one past the data and its descriptor */
    int zip64;
};

static uint64_t rd_le(const unsigned char *p, int k)
{
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c)
        return c;
    return an < bn ? -1 : an > bn;
}

static int cmp_by_name(const void *x, const void *y)
{
    const struct zent *a = x, *b = y;
    return name_cmp(a->name, a->namelen, b->name, b->namelen);
}

static int cmp_by_offset(const void *x, const void *y)
{
    const struct zent *const *a = x, *const *b = y;
    return (*a)->lho < (*b)->lho ? -1 : (*a)->lho > (*b)->lho;
}

/* Entries sorted by name; NULL if absent. */
static const struct zent *zfind(const struct zent *e, size_t n, const char *name, size_t len)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(e[mid].name, e[mid].namelen, name, len);
        if (!c)
            return &e[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Where the central directory lives, from the (zip64) end records. */
static int find_cd(struct ck_load *L, const unsigned char *b, size_t len,
                   uint64_t *cd_off, uint64_t *cd_size, uint64_t *count)
{
    if (len < 22)
        return ck_fail(L, -EINVAL, "zip: file too short for an end of central directory");
    size_t lim = len - 22 > 65535 ? len - 22 - 65535 : 0, eocd = 0;
    int found = 0;
    for (size_t p = len - 22 + 1; p-- > lim;) {
        if (rd_le(b + p, 4) == SIG_EOCD && rd_le(b + p + 20, 2) == len - p - 22) {
            eocd = p;
            found = 1;
            break;
        }
    }
    if (!found)
        return ck_fail(L, -EINVAL, "zip: no end of central directory record (truncated file?)");
    const unsigned char *e = b + eocd;
    uint64_t disk = rd_le(e + 4, 2), cd_disk = rd_le(e + 6, 2);
    uint64_t n_disk = rd_le(e + 8, 2), n = rd_le(e + 10, 2);
    uint64_t size = rd_le(e + 12, 4), off = rd_le(e + 16, 4);
    uint64_t limit = eocd;                      /* the directory ends before this */

    if (eocd >= 20 && rd_le(b + eocd - 20, 4) == SIG_LOC64) {
        const unsigned char *loc = b + eocd - 20;
        uint64_t z = rd_le(loc + 8, 8);
        if (rd_le(loc + 4, 4) != 0 || rd_le(loc + 16, 4) != 1)
            return ck_fail(L, -EINVAL, "zip: multi-disk zip64 archive");
        if (z > eocd - 20 || eocd - 20 - z < 56 || rd_le(b + z, 4) != SIG_EOCD64)
            return ck_fail(L, -EINVAL, "zip: bad zip64 end of central directory offset");
        const unsigned char *r = b + z;
        uint64_t d64 = rd_le(r + 16, 4), cd64 = rd_le(r + 20, 4);
        uint64_t nd64 = rd_le(r + 24, 8), n64 = rd_le(r + 32, 8);
        uint64_t size64 = rd_le(r + 40, 8), off64 = rd_le(r + 48, 8);
        if ((disk != 0xffff && disk != d64) || (cd_disk != 0xffff && cd_disk != cd64) ||
            (n_disk != 0xffff && n_disk != nd64) || (n != 0xffff && n != n64) ||
            (size != 0xffffffff && size != size64) || (off != 0xffffffff && off != off64))
            return ck_fail(L, -EINVAL, "zip: zip64 and classic end records disagree");
        disk = d64; cd_disk = cd64; n_disk = nd64; n = n64; size = size64; off = off64;
        limit = z;
    }
    if (disk != 0 || cd_disk != 0 || n_disk != n)
        return ck_fail(L, -EINVAL, "zip: multi-disk archives are not supported");
    if (off > limit || size > limit - off)
        return ck_fail(L, -EINVAL, "zip: central directory (offset %llu, %llu bytes) outside the file",
                       (unsigned long long)off, (unsigned long long)size);
    if (n == 0 || n > size / 46)
        return ck_fail(L, -EINVAL, "zip: %llu entries cannot fit a %llu-byte central directory",
                       (unsigned long long)n, (unsigned long long)size);
    *cd_off = off;
    *cd_size = size;
    *count = n;
    return 0;
}

/* Zip64 extended information: replaces the fields saturated at 0xffffffff. */
static int zip64_extra(const unsigned char *x, size_t xn, uint64_t *usize, uint64_t *csize,
                       uint64_t *lho, int *zip64)
{
    size_t p = 0;
    while (xn - p >= 4) {
        uint64_t id = rd_le(x + p, 2), sz = rd_le(x + p + 2, 2);
        if (sz > xn - p - 4)
            return -1;
        if (id == 1) {
            const unsigned char *f = x + p + 4;
            size_t q = 0;
            uint64_t *fields[3] = { usize, csize, lho };
            for (int i = 0; i < 3; i++) {
                if (!fields[i] || *fields[i] != 0xffffffffu)
                    continue;
                if (sz - q < 8)
                    return -1;
                *fields[i] = rd_le(f + q, 8);
                q += 8;
            }
            *zip64 = 1;
        }
        p += 4 + sz;
    }
    return p == xn ? 0 : -1;
}

static int bad_name(const char *s, size_t n)
{
    return n == 0 || s[0] == '/' || memchr(s, 0, n) || memchr(s, '\\', n) ||
           memmem(s, n, "..", 2) != NULL;
}

/* "<prefix>/constants.pkl" or "<prefix>/code/...": written by torch.jit.save. */
static int is_torchscript(const char *s, size_t n)
{
    const char *slash = memchr(s, '/', n);
    if (!slash)
        return 0;
    size_t rest = n - (size_t)(slash + 1 - s);
    return (rest == 13 && !memcmp(slash + 1, "constants.pkl", 13)) ||
           (rest >= 5 && !memcmp(slash + 1, "code/", 5));
}

/* Checks the local header of e against the central directory; sets data/end. */
static int check_local(struct ck_load *L, const unsigned char *b, size_t len, uint64_t cd_off,
                       struct zent *e)
{
    char q[80];
    const char *nm = ck_quote(q, sizeof(q), e->name, e->namelen);
    if (e->lho > cd_off || cd_off - e->lho < 30 || rd_le(b + e->lho, 4) != SIG_LOCAL)
        return ck_fail(L, -EINVAL, "zip: entry %s: bad local header offset", nm);
    const unsigned char *h = b + e->lho;
    uint64_t flags = rd_le(h + 6, 2), method = rd_le(h + 8, 2);
    uint64_t crc = rd_le(h + 14, 4), csize = rd_le(h + 18, 4), usize = rd_le(h + 22, 4);
    uint64_t nlen = rd_le(h + 26, 2), xlen = rd_le(h + 28, 2);
    if (nlen + xlen > cd_off - e->lho - 30)
        return ck_fail(L, -EINVAL, "zip: entry %s: local header runs into the directory", nm);
    if (nlen != e->namelen || memcmp(h + 30, e->name, nlen) != 0)
        return ck_fail(L, -EINVAL, "zip: entry %s: local and central names differ", nm);
    if (method != 0 || (flags & 1))
        return ck_fail(L, -EINVAL, "zip: entry %s: local header says compressed or encrypted", nm);
    int z64 = 0;
    if (zip64_extra(h + 30 + nlen, xlen, &usize, &csize, NULL, &z64))
        return ck_fail(L, -EINVAL, "zip: entry %s: malformed local extra field", nm);
    int deferred = (flags & 8) && crc == 0 && csize == 0 && usize == 0;
    if (!deferred && (csize != e->size || usize != e->size || crc != e->crc))
        return ck_fail(L, -EINVAL, "zip: entry %s: local sizes differ from the central directory", nm);
    e->data = e->lho + 30 + nlen + xlen;
    if (e->size > cd_off - e->data)
        return ck_fail(L, -EINVAL, "zip: entry %s: data (%llu bytes) runs past the directory", nm,
                       (unsigned long long)e->size);
    e->end = e->data + e->size;
    if (flags & 8) {                 /* data descriptor: [sig] crc csize usize */
        uint64_t p = e->end, room = cd_off - p;
        int wide = e->zip64 || z64;
        if (room >= 4 && rd_le(b + p, 4) == SIG_DESC) {
            p += 4;
            room -= 4;
        }
        uint64_t need = wide ? 20 : 12;
        if (room < need)
            return ck_fail(L, -EINVAL, "zip: entry %s: truncated data descriptor", nm);
        uint64_t dc = rd_le(b + p + 4, wide ? 8 : 4), du = rd_le(b + p + (wide ? 12 : 8), wide ? 8 : 4);
        if (rd_le(b + p, 4) != e->crc || dc != e->size || du != e->size)
            return ck_fail(L, -EINVAL, "zip: entry %s: data descriptor differs from the central directory", nm);
        e->end = p + need;
    }
    (void)len;
    return 0;
}

static int read_directory(struct ck_load *L, const unsigned char *b, size_t len,
                          struct zent **out, size_t *count)
{
    uint64_t cd_off = 0, cd_size = 0, n = 0;
    int err = find_cd(L, b, len, &cd_off, &cd_size, &n);
    if (err)
        return err;
    struct zent *e = calloc((size_t)n, sizeof(*e));
    struct zent **byoff = calloc((size_t)n, sizeof(*byoff));
    if (!e || !byoff) {
        err = ck_fail(L, -ENOMEM, "out of memory");
        goto fail;
    }
    uint64_t p = cd_off, end = cd_off + cd_size;
    char q[80];
    for (uint64_t i = 0; i < n; i++) {
        if (end - p < 46 || rd_le(b + p, 4) != SIG_CENTRAL) {
            err = ck_fail(L, -EINVAL, "zip: central directory entry %llu is malformed",
                          (unsigned long long)i);
            goto fail;
        }
        const unsigned char *c = b + p;
        uint64_t flags = rd_le(c + 8, 2), method = rd_le(c + 10, 2);
        uint64_t csize = rd_le(c + 20, 4), usize = rd_le(c + 24, 4), lho = rd_le(c + 42, 4);
        uint64_t nlen = rd_le(c + 28, 2), xlen = rd_le(c + 30, 2), clen = rd_le(c + 32, 2);
        uint64_t disk = rd_le(c + 34, 2);
        if (nlen + xlen + clen > end - p - 46) {
            err = ck_fail(L, -EINVAL, "zip: central directory entry %llu overruns the directory",
                          (unsigned long long)i);
            goto fail;
        }
        e[i].name = (const char *)c + 46;
        e[i].namelen = (size_t)nlen;
        e[i].crc = (uint32_t)rd_le(c + 16, 4);
        const char *nm = ck_quote(q, sizeof(q), e[i].name, e[i].namelen);
        if (is_torchscript(e[i].name, e[i].namelen)) {
            err = ck_fail(L, -EINVAL, "a TorchScript archive (torch.jit.save), not a state_dict; "
                          "save model.state_dict() with torch.save instead");
            goto fail;
        }
        if (bad_name(e[i].name, e[i].namelen)) {
            err = ck_fail(L, -EINVAL, "zip: unsafe entry name %s", nm);
            goto fail;
        }
        if (method != 0) {
            err = ck_fail(L, -EINVAL, "zip: entry %s is compressed (method %llu); torch.save stores entries uncompressed",
                          nm, (unsigned long long)method);
            goto fail;
        }
        if (flags & 1) {
            err = ck_fail(L, -EINVAL, "zip: entry %s is encrypted", nm);
            goto fail;
        }
        if (zip64_extra(c + 46 + nlen, xlen, &usize, &csize, &lho, &e[i].zip64) || disk != 0) {
            err = ck_fail(L, -EINVAL, "zip: entry %s: malformed extra field or disk number", nm);
            goto fail;
        }
        if (csize != usize) {
            err = ck_fail(L, -EINVAL, "zip: entry %s: stored size %llu differs from size %llu", nm,
                          (unsigned long long)csize, (unsigned long long)usize);
            goto fail;
        }
        e[i].size = usize;
        e[i].lho = lho;
        if ((err = check_local(L, b, len, cd_off, &e[i])))
            goto fail;
        byoff[i] = &e[i];
        p += 46 + nlen + xlen + clen;
    }
    qsort(byoff, (size_t)n, sizeof(*byoff), cmp_by_offset);
    for (uint64_t i = 0; i + 1 < n; i++)
        if (byoff[i]->end > byoff[i + 1]->lho) {
            err = ck_fail(L, -EINVAL, "zip: entries %s and the next one overlap",
                          ck_quote(q, sizeof(q), byoff[i]->name, byoff[i]->namelen));
            goto fail;
        }
    qsort(e, (size_t)n, sizeof(*e), cmp_by_name);
    for (uint64_t i = 0; i + 1 < n; i++)
        if (!cmp_by_name(&e[i], &e[i + 1])) {
            err = ck_fail(L, -EINVAL, "zip: duplicate entry %s",
                          ck_quote(q, sizeof(q), e[i].name, e[i].namelen));
            goto fail;
        }
    free(byoff);
    *out = e;
    *count = (size_t)n;
    return 0;
fail:
    free(e);
    free(byoff);
    return err;
}

int ck_zip_read(struct ck_load *L, const unsigned char *b, size_t len, struct pv **root)
{
    struct zent *e = NULL;
    size_t n = 0;
    char *path = NULL;
    char q[80];
    int err = read_directory(L, b, len, &e, &n);
    if (err)
        return err;

    const struct zent *pkl = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s = e[i].name, *slash = memchr(s, '/', e[i].namelen);
        if (!slash)
            continue;
        size_t rest = e[i].namelen - (size_t)(slash + 1 - s);
        if (rest == 8 && !memcmp(slash + 1, "data.pkl", 8)) {
            if (pkl) {
                err = ck_fail(L, -EINVAL, "zip: more than one data.pkl record");
                goto done;
            }
            pkl = &e[i];
        }
    }
    if (!pkl) {
        err = ck_fail(L, -EINVAL, "zip: no <prefix>/data.pkl record (not a torch.save file)");
        goto done;
    }
    size_t plen = pkl->namelen - 8;             /* prefix including the '/' */
    path = malloc(plen + 80);
    if (!path) {
        err = ck_fail(L, -ENOMEM, "out of memory");
        goto done;
    }
    memcpy(path, pkl->name, plen);

    memcpy(path + plen, "byteorder", 9);
    const struct zent *bo = zfind(e, n, path, plen + 9);
    if (bo) {
        const char *s = (const char *)b + bo->data;
        if (bo->size == 3 && !memcmp(s, "big", 3)) {
            L->big_endian = 1;
        } else if (!(bo->size == 6 && !memcmp(s, "little", 6))) {
            err = ck_fail(L, -EINVAL, "zip: byteorder record is %s, not little or big",
                          ck_quote(q, sizeof(q), s, (size_t)bo->size));
            goto done;
        }
    }

    size_t used;
    if ((err = pk_run(L, b + pkl->data, (size_t)pkl->size, 1, "data.pkl", &used, root)))
        goto done;
    if (used != pkl->size) {
        err = ck_fail(L, -EINVAL, "data.pkl: %zu bytes after STOP", (size_t)pkl->size - used);
        goto done;
    }

    for (int i = 0; i < L->nst; i++) {
        struct ck_storage *st = &L->st[i];
        memcpy(path + plen, "data/", 5);
        memcpy(path + plen + 5, st->key, st->keylen);       /* keylen <= 64 (VM) */
        size_t pn = plen + 5 + st->keylen;
        const struct zent *r = zfind(e, n, path, pn);
        if (!r) {
            err = ck_fail(L, -EINVAL, "zip: storage %s has no record",
                          ck_quote(q, sizeof(q), path, pn));
            goto done;
        }
        uint64_t bytes;
        if (__builtin_mul_overflow((uint64_t)st->numel, (uint64_t)ck_dtype_size(st->dtype), &bytes) ||
            bytes != r->size) {
            err = ck_fail(L, -EINVAL, "zip: record %s holds %llu bytes, but the pickle says %lld x %d",
                          ck_quote(q, sizeof(q), path, pn), (unsigned long long)r->size,
                          (long long)st->numel, ck_dtype_size(st->dtype));
            goto done;
        }
        st->data = b + r->data;
    }
done:
    free(path);
    free(e);
    return err;
}
