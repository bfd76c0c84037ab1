/*
 * test_queue.c — app/queue.c: FIFO order, the two policies (back-pressure and
 * drop-oldest) and their counts, close waking blocked pushers and poppers,
 * timed pops, and a multi-producer / multi-consumer stress in which every item
 * must come out exactly once (popped or evicted). Run it under ThreadSanitizer
 * with `make tsan && build-tsan/tests/test_queue`.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../app/queue.h"
#include "check.h"

#define ITEM(i) ((void *)(uintptr_t)(i))
#define VAL(p) ((int)(uintptr_t)(p))

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
    struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&t, NULL);
}

static void test_fifo(void)
{
    struct queue *q = NULL;
    CHECK(queue_create(&q, 0, QUEUE_BLOCK) < 0 && !q, "capacity 0 refused");
    CHECK(queue_create(&q, 4, QUEUE_BLOCK) == 0 && q, "create");
    void *it;
    int ok = 1;
    for (int round = 0; round < 3; round++) { /* wraps around the ring */
        for (int i = 1; i <= 4; i++)
            ok &= queue_push(q, ITEM(round * 10 + i), NULL) == 0;
        CHECK(queue_depth(q) == 4, "depth 4, got %d", queue_depth(q));
        CHECK(queue_pop_timed(q, &it, 0) == 0 && VAL(it) == round * 10 + 1, "first out");
        ok &= queue_push(q, ITEM(round * 10 + 5), NULL) == 0;
        for (int i = 2; i <= 5; i++) {
            int r = queue_pop(q, &it);
            CHECK(r == 0 && VAL(it) == round * 10 + i, "FIFO: want %d, got %d (r=%d)",
                  round * 10 + i, VAL(it), r);
        }
    }
    CHECK(ok, "pushes succeeded");
    CHECK(queue_pop_timed(q, &it, 0) == QUEUE_TIMEOUT && it == NULL, "empty: timeout at once");
    double t0 = now_ms();
    CHECK(queue_pop_timed(q, &it, 50) == QUEUE_TIMEOUT, "timed pop times out");
    double dt = now_ms() - t0;
    CHECK(dt >= 45 && dt < 1000, "timed pop waited %.1f ms (want ~50)", dt);
    struct queue_counts c;
    queue_stats(q, &c);
    CHECK(c.pushed == 15 && c.popped == 15 && c.dropped == 0 && c.depth == 0 && c.peak == 4 &&
          c.capacity == 4, "counts %llu/%llu/%llu depth %d peak %d",
          (unsigned long long)c.pushed, (unsigned long long)c.popped,
          (unsigned long long)c.dropped, c.depth, c.peak);
    queue_free(&q);
    CHECK(q == NULL, "free nulls the pointer");
    queue_free(&q); /* twice is fine */
    queue_free(NULL);
}

static void test_drop_oldest(void)
{
    struct queue *q = NULL;
    CHECK(queue_create(&q, 3, QUEUE_DROP_OLDEST) == 0, "create");
    void *ev = ITEM(99), *it;
    for (int i = 1; i <= 3; i++) {
        CHECK(queue_push(q, ITEM(i), &ev) == 0 && ev == NULL, "push %d evicts nothing", i);
    }
    CHECK(queue_push(q, ITEM(4), &ev) == 0 && VAL(ev) == 1, "push 4 evicts 1, got %d", VAL(ev));
    CHECK(queue_push(q, ITEM(5), &ev) == 0 && VAL(ev) == 2, "push 5 evicts 2, got %d", VAL(ev));
    for (int i = 3; i <= 5; i++)
        CHECK(queue_pop(q, &it) == 0 && VAL(it) == i, "newest kept in order: want %d got %d", i,
              VAL(it));
    struct queue_counts c;
    queue_stats(q, &c);
    CHECK(c.pushed == 5 && c.popped == 3 && c.dropped == 2, "5 pushed = 3 popped + 2 dropped");
    /* capacity 1: a latest-frame slot */
    struct queue *one = NULL;
    CHECK(queue_create(&one, 1, QUEUE_DROP_OLDEST) == 0, "create 1");
    int evicted = 0;
    for (int i = 1; i <= 100; i++) {
        queue_push(one, ITEM(i), &ev);
        evicted += ev != NULL;
    }
    CHECK(queue_pop(one, &it) == 0 && VAL(it) == 100 && evicted == 99, "latest only");
    queue_close(q);
    CHECK(queue_push(q, ITEM(6), &ev) == QUEUE_CLOSED && ev == NULL, "push after close refused");
    queue_free(&q);
    queue_free(&one);
}

struct blocker {
    struct queue *q;
    atomic_int done;   /* 1 when the call returned */
    int result;        /* written by the thread; read after join */
    void *item;
};

static void *push_thread(void *arg)
{
    struct blocker *b = arg;
    b->result = queue_push(b->q, ITEM(7), NULL);
    atomic_store(&b->done, 1);
    return NULL;
}

static void *pop_thread(void *arg)
{
    struct blocker *b = arg;
    b->result = queue_pop(b->q, &b->item);
    atomic_store(&b->done, 1);
    return NULL;
}

static void test_block_and_close(void)
{
    struct queue *q = NULL;
    void *it;
    pthread_t t;

    /* back-pressure: a push on a full queue waits until a pop makes room */
    CHECK(queue_create(&q, 2, QUEUE_BLOCK) == 0, "create");
    queue_push(q, ITEM(1), NULL);
    queue_push(q, ITEM(2), NULL);
    struct blocker b = { .q = q };
    atomic_init(&b.done, 0);
    pthread_create(&t, NULL, push_thread, &b);
    sleep_ms(100);
    CHECK(atomic_load(&b.done) == 0, "push blocks while full");
    CHECK(queue_pop(q, &it) == 0 && VAL(it) == 1, "pop 1");
    pthread_join(t, NULL);
    CHECK(b.result == 0, "blocked push completed after a pop");
    CHECK(queue_pop(q, &it) == 0 && VAL(it) == 2 && queue_pop(q, &it) == 0 && VAL(it) == 7,
          "order kept across the wait");

    /* close wakes a blocked pusher, which keeps its item */
    queue_push(q, ITEM(1), NULL);
    queue_push(q, ITEM(2), NULL);
    atomic_store(&b.done, 0);
    pthread_create(&t, NULL, push_thread, &b);
    sleep_ms(50);
    double t0 = now_ms();
    queue_close(q);
    pthread_join(t, NULL);
    CHECK(b.result == QUEUE_CLOSED, "close wakes a blocked push with QUEUE_CLOSED");
    CHECK(now_ms() - t0 < 500, "woken promptly");
    /* pops drain what was queued before the close, then report closed */
    CHECK(queue_pop(q, &it) == 0 && VAL(it) == 1, "drain 1");
    CHECK(queue_pop(q, &it) == 0 && VAL(it) == 2, "drain 2");
    CHECK(queue_pop(q, &it) == QUEUE_CLOSED && it == NULL, "then closed");
    CHECK(queue_pop_timed(q, &it, 1000) == QUEUE_CLOSED, "timed pop on closed+empty: at once");
    queue_close(q); /* idempotent */
    queue_free(&q);

    /* close wakes blocked poppers (several) */
    CHECK(queue_create(&q, 2, QUEUE_DROP_OLDEST) == 0, "create");
    struct blocker pb[3];
    pthread_t pt[3];
    for (int i = 0; i < 3; i++) {
        pb[i] = (struct blocker){ .q = q };
        atomic_init(&pb[i].done, 0);
        pthread_create(&pt[i], NULL, pop_thread, &pb[i]);
    }
    sleep_ms(50);
    int waiting = 0;
    for (int i = 0; i < 3; i++)
        waiting += atomic_load(&pb[i].done) == 0;
    CHECK(waiting == 3, "pops wait on an empty queue");
    queue_close(q);
    for (int i = 0; i < 3; i++) {
        pthread_join(pt[i], NULL);
        CHECK(pb[i].result == QUEUE_CLOSED && pb[i].item == NULL, "close wakes popper %d", i);
    }
    queue_free(&q);
}

/* ---- stress: P producers, C consumers, every item accounted once ---------- */

#define NPROD 4
#define NCONS 3
#define PER_PROD 50000

struct stress {
    struct queue *q;
    int id;
    atomic_uchar *seen;          /* per item: times it came out */
    atomic_llong *sum_out;       /* sum of values out (popped or evicted) */
    long long popped, evicted;   /* this thread's counts; read after join */
    int order_ok;                /* per-producer FIFO seen by this consumer */
};

static void account(struct stress *s, void *it)
{
    int v = VAL(it) - 1;
    atomic_fetch_add(&s->seen[v], 1);
    atomic_fetch_add(s->sum_out, v + 1);
}

static void *stress_producer(void *arg)
{
    struct stress *s = arg;
    for (int i = 0; i < PER_PROD; i++) {
        void *ev = NULL;
        int v = s->id * PER_PROD + i + 1;
        if (queue_push(s->q, ITEM(v), &ev) != 0)
            account(s, ITEM(v)); /* refused: still ours, count it out */
        if (ev) {
            account(s, ev);
            s->evicted++;
        }
    }
    return NULL;
}

static void *stress_consumer(void *arg)
{
    struct stress *s = arg;
    int last[NPROD];
    for (int p = 0; p < NPROD; p++)
        last[p] = -1;
    s->order_ok = 1;
    void *it;
    while (queue_pop(s->q, &it) == 0) {
        int v = VAL(it) - 1, p = v / PER_PROD, i = v % PER_PROD;
        if (i <= last[p])
            s->order_ok = 0; /* one producer's items must come out in order */
        last[p] = i;
        account(s, it);
        s->popped++;
    }
    return NULL;
}

static void stress(enum queue_policy policy, int capacity)
{
    const int n = NPROD * PER_PROD;
    atomic_uchar *seen = calloc((size_t)n, sizeof *seen);
    atomic_llong sum_out;
    atomic_init(&sum_out, 0);
    struct queue *q = NULL;
    CHECK(seen && queue_create(&q, capacity, policy) == 0, "stress setup");
    struct stress ps[NPROD], cs[NCONS];
    pthread_t pt[NPROD], ct[NCONS];
    for (int c = 0; c < NCONS; c++) {
        cs[c] = (struct stress){ .q = q, .id = c, .seen = seen, .sum_out = &sum_out };
        pthread_create(&ct[c], NULL, stress_consumer, &cs[c]);
    }
    for (int p = 0; p < NPROD; p++) {
        ps[p] = (struct stress){ .q = q, .id = p, .seen = seen, .sum_out = &sum_out };
        pthread_create(&pt[p], NULL, stress_producer, &ps[p]);
    }
    for (int p = 0; p < NPROD; p++)
        pthread_join(pt[p], NULL);
    queue_close(q);
    for (int c = 0; c < NCONS; c++)
        pthread_join(ct[c], NULL);

    long long popped = 0, evicted = 0;
    int order_ok = 1;
    for (int c = 0; c < NCONS; c++) {
        popped += cs[c].popped;
        order_ok &= cs[c].order_ok;
    }
    for (int p = 0; p < NPROD; p++)
        evicted += ps[p].evicted;
    int once = 1;
    for (int i = 0; i < n; i++)
        once &= atomic_load(&seen[i]) == 1;
    long long want_sum = (long long)n * (n + 1) / 2;
    struct queue_counts qc;
    queue_stats(q, &qc);
    const char *name = policy == QUEUE_BLOCK ? "block" : "drop-oldest";
    CHECK(once, "%s: every item out exactly once", name);
    CHECK(atomic_load(&sum_out) == want_sum, "%s: sum out", name);
    CHECK(order_ok, "%s: per-producer FIFO order", name);
    CHECK(popped + evicted == n, "%s: popped %lld + evicted %lld == %d", name, popped, evicted, n);
    CHECK((long long)qc.popped == popped && (long long)qc.dropped == evicted &&
          qc.pushed == (uint64_t)n && qc.depth == 0,
          "%s: counters pushed %llu popped %llu dropped %llu", name,
          (unsigned long long)qc.pushed, (unsigned long long)qc.popped,
          (unsigned long long)qc.dropped);
    if (policy == QUEUE_BLOCK)
        CHECK(evicted == 0 && popped == n, "block: nothing dropped");
    CHECK(qc.peak <= capacity, "%s: peak %d <= capacity %d", name, qc.peak, capacity);
    queue_free(&q);
    free(seen);
}

int main(void)
{
    test_fifo();
    test_drop_oldest();
    test_block_and_close();
    stress(QUEUE_BLOCK, 8);
    stress(QUEUE_BLOCK, 1);
    stress(QUEUE_DROP_OLDEST, 4);
    stress(QUEUE_DROP_OLDEST, 1);
    return check_summary("test_queue");
}
