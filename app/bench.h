/*
 * bench.h — private to app/: what the two halves of `vdetect bench` share,
 * the model-only run (cli_bench.c) and the pipeline run (bench_pipeline.c):
 * where the JSON goes, the CPU's name, the verdict (does the detector keep up
 * with the source?) and the contention check (did the process get the CPU it
 * asked for?). Defined in bench_pipeline.c. Bench-only, so it stays out of
 * the shared run report (pipeline.h, pipeline_stats.c): the pipeline's JSON
 * gets these figures appended by bench_pipeline.c.
 */
#ifndef VDETECT_APP_BENCH_H
#define VDETECT_APP_BENCH_H

#include <stdio.h>

/* 1 if --json PATH is the process's stdout: "-", or another name of the file or
 * pipe that fd 1 is (/dev/stdout, /proc/self/fd/1, the file stdout is
 * redirected to). Then the text report goes to stderr, so stdout parses. */
int bench_json_is_stdout(const char *path);

/* Process CPU time so far (user + system, every thread), seconds; NAN if unknown. */
double bench_cpu_seconds(void);


/* Does the detector keep up with the source? (docs/formats.md §4, "verdict") */
struct bench_verdict {
    double need_fps;      /* the source's frame rate (nominal; a live source without
                             one: as measured); NAN: none (model only, or unknown) */
    double detector_fps;  /* 1000 / mean detector wall ms per frame: what the
                             detector alone sustains, back to back */
    double achieved_fps;  /* frames detected per second, measured (model only: the
                             same as detector_fps) */
    double headroom;      /* file: achieved / need; live: detector / need (its
                             achieved rate is capped by the source); NAN: no need */
    double drop_pct;      /* live: % of decoded frames dropped (counted); file:
                             % a live source at need_fps would lose (predicted) */
    int live;             /* 1: paced source, drops counted; 0: file read flat out */
    int keeps_up;         /* 1 yes, 0 no, -1 no verdict (see why) */
    const char *why;      /* with keeps_up -1: the reason, static */
};

/* The verdict line's text, without the "verdict      " label and newline. */
void bench_verdict_text(char *buf, size_t n, const struct bench_verdict *v);
/* , "verdict": {...} (the leading comma included) */
void bench_verdict_json(FILE *f, const struct bench_verdict *v);

/* Was the machine loaded? A detector with T threads that all run spends about
 * T × its wall time in CPU; when the wall time per frame is at least twice the
 * process CPU time per frame / T, the threads waited for a CPU at least half
 * the time — other processes had it. The process CPU time also counts decode,
 * draw and encode, so the rule errs towards silence. */
struct bench_contention {
    double wall_ms;   /* detector wall time per detected frame (mean) */
    double cpu_ms;    /* process CPU time per detected frame */
    int threads;      /* threads the detector can run at once: min(--threads, CPUs
                         the process may use) */
    double ratio;     /* wall_ms / (cpu_ms / threads); 1: every thread busy throughout */
    int suspected;    /* ratio >= 2 */
};

void bench_contention_check(struct bench_contention *c, double wall_ms, double cpu_ms,
                            int threads);
/* The warning line (only when suspected). */
void bench_contention_print(FILE *txt, const struct bench_contention *c);
/* , "contention": {...} */
void bench_contention_json(FILE *f, const struct bench_contention *c);

#endif
