/*
 * zones.c — named zones watched over time: which tracked objects are in which
 * zone (by the bottom-centre point of the box: where an object stands), with
 * entry and exit events under a small hysteresis, and per-zone counts.
 *
 * Each known object keeps a bit per zone (inside or not) and a streak per zone:
 * the consecutive updates whose observation contradicts that bit. When the
 * streak reaches zone_frames_in (outside → inside) or zone_frames_out (inside →
 * outside) the bit flips and an event is written. An object missing from an
 * update is forgotten at once, leaving every zone it was in: the caller's
 * tracker already keeps lost objects alive while it believes in them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct object {
    int id;
    unsigned inside;                          /* bit i: in zone i */
    unsigned char streak[MOTION_MAX_ZONES];   /* contradicting updates in a row (capped) */
};

struct motion_zones {
    struct motion_polygon zones[MOTION_MAX_ZONES];
    int nzones;
    int frames_in, frames_out;
    struct object *obj, *next;   /* this update's objects are built in next, then swapped */
    int nobj, cap_obj, cap_next;
    struct motion_zone_event *events;
    int cap_events;
    int inside[MOTION_MAX_ZONES];
    long entries[MOTION_MAX_ZONES], exits[MOTION_MAX_ZONES];
};

int motion_zones_create(struct motion_zones **z, const struct motion_polygon *zones, int n,
                        const struct motion_params *p, char *msg, size_t len)
{
    *z = NULL;
    if (motion_params_check(p, msg, len) < 0) return -1;
    if (n < 0 || n > MOTION_MAX_ZONES)
        return base_err(msg, len, "motion: %d zones (at most %d)", n, MOTION_MAX_ZONES);
    for (int i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof what, "zone '%s'", zones[i].name);
        if (motion_polygon_check(&zones[i], what, msg, len) < 0) return -1;
    }
    struct motion_zones *s = calloc(1, sizeof *s);
    if (!s) return base_err(msg, len, "motion: out of memory");
    if (n) memcpy(s->zones, zones, (size_t)n * sizeof *zones);
    s->nzones = n;
    s->frames_in = p->zone_frames_in;
    s->frames_out = p->zone_frames_out;
    *z = s;
    return 0;
}

void motion_zones_free(struct motion_zones **z)
{
    if (!z || !*z) return;
    free((*z)->obj);
    free((*z)->next);
    free((*z)->events);
    free(*z);
    *z = NULL;
}

static struct object *find(struct object *o, int n, int id)
{
    for (int i = 0; i < n; i++)
        if (o[i].id == id) return &o[i];
    return NULL;
}

int motion_zones_update(struct motion_zones *z, const struct motion_object *obj, int n,
                        const struct motion_zone_event **events, char *msg, size_t len)
{
    BASE_ASSERT(n >= 0);
    *events = NULL;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (obj[i].id == obj[j].id)
                return base_err(msg, len, "motion: object id %d appears twice in one update",
                                obj[i].id);
    /* at most one event per zone per object, present or vanished */
    long need = ((long)n + z->nobj) * z->nzones;
    if (need > 1000000000L) return base_err(msg, len, "motion: %d objects is too many", n);
    if (base_grow((void **)&z->next, &z->cap_next, n, sizeof *z->next) < 0 ||
        base_grow((void **)&z->events, &z->cap_events, (int)need, sizeof *z->events) < 0)
        return base_err(msg, len, "motion: out of memory for %d objects", n);

    int ne = 0;
    /* vanished objects leave their zones first */
    for (int k = 0; k < z->nobj; k++) {
        const struct object *o = &z->obj[k];
        int present = 0;
        for (int i = 0; i < n && !present; i++) present = obj[i].id == o->id;
        if (present) continue;
        for (int q = 0; q < z->nzones; q++) {
            if (!(o->inside >> q & 1u)) continue;
            z->inside[q]--;
            z->exits[q]++;
            z->events[ne++] = (struct motion_zone_event){ q, o->id, MOTION_ZONE_EXIT };
        }
    }
    for (int i = 0; i < n; i++) {
        const struct object *old = find(z->obj, z->nobj, obj[i].id);
        struct object o = old ? *old : (struct object){ .id = obj[i].id };
        float bx = 0.5f * (obj[i].box[0] + obj[i].box[2]), by = obj[i].box[3];
        for (int q = 0; q < z->nzones; q++) {
            unsigned was = o.inside >> q & 1u;
            unsigned now = (unsigned)motion_point_in_polygon(&z->zones[q], bx, by);
            if (now == was) {
                o.streak[q] = 0;
                continue;
            }
            if (o.streak[q] < 255) o.streak[q]++;
            if (o.streak[q] < (was ? z->frames_out : z->frames_in)) continue;
            o.streak[q] = 0;
            o.inside ^= 1u << q;
            if (now) {
                z->inside[q]++;
                z->entries[q]++;
            } else {
                z->inside[q]--;
                z->exits[q]++;
            }
            z->events[ne++] = (struct motion_zone_event){ q, o.id,
                                                          now ? MOTION_ZONE_ENTER : MOTION_ZONE_EXIT };
        }
        z->next[i] = o;
    }
    BASE_ASSERT(ne <= need);
    struct object *t = z->obj;
    int tc = z->cap_obj;
    z->obj = z->next;
    z->cap_obj = z->cap_next;
    z->next = t;
    z->cap_next = tc;
    z->nobj = n;
    for (int q = 0; q < z->nzones; q++) BASE_ASSERT(z->inside[q] >= 0);
    *events = z->events;
    return ne;
}

void motion_zones_counts(const struct motion_zones *z, int zone, int *inside, long *entries,
                         long *exits)
{
    BASE_ASSERT(zone >= 0 && zone < z->nzones);
    if (inside) *inside = z->inside[zone];
    if (entries) *entries = z->entries[zone];
    if (exits) *exits = z->exits[zone];
}

unsigned motion_zones_of(const struct motion_zones *z, int id)
{
    for (int i = 0; i < z->nobj; i++)
        if (z->obj[i].id == id) return z->obj[i].inside;
    return 0;
}
