/* lib/core/object_internal.h - object lifecycle internals shared by lib/ and
 * collector/. */
#ifndef COG_LIB_OBJECT_INTERNAL_H
#define COG_LIB_OBJECT_INTERNAL_H

#include "cog/object.h"

/* ob_gc layout (docs/design.md "Object header"):
 *   bits 0..7    flags below; mutators change them only with atomic RMW
 *   bits 8..9    generation (0..2), written by the collector
 *   bits 10..31  stamp epoch: the scan that last stamped the object
 *   bits 32..63  candidate index + 1 in that scan, or 0
 * A *stamp* is an epoch and an index: the collector's walk stamps each
 * candidate of a scan with the scan's epoch and its index (one CAS that
 * also moves it to the next generation). A mutator that marks an object
 * dirty during a scan writes the scan's epoch too (with index 0 if it is
 * not a candidate), so a DIRTY bit only counts in the scan whose epoch the
 * object carries: marks never need erasing (see collector/gc_collect.c). */
#define COG_GC_TRACKED 0x1u   /* a GC object the collector may consider */
#define COG_GC_FINALIZED 0x2u /* finalize has run (PEP 442: at most once) */
/* Touched by a mutator while the scan of the epoch in bits 10..31 ran. */
#define COG_GC_DIRTY 0x4u
#define COG_GC_DEAD 0x8u      /* refcount reached 0: being deallocated */
#define COG_GC_FROZEN 0x10u   /* cog_gc_freeze: ignored by collections */
/* 0x20: COG_GC_HAS_WEAKREFS (lib/core/upcalls.h). */
/* Cyclic garbage handed to the thread that allocated it, which clears and
 * frees it at its next safe point (pacing assist, lib/core/gc_hooks.h): no
 * later scan or heap introspection may take it for a live object. */
#define COG_GC_PENDING 0x40u
/* Its allocation was sampled by the heap profiler (lib/core/heap_profile.h):
 * the free path removes the sample. Set once, with an atomic RMW. */
#define COG_GC_SAMPLED 0x80u
#define COG_GC_GEN_SHIFT 8
#define COG_GC_GEN_MASK (0x3ull << COG_GC_GEN_SHIFT)
#define COG_GC_EPOCH_SHIFT 10
#define COG_GC_SCRATCH_SHIFT 32
#define COG_GC_EPOCH_MASK \
    ((((uint64_t)1 << (COG_GC_SCRATCH_SHIFT - COG_GC_EPOCH_SHIFT)) - 1) << COG_GC_EPOCH_SHIFT)
#define COG_GC_INDEX_MASK (~(uint64_t)0 << COG_GC_SCRATCH_SHIFT)
#define COG_GC_STAMP_MASK (COG_GC_INDEX_MASK | COG_GC_EPOCH_MASK)

/* cog_new_var whose items (the bytes past basic_size) are not zeroed, for
 * builtins that write every item before the object is shared (str and
 * bytes copy their data in). GC types are zeroed anyway. */
cog_object *cog__new_var_uninit(const cog_type *type, size_t nitems);

static inline int cog_gc_generation(uint64_t gc) {
    return (int)((gc & COG_GC_GEN_MASK) >> COG_GC_GEN_SHIFT);
}
/* ob_gc value gc carries the stamp of a candidate of the scan of epoch e
 * (e already shifted, never 0). */
static inline int cog_gc_is_candidate(uint64_t gc, uint64_t e) {
    return (gc & COG_GC_EPOCH_MASK) == e && (gc & COG_GC_INDEX_MASK) != 0;
}
/* gc was marked dirty during the scan of epoch e. */
static inline int cog_gc_is_dirty(uint64_t gc, uint64_t e) {
    return (gc & COG_GC_DIRTY) && (gc & COG_GC_EPOCH_MASK) == e;
}

/* A dead object parked on a list (the trashcan, the collector's deferred
 * blocks) keeps the link to the next one in ob_ref_shared, tagged with this
 * flag value (the low two bits are free: blocks are 16-byte aligned). No
 * reference count ever has these flag bits (they are 0, QUEUED or MERGED),
 * so cog_try_incref on a block found by a heap walk can tell a link from a
 * count and can never CAS one: a count it read can never compare equal to
 * a link written later. */
#define COG_REF_LINK 0x1
static inline intptr_t cog_link_encode(cog_object *next) { return (intptr_t)next | COG_REF_LINK; }
static inline cog_object *cog_link_decode(intptr_t v) {
    return (cog_object *)(v & ~(intptr_t)COG_REF_SHARED_FLAGS);
}

/* Deallocations nest at most this deep before being queued (trashcan). */
#define COG_DEALLOC_DEPTH 64

/* Destroy an object whose reference count has reached zero, exactly once:
 * run its finalizer (once; it may resurrect), dealloc, free its memory. */
void cog_object_dealloc(cog_object *o);
/* The calling thread's exclusive object (cog__tls_excl_*, see
 * cog_ref_take): saved, set to o (size 0: none) and restored around a
 * dealloc, a garbage clear and the deallocs they trigger. */
typedef struct cog_excl_saved {
    uintptr_t base;
    size_t size;
    int no_mark;
} cog_excl_saved;
static inline cog_excl_saved cog_excl_set(uintptr_t base, size_t size, int no_mark) {
    cog_excl_saved was = {cog__tls_excl_base, cog__tls_excl_size, cog__tls_excl_no_mark};
    cog__tls_excl_base = base;
    cog__tls_excl_size = size;
    cog__tls_excl_no_mark = no_mark;
    return was;
}
static inline void cog_excl_restore(cog_excl_saved was) {
    cog__tls_excl_base = was.base;
    cog__tls_excl_size = was.size;
    cog__tls_excl_no_mark = was.no_mark;
}
/* The collector or an assistant: run the `clear` of garbage object o, whose
 * verdict is final, with o's fields taken without exchange or mark
 * (cog__tls_excl_*; o's type has a clear). */
void cog_clear_garbage_object(cog_object *o);

/* Return a dead object's block to the allocator now (no deferral). Used by
 * the collector when it releases blocks deferred during a collection. */
void cog_object_free_block(cog_object *o);

/* In debug builds freed objects point at this type; the freed block keeps
 * the original type in ob_gc for the error message. */
extern const cog_type cog__freed_type;
#endif /* COG_LIB_OBJECT_INTERNAL_H */
