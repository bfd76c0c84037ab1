#!/bin/sh
# test_limits.sh — hostile sizes and parameters end in a clean error, never an
# abort (issue 10, items 3, 4 and 7): images and video frames that resize to
# nothing, parameters out of range, model files that ask for absurd sizes or
# memory, --classes with empty or unknown entries, weights and labels that are
# FIFOs, and eval file names that lead out of --images.
#
# Each case must exit 1 (a runtime problem with an input: one line on stderr
# naming the value and the accepted range) or 2 (bad usage: the line and the
# help hint), never 134/139, and leave no half-written output behind.
#
# Run from the repository root (tests/run.sh does). Environment: VDETECT_BIN
# (default ./vdetect), PYTHON (python3 with numpy and torch; the model-file
# cases are skipped without it). Ends with "test_limits: N passed, N failed,
# N skipped".
set -u

BIN=${VDETECT_BIN:-./vdetect}
PY=${PYTHON:-/usr/bin/python3}

NAME=limits
. tests/lib.sh

case "$BIN" in */*) ;; *) BIN="./$BIN" ;; esac
if [ ! -x "$BIN" ]; then
    echo "FAIL: no executable $BIN (build it with make)"
    fail=1
    summary
fi

# run ARGS...: vdetect with a time limit, leaving $rc, $TMP/out and $TMP/err.
run() {
    timeout 120 "$BIN" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    rc=$?
}
lines() { wc -l <"$1" | tr -d ' '; }

# fail1 NAME REGEX: exit 1, exactly one line on stderr, matching REGEX
fail1() {
    if [ "$rc" -eq 1 ] && [ "$(lines "$TMP/err")" -eq 1 ] && grep -Eq -- "$2" "$TMP/err"; then
        ok
    else
        bad "$1: exit $rc (want 1), $(lines "$TMP/err") stderr lines (want 1 matching '$2')"
    fi
}
# usage NAME REGEX: exit 2, the message (matching REGEX) and the help hint only
usage() {
    if [ "$rc" -eq 2 ] && [ "$(lines "$TMP/err")" -eq 2 ] && grep -Eq -- "$2" "$TMP/err" &&
        grep -q 'see vdetect.*--help' "$TMP/err"; then
        ok
    else
        bad "$1: exit $rc (want 2), $(lines "$TMP/err") stderr lines (want message matching '$2' + hint)"
    fi
}

# ---- inputs, generated here ---------------------------------------------------
gen() { ffmpeg -nostdin -loglevel error -y "$@" </dev/null; }
# lavfi's colour source cannot make a 1-pixel side itself: scale down to it
gen -f lavfi -i color=red:s=400x2 -frames:v 1 -vf scale=400:1 -pix_fmt rgb24 "$TMP/thin.png"
gen -f lavfi -i color=red:s=2x400 -frames:v 1 -vf scale=1:400 -pix_fmt rgb24 "$TMP/tall.png"
gen -f lavfi -i color=red:s=2x2 -frames:v 1 -vf scale=1:1 -pix_fmt rgb24 "$TMP/one.png"
gen -f lavfi -i testsrc=s=64x48 -frames:v 1 -pix_fmt rgb24 "$TMP/small.png"
gen -f lavfi -i testsrc=s=800x2:r=10 -t 1 -pix_fmt yuv420p -c:v libx264 "$TMP/thin.mp4"
for f in thin.png tall.png one.png small.png thin.mp4; do
    if [ ! -s "$TMP/$f" ]; then
        echo "FAIL: ffmpeg could not make $f"
        fail=1
        summary
    fi
done

# ---- item 3: sides that resize to nothing ----------------------------------------
# torchvision 0.14 (min_size 216, max_size 384, the demo model's): a 400x1 image
# resizes to 383x0 and interpolate raises "Input and output sizes should be
# greater than 0"; 1000x3 is the thinnest 1000-wide image it takes.
run detect "$TMP/thin.png"
fail1 "detect 400x1" "thin.png: a 400x1 input resizes to 383x0 .*min_size 216 and max_size 384.*height must be at least 2"
run detect "$TMP/tall.png"
fail1 "detect 1x400" "tall.png: a 1x400 input resizes to 0x383 .*width must be at least 2"
# one bad image among good ones: the good ones still come out, exit 1
run detect "$TMP/small.png" "$TMP/thin.png" "$TMP/small.png"
if [ "$rc" -eq 1 ] && [ "$(lines "$TMP/out")" -eq 2 ] && [ "$(lines "$TMP/err")" -eq 1 ]; then ok
else bad "detect good thin good: exit $rc (want 1), $(lines "$TMP/out") JSON lines (want 2)"; fi
run detect --set max_size=1 "$TMP/small.png"
fail1 "detect --set max_size=1" "a 64x48 input resizes to 1x0 .*max_size 1"
run info --size 1000x1
usage "info --size 1000x1" "--size 1000x1: a 1000x1 input resizes to 384x0.*height must be at least 3"
run info --size 1000x3
if [ "$rc" -eq 0 ] && grep -q '1000x3 input -> resized to 384x1' "$TMP/out"; then ok
else bad "info --size 1000x3 (torchvision: 384x1): exit $rc, $(grep cost "$TMP/out")"; fi
run bench --model-only --size 1000x1 --frames 1
usage "bench --model-only --size 1000x1" "--size 1000x1: .*resizes to 384x0"
run bench --model-only "$TMP/thin.png" --frames 1
fail1 "bench --model-only thin.png" "thin.png: a 400x1 input resizes to 383x0"

# video: refused when the stream opens, before any output is opened
run annotate "$TMP/thin.mp4" -o "$TMP/a.mp4" --json "$TMP/a.jsonl"
fail1 "annotate 800x2" "video .*thin.mp4: a 800x2 input resizes to 383x0 .*height must be at least 3"
if [ ! -e "$TMP/a.mp4" ] && [ ! -e "$TMP/a.jsonl" ]; then ok
else bad "annotate 800x2 left outputs: $(ls -l "$TMP"/a.* 2>&1 | tr '\n' ' ')"; fi
run bench "$TMP/thin.mp4" --frames 3 -o "$TMP/b.mp4"
fail1 "bench 800x2" "video .*thin.mp4: a 800x2 input resizes to 383x0"
if [ ! -e "$TMP/b.mp4" ]; then ok; else bad "bench 800x2 left $TMP/b.mp4"; fi
# view: the same check (under Xvfb when there is one; without a display view
# stops earlier with exit 2, which is checked in test_view.sh)
if command -v xvfb-run >/dev/null 2>&1; then
    timeout 120 xvfb-run -a "$BIN" view "$TMP/thin.mp4" >"$TMP/out" 2>"$TMP/err" </dev/null
    rc=$?
    fail1 "view 800x2" "video .*thin.mp4: a 800x2 input resizes to 383x0"
else
    skipped "view 800x2: no xvfb-run"
fi

# eval on a thin image
mkdir -p "$TMP/ev"
cp "$TMP/thin.png" "$TMP/ev/thin.png"
cat >"$TMP/ev/truth.json" <<'EOF'
{"images": [{"id": 1, "file_name": "thin.png", "width": 400, "height": 1}],
 "categories": [{"id": 1, "name": "red circle"}], "annotations": []}
EOF
run eval --images "$TMP/ev" --truth "$TMP/ev/truth.json"
fail1 "eval thin image" "thin.png: a 400x1 input resizes to 383x0"

# ---- item 4: parameters with bounds, memory sized by the work ---------------------
run detect --set min_size=100000 --set max_size=100000 "$TMP/one.png"
usage "--set min_size=100000" "--set min_size: 100000 is out of range \(accepted: a number in \[1, 8192\]\)"
run detect --set max_size=8193 "$TMP/one.png"
usage "--set max_size=8193" "max_size: 8193 is out of range.*\[1, 8192\]"
run detect --set rpn_post_nms_top_n_test=1e9 "$TMP/small.png"
usage "--set rpn_post_nms_top_n_test=1e9" "rpn_post_nms_top_n_test: 1e9 is out of range.*integer in \[1, 1000000\]"
run detect --set box_detections_per_img=1000000000 "$TMP/small.png"
usage "--set box_detections_per_img=1e9" "box_detections_per_img: 1000000000 is out of range.*\[0, 1000000\]"
# the largest counts allowed: buffers follow the proposals that exist, so this
# runs in the demo model's usual memory and gives the same detections as the
# same run with the counts just above what the image can give
run detect --set rpn_pre_nms_top_n_test=1000000 --set rpn_post_nms_top_n_test=1000000 \
    --set box_detections_per_img=1000000 "$TMP/small.png"
cp "$TMP/out" "$TMP/big.jsonl"
if [ "$rc" -eq 0 ] && [ "$(lines "$TMP/out")" -eq 1 ]; then ok
else bad "detect with 1e6 top-n / detections: exit $rc"; fi
# 64x48 → 288x216 with the demo model: at most 5x(9x7)x6... anchors; 100000 is
# above every level's count, so the result must not change
run detect --set rpn_pre_nms_top_n_test=100000 --set rpn_post_nms_top_n_test=100000 \
    --set box_detections_per_img=100000 "$TMP/small.png"
if [ "$rc" -eq 0 ] && cmp -s "$TMP/out" "$TMP/big.jsonl"; then ok
else bad "1e6 vs 1e5 top-n give different detections"; fi
# peak memory stays that of an ordinary run (a few tens of MB, not GBs)
if command -v /usr/bin/time >/dev/null 2>&1; then
    /usr/bin/time -f '%M' -o "$TMP/rss" "$BIN" detect --set rpn_pre_nms_top_n_test=1000000 \
        --set rpn_post_nms_top_n_test=1000000 --set box_detections_per_img=1000000 \
        "$TMP/small.png" >/dev/null 2>&1
    kb=$(tail -n 1 "$TMP/rss")
    if [ "$kb" -lt 400000 ]; then ok; else bad "1e6 top-n: peak RSS $kb KiB"; fi
else
    skipped "peak RSS: no /usr/bin/time"
fi
run detect --set min_size=abc "$TMP/small.png"
usage "--set min_size=abc" "--set min_size: 'abc' is not a number in \[1, 8192\]"
run detect --set image_std=0,1,1 "$TMP/small.png"
usage "--set image_std=0,1,1" "image_std: 0,1,1 is out of range.*non-zero"
run detect --set bn_eps=-1 "$TMP/small.png"
usage "--set bn_eps=-1" "bn_eps: -1 is out of range.*\[0, 1\]"
run detect --set rpn_pre_nms_top_n_test=1.5 "$TMP/small.png"
usage "--set rpn_pre_nms_top_n_test=1.5" "rpn_pre_nms_top_n_test: 1.5 is out of range.*integer"
# the largest sizes allowed are accepted (info only plans the pass: no memory)
run info --set min_size=8192 --set max_size=8192 --size 16384x16384
if [ "$rc" -eq 0 ] && grep -q '16384x16384 input -> resized to 8192x8192' "$TMP/out"; then ok
else bad "info at min_size=max_size=8192: exit $rc"; fi

# ---- model files that ask for too much ------------------------------------------------
if "$PY" -c 'import numpy, torch' 2>/dev/null; then
    "$PY" - "$TMP" <<'EOF' 2>"$TMP/pyerr"
import copy, json, struct, sys
sys.path.insert(0, "model/py")
import torch
import vdm

out = sys.argv[1]
# 1. the demo model with max_size 1 (any image resizes to an empty one)
#    and with max_size 100000 (out of the accepted range)
with open("assets/demo.vdm", "rb") as f:
    raw = f.read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
for name, value in (("max1", 1), ("max100000", 100000)):
    h = copy.deepcopy(header)
    arch = json.loads(h["__metadata__"]["vdetect"])
    arch["params"]["max_size"] = value
    h["__metadata__"]["vdetect"] = json.dumps(arch)
    b = json.dumps(h).encode()
    b += b" " * (-(8 + len(b)) % 8)
    with open(f"{out}/{name}.vdm", "wb") as f:
        f.write(struct.pack("<Q", len(b)) + b + data)
# 2. a 65536-channel backbone in a small file: one 3x3 conv 3 → 65536, a
#    1-channel FPN; 7 MB of weights, hundreds of GB of activations at 640x480
arch = {
    "format": "vdetect-model", "version": 1,
    "backbone": {"type": "vgg", "cfg": [65536, "M"], "batch_norm": False,
                 "return_layers": [2]},
    "fpn": {"out_channels": 1, "extra": "maxpool"},
    "anchors": {"sizes": [[32], [64]], "aspect_ratios": [[1.0], [1.0]]},
    "roi": {"output_size": 7, "sampling_ratio": 2, "featmap_count": 1},
    "box_head": {"representation_size": 4},
    "params": dict(vdm.ARCH["params"]),
    "classes": ["__background__", "thing"],
}
torch.manual_seed(0)
model = vdm.build_model(arch)
vdm.write_vdm(f"{out}/wide.vdm", model.state_dict(), arch)
EOF
    if [ ! -s "$TMP/wide.vdm" ]; then
        bad "could not write the hostile model files: $(tail -n 3 "$TMP/pyerr")"
    else
        run detect --weights "$TMP/max1.vdm" "$TMP/small.png"
        fail1 "model file with max_size 1" "a 64x48 input resizes to 1x0 .*max_size 1"
        run annotate --weights "$TMP/max1.vdm" "$TMP/thin.mp4" -o "$TMP/c.mp4"
        fail1 "annotate, model file with max_size 1" "a 800x2 input resizes to 0x0 .*no height works with a width of 800"
        if [ ! -e "$TMP/c.mp4" ]; then ok; else bad "annotate left $TMP/c.mp4"; fi
        run info --weights "$TMP/max100000.vdm"
        fail1 "model file with max_size 100000" "params.max_size: expected a number in \[1, 8192\]"
        # info only counts: no allocation of the activations
        run info --weights "$TMP/wide.vdm"
        if [ "$rc" -eq 0 ] && grep -q 'GFLOPs' "$TMP/out"; then ok
        else bad "info on a 65536-channel model: exit $rc"; fi
        run detect --weights "$TMP/wide.vdm" --set min_size=8192 --set max_size=8192 "$TMP/small.png"
        fail1 "detect on a 65536-channel model" "needs [0-9.]+ GiB of working memory with this model, more than the [0-9.]+ GiB available"
    fi
else
    skipped "model files: no python3 with numpy and torch"
fi

# ---- item 7: --classes, --set, FIFOs, eval file names -------------------------------
run detect --classes , "$TMP/small.png"
usage "--classes ," "--classes: ',' has an empty entry"
run detect --classes "red circle,,blue square" "$TMP/small.png"
usage "--classes a,,b" "has an empty entry"
run detect --classes "red circle," "$TMP/small.png"
usage "--classes a," "has an empty entry"
run detect --classes no_such_class "$TMP/small.png"
usage "--classes unknown" "no class named 'no_such_class' \(this model's: red circle, blue square.*ids 1\.\.6"
run detect --classes 7 "$TMP/small.png"
usage "--classes 7" "id 7 is out of range 1\.\.6"
run detect --classes "red circle,2" "$TMP/small.png"
if [ "$rc" -eq 0 ]; then ok; else bad "--classes 'red circle,2': exit $rc"; fi

mkfifo "$TMP/fifo"
run detect --weights "$TMP/fifo" "$TMP/small.png"
fail1 "--weights FIFO" "weights .*fifo: not a regular file \(a FIFO\)"
run detect --labels "$TMP/fifo" "$TMP/small.png"
fail1 "--labels FIFO" "labels .*fifo: not a regular file \(a FIFO\)"
run detect --weights /dev/null "$TMP/small.png"
fail1 "--weights /dev/null" "not a regular file \(a character device\)"

mkdir -p "$TMP/set/imgs"
cp "$TMP/small.png" "$TMP/set/outside.png"
cp "$TMP/small.png" "$TMP/set/imgs/in.png"
for name in ../outside.png "$TMP/set/outside.png" "sub/../../outside.png" ..; do
    cat >"$TMP/set/truth.json" <<EOF
{"images": [{"id": 1, "file_name": "$name", "width": 64, "height": 48}],
 "categories": [{"id": 1, "name": "red circle"}], "annotations": []}
EOF
    run eval --images "$TMP/set/imgs" --truth "$TMP/set/truth.json"
    fail1 "eval file_name $name" "images\[0\]: file_name .* leads out of the images directory"
done
cat >"$TMP/set/truth.json" <<'EOF'
{"images": [{"id": 1, "file_name": "./in.png", "width": 64, "height": 48}],
 "categories": [{"id": 1, "name": "red circle"}], "annotations": []}
EOF
run eval --images "$TMP/set/imgs" --truth "$TMP/set/truth.json" -q
if [ "$rc" -eq 0 ]; then ok; else bad "eval file_name ./in.png: exit $rc"; fi

summary
