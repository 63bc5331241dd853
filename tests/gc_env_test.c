/* tests/gc_env_test.c - environment variables read at cog_init
 * (COG_GC_THRESHOLD, COG_GC_ENABLE, COG_GCTRACE), bad values, and the
 * gctrace line printed per collection. stderr is captured in a file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/test_types.h"
#include "tests/fixture.h"

static int saved_stderr = -1;
static FILE *capture;

static void capture_start(void) {
    fflush(stderr);
    capture = tmpfile();
    assert_non_null(capture);
    saved_stderr = dup(2);
    dup2(fileno(capture), 2);
}

/* Stop capturing; returns what was written (caller frees). */
static char *capture_end(void) {
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    long len = ftell(capture);
    char *text = calloc(1, (size_t)len + 1);
    rewind(capture);
    if (len > 0 && fread(text, 1, (size_t)len, capture) != (size_t)len) abort();
    fclose(capture);
    return text;
}

static void reset(void) {
    unsetenv("COG_GC_THRESHOLD");
    unsetenv("COG_GC_ENABLE");
    unsetenv("COG_GCTRACE");
    unsetenv("COG_GC_PACING");
    unsetenv("COG_GC_DUTY_CAP");
    unsetenv("COG_GC_SLICING");
}

/* Back to the defaults so each case starts from them. */
static int teardown(void **state) {
    reset();
    return test_teardown(state);
}

/* Each of the n values of `name` is ignored with a warning naming the
 * variable, and cog_init still succeeds: get() reads `kept` after each. */
static void assert_bad_values_kept(const char *name, const char *const *bad, size_t n,
                                   long (*get)(void), long kept) {
    char warning[64];
    snprintf(warning, sizeof warning, "ignoring %s", name);
    for (size_t i = 0; i < n; i++) {
        setenv(name, bad[i], 1);
        capture_start();
        int rc = cog_init();
        char *err = capture_end();
        assert_int_equal(rc, COG_OK);
        assert_int_equal(get(), kept);
        assert_non_null(strstr(err, warning));
        free(err);
        assert_int_equal(cog_shutdown(), COG_OK);
    }
}

static long get_duty_cap(void) { return cog_gc_get_duty_cap(); }
static long get_slicing(void) { return cog_gc_get_slicing(); }

static void assert_thresholds(long a, long b, long c) {
    long t[3];
    cog_gc_get_threshold(t);
    assert_int_equal(t[0], a);
    assert_int_equal(t[1], b);
    assert_int_equal(t[2], c);
}

static void threshold_triple_and_prefix(void **state) {
    (void)state;
    setenv("COG_GC_THRESHOLD", "700,11,12", 1);
    assert_int_equal(cog_init(), COG_OK);
    assert_thresholds(700, 11, 12);
    cog_gc_set_threshold(2000, 10, 10);
    assert_int_equal(cog_shutdown(), COG_OK);
    setenv("COG_GC_THRESHOLD", "500", 1);
    assert_int_equal(cog_init(), COG_OK);
    assert_thresholds(500, 10, 10);
    cog_gc_set_threshold(2000, 10, 10);
    assert_int_equal(cog_shutdown(), COG_OK);
    setenv("COG_GC_THRESHOLD", "0,3", 1); /* 0: no automatic collection */
    assert_int_equal(cog_init(), COG_OK);
    assert_thresholds(0, 3, 10);
}

static void enable_and_trace_flags(void **state) {
    (void)state;
    setenv("COG_GC_ENABLE", "0", 1);
    setenv("COG_GCTRACE", "1", 1);
    assert_int_equal(cog_init(), COG_OK);
    assert_int_equal(cog_gc_is_enabled(), 0);
    assert_int_equal(cog_gc_get_trace(), 1);
    cog_gc_enable();
    cog_gc_set_trace(0);
    assert_int_equal(cog_shutdown(), COG_OK);
    setenv("COG_GC_ENABLE", "1", 1);
    setenv("COG_GCTRACE", "0", 1);
    cog_gc_disable();
    assert_int_equal(cog_init(), COG_OK);
    assert_int_equal(cog_gc_is_enabled(), 1);
    assert_int_equal(cog_gc_get_trace(), 0);
}

static void pacing_factor(void **state) {
    (void)state;
    setenv("COG_GC_PACING", "8", 1);
    assert_int_equal(cog_init(), COG_OK);
    assert_int_equal(cog_gc_get_pacing(), 8);
    assert_int_equal(cog_shutdown(), COG_OK);
    static const char *const bad[] = {"-1", "x", "8x", ""};
    assert_bad_values_kept("COG_GC_PACING", bad, sizeof bad / sizeof *bad, cog_gc_get_pacing, 8);
    setenv("COG_GC_PACING", "64", 1);
    assert_int_equal(cog_init(), COG_OK);
    assert_int_equal(cog_gc_get_pacing(), 64);
}

static void duty_cap(void **state) {
    (void)state;
    setenv("COG_GC_DUTY_CAP", "35", 1);
    assert_int_equal(cog_init(), COG_OK);
    assert_int_equal(cog_gc_get_duty_cap(), 35);
    assert_int_equal(cog_shutdown(), COG_OK);
    static const char *const bad[] = {"-1", "101", "x", "20%", ""};
    assert_bad_values_kept("COG_GC_DUTY_CAP", bad, sizeof bad / sizeof *bad, get_duty_cap, 35);
    assert_int_equal(cog_gc_set_duty_cap(101), COG_EINVAL);
    assert_int_equal(cog_gc_set_duty_cap(0), COG_OK);
    assert_int_equal(cog_gc_get_duty_cap(), 0);
}

static void slicing_mode(void **state) {
    (void)state;
    setenv("COG_GC_SLICING", "2", 1);
    assert_int_equal(cog_init(), COG_OK);
    assert_int_equal(cog_gc_get_slicing(), COG_GC_SLICING_ALWAYS);
    assert_int_equal(cog_shutdown(), COG_OK);
    setenv("COG_GC_SLICING", "0", 1);
    assert_int_equal(cog_init(), COG_OK);
    assert_int_equal(cog_gc_get_slicing(), COG_GC_SLICING_OFF);
    assert_int_equal(cog_shutdown(), COG_OK);
    static const char *const bad[] = {"3", "-1", "on", "1 ", ""};
    assert_bad_values_kept("COG_GC_SLICING", bad, sizeof bad / sizeof *bad, get_slicing,
                           COG_GC_SLICING_OFF);
    assert_int_equal(cog_gc_set_slicing(COG_GC_SLICING_AUTO), COG_OK);
}

static void bad_values_warn_and_keep_defaults(void **state) {
    (void)state;
    static const char *bad_thresholds[] = {"abc",  "-1,10,10", "10,0",  "1,2,3,4", "",
                                           "5,",   " 5",       "5x",    "99999999999999999999999",
                                           "1,,2"};
    for (size_t i = 0; i < sizeof bad_thresholds / sizeof *bad_thresholds; i++) {
        setenv("COG_GC_THRESHOLD", bad_thresholds[i], 1);
        setenv("COG_GC_ENABLE", "yes", 1);
        setenv("COG_GCTRACE", "2", 1);
        capture_start();
        int rc = cog_init();
        char *err = capture_end();
        assert_int_equal(rc, COG_OK);
        assert_thresholds(2000, 10, 10);
        assert_int_equal(cog_gc_is_enabled(), 1);
        assert_int_equal(cog_gc_get_trace(), 0);
        assert_non_null(strstr(err, "COG_GC_THRESHOLD"));
        assert_non_null(strstr(err, "keeping 2000,10,10"));
        assert_non_null(strstr(err, "ignoring COG_GC_ENABLE=\"yes\""));
        assert_non_null(strstr(err, "ignoring COG_GCTRACE=\"2\""));
        free(err);
        assert_int_equal(cog_shutdown(), COG_OK);
    }
}

static void gctrace_prints_one_line_per_collection(void **state) {
    (void)state;
    setenv("COG_GCTRACE", "1", 1);
    assert_int_equal(cog_init(), COG_OK);
    cog_gc_disable();
    test_make_cycle_garbage(1, 2); /* to collect */
    capture_start();
    long found = cog_gc_collect(1);
    cog_gc_set_trace(0);
    cog_gc_collect(0); /* not traced */
    char *err = capture_end();
    assert_int_equal(found, 2);
    assert_non_null(strstr(err, "cog gc "));
    assert_non_null(strstr(err, ": gen 1: "));
    assert_non_null(strstr(err, " 2 collected, 0 uncollectable, "));
    assert_non_null(strstr(err, "pause 0.000 ms, heap ")); /* nobody was paced */
    assert_null(strstr(err, ": gen 0: "));
    /* exactly one line */
    assert_non_null(strchr(err, '\n'));
    assert_null(strchr(strchr(err, '\n') + 1, '\n'));
    free(err);
    cog_gc_set_trace(1);
    assert_int_equal(cog_gc_get_trace(), 1);
    cog_gc_set_trace(0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(threshold_triple_and_prefix, teardown),
        cmocka_unit_test_teardown(enable_and_trace_flags, teardown),
        cmocka_unit_test_teardown(pacing_factor, teardown),
        cmocka_unit_test_teardown(duty_cap, teardown),
        cmocka_unit_test_teardown(slicing_mode, teardown),
        cmocka_unit_test_teardown(bad_values_warn_and_keep_defaults, teardown),
        cmocka_unit_test_teardown(gctrace_prints_one_line_per_collection, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
