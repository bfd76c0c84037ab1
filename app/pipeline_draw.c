/*
 * pipeline_draw.c — what view and annotate share between the pipeline and
 * render/: turning the model's detections into render_det (after the output
 * filter of --score-thresh and --classes), and the source options of
 * README.md's Commands (--input-format, --video-size, --framerate).
 */
#include <string.h>

#include "app.h"
#include "pipeline.h"

int app_render_dets(const struct cli_model *cm, const struct model_detection *d, int n,
                    const int *track_ids, struct render_det *out, int max)
{
    int k = 0;
    for (int i = 0; i < n && k < max; i++) {
        /* tracks passed the tracker's own thresholds (and --classes) */
        if (!track_ids && !cli_model_keep(cm, &d[i]))
            continue;
        out[k].x1 = d[i].box[0];
        out[k].y1 = d[i].box[1];
        out[k].x2 = d[i].box[2];
        out[k].y2 = d[i].box[3];
        out[k].label = d[i].label;
        out[k].score = d[i].score;
        out[k].name = cli_model_class_name(cm, d[i].label);
        out[k].track_id = track_ids ? track_ids[i] : 0;
        /* the model file's colour for the class when it has one (the demo's say
         * what their names say: a track's identity is in its label); otherwise
         * a track gets its identity's colour and a detection its class's */
        out[k].has_color = model_class_color(cm->model, d[i].label, out[k].color);
        k++;
    }
    return k;
}

int app_check_frame_size(const struct cli_model *cm, const char *source,
                         const struct video_info *info)
{
    char why[320];
    if (model_check_size(cm->model, info->width, info->height, why, sizeof why) == 0)
        return APP_OK;
    app_error("video %s: %s", source, why);
    return APP_FAIL;
}

int app_max_dets(const struct cli_model *cm)
{
    return model_max_detections(cm->model);
}
