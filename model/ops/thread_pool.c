/*
 * thread_pool.c — the detector's own worker threads, for the loops BLAS does not run:
 * depthwise convolutions, im2col, and the split of every GEMM across cores
 * (OpenBLAS itself is then kept to one thread, so its idle threads do not spin
 * against the decode and render threads of the pipeline).
 *
 * pool_run() hands tasks 0..n-1 out one at a time (an atomic counter) to the
 * caller and the workers, and returns when all are done. Idle workers sleep on
 * a condition variable; nothing spins. One pool serves one model, used by one
 * thread at a time (like the model itself).
 */
#include "ops.h"

#include <pthread.h>
#include <stdatomic.h>

struct pool {
    int nthreads;                 /* workers + the caller */
    pthread_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    /* the current job, under mu (generation changes when a job is posted) */
    unsigned generation;
    void (*fn)(void *ctx, int task, int worker);
    void *ctx;
    int ntasks;
    atomic_int next;              /* next task to take */
    int busy;                     /* workers still in the current job */
    int quit;
};

struct worker_arg {
    struct pool *p;
    int id;
};

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
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->work, &p->mu);
        if (p->quit) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        take_tasks(p, id);
        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
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
    p->quit = 1;
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
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->ntasks = ntasks;
    atomic_store(&p->next, 0);
    p->busy = p->nthreads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    take_tasks(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->busy > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

/* The pool the ops on this thread use (ops_use_pool). */
static _Thread_local struct pool *tl_pool;

void ops_use_pool(struct pool *p) { tl_pool = p; }
struct pool *ops_pool(void) { return tl_pool; }
