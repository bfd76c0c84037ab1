#!/bin/sh
# bench.sh — `make bench`: vdetect against PyTorch (torchvision 0.14, Debian's
# torch) on the same model, weights, input image and thread count, in one run.
# Prints a table with the ratio and writes it to build/bench.md.
#
# Weights: the seeded checkpoints of the parity fixtures (generated if
# missing). Input: tests/data/street.png scaled to 640x480.
# Where Node.js and the npm registry are available it also times ONNX Runtime
# (npm onnxruntime-node, installed into build/ort with --ignore-scripts; the
# model exported with torch.onnx.export), the fastest peer known on this CPU.
# vdetect runs three times: in fp32 (torchvision's arithmetic, the ratios), with
# --precision bf16, and with --precision int8 on the checkpoint exported to a model
# file and calibrated on the benchmark image (their times and speed-ups; their
# accuracy is measured on the demo model's held-out set, at the end).
# Environment: BENCH_THREADS (default "1 2"), BENCH_PRESETS (default all),
# BENCH_ORT=0 to leave ONNX Runtime out, BENCH_ROUNDS (default 2: every contender
# runs that many times in turn and keeps its fastest median).
set -eu
PYTHON=${PYTHON:-/usr/bin/python3}
FIX=${VDETECT_FIXTURES:-tests/fixtures}
BIN=${VDETECT_BIN:-./vdetect}
THREADS=${BENCH_THREADS:-1 2}
ROUNDS=${BENCH_ROUNDS:-2}
PRESETS=${BENCH_PRESETS:-mnv3_320 mnv3 r50 r50v2 vgg16}
out=build/bench.md
mkdir -p build

if [ ! -f "$FIX/parity/.stamp" ]; then
    echo "== generating the seeded checkpoints (torchvision)"
    "$PYTHON" tests/gen_parity.py "$FIX/parity" && touch "$FIX/parity/.stamp"
fi
img=build/bench-640x480.png
"$PYTHON" -c "
from PIL import Image
Image.open('tests/data/street.png').convert('RGB').resize((640, 480), Image.BILINEAR).save('$img')"

ort=""
if [ "${BENCH_ORT:-1}" = 1 ] && command -v node >/dev/null 2>&1; then
    if [ ! -d build/ort/node_modules/onnxruntime-node ]; then
        echo "== installing onnxruntime-node into build/ort (npm, --ignore-scripts)" >&2
        mkdir -p build/ort
        (cd build/ort && npm install --ignore-scripts --no-audit --no-fund --silent \
            onnxruntime-node >/dev/null 2>&1) || echo "   (not available: ONNX Runtime left out)" >&2
    fi
    [ -d build/ort/node_modules/onnxruntime-node ] && ort=yes
fi
[ -n "$ort" ] && ffmpeg -v error -nostdin -y -i "$img" -f rawvideo -pix_fmt rgb24 build/ort/img.rgb

rm -f build/bench-stages.md
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
{
    echo "Machine: $cpu, $(nproc) cores; $(date -u +%Y-%m-%d); vdetect: $("$BIN" info 2>/dev/null | sed -n 's/^engine *//p')."
    echo "CPU flags that pick the kernels: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' |
        grep -E '^(avx2|fma|avx512f|avx512bw|avx512vl|avx512_vnni|avx_vnni|avx512_bf16|amx_tile|amx_bf16|amx_int8)$' |
        tr '\n' ' ' | sed 's/ $//')."
    echo "Input: 640x480 image; seeded checkpoints from tests/gen_parity.py; medians, each contender's best of $ROUNDS rounds run in turn."
    echo "vdetect fp32 is torchvision's arithmetic; bf16 and int8 are --precision bf16 and int8"
    echo "(int8: the checkpoint exported to a .vdm and calibrated with vdetect calibrate)."
    echo "Their accuracy is measured on the trained demo model below: these random-weight"
    echo "checkpoints score many boxes alike, so which of them survive NMS and the top-N cut"
    echo "says little about precision."
    echo
    if [ -n "$ort" ]; then
        echo "| model | input → resized | threads | vdetect ms | PyTorch ms | PyTorch / vdetect | ONNX Runtime ms | ORT / vdetect | vdetect bf16 ms | bf16 speed-up | vdetect int8 ms | int8 speed-up |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    else
        echo "| model | input → resized | threads | vdetect ms | PyTorch ms | PyTorch / vdetect | vdetect bf16 ms | bf16 speed-up | vdetect int8 ms | int8 speed-up |"
        echo "|---|---|---|---|---|---|---|---|---|---|"
    fi
} > "$out"

for p in $PRESETS; do
    case $p in
        mnv3_320) arch=fasterrcnn_mobilenet_v3_large_320_fpn; case_dir=mnv3_320_photo; sets=""; n=20 ;;
        mnv3)     arch=fasterrcnn_mobilenet_v3_large_fpn; case_dir=mnv3_photo; sets=""; n=6 ;;
        r50)      arch=fasterrcnn_resnet50_fpn; case_dir=r50_photo; sets="min_size=480 max_size=640"; n=4 ;;
        r50v2)    arch=fasterrcnn_resnet50_fpn_v2; case_dir=r50v2_photo; sets="min_size=480 max_size=640"; n=4 ;;
        vgg16)    arch=fasterrcnn_vgg16_fpn; case_dir=vgg16_photo; sets="min_size=480 max_size=640"; n=2 ;;
        *) echo "unknown preset $p" >&2; exit 2 ;;
    esac
    # the weights live in the case that made them (meta "weights")
    owner=$(sed -n 's/^weights //p' "$FIX/parity/$case_dir/meta.txt")
    w="$FIX/parity/${owner:-$case_dir}/model_zip.pth"
    cset=""; pset=""
    for s in $sets; do cset="$cset --set $s"; pset="$pset --set $s"; done
    onnx=""
    if [ -n "$ort" ]; then
        onnx="build/ort/$p.onnx"
        # shellcheck disable=SC2086
        "$PYTHON" tests/bench_ort_export.py --arch "$arch" --weights "$w" $pset --image "$img" \
            --out "$onnx" >/dev/null 2>build/ort/export.log || { echo "   (export failed)" >&2; onnx=""; }
    fi
    # int8 wants its ranges in a model file: export the checkpoint, calibrate it
    vdm="build/bench-$p.vdm" int8="build/bench-$p-int8.vdm"
    # shellcheck disable=SC2086
    "$PYTHON" tests/bench_ort_export.py --arch "$arch" --weights "$w" $pset --image "$img" \
        --out "$vdm" --vdm >/dev/null
    "$BIN" calibrate --weights "$vdm" "$img" -o "$int8" -y -q
    for t in $THREADS; do
        echo "== $arch, $t thread(s)" >&2
        # ROUNDS rounds, each running every contender in turn; each keeps its
        # fastest round (interference on a shared machine only ever slows a run
        # down, and the same rule serves every contender)
        for r in $(seq 1 "$ROUNDS"); do
            # shellcheck disable=SC2086
            "$BIN" bench --model-only --arch "$arch" --weights "$w" $cset --threads "$t" \
                --frames "$n" --warmup 1 "$img" --json build/bench-c-$r.json -y > build/bench-c-$r.txt
            # shellcheck disable=SC2086
            "$BIN" bench --model-only --arch "$arch" --weights "$w" $cset --threads "$t" --precision bf16 \
                --frames "$n" --warmup 1 "$img" --json build/bench-b-$r.json -y > build/bench-b-$r.txt
            "$BIN" bench --model-only --weights "$int8" --threads "$t" --precision int8 \
                --frames "$n" --warmup 1 "$img" --json build/bench-i-$r.json -y > build/bench-i-$r.txt
            # shellcheck disable=SC2086
            "$PYTHON" tests/bench_torch.py --arch "$arch" --weights "$w" $pset --threads "$t" \
                --frames "$n" --warmup 1 --image "$img" > build/bench-t-$r.json
            rm -f build/bench-o-$r.json
            if [ -n "$onnx" ]; then
                (cd build/ort && NODE_PATH="$(pwd)/node_modules" node ../../tests/bench_ort.js "../../$onnx" img.rgb 640 480 "$t" "$n" 1) \
                    > build/bench-o-$r.json 2>>build/ort/export.log || rm -f build/bench-o-$r.json
            fi
        done
        "$PYTHON" - "$ROUNDS" <<'PY'
import json, os, shutil, sys
def median(f):
    j = json.load(open(f))
    return j["median_ms"] if "median_ms" in j else j["stages_ms"]["total"]["median"]
for x in "cbito":
    runs = [r for r in range(1, int(sys.argv[1]) + 1) if os.path.exists("build/bench-%s-%d.json" % (x, r))]
    if os.path.exists("build/bench-%s.json" % x):
        os.remove("build/bench-%s.json" % x)
    if runs:
        best = min(runs, key=lambda r: median("build/bench-%s-%d.json" % (x, r)))
        shutil.copy("build/bench-%s-%d.json" % (x, best), "build/bench-%s.json" % x)
        if x in "cbi":
            shutil.copy("build/bench-%s-%d.txt" % (x, best), "build/bench-%s.txt" % x)
PY
        cat build/bench-c.txt >&2
        grep -E '^precision|^total' build/bench-b.txt | sed 's/^/bf16: /' >&2
        grep -E '^precision|^total' build/bench-i.txt | sed 's/^/int8: /' >&2
        "$PYTHON" - "$arch" "$t" "$ort" >> "$out" <<'PY'
import json, os, sys
c = json.load(open("build/bench-c.json"))
t = json.load(open("build/bench-t.json"))
cm, tm = c["stages_ms"]["total"]["median"], t["median_ms"]
size = "%dx%d → %dx%d" % (*c["config"]["input"], *c["config"]["resized"])
row = "| %s | %s | %s | %.1f | %.1f | %.2f× |" % (sys.argv[1], size, sys.argv[2], cm, tm, tm / cm)
if sys.argv[3]:
    if os.path.exists("build/bench-o.json"):
        om = json.load(open("build/bench-o.json"))["median_ms"]
        row += " %.1f | %.2f× |" % (om, om / cm)
    else:
        row += " – | – |"
for f in ("build/bench-b.json", "build/bench-i.json"):
    bm = json.load(open(f))["stages_ms"]["total"]["median"]
    row += " %.1f | %.2f× |" % (bm, cm / bm)
print(row)
PY
        tail -n 1 "$out" >&2
        "$PYTHON" - "$arch" "$t" >> build/bench-stages.md <<'PY'
import json, sys
c = json.load(open("build/bench-c.json"))["stages_ms"]
t = json.load(open("build/bench-t.json"))["stages_ms"]
m = lambda *k: sum(c[x]["median"] for x in k)
pairs = [("preprocess", m("preprocess"), t["preprocess"]),
         ("backbone + FPN", m("backbone", "fpn"), t["backbone+fpn"]),
         ("RPN", m("rpn_head", "rpn_proposals"), t["rpn"]),
         ("RoI align", m("roi_align"), t["roi_align"]),
         ("box head", m("box_head"), t["box_head"]),
         ("postprocess", m("postprocess"), t["postprocess"])]
print("| %s | %s | " % (sys.argv[1], sys.argv[2]) +
      " | ".join("%.1f / %.1f" % (v, p) for _, v, p in pairs) + " |")
PY
    done
done
{
    echo
    echo "Per stage, median ms, vdetect / PyTorch (PyTorch timed calling torchvision's modules in turn):"
    echo
    echo "| model | threads | preprocess | backbone + FPN | RPN | RoI align | box head | postprocess |"
    echo "|---|---|---|---|---|---|---|---|"
    cat build/bench-stages.md
} >> "$out"
# Live: MobileNet-320 on a 30 fps 640x480 source through the whole pipeline
# (decode, detect, draw) at 2 threads, in the fastest precision this CPU offers:
# measured here, the detector alone on the benchmark image in each precision
# (two rounds in turn, each precision's faster median)
live_vdm=build/bench-mnv3_320-int8.vdm
if [ -f "$live_vdm" ]; then
    for r in 1 2; do
        for p in fp32 bf16 int8; do
            "$BIN" bench --model-only --weights "$live_vdm" --threads 2 --precision "$p" \
                --frames 30 --warmup 2 "$img" --json "build/bench-pick-$p-$r.json" -y > /dev/null
        done
    done
    prec=$("$PYTHON" - <<'PY'
import json
ms = {p: min(json.load(open("build/bench-pick-%s-%d.json" % (p, r)))["stages_ms"]["total"]["median"]
             for r in (1, 2)) for p in ("fp32", "bf16", "int8")}
print(min(ms, key=ms.get))
PY
)
    echo "== live: MobileNet-320, lavfi 640x480 at 30 fps, 2 threads, $prec (the fastest here)" >&2
    "$BIN" bench lavfi:testsrc2=size=640x480:rate=30 --frames 300 --weights "$live_vdm" \
        --precision "$prec" --threads 2 > build/bench-live.txt 2>&1 || true
    {
        echo
        echo "Live (\`vdetect bench lavfi:testsrc2=size=640x480:rate=30 --frames 300 --precision $prec"
        echo "--threads 2\`, fasterrcnn_mobilenet_v3_large_320_fpn, the whole pipeline: decode, detect, draw;"
        echo "$prec: the fastest of fp32, bf16 and int8 for the detector alone on this CPU, measured just before):"
        echo
        echo '```'
        grep -E '^(frames|throughput|verdict|cpu) ' build/bench-live.txt
        echo '```'
    } >> "$out"
fi
# bf16's and int8's accuracy on the trained demo model's held-out set
# (tests/test_precision_model.sh; int8 calibrated on 16 other images)
if [ -d "$FIX/demo/images" ]; then
    {
        echo
        echo "bf16 and int8 against fp32, demo model, 40 held-out images (tests/test_precision_model.sh;"
        echo "int8 calibrated on 16 other images, int8m without calibration):"
        echo
        VDETECT_BIN="$BIN" PYTHON="$PYTHON" sh tests/test_precision_model.sh 2>&1 |
            grep -E '^(bf16 vs fp32|int8m? vs fp32|eval:)' | sed 's/^/- /'
    } >> "$out"
fi
echo
cat "$out"
