#!/bin/bash
# Exhaustive safety check of window.pml with spin (Debian package `spin`).
#   spin_check.sh MODEL MAXOPS [expect-bug [FLAG[,FLAG...]]]
#   spin_check.sh MODEL MAXOPS with FLAG[,FLAG...]
# Generates the verifier (spin -a), builds it (gcc -DSAFETY: assertions and
# invalid end states, no liveness) and runs a full state-space search.
# Passes only if pan reports "errors: 0" and searched the whole space
# (depth bound not hit, no memory limit reached). With "expect-bug" it runs
# a mutant of the model (-D$BUG_FLAG, default BUG_NO_G2_RESCUE: the G2
# rescue removed; window.pml lists the others) and passes only if pan finds
# an assertion violation: proof the check can fail. "with" verifies the
# model built with the given flags (a variant, e.g. SLICED).
set -euo pipefail
model=$(realpath "$1")
maxops=$2
mode=${3:-}
bug=${4:-BUG_NO_G2_RESCUE}
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/spin.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
# a local copy: pan writes its trail as ./<model>.trail, where spin -t looks
cp "$model" model.pml
model=model.pml

defs=(-DMAXOPS="$maxops")
if [[ $mode == expect-bug || $mode == with ]]; then
    for flag in ${bug//,/ }; do defs+=(-D"$flag"); done
fi
spin "${defs[@]}" -a "$model" >spin.out 2>&1 || { cat spin.out; exit 1; }
# COLLAPSE: compressed state storage; MEMLIM (MB) stops a runaway search
# instead of exhausting a shared machine (reported as incomplete below).
gcc -w -O2 -DSAFETY -DCOLLAPSE -DMEMLIM=3072 -o pan pan.c
rc=0
./pan -m1000000 >pan.out 2>&1 || rc=$?
grep -E 'errors:|states, stored|elapsed time|assertion violated' pan.out || true

errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.out | tail -1)
[[ -n $errors ]] || { echo "FAIL: pan printed no error count (exit $rc)"; cat pan.out; exit 1; }

if [[ $mode == expect-bug ]]; then
    if ((errors > 0)) && grep -q 'assertion violated' pan.out; then
        echo "PASS: the mutant $bug is rejected ($errors error(s))"
        exit 0
    fi
    echo "FAIL: the mutant $bug verified: the check cannot fail"
    exit 1
fi

if ((errors != 0)); then
    echo "FAIL: pan found $errors error(s); counterexample:"
    spin "${defs[@]}" -t -p -g "$model" 2>&1 | tail -60 || true
    exit 1
fi
if grep -qiE 'max search depth too small|reached -DMEMLIM|out of memory|search not completed' pan.out; then
    echo "FAIL: incomplete search"
    cat pan.out
    exit 1
fi
echo "PASS: MAXOPS=$maxops, full state space, errors: 0"
