/* lib/base/spin.h - the CPU's spin-wait hint, for loops that poll memory
 * another thread will change.
 *
 * PAUSE on x86 (YIELD on Arm) tells the core the loop is a spin: it stops
 * speculating ahead through the polled loads (no memory-order machine
 * clear when the line changes) and, on an SMT core, leaves the sibling
 * the pipeline. Other targets get an empty loop.
 */
#ifndef COG_LIB_BASE_SPIN_H
#define COG_LIB_BASE_SPIN_H

/* n spin-wait hints: on Zen a PAUSE is tens of cycles, on recent Intel
 * cores over a hundred, so callers poll every few hints, not every one. */
static inline void cog_spin_pause(int n) {
    for (int i = 0; i < n; i++) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
    }
}

#endif /* COG_LIB_BASE_SPIN_H */
