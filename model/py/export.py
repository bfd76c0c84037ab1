#!/usr/bin/python3
"""export.py — write any torchvision FasterRCNN as a vdetect model file, version 2
(model/FORMAT.md).

Usage:
  export.py MODEL -o OUT.vdm [--labels FILE [--colors FILE]] [--name NAME] [--check IMAGE]
            [--vdetect PATH]
  export.py --build module:function --state-dict FILE -o OUT.vdm [...]

MODEL is a whole model saved with torch.save(model, path). With --build, module is imported
(from the current directory or PYTHONPATH), function() must return the FasterRCNN, and the
state dict (raw, or a dict holding it under "model" or "state_dict") is loaded strictly.
--labels: one class name per line, background first, num_classes lines.
--colors: the colour boxes of each class are drawn in, one per line in --labels' order:
"#rrggbb", or "-" for vdetect's own palette (background first, num_classes lines).
--check IMAGE: run the model in torchvision and `vdetect detect` on IMAGE and report how
far their detections agree (exit 1 when vdetect fails or they disagree).

Python: export(model, path, class_names=None, name=None, colors=None) -> the description dict.

The backbone becomes a graph of torch operations (graph.py); the heads are described by
their parameters. Only the tensors the description refers to are written (F32). The graph
is run by graph_run.py against the live backbone before writing, and the written file is
read back and compared tensor by tensor and field by field.
"""

import argparse
import importlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from collections import OrderedDict

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import graph  # noqa: E402
import graph_run  # noqa: E402
import vdm  # noqa: E402

from graph import ExportError, fail  # noqa: E402

from torchvision.models.detection import FasterRCNN  # noqa: E402
from torchvision.models.detection.anchor_utils import AnchorGenerator  # noqa: E402
from torchvision.models.detection.faster_rcnn import (FastRCNNConvFCHead,  # noqa: E402
                                                      FastRCNNPredictor, TwoMLPHead)
from torchvision.models.detection.rpn import RPNHead  # noqa: E402
from torchvision.ops import MultiScaleRoIAlign  # noqa: E402


# ---- the name -----------------------------------------------------------------------------

def _stages(root, block_types):
    """Lengths of the runs of consecutive blocks (children of one parent)."""
    out = []
    for m in root.modules():
        kids = list(m.children())
        if kids and all(isinstance(k, block_types) for k in kids):
            out.append((m, len(kids)))
    return out


def default_name(backbone):
    """Best-effort model name from the backbone's structure."""
    import torchvision.models as tvm
    from torchvision.ops import FeaturePyramidNetwork
    root = getattr(backbone, "body", backbone)
    mods = list(root.modules())
    has = lambda t: any(isinstance(m, t) for m in mods)   # noqa: E731
    base = None
    R = tvm.resnet
    if has((R.Bottleneck, R.BasicBlock)):
        st = _stages(root, (R.Bottleneck, R.BasicBlock))
        lens = [n for _, n in st]
        if has(R.Bottleneck):
            b = next(m for m in mods if isinstance(m, R.Bottleneck))
            depth = {6: 50, 23: 101, 36: 152}.get(lens[2] if len(lens) > 2 else -1)
            g, w = b.conv2.groups, b.conv2.out_channels
            d = str(depth) if depth else ""
            if g > 1:
                base = "resnext%s_%dx%dd" % (d, g, w // g)
            elif w == 128:
                base = "wide_resnet%s_2" % d if d else "wide_resnet"
            else:
                base = "resnet%s" % d
        else:
            depth = {2: 18, 3: 34}.get(lens[0] if lens else -1)
            base = "resnet%s" % (depth or "")
    elif has(tvm.mobilenetv3.InvertedResidual):
        n = sum(isinstance(m, tvm.mobilenetv3.InvertedResidual) for m in mods)
        base = "mobilenet_v3_large" if n > 11 else "mobilenet_v3_small"
    elif has(tvm.mobilenetv2.InvertedResidual):
        base = "mobilenet_v2"
    elif has(tvm.convnext.CNBlock):
        c0 = next(m for m in mods if isinstance(m, nn.Conv2d)).out_channels
        base = {96: "convnext_tiny", 128: "convnext_base", 192: "convnext_large"}.get(c0, "convnext")
        if c0 == 96 and max(n for _, n in _stages(root, tvm.convnext.CNBlock)) > 9:
            base = "convnext_small"
    elif has((tvm.efficientnet.MBConv, tvm.efficientnet.FusedMBConv)):
        base = "efficientnet_v2" if has(tvm.efficientnet.FusedMBConv) else "efficientnet"
    elif has(tvm.regnet.ResBottleneckBlock):
        base = "regnet"
    elif all(isinstance(m, (nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.BatchNorm2d, nn.Sequential,
                            nn.ModuleDict)) or type(m).__name__ == "IntermediateLayerGetter"
             for m in mods):
        n = sum(isinstance(m, nn.Conv2d) for m in mods)
        base = {8: "vgg11", 10: "vgg13", 13: "vgg16", 16: "vgg19"}.get(n, "vgg")
        if has(nn.BatchNorm2d):
            base += "_bn"
    else:
        base = type(root).__name__.lower()   # a create_feature_extractor GraphModule keeps it
        if base == "convnext":
            c0 = next((m.out_channels for m in mods if isinstance(m, nn.Conv2d)), 0)
            base = {96: "convnext_tiny", 128: "convnext_base", 192: "convnext_large"}.get(c0, base)
    if any(isinstance(m, FeaturePyramidNetwork) for m in backbone.modules()):
        base += "_fpn"
    return base[:63]


# ---- the description ----------------------------------------------------------------------

def _num(v):
    v = float(v)
    return int(v) if v.is_integer() and abs(v) < 2 ** 53 else v


def _conv3(m, where):
    if not (isinstance(m, nn.Conv2d) and tuple(m.kernel_size) == (3, 3) and
            tuple(m.stride) == (1, 1) and tuple(m.padding) == (1, 1) and
            tuple(m.dilation) == (1, 1) and m.groups == 1 and m.padding_mode == "zeros"):
        fail("%s is not a 3x3 stride-1 padding-1 convolution" % where)


def rpn_description(model, n_levels):
    rpn = model.rpn
    head, ag = rpn.head, rpn.anchor_generator
    if type(head) is not RPNHead:
        fail("unsupported RPN head %s (only torchvision's RPNHead)" % type(head).__name__)
    if type(ag) is not AnchorGenerator:
        fail("unsupported anchor generator %s (only AnchorGenerator)" % type(ag).__name__)
    C = model.backbone.out_channels
    for i, blk in enumerate(head.conv):
        kids = list(blk.children()) if isinstance(blk, nn.Sequential) else [blk]
        if len(kids) != 2 or not isinstance(kids[1], nn.ReLU):
            fail("rpn.head.conv.%d is not a conv + ReLU (a normalised RPN conv is not in the "
                 "format)" % i)
        _conv3(kids[0], "rpn.head.conv.%d.0" % i)
        if kids[0].bias is None or kids[0].in_channels != C or kids[0].out_channels != C:
            fail("rpn.head.conv.%d.0 is not a %d-channel conv with bias" % (i, C))
    sizes, ratios = ag.sizes, ag.aspect_ratios
    if len(sizes) != n_levels or len(ratios) != n_levels:
        fail("the anchor generator has %d size and %d ratio levels but the backbone "
             "returns %d maps" % (len(sizes), len(ratios), n_levels))
    A = head.cls_logits.out_channels
    for i, (s, r) in enumerate(zip(sizes, ratios)):
        if len(s) * len(r) != A:
            fail("anchor level %d has %d anchors per location but rpn.head.cls_logits has %d"
                 % (i, len(s) * len(r), A))
    if head.bbox_pred.out_channels != 4 * A:
        fail("rpn.head.bbox_pred has %d channels, expected %d" % (head.bbox_pred.out_channels,
                                                                   4 * A))
    return OrderedDict([
        ("conv_depth", len(head.conv)),
        ("anchor_sizes", [[_num(v) for v in s] for s in sizes]),
        ("aspect_ratios", [[_num(v) for v in r] for r in ratios]),
        ("box_coder_weights", [_num(v) for v in rpn.box_coder.weights]),
    ])


def roi_description(model, out_names):
    rh = model.roi_heads
    pool = rh.box_roi_pool
    if type(pool) is not MultiScaleRoIAlign:
        fail("unsupported box_roi_pool %s (only MultiScaleRoIAlign)" % type(pool).__name__)
    os_ = pool.output_size
    os_ = tuple(os_) if isinstance(os_, (tuple, list)) else (os_, os_)
    if len(os_) != 2 or os_[0] != os_[1]:
        fail("box_roi_pool output_size %r is not square" % (pool.output_size,))
    if getattr(pool, "canonical_scale", 224) != 224 or getattr(pool, "canonical_level", 4) != 4:
        fail("box_roi_pool canonical_scale/canonical_level %r/%r (only the defaults 224/4)"
             % (pool.canonical_scale, pool.canonical_level))
    # MultiScaleRoIAlign pools the backbone's maps whose names it lists, in the backbone's
    # order; names the backbone lacks are ignored by torchvision, so they are left out here.
    names = [n for n in out_names if n in pool.featmap_names]
    if not names:
        fail("box_roi_pool featmap_names %r name none of the backbone's maps %r"
             % (list(pool.featmap_names), out_names))
    return OrderedDict([
        ("featmap_names", names),
        ("output_size", int(os_[0])),
        ("sampling_ratio", int(pool.sampling_ratio)),
        ("box_coder_weights", [_num(v) for v in rh.box_coder.weights]),
    ]), int(os_[0]), len(names)


def box_head_description(model, S):
    rh = model.roi_heads
    C = model.backbone.out_channels
    bh = rh.box_head
    if type(bh) is TwoMLPHead:
        if bh.fc6.in_features != C * S * S:
            fail("roi_heads.box_head.fc6 takes %d inputs, the pooled RoIs have %d"
                 % (bh.fc6.in_features, C * S * S))
        rep = bh.fc7.out_features
        if bh.fc6.out_features != bh.fc7.in_features or bh.fc6.bias is None or bh.fc7.bias is None:
            fail("roi_heads.box_head fc6/fc7 do not chain")
        return OrderedDict([("type", "two_mlp"), ("representation_size", rep)]), rep
    if type(bh) is FastRCNNConvFCHead:
        kids = list(bh.children())
        convs = []
        i = 0
        while i < len(kids) and isinstance(kids[i], nn.Sequential):
            blk = list(kids[i].children())
            where = "roi_heads.box_head.%d" % i
            if len(blk) != 3 or not isinstance(blk[1], nn.BatchNorm2d) or \
                    not isinstance(blk[2], nn.ReLU):
                fail("%s is not conv + BatchNorm2d + ReLU (the format's conv_fc head)" % where)
            _conv3(blk[0], where + ".0")
            if blk[0].bias is not None:
                fail("%s.0 has a bias (not in the format)" % where)
            if blk[1].eps != 1e-5 or not blk[1].affine or blk[1].running_mean is None:
                fail("%s.1: BatchNorm2d must be affine with running stats and eps 1e-5 "
                     "(the format has no eps for the box head)" % where)
            convs.append(blk[0].out_channels)
            i += 1
        rest = kids[i:]
        if not convs or len(rest) != 3 or not isinstance(rest[0], nn.Flatten) or \
                not isinstance(rest[1], nn.Linear) or not isinstance(rest[2], nn.ReLU):
            fail("roi_heads.box_head: FastRCNNConvFCHead with other than conv layers and "
                 "one fc layer")
        if kids[0][0].in_channels != C or rest[1].in_features != convs[-1] * S * S:
            fail("roi_heads.box_head: channel counts do not chain")
        rep = rest[1].out_features
        return OrderedDict([("type", "conv_fc"), ("conv_channels", convs),
                            ("representation_size", rep)]), rep
    fail("unsupported box head %s (only TwoMLPHead and FastRCNNConvFCHead)" % type(bh).__name__)


def describe(model, nodes, outputs, name, class_names, colors=None):
    if not isinstance(model, FasterRCNN):
        fail("not a torchvision FasterRCNN (%s)" % type(model).__name__)
    rh = model.roi_heads
    if rh.has_mask() or getattr(rh, "mask_roi_pool", None) is not None:
        fail("the model has a mask head (Mask R-CNN); only Faster R-CNN is supported")
    if getattr(rh, "keypoint_roi_pool", None) is not None or \
            getattr(rh, "keypoint_head", None) is not None:
        fail("the model has a keypoint head (Keypoint R-CNN); only Faster R-CNN is supported")
    t = model.transform
    if getattr(t, "fixed_size", None) is not None:
        fail("transform.fixed_size %r (only min_size/max_size resizing)" % (t.fixed_size,))
    out_names = [o["name"] for o in outputs]
    rpn = rpn_description(model, len(out_names))
    roi, S, _ = roi_description(model, out_names)
    head, rep = box_head_description(model, S)
    pred = rh.box_predictor
    if type(pred) is not FastRCNNPredictor:
        fail("unsupported box predictor %s (only FastRCNNPredictor)" % type(pred).__name__)
    K = pred.cls_score.out_features
    if pred.cls_score.in_features != rep or pred.bbox_pred.in_features != rep or \
            pred.bbox_pred.out_features != 4 * K:
        fail("roi_heads.box_predictor does not fit the box head (%d features, %d classes)"
             % (rep, K))
    if not 1 <= len(name) <= 63 or any(not (32 <= ord(ch) < 127) for ch in name):
        fail("name %r: 1 to 63 printable ASCII characters" % name)
    d = OrderedDict()
    d["format"] = "vdetect-model"
    d["version"] = 2
    d["name"] = name
    d["graph"] = OrderedDict([("nodes", nodes), ("outputs", outputs)])
    d["out_channels"] = int(model.backbone.out_channels)
    d["rpn"] = rpn
    d["roi"] = roi
    d["box_head"] = head
    d["transform"] = OrderedDict([("size_divisible", int(t.size_divisible))])
    d["params"] = OrderedDict([
        ("min_size", int(t.min_size[-1])), ("max_size", int(t.max_size)),
        ("image_mean", [float(v) for v in t.image_mean]),
        ("image_std", [float(v) for v in t.image_std]),
        ("rpn_pre_nms_top_n_test", int(model.rpn._pre_nms_top_n["testing"])),
        ("rpn_post_nms_top_n_test", int(model.rpn._post_nms_top_n["testing"])),
        ("rpn_nms_thresh", float(model.rpn.nms_thresh)),
        ("rpn_score_thresh", float(model.rpn.score_thresh)),
        ("box_score_thresh", float(rh.score_thresh)),
        ("box_nms_thresh", float(rh.nms_thresh)),
        ("box_detections_per_img", int(rh.detections_per_img)),
    ])
    if class_names is not None:
        class_names = list(class_names)
        if len(class_names) != K:
            fail("%d class names for %d classes (background first)" % (len(class_names), K))
        d["classes"] = class_names
    if colors is not None:
        if class_names is None:
            fail("colours need class names (--labels)")
        colors = [None if c in (None, "-") else c.lower() for c in colors]
        if len(colors) != K:
            fail("%d colours for %d classes (background first)" % (len(colors), K))
        for i, c in enumerate(colors):
            if c is not None and not re.fullmatch(r"#[0-9a-f]{6}", c):
                fail("colour %d: %r is not #rrggbb or -" % (i + 1, c))
        d["colors"] = colors
    return d


def head_tensors(model, sd):
    """The heads' tensors, in state_dict order."""
    prefixes = ("rpn.head.", "roi_heads.box_head.", "roi_heads.box_predictor.")
    return OrderedDict((k, v) for k, v in sd.items()
                       if k.startswith(prefixes) and v.is_floating_point())


def check_graph(backbone, desc, tensors, size=(64, 64)):
    """Run the description's graph (graph_run.py) against the live backbone; returns the
    largest difference relative to each map's largest magnitude."""
    torch.manual_seed(0)
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        ref = backbone(x)
        if isinstance(ref, torch.Tensor):
            ref = OrderedDict([("0", ref)])
        got = graph_run.run_graph(desc, tensors, x)
    if list(ref.keys()) != list(got.keys()):
        fail("graph outputs %r differ from the backbone's %r" % (list(got), list(ref)))
    worst = 0.0
    for k in ref:
        if ref[k].shape != got[k].shape:
            fail("graph output %r has shape %s, the backbone's %s" % (
                k, list(got[k].shape), list(ref[k].shape)))
        d = float((ref[k] - got[k]).abs().max()) / max(float(ref[k].abs().max()), 1e-30)
        worst = max(worst, d)
    if not worst <= 1e-4:
        fail("the graph does not reproduce the backbone (relative difference %.3g)" % worst)
    return worst


def export(model, path, class_names=None, name=None, verbose=False, colors=None):
    """Write model (a torchvision FasterRCNN) to path as a version-2 .vdm file; returns the
    description dict."""
    if not isinstance(model, FasterRCNN):
        fail("not a torchvision FasterRCNN (%s)" % type(model).__name__)
    was_training = model.training
    model.eval()
    try:
        nodes, outputs, gt = graph.backbone_graph(model.backbone)
        desc = describe(model, nodes, outputs, name or default_name(model.backbone), class_names,
                        colors)
        sd = model.state_dict()
        tensors = OrderedDict()
        for k, v in gt.items():
            if k not in sd or not torch.equal(sd[k], v):
                fail("graph tensor %s is not the model's state_dict entry of that name" % k)
            tensors[k] = v
        tensors.update(head_tensors(model, sd))
        worst = check_graph(model.backbone, desc, tensors)
    finally:
        model.train(was_training)
    # written beside its name, checked, then renamed into place: an interrupted or
    # failed export leaves no half file and never the old one half overwritten
    d, base = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=base + ".partial-", suffix=".vdm")
    os.close(fd)
    try:
        vdm.write_tensors(tmp, tensors, desc)
        back, meta = vdm.read_vdm(tmp)
        if json.loads(meta["vdetect"]) != json.loads(json.dumps(desc)):
            fail("%s: the description read back differs" % path)
        if list(back) != list(tensors):
            fail("%s: the tensor keys read back differ" % path)
        for k, v in tensors.items():
            if not torch.equal(back[k], v.detach().float().contiguous()):
                fail("%s: tensor %s read back differs" % (path, k))
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)   # mkstemp's 0600 is not what a saved model file is
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    if verbose:
        n = sum(v.numel() for v in tensors.values())
        print("%s: %s, %d graph nodes, %d outputs %s, %d tensors (%d values, %.2f MB); "
              "graph check max rel diff %.2g" % (
                  path, desc["name"], len(nodes), len(outputs),
                  " ".join(o["name"] for o in outputs), len(tensors), n,
                  os.path.getsize(path) / 1e6, worst))
    return desc


# ---- --check --------------------------------------------------------------------------------

def box_iou(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / ua if ua > 0 else 0.0


def check_image(model, vdm_path, image, vdetect):
    from PIL import Image
    from torchvision.transforms.functional import to_tensor
    with Image.open(image) as im:
        x = to_tensor(im.convert("RGB"))
    model.eval()
    with torch.no_grad():
        out = model([x])[0]
    ref = [(b, int(l), float(s)) for b, l, s in zip(out["boxes"].tolist(), out["labels"].tolist(),
                                                   out["scores"].tolist())]
    cmd = [vdetect, "detect", "--weights", vdm_path, "--json", "-", "-q", "--score-thresh", "0", image]
    print("running:", " ".join(cmd))
    try:
        p = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        print("vdetect: %s" % e, file=sys.stderr)
        return 1
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        print("vdetect failed (exit status %d)" % p.returncode, file=sys.stderr)
        return 1
    line = [ln for ln in p.stdout.splitlines() if ln.strip()]
    got = [(d["box"], int(d["label"]), float(d["score"])) for d in json.loads(line[0])["detections"]]
    strong = [r for r in ref if r[2] >= 0.3]
    used, matched, worst_box, worst_score, missed = set(), 0, 0.0, 0.0, []
    for b, lab, s in strong:
        best = None
        for j, (gb, gl, gs) in enumerate(got):
            if j in used or gl != lab or abs(gs - s) > 1e-3:
                continue
            # the same box: IoU >= 0.99, or every side within 0.01 px (a sliver a few
            # hundredths of a pixel wide loses IoU to float rounding alone)
            d = max(abs(u - v) for u, v in zip(b, gb))
            iou = box_iou(b, gb)
            if (iou >= 0.99 or d <= 0.01) and (best is None or d < best[1]):
                best = (j, d)
        if best is None:
            missed.append((b, lab, s))
            continue
        used.add(best[0])
        matched += 1
        worst_box = max(worst_box, best[1])
        worst_score = max(worst_score, abs(s - got[best[0]][2]))
    need = math.ceil(0.95 * len(strong))
    ok = matched >= need
    print("torchvision %d detections (%d with score >= 0.3), vdetect %d; matched %d/%d; "
          "largest box difference %.3g px, score difference %.3g"
          % (len(ref), len(strong), len(got), matched, len(strong), worst_box, worst_score))
    for b, lab, s in missed[:5]:
        print("  unmatched torchvision detection: label %d score %.6f box %s"
              % (lab, s, ", ".join("%.4f" % v for v in b)))
    print("%s: %d of %d torchvision detections with score >= 0.3 matched (same label, "
          "|score difference| <= 1e-3, IoU >= 0.99 or every side within 0.01 px); at least %d "
          "(95%%) must be" % ("PASS" if ok else "FAIL", matched, len(strong), need))
    return 0 if ok else 1


# ---- CLI ----------------------------------------------------------------------------------

def load_model(args):
    if args.build:
        if args.model:
            sys.exit("export.py: give MODEL or --build, not both")
        if not args.state_dict:
            sys.exit("export.py: --build needs --state-dict FILE")
        modname, _, fn = args.build.partition(":")
        if not fn:
            sys.exit("export.py: --build module:function")
        sys.path.insert(0, os.getcwd())
        model = getattr(importlib.import_module(modname), fn)()
        sd = torch.load(args.state_dict, map_location="cpu")
        if isinstance(sd, dict) and not any(torch.is_tensor(v) for v in sd.values()):
            for k in ("model", "state_dict"):
                if k in sd:
                    sd = sd[k]
                    break
        model.load_state_dict(sd, strict=True)
        return model
    if not args.model:
        sys.exit("export.py: give MODEL (a torch.save'd model) or --build module:function")
    sys.path.insert(0, os.getcwd())
    model = torch.load(args.model, map_location="cpu")
    if isinstance(model, dict):
        sys.exit("export.py: %s holds a state dict, not a whole model: use --build "
                 "module:function --state-dict %s" % (args.model, args.model))
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write a torchvision FasterRCNN as a vdetect "
                                 "model file (version 2).")
    ap.add_argument("model", nargs="?", help="a whole model saved with torch.save(model, path)")
    ap.add_argument("-o", "--out", required=True, help="the model file to write (.vdm)")
    ap.add_argument("-y", action="store_true", help="replace OUT if it exists")
    ap.add_argument("--build", help="module:function returning the FasterRCNN (the module "
                    "is imported from the current directory or PYTHONPATH)")
    ap.add_argument("--state-dict", help="weights for --build")
    ap.add_argument("--labels", help="class names, one a line, background first")
    ap.add_argument("--colors", help="box colour of each class, one a line in --labels' "
                    "order: #rrggbb, or - for vdetect's palette")
    ap.add_argument("--name", help="the model's name in vdetect (default: from the backbone)")
    ap.add_argument("--check", metavar="IMAGE",
                    help="run torchvision and vdetect on IMAGE and print how far they agree; "
                    "exit 1 unless >= 95%% of torchvision's detections with score >= 0.3 are "
                    "matched (same label, |score difference| <= 1e-3, IoU >= 0.99 or sides "
                    "within 0.01 px)")
    ap.add_argument("--vdetect", default="./vdetect",
                    help="the vdetect to --check with (default: ./vdetect)")
    args = ap.parse_args(argv)
    # an output never replaces an input, nor (without -y) any file
    for what, p in (("the model", args.model), ("--state-dict", args.state_dict),
                    ("--labels", args.labels), ("--colors", args.colors),
                    ("--check", args.check)):
        if p and os.path.exists(p) and os.path.exists(args.out) and os.path.samefile(p, args.out):
            ap.error("-o %s is %s's file; choose another output" % (args.out, what))
    if os.path.exists(args.out) and not args.y:
        ap.error("%s exists; add -y to replace it" % args.out)
    model = load_model(args)
    names = None
    if args.labels:
        with open(args.labels) as f:
            names = [ln.rstrip("\r\n") for ln in f]
        while names and not names[-1]:
            names.pop()
    colors = None
    if args.colors:
        with open(args.colors) as f:
            colors = [ln.strip() for ln in f]
        while colors and not colors[-1]:
            colors.pop()
    try:
        export(model, args.out, names, args.name, verbose=True, colors=colors)
    except ExportError as e:
        print(e, file=sys.stderr)
        if "unsupported" in str(e):
            print("(the operations vdetect runs are listed in model/FORMAT.md; a backbone ends in "
                  "feature maps, so a classifier's flatten/linear/pooling tail must be cut off)",
                  file=sys.stderr)
        return 1
    if args.check:
        return check_image(model, args.out, args.check, args.vdetect)
    return 0


if __name__ == "__main__":
    sys.exit(main())
