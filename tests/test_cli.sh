#!/bin/sh
# test_cli.sh — the vdetect command line as users and scripts see it (README.md's
# Commands, docs/formats.md): exit statuses, one-line errors, help texts, detect's
# JSON Lines format, and clean failures on corrupt checkpoints and images.
#
# Run from the repository root (tests/run.sh does). Environment:
#   VDETECT_BIN        the binary (default ./vdetect)
#   VDETECT_FIXTURES   fixtures of tests/gen_*.py (default tests/fixtures); the
#                      checks that need parity/mnv3_320_odd are skipped, and
#                      counted as skipped, while it does not exist
#   PYTHON             python3 with numpy (default /usr/bin/python3)
# Ends with "test_cli: N passed, N failed, N skipped"; exits 1 if any failed.

# $M (the model options) is split into words on purpose.
# shellcheck disable=SC2086,SC2013
set -u

BIN=${VDETECT_BIN:-./vdetect}
FIX=${VDETECT_FIXTURES:-tests/fixtures}
PY=${PYTHON:-/usr/bin/python3}
# mnv3_320_odd: a case whose RPN has no near-ties, so the CLI must reproduce
# torchvision exactly (tie-broken cases are judged in test_parity_model.c)
PAR="$FIX/parity/mnv3_320_odd"
ARCH=fasterrcnn_mobilenet_v3_large_320_fpn

NAME=cli
. tests/lib.sh

case "$BIN" in */*) ;; *) BIN="./$BIN" ;; esac
if [ ! -x "$BIN" ]; then
    echo "FAIL: no executable $BIN (build it with make)"
    fail=1
    summary
fi
BIN_ABS=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

# run ARGS...: runs vdetect, leaving $rc, $TMP/out and $TMP/err.
run() {
    "$BIN" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    rc=$?
}
lines() { wc -l <"$1" | tr -d ' '; }

# expect NAME RC: exit status is RC
expect() {
    if [ "$rc" -eq "$2" ]; then ok; else bad "$1: exit status $rc, expected $2"; fi
}
# expect_usage NAME: exit 2, nothing on stdout, the help hint on stderr
expect_usage() {
    if [ "$rc" -eq 2 ] && [ ! -s "$TMP/out" ] && grep -q 'see vdetect.*--help' "$TMP/err"; then
        ok
    else
        bad "$1: exit $rc (want 2), stdout $(lines "$TMP/out") lines (want 0), hint on stderr?"
    fi
}
# expect_fail1 NAME [REGEX]: exit 1, exactly one line on stderr (matching REGEX), no crash
expect_fail1() {
    n=$(lines "$TMP/err")
    if [ "$rc" -eq 1 ] && [ "$n" -eq 1 ] && { [ $# -lt 2 ] || grep -Eq -- "$2" "$TMP/err"; }; then
        ok
    else
        bad "$1: exit $rc (want 1), $n stderr lines (want 1${2:+ matching /$2/})"
    fi
}
# expect_no_crash NAME: no signal death (status < 128)
expect_no_crash() {
    if [ "$rc" -lt 128 ]; then ok; else bad "$1: died with status $rc"; fi
}

# An image that loads, so that a failure below can only be the model's.
HAVE_FFMPEG=0
IMG=tests/data/street.png
if command -v ffmpeg >/dev/null 2>&1 &&
   ffmpeg -v error -y -f lavfi -i testsrc=s=320x240 -frames:v 1 "$TMP/img.png" </dev/null; then
    HAVE_FFMPEG=1
    IMG="$TMP/img.png"
fi
[ -f "$IMG" ] || IMG=x.png

# ---- usage errors (exit 2) -----------------------------------------------
run
if [ "$rc" -eq 2 ]; then ok; else bad "no arguments: exit $rc, want 2"; fi
run frobnicate;                        expect_usage "unknown command"
run --frobnicate;                      expect_usage "unknown global option"
run detect --frobnicate x.png;         expect_usage "detect: unknown option"
run info --frobnicate;                 expect_usage "info: unknown option"
run info stray;                        expect_usage "info: stray argument"
run detect;                            expect_usage "detect: no image"
run detect x.png --weights;            expect_usage "detect: --weights without value"
run detect x.png --json;               expect_usage "detect: --json without value"
run info --size;                       expect_usage "info: --size without value"
run detect --score-thresh abc x.png;   expect_usage "detect: --score-thresh abc"
run detect --score-thresh 1.5 x.png;   expect_usage "detect: --score-thresh out of range"
run detect --score-thresh nan x.png;   expect_usage "detect: --score-thresh nan"
run detect --threads 0 x.png;          expect_usage "detect: --threads 0"
run detect --threads 2x x.png;         expect_usage "detect: --threads 2x"
run info --size 640;                   expect_usage "info: --size 640"
run info --size 0x480;                 expect_usage "info: --size 0x480"
run detect --set min_size x.png;       expect_usage "detect: --set without ="
run detect --set no_such_param=1 x.png; expect_usage "detect: --set unknown name"
run annotate x.mp4;                    expect_usage "annotate: no -o"
run annotate;                          expect_usage "annotate: no SOURCE"
run view;                              expect_usage "view: no SOURCE"
run bench x.mp4;                      expect_fail1 "bench on a missing video file" "x.mp4"
run bench --frames 0;                  expect_usage "bench: --frames 0"
run bench --size 12;                   expect_usage "bench: --size 12"

# the messages themselves: one line naming the command and the option, then the hint
# expect_msg NAME LINE: exit 2, nothing on stdout, stderr is LINE and the hint
expect_msg() {
    if [ "$rc" -eq 2 ] && [ ! -s "$TMP/out" ] && [ "$(lines "$TMP/err")" -eq 2 ] &&
       [ "$(head -n 1 "$TMP/err")" = "$2" ] && sed -n 2p "$TMP/err" | grep -q '^see vdetect.*--help$'; then
        ok
    else
        bad "$1: exit $rc, want 2 and the line: $2"
    fi
}
run detcet x.png;                      expect_msg "unknown command, suggested" \
    "vdetect: unknown command 'detcet' (did you mean 'detect'?)"
run help anotate;                      expect_msg "help: unknown command, suggested" \
    "vdetect: unknown command 'anotate' (did you mean 'annotate'?)"
run frobnicate;                        expect_msg "unknown command, nothing close" \
    "vdetect: unknown command 'frobnicate'"
run --versoin;                         expect_msg "unknown global option, suggested" \
    "vdetect: unknown option '--versoin' (did you mean '--version'?)"
run --weights x;                       expect_msg "a command's option before the command" \
    "vdetect: unknown option '--weights' (options follow the command)"
run detect --threds 2 x.png;           expect_msg "unknown option, suggested" \
    "vdetect detect: unknown option '--threds' (did you mean '--threads'?)"
run view --queu=2 x.mp4;               expect_msg "unknown --opt=value, suggested" \
    "vdetect view: unknown option '--queu' (did you mean '--queue'?)"
run annotate -weights x x.mp4 -o y.mp4; expect_msg "single-dash long option, suggested" \
    "vdetect annotate: unknown option '-weights' (did you mean '--weights'?)"
run info --frobnicate;                 expect_msg "unknown option, nothing close" \
    "vdetect info: unknown option '--frobnicate'"
run anotate x.mp4;                     expect_msg "unknown command anotate, suggested" \
    "vdetect: unknown command 'anotate' (did you mean 'annotate'?)"
run detect --scor-thresh 0.3 x.png;    expect_msg "unknown option --scor-thresh, suggested" \
    "vdetect detect: unknown option '--scor-thresh' (did you mean '--score-thresh'?)"
# --arch: an unknown name is a usage error before any file is read (x.png need not
# exist), with the closest preset (also measured without "fasterrcnn_") and the list
ARCHS="fasterrcnn_resnet50_fpn, fasterrcnn_resnet50_fpn_v2, fasterrcnn_mobilenet_v3_large_fpn, fasterrcnn_mobilenet_v3_large_320_fpn, fasterrcnn_vgg16_fpn"
run detect --arch resnet50fpn x.png;   expect_msg "--arch without prefix, misspelt: suggested" \
    "vdetect detect: --arch: unknown architecture 'resnet50fpn' (did you mean 'fasterrcnn_resnet50_fpn'?); known: $ARCHS"
run info --arch=fasterrcnn_vgg16fpn;   expect_msg "--arch misspelt: suggested" \
    "vdetect info: --arch: unknown architecture 'fasterrcnn_vgg16fpn' (did you mean 'fasterrcnn_vgg16_fpn'?); known: $ARCHS"
run detect --arch yolov8 x.png;        expect_msg "--arch far from every preset: no suggestion" \
    "vdetect detect: --arch: unknown architecture 'yolov8'; known: $ARCHS"
# with the demo model file (which has its own architecture), a typo is still "unknown",
# not "disagrees with the model file"
if [ -f assets/demo.vdm ]; then
    run detect --weights assets/demo.vdm --arch fasterrcnn_resnet50fpn x.png
    if [ "$rc" -eq 2 ] && grep -q "unknown architecture" "$TMP/err" && ! grep -q disagrees "$TMP/err"; then ok
    else bad "--arch typo with a model file: unknown, not 'disagrees' (rc $rc)"; fi
fi
run view --queue;                      expect_msg "missing value" "vdetect view: --queue needs a value"
run annotate x.mp4 -o;                 expect_msg "missing value (short option)" \
    "vdetect annotate: -o needs a value"
run view --threads abc x.mp4;          expect_msg "not an integer" \
    "vdetect view: --threads: 'abc' is not an integer in [1, 1024]"
run view --queue=65 x.mp4;             expect_msg "--opt=value out of range" \
    "vdetect view: --queue: 65 is out of range [1, 64]"
run detect --score-thresh=abc x.png;   expect_msg "--opt=value not a number" \
    "vdetect detect: --score-thresh: 'abc' is not a number in [0, 1]"
run detect --json= x.png;              expect_msg "--opt= empty" \
    "vdetect detect: --json: empty value (expected FILE|-)"
run detect --quiet=1 x.png;            expect_msg "a flag given a value" \
    "vdetect detect: --quiet takes no value (got '--quiet=1')"
run info -- stray;                     expect_msg "after --, a positional" \
    "vdetect info: unexpected argument 'stray'"
run bench --crf 2.5;                   expect_msg "bench --crf is an integer" \
    "vdetect bench: --crf: '2.5' is not an integer in [0, 63]"
run eval --score-thresh;               expect_msg "model option without value" \
    "vdetect eval: --score-thresh needs a value"
# --opt=value and --opt value are the same command line
TINY=tests/corpus/fuzz_vdm/tiny.vdm
if [ -f "$TINY" ]; then
    run info --weights="$TINY" --size=320x240 --threads=1 --json=-
    cp "$TMP/out" "$TMP/eq.json"
    run info --weights "$TINY" --size 320x240 --threads 1 --json -
    if [ "$rc" -eq 0 ] && grep -q '"input_size": \[320, 240\]' "$TMP/out" && cmp -s "$TMP/out" "$TMP/eq.json"; then ok
    else bad "--opt=value as --opt value (exit $rc)"; fi
else
    skipped "--opt=value on a model: no $TINY"
fi
# every option a command's --help lists is one its parser knows (they share a table)
for c in detect info view annotate bench eval; do
    "$BIN" "$c" --help 2>/dev/null | sed -n 's/^  \(-[a-z], \)\{0,1\}\(--[a-z][a-z-]*\).*/\2/p' >"$TMP/opts"
    n=0 unknown=""
    for o in $(cat "$TMP/opts"); do
        [ "$o" = --help ] && continue
        n=$((n + 1))
        run "$c" "$o" 1 --no-such-option-zz
        grep -q "unknown option '$o'" "$TMP/err" && unknown="$unknown $o"
    done
    if [ "$n" -ge 8 ] && [ -z "$unknown" ]; then ok; else bad "$c: $n options in --help, unknown to the parser:$unknown"; fi
done

# ---- help and version (exit 0, stdout) --------------------------------------
for h in --help -h help; do
    run "$h"
    if [ "$rc" -eq 0 ] && grep -q detect "$TMP/out" && grep -q info "$TMP/out"; then ok; else bad "vdetect $h"; fi
done
for c in detect info; do
    for h in --help -h; do
        run "$c" "$h"
        miss=""
        for o in --weights --arch --labels --set; do
            grep -q -- "$o" "$TMP/out" || miss="$miss $o"
        done
        [ "$c" = detect ] && for o in --score-thresh --classes --threads; do
            grep -q -- "$o" "$TMP/out" || miss="$miss $o"
        done
        [ "$c" = detect ] && { grep -q -- "--json" "$TMP/out" || miss="$miss --json"; }
        [ "$c" = info ] && { grep -q -- "--size" "$TMP/out" || miss="$miss --size"; }
        if [ "$rc" -eq 0 ] && [ -z "$miss" ]; then ok; else bad "$c $h: exit $rc, missing:$miss"; fi
    done
done
# info runs no image: its --help lists no option that filters or runs detections
# (they are still accepted, and named once in the closing note)
run info --help
listed=$(sed -n 's/^  \(-[a-z], \)\{0,1\}\(--[a-z][a-z-]*\).*/\2/p' "$TMP/out" | tr '\n' ' ')
if [ "$rc" -eq 0 ] && [ "$listed" = "--size --json --help --weights --arch --labels --set --engine --precision " ] &&
   grep -q "change nothing here" "$TMP/out"; then ok
else bad "info --help: lists '$listed'"; fi
if [ -f assets/demo.vdm ]; then
    run info --score-thresh 0.3 --classes 1 --threads 1
    if [ "$rc" -eq 0 ] && grep -q "score >= 0.3" "$TMP/out"; then ok; else bad "info still takes --score-thresh, --classes, --threads (rc $rc)"; fi
fi
# every document README.md or a --help names is in the repository (and none is a
# design document that is not)
for c in "" detect info view annotate bench eval calibrate; do "$BIN" $c --help; done >"$TMP/helps" 2>&1
missing=""
# (a bare name is looked for where README's Layout lists it: docs/ or model/)
for d in $(cat README.md "$TMP/helps" | grep -oE '[A-Za-z0-9_./-]*[A-Za-z_]\.md\b|vdetect\.1\b' |
           grep -v '^build/' | sort -u); do
    [ -f "$d" ] || [ -f "docs/$d" ] || [ -f "model/$d" ] || missing="$missing $d"
done
if [ -z "$missing" ] && ! grep -Eq 'DESIGN|[Rr]eference document|[Dd]esign notes' README.md "$TMP/helps"; then ok
else bad "documents named in README.md or --help that are not in the repository:$missing"; fi

run --version
if [ "$rc" -eq 0 ] && grep -Eq '^vdetect [0-9]+\.[0-9]+' "$TMP/out"; then ok; else bad "--version"; fi

# ---- model loading failures (exit 1, one line) ------------------------------
run detect --weights "$TMP/nope.pth" x.png;  expect_fail1 "missing weights" "nope\.pth"
run info --weights "$TMP/nope.pth";          expect_fail1 "info: missing weights" "nope\.pth"
run detect --weights "$TMP" x.png;           expect_fail1 "weights is a directory"
# no --weights: the demo model next to the binary (or in the working
# directory); a copy of the binary elsewhere has none and must say so
cp "$BIN_ABS" "$TMP/vdetect-alone"
(cd "$TMP" && ./vdetect-alone detect x.png >"$TMP/out" 2>"$TMP/err" </dev/null)
rc=$?
expect_fail1 "no --weights, no demo model" "demo\.vdm"
if [ -e "$(dirname "$BIN_ABS")/assets/demo.vdm" ]; then
    (cd "$TMP" && "$BIN_ABS" info >"$TMP/out" 2>"$TMP/err" </dev/null)
    rc=$?
    if [ "$rc" -eq 0 ] && grep -q "demo.vdm" "$TMP/out"; then ok; else bad "no --weights: the demo model (exit $rc)"; fi
else
    skipped "no --weights uses the demo model: assets/demo.vdm is not built"
fi

# checkpoints that are not: these need only the binary
head -c 4096 /dev/urandom >"$TMP/garbage.pth"
: >"$TMP/empty.pth"
printf 'this is not a checkpoint\n' >"$TMP/text.pth"
printf 'PK\003\004' >"$TMP/zipmagic.pth"; head -c 300 /dev/urandom >>"$TMP/zipmagic.pth"
for f in garbage empty text zipmagic; do
    run detect --weights "$TMP/$f.pth" --arch $ARCH "$IMG"
    expect_fail1 "corrupt checkpoint ($f)" "$f\.pth"
    expect_no_crash "corrupt checkpoint ($f)"
done
if [ "$HAVE_FFMPEG" = 1 ]; then
    cp "$TMP/img.png" "$TMP/image.pth"
    run detect --weights "$TMP/image.pth" --arch $ARCH "$IMG"
    expect_fail1 "an image renamed .pth" "image\.pth"
    expect_no_crash "an image renamed .pth"
else
    skipped "image renamed .pth (no ffmpeg)"
fi

# ---- with a real checkpoint ---------------------------------------------------
if [ ! -f "$PAR/model_zip.pth" ]; then
    skipped "parity, corrupt checkpoints, images, JSON format, labels, info: no $PAR/model_zip.pth"
    summary
fi

# --set overrides the fixture was made with ("sets k=v k=v" or "sets -")
SETS=""
for kv in $(sed -n 's/^sets[[:space:]]*//p' "$PAR/meta.txt"); do
    [ "$kv" = "-" ] || SETS="$SETS --set $kv"
done
M="--weights $PAR/model_zip.pth --arch $ARCH$SETS"

# corrupt versions of the real checkpoint
size=$(wc -c <"$PAR/model_zip.pth" | tr -d ' ')
head -c $((size / 2)) "$PAR/model_zip.pth" >"$TMP/half.pth"
head -c 1000 "$PAR/model_zip.pth" >"$TMP/head.pth"
# garbage in the middle: the zip directory stays intact, the data does not
{ head -c $((size / 3)) "$PAR/model_zip.pth"; head -c 5000 /dev/urandom
  tail -c +$((size / 3 + 5001)) "$PAR/model_zip.pth"; } >"$TMP/garbled.pth"
for f in half head; do
    run detect --weights "$TMP/$f.pth" --arch $ARCH "$PAR/image.png"
    expect_fail1 "truncated checkpoint ($f)" "$f\.pth"
    expect_no_crash "truncated checkpoint ($f)"
done
# zip CRCs may or may not be checked: either a clean error or a normal run
run detect --weights "$TMP/garbled.pth" --arch $ARCH "$PAR/image.png"
expect_no_crash "checkpoint with garbage inside"
if [ "$rc" -ne 0 ]; then expect_fail1 "checkpoint with garbage inside" "garbled\.pth"; fi
run detect --weights "$PAR/model_zip.pth" --arch fasterrcnn_resnet50_fpn "$PAR/image.png"
expect_fail1 "wrong architecture for the checkpoint" "model_zip\.pth|fasterrcnn_resnet50_fpn|key|shape"
expect_no_crash "wrong architecture for the checkpoint"
run detect --weights "$PAR/model_zip.pth" --arch no_such_arch "$PAR/image.png"
if [ "$rc" -eq 1 ] || [ "$rc" -eq 2 ]; then ok; else bad "unknown --arch: exit $rc, want 1 or 2"; fi

# detect's JSON Lines on a real checkpoint. That these are torchvision's
# detections is test_parity_model's job: it checks model_detect against
# torchvision under the near-tie rule (tests/ties.h) and `vdetect detect` on
# this very image against model_detect, bit for bit. Here: the format.
cat >"$TMP/format.py" <<'EOF'
import json, sys
ours = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ref = json.load(open(sys.argv[2]))
assert len(ours) == 1, f"{len(ours)} JSON lines, want 1"
o = ours[0]
assert set(o) == {"image", "width", "height", "detections"}, f"keys {sorted(o)}"
assert (o["width"], o["height"]) == (ref["width"], ref["height"]), "image size differs"
C = o["detections"]
assert len(C) == len(ref["detections"]), f"{len(C)} detections, torchvision has {len(ref['detections'])}"
names = {r["label"]: r["name"] for r in ref["detections"]}
for x in C:
    assert set(x) == {"box", "label", "name", "score"}, f"detection keys {sorted(x)}"
    assert len(x["box"]) == 4 and x["box"][0] <= x["box"][2] and x["box"][1] <= x["box"][3], x
    assert 0 <= x["box"][0] and x["box"][2] <= o["width"] and x["box"][3] <= o["height"], x
    if x["label"] in names:
        assert x["name"] == names[x["label"]], f"name {x['name']!r} vs {names[x['label']]!r}"
s = [x["score"] for x in C]
assert s == sorted(s, reverse=True), "not sorted by descending score"
print(f"format: {len(C)} detections")
EOF
# shellcheck disable=SC2086
run detect $M --score-thresh 0 --threads 2 "$PAR/image.png" --json -
if [ "$rc" -eq 0 ] && "$PY" "$TMP/format.py" "$TMP/out" "$PAR/detections.json" >"$TMP/py" 2>&1; then
    ok
else
    bad "detect's JSON Lines (exit $rc): $(tail -n 1 "$TMP/py" 2>/dev/null | cut -c1-300)"
fi
cp "$TMP/out" "$TMP/all.jsonl"

# the same weights as users' files carry them: the legacy format, a training
# checkpoint ({'model': ..., 'optimizer': ..., 'args': Namespace, 'epoch'}),
# DataParallel's "module." prefix, pre-0.13 key names, float64 tensors — every
# one must give exactly the same detections
if "$PY" - "$PAR/model_zip.pth" "$TMP" >"$TMP/py" 2>&1 <<'EOF'
import argparse, collections, sys, torch
sd = torch.load(sys.argv[1], map_location="cpu")
out = sys.argv[2]
torch.save({"model": sd, "optimizer": {"state": {}, "param_groups": [{"lr": 0.02, "params": [0]}]},
            "args": argparse.Namespace(lr=0.02, epochs=26), "epoch": 25}, out + "/train_ckpt.pth")
dp = collections.OrderedDict(("module." + k, v) for k, v in sd.items())
torch.save(dp, out + "/dataparallel.pth", _use_new_zipfile_serialization=False)
old = collections.OrderedDict()
for k, v in sd.items():
    k = k.replace("rpn.head.conv.0.0.", "rpn.head.conv.")
    for b in ("inner_blocks", "layer_blocks"):
        for i in range(8):
            k = k.replace("backbone.fpn.%s.%d.0." % (b, i), "backbone.fpn.%s.%d." % (b, i))
    old[k] = v
torch.save(old, out + "/old_keys.pth")
torch.save(collections.OrderedDict((k, v.double()) for k, v in sd.items()), out + "/f64.pth")
EOF
then
    for f in train_ckpt dataparallel old_keys f64; do
        run detect --weights "$TMP/$f.pth" --arch $ARCH$SETS --score-thresh 0 "$PAR/image.png" --json -
        if [ "$rc" -eq 0 ] && cmp -s "$TMP/out" "$TMP/all.jsonl"; then ok; else bad "$f.pth: exit $rc or other detections"; fi
    done
else
    bad "writing checkpoint variants with torch: $(tail -n 1 "$TMP/py")"
fi

# a resnet50 backbone saved with nn.BatchNorm2d (num_batches_tracked keys):
# eps 1e-5, not the COCO weights' 0, unless --set says otherwise
R50="$FIX/parity/r50_odd/model_zip.pth"
if [ -f "$R50" ] && "$PY" - "$R50" "$TMP/r50_bn.pth" >"$TMP/py" 2>&1 <<'EOF'
import collections, sys, torch
sd = torch.load(sys.argv[1], map_location="cpu")
out = collections.OrderedDict()
for k, v in sd.items():
    out[k] = v
    if k.startswith("backbone.body.") and k.endswith(".running_var"):
        out[k[:-len("running_var")] + "num_batches_tracked"] = torch.tensor(0)
torch.save(out, sys.argv[2])
EOF
then
    run info --weights "$TMP/r50_bn.pth" --json -
    if [ "$rc" -eq 0 ] && grep -q '"bn_eps": 1e-05' "$TMP/out" && grep -q "nn.BatchNorm2d" "$TMP/err"; then ok
    else bad "resnet50 with BatchNorm2d counters: bn_eps 1e-5 and a note ($(grep -o '"bn_eps": [^,]*' "$TMP/out"))"; fi
    run info --weights "$TMP/r50_bn.pth" --set bn_eps=0 --json -
    if [ "$rc" -eq 0 ] && grep -q '"bn_eps": 0[,}]' "$TMP/out" && [ ! -s "$TMP/err" ]; then ok
    else bad "--set bn_eps=0 wins over the counters ($(grep -o '"bn_eps": [^,]*' "$TMP/out"))"; fi
    run info --weights "$R50" --json -
    if [ "$rc" -eq 0 ] && grep -q '"bn_eps": 0[,}]' "$TMP/out"; then ok
    else bad "resnet50 COCO layout: bn_eps 0 ($(grep -o '"bn_eps": [^,]*' "$TMP/out"))"; fi
fi

# the format of docs/formats.md §1, the filters, and --json FILE
cat >"$TMP/format.py" <<'EOF'
import json, sys
path, thresh = sys.argv[1], float(sys.argv[2])
classes = set(int(c) for c in sys.argv[3].split(",")) if len(sys.argv) > 3 and sys.argv[3] else None
want_n = int(sys.argv[4]) if len(sys.argv) > 4 else None
raw = open(path, encoding="utf-8").read()
objs = [json.loads(l) for l in raw.splitlines()]
if want_n is not None: assert len(objs) == want_n, f"{len(objs)} lines, want {want_n}"
for o in objs:
    assert list(o) == ["image", "width", "height", "detections"], f"keys {list(o)}"
    assert isinstance(o["width"], int) and isinstance(o["height"], int)
    last = 2.0
    for d in o["detections"]:
        assert list(d) == ["box", "label", "name", "score"], f"keys {list(d)}"
        assert len(d["box"]) == 4 and all(isinstance(v, (int, float)) for v in d["box"])
        assert isinstance(d["label"], int) and d["label"] >= 1
        assert d["name"] is None or isinstance(d["name"], str)
        assert d["score"] >= thresh, f"score {d['score']} < {thresh}"
        assert d["score"] <= last, "not sorted"; last = d["score"]
        if classes is not None: assert d["label"] in classes, f"label {d['label']} not asked for"
print("ok")
EOF
fmt() { "$PY" "$TMP/format.py" "$@" >"$TMP/py" 2>&1; }

run detect $M "$PAR/image.png"
if [ "$rc" -eq 0 ] && [ ! -s "$TMP/err" ] && fmt "$TMP/out" 0.5 "" 1; then ok; else bad "default output: format, --score-thresh 0.5 default: $(tail -n 1 "$TMP/py")"; fi
lab=$("$PY" -c 'import json,sys; d=json.loads(open(sys.argv[1]).readline())["detections"]; print(d[0]["label"] if d else "")' "$TMP/all.jsonl" 2>/dev/null)
if [ -n "$lab" ]; then
    run detect $M --score-thresh 0.1 --classes "$lab" "$PAR/image.png"
    if [ "$rc" -eq 0 ] && fmt "$TMP/out" 0.1 "$lab" 1; then ok; else bad "--classes $lab: $(tail -n 1 "$TMP/py")"; fi
    name=$("$PY" -c 'import json,sys; d=json.loads(open(sys.argv[1]).readline())["detections"]; print(d[0]["name"] or "")' "$TMP/all.jsonl" 2>/dev/null)
    if [ -n "$name" ]; then
        run detect $M --score-thresh 0.1 --classes "$name" "$PAR/image.png"
        if [ "$rc" -eq 0 ] && fmt "$TMP/out" 0.1 "" 1 && grep -q "\"name\": \"$name\"" "$TMP/out"; then ok; else bad "--classes $name"; fi
    else
        skipped "--classes by name: the model names no classes"
    fi
else
    skipped "--classes: no detections on the fixture image"
fi
run detect $M --classes no_such_class_name "$PAR/image.png"; expect_usage "--classes with an unknown name"
run detect $M --score-thresh 0.2 "$PAR/image.png" --json "$TMP/out.jsonl"
if [ "$rc" -eq 0 ] && [ ! -s "$TMP/out" ] && fmt "$TMP/out.jsonl" 0.2 "" 1; then ok; else bad "--json FILE"; fi
run detect $M "$PAR/image.png" --json "$TMP/no/such/dir/x.jsonl"; expect_fail1 "--json into a missing directory"

# images: good, missing, not an image, corrupt, truncated, rotated
if [ "$HAVE_FFMPEG" = 1 ]; then
    I="$TMP/img"
    ffmpeg -v error -y -f lavfi -i testsrc=s=320x240 -frames:v 1 "$I.jpg" </dev/null
    ffmpeg -v error -y -f lavfi -i testsrc=s=320x240 -frames:v 1 "$I.bmp" </dev/null
    ffmpeg -v error -y -f lavfi -i testsrc=s=320x240 -frames:v 1 "$I.webp" </dev/null 2>/dev/null
    s=$(wc -c <"$I.png" | tr -d ' '); head -c $((s / 2)) "$I.png" >"$TMP/trunc.png"
    s=$(wc -c <"$I.jpg" | tr -d ' '); head -c $((s / 2)) "$I.jpg" >"$TMP/trunc.jpg"
    s=$(wc -c <"$I.bmp" | tr -d ' '); head -c $((s / 2)) "$I.bmp" >"$TMP/trunc.bmp"
    head -c 20 "$I.png" >"$TMP/stub.png"
    { head -c 100 "$I.png"; head -c 3000 /dev/urandom; tail -c +3101 "$I.png"; } >"$TMP/garbled.png"
    head -c 5000 /dev/urandom >"$TMP/random.jpg"
    printf 'hello\n' >"$TMP/text.png"
    : >"$TMP/empty.png"
    ffmpeg -v error -y -f lavfi -i sine=d=0.2 "$TMP/audio.wav" </dev/null
    mkdir -p "$TMP/dir.png"

    for f in "$I.png" "$I.jpg" "$I.bmp"; do
        run detect $M "$f"
        if [ "$rc" -eq 0 ] && fmt "$TMP/out" 0.5 "" 1 && grep -q '"width": 320, "height": 240' "$TMP/out"; then ok; else bad "detect on $(basename "$f")"; fi
    done
    if [ -s "$I.webp" ]; then
        run detect $M "$I.webp"; expect "detect on webp" 0
    else
        skipped "webp (this ffmpeg cannot write it)"
    fi
    for f in "$TMP/missing.png" "$TMP/trunc.png" "$TMP/trunc.jpg" "$TMP/trunc.bmp" "$TMP/stub.png" \
             "$TMP/garbled.png" "$TMP/random.jpg" "$TMP/text.png" "$TMP/empty.png" \
             "$TMP/audio.wav" "$TMP/dir.png"; do
        run detect $M "$f"
        b=$(basename "$f")
        # (a directory is read as one: this one holds no image files)
        expect_fail1 "bad image $b" "^image .*$b: |$b: no image files|detect: .*$b: No such file"
        expect_no_crash "bad image $b"
        [ -s "$TMP/out" ] && bad "bad image $b: something on stdout"
    done
    # one bad image among good ones: the good ones are still written, exit 1
    run detect $M "$I.png" "$TMP/trunc.png" "$I.jpg"
    if [ "$rc" -eq 1 ] && [ "$(lines "$TMP/err")" -eq 1 ] && fmt "$TMP/out" 0.5 "" 2; then ok; else bad "good, bad, good images: exit $rc"; fi
    # a file name that needs JSON escaping and would look like a pattern/protocol to FFmpeg
    odd="$TMP/we\"ird %d:name\\é.png"
    cp "$I.png" "$odd"
    run detect $M "$odd"
    if [ "$rc" -eq 0 ] && "$PY" -c 'import json,sys; o=json.loads(open(sys.argv[1]).readline()); assert o["image"]==sys.argv[2], o["image"]' "$TMP/out" "$odd" 2>"$TMP/py"; then ok; else bad "odd file name: $(tail -n 1 "$TMP/py")"; fi
    # EXIF orientation 6 (rotate 90 degrees clockwise): 320x240 stored, 240x320 upright
    "$PY" - "$I.jpg" "$TMP/exif6.jpg" <<'EOF'
import struct, sys
d = open(sys.argv[1], "rb").read()
tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHIHH", 0x0112, 3, 1, 6, 0) + struct.pack("<I", 0)
app1 = b"Exif\x00\x00" + tiff
open(sys.argv[2], "wb").write(d[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + d[2:])
EOF
    run detect $M "$TMP/exif6.jpg"
    if [ "$rc" -eq 0 ] && grep -q '"width": 240, "height": 320' "$TMP/out"; then ok; else bad "EXIF orientation 6 applied"; fi
else
    skipped "image inputs (no ffmpeg)"
fi

# --labels: num_classes lines, num_classes-1 lines, a wrong count
nc=$(sed -n 's/^num_classes //p' "$PAR/meta.txt")
if [ -n "$nc" ] && [ -n "${lab:-}" ]; then
    { echo "__background__"; i=1; while [ $i -lt "$nc" ]; do echo "class_$i"; i=$((i + 1)); done; } >"$TMP/labels_full.txt"
    tail -n +2 "$TMP/labels_full.txt" | awk '{ printf "%s\r\n", $0 }' >"$TMP/labels_fg.txt"  # CRLF, no background
    head -n 3 "$TMP/labels_full.txt" >"$TMP/labels_short.txt"
    for l in full fg; do
        run detect $M --score-thresh 0.1 --labels "$TMP/labels_$l.txt" "$PAR/image.png"
        if [ "$rc" -eq 0 ] && grep -q "\"label\": $lab, \"name\": \"class_$lab\"" "$TMP/out"; then ok; else bad "--labels ($l)"; fi
    done
    run detect $M --labels "$TMP/labels_short.txt" "$PAR/image.png"; expect_fail1 "--labels with a wrong count" "labels_short"
    run detect $M --labels "$TMP/no_labels.txt" "$PAR/image.png";    expect_fail1 "--labels missing file" "no_labels"
else
    skipped "--labels (no num_classes in meta.txt or no detections)"
fi

# info
run info $M
if [ "$rc" -eq 0 ] && grep -q "$ARCH" "$TMP/out" && grep -q min_size "$TMP/out" && \
   grep -q box_detections_per_img "$TMP/out" && grep -q bn_eps "$TMP/out" && grep -q GFLOPs "$TMP/out"; then
    ok
else
    bad "info: exit $rc, architecture, parameters and cost in the text"
fi
run info $M --size "$(sed -n 's/^width //p' "$PAR/meta.txt")x$(sed -n 's/^height //p' "$PAR/meta.txt")" --json -
if [ "$rc" -eq 0 ] && "$PY" - "$TMP/out" "$PAR/meta.txt" >"$TMP/py" 2>&1 <<'EOF'
import json, sys
o = json.load(open(sys.argv[1]))
meta = dict(l.rstrip("\n").split(" ", 1) for l in open(sys.argv[2]) if " " in l)
assert o["arch"] == meta["arch"], o["arch"]
assert o["num_classes"] == int(meta["num_classes"]), o["num_classes"]
assert o["parameters"] > 0 and o["gflops"] > 0
assert o["resized_size"] == [int(meta["resized_w"]), int(meta["resized_h"])], o["resized_size"]
for k in ("rpn_pre_nms_top_n_test", "rpn_post_nms_top_n_test", "box_detections_per_img"):
    assert o["params"][k] == int(meta[k]), (k, o["params"][k], meta[k])
for k in ("min_size", "max_size", "rpn_nms_thresh", "rpn_score_thresh", "box_score_thresh", "box_nms_thresh"):
    assert abs(o["params"][k] - float(meta[k])) < 1e-6, (k, o["params"][k], meta[k])
EOF
then ok; else bad "info --json - against meta.txt: $(tail -n 1 "$TMP/py")"; fi

# ---- detect DIR: the directory's image files, in name order ---------------------------------
mkdir -p "$TMP/dir/sub"
cp tests/data/street.png "$TMP/dir/b.png"
cp tests/data/street.png "$TMP/dir/A.PNG"
cp tests/data/street.png "$TMP/dir/sub/c.png"   # not recursive
echo "not an image" >"$TMP/dir/notes.txt"
run detect -q "$TMP/dir" "$IMG" --json "$TMP/dir.jsonl"
if [ "$rc" -eq 0 ] && [ "$("$PY" -c 'import json,sys; print(" ".join(json.loads(l)["image"].rsplit("/", 1)[-1] for l in open(sys.argv[1])))' "$TMP/dir.jsonl")" = "A.PNG b.png $(basename "$IMG")" ]; then ok
else bad "detect DIR IMAGE: the directory's images (A.PNG b.png, by name; no .txt, no subdirectory), then IMAGE (rc $rc)"; cat "$TMP/err"; fi
mkdir -p "$TMP/none"
run detect -q "$TMP/none"
expect_fail1 "detect on a directory without images" "no image files"

# ---- eval on what detect and annotate write -------------------------------------------------
# A hand-checked case (tests/test_demo.sh's, as two frames; AP50 (67 + 34 * 0.75) / 101,
# 67 / 101 at every other threshold) in the three formats: the same AP from each.
cat >"$TMP/ft.json" <<'EOF'
{"images": [{"id": 7, "file_name": "frame_0001.png"}, {"id": 3, "file_name": "frame_0000.png"}],
 "annotations": [
  {"id": 1, "image_id": 3, "category_id": 1, "bbox": [0, 0, 10, 10], "iscrowd": 0},
  {"id": 2, "image_id": 3, "category_id": 1, "bbox": [30, 30, 20, 20], "iscrowd": 1},
  {"id": 3, "image_id": 7, "category_id": 1, "bbox": [0, 0, 10, 10], "iscrowd": 0},
  {"id": 4, "image_id": 7, "category_id": 1, "bbox": [20, 20, 10, 10], "iscrowd": 0}],
 "categories": [{"id": 1, "name": "red circle"}, {"id": 2, "name": "blue square"}]}
EOF
cat >"$TMP/fd.jsonl" <<'EOF'
{"image": "frames/frame_0000.png", "width": 100, "height": 100, "detections": [{"box": [35, 35, 45, 45], "label": 1, "name": "red circle", "score": 0.95}, {"box": [0, 0, 10, 10], "label": 1, "name": "red circle", "score": 0.9}, {"box": [1, 1, 5, 5], "label": 2, "name": "blue square", "score": 0.5}]}
{"image": "frames/frame_0001.png", "width": 100, "height": 100, "detections": [{"box": [20, 20, 30, 30], "label": 1, "name": "red circle", "score": 0.8}, {"box": [50, 50, 55, 55], "label": 1, "name": "red circle", "score": 0.7}, {"box": [0, 0, 10, 5], "label": 1, "name": "red circle", "score": 0.6}]}
EOF
cat >"$TMP/fa.jsonl" <<'EOF'
{"frame": 0, "pts": 0, "width": 100, "height": 100, "detections": [{"box": [35, 35, 45, 45], "label": 1, "name": "red circle", "score": 0.95}, {"box": [0, 0, 10, 10], "label": 1, "name": "red circle", "score": 0.9}, {"box": [1, 1, 5, 5], "label": 2, "name": "blue square", "score": 0.5}]}
{"frame": 1, "pts": 0.04, "width": 100, "height": 100, "detections": [{"box": [20, 20, 30, 30], "label": 1, "name": "red circle", "score": 0.8}, {"box": [50, 50, 55, 55], "label": 1, "name": "red circle", "score": 0.7}, {"box": [0, 0, 10, 5], "label": 1, "name": "red circle", "score": 0.6}]}
EOF
cat >"$TMP/fc.json" <<'EOF'
[
{"image_id": 0, "category_id": 1, "bbox": [35, 35, 10, 10], "score": 0.95},
{"image_id": 0, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},
{"image_id": 0, "category_id": 2, "bbox": [1, 1, 4, 4], "score": 0.5},
{"image_id": 1, "category_id": 1, "bbox": [20, 20, 10, 10], "score": 0.8},
{"image_id": 1, "category_id": 1, "bbox": [50, 50, 5, 5], "score": 0.7},
{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 5], "score": 0.6}
]
EOF
for src in "--detections $TMP/fd.jsonl" "--detections $TMP/fa.jsonl" "--coco $TMP/fc.json"; do
    run eval $src --truth "$TMP/ft.json" --json -
    if [ "$rc" -eq 0 ] && [ ! -s "$TMP/err" ] && "$PY" -c '
import json, sys
r = json.load(open(sys.argv[1]))
ap50, apx = (67 + 34 * 0.75) / 101, 67 / 101
sys.exit(0 if abs(r["ap50"] - ap50) < 1e-12 and abs(r["ap75"] - apx) < 1e-12 and
         abs(r["ap"] - (ap50 + 9 * apx) / 10) < 1e-12 and r["images"] == 2 else 1)' "$TMP/out"; then ok
    else bad "eval $src: the hand-checked AP (rc $rc)"; cat "$TMP/out"; fi
done

# each file given to the wrong option: exit 1, one line saying what it is and where it goes
run eval --detections "$TMP/fc.json" --truth "$TMP/ft.json"
expect_fail1 "COCO results as --detections" "detections .*fc\.json: this looks like a COCO results array .*pass it with --coco"
run eval --coco "$TMP/fa.jsonl" --truth "$TMP/ft.json"
expect_fail1 "annotate's lines as --coco" "coco .*fa\.jsonl: this looks like annotate's JSON Lines .*pass it with --detections"
run eval --coco "$TMP/fd.jsonl" --truth "$TMP/ft.json"
expect_fail1 "detect's lines as --coco" "this looks like detect's JSON Lines .*pass it with --detections"
run eval --detections "$TMP/ft.json" --truth "$TMP/ft.json"
expect_fail1 "truth as --detections" "this looks like COCO ground truth .*pass it with --truth"
run eval --detections "$TMP/fa.jsonl" --truth "$TMP/fa.jsonl"
expect_fail1 "annotate's lines as --truth" "^vdetect eval: truth .*fa\.jsonl: not COCO ground truth: this looks like annotate's JSON Lines"
run eval --detections "$TMP/fa.jsonl" --truth "$TMP/fc.json"
expect_fail1 "COCO results as --truth" "truth .*: not COCO ground truth: .*pass it with --coco"
head -c -2 "$TMP/fc.json" >"$TMP/fk.json"     # a killed annotate: no closing ]
run eval --coco "$TMP/fk.json" --truth "$TMP/ft.json"
expect_fail1 "COCO results without ]" "no closing \"\]\".*append"
cp "$TMP/fa.jsonl" "$TMP/fa.keep"
run eval --json "$TMP/fa.jsonl" --truth "$TMP/ft.json" -y
if [ "$rc" -eq 2 ] && grep -q "^vdetect eval: --json .*fa\.jsonl: --json is where eval writes its report; this looks like annotate's JSON Lines" "$TMP/err" &&
   cmp -s "$TMP/fa.jsonl" "$TMP/fa.keep"; then ok
else bad "eval --json DETECTIONS: told that --json is the report, the file kept (rc $rc)"; fi
run eval --detections "$TMP/fa.jsonl" --coco "$TMP/fc.json" --truth "$TMP/ft.json"
expect_usage "eval --detections and --coco together"
run eval --detections "$TMP/fa.jsonl" --truth "$TMP/ft.json" --score-thresh 0.5
expect_usage "eval --detections with a model option"

# the real clip: annotate's JSON Lines and COCO results of 25 frames give the same AP;
# detect on the same frames, extracted by ffmpeg, within 0.01 (ffmpeg's YUV->RGB
# conversion of the PNGs differs from annotate's in the last bits of a few pixels)
if [ -f assets/sample.mp4 ] && [ -f assets/sample-truth.json ] && [ -f assets/demo.vdm ]; then
    "$PY" -c '
import json, sys
d = json.load(open("assets/sample-truth.json"))
keep = {i["id"] for i in d["images"] if i["frame"] < 25}
d["images"] = [i for i in d["images"] if i["id"] in keep]
d["annotations"] = [a for a in d["annotations"] if a["image_id"] in keep]
json.dump(d, open(sys.argv[1], "w"))' "$TMP/t25.json"
    run annotate assets/sample.mp4 --frames 25 --no-draw --score-thresh 0 -q -o "$TMP/c25.mp4" \
        --json "$TMP/c25.jsonl" --coco "$TMP/c25.json"
    run eval --detections "$TMP/c25.jsonl" --truth "$TMP/t25.json" --json -
    cp "$TMP/out" "$TMP/e_lines.json"
    run eval --coco "$TMP/c25.json" --truth "$TMP/t25.json" --json -
    if [ "$rc" -eq 0 ] && [ -s "$TMP/out" ] && "$PY" -c '
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
d = max(abs(a[k] - b[k]) for k in ("ap", "ap50", "ap75"))
print("eval, 25 frames of the clip: annotate --json AP %.4f, --coco AP %.4f" % (a["ap"], b["ap"]))
sys.exit(0 if d < 1e-6 and a["ap50"] > 0.9 and a["images"] == 25 else 1)' "$TMP/e_lines.json" "$TMP/out"; then ok
    else bad "eval: annotate's JSON Lines and COCO results of the clip give the same AP"; fi
    if [ "$HAVE_FFMPEG" -eq 1 ]; then
        mkdir -p "$TMP/f25"
        ffmpeg -v error -i assets/sample.mp4 -frames:v 25 -start_number 0 "$TMP/f25/frame_%04d.png" </dev/null
        run detect -q --score-thresh 0 "$TMP/f25" --json "$TMP/d25.jsonl"
        run eval --detections "$TMP/d25.jsonl" --truth "$TMP/t25.json" --json -
        if [ "$rc" -eq 0 ] && "$PY" -c '
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print("eval, 25 frames: detect on extracted PNGs AP %.4f, annotate AP %.4f" % (b["ap"], a["ap"]))
sys.exit(0 if abs(a["ap"] - b["ap"]) <= 0.01 and abs(a["ap50"] - b["ap50"]) <= 0.01 else 1)' "$TMP/e_lines.json" "$TMP/out"; then ok
        else bad "eval: detect on the extracted frames agrees with annotate's AP within 0.01"; fi
    fi
else
    skipped "eval on the sample clip: assets missing"
fi

# ---- README.md's eval examples, run as written ----------------------------------------------
# The ```sh blocks of README.md's "### eval" section and of "## The demo model" (which
# runs eval on the clip), in a scratch directory holding assets/ and ./vdetect (links),
# so that out/ is made there and not in the checkout.
if [ -f assets/demo.vdm ] && [ "$HAVE_FFMPEG" -eq 1 ]; then
    awk '/^## |^### /{sec=$0} /^```/{if(inblk){inblk=0; next} if($0=="```sh" && (sec=="### eval" || sec=="## The demo model")){inblk=1; next}} inblk' \
        README.md >"$TMP/readme_eval.sh"
    mkdir -p "$TMP/readme"
    ln -s "$(pwd)/assets" "$TMP/readme/assets"
    ln -s "$BIN_ABS" "$TMP/readme/vdetect"
    (cd "$TMP/readme" && sh -e "$TMP/readme_eval.sh") >"$TMP/out" 2>"$TMP/err" </dev/null
    rc=$?
    nall=$(grep -c '^all ' "$TMP/out")
    if [ "$rc" -eq 0 ] && [ "$(grep -c 'vdetect eval' "$TMP/readme_eval.sh")" -ge 4 ] && [ "$nall" -eq 4 ] &&
       [ -s "$TMP/readme/out/eval.json" ] &&
       [ "$(grep '^all ' "$TMP/out" | sed -n 2p)" = "$(grep '^all ' "$TMP/out" | sed -n 3p)" ] &&
       awk '/^all /{if ($3 < 0.9) bad=1} END{exit bad}' "$TMP/out"; then ok
    else bad "README.md's eval examples (rc $rc, $nall tables)"; cat "$TMP/readme_eval.sh"; fi
else
    skipped "README.md's eval examples: no demo model or no ffmpeg"
fi

summary
