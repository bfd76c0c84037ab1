/*
 * test_model_set.c — `--set NAME=VALUE`, through model.h's public functions
 * only: model_check_set() (what every command runs on each --set before any
 * loading: model/spec.c's spec_param_check) and what model_load() with sets and
 * model_set() do to the parameters (spec_set).
 *
 *   - every parameter at its bounds, in strtod's syntax, the triples;
 *   - every way to be wrong, each with its one-line message: no '=', no name,
 *     an unknown or padded name, an empty, non-numeric, non-finite or
 *     half-numeric value, too few or too many numbers, out of range, not an
 *     integer, a zero standard deviation; a name longer than the buffer and a
 *     message buffer too small (truncated, never overrun: ASan runs this);
 *   - loaded: the values are the ones asked for (later --set wins), a bad one
 *     fails the load, model_set() applies the same rules and leaves the
 *     parameters unchanged when it refuses; bn_eps only at load.
 *
 * Runs from the top of the repository (the tiny model of the fuzz corpus).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../model/model.h"
#include "check.h"

#define TINY "tests/corpus/fuzz_vdm/tiny.vdm"

static void accepted(const char *a)
{
    char msg[400] = "";
    int r = model_check_set(a, msg, sizeof msg);
    CHECK(r == 0, "--set %s should be accepted: %s", a, msg);
}

/* Refused, with a message that starts with want. */
static void refused(const char *a, const char *want)
{
    char msg[400] = "";
    int r = model_check_set(a, msg, sizeof msg);
    CHECK(r < 0, "--set %s should be refused", a);
    CHECK(!strncmp(msg, want, strlen(want)), "--set %s\n  got:  %s\n  want: %s...", a, msg, want);
    CHECK(!strchr(msg, '\n'), "--set %s: one line", a);
}

static void test_check(void)
{
    accepted("min_size=1");
    accepted("min_size=8192");
    accepted("max_size=1333.5");
    accepted("min_size=1e3");
    accepted("image_mean=0.485,0.456,0.406");
    accepted("image_mean=-1,0,1e3");
    accepted("image_std=0.229,0.224,0.225");
    accepted("image_std=-1,-1,-1");
    accepted("rpn_pre_nms_top_n_test=1");
    accepted("rpn_post_nms_top_n_test=1000000");
    accepted("rpn_pre_nms_top_n_test=1e3");
    accepted("rpn_nms_thresh=0.7");
    accepted("rpn_score_thresh=-5");
    accepted("box_score_thresh=0.05");
    accepted("box_nms_thresh=1.5");
    accepted("box_detections_per_img=0");
    accepted("box_detections_per_img=1000000");
    accepted("bn_eps=0");
    accepted("bn_eps=1");

    refused("min_size", "--set min_size: expected NAME=VALUE");
    refused("=3", "--set =3: expected NAME=VALUE");
    refused("", "--set : expected NAME=VALUE");
    refused("nope=1", "--set nope: unknown parameter (known: min_size, max_size, image_mean,");
    refused(" min_size=5", "--set  min_size: unknown parameter");
    refused("MIN_SIZE=5", "--set MIN_SIZE: unknown parameter");
    refused("min_size=", "--set min_size: '' is not a number in [1, 8192]");
    refused("min_size=abc", "--set min_size: 'abc' is not a number in [1, 8192]");
    refused("min_size=nan", "--set min_size: 'nan' is not a number");
    refused("min_size=inf", "--set min_size: 'inf' is not a number");
    refused("min_size=1e999", "--set min_size: '1e999' is not a number");
    refused("min_size=5 ", "--set min_size: '5 ' is not a number");
    refused("min_size=3=4", "--set min_size: '3=4' is not a number");
    refused("min_size=0", "--set min_size: 0 is out of range (accepted: a number in [1, 8192])");
    refused("min_size=100000", "--set min_size: 100000 is out of range (accepted: a number in "
                               "[1, 8192])");
    refused("min_size=1,2", "--set min_size: 1,2 is out of range");
    refused("image_mean=1,2", "--set image_mean: 1,2 is out of range (accepted: three finite "
                              "numbers R,G,B)");
    refused("image_mean=1,2,3,4", "--set image_mean: '1,2,3,4' is not three finite numbers");
    refused("image_mean=1,,3", "--set image_mean: '1,,3' is not three");
    refused("image_std=0,1,1", "--set image_std: 0,1,1 is out of range (accepted: three finite "
                               "non-zero numbers R,G,B)");
    refused("rpn_pre_nms_top_n_test=1.5", "--set rpn_pre_nms_top_n_test: 1.5 is out of range "
                                          "(accepted: an integer in [1, 1000000])");
    refused("rpn_post_nms_top_n_test=0", "--set rpn_post_nms_top_n_test: 0 is out of range");
    refused("box_detections_per_img=-1", "--set box_detections_per_img: -1 is out of range "
                                         "(accepted: an integer in [0, 1000000])");
    refused("box_detections_per_img=1e9", "--set box_detections_per_img: 1e9 is out of range");
    refused("bn_eps=1.5", "--set bn_eps: 1.5 is out of range (accepted: a number in [0, 1])");
    refused("bn_eps=-1e-9", "--set bn_eps: -1e-9 is out of range");

    /* a name longer than the parser's buffer: shortened in the message, no overrun */
    char name[200];
    memset(name, 'n', 150);
    strcpy(name + 150, "=1");
    refused(name, "--set nnnnnnnnnn");
    /* a long value is quoted shortened */
    char val[300] = "min_size=";
    memset(val + 9, 'x', 250);
    val[259] = '\0';
    char msg[400];
    CHECK(model_check_set(val, msg, sizeof msg) < 0 && strlen(msg) < 120,
          "a 250-byte value is refused in a short line: %zu bytes", strlen(msg));
    /* a message buffer too small: truncated and terminated */
    char small[12];
    memset(small, '#', sizeof small);
    CHECK(model_check_set("nope=1", small, sizeof small) < 0 && small[sizeof small - 1] == '\0' &&
          strlen(small) == sizeof small - 1, "a short message buffer is filled and terminated");
}

static struct model *load(const char *const *sets)
{
    struct model *m = NULL;
    struct model_options o = { .weights = TINY, .sets = sets, .threads = 1 };
    if (model_load(&m, &o) < 0)
        return NULL;
    return m;
}

static void test_loaded(void)
{
    if (access(TINY, R_OK) != 0) {
        CHECK(0, "%s is missing (run from the top of the repository)", TINY);
        return;
    }
    const char *sets[] = { "min_size=300", "image_mean=0.1,0.2,0.3", "rpn_nms_thresh=0.65",
                           "box_detections_per_img=7", "bn_eps=0.001", "min_size=320",
                           "rpn_pre_nms_top_n_test=1e2", NULL };
    struct model *m = load(sets);
    CHECK(m != NULL, "the tiny model loads with valid --set values");
    if (!m)
        return;
    const struct model_params *p = model_get_params(m);
    CHECK(p->min_size == 320.0f, "the later --set min_size wins: %g", p->min_size);
    CHECK(p->image_mean[0] == 0.1f && p->image_mean[1] == 0.2f && p->image_mean[2] == 0.3f,
          "image_mean: %g %g %g", p->image_mean[0], p->image_mean[1], p->image_mean[2]);
    CHECK(p->rpn_nms_thresh == 0.65, "rpn_nms_thresh stored as a double: %.17g",
          p->rpn_nms_thresh);
    CHECK(p->box_detections_per_img == 7, "box_detections_per_img: %d",
          p->box_detections_per_img);
    CHECK(p->bn_eps == 0.001f, "bn_eps at load: %g", p->bn_eps);
    CHECK(p->rpn_pre_nms_top_n_test == 100, "1e2 as an integer: %d", p->rpn_pre_nms_top_n_test);

    /* after loading: the same rules, and a refusal changes nothing */
    fflush(stderr);
    FILE *null = fopen("/dev/null", "w");
    int saved = dup(STDERR_FILENO);
    if (null)
        dup2(fileno(null), STDERR_FILENO);
    int ok = model_set(m, "box_score_thresh=0.3");
    int bad1 = model_set(m, "box_score_thresh=abc");
    int bad2 = model_set(m, "image_std=1,0,1");
    int bad3 = model_set(m, "bn_eps=0.5");
    int bad4 = model_set(m, "nope=1");
    const char *bad_sets[] = { "min_size=300", "max_size=0", NULL };
    struct model *m2 = load(bad_sets);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    if (null)
        fclose(null);
    CHECK(ok == 0 && p->box_score_thresh == 0.3f, "model_set applies: %g", p->box_score_thresh);
    CHECK(bad1 < 0 && bad2 < 0 && bad3 < 0 && bad4 < 0, "model_set refuses: %d %d %d %d", bad1,
          bad2, bad3, bad4);
    CHECK(p->box_score_thresh == 0.3f && p->image_std[1] != 0 && p->bn_eps == 0.001f,
          "a refused model_set changes nothing");
    CHECK(m2 == NULL, "a bad --set fails the load");
    model_free(&m2);
    model_free(&m);
}

int main(void)
{
    test_check();
    test_loaded();
    return check_summary("test_model_set");
}
