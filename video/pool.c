/*
 * pool.c — the fixed frame pool: every frame and its RGB buffer allocated once
 * by video_pool_open(); get/put move pointers under one mutex, with a
 * condition variable for the waiting get and a stop that wakes every waiter.
 */
#include "video.h"
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct video_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;      /* signalled by put and stop */
    int count;                 /* frames owned */
    int nfree;                 /* entries of free_list in use */
    int stopped;
    struct video_frame *frames; /* count frames */
    struct video_frame **free_list;
    uint8_t *is_free;          /* per frame, catches double put */
    uint8_t *pixels;           /* one block: count buffers, each 64-byte aligned */
};

int video_pool_open(struct video_pool **out, int count, int width, int height)
{
    *out = NULL;
    if (count < 1 || width < 1 || height < 1 || (int64_t)width * height > (int64_t)16384 * 16384) {
        fprintf(stderr, "video: frame pool of %d frames of %dx%d: invalid size\n", count, width,
                height);
        return AVERROR(EINVAL);
    }
    size_t frame_bytes = ((size_t)width * height * 3 + 63) & ~(size_t)63;
    struct video_pool *p = calloc(1, sizeof *p);
    if (!p)
        goto nomem;
    p->count = count;
    p->frames = calloc(count, sizeof *p->frames);
    p->free_list = calloc(count, sizeof *p->free_list);
    p->is_free = calloc(count, 1);
    p->pixels = aligned_alloc(64, frame_bytes * count);
    if (!p->frames || !p->free_list || !p->is_free || !p->pixels)
        goto nomem;
    memset(p->pixels, 0, frame_bytes * count); /* touch now, not in the first frames */
    for (int i = 0; i < count; i++) {
        struct video_frame *f = &p->frames[i];
        f->rgb = p->pixels + frame_bytes * i;
        f->width = width;
        f->height = height;
        f->pts = VIDEO_NOPTS;
        p->free_list[i] = &p->frames[count - 1 - i]; /* hand out frame 0 first */
        p->is_free[i] = 1;
    }
    p->nfree = count;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    *out = p;
    return 0;

nomem:
    if (p) {
        free(p->frames);
        free(p->free_list);
        free(p->is_free);
        free(p->pixels);
        free(p);
    }
    fprintf(stderr, "video: frame pool of %d frames of %dx%d: out of memory\n", count, width,
            height);
    return AVERROR(ENOMEM);
}

static struct video_frame *take(struct video_pool *p)
{
    struct video_frame *f = p->free_list[--p->nfree];
    p->is_free[f - p->frames] = 0;
    return f;
}

struct video_frame *video_pool_get(struct video_pool *p)
{
    pthread_mutex_lock(&p->lock);
    struct video_frame *f = p->nfree > 0 ? take(p) : NULL;
    pthread_mutex_unlock(&p->lock);
    return f;
}

struct video_frame *video_pool_get_wait(struct video_pool *p)
{
    pthread_mutex_lock(&p->lock);
    while (!p->stopped && p->nfree == 0)
        pthread_cond_wait(&p->freed, &p->lock);
    struct video_frame *f = p->stopped ? NULL : take(p);
    pthread_mutex_unlock(&p->lock);
    return f;
}

void video_pool_put(struct video_pool *p, struct video_frame *f)
{
    VIDEO_ASSERT(f >= p->frames && f < p->frames + p->count);
    pthread_mutex_lock(&p->lock);
    VIDEO_ASSERT(!p->is_free[f - p->frames]); /* put twice */
    p->is_free[f - p->frames] = 1;
    p->free_list[p->nfree++] = f;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

void video_pool_stop(struct video_pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->stopped = 1;
    pthread_cond_broadcast(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

int video_pool_free_count(struct video_pool *p)
{
    pthread_mutex_lock(&p->lock);
    int n = p->nfree;
    pthread_mutex_unlock(&p->lock);
    return n;
}

int video_pool_index(const struct video_pool *p, const struct video_frame *f)
{
    VIDEO_ASSERT(f >= p->frames && f < p->frames + p->count);
    return (int)(f - p->frames);
}

void video_pool_close(struct video_pool **pp)
{
    struct video_pool *p = pp ? *pp : NULL;
    if (!p)
        return;
    VIDEO_ASSERT(p->nfree == p->count); /* a frame still out would dangle */
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->lock);
    free(p->frames);
    free(p->free_list);
    free(p->is_free);
    free(p->pixels);
    free(p);
    *pp = NULL;
}
