/*
 * blas.c — making sure OpenBLAS runs the right kernels on this CPU.
 *
 * OpenBLAS built with DYNAMIC_ARCH picks its kernels when the library loads.
 * Debian's 0.3.21 does not know recent Xeons (e.g. family 6 model 207) and falls
 * back to its generic "Prescott" SSE3 kernels, about five times slower than
 * the AVX-512 ones the CPU supports. The choice can only be made through the
 * OPENBLAS_CORETYPE environment variable before the library loads, so when the
 * fallback is detected we set it from the CPU's flags and re-execute ourselves
 * once. A user's own OPENBLAS_CORETYPE is always respected.
 *
 * It also keeps OpenBLAS on the thread that calls it: the detector's own pool
 * splits every GEMM (gemm.c), and OpenBLAS's threads would only spin idle against
 * the pipeline's — or, where a GEMM is big enough for OpenBLAS to split it
 * itself, run our work on threads that synchronise in ways ThreadSanitizer
 * cannot see.
 */
#include "../model.h"

#include "ops.h"

#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The best OpenBLAS 0.3.21 core name for this CPU's flags, or NULL. Not
 * "Cooperlake" for avx512_bf16 CPUs: 0.3.21 detects that core itself but cannot
 * be forced to it ("Core not found"), which would leave the fallback in place;
 * SkylakeX's AVX-512 SGEMM is the same kernel. */
static const char *best_core(void)
{
    if (cpu_has("avx512f") && cpu_has("avx512bw") && cpu_has("avx512vl")) return "SkylakeX";
    if (cpu_has("avx2") && cpu_has("fma")) return "Haswell";
    return NULL;
}

void model_prepare_blas(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE") || getenv("VDETECT_BLAS_CHECKED")) return;
    const char *have = openblas_get_corename();
    if (!have || (strcasecmp(have, "Prescott") && strcasecmp(have, "Core2") &&
                  strcasecmp(have, "Nehalem") && strcasecmp(have, "Sandybridge")))
        return;
    const char *core = best_core();
    if (!core || !strcasecmp(core, have)) return;
    setenv("OPENBLAS_CORETYPE", core, 1);
    setenv("VDETECT_BLAS_CHECKED", "1", 1);
    fflush(NULL);
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the slow kernels */
}

const char *model_blas_core(void) { return openblas_get_corename(); }

static void set_one_thread(void) { openblas_set_num_threads(1); }

void blas_single_thread(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, set_one_thread);
}
