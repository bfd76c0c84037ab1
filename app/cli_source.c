/*
 * cli_source.c — the source options of view, annotate and bench (README.md,
 * Commands): what a capture device is asked for, passed to video/ as given.
 */
#include "../video/video.h"
#include "app.h"

void cli_source_options(struct opt t[CLI_SOURCE_NOPTS], struct video_source_options *so)
{
    const struct opt opts[CLI_SOURCE_NOPTS] = {
        { .name = "--input-format", .arg = "F", .kind = OPT_STRING, .dest = &so->input_format,
          .help = "capture device pixel format (mjpeg, yuyv422, ...)" },
        { .name = "--video-size", .arg = "WxH", .kind = OPT_STRING, .dest = &so->video_size,
          .help = "capture device frame size" },
        { .name = "--framerate", .arg = "R", .kind = OPT_STRING, .dest = &so->framerate,
          .help = "capture device frame rate" },
        { .kind = OPT_END },
    };
    for (int i = 0; i < CLI_SOURCE_NOPTS; i++)
        t[i] = opts[i];
}
