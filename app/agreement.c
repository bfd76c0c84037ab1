/*
 * agreement.c — how far two sets of detections of the same image agree: the
 * measure `bench` reports for --precision bf16 against fp32 (README:
 * Precision). Each detection of a at or above the score threshold is matched
 * greedily, best score first, to the unmatched detection of b of the same class
 * with the highest IoU, if that IoU reaches the bar; agreement is the matched
 * count over the larger of the two counts above the threshold, so a detection
 * either side lacks counts against it.
 */
#include "app.h"

static double iou(const float *p, const float *q)
{
    double iw = (p[2] < q[2] ? p[2] : q[2]) - (p[0] > q[0] ? p[0] : q[0]);
    double ih = (p[3] < q[3] ? p[3] : q[3]) - (p[1] > q[1] ? p[1] : q[1]);
    if (iw <= 0 || ih <= 0) return 0;
    double inter = iw * ih;
    double u = (double)(p[2] - p[0]) * (p[3] - p[1]) + (double)(q[2] - q[0]) * (q[3] - q[1]) - inter;
    return u > 0 ? inter / u : 0;
}

void app_agreement(const struct model_detection *a, int na, const struct model_detection *b,
                   int nb, double score, double min_iou, int *matched, int *total)
{
    unsigned char used[nb > 0 ? nb : 1];
    for (int j = 0; j < nb; j++) used[j] = 0;
    int ca = 0, cb = 0, m = 0;
    for (int j = 0; j < nb; j++) cb += b[j].score >= score;
    for (int i = 0; i < na; i++) {
        if (a[i].score < score) continue;
        ca++;
        int best = -1;
        double best_iou = min_iou;
        for (int j = 0; j < nb; j++) {
            if (used[j] || b[j].score < score || b[j].label != a[i].label) continue;
            double v = iou(a[i].box, b[j].box);
            if (v >= best_iou) {
                best_iou = v;
                best = j;
            }
        }
        if (best >= 0) {
            used[best] = 1;
            m++;
        }
    }
    *matched = m;
    *total = ca > cb ? ca : cb;
}
