#!/bin/sh
# test_tracking.sh — --track end to end (issue 15), with the demo model on the
# shipped tracking clip (assets/track.mp4, its MOTChallenge ground truth in
# assets/track-truth.mot.txt):
#   - eval --track: MOTA and IDF1 >= 0.9 detecting every frame, and with
#     --stride 3 (the tracker predicting the frames between detections);
#   - the JSON lines carry track_id, unique per frame, never reused (an identity
#     first seen later has a larger number); --mot lists the same tracks;
#   - --count-line counts exactly the crossings the ground truth makes, each way;
#   - --coco keeps the model's own detections under --track;
#   - bench --track shows the "track" stage; view --track summarises tracks;
#   - bad options and files: a usage error or a clear one, never a crash.
# Environment: VDETECT_BIN (default ./vdetect), PYTHON (default /usr/bin/python3).
# Ends with "test_tracking: N passed, N failed, N skipped".
set -u
BIN=${VDETECT_BIN:-./vdetect}
PY=${PYTHON:-/usr/bin/python3}
NAME=tracking
. tests/lib.sh
case "$BIN" in */*) ;; *) BIN="./$BIN" ;; esac
CLIP=assets/track.mp4
GT=assets/track-truth.mot.txt
if [ ! -x "$BIN" ] || [ ! -f assets/demo.vdm ] || [ ! -f "$CLIP" ]; then
    echo "FAIL: needs $BIN, assets/demo.vdm and $CLIP"
    fail=1
    summary
fi
M="--weights assets/demo.vdm --threads 2"
LINE=200,0,200,360

# field NAME FILE: a number from eval's --json object
field() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[2]))[sys.argv[1]])' "$1" "$2"; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

for stride in 1 3; do
    "$BIN" annotate $M "$CLIP" -o "$TMP/s$stride.mp4" --track --stride $stride \
        --mot "$TMP/s$stride.mot.txt" --json "$TMP/s$stride.jsonl" --coco "$TMP/s$stride.coco.json" \
        --count-line $LINE -q >"$TMP/out" 2>"$TMP/err"
    rc=$?
    check "annotate --track --stride $stride: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
    "$BIN" eval --track --mot "$TMP/s$stride.mot.txt" --truth "$GT" --json "$TMP/e$stride.json" \
        >"$TMP/table$stride" 2>"$TMP/err"
    rc=$?
    mota=$(field mota "$TMP/e$stride.json" 2>/dev/null); idf1=$(field idf1 "$TMP/e$stride.json" 2>/dev/null)
    echo "tracking clip, --stride $stride: MOTA $mota IDF1 $idf1 (IDSW $(field idsw "$TMP/e$stride.json" 2>/dev/null))"
    check "eval --track --stride $stride: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
    check "--stride $stride: MOTA $mota >= 0.9" ge "${mota:-0}" 0.9
    check "--stride $stride: IDF1 $idf1 >= 0.9" ge "${idf1:-0}" 0.9
done
check "eval --track prints its table" grep -q '^MOTA ' "$TMP/table1"

# identities in the JSON lines and the MOT file
if "$PY" - "$TMP/s1.jsonl" "$TMP/s1.mot.txt" >"$TMP/py" 2>&1 <<'EOF'
import json, sys
first, mot = {}, {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    ids = [d["track_id"] for d in o["detections"]]
    assert all(isinstance(i, int) and i >= 1 for i in ids), ids
    assert len(ids) == len(set(ids)), ("an id twice in frame", o["frame"], ids)
    for d in o["detections"]:
        first.setdefault(d["track_id"], o["frame"])
        mot[(o["frame"] + 1, d["track_id"])] = d["box"]
order = sorted(first, key=lambda i: (first[i], i))
assert order == sorted(first), ("ids are not given in order of appearance", order)
rows = 0
for line in open(sys.argv[2]):
    f, i, x, y, w, h = line.split(",")[:6]
    b = mot[(int(f), int(i))]
    assert abs(float(x) - b[0]) < 0.01 and abs(float(w) - (b[2] - b[0])) < 0.02, (line, b)
    rows += 1
assert rows == len(mot), (rows, len(mot))
print("ok", len(first), "identities")
EOF
then ok; else bad "JSON track_id unique per frame, in order of appearance, the same as --mot ($(tail -n 1 "$TMP/py"))"; fi

# the count line against the crossings the ground truth makes
"$BIN" annotate $M "$CLIP" -o "$TMP/c.mkv" --no-draw --count-line $LINE >"$TMP/out" 2>"$TMP/err"
# "annotate: line 1 (200,0 to 200,360): 2 moving left, 3 moving right"
got=$(sed -n 's/^annotate: line 1 ([^)]*): \([0-9]*\) moving \([a-z]*\), \([0-9]*\) moving \([a-z]*\)$/\2 \1 \4 \3/p' "$TMP/err")
want=$("$PY" - "$GT" "$LINE" <<'EOF'
import collections, sys
x1, y1, x2, y2 = map(float, sys.argv[2].split(","))
paths = collections.defaultdict(list)
for line in open(sys.argv[1]):
    v = line.split(",")
    f, i, x, y, w, h = int(v[0]), int(v[1]), *map(float, v[2:6])
    paths[i].append((f, x + w / 2, y + h))   # bottom centre, as track/ counts
def side(px, py):
    return (px - x1) * (y2 - y1) - (py - y1) * (x2 - x1)
moves = collections.Counter()   # crossings by the screen direction of the motion
for p in paths.values():
    p.sort()
    for (_, ax, ay), (_, bx, by) in zip(p, p[1:]):
        sa, sb = side(ax, ay), side(bx, by)
        if sa and sb and (sa > 0) != (sb > 0):
            moves["right" if bx > ax else "left"] += 1   # the line is vertical: x decides
print("left", moves["left"], "right", moves["right"])
EOF
)
check "--count-line on screen: '$got' = the ground truth's '$want'" [ -n "$got" ] && [ "$got" = "$want" ]
check "the count line's summary names its segment" grep -q '^annotate: line 1 (200,0 to 200,360): ' "$TMP/err"
"$BIN" annotate $M "$CLIP" -o "$TMP/c2.mkv" --no-draw --count-line 2000,0,2000,360 --frames 3 >/dev/null 2>"$TMP/err"
check "a count line outside the frame: a warning" grep -q 'outside the 640x360 frame' "$TMP/err"

# COCO: the model's detections, as without --track
"$BIN" annotate $M "$CLIP" -o "$TMP/n.mkv" --no-draw --coco "$TMP/plain.coco.json" -q 2>"$TMP/err"
"$BIN" annotate $M "$CLIP" -o "$TMP/t.mkv" --no-draw --track --stride 1 --coco "$TMP/trk.coco.json" -q 2>"$TMP/err"
check "--coco under --track: the model's own detections" cmp -s "$TMP/plain.coco.json" "$TMP/trk.coco.json"

# bench and view
"$BIN" bench $M "$CLIP" --frames 30 --track >"$TMP/out" 2>"$TMP/err"
check "bench --track: a track stage and the counts (rc $?)" \
    sh -c "grep -q '^track  ' '$TMP/out' && grep -q 'distinct tracks' '$TMP/out'"
"$BIN" bench $M "$CLIP" --frames 30 --track --json "$TMP/b.json" >/dev/null 2>&1
check "bench --track --json: a tracking object" "$PY" -c "
import json; o = json.load(open('$TMP/b.json'))['tracking']; assert o['distinct'] >= 1 and o['ms_per_frame'] >= 0, o"
"$BIN" annotate $M "$CLIP" -o "$TMP/st.mkv" --no-draw --track --count-line $LINE -q \
    --stats-json "$TMP/st.json" 2>"$TMP/err"
check "annotate --stats-json: the tracking object, the line's counts by screen direction" "$PY" -c "
import json; o = json.load(open('$TMP/st.json'))['tracking']
l = o['lines'][0]; assert l['segment'] == [200, 0, 200, 360] and 'left' in l and 'right' in l, o
assert o['distinct'] >= 7, o"
VDETECT_ALLOW_OFFSCREEN=1 SDL_VIDEODRIVER=offscreen "$BIN" view $M "$CLIP" --frames 40 --track \
    --count-line $LINE </dev/null >"$TMP/out" 2>"$TMP/err"
check "view --track: exit 0, tracks in the summary (rc $?)" \
    sh -c "grep -q '^view: [0-9]* distinct tracks' '$TMP/err' && grep -q '^view: line 1 (' '$TMP/err'"

# errors
# expect RC WHAT GREP ARGS...: vdetect ARGS exits RC with GREP in its stderr
expect() {
    want=$1 what=$2 pat=$3; shift 3
    "$BIN" "$@" >/dev/null 2>"$TMP/err"; rc=$?
    if [ "$rc" -eq "$want" ] && grep -q -- "$pat" "$TMP/err"; then ok
    else bad "$what: want exit $want and '$pat' (rc $rc)"; fi
}
expect 2 "--track-set unknown name" "no_such" annotate $M "$CLIP" -o "$TMP/e.mkv" --track-set no_such=1
expect 2 "--track-set out of range" "match_thresh" annotate $M "$CLIP" -o "$TMP/e.mkv" --track-set match_thresh=2
expect 2 "--count-line with three numbers" "X1,Y1,X2,Y2" annotate $M "$CLIP" -o "$TMP/e.mkv" --count-line 1,2,3
expect 2 "--count-line of a point" "a point" annotate $M "$CLIP" -o "$TMP/e.mkv" --count-line 5,5,5,5
check "no output left by the refused runs" [ ! -e "$TMP/e.mkv" ]
expect 2 "eval --track without --mot" "--mot" eval --track --truth "$GT"
printf '1,1,10,10,20,20,1,-1,-1,-1\n2,1,10,abc,20,20,1,-1,-1,-1\n' >"$TMP/bad.txt"
expect 1 "eval --track on a malformed file names file:line" "bad.txt:2" eval --track --mot "$TMP/bad.txt" --truth "$GT"
expect 1 "eval --track given COCO truth says so" "JSON (a COCO file?)" eval --track --mot "$TMP/s1.mot.txt" --truth assets/track-truth.json
cp "$GT" "$TMP/old.txt"
before=$(cksum <"$TMP/old.txt")
expect 2 "--mot onto an existing file without -y" "exists" annotate $M "$CLIP" -o "$TMP/e2.mkv" --mot "$TMP/old.txt" --frames 5
check "the existing file kept" [ "$(cksum <"$TMP/old.txt")" = "$before" ]

summary
