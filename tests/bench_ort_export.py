#!/usr/bin/python3
"""bench_ort_export.py — export the benchmark's model to ONNX for ONNX Runtime,
the fastest peer on this CPU (make bench compares against it when it can), or
(--vdm) to a vdetect model file, which `vdetect calibrate` can give int8 ranges.

usage: bench_ort_export.py --arch ARCH --weights FILE --image PNG --out FILE.onnx
                           [--set NAME=VALUE ...] [--vdm]
The graph takes the image as float32 [3, H, W] in [0, 1] at the benchmark
image's size and returns boxes, labels and scores (torchvision's export path).
"""
import argparse
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import parse_sets  # noqa: E402
from gen_parity import build_model  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--vdm", action="store_true", help="write a vdetect model file instead")
    a = ap.parse_args()
    sets = parse_sets(a.set)
    sets.pop("bn_eps", None)
    model, _ = build_model(a.arch, sets)
    model.load_state_dict(torch.load(a.weights, map_location="cpu"))
    model.eval()
    if a.vdm:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                        "model", "py"))
        from export import export  # noqa: E402
        export(model, a.out, None, a.arch)   # (the name bench reports: the builder's)
        print(a.out)
        return
    with Image.open(a.image) as im:
        u8 = np.array(im.convert("RGB"), dtype=np.uint8)
    x = torch.from_numpy(u8).permute(2, 0, 1).contiguous().float() / 255
    with torch.no_grad():
        torch.onnx.export(model, ([x],), a.out, opset_version=11, input_names=["image"],
                          output_names=["boxes", "labels", "scores"])
    print(a.out)


if __name__ == "__main__":
    main()
