#!/bin/sh
# run-demo.sh — `make run`: the demo model (assets/demo.vdm) on the sample clip
# (assets/sample.mp4). With a display: a live window (q or Esc quits). Without
# one (or if the window cannot open): the clip is annotated to a file instead
# and the summary printed. Extra arguments go to vdetect (e.g. --frames 50).
set -u
cd "$(dirname "$0")/.."
BIN=${VDETECT_BIN:-./vdetect}
clip=assets/sample.mp4
for f in assets/demo.vdm "$clip"; do
    if [ ! -f "$f" ]; then
        echo "vdetect demo: $f is missing from this checkout" >&2
        exit 1
    fi
done

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    echo "vdetect demo: playing $clip with the demo model (q or Esc quits, ? shows the keys)" >&2
    "$BIN" view "$@" "$clip"
    rc=$?
    [ "$rc" -ne 2 ] && exit "$rc"
    echo "vdetect demo: no usable display; annotating to a file instead" >&2
fi

mkdir -p out
out=out/demo-annotated.mp4
echo "vdetect demo: no display here, so annotating $clip to $out" >&2
"$BIN" annotate -y "$@" "$clip" -o "$out" --json out/demo-annotated.jsonl || exit $?
frames=$(wc -l < out/demo-annotated.jsonl | tr -d ' ')
boxes=$(grep -o '"box"' out/demo-annotated.jsonl | wc -l | tr -d ' ')
echo "vdetect demo: wrote $out ($frames frames, $boxes boxes drawn; detections per frame in"
echo "out/demo-annotated.jsonl). Play it with: ffplay $out"
