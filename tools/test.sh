#!/usr/bin/env bash
# THE test command: every Bazel test in three configurations, after the
# layering probes of tools/layering_check.sh.
#   default  every test
#   asan     every test except those tagged tsan_only / no_asan (ASan+UBSan)
#   tsan     tests tagged concurrent or stress, except no_tsan
# Each configuration is built once (the asan/tsan runs build only the tests
# they run). Counts test targets per run (a target run in three configs
# counts three times) and prints as its LAST line "N passed, M failed".
# Exits non-zero if a test or a build failed; a build failure counts as
# failed targets, never as "0 failed".
# Extra arguments are passed to every `bazel test` (e.g. --jobs=1);
# COG_BAZEL_STARTUP holds Bazel startup options (e.g. a private
# --output_base=DIR so a second checkout does not wait on this one's server).
# COG_TEST_SCALE=k lengthens the concurrent tests (soak), see tests/test_types.h.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=tools/needs_setup.sh
source "$ROOT/tools/needs_setup.sh"
cog_ensure_setup "$ROOT"

LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/cog-test.XXXXXX")
trap 'rm -rf "$LOGDIR"' EXIT

total_passed=0
total_failed=0
summary=()

# run_config NAME QUERY BAZEL-ARGS...
#   QUERY selects the tests the run should execute; it is only used to count
#   targets that never reported a status when the build itself failed.
run_config() {
    local name=$1 query=$2
    shift 2
    local log="$LOGDIR/$name.log" rc=0
    echo "==== [$name] bazel test $* //..."
    bazel test --color=no --curses=no --test_output=errors --test_summary=short \
        --keep_going "$@" "${EXTRA_ARGS[@]}" -- //... 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}

    # Summary lines look like "//tests:x   (cached) PASSED in 0.1s".
    local passed failed
    passed=$(awk '$1 ~ /^\/\// && /[[:space:]](\(cached\) )?PASSED in/ {s[$1]=1}
                  END {print length(s)}' "$log")
    failed=$(awk '$1 ~ /^\/\// && /[[:space:]](\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FLAKY|REMOTE FAILURE)/ {s[$1]=1}
                  END {print length(s)}' "$log")
    # rc 3: built fine, some tests failed (already counted). Any other
    # non-zero rc is a build/analysis failure: every expected test that did
    # not report counts as failed, and at least one failure is recorded.
    if ((rc != 0 && rc != 3)); then
        local expected unreported
        expected=$(bazel query --color=no --noshow_progress "$query" 2>/dev/null | grep -c '^//' || true)
        unreported=$((expected - passed - failed))
        ((unreported > 0)) || unreported=0
        ((unreported + failed > 0)) || unreported=1
        echo "[$name] build failed (bazel exit $rc): counting $unreported unreported target(s) as failed"
        failed=$((failed + unreported))
    elif ((rc == 3 && failed == 0)); then
        failed=1 # bazel says tests failed but no summary line was parsed
    fi
    summary+=("[$name] $passed passed, $failed failed")
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
}

EXTRA_ARGS=("$@")
read -r -a STARTUP <<<"${COG_BAZEL_STARTUP:-}"
bazel() { command bazel "${STARTUP[@]}" "$@"; }
ALL='tests(//...) except attr(tags, "\bmanual\b", tests(//...))'

start=$SECONDS
# The layering of lib/ (tests/layering): probes that must fail to build.
layering_log="$LOGDIR/layering.log"
bash "$ROOT/tools/layering_check.sh" 2>&1 | tee "$layering_log" || true
read -r lp lf < <(awk '/^[0-9]+ passed, [0-9]+ failed$/ {p=$1; f=$3} END {print p+0, (p+f ? f : 1)}' "$layering_log")
summary+=("[layering] $lp passed, $lf failed")
total_passed=$((total_passed + lp))
total_failed=$((total_failed + lf))

run_config default "$ALL"
run_config asan "$ALL except attr(tags, \"\\b(tsan_only|no_asan)\\b\", tests(//...))" \
    --config=asan --build_tests_only --test_tag_filters=-tsan_only,-no_asan
run_config tsan "attr(tags, \"\\b(concurrent|stress)\\b\", $ALL) except attr(tags, \"\\bno_tsan\\b\", tests(//...))" \
    --config=tsan --build_tests_only --test_tag_filters=concurrent,stress,-no_tsan

echo "==== summary ($((SECONDS - start)) s)"
printf '%s\n' "${summary[@]}"
echo "$total_passed passed, $total_failed failed"
((total_failed == 0))
