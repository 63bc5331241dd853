/* lib/core/mem_trace.c - sampled allocation tracing (cog_mem_trace_*).
 *
 * The allocation path tests cog__mem_trace_every (relaxed) and, when on,
 * counts down a thread-local counter; only every N-th allocation of a
 * thread takes the site table's mutex. The table is open addressing on
 * (caller, type) with a fixed capacity, so recording never allocates.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cog/mem.h"
#include "lib/base/error.h"
#include "lib/core/mem_trace.h"

atomic_uint cog__mem_trace_every;

#define TABLE_SIZE (2 * COG_MEM_TRACE_MAX_SITES) /* load factor <= 1/2 */

typedef struct site {
    const void *caller;
    const cog_type *type;
    uint64_t samples, bytes;
} site;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static site table[TABLE_SIZE]; /* under lock */
static size_t nsites;          /* under lock */
static uint64_t dropped;       /* under lock */

static __thread unsigned countdown;

static size_t hash(const void *caller, const cog_type *type) {
    uint64_t h = (uint64_t)(uintptr_t)caller * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)type;
    h ^= h >> 29;
    return (size_t)(h * 0xBF58476D1CE4E5B9ull >> 40) & (TABLE_SIZE - 1);
}

void cog__mem_trace_sample(const cog_object *o, const void *caller) {
    unsigned every = atomic_load_explicit(&cog__mem_trace_every, memory_order_relaxed);
    if (!every) return;
    if (countdown > 1 && countdown <= every) {
        countdown--;
        return;
    }
    countdown = every;
    const cog_type *type = o->ob_type;
    size_t bytes = cog_object_size(o);
    pthread_mutex_lock(&lock);
    size_t i = hash(caller, type);
    while (table[i].caller && (table[i].caller != caller || table[i].type != type))
        i = (i + 1) & (TABLE_SIZE - 1);
    if (!table[i].caller) {
        if (nsites == COG_MEM_TRACE_MAX_SITES) {
            dropped++;
            pthread_mutex_unlock(&lock);
            return;
        }
        table[i].caller = caller;
        table[i].type = type;
        nsites++;
    }
    table[i].samples++;
    table[i].bytes += bytes;
    pthread_mutex_unlock(&lock);
}

int cog_mem_trace_start(unsigned sample_every) {
    if (sample_every == 0)
        return cog_error(COG_EINVAL, "cog_mem_trace_start: sample_every must be >= 1");
    atomic_store_explicit(&cog__mem_trace_every, sample_every, memory_order_relaxed);
    return COG_OK;
}

void cog_mem_trace_stop(void) {
    atomic_store_explicit(&cog__mem_trace_every, 0, memory_order_relaxed);
}

unsigned cog_mem_trace_sample_every(void) {
    return atomic_load_explicit(&cog__mem_trace_every, memory_order_relaxed);
}

static int by_samples(const void *a, const void *b) {
    const cog_trace_site *x = a, *y = b;
    if (x->samples != y->samples) return x->samples < y->samples ? 1 : -1;
    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

size_t cog_mem_trace_top(cog_trace_site *out, size_t cap, uint64_t *dropped_out) {
    cog_trace_site *all = malloc(COG_MEM_TRACE_MAX_SITES * sizeof *all);
    size_t n = 0;
    pthread_mutex_lock(&lock);
    size_t total = nsites;
    if (dropped_out) *dropped_out = dropped;
    if (all)
        for (size_t i = 0; i < TABLE_SIZE; i++)
            if (table[i].caller)
                all[n++] = (cog_trace_site){table[i].caller, table[i].type->name,
                                            table[i].samples, table[i].bytes};
    pthread_mutex_unlock(&lock);
    if (!all) {
        cog_error(COG_ENOMEM, "cog_mem_trace_top: out of memory");
        return 0;
    }
    qsort(all, n, sizeof *all, by_samples);
    if (n && cap) memcpy(out, all, (n < cap ? n : cap) * sizeof *out);
    free(all);
    return total;
}

void cog_mem_trace_clear(void) {
    pthread_mutex_lock(&lock);
    memset(table, 0, sizeof table);
    nsites = 0;
    dropped = 0;
    pthread_mutex_unlock(&lock);
}

void cog_mem_trace_print(FILE *f, size_t top) {
    if (!top) top = 20;
    cog_trace_site *v = calloc(top, sizeof *v);
    if (!v) return;
    uint64_t drop = 0;
    size_t n = cog_mem_trace_top(v, top, &drop);
    unsigned every = cog_mem_trace_sample_every();
    fprintf(f, "allocation sites (1 in %u sampled, %zu sites, %llu dropped)\n", every, n,
            (unsigned long long)drop);
    for (size_t i = 0; i < n && i < top; i++) {
        Dl_info info;
        const char *sym = NULL;
        if (dladdr(v[i].caller, &info) && info.dli_sname) sym = info.dli_sname;
        fprintf(f, "%10llu samples %12llu bytes  %-16s %p %s\n",
                (unsigned long long)v[i].samples, (unsigned long long)v[i].bytes,
                v[i].type_name, v[i].caller, sym ? sym : "?");
    }
    free(v);
}
