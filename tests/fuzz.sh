#!/bin/sh
# fuzz.sh — run each libFuzzer target named on the command line (built by
# `make fuzz` into build-fuzz/fuzz/) for FUZZ_SECONDS (default 60) and report
# the executions of each.
#
# Corpus: libFuzzer reads tests/corpus/NAME/ (the committed seeds and past
# crashes) and writes what it finds to build-fuzz/corpus/NAME/, which is kept
# between runs and never committed. One process per target, niced
# (FUZZ_NICE, default 10): the machine is shared. Extra libFuzzer flags can
# be given in FUZZ_FLAGS.
#
# A crash, leak, timeout or out-of-memory input is copied into
# tests/corpus/NAME/ (commit it with the fix: make test then replays it under
# ASan/UBSan forever) and the script exits 1 after running every target.
set -u
SECONDS_EACH=${FUZZ_SECONDS:-60}
NICE=${FUZZ_NICE:-10}
OUT=build-fuzz
mkdir -p "$OUT/crashes" "$OUT/logs"
status=0
summary=""
for t in "$@"; do
    bin="$OUT/fuzz/$t"
    if [ ! -x "$bin" ]; then
        echo "fuzz.sh: $bin is not built (make fuzz builds it)" >&2
        exit 2
    fi
    mkdir -p "$OUT/corpus/$t" "tests/corpus/$t"
    log="$OUT/logs/$t.log"
    touch "$OUT/logs/$t.start"
    echo "== $t: ${SECONDS_EACH} s"
    # -close_fd_mask=3: the readers' one-line rejections and eval's report are
    # dropped; libFuzzer keeps its own copy of stderr for its reports
    nice -n "$NICE" "$bin" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
        -close_fd_mask=3 -timeout=25 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$OUT/crashes/$t-" ${FUZZ_FLAGS:-} \
        "$OUT/corpus/$t" "tests/corpus/$t" > "$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    ninputs=$(ls "$OUT/corpus/$t" | wc -l)
    found=""
    for f in $(find "$OUT/crashes" -name "$t-*" -newer "$OUT/logs/$t.start" -exec basename {} \;); do
        kind=${f#"$t"-}
        cp "$OUT/crashes/$f" "tests/corpus/$t/$kind"
        found="$found $kind"
    done
    if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
        status=1
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -n 5
        echo "$t: FAILED (exit $rc); input(s) copied to tests/corpus/$t/:${found:- none}; log $log"
    fi
    summary="$summary$(printf '%-14s %12s executions  %8s/s  %5s corpus inputs  %s' \
        "$t" "${execs:-?}" "${rate:-?}" "$ninputs" "${found:+crashes:$found}")
"
done
echo "== executions per target (${SECONDS_EACH} s each)"
printf '%s' "$summary"
exit $status
