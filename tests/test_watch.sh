#!/bin/sh
# test_watch.sh — `vdetect watch` end to end (issue 17), with the demo model:
#   - --events on the tracking clip: the documented schema, per object new,
#     update*, end in order, zones named, nothing after an end; the objects are
#     the tracks annotate --track finds on the same clip;
#   - --mqtt to a real broker (Debian's mosquitto, started here on a free port
#     of 127.0.0.1): availability online, events in order with the same schema,
#     counts and stats topics; the broker stopped and restarted mid-run: vdetect
#     reconnects, counts what it dropped (a small --mqtt-queue), keeps detecting,
#     and every event reaches the broker or is counted as dropped;
#   - a UDP stream that stops and resumes: the source is reopened, the camera's
#     availability topic goes offline then online, the reconnect is counted;
#   - --metrics: Prometheus text while it runs;
#   - --clips: a clip per object, starting at most pre-capture plus one GOP before
#     it appeared (found by the clip's first frame's pixels in the source), a JPEG
#     snapshot each; killed with SIGKILL mid-run, every clip on disk plays;
#   - SIGTERM: exit 130 with an end event for every object still present;
#   - bad options: usage errors.
# Environment: VDETECT_BIN (default ./vdetect), PYTHON (default /usr/bin/python3).
# Ends with "test_watch: N passed, N failed, N skipped".
set -u
BIN=${VDETECT_BIN:-./vdetect}
PY=${PYTHON:-/usr/bin/python3}
NAME=watch
. tests/lib.sh
case "$BIN" in */*) ;; *) BIN="./$BIN" ;; esac
CLIP=assets/track.mp4
if [ ! -x "$BIN" ] || [ ! -f assets/demo.vdm ] || [ ! -f "$CLIP" ]; then
    echo "FAIL: needs $BIN, assets/demo.vdm and $CLIP"
    fail=1
    summary
fi
M="--weights assets/demo.vdm --threads 2"
Z="--zone left=128,0,256,0,256,360,128,360 --zone right=384,0,512,0,512,360,384,360"
PIDS=""
cleanup() { for p in $PIDS; do kill -9 "$p" 2>/dev/null; done; rm -rf "$TMP"; }
trap cleanup EXIT
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# the schema and order of a stream of events (one JSON object per line)
cat >"$TMP/check_events.py" <<'EOF'
import json, sys
path, want_zones = sys.argv[1], set(sys.argv[2].split(",")) if len(sys.argv) > 2 and sys.argv[2] else set()
state = {}
n = {"new": 0, "update": 0, "end": 0}
keys = {"id", "label", "label_id", "score", "top_score", "box", "zones", "entered_zones",
        "start_time", "last_time", "start_wall", "last_wall", "frame", "active"}
for line in open(path):
    line = line.strip()
    if not line:
        continue
    e = json.loads(line)
    assert set(e) == {"type", "camera", "before", "after"}, e.keys()
    t, a, b = e["type"], e["after"], e["before"]
    assert set(a) == keys, set(a) ^ keys
    i = a["id"]
    if t == "new":
        assert b is None and i not in state, ("new twice or with before", i)
        state[i] = "live"
    else:
        assert state.get(i) == "live", ("event for an object not live", t, i, state.get(i))
        assert set(b) == keys and b["id"] == i
        if t == "end":
            assert a["active"] is False and a["zones"] == [], a
            state[i] = "ended"
    assert len(a["box"]) == 4 and 0 <= a["score"] <= 1 and a["top_score"] >= a["score"] - 1e-6
    assert set(a["zones"]) <= want_zones and set(a["entered_zones"]) <= want_zones, a
    assert a["last_time"] >= a["start_time"]
    n[t] += 1
print("%d objects: %d new, %d update, %d end; still live: %d" % (
    len(state), n["new"], n["update"], n["end"], sum(1 for s in state.values() if s == "live")))
EOF

# ---- --events on a file, read flat out ------------------------------------------------
"$BIN" watch $M "$CLIP" --fast $Z --events "$TMP/ev.jsonl" --camera clip1 -q 2>"$TMP/err"
rc=$?
check "watch --events --fast: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
if "$PY" "$TMP/check_events.py" "$TMP/ev.jsonl" left,right >"$TMP/py" 2>&1; then ok
else bad "events schema and order: $(tail -n 2 "$TMP/py" | tr '\n' ' ')"; fi
echo "  --events: $(cat "$TMP/py")"
check "every object ended at the end of the file" grep -q 'still live: 0' "$TMP/py"
"$BIN" annotate $M "$CLIP" -o "$TMP/a.mkv" --no-draw --track --json "$TMP/a.jsonl" -q 2>"$TMP/err"
check "the objects of the events are annotate --track's tracks" "$PY" -c "
import json
ids = {d['track_id'] for l in open('$TMP/a.jsonl') for d in json.loads(l)['detections']}
ev = {json.loads(l)['after']['id'] for l in open('$TMP/ev.jsonl')}
assert ids == ev, (sorted(ids), sorted(ev))"
check "zone entries appear in updates" grep -q '"entered_zones": \["left"' "$TMP/ev.jsonl"
check "the camera's name" grep -q '"camera": "clip1"' "$TMP/ev.jsonl"
"$BIN" watch $M "$CLIP" --fast --events "$TMP/ev.jsonl" --frames 2 -q 2>"$TMP/err"
check "an existing --events file needs -y (rc $?)" grep -q 'exists' "$TMP/err"
n0=$(wc -l <"$TMP/ev.jsonl")
"$BIN" watch $M "$CLIP" --fast --events "$TMP/ev.jsonl" --append --frames 50 -q 2>"$TMP/err"
n1=$(wc -l <"$TMP/ev.jsonl")
check "--append adds to the events file ($n0 -> $n1 lines)" [ "$n1" -gt "$n0" ]
check "--append keeps what was there" "$PY" -c "
import json; [json.loads(l) for l in open('$TMP/ev.jsonl')]"

# ---- --clips: a clip per object from pre-capture (plus at most a GOP) before it --------
"$BIN" watch $M "$CLIP" --fast --clips "$TMP/clips" --pre-capture 2 --post-capture 1 \
    --events "$TMP/cl.jsonl" -q 2>"$TMP/err"
check "watch --clips: exit 0 (rc $?)" [ -s "$TMP/cl.jsonl" ]
# each clip's first frame found in the clip by its pixels (a stream copy starts at a
# keyframe of the source), against the object's first sighting; GOP: 2 s here
if "$PY" - "$CLIP" "$TMP/clips" "$TMP/cl.jsonl" >"$TMP/py" 2>&1 <<'EOF'
import glob, json, os, re, subprocess, sys
import numpy as np
def frames(path, n=None):
    cmd = ["ffmpeg", "-v", "error", "-i", path, "-vf", "scale=160:90", "-pix_fmt", "gray"]
    cmd += (["-frames:v", str(n)] if n else []) + ["-f", "rawvideo", "-"]
    raw = subprocess.run(cmd, stdout=subprocess.PIPE, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, 90, 160).astype(np.float32)
src = frames(sys.argv[1])
start = {}
for l in open(sys.argv[3]):
    e = json.loads(l)
    if e["type"] == "new":
        start[e["after"]["id"]] = e["after"]["start_time"]
clips = sorted(glob.glob(os.path.join(sys.argv[2], "*.ts")))
jpgs = glob.glob(os.path.join(sys.argv[2], "*.jpg"))
assert len(clips) == len(start) == len(jpgs), (len(clips), len(start), len(jpgs))
worst = 0
for c in clips:
    oid = int(re.search(r"-(\d+)\.ts$", c).group(1))
    first = frames(c, 1)[0]
    k = int(np.argmin(((src - first) ** 2).mean(axis=(1, 2))))
    t0, t = k / 25.0, start[oid]
    lead = t - t0
    assert lead >= -1e-6, (c, "starts after the object appeared", t0, t)
    assert lead <= 2 + 2 + 0.04 + 1e-6, (c, "starts more than pre-capture + a GOP early", t0, t)
    worst = max(worst, lead)
print("%d clips, %d snapshots; each starts 0..%.2f s before its object (pre-capture 2 s + GOP 2 s)"
      % (len(clips), len(jpgs), worst))
EOF
then ok; else bad "clips start within pre-capture + one GOP: $(tail -n 2 "$TMP/py" | tr '\n' ' ')"; fi
echo "  clips: $(tail -n 1 "$TMP/py")"
# killed outright mid-run: every clip written so far plays
"$BIN" watch $M "$CLIP" --clips "$TMP/kclips" --pre-capture 2 --post-capture 1 -q 2>"$TMP/err" &
WATCH=$!
PIDS="$PIDS $WATCH"
sleep 5
kill -9 "$WATCH"; wait "$WATCH" 2>/dev/null
n=0 bad=0
for f in "$TMP"/kclips/*.ts; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    fr=$(ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$f" 2>/dev/null | head -n 1)
    [ "${fr:-0}" -gt 0 ] 2>/dev/null || bad=$((bad + 1))
done
echo "  SIGKILL after 5 s: $n clips on disk, $bad unplayable"
check "SIGKILL: clips on disk ($n) all play ($bad do not)" [ "$n" -ge 2 ] && [ "$bad" -eq 0 ]

# ---- MQTT, with the broker restarted mid-run -------------------------------------------
if ! command -v mosquitto >/dev/null 2>&1 || ! command -v mosquitto_sub >/dev/null 2>&1; then
    skipped "mosquitto and mosquitto_sub not installed: the broker tests"
    summary
fi
MOSQ=$(command -v mosquitto)
PORT=$(free_port)
# persistence: the subscriber's session (and what it missed while the broker
# was down and it reconnected) survives the broker's restart, as in production;
# as root, mosquitto would switch to user mosquitto and could not write it
mkdir -p "$TMP/mosq"
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nuser %s\n' \
    "$PORT" "$TMP/mosq" "$(id -un)" >"$TMP/mosq.conf"
start_broker() {
    "$MOSQ" -c "$TMP/mosq.conf" >>"$TMP/mosq.log" 2>&1 &
    BROKER=$!
    PIDS="$PIDS $BROKER"
    i=0; while [ $i -lt 50 ] && ! "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null; do
        sleep 0.1; i=$((i + 1)); done
}
start_sub() {   # start_sub FILE: every message of vd/# as "topic payload" lines (one session)
    mosquitto_sub -h 127.0.0.1 -p "$PORT" -t 'vd/#' -v -q 1 -c -i vdetect-test-sub >>"$1" 2>/dev/null &
    SUB=$!
    PIDS="$PIDS $SUB"
    sleep 0.3
}
start_broker
start_sub "$TMP/sub1.txt"
# 10 s of clip at its own rate; the broker goes away at ~3 s for ~3 s
"$BIN" watch $M "$CLIP" $Z --camera cam1 --mqtt "mqtt://127.0.0.1:$PORT/vd" --mqtt-queue 10 \
    --events "$TMP/mq.jsonl" --stats-every 2 2>"$TMP/watch.err" &
WATCH=$!
PIDS="$PIDS $WATCH"
sleep 3
kill -9 "$SUB" 2>/dev/null   # (mosquitto_sub's own SIGTERM handler can hang)
kill "$BROKER" 2>/dev/null; wait "$BROKER" 2>/dev/null
sleep 3
start_broker
start_sub "$TMP/sub2.txt"
wait "$WATCH"; rc=$?
sleep 0.5
kill -9 "$SUB" 2>/dev/null
kill "$BROKER" 2>/dev/null; wait "$BROKER" 2>/dev/null
check "watch --mqtt across a broker restart: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
cat "$TMP/sub1.txt" "$TMP/sub2.txt" >"$TMP/sub.txt"
if "$PY" - "$TMP/sub.txt" "$TMP/mq.jsonl" "$TMP/watch.err" >"$TMP/py" 2>&1 <<'EOF'
import json, re, sys
subs = [l.rstrip("\n").split(" ", 1) for l in open(sys.argv[1]) if " " in l]
topics = [t for t, _ in subs]
assert topics and topics[0] == "vd/cam1/available" and subs[0][1] == "online", subs[:2]
events = [json.loads(p) for t, p in subs if t == "vd/events"]
assert events, "no events"
assert any(t == "vd/cam1/counts" for t in topics), "no counts"
stats = [json.loads(p) for t, p in subs if t == "vd/cam1/stats"]
assert stats and all("frames" in s and "mqtt" in s for s in stats), "no stats"
# events arrive in order per object (duplicates after a reconnect are allowed)
seen = {}
order = {"new": 0, "update": 1, "end": 2}
for e in events:
    i, t = e["after"]["id"], e["type"]
    assert order[t] >= (0 if t == "update" else order.get(seen.get(i), -1)), (i, t, seen.get(i))
    if t != "update":
        seen[i] = t
# the summary: mqtt sent / dropped / connects
err = open(sys.argv[3]).read()
m = re.search(r"mqtt: (\d+) sent, (\d+) dropped, (\d+) connects", err)
assert m, err[-500:]
sent, dropped, connects = map(int, m.groups())
assert connects >= 2, ("no reconnect", connects)
assert dropped > 0, "a 10-message queue over a 3 s outage dropped nothing"
file_events = [json.loads(l) for l in open(sys.argv[2])]
got = {json.dumps(e, sort_keys=True) for e in events}
lost = [e for e in file_events if json.dumps(e, sort_keys=True) not in got]
assert len(lost) <= dropped, ("events lost beyond the counted drops", len(lost), dropped)
det = re.search(r"watch: (\d+) frames: (\d+) detected", err)
assert det and int(det.group(2)) > 100, "detection did not go on"
print("%d events on the broker of %d, %d dropped (counted), %d connects, %s frames detected"
      % (len(events), len(file_events), dropped, connects, det.group(2)))
EOF
then ok; else bad "MQTT across a broker restart: $(tail -n 3 "$TMP/py" | tr '\n' ' ')"; fi
echo "  mqtt: $(tail -n 1 "$TMP/py")"
check "the log lines carry a timestamp" grep -q '^20[0-9-]*T[0-9:.]*Z vdetect watch cam1: ' "$TMP/watch.err"

# ---- metrics while running, SIGTERM at the end ----------------------------------------
MPORT=$(free_port)
"$BIN" watch $M "$CLIP" --camera m1 --metrics "127.0.0.1:$MPORT" --events "$TMP/sig.jsonl" \
    -q 2>"$TMP/err" &
WATCH=$!
PIDS="$PIDS $WATCH"
sleep 4
"$PY" -c "
import urllib.request
body = urllib.request.urlopen('http://127.0.0.1:$MPORT/metrics', timeout=5).read().decode()
open('$TMP/metrics.txt', 'w').write(body)" 2>"$TMP/err"
kill -TERM "$WATCH"; wait "$WATCH"; rc=$?
check "--metrics: frames counted" grep -q '^vdetect_frames_total{camera="m1",kind="detected"} [1-9]' "$TMP/metrics.txt"
check "--metrics: HELP and TYPE lines" grep -q '^# TYPE vdetect_fps gauge' "$TMP/metrics.txt"
check "--metrics: the detector's time as a summary" grep -q '^vdetect_inference_seconds_count{camera="m1"} ' "$TMP/metrics.txt"
check "SIGTERM: exit 130 (rc $rc)" [ "$rc" -eq 130 ]
if "$PY" "$TMP/check_events.py" "$TMP/sig.jsonl" "" >"$TMP/py" 2>&1 && grep -q 'still live: 0' "$TMP/py"; then ok
else bad "SIGTERM: every object ended: $(tail -n 1 "$TMP/py")"; fi

# ---- a UDP stream that stops and resumes ---------------------------------------------
UPORT=$(free_port)
send() {
    ffmpeg -v error -re -stream_loop -1 -i "$CLIP" -an -c:v mpeg2video -q:v 4 -f mpegts \
        "udp://127.0.0.1:$UPORT?pkt_size=1316" </dev/null >/dev/null 2>&1 &
    SENDER=$!
    PIDS="$PIDS $SENDER"
}
start_broker
start_sub "$TMP/sub3.txt"
send
sleep 0.5
"$BIN" watch $M "udp://127.0.0.1:$UPORT" --camera u1 --mqtt "mqtt://127.0.0.1:$PORT/vd" \
    --timeout 1 -q 2>"$TMP/udp.err" &
WATCH=$!
PIDS="$PIDS $WATCH"
sleep 4
kill "$SENDER" 2>/dev/null
sleep 4
send
sleep 4
kill -TERM "$WATCH"; wait "$WATCH"; rc=$?
sleep 0.5
kill -9 "$SUB" 2>/dev/null
kill "$SENDER" "$BROKER" 2>/dev/null
check "watch udp:// across a stall: stopped by SIGTERM (rc $rc)" [ "$rc" -eq 130 ]
avail=$(sed -n 's/^vd\/u1\/available //p' "$TMP/sub3.txt" | tr '\n' ' ')
echo "  udp stall: availability: $avail"
case "$avail" in
    *"online offline online"*) ok ;;
    *) bad "availability went online, offline, online (got: $avail)" ;;
esac

# ---- errors -------------------------------------------------------------------------
expect() {
    want=$1 what=$2 pat=$3; shift 3
    "$BIN" "$@" >/dev/null 2>"$TMP/err"; rc=$?
    if [ "$rc" -eq "$want" ] && grep -q -- "$pat" "$TMP/err"; then ok
    else bad "$what: want exit $want and '$pat' (rc $rc)"; fi
}
expect 2 "--mqtt without a host" "mqtt" watch $M "$CLIP" --mqtt mqtt://
expect 2 "--mqtt of another scheme" "mqtt" watch $M "$CLIP" --mqtt http://x/y
expect 2 "--camera with a slash" "letters, digits" watch $M "$CLIP" --camera a/b
expect 2 "no SOURCE" "no SOURCE" watch $M
expect 2 "--append with -y" "--append and -y" watch $M "$CLIP" --events "$TMP/x.jsonl" --append -y
expect 1 "--metrics on a bad address" "metrics" watch $M "$CLIP" --metrics 999.1.1.1:80 --frames 1
summary
