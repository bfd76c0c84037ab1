#!/bin/sh
# test_bench.sh — `vdetect bench`: the report's schema (docs/formats.md §4) and its
# arithmetic, in both modes. Stage means add up to the frame time; every rate
# equals (count - 1) / the span it was measured over; frame counts balance
# (decoded = detected + held + dropped), with no drops on a file and drops on
# a live source slower than the detector; --plot writes well-formed SVG.
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
    if mode == "file":
        assert f["dropped"] == 0 and f["decoded"] == f["detected"] == f["displayed"], f
        assert c["queue_policy"] == "block"
    if mode == "live":
        assert c["live"] and c["queue_policy"] == "drop_oldest"
        assert f["dropped"] > 0, "a 30 fps source and a slower detector must drop"
if len(sys.argv) > 3:
    xml.dom.minidom.parse(sys.argv[3])   # well-formed SVG
print("ok")
PY

# model only
"$BIN" bench --model-only $M --frames 4 --warmup 1 --json "$TMP/m.json" --plot "$TMP/m.svg" \
    >"$TMP/out" 2>"$TMP/err"
if [ $? -eq 0 ] && "$PY" "$TMP/check.py" "$TMP/m.json" model "$TMP/m.svg" >"$TMP/py" 2>&1; then ok
else bad "model-only report: $(tail -n 1 "$TMP/py" 2>/dev/null)"; fi
if grep -q "^backbone " "$TMP/out" && grep -q "^total " "$TMP/out"; then ok; else bad "model-only table"; fi

# a file: back-pressure, nothing dropped
ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=f=300 -t 1.2 \
    -c:v libx264 -pix_fmt yuv420p -c:a aac "$TMP/clip.mp4" </dev/null
"$BIN" bench $M "$TMP/clip.mp4" --warmup 1 --json "$TMP/f.json" --plot "$TMP/f.svg" \
    >"$TMP/out" 2>"$TMP/err"
if [ $? -eq 0 ] && "$PY" "$TMP/check.py" "$TMP/f.json" file "$TMP/f.svg" >"$TMP/py" 2>&1; then ok
else bad "file pipeline report: $(tail -n 1 "$TMP/py" 2>/dev/null)"; fi
if grep -q "^frames .* 30 decoded = 30 detected + 0 dropped" "$TMP/out"; then ok
else bad "file pipeline table: $(grep '^frames' "$TMP/out")"; fi

# -o: encode too, and the output has every frame
"$BIN" bench $M "$TMP/clip.mp4" --warmup 0 -o "$TMP/out.mp4" --json "$TMP/e.json" >"$TMP/out" 2>"$TMP/err"
n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
    -of csv=p=0 "$TMP/out.mp4" 2>/dev/null)
if [ "$n" = 30 ] && grep -q '"encode"' "$TMP/e.json"; then ok; else bad "bench -o: $n frames encoded"; fi

# a live source (lavfi at 30 fps) slower than the detector: drops, counted
"$BIN" bench $M "lavfi:testsrc2=size=320x240:rate=30" --frames 45 --warmup 1 \
    --json "$TMP/l.json" >"$TMP/out" 2>"$TMP/err"
if [ $? -eq 0 ] && "$PY" "$TMP/check.py" "$TMP/l.json" live >"$TMP/py" 2>&1; then ok
else bad "live pipeline report: $(tail -n 1 "$TMP/py" 2>/dev/null)"; fi

# usage
"$BIN" bench --frames 0 >/dev/null 2>"$TMP/err"; [ $? -eq 2 ] && ok || bad "bench --frames 0: exit 2"
"$BIN" bench $M /no/such/clip.mp4 >/dev/null 2>"$TMP/err"
if [ $? -eq 1 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ]; then ok; else bad "bench on a missing file: exit 1, one line"; fi
summary
