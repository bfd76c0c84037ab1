/*
 * grow.c — geometric growth of the arrays that grow with the input (tracks,
 * detections, events), so that once they have reached the size a scene needs,
 * steady frames allocate nothing.
 */
#include <stdint.h>
#include <stdlib.h>

#include "base.h"

int base_grow(void **p, int *cap, int need, size_t elem)
{
    BASE_ASSERT(need >= 0 && *cap >= 0 && elem > 0);
    if (need <= *cap) return 0;
    long long n = *cap > 0 ? *cap : 16;
    while (n < need) n *= 2;
    if (n > INT32_MAX || (unsigned long long)n > SIZE_MAX / elem) return -1;
    void *q = realloc(*p, (size_t)n * elem);
    if (!q) return -1;
    *p = q;
    *cap = (int)n;
    return 0;
}
