#!/bin/sh
# test_precision_isa.sh — bf16 and int8 on the CPUs this one can stand in for.
#
# oneDNN picks its bf16 and int8 kernels by the CPU's instructions: AMX, AVX512_BF16,
# VNNI, or plain AVX-512 / AVX2, where bf16 is emulated and int8 multiplies pairs into
# 16 bits (which saturates unless a layer's input keeps to 7 bits: model/ops/quant.c).
# A test that passes only with this CPU's kernels is broken on the next machine, so
# this runs under ONEDNN_MAX_CPU_ISA set to every ISA below this CPU's own:
#   - test_precision (gemm_bf16 / gemm_s8 exactness, convs and linears in bf16 and
#     int8 against f32), checking that the int8 input range it used (+-127 with
#     VNNI, +-63 without) is the one that ISA needs;
#   - test_precision_model.sh (the demo model's agreement and AP in bf16 and int8,
#     calibrate) under plain AVX-512, the common CPU without VNNI.
#
# Environment: BUILD (default build), VDETECT_BIN, VDETECT_FIXTURES, PYTHON.
# Ends with "test_precision_isa: N passed, N failed, N skipped".
set -u
BUILD=${BUILD:-build}
NAME=precision_isa
. tests/lib.sh

# ISA name for ONEDNN_MAX_CPU_ISA, and the int8 input range it implies
isas=""
cpu_has avx2 && isas="$isas AVX2:63"
cpu_has avx512f && cpu_has avx512bw && cpu_has avx512vl && cpu_has avx512dq && isas="$isas AVX512_CORE:63"
cpu_has avx512_vnni && isas="$isas AVX512_CORE_VNNI:127"
cpu_has avx512_bf16 && isas="$isas AVX512_CORE_BF16:127"
if [ -z "$isas" ]; then
    skipped "this CPU has neither AVX2 nor AVX-512"
    summary
fi
echo "testing under oneDNN ISAs:$isas (and this CPU's own in the main run)"
for entry in $isas; do
    isa=${entry%%:*} want=${entry#*:}
    log="$TMP/$isa.log"
    ONEDNN_MAX_CPU_ISA=$isa "$BUILD/tests/test_precision" >"$log" 2>&1
    rc=$?
    grep '^FAIL' "$log" | sed "s/^/[$isa] /"
    line=$(tail -n 1 "$log")
    if [ "$rc" -eq 0 ] && grep -q "int8 inputs use +-$want here" "$log"; then ok; echo "[$isa] $line"
    else bad "[$isa] test_precision (rc $rc, int8 range +-$want expected): $line"; fi
done
case "$isas" in
*AVX512_CORE:*)
    out=$(ONEDNN_MAX_CPU_ISA=AVX512_CORE sh tests/test_precision_model.sh 2>&1)
    rc=$?
    echo "$out" | grep -E '^FAIL|agree at|^eval:' | sed 's/^/[AVX512_CORE] /'
    if [ "$rc" -eq 0 ]; then ok; else bad "[AVX512_CORE] test_precision_model.sh: $(echo "$out" | tail -n 1)"; fi
    ;;
esac
summary
