#!/usr/bin/env bash
# Build and run the libFuzzer target stress/fuzz_api.c.
#
# Bazel's toolchain here is gcc, which has no libFuzzer, so the fuzzer is
# built outside Bazel with clang: the whole runtime (lib/*/*.c collector/*.c)
# plus the target, with -fsanitize=fuzzer,address,undefined (LeakSanitizer
# is part of ASan) and COG_DEBUG (refcount operations on freed objects
# abort). The corpus the normal test run replays (//stress:fuzz_replay) is
# stress/fuzz_corpus.
#
#   bash tools/fuzz.sh                 build, then fuzz for 300 s
#   bash tools/fuzz.sh 60              fuzz for 60 s
#   bash tools/fuzz.sh 0               only build (prints the binary path)
#   FUZZ_MERGE=1 bash tools/fuzz.sh N  then merge new coverage into the corpus
#
# Work corpus and crash artifacts go to $FUZZ_DIR (default
# /tmp/cog-fuzz); the checked-in corpus is read, never written, unless
# FUZZ_MERGE=1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SECONDS_TO_RUN=${1:-300}
FUZZ_DIR=${FUZZ_DIR:-/tmp/cog-fuzz}
CC=${CC:-clang}
mkdir -p "$FUZZ_DIR/corpus" "$FUZZ_DIR/artifacts"

command -v "$CC" >/dev/null || { echo "fuzz.sh: $CC not found (bash tools/setup.sh)" >&2; exit 1; }

BIN="$FUZZ_DIR/fuzz_api"
"$CC" -std=c11 -D_GNU_SOURCE -DCOG_DEBUG=1 -O1 -g -fno-omit-frame-pointer -pthread \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Iinclude -I. \
    lib/*/*.c collector/*.c tests/test_types.c stress/fuzz_api.c \
    -lurcu-qsbr -lurcu-cds -lurcu-common -o "$BIN"
echo "fuzz.sh: built $BIN"
((SECONDS_TO_RUN > 0)) || exit 0

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
# -max_len keeps programs small (the graph has 8 slots); -timeout catches
# hangs (a lost wake-up would show as one).
"$BIN" -max_total_time="$SECONDS_TO_RUN" -max_len=256 -timeout=20 -print_final_stats=1 \
    -artifact_prefix="$FUZZ_DIR/artifacts/" "$FUZZ_DIR/corpus" stress/fuzz_corpus

if [[ ${FUZZ_MERGE:-0} == 1 ]]; then
    "$BIN" -merge=1 stress/fuzz_corpus "$FUZZ_DIR/corpus"
fi
