/*
 * queue.c — the bounded queue of pointers that joins the pipeline's threads
 * (pipeline.h), after FFmpeg's fftools/thread_queue.c and ffplay's PacketQueue:
 * one mutex, two condition variables (not_empty for poppers, not_full for
 * pushers), and a close that wakes every waiter.
 *
 * The queue owns a ring of `capacity` slots and nothing they point to: items
 * are borrowed frames travelling between threads, and every item that goes in
 * comes out exactly once — popped, evicted by a DROP_OLDEST push (handed back
 * to the pusher), or refused by a push after close (left with the pusher) —
 * so a pool never leaks a frame through a queue.
 *
 * The counters are C11 atomics so that the HUD and the stats can read them
 * from any thread without the lock; they are only written under it.
 * Condition waits use CLOCK_MONOTONIC so a wall-clock jump cannot stretch a
 * timed pop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "app.h"
#include "queue.h"

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;      /* signalled on push and on close */
    pthread_cond_t not_full;       /* signalled on pop and on close */
    void **slots;                  /* ring of capacity items; owned */
    int capacity;                  /* >= 1 */
    int head;                      /* index of the oldest item */
    int count;                     /* items in the ring, 0..capacity */
    int closed;                    /* set once by queue_close(); under lock */
    enum queue_policy policy;

    atomic_uint_fast64_t pushed;   /* items accepted */
    atomic_uint_fast64_t popped;   /* items handed to poppers */
    atomic_uint_fast64_t dropped;  /* items evicted by DROP_OLDEST pushes */
    atomic_int depth;              /* == count, readable without the lock */
    atomic_int peak;               /* highest depth seen */
};

int queue_create(struct queue **out, int capacity, enum queue_policy policy)
{
    *out = NULL;
    if (capacity < 1 || (policy != QUEUE_BLOCK && policy != QUEUE_DROP_OLDEST))
        return -EINVAL;
    struct queue *q = calloc(1, sizeof *q);
    if (!q || !(q->slots = calloc((size_t)capacity, sizeof *q->slots)))
        goto fail_alloc;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca))
        goto fail_alloc;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int e = pthread_mutex_init(&q->lock, NULL);
    if (!e && (e = pthread_cond_init(&q->not_empty, &ca)) != 0)
        pthread_mutex_destroy(&q->lock);
    if (!e && (e = pthread_cond_init(&q->not_full, &ca)) != 0) {
        pthread_cond_destroy(&q->not_empty);
        pthread_mutex_destroy(&q->lock);
    }
    pthread_condattr_destroy(&ca);
    if (e)
        goto fail_alloc;
    q->capacity = capacity;
    q->policy = policy;
    atomic_init(&q->pushed, 0);
    atomic_init(&q->popped, 0);
    atomic_init(&q->dropped, 0);
    atomic_init(&q->depth, 0);
    atomic_init(&q->peak, 0);
    *out = q;
    return 0;
fail_alloc:
    if (q)
        free(q->slots);
    free(q);
    app_error("queue: out of memory");
    return -ENOMEM;
}

void queue_free(struct queue **qp)
{
    struct queue *q = qp ? *qp : NULL;
    if (!q)
        return;
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
    pthread_mutex_destroy(&q->lock);
    free(q->slots);
    free(q);
    *qp = NULL;
}

/* Under the lock: the oldest item out of the ring. */
static void *take_oldest(struct queue *q)
{
    void *item = q->slots[q->head];
    q->slots[q->head] = NULL;
    q->head = (q->head + 1) % q->capacity;
    q->count--;
    atomic_store_explicit(&q->depth, q->count, memory_order_relaxed);
    return item;
}

int queue_push(struct queue *q, void *item, void **evicted)
{
    if (evicted)
        *evicted = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->policy == QUEUE_BLOCK) {
        while (!q->closed && q->count == q->capacity)
            pthread_cond_wait(&q->not_full, &q->lock);
    }
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        return QUEUE_CLOSED;
    }
    if (q->count == q->capacity) {
        /* DROP_OLDEST: live sources must never wait; the stalest frame goes */
        void *old = take_oldest(q);
        atomic_fetch_add_explicit(&q->dropped, 1, memory_order_relaxed);
        APP_ASSERT(evicted != NULL);
        *evicted = old;
    }
    q->slots[(q->head + q->count) % q->capacity] = item;
    q->count++;
    atomic_store_explicit(&q->depth, q->count, memory_order_relaxed);
    if (q->count > atomic_load_explicit(&q->peak, memory_order_relaxed))
        atomic_store_explicit(&q->peak, q->count, memory_order_relaxed);
    atomic_fetch_add_explicit(&q->pushed, 1, memory_order_relaxed);
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

int queue_pop_timed(struct queue *q, void **item, int timeout_ms)
{
    struct timespec deadline;
    if (timeout_ms > 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    *item = NULL;
    int ret = 0;
    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && !q->closed) {
        if (timeout_ms == 0) {
            ret = QUEUE_TIMEOUT;
            break;
        }
        if (timeout_ms < 0) {
            pthread_cond_wait(&q->not_empty, &q->lock);
        } else if (pthread_cond_timedwait(&q->not_empty, &q->lock, &deadline) == ETIMEDOUT) {
            if (q->count == 0 && !q->closed)
                ret = QUEUE_TIMEOUT;
            break;
        }
    }
    if (ret == 0) {
        if (q->count > 0) {
            *item = take_oldest(q);
            atomic_fetch_add_explicit(&q->popped, 1, memory_order_relaxed);
            pthread_cond_signal(&q->not_full);
        } else {
            ret = QUEUE_CLOSED;
        }
    }
    pthread_mutex_unlock(&q->lock);
    return ret;
}

int queue_pop(struct queue *q, void **item)
{
    return queue_pop_timed(q, item, -1);
}

void queue_close(struct queue *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->lock);
}

void queue_stats(const struct queue *q, struct queue_counts *c)
{
    /* the atomics are only written under the lock, so each is exact; the
     * set is a snapshot only when no other thread is using the queue */
    c->pushed = atomic_load_explicit(&q->pushed, memory_order_relaxed);
    c->popped = atomic_load_explicit(&q->popped, memory_order_relaxed);
    c->dropped = atomic_load_explicit(&q->dropped, memory_order_relaxed);
    c->depth = atomic_load_explicit(&q->depth, memory_order_relaxed);
    c->peak = atomic_load_explicit(&q->peak, memory_order_relaxed);
    c->capacity = q->capacity;
}

int queue_depth(const struct queue *q)
{
    return atomic_load_explicit(&q->depth, memory_order_relaxed);
}
