#!/bin/sh
# test_run_demo.sh — `make run`'s demo script, as a new user meets it: without
# a display it annotates the sample clip to out/ (exit 0, boxes drawn, every
# frame written); with one (Xvfb) it opens the live window and quits cleanly.
# Prints "test_run_demo: N passed, N failed".
set -u
NAME=run_demo
. tests/lib.sh
export VDETECT_BIN="${VDETECT_BIN:-./vdetect}"
case "$VDETECT_BIN" in /*) ;; *) VDETECT_BIN="$(pwd)/$VDETECT_BIN" ;; esac

# headless: annotate to out/
rm -f out/demo-annotated.mp4 out/demo-annotated.jsonl
env -u DISPLAY -u WAYLAND_DISPLAY scripts/run-demo.sh --frames 40 >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ "$rc" -eq 0 ] && grep -q "out/demo-annotated.mp4" "$TMP/out"; then ok; else bad "headless make run: exit $rc"; fi
n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
    -of csv=p=0 out/demo-annotated.mp4 2>/dev/null)
if [ "$n" = 40 ]; then ok; else bad "annotated clip has $n frames, want 40"; fi
a=$(ffprobe -v error -select_streams a:0 -show_entries stream=codec_name -of csv=p=0 \
    out/demo-annotated.mp4 2>/dev/null)
if [ -n "$a" ]; then ok; else bad "annotated clip lost the sample's audio"; fi
boxes=$(grep -o '"box"' out/demo-annotated.jsonl 2>/dev/null | wc -l)
if [ "$boxes" -ge 40 ]; then ok; else bad "only $boxes boxes in 40 frames of the demo"; fi

# with a display: the window, under Xvfb
if command -v xvfb-run >/dev/null 2>&1; then
    xvfb-run -a -s "-screen 0 1024x768x24" scripts/run-demo.sh --frames 40 >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ "$rc" -eq 0 ] && grep -q "^view: 40 frames" "$TMP/err"; then ok
    else bad "make run under Xvfb: exit $rc"; fi
else
    bad "xvfb-run is not installed (scripts/deps.sh test installs xvfb)"
fi
summary
