#!/bin/sh
# test_precision_model.sh — what --precision bf16 costs in accuracy, on the demo model's
# held-out set (tests/gen_demo.py, 40 images with COCO truth):
#   (a) detections agree with fp32's: of the detections with score >= 0.5 on
#       either side, at least 95% match one of the other precision's with the
#       same class at IoU >= 0.9 (the rule bench reports);
#   (b) `vdetect eval` AP and AP@.5 in bf16 are within 0.02 of fp32's;
#   (c) `bench --model-only --precision bf16` reports that agreement and the
#       precision in its JSON; fp32 stays fp32 (no agreement line);
#   (d) a bad --precision is a usage error naming the choices.
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
if [ ! -x "$BIN" ] || [ ! -d "$DEMO/images" ]; then
    bad "needs $BIN and the demo fixtures in $DEMO (make test makes them)"
    summary
fi

# ---- (a) agreement over the set ----------------------------------------------------------
for p in fp32 bf16; do
    run detect --weights "$MODEL" --precision "$p" --score-thresh 0.5 -q --json "$TMP/$p.jsonl" \
        "$DEMO"/images/*.png
    if [ "$rc" -ne 0 ]; then bad "detect --precision $p (rc $rc)"; cat "$TMP/err"; fi
done
if "$PY" - "$TMP/fp32.jsonl" "$TMP/bf16.jsonl" >"$TMP/agree" 2>&1 <<'EOF'
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
print("bf16 vs fp32 on %d images: %d of %d detections (score >= 0.5) agree at IoU >= 0.9: %.1f%%"
      % (len(a), matched, total, 100 * share))
sys.exit(0 if total > 40 and len(a) == len(b) == 40 and share >= 0.95 else 1)
EOF
then ok; cat "$TMP/agree"; else bad "bf16 detections agree with fp32's"; cat "$TMP/agree"; fi

# ---- (b) AP ---------------------------------------------------------------------------------
for p in fp32 bf16; do
    run eval --weights "$MODEL" --precision "$p" --images "$DEMO/images" \
        --truth "$DEMO/instances.json" --json "$TMP/eval_$p.json" -q
    [ "$rc" -eq 0 ] || { bad "eval --precision $p (rc $rc)"; cat "$TMP/err"; }
done
if "$PY" -c '
import json, sys
f, b = (json.load(open(p)) for p in sys.argv[1:3])
print("eval: AP %.4f / AP50 %.4f in fp32, AP %.4f / AP50 %.4f in bf16" % (f["ap"], f["ap50"], b["ap"], b["ap50"]))
sys.exit(0 if abs(f["ap"] - b["ap"]) <= 0.02 and abs(f["ap50"] - b["ap50"]) <= 0.02 and b["images"] == 40 else 1)
' "$TMP/eval_fp32.json" "$TMP/eval_bf16.json" >"$TMP/ap" 2>&1; then ok; cat "$TMP/ap"
else bad "bf16 AP within 0.02 of fp32"; cat "$TMP/ap"; fi

# ---- (c) bench says it -------------------------------------------------------------------
img=$(ls "$DEMO"/images/*.png | head -n 1)
run bench --model-only --weights "$MODEL" --precision bf16 --frames 2 --warmup 0 "$img" \
    --json "$TMP/bench.json" -y
if [ "$rc" -eq 0 ] && grep -q '^precision    bf16: agreement with fp32 ' "$TMP/out" &&
   "$PY" -c '
import json, sys
c = json.load(open(sys.argv[1]))["config"]
a = c["agreement_fp32"]
sys.exit(0 if c["precision"] == "bf16" and 0 <= a["matched"] <= a["of"] and a["iou"] == 0.9 else 1)
' "$TMP/bench.json"; then ok
else bad "bench --precision bf16 reports its agreement with fp32"; cat "$TMP/out" "$TMP/err"; fi
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
if [ "$rc" -eq 2 ] && grep -q "'fp16' is not a precision (fp32 or bf16)" "$TMP/err"; then ok
else bad "--precision fp16 is a usage error (rc $rc)"; cat "$TMP/err"; fi
run detect --engine mkl "$img"
if [ "$rc" -eq 2 ] && grep -q "'mkl' is not an engine" "$TMP/err"; then ok
else bad "--engine mkl is a usage error (rc $rc)"; cat "$TMP/err"; fi
summary
