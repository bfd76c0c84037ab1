# lib.sh — what the shell tests share; sourced by tests/test_*.sh after they
# set NAME. Gives a temporary directory $TMP (removed on exit), the counters
# and ok / bad / skipped / check, cpu_has, and summary, which prints the harness line
# "test_NAME: N passed, N failed, N skipped" and exits non-zero on failure.
pass=0 fail=0 skip=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vdetect-$NAME.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

summary() {
    echo "test_$NAME: $pass passed, $fail failed, $skip skipped"
    [ "$fail" -eq 0 ]
    exit $?
}
ok() { pass=$((pass + 1)); }
# bad MESSAGE: a failed check, with the last command's stderr ($TMP/err) shown
bad() {
    fail=$((fail + 1))
    echo "FAIL: $*"
    if [ -s "$TMP/err" ]; then sed 's/^/    stderr| /' "$TMP/err" | head -n 5; fi
}
skipped() { skip=$((skip + 1)); echo "SKIP: $*"; }
# cpu_has FLAG: this CPU lists FLAG in /proc/cpuinfo ("avx512f", "avx512_vnni", ...)
cpu_flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
cpu_has() { case " $cpu_flags " in *" $1 "*) return 0;; esac; return 1; }
# check NAME COMMAND...: ok if COMMAND succeeds
check() { name=$1; shift; if "$@"; then ok; else bad "$name"; fi; }
