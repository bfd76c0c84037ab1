#!/bin/sh
# get-weights.sh — `make weights`: download torchvision's three official COCO
# Faster R-CNN checkpoints into weights/ and verify their SHA-256. Needs
# internet access (curl or wget); says so clearly when there is none.
set -u
cd "$(dirname "$0")/.."
BASE=https://download.pytorch.org/models
mkdir -p weights
fail=0
while read -r file sum; do
    [ -n "$file" ] || continue
    dest="weights/$file"
    if [ -f "$dest" ] && echo "$sum  $dest" | sha256sum -c --status 2>/dev/null; then
        echo "ok       $dest (already here)"
        continue
    fi
    echo "fetching $BASE/$file"
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --connect-timeout 15 -o "$dest.part" "$BASE/$file"
    else
        wget -q -T 15 -O "$dest.part" "$BASE/$file"
    fi
    if [ $? -ne 0 ]; then
        rm -f "$dest.part"
        echo "get-weights: could not download $BASE/$file — no internet access here?" >&2
        echo "get-weights: copy the files into weights/ by hand; this script then checks them" >&2
        exit 1
    fi
    if echo "$sum  $dest.part" | sha256sum -c --status; then
        mv "$dest.part" "$dest"
        echo "ok       $dest"
    else
        rm -f "$dest.part"
        echo "get-weights: $file: SHA-256 mismatch, file removed" >&2
        fail=1
    fi
done <<'LIST'
fasterrcnn_resnet50_fpn_coco-258fb6c6.pth 258fb6c638b15964ddcdd1ae0748c5eef1be9e732750120cc857feed3faac384
fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth fb6a3cc702b1df54c18a44b26708cd083614211062d0c36d2ca7bf9270df3533
fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth 907ea3f91ff92242bc1baea8049276a3e76bca48ce7560bd268cc029f37977b5
LIST
[ "$fail" -eq 0 ] && echo "weights ready in weights/ (use e.g. --weights weights/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth)"
exit "$fail"
