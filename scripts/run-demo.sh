#!/bin/sh
# run-demo.sh — `make run`: the out-of-the-box demo on the shipped model and clip.
set -eu
cd "$(dirname "$0")/.."
if [ ! -f assets/demo.vdm ]; then
    echo "vdetect: the demo model (assets/demo.vdm) is not in this build yet." >&2
    echo "Try the detector on a torchvision checkpoint instead, e.g.:" >&2
    echo "  ./vdetect detect --weights fasterrcnn_resnet50_fpn_coco-258fb6c6.pth photo.jpg" >&2
    exit 1
fi
exec ./vdetect detect tests/data/street.png
