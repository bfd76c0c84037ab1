/*
 * test_options.c — app/options.c, the option parser of every command: the
 * forms it accepts ("--name VALUE", "--name=VALUE", "-c VALUE", "-c=VALUE",
 * "--", "-" as a positional), values of every kind at and beyond their range,
 * nested tables, repeated options, the exact one-line messages (with "did you
 * mean" by edit distance), the --help rows made from the same table, and the
 * [model] options of cli_model.c through it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../app/app.h"
#include "check.h"

/* The values one parse leaves. */
static struct vals {
    int flag, quiet, count;
    long big;
    long long huge;
    double ratio;
    const char *out, *nested;
    char pos[4][32];
    int npos, calls;
    const char *last_call;
} V;

static int on_positional(void *ctx, const char *cmd, const char *arg)
{
    struct vals *v = ctx;
    if (v->npos == 4)
        return app_usage_error(cmd, "too many");
    snprintf(v->pos[v->npos++], sizeof v->pos[0], "%s", arg);
    return APP_OK;
}

static int on_call(void *dest, const char *cmd, const char *opt, const char *value)
{
    struct vals *v = dest;
    v->calls++;
    v->last_call = value;
    if (value && !strcmp(value, "bad"))
        return app_usage_error(cmd, "%s: '%s' is bad", opt, value);
    return APP_OK;
}

static const struct opt nested[] = {
    { .name = "--nested", .arg = "S", .kind = OPT_STRING, .dest = &V.nested,
      .help = "in a table of its own" },
    { .kind = OPT_END },
};

static const struct opt table[] = {
    { .name = "--flag", .kind = OPT_FLAG, .dest = &V.flag, .help = "a flag" },
    { .name = "--quiet", .short_name = 'q', .kind = OPT_FLAG, .dest = &V.quiet,
      .help = "short and long" },
    { .name = "--output", .short_name = 'o', .arg = "OUT", .kind = OPT_STRING, .dest = &V.out,
      .help = "a file" },
    { .name = "--count", .arg = "N", .kind = OPT_INT, .dest = &V.count, .lo = 1, .hi = 64,
      .help = "an int\nover two lines" },
    { .name = "--big", .arg = "N", .kind = OPT_LONG, .dest = &V.big, .lo = 0, .hi = 2e9 },
    { .name = "--huge", .arg = "N", .kind = OPT_LLONG, .dest = &V.huge, .lo = -1e12, .hi = 1e12,
      .help = "a long long" },
    { .name = "--ratio", .arg = "X", .kind = OPT_DOUBLE, .dest = &V.ratio, .lo = 0, .hi = 1,
      .help = "a number" },
    { .name = "--call", .arg = "V", .kind = OPT_CALL, .dest = &V, .call = on_call,
      .help = "a handler" },
    { .name = "--poke", .kind = OPT_CALL, .dest = &V, .call = on_call },
    { .kind = OPT_TABLE, .sub = nested },
    { .short_name = 'y', .kind = OPT_FLAG, .dest = &V.flag, .help = "short only" },
    { .name = "--a-rather-long-option", .arg = "VALUE", .kind = OPT_STRING, .dest = &V.out,
      .help = "beyond the column" },
    { .name = "--help", .short_name = 'h', .kind = OPT_HELP, .help = "show this help" },
    { .name = "--", .kind = OPT_NOTE, .help = "everything after is positional" },
    { .kind = OPT_END },
};

static char err[1024];   /* what the last parse printed on stderr */

/* Parse the NULL-terminated arguments (after the command name) with stderr
 * captured into err. */
static int parse_with(int (*positional)(void *, const char *, const char *), const char *a0,
                      ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "test";
    va_list ap;
    va_start(ap, a0);
    for (const char *a = a0; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    memset(&V, 0, sizeof V);

    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    if (!tmp || saved < 0) {
        CHECK(0, "cannot capture stderr");
        return -100;
    }
    dup2(fileno(tmp), STDERR_FILENO);
    const struct opt *const tables[] = { table, NULL };
    int r = opt_parse("test", argc, argv, tables, positional, &V);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(err, 1, sizeof err - 1, tmp);
    err[n] = '\0';
    fclose(tmp);
    return r;
}
#define parse(...) parse_with(on_positional, __VA_ARGS__, (const char *)NULL)

/* A usage error whose first line is exactly want, followed by the hint. */
static void expect_error(int r, const char *want)
{
    char line[1200];
    snprintf(line, sizeof line, "vdetect test: %s\nsee vdetect test --help\n", want);
    CHECK(r == APP_USAGE, "'%s': status %d, want APP_USAGE", want, r);
    CHECK(!strcmp(err, line), "message\n  got:  %s  want: %s", err, line);
}

static void test_forms(void)
{
    int r = parse("--flag", "-q", "--output", "a.mp4", "--count=3", "--big", "2000000000",
                  "--huge=-1000000000000", "--ratio", "0.25", "--nested=n", "x", "-", "--",
                  "--flag", "-q");
    CHECK(r == APP_OK, "a command line of every form: %d (%s)", r, err);
    CHECK(V.flag == 1 && V.quiet == 1, "flags");
    CHECK(V.out && !strcmp(V.out, "a.mp4"), "--output VALUE");
    CHECK(V.count == 3, "--count=3: %d", V.count);
    CHECK(V.big == 2000000000L, "--big at its upper bound: %ld", V.big);
    CHECK(V.huge == -1000000000000LL, "--huge at its lower bound: %lld", V.huge);
    CHECK(V.ratio == 0.25, "--ratio: %g", V.ratio);
    CHECK(V.nested && !strcmp(V.nested, "n"), "an option of a nested table");
    CHECK(V.npos == 4 && !strcmp(V.pos[0], "x") && !strcmp(V.pos[1], "-") &&
          !strcmp(V.pos[2], "--flag") && !strcmp(V.pos[3], "-q"),
          "positionals in order, '-' one of them, everything after '--': %d", V.npos);
    CHECK(err[0] == '\0', "nothing on stderr: %s", err);

    r = parse("-o", "-", "-o=b.mp4", "-y");
    CHECK(r == APP_OK && !strcmp(V.out, "b.mp4") && V.flag, "-o VALUE, -o=VALUE, the last wins");
    r = parse("--output", "--flag");
    CHECK(r == APP_OK && !strcmp(V.out, "--flag") && !V.flag,
          "a value that looks like an option is the value");
    r = parse("--output=", "x");
    expect_error(r, "--output: empty value (expected OUT)");
    r = parse("--output==x");
    CHECK(r == APP_OK && !strcmp(V.out, "=x"), "only the first '=' splits: %s", V.out);
    r = parse("--call", "a", "--call=b", "--poke");
    CHECK(r == APP_OK && V.calls == 3 && V.last_call == NULL,
          "a handler per occurrence, NULL value when it takes none");
    r = parse("--call", "bad");
    expect_error(r, "--call: 'bad' is bad");
}

static void test_values(void)
{
    expect_error(parse("--count"), "--count needs a value");
    expect_error(parse("-o"), "-o needs a value");
    expect_error(parse("--count", "abc"), "--count: 'abc' is not an integer in [1, 64]");
    expect_error(parse("--count", "2x"), "--count: '2x' is not an integer in [1, 64]");
    expect_error(parse("--count", ""), "--count: '' is not an integer in [1, 64]");
    expect_error(parse("--count", "1.0"), "--count: '1.0' is not an integer in [1, 64]");
    expect_error(parse("--count", "0"), "--count: 0 is out of range [1, 64]");
    expect_error(parse("--count=65"), "--count: 65 is out of range [1, 64]");
    expect_error(parse("--count", "99999999999999999999"),
                 "--count: '99999999999999999999' is not an integer in [1, 64]");
    CHECK(parse("--count", "64") == APP_OK && V.count == 64, "--count at its upper bound");
    expect_error(parse("--big", "2000000001"), "--big: 2000000001 is out of range [0, 2000000000]");
    expect_error(parse("--ratio", "nan"), "--ratio: 'nan' is not a number in [0, 1]");
    expect_error(parse("--ratio", "inf"), "--ratio: 'inf' is not a number in [0, 1]");
    expect_error(parse("--ratio", "1e999"), "--ratio: '1e999' is not a number in [0, 1]");
    expect_error(parse("--ratio", "-0.5"), "--ratio: -0.5 is out of range [0, 1]");
    expect_error(parse("--ratio", "0.5x"), "--ratio: '0.5x' is not a number in [0, 1]");
    CHECK(parse("--ratio", "1") == APP_OK && V.ratio == 1, "--ratio at its upper bound");
    expect_error(parse("--flag=1"), "--flag takes no value (got '--flag=1')");
    expect_error(parse("-q=1"), "-q takes no value (got '-q=1')");
}

static void test_unknown(void)
{
    expect_error(parse("--cuont", "3"), "unknown option '--cuont' (did you mean '--count'?)");
    expect_error(parse("--outptu=x"), "unknown option '--outptu' (did you mean '--output'?)");
    expect_error(parse("-flag"), "unknown option '-flag' (did you mean '--flag'?)");
    expect_error(parse("--nestd", "x"), "unknown option '--nestd' (did you mean '--nested'?)");
    expect_error(parse("--rat", "1"), "unknown option '--rat' (did you mean '--ratio'?)");
    expect_error(parse("--frobnicate"), "unknown option '--frobnicate'");
    expect_error(parse("-x"), "unknown option '-x'");
    expect_error(parse("-qy"), "unknown option '-qy'");
    expect_error(parse("--=3"), "unknown option '--=3'");
    /* a note row is help text, never an option */
    CHECK(parse("--", "--") == APP_OK && V.npos == 1 && !strcmp(V.pos[0], "--"),
          "'--' twice: the second is a positional");
    expect_error(parse_with(NULL, "stray", (const char *)NULL), "unexpected argument 'stray'");
    expect_error(parse("a", "b", "c", "d", "e"), "too many");
    /* the first mistake is the one reported */
    expect_error(parse("--count", "0", "--frobnicate"), "--count: 0 is out of range [1, 64]");
}

static void test_help_asked(void)
{
    CHECK(parse("--flag", "-h", "--frobnicate") == OPT_HELP_ASKED && V.flag,
          "-h stops parsing: what follows is not looked at");
    CHECK(parse("--help") == OPT_HELP_ASKED && err[0] == '\0', "--help, nothing on stderr");
    expect_error(parse("--help=x"), "--help takes no value (got '--help=x')");
    expect_error(parse("--frobnicate", "--help"), "unknown option '--frobnicate'");
}

static void test_help_rows(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    const struct opt *const tables[] = { table, nested, NULL };
    opt_help(f, "Options:\n%s--\n%send\n", tables);
    fclose(f);
    const char *want =
        "Options:\n"
        "  --flag              a flag\n"
        "  -q, --quiet         short and long\n"
        "  -o, --output OUT    a file\n"
        "  --count N           an int\n"
        "                      over two lines\n"
        "  --huge N            a long long\n"
        "  --ratio X           a number\n"
        "  --call V            a handler\n"
        "  --nested S          in a table of its own\n"
        "  -y                  short only\n"
        "  --a-rather-long-option VALUE  beyond the column\n"
        "  -h, --help          show this help\n"
        "  --                  everything after is positional\n"
        "--\n"
        "  --nested S          in a table of its own\n"
        "end\n";
    CHECK(buf && !strcmp(buf, want), "help rows\n--- got:\n%s--- want:\n%s", buf ? buf : "", want);
    free(buf);
}

static void test_suggest(void)
{
    CHECK(app_edit_distance("", "") == 0, "'' ''");
    CHECK(app_edit_distance("abc", "") == 3, "abc ''");
    CHECK(app_edit_distance("detect", "detect") == 0, "same");
    CHECK(app_edit_distance("detcet", "detect") == 1, "a transposition is one edit");
    CHECK(app_edit_distance("view", "vew") == 1, "a deletion");
    CHECK(app_edit_distance("kitten", "sitting") == 3, "kitten sitting");
    CHECK(app_edit_distance("ca", "abc") == 3, "OSA: ca abc is 3");
    char long_name[100];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    CHECK(app_edit_distance(long_name, "a") > 1000, "over 64 bytes: no distance");

    struct app_suggest s;
    const char *cands[] = { "detect", "info", "view", "annotate", "bench", "eval" };
    struct { const char *given, *want; } cases[] = {
        { "detcet", "detect" }, { "infp", "info" }, { "veiw", "view" }, { "anotate", "annotate" },
        { "bnech", "bench" }, { "evl", "eval" }, { "ann", "annotate" }, { "x", NULL },
        { "frobnicate", NULL }, { "", NULL }, { "de", NULL }, { long_name, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        app_suggest_init(&s, cases[i].given);
        for (size_t k = 0; k < sizeof cands / sizeof cands[0]; k++)
            app_suggest_add(&s, cands[k]);
        int ok = cases[i].want ? s.best && !strcmp(s.best, cases[i].want) : !s.best;
        CHECK(ok, "suggestion for '%.20s': '%s', want '%s'", cases[i].given,
              s.best ? s.best : "(none)", cases[i].want ? cases[i].want : "(none)");
    }
    /* the closest wins, the first of equals */
    app_suggest_init(&s, "--stats-lg");
    app_suggest_add(&s, "--stats-json");
    app_suggest_add(&s, "--stats-log");
    CHECK(s.best && !strcmp(s.best, "--stats-log"), "closest: %s", s.best ? s.best : "(none)");
}

static void test_size(void)
{
    int wh[2] = { 0, 0 };
    fflush(stderr);
    FILE *null = fopen("/dev/null", "w");
    int saved = dup(STDERR_FILENO);
    if (null)
        dup2(fileno(null), STDERR_FILENO);
    CHECK(app_opt_size(wh, "t", "--size", "640x480") == APP_OK && wh[0] == 640 && wh[1] == 480,
          "640x480");
    CHECK(app_opt_size(wh, "t", "--size", "1X16384") == APP_OK && wh[0] == 1 && wh[1] == 16384,
          "1X16384");
    const char *bad[] = { "640", "0x480", "640x0", "16385x1", "640x480x3", "x480", "640x",
                          "-640x480", "640 x480", "640x480 ", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wh[0] = wh[1] = 7;
        CHECK(app_opt_size(wh, "t", "--size", bad[i]) == APP_USAGE && wh[0] == 7 && wh[1] == 7,
              "--size '%s' refused, nothing stored", bad[i]);
    }
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    if (null)
        fclose(null);
}

/* The [model] options through the parser: --set collects, the checks run. */
static void test_model_options(void)
{
    char *argv[] = { "test", "--set", "min_size=300", "--threads=3", "--set=max_size=500",
                     "--score-thresh", "0.75", "--classes", "person,3", "--arch", "fasterrcnn_vgg16_fpn",
                     NULL };
    int argc = (int)(sizeof argv / sizeof argv[0]) - 1;
    struct cli_model cm;
    cli_model_init(&cm, argc);
    const struct opt *const tables[] = { cm.opts, NULL };
    int r = opt_parse("test", argc, argv, tables, NULL, NULL);
    CHECK(r == APP_OK, "model options parse: %d", r);
    CHECK(cm.nsets == 2 && !strcmp(cm.sets[0], "min_size=300") &&
          !strcmp(cm.sets[1], "max_size=500") && cm.sets[2] == NULL,
          "--set collected in order, NULL-terminated: %d", cm.nsets);
    CHECK(cm.threads == 3 && cm.score_thresh == 0.75, "--threads, --score-thresh");
    CHECK(cm.classes && !strcmp(cm.classes, "person,3") && cm.arch &&
          !strcmp(cm.arch, "fasterrcnn_vgg16_fpn"),
          "--classes, --arch");
    cli_model_free(&cm);

    struct { const char *a, *b; } bad[] = {
        { "--set", "min_size" }, { "--set", "=3" }, { "--set", "nope=1" },
        { "--set", "min_size=0" }, { "--set", "min_size=abc" }, { "--classes", "a,,b" },
        { "--classes", "," }, { "--threads", "0" }, { "--threads", "1025" },
        { "--score-thresh", "1.5" }, { "--weights", "" }, { "--arch", "a" },
        { "--arch", "resnet50fpn" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *av[] = { "test", (char *)bad[i].a, (char *)bad[i].b, NULL };
        cli_model_init(&cm, 3);
        const struct opt *const t[] = { cm.opts, NULL };
        fflush(stderr);
        FILE *null = fopen("/dev/null", "w");
        int saved = dup(STDERR_FILENO);
        if (null)
            dup2(fileno(null), STDERR_FILENO);
        r = opt_parse("test", 3, av, t, NULL, NULL);
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        if (null)
            fclose(null);
        CHECK(r == APP_USAGE, "%s %s: usage error, got %d", bad[i].a, bad[i].b, r);
        CHECK(cm.nsets == 0, "%s %s: nothing collected", bad[i].a, bad[i].b);
        cli_model_free(&cm);
    }
}

int main(void)
{
    test_forms();
    test_values();
    test_unknown();
    test_help_asked();
    test_help_rows();
    test_suggest();
    test_size();
    test_model_options();
    return check_summary("test_options");
}
