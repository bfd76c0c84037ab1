/*
 * arena.c — the activation arena: a bump allocator that settles into one block.
 *
 * A detection pass takes everything it needs from the arena and the next pass
 * rewinds it. The first pass at a new input size may chain extra blocks; the
 * reset after it folds them into one block of the high-water size, so steady
 * state does no allocation at all.
 *
 * A counting arena (arena_init_counting) hands out no memory at all: it only
 * adds up what a pass would take, so a plan (net/plan.c) can size a pass, or refuse it,
 * before anything is allocated. arena_reserve() is the one fallible way to get
 * memory: the caller asks for a pass's worth up front and gets -1, not an
 * abort, when the system says no.
 */
#include "ops.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ARENA_ALIGN 64
#define ARENA_MIN_BLOCK ((size_t)1 << 20)
/* Blocks of HUGE_BLOCK bytes or more ask the kernel for 2 MB pages (transparent
 * huge pages, where it gives them on request: madvise). Such passes hold maps of
 * hundreds of MB (VGG16-FPN at 640x480: 300 MB per 256-channel map at stride
 * 1, 1.2 MB per channel), whose im2col and convs walk hundreds of 4 KB pages
 * per output row: with 2 MB pages that model ran 5-7% faster at one and two
 * threads (Zen 5). Smaller passes keep 4 KB pages: ResNet-50-FPN's 450 MB ran
 * 5% slower at one thread on 2 MB pages (not explained: perhaps its strides,
 * physically contiguous there, meet in the same cache sets), MobileNet's the
 * same either way. */
#define HUGE_PAGE ((size_t)2 << 20)
#define HUGE_BLOCK ((size_t)1 << 30)

struct arena_block {
    struct arena_block *prev;
    size_t size;               /* usable bytes after the header */
    unsigned char *mem;        /* ARENA_ALIGN-aligned start */
};

/* A block of size usable bytes, or NULL when the system has no memory for it. */
static struct arena_block *block_try(size_t size, struct arena_block *prev)
{
    struct arena_block *b = malloc(sizeof *b);
    void *mem = NULL;
    int huge = size >= HUGE_BLOCK && size <= SIZE_MAX - HUGE_PAGE;   /* (no wrap when rounded) */
    if (huge) size = (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    if (!b || posix_memalign(&mem, huge ? HUGE_PAGE : ARENA_ALIGN, size) != 0) {
        free(b);
        return NULL;
    }
    if (huge) madvise(mem, size, MADV_HUGEPAGE);   /* a hint: refused or not, the same memory */
    b->prev = prev;
    b->size = size;
    b->mem = mem;
    return b;
}

/* Past arena_reserve() a pass's memory is there already; a block that cannot
 * be had here means the reservation was too small, which is a bug. */
static struct arena_block *block_new(size_t size, struct arena_block *prev)
{
    struct arena_block *b = block_try(size, prev);
    if (!b) {
        fprintf(stderr, "arena: out of memory (%zu bytes)\n", size);
        abort();
    }
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

void arena_init_counting(struct arena *a)
{
    memset(a, 0, sizeof *a);
    a->counting = 1;
}

/* bytes rounded up to the alignment; saturates instead of wrapping */
static size_t aligned_size(size_t bytes)
{
    if (bytes > SIZE_MAX - ARENA_ALIGN) return SIZE_MAX & ~(size_t)(ARENA_ALIGN - 1);
    return (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

/* What a counting arena hands out: plans form views into their maps (base +
 * offset) but never read or write them, and a non-NULL base keeps that
 * arithmetic defined for the sanitizers. */
static _Alignas(ARENA_ALIGN) unsigned char counting_base[ARENA_ALIGN];

static void count(struct arena *a, size_t need)
{
    a->total = a->total > SIZE_MAX - need ? SIZE_MAX : a->total + need;
    if (a->total > a->high) a->high = a->total;
    if (a->total > a->peak) a->peak = a->total;
}

void *arena_alloc(struct arena *a, size_t bytes)
{
    size_t need = aligned_size(bytes);
    if (a->counting) {
        count(a, need);
        a->used = a->total;
        return counting_base;
    }
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
    if (a->total > a->peak) a->peak = a->total;
    return p;
}

float *arena_floats(struct arena *a, size_t n)
{
    if (a->counting && n > SIZE_MAX / sizeof(float)) n = SIZE_MAX / sizeof(float);
    MODEL_ASSERT(n <= SIZE_MAX / sizeof(float));
    return arena_alloc(a, n * sizeof(float));
}

int *arena_ints(struct arena *a, size_t n)
{
    if (a->counting && n > SIZE_MAX / sizeof(int)) n = SIZE_MAX / sizeof(int);
    MODEL_ASSERT(n <= SIZE_MAX / sizeof(int));
    return arena_alloc(a, n * sizeof(int));
}

struct fmap arena_fmap(struct arena *a, int c, int h, int w)
{
    if (a->counting && (c <= 0 || h <= 0 || w <= 0)) {
        /* a map that shrank to nothing: remembered for the caller, and the plan
         * goes on with a 1-pixel map so that the sizes stay defined */
        a->empty_map = 1;
        c = c > 0 ? c : 1;
        h = h > 0 ? h : 1;
        w = w > 0 ? w : 1;
    }
    MODEL_ASSERT(c > 0 && h > 0 && w > 0);
    struct fmap f = { arena_floats(a, (size_t)c * h * w), c, h, w };
    return f;
}

int arena_reserve(struct arena *a, size_t bytes)
{
    MODEL_ASSERT(!a->counting && a->total == 0);
    size_t need = aligned_size(bytes);
    if (need < ARENA_MIN_BLOCK) need = ARENA_MIN_BLOCK;
    if (a->head && !a->head->prev && a->head->size >= need) return 0;
    struct arena_block *b = block_try(need, NULL);
    if (!b) return -1;
    blocks_free(a->head);
    a->head = b;
    a->used = 0;
    if (a->high < need) a->high = need;
    return 0;
}

void arena_reset(struct arena *a)
{
    if (a->counting) {
        a->used = a->total = 0;
        return;
    }
    if (a->head && a->head->prev) {
        blocks_free(a->head);
        a->head = block_new(a->high, NULL);
    }
    a->used = 0;
    a->total = 0;
}

void arena_release(struct arena *a)
{
    int counting = a->counting;
    blocks_free(a->head);
    memset(a, 0, sizeof *a);
    a->counting = counting;
}

int arena_chained(const struct arena *a) { return a->head && a->head->prev; }

struct arena_mark arena_mark(const struct arena *a)
{
    struct arena_mark m = { a->head, a->used, a->total };
    return m;
}

void arena_rewind(struct arena *a, struct arena_mark m)
{
    if (a->counting) {
        if (m.total <= a->total) a->used = a->total = m.total;
        return;
    }
    if (a->head == m.head && m.used <= a->used) {
        a->used = m.used;
        a->total = m.total;
    }
}

size_t arena_aligned_floats(size_t n)
{
    return n > SIZE_MAX / sizeof(float) ? n : aligned_size(n * sizeof(float)) / sizeof(float);
}
