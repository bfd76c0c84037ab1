#!/usr/bin/env python3
"""gen_nms_roi.py OUTDIR — torch/torchvision reference values for tests/test_nms_roi.c.

Covers sort.c (torch.sort / torch.topk tie order), nms.c (torchvision.ops.nms and
batched_nms, both CPU paths), roi_align.c (roi_align, MultiScaleRoIAlign, its
LevelMapper and scale inference) and roi_heads.c (RoIHeads.postprocess_detections).

File format (all little-endian): a stream of arrays, each written as
int32 type (0 = float32, 1 = int32, 2 = float64), int32 count, then the data.
Every file starts with an int32 array of one element: the number of cases.
Run with Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14).
"""
import os
import struct
import sys

import numpy as np
import torch
import torchvision
from torchvision.ops import boxes as box_ops
from torchvision.models.detection.roi_heads import RoIHeads

torch.set_num_threads(1)

# Inputs found with McIlroy's "killer adversary" run against sort.c's std::sort and
# std::nth_element; they drive both into their heap-sort fallbacks (depth limit).
ADV_SORT = [162, 133, 141, 125, 173, 156, 150, 180, 158, 154, 152, 148, 144, 140, 136, 132, 128,
            124, 120, 116, 112, 151, 118, 147, 145, 143, 108, 139, 137, 135, 107, 131, 129, 127,
            106, 123, 121, 119, 105, 115, 113, 109, 93, 134, 92, 103, 91, 146, 90, 102, 89, 142,
            88, 101, 87, 138, 86, 100, 85, 111, 84, 99, 83, 130, 82, 98, 81, 126, 80, 97, 79, 122,
            78, 96, 77, 110, 76, 95, 75, 114, 74, 94, 73, 104, 72, 190, 170, 26, 24, 22, 20, 18,
            16, 14, 12, 10, 8, 6, 4, 2, 0, 63, 184, 62, 200, 61, 195, 60, 163, 59, 185, 58, 187,
            57, 168, 56, 192, 55, 188, 54, 177, 53, 181, 52, 164, 51, 174, 50, 198, 49, 166, 48,
            160, 47, 179, 46, 196, 45, 157, 44, 159, 43, 149, 42, 194, 41, 155, 40, 182, 39, 153,
            38, 165, 37, 172, 36, 193, 35, 171, 34, 175, 33, 183, 32, 191, 31, 161, 30, 117, 29,
            176, 71, 28, 70, 27, 189, 25, 69, 23, 169, 21, 68, 19, 197, 17, 67, 15, 186, 13, 66,
            11, 178, 9, 65, 7, 167, 5, 64, 3, 1]
ADV_TOPK150 = [153, 178, 120, 184, 200, 152, 188, 179, 94, 158, 160, 190, 123, 119, 115, 110, 106,
               102, 112, 196, 189, 192, 98, 197, 124, 122, 97, 118, 116, 114, 96, 109, 107, 105,
               95, 101, 66, 103, 84, 157, 83, 93, 82, 113, 81, 92, 80, 161, 79, 91, 78, 121, 77,
               90, 76, 117, 75, 89, 74, 100, 73, 88, 72, 108, 71, 87, 70, 104, 69, 86, 68, 99, 67,
               85, 28, 65, 129, 64, 131, 63, 133, 62, 135, 61, 137, 60, 139, 26, 24, 22, 20, 18,
               16, 14, 12, 10, 8, 6, 4, 2, 0, 52, 126, 51, 142, 50, 163, 49, 151, 48, 186, 47, 154,
               46, 155, 45, 130, 44, 136, 43, 140, 42, 146, 41, 162, 40, 169, 39, 170, 38, 176, 37,
               171, 36, 180, 35, 175, 34, 172, 33, 177, 32, 181, 31, 187, 30, 182, 29, 191, 127,
               185, 156, 111, 174, 173, 167, 164, 165, 166, 168, 195, 159, 144, 148, 132, 194, 198,
               128, 138, 134, 125, 183, 193, 59, 27, 141, 25, 58, 23, 143, 21, 57, 19, 145, 17, 56,
               15, 147, 13, 55, 11, 149, 9, 54, 7, 150, 5, 53, 3, 1]


class Out:
    def __init__(self, path):
        self.f = open(path, "wb")

    def put(self, a):
        a = np.ascontiguousarray(a)
        if a.dtype == np.float32:
            code = 0
        elif a.dtype == np.int32:
            code = 1
        elif a.dtype == np.float64:
            code = 2
        else:
            raise TypeError(a.dtype)
        self.f.write(struct.pack("<ii", code, a.size))
        self.f.write(a.tobytes())

    def i(self, *v):
        self.put(np.array(v, dtype=np.int32))

    def close(self):
        self.f.close()


def np32(t):
    return t.detach().numpy().astype(np.float32)


def npi(t):
    return t.detach().numpy().astype(np.int32)


def gen_sort(out, rng):
    cases = []
    sizes = [1, 2, 3, 5, 15, 16, 17, 18, 33, 64, 65, 100, 129, 257, 1000, 1001, 3000, 6400, 20000]
    for t in range(160):
        n = int(rng.choice(sizes))
        v = rng.integers(0, int(rng.integers(1, 6)), n).astype(np.float32)
        if t % 5 == 0:
            v[rng.random(n) < 0.1] = np.nan
        if t % 7 == 0:
            v = rng.random(n).astype(np.float32)
        if t % 3 == 0:
            k = max(1, n // 64)          # partial_sort path
        else:
            k = int(rng.integers(1, n + 1))  # nth_element path (mostly)
        cases.append((v, k))
    cases.append((np.array(ADV_SORT, dtype=np.float32), 3))
    cases.append((np.array(ADV_TOPK150, dtype=np.float32), 150))
    cases.append((np.floor(np.array(ADV_SORT, dtype=np.float32) / 20), 150))
    # sigmoid saturation: many exact 1.0f among distinct logits
    logits = torch.from_numpy(rng.normal(0, 12, 5000).astype(np.float32))
    cases.append((np32(torch.sigmoid(logits)), 1000))
    cases.append((np32(torch.sigmoid(logits[:64000 // 1000 * 10])), 10))
    out.i(len(cases))
    for v, k in cases:
        tv = torch.from_numpy(v)
        out.i(len(v), k)
        out.put(v)
        out.put(npi(torch.sort(tv, descending=True)[1]))
        out.put(npi(torch.topk(tv, k)[1]))


def rand_boxes(rng, n, span=100.0, integer=True, maxwh=40.0):
    xy = rng.uniform(0, span, (n, 2))
    wh = rng.uniform(0, maxwh, (n, 2))
    if integer:
        xy, wh = np.floor(xy), np.floor(wh)
    b = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    return b


def gen_nms(out, rng):
    cases = []
    for t in range(60):
        n = int(rng.choice([1, 2, 3, 10, 50, 200, 700]))
        b = rand_boxes(rng, n, span=60.0 if t % 2 else 200.0, integer=t % 3 != 0)
        if t % 4 == 0:
            s = rng.integers(0, 4, n).astype(np.float32) / 4   # heavy score ties
        else:
            s = rng.random(n).astype(np.float32)
        thr = float(rng.choice([0.5, 0.7, 0.3, 0.0, 1.0, 0.45]))
        cases.append((b, s, thr))
    # degenerate boxes (zero area, NaN IoU) and duplicates
    b = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 5, 5], [1, 1, 5, 5], [2, 2, 2, 9]], np.float32)
    cases.append((b, np.array([0.9, 0.9, 0.5, 0.5, 0.7], np.float32), 0.5))
    out.i(len(cases))
    for b, s, thr in cases:
        keep = torchvision.ops.nms(torch.from_numpy(b), torch.from_numpy(s), thr)
        out.i(len(s))
        out.put(np.array([thr], np.float64))
        out.put(b)
        out.put(s)
        out.put(npi(keep))


def gen_batched(out, rng):
    cases = []
    for t, n in enumerate([1, 5, 300, 999, 1000, 1001, 1500, 3000, 1000, 4000]):
        b = rand_boxes(rng, n, span=300.0 if t % 2 else 800.0, integer=t % 2 == 0, maxwh=120.0)
        ncls = [1, 3, 91, 91, 91, 5, 91, 91, 2, 91][t]
        idx = rng.integers(0, ncls, n).astype(np.int32)
        if t % 2:
            s = rng.integers(0, 5, n).astype(np.float32) / 5
        else:
            s = rng.random(n).astype(np.float32)
        thr = [0.5, 0.5, 0.5, 0.7, 0.5, 0.5, 0.7, 0.5, 0.3, 0.5][t]
        cases.append((b, s, idx, thr))
    out.i(len(cases))
    for b, s, idx, thr in cases:
        keep = box_ops.batched_nms(torch.from_numpy(b), torch.from_numpy(s),
                                   torch.from_numpy(idx.astype(np.int64)), thr)
        out.i(len(s))
        out.put(np.array([thr], np.float64))
        out.put(b)
        out.put(s)
        out.put(idx)
        out.put(npi(keep))


def gen_roi_align(out, rng):
    cases = []
    for t in range(12):
        c, h, w = int(rng.integers(1, 12)), int(rng.integers(1, 20)), int(rng.integers(1, 24))
        f = rng.normal(0, 1, (c, h, w)).astype(np.float32)
        scale = [0.25, 0.5, 1.0, 0.125][t % 4]
        n = 20
        x1 = rng.uniform(-30, (w + 5) / scale, n)
        y1 = rng.uniform(-30, (h + 5) / scale, n)
        bw = rng.uniform(0, 2 * w / scale, n) * (rng.random(n) < 0.9)
        bh = rng.uniform(0, 2 * h / scale, n) * (rng.random(n) < 0.9)
        b = np.stack([x1, y1, x1 + bw, y1 + bh], 1).astype(np.float32)
        sr = [2, 2, 0, 1, 3, -1][t % 6]
        osz = [7, 7, 3, 7, 5, 7][t % 6]
        cases.append((f, scale, b, sr, osz))
    out.i(len(cases))
    for f, scale, b, sr, osz in cases:
        r = torchvision.ops.roi_align(torch.from_numpy(f)[None], [torch.from_numpy(b)], osz,
                                      spatial_scale=scale, sampling_ratio=sr, aligned=False)
        out.i(*f.shape, len(b), sr, osz)
        out.put(np.array([scale], np.float32))
        out.put(f)
        out.put(b)
        out.put(np32(r))


def gen_multiscale(out, rng):
    from collections import OrderedDict
    from torchvision.ops import MultiScaleRoIAlign
    # (image h, w), map sizes, largest box side, boxes clipped to the image:
    # FPN strides 4..32; VGG-like gapped strides 1, 2, 4, 16 with boxes far larger
    # than the image (LevelMapper index 4 has no map → zeros); a single map; two
    # stride-32 maps as in mobilenet (k_min = k_max = 5, map 1 never pooled).
    setups = [
        ((200, 264), [(50, 66), (25, 33), (13, 17), (7, 9)], 320, True),
        ((64, 80), [(64, 80), (32, 40), (16, 20), (4, 5)], 600, False),
        ((120, 150), [(8, 10)], 200, True),
        ((480, 640), [(120, 160), (60, 80), (30, 40), (15, 20)], 700, True),
        ((320, 320), [(10, 10), (10, 10)], 400, True),
    ]
    out.i(len(setups))
    for (ih, iw), sizes, maxside, clip in setups:
        c = 43   # one 32-channel register block, an 8 x 8 transpose block and a scalar tail in the HWC path
        maps = [rng.normal(0, 1, (c, h, w)).astype(np.float32) for h, w in sizes]
        names = [str(i) for i in range(len(maps))]
        pool = MultiScaleRoIAlign(names, 7, 2)
        n = 60
        side = np.exp(rng.uniform(np.log(4), np.log(maxside), (n, 2)))
        x1 = rng.uniform(-maxside / 4 if not clip else 0, iw, n)
        y1 = rng.uniform(-maxside / 4 if not clip else 0, ih, n)
        x2, y2 = x1 + side[:, 0], y1 + side[:, 1]
        if clip:
            x2, y2 = np.minimum(x2, iw), np.minimum(y2, ih)
        b = np.stack([x1, y1, x2, y2], 1).astype(np.float32)
        feats = OrderedDict((k, torch.from_numpy(m)[None]) for k, m in zip(names, maps))
        r = pool(feats, [torch.from_numpy(b)], [(ih, iw)])
        scales = np.array(pool.scales, np.float32)
        if len(maps) > 1:
            lv = npi(pool.map_levels([torch.from_numpy(b)]))
            kmin, kmax = int(pool.map_levels.k_min), int(pool.map_levels.k_max)
        else:
            lv = np.zeros(n, np.int32)
            kmin = kmax = 0
        out.i(ih, iw, len(maps), c, n, kmin, kmax)
        for (h, w), m in zip(sizes, maps):
            out.i(h, w)
            out.put(m)
        out.put(scales)
        out.put(b)
        out.put(lv)
        out.put(np32(r))


def gen_levels(out, rng):
    """LevelMapper on boxes whose sqrt(area) / 224 sits next to powers of two, where
    a 1-ulp log2 difference could flip the floor."""
    from torchvision.ops.poolers import LevelMapper
    boxes = []
    for m in range(-6, 4):
        base = 224.0 * 2.0 ** m
        for d in range(-300, 301):
            side = np.float32(base * (1 + d * 2e-8))
            boxes.append([0, 0, side, side])
            boxes.append([3.5, 1.25, np.float32(3.5 + side), np.float32(1.25 + side * 1.0000001)])
    boxes = np.array(boxes, np.float32)
    boxes = np.concatenate([boxes, rand_boxes(rng, 2000, 900, False, 800)])
    mapper = LevelMapper(2, 5)
    lv = npi(mapper([torch.from_numpy(boxes)]))
    out.i(1)
    out.i(len(boxes), 2, 5)
    out.put(boxes)
    out.put(lv)
    # _infer_scale cases: feature height, image height, scale
    from torchvision.ops.poolers import _infer_scale
    pairs = [(200, 800), (272, 1066), (16, 240), (100, 800), (13, 800), (25, 799), (50, 800),
             (7, 200), (10, 320), (1, 3), (3, 4), (5, 7), (1, 1), (64, 64), (2, 1)]
    out.i(len(pairs))
    for fh, ih in pairs:
        s = _infer_scale(torch.zeros(1, 1, fh, 1), [ih, 1])
        out.i(fh, ih)
        out.put(np.array([s], np.float32))


def gen_postprocess(out, rng):
    cases = [(40, 6, 2.0, (120, 160)), (60, 5, 3.0, (100, 90)), (300, 91, 3.0, (480, 640)),
             (500, 21, 3.0, (600, 800))]
    out.i(len(cases))
    for P, K, lstd, (ih, iw) in cases:
        xy = rng.uniform(-10, max(ih, iw), (P, 2))
        wh = np.exp(rng.uniform(0, np.log(300), (P, 2)))
        props = np.concatenate([xy, xy + wh], 1)
        props[:, 0::2] = np.clip(props[:, 0::2], 0, iw)
        props[:, 1::2] = np.clip(props[:, 1::2], 0, ih)
        props = props.astype(np.float32)
        logits = rng.normal(0, lstd, (P, K)).astype(np.float32)
        reg = rng.normal(0, 1.0, (P, 4 * K)).astype(np.float32)
        heads = RoIHeads(None, None, None, 0.5, 0.5, 512, 0.25, (10.0, 10.0, 5.0, 5.0),
                         0.05, 0.5, 100)
        bx, sc, lb = heads.postprocess_detections(torch.from_numpy(logits), torch.from_numpy(reg),
                                                  [torch.from_numpy(props)], [(ih, iw)])
        # candidate count after the score test, to know which NMS path ran
        prob = torch.softmax(torch.from_numpy(logits), -1)[:, 1:]
        ncand = int((prob > 0.05).sum())
        out.i(P, K, ih, iw, ncand)
        out.put(props)
        out.put(logits)
        out.put(reg)
        out.put(np32(bx[0]))
        out.put(np32(sc[0]))
        out.put(npi(lb[0]))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_nms_roi.py OUTDIR")
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    for name, fn, seed in [("sort", gen_sort, 1), ("nms", gen_nms, 2), ("batched", gen_batched, 3),
                           ("roi_align", gen_roi_align, 4), ("multiscale", gen_multiscale, 5),
                           ("levels", gen_levels, 6), ("postprocess", gen_postprocess, 7)]:
        o = Out(os.path.join(d, name + ".bin"))
        fn(o, np.random.default_rng(seed))
        o.close()


if __name__ == "__main__":
    main()
