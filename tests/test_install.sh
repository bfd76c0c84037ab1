#!/bin/sh
# test_install.sh — `make install` and `make uninstall`, as a user and a packager use them:
#   (a) make install DESTDIR=$TMP/dest PREFIX=/opt/vdetect-test installs exactly the
#       expected files (program, libvdetect.a, libvdetect.so.M.m with its soname links,
#       vdetect/model.h, vdetect.pc with that prefix, demo assets, man page, completion,
#       the systemd unit vdetect@.service with the install's paths substituted and the
#       example camera config);
#   (b) both libraries hold model/ only and export only model.h's model_* symbols;
#   (c) examples/embed.c, built with its Makefile against the installed copy through
#       pkg-config (shared, and STATIC=1), runs the installed demo model on a PPM of
#       tests/data/street.png and prints what `vdetect detect --score-thresh 0` finds;
#   (d) the installed vdetect, run from another directory with no --weights, finds the
#       installed demo model (beside itself, ../share/vdetect; and, for a prefix
#       installed without DESTDIR, in the data directory compiled in);
#   (e) make uninstall removes exactly those files: only empty directories and a
#       stranger's files are left;
#   (f) the unit installed with SYSTEMDUNITDIR and SYSCONFDIR overridden names them,
#       and `systemd-analyze verify` finds nothing to say about it (skipped, with a
#       note, where systemd-analyze is missing).
#
# Run from the repository root (tests/run.sh does); it runs make in this checkout
# (building build-pic/ and build/install/ when needed). Environment: PYTHON (python3).
# Ends with "test_install: N passed, N failed, N skipped"; exits 1 if any failed.
set -u
NAME=install
. tests/lib.sh
PY=${PYTHON:-/usr/bin/python3}
ROOT=$(pwd -P)
PREFIX=/opt/vdetect-test
D="$TMP/dest"
P="$D$PREFIX"

for tool in make cc pkg-config ffmpeg nm readelf; do
    command -v "$tool" >/dev/null 2>&1 || { bad "needs $tool"; summary; }
done
# a make of our own (not the jobserver of a make test that may be running us)
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -j2 "$@"; }

# ---- (a) install ------------------------------------------------------------------------
if ! mk install DESTDIR="$D" PREFIX="$PREFIX" >"$TMP/out" 2>"$TMP/err"; then
    bad "make install DESTDIR=$D PREFIX=$PREFIX"; summary
fi
ok
(cd "$D" && find . ! -type d | sort) >"$TMP/files"
cat >"$TMP/want" <<EOF
.$PREFIX/bin/vdetect
.$PREFIX/include/vdetect/model.h
.$PREFIX/lib/libvdetect.a
.$PREFIX/lib/libvdetect.so
.$PREFIX/lib/libvdetect.so.0
.$PREFIX/lib/libvdetect.so.0.1
.$PREFIX/lib/pkgconfig/vdetect.pc
.$PREFIX/lib/systemd/system/vdetect@.service
.$PREFIX/share/bash-completion/completions/vdetect
.$PREFIX/share/man/man1/vdetect.1
.$PREFIX/share/vdetect/camera.conf.example
.$PREFIX/share/vdetect/demo-labels.txt
.$PREFIX/share/vdetect/demo.vdm
.$PREFIX/share/vdetect/sample.mp4
EOF
if diff "$TMP/want" "$TMP/files" >"$TMP/diff"; then ok
else bad "installed files differ from the list (- expected, + found)"; sed 's/^/    /' "$TMP/diff"; fi
if [ -x "$P/bin/vdetect" ] && [ "$(readlink "$P/lib/libvdetect.so")" = libvdetect.so.0 ] &&
   [ "$(readlink "$P/lib/libvdetect.so.0")" = libvdetect.so.0.1 ] &&
   [ "$(stat -c %a "$P/include/vdetect/model.h")" = 644 ] &&
   cmp -s model/model.h "$P/include/vdetect/model.h" && cmp -s assets/demo.vdm "$P/share/vdetect/demo.vdm"
then ok; else bad "modes, soname links or contents of the installed files"; fi
if grep -qx "prefix=$PREFIX" "$P/lib/pkgconfig/vdetect.pc" &&
   grep -qx 'Libs: -L${libdir} -lvdetect' "$P/lib/pkgconfig/vdetect.pc" &&
   grep -qx 'Requires.private: openblas jansson' "$P/lib/pkgconfig/vdetect.pc" &&
   grep -qx 'Libs.private: -ldnnl -lgomp -lm -pthread' "$P/lib/pkgconfig/vdetect.pc"; then ok
else bad "vdetect.pc: prefix, Libs, Requires.private, Libs.private"; cat "$P/lib/pkgconfig/vdetect.pc"; fi
unit="$P/lib/systemd/system/vdetect@.service"
if [ "$(stat -c %a "$unit" 2>/dev/null)" = 644 ] &&
   [ "$(grep '^ExecStart=' "$unit")" = "ExecStart=$PREFIX/bin/vdetect watch --config /etc/vdetect/%i.conf" ] &&
   grep -qx 'Type=notify' "$unit" && grep -qx 'WatchdogSec=30' "$unit" &&
   ! grep -n '@[A-Z][A-Z_]*@' "$unit"; then ok
else bad "vdetect@.service: mode 644, ExecStart= with $PREFIX/bin and /etc/vdetect, no @PLACEHOLDER@ left"
     grep -n 'ExecStart\|@[A-Z][A-Z_]*@' "$unit" | sed 's/^/    /'; fi
if [ "$(stat -c %a "$P/share/vdetect/camera.conf.example" 2>/dev/null)" = 644 ] &&
   cmp -s scripts/camera.conf.example "$P/share/vdetect/camera.conf.example"; then ok
else bad "share/vdetect/camera.conf.example: mode 644, the same as scripts/camera.conf.example"; fi
if bash -n "$P/share/bash-completion/completions/vdetect" 2>"$TMP/err" &&
   bash -c '. "$1"; COMP_WORDS=(vdetect detect --wei); COMP_CWORD=2; _vdetect; echo "${COMPREPLY[*]}"' \
       _ "$P/share/bash-completion/completions/vdetect" 2>"$TMP/err" | grep -qx -- --weights; then ok
else bad "bash completion: parses and completes vdetect detect --wei"; fi
if command -v groff >/dev/null 2>&1; then
    groff -man -Tutf8 -ww -z "$P/share/man/man1/vdetect.1" >"$TMP/err" 2>&1
    if [ ! -s "$TMP/err" ]; then ok; else bad "man page: groff warnings"; fi
else
    skipped "man page rendering (no groff)"
fi

# ---- (b) the libraries: model/ only, model_* only ---------------------------------------
so="$P/lib/libvdetect.so.0.1"
readelf -d "$so" >"$TMP/dyn" 2>"$TMP/err"
if grep -q 'SONAME.*\[libvdetect\.so\.0\]' "$TMP/dyn" && grep -q 'NEEDED.*libopenblas' "$TMP/dyn" &&
   grep -q 'NEEDED.*libjansson' "$TMP/dyn" && grep -q 'NEEDED.*libdnnl' "$TMP/dyn" &&
   ! grep -Eq 'NEEDED.*(SDL|libav|libsw)' "$TMP/dyn"; then ok
else bad "libvdetect.so: soname libvdetect.so.0, needs OpenBLAS, oneDNN and jansson and no FFmpeg/SDL"; grep -E 'SONAME|NEEDED' "$TMP/dyn"; fi
nm -D --defined-only "$so" | awk '{print $3}' | sort >"$TMP/so_syms"
nm -g --defined-only "$P/lib/libvdetect.a" | awk 'NF == 3 {print $3}' | sort >"$TMP/a_syms"
# model.h's functions and data: the names declared with "(" or "[" after them (types
# such as struct model_options or enum model_stage are not symbols)
grep -o '\bmodel_[a-z_]*[([]' model/model.h | tr -d '([' | sort -u >"$TMP/api"
if cmp -s "$TMP/api" "$TMP/so_syms" && cmp -s "$TMP/api" "$TMP/a_syms"; then ok
else bad "exported symbols are not exactly model.h's"; diff "$TMP/api" "$TMP/so_syms" | head; diff "$TMP/api" "$TMP/a_syms" | head; fi
if ! nm -u "$P/lib/libvdetect.a" | grep -Eq ' (av_|avcodec_|avformat_|sws_|SDL_|TTF_|app_|video_|render_)'; then ok
else bad "libvdetect.a needs symbols from outside model/"; fi

# ---- (c) examples/embed.c against the installed copy ----------------------------------
mkdir -p "$TMP/ex" "$TMP/elsewhere"
cp examples/embed.c examples/Makefile "$TMP/ex/"
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
# the .pc says prefix=/opt/vdetect-test; staged in DESTDIR, point pkg-config there (not
# PKG_CONFIG_SYSROOT_DIR, which would also move OpenBLAS's -I/-L into $D)
PC="pkg-config --define-variable=prefix=$P"
if [ "$($PC --modversion vdetect)" = "$(sed -n 's/.*define VDETECT_VERSION "\(.*\)"/\1/p' app/app.h)" ] &&
   [ "$($PC --cflags-only-I vdetect | cut -d' ' -f1)" = "-I$P/include" ]; then ok
else bad "pkg-config: version and include directory"; fi
if mk -C "$TMP/ex" PKG_CONFIG="$PC" >"$TMP/out" 2>"$TMP/err" &&
   mv "$TMP/ex/embed" "$TMP/embed-shared" &&
   mk -C "$TMP/ex" STATIC=1 PKG_CONFIG="$PC" >"$TMP/out" 2>"$TMP/err" &&
   mv "$TMP/ex/embed" "$TMP/embed-static"; then ok
else bad "examples/Makefile: build embed.c with pkg-config (shared, STATIC=1)"; fi
if readelf -d "$TMP/embed-shared" 2>/dev/null | grep -q 'NEEDED.*\[libvdetect\.so\.0\]' &&
   ! readelf -d "$TMP/embed-static" 2>/dev/null | grep -q 'NEEDED.*libvdetect'; then ok
else bad "embed-shared needs libvdetect.so.0, embed-static does not"; fi

ffmpeg -v error -y -nostdin -i tests/data/street.png -pix_fmt rgb24 -c:v ppm -f image2 \
    "$TMP/street.ppm" </dev/null 2>"$TMP/err"
if [ "$(head -c 2 "$TMP/street.ppm" 2>/dev/null)" = P6 ]; then ok; else bad "ffmpeg: street.png -> PPM"; fi
(cd "$TMP/elsewhere" && "$P/bin/vdetect" detect -q --score-thresh 0 "$TMP/street.ppm" \
    >"$TMP/detect.jsonl" 2>"$TMP/err") || bad "installed vdetect detect on the PPM"
# same detections from the library as from the program (names, scores to 1e-3, boxes to 0.05 px)
compare() {
    "$PY" - "$TMP/detect.jsonl" "$1" <<'EOF'
import json, sys
want = json.loads(open(sys.argv[1]).readline())["detections"]
got = [l for l in open(sys.argv[2]).read().splitlines() if l.strip()]
assert want and len(got) == len(want), f"{len(got)} lines, {len(want)} detections"
for w, line in zip(want, got):
    name, rest = line[:16].strip(), [float(v) for v in line[16:].split()]
    assert name == w["name"], (name, w["name"])
    assert abs(rest[0] - w["score"]) <= 6e-4, (rest[0], w["score"])
    assert all(abs(a - b) <= 0.051 for a, b in zip(rest[1:], w["box"])), (rest[1:], w["box"])
print(f"{len(got)} detections agree")
EOF
}
for kind in shared static; do
    if (cd "$TMP/elsewhere" && LD_LIBRARY_PATH="$P/lib" "$TMP/embed-$kind" \
            "$P/share/vdetect/demo.vdm" "$TMP/street.ppm" >"$TMP/embed-$kind.out" 2>"$TMP/err") &&
       grep -q '^purple cross  *0\.5' "$TMP/embed-$kind.out" &&
       compare "$TMP/embed-$kind.out" >"$TMP/cmp" 2>&1; then ok
    else bad "embed ($kind) on street.ppm prints vdetect detect's detections"; cat "$TMP/cmp" 2>/dev/null | tail -n 3
         head -n 3 "$TMP/embed-$kind.out"; fi
done
if (cd "$TMP/elsewhere" && LD_LIBRARY_PATH="$P/lib" "$TMP/embed-shared" "$P/share/vdetect/demo.vdm" \
        "$P/share/vdetect/demo-labels.txt" >/dev/null 2>"$TMP/err"); [ $? -eq 1 ] && [ -s "$TMP/err" ]
then ok; else bad "embed: a file that is not a PPM is refused (exit 1, a message)"; fi

# ---- (d) the installed program finds its demo model from anywhere ------------------------
(cd "$TMP/elsewhere" && "$P/bin/vdetect" info >"$TMP/out" 2>"$TMP/err")
if [ $? -eq 0 ] && grep -q "^weights  *$P/bin/\.\./share/vdetect/demo\.vdm$" "$TMP/out" &&
   grep -q '^architecture   vgg_bn' "$TMP/out"; then ok
else bad "installed vdetect info with no --weights, from another directory"; head -n 2 "$TMP/out"; fi
if grep -aq "$PREFIX/share/vdetect" "$P/bin/vdetect"; then ok
else bad "the installed program has $PREFIX/share/vdetect compiled in"; fi
# a prefix installed for real (no DESTDIR); the program copied away from it finds the
# demo model only through the compiled-in data directory
# (and (f): the unit's two places overridden)
Q="$TMP/prefix"
QDIRS="SYSTEMDUNITDIR=$Q/units SYSCONFDIR=$Q/etc"
mkdir -p "$TMP/lone"
if mk install PREFIX="$Q" $QDIRS LDCONFIG= >"$TMP/out" 2>"$TMP/err" && cp "$Q/bin/vdetect" "$TMP/lone/vdetect" &&
   (cd "$TMP/lone" && ./vdetect info >"$TMP/out" 2>"$TMP/err") &&
   grep -q "^weights  *$Q/share/vdetect/demo\.vdm$" "$TMP/out"; then ok
else bad "vdetect installed with PREFIX=$Q, copied elsewhere: demo model from the data directory"
     head -n 1 "$TMP/out"; fi
rm -f "$TMP/lone/vdetect"
# ---- (f) the unit's places, and systemd's opinion of it ------------------------------------
if [ "$(grep '^ExecStart=' "$Q/units/vdetect@.service" 2>/dev/null)" = \
     "ExecStart=$Q/bin/vdetect watch --config $Q/etc/vdetect/%i.conf" ]; then ok
else bad "SYSTEMDUNITDIR=$Q/units SYSCONFDIR=$Q/etc: the unit there, naming both"; fi
if command -v systemd-analyze >/dev/null 2>&1; then
    # the template as systemd would load an instance of it (the binary must exist:
    # $Q/bin/vdetect does); --man=no: vdetect(1) is in $Q, not where man looks
    systemd-analyze verify --man=no "$Q/units/vdetect@.service" >"$TMP/verify" 2>&1
    if [ $? -eq 0 ] && [ ! -s "$TMP/verify" ]; then ok
    else bad "systemd-analyze verify vdetect@.service"; sed 's/^/    /' "$TMP/verify" | head -n 10; fi
else
    skipped "systemd-analyze verify of the unit (no systemd-analyze here)"
fi
if mk uninstall PREFIX="$Q" $QDIRS LDCONFIG= >"$TMP/out" 2>"$TMP/err" && [ -z "$(find "$Q" ! -type d)" ]; then ok
else bad "make uninstall PREFIX=$Q leaves files"; find "$Q" ! -type d | head; fi
# the uninstalled ./vdetect of the checkout keeps its own lookup
if [ -x ./vdetect ]; then
    (cd "$TMP/elsewhere" && "$ROOT/vdetect" info >"$TMP/out" 2>"$TMP/err")
    if [ $? -eq 0 ] && grep -q "^weights  *$ROOT/assets/demo\.vdm$" "$TMP/out"; then ok
    else bad "./vdetect info from elsewhere: the checkout's assets/demo.vdm"; head -n 1 "$TMP/out"; fi
fi

# ---- (e) uninstall ------------------------------------------------------------------------
echo stranger >"$P/lib/libother.so.1"
echo stranger >"$P/share/man/man1/other.1"
if mk uninstall DESTDIR="$D" PREFIX="$PREFIX" >"$TMP/out" 2>"$TMP/err"; then ok
else bad "make uninstall DESTDIR=$D PREFIX=$PREFIX"; fi
(cd "$D" && find . ! -type d | sort) >"$TMP/left"
printf '%s\n' ".$PREFIX/lib/libother.so.1" ".$PREFIX/share/man/man1/other.1" >"$TMP/want"
if diff "$TMP/want" "$TMP/left" >"$TMP/diff"; then ok
else bad "after make uninstall (- expected, + found)"; sed 's/^/    /' "$TMP/diff"; fi
if [ ! -e "$P/include/vdetect" ] && [ ! -e "$P/share/vdetect" ]; then ok
else bad "make uninstall keeps include/vdetect or share/vdetect"; fi
if [ ! -e "$P/lib/systemd/system/vdetect@.service" ] && [ ! -e "$P/share/vdetect/camera.conf.example" ]
then ok; else bad "make uninstall keeps vdetect@.service or camera.conf.example"; fi

summary
