/*
 * thread_pool.c — the detector's own worker threads, for the loops BLAS does not run:
 * depthwise convolutions, im2col, and the split of every GEMM across cores
 * (OpenBLAS itself is then kept to one thread, so its idle threads do not spin
 * against the decode and render threads of the pipeline).
 *
 * pool_run() hands tasks 0..n-1 out one at a time (an atomic counter) to the
 * caller and the workers, and returns when all are done. One pool serves one
 * model, used by one thread at a time (like the model itself).
 *
 * Waiting: a frame is a few hundred pool_run calls, each a few microseconds to a
 * few milliseconds apart. Waking a sleeping thread costs tens of microseconds
 * (more in a virtual machine), which at 2 threads on MobileNet-320 ate most of
 * the second core's gain. So a worker that finishes a job, and the caller that
 * waits for the workers, first poll for SPIN_NS, then sleep on a condition
 * variable: within a frame nobody sleeps, between frames the workers are asleep
 * after SPIN_NS and cost nothing.
 */
#include "ops.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

/* How long a thread polls before it sleeps: a little longer than the gaps
 * between a frame's jobs, far shorter than the gap between frames. */
#define SPIN_NS 200000L

struct pool {
    int nthreads;                 /* workers + the caller */
    pthread_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    /* the current job: fn, ctx, ntasks written before generation is bumped */
    atomic_uint generation;
    void (*fn)(void *ctx, int task, int worker);
    void *ctx;
    int ntasks;
    atomic_int next;              /* next task to take */
    atomic_int busy;              /* workers still in the current job */
    atomic_int sleepers;          /* workers waiting on work (under mu) */
    atomic_int quit;
};

struct worker_arg {
    struct pool *p;
    int id;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Poll until done(p, arg) or SPIN_NS have passed; 1 when done. */
static int spin_until(const struct pool *p, int (*done)(const struct pool *, unsigned),
                      unsigned arg)
{
    long long end = 0;
    for (int i = 0;; i++) {
        if (done(p, arg)) return 1;
        cpu_relax();
        if ((i & 63) == 63) {   /* the clock every 64 polls */
            long long t = now_ns();
            if (!end) end = t + SPIN_NS;
            else if (t >= end) return 0;
        }
    }
}

static int new_job(const struct pool *p, unsigned seen)
{
    return atomic_load(&p->generation) != seen || atomic_load(&p->quit);
}

static int all_done(const struct pool *p, unsigned unused)
{
    (void)unused;
    return atomic_load(&p->busy) == 0;
}

static void take_tasks(struct pool *p, int id)
{
    for (int t; (t = atomic_fetch_add(&p->next, 1)) < p->ntasks;) p->fn(p->ctx, t, id);
}

static void *worker_main(void *arg)
{
    struct worker_arg *wa = arg;
    struct pool *p = wa->p;
    int id = wa->id;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        if (!spin_until(p, new_job, seen)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            /* (seq_cst: the poster bumps generation then reads sleepers; we
             * count ourselves then read generation — one of us sees the other) */
            while (!new_job(p, seen)) pthread_cond_wait(&p->work, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) break;
        seen = atomic_load(&p->generation);
        take_tasks(p, id);
        if (atomic_fetch_sub(&p->busy, 1) == 1) {   /* the last one out */
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

int pool_open(struct pool **out, int nthreads)
{
    *out = NULL;
    struct pool *p = calloc(1, sizeof *p);
    if (!p) return -1;
    p->nthreads = nthreads < 1 ? 1 : nthreads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->workers = calloc((size_t)p->nthreads, sizeof *p->workers);
    if (!p->workers) {
        pool_close(&p);
        return -1;
    }
    for (int i = 1; i < p->nthreads; i++) {
        struct worker_arg *wa = malloc(sizeof *wa);
        if (!wa || (wa->p = p, wa->id = i, pthread_create(&p->workers[i], NULL, worker_main, wa))) {
            free(wa);
            p->nthreads = i;      /* close joins the ones that started */
            pool_close(&p);
            return -1;
        }
    }
    *out = p;
    return 0;
}

void pool_close(struct pool **pp)
{
    struct pool *p = pp ? *pp : NULL;
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->nthreads && p->workers; i++) pthread_join(p->workers[i], NULL);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
    *pp = NULL;
}

int pool_size(const struct pool *p) { return p ? p->nthreads : 1; }

void pool_run(struct pool *p, int ntasks, void (*fn)(void *ctx, int task, int worker), void *ctx)
{
    if (ntasks <= 0) return;
    if (!p || p->nthreads == 1 || ntasks == 1) {
        for (int t = 0; t < ntasks; t++) fn(ctx, t, 0);
        return;
    }
    /* every worker is past the last job (busy was 0), so these are ours to set */
    p->fn = fn;
    p->ctx = ctx;
    p->ntasks = ntasks;
    atomic_store(&p->next, 0);
    atomic_store(&p->busy, p->nthreads - 1);
    atomic_fetch_add(&p->generation, 1);   /* publishes the job (seq_cst) */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->mu);
    }
    take_tasks(p, 0);
    if (!spin_until(p, all_done, 0)) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->busy) > 0) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

/* pool_for: [0, n) in one contiguous range per thread. */
struct range_job {
    int n, parts;
    void (*fn)(void *ctx, int lo, int hi);
    void *ctx;
};

static void range_part(void *ctx, int p, int worker)
{
    (void)worker;
    const struct range_job *j = ctx;
    int lo = (int)((int64_t)j->n * p / j->parts), hi = (int)((int64_t)j->n * (p + 1) / j->parts);
    if (hi > lo) j->fn(j->ctx, lo, hi);
}

void pool_for(int n, double work, void (*fn)(void *ctx, int lo, int hi), void *ctx)
{
    if (n <= 0) return;
    struct range_job j = { n, pool_size(ops_pool()), fn, ctx };
    if (j.parts > n) j.parts = n;
    if (work < 65536.0) j.parts = 1;   /* too small to be worth a wake-up */
    if (j.parts == 1) fn(ctx, 0, n);
    else pool_run(ops_pool(), j.parts, range_part, &j);
}

/* The pool the ops on this thread use (ops_use_pool). */
static _Thread_local struct pool *tl_pool;

void ops_use_pool(struct pool *p) { tl_pool = p; }
struct pool *ops_pool(void) { return tl_pool; }
