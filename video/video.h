/*
 * video.h — the public header of video/: everything vdetect reads from or
 * writes to media files through FFmpeg.
 *
 * Scope. video/ owns FFmpeg input (still images now; files, URLs, V4L2 devices
 * through libavdevice and lavfi graphs later), the colour conversion to packed
 * RGB24 (one libswscale path that honours the source's colour range and
 * matrix), and, in later sessions, the decode thread, the fixed frame pool and
 * the encoder/muxer for annotated output. It knows nothing of the model or SDL.
 *
 * Errors: fallible functions return 0 or a negative code (an AVERROR where
 * FFmpeg gave one) and have already printed one line naming the problem to
 * stderr; callers propagate quietly.
 */
#ifndef VDETECT_VIDEO_H
#define VDETECT_VIDEO_H

#include <stdint.h>

/*
 * Decode the still image at path (PNG, JPEG, BMP, PPM/PGM, WebP, TIFF, GIF, ...:
 * anything libavformat opens; a video file gives its first frame) into packed
 * RGB24: row-major, 3 bytes per pixel R G B, stride exactly 3 * *width, no
 * padding. The orientation stored with the image (EXIF Orientation, or a
 * display matrix) is applied, so *width x *height is the upright size.
 *
 * On success returns 0 and *rgb is a malloc()ed buffer the caller frees with
 * free(). On failure prints "image PATH: reason" to stderr, returns a negative
 * code and sets *rgb to NULL, *width and *height to 0. Missing files,
 * directories, non-images and corrupt or truncated data are such failures.
 * Thread-safe (no shared state besides FFmpeg's own).
 */
int video_load_image(const char *path, uint8_t **rgb, int *width, int *height);

/*
 * Set FFmpeg's own log level by ffmpeg's -loglevel names ("quiet", "panic",
 * "fatal", "error", "warning", "info", "verbose", "debug", "trace"); NULL means
 * "quiet". vdetect reports FFmpeg errors itself, one line each, so FFmpeg's
 * chatter is off by default. Returns 0, or -1 for an unknown name (nothing
 * printed). Call once at start-up, before any thread starts.
 */
int video_set_log_level(const char *name);

/* "libavformat 59.27.100, libavcodec 59.37.100, ..." of the libraries linked
 * at run time; a static string. */
const char *video_library_versions(void);

#endif
