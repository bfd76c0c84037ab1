#!/bin/sh
# test_gating.sh — motion-gated detection, zones and masks end to end (issue 16),
# with the demo model on clips generated here by model/py/world.py clip --gating
# (20 s, 640x360, 25 fps: static for 10 s — two parked objects, sensor noise —
# then busy: objects crossing two zone bands, one stopping for ~3 s):
#   - the static half makes at most one detector call (the first frame) under
#     --motion;
#   - the events detecting every frame finds (objects appearing, zone entries
#     and exits) are kept (>= 98%, matched by zone, kind and time);
#   - zone entry/exit counts equal those of the ground truth exactly;
#   - the detector's work (GFLOPs) per second of video, every frame vs --motion
#     vs --motion --detect-fps 10 (the rate cap does what Frigate's 5 fps default
#     does): at least halved with the cap; CPU per second measured and printed;
#   - a light switched on recalibrates the background instead of firing the
#     detector on every frame; a clock overlay fires it on every frame until a
#     --motion-mask hides it; an --object-mask drops what it covers;
#   - bad options: usage errors.
# Prints the figures README.md quotes. Environment: VDETECT_BIN (default
# ./vdetect), PYTHON (default /usr/bin/python3).
# Ends with "test_gating: N passed, N failed, N skipped".
set -u
BIN=${VDETECT_BIN:-./vdetect}
PY=${PYTHON:-/usr/bin/python3}
NAME=gating
. tests/lib.sh
case "$BIN" in */*) ;; *) BIN="./$BIN" ;; esac
if [ ! -x "$BIN" ] || [ ! -f assets/demo.vdm ] || ! "$PY" -c 'import numpy' 2>/dev/null; then
    echo "FAIL: needs $BIN, assets/demo.vdm and $PY with numpy"
    fail=1
    summary
fi
M="--weights assets/demo.vdm --threads 2"
ZL=left=128,0,256,0,256,360,128,360
ZR=right=384,0,512,0,512,360,384,360
Z="--zone $ZL --zone $ZR"
CLIP=$TMP/g.mp4
if ! "$PY" model/py/world.py clip "$CLIP" --gating --seed 11 --truth "$TMP/g.json" \
        --mot "$TMP/g.mot.txt" >"$TMP/out" 2>"$TMP/err"; then
    bad "world.py clip --gating"
    summary
fi
ok

# annotate every frame, and gated
"$BIN" annotate $M "$CLIP" -o "$TMP/a0.mkv" --no-draw --track $Z --json "$TMP/a0.jsonl" -q 2>"$TMP/err"
check "annotate every frame: exit 0 (rc $?)" [ -s "$TMP/a0.jsonl" ]
"$BIN" annotate $M "$CLIP" -o "$TMP/a1.mkv" --no-draw --track $Z --motion --json "$TMP/a1.jsonl" \
    --stats-json "$TMP/a1.stats.json" 2>"$TMP/err1"
rc=$?
check "annotate --motion: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
check "annotate --motion: a gating line in the summary" grep -q '^annotate: gating: ' "$TMP/err1"
"$BIN" annotate $M "$CLIP" -o "$TMP/a2.mkv" --no-draw --track $Z --motion --detect-fps 10 \
    --json "$TMP/a2.jsonl" -q 2>"$TMP/err"
check "annotate --motion --detect-fps 10: exit 0 (rc $?)" [ -s "$TMP/a2.jsonl" ]

# the figures: detector frames in the static half, events kept, zone counts vs the truth
if "$PY" - "$TMP/g.mot.txt" "$TMP/a0.jsonl" "$TMP/a1.jsonl" "$TMP/a2.jsonl" >"$TMP/py" 2>&1 <<'EOF'
import collections, json, sys
HALF = 250                      # frames 0..249: the static half (10 s at 25 fps)
ZONES = {"left": (128, 256), "right": (384, 512)}   # x bands, full height

def truth_events(path):
    """Zone entries/exits of the ground truth: bottom-centre x in a band."""
    paths = collections.defaultdict(list)
    for line in open(path):
        v = line.split(",")
        f, i, x, y, w, h = int(v[0]) - 1, int(v[1]), *map(float, v[2:6])
        paths[i].append((f, x + w / 2))
    ev = collections.Counter()
    for p in paths.values():
        p.sort()
        for z, (lo, hi) in ZONES.items():
            inside = False
            for f, cx in p:
                now = lo <= cx <= hi
                if now != inside:
                    ev[(z, "enter" if now else "exit")] += 1
                    inside = now
            if inside:
                ev[(z, "exit")] += 1   # leaves the picture inside: the track ends there
    return ev

def run(path):
    lines = [json.loads(l) for l in open(path)]
    events, first, shown = [], {}, collections.Counter()
    for o in lines:
        for e in o.get("zone_events", []):
            events.append((e["zone"], e["event"], o["frame"]))
        for d in o["detections"]:
            first.setdefault(d["track_id"], o["frame"])
            shown[d["track_id"]] += 1
    for i, f in first.items():   # an object entered: a track shown on 10 frames or more
        if shown[i] >= 10:
            events.append(("-", "appear", f))
    detected = [o["frame"] for o in lines if not o.get("still") and not o.get("held")]
    return lines, events, detected

def kept(base, other, slack=12):
    """Events of base found in other: same zone and kind within slack frames."""
    pool = list(other)
    n = 0
    for z, k, f in sorted(base, key=lambda e: e[2]):
        best = None
        for j, (z2, k2, f2) in enumerate(pool):
            if z2 == z and k2 == k and abs(f2 - f) <= slack and (best is None or abs(f2 - f) < abs(pool[best][2] - f)):
                best = j
        if best is not None:
            pool.pop(best)
            n += 1
    return n

truth = truth_events(sys.argv[1])
_, e0, d0 = run(sys.argv[2])
_, e1, d1 = run(sys.argv[3])
_, e2, d2 = run(sys.argv[4])
zc = lambda ev: collections.Counter((z, k) for z, k, _ in ev if z != "-")
static1 = sum(1 for f in d1 if f < HALF)
print("truth zone events:", dict(truth))
print("every frame: %d events, %d detected frames" % (len(e0), len(d0)))
for name, ev, det in (("--motion", e1, d1), ("--motion --detect-fps 10", e2, d2)):
    k = kept(e0, ev)
    print("%s: %d detected frames (%d in the static half), events kept %d of %d (%.1f%%), zone counts %s"
          % (name, len(det), sum(1 for f in det if f < HALF), k, len(e0), 100.0 * k / max(len(e0), 1),
             "= truth" if zc(ev) == truth else "!= truth %s" % dict(zc(ev))))
    assert k >= 0.98 * len(e0), (name, "events kept", k, len(e0))
    assert sum(1 for f in det if f < HALF) <= 1, (name, "static half detected frames", [f for f in det if f < HALF])
assert zc(e0) == truth, ("every frame: zone counts", dict(zc(e0)), dict(truth))
assert zc(e1) == truth, ("--motion: zone counts", dict(zc(e1)), dict(truth))
assert len(e0) >= 20, ("too few events for the test to mean anything", len(e0))
EOF
then ok; else bad "gating keeps the events, zone counts exact, static half quiet: $(tail -n 3 "$TMP/py" | tr '\n' ' ')"; fi
sed 's/^/  /' "$TMP/py"

# the detector's work and the CPU per second of video, one bench run each. The
# work (GFLOPs of the detector calls made, by the model's own count) is the same
# on every machine and is what the test holds to; CPU time is measured and
# printed, not asserted (it depends on the machine and its load)
"$BIN" bench $M "$CLIP" --no-draw --track $Z --json "$TMP/b0.json" >/dev/null 2>"$TMP/err"
"$BIN" bench $M "$CLIP" --no-draw --track $Z --motion --json "$TMP/b1.json" >"$TMP/b1.txt" 2>"$TMP/err"
"$BIN" bench $M "$CLIP" --no-draw --track $Z --motion --detect-fps 10 --json "$TMP/b2.json" >/dev/null 2>"$TMP/err"
if "$PY" - "$TMP/b0.json" "$TMP/b1.json" "$TMP/b2.json" >"$TMP/py" 2>&1 <<'EOF'
import json, sys
b = [json.load(open(p)) for p in sys.argv[1:]]
fps = 25.0
secs = b[0]["frames"]["decoded"] / fps
work0 = b[0]["config"]["gflops"] * b[0]["frames"]["detected"] / secs
cpu0 = b[0]["cpu_ms_per_frame"] * fps / 1000
print("every frame: %.1f GFLOPs and %.3f s CPU per second of video" % (work0, cpu0))
for name, o, need in (("--motion", b[1], 1.3), ("--motion --detect-fps 10", b[2], 2.0)):
    g = o["gating"]
    assert g["frames"] == g["detected"] + g["still"] + g["held"], g
    work, cpu = g["gflops_per_video_second"], g["cpu_per_video_second"]
    print("%s: %.1f GFLOPs per second of video (%.2fx less), %.3f s CPU (%.2fx less), %.2f detector calls per second"
          % (name, work, work0 / work, cpu, cpu0 / cpu, g["calls_per_video_second"]))
    assert work0 / work >= need, (name, "work saved", work0 / work, "want", need)
EOF
then ok; else bad "gating saves the detector's work: $(tail -n 2 "$TMP/py" | tr '\n' ' ')"; fi
sed 's/^/  /' "$TMP/py"
check "bench --motion: the gating line" grep -q '^gating  ' "$TMP/b1.txt"

# a light switched on at 4 s (of the 8 static ones): one recalibration, not a
# detector call per frame
"$PY" model/py/world.py clip "$TMP/l.mp4" --gating --seed 11 --seconds 16 --light-step 4 >/dev/null 2>&1
"$BIN" annotate $M "$TMP/l.mp4" -o "$TMP/l.mkv" --no-draw --motion --frames 200 --json "$TMP/l.jsonl" \
    --stats-json "$TMP/l.stats.json" -q 2>"$TMP/err"
check "light step: recalibrated, at most 3 frames detected in the static part" "$PY" -c "
import json
g = json.load(open('$TMP/l.stats.json'))['gating']
det = [json.loads(l)['frame'] for l in open('$TMP/l.jsonl')]
det = [f for f, l in zip(det, open('$TMP/l.jsonl')) if '\"still\"' not in l]
static = [f for f in det if f < 200]
assert g['recalibrations'] >= 1, g
assert len(static) <= 3, static
print('  light step at 4 s: %d recalibration(s), detected frames in the 8 static seconds: %s' % (g['recalibrations'], static))"

# a clock overlay: motion every frame until a mask hides it (100 static frames)
"$PY" model/py/world.py clip "$TMP/c.mp4" --gating --seed 11 --seconds 8 --clock >/dev/null 2>&1
for mask in "" "--motion-mask 0,0,130,0,130,36,0,36"; do
    "$BIN" annotate $M "$TMP/c.mp4" -o "$TMP/c.mkv" -y --no-draw --motion $mask --frames 100 \
        --json "$TMP/c.jsonl" -q 2>"$TMP/err"
    n=$(grep -vc '"still": true' "$TMP/c.jsonl")
    if [ -z "$mask" ]; then unmasked=$n; else masked=$n; fi
done
echo "  clock overlay, 100 static frames: $unmasked detected without a mask, $masked with --motion-mask"
check "clock overlay: detected often without a mask ($unmasked)" [ "$unmasked" -ge 50 ]
check "clock overlay: --motion-mask hides it ($masked detected)" [ "$masked" -le 1 ]

# an object mask over the lower-left parked object drops it
"$BIN" annotate $M "$CLIP" -o "$TMP/o.mkv" --no-draw --frames 5 --json "$TMP/o0.jsonl" -q 2>"$TMP/err"
"$BIN" annotate $M "$CLIP" -o "$TMP/o1.mkv" --no-draw --frames 5 --object-mask 0,180,250,180,250,360,0,360 \
    --json "$TMP/o1.jsonl" -q 2>"$TMP/err"
check "--object-mask drops the detections standing in it" "$PY" -c "
import json
a = [json.loads(l)['detections'] for l in open('$TMP/o0.jsonl')]
b = [json.loads(l)['detections'] for l in open('$TMP/o1.jsonl')]
inside = lambda d: d['box'][3] >= 180 and (d['box'][0] + d['box'][2]) / 2 <= 250
assert any(inside(d) for f in a for d in f), 'nothing there to mask'
assert not any(inside(d) for f in b for d in f), 'a masked detection'
assert sum(map(len, b)) > 0"

# errors
expect() {
    want=$1 what=$2 pat=$3; shift 3
    "$BIN" "$@" >/dev/null 2>"$TMP/err"; rc=$?
    if [ "$rc" -eq "$want" ] && grep -q -- "$pat" "$TMP/err"; then ok
    else bad "$what: want exit $want and '$pat' (rc $rc)"; fi
}
expect 2 "--zone without a name" "NAME=" annotate $M "$CLIP" -o "$TMP/e.mkv" --zone 1,2,3,4,5,6
expect 2 "--zone with 2 points" "zone 'a'" annotate $M "$CLIP" -o "$TMP/e.mkv" --zone a=1,2,3,4
expect 2 "--zone twice" "given twice" annotate $M "$CLIP" -o "$TMP/e.mkv" --zone $ZL --zone $ZL
expect 2 "--motion-set unknown" "recheck" annotate $M "$CLIP" -o "$TMP/e.mkv" --motion-set nosuch=1
expect 2 "--motion-set out of range" "threshold" annotate $M "$CLIP" -o "$TMP/e.mkv" --motion-set threshold=999
expect 2 "--detect-fps 0" "detect-fps" annotate $M "$CLIP" -o "$TMP/e.mkv" --detect-fps 0
expect 2 "--stride with --motion" "use one" annotate $M "$CLIP" -o "$TMP/e.mkv" --stride 2 --motion
expect 2 "--motion with --model-only" "model-only" bench $M --model-only --motion
summary
