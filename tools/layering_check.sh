#!/usr/bin/env bash
# Builds the probes of tests/layering/BUILD, each of which must FAIL with
# its own error: that is what shows that Bazel enforces lib/'s layers (a
# wrong include, a dependency a layer does not admit). Prints one line per
# probe and, last, "N passed, M failed". Called by tools/test.sh.
# COG_BAZEL_STARTUP holds Bazel startup options, as for tools/test.sh.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
read -r -a STARTUP <<<"${COG_BAZEL_STARTUP:-}"

passed=0
failed=0
# expect_failure TARGET PATTERN: the build must fail and say PATTERN.
expect_failure() {
    local target=$1 pattern=$2 out
    if out=$(bazel "${STARTUP[@]}" build --color=no --curses=no --noshow_progress "$target" 2>&1); then
        echo "layering: FAILED $target built, but it must not"
        failed=$((failed + 1))
    elif grep -q -- "$pattern" <<<"$out"; then
        echo "layering: PASSED $target refused ($pattern)"
        passed=$((passed + 1))
    else
        echo "layering: FAILED $target failed without '$pattern':"
        tail -5 <<<"$out"
        failed=$((failed + 1))
    fi
}

expect_failure //tests/layering:includes_undeclared_layer "undeclared inclusion\|No such file"
expect_failure //tests/layering:outsider_uses_types "is not visible from target"
echo "$passed passed, $failed failed"
((failed == 0))
