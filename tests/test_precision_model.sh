#!/bin/sh
# test_precision_model.sh — what --precision bf16 and int8 cost in accuracy, on the demo
# model's held-out set (tests/gen_demo.py, 40 images with COCO truth), and `vdetect
# calibrate`, which gives int8 its ranges (from 16 other images of the same world):
#   (a) detections agree with fp32's: of the detections with score >= 0.5 on
#       either side, at least 95% (bf16; int8 without calibration) or 97% (int8
#       calibrated) match one of the other precision's with the same class at
#       IoU >= 0.9 (the rule bench reports);
#   (b) `vdetect eval` AP and AP@.5: bf16 within 0.02 of fp32's, calibrated int8
#       within 0.01;
#   (c) `bench --model-only --precision bf16|int8` reports that agreement and the
#       precision in its JSON; fp32 stays fp32 (no agreement line); both engines;
#   (d) a bad --precision or --engine is a usage error naming the choices;
#   (e) calibrate writes a copy of the model file with the same tensors, byte for
#       byte, and the same fp32 detections, and leaves the model alone; info
#       reports the calibration; calibrate refuses a missing -o, an output that is
#       the model (even with -y), an existing output without -y, a directory
#       without images and a .pth; a damaged or foreign table is refused at load
#       with a line naming it.
# Both GEMM engines run fp32 (make test's parity suites hold each to torchvision).
#
# Environment: VDETECT_BIN, VDETECT_FIXTURES, PYTHON (as test_demo.sh).
# Ends with "test_precision_model: N passed, N failed"; exits 1 if any failed.
set -u
BIN=${VDETECT_BIN:-./vdetect}
FIX=${VDETECT_FIXTURES:-tests/fixtures}
PY=${PYTHON:-/usr/bin/python3}
DEMO="$FIX/demo"
MODEL=assets/demo.vdm
NAME=precision_model
. tests/lib.sh

run() {
    "$BIN" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    rc=$?
}
case "$BIN" in */*) ;; *) BIN="./$BIN" ;; esac
if [ ! -x "$BIN" ] || [ ! -d "$DEMO/images" ] || [ ! -d "$DEMO/calib" ]; then
    bad "needs $BIN and the demo fixtures in $DEMO (make test makes them)"
    summary
fi

# ---- calibration --------------------------------------------------------------------------
CAL="$TMP/demo-int8.vdm"
before=$(sha256sum "$MODEL" | cut -d' ' -f1)
run calibrate --weights "$MODEL" "$DEMO/calib" -o "$CAL"
if [ "$rc" -eq 0 ] && [ -f "$CAL" ] && grep -q "wrote $CAL: .* on 16 images" "$TMP/err" &&
   [ "$(sha256sum "$MODEL" | cut -d' ' -f1)" = "$before" ] &&
   ! ls "$TMP" | grep -q partial; then ok
else bad "calibrate on $DEMO/calib writes $CAL (rc $rc), the model untouched"; cat "$TMP/err"; fi

# ---- (a) agreement over the set ----------------------------------------------------------
# Each line: name, precision, model file, least agreement with fp32.
cat >"$TMP/cases" <<EOF
fp32 fp32 $MODEL 1
bf16 bf16 $MODEL 0.95
int8 int8 $CAL 0.97
int8m int8 $MODEL 0.95
EOF
while read -r name p m least; do
    run detect --weights "$m" --precision "$p" --score-thresh 0.5 -q --json "$TMP/$name.jsonl" \
        "$DEMO"/images/*.png
    if [ "$rc" -ne 0 ]; then bad "detect --precision $p --weights $m (rc $rc)"; cat "$TMP/err"; fi
done <"$TMP/cases"
cat >"$TMP/agree.py" <<'EOF'
import json, sys
def load(p):
    return {d["image"]: d["detections"] for d in map(json.loads, open(p))}
a, b = load(sys.argv[1]), load(sys.argv[2])
def iou(p, q):
    iw = min(p[2], q[2]) - max(p[0], q[0]); ih = min(p[3], q[3]) - max(p[1], q[1])
    if iw <= 0 or ih <= 0: return 0.0
    i = iw * ih
    return i / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - i)
matched = total = 0
for img in a:
    x, y = a[img], b.get(img, [])
    used = [False] * len(y)
    m = 0
    for d in x:
        best, bi = 0.9, -1
        for j, e in enumerate(y):
            if used[j] or e["label"] != d["label"]: continue
            v = iou(d["box"], e["box"])
            if v >= best: best, bi = v, j
        if bi >= 0: used[bi] = True; m += 1
    matched += m; total += max(len(x), len(y))
share = matched / total if total else 1.0
print("%s vs fp32 on %d images: %d of %d detections (score >= 0.5) agree at IoU >= 0.9: %.1f%%"
      % (sys.argv[3], len(a), matched, total, 100 * share))
sys.exit(0 if total > 40 and len(a) == len(b) == 40 and share >= float(sys.argv[4]) else 1)
EOF
while read -r name p m least; do
    [ "$name" = fp32 ] && continue
    if "$PY" "$TMP/agree.py" "$TMP/fp32.jsonl" "$TMP/$name.jsonl" "$name" "$least" \
        >"$TMP/agree" 2>&1; then ok; cat "$TMP/agree"
    else bad "$name detections agree with fp32's (>= $least)"; cat "$TMP/agree"; fi
done <"$TMP/cases"

# ---- (b) AP ---------------------------------------------------------------------------------
for c in "fp32 $MODEL" "bf16 $MODEL" "int8 $CAL"; do
    set -- $c
    run eval --weights "$2" --precision "$1" --images "$DEMO/images" \
        --truth "$DEMO/instances.json" --json "$TMP/eval_$1.json" -q
    [ "$rc" -eq 0 ] || { bad "eval --precision $1 (rc $rc)"; cat "$TMP/err"; }
done
for c in "bf16 0.02" "int8 0.01"; do
    set -- $c
    if "$PY" -c '
import json, sys
f, b = (json.load(open(p)) for p in sys.argv[1:3])
print("eval: AP %.4f / AP50 %.4f in fp32, AP %.4f / AP50 %.4f in %s"
      % (f["ap"], f["ap50"], b["ap"], b["ap50"], sys.argv[3]))
tol = float(sys.argv[4])
sys.exit(0 if abs(f["ap"] - b["ap"]) <= tol and abs(f["ap50"] - b["ap50"]) <= tol
         and b["images"] == 40 else 1)
' "$TMP/eval_fp32.json" "$TMP/eval_$1.json" "$1" "$2" >"$TMP/ap" 2>&1; then ok; cat "$TMP/ap"
    else bad "$1 AP within $2 of fp32"; cat "$TMP/ap"; fi
done

# ---- (c) bench says it -------------------------------------------------------------------
img=$(ls "$DEMO"/images/*.png | head -n 1)
for c in "bf16 $MODEL" "int8 $CAL"; do
    set -- $c
    run bench --model-only --weights "$2" --precision "$1" --frames 2 --warmup 0 "$img" \
        --json "$TMP/bench.json" -y
    if [ "$rc" -eq 0 ] && grep -q "^precision    $1: agreement with fp32 " "$TMP/out" &&
       "$PY" -c '
import json, sys
c = json.load(open(sys.argv[1]))["config"]
a = c["agreement_fp32"]
sys.exit(0 if c["precision"] == sys.argv[2] and 0 <= a["matched"] <= a["of"] and a["iou"] == 0.9
         else 1)
' "$TMP/bench.json" "$1"; then ok
    else bad "bench --precision $1 reports its agreement with fp32"; cat "$TMP/out" "$TMP/err"; fi
done
run bench --model-only --weights "$MODEL" --frames 1 --warmup 0 "$img"
if [ "$rc" -eq 0 ] && grep -q "^precision    fp32 (torchvision's arithmetic)" "$TMP/out"; then ok
else bad "bench in fp32 says so"; cat "$TMP/out"; fi
for e in openblas onednn; do
    run bench --model-only --weights "$MODEL" --engine "$e" --frames 1 --warmup 0 "$img"
    if [ "$rc" -eq 0 ] && grep -Eq "engine $e(,| )" "$TMP/out"; then ok
    else bad "bench --engine $e runs on $e"; cat "$TMP/out" "$TMP/err"; fi
done

# ---- (d) usage ---------------------------------------------------------------------------
run detect --precision fp16 "$img"
if [ "$rc" -eq 2 ] && grep -q "'fp16' is not a precision (fp32, bf16 or int8)" "$TMP/err"; then ok
else bad "--precision fp16 is a usage error (rc $rc)"; cat "$TMP/err"; fi
run detect --engine mkl "$img"
if [ "$rc" -eq 2 ] && grep -q "'mkl' is not an engine" "$TMP/err"; then ok
else bad "--engine mkl is a usage error (rc $rc)"; cat "$TMP/err"; fi

# ---- (e) the calibrated file, and what calibrate refuses ---------------------------------------
run detect --weights "$CAL" --score-thresh 0.5 -q --json "$TMP/cal_fp32.jsonl" "$DEMO"/images/*.png
if [ "$rc" -eq 0 ] && cmp -s "$TMP/cal_fp32.jsonl" "$TMP/fp32.jsonl"; then ok
else bad "the calibrated model gives the same fp32 detections (rc $rc)"; fi
cat >"$TMP/parts.py" <<'EOF'
import json, struct, sys
def parts(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return n, json.loads(b[8:8 + n]), b[8 + n:]
n0, h0, d0 = parts(sys.argv[1])
n1, h1, d1 = parts(sys.argv[2])
m0, m1 = h0.pop("__metadata__"), h1.pop("__metadata__")
t = json.loads(m1.pop("vdetect_int8"))
ok = (d0 == d1 and h0 == h1 and m0 == m1 and n1 % 8 == 0 and t["format"] == "vdetect-int8"
      and t["version"] == 1 and t["images"] == 16 and len(t["layers"]) > 10
      and all(l["amax"] > 0 for l in t["layers"]))
print("tensors and description identical; ranges of %d layers" % len(t["layers"]))
sys.exit(0 if ok else 1)
EOF
if "$PY" "$TMP/parts.py" "$MODEL" "$CAL" >"$TMP/py" 2>&1; then ok
else bad "calibrate copies the tensors and the description, and adds the table"; cat "$TMP/py"; fi
run info --weights "$CAL"
if [ "$rc" -eq 0 ] && grep -q '^int8 ranges    calibrated on 16 images' "$TMP/out"; then ok
else bad "info reports the calibration"; cat "$TMP/out"; fi
run info --weights "$MODEL" --json -
if [ "$rc" -eq 0 ] && grep -q '"int8_calibration_images": 0' "$TMP/out"; then ok
else bad "info --json: the shipped model has no calibration"; cat "$TMP/out"; fi

run calibrate --weights "$MODEL" "$DEMO/calib"
if [ "$rc" -eq 2 ] && grep -q -- '-o OUT.vdm is required' "$TMP/err"; then ok
else bad "calibrate without -o (rc $rc)"; cat "$TMP/err"; fi
cp "$MODEL" "$TMP/mine.vdm"
run calibrate --weights "$TMP/mine.vdm" "$DEMO/calib" -o "$TMP/mine.vdm" -y
if [ "$rc" -eq 2 ] && cmp -s "$MODEL" "$TMP/mine.vdm"; then ok
else bad "calibrate -o the model itself is refused, even with -y (rc $rc)"; cat "$TMP/err"; fi
run calibrate --weights "$MODEL" "$DEMO/calib" -o "$CAL"
if [ "$rc" -eq 2 ] && grep -q 'exists' "$TMP/err"; then ok
else bad "calibrate over an existing file without -y (rc $rc)"; cat "$TMP/err"; fi
mkdir -p "$TMP/empty"
run calibrate --weights "$MODEL" "$TMP/empty" -o "$TMP/x.vdm"
if [ "$rc" -eq 1 ] && grep -q 'no image files' "$TMP/err" && [ ! -e "$TMP/x.vdm" ]; then ok
else bad "calibrate on a directory without images (rc $rc)"; cat "$TMP/err"; fi
pth="$FIX/parity/mnv3_320_odd/model_zip.pth"
if [ -f "$pth" ]; then
    run calibrate --weights "$pth" --arch fasterrcnn_mobilenet_v3_large_320_fpn "$DEMO/calib" \
        -o "$TMP/x.vdm"
    if [ "$rc" -eq 1 ] && grep -q 'cannot carry the ranges: export it' "$TMP/err" &&
       [ ! -e "$TMP/x.vdm" ]; then ok
    else bad "calibrate refuses a .pth, pointing to export.py (rc $rc)"; cat "$TMP/err"; fi
fi
# damaged tables: the file loads in no precision, with the reason
cat >"$TMP/damage.py" <<'EOF'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
t = json.loads(h["__metadata__"]["vdetect_int8"])
if sys.argv[3] == "layers": t["layers"].pop()
elif sys.argv[3] == "shape": t["layers"][0]["shape"][1] += 1
elif sys.argv[3] == "amax": t["layers"][0]["amax"] = -1
else: t["format"] = "other"
h["__metadata__"]["vdetect_int8"] = json.dumps(t)
j = json.dumps(h).encode()
j += b" " * (-len(j) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(j)) + j + b[8 + n:])
EOF
for damage in layers shape amax format; do
    "$PY" "$TMP/damage.py" "$CAL" "$TMP/bad_$damage.vdm" "$damage"
    run detect --weights "$TMP/bad_$damage.vdm" "$img"
    if [ "$rc" -eq 1 ] && grep -q 'int8 calibration ("vdetect_int8")' "$TMP/err"; then ok
    else bad "a table with damaged $damage is refused at load (rc $rc)"; cat "$TMP/err"; fi
done
summary
