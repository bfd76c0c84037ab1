#!/usr/bin/python3
"""gen_ckpt.py OUTDIR -- fixtures for tests/test_ckpt.c (model/ckpt*.c).

Writes small checkpoints with torch.save in both formats (zip and legacy),
checkpoints the reader must reject, and for every good file a sidecar
NAME.txt holding what the C reader must return:

    format zip|legacy
    count N
    t NAME NDIM D0 D1 ... NUMEL SUM ABSSUM FIRST LAST

one "t" line per tensor in file order, with names already normalised the way
ckpt.h describes (module. stripped, num_batches_tracked and integer tensors
dropped, pre-0.13 torchvision keys renamed). SUM and ABSSUM are float64 sums
of the float32 values; FIRST and LAST are the first and last element of the
contiguous float32 tensor, written with float.hex() so they compare exactly.

manifest.txt lists "good FILE" and "bad FILE" lines; the C test reads it.
Run with Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14).
"""
import argparse
import collections
import os
import pickle
import sys
import tarfile
import zipfile

import torch


def make_sd():
    g = torch.Generator().manual_seed(1234)

    def rn(*shape, dtype=torch.float32):
        return torch.randn(*shape, generator=g).to(dtype)

    base = rn(20)                      # one storage, two views into it
    sd = collections.OrderedDict()
    sd["conv.weight"] = rn(4, 3, 3, 3)
    sd["conv.bias"] = rn(4)
    sd["scalar"] = torch.tensor(2.5)   # 0-dim
    sd["fc.weight"] = rn(5, 6)
    sd["view.a"] = base[2:8].view(2, 3)
    sd["view.b"] = base[10:14]
    sd["transposed"] = rn(3, 4).t()   # non-contiguous, stride (1, 4)
    sd["slice.step"] = rn(4, 6)[:, ::2]  # non-contiguous, stride (6, 2)
    sd["rank5"] = rn(1, 2, 1, 2, 2)
    sd["empty"] = torch.zeros(0, 3)
    sd["bn.weight"] = rn(4)
    sd["bn.running_var"] = rn(4).abs()
    sd["bn.num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
    sd["idx"] = torch.arange(3, dtype=torch.int32)  # integer: dropped
    sd["half"] = rn(3, 2, dtype=torch.float16)
    sd["bf16"] = rn(5, dtype=torch.bfloat16)
    sd["double"] = rn(2, 2, dtype=torch.float64)
    sd["half.t"] = rn(2, 3, dtype=torch.float16).t()
    # float16 edge cases: smallest subnormal, a subnormal, -0, min normal, max
    sd["half.edge"] = torch.tensor([2.0 ** -24, 2.0 ** -20 + 2.0 ** -24, -0.0,
                                    -(2.0 ** -14), 65504.0, 2.0 ** -24 * 3],
                                   dtype=torch.float16)
    return sd


def old_keys_sd():
    g = torch.Generator().manual_seed(99)
    sd = collections.OrderedDict()
    sd["backbone.fpn.inner_blocks.0.weight"] = torch.randn(8, 4, 1, 1, generator=g)
    sd["backbone.fpn.inner_blocks.0.bias"] = torch.randn(8, generator=g)
    sd["backbone.fpn.layer_blocks.3.weight"] = torch.randn(8, 8, 3, 3, generator=g)
    sd["backbone.fpn.layer_blocks.3.bias"] = torch.randn(8, generator=g)
    sd["rpn.head.conv.weight"] = torch.randn(8, 8, 3, 3, generator=g)
    sd["rpn.head.conv.bias"] = torch.randn(8, generator=g)
    sd["rpn.head.cls_logits.weight"] = torch.randn(3, 8, 1, 1, generator=g)
    # already new-style: must stay as is
    sd["backbone.fpn.inner_blocks.1.0.weight"] = torch.randn(8, 2, 1, 1, generator=g)
    return sd


def normalise(key):
    if key.startswith("module."):
        key = key[len("module."):]
    if key.endswith(".num_batches_tracked"):
        return None
    for w in ("weight", "bias"):
        if key == "rpn.head.conv." + w:
            return "rpn.head.conv.0.0." + w
        for blk in ("inner_blocks", "layer_blocks"):
            pre = "backbone.fpn." + blk + "."
            if key.startswith(pre) and key.endswith("." + w):
                mid = key[len(pre):-len(w) - 1]
                if mid.isdigit():
                    return pre + mid + ".0." + w
    return key


FLOATS = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def write_sidecar(path, fmt, sd):
    lines = []
    for k, v in sd.items():
        name = normalise(k)
        if name is None or v.dtype not in FLOATS:
            continue
        f = v.detach().to(torch.float32).contiguous()
        flat = f.reshape(-1)
        d = flat.to(torch.float64)
        first = float(flat[0]).hex() if flat.numel() else "0x0p+0"
        last = float(flat[-1]).hex() if flat.numel() else "0x0p+0"
        lines.append("t %s %d %s %d %.17g %.17g %s %s" % (
            name, f.dim(), " ".join(str(s) for s in f.shape), f.numel(),
            float(d.sum()), float(d.abs().sum()), first, last))
    with open(path, "w") as fh:
        fh.write("format %s\ncount %d\n" % (fmt, len(lines)))
        fh.write("\n".join(lines) + ("\n" if lines else ""))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    manifest = []

    def good(name, obj, sd, fmt, **kw):
        path = os.path.join(out, name)
        torch.save(obj, path, _use_new_zipfile_serialization=(fmt == "zip"), **kw)
        write_sidecar(path[:-4] + ".txt", fmt, sd)
        manifest.append("good " + name)

    def bad_save(name, obj, fmt):
        torch.save(obj, os.path.join(out, name),
                   _use_new_zipfile_serialization=(fmt == "zip"))
        manifest.append("bad " + name)

    def bad_bytes(name, data):
        with open(os.path.join(out, name), "wb") as fh:
            fh.write(data)
        manifest.append("bad " + name)

    sd = make_sd()
    dp = collections.OrderedDict(("module." + k, v) for k, v in sd.items())
    old = old_keys_sd()
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    train = {"model": sd, "optimizer": opt.state_dict(),
             "args": argparse.Namespace(lr=0.1, data="coco", epochs=26),
             "epoch": 3}

    for fmt in ("zip", "legacy"):
        good("small_%s.pth" % fmt, sd, sd, fmt)
        good("train_%s.pth" % fmt, train, sd, fmt)
        good("wrapped_%s.pth" % fmt, {"state_dict": sd, "note": "x"}, sd, fmt)
        good("dp_%s.pth" % fmt, dp, dp, fmt)
        good("oldkeys_%s.pth" % fmt, old, old, fmt)
        good("plaindict_%s.pth" % fmt, dict(old), old, fmt)
        bad_save("bad_module_%s.pth" % fmt, torch.nn.Linear(2, 2), fmt)
        bad_save("bad_list_%s.pth" % fmt, [1, 2, 3], fmt)
        bad_save("bad_nosd_%s.pth" % fmt, {"epoch": 3, "lr": 0.1}, fmt)
        bad_save("bad_modelmodule_%s.pth" % fmt, {"model": torch.nn.Linear(2, 2)}, fmt)
        bad_save("bad_dupkeys_%s.pth" % fmt,
                 collections.OrderedDict([("module.a", torch.ones(1)), ("a", torch.ones(1))]), fmt)
    # newer pickle protocols bring FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL
    good("small_zip_p4.pth", sd, sd, "zip", pickle_protocol=4)
    good("train_zip_p5.pth", train, sd, "zip", pickle_protocol=5)

    # torch 2.x style records: byteorder (big: data byte-swapped), .data/version
    # and an unknown record; written by zipfile (STORED, data not 64-aligned)
    g = torch.Generator().manual_seed(7)
    bo = collections.OrderedDict()
    bo["a"] = torch.randn(2, 3, generator=g)
    bo["b"] = torch.randn(4, generator=g).half()
    bo["c"] = torch.randn(3, generator=g).double()
    bo["d"] = torch.randn(2, generator=g).bfloat16()
    itemsize = {"0": 4, "1": 2, "2": 8, "3": 2}   # storage keys in first-use order
    src = os.path.join(out, "bo_src.pth")
    torch.save(bo, src)
    for order in ("big", "little", "middle"):
        name = "byteorder_%s_zip.pth" % order \
            if order != "middle" else "bad_byteorder_zip.pth"
        stem = name[:-4]
        with zipfile.ZipFile(src) as zin, \
                zipfile.ZipFile(os.path.join(out, name), "w", zipfile.ZIP_STORED) as zout:
            zout.writestr(stem + "/byteorder", order)
            for info in zin.infolist():
                rest = info.filename.split("/", 1)[1]
                data = zin.read(info)
                if order == "big" and rest.startswith("data/"):
                    k = itemsize[rest[5:]]
                    data = b"".join(data[i:i + k][::-1] for i in range(0, len(data), k))
                zout.writestr(stem + "/" + rest, data)
            zout.writestr(stem + "/.data/serialization_id", "1234567890")
            zout.writestr(stem + "/.data/version", "3\n")
        if order == "middle":
            manifest.append("bad " + name)
        else:
            write_sidecar(os.path.join(out, stem + ".txt"), "zip", bo)
            manifest.append("good " + name)
    os.remove(src)

    script = torch.jit.script(torch.nn.Linear(2, 2))
    torch.jit.save(script, os.path.join(out, "bad_torchscript.pt"))
    manifest.append("bad bad_torchscript.pt")
    bad_bytes("bad_rawpickle_p2.pkl", pickle.dumps([1, 2, 3], protocol=2))
    bad_bytes("bad_rawpickle_p4.pkl", pickle.dumps(sd, protocol=4))
    bad_bytes("bad_empty.pth", b"")
    bad_bytes("bad_short.pth", b"PK")
    bad_bytes("bad_random.bin", bytes((i * 7919 + 13) % 251 for i in range(4096)))
    bad_bytes("bad_text.pth", b"this is not a checkpoint\n")
    tar_path = os.path.join(out, "bad_tar.pth")   # torch <= 0.3 layout
    with tarfile.open(tar_path, "w") as tf:
        for member in ("sys_info", "pickle", "storages", "tensors"):
            p = os.path.join(out, member + ".tmp")
            with open(p, "wb") as fh:
                fh.write(pickle.dumps(member, protocol=2))
            tf.add(p, arcname=member)
            os.remove(p)
    manifest.append("bad bad_tar.pth")

    # a real torchvision state_dict, zip only (~75 MB)
    try:
        import torchvision
        torch.manual_seed(0)
        m = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
            weights=None, weights_backbone=None)
        tv = m.state_dict()
        good("large_mobilenet_zip.pth", tv, tv, "zip")
    except Exception as e:  # torchvision is optional for these fixtures
        print("gen_ckpt: skipping torchvision model: %s" % e, file=sys.stderr)

    with open(os.path.join(out, "manifest.txt"), "w") as fh:
        fh.write("\n".join(manifest) + "\n")


if __name__ == "__main__":
    main()
