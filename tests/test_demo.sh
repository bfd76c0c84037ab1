#!/bin/sh
# test_demo.sh — the shipped demo model (assets/demo.vdm) end to end:
#   (a) `vdetect detect` on the held-out set of tests/gen_demo.py matches
#       torchvision (docs/torchvision-inference.md §10.2: every torchvision detection with score
#       >= 0.3 has a C detection with the same label, IoU >= 0.99, |dscore| <= 1e-3);
#   (b) `vdetect eval` reports AP@.5 >= 0.9 on that set, and scores torchvision's
#       own detections exactly as the Python transcription of pycocotools does;
#       plus a hand-checked AP case;
#   (c) `vdetect info` shows the architecture and classes from the file's metadata;
#   (d) corrupt, truncated and inconsistent model files fail with exit 1 and
#       one line on stderr.
#
# Run from the repository root (tests/run.sh does). Environment:
#   VDETECT_BIN        the binary (default ./vdetect)
#   VDETECT_FIXTURES   fixtures of tests/gen_*.py (default tests/fixtures); demo/
#                      is regenerated here when it was made from another demo.vdm
#   PYTHON             python3 (default /usr/bin/python3)
# Ends with "test_demo: N passed, N failed"; exits 1 if any failed.
set -u

BIN=${VDETECT_BIN:-./vdetect}
FIX=${VDETECT_FIXTURES:-tests/fixtures}
PY=${PYTHON:-/usr/bin/python3}
DEMO="$FIX/demo"
MODEL=assets/demo.vdm

NAME=demo
. tests/lib.sh

run() {
    "$BIN" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    rc=$?
}
lines() { wc -l <"$1" | tr -d ' '; }

case "$BIN" in */*) ;; *) BIN="./$BIN" ;; esac
if [ ! -x "$BIN" ]; then bad "no executable $BIN (build it with make)"; summary; fi
if [ ! -f "$MODEL" ]; then bad "no $MODEL"; summary; fi

# fixtures made from this very model file
want=$(sha256sum "$MODEL" | cut -d' ' -f1)
have=$(cat "$DEMO/model.sha256" 2>/dev/null)
if [ "$want" != "$have" ] || [ ! -d "$DEMO/calib" ]; then
    echo "== $DEMO was made from another $MODEL (or by an older gen_demo.py): regenerating"
    rm -rf "$DEMO"
    if ! "$PY" tests/gen_demo.py "$DEMO" >"$TMP/err" 2>&1; then
        bad "tests/gen_demo.py failed"
        summary
    fi
    touch "$DEMO/.stamp"
fi

# ---- (c) info from metadata ------------------------------------------------------------
run info --weights "$MODEL" --size 640x360
if [ "$rc" -eq 0 ] && grep -q '^architecture   vgg_bn\[8,M,24,M,32,M,64,64,M,128,128,M,128,128\]/17,24,31+fpn64$' "$TMP/out" &&
   grep -q '1=red circle, 2=blue square, 3=green triangle, 4=yellow star, 5=purple cross, 6=orange hexagon' "$TMP/out" &&
   grep -q '^  min_size *216$' "$TMP/out" && grep -q '^  rpn_post_nms_top_n_test *100$' "$TMP/out"; then
    ok
else
    bad "info: architecture, classes and parameters from the metadata"; cat "$TMP/out"
fi
run info --weights "$MODEL" --arch fasterrcnn_vgg16_fpn
if [ "$rc" -eq 1 ] && [ "$(lines "$TMP/err")" -eq 1 ] && grep -q 'disagrees' "$TMP/err"; then ok
else bad "info: a disagreeing --arch is an error (rc $rc)"; fi
run info --weights "$MODEL" --set min_size=300
if [ "$rc" -eq 0 ] && grep -q '^  min_size *300$' "$TMP/out"; then ok
else bad "info: --set applies on top of the metadata"; fi
run info
if [ "$rc" -eq 0 ] && grep -q '^architecture   vgg_bn' "$TMP/out"; then ok
else bad "info: the demo model is the default"; fi

# ---- (a) parity with torchvision -----------------------------------------------------------
run detect --weights "$MODEL" --score-thresh 0 -q --json "$TMP/c.jsonl" "$DEMO"/images/*.png
if [ "$rc" -ne 0 ]; then
    bad "detect on the demo set (rc $rc)"
else
    "$PY" - "$DEMO/torch.jsonl" "$TMP/c.jsonl" >"$TMP/parity" 2>&1 <<'EOF'
import json, os, sys
def load(p):
    return {os.path.basename(o["image"]): o for o in map(json.loads, open(p))}
tv, c = load(sys.argv[1]), load(sys.argv[2])
def iou(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0]); ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0: return 0.0
    i = iw * ih
    return i / ((a[2]-a[0])*(a[3]-a[1]) + (b[2]-b[0])*(b[3]-b[1]) - i)
n = miss = 0; dmax = 0.0; bmax = 0.0; extra = 0
for name, o in tv.items():
    cd = c.get(name, {"detections": []})["detections"]
    for d in o["detections"]:
        if d["score"] < 0.3: continue
        n += 1
        m = [e for e in cd if e["label"] == d["label"] and iou(e["box"], d["box"]) >= 0.99
             and abs(e["score"] - d["score"]) <= 1e-3]
        if not m:
            miss += 1; print("unmatched", name, d); continue
        e = max(m, key=lambda e: iou(e["box"], d["box"]))
        dmax = max(dmax, abs(e["score"] - d["score"]))
        bmax = max(bmax, max(abs(x - y) for x, y in zip(e["box"], d["box"])))
    extra += sum(1 for e in cd if e["score"] >= 0.3) - sum(1 for d in o["detections"] if d["score"] >= 0.3)
print("parity: %d torchvision detections >= 0.3 over %d images, %d unmatched, max |dscore| %.2e, "
      "max |dbox| %.2e px, C-minus-torch count >= 0.3: %d" % (n, len(tv), miss, dmax, bmax, extra))
sys.exit(0 if miss == 0 and n > 0 and len(c) == len(tv) else 1)
EOF
    if [ $? -eq 0 ]; then ok; tail -n 1 "$TMP/parity"; else bad "parity with torchvision"; head -n 20 "$TMP/parity"; fi
fi

# ---- (b) AP ---------------------------------------------------------------------------------
run eval --weights "$MODEL" --images "$DEMO/images" --truth "$DEMO/instances.json" --json "$TMP/eval.json" -q
if [ "$rc" -eq 0 ] && "$PY" -c '
import json, sys
r = json.load(open(sys.argv[1]))
print("eval (C runtime): AP %.4f AP50 %.4f AP75 %.4f on %d images" % (r["ap"], r["ap50"], r["ap75"], r["images"]))
sys.exit(0 if r["ap50"] >= 0.9 and r["images"] == 40 else 1)' "$TMP/eval.json"; then ok
else bad "eval: AP@.5 >= 0.9 on the held-out set"; cat "$TMP/out"; fi
cp "$TMP/out" "$TMP/eval_table"
if grep -q '^all ' "$TMP/eval_table" && grep -q '^6 orange hexagon' "$TMP/eval_table"; then ok
else bad "eval: table with per-class rows"; fi

# torchvision's detections scored by vdetect == scored by the Python pycocotools transcription
run eval --detections "$DEMO/torch.jsonl" --truth "$DEMO/instances.json" --json -
if [ "$rc" -eq 0 ] && "$PY" -c '
import json, sys
c = json.loads(open(sys.argv[1]).read()); p = json.load(open(sys.argv[2]))
d = max([abs(c[k] - p[k]) for k in ("ap", "ap50", "ap75")] +
        [abs(x[k] - p["per_class"][str(x["id"])][k]) for x in c["per_class"] for k in ("ap", "ap50")])
print("eval vs Python COCOeval on torchvision detections: AP %.6f / %.6f, max |d| %.1e" % (c["ap"], p["ap"], d))
sys.exit(0 if d <= 1e-12 else 1)' "$TMP/out" "$DEMO/torch_ap.json"; then ok
else bad "eval --detections agrees with the Python reference"; fi

# hand-checked: AP50 = (67 + 34 * 0.75) / 101, AP@t>.5 = 67 / 101 (see the comments)
cat >"$TMP/truth.json" <<'EOF'
{"images": [{"id": 7, "file_name": "b.png", "width": 100, "height": 100},
            {"id": 3, "file_name": "a.png", "width": 100, "height": 100}],
 "annotations": [
  {"id": 1, "image_id": 3, "category_id": 1, "bbox": [0, 0, 10, 10], "iscrowd": 0},
  {"id": 2, "image_id": 3, "category_id": 1, "bbox": [30, 30, 20, 20], "iscrowd": 1},
  {"id": 3, "image_id": 7, "category_id": 1, "bbox": [0, 0, 10, 10], "iscrowd": 0},
  {"id": 4, "image_id": 7, "category_id": 1, "bbox": [20, 20, 10, 10], "iscrowd": 0}],
 "categories": [{"id": 1, "name": "red circle"}, {"id": 2, "name": "blue square"}]}
EOF
# a.png: a det inside the crowd box (ignored, not a false positive), a perfect hit; a
# det of a category without truth and one of an unknown label (both not scored).
# b.png: a hit (0.8), a miss (0.7), and a half-overlap (IoU exactly 0.5: a hit at .50
# only). Ranked: TP TP FP TP(.50)/FP(>.50) -> precision 1, 1, 2/3, 3/4 at recall 1/3,
# 2/3, 2/3, 1.
cat >"$TMP/dets.jsonl" <<'EOF'
{"image": "x/a.png", "detections": [{"box": [35, 35, 45, 45], "label": 1, "score": 0.95}, {"box": [0, 0, 10, 10], "label": 1, "score": 0.9}, {"box": [1, 1, 5, 5], "label": 2, "score": 0.5}, {"box": [1, 1, 5, 5], "label": 9, "score": 0.5}]}
{"image": "x/b.png", "detections": [{"box": [20, 20, 30, 30], "label": 1, "score": 0.8}, {"box": [50, 50, 55, 55], "label": 1, "score": 0.7}, {"box": [0, 0, 10, 5], "label": 1, "score": 0.6}]}
EOF
run eval --detections "$TMP/dets.jsonl" --truth "$TMP/truth.json" --json -
if [ "$rc" -eq 0 ] && "$PY" -c '
import json, sys
r = json.loads(open(sys.argv[1]).read())
ap50, apx = 92.5 / 101, 67 / 101
ok = abs(r["ap50"] - ap50) < 1e-12 and abs(r["ap75"] - apx) < 1e-12 and \
     abs(r["ap"] - (ap50 + 9 * apx) / 10) < 1e-12 and r["per_class"][1]["ap"] is None
sys.exit(0 if ok else 1)' "$TMP/out"; then ok
else bad "eval: hand-checked AP case"; cat "$TMP/out"; fi

run eval --weights "$MODEL" --truth "$DEMO/instances.json"
if [ "$rc" -eq 2 ]; then ok; else bad "eval without --images is a usage error (rc $rc)"; fi
run eval --weights "$MODEL" --images "$DEMO/images" --truth "$TMP/dets.jsonl"
if [ "$rc" -eq 1 ] && [ "$(lines "$TMP/err")" -eq 1 ]; then ok
else bad "eval: a truth file that is not COCO JSON (rc $rc)"; fi

# ---- (d) broken model files ----------------------------------------------------------------------
"$PY" - "$MODEL" "$TMP" <<'EOF'
import json, struct, sys
src, out = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
n = struct.unpack("<Q", data[:8])[0]
head = json.loads(data[8:8 + n])
body = data[8 + n:]
def write(name, b):
    open("%s/%s.vdm" % (out, name), "wb").write(b)
def with_header(h, payload=body):
    t = json.dumps(h).encode()
    return struct.pack("<Q", len(t)) + t + payload
def with_arch(edit):
    h = json.loads(json.dumps(head))
    a = json.loads(h["__metadata__"]["vdetect"])
    edit(a)
    h["__metadata__"]["vdetect"] = json.dumps(a)
    return with_header(h)
write("trunc_header", data[:200])
write("trunc_len", data[:5])
write("trunc_data", data[:-1000])
write("trailing", data + b"\0" * 16)
write("huge_len", struct.pack("<Q", 1 << 36) + data[8:])
write("bad_json", data[:8] + b"{" + data[9:20] + b"\x01" + data[21:])
h = json.loads(json.dumps(head)); k = [x for x in h if x != "__metadata__"][3]
h[k]["data_offsets"][1] += 4
write("overlap", with_header(h))
h = json.loads(json.dumps(head)); h[k]["dtype"] = "F8_E4M3"
write("bad_dtype", with_header(h))
h = json.loads(json.dumps(head)); h[k]["shape"] = h[k]["shape"] + [2]
write("bad_shape", with_header(h))
h = json.loads(json.dumps(head)); h["__metadata__"]["vdetect"] = "{\"format\": \"vdetect-model\""
write("meta_json", with_header(h))
h = json.loads(json.dumps(head)); h["__metadata__"]["vdetect"] = 5
write("meta_type", with_header(h))
write("meta_field", with_arch(lambda a: a.update(colour="red")))
write("meta_cfg", with_arch(lambda a: a["backbone"].update(cfg=[8, "X"])))
write("meta_version", with_arch(lambda a: a.update(version=2)))
write("meta_anchors", with_arch(lambda a: a["anchors"].update(sizes=a["anchors"]["sizes"][:3])))
write("meta_classes", with_arch(lambda a: a.update(classes=a["classes"][:4])))
write("meta_param", with_arch(lambda a: a["params"].update(min_sise=3)))
write("meta_colors_count", with_arch(lambda a: a.update(colors=a["colors"][:3])))
write("meta_colors_syntax", with_arch(lambda a: a.update(colors=a["colors"][:-1] + ["red"])))
write("meta_colors_alone", with_arch(lambda a: a.pop("classes")))
write("meta_return", with_arch(lambda a: a["backbone"].update(return_layers=[17, 24, 40])))
write("meta_cfgshape", with_arch(lambda a: a["backbone"].update(cfg=[8, "M", 24, "M", 32, "M", 64, 64, "M", 128, 96, "M", 128, 128])))
h = json.loads(json.dumps(head)); del h[k]
write("missing_key", with_header(h))

# the same weights in other dtypes, extra integer tensors and an empty one, no metadata
import numpy as np
def retyped(dtype, extra=()):
    h, parts, off = {"__metadata__": head["__metadata__"]}, [], 0
    for name, e in head.items():
        if name == "__metadata__": continue
        b, en = e["data_offsets"]
        a = np.frombuffer(body[b:en], dtype="<f4")
        if dtype == "F32": raw = a.tobytes()
        elif dtype == "F64": raw = a.astype("<f8").tobytes()
        elif dtype == "F16": raw = a.astype("<f2").tobytes()
        else: raw = (a.view("<u4") >> 16).astype("<u2").tobytes()   # BF16 (truncated)
        h[name] = {"dtype": dtype, "shape": e["shape"], "data_offsets": [off, off + len(raw)]}
        parts.append(raw); off += len(raw)
    for name, dt, shape, raw in (("backbone.body.1.num_batches_tracked", "I64", [], struct.pack("<q", 5)),) + extra:
        h[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        parts.append(raw); off += len(raw)
    return with_header(h, b"".join(parts))
for dt in ("F64", "F16", "BF16"):
    write("ok_" + dt.lower(), retyped(dt))
write("empty_tensor", retyped("F32", (("extra.empty", "F32", [0, 3], b""),)))
h = json.loads(json.dumps(head)); del h["__metadata__"]
write("nometa", with_header(h))
EOF
# other dtypes load; float64 holds the float32 values exactly, so detections are identical
run detect --weights "$MODEL" --score-thresh 0 "$DEMO/images/000000.png" "$DEMO/images/000001.png"
mv "$TMP/out" "$TMP/f32.jsonl"
run detect --weights "$TMP/ok_f64.vdm" --score-thresh 0 "$DEMO/images/000000.png" "$DEMO/images/000001.png"
if [ "$rc" -eq 0 ] && [ -s "$TMP/out" ] && cmp -s "$TMP/out" "$TMP/f32.jsonl"; then ok
else bad "F64 model file: same detections as F32 (rc $rc)"; fi
for f in ok_f16 ok_bf16; do
    run detect --weights "$TMP/$f.vdm" "$DEMO/images/000000.png"
    if [ "$rc" -eq 0 ] && grep -q '"label"' "$TMP/out"; then ok; else bad "$f model file (rc $rc)"; fi
done
# an empty tensor parses; the model then refuses the key as not its own
run info --weights "$TMP/empty_tensor.vdm"
if [ "$rc" -eq 1 ] && [ "$(lines "$TMP/err")" -eq 1 ] && grep -q 'unexpected key extra.empty' "$TMP/err"; then ok
else bad "empty tensor (rc $rc)"; fi
run info --weights "$TMP/nometa.vdm"
if [ "$rc" -eq 1 ] && [ "$(lines "$TMP/err")" -eq 1 ] && grep -q -- '--arch' "$TMP/err"; then ok
else bad "safetensors without metadata asks for --arch (rc $rc)"; fi
for f in trunc_header trunc_len trunc_data trailing huge_len bad_json overlap bad_dtype bad_shape \
         meta_json meta_type meta_field meta_cfg meta_version meta_anchors meta_classes \
         meta_param meta_return meta_cfgshape missing_key meta_colors_count meta_colors_syntax \
         meta_colors_alone; do
    run info --weights "$TMP/$f.vdm"
    if [ "$rc" -eq 1 ] && [ "$(lines "$TMP/err")" -eq 1 ] && [ ! -s "$TMP/out" ]; then ok
    else bad "broken model file $f: rc $rc, $(lines "$TMP/err") stderr lines (want 1, 1)"; fi
    [ -n "${VERBOSE:-}" ] && sed "s/^/    $f: /" "$TMP/err"
done

for f in meta_colors_count meta_colors_syntax meta_colors_alone; do
    run info --weights "$TMP/$f.vdm"
    if grep -q 'colors: ' "$TMP/err"; then ok; else bad "$f: the error names colors"; fi
done

# ---- the file's class colours: each class drawn in the colour its name says --------------
run detect --weights "$MODEL" "$DEMO/images/000000.png" "$DEMO/images/000001.png" --save "$TMP/saved"
if [ "$rc" -eq 0 ] && "$PY" - "$MODEL" "$TMP/out" >"$TMP/py" 2>&1 <<'EOF'
import json, struct, subprocess, sys
data = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", data[:8])
arch = json.loads(json.loads(data[8:8 + n])["__metadata__"]["vdetect"])
colors = arch["colors"]
assert colors[0] is None and all(c.startswith("#") for c in colors[1:]), colors
seen = 0
for line in open(sys.argv[2]):
    o = json.loads(line)
    w, h = o["width"], o["height"]
    rgb = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", o["annotated"], "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    for d in o["detections"]:
        want = bytes.fromhex(colors[d["label"]][1:])
        x1, y1, x2, y2 = d["box"]
        y = int((y1 + y2) / 2)
        got = [rgb[(y * w + x) * 3:(y * w + x) * 3 + 3] for x in range(max(int(x1) - 1, 0), min(int(x1) + 2, w))]
        assert want in got, (d["name"], colors[d["label"]], [g.hex() for g in got])
        seen += 1
assert seen >= 3, seen
print("ok", seen)
EOF
then ok; else bad "the model file's colours: box edges drawn in their class's colour ($(tail -n 1 "$TMP/py"))"; fi

summary
