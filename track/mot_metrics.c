/*
 * mot_metrics.c — evaluating a tracker against ground truth: CLEAR MOT (MOTA,
 * MOTP, misses, false positives, identity switches, fragmentations, mostly
 * tracked / lost) and the identity scores (IDF1, IDP, IDR), defined as
 * py-motmetrics defines them with an IoU distance and max_iou 0.5.
 *
 * Per frame (track_mot_frame), with distances d = 1 - IoU, pairs with d > 0.5
 * impossible:
 *   1. a ground truth whose last hypothesis is present again keeps it when
 *      their distance is possible (ground truths in the order given; a
 *      hypothesis serves one);
 *   2. the others are matched by optimal assignment — most pairs first, then
 *      least total distance (assign.c) — a pair is a switch when the ground
 *      truth was last matched to another hypothesis (however long ago);
 *   3. unmatched ground truths are misses, unmatched hypotheses false positives.
 * A fragmentation is a run of misses between two matched frames of the same
 * ground truth (frames where it is absent from the ground truth do not count).
 *
 * IDF1 (track_mot_result): every frame also counts, for each pair of ids, the
 * frames where their boxes could correspond (d <= 0.5). The best one-to-one map
 * of ground-truth ids to hypothesis ids maximises the frames so shared (IDTP);
 * this is py-motmetrics' min-cost assignment over its fp + fn matrix, whose
 * total is GT + hypotheses - 2 IDTP. IDFN = GT - IDTP, IDFP = hypotheses - IDTP.
 *
 * Ids are mapped to dense indices by a small open-addressing hash table; the
 * per-pair frame counts live in another keyed by the index pair.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_DIST 0.5 /* py-motmetrics' max_iou: the largest 1 - IoU that may match */

/* ---- hash tables: 64-bit key -> int value ------------------------------------ */

struct hmap {
    uint64_t *keys;  /* key + 1; 0 marks an empty slot */
    int *vals;
    int cap, n;      /* cap a power of two */
};

static uint64_t hmix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    return k ^ (k >> 33);
}

static int hmap_slot(const struct hmap *h, uint64_t key)
{
    uint64_t mask = (uint64_t)h->cap - 1, i = hmix(key) & mask;
    while (h->keys[i] && h->keys[i] != key + 1) i = (i + 1) & mask;
    return (int)i;
}

/* The value of key, or -1. */
static int hmap_get(const struct hmap *h, uint64_t key)
{
    if (!h->cap) return -1;
    int s = hmap_slot(h, key);
    return h->keys[s] ? h->vals[s] : -1;
}

/* A pointer to key's value, inserted as `init` when new; NULL when out of memory. */
static int *hmap_put(struct hmap *h, uint64_t key, int init)
{
    if (2 * (h->n + 1) > h->cap) {
        int cap = h->cap ? 2 * h->cap : 64;
        struct hmap g = { calloc((size_t)cap, sizeof *g.keys), malloc((size_t)cap * sizeof *g.vals), cap, 0 };
        if (!g.keys || !g.vals || cap <= 0) {
            free(g.keys);
            free(g.vals);
            return NULL;
        }
        for (int i = 0; i < h->cap; i++) {
            if (!h->keys[i]) continue;
            int s = hmap_slot(&g, h->keys[i] - 1);
            g.keys[s] = h->keys[i];
            g.vals[s] = h->vals[i];
            g.n++;
        }
        free(h->keys);
        free(h->vals);
        *h = g;
    }
    int s = hmap_slot(h, key);
    if (!h->keys[s]) {
        h->keys[s] = key + 1;
        h->vals[s] = init;
        h->n++;
    }
    return &h->vals[s];
}

static void hmap_free(struct hmap *h)
{
    free(h->keys);
    free(h->vals);
    *h = (struct hmap){ 0 };
}

/* ---- the accumulator -------------------------------------------------------- */

struct gt_obj {
    int id;
    long frames, matched;     /* frames present, frames matched */
    int has_hyp, hyp_id;      /* the hypothesis it was last matched to */
    int seen_match, in_miss;  /* for fragmentations */
    long stamp;               /* last call that listed it */
};

struct hyp_obj {
    int id;
    long frames;
    long stamp;
    int pos;                  /* its position in this frame's list */
};

struct track_mot {
    long frames, stamp;
    long num_objects, num_predictions, matches, switches, misses, fps, frags;
    double dist_sum;          /* over matches and switches */
    struct hmap gt_index, hyp_index; /* id -> index into gt / hyp */
    struct gt_obj *gt;
    int ngt, cap_gt;
    struct hyp_obj *hyp;
    int nhyp, cap_hyp;
    struct hmap pairs;        /* (gt index, hyp index) -> index into pair_count */
    long *pair_count;
    int npairs, cap_pairs;
    /* per frame */
    int *gi, *hi, cap_f;      /* indices of this frame's objects */
    unsigned char *gmask, *hmask;
    int *rows, *cols, *r2c;
    double *dist, *cost;
    int cap_d;
    struct assign as;
};

int track_mot_create(struct track_mot **mp, char *msg, size_t len)
{
    BASE_ASSERT(mp);
    *mp = calloc(1, sizeof **mp);
    return *mp ? 0 : base_err(msg, len, "track: out of memory");
}

void track_mot_free(struct track_mot **mp)
{
    if (!mp || !*mp) return;
    struct track_mot *m = *mp;
    hmap_free(&m->gt_index);
    hmap_free(&m->hyp_index);
    hmap_free(&m->pairs);
    free(m->gt); free(m->hyp); free(m->pair_count);
    free(m->gi); free(m->hi); free(m->gmask); free(m->hmask);
    free(m->rows); free(m->cols); free(m->r2c); free(m->dist); free(m->cost);
    assign_free(&m->as);
    free(m);
    *mp = NULL;
}

static uint64_t id_key(int id) { return (uint64_t)(uint32_t)id; }

static int box_ok(const float *b)
{
    return isfinite(b[0]) && isfinite(b[1]) && isfinite(b[2]) && isfinite(b[3]);
}

static int reserve_frame(struct track_mot *m, int ngt, int nhyp)
{
    int nf = ngt > nhyp ? ngt : nhyp;
    long long cells = (long long)ngt * nhyp;
    if (cells > (1LL << 26)) return -1;
    if (nf > m->cap_f) {
        int c1 = m->cap_f, c2 = c1, c3 = c1, c4 = c1, c5 = c1, c6 = c1, c7 = c1;
        if (base_grow((void **)&m->gi, &c1, nf, sizeof *m->gi) < 0 ||
            base_grow((void **)&m->hi, &c2, nf, sizeof *m->hi) < 0 ||
            base_grow((void **)&m->gmask, &c3, nf, 1) < 0 ||
            base_grow((void **)&m->hmask, &c4, nf, 1) < 0 ||
            base_grow((void **)&m->rows, &c5, nf, sizeof *m->rows) < 0 ||
            base_grow((void **)&m->cols, &c6, nf, sizeof *m->cols) < 0 ||
            base_grow((void **)&m->r2c, &c7, nf, sizeof *m->r2c) < 0)
            return -1;
        m->cap_f = c1;
    }
    if (cells > m->cap_d) {
        int c1 = m->cap_d, c2 = c1;
        if (base_grow((void **)&m->dist, &c1, (int)cells, sizeof *m->dist) < 0 ||
            base_grow((void **)&m->cost, &c2, (int)cells, sizeof *m->cost) < 0)
            return -1;
        m->cap_d = c1;
    }
    return assign_reserve(&m->as, ngt, nhyp);
}

/* The index of ground-truth (is_gt) or hypothesis id, added when new; -1 when
 * out of memory. */
static int index_of(struct track_mot *m, int is_gt, int id)
{
    struct hmap *h = is_gt ? &m->gt_index : &m->hyp_index;
    int *n = is_gt ? &m->ngt : &m->nhyp;
    int *v = hmap_put(h, id_key(id), *n);
    if (!v) return -1;
    if (*v < *n) return *v;
    if (is_gt) {
        if (base_grow((void **)&m->gt, &m->cap_gt, *n + 1, sizeof *m->gt) < 0) return -1;
        m->gt[*n] = (struct gt_obj){ .id = id, .stamp = -1 };
    } else {
        if (base_grow((void **)&m->hyp, &m->cap_hyp, *n + 1, sizeof *m->hyp) < 0) return -1;
        m->hyp[*n] = (struct hyp_obj){ .id = id, .stamp = -1 };
    }
    return (*n)++;
}

static int count_pair(struct track_mot *m, int g, int h)
{
    if (base_grow((void **)&m->pair_count, &m->cap_pairs, m->npairs + 1, sizeof *m->pair_count) < 0)
        return -1;
    int *v = hmap_put(&m->pairs, (uint64_t)g << 32 | (uint32_t)h, m->npairs);
    if (!v) return -1;
    if (*v == m->npairs) m->pair_count[m->npairs++] = 0;
    m->pair_count[*v]++;
    return 0;
}

int track_mot_frame(struct track_mot *m, const struct track_mot_obj *gt, int ngt,
                    const struct track_mot_obj *hyp, int nhyp, char *msg, size_t len)
{
    BASE_ASSERT(m && ngt >= 0 && nhyp >= 0 && (gt || !ngt) && (hyp || !nhyp));
    long stamp = ++m->stamp;
    if (reserve_frame(m, ngt, nhyp) < 0) goto oom;
    /* check everything before counting anything */
    for (int i = 0; i < ngt; i++) {
        if (!box_ok(gt[i].box))
            return base_err(msg, len, "track: ground truth id %d: box is not finite", gt[i].id);
        int g = index_of(m, 1, gt[i].id);
        if (g < 0) goto oom;
        if (m->gt[g].stamp == stamp)
            return base_err(msg, len, "track: ground truth id %d twice in one frame", gt[i].id);
        m->gt[g].stamp = stamp;
        m->gi[i] = g;
    }
    for (int j = 0; j < nhyp; j++) {
        if (!box_ok(hyp[j].box))
            return base_err(msg, len, "track: hypothesis id %d: box is not finite", hyp[j].id);
        int h = index_of(m, 0, hyp[j].id);
        if (h < 0) goto oom;
        if (m->hyp[h].stamp == stamp)
            return base_err(msg, len, "track: hypothesis id %d twice in one frame", hyp[j].id);
        m->hyp[h].stamp = stamp;
        m->hyp[h].pos = j;
        m->hi[j] = h;
    }
    for (int i = 0; i < ngt; i++) {
        for (int j = 0; j < nhyp; j++) {
            double d = 1 - track_iou(gt[i].box, hyp[j].box);
            m->dist[(size_t)i * nhyp + j] = d <= MAX_DIST ? d : INFINITY;
            if (d <= MAX_DIST && count_pair(m, m->gi[i], m->hi[j]) < 0) goto oom;
        }
    }
    /* From here on nothing can fail: the frame counts. */
    m->frames++;
    m->num_objects += ngt;
    m->num_predictions += nhyp;
    memset(m->gmask, 0, (size_t)ngt);
    memset(m->hmask, 0, (size_t)nhyp);
    /* 1. keep last correspondences */
    for (int i = 0; i < ngt; i++) {
        struct gt_obj *o = &m->gt[m->gi[i]];
        o->frames++;
        if (!o->has_hyp) continue;
        int h = hmap_get(&m->hyp_index, id_key(o->hyp_id));
        if (h < 0 || m->hyp[h].stamp != stamp) continue;
        int j = m->hyp[h].pos;
        double d = m->dist[(size_t)i * nhyp + j];
        if (m->hmask[j] || !(d <= MAX_DIST)) continue;
        m->gmask[i] = m->hmask[j] = 1;
        m->matches++;
        m->dist_sum += d;
        o->matched++;
        if (o->in_miss) m->frags++;
        o->in_miss = 0;
        o->seen_match = 1;
    }
    for (int j = 0; j < nhyp; j++) m->hyp[m->hi[j]].frames++;
    /* 2. optimal assignment of the rest: most pairs, then least distance */
    int nr = 0, nc = 0;
    for (int i = 0; i < ngt; i++)
        if (!m->gmask[i]) m->rows[nr++] = i;
    for (int j = 0; j < nhyp; j++)
        if (!m->hmask[j]) m->cols[nc++] = j;
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++)
            m->cost[(size_t)r * nc + c] = m->dist[(size_t)m->rows[r] * nhyp + m->cols[c]];
    /* a pair is worth more than any saving in distance among fewer pairs */
    double thresh = MAX_DIST + (nr < nc ? nr : nc) + 1;
    int pairs = assign_solve(&m->as, m->cost, nr, nc, thresh, m->r2c, NULL, NULL, 0);
    BASE_ASSERT(pairs >= 0);
    for (int r = 0; r < nr; r++) {
        if (m->r2c[r] < 0) continue;
        int i = m->rows[r], j = m->cols[m->r2c[r]];
        struct gt_obj *o = &m->gt[m->gi[i]];
        int hid = hyp[j].id;
        if (o->has_hyp && o->hyp_id != hid) m->switches++;
        else m->matches++;
        o->has_hyp = 1;
        o->hyp_id = hid;
        m->gmask[i] = m->hmask[j] = 1;
        m->dist_sum += m->dist[(size_t)i * nhyp + j];
        o->matched++;
        if (o->in_miss) m->frags++;
        o->in_miss = 0;
        o->seen_match = 1;
    }
    /* 3. misses and false positives */
    for (int i = 0; i < ngt; i++) {
        if (m->gmask[i]) continue;
        m->misses++;
        struct gt_obj *o = &m->gt[m->gi[i]];
        if (o->seen_match) o->in_miss = 1;
    }
    for (int j = 0; j < nhyp; j++) m->fps += !m->hmask[j];
    return 0;
oom:
    return base_err(msg, len, "track: out of memory (MOT metrics, %d x %d objects)", ngt, nhyp);
}

/* IDTP: the largest total of shared frames under a one-to-one map of ids. */
static long id_true_positives(struct track_mot *m, char *msg, size_t len)
{
    int no = m->ngt, nh = m->nhyp;
    if (!no || !nh || !m->npairs) return 0;
    if ((long long)no * nh > (1LL << 26))
        return base_err(msg, len, "track: IDF1: %d x %d identities are too many", no, nh);
    double *cost = malloc((size_t)no * nh * sizeof *cost);
    int *r2c = malloc((size_t)no * sizeof *r2c);
    if (!cost || !r2c) {
        free(cost);
        free(r2c);
        return base_err(msg, len, "track: out of memory (IDF1, %d x %d identities)", no, nh);
    }
    for (size_t k = 0; k < (size_t)no * nh; k++) cost[k] = INFINITY;
    for (int s = 0; s < m->pairs.cap; s++) {
        if (!m->pairs.keys[s]) continue;
        uint64_t key = m->pairs.keys[s] - 1;
        int g = (int)(key >> 32), h = (int)(uint32_t)key;
        cost[(size_t)g * nh + h] = -(double)m->pair_count[m->pairs.vals[s]];
    }
    long idtp = 0;
    int pairs = assign_solve(&m->as, cost, no, nh, 0, r2c, NULL, msg, len);
    if (pairs < 0) idtp = -1;
    for (int g = 0; g < no && pairs >= 0; g++)
        if (r2c[g] >= 0) idtp += (long)llround(-cost[(size_t)g * nh + r2c[g]]);
    free(cost);
    free(r2c);
    return idtp;
}

static double ratio(double a, double b) { return b != 0 ? a / b : NAN; }

int track_mot_result(struct track_mot *m, struct track_mot_result *r, char *msg, size_t len)
{
    BASE_ASSERT(m && r);
    memset(r, 0, sizeof *r);
    long idtp = id_true_positives(m, msg, len);
    if (idtp < 0) return -1;
    r->frames = m->frames;
    r->num_objects = m->num_objects;
    r->num_predictions = m->num_predictions;
    r->num_matches = m->matches;
    r->num_switches = m->switches;
    r->num_misses = m->misses;
    r->num_false_positives = m->fps;
    r->num_fragmentations = m->frags;
    for (int g = 0; g < m->ngt; g++) {
        const struct gt_obj *o = &m->gt[g];
        if (!o->frames) continue; /* named only by a frame that was refused */
        r->num_unique_objects++;
        double f = (double)o->matched / o->frames;
        if (f >= 0.8) r->mostly_tracked++;
        else if (f < 0.2) r->mostly_lost++;
        else r->partially_tracked++;
    }
    r->mota = ratio(m->num_objects - (double)(m->misses + m->fps + m->switches), m->num_objects);
    if (m->num_objects == 0) r->mota = NAN;
    r->motp = ratio(m->dist_sum, (double)(m->matches + m->switches));
    r->idtp = idtp;
    r->idfn = m->num_objects - idtp;
    r->idfp = m->num_predictions - idtp;
    r->idp = ratio(idtp, idtp + r->idfp);
    r->idr = ratio(idtp, idtp + r->idfn);
    r->idf1 = ratio(2.0 * idtp, 2.0 * idtp + r->idfp + r->idfn);
    return 0;
}

int track_mot_drop_ignored(const struct track_mot_obj *gt, int ngt, struct track_mot_obj *hyp,
                           int nhyp, char *msg, size_t len)
{
    BASE_ASSERT(ngt >= 0 && nhyp >= 0 && (gt || !ngt) && (hyp || !nhyp));
    int ignored = 0;
    for (int i = 0; i < ngt; i++) ignored += gt[i].score == 0;
    if (!ignored || !nhyp) return nhyp;
    struct assign as = { 0 };
    double *cost = malloc(sizeof *cost * (size_t)ngt * (size_t)nhyp);
    int *r2c = malloc(sizeof *r2c * (size_t)ngt), *c2r = malloc(sizeof *c2r * (size_t)nhyp);
    int out = -1;
    if (!cost || !r2c || !c2r) {
        base_err(msg, len, "track: out of memory");
        goto done;
    }
    for (int i = 0; i < ngt; i++)
        for (int j = 0; j < nhyp; j++) {
            double d = 1 - track_iou(gt[i].box, hyp[j].box);
            cost[(size_t)i * nhyp + j] = d <= MAX_DIST ? d : INFINITY;
        }
    if (assign_solve(&as, cost, ngt, nhyp, MAX_DIST, r2c, c2r, msg, len) < 0) goto done;
    out = 0;
    for (int j = 0; j < nhyp; j++)
        if (c2r[j] < 0 || gt[c2r[j]].score != 0) hyp[out++] = hyp[j];
done:
    assign_free(&as);
    free(cost);
    free(r2c);
    free(c2r);
    return out;
}
