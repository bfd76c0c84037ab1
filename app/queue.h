/*
 * queue.h — a bounded, thread-safe queue of pointers (queue.c), the hand-off
 * between the pipeline's threads.
 */
#ifndef VDETECT_APP_QUEUE_H
#define VDETECT_APP_QUEUE_H

#include <stdint.h>

/*
 * The pipeline's thread hand-off (pipeline.h draws it): a ring of `capacity` pointers
 * with one mutex and two condition variables. Thread-safe: any number of
 * pushers and poppers. The queue owns none of the items; each item pushed
 * leaves exactly once (popped, evicted back to a pusher, or refused).
 *
 * Policies:
 *   QUEUE_BLOCK        push waits while the queue is full (back-pressure: files)
 *   QUEUE_DROP_OLDEST  push never waits: when full it evicts the oldest item,
 *                      hands it back through *evicted for the caller to
 *                      return to its pool, and counts a drop (live sources)
 *
 * queue_close() makes every later push fail with QUEUE_CLOSED (the item stays
 * the caller's) and wakes all waiters; pops still return what is queued, then
 * QUEUE_CLOSED once empty. Nothing blocks forever after a close.
 */
enum queue_policy { QUEUE_BLOCK, QUEUE_DROP_OLDEST };
enum { QUEUE_CLOSED = -1, QUEUE_TIMEOUT = -2 };

struct queue;

struct queue_counts {
    uint64_t pushed;   /* items accepted */
    uint64_t popped;   /* items handed out by pops */
    uint64_t dropped;  /* items evicted by DROP_OLDEST (pushed = popped + dropped + depth) */
    int depth;         /* items queued now */
    int peak;          /* highest depth seen */
    int capacity;
};

/* 0, or -EINVAL (capacity < 1 / bad policy) / -ENOMEM with a message. */
int queue_create(struct queue **q, int capacity, enum queue_policy policy);
/* Frees the queue (not its items); accepts NULL and *q == NULL; nulls *q.
 * No thread may be using it. */
void queue_free(struct queue **q);
/* 0 (queued; under DROP_OLDEST *evicted is the evicted item or NULL) or
 * QUEUE_CLOSED (item not taken). evicted may be NULL only for QUEUE_BLOCK. */
int queue_push(struct queue *q, void *item, void **evicted);
/* Wait for an item: 0 with *item, or QUEUE_CLOSED when closed and empty. */
int queue_pop(struct queue *q, void **item);
/* As queue_pop, waiting at most timeout_ms (0: don't wait; < 0: forever);
 * QUEUE_TIMEOUT when nothing arrived in time. */
int queue_pop_timed(struct queue *q, void **item, int timeout_ms);
/* Idempotent; accepts NULL. */
void queue_close(struct queue *q);
/* Lock-free reads of the counters (each exact; the set is a snapshot only
 * when the queue is idle). */
void queue_stats(const struct queue *q, struct queue_counts *c);
int queue_depth(const struct queue *q);

#endif
