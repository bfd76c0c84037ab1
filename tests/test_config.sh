#!/bin/sh
# test_config.sh — `--config FILE` of view, annotate and bench (app/config_file.c,
# docs/formats.md §7): a file's options take effect where --config stood (a later
# command-line option overrides them, a later file too, repeatable options
# collect); every spelling of a line (NAME VALUE, NAME=VALUE, with or without
# "--", short options with their dash, blanks around, CRLF, a byte order mark, no
# last newline, a value with spaces); "input" is the SOURCE; after "--" --config
# is an argument, and -h before it shows the help without reading it. Every
# mistake is exit 2 with one line naming the file and line, then the help hint:
# nesting, a missing file or value, the other commands, two inputs, a NUL byte,
# bytes that are not UTF-8, a line over 4096 bytes, a file over 1 MiB, over 1000
# options (each limit also met exactly, and accepted). Random bytes and random
# lines of the syntax's pieces give exit 2 (or the help), never a crash.
#
# Runs bench on a small lavfi source with the demo model (no display, no
# fixtures). Uses $VDETECT_BIN (./vdetect) and $PYTHON (/usr/bin/python3).
# Prints "test_config: N passed, N failed, N skipped".
set -u
BIN=${VDETECT_BIN:-./vdetect}
PY=${PYTHON:-/usr/bin/python3}
# two seconds at most (50 frames), so a run whose --frames did not take still ends
SRC=lavfi:testsrc2=size=320x240:rate=25:duration=2
NAME=config
. tests/lib.sh

case "$BIN" in */*) ;; *) BIN="./$BIN" ;; esac
if [ ! -x "$BIN" ]; then bad "no executable $BIN (build it with make)"; summary; fi
BIN_ABS=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

# run ARGS...: runs vdetect, leaving $rc, $TMP/out and $TMP/err.
# (timeout: a mistake in a test must not hang the run)
TIMEOUT=
if command -v timeout >/dev/null 2>&1; then TIMEOUT="timeout 120"; fi
run() {
    $TIMEOUT "$BIN" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    rc=$?
}
lines() { wc -l <"$1" | tr -d ' '; }
# json EXPR: EXPR of the bench report on stdout (r), printed
json() {
    "$PY" -c 'import json, sys; r = json.loads(open(sys.argv[1]).read()); print(eval(sys.argv[2]))' \
        "$TMP/out" "$1" 2>/dev/null
}
# frames NAME WANT ARGS...: bench on $SRC with ARGS decodes WANT frames
frames() {
    name=$1 want=$2
    shift 2
    run bench "$SRC" --json - "$@"
    got=$(json 'r["frames"]["decoded"]')
    if [ "$rc" -eq 0 ] && [ "$got" = "$want" ]; then ok; else
        bad "$name: exit $rc, $got frames decoded (want 0, $want)"; fi
}
# expect_msg NAME LINE: exit 2, nothing on stdout, stderr is LINE and the hint
expect_msg() {
    if [ "$rc" -eq 2 ] && [ ! -s "$TMP/out" ] && [ "$(lines "$TMP/err")" -eq 2 ] &&
       [ "$(head -n 1 "$TMP/err")" = "$2" ] && sed -n 2p "$TMP/err" | grep -q '^see vdetect.*--help$'; then
        ok
    else
        bad "$1: exit $rc, want 2 and the line: $2"
    fi
}
# conf FILE TEXT: FILE (in $TMP) holds TEXT, printf's escapes expanded
# shellcheck disable=SC2059
conf() { printf -- "$2" >"$TMP/$1"; }

# ---- options take effect, and the order counts -------------------------------
conf three.conf 'frames 3\n'
conf four.conf 'frames 4\n'
frames "the file's option" 3 --config "$TMP/three.conf"
frames "the file's over an earlier one" 3 --frames 5 --config "$TMP/three.conf"
frames "a later command-line option over the file's" 4 --config "$TMP/three.conf" --frames 4
frames "--config=FILE" 3 --frames 5 --config="$TMP/three.conf"
frames "two files: the later wins" 4 --config "$TMP/three.conf" --config "$TMP/four.conf"
frames "two files, the other way" 3 --config "$TMP/four.conf" --config "$TMP/three.conf"

# every spelling of a line
i=0
for line in 'frames 2' '--frames 2' 'frames=2' '--frames=2' '  frames \t 2 \t ' \
            '\tframes=2  ' '# frames 9\nframes 2' '\n\n  # frames 9\n\nframes 2\n\n'; do
    i=$((i + 1))
    conf "spell$i.conf" "$line\n"
    frames "spelling $i: '$line'" 2 --config "$TMP/spell$i.conf"
done
conf crlf.conf "# a camera\r\n\r\ninput $SRC\r\n  frames 2\r\n"
run bench --config "$TMP/crlf.conf" --json -
if [ "$rc" -eq 0 ] && [ "$(json 'r["frames"]["decoded"]')" = 2 ] &&
   [ "$(json 'r["config"]["source"]')" = "$SRC" ]; then ok; else bad "CRLF lines: exit $rc"; fi
conf bom.conf '\357\273\277frames 2\n'
frames "a byte order mark" 2 --config "$TMP/bom.conf"
conf nonl.conf 'frames 2'
frames "no newline at the end" 2 --config "$TMP/nonl.conf"

# input: the SOURCE; the options around it still count
conf input.conf "input $SRC\nframes 2\n"
run bench --config "$TMP/input.conf" --json -
if [ "$rc" -eq 0 ] && [ "$(json 'r["frames"]["decoded"]')" = 2 ] &&
   [ "$(json 'r["config"]["source"]')" = "$SRC" ]; then ok; else bad "input: exit $rc"; fi
run bench --config "$TMP/input.conf" --frames 1 --json -
if [ "$rc" -eq 0 ] && [ "$(json 'r["frames"]["decoded"]')" = 1 ]; then ok; else
    bad "input, --frames after it: exit $rc"; fi
conf input2.conf "--input=$SRC\nframes 2\n"
run bench --config "$TMP/input2.conf" --json -
if [ "$rc" -eq 0 ] && [ "$(json 'r["frames"]["decoded"]')" = 2 ]; then ok; else
    bad "--input=SOURCE: exit $rc"; fi
# a SOURCE on the command line as well is two of them, as two on the command line are
run bench "$SRC" --config "$TMP/input.conf"
expect_msg "input and a SOURCE" "vdetect bench: more than one IMAGE/SOURCE given"
# a SOURCE starting with '-' is not taken for an option
conf dash.conf 'input -x.mp4\n'
(cd "$TMP" && $TIMEOUT "$BIN_ABS" bench --config dash.conf >/dev/null 2>err)
if grep -q -- '-x.mp4' "$TMP/err" && ! grep -q 'unknown option' "$TMP/err"; then ok; else
    bad "input -x.mp4 is a file name: $(head -n 1 "$TMP/err")"; fi

# a value with spaces is kept whole (trailing blanks are not part of it)
conf spaces.conf "json $TMP/my report.json  \nframes 1\n"
run bench "$SRC" --config "$TMP/spaces.conf"
if [ "$rc" -eq 0 ] && [ -s "$TMP/my report.json" ] &&
   "$PY" -c 'import json, sys; json.load(open(sys.argv[1]))' "$TMP/my report.json"; then ok; else
    bad "a value with spaces: exit $rc"; fi

# short options with their dash: -y (a flag), -o OUT and -o=OUT
echo '{}' >"$TMP/old.json"
conf noy.conf "json $TMP/old.json\nframes 1\n"
run bench "$SRC" --config "$TMP/noy.conf"
if [ "$rc" -eq 2 ] && grep -q 'old.json' "$TMP/err"; then ok; else
    bad "an existing --json without -y: exit $rc (want 2)"; fi
conf y.conf "json $TMP/old.json\nframes 1\n-y\n"
run bench "$SRC" --config "$TMP/y.conf"
if [ "$rc" -eq 0 ] && grep -q frames "$TMP/old.json"; then ok; else bad "-y in the file: exit $rc"; fi
conf o.conf "-o $TMP/o1.mp4\nframes 2\n"
run bench "$SRC" --config "$TMP/o.conf"
if [ "$rc" -eq 0 ] && [ -s "$TMP/o1.mp4" ]; then ok; else bad "-o OUT in the file: exit $rc"; fi
conf o2.conf "-o=$TMP/o2.mp4\nframes 2\n"
run bench "$SRC" --config "$TMP/o2.conf"
if [ "$rc" -eq 0 ] && [ -s "$TMP/o2.mp4" ]; then ok; else bad "-o=OUT in the file: exit $rc"; fi

# repeatable options collect: a count line from the file and one from the command line
conf lines.conf 'track\ncount-line 0,0,100,100\n'
run bench "$SRC" --frames 2 --config "$TMP/lines.conf" --count-line 10,10,50,50 --json -
if [ "$rc" -eq 0 ] && [ "$(json 'len(r["tracking"]["lines"])')" = 2 ]; then ok; else
    bad "--count-line from the file and the command line: exit $rc"; fi

# after "--" --config is an argument; after -h it is not read
run bench --frames 1 -- --config
if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && ! grep -q 'needs a value' "$TMP/err" &&
   grep -q -- '--config' "$TMP/err"; then ok; else bad "--config after --: exit $rc"; fi
for cmd in view annotate bench; do
    run "$cmd" --help --config "$TMP/none.conf"
    if [ "$rc" -eq 0 ] && grep -q '^Usage: vdetect' "$TMP/out"; then ok; else
        bad "$cmd --help --config NONE: exit $rc (want the help)"; fi
    # view and annotate read the file too: its options reach their parser
    run "$cmd" --config "$TMP/three.conf" --help
    if [ "$rc" -eq 0 ]; then ok; else bad "$cmd --config FILE --help: exit $rc"; fi
done
conf unknown.conf '# the options of a camera\nfrobnicate 1\n'
for cmd in view annotate bench; do
    run "$cmd" --config "$TMP/unknown.conf"
    expect_msg "$cmd: an unknown name in the file" "vdetect $cmd: unknown option '--frobnicate'"
done
conf flagval.conf 'realtime yes\n'
run bench "$SRC" --config "$TMP/flagval.conf"
expect_msg "a flag given a value" "vdetect bench: --realtime takes no value (got '--realtime=yes')"
conf badnum.conf 'frames=many\n'
run bench "$SRC" --config "$TMP/badnum.conf"
expect_msg "a bad value" "vdetect bench: --frames: 'many' is not an integer in [1, 100000000]"

# ---- mistakes: exit 2, one line naming file and line ---------------------------
conf nested.conf "# a\n\nconfig $TMP/three.conf\n"
run bench "$SRC" --config "$TMP/nested.conf"
expect_msg "nested config" "vdetect bench: --config $TMP/nested.conf:3: 'config' cannot be nested"
conf nested2.conf "frames 2\n--config=$TMP/three.conf\n"
run view --config "$TMP/nested2.conf" "$SRC"
expect_msg "nested --config=" \
    "vdetect view: --config $TMP/nested2.conf:2: 'config' cannot be nested"
run view --config "$TMP/none.conf" "$SRC"
expect_msg "a missing file" "vdetect view: --config $TMP/none.conf: No such file or directory"
run annotate "$SRC" -o "$TMP/x.mp4" --config "$TMP"
expect_msg "a directory" "vdetect annotate: --config $TMP: Is a directory"
run view "$SRC" --config
expect_msg "--config without a value" "vdetect view: --config needs a value"
run view "$SRC" --config=
expect_msg "--config= empty" "vdetect view: --config: empty value (expected FILE)"
run view "$SRC" --config -
expect_msg "--config -" \
    "vdetect view: --config -: options are read from a file, not from standard input"
for cmd in detect info eval calibrate; do
    run "$cmd" x.png --config "$TMP/three.conf"
    expect_msg "$cmd --config" "vdetect $cmd: --config is for view, annotate, bench and watch"
    run "$cmd" --config="$TMP/three.conf"
    expect_msg "$cmd --config=" "vdetect $cmd: --config is for view, annotate, bench and watch"
done
conf twoin.conf "input a.mp4\nframes 2\ninput b.mp4\n"
run view --config "$TMP/twoin.conf"
expect_msg "two inputs" \
    "vdetect view: --config $TMP/twoin.conf:3: a second 'input' (the first is on line 1)"
conf noin.conf "frames 2\n  input  \n"
run view --config "$TMP/noin.conf"
expect_msg "input without value" \
    "vdetect view: --config $TMP/noin.conf:2: 'input' needs a value (the SOURCE)"
conf nul.conf 'frames 2\n# fine\nframes 3\000\n'
run view "$SRC" --config "$TMP/nul.conf"
expect_msg "a NUL byte" "vdetect view: --config $TMP/nul.conf:3: a NUL byte (not a text file?)"
i=0
for bytes in '\377' '\300\257' '\355\240\200' '\364\220\200\200' '\303'; do
    i=$((i + 1))
    conf "utf$i.conf" "frames 2\ntrack-set x=$bytes\n"
    run view "$SRC" --config "$TMP/utf$i.conf"
    expect_msg "not UTF-8 ($bytes)" "vdetect view: --config $TMP/utf$i.conf:2: not UTF-8 text"
done
conf dash1.conf 'frames 2\n-frames 3\n'
run view "$SRC" --config "$TMP/dash1.conf"
expect_msg "one dash, a long name" \
    "vdetect view: --config $TMP/dash1.conf:2: '-frames': a one-dash name is one letter (-o); long names take '--' or none"
conf dashdash.conf '--\n'
run view "$SRC" --config "$TMP/dashdash.conf"
expect_msg "'--' alone" \
    "vdetect view: --config $TMP/dashdash.conf:1: no option name ('--' alone is not an option)"
conf dashalone.conf 'frames 2\n  -  3\n'
run view "$SRC" --config "$TMP/dashalone.conf"
expect_msg "'-' alone" \
    "vdetect view: --config $TMP/dashalone.conf:2: no option name ('-' alone is not an option)"
conf noname.conf '\n=3\n'
run view "$SRC" --config "$TMP/noname.conf"
expect_msg "no name" "vdetect view: --config $TMP/noname.conf:2: no option name"

# the limits, each met exactly (accepted) and passed by one (refused)
"$PY" - "$TMP" <<'PY'
import sys
d = sys.argv[1]
open(d + "/line4096.conf", "w").write("frames 2\n#" + "x" * 4095 + "\r\n")
open(d + "/line4097.conf", "w").write("frames 2\n#" + "x" * 4096 + "\n")
open(d + "/opts1000.conf", "w").write("frames 2\n" * 1000)
open(d + "/opts1001.conf", "w").write("# many\n" + "frames 2\n" * 1001)
mib = 1 << 20
body = "frames 2\n"
body += ("#" + "x" * 1022 + "\n") * ((mib - len(body)) // 1024)
body += "#" * (mib - len(body) - 1) + "\n"
assert len(body) == mib
open(d + "/mib.conf", "w").write(body)
open(d + "/mib1.conf", "w").write(body + "\n")
open(d + "/big.conf", "w").write(("#" + "x" * 1022 + "\n") * 2048)   # 2 MiB
PY
frames "a line of 4096 bytes (and CRLF)" 2 --config "$TMP/line4096.conf"
run view "$SRC" --config "$TMP/line4097.conf"
expect_msg "a line of 4097 bytes" \
    "vdetect view: --config $TMP/line4097.conf:2: line longer than 4096 bytes"
frames "1000 options" 2 --config "$TMP/opts1000.conf"
run view "$SRC" --config "$TMP/opts1001.conf"
expect_msg "1001 options" "vdetect view: --config $TMP/opts1001.conf:1002: more than 1000 options"
frames "a file of 1 MiB" 2 --config "$TMP/mib.conf"
run view "$SRC" --config "$TMP/mib1.conf"
expect_msg "1 MiB and a byte" \
    "vdetect view: --config $TMP/mib1.conf: larger than 1 MiB (a file of options, one a line)"
run view "$SRC" --config "$TMP/big.conf"
expect_msg "a 2 MiB file" \
    "vdetect view: --config $TMP/big.conf: larger than 1 MiB (a file of options, one a line)"
run view "$SRC" --config /dev/zero
expect_msg "/dev/zero" \
    "vdetect view: --config /dev/zero: larger than 1 MiB (a file of options, one a line)"

# ---- robustness: random files -------------------------------------------------
# Random bytes (seeded, so a failure repeats): exit 2, no crash. Random lines of
# the syntax's pieces (names, dashes, '=', blanks, CR, '#', input, config): the help
# (all options valid; --help last, and every option that takes a value checks it,
# so no run starts) or exit 2 with a "vdetect bench:" line, never a crash. Run in
# $TMP/fz so that nothing could land in the source tree.
mkdir -p "$TMP/fz"
"$PY" - "$TMP/fz" <<'PY'
import random, sys
d = sys.argv[1]
for seed in range(24):
    r = random.Random(seed)
    n = r.choice([7, 100, 1000, 5000])
    data = bytes(r.randrange(256) for _ in range(n))
    if seed % 2:   # lines, and no NUL: the parser's later checks
        data = bytes(b for b in data if b).replace(b"\x0b", b"\n").replace(b"\x0c", b"\n")
    open("%s/bytes%d.conf" % (d, seed), "wb").write(data)
pieces = ["frames", "--frames", "warmup", "-y", "-", "--", "=", " ", "\t", "#", "\r", "input",
          "config", "2", "-1", "0", "x y", "\u00e9", "track", "realtime", "queue", "--queue=",
          "crf", "-h", "lavfi:testsrc", "--input", "==", "\u00ff"]
for seed in range(40):
    r = random.Random(1000 + seed)
    text = "\n".join("".join(r.choice(pieces) for _ in range(r.randrange(4)))
                     for _ in range(r.randrange(1, 8)))
    open("%s/soup%d.conf" % (d, seed), "w", encoding="utf-8").write(text)
PY
for f in "$TMP"/fz/bytes*.conf; do
    (cd "$TMP/fz" && $TIMEOUT "$BIN_ABS" bench --config "$f" --help >out 2>err </dev/null)
    rc=$?
    if [ "$rc" -eq 2 ] && head -n 1 "$TMP/fz/err" | grep -q '^vdetect bench: '; then ok; else
        bad "random bytes $(basename "$f"): exit $rc (want 2)"
        sed 's/^/    | /' "$TMP/fz/err" | head -n 3
    fi
done
for f in "$TMP"/fz/soup*.conf; do
    (cd "$TMP/fz" && $TIMEOUT "$BIN_ABS" bench --config "$f" --help >out 2>err </dev/null)
    rc=$?
    if { [ "$rc" -eq 0 ] && grep -q '^Usage: vdetect bench' "$TMP/fz/out"; } ||
       { [ "$rc" -eq 2 ] && head -n 1 "$TMP/fz/err" | grep -q '^vdetect bench: '; }; then ok; else
        bad "random lines $(basename "$f"): exit $rc (want 0 with the help, or 2)"; fi
done
left=""
for f in "$TMP"/fz/*; do
    case "$f" in *.conf|*/out|*/err) ;; *) left="$left $(basename "$f")" ;; esac
done
if [ -z "$left" ]; then ok; else bad "the random files left files behind:$left"; fi

summary
