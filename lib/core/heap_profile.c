/* lib/core/heap_profile.c - sampling the live heap by allocation stack
 * (cog/heap_profile.h).
 *
 * Hot path (heap_profile.h): one relaxed load while off; while on, a
 * thread-local byte countdown and a compare with the start it was drawn
 * for. A sample (rare: one per `interval` bytes)
 * unwinds the stack outside any lock, then takes `lock` to find or add its
 * (stack, type) record and to enter the object in the live-sample map, and
 * only then sets COG_GC_SAMPLED in the object's ob_gc (atomic fetch_or: the
 * collector may CAS ob_gc meanwhile). The free path sees the flag (it reads
 * ob_gc after the object's last reference was dropped; the flag was set by
 * the allocating thread before it could publish the object, and every
 * publication orders it) and removes the sample under `lock`. A flag whose
 * sample a reset has forgotten finds nothing to remove.
 */
#include <errno.h>
#include <execinfo.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/base/error.h"
#include "lib/core/heap_profile.h"
#include "lib/core/object_internal.h"

atomic_uint cog__heap_profile_epoch;
__thread intptr_t cog__heap_profile_left __attribute__((tls_model("initial-exec")));
__thread unsigned cog__heap_profile_seen __attribute__((tls_model("initial-exec")));

/* Frames of the sampler itself and of cog_new / cog_new_var (the hook is
 * inlined into them); room for one more (a sanitizer's interceptor). */
#define SKIP_FRAMES 2
#define RECORD_SLOTS (2 * COG_HEAP_MAX_RECORDS) /* load factor <= 1/2 */

typedef struct record {
    cog_heap_record r;
    uint64_t hash; /* 0: empty slot */
} record;

/* A live sample: the object, its record, its weight. */
typedef struct live {
    const cog_object *o; /* NULL: empty slot */
    uint32_t rec;
    uint32_t size;
    double weight;
} live;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic size_t interval; /* written under lock; read relaxed */
static unsigned starts;         /* under lock: numbers the starts */
static record *records;         /* RECORD_SLOTS, under lock */
static size_t nrecords;
static live *lives;             /* open addressing, under lock */
static size_t lives_cap, nlives;
static atomic_ullong dropped;

/* Per thread: an xorshift state. */
static __thread uint64_t rng;

static uint64_t next_random(void) {
    if (!rng) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        rng = (((uint64_t)(uintptr_t)&rng * 0x9E3779B97F4A7C15ull) ^ (uint64_t)t.tv_nsec) | 1;
    }
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* An exponentially distributed gap with the given mean (at least 1). */
static intptr_t draw_gap(size_t mean) {
    if (mean <= 1) return 0;
    double u = ((double)(next_random() >> 11) + 0.5) / 9007199254740992.0; /* (0,1) */
    double g = -log(u) * (double)mean;
    return g > (double)INTPTR_MAX / 2 ? INTPTR_MAX / 2 : (intptr_t)g;
}

static uint64_t hash_stack(const void *const *frames, int depth, const cog_type *type) {
    uint64_t h = (uint64_t)(uintptr_t)type * 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < depth; i++) {
        h ^= (uint64_t)(uintptr_t)frames[i];
        h *= 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    }
    return h ? h : 1;
}

/* Under lock. The record's slot, or -1 if the table is full. */
static long find_record(const void *const *frames, int depth, const cog_type *type) {
    uint64_t h = hash_stack(frames, depth, type);
    size_t i = (size_t)h & (RECORD_SLOTS - 1);
    for (;; i = (i + 1) & (RECORD_SLOTS - 1)) {
        record *e = &records[i];
        if (!e->hash) break;
        if (e->hash == h && e->r.type == type && e->r.depth == depth &&
            !memcmp(e->r.frames, frames, (size_t)depth * sizeof *frames))
            return (long)i;
    }
    if (nrecords == COG_HEAP_MAX_RECORDS) return -1;
    nrecords++;
    record *e = &records[i];
    memset(e, 0, sizeof *e);
    e->hash = h;
    e->r.type = type;
    e->r.depth = depth;
    memcpy(e->r.frames, frames, (size_t)depth * sizeof *frames);
    return (long)i;
}

static size_t slot_of(const cog_object *o, size_t cap) {
    uint64_t h = (uint64_t)(uintptr_t)o * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (cap - 1);
}

/* Under lock: room for one more live sample (load factor <= 1/2). */
static int reserve_live(void) {
    if (2 * (nlives + 1) <= lives_cap) return 1;
    size_t ncap = lives_cap ? 2 * lives_cap : 1024;
    live *n = calloc(ncap, sizeof *n);
    if (!n) return 0;
    for (size_t i = 0; i < lives_cap; i++) {
        if (!lives[i].o) continue;
        size_t j = slot_of(lives[i].o, ncap);
        while (n[j].o) j = (j + 1) & (ncap - 1);
        n[j] = lives[i];
    }
    free(lives);
    lives = n;
    lives_cap = ncap;
    return 1;
}

__attribute__((noinline)) void cog__heap_profile_sample(cog_object *o, size_t size) {
    size_t mean = atomic_load_explicit(&interval, memory_order_relaxed);
    unsigned e = atomic_load_explicit(&cog__heap_profile_epoch, memory_order_relaxed);
    if (!mean || !e) return; /* stopped meanwhile */
    if (e != cog__heap_profile_seen) {
        /* The thread's first allocation since this start: draw its first
         * gap, counting this allocation into it. */
        cog__heap_profile_seen = e;
        cog__heap_profile_left = draw_gap(mean) - (intptr_t)size;
        if (cog__heap_profile_left >= 0) return;
    }
    cog__heap_profile_left = draw_gap(mean);
    double weight = mean <= 1 ? 1.0 : 1.0 / -expm1(-(double)size / (double)mean);

    void *frames[COG_HEAP_MAX_DEPTH + SKIP_FRAMES + 1];
    int n = backtrace(frames, COG_HEAP_MAX_DEPTH + SKIP_FRAMES + 1);
    /* The stack starts at the caller of cog_new / cog_new_var: after our
     * own return address into them. Found, not counted, because a
     * sanitizer's backtrace interceptor adds a frame of its own. */
    void *into_new = __builtin_return_address(0);
    int first = SKIP_FRAMES;
    for (int i = 0; i < n && i <= SKIP_FRAMES + 2; i++)
        if (frames[i] == into_new) {
            first = i + 1;
            break;
        }
    int depth = n > first ? n - first : 0;
    if (depth > COG_HEAP_MAX_DEPTH) depth = COG_HEAP_MAX_DEPTH;
    const void *const *stack = (const void *const *)frames + first;

    pthread_mutex_lock(&lock);
    long ri = records ? find_record(stack, depth, o->ob_type) : -1;
    if (ri < 0 || size > UINT32_MAX || !reserve_live()) {
        pthread_mutex_unlock(&lock);
        atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
        return;
    }
    cog_heap_record *r = &records[ri].r;
    r->live_count += weight, r->live_bytes += weight * (double)size;
    r->alloc_count += weight, r->alloc_bytes += weight * (double)size;
    size_t j = slot_of(o, lives_cap);
    while (lives[j].o) j = (j + 1) & (lives_cap - 1);
    lives[j] = (live){o, (uint32_t)ri, (uint32_t)size, weight};
    nlives++;
    pthread_mutex_unlock(&lock);
    atomic_fetch_or_explicit(&o->ob_gc, COG_GC_SAMPLED, memory_order_relaxed);
}

void cog__heap_profile_forget(const cog_object *o) {
    pthread_mutex_lock(&lock);
    if (!lives_cap) goto out;
    size_t i = slot_of(o, lives_cap);
    while (lives[i].o && lives[i].o != o) i = (i + 1) & (lives_cap - 1);
    if (!lives[i].o) goto out; /* forgotten by a reset */
    cog_heap_record *r = &records[lives[i].rec].r;
    r->live_count -= lives[i].weight;
    r->live_bytes -= lives[i].weight * lives[i].size;
    nlives--;
    /* Backward-shift deletion keeps every probe sequence unbroken. */
    for (size_t j = (i + 1) & (lives_cap - 1); lives[j].o; j = (j + 1) & (lives_cap - 1)) {
        size_t home = slot_of(lives[j].o, lives_cap);
        /* j's entry may move to i if its home is not in (i, j]. */
        if (((j - home) & (lives_cap - 1)) >= ((j - i) & (lives_cap - 1))) {
            lives[i] = lives[j];
            i = j;
        }
    }
    lives[i].o = NULL;
out:
    pthread_mutex_unlock(&lock);
}

/* fork (lib/core/runtime.c calls these last in prepare, first after): a
 * child must not inherit `lock` held by a thread that does not exist there
 * (its first sample, or the free of a sampled object, would wait forever).
 * Taken after the runtime's own prepare, when the collector is paused, so
 * no thread that the prepare waits for can be waiting for it. */
void cog__heap_profile_fork_prepare(void) { pthread_mutex_lock(&lock); }
void cog__heap_profile_fork_release(void) { pthread_mutex_unlock(&lock); }

void cog__heap_profile_test_hold(unsigned ms) {
    pthread_mutex_lock(&lock);
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
    pthread_mutex_unlock(&lock);
}

int cog_heap_profile_start(size_t every) {
    if (!every) every = COG_HEAP_DEFAULT_INTERVAL;
    /* glibc's backtrace loads libgcc_s (dlopen, malloc) on its first call:
     * do it here, not in the middle of an allocation. */
    void *warm[4];
    backtrace(warm, 4);
    pthread_mutex_lock(&lock);
    if (!records) {
        records = calloc(RECORD_SLOTS, sizeof *records);
        if (!records) {
            pthread_mutex_unlock(&lock);
            return cog_error(COG_ENOMEM, "cog_heap_profile_start: out of memory");
        }
    }
    atomic_store_explicit(&interval, every, memory_order_relaxed);
    if (++starts == 0) starts = 1; /* 0 means off */
    atomic_store_explicit(&cog__heap_profile_epoch, starts, memory_order_relaxed);
    pthread_mutex_unlock(&lock);
    return COG_OK;
}

void cog_heap_profile_stop(void) {
    pthread_mutex_lock(&lock);
    atomic_store_explicit(&cog__heap_profile_epoch, 0, memory_order_relaxed);
    atomic_store_explicit(&interval, 0, memory_order_relaxed);
    pthread_mutex_unlock(&lock);
}

size_t cog_heap_profile_interval(void) {
    return atomic_load_explicit(&interval, memory_order_relaxed);
}

void cog_heap_profile_reset(void) {
    pthread_mutex_lock(&lock);
    if (records) memset(records, 0, RECORD_SLOTS * sizeof *records);
    nrecords = 0;
    free(lives);
    lives = NULL;
    lives_cap = nlives = 0;
    pthread_mutex_unlock(&lock);
    atomic_store_explicit(&dropped, 0, memory_order_relaxed);
}

unsigned long long cog_heap_profile_dropped(void) {
    return atomic_load_explicit(&dropped, memory_order_relaxed);
}

size_t cog__heap_profile_copy(cog_heap_record *out, size_t cap) {
    pthread_mutex_lock(&lock);
    size_t n = 0;
    for (size_t i = 0; records && i < RECORD_SLOTS; i++) {
        if (!records[i].hash) continue;
        if (n < cap) out[n] = records[i].r;
        n++;
    }
    pthread_mutex_unlock(&lock);
    return n;
}

void cog__heap_profile_from_env(void) {
    const char *v = getenv("COG_HEAP_PROFILE");
    if (!v || !*v) return;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-') {
        fprintf(stderr, "cog: ignoring COG_HEAP_PROFILE=\"%s\": not a byte count\n", v);
        return;
    }
    if (cog_heap_profile_start((size_t)n) != COG_OK)
        fprintf(stderr, "cog: ignoring COG_HEAP_PROFILE=\"%s\": %s\n", v, cog_last_error());
}
