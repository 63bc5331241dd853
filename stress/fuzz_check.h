/* stress/fuzz_check.h - the fuzz targets' memory checks, paced for speed.
 *
 * The checks that need RCU grace periods - the intern table's count and the
 * allocator's blocks back to their baseline - cost ~40 ms: each liburcu
 * barrier waits for the call_rcu worker, which sleeps 10 ms per batch, and
 * a check needs four. So they run after every N-th input and at exit; the
 * targets check nodes and finalizers (no grace period needed) after every
 * input. The inputs since the last full check are kept; if a full check
 * fails they are written to a directory, in order, for replay one by one.
 *
 * Full checks after every input (the failure is then pinned to one input)
 * when libFuzzer is given files rather than directories (crash
 * reproduction), when COG_FUZZ_FULL_CHECKS=1, or when a driver sets
 * cog_fuzz_strict_every = 1 (stress/fuzz_replay.c). Otherwise every
 * COG_FUZZ_CHECK_EVERY inputs (default 256). Single-threaded: call from the
 * fuzzer's thread, attached and online. */
#ifndef COG_STRESS_FUZZ_CHECK_H
#define COG_STRESS_FUZZ_CHECK_H
#include <stddef.h>
#include <stdint.h>

#include "cog/object.h"

/* Full checks after every this many inputs (1 = every input). */
extern int cog_fuzz_strict_every;

/* From LLVMFuzzerInitialize (after cog_init): pick the pace from argv and
 * the environment and register the final check at exit. name prefixes
 * messages. argc/argv may be NULL. */
void fuzz_check_setup(const char *name, int *argc, char ***argv);

/* Report and abort. */
void fuzz_fail(const char *what) __attribute__((noreturn));
#define FUZZ_CHECK(c) \
    do {              \
        if (!(c)) fuzz_fail(#c); \
    } while (0)

/* Start an input: takes the baseline if there is none, records the input
 * in the window. Returns 1 if fuzz_check_end must run the full check. */
int fuzz_check_begin(const uint8_t *data, size_t size);

/* Drop SAVEALL garbage, unfreeze and collect everything; strict also waits
 * for RCU-deferred frees (liburcu's call_rcu batches every 10 ms). */
void fuzz_settle(int strict);

/* Hooks of a target with more threads: after settling, before measuring
 * (other attached threads must collect the blocks freed into their pools:
 * they count as in use until then); and before cog_shutdown (stop them). */
void fuzz_check_on_settled(void (*fn)(void));
void fuzz_check_on_shutdown(void (*fn)(void));

/* Run the shutdown hook, then cog_shutdown. */
int fuzz_shutdown(void);

/* End an input after the target dropped everything: if full, the intern
 * table's count and the allocator's blocks must equal the baseline. */
void fuzz_check_end(int full);

/* Store o (a reference given away, or NULL) in a slot the calling thread
 * owns, dropping what it held. */
static inline void fuzz_set_slot(cog_object **slot, cog_object *o) {
    cog_object *old = *slot;
    *slot = o;
    cog_xdecref(old);
}
#endif
