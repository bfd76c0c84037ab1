#!/bin/sh
# test_annotate.sh — `vdetect annotate` on clips generated here with ffmpeg
# (issue 4 "Done when"): output frames = input frames with the same per-frame
# PTS (constant and variable frame rate), audio stream-copied with the same
# codec and duration, rotation and odd sizes kept, JSON lines = frames,
# --stride holds boxes, COCO results parse, SIGINT mid-run exits 130 leaving a
# file that decodes whole, corrupt/truncated input or an unwritable output
# exits 1 leaving nothing behind, and a long audio tail past the stream-copy
# queue's bound is counted (summary, --stats-json) rather than lost silently.
#
# Environment: VDETECT_BIN (./vdetect), VDETECT_FIXTURES (tests/fixtures; needs
# parity/mnv3_320_odd/model_zip.pth, else everything is skipped), PYTHON.
# Ends with "test_annotate: N passed, N failed, N skipped".

# shellcheck disable=SC2086
set -u
BIN=${VDETECT_BIN:-./vdetect}
FIX=${VDETECT_FIXTURES:-tests/fixtures}
PY=${PYTHON:-/usr/bin/python3}
CKPT="$FIX/parity/mnv3_320_odd/model_zip.pth"
M="--weights $CKPT --arch fasterrcnn_mobilenet_v3_large_320_fpn --threads 1"
[ -f assets/demo.vdm ] && [ ! -f "$CKPT" ] && M="--weights assets/demo.vdm --threads 1"

NAME=annotate
. tests/lib.sh

case "$BIN" in */*) ;; *) BIN="./$BIN" ;; esac
if [ ! -x "$BIN" ] || ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
    echo "FAIL: need $BIN, ffmpeg and ffprobe"
    fail=1
    summary
fi
if [ ! -f "$CKPT" ] && [ ! -f assets/demo.vdm ]; then
    skipped "all: no checkpoint ($CKPT)"
    summary
fi

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
ff() { ffmpeg -v error -y -nostdin "$@"; }

# count_frames FILE: decoded video frames
count_frames() {
    ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
        -of default=nw=1:nk=1 "$1" | head -n 1
}
# pts_list FILE: one presentation time per decoded video frame
pts_list() {
    ffprobe -v error -select_streams v:0 -show_entries frame=pts_time -of default=nw=1:nk=1 "$1" |
        grep .
}
# same_pts A B: equal frame count and every PTS within 1 ms
same_pts() {
    pts_list "$1" >"$TMP/pa"; pts_list "$2" >"$TMP/pb"
    [ "$(wc -l <"$TMP/pa")" -eq "$(wc -l <"$TMP/pb")" ] && [ -s "$TMP/pa" ] &&
        paste -d' ' "$TMP/pa" "$TMP/pb" | awk '{ d = $1 - $2; if (d < 0) d = -d;
            if (d > 0.0015 || $1 == "" || $2 == "") bad = 1 } END { exit bad }'
}
stream_field() { # stream_field FILE SELECTOR FIELD
    ffprobe -v error -select_streams "$2" -show_entries "stream=$3" -of default=nw=1:nk=1 "$1" |
        head -n 1
}
# upright size "WxH" (rotation applied), as players show it
upright() {
    w=$(stream_field "$1" v:0 width); h=$(stream_field "$1" v:0 height)
    rot=$(ffprobe -v error -select_streams v:0 -show_entries stream_side_data=rotation \
        -of default=nw=1:nk=1 "$1" | tr -d ' ' | head -n 1)
    case "$rot" in 90|-90|270|-270) echo "${h}x$w" ;; *) echo "${w}x$h" ;; esac
}
# json_lines_ok FILE N W H: N lines, each a JSON object with frame == line
# number, the size, a detections list, and held frames marked as such
json_lines_ok() {
    "$PY" - "$@" <<'EOF'
import json, sys
path, n, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
lines = open(path).read().split("\n")
assert lines[-1] == "", "last line not terminated"
lines = lines[:-1]
assert len(lines) == n, "%d lines, want %d" % (len(lines), n)
for i, l in enumerate(lines):
    o = json.loads(l)
    assert o["frame"] == i and o["width"] == w and o["height"] == h, l[:80]
    assert isinstance(o["pts"], (int, float)) and isinstance(o["detections"], list)
    for d in o["detections"]:
        assert len(d["box"]) == 4 and 0 <= d["score"] <= 1 and d["label"] >= 1
EOF
}
run() { "$BIN" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null; rc=$?; }

# ---- media --------------------------------------------------------------------
ff -f lavfi -i testsrc2=s=320x240:r=25 -f lavfi -i sine=f=440:sample_rate=48000 -t 3 \
   -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest "$TMP/cfr.mp4"
ff -f lavfi -i testsrc2=s=320x240:r=30 -f lavfi -i sine=f=330:sample_rate=44100 -t 2 \
   -vf "select='not(eq(mod(n\,4)\,1))'" -fps_mode vfr -c:v libx264 -pix_fmt yuv420p \
   -c:a libopus -shortest "$TMP/vfr.mkv" ||
ff -f lavfi -i testsrc2=s=320x240:r=30 -f lavfi -i sine=f=330:sample_rate=44100 -t 2 \
   -vf "select='not(eq(mod(n\,4)\,1))'" -vsync vfr -c:v libx264 -pix_fmt yuv420p \
   -c:a aac -shortest "$TMP/vfr.mkv"
ff -f lavfi -i testsrc2=s=320x240:r=25 -t 1 -c:v libx264 -pix_fmt yuv420p "$TMP/r0.mp4"
ff -i "$TMP/r0.mp4" -c copy -metadata:s:v:0 rotate=90 "$TMP/rot.mp4"
ff -f lavfi -i testsrc2=s=333x251:r=25 -t 1 -c:v libx264 -pix_fmt yuv444p "$TMP/odd.mkv"
for f in cfr.mp4 vfr.mkv rot.mp4 odd.mkv; do
    [ -s "$TMP/$f" ] || { bad "could not generate $f with ffmpeg"; summary; }
done

# ---- each clip: frames, PTS, size, audio, JSON ---------------------------------
for f in cfr.mp4 vfr.mkv rot.mp4 odd.mkv; do
    o="$TMP/out_$f"
    run annotate $M "$TMP/$f" -o "$o" --json "$TMP/$f.jsonl" --stamp
    if [ "$rc" -ne 0 ] || [ ! -s "$o" ]; then
        bad "$f: exit $rc, output written?"
        continue
    fi
    ok
    nin=$(count_frames "$TMP/$f"); nout=$(count_frames "$o")
    check "$f: output frames $nout = input frames $nin" [ "$nin" = "$nout" ]
    check "$f: per-frame PTS equal" same_pts "$TMP/$f" "$o"
    check "$f: upright size $(upright "$o") = input's $(upright "$TMP/$f")" \
        [ "$(upright "$o")" = "$(upright "$TMP/$f")" ]
    sz=$(upright "$TMP/$f")
    check "$f: JSON Lines, one per frame" \
        json_lines_ok "$TMP/$f.jsonl" "$nin" "${sz%x*}" "${sz#*x}"
    check "$f: progress quiet when stderr is not a tty" sh -c "! grep -q \"\$(printf '\r')\" '$TMP/err'"
    ain=$(stream_field "$TMP/$f" a:0 codec_name)
    if [ -n "$ain" ]; then
        aout=$(stream_field "$o" a:0 codec_name)
        check "$f: audio stream copied ($ain -> ${aout:-none})" [ "$ain" = "$aout" ]
        din=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$TMP/$f")
        dout=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$o")
        check "$f: duration $dout ~ $din" awk -v a="$din" -v b="$dout" \
            'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d < 0.1) }'
        ain_d=$(stream_field "$TMP/$f" a:0 duration); aout_d=$(stream_field "$o" a:0 duration)
        case "$ain_d$aout_d" in *N/A*) ;; *)
            check "$f: audio duration $aout_d ~ $ain_d" awk -v a="$ain_d" -v b="$aout_d" \
                'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d < 0.1) }' ;;
        esac
    fi
done
[ "$(upright "$TMP/rot.mp4")" = "240x320" ] || bad "rot.mp4 was generated without rotation"

# ---- --stride, --coco, --no-draw ------------------------------------------------
run annotate $M "$TMP/cfr.mp4" -o "$TMP/stride.mkv" --stride 3 --json "$TMP/stride.jsonl" \
    --coco "$TMP/coco.json" --no-draw -q
check "stride: exit 0" [ "$rc" -eq 0 ]
check "stride: quiet (-q) prints nothing" [ ! -s "$TMP/err" ]
"$PY" - "$TMP/stride.jsonl" "$TMP/coco.json" <<'EOF' >"$TMP/err" 2>&1
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 75, len(lines)
for o in lines:
    i = o["frame"]
    if i % 3:
        assert o.get("held") is True and o["held_from"] == i - i % 3, o
        assert o["detections"] == lines[i - i % 3]["detections"]
    else:
        assert "held" not in o, o
coco = json.load(open(sys.argv[2]))
assert isinstance(coco, list) and coco, "empty COCO"
ids = set()
for d in coco:
    assert set(d) == {"image_id", "category_id", "bbox", "score"}, d
    assert d["image_id"] % 3 == 0 and len(d["bbox"]) == 4 and d["bbox"][2] >= 0
    ids.add(d["image_id"])
# at or above --score-thresh (0.5) the same detections as the JSON Lines of
# those frames; COCO also keeps the model's lower-scored ones (AP needs them)
n = sum(len(lines[i]["detections"]) for i in ids)
high = [d for d in coco if d["score"] >= 0.5]
assert n == len(high), (n, len(high), len(coco))
EOF
check "stride 3: held frames carry the last boxes and say so; COCO matches" [ $? -eq 0 ]
check "no-draw: frames kept" [ "$(count_frames "$TMP/stride.mkv")" = 75 ]

# ---- SIGINT mid-run: 130, playable, whole lines ----------------------------------
ff -f lavfi -i testsrc2=s=320x240:r=25 -f lavfi -i sine=f=440:sample_rate=48000 -t 20 \
   -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest "$TMP/long.mp4"
for sig in INT TERM; do
    rm -f "$TMP/int.mp4" "$TMP/int.jsonl" "$TMP/int.coco"
    "$BIN" annotate $M "$TMP/long.mp4" -o "$TMP/int.mp4" --json "$TMP/int.jsonl" \
        --coco "$TMP/int.coco" --queue 1 >"$TMP/out" 2>"$TMP/err" </dev/null &
    pid=$!
    sleep 3
    t0=$(now)
    kill -"$sig" "$pid"
    wait "$pid"
    rc=$?
    dt=$(elapsed "$t0" "$(now)")
    # the frame being detected finishes first: allow 1 s plus three of this run's own
    # detection times (a loaded machine detects slower, and the bound follows it)
    fps=$(sed -n 's/.*fps: source [0-9.]*, detect \([0-9.]*\).*/\1/p' "$TMP/err" | tail -n 1)
    lim=$(awk -v f="${fps:-0}" 'BEGIN { printf "%.2f", (f > 0 ? 1 + 3 / f : 2) }')
    check "SIG$sig: exit 130 (got $rc)" [ "$rc" -eq 130 ]
    check "SIG$sig: finished in $dt s (< $lim s: 1 s + 3 detections at ${fps:-?} fps)" \
        lt "$dt" "$lim"
    n=$(count_frames "$TMP/int.mp4")
    check "SIG$sig: ffprobe reads the file ($n frames)" [ -n "$n" ] && [ "${n:-0}" -gt 0 ]
    check "SIG$sig: every frame decodes without error" \
        sh -c "[ -z \"\$(ffmpeg -v error -nostdin -i '$TMP/int.mp4' -f null - 2>&1)\" ]"
    check "SIG$sig: JSON lines ($(wc -l <"$TMP/int.jsonl")) = frames written ($n)" \
        [ "$(wc -l <"$TMP/int.jsonl" | tr -d ' ')" = "$n" ]
    check "SIG$sig: JSON whole lines, COCO an array" "$PY" -c "
import json, sys
[json.loads(l) for l in open('$TMP/int.jsonl')]
assert isinstance(json.load(open('$TMP/int.coco')), list)"
    check "SIG$sig: audio kept" [ -n "$(stream_field "$TMP/int.mp4" a:0 codec_name)" ]
done

# ---- errors: exit 1, one clear line, nothing left behind --------------------------
head -c 30000 /dev/urandom >"$TMP/corrupt.mp4"
sz=$(wc -c <"$TMP/cfr.mp4" | tr -d ' ')
head -c $((sz / 2)) "$TMP/cfr.mp4" >"$TMP/trunc.mp4"              # no moov: unreadable
ff -i "$TMP/cfr.mp4" -c copy -movflags +faststart "$TMP/fs.mp4"
sz=$(wc -c <"$TMP/fs.mp4" | tr -d ' ')
head -c $((sz / 2)) "$TMP/fs.mp4" >"$TMP/trunc_fs.mp4"            # index says more frames
for f in corrupt.mp4 trunc.mp4 trunc_fs.mp4; do
    rm -f "$TMP/e.mp4" "$TMP/e.jsonl"
    run annotate $M "$TMP/$f" -o "$TMP/e.mp4" --json "$TMP/e.jsonl"
    check "$f: exit 1 (got $rc)" [ "$rc" -eq 1 ]
    check "$f: one line naming the input" sh -c \
        "[ \$(grep -c . '$TMP/err') -eq 1 ] && grep -q '$f' '$TMP/err'"
    check "$f: no output left behind" [ ! -e "$TMP/e.mp4" ] && [ ! -e "$TMP/e.jsonl" ]
done
run annotate $M "$TMP/cfr.mp4" -o "$TMP/nodir/x.mp4" --json "$TMP/x.jsonl"
check "unwritable output: exit 1 (got $rc), one line" [ "$rc" -eq 1 ] && [ "$(grep -c . "$TMP/err")" -eq 1 ]
check "unwritable output: no JSON left behind" [ ! -e "$TMP/x.jsonl" ]
run annotate $M "$TMP/cfr.mp4" -o "$TMP/y.mp4" --json "$TMP/nodir/y.jsonl"
check "unwritable JSON: exit 1 (got $rc)" [ "$rc" -eq 1 ]
check "unwritable JSON: no video left behind" [ ! -e "$TMP/y.mp4" ]
run annotate $M "$TMP/cfr.mp4" -o "$TMP/z.unknownext"
# a name no container fits is a usage error, found before the model loads
check "unknown container: exit 2 (got $rc)" [ "$rc" -eq 2 ] && [ ! -e "$TMP/z.unknownext" ]

# ---- stream copy's bounded queue --------------------------------------------------
# 1 s of video, then a 70 s audio tail in 8750 small packets: after the last
# frame video_read() demuxes the whole tail while the writer, with no frame
# left to write, takes none of it until it closes; the copy queue fills (4096
# packets) and the rest is dropped — counted in the summary and the report,
# and the file still plays.
ff -f lavfi -i testsrc2=s=160x120:r=10:d=1 \
   -f lavfi -i sine=sample_rate=8000:samples_per_frame=64:d=70 \
   -c:v libx264 -pix_fmt yuv420p -c:a pcm_s16le "$TMP/tail.mkv"
run annotate $M "$TMP/tail.mkv" -o "$TMP/tail_out.mkv" --stats-json "$TMP/tail.json"
check "long audio tail: exit 0 (got $rc)" [ "$rc" -eq 0 ]
check "long audio tail: the summary counts the dropped packets" \
    grep -q '[1-9][0-9]* copied audio/subtitle packets dropped (copy queue full)' "$TMP/err"
kept=$("$PY" -c "
import json, sys
c = json.load(open(sys.argv[1]))['stream_copy']
assert c['packets'] + c['dropped'] == 8750 and c['dropped'] > 0 and c['queue_peak'] == 4096, c
print(c['packets'])" "$TMP/tail.json")
check "long audio tail: the report counts them (kept ${kept:-?} of 8750, peak 4096)" [ -n "$kept" ]
check "long audio tail: output has the ${kept:-?} kept audio packets" [ "$(ffprobe -v error \
    -select_streams a:0 -show_entries packet=pts -of csv=p=0 "$TMP/tail_out.mkv" | grep -c .)" \
    = "$kept" ]
check "long audio tail: output plays" sh -c \
    "[ -z \"\$(ffmpeg -v error -i '$TMP/tail_out.mkv' -f null - 2>&1)\" ]"
run annotate $M "$TMP/cfr.mp4" -o "$TMP/cfr2.mp4" --stats-json "$TMP/cfr2.json"
check "ordinary file: nothing dropped from the copy" "$PY" -c "
import json, sys
c = json.load(open(sys.argv[1]))['stream_copy']
assert c['packets'] > 0 and c['dropped'] == 0, c" "$TMP/cfr2.json"
check "ordinary file: the summary says nothing of it" sh -c "! grep -q 'copied audio' '$TMP/err'"

# ---- usage ----------------------------------------------------------------------
run annotate $M "$TMP/cfr.mp4"
check "no -o: exit 2" [ "$rc" -eq 2 ]
run annotate $M "$TMP/cfr.mp4" -o "$TMP/u.mp4" --crf 20 --bitrate 1M
check "--crf with --bitrate: exit 2" [ "$rc" -eq 2 ]
run annotate $M "$TMP/cfr.mp4" -o "$TMP/u.mp4" --stride 0
check "--stride 0: exit 2" [ "$rc" -eq 2 ]
run annotate --help
check "--help lists the options" sh -c "grep -q -- --coco '$TMP/out' && grep -q -- --stride '$TMP/out'"

summary
