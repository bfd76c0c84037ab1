/*
 * shell.h — C tests that run commands (ffmpeg to make inputs, ffprobe to read
 * outputs): one place for running a formatted command line and for reading
 * what it prints.
 */
#ifndef VDETECT_TESTS_SHELL_H
#define VDETECT_TESTS_SHELL_H

/* Run the formatted command with sh -c; its exit status, or -1 if it could not run. */
int test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The formatted command's standard output (malloc'ed, NUL-terminated), or NULL
 * when it could not run, exited non-zero, or memory ran out. */
char *test_capture(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A fresh scratch directory /tmp/vdetect_NAME_XXXXXX for the test's media:
 * its path, or NULL (with perror) when it cannot be made. */
const char *test_scratch_open(const char *name);
/* DIR/file in the scratch directory (8 results live at once). */
const char *test_path(const char *file);
/* Remove the scratch directory (made writable first), or with
 * VDETECT_KEEP_MEDIA set keep it and say where. */
void test_scratch_close(void);

#endif
