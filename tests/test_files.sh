#!/bin/sh
# test_files.sh — README.md's "Files" rules and issue 10 (items 1, 2, 6): no output
# ever replaces an input or a file vdetect did not create, and a run killed
# at any moment leaves what it wrote so far usable.
#
#   - every output of every command is compared with every input (source,
#     --weights, --labels, --truth, images, --images contents) and with the
#     other outputs, through hard and symbolic links: exit 2, one line naming
#     both, the input byte-identical afterwards;
#   - an existing file is refused without -y (exit 2, untouched) and replaced
#     with -y; a failed run leaves an existing output as it was;
#   - a failed run unlinks nothing it did not create: a FIFO and a symlink to
#     /dev/null given as outputs are still there; no partial file remains;
#   - /dev/stdout into a redirected file writes into that file;
#   - annotate killed with SIGKILL (MP4 and Matroska) leaves NAME.partial-*
#     files: a video ffprobe decodes to >= 90% of the frames whose JSON lines
#     were written, JSON Lines that are whole lines, a COCO array lacking only
#     its "]"; the targets untouched;
#   - two Ctrl-Cs: exit 130, the file finished, renamed into place, playable.
#
# Environment: VDETECT_BIN (./vdetect), PYTHON. Uses the shipped demo model.
# Ends with "test_files: N passed, N failed, N skipped".

# shellcheck disable=SC2086
set -u
BIN=${VDETECT_BIN:-./vdetect}
PY=${PYTHON:-/usr/bin/python3}
NAME=files
. tests/lib.sh

case "$BIN" in */*) ;; *) BIN="./$BIN" ;; esac
if [ ! -x "$BIN" ] || ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
    echo "FAIL: need $BIN, ffmpeg and ffprobe"
    fail=1
    summary
fi
if [ ! -f assets/demo.vdm ]; then
    skipped "all: assets/demo.vdm is missing"
    summary
fi
W="$TMP/w.vdm"
cp assets/demo.vdm "$W"
M="--weights $W --threads 1"

ff() { ffmpeg -v error -y -nostdin "$@"; }
run() { "$BIN" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null; rc=$?; }
count_frames() {
    ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
        -of default=nw=1:nk=1 "$1" 2>/dev/null | head -n 1
}
lines() { wc -l <"$1" | tr -d ' '; }
sums() { (cd "$TMP" && md5sum x.mp4 a.png w.vdm labels.txt truth.json imgs/b.png); }
# no partial file anywhere under $TMP
no_partials() { [ -z "$(find "$TMP" -name '*.partial-*' | head -n 1)" ]; }

# ---- inputs ---------------------------------------------------------------------
ff -f lavfi -i testsrc2=s=320x240:r=25 -t 1 -c:v libx264 -pix_fmt yuv420p "$TMP/x.mp4"
ff -f lavfi -i testsrc=s=320x240 -frames:v 1 "$TMP/a.png"
mkdir -p "$TMP/imgs"
cp "$TMP/a.png" "$TMP/imgs/b.png"
printf 'c1\nc2\nc3\nc4\nc5\nc6\n' >"$TMP/labels.txt"   # the demo model's 6 classes
cat >"$TMP/truth.json" <<'EOF'
{"images": [{"id": 1, "file_name": "b.png", "width": 320, "height": 240}],
 "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 50], "area": 2500, "iscrowd": 0}],
 "categories": [{"id": 1, "name": "c1"}]}
EOF
ln "$TMP/x.mp4" "$TMP/hard.mp4"
ln -s x.mp4 "$TMP/sym.mp4"
ln -s w.vdm "$TMP/wlink.json"
for f in x.mp4 a.png; do [ -s "$TMP/$f" ] || { bad "could not generate $f"; summary; }; done
sums >"$TMP/sums"

# refused CASE ARGS...: exit 2, one line on stderr naming the clash, inputs intact
refused() {
    what=$1; shift
    run "$@"
    if [ "$rc" -eq 2 ] && [ "$(grep -c . "$TMP/err")" -eq 1 ] &&
        grep -q "same file" "$TMP/err"; then ok
    else bad "$what: exit 2 with one line (got $rc)"; fi
    if (cd "$TMP" && sums | cmp -s - sums) && [ -L "$TMP/sym.mp4" ]; then ok
    else bad "$what: an input changed"; sums | diff - "$TMP/sums" | head -n 4; fi
    check "$what: no partial file" no_partials
}

# ---- outputs that are inputs: exit 2, nothing touched ----------------------------------
refused "annotate --json SOURCE" annotate $M "$TMP/x.mp4" -o "$TMP/o.mp4" --json "$TMP/x.mp4"
refused "annotate --json SOURCE -y" annotate $M "$TMP/x.mp4" -o "$TMP/o.mp4" --json "$TMP/x.mp4" -y
refused "annotate --stats-json SOURCE" annotate $M "$TMP/x.mp4" -o "$TMP/o.mp4" \
    --stats-json "$TMP/x.mp4" -y
refused "annotate --coco hard link to SOURCE" annotate $M "$TMP/x.mp4" -o "$TMP/o.mp4" \
    --coco "$TMP/hard.mp4" -y
refused "annotate -o symlink to SOURCE" annotate $M "$TMP/x.mp4" -o "$TMP/sym.mp4" -y
refused "annotate --json --weights" annotate $M "$TMP/x.mp4" -o "$TMP/o.mp4" --json "$W" -y
refused "annotate --json symlink to --weights" annotate $M "$TMP/x.mp4" -o "$TMP/o.mp4" \
    --json "$TMP/wlink.json" -y
refused "annotate -o = --json" annotate $M "$TMP/x.mp4" -o "$TMP/o.mp4" --json "$TMP/./o.mp4"
refused "annotate --json = --coco" annotate $M "$TMP/x.mp4" -o "$TMP/o.mp4" --json "$TMP/d.json" \
    --coco "$TMP/../$(basename "$TMP")/d.json"
refused "detect --json IMAGE" detect $M "$TMP/a.png" --json "$TMP/a.png" -y
refused "detect --json --labels" detect $M --labels "$TMP/labels.txt" "$TMP/a.png" \
    --json "$TMP/labels.txt" -y
refused "bench --model-only --json --weights" bench --model-only $M --json "$W" -y
refused "bench --plot SOURCE" bench $M "$TMP/x.mp4" --plot "$TMP/x.mp4" -y
refused "bench -o SOURCE (hard link)" bench $M "$TMP/x.mp4" -o "$TMP/hard.mp4" -y
refused "eval --json TRUTH" eval $M --images "$TMP/imgs" --truth "$TMP/truth.json" \
    --json "$TMP/truth.json" -y
refused "eval --json an image of --images" eval $M --images "$TMP/imgs" \
    --truth "$TMP/truth.json" --json "$TMP/imgs/b.png" -y
refused "info --json --weights" info $M --json "$W" -y
refused "view --stats-json SOURCE" view $M "$TMP/x.mp4" --stats-json "$TMP/x.mp4" -y

# ---- existing outputs: -y or nothing ---------------------------------------------
echo "keep me" >"$TMP/old.jsonl"
echo "keep me" >"$TMP/old.mp4"
run annotate $M "$TMP/x.mp4" -o "$TMP/old.mp4" --json "$TMP/old.jsonl" -q
check "existing outputs without -y: exit 2 (got $rc)" [ "$rc" -eq 2 ]
check "existing outputs without -y: ffmpeg's one line" \
    sh -c "[ \$(grep -c . '$TMP/err') -eq 1 ] && grep -q \"already exists.*Use -y to overwrite\" '$TMP/err'"
check "existing outputs without -y: untouched" \
    sh -c "[ \"\$(cat '$TMP/old.jsonl')\" = 'keep me' ] && [ \"\$(cat '$TMP/old.mp4')\" = 'keep me' ]"
run detect $M "$TMP/a.png" --json "$TMP/old.jsonl"
check "detect: existing --json without -y: exit 2, untouched" \
    sh -c "[ $rc -eq 2 ] && [ \"\$(cat '$TMP/old.jsonl')\" = 'keep me' ]"
: >"$TMP/empty.pth"
run annotate --weights "$TMP/empty.pth" "$TMP/x.mp4" -o "$TMP/old.mp4" --json "$TMP/old.jsonl" -y
check "failed run with -y: exit 1 (got $rc)" [ "$rc" -eq 1 ]
check "failed run with -y: the existing outputs are as they were" \
    sh -c "[ \"\$(cat '$TMP/old.jsonl')\" = 'keep me' ] && [ \"\$(cat '$TMP/old.mp4')\" = 'keep me' ]"
check "failed run: no partial file left" no_partials
chmod 640 "$TMP/old.jsonl"
run annotate $M "$TMP/x.mp4" -o "$TMP/old.mp4" --json "$TMP/old.jsonl" -q -y
check "-y: exit 0 (got $rc)" [ "$rc" -eq 0 ]
check "-y: video replaced ($(count_frames "$TMP/old.mp4") frames)" [ "$(count_frames "$TMP/old.mp4")" = 25 ]
check "-y: JSON replaced ($(lines "$TMP/old.jsonl") lines)" [ "$(lines "$TMP/old.jsonl")" = 25 ]
check "-y: the replaced file keeps its permissions" [ "$(stat -c %a "$TMP/old.jsonl")" = 640 ]
check "success: no partial file left" no_partials
run detect $M "$TMP/a.png" --json "$TMP/old.jsonl" -y
check "detect -y: replaced by one line" sh -c "[ $rc -eq 0 ] && [ \$(wc -l <'$TMP/old.jsonl') -eq 1 ]"

# ---- a failed run unlinks nothing it did not create ----------------------------------
mkfifo "$TMP/fifo"
ln -s /dev/null "$TMP/null"
(cat "$TMP/fifo" >/dev/null &)
run annotate --weights "$TMP/empty.pth" "$TMP/x.mp4" -o "$TMP/e.mp4" --json "$TMP/fifo" \
    --coco "$TMP/null"
check "bad weights, outputs a FIFO and a link to /dev/null: exit 1 (got $rc)" [ "$rc" -eq 1 ]
check "the FIFO is still there" [ -p "$TMP/fifo" ]
check "the link to /dev/null is still there" \
    sh -c "[ -L '$TMP/null' ] && [ \"\$(readlink '$TMP/null')\" = /dev/null ] && [ -c /dev/null ]"
check "no video left" [ ! -e "$TMP/e.mp4" ]
check "no partial left" no_partials
(cat "$TMP/fifo" >/dev/null &)
run detect --weights "$TMP/empty.pth" "$TMP/a.png" --json "$TMP/fifo"
check "detect, bad weights, --json FIFO: exit 1, FIFO kept" sh -c "[ $rc -eq 1 ] && [ -p '$TMP/fifo' ]"
run bench --model-only --weights "$TMP/empty.pth" --json "$TMP/null" --plot "$TMP/p.svg"
check "bench, bad weights, --json link to /dev/null: exit 1, link kept, no plot" \
    sh -c "[ $rc -eq 1 ] && [ -L '$TMP/null' ] && [ ! -e '$TMP/p.svg' ]"
check "bench: no partial left" no_partials
# /dev/stdout into a file the shell opened: written into it, not renamed over it
"$BIN" detect $M "$TMP/a.png" --json /dev/stdout >"$TMP/redirected" 2>"$TMP/err"
rc=$?
check "--json /dev/stdout > FILE: exit 0 (got $rc), the line lands in FILE" \
    sh -c "[ $rc -eq 0 ] && grep -q '\"image\"' '$TMP/redirected'"
echo "earlier" >"$TMP/appended"
"$BIN" detect $M "$TMP/a.png" --json /dev/stdout >>"$TMP/appended" 2>"$TMP/err"
check "--json /dev/stdout >> FILE: appended, the earlier line kept" \
    sh -c "[ \"\$(head -n 1 '$TMP/appended')\" = earlier ] && [ \$(wc -l <'$TMP/appended') -eq 2 ]"
"$BIN" annotate $M "$TMP/x.mp4" -o "$TMP/n.mkv" --json - -q >"$TMP/stdout.jsonl" 2>"$TMP/err"
check "annotate --json -: 25 lines on stdout" [ "$(lines "$TMP/stdout.jsonl")" = 25 ]

# ---- SIGKILL mid-run: the partial files are usable -----------------------------------
ff -f lavfi -i testsrc2=s=320x240:r=25 -f lavfi -i sine=f=440:sample_rate=48000 -t 120 \
   -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest "$TMP/long.mp4"
# wait_lines GLOB N: until the file matching GLOB has N lines (60 s at most)
wait_lines() {
    k=0
    while [ $k -lt 600 ]; do
        f=$(ls $1 2>/dev/null | head -n 1)
        [ -n "$f" ] && [ "$(lines "$f")" -ge "$2" ] && return 0
        sleep 0.1; k=$((k + 1))
    done
    return 1
}
for ext in mp4 mkv; do
    rm -f "$TMP"/k.*
    # --stride/--no-draw: the writer is what is tested, so detect every 10th frame
    "$BIN" annotate $M "$TMP/long.mp4" -o "$TMP/k.$ext" --json "$TMP/k.jsonl" \
        --coco "$TMP/k.json" --stride 10 --no-draw -q >"$TMP/out" 2>"$TMP/err" </dev/null &
    pid=$!
    if ! wait_lines "$TMP/k.partial-*.jsonl" 400; then
        kill -9 "$pid"; wait "$pid"
        bad "$ext: no partial JSON Lines file with 400 lines within 60 s"
        continue
    fi
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
    check "$ext: the targets do not exist after SIGKILL" \
        sh -c "[ ! -e '$TMP/k.$ext' ] && [ ! -e '$TMP/k.jsonl' ] && [ ! -e '$TMP/k.json' ]"
    pv=$(ls "$TMP"/k.partial-*."$ext" 2>/dev/null | head -n 1)
    pj=$(ls "$TMP"/k.partial-*.jsonl 2>/dev/null | head -n 1)
    pc=$(ls "$TMP"/k.partial-*.json 2>/dev/null | head -n 1)
    if [ -z "$pv" ] || [ -z "$pj" ] || [ -z "$pc" ]; then
        bad "$ext: partial files named NAME.partial-*.EXT: $(ls "$TMP" | grep '^k\.' | tr '\n' ' ')"
        continue
    fi
    ok
    nl=$(lines "$pj"); nf=$(count_frames "$pv")
    check "$ext: SIGKILL after $nl frames: ffprobe decodes $nf (>= 90%)" \
        sh -c "[ -n '$nf' ] && [ \$(( ${nf:-0} * 10 )) -ge \$(( $nl * 9 )) ]"
    check "$ext: the partial video decodes without errors" \
        sh -c "[ -z \"\$(ffmpeg -v error -nostdin -i '$pv' -f null - 2>&1)\" ]"
    check "$ext: partial JSON Lines are whole lines" "$PY" -c "
import json, sys
data = open('$pj').read()
assert data.endswith('\n'), 'last line cut'
for i, l in enumerate(data.splitlines()):
    assert json.loads(l)['frame'] == i"
    check "$ext: partial COCO array lacks only its ]" "$PY" -c "
import json
a = json.loads(open('$pc').read() + '\n]')
assert isinstance(a, list)"
done

# ---- two Ctrl-Cs: the file is still finished ------------------------------------------
rm -f "$TMP"/k.*
"$BIN" annotate $M "$TMP/long.mp4" -o "$TMP/k.mp4" --json "$TMP/k.jsonl" --coco "$TMP/k.json" \
    --queue 4 -q >"$TMP/out" 2>"$TMP/err" </dev/null &
pid=$!
if wait_lines "$TMP/k.partial-*.jsonl" 20; then
    kill -INT "$pid"; sleep 0.05; kill -INT "$pid"
fi
wait "$pid"
rc=$?
check "two Ctrl-Cs: exit 130 (got $rc)" [ "$rc" -eq 130 ]
n=$(count_frames "$TMP/k.mp4")
check "two Ctrl-Cs: the file is in place and plays ($n frames)" [ "${n:-0}" -gt 0 ]
check "two Ctrl-Cs: every frame decodes" \
    sh -c "[ -z \"\$(ffmpeg -v error -nostdin -i '$TMP/k.mp4' -f null - 2>&1)\" ]"
check "two Ctrl-Cs: JSON lines ($(lines "$TMP/k.jsonl")) = frames ($n)" [ "$(lines "$TMP/k.jsonl")" = "$n" ]
check "two Ctrl-Cs: COCO is a whole array" "$PY" -c "
import json; assert isinstance(json.load(open('$TMP/k.json')), list)"
check "two Ctrl-Cs: no partial file left" no_partials

summary
