#!/bin/sh
# test_hostile_header.sh — hostile safetensors headers (.vdm model files) are
# refused with bounded memory (issue 10, item 5: a 32 MB header of 16.7 M
# values took 1.65 GB before it was refused). Each file below makes the JSON
# reader hold as much as it can: a flat array of numbers, the most tensors a
# file may have with full shapes, 8 M-deep nesting, one 16 MB string, a
# metadata object of many entries, a 1 MB architecture document of numbers,
# the original 32 MB case, and as many empty objects (jansson's costliest
# value, ~220 bytes each) as the value limit lets through. `vdetect info --weights FILE` must exit 1 with
# one line on stderr, and its peak RSS (measured by the parent, getrusage)
# stay under LIMIT_MB (the program alone, with FFmpeg, SDL and OpenBLAS
# mapped, takes ~50 MB).
#
# Run from the repository root (tests/run.sh does). VDETECT_BIN, PYTHON as in
# the other tests. Ends with "test_hostile_header: N passed, N failed".
set -u
BIN=${VDETECT_BIN:-./vdetect}
PY=${PYTHON:-/usr/bin/python3}
LIMIT_MB=${LIMIT_MB:-120}
NAME=hostile_header
. tests/lib.sh

"$PY" - "$TMP" <<'PYEOF' || { echo "FAIL: could not write the hostile files"; exit 1; }
import json, os, struct, sys
out = sys.argv[1]
M = 16 << 20          # the reader's header limit

def vdm(name, header, data=b""):
    with open(os.path.join(out, name), "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + data)

def members(fmt, budget):
    """'{fmt % 0},{fmt % 1},...' of at most budget bytes"""
    one = len(fmt % 0) + 1
    return b",".join(fmt % i for i in range(budget // one))

vdm("flat.vdm", b'{"a":[' + b"0," * ((M - 16) // 2) + b"0]}")
vdm("flat32.vdm", b'{"a":[' + b"0," * ((1 << 24) - 10) + b"0]}")   # the issue's file
vdm("tensors.vdm", b"{" + members(b'"t%07d":{"dtype":"F32","shape":[0,0,0,0,0,0,0,0],'
                                  b'"data_offsets":[0,0]}', M - 16) + b"}")
vdm("nested.vdm", b'{"a":' + b"[" * (M // 2 - 8) + b"]" * (M // 2 - 8) + b"}")
vdm("string.vdm", b'{"a":"' + b"x" * (M - 16) + b'"}')
vdm("meta.vdm", b'{"__metadata__":{' + members(b'"k%07d":"v"', M - 32) + b"}}")
arch = "[" + "0," * ((1 << 19) - 8) + "0]"
# safetensors.c's ST_MAX_VALUES less the root, "a" and the array: parsed, then refused
vdm("objects.vdm", b'{"a":[' + b",".join([b"{}"] * (2 + 1024 + 16384 * 14 - 3)) + b"]}")
vdm("arch.vdm", b'{"__metadata__":{"vdetect":' + json.dumps(arch).encode() +
    b'},"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0\0\0\0")
PYEOF

# run FILE: sets rc, lines (stderr lines) and rss_mb
run() {
    set -- $("$PY" - "$BIN" "$1" "$TMP/err" <<'PYEOF'
import resource, subprocess, sys
with open(sys.argv[3], "wb") as err:
    rc = subprocess.call([sys.argv[1], "info", "--weights", sys.argv[2], "--threads", "1"],
                         stdout=subprocess.DEVNULL, stderr=err)
print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
PYEOF
)
    rc=$1 rss_mb=$2 lines=$(wc -l < "$TMP/err")
}

for f in flat flat32 tensors nested string meta arch objects; do
    run "$TMP/$f.vdm"
    if [ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && [ "$rss_mb" -lt "$LIMIT_MB" ]; then
        ok
        echo "$f.vdm: exit 1 at $rss_mb MB: $(cut -c1-110 "$TMP/err")"
    else
        bad "$f.vdm: exit $rc, $lines stderr lines, peak RSS $rss_mb MB (want 1, 1, < $LIMIT_MB)"
    fi
done
summary
