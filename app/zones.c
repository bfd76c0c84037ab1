/*
 * zones.c — --zone NAME=x1,y1,...: named polygons over the tracks. Each
 * frame the tracks shown on it go to motion/'s zones (an object is inside by
 * its bottom-centre point, where it stands); what comes back are entry and
 * exit events, which the JSON lines carry ("zone_events"), and counts per
 * zone (inside now, entries, exits) for the HUD, the summary and the run
 * report. The tracking code owns one of these and updates it on the main
 * thread, in frame order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

struct zoning {
    struct motion_zones *mz;
    struct motion_polygon poly[MOTION_MAX_ZONES];
    int n;
    struct motion_object *obj;     /* max: this frame's tracks as the zones see them */
    int max;
    const struct motion_zone_event *ev;   /* the last update's events */
    int nev;
    struct render_zone rz[MOTION_MAX_ZONES];
};

int zoning_open(struct zoning **out, const struct motion_polygon *zones, int n, int max_objects)
{
    *out = NULL;
    if (n <= 0)
        return APP_OK;
    char msg[300];
    struct zoning *z = calloc(1, sizeof *z);
    if (!z || !(z->obj = calloc((size_t)max_objects, sizeof *z->obj))) {
        free(z);
        app_error("out of memory");
        return APP_FAIL;
    }
    struct motion_params p;
    motion_params_default(&p);
    if (motion_zones_create(&z->mz, zones, n, &p, msg, sizeof msg) < 0) {
        app_error("--zone: %s", msg);
        zoning_close(&z);
        return APP_FAIL;
    }
    memcpy(z->poly, zones, (size_t)n * sizeof *zones);
    z->n = n;
    z->max = max_objects;
    for (int i = 0; i < n; i++)
        z->rz[i] = (struct render_zone){ .x = z->poly[i].x, .y = z->poly[i].y,
                                         .n = z->poly[i].n, .name = z->poly[i].name };
    *out = z;
    return APP_OK;
}

void zoning_close(struct zoning **zp)
{
    struct zoning *z = zp ? *zp : NULL;
    if (!z)
        return;
    motion_zones_free(&z->mz);
    free(z->obj);
    free(z);
    *zp = NULL;
}

int zoning_update(struct zoning *z, const struct track_out *shown, int n)
{
    if (!z)
        return 0;
    char msg[300];
    if (n > z->max)
        n = z->max;
    for (int i = 0; i < n; i++) {
        z->obj[i].id = shown[i].id;
        memcpy(z->obj[i].box, shown[i].box, sizeof z->obj[i].box);
    }
    int k = motion_zones_update(z->mz, z->obj, n, &z->ev, msg, sizeof msg);
    if (k < 0) {
        z->nev = 0;
        app_error("--zone: %s", msg);
        return -1;
    }
    z->nev = k;
    for (int i = 0; i < z->n; i++) {
        int inside;
        long in, out;
        motion_zones_counts(z->mz, i, &inside, &in, &out);
        z->rz[i].occupied = inside > 0;
    }
    return 0;
}

void zoning_events_json(FILE *f, const struct zoning *z)
{
    fputc('[', f);
    for (int i = 0; z && i < z->nev; i++) {
        fprintf(f, "%s{\"zone\": ", i ? ", " : "");
        json_put_string(f, z->poly[z->ev[i].zone].name);
        fprintf(f, ", \"track_id\": %d, \"event\": \"%s\"}", z->ev[i].id,
                z->ev[i].kind == MOTION_ZONE_ENTER ? "enter" : "exit");
    }
    fputc(']', f);
}

int zoning_nevents(const struct zoning *z)
{
    return z ? z->nev : 0;
}

int zoning_render(const struct zoning *z, const struct render_zone **out)
{
    *out = z ? z->rz : NULL;
    return z ? z->n : 0;
}

/* "door: 1 inside, 5 in, 4 out" */
static int counts_text(const struct zoning *z, int i, char *buf, size_t size)
{
    int inside;
    long in, out;
    motion_zones_counts(z->mz, i, &inside, &in, &out);
    return snprintf(buf, size, "%s: %d inside, %ld in, %ld out", z->poly[i].name, inside, in,
                    out);
}

int zoning_hud(const struct zoning *z, char *buf, size_t size)
{
    int at = 0;
    for (int i = 0; z && i < z->n && i < 3 && at >= 0 && (size_t)at < size; i++) {
        char l[120];
        counts_text(z, i, l, sizeof l);
        at += snprintf(buf + at, size - (size_t)at, "\nzone %s", l);
    }
    return at;
}

void zoning_summary(FILE *f, const char *cmd, const struct zoning *z)
{
    for (int i = 0; z && i < z->n; i++) {
        char l[120];
        counts_text(z, i, l, sizeof l);
        fprintf(f, "%s: zone %s\n", cmd, l);
    }
}

void zoning_json(FILE *f, const struct zoning *z)
{
    fputc('[', f);
    for (int i = 0; z && i < z->n; i++) {
        int inside;
        long in, out;
        motion_zones_counts(z->mz, i, &inside, &in, &out);
        fprintf(f, "%s{\"name\": ", i ? ", " : "");
        json_put_string(f, z->poly[i].name);
        fprintf(f, ", \"entries\": %ld, \"exits\": %ld, \"inside\": %d}", in, out, inside);
    }
    fputc(']', f);
}

int zoning_count(const struct zoning *z)
{
    return z ? z->n : 0;
}

const char *zoning_name(const struct zoning *z, int i)
{
    return z && i >= 0 && i < z->n ? z->poly[i].name : "";
}

unsigned zoning_of(const struct zoning *z, int id)
{
    return z ? motion_zones_of(z->mz, id) : 0;
}
