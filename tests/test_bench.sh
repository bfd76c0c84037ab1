#!/bin/sh
# test_bench.sh — `vdetect bench`: the report's schema (docs/formats.md §4) and its
# arithmetic, in both modes. Stage means add up to the frame time; every rate
# equals (count - 1) / the span it was measured over; frame counts balance
# (decoded = detected + held + dropped), with no drops on a file and drops on
# a live source slower than the detector; --plot writes well-formed SVG that
# ffmpeg renders, with a colour per stage and round frame ticks. The report
# as users read it: --json - leaves only JSON on stdout; the text names the
# resized size, CPU and version; --realtime says it is paced and drops; the
# verdict agrees with its numbers (a 1000 fps source cannot be kept up with,
# a 2 fps one can); p99 is "-" below 100 samples; no "null" stage; a busy
# machine (two spinning loops on bench's one CPU) is warned about; every
# line of the report is defined in --help.
#
# Uses $VDETECT_BIN (./vdetect) and the mnv3_320_odd parity checkpoint from
# $VDETECT_FIXTURES (tests/fixtures). Prints "test_bench: N passed, N failed".
set -u
BIN=${VDETECT_BIN:-./vdetect}
FIX=${VDETECT_FIXTURES:-tests/fixtures}
PY=${PYTHON:-/usr/bin/python3}
W="$FIX/parity/mnv3_320_odd/model_zip.pth"
M="--weights $W --arch fasterrcnn_mobilenet_v3_large_320_fpn --threads 1"
NAME=bench
. tests/lib.sh

if [ ! -f "$W" ]; then bad "no checkpoint $W (run tests/gen_parity.py)"; summary; fi

cat >"$TMP/check.py" <<'PY'
import json, sys, xml.dom.minidom
path, mode = sys.argv[1], sys.argv[2]
r = json.loads(open(path).read().strip().splitlines()[-1])
c = r["config"]
for k in ("model", "weights", "input", "resized", "gflops", "threads", "cpu", "blas_core",
          "vdetect_version"):
    assert k in c, "config lacks " + k
s = r["stages_ms"]
assert "null" not in s and "output" not in s, "a stage that did not run: %s" % list(s)
vd = r["verdict"]
for k in ("keeps_up", "need_fps", "detector_fps", "achieved_fps", "headroom", "drop_pct", "text"):
    assert k in vd, "verdict lacks " + k
con = r["contention"]
want = con["wall_ms_per_frame"] / (con["cpu_ms_per_frame"] / con["threads"])
assert abs(con["ratio"] - want) <= 1e-2 * want, con
assert con["suspected"] == (con["ratio"] >= 2), con
for st in ("preprocess", "backbone", "fpn", "rpn_head", "rpn_proposals", "roi_align",
           "box_head", "postprocess", "total"):
    assert st in s, "stages_ms lacks " + st
    v = s[st]
    assert v["median"] <= v["p90"] + 1e-9 <= v["p99"] + 2e-9, (st, v)
parts = sum(v["mean"] for k, v in s.items() if k in ("preprocess", "backbone", "fpn", "rpn_head",
            "rpn_proposals", "roi_align", "box_head", "postprocess"))
tot = s["total"]["mean"]
assert abs(parts - tot) <= 0.03 * tot, "stage means %.3f vs total %.3f" % (parts, tot)
if mode == "model":
    assert vd["keeps_up"] is None and vd["need_fps"] is None
    assert abs(vd["detector_fps"] - r["throughput"]["detect_fps"]) < 1e-2, vd
    assert abs(r["throughput"]["detect_fps"] - 1000.0 / r["throughput"]["mean_ms"]) < 1e-3
    assert r["throughput"]["mean_ms"] == s["total"]["mean"] or abs(r["throughput"]["mean_ms"] - tot) < 1e-3
else:
    f, t, sp = r["frames"], r["throughput"], r["spans_s"]
    assert f["decoded"] == f["detected"] + f["held"] + f["dropped"], f
    for key, n in (("source", f["decoded"]), ("detect", f["detected"]), ("display", f["displayed"])):
        if n >= 2 and sp[key] > 0:
            want = (n - 1) / sp[key]
            got = t[key + "_fps"]
            assert abs(got - want) <= 1e-3 * want + 1e-3, (key, got, want)
    lat = r["latency_ms"]["capture_to_display"]
    assert lat["p50"] <= lat["p90"] + 1e-9 <= lat["p99"] + 2e-9 and lat["p99"] <= lat["max"] * 1.011 + 1e-9, lat
    assert r["latency_ms"]["capture_to_result"]["samples"] == f["detected"], r["latency_ms"]
    assert r["cpu_ms_per_frame"] > 0 and r["peak_rss_mb"] > 0
    # the verdict follows from the numbers beside it
    if vd["keeps_up"] is not None:
        need = c["source_nominal_fps"]
        assert abs(vd["need_fps"] - need) < 1e-2, (vd, need)
        if c["live"]:
            assert abs(vd["drop_pct"] - 100.0 * f["dropped"] / f["decoded"]) < 1e-2, vd
            assert abs(vd["headroom"] - vd["detector_fps"] / need) <= 1e-3 + 1e-3 * vd["headroom"], vd
            assert vd["keeps_up"] == (f["dropped"] == 0 and vd["headroom"] >= 1), vd
        else:
            assert abs(vd["achieved_fps"] - t["detect_fps"]) < 1e-2, vd
            assert vd["keeps_up"] == (vd["achieved_fps"] >= need), vd
        assert vd["text"].startswith("keeps up" if vd["keeps_up"] else "cannot keep up"), vd
    if mode == "file":
        assert f["dropped"] == 0 and f["decoded"] == f["detected"] == f["displayed"], f
        assert c["queue_policy"] == "block"
    if mode == "live":
        assert c["live"] and c["queue_policy"] == "drop_oldest"
        assert f["dropped"] > 0, "a 30 fps source and a slower detector must drop"
if len(sys.argv) > 3:
    doc = xml.dom.minidom.parse(sys.argv[3])   # well-formed SVG
    # one colour a stage: the legend's squares (10x10) after "median time per stage"
    fills = [r.getAttribute("fill") for r in doc.getElementsByTagName("rect")
             if r.getAttribute("width") == "10"]
    assert len(fills) == len(set(fills)) >= 8, "stage colours %s" % fills
    # no two legend texts overlap: same row (y), ordered by x, each ends before the next
    texts = [(float(t.getAttribute("y")), float(t.getAttribute("x")), int(t.getAttribute("font-size")),
              t.firstChild.data if t.firstChild else "") for t in doc.getElementsByTagName("text")
             if t.getAttribute("text-anchor") == "start" and t.getAttribute("font-size") == "11"]
    rows = {}
    for y, x, px, txt in texts:
        rows.setdefault(y, []).append((x, px, txt))
    for y, items in rows.items():
        items.sort()
        for (x, px, txt), (nx, _, ntxt) in zip(items, items[1:]):
            assert x + 0.6 * px * len(txt) <= nx, "legend %r overlaps %r" % (txt, ntxt)
    # titles fit the width
    W = float(doc.documentElement.getAttribute("width"))
    for t in doc.getElementsByTagName("text"):
        if t.getAttribute("text-anchor") == "middle" and t.firstChild:
            w = 0.6 * int(t.getAttribute("font-size")) * len(t.firstChild.data)
            x = float(t.getAttribute("x"))
            assert x - w / 2 >= 0 and x + w / 2 <= W, "text cut: %r" % t.firstChild.data
    if len(sys.argv) > 4:   # frames in the run: ticks at round steps, more than the two ends
        n = int(sys.argv[4])
        ticks = [float(t.firstChild.data) for t in doc.getElementsByTagName("text")
                 if t.getAttribute("text-anchor") == "middle" and t.getAttribute("font-size") == "11"]
        assert len(ticks) >= 4 and ticks[0] == 0 and ticks[-1] <= n - 1, ticks
        steps = {round(b - a, 6) for a, b in zip(ticks, ticks[1:])}
        assert len(steps) == 1 and str(int(steps.pop()))[0] in "125", ticks
print("ok")
PY

# model only
"$BIN" bench --model-only $M --frames 12 --warmup 1 --json "$TMP/m.json" --plot "$TMP/m.svg" \
    >"$TMP/out" 2>"$TMP/err"
if [ $? -eq 0 ] && "$PY" "$TMP/check.py" "$TMP/m.json" model "$TMP/m.svg" 12 >"$TMP/py" 2>&1; then ok
else bad "model-only report: $(tail -n 1 "$TMP/py" 2>/dev/null)"; fi
if grep -q "^backbone " "$TMP/out" && grep -q "^total " "$TMP/out"; then ok; else bad "model-only table"; fi
cp "$TMP/out" "$TMP/model.txt"
# configuration lines: resized size, CPU and version, as in the JSON
cpu=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"]["cpu"])' "$TMP/m.json")
check "model-only: input line with the resized size" \
    grep -Eq '^input +[0-9]+x[0-9]+ generated -> resized [0-9]+x[0-9]+, ' "$TMP/out"
check "model-only: machine line with CPU and version" \
    grep -Fq "machine      $cpu, engine" "$TMP/out"
check "model-only: vdetect version" grep -Eq '^machine .*; vdetect [0-9]+\.[0-9]+' "$TMP/out"
# 12 runs: no p99 claimed, the max and n instead
check "model-only: p99 '-' under 100 runs" \
    grep -Eq '^total +[0-9.]+ +[0-9.]+ +- +[0-9.]+ +12$' "$TMP/out"
check "model-only: verdict states the fps it sustains" \
    grep -Eq '^verdict +sustains [0-9.]+ fps' "$TMP/out"
# a PNG of the plot: ffmpeg renders the SVG at its own size
if ffmpeg -v error -y -i "$TMP/m.svg" "$TMP/m.png" </dev/null 2>"$TMP/err"; then
    size=$(ffprobe -v error -show_entries stream=width,height -of csv=p=0 "$TMP/m.png")
    case $size in 900,[4-9][0-9][0-9]) ok ;; *) bad "plot rendered at $size, want 900 x 400..999" ;; esac
else bad "ffmpeg cannot render the plot"; fi

# --json -: stdout is the JSON alone, in both modes and by another name of stdout
for j in - /dev/stdout; do
    if "$BIN" bench --model-only $M --frames 2 --warmup 0 --json $j 2>"$TMP/err" |
        "$PY" -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null; then ok
    else bad "bench --model-only --json $j: stdout is not one JSON object"; fi
done
if "$BIN" bench $M "lavfi:testsrc2=size=160x120:rate=30" --frames 3 --warmup 0 --json - \
    2>"$TMP/err" | "$PY" -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null &&
    grep -q '^verdict ' "$TMP/err"; then ok
else bad "bench SOURCE --json -: JSON alone on stdout, text on stderr"; fi

# >= 100 runs: p99 is printed (the demo model at 160x120 is quick)
"$BIN" bench --model-only --size 160x120 --threads 1 --frames 100 --warmup 0 >"$TMP/out" 2>"$TMP/err"
check "model-only: p99 with 100 runs" grep -Eq '^total +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +100$' "$TMP/out"

# a file: back-pressure, nothing dropped
ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=f=300 -t 1.2 \
    -c:v libx264 -pix_fmt yuv420p -c:a aac "$TMP/clip.mp4" </dev/null
"$BIN" bench $M "$TMP/clip.mp4" --warmup 1 --json "$TMP/f.json" --plot "$TMP/f.svg" \
    >"$TMP/out" 2>"$TMP/err"
if [ $? -eq 0 ] && "$PY" "$TMP/check.py" "$TMP/f.json" file "$TMP/f.svg" >"$TMP/py" 2>&1; then ok
else bad "file pipeline report: $(tail -n 1 "$TMP/py" 2>/dev/null)"; fi
if grep -q "^frames .* 30 decoded = 30 detected + 0 dropped" "$TMP/out"; then ok
else bad "file pipeline table: $(grep '^frames' "$TMP/out")"; fi
cp "$TMP/out" "$TMP/file.txt"
if "$PY" "$TMP/check.py" "$TMP/f.json" file "$TMP/f.svg" 30 >"$TMP/py" 2>&1; then ok
else bad "file: plot ticks, colours, legends, title: $(tail -n 1 "$TMP/py")"; fi
check "file: mode line says flat out with back-pressure" \
    grep -Eq '^mode +file, read as fast as the pipeline goes: back-pressure' "$TMP/out"
check "file: input line 320x240 -> resized" grep -Eq '^input +320x240 -> resized [0-9]+x[0-9]+' "$TMP/out"
check "file: machine line with version" grep -Eq '^machine .*; vdetect [0-9]+\.' "$TMP/out"
check "file: no null stage in the text" sh -c "! grep -Eq '^(null|output) ' '$TMP/out'"
check "file: no encode row without -o" sh -c "! grep -q '^encode ' '$TMP/out'"
check "file: p99 '-' with 30 samples" grep -Eq '^total +[0-9.]+ +[0-9.]+ +- +[0-9.]+ +30$' "$TMP/out"
check "file: capture latency p99 '-' too" \
    grep -Eq '^capture -> result +[0-9.]+ +[0-9.]+ +- +[0-9.]+ +30$' "$TMP/out"
check "file: a verdict" grep -Eq '^verdict +(keeps up with 25 fps|cannot keep up: needs 25 fps)' "$TMP/out"

# --realtime: the file is paced like a live source and drops what the detector cannot take
"$BIN" bench $M "$TMP/clip.mp4" --realtime --frames 6 --warmup 0 --json "$TMP/r.json" \
    >"$TMP/out" 2>"$TMP/err"
check "--realtime: the mode line" grep -Eq '^mode +paced like a live source \(--realtime\).*dropped' "$TMP/out"
check "--realtime: drop_oldest in the JSON" "$PY" -c 'import json,sys
c = json.load(open(sys.argv[1]))["config"]; assert c["live"] and c["queue_policy"] == "drop_oldest", c' "$TMP/r.json"

# -o: encode too, and the output has every frame
"$BIN" bench $M "$TMP/clip.mp4" --warmup 0 -o "$TMP/out.mp4" --json "$TMP/e.json" >"$TMP/out" 2>"$TMP/err"
n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
    -of csv=p=0 "$TMP/out.mp4" 2>/dev/null)
if [ "$n" = 30 ] && grep -q '"encode"' "$TMP/e.json"; then ok; else bad "bench -o: $n frames encoded"; fi
check "bench -o: an encode row" grep -Eq '^encode +[0-9.]' "$TMP/out"
"$BIN" bench $M "$TMP/clip.mp4" -o "$TMP/plot.png" >/dev/null 2>"$TMP/err"
if [ $? -eq 2 ] && grep -q -- '--plot' "$TMP/err"; then ok; else bad "bench -o x.png: usage error naming --plot"; fi

# a live source (lavfi at 30 fps) slower than the detector: drops, counted
"$BIN" bench $M "lavfi:testsrc2=size=320x240:rate=30" --frames 45 --warmup 1 \
    --json "$TMP/l.json" >"$TMP/out" 2>"$TMP/err"
if [ $? -eq 0 ] && "$PY" "$TMP/check.py" "$TMP/l.json" live >"$TMP/py" 2>&1; then ok
else bad "live pipeline report: $(tail -n 1 "$TMP/py" 2>/dev/null)"; fi
check "live: mode line" grep -Eq '^mode +live: .*dropped when the detector is slower' "$TMP/out"

# the verdict: a 1000 fps source cannot be kept up with; 2 fps, three frames, can
"$BIN" bench $M "lavfi:testsrc2=size=160x120:rate=1000" --frames 40 --warmup 1 \
    --json "$TMP/v1.json" >"$TMP/out" 2>"$TMP/err"
if grep -Eq '^verdict +cannot keep up: needs 1000 fps, achieves [0-9.]+ \(drops [0-9]+%\)$' "$TMP/out" &&
    "$PY" "$TMP/check.py" "$TMP/v1.json" live >"$TMP/py" 2>&1; then ok
else bad "1000 fps: $(grep '^verdict' "$TMP/out") $(tail -n 1 "$TMP/py" 2>/dev/null)"; fi
"$BIN" bench $M "lavfi:testsrc2=size=160x120:rate=2" --frames 3 --warmup 1 \
    --json "$TMP/v2.json" >"$TMP/out" 2>"$TMP/err"
if grep -Eq '^verdict +keeps up with 2 fps \(detector alone [0-9.]+ fps, [0-9.]+x headroom' "$TMP/out" &&
    "$PY" "$TMP/check.py" "$TMP/v2.json" live2 >"$TMP/py" 2>&1; then ok
else bad "2 fps: $(grep '^verdict' "$TMP/out") $(tail -n 1 "$TMP/py" 2>/dev/null)"; fi

# a busy machine: two spinning loops on the one CPU bench may use leave it a
# third of it (the kernel shares a CPU fairly), well past the warning's 2x
if command -v taskset >/dev/null 2>&1; then
    taskset -c 0 sh -c 'while :; do :; done' & hog1=$!
    taskset -c 0 sh -c 'while :; do :; done' & hog2=$!
    taskset -c 0 "$BIN" bench --model-only $M --frames 4 --warmup 1 --json "$TMP/c.json" \
        >"$TMP/out" 2>"$TMP/err"
    kill $hog1 $hog2; wait $hog1 $hog2 2>/dev/null
    if grep -q '^WARNING  *machine busy' "$TMP/out" &&
        "$PY" "$TMP/check.py" "$TMP/c.json" model >"$TMP/py" 2>&1 &&
        grep -q '"suspected": true' "$TMP/c.json"; then ok
    else bad "contention not flagged: $(grep -o '"contention": {[^}]*}' "$TMP/c.json")"; fi
else skipped "no taskset: contention"; fi

# every line of the report is explained in --help
"$BIN" bench --help >"$TMP/help"
for f in "$TMP/model.txt" "$TMP/file.txt"; do
    for label in $(awk '/^[a-zA-Z]/ {print $1}' "$f" | sort -u); do
        case $label in
        stage) continue ;;   # the table's header
        capture|decode|preprocess|backbone|fpn|rpn_head|rpn_proposals|roi_align|box_head|\
        postprocess|total|draw|encode)   # table rows: named in the table's entry
            grep -Eq "(^|[ (;,])$label([ ,;)]|$)" "$TMP/help" ;;
        *) grep -Eq "^  $label " "$TMP/help" ;;   # a line of its own
        esac || bad "--help does not define '$label' ($(basename "$f"))"
    done
done
ok
check "--help: both modes" grep -q 'model only' "$TMP/help"

# usage
"$BIN" bench --frames 0 >/dev/null 2>"$TMP/err"; [ $? -eq 2 ] && ok || bad "bench --frames 0: exit 2"
"$BIN" bench $M /no/such/clip.mp4 >/dev/null 2>"$TMP/err"
if [ $? -eq 1 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ]; then ok; else bad "bench on a missing file: exit 1, one line"; fi
summary
