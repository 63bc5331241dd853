/* collector/gc_assist.c - pacing assist: handing a collection's cyclic
 * garbage to a thread that outran the collector (collector/gc_pacing.c
 * says when), so that thread frees it instead of waiting while the
 * collector goes on with its next scan.
 *
 * Once a collection's verdict is final, its garbage U is unreachable: no
 * mutator can touch it, and every reference to a member of U comes from U
 * (docs/design.md "Why it is sound"). So U can go whole to one assistant
 * T, which frees it as the collector would (lib/core/gc_hooks.c
 * cog_gc_inbox_process): it adopts each member owned by another thread
 * (cog_brc_adopt_unreachable under that owner's merge_lock, as the
 * collector adopts; the hand-out's release push and T's acquire take
 * order the counts' last writes before T's reads), takes a reference to
 * each, clears each, drops the references, all on T's owner fast paths;
 * blocks of other threads' pools go back as remote frees.
 *
 * Which assistant: the one that owns the most of U (its frees go to its
 * own pools without atomics), else the first listed. Handing U whole
 * avoids splitting it, which would need its weakly connected components
 * (a part handed to T must not be referred to by garbage another thread
 * frees, which could free a member before T holds it): measured, the
 * union-find cost the collector as much as clearing the garbage itself.
 *
 * Handed-out objects are marked COG_GC_PENDING first: until T frees them
 * they are still tracked blocks, and no later scan (which would find them
 * unreachable again and free them twice) or heap introspection may take
 * them for live objects. The collector owns the garbage at this point (no
 * mutator can reach it), so a plain store sets the flag; the hand-out's
 * release CAS publishes it with the batch.
 */
#include <stdlib.h>

#include "collector/gc_internal.h"
#include "lib/base/prefetch.h"
#include "lib/core/thread.h"

#define MAX_ASSISTANTS 64

size_t cog_gc_assist_hand_out(cog_object **obj, unsigned char *state, size_t n,
                              unsigned char garbage, unsigned char handed) {
    uint32_t who[MAX_ASSISTANTS];
    int nwho = cog_gc_pacing_assistants(who, MAX_ASSISTANTS);
    if (nwho == 0) return 0;
    /* Garbage per assistant (whoever runs the collection, one thread at a
     * time: static is fine). */
    static size_t owns[MAX_ASSISTANTS];
    for (int k = 0; k < nwho; k++) owns[k] = 0;
    /* One pass over the garbage's headers, which are cache misses on a
     * big young generation: tally the owners, flag each object and
     * collect it into the batch (flags set on a batch that is not handed
     * out after all are harmless, see below). The batch is sized for all
     * n candidates at once: its untouched pages cost nothing, and growing
     * it by doubling copied megabytes and faulted them in between two
     * slice points, 3-7 ms in one step of a sliced collection. */
    cog_gc_batch *b = malloc(sizeof *b + n * sizeof b->obj[0]);
    if (!b) return 0; /* the collector clears it itself */
    b->n = 0;
    uint32_t last = 0; /* garbage comes in runs of one owner (walk order) */
    int last_k = -1;
    for (size_t i = 0; i < n; i++) {
        if (i + COG_PREFETCH_AHEAD < n && state[i + COG_PREFETCH_AHEAD] == garbage)
            cog_prefetch(obj[i + COG_PREFETCH_AHEAD], 1);
        cog_gc_slice_point(i);
        if (state[i] != garbage) continue;
        cog_object *o = obj[i];
        uint32_t t = atomic_load_explicit(&o->ob_tid, memory_order_relaxed);
        if (t != last || last_k < 0) {
            last = t;
            last_k = nwho;
            for (int k = 0; k < nwho; k++)
                if (who[k] == t) last_k = k;
        }
        if (last_k < nwho) owns[last_k]++;
        uint64_t gc = atomic_load_explicit(&o->ob_gc, memory_order_relaxed);
        atomic_store_explicit(&o->ob_gc, gc | COG_GC_PENDING, memory_order_relaxed);
        b->obj[b->n++] = o;
    }
    size_t count = b->n;
    if (!count) {
        free(b);
        return 0;
    }
    int best = 0;
    for (int k = 1; k < nwho; k++)
        if (owns[k] > owns[best]) best = k;
    uint32_t owner = who[best];
    /* From the hand-out on, T may be freeing them: only our arrays are
     * read after it. */
    if (!cog_gc_pacing_hand_out(owner, b)) {
        /* No longer an assistant: the collector clears these itself (the
         * PENDING flags are harmless on objects it frees now). */
        free(b);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (state[i] == garbage) state[i] = handed;
    return count;
}
