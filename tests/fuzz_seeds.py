#!/usr/bin/python3
"""fuzz_seeds.py -- write the seed corpora of the libFuzzer targets (tests/fuzz_*.c) into
tests/corpus/<target>/. Run once with Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14)
from the top of the repository; the output is committed, so neither `make test` nor
`make fuzz` runs this. Every seed is a few KB at most: libFuzzer mutates small inputs
fastest, and the corpora are replayed under ASan in every `make test`.

  fuzz_ckpt     tiny state_dicts saved by torch.save, zip and legacy, in the layouts the
                reader accepts (plain, nested under "model"/"state_dict", DataParallel
                prefix, float16/64, views of one storage) and a few it must refuse
  fuzz_vdm      tiny model files (.vdm) that load, version 1 and 2 (tiny_v2.vdm: a graph
                using most operations); tiny.vdm is also the model the labels and options
                targets load. tiny_int8.vdm and tiny_v2_int8.vdm (an int8 calibration
                table in __metadata__["vdetect_int8"]) are not written here: `vdetect
                calibrate --weights tiny[_v2].vdm tests/data/street.png -o ...` made them
  fuzz_meta     architecture documents as __metadata__["vdetect"] holds them (versions 1
                and 2)
  fuzz_labels   label files
  fuzz_eval     COCO truth, a 0xff byte, then detections as JSON Lines
  fuzz_options  command lines, one argument per line
"""
import collections
import copy
import io
import json
import os
import pickle
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "model", "py"))
import vdm  # noqa: E402

OUT = os.path.join(ROOT, "tests", "corpus")

# The smallest architecture model/spec/metadata.c accepts that still has every part: two VGG stages
# returned to a 2-channel FPN with the max-pool level, 2x2 RoIs, a 4-wide box head.
TINY = {
    "format": "vdetect-model",
    "version": 1,
    "backbone": {"type": "vgg", "cfg": [2, "M", 2], "batch_norm": False,
                 "return_layers": [1, 4]},
    "fpn": {"out_channels": 2, "extra": "maxpool"},
    "anchors": {"sizes": [[16], [32], [64]], "aspect_ratios": [[0.5, 2.0]] * 3},
    "roi": {"output_size": 2, "sampling_ratio": 2, "featmap_count": 2},
    "box_head": {"representation_size": 4},
    "params": {
        "min_size": 64, "max_size": 96,
        "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
        "rpn_pre_nms_top_n_test": 20, "rpn_post_nms_top_n_test": 10,
        "rpn_nms_thresh": 0.7, "rpn_score_thresh": 0.0,
        "box_score_thresh": 0.05, "box_nms_thresh": 0.5, "box_detections_per_img": 10,
        "bn_eps": 1e-5,
    },
    "classes": ["__background__", "cat", "dog"],
}


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def saved(obj, zipfmt, protocol=2):
    b = io.BytesIO()
    torch.save(obj, b, _use_new_zipfile_serialization=zipfmt, pickle_protocol=protocol)
    return b.getvalue()


def ckpt_seeds():
    g = torch.Generator().manual_seed(7)
    base = torch.randn(12, generator=g)
    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.randn(2, 1, 2, 2, generator=g)
    sd["conv.bias"] = torch.randn(2, generator=g)
    sd["scalar"] = torch.tensor(1.5)
    sd["view.a"] = base[2:8].view(2, 3)
    sd["view.t"] = base[:6].view(2, 3).t()
    sd["half"] = torch.randn(3, generator=g).half()
    sd["bf16"] = torch.randn(2, generator=g).bfloat16()
    sd["double"] = torch.randn(2, generator=g).double()
    sd["empty"] = torch.zeros(0, 2)
    sd["bn.num_batches_tracked"] = torch.tensor(3)
    old = collections.OrderedDict([("rpn.head.conv.weight", torch.ones(1, 1, 1, 1)),
                                   ("backbone.fpn.inner_blocks.0.bias", torch.ones(1))])
    dp = collections.OrderedDict(("module." + k, v) for k, v in sd.items())
    for fmt, zipfmt in (("zip", True), ("legacy", False)):
        put("fuzz_ckpt", "plain_%s.pth" % fmt, saved(sd, zipfmt))
        put("fuzz_ckpt", "train_%s.pth" % fmt,
            saved({"model": sd, "epoch": 3, "args": ["x", 1.0, None, True]}, zipfmt))
        put("fuzz_ckpt", "wrapped_%s.pth" % fmt, saved({"state_dict": dp}, zipfmt))
        put("fuzz_ckpt", "oldkeys_%s.pth" % fmt, saved(old, zipfmt))
        put("fuzz_ckpt", "list_%s.pth" % fmt, saved([torch.ones(2)], zipfmt))
    put("fuzz_ckpt", "plain_zip_p4.pth", saved(sd, True, protocol=4))
    put("fuzz_ckpt", "raw_pickle.pkl", pickle.dumps({"a": [1, 2.5, "x", b"y", (None,)]}, 2))
    put("fuzz_ckpt", "tiny_model.vdm", tiny_vdm(TINY))


def tiny_vdm(arch, dtype=None):
    torch.manual_seed(1)
    model = vdm.build_model(arch)
    path = os.path.join(OUT, ".tmp.vdm")
    sd = model.state_dict()
    if dtype is not None:
        sd = collections.OrderedDict((k, v.to(dtype)) for k, v in sd.items())
    vdm.write_vdm(path, sd, arch)
    with open(path, "rb") as f:
        data = f.read()
    os.unlink(path)
    return data


def vdm_seeds():
    put("fuzz_vdm", "tiny.vdm", tiny_vdm(TINY))
    bn = copy.deepcopy(TINY)
    bn["backbone"] = {"type": "vgg", "cfg": [2, "M", 3], "batch_norm": True,
                      "return_layers": [2, 6]}
    del bn["classes"][2]
    put("fuzz_vdm", "tiny_bn.vdm", tiny_vdm(bn))
    nopool = copy.deepcopy(TINY)
    nopool["fpn"]["extra"] = "none"
    nopool["anchors"] = {"sizes": [[16], [32]], "aspect_ratios": [[0.5, 2.0]] * 2}
    # build_model only knows the max-pool FPN: write the weights of TINY under this
    # metadata (the same tensors: LastLevelMaxPool has none)
    data = tiny_vdm(TINY)
    n = int.from_bytes(data[:8], "little")
    hdr = json.loads(data[8:8 + n])
    hdr["__metadata__"]["vdetect"] = json.dumps(nopool, separators=(",", ":"))
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-(8 + len(h)) % 8)
    put("fuzz_vdm", "tiny_nopool.vdm", len(h).to_bytes(8, "little") + h + data[8 + n:])


def meta_seeds():
    put("fuzz_meta", "tiny.json", json.dumps(TINY))
    demo = dict(vdm.ARCH, classes=["__background__", "a", "b"])
    put("fuzz_meta", "demo.json", json.dumps(demo))
    put("fuzz_meta", "preset.json", json.dumps({
        "format": "vdetect-model", "version": 1, "name": "mine",
        "backbone": {"type": "preset", "name": "fasterrcnn_mobilenet_v3_large_320_fpn"},
        "params": {"box_score_thresh": 0.3, "image_mean": [0.5, 0.5, 0.5]},
        "classes": ["__background__", None, "x"]}))


def label_seeds():
    put("fuzz_labels", "full.txt", "__background__\ncat\ndog\n")
    put("fuzz_labels", "foreground.txt", "cat\ndog")
    put("fuzz_labels", "bom_crlf.txt", "\ufeffcat\r\n\r\ndog\r\n\r\n\r\n")
    put("fuzz_labels", "blank_inside.txt", "__background__\n\nd\u00f8g \t\n")
    put("fuzz_labels", "too_many.txt", "a\nb\nc\nd\n")


def eval_seeds():
    truth = {
        "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48},
                   {"id": 7, "file_name": "sub/b.png"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 20, 10], "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [30.5, 8, 12, 12.25]},
            {"id": 3, "image_id": 7, "category_id": 1, "bbox": [0, 0, 64, 48], "iscrowd": 1}],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 9}],
    }
    dets = [
        {"image": "dir/a.png", "width": 64, "height": 48, "detections": [
            {"box": [4, 4, 24, 14], "label": 1, "name": "cat", "score": 0.9},
            {"box": [30, 8, 42, 20], "label": 2, "name": "dog", "score": 0.75},
            {"box": [1, 1, 2, 2], "label": 5, "score": 0.1}]},
        {"image": "sub/b.png", "detections": [{"box": [0, 0, 60, 40], "label": 1,
                                               "score": 0.5}]},
    ]
    t = json.dumps(truth).encode()
    d = "\n".join(json.dumps(x) for x in dets).encode() + b"\n"
    put("fuzz_eval", "both.bin", t + b"\xff" + d)
    put("fuzz_eval", "truth_only.bin", t + b"\xff")
    put("fuzz_eval", "empty_dets.bin", t + b"\xff\n  \n")
    with open(os.path.join(ROOT, "assets", "sample-truth.json")) as f:
        sample = json.load(f)
    keep = {im["id"] for im in sample["images"][:2]}
    small = {"images": sample["images"][:2],
             "annotations": [a for a in sample["annotations"] if a["image_id"] in keep],
             "categories": sample["categories"]}
    put("fuzz_eval", "sample.bin", json.dumps(small).encode() + b"\xff" +
        json.dumps({"image": small["images"][0]["file_name"], "detections": []}).encode())


def option_seeds():
    lines = [
        ["--set", "min_size=64", "--set=max_size=128", "--score-thresh", "0.25"],
        ["--set", "image_mean=0.5,0.5,0.5", "--set", "image_std=0.2,0.3,0.4", "--threads=1"],
        ["--set", "rpn_pre_nms_top_n_test=50", "--set", "rpn_post_nms_top_n_test=5",
         "--set", "rpn_nms_thresh=0.6", "--set", "rpn_score_thresh=0.1"],
        ["--set", "box_score_thresh=0.2", "--set", "box_nms_thresh=0.4",
         "--set", "box_detections_per_img=3", "--set", "bn_eps=1e-3"],
        ["--classes", "cat,2", "--score-thresh=0.9"],
        ["--classes=Dog", "--arch", "fasterrcnn_vgg16_fpn"],
        ["--set", "nope=1", "--classes", ","],
        ["--threads", "4", "--set", "min_size=1e9", "extra"],
        # the parser itself (tests/fuzz_options.c's table of every kind)
        ["-f", "--output=x.mp4", "--count", "-5", "--big=2000000000", "--huge", "-1",
         "--ratio=0.5", "--call", "v", "--poke", "--size", "3x4", "--nested", "n", "-y",
         "pos1", "--", "--pos2"],
        ["--cont", "3", "--threads=2"],
        ["--flag=1"],
        ["--ratio", "--count"],
        ["-o", "out", "-h", "--bogus"],
        ["--ratio", "nan", "--count", "abc", "--call=bad", "-", "a", "b"],
    ]
    for i, a in enumerate(lines):
        put("fuzz_options", "args%d.txt" % i, "\n".join(a) + "\n")


class TinyGraphBody(torch.nn.Module):
    """A few-channel backbone that uses most graph operations (v2 seeds)."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.stem = nn.Sequential(nn.Conv2d(3, 2, 3, 2, 1, bias=False), nn.BatchNorm2d(2), nn.ReLU())
        self.dw = nn.Conv2d(2, 2, 3, 1, 2, dilation=2, groups=2)
        self.se = nn.Conv2d(2, 2, 1)
        self.mix = nn.Conv2d(4, 2, 1)
        self.pool = nn.MaxPool2d(2, 2)

    def forward(self, x):
        F = torch.nn.functional
        x = self.stem(x)
        y = F.silu(self.dw(x))
        y = y * torch.sigmoid(self.se(F.adaptive_avg_pool2d(y, 1)))
        z = self.pool(x + self.mix(torch.cat([x, y], 1)))
        return {"0": x, "1": F.gelu(z) + F.interpolate(F.avg_pool2d(z, 2), scale_factor=2)}


def tiny_v2():
    """A version-2 model file (model/py/export.py) of a 2-channel detector: a graph with
    convs, BatchNorm, activations, squeeze-excitation, pooling, upsampling and an FPN."""
    import export
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    class Backbone(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = TinyGraphBody()
            self.fpn = FeaturePyramidNetwork([2, 2], 2, extra_blocks=LastLevelMaxPool())
            self.out_channels = 2

        def forward(self, x):
            return self.fpn(self.body(x))

    torch.manual_seed(1)
    model = FasterRCNN(Backbone(), rpn_anchor_generator=AnchorGenerator(
        ((16,), (32,), (64,)), ((0.5, 2.0),) * 3), box_roi_pool=MultiScaleRoIAlign(["0", "1"], 2, 2),
        box_head=TwoMLPHead(8, 4), box_predictor=FastRCNNPredictor(4, 3), min_size=64,
        max_size=96).eval()
    path = os.path.join(OUT, ".tmp.vdm")
    desc = export.export(model, path, ["__background__", "a", "b"], name="tiny_v2")
    with open(path, "rb") as f:
        data = f.read()
    os.unlink(path)
    return data, desc


def v2_seeds():
    data, desc = tiny_v2()
    put("fuzz_vdm", "tiny_v2.vdm", data)
    put("fuzz_meta", "tiny_v2.json", json.dumps(desc))


def main():
    ckpt_seeds()
    vdm_seeds()
    v2_seeds()
    meta_seeds()
    label_seeds()
    eval_seeds()
    option_seeds()
    for t in sorted(os.listdir(OUT)):
        files = os.listdir(os.path.join(OUT, t))
        size = sum(os.path.getsize(os.path.join(OUT, t, f)) for f in files)
        print("%s: %d seeds, %d bytes" % (t, len(files), size))


if __name__ == "__main__":
    main()
