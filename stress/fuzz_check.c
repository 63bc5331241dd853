/* stress/fuzz_check.c - paced full memory checks for the fuzz targets (see
 * fuzz_check.h for the policy). */
#include "stress/fuzz_check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/rcu.h"
#include "cog/cog.h"
#include "tests/test_types.h"

int cog_fuzz_strict_every; /* 0: fuzz_check_setup decides */

static const char *target = "fuzz";
static void (*settled_hook)(void), (*shutdown_hook)(void);

/* The baseline, taken settled after a full check (or the first input). */
static int have_base;
static uint64_t base_blocks, base_interned;

/* The inputs since the last full check, concatenated (static: a malloc kept
 * across inputs would make libFuzzer's per-input malloc/free balance look
 * like a leak). Inputs that do not fit are counted, not kept. */
#define WIN_MAX 4096
#define WIN_BYTES (1u << 20)
static uint8_t win_data[WIN_BYTES];
static size_t win_end[WIN_MAX];
static int win_n, win_dropped;

void fuzz_fail(const char *what) {
    fprintf(stderr, "%s: FAIL: %s (last error: %s)\n", target, what, cog_last_error());
    abort();
}

static uint64_t interned(void) {
    cog_intern_stats is;
    FUZZ_CHECK(cog_intern_get_stats(&is) == COG_OK);
    return is.count;
}

void fuzz_settle(int strict) {
    FUZZ_CHECK(cog_gc_set_debug(0) == COG_OK);
    cog_gc_clear_garbage();
    cog_gc_unfreeze();
    FUZZ_CHECK(cog_gc_collect(2) >= 0);
    if (strict) {
        cog_safepoint(); /* flushes this thread's batch of deferred frees */
        cog_thread_offline();
        cog_rcu_barrier();
        cog_thread_online();
    }
    cog_safepoint(); /* takes back frees the collector made into our pools */
}

/* Everything dropped, settled: released interned strings have left the
 * table (their reviews ran) and the blocks of those that died are freed a
 * grace period later (the second settle's barrier). */
static void settle_fully(void) {
    fuzz_settle(1);
    FUZZ_CHECK(cog_str_intern_sync() == COG_OK);
    fuzz_settle(1);
    if (settled_hook) settled_hook();
}

static void dump_window(void) {
    const char *dir = getenv("COG_FUZZ_WINDOW_DIR");
    char def[64];
    if (!dir || !*dir) {
        snprintf(def, sizeof def, "cog-fuzz-window-%ld", (long)getpid());
        dir = def;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        perror(dir);
        return;
    }
    size_t start = 0;
    for (int i = 0; i < win_n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%04d", dir, i);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(win_data + start, 1, win_end[i] - start, f) != win_end[i] - start)
            perror(path);
        if (f) fclose(f);
        start = win_end[i];
    }
    fprintf(stderr,
            "%s: the %d inputs since the last full check are in %s/ (in order; %d more did "
            "not fit); replay each with full checks: <fuzzer> %s/* (files: full checks)\n",
            target, win_n, dir, win_dropped, dir);
}

static void full_check(void) {
    settle_fully();
    uint64_t blocks = test_blocks_in_use(), strings = interned();
    if (blocks == base_blocks && strings == base_interned) {
        win_n = win_dropped = 0;
        return;
    }
    fprintf(stderr, "%s: %llu blocks in use (%llu at baseline), %llu interned (%llu)\n", target,
            (unsigned long long)blocks, (unsigned long long)base_blocks,
            (unsigned long long)strings, (unsigned long long)base_interned);
    cog_mem_stats_print(stderr);
    if (cog_fuzz_strict_every > 1) dump_window();
    fuzz_fail(blocks != base_blocks ? "memory not back to baseline"
                                    : "intern table not back to baseline");
}

/* libFuzzer's normal exit (time or run limit) checks the last window;
 * crashes leave through _exit and skip this. */
static void final_check(void) {
    if (win_n + win_dropped > 0 && have_base && cog_is_initialized() &&
        cog_thread_is_attached())
        full_check();
}

static int any_file_arg(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (argv[i][0] != '-' && stat(argv[i], &st) == 0 && S_ISREG(st.st_mode)) return 1;
    }
    return 0;
}

void fuzz_check_setup(const char *name, int *argc, char ***argv) {
    target = name;
    const char *full = getenv("COG_FUZZ_FULL_CHECKS");
    const char *every = getenv("COG_FUZZ_CHECK_EVERY");
    if ((full && atoi(full) == 1) || (argc && argv && any_file_arg(*argc, *argv)))
        cog_fuzz_strict_every = 1;
    else if (cog_fuzz_strict_every <= 0)
        cog_fuzz_strict_every = every && atoi(every) > 0 ? atoi(every) : 256;
    if (cog_fuzz_strict_every > WIN_MAX) cog_fuzz_strict_every = WIN_MAX;
    static int registered;
    if (!registered++) atexit(final_check);
}

void fuzz_check_on_settled(void (*fn)(void)) { settled_hook = fn; }
void fuzz_check_on_shutdown(void (*fn)(void)) { shutdown_hook = fn; }

int fuzz_shutdown(void) {
    if (!cog_is_initialized()) return COG_OK;
    if (shutdown_hook) shutdown_hook();
    return cog_shutdown();
}

int fuzz_check_begin(const uint8_t *data, size_t size) {
    if (!have_base) {
        settle_fully();
        base_blocks = test_blocks_in_use();
        base_interned = interned();
        have_base = 1;
    }
    size_t start = win_n ? win_end[win_n - 1] : 0;
    if (win_n < WIN_MAX && size <= WIN_BYTES - start) {
        if (size) memcpy(win_data + start, data, size);
        win_end[win_n++] = start + size;
    } else {
        win_dropped++;
    }
    return win_n + win_dropped >= cog_fuzz_strict_every;
}

void fuzz_check_end(int full) {
    if (full) full_check();
}
