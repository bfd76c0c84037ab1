#!/bin/sh
# test_parity_kernels.sh — the torchvision parity suite again, under the GEMM
# engine and OpenBLAS kernel sets other than the ones this CPU picks by itself.
#
# make test runs the suite on the engine vdetect picks for this CPU
# (model/ops/engine.c: oneDNN on AVX-512, else OpenBLAS). This runs it on the
# other engine too, and on OpenBLAS under every kernel set it was not run on.
#
# OpenBLAS chooses its SGEMM kernels per CPU (Haswell's AVX2, SkylakeX's
# AVX-512, ...), and each sums in its own order, so the last bits of every
# convolution differ from one machine to the next — as they do on a user's
# machine. The parity tests must hold on all of them, not only on the CPU the
# fixtures were made on: this runs test_parity_model, _stages and _zoo
# with OPENBLAS_CORETYPE forced to every other kernel set this CPU can run
# (Haswell needs AVX2 + FMA, SkylakeX AVX-512 F/BW/VL) and checks that the
# forced kernels were really the ones used.
#
# Environment: BUILD (default build), VDETECT_FIXTURES, VDETECT_BIN.
# Ends with "test_parity_kernels: N passed, N failed, N skipped".
set -u
BUILD=${BUILD:-build}
NAME=parity_kernels
. tests/lib.sh

own=$(OPENBLAS_VERBOSE=2 "$BUILD/tests/test_ties" 2>&1 | sed -n 's/^Core: //p' | head -n 1)
cores=""
if cpu_has avx2 && cpu_has fma; then cores="$cores Haswell"; fi
if cpu_has avx512f && cpu_has avx512bw && cpu_has avx512vl; then cores="$cores SkylakeX"; fi
engine=$("$BUILD/tests/test_parity_model" --engine 2>/dev/null)
# OpenBLAS under its own kernels was the main run's only when it is the default engine
runs=""
[ "$engine" = openblas ] || runs="openblas:"
for core in $cores; do [ "$core" = "$own" ] || runs="$runs openblas:$core"; done
[ "$engine" = onednn ] || { cpu_has avx2 && runs="$runs onednn:"; }
echo "this CPU's own kernels: ${own:-unknown}, default engine: ${engine:-unknown}; also testing:$runs"

total_p=0; total_f=0; tried=0
for run in $runs; do
    eng=${run%%:*} core=${run#*:}
    tried=$((tried + 1))
    for t in test_parity_model test_parity_stages test_parity_zoo; do
        log="$TMP/$t.log"
        if [ -n "$core" ]; then
            VDETECT_ENGINE=$eng OPENBLAS_CORETYPE=$core "$BUILD/tests/$t" >"$log" 2>&1
        else
            VDETECT_ENGINE=$eng "$BUILD/tests/$t" >"$log" 2>&1
        fi
        rc=$?
        line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
        core=${core:-$own}
        grep -E '^FAIL|^BLAS kernels|>=0\.3:|proposals: ' "$log" | sed "s/^/[$eng $core] /"
        p=$(echo "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/'); [ -n "$line" ] || p=0
        f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/'); [ -n "$line" ] || f=1
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
        echo "[$eng $core] $t: $p passed, $f failed"
        total_p=$((total_p + p)); total_f=$((total_f + f))
        if [ "$t" = test_parity_model ]; then
            if grep -q "^BLAS kernels: $core; GEMM engine: $eng;" "$log"; then ok
            else bad "[$eng $core] $t did not run on $eng with $core kernels: $(grep '^BLAS kernels' "$log")"; fi
        fi
    done
done
if [ "$tried" -eq 0 ]; then
    bad "no other engine or OpenBLAS kernel set to test on this CPU (own: ${own:-unknown}; can run:$cores)"
fi
pass=$((pass + total_p)); fail=$((fail + total_f))
summary
