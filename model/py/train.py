#!/usr/bin/python3
"""train.py — train vdetect's demo detector from scratch on the synthetic world.

torchvision FasterRCNN with a VGG-style backbone (torchvision.models.vgg.make_layers on a
small cfg, BatchNorm), BackboneWithFPN on the stride-8/16/32 stages, a 256-wide TwoMLPHead;
the architecture is vdm.ARCH. CPU only, seeded, 2 threads.

Usage:
  train.py --data out/world --out out/run [--steps 900] [--seed 1] [--batch 4]
           [--lr 1e-3] [--resume]
The data directory is what `world.py images` writes. Writes OUT/state_NNNNN.pt every
--save-every steps (model + optimiser, for --resume), OUT/model.pt (the final state_dict), OUT/log.txt and
OUT/val_ap.json.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vdm  # noqa: E402
import world  # noqa: E402


def load_split(data, split):
    with open(os.path.join(data, "instances_%s.json" % split)) as f:
        coco = json.load(f)
    by_img = {im["id"]: [] for im in coco["images"]}
    for a in coco["annotations"]:
        by_img[a["image_id"]].append(a)
    items = []
    for im in coco["images"]:
        boxes = [[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                 for a in by_img[im["id"]]]
        labels = [a["category_id"] for a in by_img[im["id"]]]
        items.append((os.path.join(data, split, im["file_name"]), boxes, labels, im["id"]))
    return coco, items


def to_tensor(path):
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(a).permute(2, 0, 1).contiguous()


def sample(item, rng):
    """Image tensor and target, randomly flipped."""
    path, boxes, labels, _ = item
    x = to_tensor(path)
    b = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    H, W = x.shape[1:]
    if rng.random() < 0.5:
        x = x.flip(2)
        b = torch.stack([W - b[:, 2], b[:, 1], W - b[:, 0], b[:, 3]], 1)
    if rng.random() < 0.5:
        x = x.flip(1)
        b = torch.stack([b[:, 0], H - b[:, 3], b[:, 2], H - b[:, 1]], 1)
    return x, {"boxes": b, "labels": torch.tensor(labels, dtype=torch.int64)}


@torch.no_grad()
def evaluate(model, coco, items, limit=None):
    model.eval()
    dets = []
    for path, _, _, img_id in items[:limit]:
        out = model([to_tensor(path)])[0]
        for b, s, l in zip(out["boxes"].tolist(), out["scores"].tolist(), out["labels"].tolist()):
            dets.append({"image_id": img_id, "category_id": l, "score": s,
                         "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]})
    if limit:
        keep = {it[3] for it in items[:limit]}
        coco = dict(coco, images=[im for im in coco["images"] if im["id"] in keep],
                    annotations=[a for a in coco["annotations"] if a["image_id"] in keep])
    model.train()
    return vdm.coco_ap(coco, dets)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="out/world")
    ap.add_argument("--out", default="out/run")
    ap.add_argument("--steps", type=int, default=900, help="optimiser steps in all")
    ap.add_argument("--save-every", type=int, default=150)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--val-limit", type=int, default=60)
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "log.txt"), "a")

    def say(*a):
        s = " ".join(str(v) for v in a)
        print(s, flush=True)
        log.write(s + "\n")
        log.flush()

    arch = dict(vdm.ARCH, classes=["__background__"] + world.CLASSES)
    model = vdm.build_model(
        arch,
        # training-only settings: fewer proposals and RoI samples than the defaults, for speed
        rpn_pre_nms_top_n_train=600, rpn_post_nms_top_n_train=300,
        box_batch_size_per_image=128)
    # NHWC convolutions train about twice as fast on CPU; the state_dict is the same
    model = model.to(memory_format=torch.channels_last)
    model.train()
    coco_tr, train = load_split(args.data, "train")
    coco_va, val = load_split(args.data, "val")

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-4},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    steps_per_epoch = len(train) // args.batch
    total = args.steps
    warmup = min(100, total // 10)

    def lr_at(step):
        if step < warmup:
            return args.lr * (0.01 + 0.99 * step / warmup)
        u = (step - warmup) / max(total - warmup, 1)
        return args.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * u)))

    start_step = 0
    if args.resume:
        ck = sorted(f for f in os.listdir(args.out) if f.startswith("state_"))
        if ck:
            st = torch.load(os.path.join(args.out, ck[-1]))
            model.load_state_dict(st["model"])
            opt.load_state_dict(st["opt"])
            start_step = st["step"]
            torch.set_rng_state(st["torch_rng"])
            say("resumed from", ck[-1])

    say("training: %d images, %d steps (%d per epoch), batch %d, lr %g, seed %d, threads %d"
        % (len(train), total, steps_per_epoch, args.batch, args.lr, args.seed, args.threads))
    t_start = time.time()
    run = {}
    t0 = time.time()
    for step in range(start_step, total):
        epoch, s = divmod(step, steps_per_epoch)
        # the batch order depends only on (seed, epoch, step), so a resumed run is the same
        order = np.random.default_rng([args.seed, epoch]).permutation(len(train))
        rng = np.random.default_rng([args.seed, epoch, s])
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        batch = [sample(train[i], rng) for i in order[s * args.batch:(s + 1) * args.batch]]
        losses = model([b[0] for b in batch], [b[1] for b in batch])
        loss = sum(losses.values())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        for k, v in losses.items():
            run[k] = run[k] * 0.95 + v.item() * 0.05 if k in run else v.item()
        if step % 25 == 0 or step == total - 1:
            say("step %d/%d (epoch %d) lr %.2e %s  %.2fs/step, %.0fs" % (
                step, total, epoch, lr_at(step),
                " ".join("%s %.3f" % (k.replace("loss_", ""), v) for k, v in run.items()),
                (time.time() - t0) / (step - start_step + 1), time.time() - t_start))
        if (step + 1) % args.save_every == 0 or step == total - 1:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step + 1,
                        "torch_rng": torch.get_rng_state()},
                       os.path.join(args.out, "state_%05d.pt" % (step + 1)))
        if step + 1 == total // 2:
            r = evaluate(model, coco_va, val, args.val_limit)
            say("step %d: val AP %.4f AP50 %.4f (first %d val images)" % (
                step + 1, r["ap"], r["ap50"], args.val_limit))
    train_seconds = time.time() - t_start
    torch.save(model.state_dict(), os.path.join(args.out, "model.pt"))
    r = evaluate(model, coco_va, val)
    names = {c["id"]: c["name"] for c in coco_va["categories"]}
    with open(os.path.join(args.out, "val_ap.json"), "w") as f:
        json.dump({"ap": r["ap"], "ap50": r["ap50"], "train_seconds": train_seconds, "steps": total,
                   "per_class": {names[k]: {"ap": v[0], "ap50": v[1]}
                                 for k, v in r["per_class"].items()}}, f, indent=1)
    say("final val AP %.4f AP50 %.4f" % (r["ap"], r["ap50"]))
    for k, v in r["per_class"].items():
        say("  %-16s AP %.4f AP50 %.4f" % (names[k], v[0], v[1]))


if __name__ == "__main__":
    main()
