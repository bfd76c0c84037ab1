#!/bin/sh
# deps.sh — make sure the Debian packages vdetect needs are installed.
# Usage: scripts/deps.sh [build|test|fuzz]   (test adds the PyTorch side and Xvfb;
# fuzz adds clang and its libFuzzer runtime, which only `make fuzz` needs)
# Installs what is missing with apt-get when run as root; otherwise prints the
# command to run and fails.
set -eu
build_pkgs="build-essential pkg-config libopenblas-dev libjansson-dev libavformat-dev libavcodec-dev
libavdevice-dev libavfilter-dev libavutil-dev libswscale-dev libswresample-dev libsdl2-dev
libsdl2-ttf-dev libdnnl-dev libsdl2-image-dev fonts-dejavu-core ffmpeg libmosquitto-dev
libsystemd-dev"
test_pkgs="python3 python3-numpy python3-pil python3-torch python3-torchvision xvfb xauth
mosquitto mosquitto-clients"
fuzz_pkgs="clang-14 libclang-rt-14-dev"
want=$build_pkgs
[ "${1:-build}" = test ] && want="$build_pkgs $test_pkgs"
[ "${1:-build}" = fuzz ] && want="$build_pkgs $fuzz_pkgs"

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "vdetect needs these Debian packages:$missing" >&2
    echo "install them as root:  apt-get install -y$missing" >&2
    exit 1
fi
echo "installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends $missing; then
    apt-get update
    apt-get install -y --no-install-recommends $missing
fi
