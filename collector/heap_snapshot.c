/* collector/heap_snapshot.c - snapshots of the heap profile, their
 * comparison, and the profile formats other tools read
 * (cog/heap_profile.h). The samples come from lib/core/heap_profile.c; the
 * exact per-type figures from the heap walk of cog_mem_type_stats. */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cog/heap_profile.h"
#include "cog/mem.h"
#include "lib/base/error.h"
#include "lib/core/heap_profile.h"

struct cog_heap_snapshot {
    cog_heap_record *records;
    size_t nrecords;
    cog_type_stat *types;
    size_t ntypes;
};

cog_heap_snapshot *cog_heap_snapshot_take(void) {
    cog_heap_snapshot *s = calloc(1, sizeof *s);
    if (!s) return cog_error(COG_ENOMEM, "cog_heap_snapshot_take: out of memory"), NULL;
    /* Records only grow between copies (a reset aside): retry until the
     * array was large enough. */
    for (size_t cap = 64;; cap *= 2) {
        free(s->records);
        s->records = malloc(cap * sizeof *s->records);
        if (!s->records) goto oom;
        s->nrecords = cog__heap_profile_copy(s->records, cap);
        if (s->nrecords <= cap) break;
    }
    for (size_t cap = 64;; cap *= 2) {
        free(s->types);
        s->types = malloc(cap * sizeof *s->types);
        if (!s->types) goto oom;
        long n = cog_mem_type_stats(s->types, cap);
        if (n < 0) {
            cog_heap_snapshot_free(s);
            return NULL; /* cog_last_error() says why */
        }
        if ((size_t)n <= cap) {
            s->ntypes = (size_t)n;
            break;
        }
    }
    return s;
oom:
    cog_heap_snapshot_free(s);
    return cog_error(COG_ENOMEM, "cog_heap_snapshot_take: out of memory"), NULL;
}

void cog_heap_snapshot_free(cog_heap_snapshot *s) {
    if (!s) return;
    free(s->records);
    free(s->types);
    free(s);
}

/* ---- Comparison --------------------------------------------------------- */

static int same_stack(const cog_heap_record *a, const cog_heap_record *b) {
    return a->type == b->type && a->depth == b->depth &&
           !memcmp(a->frames, b->frames, (size_t)a->depth * sizeof a->frames[0]);
}

static int by_bytes_diff(const void *pa, const void *pb) {
    const cog_heap_stat *a = pa, *b = pb;
    double da = fabs(a->bytes_diff), db = fabs(b->bytes_diff);
    if (da != db) return da < db ? 1 : -1;
    if (a->bytes != b->bytes) return a->bytes < b->bytes ? 1 : -1;
    return 0;
}

/* Every line, unsorted, into a fresh array (*n lines). NULL when out of
 * memory. Quadratic matching: snapshots hold at most COG_HEAP_MAX_RECORDS
 * records and a few hundred types, and comparisons are interactive. */
static cog_heap_stat *diff_lines(const cog_heap_snapshot *older, const cog_heap_snapshot *newer,
                                 cog_heap_key key, size_t *n) {
    size_t no = older ? (key == COG_HEAP_BY_STACK ? older->nrecords : older->ntypes) : 0;
    size_t nn = key == COG_HEAP_BY_STACK ? newer->nrecords : newer->ntypes;
    cog_heap_stat *v = calloc(no + nn + 1, sizeof *v);
    if (!v) return NULL;
    unsigned char *matched = calloc(no + 1, 1);
    if (!matched) return free(v), NULL;
    size_t k = 0;
    for (size_t i = 0; i < nn; i++, k++) {
        cog_heap_stat *l = &v[k];
        double oc = 0, ob = 0;
        if (key == COG_HEAP_BY_STACK) {
            const cog_heap_record *r = &newer->records[i];
            memcpy(l->frames, r->frames, sizeof l->frames);
            l->depth = r->depth;
            l->type_name = r->type->name;
            l->count = r->live_count, l->bytes = r->live_bytes;
            for (size_t j = 0; j < no; j++)
                if (!matched[j] && same_stack(&older->records[j], r)) {
                    matched[j] = 1, oc = older->records[j].live_count, ob = older->records[j].live_bytes;
                    break;
                }
        } else {
            const cog_type_stat *t = &newer->types[i];
            l->type_name = t->name;
            l->count = (double)t->count, l->bytes = (double)t->bytes;
            for (size_t j = 0; j < no; j++)
                if (!matched[j] && older->types[j].type == t->type) {
                    matched[j] = 1, oc = (double)older->types[j].count, ob = (double)older->types[j].bytes;
                    break;
                }
        }
        l->count_diff = l->count - oc, l->bytes_diff = l->bytes - ob;
        /* A record whose samples all died before both snapshots says
         * nothing: drop the line (its sums are zero up to rounding). */
        if (fabs(l->count) < 0.5 && fabs(l->count_diff) < 0.5) memset(l, 0, sizeof *l), k--;
    }
    for (size_t j = 0; j < no; j++) {
        if (matched[j]) continue;
        cog_heap_stat *l = &v[k++];
        if (key == COG_HEAP_BY_STACK) {
            const cog_heap_record *r = &older->records[j];
            memcpy(l->frames, r->frames, sizeof l->frames);
            l->depth = r->depth;
            l->type_name = r->type->name;
            l->count_diff = -r->live_count, l->bytes_diff = -r->live_bytes;
        } else {
            l->type_name = older->types[j].name;
            l->count_diff = -(double)older->types[j].count;
            l->bytes_diff = -(double)older->types[j].bytes;
        }
    }
    free(matched);
    qsort(v, k, sizeof *v, by_bytes_diff);
    *n = k;
    return v;
}

long cog_heap_snapshot_compare(const cog_heap_snapshot *older, const cog_heap_snapshot *newer,
                               cog_heap_key key, cog_heap_stat *out, size_t cap) {
    if (!newer) return cog_error(COG_EINVAL, "cog_heap_snapshot_compare: newer is NULL");
    if (key != COG_HEAP_BY_STACK && key != COG_HEAP_BY_TYPE)
        return cog_error(COG_EINVAL, "cog_heap_snapshot_compare: bad key %d", (int)key);
    size_t n;
    cog_heap_stat *v = diff_lines(older, newer, key, &n);
    if (!v) return cog_error(COG_ENOMEM, "cog_heap_snapshot_compare: out of memory");
    if (out) memcpy(out, v, (n < cap ? n : cap) * sizeof *v);
    free(v);
    return (long)n;
}

/* ---- Symbols ------------------------------------------------------------ */

/* The name of the function holding return address pc, or its address. A
 * return address points after the call: look up pc - 1 so that a call
 * ending a function is not attributed to the next one. */
static const char *symbol(const void *pc, char *buf, size_t cap) {
    Dl_info info;
    if (dladdr((const char *)pc - 1, &info) && info.dli_sname) return info.dli_sname;
    snprintf(buf, cap, "%p", pc);
    return buf;
}

/* The frame to name a stack by: the innermost one outside libcog's own
 * functions (cog_*), else the innermost. */
static const char *stack_name(const cog_heap_stat *l, char *buf, size_t cap) {
    for (int i = 0; i < l->depth; i++) {
        const char *s = symbol(l->frames[i], buf, cap);
        if (strncmp(s, "cog_", 4) != 0) return s;
    }
    return l->depth ? symbol(l->frames[0], buf, cap) : "(no stack)";
}

int cog_heap_snapshot_print_compare(FILE *f, const cog_heap_snapshot *older,
                                    const cog_heap_snapshot *newer, cog_heap_key key, size_t top) {
    if (!f) return cog_error(COG_EINVAL, "cog_heap_snapshot_print_compare: f is NULL");
    if (!newer) return cog_error(COG_EINVAL, "cog_heap_snapshot_print_compare: newer is NULL");
    if (key != COG_HEAP_BY_STACK && key != COG_HEAP_BY_TYPE)
        return cog_error(COG_EINVAL, "cog_heap_snapshot_print_compare: bad key %d", (int)key);
    if (!top) top = 10;
    size_t n;
    cog_heap_stat *v = diff_lines(older, newer, key, &n);
    if (!v) return cog_error(COG_ENOMEM, "cog_heap_snapshot_print_compare: out of memory");
    fprintf(f, "%14s %14s %12s %12s  %s\n", "bytes", "bytes diff", "objects", "objs diff",
            key == COG_HEAP_BY_STACK ? "type  allocated in (innermost first)" : "type");
    for (size_t i = 0; i < n && i < top; i++) {
        const cog_heap_stat *l = &v[i];
        fprintf(f, "%14.0f %+14.0f %12.0f %+12.0f  %s", l->bytes, l->bytes_diff, l->count,
                l->count_diff, l->type_name);
        if (key == COG_HEAP_BY_STACK) {
            char buf[32];
            fprintf(f, "  %s", stack_name(l, buf, sizeof buf));
            int shown = 0;
            for (int j = 0; j < l->depth && shown < 4; j++) {
                const char *s = symbol(l->frames[j], buf, sizeof buf);
                fprintf(f, "%s%s", shown ? " < " : " [", s);
                shown++;
            }
            if (shown) fputs(l->depth > shown ? " < ...]" : "]", f);
        }
        fputc('\n', f);
    }
    free(v);
    return ferror(f) ? cog_error(COG_EINVAL, "cog_heap_snapshot_print_compare: write failed")
                     : COG_OK;
}

/* ---- Formats ------------------------------------------------------------ */

static unsigned long long rounded(double x) { return x > 0 ? (unsigned long long)llround(x) : 0; }

int cog_heap_snapshot_write_pprof(const cog_heap_snapshot *s, FILE *f) {
    if (!s || !f) return cog_error(COG_EINVAL, "cog_heap_snapshot_write_pprof: NULL argument");
    double lc = 0, lb = 0, ac = 0, ab = 0;
    for (size_t i = 0; i < s->nrecords; i++) {
        lc += s->records[i].live_count, lb += s->records[i].live_bytes;
        ac += s->records[i].alloc_count, ab += s->records[i].alloc_bytes;
    }
    /* "heapprofile": the figures are already unbiased estimates, so pprof
     * must not scale them again (it would for "heap_v2/RATE"). */
    fprintf(f, "heap profile: %llu: %llu [%llu: %llu] @ heapprofile\n", rounded(lc), rounded(lb),
            rounded(ac), rounded(ab));
    for (size_t i = 0; i < s->nrecords; i++) {
        const cog_heap_record *r = &s->records[i];
        if (!r->depth) continue;
        fprintf(f, "%llu: %llu [%llu: %llu] @", rounded(r->live_count), rounded(r->live_bytes),
                rounded(r->alloc_count), rounded(r->alloc_bytes));
        for (int j = 0; j < r->depth; j++) fprintf(f, " %p", r->frames[j]);
        fputc('\n', f);
    }
    /* pprof maps the addresses to the binary and shared libraries with it. */
    fputs("\nMAPPED_LIBRARIES:\n", f);
    FILE *maps = fopen("/proc/self/maps", "r");
    if (maps) {
        char line[4096];
        while (fgets(line, sizeof line, maps)) fputs(line, f);
        fclose(maps);
    }
    return ferror(f) ? cog_error(COG_EINVAL, "cog_heap_snapshot_write_pprof: write failed")
                     : COG_OK;
}

int cog_heap_snapshot_write_folded(const cog_heap_snapshot *s, FILE *f) {
    if (!s || !f) return cog_error(COG_EINVAL, "cog_heap_snapshot_write_folded: NULL argument");
    for (size_t i = 0; i < s->nrecords; i++) {
        const cog_heap_record *r = &s->records[i];
        unsigned long long bytes = rounded(r->live_bytes);
        if (!bytes) continue;
        /* Outermost first, as flamegraph.pl reads them; the type as the
         * leaf, so a stack's types stay apart. */
        for (int j = r->depth - 1; j >= 0; j--) {
            char buf[32];
            fprintf(f, "%s;", symbol(r->frames[j], buf, sizeof buf));
        }
        fprintf(f, "[%s] %llu\n", r->type->name, bytes);
    }
    return ferror(f) ? cog_error(COG_EINVAL, "cog_heap_snapshot_write_folded: write failed")
                     : COG_OK;
}
