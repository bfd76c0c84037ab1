#!/bin/sh
# test_render_x11.sh — run test_render's window checks against a real X
# server (Xvfb) instead of SDL's offscreen driver: X11 window creation,
# resizing, fullscreen and event delivery through the X11 driver.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/tests/test_render"
if [ ! -x "$bin" ]; then
    echo "test_render_x11: $bin not built"
    echo "test_render_x11: 0 passed, 1 failed"
    exit 1
fi
if ! command -v xvfb-run >/dev/null 2>&1; then
    echo "test_render_x11: xvfb-run not installed, skipped"
    echo "test_render_x11: 0 passed, 0 failed"
    exit 0
fi
# SDL's X11 driver opens D-Bus (screensaver, input methods), which keeps a
# buffer until exit: not ours, so not a leak for the ASan build.
supp=$(mktemp)
trap 'rm -f "$supp"' EXIT
echo "leak:libdbus-1.so" > "$supp"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$supp"
unset WAYLAND_DISPLAY SDL_VIDEODRIVER
VDETECT_TEST_X11=1 xvfb-run -a -s "-screen 0 1280x1024x24" "$bin"
