/*
 * devices.c — --list-devices and --list-formats: V4L2 capture devices found
 * under /dev/video*, asked directly with ioctls (VIDIOC_QUERYCAP, ENUM_FMT,
 * ENUM_FRAMESIZES, ENUM_FRAMEINTERVALS), so the listing needs no capture.
 */
#include "video.h"
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/videodev2.h>

static int xioctl(int fd, unsigned long req, void *arg)
{
    int r;
    while ((r = ioctl(fd, req, arg)) < 0 && errno == EINTR)
        ;
    return r;
}

static int video_number(const char *name)
{
    if (strncmp(name, "video", 5) || !name[5])
        return -1;
    char *end;
    long n = strtol(name + 5, &end, 10);
    return *end || n < 0 || n > 1 << 20 ? -1 : (int)n;
}

static int by_number(const struct dirent **a, const struct dirent **b)
{
    return video_number((*a)->d_name) - video_number((*b)->d_name);
}

static int is_video_node(const struct dirent *d)
{
    return video_number(d->d_name) >= 0;
}

static int capture_caps(int fd, struct v4l2_capability *cap)
{
    memset(cap, 0, sizeof *cap);
    if (xioctl(fd, VIDIOC_QUERYCAP, cap) < 0)
        return -1;
    unsigned caps = cap->capabilities & V4L2_CAP_DEVICE_CAPS ? cap->device_caps : cap->capabilities;
    return (caps & V4L2_CAP_VIDEO_CAPTURE) ? 1 : 0;
}

int video_list_devices(FILE *out)
{
    struct dirent **names = NULL;
    int n = scandir("/dev", &names, is_video_node, by_number), found = 0;
    for (int i = 0; i < n; i++) {
        char path[300];
        snprintf(path, sizeof path, "/dev/%s", names[i]->d_name);
        int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
            fprintf(out, "%-14s (cannot open: %s)\n", path, strerror(errno));
            continue;
        }
        struct v4l2_capability cap;
        if (capture_caps(fd, &cap) == 1) {
            fprintf(out, "%-14s %s (%s, %s)\n", path, (const char *)cap.card,
                    (const char *)cap.driver, (const char *)cap.bus_info);
            found++;
        }
        close(fd);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (!found)
        fprintf(out, "no video devices found\n");
    return found;
}

int video_device_names(char *buf, size_t size)
{
    struct dirent **names = NULL;
    int n = scandir("/dev", &names, is_video_node, by_number), found = 0;
    size_t used = 0;
    if (size)
        buf[0] = 0;
    for (int i = 0; i < n; i++) {
        char path[300];
        snprintf(path, sizeof path, "/dev/%s", names[i]->d_name);
        int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        struct v4l2_capability cap;
        if (fd >= 0 && capture_caps(fd, &cap) == 1) {
            int k = snprintf(buf + used, size - used, "%s%s", found ? ", " : "", path);
            if (k > 0 && used + (size_t)k < size)
                used += (size_t)k;
            else if (used < size)
                buf[used] = 0; /* cut at the last whole name */
            found++;
        }
        if (fd >= 0)
            close(fd);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return found;
}

/* A camera that cannot be opened: the error, with what to do about it. in is
 * what the user gave ("webcam", "/dev/video2"), dev the node it names. */
void video_device_fail(const char *in, const char *dev, int err)
{
    char names[160], hint[256];
    int n = video_device_names(names, sizeof names);
    if (err == AVERROR(EACCES))
        snprintf(hint, sizeof hint, "no permission: is the user in the 'video' group?");
    else if (err == AVERROR(EBUSY))
        snprintf(hint, sizeof hint, "in use by another program?");
    else if (n > 0)
        snprintf(hint, sizeof hint, "cameras here: %s", names);
    else
        snprintf(hint, sizeof hint, "no camera found");
    if (strcmp(in, dev))
        fprintf(stderr, "video %s: %s: %s (%s; 'vdetect view --list-devices' lists them)\n", in,
                dev, av_err2str(err), hint);
    else
        fprintf(stderr, "video %s: %s (%s; 'vdetect view --list-devices' lists them)\n", in,
                av_err2str(err), hint);
}

/* FFmpeg's name for the common V4L2 pixel formats (--input-format). */
static const char *ffmpeg_name(uint32_t fourcc)
{
    switch (fourcc) {
    case V4L2_PIX_FMT_MJPEG: return "mjpeg";
    case V4L2_PIX_FMT_JPEG: return "mjpeg";
    case V4L2_PIX_FMT_YUYV: return "yuyv422";
    case V4L2_PIX_FMT_UYVY: return "uyvy422";
    case V4L2_PIX_FMT_H264: return "h264";
    case V4L2_PIX_FMT_NV12: return "nv12";
    case V4L2_PIX_FMT_YUV420: return "yuv420p";
    case V4L2_PIX_FMT_RGB24: return "rgb24";
    case V4L2_PIX_FMT_BGR24: return "bgr24";
    case V4L2_PIX_FMT_GREY: return "gray";
    default: return "?";
    }
}

static void list_intervals(int fd, uint32_t fourcc, uint32_t w, uint32_t h, FILE *out)
{
    struct v4l2_frmivalenum iv = { .pixel_format = fourcc, .width = w, .height = h };
    for (iv.index = 0; xioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, &iv) == 0; iv.index++) {
        if (iv.type == V4L2_FRMIVAL_TYPE_DISCRETE) {
            fprintf(out, " %g", iv.discrete.numerator
                                    ? (double)iv.discrete.denominator / iv.discrete.numerator
                                    : 0.0);
        } else {
            fprintf(out, " %g-%g", (double)iv.stepwise.max.denominator /
                                       (iv.stepwise.max.numerator ? iv.stepwise.max.numerator : 1),
                    (double)iv.stepwise.min.denominator /
                        (iv.stepwise.min.numerator ? iv.stepwise.min.numerator : 1));
            break;
        }
    }
}

int video_list_formats(const char *device, FILE *out)
{
    char dev[64];
    if (!strcmp(device, "webcam"))
        snprintf(dev, sizeof dev, "/dev/video0");
    else if (!strncmp(device, "webcam:", 7))
        snprintf(dev, sizeof dev, "/dev/video%d", atoi(device + 7));
    else
        snprintf(dev, sizeof dev, "%s", device);
    int fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        video_device_fail(device, dev, AVERROR(err));
        return AVERROR(err);
    }
    struct v4l2_capability cap;
    if (capture_caps(fd, &cap) != 1) {
        close(fd);
        fprintf(stderr, "video %s: not a V4L2 capture device\n", dev);
        return AVERROR(ENODEV);
    }
    fprintf(out, "%s: %s (%s)\n", dev, (const char *)cap.card, (const char *)cap.driver);
    struct v4l2_fmtdesc fd_ = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
    for (fd_.index = 0; xioctl(fd, VIDIOC_ENUM_FMT, &fd_) == 0; fd_.index++) {
        uint32_t cc = fd_.pixelformat;
        fprintf(out, "  --input-format %-8s (%c%c%c%c, %s)\n", ffmpeg_name(cc), cc & 0xff,
                (cc >> 8) & 0xff, (cc >> 16) & 0xff, (cc >> 24) & 0xff,
                (const char *)fd_.description);
        struct v4l2_frmsizeenum fs = { .pixel_format = cc };
        for (fs.index = 0; xioctl(fd, VIDIOC_ENUM_FRAMESIZES, &fs) == 0; fs.index++) {
            if (fs.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
                fprintf(out, "      %ux%u fps:", fs.discrete.width, fs.discrete.height);
                list_intervals(fd, cc, fs.discrete.width, fs.discrete.height, out);
                fputc('\n', out);
            } else {
                fprintf(out, "      %ux%u to %ux%u (step %ux%u)\n", fs.stepwise.min_width,
                        fs.stepwise.min_height, fs.stepwise.max_width, fs.stepwise.max_height,
                        fs.stepwise.step_width, fs.stepwise.step_height);
                break;
            }
        }
    }
    close(fd);
    return 0;
}
