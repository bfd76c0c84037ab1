#!/bin/sh
# run.sh — run every test of vdetect: generate (or reuse) the PyTorch fixtures,
# then each build/tests/test_* binary and the shell tests, and add up their
# "N passed, N failed" lines into one total.
#
# Fixtures: each tests/gen_NAME.py is run as `$PYTHON tests/gen_NAME.py
# tests/fixtures/NAME` when tests/fixtures/NAME/.stamp is missing or older than
# the script; tests find them through $VDETECT_FIXTURES (default tests/fixtures).
set -u
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
FIX=${VDETECT_FIXTURES:-tests/fixtures}
export VDETECT_FIXTURES="$FIX"
export VDETECT_BIN="${VDETECT_BIN:-./vdetect}"
mkdir -p "$FIX"

for gen in tests/gen_*.py; do
    [ -e "$gen" ] || continue
    name=$(basename "$gen" .py); name=${name#gen_}
    out="$FIX/$name"
    if [ ! -f "$out/.stamp" ] || [ "$gen" -nt "$out/.stamp" ]; then
        echo "== generating fixtures $out (torchvision)"
        if ! "$PYTHON" "$gen" "$out"; then
            echo "fixture generator $gen failed" >&2
            exit 1
        fi
        touch "$out/.stamp"
    fi
done

passed=0; failed=0; log=$(mktemp)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
if [ "${ONLY:-0}" = 1 ]; then set -- ${EXTRA_TESTS:-}
else set -- "$BUILD"/tests/test_* tests/test_*.sh ${EXTRA_TESTS:-}; fi
for t in "$@"; do
    [ -x "$t" ] || continue
    case "$t" in *.o|*.d) continue;; esac
    echo "== $t"
    "$t" > "$log" 2>&1
    rc=$?
    cat "$log"
    line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    p=$(echo "$line" | sed -E 's/(^|.* )([0-9]+) passed.*/\2/'); [ -n "$line" ] || p=0
    f=$(echo "$line" | sed -E 's/(^|.* )([0-9]+) failed.*/\2/'); [ -n "$line" ] || f=1
    # a crash or a non-zero exit with no failure counted still counts as one failure
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
done
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
