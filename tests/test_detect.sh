#!/bin/sh
# test_detect.sh — detect on many images, as `yolo predict` users expect (issue 14):
# DIR (name order), -r (subdirectories, hidden ones skipped), quoted patterns,
# --save DIR (annotated PNGs named after the inputs, the tree mirrored, equal
# names told apart, "annotated" in the JSON line, the Files rules: existing
# files need -y, never an input, never a directory of inputs), and a video or
# an animation refused with a pointer to annotate.
#
# Run from the repository root (tests/run.sh does) with the shipped demo model.
# Environment: VDETECT_BIN (default ./vdetect), PYTHON (default /usr/bin/python3).
# Ends with "test_detect: N passed, N failed, N skipped".
set -u
BIN=${VDETECT_BIN:-./vdetect}
PY=${PYTHON:-/usr/bin/python3}
NAME=detect
. tests/lib.sh
case "$BIN" in */*) ;; *) BIN="./$BIN" ;; esac
if [ ! -x "$BIN" ] || [ ! -f assets/demo.vdm ]; then
    echo "FAIL: needs $BIN and assets/demo.vdm (make)"
    fail=1
    summary
fi
M="--weights assets/demo.vdm --threads 1"
IMG=tests/data/street.png

# run ARGS...: vdetect detect -q ARGS, leaving $rc, $TMP/out and $TMP/err
run() { "$BIN" detect -q $M "$@" >"$TMP/out" 2>"$TMP/err"; rc=$?; }
# names: the base names of the JSON lines' images (or of "annotated" with -a), in order
names() {
    "$PY" -c '
import json, sys
key = "annotated" if sys.argv[1] == "-a" else "image"
print(" ".join((json.loads(l).get(key) or "-").split(sys.argv[2])[-1] for l in open(sys.argv[3])))' \
        "$@" "$TMP/out"
}

# a tree: 2 images on top, 1 in a subdirectory, 1 deeper, 1 hidden, 1 non-image
T="$TMP/in"
mkdir -p "$T/sub/deep" "$T/.thumbs" "$TMP/other"
cp "$IMG" "$T/b.png"; cp "$IMG" "$T/a.png"; cp "$IMG" "$T/sub/c.png"
cp "$IMG" "$T/sub/deep/d.png"; cp "$IMG" "$T/.thumbs/e.png"; echo text >"$T/notes.txt"
cp "$IMG" "$TMP/other/a.png"

run "$T"
check "DIR: its images by name, not below (got '$(names x "$T/" 2>&1)')" \
    [ "$rc" -eq 0 ] && [ "$(names x "$T/")" = "a.png b.png" ]
run -r "$T"
check "-r DIR: depth first in name order, hidden skipped (got '$(names x "$T/" 2>&1)')" \
    [ "$rc" -eq 0 ] && [ "$(names x "$T/")" = "a.png b.png sub/c.png sub/deep/d.png" ]
run "$T/*.png" "$TMP/other/*"
check "quoted patterns: their matches (got '$(names x / 2>&1)', rc $rc)" \
    [ "$rc" -eq 0 ] && [ "$(names x /)" = "a.png b.png a.png" ]
run "$TMP/nothing-*.png"
check "a pattern without matches: exit 1, named (rc $rc)" \
    sh -c "[ $rc -eq 1 ] && grep -q 'nothing-\*.png: no file matches' '$TMP/err'"
mkdir -p "$TMP/empty/sub"; cp "$IMG" "$TMP/empty/sub/x.png"
run "$TMP/empty"
check "DIR with images only below it: error suggests -r (rc $rc)" \
    sh -c "[ $rc -eq 1 ] && grep -q -- '-r: also in its subdirectories' '$TMP/err'"

run -r "$TMP/nophotos/" --json "$TMP/none.jsonl" --save "$TMP/none-saved"
check "no input exists: exit 1, said once, no output left (rc $rc)" \
    sh -c "[ $rc -eq 1 ] && grep -q 'nophotos/: No such file' '$TMP/err' && \
           [ ! -e '$TMP/none.jsonl' ] && [ ! -e '$TMP/none-saved' ] && \
           ! ls '$TMP'/none.partial* >/dev/null 2>&1"

# ---- --save DIR ----
S="$TMP/saved"
run -r "$T" "$TMP/other/a.png" --save "$S" --json "$TMP/save.jsonl"
cp "$TMP/save.jsonl" "$TMP/out" 2>/dev/null
check "--save: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
check "--save: names mirror the tree, equal names told apart (got '$(names -a "$S/" 2>&1)')" \
    [ "$(names -a "$S/")" = "a.png b.png sub/c.png sub/deep/d.png a-2.png" ]
check "--save: the files are there" \
    sh -c "[ -f '$S/a.png' ] && [ -f '$S/a-2.png' ] && [ -f '$S/sub/deep/d.png' ] && \
           [ \$(find '$S' -type f | wc -l) -eq 5 ]"
check "--save: no partial files left" sh -c "! find '$S' -name '*partial*' | grep -q ."
# the annotated copy differs from the input exactly around the detections
if "$PY" - "$IMG" "$S/a.png" "$TMP/save.jsonl" >"$TMP/py" 2>&1 <<'EOF'
import json, subprocess, sys
def rgb(p):
    out = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", p, "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    return out
a, b = rgb(sys.argv[1]), rgb(sys.argv[2])
assert len(a) == len(b), (len(a), len(b))
line = json.loads(open(sys.argv[3]).readline())
w, h = line["width"], line["height"]
dets = [d for d in line["detections"]]
assert dets, "the demo model finds nothing in the street image"
x1, y1, x2, y2 = (int(round(v)) for v in dets[0]["box"])
# a pixel on the box's left edge (mid height) changed; one far from every box did not
y = (y1 + y2) // 2
i = (y * w + max(x1, 0)) * 3
assert a[i:i + 3] != b[i:i + 3], "box edge not drawn"
def inside(x, y):   # a box with a margin, and its label (above or inside, up to 12 px a letter)
    return any(d["box"][0] - 40 <= x <= max(d["box"][2], d["box"][0] + 12 * len(d["name"] or "") + 60) + 40
               and d["box"][1] - 40 <= y <= d["box"][3] + 40 for d in dets)
far = [(x, y) for y in range(0, h, 7) for x in range(0, w, 7) if not inside(x, y)]
assert far, "no pixel far from the boxes"
changed = sum(a[(y * w + x) * 3:(y * w + x) * 3 + 3] != b[(y * w + x) * 3:(y * w + x) * 3 + 3]
              for x, y in far)
assert changed == 0, f"{changed} pixels far from the boxes changed"
print("ok")
EOF
then ok; else bad "--save: boxes drawn where the JSON says, nothing else changed ($(tail -n 1 "$TMP/py"))"; fi

before=$(cksum "$S/a.png")
run "$T" --save "$S"
check "--save again: refused before any work, exit 2 (rc $rc)" \
    sh -c "[ $rc -eq 2 ] && grep -q 'already exist' '$TMP/err' && grep -q -- '-y' '$TMP/err'"
check "--save refused: the earlier output untouched" [ "$(cksum "$S/a.png")" = "$before" ]
run "$T" --save "$S" -y
check "--save -y: replaced (rc $rc)" [ "$rc" -eq 0 ]
# --save inside a -r tree: the second run leaves the annotated copies out
run -r "$T" --save "$T/annotated"
run -r "$T" --save "$T/annotated" -y
check "-r with --save inside the tree: its copies left out, said so (rc $rc)" \
    sh -c "[ $rc -eq 0 ] && [ \$(wc -l <'$TMP/out') -eq 4 ] && grep -q 'inside --save' '$TMP/err'"
rm -rf "$T/annotated"
run "$T" --save "$T"
check "--save into the inputs' directory: refused, exit 2 (rc $rc)" \
    sh -c "[ $rc -eq 2 ] && grep -q 'mix with the images' '$TMP/err'"
cp "$IMG" "$TMP/same.png"; mkdir -p "$TMP/out2"; cp "$IMG" "$TMP/out2/same.png"
run "$TMP/out2/same.png" --save "$TMP/out2" -y
check "--save onto an input, even with -y: refused (rc $rc)" \
    sh -c "[ $rc -eq 2 ] && cmp -s '$IMG' '$TMP/out2/same.png'"
echo x >"$TMP/afile"
run "$T" --save "$TMP/afile"
check "--save FILE: not a directory, exit 2 (rc $rc)" \
    sh -c "[ $rc -eq 2 ] && grep -q 'not a directory' '$TMP/err'"

# ---- videos and animations: refused, with the command that reads them ----
ffmpeg -v error -nostdin -y -f lavfi -i testsrc2=s=160x120:r=5 -t 1 "$TMP/clip.mp4"
ffmpeg -v error -nostdin -y -f lavfi -i testsrc2=s=160x120:r=5 -t 1 "$TMP/anim.gif"
ffmpeg -v error -nostdin -y -f lavfi -i testsrc2=s=160x120:r=5 -frames:v 1 "$TMP/still.gif"
run "$TMP/clip.mp4" "$TMP/anim.gif" "$TMP/still.gif"
check "video and animated GIF refused, still GIF read, exit 1 (rc $rc, $(wc -l <"$TMP/out") lines)" \
    sh -c "[ $rc -eq 1 ] && [ \$(wc -l <'$TMP/out') -eq 1 ] && grep -q 'still.gif' '$TMP/out'"
check "the refusal says why and points to annotate" \
    sh -c "grep -q 'clip.mp4: holds more than one frame' '$TMP/err' && \
           grep -q '2 inputs are a video or an animation: .vdetect annotate' '$TMP/err'"

summary
