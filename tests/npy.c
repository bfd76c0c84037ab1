/*
 * npy.c — .npy and meta.txt readers for the tests (see npy.h for the contract).
 *
 * The .npy header is a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and a newline. Only the three keys NumPy writes are
 * understood; the parser is strict about their values and tolerant of spacing.
 */
#include "npy.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *alloc64(size_t bytes)
{
    size_t n = (bytes + 63) / 64 * 64;
    return aligned_alloc(64, n ? n : 64);
}

void npy_free(struct npy *a)
{
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* Skip spaces; return the pointer. */
static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && isspace((unsigned char)*p))
        p++;
    return p;
}

/* Find "'key'" followed by ':' in the header; return the pointer after ':'. */
static const char *find_key(const char *h, const char *end, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = h; p + kl + 2 <= end; p++) {
        if ((*p == '\'' || *p == '"') && p[kl + 1] == *p && memcmp(p + 1, key, kl) == 0) {
            const char *q = skip_ws(p + kl + 2, end);
            if (q < end && *q == ':')
                return skip_ws(q + 1, end);
        }
    }
    return NULL;
}

static int parse_header(const char *path, const char *h, size_t len, struct npy *out)
{
    const char *end = h + len;
    const char *p = skip_ws(h, end);
    if (p >= end || *p != '{') {
        fprintf(stderr, "npy %s: header is not a dict\n", path);
        return -1;
    }

    /* descr */
    p = find_key(h, end, "descr");
    if (!p || (*p != '\'' && *p != '"')) {
        fprintf(stderr, "npy %s: header has no 'descr' string\n", path);
        return -1;
    }
    char quote = *p++;
    const char *q = memchr(p, quote, (size_t)(end - p));
    if (!q || q - p > 8) {
        fprintf(stderr, "npy %s: bad 'descr'\n", path);
        return -1;
    }
    char descr[9];
    memcpy(descr, p, (size_t)(q - p));
    descr[q - p] = 0;
    if (!strcmp(descr, "<f4")) {
        strcpy(out->dtype, "f4");
        out->itemsize = 4;
    } else if (!strcmp(descr, "<f8")) {
        strcpy(out->dtype, "f8");
        out->itemsize = 8;
    } else if (!strcmp(descr, "<i8")) {
        strcpy(out->dtype, "i8");
        out->itemsize = 8;
    } else if (!strcmp(descr, "|u1") || !strcmp(descr, "<u1")) {
        strcpy(out->dtype, "u1");
        out->itemsize = 1;
    } else {
        fprintf(stderr, "npy %s: unsupported dtype '%s' (want <f4, <f8, <i8 or |u1)\n", path,
                descr);
        return -1;
    }

    /* fortran_order */
    p = find_key(h, end, "fortran_order");
    if (!p) {
        fprintf(stderr, "npy %s: header has no 'fortran_order'\n", path);
        return -1;
    }
    if ((size_t)(end - p) >= 5 && !memcmp(p, "False", 5)) {
        /* C order: fine */
    } else if ((size_t)(end - p) >= 4 && !memcmp(p, "True", 4)) {
        fprintf(stderr, "npy %s: Fortran-order arrays are not supported\n", path);
        return -1;
    } else {
        fprintf(stderr, "npy %s: bad 'fortran_order'\n", path);
        return -1;
    }

    /* shape */
    p = find_key(h, end, "shape");
    if (!p || *p != '(') {
        fprintf(stderr, "npy %s: header has no 'shape' tuple\n", path);
        return -1;
    }
    p++;
    out->ndim = 0;
    out->numel = 1;
    for (int i = 0; i < NPY_MAX_DIMS; i++)
        out->shape[i] = 1;
    for (;;) {
        p = skip_ws(p, end);
        if (p >= end) {
            fprintf(stderr, "npy %s: unterminated 'shape'\n", path);
            return -1;
        }
        if (*p == ')')
            break;
        if (!isdigit((unsigned char)*p)) {
            fprintf(stderr, "npy %s: bad 'shape'\n", path);
            return -1;
        }
        int64_t v = 0;
        while (p < end && isdigit((unsigned char)*p)) {
            if (v > (INT64_MAX - 9) / 10) {
                fprintf(stderr, "npy %s: 'shape' dimension overflows\n", path);
                return -1;
            }
            v = v * 10 + (*p++ - '0');
        }
        if (p < end && (*p == 'L' || *p == 'l'))
            p++; /* Python 2 longs */
        if (out->ndim >= NPY_MAX_DIMS) {
            fprintf(stderr, "npy %s: more than %d dimensions\n", path, NPY_MAX_DIMS);
            return -1;
        }
        if (v != 0 && out->numel > INT64_MAX / 8 / v) {
            fprintf(stderr, "npy %s: array too large\n", path);
            return -1;
        }
        out->shape[out->ndim++] = v;
        out->numel *= v;
        p = skip_ws(p, end);
        if (p < end && *p == ',')
            p++;
        else if (p < end && *p != ')') {
            fprintf(stderr, "npy %s: bad 'shape'\n", path);
            return -1;
        }
    }
    return 0;
}

int npy_load(const char *path, struct npy *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "npy %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *hdr = NULL;
    unsigned char pre[12];
    size_t got = fread(pre, 1, 10, f);
    if (got < 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        fprintf(stderr, "npy %s: not a .npy file (bad magic)\n", path);
        goto fail;
    }
    int major = pre[6];
    uint64_t hlen;
    long data_off;
    if (major == 1) {
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
        data_off = 10;
    } else if (major == 2 || major == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            fprintf(stderr, "npy %s: truncated header\n", path);
            goto fail;
        }
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8 | (uint64_t)pre[10] << 16 |
               (uint64_t)pre[11] << 24;
        data_off = 12;
    } else {
        fprintf(stderr, "npy %s: unsupported format version %d.%d\n", path, major, pre[7]);
        goto fail;
    }
    if (hlen == 0 || hlen > (1u << 20)) {
        fprintf(stderr, "npy %s: implausible header length %llu\n", path,
                (unsigned long long)hlen);
        goto fail;
    }
    hdr = malloc(hlen + 1);
    if (!hdr || fread(hdr, 1, hlen, f) != hlen) {
        fprintf(stderr, "npy %s: truncated header\n", path);
        goto fail;
    }
    hdr[hlen] = 0;
    data_off += (long)hlen;
    if (parse_header(path, hdr, hlen, out) != 0)
        goto fail;

    if (fseeko(f, 0, SEEK_END) != 0) {
        fprintf(stderr, "npy %s: %s\n", path, strerror(errno));
        goto fail;
    }
    int64_t fsize = (int64_t)ftello(f);
    int64_t bytes = out->numel * out->itemsize;
    if (fsize - data_off != bytes) {
        fprintf(stderr, "npy %s: data is %lld bytes, shape and dtype need %lld\n", path,
                (long long)(fsize - data_off), (long long)bytes);
        goto fail;
    }
    if (fseeko(f, data_off, SEEK_SET) != 0) {
        fprintf(stderr, "npy %s: %s\n", path, strerror(errno));
        goto fail;
    }
    out->data = alloc64((size_t)bytes);
    if (!out->data) {
        fprintf(stderr, "npy %s: out of memory for %lld bytes\n", path, (long long)bytes);
        goto fail;
    }
    if (fread(out->data, 1, (size_t)bytes, f) != (size_t)bytes) {
        fprintf(stderr, "npy %s: short read\n", path);
        goto fail;
    }
    free(hdr);
    fclose(f);
    return 0;

fail:
    free(hdr);
    fclose(f);
    npy_free(out);
    return -1;
}

float *npy_f32(struct npy *a)
{
    if (!a->data && a->numel) {
        fprintf(stderr, "npy: array not loaded\n");
        return NULL;
    }
    if (!strcmp(a->dtype, "f4"))
        return a->data;
    if (!strcmp(a->dtype, "f8")) {
        float *f = alloc64((size_t)a->numel * sizeof(float));
        if (!f) {
            fprintf(stderr, "npy: out of memory converting f8 to f4\n");
            return NULL;
        }
        const double *d = a->data;
        for (int64_t i = 0; i < a->numel; i++)
            f[i] = (float)d[i];
        free(a->data);
        a->data = f;
        strcpy(a->dtype, "f4");
        a->itemsize = 4;
        return f;
    }
    fprintf(stderr, "npy: dtype %s is not floating point\n", a->dtype);
    return NULL;
}

int64_t *npy_i64(struct npy *a)
{
    if (strcmp(a->dtype, "i8") != 0) {
        fprintf(stderr, "npy: dtype %s is not int64\n", a->dtype);
        return NULL;
    }
    return a->data;
}

int npy_load_f32(const char *path, struct npy *out)
{
    if (npy_load(path, out) != 0)
        return -1;
    if (!npy_f32(out)) {
        fprintf(stderr, "npy %s: expected a float array\n", path);
        npy_free(out);
        return -1;
    }
    return 0;
}

int npy_shape_is(const struct npy *a, const char *name, int ndim, const int64_t *dims)
{
    int ok = a->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        if (dims[i] >= 0 && a->shape[i] != dims[i])
            ok = 0;
    if (!ok) {
        fprintf(stderr, "npy %s: shape (", name);
        for (int i = 0; i < a->ndim; i++)
            fprintf(stderr, "%s%lld", i ? "," : "", (long long)a->shape[i]);
        fprintf(stderr, "), want (");
        for (int i = 0; i < ndim; i++) {
            if (dims[i] < 0)
                fprintf(stderr, "%s*", i ? "," : "");
            else
                fprintf(stderr, "%s%lld", i ? "," : "", (long long)dims[i]);
        }
        fprintf(stderr, ")\n");
    }
    return ok;
}

/* ---- meta.txt ------------------------------------------------------------ */

void meta_free(struct meta *m)
{
    if (!m)
        return;
    free(m->text);
    memset(m, 0, sizeof *m);
}

int meta_load(const char *path, struct meta *m)
{
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "meta %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    char *t = malloc(cap);
    for (;;) {
        if (!t) {
            fprintf(stderr, "meta %s: out of memory\n", path);
            fclose(f);
            return -1;
        }
        len += fread(t + len, 1, cap - 1 - len, f);
        if (len < cap - 1)
            break;
        if (cap > (64u << 20)) {
            fprintf(stderr, "meta %s: file too large\n", path);
            free(t);
            fclose(f);
            return -1;
        }
        cap *= 2;
        char *nt = realloc(t, cap);
        if (!nt)
            free(t);
        t = nt;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        fprintf(stderr, "meta %s: read error\n", path);
        free(t);
        return -1;
    }
    t[len] = 0;
    m->text = t;
    int lineno = 0;
    char *save = NULL;
    for (char *line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\r' || isspace((unsigned char)line[l - 1])))
            line[--l] = 0;
        while (*line == ' ' || *line == '\t')
            line++;
        if (!*line || *line == '#')
            continue;
        if (m->n >= META_MAX_LINES) {
            fprintf(stderr, "meta %s: more than %d entries\n", path, META_MAX_LINES);
            meta_free(m);
            return -1;
        }
        char *sp = line;
        while (*sp && *sp != ' ' && *sp != '\t')
            sp++;
        if (*sp) {
            *sp++ = 0;
            while (*sp == ' ' || *sp == '\t')
                sp++;
        }
        m->key[m->n] = line;
        m->val[m->n] = sp;
        m->n++;
    }
    if (m->n == 0) {
        fprintf(stderr, "meta %s: no entries\n", path);
        meta_free(m);
        return -1;
    }
    return 0;
}

const char *meta_get(const struct meta *m, const char *key)
{
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->key[i], key))
            return m->val[i];
    return NULL;
}

int meta_nums(const struct meta *m, const char *key, double *out, int max)
{
    const char *v = meta_get(m, key);
    int n = 0;
    while (v && n < max) {
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (end == v || errno == ERANGE)
            break;
        if (*end && !isspace((unsigned char)*end))
            break;
        out[n++] = d;
        v = end;
    }
    return n;
}

double meta_num(const struct meta *m, const char *key)
{
    double d;
    return meta_nums(m, key, &d, 1) == 1 ? d : NAN;
}
