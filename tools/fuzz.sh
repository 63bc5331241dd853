#!/usr/bin/env bash
# Build and run a libFuzzer target: stress/fuzz_api.c (default) or
# stress/fuzz_threads.c (two attached threads).
#
# Bazel's toolchain here is gcc, which has no libFuzzer, so the fuzzer is
# built outside Bazel with clang: the whole runtime (lib/*/*.c collector/*.c)
# plus the target, with -fsanitize=fuzzer,address,undefined (LeakSanitizer
# is part of ASan) and COG_DEBUG (refcount operations on freed objects
# abort). The corpora the normal test run replays are stress/fuzz_corpus
# (//stress:fuzz_replay) and stress/fuzz_threads_corpus
# (//stress:fuzz_threads_replay).
#
#   bash tools/fuzz.sh                 build fuzz_api, then fuzz for 300 s
#   bash tools/fuzz.sh 60              fuzz for 60 s
#   bash tools/fuzz.sh 60 threads      fuzz fuzz_threads for 60 s (or FUZZ_TARGET=threads)
#   bash tools/fuzz.sh 0               only build (prints the binary path)
#   FUZZ_MERGE=1 bash tools/fuzz.sh N  then merge inputs with new edges into the corpus
#
# The intern-table and allocator baseline checks run every
# COG_FUZZ_CHECK_EVERY inputs (default 256) and at exit; a failing window
# of inputs is written to $FUZZ_DIR/artifacts/window-<target>/. Reproduce
# a crash with full checks on that one input: $FUZZ_DIR/fuzz_api FILE
# (file arguments turn them on; so does COG_FUZZ_FULL_CHECKS=1).
#
# Work corpus and crash artifacts go to $FUZZ_DIR (default
# /tmp/cog-fuzz, one sub-directory per target for fuzz_threads); the
# checked-in corpus is read, never written, unless FUZZ_MERGE=1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SECONDS_TO_RUN=${1:-300}
TARGET=${2:-${FUZZ_TARGET:-api}}
FUZZ_DIR=${FUZZ_DIR:-/tmp/cog-fuzz}
CC=${CC:-clang}
case $TARGET in
api) NAME=fuzz_api CORPUS=stress/fuzz_corpus WORK=$FUZZ_DIR ;;
threads) NAME=fuzz_threads CORPUS=stress/fuzz_threads_corpus WORK=$FUZZ_DIR/threads ;;
*) echo "fuzz.sh: unknown target '$TARGET' (api or threads)" >&2; exit 2 ;;
esac
mkdir -p "$WORK/corpus" "$WORK/artifacts"

command -v "$CC" >/dev/null || { echo "fuzz.sh: $CC not found (bash tools/setup.sh)" >&2; exit 1; }

BIN="$FUZZ_DIR/$NAME"
"$CC" -std=c11 -D_GNU_SOURCE -DCOG_DEBUG=1 -O1 -g -fno-omit-frame-pointer -pthread \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Wall -Wextra -Werror -Iinclude -I. \
    lib/*/*.c collector/*.c tests/test_types.c stress/fuzz_check.c "stress/$NAME.c" \
    -lurcu-qsbr -lurcu-cds -lurcu-common -lm -o "$BIN"
echo "fuzz.sh: built $BIN"
((SECONDS_TO_RUN > 0)) || exit 0

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export COG_FUZZ_WINDOW_DIR=${COG_FUZZ_WINDOW_DIR:-$WORK/artifacts/window-$NAME}
# -max_len keeps programs small (the graph has 8 slots); -timeout catches
# hangs (a lost wake-up would show as one). -detect_leaks=0 turns off only
# libFuzzer's per-input leak check: between full checks, RCU-deferred-free
# records are still queued behind rcu heads embedded in arena blocks,
# which LeakSanitizer does not scan (false leaks). Leaks are still caught:
# the full checks count every pool and large block, and LeakSanitizer's
# exit check runs after the final full check (nothing in flight).
"$BIN" -max_total_time="$SECONDS_TO_RUN" -max_len=256 -timeout=20 -print_final_stats=1 \
    -detect_leaks=0 \
    -artifact_prefix="$WORK/artifacts/" "$WORK/corpus" "$CORPUS"

if [[ ${FUZZ_MERGE:-0} == 1 ]]; then
    # Adds only the inputs that bring coverage edges the checked-in corpus
    # lacks (-use_counters=0: hit-count buckets are no reason to keep an
    # input; with them a 10-minute campaign adds ~650 inputs instead of
    # ~50 for the same edges, and every replayed input costs ~40 ms).
    "$BIN" -merge=1 -use_counters=0 -detect_leaks=0 "$CORPUS" "$WORK/corpus"
fi
