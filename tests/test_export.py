#!/usr/bin/python3
"""test_export.py — unit checks of model/py/export.py and graph.py (version-2 .vdm writer).

Every zoo family (tests/gen_zoo.py's builders) converts, and the emitted graph, run by
model/py/graph_run.py, gives the torchvision backbone's outputs; unsupported operations
are refused with their name and module path; the file round-trips; the CLI works with a
whole saved model and with --build/--state-dict. Prints "test_export: N passed, N failed".
usage: /usr/bin/python3 tests/test_export.py [CASE...]
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections import OrderedDict

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "model", "py"))
import gen_zoo  # noqa: E402
import gen_parity  # noqa: E402
import export  # noqa: E402
import graph  # noqa: E402
import graph_run  # noqa: E402
import vdm  # noqa: E402
from torchvision.models.detection import FasterRCNN, maskrcnn_resnet50_fpn  # noqa: E402

passed = failed = 0
TMP = tempfile.mkdtemp(prefix="test_export.")


def check(name, fn):
    global passed, failed
    t0 = time.time()
    try:
        msg = fn()
        passed += 1
        print("ok   %s%s (%.1fs)" % (name, ": " + msg if msg else "", time.time() - t0), flush=True)
    except Exception:
        failed += 1
        print("FAIL %s" % name, flush=True)
        traceback.print_exc()


def expect_refusal(fn, *words):
    try:
        fn()
    except graph.ExportError as e:
        s = str(e)
        for w in words:
            assert w in s, "refusal %r does not mention %r" % (s, w)
        return s
    raise AssertionError("not refused")


def family(case):
    name, build, seed, _ = case

    def run():
        torch.manual_seed(seed)
        model = build()
        gen_parity.randomize_bn(model)
        model.eval()
        path = os.path.join(TMP, name + ".vdm")
        desc = export.export(model, path)
        tensors, meta = vdm.read_vdm(path)
        assert json.loads(meta["vdetect"]) == json.loads(json.dumps(desc))
        sd = model.state_dict()
        for k, v in tensors.items():
            assert torch.equal(v, sd[k].float()), k
        # every tensor the description names is in the file, and nothing else
        named = set()
        for n in desc["graph"]["nodes"]:
            for f in graph.TENSOR_FIELDS:
                if n.get(f):
                    named.add(n[f])
        assert named <= set(tensors), sorted(named - set(tensors))[:3]
        extra = [k for k in tensors if k not in named and
                 not k.startswith(("rpn.head.", "roi_heads."))]
        assert not extra, extra[:3]
        # the graph gives the backbone's maps at input sizes no other check uses, padded
        # as the transform pads them (size_divisible): what the backbone is ever given
        worst = 0.0
        sd_ = model.transform.size_divisible
        for hw in ((96, 136), (130, 70)):
            x = torch.rand(1, 3, *(-(-v // sd_) * sd_ for v in hw))
            with torch.no_grad():
                ref = model.backbone(x)
                if isinstance(ref, torch.Tensor):
                    ref = OrderedDict([("0", ref)])
                got = graph_run.run_graph(desc, tensors, x)
            assert list(ref) == list(got), (list(ref), list(got))
            for k in ref:
                assert ref[k].shape == got[k].shape, (k, ref[k].shape, got[k].shape)
                worst = max(worst, float((ref[k] - got[k]).abs().max() / ref[k].abs().max()))
        assert worst <= 1e-4, worst
        ops = sorted(set(n["op"] for n in desc["graph"]["nodes"]))
        return "%s, %d nodes, outputs %s, max rel diff %.2g, ops %s" % (
            desc["name"], len(desc["graph"]["nodes"]),
            ",".join(o["name"] for o in desc["graph"]["outputs"]), worst, " ".join(ops))
    return run


class Flat(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.out_channels = 8

    def forward(self, x):
        return torch.flatten(self.avgpool(self.conv(x)), 1)


class Shuffle(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 32, 3, padding=1)
        self.up = nn.PixelShuffle(2)
        self.out_channels = 8

    def forward(self, x):
        return self.up(self.conv(x))


def wrap(backbone):
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.ops import MultiScaleRoIAlign
    return FasterRCNN(backbone, 3, rpn_anchor_generator=AnchorGenerator(((32,),), ((1.0,),)),
                      box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2), min_size=64, max_size=64)


def t_flatten():
    body = nn.Sequential()
    body.add_module("body", Flat())
    body.out_channels = 8
    return expect_refusal(lambda: export.export(wrap(body), os.path.join(TMP, "x.vdm")),
                          "unsupported operation torch.flatten", "backbone.body")


def t_pixelshuffle():
    return expect_refusal(lambda: export.export(wrap(Shuffle()), os.path.join(TMP, "x.vdm")),
                          "torch.nn.PixelShuffle", "backbone.up")


def t_padding_mode():
    m = Shuffle()
    m.conv = nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect")
    m.up = nn.Identity()
    return expect_refusal(lambda: export.export(wrap(m), os.path.join(TMP, "x.vdm")),
                          "padding_mode", "backbone.conv")


def t_out_channels():
    m = Shuffle()
    m.up = nn.Identity()
    return expect_refusal(lambda: export.export(wrap(m), os.path.join(TMP, "x.vdm")),
                          "32 channels", "out_channels")


def t_mask():
    m = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=3)
    return expect_refusal(lambda: export.export(m, os.path.join(TMP, "x.vdm")), "mask head")


def t_labels_and_fixed_size():
    m = gen_zoo.build_mobilenet_v3_small()
    s1 = expect_refusal(lambda: export.export(m, os.path.join(TMP, "x.vdm"), ["a", "b"]),
                        "2 class names for 5 classes")
    m.transform.fixed_size = (64, 64)
    s2 = expect_refusal(lambda: export.export(m, os.path.join(TMP, "x.vdm")), "fixed_size")
    return s1 + " / " + s2


def t_colors():
    m = gen_zoo.build_mobilenet_v3_small()
    n = len(gen_zoo.CLASSES)
    cols = ["-"] + ["#A0b0C%d" % i for i in range(n - 1)]
    out = os.path.join(TMP, "colors.vdm")
    export.export(m, out, gen_zoo.CLASSES, colors=cols)
    desc = json.loads(vdm.read_vdm(out)[1]["vdetect"])
    assert desc["colors"] == [None] + ["#a0b0c%d" % i for i in range(n - 1)], desc["colors"]
    s1 = expect_refusal(lambda: export.export(m, out, gen_zoo.CLASSES, colors=cols[:2]),
                        "2 colours for %d classes" % n)
    s2 = expect_refusal(lambda: export.export(m, out, gen_zoo.CLASSES,
                                              colors=cols[:-1] + ["red"]), "is not #rrggbb")
    s3 = expect_refusal(lambda: export.export(m, out, None, colors=cols), "need class names")
    return " / ".join((s1, s2, s3))


def t_box_head():
    m = gen_zoo.build_mobilenet_v3_small()
    m.roi_heads.box_head = nn.Sequential(nn.Flatten(), nn.Linear(256 * 49, 256))
    return expect_refusal(lambda: export.export(m, os.path.join(TMP, "x.vdm")),
                          "unsupported box head Sequential")


def t_cli():
    torch.manual_seed(5)
    m = gen_zoo.build_mobilenet_v3_small()
    m.eval()
    whole = os.path.join(TMP, "whole.pt")
    torch.save(m, whole)
    labels = os.path.join(TMP, "labels.txt")
    with open(labels, "w") as f:
        f.write("\n".join(gen_zoo.CLASSES) + "\n")
    exe = [sys.executable, os.path.join(HERE, "..", "model", "py", "export.py")]
    out1 = os.path.join(TMP, "cli1.vdm")
    r = subprocess.run(exe + [whole, "-o", out1, "--labels", labels, "--name", "mnv3s"],
                       capture_output=True, text=True, cwd=HERE)
    assert r.returncode == 0, r.stderr
    sd_path = os.path.join(TMP, "sd.pt")
    torch.save({"model": m.state_dict()}, sd_path)
    out2 = os.path.join(TMP, "cli2.vdm")
    r = subprocess.run(exe + ["--build", "gen_zoo:build_mobilenet_v3_small", "--state-dict",
                              sd_path, "-o", out2, "--labels", labels, "--name", "mnv3s"],
                       capture_output=True, text=True, cwd=HERE)
    assert r.returncode == 0, r.stderr
    with open(out1, "rb") as a, open(out2, "rb") as b:
        assert a.read() == b.read(), "whole-model and --build exports differ"
    desc = json.loads(vdm.read_vdm(out1)[1]["vdetect"])
    assert desc["classes"] == gen_zoo.CLASSES and desc["name"] == "mnv3s"
    # an existing output is replaced only with -y; the input never
    before = open(out1, "rb").read()
    r = subprocess.run(exe + [whole, "-o", out1], capture_output=True, text=True, cwd=HERE)
    assert r.returncode == 2 and "add -y" in r.stderr, (r.returncode, r.stderr)
    assert open(out1, "rb").read() == before, "a refused export changed the file"
    wb = open(whole, "rb").read()
    r = subprocess.run(exe + [whole, "-o", whole, "-y"], capture_output=True, text=True, cwd=HERE)
    assert r.returncode == 2 and "the model's file" in r.stderr, (r.returncode, r.stderr)
    assert open(whole, "rb").read() == wb, "the input was touched"
    assert not [f for f in os.listdir(TMP) if ".partial-" in f], "a partial file was left"
    # --check without a vdetect that reads the file: an error and a non-zero status
    r = subprocess.run(exe + [whole, "-o", out1, "-y", "--check",
                              os.path.join(HERE, "data", "street.png"),
                              "--vdetect", os.path.join(TMP, "no-such-vdetect")],
                       capture_output=True, text=True, cwd=HERE)
    assert r.returncode != 0 and "no-such-vdetect" in r.stderr, (r.returncode, r.stderr)
    return r.stderr.strip().splitlines()[-1]


def main():
    torch.set_num_threads(int(os.environ.get("GEN_THREADS", "1")))
    only = sys.argv[1:]
    for case in gen_zoo.CASES:
        if not only or case[0] in only:
            check("family " + case[0], family(case))
    if not only:
        check("refuses torch.flatten", t_flatten)
        check("refuses nn.PixelShuffle", t_pixelshuffle)
        check("refuses padding_mode reflect", t_padding_mode)
        check("checks out_channels", t_out_channels)
        check("refuses Mask R-CNN", t_mask)
        check("labels count, fixed_size", t_labels_and_fixed_size)
        check("colours: written lower-case, - for none; count, syntax, labels checked", t_colors)
        check("refuses other box heads", t_box_head)
        check("CLI: whole model, --build, --check failure", t_cli)
    print("test_export: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
