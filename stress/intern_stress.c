/* stress/intern_stress.c - the intern table's deferred counts under fire
 * (lib/types/intern.c "Deferred counts").
 *
 * Attached threads intern a small set of overlapping keys (so the same
 * strings are hit by every thread and keep dropping to a tentative zero,
 * being reviewed, dying and being revived), hold some, hand references to
 * each other through exchange slots, drop them on the thread that received
 * them, pass safe points at random intervals, and go offline now and then.
 * An unattached thread takes references out of the slots too and drops
 * them unattached (the atomic path; not in COG_DEBUG builds, where a
 * decref from an unattached thread is reported as misuse). One thread immortalises a few of the
 * keys while the others churn them.
 *
 * Checks while running: every string a thread holds or receives has the
 * bytes of its key and is the interned canonical one (interning the key
 * again while holding it returns the same object: a freed and reused
 * string would fail one or the other, and ASan/TSan see a use after free
 * or a race on it). At the end, after every thread released everything
 * and cog_str_intern_sync, the table is back to its baseline count plus
 * the immortalised keys. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/test_types.h"

#define THREADS 6
#define KEYS 2048
#define PINNED 3 /* keys 0..PINNED-1 are immortalised midway */
#define SLOTS 16
#define KEEP 8

static cog_object *_Atomic slots[SLOTS]; /* strong references or NULL */
static atomic_int attached_done;
static long ops_per_thread;

static void fail(const char *what, cog_object *s) {
    fprintf(stderr, "intern_stress: %s (%p)\n", what, (void *)s);
    abort();
}

static int key_of(int k, char *buf) { return snprintf(buf, 32, "stress-key-%d", k); }

/* A reference we hold must be a canonical string with some key's bytes. */
static void check_any(cog_object *s) {
    if (!cog_str_is_interned(s)) fail("not interned", s);
    const char *d = cog_str_data(s);
    if (strncmp(d, "stress-key-", 11) != 0) fail("bytes of a held string changed", s);
    int k = atoi(d + 11);
    char buf[32];
    int n = key_of(k, buf);
    if (k < 0 || k >= KEYS || !cog_str_equal_bytes(s, buf, (size_t)n))
        fail("bytes of a held string changed", s);
}

/* Attached: also the identity check, interning it again. */
static void check_canonical(cog_object *s) {
    check_any(s);
    const char *d = cog_str_data(s);
    cog_object *again = cog_str_intern(d, cog_str_len(s));
    if (again != s) fail("a held string is not the canonical one", s);
    cog_decref(again);
}

static void *worker(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    int id = (int)((uintptr_t)arg % 1000);
    if (cog_thread_attach() != COG_OK) abort();
    cog_object *keep[KEEP] = {0};
    char buf[32];
    for (long i = 0; i < ops_per_thread; i++) {
        /* A window of 32 keys sliding over all of them (one lap is 64k
         * operations, longer than a review's two grace periods plus
         * liburcu's 10 ms call_rcu batching): the threads' windows overlap,
         * and keys that fall out of them lose their last references, get
         * reviewed and die, or are revived by a straggler. */
        int k = (int)(((unsigned long)(i >> 5) + rand_r(&seed) % 32) % KEYS);
        int n = key_of(k, buf);
        cog_object *s = cog_str_intern(buf, (size_t)n);
        if (!s || !cog_str_equal_bytes(s, buf, (size_t)n)) fail("wrong string", s);
        switch (rand_r(&seed) % 8) {
        case 0: case 1: case 2: /* the benchmark's pattern */
            cog_decref(s);
            break;
        case 3: { /* hand it over; drop what the slot held */
            cog_object *old = atomic_exchange(&slots[rand_r(&seed) % SLOTS], s);
            if (old) {
                check_canonical(old);
                cog_decref(old);
            }
            break;
        }
        case 4: { /* take one out of a slot and keep it */
            cog_object *old = atomic_exchange(&slots[rand_r(&seed) % SLOTS], NULL);
            cog_decref(s);
            s = old;
            if (!s) break;
        }
        /* fall through */
        default: { /* keep it a while */
            int j = (int)(rand_r(&seed) % KEEP);
            if (keep[j]) {
                check_canonical(keep[j]);
                cog_decref(keep[j]);
            }
            keep[j] = s;
            break;
        }
        }
        if (id == 1 && i == ops_per_thread / 2)
            for (int p = 0; p < PINNED; p++) {
                n = key_of(p, buf);
                if (!cog_is_immortal(cog_str_intern_immortal(buf, (size_t)n)))
                    fail("not immortal", NULL);
            }
        unsigned r = rand_r(&seed) % 512;
        if (r < 16) cog_safepoint();
        else if (r == 16) {
            cog_thread_offline();
            sched_yield();
            cog_thread_online();
        }
    }
    for (int j = 0; j < KEEP; j++)
        if (keep[j]) {
            check_canonical(keep[j]);
            cog_decref(keep[j]);
        }
    atomic_fetch_add(&attached_done, 1);
    cog_thread_detach();
    return NULL;
}

/* Not attached: drops references others handed over (the atomic path,
 * registering with liburcu when the count may reach a tentative zero). */
static void *unattached_dropper(void *arg) {
    (void)arg;
    while (atomic_load(&attached_done) < THREADS) {
        for (int i = 0; i < SLOTS; i++) {
            cog_object *s = atomic_exchange(&slots[i], NULL);
            if (s) {
                check_any(s);
                cog_decref(s);
            }
        }
        sched_yield();
    }
    return NULL;
}

int main(void) {
    ops_per_thread = test_scale(200000);
    if (cog_init() != COG_OK) abort();
    cog_intern_stats st;
    if (cog_str_intern_sync() != COG_OK || cog_intern_get_stats(&st) != COG_OK) abort();
    uint64_t base = st.count, lookups0 = st.lookups;

    pthread_t th[THREADS], dropper;
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1000 * (i * 7919 + 1)));
#ifndef COG_DEBUG
    pthread_create(&dropper, NULL, unattached_dropper, NULL);
#endif
    cog_thread_offline();
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
#ifndef COG_DEBUG
    pthread_join(dropper, NULL);
#else
    (void)dropper;
    (void)unattached_dropper;
#endif
    cog_thread_online();
    for (int i = 0; i < SLOTS; i++) {
        cog_object *s = atomic_exchange(&slots[i], NULL);
        if (s) {
            check_canonical(s);
            cog_decref(s);
        }
    }
    if (cog_str_intern_sync() != COG_OK || cog_intern_get_stats(&st) != COG_OK) abort();
    printf("intern_stress: %d threads x %ld ops, %llu lookups, %llu misses (strings made), "
           "table %llu (base %llu)\n",
           THREADS, ops_per_thread, (unsigned long long)(st.lookups - lookups0),
           (unsigned long long)(st.lookups - st.hits), (unsigned long long)st.count,
           (unsigned long long)base);
    if (st.count != base + PINNED) {
        fprintf(stderr, "intern_stress: table holds %llu strings, expected %llu\n",
                (unsigned long long)st.count, (unsigned long long)(base + PINNED));
        abort();
    }
    /* Every mortal key left: interning one again makes a fresh string. */
    char buf[32];
    int n = key_of(KEYS - 1, buf);
    cog_object *s = cog_str_intern(buf, (size_t)n);
    if (cog_refcount(s) != 1) fail("a released string kept references", s);
    cog_decref(s);
    if (cog_shutdown() != COG_OK) abort();
    return 0;
}
