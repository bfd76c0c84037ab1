/*
 * test_npy.c — the .npy / meta.txt readers the parity tests stand on.
 *
 * Part 1 writes small .npy files byte by byte (every dtype and header version
 * the reader accepts, and a set of broken ones it must reject without
 * crashing). Part 2 reads the torchvision fixtures of every case under
 * $VDETECT_FIXTURES/parity and checks that the arrays agree with meta.txt.
 */
#include "check.h"
#include "npy.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

/* Write a .npy with the given header dict (padded to 64 bytes) and payload. */
static const char *write_npy(const char *name, int major, const char *dict, const void *data,
                             size_t bytes)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return path;
    size_t pre = major == 1 ? 10 : 12;
    size_t hl = strlen(dict) + 1;
    size_t total = (pre + hl + 63) / 64 * 64;
    size_t pad = total - pre - hl;
    fwrite("\x93NUMPY", 1, 6, f);
    fputc(major, f);
    fputc(0, f);
    size_t h = hl + pad;
    fputc((int)(h & 0xff), f);
    fputc((int)(h >> 8 & 0xff), f);
    if (major != 1) {
        fputc((int)(h >> 16 & 0xff), f);
        fputc((int)(h >> 24 & 0xff), f);
    }
    fputs(dict, f);
    for (size_t i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
    if (bytes)
        fwrite(data, 1, bytes, f);
    fclose(f);
    return path;
}

static const char *write_raw(const char *name, const void *data, size_t bytes)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, bytes, f);
        fclose(f);
    }
    return path;
}

static void test_synthetic(void)
{
    struct npy a;
    float f4[6] = {1.5f, -2.0f, 3.25f, 0.0f, 1e-8f, -7.0f};
    const char *p = write_npy("f4.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                              f4, sizeof f4);
    CHECK(npy_load(p, &a) == 0, "load f4");
    CHECK(!strcmp(a.dtype, "f4") && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 &&
              a.numel == 6 && a.itemsize == 4,
          "f4 header: dtype %s ndim %d", a.dtype, a.ndim);
    float *fp = npy_f32(&a);
    CHECK(fp && !memcmp(fp, f4, sizeof f4), "f4 payload");
    CHECK(npy_i64(&a) == NULL, "npy_i64 rejects f4");
    CHECK(npy_shape_is(&a, "f4", 2, (const int64_t[]){2, -1}), "shape_is wildcard");
    CHECK(!npy_shape_is(&a, "f4 (expected mismatch)", 2, (const int64_t[]){3, 2}),
          "shape_is mismatch");
    CHECK(((uintptr_t)a.data & 63) == 0, "data 64-byte aligned");
    npy_free(&a);
    npy_free(&a); /* twice is fine */

    double f8[3] = {0.1, -1e30, 3.0};
    p = write_npy("f8.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", f8,
                  sizeof f8);
    CHECK(npy_load(p, &a) == 0 && !strcmp(a.dtype, "f8") && a.ndim == 1, "load f8");
    fp = npy_f32(&a);
    CHECK(fp && fp[0] == 0.1f && fp[1] == -1e30f && fp[2] == 3.0f && !strcmp(a.dtype, "f4"),
          "f8 -> f32 conversion");
    npy_free(&a);

    int64_t i8[4] = {1, -2, INT64_MAX, 0};
    p = write_npy("i8.npy", 2, "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }", i8,
                  sizeof i8);
    CHECK(npy_load(p, &a) == 0, "load i8 (v2 header)");
    int64_t *ip = npy_i64(&a);
    CHECK(ip && ip[2] == INT64_MAX && ip[1] == -2, "i8 payload");
    CHECK(npy_f32(&a) == NULL, "npy_f32 rejects i8");
    npy_free(&a);

    uint8_t u1[2 * 2 * 3] = {0, 255, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    p = write_npy("u1.npy", 3, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 3), }",
                  u1, sizeof u1);
    CHECK(npy_load(p, &a) == 0 && !strcmp(a.dtype, "u1") && a.ndim == 3 && a.numel == 12,
          "load u1 (v3 header)");
    CHECK(a.data && ((uint8_t *)a.data)[1] == 255, "u1 payload");
    npy_free(&a);

    float s = 42.0f;
    p = write_npy("scalar.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", &s,
                  4);
    CHECK(npy_load(p, &a) == 0 && a.ndim == 0 && a.numel == 1 && *(float *)a.data == 42.0f,
          "0-d array");
    npy_free(&a);

    p = write_npy("empty.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }",
                  NULL, 0);
    CHECK(npy_load(p, &a) == 0 && a.numel == 0 && a.shape[1] == 4, "empty [0, 4] array");
    npy_free(&a);

    /* Rejections: each must return -1 with a message, and leave *out empty. */
    fprintf(stderr, "test_npy: the following error messages are expected:\n");
    struct {
        const char *name, *dict;
        size_t bytes;
    } bad[] = {
        {"fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24},
        {"bigend.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 24},
        {"f2.npy", "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }", 12},
        {"short.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20},
        {"long.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 28},
        {"noshape.npy", "{'descr': '<f4', 'fortran_order': False, }", 24},
        {"badshape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", 24},
        {"negshape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }", 24},
        {"hugeshape.npy",
         "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", 24},
        {"overflow.npy",
         "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 24},
        {"ninedims.npy",
         "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 4},
        {"nodict.npy", "'descr': '<f4'", 24},
        {"unterminated.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3", 24},
    };
    float zeros[8] = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = write_npy(bad[i].name, 1, bad[i].dict, zeros, bad[i].bytes);
        memset(&a, 0x5a, sizeof a);
        int rc = npy_load(p, &a);
        CHECK(rc == -1 && a.data == NULL && a.numel == 0, "%s must be rejected", bad[i].name);
    }
    CHECK(npy_load(write_raw("magic.npy", "\x93NUMPZ\x01\x00\x10\x00", 10), &a) == -1,
          "bad magic rejected");
    CHECK(npy_load(write_raw("tiny.npy", "\x93NU", 3), &a) == -1, "3-byte file rejected");
    CHECK(npy_load(write_raw("v9.npy", "\x93NUMPY\x09\x00\x10\x00", 10), &a) == -1,
          "version 9 rejected");
    CHECK(npy_load(write_raw("hdrcut.npy", "\x93NUMPY\x01\x00\x40\x00{'descr'", 17), &a) == -1,
          "truncated header rejected");
    CHECK(npy_load(write_raw("zerohdr.npy", "\x93NUMPY\x01\x00\x00\x00", 10), &a) == -1,
          "zero header length rejected");
    char missing[512];
    snprintf(missing, sizeof missing, "%s/does-not-exist.npy", tmpdir);
    CHECK(npy_load(missing, &a) == -1, "missing file rejected");

    /* meta.txt */
    const char *mt = "arch fasterrcnn_x\n\n  seed 7\nroi_scales 0.25 0.125 0.0625\nsets -\n"
                     "# comment\nempty\nbn_eps 1e-05\r\n";
    p = write_raw("meta.txt", mt, strlen(mt));
    struct meta m;
    CHECK(meta_load(p, &m) == 0, "meta load");
    CHECK(m.n == 6, "meta entries %d", m.n);
    CHECK(meta_get(&m, "arch") && !strcmp(meta_get(&m, "arch"), "fasterrcnn_x"), "meta_get");
    CHECK(meta_num(&m, "seed") == 7.0, "meta_num");
    CHECK(meta_num(&m, "bn_eps") == 1e-5, "meta_num with CRLF");
    CHECK(isnan(meta_num(&m, "sets")) && isnan(meta_num(&m, "nope")), "meta_num NAN");
    CHECK(meta_get(&m, "empty") && !strcmp(meta_get(&m, "empty"), ""), "key without value");
    double sc[4];
    CHECK(meta_nums(&m, "roi_scales", sc, 4) == 3 && sc[2] == 0.0625, "meta_nums");
    CHECK(meta_nums(&m, "roi_scales", sc, 2) == 2, "meta_nums max");
    meta_free(&m);
    meta_free(&m);
    CHECK(meta_load(missing, &m) == -1, "missing meta rejected");
    CHECK(meta_load(write_raw("blank.txt", "\n\n", 2), &m) == -1, "empty meta rejected");
}

/* dir/name into buf; 0, or -1 (with a message) if it does not fit. */
static int join(char *buf, size_t n, const char *dir, const char *name)
{
    int len = snprintf(buf, n, "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= n) {
        fprintf(stderr, "test_npy: path too long: %s/%s\n", dir, name);
        return -1;
    }
    return 0;
}

static int load_case_file(const char *dir, const char *name, struct npy *a)
{
    char path[4096];
    if (join(path, sizeof path, dir, name) != 0)
        return -1;
    return npy_load(path, a);
}

static void test_fixture_case(const char *dir, const char *cname)
{
    char path[4096];
    struct meta m;
    if (join(path, sizeof path, dir, "meta.txt") != 0 || meta_load(path, &m) != 0) {
        CHECK(0, "%s: meta.txt unreadable", cname);
        return;
    }
    double H = meta_num(&m, "height"), W = meta_num(&m, "width");
    double P = meta_num(&m, "num_proposals"), D = meta_num(&m, "num_detections");
    double K = meta_num(&m, "num_classes");
    CHECK(H >= 1 && W >= 1 && P >= 0 && D >= 0 && K >= 2, "%s: meta numbers", cname);
    CHECK(meta_get(&m, "arch") && meta_get(&m, "sets"), "%s: meta arch/sets", cname);

    struct npy a;
    if (load_case_file(dir, "input_u8.npy", &a) == 0) {
        CHECK(!strcmp(a.dtype, "u1") && npy_shape_is(&a, cname, 3, (const int64_t[]){H, W, 3}),
              "%s: input_u8 [H, W, 3] u1", cname);
        npy_free(&a);
    } else {
        CHECK(0, "%s: input_u8.npy", cname);
    }
    if (load_case_file(dir, "proposals.npy", &a) == 0) {
        CHECK(npy_f32(&a) && npy_shape_is(&a, cname, 2, (const int64_t[]){P, 4}),
              "%s: proposals [P, 4] f4", cname);
        npy_free(&a);
    } else {
        CHECK(0, "%s: proposals.npy", cname);
    }
    if (load_case_file(dir, "det_labels.npy", &a) == 0) {
        int64_t *l = npy_i64(&a);
        CHECK(l && npy_shape_is(&a, cname, 1, (const int64_t[]){D}), "%s: det_labels [D] i8",
              cname);
        int ok = 1;
        for (int64_t i = 0; l && i < a.numel; i++)
            ok &= l[i] >= 1 && l[i] < K;
        CHECK(ok, "%s: labels in 1..K-1", cname);
        npy_free(&a);
    } else {
        CHECK(0, "%s: det_labels.npy", cname);
    }
    if (load_case_file(dir, "transform.npy", &a) == 0) {
        CHECK(npy_f32(&a) &&
                  npy_shape_is(&a, cname, 3,
                               (const int64_t[]){3, meta_num(&m, "padded_h"),
                                                 meta_num(&m, "padded_w")}),
              "%s: transform [3, Hp, Wp]", cname);
        npy_free(&a);
    } else {
        CHECK(0, "%s: transform.npy", cname);
    }
    meta_free(&m);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_npy.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_synthetic();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_npy: could not remove %s\n", tmpdir);

    const char *root = getenv("VDETECT_FIXTURES");
    char pdir[1024];
    snprintf(pdir, sizeof pdir, "%s/parity", root && *root ? root : "tests/fixtures");
    DIR *d = opendir(pdir);
    CHECK(d != NULL, "fixtures %s missing (run tests/gen_parity.py %s)", pdir, pdir);
    int ncases = 0;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char dir[2048], mp[4096];
            if (join(dir, sizeof dir, pdir, e->d_name) != 0 ||
                join(mp, sizeof mp, dir, "meta.txt") != 0 || access(mp, R_OK) != 0)
                continue;
            test_fixture_case(dir, e->d_name);
            ncases++;
        }
        closedir(d);
        CHECK(ncases > 0, "no cases under %s", pdir);
        printf("test_npy: read fixtures of %d cases\n", ncases);
    }
    return check_summary("test_npy");
}
