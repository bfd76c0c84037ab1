"""vdm.py — the demo model's architecture, the vdetect model file (.vdm) and COCO AP, shared
by train.py, export_demo.py and tests/gen_demo.py.

A .vdm file is the safetensors layout: an 8-byte little-endian header length N, N bytes of
JSON {"__metadata__": {str: str}, "<key>": {"dtype": "F32", "shape": [...],
"data_offsets": [begin, end]}, ...}, then the tensor bytes (offsets relative to the end of
the header). Tensors carry torchvision state_dict key names; __metadata__["vdetect"] holds
the architecture (see ARCH) as a JSON string, so the file alone rebuilds the model.
"""

import json
import struct
from collections import OrderedDict

import numpy as np
import torch
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool
from torchvision.models.vgg import make_layers

# The demo detector (model/py/README in assets/README.md explains the choices).
ARCH = {
    "format": "vdetect-model",
    "version": 1,
    "backbone": {
        "type": "vgg",
        "cfg": [8, "M", 24, "M", 32, "M", 64, 64, "M", 128, 128, "M", 128, 128],
        "batch_norm": True,
        # ReLUs ending the stride-8, -16 and -32 stages (torchvision Sequential indices)
        "return_layers": [17, 24, 31],
    },
    "fpn": {"out_channels": 64, "extra": "maxpool"},
    "anchors": {
        "sizes": [[16, 24], [32, 48], [64, 96], [128, 192]],
        "aspect_ratios": [[0.5, 1.0, 2.0]] * 4,
    },
    "roi": {"output_size": 7, "sampling_ratio": 2, "featmap_count": 3},
    "box_head": {"representation_size": 256},
    "params": {
        "min_size": 216, "max_size": 384,
        "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
        "rpn_pre_nms_top_n_test": 300, "rpn_post_nms_top_n_test": 100,
        "rpn_nms_thresh": 0.7, "rpn_score_thresh": 0.0,
        "box_score_thresh": 0.05, "box_nms_thresh": 0.5, "box_detections_per_img": 100,
        "bn_eps": 1e-5,
    },
    "classes": None,   # filled from world.CLASSES
}


def vgg_channels(cfg, batch_norm, index):
    """Output channels of module `index` of make_layers(cfg, batch_norm)."""
    idx, ch = 0, 3
    for v in cfg:
        span = 1 if v == "M" else (3 if batch_norm else 2)
        if v != "M":
            ch = v
        if index < idx + span:
            return ch
        idx += span
    raise ValueError("return layer %d is past the end of the features" % index)


def build_model(arch, **train_kwargs):
    """torchvision FasterRCNN for an ARCH-style dict (only the vgg + maxpool-FPN kind)."""
    bb, fpn, p = arch["backbone"], arch["fpn"], arch["params"]
    assert bb["type"] == "vgg" and fpn["extra"] == "maxpool"
    features = make_layers(bb["cfg"], batch_norm=bb["batch_norm"])
    ret = bb["return_layers"]
    backbone = BackboneWithFPN(
        features, return_layers={str(i): str(k) for k, i in enumerate(ret)},
        in_channels_list=[vgg_channels(bb["cfg"], bb["batch_norm"], i) for i in ret],
        out_channels=fpn["out_channels"], extra_blocks=LastLevelMaxPool())
    for m in backbone.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eps = p["bn_eps"]
    anchors = AnchorGenerator(tuple(tuple(float(s) for s in l) for l in arch["anchors"]["sizes"]),
                              tuple(tuple(float(r) for r in l)
                                    for l in arch["anchors"]["aspect_ratios"]))
    roi = arch["roi"]
    pooler = MultiScaleRoIAlign([str(i) for i in range(roi["featmap_count"])],
                                output_size=roi["output_size"],
                                sampling_ratio=roi["sampling_ratio"])
    rep = arch["box_head"]["representation_size"]
    C, S = fpn["out_channels"], roi["output_size"]
    return FasterRCNN(
        backbone, num_classes=None,
        min_size=p["min_size"], max_size=p["max_size"],
        image_mean=p["image_mean"], image_std=p["image_std"],
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_test=p["rpn_pre_nms_top_n_test"],
        rpn_post_nms_top_n_test=p["rpn_post_nms_top_n_test"],
        rpn_nms_thresh=p["rpn_nms_thresh"], rpn_score_thresh=p["rpn_score_thresh"],
        box_roi_pool=pooler, box_head=TwoMLPHead(C * S * S, rep),
        box_predictor=FastRCNNPredictor(rep, len(arch["classes"])),
        box_score_thresh=p["box_score_thresh"], box_nms_thresh=p["box_nms_thresh"],
        box_detections_per_img=p["box_detections_per_img"],
        **train_kwargs)


# ---- the model file ------------------------------------------------------------------

def write_vdm(path, state_dict, arch):
    """state_dict (float tensors; integer buffers such as num_batches_tracked are left
    out) → path, with arch as __metadata__["vdetect"]."""
    write_tensors(path, OrderedDict((k, t) for k, t in state_dict.items()
                                    if t.is_floating_point()), arch)


def write_tensors(path, tensors, description):
    """tensors (an ordered {key: float tensor}, written in that order as F32) → path in the
    safetensors layout, with description (a dict) as __metadata__["vdetect"]."""
    header = OrderedDict()
    header["__metadata__"] = {"vdetect": json.dumps(description, separators=(",", ":"))}
    blobs, off = [], 0
    for k, t in tensors.items():
        if not t.is_floating_point():
            raise ValueError("tensor %s is not floating point" % k)
        a = t.detach().cpu().contiguous().to(torch.float32).numpy().astype("<f4")
        b = a.tobytes()
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-(8 + len(h)) % 8)   # tensor data 8-byte aligned, as safetensors does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_vdm(path):
    """(OrderedDict of float32 tensors, metadata dict of strings)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"), object_pairs_hook=OrderedDict)
    meta = header.pop("__metadata__", {})
    base = 8 + n
    dtypes = {"F32": "<f4", "F16": "<f2", "F64": "<f8"}
    sd = OrderedDict()
    for k, v in header.items():
        b, e = v["data_offsets"]
        a = np.frombuffer(data[base + b:base + e], dtype=dtypes[v["dtype"]]).reshape(v["shape"])
        sd[k] = torch.from_numpy(a.astype(np.float32))
    return sd, meta


def load_vdm_model(path):
    """The torchvision model described by a .vdm file, in eval mode, and its arch dict."""
    sd, meta = read_vdm(path)
    arch = json.loads(meta["vdetect"])
    model = build_model(arch)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    # only BatchNorm's num_batches_tracked (integer, not stored) may be missing
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), \
        (missing, unexpected)
    model.eval()
    return model, arch


# ---- COCO-style AP (pycocotools semantics: bbox, area all, maxDets 100) ---------------------

def box_iou_xywh(d, g, crowd):
    """IoU matrix [len(d), len(g)] of xywh boxes; a crowd g uses the det's area as union."""
    ious = np.zeros((len(d), len(g)))
    for i, a in enumerate(d):
        for j, b in enumerate(g):
            iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
            ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
            if iw <= 0 or ih <= 0:
                continue
            inter = iw * ih
            union = a[2] * a[3] if crowd[j] else a[2] * a[3] + b[2] * b[3] - inter
            ious[i, j] = inter / union
    return ious


def coco_ap(gt, dets, max_dets=100):
    """gt: COCO dict; dets: list of {"image_id", "category_id", "bbox" xywh, "score"}.
    Returns {"ap": AP@[.5:.95], "ap50", "ap75", "per_class": {cat_id: (ap, ap50, ap75)}} with
    pycocotools' evaluate/accumulate rules (101-point interpolation, crowds ignored,
    -1 for a class without ground truth is left out of the means)."""
    thrs = np.linspace(0.5, 0.95, 10)
    rec_pts = np.linspace(0, 1, 101)
    cats = [c["id"] for c in gt["categories"]]
    img_ids = [im["id"] for im in gt["images"]]
    G, D = {}, {}
    for a in gt["annotations"]:
        G.setdefault((a["image_id"], a["category_id"]), []).append(a)
    for d in dets:
        D.setdefault((d["image_id"], d["category_id"]), []).append(d)
    per_class = {}
    for c in cats:
        scores, matched, ignored = [], [], []
        npos = 0
        for im in img_ids:
            g = G.get((im, c), [])
            d = sorted(D.get((im, c), []), key=lambda x: -x["score"])[:max_dets]
            gign = [bool(x.get("iscrowd", 0)) for x in g]   # pycocotools: ignore = iscrowd
            order = np.argsort(np.array(gign, dtype=int), kind="stable")
            g = [g[i] for i in order]
            gign = [gign[i] for i in order]
            crowd = [bool(x.get("iscrowd", 0)) for x in g]
            npos += sum(1 for x in gign if not x)
            ious = box_iou_xywh([x["bbox"] for x in d], [x["bbox"] for x in g], crowd)
            dm = np.zeros((len(thrs), len(d)), dtype=bool)
            di = np.zeros((len(thrs), len(d)), dtype=bool)
            for t, thr in enumerate(thrs):
                gm = np.zeros(len(g), dtype=bool)
                for i in range(len(d)):
                    iou, m = min(thr, 1 - 1e-10), -1
                    for j in range(len(g)):
                        if gm[j] and not crowd[j]:
                            continue
                        if m > -1 and not gign[m] and gign[j]:
                            break
                        if ious[i, j] < iou:
                            continue
                        iou, m = ious[i, j], j
                    if m == -1:
                        continue
                    di[t, i] = gign[m]
                    dm[t, i] = True
                    gm[m] = True
            scores += [x["score"] for x in d]
            matched.append(dm)
            ignored.append(di)
        if npos == 0:
            per_class[c] = (-1.0, -1.0, -1.0)
            continue
        if scores:
            order = np.argsort(-np.array(scores), kind="mergesort")
            dm = np.concatenate(matched, 1)[:, order]
            di = np.concatenate(ignored, 1)[:, order]
        else:
            dm = di = np.zeros((len(thrs), 0), dtype=bool)
        aps = []
        for t in range(len(thrs)):
            tp = np.cumsum(dm[t] & ~di[t]).astype(float)
            fp = np.cumsum(~dm[t] & ~di[t]).astype(float)
            rc = tp / npos
            pr = tp / np.maximum(tp + fp, np.spacing(1))
            pr = list(pr)
            for i in range(len(pr) - 1, 0, -1):
                if pr[i] > pr[i - 1]:
                    pr[i - 1] = pr[i]
            inds = np.searchsorted(rc, rec_pts, side="left")
            q = [pr[k] if k < len(pr) else 0.0 for k in inds]
            aps.append(float(np.mean(q)))
        per_class[c] = (float(np.mean(aps)), aps[0], aps[5])
    valid = [v for v in per_class.values() if v[0] >= 0]
    return {"ap": float(np.mean([v[0] for v in valid])) if valid else -1.0,
            "ap50": float(np.mean([v[1] for v in valid])) if valid else -1.0,
            "ap75": float(np.mean([v[2] for v in valid])) if valid else -1.0,
            "per_class": per_class}
