#!/bin/sh
# test_annotate_outputs.sh — `vdetect annotate` writes what ffmpeg users expect
# (issue 14): an image sequence (-o out/f_%04d.png: one file per frame with the
# boxes where the JSON says, an existing frame file refused without -y, an input
# never written onto, only the run's own frames removed on failure), a GIF, a
# pipe (-o - -f FORMAT; refused without -f), a UDP and (if this FFmpeg has
# libsrt) an SRT stream on loopback; COCO results not cut at --score-thresh;
# JSON times without float noise; the end summary listing the outputs, with the
# detection time instead of capture->display; held frames (--stride) marked.
#
# Uses the demo model (assets/demo.vdm) on assets/sample.mp4, whose detections
# are real. Environment: VDETECT_BIN (./vdetect), PYTHON (/usr/bin/python3).
# Ends with "test_annotate_outputs: N passed, N failed, N skipped".

# shellcheck disable=SC2086
set -u
BIN=${VDETECT_BIN:-./vdetect}
PY=${PYTHON:-/usr/bin/python3}
M="--weights assets/demo.vdm --threads 1"
CLIP=assets/sample.mp4

NAME=annotate_outputs
. tests/lib.sh

case "$BIN" in */*) ;; *) BIN="./$BIN" ;; esac
if [ ! -x "$BIN" ] || ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
    echo "FAIL: need $BIN, ffmpeg and ffprobe"
    fail=1
    summary
fi
if [ ! -f assets/demo.vdm ] || [ ! -f "$CLIP" ]; then
    skipped "all: no demo model or sample clip"
    summary
fi

run() { "$BIN" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null; rc=$?; }
count_frames() {
    ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=nb_read_frames \
        -of default=nw=1:nk=1 "$1" 2>/dev/null | head -n 1
}
# a free UDP port on loopback (for a receiver that binds it itself)
free_port() {
    "$PY" -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0))
print(s.getsockname()[1])"
}

# ---- image sequence ----------------------------------------------------------------
mkdir -p "$TMP/seq" "$TMP/raw"
run annotate $M "$CLIP" --frames 10 -o "$TMP/seq/f_%04d.png" --json "$TMP/seq.jsonl"
check "sequence: exit 0 (got $rc)" [ "$rc" -eq 0 ]
n=$(ls "$TMP/seq" | grep -c '^f_[0-9][0-9][0-9][0-9]\.png$')
check "sequence: 10 files f_0001.png .. f_0010.png (got $n)" \
    sh -c "[ $n -eq 10 ] && [ -f '$TMP/seq/f_0001.png' ] && [ -f '$TMP/seq/f_0010.png' ] && [ \$(ls '$TMP/seq' | wc -l) -eq 10 ]"
check "sequence: a frame file is a PNG" \
    [ "$(ffprobe -v error -show_entries stream=codec_name -of csv=p=0 "$TMP/seq/f_0004.png")" = png ]
check "sequence: the summary names the first and last file" \
    grep -q "wrote $TMP/seq/f_0001.png .. $TMP/seq/f_0010.png (10 frames), $TMP/seq.jsonl (10 JSON lines)" "$TMP/err"
# the same frames undrawn: every box of the JSON line is drawn where it says
run annotate $M "$CLIP" --frames 10 -o "$TMP/raw/f_%04d.png" --no-draw
for f in seq raw; do
    ffmpeg -v error -nostdin -y -i "$TMP/$f/f_0004.png" -f rawvideo -pix_fmt rgb24 "$TMP/$f.rgb"
done
"$PY" - "$TMP/seq.jsonl" "$TMP/seq.rgb" "$TMP/raw.rgb" <<'EOF' >"$TMP/err" 2>&1
import json, sys
line = [json.loads(l) for l in open(sys.argv[1])][3]          # f_0004.png is frame 3
W, H = line["width"], line["height"]
drawn, raw = open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read()
assert len(drawn) == len(raw) == W * H * 3, (len(drawn), W, H)
def px(buf, x, y):
    i = (y * W + x) * 3
    return buf[i:i + 3]
dets = line["detections"]
assert dets, "no detections on frame 3"
changed = sum(drawn[i] != raw[i] for i in range(len(raw)))
inside = 0
for d in dets:
    x1, y1, x2, y2 = d["box"]
    # the outline lies inside the box: its left and right edges at 3/4 height
    # (a box at the top edge has its label inside, at the top)
    ym = int(y1 + 0.75 * (y2 - y1))
    for x in (int(x1) + 1, min(int(-(-x2 // 1)) - 2, W - 1)):
        assert px(drawn, x, ym) != px(raw, x, ym), ("no line at", x, ym, d)
    # and its inside is the picture (unless another box's label covers it)
    inside += px(drawn, int((x1 + x2) / 2), ym) == px(raw, int((x1 + x2) / 2), ym)
assert inside > len(dets) / 2, ("box insides drawn over", inside, len(dets))
assert changed < len(raw) / 2, "most of the frame changed"
EOF
check "sequence: boxes in frame file 4 where its JSON line says" [ $? -eq 0 ]

# refused without -y: the first file, or only a later one, already there
touch -d '2001-01-01' "$TMP/seq/f_0001.png"
run annotate $M "$CLIP" --frames 3 -o "$TMP/seq/f_%04d.png"
check "sequence exists, no -y: exit 2 (got $rc)" [ "$rc" -eq 2 ]
check "sequence exists, no -y: names f_0001.png and -y" \
    sh -c "grep -q \"File '$TMP/seq/f_0001.png' already exists\" '$TMP/err' && grep -q -- '-y' '$TMP/err'"
check "sequence exists, no -y: the old file untouched" \
    [ "$(stat -c %Y "$TMP/seq/f_0001.png")" = "$(date -d 2001-01-01 +%s)" ]
mkdir -p "$TMP/late"
echo keep >"$TMP/late/f_0250.png"
run annotate $M "$CLIP" --frames 3 -o "$TMP/late/f_%04d.png"
check "sequence: only f_0250.png exists, no -y: exit 2 (got $rc), nothing written" \
    sh -c "[ $rc -eq 2 ] && [ \$(ls '$TMP/late' | wc -l) -eq 1 ] && grep -q f_0250.png '$TMP/err'"
# an input is never written onto, even with -y
run annotate $M "$TMP/seq/f_0002.png" -o "$TMP/seq/f_%04d.png" -y
check "sequence: the SOURCE is one of its files: exit 2 (got $rc)" \
    sh -c "[ $rc -eq 2 ] && grep -q 'may not replace an input' '$TMP/err'"
run annotate $M "$CLIP" --frames 3 -o "$TMP/seq/f_%04d.png" --json "$TMP/seq/f_0003.png" -y
check "sequence: another output is one of its files: exit 2 (got $rc)" [ "$rc" -eq 2 ]
run annotate $M "$CLIP" --frames 3 -o "$TMP/one.png"
check "a single .png without a frame number: exit 2 (got $rc)" \
    sh -c "[ $rc -eq 2 ] && grep -q 'f_%04d.png' '$TMP/err' && [ ! -e '$TMP/one.png' ]"
# failure: only the frames this run created are removed, an existing one stays
ffmpeg -v error -nostdin -y -i "$CLIP" -t 4 -c copy -movflags +faststart "$TMP/fs.mp4"
sz=$(wc -c <"$TMP/fs.mp4" | tr -d ' ')
head -c $((sz / 2)) "$TMP/fs.mp4" >"$TMP/trunc.mp4"        # index says more frames than there are
mkdir -p "$TMP/fail"
echo theirs >"$TMP/fail/f_0002.png"
run annotate $M "$TMP/trunc.mp4" -o "$TMP/fail/f_%04d.png" -y
check "sequence, input fails midway: exit 1 (got $rc)" [ "$rc" -eq 1 ]
check "sequence, input fails midway: only the file that was there is left" \
    sh -c "[ \"\$(ls '$TMP/fail')\" = f_0002.png ]"

# ---- GIF ------------------------------------------------------------------------------
run annotate $M "$CLIP" --frames 8 -o "$TMP/x.gif"
check "gif: exit 0 (got $rc)" [ "$rc" -eq 0 ]
check "gif: ffprobe says gif" \
    [ "$(ffprobe -v error -show_entries format=format_name -of csv=p=0 "$TMP/x.gif")" = gif ]
check "gif: 8 frames (got $(count_frames "$TMP/x.gif"))" [ "$(count_frames "$TMP/x.gif")" = 8 ]

# ---- standard output --------------------------------------------------------------------
"$BIN" annotate $M "$CLIP" --frames 8 -o - -f mpegts >"$TMP/pipe.ts" 2>"$TMP/err" </dev/null
rc=$?
check "pipe: -o - -f mpegts > file: exit 0 (got $rc)" [ "$rc" -eq 0 ]
check "pipe: mpegts with 8 frames" sh -c "[ \"\$(ffprobe -v error -show_entries format=format_name -of csv=p=0 '$TMP/pipe.ts')\" = mpegts ] && [ \"$(count_frames "$TMP/pipe.ts")\" = 8 ]"
check "pipe: the summary says standard output" grep -q 'wrote standard output (mpegts, 8 frames)' "$TMP/err"
n=$("$BIN" annotate $M "$CLIP" --frames 6 -o - -f matroska -q 2>"$TMP/err" </dev/null |
    ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
        -of default=nw=1:nk=1 -)
check "pipe: -o - -f matroska | ffprobe - reads 6 frames (got $n)" [ "$n" = 6 ]
run annotate $M "$CLIP" --frames 3 -o -
check "pipe without -f: exit 2 (got $rc), says -f, writes nothing" \
    sh -c "[ $rc -eq 2 ] && grep -q -- '-f FORMAT' '$TMP/err' && [ ! -s '$TMP/out' ]"
run annotate $M "$CLIP" --frames 3 -o - -f nosuchformat
check "unknown -f: exit 2 (got $rc)" [ "$rc" -eq 2 ]
run annotate $M "$CLIP" --frames 3 -o - -f mpegts --json -
check "pipe and --json - both on standard output: exit 2 (got $rc)" [ "$rc" -eq 2 ]

# ---- UDP on loopback ----------------------------------------------------------------------
# the receiver binds a free port, says which, and stores every datagram until
# none came for 3 s (30 s for the first): the stream exactly as sent
"$PY" -c "
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(('127.0.0.1', 0))
print(s.getsockname()[1], flush=True)
s.settimeout(30)
with open(sys.argv[1], 'wb') as f:
    while True:
        try:
            f.write(s.recv(65536))
        except socket.timeout:
            break
        s.settimeout(3)" "$TMP/udp.ts" >"$TMP/port" &
rx=$!
i=0
while [ ! -s "$TMP/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
port=$(cat "$TMP/port")
run annotate $M "$CLIP" --frames 25 -o "udp://127.0.0.1:$port" -f mpegts
check "udp: exit 0 (got $rc)" [ "$rc" -eq 0 ]
check "udp: the summary names the URL" grep -q "wrote udp://127.0.0.1:$port (mpegts stream, 25 frames)" "$TMP/err"
wait "$rx"
n=$(count_frames "$TMP/udp.ts")
check "udp: the receiver got every frame (${n:-0} of 25)" [ "${n:-0}" -eq 25 ]

# ---- SRT on loopback ----------------------------------------------------------------------
if ffmpeg -hide_banner -protocols 2>/dev/null | grep -qw srt; then
    port=$(free_port)
    timeout 60 ffmpeg -v error -nostdin -y -i "srt://127.0.0.1:$port?mode=listener" \
        -map 0:v -c copy "$TMP/srt.ts" </dev/null 2>"$TMP/srt.err" &
    rx=$!
    sleep 1
    run annotate $M "$CLIP" --frames 25 -o "srt://127.0.0.1:$port"
    check "srt (mpegts by default): exit 0 (got $rc)" [ "$rc" -eq 0 ]
    wait "$rx"      # the caller's disconnect ends the listener's input
    n=$(count_frames "$TMP/srt.ts")
    check "srt: the receiver got every frame (${n:-0} of 25)" [ "${n:-0}" -eq 25 ]
else
    skipped "srt: this FFmpeg has no srt protocol (built without libsrt)"
fi

# ---- COCO, JSON times, summary ------------------------------------------------------------
run annotate $M "$CLIP" --frames 40 -o "$TMP/c.mkv" --json "$TMP/c.jsonl" --coco "$TMP/c.json" \
    --stats-json "$TMP/c.stats.json"
check "coco run: exit 0 (got $rc)" [ "$rc" -eq 0 ]
"$PY" - "$TMP/c.json" "$TMP/c.jsonl" <<'EOF' >"$TMP/pyerr" 2>&1
import json, sys
coco = json.load(open(sys.argv[1]))
lines = [json.loads(l) for l in open(sys.argv[2])]
low = [d for d in coco if d["score"] < 0.5]
assert low, "no COCO result below 0.5: cut at --score-thresh"
assert min(d["score"] for d in coco) >= 0.05 - 1e-6, "below the model's box_score_thresh"
# at or above the drawing threshold they are exactly the JSON Lines' detections
high = sum(d["score"] >= 0.5 for d in coco)
assert high == sum(len(o["detections"]) for o in lines), (high, len(coco))
print(len(low), len(coco))
EOF
check "coco: results below --score-thresh kept ($(tail -n 1 "$TMP/pyerr"): below 0.5 / all)" [ $? -eq 0 ]
check "summary: detection time per frame, no capture->display" \
    sh -c "grep -q '^annotate: 40 frames: .*detect per frame: mean [0-9]* ms, p50 [0-9]* ms, max [0-9]* ms' '$TMP/err' && ! grep -q 'capture->display' '$TMP/err'"
check "summary: ends with every output written" \
    sh -c "tail -n 1 '$TMP/err' | grep -q '^annotate: wrote $TMP/c.mkv (40 frames), $TMP/c.jsonl (40 JSON lines), $TMP/c.json ([0-9]* COCO results), $TMP/c.stats.json (run report)\$'"
run annotate $M "$CLIP" --frames 5 -o "$TMP/c2.mkv" --coco "$TMP/c2.json" --score-thresh 0.9
check "coco: --score-thresh does not change it" "$PY" -c "
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
assert b == [d for d in a if d['image_id'] < 5], (len(a), len(b))" "$TMP/c.json" "$TMP/c2.json"
check "json: every pts is written to at most 6 decimals, no float noise" "$PY" -c "
import re, sys
n = 0
for i, l in enumerate(open(sys.argv[1])):
    m = re.search(r'\"pts\": ([^,]*),', l)
    assert m and re.fullmatch(r'-?\d+(\.\d{0,5}[1-9])?', m.group(1)), l[:60]
    assert abs(float(m.group(1)) - i / 25) < 1e-6, m.group(1)
    n += 1
assert n == 40" "$TMP/c.jsonl"

# ---- --stride: held frames are marked in the picture ----------------------------------------
# a still source: every frame and every box the same, so only the mark differs
SRC="lavfi:color=c=0x5080a0:size=320x240:rate=25"
mkdir -p "$TMP/s1" "$TMP/s3"
run annotate $M "$SRC" --frames 3 -o "$TMP/s1/f_%d.png"
run annotate $M "$SRC" --frames 3 --stride 3 -o "$TMP/s3/f_%d.png"
check "stride 3 on a still source: exit 0 (got $rc)" [ "$rc" -eq 0 ]
same() { cmp -s "$1" "$2"; }
for f in s1/f_1 s1/f_2 s3/f_1 s3/f_2; do
    ffmpeg -v error -nostdin -y -i "$TMP/$f.png" -f rawvideo -pix_fmt rgb24 "$TMP/$(echo $f | tr / _).rgb"
done
check "stride 1: the still frames are identical (the source is still)" same "$TMP/s1_f_1.rgb" "$TMP/s1_f_2.rgb"
check "stride 3: the held frame 1 looks different from the detected frame 0" \
    sh -c "! cmp -s '$TMP/s3_f_1.rgb' '$TMP/s3_f_2.rgb'"
check "stride 3: the held frame differs from the same frame at stride 1" \
    sh -c "! cmp -s '$TMP/s3_f_2.rgb' '$TMP/s1_f_2.rgb'"
run annotate --help
check "--help says how held frames look" grep -q 'held from frame' "$TMP/out"

# a sequence into folders that do not exist yet: made, as detect --save makes its own
run annotate $M "$CLIP" --frames 3 -o "$TMP/new/deeper/f_%04d.png"
check "sequence into a missing folder: made (rc $rc)" \
    sh -c "[ $rc -eq 0 ] && [ -f '$TMP/new/deeper/f_0003.png' ]"

summary
