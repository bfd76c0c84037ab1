#!/usr/bin/python3
"""bench_torch.py — time torchvision on the same model, weights, input and
thread count as `vdetect bench --model-only`, for `make bench`.

usage: bench_torch.py --arch ARCH --weights FILE --image PNG --threads N
                      [--frames N] [--warmup N] [--set NAME=VALUE ...]
Prints one JSON object: median / p90 wall time of model([x]) in ms, the
number of detections, and per-stage medians from a staged run of the same
modules (transform, backbone with FPN, RPN, RoI align, box head, postprocess),
so that stages can be compared where both implementations time them.
"""
import argparse
import json
import os
import sys
import time


def _threads_from_argv():
    """--threads N, read before torch loads: its BLAS and OpenMP pools size
    themselves from the environment at load, and torch.set_num_threads alone
    leaves the BLAS that runs its linear layers on every core."""
    for i, arg in enumerate(sys.argv):
        if arg == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return "1"


for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _threads_from_argv()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_parity import build_model  # noqa: E402  (the checkpoint layouts live there)


def parse_sets(items):
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        out[name] = float(value) if "." in value or "e" in value else int(value)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    sets = parse_sets(a.set)
    eps = sets.pop("bn_eps", None)
    model, _ = build_model(a.arch, sets)
    model.load_state_dict(torch.load(a.weights, map_location="cpu"))
    if eps is not None:
        for m in model.modules():
            if hasattr(m, "eps"):
                m.eps = eps
    model.eval()
    with Image.open(a.image) as im:
        u8 = np.array(im.convert("RGB"), dtype=np.uint8)
    x = torch.from_numpy(u8).permute(2, 0, 1).contiguous().float() / 255
    times = []
    with torch.no_grad():
        for i in range(a.warmup + a.frames):
            t = time.perf_counter()
            out = model([x])[0]
            dt = (time.perf_counter() - t) * 1000
            if i >= a.warmup:
                times.append(dt)
    times.sort()
    p90 = times[min(len(times) - 1, int(np.ceil(0.9 * len(times))) - 1)]
    stages = staged_times(model, x, a.frames)
    print(json.dumps({"median_ms": float(np.median(times)), "p90_ms": p90,
                      "threads": a.threads, "detections": int(out["boxes"].shape[0]),
                      "stages_ms": stages, "torch": torch.__version__}))


def staged_times(model, x, runs):
    """Median time of each stage, torchvision's own modules called in turn."""
    names = ("preprocess", "backbone+fpn", "rpn", "roi_align", "box_head", "postprocess")
    acc = {n: [] for n in names}
    with torch.no_grad():
        for _ in range(max(runs, 1)):
            t = [time.perf_counter()]
            images, _ = model.transform([x])
            t.append(time.perf_counter())
            feats = model.backbone(images.tensors)
            t.append(time.perf_counter())
            props, _ = model.rpn(images, feats)
            t.append(time.perf_counter())
            rh = model.roi_heads
            pooled = rh.box_roi_pool(feats, props, images.image_sizes)
            t.append(time.perf_counter())
            logits, reg = rh.box_predictor(rh.box_head(pooled))
            t.append(time.perf_counter())
            boxes, scores, labels = rh.postprocess_detections(logits, reg, props, images.image_sizes)
            model.transform.postprocess([{"boxes": boxes[0], "scores": scores[0],
                                          "labels": labels[0]}], images.image_sizes,
                                        [tuple(x.shape[-2:])])
            t.append(time.perf_counter())
            for i, n in enumerate(names):
                acc[n].append((t[i + 1] - t[i]) * 1000)
    return {n: float(np.median(v)) for n, v in acc.items()}


if __name__ == "__main__":
    main()
