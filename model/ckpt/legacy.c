/*
 * legacy.c — the legacy torch.save format (torch < 1.6, and
 * _use_new_zipfile_serialization=False).
 *
 * Owns the sequence of parts (docs/torchvision-inference.md §9.2): the magic-number,
 * protocol-version and sys_info pickles, each checked for the exact values torch
 * writes; the object pickle (the only one allowed persistent ids); the storage key
 * list, which must name every storage the object used exactly once; then per key an
 * int64 little-endian element count, equal to the one in the persistent id, and the
 * raw bytes, which must end exactly at EOF.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

static const unsigned char magic[10] = { 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19 };


static int int_is(const struct pv *v, int64_t want)
{
    return v && (v->kind == PV_INT || v->kind == PV_BOOL) && v->u.i == want;
}

static int check_sys_info(struct ck_load *L, const struct pv *si)
{
    if (si->kind != PV_DICT)
        return ck_fail(L, -EINVAL, "legacy: sys_info is not a dict");
    if (!int_is(ck_dict_get(si, "protocol_version"), 1001))
        return ck_fail(L, -EINVAL, "legacy: sys_info protocol_version is not 1001");
    const struct pv *lit = ck_dict_get(si, "little_endian");
    if (!lit || lit->kind != PV_BOOL || lit->u.i != 1)
        return ck_fail(L, -EINVAL, "legacy: written on a big-endian machine (little_endian is not True)");
    const struct pv *ts = ck_dict_get(si, "type_sizes");
    if (!ts || ts->kind != PV_DICT || !int_is(ck_dict_get(ts, "short"), 2) ||
        !int_is(ck_dict_get(ts, "int"), 4) || !int_is(ck_dict_get(ts, "long"), 4))
        return ck_fail(L, -EINVAL, "legacy: sys_info type_sizes are not {short: 2, int: 4, long: 4}");
    return 0;
}

int ck_legacy_read(struct ck_load *L, const unsigned char *b, size_t len, struct pv **root)
{
    size_t pos = 0, used;
    struct pv *v = NULL, *obj = NULL, *keys = NULL;
    int err;
    L->legacy = 1;

    if ((err = pk_run(L, b, len, 0, "magic number pickle", &used, &v)))
        return err;
    pos += used;
    if (v->kind != PV_BIGINT || v->u.s.n != sizeof(magic) || memcmp(v->u.s.p, magic, sizeof(magic)))
        return ck_fail(L, -EINVAL, "legacy: wrong magic number");

    if ((err = pk_run(L, b + pos, len - pos, 0, "protocol version pickle", &used, &v)))
        return err;
    pos += used;
    if (!int_is(v, 1001))
        return ck_fail(L, -EINVAL, "legacy: protocol version is not 1001");

    if ((err = pk_run(L, b + pos, len - pos, 0, "sys_info pickle", &used, &v)))
        return err;
    pos += used;
    if ((err = check_sys_info(L, v)))
        return err;

    if ((err = pk_run(L, b + pos, len - pos, 1, "object pickle", &used, &obj)))
        return err;
    pos += used;

    if ((err = pk_run(L, b + pos, len - pos, 0, "storage key list pickle", &used, &keys)))
        return err;
    pos += used;
    if (keys->kind != PV_LIST)
        return ck_fail(L, -EINVAL, "legacy: storage key list is not a list");
    if (keys->u.seq.n != (size_t)L->nst)
        return ck_fail(L, -EINVAL, "legacy: key list names %zu storages, the object uses %d",
                       keys->u.seq.n, L->nst);

    char q[80];
    for (size_t k = 0; k < keys->u.seq.n; k++) {
        const struct pv *key = keys->u.seq.v[k];
        if (key->kind != PV_STR)
            return ck_fail(L, -EINVAL, "legacy: storage key %zu is not a string", k);
        const char *nm = ck_quote(q, sizeof(q), key->u.s.p, key->u.s.n);
        int i = ck_storage_find(L, key->u.s.p, key->u.s.n);
        if (i < 0)
            return ck_fail(L, -EINVAL, "legacy: storage %s is listed but never used", nm);
        struct ck_storage *st = &L->st[i];
        if (st->listed)
            return ck_fail(L, -EINVAL, "legacy: storage %s is listed twice", nm);
        st->listed = 1;
        if (len - pos < 8)
            return ck_fail(L, -EINVAL, "legacy: file ends before storage %s", nm);
        uint64_t count = 0;
        for (int j = 7; j >= 0; j--)
            count = count << 8 | b[pos + (size_t)j];
        pos += 8;
        if (count != (uint64_t)st->numel)
            return ck_fail(L, -EINVAL, "legacy: storage %s has %llu elements, the pickle says %lld",
                           nm, (unsigned long long)count, (long long)st->numel);
        uint64_t bytes;
        if (__builtin_mul_overflow(count, (uint64_t)ck_dtype_size(st->dtype), &bytes) ||
            bytes > len - pos)
            return ck_fail(L, -EINVAL, "legacy: file ends inside storage %s", nm);
        st->data = b + pos;
        pos += (size_t)bytes;
    }
    if (pos != len)
        return ck_fail(L, -EINVAL, "legacy: %zu unexpected bytes after the last storage", len - pos);
    *root = obj;
    return 0;
}
