/*
 * test_frame_pool.c — video/pool.c as the pipeline's one free list, with the
 * pipeline's own composition (pool → queue → consumer → pool) and no media,
 * so it runs under ThreadSanitizer (Makefile TSAN_TESTS):
 *
 *   - get/put/index: every frame handed out once, index fixed and distinct,
 *     buffers aligned and distinct;
 *   - contention: threads mixing get and get_wait never share a frame;
 *   - back-pressure: a producer waiting on an empty pool wakes when a frame
 *     comes back, and only then;
 *   - drop-oldest: a fast producer into a DROP_OLDEST queue and a slow
 *     consumer; evicted frames go back to the pool; produced = consumed +
 *     evicted exactly; no frame leaks (the pool is full at the end);
 *   - block: the same with QUEUE_BLOCK: nothing evicted, every frame in order;
 *   - shutdown: video_pool_stop() wakes a waiting producer with NULL, and
 *     frames put back after the stop are still accepted (close finds all).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "../app/app.h"
#include "../app/queue.h"
#include "../video/video.h"
#include "check.h"

#define NFRAMES 4

static void sleep_ms(double ms)
{
    struct timespec t = { (time_t)(ms / 1e3), (long)((ms - (time_t)(ms / 1e3) * 1e3) * 1e6) };
    while (nanosleep(&t, &t) != 0)
        ;
}

static void test_basic(void)
{
    struct video_pool *p = NULL;
    CHECK(video_pool_open(&p, 0, 8, 8) < 0 && !p, "a pool of 0 frames is refused");
    CHECK(video_pool_open(&p, NFRAMES, 8, 4) == 0, "open");
    struct video_frame *f[NFRAMES];
    int seen[NFRAMES] = { 0 };
    for (int i = 0; i < NFRAMES; i++) {
        f[i] = video_pool_get(p);
        CHECK(f[i] != NULL, "frame %d", i);
        if (!f[i])
            return;
        int k = video_pool_index(p, f[i]);
        CHECK(k >= 0 && k < NFRAMES && !seen[k], "index %d distinct and in range", k);
        if (k >= 0 && k < NFRAMES)
            seen[k] = 1;
    }
    CHECK(!video_pool_get(p) && video_pool_free_count(p) == 0, "empty after %d", NFRAMES);
    int k2 = video_pool_index(p, f[2]);
    video_pool_put(p, f[2]);
    struct video_frame *g = video_pool_get(p);
    CHECK(g == f[2] && video_pool_index(p, g) == k2, "the same frame comes back, same index");
    for (int i = 0; i < NFRAMES; i++)
        video_pool_put(p, f[i]);
    CHECK(video_pool_free_count(p) == NFRAMES, "all back");
    video_pool_close(&p);
    CHECK(p == NULL, "closed");
}

/* ---- contention ---- */

#define POOL_THREADS 4
#define POOL_ROUNDS 20000

static struct video_pool *tpool;

static void *pool_worker(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    long bad = 0;
    for (int i = 0; i < POOL_ROUNDS; i++) {
        struct video_frame *f = (i & 1) ? video_pool_get_wait(tpool) : video_pool_get(tpool);
        if (!f)
            continue;
        f->index = (int64_t)id; /* owner mark: nobody else may hold it now */
        f->rgb[0] = (uint8_t)id;
        if (f->index != (int64_t)id || f->rgb[0] != (uint8_t)id)
            bad++;
        video_pool_put(tpool, f);
    }
    return (void *)bad;
}

static void test_contention(void)
{
    CHECK(video_pool_open(&tpool, 3, 32, 16) == 0, "pool open");
    struct video_frame *a = video_pool_get(tpool), *b = video_pool_get(tpool),
                       *c = video_pool_get(tpool);
    CHECK(a && b && c && !video_pool_get(tpool), "three frames, then empty");
    if (!a || !b || !c)
        return;
    CHECK(((uintptr_t)a->rgb & 63) == 0 && a->width == 32 && a->height == 16, "aligned frames");
    CHECK(a->rgb != b->rgb && b->rgb != c->rgb, "distinct buffers");
    video_pool_put(tpool, a);
    video_pool_put(tpool, b);
    video_pool_put(tpool, c);
    pthread_t t[POOL_THREADS];
    for (uintptr_t i = 0; i < POOL_THREADS; i++)
        pthread_create(&t[i], NULL, pool_worker, (void *)(i + 1));
    long bad = 0;
    for (int i = 0; i < POOL_THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    CHECK(bad == 0 && video_pool_free_count(tpool) == 3, "contention: %ld bad, %d free", bad,
          video_pool_free_count(tpool));
    video_pool_close(&tpool);
}

/* ---- a waiting producer ---- */

struct waiter {
    struct video_pool *pool;
    struct video_frame *got;
    atomic_int done;
};

static void *wait_main(void *arg)
{
    struct waiter *w = arg;
    w->got = video_pool_get_wait(w->pool);
    atomic_store(&w->done, 1);
    return NULL;
}

static void test_backpressure_and_stop(void)
{
    struct video_pool *p = NULL;
    CHECK(video_pool_open(&p, 2, 8, 4) == 0, "open");
    struct video_frame *a = video_pool_get(p), *b = video_pool_get(p);
    struct waiter w = { p, NULL, 0 };
    pthread_t t;
    pthread_create(&t, NULL, wait_main, &w);
    sleep_ms(30);
    CHECK(!atomic_load(&w.done), "a producer waits while every frame is out");
    video_pool_put(p, b);
    pthread_join(t, NULL);
    CHECK(w.got == b, "it wakes with the frame put back");

    /* shutdown: a waiter on the empty pool gets NULL, promptly */
    struct waiter w2 = { p, (struct video_frame *)1, 0 };
    pthread_create(&t, NULL, wait_main, &w2);
    sleep_ms(20);
    CHECK(!atomic_load(&w2.done), "second waiter waits");
    video_pool_stop(p);
    pthread_join(t, NULL);
    CHECK(w2.got == NULL, "stop wakes it with NULL");
    CHECK(video_pool_get_wait(p) == NULL, "and every later wait");
    /* frames still out after the stop come back normally */
    video_pool_put(p, a);
    video_pool_put(p, w.got);
    CHECK(video_pool_free_count(p) == 2, "puts after stop accepted");
    video_pool_close(&p); /* asserts all back */
}

/* ---- pool -> queue -> consumer -> pool, as pipeline.c runs it ---- */

struct flow {
    struct video_pool *pool;
    struct queue *q;
    int n;                 /* frames to produce */
    double consume_ms;     /* consumer's time per frame */
    int64_t produced, evicted, consumed, in_order, stopped_early;
    int64_t last_index;
};

static void *producer_main(void *arg)
{
    struct flow *fl = arg;
    for (int i = 0; i < fl->n; i++) {
        struct video_frame *f = video_pool_get_wait(fl->pool);
        if (!f) {
            fl->stopped_early = 1;
            break;
        }
        f->index = i;
        memset(f->rgb, i & 0xff, (size_t)f->width * f->height * 3);
        void *ev = NULL;
        if (queue_push(fl->q, f, &ev) != 0) {
            video_pool_put(fl->pool, f);
            break;
        }
        fl->produced++;
        if (ev) {
            video_pool_put(fl->pool, ev); /* the evicted frame goes back */
            fl->evicted++;
        }
    }
    queue_close(fl->q);
    return NULL;
}

static void run_flow(struct flow *fl, enum queue_policy pol, int qlen)
{
    CHECK(video_pool_open(&fl->pool, NFRAMES, 16, 8) == 0, "open");
    CHECK(queue_create(&fl->q, qlen, pol) == 0, "queue");
    fl->in_order = 1;
    fl->last_index = -1;
    pthread_t t;
    pthread_create(&t, NULL, producer_main, fl);
    void *it;
    while (queue_pop(fl->q, &it) == 0) {
        struct video_frame *f = it;
        int ok = f->rgb[0] == (uint8_t)(f->index & 0xff) &&
                 f->rgb[(size_t)f->width * f->height * 3 - 1] == (uint8_t)(f->index & 0xff);
        CHECK(ok, "frame %lld's pixels are its own", (long long)f->index);
        fl->in_order &= f->index > fl->last_index;
        if (pol == QUEUE_BLOCK)
            fl->in_order &= f->index == fl->last_index + 1;
        fl->last_index = f->index;
        if (fl->consume_ms > 0)
            sleep_ms(fl->consume_ms);
        fl->consumed++;
        video_pool_put(fl->pool, f);
    }
    pthread_join(t, NULL);
    struct queue_counts qc;
    queue_stats(fl->q, &qc);
    CHECK((int64_t)qc.dropped == fl->evicted, "queue counted %llu drops, producer %lld",
          (unsigned long long)qc.dropped, (long long)fl->evicted);
    CHECK(video_pool_free_count(fl->pool) == NFRAMES, "every frame back (%d free)",
          video_pool_free_count(fl->pool));
    queue_free(&fl->q);
    video_pool_close(&fl->pool);
}

static void test_drop_oldest(void)
{
    struct flow fl = { .n = 400, .consume_ms = 0.5 };
    run_flow(&fl, QUEUE_DROP_OLDEST, 1);
    CHECK(fl.produced == fl.n && fl.produced == fl.consumed + fl.evicted,
          "drop-oldest: %lld produced = %lld consumed + %lld evicted", (long long)fl.produced,
          (long long)fl.consumed, (long long)fl.evicted);
    CHECK(fl.evicted > 0, "a slow consumer makes the live queue drop (%lld)",
          (long long)fl.evicted);
    CHECK(fl.in_order && fl.last_index == fl.n - 1, "newest frame last, order kept");
}

static void test_block(void)
{
    struct flow fl = { .n = 200, .consume_ms = 0.2 };
    run_flow(&fl, QUEUE_BLOCK, 2);
    CHECK(fl.produced == fl.n && fl.consumed == fl.n && fl.evicted == 0,
          "block: %lld produced, %lld consumed, nothing evicted", (long long)fl.produced,
          (long long)fl.consumed);
    CHECK(fl.in_order, "block: every frame, in order");
}

/* stop while the producer waits for a frame the consumer holds */
static void test_stop_in_flight(void)
{
    struct flow fl = { .n = 1000 };
    CHECK(video_pool_open(&fl.pool, 2, 16, 8) == 0, "open");
    CHECK(queue_create(&fl.q, 1, QUEUE_BLOCK) == 0, "queue");
    pthread_t t;
    pthread_create(&t, NULL, producer_main, &fl);
    void *held[2];
    int nheld = 0;
    while (nheld < 2 && queue_pop(fl.q, &held[nheld]) == 0)
        nheld++; /* the consumer keeps both frames: the producer waits on the pool */
    sleep_ms(20);
    video_pool_stop(fl.pool);
    pthread_join(t, NULL);
    CHECK(fl.stopped_early && nheld == 2, "stop ends a producer waiting for a frame");
    for (int i = 0; i < nheld; i++)
        video_pool_put(fl.pool, held[i]);
    void *it;
    while (queue_pop(fl.q, &it) == 0)
        video_pool_put(fl.pool, it);
    CHECK(video_pool_free_count(fl.pool) == 2, "all frames back after the stop");
    queue_free(&fl.q);
    video_pool_close(&fl.pool);
}

int main(void)
{
    test_basic();
    test_contention();
    test_backpressure_and_stop();
    test_drop_oldest();
    test_block();
    test_stop_in_flight();
    return check_summary("test_frame_pool");
}
