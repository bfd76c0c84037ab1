#!/bin/sh
# soak-watch.sh — `make soak-watch`: four cameras the way operators run them,
# for an hour: four `vdetect watch` processes, each on its own UDP stream on
# loopback (the tracking clip looped by FFmpeg at its frame rate, MPEG-TS), all
# publishing to one mosquitto broker, each serving --metrics. Twice during the
# run one camera's stream stops for 15 s (the source must be reopened and
# counted) and once the broker restarts (every instance must reconnect and
# count what it dropped). Sampled every SOAK_EVERY seconds: each instance's
# resident memory (/proc/PID/status VmRSS) and its metrics.
#
# Environment: SOAK_SECONDS (default 3600), SOAK_EVERY (default 60),
# SOAK_THREADS (detector threads per instance, default 1), VDETECT_BIN.
# Writes out/soak-watch/samples.tsv and out/soak-watch/report.md (the table
# README quotes); exits 1 if an instance died.
set -eu
cd "$(dirname "$0")/.."
BIN=${VDETECT_BIN:-./vdetect}
SECS=${SOAK_SECONDS:-3600}
EVERY=${SOAK_EVERY:-60}
THREADS=${SOAK_THREADS:-1}
PY=${PYTHON:-/usr/bin/python3}
OUT=out/soak-watch
mkdir -p "$OUT"
rm -f "$OUT"/*.jsonl "$OUT"/*.log "$OUT/samples.tsv"
command -v mosquitto >/dev/null || command -v /usr/sbin/mosquitto >/dev/null ||
    { echo "soak-watch: needs mosquitto (apt-get install mosquitto)" >&2; exit 1; }
MOSQ=$(command -v mosquitto || echo /usr/sbin/mosquitto)
port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

PIDS=""
# (the exit status survives the clean-up: a kill of a process gone already fails)
trap 'st=$?; for p in $PIDS; do kill "$p" 2>/dev/null; done; exit $st' EXIT
trap 'exit 130' INT TERM
BPORT=$(port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nuser %s\n' "$BPORT" "$(id -un)" \
    >"$OUT/mosquitto.conf"
"$MOSQ" -c "$OUT/mosquitto.conf" >"$OUT/mosquitto.log" 2>&1 &
BROKER=$!
PIDS="$PIDS $BROKER"
sleep 0.5

send() {   # send N PORT: camera N's stream, in the background; its pid in SENDER_N
    ffmpeg -v error -re -stream_loop -1 -i assets/track.mp4 -an -c:v mpeg2video -q:v 5 \
        -f mpegts "udp://127.0.0.1:$2?pkt_size=1316" </dev/null >/dev/null 2>&1 &
    eval "SENDER_$1=$!"
    PIDS="$PIDS $!"
}
for n in 1 2 3 4; do
    eval "UPORT_$n=$(port)"; eval "MPORT_$n=$(port)"
    eval "send $n \$UPORT_$n"
done
sleep 1
for n in 1 2 3 4; do
    eval "up=\$UPORT_$n mp=\$MPORT_$n"
    "$BIN" watch --threads "$THREADS" "udp://127.0.0.1:$up" --camera "cam$n" --motion \
        --detect-fps 5 --zone left=128,0,256,0,256,360,128,360 --timeout 3 \
        --mqtt "mqtt://127.0.0.1:$BPORT/soak" --metrics "127.0.0.1:$mp" --stats-every "$EVERY" \
        --events "$OUT/cam$n.jsonl" -y 2>"$OUT/cam$n.log" &
    eval "WATCH_$n=$!"
    PIDS="$PIDS $!"
done
echo "soak-watch: 4 instances for $SECS s, broker on $BPORT, samples every $EVERY s -> $OUT/" >&2

metric() {   # metric PORT NAME: the sum of a metric's samples
    "$PY" - "$1" "$2" <<'EOF' 2>/dev/null || echo nan
import sys, urllib.request
body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=3).read().decode()
print(sum(float(l.rsplit(" ", 1)[1]) for l in body.splitlines()
          if l.startswith(sys.argv[2] + "{") or l.startswith(sys.argv[2] + " ")))
EOF
}
printf 't_s\tcamera\trss_mb\tframes_decoded\tframes_detected\tframes_dropped\treconnects\tevents\tmqtt_dropped\tmqtt_connected\n' \
    >"$OUT/samples.tsv"
start=$(date +%s)
next=$EVERY
stall1=$((SECS / 3)) stall2=$((2 * SECS / 3)) brk=$((SECS / 2))
done1=0 done2=0 doneb=0
while :; do
    now=$(( $(date +%s) - start ))
    [ "$now" -ge "$SECS" ] && break
    if [ $done1 = 0 ] && [ "$now" -ge "$stall1" ]; then
        echo "soak-watch: t=$now s: cam2's stream stops for 15 s" >&2
        kill "$SENDER_2"; sleep 15; send 2 "$UPORT_2"; done1=1
    fi
    if [ $done2 = 0 ] && [ "$now" -ge "$stall2" ]; then
        echo "soak-watch: t=$now s: cam3's stream stops for 15 s" >&2
        kill "$SENDER_3"; sleep 15; send 3 "$UPORT_3"; done2=1
    fi
    if [ $doneb = 0 ] && [ "$now" -ge "$brk" ]; then
        echo "soak-watch: t=$now s: the broker restarts (10 s away)" >&2
        kill "$BROKER"; wait "$BROKER" 2>/dev/null || true; sleep 10
        "$MOSQ" -c "$OUT/mosquitto.conf" >>"$OUT/mosquitto.log" 2>&1 &
        BROKER=$!; PIDS="$PIDS $BROKER"; doneb=1
    fi
    if [ "$now" -ge "$next" ]; then
        for n in 1 2 3 4; do
            eval "pid=\$WATCH_$n mp=\$MPORT_$n"
            kill -0 "$pid" 2>/dev/null || { echo "soak-watch: cam$n died" >&2; exit 1; }
            rss=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
            dec=$(metric "$mp" 'vdetect_frames_total{camera="cam'$n'",kind="decoded"}')
            printf '%s\tcam%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$now" "$n" "$rss" \
                "$(echo "$dec" | cut -d. -f1)" \
                "$(metric "$mp" 'vdetect_frames_total{camera="cam'$n'",kind="detected"}' | cut -d. -f1)" \
                "$(metric "$mp" 'vdetect_frames_total{camera="cam'$n'",kind="dropped"}' | cut -d. -f1)" \
                "$(metric "$mp" vdetect_source_reconnects_total | cut -d. -f1)" \
                "$(metric "$mp" vdetect_events_total | cut -d. -f1)" \
                "$(metric "$mp" vdetect_mqtt_dropped_total | cut -d. -f1)" \
                "$(metric "$mp" vdetect_mqtt_connected | cut -d. -f1)" >>"$OUT/samples.tsv"
        done
        next=$((next + EVERY))
    fi
    sleep 1
done
for n in 1 2 3 4; do eval "kill -TERM \$WATCH_$n"; done
status=0
for n in 1 2 3 4; do eval "wait \$WATCH_$n" || [ $? -eq 130 ] || status=1; done

# the report: per camera, RSS at the first and last sample and its slope, and the counts
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
"$PY" - "$OUT/samples.tsv" "$SECS" "$cpu" "$(nproc)" >"$OUT/report.md" <<'EOF'
import collections, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
by = collections.defaultdict(list)
for r in rows:
    by[r[1]].append(r)
print("Soak: 4 x `vdetect watch` (demo model, --motion --detect-fps 5, 1 thread each) on UDP "
      "streams of the tracking clip looped at 25 fps, one mosquitto broker, %s s on %s (%s CPUs); "
      "cam2's and cam3's streams stopped for 15 s once each, the broker restarted once.\n"
      % (sys.argv[2], sys.argv[3], sys.argv[4]))
print("| camera | RSS first / last / max MB | RSS slope MB/h | frames decoded | detected | dropped | reconnects | events | MQTT dropped |")
print("|---|---|---|---|---|---|---|---|---|")
for cam in sorted(by):
    r = by[cam]
    t = [float(x[0]) for x in r]
    rss = [float(x[2]) for x in r]
    n = len(t)
    mt, mr = sum(t) / n, sum(rss) / n
    den = sum((a - mt) ** 2 for a in t) or 1
    slope = sum((a - mt) * (b - mr) for a, b in zip(t, rss)) / den * 3600
    last = r[-1]
    print("| %s | %.1f / %.1f / %.1f | %+.2f | %s | %s | %s | %s | %s | %s |"
          % (cam, rss[0], rss[-1], max(rss), slope, last[3], last[4], last[5], last[6], last[7], last[8]))
EOF
cat "$OUT/report.md"
exit $status
