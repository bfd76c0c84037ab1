#!/usr/bin/python3
"""world.py — the synthetic world vdetect's demo model is trained on.

Six kinds of object a person tells apart at a glance (a red circle, a blue
square, a green triangle, a yellow star, a purple cross, an orange hexagon),
each with random size, rotation, colour jitter and shading, placed with overlap
and partial occlusion over textured backgrounds (value noise, gradients,
stripes, checks, soft blobs), then lit unevenly, blurred and given sensor noise.

Everything is deterministic: image i of a split is drawn from
numpy.random.default_rng([seed, split_id, i]) alone, so any subset can be
regenerated on its own and in any order.

Ground-truth boxes are the whole (amodal) object's box clipped to the image,
in pixels, COCO style [x, y, w, h]; placement keeps every object at least 55%
visible (occlusion by later objects and the image border together).

Usage:
  world.py images OUTDIR [--seed S] [--train N] [--val N] [--size WxH]
      OUTDIR/train/*.png, OUTDIR/val/*.png, OUTDIR/instances_{train,val}.json
  world.py clip OUT.mp4 [--seed S] [--truth FILE.json] [--mot gt.txt] [--seconds 12]
                [--fps 25] [--size 640x360] [--tracking | --gating [--light-step T] [--clock]]
      the sample clip: objects moving through the world, H.264 + AAC audio,
      with per-frame COCO ground truth (file names frame_%04d.png, frame
      index from 0) and MOTChallenge gt.txt
      --tracking: the tracking clip (scripted paths, crossings, a late arrival)
      --gating: the motion-gating clip (20 s unless --seconds): a camera that
      watches a still scene, then a busy one. The first half nothing moves (two
      parked objects, sensor noise only); the second half six objects cross the
      frame mostly horizontally, at most three at once and never overlapping,
      each crossing the zone bands x in [0.2W, 0.4W] ("left") and [0.6W, 0.8W]
      ("right") cleanly by its box's bottom-centre; one of them stops in the right
      band for 3 s and turns back. --light-step T: from T seconds on the picture is 1.6 times
      brighter (a light switched on: a global change); --clock: a timestamp box at
      the top-left corner that changes every frame. Neither is an object.
"""

import argparse
import json
import colorsys
import math
import os
import subprocess
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES = ["red circle", "blue square", "green triangle", "yellow star", "purple cross",
           "orange hexagon"]
# base hue (degrees), saturation, value of each class
COLOURS = [(0, 0.85, 0.90), (222, 0.85, 0.85), (125, 0.80, 0.75), (54, 0.90, 0.95),
           (285, 0.70, 0.70), (28, 0.95, 0.95)]


def class_colours_hex():
    """Each class's base colour as "#rrggbb" (the model file's "colors", so that boxes are
    drawn in the colour their class names)."""
    out = []
    for h, s, v in COLOURS:
        r, g, b = colorsys.hsv_to_rgb(h / 360.0, s, v)
        out.append("#%02x%02x%02x" % (round(r * 255), round(g * 255), round(b * 255)))
    return out


SPLIT_IDS = {"train": 1, "val": 2, "test": 3, "clip": 4}
SS = 2  # supersampling of object edges


# ---- geometry ---------------------------------------------------------------------------

def unit_outline(cls):
    """Outline of class cls as (N, 2) points in [-1, 1]^2 (None for the circle)."""
    if cls == 0:
        return None
    if cls == 1:
        r = 1 / math.sqrt(2) * 1.0
        return np.array([[-r, -r], [r, -r], [r, r], [-r, r]]) * 1.25
    if cls == 2:
        a = np.deg2rad(np.array([-90, 30, 150]))
        return np.stack([np.cos(a), np.sin(a)], 1)
    if cls == 3:
        a = np.deg2rad(np.arange(10) * 36 - 90)
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        return np.stack([r * np.cos(a), r * np.sin(a)], 1)
    if cls == 4:
        w = 0.32
        p = [(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1), (-w, w),
             (-1, w), (-1, -w), (-w, -w)]
        return np.array(p, dtype=np.float64)
    if cls == 5:
        a = np.deg2rad(np.arange(6) * 60)
        return np.stack([np.cos(a), np.sin(a)], 1)
    raise ValueError(cls)


def outline(obj):
    """Vertices in image pixels (float), or None for the circle."""
    u = unit_outline(obj["cls"])
    if u is None:
        return None
    t = obj["angle"]
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return (u * np.array([1.0, obj["aspect"]])) @ rot.T * obj["r"] + np.array([obj["x"], obj["y"]])


def extent(obj):
    """Tight box x1, y1, x2, y2 of the whole object (unclipped)."""
    v = outline(obj)
    if v is None:
        rx, ry = obj["r"], obj["r"] * obj["aspect"]
        return obj["x"] - rx, obj["y"] - ry, obj["x"] + rx, obj["y"] + ry
    return v[:, 0].min(), v[:, 1].min(), v[:, 0].max(), v[:, 1].max()


def render_mask(obj, W, H):
    """Antialiased coverage of obj: (alpha [h, w] float32 in 0..1, x0, y0) of its crop, or
    None when it is entirely outside the W x H image."""
    x1, y1, x2, y2 = extent(obj)
    x0, y0 = max(int(math.floor(x1)) - 1, 0), max(int(math.floor(y1)) - 1, 0)
    xe, ye = min(int(math.ceil(x2)) + 1, W), min(int(math.ceil(y2)) + 1, H)
    if xe <= x0 or ye <= y0:
        return None
    w, h = xe - x0, ye - y0
    im = Image.new("L", (w * SS, h * SS), 0)
    d = ImageDraw.Draw(im)
    v = outline(obj)
    if v is None:
        rx, ry = obj["r"], obj["r"] * obj["aspect"]
        cx, cy = obj["x"] - x0, obj["y"] - y0
        d.ellipse([(cx - rx) * SS, (cy - ry) * SS, (cx + rx) * SS, (cy + ry) * SS], fill=255)
    else:
        pts = [((px - x0) * SS, (py - y0) * SS) for px, py in v]
        d.polygon(pts, fill=255)
    im = im.reduce(SS)
    return np.asarray(im, dtype=np.float32) / 255.0, x0, y0


def hsv_to_rgb(h, s, v):
    h = (h % 360) / 60.0
    c = v * s
    x = c * (1 - abs(h % 2 - 1))
    m = v - c
    r, g, b = [(c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c), (c, 0, x)][int(h) % 6]
    return np.array([r + m, g + m, b + m], dtype=np.float32)


# ---- random objects -------------------------------------------------------------------------

def random_object(rng, W, H, cls=None, scale=1.0):
    """A random object of class cls (random if None); r is its half-size in pixels."""
    if cls is None:
        cls = int(rng.integers(len(CLASSES)))
    hmin = min(W, H)
    # half-size: 4%..20% of the short side, biased towards small
    r = hmin * scale * (0.04 + 0.16 * rng.random() ** 1.6)
    hue, sat, val = COLOURS[cls]
    return {
        "cls": cls,
        "x": float(rng.uniform(-0.3 * r, W + 0.3 * r)),
        "y": float(rng.uniform(-0.3 * r, H + 0.3 * r)),
        "r": float(r),
        "angle": float(rng.uniform(0, 2 * math.pi)),
        "aspect": float(rng.uniform(0.92, 1.0) if cls == 0 else rng.uniform(0.85, 1.0)),
        "hue": float(hue + rng.normal(0, 6)),
        "sat": float(np.clip(sat + rng.normal(0, 0.08), 0.45, 1.0)),
        "val": float(np.clip(val * rng.uniform(0.7, 1.1), 0.35, 1.0)),
        "shade_dir": float(rng.uniform(0, 2 * math.pi)),
        "shade": float(rng.uniform(0.0, 0.35)),
        "outline": bool(rng.random() < 0.3),
        "speckle": float(rng.uniform(0, 0.06)),
    }


def paint(img, obj, rng, mask=None):
    """Composite obj onto img (float32 [H, W, 3], 0..1) in place."""
    H, W = img.shape[:2]
    m = mask if mask is not None else render_mask(obj, W, H)
    if m is None:
        return
    a, x0, y0 = m
    h, w = a.shape
    base = hsv_to_rgb(obj["hue"], obj["sat"], obj["val"])
    yy, xx = np.mgrid[y0:y0 + h, x0:x0 + w].astype(np.float32)
    d = ((xx - obj["x"]) * math.cos(obj["shade_dir"]) +
         (yy - obj["y"]) * math.sin(obj["shade_dir"])) / max(obj["r"], 1.0)
    col = base[None, None, :] * (1.0 + obj["shade"] * np.clip(d, -1, 1))[..., None]
    if obj["speckle"] > 0:
        col = col * (1.0 + obj["speckle"] * rng.standard_normal((h, w, 1)).astype(np.float32))
    if obj["outline"]:
        # darker rim: where the eroded coverage is lower than the coverage
        er = np.asarray(Image.fromarray((a * 255).astype(np.uint8)).filter(ImageFilter.MinFilter(3)),
                        dtype=np.float32) / 255.0
        rim = np.clip(a - er, 0, 1)[..., None]
        col = col * (1 - 0.6 * rim)
    col = np.clip(col, 0, 1)
    region = img[y0:y0 + h, x0:x0 + w]
    region[:] = region * (1 - a[..., None]) + col * a[..., None]


# ---- backgrounds --------------------------------------------------------------------------------

def value_noise(rng, H, W, cells):
    g = rng.random((cells + 2, int(cells * W / H) + 2)).astype(np.float32)
    im = Image.fromarray((g * 255).astype(np.uint8)).resize((W, H), Image.BICUBIC)
    return np.asarray(im, dtype=np.float32) / 255.0


def random_colour(rng, sat_max=0.45):
    return hsv_to_rgb(rng.uniform(0, 360), rng.uniform(0, sat_max), rng.uniform(0.25, 0.9))


def background(rng, W, H, smooth=False):
    """A textured background, float32 [H, W, 3] in 0..1. smooth: fewer fine details (for a
    clip that must compress well)."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    c1, c2 = random_colour(rng), random_colour(rng)
    kind = rng.integers(5)
    if kind == 0:          # gradient
        t = rng.uniform(0, 2 * math.pi)
        u = (xx * math.cos(t) + yy * math.sin(t))
        u = (u - u.min()) / max(u.max() - u.min(), 1)
    elif kind == 1:        # stripes
        t = rng.uniform(0, math.pi)
        period = rng.uniform(8, 60)
        u = 0.5 + 0.5 * np.sin((xx * math.cos(t) + yy * math.sin(t)) * 2 * math.pi / period)
        if rng.random() < 0.5:
            u = (u > 0.5).astype(np.float32) * 0.8 + 0.1
    elif kind == 2:        # checks
        s = rng.uniform(12, 50)
        u = (((xx // s) + (yy // s)) % 2).astype(np.float32) * 0.7 + 0.15
    else:                  # value noise, one or two octaves
        u = value_noise(rng, H, W, int(rng.integers(3, 12)))
        if rng.random() < 0.6 and not smooth:
            u = 0.7 * u + 0.3 * value_noise(rng, H, W, int(rng.integers(20, 50)))
    contrast = rng.uniform(0.2, 0.8)
    u = 0.5 + (u - 0.5) * contrast
    img = c1[None, None, :] * (1 - u[..., None]) + c2[None, None, :] * u[..., None]
    # soft blobs
    nb = int(rng.integers(0, 8))
    if nb:
        layer = Image.new("RGB", (W, H))
        alpha = Image.new("L", (W, H), 0)
        dl, da = ImageDraw.Draw(layer), ImageDraw.Draw(alpha)
        for _ in range(nb):
            cx, cy = rng.uniform(0, W), rng.uniform(0, H)
            rx, ry = rng.uniform(0.03, 0.25) * W, rng.uniform(0.03, 0.25) * H
            col = tuple(int(v * 255) for v in random_colour(rng, 0.35))
            dl.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=col)
            da.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=int(rng.uniform(60, 200)))
        blur = rng.uniform(3, 15)
        layer = np.asarray(layer.filter(ImageFilter.GaussianBlur(blur)), dtype=np.float32) / 255
        a = np.asarray(alpha.filter(ImageFilter.GaussianBlur(blur)), dtype=np.float32)[..., None] / 255
        img = img * (1 - a) + layer * a
    if not smooth and rng.random() < 0.5:   # fine grain texture
        img = img * (1 + rng.uniform(0.02, 0.12) * (rng.random((H, W, 1)).astype(np.float32) - 0.5))
    return np.clip(img, 0, 1).astype(np.float32)


def lighting(rng, W, H):
    """A smooth multiplicative illumination field [H, W, 1]."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    t = rng.uniform(0, 2 * math.pi)
    u = (xx - W / 2) * math.cos(t) + (yy - H / 2) * math.sin(t)
    u /= max(W, H) / 2
    g = rng.uniform(0.7, 1.15) * (1 + rng.uniform(0, 0.35) * u)
    cx, cy = rng.uniform(0, W), rng.uniform(0, H)
    v = ((xx - cx) ** 2 + (yy - cy) ** 2) / (max(W, H) ** 2)
    g = g * (1 - rng.uniform(0, 0.5) * v)
    return np.clip(g, 0.3, 1.5)[..., None].astype(np.float32)


def finish(img, rng, blur=None, noise=None):
    """Blur and sensor noise; returns uint8 [H, W, 3]."""
    blur = rng.uniform(0, 1.3) if blur is None else blur
    im = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))
    if blur > 0.3:
        im = im.filter(ImageFilter.GaussianBlur(blur))
    a = np.asarray(im, dtype=np.float32)
    sigma = rng.uniform(0, 8) if noise is None else noise
    if sigma > 0:
        a = a + rng.normal(0, sigma, a.shape).astype(np.float32)
    return np.clip(a + 0.5, 0, 255).astype(np.uint8)


# ---- one still image ----------------------------------------------------------------------------

MIN_VISIBLE = 0.55


def coverage_ok(masks, cand, W, H):
    """Whether adding mask cand on top keeps every object (cand included) visible enough:
    visible coverage / full coverage (an object's pixels outside the image count as hidden)."""
    allm = masks + [cand]
    for i, (a, x0, y0, full) in enumerate(allm):
        vis = a.copy()
        for b, bx, by, _ in allm[i + 1:]:
            # overlap of the two crops
            ox0, oy0 = max(x0, bx), max(y0, by)
            ox1 = min(x0 + a.shape[1], bx + b.shape[1])
            oy1 = min(y0 + a.shape[0], by + b.shape[0])
            if ox1 <= ox0 or oy1 <= oy0:
                continue
            vis[oy0 - y0:oy1 - y0, ox0 - x0:ox1 - x0] *= 1 - b[oy0 - by:oy1 - by, ox0 - bx:ox1 - bx]
        if vis.sum() < MIN_VISIBLE * full:
            return False
    return True


def full_area(obj):
    """Coverage area of the whole object, in pixels (from an unclipped render)."""
    x1, y1, x2, y2 = extent(obj)
    o = dict(obj, x=obj["x"] - x1 + 2, y=obj["y"] - y1 + 2)
    m = render_mask(o, int(x2 - x1) + 4, int(y2 - y1) + 4)
    return float(m[0].sum())


def clipped_box(obj, W, H):
    x1, y1, x2, y2 = extent(obj)
    return max(x1, 0.0), max(y1, 0.0), min(x2, float(W)), min(y2, float(H))


def overlap(a, b):
    """Intersection of boxes a and b over the smaller one's area."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / max(small, 1e-6)


def make_image(seed, split, index, W, H):
    """One image: (uint8 [H, W, 3], [(cls, (x1, y1, x2, y2)), ...])."""
    rng = np.random.default_rng([seed, SPLIT_IDS[split], index])
    img = background(rng, W, H)
    n = 0 if rng.random() < 0.04 else int(min(rng.geometric(0.22), 10))
    objs, masks = [], []
    tries = 0
    while len(objs) < n and tries < 60:
        tries += 1
        o = random_object(rng, W, H)
        m = render_mask(o, W, H)
        if m is None:
            continue
        cand = (m[0], m[1], m[2], full_area(o))
        bx1, by1, bx2, by2 = clipped_box(o, W, H)
        if bx2 - bx1 < 6 or by2 - by1 < 6:
            continue
        if not coverage_ok(masks, cand, W, H):
            continue
        # the same colour over the same colour would hide the edge between them
        if any(p["cls"] == o["cls"] and overlap(clipped_box(p, W, H), (bx1, by1, bx2, by2)) > 0.05
               for p in objs):
            continue
        objs.append(o)
        masks.append(cand)
    for o, m in zip(objs, masks):
        paint(img, o, rng, (m[0], m[1], m[2]))
    img = img * lighting(rng, W, H)
    out = finish(img, rng)
    anns = [(o["cls"], clipped_box(o, W, H)) for o in objs]
    return out, anns


def coco_categories():
    return [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(CLASSES)]


def write_split(outdir, split, count, seed, W, H, prefix="", subdir=None):
    """Render count images of split into outdir/<subdir or split>/ and return the COCO dict."""
    d = os.path.join(outdir, subdir or split)
    os.makedirs(d, exist_ok=True)
    images, annotations = [], []
    for i in range(count):
        img, anns = make_image(seed, split, i, W, H)
        name = "%s%06d.png" % (prefix, i)
        Image.fromarray(img).save(os.path.join(d, name), compress_level=1)
        images.append({"id": i + 1, "file_name": name, "width": W, "height": H})
        for cls, (x1, y1, x2, y2) in anns:
            w, h = x2 - x1, y2 - y1
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1,
                                "category_id": cls + 1,
                                "bbox": [round(x1, 2), round(y1, 2), round(w, 2), round(h, 2)],
                                "area": round(w * h, 2), "iscrowd": 0})
    return {"info": {"description": "vdetect synthetic shapes, split %s, seed %d" % (split, seed)},
            "images": images, "annotations": annotations, "categories": coco_categories()}


# ---- the sample clip ------------------------------------------------------------------------------

def clip_tracks(rng, W, H, seconds):
    """Objects with smooth paths: each enters from an edge (or is there at the start),
    crosses the frame, spins slowly and leaves."""
    tracks = []
    t = -4.0
    while t < seconds:
        cls = len(tracks) % len(CLASSES) if len(tracks) < len(CLASSES) else int(rng.integers(len(CLASSES)))
        o = random_object(rng, W, H, cls, scale=1.0)
        o["r"] = float(min(W, H) * rng.uniform(0.06, 0.17))
        side = rng.integers(4)
        m = o["r"] * 1.6
        start = {0: (-m, rng.uniform(0.1, 0.9) * H), 1: (W + m, rng.uniform(0.1, 0.9) * H),
                 2: (rng.uniform(0.1, 0.9) * W, -m), 3: (rng.uniform(0.1, 0.9) * W, H + m)}[side]
        end = {0: (W + m, rng.uniform(0.1, 0.9) * H), 1: (-m, rng.uniform(0.1, 0.9) * H),
               2: (rng.uniform(0.1, 0.9) * W, H + m), 3: (rng.uniform(0.1, 0.9) * W, -m)}[side]
        speed = rng.uniform(50, 130)   # px/s
        dist = math.hypot(end[0] - start[0], end[1] - start[1])
        tracks.append({"obj": o, "t0": t, "t1": t + dist / speed, "p0": start, "p1": end,
                       "spin": float(rng.uniform(-1.2, 1.2)), "wobble": float(rng.uniform(0, 25)),
                       "phase": float(rng.uniform(0, 2 * math.pi)), "z": float(rng.random())})
        t += rng.uniform(0.5, 1.4)
    tracks.sort(key=lambda tr: tr["z"])   # drawing order: higher z in front
    return tracks


def tracking_tracks(rng, W, H, seconds):
    """The tracking clip's objects: fewer and steadier than the sample clip's, on
    scripted paths that still hold what a tracker must survive — objects entering and
    leaving at every edge, two pairs whose paths cross (one passes in front of the
    other: a short occlusion), two of one class side by side, one that stops for a
    while, and a late arrival."""
    m = min(W, H)
    plan = [
        # cls, t0, (x0, y0) -> (x1, y1) as fractions of W, H, half-size (of min(W, H)), z
        (0, -1.0, (-0.15, 0.30), (1.15, 0.35), 0.09, 0.2),   # left to right, top
        (1, 0.5, (1.15, 0.70), (-0.15, 0.62), 0.10, 0.8),    # right to left: crosses 5 below
        (2, 1.5, (0.50, -0.20), (0.45, 1.20), 0.08, 0.5),    # top to bottom: crosses 0 and 1
        (3, 3.0, (-0.15, 0.80), (1.15, 0.80), 0.09, 0.3),    # two stars, side by side
        (3, 3.6, (-0.15, 0.55), (1.15, 0.55), 0.08, 0.4),
        (4, 0.0, (0.80, 1.20), (0.85, -0.20), 0.09, 0.6),    # bottom to top
        (5, 5.0, (1.15, 0.20), (-0.15, 0.45), 0.10, 0.7),    # right to left, late
    ]
    tracks = []
    for cls, t0, p0, p1, r, z in plan:
        o = random_object(rng, W, H, cls, scale=1.0)
        o["r"] = float(m * r)
        start = (p0[0] * W, p0[1] * H)
        end = (p1[0] * W, p1[1] * H)
        speed = float(rng.uniform(90, 130))   # px/s
        dist = math.hypot(end[0] - start[0], end[1] - start[1])
        tracks.append({"obj": o, "t0": t0, "t1": t0 + dist / speed, "p0": start, "p1": end,
                       "spin": float(rng.uniform(-0.6, 0.6)), "wobble": float(rng.uniform(0, 10)),
                       "phase": float(rng.uniform(0, 2 * math.pi)), "z": z})
    tracks.sort(key=lambda tr: tr["z"])   # drawing order: higher z in front
    return tracks


def clip_state(tr, t):
    if not (tr["t0"] <= t <= tr["t1"]):
        return None
    u = (t - tr["t0"]) / (tr["t1"] - tr["t0"])
    x = tr["p0"][0] + u * (tr["p1"][0] - tr["p0"][0])
    y = tr["p0"][1] + u * (tr["p1"][1] - tr["p0"][1])
    dx, dy = tr["p1"][0] - tr["p0"][0], tr["p1"][1] - tr["p0"][1]
    n = math.hypot(dx, dy) or 1
    w = tr["wobble"] * math.sin(2 * math.pi * 0.3 * t + tr["phase"])
    o = dict(tr["obj"], x=x - dy / n * w, y=y + dx / n * w,
             angle=tr["obj"]["angle"] + tr["spin"] * t)
    return o


# ---- the gating clip ------------------------------------------------------------------------------

# The zone bands the gating clip is laid out around (fractions of the width, full height);
# a zone holds an object when its box's bottom-centre point is inside.
GATING_ZONES = {"left": (0.20, 0.40), "right": (0.60, 0.80)}

# Lanes of the busy half: the centre's y (fraction of H) at x = 0 and at x = W. The three
# are parallel, 80 px apart at 640x360 (an object reaches at most 36 px from its centre,
# so two side by side still leave a gap), and slope down to the right by 6 degrees: "top"
# starts below the clock box (y < 28) and passes under the upper-right parked object,
# "low" passes over the lower-left one.
GATING_LANES = {"top": (0.195, 0.39), "mid": (0.417, 0.612), "low": (0.639, 0.834)}

# The busy half, for a 10 s half at 640x360 (times and speeds scale with --seconds, so the
# paths keep their shape at any length): cls, start (s after the half), lane, direction,
# half-size (of min(W, H)), speed (px/s), stop (None or (x as fraction of W, seconds)).
# Three objects enter at once and cross; as each leaves, the next of its lane enters, so
# no more than three are ever on screen. That is tight: at 140 px/s an object is 5 s on
# screen, so two crossings, or one and the star's 3 s stop, fill the half: the last two
# crossers leave their last band about 0.8 s before the end and are still leaving the
# frame at it; the star leaves the right band about 0.4 s before the end.
GATING_PLAN = [
    (5, 0.00, "top", "RL", 0.08, 140, None),            # first in: within a frame of the half
    (2, 0.08, "mid", "LR", 0.09, 140, None),
    (1, 0.16, "low", "RL", 0.08, 140, None),
    (3, 5.04, "top", "RL", 0.08, 140, (0.75, 3.0)),     # stops in the right band, turns back
    (0, 5.17, "mid", "RL", 0.09, 140, None),
    (4, 5.30, "low", "LR", 0.09, 140, None),
]
# Two objects that never move: lower-left and upper-right, away from both bands and the lanes
GATING_PARKED = [(0, (0.075, 0.88), 0.08), (4, (0.925, 0.13), 0.08)]


def reach(obj):
    """How far the object reaches from its centre at any rotation (its outline's farthest
    point), in pixels."""
    u = unit_outline(obj["cls"])
    if u is None:
        return obj["r"]
    return obj["r"] * float(np.hypot(u[:, 0], u[:, 1] * obj["aspect"]).max())


def gating_tracks(rng, W, H, seconds):
    """The gating clip's objects: two parked for the whole clip, then GATING_PLAN's on
    keyframed paths (path_state) from the half on. An object enters with its box touching
    the frame's edge and leaves when it no longer does."""
    half = seconds / 2.0
    k = (seconds - half) / 10.0           # the plan is for a 10 s half
    px = W / 640.0                        # and for a 640-pixel-wide frame
    tracks = []
    for cls, (fx, fy), r in GATING_PARKED:
        o = random_object(rng, W, H, cls, scale=1.0)
        o["r"] = float(min(W, H) * r)
        pos = (fx * W, fy * H)
        tracks.append({"obj": o, "keys": [(0.0, pos), (seconds, pos)], "spin": 0.0})
    for cls, t0, lane, way, r, speed, stop in GATING_PLAN:
        o = random_object(rng, W, H, cls, scale=1.0)
        o["r"] = float(min(W, H) * r)
        e = reach(o)
        ya, yb = GATING_LANES[lane]

        def at(x):
            return (x, (ya + (yb - ya) * x / W) * H)
        inside, outside = (-e, W + e) if way == "LR" else (W + e, -e)
        v = speed * px / k
        t = half + k * t0
        keys = [(t, at(inside))]
        if stop:
            fx, hold = stop
            for p in (at(fx * W), None, at(inside)):
                if p is None:     # the stop: the same place again, hold seconds later
                    t += hold * k
                    keys.append((t, keys[-1][1]))
                    continue
                t += math.dist(keys[-1][1], p) / v
                keys.append((t, p))
        else:
            keys.append((t + math.dist(at(inside), at(outside)) / v, at(outside)))
        # turning with distance travelled rather than time: still while stopped
        tracks.append({"obj": o, "keys": keys, "spin": float(rng.uniform(-0.5, 0.5)) / k})
    for i, tr in enumerate(tracks):
        tr["z"] = float(i)    # nothing overlaps: the drawing order is the plan's
    return tracks


def path_state(tr, t):
    """The object of a keyframed track at time t, None outside its keys: straight lines at
    constant speed between keys, two keys at one place a stop. It turns (spin per second)
    only while it moves, so that a parked or stopped object is still to the pixel."""
    keys = tr["keys"]
    if not (keys[0][0] <= t <= keys[-1][0]):
        return None
    moving = 0.0
    for (ta, pa), (tb, pb) in zip(keys, keys[1:]):
        u = min(max((t - ta) / (tb - ta), 0.0), 1.0) if tb > ta else 1.0
        if pa != pb:
            moving += u * (tb - ta)
        if t <= tb:
            x, y = pa[0] + u * (pb[0] - pa[0]), pa[1] + u * (pb[1] - pa[1])
            break
    return dict(tr["obj"], x=x, y=y, angle=tr["obj"]["angle"] + tr["spin"] * moving)


# which of a seven-segment digit's segments are lit: a top, b top right, c bottom right,
# d bottom, e bottom left, f top left, g middle
SEVEN = ["abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc", "abcdefg", "abcdfg"]


def draw_clock(a, f, fps):
    """The timestamp overlay on uint8 frame a, in place: a dark box at x 8..119, y 8..27
    with the frame's time as MM:SS:FF (FF the frame within the second) in 11x14 pixel
    seven-segment digits, so that, like a camera's burnt-in clock, it changes every frame
    and in nothing but a small corner."""
    a[8:28, 8:120] = 24
    sec = f // fps
    text = "%02d:%02d:%02d" % (sec // 60 % 100, sec % 60, f % fps)
    x, y, w, h, s = 16, 11, 11, 14, 2     # 95 pixels wide: centred in the box
    for ch in text:
        if ch == ":":
            a[y + 3:y + 5, x + 1:x + 3] = 235
            a[y + 9:y + 11, x + 1:x + 3] = 235
            x += 7
            continue
        seg = SEVEN[int(ch)]
        rows = {"a": (y, y + s), "g": (y + (h - s) // 2, y + (h + s) // 2), "d": (y + h - s, y + h)}
        cols = {"f": (x, x + s), "e": (x, x + s), "b": (x + w - s, x + w), "c": (x + w - s, x + w)}
        for c in seg:
            if c in rows:
                a[rows[c][0]:rows[c][1], x:x + w] = 235
            else:
                y0, y1 = (y, y + h // 2 + 1) if c in "bf" else (y + h // 2 - 1, y + h)
                a[y0:y1, cols[c][0]:cols[c][1]] = 235
        x += w + 3


def write_clip(out, seed, seconds, fps, W, H, truth=None, mot=None, kind="sample",
               light_step=None, clock=False):
    """The clip to out (None: no video, only the truth), its ground truth as COCO (truth,
    with each object's "track_id") and as MOTChallenge gt.txt (mot: frame,id,x,y,w,h,conf,
    class,visibility; frame from 1; conf 0 marks what COCO calls iscrowd, an ignore region).
    kind: "sample", "tracking" or "gating"; light_step (seconds) and clock only for gating."""
    gating = kind == "gating"
    rng = np.random.default_rng([seed, SPLIT_IDS["clip"], 0])
    bg = background(rng, W, H, smooth=True)
    light = lighting(rng, W, H)
    grain = rng.normal(0, 2.0, (H, W, 3)).astype(np.float32)   # static: costs no bits per frame
    tracks = {"tracking": tracking_tracks, "gating": gating_tracks}.get(kind, clip_tracks)(
        rng, W, H, seconds)
    state = path_state if gating else clip_state
    nframes = int(round(seconds * fps))
    cmd = ["ffmpeg", "-v", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "%dx%d" % (W, H), "-r", str(fps),
           "-i", "-",
           "-f", "lavfi", "-i",
           # a soft two-tone chime every two seconds over a quiet slow chirp
           "aevalsrc='0.25*sin(2*PI*(220+20*t)*t)*0.5+0.3*sin(2*PI*660*t)*exp(-3*mod(t,2))"
           "+0.2*sin(2*PI*990*t)*exp(-4*mod(t+1,2))':s=44100:d=%g" % seconds,
           "-map", "0:v", "-map", "1:a",
           "-c:v", "libx264", "-preset", "slow", "-crf", "28", "-pix_fmt", "yuv420p",
           "-g", str(fps * 2), "-movflags", "+faststart",
           "-c:a", "aac", "-b:a", "64k", "-ac", "1",
           "-shortest", out]
    if gating:
        # at crf 28 x264 drops the noise: the decoded still half is then the same picture
        # but for a jump at every key frame. crf 18 with its film-grain tuning keeps a part
        # (about 15% of the pixels change from one frame to the next) at 1.6 MB for 20 s.
        cmd[cmd.index("-crf") + 1:cmd.index("-crf") + 2] = ["18", "-tune", "grain"]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE) if out else None
    frng = np.random.default_rng([seed, SPLIT_IDS["clip"], 1])
    # the gating clip's sensor noise, new in every frame: its still half must not be the
    # same picture over and over, as no camera's is
    nrng = np.random.default_rng([seed, SPLIT_IDS["clip"], 2])
    images, annotations = [], []
    for f in range(nframes):
        t = f / fps
        img = bg.copy()
        vis = []
        for k, tr in enumerate(tracks):
            o = state(tr, t)
            if o is None:
                continue
            m = render_mask(o, W, H)
            if m is None:
                continue
            if p:
                # the gating clip's objects keep one speckle pattern (drawn anew each frame
                # from the same seed), or a parked one would flicker: a change in the still half
                paint(img, o, np.random.default_rng([seed, SPLIT_IDS["clip"], 3, k]) if gating
                      else frng, m)
            vis.append((o, m, k + 1))   # identity: the object's place in the drawing order
        if p and not gating:
            gain = 1.0 + 0.08 * math.sin(2 * math.pi * t / seconds)
            img = img * light * gain
            a = np.clip(img * 255 + grain + 0.5, 0, 255).astype(np.uint8)
            p.stdin.write(a.tobytes())
        elif p:
            # no slow drift of the light: the still half changes by the noise alone
            a = (img * light) * 255 + grain
            if light_step is not None and t >= light_step:
                a *= 1.6      # the scene brightens; the sensor's noise below does not
            a += nrng.standard_normal((H, W, 3), dtype=np.float32) * 1.5
            a = np.clip(a + 0.5, 0, 255).astype(np.uint8)
            if clock:
                draw_clock(a, f, fps)
            p.stdin.write(a.tobytes())
        # truth: visible fraction after later objects and the border
        images.append({"id": f + 1, "file_name": "frame_%04d.png" % f, "width": W, "height": H,
                       "frame": f, "pts": t})
        for i, (o, (al, x0, y0), tid) in enumerate(vis):
            v = al.copy()
            for o2, (b, bx, by), _ in vis[i + 1:]:
                ox0, oy0 = max(x0, bx), max(y0, by)
                ox1, oy1 = min(x0 + al.shape[1], bx + b.shape[1]), min(y0 + al.shape[0], by + b.shape[0])
                if ox1 > ox0 and oy1 > oy0:
                    v[oy0 - y0:oy1 - y0, ox0 - x0:ox1 - x0] *= 1 - b[oy0 - by:oy1 - by, ox0 - bx:ox1 - bx]
            frac = v.sum() / max(full_area(o), 1.0)
            if frac < 0.1:
                continue
            x1, y1, x2, y2 = clipped_box(o, W, H)
            annotations.append({"id": len(annotations) + 1, "image_id": f + 1,
                                "category_id": o["cls"] + 1,
                                "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                                "area": round((x2 - x1) * (y2 - y1), 2),
                                # hard cases (mostly hidden) are ignore regions, as COCO's crowds
                                "iscrowd": 0 if frac >= MIN_VISIBLE else 1,
                                "track_id": tid, "visibility": round(float(min(frac, 1.0)), 3)})
    if p:
        p.stdin.close()
        if p.wait() != 0:
            sys.exit("ffmpeg failed")
    if mot:
        with open(mot, "w") as fh:
            for a in sorted(annotations, key=lambda a: (a["image_id"], a["track_id"])):
                x, y, w, h = a["bbox"]
                fh.write("%d,%d,%.2f,%.2f,%.2f,%.2f,%d,%d,%.3f\n" % (
                    a["image_id"], a["track_id"], x, y, w, h, 0 if a["iscrowd"] else 1,
                    a["category_id"], a["visibility"]))
    if truth:
        with open(truth, "w") as fh:
            info = {"description": "vdetect sample clip ground truth, seed %d, %d fps" % (seed, fps)}
            if gating:
                info = {"description": "vdetect gating clip ground truth, seed %d, %d fps: still "
                                       "until %g s, then busy" % (seed, fps, seconds / 2),
                        # what the clip is laid out around: the bands in pixels
                        "zones": {n: [lo * W, hi * W] for n, (lo, hi) in GATING_ZONES.items()},
                        "light_step": light_step, "clock": bool(clock)}
            json.dump({"info": info,
                       "images": images, "annotations": annotations,
                       "categories": coco_categories()}, fh, separators=(",", ":"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("images")
    a.add_argument("outdir")
    a.add_argument("--seed", type=int, default=1234)
    a.add_argument("--train", type=int, default=3000)
    a.add_argument("--val", type=int, default=300)
    a.add_argument("--size", default="384x216")
    c = sub.add_parser("clip")
    c.add_argument("out")
    c.add_argument("--seed", type=int, default=77)
    c.add_argument("--truth", help="COCO ground truth (with track_id) to write")
    c.add_argument("--mot", help="MOTChallenge gt.txt to write")
    c.add_argument("--truth-only", action="store_true", help="no video: only --truth/--mot")
    which = c.add_mutually_exclusive_group()
    which.add_argument("--tracking", action="store_true",
                       help="the tracking clip's scripted objects instead of the sample clip's")
    which.add_argument("--gating", action="store_true",
                       help="the motion-gating clip: still for the first half, then busy "
                            "(default 20 s)")
    c.add_argument("--light-step", type=float, metavar="T",
                   help="--gating: from T seconds on the picture is 1.6 times brighter")
    c.add_argument("--clock", action="store_true",
                   help="--gating: a timestamp box at the top-left corner, new every frame")
    c.add_argument("--seconds", type=float, help="length (default 12, 20 with --gating)")
    c.add_argument("--fps", type=int, default=25)
    c.add_argument("--size", default="640x360")
    args = ap.parse_args()
    W, H = (int(v) for v in args.size.split("x"))
    if args.cmd == "images":
        for split, n in (("train", args.train), ("val", args.val)):
            coco = write_split(args.outdir, split, n, args.seed, W, H)
            with open(os.path.join(args.outdir, "instances_%s.json" % split), "w") as fh:
                json.dump(coco, fh)
            print("%s: %d images, %d objects" % (split, n, len(coco["annotations"])))
    else:
        if (args.light_step is not None or args.clock) and not args.gating:
            ap.error("--light-step and --clock are for --gating only")
        seconds = args.seconds if args.seconds is not None else 20 if args.gating else 12
        kind = "gating" if args.gating else "tracking" if args.tracking else "sample"
        write_clip(None if args.truth_only else args.out, args.seed, seconds, args.fps, W, H,
                   args.truth, args.mot, kind, args.light_step, args.clock)


if __name__ == "__main__":
    main()
