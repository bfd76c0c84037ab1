#!/usr/bin/python3
"""gen_parity.py OUTDIR — torchvision reference dumps for vdetect's parity tests.

Run with Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14.1, numpy).

For every case in CASES this builds the case's Faster R-CNN with seeded random weights
laid out like the published checkpoints (FrozenBatchNorm2d, eps 0.0 for resnet50 and
1e-5 for MobileNetV3), randomises the BN buffers, calibrates the two classification
layers so there are real detections (docs/torchvision-inference.md, Appendix A), saves
the checkpoint in both torch formats and dumps every inference stage of a batch-of-1,
CPU, eval-mode run as .npy (batch dimension dropped). The model input is x = float(u8)
/ 255 as a contiguous [3, H, W] tensor (see run_case). Each stage is computed by
torchvision's own modules; the staged results are asserted equal to model([x]).

Output, per case, OUTDIR/<case>/ (self-contained):
  model_zip.pth, model_legacy.pth   state_dict, torch.save zip (float32) / legacy
                                     (float16) format, in the case named by meta
                                     "weights" (one pair per architecture); the
                                     weights lie on the float16 grid, so both
                                     files hold the same values
  image.png, input_u8.npy            the exact input, RGB8, [H, W, 3]
  meta.txt                           "key value..." lines (see write_meta)
  transform.npy                      GeneralizedRCNNTransform output [3, Hp, Wp]
  stem.npy, body_<i>.npy, fpn_<name>.npy
  rpn_logits_<l>.npy [A,h,w], rpn_deltas_<l>.npy [4A,h,w]
  anchors.npy, rpn_obj.npy, rpn_del.npy, rpn_decoded.npy
  proposals.npy, proposal_scores.npy, roi_levels.npy (int64, multi-map only)
  roi_pooled.npy, box_features.npy, class_logits.npy, box_regression.npy
  det_boxes_resized.npy, det_scores.npy, det_labels.npy (int64), det_boxes.npy
  rpn_cand_boxes.npy, rpn_cand_scores.npy, rpn_cand_levels.npy (int64)   the RPN's
                                     candidates before its per-level NMS
  cand_boxes.npy, cand_scores.npy, cand_labels.npy   the box head's candidates
                                     before its per-class NMS (boxes in image
                                     pixels, as the detections)
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
import torchvision
from PIL import Image
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection._utils import overwrite_eps
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import (BackboneWithFPN, _mobilenet_extractor,
                                                         _resnet_fpn_extractor)
from torchvision.models.detection.rpn import concat_box_prediction_layers
from torchvision.ops.misc import FrozenBatchNorm2d

HERE = os.path.dirname(os.path.abspath(__file__))
PHOTO = os.path.join(HERE, "data", "street.png")
KEYS_VGG = os.path.join(HERE, "data", "keys-vgg16_fpn_custom.txt")  # copy of the reference key list

R50 = "fasterrcnn_resnet50_fpn"
R50V2 = "fasterrcnn_resnet50_fpn_v2"
MNV3 = "fasterrcnn_mobilenet_v3_large_fpn"
MNV3_320 = "fasterrcnn_mobilenet_v3_large_320_fpn"
VGG = "fasterrcnn_vgg16_fpn"

# name, arch, seed, image ("photo" or (W, H) synthetic), sets (builder kwargs the C
# side applies with --set on top of its preset defaults), owner: None when the case
# makes its own weights, else the case whose checkpoints it reuses (one pair of
# checkpoints per architecture keeps the fixtures small; owners come first)
CASES = [
    ("mnv3_320_odd", MNV3_320, 12, (333, 250), {}, None),
    ("mnv3_320_photo", MNV3_320, 11, "photo", {}, "mnv3_320_odd"),
    ("mnv3_320_portrait", MNV3_320, 13, (240, 427), {}, "mnv3_320_odd"),
    ("mnv3_photo", MNV3, 21, "photo", {}, None),
    ("mnv3_portrait", MNV3, 22, (300, 451), {}, "mnv3_photo"),
    ("r50_odd", R50, 32, (500, 375), {}, None),
    ("r50_photo", R50, 31, "photo", {}, "r50_odd"),
    ("r50v2_photo", R50V2, 51, "photo", {"min_size": 400, "max_size": 720}, None),
    ("vgg16_photo", VGG, 41, "photo", {"min_size": 320, "max_size": 576}, None),
    ("vgg16_portrait", VGG, 42, (200, 300), {"min_size": 320, "max_size": 533}, "vgg16_photo"),
]

# A compared-only map (the stem) with more values than this is stored as every
# s-th value of its flat C-order data (meta "sample_<name> s"): a 64-channel
# full-resolution ResNet stem is 66 MB, its sample 4 MB, and every channel, row
# and column is still hit because s is odd and coprime to the map's sides.
SAMPLE_ABOVE = 1 << 20

# Objectness logits with std 3 saturate the sigmoid of the top anchors to within a
# few ulps of 1.0, so hundreds of proposals tie exactly and which of them survive
# NMS hinges on 1e-6 differences: an end-to-end comparison then tests luck, not
# arithmetic. Std 1 keeps the top scores around 0.95-0.99, distinct in f32.
CALIB_STD_RPN = 1.0
CALIB_STD = 3.0
CALIB_PASSES = 3


def log(msg):
    print(msg, flush=True)


# ---- inputs ----------------------------------------------------------------------

def synthetic_image(w, h, seed):
    """Deterministic RGB8 test card: smooth gradients, blended rectangles and
    ellipses, and noise everywhere (no flat regions, which would make ties)."""
    rs = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.empty((h, w, 3))
    for c in range(3):
        a, b = rs.uniform(-2.0, 2.0, 2)
        ph = rs.uniform(0, 2 * np.pi)
        img[..., c] = 128 + 50 * np.sin(2 * np.pi * (a * xx / w + b * yy / h) + ph) \
            + 40 * (xx / w - 0.5) * rs.uniform(-1, 1) + 40 * (yy / h - 0.5) * rs.uniform(-1, 1)
    for _ in range(10):
        rw = rs.randint(max(2, w // 12), max(3, w // 2))
        rh = rs.randint(max(2, h // 12), max(3, h // 2))
        x0 = rs.randint(0, w - rw + 1)
        y0 = rs.randint(0, h - rh + 1)
        col = rs.uniform(0, 255, 3)
        alpha = rs.uniform(0.5, 0.9)
        sub = img[y0:y0 + rh, x0:x0 + rw]
        img[y0:y0 + rh, x0:x0 + rw] = (1 - alpha) * sub + alpha * col
    for _ in range(6):
        cx, cy = rs.uniform(0, w), rs.uniform(0, h)
        ax, ay = rs.uniform(w / 20, w / 4), rs.uniform(h / 20, h / 4)
        col = rs.uniform(0, 255, 3)
        m = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0
        img[m] = 0.3 * img[m] + 0.7 * col
    img += rs.normal(0.0, 10.0, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def load_photo():
    with Image.open(PHOTO) as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


# ---- models ------------------------------------------------------------------------

def build_model(arch, sets):
    """Build the model the way published / fine-tuned checkpoints are laid out."""
    kw = dict(sets)
    if arch == R50V2:
        # the builder as is: nn.BatchNorm2d (eps 1e-5) in body, FPN and box head
        model = torchvision.models.detection.fasterrcnn_resnet50_fpn_v2(
            weights=None, weights_backbone=None, num_classes=91, **kw)
        bn_eps = 1e-5
    elif arch == R50:
        body = torchvision.models.resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
        backbone = _resnet_fpn_extractor(body, 3)
        model = FasterRCNN(backbone, num_classes=91, **kw)
        overwrite_eps(model, 0.0)
        bn_eps = 0.0
    elif arch in (MNV3, MNV3_320):
        defaults = {"rpn_score_thresh": 0.05}
        if arch == MNV3_320:
            defaults = {"min_size": 320, "max_size": 640, "rpn_pre_nms_top_n_test": 150,
                        "rpn_post_nms_top_n_test": 150, "rpn_score_thresh": 0.05}
        kw = {**defaults, **kw}
        body = torchvision.models.mobilenet_v3_large(weights=None, norm_layer=FrozenBatchNorm2d)
        backbone = _mobilenet_extractor(body, True, 3)
        anchor_sizes = ((32, 64, 128, 256, 512),) * 3
        ratios = ((0.5, 1.0, 2.0),) * len(anchor_sizes)
        model = FasterRCNN(backbone, 91, rpn_anchor_generator=AnchorGenerator(anchor_sizes, ratios),
                           **kw)
        bn_eps = 1e-5
    elif arch == VGG:
        features = torchvision.models.vgg16(weights=None).features
        backbone = BackboneWithFPN(features, return_layers={"2": "0", "7": "1", "14": "2", "28": "3"},
                                   in_channels_list=[64, 128, 256, 512], out_channels=256)
        model = FasterRCNN(backbone, num_classes=91, **kw)
        bn_eps = 1e-5  # no BatchNorm at all; the preset default, unused
    else:
        raise ValueError(arch)
    model.eval()
    return model, bn_eps


def randomize_bn(model):
    """BN/FrozenBN buffers away from identity so that BN mapping mistakes show."""
    for m in model.modules():
        if isinstance(m, (FrozenBatchNorm2d, torch.nn.BatchNorm2d)):
            n = m.weight.shape[0]
            with torch.no_grad():
                m.weight.copy_(torch.empty(n).uniform_(0.5, 1.5))
                m.bias.copy_(torch.empty(n).normal_(0.0, 0.1))
                m.running_mean.copy_(torch.empty(n).normal_(0.0, 0.1))
                m.running_var.copy_(torch.empty(n).uniform_(0.5, 2.0))


def check_vgg_keys(model):
    want = []
    with open(KEYS_VGG) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            key, dtype, shape = line.rstrip("\n").split("\t")
            want.append((key, dtype, shape))
    have = [(k, str(v.dtype).replace("torch.", ""), str(list(v.shape)))
            for k, v in model.state_dict().items()]
    if have != want:
        raise SystemExit("vgg16_fpn state_dict keys differ from " + KEYS_VGG)


# ---- staged inference -----------------------------------------------------------------

def rpn_levels(model, features):
    """RPNHead.conv once per level (the expensive part), kept for the passes."""
    return [model.rpn.head.conv(f) for f in features]


def run_rpn(model, images, features, convs=None):
    """RegionProposalNetwork.forward (eval) stage by stage. With convs (cached
    head.conv outputs, for the calibration passes) the head is RPNHead.forward's
    per-level ops on them; without, the RPNHead module itself."""
    rpn = model.rpn
    if convs is None:
        logits, deltas = rpn.head(features)
    else:
        logits = [rpn.head.cls_logits(t) for t in convs]
        deltas = [rpn.head.bbox_pred(t) for t in convs]
    anchors = rpn.anchor_generator(images, features)
    num_per_level = [o[0].shape[0] * o[0].shape[1] * o[0].shape[2] for o in logits]
    obj, dele = concat_box_prediction_layers(logits, deltas)
    decoded = rpn.box_coder.decode(dele.detach(), anchors).view(1, -1, 4)
    boxes, scores = rpn.filter_proposals(decoded, obj, images.image_sizes, num_per_level)
    return dict(logits=logits, deltas=deltas, anchors=anchors[0], obj=obj, dele=dele,
                decoded=decoded[0], proposals=boxes[0], proposal_scores=scores[0])


def run_heads(model, images, fpn, proposals):
    rh = model.roi_heads
    pooled = rh.box_roi_pool(fpn, [proposals], images.image_sizes)
    feats = rh.box_head(pooled)
    class_logits, box_regression = rh.box_predictor(feats)
    return pooled, feats, class_logits, box_regression


def calibrate(model, images, features, fpn, convs):
    """Appendix A: rescale rpn.head.cls_logits and box_predictor.cls_score (weight
    and bias) until the objectness logits have std CALIB_STD_RPN and the class
    logits std CALIB_STD."""
    f_rpn = f_cls = 1.0
    cls_layer = model.rpn.head.cls_logits
    score_layer = model.roi_heads.box_predictor.cls_score
    for _ in range(CALIB_PASSES):
        changed = False
        r = run_rpn(model, images, features, convs)
        s_rpn = float(r["obj"].std())
        if abs(s_rpn / CALIB_STD_RPN - 1) >= 0.01:
            k = CALIB_STD_RPN / s_rpn
            cls_layer.weight.mul_(k)
            cls_layer.bias.mul_(k)
            f_rpn *= k
            changed = True
            r = run_rpn(model, images, features, convs)
        _, _, class_logits, _ = run_heads(model, images, fpn, r["proposals"])
        s_cls = float(class_logits.std())
        if abs(s_cls / CALIB_STD - 1) >= 0.01:
            k = CALIB_STD / s_cls
            score_layer.weight.mul_(k)
            score_layer.bias.mul_(k)
            f_cls *= k
            changed = True
        if not changed:
            break
    return f_rpn, f_cls


def to_np(t):
    return np.ascontiguousarray(t.detach().cpu().numpy())


def stem_output(arch, body, x):
    if arch in (R50, R50V2):
        return body.relu(body.bn1(body.conv1(x)))
    if arch in (MNV3, MNV3_320):
        return body["0"](x)
    return body["1"](body["0"](x))  # VGG conv 0 + in-place ReLU 1 on a fresh tensor


def coco_names():
    w = torchvision.models.detection.FasterRCNN_ResNet50_FPN_Weights.COCO_V1
    return list(w.meta["categories"])


# ---- one case ---------------------------------------------------------------------------

EXPECTED_FIXED = ["image.png", "input_u8.npy", "meta.txt",
                  "transform.npy", "stem.npy", "anchors.npy", "rpn_obj.npy", "rpn_del.npy",
                  "rpn_decoded.npy", "proposals.npy", "proposal_scores.npy", "roi_pooled.npy",
                  "box_features.npy", "class_logits.npy", "box_regression.npy",
                  "det_boxes_resized.npy", "det_scores.npy", "det_labels.npy", "det_boxes.npy",
                  "detections.json", "cand_boxes.npy", "cand_scores.npy", "cand_labels.npy", "rpn_cand_boxes.npy",
                  "rpn_cand_scores.npy", "rpn_cand_levels.npy"]


def sample_stride(shape):
    """The odd stride, coprime to every side of shape, that keeps at most
    SAMPLE_ABOVE values."""
    n = int(np.prod(shape))
    s = max(1, -(-n // SAMPLE_ABOVE)) | 1
    while any(np.gcd(s, int(d)) != 1 for d in shape if d > 1):
        s += 2
    return s


def round_to_f16_grid(model):
    """Every float parameter and buffer rounded to a float16-representable value
    (kept in float32): the legacy checkpoint is then saved as float16 at half the
    size, and both files load to the same float32 weights bit for bit."""
    with torch.no_grad():
        for v in model.state_dict().values():
            if v.is_floating_point():
                v.copy_(v.half().float())


def box_candidates(model, class_logits, box_regression, proposals, image_size):
    """RoIHeads.postprocess_detections up to its batched NMS, line for line: the
    candidates the per-class NMS and the detections_per_img cut choose from.
    The parity tests use them to prove that a detection which differs between
    C and torchvision lost or won an NMS near-tie."""
    from torchvision.ops import boxes as box_ops
    rh = model.roi_heads
    num_classes = class_logits.shape[-1]
    boxes = rh.box_coder.decode(box_regression, [proposals])
    scores = torch.nn.functional.softmax(class_logits, -1)
    boxes = box_ops.clip_boxes_to_image(boxes, image_size)
    labels = torch.arange(num_classes).view(1, -1).expand_as(scores)
    boxes, scores, labels = boxes[:, 1:], scores[:, 1:], labels[:, 1:]
    boxes, scores, labels = boxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1)
    inds = torch.where(scores > rh.score_thresh)[0]
    boxes, scores, labels = boxes[inds], scores[inds], labels[inds]
    keep = box_ops.remove_small_boxes(boxes, min_size=1e-2)
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    keep = box_ops.batched_nms(boxes, scores, labels, rh.nms_thresh)[: rh.detections_per_img]
    return boxes, scores, labels, keep


def rpn_candidates(rpn, decoded, obj, image_size, num_per_level):
    """RegionProposalNetwork.filter_proposals up to its batched NMS, line for line
    (one image): the per-level top-n anchors after clipping, small-box removal and
    the score threshold, with their levels; and the NMS's picks among them."""
    from torchvision.ops import boxes as box_ops
    objectness = obj.detach().reshape(1, -1)
    levels = torch.cat([torch.full((n,), i, dtype=torch.int64) for i, n in enumerate(num_per_level)])
    levels = levels.reshape(1, -1).expand_as(objectness)
    top = rpn._get_top_n_idx(objectness, num_per_level)
    b = torch.arange(1)[:, None]
    scores = torch.sigmoid(objectness[b, top])[0]
    lvl = levels[b, top][0]
    boxes = box_ops.clip_boxes_to_image(decoded.reshape(1, -1, 4)[b, top][0], image_size)
    keep = box_ops.remove_small_boxes(boxes, rpn.min_size)
    boxes, scores, lvl = boxes[keep], scores[keep], lvl[keep]
    keep = torch.where(scores >= rpn.score_thresh)[0]
    boxes, scores, lvl = boxes[keep], scores[keep], lvl[keep]
    keep = box_ops.batched_nms(boxes, scores, lvl, rpn.nms_thresh)[: rpn.post_nms_top_n()]
    return boxes, scores, lvl, keep


def case_complete(d, script_hash):
    try:
        with open(os.path.join(d, ".gen_hash")) as f:
            if f.read().strip() != script_hash:
                return False
        with open(os.path.join(d, "manifest.txt")) as f:
            names = [ln.strip() for ln in f if ln.strip()]
    except OSError:
        return False
    return all(os.path.isfile(os.path.join(d, n)) for n in names + EXPECTED_FIXED)


def weights_complete(outdir, case):
    d = os.path.join(outdir, case[5] or case[0])
    return all(os.path.isfile(os.path.join(d, n)) for n in ("model_zip.pth", "model_legacy.pth"))


def run_case(outdir, case, script_hash, force=False):
    name, arch, seed, image, sets, owner = case
    d = os.path.join(outdir, name)
    if not force and case_complete(d, script_hash) and weights_complete(outdir, case):
        log(f"[{name}] up to date, skipped")
        return None
    os.makedirs(d, exist_ok=True)
    try:
        os.remove(os.path.join(d, ".gen_hash"))
    except FileNotFoundError:
        pass
    for f in os.listdir(d):
        if f.endswith(".npy"):
            os.remove(os.path.join(d, f))
    t0 = time.time()
    written = []

    def save(fname, arr):
        np.save(os.path.join(d, fname), arr)
        written.append(fname)

    torch.manual_seed(seed)
    u8 = load_photo() if image == "photo" else synthetic_image(image[0], image[1], seed)
    H, W = u8.shape[:2]
    Image.fromarray(u8, "RGB").save(os.path.join(d, "image.png"))
    with Image.open(os.path.join(d, "image.png")) as im:
        assert np.array_equal(np.asarray(im), u8)
    save("input_u8.npy", u8)
    # The input of docs/torchvision-inference.md §1.2, x = float(u8) / 255 (a true f32
    # division), made contiguous: permute() leaves HWC strides, and torch's
    # interpolate then takes its channels-last bilinear kernel, which rounds ~30% of
    # the resized values 1 ulp differently from the NCHW kernel that §1.3 there (and
    # to_tensor()/read_image() input) describes. Same values, different memory layout.
    x = (torch.from_numpy(u8.copy()).permute(2, 0, 1).float() / 255).contiguous()

    model, bn_eps = build_model(arch, sets)
    if owner:
        sd = torch.load(os.path.join(outdir, owner, "model_zip.pth"), map_location="cpu")
        model.load_state_dict(sd)
    else:
        randomize_bn(model)
    if arch == VGG:
        check_vgg_keys(model)

    with torch.no_grad():
        images, _ = model.transform([x])
        rh_, rw_ = images.image_sizes[0]
        ph_, pw_ = images.tensors.shape[-2:]
        log(f"[{name}] {arch} {W}x{H} -> resized {rw_}x{rh_}, padded {pw_}x{ph_}")
        body = model.backbone.body(images.tensors)
        fpn = model.backbone.fpn(body)
        features = list(fpn.values())
        convs = rpn_levels(model, features)
        t1 = time.time()
        f_rpn = f_cls = 1.0
        if owner:
            log(f"[{name}] backbone {t1 - t0:.1f}s, weights of {owner}")
        else:
            f_rpn, f_cls = calibrate(model, images, features, fpn, convs)
            round_to_f16_grid(model)
            log(f"[{name}] backbone {t1 - t0:.1f}s, calibration x{f_rpn:.4g} (rpn) "
                f"x{f_cls:.4g} (cls) {time.time() - t1:.1f}s")
            # zip as float32 (what training scripts save), legacy as float16
            torch.save(model.state_dict(), os.path.join(d, "model_zip.pth"))
            half = OrderedDict((k, v.half() if v.is_floating_point() else v)
                               for k, v in model.state_dict().items())
            torch.save(half, os.path.join(d, "model_legacy.pth"),
                       _use_new_zipfile_serialization=False)
            # everything below from the rounded weights
            body = model.backbone.body(images.tensors)
            fpn = model.backbone.fpn(body)
            features = list(fpn.values())
        t2 = time.time()
        samples = OrderedDict()

        # The stages, each by torchvision's own module, after calibration.
        save("transform.npy", to_np(images.tensors[0]))
        stem = to_np(stem_output(arch, model.backbone.body, images.tensors)[0])
        if stem.size > SAMPLE_ABOVE:
            samples["stem"] = sample_stride(stem.shape)
            stem = np.ascontiguousarray(stem.reshape(-1)[::samples["stem"]])
        save("stem.npy", stem)
        for i, v in enumerate(body.values()):
            save(f"body_{i}.npy", to_np(v[0]))
        for k, v in fpn.items():
            save(f"fpn_{k}.npy", to_np(v[0]))
        del convs
        r = run_rpn(model, images, features)
        for lvl, (lg, dl) in enumerate(zip(r["logits"], r["deltas"])):
            save(f"rpn_logits_{lvl}.npy", to_np(lg[0]))
            save(f"rpn_deltas_{lvl}.npy", to_np(dl[0]))
        save("anchors.npy", to_np(r["anchors"]))
        save("rpn_obj.npy", to_np(r["obj"].reshape(-1)))
        save("rpn_del.npy", to_np(r["dele"]))
        save("rpn_decoded.npy", to_np(r["decoded"]))
        proposals = r["proposals"]
        save("proposals.npy", to_np(proposals))
        save("proposal_scores.npy", to_np(r["proposal_scores"]))
        num_per_level = [lg.shape[1] * lg.shape[2] * lg.shape[3] for lg in r["logits"]]
        rb, rs, rl, rkeep = rpn_candidates(model.rpn, r["decoded"], r["obj"], images.image_sizes[0],
                                           num_per_level)
        assert torch.equal(rb[rkeep], proposals) and torch.equal(rs[rkeep], r["proposal_scores"]), \
            f"{name}: RPN candidates do not give the proposals"
        save("rpn_cand_boxes.npy", to_np(rb))
        save("rpn_cand_scores.npy", to_np(rs))
        save("rpn_cand_levels.npy", to_np(rl))

        pooled, feats, class_logits, box_regression = run_heads(model, images, fpn, proposals)
        pool = model.roi_heads.box_roi_pool
        scales = list(pool.scales)
        mapper = pool.map_levels
        if len(scales) > 1:
            save("roi_levels.npy", to_np(mapper([proposals]).to(torch.int64)))
        save("roi_pooled.npy", to_np(pooled))
        save("box_features.npy", to_np(feats))
        save("class_logits.npy", to_np(class_logits))
        save("box_regression.npy", to_np(box_regression))
        boxes_l, scores_l, labels_l = model.roi_heads.postprocess_detections(
            class_logits, box_regression, [proposals], images.image_sizes)
        save("det_boxes_resized.npy", to_np(boxes_l[0]))
        save("det_scores.npy", to_np(scores_l[0]))
        save("det_labels.npy", to_np(labels_l[0].to(torch.int64)))
        post = model.transform.postprocess(
            [{"boxes": boxes_l[0], "scores": scores_l[0], "labels": labels_l[0]}],
            images.image_sizes, [(H, W)])[0]
        save("det_boxes.npy", to_np(post["boxes"]))
        cb, cs, cl, keep = box_candidates(model, class_logits, box_regression, proposals,
                                          images.image_sizes[0])
        for got, want in ((cb[keep], boxes_l[0]), (cs[keep], scores_l[0]), (cl[keep], labels_l[0])):
            assert torch.equal(got, want), f"{name}: box candidates do not give the detections"
        cpost = model.transform.postprocess([{"boxes": cb, "scores": cs, "labels": cl}],
                                            images.image_sizes, [(H, W)])[0]
        save("cand_boxes.npy", to_np(cpost["boxes"]))
        save("cand_scores.npy", to_np(cs))
        save("cand_labels.npy", to_np(cl.to(torch.int64)))
        t3 = time.time()

        # The staged pipeline must be torchvision's forward, bit for bit.
        full = model([x])[0]
        for k in ("boxes", "scores", "labels"):
            assert torch.equal(full[k], post[k]), f"{name}: staged {k} != model([x]) {k}"
        t4 = time.time()

    names = coco_names()
    dets = []
    for b, s, lab in zip(post["boxes"].tolist(), post["scores"].tolist(), post["labels"].tolist()):
        dets.append({"box": b, "label": lab, "name": names[lab] if lab < len(names) else str(lab),
                     "score": s})
    with open(os.path.join(d, "detections.json"), "w") as f:
        json.dump({"image": "image.png", "width": W, "height": H, "detections": dets}, f, indent=1)
        f.write("\n")

    p = model.rpn._post_nms_top_n["testing"]
    meta = OrderedDict()
    meta["arch"] = arch
    meta["weights"] = owner or name
    meta["seed"] = seed
    meta["height"] = H
    meta["width"] = W
    meta["resized_h"] = rh_
    meta["resized_w"] = rw_
    meta["padded_h"] = ph_
    meta["padded_w"] = pw_
    meta["num_classes"] = class_logits.shape[1]
    meta["min_size"] = model.transform.min_size[-1]
    meta["max_size"] = model.transform.max_size
    meta["bn_eps"] = repr(bn_eps)
    meta["rpn_levels"] = len(features)
    meta["roi_maps"] = len(scales)
    meta["roi_scales"] = " ".join(repr(float(s)) for s in scales)
    meta["k_min"] = mapper.k_min
    meta["k_max"] = mapper.k_max
    meta["sets"] = " ".join(f"{k}={v}" for k, v in sets.items()) or "-"
    meta["num_proposals"] = proposals.shape[0]
    meta["num_detections"] = post["boxes"].shape[0]
    # Cross-checks for the C side's preset table (torchvision's configured values).
    meta["rpn_pre_nms_top_n_test"] = model.rpn._pre_nms_top_n["testing"]
    meta["rpn_post_nms_top_n_test"] = p
    meta["rpn_nms_thresh"] = model.rpn.nms_thresh
    meta["rpn_score_thresh"] = model.rpn.score_thresh
    meta["box_score_thresh"] = model.roi_heads.score_thresh
    meta["box_nms_thresh"] = model.roi_heads.nms_thresh
    meta["box_detections_per_img"] = model.roi_heads.detections_per_img
    meta["fpn_names"] = " ".join(fpn.keys())
    meta["calib_rpn_factor"] = repr(f_rpn)
    meta["calib_cls_factor"] = repr(f_cls)
    meta["input_layout"] = "contiguous"
    meta["legacy_dtype"] = "float16"
    meta["num_candidates"] = cs.shape[0]
    for k, v in samples.items():
        meta[f"sample_{k}"] = v
    with open(os.path.join(d, "meta.txt"), "w") as f:
        for k, v in meta.items():
            f.write(f"{k} {v}\n")
    with open(os.path.join(d, "manifest.txt"), "w") as f:
        for n in written:
            f.write(n + "\n")
    with open(os.path.join(d, ".gen_hash"), "w") as f:
        f.write(script_hash + "\n")
    t5 = time.time()
    log(f"[{name}] {proposals.shape[0]} proposals, {post['boxes'].shape[0]} detections; "
        f"stages {t3 - t2:.1f}s, model([x]) check {t4 - t3:.1f}s, total {t5 - t0:.1f}s")
    return t5 - t0


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_parity.py OUTDIR")
    outdir = sys.argv[1]
    # GEN_THREADS: torch's thread count (default 2); the tests must pass with
    # fixtures made with any, since intra-op threading changes torch's last bits
    torch.set_num_threads(int(os.environ.get("GEN_THREADS", "2")))
    with open(os.path.abspath(__file__), "rb") as f:
        script_hash = hashlib.sha256(f.read()).hexdigest()
    os.makedirs(outdir, exist_ok=True)
    only = os.environ.get("GEN_PARITY_ONLY")  # comma-separated case names, for debugging
    t0 = time.time()
    remade = set()
    for case in CASES:
        if only and case[0] not in only.split(","):
            continue
        # a case that reuses weights is remade whenever its owner was
        if run_case(outdir, case, script_hash, force=case[5] in remade) is not None:
            remade.add(case[0])
    log(f"gen_parity: done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
