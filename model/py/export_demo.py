#!/usr/bin/python3
"""export_demo.py — write the trained demo detector as a vdetect model file.

Usage: export_demo.py STATE.pt [--out assets/demo.vdm] [--labels assets/demo-labels.txt]

STATE.pt is the state_dict train.py saved (model.pt), or one of its checkpoints. The model is rebuilt from vdm.ARCH,
the weights are loaded into it strictly (so the file can only hold a state_dict that
torchvision accepts for that architecture), and the live model's state_dict is written in
the safetensors layout with the architecture and class names as __metadata__["vdetect"]
(see vdm.py). The file is read back and compared tensor by tensor.
"""

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vdm  # noqa: E402
import world  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("state")
    ap.add_argument("--out", default=os.path.join(ROOT, "assets", "demo.vdm"))
    ap.add_argument("--labels", default=os.path.join(ROOT, "assets", "demo-labels.txt"))
    args = ap.parse_args()

    arch = dict(vdm.ARCH, classes=["__background__"] + world.CLASSES,
                colors=[None] + world.class_colours_hex())
    model = vdm.build_model(arch)
    sd = torch.load(args.state, map_location="cpu")
    if "model" in sd and "opt" in sd:     # a train.py checkpoint (state_NNNNN.pt)
        sd = sd["model"]
    model.load_state_dict(sd, strict=True)
    model.eval()
    vdm.write_vdm(args.out, model.state_dict(), arch)

    back, meta = vdm.read_vdm(args.out)
    assert json.loads(meta["vdetect"]) == json.loads(json.dumps(arch))
    live = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
    assert list(back) == list(live)
    for k, v in live.items():
        assert torch.equal(back[k], v.float().contiguous()), k
    with open(args.labels, "w") as f:
        f.write("\n".join(arch["classes"]) + "\n")
    n = sum(v.numel() for v in live.values())
    print("%s: %d tensors, %d values, %.2f MB; labels %s" % (
        args.out, len(live), n, os.path.getsize(args.out) / 1e6, args.labels))


if __name__ == "__main__":
    main()
