/*
 * pickle.c — the minimal pickle VM of the checkpoint reader, plus the
 * per-load heap and storage table it fills.
 *
 * It interprets protocol <= 5 pickles using only the opcodes torch.save emits for a
 * state_dict or a training checkpoint (docs/torchvision-inference.md §9.3/§9.4, plus
 * APPEND, which pickle uses for one-element lists such as an optimizer's
 * param_groups). Nothing is imported or called: GLOBAL/STACK_GLOBAL resolve to
 * an allow-list (OrderedDict, _rebuild_tensor_v2, _rebuild_parameter, the
 * torch.XStorage types); any other global becomes an inert placeholder, and
 * calling, instantiating or building it yields another placeholder that
 * remembers its name. Persistent ids must be ('storage', torch.XStorage, key,
 * location, numel[, None]); _rebuild_tensor_v2 arguments are checked against
 * the storage they view. Every read is bounds-checked and the stack, MARK
 * stack, memo, strings and heap are capped (internal.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- heap --------------------------------------------------------------- */

struct ck_heap_block {
    struct ck_heap_block *next;
    size_t cap, used;
    max_align_t data[];
};

void *ck_alloc(struct ck_load *L, size_t bytes)
{
    bytes = (bytes + 15) & ~(size_t)15;
    if (bytes == 0 || bytes > CK_MAX_HEAP || L->heap_used > CK_MAX_HEAP - bytes)
        return NULL;
    struct ck_heap_block *b = L->heap;
    if (!b || b->cap - b->used < bytes) {
        size_t cap = bytes > 65536 ? bytes : 65536;
        b = malloc(sizeof(*b) + cap);
        if (!b)
            return NULL;
        b->next = L->heap;
        b->cap = cap;
        b->used = 0;
        L->heap = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += bytes;
    L->heap_used += bytes;
    memset(p, 0, bytes);
    return p;
}

void ck_load_release(struct ck_load *L)
{
    while (L->heap) {
        struct ck_heap_block *next = L->heap->next;
        free(L->heap);
        L->heap = next;
    }
    free(L->st);
    free(L->st_hash);
    L->st = NULL;
    L->st_hash = NULL;
    L->nst = L->capst = L->st_hcap = 0;
}

/* ---- storage table (hash on the key) ------------------------------------ */

static uint32_t key_hash(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

int ck_storage_find(const struct ck_load *L, const char *key, size_t keylen)
{
    if (!L->st_hcap)
        return -1;
    uint32_t m = (uint32_t)L->st_hcap - 1;
    for (uint32_t h = key_hash(key, keylen) & m;; h = (h + 1) & m) {
        int i = L->st_hash[h];
        if (i < 0)
            return -1;
        if (L->st[i].keylen == keylen && memcmp(L->st[i].key, key, keylen) == 0)
            return i;
    }
}

static int storage_add(struct ck_load *L, const char *key, size_t keylen,
                       enum ck_dtype dtype, int64_t numel)
{
    if (L->nst >= CK_MAX_STORAGES)
        return ck_fail(L, -EINVAL, "more than %d storages", CK_MAX_STORAGES);
    if (L->nst == L->capst) {
        int cap = L->capst ? 2 * L->capst : 64;
        struct ck_storage *st = realloc(L->st, (size_t)cap * sizeof(*st));
        if (!st)
            return ck_fail(L, -ENOMEM, "out of memory");
        L->st = st;
        L->capst = cap;
    }
    if (2 * (L->nst + 1) > L->st_hcap) {       /* keep the table at most half full */
        int hcap = L->st_hcap ? 2 * L->st_hcap : 128;
        int *h = malloc((size_t)hcap * sizeof(*h));
        if (!h)
            return ck_fail(L, -ENOMEM, "out of memory");
        for (int i = 0; i < hcap; i++)
            h[i] = -1;
        for (int i = 0; i < L->nst; i++) {
            uint32_t j = key_hash(L->st[i].key, L->st[i].keylen) & (uint32_t)(hcap - 1);
            while (h[j] >= 0)
                j = (j + 1) & (uint32_t)(hcap - 1);
            h[j] = i;
        }
        free(L->st_hash);
        L->st_hash = h;
        L->st_hcap = hcap;
    }
    int i = L->nst++;
    L->st[i] = (struct ck_storage){ .key = key, .keylen = keylen, .dtype = dtype, .numel = numel };
    uint32_t j = key_hash(key, keylen) & (uint32_t)(L->st_hcap - 1);
    while (L->st_hash[j] >= 0)
        j = (j + 1) & (uint32_t)(L->st_hcap - 1);
    L->st_hash[j] = i;
    return i;
}

/* ---- opcode names, for messages ----------------------------------------- */

static const char *op_name(int op)
{
    static const struct { unsigned char op; const char *name; } t[] = {
        { '(', "MARK" }, { '.', "STOP" }, { '0', "POP" }, { '1', "POP_MARK" }, { '2', "DUP" },
        { 'F', "FLOAT" }, { 'I', "INT" }, { 'J', "BININT" }, { 'K', "BININT1" }, { 'L', "LONG" },
        { 'M', "BININT2" }, { 'N', "NONE" }, { 'P', "PERSID" }, { 'Q', "BINPERSID" },
        { 'R', "REDUCE" }, { 'S', "STRING" }, { 'T', "BINSTRING" }, { 'U', "SHORT_BINSTRING" },
        { 'V', "UNICODE" }, { 'X', "BINUNICODE" }, { 'a', "APPEND" }, { 'b', "BUILD" },
        { 'c', "GLOBAL" }, { 'd', "DICT" }, { '}', "EMPTY_DICT" }, { 'e', "APPENDS" },
        { 'g', "GET" }, { 'h', "BINGET" }, { 'i', "INST" }, { 'j', "LONG_BINGET" }, { 'l', "LIST" },
        { ']', "EMPTY_LIST" }, { 'o', "OBJ" }, { 'p', "PUT" }, { 'q', "BINPUT" },
        { 'r', "LONG_BINPUT" }, { 's', "SETITEM" }, { 't', "TUPLE" }, { ')', "EMPTY_TUPLE" },
        { 'u', "SETITEMS" }, { 'G', "BINFLOAT" }, { 0x80, "PROTO" }, { 0x81, "NEWOBJ" },
        { 0x82, "EXT1" }, { 0x83, "EXT2" }, { 0x84, "EXT4" }, { 0x85, "TUPLE1" },
        { 0x86, "TUPLE2" }, { 0x87, "TUPLE3" }, { 0x88, "NEWTRUE" }, { 0x89, "NEWFALSE" },
        { 0x8a, "LONG1" }, { 0x8b, "LONG4" }, { 'B', "BINBYTES" }, { 'C', "SHORT_BINBYTES" },
        { 0x8c, "SHORT_BINUNICODE" }, { 0x8d, "BINUNICODE8" }, { 0x8e, "BINBYTES8" },
        { 0x8f, "EMPTY_SET" }, { 0x90, "ADDITEMS" }, { 0x91, "FROZENSET" }, { 0x92, "NEWOBJ_EX" },
        { 0x93, "STACK_GLOBAL" }, { 0x94, "MEMOIZE" }, { 0x95, "FRAME" },
        { 0x96, "BYTEARRAY8" }, { 0x97, "NEXT_BUFFER" }, { 0x98, "READONLY_BUFFER" },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (t[i].op == op)
            return t[i].name;
    return "unknown";
}

/* ---- the VM ------------------------------------------------------------- */

struct vm {
    struct ck_load *L;
    const unsigned char *b;
    size_t n, pos;          /* pickle bytes; read position */
    size_t op_at;           /* offset of the current opcode */
    int op;
    const char *what;
    int allow_pid;
    struct pv **stack;
    size_t sp, scap;
    size_t *marks;          /* stack heights at each MARK */
    size_t nmarks, mcap;
    struct pv **memo;
    size_t memo_cap, memo_count;
};

static int vm_fail(struct vm *m, const char *fmt, const char *detail)
{
    char msg[320];          /* fmt (< 100) + detail (< 200): never truncated */
    snprintf(msg, sizeof(msg), fmt, detail);
    return ck_fail(m->L, -EINVAL, "%s: %s (opcode %s 0x%02x at offset %zu)", m->what, msg,
                   op_name(m->op), m->op, m->op_at);
}

static int oom(struct vm *m)
{
    return ck_fail(m->L, -ENOMEM, "%s: out of memory for pickle values (limit %zu MiB)",
                   m->what, CK_MAX_HEAP >> 20);
}

static int rd(struct vm *m, size_t k, const unsigned char **p)
{
    if (m->n - m->pos < k)
        return vm_fail(m, "truncated pickle%s", "");
    *p = m->b + m->pos;
    m->pos += k;
    return 0;
}

static uint64_t le(const unsigned char *p, int k)
{
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static struct pv *newv(struct vm *m, enum pv_kind kind)
{
    struct pv *v = ck_alloc(m->L, sizeof(*v));
    if (v)
        v->kind = kind;
    return v;
}

static int push(struct vm *m, struct pv *v)
{
    if (!v)
        return oom(m);
    if (m->sp == m->scap) {
        if (m->scap >= CK_MAX_STACK)
            return vm_fail(m, "stack deeper than the limit%s", "");
        size_t cap = m->scap ? 2 * m->scap : 256;
        struct pv **s = realloc(m->stack, cap * sizeof(*s));
        if (!s)
            return oom(m);
        m->stack = s;
        m->scap = cap;
    }
    m->stack[m->sp++] = v;
    return 0;
}

/* Height below which the current opcode may not reach (the last MARK). */
static size_t floor_of(const struct vm *m) { return m->nmarks ? m->marks[m->nmarks - 1] : 0; }

static int pop(struct vm *m, struct pv **v)
{
    if (m->sp <= floor_of(m))
        return vm_fail(m, "stack underflow%s", "");
    *v = m->stack[--m->sp];
    return 0;
}

static int top(struct vm *m, struct pv **v)
{
    if (m->sp <= floor_of(m))
        return vm_fail(m, "stack underflow%s", "");
    *v = m->stack[m->sp - 1];
    return 0;
}

/* Pops the last MARK; *base is where its items start on the stack. */
static int pop_mark(struct vm *m, size_t *base)
{
    if (!m->nmarks)
        return vm_fail(m, "no MARK on the stack%s", "");
    *base = m->marks[--m->nmarks];
    return 0;
}

static int seq_append(struct vm *m, struct pv *s, struct pv *v)
{
    if (s->u.seq.n == s->u.seq.cap) {
        size_t cap = s->u.seq.cap ? 2 * s->u.seq.cap : 8;
        struct pv **a = ck_alloc(m->L, cap * sizeof(*a));
        if (!a)
            return oom(m);
        if (s->u.seq.n)
            memcpy(a, s->u.seq.v, s->u.seq.n * sizeof(*a));
        s->u.seq.v = a;
        s->u.seq.cap = cap;
    }
    s->u.seq.v[s->u.seq.n++] = v;
    return 0;
}

/* A tuple made of the top k stack values (k taken off the stack). */
static int make_tuple(struct vm *m, size_t k)
{
    if (m->sp - floor_of(m) < k)
        return vm_fail(m, "stack underflow%s", "");
    struct pv *t = newv(m, PV_TUPLE);
    if (!t)
        return oom(m);
    if (k) {
        t->u.seq.v = ck_alloc(m->L, k * sizeof(struct pv *));
        if (!t->u.seq.v)
            return oom(m);
        memcpy(t->u.seq.v, m->stack + m->sp - k, k * sizeof(struct pv *));
    }
    t->u.seq.n = t->u.seq.cap = k;
    m->sp -= k;
    return push(m, t);
}

static int push_str(struct vm *m, enum pv_kind kind, uint64_t len)
{
    if (len > CK_MAX_STR)
        return vm_fail(m, "string longer than the limit%s", "");
    const unsigned char *p = NULL;
    int err = rd(m, (size_t)len, &p);
    if (err)
        return err;
    struct pv *v = newv(m, kind);
    if (!v)
        return oom(m);
    v->u.s.p = (const char *)p;
    v->u.s.n = (size_t)len;
    return push(m, v);
}

static int push_int(struct vm *m, int64_t i)
{
    struct pv *v = newv(m, PV_INT);
    if (!v)
        return oom(m);
    v->u.i = i;
    return push(m, v);
}

static char *heap_strdup(struct vm *m, const char *p, size_t n)
{
    char *s = ck_alloc(m->L, n + 1);
    if (s)
        memcpy(s, p, n);
    return s;
}

/* GLOBAL / STACK_GLOBAL: resolve against the allow-list; never import. */
static int push_global(struct vm *m, const char *mod, size_t modn, const char *name, size_t namen)
{
    if (memchr(mod, 0, modn) || memchr(name, 0, namen))
        return vm_fail(m, "NUL byte in a global's name%s", "");
    struct pv *g = newv(m, PV_GLOBAL);
    if (!g)
        return oom(m);
    g->u.g.mod = heap_strdup(m, mod, modn);
    g->u.g.name = heap_strdup(m, name, namen);
    if (!g->u.g.mod || !g->u.g.name)
        return oom(m);
    g->u.g.id = PK_G_INERT;
    if (!strcmp(g->u.g.mod, "collections") && !strcmp(g->u.g.name, "OrderedDict")) {
        g->u.g.id = PK_G_ORDEREDDICT;
    } else if (!strcmp(g->u.g.mod, "torch._utils")) {
        if (!strcmp(g->u.g.name, "_rebuild_tensor_v2"))
            g->u.g.id = PK_G_REBUILD_TENSOR_V2;
        else if (!strcmp(g->u.g.name, "_rebuild_parameter"))
            g->u.g.id = PK_G_REBUILD_PARAMETER;
    } else if (!strcmp(g->u.g.mod, "torch")) {
        for (int t = 0; t < CK_NDTYPES; t++)
            if (!strcmp(g->u.g.name, ck_dtype_name((enum ck_dtype)t))) {
                g->u.g.id = PK_G_STORAGE;
                g->u.g.dtype = (enum ck_dtype)t;
            }
    }
    return push(m, g);
}

static int op_global(struct vm *m)
{
    const char *line[2];
    size_t len[2];
    for (int k = 0; k < 2; k++) {
        const unsigned char *s = m->b + m->pos;
        size_t avail = m->n - m->pos, lim = avail < 256 ? avail : 256;
        const unsigned char *nl = memchr(s, '\n', lim);
        if (!nl)
            return vm_fail(m, "unterminated or overlong global name%s", "");
        line[k] = (const char *)s;
        len[k] = (size_t)(nl - s);
        m->pos += len[k] + 1;
    }
    return push_global(m, line[0], len[0], line[1], len[1]);
}

static int op_stack_global(struct vm *m)
{
    struct pv *name = NULL, *mod = NULL;
    int err = pop(m, &name);
    if (!err)
        err = pop(m, &mod);
    if (err)
        return err;
    if (name->kind != PV_STR || mod->kind != PV_STR || name->u.s.n > 255 || mod->u.s.n > 255)
        return vm_fail(m, "arguments are not two short strings%s", "");
    return push_global(m, mod->u.s.p, mod->u.s.n, name->u.s.p, name->u.s.n);
}

static int memo_put(struct vm *m, uint64_t idx)
{
    struct pv *v = NULL;
    int err = top(m, &v);
    if (err)
        return err;
    if (idx >= CK_MAX_MEMO)
        return vm_fail(m, "memo index beyond the limit%s", "");
    if (idx >= m->memo_cap) {
        size_t cap = m->memo_cap ? m->memo_cap : 256;
        while (cap <= idx)
            cap *= 2;
        struct pv **a = realloc(m->memo, cap * sizeof(*a));
        if (!a)
            return oom(m);
        memset(a + m->memo_cap, 0, (cap - m->memo_cap) * sizeof(*a));
        m->memo = a;
        m->memo_cap = cap;
    }
    if (!m->memo[idx])
        m->memo_count++;
    m->memo[idx] = v;
    return 0;
}

static int memo_get(struct vm *m, uint64_t idx)
{
    if (idx >= m->memo_cap || !m->memo[idx]) {
        char d[32];
        snprintf(d, sizeof(d), "%llu", (unsigned long long)idx);
        return vm_fail(m, "memo slot %s was never set", d);
    }
    return push(m, m->memo[idx]);
}

static int is_int(const struct pv *v) { return v->kind == PV_INT || v->kind == PV_BOOL; }

/* ('storage', torch.XStorage, key, location, numel[, view_metadata]) */
static int persistent_load(struct vm *m, struct pv *pid)
{
    char q[80];
    if (pid->kind != PV_TUPLE || pid->u.seq.n < 1 || pid->u.seq.v[0]->kind != PV_STR)
        return vm_fail(m, "persistent id is not a tuple starting with a string%s", "");
    struct pv **a = pid->u.seq.v;
    const struct pv *tag = a[0];
    if (tag->u.s.n == 6 && !memcmp(tag->u.s.p, "module", 6) && pid->u.seq.n >= 2) {
        char d[160];            /* legacy torch.save of an nn.Module: the class and its source */
        return vm_fail(m, "persistent id 'module' for %s: a pickled nn.Module, not a state_dict",
                       pv_describe(a[1], d, sizeof(d)));
    }
    if (tag->u.s.n != 7 || memcmp(tag->u.s.p, "storage", 7) != 0)
        return vm_fail(m, "persistent id of type %s (only 'storage' is supported)",
                       ck_quote(q, sizeof(q), tag->u.s.p, tag->u.s.n));
    size_t want = m->L->legacy ? 6 : 5;
    if (pid->u.seq.n != want) {
        snprintf(q, sizeof(q), "%zu", pid->u.seq.n);
        return vm_fail(m, "storage persistent id has %s elements", q);
    }
    if (a[1]->kind != PV_GLOBAL || a[1]->u.g.id != PK_G_STORAGE) {
        char d[160];
        return vm_fail(m, "storage type %s is not an allowed torch storage",
                       pv_describe(a[1], d, sizeof(d)));
    }
    if (a[2]->kind != PV_STR || a[2]->u.s.n == 0 || a[2]->u.s.n > 64 ||
        memchr(a[2]->u.s.p, '/', a[2]->u.s.n) || memchr(a[2]->u.s.p, 0, a[2]->u.s.n))
        return vm_fail(m, "storage key is not a short name%s", "");
    if (a[3]->kind != PV_STR)
        return vm_fail(m, "storage location is not a string%s", "");
    const char *loc = a[3]->u.s.p;
    size_t locn = a[3]->u.s.n, k = 4;
    int ok = (locn == 3 && !memcmp(loc, "cpu", 3)) || (locn >= 4 && !memcmp(loc, "cuda", 4));
    if (ok && locn > 4) {           /* "cuda:N" */
        ok = loc[4] == ':' && locn > 5 && locn < 12;
        for (k = 5; ok && k < locn; k++)
            ok = loc[k] >= '0' && loc[k] <= '9';
    }
    if (!ok)
        return vm_fail(m, "storage location %s (expected cpu or cuda:N)", ck_quote(q, sizeof(q), loc, locn));
    if (a[4]->kind != PV_INT || a[4]->u.i < 0)
        return vm_fail(m, "storage size is not a non-negative integer%s", "");
    if (m->L->legacy && a[5]->kind != PV_NONE)
        return vm_fail(m, "legacy storage views (view_metadata) are not supported%s", "");

    enum ck_dtype dt = a[1]->u.g.dtype;
    int64_t numel = a[4]->u.i;
    int i = ck_storage_find(m->L, a[2]->u.s.p, a[2]->u.s.n);
    if (i >= 0) {
        if (m->L->st[i].dtype != dt || m->L->st[i].numel != numel)
            return vm_fail(m, "storage %s appears twice with different type or size",
                           ck_quote(q, sizeof(q), a[2]->u.s.p, a[2]->u.s.n));
    } else {
        i = storage_add(m->L, a[2]->u.s.p, a[2]->u.s.n, dt, numel);
        if (i < 0)
            return i;
    }
    struct pv *s = newv(m, PV_STORAGE);
    if (!s)
        return oom(m);
    s->u.storage = i;
    return push(m, s);
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) */
static int rebuild_tensor(struct vm *m, const struct pv *args)
{
    if (args->u.seq.n != 6 && args->u.seq.n != 7)
        return vm_fail(m, "_rebuild_tensor_v2 with a wrong number of arguments%s", "");
    struct pv *const *a = args->u.seq.v;
    if (a[0]->kind != PV_STORAGE)
        return vm_fail(m, "_rebuild_tensor_v2 on something that is not a storage%s", "");
    if (a[1]->kind != PV_INT || a[2]->kind != PV_TUPLE || a[3]->kind != PV_TUPLE)
        return vm_fail(m, "_rebuild_tensor_v2 with malformed offset, size or stride%s", "");
    size_t nd = a[2]->u.seq.n;
    if (nd > CKPT_MAX_DIMS || a[3]->u.seq.n != nd)
        return vm_fail(m, "tensor rank above 8 or size/stride rank mismatch%s", "");
    struct pk_tensor *t = ck_alloc(m->L, sizeof(*t));
    struct pv *v = newv(m, PV_TENSOR);
    if (!t || !v)
        return oom(m);
    const struct ck_storage *st = &m->L->st[a[0]->u.storage];
    t->storage = a[0]->u.storage;
    t->ndim = (int)nd;
    t->offset = a[1]->u.i;
    int64_t numel = 1, extent = t->offset;
    int over = t->offset < 0;
    for (size_t d = 0; d < nd; d++) {
        const struct pv *sz = a[2]->u.seq.v[d], *sd = a[3]->u.seq.v[d];
        if (!is_int(sz) || !is_int(sd) || sz->u.i < 0 || sd->u.i < 0)
            return vm_fail(m, "tensor size or stride is not a non-negative integer%s", "");
        t->size[d] = sz->u.i;
        t->stride[d] = sd->u.i;
        int64_t span;
        over |= __builtin_mul_overflow(numel, sz->u.i, &numel);
        if (sz->u.i > 0) {
            over |= __builtin_mul_overflow(sz->u.i - 1, sd->u.i, &span);
            over |= __builtin_add_overflow(extent, span, &extent);
        }
    }
    t->numel = numel;
    if (over || (numel > 0 && extent >= st->numel) || (numel == 0 && t->offset > st->numel)) {
        char q[80];
        return vm_fail(m, "tensor view exceeds storage %s",
                       ck_quote(q, sizeof(q), st->key, st->keylen));
    }
    v->u.t = t;
    return push(m, v);
}

static int op_reduce(struct vm *m)
{
    struct pv *args = NULL, *fn = NULL;
    int err = pop(m, &args);
    if (!err)
        err = pop(m, &fn);
    if (err)
        return err;
    if (args->kind != PV_TUPLE)
        return vm_fail(m, "arguments are not a tuple%s", "");
    char d[160];
    if (fn->kind == PV_INERT || (fn->kind == PV_GLOBAL && fn->u.g.id == PK_G_INERT)) {
        struct pv *r = newv(m, PV_INERT);
        if (!r)
            return oom(m);
        r->u.g = fn->u.g;
        return push(m, r);
    }
    if (fn->kind != PV_GLOBAL)
        return vm_fail(m, "calling %s", pv_describe(fn, d, sizeof(d)));
    switch (fn->u.g.id) {
    case PK_G_ORDEREDDICT:
        if (args->u.seq.n != 0)
            return vm_fail(m, "OrderedDict called with arguments%s", "");
        return push(m, newv(m, PV_DICT));
    case PK_G_REBUILD_TENSOR_V2:
        return rebuild_tensor(m, args);
    case PK_G_REBUILD_PARAMETER:
        if ((args->u.seq.n != 3) || args->u.seq.v[0]->kind != PV_TENSOR)
            return vm_fail(m, "_rebuild_parameter without a tensor%s", "");
        return push(m, args->u.seq.v[0]);
    default:
        return vm_fail(m, "calling %s", pv_describe(fn, d, sizeof(d)));
    }
}

static int op_newobj(struct vm *m)
{
    struct pv *args = NULL, *cls = NULL;
    int err = pop(m, &args);
    if (!err)
        err = pop(m, &cls);
    if (err)
        return err;
    if (args->kind != PV_TUPLE)
        return vm_fail(m, "arguments are not a tuple%s", "");
    if (cls->kind == PV_GLOBAL && cls->u.g.id == PK_G_ORDEREDDICT)
        return push(m, newv(m, PV_DICT));
    if (cls->kind == PV_INERT || (cls->kind == PV_GLOBAL && cls->u.g.id == PK_G_INERT)) {
        struct pv *r = newv(m, PV_INERT);
        if (!r)
            return oom(m);
        r->u.g = cls->u.g;
        return push(m, r);
    }
    char d[160];
    return vm_fail(m, "instantiating %s", pv_describe(cls, d, sizeof(d)));
}

/* BUILD sets attributes; we keep none of them (OrderedDict's _metadata included). */
static int op_build(struct vm *m)
{
    struct pv *state = NULL, *obj = NULL;
    int err = pop(m, &state);
    if (!err)
        err = top(m, &obj);
    if (err)
        return err;
    if (obj->kind != PV_DICT && obj->kind != PV_INERT && obj->kind != PV_TENSOR &&
        obj->kind != PV_LIST) {
        char d[160];
        return vm_fail(m, "setting state of %s", pv_describe(obj, d, sizeof(d)));
    }
    return 0;
}

static int add_items(struct vm *m, struct pv *target, size_t from, int pairs)
{
    size_t k = m->sp - from;
    if (pairs && (k & 1))
        return vm_fail(m, "odd number of values for dict items%s", "");
    if (target->kind == PV_INERT) {        /* dictitems/listitems of an inert object */
        m->sp = from;
        return 0;
    }
    if (target->kind != (pairs ? PV_DICT : PV_LIST)) {
        char d[160];
        return vm_fail(m, "adding items to %s", pv_describe(target, d, sizeof(d)));
    }
    for (size_t i = from; i < m->sp; i++) {
        int err = seq_append(m, target, m->stack[i]);
        if (err)
            return err;
    }
    m->sp = from;
    return 0;
}

/* SETITEMS / APPENDS: items above the last MARK go into the value below it. */
static int op_items_mark(struct vm *m, int pairs)
{
    size_t base = 0;
    int err = pop_mark(m, &base);
    if (err)
        return err;
    if (base <= floor_of(m))
        return vm_fail(m, "no container below the MARK%s", "");
    return add_items(m, m->stack[base - 1], base, pairs);
}

/* SETITEM / APPEND: one key/value pair or one value. */
static int op_item(struct vm *m, int pairs)
{
    size_t k = pairs ? 2 : 1;
    if (m->sp - floor_of(m) < k + 1)
        return vm_fail(m, "stack underflow%s", "");
    return add_items(m, m->stack[m->sp - k - 1], m->sp - k, pairs);
}

static int step(struct vm *m, int *stop)
{
    const unsigned char *p = NULL;
    int err;
    m->op_at = m->pos;
    if ((err = rd(m, 1, &p)))
        return err;
    m->op = *p;
    switch (m->op) {
    case 0x80:                                  /* PROTO */
        if ((err = rd(m, 1, &p)))
            return err;
        if (*p > 5)
            return vm_fail(m, "pickle protocol above 5%s", "");
        return 0;
    case 0x95:                                  /* FRAME: framing is advisory */
        if ((err = rd(m, 8, &p)))
            return err;
        if (le(p, 8) > m->n - m->pos)
            return vm_fail(m, "frame runs past the end of the pickle%s", "");
        return 0;
    case '.':                                   /* STOP */
        if (m->nmarks || m->sp != 1)
            return vm_fail(m, "pickle ends with an unbalanced stack%s", "");
        *stop = 1;
        return 0;
    case 'c':  return op_global(m);
    case 0x93: return op_stack_global(m);
    case 'q':
        if ((err = rd(m, 1, &p)))
            return err;
        return memo_put(m, *p);
    case 'r':
        if ((err = rd(m, 4, &p)))
            return err;
        return memo_put(m, le(p, 4));
    case 0x94: return memo_put(m, m->memo_count);
    case 'h':
        if ((err = rd(m, 1, &p)))
            return err;
        return memo_get(m, *p);
    case 'j':
        if ((err = rd(m, 4, &p)))
            return err;
        return memo_get(m, le(p, 4));
    case ')':  return make_tuple(m, 0);
    case 0x85: return make_tuple(m, 1);
    case 0x86: return make_tuple(m, 2);
    case 0x87: return make_tuple(m, 3);
    case 't': {
        size_t base = 0;
        if ((err = pop_mark(m, &base)))
            return err;
        return make_tuple(m, m->sp - base);
    }
    case '(':                                   /* MARK */
        if (m->nmarks == m->mcap) {
            if (m->mcap >= CK_MAX_MARKS)
                return vm_fail(m, "MARKs nested beyond the limit%s", "");
            size_t cap = m->mcap ? 2 * m->mcap : 64;
            size_t *a = realloc(m->marks, cap * sizeof(*a));
            if (!a)
                return oom(m);
            m->marks = a;
            m->mcap = cap;
        }
        m->marks[m->nmarks++] = m->sp;
        return 0;
    case 'R':  return op_reduce(m);
    case 0x81: return op_newobj(m);
    case 'b':  return op_build(m);
    case 'X':
        if ((err = rd(m, 4, &p)))
            return err;
        return push_str(m, PV_STR, le(p, 4));
    case 0x8c:
        if ((err = rd(m, 1, &p)))
            return err;
        return push_str(m, PV_STR, *p);
    case 0x8d:
        if ((err = rd(m, 8, &p)))
            return err;
        return push_str(m, PV_STR, le(p, 8));
    case 'U':
        if ((err = rd(m, 1, &p)))
            return err;
        return push_str(m, PV_STR, *p);
    case 'T':
        if ((err = rd(m, 4, &p)))
            return err;
        if (le(p, 4) > INT32_MAX)
            return vm_fail(m, "negative string length%s", "");
        return push_str(m, PV_STR, le(p, 4));
    case 'B':
        if ((err = rd(m, 4, &p)))
            return err;
        return push_str(m, PV_BYTES, le(p, 4));
    case 'K':
        if ((err = rd(m, 1, &p)))
            return err;
        return push_int(m, *p);
    case 'M':
        if ((err = rd(m, 2, &p)))
            return err;
        return push_int(m, (int64_t)le(p, 2));
    case 'J':
        if ((err = rd(m, 4, &p)))
            return err;
        return push_int(m, (int32_t)(uint32_t)le(p, 4));
    case 0x8a: {                                /* LONG1: little-endian two's complement */
        if ((err = rd(m, 1, &p)))
            return err;
        size_t k = *p;
        if ((err = rd(m, k, &p)))
            return err;
        if (k > 8) {
            struct pv *v = newv(m, PV_BIGINT);
            if (!v)
                return oom(m);
            v->u.s.p = (const char *)p;
            v->u.s.n = k;
            return push(m, v);
        }
        uint64_t u = k ? le(p, (int)k) : 0;
        if (k && k < 8 && (p[k - 1] & 0x80))
            u |= ~(uint64_t)0 << (8 * k);
        int64_t i;
        memcpy(&i, &u, sizeof(i));
        return push_int(m, i);
    }
    case 'G': {                                 /* BINFLOAT: big-endian double */
        if ((err = rd(m, 8, &p)))
            return err;
        uint64_t u = 0;
        for (int i = 0; i < 8; i++)
            u = u << 8 | p[i];
        struct pv *v = newv(m, PV_FLOAT);
        if (!v)
            return oom(m);
        memcpy(&v->u.f, &u, sizeof(u));
        return push(m, v);
    }
    case 0x88:
    case 0x89: {
        struct pv *v = newv(m, PV_BOOL);
        if (!v)
            return oom(m);
        v->u.i = m->op == 0x88;
        return push(m, v);
    }
    case 'N':  return push(m, newv(m, PV_NONE));
    case '}':  return push(m, newv(m, PV_DICT));
    case ']':  return push(m, newv(m, PV_LIST));
    case 's':  return op_item(m, 1);
    case 'u':  return op_items_mark(m, 1);
    case 'a':  return op_item(m, 0);
    case 'e':  return op_items_mark(m, 0);
    case 'Q': {
        struct pv *pid = NULL;
        if (!m->allow_pid)
            return vm_fail(m, "persistent id outside the object pickle%s", "");
        if ((err = pop(m, &pid)))
            return err;
        return persistent_load(m, pid);
    }
    default:
        return vm_fail(m, "opcode not allowed in a state_dict checkpoint%s", "");
    }
}

int pk_run(struct ck_load *L, const unsigned char *buf, size_t len, int allow_pid,
           const char *what, size_t *used, struct pv **out)
{
    struct vm m = { .L = L, .b = buf, .n = len, .what = what, .allow_pid = allow_pid };
    int stop = 0, err = 0;
    *out = NULL;
    while (!stop && !err)
        err = step(&m, &stop);
    if (!err) {
        *out = m.stack[0];
        *used = m.pos;
    }
    free(m.stack);
    free(m.marks);
    free(m.memo);
    return err;
}

const char *pv_describe(const struct pv *v, char *buf, size_t cap)
{
    static const char *const names[] = {
        [PV_NONE] = "None", [PV_BOOL] = "a bool", [PV_INT] = "an int", [PV_BIGINT] = "an int",
        [PV_FLOAT] = "a float", [PV_STR] = "a string", [PV_BYTES] = "bytes",
        [PV_TUPLE] = "a tuple", [PV_LIST] = "a list", [PV_DICT] = "a dict",
        [PV_STORAGE] = "a storage", [PV_TENSOR] = "a tensor",
    };
    if (v->kind == PV_GLOBAL)
        snprintf(buf, cap, "global %s.%s", v->u.g.mod, v->u.g.name);
    else if (v->kind == PV_INERT)
        snprintf(buf, cap, "a pickled %s.%s object", v->u.g.mod, v->u.g.name);
    else
        snprintf(buf, cap, "%s", names[v->kind]);
    return buf;
}
