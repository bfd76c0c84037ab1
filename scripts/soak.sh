#!/bin/sh
# soak.sh — `make soak`: vdetect view left running on a live 30 fps source with
# the demo model, as a camera window would be, and what it does over time:
# resident memory (it must stay flat), capture->display and capture->result
# latency per interval (p99 must not creep up), frames dropped.
#
# The source is the sample clip looped forever and paced at 30 fps by FFmpeg's
# lavfi (a live source: the newest frame wins, the oldest is dropped and
# counted). The window is drawn under Xvfb when there is no display.
#
# Environment: SOAK_SECONDS (default 3600), SOAK_EVERY (seconds per interval,
# default 300), SOAK_THREADS (detector threads, default 2), VDETECT_BIN.
# Writes out/soak/stats.jsonl (view's --stats-log, one line per interval) and
# out/soak/report.md (the table README quotes); exits 1 if view failed.
set -eu
cd "$(dirname "$0")/.."
BIN=${VDETECT_BIN:-./vdetect}
SECS=${SOAK_SECONDS:-3600}
EVERY=${SOAK_EVERY:-300}
THREADS=${SOAK_THREADS:-2}
OUT=out/soak
mkdir -p "$OUT"
FRAMES=$((SECS * 30))
SRC="lavfi:movie=assets/sample.mp4:loop=0,setpts=N/(30*TB)"

set -- "$BIN" view -y -q --threads "$THREADS" --frames "$FRAMES" --stats-every "$EVERY" \
    --stats-log "$OUT/stats.jsonl" --stats-json "$OUT/stats.json" "$SRC"
if [ -z "${DISPLAY:-}" ]; then
    command -v xvfb-run >/dev/null ||
        { echo "soak: needs a display or xvfb-run (apt-get install xvfb xauth)" >&2; exit 1; }
    set -- xvfb-run -a -s "-screen 0 1280x720x24" "$@"
fi
echo "soak: $SECS s of $SRC, stats every $EVERY s -> $OUT/" >&2
start=$(date +%s)
"$@"
end=$(date +%s)

# One row per interval, and the RSS trend as a least-squares slope (MB/hour).
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
    echo "Soak: \`make soak\` (SOAK_SECONDS=$SECS, SOAK_EVERY=$EVERY, $THREADS detector threads),"
    echo "$(date -u +%Y-%m-%d), $cpu, $(nproc) cores; wall time $((end - start)) s."
    echo
    echo "| minutes | frames shown | detected | dropped | RSS MB | capture→display p50 / p99 ms | capture→result p50 / p99 ms |"
    echo "|---|---|---|---|---|---|---|"
    awk '
    function num(key,   m) {   # the first number after "key":
        if (match($0, "\"" key "\": *[-0-9.e+]+")) { m = substr($0, RSTART, RLENGTH); sub(/.*: */, "", m); return m + 0 }
        return -1
    }
    function lat(key, p,   s, m) {   # "key": {... "p": N ...}
        s = $0; if (!match(s, "\"" key "\": *\\{[^}]*\\}")) return -1
        s = substr(s, RSTART, RLENGTH)
        if (!match(s, "\"" p "\": *[-0-9.e+]+")) return -1
        m = substr(s, RSTART, RLENGTH); sub(/.*: */, "", m); return m + 0
    }
    {
        t = num("t"); r = num("rss_mb")
        printf "| %.0f | %d | %d | %d | %.1f | %.1f / %.1f | %.1f / %.1f |\n", t / 60, num("displayed"), num("detected"), num("dropped"), r,
            lat("capture_to_display_ms", "p50"), lat("capture_to_display_ms", "p99"),
            lat("capture_to_result_ms", "p50"), lat("capture_to_result_ms", "p99")
        n++; sx += t; sy += r; sxx += t * t; sxy += t * r
        if (n == 1) first = r; last = r
    }
    END {
        if (n >= 2 && (n * sxx - sx * sx) > 0)
            slope = (n * sxy - sx * sy) / (n * sxx - sx * sx) * 3600
        printf "\nRSS %.1f MB at the first interval, %.1f MB at the last; least-squares slope %+.2f MB/hour over %d intervals.\n", first, last, slope, n
    }' "$OUT/stats.jsonl"
} > "$OUT/report.md"
cat "$OUT/report.md"
