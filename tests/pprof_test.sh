#!/usr/bin/env bash
# google-pprof renders cog's heap profile (cog_heap_snapshot_write_pprof):
# examples/leak_demo leaks Sessions from remember_session(); in its profile
# that function must top `google-pprof --text`, and its stack must hold the
# most live bytes in the folded output. Also checks the snapshot diff the
# demo prints names the leak, by type and by stack.
#   pprof_test.sh LEAK_DEMO_BINARY
set -euo pipefail

demo=$1
command -v google-pprof >/dev/null || { echo "pprof_test: google-pprof missing (tools/setup.sh installs google-perftools)"; exit 1; }
dir=${TEST_TMPDIR:-$(mktemp -d)}
profile="$dir/leak.heap"
fail() { echo "pprof_test: FAIL: $*"; exit 1; }

"$demo" 40000 "$profile" >"$dir/demo.out"
cat "$dir/demo.out"
# The diff's first line under each heading names the leak.
awk '/^== growth by type/ {getline; getline; print; exit}' "$dir/demo.out" | grep -q ' Session$' \
    || fail "by-type diff does not put Session first"
awk '/^== growth by allocating stack/ {getline; getline; print; exit}' "$dir/demo.out" \
    | grep -q 'Session  remember_session' || fail "by-stack diff does not put remember_session first"

google-pprof --text "$demo" "$profile" >"$dir/pprof.txt" 2>"$dir/pprof.err" || {
    cat "$dir/pprof.err"
    fail "google-pprof failed"
}
cat "$dir/pprof.txt"
# The first row after "Total:" is the function with the most live bytes.
top=$(awk '/^Total:/ {getline; print $NF; exit}' "$dir/pprof.txt")
[[ $top == remember_session ]] || fail "google-pprof's top function is '$top', not remember_session"

# Folded: the heaviest stack goes through remember_session.
heaviest=$(sort -t' ' -k2 -n -r "$profile.folded" | head -1)
echo "heaviest folded stack: $heaviest"
[[ $heaviest == *remember_session*"[Session]"* ]] || fail "heaviest folded stack is not remember_session's"
echo "pprof_test: PASS"
