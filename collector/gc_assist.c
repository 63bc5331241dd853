/* collector/gc_assist.c - pacing assist: handing cyclic garbage back to
 * the thread that allocated it (collector/gc_pacing.c says when).
 *
 * Once a collection's verdict is final, its garbage U is unreachable: no
 * mutator can touch it, and every reference to a member of U comes from U
 * (docs/design.md "Why it is sound"). If every member of U is owned by
 * one assistant T (ob_tid == T, not merged; a single busy thread is the
 * common case of a collector falling behind), U goes to T whole: T can
 * free it alone, as the collector would: a reference to each, clear each,
 * drop the references (lib/core/gc_hooks.c cog_gc_inbox_process), all on T's
 * own fast paths, into T's own pools, with no adoption, while the
 * collector goes on with its next scan.
 *
 * Garbage of several owners stays with the collector. Splitting it would
 * need its weakly connected components (a part handed to T must not be
 * referred to by garbage another thread frees, which could free a member
 * before T holds it): measured, the union-find cost the collector as much
 * as clearing the garbage itself. Assistants of a collector behind several
 * threads take shares of its scan instead (gc_helper.c).
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
#include "lib/core/thread.h"

#define MAX_ASSISTANTS 64

size_t cog_gc_assist_hand_out(cog_object **obj, unsigned char *state, size_t n,
                              unsigned char garbage, unsigned char handed) {
    uint32_t who[MAX_ASSISTANTS];
    int nwho = cog_gc_pacing_assistants(who, MAX_ASSISTANTS);
    if (nwho == 0) return 0;
    size_t count = 0;
    uint32_t owner = 0;
    for (size_t i = 0; i < n; i++) {
        if (state[i] != garbage) continue;
        uint32_t t = atomic_load_explicit(&obj[i]->ob_tid, memory_order_relaxed);
        if (count++ == 0) owner = t;
        else if (t != owner) return 0;
    }
    int assistant = 0;
    for (int k = 0; k < nwho; k++) assistant |= who[k] == owner;
    if (!count || !owner || !assistant) return 0;
    cog_gc_batch *b = malloc(sizeof *b + count * sizeof b->obj[0]);
    if (!b) return 0; /* the collector clears it itself */
    b->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (state[i] != garbage) continue;
        cog_object *o = obj[i];
        uint64_t gc = atomic_load_explicit(&o->ob_gc, memory_order_relaxed);
        atomic_store_explicit(&o->ob_gc, gc | COG_GC_PENDING, memory_order_relaxed);
        b->obj[b->n++] = o;
    }
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
