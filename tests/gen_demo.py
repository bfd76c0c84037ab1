#!/usr/bin/python3
"""gen_demo.py OUTDIR — a held-out labelled set for the shipped demo model, and what
torchvision makes of it, for tests/test_demo.sh.

Run with Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14.1, numpy, PIL).

Renders N images of the synthetic world (model/py/world.py, split "test", its own seed,
640x360 like the sample clip, so the model's resize is exercised) with COCO ground truth;
rebuilds the demo detector in torchvision from assets/demo.vdm alone (architecture from
its metadata, weights from its tensors: model/py/vdm.py, not the C side) and runs it on
each image, input float(u8) / 255 as a contiguous [3, H, W] tensor; scores those
detections with a Python transcription of pycocotools' COCOeval (vdm.coco_ap).

Output in OUTDIR:
  images/NNNNNN.png       the images
  calib/NNNNNN.png        16 more images of the world (split "val": none of the above),
                          unlabelled, for `vdetect calibrate` (tests/test_precision_model.sh)
  instances.json          COCO ground truth (category ids 1..6 = model labels)
  torch.jsonl             torchvision's detections, JSON Lines as `vdetect detect` writes
  torch_ap.json           {"ap", "ap50", "ap75", "per_class": {id: {"ap", "ap50"}}} of those
  model.sha256            the demo.vdm these were made from (test_demo.sh regenerates
                          when it no longer matches)
"""

import hashlib
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "model", "py"))
import vdm  # noqa: E402
import world  # noqa: E402

SEED = 20261126          # differs from training (1234) and from the clip (77)
COUNT = 40
CALIB_COUNT = 16
W, H = 640, 360
MODEL = os.path.join(ROOT, "assets", "demo.vdm")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_demo.py OUTDIR")
    out = sys.argv[1]
    torch.set_num_threads(2)
    os.makedirs(out, exist_ok=True)
    coco = world.write_split(out, "test", COUNT, SEED, W, H, subdir="images")
    world.write_split(out, "val", CALIB_COUNT, SEED, W, H, subdir="calib")
    coco["info"]["description"] += " (tests/gen_demo.py)"
    with open(os.path.join(out, "instances.json"), "w") as f:
        json.dump(coco, f)

    model, arch = vdm.load_vdm_model(MODEL)
    names = arch["classes"]
    dets = []
    with open(os.path.join(out, "torch.jsonl"), "w") as f, torch.no_grad():
        for im in coco["images"]:
            path = os.path.join(out, "images", im["file_name"])
            a = np.array(Image.open(path).convert("RGB"))
            x = torch.from_numpy(a).permute(2, 0, 1).float().div(255).contiguous()
            r = model([x])[0]
            ds = []
            for b, s, l in zip(r["boxes"].tolist(), r["scores"].tolist(), r["labels"].tolist()):
                ds.append({"box": b, "label": l, "name": names[l], "score": s})
                dets.append({"image_id": im["id"], "category_id": l, "score": s,
                             "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]})
            f.write(json.dumps({"image": "images/" + im["file_name"], "width": im["width"],
                                "height": im["height"], "detections": ds}) + "\n")
    r = vdm.coco_ap(coco, dets)
    with open(os.path.join(out, "torch_ap.json"), "w") as f:
        json.dump({"ap": r["ap"], "ap50": r["ap50"], "ap75": r["ap75"],
                   "per_class": {str(k): {"ap": v[0], "ap50": v[1]}
                                 for k, v in r["per_class"].items()}}, f, indent=1)
    with open(MODEL, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(out, "model.sha256"), "w") as f:
        f.write(digest + "\n")
    print("gen_demo: %d images, %d objects; torchvision AP %.4f AP50 %.4f" % (
        COUNT, len(coco["annotations"]), r["ap"], r["ap50"]))


if __name__ == "__main__":
    main()
