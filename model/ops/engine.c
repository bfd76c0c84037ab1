/*
 * engine.c — which library runs the GEMMs, and what the CPU can do.
 *
 * Two engines compute every fp32 product the same way up to the order of the
 * additions: OpenBLAS's sgemm and oneDNN's (dnnl_sgemm, JIT kernels picked by
 * oneDNN for the CPU it finds). Measured on our shapes (box head linears at
 * 150–1000 RoIs, FPN and ResNet convs as im2col GEMMs), oneDNN was as fast or
 * faster on every one on the AVX-512 CPUs we run on (Zen 4, one thread:
 * 1.0–1.6×, most on ResNet's small-K convs; a Xeon with AMX, two threads:
 * 1.1–1.7×), so it is the default there; elsewhere OpenBLAS, whose AVX2 kernels
 * we know (README: Performance). A model
 * may name its engine (model_options.engine, `--engine`; "auto" is the rule
 * above), and VDETECT_ENGINE sets the default when it names none, tests
 * included. bf16 products always run on oneDNN (bf16.c): no other engine has them.
 *
 * oneDNN (Debian's build) threads with OpenMP; we never let it: our own pool
 * splits each product (gemm.c) and every thread that calls oneDNN asks OpenMP
 * for one thread, so no OpenMP team ever spins against the pipeline's threads.
 */
#include "ops.h"

#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char cpu_flags[8192];

/* " flag flag ... " from /proc/cpuinfo's first "flags" line */
static void read_flags(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[sizeof cpu_flags - 2];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5)) continue;
        const char *colon = strchr(line, ':');
        cpu_flags[0] = ' ';
        strcpy(cpu_flags + 1, colon ? colon + 1 : line);
        strcat(cpu_flags, " ");
        break;
    }
    fclose(f);
    /* one space after every flag, the newline included, for whole-word search */
    for (char *p = cpu_flags; *p; p++)
        if (*p == '\n' || *p == '\t') *p = ' ';
}

int cpu_has(const char *flag)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, read_flags);
    char word[64];
    if (snprintf(word, sizeof word, " %s ", flag) >= (int)sizeof word) return 0;
    return strstr(cpu_flags, word) != NULL;
}

static int avx512_core(void)
{
    return cpu_has("avx512f") && cpu_has("avx512bw") && cpu_has("avx512vl") &&
           cpu_has("avx512dq");
}

const char *gemm_engine_name(enum gemm_engine e)
{
    return e == GEMM_ONEDNN ? "onednn" : "openblas";
}

/* The rule alone: what "auto" means. */
static enum gemm_engine by_flags(void) { return avx512_core() ? GEMM_ONEDNN : GEMM_OPENBLAS; }

int gemm_engine_parse(const char *name, enum gemm_engine *e)
{
    if (!strcmp(name, "openblas")) *e = GEMM_OPENBLAS;
    else if (!strcmp(name, "onednn")) *e = GEMM_ONEDNN;
    else if (!strcmp(name, "auto")) *e = by_flags();
    else return -1;
    return 0;
}

static void warn_env(void)
{
    fprintf(stderr, "vdetect: VDETECT_ENGINE='%s' is not an engine (onednn, openblas or auto): "
            "ignored, choosing by the CPU\n", getenv("VDETECT_ENGINE"));
}

enum gemm_engine gemm_engine_by_cpu(void)
{
    const char *env = getenv("VDETECT_ENGINE");
    enum gemm_engine e;
    if (!env || !*env) return by_flags();
    if (gemm_engine_parse(env, &e) == 0) return e;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, warn_env);
    return by_flags();
}

static _Thread_local int tl_engine = -1;

void ops_use_engine(enum gemm_engine e) { tl_engine = (int)e; }

enum gemm_engine ops_engine(void)
{
    return tl_engine < 0 ? gemm_engine_by_cpu() : (enum gemm_engine)tl_engine;
}

static _Thread_local enum precision tl_precision;

void ops_use_precision(enum precision p) { tl_precision = p; }
enum precision ops_precision(void) { return tl_precision; }

const char *precision_name(enum precision p)
{
    return p == PREC_BF16 ? "bf16" : p == PREC_INT8 ? "int8" : "fp32";
}

int precision_parse(const char *name, enum precision *p)
{
    if (!strcmp(name, "fp32")) *p = PREC_FP32;
    else if (!strcmp(name, "bf16")) *p = PREC_BF16;
    else if (!strcmp(name, "int8")) *p = PREC_INT8;
    else return -1;
    return 0;
}

int cpu_has_bf16(void) { return cpu_has("avx512_bf16") || cpu_has("amx_bf16"); }
int cpu_has_int8(void)
{
    return cpu_has("avx512_vnni") || cpu_has("avx_vnni") || cpu_has("amx_int8");
}

void onednn_single_thread(void)
{
    static _Thread_local int done;
    if (!done) {
        omp_set_num_threads(1);
        done = 1;
    }
}
