#!/bin/sh
# test_reconnect.sh — a live source that stalls is reconnected, not the end of the
# run (issue 17). ffmpeg sends an MPEG-TS stream over UDP to 127.0.0.1; the reader,
# build/tests/drive_reconnect (video_open with reconnect on, timeout 1 s), reads
# it. The sender is killed after ~2 s; for ~3 s nothing is sent; a new sender
# starts (its timestamps start again, its picture is 640x360); after ~3 s it is
# killed too and, during that second outage, SIGUSR1 makes the reader call
# video_interrupt(). Checked:
#   - frames before the gap and again after it, indices counting on, the new
#     picture size scaled to the first (with a note);
#   - on_state reported exactly down, up, down (the second outage), why "no data";
#   - pts_sec never goes back, and moves over the gap by about its length;
#   - the interrupt during the outage returns VIDEO_INTERRUPTED within 0.5 s;
#   - video_source_health (also polled from another thread): 1 reconnect, down
#     at the end, the time down, the last error;
#   - stderr: one "reconnecting" line per outage plus rate-limited ones, one
#     "reconnected";
#   - without reconnect, the same outage ends the read with an error as before.
# The reconnect case runs again with build-asan/tests/drive_reconnect when that
# is there (make test builds it). About 15 s, 30 s with ASan.
# Environment: BUILD (default build), ASAN_BUILD (default build-asan).
# Ends with "test_reconnect: N passed, N failed, N skipped".
set -u
BUILD=${BUILD:-build}
ASAN_BUILD=${ASAN_BUILD:-build-asan}
NAME=reconnect
. tests/lib.sh
DRIVE=$BUILD/tests/drive_reconnect
INTERRUPTED=-1414092869 # VIDEO_INTERRUPTED, FFmpeg's AVERROR_EXIT

senders=""
stop_senders() {
    for p in $senders; do kill -KILL "$p" 2>/dev/null; done
    senders=""
}
trap 'stop_senders; rm -rf "$TMP"' EXIT

if [ ! -x "$DRIVE" ]; then
    echo "FAIL: needs $DRIVE (make tests)"
    fail=1
    summary
fi
if ! command -v ffmpeg >/dev/null; then
    skipped "all: no ffmpeg to send a stream"
    summary
fi

# send PORT SIZE [SECONDS]: an MPEG-TS stream of SIZE at 25 fps to udp://127.0.0.1:PORT
# in the background, paced like a camera; its pid joins $senders, and in $sender
send() {
    d=${3:+:duration=$3}
    ffmpeg -nostdin -v error -re -f lavfi -i "testsrc2=size=$2:rate=25$d" \
        -c:v mpeg2video -g 5 -f mpegts "udp://127.0.0.1:$1?pkt_size=1316" >/dev/null 2>&1 &
    sender=$!
    senders="$senders $sender"
}
# kill_sender PID: the camera goes away at once
kill_sender() { kill -KILL "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
# wait_for PATTERN N FILE SECONDS: until FILE has N lines matching PATTERN (0), or
# SECONDS passed (1) — the test follows the reader instead of guessing its timing
wait_for() {
    i=0
    while [ "$(grep -c "$1" "$3")" -lt "$2" ]; do
        i=$((i + 1))
        [ "$i" -gt $(($4 * 10)) ] && return 1
        sleep 0.1
    done
}
between() { awk -v a="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(a >= lo && a <= hi) }'; }

# reconnect_case LABEL DRIVER PORT
reconnect_case() {
    label=$1 drv=$2 port=$3 out="$TMP/$1.out" err="$TMP/$1.err"
    send "$port" 320x240; s1=$sender
    sleep 0.7 # the sender is up before the reader listens
    "$drv" "udp://127.0.0.1:$port" 1 1 40 >"$out" 2>"$err" &
    reader=$!
    sleep 2
    kill_sender "$s1"
    sleep 3
    send "$port" 640x360; s2=$sender
    wait_for '^state 1' 1 "$out" 15
    sleep 2
    kill_sender "$s2"
    # down again 1 s later; then it waits its back-off (it broke soon after
    # coming back: 2 s when the second attempt of the first outage made it)
    # and tries again: the interrupt comes inside that attempt or the wait
    wait_for '^state 0' 2 "$out" 5
    sleep 2.5
    kill -USR1 "$reader"
    wait "$reader"
    rc=$?
    stop_senders
    cp "$err" "$TMP/err" # shown by bad
    check "$label: reader exits 0 (rc $rc)" [ "$rc" -eq 0 ]
    check "$label: opened 320x240" grep -q '^open 320 240$' "$out"

    states=$(awk '$1 == "state" { printf "%s%s", sep, $2; sep = " " }' "$out")
    check "$label: on_state down, up, down (got '$states')" [ "$states" = "0 1 0" ]
    why=$(awk '$1 == "state" && $2 == 0 { $1 = $2 = $3 = ""; sub(/^ +/, ""); print; exit }' "$out")
    check "$label: down because 'no data for 1 s' (got '$why')" [ "$why" = "no data for 1 s" ]

    # frames before the first break and between the reconnect and the second
    before=$(awk '$1 == "state" { exit } $1 == "frame" { n++ } END { print n + 0 }' "$out")
    after=$(awk '$1 == "state" { s++; next } $1 == "frame" && s == 2 { n++ } END { print n + 0 }' "$out")
    late=$(awk '$1 == "state" { s++; next } $1 == "frame" && s >= 3 { n++ } END { print n + 0 }' "$out")
    check "$label: $before frames before the gap (>= 10)" [ "$before" -ge 10 ]
    check "$label: $after frames after the reconnect (>= 10)" [ "$after" -ge 10 ]
    check "$label: no frame while down ($late)" [ "$late" -eq 0 ]
    check "$label: frame indices count on across the reconnect" \
        awk '$1 == "frame" { if ($2 != n++) exit 1 }' "$out"
    check "$label: pts_sec never goes back" \
        awk '$1 == "frame" { if (seen && $3 < p) exit 1; p = $3; seen = 1 }' "$out"
    jump=$(awk '$1 == "state" && $2 == 1 { up = 1; next }
                $1 == "frame" { if (up) { print $3 - p; exit } p = $3 }' "$out")
    check "$label: pts_sec moves on over the gap by about its length ($jump s)" \
        between "${jump:-0}" 2.5 12

    set -- $(awk '$1 == "end" { print $2, $4 }' "$out")
    ret=${1:-none} latency=${2:-9}
    check "$label: interrupted during the outage: VIDEO_INTERRUPTED (got $ret)" \
        [ "$ret" = "$INTERRUPTED" ]
    check "$label: interrupt returned in $latency s (< 0.5)" le "$latency" 0.5
    echo "$label: interrupt latency $latency s; $(grep '^health' "$out")"

    set -- $(awk '$1 == "health" { print $2, $3, $4, $5, $6, $7 }' "$out")
    check "$label: health: 1 reconnect (got ${1:-none})" [ "${1:-0}" -eq 1 ]
    check "$label: health: attempts ${2:-none} >= reconnects" [ "${2:-0}" -ge 1 ]
    check "$label: health: down at the end (${3:-none})" [ "${3:-0}" -eq 1 ]
    check "$label: health: down ${4:-none} s in all (4 to 20)" between "${4:-0}" 4 20
    check "$label: health: another thread saw it down" [ "${5:-0}" -eq 1 ]
    check "$label: not stopped by the reader's guard" [ "${6:-1}" -eq 0 ]
    check "$label: health: last error says no data" grep -q '^health .* no data for 1 s$' "$out"

    n_down=$(grep -c ': reconnecting' "$err")
    n_up=$(grep -c ': reconnected after ' "$err")
    check "$label: stderr: 'no data for 1 s: reconnecting' first" \
        grep -q "^video udp://127.0.0.1:$port: no data for 1 s: reconnecting\$" "$err"
    check "$label: stderr: 2 to 4 'reconnecting' lines (rate-limited; got $n_down)" \
        between "$n_down" 2 4
    check "$label: stderr: one 'reconnected' line (got $n_up)" [ "$n_up" -eq 1 ]
    check "$label: stderr: the new size noted once" \
        [ "$(grep -c 'note: the picture is now 640x360: scaled to 320x240$' "$err")" -eq 1 ]
    check "$label: stderr: nothing from the sanitizers" \
        sh -c "! grep -q 'Sanitizer\|runtime error' '$err'"
}

base=$((40000 + $$ % 20000))
reconnect_case reconnect "$DRIVE" "$base"

# Without reconnect: the stream stops (2 s, then nothing) and the read ends.
send $((base + 1)) 320x240 2.5; s1=$sender
sleep 0.7
t0=$(date +%s.%N)
"$DRIVE" "udp://127.0.0.1:$((base + 1))" 1 0 20 >"$TMP/off.out" 2>"$TMP/err"
rc=$?
t1=$(date +%s.%N)
stop_senders
set -- $(awk '$1 == "end" { print $2, $4 }' "$TMP/off.out")
frames=$(grep -c '^frame' "$TMP/off.out")
check "no reconnect: reader exits 0 (rc $rc)" [ "$rc" -eq 0 ]
check "no reconnect: $frames frames before the stream stopped (>= 10)" [ "$frames" -ge 10 ]
check "no reconnect: the read ends with an error (${1:-none})" \
    sh -c "[ '${1:-0}' -lt 0 ] && [ '${1:-0}' != '$INTERRUPTED' ]"
check "no reconnect: not interrupted" [ "${2:-0}" = "-1.000" ]
check "no reconnect: ended $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s after it started (< 6)" \
    awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 6) }'
check "no reconnect: no on_state call" sh -c "! grep -q '^state' '$TMP/off.out'"
check "no reconnect: 'no data for 1 s (stream stopped?)' printed" \
    grep -q 'read error: no data for 1 s (stream stopped?)' "$TMP/err"
check "no reconnect: no 'reconnecting'" sh -c "! grep -q reconnect '$TMP/err'"

if [ -x "$ASAN_BUILD/tests/drive_reconnect" ]; then
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} reconnect_case asan "$ASAN_BUILD/tests/drive_reconnect" $((base + 2))
else
    skipped "asan: no $ASAN_BUILD/tests/drive_reconnect (make test builds it)"
fi
summary
