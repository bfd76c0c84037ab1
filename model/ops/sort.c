/*
 * sort.c — torch 1.13 CPU sort/topk tie order (docs/torchvision-inference.md §4.4).
 *
 * torch sorts (value, index) pairs, initialised in index order, with libstdc++'s
 * std::sort / std::partial_sort / std::nth_element and the comparator
 * "a.value > b.value, NaN greater than everything". Those algorithms are not
 * stable, so when values tie the resulting index order is whatever GCC 12's
 * bits/stl_algo.h and bits/stl_heap.h produce. This file re-implements them step
 * for step (same pivots, same swaps, same heap moves).
 *
 * The comparator only looks at the value, and the value of a pair is always
 * v[index], so every algorithm here moves plain int indices and compares
 * v[index]: moving a pair and moving its index are the same thing.
 */
#include "ops.h"

#include <math.h>

/* KeyValueCompDesc / topk's lambda: NaN first, then descending. */
static inline int gt(const float *v, int a, int b)
{
    float x = v[a], y = v[b];
    return (isnan(x) && !isnan(y)) || x > y;
}

static inline void swap_int(int *a, int *b)
{
    int t = *a;
    *a = *b;
    *b = t;
}

/* std::__lg: floor(log2(n)) for n > 0 */
static int lg(int n)
{
    int k = 0;
    while (n > 1) {
        n >>= 1;
        k++;
    }
    return k;
}

/* ---- stl_heap.h ---------------------------------------------------------- */

static void push_heap(const float *v, int *first, int hole, int top, int value)
{
    int parent = (hole - 1) / 2;
    while (hole > top && gt(v, first[parent], value)) {
        first[hole] = first[parent];
        hole = parent;
        parent = (hole - 1) / 2;
    }
    first[hole] = value;
}

static void adjust_heap(const float *v, int *first, int hole, int len, int value)
{
    const int top = hole;
    int child = hole;
    while (child < (len - 1) / 2) {
        child = 2 * (child + 1);
        if (gt(v, first[child], first[child - 1])) child--;
        first[hole] = first[child];
        hole = child;
    }
    if ((len & 1) == 0 && child == (len - 2) / 2) {
        child = 2 * (child + 1);
        first[hole] = first[child - 1];
        hole = child - 1;
    }
    push_heap(v, first, hole, top, value);
}

static void make_heap(const float *v, int *first, int len)
{
    if (len < 2) return;
    for (int parent = (len - 2) / 2;; parent--) {
        adjust_heap(v, first, parent, len, first[parent]);
        if (parent == 0) return;
    }
}

/* std::__pop_heap(first, last, result): *result goes into the heap, the top to *result. */
static void pop_heap(const float *v, int *first, int len, int *result)
{
    int value = *result;
    *result = first[0];
    adjust_heap(v, first, 0, len, value);
}

static void sort_heap(const float *v, int *first, int len)
{
    while (len > 1) {
        len--;
        pop_heap(v, first, len, first + len);
    }
}

/* std::__heap_select(first, middle, last) */
static void heap_select(const float *v, int *first, int mid, int len)
{
    make_heap(v, first, mid);
    for (int i = mid; i < len; i++)
        if (gt(v, first[i], first[0])) pop_heap(v, first, mid, first + i);
}

/* ---- stl_algo.h ---------------------------------------------------------- */

static void move_median_to_first(const float *v, int *result, int *a, int *b, int *c)
{
    if (gt(v, *a, *b)) {
        if (gt(v, *b, *c)) swap_int(result, b);
        else if (gt(v, *a, *c)) swap_int(result, c);
        else swap_int(result, a);
    } else if (gt(v, *a, *c)) {
        swap_int(result, a);
    } else if (gt(v, *b, *c)) {
        swap_int(result, c);
    } else {
        swap_int(result, b);
    }
}

static int *unguarded_partition(const float *v, int *first, int *last, const int *pivot)
{
    for (;;) {
        while (gt(v, *first, *pivot)) first++;
        last--;
        while (gt(v, *pivot, *last)) last--;
        if (!(first < last)) return first;
        swap_int(first, last);
        first++;
    }
}

static int *unguarded_partition_pivot(const float *v, int *first, int *last)
{
    int *mid = first + (last - first) / 2;
    move_median_to_first(v, first, first + 1, mid, last - 1);
    return unguarded_partition(v, first + 1, last, first);
}

static void unguarded_linear_insert(const float *v, int *last)
{
    int val = *last;
    int *next = last - 1;
    while (gt(v, val, *next)) {
        *last = *next;
        last = next;
        next--;
    }
    *last = val;
}

static void insertion_sort(const float *v, int *first, int *last)
{
    if (first == last) return;
    for (int *i = first + 1; i != last; i++) {
        if (gt(v, *i, *first)) {
            int val = *i;
            for (int *p = i; p != first; p--) p[0] = p[-1];
            *first = val;
        } else {
            unguarded_linear_insert(v, i);
        }
    }
}

enum { S_THRESHOLD = 16 };

static void introsort_loop(const float *v, int *first, int *last, int depth)
{
    while (last - first > S_THRESHOLD) {
        if (depth == 0) {
            int len = (int)(last - first);
            heap_select(v, first, len, len);   /* std::__partial_sort(first, last, last) */
            sort_heap(v, first, len);
            return;
        }
        depth--;
        int *cut = unguarded_partition_pivot(v, first, last);
        introsort_loop(v, cut, last, depth);
        last = cut;
    }
}

static void final_insertion_sort(const float *v, int *first, int *last)
{
    if (last - first > S_THRESHOLD) {
        insertion_sort(v, first, first + S_THRESHOLD);
        for (int *i = first + S_THRESHOLD; i != last; i++) unguarded_linear_insert(v, i);
    } else {
        insertion_sort(v, first, last);
    }
}

/* std::sort(first, last, comp) */
static void stl_sort(const float *v, int *first, int *last)
{
    if (first == last) return;
    introsort_loop(v, first, last, lg((int)(last - first)) * 2);
    final_insertion_sort(v, first, last);
}

/* std::nth_element(first, nth, last, comp) */
static void stl_nth_element(const float *v, int *first, int *nth, int *last)
{
    if (first == last || nth == last) return;
    int depth = lg((int)(last - first)) * 2;
    while (last - first > 3) {
        if (depth == 0) {
            heap_select(v, first, (int)(nth + 1 - first), (int)(last - first));
            swap_int(first, nth);
            return;
        }
        depth--;
        int *cut = unguarded_partition_pivot(v, first, last);
        if (cut <= nth) first = cut;
        else last = cut;
    }
    insertion_sort(v, first, last);
}

/* ---- public -------------------------------------------------------------- */

/* torch.sort(v, descending=True, stable=False)[1] on CPU */
void torch_sort_desc(const float *v, int n, int *idx)
{
    MODEL_ASSERT(n >= 0 && (n == 0 || (v && idx)));
    for (int i = 0; i < n; i++) idx[i] = i;
    stl_sort(v, idx, idx + n);
}

/*
 * partial_sort path (k * 64 <= n): heap_select only ever reads position i of the
 * tail once, at step i, before anything is written there, so position i still
 * holds index i; the tail can stay virtual and idx[k] is all the memory needed.
 */
static void topk_partial_sort(const float *v, int n, int k, int *idx)
{
    for (int i = 0; i < k; i++) idx[i] = i;
    make_heap(v, idx, k);
    for (int i = k; i < n; i++) {
        if (gt(v, i, idx[0])) {
            int value = i;        /* pop_heap(first, middle, first + i) */
            adjust_heap(v, idx, 0, k, value);
        }
    }
    sort_heap(v, idx, k);
}

/* torch.topk(v, k, largest=True, sorted=True)[1] on CPU (torch 1.13 topk_impl_loop) */
void torch_topk(const float *v, int n, int k, int *idx, struct arena *scratch)
{
    MODEL_ASSERT(n >= 0 && k >= 0 && k <= n);
    if (k == 0) return;
    if ((int64_t)k * 64 <= n) {
        topk_partial_sort(v, n, k, idx);
        return;
    }
    /* nth_element needs the whole permutation */
    struct arena_mark mark = arena_mark(scratch);
    int *work = k == n ? idx : arena_ints(scratch, (size_t)n);
    for (int i = 0; i < n; i++) work[i] = i;
    stl_nth_element(v, work, work + k - 1, work + n);
    stl_sort(v, work, work + k - 1);
    if (work != idx) {
        for (int i = 0; i < k; i++) idx[i] = work[i];
    }
    arena_rewind(scratch, mark);
}
