#!/usr/bin/python3
"""gen_zoo.py OUTDIR — model-zoo fixtures for the version-2 .vdm format (model/FORMAT.md).

Run with Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14).

One Faster R-CNN per backbone family, built the way users build them (resnet_fpn_backbone,
mobilenet_backbone, a bare features Sequential with out_channels set, BackboneWithFPN,
create_feature_extractor + FeaturePyramidNetwork), with seeded random weights, the
BatchNorm buffers randomised and the RPN / box classification layers calibrated so there
are real detections (gen_parity.py's helpers). Small inputs (min_size 320, max_size 512).

Output, per case, OUTDIR/<case>/:
  model.vdm                       written by model/py/export.py's export()
  image.png, input_u8.npy         the exact input, RGB8 [H, W, 3]
  meta.txt                        "key value..." lines
  transform.npy                   the padded normalised image [3, Hp, Wp]
  feat_<name>.npy                 every backbone output [C, h, w] (torchvision)
  det_boxes.npy, det_scores.npy, det_labels.npy (int64)   detections in image pixels
  cand_boxes.npy, cand_scores.npy, cand_labels.npy (int64) the box head's candidates
                                  before its per-class NMS (boxes in image pixels)
  proposals.npy, proposal_scores.npy   the RPN's proposals (resized image coordinates)
  rpn_cand_boxes.npy, rpn_cand_scores.npy, rpn_cand_levels.npy (int64)   the RPN's
                                  candidates before its per-level NMS
  detections.json
A case whose directory already holds every file from a run of this same script
(.gen_hash) is skipped.
"""

import hashlib
import json
import os
import sys
import time
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torchvision
from PIL import Image
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import (BackboneWithFPN, mobilenet_backbone,
                                                         resnet_fpn_backbone)
from torchvision.models.detection.faster_rcnn import (FastRCNNConvFCHead, FastRCNNPredictor,
                                                      TwoMLPHead)
from torchvision.models.detection.rpn import RPNHead
from torchvision.models.feature_extraction import create_feature_extractor
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool, LastLevelP6P7

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "model", "py"))
import gen_parity as gp  # noqa: E402
import export as vexport  # noqa: E402
import vdm  # noqa: E402

NUM_CLASSES = 5
SMALL = dict(min_size=320, max_size=512)
R3 = (0.5, 1.0, 2.0)


class FXBackboneWithFPN(nn.Module):
    """The create_feature_extractor recipe: a feature extractor returning a dict, then an FPN."""

    def __init__(self, body, in_channels_list, out_channels, extra_blocks=None):
        super().__init__()
        self.body = body
        self.fpn = FeaturePyramidNetwork(in_channels_list, out_channels,
                                         extra_blocks=extra_blocks or LastLevelMaxPool())
        self.out_channels = out_channels

    def forward(self, x):
        return self.fpn(self.body(x))


def channels_of(body):
    with torch.no_grad():
        return [v.shape[1] for v in body(torch.zeros(1, 3, 64, 64)).values()]


def anchors(levels, sizes=None):
    sizes = sizes or [(32 * 2 ** i,) for i in range(levels)]
    return AnchorGenerator(tuple(tuple(s) for s in sizes), (R3,) * levels)


def small_head(C, rep=256):
    """TwoMLPHead with a small representation (the default 1024 makes the fc6 of a
    256-channel FPN 51 MB per case; the fixtures stay small)."""
    return dict(box_head=TwoMLPHead(C * 7 * 7, rep), box_predictor=FastRCNNPredictor(rep, NUM_CLASSES))


def fx_fpn(net, nodes, out_channels=256, extra=None):
    body = create_feature_extractor(net, {n: str(i) for i, n in enumerate(nodes)})
    return FXBackboneWithFPN(body, channels_of(body), out_channels, extra)


def build_resnet18():
    # torchvision's default anchors: the plain state_dict (model.pth) runs too
    bb = resnet_fpn_backbone(backbone_name="resnet18", weights=None)
    return FasterRCNN(bb, **small_head(256), **SMALL)


def build_resnext50():
    # returned_layers stop at layer3 (layer4 alone is 60 MB of fixture)
    bb = resnet_fpn_backbone(backbone_name="resnext50_32x4d", weights=None,
                             returned_layers=[1, 2, 3], extra_blocks=LastLevelP6P7(256, 256))
    return FasterRCNN(bb, rpn_anchor_generator=anchors(5),
                      box_roi_pool=MultiScaleRoIAlign(["0", "1", "2"], 7, 2),
                      **small_head(bb.out_channels), **SMALL)


def build_wide_resnet50():
    bb = resnet_fpn_backbone(backbone_name="wide_resnet50_2", weights=None, returned_layers=[1, 2])
    return FasterRCNN(bb, rpn_anchor_generator=anchors(3),
                      box_roi_pool=MultiScaleRoIAlign(["0", "1"], 7, 2),
                      **small_head(bb.out_channels), **SMALL)


def build_mobilenet_v2():
    bb = torchvision.models.mobilenet_v2(weights=None).features
    bb.out_channels = 1280
    return FasterRCNN(bb, rpn_anchor_generator=AnchorGenerator(((32, 64, 128, 256, 512),), (R3,)),
                      box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2), **small_head(1280, 128),
                      **SMALL)


def build_mobilenet_v3_small():
    bb = mobilenet_backbone(backbone_name="mobilenet_v3_small", weights=None, fpn=True)
    return FasterRCNN(bb, rpn_anchor_generator=AnchorGenerator(
        ((32, 64, 128, 256, 512),) * 3, (R3,) * 3), **small_head(bb.out_channels), **SMALL)


def build_vgg16():
    bb = torchvision.models.vgg16(weights=None).features[:-1]
    bb.out_channels = 512
    return FasterRCNN(bb,
                      rpn_anchor_generator=AnchorGenerator(((64, 128, 256, 512),), (R3,)),
                      box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2),
                      **small_head(512), **SMALL)


def build_vgg11_bn():
    feats = torchvision.models.vgg11_bn(weights=None).features
    bb = BackboneWithFPN(feats, return_layers={"6": "0", "13": "1", "20": "2", "27": "3"},
                         in_channels_list=[128, 256, 512, 512], out_channels=128)
    return FasterRCNN(bb, rpn_anchor_generator=anchors(5), **small_head(128), **SMALL)


def build_efficientnet_b0():
    bb = fx_fpn(torchvision.models.efficientnet_b0(weights=None),
                ["features.3", "features.5", "features.7"], 128)
    return FasterRCNN(bb, rpn_anchor_generator=anchors(4),
                      box_roi_pool=MultiScaleRoIAlign(["0", "1", "2"], 7, 2),
                      **small_head(bb.out_channels), **SMALL)


def build_regnet_y_400mf():
    bb = fx_fpn(torchvision.models.regnet_y_400mf(weights=None),
                ["trunk_output.block2", "trunk_output.block3", "trunk_output.block4"], 128)
    return FasterRCNN(bb, rpn_anchor_generator=anchors(4),
                      box_roi_pool=MultiScaleRoIAlign(["0", "1", "2"], 7, 2),
                      **small_head(bb.out_channels), **SMALL)


def build_convnext_tiny():
    bb = fx_fpn(torchvision.models.convnext_tiny(weights=None),
                ["features.1", "features.3"], 256)
    head = FastRCNNConvFCHead((256, 7, 7), [256] * 4, [1024], norm_layer=nn.BatchNorm2d)
    return FasterRCNN(bb, None, rpn_anchor_generator=anchors(3),
                      rpn_head=RPNHead(256, 3, conv_depth=2),
                      box_roi_pool=MultiScaleRoIAlign(["0", "1"], 7, 2),
                      box_head=head, box_predictor=FastRCNNPredictor(1024, NUM_CLASSES), **SMALL)


class CustomBackbone(nn.Module):
    """A hand-written backbone, as users write them, using the operations no torchvision
    family does: dilated and grouped convs, concat, average pooling without padded cells,
    max pooling in ceil mode, adaptive max and (non-1x1) average pooling, nearest upsampling
    by a scale and to another map's size, sigmoid gating, GELU/tanh/ReLU6 functional forms."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.SiLU())
        self.a = nn.Conv2d(16, 16, 3, 1, 2, dilation=2)
        self.b = nn.Conv2d(16, 16, 1)
        self.pool = nn.AvgPool2d(3, 2, 1, count_include_pad=False)
        self.c = nn.Conv2d(48, 64, 3, 1, 1, groups=4)
        self.out_channels = 64

    def forward(self, x):
        x = self.stem(x)                                   # stride 2
        y = torch.cat([x, torch.tanh(self.a(x)), nn.functional.gelu(self.b(x))], 1)
        y = self.pool(y)                                   # stride 4
        z = nn.functional.interpolate(nn.functional.max_pool2d(y, 2, 2), scale_factor=2,
                                      mode="nearest")
        y = y + z * torch.sigmoid(nn.functional.adaptive_max_pool2d(y, 1))
        y = y + nn.functional.interpolate(nn.functional.adaptive_avg_pool2d(y, (3, 5)),
                                          size=y.shape[-2:], mode="nearest")
        y = self.c(nn.functional.relu6(y))
        return nn.functional.max_pool2d(y, 3, 2, 1, ceil_mode=True)   # stride 8


def build_custom():
    bb = CustomBackbone()
    return FasterRCNN(bb, rpn_anchor_generator=AnchorGenerator(((32, 64, 128),), (R3,)),
                      box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2), **small_head(64, 128),
                      **SMALL)


# name, builder, seed, image ((W, H) synthetic or "photo")
CASES = [
    ("resnet18_fpn", build_resnet18, 101, (400, 300)),
    ("resnext50_p6p7", build_resnext50, 102, "photo"),
    ("wide_resnet50_fpn", build_wide_resnet50, 103, (333, 250)),
    ("mobilenet_v2", build_mobilenet_v2, 104, (300, 400)),
    ("mobilenet_v3_small_fpn", build_mobilenet_v3_small, 105, "photo"),
    ("vgg16", build_vgg16, 106, (320, 240)),
    ("vgg11_bn_fpn", build_vgg11_bn, 107, (350, 260)),
    ("efficientnet_b0_fpn", build_efficientnet_b0, 108, (400, 300)),
    ("regnet_y_400mf_fpn", build_regnet_y_400mf, 109, (256, 341)),
    ("convnext_tiny_fpn", build_convnext_tiny, 110, "photo"),
    ("custom_ops", build_custom, 111, (360, 270)),
]


# ---- generation ---------------------------------------------------------------------------

EXPECTED = ["model.vdm", "image.png", "input_u8.npy", "meta.txt", "transform.npy",
            "det_boxes.npy", "det_scores.npy", "det_labels.npy", "cand_boxes.npy",
            "cand_scores.npy", "cand_labels.npy", "detections.json", "proposals.npy",
            "proposal_scores.npy", "rpn_cand_boxes.npy", "rpn_cand_scores.npy",
            "rpn_cand_levels.npy"]
CLASSES = ["__background__", "alpha", "beta", "gamma", "delta"]
# Cases whose plain state_dict vdetect runs without the exporter (model/spec/infer.c): saved
# as model.pth too, with the --set options their non-default sizes need (meta pth_sets).
PLAIN_PTH = {"resnet18_fpn": "min_size=320 max_size=512",
             "mobilenet_v3_small_fpn": "min_size=320 max_size=512"}


def to_np(t):
    return np.ascontiguousarray(t.detach().cpu().numpy())


def case_complete(d, h, outputs_file="outputs.txt"):
    try:
        with open(os.path.join(d, ".gen_hash")) as f:
            if f.read().strip() != h:
                return False
        with open(os.path.join(d, outputs_file)) as f:
            names = f.read().split()
    except OSError:
        return False
    plain = ["model.pth"] if os.path.basename(d) in PLAIN_PTH else []
    return all(os.path.isfile(os.path.join(d, n))
               for n in EXPECTED + plain + ["feat_%s.npy" % k for k in names])


def run_case(outdir, case, h):
    name, build, seed, image = case
    plain = name in PLAIN_PTH
    d = os.path.join(outdir, name)
    if case_complete(d, h):
        gp.log(f"[{name}] up to date, skipped")
        return
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    t0 = time.time()
    torch.manual_seed(seed)
    u8 = gp.load_photo() if image == "photo" else gp.synthetic_image(image[0], image[1], seed)
    H, W = u8.shape[:2]
    Image.fromarray(u8, "RGB").save(os.path.join(d, "image.png"))
    np.save(os.path.join(d, "input_u8.npy"), u8)
    x = (torch.from_numpy(u8.copy()).permute(2, 0, 1).float() / 255).contiguous()
    model = build()
    gp.randomize_bn(model)
    model.eval()
    with torch.no_grad():
        images, _ = model.transform([x])

        def backbone():
            f = model.backbone(images.tensors)
            return OrderedDict([("0", f)]) if isinstance(f, torch.Tensor) else f
        fpn = backbone()
        features = list(fpn.values())
        f_rpn, f_cls = gp.calibrate(model, images, features, fpn, gp.rpn_levels(model, features))
        r = gp.run_rpn(model, images, features)
        proposals = r["proposals"]
        num_per_level = [lg.shape[1] * lg.shape[2] * lg.shape[3] for lg in r["logits"]]
        rb, rs, rl, rkeep = gp.rpn_candidates(model.rpn, r["decoded"], r["obj"],
                                              images.image_sizes[0], num_per_level)
        assert torch.equal(rb[rkeep], proposals) and torch.equal(rs[rkeep], r["proposal_scores"]), \
            f"{name}: RPN candidates do not give the proposals"
        _, _, class_logits, box_regression = gp.run_heads(model, images, fpn, proposals)
        boxes_l, scores_l, labels_l = model.roi_heads.postprocess_detections(
            class_logits, box_regression, [proposals], images.image_sizes)
        post = model.transform.postprocess(
            [{"boxes": boxes_l[0], "scores": scores_l[0], "labels": labels_l[0]}],
            images.image_sizes, [(H, W)])[0]
        cb, cs, cl, keep = gp.box_candidates(model, class_logits, box_regression, proposals,
                                             images.image_sizes[0])
        for got, want in ((cb[keep], boxes_l[0]), (cs[keep], scores_l[0]), (cl[keep], labels_l[0])):
            assert torch.equal(got, want), f"{name}: box candidates do not give the detections"
        cpost = model.transform.postprocess([{"boxes": cb, "scores": cs, "labels": cl}],
                                            images.image_sizes, [(H, W)])[0]
        full = model([x])[0]
        for k in ("boxes", "scores", "labels"):
            assert torch.equal(full[k], post[k]), f"{name}: staged {k} != model([x]) {k}"
    t1 = time.time()
    desc = vexport.export(model, os.path.join(d, "model.vdm"), CLASSES)
    back, meta_ = vdm.read_vdm(os.path.join(d, "model.vdm"))
    sd = model.state_dict()
    for k, v in back.items():
        assert torch.equal(v, sd[k].float()), f"{name}: {k} differs in model.vdm"
    assert json.loads(meta_["vdetect"]) == json.loads(json.dumps(desc))
    outs = [o["name"] for o in desc["graph"]["outputs"]]
    assert outs == list(fpn.keys()), (outs, list(fpn.keys()))
    np.save(os.path.join(d, "transform.npy"), to_np(images.tensors[0]))
    for k, v in fpn.items():
        np.save(os.path.join(d, "feat_%s.npy" % k), to_np(v[0]))
    np.save(os.path.join(d, "det_boxes.npy"), to_np(post["boxes"]))
    np.save(os.path.join(d, "det_scores.npy"), to_np(post["scores"]))
    np.save(os.path.join(d, "det_labels.npy"), to_np(post["labels"].to(torch.int64)))
    np.save(os.path.join(d, "cand_boxes.npy"), to_np(cpost["boxes"]))
    np.save(os.path.join(d, "cand_scores.npy"), to_np(cs))
    np.save(os.path.join(d, "cand_labels.npy"), to_np(cl.to(torch.int64)))
    np.save(os.path.join(d, "proposals.npy"), to_np(proposals))
    np.save(os.path.join(d, "proposal_scores.npy"), to_np(r["proposal_scores"]))
    np.save(os.path.join(d, "rpn_cand_boxes.npy"), to_np(rb))
    np.save(os.path.join(d, "rpn_cand_scores.npy"), to_np(rs))
    np.save(os.path.join(d, "rpn_cand_levels.npy"), to_np(rl))
    dets = [{"box": b, "label": lab, "name": CLASSES[lab], "score": s}
            for b, s, lab in zip(post["boxes"].tolist(), post["scores"].tolist(),
                                 post["labels"].tolist())]
    with open(os.path.join(d, "detections.json"), "w") as f:
        json.dump({"image": "image.png", "width": W, "height": H, "detections": dets}, f, indent=1)
        f.write("\n")
    rh_, rw_ = images.image_sizes[0]
    ph_, pw_ = images.tensors.shape[-2:]
    meta = OrderedDict()
    meta["name"] = desc["name"]
    meta["seed"] = seed
    meta["height"] = H
    meta["width"] = W
    meta["resized_h"] = rh_
    meta["resized_w"] = rw_
    meta["padded_h"] = ph_
    meta["padded_w"] = pw_
    meta["num_classes"] = class_logits.shape[1]
    meta["outputs"] = " ".join(outs)
    meta["num_proposals"] = proposals.shape[0]
    meta["num_detections"] = post["boxes"].shape[0]
    meta["num_candidates"] = cs.shape[0]
    for k, v in desc["params"].items():
        meta[k] = " ".join(repr(u) for u in v) if isinstance(v, list) else v
    if plain:
        torch.save(model.state_dict(), os.path.join(d, "model.pth"))
        meta["pth_sets"] = PLAIN_PTH[name]
    meta["calib_rpn_factor"] = repr(f_rpn)
    meta["calib_cls_factor"] = repr(f_cls)
    with open(os.path.join(d, "meta.txt"), "w") as f:
        for k, v in meta.items():
            f.write(f"{k} {v}\n")
    with open(os.path.join(d, "outputs.txt"), "w") as f:
        f.write(" ".join(outs) + "\n")
    with open(os.path.join(d, ".gen_hash"), "w") as f:
        f.write(h + "\n")
    gp.log(f"[{name}] {desc['name']} {W}x{H} -> {rw_}x{rh_} padded {pw_}x{ph_}; "
           f"{proposals.shape[0]} proposals, {post['boxes'].shape[0]} detections; "
           f"model {t1 - t0:.1f}s, export {time.time() - t1:.1f}s, "
           f"{os.path.getsize(os.path.join(d, 'model.vdm')) / 1e6:.1f} MB")


def script_hash():
    """This script and the exporter it runs: a change to either remakes the fixtures."""
    hh = hashlib.sha256()
    for p in (os.path.abspath(__file__), vexport.__file__, vexport.graph.__file__,
              vexport.graph_run.__file__, vdm.__file__):
        with open(p, "rb") as f:
            hh.update(f.read())
    return hh.hexdigest()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_zoo.py OUTDIR")
    outdir = sys.argv[1]
    torch.set_num_threads(int(os.environ.get("GEN_THREADS", "1")))
    os.makedirs(outdir, exist_ok=True)
    only = os.environ.get("GEN_ZOO_ONLY")  # comma-separated case names, for debugging
    h = script_hash()
    t0 = time.time()
    for case in CASES:
        if only and case[0] not in only.split(","):
            continue
        run_case(outdir, case, h)
    gp.log(f"gen_zoo: done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
