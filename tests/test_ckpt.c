/*
 * test_ckpt.c — tests of the checkpoint reader (model/ckpt*.c).
 *
 * 1. Every "good" fixture of tests/gen_ckpt.py (zip and legacy, wrapped,
 *    DataParallel, old torchvision keys, float16/bfloat16/float64, views,
 *    transposed tensors, a real torchvision state_dict) loads with the names,
 *    shapes, sums and exact first/last values PyTorch wrote in its sidecar.
 * 2. Every "bad" fixture is rejected with exactly one "checkpoint PATH: ..."
 *    line naming the problem.
 * 3. Hand-built legacy files exercise each VM rule (forbidden opcodes, memo,
 *    MARK, protocol, persistent ids, tensor bounds) and a few zip mutations
 *    exercise the container checks.
 * 4. Robustness: every small good file truncated at every byte (sampled for
 *    bigger files) and a few hundred seeded byte-flip variants must load or
 *    fail cleanly; run under ASan/UBSan by `make asan`.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../model/ckpt/ckpt.h"
#include "../tests/check.h"

static char fixdir[1024], tmpdir[256];

/* ---- small utilities ---------------------------------------------------- */

/* dst = "a/b"; a path that does not fit is a bug in the test setup. */
static void join(char *dst, size_t cap, const char *a, const char *b)
{
    if (snprintf(dst, cap, "%s/%s", a, b) >= (int)cap) {
        fprintf(stderr, "test_ckpt: path too long: %s/%s\n", a, b);
        exit(1);
    }
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc(n > 0 ? (size_t)n : 1);
    if (d && n > 0 && fread(d, 1, (size_t)n, f) != (size_t)n) {
        free(d);
        d = NULL;
    }
    fclose(f);
    *len = n > 0 ? (size_t)n : 0;
    return d;
}

static int write_file(const char *path, const void *d, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    ssize_t w = n ? write(fd, d, n) : 0;
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

/* Load with stderr captured into msg (first line) and its line count. */
static int load_captured(const char *path, struct ckpt **c, char *msg, size_t cap, int *lines)
{
    char errpath[300];
    snprintf(errpath, sizeof(errpath), "%s/stderr.txt", tmpdir);
    fflush(stderr);
    int saved = dup(2), fd = open(errpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    int rc = ckpt_load(path, c);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    size_t n = 0;
    unsigned char *d = read_file(errpath, &n);
    *lines = 0;
    msg[0] = 0;
    for (size_t i = 0; d && i < n; i++)
        *lines += d[i] == '\n';
    if (d) {
        size_t k = n < cap - 1 ? n : cap - 1;
        memcpy(msg, d, k);
        msg[k] = 0;
        char *nl = strchr(msg, '\n');
        if (nl)
            *nl = 0;
    }
    free(d);
    return rc;
}

static int quiet_fd = -1, saved_fd = -1;

static void quiet(int on)
{
    fflush(stderr);
    if (on) {
        saved_fd = dup(2);
        quiet_fd = open("/dev/null", O_WRONLY);
        dup2(quiet_fd, 2);
    } else {
        dup2(saved_fd, 2);
        close(saved_fd);
        close(quiet_fd);
    }
}

/* Touches every float of a loaded checkpoint (ASan catches a bad pointer). */
static double touch_all(const struct ckpt *c)
{
    double s = 0;
    for (int i = 0; i < ckpt_count(c); i++) {
        const struct ckpt_tensor *t = ckpt_at(c, i);
        for (int64_t k = 0; k < t->numel; k++)
            s += t->data[k] == t->data[k];
        s += (double)strlen(t->name);
    }
    return s;
}

/* ---- 1. good fixtures against their sidecars ---------------------------- */

static void check_good(const char *file)
{
    char path[2048], side[2048], line[4096];
    join(path, sizeof(path), fixdir, file);
    snprintf(side, sizeof(side), "%s/%.*s.txt", fixdir, (int)(strlen(file) - 4), file);
    FILE *f = fopen(side, "r");
    CHECK(f != NULL, "%s: no sidecar %s", file, side);
    if (!f)
        return;
    struct ckpt *c = NULL;
    int rc = ckpt_load(path, &c);
    CHECK(rc == 0 && c, "%s: load failed (%d)", file, rc);
    if (rc || !c) {
        fclose(f);
        return;
    }
    char fmt[32] = "";
    int count = -1, i = 0, bad = 0;
    if (fscanf(f, "format %31s\ncount %d\n", fmt, &count) != 2)
        count = -1;
    CHECK(!strcmp(ckpt_format(c), fmt), "%s: format %s, expected %s", file, ckpt_format(c), fmt);
    CHECK(ckpt_count(c) == count, "%s: %d tensors, expected %d", file, ckpt_count(c), count);
    while (fgets(line, sizeof(line), f) && i < ckpt_count(c)) {
        char name[1024];
        int ndim, off = 0;
        if (sscanf(line, "t %1023s %d%n", name, &ndim, &off) != 2)
            continue;
        const struct ckpt_tensor *t = ckpt_at(c, i++);
        char *p = line + off;
        long long shape[8], numel;
        for (int d = 0; d < ndim && d < 8; d++)
            shape[d] = strtoll(p, &p, 10);
        numel = strtoll(p, &p, 10);
        double sum = strtod(p, &p), asum = strtod(p, &p);
        double first = strtod(p, &p), last = strtod(p, &p);
        int ok = !strcmp(t->name, name) && t->ndim == ndim && t->numel == numel;
        for (int d = 0; ok && d < ndim; d++)
            ok = t->shape[d] == shape[d];
        CHECK(ok, "%s: tensor %d is %s/%d-dim/%lld, expected %s/%d-dim/%lld", file, i - 1,
              t->name, t->ndim, (long long)t->numel, name, ndim, numel);
        if (!ok) {
            bad++;
            continue;
        }
        double s = 0, a = 0;
        for (int64_t k = 0; k < t->numel; k++) {
            s += t->data[k];
            a += fabs(t->data[k]);
        }
        CHECK(fabs(s - sum) <= 1e-9 * asum + 1e-12 && fabs(a - asum) <= 1e-9 * asum + 1e-12,
              "%s: %s sums %.9g/%.9g, expected %.9g/%.9g", file, name, s, a, sum, asum);
        if (t->numel)
            CHECK(t->data[0] == (float)first && t->data[t->numel - 1] == (float)last,
                  "%s: %s first/last %a/%a, expected %a/%a", file, name, t->data[0],
                  t->data[t->numel - 1], first, last);
        CHECK(((uintptr_t)t->data & 3) == 0, "%s: %s data misaligned", file, name);
        CHECK(ckpt_find(c, name) == t, "%s: ckpt_find(%s) does not return tensor %d", file, name, i - 1);
    }
    CHECK(i == count && !bad, "%s: sidecar lines checked %d of %d", file, i, count);
    CHECK(ckpt_find(c, "no.such.key") == NULL, "%s: ckpt_find of a missing key", file);
    CHECK(ckpt_at(c, -1) == NULL && ckpt_at(c, ckpt_count(c)) == NULL, "%s: ckpt_at out of range", file);

    /* Views share one storage: zip keeps float32 in place, so the pointers
     * are 8 floats apart, as base[2:8] and base[10:14] are. */
    const struct ckpt_tensor *va = ckpt_find(c, "view.a"), *vb = ckpt_find(c, "view.b");
    if (va && vb && !strcmp(fmt, "zip"))
        CHECK(vb->data - va->data == 8, "%s: views of one storage are not in place", file);
    ckpt_free(&c);
    CHECK(c == NULL, "%s: ckpt_free did not null the pointer", file);
    ckpt_free(&c);
    fclose(f);
}

/* ---- 2. bad fixtures ---------------------------------------------------- */

static void check_bad(const char *file)
{
    char path[2048], msg[512], prefix[2100];
    int lines;
    struct ckpt *c = (struct ckpt *)(uintptr_t)1;     /* must be reset to NULL */
    join(path, sizeof(path), fixdir, file);
    int rc = load_captured(path, &c, msg, sizeof(msg), &lines);
    snprintf(prefix, sizeof(prefix), "checkpoint %s: ", path);
    CHECK(rc < 0 && c == NULL, "%s: accepted (rc %d)", file, rc);
    CHECK(lines == 1 && !strncmp(msg, prefix, strlen(prefix)),
          "%s: expected one 'checkpoint PATH:' line, got %d: %s", file, lines, msg);
    printf("  rejected %s: %s\n", file, msg + (strlen(msg) >= strlen(prefix) ? strlen(prefix) : 0));
    static const struct { const char *file_part, *msg_part; } expect[] = {
        { "bad_module_", "torch.nn.modules.linear.Linear" },
        { "bad_modelmodule_", "torch.nn.modules.linear.Linear" },
        { "bad_torchscript", "TorchScript" },
        { "bad_module_legacy", "nn.Module" },
        { "bad_nosd_", "no state_dict found: top-level dict has keys 'epoch', 'lr'" },
        { "bad_dupkeys_", "twice" },
        { "bad_list_", "list" },
        { "bad_tar", "tar" },
        { "bad_empty", "empty" },
        { "bad_rawpickle", "plain pickle" },
    };
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
        if (strstr(file, expect[i].file_part))
            CHECK(strstr(msg, expect[i].msg_part) != NULL, "%s: message lacks '%s': %s", file,
                  expect[i].msg_part, msg);
    ckpt_free(&c);
}

/* ---- 3. hand-built pickles ---------------------------------------------- */

struct bb { unsigned char d[1 << 18]; size_t n; };

static void put(struct bb *b, const void *p, size_t n)
{
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void op(struct bb *b, int c) { b->d[b->n++] = (unsigned char)c; }
static void u32(struct bb *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        op(b, (int)(v >> (8 * i) & 0xff));
}
static void str(struct bb *b, const char *s)
{
    op(b, 'X');
    u32(b, (uint32_t)strlen(s));
    put(b, s, strlen(s));
}
static void global(struct bb *b, const char *mod, const char *name)
{
    op(b, 'c');
    put(b, mod, strlen(mod));
    op(b, '\n');
    put(b, name, strlen(name));
    op(b, '\n');
}

/* Legacy header: magic, protocol 1001, sys_info. */
static void legacy_header(struct bb *b)
{
    static const unsigned char magic[] = { 0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                           0x20, 0x6a, 0xa8, 0x50, 0x19, '.' };
    static const unsigned char proto[] = { 0x80, 0x02, 'M', 0xe9, 0x03, '.' };
    put(b, magic, sizeof(magic));
    put(b, proto, sizeof(proto));
    op(b, 0x80); op(b, 2); op(b, '}'); op(b, '(');
    str(b, "protocol_version"); op(b, 'M'); op(b, 0xe9); op(b, 0x03);
    str(b, "little_endian"); op(b, 0x88);
    str(b, "type_sizes"); op(b, '}'); op(b, '(');
    str(b, "short"); op(b, 'K'); op(b, 2);
    str(b, "int"); op(b, 'K'); op(b, 4);
    str(b, "long"); op(b, 'K'); op(b, 4);
    op(b, 'u'); op(b, 'u'); op(b, '.');
}

/* ('storage', torch.FloatStorage, key, 'cpu', numel, None) */
static void pid(struct bb *b, const char *key, int numel, const char *tag)
{
    op(b, '(');
    str(b, tag);
    global(b, "torch", "FloatStorage");
    str(b, key);
    str(b, "cpu");
    op(b, 'K'); op(b, numel);
    op(b, 'N');
    op(b, 't');
    op(b, 'Q');
}

/* {'w': _rebuild_tensor_v2(storage '0' of 4 floats, off, (size,), (stride,), False, OrderedDict())} */
static void tensor_dict(struct bb *b, int off, const unsigned char *size8, int stride)
{
    op(b, 0x80); op(b, 2); op(b, '}');
    str(b, "w");
    global(b, "torch._utils", "_rebuild_tensor_v2");
    op(b, '(');
    pid(b, "0", 4, "storage");
    op(b, 'K'); op(b, off);
    op(b, 0x8a); op(b, 8); put(b, size8, 8); op(b, 0x85);
    op(b, 'K'); op(b, stride); op(b, 0x85);
    op(b, 0x89);
    global(b, "collections", "OrderedDict"); op(b, ')'); op(b, 'R');
    op(b, 't'); op(b, 'R');
    op(b, 's'); op(b, '.');
}

/* Key list ['0'] and one storage of 4 floats 0, 1, 2, 3. */
static void legacy_storage(struct bb *b)
{
    op(b, 0x80); op(b, 2); op(b, ']'); str(b, "0"); op(b, 'a'); op(b, '.');
    static const unsigned char count[8] = { 4 };
    put(b, count, 8);
    for (int i = 0; i < 4; i++) {
        float f = (float)i;
        put(b, &f, 4);
    }
}

static void legacy_no_storage(struct bb *b)
{
    op(b, 0x80); op(b, 2); op(b, ']'); op(b, '.');
}

/* Loads b; expects failure naming want (or success when want is NULL). */
static struct ckpt *try_bytes(const char *what, const struct bb *b, const char *want)
{
    char path[300], msg[512];
    int lines;
    struct ckpt *c = NULL;
    snprintf(path, sizeof(path), "%s/%s.pth", tmpdir, what);
    write_file(path, b->d, b->n);
    int rc = load_captured(path, &c, msg, sizeof(msg), &lines);
    if (want) {
        CHECK(rc < 0 && !c && lines == 1 && strstr(msg, want), "%s: expected a failure naming '%s', got rc %d: %s",
              what, want, rc, msg);
        printf("  rejected %s: %s\n", what, strstr(msg, ": ") ? strstr(msg, ": ") + 2 : msg);
    } else {
        CHECK(rc == 0 && c, "%s: expected success, got rc %d: %s", what, rc, msg);
    }
    unlink(path);
    return c;
}

/* One legacy file whose object pickle is obj[0..n) + STOP, no storages. */
static void try_object(const char *what, const unsigned char *obj, size_t n, const char *want)
{
    static struct bb b;
    b.n = 0;
    legacy_header(&b);
    op(&b, 0x80); op(&b, 2);
    put(&b, obj, n);
    op(&b, '.');
    legacy_no_storage(&b);
    try_bytes(what, &b, want);
}

#define OBJ(what, lit, want) try_object(what, (const unsigned char *)(lit), sizeof(lit) - 1, want)

static void check_crafted(void)
{
    static struct bb b;
    static const unsigned char size3[8] = { 3 }, size2[8] = { 2 };
    static const unsigned char huge[8] = { 0, 0, 0, 0, 0, 0, 0, 0x40 };

    /* positive control: w = storage[1:4] */
    b.n = 0;
    legacy_header(&b);
    tensor_dict(&b, 1, size3, 1);
    legacy_storage(&b);
    struct ckpt *c = try_bytes("crafted_ok", &b, NULL);
    if (c) {
        const struct ckpt_tensor *t = ckpt_find(c, "w");
        CHECK(t && t->numel == 3 && t->data[0] == 1 && t->data[2] == 3, "crafted_ok: wrong tensor");
        ckpt_free(&c);
    }
    /* strided: storage[0], storage[2] */
    b.n = 0;
    legacy_header(&b);
    tensor_dict(&b, 0, size2, 2);
    legacy_storage(&b);
    c = try_bytes("crafted_stride", &b, NULL);
    if (c) {
        const struct ckpt_tensor *t = ckpt_find(c, "w");
        CHECK(t && t->numel == 2 && t->data[0] == 0 && t->data[1] == 2, "crafted_stride: wrong tensor");
        ckpt_free(&c);
    }
    b.n = 0;
    legacy_header(&b);
    tensor_dict(&b, 2, size3, 1);
    legacy_storage(&b);
    try_bytes("crafted_view_oob", &b, "exceeds storage");
    b.n = 0;
    legacy_header(&b);
    tensor_dict(&b, 0, huge, 3);
    legacy_storage(&b);
    try_bytes("crafted_size_overflow", &b, "exceeds storage");
    b.n = 0;
    legacy_header(&b);
    tensor_dict(&b, 0, size3, 1);
    legacy_no_storage(&b);
    try_bytes("crafted_missing_key", &b, "key list");
    b.n = 0;
    legacy_header(&b);
    tensor_dict(&b, 0, size3, 1);
    legacy_storage(&b);
    b.n -= 1;
    try_bytes("crafted_short_storage", &b, "inside storage");
    b.n = 0;
    legacy_header(&b);
    op(&b, 0x80); op(&b, 2); op(&b, '}'); str(&b, "w");
    pid(&b, "0", 4, "module");
    op(&b, 's'); op(&b, '.');
    legacy_storage(&b);
    try_bytes("crafted_pid_module", &b, "'module'");

    OBJ("crafted_global_call", "cos\nsystem\nX\x02\x00\x00\x00ls\x85R", "os.system");
    OBJ("crafted_inst", "(X\x02\x00\x00\x00lsios\nsystem\n", "INST");
    OBJ("crafted_obj", "(cos\nsystem\nX\x02\x00\x00\x00lso", "OBJ");
    OBJ("crafted_persid", "P0\n", "PERSID");
    OBJ("crafted_ext1", "\x82\x01", "EXT1");
    OBJ("crafted_newobj_ex", "cos\nsystem\n))}\x92", "NEWOBJ_EX");
    OBJ("crafted_proto6", "\x80\x06}", "protocol");
    OBJ("crafted_memo", "}h\x05", "memo");
    OBJ("crafted_setitems_nomark", "}X\x01\x00\x00\x00" "aNu", "MARK");
    OBJ("crafted_underflow", "R", "underflow");
    OBJ("crafted_mark_underflow", "}(s", "underflow");
    OBJ("crafted_unbalanced", "}}", "unbalanced");
    OBJ("crafted_unknown_op", "}\xff", "not allowed");
    OBJ("crafted_string_len", "X\xff\xff\xff\x7f", "limit");
    OBJ("crafted_truncated", "X\x10\x00\x00\x00" "ab", "truncated");
    OBJ("crafted_reduce_storage", "ctorch\nFloatStorage\n)R", "FloatStorage");
    OBJ("crafted_nosd", "}X\x01\x00\x00\x00" "aK\x01s", "no state_dict found: top-level dict has keys 'a'");
    OBJ("crafted_memo_huge", "}r\xff\xff\xff\x7f", "memo");
    /* an inert global nested in a training dict is fine as long as 'model' holds tensors */
    {
        unsigned char deep[70000];
        memset(deep, '(', sizeof(deep));
        try_object("crafted_deep_marks", deep, sizeof(deep), "MARK");
    }
}

/* Zip container mutations of a real file. */
static void check_zip_mutations(void)
{
    char path[2048];
    size_t n;
    snprintf(path, sizeof(path), "%s/small_zip.pth", fixdir);
    unsigned char *orig = read_file(path, &n);
    CHECK(orig != NULL, "cannot read %s", path);
    if (!orig)
        return;
    static struct bb b;
    if (n > sizeof(b.d)) {
        free(orig);
        return;
    }
    size_t cd = 0;
    for (size_t i = n - 22; i-- > 0;)
        if (!memcmp(orig + i, "PK\x01\x02", 4))
            cd = i;                          /* first central directory entry */
    CHECK(cd > 0, "no central directory found in small_zip.pth");

    memcpy(b.d, orig, n);
    b.n = n;
    b.d[cd + 10] = 8;                        /* method: deflate */
    try_bytes("zip_deflated", &b, "compressed");

    memcpy(b.d, orig, n);
    b.d[cd + 42] ^= 0x40;                    /* local header offset */
    try_bytes("zip_bad_lho", &b, "local header");

    memcpy(b.d, orig, n);
    b.d[cd + 24] ^= 0x01;                    /* uncompressed size */
    try_bytes("zip_size_mismatch", &b, "size");

    memcpy(b.d, orig, n);                    /* "small_zip/data.pkl" -> "small_zip/../a.pkl" in CD */
    unsigned char *name = b.d + cd + 46;
    memcpy(name + 10, "../a", 4);
    try_bytes("zip_dotdot", &b, "unsafe entry name");

    memcpy(b.d, orig, n);
    b.n = n - 30;
    try_bytes("zip_truncated_eocd", &b, "end of central directory");

    /* turn "<p>/version" into "<p>/constants.pkl"-like TorchScript marker is
     * covered by the real TorchScript fixture */
    free(orig);
}

/* ---- 4. robustness ------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void check_robust(const char *file)
{
    char path[2048], tpath[300];
    size_t n;
    join(path, sizeof(path), fixdir, file);
    snprintf(tpath, sizeof(tpath), "%s/variant.pth", tmpdir);
    unsigned char *orig = read_file(path, &n);
    if (!orig || n > (1u << 16)) {
        free(orig);
        return;
    }
    unsigned char *d = malloc(n);
    int loaded = 0, failed = 0, broken = 0, variants = 0;
    double sink = 0;
    quiet(1);
    size_t step = n <= 8192 ? 1 : n / 4096 + 1;
    for (size_t cut = 0; cut < n; cut += step) {
        struct ckpt *c = (struct ckpt *)(uintptr_t)1;
        write_file(tpath, orig, cut);
        int rc = ckpt_load(tpath, &c);
        variants++;
        if (rc == 0 && c) {
            loaded++;
            sink += touch_all(c);
        } else if (rc < 0 && !c) {
            failed++;
        } else {
            broken++;
            c = NULL;      /* inconsistent result: do not free what it points at */
        }
        ckpt_free(&c);
    }
    for (int v = 0; v < 300; v++) {
        memcpy(d, orig, n);
        int flips = 1 + (int)(next_rand() % 3);
        for (int k = 0; k < flips; k++) {
            size_t pos;
            switch (next_rand() % 3) {
            case 0: pos = next_rand() % n; break;
            case 1: pos = next_rand() % (n < 1024 ? n : 1024); break;
            default: pos = n - 1 - next_rand() % (n < 512 ? n : 512); break;
            }
            d[pos] = next_rand() & 1 ? (unsigned char)next_rand() : d[pos] ^ (unsigned char)(1u << (next_rand() % 8));
        }
        struct ckpt *c = (struct ckpt *)(uintptr_t)1;
        write_file(tpath, d, n);
        int rc = ckpt_load(tpath, &c);
        variants++;
        if (rc == 0 && c) {
            loaded++;
            sink += touch_all(c);
        } else if (rc < 0 && !c) {
            failed++;
        } else {
            broken++;
            c = NULL;      /* inconsistent result: do not free what it points at */
        }
        ckpt_free(&c);
    }
    quiet(0);
    unlink(tpath);
    CHECK(broken == 0, "%s: %d variants returned an inconsistent rc/out pair", file, broken);
    CHECK(loaded + failed == variants && failed > 0, "%s: %d variants, %d loaded, %d failed", file,
          variants, loaded, failed);
    printf("  robustness %s: %d variants, %d loaded, %d rejected (%.0f)\n", file, variants, loaded,
           failed, sink > 0 ? 1.0 : 0.0);
    free(d);
    free(orig);
}

int main(void)
{
    const char *fx = getenv("VDETECT_FIXTURES");
    snprintf(fixdir, sizeof(fixdir), "%s/ckpt", fx && *fx ? fx : "tests/fixtures");
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_ckpt.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }

    /* API edge cases */
    struct ckpt *c = NULL;
    ckpt_free(NULL);
    ckpt_free(&c);
    char msg[512];
    int lines;
    int rc = load_captured("/nonexistent/x.pth", &c, msg, sizeof(msg), &lines);
    CHECK(rc < 0 && !c && lines == 1 && strstr(msg, "No such file"), "missing file: rc %d, %s", rc, msg);
    rc = load_captured(tmpdir, &c, msg, sizeof(msg), &lines);
    CHECK(rc < 0 && !c && lines == 1, "directory: rc %d, %s", rc, msg);

    char mpath[2048], line[512];
    snprintf(mpath, sizeof(mpath), "%s/manifest.txt", fixdir);
    FILE *m = fopen(mpath, "r");
    CHECK(m != NULL, "no fixtures: run /usr/bin/python3 tests/gen_ckpt.py %s", fixdir);
    int ngood = 0, nbad = 0;
    char robust[64][256];
    int nrobust = 0;
    while (m && fgets(line, sizeof(line), m)) {
        char kind[16], file[256];
        if (sscanf(line, "%15s %255s", kind, file) != 2)
            continue;
        if (!strcmp(kind, "good")) {
            check_good(file);
            ngood++;
            if (nrobust < 64 && !strstr(file, "large"))
                snprintf(robust[nrobust++], sizeof(robust[0]), "%s", file);
        } else {
            check_bad(file);
            nbad++;
        }
    }
    if (m)
        fclose(m);
    CHECK(ngood >= 12 && nbad >= 15, "manifest lists %d good and %d bad files", ngood, nbad);

    check_crafted();
    check_zip_mutations();
    const char *robust_env = getenv("VDETECT_CKPT_ROBUST");   /* "0" skips the slow part */
    if (!robust_env || strcmp(robust_env, "0"))
        for (int i = 0; i < nrobust; i++)
            check_robust(robust[i]);

    char errpath[300];
    snprintf(errpath, sizeof(errpath), "%s/stderr.txt", tmpdir);
    unlink(errpath);
    CHECK(rmdir(tmpdir) == 0, "temp dir %s not empty: %s", tmpdir, strerror(errno));
    return check_summary("test_ckpt");
}
