/*
 * arena.c — the activation arena: a bump allocator that settles into one block.
 *
 * A detection pass takes everything it needs from the arena and the next pass
 * rewinds it. The first pass at a new input size may chain extra blocks; the
 * reset after it folds them into one block of the high-water size, so steady
 * state does no allocation at all.
 */
#include "internal.h"

#include <string.h>

#define ARENA_ALIGN 64
#define ARENA_MIN_BLOCK ((size_t)1 << 20)

struct arena_block {
    struct arena_block *prev;
    size_t size;               /* usable bytes after the header */
    unsigned char *mem;        /* ARENA_ALIGN-aligned start */
};

static struct arena_block *block_new(size_t size, struct arena_block *prev)
{
    struct arena_block *b = malloc(sizeof *b);
    void *mem = NULL;
    if (!b || posix_memalign(&mem, ARENA_ALIGN, size) != 0) {
        fprintf(stderr, "arena: out of memory (%zu bytes)\n", size);
        abort();
    }
    b->prev = prev;
    b->size = size;
    b->mem = mem;
    return b;
}

static void blocks_free(struct arena_block *b)
{
    while (b) {
        struct arena_block *p = b->prev;
        free(b->mem);
        free(b);
        b = p;
    }
}

void arena_init(struct arena *a) { memset(a, 0, sizeof *a); }

void *arena_alloc(struct arena *a, size_t bytes)
{
    size_t need = (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    MODEL_ASSERT(need >= bytes);
    if (!a->head || a->used + need > a->head->size) {
        size_t size = need > ARENA_MIN_BLOCK ? need : ARENA_MIN_BLOCK;
        if (a->head && size < a->head->size) size = a->head->size;
        a->head = block_new(size, a->head);
        a->used = 0;
    }
    void *p = a->head->mem + a->used;
    a->used += need;
    a->total += need;
    if (a->total > a->high) a->high = a->total;
    return p;
}

float *arena_floats(struct arena *a, size_t n)
{
    MODEL_ASSERT(n <= SIZE_MAX / sizeof(float));
    return arena_alloc(a, n * sizeof(float));
}

int *arena_ints(struct arena *a, size_t n)
{
    MODEL_ASSERT(n <= SIZE_MAX / sizeof(int));
    return arena_alloc(a, n * sizeof(int));
}

struct fmap arena_fmap(struct arena *a, int c, int h, int w)
{
    MODEL_ASSERT(c > 0 && h > 0 && w > 0);
    struct fmap f = { arena_floats(a, (size_t)c * h * w), c, h, w };
    return f;
}

void arena_reset(struct arena *a)
{
    if (a->head && a->head->prev) {
        blocks_free(a->head);
        a->head = block_new(a->high, NULL);
    }
    a->used = 0;
    a->total = 0;
}

void arena_release(struct arena *a)
{
    blocks_free(a->head);
    memset(a, 0, sizeof *a);
}

struct arena_mark arena_mark(const struct arena *a)
{
    struct arena_mark m = { a->head, a->used, a->total };
    return m;
}

void arena_rewind(struct arena *a, struct arena_mark m)
{
    if (a->head == m.head && m.used <= a->used) {
        a->used = m.used;
        a->total = m.total;
    }
}
