/* collector/gc_env.c - environment variables read at cog_init:
 *   COG_GC_THRESHOLD=t0[,t1[,t2]]  thresholds (omitted ones unchanged)
 *   COG_GC_ENABLE=0|1              automatic collection off / on
 *   COG_GCTRACE=0|1                one stderr line per collection
 *   COG_GC_PACING=factor           pacing factor (0 = off)
 *   COG_GC_DUTY_CAP=percent        window duty cap
 *   COG_GC_SLICING=0|1|2           sliced collections off / auto / always
 * (COG_CONTROL_SOCKET is read by collector/control.c.) A bad value is
 * ignored with a warning on stderr naming the variable; cog_init still
 * succeeds with the previous settings. See docs/tuning.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "collector/gc_internal.h"

/* Strict decimal long: the whole string, no overflow. */
static int parse_long(const char *s, const char **end, long *out) {
    if (!(*s == '-' || (*s >= '0' && *s <= '9'))) return 0;
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s) return 0;
    *out = v;
    *end = e;
    return 1;
}

static int parse_bool(const char *s, int *out) {
    if ((s[0] == '0' || s[0] == '1') && s[1] == '\0') {
        *out = s[0] == '1';
        return 1;
    }
    return 0;
}

static void read_threshold(void) {
    const char *s = getenv("COG_GC_THRESHOLD");
    if (!s) return;
    long t[COG_GC_GENERATIONS];
    cog_gc_get_threshold(t);
    long cur[COG_GC_GENERATIONS] = {t[0], t[1], t[2]};
    const char *p = s;
    int i = 0, ok = 1;
    for (; i < COG_GC_GENERATIONS; i++) {
        const char *e;
        if (!parse_long(p, &e, &t[i])) {
            ok = 0;
            break;
        }
        p = e;
        if (*p == '\0') break;
        if (*p != ',' || i == COG_GC_GENERATIONS - 1) {
            ok = 0;
            break;
        }
        p++;
    }
    if (ok && cog_gc_set_threshold(t[0], t[1], t[2]) == COG_OK) return;
    fprintf(stderr,
            "cog: ignoring COG_GC_THRESHOLD=\"%s\": expected t0[,t1[,t2]] (decimal, t0 >= 0, "
            "t1 and t2 > 0); keeping %ld,%ld,%ld\n",
            s, cur[0], cur[1], cur[2]);
}

static void read_pacing(void) {
    const char *s = getenv("COG_GC_PACING");
    if (!s) return;
    const char *e;
    long v;
    if (parse_long(s, &e, &v) && *e == '\0' && cog_gc_set_pacing(v) == COG_OK) return;
    fprintf(stderr, "cog: ignoring COG_GC_PACING=\"%s\": expected a decimal factor >= 0; "
            "keeping %ld\n", s, cog_gc_get_pacing());
}

static void read_duty_cap(void) {
    const char *s = getenv("COG_GC_DUTY_CAP");
    if (!s) return;
    const char *e;
    long v;
    if (parse_long(s, &e, &v) && *e == '\0' && v >= 0 && v <= 100 &&
        cog_gc_set_duty_cap((int)v) == COG_OK)
        return;
    fprintf(stderr, "cog: ignoring COG_GC_DUTY_CAP=\"%s\": expected a percentage 0..100; "
            "keeping %d\n", s, cog_gc_get_duty_cap());
}

static void read_slicing(void) {
    const char *s = getenv("COG_GC_SLICING");
    if (!s) return;
    if (s[0] >= '0' && s[0] <= '2' && s[1] == '\0' && cog_gc_set_slicing(s[0] - '0') == COG_OK)
        return;
    fprintf(stderr, "cog: ignoring COG_GC_SLICING=\"%s\": expected 0, 1 or 2; keeping %d\n", s,
            cog_gc_get_slicing());
}

static void read_bool(const char *name, void (*apply)(int)) {
    const char *s = getenv(name);
    if (!s) return;
    int v;
    if (parse_bool(s, &v)) {
        apply(v);
        return;
    }
    fprintf(stderr, "cog: ignoring %s=\"%s\": expected 0 or 1\n", name, s);
}

static void apply_enable(int on) {
    if (on) cog_gc_enable();
    else cog_gc_disable();
}

void cog_gc_read_env(void) {
    read_threshold();
    read_pacing();
    read_duty_cap();
    read_slicing();
    read_bool("COG_GC_ENABLE", apply_enable);
    read_bool("COG_GCTRACE", cog_gc_set_trace);
}
