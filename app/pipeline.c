/*
 * pipeline.c — the pipeline's threads and the policies that connect them,
 * all in one place (pipeline.h draws the picture).
 *
 * Owns: the frame slots and the video_pool behind them (the one free list),
 * the three queues (frame, result, display), the decode and detect threads
 * (created once, joined once) and the counters. The consumer — window,
 * writer or null sink — is the caller's main thread, which takes items with
 * pipeline_next() and gives them back with pipeline_release() (consume.c has
 * the loop of annotate and bench).
 *
 * Policies:
 *   - frame queue: live sources DROP_OLDEST (latency stays bounded, every
 *     eviction counted); files BLOCK (back-pressure, nothing lost);
 *   - result queue: BLOCK — a consumer that falls behind slows the detector,
 *     and on a live source that turns into counted drops at the frame queue;
 *   - display queue (display_all): DROP_OLDEST for live sources (the screen
 *     shows the newest frame), BLOCK for files;
 *   - free list: the video_pool holds every frame not in flight; the decode
 *     thread waits on it (video_pool_get_wait), so memory is fixed whatever
 *     the consumer does. Slot i wraps pool frame i (video_pool_index).
 *
 * Shutdown: the decode thread ends at end of input, after max_frames, on an
 * error or when stopped (the source is interrupted so a blocked read returns);
 * it closes the frame queue, the detect thread drains it and closes the result
 * queue, and the consumer sees PIPE_END. PIPE_STOP_ABORT also stops the pool
 * and closes the frame queue so nobody waits for work that will not be done.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "pipeline.h"

enum { STOP_NONE = 0, STOP_DRAIN = 1, STOP_ABORT = 2 };

struct pipeline {
    struct pipeline_config c;
    struct video_pool *pool;        /* the free list: frames not in flight */
    struct pipe_frame *slots;       /* nslots; slot i wraps pool frame i */
    int nslots;
    struct model_detection *det_mem; /* nslots * max_dets + max_dets (held copy) */
    int *id_mem;                     /* nslots * max_dets: the slots' track_ids */

    struct queue *frameq;           /* decode -> detect */
    struct queue *resultq;          /* detect -> main */
    struct queue *displayq;         /* decode -> main (display_all); else NULL */

    pthread_t decode_tid, detect_tid;
    int decode_started, detect_started, finished;

    atomic_int stop;                /* STOP_* */
    atomic_llong decoded, detected, held, still, calls, discarded, seek_skipped;
    atomic_llong unconsumed_display, unconsumed_results;

    /* Requests for the decode thread (files): pause, steps, seeks. Under
     * ctl_lock; the decode thread waits on ctl_cond while paused. */
    pthread_mutex_t ctl_lock;
    pthread_cond_t ctl_cond;
    int ctl_init;
    int warmed;                     /* the detect thread's warm-up is over (ctl_lock) */
    int paused;
    int steps;                      /* frames it may read while paused */
    unsigned seek_req;              /* requests made (pipeline_seek) */
    double seek_t;                  /* the newest request's target, s */
    atomic_uint seek_applied;       /* requests the decode thread has applied */
    int64_t loops;                  /* decode thread only */

    /* Written by the decode thread only; read after it is joined. */
    struct {
        struct lat_hist decode_ms;
        double t_first, t_last;
        int interrupted, error;
    } dec;
    /* Written by the detect thread only; read after it is joined. */
    struct {
        struct lat_hist stage_ms[MODEL_STAGES];
        struct lat_hist c2r;
        double t_first, t_last;
        int error;
        int64_t errors;
    } det;
};

static int default_detect(void *ctx, const struct model_image *img,
                          struct model_detection *dets, int max, int *n,
                          struct model_timing *t)
{
    struct model *m = ctx;
    int r = model_detect(m, img, dets, max, n);
    const struct model_timing *mt = model_last_timing(m);
    if (mt)
        *t = *mt;
    return r;
}

static void notify(struct pipeline *p)
{
    if (p->c.notify)
        p->c.notify(p->c.notify_ctx);
}

/* Drop one hold on f; the last holder returns its frame to the pool (also
 * after an abort: video_pool_close() then finds every frame back). */
static void slot_release(struct pipeline *p, struct pipe_frame *f)
{
    int before = atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel);
    APP_ASSERT(before >= 1);
    if (before == 1)
        video_pool_put(p->pool, f->vf);
}

/* Decode thread, between frames: wait while paused (unless a step or seek
 * lets it go on) and carry out a seek request. at_end: the input has ended;
 * then it waits only while paused. Returns 1 to go on reading, 0 to end
 * (stopped, or at the end and not waiting for a seek). */
static int decode_control(struct pipeline *p, int at_end)
{
    int waited = 0;
    pthread_mutex_lock(&p->ctl_lock);
    for (;;) {
        if (atomic_load(&p->stop) != STOP_NONE) {
            pthread_mutex_unlock(&p->ctl_lock);
            return 0;
        }
        unsigned req = p->seek_req;
        if (req != atomic_load(&p->seek_applied)) {
            double t = p->seek_t;
            pthread_mutex_unlock(&p->ctl_lock);
            /* a failed seek was printed; the source is where it was */
            int r = video_seek(p->c.src, t);
            atomic_store(&p->seek_applied, req);
            if (r == VIDEO_INTERRUPTED)
                return 0;
            notify(p); /* the consumer may be waiting for the first new frame */
            return 1;
        }
        if (!p->paused)
            break;
        if (p->steps > 0 && !at_end) {
            p->steps--;
            break;
        }
        waited = 1;
        pthread_cond_wait(&p->ctl_cond, &p->ctl_lock);
    }
    pthread_mutex_unlock(&p->ctl_lock);
    if (waited)
        video_pace_reset(p->c.src);
    return !at_end;
}

static void *decode_main(void *arg)
{
    struct pipeline *p = arg;
    int64_t n = 0, since_start = 0;
    for (;;) {
        if (atomic_load(&p->stop) != STOP_NONE ||
            (p->c.max_frames > 0 && n >= p->c.max_frames)) {
            p->dec.interrupted = 1;
            break;
        }
        if (!decode_control(p, 0)) {
            p->dec.interrupted = 1;
            break;
        }
        struct video_frame *vf = video_pool_get_wait(p->pool);
        if (!vf) {
            p->dec.interrupted = 1; /* pool stopped: aborted */
            break;
        }
        struct pipe_frame *f = &p->slots[video_pool_index(p->pool, vf)];
        APP_ASSERT(f->vf == vf);
        unsigned gen = atomic_load(&p->seek_applied);
        int r = video_read(p->c.src, vf);
        if (r == VIDEO_EOF) {
            video_pool_put(p->pool, vf);
            /* paused at the end: a seek may still come */
            if (decode_control(p, 1))
                continue;
            if (atomic_load(&p->stop) != STOP_NONE) {
                p->dec.interrupted = 1;
                break;
            }
            if (atomic_load(&p->seek_applied) != gen)
                continue; /* sought away from the end */
            /* --loop: from the start again (a file with no frame at all
             * since the last restart would spin: end instead) */
            if (p->c.loop && since_start > 0 && video_seek(p->c.src, 0) == 0) {
                p->loops++;
                since_start = 0;
                continue;
            }
            break;
        }
        if (r != 0) {
            video_pool_put(p->pool, vf);
            if (r == VIDEO_INTERRUPTED || atomic_load(&p->stop) != STOP_NONE) {
                p->dec.interrupted = 1;
                break;
            }
            p->dec.error = r < 0 ? r : -EIO; /* video_read printed why */
            break;
        }
        lat_hist_add(&p->dec.decode_ms, f->vf->decode_time * 1e3);
        if (n == 0)
            p->dec.t_first = f->vf->capture_time;
        p->dec.t_last = f->vf->capture_time;
        n++;
        since_start++;
        atomic_store(&p->decoded, n);

        f->ndets = 0;
        f->tracked = 0;
        f->dets_kind = PIPE_DETS_NONE;
        f->dets_frame = -1;
        f->t_result = 0;
        f->detect_ms = 0;
        f->seek_gen = gen;
        atomic_store_explicit(&f->refs, p->displayq ? 2 : 1, memory_order_relaxed);
        void *ev = NULL;
        if (p->displayq) {
            if (queue_push(p->displayq, f, &ev) != 0) {
                atomic_fetch_add(&p->unconsumed_display, 1);
                slot_release(p, f);
            }
            if (ev)
                slot_release(p, ev);
            notify(p);
        }
        ev = NULL;
        if (queue_push(p->frameq, f, &ev) != 0) {
            atomic_fetch_add(&p->discarded, 1);
            slot_release(p, f);
        }
        if (ev)
            slot_release(p, ev); /* counted by the queue as dropped */
    }
    queue_close(p->frameq);
    if (p->displayq) {
        queue_close(p->displayq);
        notify(p);
    }
    return NULL;
}

/* The detect thread's warm-up (pipeline_config.warmup): the thread's own state
 * (oneDNN's primitives are made per thread, on first use) is made here rather
 * than on the first live frame, whose 40-50 ms would drop the next one. Then
 * pipeline_start lets the decode thread go. */
static void warm_up(struct pipeline *p, struct model_detection *dets)
{
    const struct video_info *info = video_source_info(p->c.src);
    size_t bytes = (size_t)info->width * info->height * 3;
    uint8_t *rgb = p->c.warmup > 0 && !p->c.detect ? malloc(bytes) : NULL;
    if (rgb) {
        for (size_t i = 0; i < bytes; i++) rgb[i] = (uint8_t)((i * 2654435761u) >> 24);
        struct model_image img = { rgb, info->width, info->height, 3 * info->width };
        int n;
        for (int i = 0; i < p->c.warmup && atomic_load(&p->stop) != STOP_ABORT; i++)
            model_detect(p->c.detect_ctx, &img, dets, p->c.max_dets, &n);
        free(rgb);
    }
    pthread_mutex_lock(&p->ctl_lock);
    p->warmed = 1;
    pthread_cond_broadcast(&p->ctl_cond);
    pthread_mutex_unlock(&p->ctl_lock);
}

static void *detect_main(void *arg)
{
    struct pipeline *p = arg;
    pipe_detect_fn detect = p->c.detect ? p->c.detect : default_detect;
    int max = p->c.max_dets, stride = p->c.stride > 1 ? p->c.stride : 1;
    struct model_detection *last = p->det_mem + (size_t)p->nslots * max;
    int nlast = 0, have_last = 0;
    int64_t last_frame = -1, seen = 0;
    double last_capture = 0;
    void *it;
    warm_up(p, last);
    while (queue_pop(p->frameq, &it) == 0) {
        struct pipe_frame *f = it;
        if (atomic_load(&p->stop) == STOP_ABORT) {
            atomic_fetch_add(&p->discarded, 1);
            slot_release(p, f);
            continue;
        }
        if (f->seek_gen != atomic_load(&p->seek_applied)) {
            /* decoded before a seek: nobody will show it */
            atomic_fetch_add(&p->seek_skipped, 1);
            slot_release(p, f);
            continue;
        }
        const struct video_frame *vf = f->vf;
        if (stride > 1 && seen++ % stride != 0 && have_last) {
            memcpy(f->dets, last, (size_t)nlast * sizeof *last);
            f->ndets = nlast;
            f->tracked = 0;
            f->dets_kind = PIPE_DETS_HELD;
            f->dets_frame = last_frame;
            f->dets_capture_time = last_capture;
            f->t_result = video_now();
            atomic_fetch_add(&p->held, 1);
        } else {
            struct model_timing t;
            memset(&t, 0, sizeof t);
            int n = 0, r;
            int64_t from = vf->index;
            double from_capture = vf->capture_time;
            if (p->c.gate) {
                r = gate_frame(p->c.gate, vf, detect, p->c.detect_ctx, f->dets, &n, &t, &from,
                               &from_capture);
            } else {
                struct model_image img = { vf->rgb, vf->width, vf->height, 3 * vf->width };
                r = detect(p->c.detect_ctx, &img, f->dets, max, &n, &t);
                if (r >= 0)
                    atomic_fetch_add(&p->calls, 1);
            }
            if (r == GATE_STILL || r == GATE_HELD) {
                /* the detector was not run: earlier boxes, unchanged or held */
                f->ndets = n;
                f->tracked = 0;
                f->dets_kind = r == GATE_STILL ? PIPE_DETS_STILL : PIPE_DETS_HELD;
                f->dets_frame = from;
                f->dets_capture_time = from_capture;
                f->t_result = video_now();
                atomic_fetch_add(r == GATE_STILL ? &p->still : &p->held, 1);
                goto push;
            }
            if (r < 0) {
                /* bad input the model refuses: fatal for the run. The
                 * detector printed why (pipe_detect_fn's contract, as
                 * model_detect does): counted here, not printed again. */
                p->det.errors++;
                if (!p->det.error)
                    p->det.error = r;
                atomic_fetch_add(&p->discarded, 1);
                slot_release(p, f);
                pipeline_stop(p, PIPE_STOP_ABORT);
                continue;
            }
            f->ndets = n < 0 ? 0 : n > max ? max : n;
            f->tracked = 0;
            f->dets_kind = PIPE_DETS_OWN;
            f->detect_ms = t.total;
            if (p->c.gate)
                atomic_store(&p->calls, gate_calls(p->c.gate));
            f->dets_frame = vf->index;
            f->dets_capture_time = vf->capture_time;
            f->t_result = video_now();
            for (int s = 0; s < MODEL_STAGES; s++)
                lat_hist_add(&p->det.stage_ms[s], model_stage_ms(&t, s));
            lat_hist_add(&p->det.c2r, (f->t_result - vf->capture_time) * 1e3);
            if (!p->det.t_first)
                p->det.t_first = f->t_result;
            p->det.t_last = f->t_result;
            atomic_fetch_add(&p->detected, 1);
            if (stride > 1) {
                memcpy(last, f->dets, (size_t)f->ndets * sizeof *last);
                nlast = f->ndets;
                last_frame = f->dets_frame;
                last_capture = f->dets_capture_time;
                have_last = 1;
            }
        }
    push:
        if (queue_push(p->resultq, f, NULL) != 0) {
            atomic_fetch_add(&p->unconsumed_results, 1);
            slot_release(p, f); /* consumer gone (finish): detected, not shown */
        }
        notify(p);
    }
    queue_close(p->resultq);
    notify(p);
    return NULL;
}

int pipeline_start(struct pipeline **out, const struct pipeline_config *c)
{
    *out = NULL;
    APP_ASSERT(c->src && c->max_dets >= 1);
    const struct video_info *info = video_source_info(c->src);
    struct pipeline *p = calloc(1, sizeof *p);
    if (!p) {
        app_error("pipeline: out of memory");
        return -ENOMEM;
    }
    p->c = *c;
    if (p->c.queue_len <= 0)
        p->c.queue_len = c->live ? 1 : 2;
    if (p->c.stride < 1)
        p->c.stride = 1;
    atomic_init(&p->stop, STOP_NONE);
    atomic_init(&p->decoded, 0);
    atomic_init(&p->detected, 0);
    atomic_init(&p->held, 0);
    atomic_init(&p->still, 0);
    atomic_init(&p->calls, 0);
    atomic_init(&p->discarded, 0);
    atomic_init(&p->seek_skipped, 0);
    atomic_init(&p->unconsumed_display, 0);
    atomic_init(&p->unconsumed_results, 0);
    atomic_init(&p->seek_applied, 0);
    if (pthread_mutex_init(&p->ctl_lock, NULL) != 0) {
        free(p);
        app_error("pipeline: cannot create a lock");
        return -ENOMEM;
    }
    if (pthread_cond_init(&p->ctl_cond, NULL) != 0) {
        pthread_mutex_destroy(&p->ctl_lock);
        free(p);
        app_error("pipeline: cannot create a condition variable");
        return -ENOMEM;
    }
    p->ctl_init = 1;
    lat_hist_init(&p->dec.decode_ms);
    for (int s = 0; s < MODEL_STAGES; s++)
        lat_hist_init(&p->det.stage_ms[s]);
    lat_hist_init(&p->det.c2r);

    /* Every place a frame can be at once, plus slack so the decoder does not
     * wait for the consumer's last release: frame queue, result queue,
     * display queue, one in each thread's hands, two on the main thread. */
    int rq = 2, dq = c->display_all ? 2 : 0;
    p->nslots = p->c.queue_len + rq + dq + 2 + 2 + 1;
    int r;
    if ((r = video_pool_open(&p->pool, p->nslots, info->width, info->height)) < 0)
        goto fail;
    p->slots = calloc((size_t)p->nslots, sizeof *p->slots);
    p->det_mem = calloc((size_t)(p->nslots + 1) * c->max_dets, sizeof *p->det_mem);
    p->id_mem = calloc((size_t)p->nslots * c->max_dets, sizeof *p->id_mem);
    if (!p->slots || !p->det_mem || !p->id_mem) {
        app_error("pipeline: out of memory");
        r = -ENOMEM;
        goto fail;
    }
    if ((r = queue_create(&p->frameq, p->c.queue_len,
                          c->live ? QUEUE_DROP_OLDEST : QUEUE_BLOCK)) < 0 ||
        (r = queue_create(&p->resultq, rq, QUEUE_BLOCK)) < 0 ||
        (c->display_all &&
         (r = queue_create(&p->displayq, dq, c->live ? QUEUE_DROP_OLDEST : QUEUE_BLOCK)) < 0))
        goto fail;
    /* slot i wraps pool frame i: take each frame once to learn its slot (the
     * pool is full and no thread runs yet), then give them all back */
    for (int i = 0; i < p->nslots; i++) {
        struct video_frame *vf = video_pool_get(p->pool);
        APP_ASSERT(vf != NULL);
        int k = video_pool_index(p->pool, vf);
        p->slots[k].vf = vf;
        p->slots[k].dets = p->det_mem + (size_t)k * c->max_dets;
        p->slots[k].track_ids = p->id_mem + (size_t)k * c->max_dets;
        atomic_init(&p->slots[k].refs, 0);
    }
    for (int i = 0; i < p->nslots; i++)
        video_pool_put(p->pool, p->slots[i].vf);
    if ((r = pthread_create(&p->detect_tid, NULL, detect_main, p)) != 0) {
        app_error("pipeline: cannot start the detect thread: %s", strerror(r));
        r = -r;
        goto fail;
    }
    p->detect_started = 1;
    pthread_mutex_lock(&p->ctl_lock);   /* the detect thread's warm-up first */
    while (!p->warmed) pthread_cond_wait(&p->ctl_cond, &p->ctl_lock);
    pthread_mutex_unlock(&p->ctl_lock);
    if ((r = pthread_create(&p->decode_tid, NULL, decode_main, p)) != 0) {
        app_error("pipeline: cannot start the decode thread: %s", strerror(r));
        r = -r;
        goto fail;
    }
    p->decode_started = 1;
    *out = p;
    return 0;
fail:
    pipeline_free(&p);
    return r < 0 ? r : -EIO;
}

enum pipe_item pipeline_next(struct pipeline *p, int timeout_ms, struct pipe_frame **f)
{
    void *it = NULL;
    *f = NULL;
    if (!p->displayq) {
        int r = queue_pop_timed(p->resultq, &it, timeout_ms);
        if (r == QUEUE_CLOSED)
            return PIPE_END;
        if (r != 0)
            return PIPE_NONE;
        *f = it;
        return PIPE_RESULT;
    }
    APP_ASSERT(timeout_ms == 0);
    int rr = queue_pop_timed(p->resultq, &it, 0);
    if (rr == 0) {
        *f = it;
        return PIPE_RESULT;
    }
    int rd = queue_pop_timed(p->displayq, &it, 0);
    if (rd == 0) {
        *f = it;
        return PIPE_DISPLAY;
    }
    return rr == QUEUE_CLOSED && rd == QUEUE_CLOSED ? PIPE_END : PIPE_NONE;
}

enum pipe_item pipeline_next_result(struct pipeline *p, struct pipe_frame **f)
{
    void *it = NULL;
    *f = NULL;
    if (queue_pop_timed(p->resultq, &it, 0) != 0)
        return PIPE_NONE;
    *f = it;
    return PIPE_RESULT;
}

void pipeline_pause(struct pipeline *p, int paused)
{
    pthread_mutex_lock(&p->ctl_lock);
    p->paused = paused;
    p->steps = 0;
    pthread_cond_broadcast(&p->ctl_cond);
    pthread_mutex_unlock(&p->ctl_lock);
}

void pipeline_step(struct pipeline *p)
{
    pthread_mutex_lock(&p->ctl_lock);
    if (p->paused)
        p->steps++;
    pthread_cond_broadcast(&p->ctl_cond);
    pthread_mutex_unlock(&p->ctl_lock);
}

unsigned pipeline_seek(struct pipeline *p, double t)
{
    pthread_mutex_lock(&p->ctl_lock);
    unsigned gen = ++p->seek_req;
    p->seek_t = t;
    pthread_cond_broadcast(&p->ctl_cond);
    pthread_mutex_unlock(&p->ctl_lock);
    return gen;
}

void pipeline_release(struct pipeline *p, struct pipe_frame *f)
{
    if (f)
        slot_release(p, f);
}

void pipeline_stop(struct pipeline *p, enum pipe_stop how)
{
    int want = how == PIPE_STOP_ABORT ? STOP_ABORT : STOP_DRAIN;
    int cur = atomic_load(&p->stop);
    while (cur < want && !atomic_compare_exchange_weak(&p->stop, &cur, want))
        ;
    video_interrupt(p->c.src);
    if (p->ctl_init) { /* a paused decode thread sees the stop */
        pthread_mutex_lock(&p->ctl_lock);
        pthread_cond_broadcast(&p->ctl_cond);
        pthread_mutex_unlock(&p->ctl_lock);
    }
    if (want == STOP_ABORT) {
        video_pool_stop(p->pool);
        queue_close(p->frameq);
    }
}

int64_t pipeline_decoded(struct pipeline *p)
{
    return atomic_load(&p->decoded);
}

int64_t pipeline_detected(struct pipeline *p)
{
    return atomic_load(&p->detected);
}

int64_t pipeline_held(struct pipeline *p)
{
    return atomic_load(&p->held);
}

int64_t pipeline_calls(struct pipeline *p)
{
    return atomic_load(&p->calls);
}

int pipeline_frame_queue_depth(struct pipeline *p)
{
    struct queue_counts qc;
    queue_stats(p->frameq, &qc);
    return qc.depth;
}

int64_t pipeline_still(struct pipeline *p)
{
    return atomic_load(&p->still);
}

int64_t pipeline_dropped(struct pipeline *p)
{
    struct queue_counts qc;
    queue_stats(p->frameq, &qc);
    return (int64_t)qc.dropped + atomic_load(&p->discarded);
}

/* Release whatever is still queued for the consumer (after the close). */
static void drain_consumer_side(struct pipeline *p)
{
    void *it;
    while (p->resultq && queue_pop_timed(p->resultq, &it, 0) == 0) {
        atomic_fetch_add(&p->unconsumed_results, 1);
        slot_release(p, it);
    }
    if (p->displayq)
        while (queue_pop_timed(p->displayq, &it, 0) == 0) {
            atomic_fetch_add(&p->unconsumed_display, 1);
            slot_release(p, it);
        }
}

int pipeline_finish(struct pipeline *p, struct pipeline_stats *st)
{
    if (!p->finished) {
        p->finished = 1;
        if (p->decode_started || p->detect_started) {
            pipeline_stop(p, PIPE_STOP_ABORT);
            queue_close(p->resultq);
            queue_close(p->displayq);
            drain_consumer_side(p);
        }
        if (p->decode_started)
            pthread_join(p->decode_tid, NULL);
        if (p->detect_started)
            pthread_join(p->detect_tid, NULL);
        if (p->resultq)
            drain_consumer_side(p);
        for (int i = 0; p->slots && i < p->nslots; i++)
            APP_ASSERT(atomic_load(&p->slots[i].refs) == 0); /* consumer released all */
    }
    if (!st)
        return p->dec.error ? p->dec.error : p->det.error;
    memset(st, 0, sizeof *st);
    struct queue_counts fq;
    queue_stats(p->frameq, &fq);
    st->decoded = atomic_load(&p->decoded);
    st->detected = atomic_load(&p->detected);
    st->held = atomic_load(&p->held);
    st->still = atomic_load(&p->still);
    st->calls = atomic_load(&p->calls);
    st->discarded = atomic_load(&p->discarded);
    st->dropped = (int64_t)fq.dropped + st->discarded;
    if (p->displayq) {
        struct queue_counts dq;
        queue_stats(p->displayq, &dq);
        st->display_dropped = (int64_t)dq.dropped;
    }
    st->detect_errors = p->det.errors;
    st->seek_skipped = atomic_load(&p->seek_skipped);
    st->loops = p->loops;
    st->unconsumed_display = atomic_load(&p->unconsumed_display);
    st->unconsumed_results = atomic_load(&p->unconsumed_results);
    st->t_first_capture = p->dec.t_first;
    st->t_last_capture = p->dec.t_last;
    st->t_first_result = p->det.t_first;
    st->t_last_result = p->det.t_last;
    st->queue_len = p->c.queue_len;
    st->frame_queue_peak = fq.peak;
    st->live = p->c.live;
    st->display_all = p->c.display_all;
    st->interrupted = p->dec.interrupted;
    st->error = p->dec.error ? p->dec.error : p->det.error;
    st->decode_ms = p->dec.decode_ms;
    for (int s = 0; s < MODEL_STAGES; s++)
        st->stage_ms[s] = p->det.stage_ms[s];
    st->capture_to_result = p->det.c2r;
    return st->error;
}

void pipeline_free(struct pipeline **pp)
{
    struct pipeline *p = pp ? *pp : NULL;
    if (!p)
        return;
    pipeline_finish(p, NULL);
    video_pool_close(&p->pool); /* asserts every frame came back */
    queue_free(&p->frameq);
    queue_free(&p->resultq);
    queue_free(&p->displayq);
    free(p->slots);
    free(p->det_mem);
    free(p->id_mem);
    if (p->ctl_init) {
        pthread_cond_destroy(&p->ctl_cond);
        pthread_mutex_destroy(&p->ctl_lock);
    }
    free(p);
    *pp = NULL;
}
