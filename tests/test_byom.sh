#!/bin/sh
# test_byom.sh — bringing your own model, at the edges the parity tests do not
# reach: what vdetect refuses, and what it says it assumed.
#   - a plain state_dict whose layout the keys cannot settle (a ResNet FPN over
#     fewer than four layers, LastLevelP6P7) is refused with the exporter named;
#   - a plain state_dict it can infer says so in `vdetect info` (the assumption
#     line and the JSON "assumed" field);
#   - a model file from a newer format version is refused with one clear line;
#   - a model file whose graph names an operation this vdetect lacks, or a
#     tensor the file does not hold, is refused naming the node.
# Every refusal exits 1 with one line, never a crash.
#
# Environment: VDETECT_BIN (default ./vdetect), PYTHON, VDETECT_FIXTURES (the zoo
# fixtures; cases that need them are skipped without). Ends with
# "test_byom: N passed, N failed, N skipped".
set -u
BIN=${VDETECT_BIN:-./vdetect}
PY=${PYTHON:-/usr/bin/python3}
FIX=${VDETECT_FIXTURES:-tests/fixtures}
NAME=byom
. tests/lib.sh
case "$BIN" in */*) ;; *) BIN="./$BIN" ;; esac
[ -x "$BIN" ] || { bad "no executable $BIN (build it with make)"; summary; }

# refused: exit 1, one line matching PATTERN, no crash
refused() {
    what=$1 pattern=$2; shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ "$rc" -eq 1 ] && grep -q -- "$pattern" "$TMP/err"; then ok
    else bad "$what: exit $rc, expected 1 and a line matching '$pattern'"; fi
}

# plain state_dicts the keys cannot settle (small random ResNet-18 FPNs)
if "$PY" - "$TMP" <<'PY' 2>"$TMP/err"
import sys, torch
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.ops.feature_pyramid_network import LastLevelP6P7
d = sys.argv[1]
torch.manual_seed(0)
m = FasterRCNN(resnet_fpn_backbone(backbone_name="resnet18", weights=None, returned_layers=[2, 3, 4]),
               num_classes=3)
torch.save(m.state_dict(), d + "/three_layers.pth")
m = FasterRCNN(resnet_fpn_backbone(backbone_name="resnet18", weights=None,
                                   extra_blocks=LastLevelP6P7(256, 256)), num_classes=3)
torch.save(m.state_dict(), d + "/p6p7.pth")
PY
then
    refused "ResNet FPN over three layers" "export the model with model/py/export.py" \
        "$BIN" info --weights "$TMP/three_layers.pth"
    grep -q "anchors of its own" "$TMP/err" && ok || bad "the refusal says why (anchors)"
    refused "LastLevelP6P7 state_dict" "LastLevelP6P7" "$BIN" info --weights "$TMP/p6p7.pth"
else
    skipped "plain state_dict refusals (no torch: $(head -n 1 "$TMP/err"))"
fi

zoo="$FIX/zoo"
if [ -f "$zoo/resnet18_fpn/model.pth" ] && [ -f "$zoo/resnet18_fpn/model.vdm" ]; then
    # the inferred architecture and what was assumed
    if "$BIN" info --weights "$zoo/resnet18_fpn/model.pth" >"$TMP/out" 2>"$TMP/err" &&
       grep -q "^architecture   resnet18_fpn" "$TMP/out" &&
       grep -q "^assumed .*torchvision's defaults" "$TMP/out"; then ok
    else bad "info on a plain resnet18 state_dict names it and what was assumed"; fi
    if "$BIN" info --weights "$zoo/resnet18_fpn/model.pth" --json - >"$TMP/out" 2>"$TMP/err" &&
       grep -q '"assumed": "' "$TMP/out"; then ok
    else bad "info --json carries the assumption"; fi
    if "$BIN" info --weights "$zoo/resnet18_fpn/model.vdm" --json - >"$TMP/out" 2>"$TMP/err" &&
       grep -q '"assumed": null' "$TMP/out"; then ok
    else bad "a model file assumes nothing"; fi

    # edited copies of a model file: the description rewritten, the tensors kept
    edit() {   # edit OUT PYTHON-EXPRESSION-ON-d (the description dict)
        "$PY" - "$zoo/resnet18_fpn/model.vdm" "$1" "$2" <<'PY'
import json, struct, sys
src, out, expr = sys.argv[1:4]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
d = json.loads(hdr["__metadata__"]["vdetect"])
exec(expr)
hdr["__metadata__"]["vdetect"] = json.dumps(d)
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
open(out, "wb").write(struct.pack("<Q", len(h)) + h + raw[8 + n:])
PY
    }
    edit "$TMP/v3.vdm" 'd["version"] = 3'
    refused "a version 3 model file" "written by a newer vdetect" "$BIN" info --weights "$TMP/v3.vdm"
    edit "$TMP/op.vdm" 'd["graph"]["nodes"][5]["op"] = "pixel_shuffle"'
    refused "an operation vdetect lacks" "graph.nodes\[5\].op" "$BIN" info --weights "$TMP/op.vdm"
    edit "$TMP/key.vdm" 'd["graph"]["nodes"][1]["weight"] = "backbone.body.nothing.weight"'
    refused "a tensor the file lacks" "missing key backbone.body.nothing.weight" \
        "$BIN" info --weights "$TMP/key.vdm"
    edit "$TMP/cycle.vdm" 'd["graph"]["nodes"][3]["in"] = [7]'
    refused "a node reading a later one" "graph.nodes\[3\].in" "$BIN" info --weights "$TMP/cycle.vdm"
    edit "$TMP/levels.vdm" 'd["rpn"]["anchor_sizes"] = d["rpn"]["anchor_sizes"][:3]'
    refused "anchor levels that do not match the outputs" "rpn.anchor_sizes" \
        "$BIN" info --weights "$TMP/levels.vdm"
else
    skipped "zoo fixtures missing ($zoo): the model-file cases"
fi
summary
