/* collector/model/window.pml - Promela model of cog's collection window
 * (docs/design.md "Concurrent collection"), checked with spin.
 *
 * One mutator and the collector share three objects. The mutator performs
 * arbitrary reference operations (load from a global root, load/store/take
 * a field, drop a local reference, publish to the root). Each operation
 * first samples the barrier flag and then acts, with no quiescent state in
 * between (QSBR: an operation never spans one); quiescent states happen
 * only between operations. The collector runs one collection: open window
 * (flag + grace period), snapshot candidates, read counts, subtract
 * internal references field by field (interleaved with the mutator), mark
 * from roots, second grace period (skipped if marking reached every
 * candidate), rescue dirty, then declares garbage.
 *
 * Checked: (1) soundness: when the collector declares an object garbage,
 * no mutator local, the root, or any non-garbage live object refers to it;
 * (2) memory safety: the collector never reads a block that was released
 * for reuse, and the mutator never uses a freed object.
 *
 * Frees inside the window: only the block of a candidate (an object the
 * collector stamped) waits; any other block is released at once (the
 * real collector may still read its header through a stale pointer, which
 * the allocator keeps an object header: not modelled, no field is read).
 * A deferred block is released by its owner (the mutator, between
 * operations) once the collector has published that the window is done,
 * after its last read; closing needs no grace period.
 *
 * Mutants (spin_check.sh expect-bug FLAG), each must be rejected:
 *   BUG_NO_G2_RESCUE        no rescue of objects dirtied during the scan;
 *   BUG_RELEASE_CANDIDATES  frees of candidates are not deferred either;
 *   BUG_DONE_BEFORE_MARK    the window is published done before the
 *                           collector's marking reads;
 *   BUG_DONE_BEFORE_RESCUE  the window is published done before the
 *                           collector's last reads (the rescue's); since a
 *                           collection whose marking reached every
 *                           candidate closes without G2, its counterexample
 *                           needs an unreached candidate, which takes four
 *                           mutator operations (a manual test);
 *   BUG_SKIP_G2_IF_ANY_REACHED  G2 and the rescue skipped once marking
 *                           reached any candidate, not every one;
 *   BUG_GP_STARTED_EARLY    (with SLICED) a grace period that began before
 *                           the request is counted for it.
 *
 * SLICED (collector/gc_slice.c): the collection's steps run on mutators'
 * slices, which do not wait in synchronize_rcu; a slice requests each
 * grace period and the collector thread serves it. The `collector`
 * process stands for the collection wherever it runs: its steps already
 * interleave with the mutator's at every point, and a slice only
 * restricts them to the driver's safe points. What SLICED adds is the
 * request and the service: a `gp_server` that, for each request, reads
 * it, runs a grace period, and publishes it served.
 */
#define N 3
#define NIL 255
/* Bound on mutator operations. The state space grows steeply with it;
 * override with spin -DMAXOPS=k (collector/model/BUILD picks the value the
 * test runs). */
#ifndef MAXOPS
#define MAXOPS 4
#endif

byte rc[N];        /* true reference count */
byte next[N];      /* one reference field per object */
bool dirty[N];
bool dead[N];      /* count reached 0, dealloc done */
bool released[N];  /* block returned to the allocator (may be reused) */
byte loc[N];       /* references held in mutator locals */
byte root = NIL;   /* a global holding one reference */
byte ops;          /* bounded number of mutator operations */

bool bar;          /* cog__gc_barrier */
byte gp;           /* grace-period counter */
byte mctr;         /* mutator's last quiescent state (QSBR reader ctr) */
bool cand[N];      /* stamped by the collector's walk */
bool deferred[N];  /* a candidate freed inside the window: kept */
bool done;         /* cog__gc_window_done: the collector read its last block */
bool collecting;
bool allreach;     /* marking reached every candidate: no G2 */

/* Mark (barrier) and count changes, done inside one mutator operation
 * with the sampled flag b. */
inline touch(o, b) { if :: b -> dirty[o] = 1 :: else -> skip fi }

/* Release the block of a freed object: a candidate's waits while the
 * window may still be read (the freeing thread saw it open). */
#ifdef BUG_RELEASE_CANDIDATES
inline release(o, b) { released[o] = 1 }
#else
inline release(o, b) { if :: b && cand[o] && !done -> deferred[o] = 1 :: else -> released[o] = 1 fi }
#endif

inline dealloc(o, b) {
    dead[o] = 1;
    if
    :: next[o] != NIL ->
        c = next[o]; next[o] = NIL;
        touch(c, b);
        rc[c]--;
        /* one level of cascading frees is enough with N=3 chains of
         * at most 2 after this; deeper ones are cut by the bound */
        if
        :: rc[c] == 0 -> dead[c] = 1;
           release(c, b);
           if :: next[c] != NIL -> d = next[c]; next[c] = NIL; touch(d, b); rc[d]--;
                 if :: rc[d] == 0 -> dead[d] = 1;
                       release(d, b);
                       if :: next[d] != NIL -> e = next[d]; next[d] = NIL; touch(e, b); rc[e]--;
                             assert(rc[e] > 0) /* a 3-cycle freed by refcount is impossible */
                          :: else -> skip fi
                    :: else -> skip fi
              :: else -> skip fi
        :: else -> skip
        fi
    :: else -> skip
    fi;
    release(o, b)
}

inline decref(o, b) {
    touch(o, b);
    rc[o]--;
    if :: rc[o] == 0 -> dealloc(o, b) :: else -> skip fi
}

proctype mutator() {
    byte o, p, q, c, d, e; /* dealloc uses c, d, e: never pass them in */
    bool b;
    /* start holding one reference to each object, linked in a chain */
    do
    :: ops < MAXOPS ->
        b = bar;                      /* sample the flag: start of an op */
        atomic {
        ops++;
        if
        :: /* new local reference from the root */
           root != NIL -> o = root; assert(!released[o]); touch(o, b); rc[o]++; loc[o]++
        :: /* load a field: p.next -> new local reference */
           select(p : 0 .. N-1);
           if
           :: loc[p] > 0 && next[p] != NIL ->
              o = next[p]; assert(!released[o]); touch(o, b); rc[o]++; loc[o]++
           :: else -> skip
           fi
        :: /* take a field: its reference moves to a local */
           select(p : 0 .. N-1);
           if
           :: loc[p] > 0 && next[p] != NIL -> o = next[p]; next[p] = NIL; touch(o, b); loc[o]++
           :: else -> skip
           fi
        :: /* store a local into a field (cog_ref_store: incref + store) */
           select(p : 0 .. N-1); select(o : 0 .. N-1);
           if
           :: loc[p] > 0 && loc[o] > 0 ->
              touch(o, b); rc[o]++;
              q = next[p]; next[p] = o;
              if :: q != NIL -> decref(q, b) :: else -> skip fi
           :: else -> skip
           fi
        :: /* drop a local reference */
           select(o : 0 .. N-1);
           if :: loc[o] > 0 -> loc[o]--; decref(o, b) :: else -> skip fi
        :: /* publish a local into the root (moves the reference) */
           select(o : 0 .. N-1);
           if :: loc[o] > 0 && root == NIL -> loc[o]--; root = o; touch(o, b) :: else -> skip fi
        :: /* take the root into a local (moves the reference) */
           root != NIL -> o = root; root = NIL; loc[o]++; touch(o, b)
        fi;
        /* temporaries are dead between operations: clear them so states
         * differing only in stale values merge */
        o = 0; p = 0; q = 0; c = 0; d = 0; e = 0; b = 0
        };
        /* safe point: release what we deferred once the window is done
         * (cog_gc_release_deferred), then the quiescent state */
        atomic { if :: done -> for (o : 0 .. N-1) { if :: deferred[o] -> deferred[o] = 0; released[o] = 1 :: else -> skip fi }; o = 0 :: else -> skip fi };
        mctr = gp
    :: else -> mctr = gp; break
    od;
end_idle:
    do
    :: mctr = gp                      /* keep reporting quiescent states */
    :: atomic { done && (deferred[0] || deferred[1] || deferred[2]) ->
                for (o : 0 .. N-1) { if :: deferred[o] -> deferred[o] = 0; released[o] = 1 :: else -> skip fi }; o = 0 }
    od
}

#ifdef SLICED
byte gp_want, gp_served;

/* The slice posts a request after the window's stores and goes on only
 * once it is served (gc_slice.c cog_gc_grace_period). */
inline grace_period() {
    gp_want++;
    (gp_served >= gp_want)
}

/* The collector thread (gc_thread.c run_sliced): takes the requests posted
 * so far, then a whole grace period, then publishes them served. */
proctype gp_server() {
    byte w;
end_serve:
    do
#ifdef BUG_GP_STARTED_EARLY
    /* the mutant: a grace period already under way when the request came
     * (once, to bound the search) serves it */
    :: gp < 1 -> gp++; (mctr == gp); atomic { gp_served < gp_want -> gp_served = gp_want }
#else
    :: atomic { gp_served < gp_want -> w = gp_want }; gp++; (mctr == gp); gp_served = w
#endif
    od
}
#else
inline grace_period() {
    gp++;
    (mctr == gp)
}
#endif

proctype collector() {
    byte refs[N];
    bool reach[N];
    byte i, j, f;
    bool changed;

    bar = 1;
    grace_period();                                       /* G1 */
    collecting = 1;
    /* The heap walk reads only ob_gc, which stays readable in a free block
     * (pool memory stays mapped): a block released before the walk is
     * simply not a candidate. Candidates' fields are read below, and those
     * reads are what must never touch a released block. */
    atomic {                          /* stamping: never a dead object */
    for (i : 0 .. N-1) {
        cand[i] = !released[i] && !dead[i] && !dirty[i] && !deferred[i]
    }
    }
    for (i : 0 .. N-1) { if :: cand[i] -> refs[i] = rc[i] :: else -> skip fi }
    for (i : 0 .. N-1) {                                  /* subtract, field by field */
        if
        :: cand[i] && !dead[i] ->
           assert(!released[i]);
           f = next[i];
           if :: f != NIL && cand[f] -> refs[f]-- :: else -> skip fi
        :: else -> skip
        fi
    }
    for (i : 0 .. N-1) {
        reach[i] = !cand[i] || refs[i] > 0 || dirty[i] || dead[i]
    }
#ifdef BUG_DONE_BEFORE_MARK
    bar = 0;
    done = 1;
#endif
    /* propagate reachability (N rounds is enough for N objects) */
    for (j : 0 .. N-1) {
        for (i : 0 .. N-1) {
            if
            :: cand[i] && reach[i] && !dead[i] ->
               assert(!released[i]);
               f = next[i];
               if :: f != NIL && cand[f] -> reach[f] = 1 :: else -> skip fi
            :: else -> skip
            fi
        }
    }
    /* Every candidate reached: no garbage whatever the rescue finds, so
     * the collector closes without G2. The mutant's test is too weak: it
     * skips G2 as soon as one candidate is reached. */
    allreach = 1;
    for (i : 0 .. N-1) { if :: cand[i] && !reach[i] -> allreach = 0 :: else -> skip fi }
#ifdef BUG_SKIP_G2_IF_ANY_REACHED
    for (i : 0 .. N-1) { if :: cand[i] && reach[i] -> allreach = 1 :: else -> skip fi }
#endif
    if
    :: allreach -> goto verdict
    :: else -> skip
    fi
    grace_period();                                       /* G2 */
#ifdef BUG_DONE_BEFORE_RESCUE
    bar = 0;
    done = 1;
#endif
#ifndef BUG_NO_G2_RESCUE
    /* the rescue; spin_check.sh compiles the model without it once to show
     * the check catches the resulting unsoundness */
    for (i : 0 .. N-1) { if :: cand[i] && (dirty[i] || dead[i]) -> reach[i] = 1 :: else -> skip fi }
#endif
    for (j : 0 .. N-1) {
        for (i : 0 .. N-1) {
            if
            :: cand[i] && reach[i] && !dead[i] ->
               assert(!released[i]);
               f = next[i];
               if :: f != NIL && cand[f] -> reach[f] = 1 :: else -> skip fi
            :: else -> skip
            fi
        }
    }
    /* Declare garbage: soundness check. */
verdict:
    atomic {
        for (i : 0 .. N-1) {
            if
            :: cand[i] && !reach[i] ->
               assert(loc[i] == 0);
               assert(root != i);
               assert(!released[i]);
               for (j : 0 .. N-1) {
                   assert(!(next[j] == i && !dead[j] && (!cand[j] || reach[j])))
               }
            :: else -> skip
            fi
        }
    }
    /* The verdict is final: close. No grace period: clear the flag and
     * publish that the window is done; owners release what they deferred
     * at their next safe point (or at once, if they saw the window
     * closed), and the garbage's blocks are the collector's to free. */
    bar = 0;
    done = 1;
    collecting = 0
}

init {
    /* Three objects in a chain 0 -> 1 -> 2, the mutator holds 0 and 2,
     * the root holds 1. */
    atomic {
        next[0] = 1; next[1] = 2; next[2] = NIL;
        rc[0] = 1; loc[0] = 1;
        rc[1] = 2; root = 1;
        rc[2] = 2; loc[2] = 1;
        run mutator();
#ifdef SLICED
        run gp_server();
#endif
        run collector()
    }
}
