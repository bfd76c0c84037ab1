#!/bin/sh
# test_walls.sh — the architecture's walls, checked on every #include:
#   model/  knows no video, SDL or app: its own headers, the C library, OpenBLAS,
#           jansson;
#           inside it the layers go one way: ops/ and ckpt/ use nothing else of
#           model/ (but model.h), spec/ uses ops/ and ckpt/, net/ uses spec/ (and
#           through it the rest);
#   video/  no model or render: its own headers, the C library, FFmpeg;
#   render/ frames and detections only: its own headers, the C library, SDL2,
#           and model.h / video.h (the public types it draws);
#   base/   the helpers track/ and motion/ share (assert, messages, array growth,
#           parameter tables): its own header and the standard C library (libc,
#           libm) alone — not even POSIX or threads;
#   track/  plain boxes in, identities out: its own headers, base.h and the
#           standard C library (libc, libm) alone — not even POSIX or threads;
#   motion/ pixels and plain boxes in, motion, regions and zone events out: the
#           same as track/ (its own headers, base.h, libc and libm alone);
#   publish/ topics and payload bytes to an MQTT broker: its own headers, base.h, the C
#           library, POSIX and pthreads, and libmosquitto's <mosquitto.h>;
#   app/    wires them through their public headers (model.h, video.h, render.h, track.h,
#           motion.h, publish.h)
#           and includes no library's header itself but jansson's (COCO files) and
#           libsystemd's sd-daemon.h (app/service.c: sd_notify for the systemd unit).
# The Makefile compiles each folder with only its own library's include path; this
# catches what that cannot (headers in the system's default path, a "../x/"
# include of another folder's private header). Ends with "test_walls: N passed,
# N failed, N skipped".
set -u
NAME=walls
. tests/lib.sh

# Known and owed: FILE:HEADER pairs allowed for now (none since app/coco.c reads
# COCO JSON with jansson rather than model/'s reader).
EXCEPTIONS=""

# allowed FOLDER HEADER: 0 when FOLDER/ may include HEADER
allowed() {
    folder=$1 h=$2
    if [ "$folder" = base ] || [ "$folder" = track ] || [ "$folder" = motion ]; then
        case "$folder:$h" in
            track:\"../base/base.h\"|motion:\"../base/base.h\") return 0 ;;
        esac
        case "$h" in
            \"../*) return 1 ;;
            \"*) return 0 ;;
            \<stddef.h\>|\<stdint.h\>|\<stdio.h\>|\<stdlib.h\>|\<string.h\>|\<math.h\>|\
            \<errno.h\>|\<stdarg.h\>|\<float.h\>|\<limits.h\>|\<inttypes.h\>|\<stdbool.h\>|\
            \<assert.h\>|\<ctype.h\>) return 0 ;;
        esac
        return 1
    fi
    case "$h" in
        \"../*) ;;                    # another folder: below
        \"*) return 0 ;;              # the folder's own header
        \<std*|\<string.h\>|\<strings.h\>|\<math.h\>|\<time.h\>|\<errno.h\>|\<limits.h\>|\
        \<float.h\>|\<ctype.h\>|\<assert.h\>|\<signal.h\>|\<fcntl.h\>|\<unistd.h\>|\
        \<pthread.h\>|\<poll.h\>|\<dirent.h\>|\<inttypes.h\>|\<locale.h\>|\<getopt.h\>|\
        \<sys/*|\<stdatomic.h\>|\<spawn.h\>|\<wchar.h\>|\<sched.h\>|\<termios.h\>|\
        \<setjmp.h\>|\<libgen.h\>|\<dlfcn.h\>|\<glob.h\>|\<fnmatch.h\>|\<search.h\>|\
        \<netdb.h\>|\<netinet/*|\<arpa/inet.h\>)
            return 0 ;;               # the C library and POSIX (sockets included)
    esac
    case "$folder:$h" in
        model*:\<cblas.h\>|model/ops:\<oneapi/dnnl/dnnl.h\>|model/ops:\<omp.h\>) return 0 ;;
        model/ops:\<immintrin.h\>) return 0 ;;   # the compiler's intrinsics, for kernels chosen at run time
        model/*:\"../model.h\") return 0 ;;
        model/spec:\"../ops/ops.h\"|model/spec:\"../ckpt/ckpt.h\"|model/spec:\"../ckpt/sjson.h\") return 0 ;;
        model*:\<jansson.h\>) return 0 ;;
        model/net:\"../spec/spec.h\") return 0 ;;
        video:\<libav*|video:\<libsw*|video:\<linux/videodev2.h\>) return 0 ;;
        render:\<SDL*) return 0 ;;
        publish:\<mosquitto.h\>|publish:\"../base/base.h\") return 0 ;;
        render:\"../model/model.h\"|render:\"../video/video.h\") return 0 ;;
        app:\<jansson.h\>|app:\<systemd/sd-daemon.h\>|app:\"../model/model.h\"|app:\"../video/video.h\"|app:\"../render/render.h\"|app:\"../track/track.h\"|app:\"../motion/motion.h\"|\
        app:\"../publish/publish.h\") return 0 ;;
    esac
    return 1
}

for folder in model model/ckpt model/ops model/spec model/net video render base track motion publish app; do
    n=0 badn=0
    for f in "$folder"/*.c "$folder"/*.h; do
        [ -e "$f" ] || continue
        for h in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*\([<"][^>"]*[>"]\).*/\1/p' "$f"); do
            n=$((n + 1))
            allowed "$folder" "$h" && continue
            bare=$(echo "$h" | tr -d '"')
            case " $EXCEPTIONS " in *" $f:$bare "*) echo "known: $f includes $h"; continue ;; esac
            badn=$((badn + 1))
            echo "FAIL: $f includes $h (not allowed in $folder/)"
        done
    done
    if [ "$badn" -eq 0 ]; then ok; echo "$folder/: $n includes, all within its walls"
    else fail=$((fail + 1)); fi
done
summary
